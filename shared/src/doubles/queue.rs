//! [`RecordingQueue`] (a [`SyncQueue`] that keeps what it is given) and [`RecordingContinuation`] (a
//! [`Continuation`] that keeps the inputs it is asked to continue with). Both can be told to fail.

use crate::domain::{ChurnInput, SweepInput};
use crate::ports::{Continuation, ContinuationError, QueueError, SyncQueue, SyncRequest};
use async_trait::async_trait;
use std::sync::{Mutex, MutexGuard, PoisonError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a double refused: an injected failure.
#[derive(Debug, thiserror::Error)]
#[error("injected fault in {0}")]
pub struct Refused(pub &'static str);

#[derive(Default)]
struct QueueState {
    requests: Vec<SyncRequest>,
    retries: Vec<(String, std::time::Duration)>,
    failures: usize,
    calls: usize,
}

/// A sync queue that records every request it accepts, in order.
#[derive(Default)]
pub struct RecordingQueue {
    state: Mutex<QueueState>,
}

impl RecordingQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The requests accepted so far.
    pub fn requests(&self) -> Vec<SyncRequest> {
        lock(&self.state).requests.clone()
    }

    /// The requests accepted so far, leaving none (as a worker receiving them).
    pub fn take(&self) -> Vec<SyncRequest> {
        std::mem::take(&mut lock(&self.state).requests)
    }

    /// Makes the next `times` requests fail ([`QueueError::Backend`]); they are not recorded.
    pub fn fail_next(&self, times: usize) {
        lock(&self.state).failures += times;
    }

    /// Calls so far (failed ones included).
    pub fn calls(&self) -> usize {
        lock(&self.state).calls
    }

    /// The deliveries handed back so far, with their delays ([`SyncQueue::retry_after`]).
    pub fn retries(&self) -> Vec<(String, std::time::Duration)> {
        lock(&self.state).retries.clone()
    }
}

impl std::fmt::Debug for RecordingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingQueue").field("requests", &lock(&self.state).requests).finish()
    }
}

#[async_trait]
impl SyncQueue for RecordingQueue {
    async fn request_sync(&self, request: &SyncRequest) -> Result<(), QueueError> {
        let mut s = lock(&self.state);
        s.calls += 1;
        if s.failures > 0 {
            s.failures -= 1;
            return Err(QueueError::Backend(Box::new(Refused("request_sync"))));
        }
        s.requests.push(request.clone());
        Ok(())
    }

    async fn retry_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), QueueError> {
        lock(&self.state).retries.push((receipt.to_owned(), delay));
        Ok(())
    }
}

#[derive(Default)]
struct ContinuationState {
    continued: Vec<ChurnInput>,
    sweeps: Vec<SweepInput>,
    failures: usize,
    not_configured: bool,
}

/// A continuation that records the inputs it is asked to continue with (and runs nothing).
#[derive(Default)]
pub struct RecordingContinuation {
    state: Mutex<ContinuationState>,
}

impl RecordingContinuation {
    pub fn new() -> Self {
        Self::default()
    }

    /// The inputs of the continuations asked for so far.
    pub fn continued(&self) -> Vec<ChurnInput> {
        lock(&self.state).continued.clone()
    }

    /// The continuations asked for so far, leaving none.
    pub fn take(&self) -> Vec<ChurnInput> {
        std::mem::take(&mut lock(&self.state).continued)
    }

    /// The sweep continuations asked for so far, leaving none.
    pub fn take_sweeps(&self) -> Vec<SweepInput> {
        std::mem::take(&mut lock(&self.state).sweeps)
    }

    /// Makes the next `times` continuations fail ([`ContinuationError::Backend`]); they are not recorded.
    pub fn fail_next(&self, times: usize) {
        lock(&self.state).failures += times;
    }

    /// From now on answers [`ContinuationError::NotConfigured`] (or, with `false`, records again).
    pub fn set_not_configured(&self, not_configured: bool) {
        lock(&self.state).not_configured = not_configured;
    }
}

impl std::fmt::Debug for RecordingContinuation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingContinuation").field("continued", &lock(&self.state).continued).finish()
    }
}

impl RecordingContinuation {
    /// Answers as configured (not configured, a scripted failure of `op`), else records with `keep`.
    fn record(&self, op: &'static str, keep: impl FnOnce(&mut ContinuationState)) -> Result<(), ContinuationError> {
        let mut s = lock(&self.state);
        if s.not_configured {
            return Err(ContinuationError::NotConfigured);
        }
        if s.failures > 0 {
            s.failures -= 1;
            return Err(ContinuationError::Backend(Box::new(Refused(op))));
        }
        keep(&mut s);
        Ok(())
    }
}

#[async_trait]
impl Continuation for RecordingContinuation {
    async fn continue_churn(&self, next: &ChurnInput) -> Result<(), ContinuationError> {
        self.record("continue_churn", |s| s.continued.push(next.clone()))
    }

    async fn continue_sweep(&self, next: &SweepInput) -> Result<(), ContinuationError> {
        self.record("continue_sweep", |s| s.sweeps.push(next.clone()))
    }
}
