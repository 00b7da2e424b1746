//! `recovery_codes`: a member's one-time codes for when their
//! authenticator is lost, kept as SHA-256 digests.

use super::DbConnection;
use super::schema::recovery_codes as r;
use crate::domain::MemberId;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// Replaces every code of the member by these digests.
pub fn replace(conn: &mut DbConnection, member: MemberId, digests: &[Vec<u8>]) -> QueryResult<()> {
    delete_for(conn, member)?;
    for digest in digests {
        diesel::insert_into(r::table)
            .values((
                r::member_id.eq(member.0),
                r::code_hash.eq(digest.as_slice()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks the unused code with this digest used; false when there is none
/// (wrong, or used already — also by a parallel request).
pub fn use_code(
    conn: &mut DbConnection,
    member: MemberId,
    digest: &[u8],
    now: PrimitiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        r::table
            .filter(r::member_id.eq(member.0))
            .filter(r::code_hash.eq(digest))
            .filter(r::used_at.is_null()),
    )
    .set(r::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many codes the member has left.
pub fn unused(conn: &mut DbConnection, member: MemberId) -> QueryResult<i64> {
    r::table
        .filter(r::member_id.eq(member.0))
        .filter(r::used_at.is_null())
        .count()
        .get_result(conn)
}

pub fn delete_for(conn: &mut DbConnection, member: MemberId) -> QueryResult<usize> {
    diesel::delete(r::table.filter(r::member_id.eq(member.0))).execute(conn)
}
