//! The committed secrets evaluation set (`benches/eval/secrets/prompts.jsonl`, built by
//! `benches/eval/secrets/make.py`): realistic prompts with labelled spans.

/// One labelled prompt.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Kind of prompt (log, config, ticket, chat, code).
    pub kind: String,
    /// The text.
    pub text: String,
    /// (type, byte start, byte end).
    pub spans: Vec<(String, usize, usize)>,
}

/// Tags of the secret category (a miss of one of these is a credential leak).
pub const SECRET_TYPES: &[&str] = &[
    "URL_CREDENTIALS",
    "JWT",
    "API_KEY",
    "PRIVATE_KEY",
    "AGENT_TOKEN",
    "SECRET",
];

/// Path of the committed set.
pub fn default_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/secrets/prompts.jsonl")
}

/// Loads a JSONL set.
pub fn load(path: &std::path::Path) -> Vec<Prompt> {
    let data = std::fs::read_to_string(path).expect("read the evaluation set");
    data.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            Prompt {
                kind: v["kind"].as_str().unwrap_or("").to_owned(),
                text: v["text"].as_str().expect("text").to_owned(),
                spans: v["spans"]
                    .as_array()
                    .expect("spans")
                    .iter()
                    .map(|s| {
                        (
                            s["type"].as_str().expect("type").to_owned(),
                            s["start"].as_u64().expect("start") as usize,
                            s["end"].as_u64().expect("end") as usize,
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Secret spans of `p` not fully covered by findings of any secret type: the leaks.
pub fn leaks<'a>(
    p: &'a Prompt,
    pred: &[(String, usize, usize)],
) -> Vec<&'a (String, usize, usize)> {
    p.spans
        .iter()
        .filter(|(t, _, _)| SECRET_TYPES.contains(&t.as_str()))
        .filter(|(_, s, e)| {
            // Every byte of the secret must be inside some secret-category finding.
            let mut covered = *s;
            let mut preds: Vec<_> = pred
                .iter()
                .filter(|(k, ps, pe)| SECRET_TYPES.contains(&k.as_str()) && ps < e && s < pe)
                .collect();
            preds.sort_by_key(|(_, ps, _)| *ps);
            for (_, ps, pe) in preds {
                if *ps <= covered {
                    covered = covered.max(*pe);
                }
            }
            covered < *e
        })
        .collect()
}
