//! Random salts straight from the operating system's generator, buffered.
//!
//! One `getrandom` call costs about as much as a whole seal, so each thread draws 4 KiB at a
//! time and hands out salts from it. The buffer is tagged with the process id: a forked
//! child never reuses its parent's bytes (a repeated salt would repeat a record key).

use std::cell::RefCell;

use super::CryptoError;

const BUF_LEN: usize = 4096;

struct Pool {
    pid: u32,
    pos: usize,
    buf: [u8; BUF_LEN],
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { pid: 0, pos: BUF_LEN, buf: [0; BUF_LEN] }) };
}

/// Fills `out` (at most 4 KiB) with bytes from the OS generator.
pub(crate) fn fill(out: &mut [u8]) -> Result<(), CryptoError> {
    if out.len() > BUF_LEN {
        return getrandom::fill(out).map_err(|_| CryptoError::Rng);
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let pid = std::process::id();
        if pool.pid != pid || pool.pos + out.len() > BUF_LEN {
            getrandom::fill(&mut pool.buf).map_err(|_| CryptoError::Rng)?;
            pool.pid = pid;
            pool.pos = 0;
        }
        let start = pool.pos;
        out.copy_from_slice(&pool.buf[start..start + out.len()]);
        // Never hand out the same bytes twice.
        pool.buf[start..start + out.len()].fill(0);
        pool.pos += out.len();
        Ok(())
    })
}

/// A 192-bit nonce for format v2: 24 bytes from the OS-seeded pool, with the wall clock in
/// nanoseconds XORed into the last 8. XOR with a value independent of the pool keeps the
/// nonce uniformly random; the clock only matters when the pool itself repeats, which the
/// process-id check cannot see: a VM snapshot restored twice, or a process cloned with its
/// memory and PID (CRIU). Two such clones then still draw different nonces unless they seal
/// in the same nanosecond (docs/SECURITY.md states the residual risk).
pub(crate) fn nonce24() -> Result<[u8; 24], CryptoError> {
    let mut n = [0u8; 24];
    fill(&mut n)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    for (b, t) in n[16..].iter_mut().zip(nanos.to_le_bytes()) {
        *b ^= t;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn salts_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let mut s = [0u8; 16];
            super::fill(&mut s).unwrap();
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn nonces_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(super::nonce24().unwrap()));
        }
    }
}
