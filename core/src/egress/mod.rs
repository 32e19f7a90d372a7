//! AI egress control: per-organization [`EgressPolicy`], the sub-processor [`Registry`],
//! and [`Egress::prepare`], called right before any LLM or third-party call.
//!
//! ```
//! use std::sync::Arc;
//! use tenantguard::egress::{Egress, EgressDecision, EgressPolicy, RedactionLevel, Registry};
//! use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let (guard, service) = Guard::builder().key_provider(LocalKeyProvider::ephemeral()).store_arc(store.clone()).build_with_service()?;
//! let acme = TenantContext::service(TenantId::new("acme")?, &service);
//! guard.keys().create_tenant(&acme).await?;
//! let egress = Egress::builder(guard).policy_store(store).registry(Registry::example()).build()?;
//!
//! // The default policy is permissive: the text goes out unchanged.
//! let d = egress.prepare(&acme, "llm-chat", "Mail jane@example.com").await?;
//! assert_eq!(d.allowed().unwrap().text, "Mail jane@example.com");
//!
//! // An organization opts into redaction by policy alone.
//! egress.set_policy(&acme, &EgressPolicy { redaction: RedactionLevel::Pii, ..Default::default() }).await?;
//! let EgressDecision::Allowed(p) = egress.prepare(&acme, "llm-chat", "Mail jane@example.com").await? else { panic!() };
//! assert_eq!(p.text, "Mail <EMAIL_1>");
//! assert_eq!(p.restore("Done: wrote to <EMAIL_1>")?, "Done: wrote to jane@example.com");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod registry;

pub use registry::{category, Registry, SubProcessor, MAX_PROVIDERS};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::audit::{AuditAction, AuditEvent};
use crate::error::{ErrorKind, Result};
use crate::guard::Guard;
use crate::policy::PolicyStore;
use crate::redact::{
    self, Category, HashKey, Operation, Operator, OrgPattern, PseudonymSession, RedactError,
    Redactor, DEFAULT_SESSION_TTL,
};
use crate::scope::Action as ScopeAction;
use crate::tenant::{Principal, Role, TenantContext, TenantId};

/// The policy kind under which the egress policy is stored.
pub const POLICY_KIND: &str = "egress";
/// How many tenants' compiled policies are cached.
const POLICY_CACHE: usize = 1024;

/// Errors from egress policies and requests.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EgressError {
    /// The policy or registry entry is invalid.
    #[error("invalid egress policy: {0}")]
    InvalidPolicy(String),
    /// The builder lacks something it needs.
    #[error("egress configuration: {0}")]
    Config(String),
}

impl EgressError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EgressError::InvalidPolicy(_) => ErrorKind::InvalidInput,
            EgressError::Config(_) => ErrorKind::Config,
        }
    }
}

/// How much is redacted before text leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionLevel {
    /// Nothing is redacted (the permissive default).
    #[default]
    Off,
    /// Personal data is redacted.
    Pii,
    /// Personal data, secrets and the organization's own terms and patterns are redacted.
    Strict,
}

impl RedactionLevel {
    fn categories(self) -> &'static [Category] {
        match self {
            RedactionLevel::Off => &[],
            RedactionLevel::Pii => &[Category::Pii],
            RedactionLevel::Strict => &[Category::Pii, Category::Secret, Category::Organization],
        }
    }
}

/// Retention hints to pass to the provider with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionHints {
    /// Ask for zero data retention.
    pub zero_data_retention: bool,
    /// Allow the provider's prompt cache.
    pub prompt_cache: bool,
    /// Longest retention the organization accepts, in days.
    pub max_retention_days: Option<u32>,
}

impl Default for RetentionHints {
    fn default() -> Self {
        RetentionHints {
            zero_data_retention: false,
            prompt_cache: true,
            max_retention_days: None,
        }
    }
}

/// One organization's egress policy, stored in the store as JSON and changed without code.
///
/// The default is permissive (every registered provider, every category, no redaction);
/// [`EgressPolicy::strict`] is the opt-in strict posture.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressPolicy {
    /// Providers that may receive data; `None` means every registered provider.
    pub allowed_providers: Option<BTreeSet<String>>,
    /// Optional providers the organization opted out of.
    pub opted_out: BTreeSet<String>,
    /// Data categories a provider may receive. A provider not listed is not restricted;
    /// a listed one is refused text of another category, and text holding values of an
    /// unlisted category (`pii`, `credentials`, `confidential`) that the level does not redact.
    pub categories: BTreeMap<String, BTreeSet<String>>,
    /// How much is redacted.
    pub redaction: RedactionLevel,
    /// How redacted values are replaced (default: restorable placeholders).
    pub operator: Operator,
    /// The organization's confidential terms (redacted at the strict level).
    pub terms: Vec<String>,
    /// The organization's regexes (redacted at the strict level).
    pub patterns: Vec<OrgPattern>,
    /// Agent-token prefix to recognize (default `tg_`).
    pub agent_prefix: Option<String>,
    /// Redact random-looking identifiers (commit ids and digests in context, UUIDs, base64
    /// images) as secrets when secrets are redacted (default `false`; see
    /// [`crate::redact::RedactorBuilder::identifiers_as_secrets`]).
    pub identifiers_as_secrets: bool,
    /// The organization's own person names (employees, customers), found as names wherever
    /// personal data is redacted, like the built-in gazetteer (see
    /// [`crate::redact::RedactorBuilder::names`]; at most
    /// [`crate::redact::MAX_ORG_NAMES`], each at most [`crate::redact::MAX_NAME_LEN`] bytes).
    pub names: Vec<String>,
    /// Words never taken as part of a person name (product or brand names such as `Hope`),
    /// any case, word by word (see [`crate::redact::RedactorBuilder::exempt`]; same limits).
    pub exempt: Vec<String>,
    /// Hints for the provider.
    pub retention: RetentionHints,
}

impl EgressPolicy {
    /// The strict posture: everything redacted, zero retention and no prompt cache asked.
    pub fn strict() -> Self {
        EgressPolicy {
            redaction: RedactionLevel::Strict,
            retention: RetentionHints {
                zero_data_retention: true,
                prompt_cache: false,
                max_retention_days: Some(0),
            },
            ..Default::default()
        }
    }

    /// A builder with the policy's settings that apply at every level.
    fn builder(&self, categories: &[Category]) -> redact::RedactorBuilder {
        Redactor::builder()
            .categories(categories)
            .identifiers_as_secrets(self.identifiers_as_secrets)
            .names(self.names.iter().cloned())
            .exempt(self.exempt.iter().cloned())
    }

    fn redactor(&self) -> std::result::Result<Redactor, RedactError> {
        let mut b = self.builder(self.redaction.categories());
        if let Some(p) = &self.agent_prefix {
            b = b.agent_prefix(p.clone());
        }
        if self.redaction == RedactionLevel::Strict {
            b = b.terms(self.terms.iter().cloned());
            for p in &self.patterns {
                b = b.pattern(p.clone());
            }
        }
        b.build()
    }

    fn unredacted(&self) -> std::result::Result<Redactor, RedactError> {
        let left: Vec<Category> = [Category::Pii, Category::Secret, Category::Organization]
            .into_iter()
            .filter(|k| !self.redaction.categories().contains(k))
            .collect();
        let mut b = self.builder(&left);
        if let Some(p) = &self.agent_prefix {
            b = b.agent_prefix(p.clone());
        }
        if left.contains(&Category::Organization) {
            b = b.terms(self.terms.iter().cloned());
            for p in &self.patterns {
                b = b.pattern(p.clone());
            }
        }
        b.build()
    }

    /// Checks the policy against the registry (and compiles its terms and patterns).
    pub fn validate(&self, registry: &Registry) -> std::result::Result<(), EgressError> {
        let known = |id: &String| registry.get(id).is_some();
        let names = self
            .allowed_providers
            .iter()
            .flatten()
            .chain(&self.opted_out)
            .chain(self.categories.keys());
        for id in names {
            if !known(id) {
                return Err(EgressError::InvalidPolicy(format!(
                    "provider {id:?} is not in the sub-processor registry"
                )));
            }
        }
        for id in &self.opted_out {
            if registry.get(id).is_some_and(|p| !p.optional) {
                return Err(EgressError::InvalidPolicy(format!(
                    "provider {id:?} is not optional: restrict it with allowed_providers instead"
                )));
            }
        }
        if self
            .categories
            .values()
            .flatten()
            .any(|c| !registry::valid_id(c))
        {
            return Err(EgressError::InvalidPolicy(
                "a data category is 1 to 64 characters from a-z 0-9 - _ .".into(),
            ));
        }
        // Compile terms, patterns, names and exempt words even when the level does not use
        // them yet.
        let mut b = self
            .builder(&[Category::Pii])
            .terms(self.terms.iter().cloned());
        for p in &self.patterns {
            b = b.pattern(p.clone());
        }
        if let Some(p) = &self.agent_prefix {
            b = b.agent_prefix(p.clone());
        }
        b.build()
            .map_err(|e| EgressError::InvalidPolicy(e.to_string()))?;
        Ok(())
    }
}

/// Why a request was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum DenyReason {
    /// The provider is not in the sub-processor registry.
    UnknownProvider,
    /// The organization's policy does not allow this provider.
    ProviderNotAllowed,
    /// The organization opted out of this optional provider.
    OptedOut,
    /// The provider may not receive this data category.
    CategoryNotAllowed {
        /// The category.
        category: String,
    },
    /// The text is larger than [`redact::MAX_TEXT_LEN`].
    TooLarge,
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DenyReason::UnknownProvider => {
                f.write_str("the provider is not a registered sub-processor")
            }
            DenyReason::ProviderNotAllowed => {
                f.write_str("the organization's policy does not allow this provider")
            }
            DenyReason::OptedOut => f.write_str("the organization opted out of this provider"),
            DenyReason::CategoryNotAllowed { category } => write!(
                f,
                "the provider may not receive {category} data under the organization's policy"
            ),
            DenyReason::TooLarge => write!(
                f,
                "the text is over the {} byte limit",
                redact::MAX_TEXT_LEN
            ),
        }
    }
}

/// Text that may be sent, with what was replaced.
#[derive(Debug)]
#[non_exhaustive]
pub struct Prepared {
    /// The provider it is for.
    pub provider: String,
    /// The text to send.
    pub text: String,
    /// How many values of each tag were replaced (counts only).
    pub summary: BTreeMap<String, usize>,
    /// Hints to pass to the provider.
    pub retention: RetentionHints,
    /// The mapping to restore the answer, when the operator is restorable and something was replaced.
    pub session: Option<Arc<PseudonymSession>>,
}

impl Prepared {
    /// Puts the original values back into the provider's answer (unchanged if nothing was pseudonymized).
    pub fn restore(&self, answer: &str) -> std::result::Result<String, RedactError> {
        match &self.session {
            Some(s) => s.restore(answer),
            None => Ok(answer.to_owned()),
        }
    }

    /// [`Prepared::restore`] for an answer arriving in chunks (a placeholder may be split
    /// across them); passes text through if nothing was pseudonymized.
    pub fn stream(&self) -> crate::redact::OwnedStreamRestorer {
        match &self.session {
            Some(s) => s.stream_owned(),
            None => crate::redact::OwnedStreamRestorer::passthrough(),
        }
    }
}

/// The outcome of [`Egress::prepare`].
#[derive(Debug)]
pub enum EgressDecision {
    /// The text may be sent.
    Allowed(Prepared),
    /// The request is refused.
    Denied {
        /// Why.
        reason: DenyReason,
    },
}

impl EgressDecision {
    /// The prepared text, if allowed.
    pub fn allowed(&self) -> Option<&Prepared> {
        match self {
            EgressDecision::Allowed(p) => Some(p),
            EgressDecision::Denied { .. } => None,
        }
    }
}

/// One egress decision, for the audit log. Holds counts, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EgressEvent {
    /// The tenant.
    pub tenant: TenantId,
    /// Who asked: `service` or the user id.
    pub actor: String,
    /// The provider.
    pub provider: String,
    /// The data category of the text.
    pub category: String,
    /// Whether it was allowed.
    pub allowed: bool,
    /// Why not, if denied.
    pub reason: Option<DenyReason>,
    /// The redaction level applied.
    pub level: RedactionLevel,
    /// The policy version (0: the default policy).
    pub policy_version: u64,
    /// Values replaced, per tag.
    pub redacted: BTreeMap<String, usize>,
    /// Bytes in, and bytes sent (0 if denied).
    pub bytes_in: usize,
    /// Bytes sent.
    pub bytes_out: usize,
    /// When, Unix seconds.
    pub at: i64,
}

/// Receives every egress decision (the audit log persists them).
pub trait EgressObserver: Send + Sync {
    /// Called once per [`Egress::prepare`] outcome, allowed or denied.
    fn on_egress(&self, event: &EgressEvent);
}

/// One request to [`Egress::prepare_with`]. Its `Debug` shows the text's length, never
/// the text (which holds what redaction is for).
#[derive(Clone)]
pub struct EgressRequest<'a> {
    /// The provider id.
    pub provider: &'a str,
    /// The text to send.
    pub text: &'a str,
    /// Its data category (default `prompts`).
    pub category: &'a str,
    /// An existing session to extend (multi-turn); a new one is made if `None`.
    pub session: Option<Arc<PseudonymSession>>,
}

impl std::fmt::Debug for EgressRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressRequest")
            .field("provider", &self.provider)
            .field("text_len", &self.text.len())
            .field("category", &self.category)
            .field("session", &self.session)
            .finish()
    }
}

impl<'a> EgressRequest<'a> {
    /// A prompt for `provider`.
    pub fn new(provider: &'a str, text: &'a str) -> Self {
        EgressRequest {
            provider,
            text,
            category: category::PROMPTS,
            session: None,
        }
    }
}

struct Compiled {
    body: String,
    version: u64,
    policy: Arc<EgressPolicy>,
    /// Finds what the level redacts.
    redactor: Redactor,
    /// Finds what the level leaves in (checked against restricted providers' categories).
    unredacted: Redactor,
}

/// Builds an [`Egress`].
#[must_use]
pub struct EgressBuilder {
    guard: Guard,
    store: Option<Arc<dyn PolicyStore>>,
    registry: Registry,
    observers: Vec<Arc<dyn EgressObserver>>,
}

impl EgressBuilder {
    /// Where policies are stored (required; usually the same store as the guard's).
    pub fn policy_store(mut self, store: Arc<dyn PolicyStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The sub-processor registry (default: empty, so every provider is unknown).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Adds an observer of egress events.
    pub fn observer(mut self, o: Arc<dyn EgressObserver>) -> Self {
        self.observers.push(o);
        self
    }

    /// Builds; without [`EgressBuilder::policy_store`] uses the guard's
    /// ([`crate::Guard::policy_store`]), failing with `Config` if it has none.
    pub fn build(self) -> Result<Egress> {
        let store = self
            .store
            .or_else(|| self.guard.policies())
            .ok_or_else(|| EgressError::Config("EgressBuilder needs a policy_store".into()))?;
        Ok(Egress {
            inner: Arc::new(EgressInner {
                guard: self.guard,
                store,
                registry: self.registry,
                observers: self.observers,
                cache: Mutex::new(crate::bounded::ordered_map()),
            }),
        })
    }
}

struct EgressInner {
    guard: Guard,
    store: Arc<dyn PolicyStore>,
    registry: Registry,
    observers: Vec<Arc<dyn EgressObserver>>,
    /// Compiled policies by tenant, at most [`POLICY_CACHE`], the oldest dropped first.
    cache: Mutex<crate::bounded::OrderedMap<TenantId, Arc<Compiled>>>,
}

/// Egress control for every organization. Cheap to clone.
#[derive(Clone)]
pub struct Egress {
    inner: Arc<EgressInner>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("providers", &self.inner.registry.iter().count())
            .finish_non_exhaustive()
    }
}

impl Egress {
    /// Starts a builder on `guard` (used for the per-tenant hash key).
    pub fn builder(guard: Guard) -> EgressBuilder {
        EgressBuilder {
            guard,
            store: None,
            registry: Registry::new(),
            observers: Vec::new(),
        }
    }

    /// The sub-processor registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The organization's policy (the default if never set). Any role.
    pub async fn policy(&self, ctx: &TenantContext) -> Result<EgressPolicy> {
        self.inner.guard.authorize(
            ctx,
            Role::Viewer,
            "policies/egress",
            ScopeAction::Read,
            "read the egress policy",
        )?;
        Ok(self.compiled(ctx).await?.policy.as_ref().clone())
    }

    /// Replaces the organization's policy after validating it; returns its version. Needs the admin role.
    pub async fn set_policy(&self, ctx: &TenantContext, policy: &EgressPolicy) -> Result<u64> {
        self.inner
            .guard
            .authorize_live(
                ctx,
                Role::Admin,
                "policies/egress",
                ScopeAction::Admin,
                "change the egress policy",
            )
            .await?;
        policy.validate(&self.inner.registry)?;
        let body =
            serde_json::to_string(policy).map_err(|e| EgressError::InvalidPolicy(e.to_string()))?;
        let v = self
            .inner
            .store
            .put_policy(ctx, POLICY_KIND, &body, self.inner.guard.now())
            .await?;
        self.inner
            .guard
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::PolicyChange, POLICY_KIND)
                    .detail("version", v.to_string())
                    .detail("redaction", format!("{:?}", policy.redaction)),
            )
            .await?;
        Ok(v)
    }

    async fn compiled(&self, ctx: &TenantContext) -> Result<Arc<Compiled>> {
        let doc = self.inner.store.get_policy(ctx, POLICY_KIND).await?;
        let (body, version) = doc.map_or((String::new(), 0), |d| (d.body, d.version));
        let cache = &self.inner.cache;
        if let Some(c) = cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(ctx.tenant())
        {
            if c.body == body && c.version == version {
                return Ok(c.clone());
            }
        }
        let policy: EgressPolicy = if body.is_empty() {
            EgressPolicy::default()
        } else {
            serde_json::from_str(&body)
                .map_err(|e| EgressError::InvalidPolicy(format!("stored policy: {e}")))?
        };
        let redactor = policy.redactor()?;
        let unredacted = policy.unredacted()?;
        let c = Arc::new(Compiled {
            body,
            version,
            policy: Arc::new(policy),
            redactor,
            unredacted,
        });
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        crate::bounded::insert_bounded(
            &mut map,
            ctx.tenant().clone(),
            c.clone(),
            POLICY_CACHE,
            |_| false,
        );
        Ok(c)
    }

    /// Decides whether `text` may go to `provider` and redacts it per the organization's
    /// policy. Emits one [`EgressEvent`]. Any role.
    pub async fn prepare(
        &self,
        ctx: &TenantContext,
        provider: &str,
        text: &str,
    ) -> Result<EgressDecision> {
        self.prepare_with(ctx, EgressRequest::new(provider, text))
            .await
    }

    /// Like [`Egress::prepare`] with a data category and an optional existing session.
    pub async fn prepare_with(
        &self,
        ctx: &TenantContext,
        req: EgressRequest<'_>,
    ) -> Result<EgressDecision> {
        self.prepare_from(ctx, req, None).await
    }

    /// [`Egress::prepare_with`] for a caller known by `host_key` (IP address or client
    /// id): the `EgressPrepare` class's per-host-key cell applies when its policy has one.
    pub async fn prepare_from(
        &self,
        ctx: &TenantContext,
        req: EgressRequest<'_>,
        host_key: Option<&str>,
    ) -> Result<EgressDecision> {
        self.inner.guard.authorize(
            ctx,
            Role::Viewer,
            &format!("egress/{}", req.provider),
            ScopeAction::Write,
            "send data to a sub-processor",
        )?;
        self.inner
            .guard
            .limit_from(
                ctx,
                crate::ratelimit::ActionClass::EgressPrepare,
                None,
                host_key,
            )
            .await?;
        let c = self.compiled(ctx).await?;
        let policy = &c.policy;
        let mut event = EgressEvent {
            tenant: ctx.tenant().clone(),
            actor: match ctx.principal() {
                Principal::Service => "service".to_owned(),
                Principal::User { user, .. } => user.as_str().to_owned(),
                Principal::Agent(g) => format!("agent:{}", g.agent),
            },
            provider: req.provider.to_owned(),
            category: req.category.to_owned(),
            allowed: false,
            reason: None,
            level: policy.redaction,
            policy_version: c.version,
            redacted: BTreeMap::new(),
            bytes_in: req.text.len(),
            bytes_out: 0,
            at: self.inner.guard.now(),
        };
        match self.decide(ctx, &c, &req).await? {
            Ok(prepared) => {
                event.allowed = true;
                event.redacted = prepared.summary.clone();
                event.bytes_out = prepared.text.len();
                self.emit(&event);
                self.record(ctx, &event).await?;
                Ok(EgressDecision::Allowed(prepared))
            }
            Err(reason) => {
                event.reason = Some(reason.clone());
                self.emit(&event);
                self.record(ctx, &event).await?;
                Ok(EgressDecision::Denied { reason })
            }
        }
    }

    /// Writes the decision to the tenant's audit log (counts only, never values). If the
    /// log cannot be written, the caller gets the error and nothing leaves.
    async fn record(&self, ctx: &TenantContext, e: &EgressEvent) -> Result<()> {
        let mut ev = AuditEvent::new(AuditAction::EgressDecision, e.provider.clone())
            .detail("allowed", e.allowed.to_string())
            .detail("category", e.category.clone())
            .detail("level", format!("{:?}", e.level))
            .detail("policy_version", e.policy_version.to_string())
            .detail("bytes_in", e.bytes_in.to_string())
            .detail("bytes_out", e.bytes_out.to_string());
        if let Some(r) = &e.reason {
            ev = ev.detail("reason", r.to_string());
        }
        for (tag, n) in e.redacted.iter().take(16) {
            ev = ev.detail(format!("redacted.{tag}"), n.to_string());
        }
        self.inner.guard.append_audit(ctx, ev).await?;
        Ok(())
    }

    fn emit(&self, event: &EgressEvent) {
        for o in &self.inner.observers {
            o.on_egress(event);
        }
    }

    async fn decide(
        &self,
        ctx: &TenantContext,
        c: &Compiled,
        req: &EgressRequest<'_>,
    ) -> Result<std::result::Result<Prepared, DenyReason>> {
        let policy = &c.policy;
        let Some(sp) = self.inner.registry.get(req.provider) else {
            return Ok(Err(DenyReason::UnknownProvider));
        };
        if policy
            .allowed_providers
            .as_ref()
            .is_some_and(|a| !a.contains(&sp.id))
        {
            return Ok(Err(DenyReason::ProviderNotAllowed));
        }
        if sp.optional && policy.opted_out.contains(&sp.id) {
            return Ok(Err(DenyReason::OptedOut));
        }
        let allowed_cats = policy.categories.get(&sp.id);
        if allowed_cats.is_some_and(|a| !a.contains(req.category)) {
            return Ok(Err(DenyReason::CategoryNotAllowed {
                category: req.category.to_owned(),
            }));
        }
        if req.text.len() > redact::MAX_TEXT_LEN {
            return Ok(Err(DenyReason::TooLarge));
        }
        let retention = policy.retention.clone();
        if policy.redaction == RedactionLevel::Off && allowed_cats.is_none() {
            return Ok(Ok(Prepared {
                provider: sp.id.clone(),
                text: req.text.to_owned(),
                summary: BTreeMap::new(),
                retention,
                session: None,
            }));
        }
        // Values the level does not redact still count against a restricted provider's categories.
        if let Some(allowed) = allowed_cats {
            for f in c.unredacted.find(req.text)? {
                let cat = match f.kind.category() {
                    Category::Pii => category::PII,
                    Category::Secret => category::CREDENTIALS,
                    Category::Organization => category::CONFIDENTIAL,
                };
                if !allowed.contains(cat) {
                    return Ok(Err(DenyReason::CategoryNotAllowed {
                        category: cat.to_owned(),
                    }));
                }
            }
        }
        let findings = c.redactor.find(req.text)?;
        if findings.is_empty() {
            return Ok(Ok(Prepared {
                provider: sp.id.clone(),
                text: req.text.to_owned(),
                summary: BTreeMap::new(),
                retention,
                session: None,
            }));
        }
        let mut session = None;
        let text = match policy.operator {
            Operator::Mask => redact::apply(req.text, &findings, &Operation::Mask)?,
            Operator::Tag => redact::apply(req.text, &findings, &Operation::Tag)?,
            Operator::Hash => {
                let key = self.inner.guard.active_key(ctx).await?;
                redact::apply(
                    req.text,
                    &findings,
                    &Operation::Hash(&HashKey::from_tenant_key(&key)),
                )?
            }
            op @ (Operator::Fake | Operator::Pseudonymize) => {
                let s = match &req.session {
                    Some(s) if s.tenant() == ctx.tenant() => s.clone(),
                    Some(_) => return Err(crate::tenant::TenantError::CrossTenant.into()),
                    None => Arc::new(PseudonymSession::new(ctx.tenant(), DEFAULT_SESSION_TTL)?),
                };
                let o = if op == Operator::Fake {
                    Operation::Fake(&s)
                } else {
                    Operation::Pseudonymize(&s)
                };
                let t = redact::apply(req.text, &findings, &o)?;
                session = Some(s);
                t
            }
        };
        let mut summary = BTreeMap::new();
        for f in &findings {
            *summary.entry(f.kind.tag().to_owned()).or_insert(0) += 1;
        }
        Ok(Ok(Prepared {
            provider: sp.id.clone(),
            text,
            summary,
            retention,
            session,
        }))
    }
}
