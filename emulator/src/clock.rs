//! The emulator's clock: real time plus an offset that the control API can advance.
//!
//! Everything time-dependent (token expiry, webhook `iat`, transaction dates, rate-limit windows)
//! reads this clock, so a test can jump hours ahead without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use time::{Duration, OffsetDateTime};

/// The largest single jump the clock accepts (about 100 years), so date arithmetic cannot overflow.
pub const MAX_ADVANCE_SECS: i64 = 100 * 366 * 24 * 3600;

#[derive(Debug)]
pub struct Clock {
    start_real: Instant,
    start_time: OffsetDateTime,
    /// Accumulated advance, in milliseconds.
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock that reads `start_time` now and then runs with real time.
    pub fn new(start_time: OffsetDateTime) -> Self {
        Self { start_real: Instant::now(), start_time, offset_ms: AtomicI64::new(0) }
    }

    /// The current emulator time.
    pub fn now(&self) -> OffsetDateTime {
        let elapsed = Duration::try_from(self.start_real.elapsed()).unwrap_or(Duration::ZERO);
        let offset = Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        self.start_time.checked_add(elapsed).and_then(|t| t.checked_add(offset)).unwrap_or(self.start_time)
    }

    /// Unix seconds of [`Clock::now`].
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Moves the clock forward by `by` (negative values are refused by the caller). Returns the new time.
    pub fn advance(&self, by: Duration) -> OffsetDateTime {
        let ms = i64::try_from(by.whole_milliseconds()).unwrap_or(0);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        self.now()
    }

    /// Total advance applied so far.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Restores an advance (used when loading persisted state).
    pub fn set_offset(&self, offset: Duration) {
        let ms = i64::try_from(offset.whole_milliseconds()).unwrap_or(0);
        self.offset_ms.store(ms, Ordering::Relaxed);
    }
}

/// RFC 3339 with whole seconds and a `Z` suffix, as Plaid prints timestamps.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 with milliseconds (Link event timestamps look like this).
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `YYYY-MM-DD`.
pub fn ymd(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let clock = Clock::new(start);
        let before = clock.now();
        clock.advance(Duration::hours(5));
        assert!(clock.now() - before >= Duration::hours(5));
        assert_eq!(clock.offset(), Duration::hours(5));
    }

    #[test]
    fn formats() {
        let t = OffsetDateTime::from_unix_timestamp(1_590_887_001).unwrap();
        assert_eq!(rfc3339(t), "2020-05-31T01:03:21Z");
        assert_eq!(rfc3339_millis(t), "2020-05-31T01:03:21.000Z");
        assert_eq!(ymd(t.date()), "2020-05-31");
    }
}
