//! Write-only credentials: opening one is recorded (who, what, why), and derived uses
//! such as a TOTP code reveal the result only.
//!
//! A [`Revealer`] wraps a [`Guard`] with an [`OpenObserver`] (the audit log persists these
//! events). It cannot be built without an observer, and an observer that fails to record
//! an event stops the open: no unrecorded plaintext.
//!
//! Who may do what:
//! - [`Revealer::open_credential`]: the service role only (server-side code, e.g. when a run
//!   launches). Users store and replace credentials but never read them back.
//! - [`Revealer::totp_code`]: members and above (and the service role). The seed stays
//!   inside the SDK; the caller gets a code valid for one period.

use std::sync::Arc;

use thiserror::Error;

use crate::audit::{AuditAction, AuditEvent};
use crate::crypto::SealedValue;
use crate::error::{ErrorKind, Result};
use crate::guard::{record_context, Guard};
use crate::secret::{Credential, CredentialKind};
use crate::storage::StoreError;
use crate::tenant::{Action, Principal, TenantContext, TenantId};
use crate::totp::{self, TotpCode, TotpError, TotpParams};

/// Longest purpose text, in bytes.
pub const MAX_PURPOSE_LEN: usize = 256;

/// Errors of the reveal path.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RevealError {
    /// The purpose is empty, too long or has control characters.
    #[error("purpose must be 1 to 256 bytes without control characters")]
    BadPurpose,
    /// The observer could not record the event, so nothing was opened.
    #[error("open not recorded, so refused: {0}")]
    NotRecorded(String),
}

impl RevealError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RevealError::BadPurpose => ErrorKind::InvalidInput,
            RevealError::NotRecorded(_) => ErrorKind::Unavailable,
        }
    }
}

/// What was done with a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenKind {
    /// The plaintext was returned to (service-role) code.
    Reveal,
    /// A TOTP code was derived; the seed was not returned.
    TotpCode,
}

/// One open of a credential: who, what, why, when. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenEvent {
    /// The tenant whose credential it is.
    pub tenant: TenantId,
    /// Who asked.
    pub principal: Principal,
    /// The record id.
    pub record: String,
    /// Reveal or derived use.
    pub kind: OpenKind,
    /// Why (e.g. "run 8812 launch"), as the caller stated it.
    pub purpose: String,
    /// When, Unix seconds.
    pub at: i64,
}

/// Records every open before it happens. Return `Err` to refuse the open (e.g. the audit
/// log is unavailable); the message must hold no secret.
pub trait OpenObserver: Send + Sync {
    /// Records `event`.
    fn record(&self, event: &OpenEvent) -> std::result::Result<(), String>;
}

/// Opens credentials for server-side code and derives TOTP codes, recording each use.
#[derive(Clone)]
pub struct Revealer {
    guard: Guard,
    observer: Arc<dyn OpenObserver>,
}

impl std::fmt::Debug for Revealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revealer")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

fn check_purpose(p: &str) -> Result<(), RevealError> {
    if p.is_empty() || p.len() > MAX_PURPOSE_LEN || p.chars().any(char::is_control) {
        return Err(RevealError::BadPurpose);
    }
    Ok(())
}

impl Revealer {
    /// A revealer over `guard` that reports every open to `observer`.
    pub fn new(guard: Guard, observer: Arc<dyn OpenObserver>) -> Self {
        Revealer { guard, observer }
    }

    fn observe(&self, ctx: &TenantContext, id: &str, kind: OpenKind, purpose: &str) -> Result<()> {
        check_purpose(purpose)?;
        let event = OpenEvent {
            tenant: ctx.tenant().clone(),
            principal: ctx.principal().clone(),
            record: id.to_owned(),
            kind,
            purpose: purpose.to_owned(),
            at: self.guard.now(),
        };
        self.observer
            .record(&event)
            .map_err(RevealError::NotRecorded)?;
        Ok(())
    }

    /// Opens stored credential `id` for `purpose`. Service role only (this guard's
    /// capability); recorded by the observer first, then released through the guard's one
    /// plaintext path, which writes the audit entry with `purpose` as the reason.
    pub async fn open_credential(
        &self,
        ctx: &TenantContext,
        id: &str,
        purpose: &str,
    ) -> Result<Credential> {
        self.guard.require_service(ctx, "open a credential")?;
        self.observe(ctx, id, OpenKind::Reveal, purpose)?;
        self.guard
            .records()
            .open_credential_with_reason(ctx, id, purpose)
            .await
    }

    /// The TOTP code for `unix_time` from stored `totp_seed` credential `id`, for
    /// `purpose`. `unix_time` must fall in the guard clock's time step or the one just
    /// before or after (`TimeOutsideWindow` otherwise): no one harvests next month's codes.
    /// Needs the member role, an agent with `read` on `totp/<id>`, or the service role;
    /// the seed is never returned. Audited (`credential.totp`, with the counter).
    pub async fn totp_code(
        &self,
        ctx: &TenantContext,
        id: &str,
        params: &TotpParams,
        unix_time: u64,
        purpose: &str,
    ) -> Result<TotpCode> {
        check_purpose(purpose)?;
        self.guard
            .totp_at(ctx, id, params, unix_time, purpose, None, |ctx| {
                self.observe(ctx, id, OpenKind::TotpCode, purpose)
            })
            .await
    }
}

impl Revealer {
    /// [`Revealer::totp_code`] for the guard's clock now (its [`Clock`](crate::Clock),
    /// not the system's): the time bindings use when the caller gives none.
    pub async fn totp_code_now(
        &self,
        ctx: &TenantContext,
        id: &str,
        params: &TotpParams,
        purpose: &str,
    ) -> Result<TotpCode> {
        let now = u64::try_from(self.guard.now()).unwrap_or(0);
        self.totp_code(ctx, id, params, now, purpose).await
    }
}

impl Guard {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn totp_at(
        &self,
        ctx: &TenantContext,
        id: &str,
        params: &TotpParams,
        unix_time: u64,
        reason: &str,
        host_key: Option<&str>,
        observe: impl FnOnce(&TenantContext) -> Result<()>,
    ) -> Result<TotpCode> {
        self.authorize(
            ctx,
            Action::UseCredential.needed_role(),
            &format!("totp/{id}"),
            crate::scope::Action::Read,
            "get a TOTP code",
        )?;
        totp::check_params(params)?;
        let now = u64::try_from(self.now()).unwrap_or(0);
        let (step, asked) = (now / params.period, unix_time / params.period);
        if asked.abs_diff(step) > 1 {
            return Err(TotpError::TimeOutsideWindow.into());
        }
        let rec = self
            .store()
            .get_record(ctx, id)
            .await?
            .ok_or(StoreError::RecordNotFound)?;
        if CredentialKind::parse(&rec.class) != Some(CredentialKind::TotpSeed) {
            return Err(TotpError::NotATotpSeed.into());
        }
        // Counted only for a request that would yield a code: a refused time or a wrong
        // record spends nothing.
        self.limit_from(ctx, crate::ratelimit::ActionClass::Totp, Some(id), host_key)
            .await?;
        observe(ctx)?;
        let value = SealedValue::from_vec(rec.sealed)?;
        let seed = self
            .open_unchecked(
                ctx,
                record_context(&rec.class, &rec.id),
                std::borrow::Cow::Owned(value),
            )
            .await?;
        let code = totp::totp(&seed, params, unix_time)?;
        let ev = AuditEvent::new(AuditAction::TotpCode, format!("record:{id}"))
            .reason(reason)
            .detail("counter", asked.to_string())
            .detail("period", params.period.to_string());
        self.append_audit(ctx, ev).await?;
        Ok(code)
    }
}

impl crate::Records<'_> {
    /// The current TOTP code (this guard's clock) from stored `totp_seed` credential `id`,
    /// for `reason`; see [`Revealer::totp_code`] for the rules. Audited
    /// (`credential.totp`, with the counter).
    pub async fn totp_code(
        self,
        ctx: &TenantContext,
        id: &str,
        params: &TotpParams,
        reason: &str,
    ) -> Result<TotpCode> {
        self.g
            .records()
            .totp_code_from(ctx, id, params, reason, None)
            .await
    }

    /// [`Records::totp_code`](crate::Records::totp_code) for a caller known by `host_key` (IP address or client id):
    /// the `Totp` class's per-host-key cell applies when its policy has one.
    pub async fn totp_code_from(
        self,
        ctx: &TenantContext,
        id: &str,
        params: &TotpParams,
        reason: &str,
        host_key: Option<&str>,
    ) -> Result<TotpCode> {
        check_purpose(reason)?;
        let now = u64::try_from(self.g.now()).unwrap_or(0);
        self.g
            .totp_at(ctx, id, params, now, reason, host_key, |_| Ok(()))
            .await
    }
}
