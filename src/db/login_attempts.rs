//! The `login_attempts` table: what sign-in limits count, for every
//! instance at once.

use super::DbConnection;
use super::schema::login_attempts as la;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// Any key works; it serialises the count-and-record step of sign-ins on
/// PostgreSQL (SQLite's `BEGIN IMMEDIATE` already serialises writers).
const SIGN_IN_LOCK_KEY: i64 = 0x6c6b_5f6c_6f67_696e;

/// Holds the sign-in lock until the transaction ends.
pub fn lock(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SIGN_IN_LOCK_KEY})"))
            .execute(c)?;
    }
    Ok(())
}

/// Failed attempts for this email from this address since `since`, oldest
/// first.
pub fn failures(
    conn: &mut DbConnection,
    email: &str,
    address: &str,
    since: PrimitiveDateTime,
) -> QueryResult<Vec<PrimitiveDateTime>> {
    la::table
        .filter(la::email.eq(email))
        .filter(la::ip_prefix.eq(address))
        .filter(la::succeeded.eq(false))
        .filter(la::created_at.gt(since))
        .select(la::created_at)
        .order(la::created_at.asc())
        .load(conn)
}

/// Every attempt from this address since `since`, oldest first.
pub fn from_address(
    conn: &mut DbConnection,
    address: &str,
    since: PrimitiveDateTime,
) -> QueryResult<Vec<PrimitiveDateTime>> {
    la::table
        .filter(la::ip_prefix.eq(address))
        .filter(la::created_at.gt(since))
        .select(la::created_at)
        .order(la::created_at.asc())
        .load(conn)
}

/// Records an attempt (as a failure until it is known to have succeeded).
pub fn insert(
    conn: &mut DbConnection,
    email: &str,
    ip: Option<&str>,
    address: &str,
    now: PrimitiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(la::table)
        .values((
            la::email.eq(email),
            la::ip.eq(ip),
            la::ip_prefix.eq(address),
            la::succeeded.eq(false),
            la::created_at.eq(now),
        ))
        .returning(la::id)
        .get_result(conn)
}

pub fn mark_succeeded(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    diesel::update(la::table.find(id))
        .set(la::succeeded.eq(true))
        .execute(conn)
}

/// Forgets an attempt that was never checked (the server was too busy).
pub fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(la::table.find(id)).execute(conn)
}

/// Failures older than `before` serve no one; successes stay (the
/// previous sign-in dates what to announce).
pub fn prune_failures(conn: &mut DbConnection, before: PrimitiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        la::table
            .filter(la::succeeded.eq(false))
            .filter(la::created_at.lt(before)),
    )
    .execute(conn)
}
