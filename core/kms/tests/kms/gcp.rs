//! Google Cloud KMS against a FAKE of its REST endpoints (`cryptoKeys:encrypt`,
//! `cryptoKeys:decrypt`, and for per-tenant keys `cryptoKeys.create`,
//! `cryptoKeyVersions.list` and `cryptoKeyVersions:destroy`): no Cloud KMS emulator can
//! run here. The fake is a tiny HTTP
//! server on 127.0.0.1 in this test. It checks every request byte for byte against the
//! documented request shape (path, bearer token, JSON field names and order, base64,
//! CRC32C as decimal int64 strings), and answers like Cloud KMS, including the integrity
//! fields, so the provider's response verification is exercised too. It is not Cloud KMS:
//! its "encryption" is a transparent toy. Always runs (needs no server).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use crate::common::*;
use crate::tg_cap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;
use serde_json::{json, Value};
use tenantguard::kms::{KeyProvider, KmsError, WrappedKey};
use tenantguard::{
    ErrorKind, Guard, LocalKeyProvider, MemoryStore, Store, TenantContext, TenantId,
};
use tenantguard_kms::gcp::{GcpKmsConfig, GcpKmsProvider, StaticAccessToken};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "projects/tg-test/locations/global/keyRings/ring/cryptoKeys/kek";
const RING: &str = "projects/tg-test/locations/global/keyRings/ring";
const TOKEN: &str = "ya29.fake-token";

/// How the fake answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Normal,
    /// Flips the ciphertextCrc32c of encrypt answers.
    BadCiphertextCrc,
    /// Says the plaintext checksum was not verified.
    Unverified,
    /// Flips the plaintextCrc32c of decrypt answers.
    BadPlaintextCrc,
    /// Answers every call with this status and RPC code.
    Status(u16, &'static str),
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    /// Request bodies seen, as (path, body).
    seen: Arc<Mutex<Vec<(String, String)>>>,
    /// Requests whose shape was wrong, with the reason (the test asserts it stays empty).
    violations: Arc<Mutex<Vec<String>>>,
    /// CryptoKeys (one version each) and their version's state.
    keys: Arc<Mutex<std::collections::HashMap<String, &'static str>>>,
}

fn crc(b: &[u8]) -> String {
    crc32c::crc32c(b).to_string()
}

/// The fake's toy ciphertext: "FAKE" | aad length (u16 BE) | aad | plaintext XOR 0x5c.
fn toy_encrypt(pt: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut c = b"FAKE".to_vec();
    c.extend_from_slice(&(aad.len() as u16).to_be_bytes());
    c.extend_from_slice(aad);
    c.extend(pt.iter().map(|b| b ^ 0x5c));
    c
}

fn toy_decrypt(ct: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let rest = ct.strip_prefix(b"FAKE")?;
    let n = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let (bound, body) = rest.get(2..)?.split_at_checked(n)?;
    (bound == aad).then(|| body.iter().map(|b| b ^ 0x5c).collect())
}

fn error(status: u16, rpc: &str, message: &str) -> (u16, String) {
    (
        status,
        json!({"error": {"code": status, "message": message, "status": rpc}}).to_string(),
    )
}

impl Fake {
    async fn start() -> (Fake, String) {
        let fake = Fake {
            mode: Arc::new(Mutex::new(Mode::Normal)),
            seen: Arc::new(Mutex::new(Vec::new())),
            violations: Arc::new(Mutex::new(Vec::new())),
            keys: Arc::new(Mutex::new(
                [(KEY.to_owned(), "ENABLED")].into_iter().collect(),
            )),
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let f = f.clone();
                tokio::spawn(async move {
                    while let Some((head, body)) = read_request(&mut s).await {
                        let (status, reply) = f.answer(&head, &body);
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                            reply.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (fake, addr)
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    fn violation(&self, why: String) -> (u16, String) {
        self.violations.lock().unwrap().push(why.clone());
        error(
            400,
            "INVALID_ARGUMENT",
            &format!("fake: bad request shape: {why}"),
        )
    }

    fn answer(&self, head: &str, body: &[u8]) -> (u16, String) {
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect();
        let header = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        if header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return self.violation("missing or wrong bearer token".into());
        }
        let get = request_line.starts_with("GET ");
        if !get && header("content-type") != Some("application/json") {
            return self.violation("content-type is not application/json".into());
        }
        let Some(path) = request_line
            .strip_prefix("POST ")
            .or_else(|| request_line.strip_prefix("GET "))
            .and_then(|r| r.strip_suffix(" HTTP/1.1"))
        else {
            return self.violation(format!("not a POST or GET: {request_line}"));
        };
        let body = String::from_utf8(body.to_vec()).unwrap_or_default();
        self.seen
            .lock()
            .unwrap()
            .push((path.to_owned(), body.clone()));
        let mode = *self.mode.lock().unwrap();
        if let Mode::Status(code, rpc) = mode {
            return error(code, rpc, "fake: injected failure");
        }
        let Some(name) = path.strip_prefix("/v1/") else {
            return self.violation(format!("path {path}"));
        };
        let state = |k: &str| self.keys.lock().unwrap().get(k).copied();
        if get {
            let Some(key) = name.strip_suffix("/cryptoKeyVersions?pageSize=1000") else {
                return self.violation(format!("unknown GET {path}"));
            };
            let Some(st) = state(key) else {
                return error(404, "NOT_FOUND", &format!("CryptoKey {key} not found."));
            };
            let v = json!({"cryptoKeyVersions": [{"name": format!("{key}/cryptoKeyVersions/1"), "state": st}], "totalSize": 1});
            return (200, v.to_string());
        }
        if let Some(id) = name
            .strip_prefix(RING)
            .and_then(|r| r.strip_prefix("/cryptoKeys?cryptoKeyId="))
        {
            let ok_body = body
                .starts_with(r#"{"purpose":"ENCRYPT_DECRYPT","destroyScheduledDuration":""#)
                && body.ends_with(r#"s"}"#);
            if !ok_body || id.is_empty() || id.len() > 63 {
                return self.violation(format!("create key body {body} id {id}"));
            }
            let key = format!("{RING}/cryptoKeys/{id}");
            let mut keys = self.keys.lock().unwrap();
            if keys.contains_key(&key) {
                return error(
                    409,
                    "ALREADY_EXISTS",
                    &format!("CryptoKey {key} already exists."),
                );
            }
            keys.insert(key.clone(), "ENABLED");
            return (
                200,
                json!({"name": key, "purpose": "ENCRYPT_DECRYPT"}).to_string(),
            );
        }
        if let Some(version) = name.strip_suffix(":destroy") {
            let Some(key) = version.strip_suffix("/cryptoKeyVersions/1") else {
                return error(404, "NOT_FOUND", "no such version");
            };
            if body != "{}" {
                return self.violation(format!("destroy body {body}"));
            }
            let mut keys = self.keys.lock().unwrap();
            let Some(st) = keys.get_mut(key) else {
                return error(404, "NOT_FOUND", "no such key");
            };
            *st = "DESTROY_SCHEDULED";
            return (
                200,
                json!({"name": version, "state": "DESTROY_SCHEDULED"}).to_string(),
            );
        }
        let v: Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) => return self.violation("body is not JSON".into()),
        };
        let b64 = |field: &str| v[field].as_str().and_then(|s| STANDARD.decode(s).ok());
        if let Some(key) = name.strip_suffix(":encrypt") {
            let (Some(pt), Some(aad)) = (b64("plaintext"), b64("additionalAuthenticatedData"))
            else {
                return self.violation(
                    "encrypt without base64 plaintext / additionalAuthenticatedData".into(),
                );
            };
            // Byte for byte: exactly these four fields, in this order, CRC32Cs as decimal strings.
            let expected = format!(
                r#"{{"plaintext":"{}","plaintextCrc32c":"{}","additionalAuthenticatedData":"{}","additionalAuthenticatedDataCrc32c":"{}"}}"#,
                STANDARD.encode(&pt),
                crc(&pt),
                STANDARD.encode(&aad),
                crc(&aad)
            );
            if body != expected {
                return self.violation(format!(
                    "encrypt body differs from the documented shape: {body}"
                ));
            }
            match state(key) {
                None => return error(404, "NOT_FOUND", &format!("CryptoKey {key} not found.")),
                Some("ENABLED") => {}
                Some(_) => {
                    return error(
                        400,
                        "FAILED_PRECONDITION",
                        "The key version is not enabled.",
                    )
                }
            }
            let ct = toy_encrypt(&pt, &aad);
            let mut ct_crc = crc32c::crc32c(&ct);
            if mode == Mode::BadCiphertextCrc {
                ct_crc ^= 1;
            }
            let answer = json!({
                "name": format!("{key}/cryptoKeyVersions/1"),
                "ciphertext": STANDARD.encode(&ct),
                "ciphertextCrc32c": ct_crc.to_string(),
                "verifiedPlaintextCrc32c": mode != Mode::Unverified,
                "verifiedAdditionalAuthenticatedDataCrc32c": true,
                "protectionLevel": "SOFTWARE",
            });
            (200, answer.to_string())
        } else if let Some(key) = name.strip_suffix(":decrypt") {
            let (Some(ct), Some(aad)) = (b64("ciphertext"), b64("additionalAuthenticatedData"))
            else {
                return self.violation(
                    "decrypt without base64 ciphertext / additionalAuthenticatedData".into(),
                );
            };
            let expected = format!(
                r#"{{"ciphertext":"{}","ciphertextCrc32c":"{}","additionalAuthenticatedData":"{}","additionalAuthenticatedDataCrc32c":"{}"}}"#,
                STANDARD.encode(&ct),
                crc(&ct),
                STANDARD.encode(&aad),
                crc(&aad)
            );
            if body != expected {
                return self.violation(format!(
                    "decrypt body differs from the documented shape: {body}"
                ));
            }
            match state(key) {
                None => return error(404, "NOT_FOUND", &format!("CryptoKey {key} not found.")),
                Some("ENABLED") => {}
                Some(_) => {
                    return error(
                        400,
                        "FAILED_PRECONDITION",
                        "The key version is scheduled for destruction.",
                    )
                }
            }
            let Some(pt) = toy_decrypt(&ct, &aad) else {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "Decryption failed: the ciphertext is invalid.",
                );
            };
            let mut pt_crc = crc32c::crc32c(&pt);
            if mode == Mode::BadPlaintextCrc {
                pt_crc ^= 1;
            }
            (200, json!({"plaintext": STANDARD.encode(&pt), "plaintextCrc32c": pt_crc.to_string(), "usedPrimary": true, "protectionLevel": "SOFTWARE"}).to_string())
        } else {
            self.violation(format!("unknown method in {path}"))
        }
    }
}

/// Reads one HTTP/1.1 request: (head, body).
async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().ok())
        })
        .flatten()
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn provider(addr: &str, key: &str) -> GcpKmsProvider {
    GcpKmsProvider::new(GcpKmsConfig {
        endpoint: addr.to_owned(),
        key_name: key.to_owned(),
        tokens: Arc::new(StaticAccessToken(SecretString::from(TOKEN.to_owned()))),
        retry: quick_retry(),
    })
    .unwrap()
}

#[tokio::test]
async fn wraps_with_aad_and_crc32c_against_the_fake() {
    let (fake, addr) = Fake::start().await;
    let p = provider(&addr, KEY);
    let dk = data_key();
    let w = p.wrap(&dk, &wctx("acme", 1)).await.unwrap();
    assert_eq!(w.kek_id, KEY);
    assert_eq!(p.current_kek().await.unwrap(), KEY);
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 1)).await.unwrap().expose(),
        dk.expose()
    );
    assert_eq!(
        p.unwrap(&w, &wctx("globex", 1)).await.unwrap_err(),
        KmsError::WrongContext
    );
    assert_eq!(
        p.unwrap(&w, &wctx("acme", 2)).await.unwrap_err(),
        KmsError::WrongContext
    );
    assert!(
        fake.violations.lock().unwrap().is_empty(),
        "{:?}",
        fake.violations.lock().unwrap()
    );
    // The AAD on the wire is exactly the canonical WrapContext::aad().
    let seen = fake.seen.lock().unwrap();
    let (path, body) = &seen[0];
    assert_eq!(path, &format!("/v1/{KEY}:encrypt"));
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        STANDARD
            .decode(v["additionalAuthenticatedData"].as_str().unwrap())
            .unwrap(),
        wctx("acme", 1).aad()
    );
    assert_eq!(
        STANDARD.decode(v["plaintext"].as_str().unwrap()).unwrap(),
        dk.expose()
    );
}

#[tokio::test]
async fn verifies_every_integrity_field_and_maps_errors() {
    let (fake, addr) = Fake::start().await;
    let p = provider(&addr, KEY);
    let w = p.wrap(&data_key(), &wctx("acme", 1)).await.unwrap();
    for m in [Mode::BadCiphertextCrc, Mode::Unverified] {
        fake.set(m);
        let e = p.wrap(&data_key(), &wctx("acme", 1)).await.unwrap_err();
        assert!(
            matches!(&e, KmsError::Unavailable(m) if m.contains("CRC32C")),
            "{e:?}"
        );
    }
    fake.set(Mode::BadPlaintextCrc);
    let e = p.unwrap(&w, &wctx("acme", 1)).await.unwrap_err();
    assert!(
        matches!(&e, KmsError::Unavailable(m) if m.contains("CRC32C")),
        "{e:?}"
    );
    fake.set(Mode::Normal);
    let other = "projects/tg-test/locations/global/keyRings/ring/cryptoKeys/gone";
    assert!(matches!(
        provider(&addr, other)
            .wrap(&data_key(), &wctx("a", 1))
            .await,
        Err(KmsError::KekNotFound(_))
    ));
    type Check = fn(&KmsError) -> bool;
    let cases: [(Mode, Check); 4] = [
        (Mode::Status(403, "PERMISSION_DENIED"), |e| {
            matches!(e, KmsError::AccessDenied(_))
        }),
        (
            Mode::Status(400, "FAILED_PRECONDITION"),
            |e| matches!(e, KmsError::AccessDenied(m) if m.contains("disabled")),
        ),
        (Mode::Status(503, "UNAVAILABLE"), |e| {
            matches!(e, KmsError::Unavailable(_))
        }),
        (Mode::Status(429, "RESOURCE_EXHAUSTED"), |e| {
            matches!(e, KmsError::Unavailable(_))
        }),
    ];
    for (m, ok) in cases {
        fake.set(m);
        let before = fake.seen.lock().unwrap().len();
        let e = p.unwrap(&w, &wctx("acme", 1)).await.unwrap_err();
        assert!(ok(&e), "{m:?}: {e:?}");
        let calls = fake.seen.lock().unwrap().len() - before;
        // Retryable errors are retried up to the policy's bound (2 attempts); others are not.
        assert_eq!(calls, if e.is_retryable() { 2 } else { 1 }, "{m:?}");
    }
    let (hole, _h) = black_hole().await;
    assert_eq!(
        provider(&hole, KEY)
            .unwrap(&w, &wctx("acme", 1))
            .await
            .unwrap_err(),
        KmsError::Timeout(500)
    );
    assert!(matches!(
        provider(&dead_address(), KEY)
            .unwrap(&w, &wctx("acme", 1))
            .await,
        Err(KmsError::Unavailable(_))
    ));
    let bad = WrappedKey {
        kek_id: "not/a/key".into(),
        ..w
    };
    assert!(matches!(
        p.unwrap(&bad, &wctx("acme", 1)).await,
        Err(KmsError::KekNotFound(_))
    ));
    assert!(
        fake.violations.lock().unwrap().is_empty(),
        "{:?}",
        fake.violations.lock().unwrap()
    );
}

#[tokio::test]
async fn byok_tenant_on_the_fake_is_locked_out_when_its_key_is_disabled() {
    let (fake, addr) = Fake::start().await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let deployment = Arc::new(LocalKeyProvider::ephemeral());
    let acme_kms = Arc::new(provider(&addr, KEY));
    let build = || {
        Guard::builder()
            .key_provider_arc(deployment.clone())
            .tenant_key_provider_arc("acme-gcp", acme_kms.clone())
            .allow_tenant_key_provider("acme-gcp", TenantId::new("acme").unwrap())
            .store_arc(store.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let g = build();
    let service = tg_cap::cap();
    let acme = TenantContext::service(TenantId::new("acme").unwrap(), &service);
    let globex = TenantContext::service(TenantId::new("globex").unwrap(), &service);
    for c in [&acme, &globex] {
        g.keys().create_tenant(c).await.unwrap();
        g.records()
            .put(c, c.tenant().as_str(), "note", None, b"secret")
            .await
            .unwrap();
    }
    g.keys()
        .set_provider(&acme, Some("acme-gcp"))
        .await
        .unwrap();
    assert_eq!(
        build()
            .records()
            .open_record(&acme, "acme")
            .await
            .unwrap()
            .1
            .expose(),
        b"secret"
    );
    fake.set(Mode::Status(400, "FAILED_PRECONDITION"));
    let cold = build();
    let e = cold.records().open_record(&acme, "acme").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyProvider);
    assert_eq!(
        cold.records()
            .open_record(&globex, "globex")
            .await
            .unwrap()
            .1
            .expose(),
        b"secret"
    );
}

/// Per-tenant CryptoKeys: a database backup restored after a shred opens nothing of the
/// tenant (every version of its key is scheduled for destruction), other tenants are
/// untouched, and a tenant wrapped under the shared key moves to its own key on rewrap.
#[tokio::test]
async fn shredding_schedules_destruction_of_the_tenants_own_key() {
    let (fake, addr) = Fake::start().await;
    let make = || provider(&addr, KEY).with_tenant_keys("tg-", 7).unwrap();
    let per_tenant: Arc<dyn KeyProvider> = Arc::new(make());
    let legacy: Arc<dyn KeyProvider> = Arc::new(provider(&addr, KEY));
    let (report, [acme, globex, old]) = shred_backup_restore_proof(per_tenant, legacy).await;
    assert_eq!(report.summary(), "deployment:scheduled:7d");
    let p = make();
    let states = fake.keys.lock().unwrap().clone();
    let tenant_keys: Vec<_> = states
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{RING}/cryptoKeys/tg-")))
        .collect();
    // acme, globex, and the migrated tenant each got a key, and so did the guard's service
    // keyring (its audit-mac key, wrap context `_tg-service.audit-mac`); only acme's is
    // destroyed.
    assert_eq!(tenant_keys.len(), 4, "{states:?}");
    assert_eq!(
        tenant_keys
            .iter()
            .filter(|(_, s)| **s == "DESTROY_SCHEDULED")
            .count(),
        1
    );
    let _ = (globex, old);
    // Shredding again finds nothing left to destroy but still reports the schedule.
    let again = p
        .destroy_tenant(&TenantId::new(acme.clone()).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        again.destruction,
        tenantguard::kms::Destruction::Scheduled { days: 7 }
    ));
    // A tenant never seen held nothing.
    let none = p
        .destroy_tenant(&TenantId::new("never-seen").unwrap())
        .await
        .unwrap();
    assert_eq!(none.destruction, tenantguard::kms::Destruction::NothingHeld);
    // The shared-key provider refuses, and says so; bad settings are refused.
    let e = provider(&addr, KEY)
        .destroy_tenant(&TenantId::new("x").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, KmsError::Unsupported(_)), "{e}");
    assert!(provider(&addr, KEY).with_tenant_keys("a/b", 7).is_err());
    assert!(provider(&addr, KEY).with_tenant_keys("tg-", 0).is_err());
    assert!(provider(&addr, KEY).with_tenant_keys("tg-", 121).is_err());
    assert!(provider(&addr, KEY)
        .with_tenant_keys(&"p".repeat(32), 7)
        .is_err());
    assert!(
        fake.violations.lock().unwrap().is_empty(),
        "{:?}",
        fake.violations.lock().unwrap()
    );
}
