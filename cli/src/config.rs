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
    /// The service role's URL (`store = "postgres"`). No default: without it the store has
    /// no service connection, which every command (acting as the service) needs.
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
    /// The file of signed audit checkpoints (the library's `FileCheckpointSink`, given to
    /// `GuardBuilder::checkpoint_sink`): the same file the service uses, ideally on storage
    /// the database's writers cannot rewrite. `audit verify` checks the stored log against it.
    pub checkpoint_file: Option<PathBuf>,
    /// AWS KMS (`key_provider = "aws"`): the fields of `tenantguard_kms::aws::AwsKmsConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSection>,
    /// Vault / OpenBao Transit (`key_provider = "vault"`): `VaultTransitConfig`'s fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultSection>,
    /// A PKCS#11 token (`key_provider = "pkcs11"`): `Pkcs11Config`'s fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<Pkcs11Section>,
    /// Google Cloud KMS (`key_provider = "gcp"`): `GcpKmsConfig`'s fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpSection>,
}

/// A secret from the file or the environment: never printed, never written back.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

/// Only a string is a secret. Anything else is refused without its value: serde's own
/// message would echo it (`invalid type: integer `123456``), and an unquoted PIN or token
/// is exactly what it would echo.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn refuse<E: serde::de::Error>(what: &str) -> E {
                E::custom(format!(
                    "a secret must be a quoted string, not {what} (its value is not shown)"
                ))
            }
        }
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a quoted string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(Self::refuse("a boolean"))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(Self::refuse("a number"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(Self::refuse("a number"))
            }
            fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
                Err(Self::refuse("a number"))
            }
            fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
                Err(Self::refuse("a number"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(Self::refuse("a number"))
            }
            fn visit_char<E: serde::de::Error>(self, _: char) -> Result<Secret, E> {
                Err(Self::refuse("a character"))
            }
            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
                Err(Self::refuse("bytes"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(Self::refuse("an array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(Self::refuse("a table or date"))
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `[aws]`: names of `AwsKmsConfig` / `AwsStaticCredentials` / `with_tenant_keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSection {
    /// Key id, key ARN, alias (`alias/...`) or alias ARN. `kek rotate` needs an alias.
    pub key_id: Option<String>,
    /// The region (default: `AWS_REGION`).
    pub region: Option<String>,
    /// An endpoint override (VPC or FIPS endpoint, a KMS-compatible server).
    pub endpoint_url: Option<String>,
    /// Access key id (default: `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (default: `AWS_SECRET_ACCESS_KEY`).
    #[serde(skip_serializing)]
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary credentials (default: `AWS_SESSION_TOKEN`).
    #[serde(skip_serializing)]
    pub session_token: Option<Secret>,
    /// Per-tenant keys: alias prefix (`with_tenant_keys`).
    pub tenant_alias_prefix: Option<String>,
    /// Per-tenant keys: deletion window after a shred, 7 to 30 days (default 30).
    pub deletion_window_days: Option<u32>,
}

/// `[vault]`: names of `VaultTransitConfig` / `with_tenant_keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VaultSection {
    /// `https://vault.internal:8200`.
    pub address: Option<String>,
    /// A token allowed to use the key.
    #[serde(skip_serializing)]
    pub token: Option<Secret>,
    /// Enterprise / OpenBao namespace.
    pub namespace: Option<String>,
    /// Transit mount (default `transit`).
    pub mount: Option<String>,
    /// The Transit key for new wraps.
    pub key_name: Option<String>,
    /// `associated_data` (default) or `derived_context`.
    pub binding: Option<String>,
    /// Per-tenant keys: Transit key name prefix.
    pub tenant_key_prefix: Option<String>,
}

/// `[pkcs11]`: names of `Pkcs11Config` / `with_tenant_keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Pkcs11Section {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: Option<PathBuf>,
    /// The token's label.
    pub token_label: Option<String>,
    /// The user PIN.
    #[serde(skip_serializing)]
    pub pin: Option<Secret>,
    /// The AES-256 key for new wraps.
    pub key_label: Option<String>,
    /// Per-tenant keys: label prefix.
    pub tenant_key_prefix: Option<String>,
}

/// `[gcp]`: names of `GcpKmsConfig` / `with_tenant_keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GcpSection {
    /// Default `https://cloudkms.googleapis.com`.
    pub endpoint: Option<String>,
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    pub key_name: Option<String>,
    /// An OAuth access token (scope cloudkms), e.g. `gcloud auth print-access-token`.
    #[serde(skip_serializing)]
    pub access_token: Option<Secret>,
    /// Per-tenant keys: CryptoKey id prefix.
    pub tenant_key_prefix: Option<String>,
    /// Per-tenant keys: scheduled destruction after a shred, 1 to 120 days (default 30).
    pub destroy_days: Option<u32>,
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
            checkpoint_file: None,
            aws: None,
            vault: None,
            pkcs11: None,
            gcp: None,
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
                let module = c.pkcs11.as_mut().and_then(|p| p.module.as_mut());
                for p in [
                    &mut c.state_dir,
                    &mut c.registry_file,
                    &mut c.checkpoint_file,
                ]
                .into_iter()
                .flatten()
                .chain(module)
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
        if let Some(v) = var("TENANTGUARD_CHECKPOINT_FILE") {
            self.checkpoint_file = Some(v.into());
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
        let days = |k: &str, v: String| {
            v.parse::<u32>()
                .map_err(|_| Failure::usage(format!("{k} must be a whole number, not {v:?}")))
        };
        let set = |slot: &mut Option<String>, k: &str| {
            if let Some(v) = var(k) {
                *slot = Some(v);
            }
        };
        let secret = |slot: &mut Option<Secret>, k: &str| {
            if let Some(v) = var(k) {
                *slot = Some(Secret(v));
            }
        };
        let a = self.aws.get_or_insert_with(Default::default);
        set(&mut a.key_id, "TENANTGUARD_AWS_KEY_ID");
        set(&mut a.region, "TENANTGUARD_AWS_REGION");
        set(&mut a.endpoint_url, "TENANTGUARD_AWS_ENDPOINT_URL");
        set(&mut a.access_key_id, "TENANTGUARD_AWS_ACCESS_KEY_ID");
        secret(
            &mut a.secret_access_key,
            "TENANTGUARD_AWS_SECRET_ACCESS_KEY",
        );
        secret(&mut a.session_token, "TENANTGUARD_AWS_SESSION_TOKEN");
        set(
            &mut a.tenant_alias_prefix,
            "TENANTGUARD_AWS_TENANT_ALIAS_PREFIX",
        );
        if let Some(v) = var("TENANTGUARD_AWS_DELETION_WINDOW_DAYS") {
            a.deletion_window_days = Some(days("TENANTGUARD_AWS_DELETION_WINDOW_DAYS", v)?);
        }
        // The SDK's usual variables, when neither the file nor TENANTGUARD_AWS_* set them.
        if a.region.is_none() {
            a.region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        }
        if a.access_key_id.is_none() && a.secret_access_key.is_none() {
            a.access_key_id = var("AWS_ACCESS_KEY_ID");
            a.secret_access_key = var("AWS_SECRET_ACCESS_KEY").map(Secret);
            if a.session_token.is_none() {
                a.session_token = var("AWS_SESSION_TOKEN").map(Secret);
            }
        }
        let v = self.vault.get_or_insert_with(Default::default);
        set(&mut v.address, "TENANTGUARD_VAULT_ADDRESS");
        secret(&mut v.token, "TENANTGUARD_VAULT_TOKEN");
        set(&mut v.namespace, "TENANTGUARD_VAULT_NAMESPACE");
        set(&mut v.mount, "TENANTGUARD_VAULT_MOUNT");
        set(&mut v.key_name, "TENANTGUARD_VAULT_KEY_NAME");
        set(&mut v.binding, "TENANTGUARD_VAULT_BINDING");
        set(
            &mut v.tenant_key_prefix,
            "TENANTGUARD_VAULT_TENANT_KEY_PREFIX",
        );
        let p = self.pkcs11.get_or_insert_with(Default::default);
        if let Some(m) = var("TENANTGUARD_PKCS11_MODULE") {
            p.module = Some(m.into());
        }
        set(&mut p.token_label, "TENANTGUARD_PKCS11_TOKEN_LABEL");
        secret(&mut p.pin, "TENANTGUARD_PKCS11_PIN");
        set(&mut p.key_label, "TENANTGUARD_PKCS11_KEY_LABEL");
        set(
            &mut p.tenant_key_prefix,
            "TENANTGUARD_PKCS11_TENANT_KEY_PREFIX",
        );
        let g = self.gcp.get_or_insert_with(Default::default);
        set(&mut g.endpoint, "TENANTGUARD_GCP_ENDPOINT");
        set(&mut g.key_name, "TENANTGUARD_GCP_KEY_NAME");
        secret(&mut g.access_token, "TENANTGUARD_GCP_ACCESS_TOKEN");
        set(
            &mut g.tenant_key_prefix,
            "TENANTGUARD_GCP_TENANT_KEY_PREFIX",
        );
        if let Some(v) = var("TENANTGUARD_GCP_DESTROY_DAYS") {
            g.destroy_days = Some(days("TENANTGUARD_GCP_DESTROY_DAYS", v)?);
        }
        // Sections nothing set stay absent (`init` writes no empty tables).
        if self
            .aws
            .as_ref()
            .is_some_and(|x| *x == AwsSection::default())
        {
            self.aws = None;
        }
        if self
            .vault
            .as_ref()
            .is_some_and(|x| *x == VaultSection::default())
        {
            self.vault = None;
        }
        if self
            .pkcs11
            .as_ref()
            .is_some_and(|x| *x == Pkcs11Section::default())
        {
            self.pkcs11 = None;
        }
        if self
            .gcp
            .as_ref()
            .is_some_and(|x| *x == GcpSection::default())
        {
            self.gcp = None;
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
    fn provider_tables_take_the_library_names_env_wins_and_secrets_stay_hidden() {
        let mut c: Config = toml::from_str(
            "key_provider = \"vault\"\n[vault]\naddress = \"http://127.0.0.1:8200\"\nkey_name = \"tg\"\ntoken = \"file-token\"\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "TENANTGUARD_VAULT_TOKEN" => Some("env-token".to_owned()),
            "TENANTGUARD_GCP_KEY_NAME" => {
                Some("projects/p/locations/l/keyRings/r/cryptoKeys/k".to_owned())
            }
            "AWS_ACCESS_KEY_ID" => Some("AKIA".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("aws-secret".to_owned()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        let v = c.vault.clone().unwrap();
        assert_eq!(v.token, Some(Secret("env-token".into())));
        assert_eq!(v.key_name.as_deref(), Some("tg"));
        assert!(c.gcp.as_ref().unwrap().key_name.is_some());
        assert_eq!(
            c.aws.as_ref().unwrap().access_key_id.as_deref(),
            Some("AKIA")
        );
        assert!(c.pkcs11.is_none(), "a table nothing set stays absent");
        // Neither Debug nor the written configuration shows a secret.
        let shown = format!("{c:?}{}", toml::to_string(&c).unwrap());
        for secret in ["env-token", "file-token", "aws-secret"] {
            assert!(!shown.contains(secret), "{secret} leaked");
        }
        assert!(toml::from_str::<Config>("[vault]\nadress = \"x\"").is_err());
    }

    #[test]
    fn a_secret_that_is_not_a_string_is_refused_without_its_value() {
        for (table, key) in [
            ("pkcs11", "pin"),
            ("vault", "token"),
            ("gcp", "access_token"),
            ("aws", "secret_access_key"),
            ("aws", "session_token"),
        ] {
            for value in [
                "918273645",
                "-918273645",
                "9182736.45",
                "918273645918273645918273645",
            ] {
                let text = format!("[{table}]\n{key} = {value}\n");
                let e = toml::from_str::<Config>(&text).unwrap_err();
                // What the command line prints (not the Display form, which quotes the line).
                let shown = e.message();
                assert!(
                    !shown.contains("918273"),
                    "{table}.{key} = {value} echoed: {shown}"
                );
                assert!(e.message().contains("quoted string"), "{}", e.message());
            }
        }
        let c: Config = toml::from_str("[pkcs11]\npin = \"918273\"\n").unwrap();
        assert_eq!(c.pkcs11.unwrap().pin, Some(Secret("918273".into())));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<Config>("key_provder = \"local\"").is_err());
        let c: Config = toml::from_str("key_provider = \"vault\"\nbatch = 10").unwrap();
        assert_eq!(c.batch, 10);
    }
}
