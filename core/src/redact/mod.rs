//! PII and secret redaction: recognizers, one-pass [`Redactor`], operators and reversible
//! pseudonymization.
//!
//! ```
//! use tenantguard::redact::{Operation, PseudonymSession, Redactor};
//! use tenantguard::TenantId;
//!
//! let redactor = Redactor::new();
//! let session = PseudonymSession::new(&TenantId::new("acme").unwrap(), std::time::Duration::from_secs(600)).unwrap();
//! let out = redactor.redact("Mail jane@example.com or call +1 415 555 2671", &Operation::Pseudonymize(&session)).unwrap();
//! assert_eq!(out.text, "Mail <EMAIL_1> or call <PHONE_1>");
//! let answer = session.restore("I wrote to <EMAIL_1>.").unwrap();
//! assert_eq!(answer, "I wrote to jane@example.com.");
//! ```
//!
//! # How the scan works
//!
//! The text is read once, left to right. A byte table splits it into words (runs of
//! printable ASCII other than quotes, brackets, `,;=|` and the backtick; whitespace and every
//! non-ASCII byte end a word, so offsets always fall on UTF-8 character boundaries). While a
//! word is read its character classes are OR-ed into a flag set, and the flags decide which
//! validators look at the word: plain words of letters only are skipped at once, a word with
//! `@` goes to the e-mail and URL checks, digits to the numeric checks (cards, phones, SSNs,
//! IPv4; these may join the next few numeric words, as in `4111 1111 1111 1111`), and so on.
//! No recognizer rescans the text. Organization terms are looked up at word starts; host
//! [`Recognizer`]s see each word. Organization regexes (if any) are compiled into one
//! combined regex: the only extra pass, and only when an organization defines them.
//!
//! Overlapping findings are resolved deterministically: the earliest start wins, then the
//! longest, then the kind's fixed priority.

mod fake;
mod operator;
mod pii;
mod pseudonym;
mod redactor;
mod scan;
mod secrets;
mod validate;

pub use operator::{HashKey, Operation, Operator, Redacted};
pub use pii::{gazetteer_size, in_gazetteer};
pub use pseudonym::{
    OwnedStreamRestorer, PseudonymSession, StreamRestorer, DEFAULT_SESSION_TTL, MAX_RESTORED_LEN,
    MAX_SESSION_ENTRIES, MAX_SESSION_TTL,
};
pub(crate) use redactor::apply;
pub use redactor::{
    OrgPattern, Redactor, RedactorBuilder, DEFAULT_AGENT_PREFIX, MAX_NAME_LEN, MAX_ORG_NAMES,
    MAX_ORG_PATTERNS, MAX_ORG_TERMS, MAX_TERM_LEN,
};
pub use validate::{iban_valid, luhn_valid};

use std::ops::Range;
use std::sync::Arc;

use thiserror::Error;

use crate::error::ErrorKind;

/// Largest text the redactor and restore accept, in bytes: 4 MiB. A larger text is refused
/// with [`RedactError::TooLarge`] (nothing is cut silently); split it yourself. Every other
/// limit of the recognizers is listed in `docs/REDACTION.md`.
pub const MAX_TEXT_LEN: usize = 4 * 1024 * 1024;

/// Errors from redaction and restore.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RedactError {
    /// The text is larger than [`MAX_TEXT_LEN`].
    #[error("text is {len} bytes, over the redaction limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A configuration value (term, pattern, prefix, tag, TTL) is invalid.
    #[error("invalid redaction configuration: {0}")]
    InvalidConfig(String),
    /// The pseudonym session has expired; its mapping was wiped.
    #[error(
        "the pseudonym session has expired: its mapping was erased and values cannot be restored"
    )]
    SessionExpired,
    /// The pseudonym session already holds [`MAX_SESSION_ENTRIES`] values.
    #[error("the pseudonym session is full ({0} values)")]
    SessionFull(usize),
    /// Sealing or opening a mapped value failed.
    #[error("sealing a pseudonymized value failed: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl RedactError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RedactError::TooLarge { .. } => ErrorKind::TooLarge,
            RedactError::InvalidConfig(_) => ErrorKind::InvalidInput,
            RedactError::SessionExpired => ErrorKind::NotFound,
            RedactError::SessionFull(_) => ErrorKind::TooLarge,
            RedactError::Crypto(e) => e.kind(),
        }
    }
}

/// What a finding is about; decides at which redaction level it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Personal data (e-mail, phone, card, IBAN, national id, IP address, name, address,
    /// date of birth, card security code).
    Pii,
    /// Credentials and secrets (API keys, tokens, private keys, passwords in URLs).
    Secret,
    /// The organization's own confidential terms and patterns.
    Organization,
}

impl Category {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Pii => "pii",
            Category::Secret => "secret",
            Category::Organization => "organization",
        }
    }
}

/// The kind of a recognized value.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// An e-mail address.
    Email,
    /// A phone number (international `+CC` or a common national format).
    Phone,
    /// A payment card number passing the Luhn check.
    CreditCard,
    /// An IBAN passing the mod-97 check with its country's length.
    Iban,
    /// A US social security number (`AAA-GG-SSSS`, valid ranges only).
    UsSsn,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// The `user:password` part of a URL.
    UrlCredentials,
    /// A JSON Web Token.
    Jwt,
    /// An API key recognized by a well-known prefix (AWS, GitHub, Slack, Stripe, OpenAI-style, Google).
    ApiKey,
    /// A PEM private key block.
    PrivateKey,
    /// One of this project's agent tokens (configurable prefix, default `tg_`).
    AgentToken,
    /// A high-entropy string that looks like a secret.
    Secret,
    /// An organization-defined term.
    OrgTerm,
    /// A person's name (gazetteer plus casing and context cues; see `docs/PERSONAL_DATA.md`).
    PersonName,
    /// A postal address: street, house number, optional postcode and city.
    Address,
    /// A date of birth: a date near a cue such as "born" or "Geburtsdatum".
    DateOfBirth,
    /// A national id passing its checksum or format: DE tax id, FR INSEE, ES DNI/NIE,
    /// IT codice fiscale, UK NINO, SI EMŠO.
    NationalId,
    /// A card security code (CVC/CVV) near a cue.
    CardCvc,
    /// A value found by an organization pattern or a host [`Recognizer`]; holds its tag.
    Custom(Arc<str>, Category),
}

/// Every built-in kind, in priority order (earlier wins a tie).
pub const BUILTIN_KINDS: [EntityKind; 18] = [
    EntityKind::PrivateKey,
    EntityKind::Jwt,
    EntityKind::UrlCredentials,
    EntityKind::ApiKey,
    EntityKind::AgentToken,
    EntityKind::Email,
    EntityKind::Iban,
    EntityKind::CreditCard,
    EntityKind::UsSsn,
    EntityKind::Phone,
    EntityKind::IpAddress,
    EntityKind::Secret,
    EntityKind::OrgTerm,
    EntityKind::NationalId,
    EntityKind::DateOfBirth,
    EntityKind::CardCvc,
    EntityKind::Address,
    EntityKind::PersonName,
];

impl EntityKind {
    /// The tag used in placeholders and summaries, e.g. `EMAIL`.
    pub fn tag(&self) -> &str {
        match self {
            EntityKind::Email => "EMAIL",
            EntityKind::Phone => "PHONE",
            EntityKind::CreditCard => "CARD",
            EntityKind::Iban => "IBAN",
            EntityKind::UsSsn => "SSN",
            EntityKind::IpAddress => "IP",
            EntityKind::UrlCredentials => "URL_CREDENTIALS",
            EntityKind::Jwt => "JWT",
            EntityKind::ApiKey => "API_KEY",
            EntityKind::PrivateKey => "PRIVATE_KEY",
            EntityKind::AgentToken => "AGENT_TOKEN",
            EntityKind::Secret => "SECRET",
            EntityKind::OrgTerm => "TERM",
            EntityKind::NationalId => "NATIONAL_ID",
            EntityKind::DateOfBirth => "DOB",
            EntityKind::CardCvc => "CVC",
            EntityKind::Address => "ADDRESS",
            EntityKind::PersonName => "NAME",
            EntityKind::Custom(tag, _) => tag,
        }
    }

    /// The category deciding at which level the kind is redacted.
    pub fn category(&self) -> Category {
        match self {
            EntityKind::Email
            | EntityKind::Phone
            | EntityKind::CreditCard
            | EntityKind::Iban
            | EntityKind::UsSsn
            | EntityKind::IpAddress
            | EntityKind::NationalId
            | EntityKind::DateOfBirth
            | EntityKind::CardCvc
            | EntityKind::Address
            | EntityKind::PersonName => Category::Pii,
            EntityKind::UrlCredentials
            | EntityKind::Jwt
            | EntityKind::ApiKey
            | EntityKind::PrivateKey
            | EntityKind::AgentToken
            | EntityKind::Secret => Category::Secret,
            EntityKind::OrgTerm => Category::Organization,
            EntityKind::Custom(_, c) => *c,
        }
    }

    /// Parses a built-in kind from its tag (`EMAIL`, `CARD`...).
    pub fn from_tag(tag: &str) -> Option<EntityKind> {
        BUILTIN_KINDS.iter().find(|k| k.tag() == tag).cloned()
    }

    /// The index in [`BUILTIN_KINDS`] (custom kinds come last).
    pub(crate) fn priority(&self) -> usize {
        match self {
            EntityKind::PrivateKey => 0,
            EntityKind::Jwt => 1,
            EntityKind::UrlCredentials => 2,
            EntityKind::ApiKey => 3,
            EntityKind::AgentToken => 4,
            EntityKind::Email => 5,
            EntityKind::Iban => 6,
            EntityKind::CreditCard => 7,
            EntityKind::UsSsn => 8,
            EntityKind::Phone => 9,
            EntityKind::IpAddress => 10,
            EntityKind::Secret => 11,
            EntityKind::OrgTerm => 12,
            EntityKind::NationalId => 13,
            EntityKind::DateOfBirth => 14,
            EntityKind::CardCvc => 15,
            EntityKind::Address => 16,
            EntityKind::PersonName => 17,
            EntityKind::Custom(..) => BUILTIN_KINDS.len(),
        }
    }

    pub(crate) fn bit(&self) -> u32 {
        match self.priority() {
            p if p < BUILTIN_KINDS.len() => 1 << p,
            _ => 0,
        }
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

/// One recognized value: its kind and its byte range in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// What it is.
    pub kind: EntityKind,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past its last byte.
    pub end: usize,
}

impl Finding {
    /// The byte range.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// A host-defined recognizer, run on every word of the single scan.
///
/// A word is a maximal run of printable ASCII other than whitespace, quotes, brackets,
/// `,;=|` and the backtick (see the module docs). Push the byte ranges (into `text`) of
/// what you recognize; ranges outside the text or not on character boundaries are ignored.
pub trait Recognizer: Send + Sync {
    /// The tag of what it finds: 1 to 32 characters from `A-Z 0-9 _`, starting with a letter.
    fn tag(&self) -> &str;
    /// The category of what it finds (decides the redaction level that removes it).
    fn category(&self) -> Category {
        Category::Pii
    }
    /// Looks at one word `text[word]`, pushing the ranges of any values found.
    fn recognize(&self, text: &str, word: Range<usize>, out: &mut Vec<Range<usize>>);
}

/// Checks a tag: 1 to 32 characters from `A-Z 0-9 _`, starting with a letter.
pub(crate) fn check_tag(tag: &str) -> Result<(), RedactError> {
    let ok = !tag.is_empty()
        && tag.len() <= 32
        && tag.as_bytes()[0].is_ascii_uppercase()
        && tag
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RedactError::InvalidConfig(
            "a tag is 1 to 32 characters from A-Z 0-9 _ starting with a letter".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_builtin_order() {
        for (i, k) in BUILTIN_KINDS.iter().enumerate() {
            assert_eq!(k.priority(), i);
            assert_eq!(EntityKind::from_tag(k.tag()).as_ref(), Some(k));
        }
    }
}
