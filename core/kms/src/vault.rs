//! HashiCorp Vault / OpenBao Transit: data keys are encrypted by a named Transit key and
//! bound to their tenant and key id, either as `associated_data` (AES-GCM AAD; the
//! default) or as the key-derivation `context` of a key created with `derived=true`.
//!
//! The KEK id stored with a wrapped key is `<mount>/<key>:v<version>`, so rotating the
//! Transit key (`transit/keys/<key>/rotate`) makes the KEK-rotation job re-wrap every data
//! key under the new version; then raise `min_decryption_version` to retire the old one.
//! Transit's own `rewrap` endpoint is not used: it ignores `associated_data`.
//!
//! **Per-tenant keys** ([`VaultTransitProvider::with_tenant_keys`]): each tenant gets its own
//! Transit key `<prefix><tenant>` (created on its first wrap), and shredding the tenant
//! deletes that key (`deletion_allowed`, then `DELETE <mount>/keys/<key>`), immediately and
//! for good: database backups cannot bring the tenant back. Keys wrapped under the shared
//! key before keep opening, and the KEK-rotation job moves them to the tenant's key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;
use tenantguard::crypto::DataKey;
use tenantguard::kms::{
    Destruction, KeyProvider, KmsError, RetryPolicy, TenantDestruction, WrapContext, WrappedKey,
};
use tenantguard::TenantId;
use zeroize::Zeroizing;

use crate::http;

const NAME: &str = "vault-transit";
/// Longest Transit ciphertext accepted for unwrapping (bytes).
pub const MAX_CIPHERTEXT_LEN: usize = 4096;

/// How the wrap context is bound to the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaultBinding {
    /// `associated_data`: AES-GCM additional data (key type aes256-gcm96, not derived).
    #[default]
    AssociatedData,
    /// `context`: the key is derived per context (key created with `derived=true`).
    DerivedContext,
}

/// Configuration of a [`VaultTransitProvider`].
#[derive(Debug, Clone)]
pub struct VaultTransitConfig {
    /// Server address, e.g. `https://vault.internal:8200` (no trailing path).
    pub address: String,
    /// A token allowed to use the key (see docs/kms/vault.md for the policy). Never logged.
    pub token: SecretString,
    /// Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`), if any.
    pub namespace: Option<String>,
    /// Mount path of the Transit engine (default `transit`).
    pub mount: String,
    /// Name of the Transit key used for new wraps.
    pub key_name: String,
    /// How the context is bound.
    pub binding: VaultBinding,
    /// Timeouts and retries.
    pub retry: RetryPolicy,
}

impl VaultTransitConfig {
    /// A configuration with the defaults: mount `transit`, associated data, default retries.
    pub fn new(
        address: impl Into<String>,
        token: SecretString,
        key_name: impl Into<String>,
    ) -> Self {
        VaultTransitConfig {
            address: address.into(),
            token,
            namespace: None,
            mount: "transit".into(),
            key_name: key_name.into(),
            binding: VaultBinding::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// Key-encryption keys in a Vault or OpenBao Transit engine.
pub struct VaultTransitProvider {
    cfg: VaultTransitConfig,
    client: reqwest::Client,
    tenant_prefix: Option<String>,
}

impl std::fmt::Debug for VaultTransitProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultTransitProvider")
            .field("address", &self.cfg.address)
            .field("mount", &self.cfg.mount)
            .field("key_name", &self.cfg.key_name)
            .finish_non_exhaustive()
    }
}

fn valid_segment(s: &str, slash_ok: bool) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || (slash_ok && b == b'/')
        })
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.split('/').any(|p| p == ".." || p == ".")
}

/// Parses `<mount>/<key>:v<version>`.
fn parse_kek(kek: &str) -> Option<(&str, &str, u32)> {
    let (path, v) = kek.rsplit_once(":v")?;
    let (mount, key) = path.rsplit_once('/')?;
    let version = v.parse().ok().filter(|&v| v > 0)?;
    (valid_segment(mount, true) && valid_segment(key, false)).then_some((mount, key, version))
}

/// The version in a `vault:v<N>:...` ciphertext.
fn ciphertext_version(ct: &str) -> Option<u32> {
    ct.strip_prefix("vault:v")?.split_once(':')?.0.parse().ok()
}

impl VaultTransitProvider {
    /// A provider for `cfg`; `Config` if a field is out of bounds. Makes no call.
    pub fn new(cfg: VaultTransitConfig) -> Result<Self, KmsError> {
        cfg.retry.validate()?;
        if !(cfg.address.starts_with("https://") || cfg.address.starts_with("http://"))
            || cfg.address.ends_with('/')
        {
            return Err(KmsError::Config(
                "vault address must be http(s)://host:port without a trailing slash".into(),
            ));
        }
        if !valid_segment(&cfg.mount, true) || !valid_segment(&cfg.key_name, false) {
            return Err(KmsError::Config(
                "vault mount and key names: 1 to 128 of A-Z a-z 0-9 - _ . (mount may hold /)"
                    .into(),
            ));
        }
        if cfg
            .namespace
            .as_deref()
            .is_some_and(|n| !valid_segment(n.trim_end_matches('/'), true))
        {
            return Err(KmsError::Config(
                "vault namespace: 1 to 128 of A-Z a-z 0-9 - _ . /".into(),
            ));
        }
        let client = http::client(cfg.retry.call_timeout)?;
        Ok(VaultTransitProvider {
            cfg,
            client,
            tenant_prefix: None,
        })
    }

    /// Gives each tenant its own Transit key named `<prefix><tenant>` (prefix: 1 to 64 of
    /// A-Z a-z 0-9 - _ .), created on the tenant's first wrap and deleted when it is
    /// shredded. The token needs `create`/`update` on `<mount>/keys/<prefix>*` and
    /// `<mount>/keys/<prefix>*/config`, and `delete` on `<mount>/keys/<prefix>*` (see
    /// docs/kms/vault.md). The configured shared key keeps opening older wraps.
    pub fn with_tenant_keys(mut self, prefix: &str) -> Result<Self, KmsError> {
        if prefix.len() > 64 || !valid_segment(prefix, false) || prefix == self.cfg.key_name {
            return Err(KmsError::Config(format!(
                "{NAME}: the tenant key prefix must be 1 to 64 of A-Z a-z 0-9 - _ . and differ \
                 from the shared key's name"
            )));
        }
        self.tenant_prefix = Some(prefix.to_owned());
        Ok(self)
    }

    /// The Transit key that wraps `ctx`'s tenant's new keys.
    fn key_for(&self, tenant: &str) -> String {
        match &self.tenant_prefix {
            Some(p) => format!("{p}{tenant}"),
            None => self.cfg.key_name.clone(),
        }
    }

    async fn wrap_tenant(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        match self.encrypt_once(key, ctx).await {
            Err(KmsError::KekNotFound(_)) => {
                let derived = self.cfg.binding == VaultBinding::DerivedContext;
                let body = Zeroizing::new(
                    json!({ "type": "aes256-gcm96", "derived": derived }).to_string(),
                );
                let path = format!(
                    "{}/keys/{}",
                    self.cfg.mount,
                    self.key_for(ctx.tenant.as_str())
                );
                self.call(reqwest::Method::POST, &path, Some(body)).await?;
                self.encrypt_once(key, ctx).await
            }
            other => other,
        }
    }

    async fn destroy_once(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        if self.tenant_prefix.is_none() {
            return Err(KmsError::Unsupported(format!(
                "{NAME}: every tenant is wrapped under the shared Transit key {:?}: enable \
                 per-tenant keys (VaultTransitProvider::with_tenant_keys) so that shredding can \
                 delete a tenant's key",
                self.cfg.key_name
            )));
        }
        let name = self.key_for(tenant.as_str());
        let path = format!("{}/keys/{name}", self.cfg.mount);
        match self.call(reqwest::Method::GET, &path, None).await {
            Err(KmsError::KekNotFound(_)) => {
                return Ok(TenantDestruction {
                    destruction: Destruction::NothingHeld,
                    detail: format!("{NAME}: no Transit key {name}"),
                })
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let body = Zeroizing::new(json!({ "deletion_allowed": true }).to_string());
        self.call(reqwest::Method::POST, &format!("{path}/config"), Some(body))
            .await?;
        self.call(reqwest::Method::DELETE, &path, None).await?;
        Ok(TenantDestruction {
            destruction: Destruction::Immediate,
            detail: format!(
                "{NAME}: Transit key {}/{name} deleted with all its versions (Vault/OpenBao \
                 storage backups taken before still hold it)",
                self.cfg.mount
            ),
        })
    }

    fn timeout_ms(&self) -> u64 {
        self.cfg.retry.call_timeout.as_millis() as u64
    }

    /// One HTTP call; returns the JSON body of a 2xx answer or a classified error.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Zeroizing<String>>,
    ) -> Result<Value, KmsError> {
        let url = format!("{}/v1/{}", self.cfg.address, path);
        let mut token = reqwest::header::HeaderValue::from_str(self.cfg.token.expose_secret())
            .map_err(|_| {
                KmsError::Config(format!(
                    "{NAME}: the token holds characters not allowed in a header"
                ))
            })?;
        token.set_sensitive(true);
        let mut req = self
            .client
            .request(method, url)
            .header("X-Vault-Token", token);
        if let Some(ns) = &self.cfg.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.as_bytes().to_vec());
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
        let message = json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        if let Some(e) = http::classify_status(NAME, status, &message) {
            return Err(e);
        }
        let m = message.to_ascii_lowercase();
        Err(
            if status == 404 || m.contains("key not found") || m.contains("no handler for route") {
                KmsError::KekNotFound(path.rsplit('/').next().unwrap_or_default().to_owned())
            } else if m.contains("disallowed by policy") || m.contains("too old") {
                KmsError::AccessDenied(format!(
                    "{NAME}: key version retired by min_decryption_version: {}",
                    http::short(&message)
                ))
            } else if m.contains("authentication failed")
                || m.contains("invalid ciphertext")
                || m.contains("unable to decrypt")
                || m.contains("illegal base64")
                || m.contains("invalid version")
            {
                KmsError::WrongContext
            } else {
                KmsError::Config(format!("{NAME}: HTTP {status}: {}", http::short(&message)))
            },
        )
    }

    fn binding_field(&self, ctx: &WrapContext) -> (&'static str, String) {
        let field = match self.cfg.binding {
            VaultBinding::AssociatedData => "associated_data",
            VaultBinding::DerivedContext => "context",
        };
        (field, STANDARD.encode(ctx.aad()))
    }

    async fn encrypt_once(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let (field, bound) = self.binding_field(ctx);
        let plaintext = Zeroizing::new(STANDARD.encode(key.expose()));
        // Base64 needs no JSON escaping; built by hand so the plaintext copy is zeroized.
        let body = Zeroizing::new(format!(
            r#"{{"plaintext":"{}","{field}":"{bound}"}}"#,
            plaintext.as_str()
        ));
        let key_name = self.key_for(ctx.tenant.as_str());
        let path = format!("{}/encrypt/{key_name}", self.cfg.mount);
        let resp = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        let ct = resp["data"]["ciphertext"]
            .as_str()
            .filter(|c| c.len() <= MAX_CIPHERTEXT_LEN)
            .ok_or_else(|| {
                KmsError::Unavailable(format!("{NAME}: encrypt answer without a ciphertext"))
            })?;
        let version = ciphertext_version(ct).ok_or_else(|| {
            KmsError::Unavailable(format!(
                "{NAME}: encrypt answer with an unexpected ciphertext format"
            ))
        })?;
        Ok(WrappedKey {
            kek_id: format!("{}/{key_name}:v{version}", self.cfg.mount),
            ciphertext: ct.as_bytes().to_vec(),
        })
    }

    async fn decrypt_once(
        &self,
        wrapped: &WrappedKey,
        ctx: &WrapContext,
    ) -> Result<DataKey, KmsError> {
        let (mount, key, version) = parse_kek(&wrapped.kek_id)
            .ok_or_else(|| KmsError::KekNotFound(wrapped.kek_id.clone()))?;
        let ct = std::str::from_utf8(&wrapped.ciphertext).map_err(|_| KmsError::WrongContext)?;
        if ct.len() > MAX_CIPHERTEXT_LEN || ciphertext_version(ct) != Some(version) {
            return Err(KmsError::WrongContext);
        }
        let (field, bound) = self.binding_field(ctx);
        let body = Zeroizing::new(json!({ "ciphertext": ct, field: bound }).to_string());
        let resp = self
            .call(
                reqwest::Method::POST,
                &format!("{mount}/decrypt/{key}"),
                Some(body),
            )
            .await?;
        let pt = resp["data"]["plaintext"]
            .as_str()
            .ok_or(KmsError::WrongContext)?;
        let bytes = Zeroizing::new(STANDARD.decode(pt).map_err(|_| KmsError::WrongContext)?);
        DataKey::from_slice(&bytes).map_err(|_| KmsError::WrongContext)
    }

    /// The Transit key's latest version (one `GET <mount>/keys/<key>`).
    pub async fn latest_version(&self) -> Result<u32, KmsError> {
        self.cfg
            .retry
            .run(|| async {
                let path = format!("{}/keys/{}", self.cfg.mount, self.cfg.key_name);
                let resp = self.call(reqwest::Method::GET, &path, None).await?;
                resp["data"]["latest_version"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| {
                        KmsError::Unavailable(format!("{NAME}: key read without latest_version"))
                    })
            })
            .await
    }

    /// Rotates the configured Transit key (`POST <mount>/keys/<key>/rotate`) and returns its
    /// new latest version: new wraps use it, older versions keep opening until an operator
    /// raises `min_decryption_version`, and the KEK-rotation job re-wraps data keys under
    /// it. Needs `update` on `<mount>/keys/<key>/rotate`. Not retried (each call adds a
    /// version).
    pub async fn rotate_key(&self) -> Result<u32, KmsError> {
        let path = format!("{}/keys/{}/rotate", self.cfg.mount, self.cfg.key_name);
        self.call(
            reqwest::Method::POST,
            &path,
            Some(Zeroizing::new("{}".to_owned())),
        )
        .await?;
        self.latest_version().await
    }

    /// The per-call timeout in force.
    pub fn call_timeout(&self) -> Duration {
        self.cfg.retry.call_timeout
    }
}

#[async_trait::async_trait]
impl KeyProvider for VaultTransitProvider {
    fn name(&self) -> &str {
        NAME
    }

    /// `<mount>/<key>:v<latest version>`; with per-tenant keys `<mount>/<prefix>*` (no
    /// call: each tenant has its own key).
    async fn current_kek(&self) -> Result<String, KmsError> {
        if let Some(p) = &self.tenant_prefix {
            return Ok(format!("{}/{p}*", self.cfg.mount));
        }
        let v = self.latest_version().await?;
        Ok(format!("{}/{}:v{v}", self.cfg.mount, self.cfg.key_name))
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        if self.tenant_prefix.is_some() {
            return self.cfg.retry.run(|| self.wrap_tenant(key, ctx)).await;
        }
        self.cfg.retry.run(|| self.encrypt_once(key, ctx)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.cfg.retry.run(|| self.decrypt_once(wrapped, ctx)).await
    }

    /// With per-tenant keys: deletes the tenant's Transit key; without: unsupported.
    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        self.cfg.retry.run(|| self.destroy_once(tenant)).await
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        match (&self.tenant_prefix, parse_kek(&wrapped.kek_id)) {
            (Some(p), Some((mount, key, _))) => {
                mount == self.cfg.mount && key.starts_with(p.as_str()) && key.len() > p.len()
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_ids_parse() {
        assert_eq!(parse_kek("transit/tg:v3"), Some(("transit", "tg", 3)));
        assert_eq!(
            parse_kek("team/transit/tg-kek:v1"),
            Some(("team/transit", "tg-kek", 1))
        );
        for bad in [
            "transit/tg",
            "tg:v1",
            "transit/tg:v0",
            "../x/tg:v1",
            "transit/t g:v1",
            "transit/tg:vx",
        ] {
            assert_eq!(parse_kek(bad), None, "{bad}");
        }
        assert_eq!(ciphertext_version("vault:v12:abc"), Some(12));
        assert_eq!(ciphertext_version("vault:x"), None);
    }

    #[test]
    fn config_is_checked_and_token_never_printed() {
        let token = SecretString::from("s.supersecret".to_owned());
        let ok = VaultTransitProvider::new(VaultTransitConfig::new(
            "http://127.0.0.1:8200",
            token.clone(),
            "tg",
        ))
        .unwrap();
        assert!(!format!("{ok:?}").contains("supersecret"));
        for (addr, key) in [
            ("127.0.0.1:8200", "tg"),
            ("http://x/", "tg"),
            ("http://x", "a/b"),
            ("http://x", ""),
        ] {
            assert!(
                VaultTransitProvider::new(VaultTransitConfig::new(addr, token.clone(), key))
                    .is_err()
            );
        }
    }
}
