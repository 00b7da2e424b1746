//! `latchkey backup` and `latchkey restore` (SQLite; PostgreSQL has
//! pg_dump and pg_restore).

use super::Failure;
use crate::db::DbUrl;

const PG_BACKUP_HINT: &str =
    "works on SQLite databases; for PostgreSQL use pg_dump and pg_restore (see docs/backup.md)";

pub(super) fn backup(url: &DbUrl, dest: &std::path::Path) -> Result<(), Failure> {
    let DbUrl::Sqlite { path } = url else {
        return Err(Failure::Failed(format!("backup {PG_BACKUP_HINT}")));
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

pub(super) fn restore(url: &DbUrl, from: &std::path::Path) -> Result<(), Failure> {
    let DbUrl::Sqlite { path } = url else {
        return Err(Failure::Failed(format!("restore {PG_BACKUP_HINT}")));
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
