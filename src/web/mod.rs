//! HTTP: routes, extractors, views. Never builds a database query.

mod health;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::routes);
}
