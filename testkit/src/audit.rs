//! The audit log ([`AuditStore`], with [`KeyStore`] to make tenants): one hash chain per
//! tenant from the genesis hash, paging, erasure of personal fields that keeps the chain.

use tenantguard::audit::{AppendedEntry, AuditDraft, AuditEntry, GENESIS};
use tenantguard::store::{AuditStore, KeyStore, MAX_PAGE};
use tenantguard::{ErrorKind, TenantContext};

use crate::fixtures::{draft, kind, new_tenant, personal_draft};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + AuditStore + ?Sized>(store: &S) {
    appends_chain_from_genesis(store).await;
    append_audit_owned_reports_what_it_stored(store).await;
    entries_page_after_a_seq(store).await;
    logs_are_per_tenant(store).await;
    erase_personal_clears_only_the_named_entries(store).await;
    invalid_pages_are_refused(store).await;
}

/// The entries `drafts` make when chained after `prev` from `first` on, as a store must
/// append them.
fn chained(tenant: &str, first: u64, prev: &str, drafts: &[AuditDraft]) -> Vec<AuditEntry> {
    let mut prev = prev.to_owned();
    let mut out = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let e = AuditEntry::chain(tenant, first + i as u64, &prev, d);
        prev = e.hash.clone();
        out.push(e);
    }
    out
}

async fn all<S: AuditStore + ?Sized>(store: &S, c: &TenantContext) -> Vec<AuditEntry> {
    store.audit_entries(c, 0, MAX_PAGE).await.unwrap()
}

/// Appends are numbered from 1 and chained from the genesis hash, and come back exactly as
/// `AuditEntry::chain` makes them, erasable personal fields included.
pub async fn appends_chain_from_genesis<S: KeyStore + AuditStore + ?Sized>(store: &S) {
    rule!(
        appends_chain_from_genesis,
        "appends are numbered from 1 and chained from the genesis hash, and come back \
         exactly as AuditEntry::chain makes them, erasable personal fields included",
        {
            let a = new_tenant(store, "au-a").await;
            let drafts = [draft(1), draft(2), personal_draft(3), draft(4)];
            let want = chained("au-a", 1, GENESIS, &drafts);
            for (d, w) in drafts.iter().zip(&want) {
                assert_eq!(&store.append_audit(&a, d).await.unwrap(), w);
            }
            let got = all(store, &a).await;
            assert_eq!(got, want);
            assert!(got
                .iter()
                .all(|e| e.hash == e.compute_hash() && e.personal_fields_match()));
            assert!(got[2].is_erasable() && !got[2].is_erased());
        }
    )
}

/// `append_audit_owned` appends like `append_audit` and reports exactly what it stored: its
/// number, time, chain hashes, MAC presence and Merkle leaf (the SDK extends its signed tree
/// with that report instead of reading the entry back).
pub async fn append_audit_owned_reports_what_it_stored<S: KeyStore + AuditStore + ?Sized>(
    store: &S,
) {
    rule!(
        append_audit_owned_reports_what_it_stored,
        "append_audit_owned appends like append_audit and reports exactly what it stored",
        {
            let a = new_tenant(store, "aq-a").await;
            store.append_audit(&a, &draft(1)).await.unwrap();
            let second = store.append_audit_owned(&a, draft(2)).await.unwrap();
            let third = store
                .append_audit_owned(&a, personal_draft(3))
                .await
                .unwrap();
            store.append_audit(&a, &draft(4)).await.unwrap();
            let want = chained(
                "aq-a",
                1,
                GENESIS,
                &[draft(1), draft(2), personal_draft(3), draft(4)],
            );
            let got = all(store, &a).await;
            assert_eq!(got, want);
            assert_eq!(second, AppendedEntry::of(&got[1]));
            assert_eq!(third, AppendedEntry::of(&got[2]));
            assert_eq!((second.seq, third.seq), (2, 3));
            assert_eq!(third.prev, second.hash);
        }
    )
}

/// `audit_entries` pages entries with a number above `after`, ascending, at most `limit`.
pub async fn entries_page_after_a_seq<S: KeyStore + AuditStore + ?Sized>(store: &S) {
    rule!(
        entries_page_after_a_seq,
        "audit_entries pages entries with a number above after, ascending, at most limit",
        {
            let a = new_tenant(store, "ap-a").await;
            for n in 1..=12 {
                store.append_audit(&a, &draft(n)).await.unwrap();
            }
            let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
            assert_eq!(
                seqs(store.audit_entries(&a, 0, 5).await.unwrap()),
                [1, 2, 3, 4, 5]
            );
            assert_eq!(
                seqs(store.audit_entries(&a, 5, 5).await.unwrap()),
                [6, 7, 8, 9, 10]
            );
            assert_eq!(
                seqs(store.audit_entries(&a, 10, 5).await.unwrap()),
                [11, 12]
            );
            for after in [12, 13, u64::MAX] {
                assert!(
                    store.audit_entries(&a, after, 5).await.unwrap().is_empty(),
                    "after {after}"
                );
            }
        }
    )
}

/// Each tenant has its own chain from 1 and the genesis hash; no tenant's entries show in
/// another's log.
pub async fn logs_are_per_tenant<S: KeyStore + AuditStore + ?Sized>(store: &S) {
    rule!(
        logs_are_per_tenant,
        "each tenant has its own chain from 1 and the genesis hash; no tenant's entries \
         show in another's log",
        {
            let a = new_tenant(store, "al-a").await;
            let b = new_tenant(store, "al-b").await;
            let empty = new_tenant(store, "al-empty").await;
            store.append_audit(&a, &draft(1)).await.unwrap();
            store.append_audit(&a, &draft(2)).await.unwrap();
            let first_of_b = store.append_audit(&b, &draft(3)).await.unwrap();
            assert_eq!((first_of_b.seq, first_of_b.prev.as_str()), (1, GENESIS));
            assert_eq!(first_of_b.tenant, "al-b");
            assert_eq!(
                all(store, &a).await,
                chained("al-a", 1, GENESIS, &[draft(1), draft(2)])
            );
            assert_eq!(all(store, &b).await, vec![first_of_b]);
            assert!(all(store, &empty).await.is_empty());
        }
    )
}

/// `erase_audit_personal` clears the actor, target, reason and salt of the tenant's named
/// format-v2 entries only, counts them, is idempotent, and leaves every hash as it was.
pub async fn erase_personal_clears_only_the_named_entries<S: KeyStore + AuditStore + ?Sized>(
    store: &S,
) {
    rule!(
        erase_personal_clears_only_the_named_entries,
        "erase_audit_personal clears the actor, target, reason and salt of the tenant's \
         named format-v2 entries only, counts them, is idempotent, and leaves every hash \
         as it was",
        {
            let a = new_tenant(store, "ae-a").await;
            let b = new_tenant(store, "ae-b").await;
            let drafts = [
                personal_draft(1),
                draft(2),
                personal_draft(3),
                personal_draft(4),
            ];
            for d in &drafts {
                store.append_audit(&a, d).await.unwrap();
            }
            let before = all(store, &a).await;
            let theirs = store.append_audit(&b, &personal_draft(1)).await.unwrap();
            assert_eq!(
                store.erase_audit_personal(&a, &[1, 2, 3]).await.unwrap(),
                2,
                "entry 2 has no erasable fields"
            );
            let after = all(store, &a).await;
            let mut erased = before.clone();
            erased[0].erase_personal();
            erased[2].erase_personal();
            assert_eq!(after, erased);
            for e in &after {
                assert_eq!(e.hash, e.compute_hash(), "entry {} keeps its hash", e.seq);
                assert!(e.personal_fields_match(), "entry {}", e.seq);
            }
            assert!(after[0].is_erased() && after[0].actor.is_empty());
            assert!(after[0].target.is_empty() && after[0].reason.is_none());
            assert_eq!(
                store.erase_audit_personal(&a, &[1, 3]).await.unwrap(),
                0,
                "idempotent"
            );
            assert_eq!(store.erase_audit_personal(&a, &[99]).await.unwrap(), 0);
            assert_eq!(
                all(store, &b).await,
                vec![theirs],
                "another tenant's entry 1 untouched"
            );
            assert_eq!(store.erase_audit_personal(&a, &[4]).await.unwrap(), 1);
            assert!(all(store, &a).await[3].is_erased());
        }
    )
}

/// A page size of 0 or over `MAX_PAGE` is `InvalidInput` for `audit_entries`, and so is
/// erasing more than `MAX_PAGE` entries at once.
pub async fn invalid_pages_are_refused<S: KeyStore + AuditStore + ?Sized>(store: &S) {
    rule!(
        invalid_pages_are_refused,
        "a page size of 0 or over MAX_PAGE is InvalidInput for audit_entries, and so is \
         erasing more than MAX_PAGE entries at once",
        {
            let a = new_tenant(store, "av-a").await;
            store.append_audit(&a, &personal_draft(1)).await.unwrap();
            for bad in [0, MAX_PAGE + 1] {
                assert_eq!(
                    kind(store.audit_entries(&a, 0, bad).await),
                    ErrorKind::InvalidInput,
                    "audit_entries page {bad}"
                );
            }
            let too_many: Vec<u64> = (1..=MAX_PAGE as u64 + 1).collect();
            assert_eq!(
                kind(store.erase_audit_personal(&a, &too_many).await),
                ErrorKind::InvalidInput
            );
            assert!(!all(store, &a).await[0].is_erased(), "nothing erased");
        }
    )
}
