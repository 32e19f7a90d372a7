//! AWS KMS: data keys are encrypted with `Encrypt` under a symmetric KMS key (by ARN,
//! key id or alias) with the `EncryptionContext` `{tenantguard_tenant, tenantguard_key_id}`,
//! and decrypted with `Decrypt` naming the same key and context, so CloudTrail shows which
//! tenant each call served and a key policy can condition on `kms:EncryptionContext:*`.
//!
//! The KEK id stored with a wrapped key is the key's ARN as KMS reports it. AWS automatic
//! key rotation keeps the ARN (old ciphertexts keep decrypting; nothing to re-wrap); moving
//! to a new key (point the configured alias at it) changes the ARN, and the KEK-rotation job
//! then re-wraps every data key under it.
//!
//! The SDK's own retries are disabled: the provider's [`RetryPolicy`] times out and retries.
//!
//! **Per-tenant keys** ([`AwsKmsProvider::with_tenant_keys`]): each tenant gets its own KMS
//! key (created on its first wrap, alias `alias/<prefix>/<tenant>` with `.` written as `/`,
//! tagged `tenantguard_tenant`), its data keys are encrypted under it, and shredding the
//! tenant schedules that key's deletion ([`KeyProvider::destroy_tenant`]): the key is
//! unusable at once (pending deletion) and deleted by AWS after the window (7 to 30 days),
//! so database backups cannot bring the tenant back; its alias is deleted at once. The
//! stored KEK id is `tenant:<alias>` (Decrypt names the alias). Keys wrapped under the shared key before keep opening, and the
//! KEK-rotation job moves them to the tenant's key.

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use secrecy::{ExposeSecret, SecretString};
use tenantguard::crypto::DataKey;
use tenantguard::kms::{
    Destruction, KeyProvider, KmsError, RetryPolicy, TenantDestruction, WrapContext, WrappedKey,
};
use tenantguard::TenantId;
use zeroize::Zeroizing;

const NAME: &str = "aws-kms";
/// Longest ciphertext blob accepted for unwrapping (AWS KMS ciphertexts are at most 6 KiB).
pub const MAX_CIPHERTEXT_LEN: usize = 6144;

/// Static credentials (an access key of a role limited to the key; see docs/kms/aws.md).
#[derive(Debug, Clone)]
pub struct AwsStaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key. Never logged.
    pub secret_access_key: SecretString,
    /// A session token for temporary credentials.
    pub session_token: Option<SecretString>,
}

/// Configuration of an [`AwsKmsProvider`] built without `aws-config`.
#[derive(Debug, Clone)]
pub struct AwsKmsConfig {
    /// The KMS key for new wraps: key id, key ARN, alias name (`alias/...`) or alias ARN.
    pub key_id: String,
    /// The AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// An endpoint override (VPC endpoint, FIPS endpoint, or a local KMS-compatible server).
    pub endpoint_url: Option<String>,
    /// Credentials.
    pub credentials: AwsStaticCredentials,
    /// Timeouts and retries.
    pub retry: RetryPolicy,
}

/// Key-encryption keys in AWS KMS.
#[derive(Debug)]
pub struct AwsKmsProvider {
    client: Client,
    key_id: String,
    retry: RetryPolicy,
    tenant_keys: Option<TenantKeys>,
}

#[derive(Debug, Clone)]
struct TenantKeys {
    alias_prefix: String,
    deletion_window_days: i32,
}

/// Prefix of the stored KEK id of a data key wrapped under a per-tenant KMS key.
pub const TENANT_KEK_PREFIX: &str = "tenant:";

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
    timeout_ms: u64,
) -> KmsError {
    match &e {
        SdkError::TimeoutError(_) => KmsError::Timeout(timeout_ms),
        SdkError::DispatchFailure(d) if d.is_timeout() => KmsError::Timeout(timeout_ms),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            KmsError::Unavailable(format!(
                "{NAME}: request failed: {}",
                aws_sdk_kms::error::DisplayErrorContext(&e)
            ))
        }
        SdkError::ConstructionFailure(_) => KmsError::Config(format!(
            "{NAME}: cannot build the request: {}",
            aws_sdk_kms::error::DisplayErrorContext(&e)
        )),
        _ => {
            let code = e.code().unwrap_or("Unknown");
            let message = e
                .message()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>();
            match code {
                "NotFoundException" => KmsError::KekNotFound(format!("{NAME}: {message}")),
                "DisabledException" | "KMSInvalidStateException" => KmsError::AccessDenied(
                    format!("{NAME}: the key is disabled or pending deletion ({code}): {message}"),
                ),
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "InvalidGrantTokenException" => {
                    KmsError::AccessDenied(format!("{NAME}: {code}: {message}"))
                }
                "InvalidCiphertextException" | "IncorrectKeyException" => KmsError::WrongContext,
                "KMSInternalException"
                | "DependencyTimeoutException"
                | "KeyUnavailableException"
                | "ThrottlingException"
                | "ServiceUnavailableException"
                | "InternalFailure" => KmsError::Unavailable(format!("{NAME}: {code}: {message}")),
                _ => KmsError::Config(format!("{NAME}: {code}: {message}")),
            }
        }
    }
}

impl AwsKmsProvider {
    /// A provider with its own SDK client from `cfg` (static credentials, no retries in the
    /// SDK). Makes no call.
    pub fn new(cfg: AwsKmsConfig) -> Result<Self, KmsError> {
        let creds = Credentials::new(
            cfg.credentials.access_key_id.clone(),
            cfg.credentials.secret_access_key.expose_secret().to_owned(),
            cfg.credentials
                .session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "tenantguard-static",
        );
        let mut b = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .credentials_provider(creds)
            .retry_config(RetryConfig::disabled());
        if let Some(url) = &cfg.endpoint_url {
            b = b.endpoint_url(url);
        }
        Self::with_client(Client::from_conf(b.build()), cfg.key_id, cfg.retry)
    }

    /// A provider on an SDK client you configured yourself (e.g. with `aws-config`'s
    /// credential chain). Disable the client's own retries to keep them bounded here.
    pub fn with_client(
        client: Client,
        key_id: impl Into<String>,
        retry: RetryPolicy,
    ) -> Result<Self, KmsError> {
        retry.validate()?;
        let key_id = key_id.into();
        if key_id.is_empty() || key_id.len() > 2048 {
            return Err(KmsError::Config(format!(
                "{NAME}: key_id must be 1 to 2048 characters"
            )));
        }
        Ok(AwsKmsProvider {
            client,
            key_id,
            retry,
            tenant_keys: None,
        })
    }

    /// Gives each tenant its own KMS key (see the module docs): aliases
    /// `alias/<alias_prefix>/<tenant>`, deleted `deletion_window_days` (7 to 30) after the
    /// tenant is shredded. Needs `kms:CreateKey`, `kms:CreateAlias`, `kms:TagResource`,
    /// `kms:DescribeKey` and `kms:ScheduleKeyDeletion` besides encrypt/decrypt (see
    /// docs/kms/aws.md; also `kms:DeleteAlias`). The configured shared key keeps opening
    /// older wraps.
    pub fn with_tenant_keys(
        mut self,
        alias_prefix: &str,
        deletion_window_days: u32,
    ) -> Result<Self, KmsError> {
        if alias_prefix.is_empty()
            || alias_prefix.len() > 64
            || alias_prefix.starts_with("aws")
            || !alias_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/'))
        {
            return Err(KmsError::Config(format!(
                "{NAME}: the tenant alias prefix must be 1 to 64 characters of a-z, A-Z, 0-9, \
                 '_', '-', '/' and not start with \"aws\""
            )));
        }
        if !(7..=30).contains(&deletion_window_days) {
            return Err(KmsError::Config(format!(
                "{NAME}: the deletion window must be 7 to 30 days"
            )));
        }
        self.tenant_keys = Some(TenantKeys {
            alias_prefix: alias_prefix.trim_end_matches('/').to_owned(),
            deletion_window_days: deletion_window_days as i32,
        });
        Ok(self)
    }

    /// The alias of `tenant`'s own key (tenant ids hold `.`, which aliases do not: it is
    /// written as `/`, which tenant ids never hold, so the mapping is one-to-one; aliases
    /// allow only letters, digits, `/`, `_` and `-`).
    pub fn tenant_alias(&self, tenant: &str) -> Option<String> {
        self.tenant_keys
            .as_ref()
            .map(|t| format!("alias/{}/{}", t.alias_prefix, tenant.replace('.', "/")))
    }

    /// Moves the configured alias to a fresh symmetric KMS key (`CreateKey`, then
    /// `UpdateAlias`) and returns the new key's ARN: the operator's KEK rotation when a
    /// move to a new key is wanted rather than AWS's automatic rotation (which keeps the
    /// ARN). Data keys wrapped under the old key keep opening (it is not disabled); the
    /// KEK-rotation job then re-wraps them. Needs `kms:CreateKey` and `kms:UpdateAlias` on
    /// both keys. `Config` if the configured key is not an alias. Not retried (not
    /// idempotent).
    pub async fn rotate_alias(&self) -> Result<String, KmsError> {
        let alias = match self.key_id.find("alias/") {
            Some(i) if i == 0 || self.key_id.starts_with("arn:") => &self.key_id[i..],
            _ => {
                return Err(KmsError::Config(format!(
                    "{NAME}: the configured key_id is not an alias (alias/... or an alias ARN): \
                     point an alias at a new key yourself, or configure an alias"
                )))
            }
        };
        let created = self
            .client
            .create_key()
            .description("tenantguard key-encryption key")
            .send()
            .await
            .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        let arn = created
            .key_metadata()
            .and_then(|m| m.arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                KmsError::Unavailable(format!("{NAME}: CreateKey answer without an ARN"))
            })?;
        self.client
            .update_alias()
            .alias_name(alias)
            .target_key_id(&arn)
            .send()
            .await
            .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        Ok(arn)
    }

    /// The SDK client (e.g. for key administration in tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn timeout_ms(&self) -> u64 {
        self.retry.call_timeout.as_millis() as u64
    }

    async fn encrypt_once(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let target = self
            .tenant_alias(ctx.tenant.as_str())
            .unwrap_or_else(|| self.key_id.clone());
        let [(k1, v1), (k2, v2)] = ctx.pairs();
        let out = self
            .client
            .encrypt()
            .key_id(&target)
            .plaintext(Blob::new(key.expose().to_vec()))
            .encryption_context(k1, v1)
            .encryption_context(k2, v2)
            .send()
            .await
            .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        let ct = out.ciphertext_blob().ok_or_else(|| {
            KmsError::Unavailable(format!("{NAME}: Encrypt answer without a ciphertext"))
        })?;
        let arn = out.key_id().ok_or_else(|| {
            KmsError::Unavailable(format!("{NAME}: Encrypt answer without a key id"))
        })?;
        Ok(WrappedKey {
            kek_id: match self.tenant_keys {
                Some(_) => format!("{TENANT_KEK_PREFIX}{target}"),
                None => arn.to_owned(),
            },
            ciphertext: ct.as_ref().to_vec(),
        })
    }

    /// Creates the tenant's key and alias (after `Encrypt` found no alias). If another
    /// process created the alias first, the key made here is scheduled for deletion.
    async fn create_tenant_key(&self, ctx: &WrapContext, alias: &str) -> Result<(), KmsError> {
        let tenant = ctx.tenant.as_str();
        let key = self
            .client
            .create_key()
            .description(format!("tenantguard data-key KEK of tenant {tenant}"))
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("tenantguard_tenant")
                    .tag_value(tenant)
                    .build()
                    .map_err(|e| KmsError::Config(format!("{NAME}: {e}")))?,
            )
            .send()
            .await
            .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        let key_id = key
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| {
                KmsError::Unavailable(format!("{NAME}: CreateKey answer without a key"))
            })?;
        let created = self
            .client
            .create_alias()
            .alias_name(alias)
            .target_key_id(&key_id)
            .send()
            .await;
        if let Err(e) = created {
            let lost_race = e.code() == Some("AlreadyExistsException");
            let _ = self
                .client
                .schedule_key_deletion()
                .key_id(&key_id)
                .pending_window_in_days(7)
                .send()
                .await;
            if !lost_race {
                return Err(sdk_error(e, self.timeout_ms()));
            }
        }
        Ok(())
    }

    async fn wrap_tenant(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        match self.encrypt_once(key, ctx).await {
            Err(KmsError::KekNotFound(_)) => {
                let alias = self
                    .tenant_alias(ctx.tenant.as_str())
                    .ok_or_else(|| KmsError::Config(format!("{NAME}: no tenant keys")))?;
                self.create_tenant_key(ctx, &alias).await?;
                self.encrypt_once(key, ctx).await
            }
            other => other,
        }
    }

    async fn destroy_once(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        let Some(t) = &self.tenant_keys else {
            return Err(KmsError::Unsupported(format!(
                "{NAME}: every tenant is wrapped under the shared key {}: enable per-tenant keys \
                 (AwsKmsProvider::with_tenant_keys) so that shredding can destroy a tenant's key",
                self.key_id
            )));
        };
        let alias = self.tenant_alias(tenant.as_str()).unwrap_or_default();
        let described = self.client.describe_key().key_id(&alias).send().await;
        let meta = match described {
            Ok(d) => d.key_metadata().cloned(),
            Err(e) => match sdk_error(e, self.timeout_ms()) {
                KmsError::KekNotFound(_) => {
                    return Ok(TenantDestruction {
                        destruction: Destruction::NothingHeld,
                        detail: format!("{NAME}: no key behind {alias}"),
                    })
                }
                other => return Err(other),
            },
        };
        let meta = meta.ok_or_else(|| {
            KmsError::Unavailable(format!("{NAME}: DescribeKey answer without metadata"))
        })?;
        let arn = meta.arn().unwrap_or(meta.key_id()).to_owned();
        let key_id = meta.key_id().to_owned();
        let pending = matches!(
            meta.key_state(),
            Some(aws_sdk_kms::types::KeyState::PendingDeletion)
        );
        if !pending {
            self.client
                .schedule_key_deletion()
                .key_id(&key_id)
                .pending_window_in_days(t.deletion_window_days)
                .send()
                .await
                .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        }
        // Without its alias the tenant's wraps (which name the alias) cannot be decrypted
        // even before AWS deletes the key, and a key administrator who cancels the
        // deletion must also re-create the alias.
        self.client
            .delete_alias()
            .alias_name(&alias)
            .send()
            .await
            .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        Ok(TenantDestruction {
            destruction: Destruction::Scheduled {
                days: t.deletion_window_days as u32,
            },
            detail: format!(
                "{NAME}: key {arn} is pending deletion and its alias {alias} deleted: unusable \
                 now, deleted by AWS after {} days; a KMS administrator can still cancel it \
                 within the window",
                t.deletion_window_days
            ),
        })
    }

    async fn decrypt_once(
        &self,
        wrapped: &WrappedKey,
        ctx: &WrapContext,
    ) -> Result<DataKey, KmsError> {
        if wrapped.ciphertext.is_empty() || wrapped.ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(KmsError::WrongContext);
        }
        let [(k1, v1), (k2, v2)] = ctx.pairs();
        let kek = wrapped
            .kek_id
            .strip_prefix(TENANT_KEK_PREFIX)
            .unwrap_or(&wrapped.kek_id);
        let out = self
            .client
            .decrypt()
            .key_id(kek)
            .ciphertext_blob(Blob::new(wrapped.ciphertext.clone()))
            .encryption_context(k1, v1)
            .encryption_context(k2, v2)
            .send()
            .await
            .map_err(|e| sdk_error(e, self.timeout_ms()))?;
        let pt = Zeroizing::new(
            out.plaintext()
                .map(|b| b.as_ref().to_vec())
                .ok_or(KmsError::WrongContext)?,
        );
        DataKey::from_slice(&pt).map_err(|_| KmsError::WrongContext)
    }
}

#[async_trait::async_trait]
impl KeyProvider for AwsKmsProvider {
    fn name(&self) -> &str {
        NAME
    }

    /// The ARN of the configured key (one `DescribeKey`; an alias resolves to its target);
    /// with per-tenant keys `tenant:alias/<prefix>` (no call: each tenant has its own key).
    async fn current_kek(&self) -> Result<String, KmsError> {
        if let Some(t) = &self.tenant_keys {
            return Ok(format!("{TENANT_KEK_PREFIX}alias/{}", t.alias_prefix));
        }
        self.retry
            .run(|| async {
                let out = self
                    .client
                    .describe_key()
                    .key_id(&self.key_id)
                    .send()
                    .await
                    .map_err(|e| sdk_error(e, self.timeout_ms()))?;
                out.key_metadata()
                    .and_then(|m| m.arn())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        KmsError::Unavailable(format!("{NAME}: DescribeKey answer without an ARN"))
                    })
            })
            .await
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        if self.tenant_keys.is_some() {
            return self.retry.run(|| self.wrap_tenant(key, ctx)).await;
        }
        self.retry.run(|| self.encrypt_once(key, ctx)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.retry.run(|| self.decrypt_once(wrapped, ctx)).await
    }

    /// With per-tenant keys: schedules the deletion of the tenant's key (the configured
    /// window); without: unsupported (one shared key).
    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        self.retry.run(|| self.destroy_once(tenant)).await
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        wrapped.kek_id.starts_with(TENANT_KEK_PREFIX)
    }

    /// With per-tenant keys every tenant-key wrap is current (AWS rotates key material
    /// under the same ARN); wraps under the shared key are moved to the tenant's key.
    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        match self.tenant_keys {
            Some(_) => self.tenant_bound(wrapped),
            None => wrapped.kek_id == current,
        }
    }
}
