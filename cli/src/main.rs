//! `tenantguard`: the operator command line of the tenantguard SDK. It drives the library's
//! public API only, acting with the service capability of the guard it builds from the
//! configuration (see docs/OPERATIONS.md).

#![forbid(unsafe_code)]

mod commands;
mod config;
mod exit;
mod jobs;
mod providers;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// The result of a command: JSON for `--json`, text otherwise, and the exit code.
pub struct Reply {
    pub json: serde_json::Value,
    pub text: String,
    pub code: i32,
}

impl Reply {
    pub fn ok(json: serde_json::Value, text: impl Into<String>) -> Reply {
        Reply {
            json,
            text: text.into(),
            code: exit::OK,
        }
    }
    pub fn with_code(mut self, code: i32) -> Reply {
        self.code = code;
        self
    }
}

const AFTER_MAIN: &str = "\
Examples:
  tenantguard init
  tenantguard tenant create acme
  tenantguard key rotate --due && tenantguard reencrypt --all
  tenantguard --json doctor

Configuration: --config FILE (default ./tenantguard.toml), overridden by TENANTGUARD_*
variables (TENANTGUARD_KEY_FILE, TENANTGUARD_SQLITE_PATH, TENANTGUARD_STORE, ...). Key
providers (builds with --features kms): key_provider = aws, vault, pkcs11 or gcp
and a [aws] / [vault] / [pkcs11] / [gcp] table (TENANTGUARD_VAULT_TOKEN, ...).
Exit codes: 0 ok, 1 failure, 2 usage or configuration, 3 integrity failure, 4 refused,
5 not found, 6 check failed or work due, 130 interrupted (run again to resume).";

#[derive(Parser)]
#[command(name = "tenantguard", version, about = "Operate a tenantguard deployment: keys, re-encryption, retention, audit, policies, tokens, sessions", after_help = AFTER_MAIN)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "TENANTGUARD_CONFIG",
        default_value = "tenantguard.toml"
    )]
    pub config: PathBuf,
    /// Print the result as one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create the key file and the database (idempotent) and write a configuration file if none exists.
    #[command(
        after_help = "Examples:\n  tenantguard init\n  tenantguard --config /etc/tenantguard.toml init --dir /var/lib/tenantguard"
    )]
    Init {
        /// Where the key file and database go when no configuration file exists yet.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Tenants: create, list, shred.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard tenant create acme\n  tenantguard tenant list\n  echo acme | tenantguard tenant shred acme"
    )]
    Tenant(TenantCmd),
    /// Tenant data keys: list, rotate, retire.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard key list acme\n  tenantguard key rotate --due\n  tenantguard key retire acme 1 --dry-run"
    )]
    Key(KeyCmd),
    /// Key-encryption keys: rotate, re-wrap the tenant keys, list.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard kek rotate --due\n  tenantguard kek rewrap\n  tenantguard kek list"
    )]
    Kek(KekCmd),
    /// Move stored records to the active key (resumable, idempotent).
    #[command(
        after_help = "Examples:\n  tenantguard reencrypt acme\n  tenantguard reencrypt acme --from 1\n  tenantguard reencrypt --all\n\nCtrl-C stops after the current batch (exit 130); the next run resumes there."
    )]
    Reencrypt {
        /// The tenant.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every tenant.
        #[arg(long)]
        all: bool,
        /// Only records sealed under this key version (default: everything not current).
        #[arg(long)]
        from: Option<u32>,
        /// Records per batch (default: the configuration's `batch`).
        #[arg(long)]
        batch: Option<usize>,
    },
    /// Delete records past their retention window.
    #[command(
        after_help = "Examples:\n  tenantguard sweep acme --dry-run\n  tenantguard sweep --all\n\nA cron line: 15 3 * * *  tenantguard --config /etc/tenantguard.toml sweep --all"
    )]
    Sweep {
        /// The tenant.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every tenant.
        #[arg(long)]
        all: bool,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete every record about a data subject; prints the audit receipt.
    #[command(after_help = "Example:\n  tenantguard erase-subject acme customer-4711")]
    EraseSubject {
        /// The tenant.
        tenant: String,
        /// The data subject, as tagged when records were stored.
        subject: String,
    },
    /// Audit log: export, verify.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard audit export acme --out acme.bundle\n  tenantguard audit verify --export acme.bundle --public-key audit.vkey\n  tenantguard audit verify acme"
    )]
    Audit(AuditCmd),
    /// Egress policies and retention windows: get, set, diff.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard policy get acme\n  tenantguard policy set acme --retention run_log=30d --retention screenshot=default\n  tenantguard policy diff acme --egress-file strict.json"
    )]
    Policy(PolicyCmd),
    /// Agent tokens: list, revoke, kill an agent.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard token list acme\n  tenantguard token revoke acme tok_123\n  tenantguard token kill acme build-bot"
    )]
    Token(TokenCmd),
    /// User sessions: list, revoke.
    #[command(
        subcommand,
        after_help = "Examples:\n  tenantguard session list acme\n  tenantguard session list acme --user alice\n  tenantguard session revoke acme ses_123"
    )]
    Session(SessionCmd),
    /// PostgreSQL: migrate the schema, check roles, RLS and grants (`postgres` feature).
    #[command(
        subcommand,
        after_help = "Examples:\n  TENANTGUARD_POSTGRES_ADMIN_URL=postgres://owner@db/app tenantguard pg migrate\n  tenantguard pg check"
    )]
    Pg(PgCmd),
    /// Check the deployment: key file, data directories, store, stored keys, KMS round trip, clock, overdue keys.
    #[command(
        after_help = "Examples:\n  tenantguard doctor\n  tenantguard --json doctor | jq '.checks[] | select(.ok == false)'"
    )]
    Doctor,
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  tenantguard completions bash > /etc/bash_completion.d/tenantguard\n  tenantguard completions zsh > ~/.zfunc/_tenantguard\n  tenantguard completions fish > ~/.config/fish/completions/tenantguard.fish"
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
pub enum TenantCmd {
    /// Create a tenant with a fresh data key.
    #[command(after_help = "Example:\n  tenantguard tenant create acme")]
    Create { tenant: String },
    /// List tenants.
    #[command(after_help = "Example:\n  tenantguard --json tenant list")]
    List,
    /// Crypto-shred a tenant: destroy its keys (irreversible). Type the id back, or --yes.
    #[command(
        after_help = "Examples:\n  tenantguard tenant shred acme          (asks for the id)\n  tenantguard tenant shred acme --yes"
    )]
    Shred {
        tenant: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// List a tenant's key versions, their age and how many records each seals.
    #[command(after_help = "Example:\n  tenantguard key list acme")]
    List { tenant: String },
    /// Rotate data keys: one tenant, or every tenant whose key is older than the maximum age (--due).
    #[command(
        after_help = "Examples:\n  tenantguard key rotate acme\n  tenantguard key rotate --due    (cron / systemd timer)"
    )]
    Rotate {
        #[arg(required_unless_present = "due", conflicts_with = "due")]
        tenant: Option<String>,
        /// Every tenant whose active key is older than `max_tenant_key_age_days`.
        #[arg(long)]
        due: bool,
    },
    /// Destroy a decrypt-only key version once nothing uses it.
    #[command(
        after_help = "Examples:\n  tenantguard key retire acme 1 --dry-run\n  tenantguard key retire acme 1"
    )]
    Retire {
        tenant: String,
        /// The key version.
        key: u32,
        /// Only show what still uses the key.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub enum KekCmd {
    /// Make a fresh KEK current, then run `kek rewrap`. local: a new key in the key file;
    /// aws: a new KMS key behind the configured alias; vault: a new Transit key version;
    /// pkcs11: a new token key (--new-label); gcp: Cloud KMS rotates versions itself.
    #[command(
        after_help = "Examples:\n  tenantguard kek rotate\n  tenantguard kek rotate --due && tenantguard kek rewrap\n  tenantguard kek rotate --new-label tg-kek-2027    (pkcs11; then set pkcs11.key_label)"
    )]
    Rotate {
        /// Only if the current KEK is older than `max_kek_age_days`.
        #[arg(long)]
        due: bool,
        /// pkcs11: the label of the new token key.
        #[arg(long)]
        new_label: Option<String>,
    },
    /// Re-wrap every tenant's data keys under the current KEK (resumable, idempotent).
    #[command(after_help = "Example:\n  tenantguard kek rewrap")]
    Rewrap {
        #[arg(long)]
        batch: Option<usize>,
    },
    /// List KEKs with the current one and their age.
    #[command(after_help = "Example:\n  tenantguard kek list")]
    List,
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Write a tenant's audit log as a signed bundle (entries and a checkpoint signed now;
    /// docs/FORMAT.md), verified on the way; prints the checkpoint. --jsonl: the plain
    /// JSON Lines of earlier releases.
    #[command(
        after_help = "Examples:\n  tenantguard audit export acme --out acme.bundle\n  tenantguard audit export --all --out-dir exports/\n  tenantguard audit public-key > audit.vkey    (give both to the customer)"
    )]
    Export {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every tenant, one file each in --out-dir (resumable).
        #[arg(long, requires = "out_dir")]
        all: bool,
        /// The file (default: stdout; not with --json).
        #[arg(long, conflicts_with = "all")]
        out: Option<PathBuf>,
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// JSON Lines without a checkpoint (verify with `audit verify --file`).
        #[arg(long)]
        jsonl: bool,
    },
    /// Verify an exported bundle offline (--export, --public-key: no key file or store
    /// needed), or a tenant's stored log: its chain, and its signed checkpoints against the
    /// configured checkpoint_file (or --checkpoint). Exit 3 with the reason on tampering.
    #[command(
        after_help = "Examples:\n  tenantguard audit verify --export acme.bundle --public-key audit.vkey\n  tenantguard audit verify --export acme.bundle --public-key audit.vkey --checkpoint acme-2026-11.bundle\n  tenantguard audit verify acme\n  tenantguard audit verify acme --expect-head 3b1f...\n  tenantguard audit verify acme --file acme.jsonl --expect-head 3b1f..."
    )]
    Verify {
        /// The tenant (required for the stored log; with --export, checked against it).
        #[arg(required_unless_present = "export")]
        tenant: Option<String>,
        /// An exported bundle to verify offline.
        #[arg(long, requires = "public_key", conflicts_with_all = ["file", "expect_head"])]
        export: Option<PathBuf>,
        /// A checkpoint verifier key (`audit public-key`), or a file of them one a line.
        /// Repeatable.
        #[arg(long)]
        public_key: Vec<String>,
        /// An earlier checkpoint the log must extend: a note file or an earlier bundle.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Verify this JSON Lines export (`audit export --jsonl`) instead of the stored log.
        #[arg(long, conflicts_with = "checkpoint")]
        file: Option<PathBuf>,
        /// The head hash the log must end at (from an earlier export).
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// After restoring a database backup: record the restore in the tenant's audit log,
    /// re-apply the revocations of the lost window from the export kept from before the
    /// restore (--lost-export, verified first), and publish a new checkpoint to the sink
    /// (docs/OPERATIONS.md, "Restoring a database backup"). Exit 4 if the log has nothing
    /// to reconcile, 3 if the lost export does not verify.
    #[command(
        after_help = "Examples:\n  tenantguard audit reconcile acme --lost-export acme-before.bundle --reason \"restored nightly backup\"\n  tenantguard audit reconcile acme --reason \"restored, no export kept\""
    )]
    Reconcile {
        tenant: String,
        /// The bundle `audit export` wrote before the restore (its revocations are re-applied).
        #[arg(long)]
        lost_export: Option<PathBuf>,
        /// Why (recorded in the audit.restore entry).
        #[arg(long)]
        reason: String,
    },
    /// Print the audit checkpoint verifier key(s) customers verify bundles with.
    #[command(
        after_help = "Examples:\n  tenantguard audit public-key > audit.vkey\n  tenantguard audit public-key --all"
    )]
    PublicKey {
        /// Every active key (older ones verify older checkpoints), one a line.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args)]
pub struct PolicyChange {
    /// A retention window CLASS=WINDOW: 30d, 12h, 3600s, forever, or default. Repeatable.
    #[arg(long = "retention", value_name = "CLASS=WINDOW")]
    pub retention: Vec<String>,
    /// A complete egress policy (JSON, the library's `EgressPolicy`).
    #[arg(long)]
    pub egress_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Show the egress policy and the retention windows.
    #[command(after_help = "Example:\n  tenantguard --json policy get acme")]
    Get { tenant: String },
    /// Change retention windows and/or replace the egress policy.
    #[command(
        after_help = "Examples:\n  tenantguard policy set acme --retention run_log=30d\n  tenantguard policy set acme --egress-file strict.json"
    )]
    Set {
        tenant: String,
        #[command(flatten)]
        change: PolicyChange,
    },
    /// Show what `policy set` with the same arguments would change (exit 6 if anything).
    #[command(
        after_help = "Example:\n  tenantguard policy diff acme --retention run_log=30d --egress-file strict.json"
    )]
    Diff {
        tenant: String,
        #[command(flatten)]
        change: PolicyChange,
    },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// List a tenant's agent tokens (metadata only).
    #[command(
        after_help = "Examples:\n  tenantguard token list acme\n  tenantguard token list acme --agent build-bot"
    )]
    List {
        tenant: String,
        #[arg(long)]
        agent: Option<String>,
    },
    /// Revoke one token.
    #[command(after_help = "Example:\n  tenantguard token revoke acme tok_123")]
    Revoke { tenant: String, id: String },
    /// Kill switch: revoke every token of an agent.
    #[command(after_help = "Example:\n  tenantguard token kill acme build-bot")]
    Kill { tenant: String, agent: String },
}

#[derive(Subcommand)]
pub enum SessionCmd {
    /// List a tenant's sessions: every user's (paged through), or one user's (--user).
    #[command(
        after_help = "Examples:\n  tenantguard session list acme\n  tenantguard session list acme --user alice\n  tenantguard --json session list acme | jq '.sessions[] | select(.revoked_at == null)'"
    )]
    List {
        tenant: String,
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke one session, or every session of a user (--user).
    #[command(
        after_help = "Examples:\n  tenantguard session revoke acme ses_123\n  tenantguard session revoke acme --user alice"
    )]
    Revoke {
        tenant: String,
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PgCmd {
    /// Create or upgrade the schema, roles and policies (needs postgres_admin_url).
    #[command(
        after_help = "Example:\n  TENANTGUARD_POSTGRES_ADMIN_URL=postgres://owner@db/app tenantguard pg migrate"
    )]
    Migrate,
    /// Connect as the application and service roles: refuses owners, superusers, missing grants and tables without FORCE RLS.
    #[command(after_help = "Example:\n  tenantguard pg check")]
    Check,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => exit::OK,
                _ => exit::USAGE,
            };
            let _ = e.print();
            // `--json` promises one JSON document on stdout, errors included: a command
            // line clap refuses is a usage error like any other.
            let json = std::env::args_os()
                .skip(1)
                .take_while(|a| a != "--")
                .any(|a| a == "--json");
            if json && code != exit::OK {
                let text = e.render().to_string();
                // The error's own lines, without the usage and help hints after them.
                let message = text
                    .trim_start()
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let message = message.trim_start_matches("error: ");
                let v = serde_json::json!({"error": {"kind": "usage", "reason": null, "message": message, "exit": code}});
                let _ = writeln!(std::io::stdout(), "{v}");
            }
            std::process::exit(code);
        }
    };
    if let Command::Completions { shell } = &cli.command {
        // Generated in memory: clap_complete panics when its writer fails (`| head`, a full
        // disk), and a script cut short must not exit 0.
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut Cli::command(), "tenantguard", &mut script);
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&script).and_then(|()| out.flush()) {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot write the completion script: {e}"
            );
            std::process::exit(exit::FAILURE);
        }
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    };
    let json = cli.json;
    let result = rt.block_on(commands::run(cli));
    let code = match result {
        Ok(reply) => {
            let mut out = std::io::stdout().lock();
            let written = if json {
                writeln!(out, "{}", reply.json)
            } else if !reply.text.is_empty() {
                writeln!(out, "{}", reply.text.trim_end())
            } else {
                Ok(())
            }
            .and_then(|()| out.flush());
            match written {
                // The result is what a script keeps (a verifier key, an erasure's receipt
                // secret shown only once): one that did not reach stdout is no success.
                Err(e) if reply.code == exit::OK => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "error: the command ran but its result could not be written to stdout: {e}"
                    );
                    exit::FAILURE
                }
                _ => reply.code,
            }
        }
        Err(f) => {
            if json {
                let v = serde_json::json!({"error": {"kind": f.kind, "reason": f.reason, "message": f.message, "exit": f.code}});
                let _ = writeln!(std::io::stdout(), "{v}");
            }
            match &f.reason {
                Some(r) => {
                    let _ = writeln!(std::io::stderr(), "error ({r}): {}", f.message);
                }
                None => {
                    let _ = writeln!(std::io::stderr(), "error: {}", f.message);
                }
            }
            f.code
        }
    };
    // Do not wait for blocking store threads of a job stopped by a signal.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    std::process::exit(code);
}
