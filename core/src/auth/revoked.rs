//! The sessions area's revocation list: which access tokens must stop before they expire.
//!
//! Access tokens are verified without a store lookup, so revoking a session (or removing
//! a member, or shredding the tenant) reaches them through the event bus: each instance
//! keeps what it heard for one access-token lifetime (after that every token it could
//! refuse has expired anyway), bounded by [`MAX_SESSION_REVOCATIONS`].

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::events::Event;
use crate::tenant::TenantId;

/// Most entries (sessions plus users) the list holds; past it, after dropping entries
/// older than one access-token lifetime, every access token issued until now is refused
/// (fail closed: clients refresh, which checks the store).
pub const MAX_SESSION_REVOCATIONS: usize = 1_000_000;

#[derive(Default)]
pub(crate) struct SessionRevocations {
    inner: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// (tenant, session id) -> when this instance heard of the revocation.
    sessions: HashMap<(TenantId, String), i64>,
    /// (tenant, user) -> access tokens issued at or before this second are refused.
    users: HashMap<(TenantId, String), i64>,
    /// (tenant, user) -> the membership changed at this second: access tokens issued at or
    /// before it stand only if the stored role still is the one they carry (a member
    /// re-added or a new login in the same second keeps working; a removed or demoted one
    /// does not).
    members: HashMap<(TenantId, String), i64>,
    tenants: HashSet<TenantId>,
    /// Every access token issued at or before this second is refused.
    floor: i64,
}

impl State {
    fn make_room(&mut self, now: i64, ttl: i64) {
        let len = |s: &Self| s.sessions.len() + s.users.len() + s.members.len();
        if len(self) < MAX_SESSION_REVOCATIONS {
            return;
        }
        let keep = |at: &mut i64| at.saturating_add(ttl) >= now;
        self.sessions.retain(|_, at| keep(at));
        self.users.retain(|_, at| keep(at));
        self.members.retain(|_, at| keep(at));
        if len(self) >= MAX_SESSION_REVOCATIONS {
            self.sessions.clear();
            self.users.clear();
            self.members.clear();
            self.floor = self.floor.max(now);
        }
    }
}

impl SessionRevocations {
    /// The sessions area's reaction to news, at `now` (this instance's clock), with
    /// access tokens living at most `ttl` seconds.
    pub(crate) fn on_event(&self, event: &Event, now: i64, ttl: i64) {
        let mut s = self.inner.write().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::SessionRevoked { tenant, session_id } => {
                s.make_room(now, ttl);
                s.sessions.insert((tenant.clone(), session_id.clone()), now);
            }
            Event::UserSessionsRevoked { tenant, user } => {
                s.make_room(now, ttl);
                let at = s.users.entry((tenant.clone(), user.clone())).or_insert(now);
                *at = (*at).max(now);
            }
            Event::MembershipChanged { tenant, user } => {
                s.make_room(now, ttl);
                let at = s
                    .members
                    .entry((tenant.clone(), user.clone()))
                    .or_insert(now);
                *at = (*at).max(now);
            }
            Event::TenantShredded { tenant } => {
                s.tenants.insert(tenant.clone());
            }
            Event::Resync => s.floor = s.floor.max(now),
            _ => {}
        }
    }

    /// What to do with an access token of `session` for `user` in `tenant`, issued at `iat`.
    pub(crate) fn verdict(
        &self,
        tenant: &TenantId,
        session: &str,
        user: &str,
        iat: i64,
    ) -> Verdict {
        let s = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if iat <= s.floor || s.tenants.contains(tenant) {
            return Verdict::Refused;
        }
        // Looked up with owned keys: the maps are keyed by (tenant, id).
        if s.sessions
            .contains_key(&(tenant.clone(), session.to_owned()))
        {
            return Verdict::Refused;
        }
        let key = (tenant.clone(), user.to_owned());
        if s.users.get(&key).is_some_and(|at| iat <= *at) {
            return Verdict::Refused;
        }
        if s.members.get(&key).is_some_and(|at| iat <= *at) {
            return Verdict::CheckMembership;
        }
        Verdict::Stands
    }

    /// Whether an access token must be refused outright (a membership re-check counts as
    /// a refusal here).
    #[cfg(test)]
    pub(crate) fn refused(&self, tenant: &TenantId, session: &str, user: &str, iat: i64) -> bool {
        self.verdict(tenant, session, user, iat) != Verdict::Stands
    }
}

/// The revocation list's answer for one access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing heard against it.
    Stands,
    /// Revoked (session, user's sessions, tenant shredded, or overflow).
    Refused,
    /// The user's membership changed after it was issued: it stands only if the stored
    /// role is still the one it carries.
    CheckMembership,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_refuses_the_right_tokens() {
        let r = SessionRevocations::default();
        let t = TenantId::new("acme").unwrap();
        r.on_event(
            &Event::SessionRevoked {
                tenant: t.clone(),
                session_id: "s1".into(),
            },
            100,
            900,
        );
        assert!(r.refused(&t, "s1", "alice", 50));
        assert!(!r.refused(&t, "s2", "alice", 50));
        assert!(!r.refused(&TenantId::new("other").unwrap(), "s1", "alice", 50));
        r.on_event(
            &Event::MembershipChanged {
                tenant: t.clone(),
                user: "bob".into(),
            },
            200,
            900,
        );
        assert!(r.refused(&t, "s9", "bob", 200));
        assert!(
            !r.refused(&t, "s9", "bob", 201),
            "a token issued after the change works"
        );
        r.on_event(&Event::Resync, 300, 900);
        assert!(r.refused(&t, "s9", "carol", 300));
        assert!(!r.refused(&t, "s9", "carol", 301));
        r.on_event(&Event::TenantShredded { tenant: t.clone() }, 400, 900);
        assert!(r.refused(&t, "s9", "carol", 10_000));
    }
}
