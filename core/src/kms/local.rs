//! `LocalKeyProvider`: key-encryption keys in a local key file (the embedded default).
//!
//! The file is JSON: `{"format":"tenantguard-local-kek/1","current":"kek-1",
//! "keks":[{"id":"kek-1","key":"<base64 of 32 bytes>"}]}`. It is created with mode 0600
//! and refused if group- or world-accessible. Wrapping is AES-256-GCM with a random nonce
//! and the [`WrapContext`] as associated data: `nonce (12) | ciphertext (32) | tag (16)`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{KeyProvider, KmsError, WrapContext, WrappedKey};
use crate::crypto::DataKey;

const FORMAT: &str = "tenantguard-local-kek/1";
const WRAPPED_LEN: usize = 12 + 32 + 16;
/// Most KEKs one key file may hold.
pub const MAX_KEKS: usize = 1000;

#[derive(Serialize, Deserialize)]
struct FileEntry {
    id: String,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    current: String,
    keks: Vec<FileEntry>,
}

struct Kek {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

struct State {
    current: String,
    keks: Vec<Kek>,
}

/// Key-encryption keys kept in a local file (or only in memory, for tests).
pub struct LocalKeyProvider {
    path: Option<PathBuf>,
    state: RwLock<State>,
}

impl std::fmt::Debug for LocalKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyProvider")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn config(msg: impl Into<String>) -> KmsError {
    KmsError::Config(msg.into())
}

fn new_kek(id: String) -> Result<Kek, KmsError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut())
        .map_err(|_| config("the operating system's random generator failed"))?;
    Ok(Kek { id, key })
}

impl LocalKeyProvider {
    /// Opens the key file at `path`, creating it (mode 0600, one fresh KEK) if absent.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, KmsError> {
        let path = path.as_ref();
        if path.exists() {
            return Self::open(path);
        }
        let state = State {
            current: "kek-1".into(),
            keks: vec![new_kek("kek-1".into())?],
        };
        write_file(path, &state, true)?;
        Ok(LocalKeyProvider {
            path: Some(path.to_owned()),
            state: RwLock::new(state),
        })
    }

    /// Opens an existing key file; refuses one that is unreadable, corrupted or readable
    /// by group or others.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KmsError> {
        let path = path.as_ref();
        check_permissions(path)?;
        let raw = Zeroizing::new(std::fs::read(path).map_err(|e| {
            config(format!(
                "cannot read key file {}: {}",
                path.display(),
                e.kind()
            ))
        })?);
        let mut file: File = serde_json::from_slice(&raw).map_err(|_| {
            config(format!(
                "key file {} is corrupted (not valid JSON of the expected shape)",
                path.display()
            ))
        })?;
        let state =
            parse_state(&mut file).map_err(|m| config(format!("key file {}: {m}", path.display())));
        for e in &mut file.keks {
            e.key.zeroize();
        }
        Ok(LocalKeyProvider {
            path: Some(path.to_owned()),
            state: RwLock::new(state?),
        })
    }

    /// A provider with one random KEK held only in memory (tests, throwaway data).
    pub fn ephemeral() -> Self {
        let kek = new_kek("kek-1".into()).unwrap_or_else(|_| Kek {
            id: "kek-1".into(),
            key: Zeroizing::new([0; 32]),
        });
        LocalKeyProvider {
            path: None,
            state: RwLock::new(State {
                current: "kek-1".into(),
                keks: vec![kek],
            }),
        }
    }

    /// Adds a fresh KEK and makes it current; returns its id. Existing wraps stay
    /// unwrappable until [`LocalKeyProvider::remove_kek`]; run the KEK-rotation job
    /// (`Guard::rewrap_tenant_keys`) in between.
    pub fn rotate_kek(&self) -> Result<String, KmsError> {
        let mut st = self
            .state
            .write()
            .map_err(|_| config("key state lock poisoned"))?;
        if st.keks.len() >= MAX_KEKS {
            return Err(config(format!(
                "a key file holds at most {MAX_KEKS} KEKs: remove retired ones first"
            )));
        }
        let n = st
            .keks
            .iter()
            .filter_map(|k| k.id.strip_prefix("kek-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let id = format!("kek-{n}");
        let next = State {
            current: id.clone(),
            keks: st
                .keks
                .iter()
                .map(|k| Kek {
                    id: k.id.clone(),
                    key: k.key.clone(),
                })
                .chain([new_kek(id.clone())?])
                .collect(),
        };
        if let Some(p) = &self.path {
            write_file(p, &next, false)?;
        }
        *st = next;
        Ok(id)
    }

    /// Deletes a KEK that is no longer current. Data keys still wrapped under it become
    /// unreadable, so run the KEK-rotation job to completion first.
    pub fn remove_kek(&self, id: &str) -> Result<(), KmsError> {
        let mut st = self
            .state
            .write()
            .map_err(|_| config("key state lock poisoned"))?;
        if st.current == id {
            return Err(config("cannot remove the current KEK"));
        }
        if !st.keks.iter().any(|k| k.id == id) {
            return Err(KmsError::KekNotFound(id.to_owned()));
        }
        let next = State {
            current: st.current.clone(),
            keks: st
                .keks
                .iter()
                .filter(|k| k.id != id)
                .map(|k| Kek {
                    id: k.id.clone(),
                    key: k.key.clone(),
                })
                .collect(),
        };
        if let Some(p) = &self.path {
            write_file(p, &next, false)?;
        }
        *st = next;
        Ok(())
    }

    /// The ids of all KEKs held.
    pub fn kek_ids(&self) -> Vec<String> {
        self.state
            .read()
            .map(|s| s.keks.iter().map(|k| k.id.clone()).collect())
            .unwrap_or_default()
    }
}

fn parse_state(file: &mut File) -> Result<State, String> {
    if file.format != FORMAT {
        return Err(format!(
            "unknown format {:?}, expected {FORMAT:?}",
            file.format
        ));
    }
    if file.keks.is_empty() || file.keks.len() > MAX_KEKS {
        return Err(format!("must hold 1 to {MAX_KEKS} KEKs"));
    }
    let mut keks = Vec::with_capacity(file.keks.len());
    for e in &file.keks {
        if e.id.is_empty() || e.id.len() > 128 || keks.iter().any(|k: &Kek| k.id == e.id) {
            return Err("KEK ids must be unique and 1 to 128 characters".into());
        }
        let bytes = Zeroizing::new(
            STANDARD
                .decode(e.key.as_bytes())
                .map_err(|_| format!("KEK {:?} is not base64", e.id))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("KEK {:?} is not 32 bytes", e.id))?;
        keks.push(Kek {
            id: e.id.clone(),
            key: Zeroizing::new(key),
        });
    }
    if !keks.iter().any(|k| k.id == file.current) {
        return Err(format!("current KEK {:?} is not in the file", file.current));
    }
    Ok(State {
        current: file.current.clone(),
        keks,
    })
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), KmsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        config(format!(
            "cannot read key file {}: {}",
            path.display(),
            e.kind()
        ))
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(config(format!(
            "key file {} is accessible by group or others: run `chmod 600` on it and rotate the KEK",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), KmsError> {
    Ok(())
}

/// Writes the key file with owner-only permissions: to a temporary file, synced, then
/// renamed over the old one, so a crash leaves either the old or the new file.
fn write_file(path: &Path, st: &State, create_new: bool) -> Result<(), KmsError> {
    let file = File {
        format: FORMAT.into(),
        current: st.current.clone(),
        keks: st
            .keks
            .iter()
            .map(|k| FileEntry {
                id: k.id.clone(),
                key: STANDARD.encode(k.key.as_ref()),
            })
            .collect(),
    };
    let mut json = Zeroizing::new(
        serde_json::to_vec_pretty(&file).map_err(|_| config("cannot encode key file"))?,
    );
    json.push(b'\n');
    let mut file = file;
    for e in &mut file.keks {
        e.key.zeroize();
    }
    let io = |what: &str, e: std::io::Error| {
        config(format!(
            "cannot {what} key file {}: {}",
            path.display(),
            e.kind()
        ))
    };
    if create_new && path.exists() {
        return Err(config(format!(
            "key file {} already exists",
            path.display()
        )));
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| io("create", e))?;
    f.write_all(&json).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("sync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io("replace", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl KeyProvider for LocalKeyProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn current_kek(&self) -> Result<String, KmsError> {
        Ok(self
            .state
            .read()
            .map_err(|_| config("key state lock poisoned"))?
            .current
            .clone())
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let st = self
            .state
            .read()
            .map_err(|_| config("key state lock poisoned"))?;
        let kek = st
            .keks
            .iter()
            .find(|k| k.id == st.current)
            .ok_or_else(|| KmsError::KekNotFound(st.current.clone()))?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|_| config("the operating system's random generator failed"))?;
        let cipher =
            Aes256Gcm::new_from_slice(kek.key.as_ref()).map_err(|_| config("bad KEK length"))?;
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: key.expose(),
                    aad: &ctx.aad(),
                },
            )
            .map_err(|_| config("wrap failed"))?;
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(WrappedKey {
            kek_id: kek.id.clone(),
            ciphertext: out,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        let st = self
            .state
            .read()
            .map_err(|_| config("key state lock poisoned"))?;
        let kek = st
            .keks
            .iter()
            .find(|k| k.id == wrapped.kek_id)
            .ok_or_else(|| KmsError::KekNotFound(wrapped.kek_id.clone()))?;
        if wrapped.ciphertext.len() != WRAPPED_LEN {
            return Err(KmsError::WrongContext);
        }
        let (nonce, ct) = wrapped.ciphertext.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| KmsError::WrongContext)?;
        let cipher =
            Aes256Gcm::new_from_slice(kek.key.as_ref()).map_err(|_| config("bad KEK length"))?;
        let pt = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ct,
                        aad: &ctx.aad(),
                    },
                )
                .map_err(|_| KmsError::WrongContext)?,
        );
        DataKey::from_slice(&pt).map_err(|_| KmsError::WrongContext)
    }
}
