//! The `latchkey` command line (a contract: words and exit codes).
//!
//! Exit codes: 0 success, 1 the command failed (unknown member, database
//! unreachable, a rule refused it), 2 usage error (bad flag or value).

use crate::config::{ServerConfig, token_format_from_env};
use crate::db::DbUrl;
use crate::domain::{
    Email, Expiry, IpAllowList, IpRange, Password, Role, Scope, ScopeSet, TokenId, TokenName,
};
use crate::error::Error;
use crate::service::{Actor, Clock, Latchkey, NewToken, OwnerFilter, StatusFilter, TokenQuery};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Self-hosted API token service: console, token API and CLI",
    after_help = "With no command, `latchkey` runs `serve`."
)]
pub struct Cli {
    /// Database: sqlite://PATH or postgres://USER@HOST/DB
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://latchkey.db",
        global = true,
        value_parser = DbUrl::parse,
        hide_env_values = true
    )]
    database_url: DbUrl,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the console and the token API (the default)
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage organisation members
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
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
        /// Read the password from standard input instead of generating one
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
    /// Set a member's password, read from standard input
    SetPassword {
        #[arg(long, value_parser = parse_email)]
        email: Email,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints only the token on standard output, once
    Create {
        /// The owner's email
        #[arg(long, value_parser = parse_email)]
        email: Email,
        #[arg(long, value_parser = parse_name)]
        name: TokenName,
        /// UTC date; the token stops working at 00:00 UTC on it
        #[arg(long, value_parser = parse_date)]
        expires_on: time::Date,
        /// A scope from the catalogue; repeat for several
        #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// Only requests from this CIDR range (IPv4 or IPv6) may use the
        /// token; repeat for several. Default: any address
        #[arg(long = "allow-ip", value_name = "CIDR", value_parser = parse_range)]
        allow_ips: Vec<IpRange>,
    },
    /// List tokens (never secrets)
    List {
        /// Only this member's tokens
        #[arg(long, value_parser = parse_email)]
        email: Option<Email>,
        /// active, expired, revoked or all
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
}

fn parse_email(s: &str) -> Result<Email, String> {
    Email::parse(s).map_err(|e| e.message)
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse::<Scope>().map_err(|e| {
        let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("{e}; known scopes: {}", names.join(", "))
    })
}

fn parse_range(s: &str) -> Result<IpRange, String> {
    IpRange::parse(s)
}

fn parse_name(s: &str) -> Result<TokenName, String> {
    TokenName::parse(s).map_err(|e| e.message)
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    crate::domain::parse_date(s).map_err(|e| e.to_string())
}

fn parse_status(s: &str) -> Result<StatusFilter, String> {
    StatusFilter::parse(s)
        .ok_or_else(|| "expected active, expiring, expired, revoked or all".to_owned())
}

fn parse_days(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of days from 1 to 3650")),
    }
}

fn parse_overlap(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if (0..=1440).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of minutes from 0 to 1440")),
    }
}

fn parse_token_id(s: &str) -> Result<TokenId, String> {
    s.parse::<TokenId>()
        .map_err(|_| format!("{s:?} is not a token id (a positive number)"))
}

/// Runs the command line and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's message up to the usage block.
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{} (see --help)", message.join(" "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Database drivers answer in several lines; the operator gets one.
            let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {line}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let url = cli.database_url;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&url),
        Command::Migrate => {
            let service = open(&url, 1)?;
            let _ = service;
            println!("Database {url} is up to date.");
            Ok(())
        }
        Command::Backup { path } => backup(&url, &path),
        Command::Restore { path } => restore(&url, &path),
        Command::User(cmd) => user(open(&url, 2)?, cmd),
        Command::Token(cmd) => token(open(&url, 2)?, cmd),
    }
}

fn open(url: &DbUrl, pool_size: u32) -> Result<Latchkey, String> {
    let format = token_format_from_env()?;
    // Commands (not `serve`) exit soon: no idle connections kept warm.
    Latchkey::open_with(url, pool_size, false, Clock::default(), format).map_err(describe)
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
        other => other.to_string(),
    }
}

fn find_member(service: &Latchkey, email: &Email) -> Result<crate::service::Member, String> {
    service.member_by_email(email).map_err(|e| match e {
        Error::NotFound(_) => format!("no member with the email {email}"),
        other => describe(other),
    })
}

fn read_password_stdin() -> Result<Password, String> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = input.strip_suffix('\n').unwrap_or(&input);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Password::parse_new(password).map_err(|e| e.message)
}

fn user(service: Latchkey, cmd: UserCommand) -> Result<(), String> {
    let actor = Actor::cli();
    match cmd {
        UserCommand::Add {
            email,
            role,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (Password::generate().map_err(|e| e.to_string())?, true)
            };
            let member = service
                .add_member(&actor, &email, role, &password)
                .map_err(describe)?;
            if generated {
                println!(
                    "Added {} as {} (id {}). One-time password: {}",
                    member.email,
                    member.role,
                    member.id,
                    password.expose()
                );
                println!(
                    "It is shown only this once; set another with `latchkey user set-password --email {}`.",
                    member.email
                );
            } else {
                println!(
                    "Added {} as {} (id {}).",
                    member.email, member.role, member.id
                );
            }
            Ok(())
        }
        UserCommand::List { json } => {
            let org = service.default_org().map_err(describe)?;
            let members = service.list_members(org).map_err(describe)?;
            if json {
                let out = serde_json::to_string_pretty(&members).map_err(|e| e.to_string())?;
                println!("{out}");
            } else {
                println!("{:<6} {:<40} {:<10} {:<9}", "ID", "EMAIL", "ROLE", "STATUS");
                for m in members {
                    let status = if m.disabled { "disabled" } else { "active" };
                    println!("{:<6} {:<40} {:<10} {:<9}", m.id, m.email, m.role, status);
                }
            }
            Ok(())
        }
        UserCommand::SetRole { email, role } => {
            let member = find_member(&service, &email)?;
            let from = member.role;
            let member = service
                .set_role(&actor, member.id, role)
                .map_err(describe)?;
            println!("{} is now {} (was {from}).", member.email, member.role);
            Ok(())
        }
        UserCommand::Disable { email } => {
            let member = find_member(&service, &email)?;
            service
                .set_disabled(&actor, member.id, true)
                .map_err(describe)?;
            println!(
                "{} is disabled; their tokens stop working at once.",
                member.email
            );
            Ok(())
        }
        UserCommand::Enable { email } => {
            let member = find_member(&service, &email)?;
            service
                .set_disabled(&actor, member.id, false)
                .map_err(describe)?;
            println!("{} is enabled.", member.email);
            Ok(())
        }
        UserCommand::SetPassword { email } => {
            let member = find_member(&service, &email)?;
            let password = read_password_stdin()?;
            service
                .set_password(&actor, member.id, &password)
                .map_err(describe)?;
            println!("Password of {} changed.", member.email);
            Ok(())
        }
    }
}

fn token(service: Latchkey, cmd: TokenCommand) -> Result<(), String> {
    let actor = Actor::cli();
    match cmd {
        TokenCommand::Create {
            email,
            name,
            expires_on,
            scopes,
            allow_ips,
        } => {
            let owner = find_member(&service, &email)?;
            let allowed_ips = IpAllowList::from_ranges(allow_ips)
                .map_err(|e| format!("--allow-ip: {}", e.message))?;
            let created = service
                .create_token(
                    &actor,
                    &owner,
                    NewToken {
                        name,
                        expiry: Expiry::On(expires_on),
                        scopes: scopes.into_iter().collect::<ScopeSet>(),
                        nonce: None,
                        allowed_ips,
                    },
                )
                .map_err(describe)?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", created.secret.expose()).map_err(|e| e.to_string())?;
            Ok(())
        }
        TokenCommand::Expiring { within_days, json } => {
            let tokens = all_tokens(
                &service,
                &actor,
                StatusFilter::ExpiringWithin(within_days),
                OwnerFilter::All,
            )?;
            print_tokens(tokens, json)
        }
        TokenCommand::List {
            email,
            status,
            json,
        } => {
            let owner = match email {
                Some(email) => OwnerFilter::Member(find_member(&service, &email)?.id),
                None => OwnerFilter::All,
            };
            let tokens = all_tokens(&service, &actor, status, owner)?;
            print_tokens(tokens, json)
        }
        TokenCommand::Rotate {
            id,
            overlap_minutes,
        } => {
            let created = service
                .rotate_token(&actor, id, time::Duration::minutes(overlap_minutes))
                .map_err(|e| match e {
                    Error::NotFound(_) => format!("no token with the id {id}"),
                    other => describe(other),
                })?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", created.secret.expose()).map_err(|e| e.to_string())?;
            Ok(())
        }
        TokenCommand::Revoke { ids } => {
            let revoked = service.revoke_tokens(&actor, &ids).map_err(|e| match e {
                Error::NotFound(_) => {
                    "one or more of these token ids do not exist; nothing was revoked".to_owned()
                }
                other => describe(other),
            })?;
            let already = ids.len() - revoked;
            match already {
                0 => println!("Revoked {revoked} token(s)."),
                n => println!("Revoked {revoked} token(s); {n} were already revoked."),
            }
            Ok(())
        }
    }
}

/// Every page of a token listing.
fn all_tokens(
    service: &Latchkey,
    actor: &Actor,
    status: StatusFilter,
    owner: OwnerFilter,
) -> Result<Vec<crate::service::TokenView>, String> {
    let mut tokens = Vec::new();
    let mut page = 1;
    loop {
        let result = service
            .list_tokens(
                actor,
                &TokenQuery {
                    status,
                    owner,
                    search: None,
                    page,
                },
            )
            .map_err(describe)?;
        tokens.extend(result.tokens);
        if page >= result.pages {
            return Ok(tokens);
        }
        page += 1;
    }
}

fn print_tokens(tokens: Vec<crate::service::TokenView>, json: bool) -> Result<(), String> {
    if json {
        let out = serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())?;
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<6} {:<30} {:<30} {:<10} {:<8} SCOPES",
        "ID", "OWNER", "NAME", "EXPIRES", "STATUS"
    );
    for t in tokens {
        let expires = t
            .expires_at
            .map_or("never".to_owned(), |e| e.date().to_string());
        let from = if t.allowed_ips.is_empty() {
            String::new()
        } else {
            format!(" (only from {})", t.allowed_ips.join(", "))
        };
        println!(
            "{:<6} {:<30} {:<30} {:<10} {:<8} {}{from}",
            t.id, t.owner_email, t.name, expires, t.status, t.scopes
        );
    }
    Ok(())
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LATCHKEY_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

const PG_BACKUP_HINT: &str =
    "works on SQLite databases; for PostgreSQL use pg_dump and pg_restore (see docs/backup.md)";

fn backup(url: &DbUrl, dest: &std::path::Path) -> Result<(), String> {
    let DbUrl::Sqlite { path } = url else {
        return Err(format!("backup {PG_BACKUP_HINT}"));
    };
    let contents = crate::db::backup::backup(path, dest)?;
    let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    println!(
        "Backed up {path} to {}: {} members, {} tokens, {} audit events ({:.1} MiB).",
        dest.display(),
        contents.members,
        contents.tokens,
        contents.audit_events,
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

fn restore(url: &DbUrl, from: &std::path::Path) -> Result<(), String> {
    let DbUrl::Sqlite { path } = url else {
        return Err(format!("restore {PG_BACKUP_HINT}"));
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (contents, kept) = crate::db::backup::restore(path, from, now)?;
    println!(
        "Restored {path} from {}: {} members, {} tokens, {} audit events.",
        from.display(),
        contents.members,
        contents.tokens,
        contents.audit_events
    );
    if let Some(kept) = kept {
        println!("The database it replaced is kept as {}.", kept.display());
    }
    Ok(())
}

fn serve(url: &DbUrl) -> Result<(), String> {
    let config = ServerConfig::from_env()?;
    // Held until the server stops: `restore` refuses while it is.
    let _serving = match url {
        DbUrl::Sqlite { path } => Some(crate::db::backup::lock_for_serving(path)?),
        DbUrl::Postgres { .. } => None,
    };
    init_logging();
    let pool_size = match std::env::var("LATCHKEY_POOL_SIZE") {
        Ok(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=512).contains(n))
            .ok_or_else(|| format!("LATCHKEY_POOL_SIZE={v:?} must be a number from 1 to 512"))?,
        Err(_) => 8,
    };
    let format = token_format_from_env()?;
    let service = Latchkey::open(url, pool_size, Clock::default(), format).map_err(describe)?;
    if let Some((email, password)) = service.bootstrap_admin().map_err(describe)? {
        println!("Created the first admin.");
        println!("  email:    {email}");
        println!("  password: {}", password.expose());
        println!("This password is shown only once. Set another with:");
        println!(
            "  latchkey user set-password --email {email}   (reads the new password from stdin)"
        );
    }
    actix_web::rt::System::new().block_on(async move {
        let app = crate::startup::Application::build(&config, service)?;
        let host = config.bind.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        println!("Latchkey is listening on http://{host}:{}", app.port());
        tracing::info!(bind = %config.bind, port = app.port(), database = %url, "serving");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}
