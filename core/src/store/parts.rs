//! The stores a guard is built on, area by area.
//!
//! Keys and records, the audit log and the service keyring are required: every release
//! of plaintext and every key event is audited before it takes effect, and the audit and
//! row MAC keys live in the service keyring. Tokens, sessions, retention and memberships
//! are optional: a guard without one refuses that area's operations with a `Config` error
//! that names the builder method to call, and never falls back to anything weaker.

use std::sync::Arc;

use super::{
    AuditStore, KeyRecordStore, MembershipStore, RetentionStore, SessionStore, Store, StoreError,
    TokenStore, TracedStore,
};
use crate::kms::ServiceKeyStore;

/// What the builder was given.
#[derive(Default)]
pub(crate) struct StoreParts {
    pub(crate) keys: Option<Arc<dyn KeyRecordStore>>,
    pub(crate) audit: Option<Arc<dyn AuditStore>>,
    pub(crate) service_keys: Option<Arc<dyn ServiceKeyStore>>,
    pub(crate) tokens: Option<Arc<dyn TokenStore>>,
    pub(crate) sessions: Option<Arc<dyn SessionStore>>,
    pub(crate) retention: Option<Arc<dyn RetentionStore>>,
    pub(crate) members: Option<Arc<dyn MembershipStore>>,
}

impl StoreParts {
    /// Every area from one complete backend.
    pub(crate) fn set_all(&mut self, s: Arc<dyn Store>) {
        self.keys = Some(s.clone() as Arc<dyn KeyRecordStore>);
        self.audit = Some(s.clone() as Arc<dyn AuditStore>);
        self.service_keys = Some(s.clone() as Arc<dyn ServiceKeyStore>);
        self.tokens = Some(s.clone() as Arc<dyn TokenStore>);
        self.sessions = Some(s.clone() as Arc<dyn SessionStore>);
        self.retention = Some(s.clone() as Arc<dyn RetentionStore>);
        self.members = Some(s as Arc<dyn MembershipStore>);
    }
}

impl StoreParts {
    /// Replaces the key and record store; a retention store that was the previous one's
    /// object goes with it (retention works on the records where they are stored).
    pub(crate) fn set_keys(&mut self, s: Arc<dyn KeyRecordStore>) {
        if let (Some(old), Some(r)) = (&self.keys, &self.retention) {
            if same(old, r) {
                self.retention = None;
            }
        }
        self.keys = Some(s);
    }
}

/// Whether two store handles point at one object (whatever trait they are seen through).
fn same<A: ?Sized, B: ?Sized>(a: &Arc<A>, b: &Arc<B>) -> bool {
    Arc::as_ptr(a).cast::<()>() == Arc::as_ptr(b).cast::<()>()
}

/// The stores of a built guard, each wrapped in `store` tracing spans.
pub(crate) struct Stores {
    pub(crate) keys: Arc<dyn KeyRecordStore>,
    pub(crate) audit: Arc<dyn AuditStore>,
    pub(crate) service_keys: Arc<dyn ServiceKeyStore>,
    tokens: Option<Arc<dyn TokenStore>>,
    sessions: Option<Arc<dyn SessionStore>>,
    retention: Option<Arc<dyn RetentionStore>>,
    members: Option<Arc<dyn MembershipStore>>,
}

fn missing(what: &str) -> String {
    format!("GuardBuilder needs {what}: set GuardBuilder::store (a complete backend) or GuardBuilder::{what}")
}

fn traced<T: ?Sized>(s: Arc<T>) -> Arc<TracedStore<T>> {
    Arc::new(TracedStore::new(s))
}

impl Stores {
    /// Checks the required areas; `Err` names the builder method that is missing.
    pub(crate) fn build(p: StoreParts) -> Result<Stores, String> {
        let keys = p.keys.ok_or_else(|| missing("key_record_store"))?;
        let audit = p.audit.ok_or_else(|| missing("audit_store"))?;
        let service_keys = p.service_keys.ok_or_else(|| missing("service_key_store"))?;
        // A session is only as live as its user's membership: without a membership store
        // every refresh would have to trust the role frozen into the session.
        if p.sessions.is_some() && p.members.is_none() {
            return Err(
                "GuardBuilder has a session_store but no membership_store: sessions re-check \
                 the user's live role, set GuardBuilder::membership_store too"
                    .into(),
            );
        }
        // The sweep and the erasures delete records where they live: a retention store
        // that is not the record store would report deletions that never happened.
        if let Some(r) = &p.retention {
            if !same(r, &keys) {
                return Err(
                    "GuardBuilder's retention_store must be the same object as its \
                     key_record_store: the sweep deletes records where they are stored"
                        .into(),
                );
            }
        }
        Ok(Stores {
            keys: traced(keys),
            audit: traced(audit),
            service_keys: traced(service_keys),
            tokens: p.tokens.map(|s| traced(s) as Arc<dyn TokenStore>),
            sessions: p.sessions.map(|s| traced(s) as Arc<dyn SessionStore>),
            retention: p.retention.map(|s| traced(s) as Arc<dyn RetentionStore>),
            members: p.members.map(|s| traced(s) as Arc<dyn MembershipStore>),
        })
    }

    /// The token store, or `NotConfigured`.
    pub(crate) fn tokens(&self) -> Result<&dyn TokenStore, StoreError> {
        self.tokens
            .as_deref()
            .ok_or_else(|| StoreError::NotConfigured("token_store".into()))
    }

    /// The session store, or `NotConfigured`.
    pub(crate) fn sessions(&self) -> Result<&dyn SessionStore, StoreError> {
        self.sessions
            .as_deref()
            .ok_or_else(|| StoreError::NotConfigured("session_store".into()))
    }

    /// The retention store, or `NotConfigured`.
    pub(crate) fn retention(&self) -> Result<&dyn RetentionStore, StoreError> {
        self.retention
            .as_deref()
            .ok_or_else(|| StoreError::NotConfigured("retention_store".into()))
    }

    /// The membership store, or `NotConfigured`.
    pub(crate) fn members(&self) -> Result<&dyn MembershipStore, StoreError> {
        self.members
            .as_deref()
            .ok_or_else(|| StoreError::NotConfigured("membership_store".into()))
    }

    /// The token store if the guard has one (a shred revokes what exists).
    pub(crate) fn tokens_if_any(&self) -> Option<&dyn TokenStore> {
        self.tokens.as_deref()
    }

    /// The session store if the guard has one.
    pub(crate) fn sessions_if_any(&self) -> Option<&dyn SessionStore> {
        self.sessions.as_deref()
    }
}
