//! Single sign-on pages: off to the identity provider, and back.

use super::auth::{LoginFrame, refused};
use super::client::client_addr;
use super::error::WebError;
use super::{see_other, session};
use crate::service::{Latchkey, PendingSso, Sso, SsoError};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use std::sync::Arc;

/// The relying party, when `LATCHKEY_OIDC_*` set one up.
pub struct SsoDoor(pub Option<Arc<Sso>>);

/// The one sign-in sent to the provider from this browser.
const PENDING_KEY: &str = "sso";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(start).service(callback);
}

/// Where the provider sends people back: the configured public address,
/// or the one this request came to (the provider only accepts a redirect
/// URI registered with it, so a forged Host gets nowhere).
fn redirect_uri(req: &HttpRequest, sso: &Sso) -> String {
    let base = match sso.public_url() {
        Some(url) => url.to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{base}/login/oidc/callback")
}

fn sso_of(door: &SsoDoor) -> Result<Arc<Sso>, WebError> {
    door.0.clone().ok_or_else(WebError::page_not_found)
}

/// The sign-in page again, saying why single sign-on did not work.
async fn refusal(
    req: &HttpRequest,
    session: &Session,
    door: &SsoDoor,
    service: &web::Data<Latchkey>,
    e: &SsoError,
) -> Result<HttpResponse, WebError> {
    let status = match e {
        SsoError::Unavailable(cause) => {
            tracing::warn!(cause = %cause, "single sign-on: the identity provider failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
        SsoError::Rejected(why) => {
            tracing::info!(why = %why, "single sign-on: answer rejected");
            // Audited too: forged or replayed answers are what admins look for.
            let (svc, why) = (service.clone(), why.clone());
            let ip = client_addr(req).map(|a| a.to_canonical().to_string());
            web::block(move || svc.sign_in().sso_rejected(&why, ip.as_deref())).await??;
            StatusCode::UNAUTHORIZED
        }
        SsoError::Refused(_) => StatusCode::FORBIDDEN,
    };
    let frame = LoginFrame::of(session, door, service).await?;
    Ok(refused(status, frame, String::new(), e.to_string()))
}

#[get("/login/oidc")]
async fn start(
    req: HttpRequest,
    session: Session,
    door: web::Data<SsoDoor>,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let sso = sso_of(&door)?;
    let redirect = redirect_uri(&req, &sso);
    let started = web::block(move || sso.start(&redirect)).await?;
    let (url, pending) = match started {
        Ok(started) => started,
        Err(e) => return refusal(&req, &session, &door, &service, &e).await,
    };
    session
        .insert(PENDING_KEY, pending)
        .map_err(|_| WebError::internal())?;
    Ok(see_other(&url))
}

#[derive(serde::Deserialize)]
struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The waiting sign-in and the provider's code and state, or why the
/// answer cannot be finished.
fn read_answer(
    pending: Option<PendingSso>,
    answer: Option<Answer>,
) -> Result<(PendingSso, String, String), SsoError> {
    let rejected = |why: &str| SsoError::Rejected(why.to_owned());
    let pending =
        pending.ok_or_else(|| rejected("this sign-in was already used or has expired"))?;
    let answer = answer.ok_or_else(|| rejected("the answer could not be read"))?;
    if let Some(error) = answer.error.filter(|e| !e.is_empty()) {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Err(rejected(&format!("the identity provider said “{error}”")));
    }
    let (Some(code), Some(state)) = (answer.code, answer.state) else {
        return Err(rejected("the answer lacks a code or state"));
    };
    if code.len() > 4096 || state.len() > 512 {
        return Err(rejected("the answer is too long"));
    }
    Ok((pending, code, state))
}

#[get("/login/oidc/callback")]
async fn callback(
    req: HttpRequest,
    session: Session,
    door: web::Data<SsoDoor>,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let sso = sso_of(&door)?;
    // Used once: a replayed answer finds nothing to finish.
    let pending = session
        .remove_as::<PendingSso>(PENDING_KEY)
        .and_then(Result::ok);
    let answer = web::Query::<Answer>::from_query(req.query_string())
        .ok()
        .map(web::Query::into_inner);
    let (pending, code, state) = match read_answer(pending, answer) {
        Ok(read) => read,
        Err(why) => return refusal(&req, &session, &door, &service, &why).await,
    };
    let ip = client_addr(&req).map(|a| a.to_canonical().to_string());
    let (svc, relying) = (service.clone(), sso.clone());
    let signed_in = web::block(move || {
        let identity = relying.finish(pending, &code, &state)?;
        svc.sign_in()
            .through_sso(&identity, relying.default_role(), ip.as_deref())
    })
    .await?;
    match signed_in {
        Ok(member) => {
            session::sign_in(&req, &session, &service, member).await?;
            Ok(see_other("/settings/api-tokens"))
        }
        Err(e) => refusal(&req, &session, &door, &service, &e).await,
    }
}
