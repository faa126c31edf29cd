//! The user's own contact details, as their identity provider verified them: passed to Plaid's
//! `/link/token/create` (its returning-user flow) and nowhere else. Never stored, never logged: every
//! `Debug` here prints `***`, and nothing here is `Serialize`.

use std::fmt;

/// What the caller's bearer token says of them, verified by their identity provider (the claims as they
/// are, not yet parsed: a malformed one is dropped where it would be used, with a warning that does not
/// show it).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReturningUser {
    /// The phone number claim, present only if `phone_number_verified` is `true`.
    pub phone_number: Option<String>,
    /// The email claim (when configured), present only if `email_verified` is `true`.
    pub email_address: Option<String>,
}

impl fmt::Debug for ReturningUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReturningUser")
            .field("phone_number", &self.phone_number.as_ref().map(|_| "***"))
            .field("email_address", &self.email_address.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why a contact claim was not taken (the value itself is never part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ContactError(&'static str);

/// A phone number in E.164 (`+` then 8 to 15 digits, the first not 0), e.g. `+14155550123`.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Takes E.164, allowing the separators people and some providers write in it (spaces, `-`, `.`,
    /// parentheses), which are dropped.
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let Some(digits) = compact.strip_prefix('+') else {
            return Err(ContactError("a phone number must be E.164: + and the country code"));
        };
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err(ContactError("a phone number must be E.164: + and 8 to 15 digits, the first not 0"));
        }
        Ok(Self(compact))
    }

    /// The number, for the one request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(***)")
    }
}

/// An email address (one `@`, something on each side, no spaces or control characters, at most 254).
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let raw = raw.trim();
        let ok = raw.len() <= 254
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.contains('@')
            })
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok { Ok(Self(raw.to_owned())) } else { Err(ContactError("not an email address")) }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(PhoneNumber::parse("+14155550123").unwrap().expose(), "+14155550123");
        assert_eq!(PhoneNumber::parse("+1 (415) 555-0123").unwrap().expose(), "+14155550123");
        for bad in ["4155550123", "+0155550123", "+1415", "+1415555012345678", "+1415555O123", "", "+"] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(EmailAddress::parse("a@example.com").is_ok());
        for bad in ["a", "@example.com", "a@b", "a b@example.com", "a@@example.com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nothing_here_prints_the_values() {
        let user = ReturningUser { phone_number: Some("+14155550123".into()), email_address: Some("a@x.io".into()) };
        let printed = format!(
            "{user:?} {:?} {:?}",
            PhoneNumber::parse("+14155550123").unwrap(),
            EmailAddress::parse("a@x.io").unwrap()
        );
        assert!(!printed.contains("4155550123") && !printed.contains("x.io"), "{printed}");
    }

    proptest! {
        #[test]
        fn an_error_never_holds_the_value(s in "\\PC{0,40}") {
            if let Err(e) = PhoneNumber::parse(&s) {
                prop_assert!(s.len() < 3 || !e.to_string().contains(&s));
            }
        }
    }
}
