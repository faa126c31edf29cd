//! `/link/token/create`, `/item/public_token/exchange` and `/item/access_token/invalidate`: the
//! tokens around a Link session and the rotation of an access token.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::parse;
use crate::app::App;
use crate::http::is_http_url;
use crate::items;
use crate::state::{HostedLink, LINK_TOKEN_TTL_SECS, LinkTokenRecord, UPDATE_LINK_TOKEN_TTL_SECS, unix_rfc3339};
use crate::wire::PlaidError;

const LANGUAGES: &[&str] =
    &["da", "de", "en", "es", "et", "fr", "it", "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "sv"];

// ---- /link/token/create ---------------------------------------------------------------------

#[derive(Deserialize)]
struct LinkTokenCreateReq {
    client_name: String,
    language: String,
    country_codes: Vec<String>,
    #[serde(default)]
    user: Option<LinkUser>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_token: Option<String>,
    #[serde(default)]
    products: Option<Vec<String>>,
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    update: Option<LinkUpdate>,
    #[serde(default)]
    account_filters: Option<Value>,
    #[serde(default)]
    hosted_link: Option<HostedLinkReq>,
}

/// `hosted_link` (`LinkTokenCreateHostedLink`; may be empty).
#[derive(Deserialize)]
struct HostedLinkReq {
    #[serde(default)]
    completion_redirect_uri: Option<String>,
    #[serde(default)]
    url_lifetime_seconds: Option<i64>,
    #[serde(default)]
    is_mobile_app: Option<bool>,
    #[serde(default)]
    delivery_method: Option<String>,
}

/// Longest Hosted Link URL lifetime (Plaid: 21 days).
const HOSTED_LINK_MAX_LIFETIME_SECS: i64 = 21 * 24 * 3600;

impl HostedLinkReq {
    /// The URL's lifetime: as asked (1 s to 21 days), else Plaid's defaults: 7 days for a link delivered by
    /// email, 1 day by SMS, 30 minutes otherwise.
    fn lifetime(&self) -> Result<i64, PlaidError> {
        match self.url_lifetime_seconds {
            Some(s) if !(1..=HOSTED_LINK_MAX_LIFETIME_SECS).contains(&s) => Err(PlaidError::invalid_field(format!(
                "hosted_link.url_lifetime_seconds must be a positive number of seconds of at most {HOSTED_LINK_MAX_LIFETIME_SECS} (21 days)"
            ))),
            Some(s) => Ok(s),
            None => Ok(match self.delivery_method.as_deref() {
                Some("email") => 7 * 24 * 3600,
                Some("sms") => 24 * 3600,
                _ => 30 * 60,
            }),
        }
    }

    /// `completion_redirect_uri`: an absolute URL; http(s) unless `is_mobile_app` (an app's own scheme).
    fn completion_redirect_uri(&self) -> Result<Option<String>, PlaidError> {
        let Some(uri) = self.completion_redirect_uri.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let bad = || PlaidError::invalid_field("hosted_link.completion_redirect_uri must be a valid URI");
        let parsed = reqwest::Url::parse(uri).map_err(|_| bad())?;
        let web = matches!(parsed.scheme(), "http" | "https");
        if (web && parsed.host_str().is_none_or(str::is_empty)) || (!web && !self.is_mobile_app.unwrap_or(false)) {
            return Err(bad());
        }
        Ok(Some(uri.to_owned()))
    }
}

#[derive(Deserialize)]
struct LinkUser {
    client_user_id: String,
}

#[derive(Deserialize)]
struct LinkUpdate {
    #[serde(default)]
    account_selection_enabled: Option<bool>,
}

pub fn link_token_create(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let req: LinkTokenCreateReq = parse(body)?;
    if req.user.is_none() && req.user_id.is_none() && req.user_token.is_none() {
        return Err(PlaidError::missing_fields(&["user".to_owned()]));
    }
    if !LANGUAGES.contains(&req.language.as_str()) {
        return Err(PlaidError::invalid_field(format!("language must be one of: {}", LANGUAGES.join(", "))));
    }
    if let Some(w) = req.webhook.as_deref().filter(|w| !w.is_empty())
        && !is_http_url(w)
    {
        return Err(PlaidError::invalid_field("webhook must be a valid URL"));
    }
    if let Some(r) = req.redirect_uri.as_deref().filter(|r| !r.is_empty()) {
        let parsed =
            reqwest::Url::parse(r).map_err(|_| PlaidError::invalid_field("redirect_uri must be a valid URL"))?;
        if parsed.query().is_some() {
            return Err(PlaidError::invalid_field("redirect_uri must not contain any query parameters"));
        }
    }
    let now = app.clock.now();
    let unix = now.unix_timestamp();
    let update_mode = req.access_token.as_deref().is_some_and(|t| !t.is_empty());
    let products = req.products.clone().unwrap_or_default();
    if !update_mode {
        if req.products.is_none() {
            return Err(PlaidError::missing_fields(&["products".to_owned()]));
        }
        if products.is_empty() {
            return Err(PlaidError::invalid_field("products must be a non-empty array"));
        }
    }
    if products.iter().any(|p| p == "balance") {
        return Err(PlaidError::invalid_product(
            "balance is not a valid product to initialize Link with. Balance is available with any other product",
        ));
    }
    let hosted = match &req.hosted_link {
        Some(h) => Some(HostedLink {
            id: uuid::Uuid::new_v4().simple().to_string(),
            completion_redirect_uri: h.completion_redirect_uri()?,
            url_expires_at: unix.saturating_add(h.lifetime()?),
            is_mobile_app: h.is_mobile_app.unwrap_or(false),
        }),
        None => None,
    };
    let mut state = app.lock_state();
    let update_item_id = match req.access_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Some(state.item_id_for_token(token)?),
        None => None,
    };
    let ttl = if update_mode { UPDATE_LINK_TOKEN_TTL_SECS } else { LINK_TOKEN_TTL_SECS };
    let token = crate::ids::token(crate::ids::TokenKind::Link, "sandbox");
    // A Hosted Link token expires with its URL (Plaid's documented rule).
    let expires_at = hosted.as_ref().map_or(unix.saturating_add(ttl), |h| h.url_expires_at);
    let hosted_link_url = hosted.as_ref().map(|h| format!("{}/__emulator/hosted/{}", app.base_url, h.id));
    state.prune(unix);
    state.link_tokens.insert(
        token.clone(),
        LinkTokenRecord {
            created_at: unix,
            expires_at,
            client_name: req.client_name,
            language: req.language,
            country_codes: req.country_codes,
            products,
            webhook: req.webhook.filter(|w| !w.is_empty()),
            redirect_uri: req.redirect_uri.filter(|r| !r.is_empty()),
            client_user_id: req.user.map(|u| u.client_user_id).or(req.user_id),
            account_filters: req.account_filters,
            update_item_id,
            account_selection_enabled: req.update.and_then(|u| u.account_selection_enabled).unwrap_or(false),
            hosted,
        },
    );
    drop(state);
    app.changed();
    let mut answer = json!({"link_token": token, "expiration": unix_rfc3339(expires_at)});
    if let (Some(a), Some(url)) = (answer.as_object_mut(), hosted_link_url) {
        a.insert("hosted_link_url".into(), json!(url));
    }
    Ok(answer)
}

// ---- /link/token/get ------------------------------------------------------------------------

pub fn link_token_get(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let token = body.get("link_token").and_then(Value::as_str).unwrap_or_default();
    crate::link::token_get(app, token)
}

// ---- /item/public_token/exchange -------------------------------------------------------------

pub fn public_token_exchange(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let token = body.get("public_token").and_then(Value::as_str).unwrap_or_default();
    if !crate::ids::is_well_formed_token(crate::ids::TokenKind::Public, token) {
        return Err(PlaidError::invalid_public_token(
            "provided public token is in an invalid format. expected format: public-<environment>-<identifier>",
        ));
    }
    let now = app.clock.now();
    let unix = now.unix_timestamp();
    let mut state = app.lock_state();
    let Some(record) = state.public_tokens.get(token).cloned() else {
        return Err(PlaidError::invalid_public_token("could not find matching public token"));
    };
    if record.used {
        return Err(PlaidError::invalid_public_token("could not find matching public token"));
    }
    if unix >= record.expires_at {
        return Err(PlaidError::invalid_public_token(
            "provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged",
        ));
    }
    if state.removed_items.contains(&record.item_id) {
        return Err(PlaidError::item_not_found());
    }
    let access_token = crate::ids::token(crate::ids::TokenKind::Access, "sandbox");
    if let Some(r) = state.public_tokens.get_mut(token) {
        r.used = true;
    }
    let Some(item) = state.items.get_mut(&record.item_id) else {
        return Err(PlaidError::item_not_found());
    };
    item.exchanged = true;
    item.access_token = Some(access_token.clone());
    let webhooks = items::initial_webhooks(item, now);
    state.access_tokens.insert(access_token.clone(), record.item_id.clone());
    drop(state);
    app.send_webhooks(webhooks);
    app.changed();
    Ok(json!({"access_token": access_token, "item_id": record.item_id}))
}

// ---- /item/access_token/invalidate -----------------------------------------------------------

/// Rotates the access token: a new one for the same Item; the old one stops working at once.
/// No webhook (Plaid sends none). Works on Items in an error state (only removal stops it).
pub fn access_token_invalidate(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let mut state = app.lock_state();
    let new_access_token = state.rotate_access_token(super::access_token(body))?;
    drop(state);
    app.changed();
    Ok(json!({"new_access_token": new_access_token}))
}
