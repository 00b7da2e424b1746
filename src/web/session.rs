//! Console sessions. The cookie (encrypted) carries one random id and
//! nothing else; who it signs in, since when and from where lives in the
//! database (`service::sessions`), so ending a session ends it for every
//! copy of the cookie. The CSRF token is derived from the same id.

use super::client::client_ip;
use super::error::WebError;
use crate::domain::{MemberId, SessionSecret};
use crate::service::{ClientInfo, Latchkey, Member, RequiredStep};
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;
use subtle::ConstantTimeEq;

const SID_KEY: &str = "sid";
const NOTICE_KEY: &str = "notice";
const SIGNED_OUT: &str = "signed_out";
/// A sign-in whose password was right, waiting for its second factor:
/// `member id:unix time`, in the encrypted cookie only.
const SECOND_FACTOR_KEY: &str = "second_factor";
/// How long the second factor may take after the password.
const SECOND_FACTOR_SECS: i64 = 300;

pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

/// The id the cookie brought, if it is one of ours.
fn cookie_secret(session: &Session) -> Option<SessionSecret> {
    session
        .get::<String>(SID_KEY)
        .ok()
        .flatten()
        .and_then(|raw| SessionSecret::from_cookie(&raw))
}

/// This browser's id, made on first use: an anonymous visitor gets one too
/// (it names no database row) so the sign-in form has a CSRF token.
fn browser_secret(session: &Session) -> Result<SessionSecret, WebError> {
    if let Some(secret) = cookie_secret(session) {
        return Ok(secret);
    }
    let secret = SessionSecret::generate().map_err(|_| WebError::internal())?;
    session
        .insert(SID_KEY, secret.expose())
        .map_err(|_| WebError::internal())?;
    Ok(secret)
}

/// The session's CSRF token.
pub fn csrf_token(session: &Session) -> Result<String, WebError> {
    Ok(browser_secret(session)?.csrf_token())
}

/// Refuses (403) a state change whose token is missing or not this
/// session's. The token comes from the `csrf_token` field or, for htmx,
/// the `X-CSRF-Token` header.
pub fn check_csrf(
    req: &HttpRequest,
    session: &Session,
    field: Option<&str>,
) -> Result<(), WebError> {
    let header = req
        .headers()
        .get("X-CSRF-Token")
        .and_then(|v| v.to_str().ok());
    let provided = field.filter(|f| !f.is_empty()).or(header).unwrap_or("");
    let matches = cookie_secret(session)
        .is_some_and(|s| bool::from(s.csrf_token().as_bytes().ct_eq(provided.as_bytes())));
    if !matches {
        return Err(WebError::forbidden(
            "This form has expired or did not come from this site. Reload the page and try again.",
        ));
    }
    Ok(())
}

/// Who is asking, as a session records it.
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Starts a session for `member`: a new id in a new cookie, so an id
/// planted before sign-in is worthless.
pub async fn sign_in(
    req: &HttpRequest,
    session: &Session,
    service: &web::Data<Latchkey>,
    member: Member,
) -> Result<(), WebError> {
    let (svc, client) = (service.clone(), client_info(req));
    let secret = web::block(move || svc.sessions().start(&member, &client)).await??;
    session.clear();
    session.renew();
    session
        .insert(SID_KEY, secret.expose())
        .map_err(|_| WebError::internal())
}

/// Ends the session in the database (every copy of the cookie) and drops
/// the cookie.
pub async fn sign_out(session: &Session, service: &web::Data<Latchkey>) -> Result<(), WebError> {
    if let Some(secret) = cookie_secret(session) {
        let svc = service.clone();
        web::block(move || svc.sessions().end(&secret)).await??;
    }
    // Everything goes but a note for the sign-in page: the cookie says
    // "signed out", not the address (a link cannot claim it).
    session.clear();
    session.renew();
    session
        .insert(NOTICE_KEY, SIGNED_OUT)
        .map_err(|_| WebError::internal())?;
    Ok(())
}

/// Remembers, in this browser only, that `member` gave the right password
/// and is to give a second factor next.
pub fn await_second_factor(session: &Session, member: MemberId) -> Result<(), WebError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    session
        .insert(SECOND_FACTOR_KEY, format!("{}:{now}", member.0))
        .map_err(|_| WebError::internal())
}

/// The member whose second factor this browser is to give, unless that
/// wait is over (five minutes).
pub fn awaiting_second_factor(session: &Session) -> Option<MemberId> {
    let raw = session.get::<String>(SECOND_FACTOR_KEY).ok().flatten()?;
    let (id, since) = raw.split_once(':')?;
    let (id, since) = (id.parse::<i64>().ok()?, since.parse::<i64>().ok()?);
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - since;
    (0..=SECOND_FACTOR_SECS)
        .contains(&age)
        .then_some(MemberId(id))
}

/// Forgets a waiting second factor (expired, or the sign-in restarted).
pub fn forget_second_factor(session: &Session) {
    session.remove(SECOND_FACTOR_KEY);
}

/// The sign-in page's one-time note, if sign-out left one.
pub fn take_signed_out_notice(session: &Session) -> bool {
    session
        .remove_as::<String>(NOTICE_KEY)
        .is_some_and(|n| n.as_deref() == Ok(SIGNED_OUT))
}

/// The member this browser is signed in as, if any.
pub async fn signed_in_member(
    req: &HttpRequest,
    session: &Session,
    service: &web::Data<Latchkey>,
) -> Result<Option<Member>, WebError> {
    let Some(secret) = cookie_secret(session) else {
        return Ok(None);
    };
    let (svc, ip) = (service.clone(), client_ip(req));
    Ok(web::block(move || svc.sessions().resume(&secret, ip.as_deref())).await??)
}

/// The signed-in member of a console request. Read from the database on
/// every request, so an ended session or a disabled member stops at once.
pub struct CurrentMember {
    pub member: Member,
    pub csrf: String,
    pub htmx: bool,
    pub ip: Option<String>,
    pub session: Session,
    /// The session's id, for what the service keeps per session.
    pub secret: SessionSecret,
}

impl CurrentMember {
    /// A state-changing form of this member: decoded strictly, and refused
    /// (403) unless it carries this session's CSRF token.
    pub fn form(&self, req: &HttpRequest, body: &[u8]) -> Result<super::forms::FormData, WebError> {
        let form = super::forms::FormData::parse(body)
            .map_err(|e| WebError::bad_request(e.to_string()))?;
        check_csrf(req, &self.session, form.get("csrf_token"))?;
        Ok(form)
    }

    /// Admin pages refuse everyone else (403) with `message`.
    pub fn require_admin(&self, message: &str) -> Result<(), WebError> {
        if self.member.is_admin() {
            Ok(())
        } else {
            Err(WebError::forbidden(message))
        }
    }

    pub fn actor(&self) -> crate::service::Actor {
        crate::service::Actor::member(self.member.clone(), self.ip.clone())
    }

    /// A notice for this member's next page, kept with the session (so no
    /// link can forge one).
    pub async fn flash(
        &self,
        service: &web::Data<Latchkey>,
        message: String,
    ) -> Result<(), WebError> {
        let (svc, secret) = (service.clone(), self.secret.clone());
        Ok(web::block(move || svc.sessions().set_flash(&secret, &message)).await??)
    }

    /// The notice the last action left, once.
    pub async fn take_flash(
        &self,
        service: &web::Data<Latchkey>,
    ) -> Result<Option<String>, WebError> {
        let (svc, secret) = (service.clone(), self.secret.clone());
        Ok(web::block(move || svc.sessions().take_flash(&secret)).await??)
    }
}

impl FromRequest for CurrentMember {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let service = req.app_data::<web::Data<Latchkey>>().cloned();
        let htmx = is_htmx(req);
        let ip = client_ip(req);
        let path = req.path().to_owned();
        Box::pin(async move {
            let service = service.ok_or_else(WebError::internal)?;
            let signed_out = WebError::SignInRequired;
            let Some(secret) = cookie_secret(&session) else {
                return Err(signed_out);
            };
            let (svc, seen_from, resumed) = (service.clone(), ip.clone(), secret.clone());
            let resumed = web::block(move || {
                let Some(member) = svc.sessions().resume(&resumed, seen_from.as_deref())? else {
                    return Ok(None);
                };
                let step = svc.two_factor().required_step(&member)?;
                Ok::<_, crate::error::Error>(Some((member, step)))
            })
            .await??;
            let Some((member, step)) = resumed else {
                // A sign-in waiting for its second factor keeps its cookie.
                if awaiting_second_factor(&session).is_none() {
                    session.purge();
                }
                return Err(signed_out);
            };
            if let Some(step) = step
                && !step_allows(step, &path)
            {
                return Err(WebError::StepFirst(step_page(step)));
            }
            Ok(CurrentMember {
                member,
                csrf: secret.csrf_token(),
                htmx,
                ip,
                session,
                secret,
            })
        })
    }
}

/// Where a member takes `step`.
pub fn step_page(step: RequiredStep) -> &'static str {
    match step {
        RequiredStep::ChangePassword => "/settings/account",
        RequiredStep::EnrolTwoFactor => "/settings/account/2fa",
    }
}

/// The console pages a member may use while `step` is still to be taken:
/// the ones that take it.
fn step_allows(step: RequiredStep, path: &str) -> bool {
    let password = ["/settings/account", "/settings/account/password"];
    match step {
        RequiredStep::ChangePassword => password.contains(&path),
        RequiredStep::EnrolTwoFactor => password.contains(&path) || path == "/settings/account/2fa",
    }
}
