//! Everything about one token for its detail page: who made it, what it
//! may do now, its rotation chain, its audit trail and its daily use.

use super::audit::{AuditEvent, events_from_rows};
use super::rotation::chain_of;
use super::tokens::{TokenView, view, visible_row};
use super::{Actor, Latchkey, load_policy};
use crate::db::{
    self,
    schema::{audit_events as ae, members as m},
};
use crate::domain::{OrgId, Role, ScopeSet, TokenId};
use crate::error::{Error, Result};
use diesel::prelude::*;
use time::Date;

/// Newest audit events shown for one token.
pub const TOKEN_TRAIL_LIMIT: i64 = 100;

#[derive(Debug, Clone)]
pub struct TokenDetail {
    pub token: TokenView,
    pub created_by_email: Option<String>,
    /// Of the stored scopes, those the owner's role may use now.
    pub effective_scopes: ScopeSet,
    /// Oldest first; holds this token.
    pub chain: Vec<TokenView>,
    /// Newest first, at most `TOKEN_TRAIL_LIMIT`.
    pub trail: Vec<AuditEvent>,
    /// Successful requests per UTC day, oldest first (`USAGE_DAYS` days).
    pub usage: Vec<(Date, i64)>,
}

/// Addresses a member who is not an admin may see in their token's trail:
/// their own, and those the token itself was presented from. An admin's
/// or a leak reporter's address is for admins only.
fn hide_others_addresses(viewer: &Actor, trail: &mut [AuditEvent]) {
    let Some(me) = &viewer.member else { return };
    if me.is_admin() {
        return;
    }
    for event in trail {
        let presented = matches!(
            event.action.as_str(),
            "token.reuse_detected" | "token.ip_refused"
        );
        let mine = event.actor_email.as_deref() == Some(me.email.as_str());
        if !presented
            && !mine
            && let Some(ip) = event.ip.take()
        {
            event.detail = event.detail.replace(&ip, "an address shown to admins");
            event.ip_hidden = true;
        }
    }
}

impl Latchkey {
    /// The owner's or an admin's view of one token; anyone else is told it
    /// does not exist.
    pub fn token_detail(&self, viewer: &Actor, id: TokenId) -> Result<TokenDetail> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let row = visible_row(&mut conn, viewer, id)?;
        let (owner_email, owner_role): (String, String) = m::table
            .find(row.owner_id)
            .select((m::email, m::role))
            .first(&mut conn)?;
        let created_by_email = match row.created_by {
            Some(by) => m::table
                .find(by)
                .select(m::email)
                .first::<String>(&mut conn)
                .optional()?,
            None => None,
        };
        let role: Role = owner_role
            .parse()
            .map_err(|e: String| Error::unexpected("a stored role does not parse", e))?;
        let policy = load_policy(&mut conn, OrgId(row.org_id))?;
        let chain_rows = chain_of(&mut conn, &row)?;
        // Rotation keeps the owner: the whole chain is theirs.
        let chain = chain_rows
            .into_iter()
            .map(|r| view(r, owner_email.clone(), now))
            .collect::<Result<Vec<_>>>()?;
        // Its own events, and its replacement by rotation (recorded on the
        // new token).
        let replaced_by = row.replaced_by.unwrap_or(-1);
        let trail_rows: Vec<db::AuditRow> = ae::table
            .filter(
                ae::token_id.eq(row.id).or(ae::token_id
                    .eq(replaced_by)
                    .and(ae::action.eq("token.rotated"))),
            )
            .order(ae::id.desc())
            .limit(TOKEN_TRAIL_LIMIT)
            .load(&mut conn)?;
        let mut trail = events_from_rows(&mut conn, trail_rows)?;
        hide_others_addresses(viewer, &mut trail);
        let usage = self.usage_by_day(&mut conn, id)?;
        let revoker: Option<String> = match row.revoked_by {
            Some(by) => m::table
                .find(by)
                .select(m::email)
                .first(&mut conn)
                .optional()?,
            None => None,
        };
        let mut token = view(row, owner_email, now)?;
        token.revoked_by_email = revoker;
        let effective_scopes = token.scopes.intersect(policy.scope_roles.allowed_for(role));
        Ok(TokenDetail {
            token,
            created_by_email,
            effective_scopes,
            chain,
            trail,
            usage,
        })
    }
}
