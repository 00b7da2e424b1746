//! How the console answers errors: a page for a browser, a small fragment
//! for htmx (which `app.js` shows), `HX-Redirect` when the session is gone.

use super::views::{ErrorPage, Layout, render};
use crate::error::Error;
use crate::service::Latchkey;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
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
        /// Why it failed, for the log (5xx only).
        cause: Option<String>,
    },
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError::Status {
            status,
            message: message.into(),
            htmx: false,
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

    /// Marks the error as answering an htmx request.
    pub fn for_htmx(self, htmx: bool) -> WebError {
        match self {
            WebError::SignInRequired { .. } => WebError::SignInRequired { htmx },
            WebError::Status {
                status,
                message,
                cause,
                ..
            } => WebError::Status {
                status,
                message,
                htmx,
                cause,
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
            htmx: false,
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
                cause,
            } => {
                let body = if *htmx {
                    format!(
                        "<p class=\"alert alert-error\" role=\"alert\">{}</p>",
                        super::views::escape_html(message)
                    )
                } else {
                    error_page(*status, message, Layout::anonymous())
                };
                let mut res = HttpResponse::build(*status)
                    .content_type("text/html; charset=utf-8")
                    .body(body);
                if let Some(cause) = cause {
                    res.extensions_mut().insert(FailureCause(cause.clone()));
                }
                if !*htmx {
                    // Drawn again in the signed-in frame by `in_layout`.
                    res.extensions_mut().insert(ErrorPageOf {
                        status: *status,
                        message: message.clone(),
                    });
                }
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

fn error_page(status: StatusCode, message: &str, layout: Layout) -> String {
    render(&ErrorPage {
        layout,
        status: status.as_u16(),
        title: plain_title(status).to_owned(),
        message: message.to_owned(),
    })
}

/// Marks an error page that may be drawn again inside the signed-in frame.
struct ErrorPageOf {
    status: StatusCode,
    message: String,
}

/// Error pages keep the navigation of a signed-in member: you never look
/// signed out because a page was not found.
pub async fn in_layout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let Some((status, message)) = res
        .response()
        .extensions()
        .get::<ErrorPageOf>()
        .map(|e| (e.status, e.message.clone()))
    else {
        return Ok(res.map_into_left_body());
    };
    let (req, response) = res.into_parts();
    let session = actix_session::SessionExt::get_session(&req);
    let service = req.app_data::<actix_web::web::Data<Latchkey>>().cloned();
    let member = match service {
        Some(service) => super::session::signed_in_member(&req, &session, &service)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let Some(member) = member else {
        return Ok(ServiceResponse::new(req, response).map_into_left_body());
    };
    let csrf = super::session::csrf_token(&session).unwrap_or_default();
    let body = error_page(status, &message, Layout::signed_in(&member, csrf, ""));
    let mut framed = HttpResponse::build(status).body(body);
    for (name, value) in response.headers() {
        if name != header::CONTENT_LENGTH {
            framed.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, framed).map_into_right_body())
}
