//! Integrity of authorization rows: an HMAC-SHA256 under a service-held key over the
//! fields of a token, session, refresh-token or membership row that authorize anything.
//!
//! Threat: a database writer (a stolen service password, a DBA, a restored or edited
//! backup) plants or edits a row, e.g. widens a token's scopes, raises a session's or a
//! membership's role, moves a row to another tenant, extends an expiry. The key lives
//! with the service (not in the database), so such a row carries no valid MAC and the
//! store refuses it with [`StoreError::Integrity`] (kind `integrity`, distinct from an
//! authentication refusal).
//!
//! Not covered by the MAC (documented in docs/SECURITY.md): the one-way state columns
//! (`revoked_at`, `used`, `refreshed_at`), which the SDK changes in place. Writing back
//! an older copy of a row after its revocation is refused by the PostgreSQL triggers for
//! the application and service logins; a database superuser can still do it.

// Only the database stores write rows that carry MACs: a build with neither `sqlite` nor
// `postgres` (a host with its own store) uses none of this but the public row type.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::StoreError;
use super::{RefreshRecord, SessionRecord, TokenRecord};
use crate::kms::{ServiceKey, ServiceKeyring, ServicePurpose};

/// Length of a row MAC in bytes.
pub const ROW_MAC_LEN: usize = 32;

/// The name of the marker a store records once every row written before row MACs were
/// always on has been MACed (`tg_service_state`). From then on a row without a valid MAC
/// is refused.
pub(crate) const BACKFILL_DONE: &str = "row-mac-backfill";

/// Rows MACed per backfill batch (one transaction each, so a crash loses one batch of work
/// and nothing else: the next open resumes).
#[cfg(feature = "sqlite")]
pub(crate) const BACKFILL_BATCH: usize = 500;

/// A row MAC and the id of the row-MAC service key that made it, as stored.
pub(crate) struct Tag {
    pub(crate) mac: Vec<u8>,
    pub(crate) key_id: i32,
}

/// The row-MAC keys a store verifies with: every active `row-mac` key of the keyring,
/// the current one signing. A snapshot: a key it does not hold marks it stale, and the
/// store retries once with a fresh one (a rotation by another process).
pub(crate) struct RowMacs {
    current: Arc<ServiceKey>,
    keys: BTreeMap<u32, Arc<ServiceKey>>,
    generation: u64,
    missed: AtomicBool,
}

impl std::fmt::Debug for RowMacs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowMacs(..)")
    }
}

impl RowMacs {
    fn mac(key: &ServiceKey, table: &str, fields: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b"tenantguard row mac v1\0");
        // Length-prefixed fields: no two field lists encode alike.
        for f in std::iter::once(table.as_bytes()).chain(fields.iter().copied()) {
            m.update(&(f.len() as u64).to_be_bytes());
            m.update(f);
        }
        m
    }

    fn tag(&self, table: &str, fields: &[&[u8]]) -> Tag {
        Tag {
            mac: Self::mac(&self.current, table, fields)
                .finalize()
                .into_bytes()
                .to_vec(),
            // Key ids are 1..=u32::MAX; the stores keep them in a 32-bit signed column.
            key_id: self.current.id().get() as i32,
        }
    }

    fn check(
        &self,
        table: &str,
        fields: &[&[u8]],
        tag: Option<&[u8]>,
        key_id: Option<i64>,
    ) -> Result<(), StoreError> {
        let refuse = || {
            StoreError::Integrity(format!(
                "a {table} row failed its integrity check (edited or planted outside the SDK)"
            ))
        };
        let (Some(tag), Some(id)) = (tag, key_id) else {
            return Err(refuse());
        };
        // Stored as the 32-bit signed image of the u32 key id (see `tag`).
        let id = id as i32 as u32;
        let Some(key) = self.keys.get(&id) else {
            self.missed.store(true, Ordering::Relaxed);
            return Err(refuse());
        };
        // verify_slice compares in constant time.
        Self::mac(key, table, fields)
            .verify_slice(tag)
            .map_err(|_| refuse())
    }

    fn token_fields(r: &TokenRow<'_>) -> [Vec<u8>; 7] {
        [
            r.id.as_bytes().to_vec(),
            r.tenant.as_bytes().to_vec(),
            r.agent.as_bytes().to_vec(),
            r.hash.to_vec(),
            r.scopes.as_bytes().to_vec(),
            r.created_at.to_be_bytes().to_vec(),
            opt(r.expires_at),
        ]
    }

    /// MAC of a token row (`scopes` as stored, JSON).
    pub fn token(&self, r: &TokenRecord, scopes: &str) -> Tag {
        self.token_row(&TokenRow::of(r, scopes))
    }

    /// MAC of a token row's stored columns.
    pub fn token_row(&self, r: &TokenRow<'_>) -> Tag {
        let f = Self::token_fields(r);
        self.tag("token", &refs(&f))
    }

    /// Verifies a token row's MAC on the stored columns, before anything is parsed.
    pub fn check_token(
        &self,
        r: &TokenRow<'_>,
        tag: Option<&[u8]>,
        key_id: Option<i64>,
    ) -> Result<(), StoreError> {
        let f = Self::token_fields(r);
        self.check("token", &refs(&f), tag, key_id)
    }

    fn session_fields(r: &SessionRecord) -> [Vec<u8>; 6] {
        [
            r.id.as_bytes().to_vec(),
            r.tenant.as_str().as_bytes().to_vec(),
            r.user.as_bytes().to_vec(),
            r.role.as_str().as_bytes().to_vec(),
            r.created_at.to_be_bytes().to_vec(),
            r.expires_at.to_be_bytes().to_vec(),
        ]
    }

    /// MAC of a session row.
    pub fn session(&self, r: &SessionRecord) -> Tag {
        self.tag("session", &refs(&Self::session_fields(r)))
    }

    /// Verifies a session row's MAC.
    pub fn check_session(
        &self,
        r: &SessionRecord,
        tag: Option<&[u8]>,
        key_id: Option<i64>,
    ) -> Result<(), StoreError> {
        self.check("session", &refs(&Self::session_fields(r)), tag, key_id)
    }

    fn refresh_fields(r: &RefreshRecord) -> [Vec<u8>; 4] {
        [
            r.hash.to_vec(),
            r.session_id.as_bytes().to_vec(),
            r.tenant.as_str().as_bytes().to_vec(),
            r.expires_at.to_be_bytes().to_vec(),
        ]
    }

    /// MAC of a refresh-token row.
    pub fn refresh(&self, r: &RefreshRecord) -> Tag {
        self.tag("refresh", &refs(&Self::refresh_fields(r)))
    }

    /// Verifies a refresh-token row's MAC.
    pub fn check_refresh(
        &self,
        r: &RefreshRecord,
        tag: Option<&[u8]>,
        key_id: Option<i64>,
    ) -> Result<(), StoreError> {
        self.check("refresh", &refs(&Self::refresh_fields(r)), tag, key_id)
    }

    /// MAC of a membership row.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn membership(&self, tenant: &str, user: &str, role: &str) -> Tag {
        self.tag(
            "membership",
            &[tenant.as_bytes(), user.as_bytes(), role.as_bytes()],
        )
    }

    /// Verifies a membership row's MAC.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn check_membership(
        &self,
        tenant: &str,
        user: &str,
        role: &str,
        tag: Option<&[u8]>,
        key_id: Option<i64>,
    ) -> Result<(), StoreError> {
        self.check(
            "membership",
            &[tenant.as_bytes(), user.as_bytes(), role.as_bytes()],
            tag,
            key_id,
        )
    }
}

/// Where a store finds its row-MAC keys: the keyrings of the guards built on it (held
/// weakly: a store outlives no guard's keyring by holding it, and a keyring holds its
/// store), and the snapshot of their keys in use.
#[derive(Default)]
pub(crate) struct RowMacSlot {
    rings: RwLock<Vec<Weak<ServiceKeyring>>>,
    snap: RwLock<Option<Arc<RowMacs>>>,
    generation: AtomicU64,
    // Held while this process backfills; true once the store's marker says done.
    backfilled: tokio::sync::Mutex<bool>,
    // The lock-free fast path once it is done.
    backfill_done: AtomicBool,
}

impl std::fmt::Debug for RowMacSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowMacSlot(..)")
    }
}

impl RowMacSlot {
    /// Lets the store use `ring`'s row-MAC keys (called by the guard's builder).
    pub fn attach(&self, ring: &Arc<ServiceKeyring>) {
        let mut rings = self.rings.write().unwrap_or_else(|p| p.into_inner());
        rings.retain(|w| w.strong_count() > 0);
        rings.push(Arc::downgrade(ring));
    }

    fn ring(&self) -> Result<Arc<ServiceKeyring>, StoreError> {
        self.rings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find_map(Weak::upgrade)
            .ok_or_else(|| {
                StoreError::Backend(
                    "no service keyring: authorization rows need the row-MAC key of a Guard \
                     built on this store (keep the Guard alive while the store is used)"
                        .into(),
                )
            })
    }

    /// The current snapshot, rebuilt when the keyring changed or a row named a key the
    /// snapshot lacks. The first call of the process runs `backfill` (at most once, under
    /// a lock) before returning.
    pub async fn get<F, Fut>(&self, backfill: F) -> Result<Arc<RowMacs>, StoreError>
    where
        F: FnOnce(Arc<RowMacs>) -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>>,
    {
        let ring = self.ring()?;
        let gen = ring.generation(ServicePurpose::RowMac);
        let cached = self.snap.read().unwrap_or_else(|p| p.into_inner()).clone();
        let snap = match cached {
            Some(s) if s.generation == gen && !s.missed.load(Ordering::Relaxed) => s,
            stale => {
                if stale.is_some_and(|s| s.missed.load(Ordering::Relaxed)) {
                    ring.refresh(ServicePurpose::RowMac)
                        .await
                        .map_err(keyring)?;
                }
                let keys = ring.keys(ServicePurpose::RowMac).await.map_err(keyring)?;
                let current = keys.last().cloned().ok_or_else(|| {
                    StoreError::Integrity("the keyring has no active row-MAC key".into())
                })?;
                let s = Arc::new(RowMacs {
                    current,
                    keys: keys.into_iter().map(|k| (k.id().get(), k)).collect(),
                    generation: ring.generation(ServicePurpose::RowMac),
                    missed: AtomicBool::new(false),
                });
                self.generation.store(s.generation, Ordering::Relaxed);
                *self.snap.write().unwrap_or_else(|p| p.into_inner()) = Some(s.clone());
                s
            }
        };
        if !self.backfill_done.load(Ordering::Acquire) {
            let mut done = self.backfilled.lock().await;
            if !*done {
                backfill(snap.clone()).await?;
                *done = true;
                self.backfill_done.store(true, Ordering::Release);
            }
        }
        Ok(snap)
    }

    /// Runs `f` with a snapshot; if it refused a row whose key the snapshot lacked, once
    /// more with a fresh snapshot (another process rotated the key).
    pub async fn verify<T, F, B, Fut>(&self, backfill: B, f: F) -> Result<T, StoreError>
    where
        F: Fn(&RowMacs) -> Result<T, StoreError>,
        B: Fn(Arc<RowMacs>) -> Fut,
        Fut: std::future::Future<Output = Result<(), StoreError>>,
    {
        let s = self.get(&backfill).await?;
        match f(&s) {
            Err(StoreError::Integrity(_)) if s.missed.load(Ordering::Relaxed) => {
                let s = self.get(&backfill).await?;
                f(&s)
            }
            r => r,
        }
    }
}

fn keyring(e: crate::kms::KeyringError) -> StoreError {
    match e {
        crate::kms::KeyringError::Store(e) => e,
        e => StoreError::Integrity(format!("the row-MAC key is unavailable: {e}")),
    }
}

/// The stored columns of a token row that its MAC covers.
pub struct TokenRow<'a> {
    /// Token id.
    pub id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// Agent.
    pub agent: &'a str,
    /// SHA-256 of the token.
    pub hash: &'a [u8],
    /// Scopes as stored (JSON).
    pub scopes: &'a str,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
}

impl<'a> TokenRow<'a> {
    /// The columns of a record about to be stored.
    pub fn of(r: &'a TokenRecord, scopes: &'a str) -> Self {
        TokenRow {
            id: &r.id,
            tenant: r.tenant.as_str(),
            agent: &r.agent,
            hash: &r.hash,
            scopes,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

fn opt(v: Option<i64>) -> Vec<u8> {
    match v {
        None => vec![0],
        Some(v) => std::iter::once(1).chain(v.to_be_bytes()).collect(),
    }
}

fn refs<const N: usize>(f: &[Vec<u8>; N]) -> Vec<&[u8]> {
    f.iter().map(Vec::as_slice).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{Role, TenantId};

    fn macs(ids: &[(u32, u8)]) -> RowMacs {
        let keys: BTreeMap<u32, Arc<ServiceKey>> = ids
            .iter()
            .map(|(id, b)| {
                (
                    *id,
                    Arc::new(ServiceKey::for_tests(
                        ServicePurpose::RowMac,
                        crate::KeyId::new(*id).unwrap(),
                        [*b; 32],
                    )),
                )
            })
            .collect();
        RowMacs {
            current: keys.values().next_back().unwrap().clone(),
            keys,
            generation: 0,
            missed: AtomicBool::new(false),
        }
    }

    fn tok() -> TokenRecord {
        TokenRecord {
            id: "t1".into(),
            tenant: TenantId::new("acme").unwrap(),
            agent: "bot".into(),
            name: "n".into(),
            hash: [7; 32],
            scopes: vec![],
            created_at: 1,
            expires_at: Some(9),
            revoked_at: None,
        }
    }

    #[test]
    fn every_authorizing_field_is_bound() {
        let k = macs(&[(1, 1)]);
        let t = tok();
        let tag = k.token(&t, "[\"read\"]");
        assert_eq!(tag.key_id, 1);
        let chk = |k: &RowMacs, t: &TokenRecord, s: &'static str, tag: Option<&[u8]>| {
            k.check_token(&TokenRow::of(t, s), tag, Some(1))
        };
        assert!(chk(&k, &t, "[\"read\"]", Some(&tag.mac)).is_ok());
        assert!(
            chk(&k, &t, "[\"admin\"]", Some(&tag.mac)).is_err(),
            "scopes"
        );
        let mut moved = t.clone();
        moved.tenant = TenantId::new("beta").unwrap();
        assert!(
            chk(&k, &moved, "[\"read\"]", Some(&tag.mac)).is_err(),
            "tenant"
        );
        let mut longer = t.clone();
        longer.expires_at = None;
        assert!(
            chk(&k, &longer, "[\"read\"]", Some(&tag.mac)).is_err(),
            "expiry"
        );
        assert!(chk(&k, &t, "[\"read\"]", None).is_err(), "missing MAC");
        assert!(
            k.check_token(&TokenRow::of(&t, "[\"read\"]"), Some(&tag.mac), None)
                .is_err(),
            "missing key id"
        );
        let other = macs(&[(1, 2)]);
        let e = chk(&other, &t, "[\"read\"]", Some(&tag.mac)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Integrity);
        let m = k.membership("acme", "u", "viewer");
        assert!(k
            .check_membership("acme", "u", "viewer", Some(&m.mac), Some(1))
            .is_ok());
        assert!(k
            .check_membership("acme", "u", "owner", Some(&m.mac), Some(1))
            .is_err());
        let s = SessionRecord {
            id: "s".into(),
            tenant: TenantId::new("acme").unwrap(),
            user: "u".into(),
            role: Role::Viewer,
            created_at: 1,
            expires_at: 2,
            refreshed_at: 1,
            revoked_at: None,
            label: "l".into(),
        };
        let st = k.session(&s);
        let mut owner = s.clone();
        owner.role = Role::Owner;
        assert!(k.check_session(&owner, Some(&st.mac), Some(1)).is_err());
        assert_eq!(format!("{k:?}"), "RowMacs(..)");
    }

    #[test]
    fn old_key_ids_verify_and_unknown_ones_mark_the_snapshot_stale() {
        let old = macs(&[(1, 1)]);
        let t = tok();
        let tag = old.token(&t, "[]");
        let both = macs(&[(1, 1), (2, 2)]);
        assert_eq!(both.token(&t, "[]").key_id, 2, "the newest key signs");
        assert!(both
            .check_token(&TokenRow::of(&t, "[]"), Some(&tag.mac), Some(1))
            .is_ok());
        // A MAC claiming key 2 but made with key 1 is refused.
        assert!(both
            .check_token(&TokenRow::of(&t, "[]"), Some(&tag.mac), Some(2))
            .is_err());
        let newer = both.token(&t, "[]");
        assert!(old
            .check_token(&TokenRow::of(&t, "[]"), Some(&newer.mac), Some(2))
            .is_err());
        assert!(old.missed.load(Ordering::Relaxed));
    }
}
