//! The audit log: every create, revoke, login, failed login and member
//! change. Details never hold a secret.

use super::Audit;
use super::{Member, PAGE_SIZE};
use crate::db::{self, DbConnection};
use crate::domain::{MemberId, OrgId, Role, TokenId, is_invisible_or_control};
use crate::error::{Error, Result};
use diesel::QueryResult;
use time::PrimitiveDateTime;

pub(crate) struct NewEvent<'a> {
    pub org: OrgId,
    pub actor: Option<MemberId>,
    pub action: &'a str,
    pub token: Option<TokenId>,
    pub member: Option<MemberId>,
    pub ip: Option<&'a str>,
    pub detail: String,
}

/// The most characters an event's details keep. Anything a stranger typed
/// in them is cut to `MAX_AUDIT_TEXT_CHARS` where it is written in.
const MAX_DETAIL_CHARS: usize = 1000;

/// Details as they are stored: no control, format or bidi characters (no
/// forged lines in an export, no reversed rows), and bounded.
pub(crate) fn clean_detail(detail: &str) -> String {
    detail
        .chars()
        .filter(|c| !is_invisible_or_control(*c))
        .take(MAX_DETAIL_CHARS)
        .collect()
}

pub(crate) fn record(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    e: NewEvent<'_>,
) -> QueryResult<()> {
    let detail = clean_detail(&e.detail);
    db::audit::insert(
        conn,
        &db::NewAuditRow {
            org_id: e.org.0,
            actor_id: e.actor.map(|m| m.0),
            action: e.action,
            token_id: e.token.map(|t| t.0),
            member_id: e.member.map(|m| m.0),
            ip: e.ip,
            detail: &detail,
            created_at: now,
        },
    )?;
    Ok(())
}

/// What many tokens' events share: one row each, in one insert.
pub(crate) struct PerToken<'a> {
    pub org: OrgId,
    pub actor: Option<MemberId>,
    pub action: &'a str,
    pub member: Option<MemberId>,
    pub ip: Option<&'a str>,
}

/// One event per `(token, detail)`.
pub(crate) fn record_per_token<'d>(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    e: PerToken<'_>,
    tokens: impl IntoIterator<Item = (i64, &'d str)>,
) -> QueryResult<()> {
    let rows: Vec<db::NewAuditRow<'_>> = tokens
        .into_iter()
        .map(|(token, detail)| db::NewAuditRow {
            org_id: e.org.0,
            actor_id: e.actor.map(|m| m.0),
            action: e.action,
            token_id: Some(token),
            member_id: e.member.map(|m| m.0),
            ip: e.ip,
            detail,
            created_at: now,
        })
        .collect();
    db::audit::insert_many(conn, &rows)?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: PrimitiveDateTime,
    pub actor_email: Option<String>,
    pub action: String,
    pub token_id: Option<i64>,
    pub member_id: Option<i64>,
    pub ip: Option<String>,
    pub detail: String,
    /// The address is known but not for this viewer (see `insight`).
    #[serde(skip)]
    pub ip_hidden: bool,
    /// The token it is about, as people recognise it: "deploy …a1b2".
    #[serde(skip)]
    pub token_label: Option<String>,
}

impl AuditEvent {
    /// Who did it, as people read it: the member, "anonymous" with the
    /// address for a stranger (a failed sign-in, a leak report, a
    /// presented token), or "CLI / system" for the operator and the
    /// server itself.
    pub fn actor_label(&self) -> String {
        match (&self.actor_email, &self.ip) {
            (Some(email), _) => email.clone(),
            (None, Some(ip)) => format!("anonymous ({ip})"),
            (None, None) if self.ip_hidden => "anonymous".to_owned(),
            (None, None) => "CLI / system".to_owned(),
        }
    }

    /// As `actor_label`, without the address (shown beside it).
    pub fn actor_name(&self) -> String {
        match &self.actor_email {
            Some(email) => email.clone(),
            None if self.ip.is_some() || self.ip_hidden => "anonymous".to_owned(),
            None => "CLI / system".to_owned(),
        }
    }
}

/// Rotated-away tokens presented since a member's previous sign-in.
#[derive(Debug, Clone, Default)]
pub struct ReuseSince {
    pub count: usize,
    /// The address of the latest.
    pub last_ip: Option<String>,
    /// The tokens presented: "“deploy” …a1b2".
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<MemberId>,
    pub page: i64,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub total: i64,
    pub page: i64,
}

impl Audit<'_> {
    /// Reuse of this member's rotated-away tokens since their previous
    /// sign-in: how many times, and the address of the latest.
    pub fn reuse_since_previous_sign_in(&self, member: &Member) -> Result<ReuseSince> {
        let mut conn = self.conn()?;
        let logins = db::audit::latest_sign_ins(&mut conn, &member.email, 2)?;
        let joined = PrimitiveDateTime::new(member.created_at.date(), member.created_at.time());
        let since = logins.get(1).copied().unwrap_or(joined);
        let events =
            db::audit::member_events_since(&mut conn, member.id, "token.reuse_detected", since)?;
        let mut ids: Vec<i64> = events.iter().filter_map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let tokens: Vec<String> = db::tokens::labels(&mut conn, &ids)?
            .into_iter()
            .map(|(_, name, hint)| format!("“{name}” …{hint}"))
            .collect();
        Ok(ReuseSince {
            count: events.len(),
            last_ip: events.first().and_then(|(ip, _)| ip.clone()),
            tokens,
        })
    }

    /// The organisation's audit log, newest first (admins only).
    pub fn log(&self, viewer: &Member, query: &AuditQuery) -> Result<AuditPage> {
        if viewer.role != Role::Admin {
            return Err(Error::Forbidden(
                "Only admins can read the audit log.".into(),
            ));
        }
        let mut conn = self.conn()?;
        let filter = filter_of(viewer, query, None);
        let total = db::audit::count(&mut conn, &filter)?;
        let page = query.page.max(1);
        let rows = db::audit::page(&mut conn, &filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
        let events = events_from_rows(&mut conn, rows)?;
        Ok(AuditPage {
            events,
            total,
            page,
        })
    }
}

impl Audit<'_> {
    /// Events after `after`, oldest first (admins; the management API's
    /// cursor for collectors).
    pub fn after(&self, viewer: &Member, after: i64, limit: i64) -> Result<Vec<AuditEvent>> {
        if viewer.role != Role::Admin {
            return Err(Error::Forbidden(
                "Only admins can read the audit log.".into(),
            ));
        }
        let mut conn = self.conn()?;
        let rows = db::audit::after(&mut conn, viewer.org_id, after, limit)?;
        Ok(events_from_rows(&mut conn, rows)?)
    }

    /// One page of an export: events matching `filter` older than
    /// `before` (all when `None`), newest first. Admins only.
    pub fn export_page(
        &self,
        viewer: &Member,
        filter: &AuditQuery,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        if viewer.role != Role::Admin {
            return Err(Error::Forbidden(
                "Only admins can export the audit log.".into(),
            ));
        }
        let mut conn = self.conn()?;
        let rows = db::audit::page(&mut conn, &filter_of(viewer, filter, before), limit, 0)?;
        Ok(events_from_rows(&mut conn, rows)?)
    }
}

/// The viewer's organisation's events that pass the page's filters.
fn filter_of<'a>(
    viewer: &Member,
    query: &'a AuditQuery,
    before: Option<i64>,
) -> db::audit::Filter<'a> {
    db::audit::Filter {
        org: viewer.org_id,
        action: query.action.as_deref(),
        actor: query.actor,
        before,
    }
}

/// Audit rows as shown: each actor's email in place of their id, and the
/// token each is about by its name and last four characters.
pub(super) fn events_from_rows(
    conn: &mut DbConnection,
    rows: Vec<db::AuditRow>,
) -> QueryResult<Vec<AuditEvent>> {
    let mut actor_ids: Vec<i64> = rows.iter().filter_map(|r| r.actor_id).collect();
    actor_ids.sort_unstable();
    actor_ids.dedup();
    let emails = db::members::emails(conn, &actor_ids)?;
    let mut token_ids: Vec<i64> = rows.iter().filter_map(|r| r.token_id).collect();
    token_ids.sort_unstable();
    token_ids.dedup();
    let tokens: std::collections::HashMap<i64, String> = db::tokens::labels(conn, &token_ids)?
        .into_iter()
        .map(|(id, name, hint)| (id, format!("{name} …{hint}")))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| AuditEvent {
            id: r.id,
            at: r.created_at,
            actor_email: r.actor_id.and_then(|id| emails.get(&id).cloned()),
            action: r.action,
            token_label: r.token_id.and_then(|id| tokens.get(&id).cloned()),
            token_id: r.token_id,
            member_id: r.member_id,
            ip: r.ip,
            detail: r.detail,
            ip_hidden: false,
        })
        .collect())
}
