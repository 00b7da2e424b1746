//! Guard rails (SPEC §14), as far as they go: canary tokens, and a
//! token's description, set in the console, the CLI and the API, shown on
//! the token page and in every listing. Both backends.

use crate::helpers::{TestDb, in_days, spawn_app, spawn_app_with, spawn_second};
use latchkey::domain::Role;

both_backends!(
    a_description_travels_from_every_door_to_the_page_and_the_listings,
    a_canary_never_works_and_every_use_is_reported,
    a_suspended_token_stops_until_resumed_through_every_door,
    a_token_resumed_after_its_expiry_stays_refused_and_says_so,
    revoke_all_stops_every_earlier_token_of_a_member_and_no_later_one,
    revoke_all_for_a_service_account_and_the_organisation,
    unused_tokens_are_flagged_then_revoked_by_the_policy_and_by_hand,
    a_lower_maximum_lifetime_can_stop_existing_tokens_after_a_preview,
    a_scopes_page_says_what_each_minimum_role_would_take,
    two_instances_sweeping_at_once_revoke_each_unused_token_once,
);

/// Waits (5 s at most) for `n` events of `action`: reports are written
/// after the answer, so the answer's timing says nothing.
fn wait_for_audit(app: &crate::helpers::TestApp, action: &str, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.audit_count(action) < n {
        assert!(std::time::Instant::now() < deadline, "no {action} recorded");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn a_canary_never_works_and_every_use_is_reported(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let page = dev.generate(&[
        ("name", "planted in the repo"),
        ("expires_in", "30"),
        ("scopes", "tokens:read"),
        ("canary", "on"),
    ]);
    page.assert_status(200);
    let canary = page.revealed_token().expect("revealed once, as any token");
    // Answered exactly as an unknown token of the same shape.
    let unknown = app.create_token("dev@example.com", "gone", &["tokens:read"], 30);
    let gone_id = app.token_id("gone");
    db.cli(&["token", "revoke", &gone_id.to_string()]).ok();
    let api = app.client();
    let used = api.get_with(
        "/api/v1/me",
        &[
            ("Authorization", &format!("Bearer {canary}")),
            ("User-Agent", "leaked-key-scanner/1.0"),
        ],
    );
    let other = api.api("GET", "/api/v1/me", Some(&unknown));
    used.assert_status(401);
    assert_eq!(used.body, other.body);
    assert_eq!(
        used.header("www-authenticate"),
        other.header("www-authenticate")
    );
    // Introspection says inactive, nothing more.
    let service = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let looked = api.api_post(
        "/api/v1/introspect",
        Some(&service),
        "application/x-www-form-urlencoded",
        format!("token={canary}").as_bytes(),
    );
    looked.assert_status(200);
    assert_eq!(looked.json(), serde_json::json!({ "active": false }));
    // Reported: the audit log names the address and the client.
    wait_for_audit(&app, "token.canary_used", 1);
    let admin = app.admin();
    admin
        .get("/settings/audit?action=token.canary_used")
        .assert_contains("leaked-key-scanner/1.0")
        .assert_contains("127.0.0.1");
    // The list shows the badge; the token page the uses.
    let id = app.token_id("planted in the repo");
    dev.get("/settings/api-tokens")
        .assert_contains("status-canary");
    dev.get(&format!("/settings/api-tokens/{id}"))
        .assert_contains("id=\"canary-uses\"")
        .assert_contains("Used once");

    // The CLI and the API make canaries too; listings say which.
    let expires = in_days(3);
    db.cli(&[
        "token",
        "create",
        "--email",
        "dev@example.com",
        "--name",
        "cli canary",
        "--expires-on",
        &expires,
        "--scope",
        "tokens:read",
        "--canary",
    ])
    .ok();
    let parent = app.create_token(
        "dev@example.com",
        "parent",
        &["tokens:create", "tokens:read"],
        30,
    );
    app.client()
        .api_post(
            "/api/v1/tokens",
            Some(&parent),
            "application/json",
            serde_json::json!({
                "name": "api canary",
                "scopes": ["tokens:read"],
                "expires_on": in_days(7),
                "canary": true,
            })
            .to_string()
            .as_bytes(),
        )
        .assert_status(201);
    let listed: serde_json::Value =
        serde_json::from_str(&db.cli(&["token", "list", "--json"]).ok()).expect("json");
    let canaries: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter(|t| t["canary"] == true)
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(canaries.len(), 3, "{canaries:?}");
    // Ending in 3 days, yet not "expiring": no one needs that notice.
    let expiring = db
        .cli(&["token", "list", "--status", "expiring", "--json"])
        .ok();
    assert!(!expiring.contains("cli canary"), "{expiring}");
}

fn a_description_travels_from_every_door_to_the_page_and_the_listings(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let said = "Deploys from CI.\nAsk #platform before revoking.";
    let page = dev.generate(&[
        ("name", "deploy"),
        ("expires_in", "30"),
        ("scopes", "tokens:read"),
        ("description", said),
    ]);
    page.assert_status(200);
    let id = app.token_id("deploy");
    dev.get(&format!("/settings/api-tokens/{id}"))
        .assert_status(200)
        .assert_contains("Deploys from CI.")
        .assert_contains("Ask #platform before revoking.");
    // Too long, or with a control character: said beside the field, and
    // nothing is made.
    let before = app.token_count();
    let long = "x".repeat(501);
    for (bad, says) in [
        (long.as_str(), "at most 500 characters"),
        ("bell \u{7} here", "cannot contain control characters"),
    ] {
        dev.generate(&[
            ("name", "refused"),
            ("expires_in", "30"),
            ("scopes", "tokens:read"),
            ("description", bad),
        ])
        .assert_status(422)
        .assert_contains(says)
        .assert_contains("id=\"description-error\"");
    }
    assert_eq!(app.token_count(), before);

    // The CLI sets it, and its listing shows it.
    let expires = in_days(30);
    let args = |description: &'static str| {
        vec![
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            "nightly",
            "--expires-on",
            expires.as_str(),
            "--scope",
            "tokens:read",
            "--description",
            description,
        ]
    };
    db.cli(&args("Nightly backup job")).ok();
    let listed = db.cli(&["token", "list", "--json"]).ok();
    let tokens: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let described: Vec<_> = tokens
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["description"].as_str())
        .collect();
    assert!(described.contains(&"Nightly backup job"), "{listed}");
    assert!(described.contains(&said), "{listed}");
    db.cli(&args("   ")).fails(2, "--description");

    // The API sets it too, and lists it.
    let parent = app.create_token(
        "dev@example.com",
        "parent",
        &["tokens:create", "tokens:read"],
        30,
    );
    let made = app.client().api_post(
        "/api/v1/tokens",
        Some(&parent),
        "application/json",
        serde_json::json!({
            "name": "minted",
            "scopes": ["tokens:read"],
            "expires_on": in_days(7),
            "description": "Made by the pipeline",
        })
        .to_string()
        .as_bytes(),
    );
    made.assert_status(201);
    let list = app.client().api("GET", "/api/v1/tokens", Some(&parent));
    list.assert_status(200)
        .assert_contains("Made by the pipeline");
}

fn a_suspended_token_stops_until_resumed_through_every_door(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let token = app.create_token(
        "dev@example.com",
        "paused",
        &["tokens:read", "tokens:revoke"],
        30,
    );
    let id = app.token_id("paused");
    let api = app.client();
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);

    // The console: the token's page suspends it.
    let page = dev.get(&format!("/settings/api-tokens/{id}"));
    let csrf = page.csrf();
    let done = dev.post(
        &format!("/settings/api-tokens/{id}/suspend"),
        &[("csrf_token", csrf.as_str())],
    );
    done.assert_status(303);
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);
    let introspector = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let looked = api.api_post(
        "/api/v1/introspect",
        Some(&introspector),
        "application/x-www-form-urlencoded",
        format!("token={token}").as_bytes(),
    );
    assert_eq!(looked.json(), serde_json::json!({ "active": false }));
    dev.get(&format!("/settings/api-tokens/{id}"))
        .assert_contains("Token suspended")
        .assert_contains("Resume");
    // Filterable, and not "active".
    dev.get("/settings/api-tokens?status=suspended")
        .assert_contains("paused");
    assert!(
        !dev.get("/settings/api-tokens?status=active")
            .body
            .contains(">paused<")
    );
    assert_eq!(app.token_status(id), "suspended");
    // It cannot be rotated while suspended; it can be revoked.
    assert_eq!(app.audit_count("token.suspended"), 1);

    // The CLI resumes it; it works again, as it was.
    db.cli(&["token", "resume", &id.to_string()]).ok();
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);
    db.cli(&["token", "resume", &id.to_string()]).ok();
    assert_eq!(app.audit_count("token.resumed"), 1);

    // The API suspends and resumes with tokens:revoke.
    let other = app.create_token("dev@example.com", "other", &["tokens:read"], 30);
    let other_id = app.token_id("other");
    let suspended = api.api_post(
        &format!("/api/v1/tokens/{other_id}/suspend"),
        Some(&token),
        "application/json",
        b"",
    );
    suspended.assert_status(200);
    assert_eq!(suspended.json()["status"], "suspended");
    api.api("GET", "/api/v1/me", Some(&other))
        .assert_status(401);
    api.api_post(
        &format!("/api/v1/tokens/{other_id}/resume"),
        Some(&token),
        "application/json",
        b"",
    )
    .assert_status(200);
    api.api("GET", "/api/v1/me", Some(&other))
        .assert_status(200);
    // Without the scope: 403; someone else's token: 404.
    api.api_post(
        &format!("/api/v1/tokens/{other_id}/suspend"),
        Some(&other),
        "application/json",
        b"",
    )
    .assert_status(403);
    let admins = app.create_token(&app.admin_email, "admins", &["tokens:read"], 30);
    let admins_id = app.token_id("admins");
    api.api_post(
        &format!("/api/v1/tokens/{admins_id}/suspend"),
        Some(&token),
        "application/json",
        b"",
    )
    .assert_status(404);
    api.api("GET", "/api/v1/me", Some(&admins))
        .assert_status(200);

    // Revoking stays final: a revoked token is neither suspended nor resumed.
    db.cli(&["token", "suspend", &other_id.to_string()]).ok();
    db.cli(&["token", "revoke", &other_id.to_string()]).ok();
    db.cli(&["token", "resume", &other_id.to_string()])
        .fails(1, "revoking is final");
    api.api("GET", "/api/v1/me", Some(&other))
        .assert_status(401);
}

fn revoke_all_stops_every_earlier_token_of_a_member_and_no_later_one(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let first = app.create_token("dev@example.com", "laptop", &["tokens:read"], 30);
    let second = app.create_token("dev@example.com", "ci", &["tokens:read"], 30);
    let canary = dev.generate(&[
        ("name", "tripwire"),
        ("expires_in", "30"),
        ("scopes", "tokens:read"),
        ("canary", "on"),
    ]);
    let canary = canary.revealed_token().expect("the canary, once");
    let others = app.create_token(&app.admin_email, "admins", &["tokens:read"], 30);
    let api = app.client();

    // The member's own account page: the first post only says what it
    // will do, and changes nothing.
    let account = dev.get("/settings/account");
    account.assert_contains("Revoke all my tokens");
    let csrf = account.csrf();
    let preview = dev.post(
        "/settings/account/revoke-all",
        &[("csrf_token", csrf.as_str())],
    );
    preview
        .assert_status(200)
        .assert_contains("2 tokens</strong> of <strong>dev@example.com");
    api.api("GET", "/api/v1/me", Some(&first))
        .assert_status(200);
    assert_eq!(app.audit_count("tokens.revoked_before"), 0);

    // Confirmed: both stop, the canary is left, the admin's token works.
    let done = dev.post(
        "/settings/account/revoke-all",
        &[("csrf_token", csrf.as_str()), ("confirm", "yes")],
    );
    done.assert_status(303);
    for token in [&first, &second] {
        api.api("GET", "/api/v1/me", Some(token)).assert_status(401);
    }
    api.api("GET", "/api/v1/me", Some(&others))
        .assert_status(200);
    assert_eq!(app.token_status(app.token_id("laptop")), "revoked");
    assert_eq!(app.token_status(app.token_id("tripwire")), "active");
    api.api("GET", "/api/v1/me", Some(&canary))
        .assert_status(401);
    wait_for_audit(&app, "token.canary_used", 1);
    assert_eq!(app.audit_count("tokens.revoked_before"), 1);
    dev.get("/settings/account")
        .assert_contains("2 tokens revoked");
    dev.get(&format!("/settings/api-tokens/{}", app.token_id("laptop")))
        .assert_contains("revoke all");

    // A token made afterwards works.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let later = app.create_token("dev@example.com", "new laptop", &["tokens:read"], 30);
    api.api("GET", "/api/v1/me", Some(&later))
        .assert_status(200);

    // Another member may not do it for them; an admin may, from the
    // members page; the CLI too.
    let viewer = app.member("viewer@example.com", Role::Viewer);
    let dev_id = app.member_id("dev@example.com");
    let vcsrf = viewer.get("/settings/account").csrf();
    let refused = viewer.post(
        &format!("/settings/members/{dev_id}/revoke-all"),
        &[("csrf_token", vcsrf.as_str()), ("confirm", "yes")],
    );
    assert_eq!(refused.status, 403);
    api.api("GET", "/api/v1/me", Some(&later))
        .assert_status(200);
    let admin = app.admin();
    let members = admin.get("/settings/members");
    members.assert_contains(&format!("/settings/members/{dev_id}/revoke-all"));
    let acsrf = members.csrf();
    admin
        .post(
            &format!("/settings/members/{dev_id}/revoke-all"),
            &[("csrf_token", acsrf.as_str())],
        )
        .assert_status(200)
        .assert_contains("1 token</strong> of <strong>dev@example.com");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let out = db
        .cli(&["token", "revoke-all", "--email", "dev@example.com"])
        .ok();
    assert!(out.contains("1 token(s) revoked"), "{out}");
    // Listed with its reason, as the API schema names it.
    let listed = db
        .cli(&[
            "token",
            "list",
            "--email",
            "dev@example.com",
            "--status",
            "revoked",
            "--json",
        ])
        .ok();
    assert!(
        listed.contains("\"revoked_reason\": \"revoke_all\""),
        "{listed}"
    );
    api.api("GET", "/api/v1/me", Some(&later))
        .assert_status(401);
    api.api("GET", "/api/v1/me", Some(&others))
        .assert_status(200);

    // Mistakes change nothing.
    db.cli(&["token", "revoke-all"]).fails(2, "--email");
    db.cli(&["token", "suspend", "99999"])
        .fails(1, "no token with the id 99999");
    db.cli(&["token", "revoke-all", "--email", "nobody@example.com"])
        .fails(1, "nobody@example.com");
    db.cli(&["token", "revoke-all", "--email", "x@example.com", "--org"])
        .fails(2, "cannot be used with");
    api.api("GET", "/api/v1/me", Some(&others))
        .assert_status(200);
}

fn revoke_all_for_a_service_account_and_the_organisation(db: &TestDb) {
    let app = spawn_app(db);
    db.cli(&[
        "service-account",
        "add",
        "--name",
        "deployer",
        "--role",
        "developer",
    ])
    .ok();
    let machine = db
        .cli(&[
            "token",
            "create",
            "--service-account",
            "deployer",
            "--name",
            "deploy",
            "--expires-on",
            &in_days(30),
            "--scope",
            "tokens:read",
        ])
        .ok();
    let machine = machine.trim().to_owned();
    let person = app.create_token(&app.admin_email, "mine", &["tokens:read"], 30);
    let api = app.client();
    api.api("GET", "/api/v1/me", Some(&machine))
        .assert_status(200);

    // The service account's page.
    let admin = app.admin();
    let id = app.member_id_of_service("deployer");
    let page = admin.get(&format!("/settings/service-accounts/{id}"));
    let csrf = page.csrf();
    admin
        .post(
            &format!("/settings/service-accounts/{id}/revoke-all"),
            &[("csrf_token", csrf.as_str())],
        )
        .assert_status(200)
        .assert_contains("1 token</strong> of <strong>deployer");
    admin
        .post(
            &format!("/settings/service-accounts/{id}/revoke-all"),
            &[("csrf_token", csrf.as_str()), ("confirm", "yes")],
        )
        .assert_status(303);
    api.api("GET", "/api/v1/me", Some(&machine))
        .assert_status(401);
    api.api("GET", "/api/v1/me", Some(&person))
        .assert_status(200);

    // The organisation: the policy page names the count first; only
    // admins; then every earlier token stops, the actor's own included.
    let dev = app.member("dev@example.com", Role::Developer);
    let dev_token = app.create_token("dev@example.com", "dev's", &["tokens:read"], 30);
    let dcsrf = dev.get("/settings/account").csrf();
    let refused = dev.post(
        "/settings/policy/revoke-all",
        &[("csrf_token", dcsrf.as_str()), ("confirm", "yes")],
    );
    assert_eq!(refused.status, 403);
    api.api("GET", "/api/v1/me", Some(&dev_token))
        .assert_status(200);
    let policy = admin.get("/settings/policy");
    policy.assert_contains("/settings/policy/revoke-all");
    let pcsrf = policy.csrf();
    admin
        .post(
            "/settings/policy/revoke-all",
            &[("csrf_token", pcsrf.as_str())],
        )
        .assert_status(200)
        .assert_contains("2 tokens</strong> of <strong>the organisation");
    let out = db.cli(&["token", "revoke-all", "--org"]).ok();
    assert!(out.contains("2 token(s) revoked"), "{out}");
    for token in [&person, &dev_token] {
        api.api("GET", "/api/v1/me", Some(token)).assert_status(401);
    }
    assert_eq!(app.audit_count("tokens.revoked_before"), 2);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let after = app.create_token("dev@example.com", "after", &["tokens:read"], 30);
    api.api("GET", "/api/v1/me", Some(&after))
        .assert_status(200);
    admin
        .get("/settings/audit?action=tokens.revoked_before")
        .assert_contains("2 tokens revoked");

    // The watermark itself is checked at use time: a token stamped before
    // it but written after (an instance whose clock runs behind) is
    // refused although its row was never revoked.
    app.service.clock().advance(time::Duration::minutes(-10));
    let skewed = app.create_token("dev@example.com", "skewed", &["tokens:read"], 30);
    api.api("GET", "/api/v1/me", Some(&skewed))
        .assert_status(401);
    app.service.clock().advance(time::Duration::minutes(10));
    api.api("GET", "/api/v1/me", Some(&skewed))
        .assert_status(401);
    api.api("GET", "/api/v1/me", Some(&after))
        .assert_status(200);
}

/// Posts the policy form with these fields besides the usual ones.
fn post_policy(admin: &crate::helpers::Client, extra: &[(&str, &str)]) -> crate::helpers::Page {
    let csrf = admin.get("/settings/policy").csrf();
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("max_lifetime_days", "365"),
        ("default_expiry_days", "30"),
    ];
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        form.push((name, value));
    }
    admin.post("/settings/policy", &form)
}

fn unused_tokens_are_flagged_then_revoked_by_the_policy_and_by_hand(db: &TestDb) {
    let config = latchkey::config::ServerConfig {
        inactivity_sweep: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let app = spawn_app_with(db, config);
    let admin = app.admin();
    let dev = app.member("dev@example.com", Role::Developer);
    let idle = app.create_token("dev@example.com", "idle", &["tokens:read"], 300);
    let used = app.create_token("dev@example.com", "used", &["tokens:read"], 300);
    let held = app.create_token("dev@example.com", "held", &["tokens:read"], 300);
    db.cli(&["token", "suspend", &app.token_id("held").to_string()])
        .ok();
    let api = app.client();
    api.api("GET", "/api/v1/me", Some(&used)).assert_status(200);

    // Bad days are refused by field, and change nothing.
    for bad in ["6", "3651", "ninety", "-7"] {
        post_policy(&admin, &[("inactive_after_days", bad)])
            .assert_status(422)
            .assert_contains("after 7 to 3650 days")
            .assert_contains(&format!("value=\"{bad}\""));
    }
    // Nothing is unused yet: saved at once.
    post_policy(&admin, &[("inactive_after_days", "30")]).assert_status(303);
    admin
        .get("/settings/policy")
        .assert_contains("id=\"inactive_after_days\" name=\"inactive_after_days\" type=\"text\" inputmode=\"numeric\" value=\"30\"");
    assert!(
        !dev.get("/settings/api-tokens")
            .body
            .contains("Inactive soon")
    );

    // 24 days on, both unused tokens are flagged; a use clears the flag.
    app.service.clock().advance(time::Duration::days(24));
    dev.sign_in("dev@example.com", crate::helpers::PASSWORD);
    let list = dev.get("/settings/api-tokens?status=all");
    assert_eq!(
        list.body.matches(">Inactive soon<").count(),
        2,
        "{}",
        list.body
    );
    api.api("GET", "/api/v1/me", Some(&used)).assert_status(200);
    // Last use is written after the answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while dev
        .get("/settings/api-tokens?status=all")
        .body
        .matches(">Inactive soon<")
        .count()
        != 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the use did not clear the flag"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    dev.get(&format!("/settings/api-tokens/{}", app.token_id("idle")))
        .assert_contains("id=\"inactive-soon\"");
    // One webhook notice per token and idle spell.
    assert_eq!(
        app.service
            .webhooks()
            .enqueue_inactivity_notices()
            .expect("notices"),
        1
    );
    assert_eq!(
        app.service
            .webhooks()
            .enqueue_inactivity_notices()
            .expect("notices"),
        0
    );

    // Past 30 days the background sweep revokes the unused token, once.
    app.service.clock().advance(time::Duration::days(7));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.token_status(app.token_id("idle")) != "revoked" {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not revoke it"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    api.api("GET", "/api/v1/me", Some(&idle)).assert_status(401);
    api.api("GET", "/api/v1/me", Some(&used)).assert_status(200);
    assert_eq!(app.token_status(app.token_id("held")), "suspended");
    dev.sign_in("dev@example.com", crate::helpers::PASSWORD);
    assert_eq!(app.service.tokens().sweep_inactive().expect("sweep"), 0);
    dev.get(&format!("/settings/api-tokens/{}", app.token_id("idle")))
        .assert_contains("inactivity");
    db.cli(&["token", "resume", &app.token_id("held").to_string()])
        .ok();
    let _ = held;

    // By hand (the command line runs on the real clock): a token made ten
    // days ago and never used. A dry run lists it and changes nothing; then
    // it is revoked.
    app.service.clock().advance(time::Duration::days(-31 - 10));
    let old = app.create_token("dev@example.com", "old", &["tokens:read"], 300);
    app.service.clock().advance(time::Duration::days(10));
    let listed = db
        .cli(&[
            "token",
            "prune-inactive",
            "--days",
            "5",
            "--dry-run",
            "--json",
        ])
        .ok();
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["dry_run"], true);
    assert_eq!(listed["days"], 5);
    let names: Vec<&str> = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["old"]);
    // (A use would make it used: its status tells.)
    assert_eq!(app.token_status(app.token_id("old")), "active");
    let out = db.cli(&["token", "prune-inactive", "--days", "5"]).ok();
    assert!(
        out.contains("Revoked 1 token(s) unused for 5 days or more."),
        "{out}"
    );
    assert!(out.contains("\told\t"), "{out}");
    api.api("GET", "/api/v1/me", Some(&old)).assert_status(401);
    api.api("GET", "/api/v1/me", Some(&used)).assert_status(200);
    db.cli(&["token", "prune-inactive", "--days", "0"])
        .fails(2, "from 1 to 3650");
    db.cli(&["token", "prune-inactive", "--days", "x"])
        .fails(2, "from 1 to 3650");
}

fn a_lower_maximum_lifetime_can_stop_existing_tokens_after_a_preview(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let dev = app.member("dev@example.com", Role::Developer);
    let long = app.create_token("dev@example.com", "long", &["tokens:read"], 300);
    let short = app.create_token("dev@example.com", "short", &["tokens:read"], 20);
    // A suspended token does not work now: it is not counted as stopping.
    app.create_token("dev@example.com", "paused", &["tokens:read"], 300);
    db.cli(&["token", "suspend", &app.token_id("paused").to_string()])
        .ok();
    let api = app.client();

    // Lowering the maximum alone leaves existing tokens be: saved at once.
    post_policy(&admin, &[("max_lifetime_days", "90")]).assert_status(303);
    api.api("GET", "/api/v1/me", Some(&long)).assert_status(200);

    // Applied to existing tokens: the first post says what it will do and
    // changes nothing.
    let preview = post_policy(
        &admin,
        &[
            ("max_lifetime_days", "90"),
            ("lifetime_applies_to_existing", "on"),
        ],
    );
    preview
        .assert_status(200)
        .assert_contains("1 working token stops at once")
        .assert_contains("name=\"lifetime_applies_to_existing\" value=\"on\"");
    api.api("GET", "/api/v1/me", Some(&long)).assert_status(200);
    assert_eq!(app.audit_count("token.policy_blocked"), 0);

    let confirmed = post_policy(
        &admin,
        &[
            ("max_lifetime_days", "90"),
            ("lifetime_applies_to_existing", "on"),
            ("confirm", "yes"),
        ],
    );
    confirmed.assert_status(303);
    api.api("GET", "/api/v1/me", Some(&long)).assert_status(401);
    api.api("GET", "/api/v1/me", Some(&short))
        .assert_status(200);
    assert_eq!(app.audit_count("token.policy_blocked"), 1);
    let introspector = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let looked = api.api_post(
        "/api/v1/introspect",
        Some(&introspector),
        "application/x-www-form-urlencoded",
        format!("token={long}").as_bytes(),
    );
    assert_eq!(looked.json(), serde_json::json!({ "active": false }));
    // Resuming a token the policy stops says so.
    let resumed = db
        .cli(&["token", "resume", &app.token_id("paused").to_string()])
        .ok();
    assert!(
        resumed.contains("is resumed, but still refused. Stopped by the policy"),
        "{resumed}"
    );
    let long_id = app.token_id("long");
    dev.get(&format!("/settings/api-tokens/{long_id}"))
        .assert_contains("id=\"policy-blocked\"")
        .assert_contains("longer than the maximum of 90 days");
    dev.get("/settings/api-tokens")
        .assert_contains("Stopped by the policy");
    admin
        .get("/settings/audit?action=token.policy_blocked")
        .assert_contains("lifetime of 300 days");

    // A longer maximum lets it work again; nothing stops, so no preview.
    post_policy(
        &admin,
        &[
            ("max_lifetime_days", "365"),
            ("lifetime_applies_to_existing", "on"),
        ],
    )
    .assert_status(303);
    api.api("GET", "/api/v1/me", Some(&long)).assert_status(200);
}

fn a_scopes_page_says_what_each_minimum_role_would_take(db: &TestDb) {
    let app = spawn_app(db);
    db.cli(&[
        "scope",
        "add",
        "deploy:run",
        "--description",
        "Run deploys",
        "--min-role",
        "developer",
    ])
    .ok();
    let _viewer = app.member("viewer@example.com", Role::Viewer);
    let dev = app.member("dev@example.com", Role::Developer);
    let token = dev.generate_token("deployer", &["deploy:run", "tokens:read"]);
    let api = app.client();
    let scopes = |t: &str| api.api("GET", "/api/v1/me", Some(t)).json()["token"]["scopes"].clone();
    assert_eq!(
        scopes(&token),
        serde_json::json!(["tokens:read", "deploy:run"])
    );

    let admin = app.admin();
    let csrf = admin.get("/settings/scopes/deploy:run").csrf();
    let edit = |role: &str, _: bool| {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("description", "Run deploys"),
            ("group", ""),
            ("min_role", role),
        ];
        admin.post("/settings/scopes/deploy:run", &form)
    };
    // The scope's page says what each other minimum role would do now,
    // before anything is saved.
    admin
        .get("/settings/scopes/deploy:run")
        .assert_contains("Raised to admin: 1 active token loses deploy:run on its next request; 1 member&#39;s form changes.")
        .assert_contains("Lowered to viewer: no token loses it; 1 member&#39;s form changes");
    assert_eq!(
        scopes(&token),
        serde_json::json!(["tokens:read", "deploy:run"])
    );
    assert_eq!(app.audit_count("scope.changed"), 0);
    edit("admin", false).assert_status(303);
    assert_eq!(scopes(&token), serde_json::json!(["tokens:read"]));
    admin
        .get("/settings/audit?action=scope.changed")
        .assert_contains("1 active token(s) lose it");
    admin
        .get("/settings/scopes/deploy:run")
        .assert_contains("Lowered to developer: no token loses it; 1 member&#39;s form changes");
    edit("developer", false).assert_status(303);
    assert_eq!(
        scopes(&token),
        serde_json::json!(["tokens:read", "deploy:run"])
    );
    // Retiring names the count from the code that retires.
    let rcsrf = admin.get("/settings/scopes/deploy:run").csrf();
    admin
        .post(
            "/settings/scopes/deploy:run/retire",
            &[("csrf_token", rcsrf.as_str())],
        )
        .assert_status(200)
        .assert_contains("1 active token loses <code>deploy:run</code>");
    assert_eq!(
        scopes(&token),
        serde_json::json!(["tokens:read", "deploy:run"])
    );
}

fn two_instances_sweeping_at_once_revoke_each_unused_token_once(db: &TestDb) {
    let app = spawn_app(db);
    let second = spawn_second(db, &app);
    app.add_member("dev@example.com", Role::Developer);
    for n in 0..6 {
        app.create_token(
            "dev@example.com",
            &format!("unused {n}"),
            &["tokens:read"],
            300,
        );
    }
    post_policy(&app.admin(), &[("inactive_after_days", "7")]).assert_status(303);
    // The second instance's clock runs a second behind the first's: its
    // sweep must not take the first's revocations for future ones.
    app.service.clock().advance(time::Duration::days(8));
    second
        .service
        .clock()
        .advance(time::Duration::days(8) - time::Duration::seconds(1));
    let (a, b) = (app.service.clone(), second.service.clone());
    let first = std::thread::spawn(move || a.tokens().sweep_inactive().expect("sweep"));
    let other = std::thread::spawn(move || b.tokens().sweep_inactive().expect("sweep"));
    let revoked = first.join().expect("thread") + other.join().expect("thread");
    assert_eq!(revoked, 6);
    assert_eq!(app.audit_count("token.revoked"), 6);
}

fn a_token_resumed_after_its_expiry_stays_refused_and_says_so(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let admin = app.create_token(
        &app.admin_email,
        "ops",
        &["tokens:read", "tokens:revoke"],
        30,
    );
    let late = app.create_token("dev@example.com", "late", &["tokens:read"], 2);
    let late_id = app.token_id("late");
    let page_id = {
        app.create_token("dev@example.com", "page", &["tokens:read"], 2);
        app.token_id("page")
    };
    let api = app.client();
    for id in [late_id, page_id] {
        api.api_post(
            &format!("/api/v1/tokens/{id}/suspend"),
            Some(&admin),
            "application/json",
            b"",
        )
        .assert_status(200);
    }
    // Both expire while suspended.
    app.service.clock().advance(time::Duration::days(3));
    let resumed = api.api_post(
        &format!("/api/v1/tokens/{late_id}/resume"),
        Some(&admin),
        "application/json",
        b"",
    );
    resumed.assert_status(200);
    assert_eq!(
        resumed.json(),
        serde_json::json!({ "id": late_id, "status": "expired", "changed": true })
    );
    api.api("GET", "/api/v1/me", Some(&late)).assert_status(401);
    // Signed in after the clock moved (an older session would have ended).
    let console = app.admin();
    let csrf = console
        .get(&format!("/settings/api-tokens/{page_id}"))
        .csrf();
    console
        .post(
            &format!("/settings/api-tokens/{page_id}/resume"),
            &[("csrf_token", csrf.as_str())],
        )
        .assert_status(303);
    console
        .get(&format!("/settings/api-tokens/{page_id}"))
        .assert_contains("Token resumed, but it has expired: it stays refused.");
    assert_eq!(app.token_status(page_id), "expired");
}
