//! The token check's read: a token by its hash, with what judging it
//! needs (its owner), as typed values parsed once when the row is loaded.
//! The scope catalogue is read apart (`db::scopes`), once per change.

use super::DbConnection;
use super::schema::{api_tokens as t, members as m, organisations as o};
use crate::domain::{ExpiryPolicy, IpAllowList, MemberKind, Role, ScopeSet};
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A token as the check judges it. Field order is the select's order.
#[derive(Debug, Clone, Queryable)]
pub struct Credential {
    pub id: i64,
    pub org_id: i64,
    pub owner_id: i64,
    pub name: String,
    pub token_hash: Vec<u8>,
    #[diesel(deserialize_as = String)]
    pub scopes: ScopeSet,
    pub expires_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub last_used_at: Option<PrimitiveDateTime>,
    /// A revoke time in the future is the end of a rotation's overlap.
    pub revoked_at: Option<PrimitiveDateTime>,
    pub replaced_by: Option<i64>,
    pub revoked_reason: Option<String>,
    #[diesel(deserialize_as = String)]
    pub allowed_ips: IpAllowList,
    pub owner_email: String,
    #[diesel(deserialize_as = String)]
    pub owner_role: Role,
    pub owner_disabled: bool,
    pub owner_created_at: PrimitiveDateTime,
    #[diesel(deserialize_as = String)]
    pub owner_kind: MemberKind,
    pub canary: bool,
    pub suspended_at: Option<PrimitiveDateTime>,
    /// Tokens created before either watermark stop.
    pub owner_valid_after: Option<PrimitiveDateTime>,
    pub org_valid_after: Option<PrimitiveDateTime>,
    /// The policy's maximum lifetime, when it applies to existing tokens
    /// too (see `LifetimeRule`).
    pub lifetime_applies_to_existing: bool,
    pub max_lifetime_days: i64,
    pub allow_no_expiry: bool,
    pub service_max_lifetime_days: Option<i64>,
}

impl Credential {
    /// Created before the owner's or the organisation's watermark.
    pub fn issued_before_watermark(&self) -> bool {
        [self.owner_valid_after, self.org_valid_after]
            .into_iter()
            .flatten()
            .any(|cut| self.created_at < cut)
    }

    /// Lives longer than the policy allows, when the policy applies to
    /// existing tokens.
    pub fn exceeds_lifetime_policy(&self) -> bool {
        if !self.lifetime_applies_to_existing {
            return false;
        }
        let days = |d: i64| u32::try_from(d.max(0)).unwrap_or(u32::MAX);
        ExpiryPolicy {
            max_lifetime_days: days(self.max_lifetime_days),
            allow_no_expiry: self.allow_no_expiry,
        }
        .for_kind(self.owner_kind, self.service_max_lifetime_days.map(days))
        .exceeded_by(self.created_at, self.expires_at)
    }
}

macro_rules! credentials {
    () => {
        t::table
            .inner_join(m::table)
            .inner_join(o::table.on(o::id.eq(t::org_id)))
            .select((
                t::id,
                t::org_id,
                t::owner_id,
                t::name,
                t::token_hash,
                t::scopes,
                t::expires_at,
                t::created_at,
                t::last_used_at,
                t::revoked_at,
                t::replaced_by,
                t::revoked_reason,
                t::allowed_ips,
                m::email,
                m::role,
                m::disabled,
                m::created_at,
                m::kind,
                t::canary,
                t::suspended_at,
                m::tokens_valid_after,
                o::tokens_valid_after,
                o::lifetime_applies_to_existing,
                o::max_lifetime_days,
                o::allow_no_expiry,
                o::service_max_lifetime_days,
            ))
    };
}

/// The token with this hash, if any.
///
/// Run on the concrete connection rather than through the multi-backend
/// wrapper so that diesel's prepared-statement cache applies: the statement
/// is compiled once per connection instead of on every request.
pub fn find_by_hash(conn: &mut DbConnection, hash: &[u8]) -> QueryResult<Option<Credential>> {
    macro_rules! lookup {
        ($c:expr) => {
            credentials!()
                .filter(t::token_hash.eq(hash))
                // Not `first()`: its `LIMIT ?` makes SQLite re-prepare the
                // statement on every call (a rebound LIMIT expires it). The
                // hash is unique, so there is at most one row anyway.
                .get_result::<Credential>($c)
                .optional()
        };
    }
    match conn {
        DbConnection::Sqlite(c) => lookup!(c),
        DbConnection::Postgres(c) => lookup!(c),
    }
}

/// Many tokens by hash in one query (`= ANY($1)` on PostgreSQL: one
/// prepared statement whatever the count).
pub fn find_many(conn: &mut DbConnection, hashes: &[Vec<u8>]) -> QueryResult<Vec<Credential>> {
    macro_rules! lookup {
        ($c:expr) => {
            credentials!()
                .filter(t::token_hash.eq_any(hashes))
                .load::<Credential>($c)
        };
    }
    match conn {
        DbConnection::Sqlite(c) => lookup!(c),
        DbConnection::Postgres(c) => lookup!(c),
    }
}
