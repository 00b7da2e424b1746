//! Storage: one binary, SQLite or PostgreSQL chosen by the URL's scheme.

pub mod audit;
pub mod backup;
pub mod changes;
pub mod check_leases;
pub mod credentials;
pub mod form_nonces;
pub mod login_attempts;
pub mod members;
mod models;
pub mod organisations;
pub mod rate_limits;
pub mod recovery_codes;
pub mod revocations;
pub mod schema;
pub mod scopes;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod usage;
pub mod webhooks;

pub use models::*;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Any key works; this one only keeps two instances from migrating at once.
const MIGRATION_LOCK_KEY: i64 = 0x6c61_7463_686b_6579;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a database could not be opened, migrated, backed up or restored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Refused as things stand; the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// `doing` failed, for its source's reason.
    #[error("{doing}")]
    Failed {
        doing: String,
        #[source]
        source: Cause,
    },
}

impl StoreError {
    pub fn failed(doing: impl Into<String>, source: impl Into<Cause>) -> StoreError {
        StoreError::Failed {
            doing: doing.into(),
            source: source.into(),
        }
    }

    pub fn refused(message: impl Into<String>) -> StoreError {
        StoreError::Refused(message.into())
    }
}

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite { path: String },
    Postgres { url: String },
}

impl DbUrl {
    pub fn parse(raw: &str) -> Result<DbUrl, crate::domain::Malformed> {
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(crate::domain::Malformed(
                    "DATABASE_URL sqlite:// needs a file path, e.g. sqlite://latchkey.db".into(),
                ));
            }
            return Ok(DbUrl::Sqlite {
                path: path.to_owned(),
            });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres {
                url: raw.to_owned(),
            });
        }
        Err(crate::domain::Malformed(format!(
            "DATABASE_URL {:?} is not supported: use sqlite://PATH or postgres://USER@HOST/DB",
            redact_url(raw)
        )))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite { .. })
    }
}

/// Shows a URL without its password.
fn redact_url(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &raw[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &raw[..scheme_end + 3], &raw[at..]),
                None => raw.to_owned(),
            }
        }
        _ => raw.to_owned(),
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite { path } => write!(f, "sqlite://{path}"),
            DbUrl::Postgres { url } => f.write_str(&redact_url(url)),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

/// An r2d2 manager that opens exactly the backend the URL names, so that a
/// PostgreSQL error is reported as such (and SQLite never takes a postgres
/// URL for a file name).
pub struct DbManager {
    url: DbUrl,
}

impl r2d2::ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        match &self.url {
            DbUrl::Sqlite { path } => {
                let mut conn = diesel::SqliteConnection::establish(path)?;
                // One statement per pragma: batch_execute runs them all.
                // busy_timeout first: the other pragmas may wait for a
                // connection that is setting up the same file.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA cache_size = -1024;",
                )?;
                Ok(DbConnection::Sqlite(conn))
            }
            DbUrl::Postgres { url } => {
                let mut conn = diesel::PgConnection::establish(url)?;
                // Whatever the server's default: under REPEATABLE READ two
                // writers of different tokens would clash on the check
                // epoch (and the locking here assumes READ COMMITTED).
                conn.batch_execute(
                    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                )?;
                conn.set_instrumentation(check_leases::ChangeWatch::default());
                Ok(DbConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.ping().map_err(DbError::Query)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        if std::thread::panicking() || conn.is_broken() {
            return true;
        }
        // Cheap in normal times; right after an error, a PostgreSQL
        // connection must prove it still works before it is kept.
        matches!(conn, DbConnection::Postgres(_)) && connections_suspect() && conn.ping().is_err()
    }
}

pub type Pool = r2d2::Pool<DbManager>;
pub type PooledConn = r2d2::PooledConnection<DbManager>;

/// Opens a pool; fails fast (a few seconds) when the database is unreachable.
///
/// Short-lived commands pass `keep_idle = false`: an idle connection being
/// opened by r2d2's background thread while the process exits can crash
/// libpq's teardown.
pub fn connect(url: &DbUrl, max_size: u32, keep_idle: bool) -> Result<Pool, StoreError> {
    if let DbUrl::Sqlite { path } = url {
        backup::secure_database_files(path)?;
        // A file that cannot be opened fails now, with SQLite's reason,
        // rather than after the pool's connection timeout.
        r2d2::ManageConnection::connect(&DbManager { url: url.clone() })
            .map_err(|e| StoreError::failed(format!("cannot open database {url}"), e))?;
    }
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(u32::from(keep_idle)))
        // No `SELECT 1` before every use: that doubled the cost of a token
        // check. A connection that fails is reported by `has_broken`.
        .test_on_check_out(false)
        // Also bounds the pause between reconnection attempts (half of it)
        // while the database is down: back within 1.5 s of it answering.
        .connection_timeout(Duration::from_secs(3))
        .error_handler(Box::new(r2d2::LoggingErrorHandler))
        .build(DbManager { url: url.clone() })
        .map_err(|e| StoreError::failed(format!("cannot open database {url}"), e))?;
    // Without idle connections `build` connects to nothing: try once now so
    // a bad URL fails here, with the driver's reason.
    drop(
        pool.get()
            .map_err(|e| StoreError::failed(format!("cannot open database {url}"), e))?,
    );
    Ok(pool)
}

/// Applies pending migrations; returns how many ran. Refuses a database
/// that a newer Latchkey migrated: this binary does not know its schema.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let applied = apply_migrations(conn)?;
    let unknown = match conn {
        DbConnection::Sqlite(c) => unknown_migration(c, SQLITE_MIGRATIONS),
        DbConnection::Postgres(c) => unknown_migration(c, POSTGRES_MIGRATIONS),
    }?;
    if let Some(version) = unknown {
        return Err(StoreError::refused(format!(
            "the database was upgraded by a newer Latchkey (it has migration {version}, which this version does not know); run that newer version, or restore the backup taken before the upgrade"
        )));
    }
    Ok(applied)
}

/// An applied migration this binary does not embed, if any.
fn unknown_migration<C>(
    conn: &mut C,
    embedded: EmbeddedMigrations,
) -> Result<Option<String>, StoreError>
where
    C: MigrationHarness<<C as diesel::Connection>::Backend> + diesel::Connection,
{
    use diesel::migration::MigrationSource;
    let known: Vec<String> =
        MigrationSource::<<C as diesel::Connection>::Backend>::migrations(&embedded)
            .map_err(|e| StoreError::failed("cannot read the embedded migrations", e))?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
    let applied = conn
        .applied_migrations()
        .map_err(|e| StoreError::failed("cannot read the applied migrations", e))?;
    Ok(applied
        .into_iter()
        .map(|v| v.to_string())
        .find(|v| !known.contains(v)))
}

fn apply_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Postgres(c) => {
            let lock = format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})");
            c.batch_execute(&lock)
                .map_err(|e| StoreError::failed("cannot lock for migration", e))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            let unlock = format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})");
            let _ = c.batch_execute(&unlock);
            result
        }
    };
    applied.map_err(|e| StoreError::failed("migration failed", e))
}

/// How many embedded migrations are not applied yet; an error when the
/// database cannot be asked.
pub fn pending_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let pending = match conn {
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Postgres(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
    };
    pending.map_err(|e| {
        note_failure();
        StoreError::failed("cannot read the applied migrations", e)
    })
}

/// Until when (Unix milliseconds) connections given back to a pool are
/// checked before they are kept: set by a database error, so that after a
/// PostgreSQL restart the broken connections are dropped at once instead
/// of failing one request each, for as long as the pool holds them.
static SUSPECT_UNTIL_MS: AtomicI64 = AtomicI64::new(0);
const SUSPECT_FOR_MS: i64 = 5_000;

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    now.unix_timestamp() * 1000 + i64::from(now.millisecond())
}

/// Called on a database error that may mean broken connections.
pub fn note_failure() {
    SUSPECT_UNTIL_MS.store(now_ms() + SUSPECT_FOR_MS, Ordering::Relaxed);
}

fn connections_suspect() -> bool {
    SUSPECT_UNTIL_MS.load(Ordering::Relaxed) > now_ms()
}

/// Runs `f` in a transaction that takes the write lock up front.
///
/// On SQLite a deferred transaction that reads and then writes can fail with
/// SQLITE_BUSY when another writer got in between; `BEGIN IMMEDIATE` waits
/// (busy_timeout) instead. On PostgreSQL this is an ordinary transaction.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    let end = match (&result, &mut *conn) {
        (Ok(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
        (Ok(_), DbConnection::Postgres(c)) => AnsiTransactionManager::commit_transaction(c),
        (Err(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
        (Err(_), DbConnection::Postgres(c)) => AnsiTransactionManager::rollback_transaction(c),
    };
    match result {
        Ok(value) => end.map(|()| value).map_err(E::from),
        Err(e) => Err(e),
    }
}

/// Serialises changes to an organisation's members on PostgreSQL (two
/// admins demoting each other at once must not leave no admin); SQLite's
/// `BEGIN IMMEDIATE` already serialises all writers.
pub fn lock_organisation(conn: &mut DbConnection, org_id: i64) -> QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(org_id)
            .execute(c)?;
    }
    Ok(())
}

/// Serialises writers that touch one member's tokens (PostgreSQL; SQLite's
/// `BEGIN IMMEDIATE` already serialises all writers).
pub fn lock_member(conn: &mut DbConnection, member_id: i64) -> QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query("SELECT id FROM members WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(member_id)
            .execute(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_explicitly() {
        assert_eq!(
            DbUrl::parse("sqlite://latchkey.db"),
            Ok(DbUrl::Sqlite {
                path: "latchkey.db".into()
            })
        );
        assert!(matches!(
            DbUrl::parse("postgres://u@h/db"),
            Ok(DbUrl::Postgres { .. })
        ));
        assert!(DbUrl::parse("latchkey.db").is_err());
        assert!(DbUrl::parse("sqlite://").is_err());
        assert!(DbUrl::parse("mysql://root@h/db").is_err());
    }

    #[test]
    fn passwords_never_shown() {
        let url = DbUrl::parse("postgres://app:s3cret@db/latchkey").expect("valid");
        assert_eq!(url.to_string(), "postgres://app:***@db/latchkey");
        let err = DbUrl::parse("pg://app:s3cret@db/x").expect_err("unsupported");
        assert!(!err.0.contains("s3cret"));
    }
}
