//! `token_usage`: successful requests per token per UTC day.

use super::DbConnection;
use super::schema::token_usage as tu;
use crate::domain::TokenId;
use diesel::prelude::*;
use diesel::upsert::excluded;
use time::Date;

/// Adds counts, one upsert per (token, day): each backend's own
/// `ON CONFLICT … DO UPDATE`.
pub fn add(conn: &mut DbConnection, rows: &[(i64, Date, i64)]) -> QueryResult<()> {
    for (token_id, day, requests) in rows {
        let row = (
            tu::token_id.eq(token_id),
            tu::day.eq(day),
            tu::requests.eq(requests),
        );
        macro_rules! upsert {
            ($c:expr) => {
                diesel::insert_into(tu::table)
                    .values(row)
                    .on_conflict((tu::token_id, tu::day))
                    .do_update()
                    .set(tu::requests.eq(tu::requests + excluded(tu::requests)))
                    .execute($c)
            };
        }
        match conn {
            DbConnection::Sqlite(c) => upsert!(c)?,
            DbConnection::Postgres(c) => upsert!(c)?,
        };
    }
    Ok(())
}

/// A token's counts from `first` on.
pub fn since(
    conn: &mut DbConnection,
    token: TokenId,
    first: Date,
) -> QueryResult<Vec<(Date, i64)>> {
    tu::table
        .filter(tu::token_id.eq(token.0))
        .filter(tu::day.ge(first))
        .select((tu::day, tu::requests))
        .load(conn)
}
