//! PKCS#11 tokens and HSMs (crate `cryptoki`): data keys are encrypted with `CKM_AES_GCM`
//! under a non-extractable AES-256 KEK that never leaves the token, with the
//! [`WrapContext::aad`] as GCM additional data. The token is found by its label (slot
//! numbers change between boots), the user PIN comes from configuration and is never logged.
//!
//! Wrapped format: `iv (12) | ciphertext (32) | tag (16)`. The KEK id stored with it is
//! `pkcs11:token=<token label>;object=<key label>` (RFC 7512 style), so rotating to a key
//! with a new label makes the KEK-rotation job re-wrap every data key under it.
//!
//! `CKM_AES_KEY_WRAP_PAD` (RFC 5649) is not offered: it takes no additional data, so it
//! cannot bind a wrapped key to its tenant and key id.
//!
//! **Per-tenant keys** ([`Pkcs11Provider::with_tenant_keys`]): each tenant gets its own
//! token key labelled `<prefix><tenant>` with a random `CKA_ID` (created on its first wrap;
//! the KEK id is `pkcs11:token=<token>;object=<label>;id=<hex CKA_ID>`), and shredding the
//! tenant destroys that object (`C_DestroyObject`): database backups cannot bring the tenant
//! back. Keys wrapped under the shared key before keep opening, and the KEK-rotation job
//! moves them to the tenant's key.
//!
//! Each call runs on tokio's blocking pool over one logged-in session (re-opened after the
//! token drops it), bounded by the [`RetryPolicy`]'s per-call timeout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;
use tenantguard::crypto::DataKey;
use tenantguard::kms::{
    Destruction, KeyProvider, KmsError, RetryPolicy, TenantDestruction, WrapContext, WrappedKey,
};
use tenantguard::TenantId;
use zeroize::Zeroizing;

const NAME: &str = "pkcs11";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of a wrapped key: IV, ciphertext, tag.
pub const WRAPPED_LEN: usize = IV_LEN + 32 + TAG_LEN;
/// Longest token or key label (PKCS#11 token labels are 32 bytes; key labels are capped here).
pub const MAX_LABEL_LEN: usize = 64;

/// Configuration of a [`Pkcs11Provider`].
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// Label of the token holding the KEK.
    pub token_label: String,
    /// The user PIN. Never logged.
    pub pin: SecretString,
    /// Label of the AES-256 key used for new wraps.
    pub key_label: String,
    /// Timeouts and retries.
    pub retry: RetryPolicy,
}

struct State {
    session: Option<Session>,
    handles: HashMap<String, ObjectHandle>,
}

struct Inner {
    ctx: Pkcs11,
    slot: Slot,
    pin: SecretString,
    state: Mutex<State>,
}

/// Key-encryption keys on a PKCS#11 token.
pub struct Pkcs11Provider {
    inner: Arc<Inner>,
    token_label: String,
    key_label: String,
    retry: RetryPolicy,
    tenant_prefix: Option<String>,
}

/// Longest label of a per-tenant key (prefix and tenant id).
const MAX_TENANT_LABEL_LEN: usize = 128;

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The tenant key objects labelled `label` with their `CKA_ID`s.
fn tenant_objects(s: &Session, label: &str) -> Result<Vec<(ObjectHandle, Vec<u8>)>, CkError> {
    let found = s.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    let mut out = Vec::with_capacity(found.len());
    for h in found {
        let id = s
            .get_attributes(h, &[cryptoki::object::AttributeType::Id])?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Id(v) => Some(v),
                _ => None,
            })
            .unwrap_or_default();
        if !id.is_empty() {
            out.push((h, id));
        }
    }
    Ok(out)
}

/// The key labelled `label` with `CKA_ID` `id` (cached by label and id).
fn find_key_with_id(
    s: &Session,
    handles: &mut HashMap<String, ObjectHandle>,
    label: &str,
    id: &[u8],
) -> Result<Option<ObjectHandle>, CkError> {
    let cache = format!("{label};id={}", to_hex(id));
    if let Some(h) = handles.get(&cache) {
        return Ok(Some(*h));
    }
    let found = s.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ])?;
    match found.as_slice() {
        [h] => {
            handles.insert(cache, *h);
            Ok(Some(*h))
        }
        _ => Ok(None),
    }
}

fn aes_key_template(label: &str, id: Option<&[u8]>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    if let Some(id) = id {
        t.push(Attribute::Id(id.to_vec()));
    }
    t
}

impl std::fmt::Debug for Pkcs11Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Provider")
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL_LEN
        && !s.contains(';')
        && !s.chars().any(char::is_control)
}

/// Maps a token error outside decryption.
fn ck(e: CkError) -> KmsError {
    match &e {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect
            | RvError::PinLocked
            | RvError::PinExpired
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::UserNotLoggedIn
            | RvError::UserPinNotInitialized => KmsError::AccessDenied(format!(
                "{NAME}: the token refused the login or the operation ({rv:?})"
            )),
            RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid => {
                KmsError::KekNotFound(format!("{NAME}: key handle no longer valid"))
            }
            RvError::KeyFunctionNotPermitted
            | RvError::KeyTypeInconsistent
            | RvError::MechanismInvalid => KmsError::Config(format!(
                "{NAME}: the key does not allow AES-GCM encryption ({rv:?})"
            )),
            _ => KmsError::Unavailable(format!("{NAME}: {rv:?}")),
        },
        CkError::LibraryLoading(_) => {
            KmsError::Config(format!("{NAME}: cannot load the module: {e}"))
        }
        _ => KmsError::Unavailable(format!("{NAME}: {e}")),
    }
}

/// Errors after which the session is dropped and re-opened on the next call.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError
                | RvError::UserNotLoggedIn
                | RvError::GeneralError,
            _
        )
    )
}

impl Inner {
    fn open_session(&self) -> Result<Session, KmsError> {
        let s = self.ctx.open_rw_session(self.slot).map_err(ck)?;
        match s.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(s),
            // SoftHSM (and some HSMs) answer a wrong PIN with CKR_GENERAL_ERROR: the token
            // gives no more detail, so say both possibilities.
            Err(CkError::Pkcs11(RvError::GeneralError, _)) => Err(KmsError::AccessDenied(format!(
                "{NAME}: login failed with CKR_GENERAL_ERROR (a wrong PIN on SoftHSM, or a token fault)"
            ))),
            Err(e) => Err(ck(e)),
        }
    }

    /// Runs `f` on the logged-in session, opening it if needed and dropping it if the
    /// token lost it.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session, &mut HashMap<String, ObjectHandle>) -> Result<T, CkError>,
    ) -> Result<T, CkOr> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.session.is_none() {
            st.session = Some(self.open_session().map_err(CkOr::Kms)?);
        }
        let State { session, handles } = &mut *st;
        let s = session
            .as_ref()
            .ok_or_else(|| CkOr::Kms(KmsError::Unavailable(format!("{NAME}: no session"))))?;
        let r = f(s, handles);
        if let Err(e) = &r {
            if session_lost(e) {
                // Before dropping it, find out whether the session is really gone: a general
                // error on a healthy session is about the data (e.g. a failed GCM tag on SoftHSM).
                let healthy = s.get_session_info().is_ok();
                if !healthy {
                    st.session = None;
                    st.handles.clear();
                }
                return r.map_err(|e| CkOr::Ck(e, healthy));
            }
            if matches!(
                e,
                CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _)
            ) {
                st.handles.clear();
            }
        }
        r.map_err(|e| CkOr::Ck(e, true))
    }
}

/// A token error (with whether the session was still healthy after it) or a mapped error.
enum CkOr {
    Ck(CkError, bool),
    Kms(KmsError),
}

fn find_key(
    s: &Session,
    handles: &mut HashMap<String, ObjectHandle>,
    label: &str,
) -> Result<Option<ObjectHandle>, CkError> {
    if let Some(h) = handles.get(label) {
        return Ok(Some(*h));
    }
    let found = s.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    match found.as_slice() {
        [h] => {
            handles.insert(label.to_owned(), *h);
            Ok(Some(*h))
        }
        _ => Ok(None),
    }
}

/// One initialized context per module and process (PKCS#11 is initialized once per
/// application; every provider on the same module shares it).
fn module(path: &std::path::Path) -> Result<Pkcs11, KmsError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut m = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = m.get(path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        KmsError::Config(format!(
            "{NAME}: cannot load module {}: {e}",
            path.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck(e)),
    }
    m.insert(path.to_owned(), ctx.clone());
    Ok(ctx)
}

impl Pkcs11Provider {
    /// Loads the module, finds the token by label and logs in. `Config` if the module or
    /// token is missing, `AccessDenied` if the PIN is refused.
    pub fn new(cfg: Pkcs11Config) -> Result<Self, KmsError> {
        cfg.retry.validate()?;
        if !valid_label(&cfg.token_label) || !valid_label(&cfg.key_label) {
            return Err(KmsError::Config(format!(
                "{NAME}: labels must be 1 to {MAX_LABEL_LEN} characters without ';'"
            )));
        }
        let ctx = module(&cfg.module)?;
        let mut slot = None;
        for s in ctx.get_slots_with_token().map_err(ck)? {
            if ctx.get_token_info(s).map_err(ck)?.label().trim_end() == cfg.token_label {
                slot = Some(s);
                break;
            }
        }
        let slot = slot.ok_or_else(|| {
            KmsError::Config(format!("{NAME}: no token labelled {:?}", cfg.token_label))
        })?;
        let inner = Inner {
            ctx,
            slot,
            pin: cfg.pin,
            state: Mutex::new(State {
                session: None,
                handles: HashMap::new(),
            }),
        };
        let first = inner.open_session()?;
        inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .session = Some(first);
        Ok(Pkcs11Provider {
            inner: Arc::new(inner),
            token_label: cfg.token_label,
            key_label: cfg.key_label,
            retry: cfg.retry,
            tenant_prefix: None,
        })
    }

    /// Gives each tenant its own token key labelled `<prefix><tenant>` (prefix: 1 to 32
    /// characters without ';'), created on the tenant's first wrap and destroyed when it is
    /// shredded. The shared key keeps opening older wraps.
    pub fn with_tenant_keys(mut self, prefix: &str) -> Result<Self, KmsError> {
        if prefix.len() > 32 || !valid_label(prefix) {
            return Err(KmsError::Config(format!(
                "{NAME}: the tenant key label prefix must be 1 to 32 characters without ';'"
            )));
        }
        self.tenant_prefix = Some(prefix.to_owned());
        Ok(self)
    }

    fn tenant_label(&self, tenant: &str) -> Option<String> {
        self.tenant_prefix.as_ref().map(|p| format!("{p}{tenant}"))
    }

    /// (label, CKA_ID) named by a stored KEK id of this token.
    fn parse_kek(&self, kek_id: &str) -> Option<(String, Option<Vec<u8>>)> {
        let rest = kek_id.strip_prefix(&format!("pkcs11:token={};object=", self.token_label))?;
        match rest.split_once(";id=") {
            Some((label, id)) => {
                let ok = !label.is_empty()
                    && label.len() <= MAX_TENANT_LABEL_LEN
                    && !label.contains(';')
                    && !label.chars().any(char::is_control);
                ok.then_some(())?;
                Some((label.to_owned(), Some(from_hex(id)?)))
            }
            None => valid_label(rest).then(|| (rest.to_owned(), None)),
        }
    }

    async fn destroy_once(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        let Some(label) = self.tenant_label(tenant.as_str()) else {
            return Err(KmsError::Unsupported(format!(
                "{NAME}: every tenant is wrapped under the shared token key {:?}: enable \
                 per-tenant keys (Pkcs11Provider::with_tenant_keys) so that shredding can \
                 destroy a tenant's key",
                self.key_label
            )));
        };
        let (inner, l) = (self.inner.clone(), label.clone());
        let n = self
            .blocking(move || {
                inner.with_session(|s, handles| {
                    let objects = tenant_objects(s, &l)?;
                    for (h, _) in &objects {
                        s.destroy_object(*h)?;
                    }
                    handles.clear();
                    Ok(Ok(objects.len()))
                })
            })
            .await??;
        Ok(if n == 0 {
            TenantDestruction {
                destruction: Destruction::NothingHeld,
                detail: format!("{NAME}: no token key labelled {label:?}"),
            }
        } else {
            TenantDestruction {
                destruction: Destruction::Immediate,
                detail: format!(
                    "{NAME}: token key {label:?} destroyed (C_DestroyObject); token backups \
                     taken before still hold it"
                ),
            }
        })
    }

    fn kek_id(&self, key_label: &str) -> String {
        format!("pkcs11:token={};object={}", self.token_label, key_label)
    }

    /// Generates a non-extractable, sensitive AES-256 token key labelled `label` that can
    /// only encrypt and decrypt (an administrator would do this with the HSM's own tools).
    pub async fn generate_kek(&self, label: &str) -> Result<String, KmsError> {
        if !valid_label(label) {
            return Err(KmsError::Config(format!(
                "{NAME}: labels must be 1 to {MAX_LABEL_LEN} characters without ';'"
            )));
        }
        let (inner, label_owned) = (self.inner.clone(), label.to_owned());
        self.blocking(move || {
            inner.with_session(|s, handles| {
                if find_key(s, handles, &label_owned)?.is_some() {
                    return Ok(Err(KmsError::Config(format!(
                        "{NAME}: a key labelled {label_owned:?} exists"
                    ))));
                }
                let h =
                    s.generate_key(&Mechanism::AesKeyGen, &aes_key_template(&label_owned, None))?;
                handles.insert(label_owned.clone(), h);
                Ok(Ok(()))
            })
        })
        .await??;
        Ok(self.kek_id(label))
    }

    /// Destroys the token key labelled `label` (revocation: data keys under it become
    /// unreadable for good).
    pub async fn destroy_kek(&self, label: &str) -> Result<(), KmsError> {
        let (inner, label) = (self.inner.clone(), label.to_owned());
        self.blocking(move || {
            inner.with_session(|s, handles| {
                let Some(h) = find_key(s, handles, &label)? else {
                    return Ok(Err(KmsError::KekNotFound(label.clone())));
                };
                s.destroy_object(h)?;
                handles.remove(&label);
                Ok(Ok(()))
            })
        })
        .await?
    }

    /// Runs a token call on the blocking pool; maps token errors outside decryption.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, CkOr> + Send + 'static,
    ) -> Result<T, KmsError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| KmsError::Unavailable(format!("{NAME}: token call panicked")))?
            .map_err(|e| match e {
                CkOr::Kms(k) => k,
                CkOr::Ck(e, _) => ck(e),
            })
    }

    async fn encrypt_once(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|_| {
            KmsError::Config("the operating system's random generator failed".into())
        })?;
        let tenant_label = self.tenant_label(ctx.tenant.as_str());
        let mut new_id = [0u8; 16];
        getrandom::fill(&mut new_id).map_err(|_| {
            KmsError::Config("the operating system's random generator failed".into())
        })?;
        let (inner, label, aad, plain) = (
            self.inner.clone(),
            tenant_label
                .clone()
                .unwrap_or_else(|| self.key_label.clone()),
            ctx.aad(),
            Zeroizing::new(*key.expose()),
        );
        let per_tenant = tenant_label.is_some();
        let (out, id) = self
            .blocking(move || {
                inner.with_session(|s, handles| {
                    let (h, id) = if per_tenant {
                        // The tenant's key, created on its first wrap (with a random CKA_ID:
                        // if two processes create one at once, each wrap names its own).
                        match tenant_objects(s, &label)?.into_iter().next() {
                            Some((h, id)) => (h, Some(id)),
                            None => {
                                let h = s.generate_key(
                                    &Mechanism::AesKeyGen,
                                    &aes_key_template(&label, Some(&new_id)),
                                )?;
                                (h, Some(new_id.to_vec()))
                            }
                        }
                    } else {
                        match find_key(s, handles, &label)? {
                            Some(h) => (h, None),
                            None => return Ok(Err(KmsError::KekNotFound(label.clone()))),
                        }
                    };
                    let mut iv_buf = iv;
                    let params = GcmParams::new(&mut iv_buf, &aad, 128.into())?;
                    let ct = s.encrypt(&Mechanism::AesGcm(params), h, plain.as_ref())?;
                    Ok(Ok((ct, id)))
                })
            })
            .await??;
        if out.len() != 32 + TAG_LEN {
            return Err(KmsError::Unavailable(format!(
                "{NAME}: unexpected AES-GCM output length {}",
                out.len()
            )));
        }
        let mut ciphertext = Vec::with_capacity(WRAPPED_LEN);
        ciphertext.extend_from_slice(&iv);
        ciphertext.extend_from_slice(&out);
        Ok(WrappedKey {
            kek_id: match (tenant_label, id) {
                (Some(l), Some(id)) => format!("{};id={}", self.kek_id(&l), to_hex(&id)),
                _ => self.kek_id(&self.key_label),
            },
            ciphertext,
        })
    }

    async fn decrypt_once(
        &self,
        wrapped: &WrappedKey,
        ctx: &WrapContext,
    ) -> Result<DataKey, KmsError> {
        let (label, id) = self
            .parse_kek(&wrapped.kek_id)
            .ok_or_else(|| KmsError::KekNotFound(wrapped.kek_id.clone()))?;
        if wrapped.ciphertext.len() != WRAPPED_LEN {
            return Err(KmsError::WrongContext);
        }
        let (inner, aad, blob) = (self.inner.clone(), ctx.aad(), wrapped.ciphertext.clone());
        let r = tokio::task::spawn_blocking(move || {
            inner.with_session(|s, handles| {
                let found = match &id {
                    Some(id) => find_key_with_id(s, handles, &label, id)?,
                    None => find_key(s, handles, &label)?,
                };
                let Some(h) = found else {
                    return Ok(Err(KmsError::KekNotFound(label.clone())));
                };
                let mut iv: [u8; IV_LEN] = blob[..IV_LEN]
                    .try_into()
                    .map_err(|_| CkError::InvalidValue)?;
                let params = GcmParams::new(&mut iv, &aad, 128.into())?;
                Ok(Ok(Zeroizing::new(s.decrypt(
                    &Mechanism::AesGcm(params),
                    h,
                    &blob[IV_LEN..],
                )?)))
            })
        })
        .await
        .map_err(|_| KmsError::Unavailable(format!("{NAME}: token call panicked")))?;
        let plain = match r {
            Ok(inner) => inner?,
            Err(CkOr::Kms(k)) => return Err(k),
            // A failed tag: CKR_ENCRYPTED_DATA_INVALID per the standard; SoftHSM says
            // CKR_GENERAL_ERROR, which counts as "wrong context" only if the session is
            // still healthy afterwards (otherwise the token failed: unavailable).
            Err(CkOr::Ck(
                CkError::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange, _),
                _,
            )) => return Err(KmsError::WrongContext),
            Err(CkOr::Ck(CkError::Pkcs11(RvError::GeneralError, _), true)) => {
                return Err(KmsError::WrongContext)
            }
            Err(CkOr::Ck(e, _)) => return Err(ck(e)),
        };
        DataKey::from_slice(&plain).map_err(|_| KmsError::WrongContext)
    }
}

#[async_trait::async_trait]
impl KeyProvider for Pkcs11Provider {
    fn name(&self) -> &str {
        NAME
    }

    /// The shared key's id; with per-tenant keys `pkcs11:token=<token>;object=<prefix>*`.
    async fn current_kek(&self) -> Result<String, KmsError> {
        Ok(match &self.tenant_prefix {
            Some(p) => self.kek_id(&format!("{p}*")),
            None => self.kek_id(&self.key_label),
        })
    }

    /// With per-tenant keys: destroys the tenant's token key; without: unsupported.
    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        self.retry.run(|| self.destroy_once(tenant)).await
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        match (&self.tenant_prefix, self.parse_kek(&wrapped.kek_id)) {
            (Some(p), Some((label, Some(_)))) => label.starts_with(p.as_str()),
            _ => false,
        }
    }

    /// With per-tenant keys every tenant-key wrap is current; wraps under the shared key
    /// are moved to the tenant's key.
    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        match self.tenant_prefix {
            Some(_) => self.tenant_bound(wrapped),
            None => wrapped.kek_id == current,
        }
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        self.retry.run(|| self.encrypt_once(key, ctx)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.retry.run(|| self.decrypt_once(wrapped, ctx)).await
    }
}
