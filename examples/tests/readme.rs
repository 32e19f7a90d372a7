//! Runs every Rust code block of README.md (see build.rs), twice in the same empty folder:
//! the blocks must compile as shown, run, and be re-runnable (get-or-create, no leftovers
//! that break a second run).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

include!(concat!(env!("OUT_DIR"), "/readme_rust.rs"));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_rust_blocks_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    // The README uses relative paths ("./tenantguard-data", "audit.jsonl"); this test
    // binary holds only this test, so changing the working folder affects nothing else.
    std::env::set_current_dir(dir.path()).unwrap();
    for run in 1..=2 {
        if let Err(e) = readme_rust().await {
            panic!("README Rust blocks failed on run {run}: {e}");
        }
    }
    assert!(dir.path().join("tenantguard-data/keys.json").exists());
    assert!(dir.path().join("audit.jsonl").exists());
}
