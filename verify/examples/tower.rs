//! A tower stack: `LatchkeyLayer` in front of a handler that reads the
//! `Principal` from the request's extensions. Each token given on the
//! command line goes through the stack; the status it would answer is
//! printed. Put the same layer in front of an axum router or a hyper
//! service to serve it.
//!
//! ```sh
//! LATCHKEY_URL=http://127.0.0.1:8080 LATCHKEY_SERVICE_TOKEN=lk_… \
//!   cargo run -p latchkey-verify --example tower --features tower -- lk_… lk_…
//! ```

use latchkey_verify::{Principal, Verifier, tower::LatchkeyLayer};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// The protected handler.
#[derive(Clone)]
struct Report;

impl Service<http::Request<String>> for Report {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<String>) -> Self::Future {
        let who = req
            .extensions()
            .get::<Principal>()
            .map(|p| p.username.clone())
            .unwrap_or_default();
        ready(Ok(http::Response::new(format!("report for {who}"))))
    }
}

fn main() {
    let url = std::env::var("LATCHKEY_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let Ok(token) = std::env::var("LATCHKEY_SERVICE_TOKEN") else {
        eprintln!("set LATCHKEY_SERVICE_TOKEN to a token holding tokens:introspect");
        std::process::exit(2);
    };
    let verifier = Verifier::new(&url, &token);
    let mut stack = LatchkeyLayer::new(verifier)
        .require_scope("reports:read")
        .layer(Report);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    for presented in std::env::args().skip(1) {
        let request = http::Request::builder()
            .uri("/report")
            .header("authorization", format!("Bearer {presented}"))
            .body(String::new())
            .expect("a request");
        let response = match runtime.block_on(stack.call(request)) {
            Ok(response) => response,
            Err(never) => match never {},
        };
        println!("{} {}", response.status(), response.body());
    }
}
