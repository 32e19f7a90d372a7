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

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tenantguard::crypto::DataKey;
use tenantguard::kms::{KeyProvider, KmsError, RetryPolicy, WrapContext, WrappedKey};
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
}

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
        Ok(GcpKmsProvider { cfg, client })
    }

    fn timeout_ms(&self) -> u64 {
        self.cfg.retry.call_timeout.as_millis() as u64
    }

    async fn call(&self, key_name: &str, verb: &str, body: String) -> Result<Value, KmsError> {
        let token = self.cfg.tokens.access_token().await?;
        let mut auth =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    KmsError::Config(format!(
                        "{NAME}: the access token holds characters not allowed in a header"
                    ))
                })?;
        auth.set_sensitive(true);
        let body = Zeroizing::new(body);
        let resp = self
            .client
            .post(format!("{}/v1/{key_name}:{verb}", self.cfg.endpoint))
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.as_bytes().to_vec())
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
        Err(match (status, rpc.as_str()) {
            (404, _) | (_, "NOT_FOUND") => KmsError::KekNotFound(key_name.to_owned()),
            (_, "FAILED_PRECONDITION") => KmsError::AccessDenied(format!(
                "{NAME}: the key version is disabled, scheduled for destruction or destroyed: {}",
                http::short(&message)
            )),
            _ if m.contains("crc32c") || m.contains("checksum") => integrity("the request"),
            (400, "INVALID_ARGUMENT") if verb == "decrypt" => KmsError::WrongContext,
            _ => KmsError::Config(format!(
                "{NAME}: HTTP {status} {rpc}: {}",
                http::short(&message)
            )),
        })
    }

    async fn encrypt_once(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
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
        let r = self.call(&self.cfg.key_name, "encrypt", body).await?;
        if r["verifiedPlaintextCrc32c"] != Value::Bool(true)
            || r["verifiedAdditionalAuthenticatedDataCrc32c"] != Value::Bool(true)
        {
            return Err(integrity("the encrypt request"));
        }
        let version = r["name"].as_str().unwrap_or_default();
        if !version
            .strip_prefix(self.cfg.key_name.as_str())
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
            kek_id: self.cfg.key_name.clone(),
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

    async fn current_kek(&self) -> Result<String, KmsError> {
        Ok(self.cfg.key_name.clone())
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        self.cfg.retry.run(|| self.encrypt_once(key, ctx)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.cfg.retry.run(|| self.decrypt_once(wrapped, ctx)).await
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
