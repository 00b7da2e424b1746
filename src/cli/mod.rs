//! The `latchkey` command line (a contract: words and exit codes).
//!
//! Exit codes: 0 success, 1 the command failed (unknown member, database
//! unreachable, a rule refused it), 2 usage error (bad flag, value or
//! setting).

mod files;
mod members;
mod parse;
mod scopes;
mod service_accounts;
mod tokens;

use crate::config::ServeSettings;
use crate::db::DbUrl;
use crate::domain::{Email, IpRange, Role, Scope, ServiceName, TokenFormat, TokenId, TokenName};
use crate::error::Error;
use crate::service::{Clock, Latchkey, StatusFilter};
use clap::{Parser, Subcommand};
use parse::*;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Self-hosted API token service: console, token API and CLI",
    after_help = "With no command, `latchkey` runs `serve`. Every setting can also come from a TOML file (--config): flag > environment > file > default."
)]
pub struct Cli {
    /// Database: sqlite://PATH or postgres://USER@HOST/DB
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://latchkey.db",
        global = true,
        value_parser = DbUrl::parse,
        hide_env_values = true,
        help_heading = "Database"
    )]
    database_url: DbUrl,

    /// Prefix of new tokens: 1–16 of A-Z a-z 0-9 _ - (tokens made under
    /// earlier prefixes keep working)
    #[arg(long, env = "LATCHKEY_TOKEN_PREFIX", default_value = "lk_", global = true,
          value_parser = parse_prefix, value_name = "PREFIX", help_heading = "Tokens")]
    token_prefix: TokenFormat,

    /// A TOML file of settings (keys as the long options: `bind =
    /// "0.0.0.0:8080"`, `trusted_proxies = ["10.0.0.0/8"]`)
    #[arg(long, env = "LATCHKEY_CONFIG", global = true, value_name = "PATH")]
    config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the console and the token API (the default)
    Serve(Box<ServeSettings>),
    /// Apply pending database migrations (creating the database) and exit
    Migrate,
    /// Manage organisation members
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the scope catalogue tokens are granted from
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// Manage service accounts: identities for machines, without sign-in
    #[command(subcommand, name = "service-account")]
    ServiceAccount(ServiceAccountCommand),
    /// Copy a SQLite database to PATH, consistently, while servers keep
    /// running (PostgreSQL: use pg_dump)
    Backup {
        #[arg(value_name = "PATH")]
        path: std::path::PathBuf,
    },
    /// Replace the SQLite database by the backup at PATH; refused while a
    /// server uses the database (PostgreSQL: use pg_restore)
    Restore {
        #[arg(value_name = "PATH")]
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a member; prints a one-time password unless --password-stdin
    Add {
        #[arg(long, value_parser = parse_email)]
        email: Email,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from standard input (asked without echo at a
        /// terminal) instead of generating one
        #[arg(long)]
        password_stdin: bool,
    },
    /// List members
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Change a member's role (their tokens narrow at once)
    SetRole {
        #[arg(long, value_parser = parse_email)]
        email: Email,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Disable a member: they cannot sign in and their tokens stop working
    Disable {
        #[arg(long, value_parser = parse_email)]
        email: Email,
    },
    /// Enable a disabled member again
    Enable {
        #[arg(long, value_parser = parse_email)]
        email: Email,
    },
    /// Set a member's password: asked twice without echo at a terminal,
    /// or read from standard input; ends their sessions
    SetPassword {
        #[arg(long, value_parser = parse_email)]
        email: Email,
    },
    /// Remove a member's two-factor sign-in (a lost phone): their
    /// authenticator app and recovery codes stop working
    #[command(name = "reset-2fa")]
    Reset2fa {
        #[arg(long, value_parser = parse_email)]
        email: Email,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints only the token on standard output, once
    #[command(group(clap::ArgGroup::new("owner").required(true).args(["email", "service_account"])))]
    Create {
        /// The owner's email
        #[arg(long, value_parser = parse_email)]
        email: Option<Email>,
        /// Or: the service account that owns the token
        #[arg(long, value_name = "NAME", value_parser = parse_service_name)]
        service_account: Option<ServiceName>,
        #[arg(long, value_parser = parse_name)]
        name: TokenName,
        /// UTC date; the token stops working at 00:00 UTC on it
        #[arg(long, value_parser = parse_date)]
        expires_on: time::Date,
        /// A scope from the catalogue; repeat for several
        #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// Only requests from this CIDR range (IPv4 or IPv6) may use the
        /// token; repeat the flag for several. Default: any address
        #[arg(long = "allow-ip", value_name = "CIDR", value_parser = parse_range)]
        allow_ips: Vec<IpRange>,
        /// What the token is for (up to 500 characters)
        #[arg(long, value_name = "TEXT", value_parser = parse_description_flag)]
        description: Option<String>,
        /// A canary token: it never works, and every use is reported (audit
        /// log, webhook)
        #[arg(long)]
        canary: bool,
    },
    /// List tokens (never secrets)
    List {
        /// Only this member's tokens
        #[arg(long, value_parser = parse_email)]
        email: Option<Email>,
        /// active, expiring, expired, revoked, suspended or all
        #[arg(long, default_value = "all", value_parser = parse_status)]
        status: StatusFilter,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Active tokens that stop working within N days (for cron jobs)
    Expiring {
        /// 1 to 3650
        #[arg(long, value_parser = parse_days)]
        within_days: u32,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Replace a token by a new one (same owner, name and scopes); prints
    /// only the new token
    Rotate {
        #[arg(value_name = "ID", value_parser = parse_token_id)]
        id: TokenId,
        /// Keep the old token working this long (0 to 1440)
        #[arg(long, default_value = "0", value_parser = parse_overlap)]
        overlap_minutes: i64,
    },
    /// Revoke tokens by id
    Revoke {
        #[arg(value_name = "ID", required = true, value_parser = parse_token_id)]
        ids: Vec<TokenId>,
    },
    /// Suspend a token: refused until resumed (revoking stays final)
    Suspend {
        #[arg(value_name = "ID", value_parser = parse_token_id)]
        id: TokenId,
    },
    /// Resume a suspended token
    Resume {
        #[arg(value_name = "ID", value_parser = parse_token_id)]
        id: TokenId,
    },
    /// Revoke tokens unused (or never used) for N days
    #[command(name = "prune-inactive")]
    PruneInactive {
        /// 1 to 3650
        #[arg(long, value_parser = parse_days)]
        days: u32,
        /// Only list what would be revoked
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Revoke every token issued before now, of one member, one service
    /// account or the whole organisation; tokens made afterwards work
    #[command(name = "revoke-all")]
    #[command(group(clap::ArgGroup::new("whose").required(true).args(["email", "service_account", "org"])))]
    RevokeAll {
        /// A member's tokens
        #[arg(long, value_parser = parse_email)]
        email: Option<Email>,
        /// A service account's tokens
        #[arg(long, value_name = "NAME", value_parser = parse_service_name)]
        service_account: Option<ServiceName>,
        /// Every token of the organisation
        #[arg(long)]
        org: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ScopeCommand {
    /// Add a scope to the catalogue
    Add {
        /// e.g. billing:read (lowercase, up to 4 parts joined by ':')
        #[arg(value_name = "NAME", value_parser = parse_scope)]
        name: Scope,
        /// What the scope allows (1 to 200 characters)
        #[arg(long)]
        description: String,
        /// The lowest role that may grant and use it
        #[arg(long, value_parser = parse_role)]
        min_role: Role,
        /// The group the generate form shows it under
        #[arg(long, default_value = "")]
        group: String,
    },
    /// List scopes, active and retired
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Retire a scope: no token can use it from its next request
    Retire {
        #[arg(value_name = "NAME", value_parser = parse_scope)]
        name: Scope,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceAccountCommand {
    /// Add a service account (no password: it uses tokens only)
    Add {
        /// 1–64 characters: a-z, 0-9, '.', '_' and '-'
        #[arg(long, value_parser = parse_service_name)]
        name: ServiceName,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List service accounts
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Disable a service account: its tokens stop working at once
    Disable {
        #[arg(long, value_parser = parse_service_name)]
        name: ServiceName,
    },
}

/// Why the command line stopped.
#[derive(Debug)]
pub enum Failure {
    /// A bad flag, value or setting: exit 2.
    Usage(String),
    /// The command was refused or failed: exit 1.
    Failed(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Failed(describe(e))
    }
}

impl From<crate::db::StoreError> for Failure {
    fn from(e: crate::db::StoreError) -> Self {
        Failure::Failed(crate::error::chain(&e))
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Failed(message)
    }
}

/// Runs the command line and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match parse::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(parse::Parsed::Shown) => return ExitCode::SUCCESS,
        Err(parse::Parsed::Invalid(message)) => {
            eprintln!("{message} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {}", one_line(&message));
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("error: {}", one_line(&message));
            ExitCode::from(1)
        }
    }
}

/// Database drivers answer in several lines; the operator gets one.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> Result<(), Failure> {
    let url = cli.database_url;
    let format = cli.token_prefix;
    match cli.command {
        None => Err(Failure::Usage("no command".into())),
        Some(Command::Serve(settings)) => crate::startup::serve(&url, format, &settings),
        Some(Command::Migrate) => {
            let service = open(&url, format, 1, Create::Yes)?;
            drop(service);
            println!("Database {} is up to date.", shown(&url));
            Ok(())
        }
        Some(Command::Backup { path }) => files::backup(&url, &path),
        Some(Command::Restore { path }) => files::restore(&url, &path),
        Some(Command::User(cmd)) => members::run(&*open(&url, format, 2, Create::No)?, cmd),
        Some(Command::Token(cmd)) => tokens::run(&*open(&url, format, 2, Create::No)?, cmd),
        Some(Command::Scope(cmd)) => scopes::run(&*open(&url, format, 2, Create::No)?, cmd),
        Some(Command::ServiceAccount(cmd)) => {
            service_accounts::run(&*open(&url, format, 2, Create::No)?, cmd)
        }
    }
}

/// Whether a command may create a SQLite database that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Yes,
    No,
}

/// The database as the operator should read it: a SQLite file by its
/// absolute path (a relative path depends on where the command runs).
pub fn shown(url: &DbUrl) -> String {
    match url {
        DbUrl::Sqlite { path } => std::path::absolute(path)
            .map(|p| format!("sqlite://{}", p.display()))
            .unwrap_or_else(|_| url.to_string()),
        DbUrl::Postgres { .. } => url.to_string(),
    }
}

/// The service a command works with, holding the SQLite database's lock
/// as a server does: a restore cannot replace the file under a write.
pub struct Opened {
    service: Latchkey,
    _lock: Option<crate::db::backup::ServeLock>,
}

impl std::ops::Deref for Opened {
    type Target = Latchkey;

    fn deref(&self) -> &Latchkey {
        &self.service
    }
}

/// Opens the database for a command. Only `serve` and `migrate` create a
/// SQLite file: any other command run in the wrong directory would
/// otherwise work on a new, empty database without a word.
pub fn open(
    url: &DbUrl,
    format: TokenFormat,
    pool_size: u32,
    create: Create,
) -> Result<Opened, Failure> {
    let lock = match url {
        DbUrl::Sqlite { path } => {
            if create == Create::No && !std::path::Path::new(path).exists() {
                return Err(Failure::Failed(format!(
                    "there is no database at {}: run this where `latchkey serve` keeps it, set DATABASE_URL, or create it with `latchkey migrate`",
                    shown(url)
                )));
            }
            Some(crate::db::backup::lock_for_serving(path)?)
        }
        DbUrl::Postgres { .. } => None,
    };
    // Commands (not `serve`) exit soon: no idle connections kept warm.
    let service = Latchkey::open_with(url, pool_size, false, Clock::default(), format)?;
    Ok(Opened {
        service,
        _lock: lock,
    })
}

/// One line for the operator, naming the flag a field came from.
fn describe(e: Error) -> String {
    match e {
        Error::Invalid(field) => {
            let flag = match field.field {
                "expires_on" | "expires_in" => "--expires-on",
                "name" => "--name",
                "email" => "--email",
                "scopes" => "--scope",
                "ids" => "ID",
                other => other,
            };
            format!("{flag}: {}", field.message)
        }
        // The operator at the terminal gets the cause too: it is theirs to fix.
        other => other.chain(),
    }
}
