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

/// Thread CPU time of `iters` calls (the machine is shared; CPU time measures the work).
fn cpu_time(iters: u64, mut f: impl FnMut() -> usize) -> std::time::Duration {
    let start = cpu_time::ThreadTime::now();
    let mut n = 0;
    for _ in 0..iters {
        n += f();
    }
    std::hint::black_box(n);
    start.elapsed()
}

/// Issue 22: the personal-data recognizers (names included) against the pre-issue set, a
/// raw tokenizing pass and a dictionary peer, in one run, in thread CPU time.
fn pii(c: &mut Criterion) {
    use aho_corasick::{AhoCorasickBuilder, MatchKind};
    use tenantguard::redact::EntityKind;
    let docs = generate(42, 200, 2048);
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let every = Redactor::new();
    let before = Redactor::builder()
        .disable(&EntityKind::PersonName)
        .disable(&EntityKind::Address)
        .disable(&EntityKind::DateOfBirth)
        .disable(&EntityKind::CardCvc)
        .disable(&EntityKind::NationalId)
        .build()
        .expect("redactor");
    let names_only = Redactor::builder()
        .only(&[EntityKind::PersonName])
        .build()
        .expect("redactor");
    // Peer: the usual dictionary approach, every gazetteer name matched case-insensitively
    // with Aho-Corasick (whole words checked after the match), no context.
    let lists = [
        include_str!("../../core/src/redact/pii/data/given.txt"),
        include_str!("../../core/src/redact/pii/data/surnames.txt"),
    ];
    let names: Vec<&str> = lists.iter().flat_map(|l| l.lines()).collect();
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(&names)
        .expect("automaton");
    let mut g = c.benchmark_group("redact_pii");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("every_recognizer_200x2KB_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                docs.iter()
                    .map(|d| every.find(&d.text).expect("find").len())
                    .sum()
            })
        })
    });
    g.bench_function("before_issue22_200x2KB_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                docs.iter()
                    .map(|d| before.find(&d.text).expect("find").len())
                    .sum()
            })
        })
    });
    g.bench_function("names_only_200x2KB_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                docs.iter()
                    .map(|d| names_only.find(&d.text).expect("find").len())
                    .sum()
            })
        })
    });
    g.bench_function("raw_word_split_200x2KB_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                docs.iter()
                    .map(|d| {
                        d.text
                            .split_ascii_whitespace()
                            .filter(|w| w.as_bytes()[0].is_ascii_uppercase())
                            .count()
                    })
                    .sum()
            })
        })
    });
    g.bench_function("peer_aho_corasick_names_200x2KB_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                docs.iter()
                    .map(|d| {
                        let t = d.text.as_bytes();
                        ac.find_iter(t)
                            .filter(|m| {
                                (m.start() == 0 || !t[m.start() - 1].is_ascii_alphanumeric())
                                    && (m.end() == t.len() || !t[m.end()].is_ascii_alphanumeric())
                            })
                            .count()
                    })
                    .sum()
            })
        })
    });
    g.finish();
    // The evaluation prompts: short and dense with personal data.
    let prompts: Vec<String> = include_str!("../eval/pii6/prompts.jsonl")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["text"]
                .as_str()
                .expect("text")
                .to_owned()
        })
        .collect();
    let total: usize = prompts.iter().map(String::len).sum();
    let mut g = c.benchmark_group("redact_pii_prompts");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("every_recognizer_216_prompts_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                prompts
                    .iter()
                    .map(|p| every.find(p).expect("find").len())
                    .sum()
            })
        })
    });
    g.bench_function("before_issue22_216_prompts_cpu", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                prompts
                    .iter()
                    .map(|p| before.find(p).expect("find").len())
                    .sum()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench, pii);
criterion_main!(benches);
