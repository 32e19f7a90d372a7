//! The key providers of `tenantguard-kms`, built from the configuration's `[aws]`,
//! `[vault]`, `[pkcs11]` and `[gcp]` tables (each behind the cargo feature of that name),
//! and what `kek rotate` can do with each.

use std::sync::Arc;

use tenantguard::kms::KmsError;
use tenantguard::KeyProvider;

use crate::config::Config;
use crate::exit::Failure;

/// How `kek rotate` makes a new KEK current for the configured provider.
pub enum KekAdmin {
    /// A fresh KEK in the local key file.
    Local(Arc<tenantguard::LocalKeyProvider>),
    /// A fresh AWS KMS key behind the configured alias.
    #[cfg(feature = "aws")]
    Aws(Arc<tenantguard_kms::aws::AwsKmsProvider>),
    /// A new version of the Transit key.
    #[cfg(feature = "vault")]
    Vault(Arc<tenantguard_kms::vault::VaultTransitProvider>),
    /// A new token key under a new label (`kek rotate --new-label`), then `key_label`.
    #[cfg(feature = "pkcs11")]
    Pkcs11(Arc<tenantguard_kms::pkcs11::Pkcs11Provider>),
    /// Rotation is the key service's own business: the reason, for the operator.
    #[cfg_attr(not(any(feature = "vault", feature = "gcp")), allow(dead_code))]
    Elsewhere(&'static str),
}

/// `KmsError` as the operator's failure (the library's kinds and exit codes).
#[cfg_attr(
    not(any(
        feature = "aws",
        feature = "vault",
        feature = "pkcs11",
        feature = "gcp"
    )),
    allow(dead_code)
)]
pub fn kms_failure(e: KmsError) -> Failure {
    Failure::from(tenantguard::Error::from(e))
}

#[allow(dead_code)]
fn need<T: Clone>(v: &Option<T>, provider: &str, key: &str) -> Result<T, Failure> {
    v.clone().ok_or_else(|| {
        Failure::usage(format!(
            "key_provider = \"{provider}\" needs {provider}.{key} (or TENANTGUARD_{}_{})",
            provider.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        ))
    })
}

#[allow(dead_code)]
fn not_built(name: &str) -> Failure {
    Failure::usage(format!(
        "key_provider {name:?}: this build has no {name} support: \
         cargo install --path cli --features {name}"
    ))
}

/// The provider the configuration names (not `local`, which the caller opens).
pub async fn open(cfg: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    match cfg.key_provider.as_str() {
        "aws" => aws(cfg),
        "vault" => vault(cfg),
        "pkcs11" => pkcs11(cfg).await,
        "gcp" => gcp(cfg),
        other => Err(Failure::usage(format!("unknown key_provider {other:?}"))),
    }
}

#[cfg(feature = "aws")]
fn aws(cfg: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    use secrecy::SecretString;
    use tenantguard_kms::aws::{AwsKmsConfig, AwsKmsProvider, AwsStaticCredentials};
    let s = cfg.aws.clone().unwrap_or_default();
    let p = AwsKmsProvider::new(AwsKmsConfig {
        key_id: need(&s.key_id, "aws", "key_id")?,
        region: need(&s.region, "aws", "region")?,
        endpoint_url: s.endpoint_url.clone(),
        credentials: AwsStaticCredentials {
            access_key_id: need(&s.access_key_id, "aws", "access_key_id")?,
            secret_access_key: SecretString::from(
                need(&s.secret_access_key, "aws", "secret_access_key")?.0,
            ),
            session_token: s.session_token.map(|t| SecretString::from(t.0)),
        },
        retry: Default::default(),
    })
    .map_err(kms_failure)?;
    let p = match &s.tenant_alias_prefix {
        Some(prefix) => p
            .with_tenant_keys(prefix, s.deletion_window_days.unwrap_or(30))
            .map_err(kms_failure)?,
        None => p,
    };
    let p = Arc::new(p);
    Ok((p.clone(), KekAdmin::Aws(p)))
}

#[cfg(not(feature = "aws"))]
fn aws(_: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    Err(not_built("aws"))
}

#[cfg(feature = "vault")]
fn vault(cfg: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    use secrecy::SecretString;
    use tenantguard_kms::vault::{VaultBinding, VaultTransitConfig, VaultTransitProvider};
    let s = cfg.vault.clone().unwrap_or_default();
    let mut c = VaultTransitConfig::new(
        need(&s.address, "vault", "address")?,
        SecretString::from(need(&s.token, "vault", "token")?.0),
        need(&s.key_name, "vault", "key_name")?,
    );
    c.namespace = s.namespace.clone();
    if let Some(m) = &s.mount {
        c.mount = m.clone();
    }
    c.binding = match s.binding.as_deref() {
        None | Some("associated_data") => VaultBinding::AssociatedData,
        Some("derived_context") => VaultBinding::DerivedContext,
        Some(other) => {
            return Err(Failure::usage(format!(
                "vault.binding {other:?} is not associated_data or derived_context"
            )))
        }
    };
    let p = VaultTransitProvider::new(c).map_err(kms_failure)?;
    let p = match &s.tenant_key_prefix {
        Some(prefix) => p.with_tenant_keys(prefix).map_err(kms_failure)?,
        None => p,
    };
    let p = Arc::new(p);
    let admin = if s.tenant_key_prefix.is_some() {
        KekAdmin::Elsewhere(
            "with vault.tenant_key_prefix every tenant has its own Transit key: rotate them in \
             Vault (transit/keys/<prefix><tenant>/rotate)",
        )
    } else {
        KekAdmin::Vault(p.clone())
    };
    Ok((p, admin))
}

#[cfg(not(feature = "vault"))]
fn vault(_: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    Err(not_built("vault"))
}

#[cfg(feature = "pkcs11")]
async fn pkcs11(cfg: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    use secrecy::SecretString;
    use tenantguard_kms::pkcs11::{Pkcs11Config, Pkcs11Provider};
    let s = cfg.pkcs11.clone().unwrap_or_default();
    let c = Pkcs11Config {
        module: need(&s.module, "pkcs11", "module")?,
        token_label: need(&s.token_label, "pkcs11", "token_label")?,
        pin: SecretString::from(need(&s.pin, "pkcs11", "pin")?.0),
        key_label: need(&s.key_label, "pkcs11", "key_label")?,
        retry: Default::default(),
    };
    // Loading the module and logging in block: off the runtime's workers.
    let p = tokio::task::spawn_blocking(move || Pkcs11Provider::new(c))
        .await
        .map_err(|e| Failure::new(crate::exit::FAILURE, "internal", e.to_string()))?
        .map_err(kms_failure)?;
    let p = match &s.tenant_key_prefix {
        Some(prefix) => p.with_tenant_keys(prefix).map_err(kms_failure)?,
        None => p,
    };
    let p = Arc::new(p);
    Ok((p.clone(), KekAdmin::Pkcs11(p)))
}

#[cfg(not(feature = "pkcs11"))]
async fn pkcs11(_: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    Err(not_built("pkcs11"))
}

#[cfg(feature = "gcp")]
fn gcp(cfg: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    use secrecy::SecretString;
    use tenantguard_kms::gcp::{GcpKmsConfig, GcpKmsProvider, StaticAccessToken, DEFAULT_ENDPOINT};
    let s = cfg.gcp.clone().unwrap_or_default();
    let token = SecretString::from(need(&s.access_token, "gcp", "access_token")?.0);
    let p = GcpKmsProvider::new(GcpKmsConfig {
        endpoint: s
            .endpoint
            .clone()
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
        key_name: need(&s.key_name, "gcp", "key_name")?,
        tokens: Arc::new(StaticAccessToken(token)),
        retry: Default::default(),
    })
    .map_err(kms_failure)?;
    let p = match &s.tenant_key_prefix {
        Some(prefix) => p
            .with_tenant_keys(prefix, s.destroy_days.unwrap_or(30))
            .map_err(kms_failure)?,
        None => p,
    };
    Ok((
        Arc::new(p),
        KekAdmin::Elsewhere(
            "Cloud KMS rotates a CryptoKey's primary version itself (set a rotation period on \
             the key): wrapped keys name the CryptoKey, so nothing needs re-wrapping. To move \
             to another CryptoKey, set gcp.key_name to it and run `tenantguard kek rewrap`",
        ),
    ))
}

#[cfg(not(feature = "gcp"))]
fn gcp(_: &Config) -> Result<(Arc<dyn KeyProvider>, KekAdmin), Failure> {
    Err(not_built("gcp"))
}
