//! Service accounts (SPEC §10): identities for machines through the
//! console, the CLI and the API. Both backends.

use crate::helpers::{PASSWORD, TestDb, in_days, spawn_app};
use latchkey::domain::Role;

both_backends!(
    an_admin_gives_a_service_account_a_token_that_outlives_the_admin,
    bad_service_account_input_is_refused_and_changes_nothing,
    service_tokens_can_have_a_shorter_maximum_lifetime,
    the_cli_manages_service_accounts,
);

/// The id in a `Location` like `/settings/service-accounts/7`.
fn id_from(location: Option<&str>) -> i64 {
    location
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse().ok())
        .expect("an account id in the location")
}

fn an_admin_gives_a_service_account_a_token_that_outlives_the_admin(db: &TestDb) {
    let app = spawn_app(db);
    // A second admin makes the account and its token, then is disabled.
    let maker = app.member("ops@example.com", Role::Admin);
    let csrf = maker.get("/settings/service-accounts").csrf();
    let added = maker.post(
        "/settings/service-accounts",
        &[
            ("csrf_token", &csrf),
            ("name", "ci-bot"),
            ("role", "developer"),
        ],
    );
    added.assert_status(303);
    let id = id_from(added.header("location"));
    let page = maker.get(&format!("/settings/service-accounts/{id}"));
    page.assert_status(200)
        .assert_contains("Service account ci-bot added as developer")
        .assert_contains("No tokens yet.");
    let form = maker.get(&format!("/settings/service-accounts/{id}/tokens/new"));
    form.assert_status(200)
        .assert_contains("New token for ci-bot")
        .assert_contains(&format!(
            "action=\"/settings/service-accounts/{id}/tokens\""
        ))
        .assert_contains("value=\"datastore:write\"");
    assert!(
        !form.body.contains("value=\"org:admin\""),
        "a developer's scopes"
    );
    let nonce = form.field("form_nonce").expect("nonce");
    let reveal = maker.post(
        &format!("/settings/service-accounts/{id}/tokens"),
        &[
            ("csrf_token", &csrf),
            ("form_nonce", &nonce),
            ("name", "deploys"),
            ("expires_in", "30"),
            ("scopes", "datastore:read"),
            ("scopes", "datastore:write"),
        ],
    );
    reveal
        .assert_status(200)
        .assert_contains("New token “deploys” for ci-bot")
        .assert_contains("Owned by");
    let token = reveal.revealed_token().expect("the token, once");
    let api = app.client();
    let me = api.api("GET", "/api/v1/me", Some(&token));
    me.assert_status(200);
    assert_eq!(me.json()["owner"]["email"], "ci-bot");
    assert_eq!(me.json()["owner"]["role"], "developer");

    // Introspection says the owner is a service account.
    let admin_token = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let seen = api.api_post(
        "/api/v1/introspect",
        Some(&admin_token),
        "application/json",
        format!(r#"{{"token": "{token}"}}"#).as_bytes(),
    );
    assert_eq!(seen.json()["active"], true);
    assert_eq!(seen.json()["sub"], format!("service:{id}"));
    assert_eq!(seen.json()["owner_kind"], "service");
    assert_eq!(seen.json()["username"], "ci-bot");

    // The list's owner filter finds it; the account page says who made it.
    let admin = app.admin();
    let services = admin.get("/settings/api-tokens?owner=service");
    services.assert_status(200).assert_contains("deploys");
    let mine = admin.get("/settings/api-tokens?owner=me");
    assert!(!mine.body.contains("deploys"));
    admin
        .get(&format!("/settings/service-accounts/{id}"))
        .assert_contains("deploys")
        .assert_contains("ops@example.com");
    let dev = app.member("dev@example.com", Role::Developer);
    dev.get("/settings/api-tokens?owner=service")
        .assert_status(403);
    dev.get("/settings/service-accounts").assert_status(403);
    dev.get(&format!("/settings/service-accounts/{id}/tokens/new"))
        .assert_status(403);

    // Demoting, then disabling, the admin who made it changes nothing.
    let ops = app.member_id("ops@example.com").0;
    let admin_csrf = admin.csrf();
    admin
        .post(
            &format!("/settings/members/{ops}/role"),
            &[("csrf_token", &admin_csrf), ("role", "viewer")],
        )
        .assert_status(303);
    admin
        .post(
            &format!("/settings/members/{ops}/disable"),
            &[("csrf_token", &admin_csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    let me = api.api("GET", "/api/v1/me", Some(&token));
    me.assert_status(200);
    assert_eq!(
        me.json()["token"]["scopes"],
        serde_json::json!(["datastore:read", "datastore:write"])
    );

    // A service account never signs in, whatever is typed.
    app.client()
        .try_sign_in("ci-bot", PASSWORD)
        .assert_status(401);
    app.client()
        .try_sign_in("ci-bot", "!service-account")
        .assert_status(401);

    // Disabling the account stops its tokens at once; enabling restores.
    let confirm = admin.post(
        &format!("/settings/service-accounts/{id}/disable"),
        &[("csrf_token", &admin_csrf)],
    );
    confirm
        .assert_status(200)
        .assert_contains("The 1 active token of <strong>ci-bot</strong> stops");
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);
    admin
        .post(
            &format!("/settings/service-accounts/{id}/disable"),
            &[("csrf_token", &admin_csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);
    admin
        .post(
            &format!("/settings/service-accounts/{id}/enable"),
            &[("csrf_token", &admin_csrf)],
        )
        .assert_status(303);
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);
    // A role change narrows its tokens at once.
    admin
        .post(
            &format!("/settings/service-accounts/{id}/role"),
            &[("csrf_token", &admin_csrf), ("role", "viewer")],
        )
        .assert_status(303);
    assert_eq!(
        api.api("GET", "/api/v1/me", Some(&token)).json()["token"]["scopes"],
        serde_json::json!(["datastore:read"])
    );
    admin
        .get(&format!("/settings/service-accounts/{id}"))
        .assert_contains("ci-bot is now viewer");
    // The members' routes do not reach a service account.
    for action in ["role", "disable", "enable", "sign-out"] {
        admin
            .post(
                &format!("/settings/members/{id}/{action}"),
                &[
                    ("csrf_token", &admin_csrf),
                    ("role", "admin"),
                    ("confirm", "yes"),
                ],
            )
            .assert_status(404);
    }
    // Service accounts are not members who sign in.
    assert!(!admin.get("/settings/members").body.contains("ci-bot"));
}

fn bad_service_account_input_is_refused_and_changes_nothing(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let csrf = admin.get("/settings/service-accounts").csrf();
    let long = "x".repeat(65);
    for (name, role, says) in [
        ("", "developer", "1 to 64 characters"),
        ("CI Bot", "developer", "lowercase letters"),
        ("-ci", "developer", "starting with a letter or digit"),
        ("ci@example.com", "developer", "lowercase letters"),
        (long.as_str(), "developer", "1 to 64 characters"),
        ("ci", "owner", "Choose viewer, developer or admin."),
    ] {
        admin
            .post(
                "/settings/service-accounts",
                &[("csrf_token", &csrf), ("name", name), ("role", role)],
            )
            .assert_status(422)
            .assert_contains(says)
            .assert_contains("aria-invalid=\"true\"");
    }
    admin
        .post(
            "/settings/service-accounts",
            &[("csrf_token", &csrf), ("name", "ci"), ("role", "viewer")],
        )
        .assert_status(303);
    admin
        .post(
            "/settings/service-accounts",
            &[("csrf_token", &csrf), ("name", "ci"), ("role", "admin")],
        )
        .assert_status(422)
        .assert_contains("A service account named ci already exists.");
    // Ids that are not service accounts are no page of ours.
    let person = app.member_id(&app.admin_email).0;
    admin
        .get(&format!("/settings/service-accounts/{person}"))
        .assert_status(404);
    admin
        .get("/settings/service-accounts/abc")
        .assert_status(404);
    admin
        .get("/settings/service-accounts/999999/tokens/new")
        .assert_status(404);
    assert_eq!(app.audit_count("member.added"), 2, "first admin and ci");
    let listed: serde_json::Value =
        serde_json::from_str(&db.cli(&["service-account", "list", "--json"]).ok()).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

fn service_tokens_can_have_a_shorter_maximum_lifetime(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let csrf = admin.get("/settings/policy").csrf();
    let policy = |service_max: &str| {
        admin.post(
            "/settings/policy",
            &[
                ("csrf_token", &csrf),
                ("max_lifetime_days", "365"),
                ("default_expiry_days", "7"),
                ("service_max_lifetime_days", service_max),
            ],
        )
    };
    policy("0")
        .assert_status(422)
        .assert_contains("for service accounts must be from 1 to 3650");
    policy("ten")
        .assert_status(422)
        .assert_contains("for service accounts must be a number");
    db.cli(&[
        "service-account",
        "add",
        "--name",
        "worker",
        "--role",
        "developer",
    ])
    .ok();
    // A token made before the policy narrowed: rotating it obeys the new rule.
    db.cli(&[
        "token",
        "create",
        "--service-account",
        "worker",
        "--name",
        "early",
        "--expires-on",
        &in_days(30),
        "--scope",
        "datastore:read",
    ])
    .ok();
    policy("10").assert_status(303);
    let early = app.token_id("early").to_string();
    let rotated = db.cli(&["token", "rotate", &early]).ok();
    let me = app
        .client()
        .api("GET", "/api/v1/me", Some(rotated.trim()))
        .json();
    let expires = me["token"]["expires_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(expires.starts_with(&in_days(10)), "{expires}");
    admin
        .get("/settings/audit?action=policy.changed")
        .assert_contains("service accounts at most 10 days");
    let create = |who: &[&str], days: i64| {
        let mut args = vec!["token", "create"];
        args.extend_from_slice(who);
        let date = in_days(days);
        args.extend_from_slice(&[
            "--name",
            "t",
            "--expires-on",
            &date,
            "--scope",
            "datastore:read",
        ]);
        db.cli(&args)
    };
    create(&["--service-account", "worker"], 30).fails(1, "at most 10 days ahead");
    let token = create(&["--service-account", "worker"], 10).ok();
    assert_eq!(
        app.client()
            .api("GET", "/api/v1/me", Some(token.trim()))
            .status,
        200
    );
    // People keep the organisation's maximum.
    app.add_member("dev@example.com", Role::Developer);
    create(&["--email", "dev@example.com"], 30).ok();
    // The console's form for the account offers only what fits.
    let id = app.member_id_of_service("worker");
    let form = admin.get(&format!("/settings/service-accounts/{id}/tokens/new"));
    form.assert_contains("value=\"7\"");
    assert!(!form.body.contains("name=\"expires_in\" value=\"30\""));
    assert!(!form.body.contains("value=\"never\""));
}

fn the_cli_manages_service_accounts(db: &TestDb) {
    let app = spawn_app(db);
    db.cli(&[
        "service-account",
        "add",
        "--name",
        "Bad Name",
        "--role",
        "viewer",
    ])
    .fails(2, "lowercase letters");
    db.cli(&["service-account", "add", "--name", "ci", "--role", "owner"])
        .fails(2, "unknown role");
    let out = db
        .cli(&[
            "service-account",
            "add",
            "--name",
            "ci",
            "--role",
            "developer",
        ])
        .ok();
    assert!(
        out.contains("Added service account ci as developer"),
        "{out}"
    );
    db.cli(&["service-account", "add", "--name", "ci", "--role", "viewer"])
        .fails(2, "already exists");
    let create = |who: &[&str]| {
        let mut args = vec!["token", "create"];
        args.extend_from_slice(who);
        let date = in_days(5);
        args.extend_from_slice(&[
            "--name",
            "job",
            "--expires-on",
            &date,
            "--scope",
            "datastore:read",
        ]);
        db.cli(&args)
    };
    create(&["--service-account", "nobody"]).fails(1, "no service account named nobody");
    create(&["--service-account", "ci", "--email", "admin@latchkey.local"])
        .fails(2, "cannot be used with");
    create(&[]).fails(2, "--service-account");
    let token = create(&["--service-account", "ci"]).ok();
    let token = token.trim().to_owned();
    let api = app.client();
    assert_eq!(
        api.api("GET", "/api/v1/me", Some(&token)).json()["owner"]["email"],
        "ci"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&db.cli(&["service-account", "list", "--json"]).ok()).expect("json");
    assert_eq!(listed[0]["name"], "ci");
    assert_eq!(listed[0]["role"], "developer");
    assert_eq!(listed[0]["active_tokens"], 1);
    let table = db.cli(&["service-account", "list"]).ok();
    assert!(
        table.contains("ci") && table.contains("developer"),
        "{table}"
    );
    // People are not service accounts, and the reverse.
    assert!(!db.cli(&["user", "list"]).ok().contains(" ci "));
    db.cli(&["service-account", "disable", "--name", "admin"])
        .fails(1, "no service account named admin");
    let out = db.cli(&["service-account", "disable", "--name", "ci"]).ok();
    assert!(out.contains("Disabled ci"), "{out}");
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);
}
