//! Plaid's sandbox fixtures: the test institutions, the `user_good` account set, and the
//! credential rules (`user_good` / `pass_good`, `error_<CODE>` passwords).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha224};

use crate::wire::{PlaidError, is_known_login_error};

/// Sandbox username that logs in successfully.
pub const GOOD_USERNAME: &str = "user_good";
/// Sandbox password that logs in successfully.
pub const GOOD_PASSWORD: &str = "pass_good";

/// Health of an institution, as `include_status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Degraded,
    Down,
}

/// A sandbox institution.
#[derive(Debug, Clone)]
pub struct Institution {
    pub id: &'static str,
    pub name: &'static str,
    pub oauth: bool,
    pub health: Health,
    /// Products the institution supports; empty for "Unsupported Platypus Bank".
    pub products: &'static [&'static str],
    pub url: &'static str,
    pub primary_color: &'static str,
    /// Whether its accounts carry `persistent_account_id`: the institutions that issue tokenized account
    /// numbers (Chase, PNC, US Bank), plus Platypus OAuth Bank, which Plaid's Sandbox treats the same
    /// (Plaid's spec, `AccountBase.persistent_account_id`).
    pub persistent_account_ids: bool,
}

const PRODUCTS: &[&str] = &["assets", "auth", "balance", "identity", "investments", "liabilities", "transactions"];

const fn ins(
    id: &'static str,
    name: &'static str,
    oauth: bool,
    health: Health,
    products: &'static [&'static str],
    primary_color: &'static str,
) -> Institution {
    Institution {
        id,
        name,
        oauth,
        health,
        products,
        url: "https://plaid.com",
        primary_color,
        persistent_account_ids: false,
    }
}

/// A real bank as Plaid's Sandbox offers it: OAuth, tokenized account numbers (so its accounts carry
/// `persistent_account_id`).
const fn tan_bank(id: &'static str, name: &'static str, url: &'static str, primary_color: &'static str) -> Institution {
    Institution {
        id,
        name,
        oauth: true,
        health: Health::Healthy,
        products: PRODUCTS,
        url,
        primary_color,
        persistent_account_ids: true,
    }
}

/// The sandbox institutions the emulator knows.
pub const INSTITUTIONS: &[Institution] = &[
    ins("ins_109508", "First Platypus Bank", false, Health::Healthy, PRODUCTS, "#1f1f1f"),
    ins("ins_109509", "First Gingham Credit Union", false, Health::Healthy, PRODUCTS, "#1f1f1f"),
    ins("ins_109510", "Tattersall Federal Credit Union", false, Health::Healthy, PRODUCTS, "#1f1f1f"),
    ins("ins_109511", "Tartan Bank", false, Health::Healthy, PRODUCTS, "#1f1f1f"),
    ins("ins_109512", "Houndstooth Bank", false, Health::Healthy, PRODUCTS, "#1f1f1f"),
    Institution {
        persistent_account_ids: true,
        ..ins("ins_127287", "Platypus OAuth Bank", true, Health::Healthy, PRODUCTS, "#1f1f1f")
    },
    ins("ins_132241", "First Platypus OAuth App2App Bank", true, Health::Healthy, PRODUCTS, "#1f1f1f"),
    ins("ins_132363", "Unhealthy Platypus Bank - Degraded", false, Health::Degraded, PRODUCTS, "#1f1f1f"),
    ins("ins_132361", "Unhealthy Platypus Bank - Down", false, Health::Down, PRODUCTS, "#1f1f1f"),
    ins("ins_133402", "Unsupported Platypus Bank", false, Health::Healthy, &[], "#1f1f1f"),
    tan_bank("ins_56", "Chase", "https://www.chase.com", "#095aa6"),
    tan_bank("ins_13", "PNC", "https://www.pnc.com", "#f58025"),
    tan_bank("ins_127990", "U.S. Bank", "https://www.usbank.com", "#0c2074"),
];

/// Looks up a sandbox institution.
pub fn institution(id: &str) -> Option<&'static Institution> {
    INSTITUTIONS.iter().find(|i| i.id == id)
}

impl Institution {
    /// The `/institutions/get_by_id` object.
    pub fn to_json(&self, include_status: bool, include_optional_metadata: bool, now: &str) -> Value {
        let mut v = json!({
            "institution_id": self.id,
            "name": self.name,
            "products": self.products,
            "country_codes": ["US"],
            "routing_numbers": ["011401533", "021000021", "011000138"],
            "dtc_numbers": ["2236", "0443"],
            "oauth": self.oauth,
            "connection_availability": "SUPPORTED",
        });
        let Some(obj) = v.as_object_mut() else {
            return v;
        };
        if include_optional_metadata {
            obj.insert("url".into(), json!(self.url));
            obj.insert("primary_color".into(), json!(self.primary_color));
            obj.insert("logo".into(), Value::Null);
        }
        if include_status {
            let (status, success, error_plaid, error_institution, refresh) = match self.health {
                Health::Healthy => ("HEALTHY", 0.99, 0.005, 0.005, "NORMAL"),
                Health::Degraded => ("DEGRADED", 0.6, 0.02, 0.38, "DELAYED"),
                Health::Down => ("DOWN", 0.0, 0.02, 0.98, "STOPPED"),
            };
            let product_status = json!({
                "status": status,
                "last_status_change": now,
                "breakdown": {
                    "success": success,
                    "error_plaid": error_plaid,
                    "error_institution": error_institution,
                    "refresh_interval": refresh,
                }
            });
            obj.insert(
                "status".into(),
                json!({
                    "item_logins": product_status,
                    "transactions_updates": product_status,
                    "auth": product_status,
                    "identity": product_status,
                    "investments_updates": product_status,
                    "liabilities_updates": product_status,
                    "liabilities": product_status,
                    "investments": product_status,
                    "health_incidents": [],
                }),
            );
        }
        v
    }
}

/// Account balances as Plaid reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balances {
    pub available: Option<f64>,
    pub current: Option<f64>,
    pub limit: Option<f64>,
    pub iso_currency_code: Option<String>,
    pub unofficial_currency_code: Option<String>,
}

/// An account of an Item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub official_name: Option<String>,
    pub mask: String,
    #[serde(rename = "type")]
    pub account_type: String,
    pub subtype: String,
    pub balances: Balances,
    /// Plaid's `persistent_account_id` (see [`persistent_account_id`]); `None` = the key is omitted.
    #[serde(default)]
    pub persistent_account_id: Option<String>,
}

impl Account {
    /// The account object of `/accounts/get`, `/accounts/balance/get` and `/transactions/sync`.
    /// `persistent_account_id` is optional in Plaid's spec and not nullable (plaid-python rejects a
    /// `null`): present only where the institution has one, omitted otherwise.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "account_id": self.account_id,
            "balances": self.balances,
            "mask": self.mask,
            "name": self.name,
            "official_name": self.official_name,
            "type": self.account_type,
            "subtype": self.subtype,
        });
        if let Some(id) = &self.persistent_account_id
            && let Some(obj) = v.as_object_mut()
        {
            obj.insert("persistent_account_id".into(), json!(id));
        }
        v
    }
}

/// A template of one of the `user_good` accounts.
#[derive(Debug, Clone, Copy)]
pub struct AccountTemplate {
    pub name: &'static str,
    pub official_name: Option<&'static str>,
    pub mask: &'static str,
    pub account_type: &'static str,
    pub subtype: &'static str,
    pub available: Option<f64>,
    pub current: Option<f64>,
    pub limit: Option<f64>,
}

#[allow(clippy::too_many_arguments)]
const fn acct(
    name: &'static str,
    official_name: Option<&'static str>,
    mask: &'static str,
    account_type: &'static str,
    subtype: &'static str,
    available: Option<f64>,
    current: Option<f64>,
    limit: Option<f64>,
) -> AccountTemplate {
    AccountTemplate { name, official_name, mask, account_type, subtype, available, current, limit }
}

/// The accounts `user_good` has at every sandbox institution.
pub const USER_GOOD_ACCOUNTS: &[AccountTemplate] = &[
    acct(
        "Plaid Checking",
        Some("Plaid Gold Standard 0% Interest Checking"),
        "0000",
        "depository",
        "checking",
        Some(100.0),
        Some(110.0),
        None,
    ),
    acct(
        "Plaid Saving",
        Some("Plaid Silver Standard 0.1% Interest Saving"),
        "1111",
        "depository",
        "savings",
        Some(200.0),
        Some(210.0),
        None,
    ),
    acct(
        "Plaid CD",
        Some("Plaid Bronze Standard 0.2% Interest CD"),
        "2222",
        "depository",
        "cd",
        None,
        Some(1000.0),
        None,
    ),
    acct(
        "Plaid Credit Card",
        Some("Plaid Diamond 12.5% APR Interest Credit Card"),
        "3333",
        "credit",
        "credit card",
        None,
        Some(410.0),
        Some(2000.0),
    ),
    acct(
        "Plaid Money Market",
        Some("Plaid Platinum Standard 1.85% Interest Money Market"),
        "4444",
        "depository",
        "money market",
        Some(43200.0),
        Some(43200.0),
        None,
    ),
    acct("Plaid IRA", None, "5555", "investment", "ira", None, Some(320.76), None),
    acct("Plaid 401k", None, "6666", "investment", "401k", None, Some(23631.9805), None),
    acct("Plaid Student Loan", None, "7777", "loan", "student", None, Some(65262.0), None),
    acct("Plaid Mortgage", None, "8888", "loan", "mortgage", None, Some(56302.06), None),
];

/// The account that becomes available when an Item gets the NEW_ACCOUNTS_AVAILABLE condition.
pub const NEW_ACCOUNT: AccountTemplate = acct(
    "Plaid Second Checking",
    Some("Plaid Gold Standard 0% Interest Checking"),
    "9999",
    "depository",
    "checking",
    Some(500.0),
    Some(500.0),
    None,
);

/// Plaid's `persistent_account_id` of the account a template stands for, as `username` sees it at
/// `inst`: the same for every Item of that login there (unlike `account_id`, which is per Item), so
/// linking the same login twice shows the same account twice. `None` where Plaid has none: institutions
/// without tokenized account numbers, and accounts other than depository ones (the field is Plaid's
/// identifier "for depository accounts"). 56 hex digits (SHA-224), the form Plaid's examples show;
/// derived from the institution, the login, the account (mask and subtype) and the emulator's seed.
pub fn persistent_account_id(
    inst: &Institution,
    username: &str,
    template: &AccountTemplate,
    seed: u64,
) -> Option<String> {
    if !inst.persistent_account_ids || template.account_type != "depository" {
        return None;
    }
    let mut h = Sha224::new();
    let seed = seed.to_le_bytes();
    let parts: [&[u8]; 6] = [
        b"persistent_account_id",
        inst.id.as_bytes(),
        username.as_bytes(),
        template.mask.as_bytes(),
        template.subtype.as_bytes(),
        &seed,
    ];
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Some(hex::encode(h.finalize()))
}

impl AccountTemplate {
    /// An account of `item_id` built from this template; its id is derived from the item id. Without a
    /// `persistent_account_id` (see [`Self::instantiate_for`]).
    pub fn instantiate(&self, item_id: &str, seed: u64) -> Account {
        Account {
            account_id: crate::ids::derived_id(&[
                b"account",
                item_id.as_bytes(),
                self.mask.as_bytes(),
                &seed.to_le_bytes(),
            ]),
            name: self.name.to_owned(),
            official_name: self.official_name.map(str::to_owned),
            mask: self.mask.to_owned(),
            account_type: self.account_type.to_owned(),
            subtype: self.subtype.to_owned(),
            balances: Balances {
                available: self.available,
                current: self.current,
                limit: self.limit,
                iso_currency_code: Some("USD".to_owned()),
                unofficial_currency_code: None,
            },
            persistent_account_id: None,
        }
    }

    /// The account of `item_id`, an Item of `username` at `inst`, with its `persistent_account_id`
    /// where the institution has them.
    pub fn instantiate_for(&self, item_id: &str, seed: u64, inst: &Institution, username: &str) -> Account {
        Account {
            persistent_account_id: persistent_account_id(inst, username, self, seed),
            ..self.instantiate(item_id, seed)
        }
    }
}

/// Checks sandbox credentials: `user_good` / `pass_good` succeeds; a password `error_<CODE>` fails
/// with that code (unknown codes and anything else fail with INVALID_CREDENTIALS).
pub fn check_credentials(username: &str, password: &str) -> Result<(), PlaidError> {
    if let Some(code) = password.strip_prefix("error_") {
        if is_known_login_error(code) {
            return Err(PlaidError::login_error(code));
        }
        return Err(PlaidError::login_error("INVALID_CREDENTIALS"));
    }
    if username == GOOD_USERNAME && password == GOOD_PASSWORD {
        Ok(())
    } else {
        Err(PlaidError::login_error("INVALID_CREDENTIALS"))
    }
}

/// Whether an account of this type/subtype can serve every product in `products`.
pub fn account_supports_products(account_type: &str, subtype: &str, products: &[String]) -> bool {
    products.iter().all(|p| match p.as_str() {
        "auth" => account_type == "depository" && matches!(subtype, "checking" | "savings" | "cash management"),
        "investments" => account_type == "investment",
        "liabilities" => matches!(account_type, "credit" | "loan"),
        _ => true,
    })
}

/// Whether `products` can all be served by the institution.
pub fn institution_supports(inst: &Institution, products: &[String]) -> bool {
    products.iter().all(|p| inst.products.iter().any(|ip| ip == p))
}

/// The error for an institution that cannot serve the requested products.
pub fn products_not_supported() -> PlaidError {
    PlaidError::login_error("PRODUCTS_NOT_SUPPORTED")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        assert!(check_credentials("user_good", "pass_good").is_ok());
        let e = check_credentials("user_good", "error_ITEM_LOCKED").unwrap_err();
        assert_eq!((e.error_type.as_str(), e.error_code.as_str()), ("ITEM_ERROR", "ITEM_LOCKED"));
        let e = check_credentials("user_good", "error_INSTITUTION_DOWN").unwrap_err();
        assert_eq!(e.error_type.as_str(), "INSTITUTION_ERROR");
        let e = check_credentials("user_good", "wrong").unwrap_err();
        assert_eq!(e.error_code, "INVALID_CREDENTIALS");
    }

    #[test]
    fn fixtures() {
        assert_eq!(INSTITUTIONS.len(), 13);
        assert!(institution("ins_127287").unwrap().oauth);
        assert!(!institution("ins_109508").unwrap().oauth);
        let a = USER_GOOD_ACCOUNTS[0].instantiate("item", 1);
        assert_eq!(a.account_id.len(), 37);
        assert_eq!(a.balances.available, Some(100.0));
        assert_eq!(a.persistent_account_id, None);
    }

    #[test]
    fn persistent_account_ids() {
        let chase = institution("ins_56").unwrap();
        let checking = &USER_GOOD_ACCOUNTS[0];
        let id = persistent_account_id(chase, GOOD_USERNAME, checking, 0).unwrap();
        assert_eq!(id.len(), 56);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let a = checking.instantiate_for("item-a", 0, chase, GOOD_USERNAME);
        let b = checking.instantiate_for("item-b", 0, chase, GOOD_USERNAME);
        assert_ne!(a.account_id, b.account_id);
        assert_eq!(a.persistent_account_id.as_deref(), Some(id.as_str()));
        assert_eq!(b.persistent_account_id, a.persistent_account_id);
        assert_ne!(persistent_account_id(chase, "another_user", checking, 0), Some(id.clone()));
        assert_ne!(persistent_account_id(chase, GOOD_USERNAME, &USER_GOOD_ACCOUNTS[1], 0), Some(id));
        let card = USER_GOOD_ACCOUNTS.iter().find(|t| t.account_type == "credit").unwrap();
        assert_eq!(persistent_account_id(chase, GOOD_USERNAME, card, 0), None);
        for plain in ["ins_109508", "ins_109509", "ins_132241", "ins_133402"] {
            let inst = institution(plain).unwrap();
            assert_eq!(persistent_account_id(inst, GOOD_USERNAME, checking, 0), None, "{plain}");
        }
        for tan in ["ins_56", "ins_13", "ins_127990", "ins_127287"] {
            let inst = institution(tan).unwrap();
            assert!(inst.persistent_account_ids && inst.oauth, "{tan}");
        }
    }
}
