//! Key layout of the table (`docs/data-model.md`), sortable timestamps and opaque pagination cursors.
//! Pure functions, unit-tested here.

use crate::domain::{ItemId, LinkSessionId, TransactionId, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

// Attribute names.
pub(crate) const PK: &str = "PK";
pub(crate) const SK: &str = "SK";
pub(crate) const GSI1PK: &str = "GSI1PK";
pub(crate) const GSI1SK: &str = "GSI1SK";
pub(crate) const GSI2PK: &str = "GSI2PK";
pub(crate) const GSI2SK: &str = "GSI2SK";
pub(crate) const TTL: &str = "ttl";
pub(crate) const VERSION: &str = "v";
pub(crate) const TYPE: &str = "type";
/// The item's KMS-wrapped data key.
pub(crate) const DEK: &str = "dek";
/// The item's sealed access token.
pub(crate) const TOKEN: &str = "tok";
/// A transaction's sealed details.
pub(crate) const ENC: &str = "enc";
pub(crate) const SYNC_CURSOR: &str = "sync_cursor";
pub(crate) const LEASE_OWNER: &str = "lease_owner";
pub(crate) const LEASE_UNTIL: &str = "lease_until";
/// The item's re-link prompt count: written only by its own counter updates, never by a state write.
pub(crate) const PROMPTS: &str = "ignored_prompts";

pub(crate) const GSI1: &str = "GSI1";
pub(crate) const GSI2: &str = "GSI2";

pub(crate) const ITEM_GSI1SK: &str = "ITEM";
pub(crate) const PROFILE_SK: &str = "PROFILE";
pub(crate) const WEBHOOK_SK: &str = "WEBHOOK";
pub(crate) const CHECKPOINT_SK: &str = "CHECKPOINT";
pub(crate) const LINK_PREFIX: &str = "LINK#";
pub(crate) const ITEM_PREFIX: &str = "ITEM#";
pub(crate) const TXN_PREFIX: &str = "TXN#";

pub(crate) fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}
pub(crate) fn item_sk(item: &ItemId) -> String {
    format!("{ITEM_PREFIX}{item}")
}
pub(crate) fn item_gsi1pk(item: &ItemId) -> String {
    format!("{ITEM_PREFIX}{item}")
}
/// The partition of an item's own records (its transactions).
pub(crate) fn item_partition(item: &ItemId) -> String {
    format!("{ITEM_PREFIX}{item}")
}
pub(crate) fn txn_sk(txn: &TransactionId) -> String {
    format!("{TXN_PREFIX}{txn}")
}
pub(crate) fn txns_gsi1pk(item: &ItemId) -> String {
    format!("TXNS#{item}")
}
pub(crate) fn txn_gsi1sk(date: &str, txn: &TransactionId) -> String {
    format!("{date}#{txn}")
}
pub(crate) fn link_sk(created_at: OffsetDateTime, token_hash: &str) -> String {
    format!("{LINK_PREFIX}{}#{token_hash}", sort_time(created_at))
}
pub(crate) fn link_session_pk(session: &LinkSessionId) -> String {
    format!("LINKSESSION#{session}")
}
/// `discriminator`: the event's position in the app's batch (six digits), or Plaid's `event_id`.
pub(crate) fn link_event_sk(at: OffsetDateTime, discriminator: &str) -> String {
    format!("EVENT#{}#{discriminator}", sort_time(at))
}
/// A Link token by its value (`GSI1`), whoever it was made for.
pub(crate) fn link_token_gsi1pk(token_hash: &str) -> String {
    format!("LINKTOKEN#{token_hash}")
}
pub(crate) const LINK_TOKEN_GSI1SK: &str = "LINK_TOKEN";
/// The open Link tokens (neither closed nor asked about), sharded, by creation time (`GSI2`).
pub(crate) fn link_open_pk(shard: u8) -> String {
    format!("LINKOPEN#{shard:02}")
}
pub(crate) fn link_events_gsi1pk(day: Date) -> String {
    format!("LINKEVENTS#{}", day_string(day))
}
pub(crate) fn link_events_gsi1sk(at: OffsetDateTime, session: &LinkSessionId) -> String {
    format!("{}#{session}", sort_time(at))
}
pub(crate) const INSTITUTION_PREFIX: &str = "INSTITUTION#";
pub(crate) fn institution_sk(institution_id: &str) -> String {
    format!("{INSTITUTION_PREFIX}{institution_id}")
}
pub(crate) fn exchange_sk(key: &str) -> String {
    format!("EXCHANGE#{key}")
}
pub(crate) fn webhook_pk(key: &str) -> String {
    format!("WEBHOOK#{key}")
}
pub(crate) fn churn_run_pk(run_id: &str) -> String {
    format!("CHURN#RUN#{run_id}")
}
pub(crate) fn churn_active_pk(shard: u8) -> String {
    format!("CHURN#ACTIVE#{shard:02}")
}
pub(crate) fn churn_error_pk(shard: u8) -> String {
    format!("CHURN#ERROR#{shard:02}")
}

/// The quiet index (every item not in the churn error index, by when weft last heard of it): the sweep's.
pub(crate) fn quiet_pk(shard: u8) -> String {
    format!("QUIET#{shard:02}")
}
pub(crate) fn sweep_run_pk(run_id: &str) -> String {
    format!("SWEEP#RUN#{run_id}")
}

/// The churn shard (`0..16`) of a user or item id: the first byte of its SHA-256, mod 16.
pub fn churn_shard(id: &str) -> u8 {
    Sha256::digest(id.as_bytes())[0] % crate::domain::CHURN_SHARDS
}

/// Hex SHA-256 (Link token hashes in sort keys).
pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Whether `key` may be used as a caller-supplied key part (a hash, a run id): 1 to 128 of `[A-Za-z0-9_.:-]`.
pub(crate) fn valid_key_part(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

const SORT_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const DAY: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");

/// RFC 3339 in UTC with exactly three fractional digits, so that string order is time order (sort keys,
/// condition expressions). Years 0..=9999 only, which the parsing constructors of the callers guarantee.
pub(crate) fn sort_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(SORT_TIME).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub(crate) fn parse_sort_time(s: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(s, SORT_TIME).ok().map(PrimitiveDateTime::assume_utc)
}

pub(crate) fn day_string(day: Date) -> String {
    day.format(DAY).unwrap_or_default()
}

/// Whether `s` is a `YYYY-MM-DD` date (transactions' `date`, which orders them).
pub(crate) fn is_day(s: &str) -> bool {
    s.len() == 10 && Date::parse(s, DAY).is_ok()
}

/// Epoch seconds for DynamoDB TTL.
pub(crate) fn epoch(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Epoch milliseconds (lease expiry).
pub(crate) fn epoch_millis(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// The longest cursor accepted (a cursor is the four key attributes of a record, base64).
const MAX_CURSOR_LEN: usize = 2048;

/// Encodes the string key attributes of a `LastEvaluatedKey` as an opaque cursor.
pub(crate) fn encode_cursor(key: &BTreeMap<String, String>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor into key attributes, requiring exactly the attributes `names`.
pub(crate) fn decode_cursor(cursor: &str, names: &[&str]) -> Option<BTreeMap<String, String>> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let key: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    if key.len() != names.len() || !names.iter().all(|n| key.get(*n).is_some_and(|v| !v.is_empty() && v.len() <= 512)) {
        return None;
    }
    Some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn sort_time_is_fixed_width_utc() {
        assert_eq!(sort_time(datetime!(2026-11-24 10:42:00 UTC)), "2026-11-24T10:42:00.000Z");
        assert_eq!(sort_time(datetime!(2026-11-24 10:42:00.5 +01:00)), "2026-11-24T09:42:00.500Z");
        let t = datetime!(2026-11-24 10:42:00.123 UTC);
        assert_eq!(parse_sort_time(&sort_time(t)), Some(t));
    }

    #[test]
    fn key_layout() {
        let user = UserId::parse("auth0|u1").unwrap();
        let item = ItemId::parse("it1").unwrap();
        let txn = TransactionId::parse("tx1").unwrap();
        assert_eq!(user_pk(&user), "USER#auth0|u1");
        assert_eq!(item_sk(&item), "ITEM#it1");
        assert_eq!(txns_gsi1pk(&item), "TXNS#it1");
        assert_eq!(txn_gsi1sk("2026-01-02", &txn), "2026-01-02#tx1");
        assert_eq!(churn_error_pk(3), "CHURN#ERROR#03");
        assert_eq!(churn_active_pk(15), "CHURN#ACTIVE#15");
        assert_eq!(link_events_gsi1pk(time::macros::date!(2026 - 03 - 04)), "LINKEVENTS#2026-03-04");
        assert_eq!(link_event_sk(datetime!(2026-03-04 00:00 UTC), "000007"), "EVENT#2026-03-04T00:00:00.000Z#000007");
    }

    #[test]
    fn days_and_key_parts() {
        assert!(is_day("2026-02-28"));
        assert!(!is_day("2026-2-28"));
        assert!(!is_day("2026-02-30"));
        assert!(valid_key_part(&sha256_hex("x")));
        assert!(!valid_key_part("a#b"));
        assert!(!valid_key_part(""));
    }

    #[test]
    fn cursors_round_trip_and_are_validated() {
        let key: BTreeMap<String, String> =
            [("PK", "ITEM#a"), ("SK", "TXN#b")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor(&c, &["PK", "SK"]), Some(key));
        assert_eq!(decode_cursor(&c, &["PK", "SK", "GSI1PK"]), None);
        assert_eq!(decode_cursor(&c, &["PK"]), None);
        assert_eq!(decode_cursor("not base64 !", &["PK"]), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(b"[1,2]"), &["PK"]), None);
    }

    proptest! {
        #[test]
        fn shards_are_in_range(id in "\\PC{1,64}") {
            prop_assert!(churn_shard(&id) < crate::domain::CHURN_SHARDS);
        }

        /// String order of sort_time is time order.
        #[test]
        fn sort_time_orders_like_time(a in 0i64..4_000_000_000_000, b in 0i64..4_000_000_000_000) {
            let ta = OffsetDateTime::from_unix_timestamp_nanos(a as i128 * 1_000_000).unwrap();
            let tb = OffsetDateTime::from_unix_timestamp_nanos(b as i128 * 1_000_000).unwrap();
            prop_assert_eq!(sort_time(ta).cmp(&sort_time(tb)), ta.cmp(&tb));
        }

        #[test]
        fn decode_cursor_never_panics(s in "\\PC{0,300}") {
            let _ = decode_cursor(&s, &["PK", "SK"]);
        }
    }
}
