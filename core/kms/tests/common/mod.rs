//! Helpers shared by the provider tests.
#![allow(dead_code)]

use std::time::Duration;

use tenantguard::crypto::DataKey;
use tenantguard::kms::{RetryPolicy, WrapContext};
use tenantguard::{KeyId, TenantId};

/// The value of `var`, or None after printing why the test is skipped.
pub fn env_or_skip(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            // Written to stderr directly, so the test harness does not swallow it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {var} is not set, so this {what} test did not run (run `scripts/kms.sh test`, or `scripts/kms.sh start` and `source target/kms/kms.env` first)."
            );
            None
        }
    }
}

/// A wrap context.
pub fn wctx(tenant: &str, key: u32) -> WrapContext {
    WrapContext {
        tenant: TenantId::new(tenant).unwrap(),
        key_id: KeyId::new(key).unwrap(),
    }
}

/// A fresh random data key.
pub fn data_key() -> DataKey {
    DataKey::generate().unwrap()
}

/// A unique suffix for names created on a shared server.
pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    format!(
        "{prefix}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Short retries so failure tests finish fast.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        call_timeout: Duration::from_millis(500),
    }
}

/// A loopback address where nothing listens (a port bound then released).
pub fn dead_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    format!("http://{a}")
}

/// A loopback server that accepts connections and never answers; keep the guard alive.
pub async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (format!("http://{a}"), h)
}
