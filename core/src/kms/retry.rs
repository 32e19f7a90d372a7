//! Per-call timeouts and bounded retries with jittered exponential backoff for key
//! providers. Only retryable errors ([`KmsError::is_retryable`]: unavailable, timed out)
//! are retried; "not found", "access denied" and "wrong context" come back at once.

use std::future::Future;
use std::time::Duration;

use super::{KeyProvider, KmsError, TenantDestruction, WrapContext, WrappedKey};
use crate::crypto::DataKey;
use crate::tenant::TenantId;

/// Most attempts a [`RetryPolicy`] may ask for.
pub const MAX_ATTEMPTS: u32 = 10;
/// Longest per-call timeout or backoff a [`RetryPolicy`] may ask for.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

/// How a provider call is timed out and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, first one included (1 to 10; default 4).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time (default 50 ms).
    pub initial_backoff: Duration,
    /// Cap on one backoff (default 2 s). Each wait is drawn uniformly from
    /// `[backoff/2, backoff]` so that many clients do not retry in step.
    pub max_backoff: Duration,
    /// Timeout of one attempt (default 5 s); an attempt past it fails with
    /// [`KmsError::Timeout`], which is retried.
    pub call_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            call_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Checks the limits: 1 to [`MAX_ATTEMPTS`] attempts, a non-zero call timeout, and
    /// delays of at most [`MAX_DELAY`].
    pub fn validate(&self) -> Result<(), KmsError> {
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(KmsError::Config(format!(
                "retry max_attempts must be 1 to {MAX_ATTEMPTS}"
            )));
        }
        if self.call_timeout.is_zero() || self.call_timeout > MAX_DELAY {
            return Err(KmsError::Config(format!(
                "retry call_timeout must be above 0 and at most {}s",
                MAX_DELAY.as_secs()
            )));
        }
        if self.initial_backoff > MAX_DELAY || self.max_backoff > MAX_DELAY {
            return Err(KmsError::Config(format!(
                "retry backoffs must be at most {}s",
                MAX_DELAY.as_secs()
            )));
        }
        Ok(())
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1), jittered.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16));
        let cap = exp.min(self.max_backoff);
        let mut r = [0u8; 4];
        // Jitter only: if the OS generator fails, waiting the full backoff is still correct.
        let frac = if getrandom::fill(&mut r).is_ok() {
            u32::from_le_bytes(r) as f64 / u32::MAX as f64
        } else {
            1.0
        };
        cap.mul_f64(0.5 + 0.5 * frac)
    }

    /// Runs `call` with a timeout per attempt, retrying retryable errors with backoff.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, KmsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, KmsError>>,
    {
        self.validate()?;
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(self.call_timeout, call()).await {
                Ok(r) => r,
                Err(_) => Err(KmsError::Timeout(
                    self.call_timeout.as_millis().min(u64::MAX as u128) as u64,
                )),
            };
            match result {
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Wraps any [`KeyProvider`] with a [`RetryPolicy`]: every call gets a timeout and
/// bounded retries.
#[derive(Debug)]
pub struct Retrying<P> {
    inner: P,
    policy: RetryPolicy,
}

impl<P: KeyProvider> Retrying<P> {
    /// Wraps `inner`; `Config` if the policy is out of bounds.
    pub fn new(inner: P, policy: RetryPolicy) -> Result<Self, KmsError> {
        policy.validate()?;
        Ok(Retrying { inner, policy })
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<P: KeyProvider> KeyProvider for Retrying<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn current_kek(&self) -> Result<String, KmsError> {
        self.policy.run(|| self.inner.current_kek()).await
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        self.policy.run(|| self.inner.wrap(key, ctx)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.policy.run(|| self.inner.unwrap(wrapped, ctx)).await
    }

    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        self.policy.run(|| self.inner.destroy_tenant(tenant)).await
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        self.inner.tenant_bound(wrapped)
    }

    fn tenant_destroyed(&self, tenant: &TenantId) -> bool {
        self.inner.tenant_destroyed(tenant)
    }

    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        self.inner.is_current(wrapped, current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            call_timeout: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_up_to_the_bound() {
        let n = AtomicU32::new(0);
        let r: Result<(), _> = fast()
            .run(|| async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(KmsError::Unavailable("503".into()))
            })
            .await;
        assert_eq!(r, Err(KmsError::Unavailable("503".into())));
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_final_errors() {
        for e in [
            KmsError::WrongContext,
            KmsError::AccessDenied("no".into()),
            KmsError::KekNotFound("k".into()),
        ] {
            let n = AtomicU32::new(0);
            let r: Result<(), _> = fast()
                .run(|| async {
                    n.fetch_add(1, Ordering::SeqCst);
                    Err(e.clone())
                })
                .await;
            assert_eq!(r, Err(e));
            assert_eq!(n.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn recovers_after_a_transient_failure() {
        let n = AtomicU32::new(0);
        let r = fast()
            .run(|| async {
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(KmsError::Unavailable("blip".into()))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r, Ok(7));
    }

    #[tokio::test]
    async fn hung_calls_time_out_and_are_retried() {
        let n = AtomicU32::new(0);
        let r: Result<(), _> = RetryPolicy {
            call_timeout: Duration::from_millis(20),
            ..fast()
        }
        .run(|| async {
            n.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
        assert_eq!(r, Err(KmsError::Timeout(20)));
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn policy_bounds_are_checked() {
        assert!(RetryPolicy {
            max_attempts: 0,
            ..fast()
        }
        .validate()
        .is_err());
        assert!(RetryPolicy {
            max_attempts: 11,
            ..fast()
        }
        .validate()
        .is_err());
        assert!(RetryPolicy {
            call_timeout: Duration::ZERO,
            ..fast()
        }
        .validate()
        .is_err());
        assert!(RetryPolicy::default().validate().is_ok());
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..fast()
        };
        for a in 1..20 {
            let b = p.backoff(a);
            assert!(
                b <= Duration::from_millis(300) && b >= Duration::from_millis(50),
                "{b:?}"
            );
        }
    }
}
