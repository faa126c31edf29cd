//! Configuration: the environment, read once at start-up into [`Config`] and validated there, so a bad
//! deployment fails its init with a message naming the variable ([`ConfigError`]).
//!
//! The Plaid API credentials are not configuration: they are in Secrets Manager
//! ([`crate::adapters::secrets_manager`]), named by `WEFT_PLAID_SECRET_ID`.
//!
//! Every function gets the same variables (the SAM template sets them globally), so all the required ones
//! are required everywhere; checking them costs nothing. An optional variable set to the empty string
//! counts as unset (CloudFormation passes empty parameters that way).

use crate::domain::ChurnPolicy;
use std::fmt;

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl ConfigError {
    /// The variable at fault.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Missing(var) | Self::Invalid { var, .. } => var,
        }
    }
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, reason: reason.into() }
}

/// Plaid's environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaidEnv {
    Sandbox,
    Production,
}

impl PlaidEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    /// Plaid's API host for the environment.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Sandbox => "https://sandbox.plaid.com",
            Self::Production => "https://production.plaid.com",
        }
    }
}

impl fmt::Display for PlaidEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything about Plaid but the credentials (those are in Secrets Manager).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaidConfig {
    pub env: PlaidEnv,
    /// `WEFT_PLAID_BASE_URL`, else the environment's host. No trailing slash.
    pub base_url: String,
    /// Products for new links (`transactions`, …).
    pub products: Vec<String>,
    /// ISO-3166 alpha-2 codes for Link.
    pub country_codes: Vec<String>,
    /// Link's display language.
    pub language: String,
    /// The app name Link shows (at most 30 characters).
    pub client_name: String,
    /// Where Plaid sends webhooks.
    pub webhook_url: Option<String>,
    /// OAuth redirect URI registered with Plaid (no query string).
    pub redirect_uri: Option<String>,
    /// Android package name for OAuth on Android.
    pub android_package_name: Option<String>,
    /// Link customization name from the Plaid dashboard.
    pub link_customization_name: Option<String>,
}

/// The app users' identity provider (OIDC bearer tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub issuer: String,
    /// Accepted `aud` values (`WEFT_AUTH_AUDIENCE`, comma-separated).
    pub audiences: Vec<String>,
    /// `WEFT_AUTH_JWKS_URL`, else `<issuer>/.well-known/jwks.json`.
    pub jwks_url: String,
    /// The claim that names an operator (`WEFT_AUTH_OPERATOR_CLAIM`, default `cognito:groups`): a string or
    /// a list of strings.
    pub operator_claim: String,
    /// The value of that claim that makes the caller an operator (`WEFT_AUTH_OPERATOR_GROUP`, default
    /// `weft-operators`). Operators are not users: only they reach the operator routes.
    pub operator_group: String,
    /// The claim holding the user's phone number (`WEFT_AUTH_PHONE_CLAIM`, default `phone_number`), passed
    /// to `/link/token/create` (Plaid's returning-user flow) only when `phone_number_verified` is `true`.
    pub phone_claim: String,
    /// The claim holding the user's email address (`WEFT_AUTH_EMAIL_CLAIM`; unset: no email is passed),
    /// passed only when `email_verified` is `true`.
    pub email_claim: Option<String>,
}

impl AuthConfig {
    /// The default claim naming operators (Cognito user pool groups).
    pub const DEFAULT_OPERATOR_CLAIM: &'static str = "cognito:groups";
    /// The default operator group.
    pub const DEFAULT_OPERATOR_GROUP: &'static str = "weft-operators";
    /// The default phone number claim (OIDC's standard claim).
    pub const DEFAULT_PHONE_CLAIM: &'static str = "phone_number";

    /// Tokens of `issuer` for `audiences`, keys at `jwks_url`, operators by the default claim and group.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, jwks_url: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            jwks_url: jwks_url.into(),
            operator_claim: Self::DEFAULT_OPERATOR_CLAIM.to_owned(),
            operator_group: Self::DEFAULT_OPERATOR_GROUP.to_owned(),
            phone_claim: Self::DEFAULT_PHONE_CLAIM.to_owned(),
            email_claim: None,
        }
    }
}

/// The churn remover's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnConfig {
    /// A user inactive this many days has their items removed (`WEFT_CHURN_INACTIVE_DAYS`, 60).
    pub inactive_days: u32,
    /// An item in error this many days is removed (`WEFT_CHURN_ERROR_DAYS`, 30).
    pub error_days: u32,
    /// Items whose re-link prompt was shown this many times unacted on are removed
    /// (`WEFT_CHURN_MAX_IGNORED_PROMPTS`, 10).
    pub max_ignored_prompts: u32,
    /// The remover's own function name, for its asynchronous continuation (`WEFT_CHURN_FUNCTION_NAME`).
    pub function_name: Option<String>,
    /// `/item/remove` calls per minute (`WEFT_CHURN_REMOVALS_PER_MINUTE`, 1..=100000); default 90% of Plaid's
    /// per-client limit for the environment.
    pub removals_per_minute: Option<u32>,
    /// Where the remover's CloudWatch EMF metrics go (`WEFT_METRICS_NAMESPACE`, default `weft`).
    pub metrics_namespace: String,
}

/// Item events for the app (EventBridge) and the re-link links they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// `WEFT_EVENT_BUS_NAME`: the EventBridge bus events go to. Unset: events are not published (the outbox
    /// is emptied without publishing), for a deployment with no subscriber.
    pub bus_name: Option<String>,
    /// Reminders while an item needs the user: `WEFT_REMINDER_DAYS` (days after it began, strictly
    /// increasing, default `1,3,7`), then every `WEFT_REMINDER_THEN_EVERY_DAYS` (default 7).
    pub reminders: crate::domain::ReminderSchedule,
    /// How long a re-link (Hosted Link) URL in an event works: `WEFT_RELINK_URL_LIFETIME_HOURS` (1..=504,
    /// Plaid's 21 days; default 72).
    pub relink_url_lifetime_hours: u32,
    /// Where Hosted Link sends the user when done (`WEFT_RELINK_COMPLETION_URI`, optional, https).
    pub relink_completion_uri: Option<String>,
}

/// The default of `WEFT_LINK_SESSION_TIMEOUT_MINUTES`.
pub const DEFAULT_LINK_SESSION_TIMEOUT_MINUTES: u32 = 30;

/// The reconciliation sweep's settings (its input may override the first two per run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepConfig {
    /// Items not heard from for this many hours are asked about (`WEFT_SWEEP_STALE_AFTER_HOURS`, 72).
    pub stale_after_hours: u32,
    /// `/item/get` calls per minute (`WEFT_SWEEP_CHECKS_PER_MINUTE`, 1..=100000, default 1000: a fifth of
    /// Plaid's per-client limit).
    pub checks_per_minute: u32,
    /// The sweep's own function name, for its asynchronous continuation (`WEFT_SWEEP_FUNCTION_NAME`).
    pub function_name: Option<String>,
    /// A Link token whose session neither the app nor a LINK webhook closed this many minutes after it was
    /// made is asked about once with `/link/token/get` (`WEFT_LINK_SESSION_TIMEOUT_MINUTES`, 1..=240,
    /// default 30).
    pub link_session_timeout_minutes: u32,
}

impl ChurnConfig {
    /// The thresholds, as the churn policy takes them.
    pub fn policy(&self) -> ChurnPolicy {
        ChurnPolicy {
            inactive_days: self.inactive_days,
            error_days: self.error_days,
            max_ignored_prompts: self.max_ignored_prompts,
        }
    }
}

/// Abuse limits per user (the handbook's protections against link/unlink churn and credential stuffing).
/// Past a limit a request is answered 429 `RATE_LIMITED` with `Retry-After`, and nothing else changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Link tokens a user may create per hour (`WEFT_LIMIT_LINK_TOKENS_PER_HOUR`, 30).
    pub link_tokens_per_hour: u32,
    /// Public-token exchanges per user per UTC day (`WEFT_LIMIT_EXCHANGES_PER_DAY`, 10).
    pub exchanges_per_day: u32,
    /// Items a user may have (`WEFT_LIMIT_ITEMS_PER_USER`, 25).
    pub items_per_user: u32,
    /// Times a user may link the same institution per calendar month (`WEFT_LIMIT_LINKS_PER_INSTITUTION_PER_MONTH`,
    /// 3): link, unlink, link again.
    pub links_per_institution_per_month: u32,
    /// Link exits with INVALID_CREDENTIALS in an hour, across at least two institutions, that block new link
    /// tokens (`WEFT_LIMIT_CREDENTIAL_FAILURES`, 5).
    pub credential_failures_per_hour: u32,
    /// How long such a block lasts (`WEFT_LIMIT_CREDENTIAL_BLOCK_MINUTES`, 60).
    pub credential_block_minutes: u32,
    /// Real-time balance refreshes (`/accounts/balance/get`, billed by Plaid per call) a user may ask for per
    /// UTC day (`WEFT_LIMIT_BALANCE_REFRESHES_PER_DAY`, 10).
    pub balance_refreshes_per_day: u32,
}

/// The sync worker's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Transactions per `/transactions/sync` page (`WEFT_SYNC_PAGE_SIZE`, 1..=500, default 500: Plaid's
    /// maximum; tests use small pages to exercise pagination).
    pub page_size: u32,
}

/// The whole configuration of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `WEFT_TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `WEFT_KMS_KEY_ID`: the KMS key (id, ARN or alias) that wraps item data keys.
    pub kms_key_id: String,
    /// `WEFT_PLAID_SECRET_ID`: Secrets Manager id or ARN of `{"client_id", "secret"}`.
    pub plaid_secret_id: String,
    /// `WEFT_PSEUDONYM_SECRET_ID`: Secrets Manager id or ARN of the key (a random string of at least 32
    /// characters) that turns user ids into the pseudonyms Plaid sees as `client_user_id`. Required by the
    /// functions that serve app users.
    pub pseudonym_secret_id: Option<String>,
    pub plaid: PlaidConfig,
    pub auth: AuthConfig,
    pub churn: ChurnConfig,
    pub sweep: SweepConfig,
    pub sync: SyncConfig,
    pub limits: LimitsConfig,
    /// How long audit records are kept (`WEFT_AUDIT_RETENTION_DAYS`, 400).
    pub audit_retention_days: u32,
    /// `WEFT_SYNC_QUEUE_URL`: the sync queue, for the webhook's hand-off.
    pub sync_queue_url: Option<String>,
    pub events: EventsConfig,
}

/// Reads variables through a lookup function.
struct Vars<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The trimmed value, `None` if unset or empty.
    fn optional(&self, var: &'static str) -> Option<String> {
        (self.lookup)(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var).ok_or(ConfigError::Missing(var))
    }

    /// A comma-separated list (each element trimmed, empty elements refused), or `default`.
    fn list(&self, var: &'static str, default: &str) -> Result<Vec<String>, ConfigError> {
        let raw = self.optional(var).unwrap_or_else(|| default.to_owned());
        let mut out: Vec<String> = Vec::new();
        for part in raw.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(invalid(var, "has an empty element"));
            }
            if !out.iter().any(|p| p == part) {
                out.push(part.to_owned());
            }
        }
        Ok(out)
    }

    /// A whole number in `range`, or `default` when unset.
    fn number(
        &self,
        var: &'static str,
        range: std::ops::RangeInclusive<u32>,
        default: Option<u32>,
    ) -> Result<Option<u32>, ConfigError> {
        match self.optional(var) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if range.contains(&n) => Ok(Some(n)),
                _ => {
                    Err(invalid(var, format!("{v:?} must be a whole number from {} to {}", range.start(), range.end())))
                }
            },
        }
    }

    fn days(&self, var: &'static str, default: u32) -> Result<u32, ConfigError> {
        Ok(self.number(var, 1..=3650, Some(default))?.unwrap_or(default))
    }
}

/// Whether `host` is this machine (plain HTTP is allowed only there: local stand-ins).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An absolute `https` URL (or `http` to a loopback host), without fragment; returned without a trailing slash.
fn url(var: &'static str, value: &str, allow_query: bool) -> Result<String, ConfigError> {
    if value.contains('#') {
        return Err(invalid(var, "must not have a fragment (#…)"));
    }
    let uri: http::Uri = value.parse().map_err(|_| invalid(var, format!("{value:?} is not a URL")))?;
    let host = uri.host().ok_or_else(|| invalid(var, format!("{value:?} must be an absolute URL with a host")))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback(host) => {}
        Some("http") => return Err(invalid(var, "must use https (http only for localhost)")),
        _ => return Err(invalid(var, format!("{value:?} must be an https URL"))),
    }
    if !allow_query && uri.query().is_some() {
        return Err(invalid(var, "must not have a query string"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

fn each(var: &'static str, values: &[String], what: &str, ok: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
    match values.iter().find(|v| !ok(v)) {
        Some(bad) => Err(invalid(var, format!("{bad:?} is not {what}"))),
        None => Ok(()),
    }
}

fn is_android_package(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars { lookup };

        let table_name = vars.required("WEFT_TABLE_NAME")?;
        let table_ok = (3..=255).contains(&table_name.len())
            && table_name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !table_ok {
            return Err(invalid("WEFT_TABLE_NAME", "must be 3 to 255 of [A-Za-z0-9_.-]"));
        }
        let kms_key_id = vars.required("WEFT_KMS_KEY_ID")?;
        if kms_key_id.chars().any(char::is_whitespace) {
            return Err(invalid("WEFT_KMS_KEY_ID", "must not contain whitespace"));
        }
        let plaid_secret_id = vars.required("WEFT_PLAID_SECRET_ID")?;
        if plaid_secret_id.chars().any(char::is_whitespace) {
            return Err(invalid("WEFT_PLAID_SECRET_ID", "must not contain whitespace"));
        }

        let pseudonym_secret_id = vars.optional("WEFT_PSEUDONYM_SECRET_ID");
        if pseudonym_secret_id.as_deref().is_some_and(|id| id.chars().any(char::is_whitespace)) {
            return Err(invalid("WEFT_PSEUDONYM_SECRET_ID", "must not contain whitespace"));
        }
        let plaid = Self::plaid(&vars)?;
        let auth = Self::auth(&vars)?;
        let churn = ChurnConfig {
            inactive_days: vars.days("WEFT_CHURN_INACTIVE_DAYS", 60)?,
            error_days: vars.days("WEFT_CHURN_ERROR_DAYS", 30)?,
            max_ignored_prompts: vars.days("WEFT_CHURN_MAX_IGNORED_PROMPTS", 10)?,
            function_name: vars.optional("WEFT_CHURN_FUNCTION_NAME"),
            removals_per_minute: vars.number("WEFT_CHURN_REMOVALS_PER_MINUTE", 1..=100_000, None)?,
            metrics_namespace: vars.optional("WEFT_METRICS_NAMESPACE").unwrap_or_else(|| "weft".to_owned()),
        };
        if churn.metrics_namespace.len() > 255 || churn.metrics_namespace.starts_with(':') {
            return Err(invalid("WEFT_METRICS_NAMESPACE", "must be 1 to 255 characters, not starting with ':'"));
        }
        let sweep = SweepConfig {
            stale_after_hours: vars
                .number("WEFT_SWEEP_STALE_AFTER_HOURS", 0..=100_000, Some(crate::domain::DEFAULT_STALE_AFTER_HOURS))?
                .unwrap_or(crate::domain::DEFAULT_STALE_AFTER_HOURS),
            checks_per_minute: vars
                .number("WEFT_SWEEP_CHECKS_PER_MINUTE", 1..=100_000, Some(crate::domain::DEFAULT_CHECKS_PER_MINUTE))?
                .unwrap_or(crate::domain::DEFAULT_CHECKS_PER_MINUTE),
            function_name: vars.optional("WEFT_SWEEP_FUNCTION_NAME"),
            link_session_timeout_minutes: vars
                .number("WEFT_LINK_SESSION_TIMEOUT_MINUTES", 1..=240, Some(DEFAULT_LINK_SESSION_TIMEOUT_MINUTES))?
                .unwrap_or(DEFAULT_LINK_SESSION_TIMEOUT_MINUTES),
        };
        let sync = SyncConfig { page_size: vars.number("WEFT_SYNC_PAGE_SIZE", 1..=500, Some(500))?.unwrap_or(500) };
        let limit = |var: &'static str, default: u32| -> Result<u32, ConfigError> {
            Ok(vars.number(var, 1..=1_000_000, Some(default))?.unwrap_or(default))
        };
        let limits = LimitsConfig {
            link_tokens_per_hour: limit("WEFT_LIMIT_LINK_TOKENS_PER_HOUR", 30)?,
            exchanges_per_day: limit("WEFT_LIMIT_EXCHANGES_PER_DAY", 10)?,
            items_per_user: limit("WEFT_LIMIT_ITEMS_PER_USER", 25)?,
            links_per_institution_per_month: limit("WEFT_LIMIT_LINKS_PER_INSTITUTION_PER_MONTH", 3)?,
            credential_failures_per_hour: limit("WEFT_LIMIT_CREDENTIAL_FAILURES", 5)?,
            credential_block_minutes: limit("WEFT_LIMIT_CREDENTIAL_BLOCK_MINUTES", 60)?,
            balance_refreshes_per_day: limit("WEFT_LIMIT_BALANCE_REFRESHES_PER_DAY", 10)?,
        };
        let audit_retention_days = vars.days("WEFT_AUDIT_RETENTION_DAYS", 400)?;
        let sync_queue_url = match vars.optional("WEFT_SYNC_QUEUE_URL") {
            Some(u) => Some(url("WEFT_SYNC_QUEUE_URL", &u, false)?),
            None => None,
        };
        let reminders = crate::domain::ReminderSchedule::parse(
            &vars.optional("WEFT_REMINDER_DAYS").unwrap_or_else(|| "1,3,7".to_owned()),
            vars.number("WEFT_REMINDER_THEN_EVERY_DAYS", 1..=365, Some(7))?.unwrap_or(7),
        )
        .map_err(|why| invalid("WEFT_REMINDER_DAYS", why))?;
        let relink_completion_uri = match vars.optional("WEFT_RELINK_COMPLETION_URI") {
            Some(u) => Some(url("WEFT_RELINK_COMPLETION_URI", &u, true)?),
            None => None,
        };
        let events = EventsConfig {
            bus_name: vars.optional("WEFT_EVENT_BUS_NAME"),
            reminders,
            relink_url_lifetime_hours: vars.number("WEFT_RELINK_URL_LIFETIME_HOURS", 1..=504, Some(72))?.unwrap_or(72),
            relink_completion_uri,
        };
        Ok(Self {
            table_name,
            kms_key_id,
            plaid_secret_id,
            pseudonym_secret_id,
            plaid,
            auth,
            churn,
            sweep,
            sync,
            limits,
            audit_retention_days,
            sync_queue_url,
            events,
        })
    }

    fn plaid<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<PlaidConfig, ConfigError> {
        let env = match vars.required("WEFT_PLAID_ENV")?.as_str() {
            "sandbox" => PlaidEnv::Sandbox,
            "production" => PlaidEnv::Production,
            other => return Err(invalid("WEFT_PLAID_ENV", format!("{other:?} must be sandbox or production"))),
        };
        let base_url = match vars.optional("WEFT_PLAID_BASE_URL") {
            Some(u) => url("WEFT_PLAID_BASE_URL", &u, false)?,
            None => env.base_url().to_owned(),
        };

        let products = vars.list("WEFT_PLAID_PRODUCTS", "transactions")?;
        each("WEFT_PLAID_PRODUCTS", &products, "a Plaid product name", |p| {
            p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })?;
        let country_codes = vars.list("WEFT_PLAID_COUNTRY_CODES", "US")?;
        each("WEFT_PLAID_COUNTRY_CODES", &country_codes, "an ISO-3166 alpha-2 code", |c| {
            c.len() == 2 && c.chars().all(|c| c.is_ascii_uppercase())
        })?;
        let language = vars.optional("WEFT_PLAID_LANGUAGE").unwrap_or_else(|| "en".to_owned());
        if !(language.len() == 2 && language.chars().all(|c| c.is_ascii_lowercase())) {
            return Err(invalid("WEFT_PLAID_LANGUAGE", format!("{language:?} is not a two-letter language code")));
        }
        let client_name = vars.optional("WEFT_PLAID_CLIENT_NAME").unwrap_or_else(|| "weft".to_owned());
        if client_name.chars().count() > 30 {
            return Err(invalid("WEFT_PLAID_CLIENT_NAME", "must be at most 30 characters (Link's limit)"));
        }

        let webhook_url = match vars.optional("WEFT_PLAID_WEBHOOK_URL") {
            Some(u) => Some(url("WEFT_PLAID_WEBHOOK_URL", &u, true)?),
            None => None,
        };
        let redirect_uri = match vars.optional("WEFT_PLAID_REDIRECT_URI") {
            // Plaid compares the redirect URI exactly: keep it as given (no trailing-slash trimming).
            Some(u) => url("WEFT_PLAID_REDIRECT_URI", &u, false).map(|_| Some(u))?,
            None => None,
        };
        let android_package_name = vars.optional("WEFT_PLAID_ANDROID_PACKAGE_NAME");
        if let Some(p) = &android_package_name
            && !is_android_package(p)
        {
            return Err(invalid("WEFT_PLAID_ANDROID_PACKAGE_NAME", format!("{p:?} is not an Android package name")));
        }
        let link_customization_name = vars.optional("WEFT_PLAID_LINK_CUSTOMIZATION");
        if let Some(c) = &link_customization_name
            && (c.len() > 100 || c.chars().any(char::is_control))
        {
            return Err(invalid("WEFT_PLAID_LINK_CUSTOMIZATION", "must be at most 100 printable characters"));
        }
        Ok(PlaidConfig {
            env,
            base_url,
            products,
            country_codes,
            language,
            client_name,
            webhook_url,
            redirect_uri,
            android_package_name,
            link_customization_name,
        })
    }

    fn auth<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<AuthConfig, ConfigError> {
        let raw_issuer = vars.required("WEFT_AUTH_ISSUER")?;
        let issuer_base = url("WEFT_AUTH_ISSUER", &raw_issuer, false)?;
        let audiences = match vars.optional("WEFT_AUTH_AUDIENCE") {
            Some(_) => vars.list("WEFT_AUTH_AUDIENCE", "")?,
            None => return Err(ConfigError::Missing("WEFT_AUTH_AUDIENCE")),
        };
        let jwks_url = match vars.optional("WEFT_AUTH_JWKS_URL") {
            Some(u) => url("WEFT_AUTH_JWKS_URL", &u, true)?,
            None => format!("{issuer_base}/.well-known/jwks.json"),
        };
        // The issuer is compared with `iss` exactly, so it is kept as given.
        let operator_claim =
            vars.optional("WEFT_AUTH_OPERATOR_CLAIM").unwrap_or_else(|| AuthConfig::DEFAULT_OPERATOR_CLAIM.to_owned());
        let operator_group =
            vars.optional("WEFT_AUTH_OPERATOR_GROUP").unwrap_or_else(|| AuthConfig::DEFAULT_OPERATOR_GROUP.to_owned());
        let phone_claim =
            vars.optional("WEFT_AUTH_PHONE_CLAIM").unwrap_or_else(|| AuthConfig::DEFAULT_PHONE_CLAIM.to_owned());
        let email_claim = vars.optional("WEFT_AUTH_EMAIL_CLAIM");
        let empty = String::new();
        for (var, value) in [
            ("WEFT_AUTH_OPERATOR_CLAIM", &operator_claim),
            ("WEFT_AUTH_OPERATOR_GROUP", &operator_group),
            ("WEFT_AUTH_PHONE_CLAIM", &phone_claim),
            ("WEFT_AUTH_EMAIL_CLAIM", email_claim.as_ref().unwrap_or(&empty)),
        ] {
            if value.len() > 128 || value.chars().any(char::is_control) {
                return Err(invalid(var, "must be at most 128 printable characters"));
            }
        }
        Ok(AuthConfig {
            issuer: raw_issuer,
            audiences,
            jwks_url,
            operator_claim,
            operator_group,
            phone_claim,
            email_claim,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("WEFT_TABLE_NAME", "weft-dev"),
            ("WEFT_KMS_KEY_ID", "alias/weft-dev"),
            ("WEFT_PLAID_SECRET_ID", "weft/dev/plaid"),
            ("WEFT_PLAID_ENV", "sandbox"),
            ("WEFT_AUTH_ISSUER", "https://id.example.com/"),
            ("WEFT_AUTH_AUDIENCE", "app1, app2"),
        ])
    }

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()))
    }

    #[test]
    fn defaults() {
        let c = load(&base()).unwrap();
        assert_eq!(c.plaid.base_url, "https://sandbox.plaid.com");
        assert_eq!(c.plaid.products, ["transactions"]);
        assert_eq!(c.plaid.country_codes, ["US"]);
        assert_eq!(c.plaid.language, "en");
        assert_eq!(c.plaid.client_name, "weft");
        assert_eq!(c.auth.audiences, ["app1", "app2"]);
        assert_eq!(c.auth.issuer, "https://id.example.com/");
        assert_eq!(c.auth.jwks_url, "https://id.example.com/.well-known/jwks.json");
        assert_eq!((c.churn.inactive_days, c.churn.error_days, c.churn.max_ignored_prompts), (60, 30, 10));
        assert_eq!(c.plaid.webhook_url, None);
        assert_eq!((c.churn.removals_per_minute, c.churn.metrics_namespace.as_str()), (None, "weft"));
        assert_eq!(c.sync.page_size, 500);
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for var in [
            "WEFT_TABLE_NAME",
            "WEFT_KMS_KEY_ID",
            "WEFT_PLAID_SECRET_ID",
            "WEFT_PLAID_ENV",
            "WEFT_AUTH_ISSUER",
            "WEFT_AUTH_AUDIENCE",
        ] {
            let mut vars = base();
            vars.remove(var);
            assert_eq!(load(&vars), Err(ConfigError::Missing(var)));
            vars.insert(var, "  ");
            assert_eq!(load(&vars), Err(ConfigError::Missing(var)), "blank counts as unset");
        }
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases: [(&str, &str); 19] = [
            ("WEFT_CHURN_REMOVALS_PER_MINUTE", "0"),
            ("WEFT_CHURN_REMOVALS_PER_MINUTE", "100001"),
            ("WEFT_METRICS_NAMESPACE", ":weft"),
            ("WEFT_SYNC_PAGE_SIZE", "501"),
            ("WEFT_PLAID_ENV", "development"),
            ("WEFT_PLAID_BASE_URL", "ftp://x"),
            ("WEFT_PLAID_BASE_URL", "http://plaid.example.com"),
            ("WEFT_PLAID_PRODUCTS", "transactions,,auth"),
            ("WEFT_PLAID_PRODUCTS", "Transactions"),
            ("WEFT_PLAID_COUNTRY_CODES", "USA"),
            ("WEFT_PLAID_LANGUAGE", "english"),
            ("WEFT_PLAID_CLIENT_NAME", "a name that is far longer than thirty chars"),
            ("WEFT_PLAID_REDIRECT_URI", "https://app.example.com/oauth?x=1"),
            ("WEFT_PLAID_REDIRECT_URI", "https://app.example.com/oauth#x"),
            ("WEFT_PLAID_ANDROID_PACKAGE_NAME", "nodots"),
            ("WEFT_AUTH_ISSUER", "not a url"),
            ("WEFT_CHURN_INACTIVE_DAYS", "0"),
            ("WEFT_CHURN_ERROR_DAYS", "ten"),
            ("WEFT_TABLE_NAME", "a b"),
        ];
        for (var, value) in cases {
            let mut vars = base();
            vars.insert(var, value);
            let err = load(&vars).expect_err(var);
            assert_eq!(err.var(), var, "{value:?}: {err}");
            assert!(err.to_string().starts_with(var));
        }
    }

    #[test]
    fn overrides() {
        let mut vars = base();
        vars.extend([
            ("WEFT_PLAID_ENV", "production"),
            ("WEFT_PLAID_BASE_URL", "http://127.0.0.1:4010/"),
            ("WEFT_PLAID_PRODUCTS", "transactions, auth"),
            ("WEFT_PLAID_COUNTRY_CODES", "US,CA,US"),
            ("WEFT_PLAID_REDIRECT_URI", "https://app.example.com/oauth/"),
            ("WEFT_PLAID_WEBHOOK_URL", "http://localhost:9000/webhooks/plaid"),
            ("WEFT_PLAID_ANDROID_PACKAGE_NAME", "com.example.app"),
            ("WEFT_PLAID_LINK_CUSTOMIZATION", "default"),
            ("WEFT_AUTH_JWKS_URL", "https://keys.example.com/jwks"),
            ("WEFT_CHURN_INACTIVE_DAYS", "90"),
            ("WEFT_SYNC_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/weft-sync.fifo"),
            ("WEFT_PLAID_CLIENT_NAME", ""),
        ]);
        let c = load(&vars).unwrap();
        assert_eq!(c.plaid.env, PlaidEnv::Production);
        assert_eq!(c.plaid.base_url, "http://127.0.0.1:4010");
        assert_eq!(c.plaid.products, ["transactions", "auth"]);
        assert_eq!(c.plaid.country_codes, ["US", "CA"]);
        assert_eq!(c.plaid.redirect_uri.as_deref(), Some("https://app.example.com/oauth/"));
        assert_eq!(c.plaid.webhook_url.as_deref(), Some("http://localhost:9000/webhooks/plaid"));
        assert_eq!(c.plaid.client_name, "weft", "empty means default");
        assert_eq!(c.auth.jwks_url, "https://keys.example.com/jwks");
        assert_eq!(c.churn.inactive_days, 90);
        assert_eq!(
            c.sync_queue_url.as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/weft-sync.fifo")
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("example.com"));
        assert!(!is_loopback("127.0.0.1.example.com"));
    }
}
