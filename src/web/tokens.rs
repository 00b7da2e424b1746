//! Settings → API Tokens: list, generate (with the one-time reveal),
//! revoke one, revoke many.

use super::error::WebError;
use super::forms::FormData;
use super::session::{self, CurrentMember};
use super::views::*;
use super::{html, see_other};
use crate::domain::{
    Expiry, FieldError, PRESETS, Scope, ScopeGroup, ScopeSet, TokenId, TokenName, TokenStatus,
};
use crate::error::Error;
use crate::service::{
    EXPIRING_SOON_DAYS, Latchkey, NewToken, OrgPolicy, OwnerFilter, PAGE_SIZE, StatusFilter,
    TokenQuery, TokenView,
};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use rand::TryRng;
use rand::rngs::SysRng;
use time::{Duration, PrimitiveDateTime};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_form)
        .service(create)
        .service(bulk_revoke)
        .service(revoke_one);
}

/// The list's filters, read strictly from the query string.
struct Filters {
    status: StatusFilter,
    owner: OwnerFilter,
    q: String,
    page: i64,
}

impl Filters {
    fn parse(query: &str, current: &CurrentMember) -> Result<Filters, WebError> {
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
            Some("all") => {
                return Err(WebError::forbidden(
                    "Only admins can see every token in the organisation.",
                ));
            }
            Some(o) => {
                return Err(WebError::bad_request(format!(
                    "Unknown owner filter “{o}”: use me or all."
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

    fn owner_str(&self) -> &'static str {
        match self.owner {
            OwnerFilter::All => "all",
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

fn row(t: TokenView, now: PrimitiveDateTime, show_owner: bool) -> TokenRow {
    let active = t.status == TokenStatus::Active;
    let (expires, expires_exact, expires_in, expires_soon) = match t.expires_at {
        None => (
            "Never".to_owned(),
            "Does not expire".to_owned(),
            String::new(),
            false,
        ),
        Some(at) => {
            let days = (at.date() - now.date()).whole_days();
            let until = match t.status {
                TokenStatus::Active if days <= 1 => "expires within a day".to_owned(),
                TokenStatus::Active => format!("in {days} days"),
                TokenStatus::Expired => relative(at, now).replace("just now", "moments ago"),
                TokenStatus::Revoked => String::new(),
            };
            (
                format_date(at.date()),
                format!("Stops working at {}", format_moment(at)),
                until,
                active && at - now < Duration::days(7),
            )
        }
    };
    TokenRow {
        id: t.id.0,
        name: t.name,
        hint: t.hint,
        owner_email: t.owner_email,
        show_owner,
        scopes: t.scopes.names(),
        created: relative(t.created_at, now),
        created_exact: format_moment(t.created_at),
        expires,
        expires_exact,
        expires_in,
        expires_soon,
        last_used: t
            .last_used_at
            .map_or("Never used".to_owned(), |at| relative(at, now)),
        last_used_ip: t.last_used_ip.unwrap_or_default(),
        status: t.status.as_str(),
        active,
    }
}

async fn token_list(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    filters: &Filters,
    notice: Option<String>,
) -> Result<TokenList, WebError> {
    let svc = service.clone();
    let actor = current.actor();
    let query = TokenQuery {
        status: filters.status,
        owner: filters.owner,
        search: Some(filters.q.clone()),
        page: filters.page,
    };
    let page = web::block(move || svc.list_tokens(&actor, &query)).await??;
    let now = service.clock().now();
    let show_owner = filters.owner == OwnerFilter::All;
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
            .map(|t| row(t, now, show_owner))
            .collect(),
        status: filters.status.as_str(),
        owner: filters.owner_str(),
        q: filters.q.clone(),
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
        filtered: filters.status != StatusFilter::Active || !filters.q.is_empty(),
    })
}

fn revoked_notice(query: &str) -> Option<String> {
    let form = FormData::parse(query.as_bytes()).ok()?;
    let n: usize = form.get("revoked")?.parse().ok()?;
    Some(match n {
        0 => "Those tokens were already revoked; nothing changed.".to_owned(),
        1 => "Revoked 1 token. It no longer works.".to_owned(),
        n => format!("Revoked {n} tokens. They no longer work."),
    })
}

#[get("/settings/api-tokens")]
async fn list(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let htmx = current.htmx;
    let filters = Filters::parse(req.query_string(), &current).map_err(|e| e.for_htmx(htmx))?;
    let list = token_list(
        &service,
        &current,
        &filters,
        revoked_notice(req.query_string()),
    )
    .await
    .map_err(|e| e.for_htmx(htmx))?;
    let body = if htmx {
        render(&TokenListPartial { list })
    } else {
        let banner = if session::take_announcement(&current.session) {
            expiring_banner(&service, &current).await
        } else {
            None
        };
        render(&TokensPage {
            layout: Layout::for_member(&current, "tokens"),
            list,
            banner,
        })
    };
    Ok(html(StatusCode::OK, body))
}

/// After sign-in: how many of the member's tokens stop within a week.
async fn expiring_banner(service: &web::Data<Latchkey>, current: &CurrentMember) -> Option<String> {
    let svc = service.clone();
    let actor = current.actor();
    let query = TokenQuery {
        status: StatusFilter::ExpiringWithin(EXPIRING_SOON_DAYS),
        owner: OwnerFilter::Me,
        search: None,
        page: 1,
    };
    let total = web::block(move || svc.list_tokens(&actor, &query))
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

fn new_nonce() -> Result<String, WebError> {
    let mut bytes = [0u8; 16];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| WebError::internal())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What the member typed, kept when the form comes back with errors.
struct Submitted {
    name: String,
    expires_in: String,
    expires_on: String,
    scopes: Vec<String>,
    nonce: String,
}

fn token_form(
    current: &CurrentMember,
    policy: &OrgPolicy,
    today: time::Date,
    input: &Submitted,
    errors: &[FieldError],
) -> TokenForm {
    let error = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    };
    let mut expiry_options: Vec<ExpiryOption> = PRESETS
        .iter()
        .filter(|days| **days <= policy.expiry.max_lifetime_days)
        .map(|days| {
            let date = today + Duration::days(i64::from(*days));
            ExpiryOption {
                value: days.to_string(),
                label: format!("{days} days ({date})"),
                selected: input.expires_in == days.to_string(),
            }
        })
        .collect();
    expiry_options.push(ExpiryOption {
        value: "custom".into(),
        label: "Custom…".into(),
        selected: input.expires_in == "custom",
    });
    if policy.expiry.allow_no_expiry {
        expiry_options.push(ExpiryOption {
            value: "never".into(),
            label: "No expiration".into(),
            selected: input.expires_in == "never",
        });
    }
    let allowed = ScopeSet::allowed_for(current.member.role);
    let groups = ScopeGroup::ALL
        .into_iter()
        .map(|group| ScopeGroupView {
            label: group.label(),
            scopes: allowed
                .iter()
                .filter(|s| s.group() == group)
                .map(|s| ScopeOption {
                    name: s.as_str(),
                    description: s.description(),
                    checked: input.scopes.iter().any(|c| c == s.as_str()),
                })
                .collect(),
        })
        .filter(|g| !g.scopes.is_empty())
        .collect();
    TokenForm {
        name: input.name.clone(),
        expiry_options,
        custom_selected: input.expires_in == "custom",
        expires_on: input.expires_on.clone(),
        min_date: policy.expiry.earliest(today).to_string(),
        max_date: policy.expiry.latest(today).to_string(),
        groups,
        nonce: input.nonce.clone(),
        role: current.member.role.to_string(),
        name_error: error("name"),
        expires_in_error: error("expires_in"),
        expires_on_error: error("expires_on"),
        scopes_error: error("scopes"),
        form_error: error("form"),
    }
}

async fn policy_of(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
) -> Result<OrgPolicy, WebError> {
    let svc = service.clone();
    let org = current.member.org_id;
    Ok(web::block(move || svc.policy(org)).await??)
}

#[get("/settings/api-tokens/new")]
async fn new_form(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let policy = policy_of(&service, &current).await?;
    let today = service.clock().today();
    let input = Submitted {
        name: String::new(),
        expires_in: policy.default_expiry_days.to_string(),
        expires_on: String::new(),
        scopes: Vec::new(),
        nonce: new_nonce()?,
    };
    let form = token_form(&current, &policy, today, &input, &[]);
    Ok(html(
        StatusCode::OK,
        render(&NewTokenPage {
            layout: Layout::for_member(&current, "tokens"),
            form,
        }),
    ))
}

fn form_response(current: &CurrentMember, status: StatusCode, form: TokenForm) -> HttpResponse {
    let layout = Layout::for_member(current, "tokens");
    let body = if current.htmx {
        render(&TokenFormPartial { layout, form })
    } else {
        render(&NewTokenPage { layout, form })
    };
    html(status, body)
}

#[post("/settings/api-tokens")]
async fn create(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let htmx = current.htmx;
    let form = current.form(&req, &body)?;
    let input = Submitted {
        name: form.text("name").to_owned(),
        expires_in: form.text("expires_in").to_owned(),
        expires_on: form.text("expires_on").to_owned(),
        scopes: form.all("scopes").into_iter().map(str::to_owned).collect(),
        nonce: form.text("form_nonce").to_owned(),
    };
    if input.nonce.is_empty() {
        return Err(
            WebError::forbidden("The form is incomplete; reload the page and try again.")
                .for_htmx(htmx),
        );
    }
    // A scope that is unknown or above the member's role was never offered:
    // the request is forged, not mistaken.
    let mut scopes = ScopeSet::empty();
    for name in &input.scopes {
        let scope: Scope = name.parse().map_err(|_| {
            WebError::forbidden(format!("“{name}” is not a scope you can grant.")).for_htmx(htmx)
        })?;
        if !scope.allowed_for(current.member.role) {
            return Err(WebError::forbidden(format!(
                "Your role ({}) cannot grant the scope {scope}.",
                current.member.role
            ))
            .for_htmx(htmx));
        }
        scopes.insert(scope);
    }
    let policy = policy_of(&service, &current).await?;
    let today = service.clock().today();
    let mut errors = Vec::new();
    let name = TokenName::parse(&input.name)
        .map_err(|e| errors.push(e))
        .ok();
    let expiry = policy
        .expiry
        .from_form(today, &input.expires_in, &input.expires_on)
        .map_err(|e| errors.push(e))
        .ok();
    if scopes.is_empty() {
        errors.push(FieldError::new("scopes", "Choose at least one scope."));
    }
    let (Some(name), Some(expiry), true) = (name, expiry, errors.is_empty()) else {
        let form = token_form(&current, &policy, today, &input, &errors);
        return Ok(form_response(
            &current,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
        ));
    };
    let svc = service.clone();
    let actor = current.actor();
    let owner = current.member.clone();
    let request = NewToken {
        name,
        expiry,
        scopes,
        nonce: Some(input.nonce.clone()),
    };
    match web::block(move || svc.create_token(&actor, &owner, request)).await? {
        Ok(created) => {
            let reveal = Reveal {
                token: created.secret.expose().to_owned(),
                name: created.token.name.clone(),
                scopes: created.token.scopes.names(),
                expires: match expiry {
                    Expiry::On(_) => created.token.expires_at.map_or("Never".to_owned(), |at| {
                        format!(
                            "{} (stops working at {})",
                            format_date(at.date()),
                            format_moment(at)
                        )
                    }),
                    Expiry::Never => "Never".to_owned(),
                },
            };
            drop(created);
            let body = if htmx {
                render(&RevealPartial { reveal })
            } else {
                render(&RevealPage {
                    layout: Layout::for_member(&current, "tokens"),
                    reveal,
                })
            };
            Ok(html(StatusCode::OK, body))
        }
        Err(Error::Invalid(field)) => {
            let form = token_form(&current, &policy, today, &input, &[field]);
            Ok(form_response(
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
            ))
        }
        Err(Error::Conflict(message)) if message.contains("already submitted") => {
            Err(WebError::new(StatusCode::CONFLICT, message).for_htmx(htmx))
        }
        Err(Error::Conflict(message)) => {
            let form = token_form(
                &current,
                &policy,
                today,
                &input,
                &[FieldError::new("form", message)],
            );
            Ok(form_response(&current, StatusCode::CONFLICT, form))
        }
        Err(e) => Err(WebError::from(e).for_htmx(htmx)),
    }
}

fn back_query(form: &FormData) -> String {
    // Only our own filter words go back into the redirect.
    let back = FormData::parse(form.text("back").as_bytes()).unwrap_or_default();
    let status = back
        .get("status")
        .and_then(StatusFilter::parse)
        .unwrap_or_default();
    let owner = if back.get("owner") == Some("all") {
        "all"
    } else {
        "me"
    };
    format!("status={}&owner={owner}", status.as_str())
}

#[post("/settings/api-tokens/{id}/revoke")]
async fn revoke_one(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let htmx = current.htmx;
    let form = current.form(&req, &body)?;
    let id = path
        .parse::<TokenId>()
        .ok()
        .filter(|id| id.0 > 0)
        .ok_or_else(|| WebError::not_found().for_htmx(htmx))?;
    let svc = service.clone();
    let actor = current.actor();
    let view = web::block(move || {
        svc.revoke_token(&actor, id)?;
        svc.token(&actor, id)
    })
    .await?
    .map_err(|e| WebError::from(e).for_htmx(htmx))?;
    if htmx {
        let now = service.clock().now();
        let show_owner = view.owner_id != current.member.id;
        return Ok(html(
            StatusCode::OK,
            render(&TokenRowPartial {
                row: row(view, now, show_owner),
            }),
        ));
    }
    Ok(see_other(&format!(
        "/settings/api-tokens?{}&revoked=1",
        back_query(&form)
    )))
}

#[post("/settings/api-tokens/revoke")]
async fn bulk_revoke(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let htmx = current.htmx;
    let form = current.form(&req, &body)?;
    let mut ids = Vec::new();
    for raw in form.all("ids") {
        match raw.parse::<TokenId>() {
            Ok(id) if id.0 > 0 => ids.push(id),
            _ => {
                return Err(
                    WebError::bad_request(format!("“{raw}” is not a token id.")).for_htmx(htmx)
                );
            }
        }
    }
    if ids.is_empty() {
        return Err(WebError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Select at least one token to revoke.",
        )
        .for_htmx(htmx));
    }
    let back = back_query(&form);
    let svc = service.clone();
    let actor = current.actor();
    if form.get("confirm") != Some("yes") {
        // Without JavaScript the confirmation is a page of its own.
        let tokens = web::block(move || svc.tokens_by_ids(&actor, &ids))
            .await?
            .map_err(|e| WebError::from(e).for_htmx(htmx))?;
        let count = tokens.len();
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmRevokePage {
                layout: Layout::for_member(&current, "tokens"),
                tokens: tokens.into_iter().map(|t| (t.id.0, t.name)).collect(),
                count,
                back,
            }),
        ));
    }
    let revoked = web::block(move || svc.revoke_tokens(&actor, &ids))
        .await?
        .map_err(|e| WebError::from(e).for_htmx(htmx))?;
    Ok(see_other(&format!(
        "/settings/api-tokens?{back}&revoked={revoked}"
    )))
}
