//! Red-team attacks on egress decisions: spellings of providers and categories, oversized
//! input, and what the audit log keeps of denials.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tenantguard::egress::{
    category, DenyReason, Egress, EgressDecision, EgressPolicy, EgressRequest, RedactionLevel,
    Registry,
};
use tenantguard::redact::MAX_TEXT_LEN;
use tenantguard::{ErrorKind, Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};

async fn setup() -> (Guard, Egress, TenantContext) {
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
    (guard, egress, acme)
}

fn reason(d: EgressDecision) -> DenyReason {
    match d {
        EgressDecision::Allowed(p) => panic!("allowed: {}", p.provider),
        EgressDecision::Denied { reason } => reason,
    }
}

/// A provider the policy refuses (not allowed, opted out) is not reached by another
/// spelling of its id, and a policy naming a provider by another spelling is refused.
#[tokio::test]
async fn attack_provider_spellings_do_not_reach_a_refused_provider() {
    let (_, egress, acme) = setup().await;
    let policy = EgressPolicy {
        allowed_providers: Some(BTreeSet::from(["llm-chat".into(), "reranker".into()])),
        opted_out: BTreeSet::from(["reranker".into()]),
        ..Default::default()
    };
    egress.set_policy(&acme, &policy).await.unwrap();
    assert_eq!(
        reason(egress.prepare(&acme, "llm-agents", "hi").await.unwrap()),
        DenyReason::ProviderNotAllowed
    );
    assert_eq!(
        reason(egress.prepare(&acme, "reranker", "hi").await.unwrap()),
        DenyReason::OptedOut
    );
    for base in ["llm-agents", "reranker"] {
        let variants = [
            base.to_uppercase(),
            format!(" {base}"),
            format!("{base} "),
            format!("{base}\n"),
            format!("{base}\u{a0}"),
            format!("{base}\u{200b}"),
            format!("{base}\0"),
            format!("{base}/"),
            format!("{base}."),
            base.replace('-', "\u{2010}"),
            base.replace('e', "\u{0435}"),
            base.chars()
                .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
                .collect(),
        ];
        for v in variants.into_iter().filter(|v| v != base) {
            assert_eq!(
                reason(egress.prepare(&acme, &v, "hi").await.unwrap()),
                DenyReason::UnknownProvider,
                "{v:?}"
            );
        }
    }
    for bad in [
        EgressPolicy {
            allowed_providers: Some(BTreeSet::from(["LLM-Chat".into()])),
            ..Default::default()
        },
        EgressPolicy {
            opted_out: BTreeSet::from(["reranker ".into()]),
            ..Default::default()
        },
        EgressPolicy {
            categories: BTreeMap::from([("llm-chat".into(), BTreeSet::from(["PII".into()]))]),
            ..Default::default()
        },
    ] {
        assert_eq!(
            egress.set_policy(&acme, &bad).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}

/// A provider restricted to some categories refuses every other spelling of a category.
#[tokio::test]
async fn attack_category_spellings_fail_closed() {
    let (_, egress, acme) = setup().await;
    let policy = EgressPolicy {
        categories: BTreeMap::from([(
            "llm-chat".into(),
            BTreeSet::from([category::PROMPTS.into()]),
        )]),
        ..Default::default()
    };
    egress.set_policy(&acme, &policy).await.unwrap();
    for c in [
        "Prompts",
        "prompts ",
        "prompts\u{200b}",
        "",
        "prompt",
        "pii",
    ] {
        let req = EgressRequest {
            category: c,
            ..EgressRequest::new("llm-chat", "hi")
        };
        assert_eq!(
            reason(egress.prepare_with(&acme, req).await.unwrap()),
            DenyReason::CategoryNotAllowed {
                category: c.to_owned()
            },
            "{c:?}"
        );
    }
}

/// Text over the limit is a typed denial (no panic, nothing cut), at every level, and the
/// audit entries of denials hold counts and reasons, never the values.
#[tokio::test]
async fn attack_denials_are_typed_and_audited_without_values() {
    let (guard, egress, acme) = setup().await;
    let secret = "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";
    let unit = format!("mail jane@example.com key {secret} ");
    let huge = unit.repeat(MAX_TEXT_LEN / unit.len() + 1);
    assert!(huge.len() > MAX_TEXT_LEN);
    for policy in [
        EgressPolicy::default(),
        EgressPolicy {
            redaction: RedactionLevel::Pii,
            categories: BTreeMap::from([(
                "llm-chat".into(),
                BTreeSet::from([category::PROMPTS.into()]),
            )]),
            ..Default::default()
        },
    ] {
        egress.set_policy(&acme, &policy).await.unwrap();
        assert_eq!(
            reason(egress.prepare(&acme, "llm-chat", &huge).await.unwrap()),
            DenyReason::TooLarge
        );
    }
    // A secret the PII level leaves in is refused for a provider without `credentials`.
    assert_eq!(
        reason(egress.prepare(&acme, "llm-chat", &unit).await.unwrap()),
        DenyReason::CategoryNotAllowed {
            category: category::CREDENTIALS.into()
        }
    );
    let entries = guard.audit().entries(&acme, 0, 100).await.unwrap();
    let decisions: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "egress.decision")
        .collect();
    assert_eq!(decisions.len(), 3);
    assert!(decisions
        .iter()
        .all(|d| d.details.get("allowed").map(String::as_str) == Some("false")));
    let log = format!("{entries:?}");
    for v in ["jane@example.com", "jane", secret, "wWPw5k4a"] {
        assert!(!log.contains(v), "the audit log holds {v:?}");
    }
}

/// A request's `Debug` (what `tracing::instrument` or an error report prints) never holds
/// the text it carries.
#[test]
fn attack_request_debug_holds_no_values() {
    let req = EgressRequest {
        category: category::DOCUMENTS,
        ..EgressRequest::new(
            "llm-chat",
            "mail jane@example.com key 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",
        )
    };
    let dbg = format!("{req:?} {req:#?}");
    assert!(
        dbg.contains("llm-chat") && dbg.contains("documents"),
        "{dbg}"
    );
    for v in ["jane", "ghp_", "wWPw5k4a"] {
        assert!(!dbg.contains(v), "{dbg}");
    }
}
