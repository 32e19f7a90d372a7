//! Store calls in `tracing` spans: the guard wraps its store in [`TracedStore`], so every call
//! of every backend (the built-in ones and a host's own) opens a `store` span at DEBUG with
//! the operation's name, the tenant and, where the call names one, the key version. No other
//! argument is recorded: record ids, token and refresh hashes, sealed bytes and audit
//! details stay out of every field. Without a subscriber (the default) a span costs one
//! atomic load (benches/BENCHMARKS.md).
//!
//! Every trait method is delegated explicitly, those with a default body too: a method left
//! to its default here would silently answer "unsupported" for a store that implements it.
//! A method added to a store trait needs its line here (the `delegates_every_default`
//! test catches the defaulted ones that exist today).

use std::sync::Arc;

use tracing::Instrument;

use super::{
    MemberChange, RefreshRecord, RetentionWindow, SealedRecord, SessionRecord, StoreError,
    TenantKeyRecord, TokenRecord,
};
use crate::audit::{AppendedEntry, AuditDraft, AuditEntry};
use crate::crypto::KeyId;
use crate::kms::{ServiceKeyRecord, ServiceKeyring, ServicePurpose};
use crate::tenant::{Membership, Role, ServiceRole, TenantContext, TenantId, UserId};

/// A store whose calls run in `store` spans (see the module docs).
pub(crate) struct TracedStore<T: ?Sized> {
    inner: Arc<T>,
}

impl<T: ?Sized> TracedStore<T> {
    pub(crate) fn new(inner: Arc<T>) -> Self {
        TracedStore { inner }
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::KeyStore> super::KeyStore for TracedStore<T> {
    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        self.inner
            .create_tenant(ctx, first)
            .instrument(tracing::debug_span!("store", op = "create_tenant", tenant = %ctx.tenant()))
            .await
    }
    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        self.inner
            .tenant_keys(ctx)
            .instrument(tracing::debug_span!("store", op = "tenant_keys", tenant = %ctx.tenant()))
            .await
    }
    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        self.inner
            .rotate_key(ctx, new)
            .instrument(tracing::debug_span!("store", op = "rotate_key", tenant = %ctx.tenant()))
            .await
    }
    async fn rewrap_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        expected_kek: &str,
        new_kek: &str,
        new_wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.rewrap_key(ctx, key_id, expected_kek, new_kek, new_wrapped)
            .instrument(tracing::debug_span!("store", op = "rewrap_key", tenant = %ctx.tenant(), key_id = %key_id))
            .await
    }
    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
        self.inner.destroy_key(ctx, key_id)
            .instrument(tracing::debug_span!("store", op = "destroy_key", tenant = %ctx.tenant(), key_id = %key_id))
            .await
    }
    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError> {
        self.inner
            .destroy_all_keys(ctx)
            .instrument(
                tracing::debug_span!("store", op = "destroy_all_keys", tenant = %ctx.tenant()),
            )
            .await
    }
    fn event_feed(&self) -> Option<std::sync::Arc<dyn crate::events::EventFeed>> {
        self.inner.event_feed()
    }
    async fn list_tenants(
        &self,
        service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        self.inner
            .list_tenants(service, after, limit)
            .instrument(tracing::debug_span!("store", op = "list_tenants"))
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::RecordStore> super::RecordStore for TracedStore<T> {
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError> {
        self.inner
            .put_record(ctx, rec)
            .instrument(tracing::debug_span!("store", op = "put_record", tenant = %ctx.tenant()))
            .await
    }
    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        self.inner
            .get_record(ctx, id)
            .instrument(tracing::debug_span!("store", op = "get_record", tenant = %ctx.tenant()))
            .await
    }
    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError> {
        self.inner
            .delete_record(ctx, id)
            .instrument(tracing::debug_span!("store", op = "delete_record", tenant = %ctx.tenant()))
            .await
    }
    async fn records_by_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.inner.records_by_key(ctx, key_id, after, limit)
            .instrument(tracing::debug_span!("store", op = "records_by_key", tenant = %ctx.tenant(), key_id = %key_id))
            .await
    }
    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError> {
        self.inner.count_by_key(ctx, key_id)
            .instrument(tracing::debug_span!("store", op = "count_by_key", tenant = %ctx.tenant(), key_id = %key_id))
            .await
    }
    async fn records_page(
        &self,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.inner
            .records_page(ctx, after, limit)
            .instrument(tracing::debug_span!("store", op = "records_page", tenant = %ctx.tenant()))
            .await
    }
    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner
            .replace_sealed(ctx, id, expected, new_key_id, new_sealed)
            .instrument(
                tracing::debug_span!("store", op = "replace_sealed", tenant = %ctx.tenant()),
            )
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::TokenStore> super::TokenStore for TracedStore<T> {
    async fn insert_token(&self, ctx: &TenantContext, rec: &TokenRecord) -> Result<(), StoreError> {
        self.inner
            .insert_token(ctx, rec)
            .instrument(tracing::debug_span!("store", op = "insert_token", tenant = %ctx.tenant()))
            .await
    }
    async fn token_by_hash(
        &self,
        service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.inner
            .token_by_hash(service, hash)
            .instrument(tracing::debug_span!("store", op = "token_by_hash"))
            .await
    }
    async fn list_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner
            .list_tokens(ctx, agent, after, limit)
            .instrument(tracing::debug_span!("store", op = "list_tokens", tenant = %ctx.tenant()))
            .await
    }
    async fn revoke_token(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .revoke_token(ctx, id, at)
            .instrument(tracing::debug_span!("store", op = "revoke_token", tenant = %ctx.tenant()))
            .await
    }
    async fn revoke_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        self.inner
            .revoke_tokens(ctx, agent, at)
            .instrument(tracing::debug_span!("store", op = "revoke_tokens", tenant = %ctx.tenant()))
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::AuditStore> super::AuditStore for TracedStore<T> {
    async fn append_audit(
        &self,
        ctx: &TenantContext,
        draft: &AuditDraft,
    ) -> Result<AuditEntry, StoreError> {
        self.inner
            .append_audit(ctx, draft)
            .instrument(tracing::debug_span!("store", op = "append_audit", tenant = %ctx.tenant()))
            .await
    }
    async fn append_audit_owned(
        &self,
        ctx: &TenantContext,
        draft: AuditDraft,
    ) -> Result<AppendedEntry, StoreError> {
        self.inner
            .append_audit_owned(ctx, draft)
            .instrument(
                tracing::debug_span!("store", op = "append_audit_owned", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn audit_entries(
        &self,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner
            .audit_entries(ctx, after, limit)
            .instrument(tracing::debug_span!("store", op = "audit_entries", tenant = %ctx.tenant()))
            .await
    }

    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        seqs: &[u64],
    ) -> Result<u64, StoreError> {
        self.inner
            .erase_audit_personal(ctx, seqs)
            .instrument(
                tracing::debug_span!("store", op = "erase_audit_personal", tenant = %ctx.tenant()),
            )
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::RetentionStore> super::RetentionStore for TracedStore<T> {
    async fn set_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
        window: RetentionWindow,
    ) -> Result<(), StoreError> {
        self.inner
            .set_retention_rule(ctx, class, window)
            .instrument(
                tracing::debug_span!("store", op = "set_retention_rule", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn clear_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .clear_retention_rule(ctx, class)
            .instrument(
                tracing::debug_span!("store", op = "clear_retention_rule", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn retention_rules(
        &self,
        ctx: &TenantContext,
    ) -> Result<Vec<(String, RetentionWindow)>, StoreError> {
        self.inner
            .retention_rules(ctx)
            .instrument(
                tracing::debug_span!("store", op = "retention_rules", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn record_classes(&self, ctx: &TenantContext) -> Result<Vec<String>, StoreError> {
        self.inner
            .record_classes(ctx)
            .instrument(
                tracing::debug_span!("store", op = "record_classes", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn delete_expired(
        &self,
        ctx: &TenantContext,
        class: &str,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner
            .delete_expired(ctx, class, cutoff, limit)
            .instrument(
                tracing::debug_span!("store", op = "delete_expired", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn delete_by_subject(
        &self,
        ctx: &TenantContext,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner
            .delete_by_subject(ctx, subject, limit)
            .instrument(
                tracing::debug_span!("store", op = "delete_by_subject", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn delete_all_records(
        &self,
        ctx: &TenantContext,
        limit: usize,
    ) -> Result<u64, StoreError> {
        self.inner
            .delete_all_records(ctx, limit)
            .instrument(
                tracing::debug_span!("store", op = "delete_all_records", tenant = %ctx.tenant()),
            )
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::SessionStore> super::SessionStore for TracedStore<T> {
    async fn insert_session(
        &self,
        ctx: &TenantContext,
        session: &SessionRecord,
        refresh: &RefreshRecord,
    ) -> Result<(), StoreError> {
        self.inner
            .insert_session(ctx, session, refresh)
            .instrument(
                tracing::debug_span!("store", op = "insert_session", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn refresh_by_hash(
        &self,
        service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.inner
            .refresh_by_hash(service, hash)
            .instrument(tracing::debug_span!("store", op = "refresh_by_hash"))
            .await
    }
    async fn get_session(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.inner
            .get_session(ctx, id)
            .instrument(tracing::debug_span!("store", op = "get_session", tenant = %ctx.tenant()))
            .await
    }
    async fn rotate_refresh(
        &self,
        ctx: &TenantContext,
        old: &[u8; 32],
        new: &RefreshRecord,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .rotate_refresh(ctx, old, new, at)
            .instrument(
                tracing::debug_span!("store", op = "rotate_refresh", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn list_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner
            .list_sessions(ctx, user, limit)
            .instrument(tracing::debug_span!("store", op = "list_sessions", tenant = %ctx.tenant()))
            .await
    }
    async fn list_tenant_sessions(
        &self,
        ctx: &TenantContext,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner
            .list_tenant_sessions(ctx, after, limit)
            .instrument(
                tracing::debug_span!("store", op = "list_tenant_sessions", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn revoke_session(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .revoke_session(ctx, id, at)
            .instrument(
                tracing::debug_span!("store", op = "revoke_session", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn revoke_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        self.inner
            .revoke_sessions(ctx, user, at)
            .instrument(
                tracing::debug_span!("store", op = "revoke_sessions", tenant = %ctx.tenant()),
            )
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + super::MembershipStore> super::MembershipStore for TracedStore<T> {
    async fn member_role(
        &self,
        ctx: &TenantContext,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        self.inner
            .member_role(ctx, user)
            .instrument(tracing::debug_span!("store", op = "member_role", tenant = %ctx.tenant()))
            .await
    }
    async fn apply_member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        at: i64,
    ) -> Result<MemberChange, crate::Error> {
        self.inner
            .apply_member_change(ctx, user, new, at)
            .instrument(
                tracing::debug_span!("store", op = "apply_member_change", tenant = %ctx.tenant()),
            )
            .await
    }
    async fn list_members(
        &self,
        ctx: &TenantContext,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        self.inner
            .list_members(ctx, after, limit)
            .instrument(tracing::debug_span!("store", op = "list_members", tenant = %ctx.tenant()))
            .await
    }
    async fn memberships_of_user(
        &self,
        service: &ServiceRole,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        self.inner
            .memberships_of_user(service, user, limit)
            .instrument(tracing::debug_span!("store", op = "memberships_of_user"))
            .await
    }
}

#[async_trait::async_trait]
impl<T: ?Sized + crate::kms::ServiceKeyStore> crate::kms::ServiceKeyStore for TracedStore<T> {
    async fn service_keys(
        &self,
        purpose: ServicePurpose,
    ) -> Result<Vec<ServiceKeyRecord>, StoreError> {
        self.inner
            .service_keys(purpose)
            .instrument(tracing::debug_span!("store", op = "service_keys", purpose = ?purpose))
            .await
    }
    async fn insert_service_key(&self, rec: &ServiceKeyRecord) -> Result<bool, StoreError> {
        self.inner
            .insert_service_key(rec)
            .instrument(tracing::debug_span!("store", op = "insert_service_key"))
            .await
    }
    async fn retire_service_key(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
    ) -> Result<bool, StoreError> {
        self.inner.retire_service_key(purpose, key_id)
            .instrument(tracing::debug_span!("store", op = "retire_service_key", purpose = ?purpose, key_id = %key_id))
            .await
    }
    async fn rewrap_service_key(
        &self,
        purpose: ServicePurpose,
        key_id: KeyId,
        old_kek: &str,
        new_kek: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.rewrap_service_key(purpose, key_id, old_kek, new_kek, wrapped)
            .instrument(tracing::debug_span!("store", op = "rewrap_service_key", purpose = ?purpose, key_id = %key_id, kek = new_kek))
            .await
    }
    fn attach_keyring(&self, ring: &Arc<ServiceKeyring>) {
        self.inner.attach_keyring(ring)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;
    use crate::store::{MembershipStore, RecordStore};
    use crate::tenant::ServiceRole;
    use crate::tokens::{Action, TokenSpec};
    use crate::{Credential, Guard, LocalKeyProvider, MemoryStore};

    /// Every span (name and fields) and event field a subscriber is shown.
    #[derive(Default)]
    struct Seen {
        spans: Vec<(String, Vec<(String, String)>)>,
        events: Vec<(String, String)>,
    }

    struct Capture {
        seen: Arc<Mutex<Seen>>,
        next: AtomicU64,
    }

    struct Fields<'a>(&'a mut Vec<(String, String)>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut fields = Vec::new();
            span.record(&mut Fields(&mut fields));
            let mut seen = self.seen.lock().unwrap();
            seen.spans.push((span.metadata().name().to_owned(), fields));
            Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            let mut fields = Vec::new();
            values.record(&mut Fields(&mut fields));
            self.seen.lock().unwrap().events.extend(fields);
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Vec::new();
            event.record(&mut Fields(&mut fields));
            self.seen.lock().unwrap().events.extend(fields);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    const PLAINTEXT: &[u8] = b"SENTINEL-PLAINTEXT-4be1";
    const PASSWORD: &str = "SENTINEL-PASSWORD-77c0";
    const SUBJECT: &str = "sentinel-subject@example.com";
    const RECORD_ID: &str = "sentinel-record-id";

    /// Seals, opens, stores a credential, issues and verifies a token, rotates,
    /// re-encrypts, sweeps, erases a subject and shreds, under a capturing subscriber.
    /// Returns what it saw and the secrets of the run (including the token and the
    /// sealed value, which only exist at run time).
    fn run_everything() -> (Seen, Vec<String>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let capture = Capture {
            seen: seen.clone(),
            next: AtomicU64::new(0),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let secrets = tracing::subscriber::with_default(capture, || {
            rt.block_on(async {
                let (guard, service): (Guard, ServiceRole) = Guard::builder()
                    .key_provider(LocalKeyProvider::ephemeral())
                    .store(MemoryStore::new())
                    .build_with_service()
                    .unwrap();
                let acme = TenantContext::service(TenantId::new("acme").unwrap(), &service);
                guard.keys().create_tenant(&acme).await.unwrap();
                let sealed = guard
                    .records()
                    .seal(&acme, "ctx/1", PLAINTEXT)
                    .await
                    .unwrap();
                let plain = guard.records().open(&acme, "ctx/1", &sealed).await.unwrap();
                assert_eq!(plain.expose(), PLAINTEXT);
                guard
                    .records()
                    .put_credential(&acme, RECORD_ID, &Credential::password(PASSWORD))
                    .await
                    .unwrap();
                guard
                    .records()
                    .open_credential(&acme, RECORD_ID)
                    .await
                    .unwrap();
                let issued = guard
                    .tokens()
                    .create(
                        &acme,
                        TokenSpec::read_only(UserId::new("bot").unwrap(), "ci"),
                    )
                    .await
                    .unwrap();
                let token = issued.secret.expose().to_owned();
                guard
                    .tokens()
                    .verify(&token, "runs/1", Action::Read)
                    .await
                    .unwrap();
                guard.keys().rotate(&acme).await.unwrap();
                guard
                    .keys()
                    .reencrypt_all(&acme, 100, |_| {})
                    .await
                    .unwrap();
                guard.retention().sweep(&acme, 100, |_| {}).await.unwrap();
                guard
                    .retention()
                    .erase_subject(&acme, SUBJECT, 100)
                    .await
                    .unwrap();
                guard.keys().shred(&acme).await.unwrap();
                vec![token, sealed.to_text()]
            })
        });
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        (seen, secrets)
    }

    #[test]
    fn spans_cover_kms_store_and_jobs_and_carry_no_secret() {
        let (seen, run_secrets) = run_everything();
        let ops = |name: &str, key: &str| -> BTreeSet<String> {
            seen.spans
                .iter()
                .filter(|(n, _)| n == name)
                .flat_map(|(_, f)| f.iter().filter(|(k, _)| k == key))
                .map(|(_, v)| v.trim_matches('"').to_owned())
                .collect()
        };
        let store_ops = ops("store", "op");
        for op in [
            "create_tenant",
            "tenant_keys",
            "put_record",
            "get_record",
            "rotate_key",
        ] {
            assert!(
                store_ops.contains(op),
                "no store span for {op}: {store_ops:?}"
            );
        }
        let kms_ops = ops("kms", "op");
        for op in ["wrap", "unwrap"] {
            assert!(kms_ops.contains(op), "no kms span for {op}: {kms_ops:?}");
        }
        let jobs = ops("job", "job");
        for job in [
            "rotate_key",
            "reencrypt_all",
            "sweep",
            "erase_subject",
            "shred_tenant",
        ] {
            assert!(jobs.contains(job), "no job span for {job}: {jobs:?}");
        }
        // Only reviewed fields, each naming tenancy or a key version, never a value.
        let allowed = [
            "op", "tenant", "key_id", "provider", "kek", "job", "from", "purpose",
        ];
        let mut values = Vec::new();
        for (name, fields) in &seen.spans {
            for (k, v) in fields {
                assert!(allowed.contains(&k.as_str()), "span {name} has field {k}");
                // The service keyring loads its keys under reserved `_tg-service.*` names.
                if k == "tenant" && !v.starts_with("_tg-service.") {
                    assert_eq!(v, "acme");
                }
                values.push(v.clone());
            }
        }
        values.extend(seen.events.iter().map(|(_, v)| v.clone()));
        let mut secrets: Vec<String> = vec![
            String::from_utf8(PLAINTEXT.to_vec()).unwrap(),
            PASSWORD.to_owned(),
            SUBJECT.to_owned(),
            RECORD_ID.to_owned(),
        ];
        secrets.extend(run_secrets);
        for v in &values {
            for s in &secrets {
                assert!(!v.contains(s.as_str()), "a span field holds a secret: {v}");
            }
        }
    }

    #[tokio::test]
    async fn delegates_every_default() {
        // Methods with a default body answer "unsupported" unless the wrapper delegates:
        // through it, the memory store's own implementations must answer.
        let store = TracedStore::new(Arc::new(MemoryStore::new()));
        let service = ServiceRole::for_guard(0);
        let ctx = TenantContext::service(TenantId::new("acme").unwrap(), &service);
        let user = UserId::new("alice").unwrap();
        // The defaults' own answers (members.rs, RecordStore::records_page).
        let default =
            |e: String| e.contains("keeps no memberships") || e.contains("does not implement");
        let answered = |r: Result<(), String>| r.map_or_else(|e| !default(e), |_| true);
        let s = |e: StoreError| e.to_string();
        assert!(answered(
            store.member_role(&ctx, &user).await.map(drop).map_err(s)
        ));
        assert!(answered(
            store
                .list_members(&ctx, None, 10)
                .await
                .map(drop)
                .map_err(s)
        ));
        assert!(answered(
            store
                .memberships_of_user(&service, &user, 10)
                .await
                .map(drop)
                .map_err(s)
        ));
        assert!(answered(
            store
                .records_page(&ctx, None, 10)
                .await
                .map(drop)
                .map_err(s)
        ));
        assert!(answered(
            store
                .apply_member_change(&ctx, &user, Some(Role::Admin), 0)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        ));
        // And the check itself can fail: the bare defaults are recognised.
        struct Bare;
        #[async_trait::async_trait]
        impl MembershipStore for Bare {}
        assert!(!answered(
            Bare.member_role(&ctx, &user).await.map(drop).map_err(s)
        ));
    }
}
