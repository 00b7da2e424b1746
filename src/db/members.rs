//! `members`: every query on members. Roles cross as `Role`.

use super::schema::members as m;
use super::{DbConnection, MemberRow};
use crate::domain::{Email, MemberId, MemberKind, OrgId, PasswordHash, Role};
use diesel::prelude::*;
use std::collections::HashMap;
use time::PrimitiveDateTime;

pub fn find(conn: &mut DbConnection, id: MemberId) -> QueryResult<Option<MemberRow>> {
    m::table.find(id.0).first(conn).optional()
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<MemberRow>> {
    m::table.filter(m::email.eq(email)).first(conn).optional()
}

pub fn email_exists(conn: &mut DbConnection, email: &Email) -> QueryResult<bool> {
    let n: i64 = m::table
        .filter(m::email.eq(email.as_str()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// An organisation's people or service accounts, by email (or name).
pub fn in_org(
    conn: &mut DbConnection,
    org: OrgId,
    kind: MemberKind,
) -> QueryResult<Vec<MemberRow>> {
    m::table
        .filter(m::org_id.eq(org.0))
        .filter(m::kind.eq(kind.as_str()))
        .order(m::email.asc())
        .load(conn)
}

/// Email and "disabled" of members by id.
pub fn people(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashMap<i64, (String, bool)>> {
    Ok(m::table
        .filter(m::id.eq_any(ids))
        .select((m::id, (m::email, m::disabled)))
        .load::<(i64, (String, bool))>(conn)?
        .into_iter()
        .collect())
}

/// Kinds (person, service account) of members by id.
pub fn kinds(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashMap<i64, MemberKind>> {
    Ok(m::table
        .filter(m::id.eq_any(ids))
        .select((m::id, m::kind))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .filter_map(|(id, kind)| MemberKind::try_from(kind).ok().map(|k| (id, k)))
        .collect())
}

/// Emails of members by id.
pub fn emails(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    Ok(m::table
        .filter(m::id.eq_any(ids))
        .select((m::id, m::email))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

pub fn email(conn: &mut DbConnection, id: i64) -> QueryResult<Option<String>> {
    m::table.find(id).select(m::email).first(conn).optional()
}

/// Admins who may act (not disabled); all organisations when `org` is
/// `None`.
pub fn count_active_admins(conn: &mut DbConnection, org: Option<OrgId>) -> QueryResult<i64> {
    // Service accounts never sign in: they cannot stand in for an admin.
    let mut q = m::table
        .filter(m::role.eq(Role::Admin.as_str()))
        .filter(m::kind.eq(MemberKind::Person.as_str()))
        .into_boxed::<super::MultiBackend>();
    if let Some(org) = org {
        q = q.filter(m::org_id.eq(org.0)).filter(m::disabled.eq(false));
    }
    q.count().get_result(conn)
}

pub fn insert(
    conn: &mut DbConnection,
    org: OrgId,
    email: &Email,
    hash: &PasswordHash,
    role: Role,
    must_change: bool,
    now: PrimitiveDateTime,
) -> QueryResult<MemberId> {
    insert_kind(
        conn,
        org,
        email.as_str(),
        (hash, must_change),
        role,
        MemberKind::Person,
        now,
    )
}

/// A member of any kind: a service account's name goes where a person's
/// email does (names hold no `@`, so the two never clash).
pub fn insert_kind(
    conn: &mut DbConnection,
    org: OrgId,
    email_or_name: &str,
    (hash, must_change): (&PasswordHash, bool),
    role: Role,
    kind: MemberKind,
    now: PrimitiveDateTime,
) -> QueryResult<MemberId> {
    diesel::insert_into(m::table)
        .values(super::NewMemberRow {
            org_id: org.0,
            email: email_or_name,
            password_hash: hash.as_str(),
            role: role.as_str(),
            disabled: false,
            created_at: now,
            kind: kind.as_str(),
            password_must_change: must_change,
        })
        .returning(m::id)
        .get_result(conn)
        .map(MemberId)
}

pub fn set_role(conn: &mut DbConnection, id: MemberId, role: Role) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set(m::role.eq(role.as_str()))
        .execute(conn)
}

pub fn set_disabled(conn: &mut DbConnection, id: MemberId, disabled: bool) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set(m::disabled.eq(disabled))
        .execute(conn)
}

/// A new password; `must_change` when Latchkey generated it.
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: MemberId,
    hash: &PasswordHash,
    must_change: bool,
) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set((
            m::password_hash.eq(hash.as_str()),
            m::password_must_change.eq(must_change),
        ))
        .execute(conn)
}

/// The secret of a two-factor enrolment under way (none: abandoned).
pub fn set_totp_pending(
    conn: &mut DbConnection,
    id: MemberId,
    secret: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set(m::totp_pending.eq(secret))
        .execute(conn)
}

/// Two-factor on, with the step of the code that confirmed it (used once).
pub fn enable_totp(
    conn: &mut DbConnection,
    id: MemberId,
    secret: &str,
    step: i64,
) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set((
            m::totp_secret.eq(Some(secret)),
            m::totp_pending.eq(None::<String>),
            m::totp_last_step.eq(Some(step)),
        ))
        .execute(conn)
}

/// Two-factor off: secret, enrolment and replay mark gone.
pub fn clear_totp(conn: &mut DbConnection, id: MemberId) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set((
            m::totp_secret.eq(None::<String>),
            m::totp_pending.eq(None::<String>),
            m::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)
}

/// Accepts the code of time step `step` once: false when that step (or a
/// later one) was already used, also by a parallel request.
pub fn accept_totp_step(conn: &mut DbConnection, id: MemberId, step: i64) -> QueryResult<bool> {
    let n = diesel::update(
        m::table
            .find(id.0)
            .filter(m::totp_last_step.is_null().or(m::totp_last_step.lt(step))),
    )
    .set(m::totp_last_step.eq(Some(step)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Tokens of this member created before `at` stop ("revoke every token
/// issued before now").
pub fn set_tokens_valid_after(
    conn: &mut DbConnection,
    id: MemberId,
    at: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::update(m::table.find(id.0))
        .set(m::tokens_valid_after.eq(Some(at)))
        .execute(conn)
}

/// People of an organisation, enabled, without two-factor sign-in.
pub fn count_without_two_factor(conn: &mut DbConnection, org: OrgId) -> QueryResult<i64> {
    m::table
        .filter(m::org_id.eq(org.0))
        .filter(m::kind.eq(MemberKind::Person.as_str()))
        .filter(m::disabled.eq(false))
        .filter(m::totp_secret.is_null())
        .count()
        .get_result(conn)
}

/// The role of every enabled member (people and service accounts).
pub fn enabled_roles(conn: &mut DbConnection) -> QueryResult<Vec<Role>> {
    Ok(m::table
        .filter(m::disabled.eq(false))
        .select(m::role)
        .load::<String>(conn)?
        .into_iter()
        .filter_map(|r| Role::try_from(r).ok())
        .collect())
}
