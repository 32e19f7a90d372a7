//! Low-level primitives ("hazardous materials"): seal and open with a key you hold, build
//! a tenant key from raw bytes. They skip everything a [`Guard`](crate::Guard) adds:
//! tenant scoping, the service capability, the audit entry of every open, key lifecycle.
//!
//! They exist for test vectors, benchmarks, fuzzing and offline tools. Application code
//! uses a `Guard`: nothing reachable from a `Guard` hands out key bytes or a
//! [`TenantKey`], so the only way from a `Guard` to plaintext stays the audited one.

pub use crate::crypto::keys::TenantKey;
pub use crate::crypto::seal::{open, open_owned, open_with_key, seal, seal_with_key};
pub use crate::crypto::v2::Context;

#[doc(hidden)]
pub use crate::crypto::seal::{seal_v2_with_nonce, seal_with_salt};
#[doc(hidden)]
pub use crate::crypto::v2::xaes_256_gcm_seal;
