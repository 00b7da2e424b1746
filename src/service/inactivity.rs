//! Inactivity: tokens unused (or never used) for the policy's number of
//! days are revoked by the background sweep, once, whichever instance
//! gets there first; `latchkey token prune-inactive` does the same by
//! hand, for any number of days, and can say first what it would do.

use super::Actor;
use super::Tokens;
use super::tokens::{opt_rfc3339, rfc3339};
use crate::db::{self, DbConnection};
use crate::domain::{Inactivity, MemberId, OrgId, RevokeReason};
use crate::error::{Error, Result};
use serde::Serialize;
use time::PrimitiveDateTime;

/// A token that was (or would be) revoked for inactivity.
#[derive(Debug, Clone, Serialize)]
pub struct IdleToken {
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub owner_email: String,
    #[serde(with = "rfc3339")]
    pub created_at: PrimitiveDateTime,
    #[serde(with = "opt_rfc3339")]
    pub last_used_at: Option<PrimitiveDateTime>,
}

impl Tokens<'_> {
    /// Revokes (or with `apply = false` only lists) the working tokens of
    /// the actor's organisation unused for `days` days. The CLI, or an
    /// admin.
    pub fn prune_inactive(&self, actor: &Actor, days: u32, apply: bool) -> Result<Vec<IdleToken>> {
        if actor.member.as_ref().is_some_and(|m| !m.is_admin()) {
            return Err(Error::Forbidden(
                "Only admins can revoke unused tokens.".into(),
            ));
        }
        if !(1..=crate::domain::INACTIVE_DAYS_MAX).contains(&days) {
            return Err(Error::invalid(
                "days",
                format!("From 1 to {} days.", crate::domain::INACTIVE_DAYS_MAX),
            ));
        }
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let org = match &actor.member {
            Some(m) => m.org_id,
            None => super::default_org_on(&mut conn)?,
        };
        let rule = Inactivity { days };
        if !apply {
            return idle_tokens(&mut conn, org, rule, now);
        }
        db::write_transaction(&mut conn, |conn| {
            revoke_idle(conn, org, rule, now, actor.id())
        })
    }

    /// The background sweep: every organisation with an inactivity policy
    /// loses its tokens unused that long. Returns how many were revoked.
    pub fn sweep_inactive(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let mut revoked = 0;
        for (org, rule) in rules(&mut conn)? {
            revoked +=
                db::write_transaction(&mut conn, |conn| revoke_idle(conn, org, rule, now, None))?
                    .len();
        }
        Ok(revoked)
    }

    /// Tokens of an organisation due an "inactive soon" notice now (last
    /// active in the week before the cutoff), with their owner's email.
    pub(super) fn inactive_soon(
        &self,
        conn: &mut DbConnection,
    ) -> Result<Vec<(db::TokenRow, String, u32)>> {
        let now = self.clock.now();
        let mut due = Vec::new();
        for (org, rule) in rules(conn)? {
            let rows = db::tokens::idle_since(
                conn,
                org,
                rule.notice_cutoff(now),
                Some(rule.cutoff(now)),
                now,
            )?;
            let ids: Vec<i64> = rows.iter().map(|r| r.owner_id).collect();
            let emails = db::members::emails(conn, &ids)?;
            due.extend(rows.into_iter().map(|r| {
                let email = emails.get(&r.owner_id).cloned().unwrap_or_default();
                (r, email, rule.days)
            }));
        }
        Ok(due)
    }
}

/// The organisations that revoke unused tokens, with their rule.
fn rules(conn: &mut DbConnection) -> Result<Vec<(OrgId, Inactivity)>> {
    Ok(db::organisations::with_inactivity(conn)?
        .into_iter()
        .map(|(org, days)| {
            let days = u32::try_from(days).unwrap_or(crate::domain::INACTIVE_DAYS_MAX);
            (org, Inactivity { days })
        })
        .collect())
}

fn idle_tokens(
    conn: &mut DbConnection,
    org: OrgId,
    rule: Inactivity,
    now: PrimitiveDateTime,
) -> Result<Vec<IdleToken>> {
    let rows = db::tokens::idle_since(conn, org, rule.cutoff(now), None, now)?;
    let owners: Vec<i64> = rows.iter().map(|r| r.owner_id).collect();
    let emails = db::members::emails(conn, &owners)?;
    Ok(rows
        .into_iter()
        .map(|r| IdleToken {
            owner_email: emails.get(&r.owner_id).cloned().unwrap_or_default(),
            id: r.id,
            name: r.name,
            hint: r.hint,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        })
        .collect())
}

/// Inside a transaction: the organisation is locked first, so two
/// instances sweeping at once revoke (and audit) each token once.
pub(super) fn revoke_idle(
    conn: &mut DbConnection,
    org: OrgId,
    rule: Inactivity,
    now: PrimitiveDateTime,
    by: Option<MemberId>,
) -> Result<Vec<IdleToken>> {
    db::lock_organisation(conn, org.0)?;
    let idle = idle_tokens(conn, org, rule, now)?;
    if idle.is_empty() {
        return Ok(idle);
    }
    let ids: Vec<i64> = idle.iter().map(|t| t.id).collect();
    db::tokens::revoke(conn, &ids, now, by, RevokeReason::Inactivity)?;
    let detail = format!("inactivity: unused for {} days", rule.days);
    let per_token = super::audit::PerToken {
        org,
        actor: by,
        action: "token.revoked",
        member: None,
        ip: None,
    };
    let events = idle.iter().map(|t| (t.id, detail.as_str()));
    super::audit::record_per_token(conn, now, per_token, events)?;
    Ok(idle)
}
