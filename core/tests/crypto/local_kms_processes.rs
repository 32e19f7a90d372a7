//! The local key file shared by real processes: two processes rotating KEKs and wrapping
//! keys for new tenants at once lose nothing, and processes killed with SIGKILL at random
//! moments leave a readable file holding every KEK and tenant secret that wrapped a key.
//!
//! The processes are this test binary re-invoked on the ignored `child` test.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use tenantguard::crypto::{DataKey, KeyId};
use tenantguard::kms::{KeyProvider, WrapContext, WrappedKey};
use tenantguard::{LocalKeyProvider, TenantId};

const ROLE: &str = "TG_KEYFILE_CHILD_ROLE";
const PATH: &str = "TG_KEYFILE_PATH";
const OUT: &str = "TG_KEYFILE_OUT";
const ROUNDS: &str = "TG_KEYFILE_ROUNDS";

fn wctx(tenant: &str, key_id: u32) -> WrapContext {
    WrapContext {
        tenant: TenantId::new(tenant).unwrap(),
        key_id: KeyId::new(key_id).unwrap(),
    }
}

fn data_key(role: &str, i: u32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = role.as_bytes()[0];
    k[1..5].copy_from_slice(&i.to_be_bytes());
    k
}

/// The harness's name of [`child`], the test a spawned process runs: its path inside the
/// test binary (`module::child`), wherever this file's module sits.
fn child_test() -> &'static str {
    let path = concat!(module_path!(), "::child");
    path.split_once("::").map_or(path, |(_crate, test)| test)
}

/// The worker: every third round rotates the KEK; every round wraps a key for a new tenant
/// of its own and one for a tenant both workers share, and appends each finished wrap to
/// the output file (one line, one write, after `wrap` returned).
#[test]
#[ignore = "the body of a child process, started by the tests of this file"]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let path = std::env::var(PATH).unwrap();
    let rounds: u32 = std::env::var(ROUNDS).unwrap().parse().unwrap();
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(std::env::var(OUT).unwrap())
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let p = LocalKeyProvider::open_or_create(&path).unwrap();
    for i in 0..rounds {
        if i % 3 == 0 {
            p.rotate_kek().unwrap();
        }
        for (tenant, key_id) in [(format!("{role}-{i}"), 1), ("shared".to_owned(), i + 1)] {
            let key_id = if tenant == "shared" {
                // Distinct key ids per worker for the shared tenant.
                key_id * 2 + u32::from(role == "b")
            } else {
                key_id
            };
            let dk = data_key(&role, i);
            let w = rt
                .block_on(p.wrap(&DataKey::from_bytes(dk), &wctx(&tenant, key_id)))
                .unwrap();
            let line = format!(
                "{tenant} {key_id} {} {} {}\n",
                w.kek_id,
                hex::encode(&w.ciphertext),
                hex::encode(dk)
            );
            out.write_all(line.as_bytes()).unwrap();
        }
    }
}

fn spawn(role: &str, path: &Path, out: &Path, rounds: u32) -> Child {
    crate::rerun::rerun(child_test())
        .args(["-q"])
        .env(ROLE, role)
        .env(PATH, path)
        .env(OUT, out)
        .env(ROUNDS, rounds.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Every finished wrap the workers recorded unwraps, from a fresh open of the key file, to
/// the key that was wrapped. Returns how many were checked.
async fn check_all(path: &Path, outs: &Path) -> usize {
    // One output file per worker process: a worker killed inside a write can leave half a
    // line (a write crossing a page boundary is cut short by SIGKILL), and a later worker
    // appending to the same file would glue its line onto that half.
    let mut lines = Vec::new();
    for e in std::fs::read_dir(outs).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        // A line is complete only with its newline (a killed worker may not have written it).
        lines.extend(
            text.split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .map(str::to_owned),
        );
    }
    if !path.exists() {
        // Workers killed before their first write (a loaded machine): then nothing may have
        // been recorded as wrapped either.
        assert!(lines.is_empty(), "wraps recorded but no key file");
        return 0;
    }
    let p = LocalKeyProvider::open(path).expect("the key file is whole and readable");
    let mut n = 0;
    for line in &lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "{line}");
        let w = WrappedKey {
            kek_id: f[2].to_owned(),
            ciphertext: hex::decode(f[3]).unwrap(),
        };
        let key = p
            .unwrap(&w, &wctx(f[0], f[1].parse().unwrap()))
            .await
            .unwrap_or_else(|e| panic!("lost: {line}: {e}"));
        assert_eq!(hex::encode(key.expose()), f[4], "{line}");
        n += 1;
    }
    n
}

#[tokio::test]
async fn two_processes_rotating_and_wrapping_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let out = dir.path().join("wraps");
    std::fs::create_dir(&out).unwrap();
    let rounds = 30;
    // Both start at once, both may create the file.
    let mut a = spawn("a", &path, &out.join("a"), rounds);
    let mut b = spawn("b", &path, &out.join("b"), rounds);
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    assert_eq!(check_all(&path, &out).await, 2 * 2 * rounds as usize);
    // Every rotation of both workers is in the file (none overwrote the other's).
    let p = LocalKeyProvider::open(&path).unwrap();
    assert_eq!(p.kek_ids().len(), 1 + 2 * rounds.div_ceil(3) as usize);
    // Every tenant secret too: 2 x rounds own tenants and the shared one.
    assert_eq!(p.tenant_secret_count().unwrap(), 2 * rounds as usize + 1);
}

fn random_ms(lo: u64, hi: u64) -> Duration {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    Duration::from_millis(lo + u64::from_le_bytes(b) % (hi - lo))
}

#[tokio::test]
async fn processes_killed_at_random_moments_leave_every_used_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let out = dir.path().join("wraps");
    std::fs::create_dir(&out).unwrap();
    let mut checked = 0;
    // At least 12 rounds, and more (with longer lives) until some wrap finished: on a
    // loaded machine a worker can be killed before it wrote anything.
    for round in 0..60u64 {
        if round >= 12 && checked > 0 {
            break;
        }
        // Two workers that would run for long; each is killed (SIGKILL) at a random moment.
        let mut a = spawn("a", &path, &out.join(format!("a-{round}")), 1_000_000);
        let mut b = spawn("b", &path, &out.join(format!("b-{round}")), 1_000_000);
        let extra = if round >= 12 { 50 * (round - 11) } else { 0 };
        std::thread::sleep(random_ms(30 + extra, 150 + extra));
        a.kill().unwrap();
        std::thread::sleep(random_ms(0, 40));
        b.kill().unwrap();
        assert!(!a.wait().unwrap().success());
        assert!(!b.wait().unwrap().success());
        // Tenant names repeat across rounds (their secrets are reused): every line ever
        // written must still unwrap.
        let n = check_all(&path, &out).await;
        assert!(n >= checked, "round {round}");
        checked = n;
    }
    assert!(
        checked > 0,
        "the workers wrapped nothing before being killed"
    );
    // The next writer removes what killed writers left behind.
    let p = LocalKeyProvider::open(&path).unwrap();
    p.rotate_kek().unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(check_all(&path, &out).await, checked);
}
