//! Production key providers for tenantguard, each behind its own cargo feature:
//!
//! | feature | provider | binding of tenant + key id |
//! |---|---|---|
//! | `aws` | `aws::AwsKmsProvider` (AWS KMS Encrypt/Decrypt) | `EncryptionContext` |
//! | `vault` | `vault::VaultTransitProvider` (Vault / OpenBao Transit) | `associated_data` or derived-key `context` |
//! | `pkcs11` | `pkcs11::Pkcs11Provider` (any PKCS#11 token or HSM) | AES-GCM AAD, or key binding in AES-KWP |
//! | `gcp` | `gcp::GcpKmsProvider` (Google Cloud KMS REST) | `additionalAuthenticatedData` |
//!
//! Feature `s3-sink` adds `s3_sink::S3CheckpointSink`, an audit checkpoint sink in an S3
//! bucket with Object Lock (COMPLIANCE mode), on the same AWS SDK stack.
//!
//! Every provider times out each call and retries only retryable failures
//! ([`tenantguard::kms::RetryPolicy`]), and maps failures to the typed
//! [`tenantguard::kms::KmsError`] variants: key not found, access denied, wrong
//! context or tampered, unavailable, timed out. Secrets in configurations (tokens, PINs,
//! secret keys) are `secrecy` types and never printed. See docs/kms/ for each provider's
//! minimal permissions and an example configuration.

#![forbid(unsafe_code)]

#[cfg(any(feature = "vault", feature = "gcp"))]
mod http;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "gcp")]
pub mod gcp;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
#[cfg(feature = "s3-sink")]
pub mod s3_sink;
#[cfg(feature = "vault")]
pub mod vault;
