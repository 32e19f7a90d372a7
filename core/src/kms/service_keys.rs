//! The service keyring: keys the SDK itself needs besides tenant data keys (row-integrity
//! MACs, session signing, audit MACs), one versioned series per [`ServicePurpose`].
//!
//! Each key is 32 bytes from the OS generator, stored in the store only wrapped by the KEK
//! through the configured [`KeyProvider`] (bound to a reserved wrap context per purpose
//! and key id, so a database writer can neither read a key nor swap one purpose's key
//! for another's, nor a tenant's data key for a service key). Keys are loaded and cached
//! by the [`ServiceKeyring`] that the [`crate::Guard`] owns.
//!
//! Versions: the highest active key id of a purpose is its current key (new MACs and
//! signatures); older active ids stay usable for verification until retired. Creation
//! and rotation insert `max + 1` under the store's unique (purpose, key id): two processes
//! racing both try the same id, one insert wins, the loser re-reads and uses the winner's
//! key, so no process ever signs with a key the others do not have.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretBox};
use thiserror::Error;

use super::{KeyProvider, KmsError, WrapContext, WrappedKey};
use crate::crypto::{DataKey, KeyId};
use crate::error::ErrorKind;
use crate::storage::StoreError;
use crate::tenant::TenantId;

/// What a service key is for. Each purpose has its own series of keys and its own wrap
/// context: a key of one purpose never serves another.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServicePurpose {
    /// MACs over authorization rows (tokens, sessions, refresh tokens, memberships).
    RowMac,
    /// Signing of session access tokens.
    SessionSigning,
    /// MACs over audit entries.
    AuditMac,
    /// Ed25519 seeds that sign the audit log's checkpoints (the public half is what
    /// customers verify exports with).
    CheckpointSigning,
}

impl ServicePurpose {
    /// Every purpose.
    pub const ALL: [ServicePurpose; 4] = [
        ServicePurpose::RowMac,
        ServicePurpose::SessionSigning,
        ServicePurpose::AuditMac,
        ServicePurpose::CheckpointSigning,
    ];

    /// The stable name stored in the keyring table: `row-mac`, `session-signing`,
    /// `audit-mac`, `checkpoint-signing`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServicePurpose::RowMac => "row-mac",
            ServicePurpose::SessionSigning => "session-signing",
            ServicePurpose::AuditMac => "audit-mac",
            ServicePurpose::CheckpointSigning => "checkpoint-signing",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// True for the pseudo-tenant of a purpose's wrap context (key providers that keep
    /// per-tenant material, like the key file, accept it beside real tenant ids).
    pub(crate) fn is_wrap_tenant(s: &str) -> bool {
        s.strip_prefix(crate::tenant::RESERVED_TENANT_PREFIX)
            .is_some_and(|p| Self::parse(p).is_some())
    }

    /// The wrap context of this purpose's key `id`. The pseudo-tenant
    /// `_tg-service.<purpose>` is refused by `TenantId::new`, so no real tenant can share
    /// it: a wrapped service key never unwraps as a tenant's data key or as another
    /// purpose's key, and shredding a tenant never touches it. It uses only characters
    /// every provider's per-tenant key names accept (AWS aliases, Vault key names,
    /// PKCS#11 labels; Cloud KMS hashes it).
    fn wrap_context(self, id: KeyId) -> WrapContext {
        WrapContext {
            tenant: TenantId::reserved(format!(
                "{}{}",
                crate::tenant::RESERVED_TENANT_PREFIX,
                self.as_str()
            )),
            key_id: id,
        }
    }
}

impl std::fmt::Display for ServicePurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one stored service key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceKeyState {
    /// Usable: the highest active id of a purpose is its current key, the others verify.
    Active,
    /// Wrapped bytes erased: what it signed or MACed no longer verifies.
    Retired,
}

impl ServiceKeyState {
    /// Stable name used in stores.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKeyState::Active => "active",
            ServiceKeyState::Retired => "retired",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ServiceKeyState::Active),
            "retired" => Some(ServiceKeyState::Retired),
            _ => None,
        }
    }
}

/// One service key as stored: wrapped, never in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceKeyRecord {
    /// Its purpose.
    pub purpose: ServicePurpose,
    /// Its version within the purpose (1, 2, ...).
    pub key_id: KeyId,
    /// Its state.
    pub state: ServiceKeyState,
    /// The KEK that wraps it (empty once retired).
    pub kek_id: String,
    /// The wrapped key (empty once retired).
    pub wrapped: Vec<u8>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// Persistence of the service keyring (every built-in store implements it; on PostgreSQL
/// only the service login can read or write it).
#[async_trait::async_trait]
pub trait ServiceKeyStore: Send + Sync {
    /// Every key of `purpose`, any state, ascending key id.
    async fn service_keys(
        &self,
        purpose: ServicePurpose,
    ) -> Result<Vec<ServiceKeyRecord>, StoreError>;

    /// Inserts `rec` unless (purpose, key id) exists; returns whether it inserted. Must be
    /// atomic against concurrent inserts (a unique key), never overwrite.
    async fn insert_service_key(&self, rec: &ServiceKeyRecord) -> Result<bool, StoreError>;

    /// Marks the key retired and erases its wrapped bytes; returns whether it was active.
    async fn retire_service_key(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
    ) -> Result<bool, StoreError>;

    /// Replaces an active key's wrapped bytes by `wrapped` under `new_kek` (a KEK rotation),
    /// only if it is still active and wrapped under `old_kek` (compare-and-swap: two
    /// processes re-wrapping at once both succeed or find it done; nothing is lost). The
    /// key itself is unchanged. Returns whether it replaced.
    async fn rewrap_service_key(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
        old_kek: &str,
        new_kek: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError>;

    /// Called by the guard's builder: a store that MACs its authorization rows takes its
    /// row-MAC keys from `ring` (it must hold it weakly: the keyring holds the store).
    /// Default: nothing (a store with no authorization rows outside the process).
    fn attach_keyring(&self, ring: &Arc<ServiceKeyring>) {
        let _ = ring;
    }
}

/// One unwrapped service key. Never printed; zeroized on drop.
pub struct ServiceKey {
    purpose: ServicePurpose,
    id: KeyId,
    key: SecretBox<[u8; 32]>,
}

impl ServiceKey {
    /// Its purpose.
    pub fn purpose(&self) -> ServicePurpose {
        self.purpose
    }

    /// Its version.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key bytes, for a MAC or a signature. Never log them.
    pub fn expose(&self) -> &[u8; 32] {
        self.key.expose_secret()
    }
}

#[cfg(test)]
impl ServiceKey {
    pub(crate) fn for_tests(purpose: ServicePurpose, id: KeyId, key: [u8; 32]) -> Self {
        ServiceKey {
            purpose,
            id,
            key: SecretBox::new(Box::new(key)),
        }
    }
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceKey({} #{}, [REDACTED])", self.purpose, self.id)
    }
}

/// Errors of the service keyring.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyringError {
    /// The key provider failed (unwrap of a swapped or altered key: `WrongContext`).
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No key with this id exists for the purpose.
    #[error("no {purpose} service key {key_id}")]
    UnknownKey {
        /// The purpose.
        purpose: ServicePurpose,
        /// The id asked for.
        key_id: KeyId,
    },
    /// The key was retired: what it covered no longer verifies.
    #[error("{purpose} service key {key_id} was retired")]
    Retired {
        /// The purpose.
        purpose: ServicePurpose,
        /// The id asked for.
        key_id: KeyId,
    },
    /// The operation is refused (e.g. retiring the current key).
    #[error("refused: {0}")]
    Refused(String),
}

impl KeyringError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeyringError::Kms(e) => e.kind(),
            KeyringError::Store(e) => e.kind(),
            KeyringError::UnknownKey { .. } => ErrorKind::UnknownKey,
            KeyringError::Retired { .. } => ErrorKind::KeyDestroyed,
            KeyringError::Refused(_) => ErrorKind::Conflict,
        }
    }
}

/// The unwrapped active keys of one purpose.
#[derive(Default)]
struct Loaded {
    keys: BTreeMap<u32, Arc<ServiceKey>>,
    retired: std::collections::BTreeSet<u32>,
}

/// Loads, caches, creates and rotates service keys. Owned by the guard
/// ([`crate::Guard::service_keys`]); cheap to share.
///
/// "Current" is the highest active key id this keyring has loaded; a key rotated in by
/// another process becomes current here at the next [`ServiceKeyring::refresh`] (or the
/// first verification that names it), and verifies at once, since [`ServiceKeyring::get`]
/// re-reads the store on a miss.
pub struct ServiceKeyring {
    provider: Arc<dyn KeyProvider>,
    store: Arc<dyn ServiceKeyStore>,
    loaded: RwLock<HashMap<ServicePurpose, Arc<Loaded>>>,
    // Serializes this process's loads, creations and rotations (the store's unique key
    // serializes processes).
    writer: tokio::sync::Mutex<()>,
    // Bumped by every reload, so users of a snapshot of the keys know it is stale.
    generation: std::sync::atomic::AtomicU64,
    now: fn() -> i64,
}

impl std::fmt::Debug for ServiceKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKeyring")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl ServiceKeyring {
    /// A keyring whose keys live in `store`, wrapped by `provider`'s current KEK.
    pub fn new(provider: Arc<dyn KeyProvider>, store: Arc<dyn ServiceKeyStore>) -> Self {
        ServiceKeyring {
            provider,
            store,
            loaded: RwLock::new(HashMap::new()),
            writer: tokio::sync::Mutex::new(()),
            generation: Default::default(),
            now: unix_now,
        }
    }

    fn cached(&self, purpose: ServicePurpose) -> Option<Arc<Loaded>> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&purpose)
            .cloned()
    }

    /// The current key of `purpose` (its id is [`ServiceKey::id`]): creates key 1 if the
    /// purpose has none yet.
    pub async fn current(&self, purpose: ServicePurpose) -> Result<Arc<ServiceKey>, KeyringError> {
        let l = self.with_current(purpose).await?;
        l.keys
            .values()
            .next_back()
            .cloned()
            .ok_or_else(|| KeyringError::Refused(format!("no active {purpose} service key")))
    }

    /// Every active key of `purpose`, ascending id: the last is current. Creates key 1 if
    /// the purpose has none yet.
    pub async fn keys(
        &self,
        purpose: ServicePurpose,
    ) -> Result<Vec<Arc<ServiceKey>>, KeyringError> {
        Ok(self
            .with_current(purpose)
            .await?
            .keys
            .values()
            .cloned()
            .collect())
    }

    /// The loaded keys of `purpose`, with at least one active key (key 1 is created if the
    /// purpose has none yet). Callers read this snapshot, never the cache a second time:
    /// a concurrent `forget` (another instance's rotation) may empty the cache in between.
    async fn with_current(&self, purpose: ServicePurpose) -> Result<Arc<Loaded>, KeyringError> {
        if let Some(l) = self.cached(purpose).filter(|l| !l.keys.is_empty()) {
            return Ok(l);
        }
        let _w = self.writer.lock().await;
        let l = self.reload_locked(purpose).await?;
        if !l.keys.is_empty() {
            return Ok(l);
        }
        if !l.retired.is_empty() {
            // Every key was retired: refuse rather than silently start a new series.
            return Err(KeyringError::Refused(format!(
                "every {purpose} service key is retired: rotate to create a new one"
            )));
        }
        self.insert_next_locked(purpose, 1).await
    }

    /// A counter that changes whenever this keyring re-read its keys (any purpose).
    pub fn generation(&self, purpose: ServicePurpose) -> u64 {
        let _ = purpose;
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The key `key_id` of `purpose`, for verification. Re-reads the store once if this
    /// keyring has not seen it (rotated in by another process).
    pub async fn get(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
    ) -> Result<Arc<ServiceKey>, KeyringError> {
        let find = |l: &Loaded| -> Option<Result<Arc<ServiceKey>, KeyringError>> {
            if let Some(k) = l.keys.get(&key_id.get()) {
                return Some(Ok(k.clone()));
            }
            if l.retired.contains(&key_id.get()) {
                return Some(Err(KeyringError::Retired { purpose, key_id }));
            }
            None
        };
        if let Some(r) = self.cached(purpose).and_then(|l| find(&l)) {
            return r;
        }
        let _w = self.writer.lock().await;
        let l = self.reload_locked(purpose).await?;
        find(&l).unwrap_or(Err(KeyringError::UnknownKey { purpose, key_id }))
    }

    /// Creates the next key of `purpose` and makes it current; older ids keep verifying
    /// until retired. If another process rotated at the same moment, both end on the
    /// same new key (one insert wins, the other re-reads). Returns the new current id.
    pub async fn rotate(&self, purpose: ServicePurpose) -> Result<KeyId, KeyringError> {
        let _w = self.writer.lock().await;
        let l = self.reload_locked(purpose).await?;
        let next = l
            .keys
            .keys()
            .chain(l.retired.iter())
            .max()
            .copied()
            .unwrap_or(0)
            + 1;
        let l = self.insert_next_locked(purpose, next).await?;
        l.keys
            .values()
            .next_back()
            .map(|k| k.id())
            .ok_or_else(|| KeyringError::Refused(format!("no active {purpose} service key")))
    }

    /// Retires key `key_id` of `purpose` (erases its wrapped bytes): whatever it covered no
    /// longer verifies. The current key cannot be retired (rotate first).
    pub async fn retire(&self, purpose: ServicePurpose, key_id: KeyId) -> Result<(), KeyringError> {
        let _w = self.writer.lock().await;
        let l = self.reload_locked(purpose).await?;
        if l.keys.keys().next_back() == Some(&key_id.get()) {
            return Err(KeyringError::Refused(format!(
                "{purpose} service key {key_id} is current: rotate before retiring it"
            )));
        }
        if !l.keys.contains_key(&key_id.get()) && !l.retired.contains(&key_id.get()) {
            return Err(KeyringError::UnknownKey { purpose, key_id });
        }
        self.store.retire_service_key(purpose, key_id).await?;
        self.reload_locked(purpose).await?;
        Ok(())
    }

    /// Drops what this keyring holds of `purpose` (of every purpose with `None`): the
    /// next use re-reads the store. The keys area's reaction to news of another
    /// instance's rotation or retirement (so a retired key stops verifying here too).
    pub fn forget(&self, purpose: Option<ServicePurpose>) {
        {
            let mut l = self.loaded.write().unwrap_or_else(|p| p.into_inner());
            match purpose {
                Some(p) => {
                    l.remove(&p);
                }
                None => l.clear(),
            }
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Re-reads `purpose`'s keys from the store (picks up rotations and retirements made
    /// by other processes).
    pub async fn refresh(&self, purpose: ServicePurpose) -> Result<(), KeyringError> {
        let _w = self.writer.lock().await;
        self.reload_locked(purpose).await.map(|_| ())
    }

    /// KEK rotation for the keyring: re-wraps every active key of every purpose that is not
    /// under the provider's current KEK (unwrap with the old KEK, which must still exist;
    /// wrap with the current one; compare-and-swap in the store). Idempotent and safe to run
    /// from several processes at once; a crash leaves each key under the old or the new
    /// KEK, both of which open it. Returns (re-wrapped, already current).
    pub async fn rewrap(&self) -> Result<(u64, u64), KeyringError> {
        let current = self.provider.current_kek().await?;
        let (mut moved, mut already) = (0u64, 0u64);
        for purpose in ServicePurpose::ALL {
            for rec in self.store.service_keys(purpose).await? {
                if rec.state != ServiceKeyState::Active || rec.purpose != purpose {
                    continue;
                }
                if rec.kek_id == current {
                    already += 1;
                    continue;
                }
                let ctx = purpose.wrap_context(rec.key_id);
                let old = WrappedKey {
                    kek_id: rec.kek_id.clone(),
                    ciphertext: rec.wrapped.clone(),
                };
                let key = self.provider.unwrap(&old, &ctx).await?;
                let new = self.provider.wrap(&key, &ctx).await?;
                drop(key);
                if self
                    .store
                    .rewrap_service_key(
                        purpose,
                        rec.key_id,
                        &rec.kek_id,
                        &new.kek_id,
                        &new.ciphertext,
                    )
                    .await?
                {
                    moved += 1;
                } else {
                    // Another process re-wrapped (or retired) it first.
                    already += 1;
                }
            }
        }
        Ok((moved, already))
    }

    /// The stored records of `purpose` (metadata and wrapped bytes only).
    pub async fn records(
        &self,
        purpose: ServicePurpose,
    ) -> Result<Vec<ServiceKeyRecord>, KeyringError> {
        Ok(self.store.service_keys(purpose).await?)
    }

    /// Inserts key `next` (or adopts the one a concurrent process inserted) and reloads;
    /// the result holds at least one active key.
    async fn insert_next_locked(
        &self,
        purpose: ServicePurpose,
        next: u32,
    ) -> Result<Arc<Loaded>, KeyringError> {
        let id = KeyId::new(next).map_err(|_| {
            KeyringError::Refused(format!("{purpose}: no service key id after {next}"))
        })?;
        let key = DataKey::generate()
            .map_err(|_| KmsError::Unavailable("the OS random generator failed".into()))?;
        let WrappedKey { kek_id, ciphertext } =
            self.provider.wrap(&key, &purpose.wrap_context(id)).await?;
        drop(key);
        let rec = ServiceKeyRecord {
            purpose,
            key_id: id,
            state: ServiceKeyState::Active,
            kek_id,
            wrapped: ciphertext,
            created_at: (self.now)(),
        };
        // Inserted or not (a concurrent process won the id), the stored key is the one
        // every process uses: re-read it.
        self.store.insert_service_key(&rec).await?;
        let l = self.reload_locked(purpose).await?;
        if l.keys.is_empty() {
            return Err(KeyringError::Retired {
                purpose,
                key_id: id,
            });
        }
        Ok(l)
    }

    async fn reload_locked(&self, purpose: ServicePurpose) -> Result<Arc<Loaded>, KeyringError> {
        let old = self.cached(purpose);
        let mut l = Loaded::default();
        for rec in self.store.service_keys(purpose).await? {
            if rec.purpose != purpose {
                continue;
            }
            let id = rec.key_id.get();
            match rec.state {
                ServiceKeyState::Retired => {
                    l.retired.insert(id);
                }
                ServiceKeyState::Active => {
                    // Unwrapped keys are immutable per (purpose, id): reuse them.
                    let k = match old.as_ref().and_then(|o| o.keys.get(&id)) {
                        Some(k) => k.clone(),
                        None => {
                            let w = WrappedKey {
                                kek_id: rec.kek_id.clone(),
                                ciphertext: rec.wrapped.clone(),
                            };
                            let dk = self
                                .provider
                                .unwrap(&w, &purpose.wrap_context(rec.key_id))
                                .await?;
                            Arc::new(ServiceKey {
                                purpose,
                                id: rec.key_id,
                                key: SecretBox::new(Box::new(*dk.expose())),
                            })
                        }
                    };
                    l.keys.insert(id, k);
                }
            }
        }
        let l = Arc::new(l);
        self.loaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(purpose, l.clone());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(l)
    }
}
