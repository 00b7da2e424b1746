//! Rotation: a new token with the same owner, name and scopes replaces an
//! old one, which stops at once or after an overlap window. Old and new are
//! linked; an old token presented after its window is a sign of theft, and
//! the whole chain is revoked.

use super::audit::{self, NewEvent};
use super::tokens::{CreatedToken, may_touch, view};
use super::{Actor, Latchkey, Member, load_policy};
use crate::db::{self, DbConnection, schema::api_tokens as t};
use crate::domain::{TokenId, TokenStatus, expires_at, status_at};
use crate::error::{Error, Result};
use diesel::prelude::*;
use time::Duration;

/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP: Duration = Duration::hours(24);

impl Latchkey {
    /// Rotates `id`. The plaintext of the new token exists only in the
    /// result.
    pub fn rotate_token(
        &self,
        actor: &Actor,
        id: TokenId,
        overlap: Duration,
    ) -> Result<CreatedToken> {
        if overlap < Duration::ZERO || overlap > MAX_OVERLAP {
            return Err(Error::invalid(
                "overlap_minutes",
                "The overlap must be from 0 to 1440 minutes (24 hours).",
            ));
        }
        let now = self.clock.now();
        let secret = self.format.generate()?;
        let hash = secret.hash();
        let hint = secret.hint();
        let mut conn = self.conn()?;
        let (new_id, owner) = db::write_transaction(&mut conn, |conn| {
            let old: Option<db::TokenRow> = t::table.find(id.0).first(conn).optional()?;
            let old = match old {
                Some(row) if may_touch(actor, row.owner_id, row.org_id) => row,
                _ if actor.member.is_some() => {
                    return Err(Error::Forbidden("You cannot rotate this token.".into()));
                }
                _ => return Err(Error::NotFound("token")),
            };
            db::lock_member(conn, old.owner_id)?;
            let revoked = old.revoked_at.is_some_and(|r| r <= now);
            if status_at(revoked, old.expires_at, now) != TokenStatus::Active
                || old.replaced_by.is_some()
            {
                return Err(Error::Conflict(
                    "Only an active token that was not rotated already can be rotated.".into(),
                ));
            }
            let owner_row: db::MemberRow = crate::db::schema::members::table
                .find(old.owner_id)
                .first(conn)?;
            let owner = Member::from_row(owner_row)?;
            if owner.disabled {
                return Err(Error::Forbidden(format!("{} is disabled.", owner.email)));
            }
            // Same lifetime as the old token, from today, within the policy.
            let policy = load_policy(conn, owner.org_id)?;
            let expires = match old.expires_at {
                Some(at) => {
                    let lifetime = (at.date() - old.created_at.date()).whole_days().max(1);
                    let days = lifetime.min(i64::from(policy.expiry.max_lifetime_days));
                    Some(expires_at(now.date() + Duration::days(days)))
                }
                None if policy.expiry.allow_no_expiry => None,
                None => Some(expires_at(
                    now.date() + Duration::days(i64::from(policy.expiry.max_lifetime_days)),
                )),
            };
            let new_id: i64 = diesel::insert_into(t::table)
                .values(db::NewTokenRow {
                    org_id: old.org_id,
                    owner_id: old.owner_id,
                    name: &old.name,
                    token_hash: hash.as_bytes(),
                    hint: &hint,
                    scopes: &old.scopes,
                    expires_at: expires,
                    created_at: now,
                    created_by: actor.id().map(|m| m.0),
                    rotated_from: Some(old.id),
                    allowed_ips: &old.allowed_ips,
                })
                .returning(t::id)
                .get_result(conn)?;
            let stops = now + overlap;
            diesel::update(t::table.find(old.id))
                .set((
                    t::revoked_at.eq(Some(stops)),
                    t::revoked_by.eq(actor.id().map(|m| m.0)),
                    t::replaced_by.eq(Some(new_id)),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org: owner.org_id,
                    actor: actor.id(),
                    action: "token.rotated",
                    token: Some(TokenId(new_id)),
                    member: Some(owner.id),
                    ip: actor.ip.as_deref(),
                    detail: format!(
                        "\"{}\" #{} replaced by #{new_id}; the old one stops at {}",
                        old.name,
                        old.id,
                        if overlap.is_zero() {
                            "once".to_owned()
                        } else {
                            stops.to_string()
                        }
                    ),
                },
            )?;
            Ok((new_id, owner))
        })?;
        let row: db::TokenRow = t::table.find(new_id).first(&mut conn)?;
        Ok(CreatedToken {
            token: view(row, owner.email, now)?,
            secret,
        })
    }

    /// A rotated-away token was presented after its window: revoke every
    /// token of its chain and say so in the audit log.
    pub fn revoke_chain(&self, id: TokenId, ip: Option<&str>) -> Result<usize> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let chain = chain_of(conn, id.0)?;
            let Some(first) = chain.first() else {
                return Ok(0);
            };
            let (org, owner) = (first.org_id, first.owner_id);
            let ids: Vec<i64> = chain.iter().map(|r| r.id).collect();
            let revoked = diesel::update(
                t::table
                    .filter(t::id.eq_any(&ids))
                    .filter(t::revoked_at.is_null().or(t::revoked_at.gt(now))),
            )
            .set(t::revoked_at.eq(Some(now)))
            .execute(conn)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org: crate::domain::OrgId(org),
                    actor: None,
                    action: "token.reuse_detected",
                    token: Some(id),
                    member: Some(crate::domain::MemberId(owner)),
                    ip,
                    detail: format!(
                        "rotated-away token #{} presented from {}; {revoked} token(s) of its chain revoked",
                        id.0,
                        ip.unwrap_or("an unknown address")
                    ),
                },
            )?;
            if revoked > 0
                && self.webhooks
                && let Some(presented) = chain.iter().find(|r| r.id == id.0)
            {
                super::webhooks::enqueue_reuse(conn, now, presented, ip, revoked)?;
            }
            Ok(revoked)
        })
    }
}

/// Every token linked to `id` by rotation, oldest first.
pub(super) fn chain_of(conn: &mut DbConnection, id: i64) -> QueryResult<Vec<db::TokenRow>> {
    let mut start: db::TokenRow = t::table.find(id).first(conn)?;
    let mut guard = 0;
    while let Some(prev) = start.rotated_from {
        start = t::table.find(prev).first(conn)?;
        guard += 1;
        if guard > 10_000 {
            break;
        }
    }
    let mut chain = vec![start];
    while let Some(next) = chain.last().and_then(|r| r.replaced_by) {
        chain.push(t::table.find(next).first(conn)?);
        if chain.len() > 10_000 {
            break;
        }
    }
    Ok(chain)
}
