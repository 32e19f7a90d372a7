//! The second process of a multi-process test: this test binary started again on one of
//! its ignored tests (another service instance, a writer killed with SIGKILL).

use std::process::Command;

/// A command running only the ignored test `test` of this binary, on one thread; the
/// caller adds its flags (`-q`, `--nocapture`), environment and pipes.
pub fn rerun(test: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--ignored", "--exact", test, "--test-threads=1"]);
    c
}
