//! The exception hierarchy: `TenantguardError` and one subclass per stable `ErrorKind`.
//!
//! The classes live in `tenantguard/_errors.py`; each carries its kind as the class
//! attribute `kind` (the core's `ErrorKind::as_str`). Messages are the core's, unchanged.

use pyo3::import_exception;
use pyo3::prelude::*;
use tenantguard::kms::KmsError;
use tenantguard::{Error, ErrorKind};

// Defined in `tenantguard/_errors.py`, so each class can also derive from the builtin a
// Python caller expects (`ValueError`, `TypeError`, `LookupError`).
import_exception!(tenantguard._errors, TenantguardError);
import_exception!(tenantguard._errors, InvalidInputError);
import_exception!(tenantguard._errors, InvalidTypeError);
import_exception!(tenantguard._errors, ClosedError);
import_exception!(tenantguard._errors, MalformedError);
import_exception!(tenantguard._errors, UnsupportedVersionError);
import_exception!(tenantguard._errors, TooLargeError);
import_exception!(tenantguard._errors, AuthenticationFailedError);
import_exception!(tenantguard._errors, UnknownKeyError);
import_exception!(tenantguard._errors, KeyDestroyedError);
import_exception!(tenantguard._errors, CrossTenantError);
import_exception!(tenantguard._errors, NotFoundError);
import_exception!(tenantguard._errors, PermissionDeniedError);
import_exception!(tenantguard._errors, ConflictError);
import_exception!(tenantguard._errors, KeyProviderError);
import_exception!(tenantguard._errors, UnavailableError);
import_exception!(tenantguard._errors, StoreError);
import_exception!(tenantguard._errors, ConfigError);
import_exception!(tenantguard._errors, IntegrityError);
import_exception!(tenantguard._errors, RateLimitedError);

/// Every kind and its exception class, in `ErrorKind` order.
fn classes(py: Python<'_>) -> [(ErrorKind, Bound<'_, pyo3::types::PyType>); 17] {
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
        (ErrorKind::RateLimited, py.get_type::<RateLimitedError>()),
    ]
}

/// Checks at import that every core kind has its class with the matching `kind`, so a
/// kind added to the core without a class fails the import tests instead of a user.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let mapped = classes(py);
    if let Some(missing) = ErrorKind::ALL
        .iter()
        .find(|k| !mapped.iter().any(|(m, _)| m == *k))
    {
        return Err(pyo3::exceptions::PyImportError::new_err(format!(
            "tenantguard: error kind {missing} has no exception class"
        )));
    }
    for (kind, class) in mapped {
        let k: String = class.getattr("kind")?.extract()?;
        if k != kind.as_str() {
            return Err(pyo3::exceptions::PyImportError::new_err(format!(
                "tenantguard._errors: {} has kind {k}, expected {}",
                class.name()?,
                kind.as_str()
            )));
        }
    }
    Ok(())
}

/// The line and `seq` of a broken audit chain.
fn chain_position(e: &Error) -> Option<(u64, Option<u64>)> {
    match e {
        Error::Audit(tenantguard::audit::AuditError::Broken { line, seq, .. }) => {
            Some((*line, *seq))
        }
        _ => None,
    }
}

/// The core error as the exception of its kind, with the core's message. Errors the core
/// gives a reason (`Error::reason`: every integrity failure and authentication refusal,
/// every token and session error) carry it as `reason`; a broken chain also `line`, `seq`.
pub(crate) fn to_py(e: Error) -> PyErr {
    let reason = e.reason().map(|r| r.as_str());
    let at = chain_position(&e);
    let err = kind_err(&e);
    if let Some(cause) = take_cause(e.kind()) {
        Python::attach(|py| err.set_cause(py, Some(cause)));
    }
    if let Some(wait) = e.retry_after() {
        Python::attach(|py| {
            let _ = err.value(py).setattr("retry_after", wait.as_secs_f64());
        });
    }
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
        ErrorKind::RateLimited => RateLimitedError::new_err(msg),
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

/// An argument of the wrong type, raised as `InvalidTypeError` (also a `TypeError`).
pub(crate) fn wrong_type(msg: impl Into<String>) -> PyErr {
    InvalidTypeError::new_err(msg.into())
}

/// `InvalidTypeError` unless `ob` (the argument `what`) can be called: a callback that
/// cannot be called is refused when it is given, not reported at each call.
pub(crate) fn callable(py: Python<'_>, ob: &Py<PyAny>, what: &str) -> PyResult<()> {
    let ob = ob.bind(py);
    if ob.is_callable() {
        return Ok(());
    }
    Err(wrong_type(format!(
        "{what} must be callable, got {}",
        ob.get_type().name()?
    )))
}

/// A call the binding refuses in the current state, raised as `ConflictError`.
pub(crate) fn conflict(msg: impl Into<String>) -> PyErr {
    ConflictError::new_err(msg.into())
}

/// Use of a closed object, raised as `ClosedError` (also a `ValueError`).
pub(crate) fn closed(msg: impl Into<String>) -> PyErr {
    ClosedError::new_err(msg.into())
}

thread_local! {
    /// A `KeyboardInterrupt`/`SystemExit` a Python callback raised during the core call
    /// running on this thread (callbacks run on the calling thread), for `block_on` to raise.
    static INTERRUPT: std::cell::RefCell<Option<PyErr>> = const { std::cell::RefCell::new(None) };
    /// The last exception a Python key provider raised during the core call running on
    /// this thread, with the kind it became: the `__cause__` of the error that call raises.
    static CAUSE: std::cell::RefCell<Option<(PyErr, ErrorKind)>> = const { std::cell::RefCell::new(None) };
}

/// Forgets any key provider exception kept by an earlier call on this thread (`block_on`
/// calls it first, so a cause never outlives the call it belongs to).
pub(crate) fn clear_cause() {
    CAUSE.with(|slot| slot.borrow_mut().take());
}

/// The key provider exception kept for an error of `kind`, if the current call kept one.
fn take_cause(kind: ErrorKind) -> Option<PyErr> {
    CAUSE.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some((_, k)) if *k == kind => slot.take().map(|(e, _)| e),
            _ => None,
        }
    })
}

/// Keeps `err` to re-raise when the core call returns if it is not an `Exception` (a
/// `KeyboardInterrupt`, `SystemExit`...): the caller's program must stop, not see a
/// `KeyProviderError` or a refusal it may catch and retry. Returns whether it was one.
pub(crate) fn keep_interrupt(py: Python<'_>, err: &PyErr) -> bool {
    if err.is_instance_of::<pyo3::exceptions::PyException>(py) {
        return false;
    }
    INTERRUPT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(err.clone_ref(py));
        }
    });
    true
}

/// The interrupt kept by `keep_interrupt` on this thread, if any.
pub(crate) fn take_interrupt() -> Option<PyErr> {
    INTERRUPT.with(|slot| slot.borrow_mut().take())
}

/// An error raised by a Python key provider, brought back into the core as a typed
/// `KmsError`: a `TenantguardError` subclass keeps its kind where the core has one for key
/// providers; any other exception becomes `KmsError::Provider` ("TypeName: message"). A
/// `KeyboardInterrupt` or `SystemExit` fails the core call and is raised when it returns.
pub(crate) fn from_foreign(py: Python<'_>, err: PyErr) -> KmsError {
    let kms = foreign_kms(py, &err);
    if err.is_instance_of::<pyo3::exceptions::PyException>(py) {
        // Raised `from` it when the call fails: the provider's own traceback stays visible.
        CAUSE.with(|slot| *slot.borrow_mut() = Some((err, kms.kind())));
    }
    kms
}

fn foreign_kms(py: Python<'_>, err: &PyErr) -> KmsError {
    keep_interrupt(py, err);
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
            // `authentication_failed` is what providers raised before integrity failures
            // had their own kind; both still mean "this wrapped key is not for this context".
            "integrity" | "authentication_failed" => KmsError::WrongContext,
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

/// The message of an error raised by a Python directory or observer ("TypeName: message"),
/// which the core reports in its own error. Not a key provider's: no "key provider
/// failed" in it. A `KeyboardInterrupt` or `SystemExit` is raised when the call returns.
pub(crate) fn foreign_message(py: Python<'_>, err: &PyErr) -> String {
    keep_interrupt(py, err);
    let value = err.value(py);
    let msg = value.str().map(|s| s.to_string()).unwrap_or_default();
    let name = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{name}: {msg}")
}

/// The runtime could not start (a resource failure of this process).
pub(crate) fn runtime_err(msg: String) -> PyErr {
    TenantguardError::new_err(msg)
}

/// Converts one constructor argument like pyo3 would, but fails with a tenantguard error:
/// `InvalidTypeError` for a wrong type, `InvalidInputError` for a number out of range or
/// a string with lone surrogates. Used as `#[pyo3(from_py_with = crate::errors::arg)]` on
/// `#[new]` arguments, which the Python-side wrapper (`tenantguard/_wrap.py`) cannot reach.
pub(crate) fn arg<'a, 'py, T>(ob: &'a Bound<'py, PyAny>) -> PyResult<T>
where
    T: FromPyObject<'a, 'py>,
{
    ob.extract::<T>().map_err(|e| conversion(ob.py(), e.into()))
}

/// The tenantguard error for a failed argument conversion.
pub(crate) fn conversion(py: Python<'_>, e: PyErr) -> PyErr {
    use pyo3::exceptions::{PyOverflowError, PyTypeError, PyUnicodeError, PyValueError};
    let msg = e.value(py).to_string();
    let out = if e.is_instance_of::<TenantguardError>(py) {
        return e;
    } else if e.is_instance_of::<PyUnicodeError>(py) {
        invalid(
            "text must be valid Unicode without lone surrogates (such as from \
             errors='surrogateescape' decoding); clean or re-encode it first",
        )
    } else if e.is_instance_of::<PyOverflowError>(py) {
        invalid(format!("number out of range ({msg})"))
    } else if e.is_instance_of::<PyTypeError>(py) {
        wrong_type(msg)
    } else if e.is_instance_of::<PyValueError>(py) {
        invalid(msg)
    } else {
        return e;
    };
    out.set_cause(py, Some(e));
    out
}
