//! Secrets the way prompts carry them (issue 21): secret-named keys in every config syntax,
//! `Authorization` schemes, secrets inside URLs, every private-key block, encoded forms, the
//! identifiers that are not secrets (and the per-organization switch that makes them so),
//! structured personal data variants, and adversarial input.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tenantguard::redact::{EntityKind, Operation, Redactor, MAX_TEXT_LEN};

fn found(r: &Redactor, text: &str) -> Vec<(String, String)> {
    r.find(text)
        .unwrap()
        .into_iter()
        .map(|f| (f.kind.tag().to_owned(), text[f.range()].to_owned()))
        .collect()
}

fn has(r: &Redactor, text: &str, tag: &str, value: &str) {
    let f = found(r, text);
    assert!(
        f.iter().any(|(t, v)| t == tag && v == value),
        "{tag} {value:?} not found in {text:?}: {f:?}"
    );
}

fn none_of(r: &Redactor, text: &str, tag: &str) {
    let f = found(r, text);
    assert!(
        !f.iter().any(|(t, _)| t == tag),
        "unexpected {tag} in {text:?}: {f:?}"
    );
}

#[test]
fn secret_named_keys_in_every_syntax() {
    let r = Redactor::new();
    for (text, value) in [
        ("PGPASSWORD=s3cr3t-Pg\n", "s3cr3t-Pg"),
        ("export DB_PASSWORD='hunter2!x'", "hunter2!x"),
        (
            r#"{"password": "correct horse battery staple"}"#,
            "correct horse battery staple",
        ),
        ("smtp:\n  password: \"Winter2025!\"\n", "Winter2025!"),
        ("  client_secret: 9f8e7d6c5b4a\n", "9f8e7d6c5b4a"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "Server=db;User ID=app;Password=p@ss;w0rd;Encrypt=True",
            "p@ss",
        ),
        (
            "AccountName=acme;AccountKey=Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net",
            "Zm9vYmFyYmF6cXV4==",
        ),
        ("$config['api_key'] => 'k-991-abc-778'", "k-991-abc-778"),
        (
            "GET /v2/orders?limit=50&access_token=abc123XYZ789&page=2",
            "abc123XYZ789",
        ),
        (
            "https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&sig=Xy9%2Bab%2Fcd%3D",
            "Xy9%2Bab%2Fcd%3D",
        ),
        ("--password=Sup3r$ecret", "Sup3r$ecret"),
    ] {
        has(&r, text, "SECRET", value);
    }
}

#[test]
fn references_and_placeholders_are_not_values() {
    let r = Redactor::new();
    for text in [
        "password = os.environ[\"DB_PASSWORD\"]",
        "password: ${DB_PASSWORD}",
        "\"password\": null",
        "token = settings.API_TOKEN",
        "password: \"********\"",
        "max_tokens: 256, temperature: 0.2",
        "the password is required",
    ] {
        none_of(&r, text, "SECRET");
    }
}

#[test]
fn authorization_schemes() {
    let r = Redactor::new();
    has(
        &r,
        "Authorization: Bearer abcDEF123456.xyz_789",
        "SECRET",
        "abcDEF123456.xyz_789",
    );
    has(
        &r,
        "-H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='",
        "SECRET",
        "dXNlcjpwYXNzd29yZA==",
    );
    none_of(&r, "send a bearer token in the header", "SECRET");
}

#[test]
fn secrets_inside_urls() {
    let r = Redactor::new();
    has(
        &r,
        "webhook: https://hooks.slack.com/services/T0ABCDEFG/B0HIJKLMNOP/abcdefghijklmnopqrstuvwx, thanks",
        "API_KEY",
        "T0ABCDEFG/B0HIJKLMNOP/abcdefghijklmnopqrstuvwx",
    );
    has(
        &r,
        "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOpQrStUvWxYz0123456789",
        "API_KEY",
        "123456789012345678/AbCdEf-GhIjKl_MnOpQrStUvWxYz0123456789",
    );
    has(
        &r,
        "link: https://app.acme.io/auth/magic/Xk3jQ9vLm2PzR8tYw4NcB7hD?x=1",
        "SECRET",
        "Xk3jQ9vLm2PzR8tYw4NcB7hD",
    );
    has(
        &r,
        "redis://default:pa#ss9@redis.local:6379/0",
        "URL_CREDENTIALS",
        "default:pa#ss9",
    );
    has(
        &r,
        "https://9f2c4e1a7b3d5f6e8a0b1c2d3e4f5a6b@o12.ingest.sentry.io/42",
        "URL_CREDENTIALS",
        "9f2c4e1a7b3d5f6e8a0b1c2d3e4f5a6b",
    );
    has(&r, "GET http://192.0.2.44:8080/health", "IP", "192.0.2.44");
    has(
        &r,
        "see https://crm.acme.io/users/jane.doe@example.com/edit",
        "EMAIL",
        "jane.doe@example.com",
    );
    has(&r, "ssh root@198.51.100.7 -p 22", "IP", "198.51.100.7");
    none_of(
        &r,
        "docs at https://docs.acme.io/guides/getting-started/installation",
        "SECRET",
    );
}

#[test]
fn every_private_key_block() {
    let r = Redactor::new();
    for label in [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ] {
        let block =
            format!("-----BEGIN {label}-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END {label}-----");
        has(&r, &format!("key:\n{block}\nthanks"), "PRIVATE_KEY", &block);
    }
    let ssh2 = "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"k\"\nP2/56wAAAi4AAAA3\n---- END SSH2 ENCRYPTED PRIVATE KEY ----";
    has(&r, &format!("{ssh2}\n"), "PRIVATE_KEY", ssh2);
    let putty = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5\nPrivate-Lines: 1\nAAAAIBx3\nPrivate-MAC: 8d3f0c2a9b";
    has(&r, &format!("{putty}\nbye"), "PRIVATE_KEY", putty);
    // A PEM key base64-encoded in a Kubernetes Secret.
    let b64 = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlCT2dJQkFBSkJBS2ozNEdreEZoRDkKLS0tLS1FTkQgUlNBIFBSSVZBVEUgS0VZLS0tLS0K";
    has(
        &r,
        &format!("data:\n  tls.key: {b64}\n"),
        "PRIVATE_KEY",
        b64,
    );
    // A base64 public key is not a private key.
    let public = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUlJQklqQU5CZ2txaGtpRzl3MEJBUUVGQUFPQ0FROEFNSUlCQ2dLQ0FRRUF4";
    none_of(&r, &format!("tls.crt: {public}\n"), "PRIVATE_KEY");
}

#[test]
fn dotted_and_percent_encoded_tokens() {
    let r = Redactor::new();
    let sg = "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";
    has(&r, &format!("SENDGRID {sg} ok"), "API_KEY", sg);
    let ya = "ya29.a0AfH6SMBx7fE3kQ-Zx9_vW2yT8pLmN4oR5sU6vX7yZ8aB9cD0eF1gH2iJ3kL4mN5";
    has(&r, &format!("token {ya}."), "API_KEY", ya);
    let cookie = "s%3AbXlTZXNzaW9uSWQxMjM0NTY3ODkw.Kx9fQ2mZ%2BvR7tY1uI3oP5aS7dF9gH1jK3lZ5xC7vB9n";
    has(
        &r,
        &format!("Cookie: connect.sid={cookie}; Path=/"),
        "SECRET",
        cookie,
    );
}

#[test]
fn identifiers_are_not_secrets_unless_the_organization_says_so() {
    let commit = "commit 3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2";
    let digest = "pull ghcr.io/acme/api sha256:9b2f7c3e1a4d5b6c8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    let sri = "integrity sha512-Kq5sNclPz7QV2+lfQIuu5ZXhLxhQ/TnVe6fQpGcKpZHfWqGwTVTu7AyBXhAVEAoaTtQG2Gjw6TQmQqRh1zGqg==";
    let data = "<img src=\"data:image/png;base64,iVBORw0KGgon0G9W8uw8de9puyHB9d3xvE/pg3mKBxfeN4/YYsakj8DuzdoRy7q3sRjKMPMEiOennEgIQD43wE1xjf1+yrfKkpQ9jKK4K2gNC7w97Ay9/fkYkwFXGoq7yVD\">";
    let uuid = "request 123e4567-e89b-12d3-a456-426614174000 failed";
    // An image pinned by digest (`name@sha256:<hex>`, the form `docker pull` and Kubernetes
    // manifests use): the digest is an identifier in context like `sha256:<hex>` alone.
    let pinned = "image: ghcr.io/acme/api@sha256:9b2f7c3e1a4d5b6c8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
    let default = Redactor::new();
    for t in [commit, digest, sri, data, uuid, pinned] {
        none_of(&default, t, "SECRET");
    }
    // A hex string with no naming context stays a secret (many API keys are hex).
    has(
        &default,
        "use 3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2 for prod",
        "SECRET",
        "3f9a2b7c1d4e5f60718293a4b5c6d7e8f9a0b1c2",
    );
    let strict = Redactor::builder()
        .identifiers_as_secrets(true)
        .build()
        .unwrap();
    for t in [commit, digest, sri, data, uuid] {
        let f = found(&strict, t);
        assert!(f.iter().any(|(k, _)| k == "SECRET"), "{t}: {f:?}");
    }
    // With the switch on, the pinned digest is redacted whole, the image name is left.
    has(
        &strict,
        pinned,
        "SECRET",
        "9b2f7c3e1a4d5b6c8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
    );
    let out = strict.redact(pinned, &Operation::Tag).unwrap().text;
    assert_eq!(out, "image: ghcr.io/acme/api@sha256:[SECRET]");
}

#[test]
fn structured_personal_data_variants() {
    let r = Redactor::new();
    has(&r, "SSN 078 05 1120 on file", "SSN", "078 05 1120");
    has(
        &r,
        "call 1 (212) 935-0366 today",
        "PHONE",
        "1 (212) 935-0366",
    );
    has(&r, "Handy 0171/2345678", "PHONE", "0171/2345678");
    has(
        &r,
        "IBAN:DE89370400440532013000",
        "IBAN",
        "DE89370400440532013000",
    );
    has(
        &r,
        "iban de89 3704 0044 0532 0130 00 please",
        "IBAN",
        "de89 3704 0044 0532 0130 00",
    );
    has(&r, "mail zoë@example.fr", "EMAIL", "zoë@example.fr");
    has(
        &r,
        "to=jane%40example.com&x=1",
        "EMAIL",
        "jane%40example.com",
    );
    none_of(&r, "area 123 45 678 and 12 345 6789", "SSN");
    none_of(&r, "upgraded to version 10.0.19.1 (build: 2.4.1.7)", "IP");
    has(&r, "from host 10.0.19.1 today", "IP", "10.0.19.1");
}

#[test]
fn adversarial_input_is_handled_whole() {
    let r = Redactor::new();
    // One repeated unit up to the size limit for the cheapest units, 1 MiB for the others
    // (the fuzz target and the criterion adversarial group cover the rest).
    for (unit, len) in [
        ("A", MAX_TEXT_LEN),
        ("=", MAX_TEXT_LEN),
        ("\"", MAX_TEXT_LEN),
        ("a&", 1 << 20),
        ("password=", 1 << 20),
        ("-----BEGIN ", 1 << 20),
        ("https://x.io/", 1 << 20),
        ("LS0tLS1CRUdJTi=", 1 << 20),
        ("@", 1 << 20),
        ("%40", 1 << 20),
    ] {
        let text = unit.repeat(len / unit.len());
        let f = r.find(&text).unwrap();
        for x in &f {
            assert!(x.start < x.end && x.end <= text.len());
        }
    }
    // Deeply nested JSON with a secret at the bottom.
    let depth = 100_000;
    let text = format!(
        "{}\"password\": \"deep-Secret-1\"{}",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    has(&r, &text, "SECRET", "deep-Secret-1");
    // A URL of 1 MiB.
    let url = format!(
        "https://x.io/{}?token=abc123DEF456",
        "seg/".repeat(256 * 1024)
    );
    has(&r, &url, "SECRET", "abc123DEF456");
    assert!(r.find(&"a".repeat(MAX_TEXT_LEN + 1)).is_err());
    let _ = EntityKind::Secret;
}

#[test]
fn overlapping_findings_keep_every_byte_of_a_secret() {
    // Found by the `redact_secrets` fuzz target: with identifiers as secrets, an identifier
    // ending in `==` overlapped the start of the assignment's value, and the value's
    // finding was dropped whole, leaving its last byte in the clear.
    let text = "(sha512-xoxb-ghp_bojoi1cL7PGPASSWORD==eyJ1Ijoi1M5LS0tLS1CRUdJTipy5ng.";
    let plain = Redactor::new().find(text).unwrap();
    let ids = Redactor::builder()
        .identifiers_as_secrets(true)
        .build()
        .unwrap()
        .find(text)
        .unwrap();
    let covered =
        |v: &[tenantguard::redact::Finding], i: usize| v.iter().any(|f| f.start <= i && i < f.end);
    assert!(!plain.is_empty());
    for f in plain.iter() {
        for i in f.start..f.end {
            assert!(
                covered(&ids, i),
                "byte {i} lost with identifiers_as_secrets"
            );
        }
    }
    let mut last = 0;
    for f in ids.iter() {
        assert!(f.start >= last && f.start < f.end, "{ids:?}");
        last = f.end;
    }
}
