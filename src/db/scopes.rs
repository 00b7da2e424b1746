//! `scopes`: the catalogue. Entries cross as `ScopeEntry`.

use super::DbConnection;
use super::schema::{organisations as o, scopes as s};
use crate::domain::{Catalogue, Role, Scope, ScopeEntry};
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Queryable)]
struct ScopeRow {
    #[diesel(deserialize_as = String)]
    name: Scope,
    description: String,
    group_name: String,
    #[diesel(deserialize_as = String)]
    min_role: Role,
    system: bool,
    _created_at: PrimitiveDateTime,
    retired_at: Option<PrimitiveDateTime>,
}

impl TryFrom<String> for Scope {
    type Error = crate::domain::Malformed;
    fn try_from(stored: String) -> Result<Self, Self::Error> {
        stored.parse()
    }
}

impl From<ScopeRow> for ScopeEntry {
    fn from(row: ScopeRow) -> Self {
        ScopeEntry {
            scope: row.name,
            description: row.description,
            group: row.group_name,
            min_role: row.min_role,
            system: row.system,
            retired_at: row.retired_at,
        }
    }
}

/// Every scope, active and retired, in catalogue order.
pub fn catalogue(conn: &mut DbConnection) -> QueryResult<Catalogue> {
    let rows: Vec<ScopeRow> = s::table.load(conn)?;
    Ok(Catalogue::new(rows.into_iter().map(Into::into).collect()))
}

pub fn find(conn: &mut DbConnection, scope: &Scope) -> QueryResult<Option<ScopeEntry>> {
    let row: Option<ScopeRow> = s::table.find(scope.as_str()).first(conn).optional()?;
    Ok(row.map(Into::into))
}

pub fn insert(
    conn: &mut DbConnection,
    entry: &ScopeEntry,
    now: PrimitiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(s::table)
        .values((
            s::name.eq(entry.scope.as_str()),
            s::description.eq(&entry.description),
            s::group_name.eq(&entry.group),
            s::min_role.eq(entry.min_role.as_str()),
            s::system.eq(entry.system),
            s::created_at.eq(now),
            s::retired_at.eq(entry.retired_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Description, group and minimum role.
pub fn update(conn: &mut DbConnection, entry: &ScopeEntry) -> QueryResult<usize> {
    diesel::update(s::table.find(entry.scope.as_str()))
        .set((
            s::description.eq(&entry.description),
            s::group_name.eq(&entry.group),
            s::min_role.eq(entry.min_role.as_str()),
        ))
        .execute(conn)
}

/// Retires an active, non-system scope; 0 when there was none.
pub fn retire(
    conn: &mut DbConnection,
    scope: &Scope,
    now: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        s::table
            .find(scope.as_str())
            .filter(s::retired_at.is_null())
            .filter(s::system.eq(false)),
    )
    .set(s::retired_at.eq(Some(now)))
    .execute(conn)
}

/// Adds the seeded scopes a database lacks (all of them on a fresh one;
/// new system scopes after an upgrade). On the first seeding, minimum
/// roles an admin had changed on the old policy page are carried over.
pub fn seed(conn: &mut DbConnection, now: PrimitiveDateTime) -> QueryResult<usize> {
    let existing: Vec<String> = s::table.select(s::name).load(conn)?;
    let first_time = existing.is_empty();
    let overrides: Vec<String> = if first_time {
        o::table.select(o::scope_min_roles).load(conn)?
    } else {
        Vec::new()
    };
    let changed_role = |scope: &Scope| -> Option<Role> {
        overrides
            .iter()
            .flat_map(|stored| stored.split_whitespace())
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == scope.as_str())
            .and_then(|(_, role)| role.parse().ok())
    };
    let mut added = 0;
    for seed in &Scope::SEED {
        if existing.iter().any(|name| name == seed.scope.as_str()) {
            continue;
        }
        let mut entry = ScopeEntry::from(seed);
        if let Some(role) = changed_role(&seed.scope) {
            entry.min_role = role;
        }
        insert(conn, &entry, now)?;
        added += 1;
    }
    if first_time {
        diesel::update(o::table)
            .set(o::scope_min_roles.eq(""))
            .execute(conn)?;
    }
    Ok(added)
}
