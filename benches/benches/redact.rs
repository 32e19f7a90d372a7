//! Criterion benchmark of the redactor on the synthetic corpus (see src/bin/redact_eval.rs
//! for precision/recall and the Presidio comparison).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tenantguard::redact::{Operation, PseudonymSession, Redactor};
use tenantguard::TenantId;
use tenantguard_benches::corpus::generate;

fn bench(c: &mut Criterion) {
    let docs = generate(42, 200, 2048);
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let all = Redactor::builder()
        .terms(["Project Falcon", "Globex", "Initech"])
        .build()
        .expect("redactor");
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("find_all_recognizers_200x2KB", |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| all.find(&d.text).expect("find").len())
                .sum::<usize>()
        })
    });
    g.bench_function("pseudonymize_200x2KB", |b| {
        b.iter(|| {
            docs.iter()
                .map(|d| {
                    let s = PseudonymSession::new(
                        &TenantId::new("bench").expect("id"),
                        std::time::Duration::from_secs(60),
                    )
                    .expect("session");
                    all.redact(&d.text, &Operation::Pseudonymize(&s))
                        .expect("redact")
                        .text
                        .len()
                })
                .sum::<usize>()
        })
    });
    g.finish();
    let one = &docs[0].text;
    let mut g = c.benchmark_group("redact_latency");
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function("find_2KB_prompt", |b| {
        b.iter(|| all.find(one).expect("find").len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
