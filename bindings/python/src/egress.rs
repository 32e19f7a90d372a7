//! AI egress control and redaction: `Egress` (per-organization policy, `prepare`),
//! `EgressPolicy`, `Registry`, `Redactor`, `PseudonymSession`.
//!
//! Type conversion only. Texts that may hold restored personal data never appear in a `repr`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyType;
use tenantguard::egress::{DenyReason, EgressDecision, EgressRequest, RedactionLevel};
use tenantguard::redact::{HashKey, Operation, Operator, OrgPattern};

use crate::errors::{invalid, py_err, to_py};
use crate::guard::Guard;
use crate::handle::Dependent;
use crate::types::{tenant_id, TenantContext};

fn level(s: &str) -> PyResult<RedactionLevel> {
    match s {
        "off" => Ok(RedactionLevel::Off),
        "pii" => Ok(RedactionLevel::Pii),
        "strict" => Ok(RedactionLevel::Strict),
        _ => Err(invalid(format!(
            "unknown redaction level {s:?}: use off, pii or strict"
        ))),
    }
}

fn level_str(l: RedactionLevel) -> &'static str {
    match l {
        RedactionLevel::Off => "off",
        RedactionLevel::Pii => "pii",
        RedactionLevel::Strict => "strict",
    }
}

fn operator(s: &str) -> PyResult<Operator> {
    match s {
        "mask" => Ok(Operator::Mask),
        "tag" => Ok(Operator::Tag),
        "hash" => Ok(Operator::Hash),
        "fake" => Ok(Operator::Fake),
        "pseudonymize" => Ok(Operator::Pseudonymize),
        _ => Err(invalid(format!(
            "unknown operator {s:?}: use mask, tag, hash, fake or pseudonymize"
        ))),
    }
}

fn operator_str(o: Operator) -> &'static str {
    match o {
        Operator::Mask => "mask",
        Operator::Tag => "tag",
        Operator::Hash => "hash",
        Operator::Fake => "fake",
        Operator::Pseudonymize => "pseudonymize",
    }
}

fn reason_code(r: &DenyReason) -> &'static str {
    match r {
        DenyReason::UnknownProvider => "unknown_provider",
        DenyReason::ProviderNotAllowed => "provider_not_allowed",
        DenyReason::OptedOut => "opted_out",
        DenyReason::CategoryNotAllowed { .. } => "category_not_allowed",
        DenyReason::TooLarge => "too_large",
        _ => "other",
    }
}

fn patterns(p: BTreeMap<String, String>) -> Vec<OrgPattern> {
    p.into_iter()
        .map(|(tag, regex)| OrgPattern { tag, regex })
        .collect()
}

/// One organization's egress policy. The default is permissive (every registered
/// provider, every category, no redaction); `EgressPolicy.strict()` is the strict posture.
/// `patterns` maps a tag (`A-Z 0-9 _`) to a regex. Also converts to and from its stored
/// JSON form (`to_json`, `from_json`).
#[pyclass(module = "tenantguard", frozen, eq)]
#[derive(PartialEq)]
pub(crate) struct EgressPolicy(pub(crate) tenantguard::egress::EgressPolicy);

#[pymethods]
impl EgressPolicy {
    #[new]
    #[pyo3(signature = (*, allowed_providers=None, opted_out=None, categories=None, redaction="off", operator="pseudonymize", terms=None, patterns=None, agent_prefix=None, zero_data_retention=false, prompt_cache=true, max_retention_days=None, identifiers_as_secrets=false, names=None, exempt=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] allowed_providers: Option<BTreeSet<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] opted_out: Option<BTreeSet<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] categories: Option<
            BTreeMap<String, BTreeSet<String>>,
        >,
        #[pyo3(from_py_with = crate::errors::arg)] redaction: &str,
        #[pyo3(from_py_with = crate::errors::arg)] operator: &str,
        #[pyo3(from_py_with = crate::errors::arg)] terms: Option<Vec<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] patterns: Option<BTreeMap<String, String>>,
        #[pyo3(from_py_with = crate::errors::arg)] agent_prefix: Option<String>,
        #[pyo3(from_py_with = crate::errors::arg)] zero_data_retention: bool,
        #[pyo3(from_py_with = crate::errors::arg)] prompt_cache: bool,
        #[pyo3(from_py_with = crate::errors::arg)] max_retention_days: Option<u32>,
        #[pyo3(from_py_with = crate::errors::arg)] identifiers_as_secrets: bool,
        #[pyo3(from_py_with = crate::errors::arg)] names: Option<Vec<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] exempt: Option<Vec<String>>,
    ) -> PyResult<Self> {
        Ok(EgressPolicy(tenantguard::egress::EgressPolicy {
            allowed_providers,
            opted_out: opted_out.unwrap_or_default(),
            categories: categories.unwrap_or_default(),
            redaction: level(redaction)?,
            operator: self::operator(operator)?,
            terms: terms.unwrap_or_default(),
            patterns: self::patterns(patterns.unwrap_or_default()),
            agent_prefix,
            identifiers_as_secrets,
            names: names.unwrap_or_default(),
            exempt: exempt.unwrap_or_default(),
            retention: tenantguard::egress::RetentionHints {
                zero_data_retention,
                prompt_cache,
                max_retention_days,
            },
        }))
    }

    /// Everything redacted, zero retention and no prompt cache asked.
    #[classmethod]
    fn strict(_cls: &Bound<'_, PyType>) -> Self {
        EgressPolicy(tenantguard::egress::EgressPolicy::strict())
    }

    /// Parses the stored JSON form (unknown fields refused).
    #[classmethod]
    fn from_json(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<Self> {
        serde_json::from_str(text).map(EgressPolicy).map_err(|e| {
            py_err(tenantguard::egress::EgressError::InvalidPolicy(
                e.to_string(),
            ))
        })
    }

    /// The stored JSON form.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.0).map_err(|e| {
            py_err(tenantguard::egress::EgressError::InvalidPolicy(
                e.to_string(),
            ))
        })
    }

    #[getter]
    fn allowed_providers(&self) -> Option<BTreeSet<String>> {
        self.0.allowed_providers.clone()
    }
    #[getter]
    fn opted_out(&self) -> BTreeSet<String> {
        self.0.opted_out.clone()
    }
    #[getter]
    fn categories(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.0.categories.clone()
    }
    #[getter]
    fn redaction(&self) -> &'static str {
        level_str(self.0.redaction)
    }
    #[getter]
    fn operator(&self) -> &'static str {
        operator_str(self.0.operator)
    }
    #[getter]
    fn terms(&self) -> Vec<String> {
        self.0.terms.clone()
    }
    #[getter]
    fn patterns(&self) -> BTreeMap<String, String> {
        self.0
            .patterns
            .iter()
            .map(|p| (p.tag.clone(), p.regex.clone()))
            .collect()
    }
    #[getter]
    fn agent_prefix(&self) -> Option<String> {
        self.0.agent_prefix.clone()
    }
    #[getter]
    fn identifiers_as_secrets(&self) -> bool {
        self.0.identifiers_as_secrets
    }
    #[getter]
    fn names(&self) -> Vec<String> {
        self.0.names.clone()
    }
    #[getter]
    fn exempt(&self) -> Vec<String> {
        self.0.exempt.clone()
    }
    #[getter]
    fn zero_data_retention(&self) -> bool {
        self.0.retention.zero_data_retention
    }
    #[getter]
    fn prompt_cache(&self) -> bool {
        self.0.retention.prompt_cache
    }
    #[getter]
    fn max_retention_days(&self) -> Option<u32> {
        self.0.retention.max_retention_days
    }

    fn __repr__(&self) -> String {
        format!(
            "EgressPolicy(allowed_providers={}, opted_out={:?}, redaction={:?}, operator={:?}, terms={})",
            crate::gov::opt(&self.0.allowed_providers),
            self.0.opted_out,
            level_str(self.0.redaction),
            operator_str(self.0.operator),
            self.0.terms.len()
        )
    }
}

/// One sub-processor (a provider data may be sent to).
#[pyclass(module = "tenantguard", frozen, get_all)]
#[derive(Clone)]
pub(crate) struct SubProcessor {
    id: String,
    name: String,
    purpose: String,
    data_categories: Vec<String>,
    optional: bool,
    location: String,
}

impl SubProcessor {
    fn core(&self) -> tenantguard::egress::SubProcessor {
        let cats: Vec<&str> = self.data_categories.iter().map(String::as_str).collect();
        tenantguard::egress::SubProcessor::new(
            &self.id,
            &self.name,
            &self.purpose,
            &cats,
            self.optional,
        )
        .located(&self.location)
    }
}

impl From<&tenantguard::egress::SubProcessor> for SubProcessor {
    fn from(p: &tenantguard::egress::SubProcessor) -> Self {
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

#[pymethods]
impl SubProcessor {
    #[new]
    #[pyo3(signature = (id, name, purpose, data_categories, *, optional=false, location=""))]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] id: &str,
        #[pyo3(from_py_with = crate::errors::arg)] name: &str,
        #[pyo3(from_py_with = crate::errors::arg)] purpose: &str,
        #[pyo3(from_py_with = crate::errors::arg)] data_categories: Vec<String>,
        #[pyo3(from_py_with = crate::errors::arg)] optional: bool,
        #[pyo3(from_py_with = crate::errors::arg)] location: &str,
    ) -> Self {
        SubProcessor {
            id: id.to_owned(),
            name: name.to_owned(),
            purpose: purpose.to_owned(),
            data_categories,
            optional,
            location: location.to_owned(),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "SubProcessor(id={:?}, name={:?}, data_categories={:?}, optional={})",
            self.id,
            self.name,
            self.data_categories,
            crate::gov::py_bool(self.optional)
        )
    }
}

/// The sub-processor registry: the providers data may be sent to at all.
#[pyclass(module = "tenantguard")]
pub(crate) struct Registry(tenantguard::egress::Registry);

#[pymethods]
impl Registry {
    /// An empty registry.
    #[new]
    fn new() -> Self {
        Registry(tenantguard::egress::Registry::new())
    }

    /// The example registry of the documentation (`llm-chat`, ...).
    #[classmethod]
    fn example(_cls: &Bound<'_, PyType>) -> Self {
        Registry(tenantguard::egress::Registry::example())
    }

    /// Adds a sub-processor; raises on a duplicate or invalid id.
    fn register(&mut self, p: &SubProcessor) -> PyResult<()> {
        self.0.register(p.core()).map_err(py_err)
    }

    /// The sub-processor `id`, or `None`.
    fn get(&self, id: &str) -> Option<SubProcessor> {
        self.0.get(id).map(SubProcessor::from)
    }

    /// Every sub-processor, by id.
    fn providers(&self) -> Vec<SubProcessor> {
        self.0.iter().map(SubProcessor::from).collect()
    }

    /// The registry as a Markdown table (the public sub-processor list).
    fn to_markdown(&self) -> String {
        self.0.to_markdown()
    }

    fn __len__(&self) -> usize {
        self.0.iter().count()
    }

    fn __repr__(&self) -> String {
        format!("Registry(providers={})", self.0.iter().count())
    }
}

/// A reversible pseudonymization mapping for one tenant and one request, held in memory
/// and wiped when it expires, on `expire()`, or when a `with` block ends.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct PseudonymSession(pub(crate) Arc<tenantguard::redact::PseudonymSession>);

#[pymethods]
impl PseudonymSession {
    /// A new session for `tenant` living `ttl_seconds` (at most 24 hours; default 15 min).
    #[new]
    #[pyo3(signature = (tenant, *, ttl_seconds=900.0))]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] tenant: &str,
        #[pyo3(from_py_with = crate::errors::arg)] ttl_seconds: f64,
    ) -> PyResult<Self> {
        let ttl = Duration::try_from_secs_f64(ttl_seconds)
            .map_err(|_| invalid("ttl_seconds must be a finite, non-negative number"))?;
        tenantguard::redact::PseudonymSession::new(&tenant_id(tenant)?, ttl)
            .map(|s| PseudonymSession(Arc::new(s)))
            .map_err(py_err)
    }

    #[getter]
    fn tenant(&self) -> &str {
        self.0.tenant().as_str()
    }

    #[getter]
    fn expired(&self) -> bool {
        self.0.is_expired()
    }

    /// Puts the original values back into `answer` (placeholders of this session only).
    fn restore(&self, py: Python<'_>, answer: &str) -> PyResult<String> {
        crate::runtime::detach(py, || self.0.restore(answer)).map_err(py_err)
    }

    /// A `StreamRestorer` for an answer arriving in chunks. It keeps this session alive.
    fn stream_restorer(&self) -> StreamRestorer {
        StreamRestorer::new(self.0.stream_owned())
    }

    /// Wipes the mapping now; later restores raise `NotFoundError`.
    fn expire(&self) {
        self.0.expire()
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.0.expire();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "PseudonymSession(tenant={:?}, entries={}, expired={})",
            self.0.tenant().as_str(),
            self.0.len(),
            crate::gov::py_bool(self.0.is_expired())
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(crate::errors::wrong_type(
            "a PseudonymSession holds personal data and cannot be pickled",
        ))
    }
}

/// Restores pseudonyms in an answer arriving in chunks; a placeholder split across chunks
/// is held back until complete. `push(chunk)` returns the text final so far, `finish()`
/// the rest; after `finish()` both raise `ClosedError` (a `ValueError`). `repr` never shows text.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct StreamRestorer(Mutex<Option<tenantguard::redact::OwnedStreamRestorer>>);

impl StreamRestorer {
    fn new(r: tenantguard::redact::OwnedStreamRestorer) -> Self {
        StreamRestorer(Mutex::new(Some(r)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<tenantguard::redact::OwnedStreamRestorer>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn finished_err() -> PyErr {
    crate::errors::closed("operation on a finished StreamRestorer")
}

#[pymethods]
impl StreamRestorer {
    /// Feeds one chunk; returns the restored text that can be emitted now.
    fn push(&self, py: Python<'_>, chunk: &str) -> PyResult<String> {
        crate::runtime::detach(py, || match self.lock().as_mut() {
            Some(r) => r.push(chunk).map_err(py_err),
            None => Err(finished_err()),
        })
    }

    /// Ends the stream, returning whatever was held back (restored).
    fn finish(&self, py: Python<'_>) -> PyResult<String> {
        crate::runtime::detach(py, || match self.lock().take() {
            Some(r) => r.finish().map_err(py_err),
            None => Err(finished_err()),
        })
    }

    /// Bytes of answer held back, waiting for the rest of a possible placeholder.
    #[getter]
    fn held_back(&self) -> usize {
        self.lock().as_ref().map_or(0, |r| r.held_back())
    }

    #[getter]
    fn finished(&self) -> bool {
        self.lock().is_none()
    }

    fn __repr__(&self) -> String {
        match self.lock().as_ref() {
            Some(r) => format!("StreamRestorer(held_back={})", r.held_back()),
            None => "StreamRestorer(finished)".into(),
        }
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(crate::errors::wrong_type(
            "a StreamRestorer holds a PseudonymSession and cannot be pickled",
        ))
    }
}

/// One recognized value: its tag, category and byte range in the scanned text (UTF-8).
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct Finding {
    tag: String,
    category: &'static str,
    start: usize,
    end: usize,
}

impl From<&tenantguard::redact::Finding> for Finding {
    fn from(f: &tenantguard::redact::Finding) -> Self {
        Finding {
            tag: f.kind.tag().to_owned(),
            category: f.kind.category().as_str(),
            start: f.start,
            end: f.end,
        }
    }
}

#[pymethods]
impl Finding {
    fn __repr__(&self) -> String {
        format!(
            "Finding(tag={:?}, category={:?}, start={}, end={})",
            self.tag, self.category, self.start, self.end
        )
    }
}

/// A redacted text, its findings and the count per tag. `repr` shows counts only.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct Redacted {
    text: String,
    findings: Vec<Py<Finding>>,
    summary: BTreeMap<String, usize>,
}

#[pymethods]
impl Redacted {
    fn __repr__(&self) -> String {
        format!("Redacted(summary={:?})", self.summary)
    }
}

fn category(s: &str) -> PyResult<tenantguard::redact::Category> {
    use tenantguard::redact::Category;
    match s {
        "pii" => Ok(Category::Pii),
        "secret" => Ok(Category::Secret),
        "organization" => Ok(Category::Organization),
        _ => Err(invalid(format!(
            "unknown category {s:?}: use pii, secret or organization"
        ))),
    }
}

/// Recognizes personal data and secrets in one pass and replaces them with an operator:
/// `mask`, `tag`, `hash` (needs `hash_key`, 32 bytes), `fake` or `pseudonymize` (need a
/// `PseudonymSession`, which restores them later).
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct Redactor(tenantguard::redact::Redactor);

#[pymethods]
impl Redactor {
    /// The built-in recognizers of `categories` (default: pii and secret), plus the
    /// organization's `terms` and `patterns` (tag to regex) when given. With
    /// `identifiers_as_secrets`, commit ids and digests in context, UUIDs and base64 images
    /// are redacted as secrets too. `names` adds the organization's own person names to the
    /// name gazetteer; `exempt` lists words never taken as part of a name.
    #[new]
    #[pyo3(signature = (*, categories=None, terms=None, patterns=None, agent_prefix=None, identifiers_as_secrets=false, names=None, exempt=None))]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] categories: Option<Vec<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] terms: Option<Vec<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] patterns: Option<BTreeMap<String, String>>,
        #[pyo3(from_py_with = crate::errors::arg)] agent_prefix: Option<String>,
        #[pyo3(from_py_with = crate::errors::arg)] identifiers_as_secrets: bool,
        #[pyo3(from_py_with = crate::errors::arg)] names: Option<Vec<String>>,
        #[pyo3(from_py_with = crate::errors::arg)] exempt: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let mut b =
            tenantguard::redact::Redactor::builder().identifiers_as_secrets(identifiers_as_secrets);
        if let Some(c) = categories {
            let cats = c
                .iter()
                .map(|s| category(s))
                .collect::<PyResult<Vec<_>>>()?;
            b = b.categories(&cats);
        }
        if let Some(t) = terms {
            b = b.terms(t);
        }
        for p in self::patterns(patterns.unwrap_or_default()) {
            b = b.pattern(p);
        }
        if let Some(p) = agent_prefix {
            b = b.agent_prefix(p);
        }
        b = b
            .names(names.unwrap_or_default())
            .exempt(exempt.unwrap_or_default());
        b.build().map(Redactor).map_err(py_err)
    }

    /// The values recognized in `text`, in order.
    fn find(&self, py: Python<'_>, text: &str) -> PyResult<Vec<Finding>> {
        let found = crate::runtime::detach(py, || self.0.find(text)).map_err(py_err)?;
        Ok(found.iter().map(Finding::from).collect())
    }

    /// `text` with every recognized value replaced by `operator`.
    #[pyo3(signature = (text, operator="tag", *, session=None, hash_key=None))]
    fn redact(
        &self,
        py: Python<'_>,
        text: &str,
        operator: &str,
        session: Option<&PseudonymSession>,
        hash_key: Option<&[u8]>,
    ) -> PyResult<Redacted> {
        let key = match hash_key {
            Some(k) => Some(HashKey::from_bytes(
                <[u8; 32]>::try_from(k).map_err(|_| invalid("hash_key must be 32 bytes"))?,
            )),
            None => None,
        };
        let need = |what: &str| invalid(format!("operator {what:?} needs a session"));
        let op = match self::operator(operator)? {
            Operator::Mask => Operation::Mask,
            Operator::Tag => Operation::Tag,
            Operator::Hash => Operation::Hash(
                key.as_ref()
                    .ok_or_else(|| invalid("operator \"hash\" needs hash_key"))?,
            ),
            Operator::Fake => Operation::Fake(&session.ok_or_else(|| need("fake"))?.0),
            Operator::Pseudonymize => {
                Operation::Pseudonymize(&session.ok_or_else(|| need("pseudonymize"))?.0)
            }
        };
        let r = crate::runtime::detach(py, || self.0.redact(text, &op)).map_err(py_err)?;
        let summary = r.summary();
        Ok(Redacted {
            findings: r
                .findings
                .iter()
                .map(|f| Py::new(py, Finding::from(f)))
                .collect::<PyResult<_>>()?,
            text: r.text,
            summary,
        })
    }

    fn __repr__(&self) -> String {
        "Redactor()".into()
    }
}

/// Text ready to send to `provider`: redacted per policy, with the retention hints to pass
/// on. `restore(answer)` puts pseudonymized values back. `repr` never shows text.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct Prepared(tenantguard::egress::Prepared);

#[pymethods]
impl Prepared {
    #[getter]
    fn provider(&self) -> &str {
        &self.0.provider
    }
    #[getter]
    fn text(&self) -> &str {
        &self.0.text
    }
    #[getter]
    fn summary(&self) -> BTreeMap<String, usize> {
        self.0.summary.clone()
    }
    #[getter]
    fn zero_data_retention(&self) -> bool {
        self.0.retention.zero_data_retention
    }
    #[getter]
    fn prompt_cache(&self) -> bool {
        self.0.retention.prompt_cache
    }
    #[getter]
    fn max_retention_days(&self) -> Option<u32> {
        self.0.retention.max_retention_days
    }
    #[getter]
    fn session(&self) -> Option<PseudonymSession> {
        self.0.session.clone().map(PseudonymSession)
    }

    /// The provider's answer with pseudonymized values restored.
    fn restore(&self, py: Python<'_>, answer: &str) -> PyResult<String> {
        crate::runtime::detach(py, || self.0.restore(answer)).map_err(py_err)
    }

    /// `restore` for an answer arriving in chunks (a streamed LLM response); passes text
    /// through if nothing was pseudonymized.
    fn stream_restorer(&self) -> StreamRestorer {
        StreamRestorer::new(self.0.stream())
    }

    fn __repr__(&self) -> String {
        format!(
            "Prepared(provider={:?}, summary={:?}, len={})",
            self.0.provider,
            self.0.summary,
            self.0.text.len()
        )
    }
}

/// The decision on one egress request: allowed (with `prepared`) or denied (with a
/// stable `reason` code and a `message`).
#[pyclass(module = "tenantguard", name = "EgressDecision", frozen, get_all)]
pub(crate) struct EgressDecisionPy {
    allowed: bool,
    reason: Option<&'static str>,
    message: Option<String>,
    category: Option<String>,
    prepared: Option<Py<Prepared>>,
}

#[pymethods]
impl EgressDecisionPy {
    fn __bool__(&self) -> bool {
        self.allowed
    }

    fn __repr__(&self) -> String {
        match self.reason {
            None => "EgressDecision(allowed=True)".into(),
            Some(r) => format!("EgressDecision(allowed=False, reason={r:?})"),
        }
    }
}

/// One egress decision as reported to an observer: counts and sizes, never text.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct EgressEvent {
    tenant: String,
    actor: String,
    provider: String,
    category: String,
    allowed: bool,
    reason: Option<&'static str>,
    level: &'static str,
    policy_version: u64,
    redacted: BTreeMap<String, usize>,
    bytes_in: usize,
    bytes_out: usize,
    at: i64,
}

impl From<&tenantguard::egress::EgressEvent> for EgressEvent {
    fn from(e: &tenantguard::egress::EgressEvent) -> Self {
        EgressEvent {
            tenant: e.tenant.as_str().to_owned(),
            actor: e.actor.clone(),
            provider: e.provider.clone(),
            category: e.category.clone(),
            allowed: e.allowed,
            reason: e.reason.as_ref().map(reason_code),
            level: level_str(e.level),
            policy_version: e.policy_version,
            redacted: e.redacted.clone(),
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
            at: e.at,
        }
    }
}

#[pymethods]
impl EgressEvent {
    fn __repr__(&self) -> String {
        format!(
            "EgressEvent(tenant={:?}, provider={:?}, allowed={}, reason={}, redacted={:?})",
            self.tenant,
            self.provider,
            if self.allowed { "True" } else { "False" },
            crate::gov::opt(&self.reason),
            self.redacted
        )
    }
}

/// A Python callable observing egress decisions (metrics, alerts). It cannot refuse a
/// decision: an exception it raises is reported as unraisable (a `KeyboardInterrupt` or
/// `SystemExit` is raised when the call returns).
struct PyEgressObserver(Py<PyAny>);

impl tenantguard::egress::EgressObserver for PyEgressObserver {
    fn on_egress(&self, event: &tenantguard::egress::EgressEvent) {
        // Skipped once the interpreter is shutting down (`runtime::callback`).
        let _ = crate::runtime::callback(|py| {
            if let Err(e) = self.0.call1(py, (EgressEvent::from(event),)) {
                if !crate::errors::keep_interrupt(py, &e) {
                    e.write_unraisable(py, Some(self.0.bind(py)));
                }
            }
        });
    }
}

/// AI egress control over a `Guard`: per-organization policies kept in `store` (the same
/// `MemoryStore`, `SqliteStore` or `PostgresStore` as the guard's) and `prepare()`, to call
/// right before any LLM or third-party call. Closed with its guard (or by `close()`, or
/// when a `with` block ends); later calls raise `ClosedError` (a `ValueError`).
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct Egress(Dependent<tenantguard::egress::Egress>);

impl Egress {
    fn run<T: Send, F>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(tenantguard::egress::Egress) -> F + Send,
    ) -> PyResult<T>
    where
        F: std::future::Future<Output = tenantguard::Result<T>>,
    {
        let e = self.0.get()?;
        let _scope = self.0.enter()?;
        crate::runtime::detach(py, || crate::runtime::block_on(f(e)))?.map_err(to_py)
    }
}

#[pymethods]
impl Egress {
    #[new]
    /// `store` holds the policies (default: the guard's own store). `observer`, if given,
    /// is called with an `EgressEvent` after each decision.
    #[pyo3(signature = (guard, store=None, *, registry=None, observer=None))]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] guard: PyRef<'_, Guard>,
        store: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = crate::errors::arg)] registry: Option<PyRef<'_, Registry>>,
        observer: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let policies = store
            .map(|s| crate::provider::stores_from(s).map(|(_, p)| p))
            .transpose()?;
        if let Some(o) = &observer {
            crate::errors::callable(guard.py(), o, "observer")?;
        }
        guard
            .handle()
            .dependent("Egress", |g| {
                let mut b = tenantguard::egress::Egress::builder(g);
                if let Some(p) = policies {
                    b = b.policy_store(p);
                }
                if let Some(r) = registry {
                    b = b.registry(r.0.clone());
                }
                if let Some(o) = observer {
                    b = b.observer(Arc::new(PyEgressObserver(o)));
                }
                b.build().map_err(to_py)
            })
            .map(Egress)
    }

    /// Releases this object's share of the guard's store and key provider; later calls
    /// raise `ClosedError` (a `ValueError`). The guard itself stays open.
    fn close(&self) {
        self.0.close()
    }

    /// Whether this object (or its guard) was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Entering a closed `Egress` raises `ClosedError`.
    fn __enter__(slf: Py<Self>) -> PyResult<Py<Self>> {
        slf.get().0.get()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.0.close();
        false
    }

    /// The registry's sub-processors.
    fn providers(&self) -> PyResult<Vec<SubProcessor>> {
        Ok(self
            .0
            .get()?
            .registry()
            .iter()
            .map(SubProcessor::from)
            .collect())
    }

    /// The organization's policy (the permissive default if none was set). Any role.
    fn policy(&self, py: Python<'_>, ctx: &TenantContext) -> PyResult<EgressPolicy> {
        let ctx = &ctx.0;
        self.run(py, |e| async move { e.policy(ctx).await })
            .map(EgressPolicy)
    }

    /// Validates and stores the organization's policy; returns its version. Audited. Admin role.
    fn set_policy(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        policy: &EgressPolicy,
    ) -> PyResult<u64> {
        let (ctx, p) = (&ctx.0, &policy.0);
        self.run(py, |e| async move { e.set_policy(ctx, p).await })
    }

    /// Decides whether `text` may go to `provider` as data of `category` and, if so,
    /// redacts it per policy (pseudonyms into `session`, or a fresh one).
    #[pyo3(signature = (ctx, provider, text, *, category="prompts", session=None))]
    fn prepare(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        provider: &str,
        text: &str,
        category: &str,
        session: Option<&PseudonymSession>,
    ) -> PyResult<EgressDecisionPy> {
        let ctx = &ctx.0;
        let mut req = EgressRequest::new(provider, text);
        req.category = category;
        req.session = session.map(|s| s.0.clone());
        let d = self.run(py, |e| async move { e.prepare_with(ctx, req).await })?;
        Ok(match d {
            EgressDecision::Allowed(p) => EgressDecisionPy {
                allowed: true,
                reason: None,
                message: None,
                category: None,
                prepared: Some(Py::new(py, Prepared(p))?),
            },
            EgressDecision::Denied { reason } => EgressDecisionPy {
                allowed: false,
                reason: Some(reason_code(&reason)),
                message: Some(reason.to_string()),
                category: match &reason {
                    DenyReason::CategoryNotAllowed { category } => Some(category.clone()),
                    _ => None,
                },
                prepared: None,
            },
        })
    }

    fn __repr__(&self) -> String {
        self.0.repr()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EgressPolicy>()?;
    m.add_class::<SubProcessor>()?;
    m.add_class::<Registry>()?;
    m.add_class::<PseudonymSession>()?;
    m.add_class::<StreamRestorer>()?;
    m.add_class::<Finding>()?;
    m.add_class::<Redacted>()?;
    m.add_class::<Redactor>()?;
    m.add_class::<Prepared>()?;
    m.add_class::<EgressDecisionPy>()?;
    m.add_class::<Egress>()?;
    m.add_class::<EgressEvent>()?;
    Ok(())
}
