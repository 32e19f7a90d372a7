//! Memberships for [`SqliteStore`](super::SqliteStore) (schema 5).

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{backend, page, tenant_exists, SqliteStore};
use crate::store::integrity::RowMacs;
use crate::store::{MemberChange, MembershipStore, StoreError};
use crate::tenant::{Membership, Role, ServiceRole, TenantContext, TenantId, UserId};

/// Version 5: memberships (tenant, user, role), the store's source of truth for the role
/// of a user in sensitive operations and on session refresh. `mac`/`mac_key_id` as for
/// tokens: a MAC under the keyring's row-MAC key, so a file writer cannot plant or raise
/// a member.
pub(super) const MIGRATION_5: &str = "
CREATE TABLE tg_memberships (
    tenant_id  TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    created_at INTEGER NOT NULL,
    mac        BLOB,
    mac_key_id INTEGER,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tg_memberships_by_user ON tg_memberships(user_id, tenant_id);
-- A schema-4 file has no memberships: seed them from the roles its live sessions carry
-- (the roles the host vouched at login), so an upgrade logs nobody out. The row-MAC
-- backfill MACs these rows at first use (sqlite_gov::backfill).
INSERT INTO tg_memberships (tenant_id, user_id, role, created_at)
SELECT tenant_id, user_id, role, max(created_at) FROM tg_sessions
WHERE revoked_at IS NULL GROUP BY tenant_id, user_id;
";

/// Inserts the creator of a tenant as its first owner (inside `create_tenant`'s transaction).
pub(super) fn insert_owner(
    conn: &Connection,
    tenant: &TenantId,
    user: &UserId,
    at: i64,
    macs: &RowMacs,
) -> Result<(), StoreError> {
    let tag = macs.membership(tenant.as_str(), user.as_str(), "owner");
    conn.execute(
        "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac, mac_key_id) VALUES (?1, ?2, 'owner', ?3, ?4, ?5)",
        params![tenant.as_str(), user.as_str(), at, tag.mac, tag.key_id],
    )
    .map_err(backend)?;
    Ok(())
}

/// Reads one row's role, verifying its MAC before parsing.
fn checked_role(
    k: &RowMacs,
    tenant: &str,
    user: &str,
    role: &str,
    mac: Option<&[u8]>,
    key_id: Option<i64>,
) -> Result<Role, StoreError> {
    k.check_membership(tenant, user, role, mac, key_id)?;
    Role::parse(role).ok_or_else(|| StoreError::Backend("unknown role in the database".into()))
}

type Row = (String, String, String, Option<Vec<u8>>, Option<i64>);

fn rows(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Row>, StoreError> {
    let mut st = conn.prepare_cached(sql).map_err(backend)?;
    let v = st
        .query_map(args, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(backend)?
        .collect::<Result<Vec<Row>, _>>()
        .map_err(backend)?;
    Ok(v)
}

fn memberships(k: &RowMacs, v: &[Row]) -> Result<Vec<Membership>, StoreError> {
    v.iter()
        .map(|(t, u, r, mac, key_id)| {
            let role = checked_role(k, t, u, r, mac.as_deref(), *key_id)?;
            Ok(Membership {
                tenant: TenantId::new(t.as_str())
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
                user: UserId::new(u.as_str()).map_err(|e| StoreError::Backend(e.to_string()))?,
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
        let row: Option<(String, Option<Vec<u8>>, Option<i64>)> = {
            let conn = self.conn();
            tenant_exists(&conn, ctx.tenant())?;
            let mut st = conn
                .prepare_cached(
                    "SELECT role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = ?1 AND user_id = ?2",
                )
                .map_err(backend)?;
            st.query_row([ctx.tenant().as_str(), user.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(backend)?
        };
        // The connection is released before verifying: a first verification may backfill.
        self.verified(|k| {
            row.as_ref()
                .map(|(role, mac, key_id)| {
                    checked_role(
                        k,
                        ctx.tenant().as_str(),
                        user.as_str(),
                        role,
                        mac.as_deref(),
                        *key_id,
                    )
                })
                .transpose()
        })
        .await
    }

    async fn apply_member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        at: i64,
    ) -> Result<MemberChange, crate::Error> {
        let macs = self.row_macs().await?;
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
            "SELECT tenant_id, user_id, role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = ?1",
            &[&t],
        )?;
        let all = memberships(&macs, &all)?;
        let role_of = |u: &UserId| all.iter().find(|m| &m.user == u).map(|m| m.role);
        let actor_role = ctx.user().and_then(role_of);
        let previous = role_of(user);
        let owners = all.iter().filter(|m| m.role == Role::Owner).count();
        crate::store::plan_member_change(ctx, actor_role, previous, new, owners, all.len())?;
        match new {
            Some(role) => {
                let tag = macs.membership(t, user.as_str(), role.as_str());
                tx.execute(
                    "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac, mac_key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role, mac = excluded.mac, mac_key_id = excluded.mac_key_id",
                    params![t, user.as_str(), role.as_str(), at, tag.mac, tag.key_id],
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
        let after = after.map(UserId::as_str).unwrap_or("");
        let v = {
            let conn = self.conn();
            tenant_exists(&conn, ctx.tenant())?;
            rows(
                &conn,
                "SELECT tenant_id, user_id, role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = ?1 AND user_id > ?2 ORDER BY user_id LIMIT ?3",
                &[&ctx.tenant().as_str(), &after, &limit],
            )?
        };
        self.verified(|k| memberships(k, &v)).await
    }

    async fn memberships_of_user(
        &self,
        _service: &ServiceRole,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let limit = page(limit)?;
        let v = rows(
            &self.conn(),
            "SELECT tenant_id, user_id, role, mac, mac_key_id FROM tg_memberships WHERE user_id = ?1 ORDER BY tenant_id LIMIT ?2",
            &[&user.as_str(), &limit],
        )?;
        self.verified(|k| memberships(k, &v)).await
    }
}
