//! The audit log on every store: hooks, export, offline verification, tamper detection,
//! append-only enforcement and concurrent appenders.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use crate::gov_support;

use std::sync::Arc;

use gov_support::*;
use tenantguard::audit::{
    verify_jsonl, AuditAction, AuditError, AuditEvent, AuditVerification, VerifyOptions,
    VerifyProblem, GENESIS,
};
use tenantguard::tenant::Role;
use tenantguard::{Credential, Error, ErrorKind, Guard, SqliteStore, Store, TenantContext};

fn broken(e: AuditError) -> (u64, Option<u64>, VerifyProblem) {
    match e {
        AuditError::Broken { line, seq, problem } => (line, seq, problem),
        other => panic!("expected Broken, got {other:?}"),
    }
}

async fn busy_log(g: &Guard) -> Vec<String> {
    busy_log_in(g, None).await
}

async fn busy_log_in(g: &Guard, store: Option<&Arc<dyn Store>>) -> Vec<String> {
    let acme = service("acme");
    g.keys().create_tenant(&acme).await.unwrap();
    g.records()
        .put_credential(&acme, "row-1", &Credential::password("hunter2"))
        .await
        .unwrap();
    g.records()
        .open_credential_with_reason(&acme, "row-1", "run 812 launch")
        .await
        .unwrap();
    g.records().open_credential(&acme, "row-1").await.unwrap();
    let k2 = g.keys().rotate(&acme).await.unwrap();
    g.keys()
        .reencrypt(&acme, tenantguard::KeyId::FIRST, 10, |_| {})
        .await
        .unwrap();
    g.keys()
        .retire(&acme, tenantguard::KeyId::FIRST)
        .await
        .unwrap();
    let admin = match store {
        Some(s) => member(s, "acme", "ada", Role::Admin).await,
        None => user("acme", "ada", Role::Admin),
    };
    g.audit()
        .record(
            &admin,
            AuditEvent::new(AuditAction::MembershipChange, "user:bob")
                .detail("role", "member")
                .reason("hired"),
        )
        .await
        .unwrap();
    g.audit()
        .record(
            &service("acme"),
            AuditEvent::new(AuditAction::EgressDecision, "provider:openai")
                .detail("decision", "redacted"),
        )
        .await
        .unwrap();
    assert_eq!(k2.get(), 2);
    let mut out = Vec::new();
    let report = g.audit().export(&admin, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(report.entries as usize, lines.len());
    lines
}

#[test]
fn hooks_export_and_verify_on_every_store() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let clock = TestClock::at(T0);
            let g = guard(store.clone(), &clock);
            let lines = busy_log_in(&g, Some(&store)).await;
            let entries: Vec<tenantguard::audit::AuditEntry> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(
                actions,
                [
                    "tenant.create",
                    "credential.open",
                    "credential.open",
                    "key.rotate",
                    "key.destroy",
                    "membership.change",
                    "egress.decision"
                ],
                "{name}"
            );
            assert_eq!(entries[1].reason.as_deref(), Some("run 812 launch"));
            assert_eq!(entries[1].actor, "service");
            assert_eq!(entries[1].target, "record:row-1");
            assert_eq!(entries[2].reason, None);
            assert_eq!(entries[5].actor, "user:ada");
            assert_eq!(entries[0].prev, GENESIS);
            assert!(entries.iter().all(|e| e.time == T0 && e.tenant == "acme"));
            assert!(!lines.join("\n").contains("hunter2"));

            let all = lines.join("\n") + "\n";
            let head = (
                entries.last().unwrap().seq,
                entries.last().unwrap().hash.clone(),
            );
            let opts = VerifyOptions {
                expected_head: Some(head.clone()),
                ..Default::default()
            };
            let r = verify_jsonl(all.as_bytes(), &opts)
                .unwrap()
                .into_result()
                .unwrap();
            assert_eq!(r.entries, 7);
            assert_eq!(r.head, head.1);
            assert_eq!(
                g.audit()
                    .verify(&user("acme", "ada", Role::Admin))
                    .await
                    .unwrap()
                    .report()
                    .unwrap()
                    .head,
                head.1
            );

            // Partial export verified from a checkpoint.
            let tail = lines[3..].join("\n");
            let from = VerifyOptions {
                start_after: Some((3, entries[2].hash.clone())),
                expected_head: Some(head.clone()),
            };
            assert_eq!(
                verify_jsonl(tail.as_bytes(), &from)
                    .unwrap()
                    .report()
                    .unwrap()
                    .entries,
                4
            );
        }
    });
}

#[test]
fn tampering_is_pinpointed() {
    rt().block_on(async {
        let (_, store, _dir) = stores().remove(0);
        let g = guard(store, &TestClock::at(T0));
        let lines = busy_log(&g).await;
        let last: tenantguard::audit::AuditEntry =
            serde_json::from_str(lines.last().unwrap()).unwrap();
        let head = Some((last.seq, last.hash.clone()));
        let check = |ls: &[String], expected_head: Option<(u64, String)>| {
            let text = ls.join("\n");
            broken(
                verify_jsonl(
                    text.as_bytes(),
                    &VerifyOptions {
                        expected_head,
                        ..Default::default()
                    },
                )
                .unwrap()
                .into_result()
                .unwrap_err(),
            )
        };

        // Altered content.
        let mut ls = lines.clone();
        ls[2] = ls[2].replace("\"credential.open\"", "\"credential.read\"");
        assert_eq!(check(&ls, None), (3, Some(3), VerifyProblem::HashMismatch));

        // Altered content with a recomputed hash: the next entry's link breaks.
        let mut e: tenantguard::audit::AuditEntry = serde_json::from_str(&lines[2]).unwrap();
        e.time += 60;
        e.hash = e.compute_hash();
        let mut ls = lines.clone();
        ls[2] = e.to_json_line();
        assert_eq!(check(&ls, None), (4, Some(4), VerifyProblem::BrokenLink));

        // An altered personal field (outside the hash): its commitment refuses it.
        let mut e: tenantguard::audit::AuditEntry = serde_json::from_str(&lines[2]).unwrap();
        e.reason = Some("innocent".into());
        let mut ls = lines.clone();
        ls[2] = e.to_json_line();
        assert_eq!(
            check(&ls, None),
            (3, Some(3), VerifyProblem::PersonalMismatch)
        );

        // A deleted entry.
        let mut ls = lines.clone();
        ls.remove(3);
        assert_eq!(
            check(&ls, None),
            (
                4,
                Some(5),
                VerifyProblem::Missing {
                    expected: 4,
                    found: 5
                }
            )
        );

        // Reordered entries.
        let mut ls = lines.clone();
        ls.swap(1, 2);
        assert_eq!(
            check(&ls, None),
            (
                2,
                Some(3),
                VerifyProblem::Missing {
                    expected: 2,
                    found: 3
                }
            )
        );

        // Duplicated entry.
        let mut ls = lines.clone();
        ls.insert(2, lines[1].clone());
        assert_eq!(
            check(&ls, None),
            (
                3,
                Some(2),
                VerifyProblem::OutOfOrder {
                    expected: 3,
                    found: 2
                }
            )
        );

        // Truncated end, caught only with the expected head.
        let ls = lines[..5].to_vec();
        assert!(
            verify_jsonl(ls.join("\n").as_bytes(), &VerifyOptions::default())
                .unwrap()
                .is_valid()
        );
        assert_eq!(
            check(&ls, head.clone()),
            (
                5,
                Some(5),
                VerifyProblem::Truncated {
                    expected: 7,
                    found: 5
                }
            )
        );

        // Garbage, injected fields, blank lines, over-long lines.
        let mut ls = lines.clone();
        ls[4] = "{not json".into();
        assert!(matches!(
            check(&ls, None),
            (5, None, VerifyProblem::Malformed(_))
        ));
        let mut ls = lines.clone();
        ls[4] = ls[4].replacen('{', "{\"extra\":1,", 1);
        assert!(matches!(
            check(&ls, None),
            (5, None, VerifyProblem::Malformed(_))
        ));
        let mut ls = lines.clone();
        ls.insert(1, String::new());
        assert!(matches!(
            check(&ls, None),
            (2, None, VerifyProblem::Malformed(_))
        ));
        let mut ls = lines.clone();
        ls.insert(1, "x".repeat(100_000));
        assert_eq!(check(&ls, None).2, VerifyProblem::TooLong);

        // Another tenant's entry spliced in.
        let g2 = guard(
            Arc::new(tenantguard::MemoryStore::new()),
            &TestClock::at(T0),
        );
        let other = busy_log_for(&g2, "globex").await;
        let mut ls = lines.clone();
        ls[1] = other[1].clone();
        assert_eq!(check(&ls, None), (2, Some(2), VerifyProblem::TenantChanged));
    });
}

async fn busy_log_for(g: &Guard, tenant: &str) -> Vec<String> {
    let ctx = service(tenant);
    g.keys().create_tenant(&ctx).await.unwrap();
    g.audit()
        .record(&ctx, AuditEvent::new(AuditAction::PolicyChange, "egress"))
        .await
        .unwrap();
    let mut out = Vec::new();
    g.audit().export(&ctx, &mut out).await.unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn sqlite_rows_are_append_only_and_tampering_is_found() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let g = guard(
            Arc::new(SqliteStore::open(&path).unwrap()),
            &TestClock::at(T0),
        );
        busy_log(&g).await;
        let conn = rusqlite::Connection::open(&path).unwrap();
        let upd = conn.execute("UPDATE tg_audit SET entry = '{}' WHERE seq = 2", []);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        assert!(conn
            .execute("DELETE FROM tg_audit WHERE seq = 2", [])
            .is_err());
        // A determined attacker with file access drops the trigger: verification still catches it.
        conn.execute_batch("DROP TRIGGER tg_audit_no_update")
            .unwrap();
        let json: String = conn
            .query_row("SELECT entry FROM tg_audit WHERE seq = 3", [], |r| r.get(0))
            .unwrap();
        let mut row: serde_json::Value = serde_json::from_str(&json).unwrap();
        row["time"] = serde_json::json!(T0 - 3600);
        conn.execute(
            "UPDATE tg_audit SET entry = ?1 WHERE seq = 3",
            [row.to_string()],
        )
        .unwrap();
        // A broken chain is an outcome, not an error; as an error it is `Integrity`.
        let outcome = g
            .audit()
            .verify(&user("acme", "ada", Role::Admin))
            .await
            .unwrap();
        assert!(!outcome.is_valid());
        assert_eq!(
            outcome,
            AuditVerification::Broken {
                line: 3,
                seq: Some(3),
                problem: VerifyProblem::HashMismatch
            }
        );
        let e = Error::from(outcome.into_result().unwrap_err());
        assert_eq!(e.kind(), tenantguard::ErrorKind::Integrity);
        assert_eq!(e.reason(), Some(tenantguard::Reason::BrokenChain));
    });
}

#[test]
fn concurrent_appenders_never_fork_the_chain() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut backends: Vec<(&str, Vec<Arc<dyn Store>>)> =
            vec![("memory", vec![Arc::new(tenantguard::MemoryStore::new())])];
        // Two SqliteStore handles on one file behave like two processes.
        backends.push((
            "sqlite",
            vec![
                Arc::new(SqliteStore::open(&path).unwrap()),
                Arc::new(SqliteStore::open(&path).unwrap()),
            ],
        ));
        for (name, handles) in backends {
            let clock = TestClock::at(T0);
            // Each handle is another store instance: each guard's own capability. The
            // instances share one KEK, as processes sharing a store do (each needs the
            // keyring's audit-mac key).
            let kek: Arc<dyn tenantguard::KeyProvider> =
                Arc::new(tenantguard::LocalKeyProvider::ephemeral());
            let pairs: Vec<(Guard, TenantContext)> = handles
                .into_iter()
                .map(|s| {
                    let g = Guard::builder()
                        .key_provider_arc(kek.clone())
                        .store_arc(s)
                        .clock(clock.clone())
                        .build_with_service()
                        .map(tg_cap::keep)
                        .unwrap();
                    (g, service("acme"))
                })
                .collect();
            let guards: Vec<Guard> = pairs.iter().map(|p| p.0.clone()).collect();
            guards[0].keys().create_tenant(&pairs[0].1).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..32 {
                let (g, acme) = pairs[i % pairs.len()].clone();
                tasks.push(tokio::spawn(async move {
                    for j in 0..10 {
                        let ev =
                            AuditEvent::new(AuditAction::EgressDecision, format!("task-{i}-{j}"));
                        g.audit().record(&acme, ev).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            // Vouched with the last guard's capability: checked by that guard.
            let admin = user("acme", "ada", Role::Admin);
            let r = guards[guards.len() - 1]
                .audit()
                .verify(&admin)
                .await
                .unwrap()
                .into_result()
                .unwrap();
            assert_eq!(r.entries, 321, "{name}");
            assert_eq!(r.last_seq, 321, "{name}");
            let entries = guards[guards.len() - 1]
                .audit()
                .entries(&admin, 0, 10_000)
                .await
                .unwrap();
            let mut targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
            targets.sort();
            targets.dedup();
            assert_eq!(targets.len(), 321);
        }
    });
}

#[test]
fn permissions_limits_and_isolation() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let g = guard(store.clone(), &TestClock::at(T0));
            g.keys().create_tenant(&service("acme")).await.unwrap();
            g.keys().create_tenant(&service("globex")).await.unwrap();
            let viewer = member(&store, "acme", "vic", Role::Viewer).await;
            g.audit()
                .record(&viewer, AuditEvent::new(AuditAction::PolicyChange, "x"))
                .await
                .unwrap();
            assert_eq!(
                g.audit().entries(&viewer, 0, 10).await.unwrap_err().kind(),
                ErrorKind::PermissionDenied
            );
            assert_eq!(
                g.audit()
                    .export(&viewer, Vec::new())
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::PermissionDenied
            );
            for bad in [
                AuditEvent::new(AuditAction::PolicyChange, ""),
                AuditEvent::new(AuditAction::PolicyChange, "x".repeat(257)),
                AuditEvent::new(AuditAction::PolicyChange, "x").reason(""),
                AuditEvent::new(AuditAction::PolicyChange, "x").detail("k", "v".repeat(1025)),
            ] {
                assert_eq!(
                    g.audit().record(&viewer, bad).await.unwrap_err().kind(),
                    ErrorKind::InvalidInput
                );
            }
            let e = g
                .records()
                .open_record_with_reason(&service("acme"), "nope", "")
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            // Each tenant has its own chain.
            let gl = g
                .audit()
                .entries(&member(&store, "globex", "g", Role::Admin).await, 0, 10)
                .await
                .unwrap();
            assert_eq!(gl.len(), 1, "{name}");
            assert_eq!(gl[0].seq, 1);
            assert_eq!(gl[0].tenant, "globex");
        }
    });
}

#[test]
fn kek_rotation_is_audited_per_tenant() {
    rt().block_on(async {
        let kp = Arc::new(tenantguard::LocalKeyProvider::ephemeral());
        let g = Guard::builder()
            .key_provider_arc(kp.clone())
            .store(tenantguard::MemoryStore::new())
            .clock(TestClock::at(T0))
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap();
        for t in ["a", "b"] {
            g.keys().create_tenant(&service(t)).await.unwrap();
        }
        let kek = kp.rotate_kek().unwrap();
        let r = g
            .keys()
            .rewrap(&tg_cap::cap(), None, 10, |_| {})
            .await
            .unwrap();
        assert_eq!(r.rewrapped, 2);
        for t in ["a", "b"] {
            let log = g.audit().entries(&service(t), 0, 10).await.unwrap();
            let last = log.last().unwrap();
            assert_eq!(
                (last.action.as_str(), last.target.clone()),
                ("key.rewrap", format!("kek:{kek}"))
            );
            assert_eq!(last.details.get("rewrapped").map(String::as_str), Some("1"));
        }
        // Nothing to do: no new entries.
        g.keys()
            .rewrap(&tg_cap::cap(), None, 10, |_| {})
            .await
            .unwrap();
        assert_eq!(
            g.audit().entries(&service("a"), 0, 10).await.unwrap().len(),
            2
        );
    });
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn export(events: &[(String, Option<String>)]) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let g = guard(
                Arc::new(tenantguard::MemoryStore::new()),
                &TestClock::at(T0),
            );
            let ctx = service("acme");
            for (target, reason) in events {
                let mut ev = AuditEvent::new(AuditAction::PolicyChange, target.clone());
                ev.reason = reason.clone();
                g.audit().record(&ctx, ev).await.unwrap();
            }
            let mut out = Vec::new();
            g.audit().export(&ctx, &mut out).await.unwrap();
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any export verifies; any single-byte change to an entry is detected.
        #[test]
        fn every_byte_is_protected(
            events in proptest::collection::vec(("[a-z\"\\\\é ]{1,12}", proptest::option::of("[ -~]{1,20}")), 1..6),
            pos in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let out = export(&events);
            let r = verify_jsonl(out.as_slice(), &VerifyOptions::default()).unwrap().into_result().unwrap();
            prop_assert_eq!(r.entries as usize, events.len());
            // The final newline is framing, not content (a lone trailing space or CR is
            // accepted as JSON whitespace), so flip any byte before it.
            let mut bad = out.clone();
            let i = pos.index(bad.len() - 1);
            bad[i] ^= mask;
            prop_assert!(!verify_jsonl(bad.as_slice(), &VerifyOptions::default()).unwrap().is_valid());
        }
    }
}
