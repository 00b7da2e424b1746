//! Headers on every response, and refusal of cross-site state changes.

use super::WebError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpResponse, ResponseError};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// Served over HTTPS (`LATCHKEY_SECURE_COOKIES=true`), browsers are told
/// to use nothing else for a year.
const HSTS: &str = "max-age=31536000";

pub fn headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        headers
    }
}

/// A body with any `Content-Encoding` is refused (415) before it is read:
/// nothing is ever inflated, so a small compressed body cannot become a
/// large one in memory.
pub async fn refuse_encoded_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if req.headers().contains_key(header::CONTENT_ENCODING) {
        let res = HttpResponse::UnsupportedMediaType()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("application/problem+json")
            .body(
                r#"{"type":"about:blank","title":"Unsupported Media Type","status":415,"detail":"Compressed request bodies are not accepted; send the body without Content-Encoding."}"#,
            );
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A browser sending a console form from another site is refused (403)
/// before the handler runs. The token API is called by servers with
/// bearer tokens, not cookies, and is left alone.
pub async fn same_origin_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && !req.path().starts_with("/api/") && is_cross_site(&req) {
        let res = WebError::forbidden(
            "This request came from another site and was refused. Nothing was changed.",
        )
        .error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn is_cross_site(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    // Browsers that send Fetch Metadata say exactly where a request came from.
    if let Some(site) = headers.get("Sec-Fetch-Site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    // Otherwise compare Origin with Host. `Origin: null` is what our own
    // pages send under `Referrer-Policy: no-referrer`; the CSRF token still
    // guards those requests.
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if origin == "null" {
        return false;
    }
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !origin_host.eq_ignore_ascii_case(host)
}
