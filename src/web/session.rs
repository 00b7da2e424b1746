//! Console sessions: who is signed in, idle timeout, CSRF tokens.

use super::error::WebError;
use crate::domain::MemberId;
use crate::domain::bytes::{constant_time_eq, random_hex};
use crate::error::Error;
use crate::service::{Latchkey, Member};
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

const MEMBER_KEY: &str = "mid";
const CSRF_KEY: &str = "csrf";
const SEEN_KEY: &str = "seen";
/// Set at sign-in: the next token list announces tokens about to expire.
const ANNOUNCE_KEY: &str = "announce";
/// A session unused for this long ends.
pub const IDLE_TIMEOUT_SECS: i64 = 8 * 3600;
/// `seen` is refreshed at most this often, to keep cookies stable.
const SEEN_REFRESH_SECS: i64 = 60;

pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    super::client::client_addr(req).map(|ip| ip.to_string())
}

fn now_unix(service: &Latchkey) -> i64 {
    service.clock().now().assume_utc().unix_timestamp()
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return Ok(token);
    }
    let token = random_hex(32).map_err(|_| WebError::internal())?;
    session
        .insert(CSRF_KEY, &token)
        .map_err(|_| WebError::internal())?;
    Ok(token)
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
    let expected = session
        .get::<String>(CSRF_KEY)
        .ok()
        .flatten()
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(provided.as_bytes(), expected.as_bytes()) {
        return Err(WebError::forbidden(
            "This form has expired or did not come from this site. Reload the page and try again.",
        )
        .for_htmx(is_htmx(req)));
    }
    Ok(())
}

/// Starts a fresh session for `member` (new cookie, new CSRF token).
pub fn sign_in(session: &Session, service: &Latchkey, member: &Member) -> Result<(), WebError> {
    // Drop the signed-out state (its CSRF token too) and issue a new cookie.
    session.clear();
    session.renew();
    session
        .insert(MEMBER_KEY, member.id.0)
        .and_then(|()| session.insert(SEEN_KEY, now_unix(service)))
        .and_then(|()| session.insert(ANNOUNCE_KEY, true))
        .map_err(|_| WebError::internal())?;
    csrf_token(session)?;
    Ok(())
}

pub fn sign_out(session: &Session) {
    session.purge();
}

/// The signed-in member of a console request. Loaded from the database on
/// every request, so a disabled member's session stops at once.
pub struct CurrentMember {
    pub member: Member,
    pub csrf: String,
    pub htmx: bool,
    pub ip: Option<String>,
    pub session: Session,
}

impl CurrentMember {
    /// A state-changing form of this member: decoded strictly, and refused
    /// (403) unless it carries this session's CSRF token.
    pub fn form(&self, req: &HttpRequest, body: &[u8]) -> Result<super::forms::FormData, WebError> {
        let form = super::forms::FormData::parse(body)
            .map_err(|e| WebError::bad_request(e.to_string()).for_htmx(self.htmx))?;
        check_csrf(req, &self.session, form.get("csrf_token"))?;
        Ok(form)
    }

    /// Admin pages refuse everyone else (403) with `message`.
    pub fn require_admin(&self, message: &str) -> Result<(), WebError> {
        if self.member.is_admin() {
            Ok(())
        } else {
            Err(WebError::forbidden(message).for_htmx(self.htmx))
        }
    }

    pub fn actor(&self) -> crate::service::Actor {
        crate::service::Actor::member(self.member.clone(), self.ip.clone())
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
        Box::pin(async move {
            let service = service.ok_or_else(WebError::internal)?;
            let signed_out = WebError::SignInRequired { htmx };
            let Some(id) = session.get::<i64>(MEMBER_KEY).ok().flatten() else {
                return Err(signed_out);
            };
            let now = now_unix(&service);
            let seen = session.get::<i64>(SEEN_KEY).ok().flatten().unwrap_or(0);
            if now - seen > IDLE_TIMEOUT_SECS {
                session.purge();
                return Err(signed_out);
            }
            if now - seen > SEEN_REFRESH_SECS {
                let _ = session.insert(SEEN_KEY, now);
            }
            let member = match web::block(move || service.member_by_id(MemberId(id))).await? {
                Ok(m) if !m.disabled => m,
                Ok(_) | Err(Error::NotFound(_)) => {
                    session.purge();
                    return Err(signed_out);
                }
                Err(e) => return Err(WebError::from(e).for_htmx(htmx)),
            };
            let csrf = csrf_token(&session)?;
            Ok(CurrentMember {
                member,
                csrf,
                htmx,
                ip,
                session,
            })
        })
    }
}

/// True once after each sign-in.
pub fn take_announcement(session: &Session) -> bool {
    let due = matches!(session.get::<bool>(ANNOUNCE_KEY), Ok(Some(true)));
    if due {
        session.remove(ANNOUNCE_KEY);
    }
    due
}

/// Whether the session names a member and has not gone idle (without
/// loading the member). A stale session is cleared.
pub fn has_member(session: &Session, service: &Latchkey) -> bool {
    if !matches!(session.get::<i64>(MEMBER_KEY), Ok(Some(_))) {
        return false;
    }
    let seen = session.get::<i64>(SEEN_KEY).ok().flatten().unwrap_or(0);
    if now_unix(service) - seen > IDLE_TIMEOUT_SECS {
        // Cleared, not purged: the sign-in page stores a new CSRF token in it.
        session.clear();
        return false;
    }
    true
}
