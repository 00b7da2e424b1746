//! `Authorization: Bearer <token>` for every `/api/v1` route.

use super::lookup::{self, Batcher};
use super::problem::ApiError;
use crate::domain::Scope;
use crate::service::{Authentication, Door, Latchkey, Refusal, Verified};
use crate::web::observe::{Metrics, Outcome};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// Longest header value we look at; anything longer is not our token.
const MAX_AUTHORIZATION_LEN: usize = 512;

/// When the presented token stops (RFC 3339, UTC), written once per
/// request: `Latchkey-Token-Expiration` on every answer to it
/// (`expiration_header`), and `GET /me`'s `expires_at`.
#[derive(Debug)]
pub struct TokenExpiration(pub header::HeaderValue);

impl TokenExpiration {
    fn of(at: time::PrimitiveDateTime) -> Option<TokenExpiration> {
        let text = crate::web::format::Rfc3339Text::of(at)?;
        header::HeaderValue::from_str(text.as_str())
            .ok()
            .map(TokenExpiration)
    }
}

/// Adds `Latchkey-Token-Expiration` (RFC 3339, UTC) to every answer to a
/// request whose token was valid, errors included: clients can warn
/// before their token stops.
pub async fn expiration_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let expiration = res.request().extensions_mut().remove::<TokenExpiration>();
    if let Some(TokenExpiration(value)) = expiration {
        res.headers_mut().insert(
            header::HeaderName::from_static("latchkey-token-expiration"),
            value,
        );
    }
    Ok(res)
}

/// A request carrying a valid token, with the token's effective scopes.
pub struct Bearer(pub Verified);

impl Bearer {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }
}

/// The token string from the single Authorization header, or `None`.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next()?;
    if values.next().is_some() || value.len() > MAX_AUTHORIZATION_LEN {
        return None;
    }
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim())
}

/// Every door that sees a token comes here: find it without blocking an
/// async thread, let the service judge it, and carry out what the
/// judgement calls for (before answering when the next request must see
/// it, as a revoked chain).
pub async fn authenticate(
    service: &web::Data<Latchkey>,
    raw: &str,
    door: Door,
    client: Option<IpAddr>,
    batcher: Option<&Batcher>,
    req: &HttpRequest,
) -> Result<Result<Verified, Refusal>, ApiError> {
    let hash = match service.checks().token_hash(raw) {
        Ok(hash) => hash,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (found, answered) = lookup::find(service, hash, batcher).await?;
    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
        metrics.token_lookup(answered);
    }
    let Authentication {
        outcome,
        mut effects,
    } = service
        .checks()
        .authenticate(found.as_deref(), door, client)?;
    if effects.wants_user_agent() {
        let agent = req.headers().get(actix_web::http::header::USER_AGENT);
        effects.set_user_agent(agent.and_then(|v| v.to_str().ok()).unwrap_or(""));
    }
    if matches!(outcome, Err(Refusal::Reused)) {
        tracing::warn!("a token replaced by rotation was presented after its window");
    }
    if !effects.is_empty() {
        let urgent = effects.urgent();
        let svc = service.clone();
        let work = async move {
            match web::block(move || svc.checks().record_effects(effects)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "could not record a token check"),
                Err(e) => tracing::error!(error = %e, "could not record a token check"),
            }
        };
        if urgent {
            Box::pin(work).await;
        } else {
            actix_web::rt::spawn(work);
        }
    }
    Ok(outcome)
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            // Borrowed from the request the future owns: nothing copied.
            let service = req
                .app_data::<web::Data<Latchkey>>()
                .ok_or_else(ApiError::internal)?;
            let metrics = req.app_data::<web::Data<Metrics>>();
            let count = |outcome: Outcome| {
                if let Some(m) = metrics {
                    m.verification(outcome);
                }
            };
            let Some(raw) = bearer_token(&req) else {
                // A header that is there but unusable (another scheme, two
                // of them, too long) is a malformed token, not a missing one.
                let sent = req.headers().contains_key(header::AUTHORIZATION);
                count(if sent {
                    Outcome::Refused(Refusal::Malformed)
                } else {
                    Outcome::Missing
                });
                return Err(ApiError::InvalidToken);
            };
            let batcher = req.app_data::<web::Data<Batcher>>().map(|b| b.get_ref());
            let client = crate::web::client::client_addr(&req);
            match authenticate(service, raw, Door::Bearer, client, batcher, &req).await? {
                Ok(verified) => {
                    count(Outcome::Valid);
                    if let Some(expiration) = verified.expires_at.and_then(TokenExpiration::of) {
                        req.extensions_mut().insert(expiration);
                    }
                    Ok(Bearer(verified))
                }
                Err(why) => {
                    count(Outcome::Refused(why));
                    tracing::debug!(reason = why.as_str(), "token refused");
                    Err(ApiError::InvalidToken)
                }
            }
        })
    }
}
