//! Plaid's documented texts per error code (errors reference): the errors built from them, and
//! the login errors sandbox passwords can ask for.

use super::error::{ErrorExtra, ErrorType, PlaidError};

impl PlaidError {
    /// A 429 for `endpoint` with `code`, with Plaid's message: per-Item limits say "this item",
    /// client-wide ones name the endpoint in words.
    pub(crate) fn rate_limit(code: &str, endpoint: &str) -> Self {
        match Self::documented(code) {
            Some(e) if e.error_type == ErrorType::RateLimitExceeded => e,
            _ => {
                let words = endpoint.trim_start_matches('/').replace(['/', '_'], " ");
                Self::new(
                    ErrorType::RateLimitExceeded,
                    code,
                    format!("rate limit exceeded for attempts to access \"{words}\". please try again later"),
                )
                .with_status(429)
            }
        }
    }

    /// An ITEM_ERROR or INSTITUTION_ERROR by code, with Plaid's messages for it
    /// (what `error_<CODE>` sandbox passwords produce). Unknown codes give INVALID_CREDENTIALS.
    pub(crate) fn login_error(code: &str) -> Self {
        Self::documented(code)
            .filter(|e| matches!(e.error_type, ErrorType::ItemError | ErrorType::InstitutionError))
            .unwrap_or_else(|| Self::documented("INVALID_CREDENTIALS").unwrap_or_else(Self::internal))
    }

    /// A Plaid error with Plaid's documented type, status, `error_message` and `display_message`
    /// for `code`, for codes whose texts are fixed.
    pub(crate) fn documented(code: &str) -> Option<Self> {
        let (error_type, status, message, display) = documented_error(code)?;
        let mut e = Self::new(error_type, code, message).with_status(status);
        if let Some(display) = display {
            e.extra = Some(Box::new(ErrorExtra { display_message: Some(display.to_owned()), ..ErrorExtra::default() }));
        }
        Some(e)
    }
}

const INSTITUTION_DISPLAY: &str =
    "This financial institution is not currently responding to requests. We apologize for the inconvenience.";

/// Plaid's documented error responses (errors reference, "API error response" blocks):
/// (type, HTTP status, error_message, display_message).
fn documented_error(code: &str) -> Option<(ErrorType, u16, &'static str, Option<&'static str>)> {
    use ErrorType::{InstitutionError as Inst, ItemError as Item};
    Some(match code {
        "INVALID_CREDENTIALS" => (
            Item,
            400,
            "the provided credentials were not correct",
            Some("The provided credentials were not correct. Please try again."),
        ),
        "INVALID_MFA" => (
            Item,
            400,
            "the provided MFA response(s) were not correct",
            Some("The provided MFA responses were not correct. Please try again."),
        ),
        "ITEM_LOCKED" => (
            Item,
            400,
            "the account is locked. prompt the user to visit the institution's site and unlock their account",
            Some(
                "The given account has been locked by the financial institution. Please visit your financial institution's website to unlock your account.",
            ),
        ),
        "ITEM_LOGIN_REQUIRED" => (
            Item,
            400,
            "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
            None,
        ),
        "ITEM_NOT_SUPPORTED" => (
            Item,
            400,
            "this account is currently not supported",
            Some(
                "The given account is not currently supported for this financial institution. We apologize for the inconvenience.",
            ),
        ),
        "MFA_NOT_SUPPORTED" => (
            Item,
            400,
            "this account requires a MFA type that we do not currently support for the institution",
            Some(
                "The multi-factor security features enabled on this account are not currently supported for this financial institution. We apologize for the inconvenience.",
            ),
        ),
        "NO_ACCOUNTS" => (
            Item,
            400,
            "no valid accounts were found for this item",
            Some(
                "No valid accounts were found at the financial institution. Please visit your financial institution's website to confirm accounts are available.",
            ),
        ),
        "INSUFFICIENT_CREDENTIALS" => (
            Item,
            400,
            "insufficient authorization was provided to complete the request",
            Some("INSUFFICIENT_CREDENTIALS"),
        ),
        "USER_SETUP_REQUIRED" => (
            Item,
            400,
            "the account has not been fully set up. prompt the user to visit the issuing institution's site and finish the setup process",
            Some(
                "The given account requires additional setup with the financial institution. Please visit your financial institution's website to complete the setup.",
            ),
        ),
        "PRODUCTS_NOT_SUPPORTED" => (Item, 400, "the requested products are not supported by this institution", None),
        "PRODUCT_NOT_READY" => (
            Item,
            400,
            "the requested product is not yet ready. please provide a webhook or try the request again later",
            None,
        ),
        "USER_PERMISSION_REVOKED" => (
            Item,
            400,
            "the holder of this account has revoked their permission for your application to access it",
            None,
        ),
        "ITEM_NOT_FOUND" => (
            Item,
            400,
            "The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.",
            None,
        ),
        "INSTITUTION_DOWN" | "INSTITUTION_NOT_RESPONDING" | "INSTITUTION_NOT_AVAILABLE" => (
            Inst,
            400,
            "this institution is not currently responding to this request. please try again soon",
            Some(INSTITUTION_DISPLAY),
        ),
        "INSTITUTION_NO_LONGER_SUPPORTED" => (
            Inst,
            400,
            "this institution is no longer supported",
            Some("This financial institution is no longer supported. We apologize for the inconvenience."),
        ),
        "INSTITUTION_NOT_FOUND" => (Inst, 400, "this institution was not found", None),
        "INVALID_API_KEYS" => (ErrorType::InvalidInput, 400, "invalid client_id or secret provided", None),
        "INVALID_ACCOUNT_ID" => {
            (ErrorType::InvalidInput, 400, "failed to find requested account ID for requested item", None)
        }
        "INVALID_INSTITUTION" => (ErrorType::InvalidInput, 400, "invalid institution_id provided", None),
        "INVALID_LINK_TOKEN" => (ErrorType::InvalidInput, 400, "invalid link_token provided", None),
        "INVALID_WEBHOOK_VERIFICATION_KEY_ID" => (
            ErrorType::InvalidInput,
            400,
            "invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from",
            None,
        ),
        "INVALID_BODY" => (ErrorType::InvalidRequest, 400, "body could not be parsed as JSON", None),
        "NOT_FOUND" => (ErrorType::InvalidRequest, 404, "not found", None),
        "INTERNAL_SERVER_ERROR" => (ErrorType::ApiError, 500, "an unexpected error occurred", None),
        "PLANNED_MAINTENANCE" => (
            ErrorType::ApiError,
            503,
            "the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information",
            None,
        ),
        "SANDBOX_WEBHOOK_INVALID" => (
            ErrorType::SandboxError,
            400,
            "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.",
            None,
        ),
        "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION" => (
            ErrorType::TransactionsError,
            400,
            "Underlying transaction data changed since last page was fetched. Please restart pagination from last update.",
            None,
        ),
        "ACCOUNTS_LIMIT" | "BALANCE_LIMIT" | "ITEM_GET_LIMIT" | "TRANSACTIONS_SYNC_LIMIT" | "RATE_LIMIT" => {
            (ErrorType::RateLimitExceeded, 429, PER_ITEM_LIMIT_MESSAGE, None)
        }
        "INSTITUTIONS_GET_BY_ID_LIMIT" => (
            ErrorType::RateLimitExceeded,
            429,
            "rate limit exceeded for attempts to access \"institutions get by id\". please try again later",
            None,
        ),
        "ACCOUNTS_BALANCE_GET_LIMIT" => (
            ErrorType::RateLimitExceeded,
            429,
            "rate limit exceeded for attempts to access \"accounts balance get\". please try again later",
            None,
        ),
        _ => return None,
    })
}

/// Plaid's message for per-Item rate limits.
const PER_ITEM_LIMIT_MESSAGE: &str = "rate limit exceeded for attempts to access this item. please try again later";

/// Whether `code` is one a sandbox `error_<CODE>` password may ask for.
pub fn is_known_login_error(code: &str) -> bool {
    matches!(
        code,
        "INVALID_CREDENTIALS"
            | "INVALID_MFA"
            | "ITEM_LOCKED"
            | "ITEM_LOGIN_REQUIRED"
            | "ITEM_NOT_SUPPORTED"
            | "MFA_NOT_SUPPORTED"
            | "NO_ACCOUNTS"
            | "INSUFFICIENT_CREDENTIALS"
            | "USER_SETUP_REQUIRED"
            | "PRODUCTS_NOT_SUPPORTED"
            | "INSTITUTION_DOWN"
            | "INSTITUTION_NOT_RESPONDING"
            | "INSTITUTION_NOT_AVAILABLE"
            | "INSTITUTION_NO_LONGER_SUPPORTED"
            | "INSTITUTION_NOT_FOUND"
    )
}
