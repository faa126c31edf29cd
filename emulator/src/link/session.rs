//! A Link session run to its end, the way Link would run it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::accounts::{account_metadata, choices, select};
use super::events::Events;
use super::{LinkCompletion, LinkOutcome};
use crate::app::App;
use crate::items::{self, NewItem};
use crate::sandbox::{self, Account, Institution};
use crate::wire::PlaidError;

pub fn oauth_requires_redirect() -> PlaidError {
    PlaidError::invalid_field("OAuth institutions require a redirect_uri: create the link token with redirect_uri set")
}

/// Runs a Link session to its end. Errors (HTTP 400) are reserved for a malformed simulation
/// request; everything Link itself would report comes back as an `exit` outcome.
pub fn complete(app: &Arc<App>, c: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
    let now = app.clock.now();
    let unix = now.unix_timestamp();
    let mut ev = Events::new(now);
    let record = app.lock_state().link_tokens.get(&c.link_token).cloned();
    let Some(record) = record else {
        return Ok(ev.exit(PlaidError::invalid_link_token("invalid link_token provided"), None));
    };
    if unix >= record.expires_at {
        return Ok(ev.exit(PlaidError::invalid_link_token("link token has expired"), None));
    }
    let update_mode = record.update_item_id.is_some();
    let inst: &'static Institution = match &record.update_item_id {
        Some(item_id) => {
            let inst_id = app.lock_state().items.get(item_id).filter(|i| !i.removed).map(|i| i.institution_id.clone());
            let Some(inst_id) = inst_id else {
                ev.push("OPEN", None, None, None);
                return Ok(ev.exit(PlaidError::item_not_found(), None));
            };
            if let Some(given) = &c.institution_id
                && given != &inst_id
            {
                return Err(PlaidError::invalid_field(format!(
                    "update mode: the Item belongs to {inst_id}, not {given}"
                )));
            }
            sandbox::institution(&inst_id).ok_or_else(PlaidError::invalid_institution)?
        }
        None => {
            let id = c.institution_id.as_deref().unwrap_or("ins_109508");
            sandbox::institution(id).ok_or_else(PlaidError::invalid_institution)?
        }
    };

    ev.push("OPEN", None, None, None);
    if update_mode {
        ev.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
    } else {
        ev.push("TRANSITION_VIEW", Some("CONSENT"), None, None);
        ev.push("TRANSITION_VIEW", Some("SELECT_INSTITUTION"), None, None);
        ev.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
        ev.push("SELECT_INSTITUTION", Some("SELECT_INSTITUTION"), None, None);
        if !sandbox::institution_supports(inst, &record.products) {
            return Ok(ev.exit(sandbox::products_not_supported(), Some("institution_not_supported")));
        }
    }
    if inst.oauth {
        if record.redirect_uri.is_none() {
            return Ok(ev.exit(oauth_requires_redirect(), Some("requires_oauth")));
        }
        ev.push("TRANSITION_VIEW", Some("OAUTH"), None, None);
        ev.push("OPEN_OAUTH", Some("OAUTH"), None, None);
    } else {
        ev.push("TRANSITION_VIEW", Some("CREDENTIAL"), None, None);
        ev.push("SUBMIT_CREDENTIALS", Some("CREDENTIAL"), None, None);
    }
    ev.new_request();
    let username = c.username.as_deref().unwrap_or(sandbox::GOOD_USERNAME);
    let password = c.password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD);
    if let Err(e) = sandbox::check_credentials(username, password) {
        return Ok(ev.exit(e, Some("requires_credentials")));
    }
    ev.push("TRANSITION_VIEW", Some("LOADING"), None, None);

    let offered = choices(app, &record);
    let selecting = !update_mode || record.account_selection_enabled;
    let selected = if selecting { select(c, &offered, update_mode)? } else { offered };
    if selected.is_empty() {
        return Ok(ev.exit(PlaidError::login_error("NO_ACCOUNTS"), Some("requires_account_selection")));
    }
    if selecting {
        ev.push("TRANSITION_VIEW", Some("SELECT_ACCOUNT"), None, None);
    }
    ev.push("TRANSITION_VIEW", Some("CONNECTED"), None, None);
    ev.push("HANDOFF", None, None, None);

    let (public_token, item_id, accounts, webhooks) = if let Some(item_id) = &record.update_item_id {
        let new_ids: Vec<String> = selected.iter().filter_map(|s| s.account_id.clone()).collect();
        let mut state = app.lock_state();
        let Some(item) = state.items.get_mut(item_id).filter(|i| !i.removed) else {
            return Ok(ev.exit(PlaidError::item_not_found(), None));
        };
        items::repair(item, &new_ids);
        let accounts: Vec<Value> =
            item.visible_accounts().filter(|a| new_ids.contains(&a.account_id)).map(account_metadata).collect();
        (None, item_id.clone(), accounts, Vec::new())
    } else {
        let masks: Vec<String> = selected.iter().map(|s| s.mask.clone()).collect();
        let pick = |a: &Account| masks.contains(&a.mask);
        let delay = app.history_delay_secs();
        let mut state = app.lock_state();
        let (item_id, public_token) = items::create_item(
            &mut state,
            NewItem {
                institution: inst,
                username,
                products: record.products.clone(),
                webhook: record.webhook.clone(),
                client_user_id: record.client_user_id.clone(),
                select: &pick,
            },
            now,
            app.seed(),
            delay,
        )?;
        let accounts =
            state.items.get(&item_id).map(|i| i.visible_accounts().map(account_metadata).collect()).unwrap_or_default();
        (Some(public_token), item_id, accounts, Vec::new())
    };
    app.send_webhooks(webhooks);
    app.changed();
    let metadata = json!({
        "institution": ev.institution_json(),
        "accounts": accounts,
        "link_session_id": ev.session,
        "transfer_status": null,
    });
    Ok(LinkOutcome {
        status: "success".to_owned(),
        public_token,
        metadata: Some(metadata),
        events: ev.list,
        exit: None,
        item_id: Some(item_id),
    })
}
