//! Audit transparency end to end: entry MACs, signed checkpoints, sinks, export bundles
//! and their offline verification, inclusion and consistency proofs, and every tamper
//! class a database writer (or a bundle editor) can try, each with its own reason.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::tg_cap;

use crate::gov_support;

use std::sync::Arc;

use gov_support::*;
use tenantguard::audit::export::{
    parse_canonical_line, verify_consistency_proof, verify_export, verify_inclusion_proof,
    ExportVerdict, TamperReason,
};
use tenantguard::audit::{
    AuditAction, AuditDraft, AuditEntry, AuditEvent, AuditPublicKey, CheckpointSink,
    FileCheckpointSink, SinkError, TransparencyConfig, VerifyProblem, EXPORT_HEADER,
};
use tenantguard::tenant::Role;
use tenantguard::{Error, Guard, KeyProvider, LocalKeyProvider, SqliteStore, Store, TenantContext};

fn admin() -> TenantContext {
    user("acme", "ada", Role::Admin)
}

fn build(
    store: Arc<dyn Store>,
    kek: &Arc<dyn KeyProvider>,
    clock: &TestClock,
    cfg: TransparencyConfig,
) -> Guard {
    Guard::builder()
        .key_provider_arc(kek.clone())
        .store_arc(store)
        .clock(clock.clone())
        .audit_transparency(cfg)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

/// A SQLite file with a file checkpoint sink: every guard built on it (a second instance,
/// a restart) sees the same log, and a test can open the file as a database writer.
struct OnSqlite {
    dir: tempfile::TempDir,
    path: std::path::PathBuf,
    kek: Arc<dyn KeyProvider>,
    clock: TestClock,
}

impl OnSqlite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        OnSqlite {
            path: dir.path().join("t.db"),
            dir,
            kek: Arc::new(LocalKeyProvider::ephemeral()),
            clock: TestClock::at(T0),
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }

    /// The database writer: the file opened directly, its no-update and no-delete
    /// triggers dropped.
    fn writer(&self) -> Writer {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch("DROP TRIGGER tg_audit_no_update; DROP TRIGGER tg_audit_no_delete")
            .unwrap();
        Writer(conn)
    }

    fn guard(&self) -> Guard {
        let sink = FileCheckpointSink::open(self.dir.path().join("cp.log")).unwrap();
        let cfg = TransparencyConfig {
            sinks: vec![Arc::new(sink)],
            ..Default::default()
        };
        build(self.store(), &self.kek, &self.clock, cfg)
    }
}

/// See [`OnSqlite::writer`]: reads and writes tenant `acme`'s audit rows.
struct Writer(rusqlite::Connection);

impl Writer {
    fn row(&self, seq: u64) -> AuditEntry {
        let j: String = self
            .0
            .query_row(
                "SELECT entry FROM tg_audit WHERE tenant_id = 'acme' AND seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&j).unwrap()
    }

    /// Rewrites entry `e.seq` (its erasable fields stay as they are), or adds it.
    fn put(&self, e: &AuditEntry) {
        let (seq, json) = (e.seq as i64, serde_json::to_string(e).unwrap());
        let sql = "UPDATE tg_audit SET hash = ?2, entry = ?3 WHERE tenant_id = 'acme' AND seq = ?1";
        if self
            .0
            .execute(sql, rusqlite::params![seq, e.hash, json])
            .unwrap()
            == 0
        {
            self.0
                .execute(
                    "INSERT INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('acme', ?1, ?2, ?3)",
                    rusqlite::params![seq, e.hash, json],
                )
                .unwrap();
        }
    }
}

async fn events(g: &Guard, n: usize) {
    for i in 0..n {
        g.audit()
            .record(
                &service("acme"),
                AuditEvent::new(AuditAction::EgressDecision, format!("provider:p{i}"))
                    .detail("decision", "redacted"),
            )
            .await
            .unwrap();
    }
}

async fn export(g: &Guard) -> String {
    let mut out = Vec::new();
    g.audit().export_bundle(&admin(), &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

fn lines_of(bundle: &str) -> (Vec<String>, String) {
    let (entries, note) = bundle.split_once("\ncheckpoint\n").unwrap();
    let mut l: Vec<String> = entries.lines().map(str::to_owned).collect();
    assert_eq!(l.remove(0), EXPORT_HEADER);
    (l, note.to_owned())
}

fn join(lines: &[String], note: &str) -> Vec<u8> {
    let mut s = format!("{EXPORT_HEADER}\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("checkpoint\n");
    s.push_str(note);
    s.into_bytes()
}

fn reason(v: ExportVerdict) -> TamperReason {
    match v {
        ExportVerdict::Tampered { reason, .. } => reason,
        other => panic!("not tampered: {other:?}"),
    }
}

/// Re-chains entries from `from` (0-based) on: what a writer who rewrites a suffix does
/// to keep `prev`/`hash` consistent (the unkeyed chain is no obstacle).
fn rechain(lines: &mut [String], from: usize) {
    let mut prev = if from == 0 {
        tenantguard::audit::GENESIS.to_owned()
    } else {
        parse_canonical_line(lines[from - 1].as_bytes())
            .unwrap()
            .hash
    };
    for (i, l) in lines.iter_mut().enumerate().skip(from) {
        let mut e: AuditEntry = serde_json::from_str(l).unwrap();
        e.seq = i as u64 + 1;
        e.prev = prev.clone();
        e.hash = e.compute_hash();
        prev = e.hash.clone();
        *l = e.canonical_line();
    }
}

fn audit_problem(e: Error) -> VerifyProblem {
    match e {
        Error::Audit(tenantguard::audit::AuditError::Broken { problem, .. }) => problem,
        other => panic!("expected a broken log, got {other:?}"),
    }
}

#[test]
fn export_verifies_offline_and_every_tamper_class_has_its_reason() {
    rt().block_on(async {
        for (name, store, _dir) in stores() {
            let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
            let clock = TestClock::at(T0);
            let g = build(store, &kek, &clock, TransparencyConfig::default());
            g.keys().create_tenant(&service("acme")).await.unwrap();
            events(&g, 6).await;
            let early = g.audit().checkpoint(&admin()).await.unwrap();
            assert_eq!(early.checkpoint.size, 7, "{name}");
            events(&g, 4).await;
            let bundle = export(&g).await;
            let pk = g.audit().public_key().await.unwrap();
            // Customers keep the verifier key string; it round-trips.
            let pk = AuditPublicKey::parse(&pk.to_vkey()).unwrap();
            let keys = [pk];
            let early_note = early.note.as_bytes();
            match verify_export(bundle.as_bytes(), &keys, Some(early_note)) {
                ExportVerdict::Valid(s) => {
                    assert_eq!(s.entries, 11, "{name}");
                    assert_eq!(s.tenant.as_deref(), Some("acme"));
                    assert_eq!(s.legacy_entries, 0);
                    assert_eq!(s.checkpoint.origin, "tenantguard/audit/acme");
                }
                v => panic!("{name}: {v:?}"),
            }
            let (lines, note) = lines_of(&bundle);
            let check = |l: &[String], n: &str, earlier: Option<&[u8]>| {
                reason(verify_export(&join(l, n), &keys, earlier))
            };

            // Tail truncation.
            assert_eq!(
                check(&lines[..9], &note, None),
                TamperReason::Truncated {
                    checkpoint_size: 11,
                    entries: 9
                },
                "{name}"
            );
            // Suffix rewrite, re-hashed so the chain is consistent.
            let mut l = lines.clone();
            l[8] = l[8].replace("\"redacted\"", "\"allowed\"");
            assert_ne!(l[8], lines[8]);
            rechain(&mut l, 8);
            assert_eq!(check(&l, &note, None), TamperReason::RootMismatch);
            // Reordering (two lines swapped).
            let mut l = lines.clone();
            l.swap(3, 4);
            assert_eq!(
                check(&l, &note, None),
                TamperReason::Missing {
                    expected: 4,
                    found: 5
                }
            );
            let mut l = lines.clone();
            let moved = l.remove(2);
            l.push(moved);
            assert!(matches!(
                check(&l, &note, None),
                TamperReason::Missing { .. }
            ));
            // Reordering re-numbered and re-chained.
            let mut l = lines.clone();
            l.swap(8, 9);
            rechain(&mut l, 8);
            assert_eq!(check(&l, &note, None), TamperReason::RootMismatch);
            // Duplication of a line.
            let mut l = lines.clone();
            l.insert(5, l[4].clone());
            assert_eq!(
                check(&l, &note, None),
                TamperReason::OutOfOrder {
                    expected: 6,
                    found: 5
                }
            );
            // Insertion of a forged entry, the rest re-numbered and re-chained.
            let mut l = lines.clone();
            l.insert(2, l[2].replace("\"redacted\"", "\"forged\""));
            rechain(&mut l, 2);
            l.truncate(11);
            assert_eq!(check(&l, &note, None), TamperReason::RootMismatch);
            // Entries appended after the checkpoint.
            let mut l = lines.clone();
            l.push(l[10].clone());
            rechain(&mut l, 11);
            assert_eq!(
                check(&l, &note, None),
                TamperReason::Unattested {
                    checkpoint_size: 11,
                    entries: 12
                }
            );
            // An entry altered in place (hash not recomputed).
            let mut l = lines.clone();
            l[3] = l[3].replace("redacted", "allowed!");
            assert_eq!(check(&l, &note, None), TamperReason::EntryAltered);
            // A MAC stripped from an entry (as a forger without the key must).
            let mut l = lines.clone();
            let mut e: AuditEntry = serde_json::from_str(&l[10]).unwrap();
            e.mac = None;
            e.hash = e.compute_hash();
            l[10] = e.canonical_line();
            assert_eq!(check(&l, &note, None), TamperReason::MacMissing);
            // Duplicate JSON keys, top level and inside details.
            let mut l = lines.clone();
            l[1] = l[1].replacen("{\"action\":", "{\"action\":\"x\",\"action\":", 1);
            assert_eq!(check(&l, &note, None), TamperReason::DuplicateKey);
            let mut l = lines.clone();
            l[1] = l[1].replacen("\"details\":{", "\"details\":{\"decision\":\"denied\",", 1);
            assert_eq!(check(&l, &note, None), TamperReason::DuplicateKey);
            // Non-canonical JSON: whitespace, key order, escapes.
            let mut l = lines.clone();
            l[1] = l[1].replacen(",\"actor\":", ", \"actor\":", 1);
            assert_eq!(check(&l, &note, None), TamperReason::NonCanonical);
            let mut l = lines.clone();
            l[1] = l[1].replacen("provider", "\\u0070rovider", 1);
            assert_eq!(check(&l, &note, None), TamperReason::NonCanonical);
            // Altered checkpoint, or one by another key.
            assert_eq!(
                check(&lines, &note.replacen("\n11\n", "\n10\n", 1), None),
                TamperReason::BadSignature
            );
            let other = LocalKeyProvider::ephemeral();
            // A second, unrelated deployment (its capability kept apart from the thread's).
            let (g2, svc2) = Guard::builder()
                .key_provider(other)
                .store(tenantguard::MemoryStore::new())
                .clock(clock.clone())
                .build_with_service()
                .unwrap();
            let acme2 = TenantContext::service(tenantguard::TenantId::new("acme").unwrap(), &svc2);
            let other_key = g2.audit().public_key().await.unwrap();
            assert_eq!(
                reason(verify_export(bundle.as_bytes(), &[other_key], None)),
                TamperReason::UnknownKey
            );
            // A fork: the customer's earlier checkpoint is of another history (the
            // second guard's log of acme).
            g2.keys().create_tenant(&acme2).await.unwrap();
            let foreign = g2.audit().checkpoint(&acme2).await.unwrap();
            let both = [keys[0].clone(), g2.audit().public_key().await.unwrap()];
            assert_eq!(
                reason(verify_export(
                    bundle.as_bytes(),
                    &both,
                    Some(foreign.note.as_bytes())
                )),
                TamperReason::Fork
            );
            // Rollback: the earlier checkpoint is bigger than the export's.
            let later = g.audit().checkpoint(&admin()).await.unwrap();
            events(&g, 1).await;
            let later2 = g.audit().checkpoint(&admin()).await.unwrap();
            assert_eq!(later2.checkpoint.size, later.checkpoint.size + 1);
            assert_eq!(
                reason(verify_export(
                    bundle.as_bytes(),
                    &keys,
                    Some(later2.note.as_bytes())
                )),
                TamperReason::Rollback {
                    earlier: 12,
                    latest: 11
                }
            );
            // Not a bundle.
            assert_eq!(
                reason(verify_export(b"{}\n", &keys, None)),
                TamperReason::BundleMalformed
            );
        }
    });
}

#[test]
fn inclusion_and_consistency_proofs_are_logarithmic_and_verify_offline() {
    rt().block_on(async {
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let g = build(
            Arc::new(tenantguard::MemoryStore::new()),
            &kek,
            &clock,
            TransparencyConfig::default(),
        );
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 20).await;
        let old = g.audit().checkpoint(&admin()).await.unwrap();
        events(&g, 79).await;
        let keys = [g.audit().public_key().await.unwrap()];
        let p = g.audit().inclusion_proof(&admin(), 13).await.unwrap();
        assert_eq!(p.index, 12);
        assert!(p.hashes.len() <= 7, "{}", p.hashes.len());
        let (e, cp) = verify_inclusion_proof(p.to_text().as_bytes(), &keys).unwrap();
        assert_eq!((e.seq, cp.size), (13, 100));
        // Another entry's line with this proof, or an altered hash, fails.
        let text = p.to_text();
        let other = g.audit().entries(&admin(), 13, 1).await.unwrap().remove(0);
        let swapped = text.replacen(&p.entry_line, &other.canonical_line(), 1);
        assert_eq!(
            verify_inclusion_proof(swapped.as_bytes(), &keys).unwrap_err(),
            TamperReason::ProofMismatch
        );
        let mut bad = p.clone();
        bad.hashes[0][0] ^= 1;
        assert_eq!(
            verify_inclusion_proof(bad.to_text().as_bytes(), &keys).unwrap_err(),
            TamperReason::ProofMismatch
        );

        let c = g
            .audit()
            .consistency_proof(&admin(), old.checkpoint.size)
            .await
            .unwrap();
        assert!(c.hashes.len() <= 14);
        let new =
            verify_consistency_proof(old.note.as_bytes(), c.to_text().as_bytes(), &keys).unwrap();
        assert_eq!(new.size, 100);
        let mut bad = c.clone();
        bad.hashes[1][31] ^= 0x80;
        assert_eq!(
            verify_consistency_proof(old.note.as_bytes(), bad.to_text().as_bytes(), &keys)
                .unwrap_err(),
            TamperReason::Fork
        );
    });
}

#[test]
fn checkpoints_are_issued_by_count_and_by_age_into_an_append_only_file() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("checkpoints.log");
        let sink = Arc::new(FileCheckpointSink::open(&file).unwrap());
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let cfg = TransparencyConfig {
            every_entries: 5,
            every: std::time::Duration::from_secs(60),
            sinks: vec![sink.clone()],
            ..Default::default()
        };
        let g = build(Arc::new(tenantguard::MemoryStore::new()), &kek, &clock, cfg);
        let acme = tenantguard::TenantId::new("acme").unwrap();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 3).await;
        assert_eq!(
            sink.latest(&acme).await.unwrap(),
            None,
            "4 < 5 entries, 0 s"
        );
        events(&g, 1).await;
        assert_eq!(sink.latest(&acme).await.unwrap().unwrap().size, 5);
        events(&g, 2).await;
        assert_eq!(sink.latest(&acme).await.unwrap().unwrap().size, 5);
        clock.advance(61);
        events(&g, 1).await;
        assert_eq!(sink.latest(&acme).await.unwrap().unwrap().size, 8, "by age");
        // A quiet log: the periodic call signs once the oldest uncovered entry is 60 s old.
        events(&g, 1).await;
        g.audit().checkpoint_due(&admin()).await.unwrap();
        assert_eq!(sink.latest(&acme).await.unwrap().unwrap().size, 8);
        clock.advance(60);
        g.audit().checkpoint_due(&admin()).await.unwrap();
        assert_eq!(sink.latest(&acme).await.unwrap().unwrap().size, 9);
        // The file holds every checkpoint, verifiable with the public key.
        let keys = [g.audit().public_key().await.unwrap()];
        let reopened = FileCheckpointSink::open(&file).unwrap();
        let p = reopened.latest(&acme).await.unwrap().unwrap();
        let cp = tenantguard::audit::open_checkpoint(p.note.as_bytes(), &keys).unwrap();
        assert_eq!((cp.size, cp.root), (9, p.root));
        // The sink refuses to go backwards or to fork, also across handles.
        assert_eq!(
            reopened.publish(&acme, 5, &[0; 32], "x").await,
            Err(SinkError::Backwards {
                held: 9,
                offered: 5
            })
        );
        assert_eq!(
            sink.publish(&acme, 9, &[0; 32], "x").await,
            Err(SinkError::Fork { size: 9 })
        );
        assert_eq!(sink.publish(&acme, 9, &p.root, &p.note).await, Ok(()));
        // A torn line (crash mid-write) is skipped; the next publish starts a new line.
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"acme 99 torn")
            .unwrap();
        events(&g, 5).await;
        let after = FileCheckpointSink::open(&file).unwrap();
        assert_eq!(after.latest(&acme).await.unwrap().unwrap().size, 14);
    });
}

#[test]
fn a_database_writer_cannot_forge_move_or_cut_entries_on_sqlite() {
    rt().block_on(async {
        let db = OnSqlite::new();
        let path = db.path.clone();
        let open = || db.store();
        let g = db.guard();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 5).await;
        g.audit().checkpoint(&admin()).await.unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TRIGGER tg_audit_no_update; DROP TRIGGER tg_audit_no_delete")
            .unwrap();
        let row = |seq: i64| -> AuditEntry {
            let j: String = conn
                .query_row("SELECT entry FROM tg_audit WHERE seq = ?1", [seq], |r| r.get(0))
                .unwrap();
            serde_json::from_str(&j).unwrap()
        };
        let put = |e: &AuditEntry| {
            conn.execute(
                "INSERT OR REPLACE INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('acme', ?1, ?2, ?3)",
                rusqlite::params![e.seq as i64, e.hash, serde_json::to_string(e).unwrap()],
            )
            .unwrap();
        };

        // 1. A forged entry appended with a made-up actor: no key, so no valid MAC.
        let mut forged = row(6);
        forged.seq = 7;
        forged.prev = forged.hash.clone();
        forged.actor = "user:mallory".into();
        forged.hash = forged.compute_hash();
        put(&forged);
        let e = g.audit().checkpoint(&admin()).await.unwrap_err();
        assert_eq!(audit_problem(e), VerifyProblem::MacMismatch);
        // ... or with the MAC stripped.
        forged.mac = None;
        forged.hash = forged.compute_hash();
        put(&forged);
        let g2 = db.guard();
        assert_eq!(
            audit_problem(g2.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::MacMissing
        );
        conn.execute("DELETE FROM tg_audit WHERE seq = 7", []).unwrap();

        // 2. A genuine entry moved (renumbered and re-linked): its MAC covers seq and prev.
        let g3 = db.guard();
        events(&g3, 2).await; // seq 7, 8 (not yet checkpointed)
        let (a, b) = (row(7), row(8));
        let mut b2 = b.clone();
        b2.seq = 7;
        b2.prev = a.prev.clone();
        b2.hash = b2.compute_hash();
        conn.execute("DELETE FROM tg_audit WHERE seq >= 7", []).unwrap();
        put(&b2);
        let g4 = db.guard();
        assert_eq!(
            audit_problem(g4.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::MacMismatch
        );
        conn.execute("DELETE FROM tg_audit WHERE seq >= 7", []).unwrap();
        put(&a);
        put(&b);

        // 3. Entries cut below the published checkpoint: a new instance sees the sink's
        //    checkpoint and refuses the shorter log.
        let g5 = db.guard();
        assert_eq!(g5.audit().checkpoint(&admin()).await.unwrap().checkpoint.size, 8);
        conn.execute("DELETE FROM tg_audit WHERE seq >= 6", []).unwrap();
        let g6 = db.guard();
        assert!(matches!(
            audit_problem(g6.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::Truncated { expected: 8, found: 5 }
        ));
        // 4. ... and a same-length log of other (re-MACed by nobody) content is a fork:
        //    put back a legacy-looking, MAC-less history of the right length.
        conn.execute("DELETE FROM tg_audit", []).unwrap();
        let s = open();
        for i in 0..8 {
            s.append_audit(
                &service("acme"),
                &AuditDraft {
                    time: T0 + i,
                    actor: "service".into(),
                    action: "test".into(),
                    target: format!("t{i}"),
                    reason: None,
                    details: Default::default(),
                    mac_key: None,
                    personal_salt: None,
                },
            )
            .await
            .unwrap();
        }
        let g7 = db.guard();
        assert_eq!(
            audit_problem(g7.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::Fork
        );
    });
}

/// An instance extends its signed tree with the entries it appended itself, without
/// reading them back from the store. A database writer who alters such an entry before the
/// next checkpoint does not get the alteration signed: the checkpoint commits to what was
/// written (its root is the root of the original entries), and every check of the stored
/// log (online verification, a second instance, the offline export) reports the change.
#[test]
fn own_entries_are_checkpointed_as_written_not_as_altered() {
    rt().block_on(async {
        let db = OnSqlite::new();
        let g = db.guard();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 3).await;
        assert_eq!(
            g.audit()
                .checkpoint(&admin())
                .await
                .unwrap()
                .checkpoint
                .size,
            4
        );
        events(&g, 3).await; // seq 5 to 7: this instance's own, after its checkpoint

        let w = db.writer();
        let written: Vec<AuditEntry> = (1..=7).map(|seq| w.row(seq)).collect();
        let leaves: Vec<_> = written
            .iter()
            .map(|e| tenantguard::audit::merkle::leaf_hash(e.leaf_line().as_bytes()))
            .collect();
        let root_as_written = tenantguard::audit::merkle::root(&leaves);

        // The writer rewrites entry 6's details and fixes its hash and the next link.
        let mut altered = written[5].clone();
        altered.details.insert("decision".into(), "allowed".into());
        altered.hash = altered.compute_hash();
        let mut next = written[6].clone();
        next.prev = altered.hash.clone();
        next.hash = next.compute_hash();
        w.put(&altered);
        w.put(&next);

        let cp = g.audit().checkpoint(&admin()).await.unwrap().checkpoint;
        assert_eq!((cp.size, cp.root), (7, root_as_written));
        assert!(!g.audit().verify(&admin()).await.unwrap().is_valid());
        // Contexts are bound to the capability that vouched for them: g's, made before g2.
        let g_admin = admin();
        let g2 = db.guard();
        assert_eq!(
            audit_problem(g2.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::MacMismatch
        );
        // The export checks the stored log against the signed tree and refuses it.
        let refused = g.audit().export_bundle(&g_admin, &mut Vec::new()).await;
        assert_eq!(audit_problem(refused.unwrap_err()), VerifyProblem::Fork);
    });
}

/// The shortcut for an instance's own entries applies only right after what its tree
/// holds. A writer's entry slipped in between (a forged one) is still read back and
/// checked, and so is an own entry the store chained to a head the writer altered: the
/// checkpoint refuses both instead of signing past them.
#[test]
fn a_writers_entry_next_to_own_entries_is_still_checked() {
    rt().block_on(async {
        // A forged entry right after the tree, then an entry of the instance's own.
        let db = OnSqlite::new();
        let g = db.guard();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 3).await;
        g.audit().checkpoint(&admin()).await.unwrap(); // the tree holds 1 to 4
        let w = db.writer();
        let mut forged = w.row(4);
        forged.seq = 5;
        forged.prev = forged.hash.clone();
        forged.details.insert("decision".into(), "allowed".into());
        forged.hash = forged.compute_hash();
        w.put(&forged);
        events(&g, 1).await; // seq 6, chained to the forged entry
        assert_eq!(
            audit_problem(g.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::MacMismatch
        );

        // The tree's head altered in the store, then an own entry chained to it.
        let db = OnSqlite::new();
        let g = db.guard();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 3).await;
        g.audit().checkpoint(&admin()).await.unwrap();
        let w = db.writer();
        let mut head = w.row(4);
        head.details.insert("decision".into(), "allowed".into());
        head.hash = head.compute_hash();
        w.put(&head);
        events(&g, 1).await; // seq 5, chained by the store to the altered hash
        assert_eq!(
            audit_problem(g.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::BrokenLink
        );
    });
}

/// Erasable personal fields against a database writer: an erasure made by the SDK
/// verifies (online and in an offline export); fields deleted behind the SDK's back, or
/// altered, or moved to another entry, do not.
#[test]
fn personal_fields_are_erasable_but_a_database_writer_cannot_hide_or_alter_them() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(&path).unwrap()) };
        let g = build(open(), &kek, &clock, TransparencyConfig::default());
        g.keys().create_tenant(&service("acme")).await.unwrap();
        for who in ["alice", "bob", "carol"] {
            g.audit()
                .record(
                    &service("acme"),
                    AuditEvent::new(AuditAction::EgressDecision, format!("user:{who}"))
                        .reason(format!("{who} asked")),
                )
                .await
                .unwrap();
        }
        let seq_of = |who: &'static str| {
            let g = &g;
            async move {
                g.audit()
                    .entries(&admin(), 0, 100)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|e| e.target == format!("user:{who}"))
                    .unwrap()
                    .seq
            }
        };
        let (bob, carol) = (seq_of("bob").await, seq_of("carol").await);
        let r = g
            .retention()
            .erase_subject(&service("acme"), "alice", 10)
            .await
            .unwrap();
        assert_eq!(r.audit_erased, 1);
        assert_eq!(
            g.audit()
                .verify(&admin())
                .await
                .unwrap()
                .report()
                .unwrap()
                .erased_entries,
            1
        );
        let bundle = export(&g).await;
        assert!(
            !bundle.contains("alice"),
            "the export still names the subject"
        );
        let keys = [g.audit().public_key().await.unwrap()];
        match verify_export(bundle.as_bytes(), &keys, None) {
            ExportVerdict::Valid(s) => assert_eq!(s.erased_entries, 1),
            other => panic!("{other:?}"),
        }

        let conn = rusqlite::Connection::open(&path).unwrap();
        let personal = |seq: u64| -> String {
            conn.query_row(
                "SELECT personal FROM tg_audit WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .unwrap()
        };
        let problem = || async {
            audit_problem(
                g.audit()
                    .verify(&admin())
                    .await
                    .unwrap()
                    .into_result()
                    .unwrap_err()
                    .into(),
            )
        };
        let (bob_row, carol_row) = (personal(bob), personal(carol));
        // 1. Cleared without the SDK (to hide who did something; the trigger lets a writer
        //    clear the column, as erasure does): no receipt lists it.
        conn.execute(
            "UPDATE tg_audit SET personal = NULL WHERE seq = ?1",
            [bob as i64],
        )
        .unwrap();
        assert_eq!(problem().await, VerifyProblem::ErasedWithoutReceipt);
        // Any other update is refused by the trigger...
        let put = |seq: u64, p: &str| {
            conn.execute(
                "UPDATE tg_audit SET personal = ?2 WHERE seq = ?1",
                rusqlite::params![seq as i64, p],
            )
        };
        assert!(put(bob, &bob_row)
            .unwrap_err()
            .to_string()
            .contains("append-only"));
        // ... so the writer drops it.
        conn.execute_batch("DROP TRIGGER tg_audit_no_update")
            .unwrap();
        put(bob, &bob_row).unwrap();
        assert!(g.audit().verify(&admin()).await.unwrap().is_valid());
        // 2. Altered in place: the commitment refuses it.
        put(bob, &bob_row.replace("user:bob", "user:bod")).unwrap();
        assert_eq!(problem().await, VerifyProblem::PersonalMismatch);
        // 3. Swapped with another entry's fields, salt and all: each salt commits to its own
        //    entry only through that entry's `personal`, so the swap does not match.
        put(bob, &carol_row).unwrap();
        put(carol, &bob_row).unwrap();
        assert_eq!(problem().await, VerifyProblem::PersonalMismatch);
        put(bob, &bob_row).unwrap();
        put(carol, &carol_row).unwrap();
        assert!(g.audit().verify(&admin()).await.unwrap().is_valid());
        // 4. The same in an export a customer holds: fields altered, or dropped.
        let (lines, note) = lines_of(&bundle);
        let at = lines.iter().position(|l| l.contains("user:bob")).unwrap();
        let mut l = lines.clone();
        l[at] = l[at].replace("bob asked", "nobody asked");
        assert_eq!(
            reason(verify_export(&join(&l, &note), &keys, None)),
            TamperReason::PersonalAltered
        );
        let mut e = parse_canonical_line(lines[at].as_bytes()).unwrap();
        e.erase_personal();
        let mut l = lines.clone();
        l[at] = e.canonical_line();
        assert_eq!(
            reason(verify_export(&join(&l, &note), &keys, None)),
            TamperReason::ErasedWithoutReceipt
        );
    });
}

#[test]
fn an_existing_log_is_sealed_into_the_first_checkpoint() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        // Entries written by a release without MACs (the same rows it wrote).
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        for i in 0..3 {
            store
                .append_audit(
                    &service("acme"),
                    &AuditDraft {
                        time: T0 + i,
                        actor: "user:old".into(),
                        action: "membership.change".into(),
                        target: format!("user:{i}"),
                        reason: Some("legacy".into()),
                        details: Default::default(),
                        mac_key: None,
                        personal_salt: None,
                    },
                )
                .await
                .unwrap();
        }
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0 + 10);
        let g = build(store.clone(), &kek, &clock, TransparencyConfig::default());
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 2).await;
        let bundle = export(&g).await;
        let keys = [g.audit().public_key().await.unwrap()];
        match verify_export(bundle.as_bytes(), &keys, None) {
            ExportVerdict::Valid(s) => {
                assert_eq!(s.entries, 6);
                assert_eq!(
                    s.legacy_entries, 3,
                    "nothing lost: the old chain is covered"
                );
            }
            v => panic!("{v:?}"),
        }
        // The old JSON Lines export still verifies too.
        let mut old = Vec::new();
        g.audit().export(&admin(), &mut old).await.unwrap();
        assert!(
            tenantguard::audit::verify_jsonl(&old[..], &Default::default())
                .unwrap()
                .is_valid()
        );
        // After the first MACed entry, a MAC-less one is refused.
        store
            .append_audit(
                &service("acme"),
                &AuditDraft {
                    time: T0 + 20,
                    actor: "user:mallory".into(),
                    action: "tenant.shred".into(),
                    target: "x".into(),
                    reason: None,
                    details: Default::default(),
                    mac_key: None,
                    personal_salt: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            audit_problem(g.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::MacMissing
        );
    });
}

/// Builds the shared vectors (`vectors/audit_export.json`): one good export and one
/// tampered export per class, each with its expected reason; inclusion and consistency
/// proofs, good and bad. Run with TG_WRITE_AUDIT_VECTORS=1 to rewrite the file (the
/// signing key is random, so the file changes each time; the checker below is what CI runs).
#[test]
fn write_audit_vectors_when_asked() {
    if std::env::var("TG_WRITE_AUDIT_VECTORS").is_err() {
        return;
    }
    rt().block_on(async {
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        // SQLite and a file sink: the "restored" case restores a backup of this database.
        let dir = tempfile::tempdir().unwrap();
        let (path, backup) = (dir.path().join("t.db"), dir.path().join("backup.db"));
        let sink = Arc::new(FileCheckpointSink::open(dir.path().join("cp.log")).unwrap());
        let cfg = || TransparencyConfig { sinks: vec![sink.clone()], ..Default::default() };
        let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(&path).unwrap()) };
        let g = build(open(), &kek, &clock, cfg());
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 5).await;
        let early = g.audit().checkpoint(&admin()).await.unwrap();
        events(&g, 5).await;
        // A subject erased: its entry keeps only the commitment, the receipts list it.
        g.audit().record(
            &service("acme"),
            AuditEvent::new(AuditAction::EgressDecision, "user:alice").reason("alice asked"),
        )
        .await
        .unwrap();
        g.retention().erase_subject(&service("acme"), "alice", 10).await.unwrap();
        let bundle = export(&g).await;
        let (lines, note) = lines_of(&bundle);
        let vkey = g.audit().public_key().await.unwrap().to_vkey();
        let mut cases = vec![];
        let mut case = |name: &str, l: &[String], n: &str, earlier: Option<&str>| {
            let bytes = join(l, n);
            let keys = [AuditPublicKey::parse(&vkey).unwrap()];
            let (expect, line) = match verify_export(&bytes, &keys, earlier.map(str::as_bytes)) {
                ExportVerdict::Tampered { reason, line } => (reason.kind().to_owned(), line),
                other => (other.outcome().to_owned(), None),
            };
            cases.push(serde_json::json!({
                "name": name, "bundle": String::from_utf8(bytes).unwrap(),
                "earlier_checkpoint": earlier, "expect": expect, "line": line,
            }));
        };
        case("good", &lines, &note, None);
        case("good_with_earlier_checkpoint", &lines, &note, Some(&early.note));
        case("tail_truncated", &lines[..8], &note, None);
        let mut l = lines.clone();
        l[8] = l[8].replace("\"redacted\"", "\"allowed\"");
        rechain(&mut l, 8);
        case("suffix_rewritten_and_rehashed", &l, &note, None);
        let mut l = lines.clone();
        l.swap(3, 4);
        case("reordered", &l, &note, None);
        let mut l = lines.clone();
        l.insert(5, l[4].clone());
        case("duplicated", &l, &note, None);
        let mut l = lines.clone();
        l.insert(2, l[2].replace("\"redacted\"", "\"forged\""));
        rechain(&mut l, 2);
        l.truncate(lines.len());
        case("inserted_and_renumbered", &l, &note, None);
        let mut l = lines.clone();
        l.push(l[lines.len() - 1].clone());
        rechain(&mut l, lines.len());
        case("appended_after_checkpoint", &l, &note, None);
        let mut l = lines.clone();
        l[3] = l[3].replace("redacted", "allowed!");
        case("entry_altered", &l, &note, None);
        let mut l = lines.clone();
        let last = l.len() - 1;
        let mut e: AuditEntry = serde_json::from_str(&l[last]).unwrap();
        e.mac = None;
        e.hash = e.compute_hash();
        l[last] = e.canonical_line();
        case("mac_stripped", &l, &note, None);
        let mut l = lines.clone();
        l[1] = l[1].replacen("\"details\":{", "\"details\":{\"decision\":\"denied\",", 1);
        case("duplicate_json_key", &l, &note, None);
        let mut l = lines.clone();
        l[1] = l[1].replacen(",\"actor\":", ", \"actor\":", 1);
        case("non_canonical_json", &l, &note, None);
        let size = lines.len();
        case(
            "checkpoint_altered",
            &lines,
            &note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1),
            None,
        );
        let mut l = lines.clone();
        l[1] = l[1].replacen("\"actor\":\"service\"", "\"actor\":\"user:mallory\"", 1);
        case("personal_field_altered", &l, &note, None);
        let mut l = lines.clone();
        let mut e = parse_canonical_line(l[2].as_bytes()).unwrap();
        e.erase_personal();
        l[2] = e.canonical_line();
        case("personal_fields_dropped_without_receipt", &l, &note, None);
        let inc = g.audit().inclusion_proof(&admin(), 4).await.unwrap();
        let mut bad_inc = inc.clone();
        bad_inc.hashes[0][5] ^= 4;
        let con = g.audit().consistency_proof(&admin(), early.checkpoint.size).await.unwrap();
        let mut bad_con = con.clone();
        bad_con.hashes[0][0] ^= 1;
        // A restore: the database goes back to a backup of this point; a customer kept a
        // checkpoint of the lost window; the reconciled log's export, verified against
        // it, is `restored` (docs/FORMAT.md 4.10).
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
            .unwrap();
        events(&g, 3).await;
        let kept = g.audit().checkpoint(&admin()).await.unwrap();
        events(&g, 1).await;
        let lost = export(&g).await;
        drop(g);
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        std::fs::copy(&backup, &path).unwrap();
        let g = build(open(), &kek, &clock, cfg());
        let r = g
            .audit().reconcile_restore(&service("acme"), Some(lost.as_bytes()), "backup restored")
            .await
            .unwrap();
        events(&g, 1).await;
        let (rl, rn) = lines_of(&export(&g).await);
        case("restored", &rl, &rn, Some(&kept.note));
        let restore = serde_json::json!({
            "restore_seq": r.restore_seq,
            "restored_size": r.restored_size,
            "superseded_size": r.superseded.size,
        });
        cases.last_mut().unwrap()["restore"] = restore;
        let v = serde_json::json!({
            "about": "tenantguard audit export vectors (docs/FORMAT.md section 4); generated by core/tests/audit/transparency.rs write_audit_vectors_when_asked. expect: an outcome name (valid, restored; ExportVerdict::OUTCOMES) or a tamper reason; a restored case also names its restore",
            "public_key": vkey,
            "exports": cases,
            "inclusion": [
                {"name": "good", "proof": inc.to_text(), "expect": "valid"},
                {"name": "hash_flipped", "proof": bad_inc.to_text(), "expect": "proof_mismatch"},
            ],
            "consistency": [
                {"name": "good", "earlier_checkpoint": early.note, "proof": con.to_text(), "expect": "valid"},
                {"name": "hash_flipped", "earlier_checkpoint": early.note, "proof": bad_con.to_text(), "expect": "fork"},
            ],
        });
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/audit_export.json"),
            serde_json::to_string_pretty(&v).unwrap() + "\n",
        )
        .unwrap();
    });
}

/// Every shared vector verifies, or fails for exactly its stated reason (the same file
/// the Python tests read).
#[test]
fn shared_audit_vectors() {
    shared_audit_vectors_in(include_str!("../vectors/audit_export.json"), 14);
    // Vectors of the format before erasable personal fields: still verified as written.
    shared_audit_vectors_in(include_str!("../vectors/audit_export_v1.json"), 11);
}

fn shared_audit_vectors_in(file: &str, min_kinds: usize) {
    let v: serde_json::Value = serde_json::from_str(file).unwrap();
    let keys = [AuditPublicKey::parse(v["public_key"].as_str().unwrap()).unwrap()];
    let mut kinds = std::collections::BTreeSet::new();
    for c in v["exports"].as_array().unwrap() {
        let earlier = c["earlier_checkpoint"].as_str().map(str::as_bytes);
        let verdict = verify_export(c["bundle"].as_str().unwrap().as_bytes(), &keys, earlier);
        let got = match &verdict {
            ExportVerdict::Tampered { reason, line } => (reason.kind(), *line),
            other => (other.outcome(), None),
        };
        assert_eq!(got.0, c["expect"].as_str().unwrap(), "{}", c["name"]);
        assert_eq!(got.1, c["line"].as_u64(), "{}", c["name"]);
        if let ExportVerdict::Restored { restore, .. } = verdict {
            let want = &c["restore"];
            assert_eq!(Some(restore.restore_seq), want["restore_seq"].as_u64());
            assert_eq!(Some(restore.restored_size), want["restored_size"].as_u64());
            assert_eq!(
                Some(restore.superseded_size),
                want["superseded_size"].as_u64()
            );
        }
        kinds.insert(got.0);
    }
    assert!(kinds.len() >= min_kinds, "{kinds:?}");
    for c in v["inclusion"].as_array().unwrap() {
        let got = verify_inclusion_proof(c["proof"].as_str().unwrap().as_bytes(), &keys)
            .map_or_else(|r| r.kind(), |_| "valid");
        assert_eq!(got, c["expect"].as_str().unwrap(), "{}", c["name"]);
    }
    for c in v["consistency"].as_array().unwrap() {
        let got = verify_consistency_proof(
            c["earlier_checkpoint"].as_str().unwrap().as_bytes(),
            c["proof"].as_str().unwrap().as_bytes(),
            &keys,
        )
        .map_or_else(|r| r.kind(), |_| "valid");
        assert_eq!(got, c["expect"].as_str().unwrap(), "{}", c["name"]);
    }
}

/// A key provider whose unwraps fail with `Unavailable` while `down` is set (an outage of
/// the KMS, not an attack).
struct OutageProvider {
    inner: LocalKeyProvider,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl KeyProvider for OutageProvider {
    fn name(&self) -> &str {
        "outage"
    }
    async fn current_kek(&self) -> Result<String, tenantguard::kms::KmsError> {
        self.inner.current_kek().await
    }
    async fn wrap(
        &self,
        key: &tenantguard::crypto::DataKey,
        ctx: &tenantguard::kms::WrapContext,
    ) -> Result<tenantguard::kms::WrappedKey, tenantguard::kms::KmsError> {
        self.inner.wrap(key, ctx).await
    }
    async fn unwrap(
        &self,
        wrapped: &tenantguard::kms::WrappedKey,
        ctx: &tenantguard::kms::WrapContext,
    ) -> Result<tenantguard::crypto::DataKey, tenantguard::kms::KmsError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tenantguard::kms::KmsError::Unavailable(
                "simulated outage".into(),
            ));
        }
        self.inner.unwrap(wrapped, ctx).await
    }
}

/// A SQLite file and a key provider whose unwrap the test can take down, shared by every
/// guard [`OnOutage::instance`] builds (each one another instance, cold keyring).
struct OnOutage {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    outage: Arc<OutageProvider>,
    clock: TestClock,
}

impl OnOutage {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        OnOutage {
            path: dir.path().join("t.db"),
            _dir: dir,
            outage: Arc::new(OutageProvider {
                inner: LocalKeyProvider::ephemeral(),
                down: false.into(),
            }),
            clock: TestClock::at(T0),
        }
    }

    fn instance(&self) -> Guard {
        let kek: Arc<dyn KeyProvider> = self.outage.clone();
        build(
            Arc::new(SqliteStore::open(&self.path).unwrap()),
            &kek,
            &self.clock,
            TransparencyConfig::default(),
        )
    }

    fn set_down(&self, down: bool) {
        self.outage
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Creating a tenant while the key provider wraps but cannot unwrap (an outage, or a KMS
/// policy without decrypt) fails as a whole: no tenant is left behind half-made (a row
/// with no creation entry in its audit log), so once the provider is back the same
/// creation succeeds instead of `Conflict` ("tenant already exists") forever.
#[test]
fn a_tenant_creation_the_key_provider_refuses_leaves_nothing_behind() {
    rt().block_on(async {
        let f = OnOutage::new();
        let g = f.instance();
        g.keys().create_tenant(&service("first")).await.unwrap();
        f.set_down(true);
        // A fresh instance (cold keyring) needs the audit-MAC key for the creation entry.
        let g2 = f.instance();
        let e = g2.keys().create_tenant(&service("acme")).await.unwrap_err();
        assert_eq!(e.kind(), tenantguard::ErrorKind::Unavailable, "{e:?}");
        f.set_down(false);
        g2.keys().create_tenant(&service("acme")).await.unwrap();
        let log = g2.audit().entries(&service("acme"), 0, 100).await.unwrap();
        let created: Vec<_> = log.iter().filter(|e| e.action == "tenant.create").collect();
        assert_eq!(created.len(), 1, "{log:?}");
    });
}

/// A KMS outage while the audit-MAC key is fetched for verification is an availability
/// failure (`Unavailable`, retry later), never reported as tampering (`MacMismatch`):
/// an operator paged for "the audit log was forged" during a KMS blip would learn to
/// ignore the alarm.
#[test]
fn a_key_provider_outage_during_mac_checks_is_unavailable_not_tampering() {
    rt().block_on(async {
        let f = OnOutage::new();
        let g = f.instance();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 3).await;
        f.set_down(true);
        // A fresh instance (cold keyring) must fetch the audit-MAC key to verify.
        let g2 = f.instance();
        for e in [
            g2.audit().verify(&admin()).await.unwrap_err(),
            g2.audit().checkpoint(&admin()).await.unwrap_err(),
            g2.audit()
                .export_bundle(&admin(), Vec::new())
                .await
                .unwrap_err(),
        ] {
            assert_eq!(e.kind(), tenantguard::ErrorKind::Unavailable, "{e:?}");
            assert!(!matches!(e, Error::Audit(_)), "{e:?}");
        }
        f.set_down(false);
        assert!(g2.audit().verify(&admin()).await.unwrap().is_valid());
        assert_eq!(
            g2.audit()
                .checkpoint(&admin())
                .await
                .unwrap()
                .checkpoint
                .size,
            4
        );
    });
}

/// `verify_audit` (and the JSON Lines export) check each entry's MAC, not only the
/// unkeyed chain: a writer who rewrites an entry and re-chains the suffix is caught.
#[test]
fn verify_audit_checks_macs_not_only_the_chain() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(&path).unwrap()) };
        let g = build(open(), &kek, &clock, TransparencyConfig::default());
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 4).await;
        assert!(g.audit().verify(&admin()).await.unwrap().is_valid());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TRIGGER tg_audit_no_update; DROP TRIGGER tg_audit_no_delete")
            .unwrap();
        let mut lines: Vec<String> = g
            .audit().entries(&admin(), 0, 5)
            .await
            .unwrap()
            .iter()
            .map(AuditEntry::canonical_line)
            .collect();
        let mut e: AuditEntry = serde_json::from_str(&lines[2]).unwrap();
        e.details.insert("decision".into(), "allowed".into());
        lines[2] = e.canonical_line();
        rechain(&mut lines, 2);
        for l in &lines {
            // The append-only row only: the personal fields stay in their own table.
            let e = serde_json::from_str::<AuditEntry>(l).unwrap().split_personal().0;
            conn.execute(
                "INSERT OR REPLACE INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('acme', ?1, ?2, ?3)",
                rusqlite::params![e.seq as i64, e.hash, serde_json::to_string(&e).unwrap()],
            )
            .unwrap();
        }
        // The chain alone still verifies (the re-chained suffix is consistent)...
        let jsonl = lines.join("\n") + "\n";
        assert!(
            tenantguard::audit::verify_jsonl(jsonl.as_bytes(), &Default::default())
                .unwrap()
                .is_valid()
        );
        // ...the live verification does not.
        let g2 = build(open(), &kek, &clock, TransparencyConfig::default());
        match g2.audit().verify(&admin()).await.unwrap() {
            tenantguard::audit::AuditVerification::Broken { seq, problem, .. } => {
                assert_eq!((seq, problem), (Some(3), VerifyProblem::MacMismatch))
            }
            v => panic!("verified: {v:?}"),
        }
        assert_eq!(
            audit_problem(g2.audit().export(&admin(), Vec::new()).await.unwrap_err()),
            VerifyProblem::MacMismatch
        );
    });
}

/// A sink that refuses restores while `fail` is set: a reconcile interrupted between the
/// restore record and the publish.
#[derive(Debug)]
struct FlakySink {
    inner: FileCheckpointSink,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl CheckpointSink for FlakySink {
    async fn publish(
        &self,
        t: &tenantguard::TenantId,
        size: u64,
        root: &tenantguard::audit::merkle::Hash,
        note: &str,
    ) -> Result<(), SinkError> {
        self.inner.publish(t, size, root, note).await
    }
    async fn latest(
        &self,
        t: &tenantguard::TenantId,
    ) -> Result<Option<tenantguard::audit::PublishedCheckpoint>, SinkError> {
        self.inner.latest(t).await
    }
    async fn publish_restore(
        &self,
        t: &tenantguard::TenantId,
        size: u64,
        root: &tenantguard::audit::merkle::Hash,
        note: &str,
        restore: &tenantguard::audit::RestoreAdmission,
    ) -> Result<(), SinkError> {
        if self.fail.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(SinkError::Io("sink down".into()));
        }
        self.inner
            .publish_restore(t, size, root, note, restore)
            .await
    }
}

fn lost_refusal(e: Error) -> &'static str {
    match e {
        Error::Audit(tenantguard::audit::AuditError::LostExportRefused { reason }) => reason,
        other => panic!("expected a refused lost export, got {other:?}"),
    }
}

/// The restore procedure of docs/OPERATIONS.md ("Restoring a database backup"), step by
/// step on SQLite: what a restore loses (entries, a token revocation, a kill switch), how
/// the log reacts (`Truncated` against the sink), the audited reconcile with the
/// pre-restore export (forged exports refused first, re-applying nothing), an interrupted
/// reconcile resumed without applying anything twice, checkpoints resuming in the same
/// sink (which keeps the superseded history), and a customer's lost-window checkpoint
/// reported `Restored` (while an export without the restore record stays a rollback/fork).
#[test]
fn restoring_a_backup_follows_the_documented_procedure() {
    rt().block_on(async {
        use std::sync::atomic::Ordering;
        use tenantguard::tenant::UserId;
        use tenantguard::tokens::TokenSpec;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let backup = dir.path().join("backup.db");
        let sink_path = dir.path().join("cp.log");
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let clock = TestClock::at(T0);
        let flaky = Arc::new(FlakySink {
            inner: FileCheckpointSink::open(&sink_path).unwrap(),
            fail: false.into(),
        });
        let cfg = || TransparencyConfig {
            sinks: vec![flaky.clone()],
            ..Default::default()
        };
        let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(&path).unwrap()) };
        let g = build(open(), &kek, &clock, cfg());
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 3).await;
        let spec = |agent: &str| TokenSpec::read_only(UserId::new(agent).unwrap(), "ci");
        let tok = g
            .tokens()
            .create(&service("acme"), spec("bot"))
            .await
            .unwrap();
        let killed = g
            .tokens()
            .create(&service("acme"), spec("rogue"))
            .await
            .unwrap();
        let secret = tok.secret.expose().to_owned();
        let rogue = killed.secret.expose().to_owned();
        let backup_size = g
            .audit()
            .checkpoint(&admin())
            .await
            .unwrap()
            .checkpoint
            .size;
        // The backup (a consistent copy of the live file).
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
            .unwrap();

        // After the backup: more entries (a customer keeps a checkpoint of them), a
        // revocation and a kill switch, checkpointed to the sink.
        events(&g, 2).await;
        let customer = g.audit().checkpoint(&admin()).await.unwrap();
        assert!(g.tokens().revoke(&service("acme"), &tok.id).await.unwrap());
        g.tokens()
            .kill_agent(&service("acme"), &UserId::new("rogue").unwrap())
            .await
            .unwrap();
        let read = tenantguard::tokens::Action::Read;
        assert!(g.tokens().verify(&secret, "runs/1", read).await.is_err());
        assert!(g.tokens().verify(&rogue, "runs/1", read).await.is_err());
        // Step 1: the export kept from before the restore (its checkpoint is the sink's latest).
        let before = export(&g).await;
        let (old_lines, old_note) = lines_of(&before);
        let lost_size = old_lines.len() as u64;
        assert_eq!(
            flaky.latest(&tid("acme")).await.unwrap().unwrap().size,
            lost_size
        );
        assert!(backup_size < customer.checkpoint.size && customer.checkpoint.size < lost_size);
        drop(g);

        // The restore.
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        std::fs::copy(&backup, &path).unwrap();
        let g = build(open(), &kek, &clock, cfg());
        // The revocations are lost: the tokens work again until the reconcile.
        g.tokens().verify(&secret, "runs/1", read).await.unwrap();
        g.tokens().verify(&rogue, "runs/1", read).await.unwrap();
        assert_eq!(
            audit_problem(g.audit().checkpoint(&admin()).await.unwrap_err()),
            VerifyProblem::Truncated {
                expected: lost_size,
                found: backup_size
            }
        );
        // Without the restore record, a customer's lost-window checkpoint against the
        // restored log (exported by a guard with no sink) is a rollback, then a fork.
        let bare = build(open(), &kek, &clock, TransparencyConfig::default());
        let keys = g.audit().public_keys().await.unwrap();
        assert_eq!(
            reason(verify_export(
                export(&bare).await.as_bytes(),
                &keys,
                Some(customer.note.as_bytes())
            )),
            TamperReason::Rollback {
                earlier: customer.checkpoint.size,
                latest: backup_size
            }
        );

        // Forged lost exports are refused before anything is written or re-applied: an
        // altered entry (its target: a personal field), a bundle signed by another log key, the live log's own export.
        let mut altered = old_lines.clone();
        let last = altered.len() - 1;
        altered[last] = altered[last].replace("rogue", "other");
        let other_kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let other = build(
            Arc::new(tenantguard::MemoryStore::new()),
            &other_kek,
            &clock,
            TransparencyConfig::default(),
        );
        other.keys().create_tenant(&service("acme")).await.unwrap();
        events(&other, 9).await;
        let t2 = other
            .tokens()
            .create(&service("acme"), spec("bot"))
            .await
            .unwrap();
        other
            .tokens()
            .revoke(&service("acme"), &t2.id)
            .await
            .unwrap();
        let foreign = export(&other).await;
        // (The tests' `service(..)` is the capability of the guard built last.)
        let g = build(open(), &kek, &clock, cfg());
        for (bundle, why) in [
            (join(&altered, &old_note), "personal_altered"),
            (foreign.into_bytes(), "unknown_key"),
        ] {
            let e = g
                .audit()
                .reconcile_restore(&service("acme"), Some(&bundle), "restore")
                .await
                .unwrap_err();
            assert_eq!(e.kind(), tenantguard::ErrorKind::Integrity);
            assert_eq!(lost_refusal(e), why);
        }
        g.tokens().verify(&secret, "runs/1", read).await.unwrap();
        assert_eq!(
            g.audit().entries(&admin(), 0, 1000).await.unwrap().len() as u64,
            backup_size
        );
        // Not the service: refused.
        assert!(g
            .audit()
            .reconcile_restore(&admin(), Some(before.as_bytes()), "restore")
            .await
            .is_err());

        // Step 2: reconcile with the lost export. The sink is down at the publish: the
        // revocations are re-applied and the restore recorded, the checkpoint is not.
        flaky.fail.store(true, Ordering::SeqCst);
        g.audit()
            .reconcile_restore(
                &service("acme"),
                Some(before.as_bytes()),
                "nightly backup restored",
            )
            .await
            .unwrap_err();
        assert!(g.tokens().verify(&secret, "runs/1", read).await.is_err());
        assert!(g.tokens().verify(&rogue, "runs/1", read).await.is_err());
        // Run again: nothing applied twice, the same restore record, published now.
        let r = g
            .audit()
            .reconcile_restore(
                &service("acme"),
                Some(before.as_bytes()),
                "nightly backup restored",
            )
            .await
            .unwrap();
        assert!(!r.recorded_now);
        assert_eq!(r.restored_size, backup_size);
        assert_eq!(r.superseded.size, lost_size);
        let re = r.reapplied.as_ref().unwrap();
        assert_eq!((re.reapplied, re.already_in_effect), (0, 2));
        assert_eq!(re.export_size, lost_size);
        assert_eq!(re.window_entries, lost_size - backup_size);
        assert!(re.manual.is_empty(), "{:?}", re.manual);
        // The log: two re-applied revocations, then the restore record.
        let entries = g.audit().entries(&admin(), 0, 1000).await.unwrap();
        let tail: Vec<&str> = entries[backup_size as usize..]
            .iter()
            .map(|e| e.action.as_str())
            .collect();
        assert_eq!(tail, ["token.revoke", "token.kill_agent", "audit.restore"]);
        let rec = entries.last().unwrap();
        assert_eq!(rec.seq, r.restore_seq);
        assert!(rec.mac.is_some());
        assert_eq!(rec.details["restored_size"], backup_size.to_string());
        assert_eq!(rec.details["superseded_size"], lost_size.to_string());
        assert_eq!(rec.details["revocations"], "reapplied");
        assert_eq!(rec.details["reapplied"], "2");
        assert_eq!(rec.reason.as_deref(), Some("nightly backup restored"));
        // The new checkpoint is the sink's latest; the superseded lines stay in the file.
        assert_eq!(r.checkpoint.checkpoint.size, backup_size + 3);
        let held = flaky.latest(&tid("acme")).await.unwrap().unwrap();
        assert_eq!(held.note, r.checkpoint.note);
        let file = std::fs::read_to_string(&sink_path).unwrap();
        assert!(file.contains(&format!("acme {lost_size} ")));
        assert!(file.contains(" restore "));
        assert!(
            FileCheckpointSink::open(&sink_path)
                .unwrap()
                .latest(&tid("acme"))
                .await
                .unwrap()
                == Some(held)
        );
        // A third run has nothing to reconcile.
        let e = g
            .audit()
            .reconcile_restore(&service("acme"), Some(before.as_bytes()), "again")
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Audit(tenantguard::audit::AuditError::NothingToReconcile { .. })
        ));
        assert_eq!(e.kind(), tenantguard::ErrorKind::Conflict);

        // Checkpoints resume, in a new process too; an ordinary publish still may not go back.
        events(&g, 3).await;
        let g = build(open(), &kek, &clock, cfg());
        let cp = g.audit().checkpoint(&admin()).await.unwrap();
        assert_eq!(cp.checkpoint.size, backup_size + 6);
        assert!(matches!(
            flaky
                .publish(&tid("acme"), lost_size, &[1; 32], &old_note)
                .await,
            Err(SinkError::Backwards { .. } | SinkError::Fork { .. })
        ));
        // Customers: the new export verifies; against a checkpoint of the lost window (or
        // the superseded one itself) it is `Restored`, naming the restore point and window.
        let after = export(&g).await;
        assert!(verify_export(after.as_bytes(), &keys, None).is_valid());
        for kept in [&customer.note, &old_note] {
            match verify_export(after.as_bytes(), &keys, Some(kept.as_bytes())) {
                ExportVerdict::Restored { restore, summary } => {
                    assert_eq!(restore.restore_seq, r.restore_seq);
                    assert_eq!(restore.restored_size, backup_size);
                    assert_eq!(restore.superseded_size, lost_size);
                    assert_eq!(summary.entries, backup_size + 6);
                }
                v => panic!("expected restored, got {v:?}"),
            }
        }
        // A checkpoint from before the backup still verifies as a prefix.
        let early = g
            .audit()
            .consistency_proof(&admin(), backup_size)
            .await
            .unwrap();
        assert_eq!(early.old_size, backup_size);
    });
}

fn tid(t: &str) -> tenantguard::TenantId {
    tenantguard::TenantId::new(t).unwrap()
}

/// A database writer cannot fake a restore: an `audit.restore` row written without the
/// audit-mac key fails verification and stops checkpoints; and a reconcile on a
/// consistent log refuses.
#[test]
fn a_restore_record_cannot_be_forged_and_a_consistent_log_has_nothing_to_reconcile() {
    rt().block_on(async {
        let db = OnSqlite::new();
        let path = db.path.clone();
        let g = db.guard();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        events(&g, 4).await;
        let cp = g.audit().checkpoint(&admin()).await.unwrap();
        let e = g
            .audit().reconcile_restore(&service("acme"), None, "no restore happened")
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Audit(tenantguard::audit::AuditError::NothingToReconcile { size: 5 })
        ));
        // The writer appends a restore record that names the published checkpoint.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let j: String = conn
            .query_row("SELECT entry FROM tg_audit WHERE seq = 5", [], |r| r.get(0))
            .unwrap();
        let mut forged: AuditEntry = serde_json::from_str(&j).unwrap();
        forged.seq = 6;
        forged.prev = forged.hash.clone();
        forged.action = "audit.restore".into();
        forged.details = [
            ("restored_size", "1".to_owned()),
            ("superseded_size", cp.checkpoint.size.to_string()),
            ("superseded_root", hex::encode(cp.checkpoint.root)),
            ("revocations", "not_reapplied".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for mac in [forged.mac.clone(), None] {
            forged.mac = mac;
            forged.hash = forged.compute_hash();
            conn.execute(
                "INSERT OR REPLACE INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('acme', 6, ?1, ?2)",
                rusqlite::params![forged.hash, serde_json::to_string(&forged).unwrap()],
            )
            .unwrap();
            let g = db.guard();
            assert!(!g.audit().verify(&admin()).await.unwrap().is_valid());
            let want = if forged.mac.is_some() {
                VerifyProblem::MacMismatch
            } else {
                VerifyProblem::MacMissing
            };
            assert_eq!(audit_problem(g.audit().checkpoint(&admin()).await.unwrap_err()), want);
            assert_eq!(
                audit_problem(
                    g.audit().reconcile_restore(&service("acme"), None, "forged")
                        .await
                        .unwrap_err()
                ),
                want
            );
        }
    });
}

/// A retention sweep (or a subject erasure) in a fresh process (cold keyring) while the key
/// provider is down: its receipts need the audit-MAC key, so it deletes nothing rather than
/// deleting a batch and then failing to record it. Once the provider is back, the sweep deletes and
/// records everything.
#[test]
fn a_sweep_during_a_key_provider_outage_deletes_nothing_unrecorded() {
    rt().block_on(async {
        let f = OnOutage::new();
        let g = f.instance();
        g.keys().create_tenant(&service("acme")).await.unwrap();
        for i in 0..3 {
            g.records()
                .put(
                    &service("acme"),
                    &format!("log-{i}"),
                    tenantguard::retention::RUN_LOG,
                    None,
                    b"x",
                )
                .await
                .unwrap();
        }
        g.records()
            .put(&service("acme"), "note-1", "note", Some("carol"), b"x")
            .await
            .unwrap();
        f.clock.set(T0 + 91 * tenantguard::retention::DAY);
        f.set_down(true);
        let g2 = f.instance();
        let left = || -> i64 {
            rusqlite::Connection::open(&f.path)
                .unwrap()
                .query_row("SELECT COUNT(*) FROM tg_records", [], |r| r.get(0))
                .unwrap()
        };
        let e = g2
            .retention()
            .sweep(&service("acme"), 2, |_| {})
            .await
            .unwrap_err();
        assert_eq!(e.kind(), tenantguard::ErrorKind::Unavailable, "{e:?}");
        assert_eq!(left(), 4, "records swept without a receipt");
        let e = g2
            .retention()
            .erase_subject(&service("acme"), "carol", 10)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), tenantguard::ErrorKind::Unavailable, "{e:?}");
        assert_eq!(left(), 4, "a subject's records erased without a receipt");
        f.set_down(false);
        let r = g2
            .retention()
            .sweep(&service("acme"), 2, |_| {})
            .await
            .unwrap();
        assert_eq!(r.total(), 3);
        let receipts: u64 = g2
            .audit()
            .entries(&admin(), 0, 100)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "retention.sweep")
            .map(|e| e.details["deleted.run_log"].parse::<u64>().unwrap())
            .sum();
        assert_eq!(receipts, 3);
    });
}
