//! A second process still holding a tenant key in its cache (the embedded default: local
//! key file + SQLite, no cross-process news of a rotation) while this process rotates,
//! re-encrypts and retires that key: the other process's write afterwards is either
//! stored under a key that opens, or refused; never stored under a destroyed key and lost.
//!
//! The other process is this test binary re-invoked on the ignored `writer` test.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tenantguard::{Guard, TenantContext, TenantId};

const DIR: &str = "TG_STALE_KEY_DIR";

fn writer_test() -> &'static str {
    let path = concat!(module_path!(), "::writer");
    path.split_once("::").map_or(path, |(_crate, test)| test)
}

/// Waits (generously) for `file` to exist; the verdict never depends on how long it took.
fn wait_for(file: &Path) {
    let start = Instant::now();
    while !file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The other process: stores `b-1` (its guard now caches the active key), signals `ready`,
/// waits for `go`, stores `b-2` with the key it still caches and writes the outcome.
#[test]
#[ignore = "the body of a child process, started by the tests of this file"]
fn writer() {
    let Ok(dir) = std::env::var(DIR) else {
        return;
    };
    let dir = Path::new(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (g, cap) = Guard::embedded_with_service(dir.join("data")).unwrap();
        let c = TenantContext::service(TenantId::new("acme").unwrap(), &cap);
        g.records()
            .put(&c, "b-1", "notes", None, b"first")
            .await
            .unwrap();
        std::fs::write(dir.join("ready"), b"").unwrap();
        wait_for(&dir.join("go"));
        let outcome = match g.records().put(&c, "b-2", "notes", None, b"second").await {
            Ok(()) => "stored".to_owned(),
            Err(e) => format!("refused {:?}", e.kind()),
        };
        std::fs::write(dir.join("outcome"), outcome).unwrap();
    });
}

async fn race(shred: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (g, cap) = Guard::embedded_with_service(dir.path().join("data")).unwrap();
    let c = TenantContext::service(TenantId::new("acme").unwrap(), &cap);
    g.keys().create_tenant(&c).await.unwrap();
    let mut child = crate::rerun::rerun(writer_test())
        .args(["-q"])
        .env(DIR, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_for(&dir.path().join("ready"));
    if shred {
        g.keys().shred(&c).await.unwrap();
    } else {
        let new = g.keys().rotate(&c).await.unwrap();
        let report = g.keys().reencrypt_all(&c, 100, |_| ()).await.unwrap();
        assert_eq!(report.moved, 1);
        g.keys()
            .retire(&c, tenantguard::crypto::KeyId::new(new.get() - 1).unwrap())
            .await
            .unwrap();
    }
    std::fs::write(dir.path().join("go"), b"").unwrap();
    assert!(child.wait().unwrap().success());
    let outcome = std::fs::read_to_string(dir.path().join("outcome")).unwrap();
    if !shred {
        // A fresh guard (no cache): every record the writer was told is stored opens.
        drop(g);
        let (g, cap) = Guard::embedded_with_service(dir.path().join("data")).unwrap();
        let c = TenantContext::service(TenantId::new("acme").unwrap(), &cap);
        let ids: &[&str] = if outcome == "stored" {
            &["b-1", "b-2"]
        } else {
            &["b-1"]
        };
        for id in ids {
            let (_, plain) = g
                .records()
                .open_record(&c, id)
                .await
                .unwrap_or_else(|e| panic!("{id} ({outcome}) lost: {e}"));
            assert!(!plain.expose().is_empty());
        }
    }
    outcome
}

#[tokio::test]
async fn a_write_with_a_key_another_process_retired_is_not_lost() {
    let outcome = race(false).await;
    // The writer's guard learns of the retirement and stores under the active key.
    assert_eq!(outcome, "stored");
}

#[tokio::test]
async fn a_write_with_a_key_of_a_tenant_another_process_shredded_is_refused() {
    let outcome = race(true).await;
    assert_eq!(outcome, "refused KeyDestroyed");
}
