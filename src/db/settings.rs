//! The `settings` table: values every instance shares (the cookie key, the
//! token prefixes this installation has used).

use super::DbConnection;
use super::schema::settings as s;
use diesel::prelude::*;

pub fn get(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    s::table.find(key).select(s::value).first(conn).optional()
}

/// Stores `value` unless the key has one; returns the value that is kept
/// (another instance's, when it got there first).
pub fn insert_once(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<String> {
    let row = (s::key.eq(key), s::value.eq(value));
    match conn {
        DbConnection::Sqlite(c) => diesel::insert_into(s::table)
            .values(row)
            .on_conflict(s::key)
            .do_nothing()
            .execute(c)?,
        DbConnection::Postgres(c) => diesel::insert_into(s::table)
            .values(row)
            .on_conflict(s::key)
            .do_nothing()
            .execute(c)?,
    };
    s::table.find(key).select(s::value).first(conn)
}

pub fn set(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<()> {
    let row = (s::key.eq(key), s::value.eq(value));
    match conn {
        DbConnection::Sqlite(c) => diesel::insert_into(s::table)
            .values(row)
            .on_conflict(s::key)
            .do_update()
            .set(s::value.eq(value))
            .execute(c)?,
        DbConnection::Postgres(c) => diesel::insert_into(s::table)
            .values(row)
            .on_conflict(s::key)
            .do_update()
            .set(s::value.eq(value))
            .execute(c)?,
    };
    Ok(())
}
