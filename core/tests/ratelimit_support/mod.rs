//! What `governance/ratelimit.rs` and `governance/ratelimit_shared.rs` share: the login policy their password
//! guessing scenarios run under.

use std::time::Duration;

use tenantguard::ratelimit::{ActionClass, Backoff, ClassPolicy, Policies, Quota};

/// Login: 50 per user, 10 per (user, host key) a minute; a failure costs 3; three
/// failures in a row lock the (user, host key) pair out for 30 s, doubling to 15 min.
pub fn login_class() -> ClassPolicy {
    ClassPolicy {
        subject: Some(Quota::new(50, Duration::from_secs(60))),
        host: Some(Quota::new(10, Duration::from_secs(60))),
        failure_cost: 2,
        backoff: Some(Backoff {
            after: 3,
            base: Duration::from_secs(30),
            max: Duration::from_secs(900),
            forget_after: Duration::from_secs(3600),
        }),
        fail_closed: true,
        ..ClassPolicy::UNLIMITED
    }
}

/// `base` with [`login_class`] for `Login`.
pub fn with_login(base: Policies) -> Policies {
    base.set(ActionClass::Login, login_class()).unwrap()
}
