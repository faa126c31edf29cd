//! Pacing and backing off one Plaid endpoint's calls under its per-client rate limit (the churn remover's
//! `/item/remove`, the sweep's `/item/get`).

use backon::ExponentialBuilder;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The waits between one item's attempts ([`backon`]'s exponential backoff with jitter,
/// used as a plain iterator: the pacer and the invocation's deadline decide how each wait is spent). Each
/// wait is half fixed, half random: 0.25..0.5 s first, then doubling up to 4..8 s. `retries` waits at most.
pub(super) fn backoff(retries: u32) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(retries as usize)
}

/// Paces calls under Plaid's per-client limit: call slots `60 s / per_minute` apart, shared by
/// every worker. A 429 holds every worker for the backoff and widens the spacing (by half, up to 8× the
/// base); each run of 20 successes narrows it again by a tenth, back to the base.
pub(super) struct Pacer {
    base: Duration,
    state: Mutex<PacerState>,
}

struct PacerState {
    next: Instant,
    interval: Duration,
    successes: u32,
}

impl Pacer {
    pub(super) fn new(per_minute: u32) -> Self {
        let base = Duration::from_secs(60) / per_minute.max(1);
        Self { base, state: Mutex::new(PacerState { next: Instant::now(), interval: base, successes: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next free call slot, reserved; `None` if it falls after `deadline`.
    pub(super) fn reserve(&self, deadline: Option<Instant>) -> Option<Instant> {
        let mut s = self.lock();
        let slot = s.next.max(Instant::now());
        if deadline.is_some_and(|d| slot >= d) {
            return None;
        }
        s.next = slot + s.interval;
        Some(slot)
    }

    pub(super) fn on_success(&self) {
        let mut s = self.lock();
        s.successes += 1;
        if s.successes >= 20 {
            s.successes = 0;
            s.interval = (s.interval.mul_f64(0.9)).max(self.base);
        }
    }

    pub(super) fn on_rate_limited(&self, hold: Duration) {
        let mut s = self.lock();
        s.successes = 0;
        s.interval = (s.interval.mul_f64(1.5)).min(self.base * 8);
        s.next = s.next.max(Instant::now() + hold);
    }

    #[cfg(test)]
    pub(super) fn interval(&self) -> Duration {
        self.lock().interval
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pacer_spaces_calls_and_slows_down_on_429() {
        let pacer = Pacer::new(600); // 100 ms apart
        let far = Some(Instant::now() + Duration::from_secs(3600));
        let a = pacer.reserve(far).unwrap();
        let b = pacer.reserve(far).unwrap();
        assert!(b - a >= Duration::from_millis(100));
        pacer.on_rate_limited(Duration::from_secs(2));
        assert_eq!(pacer.interval(), Duration::from_millis(150));
        let c = pacer.reserve(far).unwrap();
        assert!(c >= b + Duration::from_secs(1), "a 429 holds every worker");
        for _ in 0..20 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(), Duration::from_millis(135));
        for _ in 0..1000 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(), Duration::from_millis(100), "never faster than the base");
        for _ in 0..20 {
            pacer.on_rate_limited(Duration::ZERO);
        }
        assert_eq!(pacer.interval(), Duration::from_millis(800), "at most 8x slower");
        // No slot past the deadline.
        assert!(pacer.reserve(Some(Instant::now())).is_none());
        assert!(pacer.reserve(None).is_some(), "no deadline before the invocation's first progress");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        use backon::BackoffBuilder;
        for _ in 0..20 {
            let delays: Vec<Duration> = backoff(9).build().collect();
            assert_eq!(delays.len(), 9);
            for (i, d) in delays.iter().enumerate() {
                let step = Duration::from_millis(500).saturating_mul(1 << i).min(Duration::from_secs(8));
                // backon computes in f32 seconds: allow a microsecond either side.
                let slack = Duration::from_micros(1);
                assert!(*d + slack >= step / 2 && *d <= step + slack, "retry {}: {d:?}", i + 1);
            }
        }
        assert_eq!(backoff(0).build().count(), 0);
    }
}
