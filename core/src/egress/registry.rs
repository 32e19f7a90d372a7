//! The sub-processor registry: every third party that may receive data, and what it receives.

use serde::{Deserialize, Serialize};

use super::EgressError;

/// Well-known data categories (hosts may use their own names too).
pub mod category {
    /// Prompts and conversation content.
    pub const PROMPTS: &str = "prompts";
    /// Documents and files sent for retrieval or analysis.
    pub const DOCUMENTS: &str = "documents";
    /// Personal data (what the PII recognizers find).
    pub const PII: &str = "pii";
    /// Credentials and secrets (what the secret recognizers find).
    pub const CREDENTIALS: &str = "credentials";
    /// The organization's confidential terms and patterns.
    pub const CONFIDENTIAL: &str = "confidential";
    /// Traces, metrics and logs.
    pub const TELEMETRY: &str = "telemetry";
}

/// Most sub-processors in one registry.
pub const MAX_PROVIDERS: usize = 256;

/// One third party that may receive data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubProcessor {
    /// Stable id used in policies and calls, e.g. `llm-chat` (1 to 64 characters from `a-z 0-9 - _ .`).
    pub id: String,
    /// The company or service, e.g. "Example AI Inc.".
    pub name: String,
    /// Why it receives data, e.g. "chat completions".
    pub purpose: String,
    /// The data categories it receives (see [`category`]).
    pub data_categories: Vec<String>,
    /// Whether an organization may opt out of it.
    pub optional: bool,
    /// Where it processes data, e.g. "US", "EU" (free text, may be empty).
    #[serde(default)]
    pub location: String,
}

impl SubProcessor {
    /// A sub-processor with no location.
    pub fn new(
        id: &str,
        name: &str,
        purpose: &str,
        data_categories: &[&str],
        optional: bool,
    ) -> Self {
        SubProcessor {
            id: id.to_owned(),
            name: name.to_owned(),
            purpose: purpose.to_owned(),
            data_categories: data_categories.iter().map(|c| (*c).to_owned()).collect(),
            optional,
            location: String::new(),
        }
    }

    /// Sets the location.
    pub fn located(mut self, location: &str) -> Self {
        self.location = location.to_owned();
        self
    }
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// The registry of sub-processors, in registration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    providers: Vec<SubProcessor>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A typical AI product's registry: an LLM for chat, an LLM for agents, an optional
    /// reranker and an optional observability service. Hosts usually register their own.
    pub fn example() -> Self {
        let mut r = Registry::new();
        for p in [
            SubProcessor::new(
                "llm-chat",
                "LLM provider (chat)",
                "Chat completions",
                &[category::PROMPTS, category::PII],
                false,
            ),
            SubProcessor::new(
                "llm-agents",
                "LLM provider (agents)",
                "Agent runs and tool calls",
                &[category::PROMPTS, category::DOCUMENTS, category::PII],
                false,
            ),
            SubProcessor::new(
                "reranker",
                "Reranking service",
                "Search result reranking",
                &[category::DOCUMENTS],
                true,
            ),
            SubProcessor::new(
                "observability",
                "Observability service",
                "Traces and error reports",
                &[category::TELEMETRY],
                true,
            ),
        ] {
            r.providers.push(p);
        }
        r
    }

    /// Adds a sub-processor; fails on a duplicate or invalid id, or past [`MAX_PROVIDERS`].
    pub fn register(&mut self, p: SubProcessor) -> Result<(), EgressError> {
        if !valid_id(&p.id) {
            return Err(EgressError::InvalidPolicy(
                "a provider id is 1 to 64 characters from a-z 0-9 - _ .".into(),
            ));
        }
        if p.data_categories.iter().any(|c| !valid_id(c)) {
            return Err(EgressError::InvalidPolicy(
                "a data category is 1 to 64 characters from a-z 0-9 - _ .".into(),
            ));
        }
        if self.get(&p.id).is_some() {
            return Err(EgressError::InvalidPolicy(format!(
                "provider {:?} is already registered",
                p.id
            )));
        }
        if self.providers.len() >= MAX_PROVIDERS {
            return Err(EgressError::InvalidPolicy(format!(
                "at most {MAX_PROVIDERS} providers"
            )));
        }
        self.providers.push(p);
        Ok(())
    }

    /// The sub-processor with this id.
    pub fn get(&self, id: &str) -> Option<&SubProcessor> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Every sub-processor, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &SubProcessor> {
        self.providers.iter()
    }

    /// The registry as the Markdown table a security page shows.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| Sub-processor | Purpose | Data categories | Location | Optional |\n|---|---|---|---|---|\n");
        for p in &self.providers {
            let loc = if p.location.is_empty() {
                "-"
            } else {
                p.location.as_str()
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                cell(&p.name),
                cell(&p.purpose),
                cell(&p.data_categories.join(", ")),
                cell(loc),
                if p.optional { "yes (opt-out)" } else { "no" }
            ));
        }
        s
    }
}

/// Escapes a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}
