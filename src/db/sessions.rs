//! The `sessions` table: console sign-ins, keyed by the SHA-256 of the
//! random id the cookie carries.

use super::schema::{members, sessions as s};
use super::{DbConnection, MemberRow};
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = s)]
pub struct SessionRow {
    pub id_hash: Vec<u8>,
    pub member_id: i64,
    pub created_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
    pub ip: Option<String>,
    pub user_agent: String,
    pub announce: bool,
    pub flash: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = s)]
pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub member_id: i64,
    pub created_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
    pub ip: Option<&'a str>,
    pub user_agent: &'a str,
    pub announce: bool,
}

pub fn insert(conn: &mut DbConnection, row: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(s::table).values(row).execute(conn)?;
    Ok(())
}

/// A session with its member, by the hash of its id.
pub fn find_with_member(
    conn: &mut DbConnection,
    id_hash: &[u8],
) -> QueryResult<Option<(SessionRow, MemberRow)>> {
    s::table
        .inner_join(members::table)
        .filter(s::id_hash.eq(id_hash))
        .select((SessionRow::as_select(), members::all_columns))
        .get_result(conn)
        .optional()
}

pub fn touch(
    conn: &mut DbConnection,
    id_hash: &[u8],
    now: PrimitiveDateTime,
    ip: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(s::table.filter(s::id_hash.eq(id_hash)))
        .set((s::last_seen_at.eq(now), s::ip.eq(ip)))
        .execute(conn)
}

/// Clears the "announce after sign-in" flag; true when it was set.
pub fn take_announcement(conn: &mut DbConnection, id_hash: &[u8]) -> QueryResult<bool> {
    let n = diesel::update(
        s::table
            .filter(s::id_hash.eq(id_hash))
            .filter(s::announce.eq(true)),
    )
    .set(s::announce.eq(false))
    .execute(conn)?;
    Ok(n > 0)
}

/// Stores a one-time message for the session's next page.
pub fn set_flash(conn: &mut DbConnection, id_hash: &[u8], message: &str) -> QueryResult<usize> {
    diesel::update(s::table.filter(s::id_hash.eq(id_hash)))
        .set(s::flash.eq(Some(message)))
        .execute(conn)
}

/// Takes the session's one-time message, if any.
pub fn take_flash(conn: &mut DbConnection, id_hash: &[u8]) -> QueryResult<Option<String>> {
    let flash: Option<Option<String>> = s::table
        .filter(s::id_hash.eq(id_hash))
        .select(s::flash)
        .get_result(conn)
        .optional()?;
    let flash = flash.flatten();
    if flash.is_some() {
        diesel::update(s::table.filter(s::id_hash.eq(id_hash)))
            .set(s::flash.eq(None::<String>))
            .execute(conn)?;
    }
    Ok(flash)
}

pub fn delete(conn: &mut DbConnection, id_hash: &[u8]) -> QueryResult<usize> {
    diesel::delete(s::table.filter(s::id_hash.eq(id_hash))).execute(conn)
}

/// Ends every session of a member, but `keep` (the caller's own) if given.
pub fn delete_for_member(
    conn: &mut DbConnection,
    member_id: i64,
    keep: Option<&[u8]>,
) -> QueryResult<usize> {
    match keep {
        Some(keep) => diesel::delete(
            s::table
                .filter(s::member_id.eq(member_id))
                .filter(s::id_hash.ne(keep)),
        )
        .execute(conn),
        None => diesel::delete(s::table.filter(s::member_id.eq(member_id))).execute(conn),
    }
}

/// Removes sessions idle since `idle_before` or started before
/// `started_before`.
pub fn delete_stale(
    conn: &mut DbConnection,
    idle_before: PrimitiveDateTime,
    started_before: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        s::table.filter(
            s::last_seen_at
                .lt(idle_before)
                .or(s::created_at.lt(started_before)),
        ),
    )
    .execute(conn)
}

/// A member's sessions, most recently used first.
pub fn for_member(conn: &mut DbConnection, member_id: i64) -> QueryResult<Vec<SessionRow>> {
    s::table
        .filter(s::member_id.eq(member_id))
        .order(s::last_seen_at.desc())
        .select(SessionRow::as_select())
        .load(conn)
}
