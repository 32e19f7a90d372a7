//! Login sessions.
//!
//! - Access token: a JWT (HS256) `header.claims.signature`, signed with HMAC-SHA256 under
//!   the session key, short-lived (15 minutes by default). Verification is stateless: it
//!   accepts only the exact header this module writes (so `alg: none` or any other
//!   algorithm is refused), checks the MAC in constant time, then `iss` and `exp`.
//!   Revoking a session stops its refreshes at once, and its access tokens on every
//!   instance as soon as the news arrives (the event bus; with PostgreSQL within the
//!   propagation bound of docs/SECURITY.md), not only when they expire.
//! - Refresh token: opaque, `<refresh_prefix>_<30 base62><6 base62 CRC32>`, stored as
//!   SHA-256 only. Each refresh marks it used and issues a new one (rotation); presenting a
//!   used one again is a replay, so the whole session is revoked (reuse detection).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{AuthError, PasswordCheck, PasswordHasher};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::events::Event;
use crate::guard::Guard;
use crate::ratelimit::{ActionClass, LimitKey};
use crate::secret::SecretBytes;
use crate::sessions::{RefreshRecord, SessionRecord};
use crate::storage::{StoreError, MAX_PAGE};
use crate::tenant::{
    Principal, PrincipalKind, Resolved, Role, TenantContext, TenantError, TenantId, UserId,
};
use crate::tokens::format;
use crate::tokens::TokenSecret;

area_handle!(
    /// Passwords and revocable sessions: verify a password, create, refresh, list, revoke. From [`Guard::sessions`].
    Sessions,
    sessions,
    "Password verification and session operations."
);

/// Longest access token accepted, in bytes.
pub const MAX_ACCESS_TOKEN_LEN: usize = 2048;
/// Longest session label, in bytes.
pub const MAX_LABEL_LEN: usize = 256;
const ISSUER: &str = "tenantguard";
const SESSION_SIGNING: crate::kms::ServicePurpose = crate::kms::ServicePurpose::SessionSigning;
/// The header of tokens signed with a configured key ([`SessionConfig::signing_key`]).
const HEADER: &str = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
/// The header of tokens signed with a keyring key: `{"alg":"HS256","kid":"<id>","typ":"JWT"}`.
const KID_PREFIX: &str = "{\"alg\":\"HS256\",\"kid\":\"";
const KID_SUFFIX: &str = "\",\"typ\":\"JWT\"}";

fn kid_header(id: u32) -> String {
    format!("{KID_PREFIX}{id}{KID_SUFFIX}")
}

/// Session settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// A fixed HMAC-SHA256 key for access tokens (32 to 1024 bytes), for deployments that
    /// manage it themselves (it cannot rotate; tokens carry no key id). `None` (the
    /// default): the session-signing key of the service keyring, kept in the store
    /// wrapped by the KEK, the same for every instance with no configuration, rotated
    /// with `guard.service_keys(&service)?.rotate(ServicePurpose::SessionSigning)` without logging
    /// anyone out (each token names its key in the `kid` header).
    pub signing_key: Option<SecretBytes>,
    /// Access-token lifetime, seconds (default 900).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime, seconds (default 14 days).
    pub refresh_ttl_secs: i64,
    /// Absolute session lifetime, seconds (default 30 days): no refresh goes beyond.
    pub max_lifetime_secs: i64,
    /// Prefix of refresh tokens (default `tgr`).
    pub refresh_prefix: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            signing_key: None,
            access_ttl_secs: 900,
            refresh_ttl_secs: 14 * 86_400,
            max_lifetime_secs: 30 * 86_400,
            refresh_prefix: "tgr".into(),
        }
    }
}

impl SessionConfig {
    pub(crate) fn into_key(
        self,
    ) -> std::result::Result<(SessionConfig, Option<SecretBytes>), crate::Error> {
        format::validate_prefix(&self.refresh_prefix)?;
        let bad = |m: &str| -> crate::Error { AuthError::InvalidInput(m.to_owned()).into() };
        let day100y = 100 * 366 * 86_400;
        if self.access_ttl_secs <= 0 || self.access_ttl_secs > 86_400 {
            return Err(bad("access_ttl_secs must be 1 to 86400"));
        }
        if self.refresh_ttl_secs <= 0
            || self.max_lifetime_secs <= 0
            || self.max_lifetime_secs > day100y
            || self.refresh_ttl_secs > day100y
        {
            return Err(bad(
                "refresh_ttl_secs and max_lifetime_secs must be positive and at most 100 years",
            ));
        }
        let key = match &self.signing_key {
            Some(k) if k.len() >= 32 && k.len() <= 1024 => Some(k.clone()),
            Some(_) => return Err(bad("session signing key must be 32 to 1024 bytes")),
            // The service keyring's session-signing key: shared by every instance on the
            // store, rotatable, named by the `kid` of each access token.
            None => None,
        };
        Ok((self, key))
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// Issuer (`tenantguard`).
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The tenant.
    pub tid: String,
    /// The user's role (`viewer`, `member`, `admin`, `owner`).
    pub role: String,
    /// The session id.
    pub sid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (invalid from this second on).
    pub exp: i64,
}

/// Tokens handed to the client at login and at each refresh.
#[derive(Debug)]
#[non_exhaustive]
pub struct SessionTokens {
    /// The session id.
    pub session_id: String,
    /// The access token (send as a bearer token).
    pub access_token: TokenSecret,
    /// When the access token expires, Unix seconds.
    pub access_expires_at: i64,
    /// The refresh token (keep it server-side or in an HttpOnly cookie).
    pub refresh_token: TokenSecret,
    /// When the refresh token expires, Unix seconds.
    pub refresh_expires_at: i64,
}

/// A verified access token: the session and the scope to act in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedAccess {
    /// The session id.
    pub session_id: String,
    /// The user's scope in the tenant.
    pub context: TenantContext,
    /// When the token expires, Unix seconds.
    pub expires_at: i64,
}

/// A session as the user sees it in a "where you're signed in" list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The id (to revoke it).
    pub id: String,
    /// The user.
    pub user: String,
    /// The label given at login (e.g. a device name).
    pub label: String,
    /// Creation, Unix seconds.
    pub created_at: i64,
    /// Last refresh, Unix seconds.
    pub refreshed_at: i64,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
    /// Revocation, Unix seconds.
    pub revoked_at: Option<i64>,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

fn signed(header: &str, body: &[u8], key: &[u8]) -> String {
    let mut s = String::with_capacity(96 + body.len() * 2);
    s.push_str(&URL_SAFE_NO_PAD.encode(header));
    s.push('.');
    s.push_str(&URL_SAFE_NO_PAD.encode(body));
    let mut m = mac(key);
    m.update(s.as_bytes());
    let sig = m.finalize().into_bytes();
    s.push('.');
    s.push_str(&URL_SAFE_NO_PAD.encode(sig));
    s
}

fn info(s: SessionRecord) -> SessionInfo {
    SessionInfo {
        id: s.id,
        user: s.user,
        label: s.label,
        created_at: s.created_at,
        refreshed_at: s.refreshed_at,
        expires_at: s.expires_at,
        revoked_at: s.revoked_at,
    }
}

impl Guard {
    async fn sign_access(&self, claims: &AccessClaims) -> Result<String> {
        let body =
            serde_json::to_vec(claims).map_err(|e| AuthError::InvalidInput(e.to_string()))?;
        Ok(match &self.gov().session_key {
            Some(k) => signed(HEADER, &body, k.expose()),
            None => {
                let k = self.keyring().current(SESSION_SIGNING).await?;
                signed(&kid_header(k.id().get()), &body, k.expose())
            }
        })
    }

    async fn issue(
        &self,
        s: &SessionRecord,
        role: Role,
        refresh: String,
        refresh_expires_at: i64,
    ) -> Result<SessionTokens> {
        let cfg = &self.gov().sessions;
        let now = self.now();
        let exp = now.saturating_add(cfg.access_ttl_secs).min(s.expires_at);
        let claims = AccessClaims {
            iss: ISSUER.into(),
            sub: s.user.clone(),
            tid: s.tenant.as_str().to_owned(),
            role: role.as_str().into(),
            sid: s.id.clone(),
            iat: now,
            exp,
        };
        Ok(SessionTokens {
            session_id: s.id.clone(),
            access_token: TokenSecret::new(self.sign_access(&claims).await?),
            access_expires_at: exp,
            refresh_token: TokenSecret::new(refresh),
            refresh_expires_at,
        })
    }

    async fn start_session(&self, ctx: &TenantContext, label: &str) -> Result<SessionTokens> {
        let Principal::User { user, role } = ctx.principal() else {
            // Agents never hold sessions: a short-lived token must not become a
            // refreshable login that its revocation or kill switch would not reach.
            return Err(TenantError::WrongPrincipal {
                action: "start a login session",
                kind: ctx.kind(),
            }
            .into());
        };
        if label.len() > MAX_LABEL_LEN || label.chars().any(char::is_control) {
            return Err(AuthError::InvalidInput(format!(
                "session label must be at most {MAX_LABEL_LEN} bytes"
            ))
            .into());
        }
        let cfg = &self.gov().sessions;
        let now = self.now();
        let session = SessionRecord {
            id: format::random_id("ses_")?,
            tenant: ctx.tenant().clone(),
            user: user.as_str().to_owned(),
            role: *role,
            created_at: now,
            expires_at: now.saturating_add(cfg.max_lifetime_secs),
            refreshed_at: now,
            revoked_at: None,
            label: label.to_owned(),
        };
        let refresh = format::generate(&cfg.refresh_prefix)?;
        let refresh_expires_at = now
            .saturating_add(cfg.refresh_ttl_secs)
            .min(session.expires_at);
        let rec = RefreshRecord {
            hash: crate::tokens::sha256(&refresh),
            session_id: session.id.clone(),
            tenant: ctx.tenant().clone(),
            expires_at: refresh_expires_at,
            used: false,
        };
        self.stores()
            .sessions()?
            .insert_session(ctx, &session, &rec)
            .await?;
        self.issue(&session, session.role, refresh, refresh_expires_at)
            .await
    }

    async fn reuse(&self, ctx: &TenantContext, session_id: &str) -> crate::Error {
        let step = async {
            self.stores()
                .sessions()?
                .revoke_session(ctx, session_id, self.now())
                .await?;
            self.publish(&Event::SessionRevoked {
                tenant: ctx.tenant().clone(),
                session_id: session_id.to_owned(),
            });
            let ev = AuditEvent::new(AuditAction::SessionRevoke, format!("session:{session_id}"))
                .reason("refresh token reuse detected");
            self.append_audit(ctx, ev).await
        };
        match step.await {
            Ok(_) => AuthError::RefreshReuse.into(),
            Err(e) => e,
        }
    }

    async fn session_subject(
        &self,
        ctx: &TenantContext,
        user: Option<&UserId>,
        action: &'static str,
    ) -> Result<String> {
        self.check_principal(ctx)?;
        let own = match ctx.principal() {
            Principal::User { user, .. } => Some(user.as_str()),
            Principal::Service => None,
            Principal::Agent(_) => {
                return Err(TenantError::WrongPrincipal {
                    action,
                    kind: PrincipalKind::Agent,
                }
                .into())
            }
        };
        match (user, own) {
            (Some(u), Some(o)) if u.as_str() == o => Ok(o.to_owned()),
            (None, Some(o)) => Ok(o.to_owned()),
            (Some(u), _) => {
                // Managing another user's sessions is sensitive: the stored role counts.
                self.require_live(ctx, Role::Admin, action).await?;
                Ok(u.as_str().to_owned())
            }
            (None, None) => Err(AuthError::InvalidInput(
                "the service role has no sessions: name a user".into(),
            )
            .into()),
        }
    }
}

impl Sessions<'_> {
    /// Starts a session for the context's user (after your login check, e.g.
    /// [`PasswordHasher::verify`](super::PasswordHasher::verify), and your
    /// [`TenantResolver`](crate::TenantResolver)). `label` (at most 256 bytes) names the
    /// device for the user's session list. The service role has no sessions.
    pub async fn create(self, ctx: &TenantContext, label: &str) -> Result<SessionTokens> {
        self.g.check_principal(ctx)?;
        if ctx.kind() == PrincipalKind::User {
            // The session starts with the role the store holds, not the one claimed.
            let live = self.g.live_context(ctx).await?;
            return self.g.start_session(&live, label).await;
        }
        self.g.start_session(ctx, label).await
    }

    /// Verifies an access token (signature in constant time under the key its `kid`
    /// names, issuer, expiry, and the revocations this instance has heard of) and returns
    /// the session's [`TenantContext`]. No store round trip once the key is loaded; a key
    /// rotated in by another instance is read from the store on first sight.
    pub async fn verify_access_token(self, token: &str) -> Result<VerifiedAccess> {
        if token.len() > MAX_ACCESS_TOKEN_LEN {
            return Err(AuthError::MalformedToken("too long").into());
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::MalformedToken("not three dot-separated parts").into());
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| AuthError::MalformedToken("signature is not base64url"))?;
        let unsupported = || AuthError::MalformedToken("unsupported header (only HS256 JWT)");
        let keyring_key;
        let key: &[u8] = match &self.g.gov().session_key {
            Some(k) => {
                if h != URL_SAFE_NO_PAD.encode(HEADER) {
                    return Err(unsupported().into());
                }
                k.expose()
            }
            None => {
                // Only the exact header this module writes: anything else (another
                // algorithm, `alg: none`, extra fields) is refused before any lookup.
                let header = URL_SAFE_NO_PAD.decode(h).map_err(|_| unsupported())?;
                let kid = std::str::from_utf8(&header)
                    .ok()
                    .and_then(|s| s.strip_prefix(KID_PREFIX))
                    .and_then(|s| s.strip_suffix(KID_SUFFIX))
                    .filter(|d| d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<u32>().ok())
                    .and_then(|d| crate::KeyId::new(d).ok())
                    .ok_or_else(unsupported)?;
                if URL_SAFE_NO_PAD.encode(kid_header(kid.get())) != h {
                    return Err(unsupported().into());
                }
                keyring_key = match self.g.keyring().get(SESSION_SIGNING, kid).await {
                    Ok(k) => k,
                    // A key that never existed or was retired: the signature cannot be good.
                    Err(
                        crate::kms::KeyringError::UnknownKey { .. }
                        | crate::kms::KeyringError::Retired { .. },
                    ) => return Err(AuthError::BadSignature.into()),
                    Err(e) => return Err(e.into()),
                };
                keyring_key.expose()
            }
        };
        let mut m = mac(key);
        m.update(&token.as_bytes()[..h.len() + 1 + c.len()]);
        m.verify_slice(&sig).map_err(|_| AuthError::BadSignature)?;
        let body = URL_SAFE_NO_PAD
            .decode(c)
            .map_err(|_| AuthError::MalformedToken("claims are not base64url"))?;
        let claims: AccessClaims = serde_json::from_slice(&body)
            .map_err(|_| AuthError::MalformedToken("claims are not valid JSON"))?;
        if claims.iss != ISSUER {
            return Err(AuthError::MalformedToken("wrong issuer").into());
        }
        if self.g.now() >= claims.exp {
            return Err(AuthError::Expired.into());
        }
        let tenant = TenantId::new(claims.tid)?;
        // Revoked sessions, changed memberships and shredded tenants, as this instance
        // heard of them through the event bus (docs/SECURITY.md, "Many instances").
        let verdict =
            self.g
                .gov()
                .session_revocations
                .verdict(&tenant, &claims.sid, &claims.sub, claims.iat);
        if verdict == super::revoked::Verdict::Refused {
            return Err(AuthError::Revoked.into());
        }
        let user = UserId::new(claims.sub)?;
        let role = Role::parse(&claims.role).ok_or(AuthError::MalformedToken("unknown role"))?;
        if verdict == super::revoked::Verdict::CheckMembership {
            // Rare (a membership change within one access-token lifetime): one store read.
            let scope = TenantContext::service(tenant.clone(), &self.g.service_role());
            if self
                .g
                .stores()
                .members()?
                .member_role(&scope, &user)
                .await?
                != Some(role)
            {
                return Err(AuthError::Revoked.into());
            }
        }
        Ok(VerifiedAccess {
            session_id: claims.sid,
            context: TenantContext::resolved(Resolved::make_for(
                self.g.capability_id(),
                tenant,
                user,
                role,
            )),
            expires_at: claims.exp,
        })
    }

    /// Exchanges a refresh token for new tokens, rotating the refresh token. A refresh
    /// token presented a second time revokes the whole session (`RefreshReuse`, audited).
    ///
    /// Without a host key, every caller's unknown refresh tokens count in one shared cell:
    /// prefer [`Sessions::refresh_from`](crate::Sessions::refresh_from).
    pub async fn refresh(self, refresh_token: &str) -> Result<SessionTokens> {
        self.g.sessions().refresh_from(refresh_token, None).await
    }

    /// [`Sessions::refresh`](crate::Sessions::refresh) for a caller known by `host_key` (IP address or client
    /// id), under the `SessionRefresh` limit: unknown refresh tokens count as failures of
    /// the host key (refused with `RateLimited` past the limit, before any lookup), and
    /// each user's refreshes are limited too.
    pub async fn refresh_from(
        self,
        refresh_token: &str,
        host_key: Option<&str>,
    ) -> Result<SessionTokens> {
        let cfg = &self.g.gov().sessions;
        format::parse(refresh_token, &cfg.refresh_prefix)
            .map_err(|_| AuthError::MalformedToken("not a refresh token"))?;
        let hash = crate::tokens::sha256(refresh_token);
        let service = self.g.service_role();
        let limiter = self.g.rate_limiter();
        let class = crate::ratelimit::ActionClass::SessionRefresh;
        let probe = crate::ratelimit::LimitKey::anonymous().host(Some(
            host_key.unwrap_or(crate::ratelimit::enforce::NO_HOST_KEY),
        ));
        limiter.peek(class, &probe).await?;
        let Some(rec) = self
            .g
            .stores()
            .sessions()?
            .refresh_by_hash(&service, &hash)
            .await?
        else {
            limiter.failure(class, &probe).await;
            return Err(AuthError::Unknown.into());
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&rec.hash[..], &hash[..])) {
            return Err(AuthError::Unknown.into());
        }
        let ctx = TenantContext::service(rec.tenant.clone(), &service);
        let session = self
            .g
            .stores()
            .sessions()?
            .get_session(&ctx, &rec.session_id)
            .await?
            .ok_or(AuthError::Unknown)?;
        let subject = format!("u:{}", session.user);
        let policy = self.g.tenant_policy(&rec.tenant, class).await?;
        limiter
            .check_with(
                class,
                &policy,
                &crate::ratelimit::LimitKey::tenant(rec.tenant.as_str()).subject(&subject),
            )
            .await?;
        if session.revoked_at.is_some() {
            return Err(AuthError::Revoked.into());
        }
        let now = self.g.now();
        if rec.used {
            return Err(self.g.reuse(&ctx, &session.id).await);
        }
        if now >= rec.expires_at || now >= session.expires_at {
            return Err(AuthError::Expired.into());
        }
        // The role follows the membership as stored now, never the one of the login: a
        // removed member's session ends here, a demoted member's carries the new role.
        let user = UserId::new(session.user.clone())?;
        let role = match self.g.stores().members()?.member_role(&ctx, &user).await {
            Ok(Some(role)) => role,
            Ok(None) | Err(StoreError::TenantNotFound) => {
                self.g
                    .stores()
                    .sessions()?
                    .revoke_session(&ctx, &session.id, now)
                    .await?;
                let ev = AuditEvent::new(
                    AuditAction::SessionRevoke,
                    format!("session:{}", session.id),
                )
                .reason("membership ended")
                .detail("user", session.user.clone());
                self.g.append_audit(&ctx, ev).await?;
                return Err(AuthError::MembershipEnded.into());
            }
            Err(e) => return Err(e.into()),
        };
        let refresh = format::generate(&cfg.refresh_prefix)?;
        let refresh_expires_at = now
            .saturating_add(cfg.refresh_ttl_secs)
            .min(session.expires_at);
        let new = RefreshRecord {
            hash: crate::tokens::sha256(&refresh),
            session_id: session.id.clone(),
            tenant: rec.tenant.clone(),
            expires_at: refresh_expires_at,
            used: false,
        };
        if !self
            .g
            .stores()
            .sessions()?
            .rotate_refresh(&ctx, &hash, &new, now)
            .await?
        {
            // Lost a race with another use of the same token: that is reuse too.
            return Err(self.g.reuse(&ctx, &session.id).await);
        }
        self.g
            .issue(&session, role, refresh, refresh_expires_at)
            .await
    }

    /// Sessions of `user` (the context's own user if `None`), newest first, at most
    /// `limit` (1 to 10,000). Listing another user's sessions needs the admin role.
    pub async fn list(
        self,
        ctx: &TenantContext,
        user: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<SessionInfo>> {
        let who = self
            .g
            .session_subject(ctx, user, "list another user's sessions")
            .await?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(
                StoreError::InvalidInput(format!("page size must be 1 to {MAX_PAGE}")).into(),
            );
        }
        let v = self
            .g
            .stores()
            .sessions()?
            .list_sessions(ctx, Some(&who), limit)
            .await?;
        Ok(v.into_iter().map(info).collect())
    }

    /// One page of every session of the context's tenant (all users), newest first, after
    /// `after` (the `(created_at, id)` of the previous page's last session), at most
    /// `limit` (1 to 10,000). Needs the admin role (or the service role).
    pub async fn list_tenant(
        self,
        ctx: &TenantContext,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<SessionInfo>> {
        self.g.check_principal(ctx)?;
        if matches!(ctx.principal(), Principal::Agent(_)) {
            return Err(TenantError::WrongPrincipal {
                action: "list every session of the tenant",
                kind: PrincipalKind::Agent,
            }
            .into());
        }
        self.g
            .require_live(ctx, Role::Admin, "list every session of the tenant")
            .await?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(
                StoreError::InvalidInput(format!("page size must be 1 to {MAX_PAGE}")).into(),
            );
        }
        let v = self
            .g
            .stores()
            .sessions()?
            .list_tenant_sessions(ctx, after, limit)
            .await?;
        Ok(v.into_iter().map(info).collect())
    }

    /// Revokes one session: the user's own, or any in the tenant for an admin. Returns
    /// whether it was live. Audited (`session.revoke`).
    pub async fn revoke(self, ctx: &TenantContext, session_id: &str) -> Result<bool> {
        // Who asks first: a principal that may never revoke a session (an agent, another
        // guard's capability, a revoked agent) learns nothing of which ids exist.
        self.g.check_principal(ctx)?;
        if ctx.kind() == PrincipalKind::Agent {
            return Err(TenantError::WrongPrincipal {
                action: "revoke a session",
                kind: PrincipalKind::Agent,
            }
            .into());
        }
        let s = self
            .g
            .stores()
            .sessions()?
            .get_session(ctx, session_id)
            .await?
            .ok_or(StoreError::RecordNotFound)?;
        self.g
            .session_subject(
                ctx,
                Some(&UserId::new(s.user.clone())?),
                "revoke another user's session",
            )
            .await?;
        let live = self
            .g
            .stores()
            .sessions()?
            .revoke_session(ctx, session_id, self.g.now())
            .await?;
        self.g.publish(&Event::SessionRevoked {
            tenant: ctx.tenant().clone(),
            session_id: session_id.to_owned(),
        });
        if live {
            self.g
                .append_audit(
                    ctx,
                    AuditEvent::new(AuditAction::SessionRevoke, format!("session:{session_id}"))
                        .detail("user", s.user),
                )
                .await?;
        }
        Ok(live)
    }

    /// Revokes every session of `user` (own, or any user for an admin), e.g. after a
    /// password change. Returns how many. Audited when any was live.
    pub async fn revoke_user(self, ctx: &TenantContext, user: &UserId) -> Result<u64> {
        let who = self
            .g
            .session_subject(ctx, Some(user), "revoke another user's sessions")
            .await?;
        let n = self
            .g
            .stores()
            .sessions()?
            .revoke_sessions(ctx, Some(&who), self.g.now())
            .await?;
        self.g.publish(&Event::UserSessionsRevoked {
            tenant: ctx.tenant().clone(),
            user: who.clone(),
        });
        if n > 0 {
            let ev = AuditEvent::new(AuditAction::SessionRevoke, format!("user:{who}"))
                .detail("sessions", n.to_string());
            self.g.append_audit(ctx, ev).await?;
        }
        Ok(n)
    }
}

impl Sessions<'_> {
    /// Verifies `password` of `user` in `tenant` against the stored PHC string `phc`, under
    /// the `Login` rate limit: refused with `RateLimited` (retry-after) before any hashing
    /// when over the limit; a wrong password counts as a failure (more than a success) and
    /// repeated failures lock the (user, `host_key`) pair out with an exponential back-off
    /// (audited as `ratelimit.lockout`, with counts only). Pass the caller's IP address or
    /// client id as `host_key`: an attacker from one host then never locks the user out
    /// from another. The limit counts `user` and `tenant` case-insensitively (ASCII), so
    /// a guesser varying the case of a name the host looks up case-insensitively meets
    /// the same limit. `WrongPassword`, `MalformedHash` and `InvalidInput` as
    /// [`PasswordHasher::verify`].
    pub async fn verify_password(
        self,
        hasher: &PasswordHasher,
        tenant: &TenantId,
        user: &UserId,
        password: &str,
        phc: &str,
        host_key: Option<&str>,
    ) -> Result<PasswordCheck> {
        // Hosts often find accounts by a name typed in any case: `Alice`, `ALICE` and
        // `alice` count as one user (and one tenant) here, so varying the case of a name
        // buys no fresh guesses. Ids differing only in case share their login limit.
        let subject = format!("u:{}", user.as_str().to_ascii_lowercase());
        let tenant_key = tenant.as_str().to_ascii_lowercase();
        let key = LimitKey::tenant(&tenant_key)
            .subject(&subject)
            .host(host_key);
        let limiter = self.g.rate_limiter();
        let policy = self.g.tenant_policy(tenant, ActionClass::Login).await?;
        limiter
            .check_with(ActionClass::Login, &policy, &key)
            .await?;
        match hasher.verify(password, phc) {
            Ok(check) => {
                limiter
                    .success_with(ActionClass::Login, &policy, &key)
                    .await;
                Ok(check)
            }
            Err(AuthError::WrongPassword) => {
                let out = limiter
                    .failure_with(ActionClass::Login, &policy, &key)
                    .await;
                if let Some(lock) = out.locked_for {
                    self.g
                        .audit_lockout(tenant, ActionClass::Login, user.as_str(), out.fails, lock)
                        .await?;
                }
                Err(AuthError::WrongPassword.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}
