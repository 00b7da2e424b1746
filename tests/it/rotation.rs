//! Rotation through the console, the API and the CLI; the overlap window;
//! reuse of a rotated-away token revokes its chain. Both backends.

use crate::helpers::{PASSWORD, TestDb, spawn_app};
use latchkey::domain::Role;
use time::{Duration, OffsetDateTime};

both_backends!(
    console_rotation_reveals_a_replacement_once,
    api_rotation_honours_the_overlap_and_catches_reuse,
    cli_rotation_prints_only_the_new_token,
);

fn console_rotation_reveals_a_replacement_once(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let old = dev.generate_token("deploy", &["datastore:read", "reports:write"]);
    let id = app.token_id("deploy");
    let list = dev.get("/settings/api-tokens");
    list.assert_contains("aria-label=\"Rotate deploy\"");
    let csrf = list.csrf();
    // Without confirm=yes: a confirmation page with the overlap to choose,
    // and nothing changes.
    let confirm = dev.post(
        &format!("/settings/api-tokens/{id}/rotate"),
        &[("csrf_token", &csrf)],
    );
    confirm
        .assert_status(200)
        .assert_contains("Rotate “deploy”?")
        .assert_contains("name=\"overlap_minutes\" value=\"0\" checked")
        .assert_contains("value=\"60\"")
        .assert_contains("value=\"1440\"")
        .assert_contains("name=\"confirm\" value=\"yes\"");
    assert!(confirm.revealed_token().is_none());
    assert_eq!(app.token_count(), 1);
    let page = dev.post(
        &format!("/settings/api-tokens/{id}/rotate"),
        &[
            ("csrf_token", &csrf),
            ("confirm", "yes"),
            ("overlap_minutes", "60"),
        ],
    );
    page.assert_status(200)
        .assert_contains("Replaces")
        .assert_contains("keeps working until")
        .assert_contains("won't be able to see it again");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let new = page.revealed_token().expect("new token revealed");
    assert_ne!(new, old);
    let api = app.client();
    let me = api.api("GET", "/api/v1/me", Some(&new)).json();
    assert_eq!(me["token"]["name"], "deploy");
    assert_eq!(
        me["token"]["scopes"],
        serde_json::json!(["datastore:read", "reports:write"])
    );
    // Rotated once: the old one cannot be rotated again; nor can someone else's.
    dev.post(
        &format!("/settings/api-tokens/{id}/rotate"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    )
    .assert_status(409);
    let other = app.member("other@example.com", Role::Developer);
    let new_id = me["token"]["id"].as_i64().expect("id");
    let other_csrf = other.csrf();
    other
        .post(
            &format!("/settings/api-tokens/{new_id}/rotate"),
            &[("csrf_token", &other_csrf), ("confirm", "yes")],
        )
        .assert_status(403);
    dev.post(
        &format!("/settings/api-tokens/{new_id}/rotate"),
        &[
            ("csrf_token", &csrf),
            ("confirm", "yes"),
            ("overlap_minutes", "9999"),
        ],
    )
    .assert_status(400);
    dev.post(&format!("/settings/api-tokens/{new_id}/rotate"), &[])
        .assert_status(403);
    assert_eq!(
        dev.get("/settings/api-tokens?status=all")
            .body
            .matches("class=\"token-name\">deploy<")
            .count(),
        2
    );
    // The old token, presented after its hour, takes the chain down.
    api.api("GET", "/api/v1/me", Some(&new)).assert_status(200);
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(200);
    app.service.clock().advance(Duration::minutes(61));
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    api.api("GET", "/api/v1/me", Some(&new)).assert_status(401);
}

fn api_rotation_honours_the_overlap_and_catches_reuse(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let old = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let api = app.client();
    let answer = api.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&old),
        "application/json",
        br#"{"overlap_minutes": 10}"#,
    );
    answer.assert_status(200);
    let body = answer.json();
    let new = body["token"].as_str().expect("token").to_owned();
    assert_eq!(body["name"], "ci");
    let expires = body["expires_at"].as_str().expect("expiry");
    let in_30 = (OffsetDateTime::now_utc().date() + Duration::days(30)).to_string();
    assert!(
        expires.starts_with(&in_30),
        "same lifetime from today: {expires}"
    );
    // Inside the window both work; the old one says it stops at its end
    // (so a resource server caches it no longer).
    let during = api.api("GET", "/api/v1/me", Some(&old));
    during.assert_status(200);
    let stops = during.json()["token"]["expires_at"]
        .as_str()
        .expect("expiry")
        .to_owned();
    assert!(!stops.starts_with(&in_30), "{stops}");
    let window_end = OffsetDateTime::now_utc() + Duration::minutes(10);
    assert!(
        stops.starts_with(&window_end.date().to_string()),
        "the end of the overlap: {stops}"
    );
    assert_eq!(
        during.header("latchkey-token-expiration"),
        Some(stops.as_str())
    );
    api.api("GET", "/api/v1/me", Some(&new)).assert_status(200);
    // After it, the old one is refused, and presenting it revokes the chain.
    app.service.clock().advance(Duration::minutes(11));
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    api.api("GET", "/api/v1/me", Some(&new)).assert_status(401);
    let admin = app
        .service
        .members()
        .by_email(&latchkey::domain::Email::parse(&app.admin_email).expect("email"))
        .expect("admin");
    let log = app
        .service
        .audit()
        .log(
            &admin,
            &latchkey::service::AuditQuery {
                action: Some("token.reuse_detected".into()),
                actor: None,
                page: 1,
            },
        )
        .expect("audit");
    assert_eq!(log.total, 1);
    assert!(
        log.events[0].detail.contains("from 127.0.0.1"),
        "{}",
        log.events[0].detail
    );
    // Bad bodies.
    let fresh = app.create_token("dev@example.com", "fresh", &["datastore:read"], 30);
    api.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&fresh),
        "application/json",
        br#"{"overlap_minutes": 2000}"#,
    )
    .assert_status(400);
    api.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&fresh),
        "application/json",
        br#"{"overlap": 5}"#,
    )
    .assert_status(400);
    api.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&fresh),
        "text/plain",
        b"5",
    )
    .assert_status(415);
    api.api("GET", "/api/v1/me", Some(&fresh))
        .assert_status(200);
    let _ = PASSWORD;
}

fn cli_rotation_prints_only_the_new_token(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let old = app.create_token("dev@example.com", "cron", &["datastore:read"], 30);
    let id = app.token_id("cron").to_string();
    let out = db.cli(&["token", "rotate", &id]).ok();
    let new = out.trim();
    assert_eq!(out.lines().count(), 1);
    assert!(new.starts_with("lk_") && new.len() == 39);
    let api = app.client();
    api.api("GET", "/api/v1/me", Some(new)).assert_status(200);
    // The replaced token is refused (and takes the chain down with it).
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    api.api("GET", "/api/v1/me", Some(new)).assert_status(401);
    db.cli(&["token", "rotate", &id])
        .fails(1, "Only an active token");
    db.cli(&["token", "rotate", "424242"])
        .fails(1, "no token with the id 424242");
    db.cli(&["token", "rotate", &id, "--overlap-minutes", "2000"])
        .fails(2, "from 0 to 1440");
    for bad in ["0", "abc"] {
        db.cli(&["token", "rotate", bad])
            .fails(2, "is not a token id");
    }
}
