//! Rate limits: the guard's limiter for the host's own routes, password verification under
//! the login limit, and token/refresh verification keyed by the caller's host key. Type
//! conversion only.

use std::sync::Arc;
use std::time::Duration;

use tenantguard::ratelimit as core_rl;

use crate::dual::dual;
use crate::governance::{
    GuardOptions, PasswordCheck, PasswordHasher, SessionTokens, VerifiedToken,
};
use crate::guard::Guard;
use crate::types::{tenant_id, TenantContext};

/// The action classes the limiter knows (docs/SECURITY.md, "Rate limits").
#[derive(uniffi::Enum, Debug, Clone, Copy)]
pub enum RateLimitClass {
    /// Password verification and login.
    Login,
    /// Failed agent-token verifications.
    TokenFailure,
    /// Session refresh.
    SessionRefresh,
    /// TOTP codes.
    Totp,
    /// Credential reveals.
    Reveal,
    /// Record and credential writes.
    Write,
    /// AI egress prepares.
    EgressPrepare,
    /// Agent-token creation.
    TokenCreate,
    /// Service-capability jobs.
    Service,
}

impl From<RateLimitClass> for core_rl::ActionClass {
    fn from(c: RateLimitClass) -> Self {
        match c {
            RateLimitClass::Login => core_rl::ActionClass::Login,
            RateLimitClass::TokenFailure => core_rl::ActionClass::TokenFailure,
            RateLimitClass::SessionRefresh => core_rl::ActionClass::SessionRefresh,
            RateLimitClass::Totp => core_rl::ActionClass::Totp,
            RateLimitClass::Reveal => core_rl::ActionClass::Reveal,
            RateLimitClass::Write => core_rl::ActionClass::Write,
            RateLimitClass::EgressPrepare => core_rl::ActionClass::EgressPrepare,
            RateLimitClass::TokenCreate => core_rl::ActionClass::TokenCreate,
            RateLimitClass::Service => core_rl::ActionClass::Service,
        }
    }
}

/// The cells a check names: each present field adds its cell when the class limits that
/// level.
#[derive(uniffi::Record, Debug, Clone, Default)]
pub struct RateLimitKey {
    /// The tenant.
    #[uniffi(default = None)]
    pub tenant: Option<String>,
    /// The user or agent (`u:<id>`, `a:<id>`, or any stable name of the host's).
    #[uniffi(default = None)]
    pub subject: Option<String>,
    /// The object acted on.
    #[uniffi(default = None)]
    pub object: Option<String>,
    /// The caller's IP address or client id.
    #[uniffi(default = None)]
    pub host_key: Option<String>,
}

/// The limiter's answer: admitted, or refused with the time to wait.
#[derive(uniffi::Record, Debug, Clone)]
pub struct RateLimitDecision {
    /// The action may proceed (and was counted).
    pub admitted: bool,
    /// When refused: retry after this long, not sooner.
    pub retry_after: Option<Duration>,
}

#[uniffi::export]
impl GuardOptions {
    /// A copy of these options whose guard shares its rate limits with every other
    /// instance through PostgreSQL: `url` is the service role's connection string of a
    /// migrated database. Without it, limits are kept in the process. Nothing connects
    /// before the first check; a bad string throws `Config` without echoing it.
    pub fn with_rate_limit_url(
        &self,
        url: String,
    ) -> Result<Arc<GuardOptions>, crate::error::TenantguardError> {
        let backend =
            core_rl::PostgresLimiter::connect(&url, 4).map_err(tenantguard::Error::from)?;
        let mut o = self.clone_options();
        o.rate_limiter = Some(core_rl::RateLimiter::with_backend(
            Arc::new(backend),
            core_rl::Policies::default(),
        ));
        Ok(Arc::new(o))
    }
}

/// The retry-after of a `TenantguardException.RateLimited` thrown by any guard method,
/// read from its message (`... retry after 1.500 s`); null for any other message.
#[uniffi::export]
pub fn rate_limited_retry_after(message: String) -> Option<Duration> {
    let tail = message.rsplit_once("retry after ")?.1;
    let secs: f64 = tail.strip_suffix(" s")?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

dual! {
impl Guard {
    /// Asks the guard's limiter to admit one `class` action for `key` (for the host's own
    /// routes). A refusal is a decision, not an exception; a shared backend that is down
    /// throws `Unavailable` for a fail-closed class.
    fn rate_limit_check / rate_limit_check_async(&self, class: RateLimitClass, key: RateLimitKey) -> RateLimitDecision {
        let k = core_rl::LimitKey {
            tenant: key.tenant.as_deref(),
            subject: key.subject.as_deref(),
            object: key.object.as_deref(),
            host: key.host_key.as_deref(),
        };
        match self.0.rate_limiter().check(class.into(), &k).await {
            Ok(()) => Ok(RateLimitDecision { admitted: true, retry_after: None }),
            Err(e) => match e.retry_after() {
                Some(wait) => Ok(RateLimitDecision { admitted: false, retry_after: Some(wait) }),
                None => Err(tenantguard::Error::from(e).into()),
            },
        }
    }

    /// Records a failed `class` action for `key` (it costs more and counts towards the
    /// back-off); returns the lock-out it started, if any.
    fn rate_limit_failure / rate_limit_failure_async(&self, class: RateLimitClass, key: RateLimitKey) -> Option<Duration> {
        let k = core_rl::LimitKey {
            tenant: key.tenant.as_deref(),
            subject: key.subject.as_deref(),
            object: key.object.as_deref(),
            host: key.host_key.as_deref(),
        };
        Ok(self.0.rate_limiter().failure(class.into(), &k).await.locked_for)
    }

    /// Verifies `password` of `user` in `tenant` against stored hash `phc` under the login
    /// limit: `AuthenticationFailed` on a mismatch, `RateLimited` past the limit or while
    /// (user, `host_key`) is locked out after repeated failures.
    fn verify_password / verify_password_async(
        &self, hasher: Arc<PasswordHasher>, tenant: String, user: String, password: String, phc: String, host_key: Option<String>
    ) -> PasswordCheck {
        let tenant = tenant_id(tenant)?;
        let user = tenantguard::UserId::new(user).map_err(tenantguard::Error::from)?;
        let c = self
            .0
            .sessions().verify_password(&hasher.0, &tenant, &user, &password, &phc, host_key.as_deref())
            .await?;
        Ok(PasswordCheck { needs_rehash: c.needs_rehash })
    }

    /// `authenticateToken` for a caller known by `host_key`: unknown tokens count per host
    /// key and past the limit throw `RateLimited`.
    fn authenticate_token_from / authenticate_token_from_async(&self, token: String, host_key: Option<String>) -> VerifiedToken {
        Ok(self.0.tokens().authenticate_from(&token, host_key.as_deref()).await?.into())
    }

    /// The tenant's rate-limit overrides in their JSON form (docs/SECURITY.md, "Per-tenant
    /// overrides"): `{"classes":{"write":{"subject":{"burst":3,"period_us":1200000000}}}}`.
    /// Any role.
    fn rate_limit_overrides_json / rate_limit_overrides_json_async(&self, ctx: Arc<TenantContext>) -> String {
        let o = self.0.limits().overrides(&ctx.0).await?;
        Ok(o.to_json().map_err(tenantguard::Error::from)?)
    }

    /// Sets the tenant's rate-limit overrides from their JSON form, replacing earlier
    /// ones; returns the new policy version. Owners and admins may tighten any class but
    /// the service class and loosen only up to the host's ceiling: anything else throws
    /// `InvalidInput` and stores nothing.
    fn set_rate_limit_overrides_json / set_rate_limit_overrides_json_async(&self, ctx: Arc<TenantContext>, json: String) -> i64 {
        let o = core_rl::RateLimitOverrides::from_json(&json).map_err(tenantguard::Error::from)?;
        let v = self.0.limits().set_overrides(&ctx.0, &o).await?;
        Ok(i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// `refreshSession` for a caller known by `host_key`.
    fn refresh_session_from / refresh_session_from_async(&self, refresh_token: String, host_key: Option<String>) -> Arc<SessionTokens> {
        Ok(Arc::new(SessionTokens(self.0.sessions().refresh_from(&refresh_token, host_key.as_deref()).await?)))
    }
}
}
