//! Redaction benchmark: precision/recall per type, throughput and 2 KB latency (all in CPU time
//! of one thread, so other load on a shared machine does not count) of
//! tenantguard's redactor on the synthetic corpus, and (optionally) of Presidio on the same
//! corpus in the same run.
//!
//! `cargo run --release -p tenantguard-benches --bin redact_eval -- [--docs N] [--seed S] [--out DIR] [--presidio PYTHON [--presidio-docs N]] [--set PROMPTS.jsonl]`
//!
//! Then scores the committed realistic set (`benches/eval/secrets/prompts.jsonl`, or `--set`)
//! per type with the same scorer, counts credential leaks, and times it.
// Benchmark and build tooling, not library code: a failed step stops it with the reason.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::json;
use tenantguard::redact::{Operation, PseudonymSession, Redactor};
use tenantguard::TenantId;
use tenantguard_benches::corpus::{generate, score, Counts, TYPES};
use tenantguard_benches::eval_set;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let docs_n: usize = arg("--docs").and_then(|s| s.parse().ok()).unwrap_or(1000);
    let out_dir =
        std::path::PathBuf::from(arg("--out").unwrap_or_else(|| "target/redact-corpus".into()));
    std::fs::create_dir_all(&out_dir).expect("create output dir");
    let seed: u64 = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(42);
    let docs = generate(seed, docs_n, 2048);
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let corpus = json!({
        "seed": seed,
        "docs": docs.iter().map(|d| json!({
            "text": d.text,
            "spans": d.spans.iter().map(|s| json!({"type": s.kind, "start": s.start, "end": s.end, "cstart": s.cstart, "cend": s.cend})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let corpus_path = out_dir.join("corpus.json");
    std::fs::write(&corpus_path, serde_json::to_vec(&corpus).expect("json")).expect("write corpus");
    eprintln!(
        "corpus: {} docs, {:.2} MB, {} labelled spans -> {}",
        docs.len(),
        total as f64 / 1e6,
        docs.iter().map(|d| d.spans.len()).sum::<usize>(),
        corpus_path.display()
    );

    let redactor = Redactor::builder()
        .terms(["Project Falcon", "Globex", "Initech"])
        .build()
        .expect("redactor");

    // Quality.
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for d in &docs {
        let truth: Vec<(&str, usize, usize)> =
            d.spans.iter().map(|s| (s.kind, s.start, s.end)).collect();
        let pred: Vec<(String, usize, usize)> = redactor
            .find(&d.text)
            .expect("find")
            .into_iter()
            .map(|f| (f.kind.tag().to_owned(), f.start, f.end))
            .collect();
        score(&truth, &pred, &mut counts);
        if let Ok(kind) = std::env::var("REDACT_DEBUG") {
            for (k, s, e) in &pred {
                if *k == kind && !truth.iter().any(|(tk, ts, te)| tk == k && s < te && ts < e) {
                    eprintln!("false positive {k}: {:?}", &d.text[*s..*e]);
                }
            }
            for (k, s, e) in &truth {
                if *k == kind && !pred.iter().any(|(pk, ps, pe)| pk == k && ps < e && s < pe) {
                    eprintln!("missed {k}: {:?}", &d.text[*s..*e]);
                }
            }
        }
    }

    // Throughput, one thread: every recognizer on, 2 KB documents, 5 passes.
    let passes = 5;
    let t = cpu_now();
    let mut n = 0usize;
    for _ in 0..passes {
        for d in &docs {
            n += redactor.find(&d.text).expect("find").len();
        }
    }
    let secs = cpu_now() - t;
    let mbps = (total * passes) as f64 / 1e6 / secs;
    // One big text (up to the 4 MiB limit).
    let mut big = String::new();
    for d in &docs {
        if big.len() + d.text.len() + 1 > tenantguard::redact::MAX_TEXT_LEN {
            break;
        }
        big.push_str(&d.text);
        big.push('\n');
    }
    let t = cpu_now();
    for _ in 0..passes {
        n += redactor.find(&big).expect("find").len();
    }
    let big_mbps = (big.len() * passes) as f64 / 1e6 / (cpu_now() - t);
    // Tag operator (find + replace).
    let t = cpu_now();
    for d in &docs {
        n += redactor
            .redact(&d.text, &Operation::Tag)
            .expect("redact")
            .text
            .len();
    }
    let tag_mbps = total as f64 / 1e6 / (cpu_now() - t);
    // Pseudonymize (find + replace + sealing each distinct value).
    let t = cpu_now();
    for d in &docs {
        let s = PseudonymSession::new(
            &TenantId::new("bench").expect("id"),
            std::time::Duration::from_secs(600),
        )
        .expect("session");
        n += redactor
            .redact(&d.text, &Operation::Pseudonymize(&s))
            .expect("redact")
            .text
            .len();
    }
    let pseudo_mbps = total as f64 / 1e6 / (cpu_now() - t);
    // Latency of one 2 KB prompt.
    let mut lat: Vec<f64> = docs
        .iter()
        .map(|d| {
            let t = cpu_now();
            n += redactor.find(&d.text).expect("find").len();
            (cpu_now() - t) * 1e6
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    std::hint::black_box(n);

    println!(
        "## tenantguard (all recognizers + 3 organization terms, one thread, per CPU-second)\n"
    );
    println!("- find, 2 KB documents: {mbps:.0} MB/s");
    println!(
        "- find, one {:.1} MB text: {big_mbps:.0} MB/s",
        big.len() as f64 / 1e6
    );
    println!("- redact with the tag operator (find + replace): {tag_mbps:.0} MB/s");
    println!("- pseudonymize (find + replace + seal each value): {pseudo_mbps:.0} MB/s");
    println!(
        "- 2 KB prompt latency: median {:.1} µs, p99 {:.1} µs\n",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    println!("| type | truth | predicted | precision | recall | exact spans |\n|---|---|---|---|---|---|");
    for t in TYPES {
        let c = counts.get(*t).copied().unwrap_or_default();
        println!(
            "| {t} | {} | {} | {:.4} | {:.4} | {:.4} |",
            c.truth,
            c.predicted,
            ratio(c.tp, c.predicted),
            ratio(c.tp, c.truth),
            ratio(c.exact, c.truth)
        );
    }
    for (k, c) in &counts {
        if !TYPES.contains(&k.as_str()) {
            println!("| {k} (not labelled) | 0 | {} | - | - | - |", c.predicted);
        }
    }

    realistic_set(&redactor);

    if let Some(py) = arg("--presidio") {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/presidio_bench.py");
        let mut cmd = std::process::Command::new(py);
        cmd.arg(script).arg(&corpus_path);
        if let Some(m) = arg("--presidio-docs") {
            cmd.arg(m);
        }
        let out = cmd.output().expect("run presidio");
        if !out.status.success() {
            eprintln!("presidio failed: {}", String::from_utf8_lossy(&out.stderr));
            return;
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value =
            serde_json::from_str(line.lines().last().unwrap_or("{}")).expect("presidio json");
        let p_mbps = v["mb_per_cpu_s"].as_f64().unwrap_or(0.0);
        println!(
            "\n## {} on {} docs ({:.2} MB)\n",
            v["tool"].as_str().unwrap_or("presidio"),
            v["docs"],
            v["bytes"].as_f64().unwrap_or(0.0) / 1e6
        );
        println!(
            "- analyze: {p_mbps:.3} MB per CPU-second (tenantguard find is {:.0} times faster)",
            mbps / p_mbps
        );
        let a_mbps = v["anonymize_mb_per_cpu_s"].as_f64().unwrap_or(0.0);
        println!("- analyze + anonymize (replace): {a_mbps:.3} MB per CPU-second (tenantguard tag operator is {:.0} times faster)", tag_mbps / a_mbps);
        println!(
            "- 2 KB prompt latency: median {:.1} ms, p99 {:.1} ms\n",
            v["latency_2kb_median_ms"].as_f64().unwrap_or(0.0),
            v["latency_2kb_p99_ms"].as_f64().unwrap_or(0.0)
        );
        println!("| type | truth | predicted | precision | recall | tenantguard recall |\n|---|---|---|---|---|---|");
        let pc = &v["counts"];
        for t in ["EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP"] {
            let g = |k: &str| pc[t][k].as_u64().unwrap_or(0) as usize;
            let ours = counts.get(t).copied().unwrap_or_default();
            println!(
                "| {t} | {} | {} | {:.4} | {:.4} | {:.4} |",
                g("truth"),
                g("predicted"),
                ratio(g("tp"), g("predicted")),
                ratio(g("tp"), g("truth")),
                ratio(ours.tp, ours.truth)
            );
        }
    }
}

/// Scores and times the realistic prompt set.
fn realistic_set(redactor: &Redactor) {
    let path = arg("--set").map_or_else(eval_set::default_path, std::path::PathBuf::from);
    let set = eval_set::load(&path);
    let total: usize = set.iter().map(|p| p.text.len()).sum();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut leaks = 0;
    let mut secrets = 0;
    let debug = std::env::var("REDACT_DEBUG").ok();
    for p in &set {
        let truth: Vec<(&str, usize, usize)> = p
            .spans
            .iter()
            .map(|(t, s, e)| (t.as_str(), *s, *e))
            .collect();
        let pred: Vec<(String, usize, usize)> = redactor
            .find(&p.text)
            .expect("find")
            .into_iter()
            .map(|f| (f.kind.tag().to_owned(), f.start, f.end))
            .collect();
        score(&truth, &pred, &mut counts);
        secrets += p
            .spans
            .iter()
            .filter(|(t, _, _)| eval_set::SECRET_TYPES.contains(&t.as_str()))
            .count();
        for (t, s, e) in eval_set::leaks(p, &pred) {
            leaks += 1;
            if debug.is_some() {
                eprintln!("LEAK {t} in a {} prompt: {:?}", p.kind, &p.text[*s..*e]);
            }
        }
        if let Some(kind) = &debug {
            for (k, s, e) in &pred {
                if (kind == "all" || k == kind)
                    && !truth.iter().any(|(tk, ts, te)| tk == k && s < te && ts < e)
                {
                    eprintln!("false positive {k}: {:?}", &p.text[*s..*e]);
                }
            }
            for (k, s, e) in &truth {
                if (kind == "all" || k == kind)
                    && !pred.iter().any(|(pk, ps, pe)| pk == k && ps < e && s < pe)
                {
                    eprintln!("missed {k}: {:?}", &p.text[*s..*e]);
                }
            }
        }
    }
    let passes = 20;
    let t = cpu_now();
    let mut n = 0usize;
    for _ in 0..passes {
        for p in &set {
            n += redactor.find(&p.text).expect("find").len();
        }
    }
    let mbps = (total * passes) as f64 / 1e6 / (cpu_now() - t);
    std::hint::black_box(n);
    println!(
        "\n## Realistic prompts ({}: {} prompts, {:.1} KB, {} labelled spans)\n",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("set"),
        set.len(),
        total as f64 / 1e3,
        set.iter().map(|p| p.spans.len()).sum::<usize>()
    );
    println!("- find: {mbps:.0} MB per CPU-second");
    println!("- credential leaks (a labelled secret not wholly covered by a secret finding): {leaks} of {secrets}\n");
    println!("| type | truth | predicted | precision | recall | exact spans |\n|---|---|---|---|---|---|");
    for (k, c) in &counts {
        println!(
            "| {k} | {} | {} | {:.4} | {:.4} | {:.4} |",
            c.truth,
            c.predicted,
            ratio(c.tp, c.predicted),
            ratio(c.tp, c.truth),
            ratio(c.exact, c.truth)
        );
    }
}

/// CPU time of this thread, in seconds (other processes on a shared machine do not count).
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}
