//! Seal + open round trips: the envelope (through `Guard` and through the raw `crypto`
//! functions, binary and text form) next to raw AES-256-GCM from RustCrypto `aes-gcm`
//! (what the envelope uses by default), `ring` and `aws-lc-rs`, at the same sizes and in
//! the same run, so the envelope's overhead reads as a ratio. Also the cold path: opening
//! for a tenant whose key is not cached (store read + key-provider unwrap + HKDF extract).
//!
//! Run: `cargo bench -p tenantguard-benches --bench seal` (about 2 minutes), and with the
//! core's aws-lc-rs backend: `cargo bench -p tenantguard-benches --features aws-lc --bench seal -- envelope`.
//! Results and the machine they came from: benches/BENCHMARKS.md.
// criterion_group! generates public functions without docs.
#![allow(missing_docs)]
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../core/kms/tests/tg_cap/mod.rs"]
mod tg_cap;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Throughput};
use tenantguard::hazmat::{open_with_key, seal_with_key, TenantKey};
use tenantguard::{
    CacheLimits, Guard, KeyId, LocalKeyProvider, MemoryStore, SealedValue, SecretBytes,
    TenantContext, TenantId,
};
use tokio::runtime::Runtime;

const SIZES: [usize; 4] = [32, 256, 4096, 1 << 20];
const CONTEXT: &str = "credentials/password/row-42";

/// Which AES-GCM implementation the envelope runs on in this build.
const BACKEND: &str = tenantguard::crypto::BACKEND;

fn label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{}MiB", size >> 20)
    } else if size >= 1024 {
        format!("{}KiB", size >> 10)
    } else {
        format!("{size}B")
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// A guard over an in-memory store and an ephemeral key file, with one tenant created.
fn guard(rt: &Runtime, limits: CacheLimits) -> (Guard, TenantContext) {
    guard_on(rt, LocalKeyProvider::ephemeral(), limits)
}

/// [`guard`] with the given key provider.
fn guard_on(rt: &Runtime, kek: LocalKeyProvider, limits: CacheLimits) -> (Guard, TenantContext) {
    let guard = Guard::builder()
        .key_provider(kek)
        .store(MemoryStore::new())
        .cache_limits(limits)
        .build_with_service()
        .map(tg_cap::keep)
        .expect("guard");
    let ctx = TenantContext::service(TenantId::new("acme").expect("tenant id"), &tg_cap::cap());
    rt.block_on(guard.keys().create_tenant(&ctx))
        .expect("create tenant");
    (guard, ctx)
}

fn round_trips(c: &mut Criterion) {
    let rt = runtime();
    let (guard, ctx) = guard(&rt, CacheLimits::default());
    let tenant = ctx.tenant().clone();
    let key = TenantKey::from_bytes(KeyId::FIRST, [0x42; 32]);
    let raw_key = [0x24u8; 32];
    let nonce = [0u8; 12];
    let aad =
        b"tenantguard/v1/aad\x04acme\x00\x00\x00\x01\x00\x00\x00\x1bcredentials/password/row-42";

    let rc = {
        use aes_gcm::aead::KeyInit;
        aes_gcm::Aes256Gcm::new_from_slice(&raw_key).expect("key")
    };
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &raw_key).expect("key"),
    );
    let lc_key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &raw_key).expect("key"),
    );

    for size in SIZES {
        let pt = vec![0xa5u8; size];
        let mut g = c.benchmark_group(format!("seal_open/{}", label(size)));
        g.throughput(Throughput::Bytes(size as u64));
        if size >= 1 << 20 {
            g.sample_size(20);
        }

        // Warm tenant: the key is cached after the first call.
        rt.block_on(guard.records().seal(&ctx, CONTEXT, &pt))
            .expect("warm the cache");
        g.bench_function(BenchmarkId::new("envelope_binary", BACKEND), |b| {
            b.iter(|| rt.block_on(seal_open(&guard, &ctx, black_box(&pt))))
        });
        // The same, opening in place (`open_owned`: the value read back is not kept).
        g.bench_function(BenchmarkId::new("envelope_owned", BACKEND), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let sealed = guard
                        .records()
                        .seal(&ctx, CONTEXT, black_box(&pt))
                        .await
                        .expect("seal");
                    let stored = black_box(sealed.into_bytes());
                    let value = SealedValue::from_vec(stored).expect("parse");
                    guard
                        .records()
                        .open_owned(&ctx, CONTEXT, value)
                        .await
                        .expect("open")
                })
            })
        });
        g.bench_function(BenchmarkId::new("envelope_text", BACKEND), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let sealed = guard
                        .records()
                        .seal(&ctx, CONTEXT, black_box(&pt))
                        .await
                        .expect("seal");
                    let stored = black_box(sealed.to_text());
                    let value = SealedValue::parse(&stored).expect("parse");
                    guard
                        .records()
                        .open(&ctx, CONTEXT, &value)
                        .await
                        .expect("open")
                })
            })
        });
        g.bench_function(BenchmarkId::new("crypto_binary", BACKEND), |b| {
            b.iter(|| {
                let sealed =
                    seal_with_key(&key, &tenant, CONTEXT.as_bytes(), black_box(&pt)).expect("seal");
                open_with_key(&key, &tenant, CONTEXT.as_bytes(), black_box(&sealed)).expect("open")
            })
        });
        g.bench_function(BenchmarkId::new("crypto_owned", BACKEND), |b| {
            use tenantguard::hazmat::{open_owned, Context};
            b.iter(|| {
                let sealed =
                    seal_with_key(&key, &tenant, CONTEXT.as_bytes(), black_box(&pt)).expect("seal");
                open_owned(
                    &key,
                    &tenant,
                    Context::Caller(CONTEXT.as_bytes()),
                    black_box(sealed),
                )
                .expect("open")
            })
        });
        // The same through format v1 (HKDF-SHA256 per record), for the before/after ratio.
        g.bench_function(BenchmarkId::new("crypto_binary_v1", BACKEND), |b| {
            use tenantguard::crypto::SealFormat;
            use tenantguard::hazmat::{seal, Context};
            b.iter(|| {
                let sealed = seal(
                    &key,
                    &tenant,
                    Context::Caller(CONTEXT.as_bytes()),
                    black_box(&pt),
                    SealFormat::V1,
                )
                .expect("seal");
                open_with_key(&key, &tenant, CONTEXT.as_bytes(), black_box(&sealed)).expect("open")
            })
        });

        g.bench_function("raw_aes_gcm", |b| {
            use aes_gcm::aead::AeadInOut;
            b.iter(|| {
                let mut ct = Vec::with_capacity(size + 16);
                ct.extend_from_slice(black_box(&pt));
                let tag = rc
                    .encrypt_inout_detached(&nonce.into(), aad, ct.as_mut_slice().into())
                    .expect("seal");
                ct.extend_from_slice(&tag);
                let stored = black_box(ct);
                let (body, tag) = stored.split_at(size);
                let mut out = body.to_vec();
                rc.decrypt_inout_detached(
                    &nonce.into(),
                    aad,
                    out.as_mut_slice().into(),
                    tag.try_into().expect("tag"),
                )
                .expect("open");
                out
            })
        });
        g.bench_function("raw_ring", |b| {
            use ring::aead::{Aad, Nonce};
            b.iter(|| {
                let mut ct = Vec::with_capacity(size + 16);
                ct.extend_from_slice(black_box(&pt));
                ring_key
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut ct,
                    )
                    .expect("seal");
                let mut out = black_box(ct).clone();
                let n = ring_key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut out,
                    )
                    .expect("open")
                    .len();
                out.truncate(n);
                out
            })
        });
        g.bench_function("raw_aws_lc_rs", |b| {
            use aws_lc_rs::aead::{Aad, Nonce};
            b.iter(|| {
                let mut ct = Vec::with_capacity(size + 16);
                ct.extend_from_slice(black_box(&pt));
                lc_key
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut ct,
                    )
                    .expect("seal");
                let mut out = black_box(ct).clone();
                let n = lc_key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad[..]),
                        &mut out,
                    )
                    .expect("open")
                    .len();
                out.truncate(n);
                out
            })
        });
        // Part of every envelope open: the returned plaintext (SecretBytes) is zeroized on drop.
        g.bench_function("secret_drop_only", |b| {
            b.iter_batched(|| SecretBytes::from_slice(&pt), drop, BatchSize::LargeInput)
        });
        g.finish();
    }
}

/// The parts of a 256-byte round trip that the required construction cannot skip, each
/// alone: the issue asks for a fresh HKDF-SHA256 record key per value (one Expand of 56
/// bytes when sealing and again when opening, with the PRK cached), which means a fresh
/// AES key schedule and GHASH key per value too (zeroized after use, as in the core), and
/// the AES-GCM pass itself (`seal_open/256B/raw_aes_gcm`). Their sum is a lower bound for
/// `crypto_binary` on this machine.
fn floor(c: &mut Criterion) {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::KeyInit;
    use aes_gcm::aes::Aes256Enc;
    use hkdf::Hkdf;
    use sha2::Sha256;

    let mut g = c.benchmark_group("floor_256B");
    let hk = Hkdf::<Sha256>::new(Some(b"tenantguard/v1/record-key"), &[0x42; 32]);
    let salt = [7u8; 16];
    g.bench_function("hkdf_expand_56B", |b| {
        b.iter(|| {
            let mut okm = [0u8; 56];
            hk.expand_multi_info(&[b"tg1 record", black_box(&salt)], &mut okm)
                .expect("56 bytes");
            okm
        })
    });
    g.bench_function("aes_gcm_key_setup_and_wipe", |b| {
        b.iter(|| {
            let cipher = aes_gcm::AesGcm::<Aes256Enc, U12>::new(black_box(&[0x24u8; 32]).into());
            drop(black_box(cipher));
        })
    });
    // What each store or key-provider call pays for its span (issue 17) when no
    // subscriber is installed, the default: the span and the future wrapper, nothing else.
    g.bench_function("tracing_span_no_subscriber", |b| {
        use tracing::Instrument;
        b.iter(|| {
            let f = std::future::ready(black_box(7u32)).instrument(tracing::debug_span!(
                "store",
                op = "get_record",
                tenant = %black_box("acme")
            ));
            black_box(f)
        })
    });
    g.finish();
}

/// The parts of a v2 round trip, each alone: per value the AEAD backend sets up an AES-GCM
/// key for the XAES-derived key (once to seal, once to open), the commitment is one HMAC
/// over about 90 bytes from a cached key state (twice), the nonce reads the clock, and
/// the XAES derivation is two AES blocks (inside `xaes_256_gcm_seal_256B`, which also sets
/// up the per-key state and seals).
fn floor_v2(c: &mut Criterion) {
    use hmac::{KeyInit, Mac};
    let mut g = c.benchmark_group("floor_v2_256B");
    g.bench_function("ring_gcm_key_setup", |b| {
        b.iter(|| {
            ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, black_box(&[0x24u8; 32]))
                    .expect("key"),
            )
        })
    });
    g.bench_function("aws_lc_gcm_key_setup", |b| {
        b.iter(|| {
            aws_lc_rs::aead::LessSafeKey::new(
                aws_lc_rs::aead::UnboundKey::new(
                    &aws_lc_rs::aead::AES_256_GCM,
                    black_box(&[0x24u8; 32]),
                )
                .expect("key"),
            )
        })
    });
    g.bench_function("rustcrypto_gcm_key_setup_and_wipe", |b| {
        use aes_gcm::aead::consts::U12;
        use aes_gcm::aes::Aes256Enc;
        b.iter(|| {
            let cipher = aes_gcm::AesGcm::<Aes256Enc, U12>::new(black_box(&[0x24u8; 32]).into());
            drop(black_box(cipher));
        })
    });
    let mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&[7u8; 32]).expect("key");
    let input = [0x33u8; 90];
    g.bench_function("hmac_sha256_90B_cached_key", |b| {
        b.iter(|| {
            let mut m = mac.clone();
            m.update(black_box(&input));
            m.finalize().into_bytes()
        })
    });
    g.bench_function("clock_read", |b| b.iter(std::time::SystemTime::now));
    g.bench_function("getpid", |b| b.iter(std::process::id));
    g.bench_function("aws_lc_rand_24B", |b| {
        use aws_lc_rs::rand::SecureRandom;
        let r = aws_lc_rs::rand::SystemRandom::new();
        b.iter(|| {
            let mut n = [0u8; 24];
            r.fill(&mut n).expect("rand");
            n
        })
    });
    g.bench_function("ring_rand_24B", |b| {
        use ring::rand::SecureRandom;
        let r = ring::rand::SystemRandom::new();
        b.iter(|| {
            let mut n = [0u8; 24];
            r.fill(&mut n).expect("rand");
            n
        })
    });
    // What every audited open adds besides the store's write: the audit entry's canonical
    // JSON and its SHA-256 chain hash (about 330 bytes: 6 compressions), for the target
    // `Records::open` writes in `seal_open/*/envelope_*`.
    g.bench_function("audit_entry_chain", |b| {
        use tenantguard::audit::{AuditDraft, AuditEntry, GENESIS};
        let draft = AuditDraft {
            time: 1_764_700_000,
            actor: "service".into(),
            action: "credential.open".into(),
            target: format!("value:{CONTEXT}"),
            reason: None,
            details: Default::default(),
            mac_key: None,
            personal_salt: None,
        };
        b.iter(|| AuditEntry::chain("acme", black_box(42), GENESIS, &draft))
    });
    g.bench_function("xaes_256_gcm_seal_256B", |b| {
        let pt = [0u8; 256];
        b.iter(|| tenantguard::hazmat::xaes_256_gcm_seal(&[1; 32], &[2; 24], b"", black_box(&pt)))
    });
    g.finish();
}

/// Opening one 256-byte value: cached key (warm) against a guard that caches nothing, so
/// every open reads the tenant's key records and unwraps through `LocalKeyProvider` (cold).
fn cold_path(c: &mut Criterion) {
    let rt = runtime();
    let pt = vec![0xa5u8; 256];
    let mut g = c.benchmark_group("open_256B");
    for (name, limits) in [
        ("envelope_warm", CacheLimits::default()),
        (
            "envelope_cold",
            CacheLimits {
                max_tenants: 0,
                ..CacheLimits::default()
            },
        ),
    ] {
        let (guard, ctx) = guard(&rt, limits);
        let sealed = rt
            .block_on(guard.records().seal(&ctx, CONTEXT, &pt))
            .expect("seal");
        let loads = guard.cache_stats().loads;
        let mut ran = false;
        g.bench_function(BenchmarkId::new(name, BACKEND), |b| {
            ran = true;
            b.iter(|| {
                rt.block_on(guard.records().open(&ctx, CONTEXT, black_box(&sealed)))
                    .expect("open")
            })
        });
        // The cold guard really unwrapped on every open; the warm one never did (when the
        // bench ran at all: a name filter may skip it).
        let unwrapped = guard.cache_stats().loads - loads;
        assert!(
            !ran || (unwrapped > 0) == (limits.max_tenants == 0),
            "{name}: {unwrapped} key loads"
        );
    }
    g.finish();
}

/// Criterion's clock here is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`,
/// user + system), not wall time: everything measured runs on this one thread (the Guard
/// benches drive a current-thread runtime), so on an idle machine the two agree, and on a
/// shared one other processes' CPU use does not inflate the figures. Criterion still shows
/// it as "time".
struct ThreadCpuTime(WallTime);

impl Measurement for ThreadCpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, start: Self::Intermediate) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

type Criterion = criterion::Criterion<ThreadCpuTime>;

fn config() -> Criterion {
    criterion::Criterion::default()
        .with_measurement(ThreadCpuTime(WallTime))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

/// One warm seal + audited open through the guard, the value passed on in binary form.
async fn seal_open(guard: &Guard, ctx: &TenantContext, pt: &[u8]) -> SecretBytes {
    let sealed = guard.records().seal(ctx, CONTEXT, pt).await.expect("seal");
    let value = SealedValue::from_vec(black_box(sealed.into_bytes())).expect("parse");
    guard
        .records()
        .open(ctx, CONTEXT, &value)
        .await
        .expect("open")
}

/// The embedded default's key provider: a key file (not an in-memory key), so each key use
/// pays what the file-backed provider checks (another process's shred: `kms::SHRED_RECHECK`).
/// Store in memory, so no audit append to disk drowns the difference. 256 B, warm key.
fn key_file(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let kek = LocalKeyProvider::open_or_create(dir.path().join("keys.json")).expect("key file");
    let (guard, ctx) = guard_on(&rt, kek, CacheLimits::default());
    let pt = vec![0xa5u8; 256];
    rt.block_on(guard.records().seal(&ctx, CONTEXT, &pt))
        .expect("warm the cache");
    let mut g = c.benchmark_group("seal_open/256B");
    g.bench_function(BenchmarkId::new("envelope_keyfile", BACKEND), |b| {
        b.iter(|| rt.block_on(seal_open(&guard, &ctx, black_box(&pt))))
    });
    g.finish();
}

criterion_group! {
    name = floors_v2;
    config = config();
    targets = floor_v2
}
criterion_group! {
    name = benches;
    config = config();
    targets = round_trips, floor, cold_path, key_file
}
criterion_main!(floors_v2, benches);
