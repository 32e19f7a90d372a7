//! Helpers shared by the provider tests.
#![allow(dead_code)]

use std::time::Duration;

use tenantguard::crypto::DataKey;
use tenantguard::kms::{RetryPolicy, WrapContext};
use tenantguard::{KeyId, TenantId};

/// The value of `var`, or None after printing why the test is skipped.
pub fn env_or_skip(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            // Written to stderr directly, so the test harness does not swallow it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {var} is not set, so this {what} test did not run (run `scripts/kms.sh test`, or `scripts/kms.sh start` and `source target/kms/kms.env` first)."
            );
            None
        }
    }
}

/// A wrap context.
pub fn wctx(tenant: &str, key: u32) -> WrapContext {
    WrapContext {
        tenant: TenantId::new(tenant).unwrap(),
        key_id: KeyId::new(key).unwrap(),
    }
}

/// A fresh random data key.
pub fn data_key() -> DataKey {
    DataKey::generate().unwrap()
}

/// A unique suffix for names created on a shared server.
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    format!(
        "{prefix}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Short retries so failure tests finish fast.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        call_timeout: Duration::from_millis(500),
    }
}

/// A loopback address where nothing listens (a port bound then released).
pub fn dead_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    format!("http://{a}")
}

/// A loopback server that accepts connections and never answers; keep the guard alive.
pub async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (format!("http://{a}"), h)
}

/// The crypto-shredding proof against a real provider: a database backup (the SQLite file)
/// taken before a tenant is shredded, restored afterwards, opens nothing of the tenant;
/// the other tenant is untouched; a tenant wrapped under the shared key (`legacy`) keeps
/// opening with the per-tenant provider and moves to its own key on rewrap. Returns the
/// shred report and the tenants (shredded, kept, migrated) for provider-specific checks.
pub async fn shred_backup_restore_proof(
    tenant_keys: std::sync::Arc<dyn tenantguard::KeyProvider>,
    legacy: std::sync::Arc<dyn tenantguard::KeyProvider>,
) -> (tenantguard::kms::ShredReport, [String; 3]) {
    use std::sync::Arc;
    use tenantguard::{ErrorKind, Guard, SqliteStore, TenantContext};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tg.db");
    let files = |d: &std::path::Path| {
        ["tg.db", "tg.db-wal", "tg.db-shm"]
            .into_iter()
            .map(|f| d.join(f))
            .collect::<Vec<_>>()
    };
    let copy_all = |from: &std::path::Path, to: &std::path::Path| {
        std::fs::create_dir_all(to).unwrap();
        for (a, b) in files(from).into_iter().zip(files(to)) {
            let _ = std::fs::remove_file(&b);
            if a.exists() {
                std::fs::copy(&a, &b).unwrap();
            }
        }
    };
    let guard = |p: &Arc<dyn tenantguard::KeyProvider>| {
        Guard::builder()
            .key_provider_arc(p.clone())
            .store(SqliteStore::open(&db).unwrap())
            .build_with_service()
            .map(crate::tg_cap::keep)
            .unwrap()
    };
    // Each guard opens its own store: contexts come from the latest guard's capability.
    let ctx = |t: &str| TenantContext::service(TenantId::new(t).unwrap(), &crate::tg_cap::cap());
    let (acme, globex, old) = (unique("acme"), unique("globex"), unique("old"));

    // A tenant from before per-tenant keys.
    let g = guard(&legacy);
    g.keys().create_tenant(&ctx(&old)).await.unwrap();
    g.records()
        .put(&ctx(&old), &format!("{old}-r"), "notes", None, b"old data")
        .await
        .unwrap();
    drop(g);

    let g = guard(&tenant_keys);
    let mut sealed = Vec::new();
    for t in [&acme, &globex] {
        let c = ctx(t);
        g.keys().create_tenant(&c).await.unwrap();
        g.records()
            .put(&c, &format!("{t}-1"), "notes", None, b"v1 data")
            .await
            .unwrap();
        g.keys().rotate(&c).await.unwrap();
        g.records()
            .put(&c, &format!("{t}-2"), "notes", None, b"v2 data")
            .await
            .unwrap();
        sealed.push(
            g.records()
                .seal(&c, "outside", b"held by the app")
                .await
                .unwrap(),
        );
        for k in g.keys().versions(&c).await.unwrap() {
            assert!(
                tenant_keys.tenant_bound(&tenantguard::kms::WrappedKey {
                    kek_id: k.kek_id.clone(),
                    ciphertext: Vec::new(),
                }) || tenant_keys.name() == "local",
                "{}",
                k.kek_id
            );
        }
    }
    // The legacy tenant opens, and the KEK-rotation job moves it to its own key.
    let (_, p) = g
        .records()
        .open_record(&ctx(&old), &format!("{old}-r"))
        .await
        .unwrap();
    assert_eq!(p.expose(), b"old data");
    let r = g
        .keys()
        .rewrap(&crate::tg_cap::cap(), None, 1000, |_| {})
        .await
        .unwrap();
    assert!(r.rewrapped >= 1, "{r:?}");
    let (_, p) = g
        .records()
        .open_record(&ctx(&old), &format!("{old}-r"))
        .await
        .unwrap();
    assert_eq!(p.expose(), b"old data");
    drop(g);

    let bak = dir.path().join("backup");
    copy_all(dir.path(), &bak);

    let g = guard(&tenant_keys);
    let report = g.keys().shred(&ctx(&acme)).await.unwrap();
    assert!(report.backups_unreadable(), "{report:?}");
    // Idempotent.
    g.keys().shred(&ctx(&acme)).await.unwrap();
    drop(g);

    // The attack: the pre-shred backup is restored.
    copy_all(&bak, dir.path());
    let g = guard(&tenant_keys);
    assert_eq!(g.keys().versions(&ctx(&acme)).await.unwrap().len(), 2);
    let a = ctx(&acme);
    for id in [format!("{acme}-1"), format!("{acme}-2")] {
        let e = g.records().open_record(&a, &id).await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::KeyProvider | ErrorKind::KeyDestroyed),
            "{id}: {e}"
        );
    }
    assert!(g.records().open(&a, "outside", &sealed[0]).await.is_err());
    assert!(g.records().seal(&a, "x", b"y").await.is_err());
    // The other tenant (and the migrated one) are untouched.
    let b = ctx(&globex);
    for (id, want) in [
        (format!("{globex}-1"), "v1 data"),
        (format!("{globex}-2"), "v2 data"),
    ] {
        assert_eq!(
            g.records().open_record(&b, &id).await.unwrap().1.expose(),
            want.as_bytes()
        );
    }
    assert_eq!(
        g.records()
            .open(&b, "outside", &sealed[1])
            .await
            .unwrap()
            .expose(),
        b"held by the app"
    );
    let (_, p) = g
        .records()
        .open_record(&ctx(&old), &format!("{old}-r"))
        .await
        .unwrap();
    assert_eq!(p.expose(), b"old data");
    (report, [acme, globex, old])
}
