//! Tokens: create, list, revoke (one or many) and verify.

use super::Tokens;
use super::audit::{self, NewEvent};
use super::{Actor, Member, OrgPolicy, PAGE_SIZE, load_policy};
use crate::db::{self, DbConnection};
use crate::domain::{
    Expiry, FieldError, IpAllowList, MemberId, MemberKind, RevokeReason, ScopeSet, TokenId,
    TokenName, TokenSecret, TokenStatus, expires_at, status_at,
};
use crate::error::{Conflict, Error, Result};
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
    /// What it is for (checked at the edge: at most 500 characters).
    pub description: Option<String>,
    /// A canary: never authorizes; every use is reported.
    pub canary: bool,
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
    /// What it is for, when its maker said.
    pub description: Option<String>,
    /// Never authorizes; every use is reported.
    pub canary: bool,
    /// Stopped until resumed (shown as status `suspended`).
    #[serde(with = "opt_rfc3339")]
    pub suspended_at: Option<PrimitiveDateTime>,
    /// Who revoked it, when a member did (shown in the console only).
    #[serde(skip)]
    pub revoked_by_email: Option<String>,
    #[serde(skip)]
    pub revoked_by: Option<MemberId>,
    /// The owner is disabled: the token is refused while they are.
    #[serde(skip)]
    pub owner_disabled: bool,
    /// Working, and revoked within a week by the inactivity policy.
    #[serde(skip)]
    pub inactive_soon: bool,
    /// Refused because the maximum lifetime applies to existing tokens
    /// and this one lives longer: why, as people read it.
    #[serde(skip)]
    pub stopped_by_policy: Option<String>,
}

impl TokenView {
    /// What the organisation's policy says about this token now (the
    /// token check applies the same rules).
    pub(super) fn judged(
        mut self,
        policy: &OrgPolicy,
        kind: MemberKind,
        now: PrimitiveDateTime,
    ) -> Self {
        if self.status != TokenStatus::Active || self.canary {
            return self;
        }
        let rules = policy.expiry_for(kind);
        if policy.lifetime_applies_to_existing
            && rules.exceeded_by(self.created_at, self.expires_at)
        {
            self.stopped_by_policy = Some(
                match crate::domain::ExpiryPolicy::lifetime_days(self.created_at, self.expires_at) {
                    Some(days) => format!(
                        "Stopped by the policy: it was made to live {days} days, longer than the maximum of {} days that now applies to existing tokens.",
                        rules.max_lifetime_days
                    ),
                    None => "Stopped by the policy: it never expires, which the policy no longer allows for existing tokens.".to_owned(),
                },
            );
        }
        if let Some(days) = policy.inactive_after_days {
            let last = self.last_used_at.unwrap_or(self.created_at);
            self.inactive_soon = crate::domain::Inactivity { days }.soon(last, now);
        }
        self
    }
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
    Suspended,
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
            "suspended" => Some(StatusFilter::Suspended),
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
            StatusFilter::Suspended => "suspended",
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
    /// Every service account's tokens (admins).
    Services,
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

pub(super) fn view(row: db::TokenRow, owner_email: String, now: PrimitiveDateTime) -> TokenView {
    TokenView {
        allowed_ips: row.allowed_ips.ranges().map(ToString::to_string).collect(),
        revoked_reason: row.revoked_reason.as_deref().and_then(RevokeReason::parse),
        revoked_by_email: None,
        revoked_by: row.revoked_by.map(MemberId),
        owner_disabled: false,
        inactive_soon: false,
        stopped_by_policy: None,
        description: row.description,
        canary: row.canary,
        rotated_from: row.rotated_from.map(TokenId),
        replaced_by: row.replaced_by.map(TokenId),
        created_by: row.created_by.map(MemberId),
        id: TokenId(row.id),
        owner_id: MemberId(row.owner_id),
        owner_email,
        name: row.name,
        hint: row.hint,
        scopes: row.scopes,
        expires_at: row.expires_at,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        last_used_ip: row.last_used_ip,
        status: match status_at(
            row.revoked_at.is_some_and(|r| r <= now),
            row.expires_at,
            now,
        ) {
            TokenStatus::Active if row.suspended_at.is_some() => TokenStatus::Suspended,
            status => status,
        },
        suspended_at: row.suspended_at,
        revoked_at: row.revoked_at,
    }
}

fn nonce_is_well_formed(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What may be decided before the transaction: who asks, for whom, and a
/// request that cannot be right whatever the database holds.
fn check_request(actor: &Actor, owner: &Member, req: &NewToken) -> Result<()> {
    if let Some(m) = &actor.member
        && m.id != owner.id
    {
        // An admin gives a service account of the organisation its tokens.
        let for_service =
            owner.kind == MemberKind::Service && m.is_admin() && m.org_id == owner.org_id;
        if !for_service {
            return Err(Error::Forbidden(
                "Members create tokens only for themselves.".into(),
            ));
        }
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
    Ok(())
}

/// The organisation's policy, read inside the transaction: the role's
/// scopes and the lifetime.
fn check_policy(
    policy: &OrgPolicy,
    owner: &Member,
    req: &NewToken,
    today: time::Date,
) -> Result<()> {
    if let Some(unknown) = req.scopes.iter().find(|s| !policy.scopes.offers(s)) {
        return Err(Error::Forbidden(format!(
            "“{unknown}” is not a scope you can grant: unknown scope."
        )));
    }
    let over_role = req
        .scopes
        .difference(&policy.scopes.allowed_for(owner.role));
    if !over_role.is_empty() {
        return Err(Error::Forbidden(format!(
            "The {} role cannot grant: {over_role}.",
            owner.role
        )));
    }
    policy
        .expiry_for(owner.kind)
        .check(today, req.expiry)
        .map_err(|e| FieldError::new("expires_on", e.to_string()))?;
    Ok(())
}

/// What the token would clash with: a form already used, the cap on
/// active tokens, an active token of the same name.
fn check_clashes(
    conn: &mut DbConnection,
    policy: &OrgPolicy,
    owner: &Member,
    req: &NewToken,
    now: PrimitiveDateTime,
) -> Result<()> {
    if let Some(nonce) = &req.nonce
        && db::form_nonces::used(conn, nonce)?
    {
        return Err(Conflict::DuplicateSubmit.into());
    }
    let active = db::tokens::count_active(conn, owner.id, now)?;
    if active >= i64::from(policy.max_active_tokens) {
        return Err(Conflict::TooManyTokens {
            active,
            max: policy.max_active_tokens,
        }
        .into());
    }
    if db::tokens::name_taken(conn, owner.id, &req.name, now)? {
        return Err(Error::invalid(
            "name",
            format!(
                "You already have an active token named \"{}\". Choose another name.",
                req.name
            ),
        ));
    }
    Ok(())
}

fn created_event<'a>(
    actor: &'a Actor,
    owner: &Member,
    req: &NewToken,
    id: TokenId,
    expires: Option<PrimitiveDateTime>,
) -> NewEvent<'a> {
    let only_from = if req.allowed_ips.is_empty() {
        String::new()
    } else {
        let ranges: Vec<String> = req.allowed_ips.ranges().map(ToString::to_string).collect();
        format!(", only from {}", ranges.join(", "))
    };
    NewEvent {
        org: owner.org_id,
        actor: actor.id(),
        action: "token.created",
        token: Some(id),
        member: Some(owner.id),
        ip: actor.ip.as_deref(),
        detail: format!(
            "\"{}\" for {} with scopes [{}], expires {}{only_from}",
            req.name,
            owner.email,
            req.scopes,
            expires.map_or("never".to_owned(), |e| e.date().to_string()),
        ),
    }
}

impl Tokens<'_> {
    /// Creates a token for `owner`. The secret exists only in the result.
    /// The policy is read and applied inside the transaction that inserts.
    pub fn create(&self, actor: &Actor, owner: &Member, req: NewToken) -> Result<CreatedToken> {
        check_request(actor, owner, &req)?;
        let now = self.clock.now();
        let secret = self.format.generate()?;
        let expires = match req.expiry {
            Expiry::On(date) => Some(expires_at(date)),
            Expiry::Never => None,
        };
        let mut conn = self.conn()?;
        let id = db::write_transaction(&mut conn, |conn| {
            db::lock_member(conn, owner.id.0)?;
            let policy = load_policy(conn, owner.org_id)?;
            check_policy(&policy, owner, &req, now.date())?;
            check_clashes(conn, &policy, owner, &req, now)?;
            let id = db::tokens::insert(
                conn,
                &db::tokens::NewToken {
                    org: owner.org_id,
                    owner: owner.id,
                    name: req.name.as_str(),
                    hash: &secret.hash(),
                    hint: &secret.hint(),
                    scopes: req.scopes.clone(),
                    expires_at: expires,
                    created_at: now,
                    created_by: actor.id(),
                    allowed_ips: &req.allowed_ips,
                    rotated_from: None,
                    chain: None,
                    description: req.description.as_deref(),
                    canary: req.canary,
                },
            )?;
            if let Some(nonce) = &req.nonce {
                db::form_nonces::record(conn, nonce, owner.id, id, now)?;
            }
            audit::record(conn, now, created_event(actor, owner, &req, id, expires))?;
            Ok::<_, Error>(id)
        })?;
        let row = db::tokens::find(&mut conn, id)?.ok_or(Error::NotFound("token"))?;
        Ok(CreatedToken {
            token: view(row, owner.email.clone(), now),
            secret,
        })
    }

    /// One page of tokens, newest first, with the total for the filters.
    pub fn list(&self, viewer: &Actor, query: &TokenQuery) -> Result<TokenPage> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let org = match &viewer.member {
            Some(m) => m.org_id,
            None => super::default_org_on(&mut conn)?,
        };
        let pattern = query.search.as_deref().and_then(name_pattern);
        let filter = db::tokens::ListFilter {
            org,
            owner: owner_to_list(viewer, query.owner)?,
            owner_kind: (query.owner == OwnerFilter::Services).then_some(MemberKind::Service),
            state: state_of(query.status, now),
            name_like: pattern.as_deref(),
        };
        let total = db::tokens::count(&mut conn, &filter, now)?;
        let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        let rows = db::tokens::page(&mut conn, &filter, now, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
        let mut member_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| std::iter::once(r.owner_id).chain(r.revoked_by))
            .collect();
        member_ids.sort_unstable();
        member_ids.dedup();
        let people = db::members::people(&mut conn, &member_ids)?;
        let kinds = db::members::kinds(&mut conn, &member_ids)?;
        let policy = load_policy(&mut conn, org)?;
        let tokens = rows
            .into_iter()
            .map(|row| {
                let (email, disabled) = people.get(&row.owner_id).cloned().unwrap_or_default();
                let kind = kinds
                    .get(&row.owner_id)
                    .copied()
                    .unwrap_or(MemberKind::Person);
                let revoker = row
                    .revoked_by
                    .and_then(|id| people.get(&id).map(|(e, _)| e.clone()));
                TokenView {
                    revoked_by_email: revoker,
                    owner_disabled: disabled,
                    ..view(row, email, now)
                }
                .judged(&policy, kind, now)
            })
            .collect();
        Ok(TokenPage {
            tokens,
            total,
            page,
            pages,
        })
    }

    /// One token, if the viewer may see it.
    pub fn get(&self, viewer: &Actor, id: TokenId) -> Result<TokenView> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let row = visible_row(&mut conn, viewer, id)?;
        let mut ids = vec![row.owner_id];
        ids.extend(row.revoked_by);
        let people = db::members::people(&mut conn, &ids)?;
        let (email, disabled) = people.get(&row.owner_id).cloned().unwrap_or_default();
        let revoker = row
            .revoked_by
            .and_then(|id| people.get(&id).map(|(e, _)| e.clone()));
        Ok(TokenView {
            revoked_by_email: revoker,
            owner_disabled: disabled,
            ..view(row, email, now)
        })
    }

    /// Several tokens by id (for a confirmation page); refused like a
    /// revoke when any id is not the actor's to touch.
    pub fn by_ids(&self, actor: &Actor, ids: &[TokenId]) -> Result<Vec<TokenView>> {
        let ids = bulk_ids(ids)?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let rows = db::tokens::by_ids(&mut conn, &ids)?;
        if rows.len() != ids.len() || !rows.iter().all(|r| may_touch(actor, r.owner_id, r.org_id)) {
            return Err(Error::Forbidden(
                "You cannot revoke one or more of these tokens.".into(),
            ));
        }
        Ok(rows
            .into_iter()
            .map(|r| view(r, String::new(), now))
            .collect())
    }

    pub fn revoke(&self, actor: &Actor, id: TokenId) -> Result<RevokeOutcome> {
        let revoked = self.revoke_many_because(actor, &[id], RevokeReason::Manual)?;
        Ok(if revoked == 1 {
            RevokeOutcome::Revoked
        } else {
            RevokeOutcome::AlreadyRevoked
        })
    }

    /// Revokes all of `ids` in one transaction, or none: an id the actor may
    /// not touch (or that does not exist) refuses the whole request without
    /// saying which. Returns how many were active until now.
    pub fn revoke_many(&self, actor: &Actor, ids: &[TokenId]) -> Result<usize> {
        self.revoke_many_because(actor, ids, RevokeReason::Bulk)
    }

    /// As `revoke_many`, recording `reason`.
    pub fn revoke_many_because(
        &self,
        actor: &Actor,
        ids: &[TokenId],
        reason: RevokeReason,
    ) -> Result<usize> {
        let ids = bulk_ids(ids)?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let found = db::tokens::revocation_state(conn, &ids)?;
            if found.len() != ids.len() {
                return Err(match actor.member {
                    Some(_) => {
                        Error::Forbidden("You cannot revoke one or more of these tokens.".into())
                    }
                    None => Error::NotFound("token"),
                });
            }
            if !found.iter().all(|t| may_touch(actor, t.owner_id, t.org_id)) {
                return Err(Error::Forbidden(
                    "You cannot revoke one or more of these tokens.".into(),
                ));
            }
            let to_revoke: Vec<(i64, i64)> = found
                .iter()
                .filter(|t| t.revoked_at.is_none_or(|r| r > now))
                .map(|t| (t.id, t.org_id))
                .collect();
            if to_revoke.is_empty() {
                return Ok(0);
            }
            let revoke_ids: Vec<i64> = to_revoke.iter().map(|(id, _)| *id).collect();
            let updated = db::tokens::revoke(conn, &revoke_ids, now, actor.id(), reason)?;
            let events: Vec<db::NewAuditRow<'_>> = to_revoke
                .iter()
                .map(|(id, org)| db::NewAuditRow {
                    org_id: *org,
                    actor_id: actor.id().map(|m| m.0),
                    action: "token.revoked",
                    token_id: Some(*id),
                    member_id: None,
                    ip: actor.ip.as_deref(),
                    detail: reason.label(),
                    created_at: now,
                })
                .collect();
            db::audit::insert_many(conn, &events)?;
            Ok(updated)
        })
    }

    /// Suspends (`true`) or resumes a token of the actor's (or, for an
    /// admin, of their organisation). A suspended token is refused like a
    /// revoked one and announced on the revocation feed; resuming restores
    /// it as it was (rotation chain, expiry). Revoked tokens stay revoked.
    /// Says whether anything changed, and the token's status after.
    pub fn set_suspended(&self, actor: &Actor, id: TokenId, suspend: bool) -> Result<Suspension> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let row = db::tokens::find(conn, id)?.ok_or(Error::NotFound("token"))?;
            if !may_touch(actor, row.owner_id, row.org_id) {
                return Err(Error::NotFound("token"));
            }
            if row.revoked_at.is_some_and(|r| r <= now) {
                return Err(Error::Conflict(Conflict::AlreadyRevoked));
            }
            let changed = db::tokens::set_suspended(conn, id, suspend.then_some(now), now)?;
            // A resumed token may still have expired meanwhile.
            let status = if suspend {
                TokenStatus::Suspended
            } else {
                status_at(false, row.expires_at, now)
            };
            if changed == 0 {
                return Ok(Suspension {
                    changed: false,
                    status,
                });
            }
            audit::record(
                conn,
                now,
                NewEvent {
                    org: crate::domain::OrgId(row.org_id),
                    actor: actor.id(),
                    action: if suspend {
                        "token.suspended"
                    } else {
                        "token.resumed"
                    },
                    token: Some(id),
                    member: Some(MemberId(row.owner_id)),
                    ip: actor.ip.as_deref(),
                    detail: format!(
                        "token “{}” {}",
                        row.name,
                        if suspend { "suspended" } else { "resumed" }
                    ),
                },
            )?;
            Ok(Suspension {
                changed: true,
                status,
            })
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
            let found = db::tokens::working_by_hashes(conn, &hashes, now)?;
            if found.is_empty() {
                return Ok(0);
            }
            let ids: Vec<i64> = found.iter().map(|(id, _, _)| *id).collect();
            let updated = db::tokens::revoke(conn, &ids, now, None, RevokeReason::Leak)?;
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
            db::audit::insert_many(conn, &events)?;
            Ok::<_, Error>(updated)
        })
    }
}

/// Whose tokens a viewer may list.
fn owner_to_list(viewer: &Actor, owner: OwnerFilter) -> Result<Option<MemberId>> {
    match (owner, &viewer.member) {
        (OwnerFilter::Me, Some(m)) => Ok(Some(m.id)),
        (OwnerFilter::Me, None) => Ok(None),
        (OwnerFilter::All, Some(m)) if !m.is_admin() => {
            Err(Error::Forbidden("Only admins can list every token.".into()))
        }
        (OwnerFilter::All, _) => Ok(None),
        (OwnerFilter::Services, Some(m)) if !m.is_admin() => Err(Error::Forbidden(
            "Only admins can list service accounts' tokens.".into(),
        )),
        (OwnerFilter::Services, _) => Ok(None),
        (OwnerFilter::Member(id), Some(m)) if !m.is_admin() && m.id != id => Err(Error::Forbidden(
            "Only admins can list other members' tokens.".into(),
        )),
        (OwnerFilter::Member(id), _) => Ok(Some(id)),
    }
}

fn state_of(status: StatusFilter, now: PrimitiveDateTime) -> db::tokens::State {
    use db::tokens::State;
    match status {
        StatusFilter::Active => State::Active,
        StatusFilter::ExpiringWithin(days) => {
            State::ActiveEndingBy(now + Duration::days(i64::from(days)))
        }
        StatusFilter::Expiring => State::ActiveEndingBefore(expires_at(
            now.date() + Duration::days(i64::from(EXPIRING_SOON_DAYS)),
        )),
        StatusFilter::Expired => State::Expired,
        StatusFilter::Revoked => State::Revoked,
        StatusFilter::Suspended => State::Suspended,
        StatusFilter::All => State::All,
    }
}

/// A `LIKE` pattern for a name search: folded as names are (all of
/// Unicode, on both databases), without control characters (they match no
/// name, and a NUL is an error to PostgreSQL), wildcards escaped.
fn name_pattern(search: &str) -> Option<String> {
    let folded: String = crate::domain::fold(search)
        .chars()
        .filter(|c| !crate::domain::is_invisible_or_control(*c))
        .collect();
    let trimmed = folded.trim();
    if trimmed.is_empty() {
        return None;
    }
    let escaped = trimmed
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(format!("%{escaped}%"))
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

/// A token the viewer may see; any other is "not found", whether it
/// exists or not.
pub(super) fn visible_row(
    conn: &mut DbConnection,
    viewer: &Actor,
    id: TokenId,
) -> Result<db::TokenRow> {
    db::tokens::find(conn, id)?
        .filter(|r| may_touch(viewer, r.owner_id, r.org_id))
        .ok_or(Error::NotFound("token"))
}

/// Members touch their own tokens; admins any in their organisation; the
/// CLI any.
pub(super) fn may_touch(actor: &Actor, owner_id: i64, org_id: i64) -> bool {
    match &actor.member {
        None => true,
        Some(m) if m.id.0 == owner_id => true,
        Some(m) => m.is_admin() && m.org_id.0 == org_id,
    }
}

/// What suspending or resuming did.
#[derive(Debug, Clone, Copy)]
pub struct Suspension {
    /// False when the token was already as asked.
    pub changed: bool,
    /// Its status after: a resumed token may have expired meanwhile.
    pub status: TokenStatus,
}

/// Leak reports one address (IPv4 /32, IPv6 /64) may send per window,
/// counted in the database so every instance shares the budget.
pub const LEAK_REPORTS_PER_WINDOW: i64 = 10;
pub const LEAK_WINDOW: Duration = Duration::minutes(1);

impl Tokens<'_> {
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
