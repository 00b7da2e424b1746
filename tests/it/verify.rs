//! The resource-server kit: a real actix-web resource server built on
//! `latchkey-verify`, against a real Latchkey. Both backends.

use crate::helpers::{TestApp, TestDb, spawn_app, spawn_second};
use actix_web::{App, HttpResponse, HttpServer, web};
use latchkey::domain::Role;
use latchkey_verify::actix::Authenticated;
use latchkey_verify::{Options, Refusal, Verifier};
use std::time::{Duration, Instant};

both_backends!(
    a_resource_server_accepts_refuses_and_fails_closed,
    a_revoke_reaches_a_caching_resource_server_within_a_second,
    a_revoke_through_one_instance_reaches_a_server_following_another,
    a_tower_stack_answers_as_latchkey_does,
);

async fn report(who: Authenticated) -> Result<HttpResponse, Refusal> {
    who.require("reports:read")?;
    Ok(HttpResponse::Ok().body(format!("report for {}", who.username)))
}

async fn guarded(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().body(format!("guarded report for {}", who.username))
}

/// A resource server on a free port; its base URL.
fn resource_server(verifier: Verifier) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let data = web::Data::new(verifier);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/report", web::get().to(report))
                    // The middleware guards a whole scope; handlers take
                    // the principal it found.
                    .service(
                        web::scope("/guarded")
                            .wrap(actix_web::middleware::from_fn(
                                latchkey_verify::actix::require(Some("reports:read")),
                            ))
                            .route("/report", web::get().to(guarded)),
                    )
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .expect("bind");
            let port = server.addrs()[0].port();
            tx.send(port).expect("send port");
            let _ = server.run().await;
        });
    });
    format!("http://127.0.0.1:{}", rx.recv().expect("port"))
}

fn get(base: &str, token: Option<&str>) -> (u16, String, Option<String>) {
    get_path(base, "/report", token)
}

fn get_path(base: &str, path: &str, token: Option<&str>) -> (u16, String, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("{base}{path}"));
    if let Some(t) = token {
        request = request.header("Authorization", &format!("Bearer {t}"));
    }
    let mut response = request.call().expect("the resource server answers");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body, challenge)
}

fn service_token(db: &TestDb) -> String {
    db.cli(&[
        "service-account",
        "add",
        "--name",
        "reports-api",
        "--role",
        "admin",
    ])
    .ok();
    db.cli(&[
        "token",
        "create",
        "--service-account",
        "reports-api",
        "--name",
        "introspection",
        "--expires-on",
        &crate::helpers::in_days(30),
        "--scope",
        "tokens:introspect",
    ])
    .ok()
    .trim()
    .to_owned()
}

fn following(verifier: &Verifier) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !verifier.following_revocations() {
        assert!(
            Instant::now() < deadline,
            "the verifier never followed the feed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn a_resource_server_accepts_refuses_and_fails_closed(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let verifier = Verifier::new(&app.base, &service_token(db));
    let server = resource_server(verifier.clone());
    let reader = app.create_token("dev@example.com", "reader", &["reports:read"], 30);
    let (status, body, _) = get(&server, Some(&reader));
    assert_eq!((status, body.as_str()), (200, "report for dev@example.com"));
    // A valid token without the scope: 403 as Latchkey answers it.
    let writer = app.create_token("dev@example.com", "writer", &["datastore:write"], 30);
    let (status, _, challenge) = get(&server, Some(&writer));
    assert_eq!(status, 403);
    let challenge = challenge.expect("a challenge");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="reports:read""#),
        "{challenge}"
    );
    // The same through the middleware.
    let (status, body, _) = get_path(&server, "/guarded/report", Some(&reader));
    assert_eq!(
        (status, body.as_str()),
        (200, "guarded report for dev@example.com")
    );
    let (status, _, challenge) = get_path(&server, "/guarded/report", Some(&writer));
    assert_eq!(status, 403);
    assert!(challenge.is_some_and(|c| c.contains("insufficient_scope")));
    let (status, _, _) = get_path(&server, "/guarded/report", None);
    assert_eq!(status, 401);
    // No token, garbage, an unknown token: 401 invalid_token.
    // The last character changed (to one it is not): a checksum mismatch.
    let other = if reader.ends_with('X') { 'Y' } else { 'X' };
    let unknown = format!("{}{other}", &reader[..reader.len() - 1]);
    for token in [Some("lk_garbage"), Some(unknown.as_str())] {
        let (status, _, challenge) = get(&server, token);
        assert_eq!(status, 401, "{token:?}");
        assert!(
            challenge.is_some_and(|c| c.contains(r#"error="invalid_token""#)),
            "{token:?}"
        );
    }
    // No credentials at all: a challenge without an error code (RFC 6750).
    let (status, _, challenge) = get(&server, None);
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="latchkey""#));
    // Garbage never reaches Latchkey, even one that cannot be reached.
    let nowhere = Verifier::with_options(
        "http://127.0.0.1:9",
        "lk_unused",
        Options {
            revocation_feed: false,
            timeout: Duration::from_millis(500),
            ..Options::default()
        },
    );
    assert_eq!(nowhere.verify("lk_garbage"), Err(Refusal::Malformed));
    // A well-formed token while Latchkey is down: fail closed, 503.
    assert!(matches!(
        nowhere.verify(&reader),
        Err(Refusal::Unavailable(_))
    ));
    let closed = resource_server(nowhere);
    let (status, _, _) = get(&closed, Some(&reader));
    assert_eq!(status, 503);
    // Refusals are not cached as if they were Latchkey's answers.
    assert_eq!(
        verifier.verify(&reader).map(|p| p.scopes),
        Ok(vec!["reports:read".to_owned()])
    );
}

/// Revokes `token` through `app`'s API and waits until `verifier`
/// refuses it; how long that took.
fn revoke_and_time(app: &TestApp, name: &str, token: &str, verifier: &Verifier) -> Duration {
    let id = app.token_id(name);
    let started = Instant::now();
    app.client()
        .api("DELETE", &format!("/api/v1/tokens/{id}"), Some(token))
        .assert_status(200);
    loop {
        if verifier.verify(token) == Err(Refusal::Invalid) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still accepted 5 s after the revoke"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn a_revoke_reaches_a_caching_resource_server_within_a_second(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let options = Options {
        cache_ttl: Duration::from_secs(60),
        ..Options::default()
    };
    let verifier = Verifier::with_options(&app.base, &service_token(db), options);
    following(&verifier);
    let token = app.create_token(
        "dev@example.com",
        "cached",
        &["reports:read", "tokens:revoke"],
        30,
    );
    assert!(verifier.verify(&token).is_ok());
    assert_eq!(verifier.cached(), 1, "answered once, then from the cache");
    let took = revoke_and_time(&app, "cached", &token, &verifier);
    assert!(
        took < Duration::from_secs(1),
        "took {took:?} with a 60 s TTL"
    );
}

fn a_revoke_through_one_instance_reaches_a_server_following_another(db: &TestDb) {
    let a = spawn_app(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);
    let options = Options {
        cache_ttl: Duration::from_secs(60),
        ..Options::default()
    };
    let verifier = Verifier::with_options(&b.base, &service_token(db), options);
    following(&verifier);
    let token = a.create_token(
        "dev@example.com",
        "shared",
        &["reports:read", "tokens:revoke"],
        30,
    );
    assert!(verifier.verify(&token).is_ok());
    let took = revoke_and_time(&a, "shared", &token, &verifier);
    assert!(
        took < Duration::from_secs(1),
        "took {took:?} across instances"
    );
}

/// The handler behind the layer: says who the token acts for.
#[derive(Clone)]
struct Hello;

impl tower_service::Service<http::Request<String>> for Hello {
    type Response = http::Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<http::Response<String>, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<String>) -> Self::Future {
        let who = req
            .extensions()
            .get::<latchkey_verify::Principal>()
            .map(|p| p.username.clone())
            .unwrap_or_default();
        std::future::ready(Ok(http::Response::new(format!("report for {who}"))))
    }
}

fn a_tower_stack_answers_as_latchkey_does(db: &TestDb) {
    use tower_layer::Layer;
    use tower_service::Service;
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let verifier = Verifier::new(&app.base, &service_token(db));
    let mut stack = latchkey_verify::tower::LatchkeyLayer::new(verifier)
        .require_scope("reports:read")
        .layer(Hello);
    let reader = app.create_token("dev@example.com", "reader", &["reports:read"], 30);
    let writer = app.create_token("dev@example.com", "writer", &["datastore:write"], 30);
    let mut ask = |token: Option<&str>| {
        let mut req = http::Request::builder().uri("/report");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(String::new()).expect("a request");
        let res = actix_web::rt::System::new()
            .block_on(stack.call(req))
            .expect("infallible");
        let challenge = res
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (res.status().as_u16(), res.into_body(), challenge)
    };
    let (status, body, _) = ask(Some(&reader));
    assert_eq!((status, body.as_str()), (200, "report for dev@example.com"));
    let (status, _, challenge) = ask(Some(&writer));
    assert_eq!(status, 403);
    assert!(challenge.contains(r#"scope="reports:read""#), "{challenge}");
    let (status, _, challenge) = ask(Some("lk_garbage"));
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let (status, _, challenge) = ask(None);
    assert_eq!(status, 401);
    assert_eq!(challenge, r#"Bearer realm="latchkey""#);
    // Latchkey down: 503, the handler never runs.
    let down = Verifier::with_options(
        "http://127.0.0.1:9",
        "lk_unused",
        Options {
            revocation_feed: false,
            ..Options::default()
        },
    );
    let mut closed = latchkey_verify::tower::LatchkeyLayer::new(down).layer(Hello);
    let req = http::Request::builder()
        .header("authorization", format!("Bearer {reader}"))
        .body(String::new())
        .expect("a request");
    let res = actix_web::rt::System::new()
        .block_on(closed.call(req))
        .expect("infallible");
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.into_body(), "");
}
