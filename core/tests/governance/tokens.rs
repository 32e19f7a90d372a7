//! Agent tokens on every store: format, hashing, scopes, expiry, revocation, kill switch.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::gov_support;

use std::time::Duration;

use gov_support::*;
use tenantguard::tenant::{Principal, Role, UserId};
use tenantguard::tokens::{Action, Scope, TokenConfig, TokenError, TokenSpec};
use tenantguard::{Error, ErrorKind, GovernanceConfig};

fn reason(e: Error) -> &'static str {
    match e {
        Error::Token(t) => t.reason().as_str(),
        other => panic!("expected a token error, got {other:?}"),
    }
}

fn agent(a: &str) -> UserId {
    UserId::new(a).unwrap()
}

#[test]
fn lifecycle_on_every_store() {
    rt().block_on(async {
        for (name, store, dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();

            // Read-only by default; plaintext shown once, Debug redacted.
            let issued = g
                .tokens()
                .create(&acme, TokenSpec::read_only(agent("bot-1"), "ci"))
                .await
                .unwrap();
            let secret = issued.secret.expose().to_owned();
            assert!(secret.starts_with("tg_"), "{name}");
            assert!(!format!("{issued:?}").contains(&secret), "{name}");

            let v = g
                .tokens()
                .verify(&secret, "runs/1", Action::Read)
                .await
                .unwrap();
            assert_eq!(v.token_id, issued.id);
            assert_eq!(v.context.tenant().as_str(), "acme");
            // An agent principal carrying its scopes, never a role.
            let grant = v.context.agent_grant().expect("an agent principal");
            assert_eq!(grant.agent, agent("bot-1"));
            assert_eq!(grant.token_id, issued.id);
            assert_eq!(v.context.user(), None);
            assert!(matches!(v.context.principal(), Principal::Agent(_)));
            assert_eq!(
                reason(
                    g.tokens()
                        .verify(&secret, "runs/1", Action::Write)
                        .await
                        .unwrap_err()
                ),
                "out_of_scope",
                "{name}"
            );

            // The store holds the SHA-256 only.
            let listed = g.tokens().list(&acme, None, None, 100).await.unwrap();
            assert_eq!(listed.len(), 1);
            assert!(!format!("{listed:?}").contains(&secret));
            if let Some(dir) = &dir {
                let mut bytes = Vec::new();
                for f in std::fs::read_dir(dir.path()).unwrap() {
                    bytes.extend(std::fs::read(f.unwrap().path()).unwrap());
                }
                let needle = &secret.as_bytes()[3..];
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "plaintext token found in the database files"
                );
            }

            // Typos are rejected before lookup; unknown but well-formed tokens after it.
            let mut typo = secret.clone().into_bytes();
            typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
            let e = g
                .tokens()
                .authenticate(std::str::from_utf8(&typo).unwrap())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed);
            assert_eq!(reason(e), "bad_checksum");
            assert_eq!(
                reason(g.tokens().authenticate("hello").await.unwrap_err()),
                "malformed"
            );
            assert_eq!(
                reason(
                    g.tokens()
                        .authenticate(&"x".repeat(10_000))
                        .await
                        .unwrap_err()
                ),
                "malformed"
            );
            let other = guard(stores().remove(0).1, &clock);
            let other_acme = service("acme"); // another store: another capability
            other.keys().create_tenant(&other_acme).await.unwrap();
            let foreign = other
                .tokens()
                .create(&other_acme, TokenSpec::read_only(agent("bot-1"), "x"))
                .await
                .unwrap();
            let e = g
                .tokens()
                .authenticate(foreign.secret.expose())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AuthenticationFailed);
            assert_eq!(reason(e), "unknown");

            // Revocation takes effect at once, warm cache included.
            assert!(g.tokens().revoke(&acme, &issued.id).await.unwrap());
            assert_eq!(
                reason(g.tokens().authenticate(&secret).await.unwrap_err()),
                "revoked",
                "{name}"
            );
            assert!(!g.tokens().revoke(&acme, &issued.id).await.unwrap());

            // Audited.
            let actions: Vec<String> = g
                .audit()
                .entries(&acme, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect();
            assert_eq!(
                actions,
                ["tenant.create", "token.create", "token.revoke"],
                "{name}"
            );
        }
    });
}

#[test]
fn scopes_and_roles() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            let spec = TokenSpec::read_only(agent("bot"), "writer").scopes(vec![
                Scope::read("runs/*"),
                Scope::new("runs/7/logs", Action::Write),
            ]);
            let t = g.tokens().create(&acme, spec).await.unwrap();
            let s = t.secret.expose();
            let v = g
                .tokens()
                .verify(s, "runs/7/logs", Action::Write)
                .await
                .unwrap();
            assert_eq!(
                &*v.context.agent_grant().expect("an agent").scopes,
                &[
                    Scope::read("runs/*"),
                    Scope::new("runs/7/logs", Action::Write)
                ][..]
            );
            g.tokens().verify(s, "runs/8", Action::Read).await.unwrap();
            for (res, act) in [
                ("runs/8/logs", Action::Write),
                ("keys", Action::Read),
                ("runs/7/logs", Action::Delete),
            ] {
                let e = g.tokens().verify(s, res, act).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{name} {res} {act}");
            }
            // Invalid specs are refused.
            for bad in [
                TokenSpec::read_only(agent("bot"), "").scopes(vec![Scope::read("*")]),
                TokenSpec::read_only(agent("bot"), "x").scopes(vec![]),
                TokenSpec::read_only(agent("bot"), "x").scopes(vec![Scope::read("a*b")]),
                TokenSpec::read_only(agent("bot"), "x").expires_in(0),
                TokenSpec::read_only(agent("bot"), "x").scopes(vec![Scope::read("r"); 33]),
            ] {
                assert_eq!(
                    g.tokens().create(&acme, bad).await.unwrap_err().kind(),
                    ErrorKind::InvalidInput
                );
            }
        }
    });
}

#[test]
fn expiry_boundary() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            let t = g
                .tokens()
                .create(
                    &acme,
                    TokenSpec::read_only(agent("bot"), "short").expires_in(100),
                )
                .await
                .unwrap();
            assert_eq!(t.expires_at, Some(T0 + 100));
            clock.set(T0 + 99);
            g.tokens().authenticate(t.secret.expose()).await.unwrap();
            clock.set(T0 + 100);
            assert_eq!(
                reason(
                    g.tokens()
                        .authenticate(t.secret.expose())
                        .await
                        .unwrap_err()
                ),
                "expired",
                "{name}"
            );
        }
    });
}

#[test]
fn kill_switch_revokes_every_token_of_one_agent() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            let mut a = Vec::new();
            for i in 0..3 {
                a.push(
                    g.tokens()
                        .create(&acme, TokenSpec::read_only(agent("bot-a"), format!("a{i}")))
                        .await
                        .unwrap(),
                );
            }
            let b = g
                .tokens()
                .create(&acme, TokenSpec::read_only(agent("bot-b"), "b"))
                .await
                .unwrap();
            for t in &a {
                g.tokens().authenticate(t.secret.expose()).await.unwrap(); // warm the cache
            }
            assert_eq!(
                g.tokens().kill_agent(&acme, &agent("bot-a")).await.unwrap(),
                3,
                "{name}"
            );
            for t in &a {
                assert_eq!(
                    reason(
                        g.tokens()
                            .authenticate(t.secret.expose())
                            .await
                            .unwrap_err()
                    ),
                    "revoked",
                    "{name}"
                );
            }
            g.tokens().authenticate(b.secret.expose()).await.unwrap();
            assert_eq!(
                g.tokens()
                    .list(&acme, Some(&agent("bot-a")), None, 10)
                    .await
                    .unwrap()
                    .len(),
                3
            );
            assert!(g
                .tokens()
                .list(&acme, Some(&agent("bot-a")), None, 10)
                .await
                .unwrap()
                .iter()
                .all(|t| t.revoked_at == Some(T0)));
        }
    });
}

#[test]
fn permissions_and_tenant_isolation() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            g.keys().create_tenant(&service("acme")).await.unwrap();
            g.keys().create_tenant(&service("globex")).await.unwrap();
            let member = member(&store, "acme", "mia", Role::Member).await;
            let admin = gov_support::member(&store, "acme", "ada", Role::Admin).await;
            let e = g
                .tokens()
                .create(&member, TokenSpec::read_only(agent("bot"), "x"))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
            let t = g
                .tokens()
                .create(&admin, TokenSpec::read_only(agent("bot"), "x"))
                .await
                .unwrap();
            let globex_admin = gov_support::member(&store, "globex", "gus", Role::Admin).await;
            assert_eq!(
                g.tokens()
                    .revoke(&globex_admin, &t.id)
                    .await
                    .unwrap_err()
                    .kind(),
                cross_tenant_kind(name),
                "{name}"
            );
            assert!(g
                .tokens()
                .list(&globex_admin, None, None, 10)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                g.tokens()
                    .kill_agent(&globex_admin, &agent("bot"))
                    .await
                    .unwrap(),
                0
            );
            g.tokens().authenticate(t.secret.expose()).await.unwrap();
            assert_eq!(
                g.tokens()
                    .revoke(&admin, "tok_nope")
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::NotFound
            );
        }
    });
}

#[test]
fn custom_prefix_and_cross_process_revocation() {
    rt().block_on(async {
        let (_, store, _dir) = stores().remove(1);
        let clock = TestClock::at(T0);
        let cfg = |ttl| GovernanceConfig {
            tokens: TokenConfig {
                prefix: "acme".into(),
                cache_ttl: ttl,
                cache_capacity: 100,
            },
            ..Default::default()
        };
        let g1 = guard_with(store.clone(), &clock, cfg(Duration::from_secs(10)));
        // A second process sharing the database, with the cache off.
        let g2 = guard_with(store.clone(), &clock, cfg(Duration::ZERO));
        let acme = service("acme");
        g1.keys().create_tenant(&acme).await.unwrap();
        let t = g1
            .tokens()
            .create(&acme, TokenSpec::read_only(agent("bot"), "x"))
            .await
            .unwrap();
        assert!(t.secret.expose().starts_with("acme_"));
        g2.tokens().authenticate(t.secret.expose()).await.unwrap();
        g1.tokens().revoke(&acme, &t.id).await.unwrap();
        assert_eq!(
            reason(
                g2.tokens()
                    .authenticate(t.secret.expose())
                    .await
                    .unwrap_err()
            ),
            "revoked"
        );
        // A token with another prefix never reaches the store.
        assert_eq!(
            reason(
                g1.tokens()
                    .authenticate("tg_4uQ0dHLkX2r9ZbVq1mJ7sWc8yTfA3n0Ke5Lx9")
                    .await
                    .unwrap_err()
            ),
            "malformed"
        );
        // Bad prefixes are refused at build time.
        let bad = GovernanceConfig {
            tokens: TokenConfig {
                prefix: "Bad_".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = tenantguard::Guard::builder()
            .key_provider(tenantguard::LocalKeyProvider::ephemeral())
            .store(tenantguard::MemoryStore::new())
            .governance(bad)
            .build_with_service()
            .map(tg_cap::keep);
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
        let _ = TokenError::Unknown;
    });
}
