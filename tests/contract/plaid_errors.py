"""Plaid's documented error responses: (error_type, HTTP status, error_message, display_message) per error_code.

Taken from the "API error response" blocks of Plaid's error reference (https://plaid.com/docs/errors/<page>/, as
scraped 2026-03-07) for codes whose message is fixed. Codes whose message is templated ({fields}, per-field
INVALID_FIELD text...) are checked by the tests themselves. DISPLAY_UNSET means the docs example shows
display_message null.
"""

ITEM = "https://plaid.com/docs/errors/item/"
INSTITUTION = "https://plaid.com/docs/errors/institution/"
INVALID_INPUT = "https://plaid.com/docs/errors/invalid-input/"
INVALID_REQUEST = "https://plaid.com/docs/errors/invalid-request/"
API = "https://plaid.com/docs/errors/api/"
SANDBOX = "https://plaid.com/docs/errors/sandbox/"
TRANSACTIONS = "https://plaid.com/docs/errors/transactions/"
RATE_LIMIT = "https://plaid.com/docs/errors/rate-limit-exceeded/"

INSTITUTION_DISPLAY = "This financial institution is not currently responding to requests. We apologize for the inconvenience."
PER_ITEM_LIMIT = "rate limit exceeded for attempts to access this item. please try again later"

# error_code -> (error_type, http status, error_message, display_message, source page)
DOCUMENTED = {
    # Item errors
    "INSUFFICIENT_CREDENTIALS": ("ITEM_ERROR", 400, "insufficient authorization was provided to complete the request",
                                 "INSUFFICIENT_CREDENTIALS", ITEM),
    "INVALID_CREDENTIALS": ("ITEM_ERROR", 400, "the provided credentials were not correct",
                            "The provided credentials were not correct. Please try again.", ITEM),
    "INVALID_MFA": ("ITEM_ERROR", 400, "the provided MFA response(s) were not correct",
                    "The provided MFA responses were not correct. Please try again.", ITEM),
    "ITEM_LOCKED": ("ITEM_ERROR", 400,
                    "the account is locked. prompt the user to visit the institution's site and unlock their account",
                    "The given account has been locked by the financial institution. Please visit your financial "
                    "institution's website to unlock your account.", ITEM),
    "ITEM_LOGIN_REQUIRED": ("ITEM_ERROR", 400,
                            "the login details of this item have changed (credentials, MFA, or required user action) "
                            "and a user login is required to update this information. use Link's update mode to "
                            "restore the item to a good state", None, ITEM),
    "ITEM_NOT_FOUND": ("ITEM_ERROR", 400,
                       "The Item you requested cannot be found. This Item does not exist, has been previously removed "
                       "via /item/remove, or has had access removed by the user.", None, ITEM),
    "ITEM_NOT_SUPPORTED": ("ITEM_ERROR", 400, "this account is currently not supported",
                           "The given account is not currently supported for this financial institution. We apologize "
                           "for the inconvenience.", ITEM),
    "MFA_NOT_SUPPORTED": ("ITEM_ERROR", 400,
                          "this account requires a MFA type that we do not currently support for the institution",
                          "The multi-factor security features enabled on this account are not currently supported for "
                          "this financial institution. We apologize for the inconvenience.", ITEM),
    "NO_ACCOUNTS": ("ITEM_ERROR", 400, "no valid accounts were found for this item",
                    "No valid accounts were found at the financial institution. Please visit your financial "
                    "institution's website to confirm accounts are available.", ITEM),
    # Institution errors
    "INSTITUTION_DOWN": ("INSTITUTION_ERROR", 400,
                         "this institution is not currently responding to this request. please try again soon",
                         INSTITUTION_DISPLAY, INSTITUTION),
    "INSTITUTION_NOT_RESPONDING": ("INSTITUTION_ERROR", 400,
                                   "this institution is not currently responding to this request. please try again soon",
                                   INSTITUTION_DISPLAY, INSTITUTION),
    "INSTITUTION_NO_LONGER_SUPPORTED": ("INSTITUTION_ERROR", 400, "this institution is no longer supported",
                                        "This financial institution is no longer supported. We apologize for the "
                                        "inconvenience.", INSTITUTION),
    # Invalid input
    "INVALID_API_KEYS": ("INVALID_INPUT", 400, "invalid client_id or secret provided", None, INVALID_INPUT),
    "INVALID_ACCOUNT_ID": ("INVALID_INPUT", 400, "failed to find requested account ID for requested item", None,
                           INVALID_INPUT),
    "INVALID_INSTITUTION": ("INVALID_INPUT", 400, "invalid institution_id provided", None, INVALID_INPUT),
    "INVALID_LINK_TOKEN": ("INVALID_INPUT", 400, "invalid link_token provided", None, INVALID_INPUT),
    "INVALID_WEBHOOK_VERIFICATION_KEY_ID": (
        "INVALID_INPUT", 400,
        "invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests "
        "must be made to the same environment that the webhook was sent from", None, INVALID_INPUT),
    # Invalid request
    "INVALID_BODY": ("INVALID_REQUEST", 400, "body could not be parsed as JSON", None, INVALID_REQUEST),
    "NOT_FOUND": ("INVALID_REQUEST", 404, "not found", None, INVALID_REQUEST),
    # API errors
    "INTERNAL_SERVER_ERROR": ("API_ERROR", 500, "an unexpected error occurred", None, API),
    "PLANNED_MAINTENANCE": ("API_ERROR", 503,
                            "the Plaid API is temporarily unavailable due to planned maintenance. visit "
                            "https://status.plaid.com/ for more information", None, API),
    # Sandbox
    "SANDBOX_WEBHOOK_INVALID": ("SANDBOX_ERROR", 400,
                                "Webhook for this item is either not set up, or invalid. Please update the item's "
                                "webhook and try again.", None, SANDBOX),
    # Transactions
    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION": (
        "TRANSACTIONS_ERROR", 400,
        "Underlying transaction data changed since last page was fetched. Please restart pagination from last update.",
        None, TRANSACTIONS),
    # Rate limits (per-Item limits share one message; client-wide ones name the endpoint in words)
    "ACCOUNTS_LIMIT": ("RATE_LIMIT_EXCEEDED", 429, PER_ITEM_LIMIT, None, RATE_LIMIT),
    "BALANCE_LIMIT": ("RATE_LIMIT_EXCEEDED", 429, PER_ITEM_LIMIT, None, RATE_LIMIT),
    "ITEM_GET_LIMIT": ("RATE_LIMIT_EXCEEDED", 429, PER_ITEM_LIMIT, None, RATE_LIMIT),
    "TRANSACTIONS_SYNC_LIMIT": ("RATE_LIMIT_EXCEEDED", 429, PER_ITEM_LIMIT, None, RATE_LIMIT),
    "INSTITUTIONS_GET_BY_ID_LIMIT": ("RATE_LIMIT_EXCEEDED", 429,
                                     'rate limit exceeded for attempts to access "institutions get by id". please try '
                                     'again later', None, RATE_LIMIT),
}

# INVALID_ACCESS_TOKEN has two messages: a token that is not access-<env>-<id> shaped, and one that is shaped
# right but unknown (the docs page shows the latter; the former is what Plaid answers to malformed tokens).
INVALID_ACCESS_TOKEN_MALFORMED = ("provided access token is in an invalid format. expected format: "
                                  "access-<environment>-<identifier>")
INVALID_ACCESS_TOKEN_UNKNOWN = "could not find matching access token"
INVALID_PUBLIC_TOKEN_UNKNOWN = "could not find matching public token"

# Sandbox rate limits (https://plaid.com/docs/errors/rate-limit-exceeded/, "Sandbox rate limits" table).
SANDBOX_LIMITS = {
    # path: (per Item per minute, per client per minute)
    "/accounts/balance/get": (25, 100),
    "/accounts/get": (100, 5_000),
    "/institutions/get_by_id": (None, 400),
    "/item/get": (40, 5_000),
    "/item/remove": (100, 500),
    "/transactions/sync": (50, 1_000),
}
