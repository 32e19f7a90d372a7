//! Google Cloud KMS (REST): data keys are encrypted with `cryptoKeys.encrypt` and bound
//! to their tenant and key id as `additionalAuthenticatedData`. Every request carries the
//! CRC32C integrity fields and every response is verified (`verifiedPlaintextCrc32c`,
//! `verifiedAdditionalAuthenticatedDataCrc32c`, `ciphertextCrc32c`, `plaintextCrc32c`), as
//! Google recommends; a mismatch is treated as corruption in transit (retryable).
//!
//! The KEK id stored with a wrapped key is the CryptoKey's resource name. Rotating the
//! primary version is transparent (Cloud KMS finds the version from the ciphertext);
//! moving to a new CryptoKey changes the KEK id and the KEK-rotation job re-wraps.
//!
//! Authentication is an OAuth access token from an [`AccessTokenSource`] (e.g. the
//! metadata server or a workload-identity exchange, refreshed by your code).
//!
//! **Per-tenant keys** ([`GcpKmsProvider::with_tenant_keys`]): each tenant gets its own
//! CryptoKey in the configured key ring, `<prefix><32 hex digits of SHA-256(tenant id)>`
//! (created on the tenant's first wrap, with the configured scheduled-destruction
//! duration), and shredding the tenant schedules every version of it for destruction
//! (`cryptoKeyVersions.destroy`): unusable at once, destroyed by Cloud KMS after the
//! duration (1 to 120 days); a Cloud KMS administrator can restore a version until then.
//! Cloud KMS never deletes the CryptoKey resource itself, only its key material. Keys
//! wrapped under the shared key before keep opening, and the KEK-rotation job moves them
//! to the tenant's key.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tenantguard::crypto::DataKey;
use tenantguard::kms::{
    Destruction, KeyProvider, KmsError, RetryPolicy, TenantDestruction, WrapContext, WrappedKey,
};
use tenantguard::TenantId;
use zeroize::Zeroizing;

use crate::http;

const NAME: &str = "gcp-kms";
/// The public Cloud KMS endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";
/// Longest ciphertext accepted for unwrapping (bytes).
pub const MAX_CIPHERTEXT_LEN: usize = 4096;

/// Supplies OAuth access tokens (scope `cloudkms`). Called before every request, so it
/// should cache and refresh on its own.
#[async_trait::async_trait]
pub trait AccessTokenSource: Send + Sync {
    /// A currently valid access token.
    async fn access_token(&self) -> Result<SecretString, KmsError>;
}

/// A fixed access token (tests, or short jobs with a token minted beforehand).
pub struct StaticAccessToken(pub SecretString);

#[async_trait::async_trait]
impl AccessTokenSource for StaticAccessToken {
    async fn access_token(&self) -> Result<SecretString, KmsError> {
        Ok(self.0.clone())
    }
}

/// Configuration of a [`GcpKmsProvider`].
#[derive(Clone)]
pub struct GcpKmsConfig {
    /// `https://cloudkms.googleapis.com` or a private endpoint, without a trailing slash.
    pub endpoint: String,
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K` (purpose ENCRYPT_DECRYPT).
    pub key_name: String,
    /// Access tokens.
    pub tokens: Arc<dyn AccessTokenSource>,
    /// Timeouts and retries.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for GcpKmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpKmsConfig")
            .field("endpoint", &self.endpoint)
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

/// Key-encryption keys in Google Cloud KMS.
#[derive(Debug)]
pub struct GcpKmsProvider {
    cfg: GcpKmsConfig,
    client: reqwest::Client,
    tenant_keys: Option<TenantKeys>,
}

#[derive(Debug, Clone)]
struct TenantKeys {
    /// `projects/P/locations/L/keyRings/R`.
    ring: String,
    prefix: String,
    destroy_days: u32,
}

/// Longest per-tenant CryptoKey prefix (the id is the prefix and 32 hex digits, at most 63).
pub const MAX_TENANT_PREFIX_LEN: usize = 31;

/// Checks `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
pub fn valid_key_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() == 8
        && [
            (0, "projects"),
            (2, "locations"),
            (4, "keyRings"),
            (6, "cryptoKeys"),
        ]
        .iter()
        .all(|&(i, w)| parts[i] == w)
        && [1, 3, 5, 7].iter().all(|&i| {
            let p = parts[i];
            !p.is_empty()
                && p.len() <= 63
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The CRC32C of `data` as Cloud KMS writes it: a decimal int64 in a JSON string.
pub fn crc32c_field(data: &[u8]) -> String {
    crc32c::crc32c(data).to_string()
}

fn int64_field(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn integrity(what: &str) -> KmsError {
    KmsError::Unavailable(format!(
        "{NAME}: {what} failed its CRC32C check (corrupted in transit)"
    ))
}

impl GcpKmsProvider {
    /// A provider for `cfg`; `Config` if a field is out of bounds. Makes no call.
    pub fn new(cfg: GcpKmsConfig) -> Result<Self, KmsError> {
        cfg.retry.validate()?;
        if !(cfg.endpoint.starts_with("https://") || cfg.endpoint.starts_with("http://"))
            || cfg.endpoint.ends_with('/')
        {
            return Err(KmsError::Config(format!(
                "{NAME}: endpoint must be http(s)://host[:port] without a trailing slash"
            )));
        }
        if !valid_key_name(&cfg.key_name) {
            return Err(KmsError::Config(format!(
                "{NAME}: key_name must be projects/P/locations/L/keyRings/R/cryptoKeys/K"
            )));
        }
        let client = http::client(cfg.retry.call_timeout)?;
        Ok(GcpKmsProvider {
            cfg,
            client,
            tenant_keys: None,
        })
    }

    /// Gives each tenant its own CryptoKey in the configured key's ring, named
    /// `<prefix><32 hex digits of SHA-256(tenant id)>` (prefix: 1 to 31 of A-Z a-z 0-9 - _),
    /// created on the tenant's first wrap with `destroyScheduledDuration` of
    /// `destroy_days` (1 to 120), and scheduled for destruction when the tenant is shredded.
    /// The service account needs `cloudkms.cryptoKeys.create` on the ring,
    /// `cloudkms.cryptoKeyVersions.list` and `.destroy` on the tenant keys, besides
    /// encrypt/decrypt (docs/kms/gcp.md). The configured shared key keeps opening older wraps.
    pub fn with_tenant_keys(mut self, prefix: &str, destroy_days: u32) -> Result<Self, KmsError> {
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_TENANT_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok || !(1..=120).contains(&destroy_days) {
            return Err(KmsError::Config(format!(
                "{NAME}: the tenant key prefix must be 1 to {MAX_TENANT_PREFIX_LEN} of A-Z a-z                  0-9 - _ and destroy_days 1 to 120"
            )));
        }
        let ring = self
            .cfg
            .key_name
            .rsplitn(3, '/')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        self.tenant_keys = Some(TenantKeys {
            ring,
            prefix: prefix.to_owned(),
            destroy_days,
        });
        Ok(self)
    }

    /// The CryptoKey that wraps `tenant`'s new keys.
    fn key_for(&self, tenant: &str) -> String {
        match &self.tenant_keys {
            Some(t) => {
                use sha2::Digest;
                let h = sha2::Sha256::digest(tenant.as_bytes());
                let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
                format!("{}/cryptoKeys/{}{hex}", t.ring, t.prefix)
            }
            None => self.cfg.key_name.clone(),
        }
    }

    async fn wrap_tenant(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let name = self.key_for(ctx.tenant.as_str());
        match self.encrypt_once(&name, key, ctx).await {
            Err(KmsError::KekNotFound(_)) => {
                let t = self.tenant_keys.as_ref().ok_or_else(|| {
                    KmsError::Config(format!("{NAME}: per-tenant keys are not enabled"))
                })?;
                let id = name.rsplit('/').next().unwrap_or_default();
                let body = format!(
                    r#"{{"purpose":"ENCRYPT_DECRYPT","destroyScheduledDuration":"{}s"}}"#,
                    u64::from(t.destroy_days) * 86_400
                );
                let path = format!("{}/cryptoKeys?cryptoKeyId={id}", t.ring);
                match self.request(reqwest::Method::POST, &path, Some(body)).await {
                    // Another process created it first (HTTP 409 ALREADY_EXISTS).
                    Err(KmsError::Config(m)) if m.contains("ALREADY_EXISTS") => {}
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
                self.encrypt_once(&name, key, ctx).await
            }
            other => other,
        }
    }

    async fn destroy_once(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        let Some(t) = &self.tenant_keys else {
            return Err(KmsError::Unsupported(format!(
                "{NAME}: every tenant is wrapped under the shared CryptoKey {}: enable                  per-tenant keys (GcpKmsProvider::with_tenant_keys) so that shredding can                  destroy a tenant's key",
                self.cfg.key_name
            )));
        };
        let name = self.key_for(tenant.as_str());
        let mut destroyed = 0usize;
        let mut page: Option<String> = None;
        loop {
            let mut path = format!("{name}/cryptoKeyVersions?pageSize=1000");
            if let Some(p) = &page {
                path.push_str("&pageToken=");
                path.push_str(p);
            }
            let list = match self.request(reqwest::Method::GET, &path, None).await {
                Err(KmsError::KekNotFound(_)) if page.is_none() => {
                    return Ok(TenantDestruction {
                        destruction: Destruction::NothingHeld,
                        detail: format!("{NAME}: no CryptoKey {name}"),
                    })
                }
                other => other?,
            };
            for v in list["cryptoKeyVersions"].as_array().into_iter().flatten() {
                let state = v["state"].as_str().unwrap_or_default();
                if matches!(state, "DESTROYED" | "DESTROY_SCHEDULED") {
                    continue;
                }
                let version = v["name"].as_str().unwrap_or_default();
                if !version
                    .strip_prefix(name.as_str())
                    .is_some_and(|r| r.starts_with("/cryptoKeyVersions/"))
                {
                    return Err(KmsError::Unavailable(format!(
                        "{NAME}: version list answered for another key"
                    )));
                }
                self.request(
                    reqwest::Method::POST,
                    &format!("{version}:destroy"),
                    Some("{}".to_owned()),
                )
                .await?;
                destroyed += 1;
            }
            match list["nextPageToken"].as_str() {
                Some(p) if !p.is_empty() => page = Some(p.to_owned()),
                _ => break,
            }
        }
        Ok(TenantDestruction {
            destruction: Destruction::Scheduled {
                days: t.destroy_days,
            },
            detail: format!(
                "{NAME}: {destroyed} version(s) of CryptoKey {name} scheduled for destruction:                  unusable now, destroyed by Cloud KMS after {} days (the key's                  destroyScheduledDuration); a Cloud KMS administrator can restore them until then",
                t.destroy_days
            ),
        })
    }

    fn timeout_ms(&self) -> u64 {
        self.cfg.retry.call_timeout.as_millis() as u64
    }

    async fn call(&self, key_name: &str, verb: &str, body: String) -> Result<Value, KmsError> {
        let r = self
            .request(
                reqwest::Method::POST,
                &format!("{key_name}:{verb}"),
                Some(body),
            )
            .await;
        match r {
            Err(KmsError::Config(m)) if verb == "decrypt" && m.contains("INVALID_ARGUMENT") => {
                Err(KmsError::WrongContext)
            }
            other => other,
        }
    }

    /// One call to `/v1/<path>`: the JSON answer of a 2xx, or a classified error.
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Value, KmsError> {
        let token = self.cfg.tokens.access_token().await?;
        let mut auth =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    KmsError::Config(format!(
                        "{NAME}: the access token holds characters not allowed in a header"
                    ))
                })?;
        auth.set_sensitive(true);
        let mut req = self
            .client
            .request(method, format!("{}/v1/{path}", self.cfg.endpoint))
            .header(reqwest::header::AUTHORIZATION, auth);
        if let Some(body) = body {
            let body = Zeroizing::new(body);
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.as_bytes().to_vec());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http::transport(NAME, &e, self.timeout_ms()))?;
        let status = resp.status().as_u16();
        let bytes = Zeroizing::new(http::body(NAME, resp, self.timeout_ms()).await?);
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let message = json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let rpc = json["error"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(e) = http::classify_status(NAME, status, &format!("{rpc} {message}")) {
            return Err(e);
        }
        let m = message.to_ascii_lowercase();
        let key_name = path.split([':', '?']).next().unwrap_or(path);
        Err(match (status, rpc.as_str()) {
            (404, _) | (_, "NOT_FOUND") => KmsError::KekNotFound(key_name.to_owned()),
            (_, "FAILED_PRECONDITION") => KmsError::AccessDenied(format!(
                "{NAME}: the key version is disabled, scheduled for destruction or destroyed: {}",
                http::short(&message)
            )),
            _ if m.contains("crc32c") || m.contains("checksum") => integrity("the request"),
            _ => KmsError::Config(format!(
                "{NAME}: HTTP {status} {rpc}: {}",
                http::short(&message)
            )),
        })
    }

    async fn encrypt_once(
        &self,
        key_name: &str,
        key: &DataKey,
        ctx: &WrapContext,
    ) -> Result<WrappedKey, KmsError> {
        let aad = ctx.aad();
        let plaintext = Zeroizing::new(STANDARD.encode(key.expose()));
        // Built by hand so the field order is fixed (see docs/kms/gcp.md).
        let body = format!(
            r#"{{"plaintext":"{}","plaintextCrc32c":"{}","additionalAuthenticatedData":"{}","additionalAuthenticatedDataCrc32c":"{}"}}"#,
            plaintext.as_str(),
            crc32c_field(key.expose()),
            STANDARD.encode(&aad),
            crc32c_field(&aad),
        );
        let r = self.call(key_name, "encrypt", body).await?;
        if r["verifiedPlaintextCrc32c"] != Value::Bool(true)
            || r["verifiedAdditionalAuthenticatedDataCrc32c"] != Value::Bool(true)
        {
            return Err(integrity("the encrypt request"));
        }
        let version = r["name"].as_str().unwrap_or_default();
        if !version
            .strip_prefix(key_name)
            .is_some_and(|v| v.starts_with("/cryptoKeyVersions/"))
        {
            return Err(KmsError::Unavailable(format!(
                "{NAME}: encrypt answered for another key"
            )));
        }
        let ct = r["ciphertext"]
            .as_str()
            .and_then(|c| STANDARD.decode(c).ok())
            .filter(|c| !c.is_empty() && c.len() <= MAX_CIPHERTEXT_LEN);
        let ct = ct.ok_or_else(|| {
            KmsError::Unavailable(format!("{NAME}: encrypt answer without a valid ciphertext"))
        })?;
        if int64_field(&r["ciphertextCrc32c"]) != Some(crc32c::crc32c(&ct) as u64) {
            return Err(integrity("the ciphertext"));
        }
        Ok(WrappedKey {
            kek_id: key_name.to_owned(),
            ciphertext: ct,
        })
    }

    async fn decrypt_once(
        &self,
        wrapped: &WrappedKey,
        ctx: &WrapContext,
    ) -> Result<DataKey, KmsError> {
        if !valid_key_name(&wrapped.kek_id) {
            return Err(KmsError::KekNotFound(wrapped.kek_id.clone()));
        }
        if wrapped.ciphertext.is_empty() || wrapped.ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(KmsError::WrongContext);
        }
        let aad = ctx.aad();
        let body = format!(
            r#"{{"ciphertext":"{}","ciphertextCrc32c":"{}","additionalAuthenticatedData":"{}","additionalAuthenticatedDataCrc32c":"{}"}}"#,
            STANDARD.encode(&wrapped.ciphertext),
            crc32c_field(&wrapped.ciphertext),
            STANDARD.encode(&aad),
            crc32c_field(&aad),
        );
        let r = self.call(&wrapped.kek_id, "decrypt", body).await?;
        let pt = Zeroizing::new(
            r["plaintext"]
                .as_str()
                .and_then(|p| STANDARD.decode(p).ok())
                .ok_or_else(|| {
                    KmsError::Unavailable(format!("{NAME}: decrypt answer without a plaintext"))
                })?,
        );
        if int64_field(&r["plaintextCrc32c"]) != Some(crc32c::crc32c(&pt) as u64) {
            return Err(integrity("the plaintext"));
        }
        DataKey::from_slice(&pt).map_err(|_| KmsError::WrongContext)
    }
}

#[async_trait::async_trait]
impl KeyProvider for GcpKmsProvider {
    fn name(&self) -> &str {
        NAME
    }

    /// The configured CryptoKey; with per-tenant keys `<ring>/cryptoKeys/<prefix>*` (each
    /// tenant has its own key).
    async fn current_kek(&self) -> Result<String, KmsError> {
        Ok(match &self.tenant_keys {
            Some(t) => format!("{}/cryptoKeys/{}*", t.ring, t.prefix),
            None => self.cfg.key_name.clone(),
        })
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        if self.tenant_keys.is_some() {
            return self.cfg.retry.run(|| self.wrap_tenant(key, ctx)).await;
        }
        let name = &self.cfg.key_name;
        self.cfg
            .retry
            .run(|| self.encrypt_once(name, key, ctx))
            .await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.cfg.retry.run(|| self.decrypt_once(wrapped, ctx)).await
    }

    /// With per-tenant keys: schedules every version of the tenant's CryptoKey for
    /// destruction; without: unsupported.
    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        self.cfg.retry.run(|| self.destroy_once(tenant)).await
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        match &self.tenant_keys {
            Some(t) => wrapped
                .kek_id
                .strip_prefix(&format!("{}/cryptoKeys/{}", t.ring, t.prefix))
                .is_some_and(|rest| {
                    rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())
                }),
            None => false,
        }
    }

    /// With per-tenant keys every tenant-key wrap is current; wraps under the shared key
    /// are moved to the tenant's key.
    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        match self.tenant_keys {
            Some(_) => self.tenant_bound(wrapped),
            None => wrapped.kek_id == current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_checksums() {
        assert!(valid_key_name(
            "projects/p-1/locations/global/keyRings/r/cryptoKeys/k_1"
        ));
        for bad in [
            "projects/p/locations/l/keyRings/r",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k/x",
            "projects//locations/l/keyRings/r/cryptoKeys/k",
            "projects/p/locations/l/keyRings/r/cryptoKeys/k:encrypt",
        ] {
            assert!(!valid_key_name(bad), "{bad}");
        }
        // The CRC32C (Castagnoli) check value.
        assert_eq!(crc32c_field(b"123456789"), 0xE306_9283u32.to_string());
    }
}
