//! The token detail page (who may see it, what it shows, the usage chart
//! and how counts reach the database), IP allow-lists, and the client
//! address behind trusted and untrusted proxies. Both backends.

use crate::helpers::{
    Client, TestApp, TestDb, spawn_app, spawn_app_with, spawn_second, spawn_second_with,
};
use latchkey::config::ServerConfig;
use latchkey::domain::Role;
use std::time::{Duration, Instant};

both_backends!(
    detail_page_shows_the_token_to_its_owner_and_admins_only,
    usage_is_flushed_each_interval_and_on_shutdown,
    allow_lists_refuse_other_addresses_like_a_bad_token,
    bad_allow_lists_are_explained_beside_the_field,
    forwarded_addresses_count_only_from_trusted_proxies,
    ipv6_clients_are_matched_against_ipv6_ranges,
    cli_sets_and_shows_allow_lists,
);

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// Polls `check` for up to 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn with_flush_every(ms: u64) -> ServerConfig {
    ServerConfig {
        usage_flush: Duration::from_millis(ms),
        ..ServerConfig::default()
    }
}

fn trusting(ranges: &str) -> ServerConfig {
    ServerConfig {
        trusted_proxies: latchkey::domain::parse_ranges(ranges).expect("ranges"),
        ..ServerConfig::default()
    }
}

/// A developer's token made in the console, with this allow-list.
fn generate_with_allow_list(dev: &Client, name: &str, allowed: &str) -> String {
    let page = dev.generate(&[
        ("name", name),
        ("expires_in", "30"),
        ("scopes", "datastore:read"),
        ("allowed_ips", allowed),
    ]);
    page.assert_status(200);
    page.revealed_token().expect("token revealed")
}

fn me(client: &Client, token: &str, forwarded: Option<&str>) -> crate::helpers::Page {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(f) = forwarded {
        headers.push(("X-Forwarded-For", f));
    }
    client.get_with("/api/v1/me", &headers)
}

fn detail_page_shows_the_token_to_its_owner_and_admins_only(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let secret = dev.generate_token("deploy", &["datastore:read", "reports:write"]);
    let id = app.token_id("deploy");
    let api = app.client();
    for _ in 0..3 {
        me(&api, &secret, None).assert_status(200);
    }
    let path = format!("/settings/api-tokens/{id}");
    // Last use is written just after the answer.
    eventually("last use", || {
        dev.get(&path).body.contains("from <code>127.0.0.1</code>")
    });
    let page = dev.get(&path);
    page.assert_status(200)
        .assert_contains("<h1>deploy <span class=\"status status-active\">Active</span>")
        .assert_contains("owned by dev@example.com")
        .assert_contains("<code>datastore:read</code> — ")
        .assert_contains("<code>reports:write</code> — ")
        .assert_contains(", 00:00 UTC (in ")
        .assert_contains("by dev@example.com")
        .assert_contains("Allowed from</dt><dd>Any address")
        .assert_contains("<svg viewBox=")
        .assert_contains("role=\"img\" aria-labelledby=\"usage-svg-title usage-svg-desc\"")
        .assert_contains("3 successful requests in the last 30 days")
        .assert_contains(&format!("<tr><td>{}</td><td>3</td></tr>", today()))
        .assert_contains("<code>token.created</code>")
        .assert_contains("Never rotated.");
    assert_eq!(page.body.matches("class=\"chart-bar\"").count(), 30);
    // Rotate here; revoke through the confirmation page that names it and
    // leads back here.
    page.assert_contains(&format!("action=\"/settings/api-tokens/{id}/rotate\""))
        .assert_contains(&format!("action=\"/settings/api-tokens/{id}/revoke\""));
    let csrf = page.csrf();
    dev.post(
        &format!("/settings/api-tokens/{id}/revoke"),
        &[("csrf_token", &csrf), ("back", "token")],
    )
    .assert_status(200)
    .assert_contains("Revoke this token?")
    .assert_contains("deploy")
    .assert_contains(&format!(
        "href=\"/settings/api-tokens/{id}\" autofocus>Cancel"
    ));
    assert_eq!(
        app.token_status(id),
        "active",
        "revoked without confirmation"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        !page.body.contains(&secret),
        "the secret is never shown again"
    );
    // The list links to it.
    dev.get("/settings/api-tokens")
        .assert_contains(&format!("href=\"/settings/api-tokens/{id}\""));

    // Admins see it; other members and wrong ids get 404, strangers sign in.
    app.admin().get(&path).assert_status(200);
    let other = app.member("other@example.com", Role::Developer);
    other.get(&path).assert_status(404);
    for bad in [
        "/settings/api-tokens/999999",
        "/settings/api-tokens/abc",
        "/settings/api-tokens/-1",
    ] {
        dev.get(bad).assert_status(404);
    }
    let stranger = app.client().get(&path);
    assert_eq!(stranger.status, 303);

    // Rotated: both pages show the chain, each linking to the other.
    let csrf = dev.csrf();
    dev.post(
        &format!("{path}/rotate"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    )
    .assert_status(200);
    let old = dev.get(&path);
    let new_id = app
        .service
        .tokens()
        .get(
            &latchkey::service::Actor::cli(),
            latchkey::domain::TokenId(id),
        )
        .expect("token")
        .replaced_by
        .expect("replaced")
        .0;
    old.assert_contains(&format!("<a href=\"/settings/api-tokens/{new_id}\">deploy"));
    dev.get(&format!("/settings/api-tokens/{new_id}"))
        .assert_contains(&format!("<a href=\"/settings/api-tokens/{id}\">deploy"))
        .assert_contains("aria-current=\"page\"")
        .assert_contains("<code>token.rotated</code>");
}

fn usage_is_flushed_each_interval_and_on_shutdown(db: &TestDb) {
    // The first instance writes its counts every 50 ms; the second only
    // each minute, and when it stops.
    let first = spawn_app_with(db, with_flush_every(50));
    let second = spawn_second(db, &first);
    first.add_member("dev@example.com", Role::Developer);
    let secret = first.create_token("dev@example.com", "ci", &["datastore:read"], 30);
    let id = first.token_id("ci");
    let admin = first.admin();
    let path = format!("/settings/api-tokens/{id}");
    let count_row = |n: u32| format!("<tr><td>{}</td><td>{n}</td></tr>", today());
    for _ in 0..5 {
        me(&first.client(), &secret, None).assert_status(200);
    }
    // Read through the second instance: the counts came from the database.
    let via_second = admin.at(&second.base);
    eventually("the first instance's flush", || {
        via_second.get(&path).body.contains(&count_row(5))
    });
    for _ in 0..2 {
        me(&second.client(), &secret, None).assert_status(200);
    }
    // Not flushed yet: the first instance still sees 5 ...
    admin.get(&path).assert_contains(&count_row(5));
    // ... until the second one stops.
    second.shut_down();
    admin.get(&path).assert_contains(&count_row(7));
    // A refused request is not a use.
    me(&first.client(), "lk_not_a_token", None).assert_status(401);
    admin.get(&path).assert_contains(&count_row(7));
}

fn allow_lists_refuse_other_addresses_like_a_bad_token(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let local = generate_with_allow_list(&dev, "local", "127.0.0.1/32, ::1");
    let remote = generate_with_allow_list(&dev, "remote", "203.0.113.0/24\n2001:db8::/32");
    let api = app.client();
    me(&api, &local, None).assert_status(200);
    let garbage = me(&api, "lk_nothing_like_a_token", None);
    garbage.assert_status(401);
    for _ in 0..3 {
        let refused = me(&api, &remote, None);
        refused.assert_status(401);
        assert_eq!(refused.body, garbage.body, "the refusal must not tell why");
        assert_eq!(
            refused.header("www-authenticate"),
            garbage.header("www-authenticate")
        );
    }
    // Audited once (a retry loop cannot flood the log), with the address.
    let remote_id = app.token_id("remote");
    let audit = app.admin().get("/settings/audit?action=token.ip_refused");
    audit.assert_status(200);
    assert_eq!(
        audit
            .body
            .matches(&format!("token #{remote_id} presented from 127.0.0.1"))
            .count(),
        1,
        "{}",
        audit.body
    );
    // Shown in the list and on the detail page.
    dev.get("/settings/api-tokens")
        .assert_contains("only from 203.0.113.0/24, 2001:db8::/32")
        .assert_contains("only from 127.0.0.1/32, ::1/128");
    dev.get(&format!("/settings/api-tokens/{remote_id}"))
        .assert_contains("<code>203.0.113.0/24</code> <code>2001:db8::/32</code>")
        .assert_contains("only from 203.0.113.0/24, 2001:db8::/32");
    // Introspection reports the list to the resource server.
    let introspector = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let answer = api.api_post(
        "/api/v1/introspect",
        Some(&introspector),
        "application/x-www-form-urlencoded",
        format!("token={remote}").as_bytes(),
    );
    answer.assert_status(200);
    assert_eq!(
        answer.json()["allowed_ips"],
        serde_json::json!(["203.0.113.0/24", "2001:db8::/32"])
    );
}

fn bad_allow_lists_are_explained_beside_the_field(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let before = app.token_count();
    for (input, message) in [
        (
            "10.0.0.1/8",
            "“10.0.0.1/8” has bits set past /8; did you mean 10.0.0.0/8?",
        ),
        (
            "203.0.113.0/24, example.com",
            "“example.com” is not an IPv4 or IPv6 address or range",
        ),
        ("2001:db8::/129", "the prefix length must be 0 to 128"),
        ("10.0.0.0/33", "the prefix length must be 0 to 32"),
    ] {
        let page = dev.generate(&[
            ("name", "ci"),
            ("expires_in", "30"),
            ("scopes", "datastore:read"),
            ("allowed_ips", input),
        ]);
        page.assert_status(422)
            .assert_contains("<p class=\"field-error\" id=\"allowed_ips-error\">")
            .assert_contains(&askama_escaped(message))
            .assert_contains("aria-invalid=\"true\"");
        // What was typed comes back to be corrected.
        page.assert_contains(&askama_escaped(input));
    }
    let many = vec!["10.0.0.1"; 33].join(",");
    dev.generate(&[
        ("name", "ci"),
        ("expires_in", "30"),
        ("scopes", "datastore:read"),
        ("allowed_ips", &many),
    ])
    .assert_status(422)
    .assert_contains("At most 32 address ranges per token.");
    assert_eq!(app.token_count(), before, "a refused form created a token");
}

/// The text as the page writes it.
fn askama_escaped(s: &str) -> String {
    s.replace('&', "&#38;")
}

fn forwarded_addresses_count_only_from_trusted_proxies(db: &TestDb) {
    // Behind a proxy on 127.0.0.1 (and one more hop in 10.0.0.0/8) ...
    let proxied = spawn_app_with(db, trusting("127.0.0.1/32, 10.0.0.0/8"));
    // ... and an instance that trusts no proxy, on the same database.
    let direct = spawn_second_with(db, &proxied, ServerConfig::default());
    let dev = proxied.member("dev@example.com", Role::Developer);
    let v4 = generate_with_allow_list(&dev, "office", "203.0.113.0/24");
    let v6 = generate_with_allow_list(&dev, "office v6", "2001:db8::/32");
    let behind = proxied.client();
    let exposed = direct.client();

    me(&behind, &v4, Some("203.0.113.5")).assert_status(200);
    me(&behind, &v6, Some("2001:db8::7")).assert_status(200);
    me(&behind, &v4, Some("198.51.100.7")).assert_status(401);
    // The nearest untrusted hop is the client; what lies beyond it is not
    // believed.
    me(&behind, &v4, Some("203.0.113.5, 10.1.2.3")).assert_status(200);
    me(&behind, &v4, Some("203.0.113.5, 198.51.100.7")).assert_status(401);
    // A malformed hop nearer than any client makes the client unknown
    // (never the proxy itself): refused.
    me(&behind, &v4, Some("203.0.113.5, not-an-address")).assert_status(401);
    // Beyond the client, garbage is not read at all; a port is allowed.
    me(&behind, &v4, Some("garbage, 203.0.113.5")).assert_status(200);
    me(&behind, &v4, Some("203.0.113.5:4444")).assert_status(200);
    me(&behind, &v4, Some("garbage, 198.51.100.7")).assert_status(401);
    // Spoofed: the peer is not a trusted proxy, so the header is ignored.
    me(&exposed, &v4, Some("203.0.113.5")).assert_status(401);
    me(&exposed, &v6, Some("2001:db8::7")).assert_status(401);

    // The address recorded is the forwarded one.
    let id = proxied.token_id("office");
    eventually("last use from the forwarded address", || {
        dev.get(&format!("/settings/api-tokens/{id}"))
            .body
            .contains("from <code>203.0.113.5</code>")
    });
    // The refusal through the untrusted instance names the real peer.
    proxied
        .admin()
        .get("/settings/audit?action=token.ip_refused")
        .assert_contains(&format!("token #{id} presented from 127.0.0.1"))
        .assert_contains(&format!("token #{id} presented from 198.51.100.7"));
}

fn ipv6_clients_are_matched_against_ipv6_ranges(db: &TestDb) {
    let app = spawn_app_with(
        db,
        ServerConfig {
            bind: "[::1]:0".into(),
            ..ServerConfig::default()
        },
    );
    assert!(app.base.starts_with("http://[::1]:"), "{}", app.base);
    let dev = app.member("dev@example.com", Role::Developer);
    let loopback = generate_with_allow_list(&dev, "v6 loopback", "::1/128");
    let wide = generate_with_allow_list(&dev, "v6 range", "::/1");
    let v4_only = generate_with_allow_list(&dev, "v4 only", "127.0.0.0/8");
    let api = app.client();
    me(&api, &loopback, None).assert_status(200);
    me(&api, &wide, None).assert_status(200);
    me(&api, &v4_only, None).assert_status(401);
    let id = app.token_id("v6 loopback");
    eventually("last use from ::1", || {
        dev.get(&format!("/settings/api-tokens/{id}"))
            .body
            .contains("from <code>::1</code>")
    });
}

fn cli_sets_and_shows_allow_lists(db: &TestDb) {
    let app: TestApp = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let expires = crate::helpers::in_days(30);
    let token = db
        .cli(&[
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            "ci",
            "--expires-on",
            &expires,
            "--scope",
            "datastore:read",
            "--allow-ip",
            "203.0.113.0/24",
            "--allow-ip",
            "2001:db8::/32",
        ])
        .ok();
    me(&app.client(), token.trim(), None).assert_status(401);
    let listed: serde_json::Value =
        serde_json::from_str(&db.cli(&["token", "list", "--json"]).ok()).expect("json");
    assert_eq!(
        listed[0]["allowed_ips"],
        serde_json::json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    let table = db.cli(&["token", "list"]).ok();
    assert!(
        table.contains("(only from 203.0.113.0/24, 2001:db8::/32)"),
        "{table}"
    );
    let before = app.token_count();
    for (range, message) in [
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
        (
            "300.1.1.1",
            "“300.1.1.1” is not an IPv4 or IPv6 address or range",
        ),
    ] {
        db.cli(&[
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            "ci2",
            "--expires-on",
            &expires,
            "--scope",
            "datastore:read",
            "--allow-ip",
            range,
        ])
        .fails(2, message);
    }
    assert_eq!(app.token_count(), before);
}

#[test]
fn serve_refuses_bad_trusted_proxies() {
    let db = TestDb::sqlite();
    let out = std::process::Command::new(crate::helpers::BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .env("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
        .output()
        .expect("run serve");
    crate::helpers::CliOutput(out).fails(
        2,
        "--trusted-proxies (LATCHKEY_TRUSTED_PROXIES): “proxy.internal” is not an IPv4 or IPv6 address or range",
    );
}
