//! actix-web: an extractor that verifies the request's bearer token and a
//! refusal that answers as Latchkey's own API does (RFC 6750 401 and 403,
//! JSON bodies; 503 when Latchkey cannot be reached).
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, web};
//! use latchkey_verify::{Refusal, Verifier, actix::Authenticated};
//!
//! async fn report(who: Authenticated) -> Result<HttpResponse, Refusal> {
//!     who.require("reports:read")?;
//!     Ok(HttpResponse::Ok().body(format!("hello {}", who.username)))
//! }
//!
//! let verifier = Verifier::new("https://latchkey.example.com", "lk_…");
//! let app = App::new()
//!     .app_data(web::Data::new(verifier))
//!     .route("/report", web::get().to(report));
//! ```

use crate::{Principal, Refusal, Verifier};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use std::future::Future;
use std::pin::Pin;

/// A request whose bearer token Latchkey vouches for.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl std::ops::Deref for Authenticated {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// The single `Authorization: Bearer` value, if well-placed.
fn bearer(req: &HttpRequest) -> Option<String> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for Authenticated {
    type Error = Refusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Refusal>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Already verified by the middleware: no second look.
        if let Some(done) = req.extensions().get::<Authenticated>().cloned() {
            return Box::pin(async move { Ok(done) });
        }
        let verifier = req
            .app_data::<web::Data<Verifier>>()
            .map(|v| v.get_ref().clone());
        let token = bearer(req);
        Box::pin(async move {
            let verifier = verifier
                .ok_or_else(|| Refusal::Unavailable("no Verifier in the app's data".to_owned()))?;
            let token = token.ok_or(Refusal::Missing)?;
            // Blocking at most `Options::timeout`: off the async threads.
            web::block(move || verifier.verify(&token))
                .await
                .map_err(|e| Refusal::Unavailable(e.to_string()))?
                .map(Authenticated)
        })
    }
}

/// The future a [`require`] middleware returns.
pub type Guarded<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

/// Middleware (for `actix_web::middleware::from_fn`) that verifies every
/// request of a scope or app, refusing tokens without `scope` (any valid
/// token when `None`); handlers then take [`Authenticated`] for free.
///
/// ```no_run
/// use actix_web::{App, middleware::from_fn, web};
/// use latchkey_verify::actix::require;
/// # let verifier = web::Data::new(latchkey_verify::Verifier::new("http://l", "lk_"));
/// let app = App::new()
///     .app_data(verifier)
///     .service(web::scope("/reports").wrap(from_fn(require(Some("reports:read")))));
/// ```
pub fn require<B: MessageBody + 'static>(
    scope: Option<&str>,
) -> impl Fn(ServiceRequest, Next<B>) -> Guarded<B> + Clone + 'static {
    let scope = scope.map(str::to_owned);
    move |req: ServiceRequest, next: Next<B>| {
        let scope = scope.clone();
        Box::pin(async move {
            let judged = Authenticated::extract(req.request())
                .await
                .and_then(|who| match &scope {
                    Some(s) => who.require(s).map(|()| who),
                    None => Ok(who),
                });
            match judged {
                Ok(who) => {
                    req.extensions_mut().insert(who);
                    next.call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(refusal) => Ok(req
                    .into_response(refusal.error_response())
                    .map_into_right_body()),
            }
        })
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    }

    fn error_response(&self) -> HttpResponse {
        let (error, detail) = match self {
            Refusal::Missing | Refusal::Malformed | Refusal::Invalid => (
                "invalid_token",
                "The token is missing, malformed, unknown, expired or revoked.".to_owned(),
            ),
            Refusal::InsufficientScope(scope) => (
                "insufficient_scope",
                format!("This request needs the scope {scope}."),
            ),
            Refusal::Unavailable(_) => (
                "temporarily_unavailable",
                "Tokens cannot be checked right now; try again shortly.".to_owned(),
            ),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.www_authenticate() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if matches!(self, Refusal::Unavailable(_)) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        response.json(serde_json::json!({ "error": error, "error_description": detail }))
    }
}
