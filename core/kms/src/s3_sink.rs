//! Audit checkpoints in an S3-compatible bucket with Object Lock: a
//! [`CheckpointSink`] that writes each signed checkpoint as its own object, locked in
//! COMPLIANCE mode until a retain-until date, so neither the database writer nor the
//! holder of the bucket's write credentials can rewrite or delete it before then.
//!
//! Layout (docs/FORMAT.md 4.9), under `<prefix><tenant>/`:
//! - `<tree size, 20 digits>.note`: a checkpoint before any restore (generation 0; the
//!   signed note, byte for byte; metadata `tg-root` = hex root hash);
//! - `g<n, 10 digits>.restore`: the restore marker that starts generation n (1 and up):
//!   the checkpoint published after the n-th database restore, with the log's restore
//!   record and its inclusion proof ([`CheckpointSink::publish_restore`]);
//! - `g<n, 10 digits>/<tree size, 20 digits>.note`: the later checkpoints of generation n.
//!
//! Keys sort in history order (generation 0 by size, then each marker before its
//! generation), so a tenant's history is a listing and only ever grows. The latest
//! checkpoint is the largest of the last generation (its marker's when it has no other).
//!
//! Rules, as the file sink's: a publish below the latest size is refused (`Backwards`),
//! another root at that size is refused (`Fork`), the same checkpoint again is a no-op;
//! it goes into the latest generation. A restore is admitted only with a restore record
//! that supersedes exactly the latest checkpoint
//! ([`PublishedCheckpoint::admits_restore`]), and writes the next generation's marker
//! (`If-None-Match: *`: one restore per generation); the superseded history stays, locked.
//! Every reader re-checks each marker against the checkpoint of the previous generation
//! it names and fails closed on one that does not verify or skips a generation. Latest
//! is found by listing object *versions* (a delete marker does not hide a locked
//! checkpoint, so deleting the newest objects cannot roll the sink back); a key with more
//! than one version was overwritten by someone else (the sink never writes a key twice),
//! and the sink then fails closed.
//!
//! Permissions: `s3:PutObject`, `s3:PutObjectRetention`, `s3:GetObject`,
//! `s3:GetObjectVersion`, `s3:ListBucketVersions`, `s3:GetBucketObjectLockConfiguration`;
//! never `s3:BypassGovernanceRetention` (COMPLIANCE ignores it anyway).

use std::collections::{BTreeMap, HashMap};
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
use tenantguard::audit::sink::MAX_RESTORE_LINE;
use tenantguard::audit::{CheckpointSink, PublishedCheckpoint, RestoreAdmission, SinkError};
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
    /// Per tenant: the newest key seen, its generation and the latest checkpoint.
    latest: Mutex<HashMap<String, Held>>,
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

    /// The object key of `tenant`'s checkpoint of size `size` before any restore
    /// (generation 0).
    pub fn object_key(&self, tenant: &TenantId, size: u64) -> String {
        self.generation_key(tenant, 0, size)
    }

    /// The object key of `tenant`'s checkpoint of size `size` in generation `generation`
    /// (0 before any restore, n after the n-th).
    pub fn generation_key(&self, tenant: &TenantId, generation: u64, size: u64) -> String {
        match generation {
            0 => format!("{}{size:020}.note", self.tenant_prefix(tenant)),
            g => format!("{}g{g:010}/{size:020}.note", self.tenant_prefix(tenant)),
        }
    }

    /// The object key of the restore marker that starts `tenant`'s generation
    /// `generation` (1 and up).
    pub fn restore_key(&self, tenant: &TenantId, generation: u64) -> String {
        format!("{}g{generation:010}.restore", self.tenant_prefix(tenant))
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

    fn tenant_prefix(&self, tenant: &TenantId) -> String {
        format!("{}{}/", self.prefix, tenant.as_str())
    }

    fn cached(&self, tenant: &TenantId) -> Option<Held> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant.as_str())
            .cloned()
    }

    fn remember(&self, tenant: &TenantId, held: Held) {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.as_str().to_owned(), held);
    }

    /// The keys under `prefix` after the key `after`, with their (single) version id;
    /// fails closed on a key with more than one version.
    async fn versions(
        &self,
        prefix: &str,
        after: Option<&str>,
    ) -> Result<BTreeMap<String, Option<String>>, SinkError> {
        // Per key: how many versions, and the (single) version's id.
        let mut versions: BTreeMap<String, (usize, Option<String>)> = BTreeMap::new();
        let (mut key_marker, mut version_marker) = (after.map(str::to_owned), None::<String>);
        loop {
            let mut req = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix);
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
        Ok(versions.into_iter().map(|(k, (_, v))| (k, v)).collect())
    }

    /// Reads an object (by version id when known: a delete marker then does not hide
    /// it): its `tg-root` metadata and its body, at most `max` bytes of UTF-8.
    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<(Option<Hash>, String), SinkError> {
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
        if body.len() > max {
            return Err(SinkError::Io(format!("s3 sink: object {key} is too long")));
        }
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| SinkError::Io(format!("s3 sink: object {key} is not UTF-8")))?;
        Ok((root, text))
    }

    /// Reads a checkpoint object.
    async fn read(
        &self,
        key: &str,
        size: u64,
        version: Option<&str>,
    ) -> Result<PublishedCheckpoint, SinkError> {
        match self.get(key, version, MAX_NOTE).await? {
            (Some(root), note) => Ok(PublishedCheckpoint { size, root, note }),
            (None, _) => Err(SinkError::Io(format!(
                "s3 sink: checkpoint object {key} is unreadable"
            ))),
        }
    }

    /// Reads a restore marker.
    async fn read_marker(&self, key: &str, version: Option<&str>) -> Result<Marker, SinkError> {
        let (_, body) = self.get(key, version, MAX_MARKER).await?;
        decode_marker(&body)
            .ok_or_else(|| SinkError::Io(format!("s3 sink: restore marker {key} is unreadable")))
    }

    /// The checkpoint of size `size` in generation `gen`: an ordinary object, or the
    /// checkpoint of the generation's restore marker.
    async fn held_at(
        &self,
        tenant: &TenantId,
        gen: u64,
        size: u64,
    ) -> Result<PublishedCheckpoint, SinkError> {
        let key = self.generation_key(tenant, gen, size);
        if let Some(v) = self.versions(&key, None).await?.get(&key) {
            return self.read(&key, size, v.as_deref()).await;
        }
        if gen > 0 {
            let mkey = self.restore_key(tenant, gen);
            if let Some(v) = self.versions(&mkey, None).await?.get(&mkey) {
                let m = self.read_marker(&mkey, v.as_deref()).await?;
                if m.cp.size == size {
                    return Ok(m.cp);
                }
            }
        }
        Err(SinkError::Io(format!(
            "s3 sink: generation {gen} holds no checkpoint of size {size}"
        )))
    }

    /// Brings the tenant's latest up to date: lists the keys after the newest one seen
    /// (in key order: generation 0, then each restore marker followed by its generation),
    /// verifies each new restore marker against the generation it supersedes, and reads
    /// the newest checkpoint of the last generation.
    async fn refresh(&self, tenant: &TenantId) -> Result<Option<Held>, SinkError> {
        let cached = self.cached(tenant);
        let tp = self.tenant_prefix(tenant);
        let listed = self
            .versions(&tp, cached.as_ref().map(|h| h.key.as_str()))
            .await?;
        let mut held = cached;
        // The largest ordinary checkpoint of the current generation listed so far.
        let mut best: Option<(&String, u64, Option<&str>)> = None;
        for (key, version) in &listed {
            let cur = held.as_ref().map_or(0, |h| h.gen);
            match parse_key(key, &tp) {
                Some(Kind::Checkpoint { gen, size }) if gen == cur => {
                    let floor = best.map_or(held.as_ref().map(|h| h.cp.size), |b| Some(b.1));
                    if floor.is_none_or(|f| size > f) {
                        best = Some((key, size, version.as_deref()));
                    }
                }
                Some(Kind::Restore { gen }) => {
                    if gen != cur + 1 {
                        return Err(SinkError::Io(format!(
                            "s3 sink: restore marker {key} does not follow generation {cur}"
                        )));
                    }
                    if let Some((k, size, v)) = best.take() {
                        let cp = self.read(k, size, v).await?;
                        held = Some(Held::new(k, cur, cp));
                    }
                    let m = self.read_marker(key, version.as_deref()).await?;
                    let bad = |e: SinkError| {
                        SinkError::Io(format!(
                            "s3 sink: restore marker {key} does not verify: {e}"
                        ))
                    };
                    let (s, _) = m.admission.superseded().map_err(bad)?;
                    let superseded = match &held {
                        Some(h) if h.cp.size == s => h.cp.clone(),
                        _ => self.held_at(tenant, cur, s).await.map_err(bad)?,
                    };
                    superseded
                        .admits_restore(m.cp.size, &m.cp.root, &m.admission)
                        .map_err(bad)?;
                    held = Some(Held::new(key, gen, m.cp));
                }
                // Superseded generations, generations without a marker, foreign keys.
                _ => {}
            }
        }
        if let Some((k, size, v)) = best {
            let cur = held.as_ref().map_or(0, |h| h.gen);
            held = Some(Held::new(k, cur, self.read(k, size, v).await?));
        }
        if let Some(h) = &held {
            self.remember(tenant, h.clone());
        }
        Ok(held)
    }

    /// Writes a locked object if the key is free: `Ok(false)` if it exists already.
    async fn put(&self, key: &str, body: &str, root: &Hash) -> Result<bool, SinkError> {
        let until = DateTime::from(SystemTime::now() + self.retention);
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .content_type("text/plain; charset=utf-8")
            .metadata(ROOT_META, hex_encode(root))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(until)
            .if_none_match("*")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("PreconditionFailed") => Ok(false),
            Err(e) => Err(sdk("put", e)),
        }
    }
}

/// A tenant's latest checkpoint as the sink last saw it.
#[derive(Debug, Clone)]
struct Held {
    /// The newest key listed (listing resumes after it).
    key: String,
    /// Its generation (0 before any restore).
    gen: u64,
    cp: PublishedCheckpoint,
}

impl Held {
    fn new(key: &str, gen: u64, cp: PublishedCheckpoint) -> Self {
        Held {
            key: key.to_owned(),
            gen,
            cp,
        }
    }
}

/// What a key under a tenant's prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An ordinary checkpoint of generation `gen` (0: before any restore).
    Checkpoint { gen: u64, size: u64 },
    /// The restore marker that starts generation `gen` (1 and up).
    Restore { gen: u64 },
}

fn digits(s: &str, n: usize) -> Option<u64> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_key(key: &str, tenant_prefix: &str) -> Option<Kind> {
    let rest = key.strip_prefix(tenant_prefix)?;
    let size_of = |s: &str| s.strip_suffix(".note").and_then(|d| digits(d, 20));
    if let Some(size) = size_of(rest) {
        return Some(Kind::Checkpoint { gen: 0, size });
    }
    let (gen, tail) = rest.strip_prefix('g')?.split_at_checked(10)?;
    let gen = digits(gen, 10).filter(|g| *g >= 1)?;
    if tail == ".restore" {
        return Some(Kind::Restore { gen });
    }
    let size = size_of(tail.strip_prefix('/')?)?;
    Some(Kind::Checkpoint { gen, size })
}

/// First line of a restore marker's body.
const MARKER_HEADER: &str = "tenantguard-s3-restore v1";
/// Longest restore marker read back.
const MAX_MARKER: usize = MAX_NOTE + MAX_RESTORE_LINE + 64 * 65 + 128;

/// A restore marker: the checkpoint it starts its generation with, and the restore
/// record that admitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Marker {
    cp: PublishedCheckpoint,
    admission: RestoreAdmission,
}

/// `header \n size \n hex root \n hex proof hashes (space-separated) \n entry line \n note`.
fn encode_marker(m: &Marker) -> String {
    let proof: Vec<String> = m.admission.proof.iter().map(|h| hex_encode(h)).collect();
    format!(
        "{MARKER_HEADER}\n{}\n{}\n{}\n{}\n{}",
        m.cp.size,
        hex_encode(&m.cp.root),
        proof.join(" "),
        m.admission.entry_line,
        m.cp.note
    )
}

fn decode_marker(body: &str) -> Option<Marker> {
    let mut it = body.splitn(6, '\n');
    if it.next()? != MARKER_HEADER {
        return None;
    }
    let size: u64 = it.next()?.parse().ok()?;
    let root: Hash = hex_decode(it.next()?)?.try_into().ok()?;
    let proof = match it.next()? {
        "" => Vec::new(),
        line => line
            .split(' ')
            .map(|h| hex_decode(h)?.try_into().ok())
            .collect::<Option<Vec<Hash>>>()?,
    };
    let entry_line = it.next()?.to_owned();
    let note = it.next()?.to_owned();
    if entry_line.len() > MAX_RESTORE_LINE || note.len() > MAX_NOTE || proof.len() > 64 {
        return None;
    }
    Some(Marker {
        cp: PublishedCheckpoint { size, root, note },
        admission: RestoreAdmission { entry_line, proof },
    })
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
        let held = self.refresh(tenant).await?;
        if let Some(h) = &held {
            if !h.cp.admits(size, root)? {
                return Ok(());
            }
        }
        let gen = held.map_or(0, |h| h.gen);
        let key = self.generation_key(tenant, gen, size);
        if !self.put(&key, note, root).await? {
            // Another writer stored this size first: the same root is fine, another a fork.
            return self
                .read(&key, size, None)
                .await?
                .admits(size, root)
                .map(drop);
        }
        let cp = PublishedCheckpoint {
            size,
            root: *root,
            note: note.to_owned(),
        };
        self.remember(tenant, Held::new(&key, gen, cp));
        Ok(())
    }

    async fn latest(&self, tenant: &TenantId) -> Result<Option<PublishedCheckpoint>, SinkError> {
        Ok(self.refresh(tenant).await?.map(|h| h.cp))
    }

    /// Writes the restore marker of the next generation (see the module docs), after
    /// [`PublishedCheckpoint::admits_restore`] against the latest checkpoint.
    async fn publish_restore(
        &self,
        tenant: &TenantId,
        size: u64,
        root: &Hash,
        note: &str,
        restore: &RestoreAdmission,
    ) -> Result<(), SinkError> {
        let Some(held) = self.refresh(tenant).await? else {
            return Err(SinkError::RestoreRefused(
                "the sink holds no checkpoint of this tenant to supersede".into(),
            ));
        };
        if !held.cp.admits_restore(size, root, restore)? {
            return Ok(());
        }
        if restore.entry_line.contains('\n') || note.len() > MAX_NOTE {
            return Err(SinkError::RestoreRefused(
                "the restore entry or the note does not fit a marker".into(),
            ));
        }
        let m = Marker {
            cp: PublishedCheckpoint {
                size,
                root: *root,
                note: note.to_owned(),
            },
            admission: restore.clone(),
        };
        let gen = held.gen + 1;
        let key = self.restore_key(tenant, gen);
        if !self.put(&key, &encode_marker(&m), root).await? {
            // Another restore of the same generation was recorded first: the same
            // checkpoint is fine (a retry), another is refused.
            let other = self.read_marker(&key, None).await?;
            if other.cp.size == size && other.cp.root == *root {
                return Ok(());
            }
            return Err(SinkError::RestoreRefused(format!(
                "another restore was recorded first ({key})"
            )));
        }
        self.remember(tenant, Held::new(&key, gen, m.cp));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_history_order_and_parse_back() {
        let p = "pre/acme/";
        assert_eq!(
            parse_key("pre/acme/00000000000000001042.note", p),
            Some(Kind::Checkpoint { gen: 0, size: 1042 })
        );
        assert_eq!(parse_key("pre/acme/1042.note", p), None);
        assert_eq!(parse_key("pre/acme2/00000000000000001042.note", p), None);
        assert_eq!(parse_key("pre/acme/g0000000000.restore", p), None);
        assert_eq!(parse_key("pre/acme/g12.restore", p), None);
        let mut keys: Vec<String> = [
            "g0000000002.restore",
            "g0000000001/00000000000000000004.note",
            "00000000000000000100.note",
            "g0000000001.restore",
            "g0000000002/00000000000000000003.note",
            "00000000000000000009.note",
            "g0000000001/00000000000000000010.note",
        ]
        .iter()
        .map(|k| format!("{p}{k}"))
        .collect();
        keys.sort();
        let kinds: Vec<Kind> = keys.iter().filter_map(|k| parse_key(k, p)).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [
                Checkpoint { gen: 0, size: 9 },
                Checkpoint { gen: 0, size: 100 },
                Restore { gen: 1 },
                Checkpoint { gen: 1, size: 4 },
                Checkpoint { gen: 1, size: 10 },
                Restore { gen: 2 },
                Checkpoint { gen: 2, size: 3 },
            ]
        );
        assert_eq!(
            hex_decode(&hex_encode(&[0, 255, 16])),
            Some(vec![0, 255, 16])
        );
    }

    #[test]
    fn a_marker_round_trips_and_a_malformed_one_does_not_parse() {
        let m = Marker {
            cp: PublishedCheckpoint {
                size: 12,
                root: [3; 32],
                note: "origin\n12\nroot\n\n— sig\n".into(),
            },
            admission: RestoreAdmission {
                entry_line: "{\"action\":\"audit.restore\"}".into(),
                proof: vec![[1; 32], [2; 32]],
            },
        };
        let body = encode_marker(&m);
        assert_eq!(decode_marker(&body), Some(m.clone()));
        let mut none = m.clone();
        none.admission.proof.clear();
        assert_eq!(decode_marker(&encode_marker(&none)), Some(none));
        assert_eq!(decode_marker(&body.replacen("v1", "v2", 1)), None);
        assert_eq!(decode_marker(&body.replacen("\n12\n", "\nx\n", 1)), None);
        assert_eq!(decode_marker(&body[..40]), None);
    }
}
