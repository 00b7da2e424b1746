//! The console's errors: one kind per outcome, one status per kind. How
//! an error is drawn (a page, an htmx fragment) is decided per request by
//! `error_pages`.

use crate::error::Error;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): go to the sign-in page.
    SignInRequired,
    /// Signed in, but a step comes first (a new password, two-factor
    /// enrolment): go to its page.
    StepFirst(&'static str),
    Status {
        status: StatusCode,
        message: String,
        /// Why it failed, for the log (5xx only).
        cause: Option<String>,
    },
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError::Status {
            status,
            message: message.into(),
            cause: None,
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

    /// An address no route answers.
    pub fn page_not_found() -> WebError {
        WebError::new(
            StatusCode::NOT_FOUND,
            "There is no page at this address. It may have moved, or the link may be mistyped.",
        )
    }

    pub fn internal() -> WebError {
        WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Nothing was changed; please try again.",
        )
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::SignInRequired => f.write_str("sign-in required"),
            WebError::StepFirst(path) => write!(f, "a step comes first: {path}"),
            WebError::Status {
                status, message, ..
            } => write!(f, "{status}: {message}"),
        }
    }
}

/// The one table from a use case's error kind to an HTTP status.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Unexpected { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The cause chain of a failure of ours, kept on the response so the
/// request's log line carries it (once, and never to the user).
#[derive(Debug, Clone)]
pub struct FailureCause(pub String);

impl From<Error> for WebError {
    fn from(e: Error) -> WebError {
        let status = status_of(&e);
        let message = match &e {
            Error::Invalid(field) => field.message.clone(),
            Error::NotFound(what) => format!("That {what} doesn’t exist or isn’t yours."),
            Error::Throttled { retry_after_secs } => {
                format!("Too many attempts. Try again in {retry_after_secs} seconds.")
            }
            Error::Unavailable(_) => {
                "The database is unavailable. Nothing was changed; please try again shortly."
                    .to_owned()
            }
            Error::Unexpected { .. } => {
                "Something went wrong on our side. Nothing was changed; please try again."
                    .to_owned()
            }
            other => other.to_string(),
        };
        let cause = status.is_server_error().then(|| e.chain());
        WebError::Status {
            status,
            message,
            cause,
        }
    }
}

impl From<actix_web::error::BlockingError> for WebError {
    fn from(e: actix_web::error::BlockingError) -> WebError {
        let mut error = WebError::internal();
        if let WebError::Status { cause, .. } = &mut error {
            *cause = Some(format!("a blocking task failed: {e}"));
        }
        error
    }
}

/// What an error response is about; `error_pages` draws it as the
/// request calls for (a page, or an htmx fragment).
#[derive(Debug, Clone)]
pub enum ErrorShown {
    SignInRequired,
    StepFirst(&'static str),
    Page { status: StatusCode, message: String },
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignInRequired | WebError::StepFirst(_) => StatusCode::SEE_OTHER,
            WebError::Status { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (mut res, shown) = match self {
            WebError::SignInRequired => (
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/login"))
                    .finish(),
                ErrorShown::SignInRequired,
            ),
            WebError::StepFirst(path) => (
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, *path))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish(),
                ErrorShown::StepFirst(path),
            ),
            WebError::Status {
                status,
                message,
                cause,
            } => {
                let mut res = HttpResponse::build(*status)
                    .content_type("text/plain; charset=utf-8")
                    .body(message.clone());
                if let Some(cause) = cause {
                    res.extensions_mut().insert(FailureCause(cause.clone()));
                }
                let headers = res.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if *status == StatusCode::TOO_MANY_REQUESTS {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
                }
                if *status == StatusCode::SERVICE_UNAVAILABLE {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                let shown = ErrorShown::Page {
                    status: *status,
                    message: message.clone(),
                };
                (res, shown)
            }
        };
        res.extensions_mut().insert(shown);
        res
    }
}

/// Plain words for a status: what people read as the page's title.
pub fn plain_title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That request could not be read",
        401 => "Please sign in",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Not available this way",
        409 => "Not possible right now",
        413 => "That is too large",
        415 => "That kind of request is not accepted",
        422 => "Please check what you entered",
        429 => "Too many attempts",
        503 => "Latchkey is busy",
        _ => "Something went wrong",
    }
}
