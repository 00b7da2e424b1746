//! The token API (SPEC §4) over HTTP, on both backends.

use crate::helpers::{Client, Page, TestApp, TestDb, spawn_app, spawn_app_with_metrics};
use latchkey::domain::Role;
use time::Duration;

fn invalid(page: &Page) {
    assert_eq!(page.status, 401, "{}", page.body);
    assert_eq!(
        page.header("www-authenticate"),
        Some(r#"Bearer realm="latchkey", error="invalid_token""#)
    );
    assert_eq!(
        page.header("content-type"),
        Some("application/problem+json")
    );
}

fn setup(db: &TestDb) -> (TestApp, String) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token(
        "dev@example.com",
        "ci",
        &[
            "datastore:read",
            "datastore:write",
            "tokens:read",
            "tokens:revoke",
        ],
        30,
    );
    (app, token)
}

both_backends!(
    me_answers_the_owner_and_effective_scopes,
    every_failure_gives_the_same_401,
    scopes_are_required_per_route,
    tokens_lists_only_the_owners_tokens,
    an_unknown_status_filter_names_every_filter,
    delete_revokes_own_or_any_for_admins,
    introspection_answers_rfc7662,
    leaked_tokens_are_revoked_by_value,
    last_use_is_written_at_most_once_a_minute,
    a_console_revoke_is_refused_on_the_next_request,
    openapi_lists_every_route_and_each_answers_as_documented,
    health_metrics_and_request_ids,
    metrics_tell_a_missing_header_from_an_unusable_one,
    api_errors_are_problem_details,
    every_authenticated_answer_says_when_the_token_stops,
    real_answers_match_the_documented_schemas,
);

fn me_answers_the_owner_and_effective_scopes(db: &TestDb) {
    let (app, token) = setup(db);
    let c = app.client();
    let me = c.api("GET", "/api/v1/me", Some(&token));
    me.assert_status(200);
    let body = me.json();
    assert_eq!(body["owner"]["email"], "dev@example.com");
    assert_eq!(body["owner"]["role"], "developer");
    assert_eq!(body["token"]["name"], "ci");
    assert_eq!(
        body["token"]["scopes"],
        serde_json::json!([
            "datastore:read",
            "tokens:read",
            "datastore:write",
            "tokens:revoke"
        ])
    );
    assert!(
        body["token"]["expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with("T00:00:00Z"))
    );
    assert!(!me.body.contains(&token));
    // Demoted: the token narrows at once.
    let id = app.member_id("dev@example.com");
    app.service
        .members()
        .set_role(&latchkey::service::Actor::cli(), id, Role::Viewer)
        .expect("demote");
    let me = c.api("GET", "/api/v1/me", Some(&token)).json();
    assert_eq!(
        me["token"]["scopes"],
        serde_json::json!(["datastore:read", "tokens:read"])
    );
    c.api("DELETE", "/api/v1/tokens/1", Some(&token))
        .assert_status(403);
    // Case-insensitive scheme, spaces around.
    let page = c.get_with(
        "/api/v1/me",
        &[("Authorization", &format!("  bEaReR   {token}  "))],
    );
    page.assert_status(200);
}

fn every_failure_gives_the_same_401(db: &TestDb) {
    let (app, token) = setup(db);
    let c = app.client();
    let expired = app.create_token("dev@example.com", "short", &["datastore:read"], 1);
    let revoked = app.create_token("dev@example.com", "gone", &["datastore:read"], 30);
    let gone_id = app.token_id("gone");
    app.service
        .tokens()
        .revoke(
            &latchkey::service::Actor::cli(),
            latchkey::domain::TokenId(gone_id),
        )
        .expect("revoke");
    app.add_member("off@example.com", Role::Developer);
    let disabled = app.create_token("off@example.com", "off", &["datastore:read"], 30);
    app.service
        .members()
        .set_disabled(
            &latchkey::service::Actor::cli(),
            app.member_id("off@example.com"),
            true,
        )
        .expect("disable");
    let unknown = latchkey::domain::TokenFormat::default()
        .generate()
        .expect("rng");
    let mut bad_checksum = token.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let bad_checksum = String::from_utf8(bad_checksum).expect("ascii");

    let mut bodies = Vec::new();
    let mut check = |page: Page| {
        invalid(&page);
        bodies.push(page.body);
    };
    check(c.api("GET", "/api/v1/me", None));
    check(c.get_with("/api/v1/me", &[("Authorization", "")]));
    check(c.get_with("/api/v1/me", &[("Authorization", "Bearer")]));
    check(c.get_with("/api/v1/me", &[("Authorization", "Bearer ")]));
    check(c.get_with(
        "/api/v1/me",
        &[("Authorization", &format!("Basic {token}"))],
    ));
    check(c.get_with(
        "/api/v1/me",
        &[("Authorization", &format!("Token {token}"))],
    ));
    check(c.get_with(
        "/api/v1/me",
        &[("Authorization", &format!("Bearer {}", "x".repeat(5000)))],
    ));
    check(c.get_with(
        "/api/v1/me",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Authorization", &format!("Bearer {token}")),
        ],
    ));
    check(c.api("GET", "/api/v1/me", Some(&bad_checksum)));
    check(c.api("GET", "/api/v1/me", Some(unknown.expose())));
    check(c.api("GET", "/api/v1/me", Some(&revoked)));
    check(c.api("GET", "/api/v1/me", Some(&disabled)));
    check(c.api("GET", "/api/v1/me", Some("lk_' OR 1=1 --")));
    // Expired: move the clock past 00:00 UTC of the expiry date.
    c.api("GET", "/api/v1/me", Some(&expired))
        .assert_status(200);
    app.service.clock().advance(Duration::days(1));
    check(c.api("GET", "/api/v1/me", Some(&expired)));
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one body for every failure: {bodies:?}");
    // And the valid one still works.
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
}

fn scopes_are_required_per_route(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("v@example.com", Role::Viewer);
    let token = app.create_token("v@example.com", "read only", &["datastore:read"], 30);
    let c = app.client();
    let page = c.api("GET", "/api/v1/tokens", Some(&token));
    page.assert_status(403);
    assert_eq!(
        page.header("www-authenticate"),
        Some(r#"Bearer realm="latchkey", error="insufficient_scope", scope="tokens:read""#)
    );
    assert_eq!(page.json()["status"], 403);
    let del = c.api("DELETE", "/api/v1/tokens/1", Some(&token));
    del.assert_status(403);
    assert!(
        del.header("www-authenticate")
            .is_some_and(|h| h.contains("scope=\"tokens:revoke\""))
    );
    let intro = c.api_post(
        "/api/v1/introspect",
        Some(&token),
        "application/x-www-form-urlencoded",
        b"token=x",
    );
    intro.assert_status(403);
    assert!(
        intro
            .header("www-authenticate")
            .is_some_and(|h| h.contains("scope=\"tokens:introspect\""))
    );
}

fn tokens_lists_only_the_owners_tokens(db: &TestDb) {
    let (app, token) = setup(db);
    app.add_member("other@example.com", Role::Developer);
    app.create_token("other@example.com", "theirs", &["datastore:read"], 30);
    app.create_token("dev@example.com", "second", &["reports:read"], 30);
    let c = app.client();
    let page = c.api("GET", "/api/v1/tokens", Some(&token));
    page.assert_status(200);
    let body = page.json();
    assert_eq!(body["total"], 2);
    let names: Vec<&str> = body["tokens"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["second", "ci"]);
    assert!(!page.body.contains("theirs"));
    assert!(!page.body.contains(&token) && !page.body.contains("hash"));
    assert_eq!(
        c.api("GET", "/api/v1/tokens?status=revoked", Some(&token))
            .json()["total"],
        0
    );
    c.api("GET", "/api/v1/tokens?status=bogus", Some(&token))
        .assert_status(400);
    c.api("GET", "/api/v1/tokens?page=0", Some(&token))
        .assert_status(400);
}

fn an_unknown_status_filter_names_every_filter(db: &TestDb) {
    let (app, token) = setup(db);
    let c = app.client();
    let wrong = c.api("GET", "/api/v1/tokens?status=bogus", Some(&token));
    wrong.assert_status(400);
    let detail = wrong.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for filter in [
        "active",
        "expiring",
        "expired",
        "revoked",
        "suspended",
        "all",
    ] {
        assert!(detail.contains(filter), "{filter} missing from {detail:?}");
        c.api(
            "GET",
            &format!("/api/v1/tokens?status={filter}"),
            Some(&token),
        )
        .assert_status(200);
    }
}

fn delete_revokes_own_or_any_for_admins(db: &TestDb) {
    let (app, token) = setup(db);
    app.add_member("other@example.com", Role::Developer);
    app.create_token("other@example.com", "theirs", &["datastore:read"], 30);
    let own = app.create_token("dev@example.com", "own", &["datastore:read"], 30);
    let (theirs_id, own_id) = (app.token_id("theirs"), app.token_id("own"));
    let c = app.client();
    c.api(
        "DELETE",
        &format!("/api/v1/tokens/{theirs_id}"),
        Some(&token),
    )
    .assert_status(404);
    assert_eq!(app.token_status(theirs_id), "active");
    let done = c.api("DELETE", &format!("/api/v1/tokens/{own_id}"), Some(&token));
    done.assert_status(200);
    assert_eq!(done.json()["already_revoked"], false);
    assert_eq!(
        c.api("DELETE", &format!("/api/v1/tokens/{own_id}"), Some(&token))
            .json()["already_revoked"],
        true
    );
    invalid(&c.api("GET", "/api/v1/me", Some(&own)));
    for bad in ["999999", "0", "-3", "abc", "1.5"] {
        c.api("DELETE", &format!("/api/v1/tokens/{bad}"), Some(&token))
            .assert_status(404);
    }
    // An admin's token may revoke anyone's in the organisation.
    let admin_token = app.create_token(&app.admin_email, "admin", &["tokens:revoke"], 30);
    c.api(
        "DELETE",
        &format!("/api/v1/tokens/{theirs_id}"),
        Some(&admin_token),
    )
    .assert_status(200);
    assert_eq!(app.token_status(theirs_id), "revoked");
}

fn introspection_answers_rfc7662(db: &TestDb) {
    let (app, token) = setup(db);
    let rs = app.create_token(
        &app.admin_email,
        "resource server",
        &["tokens:introspect"],
        30,
    );
    let c = app.client();
    let form = c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/x-www-form-urlencoded",
        format!("token={token}").as_bytes(),
    );
    form.assert_status(200);
    let body = form.json();
    assert_eq!(body["active"], true);
    assert_eq!(
        body["scope"],
        "datastore:read tokens:read datastore:write tokens:revoke"
    );
    assert_eq!(body["username"], "dev@example.com");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], app.token_id("ci").to_string());
    assert!(
        body["exp"].as_i64().is_some() && body["iat"].as_i64().is_some() && body["sub"].is_string()
    );
    let json = c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/json",
        format!("{{\"token\":\"{token}\"}}").as_bytes(),
    );
    assert_eq!(json.json(), body);
    // Introspection is not a use of the token.
    let listed = c.api("GET", "/api/v1/tokens", Some(&token)).json();
    let _ = listed;
    for other in ["garbage", "lk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        let page = c.api_post(
            "/api/v1/introspect",
            Some(&rs),
            "application/x-www-form-urlencoded",
            format!("token={other}").as_bytes(),
        );
        assert_eq!(page.json(), serde_json::json!({"active": false}));
    }
    app.service
        .tokens()
        .revoke(
            &latchkey::service::Actor::cli(),
            latchkey::domain::TokenId(app.token_id("ci")),
        )
        .expect("revoke");
    let page = c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/json",
        format!("{{\"token\":\"{token}\"}}").as_bytes(),
    );
    assert_eq!(page.json(), serde_json::json!({"active": false}));
    c.api_post("/api/v1/introspect", Some(&rs), "text/plain", b"token=x")
        .assert_status(415);
    c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/json",
        b"{not json",
    )
    .assert_status(400);
    c.api_post("/api/v1/introspect", Some(&rs), "application/json", b"{}")
        .assert_status(400);
    c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/x-www-form-urlencoded",
        b"",
    )
    .assert_status(400);
    c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/json",
        &vec![b' '; 70 * 1024],
    )
    .assert_status(413);
}

fn leaked_tokens_are_revoked_by_value(db: &TestDb) {
    let (app, token) = setup(db);
    let second = app.create_token("dev@example.com", "second", &["datastore:read"], 30);
    let c = app.client();
    let body = serde_json::json!({"tokens": [token, second, token, "not-a-token", "lk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]});
    let page = c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        body.to_string().as_bytes(),
    );
    page.assert_status(200);
    assert_eq!(page.json(), serde_json::json!({"revoked": 2}));
    invalid(&c.api("GET", "/api/v1/me", Some(&token)));
    invalid(&c.api("GET", "/api/v1/me", Some(&second)));
    // Again: nothing more to revoke.
    let again = c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        body.to_string().as_bytes(),
    );
    assert_eq!(again.json()["revoked"], 0);
    // Audited with the source address.
    let log = app
        .service
        .audit()
        .log(
            &app.service
                .members()
                .by_email(&latchkey::domain::Email::parse(&app.admin_email).expect("e"))
                .expect("admin"),
            &latchkey::service::AuditQuery {
                action: Some("token.revoked".into()),
                actor: None,
                page: 1,
            },
        )
        .expect("log");
    assert_eq!(log.total, 2);
    assert!(
        log.events
            .iter()
            .all(|e| e.detail.contains("leaked from 127.0.0.1"))
    );
    c.api_post("/api/v1/tokens/revoke-leaked", None, "text/plain", b"x")
        .assert_status(415);
    c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        b"[1,2]",
    )
    .assert_status(400);
    let many = serde_json::json!({"tokens": vec!["x"; 1001]});
    c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        many.to_string().as_bytes(),
    )
    .assert_status(400);
    // Rate-limited per address: 10 a minute.
    let mut limited = None;
    for _ in 0..12 {
        let page = c.api_post(
            "/api/v1/tokens/revoke-leaked",
            None,
            "application/json",
            br#"{"tokens":[]}"#,
        );
        if page.status == 429 {
            limited = Some(page);
            break;
        }
    }
    let limited = limited.expect("rate limit reached");
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );
}

fn last_use_is_written_at_most_once_a_minute(db: &TestDb) {
    let (app, token) = setup(db);
    let c = app.client();
    let id = app.token_id("ci");
    let last_used = || {
        app.service
            .tokens()
            .get(
                &latchkey::service::Actor::cli(),
                latchkey::domain::TokenId(id),
            )
            .expect("token")
            .last_used_at
    };
    // Last use is written after the answer, off the request's path: poll.
    let settle = |want: &dyn Fn(Option<time::PrimitiveDateTime>) -> bool| {
        for _ in 0..100 {
            if want(last_used()) {
                return last_used();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "last use never reached the expected state: {:?}",
            last_used()
        );
    };
    assert_eq!(last_used(), None);
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    let first = settle(&|t| t.is_some()).expect("written on first use");
    app.service.clock().advance(Duration::seconds(30));
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    // Give a (wrong) second write the time to land, then check there was none.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        last_used(),
        Some(first),
        "not written again within a minute"
    );
    app.service.clock().advance(Duration::seconds(31));
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    settle(&|t| t.is_some_and(|t| t > first));
    let view = app
        .service
        .tokens()
        .get(
            &latchkey::service::Actor::cli(),
            latchkey::domain::TokenId(id),
        )
        .expect("token");
    assert_eq!(view.last_used_ip.as_deref(), Some("127.0.0.1"));
}

fn a_console_revoke_is_refused_on_the_next_request(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let token = dev.generate_token("live", &["datastore:read"]);
    let c = app.client();
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    let id = app.token_id("live");
    let csrf = dev.csrf();
    dev.post(
        &format!("/settings/api-tokens/{id}/revoke"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    )
    .assert_status(303);
    invalid(&c.api("GET", "/api/v1/me", Some(&token)));
}

fn openapi_lists_every_route_and_each_answers_as_documented(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.client();
    let page = c.get("/api/openapi.json");
    page.assert_status(200);
    let doc = page.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/api/v1/me", "get"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/audit", "get"),
        ("/api/v1/scopes", "get"),
        ("/api/v1/revocations", "get"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/tokens/{id}/suspend", "post"),
        ("/api/v1/tokens/{id}/resume", "post"),
        ("/api/v1/introspect", "post"),
        ("/api/v1/tokens/revoke-leaked", "post"),
        ("/api/v1/tokens/self/rotate", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/openapi.json", "get"),
    ];
    let documented: usize = paths
        .values()
        .map(|ops| ops.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(documented, expected.len());
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} documented");
        // Call it without credentials and check the status is documented.
        let concrete = path.replace("{id}", "1");
        let page = match method {
            "post" => c.api_post(&concrete, None, "application/json", br#"{"tokens":[]}"#),
            m => c.api(&m.to_uppercase(), &concrete, None),
        };
        let status = page.status.to_string();
        assert!(
            op["responses"][&status].is_object(),
            "{method} {path} answered {status}, not documented"
        );
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            assert_eq!(page.status, 401, "{path} needs a token");
        }
    }
    // Every $ref resolves.
    let text = page.body.clone();
    for part in text.split("\"$ref\": \"#/").skip(1) {
        let pointer = format!("/{}", &part[..part.find('"').expect("end")]);
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
}

fn health_metrics_and_request_ids(db: &TestDb) {
    let app = spawn_app_with_metrics(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token("dev@example.com", "ci", &["tokens:read"], 30);
    let c = app.client();
    c.get("/healthz").assert_status(200).assert_contains("ok");
    c.get("/readyz").assert_status(200).assert_contains("ready");
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    c.api("GET", "/api/v1/me", Some("lk_nope"))
        .assert_status(401);
    // Not on the public listener: its counters would say why a token fails.
    c.get("/metrics").assert_status(404);
    let private = Client::new(app.metrics_base.as_deref().expect("metrics listener"));
    let metrics = private.get("/metrics");
    metrics.assert_status(200);
    metrics
        .assert_contains("process_resident_memory_bytes ")
        .assert_contains("process_open_fds ")
        .assert_contains("latchkey_webhook_deliveries_total{outcome=\"failed\"} 0");
    metrics
        .assert_contains("latchkey_http_requests_total{route=\"/api/v1/me\",status=\"200\"} 1")
        .assert_contains("latchkey_token_verifications_total{outcome=\"valid\"} 1")
        .assert_contains("latchkey_token_verifications_total{outcome=\"malformed\"} 1")
        .assert_contains("latchkey_http_request_duration_seconds_bucket{le=\"+Inf\"}")
        .assert_contains("latchkey_db_pool_max_connections 4");
    assert!(!metrics.body.contains(&token));
    let a = c.get("/healthz");
    let b = c.get("/healthz");
    let (ida, idb) = (
        a.header("x-request-id").expect("id"),
        b.header("x-request-id").expect("id"),
    );
    assert_ne!(ida, idb);
    // Random, not a process id and a counter.
    for id in [ida, idb] {
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    assert_ne!(ida[..8], idb[..8]);
}

fn api_errors_are_problem_details(db: &TestDb) {
    let (app, token) = setup(db);
    let c = app.client();
    let wrong_method = c.api("POST", "/api/v1/me", Some(&token));
    wrong_method.assert_status(405);
    assert_eq!(wrong_method.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(wrong_method.json()["status"], 405);
    c.api("PUT", "/api/v1/tokens/1", Some(&token))
        .assert_status(405);
    // Found by schemathesis: other methods on the operational routes are 405.
    for path in ["/healthz", "/readyz"] {
        let page = c.method("TRACE", path);
        page.assert_status(405);
        assert_eq!(page.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
    let unknown = c.api("GET", "/api/v2/everything", Some(&token));
    unknown.assert_status(404);
    assert_eq!(
        unknown.header("content-type"),
        Some("application/problem+json")
    );
    let huge = c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        &vec![b'x'; 65 * 1024],
    );
    huge.assert_status(413);
    assert_eq!(huge.json()["status"], 413);
}

fn every_authenticated_answer_says_when_the_token_stops(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let c = app.client();
    let me = c.api("GET", "/api/v1/me", Some(&token));
    me.assert_status(200);
    let expires = me.json()["token"]["expires_at"]
        .as_str()
        .expect("expires_at")
        .to_owned();
    assert!(expires.ends_with("T00:00:00Z"), "{expires}");
    assert_eq!(
        me.header("latchkey-token-expiration"),
        Some(expires.as_str())
    );
    // A refusal to a valid token carries it too; a refused token gets none.
    let denied = c.api("GET", "/api/v1/tokens", Some(&token));
    denied.assert_status(403);
    assert_eq!(
        denied.header("latchkey-token-expiration"),
        Some(expires.as_str())
    );
    let bad = c.api("GET", "/api/v1/me", Some("lk_not-a-token"));
    bad.assert_status(401);
    assert_eq!(bad.header("latchkey-token-expiration"), None);
    // Nor does an answer that needs no token.
    assert_eq!(c.get("/healthz").header("latchkey-token-expiration"), None);
}

/// Checks `value` against a schema of the OpenAPI document (the subset it
/// uses: `$ref`, `type` (with `null`), `enum`, `const`, `required`,
/// `properties`, `additionalProperties: false`, `items`); every mismatch,
/// with where it is.
fn mismatches(
    doc: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let target = doc.pointer(&r[1..]).expect("a $ref that resolves");
        return mismatches(doc, target, value, at);
    }
    let mut out = Vec::new();
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        serde_json::Value::String(t) => vec![t.as_str()],
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.contains(&kind(value)) {
        out.push(format!(
            "{at}: a {} where {types:?} is documented",
            kind(value)
        ));
        return out;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not among {allowed:?}"));
    }
    if !schema["const"].is_null() && &schema["const"] != value {
        out.push(format!("{at}: {value} is not {}", schema["const"]));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                out.push(format!("{at}: `{name}` is required but missing"));
            }
        }
        for (name, field) in object {
            match schema["properties"].get(name) {
                Some(s) => out.extend(mismatches(doc, s, field, &format!("{at}.{name}"))),
                None if schema["additionalProperties"] == serde_json::json!(false) => {
                    out.push(format!("{at}: `{name}` is not documented"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            out.extend(mismatches(
                doc,
                &schema["items"],
                item,
                &format!("{at}[{i}]"),
            ));
        }
    }
    out
}

/// The documented schema of a route's answer with this status.
fn answer_schema(
    doc: &serde_json::Value,
    path: &str,
    method: &str,
    status: u16,
) -> serde_json::Value {
    let mut response = doc["paths"][path][method]["responses"][status.to_string()].clone();
    if let Some(r) = response["$ref"].as_str() {
        response = doc.pointer(&r[1..]).expect("a response $ref").clone();
    }
    let content = &response["content"];
    let schema = content["application/json"]["schema"].clone();
    if schema.is_null() {
        content["application/problem+json"]["schema"].clone()
    } else {
        schema
    }
}

fn real_answers_match_the_documented_schemas(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.client();
    let doc = c.get("/api/openapi.json").json();
    // The checker itself catches drift: an undocumented field, a wrong type.
    let me = serde_json::json!({"$ref": "#/components/schemas/Me"});
    let drifted = serde_json::json!({"owner": {"id": "1", "email": "a", "role": "admin", "kind": "person", "extra": 1}, "token": {}});
    assert_eq!(
        mismatches(&doc, &me, &drifted, "me").len(),
        6,
        "{:?}",
        mismatches(&doc, &me, &drifted, "me")
    );
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token(
        "dev@example.com",
        "main",
        &[
            "tokens:read",
            "tokens:create",
            "tokens:revoke",
            "datastore:read",
        ],
        30,
    );
    let admin = app.create_token(
        &app.admin_email,
        "siem",
        &["audit:read", "tokens:introspect"],
        30,
    );
    let mut problems = Vec::new();
    let mut check = |what: &str, path: &str, method: &str, page: crate::helpers::Page| {
        let schema = answer_schema(&doc, path, method, page.status);
        if schema.is_null() {
            problems.push(format!("{what}: status {} is not documented", page.status));
            return;
        }
        problems.extend(mismatches(&doc, &schema, &page.json(), what));
    };
    let minted = c.api_post(
        "/api/v1/tokens",
        Some(&token),
        "application/json",
        format!(
            r#"{{"name": "job", "expires_on": "{}", "scopes": ["datastore:read"], "description": "a job"}}"#,
            crate::helpers::in_days(2)
        )
        .as_bytes(),
    );
    let job = minted.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    check("mint", "/api/v1/tokens", "post", minted);
    check(
        "me",
        "/api/v1/me",
        "get",
        c.api("GET", "/api/v1/me", Some(&token)),
    );
    let rotated = c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&job),
        "application/json",
        b"{}",
    );
    check("rotate", "/api/v1/tokens/self/rotate", "post", rotated);
    check(
        "list",
        "/api/v1/tokens",
        "get",
        c.api("GET", "/api/v1/tokens?status=all", Some(&token)),
    );
    let introspect = |t: &str| {
        c.api_post(
            "/api/v1/introspect",
            Some(&admin),
            "application/json",
            format!(r#"{{"token": "{t}"}}"#).as_bytes(),
        )
    };
    check(
        "introspect (active)",
        "/api/v1/introspect",
        "post",
        introspect(&token),
    );
    check(
        "introspect (not)",
        "/api/v1/introspect",
        "post",
        introspect("lk_nothing"),
    );
    check(
        "scopes",
        "/api/v1/scopes",
        "get",
        c.api("GET", "/api/v1/scopes", Some(&token)),
    );
    check(
        "audit",
        "/api/v1/audit",
        "get",
        c.api("GET", "/api/v1/audit?limit=5", Some(&admin)),
    );
    let refused = c.api_post(
        "/api/v1/tokens",
        Some(&token),
        "application/json",
        b"{\"name\": \"\"}",
    );
    check("a refused mint", "/api/v1/tokens", "post", refused);
    let id = app.token_id("main");
    check(
        "revoke",
        "/api/v1/tokens/{id}",
        "delete",
        c.api("DELETE", &format!("/api/v1/tokens/{id}"), Some(&token)),
    );
    check(
        "leak report",
        "/api/v1/tokens/revoke-leaked",
        "post",
        c.api_post(
            "/api/v1/tokens/revoke-leaked",
            None,
            "application/json",
            br#"{"tokens": ["lk_x"]}"#,
        ),
    );
    assert!(
        problems.is_empty(),
        "the document drifted:\n{}",
        problems.join("\n")
    );
}

fn metrics_tell_a_missing_header_from_an_unusable_one(db: &TestDb) {
    let app = spawn_app_with_metrics(db);
    let c = app.client();
    c.api("GET", "/api/v1/me", None).assert_status(401);
    // Present but not a bearer token: another scheme, no scheme, too long.
    for value in [
        "Basic dXNlcjpwYXNz",
        "lk_nothing",
        &format!("Bearer {}", "a".repeat(600)),
    ] {
        c.get_with("/api/v1/me", &[("Authorization", value)])
            .assert_status(401);
    }
    let metrics =
        Client::new(app.metrics_base.as_deref().expect("metrics listener")).get("/metrics");
    metrics
        .assert_contains("latchkey_token_verifications_total{outcome=\"missing\"} 1")
        .assert_contains("latchkey_token_verifications_total{outcome=\"malformed\"} 3");
}
