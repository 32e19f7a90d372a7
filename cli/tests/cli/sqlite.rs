//! The real `tenantguard` binary against SQLite in temporary directories: every command's
//! happy path and refusals, `--json`, exit codes, a re-encryption killed with SIGKILL and
//! resumed, Ctrl-C, and the command line working beside a service process on the same files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{ctx, json_of, BIN};
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tenantguard::tokens::TokenSpec;
use tenantguard::{Clock, Guard, ServiceRole, TenantContext, TenantId, UserId};

/// A deployment: a config file pointing at `dir/data` (the embedded layout the library
/// opens with `Guard::embedded_with_service`).
struct Dep {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dep {
    fn new() -> Dep {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let d = Dep { _tmp: tmp, root };
        d.ok(&["init", "--dir", "data"]);
        d
    }
    fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(&self.root)
            .env_remove("TENANTGUARD_CONFIG")
            .env("TENANTGUARD_BATCH", "200")
            .timeout(Duration::from_secs(60));
        c
    }
    /// Runs with `--json`, asserts the exit code, returns the parsed document.
    fn json(&self, args: &[&str], code: i32) -> Value {
        json_of(self.cmd(), args, code)
    }
    fn ok(&self, args: &[&str]) -> Value {
        self.json(args, 0)
    }
    /// The library on the same files, as a service would open them.
    fn guard(&self) -> (Guard, ServiceRole) {
        Guard::embedded_with_service(self.data()).unwrap()
    }
    fn guard_at(&self, t: i64) -> (Guard, ServiceRole) {
        struct At(i64);
        impl Clock for At {
            fn now_unix(&self) -> i64 {
                self.0
            }
        }
        Guard::embedded_builder(self.data())
            .unwrap()
            .clock(At(t))
            .build_with_service()
            .unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn seed(g: &Guard, s: &ServiceRole, tenant: &str, n: usize, class: &str) {
    rt().block_on(async {
        let c = ctx(s, tenant);
        for i in 0..n {
            g.records()
                .put(
                    &c,
                    &format!("r{i:05}"),
                    class,
                    Some("bob"),
                    b"secret-payload",
                )
                .await
                .unwrap();
        }
    });
}

fn records_under(d: &Dep, tenant: &str, key: u64) -> u64 {
    let v = d.ok(&["key", "list", tenant]);
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == key)
        .map(|k| k["records"].as_u64().unwrap())
        .unwrap_or(0)
}

fn all_open(d: &Dep, tenant: &str, n: usize) {
    let (g, s) = d.guard();
    rt().block_on(async {
        let c = ctx(&s, tenant);
        for i in 0..n {
            let (_, v) = g
                .records()
                .open_record(&c, &format!("r{i:05}"))
                .await
                .unwrap();
            assert_eq!(v.expose(), b"secret-payload");
        }
    });
}

#[test]
fn help_has_an_example_on_every_command_and_completions_generate() {
    let groups: &[&[&str]] = &[
        &[],
        &["init"],
        &["tenant"],
        &["tenant", "create"],
        &["tenant", "list"],
        &["tenant", "shred"],
        &["key"],
        &["key", "list"],
        &["key", "rotate"],
        &["key", "retire"],
        &["kek"],
        &["kek", "rotate"],
        &["kek", "rewrap"],
        &["kek", "list"],
        &["reencrypt"],
        &["sweep"],
        &["erase-subject"],
        &["audit"],
        &["audit", "export"],
        &["audit", "verify"],
        &["audit", "reconcile"],
        &["audit", "public-key"],
        &["policy"],
        &["policy", "get"],
        &["policy", "set"],
        &["policy", "diff"],
        &["token"],
        &["token", "list"],
        &["token", "revoke"],
        &["token", "kill"],
        &["session"],
        &["session", "list"],
        &["session", "revoke"],
        &["pg"],
        &["pg", "migrate"],
        &["pg", "check"],
        &["doctor"],
        &["completions"],
    ];
    for g in groups {
        Command::new(BIN)
            .args(*g)
            .arg("--help")
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    for shell in ["bash", "zsh", "fish"] {
        Command::new(BIN)
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("reencrypt"));
    }
    Command::new(BIN).arg("frobnicate").assert().code(2);
    Command::new(BIN).args(["reencrypt"]).assert().code(2);
}

#[test]
fn configuration_is_checked_and_nothing_is_created_by_accident() {
    let tmp = tempfile::tempdir().unwrap();
    // No init: a missing key file is a usage error, and nothing is created.
    Command::new(BIN)
        .current_dir(tmp.path())
        .args(["--json", "tenant", "list"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("\"kind\":\"usage\""));
    assert!(!tmp.path().join("tenantguard-data").exists());
    // A named config file must exist; unknown keys and providers are refused.
    Command::new(BIN)
        .current_dir(tmp.path())
        .args(["--config", "nope.toml", "doctor"])
        .assert()
        .code(2);
    std::fs::write(tmp.path().join("bad.toml"), "key_provder = \"local\"\n").unwrap();
    Command::new(BIN)
        .current_dir(tmp.path())
        .args(["--config", "bad.toml", "doctor"])
        .assert()
        .code(2);
    Command::new(BIN)
        .current_dir(tmp.path())
        .env("TENANTGUARD_KEY_PROVIDER", "floppy")
        .args(["doctor"])
        .assert()
        .code(2);
    // A provider of tenantguard-kms this build lacks is named, not ignored.
    Command::new(BIN)
        .current_dir(tmp.path())
        .env("TENANTGUARD_KEY_PROVIDER", "vault")
        .args(["doctor"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("vault"));
    Command::new(BIN)
        .current_dir(tmp.path())
        .env("TENANTGUARD_STORE", "postgres")
        .args(["init"])
        .assert()
        .code(2);
    // Environment variables with the builder's names point the CLI elsewhere.
    let d = Dep::new();
    Command::new(BIN)
        .current_dir(tmp.path())
        .env("TENANTGUARD_KEY_FILE", d.data().join("keys.json"))
        .env("TENANTGUARD_SQLITE_PATH", d.data().join("tenantguard.db"))
        .args(["tenant", "create", "viaenv"])
        .assert()
        .success();
    assert_eq!(d.ok(&["tenant", "list"])["tenants"][0], "viaenv");
}

#[test]
fn tenants_keys_and_keks_end_to_end_with_refusals() {
    let d = Dep::new();
    assert_eq!(d.ok(&["tenant", "create", "acme"])["key"], 1);
    d.ok(&["tenant", "create", "beta"]);
    // Creating twice is refused (4), an unknown tenant is not found (5).
    assert_eq!(
        d.json(&["tenant", "create", "acme"], 4)["error"]["kind"],
        "conflict"
    );
    d.json(&["key", "list", "ghost"], 5);
    d.json(&["tenant", "create", "bad id!"], 2);
    assert_eq!(
        d.ok(&["tenant", "list"])["tenants"],
        serde_json::json!(["acme", "beta"])
    );

    let (g, s) = d.guard();
    seed(&g, &s, "acme", 30, "note");
    drop(g);
    assert_eq!(d.ok(&["key", "rotate", "acme"])["rotated"][0]["key"], 2);
    // The dry run names what still uses the key; the real retire refuses the same.
    let dry = d.json(&["key", "retire", "acme", "1", "--dry-run"], 6);
    assert_eq!(dry["records"], 30);
    assert_eq!(dry["retirable"], false);
    d.json(&["key", "retire", "acme", "1"], 4);
    d.json(&["key", "retire", "acme", "2", "--dry-run"], 6);
    d.json(&["key", "retire", "acme", "9", "--dry-run"], 5);
    let r = d.ok(&["reencrypt", "acme"]);
    assert_eq!(r["moved"], 30);
    assert_eq!(r["remaining"], 0);
    // Twice does nothing twice.
    assert_eq!(d.ok(&["reencrypt", "--all"])["moved"], 0);
    assert_eq!(
        d.ok(&["key", "retire", "acme", "1", "--dry-run"])["retirable"],
        true
    );
    d.ok(&["key", "retire", "acme", "1"]);
    assert_eq!(
        d.ok(&["key", "list", "acme"])["keys"][0]["state"],
        "destroyed"
    );
    all_open(&d, "acme", 30);

    // KEK rotation and re-wrap; again does nothing twice.
    let k = d.ok(&["kek", "rotate"]);
    assert_eq!(k["kek"], "kek-2");
    let w = d.ok(&["kek", "rewrap"]);
    assert_eq!(w["rewrapped"], 2); // acme key 2 and beta key 1
    let w = d.ok(&["kek", "rewrap"]);
    assert_eq!(w["rewrapped"], 0);
    assert_eq!(d.ok(&["kek", "list"])["current"], "kek-2");
    all_open(&d, "acme", 30);

    // Shred: the id typed back or --yes; a wrong answer shreds nothing.
    d.cmd()
        .args(["tenant", "shred", "beta"])
        .write_stdin("acme\n")
        .assert()
        .code(4);
    assert_eq!(d.ok(&["key", "list", "beta"])["keys"][0]["state"], "active");
    d.cmd()
        .args(["tenant", "shred", "beta"])
        .write_stdin("beta\n")
        .assert()
        .success();
    assert_eq!(
        d.ok(&["key", "list", "beta"])["keys"][0]["state"],
        "destroyed"
    );
    assert_eq!(d.ok(&["tenant", "shred", "beta", "--yes"])["already"], true);
    d.ok(&["tenant", "shred", "acme", "--yes"]);
    let (g, s) = d.guard();
    rt().block_on(async {
        assert!(g
            .records()
            .open_record(&ctx(&s, "acme"), "r00000")
            .await
            .is_err());
    });
}

#[test]
fn a_mistyped_tenant_is_not_found_and_nothing_is_written_for_it() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    // Exit 5 (docs/OPERATIONS.md), never an empty tenant that an erasure, a policy change or
    // an audit export succeeds on.
    for args in [
        &["erase-subject", "acmee", "customer-4711"][..],
        &["policy", "set", "acmee", "--retention", "run_log=30d"],
        &["policy", "diff", "acmee", "--retention", "run_log=30d"],
        &["audit", "export", "acmee", "--out", "acmee.bundle"],
        &["audit", "verify", "acmee"],
        &["token", "list", "acmee"],
        &["token", "revoke", "acmee", "tok_1"],
        &["token", "kill", "acmee", "build-bot"],
        &["session", "list", "acmee"],
        &["session", "revoke", "acmee", "--user", "alice"],
    ] {
        assert_eq!(d.json(args, 5)["error"]["kind"], "not_found", "{args:?}");
    }
    // Created now, it has only its creation entry and the default windows.
    d.ok(&["tenant", "create", "acmee"]);
    assert_eq!(d.ok(&["audit", "verify", "acmee"])["entries"], 1);
    assert_eq!(
        d.ok(&["policy", "get", "acmee"])["retention"]["run_log"],
        90 * 86_400
    );
}

#[test]
fn retention_policies_sweeps_and_subject_erasure() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    d.ok(&["tenant", "create", "beta"]);
    // Records written 40 days ago through the library.
    let (g, s) = d.guard_at(now() - 40 * 86_400);
    seed(&g, &s, "acme", 20, "run_log");
    seed(&g, &s, "beta", 5, "run_log");
    drop(g);
    let (g, s) = d.guard();
    rt().block_on(async {
        g.records()
            .put(&ctx(&s, "acme"), "fresh", "run_log", Some("eve"), b"x")
            .await
            .unwrap();
    });
    drop(g);
    // Default run_log window is 90 days: nothing due.
    assert_eq!(d.ok(&["sweep", "--all", "--dry-run"])["deleted"], 0);
    let diff = d.json(&["policy", "diff", "acme", "--retention", "run_log=30d"], 6);
    assert_eq!(diff["changes"][0]["to"], "30d");
    d.ok(&["policy", "set", "acme", "--retention", "run_log=30d"]);
    assert_eq!(
        d.ok(&["policy", "get", "acme"])["retention"]["run_log"],
        30 * 86_400
    );
    d.ok(&["policy", "diff", "acme", "--retention", "run_log=30d"]);
    d.json(&["policy", "set", "acme", "--retention", "run_log=soon"], 2);
    d.json(&["policy", "set", "acme"], 2);
    let dry = d.ok(&["sweep", "acme", "--dry-run"]);
    assert_eq!(dry["deleted"], 20);
    assert_eq!(d.ok(&["sweep", "--all", "--dry-run"])["deleted"], 20);
    assert_eq!(d.ok(&["sweep", "--all"])["deleted"], 20);
    assert_eq!(d.ok(&["sweep", "--all"])["deleted"], 0);
    // beta kept its default window; back to default for acme.
    d.ok(&["policy", "set", "acme", "--retention", "run_log=default"]);
    assert_eq!(
        d.ok(&["policy", "get", "acme"])["retention"]["run_log"],
        90 * 86_400
    );
    // Egress policy from a file, diffed then set.
    let f = d.root.join("strict.json");
    std::fs::write(
        &f,
        r#"{"redaction": "strict", "terms": ["Project Falcon"]}"#,
    )
    .unwrap();
    let f = f.to_str().unwrap();
    let diff = d.json(&["policy", "diff", "acme", "--egress-file", f], 6);
    assert!(diff["changes"].as_array().unwrap().len() >= 2);
    d.ok(&["policy", "set", "acme", "--egress-file", f]);
    assert_eq!(
        d.ok(&["policy", "get", "acme"])["egress"]["terms"][0],
        "Project Falcon"
    );
    d.ok(&["policy", "diff", "acme", "--egress-file", f]);
    std::fs::write(d.root.join("bad.json"), r#"{"redaction": "loud"}"#).unwrap();
    d.json(&["policy", "set", "acme", "--egress-file", "bad.json"], 2);

    let e = d.ok(&["erase-subject", "beta", "bob"]);
    assert_eq!(e["deleted"], 5);
    assert!(e["audit_erased"].is_u64(), "{e}");
    // A keyed receipt: the secret is handed out once, the digest is no plain SHA-256.
    let secret = e["receipt_secret"].as_str().unwrap();
    let digest = e["subject_digest"].as_str().unwrap();
    assert_eq!((secret.len(), digest.len()), (64, 64));
    assert_ne!(digest, tenantguard::audit::digest("bob"));
    assert!(e["receipt"]["seq"].as_u64().unwrap() > 0);
    assert_eq!(d.ok(&["erase-subject", "beta", "bob"])["deleted"], 0);
}

#[test]
fn audit_export_and_verify_against_a_head() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    d.ok(&["tenant", "create", "beta"]);
    d.ok(&["key", "rotate", "acme"]);
    let out = d.root.join("acme.jsonl");
    let e = d.ok(&[
        "audit",
        "export",
        "acme",
        "--jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    let head = e["head"].as_str().unwrap().to_owned();
    assert_eq!(e["entries"], 2);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "export readable by others: {mode:o}");
    }
    let v = d.ok(&["audit", "verify", "acme", "--expect-head", &head]);
    assert_eq!(v["ok"], true);
    d.ok(&[
        "audit",
        "verify",
        "acme",
        "--file",
        out.to_str().unwrap(),
        "--expect-head",
        &head,
    ]);
    // A later entry: the stored log no longer ends at the old head (integrity, 3).
    d.ok(&["key", "rotate", "acme"]);
    assert_eq!(
        d.json(&["audit", "verify", "acme", "--expect-head", &head], 3)["error"]["kind"],
        "integrity"
    );
    // A tampered export fails (3); another tenant's export is refused (3).
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&out, text.replace("key.rotate", "key.rotatf")).unwrap();
    d.json(
        &["audit", "verify", "acme", "--file", out.to_str().unwrap()],
        3,
    );
    let b = d.root.join("beta.jsonl");
    d.ok(&[
        "audit",
        "export",
        "beta",
        "--jsonl",
        "--out",
        b.to_str().unwrap(),
    ]);
    d.json(
        &["audit", "verify", "acme", "--file", b.to_str().unwrap()],
        3,
    );
    // Every tenant into a directory; to stdout without --json.
    let all = d.ok(&["audit", "export", "--all", "--out-dir", "exports"]);
    assert_eq!(all["exported"].as_array().unwrap().len(), 2);
    assert!(d.root.join("exports/beta.bundle").exists());
    d.cmd()
        .args(["audit", "export", "acme"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"seq\":3"));
    d.json(&["audit", "export", "acme"], 2);
}

/// A copy of `bundle` with `f` applied to its entry lines.
fn tamper(bundle: &str, f: impl Fn(&mut Vec<String>)) -> String {
    let (head, note) = bundle.split_once("\ncheckpoint\n").unwrap();
    let mut lines: Vec<String> = head.lines().map(str::to_owned).collect();
    let header = lines.remove(0);
    f(&mut lines);
    format!("{header}\n{}\ncheckpoint\n{note}", lines.join("\n"))
}

#[test]
fn audit_bundles_verify_offline_and_tampering_exits_3_with_its_reason() {
    let d = Dep::new();
    let cfg = d.root.join("tenantguard.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text += "checkpoint_file = \"data/audit-checkpoints\"\n";
    std::fs::write(&cfg, text).unwrap();
    d.ok(&["tenant", "create", "acme"]);
    d.ok(&["key", "rotate", "acme"]);
    let vkey = d.ok(&["audit", "public-key"])["public_keys"][0]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(d.root.join("audit.vkey"), format!("{vkey}\n")).unwrap();
    let b1 = d.root.join("acme-1.bundle");
    let e = d.ok(&["audit", "export", "acme", "--out", b1.to_str().unwrap()]);
    let n1 = e["entries"].as_u64().unwrap();
    assert!(n1 >= 2, "{e}");
    assert_eq!(e["checkpoint"]["size"], n1);
    assert!(
        std::fs::read_to_string(d.root.join("data/audit-checkpoints"))
            .unwrap()
            .starts_with("acme ")
    );
    d.ok(&["key", "rotate", "acme"]);
    let b2 = d.root.join("acme-2.bundle");
    let n2 = d.ok(&["audit", "export", "acme", "--out", b2.to_str().unwrap()])["entries"]
        .as_u64()
        .unwrap();
    assert!(n2 > n1);

    // Offline, as a customer: no configuration, key file or database in sight.
    let away = tempfile::tempdir().unwrap();
    let offline = |args: &[&str], code: i32| -> Value {
        let out = Command::new(BIN)
            .current_dir(away.path())
            .env_remove("TENANTGUARD_CONFIG")
            .arg("--json")
            .args(["audit", "verify"])
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stdout}");
        serde_json::from_str(stdout.trim()).unwrap()
    };
    let vk = d.root.join("audit.vkey");
    let (b1s, b2s, vks) = (
        b1.to_str().unwrap(),
        b2.to_str().unwrap(),
        vk.to_str().unwrap(),
    );
    let v = offline(&["--export", b2s, "--public-key", vks], 0);
    assert_eq!(
        (v["ok"].clone(), v["entries"].clone()),
        (Value::Bool(true), n2.into())
    );
    // The key inline works too; the named tenant must be the bundle's.
    offline(&["acme", "--export", b2s, "--public-key", &vkey], 0);
    assert_eq!(
        offline(&["beta", "--export", b2s, "--public-key", vks], 3)["reason"],
        "tenant_mismatch"
    );
    // The newer bundle extends the older checkpoint; the older one against the newer is
    // a rollback.
    let v = offline(
        &["--export", b2s, "--public-key", vks, "--checkpoint", b1s],
        0,
    );
    assert_eq!(v["extends_earlier_checkpoint"], true);
    assert_eq!(
        offline(
            &["--export", b1s, "--public-key", vks, "--checkpoint", b2s],
            3
        )["reason"],
        "rollback"
    );
    // Each kind of tampering, each with its reason.
    let good = std::fs::read_to_string(&b2).unwrap();
    let bad = away.path().join("bad.bundle");
    let bads = bad.to_str().unwrap().to_owned();
    let check = |text: String, reason: &str| {
        std::fs::write(&bad, text).unwrap();
        let v = offline(&["--export", &bads, "--public-key", vks], 3);
        assert_eq!(v["ok"], false);
        assert_eq!(v["reason"], reason, "{v}");
    };
    check(
        tamper(&good, |l| {
            l.pop();
        }),
        "truncated",
    );
    check(
        tamper(&good, |l| {
            l.remove(1);
        }),
        "missing",
    );
    check(tamper(&good, |l| l.insert(1, l[0].clone())), "out_of_order");
    check(
        tamper(&good, |l| {
            let i = l.iter().position(|x| x.contains("key.rotate")).unwrap();
            l[i] = l[i].replace("key.rotate", "key.rotatf");
        }),
        "entry_altered",
    );
    let (entries, note) = good.split_once("\ncheckpoint\n").unwrap();
    let mut lines = note.lines();
    let origin = lines.next().unwrap();
    let size = lines.next().unwrap();
    check(
        format!(
            "{entries}\ncheckpoint\n{}",
            note.replacen(
                &format!("{origin}\n{size}\n"),
                &format!("{origin}\n{}\n", n2 + 1),
                1
            )
        ),
        "bad_signature",
    );
    // Another deployment's key does not vouch for this bundle.
    let other = Dep::new();
    let other_key = other.ok(&["audit", "public-key"])["public_keys"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        offline(&["--export", b2s, "--public-key", &other_key], 3)["reason"],
        "unknown_key"
    );
    // Text output names the reason too.
    std::fs::write(
        &bad,
        tamper(&good, |l| {
            l.pop();
        }),
    )
    .unwrap();
    Command::new(BIN)
        .current_dir(away.path())
        .args(["audit", "verify", "--export", &bads, "--public-key", vks])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("TAMPERED (truncated)"));
    // A bad key or a missing bundle is a usage or I/O error, not a verdict.
    offline(&["--export", b2s, "--public-key", "not-a-key"], 2);

    // The stored log against the checkpoint file.
    let v = d.ok(&["audit", "verify", "acme"]);
    assert_eq!(v["ok"], true);
    assert!(v["checked_against"]
        .as_str()
        .unwrap()
        .ends_with("audit-checkpoints"));
    // Someone with write access to the database removes the newest entry: the chain that
    // is left is intact, but the signed checkpoint covers more.
    let db = d.data().join("tenantguard.db");
    let sql = |q: &str| {
        let out = StdCommand::new("sqlite3").arg(&db).arg(q).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sql("DROP TRIGGER tg_audit_no_delete; DELETE FROM tg_audit WHERE tenant_id = 'acme' AND seq = (SELECT max(seq) FROM tg_audit WHERE tenant_id = 'acme');");
    let v = d.json(&["audit", "verify", "acme"], 3);
    assert_eq!(v["error"]["reason"], "truncated", "{v}");
    // An entry rewritten in place breaks the chain itself.
    sql("DROP TRIGGER tg_audit_no_update; UPDATE tg_audit SET entry = replace(entry, 'key.rotate', 'key.rotatf') WHERE tenant_id = 'acme' AND seq = (SELECT min(seq) FROM tg_audit WHERE tenant_id = 'acme' AND entry LIKE '%key.rotate%');");
    let v = d.json(&["audit", "verify", "acme"], 3);
    assert_eq!(v["error"]["kind"], "integrity");
    assert_eq!(v["error"]["reason"], "hash_mismatch", "{v}");
}

#[test]
fn tokens_sessions_and_the_kill_switch() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    let (g, s) = d.guard();
    let ids: Vec<String> = rt().block_on(async {
        let c = ctx(&s, "acme");
        let mut ids = Vec::new();
        for name in ["a", "b", "c"] {
            let bot = UserId::new("build-bot").unwrap();
            ids.push(
                g.tokens()
                    .create(&c, TokenSpec::read_only(bot, name))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let other = UserId::new("other-bot").unwrap();
        g.tokens()
            .create(&c, TokenSpec::read_only(other, "d"))
            .await
            .unwrap();
        ids
    });
    let l = d.ok(&["token", "list", "acme"]);
    assert_eq!(l["tokens"].as_array().unwrap().len(), 4);
    assert_eq!(
        d.ok(&["token", "list", "acme", "--agent", "build-bot"])["tokens"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(d.ok(&["token", "revoke", "acme", &ids[0]])["revoked"], true);
    assert_eq!(
        d.ok(&["token", "revoke", "acme", &ids[0]])["revoked"],
        false
    );
    d.json(&["token", "revoke", "acme", "tok_nope"], 5);
    assert_eq!(d.ok(&["token", "kill", "acme", "build-bot"])["revoked"], 2);
    let l = d.ok(&["token", "list", "acme"]);
    let live: Vec<_> = l["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["live"] == true)
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["agent"], "other-bot");
    // The library sees the revocations the CLI made.
    rt().block_on(async {
        let c = ctx(&s, "acme");
        let bot = UserId::new("build-bot").unwrap();
        let toks = g.tokens().list(&c, Some(&bot), None, 10).await.unwrap();
        assert!(toks.iter().all(|t| t.revoked_at.is_some()));
    });
    assert_eq!(
        d.ok(&["session", "list", "acme", "--user", "alice"])["sessions"],
        serde_json::json!([])
    );
    assert_eq!(
        d.ok(&["session", "list", "acme"])["sessions"],
        serde_json::json!([])
    );
    d.json(&["session", "revoke", "acme", "ses_nope"], 5);
    assert_eq!(
        d.ok(&["session", "revoke", "acme", "--user", "alice"])["revoked"],
        0
    );
    // Sessions of two users (and one in another tenant): the list without --user holds
    // every user's of the tenant, and only those.
    d.ok(&["tenant", "create", "globex"]);
    let mut made: Vec<String> = rt().block_on(async {
        let mut ids = Vec::new();
        for (t, u, label) in [
            ("acme", "alice", "laptop"),
            ("acme", "alice", "phone"),
            ("acme", "bob", "desk"),
            ("globex", "carol", "tablet"),
        ] {
            let user = UserId::new(u).unwrap();
            g.members()
                .set(&ctx(&s, t), &user, tenantguard::Role::Member)
                .await
                .unwrap();
            let c = TenantContext::resolved(tenantguard::tenant::Resolved::vouch(
                &s,
                TenantId::new(t).unwrap(),
                user,
                tenantguard::Role::Member,
            ));
            let id = g.sessions().create(&c, label).await.unwrap().session_id;
            if t == "acme" {
                ids.push(id);
            }
        }
        ids
    });
    let l = d.ok(&["session", "list", "acme"]);
    let mut got: Vec<String> = l["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    made.sort();
    assert_eq!(got, made);
    assert_eq!(
        d.ok(&["session", "list", "acme", "--user", "bob"])["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        d.ok(&["session", "revoke", "acme", "--user", "alice"])["revoked"],
        2
    );
    let l = d.ok(&["session", "list", "acme"]);
    let revoked = l["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| !x["revoked_at"].is_null())
        .count();
    assert_eq!(revoked, 2);
}

#[test]
fn doctor_flags_a_loose_key_file_and_overdue_keys_and_due_rotation_fixes_them() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "fresh"]);
    assert_eq!(d.ok(&["doctor"])["ok"], true);
    // A tenant whose key was created 100 days ago (max 90 by default).
    let (g, s) = d.guard_at(now() - 100 * 86_400);
    rt().block_on(async { g.keys().create_tenant(&ctx(&s, "old")).await.unwrap() });
    drop(g);
    let doc = d.json(&["doctor"], 6);
    let failing: Vec<_> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failing.len(), 1);
    assert!(failing[0]["detail"].as_str().unwrap().contains("old key 1"));
    let r = d.ok(&["key", "rotate", "--due"]);
    assert_eq!(
        r["rotated"],
        serde_json::json!([{"tenant": "old", "key": 2}])
    );
    assert_eq!(
        d.ok(&["key", "rotate", "--due"])["rotated"],
        serde_json::json!([])
    );
    assert_eq!(d.ok(&["doctor"])["ok"], true);
    // KEK age, from the creation time the key file records: not due when fresh; due
    // once that time is old (however recently the command line first saw the KEK).
    let k = d.ok(&["kek", "rotate", "--due"]);
    assert_eq!(k["rotated"], false);
    assert_eq!(k["age_from"], "key_file");
    set_kek_created(&d, "kek-1", Some(now() - 400 * 86_400));
    let doc = d.json(&["doctor"], 6);
    assert!(
        doc.to_string().contains("kek-1: 400 days, max 365"),
        "{doc}"
    );
    assert_eq!(d.ok(&["kek", "rotate", "--due"])["rotated"], true);
    assert_eq!(d.ok(&["kek", "rotate", "--due"])["rotated"], false);
    d.ok(&["kek", "rewrap"]);
    assert_eq!(d.ok(&["doctor"])["ok"], true);
    // A key file readable by others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let kf = d.data().join("keys.json");
        std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let doc = d.json(&["doctor"], 6);
        assert!(doc["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("644"));
        std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Sets (or, with `None`, removes as files of earlier releases have it) a KEK's creation
/// time in the key file, keeping its mode.
fn set_kek_created(d: &Dep, kek: &str, t: Option<i64>) {
    let kf = d.data().join("keys.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&kf).unwrap()).unwrap();
    for e in v["keks"].as_array_mut().unwrap() {
        if e["id"] == kek {
            match t {
                Some(t) => e["created_at"] = t.into(),
                None => {
                    e.as_object_mut().unwrap().remove("created_at");
                }
            }
        }
    }
    std::fs::write(&kf, v.to_string()).unwrap();
}

#[test]
fn a_key_file_without_creation_times_ages_its_kek_from_first_seen() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    // The key file as earlier releases wrote it: no creation time.
    set_kek_created(&d, "kek-1", None);
    let l = d.ok(&["kek", "list"]);
    assert_eq!(l["age_from"], "first_seen");
    assert_eq!(l["keks"][0]["created_at"], Value::Null);
    // The first-seen fallback decides (as before creation times existed), and says so.
    let state = d.data().join("tenantguard-cli-state.json");
    let mut st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    st["kek_first_seen"]["kek-1"] = (now() - 400 * 86_400).into();
    std::fs::write(&state, st.to_string()).unwrap();
    let doc = d.json(&["doctor"], 6);
    assert!(doc.to_string().contains("since first seen"), "{doc}");
    let r = d.ok(&["kek", "rotate", "--due"]);
    assert_eq!(r["rotated"], true);
    // The new KEK has a recorded time; the old one stays unknown (never invented), and a
    // service process's write in between (a tenant secret) kept both.
    let (g, s) = d.guard();
    rt().block_on(async { g.keys().create_tenant(&ctx(&s, "beta")).await.unwrap() });
    drop(g);
    let l = d.ok(&["kek", "list"]);
    assert_eq!(l["current"], "kek-2");
    assert_eq!(l["age_from"], "key_file");
    assert_eq!(l["keks"][0]["created_at"], Value::Null);
    assert!((l["keks"][1]["created_at"].as_i64().unwrap() - now()).abs() < 60);
    assert_eq!(d.ok(&["kek", "rotate", "--due"])["rotated"], false);
    assert_eq!(d.ok(&["kek", "rewrap"])["rewrapped"], 1);
    assert_eq!(d.ok(&["doctor"])["ok"], true);
}

/// Starts `reencrypt` and waits until it has recorded a checkpoint (it is mid-job).
// The caller kills and waits for the child it gets back.
#[allow(clippy::zombie_processes)]
fn start_reencrypt_and_wait_for_checkpoint(
    d: &Dep,
    tenant: &str,
    batch: &str,
) -> std::process::Child {
    let state = d.data().join("tenantguard-cli-state.json");
    let mut child = StdCommand::new(BIN)
        .current_dir(&d.root)
        .args(["--json", "reencrypt", tenant, "--batch", batch])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::fs::read_to_string(&state).is_ok_and(|s| s.contains("reencrypt:all:")) {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no checkpoint appeared");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

const N: usize = 3000;

#[test]
fn reencryption_killed_with_sigkill_resumes_with_nothing_lost_and_no_double_work() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    let (g, s) = d.guard();
    seed(&g, &s, "acme", N, "note");
    drop(g);
    d.ok(&["key", "rotate", "acme"]);
    let mut child = start_reencrypt_and_wait_for_checkpoint(&d, "acme", "25");
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let left = records_under(&d, "acme", 1);
    let moved_before = N as u64 - left;
    assert!(left > 0 && moved_before > 0, "killed mid-job: {left} left");
    // The resumed run moves exactly what was left: nothing twice, nothing skipped.
    let r = d.ok(&["reencrypt", "acme", "--batch", "500"]);
    assert!(r["tenants"][0]["resumed_after"].is_string(), "{r}");
    assert_eq!(r["moved"].as_u64().unwrap(), left, "{r}");
    assert_eq!(r["remaining"], 0);
    assert_eq!(records_under(&d, "acme", 1), 0);
    assert_eq!(records_under(&d, "acme", 2), N as u64);
    assert_eq!(d.ok(&["reencrypt", "acme"])["moved"], 0);
    all_open(&d, "acme", N);
    d.ok(&["key", "retire", "acme", "1"]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_after_the_batch_with_exit_130_and_the_next_run_resumes() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    let (g, s) = d.guard();
    seed(&g, &s, "acme", 1500, "note");
    drop(g);
    d.ok(&["key", "rotate", "acme"]);
    let child = start_reencrypt_and_wait_for_checkpoint(&d, "acme", "10");
    StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["interrupted"], true);
    let moved = v["moved"].as_u64().unwrap();
    assert!(moved > 0 && moved < 1500);
    assert_eq!(records_under(&d, "acme", 1), 1500 - moved);
    let r = d.ok(&["reencrypt", "acme"]);
    assert_eq!(r["tenants"][0]["resumed_after"], v["checkpoint"]);
    assert_eq!(r["moved"].as_u64().unwrap(), 1500 - moved);
    all_open(&d, "acme", 1500);
}

#[test]
fn the_command_line_and_a_running_service_share_the_key_file_and_database() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    let (g, s) = d.guard();
    seed(&g, &s, "acme", 600, "note");
    // The service keeps writing and reading while the operator rotates everything.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let service = {
        let (stop, written) = (stop.clone(), written.clone());
        std::thread::spawn(move || {
            rt().block_on(async {
                let c = ctx(&s, "acme");
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("live{i:06}");
                    g.records()
                        .put(&c, &id, "note", None, id.as_bytes())
                        .await
                        .unwrap();
                    let (_, v) = g.records().open_record(&c, &id).await.unwrap();
                    assert_eq!(v.expose(), id.as_bytes());
                    // Old rows keep opening through every rotation.
                    let (_, v) = g.records().open_record(&c, "r00007").await.unwrap();
                    assert_eq!(v.expose(), b"secret-payload");
                    i += 1;
                    written.store(i, Ordering::SeqCst);
                }
            });
        })
    };
    let wait_for_writes = |n: u64| {
        let start = written.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(20);
        while written.load(Ordering::SeqCst) < start + n {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for_writes(5);
    d.ok(&["key", "rotate", "acme"]);
    wait_for_writes(5);
    d.ok(&["reencrypt", "acme"]);
    d.ok(&["kek", "rotate"]);
    wait_for_writes(5);
    d.ok(&["kek", "rewrap"]);
    wait_for_writes(5);
    stop.store(true, Ordering::SeqCst);
    service
        .join()
        .expect("the service failed while the CLI worked");
    let n = written.load(Ordering::SeqCst) as usize;
    // Writes the service made under the old key after the re-encryption are picked up.
    d.ok(&["reencrypt", "acme"]);
    assert_eq!(records_under(&d, "acme", 1), 0);
    d.ok(&["key", "retire", "acme", "1"]);
    let (g, s) = d.guard();
    rt().block_on(async {
        let c = ctx(&s, "acme");
        for i in 0..n {
            let id = format!("live{i:06}");
            let (_, v) = g.records().open_record(&c, &id).await.unwrap();
            assert_eq!(v.expose(), id.as_bytes());
        }
    });
    all_open(&d, "acme", 600);
}

#[test]
fn plain_progress_lines_when_not_a_terminal() {
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    d.ok(&["tenant", "create", "beta"]);
    d.cmd().args(["sweep", "--all"]).assert().success().stderr(
        predicate::str::contains("sweep (tenants): 1/2").or(predicate::str::contains("2/2")),
    );
    d.cmd()
        .args(["--quiet", "sweep", "--all"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
}

/// On a terminal (a pty from util-linux `script`) the job draws an indicatif bar with rate
/// and ETA instead of plain lines.
#[cfg(unix)]
#[test]
fn a_terminal_gets_a_progress_bar() {
    if StdCommand::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let d = Dep::new();
    d.ok(&["tenant", "create", "acme"]);
    let (g, s) = d.guard();
    seed(&g, &s, "acme", 600, "note");
    drop(g);
    d.ok(&["key", "rotate", "acme"]);
    let inner = format!("{BIN} reencrypt acme --batch 3");
    let out = StdCommand::new("script")
        .current_dir(&d.root)
        .env("TERM", "xterm")
        .args(["-qefc", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("reencrypt acme ["), "no bar drawn: {text}");
    assert!(text.contains("/s") && text.contains("eta"), "{text}");
    assert!(
        !text.contains("reencrypt acme: "),
        "plain lines on a terminal: {text}"
    );
    assert!(text.contains("moved 600 records"), "{text}");
}

/// The per-tenant jobs resume after the tenant their checkpoint names, and a finished job
/// removes its checkpoint (the next run covers every tenant again).
#[test]
fn per_tenant_jobs_resume_from_their_checkpoints() {
    let d = Dep::new();
    for t in ["a", "b", "c"] {
        d.ok(&["tenant", "create", t]);
    }
    let state = d.data().join("tenantguard-cli-state.json");
    let set = |job: &str, after: &str| {
        let mut st: Value =
            serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        st["checkpoints"][job] = after.into();
        std::fs::write(&state, st.to_string()).unwrap();
    };
    d.ok(&["kek", "rotate"]);
    // A re-wrap checkpoint names the KEK it was written under.
    set("kek-rewrap:kek-2", "a");
    let r = d.ok(&["kek", "rewrap"]);
    assert_eq!(r["resumed_after"], "a");
    assert_eq!(r["tenants"], 2);
    assert_eq!(r["rewrapped"], 2);
    // Finished: the next run starts from the first tenant and finds a's key to re-wrap.
    let r = d.ok(&["kek", "rewrap"]);
    assert_eq!(r["resumed_after"], Value::Null);
    assert_eq!(r["rewrapped"], 1);
    set("sweep-all", "b");
    let r = d.ok(&["sweep", "--all"]);
    assert_eq!(r["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(r["tenants"][0]["tenant"], "c");
    assert_eq!(
        d.ok(&["sweep", "--all"])["tenants"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // An export checkpoint names the format and directory it was written for.
    set("audit-export-all:bundle:ex", "a");
    let r = d.ok(&["audit", "export", "--all", "--out-dir", "ex"]);
    assert_eq!(r["exported"].as_array().unwrap().len(), 2);
    assert!(!d.root.join("ex/a.jsonl").exists());
}

/// `audit reconcile` after a restore: the database file copied back from a backup, the
/// lost window's token revocation re-applied from the kept export, a new checkpoint in the
/// same sink file, a customer's lost-window checkpoint reported restored (exit 6); a
/// second run has nothing to reconcile (exit 4), a tampered export is refused (exit 3).
#[test]
fn audit_reconcile_after_a_restore() {
    let d = Dep::new();
    let cfg = d.root.join("tenantguard.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text += "checkpoint_file = \"data/audit-checkpoints\"\n";
    std::fs::write(&cfg, text).unwrap();
    d.ok(&["tenant", "create", "acme"]);
    let (g, s) = d.guard();
    let id = rt().block_on(async {
        let bot = UserId::new("build-bot").unwrap();
        g.tokens()
            .create(&ctx(&s, "acme"), TokenSpec::read_only(bot, "a"))
            .await
            .unwrap()
            .id
    });
    drop(g);
    let n = d.ok(&["audit", "export", "acme", "--out", "b0.bundle"])["entries"]
        .as_u64()
        .unwrap();
    let db = d.data().join("tenantguard.db");
    let backup = d.root.join("backup.db");
    let out = StdCommand::new("sqlite3")
        .arg(&db)
        .arg(format!("VACUUM INTO '{}'", backup.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(d.ok(&["token", "revoke", "acme", &id])["revoked"], true);
    // Not a revocation: listed for the operator, not re-applied.
    d.ok(&["key", "rotate", "acme"]);
    let p = d.ok(&["audit", "export", "acme", "--out", "lost.bundle"])["entries"]
        .as_u64()
        .unwrap();
    assert!(p > n);
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    std::fs::copy(&backup, &db).unwrap();
    // The restored log is cut against the sink until reconciled.
    assert_eq!(
        d.json(&["audit", "verify", "acme"], 3)["error"]["reason"],
        "truncated"
    );
    // A tampered export is refused and nothing happens.
    let lost = std::fs::read_to_string(d.root.join("lost.bundle")).unwrap();
    std::fs::write(
        d.root.join("bad.bundle"),
        lost.replacen("token.revoke", "token.revokf", 1),
    )
    .unwrap();
    let v = d.json(
        &[
            "audit",
            "reconcile",
            "acme",
            "--lost-export",
            "bad.bundle",
            "--reason",
            "restore",
        ],
        3,
    );
    assert_eq!(v["error"]["kind"], "integrity", "{v}");
    let r = d.ok(&[
        "audit",
        "reconcile",
        "acme",
        "--lost-export",
        "lost.bundle",
        "--reason",
        "restored backup",
    ]);
    assert_eq!(r["restored_size"], n, "{r}");
    assert_eq!(r["superseded"]["size"], p);
    assert_eq!(r["revocations"]["reapplied"], 1);
    assert_eq!(r["recorded_now"], true);
    assert_eq!(r["revocations"]["manual"][0]["action"], "key.rotate", "{r}");
    // The token is revoked again: revoking it once more changes nothing.
    assert_eq!(d.ok(&["token", "revoke", "acme", &id])["revoked"], false);
    d.ok(&["audit", "verify", "acme"]);
    d.json(
        &[
            "audit",
            "reconcile",
            "acme",
            "--lost-export",
            "lost.bundle",
            "--reason",
            "again",
        ],
        4,
    );
    // A customer holding the lost checkpoint: restored, not a fork or rollback.
    d.ok(&["audit", "export", "acme", "--out", "after.bundle"]);
    let vkey = d.ok(&["audit", "public-key"])["public_keys"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let v = d.json(
        &[
            "audit",
            "verify",
            "--export",
            "after.bundle",
            "--public-key",
            &vkey,
            "--checkpoint",
            "lost.bundle",
        ],
        6,
    );
    assert_eq!(v["outcome"], "restored", "{v}");
    assert_eq!(v["restore"]["restored_size"], n);
    assert_eq!(v["restore"]["superseded_size"], p);
    // Human output names the command's work.
    let out = d
        .cmd()
        .args([
            "audit",
            "verify",
            "--export",
            "after.bundle",
            "--public-key",
            &vkey,
            "--checkpoint",
            "b0.bundle",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
