//! `LocalKeyProvider`: key-encryption keys in a local key file (the embedded default).
//!
//! The file is JSON (see docs/FORMAT.md, "Local key file"):
//! `{"format":"tenantguard-local-kek/2","current":"kek-1","keks":[{"id":"kek-1","key":"<b64>"}],
//! "tenants":[{"id":"acme","secret":"<b64>"}],"shredded":["old-tenant"]}`. A file without
//! per-tenant entries is still written as format `/1`, which older releases can read.
//!
//! Each tenant's data keys are wrapped with AES-256-GCM under a key derived from the KEK
//! *and* a random per-tenant secret held in the file, so destroying the tenant's secret
//! ([`KeyProvider::destroy_tenant`], called by shredding) makes every wrap of its keys
//! unopenable, database backups included. Wraps made by releases before per-tenant secrets
//! (60 bytes, KEK only) keep opening until the KEK-rotation job moves them.
//!
//! Writes are safe against concurrent writers (threads or processes) and crashes: an
//! exclusive lock on `<file>.lock`, the file re-read and the change applied to what is on
//! disk, a uniquely named temporary file (mode 0600) written and fsynced, renamed over the
//! file, and the directory fsynced. A KEK or tenant secret is used for wrapping only once it
//! is durably in the file. Readers notice another process's change (the file they loaded was
//! replaced) and reload before using a key.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{Destruction, KeyProvider, KmsError, TenantDestruction, WrapContext, WrappedKey};
use crate::crypto::DataKey;
use crate::tenant::TenantId;

const FORMAT_V1: &str = "tenantguard-local-kek/1";
const FORMAT_V2: &str = "tenantguard-local-kek/2";
/// A wrap under the KEK alone (releases before per-tenant secrets): nonce | ct | tag.
const LEGACY_WRAPPED_LEN: usize = 12 + 32 + 16;
/// A wrap under KEK + tenant secret: 0x01 | nonce | ct | tag.
const TENANT_WRAPPED_LEN: usize = 1 + LEGACY_WRAPPED_LEN;
const TENANT_WRAP_V1: u8 = 0x01;
const TENANT_KDF_INFO: &[u8] = b"tenantguard/local/tenant-wrap/v1";
/// Most KEKs one key file may hold.
pub const MAX_KEKS: usize = 1000;
/// Most tenants with a secret one key file may hold (a larger deployment belongs in a KMS).
pub const MAX_TENANT_SECRETS: usize = 100_000;
/// Most shredded-tenant markers kept; past it, shredding still removes the secret.
const MAX_SHREDDED: usize = 1_000_000;
/// Largest key file read (a full one, at every limit above, is under 100 MiB): a larger
/// file is refused before it is read, so a replaced or runaway file cannot exhaust memory.
const MAX_FILE_BYTES: u64 = 128 << 20;
const RNG_FAILED: &str = "the operating system's random generator failed";

#[derive(Serialize, Deserialize)]
struct FileEntry {
    id: String,
    key: String,
    /// Unix seconds when the KEK was made (absent in files written before this field,
    /// or by releases that do not know it: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct TenantEntry {
    id: String,
    secret: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    current: String,
    keks: Vec<FileEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tenants: Vec<TenantEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    shredded: Vec<String>,
}

impl Drop for File {
    fn drop(&mut self) {
        for e in &mut self.keks {
            e.key.zeroize();
        }
        for t in &mut self.tenants {
            t.secret.zeroize();
        }
    }
}

#[derive(Clone)]
struct Kek {
    id: String,
    key: Zeroizing<[u8; 32]>,
    created_at: Option<i64>,
}

#[derive(Clone, Default)]
struct State {
    current: String,
    keks: Vec<Kek>,
    tenants: BTreeMap<String, Zeroizing<[u8; 32]>>,
    shredded: BTreeSet<String>,
}

impl State {
    fn kek(&self, id: &str) -> Option<&Kek> {
        self.keks.iter().find(|k| k.id == id)
    }
}

/// The loaded state and, for a key file, the open handle of the file it was read from
/// (its link count drops to 0 once another writer replaced the file).
struct Loaded {
    state: State,
    handle: Option<std::fs::File>,
}

enum Backing {
    Memory,
    File(PathBuf),
    /// `ephemeral()` could not draw a KEK: every call fails with this message.
    Unusable(&'static str),
}

/// Key-encryption keys kept in a local file (or only in memory, for tests).
pub struct LocalKeyProvider {
    backing: Backing,
    loaded: RwLock<Loaded>,
    /// Opened with [`LocalKeyProvider::open_read_only`]: never writes the file.
    read_only: bool,
    /// When a key use last looked for another process's shred ([`monotonic_ms`]; 0: never).
    shred_checked: AtomicU64,
}

/// How long a process may go on using a tenant's cached keys after another process
/// sharing the key file shredded the tenant: each key use re-reads the file's shredded list
/// (two `stat` calls, and a re-read if the file was replaced) at most this often.
pub const SHRED_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Milliseconds on a monotonic clock, from 1.
fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let since = START.get_or_init(std::time::Instant::now).elapsed();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX - 1) + 1
}

impl std::fmt::Debug for LocalKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = match &self.backing {
            Backing::File(p) => Some(p),
            _ => None,
        };
        f.debug_struct("LocalKeyProvider")
            .field("path", &path)
            .finish_non_exhaustive()
    }
}

fn config(msg: impl Into<String>) -> KmsError {
    KmsError::Config(msg.into())
}

fn poisoned() -> KmsError {
    config("key state lock poisoned")
}

fn random32() -> Result<Zeroizing<[u8; 32]>, KmsError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut()).map_err(|_| config(RNG_FAILED))?;
    Ok(key)
}

fn unix_now() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

fn new_kek(id: String) -> Result<Kek, KmsError> {
    Ok(Kek {
        id,
        key: random32()?,
        created_at: unix_now(),
    })
}

/// Test-only crash points: a unit test makes a write stop dead at a named step (the same
/// on-disk state a `kill -9` there leaves; the lock is released as the process's would be).
#[cfg(test)]
pub(crate) mod crash {
    use std::cell::Cell;
    thread_local! {
        pub(crate) static AT: Cell<Option<&'static str>> = const { Cell::new(None) };
    }
}

fn crash_point(_name: &'static str) -> Result<(), KmsError> {
    #[cfg(test)]
    if crash::AT.with(|c| c.get()) == Some(_name) {
        return Err(config(format!("test crash at {_name}")));
    }
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> KmsError {
    config(format!(
        "cannot {what} key file {}: {}",
        path.display(),
        e.kind()
    ))
}

/// The file a write replaces: the key file itself or, when it is a symbolic link, the file
/// the link points to, replaced in that file's own directory (renaming over the link would
/// turn it into a regular file and leave its target, which others read, without the
/// change). A link to nothing is refused: no file is made at or through it.
fn write_path(path: &Path) -> Result<PathBuf, KmsError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|e| {
            config(format!(
                "key file {} is a symbolic link whose target cannot be resolved: {}",
                path.display(),
                e.kind()
            ))
        }),
        _ => Ok(path.to_owned()),
    }
}

/// Holds the exclusive lock on `<file>.lock` until dropped (the OS also releases it when
/// the process dies). The lock file is never deleted: deleting lock files races.
struct WriteLock(#[allow(dead_code)] std::fs::File);

fn lock_exclusive(path: &Path) -> Result<WriteLock, KmsError> {
    let lock_path = sibling(path, ".lock");
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, "open the lock of", e))?;
    f.lock().map_err(|e| io_err(&lock_path, "lock", e))?;
    Ok(WriteLock(f))
}

impl LocalKeyProvider {
    fn from_file(path: &Path, loaded: Loaded) -> Self {
        LocalKeyProvider {
            backing: Backing::File(path.to_owned()),
            loaded: RwLock::new(loaded),
            read_only: false,
            shred_checked: AtomicU64::new(0),
        }
    }

    /// Opens the key file at `path`, creating it (mode 0600, one fresh KEK) if absent.
    /// Safe when several processes do this at once: all end up with the same file.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Self, KmsError> {
        let path = path.as_ref();
        if path.exists() {
            return Self::open(path);
        }
        let target = write_path(path)?;
        let _lock = lock_exclusive(&target)?;
        if path.exists() {
            return Self::open(path);
        }
        let state = State {
            current: "kek-1".into(),
            keks: vec![new_kek("kek-1".into())?],
            ..State::default()
        };
        let handle = write_file(&target, &state)?;
        Ok(Self::from_file(
            path,
            Loaded {
                state,
                handle: Some(handle),
            },
        ))
    }

    /// Opens an existing key file; refuses one that is unreadable, corrupted or readable
    /// by group or others.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KmsError> {
        let path = path.as_ref();
        let (state, handle) = read_file(path)?;
        Ok(Self::from_file(
            path,
            Loaded {
                state,
                handle: Some(handle),
            },
        ))
    }

    /// Opens an existing key file that this process must never write (e.g. mounted
    /// read-only from a secret store). Tenants that already have a secret in the file keep
    /// using it; a new tenant's keys are wrapped under the KEK alone (the format of earlier
    /// releases), so shredding it cannot destroy provider material (`destroy_tenant` is
    /// `Unsupported` and the shred report says so). KEK rotation needs a writable file.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, KmsError> {
        let mut p = Self::open(path)?;
        p.read_only = true;
        Ok(p)
    }

    /// A provider with one random KEK held only in memory (tests, throwaway data). If the
    /// operating system's random generator fails, the provider holds no key at all and
    /// every call fails with a `Config` error (never an all-zero or guessable key); use
    /// [`LocalKeyProvider::try_ephemeral`] to get that error here instead.
    pub fn ephemeral() -> Self {
        Self::try_ephemeral().unwrap_or_else(|_| LocalKeyProvider {
            backing: Backing::Unusable(RNG_FAILED),
            loaded: RwLock::new(Loaded {
                state: State::default(),
                handle: None,
            }),
            read_only: false,
            shred_checked: AtomicU64::new(0),
        })
    }

    /// Like [`LocalKeyProvider::ephemeral`], but a failing random generator is a `Config`
    /// error here.
    pub fn try_ephemeral() -> Result<Self, KmsError> {
        Ok(LocalKeyProvider {
            backing: Backing::Memory,
            read_only: false,
            shred_checked: AtomicU64::new(0),
            loaded: RwLock::new(Loaded {
                state: State {
                    current: "kek-1".into(),
                    keks: vec![new_kek("kek-1".into())?],
                    ..State::default()
                },
                handle: None,
            }),
        })
    }

    fn usable(&self) -> Result<(), KmsError> {
        match self.backing {
            Backing::Unusable(why) => Err(config(format!(
                "this ephemeral key provider has no key: {why} when it was created"
            ))),
            _ => Ok(()),
        }
    }

    /// Reloads the key file if another writer replaced it since it was loaded.
    fn refresh(&self) -> Result<(), KmsError> {
        self.usable()?;
        let Backing::File(path) = &self.backing else {
            return Ok(());
        };
        let stale = {
            let l = self.loaded.read().map_err(|_| poisoned())?;
            match &l.handle {
                Some(h) => replaced(h, path),
                None => true,
            }
        };
        if stale {
            let (state, handle) = read_file(path)?;
            *self.loaded.write().map_err(|_| poisoned())? = Loaded {
                state,
                handle: Some(handle),
            };
        }
        Ok(())
    }

    /// Applies `change` to the freshest state under the file lock and makes the result
    /// durable before returning. `change` must fail before it modifies anything.
    fn mutate<R>(
        &self,
        change: impl FnOnce(&mut State) -> Result<R, KmsError>,
    ) -> Result<R, KmsError> {
        self.usable()?;
        if self.read_only {
            return Err(config(
                "the key file was opened read-only (LocalKeyProvider::open_read_only)",
            ));
        }
        match &self.backing {
            Backing::File(path) => {
                let target = write_path(path)?;
                let _lock = lock_exclusive(&target)?;
                crash_point("locked")?;
                let (mut state, _) = read_file(&target)?;
                let r = change(&mut state)?;
                let handle = write_file(&target, &state)?;
                *self.loaded.write().map_err(|_| poisoned())? = Loaded {
                    state,
                    handle: Some(handle),
                };
                Ok(r)
            }
            _ => {
                // In place (no copy of every tenant secret per change): each change does all
                // its fallible steps before it modifies the state.
                let mut l = self.loaded.write().map_err(|_| poisoned())?;
                change(&mut l.state)
            }
        }
    }

    /// Adds a fresh KEK and makes it current; returns its id. Existing wraps stay
    /// unwrappable until [`LocalKeyProvider::remove_kek`]; run the KEK-rotation job
    /// (`Keys::rewrap`) in between. Safe with other processes using the file.
    pub fn rotate_kek(&self) -> Result<String, KmsError> {
        self.mutate(|st| {
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
            st.keks.push(new_kek(id.clone())?);
            st.current = id.clone();
            Ok(id)
        })
    }

    /// Deletes a KEK that is no longer current. Data keys still wrapped under it become
    /// unreadable, so run the KEK-rotation job to completion first.
    pub fn remove_kek(&self, id: &str) -> Result<(), KmsError> {
        self.mutate(|st| {
            if st.current == id {
                return Err(config("cannot remove the current KEK"));
            }
            if st.kek(id).is_none() {
                return Err(KmsError::KekNotFound(id.to_owned()));
            }
            st.keks.retain(|k| k.id != id);
            Ok(())
        })
    }

    /// The ids of all KEKs held.
    pub fn kek_ids(&self) -> Vec<String> {
        if self.refresh().is_err() {
            return Vec::new();
        }
        self.loaded
            .read()
            .map(|l| l.state.keks.iter().map(|k| k.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every KEK held with its creation time (Unix seconds), in file order. `None`: the
    /// KEK was made by a release that did not record it (or a file edited by one), so its
    /// age is unknown.
    pub fn kek_created_at(&self) -> Result<Vec<(String, Option<i64>)>, KmsError> {
        self.refresh()?;
        Ok(self
            .loaded
            .read()
            .map_err(|_| poisoned())?
            .state
            .keks
            .iter()
            .map(|k| (k.id.clone(), k.created_at))
            .collect())
    }

    /// Number of tenants holding a per-tenant secret in this provider.
    pub fn tenant_secret_count(&self) -> Result<usize, KmsError> {
        self.refresh()?;
        Ok(self
            .loaded
            .read()
            .map_err(|_| poisoned())?
            .state
            .tenants
            .len())
    }

    /// The tenant's secret and the current KEK, creating (and persisting) the secret
    /// first if the tenant has none.
    fn tenant_material(&self, tenant: &str) -> Result<(Zeroizing<[u8; 32]>, Kek), KmsError> {
        self.refresh()?;
        {
            let l = self.loaded.read().map_err(|_| poisoned())?;
            let st = &l.state;
            if st.shredded.contains(tenant) {
                return Err(KmsError::TenantShredded);
            }
            if let (Some(s), Some(k)) = (st.tenants.get(tenant), st.kek(&st.current)) {
                return Ok((s.clone(), k.clone()));
            }
        }
        self.mutate(|st| {
            if st.shredded.contains(tenant) {
                return Err(KmsError::TenantShredded);
            }
            if !st.tenants.contains_key(tenant) {
                if st.tenants.len() >= MAX_TENANT_SECRETS {
                    return Err(config(format!(
                        "a key file holds secrets of at most {MAX_TENANT_SECRETS} tenants: \
                         use a KMS key provider for more"
                    )));
                }
                st.tenants.insert(tenant.to_owned(), random32()?);
            }
            let kek = st
                .kek(&st.current)
                .cloned()
                .ok_or_else(|| KmsError::KekNotFound(st.current.clone()))?;
            Ok((st.tenants[tenant].clone(), kek))
        })
    }
}

/// The AES-256-GCM key that wraps tenant `tenant`'s data keys under `kek`.
fn tenant_wrapping_key(kek: &[u8; 32], secret: &[u8; 32], tenant: &str) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(TENANT_KDF_INFO.len() + 1 + tenant.len());
    info.extend_from_slice(TENANT_KDF_INFO);
    info.push(tenant.len() as u8);
    info.extend_from_slice(tenant.as_bytes());
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(secret), kek);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(&info, out.as_mut());
    out
}

#[cfg(unix)]
fn replaced(handle: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (handle.metadata(), std::fs::metadata(path)) {
        (Ok(h), Ok(p)) => h.nlink() == 0 || h.ino() != p.ino() || h.dev() != p.dev(),
        _ => true,
    }
}

#[cfg(not(unix))]
fn replaced(handle: &std::fs::File, path: &Path) -> bool {
    match (handle.metadata(), std::fs::metadata(path)) {
        (Ok(h), Ok(p)) => h.len() != p.len() || h.modified().ok() != p.modified().ok(),
        _ => true,
    }
}

fn read_file(path: &Path) -> Result<(State, std::fs::File), KmsError> {
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, "read", e))?;
    check_permissions(&f, path)?;
    let too_large = || {
        config(format!(
            "key file {} is larger than {} MiB: it is not a key file this release wrote; \
             put the key file back from a backup",
            path.display(),
            MAX_FILE_BYTES >> 20
        ))
    };
    let len = f.metadata().map_err(|e| io_err(path, "read", e))?.len();
    if len > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut raw = Zeroizing::new(Vec::with_capacity(usize::try_from(len).unwrap_or(0)));
    (&mut f)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| io_err(path, "read", e))?;
    if raw.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let file: File = serde_json::from_slice(&raw).map_err(|_| {
        config(format!(
            "key file {} is corrupted (not valid JSON of the expected shape)",
            path.display()
        ))
    })?;
    let state =
        parse_state(&file).map_err(|m| config(format!("key file {}: {m}", path.display())))?;
    Ok((state, f))
}

fn decode32(b64: &str, what: impl Fn() -> String) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| format!("{} is not base64", what()))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(format!("{} is not 32 bytes", what()));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn parse_state(file: &File) -> Result<State, String> {
    if file.format != FORMAT_V1 && file.format != FORMAT_V2 {
        return Err(format!(
            "unknown format {:?}, expected {FORMAT_V2:?} (or {FORMAT_V1:?})",
            file.format
        ));
    }
    if file.format == FORMAT_V1 && (!file.tenants.is_empty() || !file.shredded.is_empty()) {
        return Err(format!(
            "format {FORMAT_V1:?} cannot hold tenant entries (expected {FORMAT_V2:?})"
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
        let key = decode32(&e.key, || format!("KEK {:?}", e.id))?;
        if e.created_at.is_some_and(|t| t < 0) {
            return Err(format!("KEK {:?} has a negative created_at", e.id));
        }
        keks.push(Kek {
            id: e.id.clone(),
            key,
            created_at: e.created_at,
        });
    }
    if !keks.iter().any(|k| k.id == file.current) {
        return Err(format!("current KEK {:?} is not in the file", file.current));
    }
    if file.tenants.len() > MAX_TENANT_SECRETS || file.shredded.len() > MAX_SHREDDED {
        return Err(format!(
            "holds more than {MAX_TENANT_SECRETS} tenant secrets or {MAX_SHREDDED} shredded tenants"
        ));
    }
    let mut tenants = BTreeMap::new();
    for t in &file.tenants {
        // The keyring's pseudo-tenants (`_tg-service.<purpose>`) hold secrets here too.
        if TenantId::new(t.id.as_str()).is_err() && !super::ServicePurpose::is_wrap_tenant(&t.id) {
            return Err("a tenant entry has an invalid tenant id".into());
        }
        let secret = decode32(&t.secret, || format!("the secret of tenant {:?}", t.id))?;
        if tenants.insert(t.id.clone(), secret).is_some() {
            return Err(format!("tenant {:?} appears twice", t.id));
        }
    }
    let mut shredded = BTreeSet::new();
    for t in &file.shredded {
        if TenantId::new(t.as_str()).is_err() {
            return Err("a shredded entry has an invalid tenant id".into());
        }
        if tenants.contains_key(t) {
            return Err(format!(
                "tenant {t:?} is both shredded and holding a secret"
            ));
        }
        shredded.insert(t.clone());
    }
    Ok(State {
        current: file.current.clone(),
        keks,
        tenants,
        shredded,
    })
}

#[cfg(unix)]
fn check_permissions(f: &std::fs::File, path: &Path) -> Result<(), KmsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = f.metadata().map_err(|e| io_err(path, "read", e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(config(format!(
            "key file {} is accessible by group or others: run `chmod 600` on it and rotate the KEK",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_f: &std::fs::File, _path: &Path) -> Result<(), KmsError> {
    Ok(())
}

/// Removes temporary files left by writers that died (only the lock holder writes one).
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = name.to_os_string();
    prefix.push(".tmp.");
    let prefix = prefix.to_string_lossy().into_owned();
    let legacy = path.with_extension("tmp");
    let _ = std::fs::remove_file(legacy);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Writes the key file (the caller holds the lock) with owner-only permissions: to a
/// uniquely named temporary file, fsynced, renamed over the old one, directory fsynced.
/// A crash at any step leaves the old or the new file whole. Returns the new file's handle.
fn write_file(path: &Path, st: &State) -> Result<std::fs::File, KmsError> {
    let per_tenant = !st.tenants.is_empty() || !st.shredded.is_empty();
    let file = File {
        format: if per_tenant { FORMAT_V2 } else { FORMAT_V1 }.into(),
        current: st.current.clone(),
        keks: st
            .keks
            .iter()
            .map(|k| FileEntry {
                id: k.id.clone(),
                key: STANDARD.encode(k.key.as_ref()),
                created_at: k.created_at,
            })
            .collect(),
        tenants: st
            .tenants
            .iter()
            .map(|(id, s)| TenantEntry {
                id: id.clone(),
                secret: STANDARD.encode(s.as_ref()),
            })
            .collect(),
        shredded: st.shredded.iter().cloned().collect(),
    };
    let mut json = Zeroizing::new(
        serde_json::to_vec_pretty(&file).map_err(|_| config("cannot encode key file"))?,
    );
    drop(file);
    json.push(b'\n');
    remove_stale_temporaries(path);
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|_| config(RNG_FAILED))?;
    let tmp = sibling(
        path,
        &format!(".tmp.{}.{}", std::process::id(), hex::encode(rnd)),
    );
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| io_err(path, "create", e))?;
    crash_point("tmp-created")?;
    let half = json.len() / 2;
    f.write_all(&json[..half])
        .map_err(|e| io_err(path, "write", e))?;
    crash_point("tmp-half-written")?;
    f.write_all(&json[half..])
        .map_err(|e| io_err(path, "write", e))?;
    crash_point("tmp-written")?;
    f.sync_all().map_err(|e| io_err(path, "sync", e))?;
    crash_point("tmp-synced")?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, "replace", e))?;
    crash_point("renamed")?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(path, "sync the directory of", e))?;
    }
    Ok(f)
}

fn seal_key(
    wrapping_key: &[u8; 32],
    key: &DataKey,
    ctx: &WrapContext,
) -> Result<Vec<u8>, KmsError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|_| config(RNG_FAILED))?;
    let cipher = Aes256Gcm::new_from_slice(wrapping_key).map_err(|_| config("bad KEK length"))?;
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: key.expose(),
                aad: &ctx.aad(),
            },
        )
        .map_err(|_| config("wrap failed"))?;
    let mut out = Vec::with_capacity(LEGACY_WRAPPED_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_key(wrapping_key: &[u8; 32], body: &[u8], ctx: &WrapContext) -> Result<DataKey, KmsError> {
    if body.len() != LEGACY_WRAPPED_LEN {
        return Err(KmsError::WrongContext);
    }
    let (nonce, ct) = body.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| KmsError::WrongContext)?;
    let cipher = Aes256Gcm::new_from_slice(wrapping_key).map_err(|_| config("bad KEK length"))?;
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

fn is_tenant_wrap(ciphertext: &[u8]) -> bool {
    ciphertext.len() == TENANT_WRAPPED_LEN && ciphertext[0] == TENANT_WRAP_V1
}

#[async_trait::async_trait]
impl KeyProvider for LocalKeyProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn current_kek(&self) -> Result<String, KmsError> {
        self.refresh()?;
        Ok(self
            .loaded
            .read()
            .map_err(|_| poisoned())?
            .state
            .current
            .clone())
    }

    /// Wraps under a key derived from the current KEK and the tenant's secret (created
    /// and made durable in the key file on the tenant's first wrap).
    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let tenant = ctx.tenant.as_str();
        if self.read_only {
            self.refresh()?;
            let l = self.loaded.read().map_err(|_| poisoned())?;
            let st = &l.state;
            if st.shredded.contains(tenant) {
                return Err(KmsError::TenantShredded);
            }
            if !st.tenants.contains_key(tenant) {
                let kek = st
                    .kek(&st.current)
                    .ok_or_else(|| KmsError::KekNotFound(st.current.clone()))?;
                return Ok(WrappedKey {
                    kek_id: kek.id.clone(),
                    ciphertext: seal_key(&kek.key, key, ctx)?,
                });
            }
        }
        let (secret, kek) = self.tenant_material(tenant)?;
        let wk = tenant_wrapping_key(&kek.key, &secret, tenant);
        let body = seal_key(&wk, key, ctx)?;
        let mut out = Vec::with_capacity(TENANT_WRAPPED_LEN);
        out.push(TENANT_WRAP_V1);
        out.extend_from_slice(&body);
        Ok(WrappedKey {
            kek_id: kek.id,
            ciphertext: out,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.refresh()?;
        let l = self.loaded.read().map_err(|_| poisoned())?;
        let st = &l.state;
        let tenant = ctx.tenant.as_str();
        if st.shredded.contains(tenant) {
            return Err(KmsError::TenantShredded);
        }
        let kek = st
            .kek(&wrapped.kek_id)
            .ok_or_else(|| KmsError::KekNotFound(wrapped.kek_id.clone()))?;
        let c = &wrapped.ciphertext;
        if c.len() == LEGACY_WRAPPED_LEN {
            return open_key(&kek.key, c, ctx);
        }
        if !is_tenant_wrap(c) {
            return Err(KmsError::WrongContext);
        }
        // No secret: the wrap belongs to another tenant (or the key file predates this
        // tenant); either way it does not open under this context.
        let secret = st.tenants.get(tenant).ok_or(KmsError::WrongContext)?;
        let wk = tenant_wrapping_key(&kek.key, secret, tenant);
        open_key(&wk, &c[1..], ctx)
    }

    /// Removes the tenant's secret from the key file and records the tenant as shredded
    /// (it can get no new secret). Immediate; copies of the key file made before keep it.
    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        if self.read_only {
            return Err(KmsError::Unsupported(
                "local: the key file was opened read-only: the tenant's secret (if any) cannot \
                 be removed, and keys wrapped under the KEK alone stay openable from backups"
                    .into(),
            ));
        }
        let t = tenant.as_str();
        let held = self.mutate(|st| {
            let held = st.tenants.remove(t).is_some();
            if st.shredded.len() < MAX_SHREDDED {
                st.shredded.insert(t.to_owned());
            }
            Ok(held)
        })?;
        let place = match &self.backing {
            Backing::File(p) => format!("key file {}", p.display()),
            _ => "memory".to_owned(),
        };
        Ok(if held {
            TenantDestruction {
                destruction: Destruction::Immediate,
                detail: format!(
                    "the tenant's secret was removed from the {place}; copies of the key file \
                     made before (backups) still hold it"
                ),
            }
        } else {
            TenantDestruction {
                destruction: Destruction::NothingHeld,
                detail: format!("the {place} held no secret of this tenant"),
            }
        })
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        is_tenant_wrap(&wrapped.ciphertext)
    }

    /// Whether the key file records the tenant as shredded, re-read first if another
    /// process replaced it, at most every [`SHRED_RECHECK`] (two `stat` calls when it was
    /// not replaced; this runs on every key use). A shred by this process is seen at once.
    /// A file that cannot be re-read leaves the answer to what was loaded (every other
    /// call reports the failure).
    fn tenant_destroyed(&self, tenant: &TenantId) -> bool {
        let now = monotonic_ms();
        let last = self.shred_checked.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= SHRED_RECHECK.as_millis() as u64;
        // One thread re-checks; the others answer from what is loaded.
        if due
            && self
                .shred_checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _ = self.refresh();
        }
        self.loaded
            .read()
            .is_ok_and(|l| l.state.shredded.contains(tenant.as_str()))
    }

    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        wrapped.kek_id == current && (self.read_only || is_tenant_wrap(&wrapped.ciphertext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyId;

    fn wctx(t: &str, id: u32) -> WrapContext {
        WrapContext {
            tenant: TenantId::new(t).unwrap(),
            key_id: KeyId::new(id).unwrap(),
        }
    }

    /// A write that dies at each step leaves the old file or the new one, readable, with
    /// every KEK and tenant secret that was ever used to wrap; the next write cleans up.
    #[tokio::test]
    async fn a_crash_at_each_write_step_loses_nothing() {
        let steps = [
            "locked",
            "tmp-created",
            "tmp-half-written",
            "tmp-written",
            "tmp-synced",
            "renamed",
        ];
        for step in steps {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("keys.json");
            let p = LocalKeyProvider::open_or_create(&path).unwrap();
            let dk = DataKey::from_bytes([7; 32]);
            let w1 = p.wrap(&dk, &wctx("a", 1)).await.unwrap();
            // Crash while rotating, and while creating a new tenant's secret.
            crash::AT.with(|c| c.set(Some(step)));
            let rot = p.rotate_kek();
            let new_tenant = p.wrap(&dk, &wctx("b", 1)).await;
            crash::AT.with(|c| c.set(None));
            assert!(rot.is_err() && new_tenant.is_err(), "{step}");
            // A fresh process sees a whole file.
            let q = LocalKeyProvider::open(&path).unwrap();
            assert_eq!(
                q.unwrap(&w1, &wctx("a", 1)).await.unwrap().expose(),
                &[7; 32],
                "{step}"
            );
            let renamed = step == "renamed";
            assert_eq!(q.kek_ids().len(), if renamed { 2 } else { 1 }, "{step}");
            // The next write succeeds, removes stale temporaries, and keeps everything.
            let w2 = q.wrap(&dk, &wctx("b", 1)).await.unwrap();
            q.rotate_kek().unwrap();
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp"))
                .collect();
            assert!(leftovers.is_empty(), "{step}: {leftovers:?}");
            let r = LocalKeyProvider::open(&path).unwrap();
            for (w, t) in [(&w1, "a"), (&w2, "b")] {
                assert_eq!(r.unwrap(w, &wctx(t, 1)).await.unwrap().expose(), &[7; 32]);
            }
        }
    }

    /// KEK creation times: recorded for new KEKs, unknown (never invented) for KEKs of
    /// files written before the field existed, and kept by every later write, also one made
    /// by a provider loaded before another process rotated.
    #[cfg(unix)]
    #[tokio::test]
    async fn kek_creation_times_are_recorded_kept_and_unknown_in_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        // A key file of an earlier release: no created_at.
        let old = serde_json::json!({"format": FORMAT_V1, "current": "kek-1",
            "keks": [{"id": "kek-1", "key": STANDARD.encode([3u8; 32])}]});
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            f.write_all(old.to_string().as_bytes()).unwrap();
        }
        let a = LocalKeyProvider::open(&path).unwrap();
        let b = LocalKeyProvider::open(&path).unwrap();
        assert_eq!(a.kek_created_at().unwrap(), vec![("kek-1".into(), None)]);
        let before = unix_now().unwrap();
        let kek2 = b.rotate_kek().unwrap();
        // a was loaded before b rotated: its write (a tenant secret) merges under the lock.
        a.wrap(&DataKey::from_bytes([1; 32]), &wctx("t", 1))
            .await
            .unwrap();
        let c = LocalKeyProvider::open(&path).unwrap();
        let times = c.kek_created_at().unwrap();
        assert_eq!(times.len(), 2);
        assert_eq!(times[0], ("kek-1".into(), None));
        assert_eq!(times[1].0, kek2);
        let t2 = times[1].1.unwrap();
        assert!(t2 >= before && t2 <= unix_now().unwrap() + 1);
        // On disk: the new KEK carries it, the old one still has none.
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(raw["keks"][0].get("created_at").is_none());
        assert_eq!(raw["keks"][1]["created_at"], t2);
        // A new file records its first KEK's time; a negative time is refused.
        let fresh = LocalKeyProvider::open_or_create(dir.path().join("new.json")).unwrap();
        assert!(fresh.kek_created_at().unwrap()[0].1.is_some());
        let mut bad = raw.clone();
        bad["keks"][1]["created_at"] = serde_json::json!(-5);
        let bad_path = dir.path().join("bad.json");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&bad_path)
                .unwrap();
            f.write_all(bad.to_string().as_bytes()).unwrap();
        }
        assert!(LocalKeyProvider::open(&bad_path).is_err());
    }

    #[tokio::test]
    async fn a_stale_provider_reloads_before_using_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let a = LocalKeyProvider::open_or_create(&path).unwrap();
        let b = LocalKeyProvider::open(&path).unwrap();
        let dk = DataKey::from_bytes([9; 32]);
        // b rotates and creates a tenant; a (loaded before) wraps under b's KEK and
        // reuses b's tenant secret instead of overwriting either.
        let kek2 = b.rotate_kek().unwrap();
        let wb = b.wrap(&dk, &wctx("t", 1)).await.unwrap();
        let wa = a.wrap(&dk, &wctx("t", 2)).await.unwrap();
        assert_eq!(wa.kek_id, kek2);
        assert_eq!(
            a.unwrap(&wb, &wctx("t", 1)).await.unwrap().expose(),
            &[9; 32]
        );
        assert_eq!(
            b.unwrap(&wa, &wctx("t", 2)).await.unwrap().expose(),
            &[9; 32]
        );
        // a shreds the tenant: b refuses at once, without a restart.
        a.destroy_tenant(&TenantId::new("t").unwrap())
            .await
            .unwrap();
        assert_eq!(
            b.unwrap(&wb, &wctx("t", 1)).await.unwrap_err(),
            KmsError::TenantShredded
        );
        assert_eq!(
            b.wrap(&dk, &wctx("t", 3)).await.unwrap_err(),
            KmsError::TenantShredded
        );
    }

    #[tokio::test]
    async fn legacy_wraps_open_and_are_not_current_or_tenant_bound() {
        let p = LocalKeyProvider::try_ephemeral().unwrap();
        let ctx = wctx("old", 1);
        let dk = DataKey::from_bytes([3; 32]);
        let kek = {
            let l = p.loaded.read().unwrap();
            l.state.keks[0].key.clone()
        };
        let legacy = WrappedKey {
            kek_id: "kek-1".into(),
            ciphertext: seal_key(&kek, &dk, &ctx).unwrap(),
        };
        assert_eq!(p.unwrap(&legacy, &ctx).await.unwrap().expose(), &[3; 32]);
        assert!(!p.tenant_bound(&legacy));
        assert!(!p.is_current(&legacy, "kek-1"));
        let new = p.wrap(&dk, &ctx).await.unwrap();
        assert!(p.tenant_bound(&new) && p.is_current(&new, "kek-1"));
        // A legacy wrap relabelled as a tenant wrap (or the reverse) does not open.
        let mut forged = legacy.ciphertext.clone();
        forged.insert(0, TENANT_WRAP_V1);
        let forged = WrappedKey {
            kek_id: "kek-1".into(),
            ciphertext: forged,
        };
        assert_eq!(
            p.unwrap(&forged, &ctx).await.unwrap_err(),
            KmsError::WrongContext
        );
        let stripped = WrappedKey {
            kek_id: "kek-1".into(),
            ciphertext: new.ciphertext[1..].to_vec(),
        };
        assert_eq!(
            p.unwrap(&stripped, &ctx).await.unwrap_err(),
            KmsError::WrongContext
        );
        // After the tenant is destroyed, even its legacy wrap is refused by this provider.
        p.destroy_tenant(&TenantId::new("old").unwrap())
            .await
            .unwrap();
        assert_eq!(
            p.unwrap(&legacy, &ctx).await.unwrap_err(),
            KmsError::TenantShredded
        );
    }

    #[tokio::test]
    async fn a_read_only_key_file_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let w = LocalKeyProvider::open_or_create(&path).unwrap();
        let dk = DataKey::from_bytes([5; 32]);
        let had_secret = w.wrap(&dk, &wctx("old", 1)).await.unwrap();
        let before = std::fs::read(&path).unwrap();
        let r = LocalKeyProvider::open_read_only(&path).unwrap();
        // A tenant with a secret keeps it; a new one gets a KEK-only wrap; nothing is written.
        let a = r.wrap(&dk, &wctx("old", 2)).await.unwrap();
        let b = r.wrap(&dk, &wctx("new", 1)).await.unwrap();
        assert!(r.tenant_bound(&a) && !r.tenant_bound(&b));
        assert_eq!(b.ciphertext.len(), LEGACY_WRAPPED_LEN);
        assert!(
            r.is_current(&b, "kek-1"),
            "no endless re-wrap of KEK-only wraps"
        );
        assert!(r.rotate_kek().is_err());
        assert!(matches!(
            r.destroy_tenant(&TenantId::new("old").unwrap()).await,
            Err(KmsError::Unsupported(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        for (wr, t, id) in [(&had_secret, "old", 1), (&a, "old", 2), (&b, "new", 1)] {
            assert_eq!(r.unwrap(wr, &wctx(t, id)).await.unwrap().expose(), &[5; 32]);
            assert_eq!(w.unwrap(wr, &wctx(t, id)).await.unwrap().expose(), &[5; 32]);
        }
    }

    #[tokio::test]
    async fn an_unusable_ephemeral_provider_never_wraps() {
        let p = LocalKeyProvider {
            backing: Backing::Unusable(RNG_FAILED),
            loaded: RwLock::new(Loaded {
                state: State::default(),
                handle: None,
            }),
            read_only: false,
            shred_checked: AtomicU64::new(0),
        };
        let e = p
            .wrap(&DataKey::from_bytes([1; 32]), &wctx("a", 1))
            .await
            .unwrap_err();
        assert!(
            matches!(e, KmsError::Config(ref m) if m.contains("random generator")),
            "{e}"
        );
        assert!(p.current_kek().await.is_err());
        assert!(p.rotate_kek().is_err());
        assert!(p.kek_ids().is_empty());
    }
}
