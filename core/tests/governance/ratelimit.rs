//! Rate limits (issue 19), in-process backend: the limiter itself, and the attacks it
//! must stop where the SDK performs the action. The shared backends run the same
//! scenarios in `ratelimit_shared.rs` (beside this file).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::tg_cap;

use crate::gov_support;
use crate::ratelimit_support;

use std::sync::Arc;
use std::time::Duration;

use gov_support::*;
use tenantguard::auth::{AuthError, PasswordHasher};
use tenantguard::ratelimit::{
    ActionClass, Backoff, ClassOverride, ClassPolicy, LimitKey, MemoryLimiter, Policies, Quota,
    RateLimitError, RateLimitOverrides, RateLimiter,
};
use tenantguard::tenant::{Role, TenantId, UserId};
use tenantguard::tokens::{Action, TokenSpec};
use tenantguard::totp::TotpParams;
use tenantguard::{Credential, Error, ErrorKind, Guard, LocalKeyProvider, MemoryStore};

fn limited_guard(limiter: RateLimiter) -> (Guard, Arc<dyn tenantguard::Store>) {
    let store: Arc<dyn tenantguard::Store> = Arc::new(MemoryStore::new());
    let g = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .rate_limiter(limiter)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    (g, store)
}

/// A well-formed token nobody issued (what a prober with the public prefix and the public
/// checksum rule makes).
fn forged_token(i: u32) -> String {
    use tenantguard::tokens::format::BASE62;
    let mut s = String::from("tg_");
    let mut v = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..30 {
        s.push(BASE62[(v % 62) as usize] as char);
        v = v.rotate_left(7).wrapping_add(0x1234_5678);
    }
    let mut c = crc32fast::hash(s.as_bytes());
    let mut sum = [b'0'; 6];
    for slot in sum.iter_mut().rev() {
        *slot = BASE62[(c % 62) as usize];
        c /= 62;
    }
    s.push_str(std::str::from_utf8(&sum).unwrap());
    s
}

fn retry_after(e: &Error) -> Duration {
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    e.retry_after().expect("a retry-after")
}

#[test]
fn rate_limited_is_its_own_kind_with_a_retry_after_in_the_message() {
    let e: Error = RateLimitError::RateLimited {
        retry_after: Duration::from_millis(1500),
        class: ActionClass::Login,
    }
    .into();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.kind().as_str(), "rate_limited");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(e.to_string(), "rate limited (login): retry after 1.500 s");
    // A wait under a millisecond is shown rounded up, never as "0.000 s".
    let short: Error = RateLimitError::RateLimited {
        retry_after: Duration::from_micros(400),
        class: ActionClass::Reveal,
    }
    .into();
    assert_eq!(
        short.to_string(),
        "rate limited (reveal): retry after 0.001 s"
    );
    let down: Error = RateLimitError::Unavailable {
        backend: "redis",
        class: ActionClass::Login,
    }
    .into();
    assert_eq!(down.kind(), ErrorKind::Unavailable);
    assert_eq!(down.retry_after(), None);
}

#[test]
fn bad_policies_are_config_errors() {
    let bad = ClassPolicy {
        subject: Some(Quota::new(0, Duration::from_secs(1))),
        ..ClassPolicy::UNLIMITED
    };
    let e = Policies::default()
        .set(ActionClass::Write, bad)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let bad = ClassPolicy {
        backoff: Some(Backoff {
            after: 1,
            base: Duration::from_secs(10),
            max: Duration::from_secs(1),
            forget_after: Duration::from_secs(1),
        }),
        ..ClassPolicy::UNLIMITED
    };
    assert!(Policies::default().set(ActionClass::Login, bad).is_err());
}

#[test]
fn burst_then_sustained_rate_and_all_or_nothing() {
    rt().block_on(async {
        let p = Policies::unlimited()
            .set(
                ActionClass::Write,
                ClassPolicy {
                    tenant: Some(Quota::new(5, Duration::from_secs(3600))),
                    subject: Some(Quota::new(3, Duration::from_secs(3600))),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap();
        let l = RateLimiter::in_process(p);
        let alice = LimitKey::tenant("acme").subject("u:alice");
        let bob = LimitKey::tenant("acme").subject("u:bob");
        for _ in 0..3 {
            l.check(ActionClass::Write, &alice).await.unwrap();
        }
        let e = l.check(ActionClass::Write, &alice).await.unwrap_err();
        let wait = e.retry_after().unwrap();
        assert!(wait > Duration::from_secs(3000) && wait <= Duration::from_secs(3600));
        // Alice's refusals spent nothing of the tenant: Bob still has the 2 left.
        l.check(ActionClass::Write, &bob).await.unwrap();
        l.check(ActionClass::Write, &bob).await.unwrap();
        let e = l.check(ActionClass::Write, &bob).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        // Another tenant and another class are other cells.
        l.check(
            ActionClass::Write,
            &LimitKey::tenant("globex").subject("u:alice"),
        )
        .await
        .unwrap();
        l.check(ActionClass::Service, &alice).await.unwrap();
    });
}

#[test]
fn keys_are_unambiguous() {
    rt().block_on(async {
        let p = Policies::unlimited()
            .set(
                ActionClass::Write,
                ClassPolicy {
                    subject: Some(Quota::new(1, Duration::from_secs(3600))),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap();
        let l = RateLimiter::in_process(p);
        l.check(ActionClass::Write, &LimitKey::tenant("a:b").subject("c"))
            .await
            .unwrap();
        // Same bytes joined, different parts: a different cell.
        l.check(ActionClass::Write, &LimitKey::tenant("a").subject("b:c"))
            .await
            .unwrap();
        // The same bytes concatenated without a separator: still different cells.
        l.check(ActionClass::Write, &LimitKey::tenant("ab").subject("c"))
            .await
            .unwrap();
        l.check(ActionClass::Write, &LimitKey::tenant("a").subject("bc"))
            .await
            .unwrap();
        l.check(ActionClass::Write, &LimitKey::tenant("").subject("abc"))
            .await
            .unwrap();
        // And the cell itself holds: the second check of one key is refused.
        assert!(l
            .check(ActionClass::Write, &LimitKey::tenant("a").subject("bc"))
            .await
            .is_err());
        // Keys longer than the in-process table's stack buffer hash in parts: still one
        // cell per key, distinct from their neighbours.
        let long_a = "x".repeat(300);
        let long_b = format!("{}y", "x".repeat(299));
        for s in [&long_a, &long_b] {
            l.check(ActionClass::Write, &LimitKey::tenant("a").subject(s))
                .await
                .unwrap();
        }
        assert!(l
            .check(ActionClass::Write, &LimitKey::tenant("a").subject(&long_a))
            .await
            .is_err());
    });
}

#[test]
fn lockout_cells_outlive_cells_that_are_nearly_full_again() {
    rt().block_on(async {
        let p = Policies::unlimited()
            .set(
                ActionClass::Login,
                ClassPolicy {
                    subject: Some(Quota::new(1, Duration::from_millis(1))),
                    failure_cost: 0,
                    backoff: Some(Backoff {
                        after: 1,
                        base: Duration::from_secs(3600),
                        max: Duration::from_secs(3600),
                        forget_after: Duration::from_secs(3600),
                    }),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap();
        let mem = Arc::new(MemoryLimiter::new(6_400));
        let l = RateLimiter::with_backend(mem.clone(), p);
        let victim = LimitKey::tenant("acme").subject("u:target");
        l.check(ActionClass::Login, &victim).await.unwrap();
        let out = l.failure(ActionClass::Login, &victim).await;
        assert_eq!(out.locked_for, Some(Duration::from_secs(3600)));
        for i in 0..20_000 {
            let s = format!("u:spray-{i}");
            let _ = l
                .check(ActionClass::Login, &LimitKey::tenant("acme").subject(&s))
                .await;
            assert!(mem.len() <= mem.capacity());
        }
        let e = l.check(ActionClass::Login, &victim).await.unwrap_err();
        assert!(e.retry_after().unwrap() > Duration::from_secs(3000));
    });
}

fn login_policy() -> Policies {
    ratelimit_support::with_login(Policies::default())
}

#[test]
fn password_guessing_stops_and_the_lockout_is_audited_without_secrets() {
    rt().block_on(async {
        let (g, _store) = limited_guard(RateLimiter::in_process(login_policy()));
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        let hasher = PasswordHasher::default();
        let phc = hasher.hash("correct horse battery staple").unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let alice = UserId::new("alice").unwrap();
        let attacker = Some("203.0.113.7");

        let mut hashed = 0;
        let mut refused = None;
        for i in 0..20 {
            match g
                .sessions()
                .verify_password(
                    &hasher,
                    &tenant,
                    &alice,
                    &format!("guess-{i}"),
                    &phc,
                    attacker,
                )
                .await
            {
                Err(Error::Auth(AuthError::WrongPassword)) => hashed += 1,
                Err(e) => {
                    refused = Some(retry_after(&e));
                    break;
                }
                Ok(_) => panic!("a wrong password verified"),
            }
        }
        // Three failures, then the back-off locks the (alice, attacker) pair for 30 s.
        assert_eq!(hashed, 3);
        assert!(refused.unwrap() > Duration::from_secs(25));
        // Even the right password is refused from there now.
        let e = g
            .sessions()
            .verify_password(
                &hasher,
                &tenant,
                &alice,
                "correct horse battery staple",
                &phc,
                attacker,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);

        // From another host, alice logs in.
        g.sessions()
            .verify_password(
                &hasher,
                &tenant,
                &alice,
                "correct horse battery staple",
                &phc,
                Some("198.51.100.20"),
            )
            .await
            .unwrap();

        let entries = g.audit().entries(&acme, 0, 100).await.unwrap();
        let lock: Vec<_> = entries
            .iter()
            .filter(|e| e.action == "ratelimit.lockout")
            .collect();
        assert_eq!(lock.len(), 1);
        let text = format!("{:?}", lock[0]);
        assert!(
            text.contains("failures") && text.contains("login"),
            "{text}"
        );
        for secret in ["guess-", "correct horse", "203.0.113.7", "argon2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    });
}

#[test]
fn a_botnet_spraying_host_keys_meets_the_user_ceiling() {
    rt().block_on(async {
        let (g, _store) = limited_guard(RateLimiter::in_process(login_policy()));
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let hasher = PasswordHasher::default();
        let phc = hasher.hash("right").unwrap();
        let (tenant, alice) = (
            TenantId::new("acme").unwrap(),
            UserId::new("alice").unwrap(),
        );
        let mut hashed = 0;
        for i in 0..100 {
            let host = format!("10.0.{}.{}", i / 250, i % 250);
            match g
                .sessions()
                .verify_password(&hasher, &tenant, &alice, "wrong", &phc, Some(&host))
                .await
            {
                Err(Error::Auth(AuthError::WrongPassword)) => hashed += 1,
                Err(e) => {
                    retry_after(&e);
                    break;
                }
                Ok(_) => unreachable!(),
            }
        }
        // 50 units for the user across hosts: a failure costs 3, so 17 guesses at most.
        assert_eq!(hashed, 17);
    });
}

#[test]
fn a_leaked_token_prefix_probe_is_throttled_and_warm_tokens_still_verify() {
    rt().block_on(async {
        let (g, _store) = limited_guard(RateLimiter::default());
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        let issued = g
            .tokens()
            .create(
                &acme,
                TokenSpec::read_only(UserId::new("bot").unwrap(), "ci"),
            )
            .await
            .unwrap();
        let secret = issued.secret.expose().to_owned();
        // Warm the cache.
        g.tokens()
            .verify(&secret, "runs/1", Action::Read)
            .await
            .unwrap();

        let mut unknown = 0;
        let mut throttled = false;
        for i in 0..200 {
            let probe = forged_token(i);
            match g
                .tokens()
                .authenticate_from(&probe, Some("198.51.100.66"))
                .await
            {
                Err(e) if e.kind() == ErrorKind::RateLimited => {
                    throttled = true;
                    break;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::AuthenticationFailed, "{e}");
                    unknown += 1
                }
                Ok(_) => unreachable!(),
            }
        }
        assert!(throttled);
        assert_eq!(unknown, 20, "the default TokenFailure burst");
        // The prober's host key is refused; the warm token from the same host still works
        // (a cache hit never asks the limiter), and other hosts' cold lookups go on.
        g.tokens()
            .authenticate_from(&secret, Some("198.51.100.66"))
            .await
            .unwrap();
        let e = g
            .tokens()
            .authenticate_from(&forged_token(999), Some("192.0.2.1"))
            .await
            .unwrap_err();
        assert_ne!(e.kind(), ErrorKind::RateLimited);
    });
}

#[test]
fn totp_brute_force_is_throttled_per_seed() {
    rt().block_on(async {
        let (g, store) = limited_guard(RateLimiter::default());
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        g.records()
            .put_credential(
                &acme,
                "mfa-1",
                &Credential::totp_seed(b"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_vec()),
            )
            .await
            .unwrap();
        g.records()
            .put_credential(
                &acme,
                "mfa-2",
                &Credential::totp_seed(b"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".to_vec()),
            )
            .await
            .unwrap();
        let eve = member(&store, "acme", "eve", Role::Member).await;
        let params = TotpParams::default();
        let mut codes = 0;
        let mut e = None;
        for _ in 0..20 {
            match g.records().totp_code(&eve, "mfa-1", &params, "login").await {
                Ok(_) => codes += 1,
                Err(err) => {
                    e = Some(err);
                    break;
                }
            }
        }
        assert_eq!(codes, 10, "the default per-seed burst: {e:?}");
        assert!(retry_after(&e.unwrap()) <= Duration::from_secs(6));
        // The other seed has its own cell; the user's own ceiling is 30.
        g.records()
            .totp_code(&eve, "mfa-2", &params, "login")
            .await
            .unwrap();
    });
}

#[test]
fn the_service_class_is_not_throttled_by_user_floods() {
    rt().block_on(async {
        let (g, store) = limited_guard(RateLimiter::default());
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        let bob = member(&store, "acme", "bob", Role::Member).await;
        let mut written = 0;
        loop {
            match g
                .records()
                .put(&bob, &format!("r{written}"), "note", None, b"x")
                .await
            {
                Ok(()) => written += 1,
                Err(e) => {
                    retry_after(&e);
                    break;
                }
            }
            assert!(written < 1_000, "never limited");
        }
        assert!((100..200).contains(&written), "{written}");
        // Bob is refused; the service writes on, and so does another member.
        for i in 0..500 {
            g.records()
                .put(&acme, &format!("job-{i}"), "note", None, b"x")
                .await
                .unwrap();
        }
        let carol = member(&store, "acme", "carol", Role::Member).await;
        g.records()
            .put(&carol, "c1", "note", None, b"x")
            .await
            .unwrap();
    });
}

#[test]
fn reveals_cap_bulk_opening_but_not_a_service_using_its_credentials() {
    rt().block_on(async {
        // Defaults: a service opening 2,000 records of a tenant in a burst is not refused.
        let (g, _) = limited_guard(RateLimiter::default());
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        for i in 0..2_000 {
            g.records()
                .put(&acme, &format!("r{i}"), "note", None, b"x")
                .await
                .unwrap();
        }
        for i in 0..2_000 {
            g.records()
                .open_record(&acme, &format!("r{i}"))
                .await
                .unwrap();
        }
        // A tight policy: the tenant-wide reveal ceiling stops a bulk dump, typed.
        let p = Policies::default()
            .set(
                ActionClass::Reveal,
                ClassPolicy {
                    tenant: Some(Quota::per_second(50, 1)),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap();
        let (g, _) = limited_guard(RateLimiter::in_process(p));
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        for i in 0..60 {
            g.records()
                .put(&acme, &format!("r{i}"), "note", None, b"x")
                .await
                .unwrap();
        }
        let mut opened = 0;
        let mut refused = None;
        for i in 0..60 {
            match g.records().open_record(&acme, &format!("r{i}")).await {
                Ok(_) => opened += 1,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let e = refused.expect("the reveal ceiling never refused");
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert!((50..=52).contains(&opened), "{opened}");
    });
}

#[test]
fn agents_are_limited_each_and_the_tenant_as_a_whole() {
    rt().block_on(async {
        let p = Policies::default()
            .set(
                ActionClass::TokenCreate,
                ClassPolicy {
                    tenant: Some(Quota::new(4, Duration::from_secs(3600))),
                    subject: Some(Quota::new(2, Duration::from_secs(3600))),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap();
        let (g, store) = limited_guard(RateLimiter::in_process(p));
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let admin = member(&store, "acme", "root", Role::Admin).await;
        let admin2 = member(&store, "acme", "root2", Role::Admin).await;
        let admin3 = member(&store, "acme", "root3", Role::Admin).await;
        let spec = || TokenSpec::read_only(UserId::new("bot").unwrap(), "ci");
        g.tokens().create(&admin, spec()).await.unwrap();
        g.tokens().create(&admin, spec()).await.unwrap();
        retry_after(&g.tokens().create(&admin, spec()).await.unwrap_err());
        g.tokens().create(&admin2, spec()).await.unwrap();
        g.tokens().create(&admin2, spec()).await.unwrap();
        // The tenant's 4 are spent.
        retry_after(&g.tokens().create(&admin3, spec()).await.unwrap_err());
    });
}

#[test]
fn hosts_ask_the_limiter_for_their_own_routes() {
    rt().block_on(async {
        let (g, _) = limited_guard(RateLimiter::default());
        let key = LimitKey::tenant("acme")
            .subject("u:alice")
            .host(Some("10.1.1.1"));
        for _ in 0..10 {
            g.rate_limiter()
                .check(ActionClass::Login, &key)
                .await
                .unwrap();
        }
        let e: Error = g
            .rate_limiter()
            .check(ActionClass::Login, &key)
            .await
            .unwrap_err()
            .into();
        retry_after(&e);
        assert_eq!(g.rate_limiter().backend_name(), "memory");
        // A long host key is stood in for by its hash, and still limits.
        let long = "x".repeat(10_000);
        let key = LimitKey::tenant("acme").subject("u:bob").host(Some(&long));
        for _ in 0..10 {
            g.rate_limiter()
                .check(ActionClass::Login, &key)
                .await
                .unwrap();
        }
        assert!(g
            .rate_limiter()
            .check(ActionClass::Login, &key)
            .await
            .is_err());
    });
}

// ---- Per-tenant overrides (kept in the policy store, like the egress policy) ----

fn guard_on(
    store: Arc<dyn tenantguard::Store>,
    policies: Arc<dyn tenantguard::store::PolicyStore>,
    limiter: RateLimiter,
    clock: &TestClock,
) -> Guard {
    guard_on_keys(
        Arc::new(LocalKeyProvider::ephemeral()),
        store,
        policies,
        limiter,
        clock,
    )
}

fn guard_on_keys(
    keys: Arc<dyn tenantguard::KeyProvider>,
    store: Arc<dyn tenantguard::Store>,
    policies: Arc<dyn tenantguard::store::PolicyStore>,
    limiter: RateLimiter,
    clock: &TestClock,
) -> Guard {
    Guard::builder()
        .key_provider_arc(keys)
        .store_arc(store)
        .policy_store(policies)
        .rate_limiter(limiter)
        .clock(clock.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

fn hour(burst: u32) -> Quota {
    Quota::new(burst, Duration::from_secs(3600))
}

fn writes_override(burst: u32) -> RateLimitOverrides {
    RateLimitOverrides::new().set(
        ActionClass::Write,
        ClassOverride {
            subject: Some(hour(burst)),
            ..ClassOverride::default()
        },
    )
}

/// Writes `n` records as `ctx`; how many were admitted before the first refusal.
async fn writes(g: &Guard, ctx: &tenantguard::tenant::TenantContext, tag: &str, n: u32) -> u32 {
    for i in 0..n {
        match g
            .records()
            .put(ctx, &format!("{tag}-{i}"), "note", None, b"x")
            .await
        {
            Ok(()) => {}
            Err(e) => {
                retry_after(&e);
                return i;
            }
        }
    }
    n
}

#[test]
fn a_tenant_owner_tightens_his_own_limits_on_every_store_and_no_one_elses() {
    rt().block_on(async {
        for (name, store, policies, _dir) in stores_with_policies() {
            let clock = TestClock::at(T0);
            let g = guard_on(store.clone(), policies, RateLimiter::default(), &clock);
            g.keys().create_tenant(&service("acme")).await.unwrap();
            g.keys().create_tenant(&service("globex")).await.unwrap();
            let owner = member(&store, "acme", "olga", Role::Owner).await;
            let alice = member(&store, "acme", "alice", Role::Member).await;
            let gus = member(&store, "globex", "gus", Role::Member).await;
            // Warm the cache with "no override" first: the change must evict it.
            let wendy = member(&store, "acme", "wendy", Role::Member).await;
            assert_eq!(writes(&g, &wendy, "warm", 2).await, 2, "{name}");
            assert_eq!(
                g.limits().policy(&alice, ActionClass::Write).await.unwrap(),
                ClassPolicy::default_for(ActionClass::Write),
                "{name}"
            );

            let v = g
                .limits()
                .set_overrides(&owner, &writes_override(3))
                .await
                .unwrap();
            assert_eq!(v, 1, "{name}");
            assert_eq!(
                g.limits().overrides(&alice).await.unwrap(),
                writes_override(3),
                "{name}"
            );
            // At once on this instance: three more writes each, then refused.
            assert_eq!(writes(&g, &alice, "a", 10).await, 3, "{name}");
            assert_eq!(writes(&g, &owner, "o", 10).await, 3, "{name}");
            // Another tenant keeps the host's limits.
            assert_eq!(writes(&g, &gus, "g", 10).await, 10, "{name}");
            assert_eq!(
                g.limits().policy(&gus, ActionClass::Write).await.unwrap(),
                ClassPolicy::default_for(ActionClass::Write),
                "{name}"
            );

            // Audited, as a policy change with its classes.
            let entries = g.audit().entries(&service("acme"), 0, 1000).await.unwrap();
            let change: Vec<_> = entries
                .iter()
                .filter(|e| e.action == "policy.change" && e.target == "rate_limits")
                .collect();
            assert_eq!(change.len(), 1, "{name}");
            assert_eq!(change[0].details.get("classes").unwrap(), "write");
            assert!(
                change[0].actor.contains("olga"),
                "{name}: {}",
                change[0].actor
            );

            // Removing the overrides gives the host's policy back.
            g.limits()
                .set_overrides(&owner, &RateLimitOverrides::new())
                .await
                .unwrap();
            assert_eq!(
                g.limits().policy(&alice, ActionClass::Write).await.unwrap(),
                ClassPolicy::default_for(ActionClass::Write),
                "{name}"
            );
        }
    });
}

#[test]
fn a_malicious_owner_cannot_loosen_open_or_touch_the_service_class() {
    rt().block_on(async {
        for (name, store, policies, _dir) in stores_with_policies() {
            let clock = TestClock::at(T0);
            let g = guard_on(
                store.clone(),
                policies,
                RateLimiter::in_process(login_policy()),
                &clock,
            );
            g.keys().create_tenant(&service("acme")).await.unwrap();
            let owner = member(&store, "acme", "olga", Role::Owner).await;
            let login = |o: ClassOverride| RateLimitOverrides::new().set(ActionClass::Login, o);
            let refused = [
                // More burst than the host's 10 per (user, host key).
                login(ClassOverride {
                    host: Some(Quota::new(11, Duration::from_secs(60))),
                    ..ClassOverride::default()
                }),
                // A faster rate than the host's.
                login(ClassOverride {
                    subject: Some(Quota::new(50, Duration::from_secs(1))),
                    ..ClassOverride::default()
                }),
                // Authentication fails open when the backend is down.
                login(ClassOverride {
                    fail_closed: Some(false),
                    ..ClassOverride::default()
                }),
                // Absurd values (zero, overflow, centuries).
                login(ClassOverride {
                    host: Some(Quota::new(0, Duration::from_secs(60))),
                    ..ClassOverride::default()
                }),
                login(ClassOverride {
                    host: Some(Quota::new(u32::MAX, Duration::from_secs(86_400))),
                    ..ClassOverride::default()
                }),
                login(ClassOverride {
                    host: Some(Quota::new(1, Duration::from_secs(u64::MAX))),
                    ..ClassOverride::default()
                }),
                login(ClassOverride {
                    host: Some(Quota::new(1, Duration::ZERO)),
                    ..ClassOverride::default()
                }),
                // Throttling (or freeing) the service's own jobs.
                RateLimitOverrides::new().set(
                    ActionClass::Service,
                    ClassOverride {
                        tenant: Some(hour(1)),
                        ..ClassOverride::default()
                    },
                ),
            ];
            for o in &refused {
                let e = g.limits().set_overrides(&owner, o).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}: {o:?}: {e}");
            }
            // Nothing was stored, nothing changed.
            assert!(g.limits().overrides(&owner).await.unwrap().is_empty());
            assert_eq!(
                g.limits().policy(&owner, ActionClass::Login).await.unwrap(),
                ratelimit_support::login_class()
            );
            let entries = g.audit().entries(&service("acme"), 0, 1000).await.unwrap();
            assert!(!entries.iter().any(|e| e.target == "rate_limits"), "{name}");

            // Members cannot change the limits; a context that claims the owner role
            // is checked against the stored role.
            let alice = member(&store, "acme", "alice", Role::Member).await;
            let tighter = writes_override(1);
            let e = g
                .limits()
                .set_overrides(&alice, &tighter)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{name}");
            let claims_owner = user("acme", "alice", Role::Owner);
            assert!(g
                .limits()
                .set_overrides(&claims_owner, &tighter)
                .await
                .is_err());
            assert!(g.limits().overrides(&owner).await.unwrap().is_empty());
        }
    });
}

/// An owner's tighter login limit, and a stricter fail-closed, are in force; the anonymous
/// cells other tenants share (unknown tokens per host key) are not his to tighten.
#[test]
fn overrides_reach_logins_but_never_the_cells_tenants_share() {
    rt().block_on(async {
        let (_, store, policies, _dir) = stores_with_policies().remove(0);
        let clock = TestClock::at(T0);
        let g = guard_on(store.clone(), policies, RateLimiter::default(), &clock);
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let owner = member(&store, "acme", "olga", Role::Owner).await;
        let o = RateLimitOverrides::new()
            .set(
                ActionClass::Login,
                ClassOverride {
                    host: Some(Quota::new(2, Duration::from_secs(600))),
                    ..ClassOverride::default()
                },
            )
            .set(
                ActionClass::TokenFailure,
                ClassOverride {
                    host: Some(hour(1)),
                    ..ClassOverride::default()
                },
            )
            .set(
                ActionClass::Write,
                ClassOverride {
                    fail_closed: Some(true),
                    ..ClassOverride::default()
                },
            );
        g.limits().set_overrides(&owner, &o).await.unwrap();
        assert!(
            g.limits()
                .policy(&owner, ActionClass::Write)
                .await
                .unwrap()
                .fail_closed
        );

        let hasher = PasswordHasher::default();
        let phc = hasher.hash("pw").unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let alice = UserId::new("alice").unwrap();
        let from = Some("203.0.113.50");
        for _ in 0..2 {
            g.sessions()
                .verify_password(&hasher, &tenant, &alice, "pw", &phc, from)
                .await
                .unwrap();
        }
        let e = g
            .sessions()
            .verify_password(&hasher, &tenant, &alice, "pw", &phc, from)
            .await
            .unwrap_err();
        retry_after(&e);

        // Unknown tokens from one host: the host's 20 at once, whatever acme's owner set.
        for i in 0..5 {
            let e = g
                .tokens()
                .authenticate_from(&forged_token(i), Some("198.51.100.7"))
                .await
                .unwrap_err();
            assert_ne!(e.kind(), ErrorKind::RateLimited, "probe {i}: {e}");
        }
    });
}

/// The ceiling the host sets is how far owners may loosen; a document planted in the
/// policy store (a database writer) is cut down to it, never trusted.
#[test]
fn owners_loosen_up_to_the_host_ceiling_and_planted_documents_are_clamped() {
    rt().block_on(async {
        for (name, store, policies, _dir) in stores_with_policies() {
            let clock = TestClock::at(T0);
            let host = Policies::default()
                .set(
                    ActionClass::Write,
                    ClassPolicy {
                        subject: Some(hour(2)),
                        ..ClassPolicy::UNLIMITED
                    },
                )
                .unwrap();
            let ceiling = host
                .clone()
                .set(
                    ActionClass::Write,
                    ClassPolicy {
                        subject: Some(hour(5)),
                        ..ClassPolicy::UNLIMITED
                    },
                )
                .unwrap();
            let limiter = RateLimiter::in_process(host).with_override_ceiling(ceiling);
            let g = guard_on(store.clone(), policies.clone(), limiter.clone(), &clock);
            g.keys().create_tenant(&service("acme")).await.unwrap();
            let owner = member(&store, "acme", "olga", Role::Owner).await;
            let e = g
                .limits()
                .set_overrides(&owner, &writes_override(6))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}");
            g.limits()
                .set_overrides(&owner, &writes_override(5))
                .await
                .unwrap();
            assert_eq!(writes(&g, &owner, "w", 10).await, 5, "{name}");

            // Planted: a million writes at once, login failing open, the service class.
            let planted = r#"{"classes":{
                "write":{"subject":{"burst":1000000,"period_us":1}},
                "login":{"fail_closed":false,"host":{"burst":1000000,"period_us":1}},
                "service":{"tenant":{"burst":1,"period_us":3600000000}}}}"#;
            policies
                .put_policy(&service("acme"), "rate_limits", planted, T0)
                .await
                .unwrap();
            // Another instance (no cache yet) reads it.
            let clock2 = TestClock::at(T0);
            let g2 = guard_on(store.clone(), policies.clone(), limiter, &clock2);
            let w = g2
                .limits()
                .policy(&owner, ActionClass::Write)
                .await
                .unwrap();
            assert_eq!(w.subject, Some(hour(5)), "{name}");
            let l = g2
                .limits()
                .policy(&owner, ActionClass::Login)
                .await
                .unwrap();
            assert!(l.fail_closed, "{name}");
            assert_eq!(l.host, ClassPolicy::default_for(ActionClass::Login).host);
            assert_eq!(
                g2.limits()
                    .policy(&owner, ActionClass::Service)
                    .await
                    .unwrap(),
                ClassPolicy::UNLIMITED
            );
        }
    });
}

/// A second instance on the same store (no cross-instance news on SQLite) enforces an
/// override within the documented cache lifetime.
#[test]
fn another_instance_enforces_an_override_within_the_cache_lifetime() {
    rt().block_on(async {
        let (_, store, policies, _dir) = stores_with_policies().remove(1);
        let clock = TestClock::at(T0);
        let keys: Arc<dyn tenantguard::KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let on = |p| {
            guard_on_keys(
                keys.clone(),
                store.clone(),
                p,
                RateLimiter::default(),
                &clock,
            )
        };
        let a = on(policies.clone());
        let b = on(policies);
        a.keys().create_tenant(&service("acme")).await.unwrap();
        let owner = member(&store, "acme", "olga", Role::Owner).await;
        let alice = member(&store, "acme", "alice", Role::Member).await;
        let wendy = member(&store, "acme", "wendy", Role::Member).await;
        assert_eq!(writes(&b, &wendy, "warm", 1).await, 1);
        a.limits()
            .set_overrides(&owner, &writes_override(2))
            .await
            .unwrap();
        clock.advance(tenantguard::ratelimit::OVERRIDE_TTL_SECS);
        assert_eq!(writes(&b, &alice, "b", 10).await, 2);
    });
}

/// Writes through a context take the caller's host key like the `*_from` calls: one user
/// flooding from one address is stopped there and still writes from another.
#[test]
fn writes_through_a_context_are_limited_per_host_key() {
    rt().block_on(async {
        let p = Policies::default()
            .set(
                ActionClass::Write,
                ClassPolicy {
                    subject: Some(hour(100)),
                    host: Some(hour(2)),
                    ..ClassPolicy::UNLIMITED
                },
            )
            .unwrap();
        let (g, store) = limited_guard(RateLimiter::in_process(p));
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let alice = member(&store, "acme", "alice", Role::Member).await;
        let from = |h: &'static str| Some(h);
        for i in 0..2 {
            g.records()
                .put_from(
                    &alice,
                    &format!("a{i}"),
                    "note",
                    None,
                    b"x",
                    from("10.0.0.1"),
                )
                .await
                .unwrap();
        }
        let e = g
            .records()
            .put_from(&alice, "a2", "note", None, b"x", from("10.0.0.1"))
            .await
            .unwrap_err();
        retry_after(&e);
        let cred = Credential::api_token(b"k".to_vec());
        retry_after(
            &g.records()
                .put_credential_from(&alice, "c1", &cred, from("10.0.0.1"))
                .await
                .unwrap_err(),
        );
        g.records()
            .put_credential_from(&alice, "c1", &cred, from("10.0.0.2"))
            .await
            .unwrap();
        // Without a host key only the subject cell applies.
        g.records()
            .put(&alice, "b1", "note", None, b"x")
            .await
            .unwrap();
    });
}

/// On PostgreSQL the news crosses instances: a second instance (its own store, pool and
/// listener) enforces an owner's override without waiting for the cache lifetime.
#[cfg(feature = "postgres")]
#[test]
fn on_postgres_another_instance_enforces_an_override_at_once() {
    rt().block_on(async {
        let Some(pg) = postgres_support::fresh("rl_overrides").await else {
            eprintln!("skipped: PostgreSQL not configured");
            return;
        };
        let (sa, sb) = (pg.store_arc().await, pg.store_arc().await);
        let clock = TestClock::at(T0);
        let keys = postgres_support::shared_provider();
        let a = guard_on_keys(
            keys.clone(),
            sa.clone(),
            sa.clone(),
            RateLimiter::default(),
            &clock,
        );
        a.keys().create_tenant(&service("acme")).await.unwrap();
        let store: Arc<dyn tenantguard::Store> = sa;
        let owner = member(&store, "acme", "olga", Role::Owner).await;
        member(&store, "acme", "alice", Role::Member).await;
        member(&store, "acme", "wendy", Role::Member).await;
        // The second instance; contexts from here on are vouched by its capability.
        let b = guard_on_keys(keys, sb.clone(), sb, RateLimiter::default(), &clock);
        let alice = user("acme", "alice", Role::Member);
        let wendy = user("acme", "wendy", Role::Member);
        assert_eq!(writes(&b, &wendy, "warm", 1).await, 1);
        a.limits()
            .set_overrides(&owner, &writes_override(2))
            .await
            .unwrap();
        // No clock advance: only the news can evict B's cached "no override".
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while b
            .limits()
            .policy(&alice, ActionClass::Write)
            .await
            .unwrap()
            .subject
            != Some(hour(2))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the other instance never heard of the override"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(writes(&b, &alice, "b", 10).await, 2);
    });
}
