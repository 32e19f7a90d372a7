//! Rolling out format v2: v1 values keep opening, `seal_format` chooses what new writes
//! use, re-encryption moves v1 to v2, retirement and re-encryption read the sealed bytes
//! (not the `key_id` column a database writer can edit), and once a tenant holds no v1
//! value, v1 can be switched off so its ambiguous record context is no downgrade path.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::sync::Arc;

use tenantguard::store::{RecordStore, Store};
use tenantguard::{
    ErrorKind, Guard, KeyId, LocalKeyProvider, MemoryStore, SealFormat, TenantContext, TenantId,
};

fn service(t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), &tg_cap::cap())
}

fn guard(store: &Arc<MemoryStore>, kms: &Arc<LocalKeyProvider>, format: SealFormat) -> Guard {
    Guard::builder()
        .key_provider_arc(kms.clone())
        .store_arc(store.clone() as Arc<dyn Store>)
        .policy_store(store.clone())
        .seal_format(format)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

fn kind<T>(r: tenantguard::Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

#[tokio::test]
async fn v1_to_v2_rollout_then_v1_refused() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    let old = guard(&store, &kms, SealFormat::V1);
    let t = service("acme");
    old.keys().create_tenant(&t).await.unwrap();
    for i in 0..7 {
        old.records()
            .put(
                &t,
                &format!("r{i}"),
                "note",
                None,
                format!("v{i}").as_bytes(),
            )
            .await
            .unwrap();
    }
    let outside = old
        .records()
        .seal(&t, "col", b"kept by the app")
        .await
        .unwrap();
    assert_eq!(outside.version(), 1);
    assert!(outside.to_text().starts_with("tg1:1:"));

    // The new release writes v2 and still reads v1.
    let new = guard(&store, &kms, SealFormat::V2);
    assert_eq!(new.seal_format(), SealFormat::V2);
    assert_eq!(
        new.records()
            .open(&t, "col", &outside)
            .await
            .unwrap()
            .expose(),
        b"kept by the app"
    );
    new.records()
        .put(&t, "r7", "note", None, b"v7")
        .await
        .unwrap();
    let census = new.keys().census(&t).await.unwrap();
    assert_eq!((census.records, census.v1, census.v2), (8, 7, 1));

    // v1 cannot be switched off while stored v1 values remain.
    assert_eq!(
        kind(new.records().set_v1_refused(&t, true).await),
        ErrorKind::Conflict
    );
    assert!(!new.records().v1_refused(&t).await.unwrap());

    // Re-encryption from the active key moves its v1 values to v2, resumably.
    let r = new
        .keys()
        .reencrypt(&t, KeyId::FIRST, 3, |_| {})
        .await
        .unwrap();
    assert_eq!((r.moved, r.remaining, r.failed.len()), (7, 0, 0));
    let again = new
        .keys()
        .reencrypt(&t, KeyId::FIRST, 3, |_| {})
        .await
        .unwrap();
    assert_eq!((again.moved, again.remaining), (0, 0));
    for i in 0..8 {
        let (_, p) = new
            .records()
            .open_record(&t, &format!("r{i}"))
            .await
            .unwrap();
        assert_eq!(p.expose(), format!("v{i}").as_bytes());
    }
    // The app moves what it keeps outside the store.
    let outside2 = new.records().reseal(&t, "col", &outside).await.unwrap();
    assert_eq!(outside2.version(), 2);
    assert_eq!(new.keys().census(&t).await.unwrap().v1, 0);

    new.records().set_v1_refused(&t, true).await.unwrap();
    assert!(new.records().v1_refused(&t).await.unwrap());
    assert_eq!(
        kind(new.records().open(&t, "col", &outside).await),
        ErrorKind::UnsupportedVersion
    );
    assert_eq!(
        new.records()
            .open(&t, "col", &outside2)
            .await
            .unwrap()
            .expose(),
        b"kept by the app"
    );
    // Another guard (another instance) over the same store sees the setting.
    let other = guard(&store, &kms, SealFormat::V2);
    assert_eq!(
        kind(other.records().open(&t, "col", &outside).await),
        ErrorKind::UnsupportedVersion
    );
    // Another tenant is unaffected.
    let u = service("globex");
    old.keys().create_tenant(&u).await.unwrap();
    let uv = old.records().seal(&u, "col", b"u").await.unwrap();
    assert_eq!(
        new.records().open(&u, "col", &uv).await.unwrap().expose(),
        b"u"
    );
    // Switching back on is allowed (and audited like switching off).
    new.records().set_v1_refused(&t, false).await.unwrap();
    assert!(new.records().open(&t, "col", &outside).await.is_ok());
}

#[tokio::test]
async fn refuse_v1_for_the_whole_guard() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    let old = guard(&store, &kms, SealFormat::V1);
    let t = service("acme");
    old.keys().create_tenant(&t).await.unwrap();
    let v1 = old.records().seal(&t, "c", b"x").await.unwrap();
    let strict = Guard::builder()
        .key_provider_arc(kms.clone())
        .store_arc(store.clone() as Arc<dyn Store>)
        .refuse_v1(true)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    assert!(strict.records().v1_refused(&t).await.unwrap());
    assert_eq!(
        kind(strict.records().open(&t, "c", &v1).await),
        ErrorKind::UnsupportedVersion
    );
}

/// Attack: a database writer moves a v1 record's bytes to a row whose class and id spell
/// the same v1 context (`record:a:b:c`). v1 cannot tell; v2 can; refusing v1 closes it.
#[tokio::test]
async fn v1_record_context_ambiguity_is_closed() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    for format in [SealFormat::V1, SealFormat::V2] {
        let g = guard(&store, &kms, format);
        // Memory-store ids are unique across tenants: each format gets its own.
        let (t, p) = if format == SealFormat::V1 {
            (service("acme"), "")
        } else {
            (service("beta"), "2")
        };
        g.keys().create_tenant(&t).await.unwrap();
        g.records()
            .put(&t, &format!("b:c{p}"), "a", None, b"secret of row b:c")
            .await
            .unwrap();
        let mut moved = store
            .get_record(&t, &format!("b:c{p}"))
            .await
            .unwrap()
            .unwrap();
        moved.id = format!("c{p}");
        moved.class = "a:b".into();
        store.put_record(&t, &moved).await.unwrap();
        let r = g.records().open_record(&t, &format!("c{p}")).await;
        if format == SealFormat::V1 {
            assert_eq!(
                r.unwrap().1.expose(),
                b"secret of row b:c",
                "v1 is ambiguous"
            );
        } else {
            assert_eq!(kind(r), ErrorKind::Integrity);
        }
    }
    // Once v1 is refused for the tenant, the moved v1 bytes no longer open.
    let g = guard(&store, &kms, SealFormat::V2);
    let t = service("acme");
    store.delete_record(&t, "c").await.unwrap();
    let r = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    assert_eq!(r.moved, 1);
    let v1_copy = {
        let old = guard(&store, &kms, SealFormat::V1);
        old.records().put(&t, "tmp", "a", None, b"x").await.unwrap();
        let mut rec = store.get_record(&t, "tmp").await.unwrap().unwrap();
        store.delete_record(&t, "tmp").await.unwrap();
        rec.id = "c".into();
        rec.class = "a:b".into();
        rec
    };
    g.records().set_v1_refused(&t, true).await.unwrap();
    // The database writer plants a v1 value after the switch: it is refused.
    store.put_record(&t, &v1_copy).await.unwrap();
    assert_eq!(
        kind(g.records().open_record(&t, "c").await),
        ErrorKind::UnsupportedVersion
    );
}

/// Attack: a database writer edits the `key_id` column. Re-encryption still finds the
/// record by its sealed bytes and retirement refuses while the bytes use the key.
#[tokio::test]
async fn retirement_counts_sealed_bytes_not_the_column() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    let g = guard(&store, &kms, SealFormat::V2);
    let t = service("acme");
    g.keys().create_tenant(&t).await.unwrap();
    for i in 0..3 {
        g.records()
            .put(&t, &format!("r{i}"), "note", None, b"x")
            .await
            .unwrap();
    }
    let k2 = g.keys().rotate(&t).await.unwrap();
    // The column now lies: it says key 2, the bytes say key 1.
    let mut rec = store.get_record(&t, "r1").await.unwrap().unwrap();
    rec.key_id = k2;
    store.put_record(&t, &rec).await.unwrap();
    assert_eq!(store.count_by_key(&t, KeyId::FIRST).await.unwrap(), 2);
    assert_eq!(g.keys().census(&t).await.unwrap().count(KeyId::FIRST), 3);
    // Retiring now would destroy a key still in use: refused.
    assert_eq!(
        kind(g.keys().retire(&t, KeyId::FIRST).await),
        ErrorKind::Conflict
    );
    let r = g
        .keys()
        .reencrypt(&t, KeyId::FIRST, 2, |_| {})
        .await
        .unwrap();
    assert_eq!((r.moved, r.remaining), (3, 0));
    g.keys().retire(&t, KeyId::FIRST).await.unwrap();
    for i in 0..3 {
        assert_eq!(
            g.records()
                .open_record(&t, &format!("r{i}"))
                .await
                .unwrap()
                .1
                .expose(),
            b"x"
        );
    }
}

#[tokio::test]
async fn set_v1_refused_needs_a_policy_store_and_the_owner() {
    let g = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let t = service("acme");
    g.keys().create_tenant(&t).await.unwrap();
    assert_eq!(
        kind(g.records().set_v1_refused(&t, true).await),
        ErrorKind::Config
    );
    assert!(!g.records().v1_refused(&t).await.unwrap());
}

/// Data-loss attack by configuration: a guard still set up for the v1 rollout keeps
/// writing after the tenant switched v1 off. Its values must come out in v2 (seal, stored
/// records, reseal, re-encryption), or nothing could open them any more.
#[tokio::test]
async fn a_v1_writer_after_the_switch_writes_v2() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    let old = guard(&store, &kms, SealFormat::V1);
    let new = guard(&store, &kms, SealFormat::V2);
    let t = service("acme");
    old.keys().create_tenant(&t).await.unwrap();
    let before = old.records().seal(&t, "col", b"before").await.unwrap();
    assert_eq!(before.version(), 1);
    let before = new.records().reseal(&t, "col", &before).await.unwrap();
    new.records().set_v1_refused(&t, true).await.unwrap();

    let v = old.records().seal(&t, "col", b"after").await.unwrap();
    assert_eq!(v.version(), 2);
    assert_eq!(
        new.records().open(&t, "col", &v).await.unwrap().expose(),
        b"after"
    );
    old.records()
        .put(&t, "r", "note", None, b"rec")
        .await
        .unwrap();
    assert_eq!(
        new.records().open_record(&t, "r").await.unwrap().1.expose(),
        b"rec"
    );
    // reseal keeps a v2 value in v2 (it would have "moved" it to v1 before).
    assert_eq!(
        old.records()
            .reseal(&t, "col", &before)
            .await
            .unwrap()
            .version(),
        2
    );
    let r = old
        .keys()
        .reencrypt(&t, KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    assert_eq!((r.moved, r.remaining, r.failed.len()), (0, 0, 0));
    let census = new.keys().census(&t).await.unwrap();
    assert_eq!((census.v1, census.v2), (0, 1));
    // Switched back on, the rollout guard writes v1 again.
    new.records().set_v1_refused(&t, false).await.unwrap();
    assert_eq!(
        old.records().seal(&t, "col", b"x").await.unwrap().version(),
        1
    );
}

#[test]
fn refuse_v1_and_a_v1_seal_format_do_not_build() {
    let r = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .seal_format(SealFormat::V1)
        .refuse_v1(true)
        .build();
    assert_eq!(kind(r), ErrorKind::Config);
}

/// A policy store that lets a v1 writer store a record between the switch's count of v1
/// records and its write of the setting: the race of a second instance still rolling out.
struct RacingPolicies {
    inner: Arc<MemoryStore>,
    writer: std::sync::Mutex<Option<Guard>>,
    /// A database writer's v1 record, stored at the same moment.
    planted: std::sync::Mutex<Option<tenantguard::store::SealedRecord>>,
}

#[async_trait::async_trait]
impl tenantguard::store::PolicyStore for RacingPolicies {
    async fn get_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
    ) -> Result<Option<tenantguard::store::PolicyDocument>, tenantguard::store::StoreError> {
        self.inner.get_policy(ctx, kind).await
    }

    async fn put_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
        body: &str,
        updated_at: i64,
    ) -> Result<u64, tenantguard::store::StoreError> {
        let writer = self.writer.lock().unwrap().take();
        if let Some(w) = writer {
            w.records()
                .put(ctx, "late", "note", None, b"late v1")
                .await
                .unwrap();
        }
        let planted = self.planted.lock().unwrap().take();
        if let Some(rec) = planted {
            self.inner.put_record(ctx, &rec).await.unwrap();
        }
        self.inner.put_policy(ctx, kind, body, updated_at).await
    }
}

/// The switch counts again after writing the setting: a v1 record that slipped in is
/// found, the switch is undone (`Conflict`), and the record still opens.
#[tokio::test]
async fn a_v1_record_written_during_the_switch_undoes_it() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    let old = guard(&store, &kms, SealFormat::V1);
    let policies = Arc::new(RacingPolicies {
        inner: store.clone(),
        writer: std::sync::Mutex::new(Some(old.clone())),
        planted: std::sync::Mutex::new(None),
    });
    let new = Guard::builder()
        .key_provider_arc(kms.clone())
        .store_arc(store.clone() as Arc<dyn Store>)
        .policy_store(policies)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let t = service("acme");
    new.keys().create_tenant(&t).await.unwrap();
    assert_eq!(
        kind(new.records().set_v1_refused(&t, true).await),
        ErrorKind::Conflict
    );
    assert!(!new.records().v1_refused(&t).await.unwrap());
    assert_eq!(new.keys().census(&t).await.unwrap().v1, 1);
    assert_eq!(
        new.records()
            .open_record(&t, "late")
            .await
            .unwrap()
            .1
            .expose(),
        b"late v1"
    );
    // After re-encryption the switch goes through.
    new.keys()
        .reencrypt(&t, KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    new.records().set_v1_refused(&t, true).await.unwrap();
    assert!(new.records().v1_refused(&t).await.unwrap());
}

/// Attack: while v1 is already refused, a database writer plants a v1 record just as the
/// owner switches v1 off again. The re-count must not undo the switch (which would hand
/// the writer the downgrade path back): no legitimate writer writes v1 for this tenant.
#[tokio::test]
async fn a_planted_v1_record_does_not_undo_an_existing_switch() {
    let store = Arc::new(MemoryStore::new());
    let kms = Arc::new(LocalKeyProvider::ephemeral());
    let old = guard(&store, &kms, SealFormat::V1);
    let t = service("acme");
    old.keys().create_tenant(&t).await.unwrap();
    old.records()
        .put(&t, "tmp", "note", None, b"x")
        .await
        .unwrap();
    let v1_rec = store.get_record(&t, "tmp").await.unwrap().unwrap();
    store.delete_record(&t, "tmp").await.unwrap();
    let policies = Arc::new(RacingPolicies {
        inner: store.clone(),
        writer: std::sync::Mutex::new(None),
        planted: std::sync::Mutex::new(None),
    });
    let g = Guard::builder()
        .key_provider_arc(kms.clone())
        .store_arc(store.clone() as Arc<dyn Store>)
        .policy_store(policies.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    g.records().set_v1_refused(&t, true).await.unwrap();
    *policies.planted.lock().unwrap() = Some(v1_rec);
    g.records().set_v1_refused(&t, true).await.unwrap();
    assert!(g.records().v1_refused(&t).await.unwrap());
    assert_eq!(
        kind(g.records().open_record(&t, "tmp").await),
        ErrorKind::UnsupportedVersion
    );
}
