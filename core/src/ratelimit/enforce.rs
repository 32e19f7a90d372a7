//! Where the SDK performs a limited action, it asks the guard's limiter first.

use super::{ActionClass, LimitKey};
use crate::audit::{AuditAction, AuditEvent};
use crate::auth::{AuthError, PasswordCheck, PasswordHasher};
use crate::tenant::{Principal, TenantContext, TenantId, UserId};
use crate::{ErrorKind, Guard, Result};

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
        let class = if ctx.is_service() && class != ActionClass::Reveal {
            ActionClass::Service
        } else {
            class
        };
        let limiter = self.rate_limiter();
        if !limiter.limits(class) {
            return Ok(());
        }
        let subject = subject_of(ctx);
        let mut key = LimitKey::tenant(ctx.tenant().as_str()).subject(&subject);
        key.object = object;
        limiter.check(class, &key).await?;
        Ok(())
    }

    /// Verifies `password` of `user` in `tenant` against the stored PHC string `phc`, under
    /// the `Login` rate limit: refused with `RateLimited` (retry-after) before any hashing
    /// when over the limit; a wrong password counts as a failure (more than a success) and
    /// repeated failures lock the (user, `host_key`) pair out with an exponential back-off
    /// (audited as `ratelimit.lockout`, with counts only). Pass the caller's IP address or
    /// client id as `host_key`: an attacker from one host then never locks the user out
    /// from another. `WrongPassword`, `MalformedHash` and `InvalidInput` as
    /// [`PasswordHasher::verify`].
    pub async fn verify_password(
        &self,
        hasher: &PasswordHasher,
        tenant: &TenantId,
        user: &UserId,
        password: &str,
        phc: &str,
        host_key: Option<&str>,
    ) -> Result<PasswordCheck> {
        let subject = format!("u:{}", user.as_str());
        let key = LimitKey::tenant(tenant.as_str())
            .subject(&subject)
            .host(host_key);
        let limiter = self.rate_limiter();
        limiter.check(ActionClass::Login, &key).await?;
        match hasher.verify(password, phc) {
            Ok(check) => {
                limiter.success(ActionClass::Login, &key).await;
                Ok(check)
            }
            Err(AuthError::WrongPassword) => {
                let out = limiter.failure(ActionClass::Login, &key).await;
                if let Some(lock) = out.locked_for {
                    self.audit_lockout(tenant, ActionClass::Login, user.as_str(), out.fails, lock)
                        .await?;
                }
                Err(AuthError::WrongPassword.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Audits a lock-out in `tenant`: the class, the subject, the failure count and the
    /// lock-out length; never the password, token or host key.
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
        match self.audit(&ctx, ev).await {
            Ok(_) => Ok(()),
            // No such tenant: nobody to lock out there, nothing to audit.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}
