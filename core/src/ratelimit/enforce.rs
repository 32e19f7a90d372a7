//! Where the SDK performs a limited action, it asks the guard's limiter first.

use std::sync::{Arc, RwLock};

use super::overrides::TenantPolicies;
use super::{ActionClass, ClassPolicy, LimitKey, RateLimitOverrides, OVERRIDE_POLICY_KIND};
use crate::audit::{AuditAction, AuditEvent};
use crate::events::Event;
use crate::scope::Action as ScopeAction;
use crate::tenant::{Principal, Role, TenantContext, TenantId};
use crate::{ErrorKind, Guard, Result};

area_handle!(
    /// A tenant's rate-limit policy and overrides. From [`Guard::limits`].
    Limits,
    limits,
    "Tenant rate-limit policy operations."
);

/// Tenants whose overrides are cached at once; the oldest goes first.
const OVERRIDE_CACHE: usize = 10_000;
/// How long a cached override is used without re-reading it, seconds: the bound on how
/// late an instance that missed the news (a store without a cross-instance feed) sees a
/// change.
pub const OVERRIDE_TTL_SECS: i64 = 30;

#[derive(Clone)]
struct Cached {
    loaded_at: i64,
    /// `None`: the tenant has no override (the host's policies apply).
    policies: Option<Arc<TenantPolicies>>,
}

/// The guard's cache of tenants' effective rate-limit policies: evicted by the
/// `PolicyChanged` news for [`OVERRIDE_POLICY_KIND`] (fed across instances on PostgreSQL),
/// a shred or a resync, and re-read after [`OVERRIDE_TTL_SECS`] anyway.
pub(crate) struct OverrideCache {
    map: RwLock<crate::bounded::OrderedMap<TenantId, Cached>>,
}

impl Default for OverrideCache {
    fn default() -> Self {
        OverrideCache {
            map: RwLock::new(crate::bounded::ordered_map()),
        }
    }
}

impl OverrideCache {
    pub(crate) fn on_event(&self, e: &Event) {
        let map = || self.map.write().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::PolicyChanged { tenant, kind } if kind == OVERRIDE_POLICY_KIND => {
                map().remove(tenant);
            }
            Event::TenantShredded { tenant } => {
                map().remove(tenant);
            }
            Event::Resync => map().clear(),
            _ => {}
        }
    }

    fn get(&self, tenant: &TenantId, now: i64) -> Option<Cached> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(tenant)
            .filter(|c| now >= c.loaded_at && now - c.loaded_at < OVERRIDE_TTL_SECS)
            .cloned()
    }

    fn put(&self, tenant: &TenantId, c: Cached) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        crate::bounded::insert_bounded(&mut map, tenant.clone(), c, OVERRIDE_CACHE, |_| false);
    }
}

/// The subject cell name of a principal: users and agents live in separate namespaces.
fn subject_of(ctx: &TenantContext) -> String {
    match ctx.principal() {
        Principal::User { user, .. } => format!("u:{}", user.as_str()),
        Principal::Agent(g) => format!("a:{}", g.agent.as_str()),
        Principal::Service => "service".to_owned(),
    }
}

/// The host-key cell used when the host passes none: every such caller shares it.
pub(crate) const NO_HOST_KEY: &str = "-";

impl Guard {
    /// Checks `class` for the principal of `ctx` (and `object`). The service capability
    /// spends the `Service` class (never the users'), except for reveals, which it alone
    /// performs.
    pub(crate) async fn limit(
        &self,
        ctx: &TenantContext,
        class: ActionClass,
        object: Option<&str>,
    ) -> Result<()> {
        self.limit_from(ctx, class, object, None).await
    }

    /// [`Guard::limit`] with the caller's host key: the class's host cell (subject and
    /// host key together) applies when its policy has one.
    pub(crate) async fn limit_from(
        &self,
        ctx: &TenantContext,
        class: ActionClass,
        object: Option<&str>,
        host_key: Option<&str>,
    ) -> Result<()> {
        let class = if ctx.is_service() && class != ActionClass::Reveal {
            ActionClass::Service
        } else {
            class
        };
        let policy = self.tenant_policy(ctx.tenant(), class).await?;
        if policy.is_unlimited() {
            return Ok(());
        }
        let subject = subject_of(ctx);
        let mut key = LimitKey::tenant(ctx.tenant().as_str()).subject(&subject);
        key.object = object;
        key.host = host_key;
        self.rate_limiter().check_with(class, &policy, &key).await?;
        Ok(())
    }

    /// The policy of `class` in `tenant`: the host's with the tenant's overrides (cached).
    /// A policy store that cannot be read fails a fail-closed class and leaves the others
    /// on the host's policy.
    pub(crate) async fn tenant_policy(
        &self,
        tenant: &TenantId,
        class: ActionClass,
    ) -> Result<ClassPolicy> {
        let limiter = self.rate_limiter();
        let host = *limiter.policies().get(class);
        if class == ActionClass::Service || self.policies().is_none() {
            return Ok(host);
        }
        let now = self.now();
        let cache = self.limit_overrides();
        let cached = match cache.get(tenant, now) {
            Some(c) => c,
            None => {
                let ctx = TenantContext::service(tenant.clone(), &self.service_role());
                let loaded = match self.load_overrides(&ctx).await {
                    Ok(o) => Ok(o),
                    // No such tenant: the host's policy (cached too, so a flood of calls
                    // naming unknown tenants costs no store read each; a tenant created
                    // later has no override until one is set, which evicts this).
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(RateLimitOverrides::new()),
                    Err(e) => Err(e),
                };
                match loaded {
                    Ok(o) => {
                        let c = Cached {
                            loaded_at: now,
                            policies: (!o.is_empty())
                                .then(|| Arc::new(TenantPolicies::new(limiter, &o))),
                        };
                        cache.put(tenant, c.clone());
                        c
                    }
                    Err(e) if host.fail_closed => return Err(e),
                    Err(_) => return Ok(host),
                }
            }
        };
        Ok(match &cached.policies {
            Some(p) => *p.get(class),
            None => host,
        })
    }

    async fn load_overrides(&self, ctx: &TenantContext) -> Result<RateLimitOverrides> {
        let Some(store) = self.policies() else {
            return Ok(RateLimitOverrides::new());
        };
        match store.get_policy(ctx, OVERRIDE_POLICY_KIND).await? {
            None => Ok(RateLimitOverrides::new()),
            Some(doc) => Ok(RateLimitOverrides::from_json(&doc.body)?),
        }
    }

    /// Audits a lock-out in `tenant`: the class, the subject, the failure count and the
    /// lock-out length; never the password, token or host key.
    #[cfg(feature = "auth")]
    pub(crate) async fn audit_lockout(
        &self,
        tenant: &TenantId,
        class: ActionClass,
        subject: &str,
        fails: u32,
        lock: std::time::Duration,
    ) -> Result<()> {
        let ctx = TenantContext::service(tenant.clone(), &self.service_role());
        let ev = AuditEvent::new(AuditAction::RateLimitLockout, format!("user:{subject}"))
            .detail("class", class.as_str())
            .detail("failures", fails.to_string())
            .detail("lockout_ms", lock.as_millis().to_string());
        match self.append_audit(&ctx, ev).await {
            Ok(_) => Ok(()),
            // No such tenant: nobody to lock out there, nothing to audit.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Limits<'_> {
    /// The rate-limit policy of `class` in `ctx`'s tenant: the host's with the tenant's
    /// overrides (what the SDK enforces there; pass it to
    /// [`RateLimiter::check_with`](super::RateLimiter::check_with) for the host's own
    /// routes). Any role.
    pub async fn policy(self, ctx: &TenantContext, class: ActionClass) -> Result<ClassPolicy> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "policies/rate_limits",
            ScopeAction::Read,
            "read the rate limits",
        )?;
        self.g.tenant_policy(ctx.tenant(), class).await
    }

    /// The tenant's rate-limit overrides as stored (empty if none). Any role.
    pub async fn overrides(self, ctx: &TenantContext) -> Result<RateLimitOverrides> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "policies/rate_limits",
            ScopeAction::Read,
            "read the rate limits",
        )?;
        self.g.load_overrides(ctx).await
    }

    /// Replaces the tenant's rate-limit overrides (an empty set removes them all); returns
    /// the stored version. Kept in the guard's policy store next to the egress policy
    /// (`Config` without one). Owners and admins (role read live from the store) may
    /// tighten any class but the service class, and loosen only up to the host's ceiling
    /// ([`RateLimiter::with_override_ceiling`](super::RateLimiter::with_override_ceiling));
    /// they can never make a fail-closed class fail open nor change a back-off. A refused
    /// override is `InvalidInput` and nothing is stored. Audited (`policy.change`).
    /// Every instance sees the change at once through the event bus on PostgreSQL, and
    /// within [`OVERRIDE_TTL_SECS`] otherwise.
    pub async fn set_overrides(
        self,
        ctx: &TenantContext,
        overrides: &RateLimitOverrides,
    ) -> Result<u64> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                "policies/rate_limits",
                ScopeAction::Admin,
                "change the rate limits",
            )
            .await?;
        let store = self.g.policies().ok_or_else(|| {
            super::RateLimitError::Config(
                "rate-limit overrides live in the policy store: set GuardBuilder::policy_store"
                    .into(),
            )
        })?;
        self.g.rate_limiter().validate_overrides(overrides)?;
        let body = overrides.to_json()?;
        let v = store
            .put_policy(ctx, OVERRIDE_POLICY_KIND, &body, self.g.now())
            .await?;
        self.g.publish(&Event::PolicyChanged {
            tenant: ctx.tenant().clone(),
            kind: OVERRIDE_POLICY_KIND.to_owned(),
        });
        let classes: Vec<&str> = overrides.iter().map(|(c, _)| c.as_str()).collect();
        self.g
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::PolicyChange, OVERRIDE_POLICY_KIND)
                    .detail("version", v.to_string())
                    .detail("classes", classes.join(",")),
            )
            .await?;
        Ok(v)
    }
}
