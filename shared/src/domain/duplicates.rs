//! When a new item duplicates one the user already has (Plaid bills both, and the user sees every account
//! twice): the same institution, or the same accounts. Run before the exchange on Link's metadata (a cheap
//! filter) and after it on Plaid's own data (the decision).

use super::{Account, InstitutionId, ItemId, ItemRecord, ItemStatus};

/// Why a new item is a duplicate, naming the existing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub existing: ItemId,
    pub reason: &'static str,
}

/// The first of the user's live items that the new one (at `institution`, with `accounts`) duplicates.
pub fn duplicate_of(existing: &[ItemRecord], institution: &InstitutionId, accounts: &[Account]) -> Option<Duplicate> {
    let live = || existing.iter().filter(|i| i.status != ItemStatus::Revoked);
    if let Some(item) = live().find(|i| &i.institution.institution_id == institution) {
        return Some(Duplicate { existing: item.item_id.clone(), reason: "same institution" });
    }
    live()
        .find(|item| {
            accounts.iter().any(|new| {
                item.accounts.iter().filter(|old| old.revoked_at.is_none()).any(|old| same_account(old, new))
            })
        })
        .map(|item| Duplicate { existing: item.item_id.clone(), reason: "same accounts" })
}

/// The same account in two items: by Plaid's persistent account id where both have one; else by type,
/// subtype, mask and name, where a missing mask is unknown (never a match).
fn same_account(a: &Account, b: &Account) -> bool {
    if let (Some(x), Some(y)) = (&a.persistent_account_id, &b.persistent_account_id) {
        return x == y;
    }
    a.mask.is_some()
        && a.mask == b.mask
        && a.name == b.name
        && a.account_type == b.account_type
        && a.subtype == b.subtype
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn account(name: &str, mask: Option<&str>, persistent: Option<&str>) -> Account {
        let id = format!("acc-{name}-{}", mask.unwrap_or("none"));
        Account {
            name: name.into(),
            mask: mask.map(str::to_owned),
            persistent_account_id: persistent.map(str::to_owned),
            ..fixtures::account(&id, None)
        }
    }

    fn item(id: &str, institution: &str, accounts: Vec<Account>) -> ItemRecord {
        fixtures::item(id, institution, accounts, time::OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn same_institution_then_same_accounts_and_a_missing_mask_is_unknown() {
        let ins = |s: &str| InstitutionId::parse(s).unwrap();
        let old = vec![item("a", "ins_1", vec![account("Checking", Some("0000"), None)])];
        let dup = duplicate_of(&old, &ins("ins_1"), &[]).unwrap();
        assert_eq!((dup.existing.as_str(), dup.reason), ("a", "same institution"));
        assert_eq!(
            duplicate_of(&old, &ins("ins_2"), &[account("Checking", Some("0000"), None)]).unwrap().reason,
            "same accounts"
        );
        assert_eq!(duplicate_of(&old, &ins("ins_2"), &[account("Checking", Some("1111"), None)]), None);
        let unmasked = vec![item("b", "ins_1", vec![account("Checking", None, None)])];
        assert_eq!(duplicate_of(&unmasked, &ins("ins_2"), &[account("Checking", None, None)]), None, "unknown mask");
        let mut revoked = old.clone();
        revoked[0].status = ItemStatus::Revoked;
        assert_eq!(duplicate_of(&revoked, &ins("ins_1"), &[]), None, "an item being removed is no duplicate");
    }

    #[test]
    fn persistent_account_ids_decide_where_both_have_one() {
        let ins = InstitutionId::parse("ins_2").unwrap();
        let old = vec![item("a", "ins_1", vec![account("Checking", Some("0000"), Some("pa-1"))])];
        // Tokenized account numbers: a different mask, the same account.
        assert!(duplicate_of(&old, &ins, &[account("Checking", Some("9999"), Some("pa-1"))]).is_some());
        // Same mask and name, but Plaid says another account.
        assert!(duplicate_of(&old, &ins, &[account("Checking", Some("0000"), Some("pa-2"))]).is_none());
    }
}
