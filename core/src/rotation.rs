//! Key rotation jobs: tenant-key rotation with resumable re-encryption, key retirement,
//! and KEK rotation (re-wrapping data keys only).
//!
//! Every step is atomic per row and idempotent, so a crash at any point leaves every
//! value openable, and running a job again resumes where it stopped.

use std::collections::HashMap;

use crate::audit::{AuditAction, AuditEvent};
use crate::crypto::{self, KeyId, SealedValue};
use crate::error::Result;
use crate::guard::{record_context, Guard};
use crate::kms::KeyState;
use crate::kms::{current_tagged, KmsError, Rewrap, RewrapReport};
use crate::scope::Action as ScopeAction;
use crate::storage::{check_batch, StoreError, MAX_PAGE};
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};

area_handle!(
    /// Tenant keys: create, rotate, re-encrypt, retire, rewrap, shred, and BYOK provider choice. From [`Guard::keys`].
    Keys,
    keys,
    "Tenant key lifecycle: creation, rotation, re-encryption, retirement, shredding."
);

/// Most failed record ids a re-encryption report lists.
pub const MAX_REPORTED_FAILURES: usize = 100;

/// Progress and outcome of a re-encryption run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReencryptReport {
    /// Records moved to the active key.
    pub moved: u64,
    /// Records replaced concurrently by a writer (already re-sealed by it).
    pub raced: u64,
    /// Ids of records that failed to open or whose sealed bytes do not parse (corrupted or
    /// tampered), at most 100; they stay as they are and block retirement.
    pub failed: Vec<String>,
    /// Records still to move when the run ended (by their sealed bytes).
    pub remaining: u64,
    /// The progress callback stopped the run early; run it again to go on.
    pub stopped: bool,
}

/// What the sealed bytes of a tenant's stored records say ([`Keys::census`](crate::Keys::census)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealedCensus {
    /// Stored records.
    pub records: u64,
    /// Records in format v1.
    pub v1: u64,
    /// Records in format v2.
    pub v2: u64,
    /// Records per (key version, format version).
    pub by_key: std::collections::BTreeMap<(KeyId, u8), u64>,
    /// Records whose sealed bytes do not parse (unknown version, truncated).
    pub unreadable: u64,
}

impl SealedCensus {
    /// Records sealed under `key` in any format.
    pub fn count(&self, key: KeyId) -> u64 {
        self.by_key
            .iter()
            .filter(|((k, _), _)| *k == key)
            .map(|(_, n)| n)
            .sum()
    }

    fn current(&self, key: KeyId, format: crypto::SealFormat) -> u64 {
        self.by_key
            .get(&(key, format.version()))
            .copied()
            .unwrap_or(0)
    }
}

impl Guard {
    async fn reencrypt_where<P: crate::Progress>(
        &self,
        ctx: &TenantContext,
        from: Option<KeyId>,
        batch: usize,
        mut progress: impl FnMut(&ReencryptReport) -> P + Send,
    ) -> Result<ReencryptReport> {
        self.reencrypt_core(ctx, from, None, batch, |r, _| {
            if progress(r).keep_going() {
                std::ops::ControlFlow::Continue(())
            } else {
                std::ops::ControlFlow::Break(())
            }
        })
        .await
    }

    async fn reencrypt_core(
        &self,
        ctx: &TenantContext,
        from: Option<KeyId>,
        start_after: Option<&str>,
        batch: usize,
        mut progress: impl FnMut(&ReencryptReport, &str) -> std::ops::ControlFlow<()> + Send,
    ) -> Result<ReencryptReport> {
        let batch = check_batch(batch)?;
        let active = self.active_key(ctx).await?;
        let target = self.format_for(ctx).await?;
        let wanted = |v: &SealedValue| {
            let current = v.key_id() == active.id() && v.version() == target.version();
            !current && from.is_none_or(|f| v.key_id() == f)
        };
        // Once v1 is refused, a v1 value in the store was planted (or moved between rows,
        // which v1 cannot tell): re-sealing it as v2 would launder it, so it is reported.
        let v1_refused = self.v1_refused(ctx).await?;
        let mut report = ReencryptReport::default();
        let mut cursor: Option<String> = start_after.map(str::to_owned);
        loop {
            let page = self
                .store()
                .records_page(ctx, cursor.as_deref(), batch)
                .await?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.id.clone());
            for rec in &page {
                let value = match SealedValue::from_bytes(&rec.sealed) {
                    Ok(v) if v1_refused && v.version() == 1 => {
                        if report.failed.len() < MAX_REPORTED_FAILURES {
                            report.failed.push(rec.id.clone());
                        }
                        continue;
                    }
                    Ok(v) if wanted(&v) => v,
                    Ok(_) => continue,
                    Err(_) => {
                        // Unreadable bytes: nothing can open them; reported, never skipped silently.
                        if report.failed.len() < MAX_REPORTED_FAILURES {
                            report.failed.push(rec.id.clone());
                        }
                        continue;
                    }
                };
                let context = record_context(&rec.class, &rec.id);
                let plain = match self.open_for_reencrypt(ctx, context, &value).await {
                    Ok(p) => p,
                    // Only a bad record is skipped; a key, provider or store failure stops the job.
                    // A wrapped-key rejection counts as a bad record, as before kinds split;
                    // a tampered store row (also `Integrity`) still stops the job.
                    Err(e)
                        if !matches!(
                            e.kind(),
                            crate::ErrorKind::Malformed | crate::ErrorKind::TooLarge
                        ) && !matches!(
                            e.reason(),
                            Some(
                                crate::Reason::Tampered
                                    | crate::Reason::WrongKey
                                    | crate::Reason::WrappedKeyRejected
                            )
                        ) =>
                    {
                        return Err(e)
                    }
                    Err(_) => {
                        if report.failed.len() < MAX_REPORTED_FAILURES {
                            report.failed.push(rec.id.clone());
                        }
                        continue;
                    }
                };
                let sealed = crypto::seal(&active, ctx.tenant(), context, plain.expose(), target)?;
                let replaced = self
                    .store()
                    .replace_sealed(ctx, &rec.id, &rec.sealed, active.id(), sealed.as_bytes())
                    .await;
                if let Err(StoreError::KeyDestroyed(_)) = replaced {
                    // Another process retired the key this guard still held as active:
                    // nothing was written; the next run loads the current key.
                    self.invalidate(ctx);
                }
                if replaced? {
                    report.moved += 1;
                } else {
                    report.raced += 1;
                }
            }
            if progress(&report, cursor.as_deref().unwrap_or_default()).is_break() {
                report.stopped = true;
                break;
            }
        }
        let census = self.census(ctx, batch).await?;
        // Unreadable records count as remaining: they say nothing of their key, so they
        // block retirement until deleted or repaired.
        report.remaining = census.unreadable
            + match from {
                Some(f) if f == active.id() => census.count(f) - census.current(f, target),
                Some(f) => census.count(f),
                None => census.records - census.current(active.id(), target) - census.unreadable,
            };
        Ok(report)
    }

    /// Opens for re-encryption (v1 values only while v1 is not refused for the tenant).
    async fn open_for_reencrypt(
        &self,
        ctx: &TenantContext,
        context: crypto::Context<'_>,
        value: &SealedValue,
    ) -> Result<crate::SecretBytes> {
        let key = self.key_version(ctx, value.key_id()).await?;
        Ok(crypto::open(&key, ctx.tenant(), context, value)?)
    }

    pub(crate) async fn census(&self, ctx: &TenantContext, batch: usize) -> Result<SealedCensus> {
        let mut c = SealedCensus::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store()
                .records_page(ctx, cursor.as_deref(), batch)
                .await?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.id.clone());
            for rec in &page {
                c.records += 1;
                match SealedValue::from_bytes(&rec.sealed) {
                    Ok(v) => {
                        if v.version() == 1 {
                            c.v1 += 1;
                        } else {
                            c.v2 += 1;
                        }
                        *c.by_key.entry((v.key_id(), v.version())).or_default() += 1;
                    }
                    Err(_) => c.unreadable += 1,
                }
            }
        }
        Ok(c)
    }
}

impl Keys<'_> {
    /// Rotates the tenant's data key: a new version becomes active for new writes; old
    /// values keep opening under the old one (now decrypt-only). Needs the owner role.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "rotate_key", tenant = %ctx.tenant()))]
    pub async fn rotate(self, ctx: &TenantContext) -> Result<KeyId> {
        self.g
            .authorize_live(
                ctx,
                Role::Owner,
                "keys",
                ScopeAction::Admin,
                "rotate a tenant key",
            )
            .await?;
        let keys = self.g.store().tenant_keys(ctx).await?;
        let last = keys.iter().map(|k| k.key_id).max().unwrap_or(KeyId::FIRST);
        let next = last
            .next()
            .ok_or_else(|| StoreError::Conflict("key ids exhausted".into()))?;
        let rec = self.g.new_key_record(ctx, next).await?;
        let r = self.g.store().rotate_key(ctx, &rec).await;
        self.g.publish(&crate::events::Event::KeyRotated {
            tenant: ctx.tenant().clone(),
            key_id: next.get(),
        });
        r?;
        self.g
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::KeyRotate, format!("key:{next}"))
                    .detail("previous", last.to_string()),
            )
            .await?;
        Ok(next)
    }

    /// Moves every stored record sealed under `from` to the active key in the guard's
    /// format, `batch` records at a time, calling `progress` after each batch. With `from`
    /// the active key itself it moves that key's values of an older format (v1 to v2).
    /// Work is found by what each record's sealed bytes say (version and key id), never by
    /// the `key_id` column, and each record is replaced atomically only if unchanged since
    /// it was read, so the job is idempotent and can be run again after a crash. Needs the
    /// owner role.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "reencrypt", tenant = %ctx.tenant(), from = %from))]
    pub async fn reencrypt<P: crate::Progress>(
        self,
        ctx: &TenantContext,
        from: KeyId,
        batch: usize,
        progress: impl FnMut(&ReencryptReport) -> P + Send,
    ) -> Result<ReencryptReport> {
        self.g
            .authorize_live(
                ctx,
                Role::Owner,
                "keys",
                ScopeAction::Admin,
                "re-encrypt records",
            )
            .await?;
        self.g
            .reencrypt_where(ctx, Some(from), batch, progress)
            .await
    }

    /// Moves every stored record that is not sealed under the active key in the guard's
    /// format: older key versions and format v1 alike. As [`Keys::reencrypt`](crate::Keys::reencrypt) otherwise.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "reencrypt_all", tenant = %ctx.tenant()))]
    pub async fn reencrypt_all<P: crate::Progress>(
        self,
        ctx: &TenantContext,
        batch: usize,
        progress: impl FnMut(&ReencryptReport) -> P + Send,
    ) -> Result<ReencryptReport> {
        self.g
            .authorize_live(
                ctx,
                Role::Owner,
                "keys",
                ScopeAction::Admin,
                "re-encrypt records",
            )
            .await?;
        self.g.reencrypt_where(ctx, None, batch, progress).await
    }

    /// [`Keys::reencrypt`](crate::Keys::reencrypt) (with `from`) or [`Keys::reencrypt_all`](crate::Keys::reencrypt_all) (without) that can
    /// be stopped and resumed: it starts after record id `start_after` and calls `progress`
    /// after each batch with the report so far and the last record id it handled (the
    /// checkpoint to pass as `start_after` next time); `ControlFlow::Break` stops it after
    /// that batch. Returns the report and, when stopped early, the checkpoint. Every batch
    /// is already committed when `progress` sees it, so a checkpoint recorded there never
    /// skips work, and a record handled twice (a crash between commit and recording) is
    /// found current and left alone. Needs the owner role.
    pub async fn reencrypt_resumable(
        self,
        ctx: &TenantContext,
        from: Option<KeyId>,
        start_after: Option<&str>,
        batch: usize,
        mut progress: impl FnMut(&ReencryptReport, &str) -> std::ops::ControlFlow<()> + Send,
    ) -> Result<(ReencryptReport, Option<String>)> {
        self.g
            .authorize_live(
                ctx,
                Role::Owner,
                "keys",
                ScopeAction::Admin,
                "re-encrypt records",
            )
            .await?;
        let mut stopped = None;
        let report = self
            .g
            .reencrypt_core(ctx, from, start_after, batch, |r, last| {
                let flow = progress(r, last);
                if flow.is_break() {
                    stopped = Some(last.to_owned());
                }
                flow
            })
            .await?;
        Ok((report, stopped))
    }

    /// What the sealed bytes of the tenant's stored records say: how many there are per
    /// format and per key version. Reads every record (metadata only, nothing is opened).
    /// Any role.
    pub async fn census(self, ctx: &TenantContext) -> Result<SealedCensus> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "keys",
            ScopeAction::Read,
            "count sealed records",
        )?;
        self.g.census(ctx, MAX_PAGE).await
    }

    /// Retires a decrypt-only key version: destroys it once no stored record uses it, as
    /// the records' sealed bytes say (not the `key_id` column, which a database writer can
    /// edit). `Conflict` if it is active, still in use, or if a record's bytes cannot be
    /// read (it could be anything: delete or repair it first). Values held outside the
    /// store must be moved first with [`Records::reseal`](crate::Records::reseal). Needs the owner role.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "retire_key", tenant = %ctx.tenant(), key_id = %key_id))]
    pub async fn retire(self, ctx: &TenantContext, key_id: KeyId) -> Result<()> {
        self.g
            .authorize_live(ctx, Role::Owner, "keys", ScopeAction::Admin, "retire a key")
            .await?;
        let keys = self.g.store().tenant_keys(ctx).await?;
        let key = keys
            .iter()
            .find(|k| k.key_id == key_id)
            .ok_or(KmsError::UnknownKey(key_id))?;
        match key.state {
            KeyState::Active => {
                return Err(StoreError::Conflict(
                    "the active key cannot be retired: rotate first".into(),
                )
                .into())
            }
            KeyState::Destroyed => return Ok(()),
            KeyState::DecryptOnly => {}
        }
        let census = self.g.census(ctx, MAX_PAGE).await?;
        let used = census.count(key_id);
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "key {key_id} still seals {used} records: run reencrypt first"
            ))
            .into());
        }
        if census.unreadable > 0 {
            return Err(StoreError::Conflict(format!(
                "{} records have sealed bytes that cannot be read: delete or repair them first",
                census.unreadable
            ))
            .into());
        }
        let r = self.g.store().destroy_key(ctx, key_id).await;
        self.g.publish(&crate::events::Event::KeyRetired {
            tenant: ctx.tenant().clone(),
            key_id: key_id.get(),
        });
        r?;
        self.g
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::KeyDestroy, format!("key:{key_id}")),
            )
            .await?;
        Ok(())
    }

    /// Tenant ids after `after` in ascending order, at most `limit` (1 to the store's page
    /// limit): an operator's listing and the driver of per-tenant jobs. Service role only.
    pub async fn list_tenants(
        self,
        service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.g.check_service(service)?;
        let limit = check_batch(limit)?;
        Ok(self.g.store().list_tenants(service, after, limit).await?)
    }

    /// KEK rotation: re-wraps every tenant's data keys that are not under the provider's
    /// current KEK. No record is touched. Resumable (pass the last report's
    /// `last_tenant` as `start_after`) and idempotent. Service role only.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "rewrap"))]
    pub async fn rewrap<P: crate::Progress>(
        self,
        service: &ServiceRole,
        start_after: Option<TenantId>,
        batch: usize,
        mut progress: impl FnMut(&RewrapReport) -> P + Send,
    ) -> Result<RewrapReport> {
        self.g.check_service(service)?;
        let batch = check_batch(batch)?;
        let mut currents = std::collections::HashMap::new();
        // The keyring first (a handful of keys, idempotent, every run): the audit entries
        // below need its audit-mac key, and nothing may need the old KEK after this job.
        let (service_moved, service_current) = self.g.keyring().rewrap().await?;
        let mut report = RewrapReport {
            last_tenant: start_after,
            service_keys_rewrapped: service_moved,
            service_keys_current: service_current,
            ..Default::default()
        };
        loop {
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
                let before = report.rewrapped;
                let mut new_kek = String::new();
                for k in self.g.store().tenant_keys(&ctx).await? {
                    if k.state == KeyState::Destroyed {
                        continue;
                    }
                    // Each key stays with its own provider (deployment or the tenant's own).
                    let target = crate::kms::split_kek_id(&k.kek_id).0.map(str::to_owned);
                    match self
                        .g
                        .rewrap_record(&ctx, &k, target.as_deref(), &mut currents)
                        .await?
                    {
                        crate::kms::Rewrap::Rewrapped => {
                            report.rewrapped += 1;
                            new_kek = crate::kms::current_tagged(&currents, target.as_deref());
                        }
                        crate::kms::Rewrap::Current => report.current += 1,
                        crate::kms::Rewrap::Raced => {}
                    }
                }
                if report.rewrapped > before {
                    let ev = AuditEvent::new(AuditAction::KeyRewrap, format!("kek:{new_kek}"))
                        .detail("rewrapped", (report.rewrapped - before).to_string());
                    self.g.append_audit(&ctx, ev).await?;
                }
                report.tenants += 1;
                report.last_tenant = Some(tenant);
            }
            if !progress(&report).keep_going() {
                report.stopped = true;
                break;
            }
        }
        Ok(report)
    }
}

impl Keys<'_> {
    /// Names of the tenant key providers configured in this guard.
    pub fn provider_names(self) -> Vec<String> {
        self.g.tenant_providers().keys().cloned().collect()
    }

    /// Moves the tenant's data keys to provider `name` (its own KMS key: bring your own
    /// key), or back to the deployment provider with `None`. Re-wraps only this tenant's
    /// data keys; no record is re-encrypted. New key versions then go to that provider.
    /// Idempotent and resumable: run it again after a failure. Needs the service
    /// capability (a tenant owner cannot pick a key provider), and a named provider must
    /// be allowed for this tenant ([`GuardBuilder::allow_tenant_key_provider`](crate::GuardBuilder::allow_tenant_key_provider)):
    /// `ProviderNotAllowed` otherwise.
    pub async fn set_provider(
        self,
        ctx: &TenantContext,
        name: Option<&str>,
    ) -> Result<RewrapReport> {
        self.g
            .require_service(ctx, "change the tenant's key provider")?;
        self.g.provider_named(name)?;
        if let Some(n) = name {
            if !self.g.provider_allowed(n, ctx.tenant()) {
                return Err(KmsError::ProviderNotAllowed.into());
            }
        }
        let keys = self.g.store().tenant_keys(ctx).await?;
        if keys.iter().all(|k| k.state == KeyState::Destroyed) {
            return Err(KmsError::TenantShredded.into());
        }
        let mut report = RewrapReport {
            tenants: 1,
            ..Default::default()
        };
        let mut currents = HashMap::new();
        let mut result = Ok(());
        for k in keys.iter().filter(|k| k.state != KeyState::Destroyed) {
            match self.g.rewrap_record(ctx, k, name, &mut currents).await {
                Ok(Rewrap::Rewrapped) => report.rewrapped += 1,
                Ok(Rewrap::Current) => report.current += 1,
                Ok(Rewrap::Raced) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.g.invalidate(ctx);
        result?;
        if report.rewrapped > 0 {
            let ev = AuditEvent::new(
                AuditAction::KeyRewrap,
                format!("kek:{}", current_tagged(&currents, name)),
            )
            .detail("provider", name.unwrap_or("deployment"))
            .detail("rewrapped", report.rewrapped.to_string());
            self.g.append_audit(ctx, ev).await?;
        }
        report.last_tenant = Some(ctx.tenant().clone());
        Ok(report)
    }

    /// The named provider that wraps the tenant's active key (None: the deployment
    /// provider). Any role.
    pub async fn provider(self, ctx: &TenantContext) -> Result<Option<String>> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "keys",
            crate::scope::Action::Read,
            "read the tenant's key provider",
        )?;
        let keys = self.g.store().tenant_keys(ctx).await?;
        Ok(Guard::provider_of(&keys))
    }
}
