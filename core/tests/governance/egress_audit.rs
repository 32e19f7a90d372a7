//! Egress decisions and policy changes land in the tenant's audit log, with counts only.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::sync::Arc;

use tenantguard::egress::{Egress, EgressPolicy, RedactionLevel, Registry};
use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};

#[tokio::test]
async fn decisions_and_policy_changes_are_audited_without_values() {
    let store = Arc::new(MemoryStore::new());
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let acme = TenantContext::service(TenantId::new("acme").unwrap(), &tg_cap::cap());
    guard.keys().create_tenant(&acme).await.unwrap();
    let egress = Egress::builder(guard.clone())
        .policy_store(store)
        .registry(Registry::example())
        .build()
        .unwrap();

    egress
        .set_policy(
            &acme,
            &EgressPolicy {
                redaction: RedactionLevel::Pii,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let allowed = egress
        .prepare(&acme, "llm-chat", "Mail jane@example.com now")
        .await
        .unwrap();
    assert!(allowed.allowed().is_some());
    let denied = egress
        .prepare(&acme, "no-such-provider", "Mail jane@example.com now")
        .await
        .unwrap();
    assert!(denied.allowed().is_none());

    let entries = guard.audit().entries(&acme, 0, 100).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"policy.change"), "{actions:?}");
    let decisions: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "egress.decision")
        .collect();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0].target, "llm-chat");
    assert_eq!(
        decisions[0].details.get("allowed").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        decisions[0]
            .details
            .get("redacted.EMAIL")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        decisions[1].details.get("allowed").map(String::as_str),
        Some("false")
    );
    let log = format!("{entries:?}");
    assert!(
        !log.contains("jane@example.com"),
        "the audit log must never hold the redacted values"
    );
}
