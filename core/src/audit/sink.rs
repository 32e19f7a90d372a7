//! Where signed checkpoints go: somewhere the database writer cannot rewrite. A
//! [`CheckpointSink`] receives every checkpoint the guard signs; the built-in
//! [`FileCheckpointSink`] appends them to a local file (`O_APPEND`, fsync) and refuses to
//! go backwards (a smaller tree, or another root at the same size).

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
}

/// A local append-only file of checkpoints: one line per checkpoint,
/// `<tenant> <size> <hex root> <base64 note>`, written with `O_APPEND` and fsynced
/// before `publish` returns. Several processes may share the file: each publish takes an
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
        let Some((t, size, root, note)) = parse_line(&line[..n - 1]) else {
            continue;
        };
        let newer = st.latest.get(t).is_none_or(|p| p.size < size);
        if newer {
            st.latest
                .insert(t.to_owned(), PublishedCheckpoint { size, root, note });
        }
    }
    Ok(())
}

fn parse_line(line: &[u8]) -> Option<(&str, u64, Hash, String)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut it = text.split(' ');
    let (Some(t), Some(size), Some(root), Some(note), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let size: u64 = size.parse().ok()?;
    let root: Hash = hex::decode(root).ok()?.try_into().ok()?;
    let note = base64::engine::general_purpose::STANDARD
        .decode(note)
        .ok()?;
    Some((t, size, root, String::from_utf8(note).ok()?))
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
        let mut f = self.file()?;
        // Other processes append to the same file: hold its lock from the re-read to the
        // fsync, so the backwards check sees every line written before ours.
        f.lock().map_err(io)?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let r = (|| {
            read_new(&f, &mut st)?;
            if let Some(p) = st.latest.get(tenant.as_str()) {
                if !p.admits(size, root)? {
                    return Ok(());
                }
            }
            // A torn line left by a crash: end it first, so ours starts a line.
            let len = f.metadata().map_err(io)?.len();
            let torn = if len > st.read_to { "\n" } else { "" };
            let line = format!(
                "{torn}{} {} {} {}\n",
                tenant.as_str(),
                size,
                hex::encode(root),
                base64::engine::general_purpose::STANDARD.encode(note)
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
