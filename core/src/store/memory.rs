//! `MemoryStore`: everything in process memory (tests, short-lived tools).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::{
    validate_record, validate_record_id, KeyState, KeyStore, RecordStore, SealedRecord, StoreError,
    TenantKeyRecord, MAX_PAGE,
};
use crate::crypto::KeyId;
use crate::kms::{ServiceKeyRecord, ServiceKeyState, ServiceKeyStore, ServicePurpose};
use crate::tenant::{Membership, Role, ServiceRole, TenantContext, TenantId, UserId};

#[path = "memory_gov.rs"]
mod memory_gov;

#[derive(Default)]
struct Tenant {
    keys: BTreeMap<KeyId, TenantKeyRecord>,
}

#[derive(Default)]
struct Inner {
    tenants: BTreeMap<TenantId, Tenant>,
    /// Keyed by (tenant, id): ids are per tenant.
    records: HashMap<(TenantId, String), (TenantId, SealedRecord)>,
    policies: HashMap<(TenantId, String), super::PolicyDocument>,
    /// Memberships, keyed by (tenant, user).
    members: BTreeMap<(TenantId, UserId), Role>,
    service_keys: BTreeMap<(ServicePurpose, u32), ServiceKeyRecord>,
}

/// A store held in memory; lost when dropped.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    gov: memory_gov::Gov,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn page(limit: usize) -> Result<usize, StoreError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::InvalidInput(format!(
            "page size must be 1 to {MAX_PAGE}"
        )));
    }
    Ok(limit)
}

fn tenant_mut<'a>(inner: &'a mut Inner, ctx: &TenantContext) -> Result<&'a mut Tenant, StoreError> {
    inner
        .tenants
        .get_mut(ctx.tenant())
        .ok_or(StoreError::TenantNotFound)
}

/// Refuses a write sealed under a destroyed key version of the tenant (a guard sharing this
/// store that still held the key after another retired it or shredded the tenant): it
/// could never be opened. Checked under the store's lock, with the write.
fn key_not_destroyed(t: &Tenant, key_id: KeyId) -> Result<(), StoreError> {
    match t.keys.get(&key_id) {
        Some(k) if k.state == KeyState::Destroyed => Err(StoreError::KeyDestroyed(key_id)),
        _ => Ok(()),
    }
}

fn wipe(rec: &mut TenantKeyRecord) {
    rec.state = KeyState::Destroyed;
    rec.kek_id.clear();
    zeroize::Zeroize::zeroize(&mut rec.wrapped);
}

#[async_trait::async_trait]
impl KeyStore for MemoryStore {
    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.tenants.contains_key(ctx.tenant()) {
            return Err(StoreError::Conflict(
                "tenant already exists (ids of shredded tenants are never reused)".into(),
            ));
        }
        let mut t = Tenant::default();
        t.keys.insert(first.key_id, first.clone());
        inner.tenants.insert(ctx.tenant().clone(), t);
        if let Some(user) = ctx.user() {
            // The creator becomes the first owner (as on PostgreSQL).
            inner
                .members
                .insert((ctx.tenant().clone(), user.clone()), Role::Owner);
        }
        Ok(())
    }

    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        let mut inner = self.lock();
        Ok(tenant_mut(&mut inner, ctx)?
            .keys
            .values()
            .cloned()
            .collect())
    }

    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let t = tenant_mut(&mut inner, ctx)?;
        if t.keys.contains_key(&new.key_id) {
            return Err(StoreError::Conflict(format!(
                "key {} already exists",
                new.key_id
            )));
        }
        if !t.keys.values().any(|k| k.state == KeyState::Active) {
            return Err(StoreError::Conflict(
                "tenant was shredded: it cannot get new keys".into(),
            ));
        }
        for k in t.keys.values_mut().filter(|k| k.state == KeyState::Active) {
            k.state = KeyState::DecryptOnly;
        }
        t.keys.insert(new.key_id, new.clone());
        Ok(())
    }

    async fn rewrap_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        expected_kek: &str,
        new_kek: &str,
        new_wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let t = tenant_mut(&mut inner, ctx)?;
        match t.keys.get_mut(&key_id) {
            Some(k) if k.state != KeyState::Destroyed && k.kek_id == expected_kek => {
                k.kek_id = new_kek.to_owned();
                k.wrapped = new_wrapped.to_vec();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let used = inner
            .records
            .iter()
            .filter(|((t, _), (_, r))| t == ctx.tenant() && r.key_id == key_id)
            .count();
        let t = tenant_mut(&mut inner, ctx)?;
        let k = t
            .keys
            .get_mut(&key_id)
            .ok_or_else(|| StoreError::Conflict(format!("no key {key_id}")))?;
        match k.state {
            KeyState::DecryptOnly if used > 0 => Err(StoreError::Conflict(format!(
                "key {key_id} still seals {used} records: run reencrypt first"
            ))),
            KeyState::Active => Err(StoreError::Conflict(
                "the active key cannot be destroyed alone: rotate first, or shred the tenant"
                    .into(),
            )),
            _ => {
                wipe(k);
                Ok(())
            }
        }
    }

    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let t = tenant_mut(&mut inner, ctx)?;
        t.keys.values_mut().for_each(wipe);
        Ok(())
    }

    async fn list_tenants(
        &self,
        _service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        let limit = page(limit)?;
        let inner = self.lock();
        Ok(inner
            .tenants
            .keys()
            .filter(|t| after.is_none_or(|a| *t > a))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait::async_trait]
impl RecordStore for MemoryStore {
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError> {
        validate_record(rec)?;
        let mut inner = self.lock();
        key_not_destroyed(tenant_mut(&mut inner, ctx)?, rec.key_id)?;
        let key = (ctx.tenant().clone(), rec.id.clone());
        let mut rec = rec.clone();
        if let Some((_, old)) = inner.records.get(&key) {
            rec.created_at = old.created_at;
        }
        inner.records.insert(key, (ctx.tenant().clone(), rec));
        Ok(())
    }

    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        validate_record_id(id)?;
        let inner = self.lock();
        Ok(inner
            .records
            .get(&(ctx.tenant().clone(), id.to_owned()))
            .map(|(_, r)| r.clone()))
    }

    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError> {
        validate_record_id(id)?;
        let mut inner = self.lock();
        Ok(inner
            .records
            .remove(&(ctx.tenant().clone(), id.to_owned()))
            .is_some())
    }

    async fn records_by_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let limit = page(limit)?;
        let inner = self.lock();
        let mut out: Vec<SealedRecord> = inner
            .records
            .values()
            .filter(|(t, r)| {
                t == ctx.tenant() && r.key_id == key_id && after.is_none_or(|a| r.id.as_str() > a)
            })
            .map(|(_, r)| r.clone())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn records_page(
        &self,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let limit = page(limit)?;
        let inner = self.lock();
        let mut out: Vec<SealedRecord> = inner
            .records
            .values()
            .filter(|(t, r)| t == ctx.tenant() && after.is_none_or(|a| r.id.as_str() > a))
            .map(|(_, r)| r.clone())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError> {
        let inner = self.lock();
        Ok(inner
            .records
            .values()
            .filter(|(t, r)| t == ctx.tenant() && r.key_id == key_id)
            .count() as u64)
    }

    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if let Some(t) = inner.tenants.get(ctx.tenant()) {
            key_not_destroyed(t, new_key_id)?;
        }
        match inner
            .records
            .get_mut(&(ctx.tenant().clone(), id.to_owned()))
        {
            Some((_, r)) if r.sealed == expected => {
                r.sealed = new_sealed.to_vec();
                r.key_id = new_key_id;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait::async_trait]
impl super::PolicyStore for MemoryStore {
    async fn get_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
    ) -> Result<Option<super::PolicyDocument>, StoreError> {
        super::validate_policy(kind, "")?;
        let mut inner = self.lock();
        tenant_mut(&mut inner, ctx)?;
        Ok(inner
            .policies
            .get(&(ctx.tenant().clone(), kind.to_owned()))
            .cloned())
    }

    async fn put_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
        body: &str,
        updated_at: i64,
    ) -> Result<u64, StoreError> {
        super::validate_policy(kind, body)?;
        let mut inner = self.lock();
        tenant_mut(&mut inner, ctx)?;
        let key = (ctx.tenant().clone(), kind.to_owned());
        let version = inner.policies.get(&key).map_or(0, |d| d.version) + 1;
        inner.policies.insert(
            key,
            super::PolicyDocument {
                body: body.to_owned(),
                version,
                updated_at,
            },
        );
        Ok(version)
    }
}

#[async_trait::async_trait]
impl super::MembershipStore for MemoryStore {
    async fn member_role(
        &self,
        ctx: &TenantContext,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        let inner = self.lock();
        if !inner.tenants.contains_key(ctx.tenant()) {
            return Err(StoreError::TenantNotFound);
        }
        Ok(inner
            .members
            .get(&(ctx.tenant().clone(), user.clone()))
            .copied())
    }

    async fn apply_member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        _at: i64,
    ) -> Result<super::MemberChange, crate::Error> {
        let mut inner = self.lock();
        if !inner.tenants.contains_key(ctx.tenant()) {
            return Err(StoreError::TenantNotFound.into());
        }
        let tenant = ctx.tenant().clone();
        let of_tenant = || {
            inner
                .members
                .range((tenant.clone(), UserId::min())..)
                .take_while(|((t, _), _)| *t == tenant)
        };
        let owners = of_tenant().filter(|(_, r)| **r == Role::Owner).count();
        let count = of_tenant().count();
        let actor_role = ctx
            .user()
            .and_then(|u| inner.members.get(&(tenant.clone(), u.clone())).copied());
        let key = (tenant.clone(), user.clone());
        let previous = inner.members.get(&key).copied();
        super::plan_member_change(ctx, actor_role, previous, new, owners, count)?;
        match new {
            Some(role) => {
                inner.members.insert(key, role);
            }
            None => {
                inner.members.remove(&key);
            }
        }
        Ok(super::MemberChange {
            previous,
            actor_role,
        })
    }

    async fn list_members(
        &self,
        ctx: &TenantContext,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let limit = page(limit)?;
        let inner = self.lock();
        if !inner.tenants.contains_key(ctx.tenant()) {
            return Err(StoreError::TenantNotFound);
        }
        let tenant = ctx.tenant().clone();
        let start = (tenant.clone(), after.cloned().unwrap_or_else(UserId::min));
        Ok(inner
            .members
            .range(start..)
            .take_while(|((t, _), _)| *t == tenant)
            .filter(|((_, u), _)| after != Some(u))
            .take(limit)
            .map(|((t, u), r)| Membership {
                tenant: t.clone(),
                user: u.clone(),
                role: *r,
            })
            .collect())
    }

    async fn memberships_of_user(
        &self,
        _service: &ServiceRole,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let limit = page(limit)?;
        let inner = self.lock();
        Ok(inner
            .members
            .iter()
            .filter(|((_, u), _)| u == user)
            .take(limit)
            .map(|((t, u), r)| Membership {
                tenant: t.clone(),
                user: u.clone(),
                role: *r,
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ServiceKeyStore for MemoryStore {
    async fn service_keys(
        &self,
        purpose: ServicePurpose,
    ) -> Result<Vec<ServiceKeyRecord>, StoreError> {
        Ok(self
            .lock()
            .service_keys
            .range((purpose, 0)..=(purpose, u32::MAX))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn insert_service_key(&self, rec: &ServiceKeyRecord) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let k = (rec.purpose, rec.key_id.get());
        if inner.service_keys.contains_key(&k) {
            return Ok(false);
        }
        inner.service_keys.insert(k, rec.clone());
        Ok(true)
    }

    async fn retire_service_key(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.service_keys.get_mut(&(purpose, key_id.get())) {
            Some(r) if r.state == ServiceKeyState::Active => {
                r.state = ServiceKeyState::Retired;
                r.kek_id.clear();
                zeroize::Zeroize::zeroize(&mut r.wrapped);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rewrap_service_key(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
        old_kek: &str,
        new_kek: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.service_keys.get_mut(&(purpose, key_id.get())) {
            Some(r) if r.state == ServiceKeyState::Active && r.kek_id == old_kek => {
                r.kek_id = new_kek.to_owned();
                r.wrapped = wrapped.to_vec();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
