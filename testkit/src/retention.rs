//! Retention ([`RetentionStore`], with [`KeyStore`] and [`RecordStore`] to make tenants and
//! records): per-tenant rules, the record queries of a sweep, erasure by subject and of a
//! whole tenant.

use tenantguard::store::{KeyStore, RecordStore, RetentionStore, RetentionWindow, SealedRecord};
use tenantguard::store::{MAX_LABEL_LEN, MAX_PAGE};
use tenantguard::{ErrorKind, TenantContext};

use crate::fixtures::{kid, kind, new_tenant, rec};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + RecordStore + RetentionStore + ?Sized>(store: &S) {
    rules_are_set_replaced_and_cleared_per_tenant(store).await;
    invalid_rules_are_refused(store).await;
    record_classes_are_distinct_sorted_and_per_tenant(store).await;
    delete_expired_takes_only_older_records_of_the_class(store).await;
    delete_by_subject_takes_only_the_subjects_records(store).await;
    delete_all_records_stays_in_its_tenant(store).await;
    invalid_pages_are_refused(store).await;
}

/// A record of `class` about `subject`, last written at `updated_at`.
fn rec_at(id: &str, class: &str, subject: Option<&str>, updated_at: i64) -> SealedRecord {
    SealedRecord {
        class: class.to_owned(),
        subject: subject.map(str::to_owned),
        created_at: updated_at,
        updated_at,
        ..rec(id, 1, 0)
    }
}

async fn put_all<S: RecordStore + ?Sized>(store: &S, c: &TenantContext, recs: &[SealedRecord]) {
    for r in recs {
        store.put_record(c, r).await.unwrap();
    }
}

async fn present<S: RecordStore + ?Sized>(store: &S, c: &TenantContext, id: &str) -> bool {
    store.get_record(c, id).await.unwrap().is_some()
}

/// Rules are set, replaced and cleared per tenant and data class, and listed by class.
pub async fn rules_are_set_replaced_and_cleared_per_tenant<
    S: KeyStore + RecordStore + RetentionStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        rules_are_set_replaced_and_cleared_per_tenant,
        "rules are set, replaced and cleared per tenant and data class, and listed by \
         class",
        {
            let a = new_tenant(store, "rr-a").await;
            let b = new_tenant(store, "rr-b").await;
            assert!(store.retention_rules(&a).await.unwrap().is_empty());
            let chat = "chat_transcript";
            store
                .set_retention_rule(&a, chat, RetentionWindow::Secs(3600))
                .await
                .unwrap();
            store
                .set_retention_rule(&a, "audit_export", RetentionWindow::Forever)
                .await
                .unwrap();
            store
                .set_retention_rule(&a, chat, RetentionWindow::Secs(60))
                .await
                .unwrap();
            let a_rules = vec![
                ("audit_export".to_owned(), RetentionWindow::Forever),
                (chat.to_owned(), RetentionWindow::Secs(60)),
            ];
            assert_eq!(
                store.retention_rules(&a).await.unwrap(),
                a_rules,
                "replaced, ascending by class"
            );
            assert!(
                store.retention_rules(&b).await.unwrap().is_empty(),
                "another tenant's rules are not this tenant's"
            );
            store
                .set_retention_rule(&b, chat, RetentionWindow::Secs(5))
                .await
                .unwrap();
            assert_eq!(store.retention_rules(&a).await.unwrap(), a_rules);
            assert!(
                !store
                    .clear_retention_rule(&b, "audit_export")
                    .await
                    .unwrap(),
                "clearing another tenant's rule finds nothing"
            );
            assert!(store.clear_retention_rule(&a, chat).await.unwrap());
            assert!(!store.clear_retention_rule(&a, chat).await.unwrap());
            assert!(!store.clear_retention_rule(&a, "never_set").await.unwrap());
            assert_eq!(
                store.retention_rules(&a).await.unwrap(),
                vec![("audit_export".to_owned(), RetentionWindow::Forever)]
            );
            assert_eq!(
                store.retention_rules(&b).await.unwrap(),
                vec![(chat.to_owned(), RetentionWindow::Secs(5))]
            );
        }
    )
}

/// A rule with an empty, over-long or control-character class, or a window of zero or
/// fewer seconds, is `InvalidInput` and is not stored.
pub async fn invalid_rules_are_refused<S: KeyStore + RecordStore + RetentionStore + ?Sized>(
    store: &S,
) {
    rule!(
        invalid_rules_are_refused,
        "a rule with an empty, over-long or control-character class, or a window of zero \
         or fewer seconds, is InvalidInput and is not stored",
        {
            let a = new_tenant(store, "ri-a").await;
            let long = "c".repeat(MAX_LABEL_LEN + 1);
            for bad in ["", long.as_str(), "with\nnewline"] {
                assert_eq!(
                    kind(
                        store
                            .set_retention_rule(&a, bad, RetentionWindow::Secs(60))
                            .await
                    ),
                    ErrorKind::InvalidInput,
                    "class {bad:?}"
                );
            }
            for secs in [0, -1, i64::MIN] {
                assert_eq!(
                    kind(
                        store
                            .set_retention_rule(&a, "chat", RetentionWindow::Secs(secs))
                            .await
                    ),
                    ErrorKind::InvalidInput,
                    "window of {secs} seconds"
                );
            }
            assert!(
                store.retention_rules(&a).await.unwrap().is_empty(),
                "nothing stored"
            );
        }
    )
}

/// `record_classes` lists the distinct data classes of the tenant's own records, ascending.
pub async fn record_classes_are_distinct_sorted_and_per_tenant<
    S: KeyStore + RecordStore + RetentionStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        record_classes_are_distinct_sorted_and_per_tenant,
        "record_classes lists the distinct data classes of the tenant's own records, \
         ascending",
        {
            let a = new_tenant(store, "rc-a").await;
            let b = new_tenant(store, "rc-b").await;
            let empty = new_tenant(store, "rc-empty").await;
            put_all(
                store,
                &a,
                &[
                    rec_at("rc-1", "password", None, 1),
                    rec_at("rc-2", "api_token", None, 1),
                    rec_at("rc-3", "password", None, 1),
                    rec_at("rc-4", "chat_transcript", None, 1),
                ],
            )
            .await;
            put_all(store, &b, &[rec_at("rc-1", "screenshot", None, 1)]).await;
            assert_eq!(
                store.record_classes(&a).await.unwrap(),
                ["api_token", "chat_transcript", "password"]
            );
            assert_eq!(store.record_classes(&b).await.unwrap(), ["screenshot"]);
            assert!(store.record_classes(&empty).await.unwrap().is_empty());
        }
    )
}

/// `delete_expired` deletes, lowest ids first and at most `limit`, only the tenant's
/// records
/// of the class written strictly before the cutoff, and returns their ids.
pub async fn delete_expired_takes_only_older_records_of_the_class<
    S: KeyStore + RecordStore + RetentionStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        delete_expired_takes_only_older_records_of_the_class,
        "delete_expired deletes, lowest ids first and at most limit, only the tenant's \
         records of the class written strictly before the cutoff, and returns their ids",
        {
            let a = new_tenant(store, "rx-a").await;
            let b = new_tenant(store, "rx-b").await;
            put_all(
                store,
                &a,
                &[
                    rec_at("rx-3", "chat", None, 100),
                    rec_at("rx-1", "chat", None, 100),
                    rec_at("rx-2", "chat", None, 299),
                    rec_at("rx-4", "chat", None, 300),
                    rec_at("rx-5", "password", None, 100),
                ],
            )
            .await;
            // Same ids and class in another tenant, older still.
            put_all(
                store,
                &b,
                &[
                    rec_at("rx-1", "chat", None, 1),
                    rec_at("rx-9", "chat", None, 1),
                ],
            )
            .await;
            assert_eq!(
                store.delete_expired(&a, "chat", 300, 2).await.unwrap(),
                ["rx-1", "rx-2"],
                "at most the limit, lowest ids first"
            );
            assert_eq!(
                store
                    .delete_expired(&a, "chat", 300, MAX_PAGE)
                    .await
                    .unwrap(),
                ["rx-3"]
            );
            assert!(store
                .delete_expired(&a, "chat", 300, MAX_PAGE)
                .await
                .unwrap()
                .is_empty());
            assert!(
                present(store, &a, "rx-4").await,
                "written at the cutoff: kept"
            );
            assert!(present(store, &a, "rx-5").await, "another class: kept");
            for id in ["rx-1", "rx-9"] {
                assert!(
                    present(store, &b, id).await,
                    "another tenant's {id} survives"
                );
            }
            assert_eq!(
                store
                    .delete_expired(&b, "chat", 300, MAX_PAGE)
                    .await
                    .unwrap(),
                ["rx-1", "rx-9"]
            );
            assert!(present(store, &a, "rx-4").await);
        }
    )
}

/// `delete_by_subject` deletes, lowest ids first and at most `limit`, only the tenant's
/// records tagged with the subject, and returns their ids.
pub async fn delete_by_subject_takes_only_the_subjects_records<
    S: KeyStore + RecordStore + RetentionStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        delete_by_subject_takes_only_the_subjects_records,
        "delete_by_subject deletes, lowest ids first and at most limit, only the tenant's \
         records tagged with the subject, and returns their ids",
        {
            let a = new_tenant(store, "rs-a").await;
            let b = new_tenant(store, "rs-b").await;
            put_all(
                store,
                &a,
                &[
                    rec_at("rs-2", "chat", Some("alice"), 1),
                    rec_at("rs-1", "password", Some("alice"), 1),
                    rec_at("rs-3", "chat", Some("bob"), 1),
                    rec_at("rs-4", "chat", None, 1),
                    rec_at("rs-5", "chat", Some("alice-2"), 1),
                ],
            )
            .await;
            put_all(store, &b, &[rec_at("rs-1", "chat", Some("alice"), 1)]).await;
            assert_eq!(
                store.delete_by_subject(&a, "alice", 1).await.unwrap(),
                ["rs-1"]
            );
            assert_eq!(
                store
                    .delete_by_subject(&a, "alice", MAX_PAGE)
                    .await
                    .unwrap(),
                ["rs-2"]
            );
            assert!(store
                .delete_by_subject(&a, "alice", MAX_PAGE)
                .await
                .unwrap()
                .is_empty());
            for id in ["rs-3", "rs-4", "rs-5"] {
                assert!(present(store, &a, id).await, "{id} is not alice's: kept");
            }
            assert!(
                present(store, &b, "rs-1").await,
                "another tenant's record of the same subject and id survives"
            );
        }
    )
}

/// Deleting all records of one tenant (`delete_all_records`, what erasing a tenant
/// runs) leaves another tenant's records with the same ids.
pub async fn delete_all_records_stays_in_its_tenant<
    S: KeyStore + RecordStore + RetentionStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        delete_all_records_stays_in_its_tenant,
        "deleting all records of one tenant (delete_all_records, what erasing a tenant \
         runs) leaves another tenant's records with the same ids",
        {
            let a = new_tenant(store, "ra-a").await;
            let b = new_tenant(store, "ra-b").await;
            for i in 1..=5 {
                store
                    .put_record(&a, &rec(&format!("ra-{i}"), 1, 1))
                    .await
                    .unwrap();
            }
            let theirs = [rec("ra-1", 1, 7), rec("ra-3", 1, 7), rec("ra-b-only", 1, 7)];
            put_all(store, &b, &theirs).await;
            assert_eq!(
                store.delete_all_records(&a, 2).await.unwrap(),
                2,
                "at most the limit, and only this tenant's"
            );
            assert_eq!(
                store.delete_all_records(&a, MAX_PAGE).await.unwrap(),
                3,
                "the rest of this tenant's records, none of another's"
            );
            assert_eq!(store.delete_all_records(&a, MAX_PAGE).await.unwrap(), 0);
            assert_eq!(store.count_by_key(&a, kid(1)).await.unwrap(), 0);
            for r in &theirs {
                assert_eq!(
                    store.get_record(&b, &r.id).await.unwrap().as_ref(),
                    Some(r),
                    "the other tenant's {} survives",
                    r.id
                );
            }
            assert_eq!(store.count_by_key(&b, kid(1)).await.unwrap(), 3);
        }
    )
}

/// A page size of 0 or over `MAX_PAGE` is `InvalidInput` for every deleting query, and
/// deletes nothing.
pub async fn invalid_pages_are_refused<S: KeyStore + RecordStore + RetentionStore + ?Sized>(
    store: &S,
) {
    rule!(
        invalid_pages_are_refused,
        "a page size of 0 or over MAX_PAGE is InvalidInput for every deleting query, and \
         deletes nothing",
        {
            let a = new_tenant(store, "rv-inv").await;
            store
                .put_record(&a, &rec_at("rvi-1", "chat", Some("alice"), 1))
                .await
                .unwrap();
            for bad in [0, MAX_PAGE + 1] {
                assert_eq!(
                    kind(store.delete_expired(&a, "chat", 1_000, bad).await),
                    ErrorKind::InvalidInput,
                    "delete_expired page {bad}"
                );
                assert_eq!(
                    kind(store.delete_by_subject(&a, "alice", bad).await),
                    ErrorKind::InvalidInput,
                    "delete_by_subject page {bad}"
                );
                assert_eq!(
                    kind(store.delete_all_records(&a, bad).await),
                    ErrorKind::InvalidInput,
                    "delete_all_records page {bad}"
                );
            }
            assert!(present(store, &a, "rvi-1").await, "nothing deleted");
        }
    )
}
