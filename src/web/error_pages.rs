//! Draws the console's error responses as the request calls for: for htmx
//! a fragment `app.js` shows (or `HX-Redirect` when the session is gone),
//! otherwise a page — inside the signed-in frame when someone is signed in,
//! so a missing page never looks like a sign-out.

use super::error::{ErrorShown, plain_title};
use super::session::{self, is_htmx};
use super::views::{ErrorPage, Layout, escape_html, render};
use crate::service::Latchkey;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};

pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let Some(shown) = res.response().extensions().get::<ErrorShown>().cloned() else {
        return Ok(res.map_into_left_body());
    };
    let (req, response) = res.into_parts();
    let drawn = match shown {
        ErrorShown::SignInRequired if is_htmx(&req) => HttpResponse::Unauthorized()
            .insert_header(("HX-Redirect", "/login"))
            .finish(),
        ErrorShown::StepFirst(path) if is_htmx(&req) => HttpResponse::Ok()
            .insert_header(("HX-Redirect", path))
            .finish(),
        ErrorShown::SignInRequired | ErrorShown::StepFirst(_) => {
            return Ok(ServiceResponse::new(req, response).map_into_left_body());
        }
        ErrorShown::Page { status, message } if is_htmx(&req) => {
            let body = format!(
                "<p class=\"alert alert-error\" role=\"alert\">{}</p>",
                escape_html(&message)
            );
            with_headers_of(&response, HttpResponse::build(status).body(body))
        }
        ErrorShown::Page { status, message } => {
            let layout = layout_for(&req).await;
            let body = render(&ErrorPage {
                layout,
                status: status.as_u16(),
                title: plain_title(status).to_owned(),
                message,
            });
            with_headers_of(&response, HttpResponse::build(status).body(body))
        }
    };
    Ok(ServiceResponse::new(req, drawn).map_into_right_body())
}

/// The signed-in frame when the request's session signs someone in.
async fn layout_for(req: &HttpRequest) -> Layout {
    let session = actix_session::SessionExt::get_session(req);
    let Some(service) = req.app_data::<actix_web::web::Data<Latchkey>>() else {
        return Layout::anonymous();
    };
    match session::signed_in_member(req, &session, service).await {
        Ok(Some(member)) => {
            let csrf = session::csrf_token(&session).unwrap_or_default();
            Layout::signed_in(&member, csrf, "")
        }
        _ => Layout::anonymous(),
    }
}

/// The original response's headers (Retry-After, Allow, cache rules) and
/// its log cause, on the drawn one.
fn with_headers_of<B>(original: &HttpResponse<B>, mut drawn: HttpResponse) -> HttpResponse {
    for (name, value) in original.headers() {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            drawn.headers_mut().append(name.clone(), value.clone());
        }
    }
    drawn.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(cause) = original.extensions().get::<super::error::FailureCause>() {
        drawn.extensions_mut().insert(cause.clone());
    }
    drawn
}
