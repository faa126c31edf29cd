//! The time a request has: from its invocation's deadline (the Lambda context's), less what the answer
//! itself needs. Services give each dependency call what is left, keeping a reserve for compensation.

use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// When a request's work must be done. On tokio's clock, so tests with paused time see it move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// What a request without an invocation deadline (tests, a local run) gets: API Gateway's own limit.
    pub const DEFAULT_BUDGET: Duration = Duration::from_secs(29);
    /// Kept back from the invocation's deadline to answer and log before Lambda stops the function.
    pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

    /// `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    /// The invocation's deadline (wall clock, as the Lambda context gives it), less
    /// [`Self::ANSWER_MARGIN`]; [`Self::DEFAULT_BUDGET`] without one.
    pub fn of_invocation(deadline: Option<SystemTime>) -> Self {
        let left = deadline.and_then(|d| d.duration_since(SystemTime::now()).ok()).filter(|d| !d.is_zero());
        match left {
            Some(left) => Self::after(left.saturating_sub(Self::ANSWER_MARGIN)),
            None => Self::after(Self::DEFAULT_BUDGET),
        }
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Time left once `reserve` is kept back for what must follow (zero if that is already too late).
    pub fn remaining_before(&self, reserve: Duration) -> Duration {
        self.remaining().saturating_sub(reserve)
    }
}

impl Default for Deadline {
    fn default() -> Self {
        Self::after(Self::DEFAULT_BUDGET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_invocation_deadline_less_the_margin() {
        let d = Deadline::of_invocation(Some(SystemTime::now() + Duration::from_secs(10)));
        let left = d.remaining();
        assert!(left <= Duration::from_millis(9_500) && left > Duration::from_secs(9), "{left:?}");
        assert_eq!(Deadline::of_invocation(None).remaining(), Deadline::DEFAULT_BUDGET);
        let past = Deadline::of_invocation(Some(SystemTime::now() - Duration::from_secs(1)));
        assert_eq!(past.remaining(), Deadline::DEFAULT_BUDGET, "a deadline already passed is no deadline");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(d.remaining_before(Duration::from_secs(10)), Duration::ZERO);
    }
}
