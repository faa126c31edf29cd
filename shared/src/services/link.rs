//! Link tokens: new links, update mode for an existing item, and OAuth resume.

use super::{ServiceError, Services, audit, limits};
use crate::domain::{
    EmailAddress, ItemId, ItemRecord, ItemStatus, LinkMode, LinkToken, LinkTokenRecord, PhoneNumber, ReturningUser,
    UserId,
};
use crate::ports::plaid::wire::{
    AccountFilters, HostedLink, LinkTokenCreateRequest, LinkTokenTransactions, LinkTokenUpdate, LinkTokenUser,
};
use crate::ports::{Actor, AuditAction, AuditOutcome, Relink};
use serde::Serialize;
use time::OffsetDateTime;

/// Where Link runs: it decides how OAuth returns to the app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Platform {
    /// A web page (OAuth returns to the configured redirect URI).
    #[default]
    Web,
    /// An iOS app (likewise the redirect URI, a universal link).
    Ios,
    /// An Android app (OAuth returns to the configured package).
    Android,
}

/// What the app may choose per request, within what the deployment's config allows (parsed at the edge).
#[derive(Debug, Clone, Default)]
pub struct LinkTokenCommand {
    /// A subset of the configured products (default: all of them).
    pub products: Option<Vec<String>>,
    /// A subset of the configured country codes (default: all of them).
    pub country_codes: Option<Vec<String>>,
    /// Link's display language (default: the configured one).
    pub language: Option<String>,
    /// Update mode: the caller's item to repair or extend.
    pub update_item: Option<ItemId>,
    pub platform: Platform,
    /// Restrict the account types Link offers.
    pub account_filters: Option<AccountFilters>,
    /// Days of transaction history to ask for (transactions product only; 1..=730).
    pub days_requested: Option<u32>,
    /// Plaid's Hosted Link: a URL of Plaid's that runs Link with no app page (for an email or a text).
    pub hosted: bool,
    /// What the caller's identity provider verified of them (from the bearer token, not the body): passed
    /// to Plaid as `user.phone_number` / `user.email_address` for its returning-user flow; never stored or
    /// logged.
    pub returning_user: ReturningUser,
}

/// The most days of history Link may ask for.
pub const MAX_DAYS_REQUESTED: u32 = 730;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkTokenCreated {
    pub link_token: LinkToken,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    pub mode: LinkMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<ItemId>,
    /// Hosted Link's URL, when asked for (`hosted: true`): send it to the user; it works until
    /// `expiration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_link_url: Option<String>,
}

const LANGUAGES: [&str; 12] = ["da", "de", "en", "es", "et", "fr", "it", "lt", "lv", "nl", "po", "ro"];

/// Creates a link token for `user`.
pub async fn create(app: &Services, user: &UserId, req: LinkTokenCommand) -> Result<LinkTokenCreated, ServiceError> {
    let cfg = &app.config.plaid;
    let country_codes = subset("country_codes", req.country_codes, &cfg.country_codes)?;
    let language = match req.language {
        Some(l) if LANGUAGES.contains(&l.as_str()) => l,
        Some(l) => return Err(ServiceError::Invalid(format!("language {l:?} is not supported by Link"))),
        None => cfg.language.clone(),
    };
    let (redirect_uri, android_package_name) = match req.platform {
        Platform::Web | Platform::Ios => (cfg.redirect_uri.clone(), None),
        Platform::Android => match &cfg.android_package_name {
            Some(p) => (None, Some(p.clone())),
            None => return Err(ServiceError::Invalid("android is not configured for this deployment".into())),
        },
    };
    if let Some(d) = req.days_requested
        && !(1..=MAX_DAYS_REQUESTED).contains(&d)
    {
        return Err(ServiceError::Invalid(format!("days_requested must be between 1 and {MAX_DAYS_REQUESTED}")));
    }

    let mut plaid_req = LinkTokenCreateRequest {
        client_name: cfg.client_name.clone(),
        language,
        country_codes,
        user: plaid_user(app.pseudonyms.client_user_id(user), &req.returning_user),
        products: None,
        webhook: cfg.webhook_url.clone(),
        access_token: None,
        redirect_uri,
        android_package_name,
        link_customization_name: cfg.link_customization_name.clone(),
        update: None,
        account_filters: req.account_filters,
        transactions: None,
        hosted_link: req.hosted.then(|| hosted_link(app)),
    };

    let update_item = match req.update_item {
        Some(item_id) => {
            if req.products.is_some() {
                return Err(ServiceError::Invalid("products cannot be chosen in update mode".into()));
            }
            let (item, sealed) =
                app.store.get_item_sealed(user, &item_id).await?.ok_or(ServiceError::NotFound("item"))?;
            if item.status == ItemStatus::Revoked {
                return Err(ServiceError::NotFound("item"));
            }
            let (_, token) = app.unseal(&item.item_id, &sealed).await?;
            plaid_req.access_token = Some(token);
            if item.new_accounts_available {
                plaid_req.update = Some(LinkTokenUpdate { account_selection_enabled: true });
            }
            Some(item)
        }
        None => {
            let products = subset("products", req.products, &cfg.products)?;
            if products.iter().any(|p| p == "transactions") {
                plaid_req.transactions = req.days_requested.map(|d| LinkTokenTransactions { days_requested: d });
            }
            plaid_req.products = Some(products);
            None
        }
    };

    limits::link_token(app, user).await?;
    let created = app.plaid.link_token_create(&plaid_req).await?;
    let record = LinkTokenRecord {
        link_token: created.link_token.clone(),
        expiration: created.expiration,
        created_at: app.now(),
        item_id: update_item.as_ref().map(|i| i.item_id.clone()),
        oauth: plaid_req.redirect_uri.is_some(),
        closed_at: None,
        asked_at: None,
    };
    let mode = record.mode();
    let actor = Actor::user(&app.pseudonyms, user);
    let item_id = update_item.as_ref().map(|i| &i.item_id);
    // Both at once: Plaid has made the link token (what the audit record says), and the two writes are
    // independent.
    let (stored, ()) = tokio::join!(
        app.store.put_link_token(user, &record),
        audit::record(app, actor, AuditAction::LinkTokenCreated, AuditOutcome::Done, item_id, None)
    );
    stored?;
    if let Some(item) = &update_item {
        reset_prompts(app, item).await;
    }
    tracing::info!(link_token = %created.link_token, ?mode, item_id = ?update_item.as_ref().map(|i| i.item_id.as_str()), "link token created");
    if req.hosted && created.hosted_link_url.is_none() {
        return Err(no_hosted_url(&created.request_id));
    }
    Ok(LinkTokenCreated {
        link_token: created.link_token,
        expiration: created.expiration,
        mode,
        item_id: update_item.map(|i| i.item_id),
        hosted_link_url: created.hosted_link_url,
    })
}

/// Plaid answered a Hosted Link request without its URL.
fn no_hosted_url(request_id: &str) -> ServiceError {
    ServiceError::Plaid(crate::ports::PlaidCallError::Decode {
        endpoint: "/link/token/create",
        request_id: Some(request_id.to_owned()),
        detail: "hosted_link was asked for; the answer has no hosted_link_url".into(),
    })
}

/// Hosted Link's options: the configured lifetime and completion page.
fn hosted_link(app: &Services) -> HostedLink {
    let events = &app.config.events;
    HostedLink {
        completion_redirect_uri: events.relink_completion_uri.clone(),
        url_lifetime_seconds: Some(events.relink_url_lifetime_hours.saturating_mul(3600)),
    }
}

/// A ready update-mode link for an item event the user should act on (an email or a text can carry it):
/// a Hosted Link URL of an update-mode link token, made by weft for the item's owner. Not the user's
/// request: no abuse limit, no prompt reset. The token is kept as the user's, so Link's webhooks and
/// `SUCCESS` events of its session are tied to the item.
pub async fn relink(app: &Services, item_id: &ItemId) -> Result<Option<Relink>, ServiceError> {
    let Some((item, sealed)) = app.store.find_item_sealed(item_id).await? else { return Ok(None) };
    if item.status == ItemStatus::Revoked {
        return Ok(None);
    }
    let cfg = &app.config.plaid;
    let (_, token) = app.unseal(&item.item_id, &sealed).await?;
    let plaid_req = LinkTokenCreateRequest {
        client_name: cfg.client_name.clone(),
        language: cfg.language.clone(),
        country_codes: cfg.country_codes.clone(),
        user: LinkTokenUser::new(app.pseudonyms.client_user_id(&item.user_id)),
        products: None,
        webhook: cfg.webhook_url.clone(),
        access_token: Some(token),
        redirect_uri: cfg.redirect_uri.clone(),
        android_package_name: None,
        link_customization_name: cfg.link_customization_name.clone(),
        update: item.new_accounts_available.then_some(LinkTokenUpdate { account_selection_enabled: true }),
        account_filters: None,
        transactions: None,
        hosted_link: Some(hosted_link(app)),
    };
    let created = app.plaid.link_token_create(&plaid_req).await?;
    let Some(url) = created.hosted_link_url else { return Err(no_hosted_url(&created.request_id)) };
    let record = LinkTokenRecord {
        link_token: created.link_token.clone(),
        expiration: created.expiration,
        created_at: app.now(),
        item_id: Some(item.item_id.clone()),
        oauth: plaid_req.redirect_uri.is_some(),
        closed_at: None,
        asked_at: None,
    };
    app.store.put_link_token(&item.user_id, &record).await?;
    let lifetime = time::Duration::hours(app.config.events.relink_url_lifetime_hours.into());
    Ok(Some(Relink { url, expires_at: app.now() + lifetime }))
}

/// The user as Plaid sees them: the pseudonym, and the verified phone number (E.164) and email address so
/// Link can offer its returning-user flow. A claim that does not parse is dropped with a warning that
/// never shows it: the link goes on without it.
fn plaid_user(client_user_id: String, claims: &ReturningUser) -> LinkTokenUser {
    let mut user = LinkTokenUser::new(client_user_id);
    if let Some(raw) = &claims.phone_number {
        match PhoneNumber::parse(raw) {
            Ok(phone) => user.phone_number = Some(phone.expose().to_owned()),
            Err(e) => {
                tracing::warn!(event = "phone_number_dropped", why = %e, "the verified phone number is not E.164; Link goes on without it")
            }
        }
    }
    if let Some(raw) = &claims.email_address {
        match EmailAddress::parse(raw) {
            Ok(email) => user.email_address = Some(email.expose().to_owned()),
            Err(e) => {
                tracing::warn!(event = "email_address_dropped", why = %e, "the verified email address does not parse; Link goes on without it")
            }
        }
    }
    user
}

/// The user acted on the re-link prompt: its count goes back to zero. Best effort (the token is made
/// already).
async fn reset_prompts(app: &Services, item: &ItemRecord) {
    if item.ignored_prompts == 0 {
        return;
    }
    if let Err(e) = app.store.reset_relink_prompts(&item.user_id, &item.item_id).await {
        tracing::warn!(item_id = %item.item_id, error = %crate::telemetry::chain(&e), "could not reset re-link prompts");
    }
}

/// The newest unexpired link token of `user`, for re-initialising Link after an OAuth redirect.
pub async fn resume(app: &Services, user: &UserId) -> Result<LinkTokenCreated, ServiceError> {
    let record =
        app.store.latest_link_token(user, app.now()).await?.ok_or(ServiceError::NotFound("link token to resume"))?;
    let mode = record.mode();
    Ok(LinkTokenCreated {
        link_token: record.link_token,
        expiration: record.expiration,
        mode,
        item_id: record.item_id,
        hosted_link_url: None,
    })
}

fn subset(field: &str, asked: Option<Vec<String>>, allowed: &[String]) -> Result<Vec<String>, ServiceError> {
    match asked {
        None => Ok(allowed.to_vec()),
        Some(v) if v.is_empty() => Err(ServiceError::Invalid(format!("{field} must not be empty"))),
        Some(v) => {
            if let Some(bad) = v.iter().find(|x| !allowed.contains(x)) {
                return Err(ServiceError::Invalid(format!(
                    "{field} may only contain {}; {bad:?} is not enabled",
                    allowed.join(", ")
                )));
            }
            Ok(v)
        }
    }
}
