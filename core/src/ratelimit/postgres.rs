//! The PostgreSQL backend (feature `postgres`): every call one `tg_rate_limit()` call
//! (schema 8, `008_rate_limits.sql`), atomic in its transaction, on the database's clock.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{Config, NoTls};

use super::gcra::CellOp;
use super::{Cell, Outcome, RateLimitBackend, RateLimitError};

/// Longest wait for one call before the backend counts as unreachable.
pub const DEFAULT_PG_TIMEOUT: Duration = Duration::from_millis(500);

/// Limiter state in PostgreSQL (for deployments without Redis), shared by every instance
/// on the same database. Connect with the **service** login: the application login may
/// take and fail (it can only make a cell stricter) but not record successes, so with it a
/// success does not reset the back-off counter (it is forgotten after
/// `Backoff::forget_after`). What a stolen login can and cannot do: docs/SECURITY.md.
pub struct PostgresLimiter {
    pool: Pool,
    timeout: Duration,
}

impl std::fmt::Debug for PostgresLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLimiter").finish_non_exhaustive()
    }
}

fn backend_err(e: impl std::fmt::Display) -> RateLimitError {
    RateLimitError::Backend {
        backend: "postgres",
        message: e.to_string(),
    }
}

impl PostgresLimiter {
    /// A pool of up to `pool_size` (1 to 256) connections to `url`; nothing connects
    /// before the first call. The schema must be migrated (`PostgresStore::migrate`).
    pub fn connect(url: &str, pool_size: usize) -> Result<PostgresLimiter, RateLimitError> {
        PostgresLimiter::connect_with(url, pool_size, DEFAULT_PG_TIMEOUT)
    }

    /// Like [`PostgresLimiter::connect`] with a per-call timeout (1 ms to 10 s).
    pub fn connect_with(
        url: &str,
        pool_size: usize,
        timeout: Duration,
    ) -> Result<PostgresLimiter, RateLimitError> {
        if !(1..=256).contains(&pool_size) {
            return Err(RateLimitError::Config("pool_size must be 1 to 256".into()));
        }
        if timeout < Duration::from_millis(1) || timeout > Duration::from_secs(10) {
            return Err(RateLimitError::Config(
                "timeout must be 1 ms to 10 s".into(),
            ));
        }
        // The parser's message is not echoed: the string holds a password.
        let mut cfg = Config::from_str(url).map_err(|_| {
            RateLimitError::Config("not a valid PostgreSQL connection string".into())
        })?;
        cfg.connect_timeout(timeout * 4);
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(pool_size)
            .build()
            .map_err(backend_err)?;
        Ok(PostgresLimiter { pool, timeout })
    }

    async fn call(
        &self,
        keys: Vec<String>,
        op: &str,
        params: Vec<i64>,
    ) -> Result<Outcome, RateLimitError> {
        let client = self.pool.get().await.map_err(backend_err)?;
        let stmt = client
            .prepare_cached("SELECT refused_us, locked_us, fails FROM tg_rate_limit($1, $2, $3)")
            .await
            .map_err(backend_err)?;
        let row = client
            .query_one(&stmt, &[&keys, &op, &params])
            .await
            .map_err(backend_err)?;
        let refused: Option<i64> = row.get(0);
        let locked: Option<i64> = row.get(1);
        let fails: i32 = row.get(2);
        Ok(Outcome {
            refused_for: refused.and_then(|v| u64::try_from(v).ok()),
            locked_for: locked.and_then(|v| u64::try_from(v).ok()),
            fails: u32::try_from(fails).unwrap_or(0),
        })
    }
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl RateLimitBackend for PostgresLimiter {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn apply(&self, cells: &[Cell<'_>]) -> Result<Outcome, RateLimitError> {
        let Some(first) = cells.first() else {
            return Ok(Outcome::default());
        };
        let op = match first.op {
            CellOp::Take(_) => "take",
            CellOp::Fail(..) => "fail",
            CellOp::Succeed => "succeed",
        };
        let mut keys = Vec::with_capacity(cells.len());
        let mut params = Vec::with_capacity(cells.len() * 7);
        for c in cells {
            keys.push(c.name());
            let (cost, b) = match c.op {
                CellOp::Take(n) => (n, None),
                CellOp::Fail(n, b) => (n, b),
                CellOp::Succeed => (0, None),
            };
            params.extend([
                i(c.quota.emission),
                i(c.quota.tolerance),
                i64::from(cost),
                i64::from(b.map_or(0, |b| b.after)),
                i(b.map_or(0, |b| b.base)),
                i(b.map_or(0, |b| b.max)),
                i(b.map_or(0, |b| b.forget_after)),
            ]);
        }
        tokio::time::timeout(self.timeout, self.call(keys, op, params))
            .await
            .map_err(|_| backend_err("timed out"))?
    }
}
