//! Sample data shared by the suites, public so a backend's own tests can build the same
//! rows: contexts, key and record rows, tokens, sessions, audit drafts, service keys.
//!
//! Every constructor panics on an invalid argument (a tenant id with a space...): they
//! are for tests.

use std::sync::{Arc, OnceLock};

use tenantguard::audit::{AuditDraft, PersonalSalt};
use tenantguard::crypto::KeyId;
use tenantguard::kms::{
    ServiceKeyRecord, ServiceKeyState, ServiceKeyStore, ServiceKeyring, ServicePurpose,
};
use tenantguard::store::{
    KeyState, KeyStore, RefreshRecord, SealedRecord, SessionRecord, StoreError, TenantKeyRecord,
    TokenRecord,
};
use tenantguard::tenant::Resolved;
use tenantguard::tokens::{Action, Scope};
use tenantguard::{
    ErrorKind, Guard, LocalKeyProvider, MemoryStore, Role, ServiceRole, TenantContext, TenantId,
    UserId,
};

/// The service capability the suites act with: one of a throwaway guard on a
/// `MemoryStore` (a store never checks which guard a capability came from).
pub fn service() -> &'static ServiceRole {
    static SERVICE: OnceLock<ServiceRole> = OnceLock::new();
    SERVICE.get_or_init(|| {
        Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .build_with_service()
            .map(|(_guard, service)| service)
            .expect("a throwaway guard on a MemoryStore builds")
    })
}

/// Attaches a new service keyring (an ephemeral local key provider, keys kept in `store`)
/// to `store`, as a `Guard` built on it does: a store that MACs its authorization rows
/// (`SqliteStore`, `PostgresStore`) refuses tokens, sessions and memberships without one.
/// The store holds the keyring weakly: keep the returned one alive while the suites run.
pub fn attach_keyring<S: ServiceKeyStore + 'static>(store: &Arc<S>) -> Arc<ServiceKeyring> {
    let ring = Arc::new(ServiceKeyring::new(
        Arc::new(LocalKeyProvider::ephemeral()),
        store.clone(),
    ));
    store.attach_keyring(&ring);
    ring
}

/// A tenant id.
pub fn tenant(id: &str) -> TenantId {
    TenantId::new(id).expect("a valid tenant id")
}

/// A user id.
pub fn user(id: &str) -> UserId {
    UserId::new(id).expect("a valid user id")
}

/// A service-role context for `tenant`.
pub fn ctx(tenant_id: &str) -> TenantContext {
    TenantContext::service(tenant(tenant_id), service())
}

/// A context of `user` acting in `tenant` with the role a resolver vouched for (a store
/// must trust only the role it stores itself).
pub fn user_ctx(tenant_id: &str, user_id: &str, role: Role) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(
        service(),
        tenant(tenant_id),
        user(user_id),
        role,
    ))
}

/// A key version.
pub fn kid(id: u32) -> KeyId {
    KeyId::new(id).expect("a key id above 0")
}

/// A wrapped key record as a key provider would produce it (contents are opaque to stores).
pub fn key_rec(id: u32, state: KeyState, kek: &str) -> TenantKeyRecord {
    TenantKeyRecord {
        key_id: kid(id),
        state,
        kek_id: kek.to_owned(),
        wrapped: vec![id as u8; 60],
        created_at: 1_700_000_000 + id as i64,
    }
}

/// A record whose sealed bytes are distinct per (id, key, version); class `password`,
/// subject `user-1`.
pub fn rec(id: &str, key: u32, version: u8) -> SealedRecord {
    let mut sealed = vec![1u8];
    sealed.extend_from_slice(&key.to_be_bytes());
    sealed.extend_from_slice(id.as_bytes());
    sealed.push(version);
    SealedRecord {
        id: id.to_owned(),
        class: "password".to_owned(),
        subject: Some("user-1".to_owned()),
        key_id: kid(key),
        sealed,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000 + version as i64,
    }
}

/// Creates `tenant` with key 1 active (wrapped under `kek-1`) and returns its service
/// context.
pub async fn new_tenant<S: KeyStore + ?Sized>(store: &S, tenant_id: &str) -> TenantContext {
    let c = ctx(tenant_id);
    store
        .create_tenant(&c, &key_rec(1, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    c
}

/// 32 bytes derived from `label` (FNV-1a, four lanes): distinct labels give distinct
/// token and refresh hashes, so checks never collide on a shared store.
pub fn hash_of(label: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (lane, chunk) in out.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ lane as u64;
        for b in label.bytes().chain([lane as u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        chunk.copy_from_slice(&h.to_be_bytes());
    }
    out
}

/// A live agent token of `tenant` for `agent`, hash [`hash_of`]`(tenant/id)`, two scopes.
pub fn token(id: &str, tenant_id: &str, agent: &str) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        tenant: tenant(tenant_id),
        agent: agent.to_owned(),
        name: format!("token {id}"),
        hash: hash_of(&format!("token:{tenant_id}/{id}")),
        scopes: vec![
            Scope::new("records/password/*", Action::Read),
            Scope::new("tokens", Action::Admin),
        ],
        created_at: 1_700_000_000,
        expires_at: Some(1_900_000_000),
        revoked_at: None,
    }
}

/// A live session of `user` in `tenant`, created at `created_at`, role Member, lasting
/// 1,000,000 seconds.
pub fn session(id: &str, tenant_id: &str, user_id: &str, created_at: i64) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        tenant: tenant(tenant_id),
        user: user_id.to_owned(),
        role: Role::Member,
        created_at,
        expires_at: created_at + 1_000_000,
        refreshed_at: created_at,
        revoked_at: None,
        label: "Mozilla/5.0 (testkit)".to_owned(),
    }
}

/// An unused refresh token of `session` in `tenant`, hash [`hash_of`]`(label)`.
pub fn refresh(label: &str, session_id: &str, tenant_id: &str) -> RefreshRecord {
    RefreshRecord {
        hash: hash_of(&format!("refresh:{label}")),
        session_id: session_id.to_owned(),
        tenant: tenant(tenant_id),
        expires_at: 1_900_000_000,
        used: false,
    }
}

/// An audit draft without MAC and without erasable personal fields (format v1).
pub fn draft(n: u32) -> AuditDraft {
    AuditDraft {
        time: 1_800_000_000 + n as i64,
        actor: "service".into(),
        action: "testkit.event".into(),
        target: format!("target-{n}"),
        reason: None,
        details: [("n".to_owned(), n.to_string())].into_iter().collect(),
        mac_key: None,
        personal_salt: None,
    }
}

/// An audit draft whose actor, target and reason are erasable (format v2, a fixed salt).
pub fn personal_draft(n: u32) -> AuditDraft {
    AuditDraft {
        actor: "user:alice".into(),
        target: format!("records/alice-{n}"),
        reason: Some(format!("support ticket {n}")),
        personal_salt: Some(PersonalSalt::from_bytes([n as u8; 32])),
        ..draft(n)
    }
}

/// An active service key record of `purpose` with made-up wrapped bytes.
pub fn service_key(purpose: ServicePurpose, id: u32, kek: &str) -> ServiceKeyRecord {
    ServiceKeyRecord {
        purpose,
        key_id: kid(id),
        state: ServiceKeyState::Active,
        kek_id: kek.to_owned(),
        wrapped: vec![id as u8; 40],
        created_at: 1_700_000_000 + id as i64,
    }
}

/// The error kind of a result that must be an error.
#[track_caller]
pub fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}
