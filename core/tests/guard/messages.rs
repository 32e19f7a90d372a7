//! Error messages say what happened and what to do, and do not mislead (issue 12).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use tenantguard::audit::{verify_jsonl, VerifyOptions};
use tenantguard::tenant::Resolved;
use tenantguard::{
    ErrorKind, Guard, LocalKeyProvider, MemoryStore, Role, SealedValue, TenantContext, TenantId,
    UserId,
};

async fn setup() -> (Guard, TenantContext) {
    let guard = Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store(MemoryStore::new())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap();
    let acme = TenantContext::service(TenantId::new("acme").unwrap(), &tg_cap::cap());
    guard.keys().create_tenant(&acme).await.unwrap();
    (guard, acme)
}

#[tokio::test]
async fn an_owner_opening_is_told_it_needs_the_service_role() {
    let (guard, acme) = setup().await;
    let sealed = guard.records().seal(&acme, "c", b"v").await.unwrap();
    let owner = TenantContext::resolved(Resolved::vouch(
        &tg_cap::cap(),
        acme.tenant().clone(),
        UserId::new("olivia").unwrap(),
        Role::Owner,
    ));
    let e = guard
        .records()
        .open(&owner, "c", &sealed)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let m = e.to_string();
    assert!(m.contains("needs the service role"), "{m}");
    assert!(!m.contains("owner or higher"), "{m}");
}

#[test]
fn text_form_given_as_bytes_is_named_as_such() {
    let e = SealedValue::from_bytes(b"tg1:1:AAAAAAAAAAAAAAAAAAAA").unwrap_err();
    let m = e.to_string();
    assert!(m.contains("text form"), "{m}");
    assert!(!m.contains("upgrade"), "{m}");
    assert!(!m.contains("116"), "{m}");
}

#[test]
fn only_a_newer_version_says_upgrade() {
    let old = SealedValue::parse("tg0:1:AAAA").unwrap_err().to_string();
    assert!(
        old.contains("version 0") && !old.contains("upgrade"),
        "{old}"
    );
    let newer = SealedValue::parse("tg9:1:AAAA").unwrap_err().to_string();
    assert!(
        newer.contains("version 9") && newer.contains("upgrade"),
        "{newer}"
    );
    let zero = SealedValue::from_bytes(&[0u8; 70]).unwrap_err().to_string();
    assert!(!zero.contains("upgrade"), "{zero}");
}

#[test]
fn audit_errors_print_plain_seq_numbers() {
    let bad = b"{\"not\": \"an entry\"}\n";
    let m = verify_jsonl(&bad[..], &VerifyOptions::default())
        .unwrap()
        .into_result()
        .unwrap_err()
        .to_string();
    assert!(!m.contains("Some(") && !m.contains("None"), "{m}");
    assert!(m.contains("line 1"), "{m}");
}

#[tokio::test]
async fn a_long_data_class_is_reported_as_the_data_class() {
    let (guard, acme) = setup().await;
    let e = guard
        .records()
        .put(&acme, "r1", &"c".repeat(2000), None, b"v")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let m = e.to_string();
    assert!(m.contains("data class"), "{m}");
    assert!(!m.contains("context"), "{m}");
}
