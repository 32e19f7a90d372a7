//! The command line under a hostile or careless operator and a local attacker: malformed
//! arguments and configuration, secrets that must not be echoed, files planted at the
//! paths it writes, closed output streams. Each test fails if its attack works.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{json_of, BIN};
use assert_cmd::Command;
use serde_json::Value;

/// A deployment made by `init --dir data` in a temporary directory.
struct Dep {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dep {
    fn new() -> Dep {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let d = Dep { _tmp: tmp, root };
        d.json(&["init", "--dir", "data"], 0);
        d
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(&self.root)
            .env_remove("TENANTGUARD_CONFIG")
            .env("RUST_BACKTRACE", "0")
            .timeout(Duration::from_secs(60));
        c
    }
    fn json(&self, args: &[&str], code: i32) -> Value {
        json_of(self.cmd(), args, code)
    }
}

#[test]
fn bad_retention_windows_are_usage_errors_not_panics() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    // A unit that is not one byte long used to split a character in two: a panic, exit 101.
    for w in ["run_log=30é", "run_log=é", "run_log=3日"] {
        for cmd in ["set", "diff"] {
            let e = d.json(&["policy", cmd, "acme", "--retention", w], 2);
            assert_eq!(e["error"]["kind"], "usage", "{cmd} {w}: {e}");
        }
    }
    // A window `policy set` refuses is no change `policy diff` may announce (exit 6).
    for w in ["run_log=-5d", "run_log=0h", "run_log=-0s"] {
        d.json(&["policy", "diff", "acme", "--retention", w], 2);
        d.json(&["policy", "set", "acme", "--retention", w], 2);
    }
    let p = d.json(&["policy", "get", "acme"], 0);
    assert_eq!(
        p["retention"]["run_log"],
        90 * 86_400,
        "nothing changed: {p}"
    );
}

#[test]
fn a_secret_written_without_quotes_is_not_echoed_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    // An HSM PIN or a token typed as a bare number: not a string, so the configuration is
    // refused, but the message must not repeat the value (stderr, and --json on stdout).
    for (i, text) in [
        "key_provider = \"pkcs11\"\n[pkcs11]\npin = 918273\n",
        "[vault]\ntoken = 91827364501\n",
        "[gcp]\naccess_token = 918273.5\n",
    ]
    .iter()
    .enumerate()
    {
        let f = tmp.path().join(format!("c{i}.toml"));
        std::fs::write(&f, text).unwrap();
        for json in [false, true] {
            let mut c = Command::new(BIN);
            c.env("RUST_BACKTRACE", "0").arg("--config").arg(&f);
            if json {
                c.arg("--json");
            }
            let out = c.arg("doctor").output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{text}");
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!all.contains("918273"), "{text} echoed: {all}");
            assert!(all.contains("quoted string"), "{all}");
        }
    }
}

#[cfg(unix)]
#[test]
fn an_export_is_never_written_through_a_file_planted_at_its_temporary_name() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let key = d.root.join("audit.vkey");
    let vkey = d.json(&["audit", "public-key"], 0)["public_keys"][0]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(&key, vkey).unwrap();
    // Someone who can write the export directory plants a symlink to a file of the
    // operator's at `<out>.partial`, or a readable file of their own there.
    let victim = d.root.join("victim");
    std::fs::write(&victim, "the operator's file").unwrap();
    std::os::unix::fs::symlink(&victim, d.root.join("a.bundle.partial")).unwrap();
    let planted = d.root.join("b.bundle.partial");
    std::fs::write(&planted, "").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    for out in ["a.bundle", "b.bundle"] {
        d.json(&["audit", "export", "acme", "--out", out], 0);
        let path = d.root.join(out);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "{out} is a regular file, not a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{out}");
        assert!(!d.root.join(format!("{out}.partial")).exists());
        let v = d.json(
            &[
                "audit",
                "verify",
                "--export",
                out,
                "--public-key",
                "audit.vkey",
            ],
            0,
        );
        assert_eq!(v["ok"], true, "{v}");
    }
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the operator's file",
        "the export went through the planted symlink"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn completions_to_a_closed_pipe_or_a_full_disk_fail_with_exit_1_not_a_panic() {
    // `tenantguard completions bash | head -1`, with the reader gone before the first write
    // (deterministic), and `> file` on a full disk.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for (what, out) in [
        ("closed pipe", std::process::Stdio::from(writer)),
        ("full disk", std::process::Stdio::from(full)),
    ] {
        let r = std::process::Command::new(BIN)
            .env("RUST_BACKTRACE", "0")
            .args(["completions", "bash"])
            .stdout(out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(
            err.contains("cannot write the completion script"),
            "{what}: {err}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_result_that_cannot_be_written_to_stdout_is_not_a_success() {
    // `tenantguard audit public-key > audit.vkey` or `--json erase-subject ... > receipt.json`
    // on a full disk: the script must not go on with an empty file.
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    for args in [
        &["audit", "public-key"][..],
        &["--json", "tenant", "list"][..],
        &["--json", "erase-subject", "acme", "customer-1"][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let r = std::process::Command::new(BIN)
            .current_dir(&d.root)
            .env_remove("TENANTGUARD_CONFIG")
            .env("RUST_BACKTRACE", "0")
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("could not be written to stdout"),
            "{args:?}: {err}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_export_to_stdout_with_a_failing_stderr_is_not_a_panic() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let r = std::process::Command::new(BIN)
        .current_dir(&d.root)
        .env_remove("TENANTGUARD_CONFIG")
        .env("RUST_BACKTRACE", "0")
        .args(["audit", "export", "acme"])
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("tenantguard-audit-export/"));
}

#[test]
fn a_maximum_key_age_beyond_i64_means_never_not_always() {
    // 18446744073709551615 days (u64::MAX, a "never"), used to wrap to -1 when compared
    // with an age: every KEK and every tenant key was due at every cron run.
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let never = u64::MAX.to_string();
    let run = |var: &str, args: &[&str]| {
        let mut c = d.cmd();
        c.env(var, &never);
        json_of(c, args, 0)
    };
    let k = run("TENANTGUARD_MAX_KEK_AGE_DAYS", &["kek", "rotate", "--due"]);
    assert_eq!(k["rotated"], false, "{k}");
    let t = run(
        "TENANTGUARD_MAX_TENANT_KEY_AGE_DAYS",
        &["key", "rotate", "--due"],
    );
    assert_eq!(t["rotated"], serde_json::json!([]), "{t}");
    let mut c = d.cmd();
    c.env("TENANTGUARD_MAX_KEK_AGE_DAYS", &never)
        .env("TENANTGUARD_MAX_TENANT_KEY_AGE_DAYS", &never);
    let doc = json_of(c, &["doctor"], 0);
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(
        d.json(&["key", "list", "acme"], 0)["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_interrupted_rewrap_does_not_resume_for_a_later_kek() {
    let d = Dep::new();
    for t in ["a", "b", "c"] {
        d.json(&["tenant", "create", t], 0);
    }
    let state = d.root.join("data/tenantguard-cli-state.json");
    let checkpoint = |job: &str, after: &str| {
        let mut st: Value =
            serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        st["checkpoints"][job] = after.into();
        std::fs::write(&state, st.to_string()).unwrap();
    };
    assert_eq!(d.json(&["kek", "rotate"], 0)["kek"], "kek-2");
    d.json(&["kek", "rewrap"], 0);
    // As if that re-wrap had been stopped after tenant a (Ctrl-C, a systemd timeout)
    // (the checkpoint of this release, and the bare one of earlier releases) ...
    checkpoint("kek-rewrap:kek-2", "a");
    checkpoint("kek-rewrap", "a");
    // ... and the operator rotated again before finishing it.
    assert_eq!(d.json(&["kek", "rotate"], 0)["kek"], "kek-3");
    let r = d.json(&["kek", "rewrap"], 0);
    assert_eq!(r["resumed_after"], Value::Null, "{r}");
    for t in ["a", "b", "c"] {
        let keys = d.json(&["key", "list", t], 0);
        assert_eq!(
            keys["keys"][0]["kek"], "kek-3",
            "{t} left under an older KEK: {keys}"
        );
    }
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["checkpoints"], serde_json::json!({}), "{st}");
}

#[test]
fn an_interrupted_reencrypt_does_not_resume_for_a_later_key() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let (g, s) = tenantguard::Guard::embedded_with_service(d.root.join("data")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = crate::common::ctx(&s, "acme");
        for i in 0..20 {
            g.records()
                .put(&c, &format!("r{i:02}"), "note", None, b"secret-payload")
                .await
                .unwrap();
        }
    });
    drop(g);
    d.json(&["key", "rotate", "acme"], 0);
    assert_eq!(d.json(&["reencrypt", "acme"], 0)["moved"], 20);
    // As if that run (towards key 2) had been stopped after r09 (this release's checkpoint
    // and the bare one of earlier releases) and the key rotated again before finishing.
    let state = d.root.join("data/tenantguard-cli-state.json");
    let mut st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    st["checkpoints"]["reencrypt:all:acme@2"] = "r09".into();
    st["checkpoints"]["reencrypt:all:acme"] = "r09".into();
    std::fs::write(&state, st.to_string()).unwrap();
    d.json(&["key", "rotate", "acme"], 0);
    let r = d.json(&["reencrypt", "acme"], 0);
    assert_eq!(
        r["moved"], 20,
        "records before the old checkpoint were skipped: {r}"
    );
    assert_eq!(r["remaining"], 0, "{r}");
    let keys = d.json(&["key", "list", "acme"], 0);
    let on_3 = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == 3)
        .unwrap();
    assert_eq!(on_3["records"], 20, "{keys}");
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["checkpoints"], serde_json::json!({}), "{st}");
}

#[test]
fn an_interrupted_export_of_every_tenant_does_not_resume_into_another_directory() {
    let d = Dep::new();
    for t in ["a", "b", "c"] {
        d.json(&["tenant", "create", t], 0);
    }
    // Yesterday's run into exports/day1 was stopped after tenant b (this release's
    // checkpoint and the bare one of earlier releases); today's goes to exports/day2.
    let state = d.root.join("data/tenantguard-cli-state.json");
    let mut st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    st["checkpoints"]["audit-export-all:bundle:exports/day1"] = "b".into();
    st["checkpoints"]["audit-export-all"] = "b".into();
    std::fs::write(&state, st.to_string()).unwrap();
    let r = d.json(
        &["audit", "export", "--all", "--out-dir", "exports/day2"],
        0,
    );
    assert_eq!(r["resumed_after"], Value::Null, "{r}");
    for t in ["a", "b", "c"] {
        assert!(
            d.root.join(format!("exports/day2/{t}.bundle")).is_file(),
            "{t} left out of day2: {r}"
        );
    }
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["checkpoints"], serde_json::json!({}), "{st}");
}

#[test]
fn json_usage_errors_of_the_command_line_itself_are_json_too() {
    // A missing argument, an unknown one, a negative key version, a number too large:
    // clap refuses them before any command runs, and `--json` still gets its document.
    for args in [
        &["reencrypt"][..],
        &["tenant", "create"][..],
        &["key", "retire", "acme", "-1"][..],
        &["reencrypt", "acme", "--from", "4294967296"][..],
        &["frobnicate"][..],
    ] {
        let v = json_of(Command::new(BIN), args, 2);
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {v}");
        assert_eq!(v["error"]["exit"], 2, "{args:?}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty(), "{v}");
        if args[0] == "reencrypt" && args.len() == 1 {
            assert!(
                v["error"]["message"].as_str().unwrap().contains("<TENANT>"),
                "{v}"
            );
        }
    }
    // Help is no error: text, exit 0.
    let out = Command::new(BIN)
        .args(["--json", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
}

#[cfg(unix)]
#[test]
fn init_writes_an_owner_only_configuration_and_follows_no_planted_symlink() {
    use std::os::unix::fs::PermissionsExt;
    // Even under umask 000 (a misconfigured service manager) the configuration, which may
    // later hold a provider secret, is not readable or writable by others.
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .current_dir(tmp.path())
        .env_remove("TENANTGUARD_CONFIG")
        .args(["-c", &format!("umask 000; exec {BIN} init --dir data")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for (f, mode) in [
        ("tenantguard.toml", 0o600),
        ("data", 0o700),
        ("data/keys.json", 0o600),
        ("data/tenantguard.db", 0o600),
        ("data/tenantguard-cli-state.json", 0o600),
    ] {
        let m = std::fs::metadata(tmp.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, mode, "{f}: {:o}", m & 0o777);
    }
    // A dangling symlink planted at the configuration's path is not followed.
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("elsewhere.toml");
    std::os::unix::fs::symlink(&target, tmp.path().join("tenantguard.toml")).unwrap();
    let mut c = Command::new(BIN);
    c.current_dir(tmp.path()).env_remove("TENANTGUARD_CONFIG");
    let v = json_of(c, &["init"], 1);
    assert_eq!(v["error"]["kind"], "io", "{v}");
    assert!(!target.exists(), "init wrote through the planted symlink");
}

#[cfg(unix)]
#[test]
fn export_all_creates_its_directory_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let out = std::process::Command::new("sh")
        .current_dir(&d.root)
        .env_remove("TENANTGUARD_CONFIG")
        .args([
            "-c",
            &format!("umask 000; exec {BIN} audit export --all --out-dir ex/daily"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for (f, mode) in [
        ("ex", 0o700),
        ("ex/daily", 0o700),
        ("ex/daily/acme.bundle", 0o600),
    ] {
        let m = std::fs::metadata(d.root.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, mode, "{f}: {:o}", m & 0o777);
    }
}

#[test]
fn a_mistyped_tenant_is_not_found_not_an_erasure_receipt_or_a_kill_switch_of_nothing() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    d.json(&["tenant", "create", "gone"], 0);
    d.json(&["tenant", "shred", "gone", "--yes"], 0);
    for args in [
        &["erase-subject", "acmee", "customer-4711"][..],
        &["token", "kill", "acmee", "build-bot"][..],
        &["token", "list", "acmee"][..],
        &["token", "revoke", "acmee", "tok_1"][..],
        &["session", "list", "acmee"][..],
        &["session", "revoke", "acmee", "--user", "alice"][..],
        &["session", "revoke", "acmee", "ses_1"][..],
        &["policy", "set", "acmee", "--retention", "run_log=7d"][..],
        &["policy", "diff", "acmee", "--retention", "run_log=7d"][..],
    ] {
        let v = d.json(args, 5);
        assert_eq!(v["error"]["kind"], "not_found", "{args:?}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("acmee"),
            "{v}"
        );
    }
    // Nothing was done in the mistyped tenant's name: created now, its audit log holds
    // only its creation entry.
    d.json(&["tenant", "create", "acmee"], 0);
    assert_eq!(d.json(&["audit", "verify", "acmee"], 0)["entries"], 1);
    // Existing tenants, a shredded one included, still work.
    for t in ["acme", "gone"] {
        let e = d.json(&["erase-subject", t, "customer-4711"], 0);
        assert_eq!(e["deleted"], 0, "{e}");
        d.json(&["token", "kill", t, "build-bot"], 0);
        d.json(&["session", "list", t], 0);
    }
}

#[test]
fn an_export_never_replaces_the_deployments_own_files() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let keys = std::fs::read(d.root.join("data/keys.json")).unwrap();
    for out in [
        "data/keys.json",
        "./data/../data/keys.json",
        "data/tenantguard.db",
        "data/tenantguard-cli-state.json",
    ] {
        let v = d.json(&["audit", "export", "acme", "--out", out], 2);
        assert_eq!(v["error"]["kind"], "usage", "{out}: {v}");
    }
    assert_eq!(std::fs::read(d.root.join("data/keys.json")).unwrap(), keys);
    assert_eq!(d.json(&["tenant", "list"], 0)["tenants"][0], "acme");
    d.json(&["audit", "export", "acme", "--out", "data/acme.bundle"], 0);
}

#[cfg(unix)]
#[test]
fn a_data_directory_others_can_write_is_refused_by_init_and_flagged_by_doctor() {
    use std::os::unix::fs::PermissionsExt;
    // Anyone who can write the directory can swap in a key file of their own (mode 0600,
    // so the library's own check passes) and read whatever is sealed afterwards.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = Command::new(BIN);
    c.current_dir(tmp.path()).env_remove("TENANTGUARD_CONFIG");
    let v = json_of(c, &["init", "--dir", "data"], 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("writable by group or others"),
        "{v}"
    );
    assert!(!data.join("keys.json").exists(), "no key was put in it");
    assert!(
        !tmp.path().join("tenantguard.toml").exists(),
        "nothing half-done"
    );
    // A deployment whose directory was opened up later: doctor says so (exit 6).
    let d = Dep::new();
    let data = d.root.join("data");
    d.json(&["doctor"], 0);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let v = d.json(&["doctor"], 6);
    let bad: Vec<&Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1, "{v}");
    assert!(
        bad[0]["detail"]
            .as_str()
            .unwrap()
            .contains("writable by group or others"),
        "{v}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The job state elsewhere, in a directory others can write: a forged checkpoint there
    // would make `kek rewrap` skip every tenant and report the job done.
    let shared = d.root.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = d.cmd();
    c.env("TENANTGUARD_STATE_DIR", &shared);
    let v = json_of(c, &["doctor"], 6);
    assert!(
        v.to_string()
            .contains("shared is writable by group or others"),
        "{v}"
    );
}

#[test]
fn doctor_without_a_key_file_names_it_and_does_not_advise_a_kek_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Command::new(BIN);
    c.current_dir(tmp.path()).env_remove("TENANTGUARD_CONFIG");
    let v = json_of(c, &["doctor"], 6);
    let text = v["checks"].to_string();
    assert!(text.contains("keys.json"), "{v}");
    assert!(text.contains("tenantguard init"), "{v}");
    assert!(!text.contains("rotate the KEK"), "{v}");
}

#[test]
fn a_refused_policy_set_changes_nothing() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    // A second class the library refuses, a window beyond its maximum, an egress policy
    // naming an unregistered sub-processor: each used to leave run_log changed, exit 2.
    std::fs::write(
        d.root.join("egress.json"),
        r#"{"allowed_providers": ["nobody-registered"]}"#,
    )
    .unwrap();
    for args in [
        &["--retention", "run_log=7d", "--retention", "bad\tclass=30d"][..],
        &[
            "--retention",
            "run_log=7d",
            "--retention",
            "screenshot=99999d",
        ][..],
        &["--retention", "run_log=7d", "--egress-file", "egress.json"][..],
    ] {
        let mut all = vec!["policy", "set", "acme"];
        all.extend_from_slice(args);
        let v = d.json(&all, 2);
        assert_eq!(v["error"]["exit"], 2, "{args:?}: {v}");
        // `policy diff` with the same arguments announces no change it cannot make.
        all[1] = "diff";
        assert_eq!(d.json(&all, 2)["error"]["exit"], 2, "diff {args:?}");
        let p = d.json(&["policy", "get", "acme"], 0);
        assert_eq!(
            p["retention"]["run_log"],
            90 * 86_400,
            "{args:?} half-applied: {p}"
        );
        assert_eq!(p["retention"]["screenshot"], 30 * 86_400, "{args:?}: {p}");
    }
}

#[test]
fn a_lost_key_file_is_not_replaced_by_init_and_doctor_sees_a_foreign_one() {
    let d = Dep::new();
    d.json(&["tenant", "create", "acme"], 0);
    let keys = d.root.join("data/keys.json");
    let saved = d.root.join("keys.saved");
    std::fs::rename(&keys, &saved).unwrap();
    // `doctor` says to run init when there is no key file; with the database still there,
    // init must not make a new key file that opens none of its data.
    let v = d.json(&["init"], 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Restore that key file"),
        "{v}"
    );
    assert!(!keys.exists());
    // A foreign key file (another deployment's) in its place: doctor must not say ok.
    let other = Dep::new();
    std::fs::copy(other.root.join("data/keys.json"), &keys).unwrap();
    let v = d.json(&["doctor"], 6);
    let bad: Vec<&Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1, "{v}");
    assert_eq!(
        bad[0]["check"], "stored keys open under this key provider",
        "{v}"
    );
    // The deployment's own key file back: everything is fine again.
    std::fs::rename(&saved, &keys).unwrap();
    assert_eq!(d.json(&["doctor"], 0)["ok"], true);
}

#[test]
fn doctor_creates_no_key_for_a_made_up_tenant() {
    let d = Dep::new();
    let tenants_in_key_file = || -> Vec<String> {
        let v: Value =
            serde_json::from_slice(&std::fs::read(d.root.join("data/keys.json")).unwrap()).unwrap();
        v["tenants"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let v = d.json(&["doctor"], 0);
    assert_eq!(v["ok"], true, "{v}");
    d.json(&["tenant", "create", "acme"], 0);
    let v = d.json(&["doctor"], 0);
    assert_eq!(v["ok"], true, "{v}");
    // The key file holds secrets for acme and the service keyring only (per-tenant keys
    // of a KMS the same way).
    let ids = tenants_in_key_file();
    assert!(
        ids.iter()
            .all(|t| t == "acme" || t.starts_with("_tg-service.")),
        "{ids:?}"
    );
}

#[cfg(unix)]
#[test]
fn doctor_flags_a_configuration_others_can_change_or_read_with_a_secret_in_it() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dep::new();
    let config = d.root.join("tenantguard.toml");
    let failing = |code: i32| -> Vec<String> {
        let v = d.json(&["doctor"], code);
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| c["check"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(failing(0).is_empty());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(failing(6), ["configuration file mode"]);
    // Readable by others is fine, unless a secret is written in it.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(failing(0).is_empty());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[vault]\ntoken = \"hvs.not-shown\"\n");
    std::fs::write(&config, text).unwrap();
    let v = d.json(&["doctor"], 6);
    assert!(!v.to_string().contains("hvs.not-shown"), "{v}");
    assert_eq!(failing(6), ["configuration file mode"]);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(failing(0).is_empty());
}
