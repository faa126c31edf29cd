//! `POST /items/exchange`: the public token and Link's onSuccess metadata in, the stored item out.

use super::request::{deadline, json_body, path_segments};
use super::views::{ItemEnvelope, ItemSummary};
use super::{ApiError, App, json_response, no_route, respond, verify, with_activity};
use crate::domain::{Account, AccountId, Balances, Institution, InstitutionId, PublicToken};
use crate::services::exchange::{self, ExchangeCommand, LinkMetadata};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    respond(&req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let segs = path_segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method().as_str(), segs.as_slice()) {
        ("POST", ["items", "exchange"]) => {
            let user = verify(app, req).await?.user;
            with_activity(app, &user, async {
                let command = ExchangeCommand::try_from(json_body::<ExchangeBody>(req)?)?.within(deadline(req));
                let item = exchange::exchange(&app.services, &user, command).await?;
                Ok(json_response(200, &ItemEnvelope { item: ItemSummary::from(&item) }))
            })
            .await
        }
        _ => Err(no_route(req)),
    }
}

/// The app's request: the public token and Link's `onSuccess` metadata.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ExchangeBody {
    public_token: String,
    metadata: LinkSuccessMetadata,
}

/// Link's `onSuccess` metadata (fields Link may add later are ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct LinkSuccessMetadata {
    institution: Option<LinkInstitution>,
    #[serde(default)]
    accounts: Vec<LinkAccount>,
    link_session_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct LinkInstitution {
    institution_id: String,
    name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct LinkAccount {
    id: String,
    name: String,
    mask: Option<String>,
    #[serde(rename = "type")]
    account_type: String,
    subtype: Option<String>,
}

impl TryFrom<ExchangeBody> for ExchangeCommand {
    type Error = ApiError;

    fn try_from(body: ExchangeBody) -> Result<Self, ApiError> {
        let public_token = PublicToken::parse(body.public_token).map_err(|e| ApiError::invalid(e.to_string()))?;
        let institution =
            body.metadata.institution.ok_or_else(|| ApiError::invalid("metadata.institution is required"))?;
        let institution = Institution {
            institution_id: InstitutionId::parse(institution.institution_id)
                .map_err(|e| ApiError::invalid(format!("metadata.institution: {e}")))?,
            name: institution.name,
        };
        if body.metadata.accounts.is_empty() {
            return Err(ApiError::invalid("metadata.accounts must list the accounts the user shared"));
        }
        let accounts = body
            .metadata
            .accounts
            .into_iter()
            .map(|a| {
                Ok(Account {
                    account_id: AccountId::parse(a.id)
                        .map_err(|e| ApiError::invalid(format!("metadata.accounts: {e}")))?,
                    name: a.name,
                    official_name: None,
                    mask: a.mask,
                    account_type: a.account_type,
                    subtype: a.subtype,
                    balances: Balances::default(),
                    persistent_account_id: None,
                    revoked_at: None,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Self {
            public_token,
            claimed: Some(LinkMetadata { institution, accounts }),
            link_session_id: body.metadata.link_session_id,
            deadline: Default::default(),
        })
    }
}
