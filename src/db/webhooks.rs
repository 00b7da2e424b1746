//! `webhook_events`: the outbox of events for the organisation's webhook,
//! claimed by one instance at a time.

use super::schema::{api_tokens as t, members as m, webhook_events as w};
use super::{DbConnection, NewWebhookEventRow, TokenRow, WebhookEventRow};
use diesel::prelude::*;
use std::collections::HashSet;
use time::{Duration, PrimitiveDateTime};

/// Inserts an event unless one with its `dedupe_key` exists; the unique
/// key makes the decision once for every instance. Returns 1 when this
/// call inserted it.
pub fn insert_once(conn: &mut DbConnection, row: &NewWebhookEventRow<'_>) -> QueryResult<usize> {
    match conn {
        DbConnection::Sqlite(c) => diesel::insert_into(w::table)
            .values(row)
            .on_conflict(w::dedupe_key)
            .do_nothing()
            .execute(c),
        DbConnection::Postgres(c) => diesel::insert_into(w::table)
            .values(row)
            .on_conflict(w::dedupe_key)
            .do_nothing()
            .execute(c),
    }
}

/// Working tokens of enabled members, not replaced and not canaries,
/// ending after `now` and by `horizon`, with their owner's email.
pub fn expiring_tokens(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    horizon: PrimitiveDateTime,
) -> QueryResult<Vec<(TokenRow, String)>> {
    t::table
        .inner_join(m::table)
        .filter(t::revoked_at.is_null().or(t::revoked_at.gt(now)))
        .filter(t::replaced_by.is_null())
        .filter(t::canary.eq(false))
        .filter(t::expires_at.gt(now).and(t::expires_at.le(horizon)))
        .filter(m::disabled.eq(false))
        .select((t::all_columns, m::email))
        .load(conn)
}

/// The dedupe keys of events already recorded about these tokens.
pub fn keys_for_tokens(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashSet<String>> {
    Ok(w::table
        .filter(w::token_id.eq_any(ids))
        .select(w::dedupe_key)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Claims the oldest due event no other instance holds, for `claim`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    claim: Duration,
) -> QueryResult<Option<WebhookEventRow>> {
    let claimable = w::delivered_at
        .is_null()
        .and(w::failed_at.is_null())
        .and(w::claimed_until.is_null().or(w::claimed_until.lt(now)));
    let due: Vec<i64> = w::table
        .filter(claimable)
        .filter(w::next_attempt_at.le(now))
        .order(w::id.asc())
        .select(w::id)
        .limit(8)
        .load(conn)?;
    for id in due {
        // Another instance may have taken it since: the conditional
        // update succeeds for one of them only.
        let taken = diesel::update(w::table.find(id).filter(claimable))
            .set((
                w::claimed_until.eq(Some(now + claim)),
                w::attempts.eq(w::attempts + 1),
            ))
            .execute(conn)?;
        if taken == 1 {
            return w::table.find(id).first(conn).map(Some);
        }
    }
    Ok(None)
}

pub fn delivered(conn: &mut DbConnection, id: i64, now: PrimitiveDateTime) -> QueryResult<usize> {
    diesel::update(w::table.find(id))
        .set((
            w::delivered_at.eq(Some(now)),
            w::claimed_until.eq(None::<PrimitiveDateTime>),
            w::last_error.eq(None::<String>),
        ))
        .execute(conn)
}

/// A failed try: given up (`failed_at`), or tried again at `next`.
pub fn failed(
    conn: &mut DbConnection,
    id: i64,
    failed_at: Option<PrimitiveDateTime>,
    next: PrimitiveDateTime,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(w::table.find(id))
        .set((
            w::failed_at.eq(failed_at),
            w::next_attempt_at.eq(next),
            w::claimed_until.eq(None::<PrimitiveDateTime>),
            w::last_error.eq(Some(error)),
        ))
        .execute(conn)
}
