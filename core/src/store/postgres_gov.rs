//! Governance and policy traits for [`PostgresStore`](super::PostgresStore); schema in
//! `postgres/002_governance.sql`.
//!
//! Same semantics as the SQLite implementation, with the Row Level Security difference
//! documented on the store: another tenant's token or session is invisible, so
//! `revoke_token`, `revoke_session` and `rotate_refresh` answer `RecordNotFound` and
//! `get_session` answers `None` instead of `CrossTenant`. Hash lookups run on the service
//! connection, where a transaction-local setting makes exactly the named row visible.

use crate::store::integrity::RowMacs;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::{
    backend, code, page, pool_err, scoped, service_write, tenant_visible, PostgresStore, Tx,
};
use crate::audit::{AuditDraft, AuditEntry, PersonalFields, GENESIS};
use crate::store::StoreError;
use crate::store::{
    validate_label, AuditStore, RefreshRecord, RetentionStore, RetentionWindow, SessionRecord,
    SessionStore, TokenRecord, TokenStore,
};
use crate::store::{validate_policy, PolicyDocument, PolicyStore};
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};

/// Maps a failed write: unique key taken, refused by a policy, or unknown tenant.
fn write_err(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| match code(&e) {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
            StoreError::Conflict(format!("{what} exists"))
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => StoreError::PermissionDenied(format!(
            "the role in this tenant may not write the {what}"
        )),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::TenantNotFound,
        _ => backend(e),
    }
}

fn bad(what: &str) -> StoreError {
    StoreError::Backend(format!("invalid {what} in the database"))
}

fn hash32(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| bad("hash"))
}

fn tenant(s: String) -> Result<TenantId, StoreError> {
    TenantId::new(s).map_err(|_| bad("tenant id"))
}

/// Opens a service-connection transaction with no tenant in scope and `setting` naming
/// one hash: the only rows it can see are those with that hash.
async fn by_hash_tx<'a>(
    client: &'a mut super::Obj,
    setting: &str,
    hash: &[u8; 32],
) -> Result<Tx<'a>, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute(
        "SELECT set_config('app.tenant_id', '', true), set_config('app.user_id', '', true), set_config($1, $2, true)",
        &[&setting, &hex::encode(hash)],
    )
    .await
    .map_err(backend)?;
    Ok(tx)
}

const TOKEN_COLS: &str =
    "id, tenant_id, agent, name, hash, scopes, created_at, expires_at, revoked_at, mac, mac_key_id";

fn mac_key_id(r: &Row, i: usize) -> Option<i64> {
    r.get::<_, Option<i32>>(i).map(i64::from)
}

fn token_row(r: &Row, key: Option<&RowMacs>) -> Result<TokenRecord, StoreError> {
    let scopes: String = r.get(5);
    if let Some(k) = key {
        // On the stored columns, before parsing: an edited row is an integrity failure.
        k.check_token(
            &crate::store::TokenRow {
                id: r.get(0),
                tenant: r.get(1),
                agent: r.get(2),
                hash: r.get(4),
                scopes: &scopes,
                created_at: r.get(6),
                expires_at: r.get(7),
            },
            r.get::<_, Option<&[u8]>>(9),
            mac_key_id(r, 10),
        )?;
    }
    let rec = TokenRecord {
        id: r.get(0),
        tenant: tenant(r.get(1))?,
        agent: r.get(2),
        name: r.get(3),
        hash: hash32(r.get(4))?,
        scopes: serde_json::from_str(&scopes).map_err(|_| bad("scopes"))?,
        created_at: r.get(6),
        expires_at: r.get(7),
        revoked_at: r.get(8),
    };
    Ok(rec)
}

#[async_trait::async_trait]
impl TokenStore for PostgresStore {
    async fn insert_token(&self, ctx: &TenantContext, rec: &TokenRecord) -> Result<(), StoreError> {
        ctx.check_tenant(&rec.tenant)
            .map_err(|_| StoreError::CrossTenant)?;
        let scopes = serde_json::to_string(&rec.scopes)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let k = self.row_macs().await?;
        let tag = k.token(rec, &scopes);
        let mut client = self.service_conn().await?;
        let tx = service_write(
            &mut client,
            ctx,
            Role::Admin,
            "managing agent tokens",
            Some(&k),
        )
        .await?;
        tx.execute(
            &format!(
                "INSERT INTO tg_tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &rec.id,
                &rec.tenant.as_str(),
                &rec.agent,
                &rec.name,
                &&rec.hash[..],
                &scopes,
                &rec.created_at,
                &rec.expires_at,
                &rec.revoked_at,
                &tag.mac,
                &tag.key_id,
            ],
        )
        .await
        .map_err(write_err("token id or hash"))?;
        tx.commit().await.map_err(backend)
    }

    async fn token_by_hash(
        &self,
        _service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let mut client = self.service_pool()?.get().await.map_err(pool_err)?;
        let tx = by_hash_tx(&mut client, "app.token_hash", hash).await?;
        let row = tx
            .query_opt(
                &format!("SELECT {TOKEN_COLS} FROM tg_tokens WHERE hash = $1"),
                &[&&hash[..]],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        // A miss reloads the keyring over the pool: hold no connection then.
        drop(client);
        self.verified(|k| row.as_ref().map(|r| token_row(r, Some(k))).transpose())
            .await
    }

    async fn list_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let limit = page(limit)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {TOKEN_COLS} FROM tg_tokens WHERE tenant_id = $1 AND ($2::text IS NULL OR agent = $2) AND id > $3 ORDER BY id LIMIT $4"
                ),
                &[&ctx.tenant().as_str(), &agent, &after.unwrap_or(""), &limit],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        // A miss reloads the keyring over the pool: hold no connection then.
        drop(client);
        self.verified(|k| rows.iter().map(|r| token_row(r, Some(k))).collect())
            .await
    }

    async fn revoke_token(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.revoke_row(ctx, "tg_tokens", "token", id, at).await
    }

    async fn revoke_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        self.revoke_all(ctx, "tg_tokens", "agent", "token", agent, at)
            .await
    }
}

#[async_trait::async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(
        &self,
        ctx: &TenantContext,
        draft: &AuditDraft,
    ) -> Result<AuditEntry, StoreError> {
        let t = ctx.tenant().as_str();
        // Before taking a connection: the first call of a process may backfill over another.
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = service_write(
            &mut client,
            ctx,
            Role::Viewer,
            "appending to the audit log",
            Some(&k),
        )
        .await?;
        // Appenders of one tenant queue here until the holder commits, so each reads the
        // head the previous one wrote; the (tenant_id, seq) key refuses a fork regardless.
        // Prepared once per connection: an unnamed statement is planned on every call,
        // and planning with the policies inlined costs more than running the statement.
        let lock = tx
            .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended('tg_audit:' || $1, 0))")
            .await
            .map_err(backend)?;
        tx.execute(&lock, &[&t]).await.map_err(backend)?;
        let head_st = tx
            .prepare_cached(
                "SELECT seq, hash FROM tg_audit WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .await
            .map_err(backend)?;
        let head = tx
            .query_opt(&head_st, &[&t])
            .await
            .map_err(backend)?
            .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
        let (seq, prev) = match &head {
            Some((s, h)) => (*s as u64 + 1, h.as_str()),
            None => (1, GENESIS),
        };
        let e = AuditEntry::chain(t, seq, prev, draft);
        let (row, personal) = e.split_personal();
        let insert = tx
            .prepare_cached(
                "INSERT INTO tg_audit (tenant_id, seq, hash, entry, personal) VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(backend)?;
        tx.execute(
            &insert,
            &[
                &t,
                &(seq as i64),
                &e.hash,
                &row.to_json_line(),
                &personal.map(|p| p.to_json()),
            ],
        )
        .await
        .map_err(write_err("audit entry"))?;
        tx.commit().await.map_err(backend)?;
        Ok(e)
    }

    async fn audit_entries(
        &self,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = page(limit)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                "SELECT seq, entry, personal FROM tg_audit WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&ctx.tenant().as_str(), &after, &limit],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let e: AuditEntry = serde_json::from_str(r.get(1)).map_err(|_| {
                    StoreError::Backend(format!("stored audit entry seq {seq} is not valid JSON"))
                })?;
                let personal = match r.get::<_, Option<&str>>(2) {
                    None => None,
                    Some(p) => Some(PersonalFields::from_json(p).ok_or_else(|| {
                        StoreError::Backend(format!(
                            "stored audit personal fields of seq {seq} are not valid JSON"
                        ))
                    })?),
                };
                Ok(e.with_personal(personal))
            })
            .collect()
    }

    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        seqs: &[u64],
    ) -> Result<u64, StoreError> {
        page(seqs.len())?;
        let seqs: Vec<i64> = seqs
            .iter()
            .map(|&s| i64::try_from(s).unwrap_or(i64::MAX))
            .collect();
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = service_write(
            &mut client,
            ctx,
            Role::Admin,
            "erasing personal data from the audit log",
            Some(&k),
        )
        .await?;
        let n = tx
            .execute(
                "UPDATE tg_audit SET personal = NULL WHERE tenant_id = $1 AND seq = ANY($2) AND personal IS NOT NULL",
                &[&ctx.tenant().as_str(), &seqs],
            )
            .await
            .map_err(write_err("audit personal fields"))?;
        tx.commit().await.map_err(backend)?;
        Ok(n)
    }
}

fn window_to_sql(w: RetentionWindow) -> Option<i64> {
    match w {
        RetentionWindow::Forever => None,
        RetentionWindow::Secs(s) => Some(s),
    }
}

#[async_trait::async_trait]
impl RetentionStore for PostgresStore {
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
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        tx.execute(
            "INSERT INTO tg_retention_rules (tenant_id, class, window_secs) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, class) DO UPDATE SET window_secs = EXCLUDED.window_secs",
            &[&ctx.tenant().as_str(), &class, &window_to_sql(window)],
        )
        .await
        .map_err(write_err("retention rule"))?;
        tx.commit().await.map_err(backend)
    }

    async fn clear_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
    ) -> Result<bool, StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let n = if super::via_service(ctx) {
            tx.execute(
                "DELETE FROM tg_retention_rules WHERE tenant_id = $1 AND class = $2",
                &[&ctx.tenant().as_str(), &class],
            )
            .await
            .map_err(write_err("retention rule"))?
        } else {
            // No DELETE privilege for the application role (see tg_delete_record).
            let ok: bool = tx
                .query_one("SELECT tg_clear_retention_rule($1)", &[&class])
                .await
                .map_err(write_err("retention rule"))?
                .get(0);
            u64::from(ok)
        };
        tx.commit().await.map_err(backend)?;
        Ok(n == 1)
    }

    async fn retention_rules(
        &self,
        ctx: &TenantContext,
    ) -> Result<Vec<(String, RetentionWindow)>, StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query("SELECT class, window_secs FROM tg_retention_rules WHERE tenant_id = $1 ORDER BY class", &[&ctx.tenant().as_str()])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get::<_, Option<i64>>(1)
                        .map_or(RetentionWindow::Forever, RetentionWindow::Secs),
                )
            })
            .collect())
    }

    async fn record_classes(&self, ctx: &TenantContext) -> Result<Vec<String>, StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                "SELECT DISTINCT class FROM tg_records WHERE tenant_id = $1 ORDER BY class",
                &[&ctx.tenant().as_str()],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn delete_expired(
        &self,
        ctx: &TenantContext,
        class: &str,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = page(limit)?;
        // Before taking a connection: the first call of a process may backfill over another.
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx =
            service_write(&mut client, ctx, Role::Member, "deleting records", Some(&k)).await?;
        let rows = tx
            .query(
                // A MATERIALIZED CTE runs once: `id IN (SELECT ... LIMIT n)` could be
                // re-run per outer row under a nested loop and delete more than n.
                "WITH doomed AS MATERIALIZED (
                     SELECT id FROM tg_records WHERE tenant_id = $1 AND class = $2 AND updated_at < $3 ORDER BY id LIMIT $4 FOR UPDATE)
                 DELETE FROM tg_records r USING doomed d WHERE r.tenant_id = $1 AND r.id = d.id
                 RETURNING r.id",
                &[&ctx.tenant().as_str(), &class, &cutoff, &limit],
            )
            .await
            .map_err(write_err("records"))?;
        tx.commit().await.map_err(backend)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort();
        Ok(ids)
    }

    async fn delete_by_subject(
        &self,
        ctx: &TenantContext,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = page(limit)?;
        // Before taking a connection: the first call of a process may backfill over another.
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx =
            service_write(&mut client, ctx, Role::Member, "deleting records", Some(&k)).await?;
        let rows = tx
            .query(
                "WITH doomed AS MATERIALIZED (
                     SELECT id FROM tg_records WHERE tenant_id = $1 AND subject = $2 ORDER BY id LIMIT $3 FOR UPDATE)
                 DELETE FROM tg_records r USING doomed d WHERE r.tenant_id = $1 AND r.id = d.id
                 RETURNING r.id",
                &[&ctx.tenant().as_str(), &subject, &limit],
            )
            .await
            .map_err(write_err("records"))?;
        tx.commit().await.map_err(backend)?;
        let mut ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort();
        Ok(ids)
    }

    async fn delete_all_records(
        &self,
        ctx: &TenantContext,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let limit = page(limit)?;
        // Before taking a connection: the first call of a process may backfill over another.
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx =
            service_write(&mut client, ctx, Role::Member, "deleting records", Some(&k)).await?;
        let n = tx
            .execute(
                "WITH doomed AS MATERIALIZED (SELECT id FROM tg_records WHERE tenant_id = $1 LIMIT $2 FOR UPDATE)
                 DELETE FROM tg_records r USING doomed d WHERE r.tenant_id = $1 AND r.id = d.id",
                &[&ctx.tenant().as_str(), &limit],
            )
            .await
            .map_err(write_err("records"))?;
        tx.commit().await.map_err(backend)?;
        Ok(n)
    }
}

const SESSION_COLS: &str =
    "id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, revoked_at, label, mac, mac_key_id";

fn session_row(r: &Row, key: Option<&RowMacs>) -> Result<SessionRecord, StoreError> {
    let rec = SessionRecord {
        id: r.get(0),
        tenant: tenant(r.get(1))?,
        user: r.get(2),
        role: Role::parse(r.get(3)).ok_or_else(|| bad("role"))?,
        created_at: r.get(4),
        expires_at: r.get(5),
        refreshed_at: r.get(6),
        revoked_at: r.get(7),
        label: r.get(8),
    };
    if let Some(k) = key {
        k.check_session(&rec, r.get::<_, Option<&[u8]>>(9), mac_key_id(r, 10))?;
    }
    Ok(rec)
}

async fn insert_refresh(tx: &Tx<'_>, r: &RefreshRecord, k: &RowMacs) -> Result<(), StoreError> {
    let tag = k.refresh(r);
    tx.execute(
        "INSERT INTO tg_refresh_tokens (hash, session_id, tenant_id, expires_at, used, mac, mac_key_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&&r.hash[..], &r.session_id, &r.tenant.as_str(), &r.expires_at, &r.used, &tag.mac, &tag.key_id],
    )
    .await
    .map_err(write_err("refresh hash"))?;
    Ok(())
}

#[async_trait::async_trait]
impl SessionStore for PostgresStore {
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
        let mut client = self.service_conn().await?;
        let tx = service_write(
            &mut client,
            ctx,
            Role::Viewer,
            "opening a session",
            Some(&k),
        )
        .await?;
        tx.execute(
            &format!("INSERT INTO tg_sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            &[&s.id, &s.tenant.as_str(), &s.user, &s.role.as_str(), &s.created_at, &s.expires_at, &s.refreshed_at, &s.revoked_at, &s.label, &tag.mac, &tag.key_id],
        )
        .await
        .map_err(write_err("session id"))?;
        insert_refresh(&tx, refresh, &k).await?;
        tx.commit().await.map_err(backend)
    }

    async fn refresh_by_hash(
        &self,
        _service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<RefreshRecord>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let mut client = self.service_pool()?.get().await.map_err(pool_err)?;
        let tx = by_hash_tx(&mut client, "app.refresh_hash", hash).await?;
        let row = tx
            .query_opt("SELECT hash, session_id, tenant_id, expires_at, used, mac, mac_key_id FROM tg_refresh_tokens WHERE hash = $1", &[&&hash[..]])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        // A miss reloads the keyring over the pool: hold no connection then.
        drop(client);
        self.verified(|k| {
            row.as_ref()
                .map(|r| {
                    let rec = RefreshRecord {
                        hash: hash32(r.get(0))?,
                        session_id: r.get(1),
                        tenant: tenant(r.get(2))?,
                        expires_at: r.get(3),
                        used: r.get(4),
                    };
                    k.check_refresh(&rec, r.get::<_, Option<&[u8]>>(5), mac_key_id(r, 6))?;
                    Ok(rec)
                })
                .transpose()
        })
        .await
    }

    async fn get_session(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let row = tx
            .query_opt(
                &format!("SELECT {SESSION_COLS} FROM tg_sessions WHERE id = $1 AND tenant_id = $2"),
                &[&id, &ctx.tenant().as_str()],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        // A miss reloads the keyring over the pool: hold no connection then.
        drop(client);
        self.verified(|k| row.as_ref().map(|r| session_row(r, Some(k))).transpose())
            .await
    }

    async fn rotate_refresh(
        &self,
        ctx: &TenantContext,
        old: &[u8; 32],
        new: &RefreshRecord,
        at: i64,
    ) -> Result<bool, StoreError> {
        let t = ctx.tenant().as_str();
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = service_write(
            &mut client,
            ctx,
            Role::Viewer,
            "refreshing a session",
            Some(&k),
        )
        .await?;
        let sid: String = match tx
            .query_opt(
                "SELECT session_id FROM tg_refresh_tokens WHERE hash = $1 AND tenant_id = $2",
                &[&&old[..], &t],
            )
            .await
            .map_err(backend)?
        {
            None => return Err(StoreError::RecordNotFound),
            Some(r) => r.get(0),
        };
        if sid != new.session_id {
            return Ok(false);
        }
        // The row lock taken by this UPDATE makes a concurrent rotation of the same token
        // wait, then find it used: exactly one wins.
        let marked = tx
            .execute("UPDATE tg_refresh_tokens SET used = true WHERE hash = $1 AND tenant_id = $2 AND NOT used", &[&&old[..], &t])
            .await
            .map_err(write_err("refresh token"))?;
        let live = tx
            .execute(
                "UPDATE tg_sessions SET refreshed_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
                &[&at, &new.session_id, &t],
            )
            .await
            .map_err(write_err("session"))?;
        if marked != 1 || live != 1 {
            return Ok(false); // dropped: the transaction rolls back, nothing written
        }
        insert_refresh(&tx, new, &k).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn list_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let limit = page(limit)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {SESSION_COLS} FROM tg_sessions WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2) ORDER BY created_at DESC, id LIMIT $3"
                ),
                &[&ctx.tenant().as_str(), &user, &limit],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        // A miss reloads the keyring over the pool: hold no connection then.
        drop(client);
        self.verified(|k| rows.iter().map(|r| session_row(r, Some(k))).collect())
            .await
    }

    async fn list_tenant_sessions(
        &self,
        ctx: &TenantContext,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.row_macs().await?;
        let limit = page(limit)?;
        let (c, id) = match after {
            Some((c, id)) => (Some(c), Some(id)),
            None => (None, None),
        };
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {SESSION_COLS} FROM tg_sessions WHERE tenant_id = $1 AND ($2::bigint IS NULL OR created_at < $2 OR (created_at = $2 AND id > $3::text)) ORDER BY created_at DESC, id LIMIT $4"
                ),
                &[&ctx.tenant().as_str(), &c, &id, &limit],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        drop(client);
        self.verified(|k| rows.iter().map(|r| session_row(r, Some(k))).collect())
            .await
    }

    async fn revoke_session(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.revoke_row(ctx, "tg_sessions", "session", id, at).await
    }

    async fn revoke_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        self.revoke_all(ctx, "tg_sessions", "user_id", "session", user, at)
            .await
    }
}

#[async_trait::async_trait]
impl PolicyStore for PostgresStore {
    async fn get_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
    ) -> Result<Option<PolicyDocument>, StoreError> {
        validate_policy(kind, "")?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        if !tenant_visible(&tx, ctx.tenant()).await? {
            return Err(StoreError::TenantNotFound);
        }
        let row = tx
            .query_opt("SELECT body, version, updated_at FROM tg_policies WHERE tenant_id = $1 AND kind = $2", &[&ctx.tenant().as_str(), &kind])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(row.map(|r| PolicyDocument {
            body: r.get(0),
            version: r.get::<_, i64>(1) as u64,
            updated_at: r.get(2),
        }))
    }

    async fn put_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
        body: &str,
        updated_at: i64,
    ) -> Result<u64, StoreError> {
        validate_policy(kind, body)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        if !tenant_visible(&tx, ctx.tenant()).await? {
            return Err(StoreError::TenantNotFound);
        }
        let row = tx
            .query_one(
                "INSERT INTO tg_policies (tenant_id, kind, body, version, updated_at) VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (tenant_id, kind) DO UPDATE SET body = EXCLUDED.body, version = tg_policies.version + 1,
                   updated_at = EXCLUDED.updated_at
                 RETURNING version",
                &[&ctx.tenant().as_str(), &kind, &body, &updated_at],
            )
            .await
            .map_err(write_err("policy document"))?;
        tx.commit().await.map_err(backend)?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}

impl PostgresStore {
    /// Revokes one token or session row of the scoped tenant: `RecordNotFound` if the
    /// scope cannot see it, `false` if it was already revoked.
    /// Revokes every unrevoked token or session row of the context's tenant, or only those
    /// whose `owner_col` equals `owner`; returns how many were revoked.
    async fn revoke_all(
        &self,
        ctx: &TenantContext,
        table: &'static str,
        owner_col: &'static str,
        what: &'static str,
        owner: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        let needed = if table == "tg_tokens" {
            Role::Admin
        } else {
            Role::Viewer
        };
        // Before taking a connection: the first call of a process may backfill over another.
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = service_write(&mut client, ctx, needed, what, Some(&k)).await?;
        let update = format!(
            "UPDATE {table} SET revoked_at = $1 WHERE tenant_id = $2 AND ($3::text IS NULL OR {owner_col} = $3) AND revoked_at IS NULL"
        );
        let n = tx
            .execute(&update, &[&at, &ctx.tenant().as_str(), &owner])
            .await
            .map_err(write_err(what))?;
        tx.commit().await.map_err(backend)?;
        Ok(n)
    }

    async fn revoke_row(
        &self,
        ctx: &TenantContext,
        table: &'static str,
        what: &'static str,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let needed = if table == "tg_tokens" {
            Role::Admin
        } else {
            Role::Viewer
        };
        // Before taking a connection: the first call of a process may backfill over another.
        let k = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = service_write(&mut client, ctx, needed, what, Some(&k)).await?;
        let select = format!("SELECT 1 FROM {table} WHERE id = $1 AND tenant_id = $2 FOR UPDATE");
        let exists = tx
            .query_opt(&select, &[&id, &ctx.tenant().as_str()])
            .await
            .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::RecordNotFound);
        }
        let update = format!(
            "UPDATE {table} SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL"
        );
        let n = tx
            .execute(&update, &[&at, &id, &ctx.tenant().as_str()])
            .await
            .map_err(write_err(what))?;
        tx.commit().await.map_err(backend)?;
        Ok(n == 1)
    }
}
