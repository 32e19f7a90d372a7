//! Integrity of authorization rows: an HMAC-SHA256 under a service-held key over the
//! fields of a token, session, refresh-token or membership row that authorize anything.
//!
//! Threat: a database writer (a stolen service password, a DBA, a restored or edited
//! backup) plants or edits a row, e.g. widens a token's scopes, raises a session's or a
//! membership's role, moves a row to another tenant, extends an expiry. The key lives
//! with the service (not in the database), so such a row carries no valid MAC and the
//! store refuses it with [`StoreError::Integrity`] (kind `integrity`, distinct from an
//! authentication refusal).
//!
//! Not covered by the MAC (documented in docs/SECURITY.md): the one-way state columns
//! (`revoked_at`, `used`, `refreshed_at`), which the SDK changes in place. Writing back
//! an older copy of a row after its revocation is refused by the PostgreSQL triggers for
//! the application and service logins; a database superuser can still do it.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use super::gov::{RefreshRecord, SessionRecord, TokenRecord};
use super::StoreError;

/// Length of a row MAC in bytes.
pub const ROW_MAC_LEN: usize = 32;

/// The service-held key of row MACs. Never printed; zeroized on drop.
pub struct RowKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for RowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowKey(..)")
    }
}

impl RowKey {
    /// A key from 32 bytes (keep them outside the database, e.g. beside the service
    /// login's password in the secret manager).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RowKey(SecretBox::new(Box::new(bytes)))
    }

    /// A fresh random key from the OS generator.
    pub fn generate() -> Result<Self, StoreError> {
        let mut b = Box::new([0u8; 32]);
        getrandom::fill(&mut b[..])
            .map_err(|_| StoreError::Backend("the OS random generator failed".into()))?;
        Ok(RowKey(SecretBox::new(b)))
    }

    fn mac(&self, table: &str, fields: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b"tenantguard row mac v1\0");
        // Length-prefixed fields: no two field lists encode alike.
        for f in std::iter::once(table.as_bytes()).chain(fields.iter().copied()) {
            m.update(&(f.len() as u64).to_be_bytes());
            m.update(f);
        }
        m
    }

    fn tag(&self, table: &str, fields: &[&[u8]]) -> Vec<u8> {
        self.mac(table, fields).finalize().into_bytes().to_vec()
    }

    fn check(&self, table: &str, fields: &[&[u8]], tag: Option<&[u8]>) -> Result<(), StoreError> {
        let ok = tag.is_some_and(|t| self.mac(table, fields).verify_slice(t).is_ok());
        if ok {
            Ok(())
        } else {
            Err(StoreError::Integrity(format!(
                "a {table} row failed its integrity check (edited or planted outside the SDK)"
            )))
        }
    }

    fn token_fields(r: &TokenRow<'_>) -> [Vec<u8>; 7] {
        [
            r.id.as_bytes().to_vec(),
            r.tenant.as_bytes().to_vec(),
            r.agent.as_bytes().to_vec(),
            r.hash.to_vec(),
            r.scopes.as_bytes().to_vec(),
            r.created_at.to_be_bytes().to_vec(),
            opt(r.expires_at),
        ]
    }

    /// MAC of a token row (`scopes` as stored, JSON).
    pub fn token(&self, r: &TokenRecord, scopes: &str) -> Vec<u8> {
        let f = Self::token_fields(&TokenRow::of(r, scopes));
        self.tag("token", &refs(&f))
    }

    /// Verifies a token row's MAC on the stored columns, before anything is parsed.
    pub fn check_token(&self, r: &TokenRow<'_>, tag: Option<&[u8]>) -> Result<(), StoreError> {
        let f = Self::token_fields(r);
        self.check("token", &refs(&f), tag)
    }

    fn session_fields(r: &SessionRecord) -> [Vec<u8>; 6] {
        [
            r.id.as_bytes().to_vec(),
            r.tenant.as_str().as_bytes().to_vec(),
            r.user.as_bytes().to_vec(),
            r.role.as_str().as_bytes().to_vec(),
            r.created_at.to_be_bytes().to_vec(),
            r.expires_at.to_be_bytes().to_vec(),
        ]
    }

    /// MAC of a session row.
    pub fn session(&self, r: &SessionRecord) -> Vec<u8> {
        self.tag("session", &refs(&Self::session_fields(r)))
    }

    /// Verifies a session row's MAC.
    pub fn check_session(&self, r: &SessionRecord, tag: Option<&[u8]>) -> Result<(), StoreError> {
        self.check("session", &refs(&Self::session_fields(r)), tag)
    }

    fn refresh_fields(r: &RefreshRecord) -> [Vec<u8>; 4] {
        [
            r.hash.to_vec(),
            r.session_id.as_bytes().to_vec(),
            r.tenant.as_str().as_bytes().to_vec(),
            r.expires_at.to_be_bytes().to_vec(),
        ]
    }

    /// MAC of a refresh-token row.
    pub fn refresh(&self, r: &RefreshRecord) -> Vec<u8> {
        self.tag("refresh", &refs(&Self::refresh_fields(r)))
    }

    /// Verifies a refresh-token row's MAC.
    pub fn check_refresh(&self, r: &RefreshRecord, tag: Option<&[u8]>) -> Result<(), StoreError> {
        self.check("refresh", &refs(&Self::refresh_fields(r)), tag)
    }

    /// MAC of a membership row.
    pub fn membership(&self, tenant: &str, user: &str, role: &str) -> Vec<u8> {
        self.tag(
            "membership",
            &[tenant.as_bytes(), user.as_bytes(), role.as_bytes()],
        )
    }

    /// Verifies a membership row's MAC.
    pub fn check_membership(
        &self,
        tenant: &str,
        user: &str,
        role: &str,
        tag: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.check(
            "membership",
            &[tenant.as_bytes(), user.as_bytes(), role.as_bytes()],
            tag,
        )
    }
}

/// The stored columns of a token row that its MAC covers.
pub struct TokenRow<'a> {
    /// Token id.
    pub id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// Agent.
    pub agent: &'a str,
    /// SHA-256 of the token.
    pub hash: &'a [u8],
    /// Scopes as stored (JSON).
    pub scopes: &'a str,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
}

impl<'a> TokenRow<'a> {
    /// The columns of a record about to be stored.
    pub fn of(r: &'a TokenRecord, scopes: &'a str) -> Self {
        TokenRow {
            id: &r.id,
            tenant: r.tenant.as_str(),
            agent: &r.agent,
            hash: &r.hash,
            scopes,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

fn opt(v: Option<i64>) -> Vec<u8> {
    match v {
        None => vec![0],
        Some(v) => std::iter::once(1).chain(v.to_be_bytes()).collect(),
    }
}

fn refs<const N: usize>(f: &[Vec<u8>; N]) -> Vec<&[u8]> {
    f.iter().map(Vec::as_slice).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{Role, TenantId};

    fn tok() -> TokenRecord {
        TokenRecord {
            id: "t1".into(),
            tenant: TenantId::new("acme").unwrap(),
            agent: "bot".into(),
            name: "n".into(),
            hash: [7; 32],
            scopes: vec![],
            created_at: 1,
            expires_at: Some(9),
            revoked_at: None,
        }
    }

    #[test]
    fn every_authorizing_field_is_bound() {
        let k = RowKey::from_bytes([1; 32]);
        let t = tok();
        let tag = k.token(&t, "[\"read\"]");
        let row = |t: &TokenRecord, s: &'static str| {
            let f = RowKey::token_fields(&TokenRow::of(t, s));
            f
        };
        let chk = |k: &RowKey, t: &TokenRecord, s: &'static str, tag: Option<&[u8]>| {
            k.check("token", &refs(&row(t, s)), tag)
        };
        assert!(chk(&k, &t, "[\"read\"]", Some(&tag)).is_ok());
        assert!(chk(&k, &t, "[\"admin\"]", Some(&tag)).is_err(), "scopes");
        let mut moved = t.clone();
        moved.tenant = TenantId::new("beta").unwrap();
        assert!(chk(&k, &moved, "[\"read\"]", Some(&tag)).is_err(), "tenant");
        let mut longer = t.clone();
        longer.expires_at = None;
        assert!(
            chk(&k, &longer, "[\"read\"]", Some(&tag)).is_err(),
            "expiry"
        );
        assert!(chk(&k, &t, "[\"read\"]", None).is_err(), "missing MAC");
        let other = RowKey::from_bytes([2; 32]);
        let e = chk(&other, &t, "[\"read\"]", Some(&tag)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Integrity);
        assert!(k
            .check_membership(
                "acme",
                "u",
                "viewer",
                Some(&k.membership("acme", "u", "viewer"))
            )
            .is_ok());
        assert!(k
            .check_membership(
                "acme",
                "u",
                "owner",
                Some(&k.membership("acme", "u", "viewer"))
            )
            .is_err());
        let s = SessionRecord {
            id: "s".into(),
            tenant: TenantId::new("acme").unwrap(),
            user: "u".into(),
            role: Role::Viewer,
            created_at: 1,
            expires_at: 2,
            refreshed_at: 1,
            revoked_at: None,
            label: "l".into(),
        };
        let st = k.session(&s);
        let mut owner = s.clone();
        owner.role = Role::Owner;
        assert!(k.check_session(&owner, Some(&st)).is_err());
        assert!(format!("{k:?}") == "RowKey(..)");
    }
}
