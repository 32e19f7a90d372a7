//! The library side of the re-encryption benchmark (benches/reencrypt_cli.sh): seeds a
//! deployment the command line also opens, and runs the same job as
//! `tenantguard reencrypt --all` through one library call, so the two can be timed alike.
//!
//! ```sh
//! reencrypt_baseline seed DIR N        # tenant "bench" with N records (SQLite in DIR)
//! reencrypt_baseline lib DIR           # Keys::reencrypt_all, batch 500
//! reencrypt_baseline verify DIR N      # every record opens with its payload (exit 1 if not)
//! # PostgreSQL (build with --features postgres): DIR holds keys.json, the store is
//! # TENANTGUARD_POSTGRES_URL / TENANTGUARD_POSTGRES_SERVICE_URL.
//! ```

use std::sync::Arc;

use tenantguard::ratelimit::{Policies, RateLimiter};
use tenantguard::{Guard, GuardBuilder, LocalKeyProvider, ServiceRole, TenantContext, TenantId};

fn open(dir: &str, unlimited: bool) -> (Guard, ServiceRole) {
    let pg = std::env::var("TENANTGUARD_STORE").is_ok_and(|s| s == "postgres");
    let b = if pg {
        open_pg(dir)
    } else {
        Guard::embedded_builder(dir).expect("open the SQLite deployment")
    };
    // `verify` reads every record back as fast as it can, which the service's reveal
    // limit (5,000, then 500/s per tenant) would throttle.
    let b = if unlimited {
        b.rate_limiter(RateLimiter::in_process(Policies::unlimited()))
    } else {
        b
    };
    b.build_with_service().expect("guard")
}

#[cfg(feature = "postgres")]
fn open_pg(dir: &str) -> GuardBuilder {
    let url = std::env::var("TENANTGUARD_POSTGRES_URL").expect("TENANTGUARD_POSTGRES_URL");
    let service = std::env::var("TENANTGUARD_POSTGRES_SERVICE_URL").ok();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt
        .block_on(tenantguard::PostgresStore::connect(
            &url,
            service.as_deref(),
        ))
        .expect("connect");
    let store = Arc::new(store);
    let key = LocalKeyProvider::open_or_create(format!("{dir}/keys.json")).expect("key file");
    // The runtime must outlive the store's connections.
    std::mem::forget(rt);
    Guard::builder()
        .key_provider(key)
        .store_arc(store.clone())
        .policy_store(store)
}

#[cfg(not(feature = "postgres"))]
fn open_pg(_: &str) -> GuardBuilder {
    let _ = (Arc::<()>::new(()), LocalKeyProvider::ephemeral());
    panic!("build with --features postgres")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, dir) = match args.as_slice() {
        [_, m, d, ..] => (m.as_str(), d.as_str()),
        _ => {
            eprintln!("usage: reencrypt_baseline seed|lib DIR [N]");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (g, s) = open(dir, mode == "verify");
    let ctx = TenantContext::service(TenantId::new("bench").unwrap(), &s);
    rt.block_on(async {
        match mode {
            "seed" => {
                let n: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
                g.keys().create_tenant(&ctx).await.expect("create");
                let payload = [7u8; 200];
                for i in 0..n {
                    g.records()
                        .put(&ctx, &format!("r{i:07}"), "note", None, &payload)
                        .await
                        .expect("put");
                }
                g.keys().rotate(&ctx).await.expect("rotate");
            }
            "lib" => {
                let r = g
                    .keys()
                    .reencrypt_all(&ctx, 500, |_| {})
                    .await
                    .expect("reencrypt");
                println!("moved {}", r.moved);
            }
            "verify" => {
                // Every seeded record opens, with its payload: nothing lost.
                let n: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
                let mut bad = 0usize;
                for i in 0..n {
                    match g.records().open_record(&ctx, &format!("r{i:07}")).await {
                        Ok((_, p)) if p.expose() == [7u8; 200] => {}
                        Ok(_) => {
                            bad += 1;
                            eprintln!("r{i:07}: opened with another payload");
                        }
                        Err(e) => {
                            if bad < 3 {
                                eprintln!("r{i:07}: {:?}: {e}", e.kind());
                            }
                            bad += 1;
                        }
                    }
                }
                println!("opened {} of {n}", n - bad);
                if bad > 0 {
                    std::process::exit(1);
                }
            }
            other => panic!("unknown mode {other}"),
        }
    });
}
