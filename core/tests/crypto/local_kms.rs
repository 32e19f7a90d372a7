//! `LocalKeyProvider`: key-file safety, corruption handling, context binding, KEK rotation.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tenantguard::crypto::{DataKey, KeyId};
use tenantguard::kms::{KeyProvider, KmsError, WrapContext, WrappedKey};
use tenantguard::{ErrorKind, LocalKeyProvider, TenantId};

fn wctx(tenant: &str, key_id: u32) -> WrapContext {
    WrapContext {
        tenant: TenantId::new(tenant).unwrap(),
        key_id: KeyId::new(key_id).unwrap(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write_0600(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn key_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("keys.json")
}

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32

#[tokio::test]
async fn key_file_is_created_owner_only_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let p = LocalKeyProvider::open_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["format"], "tenantguard-local-kek/1");
    assert_eq!(json["current"], "kek-1");
    assert_eq!(p.kek_ids(), vec!["kek-1".to_owned()]);
    assert_eq!(p.current_kek().await.unwrap(), "kek-1");
    assert_eq!(p.name(), "local");
    assert!(
        !format!("{p:?}").contains(json["keks"][0]["key"].as_str().unwrap()),
        "Debug shows no key"
    );

    let dk = DataKey::from_bytes([0x11; 32]);
    let w = p.wrap(&dk, &wctx("acme", 1)).await.unwrap();
    assert_eq!(w.kek_id, "kek-1");
    assert_eq!(w.ciphertext.len(), 1 + 12 + 32 + 16);
    assert!(
        !w.ciphertext.windows(8).any(|win| win == [0x11; 8]),
        "wrapped form holds no plaintext key"
    );
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
        &[0x11; 32]
    );
    // Two wraps of one key differ (random nonce).
    assert_ne!(
        p.wrap(&dk, &wctx("acme", 1)).await.unwrap().ciphertext,
        w.ciphertext
    );

    // Reopened from the file (both ways), the same KEK unwraps it.
    drop(p);
    let p = LocalKeyProvider::open(&path).unwrap();
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
        &[0x11; 32]
    );
    let p = LocalKeyProvider::open_or_create(&path).unwrap();
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
        &[0x11; 32]
    );
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn group_or_world_accessible_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    drop(LocalKeyProvider::open_or_create(&path).unwrap());
    for bad in [0o644, 0o640, 0o604, 0o660, 0o610, 0o601, 0o666] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
        let err = LocalKeyProvider::open(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "mode {bad:o}");
        assert!(err.to_string().contains("chmod 600"), "mode {bad:o}: {err}");
        assert_eq!(
            LocalKeyProvider::open_or_create(&path).unwrap_err().kind(),
            ErrorKind::Config
        );
    }
    for ok in [0o600, 0o400] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(ok)).unwrap();
        assert!(LocalKeyProvider::open(&path).is_ok(), "mode {ok:o}");
    }
}

#[tokio::test]
async fn missing_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalKeyProvider::open(dir.path().join("absent.json")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn corrupted_files_are_refused_with_a_clear_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let entry = |id: &str, key: &str| format!(r#"{{"id":"{id}","key":"{key}"}}"#);
    let file = |format: &str, current: &str, keks: &[String]| {
        format!(
            r#"{{"format":"{format}","current":"{current}","keks":[{}]}}"#,
            keks.join(",")
        )
    };
    let fmt = "tenantguard-local-kek/1";
    let good = file(fmt, "kek-1", &[entry("kek-1", KEY_B64)]);
    write_0600(&path, &good);
    assert!(
        LocalKeyProvider::open(&path).is_ok(),
        "the base file is valid"
    );

    let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="; // 31 bytes
    let long = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"; // 33 bytes
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty file", String::new(), "corrupted"),
        ("bad json", "{\"format\":".to_owned(), "corrupted"),
        ("not an object", "[1,2,3]".to_owned(), "corrupted"),
        ("binary junk", "\u{0}\u{1}\u{2}".to_owned(), "corrupted"),
        (
            "missing current field",
            format!(
                r#"{{"format":"{fmt}","keks":[{}]}}"#,
                entry("kek-1", KEY_B64)
            ),
            "corrupted",
        ),
        (
            "missing keks field",
            format!(r#"{{"format":"{fmt}","current":"kek-1"}}"#),
            "corrupted",
        ),
        (
            "wrong format string",
            file(
                "tenantguard-local-kek/3",
                "kek-1",
                &[entry("kek-1", KEY_B64)],
            ),
            "format",
        ),
        (
            "bad base64",
            file(fmt, "kek-1", &[entry("kek-1", "not base64!!")]),
            "base64",
        ),
        (
            "wrong key length (31)",
            file(fmt, "kek-1", &[entry("kek-1", short)]),
            "32 bytes",
        ),
        (
            "wrong key length (33)",
            file(fmt, "kek-1", &[entry("kek-1", long)]),
            "32 bytes",
        ),
        (
            "current not in file",
            file(fmt, "kek-9", &[entry("kek-1", KEY_B64)]),
            "current",
        ),
        ("no keks", file(fmt, "kek-1", &[]), "KEK"),
        (
            "duplicate ids",
            file(
                fmt,
                "kek-1",
                &[entry("kek-1", KEY_B64), entry("kek-1", KEY_B64)],
            ),
            "unique",
        ),
        ("empty id", file(fmt, "", &[entry("", KEY_B64)]), "unique"),
    ];
    for (name, contents, hint) in cases {
        write_0600(&path, &contents);
        let result = std::panic::catch_unwind(|| LocalKeyProvider::open(&path));
        let err = result
            .unwrap_or_else(|_| panic!("{name}: panicked"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{name}");
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()),
            "{name}: message names the file: {msg}"
        );
        assert!(
            msg.contains(hint),
            "{name}: message {msg:?} should mention {hint:?}"
        );
        assert!(!msg.contains(KEY_B64), "{name}: message leaks key material");
        assert!(matches!(err, KmsError::Config(_)), "{name}");
        // open_or_create must not overwrite a corrupted file either.
        assert_eq!(
            LocalKeyProvider::open_or_create(&path).unwrap_err().kind(),
            ErrorKind::Config,
            "{name}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            contents,
            "{name}: file left as it was"
        );
    }
}

#[tokio::test]
async fn unwrap_is_bound_to_the_wrap_context() {
    let p = LocalKeyProvider::ephemeral();
    let dk = DataKey::from_bytes([7; 32]);
    let w = p.wrap(&dk, &wctx("acme", 3)).await.unwrap();
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 3)).await.unwrap().expose(),
        &[7; 32]
    );
    for other in [
        wctx("acme2", 3),
        wctx("acm", 3),
        wctx("globex", 3),
        wctx("acme", 2),
        wctx("acme", 4),
        wctx("acme", u32::MAX),
    ] {
        let err = p.unwrap(&w, &other).await.unwrap_err();
        assert_eq!(err, KmsError::WrongContext, "{other:?}");
        assert_eq!(err.kind(), ErrorKind::Integrity);
    }
    // Tampered or mis-sized wrapped bytes.
    for i in 0..w.ciphertext.len() {
        let mut t = w.clone();
        t.ciphertext[i] ^= 0x80;
        assert_eq!(
            p.unwrap(&t, &wctx("acme", 3)).await.unwrap_err(),
            KmsError::WrongContext,
            "byte {i}"
        );
    }
    for len in [0, 12, 59, 61, 62, 200] {
        let t = WrappedKey {
            kek_id: w.kek_id.clone(),
            ciphertext: vec![0; len],
        };
        assert_eq!(
            p.unwrap(&t, &wctx("acme", 3)).await.unwrap_err(),
            KmsError::WrongContext,
            "len {len}"
        );
    }
    // Another provider with the same KEK id but another key.
    let other = LocalKeyProvider::ephemeral();
    assert_eq!(
        other.unwrap(&w, &wctx("acme", 3)).await.unwrap_err(),
        KmsError::WrongContext
    );
}

#[tokio::test]
async fn unknown_kek_id_is_refused() {
    let p = LocalKeyProvider::ephemeral();
    let mut w = p
        .wrap(&DataKey::from_bytes([1; 32]), &wctx("acme", 1))
        .await
        .unwrap();
    w.kek_id = "kek-404".to_owned();
    let err = p.unwrap(&w, &wctx("acme", 1)).await.unwrap_err();
    assert_eq!(err, KmsError::KekNotFound("kek-404".to_owned()));
    assert_eq!(err.kind(), ErrorKind::KeyProvider);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn kek_rotation_and_removal_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let p = LocalKeyProvider::open_or_create(&path).unwrap();
    let old = p
        .wrap(&DataKey::from_bytes([2; 32]), &wctx("acme", 1))
        .await
        .unwrap();
    let id = p.rotate_kek().unwrap();
    assert_eq!(id, "kek-2");
    assert_eq!(p.current_kek().await.unwrap(), "kek-2");
    assert_eq!(mode(&path), 0o600, "rewritten file stays owner-only");
    assert!(
        !dir.path().join("keys.tmp").exists(),
        "no temporary file left"
    );
    let new = p
        .wrap(&DataKey::from_bytes([3; 32]), &wctx("acme", 2))
        .await
        .unwrap();
    assert_eq!(new.kek_id, "kek-2");
    // Both unwrap, also after reopening.
    let p = LocalKeyProvider::open(&path).unwrap();
    assert_eq!(p.kek_ids(), vec!["kek-1".to_owned(), "kek-2".to_owned()]);
    assert_eq!(p.current_kek().await.unwrap(), "kek-2");
    assert_eq!(
        p.unwrap(&old, &wctx("acme", 1)).await.unwrap().expose(),
        &[2; 32]
    );
    assert_eq!(
        p.unwrap(&new, &wctx("acme", 2)).await.unwrap().expose(),
        &[3; 32]
    );
    // The current KEK cannot be removed; an unknown one is not found.
    assert_eq!(p.remove_kek("kek-2").unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(
        p.remove_kek("kek-7").unwrap_err(),
        KmsError::KekNotFound("kek-7".into())
    );
    p.remove_kek("kek-1").unwrap();
    assert_eq!(
        p.unwrap(&old, &wctx("acme", 1)).await.unwrap_err(),
        KmsError::KekNotFound("kek-1".into())
    );
    let p = LocalKeyProvider::open(&path).unwrap();
    assert_eq!(p.kek_ids(), vec!["kek-2".to_owned()]);
    assert_eq!(
        p.unwrap(&new, &wctx("acme", 2)).await.unwrap().expose(),
        &[3; 32]
    );
    // Ids keep increasing after a removal.
    assert_eq!(p.rotate_kek().unwrap(), "kek-3");
}

#[tokio::test]
async fn creating_over_an_existing_file_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    write_0600(
        &path,
        &format!(
            r#"{{"format":"tenantguard-local-kek/1","current":"mine","keks":[{{"id":"mine","key":"{KEY_B64}"}}]}}"#
        ),
    );
    let p = LocalKeyProvider::open_or_create(&path).unwrap();
    assert_eq!(p.kek_ids(), vec!["mine".to_owned()]);
    // The known key: a wrap made here is an AES-256-GCM encryption under bytes 0..32.
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let w = p
        .wrap(&DataKey::from_bytes([9; 32]), &wctx("t", 1))
        .await
        .unwrap();
    // Known answer for docs/FORMAT.md: the wrapping key is HKDF-SHA256 with the tenant's
    // secret as salt, the KEK as input key material and info
    // "tenantguard/local/tenant-wrap/v1" | len(tenant) | tenant; the wrap is
    // 0x01 | nonce | AES-256-GCM(data key, aad = WrapContext::aad()).
    let kek: Vec<u8> = (0u8..32).collect();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["format"], "tenantguard-local-kek/2");
    assert_eq!(json["tenants"][0]["id"], "t");
    use base64::Engine;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(json["tenants"][0]["secret"].as_str().unwrap())
        .unwrap();
    let mut info = b"tenantguard/local/tenant-wrap/v1".to_vec();
    info.push(1);
    info.push(b't');
    let mut key = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&secret), &kek)
        .expand(&info, &mut key)
        .unwrap();
    assert_eq!(w.ciphertext[0], 1);
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
    let nonce: [u8; 12] = w.ciphertext[1..13].try_into().unwrap();
    let pt = cipher
        .decrypt(
            &aes_gcm::Nonce::from(nonce),
            Payload {
                msg: &w.ciphertext[13..],
                aad: &wctx("t", 1).aad(),
            },
        )
        .unwrap();
    assert_eq!(pt, [9; 32]);
}

/// A key file that is a symlink (a secret mount, configuration management): a write
/// follows the link and replaces the target atomically in the target's directory, so the
/// link and every other path to the file see the change (before, the link was replaced
/// by a regular file and its target kept the old KEKs: a tenant secret or KEK made
/// through the link was missing from the file the deployment reads).
#[tokio::test]
async fn a_key_file_reached_through_a_symlink_is_written_at_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("secrets");
    std::fs::create_dir(&real_dir).unwrap();
    let target = real_dir.join("keys.json");
    LocalKeyProvider::open_or_create(&target).unwrap();
    let link = dir.path().join("keys.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let via_link = LocalKeyProvider::open(&link).unwrap();
    let kek = via_link.rotate_kek().unwrap();
    let w = via_link
        .wrap(&DataKey::from_bytes([7; 32]), &wctx("acme", 1))
        .await
        .unwrap();
    assert_eq!(w.kek_id, kek);

    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&target), 0o600);
    let at_target = LocalKeyProvider::open(&target).unwrap();
    assert_eq!(at_target.current_kek().await.unwrap(), kek);
    let k = at_target.unwrap(&w, &wctx("acme", 1)).await.unwrap();
    assert_eq!(k.expose(), &[7; 32]);
    // No temporary file was left beside the link or the target.
    for d in [dir.path(), real_dir.as_path()] {
        let tmp: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(tmp.is_empty(), "{tmp:?}");
    }

    // A link whose target is gone is refused (a typed error), never replaced by a new file.
    std::fs::remove_file(&target).unwrap();
    let e = LocalKeyProvider::open_or_create(&link).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!target.exists());
}

/// Replaces the key file (a new inode, as a writer or a restore tool would) with `bytes`.
fn replace_with_mode(path: &Path, bytes: &[u8], mode: u32) {
    let tmp = path.with_extension("hostile");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Hostile per-tenant contents in a key file (format 2: tenant secrets and shredded
/// tenants), put in place under a running provider: each is a `Config` error naming the
/// problem, never a panic and never a leaked secret; the running provider neither uses
/// what it loaded before nor writes over the hostile file (so nothing of it is lost); and
/// once the good file is back, every wrap opens and a shredded tenant stays shredded.
#[tokio::test]
async fn hostile_tenant_entries_are_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let p = LocalKeyProvider::open_or_create(&path).unwrap();
    let dk = DataKey::from_bytes([0x42; 32]);
    let w_acme = p.wrap(&dk, &wctx("acme", 1)).await.unwrap();
    let w_globex = p.wrap(&dk, &wctx("globex", 1)).await.unwrap();
    let w_old = p.wrap(&dk, &wctx("old", 1)).await.unwrap();
    p.destroy_tenant(&TenantId::new("old").unwrap())
        .await
        .unwrap();
    let good = std::fs::read(&path).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    assert_eq!(v["format"], "tenantguard-local-kek/2");
    let secrets: Vec<String> = v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["secret"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(secrets.len(), 2);

    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="; // 31 bytes
    let cases: Vec<(&str, Vec<u8>, u32, &str)> = vec![
        (
            "tenant twice",
            edit(&|v| {
                let t = v["tenants"][0].clone();
                v["tenants"].as_array_mut().unwrap().push(t);
            }),
            0o600,
            "twice",
        ),
        (
            "shredded tenant holding a secret",
            edit(&|v| {
                let id = v["tenants"][0]["id"].clone();
                v["shredded"].as_array_mut().unwrap().push(id);
            }),
            0o600,
            "both shredded and holding a secret",
        ),
        (
            "path-like tenant id",
            edit(&|v| v["tenants"][0]["id"] = "../../etc/passwd".into()),
            0o600,
            "invalid tenant id",
        ),
        (
            "huge tenant id",
            edit(&|v| v["tenants"][0]["id"] = "a".repeat(100_000).into()),
            0o600,
            "invalid tenant id",
        ),
        (
            "huge secret",
            edit(&|v| v["tenants"][1]["secret"] = "A".repeat(1 << 20).into()),
            0o600,
            "32 bytes",
        ),
        (
            "short secret",
            edit(&|v| v["tenants"][0]["secret"] = short.into()),
            0o600,
            "32 bytes",
        ),
        (
            "secret not base64",
            edit(&|v| v["tenants"][0]["secret"] = "%%%%".into()),
            0o600,
            "base64",
        ),
        (
            "secret of the wrong type",
            edit(&|v| v["tenants"][0]["secret"] = 7.into()),
            0o600,
            "corrupted",
        ),
        (
            "invalid shredded id",
            edit(&|v| v["shredded"][0] = "".into()),
            0o600,
            "invalid tenant id",
        ),
        (
            "tenant entries in format 1",
            edit(&|v| v["format"] = "tenantguard-local-kek/1".into()),
            0o600,
            "cannot hold tenant entries",
        ),
        (
            "huge KEK id",
            edit(&|v| v["keks"][0]["id"] = "k".repeat(129).into()),
            0o600,
            "1 to 128 characters",
        ),
        (
            "duplicate field",
            {
                let mut b = good.clone();
                let at = b.iter().rposition(|&c| c == b'}').unwrap();
                b.splice(at..at, br#","current":"kek-1""#.iter().copied());
                b
            },
            0o600,
            "corrupted",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            0o600,
            "corrupted",
        ),
        ("readable by the group", good.clone(), 0o640, "chmod 600"),
    ];
    for (name, bytes, mode, hint) in cases {
        replace_with_mode(&path, &bytes, mode);
        let err = LocalKeyProvider::open(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, KmsError::Config(_)), "{name}: {msg}");
        assert!(
            msg.contains(hint),
            "{name}: {msg:?} should mention {hint:?}"
        );
        assert!(
            secrets.iter().all(|s| !msg.contains(s.as_str())),
            "{name}: the message leaks a secret"
        );
        // The running provider does not go on with what it loaded before ...
        for r in [
            p.unwrap(&w_acme, &wctx("acme", 1)).await.map(|_| ()),
            p.wrap(&dk, &wctx("newco", 1)).await.map(|_| ()),
            p.destroy_tenant(&TenantId::new("globex").unwrap())
                .await
                .map(|_| ()),
            p.rotate_kek().map(|_| ()),
        ] {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Config, "{name}");
        }
        // ... and wrote nothing over the file.
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}");
    }

    // A huge file (sparse: nothing is written to disk) is refused before it is read.
    let huge = path.with_extension("huge");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len((128 << 20) + 1).unwrap();
    drop(f);
    std::fs::set_permissions(&huge, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&huge, &path).unwrap();
    let err = LocalKeyProvider::open(&path).unwrap_err();
    assert!(
        matches!(&err, KmsError::Config(m) if m.contains("larger than 128 MiB")),
        "{err}"
    );
    assert_eq!(
        p.unwrap(&w_acme, &wctx("acme", 1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Config
    );

    replace_with_mode(&path, &good, 0o600);
    for (w, t) in [(&w_acme, "acme"), (&w_globex, "globex")] {
        assert_eq!(
            p.unwrap(w, &wctx(t, 1)).await.unwrap().expose(),
            dk.expose()
        );
    }
    assert_eq!(
        p.unwrap(&w_old, &wctx("old", 1)).await.unwrap_err(),
        KmsError::TenantShredded
    );
}
