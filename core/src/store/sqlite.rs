//! `SqliteStore`: a single SQLite file in WAL mode (the embedded default).
//!
//! Calls run inline on the calling task under one connection lock: SQLite is embedded and
//! each statement takes microseconds. Deleted and destroyed data is overwritten in place
//! (`secure_delete`) and the WAL is truncated after key destruction, so a shredded key
//! does not linger in free pages.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    validate_record, validate_record_id, KeyState, KeyStore, RecordStore, SealedRecord, StoreError,
    TenantKeyRecord, MAX_PAGE,
};
use crate::crypto::KeyId;
use crate::tenant::{ServiceRole, TenantContext, TenantId};

const SCHEMA_VERSION: i64 = 7;

#[path = "sqlite_gov.rs"]
mod sqlite_gov;
#[path = "sqlite_members.rs"]
mod sqlite_members;

const MIGRATION_1: &str = "
CREATE TABLE tg_tenants (
    tenant_id  TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE tg_tenant_keys (
    tenant_id  TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
    key_id     INTEGER NOT NULL CHECK (key_id > 0),
    state      TEXT NOT NULL CHECK (state IN ('active', 'decrypt_only', 'destroyed')),
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);
CREATE UNIQUE INDEX tg_one_active_key ON tg_tenant_keys(tenant_id) WHERE state = 'active';
CREATE TABLE tg_records (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
    class      TEXT NOT NULL,
    subject    TEXT,
    key_id     INTEGER NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX tg_records_by_key ON tg_records(tenant_id, key_id, id);
";

/// Version 2: per-tenant policy documents (egress policy and others).
const MIGRATION_2: &str = "
CREATE TABLE tg_policies (
    tenant_id  TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);
";

/// Version 4: record ids are per tenant (primary key (tenant_id, id)); two tenants may
/// both hold a `row-42`. Rebuilt table, every row copied (global ids are per-tenant
/// unique a fortiori, so nothing is lost).
const MIGRATION_4: &str = "
CREATE TABLE tg_records_v4 (
    tenant_id  TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
    id         TEXT NOT NULL,
    class      TEXT NOT NULL,
    subject    TEXT,
    key_id     INTEGER NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO tg_records_v4 (tenant_id, id, class, subject, key_id, sealed, created_at, updated_at)
    SELECT tenant_id, id, class, subject, key_id, sealed, created_at, updated_at FROM tg_records;
DROP TABLE tg_records;
ALTER TABLE tg_records_v4 RENAME TO tg_records;
CREATE INDEX tg_records_by_key ON tg_records(tenant_id, key_id, id);
CREATE INDEX tg_records_by_class ON tg_records(tenant_id, class, updated_at);
CREATE INDEX tg_records_by_subject ON tg_records(tenant_id, subject) WHERE subject IS NOT NULL;
ALTER TABLE tg_tokens ADD COLUMN mac BLOB;
ALTER TABLE tg_sessions ADD COLUMN mac BLOB;
ALTER TABLE tg_refresh_tokens ADD COLUMN mac BLOB;
";

/// Version 6: the service keyring (keys wrapped by the KEK; see `kms::ServiceKeyring`),
/// the key id of each authorization row's MAC (NULL: written before row MACs were always
/// on, MACed once by the backfill at open), and per-tenant token and session ids
/// (primary keys (tenant_id, id); token hashes stay unique: they are looked up by hash).
/// Tables rebuilt, every row copied. Applies on top of any version below 6.
const MIGRATION_6: &str = "
CREATE TABLE tg_service_keys (
    purpose    TEXT NOT NULL,
    key_id     INTEGER NOT NULL CHECK (key_id > 0),
    state      TEXT NOT NULL CHECK (state IN ('active', 'retired')),
    kek_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (purpose, key_id)
);
CREATE TABLE tg_service_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE tg_tokens_v6 (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    agent      TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    mac        BLOB,
    mac_key_id INTEGER,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO tg_tokens_v6 (tenant_id, id, agent, name, hash, scopes, created_at, expires_at, revoked_at, mac)
    SELECT tenant_id, id, agent, name, hash, scopes, created_at, expires_at, revoked_at, mac FROM tg_tokens;
DROP TABLE tg_tokens;
ALTER TABLE tg_tokens_v6 RENAME TO tg_tokens;
CREATE INDEX tg_tokens_by_agent ON tg_tokens(tenant_id, agent, id);
CREATE TABLE tg_sessions_v6 (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL,
    revoked_at   INTEGER,
    label        TEXT NOT NULL,
    mac          BLOB,
    mac_key_id   INTEGER,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO tg_sessions_v6 (tenant_id, id, user_id, role, created_at, expires_at, refreshed_at, revoked_at, label, mac)
    SELECT tenant_id, id, user_id, role, created_at, expires_at, refreshed_at, revoked_at, label, mac FROM tg_sessions;
CREATE TABLE tg_refresh_tokens_v6 (
    hash       BLOB PRIMARY KEY CHECK (length(hash) = 32),
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0,
    mac        BLOB,
    mac_key_id INTEGER,
    FOREIGN KEY (tenant_id, session_id) REFERENCES tg_sessions_v6(tenant_id, id)
);
INSERT INTO tg_refresh_tokens_v6 (hash, tenant_id, session_id, expires_at, used, mac)
    SELECT hash, tenant_id, session_id, expires_at, used, mac FROM tg_refresh_tokens;
DROP TABLE tg_refresh_tokens;
DROP TABLE tg_sessions;
ALTER TABLE tg_sessions_v6 RENAME TO tg_sessions;
ALTER TABLE tg_refresh_tokens_v6 RENAME TO tg_refresh_tokens;
CREATE INDEX tg_sessions_by_user ON tg_sessions(tenant_id, user_id);
CREATE INDEX tg_refresh_by_session ON tg_refresh_tokens(tenant_id, session_id);
";

/// A store in one SQLite database file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    row_macs: super::integrity::RowMacSlot,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn backend(e: rusqlite::Error) -> StoreError {
    // rusqlite's messages name SQL and constraints, never bound values.
    StoreError::Backend(e.to_string())
}

fn page(limit: usize) -> Result<i64, StoreError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::InvalidInput(format!(
            "page size must be 1 to {MAX_PAGE}"
        )));
    }
    Ok(limit as i64)
}

fn key_id(v: i64) -> rusqlite::Result<KeyId> {
    u32::try_from(v)
        .ok()
        .and_then(|v| KeyId::new(v).ok())
        .ok_or(rusqlite::Error::IntegralValueOutOfRange(0, v))
}

fn key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TenantKeyRecord> {
    let state: String = row.get(1)?;
    Ok(TenantKeyRecord {
        key_id: key_id(row.get(0)?)?,
        state: KeyState::parse(&state).ok_or(rusqlite::Error::InvalidColumnType(
            1,
            state,
            rusqlite::types::Type::Text,
        ))?,
        kek_id: row.get(2)?,
        wrapped: row.get(3)?,
        created_at: row.get(4)?,
    })
}

const RECORD_COLS: &str = "id, class, subject, key_id, sealed, created_at, updated_at";

fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SealedRecord> {
    Ok(SealedRecord {
        id: row.get(0)?,
        class: row.get(1)?,
        subject: row.get(2)?,
        key_id: key_id(row.get(3)?)?,
        sealed: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

/// Creates the database file owner-only if absent and restricts existing files (database,
/// `-wal`, `-shm`, `-journal`) to the owner.
#[cfg(unix)]
fn restrict_files(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |what: &Path, e: std::io::Error| {
        StoreError::Backend(format!(
            "cannot create or restrict {} to mode 0600 ({}): fix its owner or permissions",
            what.display(),
            e.kind()
        ))
    };
    if !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(path, e)),
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let p = std::path::PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail(&p, e))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_files(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    /// The file is created owner-only (mode 0600, and so are SQLite's `-wal` and `-shm`
    /// files, which take its mode); an existing database, WAL or shared-memory file
    /// readable by group or others is restricted to 0600 (or refused if that fails).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        restrict_files(path)?;
        let conn = Connection::open(path).map_err(backend)?;
        // Switching a new file to WAL needs an exclusive lock, and SQLite answers BUSY at
        // once (without its busy handler) when several processes open the file together:
        // retry for as long as the busy timeout would have waited.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                r => break r.map_err(backend)?,
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(backend)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "database schema version {version} is newer than this build supports ({SCHEMA_VERSION}): upgrade tenantguard"
            )));
        }
        if version < 1 {
            tx.execute_batch(MIGRATION_1).map_err(backend)?;
        }
        if version < 2 {
            tx.execute_batch(MIGRATION_2).map_err(backend)?;
        }
        if version < 3 {
            tx.execute_batch(sqlite_gov::MIGRATION_3).map_err(backend)?;
        }
        if version < 4 {
            tx.execute_batch(MIGRATION_4).map_err(backend)?;
        }
        if version < 5 {
            tx.execute_batch(sqlite_members::MIGRATION_5)
                .map_err(backend)?;
        }
        if version < 6 {
            // Table rebuilds: foreign keys are checked at the end of the batch, not per
            // statement of the copy.
            tx.execute_batch("PRAGMA defer_foreign_keys = ON;")
                .map_err(backend)?;
            tx.execute_batch(MIGRATION_6).map_err(backend)?;
        }
        if version < 7 {
            tx.execute_batch(sqlite_gov::MIGRATION_7).map_err(backend)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            row_macs: Default::default(),
        })
    }

    pub(crate) fn row_mac_slot(&self) -> &super::integrity::RowMacSlot {
        &self.row_macs
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn tenant_exists(conn: &Connection, tenant: &TenantId) -> Result<(), StoreError> {
    conn.query_row(
        "SELECT 1 FROM tg_tenants WHERE tenant_id = ?1",
        [tenant.as_str()],
        |_| Ok(()),
    )
    .optional()
    .map_err(backend)?
    .ok_or(StoreError::TenantNotFound)
}

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        // Before the connection is taken: a first use may backfill through it.
        let macs = match ctx.user() {
            Some(_) => Some(self.row_macs().await?),
            None => None,
        };
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        if tenant_exists(&tx, ctx.tenant()).is_ok() {
            return Err(StoreError::Conflict(
                "tenant already exists (ids of shredded tenants are never reused)".into(),
            ));
        }
        tx.execute(
            "INSERT INTO tg_tenants (tenant_id, created_at) VALUES (?1, ?2)",
            params![ctx.tenant().as_str(), first.created_at],
        )
        .map_err(backend)?;
        if let (Some(user), Some(macs)) = (ctx.user(), &macs) {
            // The creator becomes the first owner (as on PostgreSQL).
            sqlite_members::insert_owner(&tx, ctx.tenant(), user, first.created_at, macs)?;
        }
        insert_key(&tx, ctx.tenant(), first)?;
        tx.commit().map_err(backend)
    }

    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        let conn = self.conn();
        tenant_exists(&conn, ctx.tenant())?;
        let mut st = conn
            .prepare_cached("SELECT key_id, state, kek_id, wrapped, created_at FROM tg_tenant_keys WHERE tenant_id = ?1 ORDER BY key_id")
            .map_err(backend)?;
        let rows = st
            .query_map([ctx.tenant().as_str()], key_row)
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tenant_exists(&tx, ctx.tenant())?;
        let demoted = tx
            .execute("UPDATE tg_tenant_keys SET state = 'decrypt_only' WHERE tenant_id = ?1 AND state = 'active'", [ctx.tenant().as_str()])
            .map_err(backend)?;
        if demoted == 0 {
            return Err(StoreError::Conflict(
                "tenant was shredded: it cannot get new keys".into(),
            ));
        }
        let exists = tx
            .query_row(
                "SELECT 1 FROM tg_tenant_keys WHERE tenant_id = ?1 AND key_id = ?2",
                params![ctx.tenant().as_str(), new.key_id.get()],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "key {} already exists",
                new.key_id
            )));
        }
        insert_key(&tx, ctx.tenant(), new)?;
        tx.commit().map_err(backend)
    }

    async fn rewrap_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        expected_kek: &str,
        new_kek: &str,
        new_wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "UPDATE tg_tenant_keys SET kek_id = ?1, wrapped = ?2 WHERE tenant_id = ?3 AND key_id = ?4 AND kek_id = ?5 AND state <> 'destroyed'",
                params![new_kek, new_wrapped, ctx.tenant().as_str(), key_id.get(), expected_kek],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
        let mut conn = self.conn();
        // One write transaction: no record can be stored under the key between the check
        // that none is and the destruction (another process may still hold the key).
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM tg_tenant_keys WHERE tenant_id = ?1 AND key_id = ?2",
                params![ctx.tenant().as_str(), key_id.get()],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        match state.as_deref() {
            None => Err(StoreError::Conflict(format!("no key {key_id}"))),
            Some("active") => Err(StoreError::Conflict(
                "the active key cannot be destroyed alone: rotate first, or shred the tenant"
                    .into(),
            )),
            Some(state) => {
                // An already destroyed key stays a no-op, whatever rows name it.
                let used: i64 = if state == KeyState::DecryptOnly.as_str() {
                    tx.query_row(
                        "SELECT COUNT(*) FROM tg_records WHERE tenant_id = ?1 AND key_id = ?2",
                        params![ctx.tenant().as_str(), key_id.get()],
                        |r| r.get(0),
                    )
                    .map_err(backend)?
                } else {
                    0
                };
                if used > 0 {
                    return Err(StoreError::Conflict(format!(
                        "key {key_id} still seals {used} records: run reencrypt first"
                    )));
                }
                tx.execute(
                    "UPDATE tg_tenant_keys SET state = 'destroyed', kek_id = '', wrapped = x'' WHERE tenant_id = ?1 AND key_id = ?2 AND state <> 'active'",
                    params![ctx.tenant().as_str(), key_id.get()],
                )
                .map_err(backend)?;
                tx.commit().map_err(backend)?;
                checkpoint(&conn);
                Ok(())
            }
        }
    }

    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError> {
        let conn = self.conn();
        tenant_exists(&conn, ctx.tenant())?;
        conn.execute("UPDATE tg_tenant_keys SET state = 'destroyed', kek_id = '', wrapped = x'' WHERE tenant_id = ?1", [ctx.tenant().as_str()])
            .map_err(backend)?;
        checkpoint(&conn);
        Ok(())
    }

    async fn list_tenants(
        &self,
        _service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        let limit = page(limit)?;
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT tenant_id FROM tg_tenants WHERE tenant_id > ?1 ORDER BY tenant_id LIMIT ?2",
            )
            .map_err(backend)?;
        let rows = st
            .query_map(
                params![after.map(|t| t.as_str()).unwrap_or(""), limit],
                |r| r.get::<_, String>(0),
            )
            .map_err(backend)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(
                TenantId::new(r.map_err(backend)?)
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            );
        }
        Ok(out)
    }
}

fn insert_key(conn: &Connection, tenant: &TenantId, k: &TenantKeyRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tg_tenant_keys (tenant_id, key_id, state, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![tenant.as_str(), k.key_id.get(), k.state.as_str(), k.kek_id, k.wrapped, k.created_at],
    )
    .map_err(backend)?;
    Ok(())
}

/// Refuses a write sealed under a destroyed key version of the tenant (a writer that still
/// held the key after another process retired it or shredded the tenant): it could never
/// be opened. Run inside the write's transaction, so a destruction cannot slip in between.
fn key_not_destroyed(
    conn: &Connection,
    tenant: &TenantId,
    key_id: KeyId,
) -> Result<(), StoreError> {
    let state: Option<String> = conn
        .query_row(
            "SELECT state FROM tg_tenant_keys WHERE tenant_id = ?1 AND key_id = ?2",
            params![tenant.as_str(), key_id.get()],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    if state.as_deref() == Some(KeyState::Destroyed.as_str()) {
        return Err(StoreError::KeyDestroyed(key_id));
    }
    Ok(())
}

/// Moves WAL content into the main file and truncates the WAL, so erased bytes leave it.
fn checkpoint(conn: &Connection) {
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

#[async_trait::async_trait]
impl RecordStore for SqliteStore {
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError> {
        validate_record(rec)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tenant_exists(&tx, ctx.tenant())?;
        key_not_destroyed(&tx, ctx.tenant(), rec.key_id)?;
        tx.execute(
            "INSERT INTO tg_records (id, tenant_id, class, subject, key_id, sealed, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (tenant_id, id) DO UPDATE SET class = excluded.class, subject = excluded.subject, key_id = excluded.key_id,
               sealed = excluded.sealed, updated_at = excluded.updated_at",
            params![rec.id, ctx.tenant().as_str(), rec.class, rec.subject, rec.key_id.get(), rec.sealed, rec.created_at, rec.updated_at],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        validate_record_id(id)?;
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {RECORD_COLS} FROM tg_records WHERE id = ?1 AND tenant_id = ?2"),
            params![id, ctx.tenant().as_str()],
            record_row,
        )
        .optional()
        .map_err(backend)
    }

    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError> {
        validate_record_id(id)?;
        let conn = self.conn();
        let n = conn
            .execute(
                "DELETE FROM tg_records WHERE id = ?1 AND tenant_id = ?2",
                params![id, ctx.tenant().as_str()],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn records_by_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let limit = page(limit)?;
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLS} FROM tg_records WHERE tenant_id = ?1 AND key_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
            ))
            .map_err(backend)?;
        let rows = st
            .query_map(
                params![
                    ctx.tenant().as_str(),
                    key_id.get(),
                    after.unwrap_or(""),
                    limit
                ],
                record_row,
            )
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    async fn records_page(
        &self,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let limit = page(limit)?;
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLS} FROM tg_records WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ))
            .map_err(backend)?;
        let rows = st
            .query_map(
                params![ctx.tenant().as_str(), after.unwrap_or(""), limit],
                record_row,
            )
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM tg_records WHERE tenant_id = ?1 AND key_id = ?2",
                params![ctx.tenant().as_str(), key_id.get()],
                |r| r.get(0),
            )
            .map_err(backend)?;
        Ok(n as u64)
    }

    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        key_not_destroyed(&tx, ctx.tenant(), new_key_id)?;
        let n = tx
            .execute(
                "UPDATE tg_records SET sealed = ?1, key_id = ?2 WHERE id = ?3 AND tenant_id = ?4 AND sealed = ?5",
                params![new_sealed, new_key_id.get(), id, ctx.tenant().as_str(), expected],
            )
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(n == 1)
    }
}

#[async_trait::async_trait]
impl super::PolicyStore for SqliteStore {
    async fn get_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
    ) -> Result<Option<super::PolicyDocument>, StoreError> {
        super::validate_policy(kind, "")?;
        let conn = self.conn();
        tenant_exists(&conn, ctx.tenant())?;
        conn.query_row(
            "SELECT body, version, updated_at FROM tg_policies WHERE tenant_id = ?1 AND kind = ?2",
            params![ctx.tenant().as_str(), kind],
            |r| {
                Ok(super::PolicyDocument {
                    body: r.get(0)?,
                    version: r.get::<_, i64>(1)? as u64,
                    updated_at: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(backend)
    }

    async fn put_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
        body: &str,
        updated_at: i64,
    ) -> Result<u64, StoreError> {
        super::validate_policy(kind, body)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tenant_exists(&tx, ctx.tenant())?;
        let version: i64 = tx
            .query_row(
                "INSERT INTO tg_policies (tenant_id, kind, body, version, updated_at) VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT (tenant_id, kind) DO UPDATE SET body = excluded.body, version = tg_policies.version + 1,
                   updated_at = excluded.updated_at
                 RETURNING version",
                params![ctx.tenant().as_str(), kind, body, updated_at],
                |r| r.get(0),
            )
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(version as u64)
    }
}

fn service_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::kms::ServiceKeyRecord> {
    let purpose: String = r.get(0)?;
    let state: String = r.get(2)?;
    let bad = |i, what: &str| {
        rusqlite::Error::InvalidColumnType(i, what.to_owned(), rusqlite::types::Type::Text)
    };
    Ok(crate::kms::ServiceKeyRecord {
        purpose: crate::kms::ServicePurpose::parse(&purpose).ok_or_else(|| bad(0, "purpose"))?,
        key_id: key_id(r.get(1)?)?,
        state: crate::kms::ServiceKeyState::parse(&state).ok_or_else(|| bad(2, "state"))?,
        kek_id: r.get(3)?,
        wrapped: r.get(4)?,
        created_at: r.get(5)?,
    })
}

#[async_trait::async_trait]
impl crate::kms::ServiceKeyStore for SqliteStore {
    fn attach_keyring(&self, ring: &std::sync::Arc<crate::kms::ServiceKeyring>) {
        self.row_macs.attach(ring);
    }

    async fn service_keys(
        &self,
        purpose: crate::kms::ServicePurpose,
    ) -> Result<Vec<crate::kms::ServiceKeyRecord>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT purpose, key_id, state, kek_id, wrapped, created_at FROM tg_service_keys WHERE purpose = ?1 ORDER BY key_id",
            )
            .map_err(backend)?;
        let rows = st
            .query_map([purpose.as_str()], service_key_row)
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    async fn insert_service_key(
        &self,
        rec: &crate::kms::ServiceKeyRecord,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT INTO tg_service_keys (purpose, key_id, state, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (purpose, key_id) DO NOTHING",
                params![
                    rec.purpose.as_str(),
                    rec.key_id.get(),
                    rec.state.as_str(),
                    rec.kek_id,
                    rec.wrapped,
                    rec.created_at
                ],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn retire_service_key(
        &self,
        purpose: crate::kms::ServicePurpose,
        key_id: KeyId,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE tg_service_keys SET state = 'retired', kek_id = '', wrapped = x'' WHERE purpose = ?1 AND key_id = ?2 AND state = 'active'",
                params![purpose.as_str(), key_id.get()],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn rewrap_service_key(
        &self,
        purpose: crate::kms::ServicePurpose,
        key_id: KeyId,
        old_kek: &str,
        new_kek: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE tg_service_keys SET kek_id = ?4, wrapped = ?5 WHERE purpose = ?1 AND key_id = ?2 AND state = 'active' AND kek_id = ?3",
                params![purpose.as_str(), key_id.get(), old_kek, new_kek, wrapped],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }
}
