//! The one GCRA state machine every backend runs: this Rust code for the in-process table,
//! the same steps in Lua for Redis (`redis.lua`) and in PL/pgSQL for PostgreSQL
//! (`008_rate_limits.sql`). Times are microseconds (a double in Lua holds them exactly
//! until the year 2255); durations never overflow because every sum saturates.

/// The state of one cell (one key of one class at one level of the hierarchy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellState {
    /// Theoretical arrival time: the cell is full again at `tat`.
    pub tat: u64,
    /// Consecutive failures (reset by a success or after `Backoff::forget_after` quiet).
    pub fails: u32,
    /// Locked out until (0 = not locked).
    pub blocked_until: u64,
    /// Time of the last failure.
    pub fail_at: u64,
}

/// The quota of one cell, in microseconds: one unit every `emission`, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellQuota {
    /// Microseconds per unit (the sustained rate's inverse).
    pub emission: u64,
    /// `emission × burst`: how far `tat` may run ahead of now.
    pub tolerance: u64,
}

/// Exponential back-off after repeated failures on one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellBackoff {
    /// Failures in a row before the first lock-out.
    pub after: u32,
    /// First lock-out, microseconds; doubles with every further failure.
    pub base: u64,
    /// Longest lock-out, microseconds.
    pub max: u64,
    /// A failure counter untouched this long starts again at zero, microseconds.
    pub forget_after: u64,
}

/// What to do to a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellOp {
    /// Admit `cost` units or refuse (all cells of a call, or none).
    Take(u32),
    /// Charge `cost` units for a failure whatever the state, count it, lock out if the
    /// back-off says so.
    Fail(u32, Option<CellBackoff>),
    /// A success: the failure counter starts again (a lock-out in force stays).
    Succeed,
}

/// The outcome of [`take`] on one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Admitted: the new `tat`.
    Admit(u64),
    /// Refused: microseconds until a retry can succeed.
    Refuse(u64),
}

fn forget(s: &mut CellState, b: Option<CellBackoff>, now: u64) {
    if let Some(b) = b {
        if s.fails > 0 && now.saturating_sub(s.fail_at) > b.forget_after {
            s.fails = 0;
        }
    }
}

/// GCRA admission of `cost` units (no state change: the caller writes `Admit`'s `tat`
/// back only if every cell of the call admits).
pub fn take(s: &CellState, q: CellQuota, cost: u32, now: u64) -> Take {
    if s.blocked_until > now {
        return Take::Refuse(s.blocked_until - now);
    }
    let new_tat = s
        .tat
        .max(now)
        .saturating_add(q.emission.saturating_mul(u64::from(cost)));
    let limit = now.saturating_add(q.tolerance);
    if new_tat > limit {
        Take::Refuse(new_tat - limit)
    } else {
        Take::Admit(new_tat)
    }
}

/// Applies a failure; returns the lock-out it started (microseconds), if any.
pub fn fail(
    s: &mut CellState,
    q: CellQuota,
    cost: u32,
    b: Option<CellBackoff>,
    now: u64,
) -> Option<u64> {
    forget(s, b, now);
    // Charged even past the limit (the action already happened), but never further than
    // one full window ahead: a flood of failures cannot push a cell out for days.
    let cap = now.saturating_add(q.tolerance).saturating_add(q.emission);
    s.tat = s
        .tat
        .max(now)
        .saturating_add(q.emission.saturating_mul(u64::from(cost)))
        .min(cap);
    let b = b?;
    s.fails = s.fails.saturating_add(1);
    s.fail_at = now;
    if s.fails < b.after {
        return None;
    }
    let doublings = (s.fails - b.after).min(40);
    let lock = b.base.saturating_mul(1u64 << doublings).min(b.max);
    s.blocked_until = s.blocked_until.max(now.saturating_add(lock));
    Some(lock)
}

/// Applies a success.
pub fn succeed(s: &mut CellState) {
    s.fails = 0;
}

/// When the cell holds nothing worth keeping (full, no lock-out, no failure memory):
/// a backend may drop it then.
pub fn idle_at(s: &CellState, b: Option<CellBackoff>) -> u64 {
    let mut t = s.tat.max(s.blocked_until);
    if let Some(b) = b {
        if s.fails > 0 {
            t = t.max(s.fail_at.saturating_add(b.forget_after));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: CellQuota = CellQuota {
        emission: 1_000,
        tolerance: 5_000,
    };

    #[test]
    fn burst_then_sustained_rate() {
        let mut s = CellState::default();
        let now = 1_000_000;
        for _ in 0..5 {
            match take(&s, Q, 1, now) {
                Take::Admit(t) => s.tat = t,
                Take::Refuse(_) => panic!("burst refused"),
            }
        }
        assert_eq!(take(&s, Q, 1, now), Take::Refuse(1_000));
        assert!(matches!(take(&s, Q, 1, now + 1_000), Take::Admit(_)));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = CellBackoff {
            after: 3,
            base: 10,
            max: 100,
            forget_after: 1_000_000,
        };
        let mut s = CellState::default();
        let locks: Vec<_> = (0..8).map(|_| fail(&mut s, Q, 1, Some(b), 0)).collect();
        assert_eq!(
            locks,
            [
                None,
                None,
                Some(10),
                Some(20),
                Some(40),
                Some(80),
                Some(100),
                Some(100)
            ]
        );
        assert!(matches!(take(&s, Q, 1, 50), Take::Refuse(50)));
        succeed(&mut s);
        assert_eq!(s.fails, 0);
        // Quiet long enough: counting starts again.
        let mut s = CellState::default();
        fail(&mut s, Q, 1, Some(b), 0);
        fail(&mut s, Q, 1, Some(b), 0);
        assert_eq!(fail(&mut s, Q, 1, Some(b), 2_000_000), None);
    }

    #[test]
    fn failures_never_push_a_cell_beyond_one_window() {
        let mut s = CellState::default();
        for _ in 0..1000 {
            fail(&mut s, Q, 5, None, 0);
        }
        assert_eq!(s.tat, 6_000);
    }
}
