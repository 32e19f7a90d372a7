//! How a check reports: its body runs under `catch_unwind`, and a panic in it (a failed
//! assertion, an unexpected error unwrapped) becomes a panic that names the rule first.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `body`; if it panics, panics again with `name` (the check's path), `rule` (what it
/// checks) and the original message.
pub(crate) async fn check<F: Future<Output = ()>>(name: &'static str, rule: &'static str, body: F) {
    if let Err(payload) = (CatchUnwind(Box::pin(body))).await {
        panic!(
            "store conformance rule broken: {name}\n  the rule: {rule}\n  what failed: {}",
            message(payload.as_ref())
        );
    }
}

/// The message of a panic payload (`panic!` with a literal or with arguments).
pub(crate) fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message")
}

/// A future that returns the panic of the future it polls instead of unwinding through it.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future<Output = ()>> Future for CatchUnwind<F> {
    type Output = Result<(), Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let body = self.0.as_mut();
        // The body is dropped right after a panic (never polled again), so whatever state
        // it left behind is not observed: asserting unwind safety is sound here.
        match std::panic::catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
