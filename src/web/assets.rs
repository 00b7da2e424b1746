//! Static files, compiled into the binary: no CDN, nothing to install.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");
const FAVICON: &str = include_str!("../../static/favicon.svg");
const HTMX_JS: &str = include_str!("../../static/vendor/htmx-2.0.11.min.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(asset).service(favicon);
}

#[get("/static/{name}")]
async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match name.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "htmx.min.js" => (HTMX_JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return HttpResponse::NotFound().body("not found"),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// Browsers ask for this whatever the page says.
#[get("/favicon.ico")]
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(FAVICON)
}
