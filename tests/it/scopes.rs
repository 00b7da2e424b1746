//! Scopes as data (SPEC §10): the catalogue through the console, the CLI
//! and the API, and its effect on tokens at use time. Both backends.

use crate::helpers::{TestDb, in_days, spawn_app};
use latchkey::domain::Role;

both_backends!(
    an_added_scope_is_granted_and_a_retired_one_stops_at_once,
    bad_scope_input_is_refused_beside_its_field,
    the_cli_manages_the_catalogue,
    an_upgrade_carries_the_old_minimum_roles_over,
);

fn me_scopes(app: &crate::helpers::TestApp, token: &str) -> serde_json::Value {
    app.client().api("GET", "/api/v1/me", Some(token)).json()["token"]["scopes"].clone()
}

fn an_added_scope_is_granted_and_a_retired_one_stops_at_once(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let page = admin.get("/settings/scopes");
    page.assert_status(200)
        .assert_contains("<code>datastore:read</code>")
        .assert_contains("<code>audit:read</code>");
    let csrf = page.csrf();
    admin
        .post(
            "/settings/scopes",
            &[
                ("csrf_token", &csrf),
                ("name", "billing:read"),
                ("description", "Read invoices and payment history"),
                ("group", "Billing"),
                ("min_role", "developer"),
            ],
        )
        .assert_status(303);
    admin
        .get("/settings/scopes")
        .assert_contains("Scope billing:read added")
        .assert_contains("Read invoices and payment history");

    // Developers are offered it, under its group; viewers are not.
    let dev = app.member("dev@example.com", Role::Developer);
    let form = dev.get("/settings/api-tokens/new");
    form.assert_contains("value=\"billing:read\"")
        .assert_contains("Billing");
    let viewer = app.member("viewer@example.com", Role::Viewer);
    assert!(
        !viewer
            .get("/settings/api-tokens/new")
            .body
            .contains("value=\"billing:read\"")
    );
    let token = dev.generate_token("invoices", &["billing:read", "datastore:read"]);
    assert_eq!(
        me_scopes(&app, &token),
        serde_json::json!(["datastore:read", "billing:read"])
    );
    // Any valid token can read the catalogue.
    let listed = app.client().api("GET", "/api/v1/scopes", Some(&token));
    listed.assert_status(200);
    let names: Vec<String> = listed.json()["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names.len(), 13);
    assert_eq!(names.last().map(String::as_str), Some("billing:read"));

    // The scope page states what retiring costs; system scopes cannot go.
    admin
        .get("/settings/scopes/billing:read")
        .assert_status(200)
        .assert_contains("1 active token loses <code>billing:read</code>");
    admin
        .get("/settings/scopes/tokens:read")
        .assert_contains("cannot be retired");
    admin
        .post(
            "/settings/scopes/tokens:read/retire",
            &[("csrf_token", &csrf)],
        )
        .assert_status(409)
        .assert_contains("system scope");
    // A system scope's minimum role stays; its description may change.
    admin
        .post(
            "/settings/scopes/tokens:introspect",
            &[
                ("csrf_token", &csrf),
                ("description", "Validate tokens"),
                ("min_role", "viewer"),
            ],
        )
        .assert_status(422)
        .assert_contains("its minimum role stays admin");
    dev.post(
        "/settings/scopes/billing:read/retire",
        &[("csrf_token", &dev.csrf())],
    )
    .assert_status(403);
    dev.get("/settings/scopes").assert_status(403);
    // Asked first (a page, without script), then done.
    admin
        .post(
            "/settings/scopes/billing:read/retire",
            &[("csrf_token", &csrf)],
        )
        .assert_status(200)
        .assert_contains("Retire this scope?")
        .assert_contains("1 active token loses");
    assert_eq!(app.audit_count("scope.retired"), 0);
    admin
        .post(
            "/settings/scopes/billing:read/retire",
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    admin
        .get("/settings/scopes")
        .assert_contains("Scope billing:read retired: 1 active token lost it.")
        .assert_contains("Retired");
    // The token loses it on its next request and keeps the rest.
    assert_eq!(
        me_scopes(&app, &token),
        serde_json::json!(["datastore:read"])
    );
    let listed = app.client().api("GET", "/api/v1/scopes", Some(&token));
    assert!(!listed.body.contains("billing:read"));
    assert!(
        !dev.get("/settings/api-tokens/new")
            .body
            .contains("value=\"billing:read\"")
    );
    // A retired name is not taken again, and the history keeps it.
    admin
        .post(
            "/settings/scopes",
            &[
                ("csrf_token", &csrf),
                ("name", "billing:read"),
                ("description", "Again"),
                ("min_role", "viewer"),
            ],
        )
        .assert_status(409)
        .assert_contains("already exists");
    let id = app.token_id("invoices");
    dev.get(&format!("/settings/api-tokens/{id}"))
        .assert_contains("billing:read")
        .assert_contains("retired");
    for action in ["scope.added", "scope.retired"] {
        assert_eq!(app.audit_count(action), 1, "{action}");
    }
    admin
        .get("/settings/audit?action=scope.retired")
        .assert_contains("billing:read: 1 active token(s) lose it");
}

fn bad_scope_input_is_refused_beside_its_field(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let csrf = admin.get("/settings/scopes").csrf();
    let long = "x".repeat(201);
    for (name, description, role, status, says) in [
        ("Billing", "ok", "viewer", 422, "is not a scope name"),
        ("billing:", "ok", "viewer", 422, "is not a scope name"),
        ("a:b:c:d:e", "ok", "viewer", 422, "is not a scope name"),
        ("billing", "", "viewer", 422, "in 1 to 200 characters"),
        (
            "billing",
            long.as_str(),
            "viewer",
            422,
            "in 1 to 200 characters",
        ),
        (
            "billing",
            "ok",
            "owner",
            422,
            "Choose viewer, developer or admin.",
        ),
        ("tokens:mint", "ok", "viewer", 422, "is reserved"),
        ("tokens", "ok", "viewer", 422, "is reserved"),
        ("datastore:read", "ok", "viewer", 409, "already exists"),
    ] {
        admin
            .post(
                "/settings/scopes",
                &[
                    ("csrf_token", &csrf),
                    ("name", name),
                    ("description", description),
                    ("min_role", role),
                ],
            )
            .assert_status(status)
            .assert_contains(says)
            .assert_contains("aria-invalid=\"true\"");
    }
    admin
        .post(
            "/settings/scopes/reports:read",
            &[
                ("csrf_token", &csrf),
                ("description", "bad\u{7}bell"),
                ("min_role", "viewer"),
            ],
        )
        .assert_status(422)
        .assert_contains("control or invisible");
    admin.get("/settings/scopes/no:such").assert_status(404);
    admin
        .get("/settings/scopes/NOT%20A%20SCOPE")
        .assert_status(404);
    assert_eq!(app.audit_count("scope.added"), 0);
    assert_eq!(app.audit_count("scope.changed"), 0);
    // Nothing was written: the catalogue is the seeded one.
    let dev = app.client();
    dev.sign_in(&app.admin_email, &app.admin_password);
    let token = dev.generate_token("t", &["reports:read"]);
    let listed = app.client().api("GET", "/api/v1/scopes", Some(&token));
    assert_eq!(listed.json()["scopes"].as_array().map(Vec::len), Some(12));
    assert!(listed.body.contains("Read dashboards and reports"));
}

fn the_cli_manages_the_catalogue(db: &TestDb) {
    let app = spawn_app(db);
    let add = |name: &str, role: &str| {
        db.cli(&[
            "scope",
            "add",
            name,
            "--description",
            "Deploy services",
            "--min-role",
            role,
            "--group",
            "Deploys",
        ])
    };
    add("Deploy", "developer").fails(2, "is not a scope name");
    add("deploy:run", "owner").fails(2, "unknown role");
    let out = add("deploy:run", "developer").ok();
    assert!(out.contains("Added deploy:run"), "{out}");
    add("deploy:run", "developer").fails(2, "already exists");
    db.cli(&["scope", "retire", "org:admin"])
        .fails(2, "system scope");
    db.cli(&["scope", "retire", "nope:nothing"])
        .fails(2, "no scope named nope:nothing");
    let listed: serde_json::Value =
        serde_json::from_str(&db.cli(&["scope", "list", "--json"]).ok()).expect("json");
    let deploy = listed
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "deploy:run"))
        .expect("listed");
    assert_eq!(deploy["min_role"], "developer");
    assert_eq!(deploy["group"], "Deploys");
    assert_eq!(deploy["retired"], false);
    app.add_member("dev@example.com", Role::Developer);
    let create = |scope: &str| {
        db.cli(&[
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            scope,
            "--expires-on",
            &in_days(5),
            "--scope",
            scope,
        ])
    };
    let token = create("deploy:run").ok();
    let token = token.trim();
    assert_eq!(me_scopes(&app, token), serde_json::json!(["deploy:run"]));
    let out = db.cli(&["scope", "retire", "deploy:run"]).ok();
    assert!(out.contains("1 active token(s) lost it"), "{out}");
    assert_eq!(me_scopes(&app, token), serde_json::json!([]));
    create("deploy:run").fails(2, "unknown scope");
    let table = db.cli(&["scope", "list"]).ok();
    assert!(
        table.contains("deploy:run") && table.contains("retired"),
        "{table}"
    );
    assert_eq!(app.audit_count("scope.added"), 1);
    assert_eq!(app.audit_count("scope.retired"), 1);
}

/// A database from before scopes were data: the seeded rows are missing
/// and the organisation holds the old `scope=role` overrides.
fn an_upgrade_carries_the_old_minimum_roles_over(db: &TestDb) {
    use diesel::prelude::*;
    db.cli(&["migrate"]).ok();
    let statements = [
        "DELETE FROM scopes",
        "UPDATE organisations SET scope_min_roles = 'datastore:write=admin reports:read=developer'",
    ];
    match db.sqlite_path() {
        Some(path) => {
            let mut conn =
                SqliteConnection::establish(&path.display().to_string()).expect("open sqlite");
            for sql in statements {
                diesel::sql_query(sql).execute(&mut conn).expect(sql);
            }
        }
        None => {
            let mut conn = PgConnection::establish(&db.url).expect("open pg");
            for sql in statements {
                diesel::sql_query(sql).execute(&mut conn).expect(sql);
            }
        }
    }
    db.cli(&["migrate"]).ok();
    let listed: serde_json::Value =
        serde_json::from_str(&db.cli(&["scope", "list", "--json"]).ok()).expect("json");
    let role = |name: &str| {
        listed
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .map(|s| s["min_role"].clone())
    };
    assert_eq!(listed.as_array().map(Vec::len), Some(12));
    assert_eq!(role("datastore:write"), Some(serde_json::json!("admin")));
    assert_eq!(role("reports:read"), Some(serde_json::json!("developer")));
    assert_eq!(role("datastore:read"), Some(serde_json::json!("viewer")));
    // Carried over once: a second start changes nothing.
    db.cli(&["migrate"]).ok();
    let again: serde_json::Value =
        serde_json::from_str(&db.cli(&["scope", "list", "--json"]).ok()).expect("json");
    assert_eq!(again, listed);
}
