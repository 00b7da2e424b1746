//! Settings → Account (every member): change your password, see your
//! sessions and end them.

use super::error::WebError;
use super::format;
use super::session::CurrentMember;
use super::views::{Layout, render};
use super::{html, see_other};
use crate::domain::Password;
use crate::error::Error;
use crate::service::Latchkey;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page)
        .service(change_password)
        .service(end_others)
        .service(end_one);
}

pub struct SessionLine {
    pub handle: String,
    pub current: bool,
    pub started: String,
    pub last_seen: String,
    pub ip: String,
    pub browser: String,
}

#[derive(Default)]
pub struct PasswordForm {
    pub current_error: Option<String>,
    pub new_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    layout: Layout,
    sessions: Vec<SessionLine>,
    form: PasswordForm,
    notice: Option<String>,
}

async fn show(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    status: StatusCode,
    form: PasswordForm,
    notice: Option<String>,
) -> Result<HttpResponse, WebError> {
    let (svc, member, secret) = (
        service.clone(),
        current.member.clone(),
        current.secret.clone(),
    );
    let sessions = web::block(move || svc.own_sessions(&member, &secret)).await??;
    let sessions = sessions
        .into_iter()
        .map(|(handle, is_current, s)| SessionLine {
            handle,
            current: is_current,
            started: format::moment(s.started),
            last_seen: format::moment(s.last_seen),
            ip: s.ip.unwrap_or_else(|| "unknown".to_owned()),
            browser: if s.user_agent.is_empty() {
                "unknown".to_owned()
            } else {
                s.user_agent
            },
        })
        .collect();
    Ok(html(
        status,
        render(&AccountPage {
            layout: Layout::for_member(current, "account"),
            sessions,
            form,
            notice,
        }),
    ))
}

#[get("/settings/account")]
async fn page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let notice = current.take_flash(&service).await?;
    show(
        &service,
        &current,
        StatusCode::OK,
        PasswordForm::default(),
        notice,
    )
    .await
}

#[post("/settings/account/password")]
async fn change_password(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let mut errors = PasswordForm::default();
    let typed_current = form.text("current_password");
    if typed_current.is_empty() {
        errors.current_error = Some("Enter your current password.".into());
    }
    let new = Password::parse_new(form.text("new_password"))
        .map_err(|e| errors.new_error = Some(e.message))
        .ok();
    let Some(new) = new.filter(|_| errors.current_error.is_none()) else {
        return show(&service, &current, refused, errors, None).await;
    };
    let attempt = Password::attempt(typed_current);
    let (svc, member, secret, ip) = (
        service.clone(),
        current.member.clone(),
        current.secret.clone(),
        current.ip.clone(),
    );
    let changed = web::block(move || {
        svc.change_own_password(&member, &secret, &attempt, &new, ip.as_deref())
    })
    .await?;
    match changed {
        Ok(ended) => {
            let done = match ended {
                0 => "Password changed.".to_owned(),
                1 => "Password changed. Your 1 other session was signed out.".to_owned(),
                n => format!("Password changed. Your {n} other sessions were signed out."),
            };
            current.flash(&service, done).await?;
            Ok(see_other("/settings/account"))
        }
        Err(Error::Invalid(field)) => {
            if field.field == "current_password" {
                errors.current_error = Some(field.message);
            } else {
                errors.new_error = Some(field.message);
            }
            show(&service, &current, refused, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn end(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
    handle: Option<String>,
) -> Result<HttpResponse, WebError> {
    current.form(&req, &body)?;
    let (svc, member, secret, ip) = (
        service.clone(),
        current.member.clone(),
        current.secret.clone(),
        current.ip.clone(),
    );
    let ended = web::block(move || {
        svc.end_own_sessions(&member, &secret, handle.as_deref(), ip.as_deref())
    })
    .await??;
    let done = match ended {
        1 => "1 session signed out.".to_owned(),
        n => format!("{n} sessions signed out."),
    };
    current.flash(&service, done).await?;
    Ok(see_other("/settings/account"))
}

#[post("/settings/account/sessions/end-others")]
async fn end_others(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    end(req, current, service, body, None).await
}

#[post("/settings/account/sessions/{handle}/end")]
async fn end_one(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let handle = path.into_inner();
    if handle.len() != 24 || !handle.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WebError::not_found());
    }
    end(req, current, service, body, Some(handle)).await
}
