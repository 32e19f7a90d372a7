//! The JVM fast path: seal and open through JNI for Kotlin's `TenantSealer`.
//!
//! uniffi's Kotlin runs every call through JNA, which costs about 9 µs of the caller's CPU
//! per call on the machines measured (a JNA `Structure` call status per call, see
//! benches/BENCHMARKS.md), and a seal + open round trip makes 12 calls. These four native
//! methods do the same round trip in two JNI calls. Like the rest of the crate they only
//! convert: a `Guard` and a `TenantContext` are registered once (through uniffi) under a
//! numeric scope id, and each native method looks the scope up, converts the JVM arrays
//! and strings, calls the core and converts the result or error back.
//!
//! Scope ids index a registry rather than carry pointers, so a closed or forged id is an
//! `IllegalStateException`, never a dangling reference; an in-flight call holds its own
//! reference, so `close()` on another thread cannot free the scope under it.
//!
//! Limit: at most [`MAX_SCOPES`] scopes open at once (a `TooLarge` error past that: close
//! sealers you no longer use).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use jni::errors::{Error as JniError, ErrorPolicy};
use jni::objects::{JByteArray, JClass, JObject, JObjectArray, JString, JThrowable, JValue};
use jni::strings::JNIString;
use jni::sys::jlong;
use jni::{jni_sig, Env, EnvUnowned};
use tenantguard::ErrorKind;
use zeroize::Zeroizing;

use crate::error::TenantguardError;
use crate::guard::Guard;
use crate::runtime::{block_on_in, CallId};
use crate::types::TenantContext;

/// Most scopes (Kotlin `TenantSealer`s) open at once.
pub const MAX_SCOPES: usize = 65_536;

/// A guard and the tenant scope its sealer acts in.
struct Scope {
    guard: Arc<Guard>,
    ctx: Arc<TenantContext>,
}

static SCOPES: LazyLock<RwLock<HashMap<u64, Arc<Scope>>>> = LazyLock::new(Default::default);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Registers `guard` and `ctx` for the JNI fast path; returns the scope id.
fn register(guard: Arc<Guard>, ctx: Arc<TenantContext>) -> Result<u64, TenantguardError> {
    let mut scopes = SCOPES.write().unwrap_or_else(PoisonError::into_inner);
    if scopes.len() >= MAX_SCOPES {
        return Err(TenantguardError::new(
            ErrorKind::TooLarge,
            format!("{MAX_SCOPES} TenantSealers are open: close() the ones you no longer use"),
        ));
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    scopes.insert(id, Arc::new(Scope { guard, ctx }));
    Ok(id)
}

#[uniffi::export]
impl Guard {
    /// Registers this guard and `ctx` with the JVM fast path and returns the scope id.
    /// Kotlin's `TenantSealer` calls it; other languages have no use for it.
    pub fn jvm_scope(self: Arc<Self>, ctx: Arc<TenantContext>) -> Result<u64, TenantguardError> {
        register(self, ctx)
    }
}

fn scope(id: jlong) -> Result<Arc<Scope>, Failure> {
    let scopes = SCOPES.read().unwrap_or_else(PoisonError::into_inner);
    scopes.get(&(id as u64)).cloned().ok_or(Failure::Closed)
}

fn release(id: jlong) -> bool {
    let mut scopes = SCOPES.write().unwrap_or_else(PoisonError::into_inner);
    scopes.remove(&(id as u64)).is_some()
}

/// Why a native method failed; each becomes a Java exception.
enum Failure {
    /// The core refused: `TenantguardException.<Kind>` with the core's message and reason.
    Core(TenantguardError),
    /// The scope id is not registered (closed sealer).
    Closed,
    /// JNI itself failed (bad string, exception pending, out of memory).
    Jni(JniError),
}

impl From<JniError> for Failure {
    fn from(e: JniError) -> Self {
        Failure::Jni(e)
    }
}

impl From<TenantguardError> for Failure {
    fn from(e: TenantguardError) -> Self {
        Failure::Core(e)
    }
}

/// The Kotlin class of each variant (`kotlin/TenantguardException.kt`: each has a
/// `(String, ErrorReason?)` constructor).
fn exception_class(e: &TenantguardError) -> &'static str {
    use TenantguardError as E;
    match e {
        E::InvalidInput { .. } => "tenantguard/TenantguardException$InvalidInput",
        E::Malformed { .. } => "tenantguard/TenantguardException$Malformed",
        E::UnsupportedVersion { .. } => "tenantguard/TenantguardException$UnsupportedVersion",
        E::TooLarge { .. } => "tenantguard/TenantguardException$TooLarge",
        E::AuthenticationFailed { .. } => "tenantguard/TenantguardException$AuthenticationFailed",
        E::UnknownKey { .. } => "tenantguard/TenantguardException$UnknownKey",
        E::KeyDestroyed { .. } => "tenantguard/TenantguardException$KeyDestroyed",
        E::CrossTenant { .. } => "tenantguard/TenantguardException$CrossTenant",
        E::NotFound { .. } => "tenantguard/TenantguardException$NotFound",
        E::PermissionDenied { .. } => "tenantguard/TenantguardException$PermissionDenied",
        E::Conflict { .. } => "tenantguard/TenantguardException$Conflict",
        E::KeyProvider { .. } => "tenantguard/TenantguardException$KeyProvider",
        E::Unavailable { .. } => "tenantguard/TenantguardException$Unavailable",
        E::Store { .. } => "tenantguard/TenantguardException$Store",
        E::Config { .. } => "tenantguard/TenantguardException$Config",
        E::Integrity { .. } => "tenantguard/TenantguardException$Integrity",
        E::RateLimited { .. } => "tenantguard/TenantguardException$RateLimited",
        E::Other { .. } => "tenantguard/TenantguardException$Other",
    }
}

/// Throws each failure as the exception Kotlin callers of the uniffi API already catch.
struct ThrowTyped;

impl<T: Default> ErrorPolicy<T, Failure> for ThrowTyped {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        err: Failure,
    ) -> jni::errors::Result<T> {
        let e = match err {
            // An exception is already pending (e.g. OutOfMemoryError): let it propagate.
            Failure::Jni(JniError::JavaException) => return Ok(T::default()),
            Failure::Core(e) => e,
            Failure::Closed => {
                env.throw_new(
                    JNIString::from("java/lang/IllegalStateException"),
                    JNIString::from("TenantSealer has already been closed"),
                )?;
                return Ok(T::default());
            }
            Failure::Jni(e) => TenantguardError::new(
                ErrorKind::InvalidInput,
                format!("cannot read the argument: {e}"),
            ),
        };
        throw_typed(env, &e)?;
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        _payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        // The payload is not shown: a panic message could quote a value.
        let e = TenantguardError::Other {
            message: "internal error in tenantguard's JNI layer (a bug): please report it".into(),
            reason: None,
        };
        throw_typed(env, &e)?;
        Ok(T::default())
    }
}

/// Throws `e` as its `TenantguardException.<Kind>`, with the core's message and reason: the
/// same exception the uniffi calls throw for the same error.
fn throw_typed(env: &mut Env<'_>, e: &TenantguardError) -> jni::errors::Result<()> {
    let reason = match e.reason() {
        // Kotlin's `ErrorReason` has uniffi's cases in declaration order, so a case's index
        // in `values()` is its Rust discriminant.
        Some(r) => {
            let all = env
                .call_static_method(
                    JNIString::from("tenantguard/ErrorReason"),
                    JNIString::from("values"),
                    jni_sig!("()[Ltenantguard/ErrorReason;"),
                    &[],
                )?
                .l()?;
            let all = env.cast_local::<JObjectArray>(all)?;
            all.get_element(env, r as usize)?
        }
        None => JObject::null(),
    };
    let message = env.new_string(e.to_string())?;
    let thrown = env.new_object(
        JNIString::from(exception_class(e)),
        jni_sig!("(Ljava/lang/String;Ltenantguard/ErrorReason;)V"),
        &[JValue::Object(&message), JValue::Object(&reason)],
    )?;
    let thrown = env.cast_local::<JThrowable>(thrown)?;
    env.throw(thrown)
}

fn seal(s: &Scope, context: &str, plaintext: &[u8]) -> Result<tenantguard::SealedValue, Failure> {
    let (g, ctx) = (&s.guard.0, &s.ctx.0);
    Ok(block_on_in(s.guard.call_id(), async move {
        Ok(g.records().seal(ctx, context, plaintext).await?)
    })?)
}

/// Opens the value parsed from the Java argument: a copy of our own, so it is opened in
/// place (`open_owned`).
fn open(
    s: &Scope,
    context: &str,
    sealed: tenantguard::SealedValue,
) -> Result<tenantguard::SecretBytes, Failure> {
    let (g, ctx) = (&s.guard.0, &s.ctx.0);
    Ok(block_on_in(s.guard.call_id(), async move {
        Ok(g.records().open_owned(ctx, context, sealed).await?)
    })?)
}

/// Reads a Java string strictly: an unpaired surrogate is an error, not a silent U+FFFD
/// (which would let two different strings name the same context).
fn text(env: &Env<'_>, s: &JString<'_>, what: &str) -> Result<String, Failure> {
    let chars = s.mutf8_chars(env)?;
    match simd_cesu8::mutf8::decode(chars.to_bytes()) {
        Ok(t) => Ok(t.into_owned()),
        Err(_) => Err(Failure::Core(TenantguardError::new(
            ErrorKind::InvalidInput,
            format!(
                "{what} is not valid Unicode text (an unpaired surrogate): pass well-formed strings"
            ),
        ))),
    }
}

fn core_err(e: impl Into<tenantguard::Error>) -> Failure {
    Failure::Core(TenantguardError::from(e.into()))
}

/// The shared body of `seal` and `sealText`: looks the scope up, reads the arguments, seals.
fn seal_args(
    env: &Env<'_>,
    id: jlong,
    context: &JString<'_>,
    plaintext: &JByteArray<'_>,
) -> Result<tenantguard::SealedValue, Failure> {
    let s = scope(id)?;
    let context = text(env, context, "context")?;
    let plaintext = Zeroizing::new(env.convert_byte_array(plaintext)?);
    seal(&s, &context, &plaintext)
}

/// The shared body of `open` and `openText`: looks the scope up, reads the context, opens
/// what `parse` makes of the sealed argument.
fn open_args(
    env: &Env<'_>,
    id: jlong,
    context: &JString<'_>,
    parse: impl FnOnce(&Env<'_>) -> Result<tenantguard::SealedValue, Failure>,
) -> Result<tenantguard::SecretBytes, Failure> {
    let s = scope(id)?;
    let context = text(env, context, "context")?;
    let sealed = parse(env)?;
    open(&s, &context, sealed)
}

/// `TenantSealerJni.seal(scope, context, plaintext)`: the binary sealed form.
#[unsafe(no_mangle)]
pub extern "system" fn Java_tenantguard_TenantSealerJni_seal<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
    context: JString<'caller>,
    plaintext: JByteArray<'caller>,
) -> JByteArray<'caller> {
    unowned
        .with_env(|env| -> Result<_, Failure> {
            let sealed = seal_args(env, id, &context, &plaintext)?;
            Ok(env.byte_array_from_slice(sealed.as_bytes())?)
        })
        .resolve::<ThrowTyped>()
}

/// `TenantSealerJni.sealText(scope, context, plaintext)`: the text form `tg2:...`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_tenantguard_TenantSealerJni_sealText<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
    context: JString<'caller>,
    plaintext: JByteArray<'caller>,
) -> JString<'caller> {
    unowned
        .with_env(|env| -> Result<_, Failure> {
            let sealed = seal_args(env, id, &context, &plaintext)?;
            Ok(JString::from_str(env, sealed.to_text())?)
        })
        .resolve::<ThrowTyped>()
}

/// `TenantSealerJni.open(scope, context, sealed)`: opens the binary form.
#[unsafe(no_mangle)]
pub extern "system" fn Java_tenantguard_TenantSealerJni_open<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
    context: JString<'caller>,
    sealed: JByteArray<'caller>,
) -> JByteArray<'caller> {
    unowned
        .with_env(|env| -> Result<_, Failure> {
            let plaintext = open_args(env, id, &context, |env| {
                tenantguard::SealedValue::from_vec(env.convert_byte_array(&sealed)?)
                    .map_err(core_err)
            })?;
            Ok(env.byte_array_from_slice(plaintext.expose())?)
        })
        .resolve::<ThrowTyped>()
}

/// `TenantSealerJni.openText(scope, context, sealed)`: opens the text form.
#[unsafe(no_mangle)]
pub extern "system" fn Java_tenantguard_TenantSealerJni_openText<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
    context: JString<'caller>,
    sealed: JString<'caller>,
) -> JByteArray<'caller> {
    unowned
        .with_env(|env| -> Result<_, Failure> {
            let plaintext = open_args(env, id, &context, |env| {
                tenantguard::SealedValue::parse(&text(env, &sealed, "the sealed text")?)
                    .map_err(core_err)
            })?;
            Ok(env.byte_array_from_slice(plaintext.expose())?)
        })
        .resolve::<ThrowTyped>()
}

/// `TenantSealerJni.release(scope)`: forgets the scope; true if it was open.
#[unsafe(no_mangle)]
pub extern "system" fn Java_tenantguard_TenantSealerJni_release<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    id: jlong,
) -> bool {
    unowned
        .with_env(|_| -> Result<_, Failure> { Ok(release(id)) })
        .resolve::<ThrowTyped>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_scope_is_gone_and_ids_are_not_reused() {
        let gs = crate::guard::guard_in_memory_with_service().unwrap();
        let g = gs.guard;
        let ctx = TenantContext::service("t1".into(), gs.service).unwrap();
        g.create_tenant(ctx.clone()).unwrap();
        let a = register(g.clone(), ctx.clone()).unwrap();
        let b = register(g.clone(), ctx.clone()).unwrap();
        assert_ne!(a, b);
        let s = scope(a as jlong).ok().unwrap();
        let sealed = seal(&s, "c", b"v").ok().unwrap();
        assert_eq!(open(&s, "c", sealed.clone()).ok().unwrap().expose(), b"v");
        assert!(release(a as jlong));
        assert!(!release(a as jlong));
        assert!(matches!(scope(a as jlong), Err(Failure::Closed)));
        // The in-flight reference `s` outlives the release.
        assert_eq!(open(&s, "c", sealed.clone()).ok().unwrap().expose(), b"v");
        assert!(scope(b as jlong).is_ok());
        assert!(release(b as jlong));
    }
}
