//! A shredded tenant stays gone when a database backup taken before the shred is restored
//! (the embedded default: local key file + SQLite), embedded files are owner-only, and
//! tenants whose keys predate per-tenant secrets keep opening and move to them on rewrap.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine;
use tenantguard::crypto::{DataKey, SealedValue};
use tenantguard::kms::{KeyProvider, KmsError, ShredReport, WrapContext, WrappedKey};
use tenantguard::store::KeyStore;
use tenantguard::{
    Credential, CredentialKind, ErrorKind, Guard, LocalKeyProvider, SqliteStore, TenantContext,
    TenantId,
};

fn ctx(t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), &tg_cap::cap())
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const DB_FILES: [&str; 3] = ["tenantguard.db", "tenantguard.db-wal", "tenantguard.db-shm"];

/// Copies the database files (taken while no guard is open, like a snapshot).
fn backup(data: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in DB_FILES {
        let _ = std::fs::remove_file(to.join(f));
        if data.join(f).exists() {
            std::fs::copy(data.join(f), to.join(f)).unwrap();
        }
    }
}

/// Puts the database files of a backup back in place.
fn restore(from: &Path, data: &Path) {
    for f in DB_FILES {
        let _ = std::fs::remove_file(data.join(f));
        if from.join(f).exists() {
            std::fs::copy(from.join(f), data.join(f)).unwrap();
        }
    }
}

struct Tenant {
    sealed: SealedValue,
}

async fn populate(g: &Guard, t: &str) -> Tenant {
    let c = ctx(t);
    g.keys().create_tenant(&c).await.unwrap();
    g.records()
        .put_credential(
            &c,
            &format!("{t}-old"),
            &Credential::new(CredentialKind::Password, b"pw-v1".to_vec()),
        )
        .await
        .unwrap();
    g.keys().rotate(&c).await.unwrap();
    g.records()
        .put(&c, &format!("{t}-new"), "notes", None, b"secret notes")
        .await
        .unwrap();
    let sealed = g
        .records()
        .seal(&c, "outside/1", b"held by the app")
        .await
        .unwrap();
    Tenant { sealed }
}

async fn opens(g: &Guard, t: &str, tenant: &Tenant) -> Vec<tenantguard::Result<Vec<u8>>> {
    let c = ctx(t);
    vec![
        g.records()
            .open_record(&c, &format!("{t}-old"))
            .await
            .map(|(_, p)| p.expose().to_vec()),
        g.records()
            .open_record(&c, &format!("{t}-new"))
            .await
            .map(|(_, p)| p.expose().to_vec()),
        g.records()
            .open(&c, "outside/1", &tenant.sealed)
            .await
            .map(|p| p.expose().to_vec()),
    ]
}

fn all_fail_destroyed(results: Vec<tenantguard::Result<Vec<u8>>>) {
    for r in results {
        match r {
            Ok(_) => panic!("a value of the shredded tenant opened"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::KeyDestroyed, "{e}"),
        }
    }
}

#[tokio::test]
async fn a_backup_restored_after_a_shred_opens_nothing_of_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bak = dir.path().join("backup");
    let g = tg_cap::embedded(&data).unwrap();
    let acme = populate(&g, "acme").await;
    let globex = populate(&g, "globex").await;
    assert!(opens(&g, "acme", &acme).await.iter().all(|r| r.is_ok()));
    drop(g);
    backup(&data, &bak);
    let keys_before = std::fs::read(data.join("keys.json")).unwrap();

    let g = tg_cap::embedded(&data).unwrap();
    let report: ShredReport = g.keys().shred(&ctx("acme")).await.unwrap();
    assert!(report.backups_unreadable(), "{report:?}");
    assert!(report.shared_kek_keys.is_empty());
    assert_eq!(report.summary(), "deployment:immediate");
    all_fail_destroyed(opens(&g, "acme", &acme).await);
    drop(g);

    // The attack: the database backup from before the shred is put back.
    restore(&bak, &data);
    let g = tg_cap::embedded(&data).unwrap();
    // The key rows are back (active, wrapped) ...
    let versions = g.keys().versions(&ctx("acme")).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| !v.kek_id.is_empty()));
    // ... but nothing of the tenant opens, and it cannot get a new key either.
    all_fail_destroyed(opens(&g, "acme", &acme).await);
    assert_eq!(
        g.keys().rotate(&ctx("acme")).await.unwrap_err().kind(),
        ErrorKind::KeyDestroyed
    );
    assert_eq!(
        g.records()
            .seal(&ctx("acme"), "x", b"y")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::KeyDestroyed
    );
    // The other tenant is untouched.
    for r in opens(&g, "globex", &globex).await {
        r.unwrap();
    }
    // The KEK rotation job over the restored database does not bring it back.
    let keys = LocalKeyProvider::open(data.join("keys.json")).unwrap();
    keys.rotate_kek().unwrap();
    let _ = g.keys().rewrap(&tg_cap::cap(), None, 100, |_| {}).await;
    drop(g);
    let g = tg_cap::embedded(&data).unwrap();
    all_fail_destroyed(opens(&g, "acme", &acme).await);
    for r in opens(&g, "globex", &globex).await {
        r.unwrap();
    }
    drop(g);

    // What the destruction rests on: a copy of the key file from before the shred, put
    // back with the database backup, does restore the tenant (docs/SECURITY.md: key file
    // backups must follow the shred too). Without it, nothing above could have failed
    // for another reason.
    restore(&bak, &data);
    std::fs::write(data.join("keys.json"), keys_before).unwrap();
    let g = tg_cap::embedded(&data).unwrap();
    assert_eq!(
        opens(&g, "acme", &acme).await[1].as_ref().unwrap(),
        b"secret notes"
    );
}

#[tokio::test]
async fn embedded_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a").join("b");
    let g = tg_cap::embedded(&data).unwrap();
    let acme = populate(&g, "acme").await;
    assert_eq!(mode(&data), 0o700);
    for f in [
        "keys.json",
        "keys.json.lock",
        "tenantguard.db",
        "tenantguard.db-wal",
        "tenantguard.db-shm",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    drop(g);
    // Files and a directory left open to others by an earlier release are restricted.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["tenantguard.db", "tenantguard.db-wal", "tenantguard.db-shm"] {
        if data.join(f).exists() {
            std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let g = tg_cap::embedded(&data).unwrap();
    assert_eq!(mode(&data), 0o700);
    for f in ["tenantguard.db", "tenantguard.db-wal", "tenantguard.db-shm"] {
        if data.join(f).exists() {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    assert!(opens(&g, "acme", &acme).await.iter().all(|r| r.is_ok()));
    // A SqliteStore on its own creates its file owner-only too.
    let p = dir.path().join("solo.db");
    drop(SqliteStore::open(&p).unwrap());
    assert_eq!(mode(&p), 0o600);
}

#[test]
fn the_ephemeral_provider_is_keyed_from_the_os() {
    // Two providers never share a KEK (an all-zero fallback would make them equal).
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = LocalKeyProvider::try_ephemeral().unwrap();
    let b = LocalKeyProvider::ephemeral();
    let ctx = WrapContext {
        tenant: TenantId::new("t").unwrap(),
        key_id: tenantguard::KeyId::FIRST,
    };
    let w = rt
        .block_on(a.wrap(&DataKey::from_bytes([1; 32]), &ctx))
        .unwrap();
    assert_eq!(
        rt.block_on(b.unwrap(&w, &ctx)).unwrap_err(),
        KmsError::WrongContext
    );
}

fn kek_bytes(keys_json: &Path, id: &str) -> [u8; 32] {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys_json).unwrap()).unwrap();
    let k = v["keks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(k["key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// A wrap as releases before per-tenant secrets made it: AES-256-GCM under the KEK alone.
fn legacy_wrap(kek: &[u8; 32], key: &[u8], ctx: &WrapContext) -> Vec<u8> {
    let nonce = [0x42u8; 12];
    let ct = aes_gcm::Aes256Gcm::new_from_slice(kek)
        .unwrap()
        .encrypt(
            &aes_gcm::Nonce::from(nonce),
            Payload {
                msg: key,
                aad: &ctx.aad(),
            },
        )
        .unwrap();
    [nonce.as_slice(), &ct].concat()
}

fn legacy_unwrap(kek: &[u8; 32], wrapped: &[u8], ctx: &WrapContext) -> Option<Vec<u8>> {
    if wrapped.len() != 60 {
        return None;
    }
    aes_gcm::Aes256Gcm::new_from_slice(kek)
        .unwrap()
        .decrypt(
            &aes_gcm::Nonce::try_from(&wrapped[..12]).unwrap(),
            Payload {
                msg: &wrapped[12..],
                aad: &ctx.aad(),
            },
        )
        .ok()
}

/// Turns every key of `t` into the pre-per-tenant form (KEK-only wraps, no secret in the
/// key file), as a database and key file written by an earlier release hold them.
async fn make_legacy(data: &Path, t: &str) {
    let keys_path = data.join("keys.json");
    let provider = LocalKeyProvider::open(&keys_path).unwrap();
    let store = SqliteStore::open(data.join("tenantguard.db")).unwrap();
    let c = ctx(t);
    for k in store.tenant_keys(&c).await.unwrap() {
        let wctx = WrapContext {
            tenant: TenantId::new(t).unwrap(),
            key_id: k.key_id,
        };
        let dk = provider
            .unwrap(
                &WrappedKey {
                    kek_id: k.kek_id.clone(),
                    ciphertext: k.wrapped.clone(),
                },
                &wctx,
            )
            .await
            .unwrap();
        let legacy = legacy_wrap(&kek_bytes(&keys_path, &k.kek_id), dk.expose(), &wctx);
        assert!(store
            .rewrap_key(&c, k.key_id, &k.kek_id, &k.kek_id, &legacy)
            .await
            .unwrap());
    }
    // Drop the tenant's secret from the key file (an earlier release had none).
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys_path).unwrap()).unwrap();
    v["tenants"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["id"] != t);
    std::fs::write(&keys_path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[tokio::test]
async fn legacy_tenants_keep_opening_and_move_to_per_tenant_secrets_on_rewrap() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys_path = data.join("keys.json");
    let g = tg_cap::embedded(&data).unwrap();
    let old = populate(&g, "old").await;
    let old2 = populate(&g, "old2").await;
    drop(g);
    make_legacy(&data, "old").await;
    make_legacy(&data, "old2").await;
    let pre_migration = dir.path().join("pre-migration");
    backup(&data, &pre_migration);

    // Legacy keys open as before.
    let g = tg_cap::embedded(&data).unwrap();
    for (t, v) in [("old", &old), ("old2", &old2)] {
        for r in opens(&g, t, v).await {
            r.unwrap();
        }
    }
    // Shredding a legacy tenant says what it cannot guarantee: both key versions were
    // wrapped under the shared KEK alone.
    let report = g.keys().shred(&ctx("old")).await.unwrap();
    assert!(!report.backups_unreadable());
    assert_eq!(report.shared_kek_keys.len(), 2);
    drop(g);

    // The KEK-rotation job moves the other legacy tenant onto a per-tenant secret.
    let g = tg_cap::embedded(&data).unwrap();
    let r = g
        .keys()
        .rewrap(&tg_cap::cap(), None, 100, |_| {})
        .await
        .unwrap();
    assert_eq!(r.rewrapped, 2, "{r:?}");
    for r in opens(&g, "old2", &old2).await {
        r.unwrap();
    }
    // A second run finds nothing to do (the moved keys count as current).
    let again = g
        .keys()
        .rewrap(&tg_cap::cap(), None, 100, |_| {})
        .await
        .unwrap();
    assert_eq!(again.rewrapped, 0);
    drop(g);
    let post_migration = dir.path().join("post-migration");
    backup(&data, &post_migration);

    let g = tg_cap::embedded(&data).unwrap();
    let report = g.keys().shred(&ctx("old2")).await.unwrap();
    assert!(report.backups_unreadable(), "{report:?}");
    drop(g);
    let after_shred = dir.path().join("after-shred");
    backup(&data, &after_shred);

    // A backup taken after the migration: its wraps need the destroyed secret; even
    // someone holding the key file cannot open them with the KEK alone.
    restore(&post_migration, &data);
    let g = tg_cap::embedded(&data).unwrap();
    all_fail_destroyed(opens(&g, "old2", &old2).await);
    let store = SqliteStore::open(data.join("tenantguard.db")).unwrap();
    let kek1 = kek_bytes(&keys_path, "kek-1");
    for k in store.tenant_keys(&ctx("old2")).await.unwrap() {
        let wctx = WrapContext {
            tenant: TenantId::new("old2").unwrap(),
            key_id: k.key_id,
        };
        assert!(legacy_unwrap(&kek1, &k.wrapped, &wctx).is_none());
    }
    drop(g);

    // A backup taken before the migration still holds KEK-only wraps: that is the old
    // guarantee (docs/SECURITY.md). Rotating the KEK, re-wrapping and removing the old KEK
    // closes it.
    restore(&pre_migration, &data);
    let store = SqliteStore::open(data.join("tenantguard.db")).unwrap();
    let legacy_rows = store.tenant_keys(&ctx("old2")).await.unwrap();
    drop(store);
    let wctx = |k: &tenantguard::store::TenantKeyRecord| WrapContext {
        tenant: TenantId::new("old2").unwrap(),
        key_id: k.key_id,
    };
    assert!(legacy_unwrap(&kek1, &legacy_rows[0].wrapped, &wctx(&legacy_rows[0])).is_some());
    restore(&after_shred, &data);
    let keys = LocalKeyProvider::open(&keys_path).unwrap();
    keys.rotate_kek().unwrap();
    let g = tg_cap::embedded(&data).unwrap();
    // (old2's keys are destroyed in the live database; the job re-wraps the others.)
    g.keys()
        .rewrap(&tg_cap::cap(), None, 100, |_| {})
        .await
        .unwrap();
    keys.remove_kek("kek-1").unwrap();
    drop(g);
    restore(&pre_migration, &data);
    let g = tg_cap::embedded(&data).unwrap();
    all_fail_destroyed_or_unknown_kek(opens(&g, "old2", &old2).await);
}

fn all_fail_destroyed_or_unknown_kek(results: Vec<tenantguard::Result<Vec<u8>>>) {
    for r in results {
        match r {
            Ok(_) => panic!("a value of the shredded tenant opened"),
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::KeyDestroyed | ErrorKind::KeyProvider),
                "{e}"
            ),
        }
    }
}

/// A tenant that brought its own key is shredded at that key provider too, whatever its
/// key rows say at the time of the shred: it may have moved back to the deployment
/// provider since, or a database writer may have edited the KEK ids so that no row names
/// the provider any more. Otherwise the tenant's material at that provider survives, and a
/// database backup from the time the provider wrapped its keys opens after the shred.
#[tokio::test]
async fn a_byok_tenant_is_shredded_at_its_provider_whatever_its_key_rows_say() {
    for case in ["moved back", "kek ids edited"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let bak = dir.path().join("backup");
        let own = dir.path().join("acme-own.json");
        let build = || {
            Guard::embedded_builder(&data)
                .unwrap()
                .tenant_key_provider("acme-own", LocalKeyProvider::open_or_create(&own).unwrap())
                .allow_tenant_key_provider("acme-own", TenantId::new("acme").unwrap())
                .build_with_service()
                .map(tg_cap::keep)
                .unwrap()
        };
        let g = build();
        let acme = populate(&g, "acme").await;
        g.keys()
            .set_provider(&ctx("acme"), Some("acme-own"))
            .await
            .unwrap();
        drop(g);
        // The backup holds the tenant's keys wrapped by its own provider.
        backup(&data, &bak);
        match case {
            "moved back" => {
                let g = build();
                g.keys().set_provider(&ctx("acme"), None).await.unwrap();
            }
            _ => {
                // The attack: the KEK ids lose their provider tag before the shred.
                let db = rusqlite::Connection::open(data.join("tenantguard.db")).unwrap();
                let n = db
                    .execute(
                        "UPDATE tg_tenant_keys SET kek_id = substr(kek_id, instr(kek_id, '/') + 1) \
                         WHERE tenant_id = 'acme'",
                        [],
                    )
                    .unwrap();
                assert_eq!(n, 2);
            }
        }
        let g = build();
        assert_eq!(
            g.keys().provider(&ctx("acme")).await.unwrap(),
            None,
            "{case}"
        );
        let report = g.keys().shred(&ctx("acme")).await.unwrap();
        assert_eq!(
            report.summary(),
            "deployment:immediate,acme-own:immediate",
            "{case}"
        );
        drop(g);

        restore(&bak, &data);
        let g = build();
        assert_eq!(
            g.keys().provider(&ctx("acme")).await.unwrap().as_deref(),
            Some("acme-own"),
            "{case}: the backup is back"
        );
        all_fail_destroyed(opens(&g, "acme", &acme).await);
    }
}
