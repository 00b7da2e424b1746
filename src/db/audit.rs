//! `audit_events` (and the sign-ins the audit log reads): every query on
//! them.

use super::schema::{audit_events as ae, login_attempts as la};
use super::{AuditRow, DbConnection, MultiBackend, NewAuditRow};
use crate::domain::{MemberId, OrgId, TokenId};
use diesel::prelude::*;
use time::PrimitiveDateTime;

pub fn insert(conn: &mut DbConnection, row: &NewAuditRow<'_>) -> QueryResult<usize> {
    diesel::insert_into(ae::table).values(row).execute(conn)
}

/// Many rows, in batches of 100 (each backend's own insert).
pub fn insert_many(conn: &mut DbConnection, rows: &[NewAuditRow<'_>]) -> QueryResult<()> {
    for chunk in rows.chunks(100) {
        match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(ae::table).values(chunk).execute(c)?,
            DbConnection::Postgres(c) => diesel::insert_into(ae::table).values(chunk).execute(c)?,
        };
    }
    Ok(())
}

/// An organisation's events, narrowed by action and actor.
pub struct Filter<'a> {
    pub org: OrgId,
    pub action: Option<&'a str>,
    pub actor: Option<MemberId>,
    /// Only events older than this id.
    pub before: Option<i64>,
}

fn matching<'a>(f: &Filter<'a>) -> ae::BoxedQuery<'a, MultiBackend> {
    let mut q = ae::table.filter(ae::org_id.eq(f.org.0)).into_boxed();
    if let Some(action) = f.action {
        q = q.filter(ae::action.eq(action));
    }
    if let Some(actor) = f.actor {
        q = q.filter(ae::actor_id.eq(actor.0));
    }
    if let Some(before) = f.before {
        q = q.filter(ae::id.lt(before));
    }
    q
}

pub fn count(conn: &mut DbConnection, f: &Filter<'_>) -> QueryResult<i64> {
    matching(f).count().get_result(conn)
}

/// Newest first.
pub fn page(
    conn: &mut DbConnection,
    f: &Filter<'_>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<AuditRow>> {
    matching(f)
        .order(ae::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)
}

/// How many events of `action` a token has.
pub fn count_for_token(conn: &mut DbConnection, token: TokenId, action: &str) -> QueryResult<i64> {
    ae::table
        .filter(ae::token_id.eq(token.0))
        .filter(ae::action.eq(action))
        .count()
        .get_result(conn)
}

/// A token's own events, and its replacement by rotation (recorded on the
/// token that replaced it), newest first.
pub fn for_token(
    conn: &mut DbConnection,
    token: TokenId,
    replaced_by: Option<TokenId>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    let replaced_by = replaced_by.map_or(-1, |t| t.0);
    ae::table
        .filter(
            ae::token_id.eq(token.0).or(ae::token_id
                .eq(replaced_by)
                .and(ae::action.eq("token.rotated"))),
        )
        .order(ae::id.desc())
        .limit(limit)
        .load(conn)
}

/// (address, token) of a member's events of `action` since a moment,
/// newest first.
pub fn member_events_since(
    conn: &mut DbConnection,
    member: MemberId,
    action: &str,
    since: PrimitiveDateTime,
) -> QueryResult<Vec<(Option<String>, Option<i64>)>> {
    ae::table
        .filter(ae::member_id.eq(member.0))
        .filter(ae::action.eq(action))
        .filter(ae::created_at.gt(since))
        .order(ae::id.desc())
        .select((ae::ip, ae::token_id))
        .load(conn)
}

/// Addresses of a token's events of `action` since a moment (at most 100).
pub fn token_event_addresses_since(
    conn: &mut DbConnection,
    token: TokenId,
    action: &str,
    since: PrimitiveDateTime,
) -> QueryResult<Vec<Option<String>>> {
    ae::table
        .filter(ae::token_id.eq(token.0))
        .filter(ae::action.eq(action))
        .filter(ae::created_at.gt(since))
        .select(ae::ip)
        .limit(100)
        .load(conn)
}

/// The latest successful sign-ins of an email, newest first.
pub fn latest_sign_ins(
    conn: &mut DbConnection,
    email: &str,
    limit: i64,
) -> QueryResult<Vec<PrimitiveDateTime>> {
    la::table
        .filter(la::email.eq(email))
        .filter(la::succeeded.eq(true))
        .select(la::created_at)
        .order(la::created_at.desc())
        .limit(limit)
        .load(conn)
}

/// An organisation's events after `after`, oldest first.
pub fn after(
    conn: &mut DbConnection,
    org: OrgId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    ae::table
        .filter(ae::org_id.eq(org.0))
        .filter(ae::id.gt(after))
        .order(ae::id.asc())
        .limit(limit)
        .load(conn)
}
