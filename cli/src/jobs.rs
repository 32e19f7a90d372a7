//! What the long jobs share: progress on a terminal or as plain lines, the stop request
//! from Ctrl-C / SIGTERM, and checkpoints kept between runs.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::exit::Failure;

/// The stop request: set once by a signal, read by jobs between batches.
#[derive(Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Stop {
    /// Listens for Ctrl-C (SIGINT) and SIGTERM (what systemd and `timeout` send). The
    /// handlers are registered before this returns, so a signal right after cannot take the
    /// default action (ending the process mid-batch, which is safe but loses the report).
    pub fn install() -> Stop {
        let stop = Stop::default();
        let s = stop.clone();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (int, term) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            );
            tokio::spawn(async move {
                let (Ok(mut int), Ok(mut term)) = (int, term) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                s.request();
                // A second Ctrl-C ends the process now: safe, as every step is atomic.
                if int.recv().await.is_some() {
                    std::process::exit(crate::exit::INTERRUPTED);
                }
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                s.request();
            }
        });
        stop
    }

    fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        let _ = writeln!(
            std::io::stderr(),
            "stopping after the current batch (Ctrl-C again to quit at once; the job resumes either way)"
        );
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            if self.requested() {
                return;
            }
            n.await;
        }
    }
}

/// Progress of one job: a bar with rate and ETA on a terminal, else a line at most every
/// two seconds (cron mail and journald stay readable). Always on stderr: stdout is the
/// result (`--json`).
pub struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    total: u64,
    pos: u64,
    started: Instant,
    last_line: Option<Instant>,
    printed: u64,
    quiet: bool,
}

impl Progress {
    pub fn new(what: &str, total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_message(what.to_owned());
            b
        });
        Progress {
            bar,
            what: what.to_owned(),
            total,
            pos: 0,
            started: Instant::now(),
            last_line: None,
            printed: 0,
            quiet,
        }
    }

    pub fn set(&mut self, pos: u64) {
        self.pos = pos;
        if let Some(b) = &self.bar {
            b.set_position(pos);
            return;
        }
        if self.quiet {
            return;
        }
        let now = Instant::now();
        if self
            .last_line
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(2))
        {
            return;
        }
        self.last_line = Some(now);
        self.printed = pos;
        self.line();
    }

    fn line(&self) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.pos as f64 / secs;
        let eta = if rate > 0.0 && self.total > self.pos {
            format!("{:.0}s", (self.total - self.pos) as f64 / rate)
        } else {
            "-".into()
        };
        let _ = writeln!(
            std::io::stderr(),
            "{}: {}/{} ({:.0}/s, eta {})",
            self.what,
            self.pos,
            self.total,
            rate,
            eta
        );
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        } else if !self.quiet && self.last_line.is_some() && self.printed != self.pos {
            self.line();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.abandon();
        }
    }
}

/// Checkpoints of interrupted jobs and the times KEKs were first seen, in one small JSON
/// file in the state directory. Written whole to a temporary file and renamed, so a crash
/// leaves the old or the new file, never half of one. Only a hint: every job is idempotent,
/// so a lost checkpoint costs a rescan, never data.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub checkpoints: BTreeMap<String, String>,
    pub kek_first_seen: BTreeMap<String, i64>,
}

pub const STATE_FILE: &str = "tenantguard-cli-state.json";

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    pub fn load(dir: &Path) -> Result<State, Failure> {
        match std::fs::read(Self::path(dir)) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                Failure::usage(format!(
                    "{} is not a state file ({e}): remove it to forget checkpoints",
                    Self::path(dir).display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Failure::io("cannot read the state file", e)),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), Failure> {
        let path = Self::path(dir);
        let tmp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| Failure::new(1, "io", e.to_string()))?;
        let write = || -> std::io::Result<()> {
            // Created afresh and exclusively, owner-only: a symlink planted at the
            // temporary name (the state directory may be configured anywhere) is removed,
            // never written through to its target.
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Failure::io("cannot write the state file", e))
    }

    /// Re-reads, applies `f`, writes: another job's checkpoint written meanwhile is kept.
    pub fn update(dir: &Path, f: impl FnOnce(&mut State)) -> Result<(), Failure> {
        let mut s = State::load(dir)?;
        f(&mut s);
        s.save(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_state_file_is_owner_only_and_never_written_through_a_planted_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "the operator's key file").unwrap();
        // The temporary name is predictable (this process's id).
        let tmp = dir
            .path()
            .join(format!(".{STATE_FILE}.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        State::update(dir.path(), |s| {
            s.checkpoints.insert("a".into(), "1".into());
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "the operator's key file"
        );
        let meta = std::fs::symlink_metadata(State::path(dir.path())).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(State::load(dir.path()).unwrap().checkpoints["a"], "1");
    }

    #[test]
    fn state_round_trips_and_updates_keep_other_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        State::update(dir.path(), |s| {
            s.checkpoints.insert("a".into(), "1".into());
        })
        .unwrap();
        State::update(dir.path(), |s| {
            s.checkpoints.insert("b".into(), "2".into());
        })
        .unwrap();
        let s = State::load(dir.path()).unwrap();
        assert_eq!(s.checkpoints.len(), 2);
        std::fs::write(State::path(dir.path()), b"{not json").unwrap();
        assert_eq!(
            State::load(dir.path()).unwrap_err().code,
            crate::exit::USAGE
        );
    }
}
