//! Per-minute rate limits per Item and per client, with Plaid's error codes, counted in fixed
//! one-minute windows of the emulator clock.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::wire::PlaidError;

/// The limits of one endpoint (calls per minute; `None` = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub per_item: Option<u32>,
    pub per_client: Option<u32>,
}

/// Limits per endpoint path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits(pub BTreeMap<String, Limit>);

impl Default for RateLimits {
    /// Plaid's published limits: sandbox values where Plaid gives them, production otherwise.
    fn default() -> Self {
        let mut m = BTreeMap::new();
        let mut set = |path: &str, per_item: Option<u32>, per_client: Option<u32>| {
            m.insert(
                path.to_owned(),
                Limit {
                    per_item,
                    per_client,
                },
            );
        };
        set("/accounts/get", Some(15), Some(15_000));
        set("/item/get", Some(15), Some(5_000));
        set("/item/remove", Some(100), Some(500));
        set("/transactions/sync", Some(50), Some(1_000));
        set("/institutions/get_by_id", None, Some(400));
        RateLimits(m)
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn unlimited() -> Self {
        RateLimits(BTreeMap::new())
    }
}

/// The `error_code` Plaid uses when an endpoint's limit is hit.
pub fn limit_code(path: &str) -> &'static str {
    match path {
        "/accounts/get" => "ACCOUNTS_LIMIT",
        "/accounts/balance/get" => "BALANCE_LIMIT",
        "/item/get" => "ITEM_GET_LIMIT",
        "/transactions/sync" => "TRANSACTIONS_SYNC_LIMIT",
        "/institutions/get_by_id" => "INSTITUTIONS_GET_BY_ID_LIMIT",
        _ => "RATE_LIMIT",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scope {
    Client,
    Item(String),
}

/// Counts calls per (endpoint, scope) in the current minute.
#[derive(Debug, Default)]
pub struct RateLimiter {
    pub limits: RateLimits,
    counters: HashMap<(String, Scope), (i64, u32)>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            counters: HashMap::new(),
        }
    }

    /// Counts a call to `path` (for `item_id` if known) at `now_unix`; errs with 429 when a limit
    /// is exceeded.
    pub fn check(
        &mut self,
        path: &str,
        item_id: Option<&str>,
        now_unix: i64,
    ) -> Result<(), PlaidError> {
        let Some(limit) = self.limits.0.get(path).copied() else {
            return Ok(());
        };
        let window = now_unix.div_euclid(60);
        if self.counters.len() > 100_000 {
            self.counters.retain(|_, (w, _)| *w == window);
        }
        let mut over = false;
        if let Some(max) = limit.per_client {
            over |= self.bump(path, Scope::Client, window) > max;
        }
        if let (Some(max), Some(item)) = (limit.per_item, item_id) {
            over |= self.bump(path, Scope::Item(item.to_owned()), window) > max;
        }
        if over {
            Err(PlaidError::rate_limit(limit_code(path), path))
        } else {
            Ok(())
        }
    }

    fn bump(&mut self, path: &str, scope: Scope, window: i64) -> u32 {
        let entry = self
            .counters
            .entry((path.to_owned(), scope))
            .or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }

    /// Forgets all counts.
    pub fn reset(&mut self) {
        self.counters.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn per_item_and_window() {
        let mut rl = RateLimiter::new(RateLimits::default());
        for _ in 0..15 {
            rl.check("/item/get", Some("a"), 120).unwrap();
        }
        let e = rl.check("/item/get", Some("a"), 130).unwrap_err();
        assert_eq!(
            (e.http_status, e.error_code.as_str()),
            (429, "ITEM_GET_LIMIT")
        );
        assert_eq!(e.error_type.as_str(), "RATE_LIMIT_EXCEEDED");
        rl.check("/item/get", Some("b"), 130).unwrap();
        rl.check("/item/get", Some("a"), 180).unwrap();
        rl.check("/link/token/create", None, 180).unwrap();
    }

    #[test]
    fn per_client() {
        let mut limits = RateLimits::default();
        limits.0.insert(
            "/institutions/get_by_id".into(),
            Limit {
                per_item: None,
                per_client: Some(2),
            },
        );
        let mut rl = RateLimiter::new(limits);
        rl.check("/institutions/get_by_id", None, 0).unwrap();
        rl.check("/institutions/get_by_id", None, 0).unwrap();
        let e = rl.check("/institutions/get_by_id", None, 0).unwrap_err();
        assert_eq!(e.error_code, "INSTITUTIONS_GET_BY_ID_LIMIT");
    }
}
