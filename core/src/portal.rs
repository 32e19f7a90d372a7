//! SSO/MFA portal marks: a tenant marks the portals (credential targets, by host name)
//! that sign in through its single sign-on or with multi-factor authentication, and the
//! SDK then refuses to store a password credential for them, so the customer's primary
//! password for such a portal is never received.
//!
//! Marks live in the guard's policy store, one document per portal (so concurrent marks
//! of different portals never overwrite each other), plus a tenant flag that says marks
//! are in use: from then on every password must name its portal.

use thiserror::Error;

use crate::audit::{AuditAction, AuditEvent};
use crate::error::{ErrorKind, Result};
use crate::guard::Guard;
use crate::kms::KmsError;
use crate::scope::Action as ScopeAction;
use crate::secret::{Credential, CredentialKind};
use crate::tenant::{Role, TenantContext};

area_handle!(
    /// SSO/MFA portal marks and portal-checked credentials. From [`Guard::portal`].
    Portal,
    portal,
    "Portal mark operations."
);

/// Longest portal host name, in bytes (DNS limit).
pub const MAX_PORTAL_LEN: usize = 253;
/// The scope resource of portal marks (`read` to query, `admin` to mark).
pub const PORTALS_RESOURCE: &str = "policies/portals";
const IN_USE_KIND: &str = "portal_marks";

/// Errors about portals and their marks.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PortalError {
    /// Not a host name: 1 to 253 bytes of dot-separated labels of `a-z 0-9 -` (1 to 63
    /// bytes each, no leading or trailing `-`), ASCII only (internationalized names in
    /// their `xn--` form), no scheme, port, path or wildcard.
    #[error("invalid portal: give a host name (ASCII, internationalized names as xn--), at most {MAX_PORTAL_LEN} bytes")]
    InvalidPortal,
    /// The tenant marked this portal (or a parent domain of it) SSO/MFA: its password is
    /// never stored.
    #[error(
        "the tenant marked portal {portal} as SSO/MFA: a password credential for it is refused"
    )]
    SsoMfaPortal {
        /// The marked name that matched (the portal or a parent domain).
        portal: String,
    },
    /// The tenant uses portal marks, so a password must name its portal
    /// ([`Portal::put_credential`](crate::Portal::put_credential)).
    #[error("this tenant marks SSO/MFA portals: store passwords with put_portal_credential, naming the portal")]
    PortalRequired,
}

impl PortalError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PortalError::InvalidPortal => ErrorKind::InvalidInput,
            PortalError::SsoMfaPortal { .. } | PortalError::PortalRequired => {
                ErrorKind::PermissionDenied
            }
        }
    }
}

/// The canonical form of a portal host name: ASCII lower case, one trailing dot removed.
/// Anything else than a host name (non-ASCII look-alikes, scheme, port, path, `*`,
/// empty labels) is refused rather than guessed at, so no spelling can dodge a mark.
pub fn canonical_portal(portal: &str) -> Result<String, PortalError> {
    let p = portal.strip_suffix('.').unwrap_or(portal);
    if p.is_empty() || p.len() > MAX_PORTAL_LEN {
        return Err(PortalError::InvalidPortal);
    }
    let p = p.to_ascii_lowercase();
    for label in p.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(PortalError::InvalidPortal);
        }
    }
    Ok(p)
}

/// The policy kind of one portal's mark: `portal_` and 56 hex digits of its SHA-256
/// (policy kinds allow `a-z 0-9 _` only; the document names the portal, checked on read).
fn mark_kind(canonical: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(canonical.as_bytes());
    format!("portal_{}", &hex::encode(d)[..56])
}

fn parses_as_mark(body: &str, canonical: &str) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    (v.get("portal")?.as_str()? == canonical).then_some(())?;
    v.get("sso_mfa")?.as_bool()
}

impl Guard {
    async fn covering_mark(&self, ctx: &TenantContext, canonical: &str) -> Result<Option<String>> {
        let Some(policies) = self.policies() else {
            return Ok(None);
        };
        let mut name = canonical;
        loop {
            if let Some(doc) = policies.get_policy(ctx, &mark_kind(name)).await? {
                // A document that does not parse, or names another portal, fails closed.
                if parses_as_mark(&doc.body, name).unwrap_or(true) {
                    return Ok(Some(name.to_owned()));
                }
            }
            match name.split_once('.') {
                Some((_, parent)) => name = parent,
                None => return Ok(None),
            }
        }
    }

    /// Whether the tenant uses portal marks (then every password must name its portal).
    pub(crate) async fn portal_marks_in_use(&self, ctx: &TenantContext) -> Result<bool> {
        let Some(policies) = self.policies() else {
            return Ok(false);
        };
        Ok(policies.get_policy(ctx, IN_USE_KIND).await?.is_some())
    }
}

impl Portal<'_> {
    /// Marks `portal` (a host name; the mark covers its subdomains too) as signing in
    /// through SSO or with MFA (`sso_mfa = true`), or removes the mark. From the first
    /// mark on, the tenant's passwords must name their portal
    /// ([`Portal::put_credential`](crate::Portal::put_credential)), and a password for a marked portal is refused
    /// (`PortalError::SsoMfaPortal`). Passwords stored before a mark are not touched:
    /// delete them with [`Records::delete`](crate::Records::delete). Needs the admin role (checked against
    /// the stored membership) or an agent scope `admin` on `policies/portals`; kept in the
    /// guard's policy store (`Config` without one). Audited (`portal.mark`).
    pub async fn mark(self, ctx: &TenantContext, portal: &str, sso_mfa: bool) -> Result<()> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                PORTALS_RESOURCE,
                ScopeAction::Admin,
                "mark a portal",
            )
            .await?;
        let canonical = canonical_portal(portal)?;
        let policies = self.g.policies().ok_or_else(|| {
            KmsError::Config(
                "portal marks live in the policy store: set GuardBuilder::policy_store".into(),
            )
        })?;
        let now = self.g.now();
        // The flag first: a crash between the two writes leaves passwords needing a
        // portal (stricter), never a mark without the flag.
        policies
            .put_policy(ctx, IN_USE_KIND, r#"{"in_use":true}"#, now)
            .await?;
        let body = serde_json::json!({ "portal": canonical, "sso_mfa": sso_mfa }).to_string();
        policies
            .put_policy(ctx, &mark_kind(&canonical), &body, now)
            .await?;
        self.g
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::PortalMark, format!("portal:{canonical}"))
                    .detail("portal", canonical.clone())
                    .detail("sso_mfa", sso_mfa.to_string()),
            )
            .await?;
        Ok(())
    }

    /// The marked name covering `portal` (itself or its nearest marked parent domain),
    /// `None` if no mark covers it. Any member, or an agent scope `read` on
    /// `policies/portals`.
    pub async fn mark_of(self, ctx: &TenantContext, portal: &str) -> Result<Option<String>> {
        self.g.authorize(
            ctx,
            Role::Viewer,
            PORTALS_RESOURCE,
            ScopeAction::Read,
            "read portal marks",
        )?;
        self.g.covering_mark(ctx, &canonical_portal(portal)?).await
    }

    /// Stores a credential for `portal` (the host name the credential signs in to), like
    /// [`Records::put_credential`](crate::Records::put_credential), but a password for a portal the tenant marked SSO/MFA is
    /// refused (`PortalError::SsoMfaPortal`) before anything is sealed or written.
    pub async fn put_credential(
        self,
        ctx: &TenantContext,
        id: &str,
        portal: &str,
        credential: &Credential,
    ) -> Result<()> {
        let canonical = canonical_portal(portal)?;
        if credential.kind() == CredentialKind::Password {
            // Authorization first, so a refused caller learns nothing about marks.
            self.g.authorize(
                ctx,
                Role::Member,
                &format!("records/password/{id}"),
                ScopeAction::Write,
                "store a record",
            )?;
            if let Some(portal) = self.g.covering_mark(ctx, &canonical).await? {
                return Err(PortalError::SsoMfaPortal { portal }.into());
            }
        }
        self.g
            .put_record_checked(
                ctx,
                id,
                credential.kind().as_str(),
                None,
                credential.secret().expose(),
                None,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_names_are_canonical_or_refused() {
        assert_eq!(
            canonical_portal("Login.Example.COM.").unwrap(),
            "login.example.com"
        );
        assert_eq!(
            canonical_portal("xn--80ak6aa92e.com").unwrap(),
            "xn--80ak6aa92e.com"
        );
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "https://a.com",
            "a.com:443",
            "a.com/x",
            "*.a.com",
            "ехаmple.com",
            "a\u{0}.com",
            "a .com",
            "a.com..",
            "ａ.com",
        ] {
            assert_eq!(
                canonical_portal(bad),
                Err(PortalError::InvalidPortal),
                "{bad:?}"
            );
        }
        assert!(canonical_portal(&"a".repeat(64)).is_err());
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(long.len(), 253);
        assert!(canonical_portal(&long).is_ok());
        assert!(canonical_portal(&format!("{long}x")).is_err());
    }

    #[test]
    fn mark_kinds_are_valid_policy_kinds() {
        let k = mark_kind("login.example.com");
        assert!(crate::policy::validate_policy(&k, "{}").is_ok(), "{k}");
        assert_ne!(k, mark_kind("example.com"));
    }
}
