//! Governance traits for [`MemoryStore`](super::MemoryStore).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::{page, MemoryStore};
use crate::audit::{AppendedEntry, AuditDraft, AuditEntry, GENESIS};
use crate::store::StoreError;
use crate::store::{
    validate_label, AuditStore, RefreshRecord, RetentionStore, RetentionWindow, SessionRecord,
    SessionStore, TokenRecord, TokenStore,
};
use crate::tenant::{ServiceRole, TenantContext, TenantId};

#[derive(Default)]
pub(super) struct GovMem {
    /// Keyed by (tenant, id): token and session ids are per tenant.
    tokens: BTreeMap<(TenantId, String), TokenRecord>,
    token_hashes: HashMap<[u8; 32], (TenantId, String)>,
    audit: HashMap<TenantId, Vec<AuditEntry>>,
    rules: BTreeMap<(TenantId, String), RetentionWindow>,
    sessions: BTreeMap<(TenantId, String), SessionRecord>,
    refresh: HashMap<[u8; 32], RefreshRecord>,
}

#[derive(Default)]
pub(super) struct Gov(Mutex<GovMem>);

impl MemoryStore {
    fn gov(&self) -> MutexGuard<'_, GovMem> {
        self.gov.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryStore {
    async fn insert_token(&self, ctx: &TenantContext, rec: &TokenRecord) -> Result<(), StoreError> {
        ctx.check_tenant(&rec.tenant)
            .map_err(|_| StoreError::CrossTenant)?;
        let mut g = self.gov();
        let key = (rec.tenant.clone(), rec.id.clone());
        if g.tokens.contains_key(&key) || g.token_hashes.contains_key(&rec.hash) {
            return Err(StoreError::Conflict("token id or hash exists".into()));
        }
        g.token_hashes.insert(rec.hash, key.clone());
        g.tokens.insert(key, rec.clone());
        Ok(())
    }

    async fn token_by_hash(
        &self,
        _service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let g = self.gov();
        Ok(g.token_hashes
            .get(hash)
            .and_then(|id| g.tokens.get(id))
            .cloned())
    }

    async fn list_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let limit = page(limit)?;
        let g = self.gov();
        Ok(g.tokens
            .values()
            .filter(|t| {
                &t.tenant == ctx.tenant()
                    && agent.is_none_or(|a| t.agent == a)
                    && after.is_none_or(|a| t.id.as_str() > a)
            })
            .take(limit)
            .cloned()
            .collect())
    }

    async fn revoke_token(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut g = self.gov();
        match g.tokens.get_mut(&(ctx.tenant().clone(), id.to_owned())) {
            Some(t) if t.revoked_at.is_none() => {
                t.revoked_at = Some(at);
                Ok(true)
            }
            Some(_) => Ok(false),
            _ => Err(StoreError::RecordNotFound),
        }
    }

    async fn revoke_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        let mut g = self.gov();
        let mut n = 0;
        for t in g.tokens.values_mut() {
            if &t.tenant == ctx.tenant()
                && agent.is_none_or(|a| t.agent == a)
                && t.revoked_at.is_none()
            {
                t.revoked_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[async_trait::async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(
        &self,
        ctx: &TenantContext,
        draft: &AuditDraft,
    ) -> Result<AuditEntry, StoreError> {
        let mut g = self.gov();
        let log = g.audit.entry(ctx.tenant().clone()).or_default();
        let (seq, prev) = log
            .last()
            .map(|e| (e.seq + 1, e.hash.as_str()))
            .unwrap_or((1, GENESIS));
        let e = AuditEntry::chain(ctx.tenant().as_str(), seq, prev, draft);
        log.push(e.clone());
        Ok(e)
    }

    async fn append_audit_owned(
        &self,
        ctx: &TenantContext,
        draft: AuditDraft,
    ) -> Result<AppendedEntry, StoreError> {
        let mut g = self.gov();
        // Looked up before `entry`, which would clone the tenant id on every append.
        if !g.audit.contains_key(ctx.tenant()) {
            g.audit.insert(ctx.tenant().clone(), Vec::new());
        }
        let log = g
            .audit
            .get_mut(ctx.tenant())
            .unwrap_or_else(|| unreachable!());
        let (seq, prev) = log
            .last()
            .map(|e| (e.seq + 1, e.hash.as_str()))
            .unwrap_or((1, GENESIS));
        let (e, appended) = AuditEntry::chain_appended(ctx.tenant().as_str(), seq, prev, draft);
        log.push(e);
        Ok(appended)
    }

    async fn audit_entries(
        &self,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = page(limit)?;
        let g = self.gov();
        let Some(log) = g.audit.get(ctx.tenant()) else {
            return Ok(Vec::new());
        };
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(log.len());
        Ok(log[start..].iter().take(limit).cloned().collect())
    }

    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        seqs: &[u64],
    ) -> Result<u64, StoreError> {
        page(seqs.len())?;
        let mut g = self.gov();
        let Some(log) = g.audit.get_mut(ctx.tenant()) else {
            return Ok(0);
        };
        let mut n = 0;
        for &seq in seqs {
            let i = usize::try_from(seq).unwrap_or(usize::MAX);
            if let Some(e) = i.checked_sub(1).and_then(|i| log.get_mut(i)) {
                if e.salt.is_some() {
                    e.erase_personal();
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

#[async_trait::async_trait]
impl RetentionStore for MemoryStore {
    async fn set_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
        window: RetentionWindow,
    ) -> Result<(), StoreError> {
        validate_label("data class", class)?;
        if matches!(window, RetentionWindow::Secs(s) if s <= 0) {
            return Err(StoreError::InvalidInput(
                "retention window must be positive".into(),
            ));
        }
        self.gov()
            .rules
            .insert((ctx.tenant().clone(), class.to_owned()), window);
        Ok(())
    }

    async fn clear_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .gov()
            .rules
            .remove(&(ctx.tenant().clone(), class.to_owned()))
            .is_some())
    }

    async fn retention_rules(
        &self,
        ctx: &TenantContext,
    ) -> Result<Vec<(String, RetentionWindow)>, StoreError> {
        Ok(self
            .gov()
            .rules
            .iter()
            .filter(|((t, _), _)| t == ctx.tenant())
            .map(|((_, c), w)| (c.clone(), *w))
            .collect())
    }

    async fn record_classes(&self, ctx: &TenantContext) -> Result<Vec<String>, StoreError> {
        let inner = self.lock();
        let mut v: Vec<String> = inner
            .records
            .values()
            .filter(|(t, _)| t == ctx.tenant())
            .map(|(_, r)| r.class.clone())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    async fn delete_expired(
        &self,
        ctx: &TenantContext,
        class: &str,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = page(limit)?;
        let mut inner = self.lock();
        let mut ids: Vec<String> = inner
            .records
            .values()
            .filter(|(t, r)| t == ctx.tenant() && r.class == class && r.updated_at < cutoff)
            .map(|(_, r)| r.id.clone())
            .collect();
        ids.sort();
        ids.truncate(limit);
        for id in &ids {
            inner.records.remove(&(ctx.tenant().clone(), id.clone()));
        }
        Ok(ids)
    }

    async fn delete_by_subject(
        &self,
        ctx: &TenantContext,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = page(limit)?;
        let mut inner = self.lock();
        let mut ids: Vec<String> = inner
            .records
            .values()
            .filter(|(t, r)| t == ctx.tenant() && r.subject.as_deref() == Some(subject))
            .map(|(_, r)| r.id.clone())
            .collect();
        ids.sort();
        ids.truncate(limit);
        for id in &ids {
            inner.records.remove(&(ctx.tenant().clone(), id.clone()));
        }
        Ok(ids)
    }

    async fn delete_all_records(
        &self,
        ctx: &TenantContext,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let limit = page(limit)?;
        let mut inner = self.lock();
        let ids: Vec<String> = inner
            .records
            .values()
            .filter(|(t, _)| t == ctx.tenant())
            .map(|(_, r)| r.id.clone())
            .take(limit)
            .collect();
        for id in &ids {
            inner.records.remove(&(ctx.tenant().clone(), id.clone()));
        }
        Ok(ids.len() as u64)
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(
        &self,
        ctx: &TenantContext,
        session: &SessionRecord,
        refresh: &RefreshRecord,
    ) -> Result<(), StoreError> {
        ctx.check_tenant(&session.tenant)
            .map_err(|_| StoreError::CrossTenant)?;
        let mut g = self.gov();
        let key = (session.tenant.clone(), session.id.clone());
        if g.sessions.contains_key(&key) || g.refresh.contains_key(&refresh.hash) {
            return Err(StoreError::Conflict(
                "session id or refresh hash exists".into(),
            ));
        }
        g.sessions.insert(key, session.clone());
        g.refresh.insert(refresh.hash, refresh.clone());
        Ok(())
    }

    async fn refresh_by_hash(
        &self,
        _service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self.gov().refresh.get(hash).cloned())
    }

    async fn get_session(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .gov()
            .sessions
            .get(&(ctx.tenant().clone(), id.to_owned()))
            .cloned())
    }

    async fn rotate_refresh(
        &self,
        ctx: &TenantContext,
        old: &[u8; 32],
        new: &RefreshRecord,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut g = self.gov();
        match g.refresh.get(old) {
            // Another tenant's refresh token is not there for this tenant.
            Some(r) if &r.tenant != ctx.tenant() => return Err(StoreError::RecordNotFound),
            Some(r) if !r.used && r.session_id == new.session_id => {}
            Some(_) => return Ok(false),
            None => return Err(StoreError::RecordNotFound),
        }
        match g
            .sessions
            .get_mut(&(ctx.tenant().clone(), new.session_id.clone()))
        {
            Some(s) if s.revoked_at.is_none() => s.refreshed_at = at,
            _ => return Ok(false),
        }
        if g.refresh.contains_key(&new.hash) {
            return Err(StoreError::Conflict("refresh hash exists".into()));
        }
        if let Some(r) = g.refresh.get_mut(old) {
            r.used = true;
        }
        g.refresh.insert(new.hash, new.clone());
        Ok(true)
    }

    async fn list_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = page(limit)?;
        let g = self.gov();
        let mut v: Vec<SessionRecord> = g
            .sessions
            .values()
            .filter(|s| &s.tenant == ctx.tenant() && user.is_none_or(|u| s.user == u))
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        v.truncate(limit);
        Ok(v)
    }

    async fn list_tenant_sessions(
        &self,
        ctx: &TenantContext,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = page(limit)?;
        let g = self.gov();
        let mut v: Vec<SessionRecord> = g
            .sessions
            .values()
            .filter(|s| {
                &s.tenant == ctx.tenant()
                    && after.is_none_or(|(c, id)| {
                        s.created_at < c || (s.created_at == c && s.id.as_str() > id)
                    })
            })
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        v.truncate(limit);
        Ok(v)
    }

    async fn revoke_session(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut g = self.gov();
        match g.sessions.get_mut(&(ctx.tenant().clone(), id.to_owned())) {
            Some(s) if s.revoked_at.is_none() => {
                s.revoked_at = Some(at);
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(StoreError::RecordNotFound),
        }
    }

    async fn revoke_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        let mut g = self.gov();
        let mut n = 0;
        for s in g.sessions.values_mut() {
            if &s.tenant == ctx.tenant()
                && user.is_none_or(|u| s.user == u)
                && s.revoked_at.is_none()
            {
                s.revoked_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }
}
