use crate::service::Latchkey;
use actix_web::{HttpResponse, get, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// Liveness: the process answers.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: the database answers and migrations are applied.
#[get("/readyz")]
async fn readyz(service: web::Data<Latchkey>) -> HttpResponse {
    let service = service.into_inner();
    match web::block(move || service.ready()).await {
        Ok(Ok(())) => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            HttpResponse::ServiceUnavailable()
                .content_type("application/json")
                .body(r#"{"status":"unavailable"}"#)
        }
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}
