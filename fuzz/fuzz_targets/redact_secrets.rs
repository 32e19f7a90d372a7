//! The secret recognizers (issue 21) on arbitrary text built from fragments that reach them:
//! secret-named keys with every separator and quote, URLs with user info and webhook paths,
//! PEM/PGP/SSH2/PuTTY block markers, base64 PEM, provider prefixes, `Bearer`, `%40`, `&`,
//! non-ASCII letters. Never panics; findings are sorted, non-overlapping, on character
//! boundaries; the identifiers switch only ever adds findings' coverage, never loses a secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::redact::{Category, Redactor};

const FRAGMENTS: &[&str] = &[
    "password", "PGPASSWORD", "\"password\"", "api_key", "token", "secret", "=", ":", ": ", " = ",
    "=>", ":=", "\"", "'", "`", "[", "]", "&", "?", "#", "/", "@", ";", ",", " ", "\n", "\t",
    "https://", "redis://u:p#w@", "hooks.slack.com/services/", "discord.com/api/webhooks/",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----", "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----",
    "---- END SSH2", "PuTTY-User-Key-File-3: ", "Private-MAC: ", "LS0tLS1CRUdJTi",
    "ghp_", "sk-ant-api03-", "sk-", "AKIA", "SG.", "ya29.", "s%3A", "ATATT3", "xoxb-", "glpat-",
    "Bearer ", "Basic ", "%40", "example.com", "198.51.100.7", "commit ", "sha256:", "base64,",
    "iVBORw0KGgo", "sha512-", "version ", "0171/", "1 (212) ", "de89 ", "ë", "ü", "€", "😀",
    "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY", "0123456789abcdef0123456789abcdef01234567", "==",
];

fuzz_target!(|data: &[u8]| {
    // Each byte picks a fragment or, above the table, is itself the next character.
    let mut text = String::new();
    for &b in data {
        match FRAGMENTS.get(b as usize) {
            Some(f) => text.push_str(f),
            None => text.push(char::from(b & 0x7f)),
        }
    }
    let plain = Redactor::new();
    let ids = Redactor::builder().identifiers_as_secrets(true).build().expect("config");
    let a = plain.find(&text).expect("within the size limit");
    let b = ids.find(&text).expect("within the size limit");
    for found in [&a, &b] {
        let mut last = 0;
        for f in found.iter() {
            assert!(f.start >= last && f.start < f.end && f.end <= text.len());
            assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            last = f.end;
        }
    }
    // Every byte the default redactor hides as a secret stays hidden with the switch on.
    let covered = |v: &[tenantguard::redact::Finding], i: usize| v.iter().any(|f| f.start <= i && i < f.end);
    for f in a.iter().filter(|f| f.kind.category() == Category::Secret) {
        for i in f.start..f.end {
            assert!(covered(&b, i), "byte {i} of a secret lost with identifiers_as_secrets");
        }
    }
});
