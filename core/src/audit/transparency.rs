//! The guard's side of audit transparency: per tenant, the log is an RFC 6962 tree over
//! the entries' canonical lines; the guard verifies every new entry (chain, MAC) before
//! it enters a signed checkpoint, publishes checkpoints to the configured sinks, and
//! exports the log with its latest checkpoint, inclusion and consistency proofs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use super::checkpoint::{AuditPublicKey, Checkpoint, CheckpointSigner};
use super::entry::{AppendedEntry, AuditEntry, AuditMacKey, GENESIS};
use super::merkle::{self, Frontier, Hash};
use super::sink::{CheckpointSink, SinkError};
use super::{AuditError, VerifyProblem};
use crate::error::Result;
use crate::guard::Guard;
use crate::kms::ServicePurpose;
use crate::scope::Action as ScopeAction;
use crate::storage::MAX_PAGE;
use crate::tenant::{Role, TenantContext, TenantId};

/// First line of an export bundle.
pub const EXPORT_HEADER: &str = "tenantguard-audit-export/v1";
/// First line of an inclusion proof.
pub const INCLUSION_HEADER: &str = "tenantguard-audit-inclusion/v1";
/// First line of a consistency proof.
pub const CONSISTENCY_HEADER: &str = "tenantguard-audit-consistency/v1";
/// The line that separates a bundle's entries or proof hashes from its checkpoint note.
pub const CHECKPOINT_MARK: &str = "checkpoint";

/// How often checkpoints are signed, and under which name.
#[derive(Debug, Clone)]
pub struct TransparencyConfig {
    /// Origin prefix and signing key name; the origin of a tenant's log is
    /// `<prefix>/<tenant>`. Default `tenantguard/audit`. No whitespace, no `+`.
    pub origin_prefix: String,
    /// A checkpoint is signed once this many entries are not yet covered (default 1,000).
    pub every_entries: u64,
    /// ... or once the oldest uncovered entry is this old (default 60 s), checked at each
    /// append and by [`Audit::checkpoint_due`](crate::Audit::checkpoint_due).
    pub every: Duration,
    /// Where checkpoints go (none by default: then they stay in this process and in
    /// exports only).
    pub sinks: Vec<Arc<dyn CheckpointSink>>,
}

impl Default for TransparencyConfig {
    fn default() -> Self {
        TransparencyConfig {
            origin_prefix: "tenantguard/audit".into(),
            every_entries: 1_000,
            every: Duration::from_secs(60),
            sinks: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct LogState {
    pub(super) frontier: Frontier,
    pub(super) head: String,
    pub(super) macs_seen: bool,
    pub(super) loaded: bool,
    // Time of the first entry not yet covered by a checkpoint.
    pub(super) uncovered_since: Option<i64>,
    pub(super) last: Option<LastCheckpoint>,
    // Size of the latest checkpoint this instance signed, or found its tree extends: a
    // larger one in a sink was published by another instance and is checked first.
    pub(super) checked: u64,
}

impl LogState {
    /// Pushes the leaf of an entry this instance appended itself when it directly follows
    /// the tree (the next sequence number, chained to the tree's head), instead of leaving it
    /// to the next sync, which would read it back from the store and re-verify its hash and
    /// MAC: what this instance wrote needs no second check, and the checkpoint then commits
    /// to what was written even if the stored copy is altered before it is signed (a later
    /// verification reports that). Anything else (another instance's entry in between, a
    /// head that does not match) is left to the sync, which verifies from the store.
    fn extend_own(&mut self, e: &AppendedEntry) {
        let head = if self.frontier.size() == 0 && self.head.is_empty() {
            GENESIS
        } else {
            self.head.as_str()
        };
        if e.seq != self.frontier.size() + 1 || e.prev != head {
            return;
        }
        self.frontier.push(e.leaf);
        // In place: the head's buffer already holds a hash of the same length.
        self.head.clear();
        self.head.push_str(&e.hash);
        self.macs_seen |= e.has_mac;
        self.uncovered_since.get_or_insert(e.time);
    }
}

#[derive(Debug, Clone)]
pub(super) struct LastCheckpoint {
    pub(super) size: u64,
    pub(super) root: Hash,
    pub(super) note: String,
}

/// Per-guard transparency state (one mutex per guard; a tenant's sync holds it).
#[derive(Debug)]
pub(crate) struct Transparency {
    pub(super) cfg: TransparencyConfig,
    pub(super) logs: tokio::sync::Mutex<HashMap<TenantId, LogState>>,
}

impl Transparency {
    pub(crate) fn new(cfg: TransparencyConfig) -> std::result::Result<Self, AuditError> {
        let p = &cfg.origin_prefix;
        if p.is_empty()
            || p.len() > 128
            || p.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '+')
        {
            return Err(AuditError::InvalidInput(
                "origin prefix: 1 to 128 characters, no whitespace or '+'".into(),
            ));
        }
        if cfg.every_entries == 0 {
            return Err(AuditError::InvalidInput(
                "checkpoints every 0 entries".into(),
            ));
        }
        Ok(Transparency {
            cfg,
            logs: Default::default(),
        })
    }
}

/// A signed checkpoint the guard issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What it states.
    pub checkpoint: Checkpoint,
    /// The signed note, byte for byte (what a customer keeps).
    pub note: String,
}

/// An inclusion proof of one entry in a checkpoint (see docs/FORMAT.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's canonical line.
    pub entry_line: String,
    /// Its 0-based leaf index (`seq - 1`).
    pub index: u64,
    /// The audit path, leaf to root.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint it leads to.
    pub checkpoint_note: String,
}

/// A consistency proof from an earlier tree size to a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The earlier size.
    pub old_size: u64,
    /// The proof hashes.
    pub hashes: Vec<Hash>,
    /// The newer signed checkpoint.
    pub checkpoint_note: String,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn proof_text(header: &str, first: &str, hashes: &[Hash], note: &str) -> String {
    let mut s = format!("{header}\n{first}\n");
    for h in hashes {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push_str(CHECKPOINT_MARK);
    s.push('\n');
    s.push_str(note);
    s
}

impl InclusionProof {
    /// The proof as text: header, entry line, one base64 hash per line, `checkpoint`, the note.
    pub fn to_text(&self) -> String {
        proof_text(
            INCLUSION_HEADER,
            &self.entry_line,
            &self.hashes,
            &self.checkpoint_note,
        )
    }
}

impl ConsistencyProof {
    /// The proof as text: header, old size, one base64 hash per line, `checkpoint`, the note.
    pub fn to_text(&self) -> String {
        proof_text(
            CONSISTENCY_HEADER,
            &self.old_size.to_string(),
            &self.hashes,
            &self.checkpoint_note,
        )
    }
}

pub(super) fn broken(seq: u64, problem: VerifyProblem) -> crate::Error {
    AuditError::Broken {
        line: seq,
        seq: Some(seq),
        problem,
    }
    .into()
}

impl Guard {
    /// The current `audit-mac` key (created on first use).
    pub(crate) async fn audit_mac_key(&self) -> Result<AuditMacKey> {
        Ok(AuditMacKey::new(
            self.keyring().current(ServicePurpose::AuditMac).await?,
        ))
    }

    pub(super) async fn checkpoint_signer(&self) -> Result<CheckpointSigner> {
        let k = self
            .keyring()
            .current(ServicePurpose::CheckpointSigning)
            .await?;
        Ok(CheckpointSigner::new(
            &self.transparency().cfg.origin_prefix,
            k.expose(),
        ))
    }

    /// Reads the entries appended since the state's size, verifying each (tenant, `seq`,
    /// chain, MAC) before it joins the tree.
    pub(super) async fn sync_log(&self, ctx: &TenantContext, st: &mut LogState) -> Result<()> {
        self.sync_log_watching(ctx, st, None).await.map(|_| ())
    }

    /// [`Guard::sync_log`], returning the tree's root when it held `watch` entries on the
    /// way (`None` if it never did): a checkpoint of that size is checked in O(log n).
    async fn sync_log_watching(
        &self,
        ctx: &TenantContext,
        st: &mut LogState,
        watch: Option<u64>,
    ) -> Result<Option<Hash>> {
        if st.frontier.size() == 0 && st.head.is_empty() {
            st.head = GENESIS.to_owned();
        }
        let mut watched = (watch == Some(st.frontier.size())).then(|| st.frontier.root());
        let service = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        loop {
            let after = st.frontier.size();
            let page = self
                .audit_store()
                .audit_entries(&service, after, MAX_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let seq = st.frontier.size() + 1;
                if e.tenant != ctx.tenant().as_str() {
                    return Err(broken(seq, VerifyProblem::TenantChanged));
                }
                if e.seq != seq {
                    return Err(broken(
                        seq,
                        VerifyProblem::OutOfOrder {
                            expected: seq,
                            found: e.seq,
                        },
                    ));
                }
                if e.compute_hash() != e.hash {
                    return Err(broken(seq, VerifyProblem::HashMismatch));
                }
                if e.prev != st.head {
                    return Err(broken(seq, VerifyProblem::BrokenLink));
                }
                self.check_entry_mac(e, st.macs_seen).await?;
                st.macs_seen |= e.mac.is_some();
                st.frontier
                    .push(merkle::leaf_hash(e.leaf_line().as_bytes()));
                st.head = e.hash.clone();
                st.uncovered_since.get_or_insert(e.time);
                if watch == Some(st.frontier.size()) {
                    watched = Some(st.frontier.root());
                }
            }
        }
        Ok(watched)
    }

    /// An entry's MAC must verify; an entry without one only in the legacy prefix
    /// (before the first MACed entry).
    pub(crate) async fn check_entry_mac(&self, e: &AuditEntry, macs_seen: bool) -> Result<()> {
        match (&e.mac, e.mac_key_id()) {
            (None, _) if !macs_seen => Ok(()),
            (None, _) => Err(broken(e.seq, VerifyProblem::MacMissing)),
            (Some(_), None) => Err(broken(e.seq, VerifyProblem::MacMismatch)),
            (Some(_), Some(id)) => {
                let id = crate::crypto::KeyId::new(id)
                    .map_err(|_| broken(e.seq, VerifyProblem::MacMismatch))?;
                // A key the keyring does not know or has retired cannot have made this
                // MAC: integrity. A provider or store that cannot hand the key over right
                // now is an availability failure, never reported as tampering.
                let k = match self.keyring().get(ServicePurpose::AuditMac, id).await {
                    Ok(k) => k,
                    Err(
                        crate::kms::KeyringError::UnknownKey { .. }
                        | crate::kms::KeyringError::Retired { .. },
                    ) => return Err(broken(e.seq, VerifyProblem::MacMismatch)),
                    Err(other) => return Err(other.into()),
                };
                if e.mac_matches(k.expose()) {
                    Ok(())
                } else {
                    Err(broken(e.seq, VerifyProblem::MacMismatch))
                }
            }
        }
    }

    /// The latest checkpoint any sink holds is what the tree must extend: read on first
    /// use of a tenant's log in this process, and again before every checkpoint
    /// (`refresh`), since another instance may have published one meanwhile.
    async fn load_last(&self, ctx: &TenantContext, st: &mut LogState, refresh: bool) -> Result<()> {
        if st.loaded && !refresh {
            return Ok(());
        }
        for s in &self.transparency().cfg.sinks {
            if let Some(p) = s.latest(ctx.tenant()).await.map_err(sink_err)? {
                if st.last.as_ref().is_none_or(|l| l.size < p.size) {
                    st.last = Some(LastCheckpoint {
                        size: p.size,
                        root: p.root,
                        note: p.note,
                    });
                }
            }
        }
        st.loaded = true;
        Ok(())
    }

    /// Syncs the tenant's log and signs a checkpoint if `force`, or if one is due; returns
    /// the latest checkpoint (None for an empty log never checkpointed).
    async fn checkpoint_locked(
        &self,
        ctx: &TenantContext,
        st: &mut LogState,
        force: bool,
    ) -> Result<Option<SignedCheckpoint>> {
        self.load_last(ctx, st, true).await?;
        // A checkpoint this instance has not checked its tree against (on first use, or
        // published since by another instance): the tree must reach and match it, else a
        // stale instance would sign, at a larger size, over entries a database writer cut
        // or replaced after that checkpoint left.
        let unchecked = st.last.clone().filter(|l| l.size > st.checked);
        let from = st.frontier.size();
        let watch = unchecked.as_ref().map(|l| l.size).filter(|&n| n >= from);
        let watched = self.sync_log_watching(ctx, st, watch).await?;
        if let Some(l) = &unchecked {
            if st.frontier.size() < l.size {
                return Err(broken(
                    st.frontier.size(),
                    VerifyProblem::Truncated {
                        expected: l.size,
                        found: st.frontier.size(),
                    },
                ));
            }
            // Passed on the way in O(log n); a tree already past it is re-read (rare: the
            // other instance signed a size this one had reached without checkpointing).
            let root = match watched {
                Some(r) => r,
                None => merkle::root(&self.leaf_hashes(ctx, l.size).await?),
            };
            if root != l.root {
                return Err(broken(l.size, VerifyProblem::Fork));
            }
            st.checked = l.size;
        }
        let cfg = &self.transparency().cfg;
        let size = st.frontier.size();
        let covered = st.last.as_ref().map_or(0, |l| l.size);
        let now = self.now();
        let due = size > covered
            && (force
                || size - covered >= cfg.every_entries
                || st
                    .uncovered_since
                    .is_some_and(|t| now.saturating_sub(t) >= cfg.every.as_secs() as i64));
        if !due {
            return match &st.last {
                None => Ok(None),
                Some(l) => {
                    let keys = self.audit().public_keys().await?;
                    let checkpoint = super::checkpoint::open_checkpoint(l.note.as_bytes(), &keys)
                        .map_err(|_| broken(l.size, VerifyProblem::Fork))?;
                    Ok(Some(SignedCheckpoint {
                        checkpoint,
                        note: l.note.clone(),
                    }))
                }
            };
        }
        let cp = Checkpoint {
            origin: self.audit().origin(ctx.tenant()),
            size,
            root: st.frontier.root(),
            time: now,
        };
        let note = self.checkpoint_signer().await?.sign(&cp);
        for s in &cfg.sinks {
            s.publish(ctx.tenant(), size, &cp.root, &note)
                .await
                .map_err(sink_err)?;
        }
        st.last = Some(LastCheckpoint {
            size,
            root: cp.root,
            note: note.clone(),
        });
        st.checked = size;
        st.uncovered_since = None;
        Ok(Some(SignedCheckpoint {
            checkpoint: cp,
            note,
        }))
    }

    /// After this instance appended `e`: extends the tree with it when it comes right after
    /// what the tree already holds, then signs a checkpoint if one is due (by count or age).
    /// A failure here does not undo the append; the next checkpoint, export or verification
    /// reports it.
    pub(crate) async fn after_audit_append(&self, ctx: &TenantContext, e: &AppendedEntry) {
        let cfg = &self.transparency().cfg;
        let mut logs = self.transparency().logs.lock().await;
        // Looked up before `entry`, which would clone the tenant id on every append.
        if !logs.contains_key(ctx.tenant()) {
            logs.insert(ctx.tenant().clone(), LogState::default());
        }
        let Some(st) = logs.get_mut(ctx.tenant()) else {
            return;
        };
        if self.load_last(ctx, st, false).await.is_err() {
            return;
        }
        st.extend_own(e);
        let covered = st.last.as_ref().map_or(0, |l| l.size);
        if e.seq <= covered {
            return;
        }
        let seq = e.seq;
        let since = *st.uncovered_since.get_or_insert(e.time);
        let due = seq - covered >= cfg.every_entries
            || self.now().saturating_sub(since) >= cfg.every.as_secs() as i64;
        if due {
            let _ = self.checkpoint_locked(ctx, st, false).await;
        }
    }

    /// The leaf hashes of the first `size` entries (re-read and re-verified from the store).
    pub(super) async fn leaf_hashes(&self, ctx: &TenantContext, size: u64) -> Result<Vec<Hash>> {
        let mut st = LogState::default();
        let mut out = Vec::new();
        let service = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        st.head = GENESIS.to_owned();
        while (out.len() as u64) < size {
            let page = self
                .audit_store()
                .audit_entries(&service, out.len() as u64, MAX_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for e in page.iter().take((size - out.len() as u64) as usize) {
                let seq = out.len() as u64 + 1;
                if e.seq != seq || e.tenant != ctx.tenant().as_str() || e.prev != st.head {
                    return Err(broken(seq, VerifyProblem::BrokenLink));
                }
                self.check_entry_mac(e, st.macs_seen).await?;
                st.macs_seen |= e.mac.is_some();
                st.head = e.hash.clone();
                out.push(merkle::leaf_hash(e.leaf_line().as_bytes()));
            }
        }
        Ok(out)
    }
}

impl super::Audit<'_> {
    /// The public key customers verify checkpoints with (C2SP verifier key string via
    /// [`AuditPublicKey::to_vkey`]). Public: needs no context.
    pub async fn public_key(self) -> Result<AuditPublicKey> {
        Ok(self.g.checkpoint_signer().await?.public())
    }

    /// Every active checkpoint key (older ones verify older checkpoints until retired).
    pub async fn public_keys(self) -> Result<Vec<AuditPublicKey>> {
        let prefix = &self.g.transparency().cfg.origin_prefix;
        Ok(self
            .g
            .keyring()
            .keys(ServicePurpose::CheckpointSigning)
            .await?
            .iter()
            .map(|k| CheckpointSigner::new(prefix, k.expose()).public())
            .collect())
    }

    /// The origin line of `tenant`'s log.
    pub fn origin(self, tenant: &TenantId) -> String {
        format!(
            "{}/{}",
            self.g.transparency().cfg.origin_prefix,
            tenant.as_str()
        )
    }

    /// Signs a checkpoint of the tenant's log now if it grew since the last one (and
    /// publishes it to every sink); returns the latest. Verifies every entry appended
    /// since (chain and MAC) first. Needs the admin role.
    pub async fn checkpoint(self, ctx: &TenantContext) -> Result<SignedCheckpoint> {
        self.g.authorize(
            ctx,
            Role::Admin,
            "audit",
            ScopeAction::Read,
            "sign an audit checkpoint",
        )?;
        let mut logs = self.g.transparency().logs.lock().await;
        let st = logs.entry(ctx.tenant().clone()).or_default();
        let cp = self.g.checkpoint_locked(ctx, st, true).await?;
        cp.ok_or_else(|| AuditError::InvalidInput("empty log".into()).into())
    }

    /// Signs a checkpoint if one is due by time (the `every` setting) even though no
    /// append came since: call it from a periodic task when the log may stay quiet.
    pub async fn checkpoint_due(self, ctx: &TenantContext) -> Result<()> {
        self.g.authorize(
            ctx,
            Role::Admin,
            "audit",
            ScopeAction::Read,
            "sign an audit checkpoint",
        )?;
        let mut logs = self.g.transparency().logs.lock().await;
        let st = logs.entry(ctx.tenant().clone()).or_default();
        self.g.checkpoint_locked(ctx, st, false).await.map(|_| ())
    }

    /// Exports the tenant's log as a bundle (docs/FORMAT.md): the header line, every
    /// entry's canonical line, `checkpoint`, and a checkpoint signed now over exactly
    /// those entries. Verifies chain and MACs on the way. Needs the admin role.
    pub async fn export_bundle(
        self,
        ctx: &TenantContext,
        mut out: impl std::io::Write + Send,
    ) -> Result<SignedCheckpoint> {
        self.g.authorize(
            ctx,
            Role::Admin,
            "audit",
            ScopeAction::Read,
            "export the audit log",
        )?;
        let mut logs = self.g.transparency().logs.lock().await;
        let st = logs.entry(ctx.tenant().clone()).or_default();
        let cp = self.g.checkpoint_locked(ctx, st, true).await?;
        drop(logs);
        let io = |e: std::io::Error| crate::Error::from(AuditError::Io(e.kind().to_string()));
        writeln!(out, "{EXPORT_HEADER}").map_err(io)?;
        let size = cp.as_ref().map_or(0, |c| c.checkpoint.size);
        let service = TenantContext::service(ctx.tenant().clone(), &self.g.service_role());
        let mut f = Frontier::new();
        while f.size() < size {
            let page = self
                .g
                .audit_store()
                .audit_entries(&service, f.size(), MAX_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for e in page.iter().take((size - f.size()) as usize) {
                f.push(merkle::leaf_hash(e.leaf_line().as_bytes()));
                writeln!(out, "{}", e.canonical_line()).map_err(io)?;
            }
        }
        let Some(cp) = cp else {
            return Err(AuditError::InvalidInput("empty log: nothing to export".into()).into());
        };
        // The store changed between the checkpoint and this read: refuse, never export
        // lines the checkpoint does not cover.
        if f.size() != size || f.root() != cp.checkpoint.root {
            return Err(broken(size, VerifyProblem::Fork));
        }
        writeln!(out, "{CHECKPOINT_MARK}").map_err(io)?;
        out.write_all(cp.note.as_bytes()).map_err(io)?;
        out.flush().map_err(io)?;
        Ok(cp)
    }

    /// Proves that entry `seq` is in the log, against a checkpoint signed now (or the
    /// latest, if the log did not grow). O(log n) hashes. Needs the admin role.
    pub async fn inclusion_proof(self, ctx: &TenantContext, seq: u64) -> Result<InclusionProof> {
        let cp = self.g.audit().checkpoint(ctx).await?;
        if seq == 0 || seq > cp.checkpoint.size {
            return Err(AuditError::InvalidInput(format!("no entry {seq}")).into());
        }
        let leaves = self.g.leaf_hashes(ctx, cp.checkpoint.size).await?;
        let service = TenantContext::service(ctx.tenant().clone(), &self.g.service_role());
        let e = self
            .g
            .audit_store()
            .audit_entries(&service, seq - 1, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                broken(
                    seq,
                    VerifyProblem::Missing {
                        expected: seq,
                        found: 0,
                    },
                )
            })?;
        let hashes = merkle::inclusion_proof(&leaves, seq - 1)
            .map_err(|_| AuditError::InvalidInput(format!("no entry {seq}")))?;
        Ok(InclusionProof {
            entry_line: e.canonical_line(),
            index: seq - 1,
            hashes,
            checkpoint_note: cp.note,
        })
    }

    /// Proves that the log of `old_size` entries (a checkpoint the customer kept) is a
    /// prefix of the log in a checkpoint signed now. Needs the admin role.
    pub async fn consistency_proof(
        self,
        ctx: &TenantContext,
        old_size: u64,
    ) -> Result<ConsistencyProof> {
        let cp = self.g.audit().checkpoint(ctx).await?;
        let leaves = self.g.leaf_hashes(ctx, cp.checkpoint.size).await?;
        let hashes = merkle::consistency_proof(&leaves, old_size)
            .map_err(|e| AuditError::InvalidInput(format!("old size {old_size}: {e}")))?;
        Ok(ConsistencyProof {
            old_size,
            hashes,
            checkpoint_note: cp.note,
        })
    }
}

pub(super) fn sink_err(e: SinkError) -> crate::Error {
    match e {
        SinkError::Fork { size } => broken(size, VerifyProblem::Fork),
        SinkError::Backwards { held, offered } => broken(
            offered,
            VerifyProblem::Truncated {
                expected: held,
                found: offered,
            },
        ),
        SinkError::Io(m) => AuditError::Io(format!("checkpoint sink: {m}")).into(),
        SinkError::RestoreRefused(m) => {
            AuditError::Io(format!("checkpoint sink refused the restore: {m}")).into()
        }
    }
}
