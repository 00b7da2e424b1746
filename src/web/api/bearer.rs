//! `Authorization: Bearer <token>` for every `/api/v1` route.

use super::problem::ApiError;
use crate::domain::Scope;
use crate::domain::TokenId;
use crate::service::{Batcher, Latchkey, Verified, VerifyOutcome};
use crate::web::observe::Metrics;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest header value we look at; anything longer is not our token.
const MAX_AUTHORIZATION_LEN: usize = 512;

/// Refusals by allow-list are audited once a minute per token and address,
/// so a client stuck in a retry loop cannot flood the audit log.
#[derive(Default)]
pub struct RefusalLog {
    seen: Mutex<HashMap<(TokenId, Option<IpAddr>), Instant>>,
}

const REFUSAL_AUDIT_INTERVAL: Duration = Duration::from_secs(60);

impl RefusalLog {
    fn first_in_a_while(&self, token: TokenId, ip: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.len() > 10_000 {
            seen.retain(|_, at| now.duration_since(*at) < REFUSAL_AUDIT_INTERVAL);
        }
        match seen.get(&(token, ip)) {
            Some(at) if now.duration_since(*at) < REFUSAL_AUDIT_INTERVAL => false,
            _ => {
                seen.insert((token, ip), now);
                true
            }
        }
    }
}

/// A request carrying a valid token, with the token's effective scopes.
pub struct Bearer(pub Verified);

impl Bearer {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.scopes.contains(scope) {
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

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let service = req.app_data::<web::Data<Latchkey>>().cloned();
        let metrics = req.app_data::<web::Data<Metrics>>().cloned();
        let batcher = req.app_data::<web::Data<Batcher>>().cloned();
        let raw = bearer_token(req).map(str::to_owned);
        let client = crate::web::client::client_addr(req);
        // Written as text only where it is recorded, not on every request.
        let ip = move || client.map(|a| a.to_string());
        let refusals = req.app_data::<web::Data<RefusalLog>>().cloned();
        Box::pin(async move {
            let service = service.ok_or_else(ApiError::internal)?;
            let count = |outcome: &'static str| {
                if let Some(m) = &metrics {
                    m.verification(outcome);
                }
            };
            let Some(raw) = raw else {
                count("missing");
                return Err(ApiError::InvalidToken);
            };
            let result = service
                .check_for_request(&raw, batcher.as_ref().map(|b| b.get_ref()), client)
                .await;
            if let Ok(v) = &result
                && v.use_is_stale
            {
                let (svc, id, ip) = (service.clone(), v.token_id, ip());
                actix_web::rt::spawn(async move {
                    let written = web::block(move || svc.record_use(id, ip.as_deref())).await;
                    if let Ok(Err(e)) = written {
                        tracing::warn!(error = %e, "could not record last use");
                    }
                });
            }
            match result {
                Ok(verified) => {
                    count("valid");
                    service.count_use(verified.token_id);
                    Ok(Bearer(verified))
                }
                Err(VerifyOutcome::Refused(why)) => {
                    count(why.as_str());
                    tracing::debug!(reason = why.as_str(), "token refused");
                    Err(ApiError::InvalidToken)
                }
                Err(VerifyOutcome::Reused(id)) => {
                    count("reused");
                    tracing::warn!(token = %id, "a rotated-away token was presented; revoking its chain");
                    let svc = service.clone();
                    let ip = ip();
                    let written = web::block(move || svc.revoke_chain(id, ip.as_deref())).await;
                    if let Ok(Err(e)) = written {
                        tracing::error!(error = %e, "could not revoke a reused token's chain");
                    }
                    Err(ApiError::InvalidToken)
                }
                Err(VerifyOutcome::OutsideAllowList(token)) => {
                    count("outside_allow_list");
                    let id = token.token_id;
                    tracing::debug!(token = %id, "token refused: address outside its allow-list");
                    if refusals.is_none_or(|log| log.first_in_a_while(id, client)) {
                        let (svc, ip) = (service.clone(), ip());
                        let written =
                            web::block(move || svc.record_refused_address(&token, ip.as_deref()))
                                .await;
                        if let Ok(Err(e)) = written {
                            tracing::warn!(error = %e, "could not audit a refused address");
                        }
                    }
                    Err(ApiError::InvalidToken)
                }
                Err(VerifyOutcome::Error(e)) => Err(e.into()),
            }
        })
    }
}
