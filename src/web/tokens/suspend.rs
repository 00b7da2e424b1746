//! Suspend a token (it stops working until resumed) and resume it: from
//! its page, no confirmation needed since either can be undone.

use super::super::error::WebError;
use super::super::see_other;
use super::super::session::CurrentMember;
use crate::domain::{TokenId, TokenStatus};
use crate::service::Latchkey;
use actix_web::{HttpRequest, HttpResponse, post, web};

async fn set(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
    stop: bool,
) -> Result<HttpResponse, WebError> {
    current.form(&req, &body)?;
    let id = path.parse::<TokenId>().map_err(|_| WebError::not_found())?;
    let (svc, actor) = (service.clone(), current.actor());
    let done = web::block(move || svc.tokens().set_suspended(&actor, id, stop)).await??;
    let expired = done.status == TokenStatus::Expired;
    let message = match (stop, done.changed) {
        (true, true) => "Token suspended: it is refused until you resume it.",
        (true, false) => "This token was already suspended; nothing changed.",
        (false, true) if expired => "Token resumed, but it has expired: it stays refused.",
        (false, true) => "Token resumed: it works again.",
        (false, false) => "This token was not suspended; nothing changed.",
    };
    current.flash(&service, message.to_owned()).await?;
    Ok(see_other(&format!("/settings/api-tokens/{id}")))
}

#[post("/settings/api-tokens/{id}/suspend")]
pub(super) async fn suspend(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    set(req, path, current, service, body, true).await
}

#[post("/settings/api-tokens/{id}/resume")]
pub(super) async fn resume(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    set(req, path, current, service, body, false).await
}
