//! uniffi bindings (Kotlin, Swift) for tenantguard.
//!
//! Thin by design, like huggingface/tokenizers: each exported item converts types and
//! errors and calls the core; no logic lives here. Blocking methods run the core's futures
//! on an internal runtime; every `*_async` twin is a `suspend` function in Kotlin and an
//! `async` one in Swift.

mod dual;
mod egress;
mod error;
mod governance;
mod guard;
mod isolation;
mod jvm;
// Test-only primitives, compiled only with the `test-primitives` feature (not shipped).
#[cfg(feature = "test-primitives")]
mod lowlevel;
mod provider;
mod ratelimit;
mod runtime;
mod types;
// Added for the remaining API gaps (egress observers, BYOK, token refusals, memberships).
mod byok;
mod members;
mod refusal;
// Typed session refusals and audit-chain outcomes (results instead of exceptions).
mod audit_check;
mod session_check;
// Progress callbacks that can stop a long job (issue 17).
mod progress;
// Offline verification of audit export bundles and proofs (issue 18).
mod transparency;

pub use audit_check::{check_audit_jsonl, AuditCheck, AuditProblem};
pub use egress::{
    egress_policy_default, egress_policy_strict, example_registry, DenyReason, Egress,
    EgressDecision, EgressPolicy, Finding, OrgPattern, Prepared, PseudonymSession, RedactCategory,
    RedactOperator, Redacted, RedactionLevel, Redactor, RetentionHints, SubProcessor,
};
pub use egress::{EgressEvent, EgressObserver, StreamRestorer};
pub use error::{audit_action_names, error_kinds, error_reasons, role_names};
pub use error::{HostError, ProviderError, TenantguardError};
pub use governance::{
    verify_audit_jsonl, AuditAction, AuditEntry, AuditEvent, AuditExport, AuditHead, AuditReport,
    Clock, ErasureReport, GuardOptions, IssuedToken, PasswordCheck, PasswordHasher, PasswordParams,
    ReceiptSecret, RetentionWindow, SessionInfo, SessionTokens, SweepAllReport, SweepReport,
    TenantErasureReport, TokenAction, TokenInfo, TokenScope, TokenSpec, VerifiedAccess,
    VerifiedToken,
};
pub use guard::{
    guard_embedded_with_service, guard_in_memory_with_service, guard_with_key_provider_and_service,
    guard_with_local_key_provider_and_service, Guard, GuardWithService, OpenedRecord,
};
pub use isolation::{
    totp_params_default, Directory, DirectoryResolver, Membership, MemoryDirectory, OpenEvent,
    OpenKind, OpenObserver, Revealer, SeedEncoding, TotpAlgorithm, TotpCode, TotpParams,
};
#[cfg(feature = "test-primitives")]
pub use lowlevel::{open_with_key, seal_with_salt};
pub use progress::{JobProgress, JobStep};
pub use provider::{postgres_migrate, KeyProvider, LocalKeyProvider, Store};
pub use ratelimit::{rate_limited_retry_after, RateLimitClass, RateLimitDecision, RateLimitKey};
pub use refusal::{TokenCheck, TokenRefusal};
pub use session_check::{AccessCheck, RefreshCheck, SessionRefusal};
pub use transparency::{
    audit_tamper_reasons, check_audit_bundle, check_audit_consistency_proof,
    check_audit_inclusion_proof, AuditBundleCheck, AuditBundleSummary, AuditCheckpoint,
    AuditProofCheck, AuditTamperReason,
};
pub use types::{
    CacheStats, Credential, CredentialKind, KeyInfo, KeyState, ReencryptReport, RewrapReport, Role,
    SealedValue, ServiceRole, ShredReport, TenantContext, WrapContext, WrappedKey,
};

uniffi::setup_scaffolding!();
