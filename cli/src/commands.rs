//! Every command, on the library's public API, acting with the service capability of the
//! guard built from the configuration.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tenantguard::egress::{Egress, EgressPolicy, Registry, SubProcessor};
use tenantguard::store::RetentionWindow;
use tenantguard::{
    Guard, KeyId, KeyProvider, KeyState, LocalKeyProvider, ServiceRole, Store, TenantContext,
    TenantId, UserId,
};

use crate::config::Config;
use crate::exit::{self, Failure};
use crate::jobs::{Progress, State, Stop};
use crate::providers::{self, KekAdmin};
use crate::{AuditCmd, Cli, Command, KekCmd, KeyCmd, PgCmd, PolicyCmd, Reply};
use crate::{SessionCmd, TenantCmd, TokenCmd};

const DAY: i64 = 86_400;
/// Page size of listings.
const PAGE: usize = 1000;

/// An opened deployment.
pub struct Env {
    pub cfg: Config,
    pub guard: Guard,
    pub service: ServiceRole,
    pub provider: Arc<dyn KeyProvider>,
    pub local: Option<Arc<LocalKeyProvider>>,
    /// How `kek rotate` works with this provider.
    pub admin: KekAdmin,
    pub state_dir: PathBuf,
    pub quiet: bool,
    stop: std::sync::OnceLock<Stop>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn tenant_id(s: &str) -> Result<TenantId, Failure> {
    TenantId::new(s).map_err(|e| Failure::usage(format!("tenant id {s:?}: {e}")))
}

/// A tenant id that names an existing tenant (a shredded one included). For the commands
/// the library would carry out on any id: a mistyped one must be "not found" (exit 5), not
/// an erasure receipt, a kill switch, a revocation or a retention policy of nothing
/// reported as done, with an audit log started for a tenant that does not exist.
async fn known_tenant(env: &Env, s: &str) -> Result<TenantId, Failure> {
    let t = tenant_id(s)?;
    match env.guard.keys().versions(&env.ctx(&t)).await {
        Ok(_) => Ok(t),
        Err(e) if e.kind() == tenantguard::ErrorKind::NotFound => Err(Failure::not_found(format!(
            "no tenant {t}: check the id (`tenantguard tenant list`)"
        ))),
        Err(e) => Err(e.into()),
    }
}

impl Env {
    pub fn ctx(&self, tenant: &TenantId) -> TenantContext {
        TenantContext::service(tenant.clone(), &self.service)
    }

    /// Every tenant id, ascending, after `after`.
    pub async fn tenants_after(&self, after: Option<&TenantId>) -> Result<Vec<TenantId>, Failure> {
        let mut out = Vec::new();
        let mut cursor = after.cloned();
        loop {
            let page = self
                .guard
                .keys()
                .list_tenants(&self.service, cursor.as_ref(), PAGE)
                .await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            out.extend(page);
            cursor = Some(last);
        }
        Ok(out)
    }

    /// The stop request, listened for only once a long job starts: elsewhere Ctrl-C keeps
    /// its default (end the process at once, e.g. at the shred confirmation).
    fn stop(&self) -> &Stop {
        self.stop.get_or_init(Stop::install)
    }

    fn progress(&self, what: &str, total: u64) -> Progress {
        Progress::new(what, total, self.quiet)
    }

    fn batch(&self, over: Option<usize>) -> Result<usize, Failure> {
        let b = over.unwrap_or(self.cfg.batch);
        if b == 0 || b > 10_000 {
            return Err(Failure::usage("--batch must be 1 to 10000"));
        }
        Ok(b)
    }
}

/// Builds the guard the configuration describes. `create`: make the key file and the
/// database if absent (only `init` does; every other command refuses a missing one, so a
/// typo in a path never starts an empty deployment).
pub async fn open(cfg: Config, create: bool, quiet: bool) -> Result<Env, Failure> {
    if create {
        // `init` makes the data directories 0700 but does not change existing ones: one
        // others can write is refused before any key is put in it.
        for dir in data_dirs(&cfg) {
            if dir.exists() {
                if let Some(why) = open_dir_problem(&dir) {
                    return Err(Failure::usage(why));
                }
            }
        }
    }
    let (provider, local, admin): (
        Arc<dyn KeyProvider>,
        Option<Arc<LocalKeyProvider>>,
        KekAdmin,
    ) = match cfg.key_provider.as_str() {
        "local" => {
            let p = if create {
                // `init` makes the key file before the database, so a database without its
                // key file means the key file was lost or key_file is mistyped: a new one
                // could open none of that data (and would be used for new data from then on).
                if !cfg.key_file.exists() && cfg.store == "sqlite" && cfg.sqlite_path.exists() {
                    return Err(Failure::usage(format!(
                        "no key file at {}, but the database {} exists: its data is wrapped under \
                         the key file it was created with, which a new key file cannot open. \
                         Restore that key file (or point key_file at it) instead of running init",
                        cfg.key_file.display(),
                        cfg.sqlite_path.display()
                    )));
                }
                if let Some(dir) = cfg.key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    private_dir(dir)?;
                }
                LocalKeyProvider::open_or_create(&cfg.key_file)
            } else {
                if !cfg.key_file.exists() {
                    return Err(Failure::usage(format!(
                        "no key file at {}: run `tenantguard init` or set key_file",
                        cfg.key_file.display()
                    )));
                }
                LocalKeyProvider::open(&cfg.key_file)
            }
            .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
            let p = Arc::new(p);
            (p.clone(), Some(p.clone()), KekAdmin::Local(p))
        }
        _ => {
            let (p, admin) = providers::open(&cfg).await?;
            (p, None, admin)
        }
    };
    type Policies = Arc<dyn tenantguard::store::PolicyStore>;
    let (store, policies): (Arc<dyn Store>, Policies) = match cfg.store.as_str() {
        "sqlite" => {
            if create {
                if let Some(dir) = cfg
                    .sqlite_path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    private_dir(dir)?;
                }
            } else if !cfg.sqlite_path.exists() {
                return Err(Failure::usage(format!(
                    "no database at {}: run `tenantguard init` or set sqlite_path",
                    cfg.sqlite_path.display()
                )));
            }
            let s = Arc::new(
                tenantguard::SqliteStore::open(&cfg.sqlite_path)
                    .map_err(|e| Failure::from(tenantguard::Error::from(e)))?,
            );
            (s.clone(), s)
        }
        _ => postgres_store(&cfg).await?,
    };
    let mut builder = Guard::builder()
        .key_provider_arc(provider.clone())
        .store_arc(store)
        .policy_store(policies);
    if let Some(path) = &cfg.checkpoint_file {
        let sink = tenantguard::audit::FileCheckpointSink::open(path).map_err(|e| {
            Failure::new(
                exit::FAILURE,
                "io",
                format!("checkpoint_file {}: {e}", path.display()),
            )
        })?;
        builder = builder.checkpoint_sink(Arc::new(sink));
    }
    let (guard, service) = builder.build_with_service()?;
    let state_dir = cfg.state_dir();
    Ok(Env {
        cfg,
        guard,
        service,
        provider,
        local,
        admin,
        state_dir,
        quiet,
        stop: std::sync::OnceLock::new(),
    })
}

#[cfg(feature = "postgres")]
async fn postgres_store(
    cfg: &Config,
) -> Result<(Arc<dyn Store>, Arc<dyn tenantguard::store::PolicyStore>), Failure> {
    let url = cfg
        .postgres_url
        .as_deref()
        .ok_or_else(|| Failure::usage("store = \"postgres\" needs postgres_url"))?;
    let s = tenantguard::PostgresStore::connect(url, cfg.postgres_service_url.as_deref())
        .await
        .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
    let s = Arc::new(s);
    Ok((s.clone(), s))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_store(
    _: &Config,
) -> Result<(Arc<dyn Store>, Arc<dyn tenantguard::store::PolicyStore>), Failure> {
    Err(no_postgres())
}

#[cfg(not(feature = "postgres"))]
fn no_postgres() -> Failure {
    Failure::usage(
        "this build has no PostgreSQL support: cargo install --path cli --features postgres",
    )
}

/// Why `dir` is no place for the key file or the database: writable by group or others,
/// who could then replace those files (with a key file of their own, say) or plant links
/// before they are created. `None` when it is fine (or not a Unix system).
fn open_dir_problem(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(dir) {
            Ok(m) if m.permissions().mode() & 0o022 != 0 => Some(format!(
                "{} is writable by group or others (mode {:o}): others could replace the key file, database or job state in it; chmod 700 it",
                dir.display(),
                m.permissions().mode() & 0o7777
            )),
            Ok(_) => None,
            Err(e) => Some(format!("{}: {e}", dir.display())),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// The directories of the key file (local provider), of the SQLite database and of the
/// job state (whose checkpoints tell `kek rewrap` and `reencrypt` where to resume: a
/// forged one makes them skip work and report it done).
fn data_dirs(cfg: &Config) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let parent = |p: &Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    };
    if cfg.key_provider == "local" {
        dirs.push(parent(&cfg.key_file));
    }
    if cfg.store == "sqlite" && !dirs.contains(&parent(&cfg.sqlite_path)) {
        dirs.push(parent(&cfg.sqlite_path));
    }
    let state = cfg.state_dir();
    let state = if state.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        state
    };
    if !dirs.contains(&state) {
        dirs.push(state);
    }
    dirs
}

/// Creates `dir` with mode 0700 (like the library's embedded default).
fn private_dir(dir: &Path) -> Result<(), Failure> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| Failure::io(&format!("cannot create {}", dir.display()), e))
}

pub async fn run(cli: Cli) -> Result<Reply, Failure> {
    let required = std::env::var_os("TENANTGUARD_CONFIG").is_some()
        || cli.config != Path::new("tenantguard.toml");
    if let Command::Init { dir } = &cli.command {
        return init(&cli.config, dir.as_deref(), cli.quiet).await;
    }
    if let Command::Audit(AuditCmd::Verify {
        tenant,
        export: Some(bundle),
        public_key,
        checkpoint,
        ..
    }) = &cli.command
    {
        // Offline: the bundle and the public key(s) only, no configuration.
        return verify_bundle_file(tenant.as_deref(), bundle, public_key, checkpoint.as_deref());
    }
    let cfg = Config::load(&cli.config, required)?;
    if let Command::Pg(cmd) = &cli.command {
        return pg(cmd, &cfg).await;
    }
    if matches!(cli.command, Command::Doctor) {
        // The library refuses to open a key file others can read; the doctor says why.
        if let Some(c) = key_file_check(&cfg).filter(|c| !c.1) {
            // Rotating the KEK is the advice for a key file others could read, not for
            // one that is missing or unreadable.
            let fix = if cfg.key_file.exists() {
                "not checked: fix the key file first (chmod 600, then rotate the KEK: it may have been read)"
            } else {
                "not checked: no key file (run `tenantguard init`, or set key_file / TENANTGUARD_KEY_FILE)"
            };
            return Ok(doctor_reply(vec![
                c,
                ("everything else".into(), false, fix.into()),
            ]));
        }
    }
    let env = open(cfg, false, cli.quiet).await?;
    match cli.command {
        Command::Init { .. } | Command::Completions { .. } | Command::Pg(_) => unreachable!(),
        Command::Tenant(c) => tenant(&env, c).await,
        Command::Key(c) => key(&env, c).await,
        Command::Kek(c) => kek(&env, c).await,
        Command::Reencrypt {
            tenant,
            all: _,
            from,
            batch,
        } => reencrypt(&env, tenant.as_deref(), from, batch).await,
        Command::Sweep {
            tenant,
            all: _,
            dry_run,
        } => sweep(&env, tenant.as_deref(), dry_run).await,
        Command::EraseSubject { tenant, subject } => erase_subject(&env, &tenant, &subject).await,
        Command::Audit(c) => audit(&env, c, cli.json).await,
        Command::Policy(c) => policy(&env, c).await,
        Command::Token(c) => token(&env, c).await,
        Command::Session(c) => session(&env, c).await,
        Command::Doctor => doctor(&env, &cli.config).await,
    }
}

async fn init(config: &Path, dir: Option<&Path>, quiet: bool) -> Result<Reply, Failure> {
    let wrote_config = !config.exists();
    if wrote_config {
        let mut c = Config::default();
        if let Some(d) = dir {
            c.key_file = d.join("keys.json");
            c.sqlite_path = d.join("tenantguard.db");
        }
        // Refused before anything is written (the same check runs on the final
        // configuration when opening), so a second `init --dir` can follow the fix.
        let base = config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        for dir in data_dirs(&c) {
            let dir = base.join(dir);
            if dir.exists() {
                if let Some(why) = open_dir_problem(&dir) {
                    return Err(Failure::usage(why));
                }
            }
        }
        let text = format!(
            "# tenantguard command line (docs/OPERATIONS.md). Relative paths are from this file.\n{}",
            toml::to_string(&c).map_err(|e| Failure::usage(e.to_string()))?
        );
        if let Some(p) = config.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(p)
                .map_err(|e| Failure::io("cannot create the config directory", e))?;
        }
        // Owner-only, like the key file: the file may later hold a provider secret (a
        // Vault token, a PIN). Created exclusively: `exists()` is false for a dangling
        // symlink, which must not be followed to create its target.
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(config)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| {
                Failure::io(
                    &format!("cannot write the configuration {}", config.display()),
                    e,
                )
            })?;
    } else if dir.is_some() {
        return Err(Failure::usage(format!(
            "{} exists: edit it instead of passing --dir",
            config.display()
        )));
    }
    let cfg = Config::load(config, true)?;
    let env = open(cfg, true, quiet).await?;
    let kek = env
        .provider
        .current_kek()
        .await
        .map_err(tenantguard::Error::from)?;
    let t = now();
    State::update(&env.state_dir, |s| {
        s.kek_first_seen.entry(kek.clone()).or_insert(t);
    })?;
    Ok(Reply::ok(
        json!({
            "config": config.display().to_string(),
            "wrote_config": wrote_config,
            "key_provider": env.cfg.key_provider,
            "key_file": (env.cfg.key_provider == "local").then(|| env.cfg.key_file.display().to_string()),
            "store": env.cfg.store,
            "sqlite_path": env.cfg.sqlite_path.display().to_string(),
            "kek": kek,
        }),
        format!(
            "ready: {}, database {} (config {}{})",
            if env.cfg.key_provider == "local" {
                format!("key file {}", env.cfg.key_file.display())
            } else {
                format!("key provider {} (KEK {kek})", env.cfg.key_provider)
            },
            if env.cfg.store == "sqlite" {
                env.cfg.sqlite_path.display().to_string()
            } else {
                "postgres".to_owned()
            },
            config.display(),
            if wrote_config { ", written" } else { "" }
        ),
    ))
}

async fn tenant(env: &Env, c: TenantCmd) -> Result<Reply, Failure> {
    match c {
        TenantCmd::Create { tenant } => {
            let t = tenant_id(&tenant)?;
            let key = env.guard.keys().create_tenant(&env.ctx(&t)).await?;
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "key": key.get()}),
                format!("created tenant {t} (key {key})"),
            ))
        }
        TenantCmd::List => {
            let all = env.tenants_after(None).await?;
            let names: Vec<&str> = all.iter().map(TenantId::as_str).collect();
            Ok(Reply::ok(json!({"tenants": names}), names.join("\n")))
        }
        TenantCmd::Shred { tenant, yes } => {
            let t = tenant_id(&tenant)?;
            let ctx = env.ctx(&t);
            let keys = env.guard.keys().versions(&ctx).await?;
            if keys.iter().all(|k| k.state == KeyState::Destroyed) {
                return Ok(Reply::ok(
                    json!({"tenant": t.as_str(), "shredded": false, "already": true}),
                    format!("tenant {t} was already shredded"),
                ));
            }
            if !yes {
                confirm(&t)?;
            }
            let r = env.guard.keys().shred(&ctx).await?;
            Ok(Reply::ok(
                json!({
                    "tenant": t.as_str(),
                    "shredded": true,
                    "backups_unreadable": r.backups_unreadable(),
                    "summary": r.summary(),
                }),
                format!("shredded tenant {t}: {}", r.summary()),
            ))
        }
    }
}

/// Reads the tenant id typed back on stdin (a prompt on a terminal).
fn confirm(t: &TenantId) -> Result<(), Failure> {
    if std::io::stdin().is_terminal() {
        eprint!("This destroys every key of tenant {t}: its data can never be read again.\nType the tenant id to confirm: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::io("cannot read the confirmation", e))?;
    if line.trim() != t.as_str() {
        return Err(Failure::refused(format!(
            "confirmation did not match \"{t}\": nothing was shredded (type the id back, or pass --yes)"
        )));
    }
    Ok(())
}

fn state_str(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "active",
        KeyState::DecryptOnly => "decrypt_only",
        KeyState::Destroyed => "destroyed",
    }
}

/// A maximum age in days as a comparable number: one beyond `i64` (a "never" of
/// `18446744073709551615`) is the largest, not a negative number that every age exceeds.
fn days_limit(days: u64) -> i64 {
    i64::try_from(days).unwrap_or(i64::MAX)
}

fn age_days(created: i64) -> i64 {
    (now() - created).max(0) / DAY
}

/// The tenant's active key and whether it is older than the maximum age.
async fn key_due(env: &Env, t: &TenantId) -> Result<Option<(KeyId, i64)>, Failure> {
    if env.cfg.max_tenant_key_age_days == 0 {
        return Ok(None);
    }
    let keys = env.guard.keys().versions(&env.ctx(t)).await?;
    let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) else {
        return Ok(None);
    };
    let age = age_days(active.created_at);
    Ok((age >= days_limit(env.cfg.max_tenant_key_age_days)).then_some((active.key_id, age)))
}

async fn key(env: &Env, c: KeyCmd) -> Result<Reply, Failure> {
    match c {
        KeyCmd::List { tenant } => {
            let t = tenant_id(&tenant)?;
            let ctx = env.ctx(&t);
            let keys = env.guard.keys().versions(&ctx).await?;
            let census = env.guard.keys().census(&ctx).await?;
            let mut rows = Vec::new();
            let mut text = format!(
                "{:<6} {:<13} {:>8} {:>9}  kek\n",
                "key", "state", "age(d)", "records"
            );
            for k in &keys {
                let n = census.count(k.key_id);
                rows.push(json!({
                    "key": k.key_id.get(), "state": state_str(k.state), "kek": k.kek_id,
                    "created_at": k.created_at, "age_days": age_days(k.created_at), "records": n,
                }));
                text += &format!(
                    "{:<6} {:<13} {:>8} {:>9}  {}\n",
                    k.key_id.get(),
                    state_str(k.state),
                    age_days(k.created_at),
                    n,
                    k.kek_id
                );
            }
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "keys": rows, "records": census.records, "unreadable": census.unreadable}),
                text,
            ))
        }
        KeyCmd::Rotate { tenant, due } => {
            let targets: Vec<TenantId> = if due {
                let mut v = Vec::new();
                for t in env.tenants_after(None).await? {
                    if key_due(env, &t).await?.is_some() {
                        v.push(t);
                    }
                }
                v
            } else {
                vec![tenant_id(tenant.as_deref().unwrap_or_default())?]
            };
            let mut rotated = Vec::new();
            let mut text = String::new();
            for t in &targets {
                let k = env.guard.keys().rotate(&env.ctx(t)).await?;
                rotated.push(json!({"tenant": t.as_str(), "key": k.get()}));
                text += &format!("rotated {t}: key {k} is active\n");
            }
            if targets.is_empty() {
                text = "no tenant key is due".into();
            } else {
                text += "next: tenantguard reencrypt --all, then key retire";
            }
            Ok(Reply::ok(json!({"rotated": rotated}), text))
        }
        KeyCmd::Retire {
            tenant,
            key,
            dry_run,
        } => {
            let t = tenant_id(&tenant)?;
            let ctx = env.ctx(&t);
            let id = KeyId::new(key).map_err(|_| Failure::usage("key versions start at 1"))?;
            if !dry_run {
                env.guard.keys().retire(&ctx, id).await?;
                return Ok(Reply::ok(
                    json!({"tenant": t.as_str(), "key": key, "retired": true}),
                    format!("retired key {key} of {t}"),
                ));
            }
            let keys = env.guard.keys().versions(&ctx).await?;
            let info = keys
                .iter()
                .find(|k| k.key_id == id)
                .ok_or_else(|| Failure::not_found(format!("tenant {t} has no key {key}")))?;
            let census = env.guard.keys().census(&ctx).await?;
            let used = census.count(id);
            let mut blockers = Vec::new();
            if info.state == KeyState::Active {
                blockers.push("it is the active key: rotate first".to_owned());
            }
            if used > 0 {
                blockers.push(format!(
                    "{used} stored records are sealed under it: run reencrypt"
                ));
            }
            if census.unreadable > 0 {
                blockers.push(format!(
                    "{} records have unreadable sealed bytes: delete or repair them",
                    census.unreadable
                ));
            }
            let ok = blockers.is_empty() && info.state == KeyState::DecryptOnly;
            let text = if info.state == KeyState::Destroyed {
                format!("key {key} of {t} is already destroyed")
            } else if ok {
                format!("key {key} of {t} can be retired: nothing stored uses it")
            } else {
                format!(
                    "key {key} of {t} cannot be retired:\n  {}",
                    blockers.join("\n  ")
                )
            };
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "key": key, "state": state_str(info.state),
                       "records": used, "unreadable": census.unreadable,
                       "retirable": ok, "blockers": blockers}),
                text,
            )
            .with_code(if ok || info.state == KeyState::Destroyed {
                exit::OK
            } else {
                exit::CHECK_FAILED
            }))
        }
    }
}

/// Makes a new KEK current with the configured provider; returns its id.
async fn new_kek(env: &Env, new_label: Option<&str>) -> Result<String, Failure> {
    if new_label.is_some() && !matches!(env.cfg.key_provider.as_str(), "pkcs11") {
        return Err(Failure::usage(
            "--new-label is for key_provider = \"pkcs11\"",
        ));
    }
    match &env.admin {
        KekAdmin::Local(l) => Ok(l.rotate_kek().map_err(tenantguard::Error::from)?),
        #[cfg(feature = "aws")]
        KekAdmin::Aws(p) => {
            p.rotate_alias().await.map_err(providers::kms_failure)?;
            Ok(env
                .provider
                .current_kek()
                .await
                .map_err(providers::kms_failure)?)
        }
        #[cfg(feature = "vault")]
        KekAdmin::Vault(p) => {
            p.rotate_key().await.map_err(providers::kms_failure)?;
            Ok(env
                .provider
                .current_kek()
                .await
                .map_err(providers::kms_failure)?)
        }
        #[cfg(feature = "pkcs11")]
        KekAdmin::Pkcs11(p) => {
            let label = new_label.ok_or_else(|| {
                Failure::usage(
                    "a token key is named by its label: pass --new-label LABEL (a key of that \
                     label is generated on the token), then set pkcs11.key_label to it and run \
                     `tenantguard kek rewrap`",
                )
            })?;
            Ok(p.generate_kek(label)
                .await
                .map_err(providers::kms_failure)?)
        }
        KekAdmin::Elsewhere(why) => Err(Failure::usage(format!(
            "kek rotate with key_provider = \"{}\": {why}",
            env.cfg.key_provider
        ))),
    }
}

/// Where a KEK's age counts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AgeFrom {
    /// The creation time the local key file records.
    KeyFile,
    /// When this command line first saw the KEK (a cloud or HSM key, or a KEK of a key
    /// file written before creation times were recorded).
    FirstSeen,
}

impl AgeFrom {
    fn as_str(self) -> &'static str {
        match self {
            AgeFrom::KeyFile => "key_file",
            AgeFrom::FirstSeen => "first_seen",
        }
    }
}

/// The creation times the local key file records, by KEK id (empty for other providers).
fn kek_created(env: &Env) -> Result<BTreeMap<String, Option<i64>>, Failure> {
    Ok(match &env.local {
        Some(l) => l
            .kek_created_at()
            .map_err(tenantguard::Error::from)?
            .into_iter()
            .collect(),
        None => BTreeMap::new(),
    })
}

/// The current KEK, its age in days and where that age counts from: the key file's
/// creation time when it records one, else when this command line first saw the KEK
/// (recorded at `init`, `kek rotate`, and at first sight).
async fn kek_age(env: &Env) -> Result<(String, i64, AgeFrom), Failure> {
    let kek = env
        .provider
        .current_kek()
        .await
        .map_err(tenantguard::Error::from)?;
    let t = now();
    let mut seen = t;
    State::update(&env.state_dir, |s| {
        seen = *s.kek_first_seen.entry(kek.clone()).or_insert(t);
    })?;
    let (since, from) = match kek_created(env)?.get(&kek).copied().flatten() {
        Some(created) => (created, AgeFrom::KeyFile),
        None => (seen, AgeFrom::FirstSeen),
    };
    Ok((kek, (t - since).max(0) / DAY, from))
}

async fn kek(env: &Env, c: KekCmd) -> Result<Reply, Failure> {
    match c {
        KekCmd::List => {
            let (current, age, from) = kek_age(env).await?;
            let state = State::load(&env.state_dir)?;
            let created = kek_created(env)?;
            let ids = env
                .local
                .as_ref()
                .map(|l| l.kek_ids())
                .unwrap_or_else(|| vec![current.clone()]);
            let rows: Vec<Value> = ids
                .iter()
                .map(|id| {
                    json!({"kek": id, "current": *id == current,
                    "created_at": created.get(id).copied().flatten(),
                    "first_seen": state.kek_first_seen.get(id)})
                })
                .collect();
            let mut text = String::new();
            for id in &ids {
                text += &format!(
                    "{id}{}\n",
                    if *id == current {
                        format!(
                            "  (current, {age} days{})",
                            if from == AgeFrom::FirstSeen {
                                " since first seen: creation time unknown"
                            } else {
                                ""
                            }
                        )
                    } else {
                        String::new()
                    }
                );
            }
            Ok(Reply::ok(
                json!({"keks": rows, "current": current, "current_age_days": age,
                       "age_from": from.as_str()}),
                text,
            ))
        }
        KekCmd::Rotate { due, new_label } => {
            let (old, age, from) = kek_age(env).await?;
            let max = days_limit(env.cfg.max_kek_age_days);
            if due && (max == 0 || age < max) {
                return Ok(Reply::ok(
                    json!({"rotated": false, "kek": old, "age_days": age, "age_from": from.as_str()}),
                    format!(
                        "KEK {old} is {age} days old{}: not due",
                        if from == AgeFrom::FirstSeen {
                            " (since first seen)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            let new = new_kek(env, new_label.as_deref()).await?;
            let t = now();
            State::update(&env.state_dir, |s| {
                s.kek_first_seen.insert(new.clone(), t);
            })?;
            let next = if new_label.is_some() {
                "next: set pkcs11.key_label (TENANTGUARD_PKCS11_KEY_LABEL) to the new label, then tenantguard kek rewrap"
            } else {
                "next: tenantguard kek rewrap"
            };
            Ok(Reply::ok(
                json!({"rotated": true, "previous": old, "kek": new}),
                format!("KEK {new} is current (was {old}); {next}"),
            ))
        }
        KekCmd::Rewrap { batch } => rewrap(env, batch).await,
    }
}

const REWRAP: &str = "kek-rewrap";

async fn rewrap(env: &Env, batch: Option<usize>) -> Result<Reply, Failure> {
    let batch = env.batch(batch)?.min(PAGE);
    // A checkpoint holds for the KEK it was written under: after another `kek rotate`, the
    // tenants before it are under the previous KEK, so a run for the new one starts over
    // (the re-wrap is idempotent) instead of skipping them and reporting the job complete.
    let kek = env
        .provider
        .current_kek()
        .await
        .map_err(tenantguard::Error::from)?;
    let ck = format!("{REWRAP}:{kek}");
    let mut start = None;
    State::update(&env.state_dir, |s| {
        s.checkpoints
            .retain(|k, _| k == &ck || !k.starts_with(REWRAP));
        start = s.checkpoints.get(&ck).cloned();
    })?;
    let start = start.as_deref().map(tenant_id).transpose()?;
    let total = env.tenants_after(start.as_ref()).await?.len() as u64;
    let mut bar = env.progress("kek rewrap (tenants)", total);
    let dir = env.state_dir.clone();
    let mut save_err = None;
    let job = env
        .guard
        .keys()
        .rewrap(&env.service, start.clone(), batch, |r| {
            bar.set(r.tenants);
            if let Some(t) = &r.last_tenant {
                if let Err(e) = State::update(&dir, |s| {
                    s.checkpoints.insert(ck.clone(), t.as_str().to_owned());
                }) {
                    save_err = Some(e);
                }
            }
        });
    // The library's KEK job cannot be asked to stop; each key's re-wrap is one atomic
    // compare-and-swap, so dropping the job between two of them is safe, and the
    // checkpoint written after each page of tenants tells the next run where to go on.
    let r = tokio::select! {
        r = job => Some(r?),
        _ = env.stop().wait() => None,
    };
    bar.finish();
    drop(bar);
    if let Some(e) = save_err {
        return Err(e);
    }
    let Some(r) = r else {
        let at = State::load(&env.state_dir)?.checkpoints.get(&ck).cloned();
        return Ok(Reply::ok(
            json!({"interrupted": true, "checkpoint": at}),
            "interrupted: run `tenantguard kek rewrap` again to resume",
        )
        .with_code(exit::INTERRUPTED));
    };
    State::update(&env.state_dir, |s| {
        s.checkpoints.retain(|k, _| !k.starts_with(REWRAP));
    })?;
    Ok(Reply::ok(
        json!({"tenants": r.tenants, "rewrapped": r.rewrapped, "current": r.current,
               "service_keys_rewrapped": r.service_keys_rewrapped,
               "service_keys_current": r.service_keys_current,
               "resumed_after": start.as_ref().map(TenantId::as_str)}),
        format!(
            "re-wrapped {} data keys of {} tenants ({} already current) and {} service keys ({} already current)",
            r.rewrapped, r.tenants, r.current, r.service_keys_rewrapped, r.service_keys_current
        ),
    ))
}

/// The checkpoint of `reencrypt` of `t` (from `from`) towards the active key `to`, and the
/// prefix shared by that job's checkpoints towards every key (a tenant id has no `@`).
fn reencrypt_key(from: Option<u32>, t: &TenantId, to: KeyId) -> (String, String) {
    let job = format!(
        "reencrypt:{}:{t}",
        from.map(|f| f.to_string()).unwrap_or_else(|| "all".into())
    );
    (format!("{job}@{to}"), job)
}

async fn reencrypt(
    env: &Env,
    tenant: Option<&str>,
    from: Option<u32>,
    batch: Option<usize>,
) -> Result<Reply, Failure> {
    let batch = env.batch(batch)?;
    let from_id = match from {
        Some(f) => Some(KeyId::new(f).map_err(|_| Failure::usage("key versions start at 1"))?),
        None => None,
    };
    let tenants = match tenant {
        Some(t) => vec![tenant_id(t)?],
        None => env.tenants_after(None).await?,
    };
    let mut totals = (0u64, 0u64, 0u64);
    let mut rows = Vec::new();
    let mut failed_any = false;
    for t in &tenants {
        let ctx = env.ctx(t);
        let keys = env.guard.keys().versions(&ctx).await?;
        let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) else {
            continue; // shredded: nothing can be moved
        };
        let census = env.guard.keys().census(&ctx).await?;
        let current = census
            .by_key
            .get(&(active.key_id, env.guard.seal_format().version()))
            .copied()
            .unwrap_or(0);
        let todo = match from_id {
            Some(f) if f == active.key_id => census.count(f) - current,
            Some(f) => census.count(f),
            None => census.records - current - census.unreadable,
        };
        // A checkpoint holds for the key it was moving records to: after another `key
        // rotate` the records before it are under the previous key, so the run starts
        // over (it is idempotent) instead of skipping them.
        let (ck, job) = reencrypt_key(from, t, active.key_id);
        let stale = |k: &String| *k == job || (k.starts_with(&format!("{job}@")) && *k != ck);
        let state = State::load(&env.state_dir)?;
        let start = state.checkpoints.get(&ck).cloned();
        if state.checkpoints.keys().any(stale) {
            State::update(&env.state_dir, |s| s.checkpoints.retain(|k, _| !stale(k)))?;
        }
        if todo == 0 && start.is_none() {
            rows.push(
                json!({"tenant": t.as_str(), "moved": 0, "raced": 0, "failed": [], "remaining": 0}),
            );
            continue;
        }
        let mut bar = env.progress(&format!("reencrypt {t}"), todo);
        let dir = env.state_dir.clone();
        let stop = env.stop().clone();
        let mut save_err = None;
        let (r, stopped) = env
            .guard
            .keys()
            .reencrypt_resumable(&ctx, from_id, start.as_deref(), batch, |r, last| {
                bar.set(r.moved + r.raced + r.failed.len() as u64);
                if let Err(e) = State::update(&dir, |s| {
                    s.checkpoints.insert(ck.clone(), last.to_owned());
                }) {
                    save_err = Some(e);
                    return ControlFlow::Break(());
                }
                if stop.requested() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await?;
        bar.finish();
        drop(bar);
        if let Some(e) = save_err {
            return Err(e);
        }
        totals.0 += r.moved;
        totals.1 += r.raced;
        totals.2 += r.remaining;
        failed_any |= !r.failed.is_empty();
        rows.push(
            json!({"tenant": t.as_str(), "moved": r.moved, "raced": r.raced,
            "failed": r.failed, "remaining": r.remaining, "resumed_after": start}),
        );
        if let Some(at) = stopped {
            return Ok(Reply::ok(
                json!({"interrupted": true, "tenant": t.as_str(), "checkpoint": at, "tenants": rows,
                       "moved": totals.0}),
                format!("interrupted in {t} after record {at:?} ({} moved): run the same command again to resume", totals.0),
            )
            .with_code(exit::INTERRUPTED));
        }
        State::update(&env.state_dir, |s| {
            s.checkpoints.remove(&ck);
        })?;
    }
    let text = format!(
        "moved {} records ({} replaced meanwhile by writers), {} remaining{}",
        totals.0,
        totals.1,
        totals.2,
        if failed_any {
            "; some records failed to open: see --json"
        } else {
            ""
        }
    );
    Ok(Reply::ok(
        json!({"tenants": rows, "moved": totals.0, "raced": totals.1, "remaining": totals.2}),
        text,
    )
    .with_code(if failed_any {
        exit::INTEGRITY
    } else {
        exit::OK
    }))
}

const SWEEP_ALL: &str = "sweep-all";

async fn sweep(env: &Env, tenant: Option<&str>, dry_run: bool) -> Result<Reply, Failure> {
    let batch = env.batch(None)?;
    let all = tenant.is_none();
    let start = if all && !dry_run {
        match State::load(&env.state_dir)?.checkpoints.get(SWEEP_ALL) {
            Some(t) => Some(tenant_id(t)?),
            None => None,
        }
    } else {
        None
    };
    let tenants = match tenant {
        Some(t) => vec![tenant_id(t)?],
        None => env.tenants_after(start.as_ref()).await?,
    };
    let mut bar = env.progress("sweep (tenants)", tenants.len() as u64);
    let mut rows = Vec::new();
    let mut total = 0u64;
    let mut text = String::new();
    for (i, t) in tenants.iter().enumerate() {
        if env.stop().requested() {
            bar.finish();
            return Ok(Reply::ok(
                json!({"interrupted": true, "tenants": rows, "deleted": total}),
                "interrupted: run the same command again to resume",
            )
            .with_code(exit::INTERRUPTED));
        }
        let ctx = env.ctx(t);
        if env
            .guard
            .keys()
            .versions(&ctx)
            .await?
            .iter()
            .all(|k| k.state == KeyState::Destroyed)
        {
            continue; // shredded: nothing readable is left to sweep
        }
        let by_class: BTreeMap<String, u64> = if dry_run {
            env.guard.retention().preview(&ctx).await?
        } else {
            env.guard
                .retention()
                .sweep(&ctx, batch, |_| {})
                .await?
                .deleted
        };
        let n: u64 = by_class.values().sum();
        total += n;
        if n > 0 || !all {
            text += &format!(
                "{t}: {} {n}{}\n",
                if dry_run { "would delete" } else { "deleted" },
                by_class
                    .iter()
                    .map(|(c, k)| format!(" {c}={k}"))
                    .collect::<String>()
            );
        }
        rows.push(json!({"tenant": t.as_str(), "deleted": by_class, "total": n}));
        if all && !dry_run {
            State::update(&env.state_dir, |s| {
                s.checkpoints
                    .insert(SWEEP_ALL.into(), t.as_str().to_owned());
            })?;
        }
        bar.set(i as u64 + 1);
    }
    bar.finish();
    if all && !dry_run {
        State::update(&env.state_dir, |s| {
            s.checkpoints.remove(SWEEP_ALL);
        })?;
    }
    text += &format!(
        "{} {total} records",
        if dry_run { "would delete" } else { "deleted" }
    );
    Ok(Reply::ok(
        json!({"dry_run": dry_run, "tenants": rows, "deleted": total}),
        text,
    ))
}

async fn erase_subject(env: &Env, tenant: &str, subject: &str) -> Result<Reply, Failure> {
    let t = known_tenant(env, tenant).await?;
    let r = env
        .guard
        .retention()
        .erase_subject(&env.ctx(&t), subject, env.batch(None)?)
        .await?;
    Ok(Reply::ok(
        json!({"tenant": t.as_str(), "deleted": r.deleted, "audit_erased": r.audit_erased,
               "subject_digest": r.subject_digest,
               "receipt_secret": r.receipt_secret.to_hex(),
               "receipt": {"seq": r.receipt.seq, "hash": r.receipt.hash, "time": r.receipt.time}}),
        format!(
            "erased {} records of the subject in {t} and its personal data from {} audit entries; audit receipt seq {} hash {}\nreceipt secret (give it to the requester; shown only once): {}",
            r.deleted, r.audit_erased, r.receipt.seq, r.receipt.hash, r.receipt_secret.to_hex()
        ),
    ))
}

const EXPORT_ALL: &str = "audit-export-all";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn checkpoint_json(c: &tenantguard::audit::Checkpoint) -> Value {
    json!({"origin": c.origin, "size": c.size, "root": hex(&c.root), "time": c.time})
}

/// What an export wrote.
struct Exported {
    entries: u64,
    json: Value,
    text: String,
}

/// Exports `t`'s log to `out` (a bundle, or JSON Lines with `jsonl`), or stdout.
async fn export_to(
    env: &Env,
    t: &TenantId,
    out: impl std::io::Write + Send,
    jsonl: bool,
) -> Result<Exported, Failure> {
    let ctx = env.ctx(t);
    if jsonl {
        let r = env.guard.audit().export(&ctx, out).await?;
        return Ok(Exported {
            entries: r.entries,
            json: json!({"format": "jsonl", "entries": r.entries, "last_seq": r.last_seq, "head": r.head}),
            text: format!(
                "{} entries of {t}; head seq {} hash {}",
                r.entries, r.last_seq, r.head
            ),
        });
    }
    let cp = env.guard.audit().export_bundle(&ctx, out).await?;
    let c = &cp.checkpoint;
    Ok(Exported {
        entries: c.size,
        json: json!({"format": "bundle", "entries": c.size, "checkpoint": checkpoint_json(c)}),
        text: format!(
            "{} entries of {t}; signed checkpoint size {} root {}",
            c.size,
            c.size,
            hex(&c.root)
        ),
    })
}

/// The directory entry `p` names (its directory resolved, the name kept: a rename
/// replaces the entry, whatever it points to), if that directory exists.
fn dir_entry(p: &Path) -> Option<PathBuf> {
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
    Some(dir.join(p.file_name()?))
}

/// Refuses an export path that is one of the deployment's own files: renamed over the key
/// file (`--out data/keys.json`, one tab completion away), an export would destroy every
/// KEK and so every value, backups included.
fn refuse_own_file(env: &Env, out: &Path) -> Result<(), Failure> {
    let Some(target) = dir_entry(out) else {
        return Ok(()); // its directory does not exist: creating the file fails anyway
    };
    let with = |p: &Path, suffix: &str| {
        let mut s = p.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let mut own: Vec<(PathBuf, &str)> = vec![(State::path(&env.state_dir), "the job state file")];
    if env.cfg.key_provider == "local" {
        own.push((env.cfg.key_file.clone(), "the key file"));
        own.push((with(&env.cfg.key_file, ".lock"), "the key file's lock"));
    }
    if env.cfg.store == "sqlite" {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            own.push((with(&env.cfg.sqlite_path, suffix), "the database"));
        }
    }
    for p in [&env.cfg.checkpoint_file, &env.cfg.registry_file]
        .into_iter()
        .flatten()
    {
        own.push((p.clone(), "a file the configuration names"));
    }
    for (p, what) in own {
        if dir_entry(&p).is_some_and(|e| e == target) {
            return Err(Failure::usage(format!(
                "{} is {what} of this deployment: export to another path",
                out.display()
            )));
        }
    }
    Ok(())
}

async fn export_one(env: &Env, t: &TenantId, out: &Path, jsonl: bool) -> Result<Exported, Failure> {
    refuse_own_file(env, out)?;
    // Written beside the target and renamed once whole: an interrupted export never
    // leaves a file that looks complete.
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    // Whatever is at the temporary name (an interrupted export, or a symlink or file planted
    // by someone who can write the directory) is removed, never written through: the file
    // is created afresh and exclusively (O_EXCL does not follow a symlink), so the log
    // cannot land in another file or in a file someone else owns and can read.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Failure::io(
                &format!("cannot remove {} left at the export's temporary name (remove it, or export elsewhere)", tmp.display()),
                e,
            ))
        }
    }
    // Owner-only: an audit log names users, agents and what they did.
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let f = opts
        .open(&tmp)
        .map_err(|e| Failure::io(&format!("cannot create {}", tmp.display()), e))?;
    match export_to(env, t, std::io::BufWriter::new(f), jsonl).await {
        Ok(r) => {
            if let Err(e) = std::fs::rename(&tmp, out) {
                let _ = std::fs::remove_file(&tmp);
                return Err(Failure::io("cannot finish the export", e));
            }
            Ok(r)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The verifier keys named by `--public-key`: each a key, or a file of keys one a line.
fn public_keys(args: &[String]) -> Result<Vec<tenantguard::audit::AuditPublicKey>, Failure> {
    let mut out = Vec::new();
    for a in args {
        let path = Path::new(a);
        let text = if path.is_file() {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::io(&format!("cannot read {}", path.display()), e))?
        } else {
            a.clone()
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push(
                tenantguard::audit::AuditPublicKey::parse(line).map_err(|e| {
                    Failure::usage(format!(
                        "--public-key {a:?}: not a checkpoint verifier key (`tenantguard audit public-key` prints one): {e}"
                    ))
                })?,
            );
        }
    }
    if out.is_empty() {
        return Err(Failure::usage("--public-key names no key"));
    }
    Ok(out)
}

/// An earlier checkpoint: a note file, or the checkpoint of an earlier bundle.
fn read_checkpoint(path: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::io(&format!("cannot read {}", path.display()), e))?;
    let header = format!("{}\n", tenantguard::audit::EXPORT_HEADER);
    if !bytes.starts_with(header.as_bytes()) {
        return Ok(bytes);
    }
    let mark = format!("\n{}\n", tenantguard::audit::CHECKPOINT_MARK);
    bytes
        .windows(mark.len())
        .position(|w| w == mark.as_bytes())
        .map(|i| bytes[i + mark.len()..].to_vec())
        .ok_or_else(|| {
            Failure::integrity(format!(
                "{}: a bundle without its checkpoint",
                path.display()
            ))
        })
}

/// The verdict of [`tenantguard::audit::export::verify_export`] as the command's reply: exit 0,
/// or 3 with the typed reason.
fn verdict_reply(
    what: &str,
    tenant: Option<&str>,
    verdict: tenantguard::audit::export::ExportVerdict,
    earlier: Option<&[u8]>,
) -> Reply {
    use tenantguard::audit::export::ExportVerdict;
    match verdict {
        ExportVerdict::Valid(sum) => {
            if let (Some(want), Some(got)) = (tenant, sum.tenant.as_deref()) {
                if want != got {
                    return Reply::ok(
                        json!({"ok": false, "reason": "tenant_mismatch", "line": null,
                               "detail": format!("the bundle is of tenant {got}, not {want}")}),
                        format!("TAMPERED (tenant_mismatch): {what} is of tenant {got}, not {want}"),
                    )
                    .with_code(exit::INTEGRITY);
                }
            }
            let c = &sum.checkpoint;
            Reply::ok(
                json!({"ok": true, "tenant": sum.tenant, "entries": sum.entries,
                       "legacy_entries": sum.legacy_entries, "checkpoint": checkpoint_json(c),
                       "extends_earlier_checkpoint": earlier.map(|_| true)}),
                format!(
                    "{what} verified: {} entries of {}, signed checkpoint size {} root {}{}",
                    sum.entries,
                    sum.tenant.as_deref().unwrap_or("(empty log)"),
                    c.size,
                    hex(&c.root),
                    if earlier.is_some() {
                        "; it extends the earlier checkpoint"
                    } else {
                        ""
                    }
                ),
            )
        }
        ExportVerdict::Restored { summary, restore } => Reply::ok(
            json!({"ok": false, "outcome": "restored", "reason": "restored", "line": null,
                   "tenant": summary.tenant, "entries": summary.entries,
                   "checkpoint": checkpoint_json(&summary.checkpoint),
                   "restore": {"seq": restore.restore_seq, "time": restore.restore_time,
                               "restored_size": restore.restored_size,
                               "superseded_size": restore.superseded_size,
                               "superseded_root": hex(&restore.superseded_root),
                               "earlier_size": restore.earlier.size}}),
            format!(
                "RESTORED: {what} verifies, but the earlier checkpoint (size {}) is of history lost in a database restore recorded at entry {}: entries {}..={} were lost",
                restore.earlier.size,
                restore.restore_seq,
                restore.restored_size + 1,
                restore.superseded_size
            ),
        )
        .with_code(exit::CHECK_FAILED),
        ExportVerdict::Tampered { reason, line } => Reply::ok(
            json!({"ok": false, "reason": reason.kind(), "line": line, "detail": format!("{reason:?}")}),
            format!(
                "TAMPERED ({}): {what}{}: {reason:?}",
                reason.kind(),
                line.map(|l| format!(", entry line {l}")).unwrap_or_default()
            ),
        )
        .with_code(exit::INTEGRITY),
    }
}

fn verify_bundle_file(
    tenant: Option<&str>,
    bundle: &Path,
    keys: &[String],
    checkpoint: Option<&Path>,
) -> Result<Reply, Failure> {
    let keys = public_keys(keys)?;
    let bytes = std::fs::read(bundle)
        .map_err(|e| Failure::io(&format!("cannot read {}", bundle.display()), e))?;
    let earlier = checkpoint.map(read_checkpoint).transpose()?;
    let verdict = tenantguard::audit::export::verify_export(&bytes, &keys, earlier.as_deref());
    Ok(verdict_reply(
        &format!("bundle {}", bundle.display()),
        tenant,
        verdict,
        earlier.as_deref(),
    ))
}

/// The stored log: its chain, then (if it holds entries) a bundle of it signed now,
/// verified offline against the latest checkpoint of the sink (or `--checkpoint`).
async fn verify_stored(
    env: &Env,
    t: &TenantId,
    checkpoint: Option<&Path>,
    expect_head: Option<&str>,
) -> Result<Reply, Failure> {
    let ctx = env.ctx(t);
    let r = env
        .guard
        .audit()
        .verify(&ctx)
        .await?
        .into_result()
        .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
    if let Some(h) = expect_head {
        if !h.eq_ignore_ascii_case(&r.head) {
            let mut f = Failure::integrity(format!(
                "the chain is intact but ends at {} (seq {}), not at the expected head {h}: entries were removed or rewritten since",
                r.head, r.last_seq
            ));
            f.reason = Some("head_mismatch".into());
            return Err(f);
        }
    }
    let mut out = json!({"tenant": t.as_str(), "ok": true, "entries": r.entries, "last_seq": r.last_seq,
                         "head": r.head, "expected_head_matches": expect_head.map(|_| true)});
    let mut text = format!(
        "audit log of {t} verified: {} entries, head seq {} hash {}",
        r.entries, r.last_seq, r.head
    );
    let earlier = match (checkpoint, &env.cfg.checkpoint_file) {
        (Some(p), _) => Some(read_checkpoint(p)?),
        (None, Some(f)) => {
            use tenantguard::audit::CheckpointSink;
            let sink = tenantguard::audit::FileCheckpointSink::open(f)
                .map_err(|e| Failure::new(exit::FAILURE, "io", format!("checkpoint_file: {e}")))?;
            sink.latest(t)
                .await
                .map_err(|e| Failure::new(exit::FAILURE, "io", format!("checkpoint_file: {e}")))?
                .map(|p| p.note.into_bytes())
        }
        (None, None) => None,
    };
    if r.entries == 0 {
        if earlier.is_some() {
            let mut f = Failure::integrity(format!(
                "the stored log of {t} is empty but a checkpoint of it was signed: it was emptied"
            ));
            f.reason = Some("truncated".into());
            return Err(f);
        }
        return Ok(Reply::ok(out, text));
    }
    // Signing now checks the rebuilt tree against the sinks' latest checkpoint first
    // (a shorter or forked log fails here, with its reason).
    let mut bundle = Vec::new();
    env.guard.audit().export_bundle(&ctx, &mut bundle).await?;
    let keys = env.guard.audit().public_keys().await?;
    let verdict = tenantguard::audit::export::verify_export(&bundle, &keys, earlier.as_deref());
    let v = verdict_reply(
        &format!("audit log of {t}"),
        Some(t.as_str()),
        verdict,
        earlier.as_deref(),
    );
    if v.code != exit::OK {
        return Ok(v);
    }
    out["checkpoint"] = v.json["checkpoint"].clone();
    out["checked_against"] = match (checkpoint, &env.cfg.checkpoint_file, &earlier) {
        (Some(p), _, _) => json!(p.display().to_string()),
        (None, Some(f), Some(_)) => json!(f.display().to_string()),
        _ => Value::Null,
    };
    text += &format!(
        "; signed checkpoint size {}{}",
        v.json["checkpoint"]["size"],
        match (&earlier, checkpoint, &env.cfg.checkpoint_file) {
            (None, _, None) =>
                " (no checkpoint_file configured: nothing earlier to compare with)".to_owned(),
            (None, _, Some(_)) => " (the checkpoint file held none for this tenant yet)".to_owned(),
            (Some(_), _, _) => ", extending the earlier checkpoint".to_owned(),
        }
    );
    Ok(Reply::ok(out, text))
}

async fn audit(env: &Env, c: AuditCmd, json_out: bool) -> Result<Reply, Failure> {
    match c {
        AuditCmd::Reconcile {
            tenant,
            lost_export,
            reason,
        } => {
            let t = tenant_id(&tenant)?;
            let bytes = lost_export
                .as_ref()
                .map(|p| {
                    std::fs::read(p)
                        .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), e))
                })
                .transpose()?;
            let r = env
                .guard
                .audit()
                .reconcile_restore(&env.ctx(&t), bytes.as_deref(), &reason)
                .await?;
            let manual: Vec<Value> = r
                .reapplied
                .iter()
                .flat_map(|x| &x.manual)
                .map(|m| json!({"seq": m.seq, "action": m.action, "target": m.target}))
                .collect();
            let j = json!({
                "tenant": t.as_str(),
                "restored_size": r.restored_size,
                "superseded": checkpoint_json(&r.superseded),
                "restore_seq": r.restore_seq,
                "recorded_now": r.recorded_now,
                "revocations": r.reapplied.as_ref().map(|x| json!({
                    "window_entries": x.window_entries, "export_size": x.export_size,
                    "reapplied": x.reapplied, "already_in_effect": x.already_in_effect,
                    "manual": manual})),
                "checkpoint": checkpoint_json(&r.checkpoint.checkpoint),
            });
            let mut text = format!(
                "restore of {t} recorded at entry {}{}: the log keeps entries 1..={}, entries {}..={} of the superseded checkpoint (root {}) are lost\n",
                r.restore_seq,
                if r.recorded_now { "" } else { " (by an earlier, interrupted run)" },
                r.restored_size,
                r.restored_size + 1,
                r.superseded.size,
                hex(&r.superseded.root)
            );
            match &r.reapplied {
                Some(x) => {
                    text += &format!(
                        "revocations of the lost window (export of {} entries): {} re-applied, {} already in effect\n",
                        x.export_size, x.reapplied, x.already_in_effect
                    );
                    if x.export_size < r.superseded.size {
                        text += &format!(
                            "WARNING: the export ends at {}, before the superseded checkpoint ({}): revocations in entries {}..={} are not known\n",
                            x.export_size,
                            r.superseded.size,
                            x.export_size + 1,
                            r.superseded.size
                        );
                    }
                    for m in &x.manual {
                        text += &format!(
                            "redo by hand: entry {} {} {}\n",
                            m.seq, m.action, m.target
                        );
                    }
                }
                None => {
                    text += "revocations NOT re-applied (no --lost-export): revoke again by hand what the lost window revoked\n"
                }
            }
            text += &format!(
                "new checkpoint published: size {} root {}",
                r.checkpoint.checkpoint.size,
                hex(&r.checkpoint.checkpoint.root)
            );
            Ok(Reply::ok(j, text))
        }
        AuditCmd::PublicKey { all } => {
            let keys = if all {
                env.guard.audit().public_keys().await?
            } else {
                vec![env.guard.audit().public_key().await?]
            };
            let vkeys: Vec<String> = keys.iter().map(|k| k.to_vkey()).collect();
            Ok(Reply::ok(json!({"public_keys": vkeys}), vkeys.join("\n")))
        }
        AuditCmd::Export {
            tenant: Some(tenant),
            out,
            jsonl,
            ..
        } => {
            let t = known_tenant(env, &tenant).await?;
            let r = match &out {
                Some(path) => export_one(env, &t, path, jsonl).await?,
                None if json_out => {
                    return Err(Failure::usage(
                        "--json with an export to stdout: pass --out FILE",
                    ))
                }
                None => {
                    export_to(env, &t, std::io::BufWriter::new(std::io::stdout()), jsonl).await?
                }
            };
            let mut j = r.json;
            j["tenant"] = json!(t.as_str());
            j["file"] = json!(out.as_ref().map(|p| p.display().to_string()));
            let text = if out.is_some() {
                format!("exported {}", r.text)
            } else {
                // Only a note: the export itself is on stdout (and a stderr that cannot
                // be written, e.g. a full disk, must not turn it into a panic).
                let _ = writeln!(std::io::stderr(), "exported {}", r.text);
                String::new()
            };
            Ok(Reply::ok(j, text))
        }
        AuditCmd::Export { out_dir, jsonl, .. } => {
            let dir = out_dir.ok_or_else(|| Failure::usage("--all needs --out-dir"))?;
            // Created owner-only like the data directory (an existing one is left as is).
            private_dir(&dir)?;
            let ext = if jsonl { "jsonl" } else { "bundle" };
            // A checkpoint holds for the directory and format it was written for: a run
            // into another directory (a dated one, say) starts over instead of leaving out
            // the tenants exported before the interruption, elsewhere.
            let ck = format!("{EXPORT_ALL}:{ext}:{}", dir.display());
            let state = State::load(&env.state_dir)?;
            let start = state
                .checkpoints
                .get(&ck)
                .map(|t| tenant_id(t))
                .transpose()?;
            let stale = |k: &String| k.starts_with(EXPORT_ALL) && *k != ck;
            if state.checkpoints.keys().any(stale) {
                State::update(&env.state_dir, |s| s.checkpoints.retain(|k, _| !stale(k)))?;
            }
            let tenants = env.tenants_after(start.as_ref()).await?;
            let mut bar = env.progress("audit export (tenants)", tenants.len() as u64);
            let mut rows = Vec::new();
            for (i, t) in tenants.iter().enumerate() {
                if env.stop().requested() {
                    bar.finish();
                    return Ok(Reply::ok(
                        json!({"interrupted": true, "exported": rows}),
                        "interrupted: run the same command again to resume",
                    )
                    .with_code(exit::INTERRUPTED));
                }
                let ctx = env.ctx(t);
                // A bundle needs a non-empty log (a checkpoint of nothing proves nothing).
                if !jsonl && env.guard.audit().entries(&ctx, 0, 1).await?.is_empty() {
                    rows.push(json!({"tenant": t.as_str(), "entries": 0, "file": null}));
                } else {
                    let r = export_one(env, t, &dir.join(format!("{t}.{ext}")), jsonl).await?;
                    let mut j = r.json;
                    j["tenant"] = json!(t.as_str());
                    debug_assert!(r.entries > 0 || jsonl);
                    rows.push(j);
                }
                State::update(&env.state_dir, |s| {
                    s.checkpoints.insert(ck.clone(), t.as_str().to_owned());
                })?;
                bar.set(i as u64 + 1);
            }
            bar.finish();
            State::update(&env.state_dir, |s| {
                s.checkpoints.remove(&ck);
            })?;
            Ok(Reply::ok(
                json!({"exported": rows, "dir": dir.display().to_string(), "resumed_after": start.as_ref().map(TenantId::as_str)}),
                format!("exported {} tenants to {}", rows.len(), dir.display()),
            ))
        }
        AuditCmd::Verify {
            tenant,
            file,
            expect_head,
            checkpoint,
            ..
        } => {
            let tenant = tenant.as_deref().unwrap_or_default();
            let Some(path) = &file else {
                let t = known_tenant(env, tenant).await?;
                return verify_stored(env, &t, checkpoint.as_deref(), expect_head.as_deref()).await;
            };
            let t = tenant_id(tenant)?;
            // A JSON Lines export (`audit export --jsonl`): the chain, and the head if given.
            let f =
                std::fs::File::open(path).map_err(|e| Failure::io("cannot open the export", e))?;
            let r = tenantguard::audit::verify_jsonl(
                std::io::BufReader::new(f),
                &tenantguard::audit::VerifyOptions::default(),
            )
            .and_then(|v| v.into_result())
            .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
            if r.tenant.as_deref().is_some_and(|x| x != t.as_str()) {
                let mut f = Failure::integrity(format!(
                    "the export is of tenant {:?}, not {t}",
                    r.tenant.unwrap_or_default()
                ));
                f.reason = Some("tenant_mismatch".into());
                return Err(f);
            }
            if let Some(h) = &expect_head {
                if !h.eq_ignore_ascii_case(&r.head) {
                    let mut f = Failure::integrity(format!(
                        "the chain is intact but ends at {} (seq {}), not at the expected head {h}: entries were removed or rewritten since",
                        r.head, r.last_seq
                    ));
                    f.reason = Some("head_mismatch".into());
                    return Err(f);
                }
            }
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "ok": true, "entries": r.entries, "last_seq": r.last_seq, "head": r.head,
                       "expected_head_matches": expect_head.as_ref().map(|_| true)}),
                format!(
                    "export of {t} verified: {} entries, head seq {} hash {}",
                    r.entries, r.last_seq, r.head
                ),
            ))
        }
    }
}

fn registry(env: &Env) -> Result<Registry, Failure> {
    let mut reg = Registry::new();
    if let Some(path) = &env.cfg.registry_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::io("cannot read registry_file", e))?;
        let list: Vec<SubProcessor> = serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        for p in list {
            reg.register(p)
                .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
        }
    }
    Ok(reg)
}

fn window_json(w: RetentionWindow) -> Value {
    match w {
        RetentionWindow::Forever => json!("forever"),
        RetentionWindow::Secs(s) => json!(s),
    }
}

fn window_text(w: RetentionWindow) -> String {
    match w {
        RetentionWindow::Forever => "forever".into(),
        RetentionWindow::Secs(s) if s % DAY == 0 => format!("{}d", s / DAY),
        RetentionWindow::Secs(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        RetentionWindow::Secs(s) => format!("{s}s"),
    }
}

/// `CLASS=WINDOW`; `None` window: back to the default.
fn parse_retention(spec: &str) -> Result<(String, Option<RetentionWindow>), Failure> {
    let (class, w) = spec
        .split_once('=')
        .ok_or_else(|| Failure::usage(format!("--retention {spec:?}: expected CLASS=WINDOW")))?;
    let bad = || {
        Failure::usage(format!(
            "--retention {spec:?}: a window is a positive number with a unit (30d, 12h, 90m, 3600s), forever or default"
        ))
    };
    let w = w.trim();
    let window = match w {
        "default" => None,
        "forever" => Some(RetentionWindow::Forever),
        _ => {
            // The unit is the last character, which need not be one byte (`30é`).
            let unit = w.chars().last().ok_or_else(bad)?;
            let mul = match unit {
                'd' => DAY,
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad()),
            };
            let n: i64 = w[..w.len() - 1].parse().map_err(|_| bad())?;
            // What `policy set` would refuse, `policy diff` must not show as a change.
            if n <= 0 {
                return Err(bad());
            }
            let secs = n.checked_mul(mul).ok_or_else(bad)?;
            if secs > tenantguard::retention::MAX_WINDOW_SECS {
                return Err(bad());
            }
            Some(RetentionWindow::Secs(secs))
        }
    };
    // Checked here, before `policy set` changes anything: the library refusing the second
    // of two classes would leave the first one changed by a command that failed.
    let class = class.trim();
    tenantguard::store::validate_label("data class", class)
        .map_err(|e| Failure::usage(format!("--retention: {e}")))?;
    Ok((class.to_owned(), window))
}

fn default_window(class: &str) -> RetentionWindow {
    tenantguard::retention::RetentionPolicy::defaults().window(class)
}

fn read_egress(path: &Path) -> Result<EgressPolicy, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::io("cannot read --egress-file", e))?;
    serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

async fn policy(env: &Env, c: PolicyCmd) -> Result<Reply, Failure> {
    let egress = Egress::builder(env.guard.clone())
        .registry(registry(env)?)
        .build()?;
    match c {
        PolicyCmd::Get { tenant } => {
            let t = tenant_id(&tenant)?;
            let ctx = env.ctx(&t);
            let ret = env.guard.retention().policy(&ctx).await?;
            let eg = egress.policy(&ctx).await?;
            let eg_json =
                serde_json::to_value(&eg).map_err(|e| Failure::new(1, "io", e.to_string()))?;
            let windows: BTreeMap<&str, Value> = ret
                .windows
                .iter()
                .map(|(c, w)| (c.as_str(), window_json(*w)))
                .collect();
            let mut text = String::from("retention:\n");
            for (c, w) in &ret.windows {
                text += &format!("  {c} = {}\n", window_text(*w));
            }
            text += &format!(
                "egress:\n{}",
                serde_json::to_string_pretty(&eg_json).unwrap_or_default()
            );
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "retention": windows, "egress": eg_json}),
                text,
            ))
        }
        PolicyCmd::Set { tenant, change } | PolicyCmd::Diff { tenant, change }
            if change.retention.is_empty() && change.egress_file.is_none() =>
        {
            let _ = tenant;
            Err(Failure::usage(
                "name a change: --retention CLASS=WINDOW and/or --egress-file FILE",
            ))
        }
        PolicyCmd::Set { tenant, change } => {
            let t = known_tenant(env, &tenant).await?;
            let ctx = env.ctx(&t);
            let specs = change
                .retention
                .iter()
                .map(|s| parse_retention(s))
                .collect::<Result<Vec<_>, _>>()?;
            let new_egress = change.egress_file.as_deref().map(read_egress).transpose()?;
            // Every part is checked before any is applied (a refused egress policy must not
            // leave the retention windows of the same command changed).
            if let Some(p) = &new_egress {
                p.validate(&registry(env)?)
                    .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
            }
            let mut changed = Vec::new();
            for (class, w) in &specs {
                match w {
                    Some(w) => env.guard.retention().set(&ctx, class, *w).await?,
                    None => {
                        env.guard.retention().clear(&ctx, class).await?;
                    }
                }
                changed.push(format!(
                    "retention {class} = {}",
                    w.map(window_text).unwrap_or_else(|| "default".into())
                ));
            }
            let mut version = None;
            if let Some(p) = &new_egress {
                version = Some(egress.set_policy(&ctx, p).await?);
                changed.push("egress policy replaced".into());
            }
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "changed": changed, "egress_version": version}),
                changed.join("\n"),
            ))
        }
        PolicyCmd::Diff { tenant, change } => {
            let t = known_tenant(env, &tenant).await?;
            let ctx = env.ctx(&t);
            let specs = change
                .retention
                .iter()
                .map(|s| parse_retention(s))
                .collect::<Result<Vec<_>, _>>()?;
            let cur = env.guard.retention().policy(&ctx).await?;
            let mut diffs = Vec::new();
            for (class, w) in &specs {
                let old = cur.window(class);
                let new = w.unwrap_or_else(|| default_window(class));
                if old != new {
                    diffs.push(json!({"what": format!("retention.{class}"), "from": window_text(old), "to": window_text(new)}));
                }
            }
            if let Some(path) = &change.egress_file {
                // A policy `policy set` would refuse is no change to announce (exit 6).
                let new = read_egress(path)?;
                new.validate(&registry(env)?)
                    .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
                let new = serde_json::to_value(new).unwrap_or_default();
                let old = serde_json::to_value(egress.policy(&ctx).await?).unwrap_or_default();
                if let (Value::Object(o), Value::Object(n)) = (&old, &new) {
                    for (k, nv) in n {
                        let ov = o.get(k).cloned().unwrap_or(Value::Null);
                        if &ov != nv {
                            diffs
                                .push(json!({"what": format!("egress.{k}"), "from": ov, "to": nv}));
                        }
                    }
                }
            }
            let text = if diffs.is_empty() {
                "no change".to_owned()
            } else {
                diffs
                    .iter()
                    .map(|d| {
                        format!(
                            "{}: {} -> {}",
                            d["what"].as_str().unwrap_or_default(),
                            d["from"],
                            d["to"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let code = if diffs.is_empty() {
                exit::OK
            } else {
                exit::CHECK_FAILED
            };
            Ok(Reply::ok(json!({"tenant": t.as_str(), "changes": diffs}), text).with_code(code))
        }
    }
}

async fn all_tokens(
    env: &Env,
    ctx: &TenantContext,
    agent: Option<&UserId>,
) -> Result<Vec<tenantguard::tokens::TokenInfo>, Failure> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = env
            .guard
            .tokens()
            .list(ctx, agent, after.as_deref(), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        out.extend(page);
    }
    Ok(out)
}

fn user_id(s: &str) -> Result<UserId, Failure> {
    UserId::new(s).map_err(|e| Failure::usage(format!("{s:?}: {e}")))
}

async fn token(env: &Env, c: TokenCmd) -> Result<Reply, Failure> {
    match c {
        TokenCmd::List { tenant, agent } => {
            let t = known_tenant(env, &tenant).await?;
            let agent = agent.as_deref().map(user_id).transpose()?;
            let list = all_tokens(env, &env.ctx(&t), agent.as_ref()).await?;
            let now = now();
            let rows: Vec<Value> = list
                .iter()
                .map(|k| {
                    let live = k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now);
                    json!({"id": k.id, "agent": k.agent.as_str(), "name": k.name,
                        "scopes": k.scopes.iter().map(|s| format!("{}:{}", s.action, s.resource)).collect::<Vec<_>>(),
                        "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at, "live": live})
                })
                .collect();
            let text = rows
                .iter()
                .map(|r| {
                    format!(
                        "{}  {}  {}  {}",
                        r["id"].as_str().unwrap_or_default(),
                        r["agent"].as_str().unwrap_or_default(),
                        r["name"].as_str().unwrap_or_default(),
                        if r["live"] == true {
                            "live"
                        } else {
                            "revoked/expired"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "tokens": rows}),
                text,
            ))
        }
        TokenCmd::Revoke { tenant, id } => {
            let t = known_tenant(env, &tenant).await?;
            let ctx = env.ctx(&t);
            if !all_tokens(env, &ctx, None)
                .await?
                .iter()
                .any(|k| k.id == id)
            {
                return Err(Failure::not_found(format!(
                    "tenant {t} has no token {id:?}"
                )));
            }
            let was_live = env.guard.tokens().revoke(&ctx, &id).await?;
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "id": id, "revoked": was_live}),
                if was_live {
                    format!("revoked token {id}")
                } else {
                    format!("token {id} was already revoked or expired")
                },
            ))
        }
        TokenCmd::Kill { tenant, agent } => {
            let t = known_tenant(env, &tenant).await?;
            let a = user_id(&agent)?;
            let n = env.guard.tokens().kill_agent(&env.ctx(&t), &a).await?;
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "agent": agent, "revoked": n}),
                format!("kill switch: revoked {n} live tokens of agent {agent} in {t}"),
            ))
        }
    }
}

async fn session(env: &Env, c: SessionCmd) -> Result<Reply, Failure> {
    match c {
        SessionCmd::List { tenant, user } => {
            let t = known_tenant(env, &tenant).await?;
            let ctx = env.ctx(&t);
            let list = match user {
                Some(user) => {
                    let u = user_id(&user)?;
                    env.guard.sessions().list(&ctx, Some(&u), PAGE).await?
                }
                None => {
                    // Every user's, page after page (newest first).
                    let mut all = Vec::new();
                    loop {
                        let after = all
                            .last()
                            .map(|s: &tenantguard::auth::SessionInfo| (s.created_at, s.id.clone()));
                        let page = env
                            .guard
                            .sessions()
                            .list_tenant(
                                &ctx,
                                after.as_ref().map(|(c, id)| (*c, id.as_str())),
                                PAGE,
                            )
                            .await?;
                        let done = page.len() < PAGE;
                        all.extend(page);
                        if done {
                            break;
                        }
                    }
                    all
                }
            };
            let rows: Vec<Value> = list
                .iter()
                .map(|s| json!({"id": s.id, "user": s.user, "label": s.label, "created_at": s.created_at,
                    "refreshed_at": s.refreshed_at, "expires_at": s.expires_at, "revoked_at": s.revoked_at}))
                .collect();
            let text = list
                .iter()
                .map(|s| {
                    format!(
                        "{}  {}  {}  {}",
                        s.id,
                        s.user,
                        s.label,
                        if s.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let text = if text.is_empty() {
                format!("no sessions in {t}")
            } else {
                text
            };
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "sessions": rows}),
                text,
            ))
        }
        SessionCmd::Revoke { tenant, id, user } => {
            let t = known_tenant(env, &tenant).await?;
            let ctx = env.ctx(&t);
            if let Some(u) = user {
                let n = env
                    .guard
                    .sessions()
                    .revoke_user(&ctx, &user_id(&u)?)
                    .await?;
                return Ok(Reply::ok(
                    json!({"tenant": t.as_str(), "user": u, "revoked": n}),
                    format!("revoked {n} sessions of {u} in {t}"),
                ));
            }
            let id = id.unwrap_or_default();
            let was = env.guard.sessions().revoke(&ctx, &id).await?;
            if !was {
                return Err(Failure::not_found(format!(
                    "tenant {t} has no live session {id:?}"
                )));
            }
            Ok(Reply::ok(
                json!({"tenant": t.as_str(), "id": id, "revoked": true}),
                format!("revoked session {id}"),
            ))
        }
    }
}

#[cfg(feature = "postgres")]
async fn pg(c: &PgCmd, cfg: &Config) -> Result<Reply, Failure> {
    match c {
        PgCmd::Migrate => {
            let url = cfg.postgres_admin_url.as_deref().ok_or_else(|| {
                Failure::usage(
                    "pg migrate needs postgres_admin_url (TENANTGUARD_POSTGRES_ADMIN_URL)",
                )
            })?;
            let n = tenantguard::PostgresStore::migrate(url)
                .await
                .map_err(|e| Failure::from(tenantguard::Error::from(e)))?;
            Ok(Reply::ok(
                json!({"applied": n}),
                format!("applied {n} migrations"),
            ))
        }
        PgCmd::Check => {
            // Connecting runs the library's own refusals: superuser or owner logins,
            // missing group grants, and any table without ENABLE + FORCE ROW LEVEL SECURITY.
            match postgres_store(cfg).await {
                Ok(_) => Ok(Reply::ok(
                    json!({"ok": true}),
                    "PostgreSQL: schema migrated, roles are neither owner nor superuser, every table forces RLS",
                )),
                Err(f) => Ok(Reply::ok(json!({"ok": false, "problem": f.message}), format!("PostgreSQL check failed: {}", f.message))
                    .with_code(exit::CHECK_FAILED)),
            }
        }
    }
}

#[cfg(not(feature = "postgres"))]
async fn pg(_: &PgCmd, _: &Config) -> Result<Reply, Failure> {
    Err(no_postgres())
}

async fn doctor(env: &Env, config: &Path) -> Result<Reply, Failure> {
    let mut checks: Vec<Check> = Vec::new();
    checks.extend(key_file_check(&env.cfg));
    checks.extend(config_file_check(config));
    let dirs = data_dirs(&env.cfg);
    if !dirs.is_empty() {
        let problems: Vec<String> = dirs.iter().filter_map(|d| open_dir_problem(d)).collect();
        checks.push((
            "data directories owner-only writable".into(),
            problems.is_empty(),
            if problems.is_empty() {
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                problems.join("; ")
            },
        ));
    }
    // Store reachable and migrated: a read through the service role.
    let tenants = env.tenants_after(None).await;
    checks.push((
        "store reachable and migrated".into(),
        tenants.is_ok(),
        match &tenants {
            Ok(t) => format!("{} ({} tenants)", env.cfg.store, t.len()),
            Err(f) => f.message.clone(),
        },
    ));
    if env.cfg.store == "postgres" {
        // Connecting refused a store without FORCE RLS on every table (require_rls).
        checks.push((
            "PostgreSQL RLS forced on every table".into(),
            true,
            "checked when connecting".into(),
        ));
    }
    // The store's own keys open under this provider: a KMS round trip with a fresh key
    // passes with any key file, including a new one beside a database of another's data.
    // Read only: the stored records, then each active one opened by id (`keys()` would
    // create a first key, under whatever KEK this configuration has, where there is none).
    let keyring = env.guard.service_keys(&env.service)?;
    let opened = async {
        use tenantguard::kms::{ServiceKeyState, ServicePurpose};
        let mut n = 0usize;
        for purpose in [
            ServicePurpose::RowMac,
            ServicePurpose::SessionSigning,
            ServicePurpose::AuditMac,
        ] {
            for r in keyring.records(purpose).await? {
                if r.state == ServiceKeyState::Active {
                    keyring.get(purpose, r.key_id).await?;
                    n += 1;
                }
            }
        }
        Ok::<usize, tenantguard::kms::KeyringError>(n)
    }
    .await;
    checks.push((
        "stored keys open under this key provider".into(),
        opened.is_ok(),
        match &opened {
            Ok(n) => format!("{n} service keys"),
            Err(e) => format!(
                "{e}: the database's keys were wrapped under another KEK (a different key file or KMS key?): point the configuration at the deployment's own"
            ),
        },
    ));
    // KMS round trip with a throw-away key, under the context of a tenant that has an
    // active key. Not under a made-up tenant: with per-tenant keys (a key file's tenant
    // secrets, `*_prefix` in AWS, Vault, PKCS#11, Cloud KMS) wrapping for a tenant the
    // provider does not know creates that tenant's key, so every deployment's first doctor
    // left a key (billed, in a KMS) for a tenant that does not exist, or for a customer
    // who happens to be named like the probe.
    let mut probe_ctx = None;
    if let Ok(ts) = &tenants {
        for t in ts {
            if let Ok(keys) = env.guard.keys().versions(&env.ctx(t)).await {
                if let Some(k) = keys.iter().find(|k| k.state == KeyState::Active) {
                    probe_ctx = Some(tenantguard::kms::WrapContext {
                        tenant: t.clone(),
                        key_id: k.key_id,
                    });
                    break;
                }
            }
        }
    }
    let probe = async {
        let Some(ctx) = probe_ctx else {
            // Nothing to wrap for yet: the provider is at least reachable.
            return env
                .provider
                .current_kek()
                .await
                .map(|k| format!("{k} (no tenant yet: wrap not probed)"))
                .map_err(|e| e.to_string());
        };
        let key = tenantguard::crypto::DataKey::generate().map_err(|e| e.to_string())?;
        let w = env
            .provider
            .wrap(&key, &ctx)
            .await
            .map_err(|e| e.to_string())?;
        let back = env
            .provider
            .unwrap(&w, &ctx)
            .await
            .map_err(|e| e.to_string())?;
        // A random probe key, not a secret anyone holds: a plain comparison is fine.
        if back.expose() != key.expose() {
            return Err("unwrap returned another key".to_owned());
        }
        Ok(w.kek_id)
    };
    let kms = probe.await;
    checks.push((
        "KMS wrap/unwrap".into(),
        kms.is_ok(),
        match &kms {
            Ok(k) => format!("{} under {k}", env.cfg.key_provider),
            Err(e) => e.clone(),
        },
    ));
    // Clock: after this release was built and no key created in the future.
    let t = now();
    let mut newest = 0i64;
    let mut overdue = Vec::new();
    if let Ok(ts) = &tenants {
        for tenant in ts {
            if let Ok(keys) = env.guard.keys().versions(&env.ctx(tenant)).await {
                newest = newest.max(keys.iter().map(|k| k.created_at).max().unwrap_or(0));
            }
            if let Ok(Some((k, age))) = key_due(env, tenant).await {
                overdue.push(format!("{tenant} key {k} ({age} days)"));
            }
        }
    }
    let clock_ok = t > 1_704_067_200 && newest <= t + 300;
    checks.push((
        "clock".into(),
        clock_ok,
        if newest > t + 300 {
            format!(
                "a key was created {}s in the future: the clock went back",
                newest - t
            )
        } else {
            format!("now {t}")
        },
    ));
    checks.push((
        "tenant keys within max age".into(),
        overdue.is_empty(),
        if overdue.is_empty() {
            format!("max {} days", env.cfg.max_tenant_key_age_days)
        } else {
            format!("overdue: {} (run `key rotate --due`)", overdue.join(", "))
        },
    ));
    match kek_age(env).await {
        Ok((kek, age, from)) => {
            let max = days_limit(env.cfg.max_kek_age_days);
            checks.push((
                "KEK within max age".into(),
                max == 0 || age < max,
                format!(
                    "{kek}: {age} days{}, max {max}",
                    if from == AgeFrom::FirstSeen {
                        " since first seen (creation time unknown)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Err(f) => checks.push(("KEK within max age".into(), false, f.message)),
    }
    Ok(doctor_reply(checks))
}

type Check = (String, bool, String);

/// Key file: readable by its owner only.
fn key_file_check(cfg: &Config) -> Option<Check> {
    if cfg.key_provider != "local" {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(match std::fs::metadata(&cfg.key_file) {
            Ok(m) => {
                let mode = m.permissions().mode() & 0o777;
                (
                    "key file mode".into(),
                    mode & 0o077 == 0,
                    format!("{:o} ({})", mode, cfg.key_file.display()),
                )
            }
            Err(e) => (
                "key file mode".into(),
                false,
                format!("{}: {e}", cfg.key_file.display()),
            ),
        })
    }
    #[cfg(not(unix))]
    None
}

/// The configuration file: nobody else may change it (they could point key_file,
/// sqlite_path or checkpoint_file anywhere), nor read it when it holds a provider secret.
fn config_file_check(config: &Path) -> Option<Check> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config).ok()?.permissions().mode() & 0o777;
        let text = std::fs::read_to_string(config).unwrap_or_default();
        let secret = toml::from_str::<Config>(&text).is_ok_and(|c| {
            c.aws
                .is_some_and(|a| a.secret_access_key.is_some() || a.session_token.is_some())
                || c.vault.is_some_and(|v| v.token.is_some())
                || c.pkcs11.is_some_and(|p| p.pin.is_some())
                || c.gcp.is_some_and(|g| g.access_token.is_some())
        });
        let problem = if mode & 0o022 != 0 {
            Some("writable by group or others: they could point key_file or sqlite_path elsewhere")
        } else if secret && mode & 0o044 != 0 {
            Some("holds a provider secret and is readable by group or others (or move the secret to the environment)")
        } else {
            None
        };
        Some((
            "configuration file mode".into(),
            problem.is_none(),
            match problem {
                Some(p) => format!("{:o} ({}): {p}; chmod 600 it", mode, config.display()),
                None => format!("{:o} ({})", mode, config.display()),
            },
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = config;
        None
    }
}

fn doctor_reply(checks: Vec<Check>) -> Reply {
    let ok = checks.iter().all(|c| c.1);
    let text = checks
        .iter()
        .map(|(n, ok, d)| format!("[{}] {n}: {d}", if *ok { " ok " } else { "FAIL" }))
        .collect::<Vec<_>>()
        .join("\n");
    let rows: Vec<Value> = checks
        .iter()
        .map(|(n, ok, d)| json!({"check": n, "ok": ok, "detail": d}))
        .collect();
    Reply::ok(json!({"ok": ok, "checks": rows}), text).with_code(if ok {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
