//! SPEC §10 through the API: programs mint tokens and read the audit log
//! under the console's rules. Both backends.

use crate::helpers::{TestDb, in_days, spawn_app};
use latchkey::domain::Role;
use serde_json::json;

both_backends!(
    a_token_mints_a_token_with_at_most_its_own_scopes,
    bad_mint_requests_are_refused_and_change_nothing,
    collectors_page_the_audit_log_oldest_first,
    a_minted_token_never_reaches_further_than_its_parent,
);

fn mint(
    app: &crate::helpers::TestApp,
    token: &str,
    body: serde_json::Value,
) -> crate::helpers::Page {
    app.client().api_post(
        "/api/v1/tokens",
        Some(token),
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn a_token_mints_a_token_with_at_most_its_own_scopes(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("ci@example.com", Role::Developer);
    let parent = app.create_token(
        "ci@example.com",
        "pipeline",
        &["tokens:create", "datastore:read", "reports:read"],
        30,
    );
    let made = mint(
        &app,
        &parent,
        json!({
            "name": "job 42",
            "expires_on": in_days(1),
            "scopes": ["datastore:read"],
            "allowed_ips": ["127.0.0.1"],
            "description": "nightly import",
        }),
    );
    made.assert_status(201);
    assert_eq!(made.header("cache-control"), Some("no-store"));
    let body = made.json();
    assert_eq!(body["name"], "job 42");
    assert_eq!(body["scopes"], json!(["datastore:read"]));
    let child = body["token"].as_str().expect("the secret, once").to_owned();
    assert!(
        body["expires_at"]
            .as_str()
            .is_some_and(|e| e.starts_with(&in_days(1)))
    );
    // It works, for the same owner, with only what was asked.
    let me = app.client().api("GET", "/api/v1/me", Some(&child)).json();
    assert_eq!(me["owner"]["email"], "ci@example.com");
    assert_eq!(me["token"]["scopes"], json!(["datastore:read"]));
    // A scope the presenting token lacks — even one the role allows — is
    // never minted.
    let before = app.token_count();
    let wider = mint(
        &app,
        &parent,
        json!({"name": "wider", "expires_on": in_days(3), "scopes": ["datastore:write"]}),
    );
    wider.assert_status(403);
    assert!(
        wider
            .header("www-authenticate")
            .is_some_and(|h| h.contains("insufficient_scope"))
    );
    assert_eq!(app.token_count(), before);
    // Without tokens:create, no minting at all.
    let plain = app.create_token("ci@example.com", "plain", &["datastore:read"], 30);
    mint(
        &app,
        &plain,
        json!({"name": "x", "expires_on": in_days(3), "scopes": ["datastore:read"]}),
    )
    .assert_status(403);
    assert_eq!(app.token_count(), before + 1);
    // The console shows it, audited as created by its owner.
    let log = app.admin().get("/settings/audit?action=token.created");
    log.assert_contains("job 42");
}

fn bad_mint_requests_are_refused_and_change_nothing(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("ci@example.com", Role::Developer);
    let parent = app.create_token(
        "ci@example.com",
        "pipeline",
        &["tokens:create", "datastore:read"],
        30,
    );
    let ok = |over: serde_json::Value| {
        let mut body =
            json!({"name": "job", "expires_on": in_days(5), "scopes": ["datastore:read"]});
        if let (Some(b), Some(o)) = (body.as_object_mut(), over.as_object()) {
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
        }
        body
    };
    let long = "x".repeat(501);
    let cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "no expiry given",
            json!({"name": "job", "scopes": ["datastore:read"]}),
            422,
            "expires_on is required",
        ),
        (
            "no expiry from a token that expires",
            ok(json!({"expires_on": null})),
            422,
            "cannot outlive the token that mints it",
        ),
        (
            "a date in words",
            ok(json!({"expires_on": "tomorrow"})),
            422,
            "YYYY-MM-DD",
        ),
        (
            "a date past the presenting token's expiry",
            ok(json!({"expires_on": in_days(31)})),
            422,
            "cannot outlive the token that mints it",
        ),
        (
            "yesterday",
            ok(json!({"expires_on": in_days(-1)})),
            422,
            "in the future",
        ),
        (
            "an unknown scope",
            ok(json!({"scopes": ["root:all"]})),
            422,
            "unknown scope",
        ),
        (
            "no scope",
            ok(json!({"scopes": []})),
            422,
            "at least one scope",
        ),
        ("an empty name", ok(json!({"name": "  "})), 422, "name"),
        (
            "the name of an active token",
            ok(json!({"name": "pipeline"})),
            422,
            "already have an active token",
        ),
        (
            "a bad range",
            ok(json!({"allowed_ips": ["10.0.0.1/40"]})),
            422,
            "allowed_ips",
        ),
        (
            "a long description",
            ok(json!({"description": long})),
            422,
            "at most 500",
        ),
        (
            "an unknown field",
            ok(json!({"owner": "admin@latchkey.local"})),
            400,
            "unknown field",
        ),
        ("not an object", json!(["job"]), 400, "JSON object"),
    ];
    let before = app.token_count();
    let mut failed = Vec::new();
    for (what, body, status, says) in cases {
        let page = mint(&app, &parent, body);
        if page.status != status || !page.body.contains(says) {
            failed.push(format!("{what}: {} {}", page.status, page.body));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
    // Not JSON at all.
    app.client()
        .api_post("/api/v1/tokens", Some(&parent), "text/plain", b"name=job")
        .assert_status(415);
    assert_eq!(app.token_count(), before, "a refused request wrote a token");
}

fn collectors_page_the_audit_log_oldest_first(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    for name in ["one", "two", "three"] {
        app.create_token("dev@example.com", name, &["datastore:read"], 30);
    }
    let siem = app.create_token(&app.admin_email, "siem", &["audit:read"], 30);
    let c = app.client();
    let first = c.api("GET", "/api/v1/audit?limit=2", Some(&siem));
    first.assert_status(200);
    let page = first.json();
    let events = page["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2);
    assert!(
        events[0]["id"].as_i64() < events[1]["id"].as_i64(),
        "oldest first"
    );
    let next = page["next"].as_i64().expect("a full page has a next");
    assert_eq!(Some(next), events[1]["id"].as_i64());
    // Following `next` to the end, every event once, then `null`.
    let mut seen: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    let mut after = next;
    loop {
        let page = c
            .api(
                "GET",
                &format!("/api/v1/audit?after={after}&limit=2"),
                Some(&siem),
            )
            .json();
        seen.extend(
            page["events"]
                .as_array()
                .expect("events")
                .iter()
                .filter_map(|e| e["id"].as_i64()),
        );
        match page["next"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seen, sorted, "in order, none twice");
    assert!(seen.len() >= 5, "{seen:?}");
    // Bad cursors and a token without audit:read.
    c.api("GET", "/api/v1/audit?limit=1001", Some(&siem))
        .assert_status(400);
    c.api("GET", "/api/v1/audit?after=-1", Some(&siem))
        .assert_status(400);
    c.api("GET", "/api/v1/audit?after=x", Some(&siem))
        .assert_status(400);
    let dev = app.create_token("dev@example.com", "dev", &["datastore:read"], 30);
    c.api("GET", "/api/v1/audit", Some(&dev)).assert_status(403);
}

fn a_minted_token_never_reaches_further_than_its_parent(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("ci@example.com", Role::Developer);
    let parent = db
        .cli(&[
            "token",
            "create",
            "--email",
            "ci@example.com",
            "--name",
            "locked",
            "--expires-on",
            &in_days(2),
            "--scope",
            "tokens:create",
            "--scope",
            "datastore:read",
            "--allow-ip",
            "127.0.0.0/8",
        ])
        .ok();
    let parent = parent.trim();
    let before = app.token_count();
    for (body, says) in [
        (
            json!({"name": "far", "expires_on": in_days(2), "scopes": ["datastore:read"], "allowed_ips": ["10.0.0.0/8"]}),
            "inside the presenting token's allow-list",
        ),
        (
            json!({"name": "wide", "expires_on": in_days(2), "scopes": ["datastore:read"], "allowed_ips": ["0.0.0.0/0"]}),
            "inside the presenting token's allow-list",
        ),
        (
            json!({"name": "long", "expires_on": in_days(3), "scopes": ["datastore:read"]}),
            "cannot outlive the token that mints it",
        ),
        (
            json!({"name": "never", "expires_on": null, "scopes": ["datastore:read"]}),
            "cannot outlive the token that mints it",
        ),
    ] {
        mint(&app, parent, body)
            .assert_status(422)
            .assert_contains(says);
    }
    assert_eq!(app.token_count(), before);
    // Left out, the allow-list is inherited; a narrower one is kept.
    let admin = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let allowed = |token: &str| {
        app.client()
            .api_post(
                "/api/v1/introspect",
                Some(&admin),
                "application/json",
                format!(r#"{{"token": "{token}"}}"#).as_bytes(),
            )
            .json()["allowed_ips"]
            .clone()
    };
    for (name, asked, kept) in [
        ("inherits", json!([]), json!(["127.0.0.0/8"])),
        ("narrower", json!(["127.0.0.1"]), json!(["127.0.0.1/32"])),
    ] {
        let made = mint(
            &app,
            parent,
            json!({"name": name, "expires_on": in_days(2), "scopes": ["datastore:read"], "allowed_ips": asked}),
        );
        made.assert_status(201);
        let child = made.json()["token"].as_str().expect("token").to_owned();
        assert_eq!(allowed(&child), kept, "{name}");
    }
}
