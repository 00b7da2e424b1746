//! Whether the database changed since a moment. A cache of token
//! credentials asks this before every answer, so it answers without a
//! query yet sees every commit, by any connection of any process or
//! instance, on the next request.
//!
//! - SQLite (WAL): the WAL-index header at the start of `<db>-shm`
//!   changes with every commit (its change counter and last frame). One
//!   `pread` of 96 bytes: no lock, no query. A connection held open for
//!   the watcher's life keeps the file in place (SQLite removes it when
//!   the last connection closes).
//! - PostgreSQL: the transaction snapshot (`txid_current_snapshot()`)
//!   changes whenever a writing transaction starts or ends. One small
//!   query, shared by a batch of lookups.

use diesel::prelude::*;
use diesel::sql_types::Text;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// The state of the database at one moment; equal marks mean nothing was
/// committed in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Sqlite([u8; HEADER_LEN]),
    Postgres(Vec<u8>),
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

diesel::define_sql_function! {
    /// `xmin:xmax:in-progress…` of the current snapshot, read as its raw
    /// bytes: only compared, never interpreted.
    fn txid_current_snapshot() -> diesel::sql_types::Binary;
}

/// The PostgreSQL snapshot (a prepared statement: no parsing per call).
pub fn postgres_mark(conn: &mut PgConnection) -> QueryResult<Mark> {
    diesel::select(txid_current_snapshot())
        .get_result::<Vec<u8>>(conn)
        .map(Mark::Postgres)
}
