//! Authorization scopes: an action on a resource pattern. Part of the small core: contexts
//! (`tenant`) carry an agent's scopes and every area checks them; agent tokens (`tokens`)
//! store and issue them.

use serde::{Deserialize, Serialize};

/// Longest resource pattern, in bytes.
pub const MAX_RESOURCE_LEN: usize = 128;

/// What a token may do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read.
    Read,
    /// Create or replace.
    Write,
    /// Delete.
    Delete,
    /// Manage (settings, members of the resource).
    Admin,
}

impl Action {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
            Action::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission: an action on a resource pattern.
///
/// Grammar (checked when a token is created; a stored pattern that breaks it matches only
/// itself, literally):
///
/// ```text
/// pattern  = "*" | segments | segments "/*"
/// segments = segment *("/" segment)
/// segment  = 1*(any character but "/", "*" and control characters), not "." nor ".."
/// ```
///
/// At most 128 bytes. `"runs/*"` matches `runs/42` and `runs/a/b` but never `runs`, nor a
/// resource with an empty, `.` or `..` segment (`runs/../admin/keys`): such names match
/// only `"*"`. Matching is byte-exact (no Unicode folding: a look-alike never matches).
/// The SDK's own operations name their resources (`records/<class>/<id>`, `totp/<id>`,
/// `tokens`, `keys`, `tenant`, `audit`, `policies/<kind>`, `retention`; see docs/SECURITY.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// Resource pattern.
    pub resource: String,
    /// The allowed action (exactly this one: `write` does not imply `read`).
    pub action: Action,
}

/// True when `resource` has an empty, `.` or `..` segment.
fn has_dot_segment(resource: &str) -> bool {
    resource
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
}

/// A caller's resource name cut to at most 128 bytes on a character boundary, for errors.
pub(crate) fn echo(resource: &str) -> String {
    echo_str(resource).to_owned()
}

/// [`echo`] without the copy.
pub(crate) fn echo_str(resource: &str) -> &str {
    let mut end = resource.len().min(MAX_RESOURCE_LEN);
    while !resource.is_char_boundary(end) {
        end -= 1;
    }
    &resource[..end]
}

impl Scope {
    /// A scope for `action` on `resource`.
    pub fn new(resource: impl Into<String>, action: Action) -> Self {
        Scope {
            resource: resource.into(),
            action,
        }
    }

    /// Read access to `resource`.
    pub fn read(resource: impl Into<String>) -> Self {
        Self::new(resource, Action::Read)
    }

    /// Whether this scope allows `action` on `resource`.
    pub fn allows(&self, resource: &str, action: Action) -> bool {
        if self.action != action {
            return false;
        }
        if self.resource == "*" {
            return true;
        }
        match self.resource.strip_suffix('*') {
            // Only a well-formed "<segments>/*" is a prefix pattern.
            Some(prefix) if prefix.ends_with('/') && Self::check(&self.resource).is_ok() => {
                resource.len() > prefix.len()
                    && resource.starts_with(prefix)
                    && !has_dot_segment(resource)
            }
            _ => self.resource == resource,
        }
    }

    /// Whether every (resource, action) this scope allows is also allowed by `outer`.
    pub fn within(&self, outer: &Scope) -> bool {
        if self.action != outer.action || Self::check(&self.resource).is_err() {
            return false;
        }
        if outer.resource == "*" {
            return true;
        }
        match outer.resource.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('/') && Self::check(&outer.resource).is_ok() => {
                self.resource.len() > prefix.len() && self.resource.starts_with(prefix)
            }
            _ => self.resource == outer.resource,
        }
    }

    /// Checks `r` against the pattern grammar; the error says which rule it breaks.
    pub(crate) fn check(r: &str) -> Result<(), &'static str> {
        if r.is_empty() || r.len() > MAX_RESOURCE_LEN {
            return Err("a pattern is 1 to 128 bytes");
        }
        if r.chars().any(char::is_control) {
            return Err("no control characters");
        }
        if r == "*" {
            return Ok(());
        }
        let body = r.strip_suffix("/*").unwrap_or(r);
        if body.contains('*') {
            return Err("'*' only as the whole pattern or as its last segment ('runs/*')");
        }
        if has_dot_segment(body) {
            return Err("no empty, '.' or '..' segments, no leading or trailing '/'");
        }
        Ok(())
    }

    /// Checks this scope's pattern against the grammar.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        Self::check(&self.resource)
    }
}
