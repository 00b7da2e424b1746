//! HTTP: routes, extractors, views. Never builds a database query.

mod account;
pub mod api;
mod assets;
mod audit;
mod audit_export;
mod auth;
pub mod client;
mod error;
mod error_pages;
mod fallback;
pub mod format;
pub mod forms;
mod health;
mod members;
pub mod observe;
mod policy;
mod revoke_all;
mod scopes;
pub mod security;
mod service_accounts;
mod session;
mod sso;
mod tokens;
mod views;

pub use error::WebError;
pub use error_pages::error_pages;
pub use fallback::head_as_get;
pub use sso::SsoDoor;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, get, web};

/// Largest request body accepted (forms and JSON).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Routes are tried in order, and a path with a `{param}` is matched by
    // a regular expression: the API (the hot path, one static `/api`
    // scope) goes before the console's parameterised pages.
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(home)
        .configure(health::routes)
        .configure(api::routes)
        .configure(assets::routes)
        .configure(auth::routes)
        .configure(sso::routes)
        .configure(tokens::routes)
        .configure(members::routes)
        .configure(audit::routes)
        .configure(audit_export::routes)
        .configure(policy::routes)
        .configure(revoke_all::routes)
        .configure(account::routes)
        .configure(scopes::routes)
        .configure(service_accounts::routes)
        .default_service(web::to(fallback::unmatched));
}

#[get("/")]
async fn home() -> HttpResponse {
    see_other("/settings/api-tokens")
}

/// An HTML page that no cache may keep (pages show tokens, members, logs).
pub(crate) fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
