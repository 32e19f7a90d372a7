//! Where signed checkpoints go: somewhere the database writer cannot rewrite. A
//! [`CheckpointSink`] receives every checkpoint the guard signs; the built-in
//! [`FileCheckpointSink`] appends them to a local file (`O_APPEND`, fsync) and refuses to
//! go backwards (a smaller tree, or another root at the same size).
//!
//! The one exception is a restore: after the database was restored from a backup, the
//! log no longer extends the sink's latest checkpoint. `Audit::reconcile_restore`
//! then appends an `audit.restore` entry naming the checkpoint it supersedes and
//! publishes the new checkpoint with [`CheckpointSink::publish_restore`]: a sink admits a
//! checkpoint that is not an extension of its latest only with that record
//! ([`PublishedCheckpoint::admits_restore`]), and keeps the superseded history.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;

use super::checkpoint::MAX_NOTE_LEN;
use super::merkle::Hash;
use crate::tenant::TenantId;

/// Why a sink refused or failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The checkpoint is older (smaller) than one the sink already holds.
    #[error("checkpoint of size {offered} is behind the sink's size {held}")]
    Backwards {
        /// Size the sink holds.
        held: u64,
        /// Size offered.
        offered: u64,
    },
    /// Another root at a size the sink already holds: the log forked.
    #[error("checkpoint of size {size} has another root than the one the sink holds")]
    Fork {
        /// The size.
        size: u64,
    },
    /// The sink's storage failed or holds something unreadable.
    #[error("checkpoint sink failed: {0}")]
    Io(String),
    /// A restore publish was refused: the restore record does not supersede the sink's
    /// latest checkpoint, or is not proven to be in the new checkpoint (or the sink does
    /// not take restores).
    #[error("checkpoint sink refused the restore: {0}")]
    RestoreRefused(String),
}

/// The restore record a sink needs to admit a checkpoint that does not extend its latest
/// (see [`PublishedCheckpoint::admits_restore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreAdmission {
    /// The canonical line of the log's `audit.restore` entry (docs/FORMAT.md, "Restore
    /// records").
    pub entry_line: String,
    /// The inclusion proof of that entry (leaf `seq - 1`) in the new checkpoint.
    pub proof: Vec<Hash>,
}

/// Longest restore entry line a sink takes, in bytes.
pub const MAX_RESTORE_LINE: usize = 4096;

impl RestoreAdmission {
    /// The checkpoint the restore record supersedes, `(size, root)`, as its entry states
    /// it (nothing is verified but the entry's form: [`PublishedCheckpoint::admits_restore`]
    /// on that checkpoint does). For sinks that look the superseded checkpoint up.
    pub fn superseded(&self) -> Result<(u64, Hash), SinkError> {
        restore_claim(&self.entry_line)
            .map(|(_, _, size, root)| (size, root))
            .map_err(SinkError::RestoreRefused)
    }
}

/// What a restore entry line states: `(restored size, superseded size, superseded root)`,
/// or why it is not one.
pub(crate) fn restore_claim(line: &str) -> Result<(super::AuditEntry, u64, u64, Hash), String> {
    if line.len() > MAX_RESTORE_LINE {
        return Err("restore entry too long".into());
    }
    let e = super::export::parse_canonical_line(line.as_bytes())
        .map_err(|r| format!("restore entry: {}", r.kind()))?;
    let (restored, superseded, root) = restore_claim_of(&e)?;
    Ok((e, restored, superseded, root))
}

/// [`restore_claim`] of an entry already parsed: `(restored size, superseded size,
/// superseded root)`, or why it is not a restore entry.
pub(crate) fn restore_claim_of(e: &super::AuditEntry) -> Result<(u64, u64, Hash), String> {
    use super::restore::{D_RESTORED_SIZE, D_SUPERSEDED_ROOT, D_SUPERSEDED_SIZE};
    if e.action != super::AuditAction::AuditRestore.as_str() || e.mac.is_none() {
        return Err("not an audit.restore entry with its MAC".into());
    }
    let num = |k: &str| -> Result<u64, String> {
        e.details
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("restore entry without {k}"))
    };
    let (restored, superseded) = (num(D_RESTORED_SIZE)?, num(D_SUPERSEDED_SIZE)?);
    let root: Hash = e
        .details
        .get(D_SUPERSEDED_ROOT)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or("restore entry without superseded_root")?;
    if restored >= e.seq || restored >= superseded {
        return Err("restore entry sizes out of order".into());
    }
    Ok((restored, superseded, root))
}

/// One published checkpoint, as a sink hands it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note, byte for byte.
    pub note: String,
}

impl PublishedCheckpoint {
    /// The rule every [`CheckpointSink::publish`] applies against the checkpoint it holds:
    /// `Ok(true)` for a larger size (store it), `Ok(false)` for this checkpoint again (a
    /// no-op), `Backwards` for a smaller size, `Fork` for another root at this size.
    pub fn admits(&self, size: u64, root: &Hash) -> Result<bool, SinkError> {
        if size < self.size {
            return Err(SinkError::Backwards {
                held: self.size,
                offered: size,
            });
        }
        if size == self.size && self.root != *root {
            return Err(SinkError::Fork { size });
        }
        Ok(size > self.size)
    }

    /// The rule of [`CheckpointSink::publish_restore`]: the restore entry must name this
    /// checkpoint (size and root) as the one it supersedes, and its inclusion proof must
    /// lead to the new checkpoint's root. `Ok(true)`: store it; `Ok(false)`: the sink
    /// already holds this new checkpoint (a no-op).
    pub fn admits_restore(
        &self,
        size: u64,
        root: &Hash,
        restore: &RestoreAdmission,
    ) -> Result<bool, SinkError> {
        if self.size == size && self.root == *root {
            return Ok(false);
        }
        let refused = SinkError::RestoreRefused;
        let (e, _, sup_size, sup_root) = restore_claim(&restore.entry_line).map_err(refused)?;
        if sup_size != self.size || sup_root != self.root {
            return Err(refused(format!(
                "the restore record supersedes the checkpoint of size {sup_size}, the sink holds size {}",
                self.size
            )));
        }
        if e.seq > size {
            return Err(refused(
                "the restore entry is not in the new checkpoint".into(),
            ));
        }
        super::merkle::verify_inclusion(
            e.seq - 1,
            size,
            &super::merkle::leaf_hash(e.leaf_line().as_bytes()),
            &restore.proof,
            root,
        )
        .map_err(|_| refused("the restore entry's inclusion proof does not verify".into()))?;
        Ok(true)
    }
}

/// A destination for signed checkpoints outside the database.
#[async_trait::async_trait]
pub trait CheckpointSink: Send + Sync + std::fmt::Debug {
    /// Stores the checkpoint `note` (size `size`, root `root`) of `tenant`'s log. Must
    /// refuse a size below the last one it holds for the tenant (`Backwards`) and another
    /// root at the same size (`Fork`); the same checkpoint again is a no-op
    /// ([`PublishedCheckpoint::admits`] applies this rule).
    async fn publish(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
    ) -> Result<(), SinkError>;

    /// The latest checkpoint it holds for `tenant`.
    async fn latest(&self, tenant: &TenantId) -> Result<Option<PublishedCheckpoint>, SinkError>;

    /// Stores a checkpoint that does not extend the latest one held, after a database
    /// restore: only with the log's restore record for exactly that latest checkpoint
    /// ([`PublishedCheckpoint::admits_restore`]). The superseded checkpoints stay held
    /// (never rewritten); the new one becomes the latest. Sinks that cannot keep both
    /// refuse (the default: `RestoreRefused`).
    async fn publish_restore(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
        restore: &RestoreAdmission,
    ) -> Result<(), SinkError> {
        let _ = (tenant, size, root, note, restore);
        Err(SinkError::RestoreRefused(
            "this sink does not take restores".into(),
        ))
    }
}

/// A local append-only file of checkpoints: one line per checkpoint,
/// `<tenant> <size> <hex root> <base64 note>`, written with `O_APPEND` and fsynced
/// before `publish` returns. A restore appends one line
/// `<tenant> <size> <hex root> <base64 note> restore <base64 restore entry line>`: read in
/// order, it replaces the tenant's latest checkpoint only if its entry supersedes exactly
/// that checkpoint; the lines before it stay. Several processes may share the file: each publish takes an
/// exclusive lock and re-reads the lines appended since.
#[derive(Debug)]
pub struct FileCheckpointSink {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    read_to: u64,
    latest: HashMap<String, PublishedCheckpoint>,
}

fn io(e: std::io::Error) -> SinkError {
    SinkError::Io(e.kind().to_string())
}

impl FileCheckpointSink {
    /// Opens (or creates, mode 0600) the file at `path`, reading what it holds.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let s = FileCheckpointSink {
            path: path.as_ref().to_owned(),
            state: Mutex::new(FileState::default()),
        };
        let f = s.file()?;
        let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        read_new(&f, &mut st)?;
        drop(st);
        Ok(s)
    }

    fn file(&self) -> Result<std::fs::File, SinkError> {
        let mut o = std::fs::OpenOptions::new();
        o.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(&self.path).map_err(io)
    }
}

/// Reads the lines appended after `st.read_to`.
fn read_new(f: &std::fs::File, st: &mut FileState) -> Result<(), SinkError> {
    use std::io::{Seek, SeekFrom};
    let mut r = std::io::BufReader::new(f);
    r.seek(SeekFrom::Start(st.read_to)).map_err(io)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r)
            .take(2 * MAX_NOTE_LEN as u64 + 256)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 || line.last() != Some(&b'\n') {
            // A torn last line (crash mid-write) is ignored and overwritten by nothing:
            // O_APPEND writes after it; it never parses, so it never counts.
            break;
        }
        st.read_to += n as u64;
        // A line torn by a crash (terminated by the next publish) never parses: skipped.
        let Some((t, size, root, note, restore)) = parse_line(&line[..n - 1]) else {
            continue;
        };
        let newer = match (&restore, st.latest.get(t)) {
            (None, held) => held.is_none_or(|p| p.size < size),
            // A restore line counts only after the very checkpoint it supersedes (its
            // proof was checked when it was written).
            (Some(entry), Some(held)) => {
                restore_claim(entry).is_ok_and(|(_, _, s, r)| s == held.size && r == held.root)
            }
            (Some(_), None) => false,
        };
        if newer {
            st.latest
                .insert(t.to_owned(), PublishedCheckpoint { size, root, note });
        }
    }
    Ok(())
}

type Line<'a> = (&'a str, u64, Hash, String, Option<String>);

fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let mut it = text.split(' ');
    let (Some(t), Some(size), Some(root), Some(note)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let restore = match (it.next(), it.next(), it.next()) {
        (None, _, _) => None,
        (Some("restore"), Some(entry), None) => Some(
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(entry)
                    .ok()?,
            )
            .ok()?,
        ),
        _ => return None,
    };
    let size: u64 = size.parse().ok()?;
    let root: Hash = hex::decode(root).ok()?.try_into().ok()?;
    let note = base64::engine::general_purpose::STANDARD
        .decode(note)
        .ok()?;
    Some((t, size, root, String::from_utf8(note).ok()?, restore))
}

impl FileCheckpointSink {
    /// Appends one line under the file lock, after `check` (against the tenant's latest,
    /// re-read first) said to: the shared body of `publish` and `publish_restore`.
    fn append(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
        restore: Option<&RestoreAdmission>,
    ) -> Result<(), SinkError> {
        let mut f = self.file()?;
        // Other processes append to the same file: hold its lock from the re-read to the
        // fsync, so the backwards check sees every line written before ours.
        f.lock().map_err(io)?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let r = (|| {
            read_new(&f, &mut st)?;
            match (st.latest.get(tenant.as_str()), restore) {
                (Some(p), None) => {
                    if !p.admits(size, root)? {
                        return Ok(());
                    }
                }
                (Some(p), Some(adm)) => {
                    if !p.admits_restore(size, root, adm)? {
                        return Ok(());
                    }
                }
                (None, Some(_)) => {
                    return Err(SinkError::RestoreRefused(
                        "the sink holds no checkpoint of this tenant to supersede".into(),
                    ))
                }
                (None, None) => {}
            }
            // A torn line left by a crash: end it first, so ours starts a line.
            let len = f.metadata().map_err(io)?.len();
            let torn = if len > st.read_to { "\n" } else { "" };
            let b64 = &base64::engine::general_purpose::STANDARD;
            let tail = restore
                .map(|a| format!(" restore {}", b64.encode(&a.entry_line)))
                .unwrap_or_default();
            let line = format!(
                "{torn}{} {} {} {}{tail}\n",
                tenant.as_str(),
                size,
                hex::encode(root),
                b64.encode(note)
            );
            f.write_all(line.as_bytes()).map_err(io)?;
            f.sync_data().map_err(io)?;
            st.read_to = len + line.len() as u64;
            st.latest.insert(
                tenant.as_str().to_owned(),
                PublishedCheckpoint {
                    size,
                    root: *root,
                    note: note.to_owned(),
                },
            );
            Ok(())
        })();
        drop(st);
        let _ = f.unlock();
        r
    }
}

#[async_trait::async_trait]
impl CheckpointSink for FileCheckpointSink {
    async fn publish(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
    ) -> Result<(), SinkError> {
        self.append(tenant, size, root, note, None)
    }

    async fn publish_restore(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
        restore: &RestoreAdmission,
    ) -> Result<(), SinkError> {
        self.append(tenant, size, root, note, Some(restore))
    }

    async fn latest(&self, tenant: &TenantId) -> Result<Option<PublishedCheckpoint>, SinkError> {
        let f = self.file()?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        read_new(&f, &mut st)?;
        Ok(st.latest.get(tenant.as_str()).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_admits_only_a_larger_size_or_the_same_checkpoint() {
        let held = PublishedCheckpoint {
            size: 10,
            root: [7; 32],
            note: String::new(),
        };
        assert_eq!(held.admits(11, &[1; 32]), Ok(true));
        assert_eq!(held.admits(10, &[7; 32]), Ok(false));
        assert_eq!(held.admits(10, &[8; 32]), Err(SinkError::Fork { size: 10 }));
        assert_eq!(
            held.admits(9, &[7; 32]),
            Err(SinkError::Backwards {
                held: 10,
                offered: 9
            })
        );
    }
}
