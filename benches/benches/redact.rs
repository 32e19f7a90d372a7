//! Criterion benchmark of the redactor on the synthetic corpus and on the realistic secrets
//! set (benches/eval/secrets/prompts.jsonl), with a raw baseline (reading the bytes), the scan
//! with every recognizer off, and a regex peer (gitleaks-style rules, one `regex` crate regex)
//! in the same run; plus adversarial inputs (see src/bin/redact_eval.rs for precision/recall
//! and the Presidio comparison). Every figure is the measuring thread's CPU time
//! (`iter_custom` + `cpu_time`): the machine is shared, and CPU time is what the targets name.
// criterion_group! generates public functions without docs.
#![allow(missing_docs)]
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tenantguard::redact::{Operation, PseudonymSession, Redactor, MAX_TEXT_LEN};
use tenantguard::TenantId;
use tenantguard_benches::corpus::generate;
use tenantguard_benches::eval_set;

/// A peer in the style of gitleaks: provider rules (prefix + body) and a generic
/// secret-named-key rule as one regex, run with `find_iter`. Rule facts as in the providers'
/// documentation; 40 rules, so it does less work than the 192 formats of tenantguard. ASCII
/// classes only, as the rules are written (Unicode `\w` repeated 80 times would blow the
/// regex size limit).
const PEER: &str = r#"(?x)
  (?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}
| gh[pousr]_[0-9a-zA-Z]{36} | github_pat_[0-9A-Za-z_]{82}
| glpat-[0-9A-Za-z_-]{20} | gldt-[0-9A-Za-z_-]{20} | glrt-[0-9A-Za-z_-]{20} | glptt-[0-9a-f]{40}
| xox[baprse]-[0-9a-zA-Z-]{10,250} | xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+
| (?:sk|rk)_(?:test|live)_[0-9a-zA-Z]{10,99} | whsec_[0-9a-zA-Z]{24,}
| sk-ant-api03-[0-9A-Za-z_-]{93}AA | sk-proj-[0-9A-Za-z_-]{40,250} | sk-[a-zA-Z0-9]{20,}
| AIza[0-9A-Za-z_-]{35} | ya29\.[0-9A-Za-z_.-]{20,} | GOCSPX-[0-9A-Za-z_-]{28}
| SK[0-9a-fA-F]{32} | SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43} | npm_[a-zA-Z0-9]{36}
| pypi-AgEIcHlwaS5vcmc[0-9A-Za-z_-]{50,} | dckr_pat_[0-9A-Za-z_-]{27,} | hf_[a-zA-Z]{34}
| shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32} | do[opr]_v1_[a-f0-9]{64} | lin_api_[a-zA-Z0-9]{40}
| PMAK-[a-f0-9]{24}-[a-f0-9]{34} | dp\.pt\.[a-zA-Z0-9]{43} | hvs\.[0-9A-Za-z_-]{90,120}
| glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8} | NRAK-[A-Z0-9]{27} | dapi[a-f0-9]{32}
| sntryu_[a-f0-9]{64} | AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}
| EAAA[0-9A-Za-z_-]{60} | sbp_[a-f0-9]{40} | gsk_[a-zA-Z0-9]{52} | rubygems_[a-f0-9]{48}
| -----BEGIN[ A-Z0-9_-]{0,100}PRIVATE\ KEY(?:\ BLOCK)?-----
| eyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]*
| (?i:password|passwd|pwd|secret|token|api_?key)["']?\s*[:=]\s*["']?[^\s"',;]{4,}
"#;

fn bench(c: &mut Criterion) {
    let docs = generate(42, 200, 2048);
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let all = Redactor::builder()
        .terms(["Project Falcon", "Globex", "Initech"])
        .build()
        .expect("redactor");
    let none = Redactor::builder().only(&[]).build().expect("redactor");
    let peer = regex::Regex::new(PEER).expect("peer regex");
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("find_all_recognizers_200x2KB", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                docs.iter()
                    .map(|d| all.find(&d.text).expect("find").len())
                    .sum::<usize>()
            })
        })
    });
    g.bench_function("pseudonymize_200x2KB", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
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
        })
    });
    g.finish();

    // The realistic set: every recognizer, the floor, the raw baseline and the regex peer.
    let set = eval_set::load(&eval_set::default_path());
    let set_bytes: usize = set.iter().map(|p| p.text.len()).sum();
    let mut g = c.benchmark_group("secrets_set");
    g.throughput(Throughput::Bytes(set_bytes as u64));
    g.bench_function("tenantguard_find_all", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                set.iter()
                    .map(|p| all.find(&p.text).expect("find").len())
                    .sum::<usize>()
            })
        })
    });
    g.bench_function("tenantguard_scan_no_recognizer", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                set.iter()
                    .map(|p| none.find(&p.text).expect("find").len())
                    .sum::<usize>()
            })
        })
    });
    g.bench_function("raw_baseline_count_spaces", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                set.iter()
                    .map(|p| memchr_count(p.text.as_bytes()))
                    .sum::<usize>()
            })
        })
    });
    g.bench_function("peer_regex_gitleaks_style", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                set.iter()
                    .map(|p| peer.find_iter(&p.text).count())
                    .sum::<usize>()
            })
        })
    });
    g.bench_function("pseudonymize_then_stream_restore", |b| {
        b.iter_custom(|n| {
            cpu_time(n, || {
                set.iter()
                    .map(|p| {
                        let s = PseudonymSession::new(
                            &TenantId::new("bench").expect("id"),
                            std::time::Duration::from_secs(60),
                        )
                        .expect("session");
                        let out = all
                            .redact(&p.text, &Operation::Pseudonymize(&s))
                            .expect("redact");
                        let mut st = s.stream();
                        let mut n = 0;
                        // A stream of words (chunks end after each space, on character boundaries).
                        for chunk in out.text.split_inclusive(' ') {
                            n += st.push(chunk).expect("push").len();
                        }
                        n + st.finish().expect("finish").len()
                    })
                    .sum::<usize>()
            })
        })
    });
    g.finish();

    // Adversarial inputs: time per byte must not grow with the size (linear scan).
    let mut g = c.benchmark_group("adversarial");
    g.sample_size(10);
    for (name, unit) in [
        ("repeated_char", "A"),
        ("repeated_key_value", "password=x&"),
        ("nested_json", "{\"token\":"),
        ("url_segments", "/seg0123456789abcdefXYZ"),
    ] {
        for size in [1usize << 20, MAX_TEXT_LEN] {
            let mut text = if name == "url_segments" {
                String::from("https://x.io")
            } else {
                String::new()
            };
            while text.len() + unit.len() <= size {
                text.push_str(unit);
            }
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_with_input(BenchmarkId::new(name, size), &text, |b, t| {
                b.iter_custom(|n| cpu_time(n, || all.find(t).expect("find").len()))
            });
        }
    }
    g.finish();

    let one = &docs[0].text;
    let mut g = c.benchmark_group("redact_latency");
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function("find_2KB_prompt", |b| {
        b.iter_custom(|n| cpu_time(n, || all.find(one).expect("find").len()))
    });
    g.finish();
}

/// Raw baseline: one pass over the bytes counting spaces (what reading the text costs).
fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b' ').count()
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
