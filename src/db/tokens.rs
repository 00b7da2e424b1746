//! `api_tokens`: every query on tokens, and every difference between the
//! backends in them. Scopes and allow-lists cross as domain types; the
//! stored text forms exist only here.

use super::schema::api_tokens as t;
use super::{DbConnection, MultiBackend, TokenRow};
use crate::domain::{
    IpAllowList, MemberId, MemberKind, OrgId, RevokeReason, ScopeSet, TokenHash, TokenId, TokenName,
};
use diesel::prelude::*;
use time::PrimitiveDateTime;

type Condition = Box<
    dyn BoxableExpression<
            t::table,
            MultiBackend,
            SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>,
        >,
>;

/// Not revoked at `now` (a revoke time in the future is a rotation's
/// overlap: the token still works until then).
fn unrevoked_at(now: PrimitiveDateTime) -> Condition {
    Box::new(t::revoked_at.is_null().or(t::revoked_at.gt(now)).nullable())
}

/// Neither revoked nor expired at `now`, as an expression that also goes
/// into joins (a boxed one is tied to the table alone).
#[diesel::dsl::auto_type]
fn working_at(now: PrimitiveDateTime) -> _ {
    t::revoked_at
        .is_null()
        .or(t::revoked_at.gt(now))
        .and(t::expires_at.is_null().or(t::expires_at.gt(now)))
}

/// `working_at`, boxed for queries built in steps.
fn active_at(now: PrimitiveDateTime) -> Condition {
    Box::new(working_at(now))
}

/// A token to insert.
pub struct NewToken<'a> {
    pub org: OrgId,
    pub owner: MemberId,
    pub name: &'a str,
    pub hash: &'a TokenHash,
    pub hint: &'a str,
    pub scopes: ScopeSet,
    pub expires_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub created_by: Option<MemberId>,
    pub allowed_ips: &'a IpAllowList,
    /// The token this one replaces, and the first of its chain.
    pub rotated_from: Option<TokenId>,
    pub chain: Option<TokenId>,
    pub description: Option<&'a str>,
    pub canary: bool,
}

pub fn insert(conn: &mut DbConnection, new: &NewToken<'_>) -> QueryResult<TokenId> {
    let scopes = new.scopes.to_string();
    let allowed_ips = new.allowed_ips.to_stored();
    diesel::insert_into(t::table)
        .values(super::NewTokenRow {
            org_id: new.org.0,
            owner_id: new.owner.0,
            name: new.name,
            token_hash: new.hash.as_bytes(),
            hint: new.hint,
            scopes: &scopes,
            expires_at: new.expires_at,
            created_at: new.created_at,
            created_by: new.created_by.map(|m| m.0),
            rotated_from: new.rotated_from.map(|id| id.0),
            allowed_ips: &allowed_ips,
            chain_id: new.chain.map(|id| id.0),
            name_folded: &crate::domain::fold(new.name),
            description: new.description,
            canary: new.canary,
        })
        .returning(t::id)
        .get_result(conn)
        .map(TokenId)
}

pub fn find(conn: &mut DbConnection, id: TokenId) -> QueryResult<Option<TokenRow>> {
    t::table.find(id.0).first(conn).optional()
}

/// Tokens by id, newest first.
pub fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<TokenRow>> {
    t::table
        .filter(t::id.eq_any(ids))
        .order(t::created_at.desc())
        .load(conn)
}

/// `name`, `…hint` of tokens by id (for audit lines).
pub fn labels(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    t::table
        .filter(t::id.eq_any(ids))
        .select((t::id, t::name, t::hint))
        .load(conn)
}

pub fn count_all(conn: &mut DbConnection) -> QueryResult<i64> {
    t::table.count().get_result(conn)
}

pub fn count_active(
    conn: &mut DbConnection,
    owner: MemberId,
    now: PrimitiveDateTime,
) -> QueryResult<i64> {
    t::table
        .filter(t::owner_id.eq(owner.0))
        .filter(active_at(now))
        .count()
        .get_result(conn)
}

/// Active tokens per member of an organisation (members without any are
/// left out).
pub fn count_active_by_owner(
    conn: &mut DbConnection,
    org: OrgId,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<(MemberId, i64)>> {
    let rows: Vec<(i64, i64)> = t::table
        .filter(t::org_id.eq(org.0))
        .filter(active_at(now))
        .group_by(t::owner_id)
        .select((t::owner_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().map(|(m, n)| (MemberId(m), n)).collect())
}

/// Whether `owner` has an active token with this name.
pub fn name_taken(
    conn: &mut DbConnection,
    owner: MemberId,
    name: &TokenName,
    now: PrimitiveDateTime,
) -> QueryResult<bool> {
    let taken: i64 = t::table
        .filter(t::owner_id.eq(owner.0))
        .filter(t::name.eq(name.as_str()))
        .filter(active_at(now))
        .count()
        .get_result(conn)?;
    Ok(taken > 0)
}

/// Which tokens a list shows, by state at a moment.
#[derive(Debug, Clone, Copy)]
pub enum State {
    Active,
    /// Active and stopping at or before this moment.
    ActiveEndingBy(PrimitiveDateTime),
    /// Active and stopping before this moment.
    ActiveEndingBefore(PrimitiveDateTime),
    Expired,
    Revoked,
    /// Working but for a suspension.
    Suspended,
    All,
}

/// A list's filters.
pub struct ListFilter<'a> {
    pub org: OrgId,
    pub owner: Option<MemberId>,
    /// Only tokens of members of this kind.
    pub owner_kind: Option<MemberKind>,
    pub state: State,
    /// A `LIKE` pattern on the folded name, `\` escaping.
    pub name_like: Option<&'a str>,
}

fn filtered<'a>(f: &'a ListFilter<'a>, now: PrimitiveDateTime) -> t::BoxedQuery<'a, MultiBackend> {
    let mut q = t::table.filter(t::org_id.eq(f.org.0)).into_boxed();
    if let Some(owner) = f.owner {
        q = q.filter(t::owner_id.eq(owner.0));
    }
    if let Some(kind) = f.owner_kind {
        use super::schema::members as m;
        let of_kind = m::table.filter(m::kind.eq(kind.as_str())).select(m::id);
        q = q.filter(t::owner_id.eq_any(of_kind));
    }
    q = match f.state {
        State::Active => q.filter(active_at(now)).filter(t::suspended_at.is_null()),
        State::ActiveEndingBy(at) => q
            .filter(active_at(now))
            .filter(t::suspended_at.is_null())
            .filter(t::expires_at.le(at)),
        // A canary's end is no notice anyone needs.
        State::ActiveEndingBefore(at) => q
            .filter(active_at(now))
            .filter(t::suspended_at.is_null())
            .filter(t::expires_at.lt(at))
            .filter(t::canary.eq(false)),
        State::Suspended => q
            .filter(active_at(now))
            .filter(t::suspended_at.is_not_null()),
        State::Expired => q.filter(unrevoked_at(now)).filter(t::expires_at.le(now)),
        State::Revoked => q.filter(t::revoked_at.le(now)),
        State::All => q,
    };
    if let Some(p) = f.name_like {
        q = q.filter(t::name_folded.like(p).escape('\\'));
    }
    q
}

pub fn count(
    conn: &mut DbConnection,
    f: &ListFilter<'_>,
    now: PrimitiveDateTime,
) -> QueryResult<i64> {
    filtered(f, now).count().get_result(conn)
}

/// One page, newest first.
pub fn page(
    conn: &mut DbConnection,
    f: &ListFilter<'_>,
    now: PrimitiveDateTime,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<TokenRow>> {
    filtered(f, now)
        .order((t::created_at.desc(), t::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)
}

/// What a revoke needs to know of a token.
#[derive(Debug, Clone, Queryable)]
pub struct RevocationState {
    pub id: i64,
    pub owner_id: i64,
    pub org_id: i64,
    pub revoked_at: Option<PrimitiveDateTime>,
}

pub fn revocation_state(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<RevocationState>> {
    t::table
        .filter(t::id.eq_any(ids))
        .select((t::id, t::owner_id, t::org_id, t::revoked_at))
        .load(conn)
}

/// Revokes those of `ids` still working at `now`; returns how many.
pub fn revoke(
    conn: &mut DbConnection,
    ids: &[i64],
    now: PrimitiveDateTime,
    by: Option<MemberId>,
    reason: RevokeReason,
) -> QueryResult<usize> {
    let working: Vec<i64> = t::table
        .filter(t::id.eq_any(ids))
        .filter(unrevoked_at(now))
        .select(t::id)
        .load(conn)?;
    let updated = diesel::update(t::table.filter(t::id.eq_any(&working)))
        .set((
            t::revoked_at.eq(now),
            t::revoked_by.eq(by.map(|m| m.0)),
            t::revoked_reason.eq(Some(reason.as_str())),
        ))
        .execute(conn)?;
    // Every revoke is announced on the revocation feed, in its transaction.
    super::revocations::announce_ids(conn, &working, reason.as_str(), now)?;
    Ok(updated)
}

/// Suspends (`Some(now)`) or resumes (`None`) a token still working or
/// suspended; a suspension is announced on the revocation feed in its
/// transaction. Returns how many changed.
pub fn set_suspended(
    conn: &mut DbConnection,
    id: TokenId,
    at: Option<PrimitiveDateTime>,
    now: PrimitiveDateTime,
) -> QueryResult<usize> {
    let q = t::table.filter(t::id.eq(id.0)).filter(unrevoked_at(now));
    let updated = match at {
        Some(at) => diesel::update(q.filter(t::suspended_at.is_null()))
            .set(t::suspended_at.eq(Some(at)))
            .execute(conn)?,
        None => diesel::update(q.filter(t::suspended_at.is_not_null()))
            .set(t::suspended_at.eq(None::<PrimitiveDateTime>))
            .execute(conn)?,
    };
    if updated > 0 && at.is_some() {
        super::revocations::announce_ids(conn, &[id.0], "suspended", now)?;
    }
    Ok(updated)
}

/// (id, organisation, owner) of the tokens with these hashes still
/// working at `now`.
pub fn working_by_hashes(
    conn: &mut DbConnection,
    hashes: &[Vec<u8>],
    now: PrimitiveDateTime,
) -> QueryResult<Vec<(i64, i64, i64)>> {
    t::table
        .filter(t::token_hash.eq_any(hashes))
        .filter(unrevoked_at(now))
        .select((t::id, t::org_id, t::owner_id))
        .load(conn)
}

/// Marks `old` replaced by `new`; it stops at `stops` (now, or the end of
/// the overlap).
pub fn mark_replaced(
    conn: &mut DbConnection,
    old: TokenId,
    new: TokenId,
    stops: PrimitiveDateTime,
    by: Option<MemberId>,
    now: PrimitiveDateTime,
) -> QueryResult<usize> {
    let updated = diesel::update(t::table.find(old.0))
        .set((
            t::revoked_at.eq(Some(stops)),
            t::revoked_by.eq(by.map(|m| m.0)),
            t::replaced_by.eq(Some(new.0)),
            t::revoked_reason.eq(Some(RevokeReason::Rotated.as_str())),
        ))
        .execute(conn)?;
    // Caches drop it now; during an overlap it still introspects active.
    let reason = RevokeReason::Rotated.as_str();
    super::revocations::announce_ids(conn, &[old.0], reason, now)?;
    Ok(updated)
}

/// Revokes every working token of the chain rooted at `root`.
pub fn revoke_chain(
    conn: &mut DbConnection,
    root: i64,
    now: PrimitiveDateTime,
    reason: RevokeReason,
) -> QueryResult<usize> {
    let working: Vec<i64> = t::table
        .filter(t::id.eq(root).or(t::chain_id.eq(root)))
        .filter(unrevoked_at(now))
        .select(t::id)
        .load(conn)?;
    let updated = diesel::update(t::table.filter(t::id.eq_any(&working)))
        .set((
            t::revoked_at.eq(Some(now)),
            t::revoked_reason.eq(Some(reason.as_str())),
        ))
        .execute(conn)?;
    super::revocations::announce_ids(conn, &working, reason.as_str(), now)?;
    Ok(updated)
}

/// Ids of the unrevoked, unexpired tokens made before `now` (working,
/// suspended, or a disabled member's), of one owner or of the
/// whole organisation, that a "revoke every token" stops. Canaries are
/// left: they never work, and keep reporting.
pub fn working_ids_before(
    conn: &mut DbConnection,
    org: OrgId,
    owner: Option<MemberId>,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<i64>> {
    let mut q = t::table
        .filter(t::org_id.eq(org.0))
        .filter(active_at(now))
        .filter(t::canary.eq(false))
        .filter(t::created_at.lt(now))
        .select(t::id)
        .into_boxed();
    if let Some(owner) = owner {
        q = q.filter(t::owner_id.eq(owner.0));
    }
    q.load(conn)
}

/// Working tokens of an organisation last active (used, or made when
/// never used) at or before `cutoff` and, when `after` is given, after it.
/// Canaries (never used by design) and suspended tokens (held for an
/// investigation) are left out.
pub fn idle_since(
    conn: &mut DbConnection,
    org: OrgId,
    cutoff: PrimitiveDateTime,
    after: Option<PrimitiveDateTime>,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<TokenRow>> {
    // Never revoked at all: a revoke time ahead of `now` is a rotation's
    // overlap (it stops by itself), or another instance's sweep with a
    // clock a little ahead of ours (it must not be revoked twice).
    let mut q = t::table
        .filter(t::org_id.eq(org.0))
        .filter(t::revoked_at.is_null())
        .filter(t::expires_at.is_null().or(t::expires_at.gt(now)))
        .filter(t::canary.eq(false))
        .filter(t::suspended_at.is_null())
        .filter(
            t::last_used_at
                .le(cutoff)
                .or(t::last_used_at.is_null().and(t::created_at.le(cutoff))),
        )
        .order(t::id.asc())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(
            t::last_used_at
                .gt(after)
                .or(t::last_used_at.is_null().and(t::created_at.gt(after))),
        );
    }
    q.load(conn)
}

/// (id, created, expires, owner's kind) of a token: what a lifetime rule
/// is judged on.
pub type Lifetime = (
    i64,
    PrimitiveDateTime,
    Option<PrimitiveDateTime>,
    MemberKind,
);

/// The lifetimes of an organisation's working tokens: canaries, suspended
/// tokens and disabled members' tokens (none of which works now) left out.
pub fn working_lifetimes(
    conn: &mut DbConnection,
    org: OrgId,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<Lifetime>> {
    use super::schema::members as m;
    let rows: Vec<(i64, PrimitiveDateTime, Option<PrimitiveDateTime>, String)> = t::table
        .inner_join(m::table)
        .filter(t::org_id.eq(org.0))
        .filter(working_at(now))
        .filter(t::canary.eq(false))
        .filter(t::suspended_at.is_null())
        .filter(m::disabled.eq(false))
        .select((t::id, t::created_at, t::expires_at, m::kind))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, made, ends, kind)| {
            (
                id,
                made,
                ends,
                MemberKind::try_from(kind).unwrap_or(MemberKind::Person),
            )
        })
        .collect())
}

/// Ids of a member's tokens working at `now`.
pub fn active_ids_of(
    conn: &mut DbConnection,
    owner: MemberId,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<i64>> {
    t::table
        .filter(t::owner_id.eq(owner.0))
        .filter(active_at(now))
        .select(t::id)
        .load(conn)
}

/// Ids of the tokens working at `now` that hold `scope`.
pub fn active_ids_with_scope(
    conn: &mut DbConnection,
    scope: &str,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<i64>> {
    let rows: Vec<(i64, String)> = t::table
        .filter(active_at(now))
        .select((t::id, t::scopes))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, scopes)| scopes.split_whitespace().any(|s| s == scope))
        .map(|(id, _)| id)
        .collect())
}

/// The owners' roles of the tokens working at `now` that hold `scope`
/// (one entry per token).
pub fn active_owner_roles_with_scope(
    conn: &mut DbConnection,
    scope: &str,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<crate::domain::Role>> {
    use super::schema::members as m;
    let rows: Vec<(String, String)> = t::table
        .inner_join(m::table)
        .filter(working_at(now))
        .select((t::scopes, m::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(scopes, _)| scopes.split_whitespace().any(|s| s == scope))
        .filter_map(|(_, role)| crate::domain::Role::try_from(role).ok())
        .collect())
}

/// The newest `limit` tokens of the chain rooted at `root`, oldest first.
pub fn chain(conn: &mut DbConnection, root: i64, limit: i64) -> QueryResult<Vec<TokenRow>> {
    let mut chain: Vec<TokenRow> = t::table
        .filter(t::id.eq(root).or(t::chain_id.eq(root)))
        .order(t::id.desc())
        .limit(limit)
        .load(conn)?;
    chain.reverse();
    Ok(chain)
}

/// Writes last use unless it was written since `cutoff` (concurrent
/// requests write once).
pub fn record_use(
    conn: &mut DbConnection,
    token: TokenId,
    now: PrimitiveDateTime,
    cutoff: PrimitiveDateTime,
    ip: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(
        t::table
            .find(token.0)
            .filter(t::last_used_at.is_null().or(t::last_used_at.le(cutoff))),
    )
    .set((t::last_used_at.eq(now), t::last_used_ip.eq(ip)))
    .execute(conn)
}

/// Ids and names of up to `limit` tokens whose folded name was never
/// filled (made before names were folded for search).
pub fn unfolded_names(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<(i64, String)>> {
    t::table
        .filter(t::name_folded.eq(""))
        .select((t::id, t::name))
        .limit(limit)
        .load(conn)
}

pub fn set_folded_name(conn: &mut DbConnection, id: i64, folded: &str) -> QueryResult<usize> {
    diesel::update(t::table.find(id))
        .set(t::name_folded.eq(folded))
        .execute(conn)
}

/// The stored scope lists of every active token (to count who a
/// catalogue change reaches).
pub fn active_scope_lists(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<String>> {
    t::table.filter(active_at(now)).select(t::scopes).load(conn)
}
