//! Revoke one token, or many in one transaction (with a confirmation page
//! when JavaScript is off).

use super::super::error::WebError;
use super::super::forms::FormData;
use super::super::session::CurrentMember;
use super::super::views::*;
use super::super::{html, see_other};
use super::row;
use crate::domain::TokenId;
use crate::service::{Latchkey, StatusFilter};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};

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
pub(super) async fn revoke_one(
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
        .map_err(|_| WebError::not_found().for_htmx(htmx))?;
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
pub(super) async fn bulk_revoke(
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
            Ok(id) => ids.push(id),
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
