//! Red team, issue 13: attacks on the principal model, each a test that fails if the attack
//! works. Every scenario runs on MemoryStore and SqliteStore, and on PostgresStore when
//! TENANTGUARD_PG_URL is set (see gov_support). A refused attacker must also change no
//! stored data: the tests read the victim's data back through the service capability.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::gov_support;

use std::sync::Arc;

use gov_support::*;
use tenantguard::audit::{AuditAction, AuditEvent};
use tenantguard::tenant::{PrincipalKind, Role, TenantError, UserId};
use tenantguard::tokens::{Action, IssuedToken, Scope, TokenError, TokenSpec};
use tenantguard::totp::TotpParams;
use tenantguard::{
    Credential, ErrorKind, Guard, LocalKeyProvider, MemoryStore, Store, TenantContext, TenantId,
};

const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

struct World {
    name: &'static str,
    store: Arc<dyn Store>,
    g: Guard,
    acme: TenantContext,
    clock: TestClock,
    cap: std::rc::Rc<tenantguard::ServiceRole>,
    _dir: Option<tempfile::TempDir>,
}

/// Per backend: tenant `acme` with a stored password `prod-db-password` and a TOTP seed
/// `otp`, and the guard's own service context.
async fn worlds() -> Vec<World> {
    let mut out = Vec::new();
    for (name, store, policies, dir) in stores_with_policies() {
        let clock = TestClock::at(T0);
        let g = guard_with_policies(store.clone(), policies, &clock);
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        g.records()
            .put_credential(&acme, "prod-db-password", &Credential::password("s3cret"))
            .await
            .unwrap();
        g.records()
            .put_credential(&acme, "otp", &Credential::totp_seed(SEED))
            .await
            .unwrap();
        out.push(World {
            name,
            store,
            g,
            acme,
            clock,
            cap: tg_cap::cap(),
            _dir: dir,
        });
    }
    out
}

fn a(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

impl World {
    /// This world's guard's service context for tenant `t`.
    fn svc(&self, t: &str) -> TenantContext {
        TenantContext::service(TenantId::new(t).unwrap(), &self.cap)
    }

    async fn token(&self, agent: &str, scopes: Vec<Scope>) -> (IssuedToken, TenantContext) {
        self.token_spec(TokenSpec::read_only(a(agent), "t").scopes(scopes))
            .await
    }

    async fn token_spec(&self, spec: TokenSpec) -> (IssuedToken, TenantContext) {
        let t = self.g.tokens().create(&self.acme, spec).await.unwrap();
        let ctx = self
            .g
            .tokens()
            .authenticate(t.secret.expose())
            .await
            .unwrap()
            .context;
        (t, ctx)
    }

    async fn password(&self) -> Vec<u8> {
        self.g
            .records()
            .open_credential(&self.acme, "prod-db-password")
            .await
            .unwrap()
            .secret()
            .expose()
            .to_vec()
    }

    async fn actions(&self) -> Vec<(String, String)> {
        self.g
            .audit()
            .entries(&self.acme, 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action))
            .collect()
    }
}

#[track_caller]
fn refused<T: std::fmt::Debug>(r: tenantguard::Result<T>, what: &str) -> tenantguard::Error {
    match r {
        Ok(v) => panic!("attack worked: {what}: {v:?}"),
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::AuthenticationFailed
                ),
                "{what}: refused for the wrong reason: {e:?}"
            );
            e
        }
    }
}

fn now_u64(w: &World) -> u64 {
    w.clock.now() as u64
}

// ---- Issue item 1: scopes became a tenant-wide role ----

#[test]
fn attack_1a_write_on_runs_cannot_overwrite_a_credential() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token("bot", vec![Scope::new("runs/*", Action::Write)])
                .await;
            refused(
                w.g.records()
                    .put_credential(&bot, "prod-db-password", &Credential::password("pwned"))
                    .await,
                w.name,
            );
            refused(w.g.records().delete(&bot, "prod-db-password").await, w.name);
            assert_eq!(w.password().await, b"s3cret", "{}", w.name);
        }
    });
}

#[test]
fn attack_1b_write_on_runs_cannot_get_totp_codes() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token("bot", vec![Scope::new("runs/*", Action::Write)])
                .await;
            refused(
                w.g.records()
                    .totp_code(&bot, "otp", &TotpParams::default(), "harvest")
                    .await,
                w.name,
            );
        }
    });
}

#[test]
fn attack_1c_admin_on_one_resource_cannot_mint_a_wildcard_admin() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token("bot", vec![Scope::new("runs/1", Action::Admin)])
                .await;
            let spec = TokenSpec::read_only(a("bot2"), "escalate")
                .scopes(vec![Scope::new("*", Action::Admin)]);
            refused(w.g.tokens().create(&bot, spec).await, w.name);
            assert!(
                w.g.tokens()
                    .list(&w.acme, Some(&a("bot2")), None, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}",
                w.name
            );
        }
    });
}

#[test]
fn attack_1d_token_admin_cannot_mint_for_another_agent_or_widen() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token(
                    "bot",
                    vec![
                        Scope::new("tokens", Action::Admin),
                        Scope::new("runs/*", Action::Read),
                    ],
                )
                .await;
            let other = TokenSpec::read_only(a("bot2"), "x")
                .scopes(vec![Scope::read("runs/*")])
                .expires_in(60);
            let e = refused(w.g.tokens().create(&bot, other).await, w.name);
            assert!(matches!(
                e,
                tenantguard::Error::Token(TokenError::Widening(_))
            ));
            let wider = TokenSpec::read_only(a("bot"), "x")
                .scopes(vec![Scope::read("*")])
                .expires_in(60);
            refused(w.g.tokens().create(&bot, wider).await, w.name);
            let write = TokenSpec::read_only(a("bot"), "x")
                .scopes(vec![Scope::new("runs/1", Action::Write)])
                .expires_in(60);
            refused(w.g.tokens().create(&bot, write).await, w.name);
            // Within its own scopes it may mint, for itself.
            let ok = TokenSpec::read_only(a("bot"), "child")
                .scopes(vec![Scope::read("runs/7/*")])
                .expires_in(60);
            w.g.tokens().create(&bot, ok).await.unwrap();
        }
    });
}

#[test]
fn attack_1e_minted_tokens_die_with_the_minters_kill() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token(
                    "bot",
                    vec![
                        Scope::new("tokens", Action::Admin),
                        Scope::new("runs/*", Action::Read),
                    ],
                )
                .await;
            let child =
                w.g.tokens()
                    .create(
                        &bot,
                        TokenSpec::read_only(a("bot"), "child").scopes(vec![Scope::read("runs/*")]),
                    )
                    .await
                    .unwrap();
            w.g.tokens().kill_agent(&w.acme, &a("bot")).await.unwrap();
            refused(
                w.g.tokens().authenticate(child.secret.expose()).await,
                w.name,
            );
        }
    });
}

#[test]
fn attack_1f_agent_with_lifetime_cannot_mint_a_longer_one() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token_spec(
                    TokenSpec::read_only(a("bot"), "short")
                        .scopes(vec![Scope::new("tokens", Action::Admin)])
                        .expires_in(60),
                )
                .await;
            for spec in [
                TokenSpec::read_only(a("bot"), "forever")
                    .scopes(vec![Scope::new("tokens", Action::Admin)]),
                TokenSpec::read_only(a("bot"), "longer")
                    .scopes(vec![Scope::new("tokens", Action::Admin)])
                    .expires_in(3600),
            ] {
                refused(w.g.tokens().create(&bot, spec).await, w.name);
            }
        }
    });
}

// ---- Item 2: a 60-second token becomes a 30-day session ----

#[test]
fn attack_2_agent_token_cannot_become_a_session() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token_spec(
                    TokenSpec::read_only(a("bot"), "short")
                        .scopes(vec![Scope::read("*")])
                        .expires_in(60),
                )
                .await;
            let e = refused(w.g.sessions().create(&bot, "laptop").await, w.name);
            assert!(matches!(
                e,
                tenantguard::Error::Tenant(TenantError::WrongPrincipal {
                    kind: PrincipalKind::Agent,
                    ..
                })
            ));
            refused(w.g.sessions().list(&bot, None, 10).await, w.name);
            let admin = member(&w.store, "acme", "ada", Role::Admin).await;
            assert!(
                w.g.sessions()
                    .list(&admin, Some(&a("bot")), 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}",
                w.name
            );
        }
    });
}

// ---- Item 4: TOTP codes for a caller-chosen time ----

#[test]
fn attack_4_totp_codes_only_for_the_guard_clock() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            let rev = tenantguard::reveal::Revealer::new(w.g.clone(), Arc::new(Accept));
            let now = now_u64(&w);
            for t in [now + 30 * 86_400, now + 61, now - 61, 0, u64::MAX] {
                refused(
                    rev.totp_code(&mia, "otp", &TotpParams::default(), t, "harvest")
                        .await,
                    w.name,
                );
            }
            for t in [now, now + 30, now - 30] {
                rev.totp_code(&mia, "otp", &TotpParams::default(), t, "login")
                    .await
                    .unwrap();
            }
            // Audited with the counter.
            let entries = w.g.audit().entries(&w.acme, 0, 1000).await.unwrap();
            let totp: Vec<_> = entries
                .iter()
                .filter(|e| e.action == "credential.totp")
                .collect();
            assert_eq!(totp.len(), 3, "{}", w.name);
            assert_eq!(totp[0].actor, "user:mia");
            assert_eq!(
                totp[0].details.get("counter").map(String::as_str),
                Some((now / 30).to_string().as_str())
            );
        }
    });
}

struct Accept;
impl tenantguard::reveal::OpenObserver for Accept {
    fn record(&self, _: &tenantguard::reveal::OpenEvent) -> Result<(), String> {
        Ok(())
    }
}

// ---- Item 5: an owner moves its keys into another customer's BYOK provider ----

#[tokio::test]
async fn attack_5_owner_cannot_use_another_customers_key_provider() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let g = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .tenant_key_provider("globex-kms", LocalKeyProvider::ephemeral())
        .allow_tenant_key_provider("globex-kms", TenantId::new("globex").unwrap())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let acme = service("acme");
    g.keys().create_tenant(&acme).await.unwrap();
    g.keys().create_tenant(&service("globex")).await.unwrap();
    let owner = user("acme", "olga", Role::Owner);
    refused(
        g.keys().set_provider(&owner, Some("globex-kms")).await,
        "owner picks a provider",
    );
    // Even the service capability cannot move acme into globex's provider.
    let e = g
        .keys()
        .set_provider(&acme, Some("globex-kms"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(g.keys().provider(&acme).await.unwrap(), None);
    g.keys()
        .set_provider(&service("globex"), Some("globex-kms"))
        .await
        .unwrap();
}

// ---- Item 6: scope grammar ----

#[test]
fn attack_6a_multibyte_scope_is_a_typed_error() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            for bad in ["é*", "runs/€*", "日本*", "runs/*/é", "ü/../x", "runs/\u{0}"] {
                let spec = TokenSpec::read_only(a("bot"), "x").scopes(vec![Scope::read(bad)]);
                let e = w.g.tokens().create(&w.acme, spec).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
            }
        }
    });
}

#[test]
fn attack_6b_prefix_scope_does_not_traverse() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, _) = w.token("bot", vec![Scope::read("runs/*")]).await;
            for res in [
                "runs/../admin/keys",
                "runs/./x",
                "runs//x",
                "runs/",
                "runs",
                "runsx/1",
                "ｒｕｎｓ/1",
            ] {
                let e =
                    w.g.tokens()
                        .verify(t.secret.expose(), res, Action::Read)
                        .await
                        .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{res}");
            }
            w.g.tokens()
                .verify(t.secret.expose(), "runs/1", Action::Read)
                .await
                .unwrap();
        }
    });
}

// ---- Item 7: agent id equal to a member's user id ----

#[test]
fn attack_7_agent_named_like_the_owner_is_audited_as_an_agent() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, fake) = w
                .token("olga", vec![Scope::new("audit", Action::Write)])
                .await;
            w.g.audit()
                .record(
                    &fake,
                    AuditEvent::new(AuditAction::PermissionChange, "member:eve"),
                )
                .await
                .unwrap();
            let actions = w.actions().await;
            let last = actions.last().unwrap();
            assert_eq!(last.0, "agent:olga", "{}", w.name);
            assert!(!actions
                .iter()
                .any(|(actor, action)| actor == "user:olga" && action == "permission.change"));
        }
    });
}

// ---- Item 8: reseal returns a foreign value unauthenticated ----

#[test]
fn attack_8_reseal_authenticates_even_under_the_active_key() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let v = w.g.records().seal(&w.acme, "ctx", b"mine").await.unwrap();
            let mut bytes = v.as_bytes().to_vec();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let forged = tenantguard::SealedValue::from_vec(bytes).unwrap();
            let e =
                w.g.records()
                    .reseal(&w.acme, "ctx", &forged)
                    .await
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Integrity, "{}", w.name);
            // Another tenant's value with the same key id.
            let globex = TenantContext::service(TenantId::new("globex").unwrap(), &w.cap);
            w.g.keys().create_tenant(&globex).await.unwrap();
            let theirs = w.g.records().seal(&globex, "ctx", b"theirs").await.unwrap();
            assert_eq!(theirs.key_id(), v.key_id());
            assert!(w.g.records().reseal(&w.acme, "ctx", &theirs).await.is_err());
            // Wrong context, same tenant.
            assert!(w.g.records().reseal(&w.acme, "other", &v).await.is_err());
        }
    });
}

// ---- Item 9: capability, one plaintext path, reserved actions, shred ----

#[test]
fn attack_9a_users_and_agents_cannot_read_plaintext() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let owner = member(&w.store, "acme", "olga", Role::Owner).await;
            let (_, bot) = w
                .token(
                    "bot",
                    vec![Scope::read("*"), Scope::new("*", Action::Admin)],
                )
                .await;
            let v = w.g.records().seal(&w.acme, "ctx", b"x").await.unwrap();
            for ctx in [&owner, &bot] {
                refused(
                    w.g.records().open_credential(ctx, "prod-db-password").await,
                    w.name,
                );
                refused(
                    w.g.records().open_record(ctx, "prod-db-password").await,
                    w.name,
                );
                refused(
                    w.g.records()
                        .open_credential_with_reason(ctx, "prod-db-password", "x")
                        .await,
                    w.name,
                );
                refused(w.g.records().open(ctx, "ctx", &v).await, w.name);
                refused(w.g.records().reseal(ctx, "ctx", &v).await, w.name);
                let rev = tenantguard::reveal::Revealer::new(w.g.clone(), Arc::new(Accept));
                refused(
                    rev.open_credential(ctx, "prod-db-password", "x").await,
                    w.name,
                );
            }
        }
    });
}

#[test]
fn attack_9b_a_capability_from_another_guard_does_not_work() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            // Any code can build a guard of its own: its capability opens nothing here.
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(LocalKeyProvider::ephemeral())
                .store(MemoryStore::new())
                .build_with_service()
                .unwrap();
            let forged = TenantContext::service(TenantId::new("acme").unwrap(), &rogue_cap);
            refused(
                w.g.records()
                    .open_credential(&forged, "prod-db-password")
                    .await,
                w.name,
            );
            refused(w.g.keys().shred(&forged).await, w.name);
            refused(
                w.g.keys().rewrap(&rogue_cap, None, 10, |_| {}).await,
                w.name,
            );
            refused(
                w.g.retention().sweep_all(&rogue_cap, None, 10).await,
                w.name,
            );
            assert_eq!(w.password().await, b"s3cret");
        }
    });
}

#[test]
fn attack_9c_every_plaintext_release_is_audited() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let v = w.g.records().seal(&w.acme, "col/1", b"x").await.unwrap();
            let before = w.actions().await.len();
            w.g.records().open(&w.acme, "col/1", &v).await.unwrap();
            w.g.records()
                .open_credential(&w.acme, "prod-db-password")
                .await
                .unwrap();
            w.g.records()
                .open_record(&w.acme, "prod-db-password")
                .await
                .unwrap();
            let after = w.actions().await;
            assert_eq!(after.len(), before + 3, "{}", w.name);
            assert!(after[before..]
                .iter()
                .all(|(actor, action)| actor == "service" && action == "credential.open"));
        }
    });
}

#[test]
fn attack_9d_callers_cannot_append_reserved_audit_actions() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let vic = member(&w.store, "acme", "vic", Role::Viewer).await;
            let (_, bot) = w
                .token("bot", vec![Scope::new("audit", Action::Write)])
                .await;
            for ctx in [&vic, &bot, &w.acme] {
                for action in [
                    AuditAction::TenantShred,
                    AuditAction::CredentialOpen,
                    AuditAction::TokenRevoke,
                    AuditAction::KeyRotate,
                    AuditAction::TotpCode,
                ] {
                    let e =
                        w.g.audit()
                            .record(ctx, AuditEvent::new(action, "tenant:acme"))
                            .await
                            .unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{action}");
                }
            }
            assert!(!w.actions().await.iter().any(|(_, a)| a == "tenant.shred"));
        }
    });
}

#[test]
fn attack_9e_shred_revokes_tokens_sessions_and_held_agent_contexts() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, bot) = w.token("bot", vec![Scope::read("*")]).await;
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            let s = w.g.sessions().create(&mia, "laptop").await.unwrap();
            w.g.keys().shred(&w.acme).await.unwrap();
            refused(w.g.tokens().authenticate(t.secret.expose()).await, w.name);
            refused(w.g.keys().versions(&bot).await, w.name);
            let e =
                w.g.sessions()
                    .refresh(s.refresh_token.expose())
                    .await
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AuthenticationFailed, "{}", w.name);
        }
    });
}

// ---- More attacks of our own ----

#[test]
fn attack_revoked_token_context_stops_at_once() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, bot) = w.token("bot", vec![Scope::read("keys")]).await;
            w.g.keys().versions(&bot).await.unwrap();
            w.g.tokens().revoke(&w.acme, &t.id).await.unwrap();
            let e = refused(w.g.keys().versions(&bot).await, w.name);
            assert_eq!(e.kind(), ErrorKind::AuthenticationFailed);
        }
    });
}

#[test]
fn attack_killed_agent_context_stops_at_once() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w.token("bot", vec![Scope::read("keys")]).await;
            w.g.tokens().kill_agent(&w.acme, &a("bot")).await.unwrap();
            refused(w.g.keys().versions(&bot).await, w.name);
            // Another agent is untouched.
            let (_, other) = w.token("other", vec![Scope::read("keys")]).await;
            w.g.keys().versions(&other).await.unwrap();
        }
    });
}

#[test]
fn attack_expired_token_context_stops_when_time_passes() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token_spec(
                    TokenSpec::read_only(a("bot"), "t")
                        .scopes(vec![Scope::read("keys")])
                        .expires_in(60),
                )
                .await;
            w.g.keys().versions(&bot).await.unwrap();
            w.clock.advance(61);
            refused(w.g.keys().versions(&bot).await, w.name);
        }
    });
}

#[test]
fn attack_agent_scopes_are_checked_per_operation() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, reader) = w.token("reader", vec![Scope::read("*")]).await;
            // Read on everything writes nothing, manages nothing.
            refused(
                w.g.records().put(&reader, "r1", "note", None, b"x").await,
                w.name,
            );
            refused(w.g.records().seal(&reader, "c", b"x").await, w.name);
            refused(w.g.keys().rotate(&reader).await, w.name);
            refused(w.g.keys().shred(&reader).await, w.name);
            refused(w.g.retention().erase_tenant(&reader, 10).await, w.name);
            refused(
                w.g.tokens()
                    .create(&reader, TokenSpec::read_only(a("reader"), "x"))
                    .await,
                w.name,
            );
            refused(w.g.tokens().revoke(&reader, "tok_x").await, w.name);
            refused(w.g.tokens().kill_agent(&reader, &a("other")).await, w.name);
            refused(w.g.keys().create_tenant(&reader).await, w.name);
            refused(
                w.g.retention()
                    .set(
                        &reader,
                        "note",
                        tenantguard::store::RetentionWindow::Secs(60),
                    )
                    .await,
                w.name,
            );
            // But it reads what it is scoped to.
            w.g.keys().versions(&reader).await.unwrap();
            w.g.audit().entries(&reader, 0, 10).await.unwrap();
        }
    });
}

#[test]
fn attack_record_scope_names_class_and_id() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token(
                    "bot",
                    vec![
                        Scope::new("records/note/*", Action::Write),
                        Scope::new("records/note/*", Action::Delete),
                    ],
                )
                .await;
            w.g.records()
                .put(&bot, "n1", "note", None, b"x")
                .await
                .unwrap();
            assert!(w.g.records().delete(&bot, "n1").await.unwrap());
            // Another class with the same id space is out of reach.
            refused(
                w.g.records()
                    .put_credential(&bot, "n2", &Credential::password("x"))
                    .await,
                w.name,
            );
            refused(w.g.records().delete(&bot, "prod-db-password").await, w.name);
            assert_eq!(w.password().await, b"s3cret");
        }
    });
}

#[test]
fn attack_totp_scope_is_per_credential() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            w.g.records()
                .put_credential(&w.acme, "otp2", &Credential::totp_seed(SEED))
                .await
                .unwrap();
            let (_, bot) = w.token("bot", vec![Scope::read("totp/otp")]).await;
            w.g.records()
                .totp_code(&bot, "otp", &TotpParams::default(), "run 1")
                .await
                .unwrap();
            refused(
                w.g.records()
                    .totp_code(&bot, "otp2", &TotpParams::default(), "run 1")
                    .await,
                w.name,
            );
            // A viewer may not use credentials at all.
            let vic = member(&w.store, "acme", "vic", Role::Viewer).await;
            refused(
                w.g.records()
                    .totp_code(&vic, "otp", &TotpParams::default(), "x")
                    .await,
                w.name,
            );
        }
    });
}

#[test]
fn attack_agents_never_manage_sessions_or_members() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w.token("bot", vec![Scope::new("*", Action::Admin)]).await;
            refused(w.g.sessions().revoke_user(&bot, &a("mia")).await, w.name);
            refused(w.g.sessions().list(&bot, Some(&a("mia")), 10).await, w.name);
            let dir = tenantguard::tenant::MemoryDirectory::new();
            let e = dir.set_member(&bot, &a("eve"), Role::Owner).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        }
    });
}

#[test]
fn attack_reserved_actions_even_with_full_audit_scope() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w.token("bot", vec![Scope::new("*", Action::Write)]).await;
            let e =
                w.g.audit()
                    .record(&bot, AuditEvent::new(AuditAction::AgentKill, "agent:x"))
                    .await
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
            // Host actions still work.
            w.g.audit()
                .record(&bot, AuditEvent::new(AuditAction::PolicyChange, "egress"))
                .await
                .unwrap();
        }
    });
}

#[test]
fn attack_long_multibyte_resource_never_panics() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, _) = w.token("bot", vec![Scope::read("runs/*")]).await;
            for res in [
                "é".repeat(200),
                "€".repeat(100),
                format!("runs/{}", "日".repeat(50)),
            ] {
                let r =
                    w.g.tokens()
                        .verify(t.secret.expose(), &res, Action::Write)
                        .await;
                assert_eq!(r.unwrap_err().kind(), ErrorKind::PermissionDenied);
            }
        }
    });
}

#[test]
fn attack_scope_grammar_table() {
    for bad in [
        "", "*x", "x*", "a*b", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", "..", "*/a", "a/**",
        "a\n", "a\u{7f}",
    ] {
        let spec = TokenSpec::read_only(a("bot"), "x").scopes(vec![Scope::read(bad)]);
        rt().block_on(async {
            let w = &worlds().await[0];
            let e = w.g.tokens().create(&w.acme, spec).await.unwrap_err();
            assert!(
                matches!(e, tenantguard::Error::Token(TokenError::InvalidScope(_))),
                "{bad:?}: {e:?}"
            );
        });
    }
}

#[test]
fn attack_refused_agent_writes_nothing_to_the_audit_log() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w.token("bot", vec![Scope::read("runs/*")]).await;
            let before = w.actions().await.len();
            let _ = w.g.keys().shred(&bot).await;
            let _ = w.g.keys().rotate(&bot).await;
            let _ =
                w.g.records()
                    .put_credential(&bot, "x", &Credential::password("y"))
                    .await;
            let _ =
                w.g.audit()
                    .record(&bot, AuditEvent::new(AuditAction::PolicyChange, "x"))
                    .await;
            assert_eq!(w.actions().await.len(), before, "{}", w.name);
            assert_eq!(w.g.keys().versions(&w.acme).await.unwrap().len(), 1);
        }
    });
}

#[test]
fn attack_record_id_with_dot_segments_cannot_escape_the_class_scope() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token("bot", vec![Scope::new("records/note/*", Action::Write)])
                .await;
            for (id, class) in [
                ("../password/prod-db-password", "note"),
                ("x", "note/../password"),
                ("./x", "note"),
                ("a//b", "note"),
            ] {
                refused(w.g.records().put(&bot, id, class, None, b"x").await, w.name);
            }
            assert_eq!(w.password().await, b"s3cret");
        }
    });
}

#[test]
fn attack_seal_context_with_dot_segments_is_out_of_scope() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token("bot", vec![Scope::new("values/runs/*", Action::Write)])
                .await;
            w.g.records().seal(&bot, "runs/1", b"x").await.unwrap();
            for ctx in ["runs/../credentials/x", "runs//x", "credentials/x", "runs"] {
                refused(w.g.records().seal(&bot, ctx, b"x").await, w.name);
            }
        }
    });
}

#[test]
fn attack_expiry_holds_at_the_exact_second() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, bot) = w
                .token_spec(
                    TokenSpec::read_only(a("bot"), "t")
                        .scopes(vec![Scope::read("keys")])
                        .expires_in(60),
                )
                .await;
            w.clock.advance(59);
            w.g.keys().versions(&bot).await.unwrap();
            w.clock.advance(1);
            refused(w.g.keys().versions(&bot).await, w.name);
            refused(w.g.tokens().authenticate(t.secret.expose()).await, w.name);
        }
    });
}

#[test]
fn attack_scope_matching_is_case_and_lookalike_exact() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, _) = w.token("bot", vec![Scope::read("runs/*")]).await;
            for res in [
                "Runs/1",
                "RUNS/1",
                "runs\u{2215}1",
                "ｒuns/1",
                "runs/1".replace('r', "\u{0433}").as_str(),
            ] {
                let e =
                    w.g.tokens()
                        .verify(t.secret.expose(), res, Action::Read)
                        .await
                        .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{res}");
            }
        }
    });
}

#[test]
fn attack_read_on_tokens_cannot_revoke_or_kill() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (victim, vctx) = w.token("victim", vec![Scope::read("keys")]).await;
            let (_, bot) = w.token("bot", vec![Scope::read("tokens")]).await;
            assert!(!w
                .g
                .tokens()
                .list(&bot, None, None, 10)
                .await
                .unwrap()
                .is_empty());
            refused(w.g.tokens().revoke(&bot, &victim.id).await, w.name);
            refused(w.g.tokens().kill_agent(&bot, &a("victim")).await, w.name);
            // The victim is untouched.
            w.g.keys().versions(&vctx).await.unwrap();
        }
    });
}

#[test]
fn attack_a_chain_of_self_minted_tokens_dies_with_one_kill() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let scopes = vec![Scope::new("tokens", Action::Admin), Scope::read("keys")];
            let (_, gen0) = w.token("bot", scopes.clone()).await;
            let mut ctx = gen0;
            let mut secrets = Vec::new();
            for i in 0..3 {
                let t = w
                    .g
                    .tokens()
                    .create(
                        &ctx,
                        TokenSpec::read_only(a("bot"), format!("gen{i}")).scopes(scopes.clone()),
                    )
                    .await
                    .unwrap();
                ctx =
                    w.g.tokens()
                        .authenticate(t.secret.expose())
                        .await
                        .unwrap()
                        .context;
                secrets.push(t.secret.expose().to_owned());
            }
            w.g.tokens().kill_agent(&w.acme, &a("bot")).await.unwrap();
            for s in &secrets {
                refused(w.g.tokens().authenticate(s).await, w.name);
            }
            refused(w.g.keys().versions(&ctx).await, w.name);
        }
    });
}

#[test]
fn attack_agent_without_audit_read_cannot_read_or_export_the_log() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w
                .token("bot", vec![Scope::new("audit", Action::Write)])
                .await;
            refused(w.g.audit().entries(&bot, 0, 10).await, w.name);
            refused(w.g.audit().verify(&bot).await, w.name);
            refused(w.g.audit().export(&bot, Vec::new()).await, w.name);
        }
    });
}

#[test]
fn attack_agent_cannot_erase_subjects_or_sweep_without_retention_admin() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_, bot) = w.token("bot", vec![Scope::new("*", Action::Delete)]).await;
            refused(
                w.g.retention().erase_subject(&bot, "jane", 10).await,
                w.name,
            );
            refused(w.g.retention().sweep(&bot, 10, |_| {}).await, w.name);
            assert_eq!(w.password().await, b"s3cret");
        }
    });
}

#[test]
fn attack_huge_resource_names_never_panic() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (t, _) = w.token("bot", vec![Scope::read("*")]).await;
            let huge = "é".repeat(100_000);
            w.g.tokens()
                .verify(t.secret.expose(), &huge, Action::Read)
                .await
                .unwrap();
            let e =
                w.g.tokens()
                    .verify(t.secret.expose(), &huge, Action::Write)
                    .await
                    .unwrap_err();
            assert!(e.to_string().len() < 1024, "the echo is bounded");
        }
    });
}

#[test]
fn attack_user_context_cannot_use_another_stores_capability_to_vouch_plaintext() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            // A user vouched by a rogue capability is still only a user: no plaintext, and
            // sensitive operations by role only.
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(LocalKeyProvider::ephemeral())
                .store(MemoryStore::new())
                .build_with_service()
                .unwrap();
            let fake_owner = TenantContext::resolved(tenantguard::tenant::Resolved::vouch(
                &rogue_cap,
                TenantId::new("acme").unwrap(),
                a("mallory"),
                Role::Owner,
            ));
            refused(
                w.g.records()
                    .open_credential(&fake_owner, "prod-db-password")
                    .await,
                w.name,
            );
            refused(w.g.keys().set_provider(&fake_owner, None).await, w.name);
        }
    });
}

// ---- Item 3: sessions and sensitive operations follow the membership in the store ----

/// `olga` (owner, with a login session and its access-token context) and `otto` (a
/// second owner who removes or demotes her).
async fn olga_with_session(w: &World) -> (tenantguard::auth::SessionTokens, TenantContext) {
    member(&w.store, "acme", "otto", Role::Owner).await;
    let olga = member(&w.store, "acme", "olga", Role::Owner).await;
    let s = w.g.sessions().create(&olga, "laptop").await.unwrap();
    let ctx =
        w.g.sessions()
            .verify_access_token(s.access_token.expose())
            .await
            .unwrap()
            .context;
    (s, ctx)
}

fn otto() -> TenantContext {
    user("acme", "otto", Role::Owner)
}

async fn keys_intact(w: &World) {
    let keys = w.g.keys().versions(&w.acme).await.unwrap();
    assert!(
        keys.iter()
            .any(|k| k.state == tenantguard::KeyState::Active),
        "{}: the tenant was shredded",
        w.name
    );
    assert_eq!(w.password().await, b"s3cret", "{}", w.name);
}

#[test]
fn attack_3_removed_owner_refreshes_and_shreds() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (s, cached) = olga_with_session(&w).await;
            assert!(w.g.members().remove(&otto(), &a("olga")).await.unwrap());
            // The refresh fails at once, with its own typed error.
            let e = refused(
                w.g.sessions().refresh(s.refresh_token.expose()).await,
                w.name,
            );
            assert!(
                matches!(
                    e,
                    tenantguard::Error::Auth(tenantguard::auth::AuthError::MembershipEnded)
                        | tenantguard::Error::Auth(tenantguard::auth::AuthError::Revoked)
                ),
                "{}: {e:?}",
                w.name
            );
            // The access token still verifies (stateless, until it expires), but the
            // role it carries is never trusted for a sensitive operation.
            let e = refused(w.g.keys().shred(&cached).await, w.name);
            assert!(
                matches!(e, tenantguard::Error::Tenant(TenantError::NotAMember)),
                "{}: {e:?}",
                w.name
            );
            refused(w.g.keys().rotate(&cached).await, w.name);
            refused(w.g.retention().erase_tenant(&cached, 100).await, w.name);
            keys_intact(&w).await;
        }
    });
}

#[test]
fn attack_removed_members_refresh_fails_even_after_being_added_back() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (s, _) = olga_with_session(&w).await;
            w.g.members().remove(&otto(), &a("olga")).await.unwrap();
            w.g.members()
                .set(&otto(), &a("olga"), Role::Viewer)
                .await
                .unwrap();
            // Removal revoked her sessions: re-adding her needs a new login.
            let e = refused(
                w.g.sessions().refresh(s.refresh_token.expose()).await,
                w.name,
            );
            assert!(
                matches!(e, tenantguard::Error::Auth(_)),
                "{}: {e:?}",
                w.name
            );
            let list =
                w.g.sessions()
                    .list(&otto(), Some(&a("olga")), 10)
                    .await
                    .unwrap();
            assert!(list.iter().all(|s| s.revoked_at.is_some()), "{}", w.name);
        }
    });
}

#[test]
fn attack_demoted_owner_refresh_gets_the_new_role() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (s, cached) = olga_with_session(&w).await;
            assert_eq!(
                w.g.members()
                    .set(&otto(), &a("olga"), Role::Viewer)
                    .await
                    .unwrap(),
                Some(Role::Owner)
            );
            let t =
                w.g.sessions()
                    .refresh(s.refresh_token.expose())
                    .await
                    .unwrap();
            let fresh =
                w.g.sessions()
                    .verify_access_token(t.access_token.expose())
                    .await
                    .unwrap()
                    .context;
            assert_eq!(
                fresh.principal(),
                &tenantguard::tenant::Principal::User {
                    user: a("olga"),
                    role: Role::Viewer
                },
                "{}",
                w.name
            );
            // Neither the fresh nor the cached (owner) context can do owner things.
            for ctx in [&fresh, &cached] {
                refused(w.g.keys().rotate(ctx).await, w.name);
                refused(w.g.keys().shred(ctx).await, w.name);
                refused(
                    w.g.tokens()
                        .create(ctx, TokenSpec::read_only(a("bot"), "x"))
                        .await,
                    w.name,
                );
            }
            keys_intact(&w).await;
        }
    });
}

#[test]
fn attack_removed_admin_cannot_manage_tokens_with_a_cached_context() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            let (t, _) = w.token("bot", vec![Scope::read("runs/*")]).await;
            w.g.members().remove(&w.acme, &a("ada")).await.unwrap();
            refused(
                w.g.tokens()
                    .create(&ada, TokenSpec::read_only(a("bot2"), "x"))
                    .await,
                w.name,
            );
            refused(w.g.tokens().list(&ada, None, None, 10).await, w.name);
            refused(w.g.tokens().revoke(&ada, &t.id).await, w.name);
            refused(w.g.tokens().kill_agent(&ada, &a("bot")).await, w.name);
            // The token she could have revoked still works.
            w.g.tokens().authenticate(t.secret.expose()).await.unwrap();
            assert!(
                w.g.tokens()
                    .list(&w.acme, Some(&a("bot2")), None, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}",
                w.name
            );
        }
    });
}

#[test]
fn attack_removed_admin_cannot_change_policies_or_sweep() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            w.g.members().remove(&w.acme, &a("ada")).await.unwrap();
            refused(
                w.g.retention()
                    .set(
                        &ada,
                        "password",
                        tenantguard::store::RetentionWindow::Secs(1),
                    )
                    .await,
                w.name,
            );
            refused(w.g.portal().mark(&ada, "sso.acme.com", true).await, w.name);
            refused(w.g.retention().sweep(&ada, 100, |_| {}).await, w.name);
            refused(
                w.g.sessions().revoke_user(&ada, &a("someone")).await,
                w.name,
            );
            assert_eq!(
                w.g.portal().mark_of(&w.acme, "sso.acme.com").await.unwrap(),
                None
            );
            assert_eq!(w.password().await, b"s3cret", "{}", w.name);
        }
    });
}

#[test]
fn attack_demoted_admin_cannot_manage_members_with_a_stale_context() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            member(&w.store, "acme", "mia", Role::Member).await;
            w.g.members()
                .set(&w.acme, &a("ada"), Role::Member)
                .await
                .unwrap();
            refused(
                w.g.members().set(&ada, &a("eve"), Role::Admin).await,
                w.name,
            );
            refused(
                w.g.members().set(&ada, &a("ada"), Role::Admin).await,
                w.name,
            );
            refused(w.g.members().remove(&ada, &a("mia")).await, w.name);
            assert_eq!(w.g.members().role(&w.acme, &a("eve")).await.unwrap(), None);
            assert_eq!(
                w.g.members().role(&w.acme, &a("ada")).await.unwrap(),
                Some(Role::Member)
            );
            assert_eq!(
                w.g.members().role(&w.acme, &a("mia")).await.unwrap(),
                Some(Role::Member)
            );
        }
    });
}

#[test]
fn attack_admin_cannot_grant_or_take_the_owner_role() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            member(&w.store, "acme", "olga", Role::Owner).await;
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            refused(
                w.g.members().set(&ada, &a("ada"), Role::Owner).await,
                w.name,
            );
            refused(
                w.g.members().set(&ada, &a("mallory"), Role::Owner).await,
                w.name,
            );
            refused(
                w.g.members().set(&ada, &a("olga"), Role::Viewer).await,
                w.name,
            );
            refused(w.g.members().remove(&ada, &a("olga")).await, w.name);
            // Admins do manage non-owners.
            w.g.members()
                .set(&ada, &a("mia"), Role::Admin)
                .await
                .unwrap();
            assert_eq!(
                w.g.members().role(&w.acme, &a("olga")).await.unwrap(),
                Some(Role::Owner)
            );
            assert_eq!(
                w.g.members().role(&w.acme, &a("mallory")).await.unwrap(),
                None
            );
        }
    });
}

#[test]
fn attack_last_owner_can_be_neither_removed_nor_demoted_even_by_the_service() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let olga = member(&w.store, "acme", "olga", Role::Owner).await;
            for ctx in [&olga, &w.acme] {
                refused(w.g.members().remove(ctx, &a("olga")).await, w.name);
                refused(
                    w.g.members().set(ctx, &a("olga"), Role::Admin).await,
                    w.name,
                );
            }
            assert_eq!(
                w.g.members().role(&w.acme, &a("olga")).await.unwrap(),
                Some(Role::Owner)
            );
        }
    });
}

#[test]
fn attack_two_owners_demoting_each_other_at_once_leave_an_owner() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            for round in 0..5 {
                let (x, y) = (format!("x{round}"), format!("y{round}"));
                let tenant = format!("race{round}");
                w.g.keys().create_tenant(&w.svc(&tenant)).await.unwrap();
                let cx = member(&w.store, &tenant, &x, Role::Owner).await;
                let cy = member(&w.store, &tenant, &y, Role::Owner).await;
                let (g1, g2) = (w.g.clone(), w.g.clone());
                let (ax, ay) = (a(&x), a(&y));
                let r1 = tokio::spawn(async move { g1.members().remove(&cx, &ay).await.is_ok() });
                let r2 = tokio::spawn(async move { g2.members().remove(&cy, &ax).await.is_ok() });
                let (r1, r2) = (r1.await.unwrap(), r2.await.unwrap());
                assert!(!(r1 && r2), "{}: both owners removed each other", w.name);
                let left = w.g.members().list(&w.svc(&tenant), None, 10).await.unwrap();
                assert_eq!(
                    left.iter().filter(|m| m.role == Role::Owner).count(),
                    1,
                    "{}: {left:?}",
                    w.name
                );
            }
        }
    });
}

#[test]
fn attack_a_context_for_a_non_member_cannot_start_a_session_or_manage() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            // Vouched by a careless resolver as owner, but not a member in the store.
            let ghost = user("acme", "ghost", Role::Owner);
            let e = refused(w.g.sessions().create(&ghost, "x").await, w.name);
            assert!(
                matches!(e, tenantguard::Error::Tenant(TenantError::NotAMember)),
                "{e:?}"
            );
            refused(
                w.g.members().set(&ghost, &a("ghost"), Role::Owner).await,
                w.name,
            );
            refused(w.g.keys().shred(&ghost).await, w.name);
            refused(w.g.members().list(&ghost, None, 10).await, w.name);
            assert_eq!(
                w.g.members().role(&w.acme, &a("ghost")).await.unwrap(),
                None
            );
            keys_intact(&w).await;
        }
    });
}

#[test]
fn attack_an_owner_elsewhere_is_nobody_here() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            w.g.keys().create_tenant(&w.svc("globex")).await.unwrap();
            member(&w.store, "globex", "bob", Role::Owner).await;
            // Confused deputy: bob's context claims acme, where he holds nothing.
            let bob_in_acme = user("acme", "bob", Role::Owner);
            refused(
                w.g.members()
                    .set(&bob_in_acme, &a("bob"), Role::Owner)
                    .await,
                w.name,
            );
            refused(w.g.keys().shred(&bob_in_acme).await, w.name);
            refused(w.g.keys().rotate(&bob_in_acme).await, w.name);
            assert_eq!(w.g.members().role(&w.acme, &a("bob")).await.unwrap(), None);
            keys_intact(&w).await;
        }
    });
}

#[test]
fn attack_agents_never_manage_members_even_with_a_wildcard_admin_scope() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            member(&w.store, "acme", "olga", Role::Owner).await;
            let (_, bot) = w.token("bot", vec![Scope::new("*", Action::Admin)]).await;
            for e in [
                w.g.members()
                    .set(&bot, &a("bot"), Role::Owner)
                    .await
                    .map(|_| ()),
                w.g.members().remove(&bot, &a("olga")).await.map(|_| ()),
                w.g.members().list(&bot, None, 10).await.map(|_| ()),
                w.g.members().role(&bot, &a("olga")).await.map(|_| ()),
            ] {
                let e = refused(e, w.name);
                assert!(
                    matches!(
                        e,
                        tenantguard::Error::Tenant(TenantError::WrongPrincipal { .. })
                    ),
                    "{e:?}"
                );
            }
            assert_eq!(w.g.members().role(&w.acme, &a("bot")).await.unwrap(), None);
        }
    });
}

#[test]
fn attack_member_changes_are_audited_with_the_true_actor_and_cannot_be_forged() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            member(&w.store, "acme", "olga", Role::Owner).await;
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            w.g.members()
                .set(&ada, &a("mia"), Role::Member)
                .await
                .unwrap();
            // Leaving is allowed, and its entry is written even though she is gone.
            w.g.members().remove(&ada, &a("ada")).await.unwrap();
            let e =
                w.g.audit()
                    .entries(&w.acme, 0, 1000)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|e| e.action == "member.change")
                    .map(|e| (e.actor, e.target, e.details.get("to").cloned()))
                    .collect::<Vec<_>>();
            assert_eq!(
                e,
                vec![
                    ("user:ada".into(), "user:mia".into(), Some("member".into())),
                    ("user:ada".into(), "user:ada".into(), Some("none".into())),
                ],
                "{}",
                w.name
            );
            let olga = user("acme", "olga", Role::Owner);
            refused(
                w.g.audit()
                    .record(
                        &olga,
                        AuditEvent::new(AuditAction::MemberChange, "user:mallory"),
                    )
                    .await,
                w.name,
            );
        }
    });
}

#[test]
fn attack_membership_removal_does_not_touch_an_agent_with_the_same_id() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            // id collision: agent "olga" and user "olga" are different principals.
            member(&w.store, "acme", "olga", Role::Owner).await;
            member(&w.store, "acme", "otto", Role::Owner).await;
            let (t, bot) = w.token("olga", vec![Scope::read("runs/*")]).await;
            w.g.members().remove(&otto(), &a("olga")).await.unwrap();
            w.g.tokens().authenticate(t.secret.expose()).await.unwrap();
            // And the agent named like an owner gets no owner power from that membership.
            w.g.members()
                .set(&w.acme, &a("olga"), Role::Owner)
                .await
                .unwrap();
            refused(w.g.keys().shred(&bot).await, w.name);
            refused(w.g.members().set(&bot, &a("x"), Role::Viewer).await, w.name);
            keys_intact(&w).await;
        }
    });
}

// ---- Item 10: SSO/MFA portals never receive a stored password ----

#[test]
fn attack_10_password_for_an_sso_portal_is_refused() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            w.g.portal().mark(&ada, "sso.acme.com", true).await.unwrap();
            let e = refused(
                w.g.portal()
                    .put_credential(
                        &mia,
                        "okta-pw",
                        "sso.acme.com",
                        &Credential::password("primary"),
                    )
                    .await,
                w.name,
            );
            assert!(
                matches!(
                    e,
                    tenantguard::Error::Portal(
                        tenantguard::portal::PortalError::SsoMfaPortal { .. }
                    )
                ),
                "{e:?}"
            );
            assert!(
                w.g.records()
                    .open_credential(&w.acme, "okta-pw")
                    .await
                    .is_err(),
                "{}: the password was stored",
                w.name
            );
            // Other credential kinds for the portal, and passwords elsewhere, are fine.
            w.g.portal()
                .put_credential(
                    &mia,
                    "okta-cookie",
                    "sso.acme.com",
                    &Credential::session_cookie("c"),
                )
                .await
                .unwrap();
            w.g.portal()
                .put_credential(
                    &mia,
                    "wiki-pw",
                    "wiki.example.org",
                    &Credential::password("p"),
                )
                .await
                .unwrap();
            // Unmarked, the password is accepted again; both are audited.
            w.g.portal()
                .mark(&ada, "sso.acme.com", false)
                .await
                .unwrap();
            w.g.portal()
                .put_credential(&mia, "okta-pw", "sso.acme.com", &Credential::password("p"))
                .await
                .unwrap();
            let marks: Vec<_> =
                w.g.audit()
                    .entries(&w.acme, 0, 1000)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|e| e.action == "portal.mark")
                    .map(|e| (e.actor, e.details.get("sso_mfa").cloned()))
                    .collect();
            assert_eq!(
                marks,
                vec![
                    ("user:ada".into(), Some("true".into())),
                    ("user:ada".into(), Some("false".into()))
                ],
                "{}",
                w.name
            );
        }
    });
}

#[test]
fn attack_portal_spellings_cannot_dodge_a_mark() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            w.g.portal()
                .mark(&w.acme, "acme.okta.com", true)
                .await
                .unwrap();
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            for (i, spelling) in [
                "ACME.OKTA.COM",
                "acme.okta.com.",
                "Acme.Okta.Com.",
                "login.acme.okta.com",
                "a.b.c.acme.okta.com",
            ]
            .into_iter()
            .enumerate()
            {
                let e = refused(
                    w.g.portal()
                        .put_credential(
                            &mia,
                            &format!("pw{i}"),
                            spelling,
                            &Credential::password("p"),
                        )
                        .await,
                    spelling,
                );
                assert_eq!(e.kind(), ErrorKind::PermissionDenied);
            }
            // Look-alikes and anything that is not a host name: a typed error, not a pass.
            for (i, bad) in [
                "acme.okta.cоm",  // Cyrillic o
                "ａcme.okta.com", // full-width a
                "https://acme.okta.com",
                "acme.okta.com:443",
                "acme.okta.com/login",
                "acme.okta.com\u{0}",
                "acme..okta.com",
                "*.okta.com",
                "acme.okta.com\u{200b}",
            ]
            .into_iter()
            .enumerate()
            {
                let e =
                    w.g.portal()
                        .put_credential(&mia, &format!("bad{i}"), bad, &Credential::password("p"))
                        .await
                        .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
            }
            // Different sites that merely contain the name are not covered.
            for (i, other) in ["acme.okta.com.evil.io", "evilacme.okta.com.io", "okta.com"]
                .into_iter()
                .enumerate()
            {
                w.g.portal()
                    .put_credential(&mia, &format!("ok{i}"), other, &Credential::password("p"))
                    .await
                    .unwrap();
            }
            assert_eq!(
                w.g.portal()
                    .mark_of(&mia, "X.ACME.OKTA.COM")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("acme.okta.com")
            );
        }
    });
}

#[test]
fn attack_password_without_a_portal_is_refused_once_marks_are_used() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            // Before any mark, plain passwords are stored as always.
            w.g.records()
                .put_credential(&mia, "before", &Credential::password("p"))
                .await
                .unwrap();
            w.g.portal()
                .mark(&w.acme, "sso.acme.com", true)
                .await
                .unwrap();
            for r in [
                w.g.records()
                    .put_credential(&mia, "sso-pw", &Credential::password("p"))
                    .await,
                w.g.records()
                    .put(&mia, "sso-pw", "password", None, b"p")
                    .await,
            ] {
                let e = refused(r, w.name);
                assert!(
                    matches!(
                        e,
                        tenantguard::Error::Portal(
                            tenantguard::portal::PortalError::PortalRequired
                        )
                    ),
                    "{e:?}"
                );
            }
            let (_, bot) = w
                .token("bot", vec![Scope::new("records/*", Action::Write)])
                .await;
            refused(
                w.g.records()
                    .put_credential(&bot, "bot-pw", &Credential::password("p"))
                    .await,
                w.name,
            );
            refused(
                w.g.portal()
                    .put_credential(&bot, "bot-pw", "sso.acme.com", &Credential::password("p"))
                    .await,
                w.name,
            );
            assert!(w
                .g
                .records()
                .open_credential(&w.acme, "sso-pw")
                .await
                .is_err());
            assert!(w
                .g
                .records()
                .open_credential(&w.acme, "bot-pw")
                .await
                .is_err());
            // Non-password credentials need no portal.
            w.g.records()
                .put_credential(&mia, "api", &Credential::api_token("t"))
                .await
                .unwrap();
        }
    });
}

#[test]
fn attack_only_admins_mark_portals() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            let stale = user("acme", "mia", Role::Admin); // claims admin, is a member
            refused(w.g.portal().mark(&mia, "sso.acme.com", true).await, w.name);
            refused(
                w.g.portal().mark(&stale, "sso.acme.com", true).await,
                w.name,
            );
            let (_, reader) = w.token("bot", vec![Scope::read("policies/portals")]).await;
            refused(
                w.g.portal().mark(&reader, "sso.acme.com", true).await,
                w.name,
            );
            assert_eq!(
                w.g.portal().mark_of(&reader, "sso.acme.com").await.unwrap(),
                None
            );
            // Marked by the service; a member cannot unmark it to slip a password in.
            w.g.portal()
                .mark(&w.acme, "sso.acme.com", true)
                .await
                .unwrap();
            refused(w.g.portal().mark(&mia, "sso.acme.com", false).await, w.name);
            refused(
                w.g.portal().mark(&stale, "sso.acme.com", false).await,
                w.name,
            );
            assert!(w
                .g
                .portal()
                .mark_of(&mia, "sso.acme.com")
                .await
                .unwrap()
                .is_some());
            let (_, marker) = w
                .token(
                    "marker",
                    vec![Scope::new("policies/portals", Action::Admin)],
                )
                .await;
            w.g.portal()
                .mark(&marker, "other.acme.com", true)
                .await
                .unwrap();
        }
    });
}

#[test]
fn attack_a_mark_is_per_tenant() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            w.g.keys().create_tenant(&w.svc("globex")).await.unwrap();
            w.g.portal()
                .mark(&w.svc("globex"), "sso.shared.com", true)
                .await
                .unwrap();
            // globex's mark neither blocks nor is visible to acme (and vice versa).
            assert_eq!(
                w.g.portal()
                    .mark_of(&w.acme, "sso.shared.com")
                    .await
                    .unwrap(),
                None
            );
            w.g.records()
                .put_credential(&w.acme, "plain", &Credential::password("p"))
                .await
                .unwrap();
            w.g.portal()
                .put_credential(
                    &w.acme,
                    "shared",
                    "sso.shared.com",
                    &Credential::password("p"),
                )
                .await
                .unwrap();
            let bob = member(&w.store, "globex", "bob", Role::Admin).await;
            refused(
                w.g.portal()
                    .mark(&user("acme", "bob", Role::Admin), "x.com", true)
                    .await,
                w.name,
            );
            w.g.portal().mark(&bob, "x.com", true).await.unwrap();
            assert_eq!(w.g.portal().mark_of(&w.acme, "x.com").await.unwrap(), None);
        }
    });
}

#[test]
fn attack_user_id_case_is_not_a_membership() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            member(&w.store, "acme", "olga", Role::Owner).await;
            // Ids are byte-exact: OLGA and olga. are other users, members of nothing.
            for id in ["OLGA", "Olga", "olga.", "olga_"] {
                let ctx = user("acme", id, Role::Owner);
                refused(w.g.keys().shred(&ctx).await, id);
                refused(w.g.members().set(&ctx, &a(id), Role::Owner).await, id);
                refused(w.g.sessions().create(&ctx, "x").await, id);
            }
            keys_intact(&w).await;
        }
    });
}

#[test]
fn attack_refresh_racing_a_removal_never_outlives_it() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            for round in 0..4 {
                // A login in the same second as the previous round's removal would be
                // refused by that news (docs/SECURITY.md, "Access tokens and revocation").
                w.clock.advance(1);
                let (s, _) = olga_with_session(&w).await;
                let g = w.g.clone();
                let refresh = s.refresh_token.expose().to_owned();
                let racer = tokio::spawn(async move { g.sessions().refresh(&refresh).await });
                let otto_ctx = otto();
                w.g.members().remove(&otto_ctx, &a("olga")).await.unwrap();
                // Whichever won, nothing issued after the removal refreshes again.
                if let Ok(next) = racer.await.unwrap() {
                    refused(
                        w.g.sessions().refresh(next.refresh_token.expose()).await,
                        &format!("{} round {round}", w.name),
                    );
                    // Its access token is refused since the removal (issue 15's news);
                    // were it still accepted, its context could not shred either.
                    if let Ok(v) =
                        w.g.sessions()
                            .verify_access_token(next.access_token.expose())
                            .await
                    {
                        refused(w.g.keys().shred(&v.context).await, w.name);
                    }
                }
                keys_intact(&w).await;
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn attack_planted_membership_row_is_refused_by_its_mac() {
    // A database writer (SQLite file) plants an owner row and raises a viewer to owner.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let keys = dir.path().join("keys.json");
    // Row MACs are always on, under the keyring's row-MAC key (wrapped by this KEK).
    let keyed = |store: Arc<dyn Store>, clock: &TestClock| {
        Guard::builder()
            .key_provider(LocalKeyProvider::open_or_create(&keys).unwrap())
            .store_arc(store)
            .clock(clock.clone())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap()
    };
    let store: Arc<dyn Store> = Arc::new(tenantguard::SqliteStore::open(&path).unwrap());
    let clock = TestClock::at(T0);
    let g = keyed(store.clone(), &clock);
    let acme = service("acme");
    g.keys().create_tenant(&acme).await.unwrap();
    g.members()
        .set(&acme, &a("olga"), Role::Owner)
        .await
        .unwrap();
    g.members()
        .set(&acme, &a("vic"), Role::Viewer)
        .await
        .unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac, mac_key_id)
                 VALUES ('acme', 'mallory', 'owner', 0, NULL, NULL);
             UPDATE tg_memberships SET role = 'owner' WHERE user_id = 'vic';",
        )
        .unwrap();
    }
    for who in ["mallory", "vic"] {
        let ctx = user("acme", who, Role::Owner);
        for e in [
            g.keys().shred(&ctx).await.map(|_| ()),
            g.sessions().create(&ctx, "x").await.map(|_| ()),
            g.members()
                .set(&ctx, &a(who), Role::Owner)
                .await
                .map(|_| ()),
        ] {
            assert_eq!(e.unwrap_err().kind(), ErrorKind::Integrity, "{who}");
        }
    }
    // The honest owner's row still verifies (only the forged rows are refused) ...
    assert_eq!(
        g.members().role(&acme, &a("olga")).await.unwrap(),
        Some(Role::Owner)
    );
    // ... and a store opened later (a new process) refuses the planted rows too.
    let reopened: Arc<dyn Store> = Arc::new(tenantguard::SqliteStore::open(&path).unwrap());
    let g2 = keyed(reopened, &clock);
    assert_eq!(
        g2.keys()
            .shred(&user("acme", "mallory", Role::Owner))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Integrity
    );
    assert!(g2
        .keys()
        .versions(&service("acme"))
        .await
        .unwrap()
        .iter()
        .any(|k| k.state == tenantguard::KeyState::Active));
}

#[test]
fn attack_a_rogue_capability_cannot_manage_members_or_mark_portals() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            // Anyone can build a guard of their own and get its capability.
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(LocalKeyProvider::ephemeral())
                .store(MemoryStore::new())
                .build_with_service()
                .unwrap();
            let forged = TenantContext::service(TenantId::new("acme").unwrap(), &rogue_cap);
            for e in [
                w.g.members()
                    .set(&forged, &a("mallory"), Role::Owner)
                    .await
                    .map(|_| ()),
                w.g.members().remove(&forged, &a("olga")).await.map(|_| ()),
                w.g.portal().mark(&forged, "sso.acme.com", false).await,
                w.g.members()
                    .memberships_of(&rogue_cap, &a("olga"))
                    .await
                    .map(|_| ()),
            ] {
                refused(e, w.name);
            }
            assert_eq!(
                w.g.members().role(&w.acme, &a("mallory")).await.unwrap(),
                None,
                "{}",
                w.name
            );
        }
    });
}

#[test]
fn attack_deep_subdomains_are_covered_and_bounded() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            w.g.portal().mark(&w.acme, "okta.com", true).await.unwrap();
            // 126 labels and 253 bytes: the longest legal host name, still covered, no panic.
            let deep = format!("{}okta.com", "a.".repeat(122));
            assert_eq!(deep.len(), 252);
            let e =
                w.g.portal()
                    .put_credential(&w.acme, "deep", &deep, &Credential::password("p"))
                    .await
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{}", w.name);
            let too_long = format!("{}okta.com", "a.".repeat(123));
            let e =
                w.g.portal()
                    .put_credential(&w.acme, "deep", &too_long, &Credential::password("p"))
                    .await
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}", w.name);
            assert!(w
                .g
                .records()
                .open_credential(&w.acme, "deep")
                .await
                .is_err());
        }
    });
}
