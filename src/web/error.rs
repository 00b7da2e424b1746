//! How the console answers errors: a page for a browser, a small fragment
//! for htmx (which `app.js` shows), `HX-Redirect` when the session is gone.

use super::views::{ErrorPage, Layout, render};
use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): go to the sign-in page.
    SignInRequired { htmx: bool },
    Status {
        status: StatusCode,
        message: String,
        htmx: bool,
    },
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError::Status {
            status,
            message: message.into(),
            htmx: false,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> WebError {
        WebError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn bad_request(message: impl Into<String>) -> WebError {
        WebError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> WebError {
        WebError::new(
            StatusCode::NOT_FOUND,
            "This page does not exist, or you may not see it.",
        )
    }

    pub fn internal() -> WebError {
        WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Nothing was changed; please try again.",
        )
    }

    /// Marks the error as answering an htmx request.
    pub fn for_htmx(self, htmx: bool) -> WebError {
        match self {
            WebError::SignInRequired { .. } => WebError::SignInRequired { htmx },
            WebError::Status {
                status, message, ..
            } => WebError::Status {
                status,
                message,
                htmx,
            },
        }
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::SignInRequired { .. } => f.write_str("sign-in required"),
            WebError::Status {
                status, message, ..
            } => write!(f, "{status}: {message}"),
        }
    }
}

impl From<Error> for WebError {
    fn from(e: Error) -> WebError {
        let (status, message) = match &e {
            Error::Invalid(field) => (StatusCode::UNPROCESSABLE_ENTITY, field.message.clone()),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            Error::NotFound(what) => (
                StatusCode::NOT_FOUND,
                format!("This {what} does not exist, or you may not see it."),
            ),
            Error::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            Error::Throttled { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts. Try again in {retry_after_secs} seconds."),
            ),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable. Nothing was changed; please try again shortly."
                    .to_owned(),
            ),
            Error::Unexpected(_) => {
                return {
                    tracing::error!(error = %e, "unexpected error");
                    WebError::internal()
                };
            }
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        WebError::new(status, message)
    }
}

impl From<actix_web::error::BlockingError> for WebError {
    fn from(e: actix_web::error::BlockingError) -> WebError {
        tracing::error!(error = %e, "blocking task failed");
        WebError::internal()
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignInRequired { htmx: true } => StatusCode::UNAUTHORIZED,
            WebError::SignInRequired { htmx: false } => StatusCode::SEE_OTHER,
            WebError::Status { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::SignInRequired { htmx: true } => HttpResponse::Unauthorized()
                .insert_header(("HX-Redirect", "/login"))
                .finish(),
            WebError::SignInRequired { htmx: false } => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish(),
            WebError::Status {
                status,
                message,
                htmx,
            } => {
                let body = if *htmx {
                    format!(
                        "<p class=\"alert alert-error\" role=\"alert\">{}</p>",
                        super::views::escape_html(message)
                    )
                } else {
                    render(&ErrorPage {
                        layout: Layout::anonymous(),
                        status: status.as_u16(),
                        title: status.canonical_reason().unwrap_or("Error").to_owned(),
                        message: message.clone(),
                    })
                };
                let mut res = HttpResponse::build(*status)
                    .content_type("text/html; charset=utf-8")
                    .body(body);
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if *status == StatusCode::TOO_MANY_REQUESTS {
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
                }
                if *status == StatusCode::SERVICE_UNAVAILABLE {
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                res
            }
        }
    }
}
