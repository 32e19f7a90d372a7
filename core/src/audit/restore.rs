//! Reconciling the audit log with its published checkpoints after the database was
//! restored from a backup (docs/OPERATIONS.md, "Restoring a database backup").
//!
//! A restored log is shorter than, or forks from, the latest checkpoint in the sinks: the
//! entries written after the backup are lost. [`Audit::reconcile_restore`](crate::Audit::reconcile_restore) records
//! that as an `audit.restore` entry (MAC'd like every entry) naming the restore point and
//! the checkpoint it supersedes, re-applies the revocations of the lost window from the
//! pre-restore export when one is given (verified under the log key first), signs a
//! checkpoint of the new tree and publishes it through each sink's restore admission.

use std::collections::BTreeMap;

use super::checkpoint::Checkpoint;
use super::export::{verify_export, ExportVerdict};
use super::merkle::{self, Hash};
use super::sink::{PublishedCheckpoint, RestoreAdmission};
use super::transparency::{broken, sink_err, LastCheckpoint, LogState, SignedCheckpoint};
use super::{AuditAction, AuditEntry, AuditError, AuditEvent, VerifyProblem, MAX_REASON_LEN};
use crate::error::Result;
use crate::guard::Guard;
use crate::storage::{StoreError, MAX_PAGE};
use crate::tenant::{Role, TenantContext, UserId};

pub(crate) const D_RESTORED_SIZE: &str = "restored_size";
pub(crate) const D_SUPERSEDED_SIZE: &str = "superseded_size";
pub(crate) const D_SUPERSEDED_ROOT: &str = "superseded_root";
const D_REVOCATIONS: &str = "revocations";
const D_REAPPLIED: &str = "reapplied";
const D_IN_EFFECT: &str = "already_in_effect";
const D_MANUAL: &str = "manual";
const D_EXPORT_SIZE: &str = "lost_export_size";

/// The detail keys of an `audit.restore` entry (docs/FORMAT.md, "Restore records").
pub const RESTORE_DETAILS: [&str; 8] = [
    D_RESTORED_SIZE,
    D_SUPERSEDED_SIZE,
    D_SUPERSEDED_ROOT,
    D_REVOCATIONS,
    D_REAPPLIED,
    D_IN_EFFECT,
    D_MANUAL,
    D_EXPORT_SIZE,
];

/// An action of the lost window the SDK does not re-apply: the operator redoes it by hand
/// (key retirements, erasures, shredding, host-recorded changes, membership grants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostAction {
    /// Its `seq` in the pre-restore log.
    pub seq: u64,
    /// Its action name.
    pub action: String,
    /// Its target.
    pub target: String,
}

/// What re-applying the lost window's revocations did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReapplyReport {
    /// Entries of the lost window the export held (`restored_size + 1 ..= export size`).
    pub window_entries: u64,
    /// The export's size (its checkpoint's).
    pub export_size: u64,
    /// Revocations that changed something now: tokens revoked, agents killed, sessions
    /// revoked, members removed or demoted.
    pub reapplied: u64,
    /// Revocations already in effect (or whose object the restored database does not
    /// hold): nothing to do. A second reconcile finds every revocation here.
    pub already_in_effect: u64,
    /// Actions left to the operator.
    pub manual: Vec<LostAction>,
}

/// What [`Audit::reconcile_restore`](crate::Audit::reconcile_restore) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Entries the restored log shares with the superseded one (the restore point).
    pub restored_size: u64,
    /// The superseded checkpoint (the sinks' latest before the reconcile).
    pub superseded: Checkpoint,
    /// `seq` of the `audit.restore` entry.
    pub restore_seq: u64,
    /// Whether this call appended it (false: an earlier, interrupted call had).
    pub recorded_now: bool,
    /// Revocations re-applied from the lost export; `None` without one (nothing was
    /// re-applied: do it by hand).
    pub reapplied: Option<ReapplyReport>,
    /// The checkpoint signed and published after the restore.
    pub checkpoint: SignedCheckpoint,
}

/// The lost window's entries, read from a verified pre-restore export.
struct LostWindow {
    entries: Vec<AuditEntry>,
    export_size: u64,
}

fn refused(reason: &'static str) -> crate::Error {
    AuditError::LostExportRefused { reason }.into()
}

/// The restore claim of an entry, if it is an `audit.restore` entry superseding
/// `(size, root)`: its restored size.
fn supersedes(e: &AuditEntry, size: u64, root: &Hash) -> Option<u64> {
    let (restored, s, r) = super::sink::restore_claim_of(e).ok()?;
    (s == size && r == *root).then_some(restored)
}

impl Guard {
    /// Every sink's latest checkpoint of the tenant, in sink order.
    async fn sinks_latest(&self, ctx: &TenantContext) -> Result<Vec<Option<PublishedCheckpoint>>> {
        let mut out = Vec::new();
        for s in &self.transparency().cfg.sinks {
            out.push(s.latest(ctx.tenant()).await.map_err(sink_err)?);
        }
        Ok(out)
    }

    /// The `seq` and restored size of an `audit.restore` entry superseding `p` in the
    /// first `size` entries, if any (the last one).
    async fn find_restore_entry(
        &self,
        ctx: &TenantContext,
        size: u64,
        p: &PublishedCheckpoint,
    ) -> Result<Option<(u64, u64)>> {
        let service = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        let mut found = None;
        let mut after = 0;
        while after < size {
            let page = self
                .audit_store()
                .audit_entries(&service, after, MAX_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                super::advance_cursor(&mut after, e)?;
                if e.seq > size {
                    continue;
                }
                if let Some(n) = supersedes(e, p.size, &p.root) {
                    found = Some((e.seq, n));
                }
            }
        }
        Ok(found)
    }

    /// Verifies the pre-restore export and returns the entries past the restore point.
    fn lost_window(
        &self,
        bundle: &[u8],
        keys: &[super::AuditPublicKey],
        origin: &str,
        p: &PublishedCheckpoint,
        leaves: &[Hash],
    ) -> Result<LostWindow> {
        let summary = match verify_export(bundle, keys, None) {
            ExportVerdict::Valid(s) => s,
            ExportVerdict::Tampered { reason, .. } => return Err(refused(reason.kind())),
            ExportVerdict::Restored { .. } => return Err(refused("bundle_malformed")),
        };
        let cp = &summary.checkpoint;
        if cp.origin != origin {
            return Err(refused("not_this_log"));
        }
        if cp.size > p.size {
            return Err(refused("beyond_checkpoint"));
        }
        if cp.size == p.size && cp.root != p.root {
            return Err(refused("checkpoint_mismatch"));
        }
        // The verified bundle's lines, parsed again (verify_export checked each).
        let text = std::str::from_utf8(bundle).map_err(|_| refused("bundle_malformed"))?;
        let (body, _) = text
            .split_once(&format!("\n{}\n", super::CHECKPOINT_MARK))
            .ok_or_else(|| refused("bundle_malformed"))?;
        let mut shared = 0u64;
        let mut window = Vec::new();
        for line in body.lines().skip(1) {
            let e = super::export::parse_canonical_line(line.as_bytes())
                .map_err(|r| refused(r.kind()))?;
            let leaf = merkle::leaf_hash(e.leaf_line().as_bytes());
            if window.is_empty() && leaves.get(shared as usize) == Some(&leaf) {
                shared += 1;
            } else {
                window.push(e);
            }
        }
        if window.is_empty() {
            return Err(refused("covers_no_lost_entry"));
        }
        Ok(LostWindow {
            entries: window,
            export_size: cp.size,
        })
    }

    /// Re-applies the lost window's revocations (see [`Audit::reconcile_restore`](crate::Audit::reconcile_restore)).
    async fn reapply(&self, svc: &TenantContext, w: &LostWindow) -> Result<ReapplyReport> {
        let mut r = ReapplyReport {
            window_entries: w.entries.len() as u64,
            export_size: w.export_size,
            ..Default::default()
        };
        let count = |r: &mut ReapplyReport, changed: bool| {
            if changed {
                r.reapplied += 1
            } else {
                r.already_in_effect += 1
            }
        };
        // Membership: the last change of each user in the window is the state to restore.
        let mut members: BTreeMap<String, &AuditEntry> = BTreeMap::new();
        for e in &w.entries {
            let manual = |r: &mut ReapplyReport| {
                r.manual.push(LostAction {
                    seq: e.seq,
                    action: e.action.clone(),
                    target: e.target.clone(),
                })
            };
            match AuditAction::parse(&e.action) {
                Some(AuditAction::TokenRevoke) => {
                    let changed = match self.tokens().revoke(svc, &e.target).await {
                        Ok(c) => c,
                        Err(crate::Error::Store(StoreError::RecordNotFound)) => false,
                        Err(err) => return Err(err),
                    };
                    count(&mut r, changed);
                }
                Some(AuditAction::AgentKill) => match e
                    .target
                    .strip_prefix("agent:")
                    .and_then(|a| UserId::new(a).ok())
                {
                    Some(agent) => {
                        let changed = self.reapply_kill(svc, &agent).await?;
                        count(&mut r, changed);
                    }
                    None => manual(&mut r),
                },
                #[cfg(feature = "auth")]
                Some(AuditAction::SessionRevoke) => {
                    if let Some(id) = e.target.strip_prefix("session:") {
                        let changed = match self.sessions().revoke(svc, id).await {
                            Ok(c) => c,
                            Err(crate::Error::Store(StoreError::RecordNotFound)) => false,
                            Err(err) => return Err(err),
                        };
                        count(&mut r, changed);
                    } else if let Some(u) = e
                        .target
                        .strip_prefix("user:")
                        .and_then(|u| UserId::new(u).ok())
                    {
                        let n = self.sessions().revoke_user(svc, &u).await?;
                        count(&mut r, n > 0);
                    } else {
                        manual(&mut r);
                    }
                }
                Some(AuditAction::MemberChange) => {
                    members.insert(e.target.clone(), e);
                }
                // Without the `auth` area this build has no sessions to revoke again.
                #[cfg(not(feature = "auth"))]
                Some(AuditAction::SessionRevoke) => manual(&mut r),
                Some(
                    AuditAction::KeyRotate
                    | AuditAction::KeyDestroy
                    | AuditAction::KeyRewrap
                    | AuditAction::TenantShred
                    | AuditAction::RetentionSweep
                    | AuditAction::SubjectErasure
                    | AuditAction::TenantErasure
                    | AuditAction::MembershipChange
                    | AuditAction::PermissionChange
                    | AuditAction::PolicyChange
                    | AuditAction::PortalMark,
                ) => manual(&mut r),
                // Records of events, nothing to re-apply (a token created in the window
                // no longer exists; a lockout has expired; a restore is history).
                _ => {}
            }
        }
        for e in members.values() {
            let user = e
                .target
                .strip_prefix("user:")
                .and_then(|u| UserId::new(u).ok());
            let to = e.details.get("to").map(String::as_str);
            let lost = || LostAction {
                seq: e.seq,
                action: e.action.clone(),
                target: e.target.clone(),
            };
            match (user, to) {
                (Some(u), Some("none")) => {
                    let was = self.members().remove(svc, &u).await?;
                    count(&mut r, was);
                }
                (Some(u), Some(role)) => match role.parse::<Role>() {
                    Ok(to) => {
                        let now = self.stores().members()?.member_role(svc, &u).await?;
                        match now {
                            Some(cur) if cur > to => {
                                self.members().set(svc, &u, to).await?;
                                count(&mut r, true);
                            }
                            Some(cur) if cur == to => count(&mut r, false),
                            // A grant (or a member the restored database lacks): not a
                            // revocation, left to the operator.
                            _ => r.manual.push(lost()),
                        }
                    }
                    Err(_) => r.manual.push(lost()),
                },
                _ => r.manual.push(lost()),
            }
        }
        Ok(r)
    }

    /// The kill switch again, audited only when it revoked something (so a second
    /// reconcile writes nothing).
    async fn reapply_kill(&self, svc: &TenantContext, agent: &UserId) -> Result<bool> {
        let n = self
            .stores()
            .tokens()?
            .revoke_tokens(svc, Some(agent.as_str()), self.now())
            .await?;
        if n == 0 {
            return Ok(false);
        }
        self.publish(&crate::events::Event::AgentKilled {
            tenant: svc.tenant().clone(),
            agent: agent.as_str().to_owned(),
        });
        self.forget_revoked(svc, Some(agent)).await?;
        self.append_audit(
            svc,
            AuditEvent::new(AuditAction::AgentKill, format!("agent:{agent}"))
                .reason("re-applied after a database restore")
                .detail("revoked", n.to_string()),
        )
        .await?;
        Ok(true)
    }

    /// Signs a checkpoint of the whole log (which holds restore entry `restore_seq`) and
    /// publishes it: through the restore admission to a sink holding `p`, as usual to
    /// the others. The tenant's transparency state then starts from it.
    async fn publish_restored(
        &self,
        ctx: &TenantContext,
        p: &PublishedCheckpoint,
        restore_seq: u64,
    ) -> Result<SignedCheckpoint> {
        let mut logs = self.transparency().logs.lock().await;
        let st = logs.entry(ctx.tenant().clone()).or_default();
        *st = LogState::default();
        self.sync_log(ctx, st).await?;
        let size = st.frontier.size();
        let leaves = self.leaf_hashes(ctx, size).await?;
        let service = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        let entry = self
            .audit_store()
            .audit_entries(&service, restore_seq - 1, 1)
            .await?
            .into_iter()
            .next()
            .filter(|e| e.seq == restore_seq)
            .ok_or_else(|| {
                broken(
                    restore_seq,
                    VerifyProblem::Missing {
                        expected: restore_seq,
                        found: 0,
                    },
                )
            })?;
        let proof = merkle::inclusion_proof(&leaves, restore_seq - 1)
            .map_err(|e| AuditError::InvalidInput(format!("restore entry: {e}")))?;
        let admission = RestoreAdmission {
            entry_line: entry.canonical_line(),
            proof,
        };
        let cp = Checkpoint {
            origin: self.audit().origin(ctx.tenant()),
            size,
            root: st.frontier.root(),
            time: self.now(),
        };
        let note = self.checkpoint_signer().await?.sign(&cp);
        for s in &self.transparency().cfg.sinks {
            let held = s.latest(ctx.tenant()).await.map_err(sink_err)?;
            let r = match held {
                Some(h) if h == *p => {
                    s.publish_restore(ctx.tenant(), size, &cp.root, &note, &admission)
                        .await
                }
                _ => s.publish(ctx.tenant(), size, &cp.root, &note).await,
            };
            r.map_err(sink_err)?;
        }
        st.last = Some(LastCheckpoint {
            size,
            root: cp.root,
            note: note.clone(),
        });
        st.loaded = true;
        st.checked = size;
        st.uncovered_since = None;
        Ok(SignedCheckpoint {
            checkpoint: cp,
            note,
        })
    }
}

impl super::Audit<'_> {
    /// After a database restore: reconciles the tenant's audit log with the checkpoints
    /// already published. Reads the sinks' latest checkpoint P and the stored log; if the
    /// log extends P, refuses ([`AuditError::NothingToReconcile`]). Otherwise it
    ///
    /// 1. verifies `lost_export` (the `export_audit_bundle` output kept from before the
    ///    restore), if given: signed by a log key, of this tenant, no larger than P and
    ///    equal to it at P's size, sharing the restored log's first entries, and reaching
    ///    past them; any failure refuses the whole call ([`AuditError::LostExportRefused`])
    ///    before anything is written;
    /// 2. re-applies the revocations of the lost window, idempotently: `token.revoke`,
    ///    `token.kill_agent`, `session.revoke`, and `member.change` removals and demotions
    ///    (each audited by its own entry when it changes something); other
    ///    state-changing actions are listed for the operator ([`ReapplyReport::manual`]);
    /// 3. appends an `audit.restore` entry (details: restored size, superseded size and
    ///    root, what was re-applied), unless an interrupted earlier call already did;
    /// 4. signs a checkpoint of the new tree and publishes it: to a sink holding P through
    ///    its restore admission ([`CheckpointSink::publish_restore`](super::CheckpointSink::publish_restore)),
    ///    which keeps the superseded history; to the others as usual.
    ///
    /// Needs this guard's service capability. Run it before serving traffic: until it
    /// runs, a revocation of the lost window is not in effect.
    pub async fn reconcile_restore(
        self,
        ctx: &TenantContext,
        lost_export: Option<&[u8]>,
        reason: &str,
    ) -> Result<RestoreReport> {
        self.g
            .require_service(ctx, "reconcile a restored audit log")?;
        if reason.is_empty() || reason.len() > MAX_REASON_LEN {
            return Err(AuditError::InvalidInput(format!(
                "reason must be 1 to {MAX_REASON_LEN} bytes"
            ))
            .into());
        }
        // The stored log, every entry verified (chain, MAC).
        let mut fresh = LogState::default();
        self.g.sync_log(ctx, &mut fresh).await?;
        let size = fresh.frontier.size();
        let leaves = self.g.leaf_hashes(ctx, size).await?;
        let held = self.g.sinks_latest(ctx).await?;
        let extends = |p: &PublishedCheckpoint| {
            p.size <= size && merkle::root(&leaves[..p.size as usize]) == p.root
        };
        let mut p: Option<&PublishedCheckpoint> = None;
        for h in held.iter().flatten().filter(|h| !extends(h)) {
            match p {
                Some(q) if q != h => {
                    return Err(AuditError::InvalidInput(format!(
                        "the sinks hold different checkpoints the log does not extend (sizes {} and {}): reconcile them one at a time",
                        q.size, h.size
                    ))
                    .into())
                }
                _ => p = Some(h),
            }
        }
        let Some(p) = p.cloned() else {
            return Err(AuditError::NothingToReconcile { size }.into());
        };
        let keys = self.g.audit().public_keys().await?;
        let superseded = super::checkpoint::open_checkpoint(p.note.as_bytes(), &keys)
            .map_err(|_| broken(p.size, VerifyProblem::Fork))?;
        let origin = self.g.audit().origin(ctx.tenant());
        if superseded.origin != origin || superseded.size != p.size || superseded.root != p.root {
            return Err(broken(p.size, VerifyProblem::Fork));
        }
        // An interrupted earlier call may have recorded the restore already.
        let earlier = self.g.find_restore_entry(ctx, size, &p).await?;
        let window = match lost_export {
            Some(b) => Some(self.g.lost_window(b, &keys, &origin, &p, &leaves)?),
            None => None,
        };
        // The restore point: where the restored log leaves the superseded history (known
        // from the export; without one, the restored log's size).
        let restored_size = match (&earlier, &window) {
            (Some((_, n)), _) => *n,
            (None, Some(w)) => w.entries.first().map_or(size, |e| e.seq - 1),
            (None, None) => size.min(p.size.saturating_sub(1)),
        };
        let service = TenantContext::service(ctx.tenant().clone(), &self.g.service_role());
        let reapplied = match window {
            Some(w) => Some(self.g.reapply(&service, &w).await?),
            None => None,
        };
        let (restore_seq, recorded_now) = match earlier {
            Some((seq, _)) => (seq, false),
            None => {
                let mut ev = AuditEvent::new(
                    AuditAction::AuditRestore,
                    format!("log:{}", ctx.tenant().as_str()),
                )
                .reason(reason)
                .detail(D_RESTORED_SIZE, restored_size.to_string())
                .detail(D_SUPERSEDED_SIZE, p.size.to_string())
                .detail(D_SUPERSEDED_ROOT, hex::encode(p.root));
                ev = match &reapplied {
                    Some(r) => ev
                        .detail(D_REVOCATIONS, "reapplied")
                        .detail(D_REAPPLIED, r.reapplied.to_string())
                        .detail(D_IN_EFFECT, r.already_in_effect.to_string())
                        .detail(D_MANUAL, r.manual.len().to_string())
                        .detail(D_EXPORT_SIZE, r.export_size.to_string()),
                    None => ev.detail(D_REVOCATIONS, "not_reapplied"),
                };
                (self.g.append_audit(&service, ev).await?.seq, true)
            }
        };
        let checkpoint = self.g.publish_restored(ctx, &p, restore_seq).await?;
        Ok(RestoreReport {
            restored_size,
            superseded,
            restore_seq,
            recorded_now,
            reapplied,
            checkpoint,
        })
    }
}
