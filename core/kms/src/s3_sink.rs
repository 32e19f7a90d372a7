//! Audit checkpoints in an S3-compatible bucket with Object Lock: a
//! [`CheckpointSink`] that writes each signed checkpoint as its own object, locked in
//! COMPLIANCE mode until a retain-until date, so neither the database writer nor the
//! holder of the bucket's write credentials can rewrite or delete it before then.
//!
//! Layout: one object per checkpoint, `<prefix><tenant>/<tree size, 20 digits>.note`
//! (the signed note, byte for byte; metadata `tg-root` = hex root hash). Keys sort by tree
//! size, so a tenant's history is a listing and only ever grows.
//!
//! Rules, as the file sink's: a publish below the largest size held is refused
//! (`Backwards`), another root at a held size is refused (`Fork`), the same checkpoint
//! again is a no-op. The latest checkpoint is found by listing object *versions* (a delete
//! marker does not hide a locked checkpoint, so deleting the newest objects cannot roll
//! the sink back); a key with more than one version was overwritten by someone else
//! (the sink writes with `If-None-Match: *`, never twice), and the sink then fails closed.
//!
//! Permissions: `s3:PutObject`, `s3:PutObjectRetention`, `s3:GetObject`,
//! `s3:GetObjectVersion`, `s3:ListBucketVersions`, `s3:GetBucketObjectLockConfiguration`;
//! never `s3:BypassGovernanceRetention` (COMPLIANCE ignores it anyway).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ObjectLockEnabled, ObjectLockMode};
use aws_sdk_s3::Client;
use secrecy::{ExposeSecret, SecretString};
use tenantguard::audit::merkle::Hash;
use tenantguard::audit::{CheckpointSink, PublishedCheckpoint, SinkError};
use tenantguard::TenantId;

const ROOT_META: &str = "tg-root";
/// Longest note read back (the core's `MAX_NOTE_LEN`).
const MAX_NOTE: usize = tenantguard::audit::checkpoint::MAX_NOTE_LEN;

/// Configuration of an [`S3CheckpointSink`] built without `aws-config`.
#[derive(Debug, Clone)]
pub struct S3SinkConfig {
    /// The bucket; it must have Object Lock enabled (set when the bucket is created).
    pub bucket: String,
    /// Prefix of every object key (e.g. `tenantguard/checkpoints/`), may be empty.
    pub prefix: String,
    /// The region, e.g. `eu-west-1`.
    pub region: String,
    /// An endpoint override (an S3-compatible server, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub force_path_style: bool,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key. Never logged.
    pub secret_access_key: SecretString,
    /// How long each checkpoint stays locked (COMPLIANCE mode) after it is written.
    pub retention: Duration,
}

/// Signed checkpoints in an S3 bucket with Object Lock (see the module docs).
#[derive(Debug)]
pub struct S3CheckpointSink {
    client: Client,
    bucket: String,
    prefix: String,
    retention: Duration,
    /// Per tenant: the newest key seen and its checkpoint (listing resumes after it).
    latest: Mutex<HashMap<String, (String, PublishedCheckpoint)>>,
}

fn sdk<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> SinkError {
    let detail = match e.code() {
        Some(code) => format!(
            "{code}: {}",
            e.message()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        ),
        None => aws_sdk_s3::error::DisplayErrorContext(&e)
            .to_string()
            .chars()
            .take(300)
            .collect(),
    };
    SinkError::Io(format!("s3 {what}: {detail}"))
}

fn object_size(key: &str, tenant_prefix: &str) -> Option<u64> {
    let digits = key.strip_prefix(tenant_prefix)?.strip_suffix(".note")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl S3CheckpointSink {
    /// A sink with its own SDK client from `cfg` (static credentials, SDK retries off).
    /// Makes no call: use [`S3CheckpointSink::check_bucket`] at start-up.
    pub fn new(cfg: S3SinkConfig) -> Result<Self, SinkError> {
        let creds = Credentials::new(
            cfg.access_key_id.clone(),
            cfg.secret_access_key.expose_secret().to_owned(),
            None,
            None,
            "tenantguard-static",
        );
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .credentials_provider(creds)
            .force_path_style(cfg.force_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(url) = &cfg.endpoint_url {
            b = b.endpoint_url(url);
        }
        Self::with_client(
            Client::from_conf(b.build()),
            cfg.bucket,
            cfg.prefix,
            cfg.retention,
        )
    }

    /// A sink on an SDK client you configured yourself (e.g. with `aws-config`).
    pub fn with_client(
        client: Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        retention: Duration,
    ) -> Result<Self, SinkError> {
        let bucket = bucket.into();
        let prefix = prefix.into();
        if bucket.is_empty() || prefix.len() > 512 {
            return Err(SinkError::Io(
                "s3 sink: the bucket is empty or the prefix too long".into(),
            ));
        }
        if retention < Duration::from_secs(1) {
            return Err(SinkError::Io(
                "s3 sink: the retention must be at least one second".into(),
            ));
        }
        Ok(S3CheckpointSink {
            client,
            bucket,
            prefix,
            retention,
            latest: Mutex::new(HashMap::new()),
        })
    }

    /// The SDK client (for bucket administration in tests and tools).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The object key of `tenant`'s checkpoint of size `size`.
    pub fn object_key(&self, tenant: &TenantId, size: u64) -> String {
        format!("{}{}/{size:020}.note", self.prefix, tenant.as_str())
    }

    /// Checks that the bucket has Object Lock enabled: without it the objects would not
    /// be locked and the sink would be no safer than the database. Call at start-up.
    pub async fn check_bucket(&self) -> Result<(), SinkError> {
        let out = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| sdk("object lock configuration", e))?;
        let enabled = out
            .object_lock_configuration()
            .and_then(|c| c.object_lock_enabled())
            .is_some_and(|e| *e == ObjectLockEnabled::Enabled);
        if enabled {
            Ok(())
        } else {
            Err(SinkError::Io(format!(
                "s3 sink: bucket {} does not have Object Lock enabled",
                self.bucket
            )))
        }
    }

    /// Lists the versions of `tenant`'s objects after `after` (a key), returning the
    /// newest checkpoint key; fails closed on a key with more than one version.
    async fn newest_key_after(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
    ) -> Result<Option<(String, u64, Option<String>)>, SinkError> {
        let tenant_prefix = format!("{}{}/", self.prefix, tenant.as_str());
        // Per key: how many versions, and the (single) version's id.
        let mut versions: HashMap<String, (usize, Option<String>)> = HashMap::new();
        let (mut key_marker, mut version_marker) = (after.map(str::to_owned), None::<String>);
        loop {
            let mut req = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&tenant_prefix);
            if let Some(k) = &key_marker {
                req = req.key_marker(k);
            }
            if let Some(v) = &version_marker {
                req = req.version_id_marker(v);
            }
            let out = req.send().await.map_err(|e| sdk("list versions", e))?;
            for v in out.versions() {
                if let Some(k) = v.key() {
                    let e = versions.entry(k.to_owned()).or_default();
                    e.0 += 1;
                    e.1 = v.version_id().map(str::to_owned);
                }
            }
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            version_marker = out.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        if let Some((k, (n, _))) = versions.iter().find(|(_, (n, _))| *n > 1) {
            return Err(SinkError::Io(format!(
                "s3 sink: checkpoint object {k} has {n} versions: it was overwritten outside the sink"
            )));
        }
        Ok(versions
            .into_iter()
            .filter_map(|(k, (_, v))| object_size(&k, &tenant_prefix).map(|s| (k, s, v)))
            .max_by_key(|(_, s, _)| *s))
    }

    /// Reads a checkpoint object (by version id when known: a delete marker then does not
    /// hide it).
    async fn read(
        &self,
        key: &str,
        size: u64,
        version: Option<&str>,
    ) -> Result<PublishedCheckpoint, SinkError> {
        let mut req = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(v) = version {
            req = req.version_id(v);
        }
        let out = req.send().await.map_err(|e| sdk("get", e))?;
        let root: Option<Hash> = out
            .metadata()
            .and_then(|m| m.get(ROOT_META))
            .and_then(|h| hex_decode(h))
            .and_then(|b| b.try_into().ok());
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| SinkError::Io(format!("s3 get body: {e}")))?
            .into_bytes();
        let (Some(root), true) = (root, body.len() <= MAX_NOTE) else {
            return Err(SinkError::Io(format!(
                "s3 sink: checkpoint object {key} is unreadable"
            )));
        };
        let note = String::from_utf8(body.to_vec())
            .map_err(|_| SinkError::Io(format!("s3 sink: checkpoint object {key} is not UTF-8")))?;
        Ok(PublishedCheckpoint { size, root, note })
    }

    async fn refresh(&self, tenant: &TenantId) -> Result<Option<PublishedCheckpoint>, SinkError> {
        let cached = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant.as_str())
            .cloned();
        let after = cached.as_ref().map(|(k, _)| k.as_str());
        match self.newest_key_after(tenant, after).await? {
            Some((key, size, version)) => {
                let p = self.read(&key, size, version.as_deref()).await?;
                self.latest
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(tenant.as_str().to_owned(), (key, p.clone()));
                Ok(Some(p))
            }
            None => Ok(cached.map(|(_, p)| p)),
        }
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[async_trait::async_trait]
impl CheckpointSink for S3CheckpointSink {
    async fn publish(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
    ) -> Result<(), SinkError> {
        if let Some(p) = self.refresh(tenant).await? {
            if !p.admits(size, root)? {
                return Ok(());
            }
        }
        let key = self.object_key(tenant, size);
        let until = DateTime::from(SystemTime::now() + self.retention);
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(note.as_bytes().to_vec()))
            .content_type("text/plain; charset=utf-8")
            .metadata(ROOT_META, hex_encode(root))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(until)
            .if_none_match("*")
            .send()
            .await;
        match put {
            Ok(_) => {}
            // Another writer stored this size first: the same root is fine, another a fork.
            Err(e) if e.code() == Some("PreconditionFailed") => {
                return self
                    .read(&key, size, None)
                    .await?
                    .admits(size, root)
                    .map(drop);
            }
            Err(e) => return Err(sdk("put", e)),
        }
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                tenant.as_str().to_owned(),
                (
                    key,
                    PublishedCheckpoint {
                        size,
                        root: *root,
                        note: note.to_owned(),
                    },
                ),
            );
        Ok(())
    }

    async fn latest(&self, tenant: &TenantId) -> Result<Option<PublishedCheckpoint>, SinkError> {
        self.refresh(tenant).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_size_and_parse_back() {
        let p = "pre/acme/";
        assert_eq!(
            object_size("pre/acme/00000000000000001042.note", p),
            Some(1042)
        );
        assert_eq!(object_size("pre/acme/1042.note", p), None);
        assert_eq!(object_size("pre/acme2/00000000000000001042.note", p), None);
        let mut keys: Vec<String> = [9u64, 10, 100, 2]
            .iter()
            .map(|s| format!("{p}{s:020}.note"))
            .collect();
        keys.sort();
        let sizes: Vec<u64> = keys.iter().filter_map(|k| object_size(k, p)).collect();
        assert_eq!(sizes, [2, 9, 10, 100]);
        assert_eq!(
            hex_decode(&hex_encode(&[0, 255, 16])),
            Some(vec![0, 255, 16])
        );
    }
}
