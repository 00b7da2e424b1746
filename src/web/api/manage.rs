//! The management API (SPEC §10): programs mint tokens and read the audit
//! log under the same rules as people in the console.

use super::problem::ApiError;
use super::{Bearer, content_type, json_object, read_body, rfc3339, unsupported};
use crate::domain::{
    Catalogue, Expiry, IpAllowList, IpRange, Scope, ScopeSet, TokenName, parse_date,
};
use crate::service::{Actor, Latchkey, NewToken, Verified};
use crate::web::client::client_ip;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Deserializer};

/// The most audit events one page may ask for.
const MAX_AUDIT_PAGE: i64 = 1000;

/// `POST /api/v1/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    /// Absent: a mistake; `null`: no expiry (where the policy allows).
    #[serde(default, deserialize_with = "present")]
    expires_on: Option<Option<String>>,
    scopes: Vec<String>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    /// A canary token: never authorizes, every use reported.
    #[serde(default)]
    canary: bool,
}

/// Tells `"expires_on": null` (no expiry) from a missing key.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn unprocessable(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
}

/// The request read into a token request; a scope the presenting token
/// does not hold is refused as the scope it lacks.
fn new_token(
    req: CreateRequest,
    parent: &Verified,
    catalogue: &Catalogue,
) -> Result<NewToken, ApiError> {
    let held = &parent.scopes;
    let name = TokenName::parse(&req.name).map_err(|e| unprocessable(e.message))?;
    let expiry = match req.expires_on {
        None => {
            return Err(unprocessable(
                "expires_on is required: a date (YYYY-MM-DD), or null for no expiry where the policy allows it.",
            ));
        }
        Some(None) => Expiry::Never,
        Some(Some(date)) => {
            Expiry::On(parse_date(&date).map_err(|e| unprocessable(format!("expires_on: {e}")))?)
        }
    };
    let mut scopes = ScopeSet::empty();
    for name in &req.scopes {
        let scope: Scope = name
            .parse()
            .map_err(|e| unprocessable(format!("scopes: {e}")))?;
        if !catalogue.offers(&scope) {
            return Err(unprocessable(format!(
                "scopes: unknown scope “{scope}” (GET /api/v1/scopes lists them)."
            )));
        }
        if !held.contains(&scope) {
            return Err(ApiError::InsufficientScope(scope));
        }
        scopes.insert(scope);
    }
    if scopes.is_empty() {
        return Err(unprocessable("scopes: choose at least one scope."));
    }
    let ranges = req
        .allowed_ips
        .iter()
        .map(|r| IpRange::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unprocessable(format!("allowed_ips: {e}")))?;
    let mut allowed_ips = IpAllowList::from_ranges(ranges)
        .map_err(|e| unprocessable(format!("allowed_ips: {}", e.message)))?;
    // A minted token never reaches further than the token minting it: not
    // from more addresses, not for longer.
    if allowed_ips.is_empty() {
        allowed_ips = parent.allowed_ips.clone();
    } else if !parent.allowed_ips.covers(&allowed_ips) {
        return Err(unprocessable(
            "allowed_ips: every range must lie inside the presenting token's allow-list (leave it out to inherit that list).",
        ));
    }
    if let Some(limit) = parent.expires_at {
        let outlives = match expiry {
            Expiry::Never => true,
            Expiry::On(date) => crate::domain::expires_at(date) > limit,
        };
        if outlives {
            return Err(unprocessable(format!(
                "expires_on: a minted token cannot outlive the token that mints it (at most {}).",
                limit.date()
            )));
        }
    }
    Ok(NewToken {
        name,
        expiry,
        scopes,
        nonce: None,
        allowed_ips,
        description: description(req.description)?,
        canary: req.canary,
    })
}

/// The console's rule for descriptions (`domain::parse_description`).
fn description(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    crate::domain::parse_description(&raw)
        .map_err(|e| unprocessable(format!("description: {}", e.message)))
}

/// Mints a token for the presenting token's owner, under every rule the
/// console applies; the secret is in this answer only.
pub(super) async fn create(
    req: HttpRequest,
    bearer: Bearer,
    payload: web::Payload,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::TOKENS_CREATE)?;
    if content_type(&req) != "application/json" {
        return Err(unsupported("application/json"));
    }
    let body = read_body(payload).await?;
    let asked = json_object::<CreateRequest>(&body)?;
    let svc = service.clone();
    let catalogue = web::block(move || svc.scopes().catalogue()).await??;
    let request = new_token(asked, &bearer.0, &catalogue)?;
    let owner = bearer.0.owner.clone();
    let actor = Actor::member(owner.clone(), client_ip(&req));
    let svc = service.clone();
    let created = web::block(move || svc.tokens().create(&actor, &owner, request)).await??;
    let answer = serde_json::json!({
        "token": created.secret.expose(),
        "id": created.token.id,
        "name": created.token.name,
        "scopes": created.token.scopes.names(),
        "expires_at": created.token.expires_at.map(rfc3339),
    });
    drop(created);
    Ok(HttpResponse::Created()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(answer.to_string()))
}

/// The scopes offered now (any valid token): what a program may ask for.
pub(super) async fn scopes(
    _bearer: Bearer,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    let svc = service.clone();
    let catalogue = web::block(move || svc.scopes().catalogue()).await??;
    let scopes: Vec<serde_json::Value> = catalogue
        .active()
        .map(|e| {
            serde_json::json!({
                "name": e.scope.as_str(),
                "description": e.description,
                "group": (!e.group.is_empty()).then_some(&e.group),
                "min_role": e.min_role,
                "system": e.system,
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(serde_json::json!({ "scopes": scopes }).to_string()))
}

/// The organisation's audit log for collectors: oldest first, from after
/// an event id, at most 1,000 a page.
pub(super) async fn audit(
    req: HttpRequest,
    bearer: Bearer,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::AUDIT_READ)?;
    let q = crate::web::forms::FormData::parse(req.query_string().as_bytes())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let after = match q.get("after") {
        None => 0,
        Some(a) => a
            .parse::<i64>()
            .ok()
            .filter(|a| *a >= 0)
            .ok_or_else(|| ApiError::bad_request("after must be an event id (0 or more)."))?,
    };
    let limit = match q.get("limit") {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_AUDIT_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit must be a number from 1 to {MAX_AUDIT_PAGE}."
                ))
            })?,
    };
    let (svc, viewer) = (service.clone(), bearer.0.owner.clone());
    let events = web::block(move || svc.audit().after(&viewer, after, limit)).await??;
    // A full page may have more after it.
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let events: Vec<serde_json::Value> = events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "at": rfc3339(e.at),
                "action": e.action,
                "actor": e.actor_email,
                "token_id": e.token_id,
                "member_id": e.member_id,
                "ip": e.ip,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(serde_json::json!({ "events": events, "next": next }).to_string()))
}
