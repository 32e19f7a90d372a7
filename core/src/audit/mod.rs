//! The audit log: append-only, per tenant, hash-chained; export as JSON Lines and offline
//! verification that names the first broken or missing entry.
//!
//! Every privileged action the SDK performs appends an entry (token creation and
//! revocation, key rotation and destruction, tenant shredding, credential opens with their
//! reason, retention sweeps and erasures, session revocation); the host application records
//! its own (membership and permission changes, policy changes, egress decisions) with
//! [`Audit::record`](crate::Audit::record). Appends are atomic in the store (see
//! [`AuditStore::append_audit`]), so concurrent
//! appenders never fork a chain. Entries hold no secrets: subjects of erasure requests are
//! recorded as keyed digests ([`crate::retention::erasure_receipt_digest`]).

pub mod checkpoint;
mod entry;
pub mod erasure;
pub mod export;
pub mod merkle;
mod outcome;
mod restore;
pub mod sink;
mod store;
mod transparency;
mod verify;
pub mod witness;

pub use checkpoint::{open_checkpoint, AuditPublicKey, Checkpoint, CheckpointError};
pub use entry::{
    names_subject, personal_commitment, AppendedEntry, AuditDraft, AuditEntry, AuditMacKey,
    PersonalFields, PersonalSalt, GENESIS, HASH_DOMAIN, HASH_DOMAIN_V2, MAC_DOMAIN, MAC_DOMAIN_V2,
    PERSONAL_DOMAIN,
};
pub use outcome::AuditVerification;
pub use restore::{LostAction, ReapplyReport, RestoreReport, RESTORE_DETAILS};
pub use sink::{
    CheckpointSink, FileCheckpointSink, PublishedCheckpoint, RestoreAdmission, SinkError,
};
pub use store::AuditStore;
pub(crate) use transparency::Transparency;
pub use transparency::{
    ConsistencyProof, InclusionProof, SignedCheckpoint, TransparencyConfig, CHECKPOINT_MARK,
    CONSISTENCY_HEADER, EXPORT_HEADER, INCLUSION_HEADER,
};
pub use verify::{
    parse_line, verify_jsonl, ChainVerifier, VerifyOptions, VerifyProblem, VerifyReport,
    MAX_LINE_LEN,
};
pub use witness::{
    attach_cosigned_note, verify_cosignature, verify_export_witnessed, Witness, WitnessError,
    WitnessPublicKey, WitnessedVerdict,
};

use std::collections::BTreeMap;
use std::io::Write;

use thiserror::Error;

use crate::error::{ErrorKind, Result};
use crate::guard::Guard;
use crate::scope::Action as ScopeAction;
use crate::storage::MAX_PAGE;
use crate::tenant::{Principal, Role, TenantContext};

area_handle!(
    /// The tenant audit log: record, read, export, verify, checkpoints and proofs. From [`Guard::audit`].
    Audit,
    audit,
    "Audit log operations."
);

/// Longest target, in bytes.
pub const MAX_TARGET_LEN: usize = 256;
/// Longest reason, in bytes.
pub const MAX_REASON_LEN: usize = 1024;
/// Most detail fields per entry.
pub const MAX_DETAILS: usize = 32;
/// Longest detail key, in bytes.
pub const MAX_DETAIL_KEY_LEN: usize = 64;
/// Longest detail value, in bytes.
pub const MAX_DETAIL_VALUE_LEN: usize = 1024;

/// Errors from the audit log.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// The chain is broken at this line (1-based) and `seq`.
    #[error("audit chain broken at line {line}{}: {problem}", seq_note(*.seq))]
    Broken {
        /// 1-based line number (or position in the stored log).
        line: u64,
        /// The entry's `seq`, when it could be read.
        seq: Option<u64>,
        /// What is wrong.
        problem: VerifyProblem,
    },
    /// An event argument is out of range.
    #[error("invalid audit event: {0}")]
    InvalidInput(String),
    /// Reading or writing an export failed.
    #[error("audit export I/O failed: {0}")]
    Io(String),
    /// The action is one only the SDK records (see [`AuditAction::is_reserved`]).
    #[error("audit action {0} is reserved to the SDK")]
    Reserved(&'static str),
    /// `reconcile_audit_restore` found nothing to reconcile: every sink's latest
    /// checkpoint is a prefix of the stored log (or no sink holds one).
    #[error(
        "nothing to reconcile: the stored log ({size} entries) extends every published checkpoint"
    )]
    NothingToReconcile {
        /// Entries in the stored log.
        size: u64,
    },
    /// The pre-restore export given to `reconcile_audit_restore` was refused; nothing was
    /// re-applied or recorded. `reason` is a [`TamperReason`](export::TamperReason) kind,
    /// or `not_this_log` (another tenant's log), `beyond_checkpoint` (larger than the
    /// superseded checkpoint), `checkpoint_mismatch` (same size, another root) or
    /// `covers_no_lost_entry` (it ends at or before the restore point).
    #[error("the lost-window export was refused ({reason}): nothing was re-applied")]
    LostExportRefused {
        /// Why (a stable name).
        reason: &'static str,
    },
}

impl AuditError {
    /// The stable kind of this error (a broken chain is `Integrity`: tampered).
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuditError::Broken { .. } => ErrorKind::Integrity,
            AuditError::InvalidInput(_) => ErrorKind::InvalidInput,
            AuditError::Io(_) => ErrorKind::Store,
            AuditError::Reserved(_) => ErrorKind::PermissionDenied,
            AuditError::NothingToReconcile { .. } => ErrorKind::Conflict,
            AuditError::LostExportRefused { .. } => ErrorKind::Integrity,
        }
    }

    /// Why, for a broken chain (see [`crate::Error::reason`]).
    pub fn reason(&self) -> Option<crate::Reason> {
        match self {
            AuditError::Broken { .. } | AuditError::LostExportRefused { .. } => {
                Some(crate::Reason::BrokenChain)
            }
            _ => None,
        }
    }
}

/// The privileged actions the audit log names. Stable strings, e.g. `token.create`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A tenant was created.
    TenantCreate,
    /// An agent token was created.
    TokenCreate,
    /// An agent token was revoked.
    TokenRevoke,
    /// Every token of an agent was revoked (kill switch).
    AgentKill,
    /// A member's role or permissions changed (host application).
    PermissionChange,
    /// A member joined or left (host application).
    MembershipChange,
    /// A policy changed (egress, retention...).
    PolicyChange,
    /// A tenant data key was rotated.
    KeyRotate,
    /// A tenant data key was destroyed (retired).
    KeyDestroy,
    /// Tenant data keys were re-wrapped under a new KEK.
    KeyRewrap,
    /// Every key of the tenant was destroyed (crypto-shredding).
    TenantShred,
    /// A stored credential or record was opened (who, what, why).
    CredentialOpen,
    /// An AI egress decision (allowed, redacted, denied).
    EgressDecision,
    /// A retention sweep deleted expired records.
    RetentionSweep,
    /// A data subject's records were erased.
    SubjectErasure,
    /// A whole tenant was erased.
    TenantErasure,
    /// A login session was revoked (or killed on refresh-token reuse).
    SessionRevoke,
    /// A TOTP code was derived from a stored seed (the seed itself never left).
    TotpCode,
    /// The SDK added, changed or removed a membership (`Members::set`,
    /// `Members::remove`); details `from`, `to`.
    MemberChange,
    /// A portal was marked or unmarked SSO/MFA (`Portal::mark`); details `portal`,
    /// `sso_mfa`.
    PortalMark,
    /// Repeated failures locked a user (and host key) out of an action class for a while
    /// (`Sessions::verify_password`); details `class`, `failures`, `lockout_ms`.
    RateLimitLockout,
    /// The database was restored from a backup and the log reconciled with the checkpoints
    /// already published (`Audit::reconcile_restore`); details `restored_size`,
    /// `superseded_size`, `superseded_root`, `revocations` (docs/FORMAT.md, "Restore
    /// records").
    AuditRestore,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [AuditAction; 22] = [
        AuditAction::TenantCreate,
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::AgentKill,
        AuditAction::PermissionChange,
        AuditAction::MembershipChange,
        AuditAction::PolicyChange,
        AuditAction::KeyRotate,
        AuditAction::KeyDestroy,
        AuditAction::KeyRewrap,
        AuditAction::TenantShred,
        AuditAction::CredentialOpen,
        AuditAction::EgressDecision,
        AuditAction::RetentionSweep,
        AuditAction::SubjectErasure,
        AuditAction::TenantErasure,
        AuditAction::SessionRevoke,
        AuditAction::TotpCode,
        AuditAction::MemberChange,
        AuditAction::PortalMark,
        AuditAction::RateLimitLockout,
        AuditAction::AuditRestore,
    ];

    /// Parses a stable name ([`AuditAction::as_str`]).
    pub fn parse(s: &str) -> Option<AuditAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TenantCreate => "tenant.create",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::AgentKill => "token.kill_agent",
            AuditAction::PermissionChange => "permission.change",
            AuditAction::MembershipChange => "membership.change",
            AuditAction::PolicyChange => "policy.change",
            AuditAction::KeyRotate => "key.rotate",
            AuditAction::KeyDestroy => "key.destroy",
            AuditAction::KeyRewrap => "key.rewrap",
            AuditAction::TenantShred => "tenant.shred",
            AuditAction::CredentialOpen => "credential.open",
            AuditAction::EgressDecision => "egress.decision",
            AuditAction::RetentionSweep => "retention.sweep",
            AuditAction::SubjectErasure => "retention.erase_subject",
            AuditAction::TenantErasure => "retention.erase_tenant",
            AuditAction::SessionRevoke => "session.revoke",
            AuditAction::TotpCode => "credential.totp",
            AuditAction::MemberChange => "member.change",
            AuditAction::PortalMark => "portal.mark",
            AuditAction::RateLimitLockout => "ratelimit.lockout",
            AuditAction::AuditRestore => "audit.restore",
        }
    }

    /// Whether only the SDK itself may append this action (everything but membership,
    /// permission and policy changes and egress decisions): a caller's
    /// [`Audit::record`](crate::Audit::record) cannot forge a `tenant.shred` or a `credential.open`.
    pub fn is_reserved(self) -> bool {
        !matches!(
            self,
            AuditAction::PermissionChange
                | AuditAction::MembershipChange
                | AuditAction::PolicyChange
                | AuditAction::EgressDecision
        )
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = crate::UnknownName;

    fn from_str(s: &str) -> Result<Self, crate::UnknownName> {
        AuditAction::parse(s).ok_or(crate::UnknownName("audit action"))
    }
}

/// An event the host application records (membership, permission and policy changes,
/// egress decisions...). The actor is always the context's principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What.
    pub action: AuditAction,
    /// On what (1 to 256 bytes).
    pub target: String,
    /// Why (at most 1024 bytes).
    pub reason: Option<String>,
    /// Further facts (at most 32; keys ≤ 64 bytes, values ≤ 1024 bytes). Never secrets.
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    /// An event with no reason and no details.
    pub fn new(action: AuditAction, target: impl Into<String>) -> Self {
        AuditEvent {
            action,
            target: target.into(),
            reason: None,
            details: BTreeMap::new(),
        }
    }

    /// Adds a reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    fn validate(&self) -> Result<(), AuditError> {
        let bad = |m: String| Err(AuditError::InvalidInput(m));
        if self.target.is_empty() || self.target.len() > MAX_TARGET_LEN {
            return bad(format!("target must be 1 to {MAX_TARGET_LEN} bytes"));
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.is_empty() || r.len() > MAX_REASON_LEN)
        {
            return bad(format!("reason must be 1 to {MAX_REASON_LEN} bytes"));
        }
        if self.details.len() > MAX_DETAILS {
            return bad(format!("at most {MAX_DETAILS} details"));
        }
        if self.details.iter().any(|(k, v)| {
            k.is_empty() || k.len() > MAX_DETAIL_KEY_LEN || v.len() > MAX_DETAIL_VALUE_LEN
        }) {
            return bad(format!("detail keys must be 1 to {MAX_DETAIL_KEY_LEN} bytes, values at most {MAX_DETAIL_VALUE_LEN}"));
        }
        Ok(())
    }
}

/// The audit name of the context's principal: `service`, `user:<id>` or `agent:<id>`.
/// The kind is part of the name, so an agent whose id equals a user's never shows as
/// that user.
pub fn actor_of(ctx: &TenantContext) -> String {
    match ctx.principal() {
        Principal::Service => "service".to_owned(),
        Principal::User { user, .. } => format!("user:{user}"),
        Principal::Agent(g) => format!("agent:{}", g.agent),
    }
}

/// The SHA-256 (hex) of a value that must not appear in the log itself (e.g. a data
/// subject's id): lets an auditor confirm a known value without the log holding it.
/// Unkeyed, so anyone can test guesses against it: not for low-entropy personal data
/// such as e-mail addresses (erasure receipts use a keyed digest instead).
pub fn digest(value: &str) -> String {
    use sha2::Digest;
    entry::hex32(&sha2::Sha256::digest(value.as_bytes()).into())
}

/// Moves a paging cursor over a tenant's stored log to entry `e`, which must come after
/// it: a row that holds an earlier entry than its place (a database writer replaying an
/// old row) is reported, instead of making a loop that pages by `seq` read the same page
/// forever.
pub(crate) fn advance_cursor(after: &mut u64, e: &AuditEntry) -> Result<()> {
    if e.seq <= *after {
        let expected = after.saturating_add(1);
        return Err(transparency::broken(
            expected,
            VerifyProblem::OutOfOrder {
                expected,
                found: e.seq,
            },
        ));
    }
    *after = e.seq;
    Ok(())
}

impl Guard {
    /// The draft of an SDK entry whose actor is `ctx`'s principal: MACed, with a fresh
    /// salt so its personal fields can be erased (format v2).
    pub(crate) async fn audit_draft(
        &self,
        ctx: &TenantContext,
        event: AuditEvent,
    ) -> Result<AuditDraft> {
        Ok(AuditDraft {
            time: self.now(),
            actor: actor_of(ctx),
            action: event.action.as_str().to_owned(),
            target: event.target,
            reason: event.reason,
            details: event.details,
            mac_key: Some(self.audit_mac_key().await?),
            personal_salt: Some(PersonalSalt::generate()?),
        })
    }

    /// Appends an entry for an action the SDK itself performs.
    pub(crate) async fn append_audit(
        &self,
        ctx: &TenantContext,
        event: AuditEvent,
    ) -> Result<AuditEntry> {
        let draft = self.audit_draft(ctx, event).await?;
        let e = self.audit_store().append_audit(ctx, &draft).await?;
        self.after_audit_append(ctx, &AppendedEntry::of(&e)).await;
        Ok(e)
    }

    /// [`Guard::audit`] keeping only the sequence number (audited opens: the entry is not
    /// handed out, so the store need not build a copy of it).
    pub(crate) async fn audit_seq(&self, ctx: &TenantContext, event: AuditEvent) -> Result<u64> {
        let draft = self.audit_draft(ctx, event).await?;
        let appended = self.audit_store().append_audit_owned(ctx, draft).await?;
        self.after_audit_append(ctx, &appended).await;
        Ok(appended.seq)
    }

    async fn walk_audit(
        &self,
        ctx: &TenantContext,
        mut each: impl FnMut(&AuditEntry) -> Result<(), AuditError> + Send,
    ) -> Result<VerifyReport> {
        let mut v = ChainVerifier::new(None);
        let mut macs_seen = false;
        let mut after = 0u64;
        let mut n = 0u64;
        loop {
            let page = self
                .audit_store()
                .audit_entries(ctx, after, MAX_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                n += 1;
                if e.tenant != ctx.tenant().as_str() {
                    return Err(AuditError::Broken {
                        line: n,
                        seq: Some(e.seq),
                        problem: VerifyProblem::TenantChanged,
                    }
                    .into());
                }
                v.push(e).map_err(|problem| AuditError::Broken {
                    line: n,
                    seq: Some(e.seq),
                    problem,
                })?;
                // The MAC too (the chain alone is unkeyed: a writer re-chains a rewritten
                // suffix). A key that cannot be fetched now is an availability error.
                self.check_entry_mac(e, macs_seen).await?;
                v.check_personal(e).map_err(|problem| AuditError::Broken {
                    line: n,
                    seq: Some(e.seq),
                    problem,
                })?;
                macs_seen |= e.mac.is_some();
                each(e)?;
            }
        }
        if let Some((line, seq)) = v.uncovered_erasure() {
            return Err(AuditError::Broken {
                line,
                seq: Some(seq),
                problem: VerifyProblem::ErasedWithoutReceipt,
            }
            .into());
        }
        Ok(v.finish(None).map_err(|problem| AuditError::Broken {
            line: n,
            seq: None,
            problem,
        })?)
    }
}

impl Audit<'_> {
    /// Records an event of the host application (membership, permission or policy
    /// changes, egress decisions) in the tenant's audit log. Any role (an agent needs
    /// `write` on `audit`); the actor is the context's principal. SDK-reserved actions
    /// are refused (`Reserved`).
    pub async fn record(self, ctx: &TenantContext, event: AuditEvent) -> Result<AuditEntry> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "audit",
            ScopeAction::Write,
            "record an audit event",
        )?;
        if event.action.is_reserved() {
            return Err(AuditError::Reserved(event.action.as_str()).into());
        }
        event.validate()?;
        self.g.append_audit(ctx, event).await
    }

    /// Entries with `seq > after`, ascending, at most `limit` (1 to 10,000). Needs the admin role.
    pub async fn entries(
        self,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        self.g.authorize(
            ctx,
            Role::Admin,
            "audit",
            ScopeAction::Read,
            "read the audit log",
        )?;
        Ok(self
            .g
            .audit_store()
            .audit_entries(ctx, after, limit)
            .await?)
    }

    /// Writes the tenant's whole audit log as JSON Lines to `out`, verifying the chain as
    /// it goes: the report's head is what an offline [`verify_jsonl`] should end at.
    /// Fails with `Broken` if the stored chain was tampered with. Needs the admin role.
    pub async fn export(
        self,
        ctx: &TenantContext,
        mut out: impl Write + Send,
    ) -> Result<VerifyReport> {
        self.g.authorize(
            ctx,
            Role::Admin,
            "audit",
            ScopeAction::Read,
            "export the audit log",
        )?;
        self.g
            .walk_audit(ctx, |e| {
                out.write_all(e.to_json_line().as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|e| AuditError::Io(e.kind().to_string()))
            })
            .await
            .and_then(|r| {
                out.flush()
                    .map_err(|e| AuditError::Io(e.kind().to_string()))?;
                Ok(r)
            })
    }

    /// Verifies the tenant's stored chain: [`AuditVerification::Broken`] names the first
    /// broken or missing entry; errors are refusals and store failures only. Needs the
    /// admin role.
    pub async fn verify(self, ctx: &TenantContext) -> Result<AuditVerification> {
        self.g.authorize(
            ctx,
            Role::Admin,
            "audit",
            ScopeAction::Read,
            "verify the audit log",
        )?;
        AuditVerification::from_strict(self.g.walk_audit(ctx, |_| Ok(())).await)
    }
}

/// " (seq N)" when the broken entry's `seq` could be read, else nothing.
fn seq_note(seq: Option<u64>) -> String {
    seq.map(|s| format!(" (seq {s})")).unwrap_or_default()
}
