//! Provider credential formats: for each documented format (core/tests/data/
//! secret_formats.tsv, written by gen_secret_formats.py from the providers' documentation, not
//! from the recognizer table) the documented sample is found whole with its kind, and the near
//! miss (a body shorter than documented, or outside the alphabet) is not reported as that
//! provider's key.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tenantguard::redact::{EntityKind, Redactor};

const TSV: &str = include_str!("../data/secret_formats.tsv");

fn kind(tag: &str) -> EntityKind {
    EntityKind::from_tag(tag).expect("a built-in tag")
}

#[test]
fn documented_samples_are_found_whole() {
    let r = Redactor::new();
    let mut n = 0;
    for line in TSV.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (doc, sample, tag) = (cols[0], cols[1], cols[3]);
        for text in [
            format!("the key {sample} was rotated"),
            format!("API_TOKEN=\"{sample}\""),
            format!("{{\"credential\": \"{sample}\"}}"),
        ] {
            let at = text.find(sample).unwrap();
            let f = r.find(&text).unwrap();
            assert!(
                f.iter()
                    .any(|x| x.kind == kind(tag) && x.start == at && x.end == at + sample.len())
                    || (tag != "API_KEY" || text.starts_with("API_TOKEN") || text.starts_with('{'))
                        && f.iter().any(|x| x.kind.category()
                            == tenantguard::redact::Category::Secret
                            && x.start <= at
                            && x.end >= at + sample.len()),
                "{doc}: {sample:?} in {text:?} gave {f:?}"
            );
        }
        // In plain prose the provider's own kind must be the one found.
        let text = format!("see {sample} here");
        let f = r.find(&text).unwrap();
        assert!(
            f.iter()
                .any(|x| x.kind == kind(tag) && x.start == 4 && x.end == 4 + sample.len()),
            "{doc}: {sample:?} gave {f:?}"
        );
        n += 1;
    }
    assert!(n >= 150, "{n} formats");
}

#[test]
fn near_misses_are_not_that_provider() {
    let r = Redactor::new();
    for line in TSV.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (doc, near, tag) = (cols[0], cols[2], cols[3]);
        let text = format!("see {near} here");
        let f = r.find(&text).unwrap();
        let exact = f
            .iter()
            .any(|x| x.kind == kind(tag) && x.start == 4 && x.end == 4 + near.len());
        // A near miss still starting `sk-` (`sk-ant-api03_...`, `sk-663...`) is a valid key
        // of the broader documented `sk-` format (OpenAI user keys, DeepSeek...): rightly an
        // API key, just not this provider's.
        let broader = near.starts_with("sk-");
        assert!(!exact || broader, "{doc}: near miss {near:?} gave {f:?}");
    }
}
