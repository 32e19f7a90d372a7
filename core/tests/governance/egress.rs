//! Egress policies, the sub-processor registry and `prepare`, on both built-in stores.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tenantguard::egress::{
    category, DenyReason, Egress, EgressDecision, EgressEvent, EgressObserver, EgressPolicy,
    EgressRequest, RedactionLevel, Registry, SubProcessor,
};
use tenantguard::redact::{Operator, OrgPattern};
use tenantguard::store::{KeyStore, PolicyStore};
use tenantguard::tenant::Resolved;
use tenantguard::{
    ErrorKind, Guard, LocalKeyProvider, MemoryStore, Role, SqliteStore, Store, TenantContext,
    TenantId, UserId,
};

#[derive(Default)]
struct Recorder(Mutex<Vec<EgressEvent>>);

impl EgressObserver for Recorder {
    fn on_egress(&self, event: &EgressEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

fn ctx(t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), &tg_cap::cap())
}

fn user(t: &str, role: Role) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        TenantId::new(t).unwrap(),
        UserId::new(if role >= Role::Admin { "a1" } else { "u1" }).unwrap(),
        role,
    ))
}

async fn setup<S: Store + PolicyStore + 'static>(store: Arc<S>) -> (Egress, Arc<Recorder>) {
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    for t in ["acme", "globex"] {
        guard.keys().create_tenant(&ctx(t)).await.unwrap();
        // The stored memberships behind `user(t, role)` (policy changes read them).
        for (u, role) in [("u1", Role::Member), ("a1", Role::Admin)] {
            tenantguard::store::MembershipStore::apply_member_change(
                &*store,
                &ctx(t),
                &UserId::new(u).unwrap(),
                Some(role),
                0,
            )
            .await
            .unwrap();
        }
    }
    let rec = Arc::new(Recorder::default());
    let egress = Egress::builder(guard)
        .policy_store(store)
        .registry(Registry::example())
        .observer(rec.clone())
        .build()
        .unwrap();
    (egress, rec)
}

const PROMPT: &str = "Ask jane@example.com about Project Falcon; key AKIAIOSFODNN7EXAMPLE, card 4111 1111 1111 1111.";

fn allowed(d: EgressDecision) -> tenantguard::egress::Prepared {
    match d {
        EgressDecision::Allowed(p) => p,
        EgressDecision::Denied { reason } => panic!("denied: {reason}"),
    }
}

fn denied(d: EgressDecision) -> DenyReason {
    match d {
        EgressDecision::Allowed(p) => panic!("allowed: {}", p.text),
        EgressDecision::Denied { reason } => reason,
    }
}

#[test]
fn registry_renders_a_security_page_table() {
    let mut r = Registry::example();
    r.register(
        SubProcessor::new(
            "vector-db",
            "Vector | DB",
            "Embeddings storage",
            &[category::DOCUMENTS],
            true,
        )
        .located("EU"),
    )
    .unwrap();
    assert!(r
        .register(SubProcessor::new("vector-db", "x", "y", &[], false))
        .is_err());
    assert!(r
        .register(SubProcessor::new("Bad Id", "x", "y", &[], false))
        .is_err());
    let md = r.to_markdown();
    assert!(md.starts_with("| Sub-processor | Purpose | Data categories | Location | Optional |\n|---|---|---|---|---|\n"));
    assert!(
        md.contains("| LLM provider (chat) | Chat completions | prompts, pii | - | no |"),
        "{md}"
    );
    assert!(md.contains(
        "| Reranking service | Search result reranking | documents | - | yes (opt-out) |"
    ));
    assert!(md.contains("| Vector \\| DB | Embeddings storage | documents | EU | yes (opt-out) |"));
    assert_eq!(md.lines().count(), 2 + 5);
}

async fn policy_flow<S: Store + PolicyStore + 'static>(store: Arc<S>) {
    let (egress, rec) = setup(store).await;
    let acme = ctx("acme");
    let globex = ctx("globex");

    // Default: permissive, unchanged text, no session.
    let p = allowed(egress.prepare(&acme, "llm-chat", PROMPT).await.unwrap());
    assert_eq!(p.text, PROMPT);
    assert!(p.summary.is_empty() && p.session.is_none());
    assert!(p.retention.prompt_cache);
    let mut st = p.stream();
    assert_eq!(st.push("<EMAIL_").unwrap(), "<EMAIL_");
    assert_eq!(st.finish().unwrap(), "");
    assert_eq!(
        denied(egress.prepare(&acme, "unknown-llm", PROMPT).await.unwrap()),
        DenyReason::UnknownProvider
    );

    // Strict posture by policy alone.
    let strict = EgressPolicy {
        terms: vec!["Project Falcon".into()],
        ..EgressPolicy::strict()
    };
    assert_eq!(egress.set_policy(&acme, &strict).await.unwrap(), 1);
    assert_eq!(egress.policy(&acme).await.unwrap(), strict);
    let p = allowed(egress.prepare(&acme, "llm-chat", PROMPT).await.unwrap());
    assert_eq!(
        p.text,
        "Ask <EMAIL_1> about <TERM_1>; key <API_KEY_1>, card <CARD_1>."
    );
    assert_eq!(
        p.summary,
        BTreeMap::from([
            ("API_KEY".into(), 1),
            ("CARD".into(), 1),
            ("EMAIL".into(), 1),
            ("TERM".into(), 1)
        ])
    );
    assert!(p.retention.zero_data_retention && !p.retention.prompt_cache);
    assert_eq!(
        p.restore("Sent to <EMAIL_1> re <TERM_1>.").unwrap(),
        "Sent to jane@example.com re Project Falcon."
    );
    let mut st = p.stream();
    let mut streamed = st.push("Sent to <EMA").unwrap();
    assert_eq!(streamed, "Sent to ");
    streamed += &st.push("IL_1> re <TERM_1>.").unwrap();
    streamed += &st.finish().unwrap();
    assert_eq!(streamed, "Sent to jane@example.com re Project Falcon.");

    // Another organization is unaffected.
    assert_eq!(
        allowed(egress.prepare(&globex, "llm-chat", PROMPT).await.unwrap()).text,
        PROMPT
    );

    // PII level leaves secrets and terms alone.
    let pii = EgressPolicy {
        redaction: RedactionLevel::Pii,
        operator: Operator::Tag,
        terms: vec!["Project Falcon".into()],
        ..Default::default()
    };
    assert_eq!(egress.set_policy(&acme, &pii).await.unwrap(), 2);
    let p = allowed(egress.prepare(&acme, "llm-chat", PROMPT).await.unwrap());
    assert_eq!(
        p.text,
        "Ask [EMAIL] about Project Falcon; key AKIAIOSFODNN7EXAMPLE, card [CARD]."
    );

    // Provider allow-list, opt-out and categories.
    let restricted = EgressPolicy {
        allowed_providers: Some(BTreeSet::from([
            "llm-chat".into(),
            "reranker".into(),
            "observability".into(),
        ])),
        opted_out: BTreeSet::from(["observability".into()]),
        categories: BTreeMap::from([(
            "reranker".into(),
            BTreeSet::from([category::DOCUMENTS.into()]),
        )]),
        redaction: RedactionLevel::Pii,
        ..Default::default()
    };
    egress.set_policy(&acme, &restricted).await.unwrap();
    assert_eq!(
        denied(egress.prepare(&acme, "llm-agents", PROMPT).await.unwrap()),
        DenyReason::ProviderNotAllowed
    );
    assert_eq!(
        denied(
            egress
                .prepare(&acme, "observability", "trace")
                .await
                .unwrap()
        ),
        DenyReason::OptedOut
    );
    assert_eq!(
        denied(
            egress
                .prepare(&acme, "reranker", "some prompt")
                .await
                .unwrap()
        ),
        DenyReason::CategoryNotAllowed {
            category: "prompts".into()
        }
    );
    // A document holding a secret the PII level would not redact: refused.
    let doc = EgressRequest {
        category: category::DOCUMENTS,
        ..EgressRequest::new(
            "reranker",
            "doc with 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",
        )
    };
    assert_eq!(
        denied(egress.prepare_with(&acme, doc).await.unwrap()),
        DenyReason::CategoryNotAllowed {
            category: "credentials".into()
        }
    );
    // PII is redacted, so it may go.
    let doc = EgressRequest {
        category: category::DOCUMENTS,
        ..EgressRequest::new("reranker", "doc by jane@example.com")
    };
    assert_eq!(
        allowed(egress.prepare_with(&acme, doc).await.unwrap()).text,
        "doc by <EMAIL_1>"
    );

    // Invalid policies are refused.
    let bad = EgressPolicy {
        opted_out: BTreeSet::from(["llm-chat".into()]),
        ..Default::default()
    };
    assert_eq!(
        egress.set_policy(&acme, &bad).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let bad = EgressPolicy {
        allowed_providers: Some(BTreeSet::from(["nope".into()])),
        ..Default::default()
    };
    assert_eq!(
        egress.set_policy(&acme, &bad).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let bad = EgressPolicy {
        patterns: vec![OrgPattern {
            tag: "X".into(),
            regex: "(".into(),
        }],
        ..Default::default()
    };
    assert_eq!(
        egress.set_policy(&acme, &bad).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );

    // Roles: members prepare, only admins change the policy.
    let member = user("acme", Role::Member);
    assert!(egress.prepare(&member, "llm-chat", "hi").await.is_ok());
    assert_eq!(
        egress
            .set_policy(&member, &EgressPolicy::default())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    assert!(egress
        .set_policy(&user("acme", Role::Admin), &EgressPolicy::default())
        .await
        .is_ok());

    // Every decision was observed, with counts and never values.
    let events = rec.0.lock().unwrap();
    assert_eq!(events.len(), 11);
    let strict_event = &events[2];
    assert!(
        strict_event.allowed
            && strict_event.level == RedactionLevel::Strict
            && strict_event.policy_version == 1
    );
    assert_eq!(strict_event.redacted.get("EMAIL"), Some(&1));
    assert_eq!(strict_event.bytes_in, PROMPT.len());
    assert_eq!(events[1].reason, Some(DenyReason::UnknownProvider));
    assert!(!events[1].allowed);
    assert_eq!(events.iter().filter(|e| e.actor == "u1").count(), 1);
    assert!(!format!("{events:?}").contains("jane@example.com"));
}

#[tokio::test]
async fn policies_in_memory_store() {
    policy_flow(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn policies_in_sqlite_store() {
    policy_flow(Arc::new(SqliteStore::in_memory().unwrap())).await;
}

#[tokio::test]
async fn sqlite_policies_persist_and_are_tenant_scoped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tg.db");
    {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        store
            .create_tenant(&ctx("acme"), &key_record())
            .await
            .unwrap();
        store
            .create_tenant(&ctx("globex"), &key_record())
            .await
            .unwrap();
        assert_eq!(
            store
                .put_policy(&ctx("acme"), "egress", "{\"redaction\":\"strict\"}", 5)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .put_policy(&ctx("acme"), "egress", "{\"redaction\":\"pii\"}", 6)
                .await
                .unwrap(),
            2
        );
    }
    let store = SqliteStore::open(&path).unwrap();
    let doc = store
        .get_policy(&ctx("acme"), "egress")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (doc.body.as_str(), doc.version, doc.updated_at),
        ("{\"redaction\":\"pii\"}", 2, 6)
    );
    assert_eq!(
        store.get_policy(&ctx("globex"), "egress").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_policy(&ctx("nobody"), "egress")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .put_policy(&ctx("acme"), "Bad Kind", "{}", 0)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let mem = MemoryStore::new();
    assert_eq!(
        mem.get_policy(&ctx("acme"), "egress")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

fn key_record() -> tenantguard::store::TenantKeyRecord {
    tenantguard::store::TenantKeyRecord {
        key_id: tenantguard::KeyId::FIRST,
        state: tenantguard::KeyState::Active,
        kek_id: "k".into(),
        wrapped: vec![1, 2, 3],
        created_at: 0,
    }
}

#[tokio::test]
async fn hash_operator_is_stable_per_tenant() {
    let (egress, _) = setup(Arc::new(MemoryStore::new())).await;
    let policy = EgressPolicy {
        redaction: RedactionLevel::Pii,
        operator: Operator::Hash,
        ..Default::default()
    };
    egress.set_policy(&ctx("acme"), &policy).await.unwrap();
    egress.set_policy(&ctx("globex"), &policy).await.unwrap();
    let a1 = allowed(
        egress
            .prepare(&ctx("acme"), "llm-chat", "jane@example.com")
            .await
            .unwrap(),
    )
    .text;
    let a2 = allowed(
        egress
            .prepare(&ctx("acme"), "llm-chat", "jane@example.com")
            .await
            .unwrap(),
    )
    .text;
    let g = allowed(
        egress
            .prepare(&ctx("globex"), "llm-chat", "jane@example.com")
            .await
            .unwrap(),
    )
    .text;
    assert!(a1.starts_with("[EMAIL:"));
    assert_eq!(a1, a2);
    assert_ne!(a1, g);
}

#[tokio::test]
async fn sessions_span_turns_and_stay_in_their_tenant() {
    let (egress, _) = setup(Arc::new(MemoryStore::new())).await;
    let pol = EgressPolicy {
        redaction: RedactionLevel::Pii,
        ..Default::default()
    };
    egress.set_policy(&ctx("acme"), &pol).await.unwrap();
    egress.set_policy(&ctx("globex"), &pol).await.unwrap();
    let first = allowed(
        egress
            .prepare(&ctx("acme"), "llm-chat", "a@example.com")
            .await
            .unwrap(),
    );
    let session = first.session.clone().unwrap();
    let req = EgressRequest {
        session: Some(session.clone()),
        ..EgressRequest::new("llm-chat", "b@example.com, a@example.com")
    };
    let second = allowed(egress.prepare_with(&ctx("acme"), req).await.unwrap());
    assert_eq!(second.text, "<EMAIL_2>, <EMAIL_1>");
    let req = EgressRequest {
        session: Some(session),
        ..EgressRequest::new("llm-chat", "c@example.com")
    };
    assert_eq!(
        egress
            .prepare_with(&ctx("globex"), req)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::CrossTenant
    );
}

#[tokio::test]
async fn builder_needs_a_policy_store() {
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    assert_eq!(
        Egress::builder(guard).build().unwrap_err().kind(),
        ErrorKind::Config
    );
}

#[tokio::test]
async fn builder_falls_back_to_the_guards_policy_store() {
    // The embedded guard keeps policies in its own SQLite database.
    let dir = tempfile::tempdir().unwrap();
    let guard = tg_cap::embedded(dir.path()).unwrap();
    assert!(guard.policy_store(&tg_cap::cap()).unwrap().is_some());
    guard.keys().create_tenant(&ctx("acme")).await.unwrap();
    let egress = Egress::builder(guard.clone())
        .registry(Registry::example())
        .build()
        .unwrap();
    let strict = EgressPolicy::strict();
    assert_eq!(egress.set_policy(&ctx("acme"), &strict).await.unwrap(), 1);
    drop(egress);
    let store = SqliteStore::open(dir.path().join("tenantguard.db")).unwrap();
    let doc = store
        .get_policy(&ctx("acme"), "egress")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.version, 1);
    // Any guard given a policy store behaves the same; one without still needs it explicitly.
    let store = Arc::new(MemoryStore::new());
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .policy_store(store.clone())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    guard.keys().create_tenant(&ctx("acme")).await.unwrap();
    let egress = Egress::builder(guard).build().unwrap();
    egress.set_policy(&ctx("acme"), &strict).await.unwrap();
    assert!(store
        .get_policy(&ctx("acme"), "egress")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn sqlite_schema_1_databases_migrate_to_policies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_tenant(&ctx("acme"), &key_record())
            .await
            .unwrap();
    }
    // Turn it back into a schema-1 database, as an older build left it.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE tg_policies; DROP TABLE tg_refresh_tokens; DROP TABLE tg_sessions; DROP TABLE tg_tokens;
             DROP TABLE tg_audit; DROP TABLE tg_retention_rules; DROP INDEX tg_records_by_class;
             DROP INDEX tg_records_by_subject; DROP TABLE tg_memberships; DROP TABLE tg_service_keys;
             DROP TABLE tg_service_state; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.tenant_keys(&ctx("acme")).await.unwrap().len(), 1);
    assert_eq!(
        store.get_policy(&ctx("acme"), "egress").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .put_policy(&ctx("acme"), "egress", "{}", 1)
            .await
            .unwrap(),
        1
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 7);
}

/// Issue 22: an organization sets its own person names and exempt words by policy alone;
/// they are stored with the policy (a second instance on the same database applies them),
/// stay within the organization, count as personal data for restricted providers, and are
/// bounded like the redactor's own lists.
#[tokio::test]
async fn organization_names_and_exempt_words_are_set_by_policy() {
    // `Zorblat` is in no gazetteer and has no cue here: only the organization's list makes it
    // a name. `Aurora` is a given name in the gazetteer and, for this organization, a product.
    const TEXT: &str = "Please ask Zorblat whether Aurora shipped, then tell Anna.";
    let dir = tempfile::tempdir().unwrap();
    let guard = tg_cap::embedded(dir.path()).unwrap();
    for t in ["acme", "globex"] {
        guard.keys().create_tenant(&ctx(t)).await.unwrap();
    }
    let egress = Egress::builder(guard.clone())
        .registry(Registry::example())
        .build()
        .unwrap();
    let (acme, globex) = (ctx("acme"), ctx("globex"));
    let pii = EgressPolicy {
        redaction: RedactionLevel::Pii,
        operator: Operator::Tag,
        ..Default::default()
    };
    egress.set_policy(&globex, &pii).await.unwrap();
    let mine = EgressPolicy {
        names: vec!["Zorblat Quennick".into()],
        exempt: vec!["aurora".into()],
        ..pii.clone()
    };
    egress.set_policy(&acme, &mine).await.unwrap();
    assert_eq!(egress.policy(&acme).await.unwrap(), mine);
    let p = allowed(egress.prepare(&acme, "llm-chat", TEXT).await.unwrap());
    assert_eq!(
        p.text,
        "Please ask [NAME] whether Aurora shipped, then tell [NAME]."
    );
    // Another organization's policy has neither list.
    let p = allowed(egress.prepare(&globex, "llm-chat", TEXT).await.unwrap());
    assert_eq!(
        p.text,
        "Please ask Zorblat whether [NAME] shipped, then tell [NAME]."
    );
    drop(egress);
    drop(guard);

    // A second instance on the same database reads the lists from the stored policy.
    let guard = tg_cap::embedded(dir.path()).unwrap();
    let acme = ctx("acme");
    let egress = Egress::builder(guard)
        .registry(Registry::example())
        .build()
        .unwrap();
    assert_eq!(egress.policy(&acme).await.unwrap().names, mine.names);
    let p = allowed(egress.prepare(&acme, "llm-chat", TEXT).await.unwrap());
    assert!(
        p.text.starts_with("Please ask [NAME] whether Aurora"),
        "{}",
        p.text
    );

    // Not redacted, an organization's name still counts as personal data for a provider
    // restricted to other categories (here the only name in the text is the org's own).
    let restricted = EgressPolicy {
        names: vec!["Zorblat".into()],
        categories: BTreeMap::from([(
            "llm-chat".to_owned(),
            BTreeSet::from([category::PROMPTS.to_owned()]),
        )]),
        ..Default::default()
    };
    egress.set_policy(&acme, &restricted).await.unwrap();
    assert_eq!(
        denied(
            egress
                .prepare(&acme, "llm-chat", "ask zorblat and Zorblat")
                .await
                .unwrap()
        ),
        DenyReason::CategoryNotAllowed {
            category: category::PII.to_owned()
        }
    );
    assert!(egress
        .prepare(&acme, "llm-chat", "ask the team")
        .await
        .unwrap()
        .allowed()
        .is_some());

    // Bounded: too many names, an over-long word, a control character, a blank entry are
    // refused with a typed error and the stored policy is unchanged.
    let limits = [
        vec!["Ann".to_owned(); tenantguard::redact::MAX_ORG_NAMES + 1],
        vec!["x".repeat(tenantguard::redact::MAX_NAME_LEN + 1)],
        vec!["Ann\u{0}Lee".to_owned()],
        vec!["  ".to_owned()],
    ];
    for bad in limits {
        for p in [
            EgressPolicy {
                names: bad.clone(),
                ..Default::default()
            },
            EgressPolicy {
                exempt: bad,
                ..Default::default()
            },
        ] {
            let e = egress.set_policy(&acme, &p).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
    }
    assert_eq!(egress.policy(&acme).await.unwrap(), restricted);
    // Stored policies from before these fields still load (the fields default to empty).
    let old: EgressPolicy = serde_json::from_str("{\"redaction\":\"pii\"}").unwrap();
    assert!(old.names.is_empty() && old.exempt.is_empty());
}
