//! Per-tenant overrides of the rate-limit policies, kept in the policy store next to the
//! egress policy (kind [`OVERRIDE_POLICY_KIND`]).
//!
//! A tenant owner or admin is not trusted with the service: an override may tighten any
//! level freely, loosen a level only up to the host's ceiling
//! ([`RateLimiter::with_override_ceiling`], by default the host's own policies), may make a
//! class fail closed but never fail open where the host's policy fails closed, never
//! changes a back-off or a failure cost, and never touches the service class. Overrides
//! only ever apply to cells keyed by the tenant itself: the anonymous cells (unknown
//! tokens, unknown refresh tokens per host key) and every other tenant's cells keep the
//! host's policies. What is read back from the store is checked again (a database writer,
//! or a host that lowered its ceiling since): a level beyond the ceiling is clamped to it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ActionClass, ClassPolicy, Quota, RateLimitError, RateLimiter};

/// The policy-store kind of a tenant's rate-limit overrides.
pub const OVERRIDE_POLICY_KIND: &str = "rate_limits";

/// A tenant's override of one class: each level set replaces the host's quota for that
/// level (within the ceiling); a level left `None` keeps the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassOverride {
    /// The whole tenant.
    pub tenant: Option<Quota>,
    /// One user or agent.
    pub subject: Option<Quota>,
    /// One object (TOTP seed, credential).
    pub object: Option<Quota>,
    /// One subject from one host key.
    pub host: Option<Quota>,
    /// `Some(true)`: fail closed when a shared backend is unreachable. `Some(false)` is
    /// refused where the host's policy fails closed (and changes nothing elsewhere).
    pub fail_closed: Option<bool>,
}

/// A tenant's overrides, per class (at most one per class; the service class is refused).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitOverrides {
    by_class: BTreeMap<ActionClass, ClassOverride>,
}

impl RateLimitOverrides {
    /// No override (every class as the host configured it).
    pub fn new() -> Self {
        Self::default()
    }

    /// With `o` for `class` (replacing any earlier one).
    pub fn set(mut self, class: ActionClass, o: ClassOverride) -> Self {
        self.by_class.insert(class, o);
        self
    }

    /// The override of `class`, if any.
    pub fn get(&self, class: ActionClass) -> Option<&ClassOverride> {
        self.by_class.get(&class)
    }

    /// Every override, by class.
    pub fn iter(&self) -> impl Iterator<Item = (ActionClass, &ClassOverride)> {
        self.by_class.iter().map(|(c, o)| (*c, o))
    }

    /// True when no class is overridden.
    pub fn is_empty(&self) -> bool {
        self.by_class.is_empty()
    }

    /// The JSON form, as stored and as the bindings take it:
    /// `{"classes":{"write":{"tenant":{"burst":100,"period_us":10000},"fail_closed":true}}}`
    /// (levels `tenant`, `subject`, `object`, `host`, each optional).
    pub fn to_json(&self) -> Result<String, RateLimitError> {
        let doc = Doc {
            classes: self
                .by_class
                .iter()
                .map(|(c, o)| (c.as_str().to_owned(), StoredClass::from(o)))
                .collect(),
        };
        serde_json::to_string(&doc).map_err(|e| RateLimitError::Override(e.to_string()))
    }

    /// Parses the JSON form of [`to_json`](Self::to_json); unknown classes are skipped (a
    /// newer release's). Validation against the host's bounds happens when they are set.
    pub fn from_json(body: &str) -> Result<Self, RateLimitError> {
        let doc: Doc = serde_json::from_str(body)
            .map_err(|e| RateLimitError::Override(format!("stored overrides: {e}")))?;
        let mut out = RateLimitOverrides::new();
        for (name, c) in doc.classes {
            if let Some(class) = ActionClass::parse(&name) {
                out.by_class.insert(class, c.into());
            }
        }
        Ok(out)
    }
}

#[derive(Serialize, Deserialize)]
struct Doc {
    classes: BTreeMap<String, StoredClass>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
struct StoredQuota {
    burst: u32,
    period_us: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredClass {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<StoredQuota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<StoredQuota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object: Option<StoredQuota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<StoredQuota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail_closed: Option<bool>,
}

impl From<&ClassOverride> for StoredClass {
    fn from(o: &ClassOverride) -> Self {
        let q = |q: Option<Quota>| {
            q.map(|q| StoredQuota {
                burst: q.burst,
                period_us: u64::try_from(q.period.as_micros()).unwrap_or(u64::MAX),
            })
        };
        StoredClass {
            tenant: q(o.tenant),
            subject: q(o.subject),
            object: q(o.object),
            host: q(o.host),
            fail_closed: o.fail_closed,
        }
    }
}

impl From<StoredClass> for ClassOverride {
    fn from(s: StoredClass) -> Self {
        let q = |q: Option<StoredQuota>| {
            q.map(|q| Quota::new(q.burst, Duration::from_micros(q.period_us)))
        };
        ClassOverride {
            tenant: q(s.tenant),
            subject: q(s.subject),
            object: q(s.object),
            host: q(s.host),
            fail_closed: s.fail_closed,
        }
    }
}

/// Whether `q` is at most as loose as `ceiling` (no more burst, no faster rate).
fn within(q: Quota, ceiling: Option<Quota>) -> bool {
    ceiling.is_none_or(|c| q.burst <= c.burst && q.period >= c.period)
}

/// Whether adding a host level to `p` would move its back-off from the subject cell to
/// the (subject, host key) cell: a loosening (a guesser spreading over host keys would
/// escape the per-subject lock-out), so a tenant may not.
fn moves_backoff(p: &ClassPolicy) -> bool {
    p.backoff.is_some() && p.host.is_none()
}

/// `q` cut down to `ceiling`.
fn clamp(q: Quota, ceiling: Option<Quota>) -> Quota {
    match ceiling {
        None => q,
        Some(c) => Quota {
            burst: q.burst.min(c.burst),
            period: q.period.max(c.period),
        },
    }
}

impl RateLimiter {
    /// Checks a tenant's overrides against the bounds and this limiter's ceiling:
    /// `Override` (kind `InvalidInput`) for the service class, a quota out of range
    /// (burst 1 to 1,000,000, period 1 µs to 1 day), a level looser than the ceiling, or
    /// `fail_closed: Some(false)` on a class the host keeps fail-closed.
    pub fn validate_overrides(&self, o: &RateLimitOverrides) -> Result<(), RateLimitError> {
        let refuse = |class: ActionClass, why: &str| {
            Err(RateLimitError::Override(format!("{class}: {why}")))
        };
        for (class, co) in o.iter() {
            if class == ActionClass::Service {
                return refuse(class, "the service class is the host's alone");
            }
            let host = self.policies().get(class);
            let ceiling = self.override_ceiling().get(class);
            for (name, q, c) in [
                ("tenant", co.tenant, ceiling.tenant),
                ("subject", co.subject, ceiling.subject),
                ("object", co.object, ceiling.object),
                ("host", co.host, ceiling.host),
            ] {
                let Some(q) = q else { continue };
                if let Err(RateLimitError::Config(m)) = q.validate() {
                    return refuse(class, &format!("{name}: {m}"));
                }
                if !within(q, c) {
                    return refuse(
                        class,
                        &format!("{name}: looser than the host allows tenants to set"),
                    );
                }
            }
            if co.host.is_some() && moves_backoff(host) {
                return refuse(
                    class,
                    "host: the back-off is kept per subject here (a host level would move it \
                     to the subject and host key pair)",
                );
            }
            if co.fail_closed == Some(false) && host.fail_closed {
                return refuse(class, "the host keeps this class fail-closed");
            }
        }
        Ok(())
    }

    /// The policy of `class` for a tenant with override `o`: the host's, with each
    /// overridden level replaced (clamped to the ceiling; an out-of-range level read back
    /// from the store is ignored), fail-closed if either says so. The service class and
    /// back-offs are always the host's.
    pub fn effective_policy(&self, class: ActionClass, o: Option<&ClassOverride>) -> ClassPolicy {
        let host = *self.policies().get(class);
        let Some(o) = o else { return host };
        if class == ActionClass::Service {
            return host;
        }
        let ceiling = self.override_ceiling().get(class);
        let level = |q: Option<Quota>, c: Option<Quota>, h: Option<Quota>| match q {
            Some(q) if q.validate().is_ok() => Some(clamp(q, c)),
            _ => h,
        };
        ClassPolicy {
            tenant: level(o.tenant, ceiling.tenant, host.tenant),
            subject: level(o.subject, ceiling.subject, host.subject),
            object: level(o.object, ceiling.object, host.object),
            host: if moves_backoff(&host) {
                host.host
            } else {
                level(o.host, ceiling.host, host.host)
            },
            fail_closed: host.fail_closed || o.fail_closed == Some(true),
            ..host
        }
    }
}

/// A tenant's effective policies, per class.
#[derive(Debug, Clone)]
pub(crate) struct TenantPolicies {
    pub(crate) by_class: [ClassPolicy; 9],
}

impl TenantPolicies {
    pub(crate) fn new(limiter: &RateLimiter, o: &RateLimitOverrides) -> Self {
        TenantPolicies {
            by_class: ActionClass::ALL.map(|c| limiter.effective_policy(c, o.get(c))),
        }
    }

    pub(crate) fn get(&self, class: ActionClass) -> &ClassPolicy {
        &self.by_class[class.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_level_never_moves_a_subject_back_off() {
        let subject_backoff = ClassPolicy {
            host: None,
            ..ClassPolicy::default_for(ActionClass::Login)
        };
        let l = RateLimiter::in_process(
            super::super::Policies::default()
                .set(ActionClass::Login, subject_backoff)
                .unwrap(),
        );
        let o = RateLimitOverrides::new().set(
            ActionClass::Login,
            ClassOverride {
                host: Some(Quota::new(1, Duration::from_secs(60))),
                ..ClassOverride::default()
            },
        );
        assert!(matches!(
            l.validate_overrides(&o),
            Err(RateLimitError::Override(_))
        ));
        // Read back from the store anyway: ignored.
        let p = l.effective_policy(ActionClass::Login, o.get(ActionClass::Login));
        assert_eq!(p.host, None);
        // Where the host already keys the back-off by host key, tightening it is fine.
        let d = RateLimiter::default();
        assert!(d.validate_overrides(&o).is_ok());
        assert_eq!(
            d.effective_policy(ActionClass::Login, o.get(ActionClass::Login))
                .host,
            Some(Quota::new(1, Duration::from_secs(60)))
        );
    }

    #[test]
    fn stored_form_round_trips() {
        let o = RateLimitOverrides::new().set(
            ActionClass::Write,
            ClassOverride {
                tenant: Some(Quota::new(5, Duration::from_millis(1500))),
                fail_closed: Some(true),
                ..ClassOverride::default()
            },
        );
        let back = RateLimitOverrides::from_json(&o.to_json().unwrap()).unwrap();
        assert_eq!(back, o);
        // A newer release's class is skipped, not fatal.
        let v = RateLimitOverrides::from_json(r#"{"classes":{"teleport":{}}}"#).unwrap();
        assert!(v.is_empty());
    }
}
