//! Revoke one token, or many in one transaction: confirmed first (a page
//! without JavaScript, a dialog with it), then done, with a notice kept in
//! the session for the next page.

use super::super::error::WebError;
use super::super::forms::FormData;
use super::super::session::CurrentMember;
use super::super::views::*;
use super::super::{html, see_other};
use super::{Filters, row, token_list};
use crate::domain::TokenId;
use crate::service::{Latchkey, RevokeOutcome, StatusFilter, TokenView};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};

/// Where a revoke form came from (`back`), rebuilt from our own words
/// only: the token's page (`token`), or the list with its filters and
/// search.
fn back_query(form: &FormData) -> String {
    let raw = form.text("back");
    if raw == "token" {
        return "token".to_owned();
    }
    let back = FormData::parse(raw.as_bytes()).unwrap_or_default();
    let status = back
        .get("status")
        .and_then(StatusFilter::parse)
        .unwrap_or_default();
    let owner = if back.get("owner") == Some("all") {
        "all"
    } else {
        "me"
    };
    let mut query = format!("status={}&owner={owner}", status.as_str());
    let q: String = back.text("q").trim().chars().take(100).collect();
    if !q.is_empty() {
        query.push_str("&q=");
        query.push_str(&encode_query(&q));
    }
    query
}

/// The page to return to after a revoke (or on Cancel).
fn back_href(back: &str, id: Option<TokenId>) -> String {
    match id {
        Some(id) if back == "token" => format!("/settings/api-tokens/{id}"),
        _ if back == "token" => "/settings/api-tokens".to_owned(),
        _ => format!("/settings/api-tokens?{back}"),
    }
}

fn label(t: &TokenView) -> String {
    format!("{} …{}", t.name, t.hint)
}

#[post("/settings/api-tokens/{id}/revoke")]
pub(super) async fn revoke_one(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let htmx = current.htmx;
    let form = current.form(&req, &body)?;
    let id = path.parse::<TokenId>().map_err(|_| WebError::not_found())?;
    let back = back_query(&form);
    let (svc, actor) = (service.clone(), current.actor());
    if form.get("confirm") != Some("yes") {
        let token = web::block(move || svc.tokens().by_ids(&actor, &[id])).await??;
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmRevokePage {
                layout: Layout::for_member(&current, "tokens"),
                tokens: token.iter().map(|t| (t.id.0, label(t))).collect(),
                count: token.len(),
                cancel_href: back_href(&back, Some(id)),
                back,
                action: format!("/settings/api-tokens/{id}/revoke"),
                single: true,
            }),
        ));
    }
    let (outcome, view) = web::block(move || {
        let outcome = svc.tokens().revoke(&actor, id)?;
        Ok::<_, crate::error::Error>((outcome, svc.tokens().get(&actor, id)?))
    })
    .await??;
    let message = match outcome {
        RevokeOutcome::Revoked => format!("Revoked 1 token: {}. It no longer works.", label(&view)),
        RevokeOutcome::AlreadyRevoked => {
            format!("{} was already revoked; nothing changed.", label(&view))
        }
    };
    if htmx {
        // The row as the list shows it: with the owner in "All tokens".
        let now = service.clock().now();
        let show_owner = back.contains("owner=all");
        let mut res = html(
            StatusCode::OK,
            render(&TokenRowPartial {
                row: row(view, now, show_owner, current.member.id),
            }),
        );
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&announce(&message)) {
            res.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("hx-trigger"),
                value,
            );
        }
        return Ok(res);
    }
    current.flash(&service, message).await?;
    Ok(see_other(&back_href(&back, Some(id))))
}

/// An `HX-Trigger` header the page's script turns into a spoken notice
/// (JSON in ASCII: a header carries no other bytes).
fn announce(message: &str) -> String {
    let json = serde_json::json!({ "latchkey:announce": message }).to_string();
    json.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.encode_utf16(&mut [0; 2])
                    .iter()
                    .map(|unit| format!("\\u{unit:04x}"))
                    .collect()
            }
        })
        .collect()
}

#[post("/settings/api-tokens/revoke")]
pub(super) async fn bulk_revoke(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    let mut ids = Vec::new();
    for raw in form.all("ids") {
        match raw.parse::<TokenId>() {
            Ok(id) => ids.push(id),
            _ => {
                return Err(WebError::bad_request(format!("“{raw}” is not a token id.")));
            }
        }
    }
    let back = back_query(&form);
    if ids.is_empty() {
        return nothing_selected(&current, &service, &back).await;
    }
    let (svc, actor) = (service.clone(), current.actor());
    if form.get("confirm") != Some("yes") {
        // Without JavaScript the confirmation is a page of its own.
        let tokens = web::block(move || svc.tokens().by_ids(&actor, &ids)).await??;
        let count = tokens.len();
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmRevokePage {
                layout: Layout::for_member(&current, "tokens"),
                tokens: tokens.iter().map(|t| (t.id.0, label(t))).collect(),
                count,
                cancel_href: back_href(&back, None),
                back,
                action: "/settings/api-tokens/revoke".into(),
                single: false,
            }),
        ));
    }
    let revoked = web::block(move || svc.tokens().revoke_many(&actor, &ids)).await??;
    let message = match revoked {
        0 => "Those tokens were already revoked; nothing changed.".to_owned(),
        1 => "Revoked 1 token. It no longer works.".to_owned(),
        n => format!("Revoked {n} tokens. They no longer work."),
    };
    current.flash(&service, message).await?;
    Ok(see_other(&back_href(&back, None)))
}

/// "Revoke selected" with nothing ticked: the list again, the message
/// beside the button (422), nothing changed.
async fn nothing_selected(
    current: &CurrentMember,
    service: &web::Data<Latchkey>,
    back: &str,
) -> Result<HttpResponse, WebError> {
    let filters = Filters::parse(if back == "token" { "" } else { back }, current)?;
    let mut list = token_list(service, current, &filters, None).await?;
    list.bulk_error = Some("Select at least one token to revoke.".into());
    let body = if current.htmx {
        render(&TokenListPartial { list })
    } else {
        render(&TokensPage {
            layout: Layout::for_member(current, "tokens"),
            list,
            banner: None,
            alert: None,
        })
    };
    Ok(html(StatusCode::UNPROCESSABLE_ENTITY, body))
}
