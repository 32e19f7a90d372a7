//! Agent-token refusals with a typed reason: `Guard.checkToken` / `checkTokenFor` return
//! `TokenCheck.Verified` or `TokenCheck.Refused(reason, message)` instead of throwing for
//! the core's refusal reasons (`TokenError::reason`); every other failure still throws
//! `TenantguardException`. Conversions only.

use crate::dual::dual;
use crate::error::TenantguardError;
use crate::governance::{TokenAction, VerifiedToken};
use crate::guard::Guard;

/// Why an agent token was refused, one case per core refusal reason.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not shaped like a token of this deployment (rejected before any lookup).
    Malformed,
    /// The checksum does not match: mistyped or forged (rejected before any lookup).
    BadChecksum,
    /// Well formed, but no such token exists.
    Unknown,
    /// The token's time bound has passed.
    Expired,
    /// The token (or every token of its agent) was revoked.
    Revoked,
    /// Valid, but no scope allows this action on this resource.
    OutOfScope,
}

impl TokenRefusal {
    /// The refusal reason of a core error, `None` for any other error.
    fn of(e: &tenantguard::Error) -> Option<TokenRefusal> {
        use tenantguard::Reason as R;
        let tenantguard::Error::Token(t) = e else {
            return None;
        };
        match t.reason() {
            R::Malformed => Some(TokenRefusal::Malformed),
            R::BadChecksum => Some(TokenRefusal::BadChecksum),
            R::Unknown => Some(TokenRefusal::Unknown),
            R::Expired => Some(TokenRefusal::Expired),
            R::Revoked => Some(TokenRefusal::Revoked),
            R::OutOfScope => Some(TokenRefusal::OutOfScope),
            _ => None,
        }
    }
}

/// The outcome of `Guard.checkToken` / `checkTokenFor`.
#[derive(uniffi::Enum, Clone, Debug)]
pub enum TokenCheck {
    /// The token is valid (and allows the action, for `checkTokenFor`).
    Verified {
        /// The agent and its scope.
        token: VerifiedToken,
    },
    /// The token is refused.
    Refused {
        /// Why.
        reason: TokenRefusal,
        /// The core's explanation (never contains the token).
        message: String,
    },
}

fn check(
    r: tenantguard::Result<tenantguard::tokens::VerifiedToken>,
) -> Result<TokenCheck, TenantguardError> {
    match r {
        Ok(v) => Ok(TokenCheck::Verified { token: v.into() }),
        Err(e) => match TokenRefusal::of(&e) {
            Some(reason) => Ok(TokenCheck::Refused {
                reason,
                message: e.to_string(),
            }),
            None => Err(e.into()),
        },
    }
}

dual! {
impl Guard {
    /// Authenticates a token string like `authenticateToken`, but returns a refusal with
    /// its typed reason instead of throwing it (store failures and the like still throw).
    fn check_token / check_token_async(&self, token: String) -> TokenCheck {
        check(self.0.tokens().authenticate(&token).await)
    }

    /// Like `verifyToken` (authenticates, then checks a scope allows `action` on
    /// `resource`), returning a refusal with its typed reason instead of throwing it.
    fn check_token_for / check_token_for_async(
        &self, token: String, resource: String, action: TokenAction
    ) -> TokenCheck {
        check(self.0.tokens().verify(&token, &resource, action.into()).await)
    }
}
}
