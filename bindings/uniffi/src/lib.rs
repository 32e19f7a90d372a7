//! uniffi bindings (Kotlin, Swift) for tenantguard.
//!
//! Thin by design, like huggingface/tokenizers: each exported item converts types and
//! errors and calls the core; no logic lives here. Blocking methods run the core's futures
//! on an internal runtime; every `*_async` twin is a `suspend` function in Kotlin and an
//! `async` one in Swift.

mod error;
mod guard;
mod lowlevel;
mod provider;
mod runtime;
mod types;

pub use error::{ProviderError, TenantguardError};
pub use guard::{Guard, OpenedRecord};
pub use lowlevel::{open_with_key, seal_with_salt};
pub use provider::{KeyProvider, LocalKeyProvider, Store};
pub use types::{
    CacheStats, Credential, CredentialKind, KeyInfo, KeyState, ReencryptReport, RewrapReport, Role,
    SealedValue, ServiceRole, TenantContext, WrapContext, WrappedKey,
};

uniffi::setup_scaffolding!();
