//! A resource server on actix-web that accepts Latchkey tokens holding
//! `reports:read`.
//!
//! ```sh
//! LATCHKEY_URL=http://127.0.0.1:8080 LATCHKEY_SERVICE_TOKEN=lk_… \
//!   cargo run -p latchkey-verify --example actix --features actix-web
//! curl -H "Authorization: Bearer lk_…" http://127.0.0.1:8090/report
//! ```
//!
//! `CACHE=off` asks Latchkey on every request (for comparison).

use actix_web::{App, HttpResponse, HttpServer, web};
use latchkey_verify::{Options, Refusal, Verifier, actix::Authenticated};
use std::time::Duration;

async fn report(who: Authenticated) -> Result<HttpResponse, Refusal> {
    who.require("reports:read")?;
    Ok(HttpResponse::Ok().body(format!("report for {}\n", who.username)))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("LATCHKEY_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let Ok(token) = std::env::var("LATCHKEY_SERVICE_TOKEN") else {
        eprintln!("set LATCHKEY_SERVICE_TOKEN to a token holding tokens:introspect");
        std::process::exit(2);
    };
    let mut options = Options::default();
    if std::env::var("CACHE").is_ok_and(|v| v == "off") {
        options.cache_ttl = Duration::ZERO;
        options.negative_ttl = Duration::ZERO;
        options.revocation_feed = false;
    }
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let verifier = web::Data::new(Verifier::with_options(&url, &token, options));
    println!("serving http://{bind}/report, verifying with {url}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/report", web::get().to(report))
    })
    .bind(bind)?
    .run()
    .await
}
