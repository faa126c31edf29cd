//! Child processes that cannot outlive the process that started them.
//!
//! Each child runs under a small shell guard that kills it once our end of its stdin pipe closes, which
//! happens however this process ends (normal exit, panic, or a killed test binary): no orphaned servers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (the workspace folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A free loopback port, picked by the OS.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process tied to this one.
pub struct Tethered {
    child: Child,
    pub name: String,
}

impl Tethered {
    /// Starts `program args…` with `envs`, output appended to `log`, tied to our lifetime.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
        cwd: &Path,
        log: &Path,
    ) -> std::io::Result<Self> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        // The program runs in the background; `read` blocks until our pipe closes; then the program's whole
        // process group is terminated.
        // `setsid` makes the program the leader of a new process group, so its children go with it.
        let script = r#"setsid "$@" </dev/null & pid=$!; read -r _; kill -TERM -- -$pid 2>/dev/null || kill -TERM $pid 2>/dev/null; sleep 0.5; kill -KILL -- -$pid 2>/dev/null; exit 0"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("tether").arg(program).args(args);
        cmd.current_dir(cwd).stdin(Stdio::piped()).stdout(out).stderr(err);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Ok(Self { child: cmd.spawn()?, name: name.to_owned() })
    }

    /// Whether the guard (and so the program) is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Tethered {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Waits until something accepts TCP connections at `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
