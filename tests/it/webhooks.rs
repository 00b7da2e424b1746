//! The expiry and reuse webhook: a local receiver checks the signature,
//! retries after failures, exactly one event per threshold with two
//! instances, and a sender that stops with the server. Both backends.
//! The clock is moved, never slept on; the short sleeps only give the
//! sender (polling every 25 ms) time to show it sends nothing more.

use crate::helpers::{TestApp, TestDb, spawn_app_with, spawn_second_with};
use latchkey::config::ServerConfig;
use latchkey::domain::Role;
use latchkey::service::webhooks::delivery::{WebhookConfig, signature, signing_key};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::Duration as Span;

both_backends!(
    expiry_notices_are_signed_and_sent_once_per_threshold,
    failed_deliveries_are_retried_with_back_off,
    two_instances_send_each_notice_once,
    reuse_of_a_rotated_token_is_sent,
    a_canary_use_is_sent_at_once,
    the_sender_stops_with_the_server,
);

/// Not a real secret: the key this test receiver checks signatures with.
const SIGNING_KEY: &str = "test-receiver-signing-key";

#[derive(Debug, Clone)]
struct Delivery {
    headers: HashMap<String, String>,
    body: String,
}

impl Delivery {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// An HTTP server on a free port that records each request and answers
/// with the next scripted status (204 when the script is used up).
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!(
            "http://{}/hooks/latchkey",
            listener.local_addr().expect("addr")
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(delivery) = read_request(&mut stream) else {
                    continue;
                };
                let status = script.lock().expect("script").pop_front().unwrap_or(204);
                log.lock().expect("log").push(delivery);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, received }
    }

    fn count(&self) -> usize {
        self.received.lock().expect("log").len()
    }

    /// Waits (10 s at most) until `n` requests arrived; returns them all.
    fn wait_for(&self, n: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received.lock().expect("log").clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} deliveries, got {}: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Gives the sender several polls, then says how many arrived.
    fn settled_count(&self) -> usize {
        std::thread::sleep(Duration::from_millis(400));
        self.count()
    }

    fn config(&self) -> ServerConfig {
        ServerConfig {
            webhook: Some(
                WebhookConfig::new(&self.url, SIGNING_KEY, Duration::from_millis(25))
                    .expect("webhook config"),
            ),
            ..ServerConfig::default()
        }
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Delivery> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    if !request_line.starts_with("POST /hooks/latchkey ") {
        return None;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Delivery {
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// Checked as a Standard Webhooks receiver checks it: the signature covers
/// the id, the timestamp and the body, and the timestamp is recent.
fn assert_signed(delivery: &Delivery) {
    let id = delivery.header("webhook-id");
    let timestamp: i64 = delivery
        .header("webhook-timestamp")
        .parse()
        .expect("a Unix timestamp");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - timestamp).abs() < 300, "signed just now");
    let body = delivery.body.as_bytes();
    let key = signing_key(SIGNING_KEY).expect("key");
    assert_eq!(
        delivery.header("webhook-signature"),
        signature(&key, id, timestamp, body),
        "signature of {}",
        delivery.body
    );
    let other = signing_key("another-key-of-some-length").expect("key");
    assert_ne!(
        delivery.header("webhook-signature"),
        signature(&other, id, timestamp, body)
    );
    // Replayed later under a new timestamp, the signature no longer fits.
    assert_ne!(
        delivery.header("webhook-signature"),
        signature(&key, id, timestamp + 600, body)
    );
    assert_eq!(delivery.header("content-type"), "application/json");
}

/// A developer with one token that stops in `days` days (at midnight UTC).
fn token_expiring_in(app: &TestApp, email: &str, name: &str, days: i64) -> (String, i64) {
    let address = latchkey::domain::Email::parse(email).expect("email");
    if app.service.members().by_email(&address).is_err() {
        app.add_member(email, Role::Developer);
    }
    let secret = app.create_token(email, name, &["datastore:read"], days);
    (secret, app.token_id(name))
}

fn expiry_notices_are_signed_and_sent_once_per_threshold(db: &TestDb) {
    let receiver = Receiver::start(&[]);
    let app = spawn_app_with(db, receiver.config());
    let (secret, id) = token_expiring_in(&app, "dev@example.com", "deploy", 10);
    // Made with 10 days to live: the 30-day threshold is not announced.
    assert_eq!(receiver.settled_count(), 0);

    app.service.clock().advance(Span::days(3));
    let first = receiver.wait_for(1);
    let event = first[0].json();
    assert_signed(&first[0]);
    assert_eq!(first[0].header("latchkey-event"), "token.expiring");
    // A random id, the same in the header and the payload: unique across
    // installations, so a receiver's replay filter never drops a new event.
    let event_id = first[0].header("webhook-id");
    assert!(
        event_id.starts_with("msg_") && event_id.len() == 36,
        "{event_id}"
    );
    assert_eq!(event["id"], event_id);
    assert_eq!(event["type"], "token.expiring");
    assert_eq!(event["threshold_days"], 7);
    assert_eq!(event["token"]["id"], id);
    assert_eq!(event["token"]["name"], "deploy");
    assert_eq!(event["token"]["owner_email"], "dev@example.com");
    assert!(event["token"]["expires_at"].as_str().is_some());
    assert!(
        !first[0].body.contains(&secret),
        "the secret left the service"
    );
    assert_eq!(receiver.settled_count(), 1, "the 7-day notice went twice");

    app.service.clock().advance(Span::days(6));
    let both = receiver.wait_for(2);
    assert_signed(&both[1]);
    assert_eq!(both[1].json()["threshold_days"], 1);
    assert_eq!(receiver.settled_count(), 2);

    // Expired, then nothing more.
    app.service.clock().advance(Span::days(2));
    assert_eq!(receiver.settled_count(), 2);
}

fn failed_deliveries_are_retried_with_back_off(db: &TestDb) {
    let receiver = Receiver::start(&[500, 503]);
    let app = spawn_app_with(db, receiver.config());
    token_expiring_in(&app, "dev@example.com", "deploy", 10);
    app.service.clock().advance(Span::days(3));
    receiver.wait_for(1);
    // First retry after 30 s (of the service's clock), the next after 60 s,
    // counted from when each failure was recorded.
    failure_recorded(db, 1);
    assert_eq!(receiver.settled_count(), 1);
    app.service.clock().advance(Span::seconds(31));
    receiver.wait_for(2);
    failure_recorded(db, 2);
    app.service.clock().advance(Span::seconds(31));
    assert_eq!(receiver.settled_count(), 2, "retried before its back-off");
    app.service.clock().advance(Span::seconds(30));
    let all = receiver.wait_for(3);
    assert_eq!(receiver.settled_count(), 3, "retried after a success");
    for delivery in &all {
        assert_signed(delivery);
        assert_eq!(delivery.body, all[0].body, "a retry changed the event");
        assert_eq!(delivery.header("webhook-id"), all[0].header("webhook-id"));
    }
}

/// Waits until the sender has recorded the failure of attempt `attempt`
/// (the receiver sees a request before the sender sees the answer).
fn failure_recorded(db: &TestDb, attempt: i64) {
    use diesel::prelude::*;
    use latchkey::db::schema::webhook_events as w;
    let pool = latchkey::db::connect(&latchkey::db::DbUrl::parse(&db.url).expect("url"), 1, false)
        .expect("pool");
    let mut conn = pool.get().expect("conn");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let recorded: i64 = w::table
            .filter(w::attempts.eq(attempt))
            .filter(w::claimed_until.is_null())
            .filter(w::last_error.is_not_null())
            .count()
            .get_result(&mut *conn)
            .expect("query");
        if recorded == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "failure {attempt} never recorded"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn two_instances_send_each_notice_once(db: &TestDb) {
    let receiver = Receiver::start(&[]);
    let first = spawn_app_with(db, receiver.config());
    let second = spawn_second_with(db, &first, receiver.config());
    let tokens = 20;
    for n in 0..tokens {
        token_expiring_in(&first, "dev@example.com", &format!("token {n}"), 10);
    }
    first.service.clock().advance(Span::days(3));
    second.service.clock().advance(Span::days(3));
    let got = receiver.wait_for(tokens);
    assert_eq!(receiver.settled_count(), tokens, "a notice went twice");
    let mut ids: Vec<String> = got
        .iter()
        .map(|d| d.header("webhook-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), tokens);
}

fn reuse_of_a_rotated_token_is_sent(db: &TestDb) {
    let receiver = Receiver::start(&[]);
    let app = spawn_app_with(db, receiver.config());
    let (old, id) = token_expiring_in(&app, "dev@example.com", "ci", 90);
    let api = app.client();
    api.api_post(
        "/api/v1/tokens/self/rotate",
        Some(&old),
        "application/json",
        br#"{"overlap_minutes": 0}"#,
    )
    .assert_status(200);
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    let got = receiver.wait_for(1);
    assert_signed(&got[0]);
    let event = got[0].json();
    assert_eq!(event["type"], "token.reuse_detected");
    assert!(event["id"].as_str().is_some_and(|i| i.starts_with("msg_")));
    assert_eq!(event["token"]["id"], id);
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["revoked_tokens"], 1);
    // Presented again: the chain is already down, nothing new to say.
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    assert_eq!(receiver.settled_count(), 1);
}

fn a_canary_use_is_sent_at_once(db: &TestDb) {
    let receiver = Receiver::start(&[]);
    let app = spawn_app_with(db, receiver.config());
    app.add_member("dev@example.com", latchkey::domain::Role::Developer);
    let expires = crate::helpers::in_days(3);
    let canary = db
        .cli(&[
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            "planted",
            "--expires-on",
            &expires,
            "--scope",
            "tokens:read",
            "--canary",
        ])
        .ok();
    let canary = canary.trim();
    app.client()
        .get_with(
            "/api/v1/me",
            &[
                ("Authorization", &format!("Bearer {canary}")),
                ("User-Agent", "curl/8.5"),
            ],
        )
        .assert_status(401);
    let got = receiver.wait_for(1);
    assert_signed(&got[0]);
    let event = got[0].json();
    assert_eq!(event["type"], "token.canary_used");
    assert_eq!(event["token"]["name"], "planted");
    assert_eq!(event["ip"], "127.0.0.1");
    // Due in 3 days, yet no expiry notice: a canary's end concerns no one.
    assert_eq!(receiver.settled_count(), 1);
}

fn the_sender_stops_with_the_server(db: &TestDb) {
    let receiver = Receiver::start(&[]);
    let app = spawn_app_with(db, receiver.config());
    token_expiring_in(&app, "dev@example.com", "deploy", 10);
    let clock = app.service.clock().clone();
    // Returns only once the server and the sender thread have ended.
    app.shut_down();
    clock.advance(Span::days(3));
    assert_eq!(
        receiver.settled_count(),
        0,
        "the sender outlived the server"
    );
}

#[test]
fn serve_refuses_a_bad_webhook_configuration() {
    let db = TestDb::sqlite();
    let serve = |url: &str, secret: Option<&str>, poll: Option<&str>| {
        let mut cmd = std::process::Command::new(crate::helpers::BIN);
        cmd.arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("LATCHKEY_BIND", "127.0.0.1:0")
            .env("LATCHKEY_WEBHOOK_URL", url)
            .env_remove("LATCHKEY_WEBHOOK_SECRET")
            .env_remove("LATCHKEY_WEBHOOK_POLL_MS");
        if let Some(secret) = secret {
            cmd.env("LATCHKEY_WEBHOOK_SECRET", secret);
        }
        if let Some(poll) = poll {
            cmd.env("LATCHKEY_WEBHOOK_POLL_MS", poll);
        }
        crate::helpers::CliOutput(cmd.output().expect("run serve"))
    };
    // A bad setting is a usage error: one line naming it, exit 2.
    serve("http://127.0.0.1:9/hook", None, None).fails(
        2,
        "LATCHKEY_WEBHOOK_SECRET must be set, 16 characters or more",
    );
    serve("http://127.0.0.1:9/hook", Some("short"), None).fails(
        2,
        "LATCHKEY_WEBHOOK_SECRET must be set, 16 characters or more",
    );
    serve("http://127.0.0.1:9/hook", Some("whsec_!!!"), None).fails(2, "not base64");
    serve("ftp://example.test/hook", Some(SIGNING_KEY), None)
        .fails(2, "must be an http:// or https:// URL with a host");
    serve("not a url", Some(SIGNING_KEY), None).fails(2, "is not a URL");
    serve("http://127.0.0.1:9/hook", Some(SIGNING_KEY), Some("5")).fails(
        2,
        "--webhook-poll-ms (LATCHKEY_WEBHOOK_POLL_MS): “5” must be a number from 10 to 3600000",
    );
}

#[test]
fn serve_stops_the_sender_on_sigterm() {
    let db = TestDb::sqlite();
    let receiver = Receiver::start(&[]);
    let log = db.dir().expect("dir").join("serve.log");
    let mut child = std::process::Command::new(crate::helpers::BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .env("LATCHKEY_LOG", "info")
        .env("LATCHKEY_WEBHOOK_URL", &receiver.url)
        .env("LATCHKEY_WEBHOOK_SECRET", SIGNING_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let base = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("Latchkey is listening on ")
                .map(str::to_owned)
        })
        .expect("serve did not start");
    // Answering means the server runs, and so do its signal handlers.
    crate::helpers::Client::new(&base)
        .get("/healthz")
        .assert_status(200);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("webhook sender started"), "{text}");
    assert!(text.contains("webhook sender stopped"), "{text}");
    assert!(!text.contains(SIGNING_KEY), "the signing key was logged");
}
