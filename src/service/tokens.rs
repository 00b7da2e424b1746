//! Tokens: create, list, revoke (one or many) and verify.

use super::audit::{self, NewEvent};
use super::{Actor, Latchkey, Member, PAGE_SIZE, load_policy};
use crate::db::{
    self, DbConnection, schema::api_tokens as t, schema::form_nonces, schema::members,
};
use crate::domain::{
    Expiry, FieldError, IpAllowList, MemberId, RevokeReason, ScopeSet, TokenId, TokenName,
    TokenSecret, TokenStatus, expires_at, status_at,
};
use crate::error::{Conflict, Error, Result};
use diesel::prelude::*;
use time::{Duration, PrimitiveDateTime};

/// The most ids one bulk revoke takes.
pub const MAX_BULK_REVOKE: usize = 1000;

/// A token request, already parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: TokenName,
    pub expiry: Expiry,
    pub scopes: ScopeSet,
    /// The generate form's one-time nonce: the same nonce never creates a
    /// second token.
    pub nonce: Option<String>,
    /// Where the token may be used from; empty allows anywhere.
    pub allowed_ips: IpAllowList,
}

/// The one moment the plaintext exists outside the caller's hands.
#[derive(Debug)]
pub struct CreatedToken {
    pub token: TokenView,
    pub secret: TokenSecret,
}

/// What may be shown about a token: never its secret or hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    pub id: TokenId,
    pub owner_id: MemberId,
    pub owner_email: String,
    pub name: String,
    /// The last four characters, for recognising a token.
    pub hint: String,
    #[serde(serialize_with = "ser_scopes")]
    pub scopes: ScopeSet,
    #[serde(with = "opt_rfc3339")]
    pub expires_at: Option<PrimitiveDateTime>,
    #[serde(with = "rfc3339")]
    pub created_at: PrimitiveDateTime,
    #[serde(with = "opt_rfc3339")]
    pub last_used_at: Option<PrimitiveDateTime>,
    pub last_used_ip: Option<String>,
    #[serde(with = "opt_rfc3339")]
    pub revoked_at: Option<PrimitiveDateTime>,
    pub status: TokenStatus,
    /// CIDR ranges the token may be used from; empty allows any address.
    pub allowed_ips: Vec<String>,
    /// The token this one replaced, and the one that replaced it.
    pub rotated_from: Option<TokenId>,
    pub replaced_by: Option<TokenId>,
    pub created_by: Option<MemberId>,
    /// Why it was revoked (manual, bulk, rotated, reuse, leak, …).
    pub revoked_reason: Option<RevokeReason>,
    /// Who revoked it, when a member did (shown in the console only).
    #[serde(skip)]
    pub revoked_by_email: Option<String>,
    #[serde(skip)]
    pub revoked_by: Option<MemberId>,
    /// The owner is disabled: the token is refused while they are.
    #[serde(skip)]
    pub owner_disabled: bool,
}

fn ser_scopes<S: serde::Serializer>(s: &ScopeSet, ser: S) -> std::result::Result<S::Ok, S::Error> {
    ser.collect_seq(s.names())
}

pub(super) mod rfc3339 {
    use time::PrimitiveDateTime;
    pub fn serialize<S: serde::Serializer>(t: &PrimitiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::serialize(&t.assume_utc(), s)
    }
}

pub(super) mod opt_rfc3339 {
    use time::PrimitiveDateTime;
    pub fn serialize<S: serde::Serializer>(
        t: &Option<PrimitiveDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(&t.map(|t| t.assume_utc()), s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Active,
    /// Active, and stopping within this many days (24-hour days from now:
    /// the CLI's `--within-days` for cron jobs).
    ExpiringWithin(u32),
    /// The console's and the API's "expiring": active, and stopping before
    /// the start of the day `EXPIRING_SOON_DAYS` days from today — so a
    /// token made for 7 days is not "expiring" the moment it is made.
    Expiring,
    Expired,
    Revoked,
    All,
}

/// The console's and the API's "expiring": within a week.
pub const EXPIRING_SOON_DAYS: u32 = 7;

impl StatusFilter {
    pub fn parse(s: &str) -> Option<StatusFilter> {
        match s {
            "active" => Some(StatusFilter::Active),
            "expiring" => Some(StatusFilter::Expiring),
            "expired" => Some(StatusFilter::Expired),
            "revoked" => Some(StatusFilter::Revoked),
            "all" => Some(StatusFilter::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::ExpiringWithin(_) | StatusFilter::Expiring => "expiring",
            StatusFilter::Expired => "expired",
            StatusFilter::Revoked => "revoked",
            StatusFilter::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OwnerFilter {
    #[default]
    Me,
    /// Every token in the organisation (admins).
    All,
    /// One member's tokens (admins, or the member themselves).
    Member(MemberId),
}

#[derive(Debug, Clone, Default)]
pub struct TokenQuery {
    pub status: StatusFilter,
    pub owner: OwnerFilter,
    pub search: Option<String>,
    /// 1-based.
    pub page: i64,
}

#[derive(Debug, Clone)]
pub struct TokenPage {
    pub tokens: Vec<TokenView>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    AlreadyRevoked,
}

pub(super) fn view(
    row: db::TokenRow,
    owner_email: String,
    now: PrimitiveDateTime,
) -> Result<TokenView> {
    let scopes = ScopeSet::parse_list(&row.scopes)
        .map_err(|e| Error::unexpected("stored scopes do not parse", e))?;
    let allowed_ips = IpAllowList::from_stored(&row.allowed_ips)
        .map_err(|e| Error::unexpected("a stored allow-list does not parse", e))?
        .ranges()
        .map(ToString::to_string)
        .collect();
    Ok(TokenView {
        allowed_ips,
        revoked_reason: row.revoked_reason.as_deref().and_then(RevokeReason::parse),
        revoked_by_email: None,
        revoked_by: row.revoked_by.map(MemberId),
        owner_disabled: false,
        rotated_from: row.rotated_from.map(TokenId),
        replaced_by: row.replaced_by.map(TokenId),
        created_by: row.created_by.map(MemberId),
        id: TokenId(row.id),
        owner_id: MemberId(row.owner_id),
        owner_email,
        name: row.name,
        hint: row.hint,
        scopes,
        expires_at: row.expires_at,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        last_used_ip: row.last_used_ip,
        status: status_at(
            row.revoked_at.is_some_and(|r| r <= now),
            row.expires_at,
            now,
        ),
        revoked_at: row.revoked_at,
    })
}

type Backend = db::MultiBackend;

type Condition = Box<
    dyn BoxableExpression<
            t::table,
            Backend,
            SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>,
        >,
>;

/// Not revoked at `now` (a revoke time in the future is a rotation's
/// overlap: the token still works until then).
fn unrevoked_at(now: PrimitiveDateTime) -> Condition {
    Box::new(t::revoked_at.is_null().or(t::revoked_at.gt(now)).nullable())
}

/// Tokens that are neither revoked nor expired at `now`.
fn active_at(now: PrimitiveDateTime) -> Condition {
    Box::new(
        t::revoked_at
            .is_null()
            .or(t::revoked_at.gt(now))
            .and(t::expires_at.is_null().or(t::expires_at.gt(now))),
    )
}

/// Active tokens per member of an organisation (members without any are
/// left out).
pub(super) fn count_active_by_owner(
    conn: &mut DbConnection,
    org: crate::domain::OrgId,
    now: PrimitiveDateTime,
) -> QueryResult<Vec<(i64, i64)>> {
    t::table
        .filter(t::org_id.eq(org.0))
        .filter(active_at(now))
        .group_by(t::owner_id)
        .select((t::owner_id, diesel::dsl::count_star()))
        .load(conn)
}

pub(super) fn count_active(
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

fn nonce_is_well_formed(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Latchkey {
    /// Creates a token for `owner`. The secret exists only in the result.
    pub fn create_token(
        &self,
        actor: &Actor,
        owner: &Member,
        req: NewToken,
    ) -> Result<CreatedToken> {
        if let Some(m) = &actor.member
            && m.id != owner.id
        {
            return Err(Error::Forbidden(
                "Members create tokens only for themselves.".into(),
            ));
        }
        if owner.disabled {
            return Err(Error::Forbidden(format!("{} is disabled.", owner.email)));
        }
        if req.scopes.is_empty() {
            return Err(Error::invalid("scopes", "Choose at least one scope."));
        }
        if let Some(nonce) = &req.nonce
            && !nonce_is_well_formed(nonce)
        {
            return Err(Error::Forbidden(
                "The form is invalid; reload the page.".into(),
            ));
        }
        let now = self.clock.now();
        let secret = self.format.generate()?;
        let hash = secret.hash();
        let hint = secret.hint();
        let scopes = req.scopes.to_string();
        let allowed_ips = req.allowed_ips.to_stored();
        let expires = match req.expiry {
            Expiry::On(date) => Some(expires_at(date)),
            Expiry::Never => None,
        };
        let mut conn = self.conn()?;
        let id = db::write_transaction(&mut conn, |conn| {
            db::lock_member(conn, owner.id.0)?;
            let policy = load_policy(conn, owner.org_id)?;
            let over_role = req
                .scopes
                .difference(policy.scope_roles.allowed_for(owner.role));
            if !over_role.is_empty() {
                return Err(Error::Forbidden(format!(
                    "The {} role cannot grant: {over_role}.",
                    owner.role
                )));
            }
            policy
                .expiry
                .check(now.date(), req.expiry)
                .map_err(|e| FieldError::new("expires_on", e.to_string()))?;
            if let Some(nonce) = &req.nonce {
                let used: i64 = form_nonces::table
                    .filter(form_nonces::nonce.eq(nonce))
                    .count()
                    .get_result(conn)?;
                if used > 0 {
                    return Err(Conflict::DuplicateSubmit.into());
                }
            }
            let active = count_active(conn, owner.id, now)?;
            if active >= i64::from(policy.max_active_tokens) {
                return Err(Conflict::TooManyTokens {
                    active,
                    max: policy.max_active_tokens,
                }
                .into());
            }
            let taken: i64 = t::table
                .filter(t::owner_id.eq(owner.id.0))
                .filter(t::name.eq(req.name.as_str()))
                .filter(active_at(now))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(Error::invalid(
                    "name",
                    format!(
                        "You already have an active token named \"{}\". Choose another name.",
                        req.name
                    ),
                ));
            }
            let id: i64 = diesel::insert_into(t::table)
                .values(db::NewTokenRow {
                    org_id: owner.org_id.0,
                    owner_id: owner.id.0,
                    name: req.name.as_str(),
                    token_hash: hash.as_bytes(),
                    hint: &hint,
                    scopes: &scopes,
                    expires_at: expires,
                    created_at: now,
                    created_by: actor.id().map(|m| m.0),
                    rotated_from: None,
                    allowed_ips: &allowed_ips,
                    chain_id: None,
                    name_folded: &crate::domain::fold(req.name.as_str()),
                })
                .returning(t::id)
                .get_result(conn)?;
            if let Some(nonce) = &req.nonce {
                diesel::insert_into(form_nonces::table)
                    .values((
                        form_nonces::nonce.eq(nonce),
                        form_nonces::member_id.eq(owner.id.0),
                        form_nonces::token_id.eq(Some(id)),
                        form_nonces::created_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            audit::record(
                conn,
                now,
                NewEvent {
                    org: owner.org_id,
                    actor: actor.id(),
                    action: "token.created",
                    token: Some(TokenId(id)),
                    member: Some(owner.id),
                    ip: actor.ip.as_deref(),
                    detail: format!(
                        "\"{}\" for {} with scopes [{scopes}], expires {}{}",
                        req.name,
                        owner.email,
                        expires.map_or("never".to_owned(), |e| e.date().to_string()),
                        if allowed_ips.is_empty() {
                            String::new()
                        } else {
                            format!(", only from {}", allowed_ips.replace(',', ", "))
                        }
                    ),
                },
            )?;
            Ok(id)
        })?;
        let row: db::TokenRow = t::table.find(id).first(&mut conn)?;
        Ok(CreatedToken {
            token: view(row, owner.email.clone(), now)?,
            secret,
        })
    }

    /// One page of tokens, newest first, with the total for the filters.
    pub fn list_tokens(&self, viewer: &Actor, query: &TokenQuery) -> Result<TokenPage> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let org = match &viewer.member {
            Some(m) => m.org_id,
            None => super::default_org_on(&mut conn)?,
        };
        let owner: Option<MemberId> = match (query.owner, &viewer.member) {
            (OwnerFilter::Me, Some(m)) => Some(m.id),
            (OwnerFilter::Me, None) => None,
            (OwnerFilter::All, Some(m)) if !m.is_admin() => {
                return Err(Error::Forbidden("Only admins can list every token.".into()));
            }
            (OwnerFilter::All, _) => None,
            (OwnerFilter::Member(id), Some(m)) if !m.is_admin() && m.id != id => {
                return Err(Error::Forbidden(
                    "Only admins can list other members' tokens.".into(),
                ));
            }
            (OwnerFilter::Member(id), _) => Some(id),
        };
        // Folded as names are (all of Unicode, on both databases); control
        // characters can match no name, and a NUL is an error to
        // PostgreSQL: they are dropped.
        let search: Option<String> = query.search.as_deref().map(|s| {
            crate::domain::fold(s)
                .chars()
                .filter(|c| !crate::domain::is_invisible_or_control(*c))
                .collect()
        });
        let pattern = search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let escaped = s
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("%{escaped}%")
            });
        let filtered = || {
            let mut q = t::table.filter(t::org_id.eq(org.0)).into_boxed::<Backend>();
            if let Some(owner) = owner {
                q = q.filter(t::owner_id.eq(owner.0));
            }
            q = match query.status {
                StatusFilter::Active => q.filter(active_at(now)),
                StatusFilter::ExpiringWithin(days) => q
                    .filter(active_at(now))
                    .filter(t::expires_at.le(now + Duration::days(i64::from(days)))),
                StatusFilter::Expiring => q.filter(active_at(now)).filter(t::expires_at.lt(
                    expires_at(now.date() + Duration::days(i64::from(EXPIRING_SOON_DAYS))),
                )),
                StatusFilter::Expired => q.filter(unrevoked_at(now)).filter(t::expires_at.le(now)),
                StatusFilter::Revoked => q.filter(t::revoked_at.le(now)),
                StatusFilter::All => q,
            };
            if let Some(p) = &pattern {
                q = q.filter(t::name_folded.like(p.clone()).escape('\\'));
            }
            q
        };
        let total: i64 = filtered().count().get_result(&mut conn)?;
        let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        let rows: Vec<db::TokenRow> = filtered()
            .order((t::created_at.desc(), t::id.desc()))
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
            .load(&mut conn)?;
        let mut member_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| std::iter::once(r.owner_id).chain(r.revoked_by))
            .collect();
        member_ids.sort_unstable();
        member_ids.dedup();
        let people: std::collections::HashMap<i64, (String, bool)> = members::table
            .filter(members::id.eq_any(&member_ids))
            .select((members::id, (members::email, members::disabled)))
            .load::<(i64, (String, bool))>(&mut conn)?
            .into_iter()
            .collect();
        let tokens = rows
            .into_iter()
            .map(|row| {
                let (email, disabled) = people.get(&row.owner_id).cloned().unwrap_or_default();
                let revoker = row
                    .revoked_by
                    .and_then(|id| people.get(&id).map(|(e, _)| e.clone()));
                let mut token = view(row, email, now)?;
                token.revoked_by_email = revoker;
                token.owner_disabled = disabled;
                Ok(token)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TokenPage {
            tokens,
            total,
            page,
            pages,
        })
    }

    /// One token, if the viewer may see it.
    pub fn token(&self, viewer: &Actor, id: TokenId) -> Result<TokenView> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let row = visible_row(&mut conn, viewer, id)?;
        let (email, disabled): (String, bool) = members::table
            .find(row.owner_id)
            .select((members::email, members::disabled))
            .first(&mut conn)?;
        let revoker: Option<String> = match row.revoked_by {
            Some(by) => members::table
                .find(by)
                .select(members::email)
                .first(&mut conn)
                .optional()?,
            None => None,
        };
        let mut token = view(row, email, now)?;
        token.revoked_by_email = revoker;
        token.owner_disabled = disabled;
        Ok(token)
    }

    /// Several tokens by id (for a confirmation page); refused like a
    /// revoke when any id is not the actor's to touch.
    pub fn tokens_by_ids(&self, actor: &Actor, ids: &[TokenId]) -> Result<Vec<TokenView>> {
        let ids = bulk_ids(ids)?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let rows: Vec<db::TokenRow> = t::table
            .filter(t::id.eq_any(&ids))
            .order(t::created_at.desc())
            .load(&mut conn)?;
        if rows.len() != ids.len() || !rows.iter().all(|r| may_touch(actor, r.owner_id, r.org_id)) {
            return Err(Error::Forbidden(
                "You cannot revoke one or more of these tokens.".into(),
            ));
        }
        rows.into_iter()
            .map(|r| view(r, String::new(), now))
            .collect()
    }

    pub fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<RevokeOutcome> {
        let revoked = self.revoke_tokens_because(actor, &[id], RevokeReason::Manual)?;
        Ok(if revoked == 1 {
            RevokeOutcome::Revoked
        } else {
            RevokeOutcome::AlreadyRevoked
        })
    }

    /// Revokes all of `ids` in one transaction, or none: an id the actor may
    /// not touch (or that does not exist) refuses the whole request without
    /// saying which. Returns how many were active until now.
    pub fn revoke_tokens(&self, actor: &Actor, ids: &[TokenId]) -> Result<usize> {
        self.revoke_tokens_because(actor, ids, RevokeReason::Bulk)
    }

    /// As `revoke_tokens`, recording `reason`.
    pub fn revoke_tokens_because(
        &self,
        actor: &Actor,
        ids: &[TokenId],
        reason: RevokeReason,
    ) -> Result<usize> {
        let ids = bulk_ids(ids)?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let found: Vec<(i64, i64, i64, Option<PrimitiveDateTime>)> = t::table
                .filter(t::id.eq_any(&ids))
                .select((t::id, t::owner_id, t::org_id, t::revoked_at))
                .load(conn)?;
            if found.len() != ids.len() {
                return Err(match actor.member {
                    Some(_) => {
                        Error::Forbidden("You cannot revoke one or more of these tokens.".into())
                    }
                    None => Error::NotFound("token"),
                });
            }
            if !found
                .iter()
                .all(|(_, owner, org, _)| may_touch(actor, *owner, *org))
            {
                return Err(Error::Forbidden(
                    "You cannot revoke one or more of these tokens.".into(),
                ));
            }
            let to_revoke: Vec<(i64, i64)> = found
                .iter()
                .filter(|(_, _, _, revoked)| revoked.is_none_or(|r| r > now))
                .map(|(id, _, org, _)| (*id, *org))
                .collect();
            if to_revoke.is_empty() {
                return Ok(0);
            }
            let revoke_ids: Vec<i64> = to_revoke.iter().map(|(id, _)| *id).collect();
            let updated = diesel::update(
                t::table
                    .filter(t::id.eq_any(&revoke_ids))
                    .filter(t::revoked_at.is_null().or(t::revoked_at.gt(now))),
            )
            .set((
                t::revoked_at.eq(now),
                t::revoked_by.eq(actor.id().map(|m| m.0)),
                t::revoked_reason.eq(Some(reason.as_str())),
            ))
            .execute(conn)?;
            let detail = reason.label();
            let events: Vec<db::NewAuditRow<'_>> = to_revoke
                .iter()
                .map(|(id, org)| db::NewAuditRow {
                    org_id: *org,
                    actor_id: actor.id().map(|m| m.0),
                    action: "token.revoked",
                    token_id: Some(*id),
                    member_id: None,
                    ip: actor.ip.as_deref(),
                    detail,
                    created_at: now,
                })
                .collect();
            db::insert_audit_rows(conn, &events)?;
            Ok(updated)
        })
    }

    /// Revokes tokens reported as leaked, by value. Malformed and unknown
    /// strings are ignored; returns only how many were active until now.
    pub fn revoke_leaked(&self, raws: &[String], ip: Option<&str>) -> Result<usize> {
        if raws.len() > MAX_BULK_REVOKE {
            return Err(Error::invalid(
                "tokens",
                format!("At most {MAX_BULK_REVOKE} tokens per request."),
            ));
        }
        let mut hashes: Vec<Vec<u8>> = raws
            .iter()
            .filter_map(|raw| self.format.parse(raw.trim()).ok())
            .map(|secret| secret.hash().as_bytes().to_vec())
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        if hashes.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let found: Vec<(i64, i64, i64)> = t::table
                .filter(t::token_hash.eq_any(&hashes))
                .filter(t::revoked_at.is_null().or(t::revoked_at.gt(now)))
                .select((t::id, t::org_id, t::owner_id))
                .load(conn)?;
            if found.is_empty() {
                return Ok(0);
            }
            let ids: Vec<i64> = found.iter().map(|(id, _, _)| *id).collect();
            let updated = diesel::update(
                t::table
                    .filter(t::id.eq_any(&ids))
                    .filter(t::revoked_at.is_null().or(t::revoked_at.gt(now))),
            )
            .set((
                t::revoked_at.eq(now),
                t::revoked_reason.eq(Some(RevokeReason::Leak.as_str())),
            ))
            .execute(conn)?;
            let detail = format!(
                "reported as leaked from {}",
                ip.unwrap_or("an unknown address")
            );
            let events: Vec<db::NewAuditRow<'_>> = found
                .iter()
                .map(|(id, org, owner)| db::NewAuditRow {
                    org_id: *org,
                    actor_id: None,
                    action: "token.revoked",
                    token_id: Some(*id),
                    member_id: Some(*owner),
                    ip,
                    detail: &detail,
                    created_at: now,
                })
                .collect();
            db::insert_audit_rows(conn, &events)?;
            Ok(updated)
        })
    }
}

/// The distinct ids of a bulk request: at least one, at most 1,000.
fn bulk_ids(ids: &[TokenId]) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(Error::invalid(
            "ids",
            "Select at least one token to revoke.",
        ));
    }
    if ids.len() > MAX_BULK_REVOKE {
        return Err(Error::invalid(
            "ids",
            format!("At most {MAX_BULK_REVOKE} tokens can be revoked at once."),
        ));
    }
    Ok(ids)
}

/// Members touch their own tokens; admins any in their organisation; the
/// CLI any.
/// A token the viewer may see; any other is "not found", whether it
/// exists or not.
pub(super) fn visible_row(
    conn: &mut DbConnection,
    viewer: &Actor,
    id: TokenId,
) -> Result<db::TokenRow> {
    let row: Option<db::TokenRow> = t::table.find(id.0).first(conn).optional()?;
    row.filter(|r| may_touch(viewer, r.owner_id, r.org_id))
        .ok_or(Error::NotFound("token"))
}

pub(super) fn may_touch(actor: &Actor, owner_id: i64, org_id: i64) -> bool {
    match &actor.member {
        None => true,
        Some(m) if m.id.0 == owner_id => true,
        Some(m) => m.is_admin() && m.org_id.0 == org_id,
    }
}

/// Leak reports one address (IPv4 /32, IPv6 /64) may send per window,
/// counted in the database so every instance shares the budget.
pub const LEAK_REPORTS_PER_WINDOW: i64 = 10;
pub const LEAK_WINDOW: Duration = Duration::minutes(1);

impl Latchkey {
    /// Counts a leak report from `client`; `Err(seconds to wait)` when the
    /// address is over its budget.
    pub fn count_leak_report(
        &self,
        client: Option<std::net::IpAddr>,
    ) -> Result<std::result::Result<(), u64>> {
        let now = self.clock.now();
        let bucket = format!("leak:{}", crate::domain::rate_limit_key(client));
        let mut conn = self.conn()?;
        let (started, hits) = db::rate_limits::hit(&mut conn, &bucket, now, now - LEAK_WINDOW)?;
        if hits == 1 {
            // A new window: a good moment to forget old ones.
            db::rate_limits::prune(&mut conn, now - LEAK_WINDOW)?;
        }
        if hits > LEAK_REPORTS_PER_WINDOW {
            let wait = (started + LEAK_WINDOW - now).whole_seconds().max(1);
            return Ok(Err(u64::try_from(wait).unwrap_or(1)));
        }
        Ok(Ok(()))
    }
}
