//! A deterministic synthetic corpus of prompt-like documents with ground-truth entity spans,
//! for the redaction benchmark (tenantguard and Presidio read the same JSON file).
//!
//! Each document is about 2 KB: filler sentences (English with some German, French, CJK and
//! emoji so the text is not pure ASCII), sentences carrying one entity, and sentences carrying
//! look-alikes that must not be flagged (dates, times, versions, order numbers, UUIDs, paths,
//! amounts, 16-digit numbers failing Luhn, URLs without credentials, `sk-learn`...).
//! Hex digests (git commit ids) are deliberately absent: tenantguard treats long hex strings
//! as secrets at the strict level.

/// Entity types in the ground truth (tenantguard tags).
pub const TYPES: &[&str] = &[
    "EMAIL",
    "PHONE",
    "CARD",
    "IBAN",
    "SSN",
    "IP",
    "URL_CREDENTIALS",
    "JWT",
    "API_KEY",
    "PRIVATE_KEY",
    "AGENT_TOKEN",
    "SECRET",
];

/// One labelled span; offsets in bytes and in Unicode scalar values (Python `str` indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Tag, one of [`TYPES`].
    pub kind: &'static str,
    /// Byte offsets.
    pub start: usize,
    /// Byte offsets.
    pub end: usize,
    /// Character offsets.
    pub cstart: usize,
    /// Character offsets.
    pub cend: usize,
}

/// One document and its labels.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The text.
    pub text: String,
    /// The labels, in order.
    pub spans: Vec<Span>,
}

/// splitmix64: a small deterministic generator (benchmark data only, not for secrets).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// One element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn chars(&mut self, n: usize, set: &[u8]) -> String {
        (0..n)
            .map(|_| char::from(set[self.below(set.len())]))
            .collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const WORDS: &[&str] = &[
    "the",
    "customer",
    "asked",
    "about",
    "their",
    "invoice",
    "and",
    "we",
    "should",
    "reply",
    "with",
    "a",
    "summary",
    "of",
    "recent",
    "changes",
    "to",
    "billing",
    "please",
    "draft",
    "an",
    "answer",
    "that",
    "is",
    "polite",
    "short",
    "account",
    "migration",
    "team",
    "meeting",
    "notes",
    "project",
    "deadline",
    "review",
    "deployment",
    "server",
    "error",
    "logs",
    "quarterly",
    "report",
    "support",
    "ticket",
    "priority",
    "escalation",
    "refund",
    "policy",
    "contract",
    "renewal",
    "onboarding",
    "feedback",
    "survey",
    "analysis",
];
const INTL: &[&str] = &[
    "Grüße aus München",
    "merci beaucoup, à bientôt",
    "東京の会議は明日です",
    "¿Puedes revisar esto?",
    "Ça marche 👍",
    "Straße und Größe",
    "Привет, коллеги",
    "naïve café résumé",
    "🙂 thanks!",
    "señor Núñez",
];
const FIRST: &[&str] = &[
    "jane", "john", "maria", "li", "ahmed", "olga", "pierre", "sven", "aiko", "carlos", "fatima",
    "noah",
];
const LAST: &[&str] = &[
    "doe", "smith", "garcia", "wang", "khan", "ivanova", "dubois", "larsen", "tanaka", "silva",
    "meyer", "brown",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "acme.co.uk",
    "firma.de",
    "startup.io",
];

fn luhn_complete(payload: &str) -> String {
    let mut sum = 0u32;
    for (i, b) in payload.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    format!("{payload}{}", (10 - sum % 10) % 10)
}

fn mod97(s: &str) -> u32 {
    let r: String = s[4..].chars().chain(s[..4].chars()).collect();
    let mut m = 0u32;
    for c in r.chars() {
        if let Some(d) = c.to_digit(10) {
            m = (m * 10 + d) % 97;
        } else {
            m = (m * 100 + (c as u32 - 'A' as u32 + 10)) % 97;
        }
    }
    m
}

fn group4(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Generates one entity of `kind`: (text before, entity, text after).
fn entity(r: &mut Rng, kind: &str) -> String {
    match kind {
        "EMAIL" => {
            let sep = r.pick(&[".", "_", "", "-"]);
            format!(
                "{}{}{}{}@{}",
                r.pick(FIRST),
                sep,
                r.pick(LAST),
                if r.below(3) == 0 {
                    r.digits(2)
                } else {
                    String::new()
                },
                r.pick(DOMAINS)
            )
        }
        "PHONE" => {
            let area = format!("{}{}", 2 + r.below(8), r.digits(2));
            let ex = format!("{}{}", 2 + r.below(8), r.digits(2));
            let line = r.digits(4);
            match r.below(9) {
                0 => format!("+1 {area} {ex} {line}"),
                1 => format!("({area}) {ex}-{line}"),
                2 => format!("{area}-{ex}-{line}"),
                3 => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
                4 => format!("020 {} {}", r.digits(4), r.digits(4)),
                5 => format!(
                    "+33 {} {} {} {} {}",
                    1 + r.below(9),
                    r.digits(2),
                    r.digits(2),
                    r.digits(2),
                    r.digits(2)
                ),
                6 => format!("+49 30 {}", r.digits(8)),
                7 => format!("07{} {}", r.digits(3), r.digits(6)),
                _ => format!("{area}.{ex}.{line}"),
            }
        }
        "CARD" => {
            let (prefix, len) = *r.pick(&[
                ("4", 16),
                ("51", 16),
                ("55", 16),
                ("37", 15),
                ("6011", 16),
                ("2221", 16),
            ]);
            let payload = format!("{prefix}{}", r.digits(len - prefix.len() - 1));
            let n = luhn_complete(&payload);
            match (len, r.below(3)) {
                (15, 0) => format!("{} {} {}", &n[..4], &n[4..10], &n[10..]),
                (_, 0) => group4(&n),
                (16, 1) => group4(&n).replace(' ', "-"),
                _ => n,
            }
        }
        "IBAN" => {
            let (cc, bban) = match r.below(5) {
                0 => ("DE", r.digits(18)),
                1 => (
                    "GB",
                    format!(
                        "{}{}",
                        r.chars(4, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                        r.digits(14)
                    ),
                ),
                2 => ("FR", r.digits(23)),
                3 => (
                    "NL",
                    format!(
                        "{}{}",
                        r.chars(4, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                        r.digits(10)
                    ),
                ),
                _ => ("ES", r.digits(20)),
            };
            let base = format!("{cc}00{bban}");
            let check = 98 - mod97(&base);
            let iban = format!("{cc}{check:02}{bban}");
            if r.below(2) == 0 {
                group4(&iban)
            } else {
                iban
            }
        }
        "SSN" => format!(
            "{:03}-{:02}-{:04}",
            1 + r.below(665),
            1 + r.below(99),
            1 + r.below(9999)
        ),
        "IP" => {
            if r.below(3) == 0 {
                let groups: Vec<String> = (0..8).map(|_| format!("{:x}", r.below(65536))).collect();
                if r.below(2) == 0 {
                    groups.join(":")
                } else {
                    format!("2001:db8::{}:{}", groups[0], groups[1])
                }
            } else {
                format!(
                    "{}.{}.{}.{}",
                    1 + r.below(223),
                    r.below(256),
                    r.below(256),
                    1 + r.below(254)
                )
            }
        }
        "URL_CREDENTIALS" => {
            let n = 8 + r.below(8);
            format!("{}:{}", r.pick(FIRST), r.chars(n, ALNUM))
        }
        "JWT" => {
            let payload = format!("{{\"sub\":\"{}\",\"iat\":{}}}", r.digits(6), r.digits(10));
            let enc = |s: &str| {
                use base64_lite::encode;
                encode(s.as_bytes())
            };
            format!(
                "{}.{}.{}",
                enc("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"),
                enc(&payload),
                r.chars(43, B64URL)
            )
        }
        "API_KEY" => match r.below(6) {
            0 => format!("AKIA{}", r.chars(16, UPPER_DIGIT)),
            1 => format!("ghp_{}", r.chars(36, ALNUM)),
            2 => format!("sk_live_{}", r.chars(24, ALNUM)),
            3 => format!(
                "xoxb-{}-{}-{}",
                r.digits(12),
                r.digits(13),
                r.chars(24, ALNUM)
            ),
            4 => format!("sk-proj-{}", r.chars(48, B64URL)),
            _ => format!("github_pat_{}_{}", r.chars(22, ALNUM), r.chars(59, ALNUM)),
        },
        "PRIVATE_KEY" => {
            let lines: Vec<String> = (0..3 + r.below(4)).map(|_| r.chars(64, B64)).collect();
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                lines.join("\n")
            )
        }
        "AGENT_TOKEN" => format!("tg_{}", r.chars(32, ALNUM)),
        _ => {
            // SECRET
            let n = 32 + r.below(9);
            let s = r.chars(n, ALNUM);
            if s.bytes().any(|b| b.is_ascii_digit()) {
                s
            } else {
                format!("{s}7")
            }
        }
    }
}

/// Minimal base64url without padding (JWT segments).
mod base64_lite {
    pub fn encode(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for c in data.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=c.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}

/// (prefix, suffix) templates around an entity.
fn template(r: &mut Rng, kind: &str) -> (String, String) {
    let (p, s) = match kind {
        "EMAIL" => *r.pick(&[
            ("Please email ", " before Friday."),
            ("Contact: ", "\n"),
            ("cc <", ">,"),
            ("from: ", " (sales)"),
        ]),
        "PHONE" => *r.pick(&[
            ("Call me at ", " tomorrow."),
            ("Tel: ", "\n"),
            ("phone ", ", thanks."),
            ("mobile (", ")"),
        ]),
        "CARD" => *r.pick(&[
            ("My card is ", " exp 09/27."),
            ("card number: ", "\n"),
            ("charged to ", " twice"),
        ]),
        "IBAN" => *r.pick(&[
            ("Wire it to ", " please."),
            ("IBAN: ", "\n"),
            ("account ", " (main)"),
        ]),
        "SSN" => *r.pick(&[("SSN ", " on file."), ("social security number: ", "\n")]),
        "IP" => *r.pick(&[
            ("Requests from ", " failed."),
            ("host=", " port=443"),
            ("client ip ", ", blocked"),
        ]),
        "URL_CREDENTIALS" => *r.pick(&[
            ("DATABASE_URL=postgres://", "@db.internal:5432/app\n"),
            ("clone https://", "@git.example.com/repo.git now"),
        ]),
        "JWT" => *r.pick(&[("Authorization: Bearer ", "\n"), ("token \"", "\" expired")]),
        "API_KEY" => *r.pick(&[
            ("export KEY=", "\n"),
            ("the key ", " leaked"),
            ("api_key: \"", "\""),
        ]),
        "PRIVATE_KEY" => ("Here is the key:\n", "\nDo not share."),
        "AGENT_TOKEN" => *r.pick(&[("agent token ", " for the bot."), ("X-Agent-Token: ", "\n")]),
        _ => *r.pick(&[
            ("secret=", "\n"),
            ("client secret ", " rotated"),
            ("password: ", " (temp)"),
        ]),
    };
    (p.to_owned(), s.to_owned())
}

fn distractor(r: &mut Rng) -> String {
    match r.below(22) {
        0 => format!(
            "The release on {}-{:02}-{:02} went fine.",
            2020 + r.below(6),
            1 + r.below(12),
            1 + r.below(28)
        ),
        1 => format!(
            "Meeting at {:02}:{:02}:{:02} in room {}.",
            r.below(24),
            r.below(60),
            r.below(60),
            r.below(500)
        ),
        2 => format!(
            "Upgrade to v{}.{}.{} before {}.{:02}.{}.",
            r.below(10),
            r.below(30),
            r.below(100),
            1 + r.below(28),
            1 + r.below(12),
            2020 + r.below(6)
        ),
        3 => format!("Order #{} shipped, tracking {}.", r.digits(7), r.digits(16)),
        4 => format!(
            "Request id {:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}.",
            r.next_u64() as u32,
            r.below(65536),
            r.below(4096),
            r.below(4096),
            r.next_u64() & 0xffff_ffff_ffff
        ),
        5 => format!(
            "See /home/{}/projects/app{}/src/main.rs line {}.",
            r.pick(FIRST),
            r.below(10),
            r.below(900)
        ),
        6 => format!(
            "Total: ${},{:03}.{:02} due {}/{}/{}.",
            1 + r.below(99),
            r.below(1000),
            r.below(100),
            1 + r.below(12),
            1 + r.below(28),
            2020 + r.below(6)
        ),
        7 => format!(
            "Docs at https://docs.example.com/v{}/guide?page={}#intro.",
            r.below(5),
            r.below(50)
        ),
        8 => "We use sk-learn and a task-force for the re-write.".to_owned(),
        9 => format!(
            "Call getUserAccountSettings{}Handler in the controller.",
            r.below(10)
        ),
        10 => format!(
            "ISBN 978-{}-{}-{}-{}",
            r.digits(1),
            r.digits(3),
            r.digits(5),
            r.digits(1)
        ),
        11 => format!(
            "Build number {} passed {} of {} tests.",
            r.digits(10),
            r.digits(3),
            r.digits(3)
        ),
        12 => format!(
            "Reach the team at {} at example dot com or @{}.",
            r.pick(FIRST),
            r.pick(LAST)
        ),
        13 => format!(
            "Version {}.{}.{}.{}.{} is old.",
            r.below(9),
            r.below(9),
            r.below(9),
            r.below(9),
            r.below(9)
        ),
        14 => format!(
            "Room {}-{}, zip {}, ext. {}.",
            r.digits(3),
            r.digits(2),
            r.digits(5),
            r.digits(4)
        ),
        15 => format!(
            "Use std::collections::HashMap and {}::new().",
            r.pick(&["Vec", "String", "Arc"])
        ),
        16 => format!(
            "Coordinates {}.{} , {}.{}",
            r.below(90),
            r.digits(6),
            r.below(180),
            r.digits(6)
        ),
        17 => format!(
            "Invoice INV-{}-{} for {} units.",
            2020 + r.below(6),
            r.digits(6),
            r.digits(3)
        ),
        18 => "ThisIsJustAVeryLongCamelCaseName and internationalization matter.".to_owned(),
        19 => format!(
            "Card ending in {} was declined; ref {}.",
            r.digits(4),
            r.digits(12)
        ),
        20 => format!(
            "Feature flag enable_new_checkout_flow_v{} is on.",
            r.below(9)
        ),
        _ => format!(
            "Score {}/{} and ratio {}:{}.",
            r.below(100),
            100,
            r.below(10),
            r.below(10)
        ),
    }
}

fn filler(r: &mut Rng) -> String {
    let n = 6 + r.below(12);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(r.pick::<&str>(WORDS));
    }
    if r.below(4) == 0 {
        s.push_str(", ");
        s.push_str(r.pick::<&str>(INTL));
    }
    s.push_str(". ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Generates `docs` documents of about `doc_len` bytes each from `seed`.
pub fn generate(seed: u64, docs: usize, doc_len: usize) -> Vec<Doc> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(docs);
    for _ in 0..docs {
        let mut text = String::with_capacity(doc_len + 256);
        let mut spans = Vec::new();
        while text.len() < doc_len {
            match r.below(10) {
                0..=4 => text.push_str(&filler(&mut r)),
                5..=7 => {
                    let kind = *r.pick(TYPES);
                    let kind = if kind == "PRIVATE_KEY" && r.below(4) != 0 {
                        "EMAIL"
                    } else {
                        kind
                    };
                    let (p, s) = template(&mut r, kind);
                    let e = entity(&mut r, kind);
                    text.push_str(&p);
                    let start = text.len();
                    let cstart = text.chars().count();
                    text.push_str(&e);
                    spans.push(Span {
                        kind,
                        start,
                        end: text.len(),
                        cstart,
                        cend: cstart + e.chars().count(),
                    });
                    text.push_str(&s);
                    text.push(' ');
                }
                _ => {
                    text.push_str(&distractor(&mut r));
                    text.push(' ');
                }
            }
        }
        out.push(Doc { text, spans });
    }
    out
}

/// Per-type counts for precision and recall: a prediction is a true positive if it overlaps
/// an unmatched ground-truth span of the same type.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Ground-truth spans.
    pub truth: usize,
    /// Predictions.
    pub predicted: usize,
    /// Predictions overlapping a truth span of the same type.
    pub tp: usize,
    /// Predictions exactly equal to a truth span.
    pub exact: usize,
}

/// Scores predictions `(kind, start, end)` against `truth` (same offset unit).
pub fn score(
    truth: &[(&str, usize, usize)],
    pred: &[(String, usize, usize)],
    counts: &mut std::collections::BTreeMap<String, Counts>,
) {
    let mut used = vec![false; truth.len()];
    for (k, _, _) in truth {
        counts.entry((*k).to_owned()).or_default().truth += 1;
    }
    for (k, s, e) in pred {
        let c = counts.entry(k.clone()).or_default();
        c.predicted += 1;
        if let Some(i) = truth
            .iter()
            .enumerate()
            .position(|(i, (tk, ts, te))| !used[i] && tk == k && s < te && ts < e)
        {
            used[i] = true;
            c.tp += 1;
            if truth[i].1 == *s && truth[i].2 == *e {
                c.exact += 1;
            }
        }
    }
}
