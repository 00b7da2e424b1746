//! Sign-in and sign-out pages.

use super::client::client_addr;
use super::error::WebError;
use super::forms::FormData;
use super::session;
use super::sso::SsoDoor;
use super::views::{Layout, LoginPage, SecondFactorPage, render};
use super::{html, see_other};
use crate::domain::{HashingSlot, Password};
use crate::service::{Latchkey, Limit, LoginError};
use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login)
        .service(second_factor_page)
        .service(second_factor)
        .service(logout);
}

/// What every drawing of the sign-in page carries: the form's CSRF token
/// and, when single sign-on is set up, its button's label.
pub(super) struct LoginFrame {
    pub csrf: String,
    pub sso: Option<String>,
    /// Single sign-on only: no password form.
    pub passwords_off: bool,
}

impl LoginFrame {
    pub async fn of(
        session: &Session,
        sso: &SsoDoor,
        service: &web::Data<Latchkey>,
    ) -> Result<LoginFrame, WebError> {
        let passwords_off = match sso.0 {
            Some(_) => {
                let svc = service.clone();
                web::block(move || svc.policy().passwords_off()).await??
            }
            // Without single sign-on, passwords are the way in, whatever
            // the policy says (the way back after losing the provider).
            None => false,
        };
        Ok(LoginFrame {
            csrf: session::csrf_token(session)?,
            sso: sso.0.as_ref().map(|s| s.label().to_owned()),
            passwords_off,
        })
    }
}

fn login_view(
    frame: LoginFrame,
    email: String,
    error: Option<String>,
    notice: Option<String>,
) -> String {
    render(&LoginPage {
        layout: Layout {
            csrf: frame.csrf,
            ..Layout::anonymous()
        },
        email,
        error,
        notice,
        sso_label: frame.sso,
        passwords_off: frame.passwords_off,
    })
}

#[get("/login")]
async fn login_page(
    req: HttpRequest,
    session: Session,
    service: web::Data<Latchkey>,
    sso: web::Data<SsoDoor>,
) -> Result<HttpResponse, WebError> {
    if session::signed_in_member(&req, &session, &service)
        .await?
        .is_some()
    {
        return Ok(see_other("/settings/api-tokens"));
    }
    let notice =
        session::take_signed_out_notice(&session).then(|| "You are signed out.".to_owned());
    let frame = LoginFrame::of(&session, &sso, &service).await?;
    Ok(html(
        StatusCode::OK,
        login_view(frame, String::new(), None, notice),
    ))
}

/// The sign-in form again, with `message` beside it.
pub(super) fn refused(
    status: StatusCode,
    frame: LoginFrame,
    email: String,
    message: String,
) -> HttpResponse {
    html(status, login_view(frame, email, Some(message), None))
}

fn with_retry_after(mut res: HttpResponse, secs: u64) -> HttpResponse {
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
    res
}

fn plural(n: u64, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// What a refused sign-in answers.
fn login_refusal(e: LoginError, csrf: LoginFrame, email: String) -> Result<HttpResponse, WebError> {
    Ok(match e {
        LoginError::InvalidCredentials | LoginError::WrongCode(_) => refused(
            StatusCode::UNAUTHORIZED,
            csrf,
            email,
            "Incorrect email or password.".to_owned(),
        ),
        LoginError::Disabled => refused(
            StatusCode::FORBIDDEN,
            csrf,
            email,
            "This account is disabled. Ask an admin of your organisation to enable it.".to_owned(),
        ),
        // The typed address is not shown back: it may be 64 KiB of anything.
        LoginError::BadEmail(message) => {
            refused(StatusCode::BAD_REQUEST, csrf, String::new(), message)
        }
        LoginError::Throttled {
            retry_after_secs,
            limit,
        } => {
            let message = match limit {
                Limit::Failures => format!(
                    "Too many failed sign-ins for this email. Try again in {}.",
                    plural(retry_after_secs.div_ceil(60), "minute")
                ),
                Limit::Address => format!(
                    "Too many sign-ins from your network. Try again in {}.",
                    plural(retry_after_secs, "second")
                ),
            };
            with_retry_after(
                refused(StatusCode::TOO_MANY_REQUESTS, csrf, email, message),
                retry_after_secs,
            )
        }
        LoginError::Failed(e) => return Err(e.into()),
    })
}

/// Seconds a client is asked to wait when every hashing place is taken.
const BUSY_RETRY_SECS: u64 = 2;

#[post("/login")]
async fn login(
    req: HttpRequest,
    session: Session,
    service: web::Data<Latchkey>,
    sso: web::Data<SsoDoor>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = FormData::parse(&body).map_err(|e| WebError::bad_request(e.to_string()))?;
    session::check_csrf(&req, &session, form.get("csrf_token"))?;
    let email = form.text("email").trim().to_owned();
    let password = Password::attempt(form.text("password"));
    let csrf = LoginFrame::of(&session, &sso, &service).await?;
    if csrf.passwords_off {
        let message = "Your organisation signs in with single sign-on only.";
        return Ok(refused(StatusCode::FORBIDDEN, csrf, email, message.into()));
    }
    // Checked before anything else: a flood of sign-ins is refused at once
    // and never queues behind the hashing thread.
    let Some(slot) = HashingSlot::try_acquire() else {
        let message = "Latchkey is busy checking other sign-ins. Try again in a few seconds.";
        return Ok(with_retry_after(
            refused(StatusCode::SERVICE_UNAVAILABLE, csrf, email, message.into()),
            BUSY_RETRY_SECS,
        ));
    };
    let client = client_addr(&req);
    let (svc, typed) = (service.clone(), email.clone());
    let pending = match web::block(move || svc.sign_in().begin(&typed, client)).await? {
        Ok(pending) => pending,
        Err(e) => return login_refusal(e, csrf, email),
    };
    // Awaited without holding a thread: the hashing thread answers.
    let (tx, rx) = tokio::sync::oneshot::channel();
    password.verify_then(pending.hash(), slot, move |ok| {
        let _ = tx.send(ok);
    });
    let password_ok = rx.await.unwrap_or(false);
    let svc = service.clone();
    match web::block(move || svc.sign_in().finish(pending, password_ok)).await? {
        Ok(member) if member.two_factor => {
            session::await_second_factor(&session, member.id)?;
            Ok(see_other("/login/2fa"))
        }
        Ok(member) => {
            session::sign_in(&req, &session, &service, member).await?;
            Ok(see_other("/settings/api-tokens"))
        }
        Err(e) => login_refusal(e, csrf, email),
    }
}

fn second_factor_view(status: StatusCode, csrf: String, error: Option<String>) -> HttpResponse {
    let page = SecondFactorPage {
        layout: Layout {
            csrf,
            ..Layout::anonymous()
        },
        error,
    };
    html(status, render(&page))
}

#[get("/login/2fa")]
async fn second_factor_page(session: Session) -> Result<HttpResponse, WebError> {
    if session::awaiting_second_factor(&session).is_none() {
        session::forget_second_factor(&session);
        return Ok(see_other("/login"));
    }
    let csrf = session::csrf_token(&session)?;
    Ok(second_factor_view(StatusCode::OK, csrf, None))
}

#[post("/login/2fa")]
async fn second_factor(
    req: HttpRequest,
    session: Session,
    service: web::Data<Latchkey>,
    sso: web::Data<SsoDoor>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = FormData::parse(&body).map_err(|e| WebError::bad_request(e.to_string()))?;
    session::check_csrf(&req, &session, form.get("csrf_token"))?;
    let Some(member) = session::awaiting_second_factor(&session) else {
        session::forget_second_factor(&session);
        return Ok(see_other("/login"));
    };
    // Passwords turned off meanwhile: a password step no longer leads in.
    if LoginFrame::of(&session, &sso, &service)
        .await?
        .passwords_off
    {
        session::forget_second_factor(&session);
        return Ok(see_other("/login"));
    }
    let csrf = session::csrf_token(&session)?;
    let code = form.text("code").trim().to_owned();
    if code.is_empty() || code.len() > 64 {
        let message = "Enter the 6-digit code from your authenticator app, or a recovery code.";
        return Ok(second_factor_view(
            StatusCode::UNPROCESSABLE_ENTITY,
            csrf,
            Some(message.into()),
        ));
    }
    let (svc, ip) = (
        service.clone(),
        client_addr(&req).map(|a| a.to_canonical().to_string()),
    );
    match web::block(move || svc.two_factor().finish(member, &code, ip.as_deref())).await? {
        Ok(member) => {
            session::sign_in(&req, &session, &service, member).await?;
            Ok(see_other("/settings/api-tokens"))
        }
        Err(LoginError::WrongCode(message)) => Ok(second_factor_view(
            StatusCode::UNAUTHORIZED,
            csrf,
            Some(message),
        )),
        Err(LoginError::Throttled {
            retry_after_secs, ..
        }) => {
            let message = format!(
                "Too many wrong codes. Try again in {}.",
                plural(retry_after_secs.div_ceil(60), "minute")
            );
            Ok(with_retry_after(
                second_factor_view(StatusCode::TOO_MANY_REQUESTS, csrf, Some(message)),
                retry_after_secs,
            ))
        }
        Err(LoginError::Failed(e)) => Err(e.into()),
        // Disabled or gone meanwhile: the sign-in starts again.
        Err(_) => {
            session::forget_second_factor(&session);
            Ok(see_other("/login"))
        }
    }
}

#[post("/logout")]
async fn logout(
    req: HttpRequest,
    session: Session,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = FormData::parse(&body).map_err(|e| WebError::bad_request(e.to_string()))?;
    session::check_csrf(&req, &session, form.get("csrf_token"))?;
    session::sign_out(&session, &service).await?;
    Ok(see_other("/login"))
}
