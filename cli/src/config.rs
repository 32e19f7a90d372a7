//! Configuration: a TOML file overlaid by `TENANTGUARD_*` environment variables, with the
//! names of the library builder (`key_provider`, `store`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::Failure;

/// The key providers the library knows, by the names of `tenantguard-kms` features.
pub const PROVIDERS: [&str; 5] = ["local", "aws", "vault", "pkcs11", "gcp"];

/// Everything the command line reads from its file and environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `local` (a key file); `aws`, `vault`, `pkcs11`, `gcp` need a build with that provider.
    pub key_provider: String,
    /// The local key file (`key_provider = "local"`).
    pub key_file: PathBuf,
    /// `sqlite` or `postgres` (the latter needs the `postgres` feature).
    pub store: String,
    /// The SQLite database (`store = "sqlite"`).
    pub sqlite_path: PathBuf,
    /// The application role's URL (`store = "postgres"`).
    pub postgres_url: Option<String>,
    /// The service role's URL (`store = "postgres"`; default: the application URL).
    pub postgres_service_url: Option<String>,
    /// The owner's URL, used by `pg migrate` only.
    pub postgres_admin_url: Option<String>,
    /// Where job checkpoints and key-rotation times are kept (default: beside the store).
    pub state_dir: Option<PathBuf>,
    /// Maximum age of the KEK, in days, before `kek rotate --due` rotates it (0: no limit).
    pub max_kek_age_days: u64,
    /// Maximum age of a tenant's active data key, in days, before `key rotate --due`
    /// rotates it (0: no limit).
    pub max_tenant_key_age_days: u64,
    /// A JSON array of sub-processors (`tenantguard::egress::SubProcessor`) that egress
    /// policies may name.
    pub registry_file: Option<PathBuf>,
    /// Records per batch of the long jobs (1 to 10,000).
    pub batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key_provider: "local".into(),
            key_file: PathBuf::from("tenantguard-data/keys.json"),
            store: "sqlite".into(),
            sqlite_path: PathBuf::from("tenantguard-data/tenantguard.db"),
            postgres_url: None,
            postgres_service_url: None,
            postgres_admin_url: None,
            state_dir: None,
            max_kek_age_days: 365,
            max_tenant_key_age_days: 90,
            registry_file: None,
            batch: 500,
        }
    }
}

impl Config {
    /// Reads `path` (absent is fine unless `required`), then the environment. Relative
    /// paths in the file are taken from the file's directory, so a cron job run from
    /// anywhere finds the same files.
    pub fn load(path: &Path, required: bool) -> Result<Config, Failure> {
        let mut cfg = match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut c: Config = toml::from_str(&text)
                    .map_err(|e| Failure::usage(format!("{}: {}", path.display(), e.message())))?;
                let base = path.parent().unwrap_or(Path::new("."));
                for p in [&mut c.key_file, &mut c.sqlite_path] {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                }
                for p in [&mut c.state_dir, &mut c.registry_file]
                    .into_iter()
                    .flatten()
                {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                }
                c
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Config::default(),
            Err(e) => {
                return Err(Failure::usage(format!(
                    "cannot read {}: {}",
                    path.display(),
                    e.kind()
                )))
            }
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// `TENANTGUARD_<FIELD>` overrides the file's `<field>`.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), Failure> {
        let num = |k: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| Failure::usage(format!("{k} must be a whole number, not {v:?}")))
        };
        if let Some(v) = var("TENANTGUARD_KEY_PROVIDER") {
            self.key_provider = v;
        }
        if let Some(v) = var("TENANTGUARD_KEY_FILE") {
            self.key_file = v.into();
        }
        if let Some(v) = var("TENANTGUARD_STORE") {
            self.store = v;
        }
        if let Some(v) = var("TENANTGUARD_SQLITE_PATH") {
            self.sqlite_path = v.into();
        }
        if let Some(v) = var("TENANTGUARD_POSTGRES_URL") {
            self.postgres_url = Some(v);
        }
        if let Some(v) = var("TENANTGUARD_POSTGRES_SERVICE_URL") {
            self.postgres_service_url = Some(v);
        }
        if let Some(v) = var("TENANTGUARD_POSTGRES_ADMIN_URL") {
            self.postgres_admin_url = Some(v);
        }
        if let Some(v) = var("TENANTGUARD_STATE_DIR") {
            self.state_dir = Some(v.into());
        }
        if let Some(v) = var("TENANTGUARD_REGISTRY_FILE") {
            self.registry_file = Some(v.into());
        }
        if let Some(v) = var("TENANTGUARD_MAX_KEK_AGE_DAYS") {
            self.max_kek_age_days = num("TENANTGUARD_MAX_KEK_AGE_DAYS", v)?;
        }
        if let Some(v) = var("TENANTGUARD_MAX_TENANT_KEY_AGE_DAYS") {
            self.max_tenant_key_age_days = num("TENANTGUARD_MAX_TENANT_KEY_AGE_DAYS", v)?;
        }
        if let Some(v) = var("TENANTGUARD_BATCH") {
            self.batch = num("TENANTGUARD_BATCH", v)? as usize;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), Failure> {
        if !PROVIDERS.contains(&self.key_provider.as_str()) {
            return Err(Failure::usage(format!(
                "key_provider {:?} is not one of {}",
                self.key_provider,
                PROVIDERS.join(", ")
            )));
        }
        if !["sqlite", "postgres"].contains(&self.store.as_str()) {
            return Err(Failure::usage(format!(
                "store {:?} is not sqlite or postgres",
                self.store
            )));
        }
        if self.batch == 0 || self.batch > 10_000 {
            return Err(Failure::usage("batch must be 1 to 10000"));
        }
        Ok(())
    }

    /// Where checkpoints live: `state_dir`, else the directory of the SQLite database or
    /// of the key file.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_dir {
            return d.clone();
        }
        let anchor = if self.store == "sqlite" {
            &self.sqlite_path
        } else {
            &self.key_file
        };
        anchor
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_the_file_and_bad_numbers_are_usage_errors() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "TENANTGUARD_STORE" => Some("postgres".to_owned()),
            "TENANTGUARD_MAX_KEK_AGE_DAYS" => Some("30".to_owned()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.store, "postgres");
        assert_eq!(c.max_kek_age_days, 30);
        let bad = |k: &str| (k == "TENANTGUARD_BATCH").then(|| "many".to_owned());
        assert_eq!(c.apply_env(bad).unwrap_err().code, crate::exit::USAGE);
        c.key_provider = "floppy".into();
        assert!(c.check().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<Config>("key_provder = \"local\"").is_err());
        let c: Config = toml::from_str("key_provider = \"vault\"\nbatch = 10").unwrap();
        assert_eq!(c.batch, 10);
    }
}
