//! The facade: [`Guard`] ties a key provider, a store and the key cache together.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::audit::{AuditAction, AuditEvent, AuditStore};
use crate::crypto::{self, Context, DataKey, KeyId, SealFormat, SealedValue, TenantKey};
use crate::error::Result;
use crate::events::{Event, EventBus, FeedStatus, Subscription};
use crate::kms::{
    CacheLimits, CacheStats, KeyCache, KeyProvider, KeyState, KmsError, TenantKeyRecord,
    WrapContext,
};
use crate::members::MembershipStore;
use crate::policy::PolicyStore;
use crate::records::{validate_record, SealedRecord};
use crate::retention::RetentionStore;
use crate::scope::Action as ScopeAction;
use crate::secret::{Credential, CredentialKind, SecretBytes};
use crate::sessions::SessionStore;
use crate::storage::{StoreError, MAX_PAGE};
use crate::store::{KeyRecordStore, Store, StoreParts, Stores};
use crate::tenant::{Principal, PrincipalKind, Role, ServiceRole, TenantContext, TenantError};
use crate::tokens::TokenStore;

area_handle!(
    /// Sealed values and stored records of a tenant: seal, open, put, delete. From [`Guard::records`].
    Records,
    records,
    "Sealing, opening and storing a tenant's values and records."
);

/// The id that binds service capabilities: one per key and record store instance the
/// guard was built on, never reused in this process. Guards sharing one store instance
/// (e.g. a fresh guard after a restart of a component) accept each other's capability; a
/// guard on another store refuses it, also one whose store took the memory of a dropped
/// one (the store's address alone would let a capability kept from a dropped throwaway
/// guard work in a guard built later).
fn store_id(store: &Arc<dyn KeyRecordStore>) -> u64 {
    type Ids = Vec<(std::sync::Weak<dyn KeyRecordStore>, u64)>;
    static IDS: std::sync::Mutex<Ids> = std::sync::Mutex::new(Vec::new());
    // 0 is no guard's: user and agent contexts carry it.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut ids = IDS.lock().unwrap_or_else(|p| p.into_inner());
    // A dead store's entry goes (its id with it, never handed out again); a live store
    // keeps its memory, so no other store can share its address meanwhile.
    ids.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, id)) = ids
        .iter()
        .find(|(w, _)| std::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(store)))
    {
        return *id;
    }
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ids.push((Arc::downgrade(store), id));
    id
}

/// A source of the current time, so jobs can be tested at their boundaries.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// Metadata of one key version (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The version.
    pub key_id: KeyId,
    /// Its state.
    pub state: KeyState,
    /// The KEK that wraps it (empty once destroyed).
    pub kek_id: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// Builds a [`Guard`].
#[must_use]
pub struct GuardBuilder {
    provider: Option<Arc<dyn KeyProvider>>,
    stores: StoreParts,
    cache: CacheLimits,
    clock: Arc<dyn Clock>,
    tenant_providers: BTreeMap<String, Arc<dyn KeyProvider>>,
    provider_tenants: BTreeMap<String, std::collections::BTreeSet<crate::tenant::TenantId>>,
    pub(crate) governance: crate::governance::GovernanceConfig,
    policies: Option<Arc<dyn PolicyStore>>,
    format: SealFormat,
    refuse_v1: bool,
    transparency: crate::audit::TransparencyConfig,
    limiter: Option<crate::ratelimit::RateLimiter>,
}

impl GuardBuilder {
    /// Audit checkpoints: origin prefix, how often (default every 1,000 entries or 60 s)
    /// and the sinks they are published to (docs/SECURITY.md, "Audit transparency").
    pub fn audit_transparency(mut self, cfg: crate::audit::TransparencyConfig) -> Self {
        self.transparency = cfg;
        self
    }

    /// Adds a sink every audit checkpoint is published to.
    pub fn checkpoint_sink(mut self, sink: Arc<dyn crate::audit::CheckpointSink>) -> Self {
        self.transparency.sinks.push(sink);
        self
    }

    /// The rate limiter (backend and policies) the guard enforces on logins, token and
    /// refresh failures, TOTP codes, reveals, writes, egress prepares and token creation.
    /// Default: in-process state with [`crate::ratelimit::Policies::default`] (the table in
    /// docs/SECURITY.md); several instances share limits only through a shared backend
    /// (Redis, PostgreSQL).
    pub fn rate_limiter(mut self, limiter: crate::ratelimit::RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The format new values are sealed in (default [`SealFormat::V2`]). Both formats
    /// always open; choose `V1` only during a rollout while processes of a release that
    /// cannot open v2 still read the values, then switch to `V2` and run
    /// [`Keys::reencrypt`](crate::Keys::reencrypt) to move the v1 values.
    pub fn seal_format(mut self, format: SealFormat) -> Self {
        self.format = format;
        self
    }

    /// Refuses to open format-v1 values for every tenant of this guard (default: open
    /// them). For one tenant at a time, use [`Records::set_v1_refused`](crate::Records::set_v1_refused). Cannot be combined
    /// with `seal_format(SealFormat::V1)` (`build` fails with `Config`).
    pub fn refuse_v1(mut self, refuse: bool) -> Self {
        self.refuse_v1 = refuse;
        self
    }

    /// Adds a named provider that tenants can move their data keys to with
    /// [`Keys::set_provider`](crate::Keys::set_provider) (bring your own key). Names: 1 to 64 characters
    /// of a-z, 0-9, '-', '_', '.'; at most 10,000 providers. Stored key records name it, so
    /// keep the name stable and register it in every process.
    pub fn tenant_key_provider(self, name: &str, provider: impl KeyProvider + 'static) -> Self {
        self.tenant_key_provider_arc(name, Arc::new(provider))
    }

    /// Like [`GuardBuilder::tenant_key_provider`] for an already shared provider.
    pub fn tenant_key_provider_arc(mut self, name: &str, provider: Arc<dyn KeyProvider>) -> Self {
        self.tenant_providers.insert(name.to_owned(), provider);
        self
    }

    /// Lets `tenant` use named provider `name` (a customer's own KMS key is for that
    /// customer alone). A provider no tenant is allowed is used by none:
    /// [`Keys::set_provider`](crate::Keys::set_provider) refuses it. Shredding `tenant`
    /// destroys its material at every provider it is allowed, whether or not its keys are
    /// there now: keep a provider the tenant left in its list until the tenant is shredded.
    pub fn allow_tenant_key_provider(
        mut self,
        name: &str,
        tenant: crate::tenant::TenantId,
    ) -> Self {
        self.provider_tenants
            .entry(name.to_owned())
            .or_default()
            .insert(tenant);
        self
    }

    /// The key provider holding the key-encryption keys (required).
    pub fn key_provider(mut self, provider: impl KeyProvider + 'static) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// Like [`GuardBuilder::key_provider`] for an already shared provider.
    pub fn key_provider_arc(mut self, provider: Arc<dyn KeyProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// A complete backend for every area (keys and records, audit, service keys, tokens,
    /// sessions, retention, memberships). Per-area methods called after it replace one area.
    pub fn store(self, store: impl Store + 'static) -> Self {
        self.store_arc(Arc::new(store))
    }

    /// Like [`GuardBuilder::store`] for an already shared store.
    pub fn store_arc(mut self, store: Arc<dyn Store>) -> Self {
        self.stores.set_all(store);
        self
    }

    /// Where tenants' wrapped keys and sealed records live (required, or given by
    /// [`GuardBuilder::store`]). A backend that implements only [`KeyStore`](crate::store::KeyStore) and
    /// [`RecordStore`](crate::store::RecordStore) plugs in here; the audit log and the service
    /// keyring then need a store of their own ([`GuardBuilder::audit_store`],
    /// [`GuardBuilder::service_key_store`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let records = Arc::new(MemoryStore::new()); // stands for your own backend
    /// let journal = Arc::new(MemoryStore::new()); // audit log and service keyring
    /// let (guard, service) = Guard::builder()
    ///     .key_provider(LocalKeyProvider::ephemeral())
    ///     .key_record_store_arc(records)
    ///     .audit_store(journal.clone())
    ///     .service_key_store(journal)
    ///     .build_with_service()?;
    /// let ctx = TenantContext::service(TenantId::new("acme")?, &service);
    /// guard.keys().create_tenant(&ctx).await?;
    /// let sealed = guard.records().seal(&ctx, "db-password", b"hunter2").await?;
    /// assert_eq!(guard.records().open(&ctx, "db-password", &sealed).await?.expose(), b"hunter2");
    /// // Areas it was not given refuse with `Config`, naming the builder method.
    /// let err = guard.retention().policy(&ctx).await.unwrap_err();
    /// assert_eq!(err.kind(), tenantguard::ErrorKind::Config);
    /// # Ok(()) }
    /// ```
    pub fn key_record_store(self, store: impl KeyRecordStore + 'static) -> Self {
        self.key_record_store_arc(Arc::new(store))
    }

    /// Like [`GuardBuilder::key_record_store`] for an already shared store. Called after
    /// [`GuardBuilder::store`], it replaces that store's records and drops its retention
    /// area (the sweep deletes records where they are stored): give this backend's own with
    /// [`GuardBuilder::retention_store`] if it has one.
    pub fn key_record_store_arc(mut self, store: Arc<dyn KeyRecordStore>) -> Self {
        self.stores.set_keys(store);
        self
    }

    /// Where the tamper-evident audit log lives (required, or given by [`GuardBuilder::store`]):
    /// every release of plaintext and every key event is written there before it takes effect.
    pub fn audit_store(mut self, store: Arc<dyn AuditStore>) -> Self {
        self.stores.audit = Some(store);
        self
    }

    /// Where the service keyring (row-MAC, session-signing and audit-MAC keys, wrapped by
    /// the key provider) lives (required, or given by [`GuardBuilder::store`]). A built-in
    /// store that holds tokens, sessions or memberships MACs their rows with this keyring
    /// only when it is also the service-key store; otherwise it refuses to write or read
    /// them (a `Store` error, "no service keyring"): it fails closed, never unauthenticated.
    pub fn service_key_store(mut self, store: Arc<dyn crate::kms::ServiceKeyStore>) -> Self {
        self.stores.service_keys = Some(store);
        self
    }

    /// Where agent tokens live (optional: without one, token operations fail with `Config`).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.stores.tokens = Some(store);
        self
    }

    /// Where login sessions live (optional; needs a [`GuardBuilder::membership_store`] too).
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.stores.sessions = Some(store);
        self
    }

    /// Where retention windows live and what the sweep deletes through (optional). It must
    /// be the same object as the [`GuardBuilder::key_record_store`] (the sweep deletes
    /// records where they are stored); `build` refuses another one with `Config`.
    pub fn retention_store(mut self, store: Arc<dyn RetentionStore>) -> Self {
        self.stores.retention = Some(store);
        self
    }

    /// Where users' roles in tenants live (optional: without one, every operation that
    /// needs a user's live role is refused with `Config`, never allowed).
    pub fn membership_store(mut self, store: Arc<dyn MembershipStore>) -> Self {
        self.stores.members = Some(store);
        self
    }

    /// Where policy documents (egress policies) live, usually the guard's own store; an
    /// `Egress` built on this guard without a policy store uses it.
    pub fn policy_store(mut self, store: Arc<dyn PolicyStore>) -> Self {
        self.policies = Some(store);
        self
    }

    /// Limits of the unwrapped-key cache.
    pub fn cache_limits(mut self, limits: CacheLimits) -> Self {
        self.cache = limits;
        self
    }

    /// The clock (tests use a controllable one).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the guard and hands out its service capability, once: the only
    /// [`ServiceRole`] that works with this guard (see docs/SECURITY.md). Give it only to
    /// the server-side code that must act for any tenant or read plaintext.
    pub fn build_with_service(self) -> Result<(Guard, ServiceRole)> {
        let guard = self.build()?;
        let service = ServiceRole::for_guard(guard.inner.id);
        Ok((guard, service))
    }

    /// Builds the guard without handing out its service capability: code holding only
    /// this guard can act as users and agents, never as the service. Fails with `Config`
    /// if the provider or store is missing, or with `refuse_v1(true)` and
    /// `seal_format(SealFormat::V1)` together.
    pub fn build(self) -> Result<Guard> {
        let provider = self
            .provider
            .ok_or_else(|| KmsError::Config("GuardBuilder needs a key_provider".into()))?;
        // The capability binds to the store instance the host passed, not to the wrapper.
        let id = self.stores.keys.as_ref().map(store_id);
        // Calls to the stores and the key providers run in `tracing` spans (no secret in
        // any field; without a subscriber a span is one atomic load).
        let stores = Stores::build(self.stores).map_err(KmsError::Config)?;
        let id = id.unwrap_or_default();
        let provider = crate::kms::TracedProvider::wrap_arc(provider);
        let tenant_providers: BTreeMap<String, Arc<dyn KeyProvider>> = self
            .tenant_providers
            .into_iter()
            .map(|(name, p)| (name, crate::kms::TracedProvider::wrap_arc(p)))
            .collect();
        for name in tenant_providers.keys() {
            crate::kms::validate_provider_name(name)?;
        }
        if tenant_providers.len() > crate::kms::MAX_TENANT_PROVIDERS {
            return Err(KmsError::Config("too many tenant key providers".into()).into());
        }
        let gov = crate::governance::GovState::new(self.governance)?;
        let transparency = crate::audit::Transparency::new(self.transparency)?;
        if self.refuse_v1 && self.format == SealFormat::V1 {
            return Err(KmsError::Config(
                "refuse_v1(true) with seal_format(V1): the guard would refuse what it writes"
                    .into(),
            )
            .into());
        }
        let keyring = Arc::new(crate::kms::ServiceKeyring::new(
            provider.clone(),
            stores.service_keys.clone(),
        ));
        // Only the service-key store learns the keyring: a built-in store that holds
        // authorization rows but not the keyring refuses them (fails closed).
        stores.service_keys.attach_keyring(&keyring);
        // A store shared by several instances (PostgreSQL) brings a bus fed with their
        // news; otherwise the guard's own news is all there is.
        let feed = stores.keys.event_feed();
        let bus = feed
            .as_ref()
            .map(|f| f.bus())
            .unwrap_or_else(|| Arc::new(EventBus::new()));
        let clock = self.clock;
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<Inner>| {
            // Each area subscribes to the news it caches something about; none calls
            // another to react. Weak: the bus never keeps a dropped guard alive.
            let keys = me.clone();
            let tokens = me.clone();
            #[cfg(feature = "auth")]
            let sessions = me.clone();
            let limits = me.clone();
            let ring = Arc::downgrade(&keyring);
            #[cfg_attr(not(feature = "auth"), allow(unused_mut))]
            let mut subscriptions = vec![
                bus.subscribe(move |e| {
                    if let Some(r) = ring.upgrade() {
                        match e {
                            Event::ServiceKeyChanged { purpose } => {
                                r.forget(crate::kms::ServicePurpose::parse(purpose))
                            }
                            Event::Resync => r.forget(None),
                            _ => {}
                        }
                    }
                }),
                bus.subscribe(move |e| {
                    if let Some(i) = keys.upgrade() {
                        i.cache.on_event(e);
                    }
                }),
                bus.subscribe(move |e| {
                    if let Some(i) = tokens.upgrade() {
                        i.gov.on_token_event(e);
                    }
                }),
                bus.subscribe(move |e| {
                    if let Some(i) = limits.upgrade() {
                        i.limit_overrides.on_event(e);
                    }
                }),
            ];
            #[cfg(feature = "auth")]
            subscriptions.push(bus.subscribe(move |e| {
                if let Some(i) = sessions.upgrade() {
                    let ttl = i.gov.sessions.access_ttl_secs;
                    i.gov
                        .session_revocations
                        .on_event(e, i.clock.now_unix(), ttl);
                }
            }));
            Inner {
                id,
                keyring,
                bus: bus.clone(),
                feed,
                _subscriptions: subscriptions,
                provider,
                stores,
                cache: KeyCache::new(self.cache),
                clock,
                gov,
                tenant_providers,
                provider_tenants: self.provider_tenants,
                policies: self.policies,
                format: self.format,
                refuse_v1: self.refuse_v1,
                transparency,
                limiter: self.limiter.unwrap_or_default(),
                limit_overrides: Default::default(),
            }
        });
        Ok(Guard { inner })
    }
}

struct Inner {
    id: u64,
    bus: Arc<EventBus>,
    feed: Option<Arc<dyn crate::events::EventFeed>>,
    _subscriptions: Vec<Subscription>,
    keyring: Arc<crate::kms::ServiceKeyring>,
    provider: Arc<dyn KeyProvider>,
    stores: Stores,
    cache: KeyCache,
    clock: Arc<dyn Clock>,
    tenant_providers: BTreeMap<String, Arc<dyn KeyProvider>>,
    provider_tenants: BTreeMap<String, std::collections::BTreeSet<crate::tenant::TenantId>>,
    gov: crate::governance::GovState,
    policies: Option<Arc<dyn PolicyStore>>,
    format: SealFormat,
    refuse_v1: bool,
    transparency: crate::audit::Transparency,
    limiter: crate::ratelimit::RateLimiter,
    limit_overrides: crate::ratelimit::enforce::OverrideCache,
}

/// The tenantguard facade: seal and open values and credentials per tenant, rotate and
/// shred keys. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("provider", &self.provider().name())
            .finish_non_exhaustive()
    }
}

/// Creates `dir` (mode 0700) or restricts an existing one to its owner.
#[cfg(feature = "sqlite")]
fn private_dir(dir: &std::path::Path) -> Result<()> {
    let fail = |e: std::io::Error| {
        KmsError::Config(format!(
            "cannot create or restrict {} to mode 0700: {}: use a directory you own",
            dir.display(),
            e.kind()
        ))
    };
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        b.mode(0o700);
        b.create(dir).map_err(fail)?;
        let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    #[cfg(not(unix))]
    b.create(dir).map_err(fail)?;
    Ok(())
}

/// The seal context of a stored record: binds its data class and id.
pub(crate) fn record_context<'a>(class: &'a str, id: &'a str) -> Context<'a> {
    Context::Record { class, id }
}

/// The policy-store kind that holds a tenant's sealed-format settings.
const FORMAT_POLICY: &str = "sealed_format";

impl Guard {
    /// Starts a builder.
    pub fn builder() -> GuardBuilder {
        GuardBuilder {
            provider: None,
            stores: StoreParts::default(),
            cache: CacheLimits::default(),
            clock: Arc::new(SystemClock),
            tenant_providers: BTreeMap::new(),
            provider_tenants: BTreeMap::new(),
            governance: Default::default(),
            policies: None,
            format: SealFormat::V2,
            refuse_v1: false,
            transparency: Default::default(),
            limiter: None,
        }
    }

    /// The guard's rate limiter: hosts ask it for their own routes
    /// (`guard.rate_limiter().check(class, &key)`).
    pub fn rate_limiter(&self) -> &crate::ratelimit::RateLimiter {
        &self.inner.limiter
    }

    /// The cache of tenants' rate-limit overrides.
    pub(crate) fn limit_overrides(&self) -> &crate::ratelimit::enforce::OverrideCache {
        &self.inner.limit_overrides
    }

    /// The format this guard seals new values in ([`GuardBuilder::seal_format`]); a
    /// tenant that refuses v1 ([`Records::set_v1_refused`](crate::Records::set_v1_refused)) gets v2 whatever this says.
    pub fn seal_format(&self) -> SealFormat {
        self.inner.format
    }

    /// The format new values of this tenant are sealed in: the guard's, except that a
    /// tenant refusing v1 always gets v2. A v1 value written for such a tenant (by a guard
    /// still configured for a v1 rollout) could never be opened again: data lost. The
    /// policy is read only when the guard writes v1, so the default (v2) pays nothing.
    pub(crate) async fn format_for(&self, ctx: &TenantContext) -> Result<SealFormat> {
        if self.inner.format == SealFormat::V1 && self.v1_refused(ctx).await? {
            return Ok(SealFormat::V2);
        }
        Ok(self.inner.format)
    }

    /// The embedded default: a key file `keys.json` and a SQLite database `tenantguard.db`
    /// in `dir` (created if absent). The directory is created with mode 0700 (an existing
    /// one open to group or others is restricted to 0700), the files with mode 0600.
    #[cfg(feature = "sqlite")]
    pub fn embedded(dir: impl AsRef<std::path::Path>) -> Result<Guard> {
        Self::embedded_builder(dir)?.build()
    }

    /// [`Guard::embedded`] and its service capability (see [`GuardBuilder::build_with_service`]).
    #[cfg(feature = "sqlite")]
    pub fn embedded_with_service(dir: impl AsRef<std::path::Path>) -> Result<(Guard, ServiceRole)> {
        Self::embedded_builder(dir)?.build_with_service()
    }

    /// The builder behind [`Guard::embedded`], to add settings before building.
    #[cfg(feature = "sqlite")]
    pub fn embedded_builder(dir: impl AsRef<std::path::Path>) -> Result<GuardBuilder> {
        let dir = dir.as_ref();
        private_dir(dir)?;
        let provider = crate::kms::LocalKeyProvider::open_or_create(dir.join("keys.json"))?;
        let store = Arc::new(crate::store::SqliteStore::open(dir.join("tenantguard.db"))?);
        Ok(Guard::builder()
            .key_provider(provider)
            .store_arc(store.clone())
            .policy_store(store))
    }

    /// Cache counters (hits, loads = key-provider unwraps, evictions).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// The policy store set with [`GuardBuilder::policy_store`] (the embedded guard's
    /// SQLite database), if any. Needs this guard's service capability
    /// (`WrongPrincipal` otherwise): the store trusts the context it is given, so whoever
    /// holds it writes any tenant's policies (egress, portal marks, the v1 switch, rate
    /// limits) with no role check and no audit entry. Change policies through the handles.
    pub fn policy_store(&self, service: &ServiceRole) -> Result<Option<Arc<dyn PolicyStore>>> {
        self.check_service(service)?;
        Ok(self.inner.policies.clone())
    }

    /// The policy store, for the SDK's own (authorized) uses.
    pub(crate) fn policies(&self) -> Option<Arc<dyn PolicyStore>> {
        self.inner.policies.clone()
    }

    /// The id binding this guard's capability and the contexts vouched with it.
    pub(crate) fn capability_id(&self) -> u64 {
        self.inner.id
    }

    /// The guard's own capability, for the SDK's internal lookups (never handed out).
    pub(crate) fn service_role(&self) -> ServiceRole {
        ServiceRole::for_guard(self.inner.id)
    }

    /// Checks what every operation checks first: a service context was made with this
    /// guard's capability; an agent's token was not revoked, killed or expired since.
    pub(crate) fn check_principal(&self, ctx: &TenantContext) -> Result<(), TenantError> {
        match ctx.principal() {
            Principal::Service if ctx.service_guard() != self.inner.id => {
                Err(TenantError::WrongPrincipal {
                    action: "use another guard's service capability",
                    kind: PrincipalKind::Service,
                })
            }
            // A user context is bound to the capability that vouched for it (its
            // resolver's): one vouched with another guard's capability is refused.
            Principal::User { .. } if ctx.service_guard() != self.inner.id => {
                Err(TenantError::WrongPrincipal {
                    action: "use a context vouched with another guard's service capability",
                    kind: PrincipalKind::User,
                })
            }
            Principal::Agent(g) => {
                if g.expires_at.is_some_and(|e| self.now() >= e)
                    || !self
                        .gov()
                        .revocations
                        .live(ctx.tenant(), &g.token_id, g.epoch)
                {
                    Err(TenantError::AgentRevoked)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The check of an operation open to users (by role) and agents (by scope on
    /// `resource`); see [`TenantContext::authorize`].
    pub(crate) fn authorize(
        &self,
        ctx: &TenantContext,
        needed: Role,
        resource: &str,
        action: ScopeAction,
        what: &'static str,
    ) -> Result<(), TenantError> {
        self.check_principal(ctx)?;
        ctx.authorize(needed, resource, action, what)
    }

    /// [`Guard::authorize`] building the resource name only for an agent, the one
    /// principal checked by resource (users and the service by role): the hot paths
    /// (`seal`) skip an allocation per call.
    pub(crate) fn authorize_with(
        &self,
        ctx: &TenantContext,
        needed: Role,
        resource: impl FnOnce() -> String,
        action: ScopeAction,
        what: &'static str,
    ) -> Result<(), TenantError> {
        self.check_principal(ctx)?;
        match ctx.principal() {
            Principal::Agent(_) => ctx.authorize(needed, &resource(), action, what),
            _ => ctx.authorize(needed, "", action, what),
        }
    }

    /// Fails unless `service` is this guard's own capability.
    pub(crate) fn check_service(&self, service: &ServiceRole) -> Result<(), TenantError> {
        if service.guard_id == self.inner.id {
            Ok(())
        } else {
            Err(TenantError::WrongPrincipal {
                action: "use another guard's service capability",
                kind: PrincipalKind::Service,
            })
        }
    }

    /// The check of an operation for users (by role) and the service only.
    pub(crate) fn require(
        &self,
        ctx: &TenantContext,
        needed: Role,
        what: &'static str,
    ) -> Result<(), TenantError> {
        self.check_principal(ctx)?;
        ctx.require(needed, what)
    }

    /// The check of a service-only operation (this guard's capability).
    pub(crate) fn require_service(
        &self,
        ctx: &TenantContext,
        what: &'static str,
    ) -> Result<(), TenantError> {
        self.check_principal(ctx)?;
        ctx.require_service(what)
    }

    /// The service keyring (row-MAC, session-signing, audit-MAC and checkpoint-signing
    /// keys, wrapped by this guard's key provider and kept in its store). Operators rotate
    /// and retire through it. Needs this guard's service capability (`WrongPrincipal`
    /// otherwise): its keys sign access tokens and authenticate audit entries and
    /// authorization rows, so whoever holds them could forge a session of any user,
    /// owners included.
    pub fn service_keys(&self, service: &ServiceRole) -> Result<&Arc<crate::kms::ServiceKeyring>> {
        self.check_service(service)?;
        Ok(&self.inner.keyring)
    }

    /// The service keyring, for the SDK's own uses (never handed out).
    pub(crate) fn keyring(&self) -> &Arc<crate::kms::ServiceKeyring> {
        &self.inner.keyring
    }

    /// The key and record store.
    pub(crate) fn store(&self) -> &dyn KeyRecordStore {
        self.inner.stores.keys.as_ref()
    }

    /// The audit store.
    pub(crate) fn audit_store(&self) -> &dyn AuditStore {
        self.inner.stores.audit.as_ref()
    }

    /// Every store of the guard (the optional areas answer `NotConfigured` when absent).
    pub(crate) fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    pub(crate) fn provider(&self) -> &dyn KeyProvider {
        self.inner.provider.as_ref()
    }

    pub(crate) fn default_provider(&self) -> Arc<dyn KeyProvider> {
        self.inner.provider.clone()
    }

    pub(crate) fn tenant_providers(&self) -> &BTreeMap<String, Arc<dyn KeyProvider>> {
        &self.inner.tenant_providers
    }

    /// Whether `tenant` may be moved to named provider `name`.
    pub(crate) fn provider_allowed(&self, name: &str, tenant: &crate::tenant::TenantId) -> bool {
        self.inner
            .provider_tenants
            .get(name)
            .is_some_and(|t| t.contains(tenant))
    }

    /// The named providers `tenant` may be moved to.
    pub(crate) fn providers_allowed_for<'a>(
        &'a self,
        tenant: &'a crate::tenant::TenantId,
    ) -> impl Iterator<Item = String> + 'a {
        self.inner
            .provider_tenants
            .iter()
            .filter(move |(_, tenants)| tenants.contains(tenant))
            .map(|(name, _)| name.clone())
    }

    pub(crate) fn gov(&self) -> &crate::governance::GovState {
        &self.inner.gov
    }

    pub(crate) fn transparency(&self) -> &crate::audit::Transparency {
        &self.inner.transparency
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now_unix()
    }

    /// Publishes this instance's news to its areas (other instances hear of the change
    /// through the store's feed, from the row the change wrote).
    pub(crate) fn publish(&self, event: &Event) {
        self.inner.bus.publish(event);
    }

    /// Calls `handler` with every event this guard hears of (its own and, with a shared
    /// store such as PostgreSQL, other instances'), until the [`Subscription`] is
    /// dropped. Events are news: re-read what they name from the store, never trust them
    /// to grant anything. The handler runs in the publisher's thread: keep it quick.
    pub fn subscribe(&self, handler: impl Fn(&Event) + Send + Sync + 'static) -> Subscription {
        self.inner.bus.subscribe(handler)
    }

    /// Where the store's cross-instance listener stands; `None` for a store without one
    /// (memory, SQLite: a single process).
    pub fn event_feed_status(&self) -> Option<FeedStatus> {
        self.inner.feed.as_ref().map(|f| f.status())
    }

    pub(crate) fn invalidate(&self, ctx: &TenantContext) {
        self.inner.cache.invalidate(ctx.tenant());
    }

    pub(crate) async fn new_key_record(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
    ) -> Result<TenantKeyRecord> {
        let key = DataKey::generate()?;
        let provider = match self.store().tenant_keys(ctx).await {
            Ok(keys) if !keys.is_empty() && keys.iter().all(|k| k.state == KeyState::Destroyed) => {
                return Err(StoreError::Conflict(
                    "tenant was shredded: it cannot get new keys".into(),
                )
                .into())
            }
            Ok(keys) => Self::provider_of(&keys),
            Err(e) if crate::kms::is_missing_tenant(&e) => None,
            Err(e) => return Err(e.into()),
        };
        // The provider comes from the active key's stored KEK id, which a database writer
        // can edit: a named provider (a customer's own KMS key, which that customer can
        // decrypt with) wraps only the keys of the tenants it is allowed for.
        if let Some(name) = provider.as_deref() {
            if !self.provider_allowed(name, ctx.tenant()) {
                return Err(KmsError::ProviderNotAllowed.into());
            }
        }
        let wrapped = self
            .wrap_with(
                provider.as_deref(),
                &key,
                &WrapContext {
                    tenant: ctx.tenant().clone(),
                    key_id,
                },
            )
            .await?;
        Ok(TenantKeyRecord {
            key_id,
            state: KeyState::Active,
            kek_id: wrapped.kek_id,
            wrapped: wrapped.ciphertext,
            created_at: self.now(),
        })
    }

    async fn unwrap_record(
        &self,
        ctx: &TenantContext,
        rec: TenantKeyRecord,
    ) -> Result<Arc<TenantKey>> {
        if rec.state == KeyState::Destroyed {
            return Err(KmsError::KeyDestroyed(rec.key_id).into());
        }
        let key = self
            .unwrap_stored(
                &rec.kek_id,
                rec.wrapped,
                &WrapContext {
                    tenant: ctx.tenant().clone(),
                    key_id: rec.key_id,
                },
            )
            .await?;
        Ok(Arc::new(TenantKey::new(rec.key_id, &key)))
    }

    /// A cached key is used only while the deployment provider does not know the tenant
    /// as shredded: another process sharing the key file (SQLite has no cross-process
    /// news) may have shredded it since the key was cached. Refused as the store would
    /// after the shred: `KeyDestroyed` for the version a value names (`version`),
    /// `TenantShredded` for the active key a seal needs.
    fn check_not_shredded(&self, ctx: &TenantContext, version: Option<KeyId>) -> Result<()> {
        if self.inner.provider.tenant_destroyed(ctx.tenant()) {
            self.inner.cache.invalidate(ctx.tenant());
            return Err(match version {
                Some(id) => KmsError::KeyDestroyed(id),
                None => KmsError::TenantShredded,
            }
            .into());
        }
        Ok(())
    }

    pub(crate) async fn active_key(&self, ctx: &TenantContext) -> Result<Arc<TenantKey>> {
        self.check_not_shredded(ctx, None)?;
        self.inner
            .cache
            .active(ctx.tenant(), || async {
                let keys = self.store().tenant_keys(ctx).await?;
                match keys.into_iter().find(|k| k.state == KeyState::Active) {
                    Some(k) => self.unwrap_record(ctx, k).await,
                    None => Err(KmsError::TenantShredded.into()),
                }
            })
            .await
    }

    pub(crate) async fn key_version(
        &self,
        ctx: &TenantContext,
        id: KeyId,
    ) -> Result<Arc<TenantKey>> {
        self.check_not_shredded(ctx, Some(id))?;
        self.inner
            .cache
            .version(ctx.tenant(), id, || async {
                let keys = self.store().tenant_keys(ctx).await?;
                match keys.into_iter().find(|k| k.key_id == id) {
                    Some(k) => self.unwrap_record(ctx, k).await,
                    None => Err(KmsError::UnknownKey(id).into()),
                }
            })
            .await
    }

    /// The one path by which plaintext leaves the SDK: checks this guard's service
    /// capability, opens, and appends the audit entry; if the append fails, nothing is
    /// returned.
    async fn release(
        &self,
        ctx: &TenantContext,
        context: Context<'_>,
        value: Cow<'_, SealedValue>,
        event: AuditEvent,
    ) -> Result<SecretBytes> {
        self.require_service(ctx, "read plaintext")?;
        let plain = self.open_unchecked(ctx, context, value).await?;
        self.audit_seq(ctx, event).await?;
        Ok(plain)
    }

    /// Opens without a capability check or an audit entry: only for uses inside the SDK
    /// that never hand the plaintext out (re-encryption, TOTP derivation, reseal). An owned
    /// value is decrypted in its own buffer (one pass over the bytes less than a copy).
    pub(crate) async fn open_unchecked(
        &self,
        ctx: &TenantContext,
        context: Context<'_>,
        value: Cow<'_, SealedValue>,
    ) -> Result<SecretBytes> {
        if value.version() == 1 && self.v1_refused(ctx).await? {
            return Err(crypto::CryptoError::V1Refused.into());
        }
        let key = self.key_version(ctx, value.key_id()).await?;
        Ok(match value {
            Cow::Borrowed(v) => crypto::open(&key, ctx.tenant(), context, v)?,
            Cow::Owned(v) => crypto::open_owned(&key, ctx.tenant(), context, v)?,
        })
    }

    /// The tenant's own setting in the policy store (without the guard-wide switch).
    /// [`Records::v1_refused`] for the SDK's own paths (sealing, opening, re-encryption),
    /// which authorized their caller already.
    pub(crate) async fn v1_refused(&self, ctx: &TenantContext) -> Result<bool> {
        if self.inner.refuse_v1 {
            return Ok(true);
        }
        self.tenant_v1_refused(ctx).await
    }

    async fn tenant_v1_refused(&self, ctx: &TenantContext) -> Result<bool> {
        let Some(policies) = &self.inner.policies else {
            return Ok(false);
        };
        Ok(match policies.get_policy(ctx, FORMAT_POLICY).await? {
            Some(doc) => serde_json::from_str::<serde_json::Value>(&doc.body)
                .ok()
                .and_then(|v| v.get("v1_refused").and_then(|b| b.as_bool()))
                // A document that does not parse fails closed.
                .unwrap_or(true),
            None => false,
        })
    }

    /// [`Records::put`](crate::Records::put) without the portal rule (callers checked it).
    pub(crate) async fn put_record_checked(
        &self,
        ctx: &TenantContext,
        id: &str,
        class: &str,
        subject: Option<&str>,
        plaintext: &[u8],
        host_key: Option<&str>,
    ) -> Result<()> {
        self.authorize(
            ctx,
            Role::Member,
            &format!("records/{class}/{id}"),
            ScopeAction::Write,
            "store a record",
        )?;
        if ctx.agent_grant().is_some() {
            self.check_agent_replace(ctx, id, class).await?;
        }
        self.limit_from(ctx, crate::ratelimit::ActionClass::Write, None, host_key)
            .await?;
        let mut key = self.active_key(ctx).await?;
        let now = self.now();
        let mut rec = SealedRecord {
            id: id.to_owned(),
            class: class.to_owned(),
            subject: subject.map(str::to_owned),
            key_id: key.id(),
            sealed: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        // Checked before sealing: a class or id over its limit must be reported as such,
        // not as the sealing "context" (built from both) the caller never passed.
        validate_record(&rec)?;
        let format = self.format_for(ctx).await?;
        let mut fresh = false;
        loop {
            rec.key_id = key.id();
            rec.sealed = crypto::seal(
                &key,
                ctx.tenant(),
                record_context(class, id),
                plaintext,
                format,
            )?
            .into_bytes();
            match self.store().put_record(ctx, &rec).await {
                // The cached key was destroyed by another process (retired, or the tenant
                // shredded) and the store refused the write: once more with the key the
                // store holds now (a shredded tenant has none: `KeyDestroyed`).
                Err(StoreError::KeyDestroyed(_)) if !fresh => {
                    fresh = true;
                    self.invalidate(ctx);
                    key = self.active_key(ctx).await?;
                }
                r => return Ok(r?),
            }
        }
    }

    /// An agent storing record `id` as `class`: ids are unique per tenant whatever the
    /// class, so replacing an existing record of another class also needs `write` on
    /// that record (`records/<its class>/<id>`); a scope on one class never reaches
    /// another class's records by naming their ids. The refusal names the resource the
    /// agent asked for, not the stored record's class.
    async fn check_agent_replace(&self, ctx: &TenantContext, id: &str, class: &str) -> Result<()> {
        let Some(existing) = self.store().get_record(ctx, id).await? else {
            return Ok(());
        };
        if existing.class == class {
            return Ok(());
        }
        let resource = format!("records/{}/{id}", existing.class);
        if ctx
            .agent_grant()
            .is_some_and(|g| g.allows(&resource, ScopeAction::Write))
        {
            return Ok(());
        }
        Err(TenantError::OutOfScope {
            action: "replace a record of another class",
            resource: crate::scope::echo(&format!("records/{class}/{id}")),
        }
        .into())
    }

    async fn open_record_why(
        &self,
        ctx: &TenantContext,
        id: &str,
        reason: Option<&str>,
    ) -> Result<(String, SecretBytes)> {
        self.require_service(ctx, "open a stored record")?;
        self.limit(ctx, crate::ratelimit::ActionClass::Reveal, Some(id))
            .await?;
        let rec = self
            .store()
            .get_record(ctx, id)
            .await?
            .ok_or(StoreError::RecordNotFound)?;
        let value = SealedValue::from_vec(rec.sealed)?;
        let mut ev = AuditEvent::new(AuditAction::CredentialOpen, format!("record:{id}"))
            .detail("class", rec.class.clone());
        ev.reason = reason.map(str::to_owned);
        let plain = self
            .release(
                ctx,
                record_context(&rec.class, &rec.id),
                Cow::Owned(value),
                ev,
            )
            .await?;
        Ok((rec.class, plain))
    }

    /// [`Keys::shred`](crate::Keys::shred), also returning how many tokens and sessions it revoked.
    pub(crate) async fn shred_counting(
        &self,
        ctx: &TenantContext,
    ) -> Result<(crate::kms::ShredReport, u64, u64)> {
        self.authorize_live(
            ctx,
            Role::Owner,
            "tenant",
            ScopeAction::Admin,
            "shred a tenant",
        )
        .await?;
        let now = self.now();
        // A guard without a token or session store has none to revoke.
        let tokens = match self.stores().tokens_if_any() {
            Some(t) => t.revoke_tokens(ctx, None, now).await?,
            None => 0,
        };
        let sessions = match self.stores().sessions_if_any() {
            Some(s) => s.revoke_sessions(ctx, None, now).await?,
            None => 0,
        };
        let report = self.destroy_tenant_material(ctx).await?;
        let r = self.store().destroy_all_keys(ctx).await;
        // Tokens, sessions and keys react to the news, each in its own area.
        self.publish(&Event::TenantShredded {
            tenant: ctx.tenant().clone(),
        });
        r?;
        self.append_audit(
            ctx,
            AuditEvent::new(AuditAction::TenantShred, format!("tenant:{}", ctx.tenant()))
                .detail("provider_material", report.summary())
                .detail("shared_kek_keys", report.shared_kek_keys.len().to_string())
                .detail("tokens_revoked", tokens.to_string())
                .detail("sessions_revoked", sessions.to_string()),
        )
        .await?;
        Ok((report, tokens, sessions))
    }
}

impl crate::Keys<'_> {
    /// Creates a tenant with a fresh data key (version 1). Needs the owner role.
    pub async fn create_tenant(self, ctx: &TenantContext) -> Result<KeyId> {
        self.g.require(ctx, Role::Owner, "create a tenant")?;
        let rec = self.g.new_key_record(ctx, KeyId::FIRST).await?;
        // Drafted (with the audit-MAC key, a key-provider call) before the tenant exists:
        // a provider that refuses then leaves no tenant behind that a retry would find
        // "already exists".
        let draft = self
            .g
            .audit_draft(
                ctx,
                AuditEvent::new(
                    AuditAction::TenantCreate,
                    format!("tenant:{}", ctx.tenant()),
                ),
            )
            .await?;
        self.g.store().create_tenant(ctx, &rec).await?;
        let appended = self.g.audit_store().append_audit_owned(ctx, draft).await?;
        self.g.after_audit_append(ctx, &appended).await;
        Ok(KeyId::FIRST)
    }

    /// The tenant's key versions (metadata only). Any role.
    pub async fn versions(self, ctx: &TenantContext) -> Result<Vec<KeyInfo>> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "keys",
            ScopeAction::Read,
            "list key versions",
        )?;
        Ok(self
            .g
            .store()
            .tenant_keys(ctx)
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                key_id: k.key_id,
                state: k.state,
                kek_id: k.kek_id,
                created_at: k.created_at,
            })
            .collect())
    }

    /// Crypto-shreds the tenant: destroys every key version, so every value ever sealed
    /// for it (backups included) can never be opened again. Irreversible; the tenant id
    /// can never be reused. Needs the owner role.
    ///
    /// First every key provider of the tenant (the deployment provider, those its live
    /// keys name and every named provider it is allowed to use) destroys the tenant's own
    /// key material ([`KeyProvider::destroy_tenant`]), so a database backup taken before the shred
    /// cannot bring the tenant back; the report says, provider by provider, what was
    /// destroyed and what could not be guaranteed (see docs/SECURITY.md).
    ///
    /// Every agent token and login session of the tenant is revoked first in the store;
    /// then the news of the shred reaches the tokens, sessions and keys areas (of every
    /// instance, with PostgreSQL), so nothing the tenant's agents or users hold outlives it.
    #[tracing::instrument(name = "job", level = "info", skip_all, fields(job = "shred_tenant", tenant = %ctx.tenant()))]
    pub async fn shred(self, ctx: &TenantContext) -> Result<crate::kms::ShredReport> {
        Ok(self.g.shred_counting(ctx).await?.0)
    }
}
impl Records<'_> {
    /// Seals `plaintext` for the context's tenant under its active key, bound to
    /// `context` (e.g. `"credentials/password/row-42"`). Needs the member role.
    pub async fn seal(
        self,
        ctx: &TenantContext,
        context: &str,
        plaintext: &[u8],
    ) -> Result<SealedValue> {
        self.g.authorize_with(
            ctx,
            Role::Member,
            || format!("values/{context}"),
            ScopeAction::Write,
            "seal",
        )?;
        let key = self.g.active_key(ctx).await?;
        let format = self.g.format_for(ctx).await?;
        Ok(crypto::seal(
            &key,
            ctx.tenant(),
            Context::Caller(context.as_bytes()),
            plaintext,
            format,
        )?)
    }

    /// Opens a value sealed for the context's tenant with the same `context`. Plaintext is
    /// write-only for users: this needs the service role (this guard's capability), and
    /// each open is audited (`credential.open`, target `value:<context>`) before the
    /// plaintext is returned.
    pub async fn open(
        self,
        ctx: &TenantContext,
        context: &str,
        value: &SealedValue,
    ) -> Result<SecretBytes> {
        self.open_value(ctx, context, Cow::Borrowed(value)).await
    }

    /// [`Records::open`] for a value you no longer need (e.g. just read from your
    /// database): it is decrypted in its own buffer instead of a copy, one pass over the
    /// bytes less (benches/BENCHMARKS.md). The value is consumed even when opening fails
    /// (your stored copy is not touched): use `open` if you may retry with this object.
    /// A wrong tenant, context or key fails before anything is decrypted; a value altered
    /// after sealing fails (`Integrity`) and its buffer is wiped.
    pub async fn open_owned(
        self,
        ctx: &TenantContext,
        context: &str,
        value: SealedValue,
    ) -> Result<SecretBytes> {
        self.open_value(ctx, context, Cow::Owned(value)).await
    }

    async fn open_value(
        self,
        ctx: &TenantContext,
        context: &str,
        value: Cow<'_, SealedValue>,
    ) -> Result<SecretBytes> {
        let echoed = crate::scope::echo_str(context);
        let mut target = String::with_capacity(6 + echoed.len());
        target.push_str("value:");
        target.push_str(echoed);
        self.g
            .release(
                ctx,
                Context::Caller(context.as_bytes()),
                value,
                AuditEvent::new(AuditAction::CredentialOpen, target),
            )
            .await
    }

    /// Whether format-v1 values are refused for this tenant (by [`GuardBuilder::refuse_v1`]
    /// or [`Records::set_v1_refused`](crate::Records::set_v1_refused)). Any role, or an
    /// agent with `read` on `keys`.
    pub async fn v1_refused(self, ctx: &TenantContext) -> Result<bool> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            "keys",
            ScopeAction::Read,
            "read the format-v1 setting",
        )?;
        self.g.v1_refused(ctx).await
    }

    /// Switches opening format-v1 values off (or back on) for this tenant, so v1's
    /// ambiguous record context (`record:<class>:<id>`) can no longer be used to pass one
    /// record off as another. Switching off is refused (`Conflict`) while any stored record
    /// is still in format v1 by its sealed bytes: run [`Keys::reencrypt`](crate::Keys::reencrypt) first, and
    /// [`Records::reseal`](crate::Records::reseal) the v1 values you keep outside the store, which this cannot see.
    /// While v1 is refused, every guard seals this tenant's new values in v2 (also one
    /// built with `seal_format(SealFormat::V1)`), so nothing is written that could not be
    /// opened. Kept in the guard's policy store ([`GuardBuilder::policy_store`]; `Config`
    /// without one): every guard that opens this tenant's values must be given that store,
    /// a guard without one does not see the setting. Audited. Needs the owner role.
    pub async fn set_v1_refused(self, ctx: &TenantContext, refused: bool) -> Result<()> {
        self.g
            .require_live(ctx, Role::Owner, "switch format v1 off")
            .await?;
        let policies = self.g.inner.policies.clone().ok_or_else(|| {
            KmsError::Config(
                "set_v1_refused keeps its setting in the policy store: set GuardBuilder::policy_store"
                    .into(),
            )
        })?;
        let was_refused = self.g.tenant_v1_refused(ctx).await?;
        if refused {
            let census = self.g.census(ctx, MAX_PAGE).await?;
            if census.v1 > 0 {
                return Err(StoreError::Conflict(format!(
                    "{} stored records are still in format v1: run reencrypt first",
                    census.v1
                ))
                .into());
            }
        }
        let body = serde_json::json!({ "v1_refused": refused }).to_string();
        policies
            .put_policy(ctx, FORMAT_POLICY, &body, self.g.now())
            .await?;
        // Only a switch from on to off is re-checked: while v1 was already refused, every
        // guard wrote v2, so a v1 record appearing now was planted, and undoing the switch
        // for it would hand a database writer the downgrade path back.
        if refused && !was_refused {
            // A guard still writing v1 (a rollout) may have stored a v1 record between the
            // count and the switch; from the switch on, every guard writes v2 for this
            // tenant (`format_for`). Counting again catches such a record: the switch is
            // undone rather than leaving a record that nothing would open.
            let census = self.g.census(ctx, MAX_PAGE).await?;
            if census.v1 > 0 {
                let back = serde_json::json!({ "v1_refused": false }).to_string();
                policies
                    .put_policy(ctx, FORMAT_POLICY, &back, self.g.now())
                    .await?;
                return Err(StoreError::Conflict(format!(
                    "{} stored records were written in format v1 while switching: run reencrypt, then switch again",
                    census.v1
                ))
                .into());
            }
        }
        self.g
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::PolicyChange, "policy:sealed_format".to_owned())
                    .detail("v1_refused", refused.to_string()),
            )
            .await?;
        Ok(())
    }

    /// Re-seals a value (held outside the store) under the tenant's active key in the
    /// guard's format. The value is always authenticated first, even when it already is
    /// in that key and format (then a copy comes back), so a foreign or tampered value
    /// fails instead of coming back unchanged. Needs the service role.
    pub async fn reseal(
        self,
        ctx: &TenantContext,
        context: &str,
        value: &SealedValue,
    ) -> Result<SealedValue> {
        self.g.require_service(ctx, "reseal a value")?;
        let active = self.g.active_key(ctx).await?;
        let context = Context::Caller(context.as_bytes());
        let plain = self
            .g
            .open_unchecked(ctx, context, Cow::Borrowed(value))
            .await?;
        let format = self.g.format_for(ctx).await?;
        if value.key_id() == active.id() && value.version() == format.version() {
            return Ok(value.clone());
        }
        Ok(crypto::seal(
            &active,
            ctx.tenant(),
            context,
            plain.expose(),
            format,
        )?)
    }

    /// Seals and stores a credential as record `id` (inserting or replacing it). Needs
    /// the member role; the plaintext can never be read back by users.
    pub async fn put_credential(
        self,
        ctx: &TenantContext,
        id: &str,
        credential: &Credential,
    ) -> Result<()> {
        self.g
            .records()
            .put_credential_from(ctx, id, credential, None)
            .await
    }

    /// [`Records::put_credential`](crate::Records::put_credential) for a caller known by `host_key` (IP address or client
    /// id): the `Write` class's per-host-key cell applies when its policy has one.
    pub async fn put_credential_from(
        self,
        ctx: &TenantContext,
        id: &str,
        credential: &Credential,
        host_key: Option<&str>,
    ) -> Result<()> {
        self.g
            .records()
            .put_from(
                ctx,
                id,
                credential.kind().as_str(),
                None,
                credential.secret().expose(),
                host_key,
            )
            .await
    }

    /// Seals and stores `plaintext` as record `id` of data class `class`, optionally
    /// tagged with the data subject it is about. Needs the member role.
    ///
    /// A password (`class` = `password`) is refused (`PortalError::PortalRequired`) once
    /// the tenant marks SSO/MFA portals: store it with [`Portal::put_credential`](crate::Portal::put_credential).
    pub async fn put(
        self,
        ctx: &TenantContext,
        id: &str,
        class: &str,
        subject: Option<&str>,
        plaintext: &[u8],
    ) -> Result<()> {
        self.g
            .records()
            .put_from(ctx, id, class, subject, plaintext, None)
            .await
    }

    /// [`Records::put`](crate::Records::put) for a caller known by `host_key` (IP address or client id):
    /// the `Write` class's per-host-key cell (subject and host key together) applies when
    /// its policy has one.
    pub async fn put_from(
        self,
        ctx: &TenantContext,
        id: &str,
        class: &str,
        subject: Option<&str>,
        plaintext: &[u8],
        host_key: Option<&str>,
    ) -> Result<()> {
        if class == crate::secret::CredentialKind::Password.as_str() {
            self.g.authorize(
                ctx,
                Role::Member,
                &format!("records/{class}/{id}"),
                ScopeAction::Write,
                "store a record",
            )?;
            if self.g.portal_marks_in_use(ctx).await? {
                return Err(crate::portal::PortalError::PortalRequired.into());
            }
        }
        self.g
            .put_record_checked(ctx, id, class, subject, plaintext, host_key)
            .await
    }

    /// Opens stored record `id` (service role only), returning its class and plaintext.
    /// Audited (`credential.open`, without a reason: prefer [`Records::open_record_with_reason`](crate::Records::open_record_with_reason)).
    pub async fn open_record(self, ctx: &TenantContext, id: &str) -> Result<(String, SecretBytes)> {
        self.g.open_record_why(ctx, id, None).await
    }

    /// Opens stored record `id` (service role only) for `reason` (1 to 1024 bytes, e.g.
    /// "run 812 launch"), recorded with who and what in the audit log before the plaintext
    /// is returned: if the audit append fails, nothing is returned.
    pub async fn open_record_with_reason(
        self,
        ctx: &TenantContext,
        id: &str,
        reason: &str,
    ) -> Result<(String, SecretBytes)> {
        if reason.is_empty() || reason.len() > crate::audit::MAX_REASON_LEN {
            return Err(crate::audit::AuditError::InvalidInput(
                "reason must be 1 to 1024 bytes".into(),
            )
            .into());
        }
        self.g.open_record_why(ctx, id, Some(reason)).await
    }

    /// Opens stored credential `id` (service role only) for `reason`; audited like
    /// [`Records::open_record_with_reason`](crate::Records::open_record_with_reason).
    pub async fn open_credential_with_reason(
        self,
        ctx: &TenantContext,
        id: &str,
        reason: &str,
    ) -> Result<Credential> {
        let (class, plain) = self
            .g
            .records()
            .open_record_with_reason(ctx, id, reason)
            .await?;
        let kind = CredentialKind::parse(&class).ok_or_else(|| {
            StoreError::InvalidInput(format!("record {id:?} is not a credential"))
        })?;
        Ok(Credential::new(kind, plain))
    }

    /// Opens stored credential `id` (service role only). Audited without a reason: prefer
    /// [`Records::open_credential_with_reason`](crate::Records::open_credential_with_reason).
    pub async fn open_credential(self, ctx: &TenantContext, id: &str) -> Result<Credential> {
        let (class, plain) = self.g.records().open_record(ctx, id).await?;
        let kind = CredentialKind::parse(&class).ok_or_else(|| {
            StoreError::InvalidInput(format!("record {id:?} is not a credential"))
        })?;
        Ok(Credential::new(kind, plain))
    }

    /// Deletes stored record `id`; returns whether it existed. Needs the member role, or
    /// an agent with `delete` on `records/<class>/<id>`.
    pub async fn delete(self, ctx: &TenantContext, id: &str) -> Result<bool> {
        if ctx.agent_grant().is_some() {
            self.g.check_principal(ctx)?;
            // The scope names the class: look it up (a missing record is "not found" only
            // to an agent that could delete any record).
            let class = match self.g.store().get_record(ctx, id).await? {
                Some(r) => r.class,
                None => "*".to_owned(),
            };
            self.g.authorize(
                ctx,
                Role::Member,
                &format!("records/{class}/{id}"),
                ScopeAction::Delete,
                "delete a record",
            )?;
        } else {
            self.g.require(ctx, Role::Member, "delete a record")?;
        }
        Ok(self.g.store().delete_record(ctx, id).await?)
    }
}
