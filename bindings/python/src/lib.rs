//! Python bindings for tenantguard (module `tenantguard._native`).
//!
//! Thin by design, like huggingface/tokenizers: every function converts its arguments,
//! calls the core, and converts the result or error. No logic lives here. Calls release the
//! GIL around core work and run the core's futures on an internal runtime.

mod byok;
mod egress;
mod errors;
mod gov;
mod guard;
mod handle;
mod isolation;
mod lowlevel;
mod provider;
mod runtime;
mod transparency;
mod types;

use pyo3::prelude::*;

/// The native module; `tenantguard/__init__.py` re-exports everything from it.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    types::register(m)?;
    provider::register(m)?;
    guard::register(m)?;
    byok::register(m)?;
    gov::register(m)?;
    egress::register(m)?;
    isolation::register(m)?;
    lowlevel::register(m)?;
    transparency::register(m)?;
    runtime::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
