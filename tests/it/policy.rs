//! The organisation policy page and its effect on the generate form, the
//! CLI and the API. Both backends.

use crate::helpers::{TestDb, spawn_app};
use latchkey::domain::Role;
use time::{Duration, OffsetDateTime};

fn day(offset: i64) -> String {
    (OffsetDateTime::now_utc().date() + Duration::days(offset)).to_string()
}

both_backends!(policy_changes_apply_at_once_everywhere);

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
    admin
        .get("/settings/policy?saved=1")
        .assert_contains("Policy saved.")
        .assert_contains("value=\"30\"");
    admin
        .get("/settings/audit?action=policy.changed")
        .assert_contains("max lifetime 365 days, no expiry not allowed, default 30 days → max lifetime 30 days, no expiry allowed, default 7 days");

    // The generate form follows at once.
    let form = dev.get("/settings/api-tokens/new");
    form.assert_contains(&format!("max=\"{}\"", day(30)))
        .assert_contains("value=\"never\"");
    form.assert_contains("<option value=\"7\" selected>");
    assert!(
        !form.body.contains("value=\"60\""),
        "presets past the maximum are not offered"
    );
    dev.generate(&[
        ("name", "too long"),
        ("expires_in", "custom"),
        ("expires_on", &day(31)),
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
        &day(31),
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
        &day(30),
        "--scope",
        "datastore:read",
    ])
    .ok();
}
