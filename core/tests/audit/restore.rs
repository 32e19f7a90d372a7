//! Restore reconcile (docs/OPERATIONS.md, "Restoring a database backup") re-applying the
//! lost window's session revocations (one session, and all of a user's) and member
//! removals and demotions, on SQLite; a reconcile interrupted after re-applying them and
//! run again re-applies nothing, and a third has nothing to reconcile.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::tg_cap;

use crate::gov_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gov_support::*;
use tenantguard::audit::merkle::Hash;
use tenantguard::audit::{
    AuditError, CheckpointSink, FileCheckpointSink, PublishedCheckpoint, RestoreAdmission,
    SinkError, TransparencyConfig,
};
use tenantguard::tenant::{Role, UserId};
use tenantguard::{
    Error, Guard, KeyProvider, LocalKeyProvider, SqliteStore, Store, TenantContext, TenantId,
};

/// A file sink whose restore admission fails once while `fail` is set: a reconcile
/// interrupted between re-applying and publishing.
#[derive(Debug)]
struct Flaky {
    inner: FileCheckpointSink,
    fail: AtomicBool,
}

#[async_trait::async_trait]
impl CheckpointSink for Flaky {
    async fn publish(&self, t: &TenantId, n: u64, r: &Hash, note: &str) -> Result<(), SinkError> {
        self.inner.publish(t, n, r, note).await
    }
    async fn latest(&self, t: &TenantId) -> Result<Option<PublishedCheckpoint>, SinkError> {
        self.inner.latest(t).await
    }
    async fn publish_restore(
        &self,
        t: &TenantId,
        n: u64,
        r: &Hash,
        note: &str,
        a: &RestoreAdmission,
    ) -> Result<(), SinkError> {
        if self.fail.swap(false, Ordering::SeqCst) {
            return Err(SinkError::Io("sink down".into()));
        }
        self.inner.publish_restore(t, n, r, note, a).await
    }
}

fn build(store: Arc<dyn Store>, kek: &Arc<dyn KeyProvider>, sink: &Arc<Flaky>) -> Guard {
    Guard::builder()
        .key_provider_arc(kek.clone())
        .store_arc(store)
        .clock(TestClock::at(T0))
        .audit_transparency(TransparencyConfig {
            sinks: vec![sink.clone()],
            ..Default::default()
        })
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

fn uid(u: &str) -> UserId {
    UserId::new(u).unwrap()
}

/// Every session of acme: id → revoked.
async fn revoked(g: &Guard) -> std::collections::BTreeMap<String, bool> {
    let all = g
        .sessions()
        .list_tenant(&service("acme"), None, 100)
        .await
        .unwrap();
    all.into_iter()
        .map(|s| (s.id, s.revoked_at.is_some()))
        .collect()
}

async fn roles(g: &Guard) -> Vec<Option<Role>> {
    let mut v = Vec::new();
    for u in ["dave", "erin", "frank"] {
        v.push(g.members().role(&service("acme"), &uid(u)).await.unwrap());
    }
    v
}

#[test]
fn reconcile_reapplies_session_revocations_and_member_removals_and_demotions() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (path, backup) = (dir.path().join("t.db"), dir.path().join("backup.db"));
        let kek: Arc<dyn KeyProvider> = Arc::new(LocalKeyProvider::ephemeral());
        let sink = Arc::new(Flaky {
            inner: FileCheckpointSink::open(dir.path().join("cp.log")).unwrap(),
            fail: false.into(),
        });
        let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(&path).unwrap()) };
        let store = open();
        let g = build(store.clone(), &kek, &sink);
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let owner = member(&store, "acme", "ada", Role::Owner).await;
        let mut s = std::collections::BTreeMap::new();
        for (u, role) in [
            ("ada", Role::Owner),
            ("bob", Role::Member),
            ("carol", Role::Member),
            ("dave", Role::Admin),
            ("erin", Role::Member),
        ] {
            let ctx = member(&store, "acme", u, role).await;
            s.insert(u, g.sessions().create(&ctx, "laptop").await.unwrap());
        }
        let carol2 = g
            .sessions()
            .create(&user("acme", "carol", Role::Member), "phone")
            .await
            .unwrap();
        g.audit()
            .checkpoint(&user("acme", "ada", Role::Owner))
            .await
            .unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
            .unwrap();

        // The lost window: bob's one session revoked, all of carol's, dave demoted (in two
        // steps: the last counts), erin removed (her session with her), frank granted.
        assert!(g
            .sessions()
            .revoke(&owner, &s["bob"].session_id)
            .await
            .unwrap());
        assert_eq!(
            g.sessions()
                .revoke_user(&owner, &uid("carol"))
                .await
                .unwrap(),
            2
        );
        g.members()
            .set(&owner, &uid("dave"), Role::Member)
            .await
            .unwrap();
        g.members()
            .set(&owner, &uid("dave"), Role::Viewer)
            .await
            .unwrap();
        assert!(g.members().remove(&owner, &uid("erin")).await.unwrap());
        g.members()
            .set(&owner, &uid("frank"), Role::Member)
            .await
            .unwrap();
        let want_revoked: std::collections::BTreeMap<String, bool> = [
            (&s["ada"].session_id, false),
            (&s["bob"].session_id, true),
            (&s["carol"].session_id, true),
            (&carol2.session_id, true),
            (&s["dave"].session_id, false),
            (&s["erin"].session_id, true),
        ]
        .into_iter()
        .map(|(k, v)| (k.clone(), v))
        .collect();
        assert_eq!(revoked(&g).await, want_revoked);
        let want_roles = vec![Some(Role::Viewer), None, Some(Role::Member)];
        assert_eq!(roles(&g).await, want_roles);
        let mut lost = Vec::new();
        g.audit().export_bundle(&owner, &mut lost).await.unwrap();
        drop((g, store));

        // The restore: every revocation of the window is undone, and frank is no member.
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        std::fs::copy(&backup, &path).unwrap();
        let g = build(open(), &kek, &sink);
        // A reopened store is another instance: contexts are made anew for its guard.
        let owner = user("acme", "ada", Role::Owner);
        assert!(revoked(&g).await.values().all(|r| !r));
        assert_eq!(
            roles(&g).await,
            vec![Some(Role::Admin), Some(Role::Member), None]
        );

        // Reconcile, interrupted at the publish: the revocations are re-applied (each
        // audited), the grant is left to the operator.
        sink.fail.store(true, Ordering::SeqCst);
        let svc: TenantContext = service("acme");
        assert!(g
            .audit()
            .reconcile_restore(&svc, Some(&lost), "restored")
            .await
            .is_err());
        assert_eq!(revoked(&g).await, want_revoked);
        assert_eq!(roles(&g).await, vec![Some(Role::Viewer), None, None]);
        let entries = g.audit().entries(&owner, 0, 1000).await.unwrap().len();

        // Run again: nothing re-applied twice, nothing audited but what the publish needs.
        let r = g
            .audit()
            .reconcile_restore(&svc, Some(&lost), "restored")
            .await
            .unwrap();
        assert!(!r.recorded_now);
        let re = r.reapplied.unwrap();
        assert_eq!((re.reapplied, re.already_in_effect), (0, 4), "{re:?}");
        let manual: Vec<(&str, &str)> = re
            .manual
            .iter()
            .map(|m| (m.action.as_str(), m.target.as_str()))
            .collect();
        assert_eq!(manual, [("member.change", "user:frank")]);
        let after = g.audit().entries(&owner, 0, 1000).await.unwrap();
        assert_eq!(after.len(), entries);
        // The first run's entries: the four re-applications, then the restore record.
        let tail: Vec<(&str, &str)> = after[after.len() - 5..]
            .iter()
            .map(|e| (e.action.as_str(), e.target.as_str()))
            .collect();
        let bob = format!("session:{}", s["bob"].session_id);
        assert_eq!(
            tail,
            [
                ("session.revoke", bob.as_str()),
                ("session.revoke", "user:carol"),
                ("member.change", "user:dave"),
                ("member.change", "user:erin"),
                ("audit.restore", "log:acme"),
            ]
        );
        assert_eq!(after.last().unwrap().details["reapplied"], "4");
        assert_eq!(after.last().unwrap().details["manual"], "1");
        // A third run has nothing to reconcile; the state holds.
        let e = g
            .audit()
            .reconcile_restore(&svc, Some(&lost), "restored")
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Audit(AuditError::NothingToReconcile { .. })
        ));
        assert_eq!(revoked(&g).await, want_revoked);
        assert_eq!(roles(&g).await, vec![Some(Role::Viewer), None, None]);
        // The revoked sessions are refused again; the others work.
        for u in ["bob", "carol", "erin"] {
            let refresh = s[u].refresh_token.expose().to_owned();
            assert!(g.sessions().refresh(&refresh).await.is_err(), "{u}");
        }
        assert!(g
            .sessions()
            .refresh(carol2.refresh_token.expose())
            .await
            .is_err());
        let mut live = g
            .sessions()
            .refresh(s["ada"].refresh_token.expose())
            .await
            .unwrap();
        live = g
            .sessions()
            .refresh(live.refresh_token.expose())
            .await
            .unwrap();
        assert!(!live.session_id.is_empty());
        // Dave's next refresh carries the demoted role.
        let d = g
            .sessions()
            .refresh(s["dave"].refresh_token.expose())
            .await
            .unwrap();
        let v = g
            .sessions()
            .verify_access_token(d.access_token.expose())
            .await
            .unwrap();
        assert!(matches!(
            v.context.principal(),
            tenantguard::tenant::Principal::User {
                role: Role::Viewer,
                ..
            }
        ));
    });
}
