//! API errors as RFC 9457 problem details, with RFC 6750 challenges.

use crate::domain::Scope;
use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

const CHALLENGE_INVALID: &str = r#"Bearer realm="latchkey", error="invalid_token""#;

#[derive(Debug)]
pub enum ApiError {
    /// Missing, malformed, unknown, expired, revoked or owner disabled:
    /// one answer for all, so the client learns nothing about which.
    InvalidToken,
    InsufficientScope(Scope),
    Problem {
        status: StatusCode,
        title: &'static str,
        detail: String,
        retry_after: Option<u64>,
        /// Why it failed, for the log (5xx only).
        cause: Option<String>,
    },
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError::Problem {
            status,
            title: status.canonical_reason().unwrap_or("Error"),
            detail: detail.into(),
            retry_after: None,
            cause: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn too_many(retry_after: u64) -> ApiError {
        ApiError::Problem {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too Many Requests",
            detail: format!("Too many requests from this address; retry in {retry_after} seconds."),
            retry_after: Some(retry_after),
            cause: None,
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; nothing was changed.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::InvalidToken => f.write_str("invalid token"),
            ApiError::InsufficientScope(s) => write!(f, "insufficient scope: needs {s}"),
            ApiError::Problem { status, detail, .. } => write!(f, "{status}: {detail}"),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = crate::web::error::status_of(&e);
        let cause = status.is_server_error().then(|| e.chain());
        let detail = match e {
            Error::Invalid(field) => field.message,
            Error::NotFound(what) => format!("No such {what}."),
            Error::Throttled { retry_after_secs } => return ApiError::too_many(retry_after_secs),
            Error::Unavailable(_) => "The database is unavailable; retry shortly.".to_owned(),
            Error::Unexpected { .. } => {
                "Something went wrong on our side; nothing was changed.".to_owned()
            }
            other => other.to_string(),
        };
        ApiError::Problem {
            status,
            title: status.canonical_reason().unwrap_or("Error"),
            detail,
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(5),
            cause,
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> ApiError {
        match ApiError::internal() {
            ApiError::Problem {
                status,
                title,
                detail,
                retry_after,
                ..
            } => ApiError::Problem {
                status,
                title,
                detail,
                retry_after,
                cause: Some(format!("a blocking task failed: {e}")),
            },
            other => other,
        }
    }
}

fn problem(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::Problem { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::InvalidToken => {
                let mut res = problem(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "The access token is missing or not valid.",
                );
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE_INVALID),
                );
                res
            }
            ApiError::InsufficientScope(scope) => {
                let mut res = problem(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    &format!("This token lacks the scope {scope}."),
                );
                let challenge = format!(
                    r#"Bearer realm="latchkey", error="insufficient_scope", scope="{scope}""#
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
                }
                res
            }
            ApiError::Problem {
                status,
                title,
                detail,
                retry_after,
                cause,
            } => {
                let mut res = problem(*status, title, detail);
                if let Some(cause) = cause {
                    res.extensions_mut()
                        .insert(crate::web::error::FailureCause(cause.clone()));
                }
                if let Some(secs) = retry_after {
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
                }
                res
            }
        }
    }
}
