//! `organisations`: the organisation and its token policy.

use super::schema::organisations as o;
use super::{DbConnection, OrganisationRow};
use crate::domain::OrgId;
use diesel::prelude::*;
use time::PrimitiveDateTime;

pub fn find(conn: &mut DbConnection, org: OrgId) -> QueryResult<OrganisationRow> {
    o::table.find(org.0).first(conn)
}

/// The first organisation (the default one).
pub fn first_id(conn: &mut DbConnection) -> QueryResult<OrgId> {
    o::table
        .select(o::id)
        .order(o::id.asc())
        .first(conn)
        .map(OrgId)
}

/// Creates the default organisation unless one exists.
pub fn ensure_one(conn: &mut DbConnection, now: PrimitiveDateTime) -> QueryResult<()> {
    let existing: i64 = o::table.count().get_result(conn)?;
    if existing == 0 {
        diesel::insert_into(o::table)
            .values(super::NewOrganisationRow {
                name: "Default organisation",
                created_at: now,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// The policy fields an admin changes.
pub struct PolicyFields {
    pub max_lifetime_days: u32,
    pub allow_no_expiry: bool,
    pub default_expiry_days: u32,
    pub service_max_lifetime_days: Option<u32>,
    pub require_two_factor: bool,
    pub sso_only: bool,
    pub inactive_after_days: Option<u32>,
    pub lifetime_applies_to_existing: bool,
}

pub fn set_policy(conn: &mut DbConnection, org: OrgId, p: &PolicyFields) -> QueryResult<usize> {
    diesel::update(o::table.find(org.0))
        .set((
            o::max_lifetime_days.eq(i64::from(p.max_lifetime_days)),
            o::allow_no_expiry.eq(p.allow_no_expiry),
            o::default_expiry_days.eq(i64::from(p.default_expiry_days)),
            o::service_max_lifetime_days.eq(p.service_max_lifetime_days.map(i64::from)),
            o::require_two_factor.eq(p.require_two_factor),
            o::sso_only.eq(p.sso_only),
            o::inactive_after_days.eq(p.inactive_after_days.map(i64::from)),
            o::lifetime_applies_to_existing.eq(p.lifetime_applies_to_existing),
        ))
        .execute(conn)
}

/// Whether the organisation requires two-factor sign-in.
pub fn requires_two_factor(conn: &mut DbConnection, org: OrgId) -> QueryResult<bool> {
    o::table
        .find(org.0)
        .select(o::require_two_factor)
        .first(conn)
}

/// Every token of the organisation created before `at` stops.
pub fn set_tokens_valid_after(
    conn: &mut DbConnection,
    org: OrgId,
    at: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::update(o::table.find(org.0))
        .set(o::tokens_valid_after.eq(Some(at)))
        .execute(conn)
}

/// Organisations that revoke unused tokens, with their number of days.
pub fn with_inactivity(conn: &mut DbConnection) -> QueryResult<Vec<(OrgId, i64)>> {
    let rows: Vec<(i64, Option<i64>)> = o::table
        .filter(o::inactive_after_days.is_not_null())
        .select((o::id, o::inactive_after_days))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, days)| days.map(|d| (OrgId(id), d)))
        .collect())
}
