//! Rotation: a new token with the same owner, name and scopes replaces an
//! old one, which stops at once or after an overlap window. Old and new are
//! linked; an old token presented after its window is a sign of theft, and
//! the whole chain is revoked.

use super::audit::{self, NewEvent};
use super::authenticate::audited_lately;
use super::tokens::{CreatedToken, count_active, may_touch, view};
use super::{Actor, Latchkey, Member, load_policy};
use crate::db::{self, schema::api_tokens as t};
use crate::domain::{RevokeReason, TokenId, TokenStatus, expires_at, status_at};
use crate::error::{Conflict, Error, Result};
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
        // Rotation hands out a working secret acting as the owner: only the
        // owner may ask (admins revoke instead). The CLI is the operator.
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
            if actor.id().is_some_and(|me| me.0 != old.owner_id) {
                return Err(Error::Forbidden(
                    "Only a token's owner can rotate it; an admin can revoke it instead.".into(),
                ));
            }
            db::lock_member(conn, old.owner_id)?;
            let revoked = old.revoked_at.is_some_and(|r| r <= now);
            if status_at(revoked, old.expires_at, now) != TokenStatus::Active
                || old.replaced_by.is_some()
            {
                return Err(Conflict::NotRotatable.into());
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
            // With an overlap, old and new both work for a while: both count.
            if overlap > Duration::ZERO {
                let active = count_active(conn, owner.id, now)?;
                if active + 1 > i64::from(policy.max_active_tokens) {
                    return Err(Conflict::OverlapOverCap {
                        owner: owner.email.clone(),
                        active,
                        max: policy.max_active_tokens,
                    }
                    .into());
                }
            }
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
                    chain_id: Some(old.chain_root()),
                    name_folded: &crate::domain::fold(&old.name),
                })
                .returning(t::id)
                .get_result(conn)?;
            let stops = now + overlap;
            diesel::update(t::table.find(old.id))
                .set((
                    t::revoked_at.eq(Some(stops)),
                    t::revoked_by.eq(actor.id().map(|m| m.0)),
                    t::replaced_by.eq(Some(new_id)),
                    t::revoked_reason.eq(Some(RevokeReason::Rotated.as_str())),
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
                            format!(
                                "{} {:02}:{:02} UTC",
                                stops.date(),
                                stops.hour(),
                                stops.minute()
                            )
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
    /// token of its chain (one update, however long the chain) and say so
    /// in the audit log — once a minute per address at most.
    pub fn revoke_chain(&self, id: TokenId, ip: Option<&str>) -> Result<usize> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let Some(presented) = t::table.find(id.0).first::<db::TokenRow>(conn).optional()?
            else {
                return Ok(0);
            };
            let root = presented.chain_root();
            let revoked = diesel::update(
                t::table
                    .filter(t::id.eq(root).or(t::chain_id.eq(root)))
                    .filter(t::revoked_at.is_null().or(t::revoked_at.gt(now))),
            )
            .set((
                t::revoked_at.eq(Some(now)),
                t::revoked_reason.eq(Some(RevokeReason::Reuse.as_str())),
            ))
            .execute(conn)?;
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
            if revoked > 0 && self.webhooks {
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
    let root = token.chain_root();
    let mut chain: Vec<db::TokenRow> = t::table
        .filter(t::id.eq(root).or(t::chain_id.eq(root)))
        .order(t::id.desc())
        .limit(CHAIN_SHOWN)
        .load(conn)?;
    chain.reverse();
    Ok(chain)
}
