//! SPEC §9: what a security review found, each checked through the door an
//! attacker uses (HTTP, the CLI, the file system), on both backends.

use crate::helpers::{
    Client, PASSWORD, Page, ServeProcess, TestApp, TestDb, spawn_app, spawn_app_with,
    spawn_second_with,
};
use latchkey::config::ServerConfig;
use latchkey::domain::{Role, parse_ranges};
use std::sync::{Arc, Barrier};
use std::time::{Duration as StdDuration, Instant};
use time::Duration;

both_backends!(
    a_body_shorter_than_announced_is_given_up_on,
    sign_out_ends_the_session_for_every_copy_of_the_cookie,
    password_change_disable_and_sign_out_everywhere_end_sessions,
    sessions_end_after_8_hours_idle_and_24_hours_at_most,
    secure_cookies_use_the_host_prefix_and_hsts,
    lockout_is_per_email_and_address,
    each_address_has_a_sign_in_budget,
    parallel_guesses_cannot_exceed_the_lockout,
    a_sign_in_flood_is_refused_at_once,
    encoded_bodies_are_refused_before_they_are_read,
    long_and_invisible_input_is_refused_before_anything_is_written,
    json_bodies_must_be_objects,
    introspection_catches_reuse_and_replays_cost_nothing,
    replays_from_one_ipv6_network_cost_one_write,
    rotation_is_the_owners,
    reuse_detection_cannot_be_outrun_by_a_long_chain,
    overlap_tokens_count_toward_the_cap,
    revoking_an_overlap_token_on_purpose_is_not_theft,
    numbers_are_range_checked_before_arithmetic,
    the_leak_report_limit_is_shared_by_instances,
    the_last_admin_survives_concurrent_demotions,
    owners_do_not_see_others_addresses,
    a_dropped_database_connection_is_replaced_at_once,
);

fn with_proxies() -> ServerConfig {
    ServerConfig {
        trusted_proxies: parse_ranges("127.0.0.1, ::1").expect("ranges"),
        ..ServerConfig::default()
    }
}

/// A signed-in developer and the session cookie their sign-in set.
fn signed_in(app: &TestApp, email: &str) -> (Client, String) {
    if app
        .service
        .members()
        .by_email(&latchkey::domain::Email::parse(email).expect("email"))
        .is_err()
    {
        app.add_member(email, Role::Developer);
    }
    let c = app.client();
    let page = c.try_sign_in(email, PASSWORD);
    page.assert_status(303);
    let cookie = page.cookie().expect("a session cookie");
    (c, cookie)
}

/// The token list as a browser holding only `cookie` gets it.
fn replay(app: &TestApp, cookie: &str) -> Page {
    app.client()
        .get_with("/settings/api-tokens", &[("Cookie", cookie)])
}

fn sign_out_ends_the_session_for_every_copy_of_the_cookie(db: &TestDb) {
    let app = spawn_app(db);
    let (c, cookie) = signed_in(&app, "dev@example.com");
    replay(&app, &cookie).assert_status(200);
    // The cookie holds an id, not the member: small, and no email in it.
    assert!(cookie.len() < 300, "{cookie}");
    assert!(!cookie.contains("dev"));
    let csrf = c.csrf();
    c.post("/logout", &[("csrf_token", &csrf)])
        .assert_status(303);
    let replayed = replay(&app, &cookie);
    assert_eq!(replayed.status, 303, "a copied cookie still worked");
    assert_eq!(replayed.header("location"), Some("/login"));
    let htmx = app.client().get_with(
        "/settings/api-tokens",
        &[("Cookie", &cookie), ("HX-Request", "true")],
    );
    htmx.assert_status(401);
}

fn password_change_disable_and_sign_out_everywhere_end_sessions(db: &TestDb) {
    let app = spawn_app(db);
    // A new password (set with the CLI) ends every session of the member.
    let (_, first) = signed_in(&app, "dev@example.com");
    let (_, second) = signed_in(&app, "dev@example.com");
    replay(&app, &first).assert_status(200);
    db.cli_with_stdin(
        &["user", "set-password", "--email", "dev@example.com"],
        Some("another long password\n"),
    )
    .ok();
    assert_eq!(replay(&app, &first).status, 303);
    assert_eq!(replay(&app, &second).status, 303);

    // Disabling ends them; enabling again does not bring them back.
    let (_, before_disable) = signed_in(&app, "ops@example.com");
    let admin = app.admin();
    let csrf = admin.csrf();
    let ops = app.member_id("ops@example.com").0;
    admin
        .post(
            &format!("/settings/members/{ops}/disable"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    admin
        .post(
            &format!("/settings/members/{ops}/enable"),
            &[("csrf_token", &csrf)],
        )
        .assert_status(303);
    assert_eq!(replay(&app, &before_disable).status, 303);

    // An admin's "sign out everywhere".
    let (_, phone) = signed_in(&app, "qa@example.com");
    let (_, laptop) = signed_in(&app, "qa@example.com");
    let qa = app.member_id("qa@example.com").0;
    admin
        .get("/settings/members")
        .assert_contains(&format!("/settings/members/{qa}/sign-out"));
    let done = admin.post(
        &format!("/settings/members/{qa}/sign-out"),
        &[("csrf_token", &csrf)],
    );
    done.assert_status(303);
    assert_eq!(replay(&app, &phone).status, 303);
    assert_eq!(replay(&app, &laptop).status, 303);
    assert_eq!(app.audit_count("member.signed_out"), 1);
    // Without the CSRF token, nothing happens.
    let (_, kept) = signed_in(&app, "qa@example.com");
    admin
        .post(&format!("/settings/members/{qa}/sign-out"), &[])
        .assert_status(403);
    replay(&app, &kept).assert_status(200);
}

fn sessions_end_after_8_hours_idle_and_24_hours_at_most(db: &TestDb) {
    let app = spawn_app(db);
    let (_, busy) = signed_in(&app, "dev@example.com");
    let (_, idle) = signed_in(&app, "dev@example.com");
    for _ in 0..3 {
        app.service.clock().advance(Duration::hours(7));
        replay(&app, &busy).assert_status(200);
    }
    // 21 hours: the busy one lives on, the idle one ended at 8 hours.
    assert_eq!(replay(&app, &idle).status, 303);
    app.service.clock().advance(Duration::hours(4));
    // 25 hours after sign-in, used 4 hours ago: ended all the same.
    assert_eq!(replay(&app, &busy).status, 303);
}

fn secure_cookies_use_the_host_prefix_and_hsts(db: &TestDb) {
    let app = spawn_app_with(
        db,
        ServerConfig {
            secure_cookies: true,
            ..ServerConfig::default()
        },
    );
    let login = app.client().get("/login");
    let set = login.header("set-cookie").expect("cookie");
    assert!(set.starts_with("__Host-latchkey_session="), "{set}");
    assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("Path=/"));
    assert!(!set.contains("Domain"));
    assert_eq!(
        login.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // Plain HTTP (no secure cookies): neither.
    let plain = spawn_app(&TestDb::sqlite());
    let page = plain.client().get("/login");
    assert!(page.header("strict-transport-security").is_none());
    assert!(
        page.header("set-cookie")
            .is_some_and(|c| c.starts_with("latchkey_session="))
    );
}

fn lockout_is_per_email_and_address(db: &TestDb) {
    let app = spawn_app_with(db, with_proxies());
    let attacker = "198.51.100.7";
    for _ in 0..5 {
        app.client()
            .try_sign_in_from(&app.admin_email, "not the password", attacker)
            .assert_status(401);
    }
    let refused = app
        .client()
        .try_sign_in_from(&app.admin_email, &app.admin_password, attacker);
    refused.assert_status(429);
    assert!(refused.header("retry-after").is_some());
    // The admin, from their own address, is not locked out.
    app.client()
        .try_sign_in_from(&app.admin_email, &app.admin_password, "203.0.113.9")
        .assert_status(303);
    // Nor is anyone else's email from the attacker's address.
    app.add_member("dev@example.com", Role::Developer);
    app.client()
        .try_sign_in_from("dev@example.com", PASSWORD, attacker)
        .assert_status(303);
}

fn each_address_has_a_sign_in_budget(db: &TestDb) {
    let app = spawn_app_with(db, with_proxies());
    let spray = "198.51.100.8";
    for n in 0..20 {
        app.client()
            .try_sign_in_from(&format!("user{n}@example.com"), "guess", spray)
            .assert_status(401);
    }
    let over = app
        .client()
        .try_sign_in_from(&app.admin_email, &app.admin_password, spray);
    over.assert_status(429)
        .assert_contains("Too many sign-ins from your network");
    let wait: u64 = over
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // Another address is not affected; one IPv6 /64 is one address.
    app.client()
        .try_sign_in_from(&app.admin_email, &app.admin_password, "203.0.113.10")
        .assert_status(303);
    for n in 0..20 {
        app.client()
            .try_sign_in_from(
                &format!("v6-{n}@example.com"),
                "guess",
                &format!("2001:db8:1:2::{:x}", n + 1),
            )
            .assert_status(401);
    }
    app.client()
        .try_sign_in_from(
            &app.admin_email,
            &app.admin_password,
            "2001:db8:1:2:ffff::1",
        )
        .assert_status(429);
    // A minute later the budget is back.
    app.service.clock().advance(Duration::seconds(61));
    app.client()
        .try_sign_in_from(&app.admin_email, &app.admin_password, spray)
        .assert_status(303);
}

fn parallel_guesses_cannot_exceed_the_lockout(db: &TestDb) {
    let app = spawn_app(db);
    let guesses = 12;
    let barrier = Arc::new(Barrier::new(guesses));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..guesses)
            .map(|i| {
                let (barrier, app) = (barrier.clone(), &app);
                scope.spawn(move || {
                    let c = app.client();
                    let csrf = c.get("/login").csrf();
                    barrier.wait();
                    c.post(
                        "/login",
                        &[
                            ("csrf_token", &csrf),
                            ("email", &app.admin_email),
                            ("password", &format!("guess number {i}")),
                        ],
                    )
                    .status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(throttled, guesses - 5, "{statuses:?}");
}

fn a_sign_in_flood_is_refused_at_once(db: &TestDb) {
    let server = ServeProcess::start(db, &[("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1")]);
    let clients = 48;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let base = server.base.clone();
    let (statuses, health) = std::thread::scope(|scope| {
        let flood: Vec<_> = (0..clients)
            .map(|i| {
                let (barrier, base) = (barrier.clone(), base.clone());
                scope.spawn(move || {
                    let c = Client::new(&base);
                    let from = format!("198.51.{}.{}", 100 + i / 200, i % 200 + 1);
                    let csrf = c.get_with("/login", &[("X-Forwarded-For", &from)]).csrf();
                    barrier.wait();
                    (0..3)
                        .map(|n| {
                            let page = c.post_with(
                                "/login",
                                &[
                                    ("csrf_token", &csrf),
                                    ("email", &format!("nobody{i}-{n}@example.com")),
                                    ("password", "a guess"),
                                ],
                                &[("X-Forwarded-For", &from)],
                            );
                            (page.status, page.header("retry-after").map(str::to_owned))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        barrier.wait();
        // While it runs, the rest of the server answers.
        let health: Vec<u16> = (0..10)
            .map(|_| Client::new(&base).get("/readyz").status)
            .collect();
        let statuses: Vec<(u16, Option<String>)> = flood
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect();
        (statuses, health)
    });
    assert!(health.iter().all(|s| *s == 200), "{health:?}");
    let busy: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !busy.is_empty(),
        "a full queue must answer 503: {statuses:?}"
    );
    assert!(
        busy.iter().all(|(_, retry)| retry.is_some()),
        "503 says when to retry"
    );
    assert!(
        statuses.iter().all(|(s, _)| [401, 503].contains(s)),
        "{statuses:?}"
    );
    // Once the flood is over, a real sign-in works.
    let c = Client::new(&server.base);
    c.try_sign_in_from(
        "admin@latchkey.local",
        &server.admin_password(),
        "203.0.113.1",
    )
    .assert_status(303);
}

fn encoded_bodies_are_refused_before_they_are_read(db: &TestDb) {
    let app = spawn_app(db);
    // A gzip stream of zeros: small on the wire, large once inflated.
    let gzip_header = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03];
    for (path, content_type) in [
        ("/api/v1/tokens/revoke-leaked", "application/json"),
        ("/api/v1/introspect", "application/json"),
        ("/login", "application/x-www-form-urlencoded"),
    ] {
        let page = app.client().send(
            path,
            &gzip_header,
            &[("Content-Encoding", "gzip"), ("Content-Type", content_type)],
        );
        page.assert_status(415);
    }
    let admin = app.admin();
    let csrf = admin.csrf();
    admin
        .post_with(
            "/settings/api-tokens/revoke",
            &[("csrf_token", &csrf), ("ids", "1")],
            &[("Content-Encoding", "deflate")],
        )
        .assert_status(415);
}

fn long_and_invisible_input_is_refused_before_anything_is_written(db: &TestDb) {
    let app = spawn_app(db);
    let long = format!("{}@example.com", "a".repeat(60 * 1024));
    let c = app.client();
    let csrf = c.get("/login").csrf();
    let page = c.post(
        "/login",
        &[("csrf_token", &csrf), ("email", &long), ("password", "x")],
    );
    page.assert_status(400)
        .assert_contains("at most 254 characters");
    assert!(page.body.len() < 20_000, "the address is not echoed");
    let forged = "x@y\r\n2026-11-30,login.succeeded,admin@latchkey.local\u{202e}\0";
    c.post(
        "/login",
        &[("csrf_token", &csrf), ("email", forged), ("password", "x")],
    )
    .assert_status(400)
    .assert_contains("control or invisible characters");
    assert_eq!(app.audit_count("login.failed"), 0);

    // A failed sign-in's typed email is kept short and clean in the log.
    let typed = format!("{}@example.com", "b".repeat(240));
    c.post(
        "/login",
        &[("csrf_token", &csrf), ("email", &typed), ("password", "x")],
    )
    .assert_status(401);
    let admin = app.admin();
    let log = admin.get("/settings/audit?action=login.failed");
    log.assert_contains("anonymous (127.0.0.1)");
    let csv = admin.get("/settings/audit.csv");
    assert!(
        csv.body.lines().all(|l| l.chars().count() < 600),
        "{}",
        csv.body
    );

    // Names and emails with invisible characters, and look-alike names.
    let dev = app.member("dev@example.com", Role::Developer);
    for name in ["prod\u{200b}-deploy", "\u{feff}prod", "prod\u{202e}yolped"] {
        dev.generate(&[
            ("name", name),
            ("expires_in", "30"),
            ("scopes", "datastore:read"),
        ])
        .assert_status(422)
        .assert_contains("invisible");
    }
    dev.generate_token("Caf\u{e9}", &["datastore:read"]);
    dev.generate(&[
        ("name", "Cafe\u{301}"),
        ("expires_in", "30"),
        ("scopes", "datastore:read"),
    ])
    .assert_status(422)
    .assert_contains("already have an active token named");
    let admin_csrf = admin.csrf();
    admin
        .post(
            "/settings/members",
            &[
                ("csrf_token", &admin_csrf),
                ("email", "d@x.io\u{200b}"),
                ("role", "viewer"),
            ],
        )
        .assert_status(422);
    db.cli(&[
        "user",
        "add",
        "--email",
        "e@x.io\u{202e}",
        "--role",
        "viewer",
    ])
    .fails(2, "not a valid email");
    // NUL in a search is dropped, not sent to the database (PostgreSQL
    // refuses NUL in text).
    dev.get("/settings/api-tokens?q=Caf%00").assert_status(200);
    assert_eq!(app.token_count(), 1);
}

fn json_bodies_must_be_objects(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let rs = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let c = app.client();
    for body in [&b"[]"[..], b"\"x\"", b"5", b"null"] {
        c.api_post(
            "/api/v1/tokens/self/rotate",
            Some(&token),
            "application/json",
            body,
        )
        .assert_status(400);
        c.api_post("/api/v1/introspect", Some(&rs), "application/json", body)
            .assert_status(400);
        c.api_post(
            "/api/v1/tokens/revoke-leaked",
            None,
            "application/json",
            body,
        )
        .assert_status(400);
    }
    assert_eq!(app.token_count(), 2, "nothing was rotated");
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
}

fn introspection_catches_reuse_and_replays_cost_nothing(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let old = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let rs = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let c = app.client();
    let rotated = c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&old),
        "application/json",
        b"{}",
    );
    let new = rotated.json()["token"].as_str().expect("token").to_owned();
    c.api("GET", "/api/v1/me", Some(&new)).assert_status(200);
    // The replaced token shown to introspection: inactive, and its chain
    // is revoked exactly as a direct use would.
    let answer = c.api_post(
        "/api/v1/introspect",
        Some(&rs),
        "application/x-www-form-urlencoded",
        format!("token={old}").as_bytes(),
    );
    answer.assert_status(200);
    assert_eq!(answer.json()["active"], false);
    c.api("GET", "/api/v1/me", Some(&new)).assert_status(401);
    let admin = app.admin();
    let log = admin.get("/settings/audit?action=token.reuse_detected");
    assert_eq!(app.audit_count("token.reuse_detected"), 1, "{}", log.body);
    // The resource server's address is recorded: an anonymous event.
    log.assert_contains("anonymous (127.0.0.1)");
    // Presented directly from the same address: nothing new to say.
    c.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    assert_eq!(app.audit_count("token.reuse_detected"), 1);
    // Replayed again and again: no further writes within the minute.
    let events_before = app.audit_count("token.reuse_detected");
    for _ in 0..5 {
        c.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
        c.api_post(
            "/api/v1/introspect",
            Some(&rs),
            "application/x-www-form-urlencoded",
            format!("token={old}").as_bytes(),
        )
        .assert_status(200);
    }
    assert_eq!(app.audit_count("token.reuse_detected"), events_before);
    // A minute later it is worth one line again.
    app.service.clock().advance(Duration::seconds(61));
    c.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    assert_eq!(app.audit_count("token.reuse_detected"), events_before + 1);
}

fn replays_from_one_ipv6_network_cost_one_write(db: &TestDb) {
    let app = spawn_app_with(db, with_proxies());
    app.add_member("dev@example.com", Role::Developer);
    let old = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let c = app.client();
    c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&old),
        "application/json",
        b"{}",
    )
    .assert_status(200);
    let me = |token: &str, from: &str| {
        c.get_with(
            "/api/v1/me",
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("X-Forwarded-For", from),
            ],
        )
    };
    // Fifty addresses of one /64 are one client that changes its low bits.
    for n in 1..=50 {
        me(&old, &format!("2001:db8:7:7::{n:x}")).assert_status(401);
    }
    assert_eq!(app.audit_count("token.reuse_detected"), 1);
    me(&old, "2001:db8:7:8::1").assert_status(401);
    assert_eq!(app.audit_count("token.reuse_detected"), 2);
    // The same for allow-list refusals.
    let dev = app.client();
    dev.sign_in("dev@example.com", PASSWORD);
    let listed = dev.generate(&[
        ("name", "office only"),
        ("expires_in", "30"),
        ("scopes", "datastore:read"),
        ("allowed_ips", "203.0.113.0/24"),
    ]);
    let office = listed.revealed_token().expect("token");
    for n in 1..=50 {
        me(&office, &format!("2001:db8:9:9::{n:x}")).assert_status(401);
    }
    assert_eq!(app.audit_count("token.ip_refused"), 1);
}

fn rotation_is_the_owners(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let secret = dev.generate_token("deploy", &["datastore:read"]);
    let id = app.token_id("deploy");
    let admin = app.admin();
    let csrf = admin.csrf();
    // The admin may see the token and revoke it, but not mint its secret.
    admin
        .post(
            &format!("/settings/api-tokens/{id}/rotate"),
            &[("csrf_token", &csrf)],
        )
        .assert_status(403);
    let refused = admin.post(
        &format!("/settings/api-tokens/{id}/rotate"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    );
    refused.assert_status(403);
    assert!(refused.revealed_token().is_none());
    assert_eq!(app.token_count(), 1);
    app.client()
        .api("GET", "/api/v1/me", Some(&secret))
        .assert_status(200);
}

fn reuse_detection_cannot_be_outrun_by_a_long_chain(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let first = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let c = app.client();
    let mut newest = first.clone();
    for _ in 0..30 {
        let answer = c.api_post(
            "/api/v1/tokens/self/rotate",
            Some(&newest),
            "application/json",
            b"{}",
        );
        answer.assert_status(200);
        newest = answer.json()["token"].as_str().expect("token").to_owned();
    }
    c.api("GET", "/api/v1/me", Some(&newest)).assert_status(200);
    // The thief's first copy comes back: the whole chain stops, newest too.
    c.api("GET", "/api/v1/me", Some(&first)).assert_status(401);
    c.api("GET", "/api/v1/me", Some(&newest)).assert_status(401);
    assert_eq!(app.audit_count("token.reuse_detected"), 1);
}

fn overlap_tokens_count_toward_the_cap(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let owner = app
        .service
        .members()
        .by_email(&latchkey::domain::Email::parse("dev@example.com").expect("email"))
        .expect("member");
    for n in 0..199 {
        crate::helpers::new_token(
            &app.service,
            &owner,
            &format!("filler {n}"),
            &["datastore:read"],
            30,
        );
    }
    let last = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let c = app.client();
    // 200 active: with an overlap the old one would make 201.
    let refused = c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&last),
        "application/json",
        br#"{"overlap_minutes": 60}"#,
    );
    refused.assert_status(409);
    assert!(refused.body.contains("most allowed"), "{}", refused.body);
    // Without an overlap the count stays 200.
    c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&last),
        "application/json",
        br#"{"overlap_minutes": 0}"#,
    )
    .assert_status(200);
}

fn revoking_an_overlap_token_on_purpose_is_not_theft(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let old = app.create_token(
        "dev@example.com",
        "ci",
        &["datastore:read", "tokens:revoke"],
        30,
    );
    let old_id = app.token_id("ci");
    let c = app.client();
    let rotated = c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&old),
        "application/json",
        br#"{"overlap_minutes": 60}"#,
    );
    let new = rotated.json()["token"].as_str().expect("token").to_owned();
    c.api("GET", "/api/v1/me", Some(&old)).assert_status(200);
    // Revoked on purpose during the overlap (console, API, leak report).
    c.api("DELETE", &format!("/api/v1/tokens/{old_id}"), Some(&new))
        .assert_status(200);
    c.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    c.api("GET", "/api/v1/me", Some(&new)).assert_status(200);
    app.service.clock().advance(Duration::minutes(61));
    c.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    c.api("GET", "/api/v1/me", Some(&new)).assert_status(200);
    assert_eq!(app.audit_count("token.reuse_detected"), 0);

    // The same through a leak report.
    let rotated = c.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&new),
        "application/json",
        br#"{"overlap_minutes": 60}"#,
    );
    let newer = rotated.json()["token"].as_str().expect("token").to_owned();
    c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        format!(r#"{{"tokens": ["{new}"]}}"#).as_bytes(),
    )
    .assert_status(200);
    app.service.clock().advance(Duration::minutes(61));
    c.api("GET", "/api/v1/me", Some(&new)).assert_status(401);
    c.api("GET", "/api/v1/me", Some(&newer)).assert_status(200);
    assert_eq!(app.audit_count("token.reuse_detected"), 0);
}

fn numbers_are_range_checked_before_arithmetic(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let c = app.client();
    for body in [
        &br#"{"overlap_minutes": 1000000000000000000}"#[..],
        br#"{"overlap_minutes": 1e18}"#,
        br#"{"overlap_minutes": -1}"#,
        br#"{"overlap_minutes": 99999999999999999999999}"#,
    ] {
        let page = c.api_post(
            "/api/v1/tokens/self/rotate",
            Some(&token),
            "application/json",
            body,
        );
        page.assert_status(400);
    }
    c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    let admin = app.admin();
    for page in ["99999999999999", "9223372036854775807", "-5"] {
        admin
            .get(&format!("/settings/audit?page={page}"))
            .assert_status(400);
        admin
            .get(&format!("/settings/api-tokens?page={page}"))
            .assert_status(400);
    }
    admin.get("/healthz").assert_status(200);
}

fn the_leak_report_limit_is_shared_by_instances(db: &TestDb) {
    let first = spawn_app_with(db, with_proxies());
    let second = spawn_second_with(db, &first, with_proxies());
    let report = |app: &TestApp, from: &str| {
        app.client().send(
            "/api/v1/tokens/revoke-leaked",
            br#"{"tokens": []}"#,
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", from),
            ],
        )
    };
    for n in 0..10 {
        let app = if n % 2 == 0 { &first } else { &second };
        report(app, "198.51.100.30").assert_status(200);
    }
    let over = report(&second, "198.51.100.30");
    over.assert_status(429);
    assert!(over.header("retry-after").is_some());
    report(&first, "198.51.100.30").assert_status(429);
    // Another address has its own budget; one IPv6 /64 shares one.
    report(&first, "198.51.100.31").assert_status(200);
    for n in 0..10 {
        report(&second, &format!("2001:db8:7:7::{}", n + 1)).assert_status(200);
    }
    report(&first, "2001:db8:7:7:abcd::1").assert_status(429);
    first.service.clock().advance(Duration::seconds(61));
    second.service.clock().advance(Duration::seconds(61));
    report(&first, "198.51.100.30").assert_status(200);
}

fn the_last_admin_survives_concurrent_demotions(db: &TestDb) {
    let app = spawn_app(db);
    let other = app.member("second@example.com", Role::Admin);
    let first = app.admin();
    let first_id = app.member_id(&app.admin_email).0;
    let second_id = app.member_id("second@example.com").0;
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(2));
        let (a_csrf, b_csrf) = (first.csrf(), other.csrf());
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let a = {
                let barrier = barrier.clone();
                let (c, csrf) = (&first, &a_csrf);
                scope.spawn(move || {
                    barrier.wait();
                    c.post(
                        &format!("/settings/members/{second_id}/role"),
                        &[("csrf_token", csrf), ("role", "developer")],
                    )
                    .status
                })
            };
            let b = {
                let barrier = barrier.clone();
                let (c, csrf) = (&other, &b_csrf);
                scope.spawn(move || {
                    barrier.wait();
                    c.post(
                        &format!("/settings/members/{first_id}/role"),
                        &[("csrf_token", csrf), ("role", "developer")],
                    )
                    .status
                })
            };
            vec![a.join().expect("a"), b.join().expect("b")]
        });
        let org = app.service.default_org().expect("org");
        let admins = app
            .service
            .members()
            .list(org)
            .expect("members")
            .into_iter()
            .filter(|m| m.role == Role::Admin && !m.disabled)
            .count();
        assert_eq!(admins, 1, "round {round}: {statuses:?}");
        // Make both admins again for the next round (the CLI is the operator).
        for email in [app.admin_email.as_str(), "second@example.com"] {
            db.cli(&["user", "set-role", "--email", email, "--role", "admin"])
                .ok();
        }
    }
}

fn owners_do_not_see_others_addresses(db: &TestDb) {
    let app = spawn_app_with(db, with_proxies());
    let dev = app.member("dev@example.com", Role::Developer);
    let secret = dev.generate_token("deploy", &["datastore:read"]);
    let id = app.token_id("deploy");
    let admin = app.client();
    admin
        .try_sign_in_from(&app.admin_email, &app.admin_password, "198.51.100.77")
        .assert_status(303);
    let csrf = admin.csrf();
    admin
        .post_with(
            &format!("/settings/api-tokens/{id}/revoke"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
            &[("X-Forwarded-For", "198.51.100.77")],
        )
        .assert_status(303);
    let other = dev.generate_token("other", &["datastore:read"]);
    app.client()
        .send(
            "/api/v1/tokens/revoke-leaked",
            format!(r#"{{"tokens": ["{other}"]}}"#).as_bytes(),
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", "203.0.113.66"),
            ],
        )
        .assert_status(200);
    let _ = secret;
    let other_id = app.token_id("other");
    let leak_page = dev.get(&format!("/settings/api-tokens/{}", app.token_id("other")));
    assert!(
        !leak_page.body.contains("CLI / system"),
        "a stranger's report is anonymous, not the system"
    );
    leak_page.assert_contains("anonymous");
    let own_view = dev.get(&format!("/settings/api-tokens/{id}"));
    own_view.assert_status(200).assert_contains("token.revoked");
    assert!(
        !own_view.body.contains("198.51.100.77"),
        "an admin's address"
    );
    let leak_view = dev.get(&format!("/settings/api-tokens/{other_id}"));
    assert!(
        !leak_view.body.contains("203.0.113.66"),
        "a reporter's address"
    );
    admin
        .get(&format!("/settings/api-tokens/{id}"))
        .assert_contains("198.51.100.77");
    admin
        .get(&format!("/settings/api-tokens/{other_id}"))
        .assert_contains("203.0.113.66");
}

fn a_dropped_database_connection_is_replaced_at_once(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let c = app.client();
    // Warm every pooled connection.
    for _ in 0..20 {
        c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    }
    let Some(name) = db
        .url
        .rsplit('/')
        .next()
        .filter(|_| db.url.starts_with("postgres"))
    else {
        return; // SQLite connections do not drop.
    };
    // What a PostgreSQL restart does to every open connection.
    terminate_connections(name);
    let deadline = Instant::now() + StdDuration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let status = c.api("GET", "/api/v1/me", Some(&token)).status;
        seen.push(status);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {seen:?}");
        std::thread::sleep(StdDuration::from_millis(50));
    }
    assert!(
        seen.iter().all(|s| [200, 503].contains(s)),
        "fails closed, never 500: {seen:?}"
    );
    // Every later request answers.
    for _ in 0..20 {
        c.api("GET", "/api/v1/me", Some(&token)).assert_status(200);
    }
    app.client().get("/readyz").assert_status(200);
}

fn terminate_connections(database: &str) {
    use diesel::prelude::*;
    let base = std::env::var("LATCHKEY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut conn = PgConnection::establish(&format!("{base}/postgres")).expect("connect");
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut conn)
    .expect("terminate");
}

/// Files and the CLI: SQLite only.
#[test]
fn sqlite_files_are_private_and_backups_never_follow_links() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::sqlite();
    let path = db.sqlite_path().expect("path");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    db.cli(&["migrate"]).ok();
    assert_eq!(mode(&path), 0o600, "a new database is private");
    let app = spawn_app(&db);
    app.add_member("dev@example.com", Role::Developer);
    for side in ["-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{side}", path.display()));
        assert_eq!(mode(&p), 0o600, "{side}");
    }
    let dir = db.dir().expect("dir").clone();
    let copy = dir.join("copy.db");
    db.cli(&["backup", copy.to_str().expect("utf-8")]).ok();
    assert_eq!(mode(&copy), 0o600, "backups are private");
    let lock = std::path::PathBuf::from(format!("{}.lock", path.display()));
    assert_eq!(mode(&lock), 0o600, "the lock file is private");
    // A symlink planted where the backup goes is refused, not followed.
    let target = dir.join("victim.txt");
    std::fs::write(&target, "keep me").expect("write");
    let link = dir.join("planted.db");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    db.cli(&["backup", link.to_str().expect("utf-8")])
        .fails(1, "already exists");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    // A database made readable by others is made private again on start.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    db.cli(&["user", "list"]).ok();
    assert_eq!(mode(&path), 0o600);
    // Backup honours the lock a restore takes.
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&lock)
        .expect("lock file");
    held.try_lock().expect("exclusive lock");
    db.cli(&["backup", dir.join("during.db").to_str().expect("utf-8")])
        .fails(1, "being restored");
    // So do the other commands: a write during a restore would be lost.
    db.cli(&["user", "list"]).fails(1, "being restored");
    drop(held);
    // Restore does not follow a link planted where it stages its copy.
    drop(app);
    let staged = std::path::PathBuf::from(format!("{}.restoring", path.display()));
    std::os::unix::fs::symlink(&target, &staged).expect("symlink");
    db.cli(&["restore", copy.to_str().expect("utf-8")])
        .fails(1, "not a plain file");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    std::fs::remove_file(&staged).expect("unlink");
    db.cli(&["restore", copy.to_str().expect("utf-8")]).ok();
    assert_eq!(mode(&path), 0o600, "a restored database is private");
}

/// A client that announces more body than it sends holds nothing for
/// long: 408 after a few seconds, and nothing was revoked.
fn a_body_shorter_than_announced_is_given_up_on(db: &TestDb) {
    use std::io::{Read, Write};
    let app = spawn_app(db);
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "POST /api/v1/tokens/revoke-leaked HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{}}"
    )
    .expect("send");
    let mut answer = String::new();
    let mut buf = [0u8; 1024];
    while !answer.contains("\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}
