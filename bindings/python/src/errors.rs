//! The exception hierarchy: `TenantguardError` and one subclass per stable `ErrorKind`.
//!
//! Each class carries its kind as the class attribute `kind` (the core's
//! `ErrorKind::as_str`). Messages are the core's, unchanged. Exceptions pickle by
//! reference to `tenantguard.<Name>` and keep their message.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use tenantguard::kms::KmsError;
use tenantguard::{Error, ErrorKind};

create_exception!(
    tenantguard,
    TenantguardError,
    PyException,
    "Base class of every error tenantguard raises."
);
create_exception!(
    tenantguard,
    InvalidInputError,
    TenantguardError,
    "An argument is out of range or badly formed."
);
create_exception!(
    tenantguard,
    MalformedError,
    TenantguardError,
    "A sealed value could not be parsed."
);
create_exception!(
    tenantguard,
    UnsupportedVersionError,
    TenantguardError,
    "A sealed value uses an unknown format version."
);
create_exception!(
    tenantguard,
    TooLargeError,
    TenantguardError,
    "An input exceeds a documented size limit."
);
create_exception!(
    tenantguard,
    AuthenticationFailedError,
    TenantguardError,
    "Tampered, or opened with the wrong tenant, key or context."
);
create_exception!(
    tenantguard,
    UnknownKeyError,
    TenantguardError,
    "The key id named by a value is not known for this tenant."
);
create_exception!(
    tenantguard,
    KeyDestroyedError,
    TenantguardError,
    "The key was destroyed (crypto-shredded or retired)."
);
create_exception!(
    tenantguard,
    CrossTenantError,
    TenantguardError,
    "A tenant context was used on data of another tenant."
);
create_exception!(
    tenantguard,
    NotFoundError,
    TenantguardError,
    "The tenant or record does not exist."
);
create_exception!(
    tenantguard,
    PermissionDeniedError,
    TenantguardError,
    "The principal's role does not allow this operation."
);
create_exception!(
    tenantguard,
    ConflictError,
    TenantguardError,
    "The operation conflicts with the current state."
);
create_exception!(
    tenantguard,
    KeyProviderError,
    TenantguardError,
    "The key provider (KMS, HSM, key file) refused or failed."
);
create_exception!(
    tenantguard,
    UnavailableError,
    TenantguardError,
    "The key provider is unreachable or timed out; retrying may succeed."
);
create_exception!(
    tenantguard,
    StoreError,
    TenantguardError,
    "The store (database) failed."
);
create_exception!(
    tenantguard,
    ConfigError,
    TenantguardError,
    "Configuration is missing, unreadable or unsafe."
);
create_exception!(
    tenantguard,
    IntegrityError,
    TenantguardError,
    "Stored data failed an integrity check (an authorization row edited or planted outside the SDK)."
);

/// Every kind and its exception class, in `ErrorKind` order.
fn classes(py: Python<'_>) -> [(ErrorKind, Bound<'_, pyo3::types::PyType>); 16] {
    [
        (ErrorKind::InvalidInput, py.get_type::<InvalidInputError>()),
        (ErrorKind::Malformed, py.get_type::<MalformedError>()),
        (
            ErrorKind::UnsupportedVersion,
            py.get_type::<UnsupportedVersionError>(),
        ),
        (ErrorKind::TooLarge, py.get_type::<TooLargeError>()),
        (
            ErrorKind::AuthenticationFailed,
            py.get_type::<AuthenticationFailedError>(),
        ),
        (ErrorKind::UnknownKey, py.get_type::<UnknownKeyError>()),
        (ErrorKind::KeyDestroyed, py.get_type::<KeyDestroyedError>()),
        (ErrorKind::CrossTenant, py.get_type::<CrossTenantError>()),
        (ErrorKind::NotFound, py.get_type::<NotFoundError>()),
        (
            ErrorKind::PermissionDenied,
            py.get_type::<PermissionDeniedError>(),
        ),
        (ErrorKind::Conflict, py.get_type::<ConflictError>()),
        (ErrorKind::KeyProvider, py.get_type::<KeyProviderError>()),
        (ErrorKind::Unavailable, py.get_type::<UnavailableError>()),
        (ErrorKind::Store, py.get_type::<StoreError>()),
        (ErrorKind::Config, py.get_type::<ConfigError>()),
        (ErrorKind::Integrity, py.get_type::<IntegrityError>()),
    ]
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<TenantguardError>();
    base.setattr("kind", "error")?;
    base.setattr("reason", py.None())?;
    base.setattr("line", py.None())?;
    base.setattr("seq", py.None())?;
    m.add("TenantguardError", base)?;
    for (kind, class) in classes(py) {
        class.setattr("kind", kind.as_str())?;
        m.add(class.name()?, class)?;
    }
    Ok(())
}

/// A short reason code for errors that have several causes under one kind (token and
/// session refusals), and the line and `seq` of a broken audit chain.
fn details(e: &Error) -> (Option<&'static str>, Option<(u64, Option<u64>)>) {
    use tenantguard::auth::AuthError;
    match e {
        Error::Token(t) => (Some(t.reason()), None),
        Error::Auth(a) => (
            Some(match a {
                AuthError::WrongPassword => "wrong_password",
                AuthError::MalformedHash => "malformed_hash",
                AuthError::WeakParams => "weak_params",
                AuthError::MalformedToken(_) => "malformed",
                AuthError::BadSignature => "bad_signature",
                AuthError::Expired => "expired",
                AuthError::Revoked => "revoked",
                AuthError::Unknown => "unknown",
                AuthError::RefreshReuse => "refresh_reuse",
                AuthError::InvalidInput(_) => "invalid_input",
                _ => "other",
            }),
            None,
        ),
        Error::Audit(tenantguard::audit::AuditError::Broken { line, seq, .. }) => {
            (Some("broken_chain"), Some((*line, *seq)))
        }
        _ => (None, None),
    }
}

/// The core error as the exception of its kind, with the core's message. Token, session
/// and audit-chain errors also carry `reason` (and `line`, `seq` for a broken chain).
pub(crate) fn to_py(e: Error) -> PyErr {
    let (reason, at) = details(&e);
    let err = kind_err(&e);
    if reason.is_some() {
        Python::attach(|py| {
            let v = err.value(py);
            let _ = v.setattr("reason", reason);
            if let Some((line, seq)) = at {
                let _ = v.setattr("line", line);
                let _ = v.setattr("seq", seq);
            }
        });
    }
    err
}

fn kind_err(e: &Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::InvalidInput => InvalidInputError::new_err(msg),
        ErrorKind::Malformed => MalformedError::new_err(msg),
        ErrorKind::UnsupportedVersion => UnsupportedVersionError::new_err(msg),
        ErrorKind::TooLarge => TooLargeError::new_err(msg),
        ErrorKind::AuthenticationFailed => AuthenticationFailedError::new_err(msg),
        ErrorKind::UnknownKey => UnknownKeyError::new_err(msg),
        ErrorKind::KeyDestroyed => KeyDestroyedError::new_err(msg),
        ErrorKind::CrossTenant => CrossTenantError::new_err(msg),
        ErrorKind::NotFound => NotFoundError::new_err(msg),
        ErrorKind::PermissionDenied => PermissionDeniedError::new_err(msg),
        ErrorKind::Conflict => ConflictError::new_err(msg),
        ErrorKind::KeyProvider => KeyProviderError::new_err(msg),
        ErrorKind::Unavailable => UnavailableError::new_err(msg),
        ErrorKind::Store => StoreError::new_err(msg),
        ErrorKind::Config => ConfigError::new_err(msg),
        ErrorKind::Integrity => IntegrityError::new_err(msg),
        _ => TenantguardError::new_err(msg),
    }
}

/// Converts any core-module error (`CryptoError`, `KmsError`...) via `tenantguard::Error`.
pub(crate) fn py_err(e: impl Into<Error>) -> PyErr {
    to_py(e.into())
}

/// A binding-level argument error (wrong length etc.), raised as `InvalidInputError`.
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(msg.into())
}

/// An error raised by a Python key provider, brought back into the core as a typed
/// `KmsError`: a `TenantguardError` subclass keeps its kind where the core has one for key
/// providers; any other exception becomes `KmsError::Provider` ("TypeName: message").
pub(crate) fn from_foreign(py: Python<'_>, err: PyErr) -> KmsError {
    let value = err.value(py);
    let msg = value.str().map(|s| s.to_string()).unwrap_or_default();
    if err.is_instance_of::<TenantguardError>(py) {
        let kind: String = value
            .getattr("kind")
            .and_then(|k| k.extract())
            .unwrap_or_default();
        return match kind.as_str() {
            "unavailable" => KmsError::Unavailable(msg),
            "config" => KmsError::Config(msg),
            "authentication_failed" => KmsError::WrongContext,
            _ => KmsError::Provider(msg),
        };
    }
    let name = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    KmsError::Provider(format!("{name}: {msg}"))
}

/// The runtime could not start (a resource failure of this process).
pub(crate) fn runtime_err(msg: String) -> PyErr {
    TenantguardError::new_err(msg)
}
