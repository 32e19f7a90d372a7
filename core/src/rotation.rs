//! Key rotation jobs: tenant-key rotation with resumable re-encryption, key retirement,
//! and KEK rotation (re-wrapping data keys only).
//!
//! Every step is atomic per row and idempotent, so a crash at any point leaves every
//! value openable, and running a job again resumes where it stopped.

use crate::audit::{AuditAction, AuditEvent};
use crate::crypto::{self, KeyId, SealedValue};
use crate::error::Result;
use crate::guard::{record_context, Guard};
use crate::kms::KmsError;
use crate::store::{KeyState, StoreError, MAX_PAGE};
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};
use crate::tokens::Action as ScopeAction;

/// Most failed record ids a re-encryption report lists.
pub const MAX_REPORTED_FAILURES: usize = 100;

/// Progress and outcome of a re-encryption run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Records moved to the active key.
    pub moved: u64,
    /// Records replaced concurrently by a writer (already re-sealed by it).
    pub raced: u64,
    /// Ids of records that failed to open (corrupted or tampered), at most 100; they
    /// stay under the old key, which therefore cannot be retired.
    pub failed: Vec<String>,
    /// Records still under the old key when the run ended.
    pub remaining: u64,
}

/// Progress and outcome of a KEK-rotation (re-wrap) run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Tenants visited.
    pub tenants: u64,
    /// Data keys re-wrapped under the current KEK.
    pub rewrapped: u64,
    /// Data keys already under the current KEK.
    pub current: u64,
    /// The last tenant finished: pass it as `start_after` to resume.
    pub last_tenant: Option<TenantId>,
}

/// Checks a job's batch size (1 to `MAX_PAGE`).
pub(crate) fn check_batch(batch: usize) -> Result<usize> {
    if batch == 0 || batch > MAX_PAGE {
        return Err(StoreError::InvalidInput(format!("batch size must be 1 to {MAX_PAGE}")).into());
    }
    Ok(batch)
}

impl Guard {
    /// Rotates the tenant's data key: a new version becomes active for new writes; old
    /// values keep opening under the old one (now decrypt-only). Needs the owner role.
    pub async fn rotate_tenant_key(&self, ctx: &TenantContext) -> Result<KeyId> {
        self.authorize(
            ctx,
            Role::Owner,
            "keys",
            ScopeAction::Admin,
            "rotate a tenant key",
        )?;
        let keys = self.store().tenant_keys(ctx).await?;
        let last = keys.iter().map(|k| k.key_id).max().unwrap_or(KeyId::FIRST);
        let next = last
            .next()
            .ok_or_else(|| StoreError::Conflict("key ids exhausted".into()))?;
        let rec = self.new_key_record(ctx, next).await?;
        let r = self.store().rotate_key(ctx, &rec).await;
        self.invalidate(ctx);
        r?;
        self.audit(
            ctx,
            AuditEvent::new(AuditAction::KeyRotate, format!("key:{next}"))
                .detail("previous", last.to_string()),
        )
        .await?;
        Ok(next)
    }

    /// Moves every stored record sealed under `from` to the active key, `batch` records
    /// at a time, calling `progress` after each batch. Resumable and idempotent: it finds
    /// work by the key id in the clear, and each record is replaced atomically only if
    /// unchanged since it was read. Needs the owner role.
    pub async fn reencrypt(
        &self,
        ctx: &TenantContext,
        from: KeyId,
        batch: usize,
        mut progress: impl FnMut(&ReencryptReport) + Send,
    ) -> Result<ReencryptReport> {
        self.authorize(
            ctx,
            Role::Owner,
            "keys",
            ScopeAction::Admin,
            "re-encrypt records",
        )?;
        let batch = check_batch(batch)?;
        let active = self.active_key(ctx).await?;
        let mut report = ReencryptReport::default();
        if active.id() == from {
            report.remaining = self.store().count_by_key(ctx, from).await?;
            return Ok(report);
        }
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store()
                .records_by_key(ctx, from, cursor.as_deref(), batch)
                .await?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.id.clone());
            for rec in &page {
                let context = record_context(&rec.class, &rec.id);
                let opened = match SealedValue::from_bytes(&rec.sealed) {
                    Ok(v) => self.open_unchecked(ctx, &context, &v).await,
                    Err(e) => Err(e.into()),
                };
                let plain = match opened {
                    Ok(p) => p,
                    // Only a bad record is skipped; a key, provider or store failure stops the job.
                    Err(e)
                        if !matches!(
                            e.kind(),
                            crate::ErrorKind::AuthenticationFailed
                                | crate::ErrorKind::Malformed
                                | crate::ErrorKind::UnsupportedVersion
                                | crate::ErrorKind::TooLarge
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
                let sealed =
                    crypto::seal_with_key(&active, ctx.tenant(), &context, plain.expose())?;
                if self
                    .store()
                    .replace_sealed(ctx, &rec.id, &rec.sealed, active.id(), sealed.as_bytes())
                    .await?
                {
                    report.moved += 1;
                } else {
                    report.raced += 1;
                }
            }
            progress(&report);
        }
        report.remaining = self.store().count_by_key(ctx, from).await?;
        Ok(report)
    }

    /// Retires a decrypt-only key version: destroys it once no stored record uses it.
    /// `Conflict` if it is active or still in use. Values held outside the store must be
    /// moved first with [`Guard::reseal`]. Needs the owner role.
    pub async fn retire_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<()> {
        self.authorize(ctx, Role::Owner, "keys", ScopeAction::Admin, "retire a key")?;
        let keys = self.store().tenant_keys(ctx).await?;
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
        let used = self.store().count_by_key(ctx, key_id).await?;
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "key {key_id} still seals {used} records: run reencrypt first"
            ))
            .into());
        }
        let r = self.store().destroy_key(ctx, key_id).await;
        self.invalidate(ctx);
        r?;
        self.audit(
            ctx,
            AuditEvent::new(AuditAction::KeyDestroy, format!("key:{key_id}")),
        )
        .await?;
        Ok(())
    }

    /// KEK rotation: re-wraps every tenant's data keys that are not under the provider's
    /// current KEK. No record is touched. Resumable (pass the last report's
    /// `last_tenant` as `start_after`) and idempotent. Service role only.
    pub async fn rewrap_tenant_keys(
        &self,
        service: &ServiceRole,
        start_after: Option<TenantId>,
        batch: usize,
        mut progress: impl FnMut(&RewrapReport) + Send,
    ) -> Result<RewrapReport> {
        self.check_service(service)?;
        let batch = check_batch(batch)?;
        let mut currents = std::collections::HashMap::new();
        let mut report = RewrapReport {
            last_tenant: start_after,
            ..Default::default()
        };
        loop {
            let tenants = self
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
                for k in self.store().tenant_keys(&ctx).await? {
                    if k.state == KeyState::Destroyed {
                        continue;
                    }
                    // Each key stays with its own provider (deployment or the tenant's own).
                    let target = crate::kms::split_kek_id(&k.kek_id).0.map(str::to_owned);
                    match self
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
                    self.audit(&ctx, ev).await?;
                }
                report.tenants += 1;
                report.last_tenant = Some(tenant);
            }
            progress(&report);
        }
        Ok(report)
    }
}
