//! Key providers and the key cache (a plain harness, not criterion: it counts provider
//! calls and times whole runs).
//!
//! 1. Cache: seal TG_BENCH_SEALS values (default 1,000,000) across TG_BENCH_TENANTS tenants
//!    (default 10,000) from 64 concurrent tasks on a cold cache, counting provider unwraps
//!    (target: exactly one per tenant), with the loopback OpenBao Transit provider when
//!    TG_KMS_VAULT_ADDR is set (else the local key file provider, and it says so).
//! 2. Thundering herd: 1,000 tasks seal for one cold tenant at once; count unwraps (target 1).
//! 3. Cold path: latency of one provider unwrap, and of a first `open_record` on a cold cache
//!    (store read + unwrap + open), for every provider whose server is configured.
//!
//! Run: `scripts/kms.sh start && source target/kms/kms.env &&
//!       cargo bench -p tenantguard-benches --bench kms --features kms-all`
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../core/kms/tests/tg_cap/mod.rs"]
mod tg_cap;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantguard::crypto::DataKey;
use tenantguard::kms::{KeyProvider, KmsError, WrapContext, WrappedKey};
use tenantguard::{
    CacheLimits, Guard, KeyId, LocalKeyProvider, MemoryStore, Store, TenantContext, TenantId,
};

/// Counts calls to the wrapped provider.
struct Counting {
    inner: Arc<dyn KeyProvider>,
    wraps: AtomicU64,
    unwraps: AtomicU64,
}

#[async_trait::async_trait]
impl KeyProvider for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn current_kek(&self) -> Result<String, KmsError> {
        self.inner.current_kek().await
    }
    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        self.wraps.fetch_add(1, Ordering::Relaxed);
        self.inner.wrap(key, ctx).await
    }
    async fn unwrap(&self, w: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        self.inner.unwrap(w, ctx).await
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tenant(i: usize) -> TenantId {
    TenantId::new(format!("t{i:06}")).unwrap()
}

/// The providers whose servers are configured, by name.
#[cfg_attr(
    not(any(feature = "kms-vault", feature = "kms-aws", feature = "kms-pkcs11")),
    allow(unused_mut)
)]
async fn providers() -> Vec<(&'static str, Arc<dyn KeyProvider>)> {
    let mut out: Vec<(&'static str, Arc<dyn KeyProvider>)> =
        vec![("local key file", Arc::new(LocalKeyProvider::ephemeral()))];
    #[cfg(feature = "kms-vault")]
    if let Ok(addr) = std::env::var("TG_KMS_VAULT_ADDR") {
        out.push((
            "OpenBao Transit (loopback)",
            Arc::new(vault::provider(&addr).await),
        ));
    }
    #[cfg(feature = "kms-aws")]
    if let Ok(ep) = std::env::var("TG_KMS_AWS_ENDPOINT") {
        out.push((
            "AWS KMS API on moto (loopback)",
            Arc::new(aws::provider(&ep).await),
        ));
    }
    #[cfg(feature = "kms-pkcs11")]
    if let Ok(module) = std::env::var("TG_KMS_PKCS11_MODULE") {
        out.push((
            "PKCS#11 SoftHSM2",
            Arc::new(pkcs11::provider(&module).await),
        ));
    }
    out
}

#[cfg(feature = "kms-vault")]
mod vault {
    use secrecy::SecretString;
    use tenantguard_kms::vault::{VaultTransitConfig, VaultTransitProvider};

    pub async fn provider(addr: &str) -> VaultTransitProvider {
        let token = std::env::var("TG_KMS_VAULT_TOKEN").unwrap_or_else(|_| "root".into());
        let http = reqwest::Client::new();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{addr}/v1/{path}"))
                .header("X-Vault-Token", token.clone())
                .json(&body)
                .send()
        };
        let _ = post("sys/mounts/transit", serde_json::json!({"type": "transit"})).await;
        post(
            "transit/keys/tg-bench",
            serde_json::json!({"type": "aes256-gcm96"}),
        )
        .await
        .unwrap();
        VaultTransitProvider::new(VaultTransitConfig::new(
            addr,
            SecretString::from(token),
            "tg-bench",
        ))
        .unwrap()
    }
}

#[cfg(feature = "kms-aws")]
mod aws {
    use secrecy::SecretString;
    use tenantguard::kms::RetryPolicy;
    use tenantguard_kms::aws::{AwsKmsConfig, AwsKmsProvider, AwsStaticCredentials};

    pub async fn provider(ep: &str) -> AwsKmsProvider {
        let make = |key: &str| {
            AwsKmsProvider::new(AwsKmsConfig {
                key_id: key.to_owned(),
                region: "us-east-1".into(),
                endpoint_url: Some(ep.to_owned()),
                credentials: AwsStaticCredentials {
                    access_key_id: "testing".into(),
                    secret_access_key: SecretString::from("testing".to_owned()),
                    session_token: None,
                },
                retry: RetryPolicy::default(),
            })
            .unwrap()
        };
        let admin = make("unused");
        let key = admin.client().create_key().send().await.unwrap();
        make(key.key_metadata().unwrap().arn().unwrap())
    }
}

#[cfg(feature = "kms-pkcs11")]
mod pkcs11 {
    use secrecy::SecretString;
    use tenantguard::kms::RetryPolicy;
    use tenantguard_kms::pkcs11::{Pkcs11Config, Pkcs11Provider};

    pub async fn provider(module: &str) -> Pkcs11Provider {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).unwrap();
        let label = format!("bench-{:08x}", u32::from_le_bytes(b));
        let p = Pkcs11Provider::new(Pkcs11Config {
            module: module.into(),
            token_label: std::env::var("TG_KMS_PKCS11_TOKEN")
                .unwrap_or_else(|_| "tenantguard-test".into()),
            pin: SecretString::from(
                std::env::var("TG_KMS_PKCS11_PIN").unwrap_or_else(|_| "12345678".into()),
            ),
            key_label: label.clone(),
            retry: RetryPolicy::default(),
        })
        .unwrap();
        p.generate_kek(&label).await.unwrap();
        p
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn cache_run(name: &str, provider: Arc<dyn KeyProvider>, tenants: usize, seals: usize) {
    let counting = Arc::new(Counting {
        inner: provider,
        wraps: AtomicU64::new(0),
        unwraps: AtomicU64::new(0),
    });
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let limits = CacheLimits {
        max_tenants: tenants,
        max_age: Duration::from_secs(3600),
    };
    let (setup, service) = Guard::builder()
        .key_provider_arc(counting.clone())
        .store_arc(store.clone())
        .cache_limits(limits)
        .build_with_service()
        .unwrap();
    let service = Arc::new(service);
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (g, service) = (setup.clone(), service.clone());
        tasks.spawn(async move {
            for i in (w..tenants).step_by(16) {
                g.keys()
                    .create_tenant(&TenantContext::service(tenant(i), &service))
                    .await
                    .unwrap();
            }
        });
    }
    tasks.join_all().await;
    let create = t0.elapsed();

    // A new process: cold cache, same store and provider.
    let g = Guard::builder()
        .key_provider_arc(counting.clone())
        .store_arc(store)
        .cache_limits(limits)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let before = counting.unwraps.load(Ordering::Relaxed);
    let workers = 64;
    let per = seals / workers;
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (g, service) = (g.clone(), service.clone());
        tasks.spawn(async move {
            let ctxs: Vec<TenantContext> = (0..tenants)
                .map(|i| TenantContext::service(tenant(i), &service))
                .collect();
            for n in 0..per {
                // Each worker walks all tenants from its own offset: every tenant is hit
                // cold by several workers at about the same time.
                let c = &ctxs[(n + w * 7) % tenants];
                std::hint::black_box(
                    g.records()
                        .seal(c, "bench/column/row", b"a 32-byte credential value......")
                        .await
                        .unwrap(),
                );
            }
        });
    }
    tasks.join_all().await;
    let el = t0.elapsed();
    let unwraps = counting.unwraps.load(Ordering::Relaxed) - before;
    let total = per * workers;
    println!(
        "| {name} | {tenants} | {total} | {unwraps} | {:.2} | {:.0} | {:.1} |",
        unwraps as f64 / tenants as f64,
        total as f64 / el.as_secs_f64(),
        create.as_secs_f64()
    );
}

async fn herd(provider: Arc<dyn KeyProvider>) -> u64 {
    let counting = Arc::new(Counting {
        inner: provider,
        wraps: AtomicU64::new(0),
        unwraps: AtomicU64::new(0),
    });
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let setup = Guard::builder()
        .key_provider_arc(counting.clone())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let hot = TenantContext::service(TenantId::new("hot").unwrap(), &tg_cap::cap());
    setup.keys().create_tenant(&hot).await.unwrap();
    let g = Guard::builder()
        .key_provider_arc(counting.clone())
        .store_arc(store)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let before = counting.unwraps.load(Ordering::Relaxed);
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (g, hot, barrier) = (g.clone(), hot.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            g.records().seal(&hot, "x", b"y").await.unwrap();
        });
    }
    tasks.join_all().await;
    counting.unwraps.load(Ordering::Relaxed) - before
}

async fn cold_path(name: &str, provider: Arc<dyn KeyProvider>, n: usize) {
    let key = DataKey::generate().unwrap();
    let ctx = WrapContext {
        tenant: TenantId::new("cold").unwrap(),
        key_id: KeyId::FIRST,
    };
    let w = provider.wrap(&key, &ctx).await.unwrap();
    let mut unwrap = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(provider.unwrap(&w, &ctx).await.unwrap());
        unwrap.push(t.elapsed());
    }
    unwrap.sort();
    // First open on a cold cache: a new guard each time (store read + unwrap + open).
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let g = Guard::builder()
        .key_provider_arc(provider.clone())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let c = TenantContext::service(TenantId::new("cold").unwrap(), &tg_cap::cap());
    g.keys().create_tenant(&c).await.unwrap();
    g.records()
        .put(&c, "r", "note", None, b"value")
        .await
        .unwrap();
    let mut open = Vec::with_capacity(n);
    for _ in 0..n {
        let g = Guard::builder()
            .key_provider_arc(provider.clone())
            .store_arc(store.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap();
        let t = Instant::now();
        std::hint::black_box(g.records().open_record(&c, "r").await.unwrap());
        open.push(t.elapsed());
    }
    open.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| {name} | {n} | {:.0} | {:.0} | {:.0} | {:.0} |",
        us(percentile(&unwrap, 0.5)),
        us(percentile(&unwrap, 0.99)),
        us(percentile(&open, 0.5)),
        us(percentile(&open, 0.99))
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let tenants = env_usize("TG_BENCH_TENANTS", 10_000);
    let seals = env_usize("TG_BENCH_SEALS", 1_000_000);
    let cold_n = env_usize("TG_BENCH_COLD", 200);
    let all = providers().await;
    let cache_provider = all
        .iter()
        .find(|(n, _)| n.starts_with("OpenBao"))
        .unwrap_or(&all[0]);
    if !cache_provider.0.starts_with("OpenBao") {
        println!("note: TG_KMS_VAULT_ADDR not set (or feature kms-vault off): the cache run uses the local key file provider");
    }

    println!("\n## Cache: {seals} seals across {tenants} tenants, cold cache, 64 tasks\n");
    println!("| provider | tenants | seals | provider unwraps | unwraps per tenant | seals/s | tenant creation (s) |");
    println!("|---|---|---|---|---|---|---|");
    cache_run(cache_provider.0, cache_provider.1.clone(), tenants, seals).await;

    println!("\n## Thundering herd: 1,000 tasks seal for one cold tenant at once\n");
    println!("| provider | provider unwraps |");
    println!("|---|---|");
    for (name, p) in &all {
        println!("| {name} | {} |", herd(p.clone()).await);
    }

    println!("\n## Cold path, {cold_n} sequential calls each (microseconds)\n");
    println!("| provider | calls | unwrap p50 | unwrap p99 | first open_record p50 | first open_record p99 |");
    println!("|---|---|---|---|---|---|");
    for (name, p) in &all {
        cold_path(name, p.clone(), cold_n).await;
    }
}
