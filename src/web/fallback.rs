//! What answers when no route does: `HEAD` is served as `GET` without a
//! body, `OPTIONS` and a wrong method name the allowed methods, and an
//! unknown address gets the branded 404 page.

use super::api::ApiError;
use super::error::WebError;
use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, ResponseError};

const PAGE: &str = "GET, HEAD, OPTIONS";
const FORM: &str = "OPTIONS, POST";
const PAGE_AND_FORM: &str = "GET, HEAD, OPTIONS, POST";

/// Every console and operational route with its methods, most specific
/// first (`…/revoke` before `…/{id}`). The API answers for itself.
const ROUTES: [(&str, &str); 36] = [
    ("/", PAGE),
    ("/healthz", PAGE),
    ("/readyz", PAGE),
    ("/favicon.ico", PAGE),
    ("/static/{name}", PAGE),
    ("/login", PAGE_AND_FORM),
    ("/login/2fa", PAGE_AND_FORM),
    ("/login/oidc", PAGE),
    ("/login/oidc/callback", PAGE),
    ("/logout", FORM),
    ("/settings/api-tokens", PAGE_AND_FORM),
    ("/settings/api-tokens/new", PAGE),
    ("/settings/api-tokens/revoke", FORM),
    ("/settings/api-tokens/{id}", PAGE),
    ("/settings/api-tokens/{id}/{action}", FORM),
    ("/settings/members", PAGE_AND_FORM),
    ("/settings/members/{id}/{action}", FORM),
    ("/settings/audit", PAGE),
    ("/settings/audit.{format}", PAGE),
    ("/settings/policy", PAGE_AND_FORM),
    ("/settings/policy/revoke-all", FORM),
    ("/settings/account", PAGE),
    ("/settings/account/password", FORM),
    ("/settings/account/revoke-all", FORM),
    ("/settings/account/2fa", PAGE_AND_FORM),
    ("/settings/account/2fa/off", FORM),
    ("/settings/account/sessions/end-others", FORM),
    ("/settings/account/sessions/{handle}/{action}", FORM),
    ("/settings/scopes", PAGE_AND_FORM),
    ("/settings/scopes/{name}/retire", FORM),
    ("/settings/scopes/{name}", PAGE_AND_FORM),
    ("/settings/service-accounts", PAGE_AND_FORM),
    ("/settings/service-accounts/{id}/tokens/new", PAGE),
    ("/settings/service-accounts/{id}/tokens", FORM),
    ("/settings/service-accounts/{id}/{action}", FORM),
    ("/settings/service-accounts/{id}", PAGE),
];

/// The methods a path answers, when it is a route.
pub fn allowed(path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|(pattern, _)| ResourceDef::new(*pattern).is_match(path))
        .map(|(_, methods)| *methods)
}

/// `HEAD` runs the `GET` route (the connection sends no body for it).
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// The app's default service: 405 with `Allow` for a route asked with the
/// wrong method, 204 for `OPTIONS`, the branded 404 for anything else.
pub async fn unmatched(req: HttpRequest) -> HttpResponse {
    let Some(methods) = allowed(req.path()) else {
        return WebError::page_not_found().error_response();
    };
    if req.method() == Method::OPTIONS {
        return HttpResponse::NoContent()
            .insert_header((header::ALLOW, methods))
            .finish();
    }
    let mut res = if req.path().starts_with("/healthz") || req.path().starts_with("/readyz") {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Use {methods} on this route."),
        )
        .error_response()
    } else {
        WebError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("This address answers {methods}, not {}.", req.method()),
        )
        .error_response()
    };
    if let Ok(value) = header::HeaderValue::from_str(methods) {
        res.headers_mut().insert(header::ALLOW, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_route_answers() {
        assert_eq!(allowed("/settings/api-tokens/revoke"), Some(FORM));
        assert_eq!(allowed("/settings/api-tokens/12"), Some(PAGE));
        assert_eq!(allowed("/settings/api-tokens/12/rotate"), Some(FORM));
        assert_eq!(allowed("/settings/audit.csv"), Some(PAGE));
        assert_eq!(
            allowed("/settings/scopes/billing:read"),
            Some(PAGE_AND_FORM)
        );
        assert_eq!(allowed("/settings/scopes/billing:read/retire"), Some(FORM));
        assert_eq!(
            allowed("/settings/service-accounts/3/tokens/new"),
            Some(PAGE)
        );
        assert_eq!(allowed("/settings/service-accounts/3/tokens"), Some(FORM));
        assert_eq!(allowed("/settings/service-accounts/3"), Some(PAGE));
        assert_eq!(allowed("/nowhere"), None);
    }
}
