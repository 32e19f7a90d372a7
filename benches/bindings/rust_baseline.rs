//! Rust baseline for the bindings benchmark: seal + open of 256 bytes through the core's
//! `Guard` (in-memory store, ephemeral key, key cached), per round trip, in the same run
//! as the Python and Kotlin loops (benches/bindings/run.sh). Prints one JSON line.
// Benchmark tooling, not library code: a failed step stops it with the reason.
#![allow(clippy::expect_used)]

use std::time::Instant;

use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};

fn main() {
    let iters: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (g, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .expect("guard");
    let ctx = TenantContext::service(TenantId::new("bench").expect("id"), &service);
    let data = [7u8; 256];
    // Best of 5 loops by wall clock, with the calling thread's CPU time of that loop (what
    // the bindings' figures are compared with: other processes' time slices stay out).
    let best = rt.block_on(async {
        g.keys().create_tenant(&ctx).await.expect("tenant");
        let mut best = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t = Instant::now();
            let c = cpu_time::ThreadTime::now();
            for _ in 0..iters {
                let s = g
                    .records()
                    .seal(&ctx, "bench/row", &data)
                    .await
                    .expect("seal");
                let p = g.records().open(&ctx, "bench/row", &s).await.expect("open");
                assert_eq!(p.len(), 256);
            }
            let wall = t.elapsed().as_nanos() as f64 / f64::from(iters);
            if wall < best.0 {
                best = (wall, c.elapsed().as_nanos() as f64 / f64::from(iters));
            }
        }
        best
    });
    // Also the bindings' own path: each call blocks on its future separately.
    let mut blocking = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let t = Instant::now();
        let c = cpu_time::ThreadTime::now();
        for _ in 0..iters {
            let s = pollster::block_on(g.records().seal(&ctx, "bench/row", &data)).expect("seal");
            let p = pollster::block_on(g.records().open(&ctx, "bench/row", &s)).expect("open");
            assert_eq!(p.len(), 256);
        }
        let wall = t.elapsed().as_nanos() as f64 / f64::from(iters);
        if wall < blocking.0 {
            blocking = (wall, c.elapsed().as_nanos() as f64 / f64::from(iters));
        }
    }
    println!(
        "{{\"impl\": \"rust\", \"round_trip_ns\": {:.0}, \"thread_cpu_ns\": {:.0}, \"round_trip_blocking_ns\": {:.0}, \"blocking_thread_cpu_ns\": {:.0}, \"iters\": {iters}}}",
        best.0, best.1, blocking.0, blocking.1
    );
}
