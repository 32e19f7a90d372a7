//! The public methods the operator command line drives: a re-encryption that stops and
//! resumes from a checkpoint, the tenant listing, and the sweep's dry run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::gov_support;
use crate::tg_cap;

use std::ops::ControlFlow;

use gov_support::*;
use tenantguard::store::RetentionWindow;
use tenantguard::{Guard, KeyId, MemoryStore, TenantId};

fn guard_at(clock: &TestClock) -> Guard {
    Guard::builder()
        .key_provider(tenantguard::LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .clock(clock.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

#[test]
fn reencrypt_stops_on_break_and_resumes_from_the_checkpoint_without_double_work() {
    rt().block_on(async {
        let clock = TestClock::at(1_000_000);
        let g = guard_at(&clock);
        let t = service("acme");
        g.keys().create_tenant(&t).await.unwrap();
        for i in 0..250 {
            g.records()
                .put(&t, &format!("r{i:04}"), "note", None, b"payload")
                .await
                .unwrap();
        }
        g.keys().rotate(&t).await.unwrap();
        let mut calls = 0;
        let (first, checkpoint) = g
            .keys()
            .reencrypt_resumable(&t, Some(KeyId::FIRST), None, 100, |_, _| {
                calls += 1;
                ControlFlow::Break(())
            })
            .await
            .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(first.moved, 100);
        assert_eq!(first.remaining, 150);
        assert_eq!(checkpoint.as_deref(), Some("r0099"));
        let (second, done) = g
            .keys()
            .reencrypt_resumable(
                &t,
                Some(KeyId::FIRST),
                checkpoint.as_deref(),
                100,
                |_, _| ControlFlow::Continue(()),
            )
            .await
            .unwrap();
        // Only what the first run left: nothing moved twice, nothing left behind.
        assert_eq!(second.moved, 150);
        assert_eq!(second.remaining, 0);
        assert_eq!(done, None);
        let (third, _) = g
            .keys()
            .reencrypt_resumable(&t, None, None, 100, |_, _| ControlFlow::Continue(()))
            .await
            .unwrap();
        assert_eq!(third.moved, 0);
        for i in [0, 99, 100, 249] {
            let v = g
                .records()
                .open_record(&t, &format!("r{i:04}"))
                .await
                .unwrap();
            assert_eq!(v.1.expose(), b"payload");
        }
        g.keys().retire(&t, KeyId::FIRST).await.unwrap();
    });
}

#[test]
fn reencrypt_resumable_needs_the_owner() {
    rt().block_on(async {
        let clock = TestClock::at(1_000_000);
        let g = guard_at(&clock);
        g.keys().create_tenant(&service("acme")).await.unwrap();
        let admin = user("acme", "ann", tenantguard::Role::Admin);
        let e = g
            .keys()
            .reencrypt_resumable(&admin, None, None, 10, |_, _| ControlFlow::Continue(()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), tenantguard::ErrorKind::PermissionDenied);
    });
}

#[test]
fn list_tenants_pages_and_refuses_a_foreign_capability() {
    rt().block_on(async {
        let clock = TestClock::at(1_000_000);
        let g = guard_at(&clock);
        for t in ["c", "a", "b"] {
            g.keys().create_tenant(&service(t)).await.unwrap();
        }
        let cap = tg_cap::cap();
        let page = g.keys().list_tenants(&cap, None, 2).await.unwrap();
        let names: Vec<_> = page.iter().map(TenantId::as_str).collect();
        assert_eq!(names, ["a", "b"]);
        let rest = g.keys().list_tenants(&cap, page.last(), 2).await.unwrap();
        assert_eq!(rest.iter().map(TenantId::as_str).collect::<Vec<_>>(), ["c"]);
        assert!(g.keys().list_tenants(&cap, None, 0).await.is_err());
        let (_, other) = Guard::builder()
            .key_provider(tenantguard::LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .build_with_service()
            .unwrap();
        assert!(g.keys().list_tenants(&other, None, 10).await.is_err());
    });
}

#[test]
fn sweep_preview_counts_exactly_what_the_sweep_then_deletes() {
    rt().block_on(async {
        let clock = TestClock::at(1_000_000);
        let g = guard_at(&clock);
        let t = service("acme");
        g.keys().create_tenant(&t).await.unwrap();
        g.retention()
            .set(&t, "log", RetentionWindow::Secs(100))
            .await
            .unwrap();
        for i in 0..5 {
            g.records()
                .put(&t, &format!("old{i}"), "log", None, b"x")
                .await
                .unwrap();
        }
        g.records()
            .put(&t, "keep", "other", None, b"x")
            .await
            .unwrap();
        clock.advance(50);
        g.records()
            .put(&t, "young", "log", None, b"x")
            .await
            .unwrap();
        clock.advance(60);
        let preview = g.retention().preview(&t).await.unwrap();
        assert_eq!(preview.get("log"), Some(&5));
        assert_eq!(preview.len(), 1);
        // The preview deleted nothing.
        assert!(g.records().open_record(&t, "old0").await.is_ok());
        let swept = g.retention().sweep(&t, 100, |_| {}).await.unwrap();
        assert_eq!(swept.deleted.get("log"), Some(&5));
        assert!(g.retention().preview(&t).await.unwrap().is_empty());
        let viewer = user("acme", "v", tenantguard::Role::Viewer);
        assert!(g.retention().preview(&viewer).await.is_err());
    });
}
