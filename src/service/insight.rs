//! Everything about one token for its detail page: who made it, what it
//! may do now, its rotation chain, its audit trail and its daily use.

use super::Tokens;
use super::audit::{AuditEvent, events_from_rows};
use super::rotation::chain_of;
use super::tokens::{TokenView, view, visible_row};
use super::{Actor, load_policy};
use crate::db;
use crate::domain::{Catalogue, MemberId, OrgId, ScopeSet, TokenId};
use crate::error::{Error, Result};
use time::Date;

/// Newest audit events shown for one token.
pub const TOKEN_TRAIL_LIMIT: i64 = 100;

#[derive(Debug, Clone)]
pub struct TokenDetail {
    pub token: TokenView,
    pub created_by_email: Option<String>,
    /// Of the stored scopes, those the owner's role may use now.
    pub effective_scopes: ScopeSet,
    /// What each scope means (retired ones included).
    pub catalogue: Catalogue,
    /// Oldest first; holds this token.
    pub chain: Vec<TokenView>,
    /// Newest first, at most `TOKEN_TRAIL_LIMIT`.
    pub trail: Vec<AuditEvent>,
    /// Successful requests per UTC day, oldest first (`USAGE_DAYS` days).
    pub usage: Vec<(Date, i64)>,
    /// For a canary: the uses reported (once a minute per address).
    pub canary_uses: i64,
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

impl Tokens<'_> {
    /// The owner's or an admin's view of one token; anyone else is told it
    /// does not exist.
    pub fn detail(&self, viewer: &Actor, id: TokenId) -> Result<TokenDetail> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let row = visible_row(&mut conn, viewer, id)?;
        let owner = db::members::find(&mut conn, MemberId(row.owner_id))?
            .ok_or(Error::NotFound("member"))?;
        let mut others: Vec<i64> = row.created_by.into_iter().chain(row.revoked_by).collect();
        others.dedup();
        let emails = db::members::emails(&mut conn, &others)?;
        let created_by_email = row.created_by.and_then(|by| emails.get(&by).cloned());
        let revoker = row.revoked_by.and_then(|by| emails.get(&by).cloned());
        let policy = load_policy(&mut conn, OrgId(row.org_id))?;
        // Rotation keeps the owner: the whole chain is theirs.
        let chain = chain_of(&mut conn, &row)?
            .into_iter()
            .map(|r| view(r, owner.email.clone(), now))
            .collect();
        let trail_rows = db::audit::for_token(
            &mut conn,
            id,
            row.replaced_by.map(TokenId),
            TOKEN_TRAIL_LIMIT,
        )?;
        let mut trail = events_from_rows(&mut conn, trail_rows)?;
        hide_others_addresses(viewer, &mut trail);
        let usage = self.usage().by_day(&mut conn, id)?;
        let canary_uses = if row.canary {
            db::audit::count_for_token(&mut conn, id, "token.canary_used")?
        } else {
            0
        };
        let role = owner.role;
        let token = TokenView {
            revoked_by_email: revoker,
            owner_disabled: owner.disabled,
            ..view(row, owner.email, now)
        }
        .judged(&policy, owner.kind, now);
        let effective_scopes = token.scopes.intersect(&policy.scopes.allowed_for(role));
        Ok(TokenDetail {
            token,
            created_by_email,
            effective_scopes,
            catalogue: policy.scopes,
            chain,
            trail,
            usage,
            canary_uses,
        })
    }
}
