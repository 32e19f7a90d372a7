//! The Redis backend (feature `redis`): every cell a hash, every call one atomic Lua script
//! (`redis.lua`) on the server's clock.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use super::gcra::CellOp;
use super::{Cell, Outcome, RateLimitBackend, RateLimitError};

const SCRIPT: &str = include_str!("redis.lua");
/// Longest wait for one call before the backend counts as unreachable.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Limiter state in Redis, shared by every instance that connects to the same server.
///
/// Unreachable (connection refused, or no answer within the timeout): the call fails and
/// each class fails open or closed as its policy says. The connection re-establishes by
/// itself when the server is back.
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend_err(e: impl std::fmt::Display) -> RateLimitError {
    RateLimitError::Backend {
        backend: "redis",
        message: e.to_string(),
    }
}

impl RedisLimiter {
    /// Connects to `url` (`redis://127.0.0.1:6379/0`). Keys are named `tg:rl:<cell>`.
    pub async fn connect(url: &str) -> Result<RedisLimiter, RateLimitError> {
        RedisLimiter::connect_with(url, "tg:rl:", DEFAULT_REDIS_TIMEOUT).await
    }

    /// Like [`RedisLimiter::connect`] with a key prefix (several deployments on one server)
    /// and a per-call timeout (1 ms to 10 s).
    pub async fn connect_with(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<RedisLimiter, RateLimitError> {
        if timeout < Duration::from_millis(1) || timeout > Duration::from_secs(10) {
            return Err(RateLimitError::Config(
                "redis timeout must be 1 ms to 10 s".into(),
            ));
        }
        if prefix.len() > 64 {
            return Err(RateLimitError::Config(
                "redis key prefix at most 64 bytes".into(),
            ));
        }
        // The URL is not echoed: it may hold a password.
        let client = redis::Client::open(url)
            .map_err(|_| RateLimitError::Config("not a valid redis URL".into()))?;
        let conn = tokio::time::timeout(timeout * 4, client.get_connection_manager())
            .await
            .map_err(|_| backend_err("connect timed out"))?
            .map_err(backend_err)?;
        Ok(RedisLimiter {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_owned(),
            timeout,
        })
    }
}

#[async_trait]
impl RateLimitBackend for RedisLimiter {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn apply(&self, cells: &[Cell<'_>]) -> Result<Outcome, RateLimitError> {
        let Some(first) = cells.first() else {
            return Ok(Outcome::default());
        };
        let mut inv = self.script.prepare_invoke();
        inv.arg(match first.op {
            CellOp::Take(_) => "take",
            CellOp::Fail(..) => "fail",
            CellOp::Succeed => "succeed",
        });
        for c in cells {
            inv.key(format!("{}{}", self.prefix, c.name()));
            let (cost, b) = match c.op {
                CellOp::Take(n) => (n, None),
                CellOp::Fail(n, b) => (n, b),
                CellOp::Succeed => (0, None),
            };
            inv.arg(c.quota.emission)
                .arg(c.quota.tolerance)
                .arg(cost)
                .arg(b.map_or(0, |b| b.after))
                .arg(b.map_or(0, |b| b.base))
                .arg(b.map_or(0, |b| b.max))
                .arg(b.map_or(0, |b| b.forget_after));
        }
        let mut conn = self.conn.clone();
        let (refused, locked, fails): (i64, i64, i64) =
            tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn))
                .await
                .map_err(|_| backend_err("timed out"))?
                .map_err(backend_err)?;
        Ok(Outcome {
            refused_for: u64::try_from(refused).ok(),
            locked_for: u64::try_from(locked).ok(),
            fails: u32::try_from(fails).unwrap_or(0),
        })
    }
}
