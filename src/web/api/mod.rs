//! The token API (SPEC §4): JSON, bearer tokens, RFC 9457 errors.

mod bearer;
mod lease;
mod lookup;
mod manage;
mod marks;
mod problem;
mod revocations;

pub use bearer::{Bearer, bearer_token};
pub use lease::LeaseHolder;
pub use lookup::{Answered, Batcher};
pub use problem::ApiError;
pub use revocations::RevocationFeed;

use crate::domain::{MemberId, MemberKind, Role, Scope, TokenId};
use crate::service::{Actor, Latchkey, OwnerFilter, StatusFilter, TokenQuery};
use crate::web::MAX_BODY_BYTES;
use crate::web::client::client_ip;
use crate::web::forms::FormData;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::json;

const OPENAPI: &str = include_str!("openapi.json");

/// A route's other methods: `OPTIONS` is answered (204 with `Allow`), and
/// anything else is 405 with `Allow`. A `GET` route answers `HEAD` too.
pub fn only(methods: &'static str) -> actix_web::Route {
    web::to(move |req: HttpRequest| async move {
        let allow = if methods == "GET" {
            "GET, HEAD, OPTIONS".to_owned()
        } else {
            format!("{methods}, OPTIONS")
        };
        let mut res = if req.method() == actix_web::http::Method::OPTIONS {
            HttpResponse::NoContent().finish()
        } else {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Use {methods} on this route."),
            )
            .error_response_owned()
        };
        if let Ok(v) = header::HeaderValue::from_str(&allow) {
            res.headers_mut().insert(header::ALLOW, v);
        }
        res
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(actix_web::middleware::from_fn(bearer::expiration_header))
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(openapi))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/v1/me")
                    .route(web::get().to(me))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/v1/tokens")
                    .route(web::get().to(list))
                    .route(web::post().to(manage::create))
                    .default_service(only("GET, POST")),
            )
            .service(
                web::resource("/v1/revocations")
                    .route(web::get().to(revocations::feed))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/v1/scopes")
                    .route(web::get().to(manage::scopes))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/v1/audit")
                    .route(web::get().to(manage::audit))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/v1/tokens/self/rotate")
                    .route(web::post().to(rotate_self))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/v1/tokens/revoke-leaked")
                    .route(web::post().to(revoke_leaked))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/v1/tokens/{id}/{action}")
                    .route(web::post().to(suspend_or_resume))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/v1/tokens/{id}")
                    .route(web::delete().to(revoke))
                    .default_service(only("DELETE")),
            )
            .service(
                web::resource("/v1/introspect")
                    .route(web::post().to(introspect))
                    .default_service(only("POST")),
            )
            .default_service(web::to(|| async {
                ApiError::not_found("No such API route; see /api/openapi.json.")
                    .error_response_owned()
            })),
    );
}

impl ApiError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

fn json_ok(value: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(value.to_string())
}

pub(super) fn rfc3339(t: time::PrimitiveDateTime) -> String {
    t.assume_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

/// The owner and the token itself.
/// `GET /api/v1/me`, written straight from the check's result (the hot
/// path: no intermediate JSON tree).
#[derive(serde::Serialize)]
struct Me<'a> {
    owner: MeOwner<'a>,
    token: MeToken<'a>,
}

#[derive(serde::Serialize)]
struct MeOwner<'a> {
    email: &'a str,
    id: MemberId,
    /// `person` or `service`.
    kind: &'static str,
    role: Role,
}

#[derive(serde::Serialize)]
struct MeToken<'a> {
    expires_at: Option<&'a str>,
    id: TokenId,
    name: &'a str,
    scopes: ScopeNames<'a>,
}

/// Scopes as a JSON array of their names, written without a copy.
struct ScopeNames<'a>(&'a crate::domain::ScopeSet);

impl serde::Serialize for ScopeNames<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|s| s.as_str()))
    }
}

async fn me(req: HttpRequest, bearer: Bearer) -> HttpResponse {
    let v = &bearer.0;
    let extensions = req.extensions();
    // The text the `Latchkey-Token-Expiration` header carries: the
    // extractor stores it for every token with an expiry.
    let expires_at = extensions
        .get::<bearer::TokenExpiration>()
        .and_then(|e| e.0.to_str().ok());
    let body = Me {
        owner: MeOwner {
            email: &v.owner.email,
            id: v.owner.id,
            kind: v.owner.kind.as_str(),
            role: v.owner.role,
        },
        token: MeToken {
            expires_at,
            id: v.token_id,
            name: &v.name,
            scopes: ScopeNames(&v.scopes),
        },
    };
    // Sized for the usual answer: no regrowth while writing it.
    let mut bytes = Vec::with_capacity(320);
    match serde_json::to_writer(&mut bytes, &body) {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(bytes),
        Err(_) => ApiError::internal().error_response_owned(),
    }
}

/// The owner's tokens (never secrets or hashes).
async fn list(
    req: HttpRequest,
    bearer: Bearer,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::TOKENS_READ)?;
    let q = FormData::parse(req.query_string().as_bytes())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Strict, unlike the console's forms: an empty value is a mistake.
    let status = match q.get("status") {
        None => StatusFilter::Active,
        Some(s) => StatusFilter::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "status must be active, expiring, expired, revoked, suspended or all",
            )
        })?,
    };
    let page = match q.get("page") {
        None => 1,
        Some(p) => p
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| ApiError::bad_request("page must be a number from 1 to 1000000"))?,
    };
    let actor = Actor::member(bearer.0.owner.clone(), client_ip(&req));
    let query = TokenQuery {
        status,
        owner: OwnerFilter::Me,
        search: None,
        page,
    };
    let svc = service.clone();
    let result = web::block(move || svc.tokens().list(&actor, &query)).await??;
    Ok(json_ok(json!({
        "tokens": result.tokens,
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
    })))
}

/// Revokes one token: the owner's own, or (admins) any in the organisation.
async fn revoke(
    req: HttpRequest,
    path: web::Path<String>,
    bearer: Bearer,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::TOKENS_REVOKE)?;
    let not_found = || ApiError::not_found("No token with this id that this token may revoke.");
    let id = path.parse::<TokenId>().map_err(|_| not_found())?;
    let actor = Actor::member(bearer.0.owner.clone(), client_ip(&req));
    let svc = service.clone();
    let outcome = web::block(move || svc.tokens().revoke(&actor, id)).await?;
    match outcome {
        Ok(outcome) => Ok(json_ok(json!({
            "id": id,
            "status": "revoked",
            "already_revoked": outcome == crate::service::RevokeOutcome::AlreadyRevoked,
        }))),
        Err(crate::error::Error::Forbidden(_) | crate::error::Error::NotFound(_)) => {
            Err(not_found())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/tokens/{id}/suspend` and `…/resume`, as the console's
/// buttons (scope `tokens:revoke`).
async fn suspend_or_resume(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    bearer: Bearer,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::TOKENS_REVOKE)?;
    let not_found =
        || ApiError::not_found("No token with this id that this token may suspend or resume.");
    let (id, action) = path.into_inner();
    let stop = match action.as_str() {
        "suspend" => true,
        "resume" => false,
        _ => {
            return Err(ApiError::not_found(
                "No such API route; see /api/openapi.json.",
            ));
        }
    };
    let id = id.parse::<TokenId>().map_err(|_| not_found())?;
    let actor = Actor::member(bearer.0.owner.clone(), client_ip(&req));
    let svc = service.clone();
    match web::block(move || svc.tokens().set_suspended(&actor, id, stop)).await? {
        Ok(done) => Ok(json_ok(json!({
            "id": id,
            "status": done.status.as_str(),
            "changed": done.changed,
        }))),
        Err(crate::error::Error::Forbidden(_) | crate::error::Error::NotFound(_)) => {
            Err(not_found())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    #[serde(default)]
    overlap_minutes: i64,
}

/// The longest rotation overlap, in minutes (24 hours).
const MAX_OVERLAP_MINUTES: i64 = 1440;

/// A JSON body that must be an object (`[]` or `"x"` is not a request).
pub(super) fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("The body must be a JSON object."));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}")))
}

/// The presented token rotates itself; the answer holds the new token,
/// shown this once.
async fn rotate_self(
    req: HttpRequest,
    bearer: Bearer,
    payload: web::Payload,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload).await?;
    let overlap = if body.iter().all(u8::is_ascii_whitespace) {
        0
    } else {
        if content_type(&req) != "application/json" {
            return Err(unsupported("application/json"));
        }
        json_object::<RotateRequest>(&body)?.overlap_minutes
    };
    // Checked before any arithmetic: a huge number is a 400, not a panic.
    if !(0..=MAX_OVERLAP_MINUTES).contains(&overlap) {
        return Err(ApiError::bad_request(format!(
            "overlap_minutes must be a whole number from 0 to {MAX_OVERLAP_MINUTES}."
        )));
    }
    let actor = Actor::member(bearer.0.owner.clone(), client_ip(&req));
    let old = bearer.0.token_id;
    let svc = service.clone();
    let created = web::block(move || {
        svc.rotation()
            .rotate(&actor, old, time::Duration::minutes(overlap))
    })
    .await??;
    let answer = json!({
        "token": created.secret.expose(),
        "id": created.token.id,
        "name": created.token.name,
        "scopes": created.token.scopes.names(),
        "expires_at": created.token.expires_at.map(rfc3339),
        "replaces": old,
    });
    drop(created);
    Ok(json_ok(answer))
}

/// Reads a body of at most `MAX_BODY_BYTES`.
/// A body still arriving after this is given up on: a client announcing
/// more than it sends holds no connection for long.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) async fn read_body(payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let read = payload.to_bytes_limited(MAX_BODY_BYTES);
    match actix_web::rt::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "The request body did not arrive in time (it is shorter than its Content-Length?).",
        )),
        Ok(Ok(Ok(bytes))) => Ok(bytes),
        Ok(Ok(Err(_))) => Err(ApiError::bad_request("The request body could not be read.")),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The body is larger than {} KiB.", MAX_BODY_BYTES / 1024),
        )),
    }
}

pub(super) fn content_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

pub(super) fn unsupported(expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Send {expected}."),
    )
}

#[derive(serde::Deserialize)]
struct IntrospectRequest {
    token: String,
}

/// The `token` of an introspection request, from a form or a JSON body
/// (public for the fuzz targets).
pub fn introspect_token(content_type: &str, body: &[u8]) -> Result<String, ApiError> {
    let token = match content_type {
        "application/x-www-form-urlencoded" => FormData::parse(body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .get("token")
            .map(str::to_owned),
        "application/json" => Some(json_object::<IntrospectRequest>(body)?.token),
        _ => {
            return Err(unsupported(
                "application/x-www-form-urlencoded or application/json",
            ));
        }
    };
    token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("The token parameter is required."))
}

/// The tokens of a leak report: JSON `{"tokens": [...]}`, at most 1,000
/// (public for the fuzz targets).
pub fn leak_report(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let report: LeakReport = json_object(body)?;
    if report.tokens.len() > crate::service::MAX_BULK_REVOKE {
        return Err(ApiError::bad_request(format!(
            "At most {} tokens per request.",
            crate::service::MAX_BULK_REVOKE
        )));
    }
    Ok(report.tokens)
}

/// RFC 7662 token introspection for resource servers.
async fn introspect(
    req: HttpRequest,
    bearer: Bearer,
    payload: web::Payload,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::TOKENS_INTROSPECT)?;
    let body = read_body(payload).await?;
    let token = introspect_token(&content_type(&req), &body)?;
    let org = bearer.0.owner.org_id;
    let batcher = req.app_data::<web::Data<Batcher>>().map(|b| b.get_ref());
    // The same use case as a direct use: a rotated-away token shown here
    // takes its chain down too.
    // The address is the resource server's: where the token was shown.
    let caller = crate::web::client::client_addr(&req);
    let result = bearer::authenticate(
        &service,
        &token,
        crate::service::Door::Introspection,
        caller,
        batcher,
        &req,
    )
    .await?;
    let inactive = json!({ "active": false });
    let answer = match result {
        Ok(v) if v.owner.org_id == org => json!({
            "active": true,
            "scope": v.scopes.to_string(),
            "exp": v.expires_at.map(|t| t.assume_utc().unix_timestamp()),
            "iat": v.created_at.assume_utc().unix_timestamp(),
            // A person by member id (as always); a service account says so.
            "sub": match v.owner.kind {
                MemberKind::Person => v.owner.id.to_string(),
                MemberKind::Service => format!("service:{}", v.owner.id),
            },
            "owner_kind": v.owner.kind.as_str(),
            "username": v.owner.email,
            "token_type": "Bearer",
            "client_id": v.token_id.to_string(),
            // Not checked here (the caller's client address is not known):
            // a resource server enforces it with its own view of the client.
            "allowed_ips": v.allowed_ips.ranges().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Ok(_) | Err(_) => inactive,
    };
    Ok(json_ok(answer))
}

#[derive(serde::Deserialize)]
struct LeakReport {
    tokens: Vec<String>,
}

/// Anyone who finds tokens (a secret scanner, a colleague) can revoke them
/// by value. The answer says only how many were revoked.
async fn revoke_leaked(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, ApiError> {
    let ip = crate::web::client::client_addr(&req);
    let svc = service.clone();
    web::block(move || svc.tokens().count_leak_report(ip))
        .await??
        .map_err(ApiError::too_many)?;
    if content_type(&req) != "application/json" {
        return Err(unsupported("application/json"));
    }
    let body = read_body(payload).await?;
    let tokens = leak_report(&body)?;
    let ip = ip.map(|ip| ip.to_string());
    let svc = service.clone();
    let revoked = web::block(move || svc.tokens().revoke_leaked(&tokens, ip.as_deref())).await??;
    Ok(json_ok(json!({ "revoked": revoked })))
}
