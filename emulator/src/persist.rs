//! Optional persistence: the state (Items, tokens, keys, clock offset) as one JSON file, loaded at
//! start and rewritten (debounced, via a temporary file and an atomic rename) after changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::app::App;
use crate::state::Snapshot;

/// Errors of the state file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file exists but could not be read.
    #[error("cannot read state file {path}")]
    Read {
        /// The state file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an emulator state.
    #[error("state file {path} is not a valid emulator state")]
    Parse {
        /// The state file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error("cannot write state file {path}")]
    Write {
        /// The state file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state could not be serialised.
    #[error("cannot serialise the state")]
    Serialise(#[source] serde_json::Error),
    /// A signing key in the file is unusable.
    #[error("state file holds an unusable signing key")]
    Key(#[from] crate::keys::KeyError),
}

/// Loads a state file; `Ok(None)` if it does not exist yet.
pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Read { path: path.to_owned(), source });
        }
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|source| PersistError::Parse { path: path.to_owned(), source })
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let err = |source| PersistError::Write { path: path.to_owned(), source };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

/// Snapshots the state and writes it.
pub fn flush(app: &App, path: &Path) -> Result<(), PersistError> {
    let offset_ms = i64::try_from(app.clock.offset().whole_milliseconds()).unwrap_or(0);
    // Cloning is cheap (transactions are shared `Arc`s); serialising happens after the lock.
    let snapshot = app.lock_state().snapshot(offset_ms);
    let bytes = serde_json::to_vec(&snapshot).map_err(PersistError::Serialise)?;
    write_atomic(path, &bytes)
}

/// Rewrites the state file after changes (debounced) until shutdown, then writes a last time.
pub async fn writer(app: Arc<App>, path: PathBuf, notify: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let debounce = app.config.persist_debounce;
    loop {
        let stop = tokio::select! {
            () = notify.notified() => false,
            _ = shutdown.changed() => true,
        };
        if !stop {
            tokio::select! {
                () = tokio::time::sleep(debounce) => {}
                _ = shutdown.changed() => {}
            }
        }
        write_in_background(&app, &path).await;
        if stop || *shutdown.borrow() {
            // Changes made while that write ran are in the last one.
            if !stop {
                write_in_background(&app, &path).await;
            }
            return;
        }
    }
}

async fn write_in_background(app: &Arc<App>, path: &Path) {
    let app = Arc::clone(app);
    let path = path.to_owned();
    match tokio::task::spawn_blocking(move || flush(&app, &path)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "state file not written"),
        Err(e) => tracing::error!(error = %e, "state file writer failed"),
    }
}
