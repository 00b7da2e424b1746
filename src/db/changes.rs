//! Whether what a token check reads changed since a moment. A cache of
//! token credentials asks this before every answer, so it answers without
//! reading the token again yet sees every commit, by any connection of any
//! process or instance, on the next request.
//!
//! - SQLite (WAL): the WAL-index header at the start of `<db>-shm`
//!   changes with every commit (its change counter and last frame). One
//!   `pread` of 96 bytes: no lock, no query. A connection held open for
//!   the watcher's life keeps the file in place (SQLite removes it when
//!   the last connection closes).
//! - PostgreSQL: the check epoch (`check_epoch`), which a trigger moves on
//!   in every transaction that changes what a check reads (the columns of
//!   tokens and members it reads, the organisation, the scope catalogue),
//!   whoever commits it. Read by each lease renewal
//!   (`check_leases`), or, without a lease, once per batch of lookups.

use diesel::prelude::*;
use diesel::sql_types::Text;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// The state of the database at one moment; equal marks mean nothing was
/// committed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Sqlite([u8; HEADER_LEN]),
    Postgres(i64),
}

/// One copy of SQLite's `WalIndexHdr`; the file holds two, written one
/// after the other by a committing writer.
const HEADER_LEN: usize = 48;

/// Watches an SQLite database in WAL mode.
pub struct SqliteWatch {
    shm: File,
    /// Keeps `<db>-shm` from being removed while we read it (in a mutex
    /// only to be shared between threads; never used).
    _keep_open: std::sync::Mutex<SqliteConnection>,
}

impl SqliteWatch {
    /// `None` when the database is not in WAL mode or its shared-memory
    /// file cannot be read (the cache is then not used).
    pub fn open(path: &str) -> Option<SqliteWatch> {
        let mut conn = SqliteConnection::establish(path).ok()?;
        #[derive(QueryableByName)]
        struct Mode {
            #[diesel(sql_type = Text)]
            journal_mode: String,
        }
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut conn)
            .ok()?;
        if !mode.journal_mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let shm = File::open(format!("{path}-shm")).ok()?;
        let watch = SqliteWatch {
            shm,
            _keep_open: std::sync::Mutex::new(conn),
        };
        watch.mark().map(|_| watch)
    }

    /// The header as it is now; `None` while a commit is being written
    /// (the two copies differ) or the file cannot be read.
    pub fn mark(&self) -> Option<Mark> {
        let mut both = [0u8; 2 * HEADER_LEN];
        self.shm.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER_LEN);
        if first != second {
            return None;
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(first);
        Some(Mark::Sqlite(header))
    }
}

/// The query that reads the PostgreSQL check epoch (also sent by the
/// lease holder and each worker's mark connection).
pub const EPOCH: &str = "SELECT n FROM check_epoch";

#[derive(QueryableByName)]
struct Epoch {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The PostgreSQL check epoch.
pub fn postgres_mark(conn: &mut PgConnection) -> QueryResult<Mark> {
    diesel::sql_query(EPOCH)
        .get_result::<Epoch>(conn)
        .map(|e| Mark::Postgres(e.n))
}
