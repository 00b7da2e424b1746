//! Settings → Audit log (admins).

use super::error::WebError;
use super::forms::FormData;
use super::html;
use super::session::CurrentMember;
use super::views::*;
use crate::domain::MemberId;
use crate::service::{AuditQuery, Latchkey, PAGE_SIZE};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};

pub const ACTIONS: [&str; 29] = [
    "token.created",
    "token.revoked",
    "token.rotated",
    "token.reuse_detected",
    "token.ip_refused",
    "token.canary_used",
    "token.suspended",
    "token.resumed",
    "token.policy_blocked",
    "tokens.revoked_before",
    "policy.changed",
    "scope.added",
    "scope.changed",
    "scope.retired",
    "login.succeeded",
    "login.failed",
    "login.password_accepted",
    "login.sso_succeeded",
    "member.added",
    "member.role_changed",
    "member.disabled",
    "member.enabled",
    "member.password_set",
    "member.password_changed",
    "member.signed_out",
    "member.2fa_enrolled",
    "member.2fa_disabled",
    "member.2fa_reset",
    "member.recovery_code_used",
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page);
}

/// Pages past this are refused before any arithmetic (50 events a page).
const MAX_PAGE: i64 = 1_000_000;

/// The page's filters from the query string: action, member (the actor)
/// and page. The exports take the same.
pub(super) fn filters(req: &HttpRequest) -> Result<(String, Option<MemberId>, i64), WebError> {
    let q = FormData::parse(req.query_string().as_bytes())
        .map_err(|e| WebError::bad_request(e.to_string()))?;
    let action = q.text("action").to_owned();
    if !action.is_empty() && !ACTIONS.contains(&action.as_str()) {
        return Err(WebError::bad_request(format!("Unknown action “{action}”.")));
    }
    let member = match q.get("member").filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(
            m.parse::<MemberId>()
                .map_err(|_| WebError::bad_request("Unknown member."))?,
        ),
    };
    let page_number = match q.get("page").filter(|p| !p.is_empty()) {
        None => 1,
        Some(p) => p
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or_else(|| {
                WebError::bad_request(format!("The page must be a number from 1 to {MAX_PAGE}."))
            })?,
    };
    Ok((action, member, page_number))
}

#[get("/settings/audit")]
async fn page(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    current.require_admin("Only admins can read the audit log.")?;
    let (action, member, page_number) = filters(&req)?;
    let svc = service.clone();
    let viewer = current.member.clone();
    let query = AuditQuery {
        action: (!action.is_empty()).then(|| action.clone()),
        actor: member,
        page: page_number,
    };
    let (log, members) = web::block(move || {
        let log = svc.audit().log(&viewer, &query)?;
        let members = svc.members().list(viewer.org_id)?;
        Ok::<_, crate::error::Error>((log, members))
    })
    .await??;
    let pages = ((log.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let href = |p: i64| {
        let mut h = format!("/settings/audit?page={p}");
        if !action.is_empty() {
            h.push_str(&format!("&action={}", encode_query(&action)));
        }
        if let Some(m) = member {
            h.push_str(&format!("&member={m}"));
        }
        h
    };
    let rows = log
        .events
        .into_iter()
        .map(|e| AuditRow {
            token: e.token_id.zip(e.token_label.clone()),
            at: format_moment(e.at),
            actor: e.actor_label(),
            action: e.action,
            detail: e.detail,
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        render(&AuditPage {
            layout: Layout::for_member(&current, "audit"),
            rows,
            actions: ACTIONS.iter().map(|a| (*a, *a == action)).collect(),
            members: members
                .into_iter()
                .map(|m| (m.id.0, m.email, Some(m.id) == member))
                .collect(),
            total: log.total,
            page: log.page,
            pages,
            export_query: {
                let mut q = String::new();
                if !action.is_empty() {
                    q.push_str(&format!("?action={}", encode_query(&action)));
                }
                if let Some(m) = member {
                    q.push_str(if q.is_empty() { "?" } else { "&" });
                    q.push_str(&format!("member={m}"));
                }
                q
            },
            prev_href: (log.page > 1).then(|| href(log.page - 1)),
            next_href: (log.page < pages).then(|| href(log.page + 1)),
        }),
    ))
}
