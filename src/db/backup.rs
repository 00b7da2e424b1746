//! SQLite backup and restore. PostgreSQL has its own tools (pg_dump and
//! pg_restore; see docs/backup.md).
//!
//! `serve` holds a shared lock on `<database>.lock` for as long as it
//! runs; `restore` takes it exclusively, so it cannot replace a database a
//! server is using, and no server starts while a restore runs.

use super::StoreError;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{QueryableByName, SqliteConnection};
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Held by `serve` for its lifetime.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

fn lock_path(db: &str) -> PathBuf {
    PathBuf::from(format!("{db}.lock"))
}

fn open_lock(db: &str) -> Result<File, StoreError> {
    let path = lock_path(db);
    // Private: a lock file others could open, they could lock, and keep
    // every server from starting.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(PRIVATE_FILE)
        .open(&path)
        .map_err(|e| {
            StoreError::failed(format!("cannot open the lock file {}", path.display()), e)
        })?;
    make_private(&path)?;
    Ok(file)
}

/// `rw-------`: the database holds password hashes and the session key.
pub const PRIVATE_FILE: u32 = 0o600;

/// Takes group and other permissions off `path` (when it exists).
pub fn make_private(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE)).map_err(
                |e| StoreError::failed(format!("cannot make {} private", path.display()), e),
            )
        }
        _ => Ok(()),
    }
}

/// Creates the SQLite database file (empty, private) when it does not
/// exist, and makes it and its `-wal` and `-shm` private when they do:
/// SQLite gives the files it creates the database file's permissions.
pub fn secure_database_files(db: &str) -> Result<(), StoreError> {
    let path = Path::new(db);
    if std::fs::symlink_metadata(path).is_err() {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::failed(format!("cannot create {db}"), e)),
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        make_private(Path::new(&format!("{db}{suffix}")))?;
    }
    Ok(())
}

/// Taken by `serve`; several servers may share a database file.
pub fn lock_for_serving(db: &str) -> Result<ServeLock, StoreError> {
    let file = open_lock(db)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(StoreError::refused(format!(
            "{db} is being restored (`latchkey restore` holds it); try again when it has finished"
        ))),
        Err(TryLockError::Error(e)) => Err(StoreError::failed(
            format!("cannot lock {}", lock_path(db).display()),
            e,
        )),
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
pub fn inspect(path: &Path) -> Result<Contents, StoreError> {
    let shown = path.display();
    if !path.is_file() {
        return Err(StoreError::refused(format!(
            "{shown} does not exist or is not a file"
        )));
    }
    let location = path
        .to_str()
        .ok_or_else(|| StoreError::refused(format!("{shown} is not a UTF-8 path")))?;
    let mut conn = SqliteConnection::establish(location)
        .map_err(|e| StoreError::failed(format!("cannot open {shown}"), e))?;
    let check: Vec<Line> =
        diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check")
            .load(&mut conn)
            .map_err(|e| StoreError::failed(format!("{shown} is not a SQLite database"), e))?;
    if check.len() != 1 || check[0].line != "ok" {
        let first = check.first().map_or("no answer", |l| l.line.as_str());
        return Err(StoreError::refused(format!("{shown} is damaged: {first}")));
    }
    let count = |conn: &mut SqliteConnection, table: &str| {
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(conn)
            .map(|c| c.n)
            .map_err(|_| {
                StoreError::refused(format!(
                    "{shown} is not a Latchkey database (no {table} table)"
                ))
            })
    };
    Ok(Contents {
        members: count(&mut conn, "members")?,
        tokens: count(&mut conn, "api_tokens")?,
        audit_events: count(&mut conn, "audit_events")?,
    })
}

/// A consistent copy of the database at `db` into `dest`, taken in one
/// read transaction (`VACUUM INTO`) while servers keep writing.
///
/// The copy is written private (0600) in a private directory beside
/// `dest`, then linked into place: an existing file or a symlink at
/// `dest` is refused, never followed or overwritten.
pub fn backup(db: &str, dest: &Path) -> Result<Contents, StoreError> {
    if !Path::new(db).is_file() {
        return Err(StoreError::refused(format!("{db} does not exist")));
    }
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(StoreError::refused(format!(
            "{} already exists; give a new file name",
            dest.display()
        )));
    }
    // Shared, like a server: a restore cannot swap the file mid-copy.
    let lock = open_lock(db)?;
    match lock.try_lock_shared() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::refused(format!(
                "{db} is being restored; back up when it has finished"
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(StoreError::failed(
                format!("cannot lock {}", lock_path(db).display()),
                e,
            ));
        }
    }
    let mut conn = SqliteConnection::establish(db)
        .map_err(|e| StoreError::failed(format!("cannot open {db}"), e))?;
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .map_err(|e| StoreError::failed(format!("cannot open {db}"), e))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let suffix = crate::domain::bytes::random_hex(8)
        .map_err(|e| StoreError::failed("no randomness for a file name", e))?;
    let staging = parent.join(format!(".latchkey-backup-{suffix}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(|e| StoreError::failed(format!("cannot write in {}", parent.display()), e))?;
    let result = copy_into_place(&mut conn, &staging.join("backup.db"), dest);
    let _ = std::fs::remove_dir_all(&staging);
    drop(lock);
    result
}

/// Copies `from` to a new private file at `to`. A file left there by a
/// restore that was interrupted is replaced; anything else (a symlink, a
/// directory) is refused, never followed.
fn write_private_copy(from: &Path, to: &Path) -> Result<(), StoreError> {
    if let Ok(meta) = std::fs::symlink_metadata(to) {
        if !meta.is_file() {
            return Err(StoreError::refused(format!(
                "{} exists and is not a plain file; remove it first",
                to.display()
            )));
        }
        std::fs::remove_file(to)
            .map_err(|e| StoreError::failed(format!("cannot remove {}", to.display()), e))?;
    }
    let mut source = File::open(from)
        .map_err(|e| StoreError::failed(format!("cannot read {}", from.display()), e))?;
    // `create_new` fails on anything that appeared meanwhile, links too.
    let mut copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(to)
        .map_err(|e| StoreError::failed(format!("cannot write {}", to.display()), e))?;
    std::io::copy(&mut source, &mut copy)
        .and_then(|_| copy.sync_all())
        .map_err(|e| StoreError::failed(format!("cannot write {}", to.display()), e))
}

/// `VACUUM INTO` a file of the private staging directory, then a hard link
/// at `dest` (which fails, rather than follows, when anything is there).
fn copy_into_place(
    conn: &mut SqliteConnection,
    staged: &Path,
    dest: &Path,
) -> Result<Contents, StoreError> {
    let target = staged
        .to_str()
        .ok_or_else(|| StoreError::refused(format!("{} is not a UTF-8 path", dest.display())))?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(conn)
        .map_err(|e| StoreError::failed(format!("cannot write {}", dest.display()), e))?;
    std::fs::set_permissions(staged, std::fs::Permissions::from_mode(PRIVATE_FILE))
        .map_err(|e| StoreError::failed(format!("cannot make {} private", dest.display()), e))?;
    let contents = inspect(staged)?;
    std::fs::hard_link(staged, dest).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => StoreError::refused(format!(
            "{} already exists; give a new file name",
            dest.display()
        )),
        _ => StoreError::failed(format!("cannot write {}", dest.display()), e),
    })?;
    Ok(contents)
}

/// Replaces the database at `db` by the backup at `from`. Refuses while a
/// server holds the database. The database it replaces is kept beside it
/// as `<db>.before-restore-<unix time>`.
pub fn restore(
    db: &str,
    from: &Path,
    now_unix: i64,
) -> Result<(Contents, Option<PathBuf>), StoreError> {
    let contents = inspect(from)?;
    let lock = open_lock(db)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::refused(format!(
                "{db} is in use by a running `latchkey serve`; stop every server using it, then restore"
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(StoreError::failed(
                format!("cannot lock {}", lock_path(db).display()),
                e,
            ));
        }
    }
    let db_path = Path::new(db);
    let kept = if db_path.exists() {
        let aside = PathBuf::from(format!("{db}.before-restore-{now_unix}"));
        std::fs::rename(db_path, &aside)
            .map_err(|e| StoreError::failed(format!("cannot move {db} aside"), e))?;
        // Its write-ahead log belongs with it.
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{db}{suffix}"));
            if side.exists() {
                std::fs::rename(&side, format!("{}{suffix}", aside.display())).map_err(|e| {
                    StoreError::failed(format!("cannot move {} aside", side.display()), e)
                })?;
            }
        }
        Some(aside)
    } else {
        None
    };
    let partial = PathBuf::from(format!("{db}.restoring"));
    write_private_copy(from, &partial)?;
    std::fs::rename(&partial, db_path)
        .map_err(|e| StoreError::failed("cannot put the copy in place", e))?;
    drop(lock);
    Ok((contents, kept))
}
