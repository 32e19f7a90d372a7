//! Login-session refusals with a typed reason: `Guard.checkAccessToken` and
//! `checkRefreshSession` return `AccessCheck` / `RefreshCheck` (`...Refused(reason,
//! message)`) instead of throwing for the core's session refusals (`AuthError`'s token and
//! session cases); every other failure still throws `TenantguardException`. Conversions only.

use std::sync::Arc;

use crate::dual::dual;
use crate::error::TenantguardError;
use crate::governance::{SessionTokens, VerifiedAccess};
use crate::guard::Guard;

/// Why an access or refresh token was refused, one case per core session refusal.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Not shaped like a token of this deployment (rejected before any lookup or check).
    Malformed,
    /// The access token's signature does not verify (forged, or another signing key).
    BadSignature,
    /// The access token, refresh token or session has expired.
    Expired,
    /// The session was revoked.
    Revoked,
    /// Well formed, but no such refresh token or session exists.
    Unknown,
    /// A refresh token was presented a second time: the session is now revoked (audited).
    RefreshReuse,
}

impl SessionRefusal {
    /// The refusal reason of a core error, `None` for any other error (password errors,
    /// invalid input, store failures...).
    fn of(e: &tenantguard::Error) -> Option<SessionRefusal> {
        use tenantguard::Reason as R;
        // The core's reason, not its error variants: only session-token refusals map.
        let tenantguard::Error::Auth(a) = e else {
            return None;
        };
        match a.reason() {
            R::Malformed => Some(SessionRefusal::Malformed),
            R::BadSignature => Some(SessionRefusal::BadSignature),
            R::Expired => Some(SessionRefusal::Expired),
            R::Revoked => Some(SessionRefusal::Revoked),
            R::Unknown => Some(SessionRefusal::Unknown),
            R::RefreshReuse => Some(SessionRefusal::RefreshReuse),
            _ => None,
        }
    }
}

/// The outcome of `Guard.checkAccessToken`.
#[derive(uniffi::Enum, Clone, Debug)]
pub enum AccessCheck {
    /// The access token is valid.
    Verified {
        /// The session and the user's scope.
        access: VerifiedAccess,
    },
    /// The access token is refused.
    Refused {
        /// Why.
        reason: SessionRefusal,
        /// The core's explanation (never contains the token).
        message: String,
    },
}

/// The outcome of `Guard.checkRefreshSession`.
#[derive(uniffi::Enum, Clone, Debug)]
pub enum RefreshCheck {
    /// The refresh token was exchanged: new tokens (the old refresh token is now used).
    Refreshed {
        /// The new access and refresh tokens.
        tokens: Arc<SessionTokens>,
    },
    /// The refresh token is refused.
    Refused {
        /// Why.
        reason: SessionRefusal,
        /// The core's explanation (never contains the token).
        message: String,
    },
}

/// A core result as `Ok(ok(value))`, `Ok(refused(reason, message))` for a session refusal,
/// or the thrown error.
fn check<T, C>(
    r: tenantguard::Result<T>,
    ok: impl FnOnce(T) -> C,
    refused: impl FnOnce(SessionRefusal, String) -> C,
) -> Result<C, TenantguardError> {
    match r {
        Ok(v) => Ok(ok(v)),
        Err(e) => match SessionRefusal::of(&e) {
            Some(reason) => Ok(refused(reason, e.to_string())),
            None => Err(e.into()),
        },
    }
}

#[uniffi::export]
impl Guard {
    /// Verifies an access token like `verifyAccessToken`, but returns a refusal with its
    /// typed reason instead of throwing it. CPU-only like `verifyAccessToken` once the
    /// signing key is loaded (the first token under a new key reads it from the store).
    pub fn check_access_token(&self, token: String) -> Result<AccessCheck, TenantguardError> {
        let g = &self.0;
        let r = crate::runtime::block_on_in(crate::runtime::CallId::call_id(self), async move {
            Ok(g.sessions().verify_access_token(&token).await)
        })?;
        check(
            r,
            |v| AccessCheck::Verified { access: v.into() },
            |reason, message| AccessCheck::Refused { reason, message },
        )
    }
}

dual! {
impl Guard {
    /// Exchanges a refresh token like `refreshSession`, but returns a refusal with its
    /// typed reason instead of throwing it (store failures and the like still throw).
    fn check_refresh_session / check_refresh_session_async(&self, refresh_token: String) -> RefreshCheck {
        check(
            self.0.sessions().refresh(&refresh_token).await,
            |t| RefreshCheck::Refreshed { tokens: Arc::new(SessionTokens(t)) },
            |reason, message| RefreshCheck::Refused { reason, message },
        )
    }
}
}
