//! `PostgresStore`: PostgreSQL with Row Level Security (cargo feature `postgres`).
//!
//! Isolation holds in two places: the SDK scopes every query by the [`TenantContext`], and
//! the database refuses anything outside the scope even when a query forgets its filter.
//!
//! - Schema migrations ship with the crate (`store/postgres/*.sql`) and are applied by
//!   [`PostgresStore::migrate`] over an administrator connection, idempotently, under an
//!   advisory lock. Every table has `ENABLE` and `FORCE ROW LEVEL SECURITY`.
//! - The store connects as login roles that are members of `tenantguard_app` (user
//!   scopes) and `tenantguard_service` (service-role scopes). [`PostgresStore::connect`]
//!   refuses a role that is superuser, `BYPASSRLS`, owner of a table, or a member of both.
//! - Every call runs in one transaction (`START TRANSACTION READ WRITE`) that first sets,
//!   transaction-local, the tenant, the caller's identity proof (`app.proof`: minted per
//!   user through the service login, its SHA-256 stored in `tg_actor_proofs`), and the
//!   session settings the SDK asserts (statement and lock timeouts, search path). No proof
//!   means no rows for the application role. See `postgres/004_verified_actor.sql`.
//! - A user's role is read from `tg_memberships` by the policies themselves, through the
//!   proof: `app.user_id` is not trusted by the database. User-scoped calls therefore need
//!   the service connection too (to mint proofs).
//!
//! Ids are per tenant (schema 4): another tenant's record, token or session is simply
//! absent (`None`, `false`, `RecordNotFound`); two tenants may use the same record id.
//!
//! Governance tables (schema 2) follow the same model. Tokens, sessions, refresh tokens,
//! memberships and audit entries are written over the service connection after the store
//! checked the acting user's role in the same transaction; the audit log is append-only in
//! the database (no UPDATE or DELETE for anyone, trigger-enforced) and appends of one
//! tenant are serialized by a transaction-level advisory lock. Token and refresh-token
//! lookups by hash run on the service connection with the hash named in a
//! transaction-local setting, which makes that one row visible and nothing else. All
//! authorization rows carry a MAC under the service keyring's row-MAC key, which the database
//! holds only wrapped by the KEK, so it cannot forge one.
//!
//! Connections use no TLS: connect over loopback or a Unix socket, or put a TLS proxy in
//! front. Connection strings are never included in errors.

use super::integrity::{RowMacs, BACKFILL_DONE};
use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls, Row};

use super::{
    validate_record, validate_record_id, KeyState, KeyStore, RecordStore, SealedRecord, StoreError,
    TenantKeyRecord, MAX_PAGE,
};
use crate::crypto::KeyId;
use crate::tenant::{
    check_member_change, Directory, Membership, Role, ServiceRole, TenantContext, TenantError,
    TenantId, UserId,
};

#[path = "postgres_gov.rs"]
mod postgres_gov;

#[path = "postgres_events.rs"]
mod postgres_events;

pub use postgres_events::{MAX_POLL_INTERVAL, MIN_POLL_INTERVAL};

/// The migrations shipped with the crate, in order: (version, SQL).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("postgres/001_schema.sql")),
    (2, include_str!("postgres/002_governance.sql")),
    (3, include_str!("postgres/003_cheaper_update_checks.sql")),
    (4, include_str!("postgres/004_verified_actor.sql")),
    (6, include_str!("postgres/006_service_keyring.sql")),
    (7, include_str!("postgres/007_events.sql")),
    (8, include_str!("postgres/008_rate_limits.sql")),
    (9, include_str!("postgres/009_keyring_rewrap.sql")),
    (10, include_str!("postgres/010_audit_personal.sql")),
    (11, include_str!("postgres/011_sealed_under_live_key.sql")),
];

/// The SQLSTATE of a write sealed under a destroyed key (trigger `tg_live_key`, schema 11).
const KEY_DESTROYED: &str = "TGK01";

fn key_destroyed(e: &tokio_postgres::Error) -> bool {
    code(e).is_some_and(|c| c.code() == KEY_DESTROYED)
}

/// The tables the store owns (all under Row Level Security).
pub const TABLES: [&str; 13] = [
    "tg_tenants",
    "tg_memberships",
    "tg_tenant_keys",
    "tg_records",
    "tg_tokens",
    "tg_audit",
    "tg_retention_rules",
    "tg_sessions",
    "tg_refresh_tokens",
    "tg_policies",
    "tg_service_keys",
    "tg_service_state",
    "tg_events",
];

/// Largest connection pool [`PgOptions::pool_size`] accepts.
pub const MAX_POOL_SIZE: usize = 256;

/// Opens every transaction of the store: the tenant (read by the service role's
/// policies), the identity proof of a user (read by the application role's policies,
/// empty for the service role), and the session settings the SDK asserts on every
/// connection whatever a stolen login altered with `ALTER ROLE ... SET`: bounded
/// statement and lock waits, and a search path that puts temporary tables last (a
/// session's temporary `tg_records` cannot shadow the real one).
const SCOPE_SQL: &str =
    "SELECT set_config('app.tenant_id', $1, true), set_config('app.proof', $2, true), \
     set_config('app.user_id', '', true), set_config('statement_timeout', '30s', true), \
     set_config('lock_timeout', '5s', true), set_config('search_path', 'public, pg_temp', true)";

/// Lifetime of an identity proof in the database, and how long the store reuses one.
const PROOF_TTL_SECS: i32 = 300;
const PROOF_REUSE: std::time::Duration = std::time::Duration::from_secs(240);
/// Most proofs the store keeps in memory (one per tenant and user in use).
const MAX_CACHED_PROOFS: usize = 10_000;

/// Options of [`PostgresStore::connect_with`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections per pool (application and service pools each), 1 to 256. Default 16.
    pub pool_size: usize,
    /// Refuse to start unless every table has `ENABLE` and `FORCE ROW LEVEL SECURITY`.
    /// Default true; turning it off exists only to benchmark the cost of RLS.
    pub require_rls: bool,
    /// Listen for other instances' news (revocations, kills, shreds, rotations,
    /// membership and policy changes: docs/SECURITY.md, "Many instances") on one
    /// dedicated connection of the service login. Default true; needs the service
    /// connection (without one there is no listener). Turn it off only when a single
    /// process ever uses the database.
    pub events: bool,
    /// Use LISTEN/NOTIFY to hear news at once (default true). A start-up self-probe
    /// checks notifications really arrive; behind a transaction pooler they do not and the
    /// polling fallback alone carries the news. Set false to poll only.
    pub notifications: bool,
    /// How often the listener polls the events table (default 1 s, from 10 ms to 1 s):
    /// with notifications off or lost this is the propagation bound, plus one query.
    pub poll_interval: std::time::Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            require_rls: true,
            events: true,
            notifications: true,
            poll_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// A store in PostgreSQL, isolated per tenant by Row Level Security.
pub struct PostgresStore {
    app: Pool,
    service: Option<Pool>,
    /// At most [`MAX_CACHED_PROOFS`], the oldest dropped first.
    proofs: std::sync::Mutex<crate::bounded::OrderedMap<(String, String), Proof>>,
    row_macs: super::integrity::RowMacSlot,
    feed: Option<postgres_events::FeedTask>,
}

/// An identity proof for one (tenant, user): the secret the application role presents
/// as `app.proof` (hex); the database holds only its SHA-256 (`tg_actor_proofs`).
struct Proof {
    hex: zeroize::Zeroizing<String>,
    minted: std::time::Instant,
}

/// A pooled connection with the proof its transactions present.
pub(crate) struct Conn {
    obj: Obj,
    proof: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("service", &self.service.is_some())
            .finish_non_exhaustive()
    }
}

fn backend(e: tokio_postgres::Error) -> StoreError {
    // Only the server's primary message and SQLSTATE: DETAIL lines can quote row values.
    match e.as_db_error() {
        Some(db) => {
            StoreError::Backend(format!("{} (SQLSTATE {})", db.message(), db.code().code()))
        }
        None => StoreError::Backend(e.to_string()),
    }
}

fn pool_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("connection pool: {e}"))
}

fn code(e: &tokio_postgres::Error) -> Option<&SqlState> {
    e.code()
}

fn page(limit: usize) -> Result<i64, StoreError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::InvalidInput(format!(
            "page size must be 1 to {MAX_PAGE}"
        )));
    }
    Ok(limit as i64)
}

fn parse_config(url: &str, what: &str) -> Result<Config, StoreError> {
    // The parser's message never echoes the string (which holds a password).
    Config::from_str(url).map_err(|_| {
        StoreError::InvalidInput(format!("{what}: not a valid PostgreSQL connection string"))
    })
}

fn key_id(v: i64) -> Result<KeyId, StoreError> {
    u32::try_from(v)
        .ok()
        .and_then(|v| KeyId::new(v).ok())
        .ok_or_else(|| StoreError::Backend(format!("key id {v} out of range in the database")))
}

fn key_row(row: &Row) -> Result<TenantKeyRecord, StoreError> {
    let state: String = row.get(1);
    Ok(TenantKeyRecord {
        key_id: key_id(row.get(0))?,
        state: KeyState::parse(&state)
            .ok_or_else(|| StoreError::Backend("unknown key state in the database".into()))?,
        kek_id: row.get(2),
        wrapped: row.get(3),
        created_at: row.get(4),
    })
}

const RECORD_COLS: &str = "id, class, subject, key_id, sealed, created_at, updated_at";

fn record_row(row: &Row) -> Result<SealedRecord, StoreError> {
    Ok(SealedRecord {
        id: row.get(0),
        class: row.get(1),
        subject: row.get(2),
        key_id: key_id(row.get(3))?,
        sealed: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
    })
}

fn rank(role: Role) -> i32 {
    match role {
        Role::Viewer => 1,
        Role::Member => 2,
        Role::Admin => 3,
        Role::Owner => 4,
    }
}

fn make_pool(cfg: Config, size: usize) -> Result<Pool, StoreError> {
    let mgr = Manager::from_config(
        cfg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr).max_size(size).build().map_err(pool_err)
}

type Obj = deadpool_postgres::Object;
type Tx<'a> = deadpool_postgres::Transaction<'a>;

impl PostgresStore {
    /// Applies the shipped migrations over `admin_url` (a superuser, or the role that is
    /// to own the tables; never the application's role). Idempotent and safe to run from
    /// several processes at once. Returns how many migrations it applied.
    pub async fn migrate(admin_url: &str) -> Result<usize, StoreError> {
        let cfg = parse_config(admin_url, "admin connection")?;
        let (mut client, conn) = cfg.connect(NoTls).await.map_err(backend)?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        let r = Self::migrate_client(&mut client).await;
        drop(client);
        let _ = task.await;
        r
    }

    async fn migrate_client(client: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock(7420010001)", &[])
            .await
            .map_err(backend)?;
        // Privileges (none granted) keep every other role out of this table; the
        // permissive policy only lets its owner through FORCE ROW LEVEL SECURITY.
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS tg_schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now());
             REVOKE ALL ON tg_schema_migrations FROM PUBLIC;
             ALTER TABLE tg_schema_migrations ENABLE ROW LEVEL SECURITY;
             ALTER TABLE tg_schema_migrations FORCE ROW LEVEL SECURITY;
             DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'tg_schema_migrations') THEN
                     CREATE POLICY tg_schema_migrations_owner ON tg_schema_migrations USING (true) WITH CHECK (true);
                 END IF;
             END $$;",
        )
        .await
        .map_err(backend)?;
        let applied: Vec<i32> = tx
            .query("SELECT version FROM tg_schema_migrations", &[])
            .await
            .map_err(backend)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if let Some(newer) = applied.iter().find(|v| **v > known) {
            return Err(StoreError::Backend(format!(
                "database schema version {newer} is newer than this build supports ({known}): upgrade tenantguard"
            )));
        }
        let mut n = 0;
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            tx.batch_execute(sql).await.map_err(backend)?;
            tx.execute(
                "INSERT INTO tg_schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(backend)?;
            n += 1;
        }
        tx.commit().await.map_err(backend)?;
        Ok(n)
    }

    /// Connects with default options: `app_url` logs in as a member of `tenantguard_app`,
    /// `service_url` (optional) as a member of `tenantguard_service`. Without a service
    /// connection, calls made with the service role fail with `PermissionDenied`.
    pub async fn connect(app_url: &str, service_url: Option<&str>) -> Result<Self, StoreError> {
        let app = parse_config(app_url, "application connection")?;
        let service = service_url
            .map(|u| parse_config(u, "service connection"))
            .transpose()?;
        Self::connect_with(app, service, PgOptions::default()).await
    }

    /// Connects with explicit configurations and options, then verifies each role: not
    /// superuser, not `BYPASSRLS`, owner of no table, member of exactly its group role,
    /// and (unless disabled) every table under enabled and forced RLS.
    pub async fn connect_with(
        app: Config,
        service: Option<Config>,
        opts: PgOptions,
    ) -> Result<Self, StoreError> {
        if opts.pool_size == 0 || opts.pool_size > MAX_POOL_SIZE {
            return Err(StoreError::InvalidInput(format!(
                "pool size must be 1 to {MAX_POOL_SIZE}"
            )));
        }
        if opts.poll_interval < MIN_POLL_INTERVAL || opts.poll_interval > MAX_POLL_INTERVAL {
            return Err(StoreError::InvalidInput(
                "poll interval must be 10 ms to 1 s".into(),
            ));
        }
        let listener_cfg = service.clone();
        let app = make_pool(app, opts.pool_size)?;
        verify_role(
            &app,
            "tenantguard_app",
            "tenantguard_service",
            opts.require_rls,
        )
        .await?;
        let service = match service {
            Some(cfg) => {
                let p = make_pool(cfg, opts.pool_size)?;
                verify_role(
                    &p,
                    "tenantguard_service",
                    "tenantguard_app",
                    opts.require_rls,
                )
                .await?;
                Some(p)
            }
            None => None,
        };
        let feed = match listener_cfg {
            Some(cfg) if opts.events => {
                Some(postgres_events::start(cfg, opts.notifications, opts.poll_interval).await?)
            }
            _ => None,
        };
        Ok(PostgresStore {
            app,
            service,
            proofs: std::sync::Mutex::new(crate::bounded::ordered_map()),
            row_macs: Default::default(),
            feed,
        })
    }

    /// The row-MAC keys; the first call of the process MACs, once per database, the rows
    /// written before row MACs were always on (see [`PostgresStore::backfill_row_macs`]).
    pub(crate) async fn row_macs(&self) -> Result<std::sync::Arc<RowMacs>, StoreError> {
        self.row_macs
            .get(|k| async move { self.backfill_row_macs(&k).await })
            .await
    }

    /// Runs `f` (a check of rows already read) with the row-MAC keys; once more with fresh
    /// keys if a row named a key this process had not loaded (another instance rotated).
    pub(crate) async fn verified<T>(
        &self,
        f: impl Fn(&RowMacs) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.row_macs
            .verify(|k| async move { self.backfill_row_macs(&k).await }, f)
            .await
    }

    /// MACs every token, session, refresh-token and membership row without a MAC key id
    /// (written before version 6), tenant by tenant over the service login, one
    /// transaction per tenant, each row only while it is still un-MACed (a crash resumes;
    /// two instances at once MAC each row once); then records the marker after which a
    /// row without a valid MAC is refused. Rows of a tenant that no longer exists stay
    /// un-MACed, hence refused.
    async fn backfill_row_macs(&self, k: &RowMacs) -> Result<(), StoreError> {
        let mut client = self.service_conn().await?;
        let done = client
            .obj
            .query_opt(
                "SELECT 1 FROM tg_service_state WHERE name = $1",
                &[&BACKFILL_DONE],
            )
            .await
            .map_err(backend)?
            .is_some();
        if done {
            return Ok(());
        }
        let service = ServiceRole::for_guard(0);
        let mut after = String::new();
        loop {
            // On this connection (a pool of one must not wait for a second one).
            let tenants: Vec<String> = {
                let tx = client.obj.transaction().await.map_err(backend)?;
                tx.execute("SELECT set_config('app.tenant_id', '', true), set_config('app.user_id', '', true), set_config('app.list_tenants', 'on', true)", &[])
                    .await
                    .map_err(backend)?;
                let rows = tx
                    .query(
                        "SELECT tenant_id FROM tg_tenants WHERE tenant_id > $1 ORDER BY tenant_id LIMIT 1000",
                        &[&after],
                    )
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                rows.iter().map(|r| r.get(0)).collect()
            };
            let Some(last) = tenants.last().cloned() else {
                break;
            };
            for t in tenants {
                // A row that is not a valid tenant id has nothing of ours to MAC.
                let Ok(t) = TenantId::new(t) else {
                    continue;
                };
                let ctx = TenantContext::service(t.clone(), &service);
                let tx = scoped(&mut client, &ctx).await?;
                let ts = t.as_str();
                for r in tx
                    .query(
                        "SELECT id, tenant_id, agent, hash, scopes, created_at, expires_at FROM tg_tokens WHERE tenant_id = $1 AND mac_key_id IS NULL",
                        &[&ts],
                    )
                    .await
                    .map_err(backend)?
                {
                    let scopes: String = r.get(4);
                    let tag = k.token_row(&super::TokenRow {
                        id: r.get(0),
                        tenant: r.get(1),
                        agent: r.get(2),
                        hash: r.get(3),
                        scopes: &scopes,
                        created_at: r.get(5),
                        expires_at: r.get(6),
                    });
                    tx.execute(
                        "UPDATE tg_tokens SET mac = $1, mac_key_id = $2 WHERE tenant_id = $3 AND id = $4 AND mac_key_id IS NULL",
                        &[&tag.mac, &tag.key_id, &ts, &r.get::<_, &str>(0)],
                    )
                    .await
                    .map_err(backend)?;
                }
                for r in tx
                    .query(
                        "SELECT id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, revoked_at, label FROM tg_sessions WHERE tenant_id = $1 AND mac_key_id IS NULL",
                        &[&ts],
                    )
                    .await
                    .map_err(backend)?
                {
                    // A row that does not parse stays un-MACed, hence refused.
                    let Some(role) = Role::parse(r.get(3)) else {
                        continue;
                    };
                    let rec = super::SessionRecord {
                        id: r.get(0),
                        tenant: t.clone(),
                        user: r.get(2),
                        role,
                        created_at: r.get(4),
                        expires_at: r.get(5),
                        refreshed_at: r.get(6),
                        revoked_at: r.get(7),
                        label: r.get(8),
                    };
                    let tag = k.session(&rec);
                    tx.execute(
                        "UPDATE tg_sessions SET mac = $1, mac_key_id = $2 WHERE tenant_id = $3 AND id = $4 AND mac_key_id IS NULL",
                        &[&tag.mac, &tag.key_id, &ts, &rec.id],
                    )
                    .await
                    .map_err(backend)?;
                }
                for r in tx
                    .query(
                        "SELECT hash, session_id, expires_at, used FROM tg_refresh_tokens WHERE tenant_id = $1 AND mac_key_id IS NULL",
                        &[&ts],
                    )
                    .await
                    .map_err(backend)?
                {
                    let Ok(hash) = <[u8; 32]>::try_from(r.get::<_, &[u8]>(0)) else {
                        continue;
                    };
                    let rec = super::RefreshRecord {
                        hash,
                        session_id: r.get(1),
                        tenant: t.clone(),
                        expires_at: r.get(2),
                        used: r.get(3),
                    };
                    let tag = k.refresh(&rec);
                    tx.execute(
                        "UPDATE tg_refresh_tokens SET mac = $1, mac_key_id = $2 WHERE tenant_id = $3 AND hash = $4 AND mac_key_id IS NULL",
                        &[&tag.mac, &tag.key_id, &ts, &&hash[..]],
                    )
                    .await
                    .map_err(backend)?;
                }
                for r in tx
                    .query(
                        "SELECT user_id, role FROM tg_memberships WHERE tenant_id = $1 AND mac_key_id IS NULL",
                        &[&ts],
                    )
                    .await
                    .map_err(backend)?
                {
                    let tag = k.membership(ts, r.get(0), r.get(1));
                    tx.execute(
                        "UPDATE tg_memberships SET mac = $1, mac_key_id = $2 WHERE tenant_id = $3 AND user_id = $4 AND mac_key_id IS NULL",
                        &[&tag.mac, &tag.key_id, &ts, &r.get::<_, &str>(0)],
                    )
                    .await
                    .map_err(backend)?;
                }
                tx.commit().await.map_err(backend)?;
            }
            after = last;
        }
        client
            .obj
            .execute(
                "INSERT INTO tg_service_state (name, value) VALUES ($1, now()::text) ON CONFLICT (name) DO NOTHING",
                &[&BACKFILL_DONE],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn check_member_row(k: &RowMacs, tenant: &str, r: &Row) -> Result<(), StoreError> {
        k.check_membership(
            tenant,
            r.get(0),
            r.get(1),
            r.get::<_, Option<&[u8]>>(2),
            r.get::<_, Option<i32>>(3).map(i64::from),
        )
    }

    /// A connection for the context: the service pool for the service role and for
    /// agents, else the application pool with a proof of the context's user.
    async fn client(&self, ctx: &TenantContext) -> Result<Conn, StoreError> {
        // Agents act through the service login scoped to their tenant: they are not
        // members (no proof can be minted for them), so the member policies would show
        // them nothing; the SDK has checked their scopes before any call reaches the store.
        if via_service(ctx) {
            let obj = self.service_pool()?.get().await.map_err(pool_err)?;
            return Ok(Conn {
                obj,
                proof: Default::default(),
            });
        }
        let proof = self.proof(ctx).await?;
        let obj = self.app.get().await.map_err(pool_err)?;
        Ok(Conn { obj, proof })
    }

    /// The proof of the context's user in its tenant, minted through the service role
    /// when none is cached or the cached one is near its end.
    async fn proof(&self, ctx: &TenantContext) -> Result<zeroize::Zeroizing<String>, StoreError> {
        let user = match ctx.user() {
            Some(u) => u.as_str().to_owned(),
            None => return Ok(Default::default()),
        };
        let key = (ctx.tenant().as_str().to_owned(), user);
        {
            let cache = self.proofs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(p) = cache.get(&key) {
                if p.minted.elapsed() < PROOF_REUSE {
                    return Ok(p.hex.clone());
                }
            }
        }
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut secret[..])
            .map_err(|_| StoreError::Backend("the OS random generator failed".into()))?;
        let hash: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(&secret[..]).into()
        };
        let client = self
            .service
            .as_ref()
            .ok_or_else(|| {
                StoreError::PermissionDenied(
                    "user-scoped calls need a service connection to mint identity proofs (PostgresStore::connect service_url)"
                        .into(),
                )
            })?
            .get()
            .await
            .map_err(pool_err)?;
        let st = client
            .prepare_cached("SELECT tg_mint_proof($1, $2, $3, $4)")
            .await
            .map_err(backend)?;
        client
            .execute(&st, &[&key.0, &key.1, &&hash[..], &PROOF_TTL_SECS])
            .await
            .map_err(backend)?;
        let hex = zeroize::Zeroizing::new(hex::encode(&secret[..]));
        let mut cache = self.proofs.lock().unwrap_or_else(|e| e.into_inner());
        crate::bounded::insert_bounded(
            &mut cache,
            key,
            Proof {
                hex: hex.clone(),
                minted: std::time::Instant::now(),
            },
            MAX_CACHED_PROOFS,
            |p| p.minted.elapsed() >= PROOF_REUSE,
        );
        Ok(hex)
    }

    /// A service-connection transaction scoped to the context's tenant for a write the
    /// application role may not make itself (tokens, sessions, refresh tokens, audit,
    /// bulk deletions). For a user, its role is read from `tg_memberships` in the same
    /// transaction first and must be at least `needed`.
    pub(crate) async fn service_conn(&self) -> Result<Conn, StoreError> {
        let obj = self.service_pool()?.get().await.map_err(pool_err)?;
        Ok(Conn {
            obj,
            proof: Default::default(),
        })
    }

    fn service_pool(&self) -> Result<&Pool, StoreError> {
        self.service.as_ref().ok_or_else(|| {
            StoreError::PermissionDenied(
                "the service role needs a service connection (PostgresStore::connect service_url)"
                    .into(),
            )
        })
    }

    /// Adds a member to the context's tenant or changes its role. Admins manage viewers,
    /// members and admins; granting or changing an owner needs the owner role; the last
    /// owner stays. The acting user's role is re-read from the database in the same
    /// transaction (its claim in `ctx` is not trusted alone).
    pub async fn set_member(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        role: Role,
        now: i64,
    ) -> Result<(), crate::Error> {
        self.change_member(ctx, user, Some(role), now)
            .await
            .map(|_| ())
    }

    /// Removes a member of the context's tenant (same rules as [`PostgresStore::set_member`]).
    /// Returns whether it was a member.
    pub async fn remove_member(
        &self,
        ctx: &TenantContext,
        user: &UserId,
    ) -> Result<bool, crate::Error> {
        self.change_member(ctx, user, None, 0).await
    }

    async fn change_member(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        now: i64,
    ) -> Result<bool, crate::Error> {
        let c = self.member_change(ctx, user, new, now).await?;
        Ok(match new {
            Some(r) => c.previous != Some(r),
            None => c.previous.is_some(),
        })
    }

    async fn member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        now: i64,
    ) -> Result<super::MemberChange, crate::Error> {
        if ctx.agent_grant().is_none() {
            // Early refusal on the claimed role; the stored one is checked below.
            check_member_change(ctx, None, new)?;
        }
        let macs = self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = scoped(&mut client, ctx).await?;
        if !tenant_visible(&tx, ctx.tenant()).await? {
            return Err(StoreError::TenantNotFound.into());
        }
        let rows = tx
            .query(
                "SELECT user_id, role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = $1 FOR UPDATE",
                &[&ctx.tenant().as_str()],
            )
            .await
            .map_err(backend)?;
        self.verified(|k| {
            rows.iter()
                .try_for_each(|r| Self::check_member_row(k, ctx.tenant().as_str(), r))
        })
        .await?;
        let role_of = |u: &str| {
            rows.iter()
                .find(|r| r.get::<_, &str>(0) == u)
                .and_then(|r| Role::parse(r.get(1)))
        };
        let previous = role_of(user.as_str());
        let actor_role = ctx.user().and_then(|a| role_of(a.as_str()));
        let owners = rows
            .iter()
            .filter(|r| r.get::<_, &str>(1) == "owner")
            .count();
        super::plan_member_change(ctx, actor_role, previous, new, owners, rows.len())?;
        match new {
            Some(role) => {
                let tag = macs.membership(ctx.tenant().as_str(), user.as_str(), role.as_str());
                let r = tx
                    .execute(
                        "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac, mac_key_id) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role, mac = EXCLUDED.mac, mac_key_id = EXCLUDED.mac_key_id
                         WHERE tg_memberships.role IS DISTINCT FROM EXCLUDED.role",
                        &[&ctx.tenant().as_str(), &user.as_str(), &role.as_str(), &now,
                          &tag.mac, &tag.key_id],
                    )
                    .await;
                match r {
                    Err(e) if code(&e) == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                        return Err(StoreError::TenantNotFound.into())
                    }
                    r => {
                        r.map_err(backend)?;
                    }
                }
            }
            None => {
                // The removed user's proofs go too (they would already fail the
                // membership join; this also bounds the proofs table).
                tx.execute(
                    "SELECT tg_forget_proofs($1, $2)",
                    &[&ctx.tenant().as_str(), &user.as_str()],
                )
                .await
                .map_err(backend)?;
                tx.execute(
                    "DELETE FROM tg_memberships WHERE tenant_id = $1 AND user_id = $2",
                    &[&ctx.tenant().as_str(), &user.as_str()],
                )
                .await
                .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)?;
        if new.is_none() {
            self.proofs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(ctx.tenant().as_str().to_owned(), user.as_str().to_owned()));
        }
        Ok(super::MemberChange {
            previous,
            actor_role,
        })
    }

    /// A user's role as stored, read over the service login (the application role reads
    /// no memberships: its claim of a user id is not proof of being that user).
    async fn stored_role(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let scope = TenantContext::service(tenant.clone(), &ServiceRole::for_guard(0));
        let tx = scoped(&mut client, &scope).await?;
        let st = tx
            .prepare_cached(
                "SELECT user_id, role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = $1 AND user_id = $2",
            )
            .await
            .map_err(backend)?;
        let row = tx
            .query_opt(&st, &[&tenant.as_str(), &user.as_str()])
            .await
            .map_err(backend)?;
        drop(tx);
        self.verified(|k| {
            row.as_ref()
                .map_or(Ok(()), |r| Self::check_member_row(k, tenant.as_str(), r))
        })
        .await?;
        Ok(row.and_then(|r| Role::parse(r.get(1))))
    }

    /// The members of the context's tenant, ordered by user id (any member may list them).
    /// Runs over the service connection (users can read only their own memberships).
    pub async fn members(&self, ctx: &TenantContext) -> Result<Vec<Membership>, StoreError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                "SELECT user_id, role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = $1 ORDER BY user_id LIMIT $2",
                &[&ctx.tenant().as_str(), &(MAX_PAGE as i64)],
            )
            .await
            .map_err(backend)?;
        self.verified(|k| {
            rows.iter()
                .try_for_each(|r| Self::check_member_row(k, ctx.tenant().as_str(), r))
        })
        .await?;
        if ctx.user().is_some()
            && rows
                .iter()
                .all(|r| Some(r.get::<_, &str>(0)) != ctx.user().map(UserId::as_str))
        {
            // Only members may list the members.
            return Err(StoreError::TenantNotFound);
        }
        rows.iter().map(|r| membership(ctx.tenant(), r)).collect()
    }
}

fn membership(tenant: &TenantId, r: &Row) -> Result<Membership, StoreError> {
    Ok(Membership {
        tenant: tenant.clone(),
        user: UserId::new(r.get::<_, String>(0)).map_err(|e| StoreError::Backend(e.to_string()))?,
        role: Role::parse(r.get(1))
            .ok_or_else(|| StoreError::Backend("unknown role in the database".into()))?,
    })
}

async fn verify_role(
    pool: &Pool,
    group: &str,
    other: &str,
    require_rls: bool,
) -> Result<(), StoreError> {
    let client = pool.get().await.map_err(pool_err)?;
    let tables: Vec<&str> = TABLES.to_vec();
    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolbypassrls,
                    EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)
                            AND pg_has_role(current_user, c.relowner, 'MEMBER')),
                    (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)
                            AND c.relrowsecurity AND c.relforcerowsecurity),
                    EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = $2 AND pg_has_role(current_user, g.oid, 'MEMBER')),
                    EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = $3 AND pg_has_role(current_user, g.oid, 'MEMBER'))
             FROM pg_roles r WHERE r.rolname = current_user",
            &[&tables, &group, &other],
        )
        .await
        .map_err(backend)?;
    let (superuser, bypass, owner, forced, member, other_member): (
        bool,
        bool,
        bool,
        i64,
        bool,
        bool,
    ) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    );
    let refuse = |why: &str| {
        Err(StoreError::InvalidInput(format!(
            "unsafe PostgreSQL role for {group}: {why}"
        )))
    };
    if superuser || bypass {
        return refuse("it is superuser or has BYPASSRLS, so Row Level Security would not apply");
    }
    if owner {
        return refuse("it owns (or can become the owner of) a tenantguard table");
    }
    if !member {
        return refuse(&format!("it is not a member of {group} (run PostgresStore::migrate, then GRANT {group} TO the login role)"));
    }
    if other_member {
        return refuse(&format!(
            "it is also a member of {other}: use one login role per group"
        ));
    }
    if require_rls && forced != TABLES.len() as i64 {
        return refuse("not every tenantguard table has ENABLE and FORCE ROW LEVEL SECURITY (run PostgresStore::migrate)");
    }
    Ok(())
}

/// Whether the context's calls go over the service login: the service role, and agents
/// (see `PostgresStore::client`).
fn via_service(ctx: &TenantContext) -> bool {
    ctx.is_service() || ctx.agent_grant().is_some()
}

/// Opens a transaction scoped to the context: its tenant and the connection's proof.
/// `READ WRITE` explicitly, whatever `default_transaction_read_only` a stolen login set.
async fn scoped<'a>(client: &'a mut Conn, ctx: &TenantContext) -> Result<Tx<'a>, StoreError> {
    let tx = client
        .obj
        .build_transaction()
        .read_only(false)
        .start()
        .await
        .map_err(backend)?;
    let st = tx.prepare_cached(SCOPE_SQL).await.map_err(backend)?;
    tx.execute(&st, &[&ctx.tenant().as_str(), &client.proof.as_str()])
        .await
        .map_err(backend)?;
    Ok(tx)
}

/// A service-connection transaction for a write on behalf of `ctx`: for a user, its
/// role in the tenant is read from `tg_memberships` in this transaction and must be at
/// least `needed` (the application role cannot make these writes itself).
async fn service_write<'a>(
    client: &'a mut Conn,
    ctx: &TenantContext,
    needed: Role,
    what: &str,
    key: Option<&RowMacs>,
) -> Result<Tx<'a>, StoreError> {
    let tx = scoped(client, ctx).await?;
    if let Some(user) = ctx.user() {
        let st = tx
            .prepare_cached(
                "SELECT m.user_id, m.role, m.mac, m.mac_key_id FROM tg_memberships m WHERE m.tenant_id = $1 AND m.user_id = $2 FOR SHARE",
            )
            .await
            .map_err(backend)?;
        let row = tx
            .query_opt(&st, &[&ctx.tenant().as_str(), &user.as_str()])
            .await
            .map_err(backend)?;
        if let (Some(k), Some(r)) = (key, &row) {
            PostgresStore::check_member_row(k, ctx.tenant().as_str(), r)?;
        }
        let role = row.and_then(|r| Role::parse(r.get(1)));
        match role {
            None => return Err(StoreError::TenantNotFound),
            Some(r) if rank(r) < rank(needed) => {
                return Err(StoreError::PermissionDenied(format!(
                    "{what} needs the {needed} role in this tenant"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(tx)
}

async fn tenant_visible(tx: &Tx<'_>, tenant: &TenantId) -> Result<bool, StoreError> {
    let st = tx
        .prepare_cached("SELECT 1 FROM tg_tenants WHERE tenant_id = $1")
        .await
        .map_err(backend)?;
    Ok(tx
        .query_opt(&st, &[&tenant.as_str()])
        .await
        .map_err(backend)?
        .is_some())
}

/// The scoped user's role rank as the policies see it (4 for the service role).
async fn db_rank(tx: &Tx<'_>, ctx: &TenantContext) -> Result<i32, StoreError> {
    if via_service(ctx) {
        return Ok(4);
    }
    let row = tx
        .query_one("SELECT tg_actor_rank()", &[])
        .await
        .map_err(backend)?;
    Ok(row.get(0))
}

async fn require_rank(
    tx: &Tx<'_>,
    ctx: &TenantContext,
    needed: Role,
    what: &str,
) -> Result<(), StoreError> {
    if !tenant_visible(tx, ctx.tenant()).await? {
        return Err(StoreError::TenantNotFound);
    }
    if db_rank(tx, ctx).await? < rank(needed) {
        return Err(StoreError::PermissionDenied(format!(
            "{what} needs the {needed} role in this tenant"
        )));
    }
    Ok(())
}

async fn insert_key(tx: &Tx<'_>, tenant: &TenantId, k: &TenantKeyRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tg_tenant_keys (tenant_id, key_id, state, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&tenant.as_str(), &i64::from(k.key_id.get()), &k.state.as_str(), &k.kek_id, &k.wrapped, &k.created_at],
    )
    .await
    .map_err(|e| match code(&e) {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(format!("key {} already exists", k.key_id)),
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => StoreError::PermissionDenied("adding keys needs the owner role".into()),
        _ => backend(e),
    })?;
    Ok(())
}

#[async_trait::async_trait]
impl KeyStore for PostgresStore {
    fn event_feed(&self) -> Option<std::sync::Arc<dyn crate::events::EventFeed>> {
        self.feed
            .as_ref()
            .map(|f| f.feed.clone() as std::sync::Arc<dyn crate::events::EventFeed>)
    }

    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        // Through the service role: the application role cannot create tenants or
        // memberships (version 4), so it cannot make itself the owner of anything.
        let user = ctx.user().map(UserId::as_str);
        let macs = match user {
            Some(_) => Some(self.row_macs().await?),
            None => None,
        };
        let mut client = self.service_conn().await?;
        let tx = scoped(&mut client, ctx).await?;
        tx.execute(
            "INSERT INTO tg_tenants (tenant_id, created_by, created_at) VALUES ($1, $2, $3)",
            &[&ctx.tenant().as_str(), &user, &first.created_at],
        )
        .await
        .map_err(|e| match code(&e) {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(
                "tenant already exists (ids of shredded tenants are never reused)".into(),
            ),
            _ => backend(e),
        })?;
        if let (Some(user), Some(macs)) = (user, &macs) {
            // The creator becomes the first owner.
            let tag = macs.membership(ctx.tenant().as_str(), user, "owner");
            tx.execute(
                "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at, mac, mac_key_id) VALUES ($1, $2, 'owner', $3, $4, $5)",
                &[&ctx.tenant().as_str(), &user, &first.created_at, &tag.mac, &tag.key_id],
            )
            .await
            .map_err(backend)?;
        }
        insert_key(&tx, ctx.tenant(), first).await?;
        tx.commit().await.map_err(backend)
    }

    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let st = tx
            .prepare_cached("SELECT key_id, state, kek_id, wrapped, created_at FROM tg_tenant_keys WHERE tenant_id = $1 ORDER BY key_id")
            .await
            .map_err(backend)?;
        let rows = tx
            .query(&st, &[&ctx.tenant().as_str()])
            .await
            .map_err(backend)?;
        if rows.is_empty() {
            return Err(StoreError::TenantNotFound);
        }
        let keys = rows.iter().map(key_row).collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.map_err(backend)?;
        Ok(keys)
    }

    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        require_rank(&tx, ctx, Role::Owner, "rotating keys").await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM tg_tenant_keys WHERE tenant_id = $1 AND key_id = $2",
                &[&ctx.tenant().as_str(), &i64::from(new.key_id.get())],
            )
            .await
            .map_err(backend)?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "key {} already exists",
                new.key_id
            )));
        }
        let demoted = tx
            .execute("UPDATE tg_tenant_keys SET state = 'decrypt_only' WHERE tenant_id = $1 AND state = 'active'", &[&ctx.tenant().as_str()])
            .await
            .map_err(backend)?;
        if demoted == 0 {
            return Err(StoreError::Conflict(
                "tenant was shredded: it cannot get new keys".into(),
            ));
        }
        insert_key(&tx, ctx.tenant(), new).await?;
        tx.commit().await.map_err(backend)
    }

    async fn rewrap_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        expected_kek: &str,
        new_kek: &str,
        new_wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        require_rank(&tx, ctx, Role::Owner, "re-wrapping keys").await?;
        let n = tx
            .execute(
                "UPDATE tg_tenant_keys SET kek_id = $1, wrapped = $2 WHERE tenant_id = $3 AND key_id = $4 AND kek_id = $5 AND state <> 'destroyed'",
                &[&new_kek, &new_wrapped, &ctx.tenant().as_str(), &i64::from(key_id.get()), &expected_kek],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(n == 1)
    }

    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        require_rank(&tx, ctx, Role::Owner, "destroying keys").await?;
        let state = tx
            .query_opt(
                "SELECT state FROM tg_tenant_keys WHERE tenant_id = $1 AND key_id = $2 FOR UPDATE",
                &[&ctx.tenant().as_str(), &i64::from(key_id.get())],
            )
            .await
            .map_err(backend)?
            .map(|r| r.get::<_, String>(0));
        match state.as_deref() {
            None => Err(StoreError::Conflict(format!("no key {key_id}"))),
            Some("active") => Err(StoreError::Conflict(
                "the active key cannot be destroyed alone: rotate first, or shred the tenant"
                    .into(),
            )),
            Some(state) => {
                // Under the row lock: a writer that still held the key (another instance)
                // either committed its record before the lock was granted, and this count
                // (a new snapshot) sees it, or waits for this transaction and then finds
                // the key destroyed (trigger tg_live_key, schema 11). An already destroyed
                // key stays a no-op, whatever rows name it.
                let used: i64 = if state == KeyState::DecryptOnly.as_str() {
                    tx.query_one(
                        "SELECT count(*) FROM tg_records WHERE tenant_id = $1 AND key_id = $2",
                        &[&ctx.tenant().as_str(), &i64::from(key_id.get())],
                    )
                    .await
                    .map_err(backend)?
                    .get(0)
                } else {
                    0
                };
                if used > 0 {
                    return Err(StoreError::Conflict(format!(
                        "key {key_id} still seals {used} records: run reencrypt first"
                    )));
                }
                tx.execute(
                    "UPDATE tg_tenant_keys SET state = 'destroyed', kek_id = '', wrapped = '\\x'::bytea
                     WHERE tenant_id = $1 AND key_id = $2 AND state <> 'active'",
                    &[&ctx.tenant().as_str(), &i64::from(key_id.get())],
                )
                .await
                .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }
        }
    }

    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        require_rank(&tx, ctx, Role::Owner, "shredding a tenant").await?;
        tx.execute(
            "UPDATE tg_tenant_keys SET state = 'destroyed', kek_id = '', wrapped = '\\x'::bytea WHERE tenant_id = $1",
            &[&ctx.tenant().as_str()],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn list_tenants(
        &self,
        _service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError> {
        let limit = page(limit)?;
        let mut client = self.service_pool()?.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(backend)?;
        // The one cross-tenant read: ids only, and only when this transaction asks for it.
        tx.execute("SELECT set_config('app.tenant_id', '', true), set_config('app.user_id', '', true), set_config('app.list_tenants', 'on', true)", &[])
            .await
            .map_err(backend)?;
        let rows = tx
            .query(
                "SELECT tenant_id FROM tg_tenants WHERE tenant_id > $1 ORDER BY tenant_id LIMIT $2",
                &[&after.map(|t| t.as_str()).unwrap_or(""), &limit],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                TenantId::new(r.get::<_, String>(0)).map_err(|e| StoreError::Backend(e.to_string()))
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl RecordStore for PostgresStore {
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError> {
        validate_record(rec)?;
        let mut client = self.client(ctx).await?;
        let tenant = ctx.tenant().as_str();
        let key_id = i64::from(rec.key_id.get());
        let failure: Option<tokio_postgres::Error> = if !via_service(ctx) {
            // A user: one definer call checks the verified actor once for the whole put
            // (version 6), where the statements below are checked against three policy
            // expressions, each a definer call.
            let tx = scoped(&mut client, ctx).await?;
            let put = tx
                .prepare_cached("SELECT public.tg_put_record($1, $2, $3, $4, $5, $6, $7, $8)")
                .await
                .map_err(backend)?;
            match tx
                .query_one(
                    &put,
                    &[
                        &tenant,
                        &rec.id,
                        &rec.class,
                        &rec.subject,
                        &key_id,
                        &rec.sealed,
                        &rec.created_at,
                        &rec.updated_at,
                    ],
                )
                .await
            {
                Ok(_) => return tx.commit().await.map_err(backend),
                Err(e) => Some(e),
            }
        } else {
            let tx = scoped(&mut client, ctx).await?;
            // Replace first, insert if absent: a plain UPDATE is checked against three
            // policy expressions with a membership lookup, an INSERT against one, where
            // `INSERT ... ON CONFLICT DO UPDATE` is checked against all of them (see
            // postgres/003_cheaper_update_checks.sql).
            let update = tx
                .prepare_cached(
                    "UPDATE tg_records SET class = $3, subject = $4, key_id = $5, sealed = $6, updated_at = $7
                     WHERE id = $1 AND tenant_id = $2",
                )
                .await
                .map_err(backend)?;
            let update_params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
                &rec.id,
                &tenant,
                &rec.class,
                &rec.subject,
                &key_id,
                &rec.sealed,
                &rec.updated_at,
            ];
            let mut r = tx.execute(&update, &update_params).await;
            if let Ok(0) = r {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO tg_records (id, tenant_id, class, subject, key_id, sealed, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, id) DO NOTHING",
                    )
                    .await
                    .map_err(backend)?;
                r = tx
                    .execute(
                        &insert,
                        &[
                            &rec.id,
                            &tenant,
                            &rec.class,
                            &rec.subject,
                            &key_id,
                            &rec.sealed,
                            &rec.created_at,
                            &rec.updated_at,
                        ],
                    )
                    .await;
                if let Ok(0) = r {
                    // Ids are per tenant (version 4): the id was inserted in this tenant
                    // by a concurrent put since the UPDATE's snapshot. A new statement
                    // sees it.
                    r = tx.execute(&update, &update_params).await;
                }
            }
            match r {
                Ok(1) => return tx.commit().await.map_err(backend),
                // Inserted then deleted by concurrent calls between our statements.
                Ok(_) => {
                    return Err(StoreError::Conflict(
                        "the record changed concurrently: retry".into(),
                    ))
                }
                Err(e) => Some(e),
            }
        };
        // The write failed and its transaction is gone; explain why in a fresh one.
        if let Some(e) = failure {
            if key_destroyed(&e) {
                return Err(StoreError::KeyDestroyed(rec.key_id));
            }
            match code(&e) {
                Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => {
                    return Err(StoreError::TenantNotFound)
                }
                Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {}
                _ => return Err(backend(e)),
            }
        }
        let tx = scoped(&mut client, ctx).await?;
        require_rank(&tx, ctx, Role::Member, "writing records").await?;
        Err(StoreError::PermissionDenied(
            "writing records needs the member role in this tenant".into(),
        ))
    }

    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError> {
        validate_record_id(id)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let st = tx
            .prepare_cached(&format!(
                "SELECT {RECORD_COLS} FROM tg_records WHERE id = $1 AND tenant_id = $2"
            ))
            .await
            .map_err(backend)?;
        let row = tx
            .query_opt(&st, &[&id, &ctx.tenant().as_str()])
            .await
            .map_err(backend)?;
        let rec = row.as_ref().map(record_row).transpose()?;
        tx.commit().await.map_err(backend)?;
        Ok(rec)
    }

    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError> {
        validate_record_id(id)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let n = if via_service(ctx) {
            tx.execute(
                "DELETE FROM tg_records WHERE id = $1 AND tenant_id = $2",
                &[&id, &ctx.tenant().as_str()],
            )
            .await
            .map_err(backend)?
        } else {
            // The application role holds no DELETE privilege (a table-wide one would
            // also let it LOCK the table): a definer function applies the same check
            // as the policies.
            let st = tx
                .prepare_cached("SELECT tg_delete_record($1)")
                .await
                .map_err(backend)?;
            u64::from(
                tx.query_one(&st, &[&id])
                    .await
                    .map_err(backend)?
                    .get::<_, bool>(0),
            )
        };
        tx.commit().await.map_err(backend)?;
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
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                &format!("SELECT {RECORD_COLS} FROM tg_records WHERE tenant_id = $1 AND key_id = $2 AND id > $3 ORDER BY id LIMIT $4"),
                &[&ctx.tenant().as_str(), &i64::from(key_id.get()), &after.unwrap_or(""), &limit],
            )
            .await
            .map_err(backend)?;
        let recs = rows.iter().map(record_row).collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.map_err(backend)?;
        Ok(recs)
    }

    async fn records_page(
        &self,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let limit = page(limit)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let rows = tx
            .query(
                &format!("SELECT {RECORD_COLS} FROM tg_records WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"),
                &[&ctx.tenant().as_str(), &after.unwrap_or(""), &limit],
            )
            .await
            .map_err(backend)?;
        let recs = rows.iter().map(record_row).collect::<Result<Vec<_>, _>>()?;
        tx.commit().await.map_err(backend)?;
        Ok(recs)
    }

    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError> {
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let row = tx
            .query_one(
                "SELECT count(*) FROM tg_records WHERE tenant_id = $1 AND key_id = $2",
                &[&ctx.tenant().as_str(), &i64::from(key_id.get())],
            )
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        validate_record_id(id)?;
        let mut client = self.client(ctx).await?;
        let tx = scoped(&mut client, ctx).await?;
        let n = tx
            .execute(
                "UPDATE tg_records SET sealed = $1, key_id = $2 WHERE id = $3 AND tenant_id = $4 AND sealed = $5",
                &[&new_sealed, &i64::from(new_key_id.get()), &id, &ctx.tenant().as_str(), &expected],
            )
            .await
            .map_err(|e| {
                if key_destroyed(&e) {
                    StoreError::KeyDestroyed(new_key_id)
                } else {
                    backend(e)
                }
            })?;
        tx.commit().await.map_err(backend)?;
        Ok(n == 1)
    }
}

#[async_trait::async_trait]
impl Directory for PostgresStore {
    async fn role_of(&self, user: &UserId, tenant: &TenantId) -> Result<Option<Role>, TenantError> {
        self.stored_role(tenant, user)
            .await
            .map_err(|e| TenantError::Directory(e.to_string()))
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, TenantError> {
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs()
            .await
            .map_err(|e| TenantError::Directory(e.to_string()))?;
        let dir = |e: StoreError| TenantError::Directory(e.to_string());
        let mut client = self.service_conn().await.map_err(dir)?;
        let tx = client
            .obj
            .transaction()
            .await
            .map_err(|e| dir(backend(e)))?;
        // No tenant in scope; `app.member_of` makes this user's memberships, and nothing
        // else, visible to the service role (policy svc_memberships_of in version 4).
        tx.execute(
            "SELECT set_config('app.tenant_id', '', true), set_config('app.member_of', $1, true)",
            &[&user.as_str()],
        )
        .await
        .map_err(|e| dir(backend(e)))?;
        let rows = tx
            .query(
                "SELECT tenant_id, role, mac, mac_key_id FROM tg_memberships WHERE user_id = $1 ORDER BY tenant_id LIMIT $2",
                &[&user.as_str(), &(MAX_PAGE as i64)],
            )
            .await
            .map_err(|e| dir(backend(e)))?;
        drop(tx);
        self.verified(|k| {
            rows.iter().try_for_each(|r| {
                k.check_membership(
                    r.get(0),
                    user.as_str(),
                    r.get(1),
                    r.get::<_, Option<&[u8]>>(2),
                    r.get::<_, Option<i32>>(3).map(i64::from),
                )
            })
        })
        .await
        .map_err(dir)?;
        rows.iter()
            .map(|r| {
                Ok(Membership {
                    tenant: TenantId::new(r.get::<_, String>(0))?,
                    user: user.clone(),
                    role: Role::parse(r.get(1)).ok_or_else(|| {
                        TenantError::Directory("unknown role in the database".into())
                    })?,
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl super::MembershipStore for PostgresStore {
    async fn member_role(
        &self,
        ctx: &TenantContext,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        self.stored_role(ctx.tenant(), user).await
    }

    async fn apply_member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        at: i64,
    ) -> Result<super::MemberChange, crate::Error> {
        self.member_change(ctx, user, new, at).await
    }

    async fn list_members(
        &self,
        ctx: &TenantContext,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(StoreError::InvalidInput(format!(
                "page size must be 1 to {MAX_PAGE}"
            )));
        }
        // The rows read below must be read after this process's backfill (if any).
        self.row_macs().await?;
        let mut client = self.service_conn().await?;
        let tx = scoped(&mut client, ctx).await?;
        if !tenant_visible(&tx, ctx.tenant()).await? {
            return Err(StoreError::TenantNotFound);
        }
        let rows = tx
            .query(
                "SELECT user_id, role, mac, mac_key_id FROM tg_memberships WHERE tenant_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
                &[&ctx.tenant().as_str(), &after.map(UserId::as_str).unwrap_or(""), &(limit as i64)],
            )
            .await
            .map_err(backend)?;
        drop(tx);
        self.verified(|k| {
            rows.iter()
                .try_for_each(|r| Self::check_member_row(k, ctx.tenant().as_str(), r))
        })
        .await?;
        rows.iter().map(|r| membership(ctx.tenant(), r)).collect()
    }

    async fn memberships_of_user(
        &self,
        _service: &ServiceRole,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let mut v = self
            .memberships_of(user)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        v.truncate(limit.min(MAX_PAGE));
        Ok(v)
    }
}

fn service_key_row(r: &Row) -> Result<crate::kms::ServiceKeyRecord, StoreError> {
    let purpose: String = r.get(0);
    let state: String = r.get(2);
    Ok(crate::kms::ServiceKeyRecord {
        purpose: crate::kms::ServicePurpose::parse(&purpose).ok_or_else(|| {
            StoreError::Backend("unknown service key purpose in the database".into())
        })?,
        key_id: key_id(r.get::<_, i32>(1).into())?,
        state: crate::kms::ServiceKeyState::parse(&state).ok_or_else(|| {
            StoreError::Backend("unknown service key state in the database".into())
        })?,
        kek_id: r.get(3),
        wrapped: r.get(4),
        created_at: r.get(5),
    })
}

#[async_trait::async_trait]
impl crate::kms::ServiceKeyStore for PostgresStore {
    fn attach_keyring(&self, ring: &std::sync::Arc<crate::kms::ServiceKeyring>) {
        self.row_macs.attach(ring);
    }

    async fn service_keys(
        &self,
        purpose: crate::kms::ServicePurpose,
    ) -> Result<Vec<crate::kms::ServiceKeyRecord>, StoreError> {
        let client = self.service_pool()?.get().await.map_err(pool_err)?;
        let st = client
            .prepare_cached("SELECT purpose, key_id, state, kek_id, wrapped, created_at FROM tg_service_keys WHERE purpose = $1 ORDER BY key_id")
            .await
            .map_err(backend)?;
        client
            .query(&st, &[&purpose.as_str()])
            .await
            .map_err(backend)?
            .iter()
            .map(service_key_row)
            .collect()
    }

    async fn insert_service_key(
        &self,
        rec: &crate::kms::ServiceKeyRecord,
    ) -> Result<bool, StoreError> {
        let client = self.service_pool()?.get().await.map_err(pool_err)?;
        let id = i32::try_from(rec.key_id.get())
            .map_err(|_| StoreError::InvalidInput("service key id out of range".into()))?;
        let n = client
            .execute(
                "INSERT INTO tg_service_keys (purpose, key_id, state, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (purpose, key_id) DO NOTHING",
                &[&rec.purpose.as_str(), &id, &rec.state.as_str(), &rec.kek_id, &rec.wrapped, &rec.created_at],
            )
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }

    async fn retire_service_key(
        &self,
        purpose: crate::kms::ServicePurpose,
        key_id: KeyId,
    ) -> Result<bool, StoreError> {
        let client = self.service_pool()?.get().await.map_err(pool_err)?;
        let id = i32::try_from(key_id.get())
            .map_err(|_| StoreError::InvalidInput("service key id out of range".into()))?;
        let n = client
            .execute(
                "UPDATE tg_service_keys SET state = 'retired', kek_id = '', wrapped = '\\x' WHERE purpose = $1 AND key_id = $2 AND state = 'active'",
                &[&purpose.as_str(), &id],
            )
            .await
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
        let client = self.service_pool()?.get().await.map_err(pool_err)?;
        let id = i32::try_from(key_id.get())
            .map_err(|_| StoreError::InvalidInput("service key id out of range".into()))?;
        let n = client
            .execute(
                "UPDATE tg_service_keys SET kek_id = $4, wrapped = $5 WHERE purpose = $1 AND key_id = $2 AND state = 'active' AND kek_id = $3",
                &[&purpose.as_str(), &id, &old_kek, &new_kek, &wrapped],
            )
            .await
            .map_err(backend)?;
        Ok(n == 1)
    }
}
