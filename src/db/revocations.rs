//! `revocation_events`: what the revocation feed announces. Rows are
//! written inside the transaction that stops (or narrows) the tokens; on
//! PostgreSQL a `NOTIFY` in the same transaction wakes every instance's
//! feed when it commits, and never before.

use super::DbConnection;
use super::schema::{api_tokens as t, revocation_events as r};
use crate::domain::bytes::to_hex;
use diesel::prelude::*;
use std::time::Duration;
use time::PrimitiveDateTime;

/// The PostgreSQL channel the feed listens on.
pub const CHANNEL: &str = "latchkey_revocations";

/// Serialises announcements on PostgreSQL (any constant of our own).
const ANNOUNCE_LOCK_KEY: i64 = 0x1a7c_4e70_0000_0003;

/// One announcement: a token's SHA-256 (hex) and why.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct RevocationRow {
    pub id: i64,
    pub token_hash: String,
    pub reason: String,
    pub created_at: PrimitiveDateTime,
}

/// Announces the tokens with these ids (any state: a token already
/// stopped is announced again, harmlessly).
pub fn announce_ids(
    conn: &mut DbConnection,
    ids: &[i64],
    reason: &str,
    now: PrimitiveDateTime,
) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let hashes: Vec<Vec<u8>> = t::table
        .filter(t::id.eq_any(ids))
        .select(t::token_hash)
        .load(conn)?;
    announce_hashes(conn, &hashes, reason, now)
}

/// Announces tokens by their stored hash.
pub fn announce_hashes(
    conn: &mut DbConnection,
    hashes: &[Vec<u8>],
    reason: &str,
    now: PrimitiveDateTime,
) -> QueryResult<usize> {
    if hashes.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = hashes
        .iter()
        .map(|h| {
            (
                r::token_hash.eq(to_hex(h)),
                r::reason.eq(reason),
                r::created_at.eq(now),
            )
        })
        .collect();
    // PostgreSQL hands out ids when rows are inserted, not when they
    // commit: without one writer at a time, a later id could commit first
    // and the feed (which reads "after the last id") would skip the
    // earlier one for good. The lock is held until this transaction ends.
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({ANNOUNCE_LOCK_KEY})"))
            .execute(c)?;
    }
    let mut written = 0;
    // Within SQLite's limit on bound parameters per statement.
    for chunk in rows.chunks(200) {
        let chunk = chunk.to_vec();
        written += match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(r::table).values(chunk).execute(c)?,
            DbConnection::Postgres(c) => diesel::insert_into(r::table).values(chunk).execute(c)?,
        };
    }
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(c)?;
    }
    Ok(written)
}

/// Announcements after `after`, oldest first.
pub fn after(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<RevocationRow>> {
    r::table
        .filter(r::id.gt(after))
        .order(r::id.asc())
        .limit(limit)
        .load(conn)
}

/// The newest announcement's id (0 when there is none).
pub fn last_id(conn: &mut DbConnection) -> QueryResult<i64> {
    let last: Option<i64> = r::table.select(diesel::dsl::max(r::id)).first(conn)?;
    Ok(last.unwrap_or(0))
}

/// The oldest announcement still kept, if any.
pub fn first_id(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    r::table.select(diesel::dsl::min(r::id)).first(conn)
}

/// Forgets announcements older than `before`.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> QueryResult<usize> {
    diesel::delete(r::table.filter(r::created_at.lt(before))).execute(conn)
}

/// A PostgreSQL connection that listens on the feed's channel.
pub struct Listener(PgConnection);

impl Listener {
    pub fn open(url: &str) -> ConnectionResult<Listener> {
        let mut conn = PgConnection::establish(url)?;
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(&mut conn)
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(Listener(conn))
    }

    /// Waits up to `timeout` for a notification; true when one came. An
    /// error means the connection is gone (open another).
    pub fn wait(&mut self, timeout: Duration) -> QueryResult<bool> {
        let step = Duration::from_millis(20);
        let started = std::time::Instant::now();
        loop {
            let mut came = false;
            for note in self.0.notifications_iter() {
                note?;
                came = true;
            }
            if came {
                return Ok(true);
            }
            if started.elapsed() >= timeout {
                return Ok(false);
            }
            std::thread::sleep(step);
        }
    }
}
