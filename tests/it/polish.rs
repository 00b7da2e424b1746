//! SPEC §15 through HTTP (the browser tests look at the same pages at both
//! widths, with and without JavaScript, light and dark): confirmations,
//! a list that fits, expiry that reads one way, traceable revocations,
//! error pages in the frame, HEAD/OPTIONS/405, notices that cannot be
//! forged, and the smaller fixes.

use crate::helpers::{PASSWORD, TestDb, in_days, spawn_app};
use latchkey::domain::Role;
use time::Duration;

both_backends!(
    the_list_is_compact_and_admins_are_pointed_to_the_organisation,
    expiry_is_one_choice_and_reads_one_way,
    a_token_made_for_seven_days_is_not_expiring_at_once,
    revocations_say_when_by_whom_and_why,
    notices_come_from_the_session_not_the_address,
    errors_keep_the_frame_and_say_plainly_what_happened,
    head_options_and_wrong_methods_are_answered,
    nothing_ticked_is_an_inline_error,
    a_maximum_lifetime_under_a_week_can_be_saved_and_used,
    search_folds_case_for_all_of_unicode,
    the_row_an_admin_revokes_in_all_tokens_keeps_its_owner,
    a_new_members_password_can_be_copied,
    rotated_and_disabled_owners_tokens_say_so,
    revoking_from_a_tokens_page_leads_back_to_it,
    a_revoke_keeps_the_search,
);

fn the_list_is_compact_and_admins_are_pointed_to_the_organisation(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token(
        "wide",
        &[
            "datastore:read",
            "reports:read",
            "tokens:read",
            "datastore:write",
            "reports:write",
        ],
    );
    let list = dev.get("/settings/api-tokens");
    // One scope, then "+4" whose full list is there on hover and focus.
    list.assert_contains("<span class=\"badge\">datastore:read</span>")
        .assert_contains(">+4<")
        .assert_contains("tabindex=\"0\"")
        .assert_contains("and 4 more: reports:read, tokens:read, datastore:write, reports:write");
    // An admin with no tokens of their own is told the organisation has some.
    let admin = app.admin();
    admin
        .get("/settings/api-tokens")
        .assert_contains("No tokens yet")
        .assert_contains("The organisation has 1 active token")
        .assert_contains("href=\"/settings/api-tokens?status=active&amp;owner=all\"");
    // A developer is not told about tokens they may not see.
    let other = app.member("other@example.com", Role::Developer);
    let empty = other.get("/settings/api-tokens");
    assert!(!empty.body.contains("The organisation has"));
}

fn expiry_is_one_choice_and_reads_one_way(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let form = dev.get("/settings/api-tokens/new");
    // One radio group: the presets and "On a date", 30 days chosen.
    for value in ["7", "30", "60", "90", "custom"] {
        form.assert_contains(&format!(
            "type=\"radio\" name=\"expires_in\" id=\"expires_in-{value}\""
        ));
    }
    form.assert_contains("value=\"30\" checked>");
    assert!(!form.body.contains("<select id=\"expires_in\""));
    // A date typed while a preset is chosen is pointed out, not dropped.
    let date = in_days(20);
    dev.generate(&[
        ("name", "both"),
        ("expires_in", "30"),
        ("expires_on", &date),
        ("scopes", "datastore:read"),
    ])
    .assert_status(422)
    .assert_contains("You typed a date but chose another expiry");
    // "On a date" without a date is an error beside the field.
    dev.generate(&[
        ("name", "no date"),
        ("expires_in", "custom"),
        ("expires_on", ""),
        ("scopes", "datastore:read"),
    ])
    .assert_status(422)
    .assert_contains("expires_on-error");
    assert_eq!(app.token_count(), 0);
    // The same wording on the reveal, the list and the token's page.
    let reveal = dev.generate(&[
        ("name", "dated"),
        ("expires_in", "custom"),
        ("expires_on", &date),
        ("scopes", "datastore:read"),
    ]);
    let day = time::OffsetDateTime::now_utc().date() + Duration::days(20);
    let weekday = &format!("{}", day.weekday())[..3];
    let month = &format!("{}", day.month())[..3];
    let phrase = format!(
        "Expires {weekday} {} {month} {}, 00:00 UTC (in 20 days)",
        day.day(),
        day.year()
    );
    reveal.assert_status(200).assert_contains(&phrase);
    let id = app.token_id("dated");
    dev.get(&format!("/settings/api-tokens/{id}"))
        .assert_contains(&phrase);
    dev.get("/settings/api-tokens")
        .assert_contains(&format!("title=\"{phrase}\""))
        .assert_contains("(in 20 days)")
        .assert_contains("data-local");
}

fn a_token_made_for_seven_days_is_not_expiring_at_once(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate(&[
        ("name", "a week"),
        ("expires_in", "7"),
        ("scopes", "datastore:read"),
    ])
    .assert_status(200);
    let list = dev.get("/settings/api-tokens");
    assert!(
        !list.body.contains("class=\"expires soon\""),
        "flagged at once"
    );
    dev.get("/settings/api-tokens?status=expiring")
        .assert_contains("No tokens match");
    // A day later it is.
    app.service.clock().advance(Duration::days(1));
    let dev = app.client();
    dev.sign_in("dev@example.com", PASSWORD);
    dev.get("/settings/api-tokens")
        .assert_contains("class=\"expires soon\"");
    dev.get("/settings/api-tokens?status=expiring")
        .assert_contains("a week");
}

fn revocations_say_when_by_whom_and_why(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("by hand", &["datastore:read"]);
    dev.generate_token("in bulk", &["datastore:read"]);
    let admin = app.admin();
    let csrf = admin.csrf();
    let one = app.token_id("by hand");
    let many = app.token_id("in bulk");
    admin
        .post(
            &format!("/settings/api-tokens/{one}/revoke"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    admin
        .post(
            "/settings/api-tokens/revoke",
            &[
                ("csrf_token", &csrf),
                ("confirm", "yes"),
                ("ids", &many.to_string()),
            ],
        )
        .assert_status(303);
    let admin_email = &app.admin_email;
    let list = dev.get("/settings/api-tokens?status=revoked");
    list.assert_contains(&format!("by {admin_email} — revoked by hand"))
        .assert_contains(&format!("by {admin_email} — bulk revoke"));
    dev.get(&format!("/settings/api-tokens/{one}"))
        .assert_contains(&format!("by {admin_email} — revoked by hand"));
    // The audit log names the token (linked) and the reason.
    let log = admin.get("/settings/audit?action=token.revoked");
    log.assert_contains(&format!("<a href=\"/settings/api-tokens/{one}\">by hand …"))
        .assert_contains("bulk revoke");
    // Revoking it again changes nothing and says so.
    let again = admin.post(
        &format!("/settings/api-tokens/{one}/revoke"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    );
    again.assert_status(303);
    let shown = admin.get(again.header("location").expect("location"));
    shown.assert_contains("was already revoked; nothing changed");
    assert!(!shown.body.contains("Revoked 1 token"));
}

fn notices_come_from_the_session_not_the_address(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let forged = dev.get("/settings/api-tokens?revoked=999");
    assert!(!forged.body.contains("Revoked 999"), "a link made a notice");
    let admin = app.admin();
    let members = admin.get("/settings/members?done=disabled");
    assert!(!members.body.contains("Member disabled"));
    assert!(!members.body.contains("They cannot sign in"));
    assert!(
        !admin
            .get("/settings/policy?saved=1")
            .body
            .contains("Policy saved.")
    );
    // A real one is shown once.
    dev.generate_token("gone", &["datastore:read"]);
    let id = app.token_id("gone");
    let csrf = dev.csrf();
    dev.post(
        &format!("/settings/api-tokens/{id}/revoke"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    )
    .assert_status(303);
    dev.get("/settings/api-tokens")
        .assert_contains("Revoked 1 token");
    assert!(
        !dev.get("/settings/api-tokens")
            .body
            .contains("Revoked 1 token")
    );
}

fn errors_keep_the_frame_and_say_plainly_what_happened(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    // An unknown address: the branded page, in the signed-in frame.
    let missing = dev.get("/settings/nothing-here");
    missing
        .assert_status(404)
        .assert_contains("<h1>Not found</h1>")
        .assert_contains("dev@example.com")
        .assert_contains("Sign out")
        .assert_contains("aria-label=\"Settings\"");
    // Someone else's token: a plain sentence, still in the frame.
    let other = app.member("other@example.com", Role::Developer);
    other.generate_token("theirs", &["datastore:read"]);
    let id = app.token_id("theirs");
    let page = dev.get(&format!("/settings/api-tokens/{id}"));
    page.assert_status(404)
        .assert_contains("That token doesn’t exist or isn’t yours.")
        .assert_contains("Sign out");
    // No status-code jargon as a title.
    let bad = dev.get("/settings/api-tokens?status=gone");
    bad.assert_status(400);
    assert!(!bad.body.contains("Bad Request"), "{}", bad.body);
    bad.assert_contains("That request could not be read");
    // Signed out, the same page without the frame.
    let stranger = app.client().get("/nowhere");
    stranger
        .assert_status(404)
        .assert_contains("<h1>Not found</h1>");
    assert!(!stranger.body.contains("Sign out"));
}

fn head_options_and_wrong_methods_are_answered(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let c = app.client();
    for path in ["/healthz", "/readyz", "/login", "/static/app.css"] {
        let head = c.method("HEAD", path);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has no body");
    }
    let head = dev.method("HEAD", "/settings/api-tokens");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for (path, allow) in [
        ("/settings/api-tokens", "GET, HEAD, OPTIONS, POST"),
        ("/settings/api-tokens/1/revoke", "OPTIONS, POST"),
        ("/login", "GET, HEAD, OPTIONS, POST"),
        ("/healthz", "GET, HEAD, OPTIONS"),
        ("/api/v1/me", "GET, HEAD, OPTIONS"),
    ] {
        let options = c.method("OPTIONS", path);
        assert_eq!(options.status, 204, "OPTIONS {path}");
        assert_eq!(options.header("allow"), Some(allow), "OPTIONS {path}");
    }
    let wrong = c.method("DELETE", "/settings/api-tokens");
    wrong.assert_status(405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, OPTIONS, POST"));
    let wrong = c.method("PUT", "/settings/members/1/disable");
    wrong.assert_status(405);
    assert_eq!(wrong.header("allow"), Some("OPTIONS, POST"));
}

fn nothing_ticked_is_an_inline_error(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("kept", &["datastore:read"]);
    let csrf = dev.csrf();
    let page = dev.post(
        "/settings/api-tokens/revoke",
        &[("csrf_token", &csrf), ("back", "status=active&owner=me")],
    );
    page.assert_status(422)
        .assert_contains("Select at least one token to revoke.")
        .assert_contains("id=\"bulk-error\"")
        .assert_contains("kept")
        .assert_contains("<h1>API Tokens</h1>");
    assert_eq!(app.token_status(app.token_id("kept")), "active");
}

fn a_maximum_lifetime_under_a_week_can_be_saved_and_used(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let csrf = admin.csrf();
    admin
        .post(
            "/settings/policy",
            &[
                ("csrf_token", &csrf),
                ("max_lifetime_days", "3"),
                ("default_expiry_days", "30"),
            ],
        )
        .assert_status(303);
    admin
        .get("/settings/policy")
        .assert_contains("Policy saved.")
        .assert_contains("value=\"3\" selected");
    // The form starts on the date of the maximum; no preset is offered.
    let dev = app.member("dev@example.com", Role::Developer);
    let form = dev.get("/settings/api-tokens/new");
    form.assert_contains("id=\"expires_in-custom\" value=\"custom\" checked")
        .assert_contains(&format!("value=\"{}\"", in_days(3)));
    assert!(!form.body.contains("id=\"expires_in-7\""));
    let reveal = dev.generate(&[
        ("name", "short-lived"),
        ("expires_in", "custom"),
        ("expires_on", &in_days(3)),
        ("scopes", "datastore:read"),
    ]);
    reveal.assert_status(200);
    // Raised again, with the form's default still at 3 days: the default
    // adapts to a preset instead of refusing the save.
    admin
        .post(
            "/settings/policy",
            &[
                ("csrf_token", &csrf),
                ("max_lifetime_days", "365"),
                ("default_expiry_days", "3"),
            ],
        )
        .assert_status(303);
    admin
        .get("/settings/policy")
        .assert_contains("Policy saved.")
        .assert_contains("value=\"30\" selected");
}

fn search_folds_case_for_all_of_unicode(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("Übersicht Dashboard", &["reports:read"]);
    dev.generate_token("École", &["reports:read"]);
    // Übersicht, übersicht, ÜBERSICHT.
    for q in ["%C3%9Cbersicht", "%C3%BCbersicht", "%C3%9CBERSICHT"] {
        dev.get(&format!("/settings/api-tokens?q={q}"))
            .assert_contains("Übersicht Dashboard");
    }
    // Composed or not, upper or lower case: one name.
    dev.get("/settings/api-tokens?q=e%CC%81cole")
        .assert_contains("École");
    let none = dev.get("/settings/api-tokens?q=ubersicht");
    none.assert_contains("No tokens match");
}

fn the_row_an_admin_revokes_in_all_tokens_keeps_its_owner(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    admin.generate_token("mine", &["datastore:read"]);
    let id = app.token_id("mine");
    let csrf = admin.csrf();
    let row = admin.post_with(
        &format!("/settings/api-tokens/{id}/revoke"),
        &[("confirm", "yes"), ("back", "status=active&owner=all")],
        &[("HX-Request", "true"), ("X-CSRF-Token", &csrf)],
    );
    row.assert_status(200)
        .assert_contains("<td class=\"owner\" data-label=\"Owner\">")
        .assert_contains(&app.admin_email)
        .assert_contains("Revoked");
    assert!(
        row.header("hx-trigger")
            .is_some_and(|t| t.contains("Revoked 1 token"))
    );
}

fn a_new_members_password_can_be_copied(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let csrf = admin.csrf();
    let page = admin.post(
        "/settings/members",
        &[
            ("csrf_token", &csrf),
            ("email", "new@example.com"),
            ("role", "viewer"),
        ],
    );
    page.assert_status(200)
        .assert_contains("<code id=\"new-password\">")
        .assert_contains("data-copy=\"new-password\"");
}

#[test]
fn cli_revoke_counts_each_token_once() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db);
    app.add_member("dev@example.com", Role::Developer);
    app.create_token("dev@example.com", "twice", &["datastore:read"], 30);
    let id = app.token_id("twice").to_string();
    let out = db.cli(&["token", "revoke", &id, &id, &id]).ok();
    assert_eq!(out.trim(), "Revoked 1 token(s).");
    let again = db.cli(&["token", "revoke", &id]).ok();
    assert_eq!(again.trim(), "Revoked 0 token(s); 1 were already revoked.");
}

#[test]
fn an_unopenable_sqlite_path_fails_at_once_with_the_reason() {
    let dir = std::env::temp_dir();
    let url = format!("sqlite://{}", dir.display());
    let out = std::process::Command::new(crate::helpers::BIN)
        .args(["migrate"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    crate::helpers::CliOutput(out).fails(1, "Unable to open the database file");
}

fn rotated_and_disabled_owners_tokens_say_so(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("deploy", &["datastore:read"]);
    let id = app.token_id("deploy");
    let csrf = dev.csrf();
    dev.post(
        &format!("/settings/api-tokens/{id}/rotate"),
        &[
            ("csrf_token", &csrf),
            ("confirm", "yes"),
            ("overlap_minutes", "60"),
        ],
    )
    .assert_status(200);
    // The replaced token still works for the hour, and says so; it is not
    // offered for rotation again.
    let list = dev.get("/settings/api-tokens");
    list.assert_contains("status-rotated\">Rotated</span>")
        .assert_contains("Replaced; stops in ");
    assert_eq!(list.body.matches("aria-label=\"Rotate deploy\"").count(), 1);
    let old = dev.get(&format!("/settings/api-tokens/{id}"));
    old.assert_contains("Stops ")
        .assert_contains("replaced by rotation")
        .assert_contains("<code>token.rotated</code>");
    assert!(!old.body.contains("Rotate…"));
    // An admin sees every token but rotates only their own.
    let admin = app.admin();
    let all = admin.get("/settings/api-tokens?status=active&owner=all");
    assert!(!all.body.contains("aria-label=\"Rotate deploy\""));
    // A disabled owner's tokens are not shown as working.
    let dev_id = app.member_id("dev@example.com");
    admin
        .post(
            &format!("/settings/members/{dev_id}/disable"),
            &[("csrf_token", &admin.csrf()), ("confirm", "yes")],
        )
        .assert_status(303);
    admin
        .get("/settings/members")
        .assert_contains("Disabled dev@example.com.");
    admin
        .get("/settings/api-tokens?status=active&owner=all")
        .assert_contains("status-disabled\">Owner disabled</span>");
}

fn revoking_from_a_tokens_page_leads_back_to_it(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("deploy", &["datastore:read"]);
    let id = app.token_id("deploy");
    let done = dev.post(
        &format!("/settings/api-tokens/{id}/revoke"),
        &[
            ("csrf_token", &dev.csrf()),
            ("confirm", "yes"),
            ("back", "token"),
        ],
    );
    done.assert_status(303);
    let back = format!("/settings/api-tokens/{id}");
    assert_eq!(done.header("location"), Some(back.as_str()));
    dev.get(&back)
        .assert_contains("Revoked 1 token: deploy")
        .assert_contains("revoked by hand");
    // A forged `back` leads nowhere else.
    dev.generate_token("other", &["datastore:read"]);
    let other = app.token_id("other");
    let forged = dev.post(
        &format!("/settings/api-tokens/{other}/revoke"),
        &[
            ("csrf_token", &dev.csrf()),
            ("confirm", "yes"),
            ("back", "https://evil.example/"),
        ],
    );
    assert_eq!(
        forged.header("location"),
        Some("/settings/api-tokens?status=active&owner=me")
    );
}

fn a_revoke_keeps_the_search(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("ci runner", &["datastore:read"]);
    dev.generate_token("ci deploy", &["datastore:read"]);
    let list = dev.get("/settings/api-tokens?q=ci%20r");
    list.assert_contains("name=\"back\" value=\"status=active&amp;owner=me&amp;q=ci%20r\"");
    let id = app.token_id("ci runner");
    let done = dev.post(
        "/settings/api-tokens/revoke",
        &[
            ("csrf_token", &list.csrf()),
            ("confirm", "yes"),
            ("ids", &id.to_string()),
            ("back", "status=active&owner=me&q=ci%20r"),
        ],
    );
    assert_eq!(
        done.header("location"),
        Some("/settings/api-tokens?status=active&owner=me&q=ci%20r")
    );
}
