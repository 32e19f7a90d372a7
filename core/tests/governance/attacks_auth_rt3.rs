//! Red team, third round (rt3-auth): sign-in, sessions, agent tokens and the login rate
//! limit against an attacker holding a leaked secret or guessing passwords. Each test fails
//! if its attack works. (The second instance that missed the news:
//! `attacks_second_instance`.)
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::gov_support;
use crate::tg_cap;

use gov_support::*;
use tenantguard::tenant::{Role, UserId};
use tenantguard::tokens::TokenSpec;
use tenantguard::{Error, Guard};

fn u(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

fn reason(e: &Error) -> String {
    e.reason()
        .map(|r| r.as_str().to_owned())
        .unwrap_or_else(|| format!("{:?}", e.kind()))
}

/// A guard on a MemoryStore with the default limits, tenant `acme`, `ada` an admin.
async fn memory_guard() -> Guard {
    let g = Guard::builder()
        .key_provider(tenantguard::LocalKeyProvider::ephemeral())
        .store(tenantguard::MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let acme = service("acme");
    g.keys().create_tenant(&acme).await.unwrap();
    g.members()
        .set(&acme, &u("ada"), Role::Admin)
        .await
        .unwrap();
    g
}

/// Every spelling of `name` with its letters' case varied, `name` itself first.
fn case_variants(name: &str) -> Vec<String> {
    let letters = name.bytes().filter(u8::is_ascii_alphabetic).count();
    (0..1u32 << letters)
        .map(|mask| {
            let mut i = 0;
            name.chars()
                .map(|c| {
                    if !c.is_ascii_alphabetic() {
                        return c;
                    }
                    i += 1;
                    if mask & (1 << (i - 1)) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect()
}

/// A host that finds accounts case-insensitively hands `Alice`, `ALICE`, `aLiCe` to
/// `verify_password` as they were typed: each spelling must not open fresh buckets (the
/// default login limit: 10 per user from one host key, a failure costing 3, a lock-out
/// after 5 failures).
#[test]
fn login_guesses_in_every_case_of_the_name_meet_one_limit() {
    rt().block_on(async {
        let g = memory_guard().await;
        let hasher = tenantguard::auth::PasswordHasher::default();
        let phc = hasher.hash("correct horse battery staple").unwrap();
        let mut hashed = 0;
        let mut limited = 0;
        // 12 spellings × 3 guesses: under each spelling's own limits, over the user's.
        for (i, name) in case_variants("alice").iter().take(12).enumerate() {
            for tenant in ["acme", "ACME", "Acme"] {
                let r = g
                    .sessions()
                    .verify_password(
                        &hasher,
                        &tenantguard::TenantId::new(tenant).unwrap(),
                        &u(name),
                        &format!("guess-{i}"),
                        &phc,
                        Some("203.0.113.7"),
                    )
                    .await;
                match r {
                    Err(Error::Auth(tenantguard::auth::AuthError::WrongPassword)) => hashed += 1,
                    Err(e) if e.kind() == tenantguard::ErrorKind::RateLimited => limited += 1,
                    other => panic!("{name}@{tenant}: {other:?}"),
                }
            }
        }
        assert!(
            hashed <= 10,
            "{hashed} guesses hashed by varying the case of the name (one user's limit is 10)"
        );
        assert_eq!(hashed + limited, 36);
    });
}

/// Swapped case, whitespace, encodings, truncation, extension, a NUL or a look-alike: a
/// leaked agent token, access token or refresh token in any other spelling is refused with
/// a typed error, and never as the original.
#[test]
fn leaked_secrets_replayed_in_other_spellings_are_refused() {
    rt().block_on(async {
        let g = memory_guard().await;
        let acme = service("acme");
        let token = g
            .tokens()
            .create(&acme, TokenSpec::read_only(u("bot"), "leaked"))
            .await
            .unwrap();
        let s = g
            .sessions()
            .create(&user("acme", "ada", Role::Admin), "laptop")
            .await
            .unwrap();
        fn variants(t: &str) -> Vec<String> {
            let swap: String = t
                .chars()
                .map(|c| {
                    if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            let n = t.len();
            let last = t.as_bytes()[n - 1] as char;
            // The same last character's neighbour: a base64url string whose unused low
            // bits differ decodes to the same bytes only in a lenient decoder.
            let nudged = format!("{}{}", &t[..n - 1], if last == 'A' { 'B' } else { 'A' });
            vec![
                swap,
                t.to_ascii_uppercase(),
                format!(" {t}"),
                format!("{t} "),
                format!("{t}\n"),
                format!("\t{t}"),
                format!("Bearer {t}"),
                format!("{t}\0"),
                t.replacen('_', "%5F", 1),
                t.replacen('.', "%2E", 1),
                t[..n - 1].to_owned(),
                t[..n / 2].to_owned(),
                format!("{t}A"),
                format!("{t}{t}"),
                format!("tg_{t}"),
                format!("{t}="),
                t.replacen('1', "\u{ff11}", 1),
                format!("{}\u{200b}{}", &t[..4], &t[4..]),
                nudged,
                String::new(),
            ]
        }
        let agent = token.secret.expose();
        let access = s.access_token.expose();
        let refresh = s.refresh_token.expose();
        for v in variants(agent) {
            if v == agent {
                continue;
            }
            let e = g.tokens().authenticate(&v).await.unwrap_err();
            assert!(
                matches!(
                    reason(&e).as_str(),
                    "malformed" | "bad_checksum" | "unknown"
                ),
                "agent token variant {v:?}: {e:?}"
            );
        }
        for v in variants(access) {
            if v == access {
                continue;
            }
            let e = g.sessions().verify_access_token(&v).await.unwrap_err();
            assert!(
                matches!(reason(&e).as_str(), "malformed" | "bad_signature"),
                "access token variant {v:?}: {e:?}"
            );
        }
        for v in variants(refresh) {
            if v == refresh {
                continue;
            }
            let e = g.sessions().refresh(&v).await.unwrap_err();
            assert!(
                matches!(reason(&e).as_str(), "malformed" | "unknown"),
                "refresh token variant {v:?}: {e:?}"
            );
        }
        // None of that cost the real holders anything.
        g.tokens().authenticate(agent).await.unwrap();
        g.sessions().verify_access_token(access).await.unwrap();
        g.sessions().refresh(refresh).await.unwrap();
    });
}

/// Passwords with a NUL inside are hashed whole (no C-string truncation: the prefix before
/// the NUL is another password); empty, over-long and huge ones are typed errors before
/// any hashing, through the rate-limited entry point too.
#[test]
fn passwords_with_a_nul_or_out_of_range_are_typed_and_never_truncated() {
    use tenantguard::auth::{AuthError, PasswordHasher, MAX_PASSWORD_LEN};
    rt().block_on(async {
        let g = memory_guard().await;
        let hasher = PasswordHasher::default();
        let phc = hasher.hash("open\0sesame").unwrap();
        let acme = tenantguard::TenantId::new("acme").unwrap();
        let check = |pw: String| {
            let (g, hasher, phc, acme) = (&g, &hasher, &phc, &acme);
            async move {
                g.sessions()
                    .verify_password(hasher, acme, &u("ada"), &pw, phc, Some("198.51.100.1"))
                    .await
            }
        };
        for wrong in ["open", "open\0", "open\0sesame\0", "open sesame"] {
            assert_eq!(
                hasher.verify(wrong, &phc).unwrap_err(),
                AuthError::WrongPassword,
                "{wrong:?}"
            );
        }
        check("open\0sesame".into()).await.unwrap();
        for bad in [
            String::new(),
            "x".repeat(MAX_PASSWORD_LEN + 1),
            "\0".repeat(MAX_PASSWORD_LEN + 1),
            "é".repeat(MAX_PASSWORD_LEN / 2 + 1),
            "x".repeat(16 << 20),
        ] {
            let e = check(bad).await.unwrap_err();
            assert!(
                matches!(e, Error::Auth(AuthError::InvalidInput(_))),
                "{e:?}"
            );
            assert!(e.to_string().contains("1 to 1024 bytes"), "{e}");
        }
        // Exactly at the limit (in bytes, multibyte or NUL) is a password like any other.
        let at_limit = "\0".repeat(MAX_PASSWORD_LEN);
        let phc = hasher.hash(&at_limit).unwrap();
        hasher.verify(&at_limit, &phc).unwrap();
    });
}

/// A writer of the SQLite file (a stolen copy writable in place, a restored backup) tries
/// to borrow rights through the public API rather than the store: a read-only token's
/// secret pointed at an admin token's row (hashes swapped), a token moved to another
/// tenant, an expired token made endless, a session handed to another user or tenant, a
/// refresh token re-pointed at an admin's session. Every one is refused as `integrity`
/// (the row MACs) and never verifies; the token cache is off so each call reads the file.
#[test]
fn a_database_writer_cannot_borrow_rights_by_swapping_rows() {
    use tenantguard::tokens::{Action, Scope, TokenConfig};
    use tenantguard::ErrorKind;
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store: std::sync::Arc<dyn tenantguard::Store> =
            std::sync::Arc::new(tenantguard::SqliteStore::open(&path).unwrap());
        let clock = TestClock::at(T0);
        let cfg = tenantguard::GovernanceConfig {
            tokens: TokenConfig {
                cache_ttl: std::time::Duration::ZERO,
                ..Default::default()
            },
            ..Default::default()
        };
        let g = guard_with(store.clone(), &clock, cfg);
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        g.keys().create_tenant(&service("beta")).await.unwrap();
        for (t, who, role) in [
            ("acme", "ada", Role::Owner),
            ("acme", "mallory", Role::Viewer),
            ("beta", "mallory", Role::Viewer),
        ] {
            g.members().set(&service(t), &u(who), role).await.unwrap();
        }
        let mine = g
            .tokens()
            .create(&acme, TokenSpec::read_only(u("bot"), "mine"))
            .await
            .unwrap();
        let admin = g
            .tokens()
            .create(
                &acme,
                TokenSpec::read_only(u("boss"), "admin")
                    .scopes(vec![Scope::new("*", Action::Admin)]),
            )
            .await
            .unwrap();
        let short = g
            .tokens()
            .create(
                &acme,
                TokenSpec::read_only(u("bot"), "short").expires_in(60),
            )
            .await
            .unwrap();
        let mal = g
            .sessions()
            .create(&user("acme", "mallory", Role::Viewer), "laptop")
            .await
            .unwrap();
        let ada = g
            .sessions()
            .create(&user("acme", "ada", Role::Owner), "laptop")
            .await
            .unwrap();
        clock.advance(120); // `short` has expired.
        let raw = rusqlite::Connection::open(&path).unwrap();
        let sql = |q: &str| raw.execute_batch(q).unwrap();
        let hash_of = |id: &str| -> Vec<u8> {
            raw.query_row("SELECT hash FROM tg_tokens WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let set_hash = |id: &str, h: &[u8]| {
            raw.execute(
                "UPDATE tg_tokens SET hash = ?1 WHERE id = ?2",
                rusqlite::params![h, id],
            )
            .unwrap();
        };
        let integrity = |what: &str, r: tenantguard::Result<()>| match r {
            Err(e) => assert_eq!(e.kind(), ErrorKind::Integrity, "{what}: {e:?}"),
            Ok(()) => panic!("{what}: the edited row was accepted"),
        };
        let auth = |t: &str| {
            let t = t.to_owned();
            let g = &g;
            async move { g.tokens().authenticate(&t).await.map(|_| ()) }
        };
        let refresh = |t: &str| {
            let t = t.to_owned();
            let g = &g;
            async move { g.sessions().refresh(&t).await.map(|_| ()) }
        };
        let (m, a, sh) = (mine.id.as_str(), admin.id.as_str(), short.id.as_str());
        let (ms, ads) = (mal.session_id.as_str(), ada.session_id.as_str());

        // My read-only secret made to find the admin token's row.
        let (hm, ha) = (hash_of(m), hash_of(a));
        set_hash(m, &[0; 32]);
        set_hash(a, &hm);
        integrity("hashes swapped", auth(mine.secret.expose()).await);
        set_hash(a, &ha);
        set_hash(m, &hm);
        // My token moved to another tenant.
        sql(&format!(
            "UPDATE tg_tokens SET tenant_id = 'beta' WHERE id = '{m}'"
        ));
        integrity("token moved to beta", auth(mine.secret.expose()).await);
        sql(&format!(
            "UPDATE tg_tokens SET tenant_id = 'acme' WHERE id = '{m}'"
        ));
        // An expired token made endless, or pushed back.
        sql(&format!(
            "UPDATE tg_tokens SET expires_at = NULL WHERE id = '{sh}'"
        ));
        integrity("expiry removed", auth(short.secret.expose()).await);
        sql(&format!(
            "UPDATE tg_tokens SET expires_at = {} WHERE id = '{sh}'",
            T0 + 86_400
        ));
        integrity("expiry extended", auth(short.secret.expose()).await);
        // My session handed to the owner, or moved with its refresh token to beta.
        sql(&format!(
            "UPDATE tg_sessions SET user_id = 'ada' WHERE id = '{ms}'"
        ));
        integrity(
            "session handed to ada",
            refresh(mal.refresh_token.expose()).await,
        );
        sql(&format!(
            "UPDATE tg_sessions SET user_id = 'mallory' WHERE id = '{ms}'"
        ));
        sql(&format!(
            "PRAGMA foreign_keys = OFF;
             UPDATE tg_sessions SET tenant_id = 'beta' WHERE id = '{ms}';
             UPDATE tg_refresh_tokens SET tenant_id = 'beta' WHERE session_id = '{ms}';"
        ));
        integrity(
            "session moved to beta",
            refresh(mal.refresh_token.expose()).await,
        );
        sql(&format!(
            "UPDATE tg_sessions SET tenant_id = 'acme' WHERE id = '{ms}';
             UPDATE tg_refresh_tokens SET tenant_id = 'acme' WHERE session_id = '{ms}';"
        ));
        // My refresh token re-pointed at the owner's session.
        let rh: Vec<u8> = raw
            .query_row(
                "SELECT hash FROM tg_refresh_tokens WHERE session_id = ?1",
                [ms],
                |r| r.get(0),
            )
            .unwrap();
        let point = |sid: &str| {
            raw.execute(
                "UPDATE tg_refresh_tokens SET session_id = ?1 WHERE hash = ?2",
                rusqlite::params![sid, rh],
            )
            .unwrap();
        };
        point(ads);
        integrity(
            "refresh re-pointed",
            refresh(mal.refresh_token.expose()).await,
        );
        point(ms);
        // Every row put back as it was works again: the refusals were the edits'.
        auth(mine.secret.expose()).await.unwrap();
        auth(admin.secret.expose()).await.unwrap();
        refresh(mal.refresh_token.expose()).await.unwrap();
        refresh(ada.refresh_token.expose()).await.unwrap();
    });
}

/// The host's clock steps back (or forward) after a lock-out and after revocations: the
/// limiter keeps its own monotonic time, and no revocation is undone by a rewind (only
/// expiry follows the clock).
#[test]
fn clock_steps_revive_no_revocation_and_lift_no_lockout() {
    rt().block_on(async {
        let clock = TestClock::at(T0);
        let g = guard(std::sync::Arc::new(tenantguard::MemoryStore::new()), &clock);
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        for who in ["ada", "bob"] {
            g.members().set(&acme, &u(who), Role::Member).await.unwrap();
        }
        let hasher = tenantguard::auth::PasswordHasher::default();
        let phc = hasher.hash("correct horse battery staple").unwrap();
        let tenant = tenantguard::TenantId::new("acme").unwrap();
        let login = |pw: &'static str| {
            let (g, hasher, phc, tenant) = (&g, &hasher, &phc, &tenant);
            async move {
                g.sessions()
                    .verify_password(hasher, tenant, &u("ada"), pw, phc, Some("203.0.113.9"))
                    .await
            }
        };
        let mut locked = false;
        for _ in 0..10 {
            if let Err(e) = login("guess").await {
                if e.kind() == tenantguard::ErrorKind::RateLimited {
                    locked = true;
                    break;
                }
            }
        }
        assert!(locked, "ten wrong guesses from one host were never limited");
        let ada = g
            .sessions()
            .create(&user("acme", "ada", Role::Member), "laptop")
            .await
            .unwrap();
        let bob = g
            .sessions()
            .create(&user("acme", "bob", Role::Member), "laptop")
            .await
            .unwrap();
        let bot = g
            .tokens()
            .create(&acme, TokenSpec::read_only(u("bot"), "x"))
            .await
            .unwrap();
        clock.advance(10);
        g.sessions().revoke(&acme, &ada.session_id).await.unwrap();
        g.sessions().revoke_user(&acme, &u("bob")).await.unwrap();
        g.tokens().kill_agent(&acme, &u("bot")).await.unwrap();
        for step in [-3_600, -1, 3_600 * 24 * 2] {
            clock.set(T0 + 10 + step);
            let e = login("correct horse battery staple").await.unwrap_err();
            assert_eq!(e.kind(), tenantguard::ErrorKind::RateLimited, "{step}");
            for (what, access) in [("ada", &ada.access_token), ("bob", &bob.access_token)] {
                let r = g.sessions().verify_access_token(access.expose()).await;
                assert!(r.is_err(), "{what}'s access token at {step}");
            }
            for (what, refresh) in [("ada", &ada.refresh_token), ("bob", &bob.refresh_token)] {
                let r = g.sessions().refresh(refresh.expose()).await;
                assert!(r.is_err(), "{what}'s refresh at {step}");
            }
            let e = g
                .tokens()
                .authenticate(bot.secret.expose())
                .await
                .unwrap_err();
            assert_eq!(reason(&e), "revoked", "{step}");
        }
    });
}
