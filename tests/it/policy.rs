//! The organisation policy page and its effect on the generate form, the
//! CLI and the API. Both backends.

use crate::helpers::{TestDb, spawn_app};
use latchkey::domain::Role;

both_backends!(
    policy_changes_apply_at_once_everywhere,
    scope_roles_narrow_and_widen_at_use_time
);

fn scope_roles_narrow_and_widen_at_use_time(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let token = app.create_token(
        "dev@example.com",
        "writer",
        &["datastore:read", "datastore:write"],
        30,
    );
    let api = app.client();
    let scopes = |t: &str| api.api("GET", "/api/v1/me", Some(t)).json()["token"]["scopes"].clone();
    assert_eq!(
        scopes(&token),
        serde_json::json!(["datastore:read", "datastore:write"])
    );
    let admin = app.admin();
    let csrf = admin.get("/settings/scopes/datastore:write").csrf();
    let edit = |scope: &str, role: &str| {
        admin.post(
            &format!("/settings/scopes/{scope}"),
            &[
                ("csrf_token", csrf.as_str()),
                ("description", "Write and import data into the data store"),
                ("group", "Data store"),
                ("min_role", role),
            ],
        )
    };
    edit("datastore:write", "owner")
        .assert_status(422)
        .assert_contains("Choose viewer, developer or admin.");
    edit("datastore:write", "admin").assert_status(303);
    edit("integrations:manage", "developer").assert_status(303);
    admin
        .get("/settings/scopes/datastore:write")
        .assert_contains("<option value=\"admin\" selected>admin</option>");
    admin
        .get("/settings/audit?action=scope.changed")
        .assert_contains("datastore:write: minimum role developer → admin")
        .assert_contains("integrations:manage: minimum role admin → developer");
    // The existing token narrows on its next request.
    assert_eq!(scopes(&token), serde_json::json!(["datastore:read"]));
    // The form offers what the policy allows, and a forged scope is refused.
    let dev = app.client();
    dev.sign_in("dev@example.com", crate::helpers::PASSWORD);
    let form = dev.get("/settings/api-tokens/new");
    assert!(!form.body.contains("value=\"datastore:write\""));
    form.assert_contains("value=\"integrations:manage\"");
    dev.generate(&[
        ("name", "x"),
        ("expires_in", "30"),
        ("scopes", "datastore:write"),
    ])
    .assert_status(403);
    dev.generate(&[
        ("name", "y"),
        ("expires_in", "30"),
        ("scopes", "integrations:manage"),
    ])
    .assert_status(200);
    db.cli(&[
        "token",
        "create",
        "--email",
        "dev@example.com",
        "--name",
        "z",
        "--expires-on",
        &crate::helpers::in_days(5),
        "--scope",
        "datastore:write",
    ])
    .fails(1, "cannot grant: datastore:write");
}

fn policy_changes_apply_at_once_everywhere(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let page = admin.get("/settings/policy");
    page.assert_status(200).assert_contains("value=\"365\"");
    let csrf = page.csrf();
    let dev = app.member("dev@example.com", Role::Developer);
    dev.get("/settings/policy").assert_status(403);
    let dev_csrf = dev.csrf();
    dev.post(
        "/settings/policy",
        &[
            ("csrf_token", &dev_csrf),
            ("max_lifetime_days", "9"),
            ("default_expiry_days", "7"),
        ],
    )
    .assert_status(403);

    for (max, default, says) in [
        ("0", "7", "from 1 to 3650"),
        ("3651", "7", "from 1 to 3650"),
        ("abc", "7", "from 1 to 3650"),
        ("30", "45", "Choose 7, 30, 60 or 90"),
        ("30", "90", "cannot be longer than the maximum"),
    ] {
        admin
            .post(
                "/settings/policy",
                &[
                    ("csrf_token", &csrf),
                    ("max_lifetime_days", max),
                    ("default_expiry_days", default),
                ],
            )
            .assert_status(422)
            .assert_contains(says)
            .assert_contains(&format!("value=\"{max}\""));
    }
    admin
        .get("/settings/policy")
        .assert_contains("value=\"365\"");

    let saved = admin.post(
        "/settings/policy",
        &[
            ("csrf_token", &csrf),
            ("max_lifetime_days", "30"),
            ("default_expiry_days", "7"),
            ("allow_no_expiry", "on"),
        ],
    );
    saved.assert_status(303);
    // The notice comes from the session, once; an address cannot claim it.
    admin
        .get("/settings/policy")
        .assert_contains("Policy saved.")
        .assert_contains("value=\"30\"");
    admin
        .get("/settings/audit?action=policy.changed")
        .assert_contains("max lifetime 365 days, no expiry not allowed, default 30 days, service accounts as everyone → max lifetime 30 days, no expiry allowed, default 7 days, service accounts as everyone");

    // The generate form follows at once.
    let form = dev.get("/settings/api-tokens/new");
    form.assert_contains(&format!("max=\"{}\"", crate::helpers::in_days(30)))
        .assert_contains("value=\"never\"");
    form.assert_contains("value=\"7\" checked>");
    assert!(
        !form.body.contains("value=\"60\""),
        "presets past the maximum are not offered"
    );
    dev.generate(&[
        ("name", "too long"),
        ("expires_in", "custom"),
        ("expires_on", &crate::helpers::in_days(31)),
        ("scopes", "datastore:read"),
    ])
    .assert_status(422)
    .assert_contains("at most 30 days");
    let forever = dev.generate(&[
        ("name", "forever"),
        ("expires_in", "never"),
        ("scopes", "tokens:read"),
    ]);
    forever.assert_status(200);
    let token = forever.revealed_token().expect("token");
    let me = app.client().api("GET", "/api/v1/me", Some(&token)).json();
    assert_eq!(me["token"]["expires_at"], serde_json::Value::Null);
    // And the CLI.
    db.cli(&[
        "token",
        "create",
        "--email",
        "dev@example.com",
        "--name",
        "cli",
        "--expires-on",
        &crate::helpers::in_days(31),
        "--scope",
        "datastore:read",
    ])
    .fails(1, "at most 30 days");
    db.cli(&[
        "token",
        "create",
        "--email",
        "dev@example.com",
        "--name",
        "cli",
        "--expires-on",
        &crate::helpers::in_days(30),
        "--scope",
        "datastore:read",
    ])
    .ok();
}
