//! Rate limits on authentication and write paths (docs/SECURITY.md, "Rate limits").
//!
//! One GCRA (generic cell rate algorithm: a burst plus a sustained rate) per *cell*; a
//! check touches up to four cells of its [`ActionClass`], from the widest to the narrowest:
//! the tenant, the subject (user or agent) in the tenant, the object acted on (a TOTP
//! seed, a credential) and the subject *from one host key* (an IP address or client id
//! the host passes in). All of them must admit, or none is charged.
//!
//! Failures count more than successes ([`ClassPolicy::failure_cost`]) and repeated
//! failures lock the narrowest cell out with an exponential back-off: with a host key that
//! is the (user, host key) cell, so an attacker guessing from host X never locks the user
//! out from host Y.
//!
//! The state lives in a [`RateLimitBackend`]: in-process (the default, [`MemoryLimiter`]),
//! Redis (feature `redis`) or PostgreSQL (feature `postgres`); every backend runs the same
//! algorithm (`gcra.rs`, `redis.lua`, `008_rate_limits.sql`). When a shared backend is
//! unreachable each class fails open or closed as its policy says (closed for the
//! authentication classes by default).

pub(crate) mod enforce;
pub use enforce::Limits;
mod gcra;
mod memory;
mod overrides;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::error::ErrorKind;

pub use enforce::OVERRIDE_TTL_SECS;
pub use gcra::{CellBackoff, CellOp, CellQuota, CellState};
pub use memory::{MemoryLimiter, DEFAULT_MAX_CELLS};
pub use overrides::{ClassOverride, RateLimitOverrides, OVERRIDE_POLICY_KIND};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresLimiter, DEFAULT_PG_TIMEOUT};
#[cfg(feature = "redis")]
pub use redis::{RedisLimiter, DEFAULT_REDIS_TIMEOUT};

/// Longest host key kept as given, in bytes; a longer one is replaced by its SHA-256.
pub const MAX_HOST_KEY_LEN: usize = 128;

/// `d` in seconds, rounded up to the millisecond the message shows: a wait shown rounded
/// down (`0.000 s` for 0.4 ms) would invite a retry that is refused again.
fn secs_rounded_up(d: &Duration) -> f64 {
    d.as_nanos().div_ceil(1_000_000) as f64 / 1000.0
}

/// Errors of the rate limiter.
#[non_exhaustive]
#[derive(Debug, Error)]
pub enum RateLimitError {
    /// Over the limit: retry after `retry_after` (never sooner: an earlier retry is
    /// refused again, and for classes with back-off, counts against the caller).
    #[error(
        "rate limited ({class}): retry after {:.3} s",
        secs_rounded_up(retry_after)
    )]
    RateLimited {
        /// How long until a retry can be admitted.
        retry_after: Duration,
        /// The class that refused.
        class: ActionClass,
    },
    /// The shared backend could not be reached and the class fails closed.
    #[error("rate limiter backend {backend} unavailable; {class} fails closed")]
    Unavailable {
        /// The backend's name (`redis`, `postgres`).
        backend: &'static str,
        /// The class that refused.
        class: ActionClass,
    },
    /// A backend failed (connection, script, SQL): the message names no key.
    #[error("rate limiter backend {backend}: {message}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What failed.
        message: String,
    },
    /// A policy or option is out of range.
    #[error("invalid rate limit configuration: {0}")]
    Config(String),
    /// A tenant's override is refused: out of range, looser than the host's ceiling, on
    /// the service class, or opening a class the host keeps fail-closed.
    #[error("rate limit override refused: {0}")]
    Override(String),
}

impl RateLimitError {
    /// The stable kind: `RateLimited`, `Unavailable` (backend down, fail-closed, or a
    /// backend error), `Config`, or `InvalidInput` (a refused tenant override).
    pub fn kind(&self) -> ErrorKind {
        match self {
            RateLimitError::RateLimited { .. } => ErrorKind::RateLimited,
            RateLimitError::Unavailable { .. } | RateLimitError::Backend { .. } => {
                ErrorKind::Unavailable
            }
            RateLimitError::Config(_) => ErrorKind::Config,
            RateLimitError::Override(_) => ErrorKind::InvalidInput,
        }
    }

    /// The retry-after of a `RateLimited` refusal.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RateLimitError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// The actions the SDK limits, each with its own cells (a class never spends another's).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionClass {
    /// Password verification and login (`Sessions::verify_password` (feature `auth`)).
    Login,
    /// Failed agent-token verifications (unknown tokens: a leaked-prefix probe).
    TokenFailure,
    /// Session refresh (unknown refresh tokens count as failures per host key).
    SessionRefresh,
    /// TOTP codes from a stored seed (per user and per seed).
    Totp,
    /// Credential and record reveals (per tenant and per credential).
    Reveal,
    /// Credential and record writes (per tenant and per user or agent).
    Write,
    /// AI egress prepares.
    EgressPrepare,
    /// Agent-token creation.
    TokenCreate,
    /// Jobs with the service capability (re-encryption, sweeps, erasure, service writes):
    /// cells of their own, never spent by user traffic; unlimited by default.
    Service,
}

impl ActionClass {
    /// Every class, in order.
    pub const ALL: [ActionClass; 9] = [
        ActionClass::Login,
        ActionClass::TokenFailure,
        ActionClass::SessionRefresh,
        ActionClass::Totp,
        ActionClass::Reveal,
        ActionClass::Write,
        ActionClass::EgressPrepare,
        ActionClass::TokenCreate,
        ActionClass::Service,
    ];

    /// The stable name (`login`, `token_failure`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Login => "login",
            ActionClass::TokenFailure => "token_failure",
            ActionClass::SessionRefresh => "session_refresh",
            ActionClass::Totp => "totp",
            ActionClass::Reveal => "reveal",
            ActionClass::Write => "write",
            ActionClass::EgressPrepare => "egress_prepare",
            ActionClass::TokenCreate => "token_create",
            ActionClass::Service => "service",
        }
    }

    /// Parses [`ActionClass::as_str`].
    pub fn parse(s: &str) -> Option<ActionClass> {
        ActionClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ActionClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A burst plus a sustained rate: `burst` units at once, then one more every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Units admitted at once from a full cell, 1 to 1,000,000.
    pub burst: u32,
    /// Time to earn one unit back, 1 µs to 1 day.
    pub period: Duration,
}

impl Quota {
    /// `burst` at once, then one every `period`.
    pub const fn new(burst: u32, period: Duration) -> Quota {
        Quota { burst, period }
    }

    /// `burst` at once, then `n` per second.
    pub const fn per_second(burst: u32, n: u32) -> Quota {
        Quota {
            burst,
            period: Duration::from_nanos(1_000_000_000 / n as u64),
        }
    }

    /// `burst` at once, then `n` per minute.
    pub const fn per_minute(burst: u32, n: u32) -> Quota {
        Quota {
            burst,
            period: Duration::from_nanos(60_000_000_000 / n as u64),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RateLimitError> {
        if self.burst == 0 || self.burst > 1_000_000 {
            return Err(RateLimitError::Config(
                "burst must be 1 to 1,000,000".into(),
            ));
        }
        if self.period < Duration::from_micros(1) || self.period > Duration::from_secs(86_400) {
            return Err(RateLimitError::Config(
                "period must be 1 µs to 1 day".into(),
            ));
        }
        Ok(())
    }

    fn cell(&self) -> CellQuota {
        let emission = u64::try_from(self.period.as_micros()).unwrap_or(u64::MAX);
        CellQuota {
            emission,
            tolerance: emission.saturating_mul(u64::from(self.burst)),
        }
    }
}

/// Exponential back-off on the narrowest cell after repeated failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures in a row before the first lock-out (1 to 1,000).
    pub after: u32,
    /// The first lock-out; each further failure doubles it.
    pub base: Duration,
    /// The longest lock-out (at most 1 day).
    pub max: Duration,
    /// A failure count left alone this long starts again at zero (at most 7 days).
    pub forget_after: Duration,
}

impl Backoff {
    fn validate(&self) -> Result<(), RateLimitError> {
        if self.after == 0 || self.after > 1_000 {
            return Err(RateLimitError::Config(
                "backoff.after must be 1 to 1,000".into(),
            ));
        }
        if self.base.is_zero() || self.base > self.max || self.max > Duration::from_secs(86_400) {
            return Err(RateLimitError::Config(
                "backoff needs 0 < base <= max <= 1 day".into(),
            ));
        }
        // At least a minute: the PostgreSQL function refuses less (a crafted call with a
        // tiny memory would make the back-off forget).
        if self.forget_after < Duration::from_secs(60)
            || self.forget_after > Duration::from_secs(7 * 86_400)
        {
            return Err(RateLimitError::Config(
                "backoff.forget_after must be 1 minute to 7 days".into(),
            ));
        }
        Ok(())
    }

    fn cell(&self) -> CellBackoff {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        CellBackoff {
            after: self.after,
            base: us(self.base),
            max: us(self.max),
            forget_after: us(self.forget_after),
        }
    }
}

/// The limits of one class; a level left `None` is not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassPolicy {
    /// The whole tenant (every user and agent together).
    pub tenant: Option<Quota>,
    /// One user or agent in the tenant (or one host key, for classes without a subject).
    pub subject: Option<Quota>,
    /// One object: the TOTP seed or credential acted on.
    pub object: Option<Quota>,
    /// One subject from one host key.
    pub host: Option<Quota>,
    /// Extra units a failure costs on every cell (on top of the unit its check took).
    pub failure_cost: u32,
    /// Lock-outs after repeated failures, on the narrowest cell (subject and host key; the
    /// subject alone when the host passes no host key).
    pub backoff: Option<Backoff>,
    /// When a shared backend is unreachable: refuse (`true`) or admit (`false`).
    pub fail_closed: bool,
}

impl ClassPolicy {
    /// A policy that limits nothing (and never asks the backend).
    pub const UNLIMITED: ClassPolicy = ClassPolicy {
        tenant: None,
        subject: None,
        object: None,
        host: None,
        failure_cost: 0,
        backoff: None,
        fail_closed: false,
    };

    fn validate(&self) -> Result<(), RateLimitError> {
        for q in [self.tenant, self.subject, self.object, self.host]
            .into_iter()
            .flatten()
        {
            q.validate()?;
        }
        if let Some(b) = self.backoff {
            b.validate()?;
        }
        if self.failure_cost > 1_000 {
            return Err(RateLimitError::Config("failure_cost at most 1,000".into()));
        }
        Ok(())
    }

    pub(crate) fn is_unlimited(&self) -> bool {
        self.tenant.is_none()
            && self.subject.is_none()
            && self.object.is_none()
            && self.host.is_none()
    }

    /// The safe default of `class` (the table in docs/SECURITY.md, "Rate limits").
    pub fn default_for(class: ActionClass) -> ClassPolicy {
        let m = Duration::from_secs(60);
        let auth_backoff = Some(Backoff {
            after: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 3600),
        });
        match class {
            ActionClass::Login => ClassPolicy {
                tenant: None,
                subject: Some(Quota::per_minute(30, 6)),
                object: None,
                host: Some(Quota::per_minute(10, 6)),
                failure_cost: 2,
                backoff: auth_backoff,
                fail_closed: true,
            },
            ActionClass::TokenFailure => ClassPolicy {
                tenant: None,
                subject: None,
                object: None,
                host: Some(Quota::per_minute(20, 20)),
                failure_cost: 1,
                backoff: Some(Backoff {
                    after: 20,
                    base: Duration::from_secs(1),
                    max: Duration::from_secs(5 * 60),
                    forget_after: Duration::from_secs(3600),
                }),
                fail_closed: true,
            },
            ActionClass::SessionRefresh => ClassPolicy {
                tenant: None,
                subject: Some(Quota::per_minute(30, 30)),
                object: None,
                host: Some(Quota::per_minute(30, 30)),
                failure_cost: 2,
                backoff: auth_backoff,
                fail_closed: true,
            },
            ActionClass::Totp => ClassPolicy {
                tenant: None,
                // Room for a login flow and a test-vector run (a user asking ~20 codes
                // at once); a brute-force loop is held to 10 a minute per seed.
                subject: Some(Quota::per_minute(30, 10)),
                object: Some(Quota::new(10, Duration::from_secs(6))),
                host: None,
                failure_cost: 0,
                backoff: None,
                fail_closed: true,
            },
            // Reveals are how a service uses a credential (often once per outgoing call),
            // so the default only caps bulk exfiltration through a stolen service capability:
            // a tenant's whole store cannot be opened in seconds.
            ActionClass::Reveal => ClassPolicy {
                tenant: Some(Quota::per_second(5_000, 500)),
                subject: None,
                object: Some(Quota::per_second(1_000, 100)),
                host: None,
                failure_cost: 0,
                backoff: None,
                fail_closed: false,
            },
            ActionClass::Write => ClassPolicy {
                tenant: Some(Quota::per_second(1_000, 200)),
                subject: Some(Quota::per_second(100, 20)),
                object: None,
                host: None,
                failure_cost: 0,
                backoff: None,
                fail_closed: false,
            },
            ActionClass::EgressPrepare => ClassPolicy {
                tenant: Some(Quota::per_second(600, 50)),
                subject: Some(Quota::per_second(60, 5)),
                object: None,
                host: None,
                failure_cost: 0,
                backoff: None,
                fail_closed: false,
            },
            ActionClass::TokenCreate => ClassPolicy {
                tenant: Some(Quota::new(100, m / 60)),
                subject: Some(Quota::per_minute(20, 10)),
                object: None,
                host: None,
                failure_cost: 0,
                backoff: None,
                fail_closed: false,
            },
            ActionClass::Service => ClassPolicy::UNLIMITED,
        }
    }
}

/// The policy of every class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    by_class: [ClassPolicy; 9],
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            by_class: ActionClass::ALL.map(ClassPolicy::default_for),
        }
    }
}

impl Policies {
    /// Every class unlimited (tests, or a host that limits elsewhere).
    pub fn unlimited() -> Policies {
        Policies {
            by_class: [ClassPolicy::UNLIMITED; 9],
        }
    }

    /// The policy of `class`.
    pub fn get(&self, class: ActionClass) -> &ClassPolicy {
        &self.by_class[class.index()]
    }

    /// Replaces the policy of `class`; `Config` if a value is out of range.
    pub fn set(mut self, class: ActionClass, policy: ClassPolicy) -> Result<Self, RateLimitError> {
        policy.validate()?;
        self.by_class[class.index()] = policy;
        Ok(self)
    }
}

/// Who a check is about: each field present adds its cell when the class has a quota for
/// that level. Build it with [`LimitKey::tenant`] or [`LimitKey::anonymous`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitKey<'a> {
    /// The tenant (`None` before one is known, e.g. an unknown token).
    pub tenant: Option<&'a str>,
    /// The user or agent, prefixed `u:` or `a:` (see [`LimitKey::subject`]).
    pub subject: Option<&'a str>,
    /// The object acted on (a record id).
    pub object: Option<&'a str>,
    /// The host's own key for the caller: an IP address, a client id.
    pub host: Option<&'a str>,
}

impl<'a> LimitKey<'a> {
    /// A key in `tenant`.
    pub fn tenant(tenant: &'a str) -> Self {
        LimitKey {
            tenant: Some(tenant),
            subject: None,
            object: None,
            host: None,
        }
    }

    /// A key with no tenant (only the host key cell applies).
    pub fn anonymous() -> Self {
        LimitKey {
            tenant: None,
            subject: None,
            object: None,
            host: None,
        }
    }

    /// With a subject: the caller's own name (`u:alice`, `a:build-bot`, anything stable).
    pub fn subject(mut self, subject: &'a str) -> Self {
        self.subject = Some(subject);
        self
    }

    /// With an object (a record or credential id).
    pub fn object(mut self, object: &'a str) -> Self {
        self.object = Some(object);
        self
    }

    /// With the host key (IP address or client id); `None` leaves it out.
    pub fn host(mut self, host: Option<&'a str>) -> Self {
        self.host = host;
        self
    }
}

/// Which cell of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The tenant.
    Tenant,
    /// The subject in the tenant.
    Subject,
    /// The object in the tenant.
    Object,
    /// The subject from one host key.
    Host,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Tenant => "t",
            Level::Subject => "s",
            Level::Object => "o",
            Level::Host => "h",
        }
    }
}

/// One cell a check touches, with what to do to it.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    /// The class.
    pub class: ActionClass,
    /// The level.
    pub level: Level,
    /// The key.
    pub key: LimitKey<'a>,
    /// The cell's quota.
    pub quota: CellQuota,
    /// What to do.
    pub op: CellOp,
}

impl Cell<'_> {
    /// The backend key: `class:level:` then length-prefixed parts, so no two keys share a
    /// name whatever their bytes (a tenant named `a:b` is not user `b` of tenant `a`).
    pub fn name(&self) -> String {
        let mut s = String::with_capacity(64);
        s.push_str(self.class.as_str());
        s.push(':');
        s.push_str(self.level.tag());
        let mut part = |p: Option<&str>| {
            let p = p.unwrap_or("");
            s.push(':');
            s.push_str(&p.len().to_string());
            s.push(':');
            s.push_str(p);
        };
        part(self.key.tenant);
        match self.level {
            Level::Tenant => {}
            Level::Subject => part(self.key.subject),
            Level::Object => part(self.key.object),
            Level::Host => {
                part(self.key.subject);
                part(self.key.host);
            }
        }
        s
    }
}

/// What a backend decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Refused: microseconds until a retry can be admitted (takes only).
    pub refused_for: Option<u64>,
    /// A failure started a lock-out of this many microseconds.
    pub locked_for: Option<u64>,
    /// The failure count of the back-off cell after a failure.
    pub fails: u32,
}

/// Where limiter state lives. A backend applies the cells of one call atomically: for
/// takes, every cell admits (and is charged) or none is charged.
#[async_trait]
pub trait RateLimitBackend: Send + Sync + std::fmt::Debug {
    /// A short name (`memory`, `redis`, `postgres`).
    fn name(&self) -> &'static str;

    /// Applies `cells` (all takes, or failures, or successes) at the backend's own time.
    async fn apply(&self, cells: &[Cell<'_>]) -> Result<Outcome, RateLimitError>;
}

#[derive(Debug, Clone)]
enum Backend {
    /// Called synchronously: no future, no allocation on the hot path.
    Memory(Arc<MemoryLimiter>),
    Shared(Arc<dyn RateLimitBackend>),
}

/// The limiter: policies per class over one backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    backend: Backend,
    policies: Arc<Policies>,
    /// The loosest a tenant's override may go ([`RateLimiter::with_override_ceiling`]);
    /// `None`: the policies themselves (tenants may only tighten).
    ceiling: Option<Arc<Policies>>,
}

/// A failure recorded by [`RateLimiter::failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureOutcome {
    /// A lock-out this failure started.
    pub locked_for: Option<Duration>,
    /// Failures in a row on the back-off cell.
    pub fails: u32,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::in_process(Policies::default())
    }
}

impl RateLimiter {
    /// In-process state (bounded: [`DEFAULT_MAX_CELLS`] cells) with `policies`.
    pub fn in_process(policies: Policies) -> RateLimiter {
        RateLimiter {
            backend: Backend::Memory(Arc::new(MemoryLimiter::new(DEFAULT_MAX_CELLS))),
            policies: Arc::new(policies),
            ceiling: None,
        }
    }

    /// State in `backend` (a [`MemoryLimiter`] passed here is called like the default).
    pub fn with_backend(backend: Arc<dyn RateLimitBackend>, policies: Policies) -> RateLimiter {
        RateLimiter {
            backend: Backend::Shared(backend),
            policies: Arc::new(policies),
            ceiling: None,
        }
    }

    /// In-process state in `memory` (e.g. with another cell bound).
    pub fn with_memory(memory: MemoryLimiter, policies: Policies) -> RateLimiter {
        RateLimiter {
            backend: Backend::Memory(Arc::new(memory)),
            policies: Arc::new(policies),
            ceiling: None,
        }
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Memory(m) => m.name(),
            Backend::Shared(b) => b.name(),
        }
    }

    /// The policies in force.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Lets tenants loosen their own limits up to `ceiling` (per class and level: a burst
    /// at most the ceiling's, a period at least the ceiling's; a level the ceiling leaves
    /// `None` is not capped). Without it the ceiling is the policies themselves: tenant
    /// owners and admins may only tighten ([`crate::Limits::set_overrides`]).
    /// The ceiling's `fail_closed` and back-off are not used: a tenant never opens a
    /// fail-closed class nor changes a back-off, and never touches the service class.
    pub fn with_override_ceiling(mut self, ceiling: Policies) -> RateLimiter {
        self.ceiling = Some(Arc::new(ceiling));
        self
    }

    /// The loosest a tenant override may go (the policies unless
    /// [`RateLimiter::with_override_ceiling`] set one).
    pub fn override_ceiling(&self) -> &Policies {
        self.ceiling.as_deref().unwrap_or(&self.policies)
    }

    /// Whether `class` limits anything (an unlimited class never reaches the backend).
    pub fn limits(&self, class: ActionClass) -> bool {
        !self.policies.get(class).is_unlimited()
    }

    fn cells<'a>(
        p: &ClassPolicy,
        class: ActionClass,
        key: &LimitKey<'a>,
        op: impl Fn(Level) -> CellOp,
        out: &mut [Option<Cell<'a>>; 4],
    ) -> usize {
        let mut n = 0;
        let mut push = |level: Level, q: Option<Quota>, present: bool| {
            if let (Some(q), true) = (q, present) {
                out[n] = Some(Cell {
                    class,
                    level,
                    key: *key,
                    quota: q.cell(),
                    op: op(level),
                });
                n += 1;
            }
        };
        push(Level::Tenant, p.tenant, key.tenant.is_some());
        push(Level::Subject, p.subject, key.subject.is_some());
        push(Level::Object, p.object, key.object.is_some());
        push(Level::Host, p.host, key.host.is_some());
        n
    }

    /// The level that carries the back-off: the host cell when present, else the subject.
    fn backoff_level(p: &ClassPolicy, key: &LimitKey<'_>) -> Level {
        if key.host.is_some() && p.host.is_some() {
            Level::Host
        } else {
            Level::Subject
        }
    }

    async fn run(
        &self,
        class: ActionClass,
        fail_closed: bool,
        cells: &[Option<Cell<'_>>; 4],
        n: usize,
    ) -> Result<Outcome, RateLimitError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.apply_now(cells[..n].iter().flatten())),
            Backend::Shared(b) => {
                let list: Vec<Cell<'_>> = cells[..n].iter().flatten().copied().collect();
                match b.apply(&list).await {
                    Ok(o) => Ok(o),
                    Err(_) if !fail_closed => Ok(Outcome::default()),
                    Err(_) => Err(RateLimitError::Unavailable {
                        backend: b.name(),
                        class,
                    }),
                }
            }
        }
    }

    /// Admits one `class` action for `key` or refuses it with `RateLimited` (retry-after).
    /// With a shared backend down: `Unavailable` for a fail-closed class, admitted else.
    /// Uses the host's policies; [`RateLimiter::check_with`] takes a tenant's effective
    /// policy ([`crate::Limits::policy`]).
    pub async fn check(
        &self,
        class: ActionClass,
        key: &LimitKey<'_>,
    ) -> Result<(), RateLimitError> {
        self.take(class, self.policies.get(class), key, 1).await
    }

    /// Like [`RateLimiter::check`] under `policy` (e.g. a tenant's effective policy).
    pub async fn check_with(
        &self,
        class: ActionClass,
        policy: &ClassPolicy,
        key: &LimitKey<'_>,
    ) -> Result<(), RateLimitError> {
        self.take(class, policy, key, 1).await
    }

    /// Like [`RateLimiter::check`] without spending anything: refuses only a cell already
    /// over its limit or locked out (used before work whose failures alone are counted).
    pub async fn peek(&self, class: ActionClass, key: &LimitKey<'_>) -> Result<(), RateLimitError> {
        self.take(class, self.policies.get(class), key, 0).await
    }

    async fn take(
        &self,
        class: ActionClass,
        p: &ClassPolicy,
        key: &LimitKey<'_>,
        cost: u32,
    ) -> Result<(), RateLimitError> {
        match &self.backend {
            // Synchronous: nothing lives across an await, so this future stays a few words
            // (the shared path's state is boxed: it pays a round trip anyway).
            Backend::Memory(m) => Self::take_in(m, class, p, key, cost),
            Backend::Shared(_) => Box::pin(self.take_shared(class, p, key, cost)).await,
        }
    }

    fn refusal(class: ActionClass, refused_for: Option<u64>) -> Result<(), RateLimitError> {
        match refused_for {
            None => Ok(()),
            Some(us) => Err(RateLimitError::RateLimited {
                retry_after: Duration::from_micros(us.max(1)),
                class,
            }),
        }
    }

    fn take_in(
        m: &MemoryLimiter,
        class: ActionClass,
        p: &ClassPolicy,
        key: &LimitKey<'_>,
        cost: u32,
    ) -> Result<(), RateLimitError> {
        let long;
        let key = short_host!(key, long);
        let mut cells = [None; 4];
        let n = Self::cells(p, class, &key, |_| CellOp::Take(cost), &mut cells);
        if n == 0 {
            return Ok(());
        }
        Self::refusal(class, m.apply_now(cells[..n].iter().flatten()).refused_for)
    }

    async fn take_shared(
        &self,
        class: ActionClass,
        p: &ClassPolicy,
        key: &LimitKey<'_>,
        cost: u32,
    ) -> Result<(), RateLimitError> {
        let long;
        let key = short_host!(key, long);
        let mut cells = [None; 4];
        let n = Self::cells(p, class, &key, |_| CellOp::Take(cost), &mut cells);
        if n == 0 {
            return Ok(());
        }
        Self::refusal(
            class,
            self.run(class, p.fail_closed, &cells, n).await?.refused_for,
        )
    }

    /// Records a failed `class` action for `key`: it costs `failure_cost` more on every
    /// cell and counts towards the back-off. Never refuses; a backend error is ignored (a
    /// fail-closed class refuses the next check anyway).
    pub async fn failure(&self, class: ActionClass, key: &LimitKey<'_>) -> FailureOutcome {
        self.failure_with(class, self.policies.get(class), key)
            .await
    }

    /// Like [`RateLimiter::failure`] under `policy`.
    pub async fn failure_with(
        &self,
        class: ActionClass,
        policy: &ClassPolicy,
        key: &LimitKey<'_>,
    ) -> FailureOutcome {
        let p = *policy;
        let long;
        let key = short_host!(key, long);
        let narrow = Self::backoff_level(&p, &key);
        let backoff = p.backoff.map(|b| b.cell());
        let mut cells = [None; 4];
        let n = Self::cells(
            &p,
            class,
            &key,
            |level| CellOp::Fail(p.failure_cost, if level == narrow { backoff } else { None }),
            &mut cells,
        );
        if n == 0 {
            return FailureOutcome::default();
        }
        match self.run(class, p.fail_closed, &cells, n).await {
            Ok(o) => FailureOutcome {
                locked_for: o.locked_for.map(Duration::from_micros),
                fails: o.fails,
            },
            Err(_) => FailureOutcome::default(),
        }
    }

    /// Records a successful `class` action for `key`: the failure count of its back-off
    /// cell starts again (a lock-out in force stays). Backend errors are ignored.
    pub async fn success(&self, class: ActionClass, key: &LimitKey<'_>) {
        self.success_with(class, self.policies.get(class), key)
            .await
    }

    /// Like [`RateLimiter::success`] under `policy`.
    pub async fn success_with(&self, class: ActionClass, policy: &ClassPolicy, key: &LimitKey<'_>) {
        let p = policy;
        if p.backoff.is_none() {
            return;
        }
        let long;
        let key = short_host!(key, long);
        let narrow = Self::backoff_level(p, &key);
        let mut cells = [None; 4];
        let n = Self::cells(p, class, &key, |_| CellOp::Succeed, &mut cells);
        let mut only = [None; 4];
        let mut m = 0;
        for c in cells[..n].iter().flatten().filter(|c| c.level == narrow) {
            only[m] = Some(*c);
            m += 1;
        }
        if m > 0 {
            let _ = self.run(class, p.fail_closed, &only, m).await;
        }
    }
}

/// A host key longer than [`MAX_HOST_KEY_LEN`] stands as its SHA-256 (hex), so the
/// backends' key size stays bounded whatever a client sends.
macro_rules! short_host {
    ($key:expr, $buf:ident) => {{
        let k: &LimitKey<'_> = $key;
        match k.host {
            Some(h) if h.len() > MAX_HOST_KEY_LEN => {
                $buf = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(h.as_bytes()));
                LimitKey {
                    host: Some($buf.as_str()),
                    ..*k
                }
            }
            _ => *k,
        }
    }};
}
use short_host;

impl From<RateLimitError> for crate::Error {
    fn from(e: RateLimitError) -> Self {
        crate::Error::RateLimit(e)
    }
}
