//! Identifier and token formats, as Plaid issues them.
//!
//! `request_id`: 15 alphanumerics. `item_id`, `account_id`, `transaction_id`: 37 alphanumerics.
//! Tokens: `link-sandbox-<uuid>`, `public-sandbox-<uuid>`, `access-sandbox-<uuid>`.

use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

/// Length of a Plaid `request_id`.
pub const REQUEST_ID_LEN: usize = 15;
/// Length of Plaid `item_id`, `account_id` and `transaction_id` values.
pub const OBJECT_ID_LEN: usize = 37;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_alnum(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A fresh random `request_id`.
pub fn request_id() -> String {
    random_alnum(REQUEST_ID_LEN)
}

/// A fresh random `item_id`.
pub fn item_id() -> String {
    random_alnum(OBJECT_ID_LEN)
}

/// A deterministic 37-character id derived from the given parts (account and transaction ids are
/// derived from the item id and the seed, so the same item always shows the same ids).
pub fn derived_id(parts: &[&[u8]]) -> String {
    let mut out = String::with_capacity(OBJECT_ID_LEN);
    let mut counter: u32 = 0;
    while out.len() < OBJECT_ID_LEN {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(counter.to_le_bytes());
        for byte in hasher.finalize() {
            // 62 * 4 = 248: reject the top values to keep the distribution uniform.
            if byte < 248 && out.len() < OBJECT_ID_LEN {
                out.push(char::from(ALPHANUMERIC[usize::from(byte % 62)]));
            }
        }
        counter += 1;
    }
    out
}

/// The kinds of token Plaid issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Link,
    Public,
    Access,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Link => "link",
            TokenKind::Public => "public",
            TokenKind::Access => "access",
        }
    }
}

/// A fresh token `<kind>-<environment>-<uuid v4>`.
pub fn token(kind: TokenKind, environment: &str) -> String {
    format!("{}-{}-{}", kind.prefix(), environment, uuid::Uuid::new_v4())
}

/// Whether `token` has the shape `<kind>-<environment>-<uuid>` for any environment.
pub fn is_well_formed_token(kind: TokenKind, token: &str) -> bool {
    let Some(rest) = token.strip_prefix(kind.prefix()).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let Some((env, id)) = rest.split_once('-') else {
        return false;
    };
    matches!(env, "sandbox" | "development" | "production") && uuid::Uuid::parse_str(id).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Whether `s` is `len` ASCII alphanumerics.
    fn is_alnum_of_len(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn formats() {
        assert!(is_alnum_of_len(&request_id(), REQUEST_ID_LEN));
        assert!(is_alnum_of_len(&item_id(), OBJECT_ID_LEN));
        let id = derived_id(&[b"item", b"account"]);
        assert!(is_alnum_of_len(&id, OBJECT_ID_LEN));
        assert_eq!(id, derived_id(&[b"item", b"account"]));
        assert_ne!(id, derived_id(&[b"itema", b"ccount"]));
        let t = token(TokenKind::Access, "sandbox");
        assert!(t.starts_with("access-sandbox-"));
        assert!(is_well_formed_token(TokenKind::Access, &t));
        assert!(!is_well_formed_token(TokenKind::Public, &t));
        assert!(!is_well_formed_token(TokenKind::Access, "access-sandbox-nope"));
    }
}
