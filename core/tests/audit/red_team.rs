//! Third red team on the audit log and retention: a database writer editing the SQLite
//! file, a second instance that has not synced, hostile input to the offline verifiers,
//! and processes killed (SIGKILL) in the middle of a retention sweep. Each test fails if
//! its attack works.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::gov_support;

use std::rc::Rc;
use std::sync::Arc;

use gov_support::*;
use tenantguard::audit::export::{verify_inclusion_proof, TamperReason};
use tenantguard::audit::{
    verify_jsonl, AuditAction, AuditEntry, AuditEvent, AuditVerification, CheckpointSink,
    FileCheckpointSink, TransparencyConfig, VerifyOptions, VerifyProblem,
};
use tenantguard::store::RetentionWindow;
use tenantguard::tenant::{Resolved, Role, UserId};
use tenantguard::{
    Error, Guard, KeyProvider, LocalKeyProvider, ServiceRole, SqliteStore, TenantContext, TenantId,
};

/// One instance: its guard and the service capability its contexts are vouched with.
struct Instance {
    g: Guard,
    cap: Rc<ServiceRole>,
}

impl std::ops::Deref for Instance {
    type Target = Guard;
    fn deref(&self) -> &Guard {
        &self.g
    }
}

impl Instance {
    fn svc(&self, t: &str) -> TenantContext {
        TenantContext::service(TenantId::new(t).unwrap(), &self.cap)
    }

    fn user(&self, t: &str, u: &str, role: Role) -> TenantContext {
        TenantContext::resolved(Resolved::vouch(
            &self.cap,
            TenantId::new(t).unwrap(),
            UserId::new(u).unwrap(),
            role,
        ))
    }

    fn admin(&self) -> TenantContext {
        self.user("acme", "ada", Role::Admin)
    }
}

fn audit_problem(e: Error) -> VerifyProblem {
    match e {
        Error::Audit(tenantguard::audit::AuditError::Broken { problem, .. }) => problem,
        other => panic!("expected a broken log, got {other:?}"),
    }
}

/// One SQLite file, one file checkpoint sink and one KEK shared by every guard built on
/// them: each guard is another instance (another process) of the same deployment.
struct Deployment {
    dir: tempfile::TempDir,
    kek: Arc<dyn KeyProvider>,
    clock: TestClock,
}

impl Deployment {
    fn new() -> Self {
        Deployment {
            dir: tempfile::tempdir().unwrap(),
            kek: Arc::new(LocalKeyProvider::ephemeral()),
            clock: TestClock::at(T0),
        }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("t.db")
    }

    /// A new instance: checkpoints only when asked (the clock stands still, and 1,000
    /// entries are never reached here).
    fn instance(&self) -> Instance {
        let sink = FileCheckpointSink::open(self.dir.path().join("cp.log")).unwrap();
        let (g, cap) = Guard::builder()
            .key_provider_arc(self.kek.clone())
            .store_arc(Arc::new(SqliteStore::open(self.db()).unwrap()))
            .clock(self.clock.clone())
            .audit_transparency(TransparencyConfig {
                sinks: vec![Arc::new(sink)],
                ..Default::default()
            })
            .build_with_service()
            .unwrap();
        Instance {
            g,
            cap: Rc::new(cap),
        }
    }

    /// What a checkpoint by a new instance (nothing synced yet) finds wrong: it must fail.
    async fn fresh_checkpoint_problem(&self) -> VerifyProblem {
        let c = self.instance();
        audit_problem(c.audit().checkpoint(&c.admin()).await.unwrap_err())
    }

    /// The database writer: the file opened directly, the append-only triggers dropped.
    fn writer(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.execute_batch("DROP TRIGGER tg_audit_no_update; DROP TRIGGER tg_audit_no_delete")
            .unwrap();
        conn
    }
}

async fn events(g: &Instance, n: usize, tag: &str) {
    for i in 0..n {
        g.audit()
            .record(
                &g.svc("acme"),
                AuditEvent::new(AuditAction::EgressDecision, format!("provider:{tag}{i}"))
                    .detail("decision", "redacted"),
            )
            .await
            .unwrap();
    }
}

/// Attack: entries covered by a checkpoint another instance published are cut by a
/// database writer, and an instance that has not re-read the sink since its own last
/// checkpoint appends over the cut and signs the result. Its checkpoint is larger than
/// the sink's, so a sink that only refuses smaller sizes and other roots at the same size
/// takes it, and from then on every instance accepts the rewritten history. Each
/// checkpoint must first be checked against the sinks' latest, whoever published it.
#[test]
fn an_instance_that_has_not_synced_cannot_sign_over_entries_another_instance_published() {
    rt().block_on(async {
        // (a) The stale instance's tree is behind the other instance's checkpoint.
        let d = Deployment::new();
        let b = d.instance();
        b.keys().create_tenant(&b.svc("acme")).await.unwrap();
        events(&b, 3, "b").await;
        assert_eq!(
            b.audit()
                .checkpoint(&b.admin())
                .await
                .unwrap()
                .checkpoint
                .size,
            4
        );
        let a = d.instance();
        events(&a, 3, "a").await; // 5 to 7
        assert_eq!(
            a.audit()
                .checkpoint(&a.admin())
                .await
                .unwrap()
                .checkpoint
                .size,
            7
        );
        d.writer()
            .execute("DELETE FROM tg_audit WHERE seq >= 6", [])
            .unwrap();
        events(&b, 3, "x").await; // 6', 7', 8': genuine, MACed, chained to 5
        assert_eq!(
            audit_problem(b.audit().checkpoint(&b.admin()).await.unwrap_err()),
            VerifyProblem::Fork
        );
        // Nothing was published over the sink's checkpoint: a fresh instance refuses too.
        assert_eq!(d.fresh_checkpoint_problem().await, VerifyProblem::Fork);

        // (b) The stale instance's own appends already carried its tree past the other
        //     instance's checkpoint (its own entries join the tree without a sync).
        let d = Deployment::new();
        let b = d.instance();
        b.keys().create_tenant(&b.svc("acme")).await.unwrap();
        events(&b, 3, "b").await;
        b.audit().checkpoint(&b.admin()).await.unwrap(); // 4
        events(&b, 1, "b").await; // 5, in b's tree
        let a = d.instance();
        events(&a, 2, "a").await; // 6, 7
        assert_eq!(
            a.audit()
                .checkpoint(&a.admin())
                .await
                .unwrap()
                .checkpoint
                .size,
            7
        );
        d.writer()
            .execute("DELETE FROM tg_audit WHERE seq >= 6", [])
            .unwrap();
        events(&b, 3, "x").await; // 6', 7', 8': each right after b's tree, so in it
        assert_eq!(
            audit_problem(b.audit().checkpoint(&b.admin()).await.unwrap_err()),
            VerifyProblem::Fork
        );
        assert_eq!(d.fresh_checkpoint_problem().await, VerifyProblem::Fork);

        // Control: two honest instances taking turns keep checkpointing.
        let d = Deployment::new();
        let (a, b) = (d.instance(), d.instance());
        a.keys().create_tenant(&a.svc("acme")).await.unwrap();
        for round in 0..3 {
            events(&a, 2, "a").await;
            a.audit().checkpoint(&a.admin()).await.unwrap();
            events(&b, 2, "b").await;
            let cp = b.audit().checkpoint(&b.admin()).await.unwrap();
            assert_eq!(cp.checkpoint.size, 1 + 4 * (round + 1));
        }
        assert!(b.audit().verify(&b.admin()).await.unwrap().is_valid());
    });
}

/// Attack: a database writer replays an old row at the tail (the entry of `seq` 1 stored
/// again in the row of `seq` 3). Verification reports it, and the jobs that page through
/// the log (subject erasure) stop with the same finding instead of reading the same page
/// forever.
#[test]
fn a_replayed_row_is_reported_and_never_stalls_a_job_that_pages_the_log() {
    rt().block_on(async {
        let d = Deployment::new();
        let g = d.instance();
        g.keys().create_tenant(&g.svc("acme")).await.unwrap(); // 1
        let mallory = g.user("acme", "mallory", Role::Admin);
        g.audit()
            .record(
                &mallory,
                AuditEvent::new(AuditAction::PolicyChange, "egress").reason("for mallory"),
            )
            .await
            .unwrap(); // 2
        g.audit()
            .record(
                &mallory,
                AuditEvent::new(AuditAction::PolicyChange, "egress"),
            )
            .await
            .unwrap(); // 3
        let w = d.writer();
        let (first, personal): (String, Option<String>) = w
            .query_row(
                "SELECT entry, personal FROM tg_audit WHERE tenant_id = 'acme' AND seq = 2",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        w.execute(
            "UPDATE tg_audit SET entry = ?1, personal = ?2 WHERE tenant_id = 'acme' AND seq = 3",
            rusqlite::params![first, personal],
        )
        .unwrap();
        match g.audit().verify(&g.admin()).await.unwrap() {
            AuditVerification::Broken { problem, .. } => assert_eq!(
                problem,
                VerifyProblem::OutOfOrder {
                    expected: 3,
                    found: 2
                }
            ),
            other => panic!("replayed row not found: {other:?}"),
        }
        // Subject erasure pages the log by `seq`: with the replayed row last, the page
        // after `seq` 2 was the same page again, forever (a hang, its list growing).
        // The erasure runs on a thread of its own: a stalled one never yields, so only
        // a bound on the wait turns a hang into a failure (the result is what is checked).
        let (tx, rx) = std::sync::mpsc::channel();
        let (ctx, g) = (g.svc("acme"), g.g);
        std::thread::spawn(move || {
            let r = rt().block_on(g.retention().erase_subject(&ctx, "mallory", 100));
            let _ = tx.send(r.map(|_| ()));
        });
        let erased = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("subject erasure stalled on a replayed audit row");
        assert!(matches!(
            audit_problem(erased.unwrap_err()),
            VerifyProblem::OutOfOrder {
                expected: 3,
                found: 2
            }
        ));
    });
}

/// Attack: two tenants' rows swapped by a database writer (each moved into the other's
/// log at the same `seq`, as is or with its tenant field rewritten). Every check of each
/// log refuses: as another tenant's entry, or by its MAC, which covers the tenant.
#[test]
fn rows_swapped_between_tenants_are_refused_in_both_logs() {
    rt().block_on(async {
        let d = Deployment::new();
        let g = d.instance();
        for t in ["acme", "beta"] {
            g.keys().create_tenant(&g.svc(t)).await.unwrap();
            for i in 0..2 {
                g.audit()
                    .record(
                        &g.svc(t),
                        AuditEvent::new(AuditAction::PolicyChange, format!("{t}:{i}")),
                    )
                    .await
                    .unwrap();
            }
        }
        let w = d.writer();
        let row = |t: &str| -> (String, String, Option<String>) {
            w.query_row(
                "SELECT hash, entry, personal FROM tg_audit WHERE tenant_id = ?1 AND seq = 3",
                [t],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let (acme3, beta3) = (row("acme"), row("beta"));
        let put = |t: &str, (hash, entry, personal): &(String, String, Option<String>)| {
            w.execute(
                "UPDATE tg_audit SET hash = ?2, entry = ?3, personal = ?4 WHERE tenant_id = ?1 AND seq = 3",
                rusqlite::params![t, hash, entry, personal],
            )
            .unwrap();
        };
        put("acme", &beta3);
        put("beta", &acme3);
        for (t, u) in [("acme", "ada"), ("beta", "bea")] {
            let ctx = g.user(t, u, Role::Admin);
            assert!(!g.audit().verify(&ctx).await.unwrap().is_valid(), "{t}");
            let c = d.instance();
            assert_eq!(
                audit_problem(c.audit().checkpoint(&c.user(t, u, Role::Admin)).await.unwrap_err()),
                VerifyProblem::TenantChanged,
                "{t}"
            );
        }
        // The tenant field rewritten (and the chain fixed) to pass as acme's own.
        let mut e: AuditEntry = serde_json::from_str(&beta3.1).unwrap();
        let prev: String = w
            .query_row(
                "SELECT hash FROM tg_audit WHERE tenant_id = 'acme' AND seq = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        e.tenant = "acme".into();
        e.prev = prev;
        e.hash = e.compute_hash();
        put(
            "acme",
            &(e.hash.clone(), serde_json::to_string(&e).unwrap(), beta3.2),
        );
        assert_eq!(
            d.fresh_checkpoint_problem().await,
            VerifyProblem::MacMismatch
        );
    });
}

/// Hostile input to the offline verifiers: a checkpoint note with a blank line after its
/// signatures, an inclusion proof whose entry claims `seq` 0
/// (hashed correctly, next to a genuine checkpoint), and a JSON Lines check told to start
/// after the largest `seq`. Each is a typed finding, never a panic.
#[test]
fn hostile_proofs_and_verify_options_are_findings_not_panics() {
    rt().block_on(async {
        let d = Deployment::new();
        let g = d.instance();
        g.keys().create_tenant(&g.svc("acme")).await.unwrap();
        events(&g, 3, "p").await;
        let keys = g.audit().public_keys().await.unwrap();
        let proof = g.audit().inclusion_proof(&g.admin(), 2).await.unwrap();
        assert!(verify_inclusion_proof(proof.to_text().as_bytes(), &keys).is_ok());
        let mut e: AuditEntry = serde_json::from_str(&proof.entry_line).unwrap();
        e.seq = 0;
        e.hash = e.compute_hash();
        let mut hostile = proof.clone();
        hostile.entry_line = e.canonical_line();
        let got = std::panic::catch_unwind(|| {
            verify_inclusion_proof(hostile.to_text().as_bytes(), &keys)
        })
        .expect("an inclusion proof of seq 0 panicked the verifier");
        assert!(matches!(got, Err(TamperReason::Malformed)), "{got:?}");

        // A blank line after the signatures: not a note (a second byte form of the
        // checkpoint), in a bundle, an inclusion proof or as the customer's earlier one.
        let note = proof.checkpoint_note.clone();
        assert_eq!(
            tenantguard::audit::open_checkpoint(format!("{note}\n").as_bytes(), &keys),
            Err(tenantguard::audit::CheckpointError::Malformed)
        );
        let mut bundle = Vec::new();
        g.audit()
            .export_bundle(&g.admin(), &mut bundle)
            .await
            .unwrap();
        bundle.push(b'\n');
        assert!(matches!(
            tenantguard::audit::export::verify_export(&bundle, &keys, None),
            tenantguard::audit::export::ExportVerdict::Tampered {
                reason: TamperReason::CheckpointMalformed,
                ..
            }
        ));
        let mut padded = proof.to_text();
        padded.push('\n');
        assert_eq!(
            verify_inclusion_proof(padded.as_bytes(), &keys).unwrap_err(),
            TamperReason::CheckpointMalformed
        );

        let mut line = Vec::new();
        g.audit().export(&g.admin(), &mut line).await.unwrap();
        let opts = VerifyOptions {
            start_after: Some((u64::MAX, "0".repeat(64))),
            expected_head: None,
        };
        let got = std::panic::catch_unwind(|| verify_jsonl(&line[..], &opts))
            .expect("a start after the largest seq panicked the verifier")
            .unwrap();
        assert!(
            matches!(
                got,
                AuditVerification::Broken {
                    problem: VerifyProblem::OutOfOrder { .. },
                    ..
                }
            ),
            "{got:?}"
        );
    });
}

const SWEEP_DB: &str = "TG_RT3_SWEEP_DB";
const SWEEP_KEYS: &str = "TG_RT3_SWEEP_KEYS";
const SWEEP_CHILD: &str = "red_team::sweep_child_process";

/// A guard on the sweep test's files (a key file, so every process has the same KEK).
fn sweep_instance(db: &std::path::Path, keys: &std::path::Path, clock: &TestClock) -> Instance {
    let (g, cap) = Guard::builder()
        .key_provider(LocalKeyProvider::open_or_create(keys).unwrap())
        .store_arc(Arc::new(SqliteStore::open(db).unwrap()))
        .clock(clock.clone())
        .build_with_service()
        .unwrap();
    Instance {
        g,
        cap: Rc::new(cap),
    }
}

/// Run by [`a_sweep_killed_between_batches_leaves_a_receipt_for_every_deletion`] in a
/// child process: sweeps in batches of 5, and after the first batch says how many it
/// deleted and waits to be killed.
#[test]
#[ignore = "child process of a_sweep_killed_between_batches_leaves_a_receipt_for_every_deletion"]
fn sweep_child_process() {
    use std::io::Write;
    let (Some(db), Some(keys)) = (std::env::var_os(SWEEP_DB), std::env::var_os(SWEEP_KEYS)) else {
        return;
    };
    let clock = TestClock::at(T0 + 90 * tenantguard::retention::DAY + 1);
    let g = sweep_instance(db.as_ref(), keys.as_ref(), &clock);
    rt().block_on(async {
        let _ = g
            .retention()
            .sweep::<()>(&g.svc("acme"), 5, |r| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "deleted {}", r.total());
                let _ = out.flush();
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            })
            .await;
    });
}

/// Attack (a crash): a retention sweep killed (SIGKILL) after its first batch committed.
/// Every record a sweep deleted must be accounted for by a `retention.sweep` receipt in
/// the audit log; a sweep that wrote its one receipt at the end left the batches of a
/// killed run deleted without any trace.
#[test]
fn a_sweep_killed_between_batches_leaves_a_receipt_for_every_deletion() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (db, keys) = (dir.path().join("t.db"), dir.path().join("keys.json"));
    let clock = TestClock::at(T0);
    let receipts = |g: &Instance| {
        rt().block_on(async {
            let entries = g.audit().entries(&g.admin(), 0, 1000).await.unwrap();
            assert!(g.audit().verify(&g.admin()).await.unwrap().is_valid());
            entries
                .iter()
                .filter(|e| e.action == "retention.sweep")
                .map(|e| e.details["deleted.run_log"].parse::<u64>().unwrap())
                .sum::<u64>()
        })
    };
    let remaining = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM tg_records WHERE tenant_id = 'acme'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    {
        let g = sweep_instance(&db, &keys, &clock);
        rt().block_on(async {
            let acme = g.svc("acme");
            g.keys().create_tenant(&acme).await.unwrap();
            for i in 0..20 {
                g.records()
                    .put(
                        &acme,
                        &format!("log-{i:02}"),
                        tenantguard::retention::RUN_LOG,
                        None,
                        b"x",
                    )
                    .await
                    .unwrap();
            }
        });
    }
    let mut child = crate::rerun::rerun(SWEEP_CHILD)
        .args(["-q"])
        .env(SWEEP_DB, &db)
        .env(SWEEP_KEYS, &keys)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut said = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    while !said.starts_with("deleted ") {
        said.clear();
        assert!(
            out.read_line(&mut said).unwrap() > 0,
            "the child ended early"
        );
    }
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
    assert_eq!(said.trim(), "deleted 5");

    let g = sweep_instance(&db, &keys, &clock);
    assert_eq!(remaining(), 15);
    assert_eq!(receipts(&g), 5, "records deleted without a sweep receipt");
    // Run again to the end: every deletion has its receipt, none twice.
    clock.set(T0 + 90 * tenantguard::retention::DAY + 1);
    let r = rt()
        .block_on(g.retention().sweep(&g.svc("acme"), 5, |_| {}))
        .unwrap();
    assert_eq!(r.total(), 15);
    assert_eq!(remaining(), 0);
    assert_eq!(receipts(&g), 20);
}

/// A small deterministic generator (xorshift64*): the same mutations on every run.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % below.max(1)
    }

    /// `valid` cut short, with a byte changed, removed or repeated, or with a huge number
    /// put where a number or a line was.
    fn mutate(&mut self, valid: &[u8]) -> Vec<u8> {
        let mut b = valid.to_vec();
        let at = self.next(b.len());
        match self.next(6) {
            0 => b.truncate(at),
            1 => b[at] ^= 1 << self.next(8),
            2 => {
                b.remove(at);
            }
            3 => b.insert(at, b[at]),
            4 => {
                let end = (at + 1 + self.next(24)).min(b.len());
                b.splice(at..end, b"18446744073709551615".iter().copied());
            }
            _ => {
                let end = (at + 1 + self.next(8)).min(b.len());
                b.splice(at..end, b"\n\n".iter().copied());
            }
        }
        b
    }
}

/// Hostile bytes to every offline verifier (export bundle, witnessed bundle, inclusion and
/// consistency proofs, JSON Lines): genuine ones cut, flipped, spliced with huge numbers
/// and blank lines. Each verifier returns a typed outcome, never panics, and never calls
/// a changed bundle or proof valid.
#[test]
fn mutated_exports_and_proofs_are_refused_without_a_panic() {
    use tenantguard::audit::export::{verify_consistency_proof, verify_export, ExportVerdict};
    use tenantguard::audit::{
        attach_cosigned_note, verify_export_witnessed, Witness, WitnessedVerdict,
    };
    rt().block_on(async {
        let d = Deployment::new();
        let g = d.instance();
        g.keys().create_tenant(&g.svc("acme")).await.unwrap();
        events(&g, 2, "m").await;
        let old = g.audit().checkpoint(&g.admin()).await.unwrap();
        events(&g, 3, "m").await;
        let keys = g.audit().public_keys().await.unwrap();
        let mut bundle = Vec::new();
        let cp = g
            .audit()
            .export_bundle(&g.admin(), &mut bundle)
            .await
            .unwrap();
        let incl = g
            .audit()
            .inclusion_proof(&g.admin(), 3)
            .await
            .unwrap()
            .to_text();
        let cons = g
            .audit()
            .consistency_proof(&g.admin(), old.checkpoint.size)
            .await
            .unwrap()
            .to_text();
        let mut jsonl = Vec::new();
        g.audit().export(&g.admin(), &mut jsonl).await.unwrap();
        let witness = Witness::new("witness.example.com/w1", &[7u8; 32], keys.clone()).unwrap();
        let cosigned = witness
            .cosign(cp.note.as_bytes(), 0, &[], T0 as u64)
            .unwrap();
        let witnessed = attach_cosigned_note(&bundle, &cosigned).unwrap();
        let wkey = witness.public();

        // The genuine ones verify.
        assert!(verify_export(&bundle, &keys, Some(old.note.as_bytes())).is_valid());
        assert!(verify_inclusion_proof(incl.as_bytes(), &keys).is_ok());
        assert!(verify_consistency_proof(old.note.as_bytes(), cons.as_bytes(), &keys).is_ok());
        assert!(matches!(
            verify_export_witnessed(&witnessed, &keys, None, std::slice::from_ref(&wkey)),
            WitnessedVerdict::Valid { .. }
        ));

        let mut m = Mutator(0x5eed_0f7e_5757);
        for round in 0..20 {
            let b = m.mutate(&bundle);
            if b != bundle {
                let v = verify_export(&b, &keys, Some(old.note.as_bytes()));
                assert!(
                    !matches!(v, ExportVerdict::Valid(_)),
                    "round {round}: {v:?}"
                );
            }
            let w = m.mutate(&witnessed);
            if w != witnessed {
                let v = verify_export_witnessed(&w, &keys, None, std::slice::from_ref(&wkey));
                assert!(
                    !matches!(v, WitnessedVerdict::Valid { .. }),
                    "round {round}: witnessed {v:?}"
                );
            }
            let p = m.mutate(incl.as_bytes());
            if p != incl.as_bytes() {
                assert!(verify_inclusion_proof(&p, &keys).is_err(), "round {round}");
            }
            let p = m.mutate(cons.as_bytes());
            if p != cons.as_bytes() {
                assert!(
                    verify_consistency_proof(old.note.as_bytes(), &p, &keys).is_err(),
                    "round {round}: {:?} -> {:?}",
                    cons,
                    String::from_utf8_lossy(&p)
                );
            }
            let e = m.mutate(old.note.as_bytes());
            if e != old.note.as_bytes() {
                assert!(!matches!(
                    verify_export(&bundle, &keys, Some(&e)),
                    ExportVerdict::Valid(_)
                ));
            }
            let j = m.mutate(&jsonl);
            let _ = verify_jsonl(&j[..], &VerifyOptions::default());
        }
    });
}

const APPEND_DIR: &str = "TG_RT3_APPEND_DIR";
const APPEND_CHILD: &str = "red_team::append_child_process";

/// A guard on the append test's files: key file, SQLite file and a file sink, a
/// checkpoint every 3 entries.
fn append_instance(dir: &std::path::Path) -> Instance {
    let sink = FileCheckpointSink::open(dir.join("cp.log")).unwrap();
    let (g, cap) = Guard::builder()
        .key_provider(LocalKeyProvider::open_or_create(dir.join("keys.json")).unwrap())
        .store_arc(Arc::new(SqliteStore::open(dir.join("t.db")).unwrap()))
        .clock(TestClock::at(T0))
        .audit_transparency(TransparencyConfig {
            sinks: vec![Arc::new(sink)],
            every_entries: 3,
            ..Default::default()
        })
        .build_with_service()
        .unwrap();
    Instance {
        g,
        cap: Rc::new(cap),
    }
}

/// Run by [`appenders_killed_at_any_moment_leave_a_log_that_checkpoints_and_verifies`]
/// in a child process: appends (and checkpoints every 3 entries) until killed, printing
/// each `seq` it appended.
#[test]
#[ignore = "child process of appenders_killed_at_any_moment_leave_a_log_that_checkpoints_and_verifies"]
fn append_child_process() {
    use std::io::Write;
    let Some(dir) = std::env::var_os(APPEND_DIR) else {
        return;
    };
    let g = append_instance(dir.as_ref());
    rt().block_on(async {
        let ctx = g.svc("acme");
        for i in 0.. {
            let e = g
                .audit()
                .record(
                    &ctx,
                    AuditEvent::new(AuditAction::PolicyChange, format!("p{i}")),
                )
                .await
                .unwrap();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", e.seq);
            let _ = out.flush();
        }
    });
}

/// Attack (crashes): processes appending and checkpointing, each killed (SIGKILL) at
/// whatever point it has reached (inside an append, a checkpoint signature or a sink
/// write). Afterwards a new instance still checkpoints (the sinks never hold a checkpoint
/// the database does not extend), the stored log verifies, and its export verifies against
/// the sink's latest checkpoint.
#[test]
fn appenders_killed_at_any_moment_leave_a_log_that_checkpoints_and_verifies() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    {
        let g = append_instance(dir.path());
        rt().block_on(g.keys().create_tenant(&g.svc("acme")))
            .unwrap();
    }
    let mut appended = 0u64;
    for round in 0..3u64 {
        let mut child = crate::rerun::rerun(APPEND_CHILD)
            .args(["-q"])
            .env(APPEND_DIR, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        // Killed after a different number of its own appends each round (4, 8, 12), while
        // it goes on appending: where exactly it stops is up to the scheduler.
        let (mut line, mut seen) = (String::new(), 0);
        while seen < 4 * (round + 1) {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the child ended early"
            );
            // The test harness writes its own lines too.
            if let Ok(seq) = line.trim().parse() {
                appended = seq;
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        assert!(!child.wait().unwrap().success());
    }
    let g = append_instance(dir.path());
    rt().block_on(async {
        let latest = FileCheckpointSink::open(dir.path().join("cp.log"))
            .unwrap()
            .latest(&TenantId::new("acme").unwrap())
            .await
            .unwrap()
            .expect("checkpoints were published");
        let cp = g.audit().checkpoint(&g.admin()).await.unwrap();
        assert!(cp.checkpoint.size >= appended.max(latest.size));
        assert!(g.audit().verify(&g.admin()).await.unwrap().is_valid());
        let keys = g.audit().public_keys().await.unwrap();
        let mut bundle = Vec::new();
        g.audit()
            .export_bundle(&g.admin(), &mut bundle)
            .await
            .unwrap();
        assert!(tenantguard::audit::export::verify_export(
            &bundle,
            &keys,
            Some(latest.note.as_bytes())
        )
        .is_valid());
    });
}

/// Attack (a malicious tenant owner): acme's owner erases a subject whose records and
/// audit entries also exist in beta, and sweeps with a one-second window. Only acme's
/// records and acme's entries go: beta's records stay, beta's entries keep their personal
/// fields, and both logs verify.
#[test]
fn one_tenants_erasure_and_sweep_never_reach_another_tenant() {
    rt().block_on(async {
        let d = Deployment::new();
        let g = d.instance();
        for t in ["acme", "beta"] {
            let svc = g.svc(t);
            g.keys().create_tenant(&svc).await.unwrap();
            g.records()
                .put(
                    &svc,
                    "bob-log",
                    tenantguard::retention::RUN_LOG,
                    Some("bob"),
                    b"x",
                )
                .await
                .unwrap();
            g.audit()
                .record(
                    &g.user(t, "bob", Role::Admin),
                    AuditEvent::new(AuditAction::PolicyChange, "egress").reason("bob's change"),
                )
                .await
                .unwrap();
        }
        g.members()
            .set(&g.svc("acme"), &UserId::new("olga").unwrap(), Role::Owner)
            .await
            .unwrap();
        let owner = g.user("acme", "olga", Role::Owner);
        let r = g
            .retention()
            .erase_subject(&owner, "bob", 100)
            .await
            .unwrap();
        assert_eq!((r.deleted, r.audit_erased), (1, 1));
        g.retention()
            .set(
                &owner,
                tenantguard::retention::RUN_LOG,
                RetentionWindow::Secs(1),
            )
            .await
            .unwrap();
        d.clock.set(T0 + 10);
        g.retention().sweep(&owner, 100, |_| {}).await.unwrap();

        let beta = g.user("beta", "bea", Role::Admin);
        let kept = g.records().open_record(&g.svc("beta"), "bob-log").await;
        assert!(kept.is_ok(), "{kept:?}");
        let named: Vec<_> = g
            .audit()
            .entries(&beta, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.names_subject("bob"))
            .collect();
        assert_eq!(
            named.len(),
            1,
            "beta's entry naming bob lost its personal fields"
        );
        assert!(!named[0].is_erased());
        for ctx in [g.admin(), beta] {
            assert!(g.audit().verify(&ctx).await.unwrap().is_valid());
        }
    });
}
