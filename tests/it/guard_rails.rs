//! Guard rails (SPEC §14), as far as they go: a token's description, set
//! in the console, the CLI and the API, shown on the token page and in
//! every listing. Both backends.

use crate::helpers::{TestDb, in_days, spawn_app};
use latchkey::domain::Role;

both_backends!(a_description_travels_from_every_door_to_the_page_and_the_listings,);

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
