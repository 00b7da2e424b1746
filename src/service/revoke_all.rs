//! "Revoke every token issued before now" for one member, one service
//! account or the whole organisation.
//!
//! One row gets a watermark (the member's, or the organisation's), which
//! the token check compares with each token's creation time: whatever
//! instance or cache answers next, a token made before it stops. The
//! working tokens it stops are also revoked in the same transaction, so
//! lists, the revocation feed and the audit log show each of them.
//! Canaries are left as they are: they never work, and keep reporting.

use super::Tokens;
use super::audit::{self, NewEvent};
use super::{Actor, Member};
use crate::db::{self, DbConnection};
use crate::domain::{MemberId, OrgId, RevokeReason};
use crate::error::{Error, Result};
use time::PrimitiveDateTime;

/// Whose tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeAllTarget {
    /// A person or a service account.
    Member(MemberId),
    /// Every token of the actor's organisation.
    Organisation,
}

/// What a "revoke every token" does (or did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeAllEffect {
    /// The tokens revoked: working ones, and suspended or disabled
    /// members' ones that could work again.
    pub tokens: usize,
    /// Who they belong to, as people read it: an email, a service
    /// account's name, or "the organisation".
    pub subject: String,
}

impl Tokens<'_> {
    /// What `revoke_all` would do now, computed by the same code, in a
    /// transaction that is rolled back.
    pub fn revoke_all_preview(
        &self,
        actor: &Actor,
        target: RevokeAllTarget,
    ) -> Result<RevokeAllEffect> {
        self.revoke_all_in(actor, target, false)
    }

    /// Stops every token issued before now for `target`. Admins for anyone
    /// in their organisation and for the organisation; members for
    /// themselves; the CLI for anything.
    pub fn revoke_all(&self, actor: &Actor, target: RevokeAllTarget) -> Result<RevokeAllEffect> {
        self.revoke_all_in(actor, target, true)
    }

    fn revoke_all_in(
        &self,
        actor: &Actor,
        target: RevokeAllTarget,
        apply: bool,
    ) -> Result<RevokeAllEffect> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        super::preview::run(&mut conn, apply, |conn| stop_all(conn, actor, target, now))
    }
}

/// The whole change, inside the caller's transaction.
fn stop_all(
    conn: &mut DbConnection,
    actor: &Actor,
    target: RevokeAllTarget,
    now: PrimitiveDateTime,
) -> Result<RevokeAllEffect> {
    let org = match &actor.member {
        Some(m) => m.org_id,
        None => db::organisations::first_id(conn)?,
    };
    let whose = match target {
        RevokeAllTarget::Member(id) => Some(target_member(conn, actor, id, org)?),
        RevokeAllTarget::Organisation => {
            if actor.member.as_ref().is_some_and(|m| !m.is_admin()) {
                return Err(Error::Forbidden(
                    "Only admins can revoke every token of the organisation.".into(),
                ));
            }
            None
        }
    };
    let org = whose.as_ref().map_or(org, |m| m.org_id);
    db::lock_organisation(conn, org.0)?;
    let ids = db::tokens::working_ids_before(conn, org, whose.as_ref().map(|m| m.id), now)?;
    match &whose {
        Some(m) => db::members::set_tokens_valid_after(conn, m.id, now)?,
        None => db::organisations::set_tokens_valid_after(conn, org, now)?,
    };
    let revoked = db::tokens::revoke(conn, &ids, now, actor.id(), RevokeReason::RevokeAll)?;
    let subject = match &whose {
        Some(m) => m.email.clone(),
        None => "the organisation".to_owned(),
    };
    let per_token = audit::PerToken {
        org,
        actor: actor.id(),
        action: "token.revoked",
        member: whose.as_ref().map(|m| m.id),
        ip: actor.ip.as_deref(),
    };
    let label = RevokeReason::RevokeAll.label();
    audit::record_per_token(conn, now, per_token, ids.iter().map(|id| (*id, label)))?;
    audit::record(
        conn,
        now,
        NewEvent {
            org,
            actor: actor.id(),
            action: "tokens.revoked_before",
            token: None,
            member: whose.as_ref().map(|m| m.id),
            ip: actor.ip.as_deref(),
            detail: format!(
                "every token of {subject} issued before now: {revoked} token{} revoked",
                if revoked == 1 { "" } else { "s" }
            ),
        },
    )?;
    Ok(RevokeAllEffect {
        tokens: revoked,
        subject,
    })
}

/// The member whose tokens stop, if the actor may do it: themselves, or
/// anyone in their organisation for an admin.
fn target_member(
    conn: &mut DbConnection,
    actor: &Actor,
    id: MemberId,
    org: OrgId,
) -> Result<Member> {
    let found = db::members::find(conn, id)?
        .map(Member::from_row)
        .transpose()?
        .filter(|m| actor.member.is_none() || m.org_id == org)
        .ok_or(Error::NotFound("member"))?;
    match &actor.member {
        Some(me) if me.id != found.id && !me.is_admin() => Err(Error::Forbidden(
            "Only admins can revoke another member's tokens.".into(),
        )),
        _ => Ok(found),
    }
}
