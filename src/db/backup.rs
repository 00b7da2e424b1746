//! SQLite backup and restore. PostgreSQL has its own tools (pg_dump and
//! pg_restore; see docs/backup.md).
//!
//! `serve` holds a shared lock on `<database>.lock` for as long as it
//! runs; `restore` takes it exclusively, so it cannot replace a database a
//! server is using, and no server starts while a restore runs.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{QueryableByName, SqliteConnection};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Held by `serve` for its lifetime.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

fn lock_path(db: &str) -> PathBuf {
    PathBuf::from(format!("{db}.lock"))
}

fn open_lock(db: &str) -> Result<File, String> {
    let path = lock_path(db);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))
}

/// Taken by `serve`; several servers may share a database file.
pub fn lock_for_serving(db: &str) -> Result<ServeLock, String> {
    let file = open_lock(db)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(format!(
            "{db} is being restored (`latchkey restore` holds it); start the server when it has finished"
        )),
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", lock_path(db).display())),
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// What a backup or restore holds, for the operator.
#[derive(Debug, Clone, Copy)]
pub struct Contents {
    pub members: i64,
    pub tokens: i64,
    pub audit_events: i64,
}

/// Checks that `path` is a sound SQLite file made by Latchkey; returns what
/// it holds.
pub fn inspect(path: &Path) -> Result<Contents, String> {
    let shown = path.display();
    if !path.is_file() {
        return Err(format!("{shown} does not exist or is not a file"));
    }
    let location = path
        .to_str()
        .ok_or_else(|| format!("{shown} is not a UTF-8 path"))?;
    let mut conn =
        SqliteConnection::establish(location).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let check: Vec<Line> =
        diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check")
            .load(&mut conn)
            .map_err(|e| format!("{shown} is not a SQLite database: {e}"))?;
    if check.len() != 1 || check[0].line != "ok" {
        let first = check.first().map_or("no answer", |l| l.line.as_str());
        return Err(format!("{shown} is damaged: {first}"));
    }
    let count = |conn: &mut SqliteConnection, table: &str| {
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(conn)
            .map(|c| c.n)
            .map_err(|_| format!("{shown} is not a Latchkey database (no {table} table)"))
    };
    Ok(Contents {
        members: count(&mut conn, "members")?,
        tokens: count(&mut conn, "api_tokens")?,
        audit_events: count(&mut conn, "audit_events")?,
    })
}

/// A consistent copy of the database at `db` into `dest`, taken in one
/// read transaction (`VACUUM INTO`) while servers keep writing.
pub fn backup(db: &str, dest: &Path) -> Result<Contents, String> {
    if !Path::new(db).is_file() {
        return Err(format!("{db} does not exist"));
    }
    let mut conn = SqliteConnection::establish(db).map_err(|e| format!("cannot open {db}: {e}"))?;
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .map_err(|e| format!("cannot open {db}: {e}"))?;
    if dest.exists() {
        return Err(format!(
            "{} already exists; give a new file name",
            dest.display()
        ));
    }
    let target = dest
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", dest.display()))?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(&mut conn)
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    inspect(dest)
}

/// Replaces the database at `db` by the backup at `from`. Refuses while a
/// server holds the database. The database it replaces is kept beside it
/// as `<db>.before-restore-<unix time>`.
pub fn restore(
    db: &str,
    from: &Path,
    now_unix: i64,
) -> Result<(Contents, Option<PathBuf>), String> {
    let contents = inspect(from)?;
    let lock = open_lock(db)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(format!(
                "{db} is in use by a running `latchkey serve`; stop every server using it, then restore"
            ));
        }
        Err(TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", lock_path(db).display()));
        }
    }
    let db_path = Path::new(db);
    let kept = if db_path.exists() {
        let aside = PathBuf::from(format!("{db}.before-restore-{now_unix}"));
        std::fs::rename(db_path, &aside).map_err(|e| format!("cannot move {db} aside: {e}"))?;
        // Its write-ahead log belongs with it.
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{db}{suffix}"));
            if side.exists() {
                std::fs::rename(&side, format!("{}{suffix}", aside.display()))
                    .map_err(|e| format!("cannot move {} aside: {e}", side.display()))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    let partial = PathBuf::from(format!("{db}.restoring"));
    std::fs::copy(from, &partial).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, db_path).map_err(|e| format!("cannot put the copy in place: {e}"))?;
    drop(lock);
    Ok((contents, kept))
}
