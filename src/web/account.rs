//! Settings → Account (every member): change your password, turn
//! two-factor sign-in on or off, see your sessions and end them.

use super::error::WebError;
use super::format;
use super::session::CurrentMember;
use super::views::{Layout, render};
use super::{html, see_other};
use crate::domain::Password;
use crate::error::Error;
use crate::service::{Enrolment, Latchkey, RequiredStep};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page)
        .service(enrol_page)
        .service(confirm_enrolment)
        .service(turn_off)
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
    /// Latchkey generated their password: they must choose one now.
    must_change: bool,
    /// People who joined through single sign-on have no password here.
    has_password: bool,
    two_factor: bool,
    codes_left: i64,
    off_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/account_2fa.html")]
struct EnrolPage {
    layout: Layout,
    /// The organisation requires it: nothing else until it is done.
    required: bool,
    secret: String,
    qr_svg: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
}

/// What the account page shows besides the sessions.
#[derive(Default)]
struct Shown {
    form: PasswordForm,
    notice: Option<String>,
    off_error: Option<String>,
}

async fn show(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    status: StatusCode,
    shown: Shown,
) -> Result<HttpResponse, WebError> {
    let (svc, member, secret) = (
        service.clone(),
        current.member.clone(),
        current.secret.clone(),
    );
    let (sessions, codes_left) = web::block(move || {
        let codes_left = if member.two_factor {
            svc.two_factor().recovery_codes_left(&member)?
        } else {
            0
        };
        Ok::<_, Error>((svc.account().list_sessions(&member, &secret)?, codes_left))
    })
    .await??;
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
            form: shown.form,
            notice: shown.notice,
            must_change: current.member.must_change_password,
            has_password: current.member.has_password,
            two_factor: current.member.two_factor,
            codes_left,
            off_error: shown.off_error,
        }),
    ))
}

#[get("/settings/account")]
async fn page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let notice = current.take_flash(&service).await?;
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    show(&service, &current, StatusCode::OK, shown).await
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
        let shown = Shown {
            form: errors,
            ..Shown::default()
        };
        return show(&service, &current, refused, shown).await;
    };
    let attempt = Password::attempt(typed_current);
    let (svc, member, secret, ip) = (
        service.clone(),
        current.member.clone(),
        current.secret.clone(),
        current.ip.clone(),
    );
    let changed = web::block(move || {
        svc.account()
            .change_password(&member, &secret, &attempt, &new, ip.as_deref())
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
            // A generated password replaced: on to what they came for.
            if current.member.must_change_password {
                return Ok(see_other("/settings/api-tokens"));
            }
            Ok(see_other("/settings/account"))
        }
        Err(Error::Invalid(field)) => {
            if field.field == "current_password" {
                errors.current_error = Some(field.message);
            } else {
                errors.new_error = Some(field.message);
            }
            let shown = Shown {
                form: errors,
                ..Shown::default()
            };
            show(&service, &current, refused, shown).await
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
        svc.account()
            .end_sessions(&member, &secret, handle.as_deref(), ip.as_deref())
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

/// The authenticator address as a QR code, drawn on the server as SVG.
fn qr_svg(uri: &str) -> Result<String, WebError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|_| WebError::internal())?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    // Inline in HTML: no XML declaration, and a name for screen readers.
    let start = svg.find("<svg").ok_or_else(WebError::internal)?;
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" class=\"qr\" ",
        1,
    ))
}

async fn show_enrolment(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let (svc, member) = (service.clone(), current.member.clone());
    let (enrolment, step): (Enrolment, _) = web::block(move || {
        Ok::<_, Error>((
            svc.two_factor().enrolment(&member)?,
            svc.two_factor().required_step(&member)?,
        ))
    })
    .await??;
    let enrol = EnrolPage {
        layout: Layout::for_member(current, "account"),
        required: step == Some(RequiredStep::EnrolTwoFactor),
        qr_svg: qr_svg(&enrolment.uri)?,
        secret: enrolment.secret,
        error,
    };
    Ok(html(status, render(&enrol)))
}

#[get("/settings/account/2fa")]
async fn enrol_page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    if current.member.two_factor {
        return Ok(see_other("/settings/account"));
    }
    show_enrolment(&service, &current, StatusCode::OK, None).await
}

#[post("/settings/account/2fa")]
async fn confirm_enrolment(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    if current.member.two_factor {
        return Ok(see_other("/settings/account"));
    }
    let code = form.text("code").trim().to_owned();
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    if code.is_empty() || code.len() > 64 {
        let message = "Enter the 6-digit code your authenticator app shows.";
        return show_enrolment(&service, &current, refused, Some(message.into())).await;
    }
    let (svc, member, ip) = (service.clone(), current.member.clone(), current.ip.clone());
    match web::block(move || svc.two_factor().confirm(&member, &code, ip.as_deref())).await? {
        Ok(codes) => {
            let codes_page = RecoveryCodesPage {
                layout: Layout::for_member(&current, "account"),
                codes,
            };
            let mut res = html(StatusCode::OK, render(&codes_page));
            res.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
            Ok(res)
        }
        Err(Error::Invalid(field)) => {
            show_enrolment(&service, &current, refused, Some(field.message)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/settings/account/2fa/off")]
async fn turn_off(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    if !current.member.two_factor {
        return Ok(see_other("/settings/account"));
    }
    let code = form.text("code").trim().to_owned();
    let (svc, member, ip) = (service.clone(), current.member.clone(), current.ip.clone());
    match web::block(move || svc.two_factor().turn_off(&member, &code, ip.as_deref())).await? {
        Ok(()) => {
            current
                .flash(&service, "Two-factor sign-in is off.".into())
                .await?;
            Ok(see_other("/settings/account"))
        }
        Err(Error::Invalid(field)) => {
            let shown = Shown {
                off_error: Some(field.message),
                ..Shown::default()
            };
            show(&service, &current, StatusCode::UNPROCESSABLE_ENTITY, shown).await
        }
        Err(e) => Err(e.into()),
    }
}
