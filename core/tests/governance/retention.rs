//! Retention on every store: windows at their boundaries (controllable clock), overrides,
//! batched resumable idempotent sweeps, subject erasure, tenant erasure by crypto-shredding.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::gov_support;

use gov_support::*;
use tenantguard::audit::{AuditAction, AuditEvent};
use tenantguard::retention::{
    erasure_receipt_matches, ReceiptSecret, CAPTURED_SESSION, CHAT_TRANSCRIPT, DAY, RUN_LOG,
    SCREENSHOT,
};
use tenantguard::store::RetentionWindow;
use tenantguard::tenant::{Role, UserId};
use tenantguard::tokens::TokenSpec;
use tenantguard::{Credential, ErrorKind};

#[test]
fn default_windows_hold_to_the_second() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            for (class, days) in [
                (RUN_LOG, 90),
                (SCREENSHOT, 30),
                (CHAT_TRANSCRIPT, 90),
                (CAPTURED_SESSION, 7),
            ] {
                g.records()
                    .put(&acme, &format!("{class}-1"), class, None, b"data")
                    .await
                    .unwrap();
                assert_eq!(
                    g.retention().policy(&acme).await.unwrap().window(class),
                    RetentionWindow::Secs(days * DAY)
                );
            }
            g.records()
                .put_credential(&acme, "cred-1", &Credential::password("pw"))
                .await
                .unwrap();
            for (class, days) in [(CAPTURED_SESSION, 7), (SCREENSHOT, 30), (RUN_LOG, 90)] {
                // Exactly at the window: kept.
                clock.set(T0 + days * DAY);
                g.retention().sweep(&acme, 100, |_| {}).await.unwrap();
                assert!(
                    g.records()
                        .open_record(&acme, &format!("{class}-1"))
                        .await
                        .is_ok(),
                    "{name} {class} deleted inside its window"
                );
                // One second past: deleted.
                clock.set(T0 + days * DAY + 1);
                let r = g.retention().sweep(&acme, 100, |_| {}).await.unwrap();
                assert_eq!(r.deleted.get(class), Some(&1), "{name} {class}");
                assert_eq!(
                    g.records()
                        .open_record(&acme, &format!("{class}-1"))
                        .await
                        .unwrap_err()
                        .kind(),
                    ErrorKind::NotFound
                );
            }
            assert!(g
                .records()
                .open_record(&acme, &format!("{CHAT_TRANSCRIPT}-1"))
                .await
                .is_err());
            // Classes without a window are kept forever.
            clock.set(T0 + 50 * 365 * DAY);
            assert_eq!(
                g.retention()
                    .sweep(&acme, 100, |_| {})
                    .await
                    .unwrap()
                    .total(),
                0
            );
            g.records().open_credential(&acme, "cred-1").await.unwrap();
        }
    });
}

#[test]
fn overrides_and_replaced_records() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            g.retention()
                .set(&acme, CHAT_TRANSCRIPT, RetentionWindow::Secs(3600))
                .await
                .unwrap();
            g.retention()
                .set(&acme, RUN_LOG, RetentionWindow::Forever)
                .await
                .unwrap();
            g.records()
                .put(&acme, "chat", CHAT_TRANSCRIPT, None, b"hi")
                .await
                .unwrap();
            g.records()
                .put(&acme, "log", RUN_LOG, None, b"l")
                .await
                .unwrap();
            g.records()
                .put(&acme, "shot", SCREENSHOT, None, b"s")
                .await
                .unwrap();
            clock.set(T0 + 3600);
            assert_eq!(
                g.retention()
                    .sweep(&acme, 10, |_| {})
                    .await
                    .unwrap()
                    .total(),
                0,
                "{name}"
            );
            clock.set(T0 + 3601);
            assert_eq!(
                g.retention()
                    .sweep(&acme, 10, |_| {})
                    .await
                    .unwrap()
                    .deleted
                    .get(CHAT_TRANSCRIPT),
                Some(&1)
            );
            // A replaced record's age counts from its last write.
            clock.set(T0 + 20 * DAY);
            g.records()
                .put(&acme, "shot", SCREENSHOT, None, b"s2")
                .await
                .unwrap();
            clock.set(T0 + 45 * DAY);
            assert_eq!(
                g.retention()
                    .sweep(&acme, 10, |_| {})
                    .await
                    .unwrap()
                    .total(),
                0
            );
            clock.set(T0 + 50 * DAY + 1);
            assert_eq!(
                g.retention()
                    .sweep(&acme, 10, |_| {})
                    .await
                    .unwrap()
                    .deleted
                    .get(SCREENSHOT),
                Some(&1)
            );
            clock.set(T0 + 1000 * DAY);
            assert_eq!(
                g.retention()
                    .sweep(&acme, 10, |_| {})
                    .await
                    .unwrap()
                    .total(),
                0
            );
            g.records().open_record(&acme, "log").await.unwrap();
            // Back to the default.
            assert!(g.retention().clear(&acme, RUN_LOG).await.unwrap());
            assert_eq!(
                g.retention()
                    .sweep(&acme, 10, |_| {})
                    .await
                    .unwrap()
                    .deleted
                    .get(RUN_LOG),
                Some(&1)
            );
            // Bad windows, bad classes, roles.
            for w in [
                RetentionWindow::Secs(0),
                RetentionWindow::Secs(-5),
                RetentionWindow::Secs(i64::MAX),
            ] {
                assert_eq!(
                    g.retention()
                        .set(&acme, RUN_LOG, w)
                        .await
                        .unwrap_err()
                        .kind(),
                    ErrorKind::InvalidInput
                );
            }
            assert_eq!(
                g.retention()
                    .set(&acme, "", RetentionWindow::Forever)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidInput
            );
            let member = user("acme", "m", Role::Member);
            assert_eq!(
                g.retention()
                    .sweep(&member, 10, |_| {})
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );
            assert_eq!(
                g.retention()
                    .set(&member, RUN_LOG, RetentionWindow::Forever)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );
            g.retention()
                .policy(&user("acme", "v", Role::Viewer))
                .await
                .unwrap();
            let actions: Vec<String> = g
                .audit()
                .entries(&acme, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect();
            assert_eq!(
                actions.iter().filter(|a| *a == "policy.change").count(),
                3,
                "{name}"
            );
            assert_eq!(
                actions.iter().filter(|a| *a == "retention.sweep").count(),
                3,
                "{name}"
            );
        }
    });
}

#[test]
fn sweeps_are_batched_resumable_and_idempotent() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            for i in 0..45 {
                g.records()
                    .put(&acme, &format!("log-{i:02}"), RUN_LOG, None, b"x")
                    .await
                    .unwrap();
            }
            clock.set(T0 + 5 * DAY);
            for i in 0..5 {
                g.records()
                    .put(&acme, &format!("fresh-{i}"), RUN_LOG, None, b"x")
                    .await
                    .unwrap();
            }
            clock.set(T0 + 90 * DAY + 1);
            // A sweep that died after its first batch: the store deleted 7 of them.
            let partial = store
                .delete_expired(&acme, RUN_LOG, T0 + 1, 7)
                .await
                .unwrap();
            assert_eq!(partial.len(), 7);
            let mut seen = Vec::new();
            let r = g
                .retention()
                .sweep(&acme, 10, |p| seen.push(p.total()))
                .await
                .unwrap();
            assert_eq!(r.deleted.get(RUN_LOG), Some(&38), "{name}");
            assert_eq!(r.batches, 4);
            assert_eq!(seen, [10, 20, 30, 38]);
            // One receipt per batch that deleted records, as each batch commits.
            let receipts: Vec<_> = g
                .audit()
                .entries(&acme, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.action == "retention.sweep")
                .collect();
            assert_eq!(receipts.last().map(|e| e.seq), r.audit_seq);
            let counts: Vec<&str> = receipts
                .iter()
                .map(|e| e.details["deleted.run_log"].as_str())
                .collect();
            assert_eq!(counts, ["10", "10", "10", "8"], "{name}");
            // Idempotent: nothing more, no new receipt.
            let again = g.retention().sweep(&acme, 10, |_| {}).await.unwrap();
            assert_eq!(again.total(), 0);
            assert_eq!(again.audit_seq, None);
            for i in 0..5 {
                assert!(
                    store
                        .get_record(&acme, &format!("fresh-{i}"))
                        .await
                        .unwrap()
                        .is_some(),
                    "{name}"
                );
            }
            assert_eq!(
                g.retention()
                    .sweep(&acme, 0, |_| {})
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidInput
            );
        }
    });
}

#[test]
fn subject_erasure() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            g.keys().create_tenant(&service("globex")).await.unwrap();
            let alice = "alice@example.com";
            for i in 0..12 {
                let class = [RUN_LOG, CHAT_TRANSCRIPT, "password"][i % 3];
                g.records()
                    .put(&acme, &format!("a-{i}"), class, Some(alice), b"about alice")
                    .await
                    .unwrap();
            }
            g.records()
                .put(
                    &acme,
                    "b-1",
                    CHAT_TRANSCRIPT,
                    Some("bob@example.com"),
                    b"bob",
                )
                .await
                .unwrap();
            g.records()
                .put(&acme, "n-1", CHAT_TRANSCRIPT, None, b"nobody")
                .await
                .unwrap();
            g.records()
                .put(
                    &service("globex"),
                    "g-1",
                    CHAT_TRANSCRIPT,
                    Some(alice),
                    b"other tenant",
                )
                .await
                .unwrap();
            let r = g.retention().erase_subject(&acme, alice, 5).await.unwrap();
            assert_eq!((r.deleted, r.batches), (12, 3), "{name}");
            assert!(!r.receipt.to_json_line().contains("alice"));
            assert_eq!(
                r.receipt.target,
                format!("subject:hmac-sha256:{}", r.subject_digest)
            );
            // The subject checks the receipt with the secret handed over once...
            assert!(erasure_receipt_matches(
                &r.receipt,
                alice,
                &r.receipt_secret
            ));
            let hex = r.receipt_secret.to_hex();
            assert!(!format!("{r:?}").contains(&hex), "Debug shows the secret");
            let back = ReceiptSecret::from_hex(&hex).unwrap();
            assert!(erasure_receipt_matches(&r.receipt, alice, &back));
            assert!(!erasure_receipt_matches(&r.receipt, "bob", &back));
            // ...nobody else can test a guess: neither a plain (or tenant-salted) hash of
            // the subject, nor the digest under any other secret, matches.
            let plain = tenantguard::audit::digest(alice);
            let line = r.receipt.to_json_line();
            assert!(!line.contains(&plain) && !line.contains(&hex));
            for candidate in ["alice", alice, "alice@example.com", "bob"] {
                for salt in ["", "acme", "acme\0"] {
                    let d = tenantguard::audit::digest(&format!("{salt}{candidate}"));
                    assert!(!r.receipt.target.contains(&d));
                }
                let other = ReceiptSecret::from_hex(&"0".repeat(64)).unwrap();
                assert!(!erasure_receipt_matches(&r.receipt, candidate, &other));
            }
            // A second erasure of the same subject leaves an unlinkable receipt.
            let r2 = g.retention().erase_subject(&acme, alice, 5).await.unwrap();
            assert_ne!(r2.subject_digest, r.subject_digest);
            assert!(!erasure_receipt_matches(
                &r2.receipt,
                alice,
                &r.receipt_secret
            ));
            assert!(erasure_receipt_matches(
                &r2.receipt,
                alice,
                &r2.receipt_secret
            ));
            for i in 0..12 {
                assert!(g
                    .records()
                    .open_record(&acme, &format!("a-{i}"))
                    .await
                    .is_err());
            }
            g.records().open_record(&acme, "b-1").await.unwrap();
            g.records().open_record(&acme, "n-1").await.unwrap();
            g.records()
                .open_record(&service("globex"), "g-1")
                .await
                .unwrap();
            assert_eq!(
                g.retention()
                    .erase_subject(&acme, alice, 5)
                    .await
                    .unwrap()
                    .deleted,
                0
            );
            assert_eq!(
                g.retention()
                    .erase_subject(&user("acme", "m", Role::Member), alice, 5)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );
        }
    });
}

#[test]
fn tenant_erasure_by_crypto_shredding() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            g.keys().create_tenant(&service("globex")).await.unwrap();
            for i in 0..25 {
                g.records()
                    .put(&acme, &format!("r-{i}"), RUN_LOG, None, b"x")
                    .await
                    .unwrap();
            }
            g.records()
                .put(&service("globex"), "g-1", RUN_LOG, None, b"x")
                .await
                .unwrap();
            // Record ids are per tenant: globex's own "r-3" is not acme's.
            g.records()
                .put(&service("globex"), "r-3", RUN_LOG, None, b"y")
                .await
                .unwrap();
            let held_outside = g
                .records()
                .seal(&acme, "backup/1", b"in a backup")
                .await
                .unwrap();
            let t = g
                .tokens()
                .create(
                    &acme,
                    TokenSpec::read_only(UserId::new("bot").unwrap(), "b"),
                )
                .await
                .unwrap();
            g.tokens().authenticate(t.secret.expose()).await.unwrap();
            let admin = member(&store, "acme", "a", Role::Admin).await;
            assert_eq!(
                g.retention()
                    .erase_tenant(&admin, 10)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );

            let r = g
                .retention()
                .erase_tenant(&member(&store, "acme", "olga", Role::Owner).await, 10)
                .await
                .unwrap();
            assert_eq!((r.tokens_revoked, r.records_deleted), (1, 25), "{name}");
            assert_eq!(r.receipt.action, "retention.erase_tenant");
            assert_eq!(r.receipt.actor, "user:olga");
            assert_eq!(
                g.records()
                    .open(&acme, "backup/1", &held_outside)
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::KeyDestroyed
            );
            assert_eq!(
                g.tokens()
                    .authenticate(t.secret.expose())
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::AuthenticationFailed
            );
            let log = g.audit().entries(&admin, 0, 100).await.unwrap();
            assert!(log.iter().any(|e| e.action == "tenant.shred"));
            assert_eq!(
                g.audit()
                    .verify(&admin)
                    .await
                    .unwrap()
                    .into_result()
                    .unwrap()
                    .head,
                r.receipt.hash,
                "{name}"
            );
            // Other tenants untouched, their records with acme's ids too; running again is safe.
            g.records()
                .open_record(&service("globex"), "g-1")
                .await
                .unwrap();
            g.records()
                .open_record(&service("globex"), "r-3")
                .await
                .unwrap();
            assert_eq!(
                g.retention()
                    .erase_tenant(&acme, 10)
                    .await
                    .unwrap()
                    .records_deleted,
                0
            );
        }
    });
}

#[test]
fn sweep_all_tenants() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            for t in ["a", "b", "c"] {
                g.keys().create_tenant(&service(t)).await.unwrap();
                g.records()
                    .put(&service(t), &format!("{t}-shot"), SCREENSHOT, None, b"x")
                    .await
                    .unwrap();
            }
            g.retention()
                .set(&service("b"), SCREENSHOT, RetentionWindow::Forever)
                .await
                .unwrap();
            clock.set(T0 + 31 * DAY);
            let r = g
                .retention()
                .sweep_all(&tg_cap::cap(), None, 2)
                .await
                .unwrap();
            assert_eq!((r.tenants, r.deleted), (3, 2), "{name}");
            assert_eq!(r.last_tenant.unwrap().as_str(), "c");
            g.records()
                .open_record(&service("b"), "b-shot")
                .await
                .unwrap();
        }
    });
}

#[test]
fn sweep_all_reports_progress_after_each_tenant() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            for t in ["a", "b", "c"] {
                g.keys().create_tenant(&service(t)).await.unwrap();
                g.records()
                    .put(&service(t), &format!("{t}-shot"), SCREENSHOT, None, b"x")
                    .await
                    .unwrap();
            }
            clock.set(T0 + 31 * DAY);
            let mut seen = Vec::new();
            let r = g
                .retention()
                .sweep_all_with_progress(&tg_cap::cap(), None, 2, |p| {
                    seen.push((
                        p.tenants,
                        p.deleted,
                        p.last_tenant.as_ref().map(|t| t.as_str().to_owned()),
                    ))
                })
                .await
                .unwrap();
            let some = |s: &str| Some(s.to_owned());
            assert_eq!(
                seen,
                [(1, 1, some("a")), (2, 2, some("b")), (3, 3, some("c"))],
                "{name}"
            );
            assert_eq!((r.tenants, r.deleted), (3, 3), "{name}");
            // Resuming after "a" sweeps only b and c (already empty now).
            let mut after_a = Vec::new();
            let r = g
                .retention()
                .sweep_all_with_progress(
                    &tg_cap::cap(),
                    seen[0]
                        .2
                        .clone()
                        .map(|t| tenantguard::TenantId::new(&t).unwrap()),
                    2,
                    |p| after_a.push(p.tenants),
                )
                .await
                .unwrap();
            assert_eq!(
                (r.tenants, r.deleted, after_a),
                (2, 0, vec![1, 2]),
                "{name}"
            );
        }
    });
}

/// A progress callback that returns `ControlFlow::Break` stops the job after that batch;
/// what was deleted still gets its audit receipt, and running the job again finishes it.
#[test]
fn a_progress_callback_stops_a_sweep() {
    use std::ops::ControlFlow;
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            for i in 0..25 {
                g.records()
                    .put(&acme, &format!("log-{i:02}"), RUN_LOG, None, b"x")
                    .await
                    .unwrap();
            }
            clock.set(T0 + 90 * DAY + 1);
            let mut calls = 0;
            let r = g
                .retention()
                .sweep(&acme, 10, |_| {
                    calls += 1;
                    ControlFlow::Break(())
                })
                .await
                .unwrap();
            assert_eq!(
                (calls, r.total(), r.batches, r.stopped),
                (1, 10, 1, true),
                "{name}"
            );
            let receipt = g
                .audit()
                .entries(&acme, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.action == "retention.sweep")
                .unwrap();
            assert_eq!(Some(receipt.seq), r.audit_seq, "{name}");
            let rest = g
                .retention()
                .sweep(&acme, 10, |_| ControlFlow::Continue(()))
                .await
                .unwrap();
            assert_eq!((rest.total(), rest.stopped), (15, false), "{name}");

            // Over every tenant: stops after the first tenant, resumes from it.
            for t in ["a", "b", "c"] {
                g.keys().create_tenant(&service(t)).await.unwrap();
            }
            let r = g
                .retention()
                .sweep_all_with_progress(&tg_cap::cap(), None, 2, |_| false)
                .await
                .unwrap();
            assert_eq!(r.tenants, 1, "{name}");
            assert!(r.stopped, "{name}");
            let rest = g
                .retention()
                .sweep_all_with_progress(&tg_cap::cap(), r.last_tenant.clone(), 2, |_| true)
                .await
                .unwrap();
            assert_eq!(r.tenants + rest.tenants, 4, "{name}");
            assert!(!rest.stopped, "{name}");
        }
    });
}

/// After a subject erasure nothing of the subject id is left in the SQLite files (records'
/// subject tags are hard-deleted with `secure_delete`; the receipt holds a keyed digest
/// only, and no plain SHA-256 of the subject anywhere).
#[test]
fn subject_erasure_leaves_no_trace_of_the_subject_in_the_sqlite_files() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let clock = TestClock::at(T0);
        let store: std::sync::Arc<dyn tenantguard::Store> =
            std::sync::Arc::new(tenantguard::SqliteStore::open(&path).unwrap());
        let g = guard(store, &clock);
        let acme = service("acme");
        g.keys().create_tenant(&acme).await.unwrap();
        let subject = "zelda.q.erasable@example.com";
        for i in 0..20 {
            g.records()
                .put(
                    &acme,
                    &format!("z-{i}"),
                    CHAT_TRANSCRIPT,
                    Some(subject),
                    b"x",
                )
                .await
                .unwrap();
        }
        let files = || -> Vec<u8> {
            let mut all = Vec::new();
            for ext in ["", "-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{}{ext}", path.display())) {
                    all.extend(b);
                }
            }
            all
        };
        let contains =
            |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
        // The audit log names the subject too: as a target and inside a free-text reason.
        for i in 0..3 {
            g.audit()
                .record(
                    &acme,
                    AuditEvent::new(AuditAction::EgressDecision, format!("user:{subject}"))
                        .reason(format!("ticket {i}: {subject} asked for a copy")),
                )
                .await
                .unwrap();
        }
        assert!(contains(&files(), subject), "the subject is stored before");
        let r = g
            .retention()
            .erase_subject(&acme, subject, 7)
            .await
            .unwrap();
        assert_eq!(r.deleted, 20);
        assert_eq!(r.audit_erased, 3);
        drop(g);
        // Fold the WAL into the main file, as a backup or a later checkpoint would.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        drop(conn);
        let bytes = files();
        assert!(
            !contains(&bytes, subject),
            "the subject id survived the erasure"
        );
        assert!(!contains(&bytes, &tenantguard::audit::digest(subject)));
        assert!(contains(&bytes, &r.subject_digest), "the receipt is stored");
    });
}

/// An erasure removes the subject from every audit entry that names it (actor, target,
/// reason), leaves the other entries alone, and the log still verifies: the entries
/// commit to a salted digest of their personal fields, not to the fields.
#[test]
fn subject_erasure_removes_the_subject_from_the_audit_log_and_it_still_verifies() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store, &clock);
            let acme = service("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            let alice = "alice@example.com";
            let ev = |target: String, reason: &str| {
                AuditEvent::new(AuditAction::EgressDecision, target).reason(reason)
            };
            g.audit()
                .record(&acme, ev(format!("user:{alice}"), "asked"))
                .await
                .unwrap();
            g.audit()
                .record(&acme, ev("user:bob@example.com".into(), "asked"))
                .await
                .unwrap();
            g.audit()
                .record(&acme, ev("provider:x".into(), &format!("for {alice}")))
                .await
                .unwrap();
            // Not a match: the subject only as part of a longer id.
            g.audit()
                .record(&acme, ev(format!("user:mal{alice}"), "other"))
                .await
                .unwrap();
            let r = g.retention().erase_subject(&acme, alice, 5).await.unwrap();
            assert_eq!(r.audit_erased, 2, "{name}");
            let all: Vec<_> = g
                .audit()
                .entries(&acme, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.action == AuditAction::EgressDecision.as_str())
                .collect();
            let named: Vec<_> = all
                .iter()
                .filter(|e| e.canonical_line().contains(alice) && !e.target.contains("mal"))
                .collect();
            assert!(named.is_empty(), "{name}: {named:?}");
            assert!(all[0].is_erased() && all[2].is_erased(), "{name}");
            assert_eq!(all[1].target, "user:bob@example.com", "{name}");
            assert_eq!(all[3].target, format!("user:mal{alice}"), "{name}");
            let v = g.audit().verify(&acme).await.unwrap();
            let report = v.report().unwrap_or_else(|| panic!("{name}: {v:?}"));
            assert_eq!(report.erased_entries, 2, "{name}");
            // Idempotent: nothing left to erase, and the log still verifies.
            let r2 = g.retention().erase_subject(&acme, alice, 5).await.unwrap();
            assert_eq!(r2.audit_erased, 0, "{name}");
            assert!(g.audit().verify(&acme).await.unwrap().is_valid(), "{name}");
        }
    });
}
