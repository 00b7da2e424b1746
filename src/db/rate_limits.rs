//! The `rate_limits` table: fixed-window counters that every instance
//! shares, counted with one atomic statement.

use super::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use time::PrimitiveDateTime;

#[derive(QueryableByName)]
struct Window {
    #[diesel(sql_type = Timestamp)]
    window_start: PrimitiveDateTime,
    #[diesel(sql_type = BigInt)]
    hits: i64,
}

const SQLITE_HIT: &str = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?, ?, 1) \
     ON CONFLICT (bucket) DO UPDATE SET \
     hits = CASE WHEN rate_limits.window_start <= ? THEN 1 ELSE rate_limits.hits + 1 END, \
     window_start = CASE WHEN rate_limits.window_start <= ? THEN excluded.window_start ELSE rate_limits.window_start END \
     RETURNING window_start, hits";

const POSTGRES_HIT: &str = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
     ON CONFLICT (bucket) DO UPDATE SET \
     hits = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
     window_start = CASE WHEN rate_limits.window_start <= $3 THEN excluded.window_start ELSE rate_limits.window_start END \
     RETURNING window_start, hits";

/// Counts one hit in `bucket`'s current window (which started after
/// `window_cutoff`, or starts now); returns the window's start and its
/// hits so far, this one included.
pub fn hit(
    conn: &mut DbConnection,
    bucket: &str,
    now: PrimitiveDateTime,
    window_cutoff: PrimitiveDateTime,
) -> QueryResult<(PrimitiveDateTime, i64)> {
    let window: Window = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(SQLITE_HIT)
            .bind::<Text, _>(bucket)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(window_cutoff)
            .bind::<Timestamp, _>(window_cutoff)
            .get_result(c)?,
        DbConnection::Postgres(c) => diesel::sql_query(POSTGRES_HIT)
            .bind::<Text, _>(bucket)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(window_cutoff)
            .get_result(c)?,
    };
    Ok((window.window_start, window.hits))
}

/// Forgets windows that ended before `before`.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> QueryResult<usize> {
    use super::schema::rate_limits as r;
    diesel::delete(r::table.filter(r::window_start.lt(before))).execute(conn)
}
