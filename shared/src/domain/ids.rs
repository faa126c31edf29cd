//! Identifier and token newtypes.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: &'static str,
}

fn check(kind: &'static str, s: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError { kind, reason: "must not be empty" });
    }
    if s.len() > max {
        return Err(IdError { kind, reason: "is too long" });
    }
    if !s.chars().all(allowed) {
        return Err(IdError { kind, reason: "has characters that are not allowed" });
    }
    Ok(())
}

fn plaid_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $max:expr, $allowed:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s, $max, $allowed)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// The app's user, as the `sub` claim of a verified bearer token.
    UserId, "user id", 256, |c: char| !c.is_control() && c != '#'
);
id_type!(
    /// Plaid's `item_id`.
    ItemId, "item_id", 100, plaid_id_char
);
id_type!(
    /// Plaid's `account_id`.
    AccountId, "account_id", 100, plaid_id_char
);
id_type!(
    /// Plaid's `transaction_id`.
    TransactionId, "transaction_id", 100, plaid_id_char
);
id_type!(
    /// Plaid's institution id (`ins_…`).
    InstitutionId, "institution_id", 100, plaid_id_char
);
id_type!(
    /// Link's `link_session_id`.
    LinkSessionId, "link_session_id", 100, plaid_id_char
);
id_type!(
    /// A Link token (`link-<env>-<uuid>`). Not a secret on its own: it is handed to the app's front end.
    LinkToken, "link_token", 200, plaid_id_char
);

/// A Plaid public token (`public-<env>-<uuid>`): short-lived and single use, but still exchangeable for an
/// access token, so it is never logged.
#[derive(Clone)]
pub struct PublicToken(SecretString);

impl PublicToken {
    pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        check("public_token", &s, 200, plaid_id_char)?;
        if !s.starts_with("public-") {
            return Err(IdError { kind: "public_token", reason: "must start with \"public-\"" });
        }
        Ok(Self(SecretString::from(s)))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Compares the values (a public token is single use and short-lived: no timing concern).
impl PartialEq for PublicToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for PublicToken {}

impl fmt::Debug for PublicToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicToken(***)")
    }
}

/// A Plaid access token. Lives in memory only as long as a call needs it; at rest only as ciphertext.
/// Its `Debug` never shows it, and it has no `Display` and no `Serialize`.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        check("access_token", &s, 200, plaid_id_char)?;
        if !s.starts_with("access-") {
            return Err(IdError { kind: "access_token", reason: "must start with \"access-\"" });
        }
        Ok(Self(SecretString::from(s)))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn access_token_debug_hides_the_token() {
        let t = AccessToken::parse("access-sandbox-0b5e2c1a-secret").unwrap();
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
        assert!(!format!("{:?}", Some(&t)).contains("secret"));
    }

    #[test]
    fn tokens_must_have_their_prefix() {
        assert!(AccessToken::parse("public-sandbox-x").is_err());
        assert!(PublicToken::parse("access-sandbox-x").is_err());
        assert!(PublicToken::parse("public-sandbox-7f1f").is_ok());
    }

    #[test]
    fn user_ids_cannot_forge_key_separators() {
        assert!(UserId::parse("alice#ITEM").is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("auth0|abc123").is_ok());
    }

    proptest! {
        #[test]
        fn item_id_parse_accepts_exactly_the_plaid_alphabet(s in "\\PC{0,120}") {
            let ok = !s.is_empty() && s.len() <= 100 && s.chars().all(plaid_id_char);
            prop_assert_eq!(ItemId::parse(s.clone()).is_ok(), ok);
        }

        #[test]
        fn ids_round_trip_through_serde(s in "[A-Za-z0-9]{1,37}") {
            let id = ItemId::parse(s.clone()).unwrap();
            let json = serde_json::to_string(&id).unwrap();
            let back: ItemId = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, id);
        }
    }
}
