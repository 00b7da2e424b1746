//! `form_nonces`: one generate form, one token.

use super::DbConnection;
use super::schema::form_nonces as f;
use crate::domain::{MemberId, TokenId};
use diesel::prelude::*;
use time::PrimitiveDateTime;

pub fn used(conn: &mut DbConnection, nonce: &str) -> QueryResult<bool> {
    let n: i64 = f::table
        .filter(f::nonce.eq(nonce))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn record(
    conn: &mut DbConnection,
    nonce: &str,
    member: MemberId,
    token: TokenId,
    now: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(f::table)
        .values((
            f::nonce.eq(nonce),
            f::member_id.eq(member.0),
            f::token_id.eq(Some(token.0)),
            f::created_at.eq(now),
        ))
        .execute(conn)
}
