//! Red team, authorization and tenant isolation (rt-authz): the gaps the principal-model
//! attacks (`attacks_principals`) leave. Each test fails if its attack works; every
//! scenario runs on MemoryStore and SqliteStore (and PostgresStore with
//! TENANTGUARD_PG_URL set, see gov_support).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::gov_support;

use std::sync::Arc;

use gov_support::*;
use tenantguard::tenant::{Principal, Role, UserId};
use tenantguard::tokens::{Action, Scope, TokenSpec};
use tenantguard::{Credential, ErrorKind, Guard, Store, TenantContext, TenantId};

struct World {
    name: &'static str,
    store: Arc<dyn Store>,
    g: Guard,
    acme: TenantContext,
    cap: std::rc::Rc<tenantguard::ServiceRole>,
    _clock: TestClock,
    _dir: Option<tempfile::TempDir>,
}

/// Per backend: tenants `acme` (with a stored password `prod-db-password`) and `beta`.
async fn worlds() -> Vec<World> {
    let mut out = Vec::new();
    for (name, store, policies, dir) in stores_with_policies() {
        let clock = TestClock::at(T0);
        let g = guard_with_policies(store.clone(), policies, &clock);
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        g.keys().create_tenant(&service("beta")).await.unwrap();
        g.records()
            .put_credential(&acme, "prod-db-password", &Credential::password("s3cret"))
            .await
            .unwrap();
        out.push(World {
            name,
            store,
            g,
            acme,
            cap: crate::tg_cap::cap(),
            _clock: clock,
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

    async fn agent(&self, agent: &str, scopes: Vec<Scope>) -> TenantContext {
        let t = self
            .g
            .tokens()
            .create(
                &self.acme,
                TokenSpec::read_only(a(agent), "t").scopes(scopes),
            )
            .await
            .unwrap();
        self.g
            .tokens()
            .authenticate(t.secret.expose())
            .await
            .unwrap()
            .context
    }

    /// The stored record `id` of acme: its class and plaintext.
    async fn record(&self, id: &str) -> (String, Vec<u8>) {
        let (class, plain) = self.g.records().open_record(&self.acme, id).await.unwrap();
        (class, plain.expose().to_vec())
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

// ---- A leaked agent token ----

/// Record ids are unique per tenant whatever the class: a write scope on one class must
/// not let an agent replace (and so destroy) a record of another class by naming its id
/// under the class it holds.
#[test]
fn attack_agent_cannot_replace_another_class_record_by_its_id() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let bot = w
                .agent("bot", vec![Scope::new("records/note/*", Action::Write)])
                .await;
            for class in ["note", "note/password", "note/x"] {
                refused(
                    w.g.records()
                        .put(&bot, "prod-db-password", class, None, b"pwned")
                        .await,
                    w.name,
                );
            }
            assert_eq!(
                w.record("prod-db-password").await,
                ("password".to_owned(), b"s3cret".to_vec()),
                "{}",
                w.name
            );
            // Its own class stays writable, replacing included.
            w.g.records()
                .put(&bot, "n1", "note", None, b"1")
                .await
                .unwrap();
            w.g.records()
                .put(&bot, "n1", "note", None, b"2")
                .await
                .unwrap();
            assert_eq!(w.record("n1").await.1, b"2", "{}", w.name);
        }
    });
}

// ---- A removed or demoted employee with a live session ----

/// `ada` (admin) logs in; the access token she holds is used after a change to her
/// membership in the same process.
async fn ada_logged_in(w: &World) -> String {
    let ada = member(&w.store, "acme", "ada", Role::Admin).await;
    let s = w.g.sessions().create(&ada, "laptop").await.unwrap();
    s.access_token.expose().to_owned()
}

#[test]
fn attack_demoted_admins_access_token_no_longer_carries_admin() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let token = ada_logged_in(&w).await;
            w.g.members()
                .set(&w.acme, &a("ada"), Role::Viewer)
                .await
                .unwrap();
            match w.g.sessions().verify_access_token(&token).await {
                Err(e) => assert_eq!(e.kind(), ErrorKind::AuthenticationFailed, "{}", w.name),
                Ok(v) => {
                    assert_eq!(
                        v.context.principal(),
                        &Principal::User {
                            user: a("ada"),
                            role: Role::Viewer
                        },
                        "{}: a viewer's token still says admin",
                        w.name
                    );
                    // A viewer writes nothing.
                    refused(
                        w.g.records()
                            .put(&v.context, "prod-db-password", "password", None, b"x")
                            .await,
                        w.name,
                    );
                }
            }
            assert_eq!(
                w.record("prod-db-password").await.1,
                b"s3cret",
                "{}",
                w.name
            );
        }
    });
}

#[test]
fn attack_removed_members_access_token_stops_at_once() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let token = ada_logged_in(&w).await;
            assert!(w.g.members().remove(&w.acme, &a("ada")).await.unwrap());
            let e = refused(w.g.sessions().verify_access_token(&token).await, w.name);
            assert_eq!(e.kind(), ErrorKind::AuthenticationFailed, "{}", w.name);
            // Re-added, with a lower role or her old one: the old token does not come back
            // (removal revoked her sessions; she logs in again).
            for role in [Role::Viewer, Role::Admin] {
                w.g.members().set(&w.acme, &a("ada"), role).await.unwrap();
                refused(w.g.sessions().verify_access_token(&token).await, w.name);
            }
        }
    });
}

// ---- A malicious admin of another tenant ----

/// Token ids are unique per tenant only: revoking or killing by an id or agent of
/// another tenant (learned from a shared audit export, a log line, or simply the same
/// id in both tenants) must not touch that tenant's agent, neither its contexts already
/// made nor its next authentication.
#[test]
fn attack_revoking_another_tenants_token_id_leaves_it_working() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let beta = w.svc("beta");
            let t =
                w.g.tokens()
                    .create(
                        &beta,
                        TokenSpec::read_only(a("bot"), "t")
                            .scopes(vec![Scope::new("records/note/*", Action::Write)]),
                    )
                    .await
                    .unwrap();
            let held =
                w.g.tokens()
                    .authenticate(t.secret.expose())
                    .await
                    .unwrap()
                    .context;
            let mallory = member(&w.store, "acme", "mallory", Role::Admin).await;
            // Another tenant's id is simply not found in acme (no oracle), and acme has no
            // agent `bot` to kill.
            let e = w.g.tokens().revoke(&mallory, &t.id).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {e:?}", w.name);
            assert_eq!(
                w.g.tokens().kill_agent(&mallory, &a("bot")).await.unwrap(),
                0,
                "{}",
                w.name
            );
            w.g.records()
                .put(&held, "n1", "note", None, b"x")
                .await
                .unwrap_or_else(|e| panic!("{}: beta's held context was revoked: {e:?}", w.name));
            let again =
                w.g.tokens()
                    .authenticate(t.secret.expose())
                    .await
                    .unwrap_or_else(|e| panic!("{}: beta's token was revoked: {e:?}", w.name));
            assert_eq!(again.context.tenant().as_str(), "beta");
        }
    });
}

// ---- The service capability ----

/// A capability binds to the store instance its guard was built on. One taken from a
/// throwaway guard that is then dropped must not work in a guard built afterwards, even
/// when the new store lands where the old one lived (the allocator reuses freed memory).
#[test]
fn attack_a_dropped_guards_capability_does_not_work_in_a_later_guard() {
    rt().block_on(async {
        let acme = TenantId::new("acme").unwrap();
        for round in 0..16 {
            let (rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            drop(rogue);
            let (g, cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let svc = TenantContext::service(acme.clone(), &cap);
            g.keys().create_tenant(&svc).await.unwrap();
            g.records()
                .put_credential(&svc, "prod-db-password", &Credential::password("s3cret"))
                .await
                .unwrap();
            let forged = TenantContext::service(acme.clone(), &rogue_cap);
            refused(
                g.records()
                    .open_credential(&forged, "prod-db-password")
                    .await,
                &format!("round {round}"),
            );
            refused(
                g.keys().list_tenants(&rogue_cap, None, 10).await,
                &format!("round {round}"),
            );
        }
    });
}

/// The positive control of the binding: guards sharing one store instance accept each
/// other's capability, also after the guard that handed it out is gone.
#[test]
fn guards_on_one_store_instance_share_the_capability() {
    rt().block_on(async {
        let store: Arc<dyn Store> = Arc::new(tenantguard::MemoryStore::new());
        let build = || {
            Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store_arc(store.clone())
                .build_with_service()
                .unwrap()
        };
        let (first, cap) = build();
        let (second, _) = build();
        let svc = TenantContext::service(TenantId::new("acme").unwrap(), &cap);
        second.keys().create_tenant(&svc).await.unwrap();
        drop(first);
        assert_eq!(second.keys().versions(&svc).await.unwrap().len(), 1);
        let (third, _) = build();
        assert_eq!(third.keys().versions(&svc).await.unwrap().len(), 1);
    });
}

/// Every handle method that takes a context checks who holds it: reading a tenant's
/// format-v1 switch with a context from another guard's capability, a revoked agent's,
/// or an agent's without `read` on `keys`, is refused.
#[test]
fn attack_v1_switch_is_not_readable_with_a_foreign_or_dead_context() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let forged = TenantContext::service(TenantId::new("beta").unwrap(), &rogue_cap);
            refused(w.g.records().v1_refused(&forged).await, w.name);
            let bot = w
                .agent("bot", vec![Scope::new("records/note/*", Action::Write)])
                .await;
            let e = refused(w.g.records().v1_refused(&bot).await, w.name);
            assert_eq!(
                e.reason(),
                Some(tenantguard::Reason::OutOfScope),
                "{}",
                w.name
            );
            let reader = w.agent("reader", vec![Scope::read("keys")]).await;
            assert!(
                !w.g.records().v1_refused(&reader).await.unwrap(),
                "{}",
                w.name
            );
            w.g.tokens()
                .kill_agent(&w.acme, &a("reader"))
                .await
                .unwrap();
            refused(w.g.records().v1_refused(&reader).await, w.name);
            let viewer = member(&w.store, "acme", "vic", Role::Viewer).await;
            assert!(
                !w.g.records().v1_refused(&viewer).await.unwrap(),
                "{}",
                w.name
            );
        }
    });
}

/// Forges an access token for `user` as `role` in `tenant`, signed with `key` under key
/// id `kid`: what anyone holding the session-signing key could do.
fn forge_access_token(key: &[u8; 32], kid: u32, tenant: &str, user: &str, role: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"JWT"}}"#));
    let c = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"tenantguard","sub":"{user}","tid":"{tenant}","role":"{role}","sid":"ses_forged","iat":{T0},"exp":{}}}"#,
        T0 + 600
    ));
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(format!("{h}.{c}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{h}.{c}.{sig}")
}

/// Code holding only a `Guard` (no capability) took the session-signing key from
/// `Guard::service_keys()`, forged the owner's access token and shredded the tenant. The
/// keyring now needs this guard's capability: another guard's is refused, and with none
/// there is no way to ask (the signature needs one). What the key would give is checked
/// with the real capability: a forged owner session verifies, so the key must stay
/// behind the capability.
#[test]
fn attack_the_service_keyring_needs_the_guards_capability() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            member(&w.store, "acme", "olga", Role::Owner).await;
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let e = w.g.service_keys(&rogue_cap).map(|_| ()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{}: {e:?}", w.name);
            // The stakes: the key signs sessions of anyone, owners included.
            let k =
                w.g.service_keys(&w.cap)
                    .unwrap()
                    .current(tenantguard::kms::ServicePurpose::SessionSigning)
                    .await
                    .unwrap();
            let forged = forge_access_token(k.expose(), k.id().get(), "acme", "olga", "owner");
            let v = w.g.sessions().verify_access_token(&forged).await.unwrap();
            assert_eq!(v.context.user(), Some(&a("olga")), "{}", w.name);
        }
    });
}

/// A viewer (or anyone holding the guard and any context) wrote the tenant's policy
/// documents straight through `Guard::policy_store()`: no role check, no audit (e.g.
/// switching format v1 back on after the owner turned it off, the downgrade path the switch
/// closes). The raw store now needs this guard's capability; another guard's is refused,
/// and the viewer's way, the handle, is refused too.
#[test]
fn attack_viewer_cannot_rewrite_policies_around_the_handles() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            w.g.records().set_v1_refused(&w.acme, true).await.unwrap();
            let vic = member(&w.store, "acme", "vic", Role::Viewer).await;
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let e = w.g.policy_store(&rogue_cap).map(|_| ()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{}: {e:?}", w.name);
            refused(w.g.records().set_v1_refused(&vic, false).await, w.name);
            assert!(
                w.g.records().v1_refused(&w.acme).await.unwrap(),
                "{}",
                w.name
            );
            assert!(w.g.policy_store(&w.cap).unwrap().is_some(), "{}", w.name);
        }
    });
}

/// Revoking a session is for users and the service: an agent (whatever its scopes), or a
/// context of another guard's capability, is refused before any lookup, so it cannot tell
/// an existing session id from a made-up one.
#[test]
fn attack_agent_cannot_probe_session_ids() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            let s = w.g.sessions().create(&ada, "laptop").await.unwrap();
            let bot = w.agent("bot", vec![Scope::new("*", Action::Admin)]).await;
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let forged = TenantContext::service(TenantId::new("acme").unwrap(), &rogue_cap);
            for ctx in [&bot, &forged] {
                let real = refused(w.g.sessions().revoke(ctx, &s.session_id).await, w.name);
                let fake = refused(w.g.sessions().revoke(ctx, "ses_nope").await, w.name);
                assert_eq!(real.to_string(), fake.to_string(), "{}", w.name);
            }
            // Still live.
            w.g.sessions()
                .verify_access_token(s.access_token.expose())
                .await
                .unwrap();
        }
    });
}

// ---- Every handle method, every hostile context ----

/// What a call needs, after docs/SECURITY.md's role table: 0 viewer, 1 member, 2 admin,
/// 3 owner, 4 the service capability.
const VIEWER: u8 = 0;
const MEMBER: u8 = 1;
const ADMIN: u8 = 2;
const OWNER: u8 = 3;
const SERVICE: u8 = 4;

/// Calls every handle method that takes a context (egress's included) with `ctx` on
/// acme's data, destructive ones last: those needing more than `above` (every one with
/// `None`).
async fn every_call(
    w: &World,
    ctx: &TenantContext,
    above: Option<u8>,
) -> Vec<(&'static str, tenantguard::Result<()>)> {
    use tenantguard::audit::{AuditAction, AuditEvent};
    use tenantguard::store::RetentionWindow;
    let g = &w.g;
    let sealed = g.records().seal(&w.acme, "c", b"x").await.unwrap();
    let eg = tenantguard::egress::Egress::builder(g.clone())
        .build()
        .unwrap();
    let policy = eg.policy(&w.acme).await.unwrap();
    let params = tenantguard::totp::TotpParams::default();
    let u = a("someone");
    let mut v: Vec<(&'static str, tenantguard::Result<()>)> = Vec::new();
    let run = |needed: u8| above.is_none_or(|a| needed > a);
    macro_rules! call {
        ($needed:expr, $name:expr, $e:expr) => {
            if run($needed) {
                v.push(($name, $e.await.map(|_| ())))
            }
        };
    }
    call!(VIEWER, "keys.versions", g.keys().versions(ctx));
    call!(VIEWER, "keys.census", g.keys().census(ctx));
    call!(VIEWER, "keys.provider", g.keys().provider(ctx));
    call!(VIEWER, "records.v1_refused", g.records().v1_refused(ctx));
    call!(VIEWER, "retention.policy", g.retention().policy(ctx));
    call!(VIEWER, "members.role", g.members().role(ctx, &u));
    call!(VIEWER, "members.list", g.members().list(ctx, None, 10));
    call!(
        VIEWER,
        "portal.mark_of",
        g.portal().mark_of(ctx, "sso.acme.com")
    );
    call!(
        VIEWER,
        "limits.policy",
        g.limits().policy(ctx, tenantguard::ActionClass::Write)
    );
    call!(VIEWER, "limits.overrides", g.limits().overrides(ctx));
    call!(VIEWER, "egress.policy", eg.policy(ctx));
    call!(VIEWER, "egress.prepare", eg.prepare(ctx, "openai", "hello"));
    call!(VIEWER, "sessions.create", g.sessions().create(ctx, "x"));
    call!(VIEWER, "sessions.list", g.sessions().list(ctx, None, 10));
    call!(
        VIEWER,
        "audit.record",
        g.audit()
            .record(ctx, AuditEvent::new(AuditAction::PolicyChange, "x"))
    );
    call!(MEMBER, "records.seal", g.records().seal(ctx, "c", b"x"));
    call!(
        MEMBER,
        "records.put",
        g.records().put(ctx, "n1", "note", None, b"x")
    );
    call!(
        MEMBER,
        "records.put_credential",
        g.records()
            .put_credential(ctx, "n2", &Credential::api_token("x"))
    );
    call!(
        MEMBER,
        "records.delete",
        g.records().delete(ctx, "prod-db-password")
    );
    call!(
        MEMBER,
        "records.totp_code",
        g.records().totp_code(ctx, "otp", &params, "why")
    );
    call!(SERVICE, "records.open", g.records().open(ctx, "c", &sealed));
    call!(
        SERVICE,
        "records.open_owned",
        g.records().open_owned(ctx, "c", sealed.clone())
    );
    call!(
        SERVICE,
        "records.reseal",
        g.records().reseal(ctx, "c", &sealed)
    );
    call!(
        SERVICE,
        "records.open_record",
        g.records().open_record(ctx, "prod-db-password")
    );
    call!(
        SERVICE,
        "records.open_credential",
        g.records().open_credential(ctx, "prod-db-password")
    );
    call!(
        SERVICE,
        "records.open_record_with_reason",
        g.records()
            .open_record_with_reason(ctx, "prod-db-password", "why")
    );
    call!(
        OWNER,
        "records.set_v1_refused",
        g.records().set_v1_refused(ctx, false)
    );
    call!(
        MEMBER,
        "portal.put_credential",
        g.portal()
            .put_credential(ctx, "p", "x.acme.com", &Credential::password("x"))
    );
    call!(
        ADMIN,
        "portal.mark",
        g.portal().mark(ctx, "sso.acme.com", false)
    );
    call!(
        ADMIN,
        "tokens.create",
        g.tokens().create(ctx, TokenSpec::read_only(a("bot9"), "x"))
    );
    call!(ADMIN, "tokens.list", g.tokens().list(ctx, None, None, 10));
    call!(ADMIN, "tokens.revoke", g.tokens().revoke(ctx, "tok_nope"));
    call!(
        ADMIN,
        "tokens.kill_agent",
        g.tokens().kill_agent(ctx, &a("bot9"))
    );
    call!(
        ADMIN,
        "sessions.list_other",
        g.sessions().list(ctx, Some(&a("ada")), 10)
    );
    call!(
        ADMIN,
        "sessions.list_tenant",
        g.sessions().list_tenant(ctx, None, 10)
    );
    call!(
        ADMIN,
        "sessions.revoke_user_other",
        g.sessions().revoke_user(ctx, &a("ada"))
    );
    call!(ADMIN, "audit.entries", g.audit().entries(ctx, 0, 10));
    call!(ADMIN, "audit.export", g.audit().export(ctx, Vec::new()));
    call!(ADMIN, "audit.verify", g.audit().verify(ctx));
    call!(ADMIN, "audit.checkpoint", g.audit().checkpoint(ctx));
    call!(ADMIN, "audit.checkpoint_due", g.audit().checkpoint_due(ctx));
    call!(
        ADMIN,
        "audit.export_bundle",
        g.audit().export_bundle(ctx, Vec::new())
    );
    call!(
        ADMIN,
        "audit.inclusion_proof",
        g.audit().inclusion_proof(ctx, 1)
    );
    call!(
        ADMIN,
        "audit.consistency_proof",
        g.audit().consistency_proof(ctx, 1)
    );
    call!(
        ADMIN,
        "retention.set",
        g.retention().set(ctx, "note", RetentionWindow::Secs(60))
    );
    call!(ADMIN, "retention.clear", g.retention().clear(ctx, "note"));
    call!(ADMIN, "retention.preview", g.retention().preview(ctx));
    call!(
        ADMIN,
        "retention.sweep",
        g.retention().sweep(ctx, 10, |_| ())
    );
    call!(
        ADMIN,
        "retention.erase_subject",
        g.retention().erase_subject(ctx, "s", 10)
    );
    call!(ADMIN, "members.set", g.members().set(ctx, &u, Role::Viewer));
    call!(ADMIN, "members.remove", g.members().remove(ctx, &a("ada")));
    call!(
        ADMIN,
        "limits.set_overrides",
        g.limits()
            .set_overrides(ctx, &tenantguard::ratelimit::RateLimitOverrides::new())
    );
    call!(ADMIN, "egress.set_policy", eg.set_policy(ctx, &policy));
    call!(
        SERVICE,
        "keys.set_provider",
        g.keys().set_provider(ctx, None)
    );
    call!(OWNER, "keys.create_tenant", g.keys().create_tenant(ctx));
    call!(OWNER, "keys.rotate", g.keys().rotate(ctx));
    call!(
        OWNER,
        "keys.reencrypt",
        g.keys()
            .reencrypt(ctx, tenantguard::KeyId::FIRST, 10, |_| ())
    );
    call!(
        OWNER,
        "keys.reencrypt_all",
        g.keys().reencrypt_all(ctx, 10, |_| ())
    );
    call!(
        OWNER,
        "keys.retire",
        g.keys().retire(ctx, tenantguard::KeyId::FIRST)
    );
    call!(
        OWNER,
        "retention.erase_tenant",
        g.retention().erase_tenant(ctx, 10)
    );
    call!(OWNER, "keys.shred", g.keys().shred(ctx));
    v
}

#[track_caller]
fn all_refused(w: &World, who: &str, calls: Vec<(&'static str, tenantguard::Result<()>)>) {
    // Service-only calls are above every role: a sweep never comes back empty.
    assert!(calls.len() >= 7, "{}: {who}: {} calls", w.name, calls.len());
    for (name, r) in calls {
        match r {
            Ok(()) => panic!("{}: attack worked: {who} did {name}", w.name),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::AuthenticationFailed
                ),
                "{}: {who} {name}: refused for the wrong reason: {e:?}",
                w.name
            ),
        }
    }
}

/// A context of another guard's capability and a killed agent's context (with every
/// scope) are refused by every handle method; a viewer, a member, an admin and an owner
/// by every one the role table puts above their role (plaintext: the service only). Nothing they tried changed acme's stored password.
#[test]
fn attack_every_handle_method_refuses_hostile_contexts() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            member(&w.store, "acme", "ada", Role::Admin).await;
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let forged = TenantContext::service(TenantId::new("acme").unwrap(), &rogue_cap);
            all_refused(
                &w,
                "a foreign capability",
                every_call(&w, &forged, None).await,
            );
            let all: Vec<Scope> = [Action::Read, Action::Write, Action::Delete, Action::Admin]
                .into_iter()
                .map(|act| Scope::new("*", act))
                .collect();
            // A live agent whose scopes name another resource, with every action.
            let runs: Vec<Scope> = all.iter().map(|s| Scope::new("runs/*", s.action)).collect();
            let stranger = w.agent("stranger", runs).await;
            all_refused(
                &w,
                "an agent scoped elsewhere",
                every_call(&w, &stranger, None).await,
            );
            let dead = w.agent("dead", all).await;
            w.g.tokens().kill_agent(&w.acme, &a("dead")).await.unwrap();
            all_refused(&w, "a killed agent", every_call(&w, &dead, None).await);
            let vic = member(&w.store, "acme", "vic", Role::Viewer).await;
            all_refused(&w, "a viewer", every_call(&w, &vic, Some(VIEWER)).await);
            let mia = member(&w.store, "acme", "mia", Role::Member).await;
            all_refused(&w, "a member", every_call(&w, &mia, Some(MEMBER)).await);
            let adam = member(&w.store, "acme", "adam", Role::Admin).await;
            all_refused(&w, "an admin", every_call(&w, &adam, Some(ADMIN)).await);
            let olga = member(&w.store, "acme", "olga", Role::Owner).await;
            all_refused(&w, "an owner", every_call(&w, &olga, Some(OWNER)).await);
            assert_eq!(
                w.record("prod-db-password").await,
                ("password".to_owned(), b"s3cret".to_vec()),
                "{}",
                w.name
            );
        }
    });
}

// ---- User contexts are bound to the capability that vouched for them ----

/// `Resolved::vouch` takes a `ServiceRole`, and any code can build a throwaway guard over
/// a `MemoryStore` to get one. A user context vouched that way was accepted by the
/// production guard with the role it claimed for every operation that takes the role
/// from the context (docs/SECURITY.md, "What is deliberately not re-checked"): it read
/// the whole audit log and deleted a stored credential of a tenant it was never in. User
/// contexts are now bound to the vouching capability, like service contexts.
#[test]
fn attack_guard_holder_cannot_vouch_with_a_throwaway_capability() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let (_rogue, rogue_cap) = Guard::builder()
                .key_provider(tenantguard::LocalKeyProvider::ephemeral())
                .store(tenantguard::MemoryStore::new())
                .build_with_service()
                .unwrap();
            let fake = TenantContext::resolved(tenantguard::tenant::Resolved::vouch(
                &rogue_cap,
                TenantId::new("acme").unwrap(),
                a("mallory"),
                Role::Owner,
            ));
            refused(w.g.audit().entries(&fake, 0, 10).await, w.name);
            refused(
                w.g.records().delete(&fake, "prod-db-password").await,
                w.name,
            );
            assert_eq!(
                w.record("prod-db-password").await.1,
                b"s3cret",
                "{}",
                w.name
            );
        }
    });
}

/// An owner of beta names acme's objects by their ids, bare or dressed up with tenant
/// names and separators: each is simply not found in beta (no oracle), and acme's data
/// stays as it was.
#[test]
fn attack_other_tenants_owner_cannot_reach_acmes_objects_by_crafted_ids() {
    rt().block_on(async {
        for w in worlds().await {
            crate::tg_cap::enter(&w.cap);
            let bob = member(&w.store, "beta", "bob", Role::Owner).await;
            let ada = member(&w.store, "acme", "ada", Role::Admin).await;
            let s = w.g.sessions().create(&ada, "laptop").await.unwrap();
            let t =
                w.g.tokens()
                    .create(&w.acme, TokenSpec::read_only(a("bot"), "t"))
                    .await
                    .unwrap();
            for id in [
                "prod-db-password",
                "acme/prod-db-password",
                "acme:prod-db-password",
                "../acme/prod-db-password",
                "PROD-DB-PASSWORD",
                "prod-db-password ",
            ] {
                assert!(
                    !w.g.records().delete(&bob, id).await.unwrap(),
                    "{}: {id}",
                    w.name
                );
                let e =
                    w.g.records()
                        .open_record(&w.svc("beta"), id)
                        .await
                        .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {id}: {e:?}", w.name);
            }
            let e = w.g.tokens().revoke(&bob, &t.id).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {e:?}", w.name);
            let e =
                w.g.sessions()
                    .revoke(&bob, &s.session_id)
                    .await
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{}: {e:?}", w.name);
            assert_eq!(w.g.members().role(&bob, &a("ada")).await.unwrap(), None);
            // Acme is untouched: its password, its token, its session.
            assert_eq!(
                w.record("prod-db-password").await.1,
                b"s3cret",
                "{}",
                w.name
            );
            w.g.tokens().authenticate(t.secret.expose()).await.unwrap();
            w.g.sessions()
                .verify_access_token(s.access_token.expose())
                .await
                .unwrap();
        }
    });
}

/// A token store where the admin's kill switch lands at the worst moment: while an agent
/// mints a token, after its check and before the insert.
struct KillLandsMidMint(Arc<tenantguard::MemoryStore>);

#[async_trait::async_trait]
impl tenantguard::store::TokenStore for KillLandsMidMint {
    async fn insert_token(
        &self,
        ctx: &TenantContext,
        rec: &tenantguard::store::TokenRecord,
    ) -> Result<(), tenantguard::store::StoreError> {
        if rec.name == "child" {
            self.0
                .revoke_tokens(ctx, Some(&rec.agent), rec.created_at)
                .await?;
        }
        self.0.insert_token(ctx, rec).await
    }
    async fn token_by_hash(
        &self,
        service: &tenantguard::ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<tenantguard::store::TokenRecord>, tenantguard::store::StoreError> {
        self.0.token_by_hash(service, hash).await
    }
    async fn list_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<tenantguard::store::TokenRecord>, tenantguard::store::StoreError> {
        self.0.list_tokens(ctx, agent, after, limit).await
    }
    async fn revoke_token(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, tenantguard::store::StoreError> {
        self.0.revoke_token(ctx, id, at).await
    }
    async fn revoke_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        at: i64,
    ) -> Result<u64, tenantguard::store::StoreError> {
        self.0.revoke_tokens(ctx, agent, at).await
    }
}

/// The kill switch ends everything an agent minted, also a token it was minting while the
/// kill landed: that token comes out revoked (and the mint refused), never live.
#[test]
fn attack_a_token_minted_while_the_kill_lands_does_not_survive_it() {
    rt().block_on(async {
        let mem = Arc::new(tenantguard::MemoryStore::new());
        let (g, cap) = Guard::builder()
            .key_provider(tenantguard::LocalKeyProvider::ephemeral())
            .store_arc(mem.clone() as Arc<dyn Store>)
            .token_store(Arc::new(KillLandsMidMint(mem.clone())))
            .build_with_service()
            .unwrap();
        let acme = TenantContext::service(TenantId::new("acme").unwrap(), &cap);
        g.keys().create_tenant(&acme).await.unwrap();
        let scopes = vec![
            Scope::new("tokens", Action::Admin),
            Scope::new("records/note/*", Action::Write),
        ];
        let t = g
            .tokens()
            .create(
                &acme,
                TokenSpec::read_only(a("bot"), "parent").scopes(scopes.clone()),
            )
            .await
            .unwrap();
        let bot = g
            .tokens()
            .authenticate(t.secret.expose())
            .await
            .unwrap()
            .context;
        let minted = g
            .tokens()
            .create(&bot, TokenSpec::read_only(a("bot"), "child").scopes(scopes))
            .await;
        if let Ok(child) = &minted {
            refused(
                g.tokens().authenticate(child.secret.expose()).await,
                "a token minted during the kill",
            );
        }
        let live: Vec<_> = g
            .tokens()
            .list(&acme, Some(&a("bot")), None, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .collect();
        assert!(live.is_empty(), "live tokens after the kill: {live:?}");
    });
}
