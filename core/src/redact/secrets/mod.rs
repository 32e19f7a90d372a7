//! Secret recognizers used by the one-pass scan: provider credential formats
//! ([`providers::FORMATS`]), values of secret-named keys (`PGPASSWORD=...`, `"password": "..."`,
//! `client_secret: ...`, `Password=...;`, `?access_token=...&`), `Authorization` schemes
//! (`Bearer`, `Basic`), secrets in URLs (webhook paths, user info), base64-encoded PEM, and
//! the identifiers that look random but are not secrets (commit ids and digests in context,
//! base64 images, data URIs).
//!
//! Everything here works on bytes around one word the scan already found; nothing rescans
//! the text, and every loop is bounded by a constant or by the word.

pub(crate) mod providers;

use base64::Engine as _;

use providers::FORMATS;

/// What a provider format finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    ApiKey,
    Secret,
    PrivateKey,
}

/// Longest value taken after a secret-named key, in bytes.
pub(crate) const MAX_KEYED_VALUE: usize = 512;
/// Longest key name looked at before `=` or `:`, in bytes.
const MAX_KEY: usize = 64;

/// Bit `c` is set if some provider prefix starts with byte `c` (all prefixes are ASCII).
static FIRST: [u64; 2] = first_bytes();

const fn first_bytes() -> [u64; 2] {
    let mut m = [0u64; 2];
    let mut i = 0;
    while i < FORMATS.len() {
        let c = FORMATS[i].prefix[0] as usize;
        m[c >> 6] |= 1 << (c & 63);
        i += 1;
    }
    m
}

#[inline]
pub(crate) fn may_start(c: u8) -> bool {
    c < 128 && FIRST[(c >> 6) as usize] & (1 << (c & 63)) != 0
}

/// Format indices by the first byte of their prefix, in table order.
static BY_FIRST: std::sync::OnceLock<Vec<Vec<u16>>> = std::sync::OnceLock::new();

fn index() -> Vec<Vec<u16>> {
    let mut v = vec![Vec::new(); 128];
    for (i, f) in FORMATS.iter().enumerate() {
        v[f.prefix[0] as usize].push(i as u16);
    }
    v
}

/// The provider credential at the start of `w`: its length and kind.
pub(crate) fn provider(w: &[u8]) -> Option<(usize, Kind)> {
    if w.len() < 12 || !may_start(w[0]) {
        return mailchimp(w);
    }
    let by_first = BY_FIRST.get_or_init(index);
    for &i in &by_first[w[0] as usize] {
        let f = &FORMATS[i as usize];
        let p = f.prefix;
        if w.len() < p.len() + f.min as usize || w[1] != p[1] || !w.starts_with(p) {
            continue;
        }
        let body = w[p.len()..]
            .iter()
            .take(f.max as usize + 1)
            .take_while(|&&c| (f.body)(c))
            .count();
        let end = p.len() + body;
        let boundary = end == w.len() || !(w[end].is_ascii_alphanumeric() || w[end] == b'_');
        if body >= f.min as usize && body <= f.max as usize && boundary {
            if f.kind == Kind::PrivateKey && p.starts_with(b"LS0t") && !b64_pem_private(&w[..end]) {
                continue;
            }
            return Some((end, f.kind));
        }
    }
    mailchimp(w)
}

/// Mailchimp Marketing API docs, "API keys": 32 hex, `-us`, the data-center number.
fn mailchimp(w: &[u8]) -> Option<(usize, Kind)> {
    if !(36..=37).contains(&w.len())
        || &w[32..35] != b"-us"
        || !w[..32]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        || !w[35..].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    Some((w.len(), Kind::ApiKey))
}

/// True if the base64 text decodes to a PEM private-key header.
fn b64_pem_private(w: &[u8]) -> bool {
    let n = w.len().min(96) / 4 * 4;
    let Ok(head) = base64::engine::general_purpose::STANDARD.decode(&w[..n]) else {
        return false;
    };
    head.starts_with(b"-----BEGIN ") && memchr::memmem::find(&head, b"PRIVATE KEY").is_some()
}

/// Telegram Bot API docs, "Authorizing your bot": `<bot id>:<35 characters starting AA>`.
pub(crate) fn telegram(w: &[u8]) -> bool {
    let Some(c) = memchr::memchr(b':', w) else {
        return false;
    };
    (5..=16).contains(&c)
        && w[..c].iter().all(u8::is_ascii_digit)
        && w.len() == c + 36
        && w[c + 1..c + 3] == *b"AA"
        && w[c + 1..].iter().all(|&b| providers::b64url(b))
}

/// Key names whose value is a secret, compared after lower-casing and dropping `_ - .`
/// (so `DB_PASSWORD`, `db-password`, `dbPassword` and `PGPASSWORD` all end in `password`).
const SECRET_KEY_SUFFIXES: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"passphrase",
    b"pwd",
    b"pass",
    b"secret",
    b"token",
    b"apikey",
    b"accesskey",
    b"secretkey",
    b"privatekey",
    b"accountkey",
    b"masterkey",
    b"encryptionkey",
    b"signingkey",
    b"authkey",
    b"appkey",
    b"clientkey",
    b"subscriptionkey",
    b"credential",
    b"auth",
    b"sig",
    b"signature",
    b"sessionid",
    b"connectsid",
];

/// Bit `c` set if some secret key name ends with byte `c` (lower case): a one-load filter
/// before the name is compared.
static KEY_LAST: u128 = key_last();

const fn key_last() -> u128 {
    let mut m = 0u128;
    let mut i = 0;
    while i < SECRET_KEY_SUFFIXES.len() {
        let s = SECRET_KEY_SUFFIXES[i];
        let c = s[s.len() - 1];
        m |= 1 << c;
        m |= 1 << c.to_ascii_uppercase();
        i += 1;
    }
    m
}

/// True if a key ending with byte `c` may name a secret.
#[inline]
pub(crate) fn may_end_key(c: u8) -> bool {
    c < 128 && KEY_LAST & (1 << c) != 0
}

/// True if `key` (the identifier just before `=` or `:`) names a secret.
pub(crate) fn secret_key(key: &[u8]) -> bool {
    let mut buf = [0u8; MAX_KEY];
    let mut n = 0;
    for &c in key.iter().rev() {
        if matches!(c, b'_' | b'-' | b'.') {
            continue;
        }
        if n == MAX_KEY {
            break;
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
    }
    // buf holds the key reversed.
    let rev = &buf[..n];
    SECRET_KEY_SUFFIXES
        .iter()
        .any(|s| s.len() <= rev.len() && s.iter().rev().zip(rev).all(|(a, b)| a == b))
}

fn ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// The identifier ending at `e` (exclusive) and starting at or after `s`.
pub(crate) fn key_before(b: &[u8], s: usize, e: usize) -> usize {
    let mut k = e;
    while k > s && e - k < MAX_KEY && ident(b[k - 1]) {
        k -= 1;
    }
    k
}

/// Placeholders and references that stand for a secret without being one.
fn not_a_value(v: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"null",
        b"none",
        b"nil",
        b"true",
        b"false",
        b"undefined",
        b"empty",
        b"required",
        b"optional",
        b"string",
        b"redacted",
        b"hidden",
        b"secret",
        b"password",
        b"token",
        b"yes",
        b"no",
        b"on",
        b"off",
    ];
    if v.len() < 3 {
        return true;
    }
    if matches!(v[0], b'$' | b'<' | b'{' | b'%' | b'[' | b'(') {
        return true;
    }
    if v.iter().all(|&c| c == v[0]) {
        return true;
    }
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(v))
}

/// After a secret-named key ending at `p` (the byte after the key), the value's range:
/// `key=value`, `key = "value"`, `"key": "value"`, `key: value`, `key => 'value'`, `key := v`.
pub(crate) fn keyed_value(b: &[u8], mut p: usize) -> Option<(usize, usize)> {
    let n = b.len();
    // A closing quote of a quoted key, and of an index (`$config['api_key'] => ...`);
    // escaped (`\"`) in JSON inside a JSON string.
    if p + 1 < n && b[p] == b'\\' && b[p + 1] == b'"' {
        p += 2;
    } else if p < n && matches!(b[p], b'"' | b'\'') {
        p += 1;
    }
    if p < n && b[p] == b']' {
        p += 1;
    }
    let mut sp = 0;
    while p < n && matches!(b[p], b' ' | b'\t') && sp < 4 {
        p += 1;
        sp += 1;
    }
    if p >= n {
        return None;
    }
    match b[p] {
        b'=' => {
            p += 1;
            if p < n && b[p] == b'>' {
                p += 1;
            }
        }
        b':' => {
            p += 1;
            if p < n && b[p] == b'=' {
                p += 1;
            }
        }
        _ => return None,
    }
    let mut sp = 0;
    while p < n && matches!(b[p], b' ' | b'\t') && sp < 8 {
        p += 1;
        sp += 1;
    }
    if p >= n {
        return None;
    }
    let (vs, ve) = if b[p] == b'\\' && b.get(p + 1) == Some(&b'"') {
        // `\"value\"`: a string escaped inside another string; it ends at the next `\"`.
        let vs = p + 2;
        let lim = n.min(vs + MAX_KEYED_VALUE);
        let q = vs + b[vs..lim].iter().position(|&c| c == b'"' || c == b'\n')?;
        if b[q] != b'"' || q == vs || b[q - 1] != b'\\' {
            return None;
        }
        (vs, q - 1)
    } else if matches!(b[p], b'"' | b'\'' | b'`') {
        let q = b[p];
        let vs = p + 1;
        let lim = n.min(vs + MAX_KEYED_VALUE);
        let ve = vs + b[vs..lim].iter().position(|&c| c == q || c == b'\n')?;
        if b[ve] != q {
            return None;
        }
        (vs, ve)
    } else {
        let vs = p;
        let lim = n.min(vs + MAX_KEYED_VALUE);
        let mut ve = vs;
        while ve < lim {
            let c = b[ve];
            if c <= b' '
                || matches!(
                    c,
                    b'"' | b'\''
                        | b','
                        | b';'
                        | b'('
                        | b'['
                        | b')'
                        | b'}'
                        | b']'
                        | b'<'
                        | b'>'
                        | b'`'
                )
            {
                break;
            }
            // `&` ends a query value when another `name=` follows.
            if c == b'&' && next_is_param(b, ve + 1) {
                break;
            }
            ve += 1;
        }
        // Code, not a literal: `password = os.environ["X"]`, `token: getToken()`.
        if ve < n && matches!(b[ve], b'(' | b'[') {
            return None;
        }
        let v = &b[vs..ve];
        if v.contains(&b'.')
            && v.iter()
                .all(|&c| c.is_ascii_alphabetic() || c == b'_' || c == b'.')
        {
            return None;
        }
        (vs, ve)
    };
    if not_a_value(&b[vs..ve]) {
        return None;
    }
    Some((vs, ve))
}

fn next_is_param(b: &[u8], mut p: usize) -> bool {
    let s = p;
    while p < b.len()
        && p - s < MAX_KEY
        && (b[p].is_ascii_alphanumeric() || matches!(b[p], b'_' | b'-' | b'.' | b'[' | b']'))
    {
        p += 1;
    }
    p > s && p < b.len() && b[p] == b'='
}

/// After an `Authorization` scheme word (`Bearer`, `Basic`, `Token`, `Bot`) at `[s, e)`
/// followed by one space: the credential's range.
pub(crate) fn auth_scheme(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let w = &b[s..e];
    if !(w.eq_ignore_ascii_case(b"bearer") || w.eq_ignore_ascii_case(b"basic")) {
        return None;
    }
    let vs = e + 1;
    if b.get(e) != Some(&b' ') {
        return None;
    }
    let lim = b.len().min(vs + 4096);
    let mut ve = vs;
    while ve < lim
        && (b[ve].is_ascii_alphanumeric()
            || matches!(b[ve], b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'='))
    {
        ve += 1;
    }
    let v = &b[vs..ve];
    // A credential has digits or mixed case; "Bearer token" or "basic auth" in prose do not.
    let digits = v.iter().any(u8::is_ascii_digit);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let lower = v.iter().any(u8::is_ascii_lowercase);
    if v.len() >= 8 && (digits || (upper && lower)) && !v.starts_with(b"<") {
        Some((vs, ve))
    } else {
        None
    }
}

/// Webhook URLs whose path is the credential: (host suffix, path prefix).
const WEBHOOKS: &[(&[u8], &[u8])] = &[
    // Slack API docs, "Sending messages using incoming webhooks"; workflow triggers.
    (b"hooks.slack.com", b"/services/"),
    (b"hooks.slack.com", b"/workflows/"),
    (b"hooks.slack.com", b"/triggers/"),
    // Discord developer docs, "Webhook resource": /api/webhooks/<id>/<token>.
    (b"discord.com", b"/api/webhooks/"),
    (b"discordapp.com", b"/api/webhooks/"),
    // Microsoft Learn, "Create incoming webhooks" (Teams, Office 365 connectors).
    (b"webhook.office.com", b"/webhookb2/"),
    (b"outlook.office.com", b"/webhook/"),
    // Zapier help, "Webhooks by Zapier" catch hooks.
    (b"hooks.zapier.com", b"/hooks/catch/"),
    // Mattermost docs, "Incoming webhooks" on Mattermost Cloud.
    (b"cloud.mattermost.com", b"/hooks/"),
];

/// If `host` and `path` (from `/`) are a known webhook, the offset in `path` where its
/// secret part starts.
pub(crate) fn webhook(host: &[u8], path: &[u8]) -> Option<usize> {
    WEBHOOKS.iter().find_map(|(h, p)| {
        let host_ok = host.len() >= h.len()
            && host[host.len() - h.len()..].eq_ignore_ascii_case(h)
            && (host.len() == h.len() || host[host.len() - h.len() - 1] == b'.');
        (host_ok && path.len() > p.len() + 8 && path.starts_with(p)).then_some(p.len())
    })
}

/// Words just before a hex string that make it an identifier (a commit, a digest).
const HASH_CONTEXT: &[&[u8]] = &[
    b"commit",
    b"sha",
    b"rev",
    b"hash",
    b"digest",
    b"md5",
    b"checksum",
    b"etag",
    b"integrity",
    b"git",
    b"tree",
    b"blob",
    b"parent",
    b"cherry-pick",
    b"revert",
    b"merge",
    b"rebase",
    b"build",
    b"fingerprint",
    b"head",
    b"object",
    b"tag",
];

/// True if the random-looking word `b[s..e]` is an identifier by its context: a hex string
/// after a commit/digest word or in a `/commit/` path, a base64 image (`data:...;base64,`,
/// or the PNG/JPEG/GIF signature), a subresource-integrity digest (`sha512-...`).
pub(crate) fn identifier_in_context(b: &[u8], s: usize, e: usize) -> bool {
    let w = &b[s..e];
    if w.starts_with(b"iVBORw0KGgo") || w.starts_with(b"/9j/") || w.starts_with(b"R0lGOD") {
        return true;
    }
    for p in [&b"sha1-"[..], b"sha256-", b"sha384-", b"sha512-"] {
        if w.starts_with(p) {
            return true;
        }
    }
    let from = s.saturating_sub(40);
    let before = &b[from..s];
    if before.ends_with(b";base64,") || before.ends_with(b"base64,") {
        return true;
    }
    let hex = w.iter().all(u8::is_ascii_hexdigit);
    if !hex {
        return false;
    }
    let mut low = [0u8; 40];
    let low = &mut low[..before.len()];
    for (d, c) in low.iter_mut().zip(before) {
        *d = c.to_ascii_lowercase();
    }
    HASH_CONTEXT.iter().any(|c| find_short(low, c).is_some())
}

/// First position of a short `pat` in a short `w` (a `memmem` searcher is built per call,
/// which costs more than the search itself on a few dozen bytes).
pub(crate) fn find_short(w: &[u8], pat: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = memchr::memchr(pat[0], &w[from..]) {
        let i = from + p;
        if w[i..].starts_with(pat) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// True if the dotted quad starting at `s` follows a word naming a version (`version 10.0.19.1`,
/// `build: 1.2.3.4`, `Firefox/`... has no space and never reaches here).
pub(crate) fn version_context(b: &[u8], s: usize) -> bool {
    const WORDS: &[&[u8]] = &[b"version", b"release", b"build", b"ver", b"v"];
    let mut e = s;
    while e > 0 && s - e < 3 && matches!(b[e - 1], b' ' | b':' | b'=' | b'\t') {
        e -= 1;
    }
    if e == s {
        return false;
    }
    let from = e.saturating_sub(8);
    let mut low = [0u8; 8];
    let low = &mut low[..e - from];
    for (d, c) in low.iter_mut().zip(&b[from..e]) {
        *d = c.to_ascii_lowercase();
    }
    WORDS.iter().any(|w| {
        low.ends_with(w)
            && (low.len() == w.len() || !low[low.len() - w.len() - 1].is_ascii_alphabetic())
    })
}

/// True for a 8-4-4-4-12 hex UUID.
pub(crate) fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// End of a PuTTY private key file starting at `s` (`PuTTY-User-Key-File-N:` ... through the
/// `Private-MAC:` line), if it is one.
pub(crate) fn putty_end(b: &[u8], s: usize) -> Option<usize> {
    if !b[s..].starts_with(b"PuTTY-User-Key-File-") {
        return None;
    }
    let lim = b.len().min(s + 64 * 1024);
    let m = s + memchr::memmem::find(&b[s..lim], b"Private-MAC:")?;
    let end = memchr::memchr(b'\n', &b[m..lim]).map_or(lim, |p| m + p);
    let mut end = end;
    while end > m && matches!(b[end - 1], b'\r' | b' ') {
        end -= 1;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for k in [
            "PGPASSWORD",
            "DB_PASSWORD",
            "password",
            "dbPassword",
            "client_secret",
            "api-key",
            "aws_secret_access_key",
            "AccountKey",
            "access_token",
            "X-Amz-Security-Token",
            "sig",
        ] {
            assert!(secret_key(k.as_bytes()), "{k}");
        }
        for k in [
            "max_tokens",
            "username",
            "key",
            "password_min_length",
            "keyId",
            "host",
            "don",
        ] {
            assert!(!secret_key(k.as_bytes()), "{k}");
        }
    }

    #[test]
    fn values() {
        fn v(s: &str) -> Option<&str> {
            keyed_value(s.as_bytes(), 0).map(|(a, b)| &s[a..b])
        }
        assert_eq!(v("=hunter22 next"), Some("hunter22"));
        assert_eq!(
            v("\": \"correct horse battery staple\","),
            Some("correct horse battery staple")
        );
        assert_eq!(v(": \"S3cure#Pass\""), Some("S3cure#Pass"));
        assert_eq!(v("=abc123;Encrypt=True"), Some("abc123"));
        assert_eq!(v("=tok3n&page=2"), Some("tok3n"));
        assert_eq!(v("=a&b=c&d=e"), None);
        assert_eq!(v(" = os.environ[\"X\"]"), None);
        assert_eq!(v(" = settings.SECRET_KEY"), None);
        assert_eq!(v(": ${DB_PASSWORD}"), None);
        assert_eq!(v(": null"), None);
        assert_eq!(v(": \"********\""), None);
        assert_eq!(v(" is nice"), None);
    }

    #[test]
    fn schemes() {
        let t = b"Authorization: Bearer abcDEF123456.xyz rest";
        let (s, e) = auth_scheme(t, 15, 21).unwrap();
        assert_eq!(&t[s..e], b"abcDEF123456.xyz");
        let t = b"use a bearer token here";
        assert_eq!(auth_scheme(t, 6, 12), None);
    }
}
