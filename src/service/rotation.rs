//! Rotation: a new token with the same owner, name and scopes replaces an
//! old one, which stops at once or after an overlap window. Old and new are
//! linked; an old token presented after its window is a sign of theft, and
//! the whole chain is revoked.

use super::Rotation;
use super::audit::{self, NewEvent};
use super::authenticate::audited_lately;
use super::tokens::{CreatedToken, may_touch, view};
use super::{Actor, Member, OrgPolicy, load_policy};
use crate::db;
use crate::domain::{
    MemberId, MemberKind, RevokeReason, TokenId, TokenStatus, expires_at, status_at,
};
use crate::error::{Conflict, Error, Result};
use diesel::QueryResult;
use time::{Duration, PrimitiveDateTime};

/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP: Duration = Duration::hours(24);

/// The token to rotate, if the actor may: only its owner (admins revoke
/// instead; the CLI is the operator), and only while it works and was not
/// replaced already.
fn rotatable(
    conn: &mut db::DbConnection,
    actor: &Actor,
    id: TokenId,
    now: PrimitiveDateTime,
) -> Result<db::TokenRow> {
    let old = match db::tokens::find(conn, id)? {
        Some(row) if may_touch(actor, row.owner_id, row.org_id) => row,
        _ if actor.member.is_some() => {
            return Err(Error::Forbidden("You cannot rotate this token.".into()));
        }
        _ => return Err(Error::NotFound("token")),
    };
    if actor.id().is_some_and(|me| me.0 != old.owner_id) {
        return Err(Error::Forbidden(
            "Only a token's owner can rotate it; an admin can revoke it instead.".into(),
        ));
    }
    db::lock_member(conn, old.owner_id)?;
    let revoked = old.revoked_at.is_some_and(|r| r <= now);
    if status_at(revoked, old.expires_at, now) != TokenStatus::Active || old.replaced_by.is_some() {
        return Err(Conflict::NotRotatable.into());
    }
    if old.suspended_at.is_some() {
        return Err(Conflict::Suspended.into());
    }
    Ok(old)
}

/// The new token's expiry: the old one's lifetime, from today, within the
/// policy.
fn new_expiry(
    old: &db::TokenRow,
    policy: &OrgPolicy,
    kind: MemberKind,
    now: PrimitiveDateTime,
) -> Option<PrimitiveDateTime> {
    // A service account's tokens may have a shorter maximum of their own.
    let rules = policy.expiry_for(kind);
    let max_days = i64::from(rules.max_lifetime_days);
    match old.expires_at {
        Some(at) => {
            let lifetime = (at.date() - old.created_at.date()).whole_days().max(1);
            Some(expires_at(
                now.date() + Duration::days(lifetime.min(max_days)),
            ))
        }
        None if rules.allow_no_expiry => None,
        None => Some(expires_at(now.date() + Duration::days(max_days))),
    }
}

fn rotated_event<'a>(
    actor: &'a Actor,
    owner: &Member,
    old: &db::TokenRow,
    new_id: TokenId,
    stops: Option<PrimitiveDateTime>,
) -> NewEvent<'a> {
    let stops = stops.map_or("once".to_owned(), |at| {
        format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
    });
    NewEvent {
        org: owner.org_id,
        actor: actor.id(),
        action: "token.rotated",
        token: Some(new_id),
        member: Some(owner.id),
        ip: actor.ip.as_deref(),
        detail: format!(
            "\"{}\" #{} replaced by #{}; the old one stops at {stops}",
            old.name, old.id, new_id.0
        ),
    }
}

impl Rotation<'_> {
    /// Rotates `id`. The plaintext of the new token exists only in the
    /// result.
    pub fn rotate(&self, actor: &Actor, id: TokenId, overlap: Duration) -> Result<CreatedToken> {
        if overlap < Duration::ZERO || overlap > MAX_OVERLAP {
            return Err(Error::invalid(
                "overlap_minutes",
                "The overlap must be from 0 to 1440 minutes (24 hours).",
            ));
        }
        let now = self.clock.now();
        let secret = self.format.generate()?;
        let mut conn = self.conn()?;
        let (new_id, owner) = db::write_transaction(&mut conn, |conn| {
            let old = rotatable(conn, actor, id, now)?;
            let owner_row = db::members::find(conn, MemberId(old.owner_id))?
                .ok_or(Error::NotFound("member"))?;
            let owner = Member::from_row(owner_row)?;
            if owner.disabled {
                return Err(Error::Forbidden(format!("{} is disabled.", owner.email)));
            }
            let policy = load_policy(conn, owner.org_id)?;
            // With an overlap, old and new both work for a while: both count.
            if overlap > Duration::ZERO {
                let active = db::tokens::count_active(conn, owner.id, now)?;
                if active + 1 > i64::from(policy.max_active_tokens) {
                    return Err(Conflict::OverlapOverCap {
                        owner: owner.email.clone(),
                        active,
                        max: policy.max_active_tokens,
                    }
                    .into());
                }
            }
            let new_id = db::tokens::insert(
                conn,
                &db::tokens::NewToken {
                    org: owner.org_id,
                    owner: owner.id,
                    name: &old.name,
                    hash: &secret.hash(),
                    hint: &secret.hint(),
                    scopes: old.scopes.clone(),
                    expires_at: new_expiry(&old, &policy, owner.kind, now),
                    created_at: now,
                    created_by: actor.id(),
                    allowed_ips: &old.allowed_ips,
                    rotated_from: Some(TokenId(old.id)),
                    chain: Some(TokenId(old.chain_root())),
                    description: old.description.as_deref(),
                    // A canary's replacement is a canary too.
                    canary: old.canary,
                },
            )?;
            let stops = now + overlap;
            db::tokens::mark_replaced(conn, TokenId(old.id), new_id, stops, actor.id(), now)?;
            let stops = (!overlap.is_zero()).then_some(now + overlap);
            audit::record(conn, now, rotated_event(actor, &owner, &old, new_id, stops))?;
            Ok::<_, Error>((new_id, owner))
        })?;
        let row = db::tokens::find(&mut conn, new_id)?.ok_or(Error::NotFound("token"))?;
        Ok(CreatedToken {
            token: view(row, owner.email, now),
            secret,
        })
    }

    /// A rotated-away token was presented after its window: revoke every
    /// token of its chain (one update, however long the chain) and say so
    /// in the audit log — once a minute per address at most.
    pub fn revoke_chain(&self, id: TokenId, ip: Option<&str>) -> Result<usize> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let Some(presented) = db::tokens::find(conn, id)? else {
                return Ok(0);
            };
            let revoked =
                db::tokens::revoke_chain(conn, presented.chain_root(), now, RevokeReason::Reuse)?;
            if revoked == 0 && audited_lately(conn, "token.reuse_detected", id, ip, now)? {
                return Ok(0);
            }
            audit::record(
                conn,
                now,
                NewEvent {
                    org: crate::domain::OrgId(presented.org_id),
                    actor: None,
                    action: "token.reuse_detected",
                    token: Some(id),
                    member: Some(crate::domain::MemberId(presented.owner_id)),
                    ip,
                    detail: format!(
                        "\"{}\" (…{}), replaced by rotation, presented from {}; {revoked} token(s) of its chain revoked",
                        presented.name,
                        presented.hint,
                        ip.unwrap_or("an unknown address")
                    ),
                },
            )?;
            if revoked > 0 && self.record_webhooks {
                super::webhooks::enqueue_reuse(conn, now, &presented, ip, revoked)?;
            }
            Ok(revoked)
        })
    }
}

/// The most links of a chain a token's page lists.
const CHAIN_SHOWN: i64 = 100;

/// The tokens of `token`'s rotation chain, oldest first (the newest
/// `CHAIN_SHOWN` of a longer one).
pub(super) fn chain_of(
    conn: &mut db::DbConnection,
    token: &db::TokenRow,
) -> QueryResult<Vec<db::TokenRow>> {
    db::tokens::chain(conn, token.chain_root(), CHAIN_SHOWN)
}
