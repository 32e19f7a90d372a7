//! What a progress callback of a long job returns, and so whether the job goes on.

use std::ops::ControlFlow;

/// The return value of a progress callback ([`Keys::reencrypt`](crate::Keys::reencrypt),
/// [`Keys::rewrap`](crate::Keys::rewrap),
/// [`Retention::sweep`](crate::Retention::sweep), [`Retention::sweep_all_with_progress`](crate::Retention::sweep_all_with_progress)):
/// `()` goes on (what a callback that only watches returns), [`ControlFlow::Break`] stops
/// the job after the batch just reported. A stopped job returns its report so far with
/// `stopped` set; every job is resumable, so running it again finishes the work.
pub trait Progress {
    /// Whether the job goes on.
    fn keep_going(self) -> bool;
}

impl Progress for () {
    fn keep_going(self) -> bool {
        true
    }
}

impl Progress for ControlFlow<()> {
    fn keep_going(self) -> bool {
        self.is_continue()
    }
}

impl Progress for bool {
    /// `true` goes on, `false` stops (the convention of the bindings' callbacks).
    fn keep_going(self) -> bool {
        self
    }
}
