//! Witness cosignatures end to end with a real guard: the witness cosigns the guard's
//! checkpoints as the log grows (consistency proofs from the guard), an export carrying
//! the cosigned note verifies when the customer requires the witness key, and a missing,
//! forged or moved cosignature, or a log that was cut back and regrown, is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::gov_support;

use std::sync::Arc;

use gov_support::*;
use tenantguard::audit::export::TamperReason;
use tenantguard::audit::{
    attach_cosigned_note, verify_cosignature, verify_export_witnessed, AuditAction, AuditEvent,
    TransparencyConfig, Witness, WitnessError, WitnessPublicKey, WitnessedVerdict,
};
use tenantguard::tenant::Role;
use tenantguard::{Guard, KeyProvider, LocalKeyProvider, SqliteStore, Store, TenantContext};

fn admin() -> TenantContext {
    user("acme", "ada", Role::Admin)
}

fn build(kek: &Arc<dyn KeyProvider>, clock: &TestClock) -> Guard {
    build_on(Arc::new(tenantguard::MemoryStore::new()), kek, clock)
}

fn build_on(store: Arc<dyn Store>, kek: &Arc<dyn KeyProvider>, clock: &TestClock) -> Guard {
    Guard::builder()
        .key_provider_arc(kek.clone())
        .store_arc(store)
        .clock(clock.clone())
        .audit_transparency(TransparencyConfig::default())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

async fn events(g: &Guard, n: usize, tag: &str) {
    for i in 0..n {
        g.audit()
            .record(
                &service("acme"),
                AuditEvent::new(AuditAction::EgressDecision, format!("provider:{tag}{i}")),
            )
            .await
            .unwrap();
    }
}

async fn export(g: &Guard) -> Vec<u8> {
    let mut out = Vec::new();
    g.audit().export_bundle(&admin(), &mut out).await.unwrap();
    out
}

#[test]
fn a_witnessed_export_verifies_and_a_missing_or_forged_cosignature_does_not() {
    rt().block_on(async {
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let g = build(&kek, &clock);
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let log_key = g.audit().public_key().await.unwrap();
        let w = Witness::new("witness.example.com/w1", &[42u8; 32], vec![log_key.clone()]).unwrap();
        let wk = WitnessPublicKey::parse(&w.public().to_vkey()).unwrap();

        // First checkpoint: trusted on first use.
        events(&g, 6, "a").await;
        let first = g.audit().checkpoint(&admin()).await.unwrap();
        w.cosign(first.note.as_bytes(), 0, &[], T0 as u64).unwrap();
        // Later: cosigned with the guard's consistency proof from the witnessed size.
        events(&g, 9, "b").await;
        let bundle = export(&g).await;
        let p = g
            .audit()
            .consistency_proof(&admin(), first.checkpoint.size)
            .await
            .unwrap();
        let text = String::from_utf8(bundle.clone()).unwrap();
        let note = text.split_once("\ncheckpoint\n").unwrap().1;
        let cosigned = w
            .cosign(
                note.as_bytes(),
                first.checkpoint.size,
                &p.hashes,
                T0 as u64 + 60,
            )
            .unwrap();
        assert_eq!(
            verify_cosignature(cosigned.as_bytes(), &wk),
            Ok(T0 as u64 + 60)
        );
        let witnessed = attach_cosigned_note(&bundle, &cosigned).unwrap();
        let keys = [log_key.clone()];
        match verify_export_witnessed(
            &witnessed,
            &keys,
            Some(first.note.as_bytes()),
            std::slice::from_ref(&wk),
        ) {
            WitnessedVerdict::Valid {
                summary,
                cosigned_at,
            } => {
                assert_eq!(summary.entries, summary.checkpoint.size);
                assert!(summary.entries > first.checkpoint.size);
                assert_eq!(p.old_size, first.checkpoint.size);
                assert_eq!(cosigned_at, [T0 as u64 + 60]);
            }
            other => panic!("{other:?}"),
        }
        // Without a required witness the plain verifier still accepts the cosigned bundle.
        assert!(tenantguard::audit::export::verify_export(&witnessed, &keys, None).is_valid());

        // The bare export, when the witness is required: refused.
        assert_eq!(
            verify_export_witnessed(&bundle, &keys, None, std::slice::from_ref(&wk)),
            WitnessedVerdict::NotWitnessed(WitnessError::Unwitnessed(wk.name().into()))
        );
        // A forged cosignature (one signature byte flipped): refused.
        let line_at = cosigned.rfind('\u{2014}').unwrap();
        let (head, line) = cosigned.split_at(line_at);
        let (name, blob) = line.trim_end().rsplit_once(' ').unwrap();
        let mut raw = base64_decode(blob);
        raw[30] ^= 0x20;
        let forged = format!("{head}{name} {}\n", base64_encode(&raw));
        let forged_bundle = attach_cosigned_note(&bundle, &forged).unwrap();
        assert_eq!(
            verify_export_witnessed(&forged_bundle, &keys, None, std::slice::from_ref(&wk)),
            WitnessedVerdict::NotWitnessed(WitnessError::BadCosignature(wk.name().into()))
        );
        // A cosigned note of another checkpoint cannot be attached to this bundle.
        assert!(attach_cosigned_note(&bundle, &first.note).is_err());
        // A tampered export is still reported for its own reason first.
        let cut = text.replacen("\n{", "\n", 1);
        assert!(matches!(
            verify_export_witnessed(cut.as_bytes(), &keys, None, &[wk]),
            WitnessedVerdict::Tampered {
                reason: TamperReason::Malformed,
                ..
            }
        ));
    });
}

#[test]
fn the_witness_refuses_a_log_restored_from_a_backup_and_grown_differently() {
    rt().block_on(async {
        // The operator restores a database backup and the log grows differently from the
        // history the witness saw: the real checkpoint key signs a fork. The log's own
        // signature cannot tell; the witness refuses to cosign it.
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let dir = tempfile::tempdir().unwrap();
        let (live, backup) = (dir.path().join("live.db"), dir.path().join("backup.db"));
        let on = |path: &std::path::Path| {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
            build_on(store, &kek, &clock)
        };
        let g = on(&live);
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 8, "a").await;
        let cp8 = g.audit().checkpoint(&admin()).await.unwrap();
        let log_key = g.audit().public_key().await.unwrap();
        let w = Witness::new("witness.example.com/w1", &[42u8; 32], vec![log_key.clone()]).unwrap();
        w.cosign(cp8.note.as_bytes(), 0, &[], T0 as u64).unwrap();
        drop(g);
        for suffix in ["", "-wal", "-shm"] {
            let from = format!("{}{suffix}", live.display());
            if std::path::Path::new(&from).exists() {
                std::fs::copy(&from, format!("{}{suffix}", backup.display())).unwrap();
            }
        }
        let g = on(&live);
        events(&g, 4, "b").await;
        let cp12 = g.audit().checkpoint(&admin()).await.unwrap();
        let (s8, s12) = (cp8.checkpoint.size, cp12.checkpoint.size);
        let p = g.audit().consistency_proof(&admin(), s8).await.unwrap();
        w.cosign(cp12.note.as_bytes(), s8, &p.hashes, T0 as u64 + 1)
            .unwrap();

        // The restored copy: same KEK, same keyring, so the same checkpoint key.
        let r = on(&backup);
        assert_eq!(r.audit().public_key().await.unwrap(), log_key);
        events(&r, 5, "x").await;
        let forked = r.audit().checkpoint(&admin()).await.unwrap();
        assert_eq!(forked.checkpoint.size, s12 + 1);
        assert_eq!(forked.checkpoint.origin, cp12.checkpoint.origin);
        // Offered with the restored log's own proof from the witnessed size: refused;
        // with its proof from the backup's size: the witness holds another size.
        let fp = r.audit().consistency_proof(&admin(), s12).await.unwrap();
        assert_eq!(
            w.cosign(forked.note.as_bytes(), s12, &fp.hashes, T0 as u64 + 2),
            Err(WitnessError::Fork)
        );
        let fp8 = r.audit().consistency_proof(&admin(), s8).await.unwrap();
        assert_eq!(
            w.cosign(forked.note.as_bytes(), s8, &fp8.hashes, T0 as u64 + 2),
            Err(WitnessError::SizeMismatch {
                seen: s12,
                claimed: s8
            })
        );
        // The live log keeps being cosigned.
        assert_eq!(w.latest(&cp12.checkpoint.origin).unwrap().size, s12);
        drop(g);
        let g = on(&live); // the service capability of the guard built last
        events(&g, 2, "c").await;
        let cp14 = g.audit().checkpoint(&admin()).await.unwrap();
        let p = g.audit().consistency_proof(&admin(), s12).await.unwrap();
        w.cosign(cp14.note.as_bytes(), s12, &p.hashes, T0 as u64 + 3)
            .unwrap();
    });
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The reason table the bindings expose holds every reason's `kind`, in declaration order.
#[test]
fn the_tamper_reason_table_lists_every_kind() {
    let all = [
        TamperReason::BundleMalformed,
        TamperReason::Malformed,
        TamperReason::TooLong,
        TamperReason::DuplicateKey,
        TamperReason::NonCanonical,
        TamperReason::TenantMismatch,
        TamperReason::OutOfOrder {
            expected: 1,
            found: 0,
        },
        TamperReason::Missing {
            expected: 1,
            found: 2,
        },
        TamperReason::EntryAltered,
        TamperReason::BrokenLink,
        TamperReason::MacMissing,
        TamperReason::Truncated {
            checkpoint_size: 2,
            entries: 1,
        },
        TamperReason::Unattested {
            checkpoint_size: 1,
            entries: 2,
        },
        TamperReason::RootMismatch,
        TamperReason::CheckpointMalformed,
        TamperReason::UnknownKey,
        TamperReason::BadSignature,
        TamperReason::OriginMismatch,
        TamperReason::Rollback {
            earlier: 2,
            latest: 1,
        },
        TamperReason::Fork,
        TamperReason::ProofMismatch,
        TamperReason::PersonalAltered,
        TamperReason::ErasedWithoutReceipt,
    ];
    let kinds: Vec<&str> = all.iter().map(TamperReason::kind).collect();
    assert_eq!(kinds, TamperReason::KINDS);
}
