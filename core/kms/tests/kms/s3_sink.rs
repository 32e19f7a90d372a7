//! The S3 checkpoint sink against moto's S3-compatible server on loopback (the same moto
//! process as the AWS KMS tests). Needs TG_KMS_AWS_ENDPOINT (set by `scripts/kms.sh start`).
//!
//! What moto enforces and what it does not (checked against moto 5.2): it stores Object
//! Lock retention (mode, retain-until) and refuses to delete a locked object *version*
//! (`AccessDenied`), and honours `If-None-Match: *`; a plain DELETE only adds a delete
//! marker and a plain PUT adds a version, as on AWS. It does not refuse shortening or
//! removing a COMPLIANCE retention (AWS does), so no test here claims that; and it serves
//! GetObjectRetention as a plain GET, so the lock is read back with HEAD.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use crate::tg_cap;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectLockMode;
use secrecy::SecretString;
use tenantguard::audit::TransparencyConfig;
use tenantguard::audit::{open_checkpoint, AuditAction, AuditEvent, CheckpointSink, SinkError};
use tenantguard::{Guard, MemoryStore, TenantContext, TenantId};
use tenantguard_kms::s3_sink::{S3CheckpointSink, S3SinkConfig};

fn sink(endpoint: &str, bucket: &str, prefix: &str) -> S3CheckpointSink {
    S3CheckpointSink::new(S3SinkConfig {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.to_owned()),
        force_path_style: true,
        access_key_id: "testing".into(),
        secret_access_key: SecretString::from("testing".to_owned()),
        retention: Duration::from_secs(3600),
    })
    .unwrap()
}

/// A fresh bucket (with Object Lock when `locked`) and a sink on it.
async fn bucket(endpoint: &str, locked: bool) -> (S3CheckpointSink, String) {
    let name = unique("tg-cp");
    let s = sink(endpoint, &name, "tenantguard/checkpoints/");
    s.client()
        .create_bucket()
        .bucket(&name)
        .object_lock_enabled_for_bucket(locked)
        .send()
        .await
        .unwrap();
    (s, name)
}

fn t(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn root(b: u8) -> [u8; 32] {
    [b; 32]
}

#[tokio::test]
async fn append_only_per_tenant_refuses_backwards_and_forks_across_instances() {
    let Some(ep) = env_or_skip("TG_KMS_AWS_ENDPOINT", "S3 checkpoint sink") else {
        return;
    };
    let (s, name) = bucket(&ep, true).await;
    s.check_bucket().await.unwrap();
    let acme = t("acme");
    assert_eq!(s.latest(&acme).await.unwrap(), None);
    s.publish(&acme, 5, &root(5), "note 5\n").await.unwrap();
    s.publish(&acme, 12, &root(12), "note 12\n").await.unwrap();
    // 12 sorts after 5 (keys are zero-padded sizes); the same checkpoint again is a no-op.
    s.publish(&acme, 12, &root(12), "note 12\n").await.unwrap();
    assert_eq!(
        s.publish(&acme, 9, &root(9), "n").await,
        Err(SinkError::Backwards {
            held: 12,
            offered: 9
        })
    );
    assert_eq!(
        s.publish(&acme, 12, &root(1), "n").await,
        Err(SinkError::Fork { size: 12 })
    );
    // Another tenant has its own history.
    s.publish(&t("globex"), 3, &root(3), "g3\n").await.unwrap();

    // A second process (a fresh sink, nothing cached) reads the history by listing.
    let other = sink(&ep, &name, "tenantguard/checkpoints/");
    let latest = other.latest(&acme).await.unwrap().unwrap();
    assert_eq!(
        (latest.size, latest.root, latest.note.as_str()),
        (12, root(12), "note 12\n")
    );
    assert_eq!(
        other.publish(&acme, 11, &root(11), "n").await,
        Err(SinkError::Backwards {
            held: 12,
            offered: 11
        })
    );
    // The first instance sees what the second wrote.
    other
        .publish(&acme, 20, &root(20), "note 20\n")
        .await
        .unwrap();
    assert_eq!(s.latest(&acme).await.unwrap().unwrap().size, 20);
    assert_eq!(
        s.publish(&acme, 15, &root(15), "n").await,
        Err(SinkError::Backwards {
            held: 20,
            offered: 15
        })
    );
    // A writer that cached an older latest refreshes before writing: its fork at a size
    // another instance wrote meanwhile is refused, not written.
    let racer = sink(&ep, &name, "tenantguard/checkpoints/");
    assert_eq!(racer.latest(&acme).await.unwrap().unwrap().size, 20);
    s.publish(&acme, 30, &root(30), "note 30\n").await.unwrap();
    assert_eq!(
        racer.publish(&acme, 30, &root(31), "forked\n").await,
        Err(SinkError::Fork { size: 30 })
    );
}

#[tokio::test]
async fn objects_are_locked_in_compliance_mode_and_the_server_refuses_deletion() {
    let Some(ep) = env_or_skip("TG_KMS_AWS_ENDPOINT", "S3 checkpoint sink") else {
        return;
    };
    let (s, name) = bucket(&ep, true).await;
    let acme = t("acme");
    s.publish(&acme, 7, &root(7), "note 7\n").await.unwrap();
    let key = s.object_key(&acme, 7);
    let c = s.client();
    // (moto serves GetObjectRetention as a plain GET, so the lock is read from HEAD.)
    let h = c
        .head_object()
        .bucket(&name)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let until = h.object_lock_retain_until_date().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        until > now + 3000 && until <= now + 3700,
        "{until} vs {now}"
    );

    // The sink's writes are conditional: the server refuses a second write of a key.
    let e = c
        .put_object()
        .bucket(&name)
        .key(&key)
        .body(ByteStream::from_static(b"again"))
        .if_none_match("*")
        .send()
        .await
        .unwrap_err();
    let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
    assert_eq!(code.as_deref(), Some("PreconditionFailed"), "{e:?}");

    // The locked version cannot be deleted, even with the governance bypass header.
    let versions = c
        .list_object_versions()
        .bucket(&name)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    let v = versions.versions()[0].version_id().unwrap().to_owned();
    for bypass in [false, true] {
        let e = c
            .delete_object()
            .bucket(&name)
            .key(&key)
            .version_id(&v)
            .bypass_governance_retention(bypass)
            .send()
            .await
            .unwrap_err();
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
        assert_eq!(code.as_deref(), Some("AccessDenied"), "{e:?}");
    }

    // A plain DELETE only adds a delete marker: the sink still sees the checkpoint, so
    // deleting the newest objects does not roll the sink back.
    c.delete_object()
        .bucket(&name)
        .key(&key)
        .send()
        .await
        .unwrap();
    let fresh = sink(&ep, &name, "tenantguard/checkpoints/");
    assert_eq!(fresh.latest(&acme).await.unwrap().unwrap().size, 7);
    assert_eq!(
        fresh.publish(&acme, 6, &root(6), "n").await,
        Err(SinkError::Backwards {
            held: 7,
            offered: 6
        })
    );

    // An overwrite by someone with write access adds a version; the locked original stays
    // and the sink fails closed instead of taking the forged note.
    c.put_object()
        .bucket(&name)
        .key(&key)
        .body(ByteStream::from_static(b"forged"))
        .metadata("tg-root", "00".repeat(32))
        .send()
        .await
        .unwrap();
    let fresh = sink(&ep, &name, "tenantguard/checkpoints/");
    match fresh.latest(&acme).await {
        Err(SinkError::Io(m)) => assert!(m.contains("overwritten"), "{m}"),
        other => panic!("an overwritten checkpoint was accepted: {other:?}"),
    }
    let original = c
        .get_object()
        .bucket(&name)
        .key(&key)
        .version_id(&v)
        .send()
        .await
        .unwrap();
    let body = original.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"note 7\n");
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_refused() {
    let Some(ep) = env_or_skip("TG_KMS_AWS_ENDPOINT", "S3 checkpoint sink") else {
        return;
    };
    let (s, _) = bucket(&ep, false).await;
    assert!(matches!(s.check_bucket().await, Err(SinkError::Io(_))));
}

#[tokio::test]
async fn a_guard_publishes_its_signed_checkpoints_to_the_bucket() {
    let Some(ep) = env_or_skip("TG_KMS_AWS_ENDPOINT", "S3 checkpoint sink") else {
        return;
    };
    let (s, name) = bucket(&ep, true).await;
    let s: Arc<dyn CheckpointSink> = Arc::new(s);
    let g = Guard::builder()
        .key_provider(tenantguard::LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .audit_transparency(TransparencyConfig {
            every_entries: 3,
            sinks: vec![s.clone()],
            ..TransparencyConfig::default()
        })
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let ctx = TenantContext::service(t("acme"), &tg_cap::cap());
    g.keys().create_tenant(&ctx).await.unwrap();
    for i in 0..7 {
        g.audit()
            .record(
                &ctx,
                AuditEvent::new(AuditAction::EgressDecision, format!("provider:p{i}")),
            )
            .await
            .unwrap();
    }
    let fresh = sink(&ep, &name, "tenantguard/checkpoints/");
    let p = fresh.latest(&t("acme")).await.unwrap().unwrap();
    assert!(p.size >= 6, "{}", p.size);
    let cp = open_checkpoint(p.note.as_bytes(), &[g.audit().public_key().await.unwrap()]).unwrap();
    assert_eq!((cp.size, cp.root), (p.size, p.root));
}
