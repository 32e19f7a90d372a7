//! AI egress and redaction: per-organization `EgressPolicy`, `Egress.prepare`, the
//! one-pass `Redactor` and reversible `PseudonymSession`s. Conversions only.

use std::collections::HashMap;
use std::sync::Arc;

use tenantguard::egress as core_egress;
use tenantguard::redact as core_redact;

use crate::dual::dual;
use crate::error::{HostError, TenantguardError};
use crate::guard::Guard;
use crate::provider::Store;
use crate::runtime::{block_on_in, in_call, CallId};
use crate::types::{tenant_id, TenantContext};
use tenantguard::ErrorKind;

type Result<T, E = TenantguardError> = std::result::Result<T, E>;

fn core_err<E: Into<tenantguard::Error>>(e: E) -> TenantguardError {
    TenantguardError::from(e.into())
}

// ---------------------------------------------------------------------------------------
// Policy

/// How much is redacted before text leaves.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactionLevel {
    /// Nothing (the permissive default).
    Off,
    /// Personal data.
    Pii,
    /// Personal data, secrets and the organization's own terms and patterns.
    Strict,
}

/// How recognized values are replaced.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactOperator {
    /// Letters and digits become `*` (cards, phones, IBANs, SSNs keep their last 4 digits).
    Mask,
    /// The value becomes its type tag, e.g. `[EMAIL]`.
    Tag,
    /// A keyed per-tenant hash tag, e.g. `[EMAIL:3f9a1c2b7d6e]`.
    Hash,
    /// Valid-looking fakes of the same shape. Restorable.
    Fake,
    /// Per-request placeholders such as `<EMAIL_1>`. Restorable.
    Pseudonymize,
}

/// Retention hints to pass to the provider.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct RetentionHints {
    /// Ask for zero data retention.
    pub zero_data_retention: bool,
    /// Allow the provider's prompt cache.
    pub prompt_cache: bool,
    /// Longest retention accepted, in days.
    pub max_retention_days: Option<u32>,
}

/// An organization-defined regex and the tag of what it finds.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct OrgPattern {
    /// The tag, e.g. `PROJECT_CODE` (1 to 32 characters from `A-Z 0-9 _`).
    pub tag: String,
    /// The regex (Rust `regex` syntax; at most 1 KiB).
    pub regex: String,
}

/// One organization's egress policy. Start from [`egress_policy_default`] or
/// [`egress_policy_strict`] and `copy(...)` what you change.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Providers that may receive data; `null` means every registered provider.
    pub allowed_providers: Option<Vec<String>>,
    /// Optional providers the organization opted out of.
    pub opted_out: Vec<String>,
    /// Data categories each listed provider may receive (unlisted providers are unrestricted).
    pub categories: HashMap<String, Vec<String>>,
    /// How much is redacted.
    pub redaction: RedactionLevel,
    /// How redacted values are replaced.
    pub operator: RedactOperator,
    /// The organization's confidential terms (redacted at the strict level).
    pub terms: Vec<String>,
    /// The organization's regexes (redacted at the strict level).
    pub patterns: Vec<OrgPattern>,
    /// Agent-token prefix to recognize (default `tg_`).
    pub agent_prefix: Option<String>,
    /// Hints for the provider.
    pub retention: RetentionHints,
    /// Redact commit ids and digests in context, UUIDs and base64 images as secrets too.
    #[uniffi(default = false)]
    pub identifiers_as_secrets: bool,
    /// The organization's own person names, found wherever personal data is redacted.
    #[uniffi(default = [])]
    pub names: Vec<String>,
    /// Words never taken as part of a person name (product or brand names).
    #[uniffi(default = [])]
    pub exempt: Vec<String>,
}

impl From<EgressPolicy> for core_egress::EgressPolicy {
    fn from(p: EgressPolicy) -> Self {
        core_egress::EgressPolicy {
            allowed_providers: p.allowed_providers.map(|v| v.into_iter().collect()),
            opted_out: p.opted_out.into_iter().collect(),
            categories: p
                .categories
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
            redaction: match p.redaction {
                RedactionLevel::Off => core_egress::RedactionLevel::Off,
                RedactionLevel::Pii => core_egress::RedactionLevel::Pii,
                RedactionLevel::Strict => core_egress::RedactionLevel::Strict,
            },
            operator: match p.operator {
                RedactOperator::Mask => core_redact::Operator::Mask,
                RedactOperator::Tag => core_redact::Operator::Tag,
                RedactOperator::Hash => core_redact::Operator::Hash,
                RedactOperator::Fake => core_redact::Operator::Fake,
                RedactOperator::Pseudonymize => core_redact::Operator::Pseudonymize,
            },
            terms: p.terms,
            patterns: p
                .patterns
                .into_iter()
                .map(|o| core_redact::OrgPattern {
                    tag: o.tag,
                    regex: o.regex,
                })
                .collect(),
            agent_prefix: p.agent_prefix,
            identifiers_as_secrets: p.identifiers_as_secrets,
            names: p.names,
            exempt: p.exempt,
            retention: core_egress::RetentionHints {
                zero_data_retention: p.retention.zero_data_retention,
                prompt_cache: p.retention.prompt_cache,
                max_retention_days: p.retention.max_retention_days,
            },
        }
    }
}

fn hints(r: core_egress::RetentionHints) -> RetentionHints {
    RetentionHints {
        zero_data_retention: r.zero_data_retention,
        prompt_cache: r.prompt_cache,
        max_retention_days: r.max_retention_days,
    }
}

impl From<core_egress::EgressPolicy> for EgressPolicy {
    fn from(p: core_egress::EgressPolicy) -> Self {
        EgressPolicy {
            allowed_providers: p.allowed_providers.map(|v| v.into_iter().collect()),
            opted_out: p.opted_out.into_iter().collect(),
            categories: p
                .categories
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
            redaction: match p.redaction {
                core_egress::RedactionLevel::Off => RedactionLevel::Off,
                core_egress::RedactionLevel::Pii => RedactionLevel::Pii,
                core_egress::RedactionLevel::Strict => RedactionLevel::Strict,
            },
            operator: match p.operator {
                core_redact::Operator::Mask => RedactOperator::Mask,
                core_redact::Operator::Tag => RedactOperator::Tag,
                core_redact::Operator::Hash => RedactOperator::Hash,
                core_redact::Operator::Fake => RedactOperator::Fake,
                core_redact::Operator::Pseudonymize => RedactOperator::Pseudonymize,
            },
            terms: p.terms,
            patterns: p
                .patterns
                .into_iter()
                .map(|o| OrgPattern {
                    tag: o.tag,
                    regex: o.regex,
                })
                .collect(),
            agent_prefix: p.agent_prefix,
            retention: hints(p.retention),
            identifiers_as_secrets: p.identifiers_as_secrets,
            names: p.names,
            exempt: p.exempt,
        }
    }
}

/// The permissive default policy (every registered provider, no redaction).
#[uniffi::export]
pub fn egress_policy_default() -> EgressPolicy {
    core_egress::EgressPolicy::default().into()
}

/// The strict posture: everything redacted, zero retention and no prompt cache asked.
#[uniffi::export]
pub fn egress_policy_strict() -> EgressPolicy {
    core_egress::EgressPolicy::strict().into()
}

// ---------------------------------------------------------------------------------------
// Registry

/// One third party that may receive data.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct SubProcessor {
    /// Stable id used in policies and calls, e.g. `llm-chat`.
    pub id: String,
    /// The company or service.
    pub name: String,
    /// Why it receives data.
    pub purpose: String,
    /// The data categories it receives (`prompts`, `documents`, `pii`...).
    pub data_categories: Vec<String>,
    /// Whether an organization may opt out of it.
    pub optional: bool,
    /// Where it processes data (free text, may be empty).
    pub location: String,
}

impl From<&core_egress::SubProcessor> for SubProcessor {
    fn from(p: &core_egress::SubProcessor) -> Self {
        SubProcessor {
            id: p.id.clone(),
            name: p.name.clone(),
            purpose: p.purpose.clone(),
            data_categories: p.data_categories.clone(),
            optional: p.optional,
            location: p.location.clone(),
        }
    }
}

/// A typical AI product's registry (chat LLM, agents LLM, optional reranker and observability).
#[uniffi::export]
pub fn example_registry() -> Vec<SubProcessor> {
    core_egress::Registry::example()
        .iter()
        .map(SubProcessor::from)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Decisions

/// Why a request was refused.
#[derive(uniffi::Enum, Clone, Debug, PartialEq, Eq)]
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
    /// The text is over the 4 MiB limit.
    TooLarge,
    /// A reason added to the core after this binding was built.
    Other,
}

impl From<&core_egress::DenyReason> for DenyReason {
    fn from(r: &core_egress::DenyReason) -> Self {
        match r {
            core_egress::DenyReason::UnknownProvider => DenyReason::UnknownProvider,
            core_egress::DenyReason::ProviderNotAllowed => DenyReason::ProviderNotAllowed,
            core_egress::DenyReason::OptedOut => DenyReason::OptedOut,
            core_egress::DenyReason::CategoryNotAllowed { category } => {
                DenyReason::CategoryNotAllowed {
                    category: category.clone(),
                }
            }
            core_egress::DenyReason::TooLarge => DenyReason::TooLarge,
            _ => DenyReason::Other,
        }
    }
}

/// Text that may be sent: the (redacted) text, counts of what was replaced, and the
/// mapping to restore the provider's answer.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct Prepared(core_egress::Prepared);

#[uniffi::export]
impl Prepared {
    /// The provider it is for.
    pub fn provider(&self) -> String {
        self.0.provider.clone()
    }

    /// The text to send.
    pub fn text(&self) -> String {
        self.0.text.clone()
    }

    /// How many values of each tag were replaced.
    pub fn summary(&self) -> HashMap<String, u64> {
        self.0
            .summary
            .iter()
            .map(|(k, v)| (k.clone(), *v as u64))
            .collect()
    }

    /// Hints to pass to the provider.
    pub fn retention(&self) -> RetentionHints {
        hints(self.0.retention.clone())
    }

    /// The pseudonym session (pass it to the next turn's `prepare`), if one was used.
    pub fn session(&self) -> Option<Arc<PseudonymSession>> {
        self.0
            .session
            .clone()
            .map(|s| Arc::new(PseudonymSession(s)))
    }

    /// Puts the original values back into the provider's answer.
    pub fn restore(&self, answer: String) -> Result<String> {
        self.0.restore(&answer).map_err(core_err)
    }
}

/// The outcome of `Egress.prepare`.
#[derive(uniffi::Enum, Debug)]
pub enum EgressDecision {
    /// The text may be sent.
    Allowed {
        /// What to send.
        prepared: Arc<Prepared>,
    },
    /// The request is refused.
    Denied {
        /// Why.
        reason: DenyReason,
        /// The core's explanation.
        message: String,
    },
}

impl From<core_egress::EgressDecision> for EgressDecision {
    fn from(d: core_egress::EgressDecision) -> Self {
        match d {
            core_egress::EgressDecision::Allowed(p) => EgressDecision::Allowed {
                prepared: Arc::new(Prepared(p)),
            },
            core_egress::EgressDecision::Denied { reason } => EgressDecision::Denied {
                message: reason.to_string(),
                reason: (&reason).into(),
            },
        }
    }
}

/// One egress decision as observers see it: counts and sizes, never the text.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct EgressEvent {
    /// The tenant.
    pub tenant: String,
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
    pub redacted: HashMap<String, u64>,
    /// Bytes of the text asked to send.
    pub bytes_in: u64,
    /// Bytes sent (0 if denied).
    pub bytes_out: u64,
    /// When, Unix seconds.
    pub at: i64,
}

impl From<&core_egress::EgressEvent> for EgressEvent {
    fn from(e: &core_egress::EgressEvent) -> Self {
        EgressEvent {
            tenant: e.tenant.as_str().to_owned(),
            actor: e.actor.clone(),
            provider: e.provider.clone(),
            category: e.category.clone(),
            allowed: e.allowed,
            reason: e.reason.as_ref().map(DenyReason::from),
            level: match e.level {
                core_egress::RedactionLevel::Off => RedactionLevel::Off,
                core_egress::RedactionLevel::Pii => RedactionLevel::Pii,
                core_egress::RedactionLevel::Strict => RedactionLevel::Strict,
            },
            policy_version: e.policy_version,
            redacted: e
                .redacted
                .iter()
                .map(|(k, v)| (k.clone(), *v as u64))
                .collect(),
            bytes_in: e.bytes_in as u64,
            bytes_out: e.bytes_out as u64,
            at: e.at,
        }
    }
}

/// Receives every egress decision, implemented in Kotlin or Swift (metrics, alerts). Called
/// on the deciding thread after the decision; what it throws is dropped (the decision
/// stands and is in the audit log either way). Must not call back into the same `Egress`.
#[uniffi::export(with_foreign)]
pub trait EgressObserver: Send + Sync {
    /// Called once per `prepare` outcome, allowed or denied.
    fn on_egress(&self, event: EgressEvent) -> Result<(), HostError>;
}

/// Adapts a foreign [`EgressObserver`] to the core's trait.
struct ForeignEgressObserver(Arc<dyn EgressObserver>);

impl core_egress::EgressObserver for ForeignEgressObserver {
    fn on_egress(&self, event: &core_egress::EgressEvent) {
        // The core's observers cannot fail: a foreign exception is dropped, never a panic.
        let _ = self.0.on_egress(event.into());
    }
}

fn registry_in(registry: Vec<SubProcessor>) -> Result<core_egress::Registry> {
    let mut r = core_egress::Registry::new();
    for p in registry {
        let data: Vec<&str> = p.data_categories.iter().map(String::as_str).collect();
        r.register(
            core_egress::SubProcessor::new(&p.id, &p.name, &p.purpose, &data, p.optional)
                .located(&p.location),
        )
        .map_err(core_err)?;
    }
    Ok(r)
}

fn egress_out(
    b: core_egress::EgressBuilder,
    registry: Vec<SubProcessor>,
    observers: Vec<Arc<dyn EgressObserver>>,
    guard: Arc<Guard>,
) -> Result<Arc<Egress>> {
    let mut b = b.registry(registry_in(registry)?);
    for o in observers {
        b = b.observer(Arc::new(ForeignEgressObserver(o)));
    }
    Ok(Arc::new(Egress(b.build()?, guard)))
}

/// Egress control for every organization: policies in the store, decisions audited.
#[derive(uniffi::Object, Debug)]
pub struct Egress(
    core_egress::Egress,
    /// The guard, for the re-entrancy check of foreign key providers.
    Arc<Guard>,
);

impl crate::runtime::CallId for Egress {
    fn call_id(&self) -> usize {
        self.1.call_id()
    }
}

#[uniffi::export]
impl Egress {
    /// Egress over `guard`, keeping policies in `store` (the guard's own store), knowing
    /// the sub-processors in `registry` and reporting each decision to `observers`.
    #[uniffi::constructor(default(observers = []))]
    pub fn new(
        guard: Arc<Guard>,
        store: Arc<Store>,
        registry: Vec<SubProcessor>,
        observers: Vec<Arc<dyn EgressObserver>>,
    ) -> Result<Arc<Self>> {
        let b = core_egress::Egress::builder(guard.0.clone()).policy_store(store.1.clone());
        egress_out(b, registry, observers, guard)
    }

    /// Egress over `guard` keeping policies in the guard's own store (`Guard.embedded`,
    /// or the `Store` it was built with); `Config` if the guard has none.
    #[uniffi::constructor(default(observers = []))]
    pub fn for_guard(
        guard: Arc<Guard>,
        registry: Vec<SubProcessor>,
        observers: Vec<Arc<dyn EgressObserver>>,
    ) -> Result<Arc<Self>> {
        egress_out(
            core_egress::Egress::builder(guard.0.clone()),
            registry,
            observers,
            guard,
        )
    }

    /// The sub-processor registry.
    pub fn registry(&self) -> Vec<SubProcessor> {
        self.0.registry().iter().map(SubProcessor::from).collect()
    }

    /// Decides whether `text` (of data `category`, default `prompts`) may go to `provider`
    /// and redacts it per the organization's policy; pass the previous turn's `session`
    /// to keep placeholders stable. Audited. Any role.
    #[uniffi::method(default(category = None, session = None))]
    pub fn prepare(
        &self,
        ctx: Arc<TenantContext>,
        provider: String,
        text: String,
        category: Option<String>,
        session: Option<Arc<PseudonymSession>>,
    ) -> Result<EgressDecision> {
        block_on_in(self.call_id(), async move {
            self.prepare_in(&ctx, &provider, &text, category, session)
                .await
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Egress {
    /// Suspending form of `prepare`.
    #[uniffi::method(default(category = None, session = None))]
    pub async fn prepare_async(
        &self,
        ctx: Arc<TenantContext>,
        provider: String,
        text: String,
        category: Option<String>,
        session: Option<Arc<PseudonymSession>>,
    ) -> Result<EgressDecision> {
        in_call(self.call_id(), async move {
            self.prepare_in(&ctx, &provider, &text, category, session)
                .await
        })
        .await
    }
}

impl Egress {
    async fn prepare_in(
        &self,
        ctx: &TenantContext,
        provider: &str,
        text: &str,
        category: Option<String>,
        session: Option<Arc<PseudonymSession>>,
    ) -> Result<EgressDecision> {
        let mut req = core_egress::EgressRequest::new(provider, text);
        if let Some(c) = category.as_deref() {
            req.category = c;
        }
        req.session = session.map(|s| s.0.clone());
        Ok(self.0.prepare_with(&ctx.0, req).await?.into())
    }
}

dual! {
impl Egress {
    /// The organization's policy (the default if never set). Any role.
    fn policy / policy_async(&self, ctx: Arc<TenantContext>) -> EgressPolicy {
        Ok(self.0.policy(&ctx.0).await?.into())
    }

    /// Replaces the organization's policy after validating it; returns its version.
    /// Audited. Admin role.
    fn set_policy / set_policy_async(&self, ctx: Arc<TenantContext>, policy: EgressPolicy) -> u64 {
        Ok(self.0.set_policy(&ctx.0, &policy.into()).await?)
    }
}
}

// ---------------------------------------------------------------------------------------
// Redaction

/// What a finding is about; decides the redaction level that removes it.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactCategory {
    /// Personal data.
    Pii,
    /// Credentials and secrets.
    Secret,
    /// The organization's own terms and patterns.
    Organization,
}

impl From<RedactCategory> for core_redact::Category {
    fn from(c: RedactCategory) -> Self {
        match c {
            RedactCategory::Pii => core_redact::Category::Pii,
            RedactCategory::Secret => core_redact::Category::Secret,
            RedactCategory::Organization => core_redact::Category::Organization,
        }
    }
}

impl From<core_redact::Category> for RedactCategory {
    fn from(c: core_redact::Category) -> Self {
        match c {
            core_redact::Category::Pii => RedactCategory::Pii,
            core_redact::Category::Secret => RedactCategory::Secret,
            core_redact::Category::Organization => RedactCategory::Organization,
        }
    }
}

/// One recognized value: its tag (`EMAIL`, `CARD`...) and its UTF-8 byte range.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The tag.
    pub tag: String,
    /// Its category.
    pub category: RedactCategory,
    /// Byte offset (UTF-8) of its first byte.
    pub start: u64,
    /// Byte offset (UTF-8) just past its last byte.
    pub end: u64,
}

impl From<&core_redact::Finding> for Finding {
    fn from(f: &core_redact::Finding) -> Self {
        Finding {
            tag: f.kind.tag().to_owned(),
            category: f.kind.category().into(),
            start: f.start as u64,
            end: f.end as u64,
        }
    }
}

/// The result of a redaction: the new text and what was replaced (positions, no values).
#[derive(uniffi::Record, Clone, Debug)]
pub struct Redacted {
    /// The text with every finding replaced.
    pub text: String,
    /// What was found, with byte ranges into the original text.
    pub findings: Vec<Finding>,
    /// How many values of each tag were replaced.
    pub summary: HashMap<String, u64>,
}

impl From<core_redact::Redacted> for Redacted {
    fn from(r: core_redact::Redacted) -> Self {
        Redacted {
            summary: r
                .summary()
                .into_iter()
                .map(|(k, v)| (k, v as u64))
                .collect(),
            findings: r.findings.iter().map(Finding::from).collect(),
            text: r.text,
        }
    }
}

/// The mapping of one conversation: placeholders to original values, held sealed under a
/// key living only in this object. Expires after its time to live; `close()` erases it.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct PseudonymSession(pub(crate) Arc<core_redact::PseudonymSession>);

#[uniffi::export]
impl PseudonymSession {
    /// A new session for `tenant` living `ttl_secs` (default 900, at most 86,400).
    #[uniffi::constructor(default(ttl_secs = None))]
    pub fn new(tenant: String, ttl_secs: Option<u64>) -> Result<Arc<Self>> {
        let ttl = ttl_secs.map_or(
            core_redact::DEFAULT_SESSION_TTL,
            std::time::Duration::from_secs,
        );
        Ok(Arc::new(PseudonymSession(Arc::new(
            core_redact::PseudonymSession::new(&tenant_id(tenant)?, ttl).map_err(core_err)?,
        ))))
    }

    /// The tenant it belongs to.
    pub fn tenant(&self) -> String {
        self.0.tenant().as_str().to_owned()
    }

    /// How many values it holds.
    pub fn size(&self) -> u64 {
        self.0.len() as u64
    }

    /// Whether it has expired (its mapping erased).
    pub fn is_expired(&self) -> bool {
        self.0.is_expired()
    }

    /// Erases the mapping now.
    pub fn expire(&self) {
        self.0.expire()
    }

    /// Puts the original values back wherever a placeholder of this session appears.
    pub fn restore(&self, answer: String) -> Result<String> {
        self.0.restore(&answer).map_err(core_err)
    }

    /// A restorer for one answer arriving in chunks (a placeholder may be split across them).
    pub fn stream(&self) -> Arc<StreamRestorer> {
        Arc::new(StreamRestorer(std::sync::Mutex::new(Some(
            self.0.stream_owned(),
        ))))
    }
}

/// Restores one streamed answer: `push` each chunk (each at most 4 MiB) and emit what it
/// returns, then `finish` once for what was held back (at most one placeholder).
#[derive(uniffi::Object, Debug)]
pub struct StreamRestorer(std::sync::Mutex<Option<core_redact::OwnedStreamRestorer>>);

fn finished() -> TenantguardError {
    TenantguardError::new(
        ErrorKind::InvalidInput,
        "the stream restorer is already finished",
    )
}

#[uniffi::export]
impl StreamRestorer {
    /// Feeds one chunk; returns the restored text that can be emitted now.
    pub fn push(&self, chunk: String) -> Result<String> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.as_mut()
            .ok_or_else(finished)?
            .push(&chunk)
            .map_err(core_err)
    }

    /// Ends the stream, returning whatever was held back (restored). Later calls throw
    /// `InvalidInput`.
    pub fn finish(&self) -> Result<String> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.take().ok_or_else(finished)?.finish().map_err(core_err)
    }
}

/// Finds PII and secrets in one pass and replaces them. Build once, share.
#[derive(uniffi::Object, Debug)]
pub struct Redactor(core_redact::Redactor);

#[uniffi::export]
impl Redactor {
    /// A redactor: built-in recognizers of `categories` (default all), the organization's
    /// `terms` and `patterns`, an agent-token prefix (default `tg_`), whether commit ids
    /// and digests in context, UUIDs and base64 images count as secrets (default `false`), the
    /// organization's own person `names` (added to the name gazetteer) and `exempt` words
    /// (never part of a name).
    #[uniffi::constructor(default(categories = None, terms = [], patterns = [], agent_prefix = None, identifiers_as_secrets = false, names = [], exempt = []))]
    pub fn new(
        categories: Option<Vec<RedactCategory>>,
        terms: Vec<String>,
        patterns: Vec<OrgPattern>,
        agent_prefix: Option<String>,
        identifiers_as_secrets: bool,
        names: Vec<String>,
        exempt: Vec<String>,
    ) -> Result<Arc<Self>> {
        let mut b = core_redact::Redactor::builder().identifiers_as_secrets(identifiers_as_secrets);
        if let Some(c) = categories {
            let c: Vec<core_redact::Category> = c.into_iter().map(Into::into).collect();
            b = b.categories(&c);
        }
        b = b.terms(terms);
        for p in patterns {
            b = b.pattern(core_redact::OrgPattern {
                tag: p.tag,
                regex: p.regex,
            });
        }
        if let Some(p) = agent_prefix {
            b = b.agent_prefix(p);
        }
        b = b.names(names).exempt(exempt);
        Ok(Arc::new(Redactor(b.build().map_err(core_err)?)))
    }

    /// Every value found in `text` (at most 4 MiB, `MAX_TEXT_LEN`), by position.
    pub fn find(&self, text: String) -> Result<Vec<Finding>> {
        let f = self.0.find(&text).map_err(core_err)?;
        Ok(f.iter().map(Finding::from).collect())
    }

    /// Replaces values with `*` (cards, phones, IBANs, SSNs keep their last 4 digits).
    pub fn mask(&self, text: String) -> Result<Redacted> {
        self.run(&text, &core_redact::Operation::Mask)
    }

    /// Replaces values with their tag, e.g. `[EMAIL]`.
    pub fn tag(&self, text: String) -> Result<Redacted> {
        self.run(&text, &core_redact::Operation::Tag)
    }

    /// Replaces values with an HMAC-SHA256 tag under the 32-byte `key`.
    pub fn hash(&self, text: String, key: Vec<u8>) -> Result<Redacted> {
        let key: [u8; 32] = key.as_slice().try_into().map_err(|_| {
            TenantguardError::new(
                ErrorKind::InvalidInput,
                format!("hash key must be 32 bytes, got {}", key.len()),
            )
        })?;
        let key = zeroize::Zeroizing::new(key);
        let k = core_redact::HashKey::from_bytes(*key);
        self.run(&text, &core_redact::Operation::Hash(&k))
    }

    /// Replaces values with placeholders such as `<EMAIL_1>`, kept in `session`.
    pub fn pseudonymize(&self, text: String, session: Arc<PseudonymSession>) -> Result<Redacted> {
        self.run(&text, &core_redact::Operation::Pseudonymize(&session.0))
    }

    /// Replaces values with valid-looking fakes, kept in `session`.
    pub fn fake(&self, text: String, session: Arc<PseudonymSession>) -> Result<Redacted> {
        self.run(&text, &core_redact::Operation::Fake(&session.0))
    }
}

impl Redactor {
    fn run(&self, text: &str, op: &core_redact::Operation<'_>) -> Result<Redacted> {
        Ok(self.0.redact(text, op).map_err(core_err)?.into())
    }
}
