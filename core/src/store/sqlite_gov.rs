//! Governance traits for [`SqliteStore`](super::SqliteStore), and their schema (migration 3).

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{backend, page, SqliteStore};
use crate::audit::{AuditDraft, AuditEntry, PersonalFields, GENESIS};
use crate::store::integrity::{RowMacs, Tag, BACKFILL_BATCH, BACKFILL_DONE};
use crate::store::StoreError;
use crate::store::{
    validate_label, AuditStore, RefreshRecord, RetentionStore, RetentionWindow, SessionRecord,
    SessionStore, TokenRecord, TokenStore,
};
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};
use rusqlite::types::Value;

/// Schema of the governance tables. The audit table refuses UPDATE and DELETE by trigger.
pub(super) const MIGRATION_3: &str = "
CREATE TABLE tg_tokens (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    agent      TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX tg_tokens_by_agent ON tg_tokens(tenant_id, agent, id);
CREATE TABLE tg_audit (
    tenant_id TEXT NOT NULL,
    seq       INTEGER NOT NULL CHECK (seq > 0),
    hash      TEXT NOT NULL,
    entry     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE TRIGGER tg_audit_no_update BEFORE UPDATE ON tg_audit
BEGIN SELECT RAISE(ABORT, 'tg_audit is append-only'); END;
CREATE TRIGGER tg_audit_no_delete BEFORE DELETE ON tg_audit
BEGIN SELECT RAISE(ABORT, 'tg_audit is append-only'); END;
CREATE TABLE tg_retention_rules (
    tenant_id   TEXT NOT NULL,
    class       TEXT NOT NULL,
    window_secs INTEGER CHECK (window_secs IS NULL OR window_secs > 0),
    PRIMARY KEY (tenant_id, class)
);
CREATE INDEX tg_records_by_class ON tg_records(tenant_id, class, updated_at);
CREATE INDEX tg_records_by_subject ON tg_records(tenant_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE tg_sessions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL,
    revoked_at   INTEGER,
    label        TEXT NOT NULL
);
CREATE INDEX tg_sessions_by_user ON tg_sessions(tenant_id, user_id);
CREATE TABLE tg_refresh_tokens (
    hash       BLOB PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT NOT NULL REFERENCES tg_sessions(id),
    tenant_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tg_refresh_by_session ON tg_refresh_tokens(session_id);
";

/// The erasable personal fields of format-v2 audit entries: a `personal` column of the
/// append-only `tg_audit` (JSON of [`PersonalFields`]; the entry's JSON holds only the
/// commitment). The one update allowed is erasing it (setting it to NULL). In the same row,
/// not a table of its own: an append then writes one page, not two.
pub(super) const MIGRATION_7: &str = "
ALTER TABLE tg_audit ADD COLUMN personal TEXT;
DROP TRIGGER tg_audit_no_update;
CREATE TRIGGER tg_audit_no_update BEFORE UPDATE ON tg_audit
WHEN NEW.tenant_id IS NOT OLD.tenant_id OR NEW.seq IS NOT OLD.seq OR NEW.hash IS NOT OLD.hash
  OR NEW.entry IS NOT OLD.entry OR NEW.personal IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'tg_audit is append-only (erasing personal fields is the one update)'); END;
";

fn bad(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Text)
}

fn hash32(v: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    v.try_into().map_err(|_| bad("hash"))
}

fn tenant(s: String) -> rusqlite::Result<TenantId> {
    TenantId::new(s).map_err(|_| bad("tenant_id"))
}

const TOKEN_COLS: &str =
    "id, tenant_id, agent, name, hash, scopes, created_at, expires_at, revoked_at, mac, mac_key_id";

type Checked<T> = Result<T, StoreError>;

/// Reads a token row after checking its MAC on the stored columns (before anything is
/// parsed: an edited row is an integrity failure, whatever it now says).
fn token_checked(
    k: &RowMacs,
) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Checked<TokenRecord>> + '_ {
    move |r| {
        let (id, tenant, agent, hash, scopes): (String, String, String, Vec<u8>, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?);
        let row = crate::store::TokenRow {
            id: &id,
            tenant: &tenant,
            agent: &agent,
            hash: &hash,
            scopes: &scopes,
            created_at: r.get(6)?,
            expires_at: r.get(7)?,
        };
        let mac: Option<Vec<u8>> = r.get(9)?;
        if let Err(e) = k.check_token(&row, mac.as_deref(), r.get(10)?) {
            return Ok(Err(e));
        }
        Ok(Ok(token_row(r)?))
    }
}

fn session_checked(
    k: &RowMacs,
) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Checked<SessionRecord>> + '_ {
    move |r| {
        let rec = session_row(r)?;
        let mac: Option<Vec<u8>> = r.get(9)?;
        Ok(k.check_session(&rec, mac.as_deref(), r.get(10)?)
            .map(|_| rec))
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scopes: String = r.get(5)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        tenant: tenant(r.get(1)?)?,
        agent: r.get(2)?,
        name: r.get(3)?,
        hash: hash32(r.get(4)?)?,
        scopes: serde_json::from_str(&scopes).map_err(|_| bad("scopes"))?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

/// Whether the context's tenant has a row with this id. Ids are per tenant: another
/// tenant's row with the same id is simply not there (it reveals nothing).
fn owner_of(
    conn: &rusqlite::Connection,
    table: &str,
    id: &str,
    ctx: &TenantContext,
) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT 1 FROM {table} WHERE tenant_id = ?1 AND id = ?2"),
            [ctx.tenant().as_str(), id],
            |_| Ok(()),
        )
        .optional()
        .map_err(backend)?
        .is_some())
}

#[async_trait::async_trait]
impl TokenStore for SqliteStore {
    async fn insert_token(&self, ctx: &TenantContext, rec: &TokenRecord) -> Result<(), StoreError> {
        ctx.check_tenant(&rec.tenant)
            .map_err(|_| StoreError::CrossTenant)?;
        let scopes = serde_json::to_string(&rec.scopes)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let tag = self.row_macs().await?.token(rec, &scopes);
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO tg_tokens ({TOKEN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                rec.id,
                rec.tenant.as_str(),
                rec.agent,
                rec.name,
                &rec.hash[..],
                scopes,
                rec.created_at,
                rec.expires_at,
                rec.revoked_at,
                tag.mac,
                tag.key_id
            ],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::Conflict("token id or hash exists".into())
            }
            _ => backend(e),
        })?;
        Ok(())
    }

    async fn token_by_hash(
        &self,
        _service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.verified(|k| {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLS} FROM tg_tokens WHERE hash = ?1"
                ))
                .map_err(backend)?;
            st.query_row([&hash[..]], token_checked(k))
                .optional()
                .map_err(backend)?
                .transpose()
        })
        .await
    }

    async fn list_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let limit = page(limit)?;
        self.verified(|k| {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLS} FROM tg_tokens WHERE tenant_id = ?1 AND (?2 IS NULL OR agent = ?2) AND id > ?3 ORDER BY id LIMIT ?4"
                ))
                .map_err(backend)?;
            let rows = st
                .query_map(
                    params![ctx.tenant().as_str(), agent, after.unwrap_or(""), limit],
                    token_checked(k),
                )
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(backend)?
                .into_iter()
                .collect()
        })
        .await
    }

    async fn revoke_token(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        revoke_row(&self.conn(), "tg_tokens", id, ctx, at)
    }

    async fn revoke_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        revoke_all(&self.conn(), "tg_tokens", "agent", agent, ctx, at)
    }
}

#[async_trait::async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(
        &self,
        ctx: &TenantContext,
        draft: &AuditDraft,
    ) -> Result<AuditEntry, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes SQLite's write lock first: appenders in other processes wait,
        // and the (tenant_id, seq) key refuses a fork if anything slipped through.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Cached statements: every audited action runs these three (the second insert,
        // of the erasable fields, would otherwise double the append's preparing).
        let head: Option<(i64, String)> = tx
            .prepare_cached(
                "SELECT seq, hash FROM tg_audit WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1",
            )
            .map_err(backend)?
            .query_row([ctx.tenant().as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(backend)?;
        let (seq, prev) = match &head {
            Some((s, h)) => (*s as u64 + 1, h.as_str()),
            None => (1, GENESIS),
        };
        let e = AuditEntry::chain(ctx.tenant().as_str(), seq, prev, draft);
        let (row, personal) = e.split_personal();
        tx.prepare_cached(
            "INSERT INTO tg_audit (tenant_id, seq, hash, entry, personal) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(backend)?
        .execute(params![
            ctx.tenant().as_str(),
            seq as i64,
            e.hash,
            row.to_json_line(),
            personal.map(|p| p.to_json())
        ])
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(e)
    }

    async fn audit_entries(
        &self,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = page(limit)?;
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT seq, entry, personal FROM tg_audit WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(backend)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = st
            .query_map(params![ctx.tenant().as_str(), after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json, personal) = row.map_err(backend)?;
            let e: AuditEntry = serde_json::from_str(&json).map_err(|_| {
                StoreError::Backend(format!("stored audit entry seq {seq} is not valid JSON"))
            })?;
            let personal = match personal {
                None => None,
                Some(p) => Some(PersonalFields::from_json(&p).ok_or_else(|| {
                    StoreError::Backend(format!(
                        "stored audit personal fields of seq {seq} are not valid JSON"
                    ))
                })?),
            };
            out.push(e.with_personal(personal));
        }
        Ok(out)
    }

    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        seqs: &[u64],
    ) -> Result<u64, StoreError> {
        page(seqs.len())?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE tg_audit SET personal = NULL WHERE tenant_id = ?1 AND seq = ?2 AND personal IS NOT NULL",
                )
                .map_err(backend)?;
            for &seq in seqs {
                let seq = i64::try_from(seq).unwrap_or(i64::MAX);
                n += st
                    .execute(params![ctx.tenant().as_str(), seq])
                    .map_err(backend)? as u64;
            }
        }
        tx.commit().map_err(backend)?;
        // Erased bytes leave the WAL too (`secure_delete` overwrites them in the file).
        super::checkpoint(&conn);
        Ok(n)
    }
}

fn window_to_sql(w: RetentionWindow) -> Option<i64> {
    match w {
        RetentionWindow::Forever => None,
        RetentionWindow::Secs(s) => Some(s),
    }
}

fn delete_ids(
    conn: &rusqlite::Connection,
    ctx: &TenantContext,
    ids: &[String],
) -> Result<(), StoreError> {
    let mut st = conn
        .prepare_cached("DELETE FROM tg_records WHERE id = ?1 AND tenant_id = ?2")
        .map_err(backend)?;
    for id in ids {
        st.execute(params![id, ctx.tenant().as_str()])
            .map_err(backend)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl RetentionStore for SqliteStore {
    async fn set_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
        window: RetentionWindow,
    ) -> Result<(), StoreError> {
        validate_label("data class", class)?;
        if matches!(window, RetentionWindow::Secs(s) if s <= 0) {
            return Err(StoreError::InvalidInput(
                "retention window must be positive".into(),
            ));
        }
        self.conn()
            .execute(
                "INSERT INTO tg_retention_rules (tenant_id, class, window_secs) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant_id, class) DO UPDATE SET window_secs = excluded.window_secs",
                params![ctx.tenant().as_str(), class, window_to_sql(window)],
            )
            .map_err(backend)?;
        Ok(())
    }

    async fn clear_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "DELETE FROM tg_retention_rules WHERE tenant_id = ?1 AND class = ?2",
                params![ctx.tenant().as_str(), class],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn retention_rules(
        &self,
        ctx: &TenantContext,
    ) -> Result<Vec<(String, RetentionWindow)>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT class, window_secs FROM tg_retention_rules WHERE tenant_id = ?1 ORDER BY class")
            .map_err(backend)?;
        let rows = st
            .query_map([ctx.tenant().as_str()], |r| {
                let w: Option<i64> = r.get(1)?;
                Ok((
                    r.get(0)?,
                    w.map_or(RetentionWindow::Forever, RetentionWindow::Secs),
                ))
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    async fn record_classes(&self, ctx: &TenantContext) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT DISTINCT class FROM tg_records WHERE tenant_id = ?1 ORDER BY class",
            )
            .map_err(backend)?;
        let rows = st
            .query_map([ctx.tenant().as_str()], |r| r.get(0))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    async fn delete_expired(
        &self,
        ctx: &TenantContext,
        class: &str,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = page(limit)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let ids: Vec<String> = {
            let mut st = tx
                .prepare_cached("SELECT id FROM tg_records WHERE tenant_id = ?1 AND class = ?2 AND updated_at < ?3 ORDER BY id LIMIT ?4")
                .map_err(backend)?;
            let rows = st
                .query_map(params![ctx.tenant().as_str(), class, cutoff, limit], |r| {
                    r.get(0)
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        delete_ids(&tx, ctx, &ids)?;
        tx.commit().map_err(backend)?;
        Ok(ids)
    }

    async fn delete_by_subject(
        &self,
        ctx: &TenantContext,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = page(limit)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let ids: Vec<String> = {
            let mut st = tx
                .prepare_cached("SELECT id FROM tg_records WHERE tenant_id = ?1 AND subject = ?2 ORDER BY id LIMIT ?3")
                .map_err(backend)?;
            let rows = st
                .query_map(params![ctx.tenant().as_str(), subject, limit], |r| r.get(0))
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        delete_ids(&tx, ctx, &ids)?;
        tx.commit().map_err(backend)?;
        Ok(ids)
    }

    async fn delete_all_records(
        &self,
        ctx: &TenantContext,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let limit = page(limit)?;
        // Ids are per tenant: the outer condition on the tenant is what keeps another
        // tenant's record with one of these ids (without it, erasing one tenant deleted them).
        let n = self
            .conn()
            .execute(
                "DELETE FROM tg_records WHERE tenant_id = ?1 AND id IN (SELECT id FROM tg_records WHERE tenant_id = ?1 LIMIT ?2)",
                params![ctx.tenant().as_str(), limit],
            )
            .map_err(backend)?;
        Ok(n as u64)
    }
}

fn parse_role(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).ok_or_else(|| bad("role"))
}

const SESSION_COLS: &str =
    "id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, revoked_at, label, mac, mac_key_id";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    let role: String = r.get(3)?;
    Ok(SessionRecord {
        id: r.get(0)?,
        tenant: tenant(r.get(1)?)?,
        user: r.get(2)?,
        role: parse_role(&role)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        refreshed_at: r.get(6)?,
        revoked_at: r.get(7)?,
        label: r.get(8)?,
    })
}

fn insert_refresh(
    conn: &rusqlite::Connection,
    r: &RefreshRecord,
    k: &RowMacs,
) -> Result<(), StoreError> {
    let tag = k.refresh(r);
    conn.execute(
        "INSERT INTO tg_refresh_tokens (hash, session_id, tenant_id, expires_at, used, mac, mac_key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![&r.hash[..], r.session_id, r.tenant.as_str(), r.expires_at, r.used, tag.mac, tag.key_id],
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict("refresh hash exists".into()),
        _ => backend(e),
    })?;
    Ok(())
}

#[async_trait::async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(
        &self,
        ctx: &TenantContext,
        s: &SessionRecord,
        refresh: &RefreshRecord,
    ) -> Result<(), StoreError> {
        ctx.check_tenant(&s.tenant)
            .map_err(|_| StoreError::CrossTenant)?;
        let k = self.row_macs().await?;
        let tag = k.session(s);
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.execute(
            &format!("INSERT INTO tg_sessions ({SESSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![s.id, s.tenant.as_str(), s.user, s.role.as_str(), s.created_at, s.expires_at, s.refreshed_at, s.revoked_at, s.label, tag.mac, tag.key_id],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict("session id exists".into()),
            _ => backend(e),
        })?;
        insert_refresh(&tx, refresh, &k)?;
        tx.commit().map_err(backend)
    }

    async fn refresh_by_hash(
        &self,
        _service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.verified(|k| {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached("SELECT hash, session_id, tenant_id, expires_at, used, mac, mac_key_id FROM tg_refresh_tokens WHERE hash = ?1")
                .map_err(backend)?;
            st.query_row([&hash[..]], |r| {
                let rec = RefreshRecord {
                    hash: hash32(r.get(0)?)?,
                    session_id: r.get(1)?,
                    tenant: tenant(r.get(2)?)?,
                    expires_at: r.get(3)?,
                    used: r.get(4)?,
                };
                let mac: Option<Vec<u8>> = r.get(5)?;
                Ok(k.check_refresh(&rec, mac.as_deref(), r.get(6)?).map(|_| rec))
            })
            .optional()
            .map_err(backend)?
            .transpose()
        })
        .await
    }

    async fn get_session(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.verified(|k| {
            self.conn()
                .query_row(
                    &format!(
                        "SELECT {SESSION_COLS} FROM tg_sessions WHERE tenant_id = ?1 AND id = ?2"
                    ),
                    [ctx.tenant().as_str(), id],
                    session_checked(k),
                )
                .optional()
                .map_err(backend)?
                .transpose()
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        ctx: &TenantContext,
        old: &[u8; 32],
        new: &RefreshRecord,
        at: i64,
    ) -> Result<bool, StoreError> {
        let k = self.row_macs().await?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT tenant_id, session_id FROM tg_refresh_tokens WHERE hash = ?1",
                [&old[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        match row {
            None => return Err(StoreError::RecordNotFound),
            // Another tenant's refresh token is not there for this tenant.
            Some((t, _)) if t != ctx.tenant().as_str() => return Err(StoreError::RecordNotFound),
            Some((_, sid)) if sid != new.session_id => return Ok(false),
            Some(_) => {}
        }
        let marked = tx
            .execute(
                "UPDATE tg_refresh_tokens SET used = 1 WHERE hash = ?1 AND used = 0",
                [&old[..]],
            )
            .map_err(backend)?;
        let live = tx
            .execute(
                "UPDATE tg_sessions SET refreshed_at = ?1 WHERE id = ?2 AND tenant_id = ?3 AND revoked_at IS NULL",
                params![at, new.session_id, ctx.tenant().as_str()],
            )
            .map_err(backend)?;
        if marked != 1 || live != 1 {
            return Ok(false); // dropped: nothing written
        }
        insert_refresh(&tx, new, &k)?;
        tx.commit().map_err(backend)?;
        Ok(true)
    }

    async fn list_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = page(limit)?;
        self.verified(|k| {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLS} FROM tg_sessions WHERE tenant_id = ?1 AND (?2 IS NULL OR user_id = ?2) ORDER BY created_at DESC, id LIMIT ?3"
                ))
                .map_err(backend)?;
            let rows = st
                .query_map(
                    params![ctx.tenant().as_str(), user, limit],
                    session_checked(k),
                )
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(backend)?
                .into_iter()
                .collect()
        })
        .await
    }

    async fn list_tenant_sessions(
        &self,
        ctx: &TenantContext,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = page(limit)?;
        let (c, id) = match after {
            Some((c, id)) => (Some(c), Some(id)),
            None => (None, None),
        };
        self.verified(|k| {
            let conn = self.conn();
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLS} FROM tg_sessions WHERE tenant_id = ?1 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id > ?3)) ORDER BY created_at DESC, id LIMIT ?4"
                ))
                .map_err(backend)?;
            let rows = st
                .query_map(
                    params![ctx.tenant().as_str(), c, id, limit],
                    session_checked(k),
                )
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(backend)?
                .into_iter()
                .collect()
        })
        .await
    }

    async fn revoke_session(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        revoke_row(&self.conn(), "tg_sessions", id, ctx, at)
    }

    async fn revoke_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        revoke_all(&self.conn(), "tg_sessions", "user_id", user, ctx, at)
    }
}

/// Revokes every unrevoked token or session row of the context's tenant, or only those
/// whose `owner_col` equals `owner`; returns how many were revoked.
fn revoke_all(
    conn: &rusqlite::Connection,
    table: &str,
    owner_col: &str,
    owner: Option<&str>,
    ctx: &TenantContext,
    at: i64,
) -> Result<u64, StoreError> {
    let sql = format!("UPDATE {table} SET revoked_at = ?1 WHERE tenant_id = ?2 AND (?3 IS NULL OR {owner_col} = ?3) AND revoked_at IS NULL");
    let n = conn
        .execute(&sql, params![at, ctx.tenant().as_str(), owner])
        .map_err(backend)?;
    Ok(n as u64)
}

/// Revokes one token or session row of the context's tenant: `RecordNotFound` if it is
/// absent, `CrossTenant` if another tenant owns it, `false` if it was already revoked.
fn revoke_row(
    conn: &rusqlite::Connection,
    table: &str,
    id: &str,
    ctx: &TenantContext,
    at: i64,
) -> Result<bool, StoreError> {
    if !owner_of(conn, table, id, ctx)? {
        return Err(StoreError::RecordNotFound);
    }
    let sql = format!("UPDATE {table} SET revoked_at = ?1 WHERE id = ?2 AND tenant_id = ?3 AND revoked_at IS NULL");
    let n = conn
        .execute(&sql, params![at, id, ctx.tenant().as_str()])
        .map_err(backend)?;
    Ok(n == 1)
}

impl SqliteStore {
    /// The row-MAC keys; the first call of the process MACs the rows written before row
    /// MACs were always on (once per database: see [`backfill`]).
    pub(super) async fn row_macs(&self) -> Result<std::sync::Arc<RowMacs>, StoreError> {
        self.row_mac_slot()
            .get(|k| async move { backfill(&mut self.conn(), &k) })
            .await
    }

    pub(super) async fn verified<T>(
        &self,
        f: impl Fn(&RowMacs) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.row_mac_slot()
            .verify(|k| async move { backfill(&mut self.conn(), &k) }, f)
            .await
    }
}

/// MACs, once, every token, session and refresh-token row that has no MAC key id (written
/// by a release before row MACs were always on), then records the marker: from then on
/// a row without a valid MAC is refused. One transaction per batch, so a crash loses at
/// most a batch of work; rows are walked by rowid and updated only while still un-MACed,
/// so it resumes, and two processes doing it at once do each row once.
pub(super) fn backfill(conn: &mut rusqlite::Connection, k: &RowMacs) -> Result<(), StoreError> {
    let done = conn
        .query_row(
            "SELECT 1 FROM tg_service_state WHERE name = ?1",
            [BACKFILL_DONE],
            |_| Ok(()),
        )
        .optional()
        .map_err(backend)?
        .is_some();
    if done {
        return Ok(());
    }
    backfill_table(
        conn,
        &format!("SELECT {TOKEN_COLS}, rowid FROM tg_tokens WHERE mac_key_id IS NULL AND rowid > ?1 ORDER BY rowid LIMIT ?2"),
        "UPDATE tg_tokens SET mac = ?1, mac_key_id = ?2 WHERE tenant_id = ?3 AND id = ?4 AND mac_key_id IS NULL",
        |r| {
            let (id, tenant, agent, hash, scopes): (String, String, String, Vec<u8>, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?);
            let tag = k.token_row(&crate::store::TokenRow {
                id: &id,
                tenant: &tenant,
                agent: &agent,
                hash: &hash,
                scopes: &scopes,
                created_at: r.get(6)?,
                expires_at: r.get(7)?,
            });
            Ok((r.get(11)?, Some((tag, vec![Value::Text(tenant), Value::Text(id)]))))
        },
    )?;
    backfill_table(
        conn,
        &format!("SELECT {SESSION_COLS}, rowid FROM tg_sessions WHERE mac_key_id IS NULL AND rowid > ?1 ORDER BY rowid LIMIT ?2"),
        "UPDATE tg_sessions SET mac = ?1, mac_key_id = ?2 WHERE tenant_id = ?3 AND id = ?4 AND mac_key_id IS NULL",
        |r| {
            let rec = session_row(r).ok().map(|s| {
                let tag = k.session(&s);
                (tag, vec![Value::Text(s.tenant.as_str().to_owned()), Value::Text(s.id)])
            });
            Ok((r.get(11)?, rec))
        },
    )?;
    backfill_table(
        conn,
        "SELECT hash, session_id, tenant_id, expires_at, used, rowid FROM tg_refresh_tokens WHERE mac_key_id IS NULL AND rowid > ?1 ORDER BY rowid LIMIT ?2",
        "UPDATE tg_refresh_tokens SET mac = ?1, mac_key_id = ?2 WHERE hash = ?3 AND mac_key_id IS NULL",
        |r| {
            let rec = (|| -> rusqlite::Result<RefreshRecord> {
                Ok(RefreshRecord {
                    hash: hash32(r.get(0)?)?,
                    session_id: r.get(1)?,
                    tenant: tenant(r.get(2)?)?,
                    expires_at: r.get(3)?,
                    used: r.get(4)?,
                })
            })()
            .ok()
            .map(|rec| (k.refresh(&rec), vec![Value::Blob(rec.hash.to_vec())]));
            Ok((r.get(5)?, rec))
        },
    )?;
    // Memberships seeded by schema 5 from a schema-4 file's sessions.
    backfill_table(
        conn,
        "SELECT rowid, tenant_id, user_id, role FROM tg_memberships WHERE mac_key_id IS NULL AND rowid > ?1 ORDER BY rowid LIMIT ?2",
        "UPDATE tg_memberships SET mac = ?1, mac_key_id = ?2 WHERE tenant_id = ?3 AND user_id = ?4 AND mac_key_id IS NULL",
        |r| {
            let (t, u, role): (String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?);
            let tag = k.membership(&t, &u, &role);
            Ok((r.get(0)?, Some((tag, vec![Value::Text(t), Value::Text(u)]))))
        },
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    conn.execute(
        "INSERT OR IGNORE INTO tg_service_state (name, value) VALUES (?1, ?2)",
        params![BACKFILL_DONE, now.to_string()],
    )
    .map_err(backend)?;
    Ok(())
}

/// A row read by [`backfill_table`]: its rowid, and its MAC with the UPDATE's key values.
type Backfilled = (i64, Option<(Tag, Vec<Value>)>);

/// One table's share of [`backfill`]: its rows without a MAC key id in rowid order, one
/// transaction per batch. `read` gives a row's rowid and, when the row parses, its MAC and
/// the values of the `update`'s key columns (`?3`...); a row that does not parse stays
/// un-MACed, hence refused.
fn backfill_table(
    conn: &mut rusqlite::Connection,
    select: &str,
    update: &str,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Backfilled>,
) -> Result<(), StoreError> {
    let mut last = 0i64;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let rows: Vec<Backfilled> = {
            let mut st = tx.prepare(select).map_err(backend)?;
            let rows = st
                .query_map(params![last, BACKFILL_BATCH as i64], &read)
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        let Some(&(end, _)) = rows.last() else {
            return Ok(());
        };
        for (_, row) in rows {
            if let Some((tag, keys)) = row {
                let mut p = vec![Value::Blob(tag.mac), Value::Integer(tag.key_id.into())];
                p.extend(keys);
                tx.execute(update, rusqlite::params_from_iter(p))
                    .map_err(backend)?;
            }
        }
        last = end;
        tx.commit().map_err(backend)?;
    }
}
