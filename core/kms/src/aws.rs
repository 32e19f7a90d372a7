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

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use secrecy::{ExposeSecret, SecretString};
use tenantguard::crypto::DataKey;
use tenantguard::kms::{KeyProvider, KmsError, RetryPolicy, WrapContext, WrappedKey};
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
}

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
        })
    }

    /// The SDK client (e.g. for key administration in tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn timeout_ms(&self) -> u64 {
        self.retry.call_timeout.as_millis() as u64
    }

    async fn encrypt_once(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let [(k1, v1), (k2, v2)] = ctx.pairs();
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
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
            kek_id: arn.to_owned(),
            ciphertext: ct.as_ref().to_vec(),
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
        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.kek_id)
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

    /// The ARN of the configured key (one `DescribeKey`; an alias resolves to its target).
    async fn current_kek(&self) -> Result<String, KmsError> {
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
        self.retry.run(|| self.encrypt_once(key, ctx)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.retry.run(|| self.decrypt_once(wrapped, ctx)).await
    }
}
