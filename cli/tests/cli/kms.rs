//! The real `tenantguard` binary with each `tenantguard-kms` provider against the real peers
//! `scripts/kms.sh start` runs (moto for AWS KMS, OpenBao for Vault Transit, a SoftHSM2
//! token for PKCS#11) and, for Google Cloud KMS, which has no emulator, a fake of its REST
//! API in this test process. Each provider goes through `init`, `tenant create`, `doctor`
//! (a real wrap/unwrap), `key rotate`, `kek rotate` (or moving to another key), `kek rewrap`
//! and `reencrypt`, and the records written by the library before the rotations still open
//! afterwards with a fresh provider. Built with `--features kms`; a provider whose peer is
//! not configured (TG_KMS_* unset) is skipped with a note on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{ctx, json_of, BIN};
use assert_cmd::Command;
use serde_json::Value;
use tenantguard::{Guard, KeyProvider, ServiceRole, SqliteStore};

/// A deployment on SQLite whose configuration names a KMS provider.
struct Dep {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    env: Vec<(String, String)>,
}

impl Dep {
    /// Writes `tenantguard.toml` (provider table in TOML), runs `init`.
    fn new(provider: &str, table: &str, env: &[(&str, String)]) -> (Dep, Value) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::write(
            root.join("tenantguard.toml"),
            format!(
                "key_provider = \"{provider}\"\nstore = \"sqlite\"\nsqlite_path = \"data/tenantguard.db\"\n\n{table}\n"
            ),
        )
        .unwrap();
        let d = Dep {
            _tmp: tmp,
            root,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        let init = d.ok(&["init"]);
        (d, init)
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(&self.root)
            .env_remove("TENANTGUARD_CONFIG")
            .timeout(Duration::from_secs(120));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
    fn json(&self, args: &[&str], code: i32) -> Value {
        json_of(self.cmd(), args, code)
    }
    fn ok(&self, args: &[&str]) -> Value {
        self.json(args, 0)
    }
    fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.to_owned(), v.to_owned()));
    }
    /// The library on the same database with `provider`, as a service would run.
    fn guard(&self, provider: Arc<dyn KeyProvider>) -> (Guard, ServiceRole) {
        let store = Arc::new(SqliteStore::open(self.root.join("data/tenantguard.db")).unwrap());
        Guard::builder()
            .key_provider_arc(provider)
            .store_arc(store.clone())
            .policy_store(store)
            .build_with_service()
            .unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn env_or_skip(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {var} is not set, so this {what} command-line test did not run (run `scripts/kms.sh test`)."
            );
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}-{}", n, std::process::id())
}

fn seed(d: &Dep, p: Arc<dyn KeyProvider>, n: usize) {
    let (g, s) = d.guard(p);
    rt().block_on(async {
        for i in 0..n {
            g.records()
                .put(
                    &ctx(&s, "acme"),
                    &format!("r{i:03}"),
                    "note",
                    None,
                    b"kms-payload",
                )
                .await
                .unwrap();
        }
    });
}

fn all_open(d: &Dep, p: Arc<dyn KeyProvider>, n: usize) {
    let (g, s) = d.guard(p);
    rt().block_on(async {
        for i in 0..n {
            let (_, v) = g
                .records()
                .open_record(&ctx(&s, "acme"), &format!("r{i:03}"))
                .await
                .unwrap();
            assert_eq!(v.expose(), b"kms-payload");
        }
    });
}

/// The kek of every key version of `tenant`.
fn keks(d: &Dep, tenant: &str) -> Vec<String> {
    d.ok(&["key", "list", tenant])["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kek"].as_str().unwrap().to_owned())
        .collect()
}

/// init, tenants, doctor and key rotation; records seeded through the library. Returns
/// the KEK `init` reported.
fn start(d: &Dep, init: &Value, provider: &str, p: Arc<dyn KeyProvider>) -> String {
    let kek = init["kek"].as_str().unwrap().to_owned();
    assert_eq!(d.ok(&["tenant", "create", "acme"])["key"], 1);
    d.ok(&["tenant", "create", "beta"]);
    seed(d, p, 12);
    let doc = d.ok(&["doctor"]);
    let kms = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "KMS wrap/unwrap")
        .unwrap()
        .clone();
    assert_eq!(kms["ok"], true, "{doc}");
    assert!(
        kms["detail"].as_str().unwrap().starts_with(provider),
        "{kms}"
    );
    assert_eq!(d.ok(&["key", "rotate", "acme"])["rotated"][0]["key"], 2);
    assert_eq!(keks(d, "acme"), vec![kek.clone(), kek.clone()]);
    kek
}

/// After a new KEK is current: re-wrap (twice does nothing twice), re-encrypt, and the
/// records open with a fresh provider.
fn finish(d: &Dep, old: &str, new: &str, fresh: impl Fn() -> Arc<dyn KeyProvider>) {
    assert_ne!(old, new);
    assert_eq!(d.ok(&["kek", "list"])["current"], new);
    let w = d.ok(&["kek", "rewrap"]);
    assert_eq!(w["rewrapped"], 3, "{w}"); // acme 1 and 2, beta 1
    assert_eq!(d.ok(&["kek", "rewrap"])["rewrapped"], 0);
    assert_eq!(keks(d, "acme"), vec![new.to_owned(), new.to_owned()]);
    let r = d.ok(&["reencrypt", "acme"]);
    assert_eq!(r["moved"], 12, "{r}");
    assert_eq!(d.ok(&["reencrypt", "--all"])["moved"], 0);
    all_open(d, fresh(), 12);
    d.ok(&["doctor"]);
}

#[cfg(feature = "vault")]
#[test]
fn vault_transit_init_rotate_rewrap_reencrypt() {
    use secrecy::SecretString;
    use tenantguard_kms::vault::{VaultTransitConfig, VaultTransitProvider};
    let Some(addr) = env_or_skip("TG_KMS_VAULT_ADDR", "Vault/OpenBao") else {
        return;
    };
    let token = std::env::var("TG_KMS_VAULT_TOKEN").unwrap_or_else(|_| "root".into());
    let curl = |path: &str, body: &str| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(["-H", &format!("X-Vault-Token: {token}"), "-d", body])
            .arg(format!("{addr}/v1/{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    curl("sys/mounts/transit", r#"{"type":"transit"}"#); // 400 once mounted: fine
    let key = unique("tg-cli");
    let created = curl(&format!("transit/keys/{key}"), r#"{"type":"aes256-gcm96"}"#);
    assert!(
        created.starts_with('2'),
        "create the Transit key: HTTP {created}"
    );
    let table = format!("[vault]\naddress = \"{addr}\"\nkey_name = \"{key}\"\n");
    // The token only from the environment, as docs/OPERATIONS.md advises.
    let (d, init) = Dep::new(
        "vault",
        &table,
        &[("TENANTGUARD_VAULT_TOKEN", token.clone())],
    );
    let provider = || -> Arc<dyn KeyProvider> {
        Arc::new(
            VaultTransitProvider::new(VaultTransitConfig::new(
                addr.clone(),
                SecretString::from(token.clone()),
                key.clone(),
            ))
            .unwrap(),
        )
    };
    let old = start(&d, &init, "vault", provider());
    assert_eq!(old, format!("transit/{key}:v1"));
    // A wrong token is refused with the library's kind, not a crash.
    let mut bad = Dep {
        _tmp: tempfile::tempdir().unwrap(),
        root: d.root.clone(),
        env: d.env.clone(),
    };
    bad.set("TENANTGUARD_VAULT_TOKEN", "not-the-token");
    assert_eq!(bad.json(&["doctor"], 6)["ok"], false);
    let k = d.ok(&["kek", "rotate"]);
    assert_eq!(k["kek"], format!("transit/{key}:v2"));
    assert_eq!(k["previous"], old);
    finish(&d, &old, &format!("transit/{key}:v2"), provider);
}

#[cfg(feature = "aws")]
#[test]
fn aws_kms_init_rotate_rewrap_reencrypt() {
    use secrecy::SecretString;
    use tenantguard_kms::aws::{AwsKmsConfig, AwsKmsProvider, AwsStaticCredentials};
    let Some(ep) = env_or_skip("TG_KMS_AWS_ENDPOINT", "AWS KMS") else {
        return;
    };
    let provider = |key_id: &str| {
        AwsKmsProvider::new(AwsKmsConfig {
            key_id: key_id.to_owned(),
            region: "us-east-1".into(),
            endpoint_url: Some(ep.clone()),
            credentials: AwsStaticCredentials {
                access_key_id: "testing".into(),
                secret_access_key: SecretString::from("testing".to_owned()),
                session_token: None,
            },
            retry: Default::default(),
        })
        .unwrap()
    };
    let alias = format!("alias/{}", unique("tg-cli"));
    let arn = rt().block_on(async {
        let admin = provider("unused");
        let k = admin.client().create_key().send().await.unwrap();
        let arn = k.key_metadata().unwrap().arn().unwrap().to_owned();
        admin
            .client()
            .create_alias()
            .alias_name(&alias)
            .target_key_id(&arn)
            .send()
            .await
            .unwrap();
        arn
    });
    let table =
        format!("[aws]\nkey_id = \"{alias}\"\nregion = \"us-east-1\"\nendpoint_url = \"{ep}\"\n");
    // Credentials from the SDK's usual variables.
    let (d, init) = Dep::new(
        "aws",
        &table,
        &[
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ],
    );
    let old = start(&d, &init, "aws", Arc::new(provider(&alias)));
    assert_eq!(old, arn);
    let k = d.ok(&["kek", "rotate"]);
    let new = k["kek"].as_str().unwrap().to_owned();
    assert!(new.starts_with("arn:aws:kms:"), "{k}");
    finish(&d, &old, &new, || Arc::new(provider(&alias)));
    // A key id that is not an alias cannot be rotated from here: said so, exit 2.
    let mut by_arn = Dep {
        _tmp: tempfile::tempdir().unwrap(),
        root: d.root.clone(),
        env: d.env.clone(),
    };
    by_arn.set("TENANTGUARD_AWS_KEY_ID", &new);
    let e = by_arn.json(&["kek", "rotate"], 2);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("alias"),
        "{e}"
    );
}

#[cfg(feature = "pkcs11")]
#[test]
fn pkcs11_init_rotate_to_a_new_label_rewrap_reencrypt() {
    use secrecy::SecretString;
    use tenantguard_kms::pkcs11::{Pkcs11Config, Pkcs11Provider};
    let Some(module) = env_or_skip("TG_KMS_PKCS11_MODULE", "PKCS#11 (SoftHSM2)") else {
        return;
    };
    let token = std::env::var("TG_KMS_PKCS11_TOKEN").unwrap_or_else(|_| "tenantguard-test".into());
    let pin = std::env::var("TG_KMS_PKCS11_PIN").unwrap_or_else(|_| "12345678".into());
    let provider = |label: &str| {
        Pkcs11Provider::new(Pkcs11Config {
            module: module.clone().into(),
            token_label: token.clone(),
            pin: SecretString::from(pin.clone()),
            key_label: label.to_owned(),
            retry: Default::default(),
        })
        .unwrap()
    };
    let label = unique("cli-kek");
    let p = provider(&label);
    rt().block_on(p.generate_kek(&label)).unwrap();
    let table = format!(
        "[pkcs11]\nmodule = \"{module}\"\ntoken_label = \"{token}\"\nkey_label = \"{label}\"\n"
    );
    let (mut d, init) = Dep::new("pkcs11", &table, &[("TENANTGUARD_PKCS11_PIN", pin.clone())]);
    let old = start(&d, &init, "pkcs11", Arc::new(p));
    assert_eq!(old, format!("pkcs11:token={token};object={label}"));
    // The label names the key: without a new one, said so.
    d.json(&["kek", "rotate"], 2);
    let label2 = unique("cli-kek2");
    let k = d.ok(&["kek", "rotate", "--new-label", &label2]);
    let new = format!("pkcs11:token={token};object={label2}");
    assert_eq!(k["kek"], new);
    // A second key of the same label is refused by the provider.
    d.json(&["kek", "rotate", "--new-label", &label2], 2);
    d.set("TENANTGUARD_PKCS11_KEY_LABEL", &label2);
    finish(&d, &old, &new, || Arc::new(provider(&label2)));
}

#[cfg(feature = "gcp")]
mod gcp_fake {
    //! A fake of Cloud KMS's `cryptoKeys:encrypt` and `:decrypt` with its integrity fields.
    //! Its "ciphertext" is a transparent toy bound to the key name and the AAD: only the
    //! provider's request and response handling is under test, not cryptography.
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::{json, Value};
    use std::io::{BufRead, BufReader, Read, Write};

    pub const TOKEN: &str = "ya29.cli-fake";

    fn crc(b: &[u8]) -> String {
        crc32c::crc32c(b).to_string()
    }

    fn answer(keys: &[String], method_path: &str, auth: &str, body: &[u8]) -> (u16, Value) {
        let err = |code: u16, status: &str| {
            (
                code,
                json!({"error": {"code": code, "message": "fake", "status": status}}),
            )
        };
        if auth != format!("Bearer {TOKEN}") {
            return err(401, "UNAUTHENTICATED");
        }
        let Some(path) = method_path.strip_prefix("POST /v1/") else {
            return err(400, "INVALID_ARGUMENT");
        };
        let Some((key, verb)) = path.rsplit_once(':') else {
            return err(400, "INVALID_ARGUMENT");
        };
        if !keys.iter().any(|k| k == key) {
            return err(404, "NOT_FOUND");
        }
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return err(400, "INVALID_ARGUMENT");
        };
        let field = |n: &str| STANDARD.decode(req[n].as_str().unwrap_or_default()).ok();
        let Some(aad) = field("additionalAuthenticatedData") else {
            return err(400, "INVALID_ARGUMENT");
        };
        if req["additionalAuthenticatedDataCrc32c"] != crc(&aad).as_str() {
            return err(400, "INVALID_ARGUMENT");
        }
        // Toy: "FAKE" | key name | 0 | aad | 0 | plaintext XOR 0x5c.
        let mut bound = key.as_bytes().to_vec();
        bound.push(0);
        bound.extend_from_slice(&aad);
        bound.push(0);
        match verb {
            "encrypt" => {
                let Some(pt) = field("plaintext") else {
                    return err(400, "INVALID_ARGUMENT");
                };
                if req["plaintextCrc32c"] != crc(&pt).as_str() {
                    return err(400, "INVALID_ARGUMENT");
                }
                let mut ct = b"FAKE".to_vec();
                ct.extend_from_slice(&bound);
                ct.extend(pt.iter().map(|b| b ^ 0x5c));
                (
                    200,
                    json!({"name": format!("{key}/cryptoKeyVersions/1"), "ciphertext": STANDARD.encode(&ct),
                       "ciphertextCrc32c": crc(&ct), "verifiedPlaintextCrc32c": true,
                       "verifiedAdditionalAuthenticatedDataCrc32c": true}),
                )
            }
            "decrypt" => {
                let Some(ct) = field("ciphertext") else {
                    return err(400, "INVALID_ARGUMENT");
                };
                let Some(body) = ct
                    .strip_prefix(b"FAKE")
                    .and_then(|r| r.strip_prefix(bound.as_slice()))
                else {
                    return err(400, "INVALID_ARGUMENT");
                };
                let pt: Vec<u8> = body.iter().map(|b| b ^ 0x5c).collect();
                (
                    200,
                    json!({"plaintext": STANDARD.encode(&pt), "plaintextCrc32c": crc(&pt)}),
                )
            }
            _ => err(400, "INVALID_ARGUMENT"),
        }
    }

    /// Serves on a thread; returns the endpoint.
    pub fn start(keys: Vec<String>) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let keys = keys.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut w = s;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let request = line.trim_end().trim_end_matches(" HTTP/1.1").to_owned();
                        let (mut len, mut auth) = (0usize, String::new());
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                match k.trim().to_ascii_lowercase().as_str() {
                                    "content-length" => len = v.trim().parse().unwrap_or(0),
                                    "authorization" => auth = v.trim().to_owned(),
                                    _ => {}
                                }
                            }
                        }
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        let (status, v) = answer(&keys, &request, &auth, &body);
                        let text = v.to_string();
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if w.write_all(resp.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }
}

#[cfg(feature = "gcp")]
#[test]
fn gcp_kms_init_rewrap_to_another_cryptokey_reencrypt() {
    use secrecy::SecretString;
    use tenantguard_kms::gcp::{GcpKmsConfig, GcpKmsProvider, StaticAccessToken};
    const KEY: &str = "projects/tg/locations/global/keyRings/ring/cryptoKeys/kek";
    const KEY2: &str = "projects/tg/locations/global/keyRings/ring/cryptoKeys/kek-2";
    let ep = gcp_fake::start(vec![KEY.into(), KEY2.into()]);
    let provider = |key: &str| -> Arc<dyn KeyProvider> {
        Arc::new(
            GcpKmsProvider::new(GcpKmsConfig {
                endpoint: ep.clone(),
                key_name: key.to_owned(),
                tokens: Arc::new(StaticAccessToken(SecretString::from(
                    gcp_fake::TOKEN.to_owned(),
                ))),
                retry: Default::default(),
            })
            .unwrap(),
        )
    };
    let table = format!("[gcp]\nendpoint = \"{ep}\"\nkey_name = \"{KEY}\"\n");
    let (mut d, init) = Dep::new(
        "gcp",
        &table,
        &[("TENANTGUARD_GCP_ACCESS_TOKEN", gcp_fake::TOKEN.into())],
    );
    let old = start(&d, &init, "gcp", provider(KEY));
    assert_eq!(old, KEY);
    // Cloud KMS rotates versions itself: the command says so instead of pretending.
    let e = d.json(&["kek", "rotate"], 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gcp.key_name"),
        "{e}"
    );
    // Moving to another CryptoKey: configuration, then rewrap.
    d.set("TENANTGUARD_GCP_KEY_NAME", KEY2);
    finish(&d, &old, KEY2, || provider(KEY2));
}

/// Configuration refusals that need a build with the providers.
#[test]
fn missing_provider_settings_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    for (provider, missing) in [
        ("aws", "aws.key_id"),
        ("vault", "vault.address"),
        ("pkcs11", "pkcs11.module"),
        ("gcp", "gcp.access_token"),
    ] {
        let out = Command::new(BIN)
            .current_dir(tmp.path())
            .env_remove("TENANTGUARD_CONFIG")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env("TENANTGUARD_VAULT_TOKEN", "not-a-real-secret")
            .env("TENANTGUARD_PKCS11_PIN", "not-a-real-secret")
            .env("TENANTGUARD_KEY_PROVIDER", provider)
            .args(["--json", "init"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let built = match provider {
            "aws" => cfg!(feature = "aws"),
            "vault" => cfg!(feature = "vault"),
            "pkcs11" => cfg!(feature = "pkcs11"),
            _ => cfg!(feature = "gcp"),
        };
        assert_eq!(out.status.code(), Some(2), "{provider}: {stdout}");
        if built {
            assert!(stdout.contains(missing), "{provider}: {stdout}");
        } else {
            assert!(stdout.contains("--features"), "{provider}: {stdout}");
        }
        // A secret never shows in the output.
        assert!(!stdout.contains("not-a-real-secret"));
        std::fs::remove_file(tmp.path().join("tenantguard.toml")).ok();
    }
}
