//! Retention: per-tenant windows per data class, a sweep that hard-deletes what is past its
//! window, data-subject erasure, and erasure of a whole tenant by crypto-shredding.
//!
//! ## Defaults
//!
//! | data class (`class` of a record) | window |
//! |---|---|
//! | `run_log` | 90 days |
//! | `screenshot` | 30 days |
//! | `chat_transcript` | 90 days |
//! | `captured_session` | 7 days |
//! | anything else (credentials, ...) | kept until deleted |
//!
//! A tenant overrides any class with [`Retention::set`](crate::Retention::set) (audited as `policy.change`).
//!
//! ## Semantics
//!
//! A record is past its window when `now - updated_at > window` (its age strictly greater):
//! a record exactly `window` seconds old is kept. The sweep takes `now` once, then deletes
//! in batches, each batch atomic in the store; it keeps no state, so a crashed sweep is
//! resumed by running it again, and a second run deletes nothing more (idempotent).
//! Deletion is a hard delete (SQLite overwrites freed pages: `secure_delete`). Each batch
//! that deleted records is followed at once by its audit receipt (`retention.sweep`), so
//! a sweep killed part-way leaves a receipt for every batch but at most the one whose
//! commit it was killed right after.

mod store;
pub use store::{RetentionStore, RetentionWindow};

use std::collections::BTreeMap;

use crate::audit::erasure::{format_ranges, ERASED_SEQS_DETAIL, MAX_ERASED_PER_RECEIPT};
use crate::audit::{AuditAction, AuditEntry, AuditEvent};
use crate::error::Result;
use crate::guard::Guard;
use crate::scope::Action as ScopeAction;
use crate::storage::{check_batch, validate_label, StoreError, MAX_PAGE};
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};

area_handle!(
    /// Retention windows and erasure: set, sweep, erase a subject or a tenant. From [`Guard::retention`].
    Retention,
    retention,
    "Retention and erasure operations."
);

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// Longest window a rule may set (100 years).
pub const MAX_WINDOW_SECS: i64 = 100 * 366 * DAY;

/// Class of agent run logs.
pub const RUN_LOG: &str = "run_log";
/// Class of screenshots.
pub const SCREENSHOT: &str = "screenshot";
/// Class of chat transcripts.
pub const CHAT_TRANSCRIPT: &str = "chat_transcript";
/// Class of captured browser sessions.
pub const CAPTURED_SESSION: &str = "captured_session";

/// The documented default windows (see the module docs).
pub const DEFAULT_WINDOWS: [(&str, RetentionWindow); 4] = [
    (RUN_LOG, RetentionWindow::Secs(90 * DAY)),
    (SCREENSHOT, RetentionWindow::Secs(30 * DAY)),
    (CHAT_TRANSCRIPT, RetentionWindow::Secs(90 * DAY)),
    (CAPTURED_SESSION, RetentionWindow::Secs(7 * DAY)),
];

/// A tenant's effective retention: the defaults overlaid with its overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Window per class; classes not listed are kept until deleted.
    pub windows: BTreeMap<String, RetentionWindow>,
}

impl RetentionPolicy {
    /// The defaults only.
    pub fn defaults() -> Self {
        RetentionPolicy {
            windows: DEFAULT_WINDOWS
                .iter()
                .map(|(c, w)| (c.to_string(), *w))
                .collect(),
        }
    }

    /// The window of `class` (`Forever` if none is set).
    pub fn window(&self, class: &str) -> RetentionWindow {
        self.windows
            .get(class)
            .copied()
            .unwrap_or(RetentionWindow::Forever)
    }
}

/// What one sweep of one tenant did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// The tenant.
    pub tenant: Option<TenantId>,
    /// The time the sweep measured windows from.
    pub now: i64,
    /// Records deleted per class.
    pub deleted: BTreeMap<String, u64>,
    /// Batches run (each atomic).
    pub batches: u64,
    /// The last audit receipt (`seq`), when anything was deleted: each batch that deleted
    /// records has its own `retention.sweep` receipt (counts per class of that batch).
    pub audit_seq: Option<u64>,
    /// The progress callback stopped the sweep early; run it again to go on.
    pub stopped: bool,
}

impl SweepReport {
    /// Total records deleted.
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }
}

/// What a sweep over every tenant did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepAllReport {
    /// Tenants swept.
    pub tenants: u64,
    /// Records deleted in all.
    pub deleted: u64,
    /// The last tenant finished: pass it as `start_after` to resume.
    pub last_tenant: Option<TenantId>,
    /// The progress callback stopped the sweep early; resume from `last_tenant`.
    pub stopped: bool,
}

/// Domain separator of a keyed erasure receipt (docs/FORMAT.md, "Erasure receipts").
pub const ERASURE_RECEIPT_DOMAIN: &[u8] = b"tenantguard/erasure-receipt/v1\n";

/// Prefix of the `target` of a keyed erasure receipt, before the 64 hex digits.
pub const ERASURE_RECEIPT_PREFIX: &str = "subject:hmac-sha256:";

/// The random 256-bit secret of one erasure receipt, handed to the requester once
/// ([`ErasureReport::receipt_secret`]) and never stored: with it (and the subject id) the
/// data subject checks that the receipt in the audit log is theirs
/// ([`erasure_receipt_matches`]); without it nobody can test a guessed subject against
/// the receipt. Debug never shows it.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct ReceiptSecret([u8; 32]);

impl PartialEq for ReceiptSecret {
    fn eq(&self, other: &Self) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]))
    }
}
impl Eq for ReceiptSecret {}

impl ReceiptSecret {
    fn generate() -> Result<Self> {
        let mut b = [0u8; 32];
        crate::crypto::rng::fill(&mut b).map_err(crate::Error::from)?;
        Ok(ReceiptSecret(b))
    }

    /// Parses the 64 lowercase hex digits of [`ReceiptSecret::to_hex`].
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || s.bytes().any(|c| !matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).ok()?;
        Some(ReceiptSecret(b))
    }

    /// The secret as 64 lowercase hex digits (what the requester keeps).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for ReceiptSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptSecret([REDACTED])")
    }
}

/// The keyed digest a subject erasure records: lowercase hex of
/// `HMAC-SHA256(key = secret, "tenantguard/erasure-receipt/v1\n" || tenant || 0x00 || subject)`.
pub fn erasure_receipt_digest(secret: &ReceiptSecret, tenant: &str, subject: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&secret.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(ERASURE_RECEIPT_DOMAIN);
    m.update(tenant.as_bytes());
    m.update(&[0]);
    m.update(subject.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Whether `receipt` (an audit entry, e.g. from an export) is the erasure receipt of
/// `subject` made with `secret`: what a data subject runs to check their erasure
/// happened. Constant time in the digest.
pub fn erasure_receipt_matches(
    receipt: &AuditEntry,
    subject: &str,
    secret: &ReceiptSecret,
) -> bool {
    if receipt.action != AuditAction::SubjectErasure.as_str() {
        return false;
    }
    let Some(have) = receipt.target.strip_prefix(ERASURE_RECEIPT_PREFIX) else {
        return false;
    };
    let want = erasure_receipt_digest(secret, &receipt.tenant, subject);
    bool::from(subtle::ConstantTimeEq::ct_eq(
        want.as_bytes(),
        have.as_bytes(),
    ))
}

/// What a data-subject erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasureReport {
    /// The keyed digest of the subject ([`erasure_receipt_digest`]), as recorded in the
    /// audit receipt's target (`subject:hmac-sha256:<digest>`).
    pub subject_digest: String,
    /// The receipt's secret: hand it to the requester (with the receipt's `seq`); it is
    /// not stored anywhere, so it cannot be shown again.
    pub receipt_secret: ReceiptSecret,
    /// Records deleted.
    pub deleted: u64,
    /// Audit entries whose personal fields (actor, target, reason) were erased.
    pub audit_erased: u64,
    /// Batches run.
    pub batches: u64,
    /// The audit receipt.
    pub receipt: AuditEntry,
}

/// What erasing a whole tenant did: the audit receipt proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantErasureReport {
    /// Agent tokens revoked.
    pub tokens_revoked: u64,
    /// Login sessions revoked.
    pub sessions_revoked: u64,
    /// Sealed records deleted (already unreadable once the keys were destroyed).
    pub records_deleted: u64,
    /// The audit receipt.
    pub receipt: AuditEntry,
    /// What the key providers destroyed (see [`crate::Keys::shred`]).
    pub shred: crate::kms::ShredReport,
}

fn check_window(window: RetentionWindow) -> Result<()> {
    if let RetentionWindow::Secs(s) = window {
        if s <= 0 || s > MAX_WINDOW_SECS {
            return Err(StoreError::InvalidInput(format!(
                "retention window must be 1 to {MAX_WINDOW_SECS} seconds"
            ))
            .into());
        }
    }
    Ok(())
}

fn window_str(w: RetentionWindow) -> String {
    match w {
        RetentionWindow::Forever => "forever".into(),
        RetentionWindow::Secs(s) => format!("{s}s"),
    }
}

impl Guard {
    /// Erases the personal fields (actor, target, reason) of every audit entry that
    /// names `subject` ([`names_subject`](crate::audit::names_subject)) and was written
    /// before this call. Each chunk gets its receipt first (listing the entries), then
    /// the deletion: a crash in between leaves a receipt for fields not yet erased (the
    /// next run erases them), never erased fields without one. Entries written before
    /// format v2 cannot be erased (their hash covers the fields): they are left as they
    /// are. Returns how many entries were erased.
    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        subject: &str,
        receipt_target: &str,
    ) -> Result<u64> {
        // The whole scan first: the receipts this writes may name the subject themselves
        // (an admin erasing their own data), and must not feed the loop.
        let mut seqs = Vec::new();
        let mut after = 0u64;
        loop {
            let page = self
                .audit_store()
                .audit_entries(ctx, after, MAX_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                crate::audit::advance_cursor(&mut after, e)?;
                if e.salt.is_some() && e.names_subject(subject) {
                    seqs.push(e.seq);
                }
            }
        }
        let mut erased = 0;
        for chunk in seqs.chunks(MAX_ERASED_PER_RECEIPT) {
            let ev = AuditEvent::new(AuditAction::SubjectErasure, receipt_target)
                .detail(ERASED_SEQS_DETAIL, format_ranges(chunk));
            self.append_audit(ctx, ev).await?;
            erased += self.audit_store().erase_audit_personal(ctx, chunk).await?;
        }
        Ok(erased)
    }
}

impl Retention<'_> {
    /// The tenant's effective retention policy. Any role.
    pub async fn policy(self, ctx: &TenantContext) -> Result<RetentionPolicy> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "policies/retention",
            ScopeAction::Read,
            "read the retention policy",
        )?;
        let mut p = RetentionPolicy::defaults();
        for (class, w) in self.g.stores().retention()?.retention_rules(ctx).await? {
            p.windows.insert(class, w);
        }
        Ok(p)
    }

    /// Sets the tenant's window for `class` (1 second to 100 years, or forever). Audited
    /// (`policy.change`). Needs the admin role.
    pub async fn set(
        self,
        ctx: &TenantContext,
        class: &str,
        window: RetentionWindow,
    ) -> Result<()> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                "policies/retention",
                ScopeAction::Admin,
                "change the retention policy",
            )
            .await?;
        validate_label("data class", class)?;
        check_window(window)?;
        self.g
            .stores()
            .retention()?
            .set_retention_rule(ctx, class, window)
            .await?;
        let ev = AuditEvent::new(AuditAction::PolicyChange, format!("retention:{class}"))
            .detail("window", window_str(window));
        self.g.append_audit(ctx, ev).await?;
        Ok(())
    }

    /// Removes the tenant's override for `class` (back to the default). Audited. Needs the admin role.
    pub async fn clear(self, ctx: &TenantContext, class: &str) -> Result<bool> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                "policies/retention",
                ScopeAction::Admin,
                "change the retention policy",
            )
            .await?;
        validate_label("data class", class)?;
        let had = self
            .g
            .stores()
            .retention()?
            .clear_retention_rule(ctx, class)
            .await?;
        if had {
            let ev = AuditEvent::new(AuditAction::PolicyChange, format!("retention:{class}"))
                .detail("window", "default");
            self.g.append_audit(ctx, ev).await?;
        }
        Ok(had)
    }

    /// Hard-deletes the tenant's records that are past their window, `batch` at a time
    /// (1 to 10,000), calling `progress` after each batch. Stateless, so resumable and
    /// idempotent; nothing inside its window is touched. Each batch that deleted records
    /// gets an audit receipt (`retention.sweep`, with the counts per class of that batch)
    /// as soon as it commits. Needs the admin role.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "sweep", tenant = %ctx.tenant()))]
    pub async fn sweep<P: crate::Progress>(
        self,
        ctx: &TenantContext,
        batch: usize,
        mut progress: impl FnMut(&SweepReport) -> P + Send,
    ) -> Result<SweepReport> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                "retention",
                ScopeAction::Admin,
                "run a retention sweep",
            )
            .await?;
        let batch = check_batch(batch)?;
        let policy = self.g.retention().policy(ctx).await?;
        // The receipts need the audit-MAC key: a key provider that cannot hand it over
        // (an outage, a cold keyring) fails the sweep before it deletes anything.
        self.g.audit_mac_key().await?;
        let now = self.g.now();
        let mut report = SweepReport {
            tenant: Some(ctx.tenant().clone()),
            now,
            ..Default::default()
        };
        'classes: for class in self.g.stores().retention()?.record_classes(ctx).await? {
            let RetentionWindow::Secs(w) = policy.window(&class) else {
                continue;
            };
            let cutoff = now.saturating_sub(w);
            loop {
                let ids = self
                    .g
                    .stores()
                    .retention()?
                    .delete_expired(ctx, &class, cutoff, batch)
                    .await?;
                report.batches += 1;
                if !ids.is_empty() {
                    *report.deleted.entry(class.clone()).or_default() += ids.len() as u64;
                    // Each batch its receipt, right after it commits and before anything
                    // else runs: a sweep killed later leaves no deletion without one.
                    let ev = AuditEvent::new(
                        AuditAction::RetentionSweep,
                        format!("tenant:{}", ctx.tenant()),
                    )
                    .detail("now", now.to_string())
                    .detail(format!("deleted.{class}"), ids.len().to_string());
                    report.audit_seq = Some(self.g.append_audit(ctx, ev).await?.seq);
                }
                if !progress(&report).keep_going() {
                    report.stopped = true;
                    break 'classes;
                }
                if ids.len() < batch {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// What [`Retention::sweep`](crate::Retention::sweep) would delete now, per data class, without deleting anything
    /// (an operator's dry run): records whose class has a window and whose last write is
    /// older than it, by the same rule as the sweep. Reads record metadata only. Needs the
    /// admin role, like the sweep.
    pub async fn preview(self, ctx: &TenantContext) -> Result<BTreeMap<String, u64>> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                "retention",
                ScopeAction::Admin,
                "run a retention sweep",
            )
            .await?;
        let policy = self.g.retention().policy(ctx).await?;
        let now = self.g.now();
        let mut due = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .g
                .store()
                .records_page(ctx, cursor.as_deref(), crate::storage::MAX_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.id.clone());
            for rec in &page {
                if let RetentionWindow::Secs(w) = policy.window(&rec.class) {
                    if rec.updated_at < now.saturating_sub(w) {
                        *due.entry(rec.class.clone()).or_default() += 1;
                    }
                }
            }
        }
        Ok(due)
    }

    /// Sweeps every tenant (service role), tenants in ascending id order. Resumable: pass
    /// the last report's `last_tenant` as `start_after`.
    pub async fn sweep_all(
        self,
        service: &ServiceRole,
        start_after: Option<TenantId>,
        batch: usize,
    ) -> Result<SweepAllReport> {
        self.g
            .retention()
            .sweep_all_with_progress(service, start_after, batch, |_| {})
            .await
    }

    /// [`Retention::sweep_all`](crate::Retention::sweep_all), calling `progress` with the running report after each tenant
    /// is swept (so `last_tenant` in it is always a safe `start_after` to resume from).
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "sweep_all"))]
    pub async fn sweep_all_with_progress<P: crate::Progress>(
        self,
        service: &ServiceRole,
        start_after: Option<TenantId>,
        batch: usize,
        mut progress: impl FnMut(&SweepAllReport) -> P + Send,
    ) -> Result<SweepAllReport> {
        let batch = check_batch(batch)?;
        let mut report = SweepAllReport {
            last_tenant: start_after,
            ..Default::default()
        };
        'tenants: loop {
            let tenants = self
                .g
                .store()
                .list_tenants(service, report.last_tenant.as_ref(), batch)
                .await?;
            if tenants.is_empty() {
                break;
            }
            for tenant in tenants {
                let ctx = TenantContext::service(tenant.clone(), service);
                report.deleted += self.g.retention().sweep(&ctx, batch, |_| {}).await?.total();
                report.tenants += 1;
                report.last_tenant = Some(tenant);
                if !progress(&report).keep_going() {
                    report.stopped = true;
                    break 'tenants;
                }
            }
        }
        Ok(report)
    }

    /// Erases every record tagged with data subject `subject`, whatever its window, `batch`
    /// at a time. The audit receipt (`retention.erase_subject`) holds a keyed digest of the
    /// subject ([`erasure_receipt_digest`] under a fresh random secret returned once in
    /// [`ErasureReport::receipt_secret`]), never the subject itself nor a plain hash of it.
    /// Idempotent (each run leaves its own receipt). Needs the admin role.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "erase_subject", tenant = %ctx.tenant()))]
    pub async fn erase_subject(
        self,
        ctx: &TenantContext,
        subject: &str,
        batch: usize,
    ) -> Result<ErasureReport> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                "retention",
                ScopeAction::Admin,
                "erase a data subject",
            )
            .await?;
        validate_label("subject", subject)?;
        let batch = check_batch(batch)?;
        // The receipts need the audit-MAC key: fail before deleting anything without it.
        self.g.audit_mac_key().await?;
        let (mut deleted, mut batches) = (0u64, 0u64);
        loop {
            let ids = self
                .g
                .stores()
                .retention()?
                .delete_by_subject(ctx, subject, batch)
                .await?;
            batches += 1;
            deleted += ids.len() as u64;
            if ids.len() < batch {
                break;
            }
        }
        // Keyed, not a plain hash: a plain SHA-256 of an e-mail address is reversed by
        // hashing a list of candidate addresses.
        let receipt_secret = ReceiptSecret::generate()?;
        let subject_digest =
            erasure_receipt_digest(&receipt_secret, ctx.tenant().as_str(), subject);
        let target = format!("{ERASURE_RECEIPT_PREFIX}{subject_digest}");
        let audit_erased = self.g.erase_audit_personal(ctx, subject, &target).await?;
        let ev = AuditEvent::new(AuditAction::SubjectErasure, target)
            .detail("deleted", deleted.to_string())
            .detail("audit_erased", audit_erased.to_string());
        let receipt = self.g.append_audit(ctx, ev).await?;
        Ok(ErasureReport {
            subject_digest,
            receipt_secret,
            deleted,
            audit_erased,
            batches,
            receipt,
        })
    }

    /// Erases the whole tenant: crypto-shreds it (every key version destroyed, so every
    /// value ever sealed for it, backups included, is unreadable), revokes its agent tokens
    /// and sessions, deletes its sealed records, and leaves an audit receipt
    /// (`retention.erase_tenant`; the audit log itself is kept). Irreversible; safe to run
    /// again. Needs the owner role.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "erase_tenant", tenant = %ctx.tenant()))]
    pub async fn erase_tenant(
        self,
        ctx: &TenantContext,
        batch: usize,
    ) -> Result<TenantErasureReport> {
        self.g
            .authorize_live(
                ctx,
                Role::Owner,
                "tenant",
                ScopeAction::Admin,
                "erase a tenant",
            )
            .await?;
        let batch = check_batch(batch)?;
        let (shred, tokens_revoked, sessions_revoked) = self.g.shred_counting(ctx).await?;
        let mut records_deleted = 0;
        loop {
            let n = self
                .g
                .stores()
                .retention()?
                .delete_all_records(ctx, batch)
                .await?;
            records_deleted += n;
            if n < batch as u64 {
                break;
            }
        }
        let ev = AuditEvent::new(
            AuditAction::TenantErasure,
            format!("tenant:{}", ctx.tenant()),
        )
        .detail("keys", "destroyed")
        .detail("tokens_revoked", tokens_revoked.to_string())
        .detail("sessions_revoked", sessions_revoked.to_string())
        .detail("records_deleted", records_deleted.to_string());
        let receipt = self.g.append_audit(ctx, ev).await?;
        Ok(TenantErasureReport {
            tokens_revoked,
            sessions_revoked,
            records_deleted,
            receipt,
            shred,
        })
    }
}
