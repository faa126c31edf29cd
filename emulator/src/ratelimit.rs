//! Per-minute rate limits per Item and per client, with Plaid's error codes, counted over a
//! sliding one-minute window of the emulator clock (calls refused do not count).

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::wire::PlaidError;

/// The limits of one endpoint (calls per minute; `None` = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Calls per minute for one Item.
    pub per_item: Option<u32>,
    /// Calls per minute for the whole client.
    pub per_client: Option<u32>,
}

/// Limits per endpoint path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits(pub BTreeMap<String, Limit>);

impl Default for RateLimits {
    /// Plaid's published Sandbox limits (errors reference, "Sandbox rate limits").
    fn default() -> Self {
        let mut m = BTreeMap::new();
        let mut set = |path: &str, per_item: Option<u32>, per_client: Option<u32>| {
            m.insert(path.to_owned(), Limit { per_item, per_client });
        };
        set("/accounts/get", Some(100), Some(5_000));
        set("/accounts/balance/get", Some(25), Some(100));
        set("/item/get", Some(40), Some(5_000));
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

/// The `error_code` Plaid uses when an endpoint's limit is hit (per Item or per client).
pub fn limit_code(path: &str, per_item: bool) -> &'static str {
    match path {
        "/accounts/get" => "ACCOUNTS_LIMIT",
        "/accounts/balance/get" if per_item => "BALANCE_LIMIT",
        "/accounts/balance/get" => "ACCOUNTS_BALANCE_GET_LIMIT",
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

/// Length of the window, in milliseconds.
const WINDOW_MS: i64 = 60_000;

/// Remembers the accepted calls of the last minute per (endpoint, scope).
#[derive(Debug, Default)]
pub struct RateLimiter {
    pub limits: RateLimits,
    calls: HashMap<(String, Scope), VecDeque<i64>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, calls: HashMap::new() }
    }

    /// Counts a call to `path` (for `item_id` if known) at `now_ms` (emulator clock, unix
    /// milliseconds); errs with 429 when a limit would be exceeded.
    pub fn check(&mut self, path: &str, item_id: Option<&str>, now_ms: i64) -> Result<(), PlaidError> {
        let Some(limit) = self.limits.0.get(path).copied() else {
            return Ok(());
        };
        if self.calls.len() > 100_000 {
            self.calls.retain(|_, q| q.back().is_some_and(|t| *t > now_ms - WINDOW_MS));
        }
        let mut scopes: Vec<(Scope, u32)> = Vec::with_capacity(2);
        if let Some(max) = limit.per_client {
            scopes.push((Scope::Client, max));
        }
        if let (Some(max), Some(item)) = (limit.per_item, item_id) {
            scopes.push((Scope::Item(item.to_owned()), max));
        }
        for (scope, max) in &scopes {
            let q = self.calls.entry((path.to_owned(), scope.clone())).or_default();
            while q.front().is_some_and(|t| *t <= now_ms - WINDOW_MS) {
                q.pop_front();
            }
            if q.len() >= *max as usize {
                let per_item = matches!(scope, Scope::Item(_));
                return Err(PlaidError::rate_limit(limit_code(path, per_item), path));
            }
        }
        for (scope, _) in scopes {
            self.calls.entry((path.to_owned(), scope)).or_default().push_back(now_ms);
        }
        Ok(())
    }

    /// Forgets all counts.
    pub fn reset(&mut self) {
        self.calls.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn per_item_and_window() {
        let mut rl = RateLimiter::new(RateLimits::default());
        for i in 0..40 {
            rl.check("/item/get", Some("a"), 120_000 + i).unwrap();
        }
        let e = rl.check("/item/get", Some("a"), 130_000).unwrap_err();
        assert_eq!((e.http_status, e.error_code.as_str()), (429, "ITEM_GET_LIMIT"));
        assert_eq!(e.error_type.as_str(), "RATE_LIMIT_EXCEEDED");
        rl.check("/item/get", Some("b"), 130_000).unwrap();
        // Sliding: a minute after the first call, one slot frees up.
        rl.check("/item/get", Some("a"), 180_000).unwrap();
        rl.check("/item/get", Some("a"), 180_000).unwrap_err();
        rl.check("/link/token/create", None, 180_000).unwrap();
    }

    #[test]
    fn per_client() {
        let mut limits = RateLimits::default();
        limits.0.insert("/institutions/get_by_id".into(), Limit { per_item: None, per_client: Some(2) });
        let mut rl = RateLimiter::new(limits);
        rl.check("/institutions/get_by_id", None, 0).unwrap();
        rl.check("/institutions/get_by_id", None, 0).unwrap();
        let e = rl.check("/institutions/get_by_id", None, 0).unwrap_err();
        assert_eq!(e.error_code, "INSTITUTIONS_GET_BY_ID_LIMIT");
    }
}
