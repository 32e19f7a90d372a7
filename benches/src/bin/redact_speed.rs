//! Find throughput in thread CPU time, every recognizer on, on the three sets the redaction
//! issues name: the synthetic corpus (200 documents of 2 KB, seed 42, as in the criterion
//! bench), the realistic secrets set and the personal-data prompts. Several rounds, in
//! alternation, so a busy minute on a shared machine hits every set alike; prints the median
//! and the best round. For profiling (`perf record`) and quick comparisons between builds;
//! criterion (`benches/redact.rs`) is the reference.
//!
//! `cargo run --release -p tenantguard-benches --bin redact_speed -- [ROUNDS] [PASSES]`
// Benchmark and build tooling, not library code: a failed step stops it with the reason.
#![allow(clippy::expect_used)]

use tenantguard::redact::{Operation, PseudonymSession, Redactor};
use tenantguard::TenantId;
use tenantguard_benches::corpus::generate;
use tenantguard_benches::eval_set;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(9);
    let passes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let synthetic: Vec<String> = generate(42, 200, 2048)
        .into_iter()
        .map(|d| d.text)
        .collect();
    let secrets: Vec<String> = eval_set::load(&eval_set::default_path())
        .into_iter()
        .map(|p| p.text)
        .collect();
    let pii6: Vec<String> = include_str!("../../eval/pii6/prompts.jsonl")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["text"]
                .as_str()
                .expect("text")
                .to_owned()
        })
        .collect();
    let sets = [
        ("synthetic 200x2KB", &synthetic),
        ("realistic secrets set", &secrets),
        ("personal-data prompts", &pii6),
    ];
    // `DISABLE=NAME,ADDRESS` turns built-in kinds off by tag (to see what each costs).
    let mut b = Redactor::builder();
    for tag in std::env::var("DISABLE").unwrap_or_default().split(',') {
        if let Some(k) = tenantguard::redact::EntityKind::from_tag(tag) {
            b = b.disable(&k);
        }
    }
    let r = b.build().expect("redactor");
    let tenant = TenantId::new("bench").expect("id");
    let mut find: Vec<Vec<f64>> = vec![Vec::new(); sets.len()];
    let mut pseudo: Vec<Vec<f64>> = vec![Vec::new(); sets.len()];
    // `FIND_ONLY=1` leaves pseudonymization out (to profile `find` alone).
    let with_pseudo = std::env::var_os("FIND_ONLY").is_none();
    let mut n = 0usize;
    // `ONLY=1` times one set (0 synthetic, 1 realistic secrets, 2 personal data).
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|s| s.parse().ok());
    for _ in 0..rounds {
        for (i, (_, set)) in sets.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                find[i].push(0.0);
                pseudo[i].push(0.0);
                continue;
            }
            let bytes: usize = set.iter().map(String::len).sum();
            let t = cpu_now();
            for _ in 0..passes {
                for d in set.iter() {
                    n += r.find(d).expect("find").len();
                }
            }
            find[i].push((bytes * passes) as f64 / 1e6 / (cpu_now() - t));
            if !with_pseudo {
                pseudo[i].push(0.0);
                continue;
            }
            // Pseudonymize, then restore the result as a stream of words.
            let t = cpu_now();
            for d in set.iter() {
                let s = PseudonymSession::new(&tenant, std::time::Duration::from_secs(60))
                    .expect("session");
                let out = r.redact(d, &Operation::Pseudonymize(&s)).expect("redact");
                let mut st = s.stream();
                for chunk in out.text.split_inclusive(' ') {
                    n += st.push(chunk).expect("push").len();
                }
                n += st.finish().expect("finish").len();
            }
            pseudo[i].push(bytes as f64 / 1e6 / (cpu_now() - t));
        }
    }
    std::hint::black_box(n);
    println!("| set | find MB/CPU-s median (best) | pseudonymize + stream restore MB/CPU-s median (best) |");
    println!("|---|---|---|");
    for (i, (name, _)) in sets.iter().enumerate() {
        let (fm, fb) = stats(&mut find[i]);
        let (pm, pb) = stats(&mut pseudo[i]);
        println!("| {name} | {fm:.0} ({fb:.0}) | {pm:.1} ({pb:.1}) |");
    }
}

fn stats(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

/// CPU time of this thread, in seconds.
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
