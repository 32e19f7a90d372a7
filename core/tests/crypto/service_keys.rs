//! The service keyring: keys wrapped by the KEK in the store, never in clear there;
//! rotation keeps old keys verifying until retired; swapped or foreign wraps refused; two
//! real processes starting at once end on one current key.
//!
//! The concurrent processes are this test binary re-invoked on the ignored `child` test.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use tenantguard::kms::{KeyringError, ServiceKeyStore, ServiceKeyring, ServicePurpose};
use tenantguard::{ErrorKind, Guard, KeyId, LocalKeyProvider, MemoryStore, SqliteStore};

const CHILD_DIR: &str = "TG_SVCKEY_CHILD_DIR";
const CHILD_OUT: &str = "TG_SVCKEY_CHILD_OUT";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn mac(key: &[u8; 32], msg: &[u8]) -> Vec<u8> {
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn verify(key: &[u8; 32], msg: &[u8], tag: &[u8]) -> bool {
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(msg);
    m.verify_slice(tag).is_ok()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn keys_are_wrapped_by_the_key_file_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let (first, key_bytes) = rt.block_on(async {
        let (g, cap) = Guard::embedded_with_service(dir.path()).unwrap();
        let k = g
            .service_keys(&cap)
            .unwrap()
            .current(ServicePurpose::RowMac)
            .await
            .unwrap();
        assert_eq!(k.id().get(), 1);
        assert_eq!(format!("{k:?}"), "ServiceKey(row-mac #1, [REDACTED])");
        let s = g
            .service_keys(&cap)
            .unwrap()
            .current(ServicePurpose::SessionSigning)
            .await
            .unwrap();
        assert_ne!(s.expose(), k.expose(), "one key per purpose");
        (k.id(), *k.expose())
    });
    // A fresh guard (a restart) unwraps the same key through the key file.
    rt.block_on(async {
        let (g, cap) = Guard::embedded_with_service(dir.path()).unwrap();
        let k = g
            .service_keys(&cap)
            .unwrap()
            .current(ServicePurpose::RowMac)
            .await
            .unwrap();
        assert_eq!(k.id(), first);
        assert_eq!(k.expose(), &key_bytes);
        let recs = g
            .service_keys(&cap)
            .unwrap()
            .records(ServicePurpose::RowMac)
            .await
            .unwrap();
        assert_eq!(recs.len(), 1);
        assert!(!contains(&recs[0].wrapped, &key_bytes));
    });
    // The database writer's view: the file holds no service key in clear.
    let db = std::fs::read(dir.path().join("tenantguard.db")).unwrap();
    assert!(
        !contains(&db, &key_bytes),
        "service key in clear in the database"
    );
    // Without the key file (another KEK), the stored keys do not unwrap.
    rt.block_on(async {
        let other = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("tenantguard.db")).unwrap());
        let ring = ServiceKeyring::new(
            Arc::new(LocalKeyProvider::open_or_create(other.path().join("keys.json")).unwrap()),
            store,
        );
        let e = ring.current(ServicePurpose::RowMac).await.unwrap_err();
        assert!(
            matches!(e, KeyringError::Kms(_)),
            "a foreign KEK must not unwrap: {e:?}"
        );
    });
}

#[test]
fn a_wrap_swapped_between_purposes_does_not_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let (g, cap) = Guard::embedded_with_service(dir.path()).unwrap();
        g.service_keys(&cap)
            .unwrap()
            .current(ServicePurpose::RowMac)
            .await
            .unwrap();
        g.service_keys(&cap)
            .unwrap()
            .current(ServicePurpose::AuditMac)
            .await
            .unwrap();
    });
    // The database writer copies the audit-MAC key's wrap over the row-MAC key's.
    let conn = rusqlite::Connection::open(dir.path().join("tenantguard.db")).unwrap();
    conn.execute(
        "UPDATE tg_service_keys SET wrapped = (SELECT wrapped FROM tg_service_keys WHERE purpose = 'audit-mac'), \
         kek_id = (SELECT kek_id FROM tg_service_keys WHERE purpose = 'audit-mac') WHERE purpose = 'row-mac'",
        [],
    )
    .unwrap();
    drop(conn);
    rt.block_on(async {
        let (g, cap) = Guard::embedded_with_service(dir.path()).unwrap();
        let e = g
            .service_keys(&cap)
            .unwrap()
            .current(ServicePurpose::RowMac)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Integrity, "{e:?}");
    });
}

#[test]
fn no_tenant_can_take_a_wrap_context_of_the_keyring() {
    for p in ServicePurpose::ALL {
        let e = tenantguard::TenantId::new(format!("_tg-service.{p}")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p}");
    }
    assert!(tenantguard::TenantId::new("tg-service.row-mac").is_ok());
}

#[test]
fn rotation_keeps_old_macs_verifiable_until_retired() {
    let rt = rt();
    rt.block_on(async {
        let g = Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .build_with_service()
            .unwrap();
        let (g, cap) = g;
        let ring = g.service_keys(&cap).unwrap();
        let p = ServicePurpose::RowMac;
        let k1 = ring.current(p).await.unwrap();
        let tag1 = mac(k1.expose(), b"row one");
        let id2 = ring.rotate(p).await.unwrap();
        assert_eq!(id2.get(), 2);
        let k2 = ring.current(p).await.unwrap();
        assert_eq!(k2.id(), id2, "the new key is current");
        assert_ne!(k2.expose(), k1.expose());
        // The old id still verifies what it MACed.
        let old = ring.get(p, k1.id()).await.unwrap();
        assert!(verify(old.expose(), b"row one", &tag1));
        assert!(!verify(k2.expose(), b"row one", &tag1));
        // The current key cannot be retired; an old one can, and is then refused.
        let e = ring.retire(p, id2).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        ring.retire(p, k1.id()).await.unwrap();
        let e = ring.get(p, k1.id()).await.unwrap_err();
        assert!(matches!(e, KeyringError::Retired { .. }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::KeyDestroyed);
        let recs = ring.records(p).await.unwrap();
        assert!(recs[0].wrapped.is_empty(), "retired wrap erased");
        let e = ring.get(p, KeyId::new(9).unwrap()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownKey);
        // Other purposes are untouched.
        assert_eq!(
            ring.current(ServicePurpose::AuditMac)
                .await
                .unwrap()
                .id()
                .get(),
            1
        );
    });
}

#[test]
fn a_rotation_by_another_process_verifies_at_once_here() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    rt.block_on(async {
        let (a, a_cap) = Guard::embedded_with_service(dir.path()).unwrap();
        let (b, b_cap) = Guard::embedded_with_service(dir.path()).unwrap();
        let p = ServicePurpose::RowMac;
        let b1 = b.service_keys(&b_cap).unwrap().current(p).await.unwrap();
        assert_eq!(
            a.service_keys(&a_cap)
                .unwrap()
                .current(p)
                .await
                .unwrap()
                .expose(),
            b1.expose()
        );
        let id2 = a.service_keys(&a_cap).unwrap().rotate(p).await.unwrap();
        let k2 = a.service_keys(&a_cap).unwrap().current(p).await.unwrap();
        // b has not refreshed: its current is still 1, but it finds 2 on demand.
        assert_eq!(
            b.service_keys(&b_cap)
                .unwrap()
                .current(p)
                .await
                .unwrap()
                .id()
                .get(),
            1
        );
        assert_eq!(
            b.service_keys(&b_cap)
                .unwrap()
                .get(p, id2)
                .await
                .unwrap()
                .expose(),
            k2.expose()
        );
        b.service_keys(&b_cap).unwrap().refresh(p).await.unwrap();
        assert_eq!(
            b.service_keys(&b_cap)
                .unwrap()
                .current(p)
                .await
                .unwrap()
                .id(),
            id2
        );
    });
}

/// Another instance's news (`forget`, from a PostgreSQL event) may empty the keyring's cache
/// at any moment, on another thread. Every read must still see the current key: `keys()`
/// once read the cache a second time after making sure it was filled, and returned an
/// empty list ("the keyring has no active row-MAC key") when news arrived in between.
#[test]
fn news_arriving_mid_read_never_leaves_a_reader_without_a_key() {
    let ring = Arc::new(ServiceKeyring::new(
        Arc::new(LocalKeyProvider::ephemeral()),
        Arc::new(MemoryStore::new()),
    ));
    let p = ServicePurpose::RowMac;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(ring.current(p)).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let news = {
        let (ring, stop) = (ring.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ring.forget(Some(p));
            }
        })
    };
    let result = rt.block_on(async {
        for i in 0..20_000 {
            let keys = ring.keys(p).await.unwrap();
            if keys.is_empty() {
                return Err(format!("read {i} saw no active key"));
            }
            ring.current(p).await.unwrap();
        }
        Ok(())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    news.join().unwrap();
    result.unwrap();
}

/// The harness's name of [`child`], the test a spawned process runs: its path inside the
/// test binary (`module::child`), wherever this file's module sits.
fn child_test() -> &'static str {
    let path = concat!(module_path!(), "::child");
    path.split_once("::").map_or(path, |(_crate, test)| test)
}

/// The body of one concurrently started process: opens the embedded guard and prints the
/// SHA-256 of its current row-MAC key (never the key) with its id.
#[test]
#[ignore = "the body of a child process, started by the tests of this file"]
fn child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let out = std::env::var(CHILD_OUT).unwrap();
    let line = rt().block_on(async {
        let (g, cap) = Guard::embedded_with_service(&dir).unwrap();
        let mut line = String::new();
        for p in ServicePurpose::ALL {
            let k = g.service_keys(&cap).unwrap().current(p).await.unwrap();
            use sha2::Digest;
            line.push_str(&format!(
                "{p}:{}:{} ",
                k.id(),
                hex::encode(sha2::Sha256::digest(k.expose()))
            ));
        }
        line
    });
    std::fs::write(out, line).unwrap();
}

fn spawn(dir: &Path, out: &Path) -> std::process::Child {
    crate::rerun::rerun(child_test())
        .args(["--nocapture"])
        .env(CHILD_DIR, dir)
        .env(CHILD_OUT, out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn processes_starting_at_once_share_one_current_key() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let outs: Vec<_> = (0..4)
            .map(|i| dir.path().join(format!("out-{i}")))
            .collect();
        let home = dir.path().join("guard");
        let kids: Vec<_> = outs.iter().map(|o| spawn(&home, o)).collect();
        for mut k in kids {
            assert!(k.wait().unwrap().success(), "round {round}: a child failed");
        }
        let lines: Vec<String> = outs
            .iter()
            .map(|o| std::fs::read_to_string(o).unwrap())
            .collect();
        assert!(
            lines.iter().all(|l| l == &lines[0]),
            "round {round}: processes disagree on the current keys: {lines:?}"
        );
        assert!(lines[0].contains("row-mac:1:"), "{}", lines[0]);
        let rows = rt().block_on(async {
            let store = SqliteStore::open(home.join("tenantguard.db")).unwrap();
            store.service_keys(ServicePurpose::RowMac).await.unwrap()
        });
        assert_eq!(
            rows.len(),
            1,
            "round {round}: one row-mac key, not one per process"
        );
    }
}
