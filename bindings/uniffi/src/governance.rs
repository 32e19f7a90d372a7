//! Governance: guard options (token and session settings, a clock), agent tokens, the audit
//! log, retention, login sessions and password hashing. Conversions only.

use std::collections::HashMap;
use std::sync::Arc;

use tenantguard::auth as core_auth;
use tenantguard::tokens as core_tokens;
use tenantguard::{audit as core_audit, retention as core_retention, UserId};

use crate::dual::dual;
use crate::error::{HostError, TenantguardError};
use crate::guard::Guard;
use crate::types::{tenant_id, ServiceRole, TenantContext};
use tenantguard::ErrorKind;

type Result<T, E = TenantguardError> = std::result::Result<T, E>;

fn user_id(s: String) -> Result<UserId> {
    Ok(UserId::new(s)?)
}

fn ctx_of(c: tenantguard::TenantContext) -> Arc<TenantContext> {
    Arc::new(TenantContext(c))
}

// ---------------------------------------------------------------------------------------
// Options and clock

/// A source of the current time, implemented in Kotlin or Swift (tests move it to check
/// expiry and retention at their boundaries). Must not call back into a `Guard`.
#[uniffi::export(with_foreign)]
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch. If it throws, the system clock answers instead (as in
    /// the Python binding).
    fn now_unix(&self) -> Result<i64, HostError>;
}

struct ForeignClock(Arc<dyn Clock>);

impl tenantguard::Clock for ForeignClock {
    fn now_unix(&self) -> i64 {
        self.0
            .now_unix()
            .unwrap_or_else(|_| tenantguard::Clock::now_unix(&tenantguard::SystemClock))
    }
}

/// Settings of a `Guard` beyond its key provider and store: agent tokens, login sessions
/// and the clock. Every argument left out keeps the core's default. `toString()` never
/// shows the session signing key.
#[derive(uniffi::Object)]
#[uniffi::export(Debug)]
pub struct GuardOptions {
    pub(crate) governance: tenantguard::GovernanceConfig,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    /// Named per-tenant key providers (bring your own key), see `byok.rs`.
    pub(crate) tenant_providers: Vec<(String, Arc<dyn tenantguard::KeyProvider>)>,
    /// Which tenants may use which named provider.
    pub(crate) provider_tenants: Vec<(String, String)>,
    /// A shared rate limiter (`with_rate_limit_url`); None keeps limits in the process.
    pub(crate) rate_limiter: Option<tenantguard::ratelimit::RateLimiter>,
}

impl std::fmt::Debug for GuardOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardOptions")
            .field("governance", &self.governance)
            .field("clock", &self.clock.as_ref().map(|_| "foreign"))
            .field(
                "tenant_providers",
                &self
                    .tenant_providers
                    .iter()
                    .map(|p| &p.0)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[uniffi::export]
impl GuardOptions {
    /// Options: token prefix (default `tg`), token cache time in milliseconds (10,000; 0
    /// disables) and capacity (10,000), the session signing key (32 to 1024 bytes; default
    /// a random key per guard), access/refresh/absolute session lifetimes in seconds (900,
    /// 14 days, 30 days), the refresh-token prefix (`tgr`) and a clock (the system's).
    #[uniffi::constructor(default(
        token_prefix = None,
        token_cache_ttl_ms = None,
        token_cache_capacity = None,
        session_signing_key = None,
        access_ttl_secs = None,
        refresh_ttl_secs = None,
        max_session_lifetime_secs = None,
        refresh_prefix = None,
        clock = None
    ))]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        token_prefix: Option<String>,
        token_cache_ttl_ms: Option<u64>,
        token_cache_capacity: Option<u32>,
        session_signing_key: Option<Vec<u8>>,
        access_ttl_secs: Option<i64>,
        refresh_ttl_secs: Option<i64>,
        max_session_lifetime_secs: Option<i64>,
        refresh_prefix: Option<String>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Arc<Self> {
        let mut g = tenantguard::GovernanceConfig::default();
        if let Some(p) = token_prefix {
            g.tokens.prefix = p;
        }
        if let Some(ms) = token_cache_ttl_ms {
            g.tokens.cache_ttl = std::time::Duration::from_millis(ms);
        }
        if let Some(n) = token_cache_capacity {
            g.tokens.cache_capacity = n as usize;
        }
        if let Some(k) = session_signing_key {
            g.sessions.signing_key = Some(tenantguard::SecretBytes::new(k));
        }
        if let Some(t) = access_ttl_secs {
            g.sessions.access_ttl_secs = t;
        }
        if let Some(t) = refresh_ttl_secs {
            g.sessions.refresh_ttl_secs = t;
        }
        if let Some(t) = max_session_lifetime_secs {
            g.sessions.max_lifetime_secs = t;
        }
        if let Some(p) = refresh_prefix {
            g.sessions.refresh_prefix = p;
        }
        Arc::new(GuardOptions {
            governance: g,
            clock,
            tenant_providers: Vec::new(),
            provider_tenants: Vec::new(),
            rate_limiter: None,
        })
    }
}

impl GuardOptions {
    /// A copy (the foreign clock and providers are shared handles).
    pub(crate) fn clone_options(&self) -> GuardOptions {
        GuardOptions {
            governance: self.governance.clone(),
            clock: self.clock.clone(),
            tenant_providers: self.tenant_providers.clone(),
            provider_tenants: self.provider_tenants.clone(),
            rate_limiter: self.rate_limiter.clone(),
        }
    }

    /// Applies the options to a core builder.
    pub(crate) fn apply(&self, b: tenantguard::GuardBuilder) -> tenantguard::GuardBuilder {
        let mut b = b.governance(self.governance.clone());
        for (name, p) in &self.tenant_providers {
            b = b.tenant_key_provider_arc(name, p.clone());
        }
        for (name, t) in &self.provider_tenants {
            // An invalid id is allowed nothing: set_tenant_key_provider then refuses it.
            if let Ok(t) = tenantguard::TenantId::new(t.clone()) {
                b = b.allow_tenant_key_provider(name, t);
            }
        }
        if let Some(l) = &self.rate_limiter {
            b = b.rate_limiter(l.clone());
        }
        match &self.clock {
            Some(c) => b.clock(ForeignClock(c.clone())),
            None => b,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Agent tokens

/// What a token may do to a resource.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAction {
    /// Read.
    Read,
    /// Create or replace.
    Write,
    /// Delete.
    Delete,
    /// Manage.
    Admin,
}

impl From<TokenAction> for core_tokens::Action {
    fn from(a: TokenAction) -> Self {
        match a {
            TokenAction::Read => core_tokens::Action::Read,
            TokenAction::Write => core_tokens::Action::Write,
            TokenAction::Delete => core_tokens::Action::Delete,
            TokenAction::Admin => core_tokens::Action::Admin,
        }
    }
}

impl From<core_tokens::Action> for TokenAction {
    fn from(a: core_tokens::Action) -> Self {
        match a {
            core_tokens::Action::Read => TokenAction::Read,
            core_tokens::Action::Write => TokenAction::Write,
            core_tokens::Action::Delete => TokenAction::Delete,
            core_tokens::Action::Admin => TokenAction::Admin,
        }
    }
}

/// One permission: an action on a resource pattern: an exact name, a prefix ending in `*`, or `*`.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct TokenScope {
    /// Resource pattern.
    pub resource: String,
    /// The allowed action (exactly this one).
    pub action: TokenAction,
}

fn scopes_in(v: Vec<TokenScope>) -> Vec<core_tokens::Scope> {
    v.into_iter()
        .map(|s| core_tokens::Scope::new(s.resource, s.action.into()))
        .collect()
}

fn scopes_out(v: Vec<core_tokens::Scope>) -> Vec<TokenScope> {
    v.into_iter()
        .map(|s| TokenScope {
            resource: s.resource,
            action: s.action.into(),
        })
        .collect()
}

/// What to create: the agent, a label, scopes (`null`: read-only on everything) and an
/// optional lifetime in seconds.
#[derive(uniffi::Record, Clone, Debug)]
pub struct TokenSpec {
    /// The agent the token acts as.
    pub agent: String,
    /// A label for humans (1 to 128 bytes).
    pub name: String,
    /// The permissions (1 to 32); `null` means read on `*`.
    #[uniffi(default = None)]
    pub scopes: Option<Vec<TokenScope>>,
    /// Lifetime in seconds; `null` never expires.
    #[uniffi(default = None)]
    pub ttl_secs: Option<i64>,
}

impl TryFrom<TokenSpec> for core_tokens::TokenSpec {
    type Error = TenantguardError;
    fn try_from(s: TokenSpec) -> Result<Self> {
        let mut spec = core_tokens::TokenSpec::read_only(user_id(s.agent)?, s.name);
        if let Some(scopes) = s.scopes {
            spec = spec.scopes(scopes_in(scopes));
        }
        spec.ttl_secs = s.ttl_secs;
        Ok(spec)
    }
}

/// A newly created token: its id and its plaintext, shown once. `toString()` never shows it.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct IssuedToken(core_tokens::IssuedToken);

#[uniffi::export]
impl IssuedToken {
    /// The public id (for listing and revoking).
    pub fn id(&self) -> String {
        self.0.id.clone()
    }

    /// The token string, to hand to the agent once. Never log it.
    pub fn secret(&self) -> String {
        self.0.secret.expose().to_owned()
    }

    /// Expiry, Unix seconds.
    pub fn expires_at(&self) -> Option<i64> {
        self.0.expires_at
    }
}

/// A token's stored metadata (never the plaintext).
#[derive(uniffi::Record, Clone, Debug)]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// The agent.
    pub agent: String,
    /// The label.
    pub name: String,
    /// The permissions.
    pub scopes: Vec<TokenScope>,
    /// Creation, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Revocation, Unix seconds.
    pub revoked_at: Option<i64>,
}

impl From<core_tokens::TokenInfo> for TokenInfo {
    fn from(t: core_tokens::TokenInfo) -> Self {
        TokenInfo {
            id: t.id,
            agent: t.agent.as_str().to_owned(),
            name: t.name,
            scopes: scopes_out(t.scopes),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A verified token: the agent and the scope to act in.
#[derive(uniffi::Record, Clone, Debug)]
pub struct VerifiedToken {
    /// The token's public id.
    pub token_id: String,
    /// The agent.
    pub agent: String,
    /// The permissions.
    pub scopes: Vec<TokenScope>,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// The agent's scope: its tenant, with the least role covering the scopes.
    pub context: Arc<TenantContext>,
}

impl From<core_tokens::VerifiedToken> for VerifiedToken {
    fn from(v: core_tokens::VerifiedToken) -> Self {
        VerifiedToken {
            token_id: v.token_id,
            agent: v.agent.as_str().to_owned(),
            scopes: scopes_out(v.scopes),
            expires_at: v.expires_at,
            context: ctx_of(v.context),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Audit log

/// The privileged actions an application records itself (the SDK records the others).
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A tenant was created.
    TenantCreate,
    /// An agent token was created.
    TokenCreate,
    /// An agent token was revoked.
    TokenRevoke,
    /// Every token of an agent was revoked.
    AgentKill,
    /// A member's role or permissions changed.
    PermissionChange,
    /// A member joined or left.
    MembershipChange,
    /// A policy changed.
    PolicyChange,
    /// A tenant data key was rotated.
    KeyRotate,
    /// A tenant data key was destroyed.
    KeyDestroy,
    /// Tenant data keys were re-wrapped.
    KeyRewrap,
    /// Every key of the tenant was destroyed.
    TenantShred,
    /// A stored credential or record was opened.
    CredentialOpen,
    /// An AI egress decision.
    EgressDecision,
    /// A retention sweep deleted records.
    RetentionSweep,
    /// A data subject's records were erased.
    SubjectErasure,
    /// A whole tenant was erased.
    TenantErasure,
    /// A login session was revoked.
    SessionRevoke,
    /// A TOTP code was derived from a stored seed (reserved to the SDK).
    TotpCode,
}

impl From<AuditAction> for core_audit::AuditAction {
    fn from(a: AuditAction) -> Self {
        use core_audit::AuditAction as A;
        match a {
            AuditAction::TenantCreate => A::TenantCreate,
            AuditAction::TokenCreate => A::TokenCreate,
            AuditAction::TokenRevoke => A::TokenRevoke,
            AuditAction::AgentKill => A::AgentKill,
            AuditAction::PermissionChange => A::PermissionChange,
            AuditAction::MembershipChange => A::MembershipChange,
            AuditAction::PolicyChange => A::PolicyChange,
            AuditAction::KeyRotate => A::KeyRotate,
            AuditAction::KeyDestroy => A::KeyDestroy,
            AuditAction::KeyRewrap => A::KeyRewrap,
            AuditAction::TenantShred => A::TenantShred,
            AuditAction::CredentialOpen => A::CredentialOpen,
            AuditAction::EgressDecision => A::EgressDecision,
            AuditAction::RetentionSweep => A::RetentionSweep,
            AuditAction::SubjectErasure => A::SubjectErasure,
            AuditAction::TenantErasure => A::TenantErasure,
            AuditAction::SessionRevoke => A::SessionRevoke,
            AuditAction::TotpCode => A::TotpCode,
        }
    }
}

/// An event the application records (the actor is the context's principal).
#[derive(uniffi::Record, Clone, Debug)]
pub struct AuditEvent {
    /// What.
    pub action: AuditAction,
    /// On what (1 to 256 bytes).
    pub target: String,
    /// Why (at most 1024 bytes).
    #[uniffi(default = None)]
    pub reason: Option<String>,
    /// Further facts (at most 32). Never secrets.
    #[uniffi(default)]
    pub details: HashMap<String, String>,
}

/// One entry of a tenant's audit log (one JSON Lines line of an export).
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The tenant.
    pub tenant: String,
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When, Unix seconds.
    pub time: i64,
    /// Who: `service`, `user:<id>` or `agent:<id>`.
    pub actor: String,
    /// What, e.g. `token.create`.
    pub action: String,
    /// On what.
    pub target: String,
    /// Why.
    pub reason: Option<String>,
    /// Further facts.
    pub details: HashMap<String, String>,
    /// The previous entry's hash (hex).
    pub prev: String,
    /// This entry's hash (hex).
    pub hash: String,
}

impl From<core_audit::AuditEntry> for AuditEntry {
    fn from(e: core_audit::AuditEntry) -> Self {
        AuditEntry {
            tenant: e.tenant,
            seq: e.seq,
            time: e.time,
            actor: e.actor,
            action: e.action,
            target: e.target,
            reason: e.reason,
            details: e.details.into_iter().collect(),
            prev: e.prev,
            hash: e.hash,
        }
    }
}

/// What a successful chain verification saw.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// The tenant (`null` for an empty log).
    pub tenant: Option<String>,
    /// The last `seq`.
    pub last_seq: u64,
    /// The last hash (the head to check a later export against).
    pub head: String,
    /// Entries whose personal fields were erased (each listed by an erasure receipt).
    pub erased_entries: u64,
}

impl From<core_audit::VerifyReport> for AuditReport {
    fn from(r: core_audit::VerifyReport) -> Self {
        AuditReport {
            entries: r.entries,
            tenant: r.tenant,
            last_seq: r.last_seq,
            head: r.head,
            erased_entries: r.erased_entries,
        }
    }
}

/// A point in a chain: an entry's `seq` and `hash`.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    /// The entry's `seq`.
    pub seq: u64,
    /// The entry's hash.
    pub hash: String,
}

/// A whole audit log as JSON Lines, verified while it was written.
#[derive(uniffi::Record, Clone, Debug)]
pub struct AuditExport {
    /// One entry per line, each ending in `\n`.
    pub jsonl: String,
    /// What the export holds; an offline verification must end at `report.head`.
    pub report: AuditReport,
}

/// The core's verification options: resume after `start_after`, end at `expected_head`.
pub(crate) fn verify_options(
    start_after: Option<AuditHead>,
    expected_head: Option<AuditHead>,
) -> core_audit::VerifyOptions {
    core_audit::VerifyOptions {
        start_after: start_after.map(|h| (h.seq, h.hash)),
        expected_head: expected_head.map(|h| (h.seq, h.hash)),
    }
}

/// Verifies an exported audit log offline. Throws `Integrity` naming the first broken or
/// missing line (`checkAuditJsonl` returns it as a value instead); `expected_head` also
/// catches entries cut off the end.
#[uniffi::export(default(start_after = None, expected_head = None))]
pub fn verify_audit_jsonl(
    jsonl: String,
    start_after: Option<AuditHead>,
    expected_head: Option<AuditHead>,
) -> Result<AuditReport> {
    let opts = verify_options(start_after, expected_head);
    Ok(core_audit::verify_jsonl(jsonl.as_bytes(), &opts)
        .and_then(core_audit::AuditVerification::into_result)
        .map_err(tenantguard::Error::from)?
        .into())
}

// ---------------------------------------------------------------------------------------
// Retention

/// How long records of a data class are kept.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionWindow {
    /// Never deleted by sweeps.
    Forever,
    /// Deleted once older than `secs` seconds (1 second to 100 years).
    Secs {
        /// The window.
        secs: i64,
    },
}

impl From<RetentionWindow> for tenantguard::store::RetentionWindow {
    fn from(w: RetentionWindow) -> Self {
        match w {
            RetentionWindow::Forever => tenantguard::store::RetentionWindow::Forever,
            RetentionWindow::Secs { secs } => tenantguard::store::RetentionWindow::Secs(secs),
        }
    }
}

impl From<tenantguard::store::RetentionWindow> for RetentionWindow {
    fn from(w: tenantguard::store::RetentionWindow) -> Self {
        match w {
            tenantguard::store::RetentionWindow::Forever => RetentionWindow::Forever,
            tenantguard::store::RetentionWindow::Secs(secs) => RetentionWindow::Secs { secs },
        }
    }
}

/// What one sweep of one tenant did.
#[derive(uniffi::Record, Clone, Debug)]
pub struct SweepReport {
    /// The tenant.
    pub tenant: Option<String>,
    /// The time windows were measured from.
    pub now: i64,
    /// Records deleted per class.
    pub deleted: HashMap<String, u64>,
    /// Batches run.
    pub batches: u64,
    /// The last audit receipt's `seq`, when anything was deleted (each batch that deleted
    /// records has its own `retention.sweep` receipt).
    pub audit_seq: Option<u64>,
    /// The progress callback stopped the sweep early; run it again to go on.
    pub stopped: bool,
}

impl From<core_retention::SweepReport> for SweepReport {
    fn from(r: core_retention::SweepReport) -> Self {
        SweepReport {
            tenant: r.tenant.map(|t| t.as_str().to_owned()),
            now: r.now,
            deleted: r.deleted.into_iter().collect(),
            batches: r.batches,
            audit_seq: r.audit_seq,
            stopped: r.stopped,
        }
    }
}

/// What a sweep over every tenant did.
#[derive(uniffi::Record, Clone, Debug)]
pub struct SweepAllReport {
    /// Tenants swept.
    pub tenants: u64,
    /// Records deleted in all.
    pub deleted: u64,
    /// The last tenant finished (pass as `start_after` to resume).
    pub last_tenant: Option<String>,
    /// The progress callback stopped the sweep early; resume from `last_tenant`.
    pub stopped: bool,
}

impl From<core_retention::SweepAllReport> for SweepAllReport {
    fn from(r: core_retention::SweepAllReport) -> Self {
        SweepAllReport {
            tenants: r.tenants,
            deleted: r.deleted,
            last_tenant: r.last_tenant.map(|t| t.as_str().to_owned()),
            stopped: r.stopped,
        }
    }
}

/// What a data-subject erasure did.
#[derive(uniffi::Record, Clone, Debug)]
pub struct ErasureReport {
    /// The keyed digest (hex) of the subject, as recorded in the audit receipt.
    pub subject_digest: String,
    /// The receipt's random secret, returned once and stored nowhere: hand it to the
    /// requester so they can check the receipt is theirs. Never printed.
    pub receipt_secret: Arc<ReceiptSecret>,
    /// Records deleted.
    pub deleted: u64,
    /// Audit entries whose personal fields (actor, target, reason) were erased.
    pub audit_erased: u64,
    /// Batches run.
    pub batches: u64,
    /// The audit receipt.
    pub receipt: AuditEntry,
}

/// The secret of one erasure receipt: an object, so `toString()` and logs never show it.
#[derive(uniffi::Object)]
pub struct ReceiptSecret(tenantguard::retention::ReceiptSecret);

impl std::fmt::Debug for ReceiptSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptSecret(<redacted>)")
    }
}

#[uniffi::export]
impl ReceiptSecret {
    /// The secret as 64 hex characters, for the requester (and only for them).
    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }
}

/// What erasing a whole tenant did.
#[derive(uniffi::Record, Clone, Debug)]
pub struct TenantErasureReport {
    /// Agent tokens revoked.
    pub tokens_revoked: u64,
    /// Login sessions revoked.
    pub sessions_revoked: u64,
    /// Sealed records deleted.
    pub records_deleted: u64,
    /// The audit receipt.
    pub receipt: AuditEntry,
}

// ---------------------------------------------------------------------------------------
// Sessions

/// New session tokens: the access token (bearer) and the refresh token. `toString()`
/// never shows either.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct SessionTokens(pub(crate) core_auth::SessionTokens);

#[uniffi::export]
impl SessionTokens {
    /// The session id.
    pub fn session_id(&self) -> String {
        self.0.session_id.clone()
    }

    /// The access token. Never log it.
    pub fn access_token(&self) -> String {
        self.0.access_token.expose().to_owned()
    }

    /// When the access token expires, Unix seconds.
    pub fn access_expires_at(&self) -> i64 {
        self.0.access_expires_at
    }

    /// The refresh token. Never log it.
    pub fn refresh_token(&self) -> String {
        self.0.refresh_token.expose().to_owned()
    }

    /// When the refresh token expires, Unix seconds.
    pub fn refresh_expires_at(&self) -> i64 {
        self.0.refresh_expires_at
    }
}

/// A verified access token: the session and the user's scope.
#[derive(uniffi::Record, Clone, Debug)]
pub struct VerifiedAccess {
    /// The session id.
    pub session_id: String,
    /// The user's scope in the tenant.
    pub context: Arc<TenantContext>,
    /// When the token expires, Unix seconds.
    pub expires_at: i64,
}

impl From<core_auth::VerifiedAccess> for VerifiedAccess {
    fn from(v: core_auth::VerifiedAccess) -> Self {
        VerifiedAccess {
            session_id: v.session_id,
            context: ctx_of(v.context),
            expires_at: v.expires_at,
        }
    }
}

/// One login session (metadata only).
#[derive(uniffi::Record, Clone, Debug)]
pub struct SessionInfo {
    /// The id (to revoke it).
    pub id: String,
    /// The user.
    pub user: String,
    /// The label given at login.
    pub label: String,
    /// Creation, Unix seconds.
    pub created_at: i64,
    /// Last refresh, Unix seconds.
    pub refreshed_at: i64,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
    /// Revocation, Unix seconds.
    pub revoked_at: Option<i64>,
}

impl From<core_auth::SessionInfo> for SessionInfo {
    fn from(s: core_auth::SessionInfo) -> Self {
        SessionInfo {
            id: s.id,
            user: s.user,
            label: s.label,
            created_at: s.created_at,
            refreshed_at: s.refreshed_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
        }
    }
}

#[uniffi::export]
impl Guard {
    /// Verifies an access token (signature in constant time, issuer, expiry) and returns
    /// the session's scope. Refuses a revoked session's token as soon as this instance
    /// hears of the revocation (with PostgreSQL, from any instance).
    pub fn verify_access_token(&self, token: String) -> Result<VerifiedAccess> {
        let g = &self.0;
        crate::runtime::block_on_in(crate::runtime::CallId::call_id(self), async move {
            Ok(g.sessions().verify_access_token(&token).await?.into())
        })
    }
}

// ---------------------------------------------------------------------------------------
// Guard operations

dual! {
impl Guard {
    /// Opens stored credential `record_id` for `reason` (1 to 1024 bytes), recorded in the
    /// audit log before the plaintext is returned. Service role only.
    fn open_credential_with_reason / open_credential_with_reason_async(
        &self, ctx: Arc<TenantContext>, record_id: String, reason: String
    ) -> Arc<crate::types::Credential> {
        Ok(Arc::new(crate::types::Credential(
            self.0.records().open_credential_with_reason(&ctx.0, &record_id, &reason).await?,
        )))
    }

    /// Creates an agent token; its plaintext is shown once, the store keeps its SHA-256.
    /// Audited. Admin role.
    fn create_token / create_token_async(&self, ctx: Arc<TenantContext>, spec: TokenSpec) -> Arc<IssuedToken> {
        let spec = core_tokens::TokenSpec::try_from(spec)?;
        Ok(Arc::new(IssuedToken(self.0.tokens().create(&ctx.0, spec).await?)))
    }

    /// The tenant's tokens (of one agent if given), ids after `after`, at most `limit`
    /// (1 to 10,000). Metadata only. Admin role.
    fn list_tokens / list_tokens_async(
        &self, ctx: Arc<TenantContext>, agent: Option<String>, after: Option<String>, limit: u32
    ) -> Vec<TokenInfo> {
        let agent = agent.map(user_id).transpose()?;
        let v = self.0.tokens().list(&ctx.0, agent.as_ref(), after.as_deref(), limit as usize).await?;
        Ok(v.into_iter().map(TokenInfo::from).collect())
    }

    /// Revokes one token; returns whether it was live. Audited. Admin role.
    fn revoke_token / revoke_token_async(&self, ctx: Arc<TenantContext>, token_id: String) -> bool {
        Ok(self.0.tokens().revoke(&ctx.0, &token_id).await?)
    }

    /// Kill switch: revokes every live token of `agent`; returns how many. Audited. Admin role.
    fn kill_agent / kill_agent_async(&self, ctx: Arc<TenantContext>, agent: String) -> u64 {
        Ok(self.0.tokens().kill_agent(&ctx.0, &user_id(agent)?).await?)
    }

    /// Authenticates a token string. Throws `Malformed` (bad shape or checksum, before any
    /// lookup) or `AuthenticationFailed` ("unknown token", "token expired", "token revoked").
    fn authenticate_token / authenticate_token_async(&self, token: String) -> VerifiedToken {
        Ok(self.0.tokens().authenticate(&token).await?.into())
    }

    /// Authenticates a token and checks that a scope allows `action` on `resource`
    /// (`PermissionDenied` otherwise).
    fn verify_token / verify_token_async(
        &self, token: String, resource: String, action: TokenAction
    ) -> VerifiedToken {
        Ok(self.0.tokens().verify(&token, &resource, action.into()).await?.into())
    }

    /// Records an application event in the tenant's audit log. Any role.
    fn record_audit / record_audit_async(&self, ctx: Arc<TenantContext>, event: AuditEvent) -> AuditEntry {
        let mut ev = core_audit::AuditEvent::new(event.action.into(), event.target);
        ev.reason = event.reason;
        ev.details = event.details.into_iter().collect();
        Ok(self.0.audit().record(&ctx.0, ev).await?.into())
    }

    /// Entries with `seq > after`, ascending, at most `limit` (1 to 10,000). Admin role.
    fn audit_entries / audit_entries_async(
        &self, ctx: Arc<TenantContext>, after: u64, limit: u32
    ) -> Vec<AuditEntry> {
        let v = self.0.audit().entries(&ctx.0, after, limit as usize).await?;
        Ok(v.into_iter().map(AuditEntry::from).collect())
    }

    /// The tenant's whole audit log as JSON Lines, verified as it is written (`Integrity`
    /// if the stored chain was tampered with). Admin role.
    fn export_audit / export_audit_async(&self, ctx: Arc<TenantContext>) -> AuditExport {
        let mut out = Vec::new();
        let report = self.0.audit().export(&ctx.0, &mut out).await?;
        let jsonl = String::from_utf8(out)
            .map_err(|_| TenantguardError::new(ErrorKind::Store, "audit export is not UTF-8"))?;
        Ok(AuditExport { jsonl, report: report.into() })
    }

    /// Verifies the tenant's stored chain; throws `Integrity` naming the first broken entry
    /// (`checkAudit` returns it as a value instead). Admin role.
    fn verify_audit / verify_audit_async(&self, ctx: Arc<TenantContext>) -> AuditReport {
        Ok(self
            .0
            .audit().verify(&ctx.0)
            .await?
            .into_result()
            .map_err(tenantguard::Error::from)?
            .into())
    }

    /// The tenant's effective retention windows per data class (defaults plus overrides). Any role.
    fn retention_policy / retention_policy_async(
        &self, ctx: Arc<TenantContext>
    ) -> HashMap<String, RetentionWindow> {
        let p = self.0.retention().policy(&ctx.0).await?;
        Ok(p.windows.into_iter().map(|(c, w)| (c, w.into())).collect())
    }

    /// Sets the tenant's window for `data_class`. Audited. Admin role.
    fn set_retention / set_retention_async(
        &self, ctx: Arc<TenantContext>, data_class: String, window: RetentionWindow
    ) -> () {
        Ok(self.0.retention().set(&ctx.0, &data_class, window.into()).await?)
    }

    /// Removes the tenant's override for `data_class`; returns whether there was one. Admin role.
    fn clear_retention / clear_retention_async(&self, ctx: Arc<TenantContext>, data_class: String) -> bool {
        Ok(self.0.retention().clear(&ctx.0, &data_class).await?)
    }

    /// Hard-deletes the tenant's records past their window, `batch` at a time (1 to 10,000).
    /// Idempotent and resumable; audited when anything was deleted. Admin role.
    fn sweep / sweep_async(&self, ctx: Arc<TenantContext>, batch: u32) -> SweepReport {
        Ok(self.0.retention().sweep(&ctx.0, batch as usize, |_| {}).await?.into())
    }

    /// Sweeps every tenant (service role), resumable after `start_after`.
    fn sweep_all / sweep_all_async(
        &self, service: Arc<ServiceRole>, start_after: Option<String>, batch: u32
    ) -> SweepAllReport {
        let r = self
            .0
            .retention().sweep_all(&service.0, start_after.map(tenant_id).transpose()?, batch as usize)
            .await?;
        Ok(r.into())
    }

    /// Erases every record tagged with data subject `subject`; the audit receipt holds a
    /// keyed digest of it under a secret returned once in the report. Admin role.
    fn erase_subject / erase_subject_async(
        &self, ctx: Arc<TenantContext>, subject: String, batch: u32
    ) -> ErasureReport {
        let r = self.0.retention().erase_subject(&ctx.0, &subject, batch as usize).await?;
        Ok(ErasureReport {
            subject_digest: r.subject_digest,
            receipt_secret: Arc::new(ReceiptSecret(r.receipt_secret)),
            deleted: r.deleted,
            audit_erased: r.audit_erased,
            batches: r.batches,
            receipt: r.receipt.into(),
        })
    }

    /// Erases the whole tenant: crypto-shreds it, revokes its tokens and sessions, deletes
    /// its records, leaves an audit receipt. Irreversible. Owner role.
    fn erase_tenant / erase_tenant_async(&self, ctx: Arc<TenantContext>, batch: u32) -> TenantErasureReport {
        let r = self.0.retention().erase_tenant(&ctx.0, batch as usize).await?;
        Ok(TenantErasureReport {
            tokens_revoked: r.tokens_revoked,
            sessions_revoked: r.sessions_revoked,
            records_deleted: r.records_deleted,
            receipt: r.receipt.into(),
        })
    }

    /// Starts a login session for the context's user (after your own login check);
    /// `label` names the device.
    fn create_session / create_session_async(
        &self, ctx: Arc<TenantContext>, label: String
    ) -> Arc<SessionTokens> {
        Ok(Arc::new(SessionTokens(self.0.sessions().create(&ctx.0, &label).await?)))
    }

    /// Exchanges a refresh token for new tokens (rotation). A refresh token used twice
    /// revokes the session (`AuthenticationFailed`, audited).
    fn refresh_session / refresh_session_async(&self, refresh_token: String) -> Arc<SessionTokens> {
        Ok(Arc::new(SessionTokens(self.0.sessions().refresh(&refresh_token).await?)))
    }

    /// Sessions of `user` (the context's own if `null`), newest first, at most `limit`.
    fn list_sessions / list_sessions_async(
        &self, ctx: Arc<TenantContext>, user: Option<String>, limit: u32
    ) -> Vec<SessionInfo> {
        let user = user.map(user_id).transpose()?;
        let v = self.0.sessions().list(&ctx.0, user.as_ref(), limit as usize).await?;
        Ok(v.into_iter().map(SessionInfo::from).collect())
    }

    /// Revokes one session (own, or any for an admin); returns whether it was live. Audited.
    fn revoke_session / revoke_session_async(&self, ctx: Arc<TenantContext>, session_id: String) -> bool {
        Ok(self.0.sessions().revoke(&ctx.0, &session_id).await?)
    }

    /// Revokes every session of `user` (own, or any for an admin); returns how many. Audited.
    fn revoke_user_sessions / revoke_user_sessions_async(&self, ctx: Arc<TenantContext>, user: String) -> u64 {
        Ok(self.0.sessions().revoke_user(&ctx.0, &user_id(user)?).await?)
    }
}
}

// ---------------------------------------------------------------------------------------
// Passwords

/// argon2id cost parameters.
#[derive(uniffi::Record, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory, KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

/// The outcome of a successful password check.
#[derive(uniffi::Record, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordCheck {
    /// The stored hash is weaker than the current parameters: store a fresh hash now.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with argon2id (PHC strings). Passwords are never stored,
/// logged or put in errors.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct PasswordHasher(pub(crate) core_auth::PasswordHasher);

#[uniffi::export]
impl PasswordHasher {
    /// A hasher with `params` (default: OWASP's m = 19 MiB, t = 2, p = 1); `InvalidInput`
    /// if they are below every OWASP configuration.
    #[uniffi::constructor(default(params = None))]
    pub fn new(params: Option<PasswordParams>) -> Result<Arc<Self>> {
        let p = params.map_or_else(core_auth::PasswordParams::default, |p| {
            core_auth::PasswordParams {
                m_cost_kib: p.m_cost_kib,
                t_cost: p.t_cost,
                p_cost: p.p_cost,
            }
        });
        Ok(Arc::new(PasswordHasher(
            core_auth::PasswordHasher::new(p).map_err(tenantguard::Error::from)?,
        )))
    }

    /// The current parameters.
    pub fn params(&self) -> PasswordParams {
        let p = self.0.params();
        PasswordParams {
            m_cost_kib: p.m_cost_kib,
            t_cost: p.t_cost,
            p_cost: p.p_cost,
        }
    }

    /// Hashes `password` (1 to 1024 bytes) with a fresh salt; returns a PHC string.
    pub fn hash(&self, password: String) -> Result<String> {
        Ok(self.0.hash(&password).map_err(tenantguard::Error::from)?)
    }

    /// Verifies `password` against a stored PHC string in constant time; throws
    /// `AuthenticationFailed` ("wrong password") on mismatch.
    pub fn verify(&self, password: String, phc: String) -> Result<PasswordCheck> {
        let c = self
            .0
            .verify(&password, &phc)
            .map_err(tenantguard::Error::from)?;
        Ok(PasswordCheck {
            needs_rehash: c.needs_rehash,
        })
    }

    /// Whether a stored hash should be replaced by a fresh one.
    pub fn needs_rehash(&self, phc: String) -> bool {
        self.0.needs_rehash(&phc)
    }
}
