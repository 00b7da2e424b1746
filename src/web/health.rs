use crate::service::Latchkey;
use actix_web::{HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(super::api::only("GET")),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(super::api::only("GET")),
    );
}

/// Liveness: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: the database answers and migrations are applied.
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
                .body(
                    serde_json::json!({"status": "unavailable", "reason": e.reason()}).to_string(),
                )
        }
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}
