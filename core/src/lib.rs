//! tenantguard: per-tenant envelope encryption and data protection for multi-tenant SaaS.
//!
//! ```
//! use tenantguard::{Credential, Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // The service capability is handed out once, at build time, to the code the host chooses.
//! let (guard, service) = Guard::builder()
//!     .key_provider(LocalKeyProvider::ephemeral())
//!     .store(MemoryStore::new())
//!     .build_with_service()?;
//! let acme = TenantContext::service(TenantId::new("acme")?, &service);
//! guard.keys().create_tenant(&acme).await?;
//!
//! // Seal a value for a text column: `tg2:<keyId>:<base64url>`.
//! let sealed = guard.records().seal(&acme, "credentials/password/row-42", b"hunter2").await?;
//! assert!(sealed.to_text().starts_with("tg2:1:"));
//! let plain = guard.records().open(&acme, "credentials/password/row-42", &sealed).await?;
//! assert_eq!(plain.expose(), b"hunter2");
//!
//! // Or let the store keep it.
//! guard.records().put_credential(&acme, "row-42", &Credential::password("hunter2")).await?;
//! let cred = guard.records().open_credential(&acme, "row-42").await?;
//! assert_eq!(format!("{cred:?}"), "Credential { kind: Password, secret: [REDACTED] }");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Each area's operations sit on a handle borrowed from the [`Guard`]:
//! [`records`](Guard::records) (seal, open, store), [`keys`](Guard::keys) (create, rotate,
//! re-encrypt, retire, shred, BYOK), [`tokens`](Guard::tokens) (agent tokens),
//! `sessions` (passwords and sessions, feature `auth`), [`audit`](Guard::audit),
//! [`retention`](Guard::retention) (windows, sweeps, erasure), [`members`](Guard::members),
//! [`limits`](Guard::limits) (rate-limit policy) and [`portal`](Guard::portal) (SSO/MFA
//! marks). `docs/ARCHITECTURE.md` shows the areas and what each may depend on.
//!
//! See `docs/FORMAT.md` for the wire formats and `docs/SECURITY.md` for the threat model.

#![forbid(unsafe_code)]

/// Declares an area's handle: a borrowed view of the [`Guard`] that carries only that area's
/// operations, and the `Guard` method that hands it out.
macro_rules! area_handle {
    ($(#[$doc:meta])* $name:ident, $accessor:ident, $accessor_doc:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<'g> {
            pub(crate) g: &'g crate::Guard,
        }

        impl crate::Guard {
            #[doc = $accessor_doc]
            pub fn $accessor(&self) -> $name<'_> {
                $name { g: self }
            }
        }
    };
}

pub mod audit;
#[cfg(feature = "auth")]
pub mod auth;
mod bounded;
pub mod crypto;
#[cfg(feature = "egress")]
pub mod egress;
mod error;
pub mod events;
mod governance;
mod guard;
pub mod hazmat;
pub mod kms;
mod members;
mod policy;
pub mod portal;
mod progress;
pub mod ratelimit;
mod records;
#[cfg(feature = "egress")]
pub mod redact;
pub mod retention;
#[cfg(feature = "totp")]
pub mod reveal;
mod rotation;
mod scope;
mod secret;
mod sessions;
mod storage;
pub mod store;
pub mod tenant;
pub mod tokens;
#[cfg(feature = "totp")]
pub mod totp;

pub use audit::Audit;
#[cfg(feature = "auth")]
pub use auth::Sessions;
pub use crypto::SealFormat;
pub use crypto::{KeyId, SealedValue};
pub use error::{Error, ErrorKind, Reason, Result, UnknownName};
pub use governance::GovernanceConfig;
pub use guard::{Clock, Guard, GuardBuilder, KeyInfo, Records, SystemClock};
pub use kms::KeyState;
pub use kms::RewrapReport;
pub use kms::{CacheLimits, KeyProvider, LocalKeyProvider};
pub use members::Members;
pub use portal::Portal;
pub use progress::Progress;
pub use ratelimit::Limits;
pub use ratelimit::{ActionClass, LimitKey, RateLimitError, RateLimiter};
pub use retention::Retention;
pub use rotation::Keys;
pub use rotation::{ReencryptReport, SealedCensus};
pub use secret::{Credential, CredentialKind, SecretBytes};
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{MemoryStore, Store};
#[cfg(feature = "postgres")]
pub use store::{PgOptions, PostgresStore};
pub use tenant::{
    AgentGrant, Principal, PrincipalKind, Role, ServiceRole, TenantContext, TenantError, TenantId,
    TenantResolver, UserId,
};
pub use tokens::Tokens;
