//! The accounts Link offers (after `account_filters`) and the user's selection among them.

use serde_json::{Value, json};

use super::LinkCompletion;
use crate::app::App;
use crate::sandbox::{self, Account};
use crate::state::LinkTokenRecord;
use crate::wire::PlaidError;

/// One account Link offers for selection.
#[derive(Debug, Clone)]
pub struct Choice {
    pub account_id: Option<String>,
    pub name: String,
    pub mask: String,
    pub account_type: String,
    pub subtype: String,
}

/// Whether `account_filters` lets an account of this type/subtype through.
fn passes_filters(filters: Option<&Value>, account_type: &str, subtype: &str) -> bool {
    let Some(filters) = filters.and_then(Value::as_object) else {
        return true;
    };
    if filters.is_empty() {
        return true;
    }
    let Some(subtypes) = filters.get(account_type).and_then(|f| f.get("account_subtypes")).and_then(Value::as_array)
    else {
        return false;
    };
    subtypes.iter().filter_map(Value::as_str).any(|s| s == "all" || s == subtype)
}

/// The accounts Link would offer for this token and institution.
pub fn choices(app: &App, record: &LinkTokenRecord) -> Vec<Choice> {
    let filters = record.account_filters.as_ref();
    match &record.update_item_id {
        Some(item_id) => {
            let state = app.lock_state();
            let Some(item) = state.items.get(item_id).filter(|i| !i.removed) else {
                return Vec::new();
            };
            let mut accounts: Vec<&Account> = item.visible_accounts().collect();
            if record.account_selection_enabled {
                accounts.extend(item.new_accounts.iter());
            }
            accounts
                .into_iter()
                .filter(|a| passes_filters(filters, &a.account_type, &a.subtype))
                .map(|a| Choice {
                    account_id: Some(a.account_id.clone()),
                    name: a.name.clone(),
                    mask: a.mask.clone(),
                    account_type: a.account_type.clone(),
                    subtype: a.subtype.clone(),
                })
                .collect()
        }
        None => sandbox::USER_GOOD_ACCOUNTS
            .iter()
            .filter(|t| sandbox::account_supports_products(t.account_type, t.subtype, &record.products))
            .filter(|t| passes_filters(filters, t.account_type, t.subtype))
            .map(|t| Choice {
                account_id: None,
                name: t.name.to_owned(),
                mask: t.mask.to_owned(),
                account_type: t.account_type.to_owned(),
                subtype: t.subtype.to_owned(),
            })
            .collect(),
    }
}

/// Applies the user's selection to the offered accounts.
pub fn select(c: &LinkCompletion, offered: &[Choice], update_mode: bool) -> Result<Vec<Choice>, PlaidError> {
    let mut selected: Vec<Choice> = offered.to_vec();
    if let Some(ids) = &c.account_ids {
        if !update_mode {
            return Err(PlaidError::invalid_field(
                "account_ids can only select accounts in update mode (a new Item's ids do not exist yet); use account_masks or account_subtypes",
            ));
        }
        for id in ids {
            if !offered.iter().any(|o| o.account_id.as_deref() == Some(id)) {
                return Err(PlaidError::invalid_field(format!(
                    "account_ids: {id} is not offered by this Link session"
                )));
            }
        }
        selected.retain(|o| o.account_id.as_ref().is_some_and(|id| ids.contains(id)));
    }
    if let Some(masks) = &c.account_masks {
        for m in masks {
            if !offered.iter().any(|o| &o.mask == m) {
                return Err(PlaidError::invalid_field(format!(
                    "account_masks: no account with mask {m} is offered by this Link session"
                )));
            }
        }
        selected.retain(|o| masks.contains(&o.mask));
    }
    if let Some(subtypes) = &c.account_subtypes {
        selected.retain(|o| subtypes.contains(&o.subtype));
    }
    Ok(selected)
}

pub fn account_metadata(a: &Account) -> Value {
    json!({
        "id": a.account_id,
        "name": a.name,
        "mask": a.mask,
        "type": a.account_type,
        "subtype": a.subtype,
        "verification_status": null,
        "class_type": null,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = json!({"depository": {"account_subtypes": ["checking"]}});
        assert!(passes_filters(Some(&f), "depository", "checking"));
        assert!(!passes_filters(Some(&f), "depository", "savings"));
        assert!(!passes_filters(Some(&f), "credit", "credit card"));
        let f = json!({"credit": {"account_subtypes": ["all"]}});
        assert!(passes_filters(Some(&f), "credit", "credit card"));
        assert!(passes_filters(None, "loan", "student"));
    }
}
