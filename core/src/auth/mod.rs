//! Authentication helpers: argon2id password hashing and login sessions (short-lived
//! signed access tokens, longer-lived opaque refresh tokens stored hashed, rotated on
//! every use with reuse detection).

mod password;
mod revoked;
mod session;
pub use session::Sessions;

pub(crate) use revoked::SessionRevocations;
pub use revoked::MAX_SESSION_REVOCATIONS;

pub use password::{
    PasswordCheck, PasswordHasher, PasswordParams, MAX_PASSWORD_LEN, OUTPUT_LEN, OWASP_ARGON2ID,
    SALT_LEN,
};
pub use session::{
    AccessClaims, SessionConfig, SessionInfo, SessionTokens, VerifiedAccess, MAX_ACCESS_TOKEN_LEN,
};

use thiserror::Error;

use crate::error::ErrorKind;

/// Errors from password and session operations. None carries a password or token.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The password does not match.
    #[error("wrong password")]
    WrongPassword,
    /// The stored password hash is not an argon2id PHC string within the limits.
    #[error("malformed or unsupported password hash")]
    MalformedHash,
    /// Password-hashing parameters below OWASP's recommendation (or out of range).
    #[error("password hashing parameters are below OWASP's recommendation or out of range")]
    WeakParams,
    /// An access or refresh token is not well formed (rejected before any lookup).
    #[error("malformed session token: {0}")]
    MalformedToken(&'static str),
    /// The access token's signature does not verify.
    #[error("session token signature invalid")]
    BadSignature,
    /// The token or session has expired.
    #[error("session expired")]
    Expired,
    /// The session was revoked.
    #[error("session revoked")]
    Revoked,
    /// No such refresh token or session.
    #[error("unknown session token")]
    Unknown,
    /// A refresh token was used twice: the session has been revoked.
    #[error("refresh token reuse detected: the session was revoked")]
    RefreshReuse,
    /// An argument is out of range.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Rng,
    /// The session's user is no longer a member of its tenant: the session was revoked.
    #[error("the user is no longer a member of this tenant: the session was revoked")]
    MembershipEnded,
}

impl AuthError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::WrongPassword
            | AuthError::BadSignature
            | AuthError::Expired
            | AuthError::Revoked
            | AuthError::Unknown
            | AuthError::RefreshReuse
            | AuthError::MembershipEnded => ErrorKind::AuthenticationFailed,
            AuthError::MalformedHash | AuthError::MalformedToken(_) => ErrorKind::Malformed,
            AuthError::WeakParams | AuthError::InvalidInput(_) => ErrorKind::InvalidInput,
            AuthError::Rng => ErrorKind::KeyProvider,
        }
    }

    /// Why (see [`crate::Reason`]); stable names such as `wrong_password`, `expired`.
    pub fn reason(&self) -> crate::Reason {
        use crate::Reason as R;
        match self {
            AuthError::WrongPassword => R::WrongPassword,
            AuthError::MalformedHash => R::MalformedHash,
            AuthError::WeakParams => R::WeakParams,
            AuthError::MalformedToken(_) => R::Malformed,
            AuthError::BadSignature => R::BadSignature,
            AuthError::Expired => R::Expired,
            AuthError::Revoked => R::Revoked,
            AuthError::Unknown => R::Unknown,
            AuthError::RefreshReuse => R::RefreshReuse,
            AuthError::MembershipEnded => R::MembershipEnded,
            AuthError::InvalidInput(_) => R::InvalidInput,
            AuthError::Rng => R::Rng,
        }
    }
}
