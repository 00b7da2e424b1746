//! Sign-in and sign-out pages.

use super::error::WebError;
use super::forms::FormData;
use super::session::{self, client_ip};
use super::views::{Layout, LoginPage, render};
use super::{html, see_other};
use crate::domain::Password;
use crate::service::{Latchkey, LoginError};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page).service(login).service(logout);
}

fn login_view(
    csrf: String,
    email: String,
    error: Option<String>,
    notice: Option<String>,
) -> String {
    render(&LoginPage {
        layout: Layout {
            csrf,
            ..Layout::anonymous()
        },
        email,
        error,
        notice,
    })
}

#[get("/login")]
async fn login_page(
    req: HttpRequest,
    session: Session,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    if session::has_member(&session, &service) {
        return Ok(see_other("/settings/api-tokens"));
    }
    let notice = req
        .query_string()
        .contains("signed_out=1")
        .then(|| "You are signed out.".to_owned());
    let csrf = session::csrf_token(&session)?;
    Ok(html(
        StatusCode::OK,
        login_view(csrf, String::new(), None, notice),
    ))
}

#[post("/login")]
async fn login(
    req: HttpRequest,
    session: Session,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = FormData::parse(&body).map_err(|e| WebError::bad_request(e.to_string()))?;
    session::check_csrf(&req, &session, form.get("csrf_token"))?;
    let email = form.text("email").trim().to_owned();
    let password = Password::attempt(form.text("password"));
    let ip = client_ip(&req);
    let svc = service.clone();
    let attempt_email = email.clone();
    let outcome = web::block(move || svc.login(&attempt_email, &password, ip.as_deref())).await?;
    let csrf = session::csrf_token(&session)?;
    let (status, message) = match outcome {
        Ok(member) => {
            session::sign_in(&session, &service, &member)?;
            return Ok(see_other("/settings/api-tokens"));
        }
        Err(LoginError::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            "Incorrect email or password.".to_owned(),
        ),
        Err(LoginError::Disabled) => (
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an admin of your organisation to enable it.".to_owned(),
        ),
        Err(LoginError::Throttled { retry_after_secs }) => {
            let minutes = retry_after_secs.div_ceil(60);
            let body = login_view(
                csrf,
                email,
                Some(format!(
                    "Too many failed sign-ins for this email. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )),
                None,
            );
            let mut res = html(StatusCode::TOO_MANY_REQUESTS, body);
            res.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            return Ok(res);
        }
        Err(LoginError::Failed(e)) => return Err(e.into()),
    };
    Ok(html(status, login_view(csrf, email, Some(message), None)))
}

#[post("/logout")]
async fn logout(
    req: HttpRequest,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = FormData::parse(&body).map_err(|e| WebError::bad_request(e.to_string()))?;
    session::check_csrf(&req, &session, form.get("csrf_token"))?;
    session::sign_out(&session);
    Ok(see_other("/login?signed_out=1"))
}
