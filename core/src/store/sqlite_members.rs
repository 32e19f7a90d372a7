//! Memberships for [`SqliteStore`](super::SqliteStore) (schema 5).

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{backend, page, tenant_exists, SqliteStore};
use crate::store::{MemberChange, MembershipStore, RowKey, StoreError};
use crate::tenant::{Membership, Role, ServiceRole, TenantContext, TenantId, UserId};

/// Version 5: memberships (tenant, user, role), the store's source of truth for the role
/// of a user in sensitive operations and on session refresh. `mac` as for tokens
/// (`SqliteStore::with_row_key`).
pub(super) const MIGRATION_5: &str = "
CREATE TABLE tg_memberships (
    tenant_id  TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    created_at INTEGER NOT NULL,
    mac        BLOB,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tg_memberships_by_user ON tg_memberships(user_id, tenant_id);
";

/// Inserts the creator of a tenant as its first owner (inside `create_tenant`'s transaction).
pub(super) fn insert_owner(
    conn: &Connection,
    tenant: &TenantId,
    user: &UserId,
    at: i64,
    key: Option<&RowKey>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac) VALUES (?1, ?2, 'owner', ?3, ?4)",
        params![tenant.as_str(), user.as_str(), at, key.map(|k| k.membership(tenant.as_str(), user.as_str(), "owner"))],
    )
    .map_err(backend)?;
    Ok(())
}

/// Reads one row's role, verifying its MAC (before parsing) when the store holds a key.
fn checked_role(
    key: Option<&RowKey>,
    tenant: &str,
    user: &str,
    role: &str,
    mac: Option<&[u8]>,
) -> Result<Role, StoreError> {
    if let Some(k) = key {
        k.check_membership(tenant, user, role, mac)?;
    }
    Role::parse(role).ok_or_else(|| StoreError::Backend("unknown role in the database".into()))
}

type Row = (String, String, String, Option<Vec<u8>>);

fn rows(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Row>, StoreError> {
    let mut st = conn.prepare_cached(sql).map_err(backend)?;
    let v = st
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(backend)?
        .collect::<Result<Vec<Row>, _>>()
        .map_err(backend)?;
    Ok(v)
}

fn memberships(key: Option<&RowKey>, v: Vec<Row>) -> Result<Vec<Membership>, StoreError> {
    v.into_iter()
        .map(|(t, u, r, mac)| {
            let role = checked_role(key, &t, &u, &r, mac.as_deref())?;
            Ok(Membership {
                tenant: TenantId::new(t).map_err(|e| StoreError::Backend(e.to_string()))?,
                user: UserId::new(u).map_err(|e| StoreError::Backend(e.to_string()))?,
                role,
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl MembershipStore for SqliteStore {
    async fn member_role(
        &self,
        ctx: &TenantContext,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        let conn = self.conn();
        tenant_exists(&conn, ctx.tenant())?;
        let row: Option<(String, Option<Vec<u8>>)> = conn
            .prepare_cached(
                "SELECT role, mac FROM tg_memberships WHERE tenant_id = ?1 AND user_id = ?2",
            )
            .map_err(backend)?
            .query_row([ctx.tenant().as_str(), user.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(backend)?;
        row.map(|(role, mac)| {
            checked_role(
                self.row_key(),
                ctx.tenant().as_str(),
                user.as_str(),
                &role,
                mac.as_deref(),
            )
        })
        .transpose()
    }

    async fn apply_member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        at: i64,
    ) -> Result<MemberChange, crate::Error> {
        let key = self.row_key();
        let mut conn = self.conn();
        // IMMEDIATE: the write lock is taken before the rows are read, so two concurrent
        // changes (e.g. two owners demoting each other) are serialized.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tenant_exists(&tx, ctx.tenant())?;
        let t = ctx.tenant().as_str();
        let all = rows(
            &tx,
            "SELECT tenant_id, user_id, role, mac FROM tg_memberships WHERE tenant_id = ?1",
            &[&t],
        )?;
        let all = memberships(key, all)?;
        let role_of = |u: &UserId| all.iter().find(|m| &m.user == u).map(|m| m.role);
        let actor_role = ctx.user().and_then(role_of);
        let previous = role_of(user);
        let owners = all.iter().filter(|m| m.role == Role::Owner).count();
        crate::store::plan_member_change(ctx, actor_role, previous, new, owners, all.len())?;
        match new {
            Some(role) => {
                tx.execute(
                    "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role, mac = excluded.mac",
                    params![t, user.as_str(), role.as_str(), at, key.map(|k| k.membership(t, user.as_str(), role.as_str()))],
                )
                .map_err(backend)?;
            }
            None => {
                tx.execute(
                    "DELETE FROM tg_memberships WHERE tenant_id = ?1 AND user_id = ?2",
                    params![t, user.as_str()],
                )
                .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        Ok(MemberChange {
            previous,
            actor_role,
        })
    }

    async fn list_members(
        &self,
        ctx: &TenantContext,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let limit = page(limit)?;
        let conn = self.conn();
        tenant_exists(&conn, ctx.tenant())?;
        let after = after.map(UserId::as_str).unwrap_or("");
        let v = rows(
            &conn,
            "SELECT tenant_id, user_id, role, mac FROM tg_memberships WHERE tenant_id = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3",
            &[&ctx.tenant().as_str(), &after, &limit],
        )?;
        memberships(self.row_key(), v)
    }

    async fn memberships_of_user(
        &self,
        _service: &ServiceRole,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let limit = page(limit)?;
        let conn = self.conn();
        let v = rows(
            &conn,
            "SELECT tenant_id, user_id, role, mac FROM tg_memberships WHERE user_id = ?1 ORDER BY tenant_id LIMIT ?2",
            &[&user.as_str(), &limit],
        )?;
        memberships(self.row_key(), v)
    }
}
