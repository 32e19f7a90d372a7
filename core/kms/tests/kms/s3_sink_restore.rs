//! The S3 checkpoint sink's restore admission (docs/FORMAT.md 4.9, 4.10) against moto on
//! loopback: a restore is admitted once, only with a restore record superseding the
//! latest checkpoint and proven in the new one; the superseded history stays locked;
//! later publishes extend the restore; a fresh instance reads the same latest, across
//! two restores; a marker written around the sink fails closed. Needs TG_KMS_AWS_ENDPOINT
//! (set by `scripts/kms.sh start`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectLockMode;
use secrecy::SecretString;
use tenantguard::audit::merkle::{self, Hash};
use tenantguard::audit::{AuditDraft, AuditEntry, CheckpointSink, RestoreAdmission, SinkError};
use tenantguard::TenantId;
use tenantguard_kms::s3_sink::{S3CheckpointSink, S3SinkConfig};

const PREFIX: &str = "tenantguard/checkpoints/";

fn sink(endpoint: &str, bucket: &str) -> S3CheckpointSink {
    S3CheckpointSink::new(S3SinkConfig {
        bucket: bucket.to_owned(),
        prefix: PREFIX.to_owned(),
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.to_owned()),
        force_path_style: true,
        access_key_id: "testing".into(),
        secret_access_key: SecretString::from("testing".to_owned()),
        retention: Duration::from_secs(3600),
    })
    .unwrap()
}

fn hx(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn root(b: u8) -> Hash {
    [b; 32]
}

/// A restored log of `size` entries whose last is an `audit.restore` entry (restore point
/// `restored`) superseding `(sup_size, sup_root)`: its root and the restore admission.
/// The sink cannot check MACs; a record without one is refused (`mac` false).
fn restored_log(
    size: u64,
    restored: u64,
    sup_size: u64,
    sup_root: &Hash,
    mac: bool,
) -> (Hash, RestoreAdmission) {
    let mut leaves: Vec<Hash> = (1..size)
        .map(|i| merkle::leaf_hash(format!("entry {i}").as_bytes()))
        .collect();
    let details = [
        ("restored_size", restored.to_string()),
        ("superseded_size", sup_size.to_string()),
        ("superseded_root", hx(sup_root)),
        ("revocations", "not_reapplied".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let draft = AuditDraft {
        time: 1_700_000_000,
        actor: "service".into(),
        action: "audit.restore".into(),
        target: "log:acme".into(),
        reason: Some("backup restored".into()),
        details,
        mac_key: None,
        personal_salt: None,
    };
    let mut e = AuditEntry::chain("acme", size, &"ab".repeat(32), &draft);
    if mac {
        e.mac = Some(format!("1:{}", "cd".repeat(32)));
        e.hash = e.compute_hash();
    }
    leaves.push(merkle::leaf_hash(e.leaf_line().as_bytes()));
    let proof = merkle::inclusion_proof(&leaves, size - 1).unwrap();
    let adm = RestoreAdmission {
        entry_line: e.canonical_line(),
        proof,
    };
    (merkle::root(&leaves), adm)
}

fn refused(r: Result<(), SinkError>) -> String {
    match r {
        Err(SinkError::RestoreRefused(m)) => m,
        other => panic!("expected a refused restore, got {other:?}"),
    }
}

#[tokio::test]
async fn a_restore_is_admitted_once_keeps_history_and_later_publishes_extend_it() {
    let Some(ep) = env_or_skip("TG_KMS_AWS_ENDPOINT", "S3 checkpoint sink") else {
        return;
    };
    let name = unique("tg-cp-restore");
    let s = sink(&ep, &name);
    let c = s.client().clone();
    c.create_bucket()
        .bucket(&name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let acme = TenantId::new("acme").unwrap();
    // Before any restore: 5, then 12 (the checkpoint the restore will supersede).
    s.publish(&acme, 5, &root(5), "note 5\n").await.unwrap();
    s.publish(&acme, 12, &root(12), "note 12\n").await.unwrap();

    // The restored log: 9 entries, the 9th the restore record superseding (12, root 12).
    let (r9, adm) = restored_log(9, 7, 12, &root(12), true);
    // Without the restore admission, the smaller tree is refused as before.
    assert_eq!(
        s.publish(&acme, 9, &r9, "note 9\n").await,
        Err(SinkError::Backwards {
            held: 12,
            offered: 9
        })
    );
    // Forged admissions: another superseded checkpoint, a flipped proof hash, the record
    // without its MAC, the proof against another root, the record's own line altered.
    let (r_old, adm_old) = restored_log(9, 4, 5, &root(5), true);
    let mut flipped = adm.clone();
    flipped.proof[0][3] ^= 1;
    let (r_nomac, adm_nomac) = restored_log(9, 7, 12, &root(12), false);
    let mut altered = adm.clone();
    altered.entry_line = altered
        .entry_line
        .replace("backup restored", "nothing to see");
    for (r, a, why) in [
        (r_old, &adm_old, "supersedes the checkpoint of size 5"),
        (r9, &flipped, "inclusion proof"),
        (r_nomac, &adm_nomac, "MAC"),
        (root(9), &adm, "inclusion proof"),
        (r9, &altered, "inclusion proof"),
    ] {
        let m = refused(s.publish_restore(&acme, 9, &r, "forged\n", a).await);
        assert!(m.contains(why), "{why}: {m}");
    }
    // Nothing was written by the refusals: no restore marker, latest unchanged.
    let marker = s.restore_key(&acme, 1);
    let listed = c
        .list_object_versions()
        .bucket(&name)
        .prefix(&marker)
        .send()
        .await
        .unwrap();
    assert!(listed.versions().is_empty());
    assert_eq!(s.latest(&acme).await.unwrap().unwrap().size, 12);

    // The valid restore is admitted, once; a retry of the same checkpoint is a no-op.
    s.publish_restore(&acme, 9, &r9, "note 9\n", &adm)
        .await
        .unwrap();
    s.publish_restore(&acme, 9, &r9, "note 9\n", &adm)
        .await
        .unwrap();
    let latest = s.latest(&acme).await.unwrap().unwrap();
    assert_eq!(
        (latest.size, latest.root, latest.note.as_str()),
        (9, r9, "note 9\n")
    );
    // The same record cannot be used twice: it supersedes 12, the latest is now 9.
    let (r10, adm10) = restored_log(10, 7, 12, &root(12), true);
    let m = refused(s.publish_restore(&acme, 10, &r10, "n\n", &adm10).await);
    assert!(m.contains("sink holds size 9"), "{m}");
    // The superseded history stays, locked; the marker is locked too.
    for key in [
        s.object_key(&acme, 5),
        s.object_key(&acme, 12),
        marker.clone(),
    ] {
        let h = c.head_object().bucket(&name).key(&key).send().await;
        let h = h.unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(
            h.object_lock_mode(),
            Some(&ObjectLockMode::Compliance),
            "{key}"
        );
    }

    // Later ordinary publishes extend the restore, in generation 1; the rules hold.
    s.publish(&acme, 11, &root(11), "note 11\n").await.unwrap();
    assert!(c
        .head_object()
        .bucket(&name)
        .key(s.generation_key(&acme, 1, 11))
        .send()
        .await
        .is_ok());
    assert_eq!(
        s.publish(&acme, 10, &root(10), "n").await,
        Err(SinkError::Backwards {
            held: 11,
            offered: 10
        })
    );
    assert_eq!(
        s.publish(&acme, 11, &root(1), "n").await,
        Err(SinkError::Fork { size: 11 })
    );

    // A fresh instance (nothing cached) reads the same latest, and writes after it.
    let fresh = sink(&ep, &name);
    assert_eq!(fresh.latest(&acme).await.unwrap().unwrap().size, 11);
    assert_eq!(
        fresh.publish(&acme, 12, &root(12), "note 12\n").await,
        Ok(()),
        "size 12 in generation 1 is a new key, not the superseded object"
    );
    fresh
        .publish(&acme, 14, &root(14), "note 14\n")
        .await
        .unwrap();
    assert_eq!(s.latest(&acme).await.unwrap().unwrap().size, 14);

    // A second restore, superseding 14 (generation 2); a fresh instance verifies both
    // markers in order, each against the generation before it.
    let (r11, adm2) = restored_log(11, 10, 14, &root(14), true);
    s.publish_restore(&acme, 11, &r11, "note 11b\n", &adm2)
        .await
        .unwrap();
    let fresh = sink(&ep, &name);
    let l = fresh.latest(&acme).await.unwrap().unwrap();
    assert_eq!((l.size, l.root), (11, r11));
    // A record superseding 14 again (another instance, nothing cached) is refused.
    let (r13, adm3) = restored_log(13, 10, 14, &root(14), true);
    let m = refused(
        sink(&ep, &name)
            .publish_restore(&acme, 13, &r13, "n\n", &adm3)
            .await,
    );
    assert!(m.contains("sink holds size 11"), "{m}");

    // A marker written around the sink (credentials, no restore record that verifies):
    // every reader fails closed instead of taking its checkpoint as the latest.
    let mut body = String::from("tenantguard-s3-restore v1\n3\n");
    body.push_str(&format!(
        "{}\n\n{}\nforged\n",
        hx(&root(3)),
        adm2.entry_line
    ));
    c.put_object()
        .bucket(&name)
        .key(s.restore_key(&acme, 3))
        .body(ByteStream::from(body.into_bytes()))
        .metadata("tg-root", hx(&root(3)))
        .send()
        .await
        .unwrap();
    for reader in [sink(&ep, &name), s] {
        match reader.latest(&acme).await {
            Err(SinkError::Io(m)) => assert!(m.contains("does not verify"), "{m}"),
            other => panic!("a forged restore marker was accepted: {other:?}"),
        }
    }
}
