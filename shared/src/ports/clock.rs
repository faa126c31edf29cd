//! The current time, injectable: the verifiers check `iat`, `exp` and key expiry against it, and the
//! services date what they record with it. [`SystemClock`] in production; double:
//! `crate::doubles::FixedClock`.

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock (the one real clock: an adapter of nothing but the OS).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
