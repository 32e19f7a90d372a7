//! The configured, reusable [`Redactor`].

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::operator::{mask, tag};
use super::pseudonym::existing_placeholders;
use super::scan::{scan, Patterns, ScanConfig, TermIndex};
use super::{
    check_tag, Category, EntityKind, Finding, Operation, Recognizer, RedactError, Redacted,
    BUILTIN_KINDS, MAX_TEXT_LEN,
};

/// The agent-token prefix recognized by default.
pub const DEFAULT_AGENT_PREFIX: &str = "tg_";
/// Most organization terms per redactor.
pub const MAX_ORG_TERMS: usize = 10_000;
/// Longest organization term, in bytes.
pub const MAX_TERM_LEN: usize = 256;
/// Most organization regexes per redactor.
pub const MAX_ORG_PATTERNS: usize = 64;
/// Longest organization regex source, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Most organization names and most exempt words per redactor (each list).
pub const MAX_ORG_NAMES: usize = 10_000;
/// Longest organization name or exempt word, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Compiled-size limit of all organization regexes together: 2 MiB.
const PATTERN_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// An organization-defined regex and the tag of what it finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPattern {
    /// The tag, e.g. `PROJECT_CODE` (1 to 32 characters from `A-Z 0-9 _`).
    pub tag: String,
    /// The regex (Rust `regex` syntax; at most 1 KiB).
    pub regex: String,
}

/// Configures a [`Redactor`].
#[must_use]
pub struct RedactorBuilder {
    kinds: u32,
    agent_prefix: String,
    terms: Vec<String>,
    patterns: Vec<OrgPattern>,
    host: Vec<Arc<dyn Recognizer>>,
    ids_as_secrets: bool,
    names: Vec<String>,
    exempt: Vec<String>,
}

impl std::fmt::Debug for RedactorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactorBuilder")
            .field("kinds", &self.kinds)
            .field("terms", &self.terms.len())
            .field("patterns", &self.patterns.len())
            .finish_non_exhaustive()
    }
}

impl RedactorBuilder {
    /// Recognizes only the given built-in kinds (host recognizers and org patterns still run).
    pub fn only(mut self, kinds: &[EntityKind]) -> Self {
        self.kinds = kinds.iter().fold(0, |a, k| a | k.bit());
        self
    }

    /// Recognizes only the built-in kinds of the given categories.
    pub fn categories(mut self, cats: &[Category]) -> Self {
        self.kinds = BUILTIN_KINDS
            .iter()
            .filter(|k| cats.contains(&k.category()))
            .fold(0, |a, k| a | k.bit());
        self
    }

    /// Turns one built-in kind off.
    pub fn disable(mut self, kind: &EntityKind) -> Self {
        self.kinds &= !kind.bit();
        self
    }

    /// The agent-token prefix (default `tg_`): 2 to 16 characters from `A-Za-z0-9_-`.
    pub fn agent_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.agent_prefix = prefix.into();
        self
    }

    /// Adds organization terms (matched case-insensitively, at word starts, whole words).
    pub fn terms<I, S>(mut self, terms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.terms.extend(terms.into_iter().map(Into::into));
        self
    }

    /// Adds the organization's own person names (employees, customers): each word of each
    /// name is then known as a given name and a surname, like the built-in gazetteer.
    pub fn names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.names.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds exempt words: never taken as part of a person name (product names such as
    /// `Hope`, brands such as `Grant`), matched case-insensitively, word by word.
    pub fn exempt<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exempt.extend(words.into_iter().map(Into::into));
        self
    }

    /// Adds an organization regex.
    pub fn pattern(mut self, pattern: OrgPattern) -> Self {
        self.patterns.push(pattern);
        self
    }

    /// Whether identifiers that look random are redacted as secrets (default `false`): git
    /// commit ids and digests next to a word that names them (`commit`, `sha256:`, `md5`,
    /// `etag`...), subresource-integrity digests (`sha512-...`), base64 images (data URIs,
    /// PNG/JPEG/GIF signatures) and UUIDs. Off, they stay in the text; an organization that
    /// treats its identifiers as confidential turns this on.
    pub fn identifiers_as_secrets(mut self, on: bool) -> Self {
        self.ids_as_secrets = on;
        self
    }

    /// Adds a host recognizer.
    pub fn recognizer(mut self, r: Arc<dyn Recognizer>) -> Self {
        self.host.push(r);
        self
    }

    /// Validates the configuration and builds the redactor.
    pub fn build(self) -> Result<Redactor, RedactError> {
        let p = self.agent_prefix.as_bytes();
        if !p.is_empty()
            && (p.len() < 2
                || p.len() > 16
                || !p
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-'))
        {
            return Err(RedactError::InvalidConfig(
                "the agent-token prefix is 2 to 16 characters from A-Z a-z 0-9 _ -".into(),
            ));
        }
        if self.terms.len() > MAX_ORG_TERMS {
            return Err(RedactError::InvalidConfig(format!(
                "at most {MAX_ORG_TERMS} organization terms"
            )));
        }
        for t in &self.terms {
            let b = t.as_bytes();
            if b.is_empty()
                || b.len() > MAX_TERM_LEN
                || !b[0].is_ascii_alphanumeric()
                || t.trim_end() != t
            {
                return Err(RedactError::InvalidConfig(format!(
                    "an organization term is 1 to {MAX_TERM_LEN} bytes, starts with an ASCII letter or digit and has no trailing space"
                )));
            }
        }
        for (what, list) in [("name", &self.names), ("exempt word", &self.exempt)] {
            if list.len() > MAX_ORG_NAMES {
                return Err(RedactError::InvalidConfig(format!(
                    "at most {MAX_ORG_NAMES} organization {what}s"
                )));
            }
            if list.iter().any(|n| {
                n.trim().is_empty() || n.len() > MAX_NAME_LEN || n.chars().any(char::is_control)
            }) {
                return Err(RedactError::InvalidConfig(format!(
                    "an organization {what} is 1 to {MAX_NAME_LEN} bytes of text without control characters"
                )));
            }
        }
        if self.patterns.len() > MAX_ORG_PATTERNS {
            return Err(RedactError::InvalidConfig(format!(
                "at most {MAX_ORG_PATTERNS} organization patterns"
            )));
        }
        let patterns = if self.patterns.is_empty() {
            None
        } else {
            let mut src = String::new();
            let mut groups = Vec::new();
            let mut next_group = 1;
            for (i, p) in self.patterns.iter().enumerate() {
                check_tag(&p.tag)?;
                if p.regex.is_empty() || p.regex.len() > MAX_PATTERN_LEN {
                    return Err(RedactError::InvalidConfig(format!(
                        "a pattern is 1 to {MAX_PATTERN_LEN} bytes"
                    )));
                }
                let alone = regex::RegexBuilder::new(&p.regex)
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .build()
                    .map_err(|e| RedactError::InvalidConfig(format!("pattern {:?}: {e}", p.tag)))?;
                if i > 0 {
                    src.push('|');
                }
                src.push('(');
                src.push_str(&p.regex);
                src.push(')');
                groups.push((
                    next_group,
                    EntityKind::Custom(Arc::from(p.tag.as_str()), Category::Organization),
                ));
                next_group += alone.captures_len();
            }
            let regex = regex::RegexBuilder::new(&src)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| RedactError::InvalidConfig(format!("organization patterns: {e}")))?;
            Some(Patterns { regex, groups })
        };
        let mut host = Vec::with_capacity(self.host.len());
        for r in self.host {
            check_tag(r.tag())?;
            let kind = EntityKind::Custom(Arc::from(r.tag()), r.category());
            host.push((r, kind));
        }
        Ok(Redactor {
            cfg: Arc::new(ScanConfig {
                kinds: self.kinds,
                agent_prefix: self.agent_prefix.into_bytes(),
                terms: TermIndex::new(&self.terms),
                patterns,
                host,
                ids_as_secrets: self.ids_as_secrets,
                pii: super::pii::PiiConfig {
                    lexicon: super::pii::Lexicon::new(&self.names, &self.exempt),
                },
            }),
        })
    }
}

/// Finds PII and secrets in one pass and replaces them with an [`Operation`].
/// Cheap to clone; build once per configuration and share.
#[derive(Clone)]
pub struct Redactor {
    cfg: Arc<ScanConfig>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("kinds", &self.cfg.kinds)
            .finish_non_exhaustive()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl Redactor {
    /// A builder with every built-in recognizer on and the default agent-token prefix.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder {
            kinds: BUILTIN_KINDS.iter().fold(0, |a, k| a | k.bit()),
            agent_prefix: DEFAULT_AGENT_PREFIX.to_owned(),
            terms: Vec::new(),
            patterns: Vec::new(),
            host: Vec::new(),
            ids_as_secrets: false,
            names: Vec::new(),
            exempt: Vec::new(),
        }
    }

    /// Every built-in recognizer on.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// Finds every value in `text` (at most [`MAX_TEXT_LEN`] bytes): sorted by position,
    /// non-overlapping, byte ranges on character boundaries.
    pub fn find(&self, text: &str) -> Result<Vec<Finding>, RedactError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(RedactError::TooLarge {
                len: text.len(),
                max: MAX_TEXT_LEN,
            });
        }
        let mut out = Vec::new();
        scan(&self.cfg, text, &mut out);
        Ok(out)
    }

    /// Finds and replaces every value in `text`.
    pub fn redact(&self, text: &str, op: &Operation<'_>) -> Result<Redacted, RedactError> {
        let findings = self.find(text)?;
        let text = apply(text, &findings, op)?;
        Ok(Redacted { text, findings })
    }
}

/// Replaces `findings` (sorted, non-overlapping) in `text`.
pub(crate) fn apply(
    text: &str,
    findings: &[Finding],
    op: &Operation<'_>,
) -> Result<String, RedactError> {
    let mut out = String::with_capacity(text.len() + findings.len() * 8);
    let avoid = match op {
        Operation::Fake(_) | Operation::Pseudonymize(_) if !findings.is_empty() => {
            existing_placeholders(text)
        }
        _ => HashSet::new(),
    };
    let mut last = 0;
    for f in findings {
        out.push_str(&text[last..f.start]);
        let v = &text[f.start..f.end];
        match op {
            Operation::Mask => mask(&f.kind, v, &mut out),
            Operation::Tag => tag(&f.kind, &mut out),
            Operation::Hash(k) => out.push_str(&k.tag(&f.kind, v)),
            Operation::Fake(s) => out.push_str(&s.token_for(&f.kind, v, true, &avoid)?),
            Operation::Pseudonymize(s) => out.push_str(&s.token_for(&f.kind, v, false, &avoid)?),
        }
        last = f.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}
