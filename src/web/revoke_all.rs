//! "Revoke every token issued before now": from the members page, a
//! service account's page, one's own account page and the policy page.
//! The first post shows what it will do (with or without script: the
//! count comes from the same code that applies it); the confirmed post
//! does it.

use super::error::WebError;
use super::forms::FormData;
use super::session::CurrentMember;
use super::views::{Layout, render};
use super::{html, see_other};
use crate::service::{Latchkey, RevokeAllEffect, RevokeAllTarget};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(own).service(organisation);
}

#[derive(Template)]
#[template(path = "pages/confirm_revoke_all.html")]
struct ConfirmRevokeAllPage {
    layout: Layout,
    effect: RevokeAllEffect,
    /// Where the confirmed form posts, and where Cancel goes.
    action: String,
    back: String,
    /// "yours", "this member's", …: whose tokens, in the sentence.
    whose: String,
}

/// Where a revoke-all was asked from.
pub struct Origin {
    pub action: String,
    pub back: String,
    pub nav: &'static str,
    pub whose: String,
}

/// Shows the effect, or (confirmed) applies it and goes back.
pub async fn revoke_all(
    current: &CurrentMember,
    service: &web::Data<Latchkey>,
    form: &FormData,
    target: RevokeAllTarget,
    origin: Origin,
) -> Result<HttpResponse, WebError> {
    let (svc, actor) = (service.clone(), current.actor());
    if form.get("confirm") != Some("yes") {
        let effect = web::block(move || svc.tokens().revoke_all_preview(&actor, target)).await??;
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmRevokeAllPage {
                layout: Layout::for_member(current, origin.nav),
                effect,
                action: origin.action,
                back: origin.back,
                whose: origin.whose,
            }),
        ));
    }
    let done = web::block(move || svc.tokens().revoke_all(&actor, target)).await??;
    let said = match done.tokens {
        0 => "no token was left to revoke".to_owned(),
        1 => "1 token revoked".to_owned(),
        n => format!("{n} tokens revoked"),
    };
    let message = format!(
        "Every token of {} issued before now stops: {said}. Tokens made from now on work.",
        done.subject
    );
    current.flash(service, message).await?;
    Ok(see_other(&origin.back))
}

#[post("/settings/account/revoke-all")]
async fn own(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form: FormData = current.form(&req, &body)?;
    let target = RevokeAllTarget::Member(current.member.id);
    let origin = Origin {
        action: "/settings/account/revoke-all".into(),
        back: "/settings/account".into(),
        nav: "account",
        whose: "yours".into(),
    };
    revoke_all(&current, &service, &form, target, origin).await
}

#[post("/settings/policy/revoke-all")]
async fn organisation(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form: FormData = current.form(&req, &body)?;
    current.require_admin("Only admins can revoke every token of the organisation.")?;
    let origin = Origin {
        action: "/settings/policy/revoke-all".into(),
        back: "/settings/policy".into(),
        nav: "policy",
        whose: "the organisation's".into(),
    };
    revoke_all(
        &current,
        &service,
        &form,
        RevokeAllTarget::Organisation,
        origin,
    )
    .await
}
