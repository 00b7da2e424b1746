//! Settings → Account (SPEC §12, first part): a member changes their own
//! password and ends their own sessions. Both backends.

use crate::helpers::{PASSWORD, TestDb, spawn_app};
use latchkey::domain::Role;

both_backends!(
    a_member_changes_their_password_and_other_sessions_end,
    a_member_ends_their_own_sessions,
    guessing_the_current_password_meets_the_sign_in_limits,
);

const NEW: &str = "a different long password";

fn a_member_changes_their_password_and_other_sessions_end(db: &TestDb) {
    let app = spawn_app(db);
    let here = app.member("dev@example.com", Role::Developer);
    let elsewhere = app.client();
    elsewhere.sign_in("dev@example.com", PASSWORD);
    let page = here.get("/settings/account");
    page.assert_status(200)
        .assert_contains("Change password")
        .assert_contains("(this one)");
    assert_eq!(page.body.matches("/end\"").count(), 1, "one other session");
    let csrf = page.csrf();
    let change = |current: &str, new: &str| {
        here.post(
            "/settings/account/password",
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", current),
                ("new_password", new),
            ],
        )
    };
    for (current, new, says) in [
        ("", NEW, "Enter your current password."),
        ("not my password at all", NEW, "not your current password"),
        (PASSWORD, "short", "at least 12 characters"),
        (PASSWORD, PASSWORD, "different from the current one"),
    ] {
        change(current, new)
            .assert_status(422)
            .assert_contains(says)
            .assert_contains("aria-invalid=\"true\"");
    }
    // Nothing changed so far: the other session still works.
    elsewhere.get("/settings/api-tokens").assert_status(200);
    change(PASSWORD, NEW).assert_status(303);
    here.get("/settings/account")
        .assert_contains("Password changed. Your 1 other session was signed out.");
    assert_eq!(
        elsewhere.get("/settings/api-tokens").status,
        303,
        "signed out"
    );
    here.get("/settings/api-tokens").assert_status(200);
    assert_ne!(
        app.client().try_sign_in("dev@example.com", PASSWORD).status,
        303
    );
    app.client().sign_in("dev@example.com", NEW);
    assert_eq!(app.audit_count("member.password_changed"), 1);
    // Without the CSRF token, nothing happens.
    here.post(
        "/settings/account/password",
        &[
            ("current_password", NEW),
            ("new_password", "yet another long one"),
        ],
    )
    .assert_status(403);
}

fn a_member_ends_their_own_sessions(db: &TestDb) {
    let app = spawn_app(db);
    let here = app.member("dev@example.com", Role::Developer);
    let (second, third) = (app.client(), app.client());
    second.sign_in("dev@example.com", PASSWORD);
    third.sign_in("dev@example.com", PASSWORD);
    let page = here.get("/settings/account");
    let csrf = page.csrf();
    let handles: Vec<String> = page
        .body
        .split("/settings/account/sessions/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/end\"").map(|(h, _)| h.to_owned()))
        .collect();
    assert_eq!(handles.len(), 2, "{}", page.body);
    // Someone else's session, or a made-up one, is no session of theirs.
    let other = app.member("other@example.com", Role::Developer);
    let other_csrf = other.get("/settings/account").csrf();
    other
        .post(
            &format!("/settings/account/sessions/{}/end", handles[0]),
            &[("csrf_token", &other_csrf)],
        )
        .assert_status(404);
    here.post(
        "/settings/account/sessions/zzz/end",
        &[("csrf_token", &csrf)],
    )
    .assert_status(404);
    assert_eq!(second.get("/settings/api-tokens").status, 200);
    assert_eq!(third.get("/settings/api-tokens").status, 200);
    // One ended; then all the others.
    here.post(
        &format!("/settings/account/sessions/{}/end", handles[0]),
        &[("csrf_token", &csrf)],
    )
    .assert_status(303);
    let still = [&second, &third]
        .iter()
        .filter(|c| c.get("/settings/api-tokens").status == 200)
        .count();
    assert_eq!(still, 1);
    here.post(
        "/settings/account/sessions/end-others",
        &[("csrf_token", &csrf)],
    )
    .assert_status(303);
    assert_eq!(second.get("/settings/api-tokens").status, 303);
    assert_eq!(third.get("/settings/api-tokens").status, 303);
    here.get("/settings/account")
        .assert_status(200)
        .assert_contains("1 session signed out.");
}

fn guessing_the_current_password_meets_the_sign_in_limits(db: &TestDb) {
    let app = spawn_app(db);
    let here = app.member("dev@example.com", Role::Developer);
    let csrf = here.get("/settings/account").csrf();
    let change = |current: &str| {
        here.post(
            "/settings/account/password",
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", current),
                ("new_password", NEW),
            ],
        )
    };
    for i in 0..5 {
        change(&format!("guess number {i}")).assert_status(422);
    }
    // Locked out like a sign-in: even the right password waits.
    let locked = change(PASSWORD);
    locked.assert_status(429);
    assert!(locked.header("retry-after").is_some());
    assert_ne!(
        app.client().try_sign_in("dev@example.com", PASSWORD).status,
        303
    );
    assert_eq!(app.audit_count("member.password_changed"), 0);
}
