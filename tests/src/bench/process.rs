//! One function process run the way Lambda runs it: the release binary, started with the Lambda
//! environment and `AWS_LAMBDA_RUNTIME_API` pointing at a [`RuntimeApi`] of its own, timed from spawn to
//! its first `next` request (its init), then fed events one at a time.

use super::runtime_api::{Invocation, RuntimeApi};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A function process that finished its init and waits for events.
pub struct FunctionProcess {
    pub name: String,
    child: Child,
    api: RuntimeApi,
    /// When it was spawned (this process's clock).
    pub spawned: Instant,
    /// Spawn to the first `next` request.
    pub init: Duration,
    /// CPU time (user + system, every thread) spent by then: its init's CPU.
    pub init_cpu: Option<Duration>,
    /// Peak resident memory (VmHWM) when init had finished, in KiB.
    pub rss_at_init_kib: Option<u64>,
}

/// How long init may take before the benchmark gives up on the process.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

impl FunctionProcess {
    /// Starts `binary` as function `name` with exactly `env` (plus the Lambda variables), output to `log`.
    pub async fn start(binary: &Path, name: &str, env: &[(String, String)], log: &Path) -> Result<Self, String> {
        Self::start_under(&[], binary, name, env, log).await
    }

    /// [`FunctionProcess::start`] under a wrapper command (`wrapper` then the binary), e.g. `strace -f -o …`.
    /// Its figures are the wrapper's and the function's together.
    pub async fn start_under(
        wrapper: &[String],
        binary: &Path,
        name: &str,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, String> {
        let api = RuntimeApi::start().await.map_err(|e| format!("runtime API: {e}"))?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary);
                cmd
            }
            None => Command::new(binary),
        };
        // Only what Lambda would set: no HOME, no ~/.aws, no stray AWS_* of this shell.
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("bench/[1]{}", uuid::Uuid::new_v4().simple()))
            .env("TZ", ":UTC")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let spawned = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        loop {
            if let Some(first) = api.first_next().await {
                // The process waits in its `next` request (no event is queued yet), so neither figure moves.
                let rss_at_init_kib = status_kib(child.id(), "VmHWM");
                let init_cpu = cpu_time(child.id());
                return Ok(Self {
                    name: name.to_owned(),
                    child,
                    api,
                    spawned,
                    init: first.duration_since(spawned),
                    init_cpu,
                    rss_at_init_kib,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited during init ({status}); see {}", log.display()));
            }
            if spawned.elapsed() > INIT_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{name} did not finish init within {INIT_TIMEOUT:?}; see {}", log.display()));
            }
            // The time is taken by the runtime API when the request arrives, not here.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Sends one event and waits for the answer (timed from hand-over to the function's response).
    pub async fn invoke(&self, event: &Value) -> Result<Invocation, String> {
        self.api.invoke(event).await.map_err(|e| format!("{}: {e}", self.name))
    }

    /// Peak resident memory so far (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_kib(self.child.id(), "VmHWM")
    }

    /// CPU time the process has used so far (see [`cpu_time`]).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.child.id())
    }

    /// Ends the process (as Lambda does when it retires an environment).
    pub fn stop(self) {}
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a running process: the sum over its live threads of the scheduler's
/// runtime (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds; `/proc/<pid>/stat`'s utime and stime count
/// in 10 ms ticks, too coarse for an init of a few milliseconds). Threads that already exited are not
/// counted: the functions run on a current-thread runtime, and tokio keeps its blocking threads for 10 s.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanos: u64 = 0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
