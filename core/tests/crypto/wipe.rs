//! Dropping a secret wipes its whole allocation: a global allocator that looks at one block
//! size as it is freed. Most telling in an optimized build (`cargo test --release -p
//! tenantguard --test crypto wipe::`), where the compiler removes stores into memory that is
//! freed next unless a barrier stops it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tenantguard::SecretBytes;

/// The system allocator, plus: a freed block of the size this thread watches is checked
/// for zeroes first.
struct Watching;

thread_local! {
    static WATCH: Cell<usize> = const { Cell::new(0) };
    static FREED_ZEROED: Cell<Option<bool>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded to `System` with the same arguments; `dealloc` reads the
// block (live until `System.dealloc`) only when its size is the one the test watches.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        unsafe { System.realloc(p, l, new) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if WATCH.try_with(|w| w.get() == l.size()).unwrap_or(false) {
            let block = unsafe { std::slice::from_raw_parts(p, l.size()) };
            let zeroed = block.iter().all(|&b| b == 0);
            let _ = FREED_ZEROED.try_with(|z| z.set(Some(zeroed)));
        }
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

/// Frees a `SecretBytes` holding `len` secret bytes in a block of `cap` (the rest also
/// non-zero, as a vector's spare capacity can be) and says whether the block was zero.
fn freed_zeroed(len: usize, cap: usize) -> Option<bool> {
    let mut v = Vec::with_capacity(cap);
    v.resize(cap, 0xa5u8);
    v.truncate(len);
    let secret = SecretBytes::new(v);
    FREED_ZEROED.with(|z| z.set(None));
    WATCH.with(|w| w.set(cap));
    drop(secret);
    WATCH.with(|w| w.set(0));
    FREED_ZEROED.with(|z| z.get())
}

#[test]
fn dropping_secret_bytes_zeroes_the_whole_block() {
    // Odd sizes nothing else in this binary allocates: one small, one of an opened 1 MiB
    // value (a block of its own, from `mmap`).
    for (len, cap) in [(13, 97), (1 << 20, (1 << 20) + 77)] {
        assert_eq!(freed_zeroed(len, cap), Some(true), "{len} bytes in {cap}");
    }
}
