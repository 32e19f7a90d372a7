//! What a third-party backend does with the testkit: a map-backed store written here,
//! implementing only `KeyStore` + `RecordStore`, passes `keys_and_records`; the same store
//! with a deliberate flaw fails with a message naming the rule it breaks.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tenantguard::store::{
    validate_record, validate_record_id, KeyState, KeyStore, RecordStore, SealedRecord, StoreError,
    TenantKeyRecord, MAX_PAGE,
};
use tenantguard::{KeyId, ServiceRole, TenantContext, TenantId};
use tenantguard_testkit::keys_and_records;

/// A flaw to build into the store.
#[derive(Clone, Copy, Default, PartialEq)]
enum Flaw {
    #[default]
    None,
    /// `replace_sealed` swaps whatever the stored value is (no compare-and-swap).
    BlindSwap,
    /// Record ids are global: `get_record` finds another tenant's record.
    GlobalIds,
}

#[derive(Default)]
struct Maps {
    tenants: BTreeMap<TenantId, BTreeMap<KeyId, TenantKeyRecord>>,
    records: BTreeMap<(TenantId, String), SealedRecord>,
}

/// Everything in two maps behind a mutex.
#[derive(Default)]
struct MapStore {
    maps: Mutex<Maps>,
    flaw: Flaw,
}

impl MapStore {
    fn with_flaw(flaw: Flaw) -> Self {
        MapStore {
            flaw,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn page(limit: usize) -> Result<usize, StoreError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::InvalidInput("page size".into()));
    }
    Ok(limit)
}

fn keys<'a>(
    maps: &'a mut Maps,
    ctx: &TenantContext,
) -> Result<&'a mut BTreeMap<KeyId, TenantKeyRecord>, StoreError> {
    maps.tenants
        .get_mut(ctx.tenant())
        .ok_or(StoreError::TenantNotFound)
}

/// A value sealed under a destroyed key could never be opened: such a write is refused
/// (another instance may have destroyed the key while the writer still held it).
fn live_key(maps: &Maps, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
    match maps.tenants.get(ctx.tenant()).and_then(|k| k.get(&key_id)) {
        Some(k) if k.state == KeyState::Destroyed => Err(StoreError::KeyDestroyed(key_id)),
        _ => Ok(()),
    }
}

fn wipe(k: &mut TenantKeyRecord) {
    k.state = KeyState::Destroyed;
    k.kek_id.clear();
    k.wrapped.clear();
}

#[async_trait::async_trait]
impl KeyStore for MapStore {
    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        let mut m = self.lock();
        if m.tenants.contains_key(ctx.tenant()) {
            return Err(StoreError::Conflict("tenant exists".into()));
        }
        m.tenants.insert(
            ctx.tenant().clone(),
            BTreeMap::from([(first.key_id, first.clone())]),
        );
        Ok(())
    }

    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        Ok(keys(&mut self.lock(), ctx)?.values().cloned().collect())
    }

    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        let mut m = self.lock();
        let ks = keys(&mut m, ctx)?;
        if ks.contains_key(&new.key_id) || !ks.values().any(|k| k.state == KeyState::Active) {
            return Err(StoreError::Conflict(
                "key exists, or tenant shredded".into(),
            ));
        }
        for k in ks.values_mut().filter(|k| k.state == KeyState::Active) {
            k.state = KeyState::DecryptOnly;
        }
        ks.insert(new.key_id, new.clone());
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
        let mut m = self.lock();
        match keys(&mut m, ctx)?.get_mut(&key_id) {
            Some(k) if k.state != KeyState::Destroyed && k.kek_id == expected_kek => {
                k.kek_id = new_kek.to_owned();
                k.wrapped = new_wrapped.to_vec();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
        let mut m = self.lock();
        let named = m
            .records
            .iter()
            .any(|((t, _), r)| t == ctx.tenant() && r.key_id == key_id);
        match keys(&mut m, ctx)?.get_mut(&key_id) {
            None => Err(StoreError::Conflict("no such key".into())),
            Some(k) if k.state == KeyState::Active => {
                Err(StoreError::Conflict("the active key".into()))
            }
            Some(k) if k.state == KeyState::DecryptOnly && named => {
                Err(StoreError::Conflict("a record still uses the key".into()))
            }
            Some(k) => {
                wipe(k);
                Ok(())
            }
        }
    }

    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError> {
        keys(&mut self.lock(), ctx)?.values_mut().for_each(wipe);
        Ok(())
    }

    async fn list_tenants(
        &self,
        _service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        let limit = page(limit)?;
        Ok(self
            .lock()
            .tenants
            .keys()
            .filter(|t| after.is_none_or(|a| *t > a))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait::async_trait]
impl RecordStore for MapStore {
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError> {
        validate_record(rec)?;
        let mut m = self.lock();
        keys(&mut m, ctx)?;
        live_key(&m, ctx, rec.key_id)?;
        let mut rec = rec.clone();
        let key = (ctx.tenant().clone(), rec.id.clone());
        if let Some(old) = m.records.get(&key) {
            rec.created_at = old.created_at;
        }
        m.records.insert(key, rec);
        Ok(())
    }

    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        validate_record_id(id)?;
        let m = self.lock();
        if self.flaw == Flaw::GlobalIds {
            return Ok(m
                .records
                .iter()
                .find(|((_, i), _)| i == id)
                .map(|(_, r)| r.clone()));
        }
        Ok(m.records
            .get(&(ctx.tenant().clone(), id.to_owned()))
            .cloned())
    }

    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError> {
        validate_record_id(id)?;
        Ok(self
            .lock()
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
        Ok(self
            .lock()
            .records
            .iter()
            .filter(|((t, id), r)| {
                t == ctx.tenant() && r.key_id == key_id && after.is_none_or(|a| id.as_str() > a)
            })
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .records
            .iter()
            .filter(|((t, _), r)| t == ctx.tenant() && r.key_id == key_id)
            .count() as u64)
    }

    // `records_page` keeps the trait's default (it refuses): the suite accepts that.

    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let blind = self.flaw == Flaw::BlindSwap;
        let mut m = self.lock();
        live_key(&m, ctx, new_key_id)?;
        match m.records.get_mut(&(ctx.tenant().clone(), id.to_owned())) {
            Some(r) if blind || r.sealed == expected => {
                r.sealed = new_sealed.to_vec();
                r.key_id = new_key_id;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[tokio::test]
async fn a_store_with_only_keys_and_records_passes_its_suite() {
    keys_and_records::run(&MapStore::default()).await;
}

#[tokio::test]
async fn a_broken_store_fails_with_the_rule_it_breaks() {
    // Through tokio's JoinError: the suite runs on a spawned task.
    let store = Arc::new(MapStore::with_flaw(Flaw::BlindSwap));
    let err = tokio::spawn(async move { keys_and_records::run(store.as_ref()).await })
        .await
        .expect_err("a store without compare-and-swap passed");
    let payload = err.into_panic();
    let msg = payload
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        msg.starts_with(
            "store conformance rule broken: \
             tenantguard_testkit::keys_and_records::replace_sealed_is_compare_and_swap\n  \
             the rule: replace_sealed swaps the sealed value and key id only while the stored \
             value is the expected one\n  what failed: "
        ),
        "{msg}"
    );
    assert!(
        msg.contains("assertion failed"),
        "the failed assertion follows: {msg}"
    );
}

#[test]
fn a_leaking_store_fails_one_check_with_its_rule() {
    // Through std::panic::catch_unwind, one check alone.
    let store = MapStore::with_flaw(Flaw::GlobalIds);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(keys_and_records::cross_tenant_access_is_refused_and_changes_nothing(&store))
    }))
    .expect_err("a store with global record ids passed");
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("keys_and_records::cross_tenant_access_is_refused_and_changes_nothing"),
        "{msg}"
    );
    assert!(msg.contains("ids are per tenant"), "{msg}");
    // A check the flaw does not touch still passes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(keys_and_records::put_get_replace_delete(
        &MapStore::with_flaw(Flaw::GlobalIds),
    ));
}

#[tokio::test]
async fn a_guard_runs_on_the_store_that_passed() {
    // What the suite is for: the same store, given to a guard as its key and record store
    // (the audit log and service keyring from a built-in store), seals, stores and opens.
    use tenantguard::{Guard, LocalKeyProvider, MemoryStore};
    let journal = Arc::new(MemoryStore::new());
    let (guard, service) = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .key_record_store_arc(Arc::new(MapStore::default()))
        .audit_store(journal.clone())
        .service_key_store(journal)
        .build_with_service()
        .unwrap();
    let ctx = TenantContext::service(TenantId::new("acme").unwrap(), &service);
    guard.keys().create_tenant(&ctx).await.unwrap();
    guard
        .records()
        .put(&ctx, "row-1", "api_key", None, b"sk-1")
        .await
        .unwrap();
    guard.keys().rotate(&ctx).await.unwrap();
    // This store leaves `records_page` to its default: re-encryption (which reads what the
    // sealed bytes say) refuses instead of guessing, and the record stays readable.
    let err = guard
        .keys()
        .reencrypt(&ctx, tenantguard::KeyId::FIRST, 100, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("records_page"), "{err}");
    let (_, plain) = guard.records().open_record(&ctx, "row-1").await.unwrap();
    assert_eq!(plain.expose(), b"sk-1");
}
