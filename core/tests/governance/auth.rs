//! Passwords (argon2id) and sessions (signed access tokens, rotating refresh tokens with
//! reuse detection) on every store.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::gov_support;

use gov_support::*;
use tenantguard::auth::{AuthError, PasswordHasher, PasswordParams, SessionConfig};
use tenantguard::tenant::{Role, UserId};
use tenantguard::{Error, ErrorKind, GovernanceConfig, SecretBytes};

fn auth_err(e: Error) -> AuthError {
    match e {
        Error::Auth(a) => a,
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[test]
fn passwords_hash_verify_and_rehash() {
    let h = PasswordHasher::default();
    assert_eq!(
        h.params(),
        PasswordParams {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1
        }
    );
    let a = h.hash("correct horse battery staple").unwrap();
    let b = h.hash("correct horse battery staple").unwrap();
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
    assert_ne!(a, b, "per-user random salts");
    assert!(!a.contains("correct horse"));
    assert!(
        !h.verify("correct horse battery staple", &a)
            .unwrap()
            .needs_rehash
    );
    assert_eq!(
        h.verify("correct horse battery stapler", &a).unwrap_err(),
        AuthError::WrongPassword
    );
    assert_eq!(
        AuthError::WrongPassword.kind(),
        ErrorKind::AuthenticationFailed
    );

    // Parameters rise: old hashes verify and ask to be rehashed.
    let old = PasswordHasher::new(PasswordParams {
        m_cost_kib: 7_168,
        t_cost: 5,
        p_cost: 1,
    })
    .unwrap();
    let old_hash = old.hash("pw").unwrap();
    assert!(h.verify("pw", &old_hash).unwrap().needs_rehash);
    assert!(h.needs_rehash(&old_hash));
    assert!(!h.needs_rehash(&a));
    let stronger = PasswordHasher::new(PasswordParams {
        m_cost_kib: 47_104,
        t_cost: 2,
        p_cost: 1,
    })
    .unwrap();
    assert!(stronger.needs_rehash(&a));
    assert!(!stronger.needs_rehash(&stronger.hash("pw").unwrap()));

    // Below OWASP: refused.
    for (m, t, p) in [
        (4_096, 3, 1),
        (19_456, 1, 1),
        (46_000, 1, 1),
        (19_456, 2, 0),
    ] {
        assert_eq!(
            PasswordHasher::new(PasswordParams {
                m_cost_kib: m,
                t_cost: t,
                p_cost: p
            })
            .unwrap_err(),
            AuthError::WeakParams
        );
    }
    // Malformed or hostile stored hashes, bad inputs.
    let salt = "c2FsdHNhbHRzYWx0c2FsdA";
    let out = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for bad in [
        String::new(),
        "nonsense".into(),
        a.replace("argon2id", "argon2i"),
        format!("$argon2id$v=19$m=4194304,t=1,p=1${salt}${out}"),
        format!("$argon2id$v=19$m=19456,t=1000,p=1${salt}${out}"),
        format!("$argon2id$v=19$m=19456,t=2,p=1${salt}"),
    ] {
        assert_eq!(
            h.verify("pw", &bad).unwrap_err(),
            AuthError::MalformedHash,
            "{bad}"
        );
        assert!(h.needs_rehash(&bad));
    }
    assert!(matches!(
        h.hash("").unwrap_err(),
        AuthError::InvalidInput(_)
    ));
    assert!(matches!(
        h.verify(&"x".repeat(1025), &a).unwrap_err(),
        AuthError::InvalidInput(_)
    ));
}

fn cfg(key: Option<&[u8]>) -> GovernanceConfig {
    GovernanceConfig {
        sessions: SessionConfig {
            signing_key: key.map(SecretBytes::from_slice),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn access_tokens() {
    rt().block_on(async {
        let (_, store, _dir) = stores().remove(0);
        let clock = TestClock::at(T0);
        let key = [7u8; 32];
        let g = guard_with(store.clone(), &clock, cfg(Some(&key)));
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let alice = member(&store, "acme", "alice", Role::Member).await;
        let s = g.sessions().create(&alice, "laptop").await.unwrap();
        assert!(!format!("{s:?}").contains(s.access_token.expose()));
        let v = g
            .sessions()
            .verify_access_token(s.access_token.expose())
            .await
            .unwrap();
        assert_eq!(v.context, alice);
        assert_eq!(v.session_id, s.session_id);
        assert_eq!(s.access_expires_at, T0 + 900);

        // Another process with the same key accepts it; one with another key does not.
        let g2 = guard_with(store.clone(), &clock, cfg(Some(&key)));
        g2.sessions()
            .verify_access_token(s.access_token.expose())
            .await
            .unwrap();
        // A guard on the service keyring (no configured key) accepts only key-id headers.
        let g3 = guard_with(store.clone(), &clock, cfg(None));
        assert!(matches!(
            auth_err(
                g3.sessions()
                    .verify_access_token(s.access_token.expose())
                    .await
                    .unwrap_err()
            ),
            AuthError::MalformedToken(_)
        ));

        // Tampered claims, foreign headers, junk.
        let t = s.access_token.expose();
        let parts: Vec<&str> = t.split('.').collect();
        let forged_claims = {
            use base64::Engine;
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut c: serde_json::Value =
                serde_json::from_slice(&e.decode(parts[1]).unwrap()).unwrap();
            c["role"] = "owner".into();
            e.encode(serde_json::to_vec(&c).unwrap())
        };
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(
            auth_err(g.sessions().verify_access_token(&forged).await.unwrap_err()),
            AuthError::BadSignature
        );
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
        assert!(matches!(
            auth_err(g.sessions().verify_access_token(&none).await.unwrap_err()),
            AuthError::MalformedToken(_)
        ));
        for junk in [
            "",
            "a.b",
            "a.b.c.d",
            &"x".repeat(5000),
            &format!("{}.{}.!!", parts[0], parts[1]),
        ] {
            assert_eq!(
                g.sessions()
                    .verify_access_token(junk)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::Malformed,
                "{junk}"
            );
        }

        // Expiry at the second.
        clock.set(T0 + 899);
        g.sessions().verify_access_token(t).await.unwrap();
        clock.set(T0 + 900);
        assert_eq!(
            auth_err(g.sessions().verify_access_token(t).await.unwrap_err()),
            AuthError::Expired
        );

        // Config checks; the service role has no sessions.
        let short = GovernanceConfig {
            sessions: SessionConfig {
                signing_key: Some(SecretBytes::from_slice(&[1; 16])),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = tenantguard::Guard::builder()
            .key_provider(tenantguard::LocalKeyProvider::ephemeral())
            .store(tenantguard::MemoryStore::new())
            .governance(short)
            .build_with_service()
            .map(tg_cap::keep);
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
        // The service role has no sessions (a principal-kind refusal, not bad input).
        assert_eq!(
            g.sessions()
                .create(&service("acme"), "x")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
    });
}

#[test]
fn refresh_rotation_and_reuse_detection_on_every_store() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            g.keys().create_tenant(&service("acme")).await.unwrap();
            let alice = member(&store, "acme", "alice", Role::Admin).await;
            let s1 = g.sessions().create(&alice, "phone").await.unwrap();
            clock.advance(60);
            let s2 = g
                .sessions()
                .refresh(s1.refresh_token.expose())
                .await
                .unwrap();
            assert_eq!(s2.session_id, s1.session_id);
            assert_ne!(s2.refresh_token.expose(), s1.refresh_token.expose());
            g.sessions()
                .verify_access_token(s2.access_token.expose())
                .await
                .unwrap();
            let s3 = g
                .sessions()
                .refresh(s2.refresh_token.expose())
                .await
                .unwrap();

            // Replaying s1's (already used) refresh token revokes the session.
            assert_eq!(
                auth_err(
                    g.sessions()
                        .refresh(s1.refresh_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::RefreshReuse,
                "{name}"
            );
            assert_eq!(
                auth_err(
                    g.sessions()
                        .refresh(s3.refresh_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::Revoked,
                "{name}"
            );
            let list = g.sessions().list(&alice, None, 10).await.unwrap();
            assert_eq!(list.len(), 1);
            assert!(list[0].revoked_at.is_some());
            let log = g.audit().entries(&alice, 0, 100).await.unwrap();
            let last = log.last().unwrap();
            assert_eq!(
                (last.action.as_str(), last.reason.as_deref()),
                ("session.revoke", Some("refresh token reuse detected"))
            );

            // Unknown and malformed refresh tokens.
            assert_eq!(
                auth_err(g.sessions().refresh("tgr_nope").await.unwrap_err()).kind(),
                ErrorKind::Malformed
            );
            let other_store = stores().remove(0).1;
            let other = guard(other_store.clone(), &clock);
            other.keys().create_tenant(&service("acme")).await.unwrap();
            let alice_there = member(&other_store, "acme", "alice", Role::Admin).await;
            let foreign = other.sessions().create(&alice_there, "x").await.unwrap();
            assert_eq!(
                auth_err(
                    g.sessions()
                        .refresh(foreign.refresh_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::Unknown
            );

            // Refresh expiry (14 days) and the absolute lifetime (30 days).
            let s = g.sessions().create(&alice, "tablet").await.unwrap();
            clock.advance(14 * 86_400 - 1);
            let s = g
                .sessions()
                .refresh(s.refresh_token.expose())
                .await
                .unwrap();
            clock.advance(14 * 86_400);
            assert_eq!(
                auth_err(
                    g.sessions()
                        .refresh(s.refresh_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::Expired,
                "{name}"
            );
            let s = g.sessions().create(&alice, "desk").await.unwrap();
            let c = clock.now();
            let mut tok = s.refresh_token;
            for _ in 0..2 {
                clock.advance(13 * 86_400);
                let n = g.sessions().refresh(tok.expose()).await.unwrap();
                tok = n.refresh_token;
            }
            assert_eq!(clock.now(), c + 26 * 86_400);
            let n = g.sessions().refresh(tok.expose()).await.unwrap();
            assert_eq!(
                n.refresh_expires_at,
                c + 30 * 86_400,
                "{name}: capped by the session's end"
            );
            assert_eq!(n.access_expires_at, c + 26 * 86_400 + 900);
            clock.set(c + 30 * 86_400);
            assert_eq!(
                auth_err(
                    g.sessions()
                        .refresh(n.refresh_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::Expired,
                "{name}"
            );
        }
    });
}

#[test]
fn concurrent_refreshes_of_one_token() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            g.keys().create_tenant(&service("acme")).await.unwrap();
            let s = g
                .sessions()
                .create(&member(&store, "acme", "alice", Role::Member).await, "x")
                .await
                .unwrap();
            let tok = s.refresh_token.expose().to_owned();
            let (a, b) = tokio::join!(
                tokio::spawn({
                    let (g, t) = (g.clone(), tok.clone());
                    async move { g.sessions().refresh(&t).await }
                }),
                tokio::spawn({
                    let (g, t) = (g.clone(), tok.clone());
                    async move { g.sessions().refresh(&t).await }
                })
            );
            let results = [a.unwrap(), b.unwrap()];
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{name}");
            let err = results.into_iter().find_map(|r| r.err()).unwrap();
            assert_eq!(auth_err(err), AuthError::RefreshReuse, "{name}");
        }
    });
}

#[test]
fn listing_and_revoking_sessions() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            g.keys().create_tenant(&service("acme")).await.unwrap();
            g.keys().create_tenant(&service("globex")).await.unwrap();
            let alice = member(&store, "acme", "alice", Role::Member).await;
            let bob = member(&store, "acme", "bob", Role::Member).await;
            let admin = member(&store, "acme", "ada", Role::Admin).await;
            let a1 = g.sessions().create(&alice, "laptop").await.unwrap();
            clock.advance(1);
            let a2 = g.sessions().create(&alice, "phone").await.unwrap();
            let b1 = g.sessions().create(&bob, "bob's").await.unwrap();
            let mine = g.sessions().list(&alice, None, 10).await.unwrap();
            assert_eq!(
                mine.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
                ["phone", "laptop"],
                "{name}"
            );
            let bob_id = UserId::new("bob").unwrap();
            assert_eq!(
                g.sessions()
                    .list(&alice, Some(&bob_id), 10)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );
            assert_eq!(
                g.sessions()
                    .list(&admin, Some(&bob_id), 10)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert!(g
                .sessions()
                .list(&user("globex", "alice", Role::Owner), None, 10)
                .await
                .unwrap()
                .is_empty());

            // Every session of the tenant, paged by (created_at, id): admins and the
            // service role only, newest first, each once, never another tenant's.
            let all = g.sessions().list_tenant(&admin, None, 10).await.unwrap();
            let ids = |v: &[tenantguard::auth::SessionInfo]| {
                v.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
            };
            assert_eq!(all.len(), 3, "{name}");
            assert_eq!(all[2].id, a1.session_id, "{name}: oldest last");
            let mut newer = vec![a2.session_id.clone(), b1.session_id.clone()];
            newer.sort();
            assert_eq!(ids(&all[..2]), newer, "{name}: ties in id order");
            let mut paged: Vec<tenantguard::auth::SessionInfo> = Vec::new();
            loop {
                let after = paged.last().map(|s| (s.created_at, s.id.clone()));
                let p = g
                    .sessions()
                    .list_tenant(&admin, after.as_ref().map(|(c, i)| (*c, i.as_str())), 1)
                    .await
                    .unwrap();
                if p.is_empty() {
                    break;
                }
                paged.extend(p);
            }
            assert_eq!(ids(&paged), ids(&all), "{name}");
            assert_eq!(
                ids(&g
                    .sessions()
                    .list_tenant(&service("acme"), None, 10)
                    .await
                    .unwrap()),
                ids(&all),
                "{name}"
            );
            assert_eq!(
                g.sessions()
                    .list_tenant(&alice, None, 10)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied,
                "{name}"
            );
            assert!(g
                .sessions()
                .list_tenant(&service("globex"), None, 10)
                .await
                .unwrap()
                .is_empty());
            assert!(g.sessions().list_tenant(&admin, None, 0).await.is_err());

            // Own session: yes. Someone else's: admins only. Other tenants: never.
            assert!(g.sessions().revoke(&alice, &a1.session_id).await.unwrap());
            assert_eq!(
                auth_err(
                    g.sessions()
                        .refresh(a1.refresh_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::Revoked
            );
            assert_eq!(
                g.sessions()
                    .revoke(&alice, &b1.session_id)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );
            let globex_admin = member(&store, "globex", "gus", Role::Admin).await;
            assert_eq!(
                g.sessions()
                    .revoke(&globex_admin, &b1.session_id)
                    .await
                    .unwrap_err()
                    .kind(),
                cross_tenant_kind(name),
                "{name}"
            );
            assert!(g.sessions().revoke(&admin, &b1.session_id).await.unwrap());
            g.sessions()
                .refresh(a2.refresh_token.expose())
                .await
                .unwrap();
            assert_eq!(
                g.sessions()
                    .revoke_user(&alice, &UserId::new("alice").unwrap())
                    .await
                    .unwrap(),
                1
            );
            // The revocation stops the session's access tokens too, not only its refreshes.
            assert_eq!(
                auth_err(
                    g.sessions()
                        .verify_access_token(a2.access_token.expose())
                        .await
                        .unwrap_err()
                ),
                AuthError::Revoked
            );
            let revokes = g
                .audit()
                .entries(&admin, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.action == "session.revoke")
                .count();
            assert_eq!(revokes, 3, "{name}");
        }
    });
}

/// With no configured key (the default), access tokens are signed with the service
/// keyring's session-signing key and name it (`kid`): a second instance on the same store
/// and KMS verifies them with no configuration; rotation logs nobody out; retiring the old
/// key ends the tokens it signed; a header naming a key in any other shape is refused.
#[test]
fn keyring_signing_keys_work_across_instances_and_rotate() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let kms: std::sync::Arc<dyn tenantguard::KeyProvider> =
                std::sync::Arc::new(tenantguard::LocalKeyProvider::ephemeral());
            let instance = || {
                tenantguard::Guard::builder()
                    .key_provider_arc(kms.clone())
                    .store_arc(store.clone())
                    .build_with_service()
                    .map(tg_cap::keep)
                    .unwrap()
            };
            let (a, b) = (instance(), instance());
            a.keys().create_tenant(&service("acme")).await.unwrap();
            let alice = member(&store, "acme", "alice", Role::Member).await;
            let s1 = a.sessions().create(&alice, "laptop").await.unwrap();
            let t1 = s1.access_token.expose();
            let header = |t: &str| {
                String::from_utf8(b64.decode(t.split('.').next().unwrap()).unwrap()).unwrap()
            };
            assert_eq!(
                header(t1),
                r#"{"alg":"HS256","kid":"1","typ":"JWT"}"#,
                "{name}"
            );
            assert_eq!(
                b.sessions().verify_access_token(t1).await.unwrap().context,
                alice,
                "{name}"
            );

            let purpose = tenantguard::kms::ServicePurpose::SessionSigning;
            assert_eq!(
                a.service_keys(&tg_cap::cap())
                    .unwrap()
                    .rotate(purpose)
                    .await
                    .unwrap()
                    .get(),
                2
            );
            let s2 = a.sessions().create(&alice, "phone").await.unwrap();
            let t2 = s2.access_token.expose();
            assert_eq!(
                header(t2),
                r#"{"alg":"HS256","kid":"2","typ":"JWT"}"#,
                "{name}"
            );
            // Nobody logged out: both verify on both instances (b reads key 2 on first sight).
            for g in [&a, &b] {
                g.sessions().verify_access_token(t1).await.unwrap();
                g.sessions().verify_access_token(t2).await.unwrap();
            }
            a.service_keys(&tg_cap::cap())
                .unwrap()
                .retire(purpose, tenantguard::KeyId::FIRST)
                .await
                .unwrap();
            assert_eq!(
                auth_err(a.sessions().verify_access_token(t1).await.unwrap_err()),
                AuthError::BadSignature,
                "{name}"
            );
            a.sessions().verify_access_token(t2).await.unwrap();

            // Same signature, other header shapes: refused before any key lookup.
            let parts: Vec<&str> = t2.split('.').collect();
            for h in [
                r#"{"alg":"HS256","kid":"02","typ":"JWT"}"#,
                r#"{"alg":"HS256","kid":"2","typ":"JWT","x":1}"#,
                r#"{"alg":"none","kid":"2","typ":"JWT"}"#,
                r#"{"alg":"HS256","kid":"99999999999","typ":"JWT"}"#,
                r#"{"alg":"HS256","typ":"JWT"}"#,
            ] {
                let forged = format!("{}.{}.{}", b64.encode(h), parts[1], parts[2]);
                assert!(
                    b.sessions().verify_access_token(&forged).await.is_err(),
                    "{name} {h}"
                );
            }
            // A key id that does not exist is a bad signature, not an error of the store.
            let h = b64.encode(r#"{"alg":"HS256","kid":"7","typ":"JWT"}"#);
            assert_eq!(
                auth_err(
                    b.sessions()
                        .verify_access_token(&format!("{h}.{}.{}", parts[1], parts[2]))
                        .await
                        .unwrap_err()
                ),
                AuthError::BadSignature
            );
        }
    });
}
