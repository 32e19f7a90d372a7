//! Per-tenant bring-your-own-key and multi-provider KEK rotation, with local providers
//! standing in for KMSs (the real ones are tested in core/kms/tests).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tenantguard::crypto::DataKey;
use tenantguard::kms::{KeyProvider, KmsError, WrapContext, WrappedKey};
use tenantguard::{
    ErrorKind, Guard, LocalKeyProvider, MemoryStore, Store, TenantContext, TenantId,
};

/// A local provider whose KEK can be "revoked", like disabling a key in a KMS, and which
/// counts its calls.
struct Revocable {
    inner: LocalKeyProvider,
    revoked: AtomicBool,
    unwraps: AtomicU64,
    wraps: AtomicU64,
}

impl Revocable {
    fn new() -> Arc<Self> {
        Arc::new(Revocable {
            inner: LocalKeyProvider::ephemeral(),
            revoked: AtomicBool::new(false),
            unwraps: AtomicU64::new(0),
            wraps: AtomicU64::new(0),
        })
    }
}

#[async_trait::async_trait]
impl KeyProvider for Revocable {
    fn name(&self) -> &str {
        "revocable"
    }
    async fn current_kek(&self) -> Result<String, KmsError> {
        self.inner.current_kek().await
    }
    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        self.wraps.fetch_add(1, Ordering::SeqCst);
        if self.revoked.load(Ordering::SeqCst) {
            return Err(KmsError::AccessDenied("key is disabled".into()));
        }
        self.inner.wrap(key, ctx).await
    }
    async fn unwrap(&self, w: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        if self.revoked.load(Ordering::SeqCst) {
            return Err(KmsError::AccessDenied("key is disabled".into()));
        }
        self.inner.unwrap(w, ctx).await
    }
}

struct Setup {
    store: Arc<dyn Store>,
    deployment: Arc<LocalKeyProvider>,
    acme: Arc<Revocable>,
}

impl Setup {
    fn new() -> Self {
        Setup {
            store: Arc::new(MemoryStore::new()),
            deployment: Arc::new(LocalKeyProvider::ephemeral()),
            acme: Revocable::new(),
        }
    }
    /// A guard as one process would build it (a fresh one has a cold cache).
    fn guard(&self) -> Guard {
        Guard::builder()
            .key_provider_arc(self.deployment.clone())
            .tenant_key_provider_arc("acme-kms", self.acme.clone())
            .allow_tenant_key_provider("acme-kms", TenantId::new("acme").unwrap())
            .allow_tenant_key_provider("acme-kms", TenantId::new("t2").unwrap())
            .store_arc(self.store.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    }
    fn ctx(&self, t: &str) -> TenantContext {
        TenantContext::service(TenantId::new(t).unwrap(), &tg_cap::cap())
    }
}

#[tokio::test]
async fn tenant_moves_to_its_own_key_and_revocation_locks_only_it_out() {
    let s = Setup::new();
    let g = s.guard();
    let (acme, globex) = (s.ctx("acme"), s.ctx("globex"));
    g.keys().create_tenant(&acme).await.unwrap();
    g.keys().create_tenant(&globex).await.unwrap();
    g.records()
        .put(&acme, "a1", "note", None, b"acme v1")
        .await
        .unwrap();
    g.keys().rotate(&acme).await.unwrap();
    g.records()
        .put(&acme, "a2", "note", None, b"acme v2")
        .await
        .unwrap();
    g.records()
        .put(&globex, "g1", "note", None, b"globex")
        .await
        .unwrap();
    let sealed_before = s
        .store
        .get_record(&acme, "a1")
        .await
        .unwrap()
        .unwrap()
        .sealed;
    assert_eq!(g.keys().provider(&acme).await.unwrap(), None);

    // Move acme to its own KMS key: both of its key versions are re-wrapped, nothing else.
    let r = g
        .keys()
        .set_provider(&acme, Some("acme-kms"))
        .await
        .unwrap();
    assert_eq!((r.rewrapped, r.current), (2, 0));
    assert_eq!(
        g.keys().provider(&acme).await.unwrap().as_deref(),
        Some("acme-kms")
    );
    for k in g.keys().versions(&acme).await.unwrap() {
        assert_eq!(k.kek_id, "@acme-kms/kek-1");
    }
    for k in g.keys().versions(&globex).await.unwrap() {
        assert_eq!(k.kek_id, "kek-1");
    }
    assert_eq!(
        s.store
            .get_record(&acme, "a1")
            .await
            .unwrap()
            .unwrap()
            .sealed,
        sealed_before,
        "records untouched"
    );
    // The move is in acme's audit log (and nowhere else).
    let audit = g.audit().entries(&acme, 0, 100).await.unwrap();
    let moved = audit
        .iter()
        .find(|e| e.action == "key.rewrap")
        .expect("audited");
    assert_eq!(moved.target, "kek:@acme-kms/kek-1");
    assert_eq!(
        moved.details.get("provider").map(String::as_str),
        Some("acme-kms")
    );
    assert_eq!(
        moved.details.get("rewrapped").map(String::as_str),
        Some("2")
    );
    assert!(!g
        .audit()
        .entries(&globex, 0, 100)
        .await
        .unwrap()
        .iter()
        .any(|e| e.action == "key.rewrap"));
    // Idempotent.
    let r = g
        .keys()
        .set_provider(&acme, Some("acme-kms"))
        .await
        .unwrap();
    assert_eq!((r.rewrapped, r.current), (0, 2));

    // Data opens through the tenant's provider; new key versions go to it too.
    let g2 = s.guard();
    assert_eq!(
        g2.records()
            .open_record(&acme, "a1")
            .await
            .unwrap()
            .1
            .expose(),
        b"acme v1"
    );
    assert!(s.acme.unwraps.load(Ordering::SeqCst) >= 1);
    g2.keys().rotate(&acme).await.unwrap();
    assert!(g2
        .keys()
        .versions(&acme)
        .await
        .unwrap()
        .iter()
        .all(|k| k.kek_id.starts_with("@acme-kms/")));

    // The tenant revokes its key: a process with a cold cache can no longer open its data.
    s.acme.revoked.store(true, Ordering::SeqCst);
    let g3 = s.guard();
    let err = g3.records().open_record(&acme, "a2").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyProvider);
    assert!(err.to_string().contains("denied"), "{err}");
    assert_eq!(
        g3.records()
            .seal(&acme, "x", b"y")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::KeyProvider
    );
    // Other tenants are unaffected.
    assert_eq!(
        g3.records()
            .open_record(&globex, "g1")
            .await
            .unwrap()
            .1
            .expose(),
        b"globex"
    );

    // Restored: back to normal; and the tenant can move back to the deployment key.
    s.acme.revoked.store(false, Ordering::SeqCst);
    let r = g3.keys().set_provider(&acme, None).await.unwrap();
    assert_eq!(r.rewrapped, 3);
    assert!(g3
        .keys()
        .versions(&acme)
        .await
        .unwrap()
        .iter()
        .all(|k| k.kek_id == "kek-1"));
    assert_eq!(
        s.guard()
            .records()
            .open_record(&acme, "a2")
            .await
            .unwrap()
            .1
            .expose(),
        b"acme v2"
    );
}

#[tokio::test]
async fn unknown_provider_names_are_refused() {
    let s = Setup::new();
    let g = s.guard();
    let acme = s.ctx("acme");
    g.keys().create_tenant(&acme).await.unwrap();
    let err = g
        .keys()
        .set_provider(&acme, Some("nope"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let bad = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .tenant_key_provider("Bad Name", LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep);
    assert_eq!(bad.unwrap_err().kind(), ErrorKind::Config);
    // A process that lacks the tenant's provider fails clearly instead of misrouting.
    g.keys()
        .set_provider(&acme, Some("acme-kms"))
        .await
        .unwrap();
    let lacking = Guard::builder()
        .key_provider_arc(s.deployment.clone())
        .store_arc(s.store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let err = lacking.records().seal(&acme, "x", b"y").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("acme-kms"), "{err}");
}

#[tokio::test]
async fn kek_rotation_rewraps_each_key_under_its_own_provider_resumably() {
    let s = Setup::new();
    let g = s.guard();
    for t in ["t1", "t2", "t3", "t4"] {
        g.keys().create_tenant(&s.ctx(t)).await.unwrap();
        g.records()
            .put(&s.ctx(t), &format!("{t}-r"), "note", None, t.as_bytes())
            .await
            .unwrap();
    }
    g.keys()
        .set_provider(&s.ctx("t2"), Some("acme-kms"))
        .await
        .unwrap();

    // Both providers rotate their KEK.
    s.deployment.rotate_kek().unwrap();
    s.acme.inner.rotate_kek().unwrap();

    // The first run fails at t2 (its KMS is unreachable) after finishing t1; the progress
    // callback saw t1 done, and a second run resumes from there.
    let service = &*tg_cap::cap();
    s.acme.revoked.store(true, Ordering::SeqCst);
    let mut seen = None;
    let err = g
        .keys()
        .rewrap(service, None, 1, |r| seen = r.last_tenant.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyProvider);
    assert_eq!(seen.as_ref().map(TenantId::as_str), Some("t1"));
    assert_eq!(
        g.keys().versions(&s.ctx("t1")).await.unwrap()[0].kek_id,
        "kek-2"
    );
    assert_eq!(
        g.keys().versions(&s.ctx("t3")).await.unwrap()[0].kek_id,
        "kek-1"
    );
    s.acme.revoked.store(false, Ordering::SeqCst);
    let rest = g.keys().rewrap(service, seen, 1, |_| {}).await.unwrap();
    assert_eq!((rest.tenants, rest.rewrapped, rest.current), (3, 3, 0));
    // Each tenant's audit log names the KEK its keys moved to.
    let t2 = g.audit().entries(&s.ctx("t2"), 0, 100).await.unwrap();
    assert!(
        t2.iter()
            .any(|e| e.action == "key.rewrap" && e.target == "kek:@acme-kms/kek-2"),
        "{t2:?}"
    );
    let t3 = g.audit().entries(&s.ctx("t3"), 0, 100).await.unwrap();
    assert!(
        t3.iter()
            .any(|e| e.action == "key.rewrap" && e.target == "kek:kek-2"),
        "{t3:?}"
    );
    // Idempotent: a full rerun finds everything current.
    let again = g.keys().rewrap(service, None, 10, |_| {}).await.unwrap();
    assert_eq!((again.tenants, again.rewrapped, again.current), (4, 0, 4));
    for t in ["t1", "t3", "t4"] {
        assert_eq!(
            g.keys().versions(&s.ctx(t)).await.unwrap()[0].kek_id,
            "kek-2"
        );
    }
    assert_eq!(
        g.keys().versions(&s.ctx("t2")).await.unwrap()[0].kek_id,
        "@acme-kms/kek-2"
    );

    // Old KEKs removed: everything still opens with a cold cache (tenant keys and the
    // service keyring, whose audit-mac key every audited open needs, were re-wrapped).
    s.deployment.remove_kek("kek-1").unwrap();
    s.acme.inner.remove_kek("kek-1").unwrap();
    let cold = s.guard();
    for t in ["t1", "t2", "t3", "t4"] {
        assert_eq!(
            cold.records()
                .open_record(&s.ctx(t), &format!("{t}-r"))
                .await
                .unwrap()
                .1
                .expose(),
            t.as_bytes()
        );
    }
}

/// A database writer tags another tenant's active key with a customer's own provider
/// (`@acme-kms/...`): the next key version of that tenant would be wrapped by acme's KMS,
/// which acme's owner controls, handing them the other tenant's new data key. Only a
/// provider the tenant is allowed may wrap its keys.
#[tokio::test]
async fn a_forged_provider_tag_does_not_send_another_tenants_keys_to_that_provider() {
    let s = Setup::new();
    let g = s.guard();
    let globex = s.ctx("globex");
    g.keys().create_tenant(&globex).await.unwrap();
    g.records()
        .put(&globex, "g1", "note", None, b"globex")
        .await
        .unwrap();
    // The attack: the KEK id of globex's active key gets acme's provider tag.
    let k = s.store.tenant_keys(&globex).await.unwrap().remove(0);
    assert!(s
        .store
        .rewrap_key(&globex, k.key_id, &k.kek_id, "@acme-kms/kek-1", &k.wrapped)
        .await
        .unwrap());
    let wraps_before = s.acme.wraps.load(Ordering::SeqCst);
    // A rotation (what an operator tries when a tenant's key misbehaves) is refused ...
    let err = g.keys().rotate(&globex).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert_eq!(s.acme.wraps.load(Ordering::SeqCst), wraps_before);
    assert_eq!(g.keys().versions(&globex).await.unwrap().len(), 1);
    // ... and putting the tag back restores the tenant.
    assert!(s
        .store
        .rewrap_key(&globex, k.key_id, "@acme-kms/kek-1", &k.kek_id, &k.wrapped)
        .await
        .unwrap());
    g.keys().rotate(&globex).await.unwrap();
    assert_eq!(s.acme.wraps.load(Ordering::SeqCst), wraps_before);
    assert!(g
        .keys()
        .versions(&globex)
        .await
        .unwrap()
        .iter()
        .all(|v| !v.kek_id.starts_with('@')));
    assert_eq!(
        s.guard()
            .records()
            .open_record(&globex, "g1")
            .await
            .unwrap()
            .1
            .expose(),
        b"globex"
    );
}
