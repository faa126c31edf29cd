//! Conversions between domain records and DynamoDB attribute maps (the only place, with the adapter, that
//! sees SDK types).

use super::keys::*;
use super::{conversion, corrupt};
use crate::domain::{ItemRecord, UserId};
use crate::ports::StoreError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;

pub(crate) type Attrs = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(crate) fn b(v: impl Into<Vec<u8>>) -> AttributeValue {
    AttributeValue::B(Blob::new(v.into()))
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Attrs {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub(crate) fn get_s<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}
pub(crate) fn get_n<T: std::str::FromStr>(attrs: &Attrs, name: &str) -> Option<T> {
    attrs.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}
pub(crate) fn take_b(attrs: &mut Attrs, name: &str) -> Option<Vec<u8>> {
    match attrs.remove(name) {
        Some(AttributeValue::B(blob)) => Some(blob.into_inner()),
        _ => None,
    }
}

/// The string attributes `names` of a key (e.g. a `LastEvaluatedKey`), for a cursor.
pub(crate) fn string_key(attrs: &Attrs, names: &[&str]) -> Option<std::collections::BTreeMap<String, String>> {
    names.iter().map(|name| get_s(attrs, name).map(|v| ((*name).to_owned(), v.to_owned()))).collect()
}

pub(crate) fn attrs_from_strings(key: std::collections::BTreeMap<String, String>) -> Attrs {
    key.into_iter().map(|(k, v)| (k, s(v))).collect()
}

/// Whether an expiring record (attribute `ttl`) has expired at `now`: DynamoDB deletes expired records
/// within a day or two, not at once, so readers check it themselves.
pub(crate) fn expired(attrs: &Attrs, now: OffsetDateTime) -> bool {
    get_n::<i64>(attrs, TTL).is_some_and(|ttl| ttl <= epoch(now))
}

/// The item record's attributes (without its secrets, cursor and lease): every domain field at the top
/// level, `version` as `v`, the keys, and its `GSI2` entry: in the churn error index while in error or
/// waiting for update mode, else in the quiet index by when weft last heard of it.
pub(crate) fn item_to_attrs(item: &ItemRecord) -> Result<Attrs, StoreError> {
    let mut attrs: Attrs = serde_dynamo::aws_sdk_dynamodb_1::to_item(item).map_err(conversion)?;
    attrs.remove("version");
    attrs.insert(VERSION.to_owned(), n(item.version));
    attrs.insert(PK.to_owned(), s(user_pk(&item.user_id)));
    attrs.insert(SK.to_owned(), s(item_sk(&item.item_id)));
    attrs.insert(GSI1PK.to_owned(), s(item_gsi1pk(&item.item_id)));
    attrs.insert(GSI1SK.to_owned(), s(ITEM_GSI1SK));
    attrs.insert(TYPE.to_owned(), s("ITEM"));
    let shard = churn_shard(item.item_id.as_str());
    let entry = match (item.churn_error_since(), item.quiet_since()) {
        (Some(since), _) => Some((churn_error_pk(shard), since)),
        (None, Some(heard)) => Some((quiet_pk(shard), heard)),
        (None, None) => None,
    };
    if let Some((partition, at)) = entry {
        attrs.insert(GSI2PK.to_owned(), s(partition));
        attrs.insert(GSI2SK.to_owned(), s(sort_time(at)));
    }
    Ok(attrs)
}

/// Attributes that are not fields of [`ItemRecord`].
const ITEM_INTERNAL: [&str; 14] =
    [PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, TTL, VERSION, TYPE, DEK, TOKEN, SYNC_CURSOR, LEASE_OWNER, LEASE_UNTIL];

pub(crate) fn item_from_attrs(mut attrs: Attrs) -> Result<ItemRecord, StoreError> {
    let version: u64 = get_n(&attrs, VERSION).ok_or(corrupt("item version", None))?;
    for name in ITEM_INTERNAL {
        attrs.remove(name);
    }
    attrs.insert("version".to_owned(), n(version));
    serde_dynamo::aws_sdk_dynamodb_1::from_item(attrs).map_err(|e| corrupt("item record", Some(Box::new(e))))
}

/// The user id of a profile record.
pub(crate) fn profile_user(attrs: &Attrs) -> Result<UserId, StoreError> {
    get_s(attrs, "user_id").and_then(|u| UserId::parse(u).ok()).ok_or(corrupt("user profile", None))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::{Institution, InstitutionId, ItemError, ItemId, ItemStatus};
    use time::macros::datetime;

    pub(crate) fn sample_item() -> ItemRecord {
        let t0 = datetime!(2026-01-01 00:00 UTC);
        ItemRecord {
            user_id: UserId::parse("u1").unwrap(),
            item_id: ItemId::parse("item1").unwrap(),
            institution: Institution { institution_id: InstitutionId::parse("ins_1").unwrap(), name: "Bank".into() },
            accounts: vec![],
            status: ItemStatus::Healthy,
            error: None,
            consent_expiration_time: None,
            pending_disconnect_at: None,
            new_accounts_available: false,
            webhook_url: None,
            ignored_prompts: 2,
            created_at: t0,
            updated_at: t0,
            event_times: Default::default(),
            transactions_sync: Default::default(),
            checked_at: None,
            version: 7,
        }
    }

    #[test]
    fn item_round_trips_with_version_as_v() {
        let item = sample_item();
        let attrs = item_to_attrs(&item).unwrap();
        assert_eq!(get_n::<u64>(&attrs, VERSION), Some(7));
        assert!(!attrs.contains_key("version"));
        assert_eq!(get_s(&attrs, PK), Some("USER#u1"));
        assert_eq!(get_s(&attrs, GSI1PK), Some("ITEM#item1"));
        let quiet = quiet_pk(churn_shard("item1"));
        assert_eq!(
            get_s(&attrs, GSI2PK),
            Some(quiet.as_str()),
            "a healthy item is in the quiet index, not the churn index"
        );
        assert_eq!(
            get_s(&attrs, GSI2SK).map(str::to_owned),
            Some(sort_time(item.created_at)),
            "never checked: since stored"
        );
        let mut with_secrets = attrs.clone();
        with_secrets.insert(DEK.into(), b(vec![1, 2]));
        with_secrets.insert(LEASE_OWNER.into(), s("w"));
        assert_eq!(item_from_attrs(with_secrets).unwrap(), item);
    }

    #[test]
    fn items_in_error_are_indexed_by_error_since() {
        let mut item = sample_item();
        let since = datetime!(2026-02-03 04:05:06 UTC);
        item.status = ItemStatus::LoginRequired;
        item.error =
            Some(ItemError { error_type: "ITEM_ERROR".into(), error_code: "ITEM_LOGIN_REQUIRED".into(), since });
        let attrs = item_to_attrs(&item).unwrap();
        let shard = churn_shard("item1");
        assert_eq!(get_s(&attrs, GSI2PK), Some(churn_error_pk(shard).as_str()));
        assert_eq!(get_s(&attrs, GSI2SK), Some("2026-02-03T04:05:06.000Z"));
        item.status = ItemStatus::Revoked;
        assert!(item.churn_error_since().is_none());
        assert!(!item_to_attrs(&item).unwrap().contains_key(GSI2PK), "a revoked item is in neither index");
    }

    #[test]
    fn quiet_items_are_indexed_by_when_weft_last_heard_of_them() {
        let mut item = sample_item();
        let heard = datetime!(2026-03-04 05:06:07 UTC);
        item.checked_at = Some(heard);
        let attrs = item_to_attrs(&item).unwrap();
        assert_eq!(get_s(&attrs, GSI2SK), Some("2026-03-04T05:06:07.000Z"));
    }
}
