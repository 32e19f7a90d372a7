//! The event bus: news that one area's change may make another area's cached state wrong.
//!
//! Areas never call each other to react: the area that changes something publishes an
//! [`Event`], and every area that caches something derived from it subscribes. Events
//! are *news*, never the truth: the truth stays in the store's rows, and every subscriber
//! reacts by forgetting (evicting, refusing until re-read), never by trusting an event to
//! grant anything. A forged event can only make an instance re-read the store; a lost one
//! is what the propagation bound is about (see docs/SECURITY.md, "Many instances").
//!
//! With `PostgresStore` (feature `postgres`) the bus is fed across instances: the
//! database writes an event row in the same transaction as each change (triggers on the
//! truth tables), and a listener in every process reads them (LISTEN/NOTIFY plus a
//! polling fallback) and publishes them here. Other stores are single-process: the bus
//! carries the guard's own news only.

use std::sync::{Arc, RwLock, Weak};

use crate::tenant::TenantId;

/// One piece of news. Subscribers must treat every event as "something about this may
/// have changed: re-read it", and be idempotent (an event can arrive more than once).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An agent token was revoked (one by one, or by the kill switch, or by a shred).
    TokenRevoked {
        /// The token's tenant.
        tenant: TenantId,
        /// The token id.
        token_id: String,
    },
    /// Every token of an agent was revoked (the kill switch).
    AgentKilled {
        /// The agent's tenant.
        tenant: TenantId,
        /// The agent.
        agent: String,
    },
    /// A login session was revoked: its access tokens must stop.
    SessionRevoked {
        /// The session's tenant.
        tenant: TenantId,
        /// The session id.
        session_id: String,
    },
    /// Every session of a user in a tenant was revoked (e.g. after a password change).
    UserSessionsRevoked {
        /// The tenant.
        tenant: TenantId,
        /// The user.
        user: String,
    },
    /// A user's membership in a tenant was added, changed or removed: access tokens that
    /// carry the old role must stop.
    MembershipChanged {
        /// The tenant.
        tenant: TenantId,
        /// The member.
        user: String,
    },
    /// The tenant was crypto-shredded: nothing of it may be opened, sealed or used again.
    TenantShredded {
        /// The tenant.
        tenant: TenantId,
    },
    /// The tenant got a new active key version: new values must be sealed under it.
    KeyRotated {
        /// The tenant.
        tenant: TenantId,
        /// The new active version.
        key_id: u32,
    },
    /// A key version of the tenant was retired (made decrypt-only or destroyed).
    KeyRetired {
        /// The tenant.
        tenant: TenantId,
        /// The version.
        key_id: u32,
    },
    /// A policy document of the tenant changed.
    PolicyChanged {
        /// The tenant.
        tenant: TenantId,
        /// The policy kind (e.g. `egress`).
        kind: String,
    },
    /// A service key (session signing, row MACs...) was rotated or retired.
    ServiceKeyChanged {
        /// The key's purpose.
        purpose: String,
    },
    /// News may have been lost (the cross-instance listener reconnected after its events
    /// were pruned, or could not keep up): every subscriber drops everything it caches.
    Resync,
}

impl Event {
    /// The event's tenant, if it is about one.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Event::TokenRevoked { tenant, .. }
            | Event::AgentKilled { tenant, .. }
            | Event::SessionRevoked { tenant, .. }
            | Event::UserSessionsRevoked { tenant, .. }
            | Event::MembershipChanged { tenant, .. }
            | Event::TenantShredded { tenant }
            | Event::KeyRotated { tenant, .. }
            | Event::KeyRetired { tenant, .. }
            | Event::PolicyChanged { tenant, .. } => Some(tenant),
            Event::ServiceKeyChanged { .. } | Event::Resync => None,
        }
    }

    /// A stable kind name (the `kind` column of PostgreSQL's `tg_events`).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::TokenRevoked { .. } => "token_revoke",
            Event::AgentKilled { .. } => "agent_kill",
            Event::SessionRevoked { .. } => "session_revoke",
            Event::UserSessionsRevoked { .. } => "user_sessions_revoke",
            Event::MembershipChanged { .. } => "membership",
            Event::TenantShredded { .. } => "tenant_shred",
            Event::KeyRotated { .. } => "key_rotate",
            Event::KeyRetired { .. } => "key_retire",
            Event::PolicyChanged { .. } => "policy",
            Event::ServiceKeyChanged { .. } => "service_key",
            Event::Resync => "resync",
        }
    }

    /// Rebuilds an event from its stored form (`kind`, `tenant`, `subject`); `None` for a
    /// kind this build does not know (a newer release's event: ignored, never fatal) or a
    /// malformed row. A row the database refuses to let anyone but its triggers write.
    pub fn from_parts(kind: &str, tenant: Option<&str>, subject: Option<&str>) -> Option<Event> {
        let (tenant_str, subject_str) = (tenant, subject);
        let tenant = || tenant_str.and_then(|t| TenantId::new(t).ok());
        let subject = || subject_str.map(str::to_owned);
        let key_id = || subject_str.and_then(|s| s.parse::<u32>().ok());
        Some(match kind {
            "token_revoke" => Event::TokenRevoked {
                tenant: tenant()?,
                token_id: subject()?,
            },
            "agent_kill" => Event::AgentKilled {
                tenant: tenant()?,
                agent: subject()?,
            },
            "session_revoke" => Event::SessionRevoked {
                tenant: tenant()?,
                session_id: subject()?,
            },
            "user_sessions_revoke" => Event::UserSessionsRevoked {
                tenant: tenant()?,
                user: subject()?,
            },
            "membership" => Event::MembershipChanged {
                tenant: tenant()?,
                user: subject()?,
            },
            "tenant_shred" => Event::TenantShredded { tenant: tenant()? },
            "key_rotate" => Event::KeyRotated {
                tenant: tenant()?,
                key_id: key_id()?,
            },
            "key_retire" => Event::KeyRetired {
                tenant: tenant()?,
                key_id: key_id()?,
            },
            "policy" => Event::PolicyChanged {
                tenant: tenant()?,
                kind: subject()?,
            },
            "service_key" => Event::ServiceKeyChanged {
                purpose: subject()?,
            },
            "resync" => Event::Resync,
            _ => return None,
        })
    }
}

type Handler = dyn Fn(&Event) + Send + Sync;

/// Keeps a subscription alive: dropping it unsubscribes.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    _handler: Arc<Handler>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

/// The in-process bus. Handlers run synchronously in the publisher's thread, in
/// subscription order; they must be quick and must not block (they evict and mark; the
/// re-read happens later, on the next use).
#[derive(Default)]
pub struct EventBus {
    handlers: RwLock<Vec<Weak<Handler>>>,
    published: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `handler` with every event published from now on, until the returned
    /// [`Subscription`] is dropped.
    pub fn subscribe(&self, handler: impl Fn(&Event) + Send + Sync + 'static) -> Subscription {
        let handler: Arc<Handler> = Arc::new(handler);
        let mut hs = self.handlers.write().unwrap_or_else(|p| p.into_inner());
        hs.retain(|h| h.strong_count() > 0);
        hs.push(Arc::downgrade(&handler));
        Subscription { _handler: handler }
    }

    /// Delivers `event` to every live subscriber.
    pub fn publish(&self, event: &Event) {
        self.published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let live: Vec<Arc<Handler>> = self
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for h in live {
            h(event);
        }
    }

    /// How many events were published on this bus (local and received).
    pub fn published(&self) -> u64 {
        self.published.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Where a store's cross-instance listener stands (see
/// [`Guard::event_feed_status`](crate::Guard::event_feed_status)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedStatus {
    /// Whether the dedicated connection is up.
    pub connected: bool,
    /// Whether LISTEN/NOTIFY passed its self-probe on the current connection (false: the
    /// polling fallback alone carries the news, e.g. behind a transaction pooler).
    pub notifications: bool,
    /// Events received from other instances (and this one's own, echoed back).
    pub received: u64,
    /// Completed polls of the events table.
    pub polls: u64,
    /// Reconnections after the first connection.
    pub reconnects: u64,
}

/// A source of cross-instance news attached to a store.
pub trait EventFeed: Send + Sync {
    /// The bus the feed publishes to (the guard subscribes its areas here and publishes
    /// its own news here too).
    fn bus(&self) -> Arc<EventBus>;
    /// Where the listener stands.
    fn status(&self) -> FeedStatus;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn subscribers_receive_until_dropped() {
        let bus = EventBus::new();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let sub = bus.subscribe(move |_| {
            n2.fetch_add(1, Ordering::SeqCst);
        });
        bus.publish(&Event::Resync);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        drop(sub);
        bus.publish(&Event::Resync);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert_eq!(bus.published(), 2);
    }

    #[test]
    fn parts_round_trip_and_unknown_kinds_are_ignored() {
        let t = TenantId::new("acme").unwrap();
        for e in [
            Event::TokenRevoked {
                tenant: t.clone(),
                token_id: "tok_1".into(),
            },
            Event::SessionRevoked {
                tenant: t.clone(),
                session_id: "ses_1".into(),
            },
            Event::MembershipChanged {
                tenant: t.clone(),
                user: "bob".into(),
            },
            Event::TenantShredded { tenant: t.clone() },
            Event::KeyRotated {
                tenant: t.clone(),
                key_id: 2,
            },
            Event::KeyRetired {
                tenant: t.clone(),
                key_id: 1,
            },
        ] {
            let subject = match &e {
                Event::TokenRevoked { token_id, .. } => Some(token_id.clone()),
                Event::SessionRevoked { session_id, .. } => Some(session_id.clone()),
                Event::MembershipChanged { user, .. } => Some(user.clone()),
                Event::KeyRotated { key_id, .. } | Event::KeyRetired { key_id, .. } => {
                    Some(key_id.to_string())
                }
                _ => None,
            };
            assert_eq!(
                Event::from_parts(e.kind(), Some("acme"), subject.as_deref()),
                Some(e)
            );
        }
        assert_eq!(
            Event::from_parts("from_the_future", Some("acme"), None),
            None
        );
        assert_eq!(
            Event::from_parts("token_revoke", Some("no:colon"), Some("x")),
            None
        );
        assert_eq!(
            Event::from_parts("key_rotate", Some("acme"), Some("x")),
            None
        );
    }
}
