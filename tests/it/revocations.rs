//! The revocation feed (`GET /api/v1/revocations`, Server-Sent Events):
//! every way a token stops is announced, from any instance and from the
//! CLI, and a client that reconnects gets what it missed. Both backends.

use crate::helpers::{TestApp, TestDb, spawn_app, spawn_second};
use latchkey::domain::Role;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

both_backends!(
    the_feed_announces_every_way_a_token_stops,
    a_reconnecting_client_gets_what_it_missed,
    another_instance_announces_a_revoke_made_through_the_first,
    a_feed_ends_when_its_own_token_goes_and_flushes_an_unknown_position,
    a_suspension_is_announced,
);

fn a_suspension_is_announced(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", latchkey::domain::Role::Developer);
    let token = app.create_token("dev@example.com", "paused", &["tokens:read"], 30);
    let mut feed = Feed::open(&app, &introspector(&app), None);
    let id = app.token_id("paused");
    db.cli(&["token", "suspend", &id.to_string()]).ok();
    let hash = sha256_hex(&token);
    let seen = feed.wait_for(&hash).to_owned();
    assert!(seen.contains("\"reason\":\"suspended\""), "{seen}");
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A client of the feed, reading the raw stream.
struct Feed {
    stream: TcpStream,
    seen: String,
}

impl Feed {
    fn open(app: &TestApp, token: &str, last_event_id: Option<i64>) -> Feed {
        let address = app.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /api/v1/revocations HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n{resume}\r\n"
        )
        .expect("send");
        let mut feed = Feed {
            stream,
            seen: String::new(),
        };
        feed.wait_for(": connected");
        assert!(feed.seen.starts_with("HTTP/1.1 200"), "{}", feed.seen);
        assert!(feed.seen.contains("text/event-stream"), "{}", feed.seen);
        feed
    }

    /// Reads until `text` arrives (at most 10 s); everything read so far.
    fn wait_for(&mut self, text: &str) -> &str {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        while !self.seen.contains(text) {
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; the feed said: {}",
                self.seen
            );
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the feed closed; it said: {}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
        &self.seen
    }

    /// The event id announced for `hash`.
    fn id_of(&self, hash: &str) -> i64 {
        let at = self.seen.find(hash).expect("announced");
        let before = &self.seen[..at];
        let line = before.rfind("id: ").expect("an id line");
        before[line + 4..]
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("a numeric id")
    }
}

fn introspector(app: &TestApp) -> String {
    app.create_token(
        &app.admin_email,
        "resource server",
        &["tokens:introspect"],
        30,
    )
}

fn the_feed_announces_every_way_a_token_stops(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    app.add_member("gone@example.com", Role::Developer);
    let watcher = introspector(&app);
    // Only with tokens:introspect, and a well-formed Last-Event-ID.
    let plain = app.create_token("dev@example.com", "plain", &["datastore:read"], 30);
    let c = app.client();
    c.api("GET", "/api/v1/revocations", Some(&plain))
        .assert_status(403);
    c.api("GET", "/api/v1/revocations", None).assert_status(401);
    let bad = c.get_with(
        "/api/v1/revocations",
        &[
            ("authorization", &format!("Bearer {watcher}")),
            ("last-event-id", "yesterday"),
        ],
    );
    bad.assert_status(400);

    let mut feed = Feed::open(&app, &watcher, None);
    // Revoked through the API by its owner.
    let by_api = app.create_token("dev@example.com", "api", &["tokens:revoke"], 30);
    let id = app.token_id("api");
    c.api("DELETE", &format!("/api/v1/tokens/{id}"), Some(&by_api))
        .assert_status(200);
    feed.wait_for(&sha256_hex(&by_api));
    assert!(feed.seen.contains("\"reason\":\"manual\""), "{}", feed.seen);
    // Revoked by the CLI, another process.
    let by_cli = app.create_token("dev@example.com", "cli", &["datastore:read"], 30);
    db.cli(&["token", "revoke", &app.token_id("cli").to_string()])
        .ok();
    feed.wait_for(&sha256_hex(&by_cli));
    // Reported as leaked.
    let leaked = app.create_token("dev@example.com", "leaked", &["datastore:read"], 30);
    c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        format!(r#"{{"tokens": ["{leaked}"]}}"#).as_bytes(),
    )
    .assert_status(200);
    feed.wait_for(&sha256_hex(&leaked));
    // Its owner disabled.
    let owners = app.create_token("gone@example.com", "owner", &["datastore:read"], 30);
    db.cli(&["user", "disable", "--email", "gone@example.com"])
        .ok();
    feed.wait_for(&sha256_hex(&owners));
    assert!(feed.seen.contains("owner_disabled"), "{}", feed.seen);
    // A scope it holds retired: it must be checked again.
    db.cli(&[
        "scope",
        "add",
        "billing:read",
        "--description",
        "Invoices",
        "--min-role",
        "viewer",
    ])
    .ok();
    let billing = app.create_token("dev@example.com", "billing", &["billing:read"], 30);
    db.cli(&["scope", "retire", "billing:read"]).ok();
    feed.wait_for(&sha256_hex(&billing));
    assert!(feed.seen.contains("scope_retired"), "{}", feed.seen);
    // A token still working is never announced.
    assert!(!feed.seen.contains(&sha256_hex(&plain)));
    assert!(!feed.seen.contains(&plain), "never a secret");
}

fn a_reconnecting_client_gets_what_it_missed(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let watcher = introspector(&app);
    let tokens: Vec<String> = (0..3)
        .map(|i| app.create_token("dev@example.com", &format!("t{i}"), &["datastore:read"], 30))
        .collect();
    let mut feed = Feed::open(&app, &watcher, None);
    db.cli(&["token", "revoke", &app.token_id("t0").to_string()])
        .ok();
    feed.wait_for(&sha256_hex(&tokens[0]));
    let last = feed.id_of(&sha256_hex(&tokens[0]));
    drop(feed);
    // While it was away.
    for name in ["t1", "t2"] {
        db.cli(&["token", "revoke", &app.token_id(name).to_string()])
            .ok();
    }
    let mut again = Feed::open(&app, &watcher, Some(last));
    again.wait_for(&sha256_hex(&tokens[1]));
    again.wait_for(&sha256_hex(&tokens[2]));
    assert!(
        !again.seen.contains(&sha256_hex(&tokens[0])),
        "already seen"
    );
    // From the start: everything kept, in order.
    let mut all = Feed::open(&app, &watcher, Some(0));
    all.wait_for(&sha256_hex(&tokens[2]));
    assert!(all.id_of(&sha256_hex(&tokens[0])) < all.id_of(&sha256_hex(&tokens[2])));
}

fn another_instance_announces_a_revoke_made_through_the_first(db: &TestDb) {
    let a = spawn_app(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);
    let watcher = introspector(&a);
    let mut on_b = Feed::open(&b, &watcher, None);
    let token = a.create_token("dev@example.com", "shared", &["tokens:revoke"], 30);
    let id = a.token_id("shared");
    a.client()
        .api("DELETE", &format!("/api/v1/tokens/{id}"), Some(&token))
        .assert_status(200);
    on_b.wait_for(&sha256_hex(&token));
}

fn a_feed_ends_when_its_own_token_goes_and_flushes_an_unknown_position(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let watcher = introspector(&app);
    // A position this database never gave (a restored one, say): flush.
    let mut ahead = Feed::open(&app, &watcher, Some(1_000_000));
    ahead.wait_for("event: flush");
    // …and from then on, what comes.
    let token = app.create_token("dev@example.com", "later", &["datastore:read"], 30);
    db.cli(&["token", "revoke", &app.token_id("later").to_string()])
        .ok();
    ahead.wait_for(&sha256_hex(&token));
    // The feed's own token revoked: announced, then the stream ends.
    db.cli(&[
        "token",
        "revoke",
        &app.token_id("resource server").to_string(),
    ])
    .ok();
    ahead.wait_for(&sha256_hex(&watcher));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    loop {
        match ahead.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let more = String::from_utf8_lossy(&buf[..n]).into_owned();
                ahead.seen.push_str(&more);
                // The chunked body's last chunk: the server ended it.
                if ahead.seen.ends_with("0\r\n\r\n") {
                    break;
                }
            }
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "the stream did not end: {}",
            ahead.seen
        );
    }
}
