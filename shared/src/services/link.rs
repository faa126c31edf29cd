//! Link tokens: new links, update mode for an existing item, and OAuth resume.

use super::{App, ServiceError};
use crate::domain::{ItemId, ItemStatus, LinkToken, UserId};
use crate::plaid::types::{
    AccountFilters, LinkTokenCreateRequest, LinkTokenTransactions, LinkTokenUpdate, LinkTokenUser,
};
use crate::ports::LinkTokenRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the app may choose per request, within what the deployment's config allows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkToken {
    /// A subset of the configured products (default: all of them).
    pub products: Option<Vec<String>>,
    /// A subset of the configured country codes (default: all of them).
    pub country_codes: Option<Vec<String>>,
    /// Link's display language (default: the configured one).
    pub language: Option<String>,
    /// Update mode: the caller's item to repair or extend.
    pub item_id: Option<String>,
    /// `web` / `ios` (the OAuth redirect URI) or `android` (the package name). Default `web`.
    pub platform: Option<String>,
    /// Restrict the account types Link offers.
    pub account_filters: Option<AccountFilters>,
    /// Days of transaction history to ask for (transactions product only).
    pub days_requested: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkTokenCreated {
    pub link_token: LinkToken,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    /// `create` or `update`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<ItemId>,
}

const LANGUAGES: [&str; 12] = ["da", "de", "en", "es", "et", "fr", "it", "lt", "lv", "nl", "po", "ro"];

/// Creates a link token for `user`.
pub async fn create(app: &App, user: &UserId, req: CreateLinkToken) -> Result<LinkTokenCreated, ServiceError> {
    let cfg = &app.config.plaid;
    let country_codes = subset("country_codes", req.country_codes, &cfg.country_codes)?;
    let language = match req.language {
        Some(l) if LANGUAGES.contains(&l.as_str()) => l,
        Some(l) => return Err(ServiceError::Invalid(format!("language {l:?} is not supported by Link"))),
        None => cfg.language.clone(),
    };
    let (redirect_uri, android_package_name) = match req.platform.as_deref().unwrap_or("web") {
        "web" | "ios" => (cfg.redirect_uri.clone(), None),
        "android" => match &cfg.android_package_name {
            Some(p) => (None, Some(p.clone())),
            None => return Err(ServiceError::Invalid("android is not configured for this deployment".into())),
        },
        other => return Err(ServiceError::Invalid(format!("platform {other:?} must be web, ios or android"))),
    };
    if let Some(d) = req.days_requested
        && !(1..=730).contains(&d)
    {
        return Err(ServiceError::Invalid("days_requested must be between 1 and 730".into()));
    }

    let mut plaid_req = LinkTokenCreateRequest {
        client_name: cfg.client_name.clone(),
        language,
        country_codes,
        user: LinkTokenUser { client_user_id: user.as_str().to_owned() },
        products: None,
        webhook: cfg.webhook_url.clone(),
        access_token: None,
        redirect_uri,
        android_package_name,
        link_customization_name: cfg.link_customization_name.clone(),
        update: None,
        account_filters: req.account_filters,
        transactions: None,
    };

    let update_item = match req.item_id {
        Some(raw) => {
            let item_id = ItemId::parse(raw).map_err(|e| ServiceError::Invalid(e.to_string()))?;
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

    let created = app.plaid.link_token_create(&plaid_req).await?;
    let mode = if update_item.is_some() { "update" } else { "create" };
    let record = LinkTokenRecord {
        link_token: created.link_token.clone(),
        expiration: created.expiration,
        created_at: app.now(),
        item_id: update_item.as_ref().map(|i| i.item_id.clone()),
        oauth: plaid_req.redirect_uri.is_some(),
    };
    app.store.put_link_token(user, &record).await?;
    if let Some(item) = &update_item {
        reset_prompts(app, item).await;
    }
    tracing::info!(link_token = %created.link_token, mode, item_id = ?update_item.as_ref().map(|i| i.item_id.as_str()), "link token created");
    Ok(LinkTokenCreated {
        link_token: created.link_token,
        expiration: created.expiration,
        mode,
        item_id: update_item.map(|i| i.item_id),
    })
}

/// The user acted on the re-link prompt: its count goes back to zero. Best effort (the token is made
/// already, and a webhook or sync may be updating the item at the same moment: re-read and retry).
async fn reset_prompts(app: &App, item: &crate::domain::ItemRecord) {
    let mut current = Some(item.clone());
    for _ in 0..5 {
        let Some(mut item) = current.take() else { return };
        if item.ignored_prompts == 0 {
            return;
        }
        item.ignored_prompts = 0;
        match app.store.update_item(&mut item).await {
            Ok(()) => return,
            Err(e) if e.is_conflict() => match app.store.get_item(&item.user_id, &item.item_id).await {
                Ok(fresh) => current = fresh,
                Err(e) => return tracing::warn!(item_id = %item.item_id, error = %e, "could not reset re-link prompts"),
            },
            Err(e) => return tracing::warn!(item_id = %item.item_id, error = %e, "could not reset re-link prompts"),
        }
    }
    tracing::warn!(item_id = %item.item_id, "could not reset re-link prompts: the item kept changing");
}

/// The newest unexpired link token of `user`, for re-initialising Link after an OAuth redirect.
pub async fn resume(app: &App, user: &UserId) -> Result<LinkTokenCreated, ServiceError> {
    let record =
        app.store.latest_link_token(user, app.now()).await?.ok_or(ServiceError::NotFound("link token to resume"))?;
    Ok(LinkTokenCreated {
        link_token: record.link_token,
        expiration: record.expiration,
        mode: if record.item_id.is_some() { "update" } else { "create" },
        item_id: record.item_id,
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
