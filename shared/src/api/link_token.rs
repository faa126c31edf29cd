//! `POST /link/token` (new link or update mode) and `GET /link/token/resume` (OAuth re-initialisation).

use super::request::{json_body, path_segments};
use super::{ApiError, App, json_response, no_route, respond, verify, with_activity};
use crate::domain::ItemId;
use crate::ports::plaid::wire::AccountFilters;
use crate::services::link::{self, LinkTokenCommand, Platform};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    respond(&req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let segs = path_segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method().as_str(), segs.as_slice()) {
        ("POST", ["link", "token"]) => {
            let caller = verify(app, req).await?;
            with_activity(app, &caller.user, async {
                let mut command = LinkTokenCommand::try_from(json_body::<LinkTokenBody>(req)?)?;
                command.returning_user = caller.returning_user.clone();
                let created = link::create(&app.services, &caller.user, command).await?;
                Ok(json_response(200, &created))
            })
            .await
        }
        ("GET", ["link", "token", "resume"]) => {
            let user = verify(app, req).await?.user;
            with_activity(app, &user, async {
                let created = link::resume(&app.services, &user).await?;
                Ok(json_response(200, &created))
            })
            .await
        }
        _ => Err(no_route(req)),
    }
}

/// The request body: what the app may choose per request, within what the deployment allows.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkTokenBody {
    /// A subset of the configured products (default: all of them).
    products: Option<Vec<String>>,
    /// A subset of the configured country codes (default: all of them).
    country_codes: Option<Vec<String>>,
    /// Link's display language (default: the configured one).
    language: Option<String>,
    /// Update mode: the caller's item to repair or extend.
    item_id: Option<String>,
    /// `web` / `ios` (the OAuth redirect URI) or `android` (the package name). Default `web`.
    platform: Option<String>,
    /// Restrict the account types Link offers.
    account_filters: Option<AccountFilters>,
    /// Days of transaction history to ask for (transactions product only).
    days_requested: Option<u32>,
    /// `true`: Plaid's Hosted Link, a URL (`hosted_link_url`) that runs Link with no app page, to send by
    /// email or text (e.g. update mode for an item that needs the user's login).
    hosted: Option<bool>,
}

impl TryFrom<LinkTokenBody> for LinkTokenCommand {
    type Error = ApiError;

    fn try_from(body: LinkTokenBody) -> Result<Self, ApiError> {
        let platform = match body.platform.as_deref() {
            None | Some("web") => Platform::Web,
            Some("ios") => Platform::Ios,
            Some("android") => Platform::Android,
            Some(other) => return Err(ApiError::invalid(format!("platform {other:?} must be web, ios or android"))),
        };
        let update_item = match body.item_id {
            Some(raw) => Some(ItemId::parse(raw).map_err(|e| ApiError::invalid(e.to_string()))?),
            None => None,
        };
        if let Some(d) = body.days_requested
            && !(1..=link::MAX_DAYS_REQUESTED).contains(&d)
        {
            return Err(ApiError::invalid(format!(
                "days_requested must be between 1 and {}",
                link::MAX_DAYS_REQUESTED
            )));
        }
        Ok(Self {
            products: body.products,
            country_codes: body.country_codes,
            language: body.language,
            update_item,
            platform,
            account_filters: body.account_filters,
            days_requested: body.days_requested,
            hosted: body.hosted.unwrap_or(false),
            // From the bearer token, never the body.
            returning_user: Default::default(),
        })
    }
}
