//! Settings → API Tokens: the list (here), generate with the one-time
//! reveal (`generate`), revoke one or many (`revoke`).

mod detail;
pub(super) mod generate;
mod revoke;
mod suspend;

use super::error::WebError;
use super::format;
use super::forms::FormData;
use super::html;
use super::session::CurrentMember;
use super::views::*;
use crate::domain::{MemberId, TokenStatus};
use crate::service::{
    EXPIRING_SOON_DAYS, Latchkey, OwnerFilter, PAGE_SIZE, StatusFilter, TokenQuery, TokenView,
};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use time::PrimitiveDateTime;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(generate::new_form)
        // After `new_form`: `/settings/api-tokens/new` is not a token id.
        .service(detail::show)
        .service(generate::create)
        .service(generate::rotate)
        .service(revoke::bulk_revoke)
        .service(revoke::revoke_one)
        .service(suspend::suspend)
        .service(suspend::resume);
}

/// The list's filters, read strictly from the query string.
pub(super) struct Filters {
    status: StatusFilter,
    owner: OwnerFilter,
    q: String,
    page: i64,
}

impl Filters {
    pub(super) fn parse(query: &str, current: &CurrentMember) -> Result<Filters, WebError> {
        let form =
            FormData::parse(query.as_bytes()).map_err(|e| WebError::bad_request(e.to_string()))?;
        let status = match form.get("status").filter(|s| !s.is_empty()) {
            None => StatusFilter::Active,
            Some(s) => StatusFilter::parse(s).ok_or_else(|| {
                WebError::bad_request(format!(
                    "Unknown status filter “{s}”: use active, expired, revoked or all."
                ))
            })?,
        };
        let owner = match form.get("owner").filter(|s| !s.is_empty()) {
            None | Some("me") => OwnerFilter::Me,
            Some("all") if current.member.is_admin() => OwnerFilter::All,
            Some("service") if current.member.is_admin() => OwnerFilter::Services,
            Some("all" | "service") => {
                return Err(WebError::forbidden(
                    "Only admins can see every token in the organisation.",
                ));
            }
            Some(o) => {
                return Err(WebError::bad_request(format!(
                    "Unknown owner filter “{o}”: use me, all or service."
                )));
            }
        };
        let page = match form.get("page").filter(|s| !s.is_empty()) {
            None => 1,
            Some(p) => p
                .parse::<i64>()
                .ok()
                .filter(|p| (1..=1_000_000).contains(p))
                .ok_or_else(|| WebError::bad_request("The page must be a positive number."))?,
        };
        let q = form.text("q").trim().chars().take(100).collect();
        Ok(Filters {
            status,
            owner,
            q,
            page,
        })
    }

    pub(super) fn owner_str(&self) -> &'static str {
        match self.owner {
            OwnerFilter::All => "all",
            OwnerFilter::Services => "service",
            _ => "me",
        }
    }

    fn href(&self, page: i64) -> String {
        let mut href = format!(
            "/settings/api-tokens?status={}&owner={}",
            self.status.as_str(),
            self.owner_str()
        );
        if !self.q.is_empty() {
            href.push_str("&q=");
            href.push_str(&encode_query(&self.q));
        }
        if page > 1 {
            href.push_str(&format!("&page={page}"));
        }
        href
    }
}

pub(super) fn row(
    t: TokenView,
    now: PrimitiveDateTime,
    show_owner: bool,
    viewer: MemberId,
) -> TokenRow {
    let active = t.status == TokenStatus::Active;
    let replaced = is_replaced(&t);
    let (status, status_label) = shown_status(&t);
    let ends_at = if replaced { t.revoked_at } else { t.expires_at };
    let expires = match ends_at {
        None => "Never".to_owned(),
        Some(at) if active => format!(
            "{} ({})",
            format::short_day(at.date()),
            format::until(at, now)
        ),
        Some(at) => format::short_day(at.date()),
    };
    let status_note = if replaced {
        ends_at.map(|at| format!("Replaced; stops {}", format::until(at, now)))
    } else if active && t.owner_disabled {
        Some("Refused while the owner is disabled".to_owned())
    } else if active && t.stopped_by_policy.is_some() {
        Some("Stopped by the policy: longer than the maximum lifetime".to_owned())
    } else {
        revoked_note(t.revoked_at, t.revoked_reason, t.revoked_by_email, now)
    };
    TokenRow {
        id: t.id.0,
        hint: t.hint,
        owner_email: t.owner_email,
        show_owner,
        scopes: t.scopes.names(),
        created: format!(
            "Created {} ({})",
            format::moment(t.created_at),
            format::since(t.created_at, now)
        ),
        expires,
        expires_exact: if replaced {
            ends_at.map_or_else(String::new, |at| {
                format!("Stops {} ({})", format::moment(at), format::until(at, now))
            })
        } else {
            format::expiry(t.expires_at, now)
        },
        expires_machine: ends_at.map(format::machine).unwrap_or_default(),
        expires_soon: active && !replaced && !t.canary && format::expires_soon(t.expires_at, now),
        canary: t.canary,
        inactive_soon: active && t.inactive_soon,
        last_used: t
            .last_used_at
            .map_or("Never used".to_owned(), |at| format::since(at, now)),
        last_used_from: t
            .last_used_ip
            .map(|ip| format!("from {ip}"))
            .unwrap_or_default(),
        allowed_ips: t.allowed_ips.join(", "),
        rotatable: active && !replaced && t.owner_id == viewer,
        status,
        status_label,
        active,
        status_note,
        name: t.name,
    }
}

/// A working token replaced by rotation with an overlap: it works until
/// the end of the overlap, and that is when it stops, not its old expiry.
pub(super) fn is_replaced(t: &TokenView) -> bool {
    t.status == TokenStatus::Active && t.replaced_by.is_some()
}

/// A token's state as the console shows it: (class, label).
pub(super) fn shown_status(t: &TokenView) -> (&'static str, &'static str) {
    match t.status {
        TokenStatus::Active if t.owner_disabled => ("disabled", "Owner disabled"),
        TokenStatus::Active if is_replaced(t) => ("rotated", "Rotated"),
        other => (other.as_str(), other.label()),
    }
}

/// "Revoked Mon 30 Nov 2026 by a@x.io — bulk revoke": who, when and why.
pub(super) fn revoked_note(
    at: Option<PrimitiveDateTime>,
    reason: Option<crate::domain::RevokeReason>,
    by: Option<String>,
    now: PrimitiveDateTime,
) -> Option<String> {
    let at = at.filter(|at| *at <= now)?;
    let mut note = format!("Revoked {}", format::day(at.date()));
    if let Some(by) = by {
        note.push_str(&format!(" by {by}"));
    }
    if let Some(reason) = reason {
        note.push_str(&format!(" — {}", reason.label()));
    }
    Some(note)
}

pub(super) async fn token_list(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    filters: &Filters,
    notice: Option<String>,
) -> Result<TokenList, WebError> {
    let (svc, actor) = (service.clone(), current.actor());
    let query = TokenQuery {
        status: filters.status,
        owner: filters.owner,
        search: Some(filters.q.clone()),
        page: filters.page,
    };
    let page = web::block(move || svc.tokens().list(&actor, &query)).await??;
    let filtered = filters.status != StatusFilter::Active || !filters.q.is_empty();
    let org_total = if filters.owner == OwnerFilter::Me && current.member.is_admin() {
        organisation_total(service, current).await?
    } else {
        None
    };
    let now = service.clock().now();
    let show_owner = matches!(filters.owner, OwnerFilter::All | OwnerFilter::Services);
    let first_shown = if page.total == 0 {
        0
    } else {
        (page.page - 1) * PAGE_SIZE + 1
    };
    let last_shown = (first_shown + page.tokens.len() as i64 - 1).max(0);
    let window = (page.page - 3).max(1)..=(page.page + 3).min(page.pages);
    Ok(TokenList {
        rows: page
            .tokens
            .into_iter()
            .map(|t| row(t, now, show_owner, current.member.id))
            .collect(),
        status: filters.status.as_str(),
        owner: filters.owner_str(),
        q: filters.q.clone(),
        q_encoded: encode_query(&filters.q),
        total: page.total,
        pages: page.pages,
        first_shown,
        last_shown,
        page_links: window
            .map(|p| PageLink {
                label: p.to_string(),
                href: filters.href(p),
                current: p == page.page,
            })
            .collect(),
        prev_href: (page.page > 1).then(|| filters.href(page.page - 1)),
        next_href: (page.page < page.pages).then(|| filters.href(page.page + 1)),
        is_admin: current.member.is_admin(),
        show_owner,
        notice,
        csrf: current.csrf.clone(),
        filtered,
        org_total,
        bulk_error: None,
    })
}

/// Active tokens in the whole organisation, when there are any.
async fn organisation_total(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
) -> Result<Option<i64>, WebError> {
    let (svc, actor) = (service.clone(), current.actor());
    let query = TokenQuery {
        status: StatusFilter::Active,
        owner: OwnerFilter::All,
        search: None,
        page: 1,
    };
    let total = web::block(move || svc.tokens().list(&actor, &query))
        .await??
        .total;
    Ok((total > 0).then_some(total))
}

#[get("/settings/api-tokens")]
async fn list(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let htmx = current.htmx;
    let filters = Filters::parse(req.query_string(), &current)?;
    // A notice comes from the session, never from the address: no link can
    // make the page say "Revoked 999 tokens".
    let notice = if htmx {
        None
    } else {
        current.take_flash(&service).await?
    };
    let list = token_list(&service, &current, &filters, notice).await?;
    let body = if htmx {
        render(&TokenListPartial { list })
    } else {
        let (svc, secret) = (service.clone(), current.secret.clone());
        let announce = web::block(move || svc.sessions().take_announcement(&secret))
            .await?
            .unwrap_or(false);
        let (banner, alert) = if announce {
            (
                expiring_banner(&service, &current).await,
                reuse_alert(&service, &current).await,
            )
        } else {
            (None, None)
        };
        render(&TokensPage {
            layout: Layout::for_member(&current, "tokens"),
            list,
            banner,
            alert,
        })
    };
    Ok(html(StatusCode::OK, body))
}

/// After sign-in: why tokens were revoked behind the member's back.
async fn reuse_alert(service: &web::Data<Latchkey>, current: &CurrentMember) -> Option<String> {
    let svc = service.clone();
    let member = current.member.clone();
    let reuse = web::block(move || svc.audit().reuse_since_previous_sign_in(&member))
        .await
        .ok()?
        .ok()?;
    if reuse.count == 0 {
        return None;
    }
    let which = match reuse.tokens.as_slice() {
        [] => "a token you had replaced by rotation".to_owned(),
        [one] => format!("your token {one}, replaced by rotation,"),
        many => format!("your tokens {}, replaced by rotation,", many.join(", ")),
    };
    Some(format!(
        "Since your last sign-in, {which} was presented after its overlap window{}. \
         That is a sign it was copied: every token of its rotation chain was revoked. \
         Check where that token was stored, then generate a new one.",
        reuse
            .last_ip
            .map_or(String::new(), |ip| format!(" (from {ip})"))
    ))
}

/// After sign-in: how many of the member's tokens stop within a week.
async fn expiring_banner(service: &web::Data<Latchkey>, current: &CurrentMember) -> Option<String> {
    let svc = service.clone();
    let actor = current.actor();
    let query = TokenQuery {
        status: StatusFilter::Expiring,
        owner: OwnerFilter::Me,
        search: None,
        page: 1,
    };
    let total = web::block(move || svc.tokens().list(&actor, &query))
        .await
        .ok()?
        .ok()?
        .total;
    match total {
        0 => None,
        1 => Some(format!(
            "1 of your tokens stops working within {EXPIRING_SOON_DAYS} days."
        )),
        n => Some(format!(
            "{n} of your tokens stop working within {EXPIRING_SOON_DAYS} days."
        )),
    }
}
