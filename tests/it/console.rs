//! The console (SPEC §3, §6) over HTTP with a cookie-keeping client, on
//! both backends.

use crate::helpers::{Client, PASSWORD, TestDb, spawn_app};
use latchkey::domain::Role;
use time::{Duration, OffsetDateTime};

both_backends!(
    admin_signs_in_with_the_first_start_password,
    wrong_passwords_are_throttled,
    each_role_is_offered_exactly_its_scopes,
    generate_reveals_once_and_never_twice,
    forged_scopes_and_missing_csrf_change_nothing,
    bad_names_and_dates_keep_the_input,
    names_are_shown_escaped,
    members_touch_only_their_own_tokens,
    bulk_revoke_confirms_then_revokes_in_one_go,
    admins_see_and_revoke_every_token,
    list_filters_search_and_pages,
    disabled_members_lose_their_session,
    the_last_admin_stays,
    admins_add_members_who_can_sign_in,
    audit_log_records_changes_for_admins_only,
    sign_out_and_expired_sessions,
    security_headers_and_cross_site_posts,
    expiring_tokens_are_flagged_filtered_and_announced,
);

fn expiring_tokens_are_flagged_filtered_and_announced(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    app.create_token("dev@example.com", "soon", &["datastore:read"], 3);
    app.create_token("dev@example.com", "later", &["datastore:read"], 30);
    let c = app.client();
    c.sign_in("dev@example.com", PASSWORD);
    let first = c.get("/settings/api-tokens");
    first.assert_contains("1 of your tokens stops working within 7 days.");
    first.assert_contains("class=\"expires soon\"");
    // Announced once per sign-in.
    let again = c.get("/settings/api-tokens");
    assert!(!again.body.contains("stops working within 7 days"));
    let expiring = c.get("/settings/api-tokens?status=expiring");
    expiring.assert_contains("soon").assert_contains("1 token");
    assert!(!expiring.body.contains(">later<"));
    // The API filters the same way.
    let token = app.create_token("dev@example.com", "api", &["tokens:read"], 60);
    let page = c
        .api("GET", "/api/v1/tokens?status=expiring", Some(&token))
        .json();
    assert_eq!(page["total"], 1);
    assert_eq!(page["tokens"][0]["name"], "soon");
}

fn admin_signs_in_with_the_first_start_password(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.client();
    let anonymous = c.get("/settings/api-tokens");
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), Some("/login"));

    let wrong = c.try_sign_in(&app.admin_email, "not the password");
    wrong
        .assert_status(401)
        .assert_contains("Incorrect email or password.");
    assert!(
        wrong
            .body
            .contains(&format!("value=\"{}\"", app.admin_email)),
        "email kept"
    );

    let unknown = c.try_sign_in("nobody@example.com", "whatever it is");
    unknown
        .assert_status(401)
        .assert_contains("Incorrect email or password.");

    c.sign_in(&app.admin_email, &app.admin_password);
    let list = c.get("/settings/api-tokens");
    list.assert_status(200)
        .assert_contains("<h1>API Tokens</h1>");
    list.assert_contains("Generate New API Token")
        .assert_contains("No tokens yet");
    assert_eq!(list.header("cache-control"), Some("no-store"));
    // Signed in, the login page sends you on.
    assert_eq!(c.get("/login").status, 303);
}

fn wrong_passwords_are_throttled(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let c = app.client();
    for _ in 0..5 {
        c.try_sign_in("dev@example.com", "wrong password!")
            .assert_status(401);
    }
    let throttled = c.try_sign_in("dev@example.com", PASSWORD);
    throttled
        .assert_status(429)
        .assert_contains("Too many failed sign-ins");
    assert!(throttled.header("retry-after").is_some());
    // Another email is not affected.
    app.add_member("other@example.com", Role::Viewer);
    app.client().sign_in("other@example.com", PASSWORD);
    // A new client (another instance would share the same database) is throttled too.
    app.client()
        .try_sign_in("dev@example.com", PASSWORD)
        .assert_status(429);
    // After the window, sign-in works again.
    app.service.clock().advance(Duration::minutes(16));
    app.client().sign_in("dev@example.com", PASSWORD);
}

fn each_role_is_offered_exactly_its_scopes(db: &TestDb) {
    let app = spawn_app(db);
    let cases = [
        ("viewer@example.com", Role::Viewer),
        ("dev@example.com", Role::Developer),
        ("admin2@example.com", Role::Admin),
    ];
    for (email, role) in cases {
        let c = app.member(email, role);
        let form = c.get("/settings/api-tokens/new");
        form.assert_status(200);
        for seed in latchkey::domain::Scope::SEED {
            let scope = &seed.scope;
            let offered = form
                .body
                .contains(&format!("name=\"scopes\" value=\"{scope}\""));
            assert_eq!(offered, role >= seed.min_role, "{role} and {scope}");
            if offered {
                form.assert_contains(seed.description);
            }
        }
        for field in [
            "name=\"name\"",
            "name=\"expires_in\"",
            "name=\"expires_on\"",
            "value=\"7\"",
            "value=\"30\"",
            "value=\"60\"",
            "value=\"90\"",
            "value=\"custom\"",
        ] {
            form.assert_contains(field);
        }
        assert!(
            !form.body.contains("value=\"never\""),
            "no expiry is off by default"
        );
    }
}

fn generate_reveals_once_and_never_twice(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    let form = c.get("/settings/api-tokens/new");
    let csrf = form.csrf();
    let nonce = form.field("form_nonce").expect("nonce");
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("form_nonce", nonce.as_str()),
        ("name", "CI deploy"),
        ("expires_in", "custom"),
        ("expires_on", &crate::helpers::in_days(20)),
        ("scopes", "datastore:read"),
        ("scopes", "datastore:write"),
    ];
    let reveal = c.post("/settings/api-tokens", &fields);
    reveal
        .assert_status(200)
        .assert_contains("won't be able to see it again");
    assert_eq!(reveal.header("cache-control"), Some("no-store"));
    let token = reveal.revealed_token().expect("token in #new-token");
    assert!(token.starts_with("lk_") && token.len() == 39);

    // The same form again (reload, back, double click): no second token.
    let again = c.post("/settings/api-tokens", &fields);
    again
        .assert_status(409)
        .assert_contains("already submitted");
    assert!(again.revealed_token().is_none());
    assert!(!again.body.contains(&token));
    assert_eq!(app.token_count(), 1);

    // The list shows it, but never the secret.
    let list = c.get("/settings/api-tokens");
    list.assert_contains("CI deploy")
        .assert_contains("datastore:write")
        .assert_contains("in 20 days");
    assert!(!list.body.contains(&token));
    assert!(list.body.contains(&token[token.len() - 4..]), "hint shown");
    let id = app.token_id("CI deploy");
    assert_eq!(app.token_status(id), "active");
}

fn forged_scopes_and_missing_csrf_change_nothing(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    for scope in ["org:admin", "tokens:introspect", "root:everything"] {
        let page = c.generate(&[("name", "x"), ("expires_in", "30"), ("scopes", scope)]);
        page.assert_status(403);
    }
    let form = c.get("/settings/api-tokens/new");
    let nonce = form.field("form_nonce").expect("nonce");
    let base = [
        ("name", "x"),
        ("expires_in", "30"),
        ("scopes", "datastore:read"),
        ("form_nonce", nonce.as_str()),
    ];
    c.post("/settings/api-tokens", &base).assert_status(403);
    let mut wrong = base.to_vec();
    wrong.push(("csrf_token", "0123456789abcdef"));
    c.post("/settings/api-tokens", &wrong).assert_status(403);
    // Another session's token does not work here.
    let other = app.member("other@example.com", Role::Developer);
    let other_csrf = other.csrf();
    let mut foreign = base.to_vec();
    foreign.push(("csrf_token", &other_csrf));
    c.post("/settings/api-tokens", &foreign).assert_status(403);
    // Nor does a login without the page's token.
    app.client()
        .post(
            "/login",
            &[("email", "dev@example.com"), ("password", PASSWORD)],
        )
        .assert_status(403);
    assert_eq!(app.token_count(), 0);
}

fn bad_names_and_dates_keep_the_input(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    c.generate_token("taken", &["datastore:read"]);
    let long = "n".repeat(101);
    let today = crate::helpers::in_days(0);
    let past = crate::helpers::in_days(-3);
    let far = crate::helpers::in_days(400);
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("name", ""),
                ("expires_in", "30"),
                ("scopes", "datastore:read"),
            ],
            "name-error",
            "Enter a name",
        ),
        (
            vec![
                ("name", "   "),
                ("expires_in", "30"),
                ("scopes", "datastore:read"),
            ],
            "name-error",
            "Enter a name",
        ),
        (
            vec![
                ("name", &long),
                ("expires_in", "30"),
                ("scopes", "datastore:read"),
            ],
            "name-error",
            "at most 100",
        ),
        (
            vec![
                ("name", "tab\there"),
                ("expires_in", "30"),
                ("scopes", "datastore:read"),
            ],
            "name-error",
            "control characters",
        ),
        (
            vec![
                ("name", "taken"),
                ("expires_in", "30"),
                ("scopes", "datastore:read"),
            ],
            "name-error",
            "already have an active token",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "custom"),
                ("expires_on", &past),
                ("scopes", "datastore:read"),
            ],
            "expires_on-error",
            "in the future",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "custom"),
                ("expires_on", &today),
                ("scopes", "datastore:read"),
            ],
            "expires_on-error",
            "in the future",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "custom"),
                ("expires_on", &far),
                ("scopes", "datastore:read"),
            ],
            "expires_on-error",
            "at most 365 days",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "custom"),
                ("expires_on", "2030-13-01"),
                ("scopes", "datastore:read"),
            ],
            "expires_on-error",
            "YYYY-MM-DD",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "custom"),
                ("expires_on", ""),
                ("scopes", "datastore:read"),
            ],
            "expires_on-error",
            "YYYY-MM-DD",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "45"),
                ("scopes", "datastore:read"),
            ],
            "expires_in-error",
            "Choose 7, 30, 60 or 90",
        ),
        (
            vec![
                ("name", "kept name"),
                ("expires_in", "never"),
                ("scopes", "datastore:read"),
            ],
            "expires_in-error",
            "requires every token to expire",
        ),
        (
            vec![("name", "kept name"), ("expires_in", "30")],
            "scopes-error",
            "at least one scope",
        ),
    ];
    for (fields, error_id, message) in cases {
        let page = c.generate(&fields);
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        page.assert_contains(&format!("id=\"{error_id}\""))
            .assert_contains(message);
        if fields.iter().any(|(_, v)| *v == "kept name") {
            page.assert_contains("value=\"kept name\"");
        }
        // The checked scope stays checked.
        if fields.contains(&("scopes", "datastore:read")) {
            page.assert_contains("value=\"datastore:read\" id=\"scope-datastore:read\" checked");
        }
    }
    assert_eq!(app.token_count(), 1, "nothing written");
}

fn names_are_shown_escaped(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    let evil = "<script>alert('x')</script> & \"quotes\"";
    let reveal = c.generate(&[
        ("name", evil),
        ("expires_in", "7"),
        ("scopes", "reports:read"),
    ]);
    reveal.assert_status(200);
    assert!(!reveal.body.contains("<script>alert"), "reveal escapes");
    let list = c.get("/settings/api-tokens");
    assert!(!list.body.contains("<script>alert"), "list escapes");
    list.assert_contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;");
    // And it is stored as typed.
    assert!(app.token_id(evil) > 0);
}

fn members_touch_only_their_own_tokens(db: &TestDb) {
    let app = spawn_app(db);
    let alice = app.member("alice@example.com", Role::Developer);
    let bob = app.member("bob@example.com", Role::Developer);
    alice.generate_token("alice-1", &["datastore:read"]);
    bob.generate_token("bob-1", &["datastore:read"]);
    let alice_id = app.token_id("alice-1").to_string();
    let bob_id = app.token_id("bob-1").to_string();
    let csrf = alice.csrf();
    alice
        .post(
            &format!("/settings/api-tokens/{bob_id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .assert_status(403);
    alice
        .post(
            "/settings/api-tokens/revoke",
            &[
                ("csrf_token", &csrf),
                ("confirm", "yes"),
                ("ids", &alice_id),
                ("ids", &bob_id),
            ],
        )
        .assert_status(403);
    alice
        .post(
            "/settings/api-tokens/999999/revoke",
            &[("csrf_token", &csrf)],
        )
        .assert_status(403);
    alice
        .post("/settings/api-tokens/-1/revoke", &[("csrf_token", &csrf)])
        .assert_status(404);
    alice
        .post("/settings/api-tokens/abc/revoke", &[("csrf_token", &csrf)])
        .assert_status(404);
    alice
        .post(
            "/settings/api-tokens/revoke",
            &[("csrf_token", &csrf), ("confirm", "yes"), ("ids", "x1")],
        )
        .assert_status(400);
    assert_eq!(app.token_status(alice_id.parse().expect("id")), "active");
    assert_eq!(app.token_status(bob_id.parse().expect("id")), "active");
    // Her own: revoked, and the list says so.
    // Without confirm=yes: the confirmation page, naming the token; nothing changes.
    let asked = alice.post(
        &format!("/settings/api-tokens/{alice_id}/revoke"),
        &[("csrf_token", &csrf)],
    );
    asked
        .assert_status(200)
        .assert_contains("Revoke this token?")
        .assert_contains("alice")
        .assert_contains("name=\"confirm\" value=\"yes\"");
    assert_eq!(app.token_status(alice_id.parse().expect("id")), "active");
    let done = alice.post(
        &format!("/settings/api-tokens/{alice_id}/revoke"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    );
    done.assert_status(303);
    let list = alice.get(done.header("location").expect("location"));
    list.assert_contains("Revoked 1 token");
    assert_eq!(app.token_status(alice_id.parse().expect("id")), "revoked");
    // A developer cannot see the whole organisation.
    alice
        .get("/settings/api-tokens?owner=all")
        .assert_status(403);
    // htmx revoke answers the updated row.
    alice.generate_token("alice-2", &["datastore:read"]);
    let id2 = app.token_id("alice-2");
    let row = alice.post_with(
        &format!("/settings/api-tokens/{id2}/revoke"),
        &[("confirm", "yes")],
        &[("HX-Request", "true"), ("X-CSRF-Token", &csrf)],
    );
    row.assert_status(200)
        .assert_contains(&format!("id=\"token-{id2}\""))
        .assert_contains("Revoked");
    assert!(!row.body.contains("<html"), "a fragment, not a page");
}

fn bulk_revoke_confirms_then_revokes_in_one_go(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    for name in ["one", "two", "three"] {
        c.generate_token(name, &["datastore:read"]);
    }
    let (one, two, three) = (
        app.token_id("one"),
        app.token_id("two"),
        app.token_id("three"),
    );
    let list = c.get("/settings/api-tokens");
    list.assert_contains("id=\"select-all\"")
        .assert_contains("Revoke selected");
    let csrf = list.csrf();
    let (one_s, two_s) = (one.to_string(), two.to_string());
    // Without JavaScript: a confirmation page first, naming the tokens.
    let confirm = c.post(
        "/settings/api-tokens/revoke",
        &[("csrf_token", &csrf), ("ids", &one_s), ("ids", &two_s)],
    );
    confirm
        .assert_status(200)
        .assert_contains("Revoke 2 tokens?")
        .assert_contains("one")
        .assert_contains("two");
    assert_eq!(
        app.token_status(one),
        "active",
        "nothing revoked before confirming"
    );
    let done = c.post(
        "/settings/api-tokens/revoke",
        &[
            ("csrf_token", &csrf),
            ("confirm", "yes"),
            ("ids", &one_s),
            ("ids", &two_s),
        ],
    );
    done.assert_status(303);
    c.get(done.header("location").expect("location"))
        .assert_contains("Revoked 2 tokens");
    assert_eq!(app.token_status(one), "revoked");
    assert_eq!(app.token_status(two), "revoked");
    assert_eq!(app.token_status(three), "active");
    // Nothing selected.
    c.post(
        "/settings/api-tokens/revoke",
        &[("csrf_token", &csrf), ("confirm", "yes")],
    )
    .assert_status(422)
    .assert_contains("Select at least one token");
    // Revoked tokens stay listed for audit.
    c.get("/settings/api-tokens?status=revoked")
        .assert_contains("one")
        .assert_contains("two");
}

fn admins_see_and_revoke_every_token(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.generate_token("dev token", &["datastore:write"]);
    let admin = app.admin();
    let mine = admin.get("/settings/api-tokens");
    assert!(!mine.body.contains("dev token"), "my tokens by default");
    let all = admin.get("/settings/api-tokens?owner=all");
    all.assert_status(200)
        .assert_contains("dev token")
        .assert_contains("dev@example.com")
        .assert_contains("<th scope=\"col\">Owner</th>");
    let id = app.token_id("dev token");
    let csrf = all.csrf();
    admin
        .post(
            &format!("/settings/api-tokens/{id}/revoke"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    assert_eq!(app.token_status(id), "revoked");
}

fn list_filters_search_and_pages(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    let member = app
        .service
        .members()
        .by_email(&latchkey::domain::Email::parse("dev@example.com").expect("email"))
        .expect("member");
    for i in 0..55 {
        app.service
            .tokens()
            .create(
                &latchkey::service::Actor::cli(),
                &member,
                latchkey::service::NewToken {
                    name: latchkey::domain::TokenName::parse(&format!("bulk {i:02}"))
                        .expect("name"),
                    expiry: latchkey::domain::Expiry::On(
                        OffsetDateTime::now_utc().date() + Duration::days(3 + i),
                    ),
                    scopes: [latchkey::domain::Scope::REPORTS_READ]
                        .into_iter()
                        .collect(),
                    nonce: None,
                    allowed_ips: Default::default(),
                    description: None,
                    canary: false,
                },
            )
            .expect("create");
    }
    let first = c.get("/settings/api-tokens");
    first
        .assert_contains("55 tokens")
        .assert_contains("showing 1–50")
        .assert_contains("Next →");
    // Newest first, and the soonest to expire carry the warning.
    first.assert_contains("bulk 54");
    let second = c.get("/settings/api-tokens?status=active&owner=me&page=2");
    second
        .assert_contains("showing 51–55")
        .assert_contains("bulk 00")
        .assert_contains("class=\"expires soon\"");
    let search = c.get("/settings/api-tokens?q=BULK+0");
    search.assert_contains("10 tokens");
    let none = c.get("/settings/api-tokens?q=nothing-like-this");
    none.assert_contains("No tokens match");
    // Expired tokens move to their own filter.
    app.service.clock().advance(Duration::days(5));
    c.sign_in("dev@example.com", PASSWORD); // the idle session ended meanwhile
    c.get("/settings/api-tokens?status=expired")
        .assert_contains("bulk 00")
        .assert_contains("bulk 01");
    c.get("/settings/api-tokens").assert_contains("52 tokens");
    for bad in ["status=gone", "page=0", "page=x", "owner=someone"] {
        c.get(&format!("/settings/api-tokens?{bad}"))
            .assert_status(400);
    }
    // htmx asks for the list alone.
    let fragment = c.get_with("/settings/api-tokens?q=bulk", &[("HX-Request", "true")]);
    fragment
        .assert_status(200)
        .assert_contains("id=\"token-list\"");
    assert!(!fragment.body.contains("<html"));
}

fn disabled_members_lose_their_session(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.get("/settings/api-tokens").assert_status(200);
    let admin = app.admin();
    let page = admin.get("/settings/members");
    let csrf = page.csrf();
    let id = app
        .service
        .members()
        .by_email(&latchkey::domain::Email::parse("dev@example.com").expect("email"))
        .expect("member")
        .id;
    // Without confirm=yes: a page that says what disabling does.
    admin
        .post(
            &format!("/settings/members/{id}/disable"),
            &[("csrf_token", &csrf)],
        )
        .assert_status(200)
        .assert_contains("Disable this member?")
        .assert_contains("dev@example.com");
    dev.get("/settings/api-tokens").assert_status(200);
    admin
        .post(
            &format!("/settings/members/{id}/disable"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    let after = dev.get("/settings/api-tokens");
    assert_eq!(after.status, 303);
    assert_eq!(after.header("location"), Some("/login"));
    let again = app.client().try_sign_in("dev@example.com", PASSWORD);
    again.assert_status(403).assert_contains("disabled");
}

fn the_last_admin_stays(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let page = admin.get("/settings/members");
    let csrf = page.csrf();
    let me = app
        .service
        .members()
        .by_email(&latchkey::domain::Email::parse(&app.admin_email).expect("email"))
        .expect("admin")
        .id;
    admin
        .post(
            &format!("/settings/members/{me}/role"),
            &[("csrf_token", &csrf), ("role", "viewer")],
        )
        .assert_status(409)
        .assert_contains("last active admin");
    admin
        .post(
            &format!("/settings/members/{me}/disable"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(409)
        .assert_contains("last active admin");
    // Not offered on one's own row.
    assert!(
        !admin
            .get("/settings/members")
            .body
            .contains(&format!("/settings/members/{me}/disable"))
    );
    admin
        .post(
            &format!("/settings/members/{me}/role"),
            &[("csrf_token", &csrf), ("role", "owner")],
        )
        .assert_status(422);
    admin
        .get("/settings/members")
        .assert_contains("<option value=\"admin\" selected>");
}

fn admins_add_members_who_can_sign_in(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let page = admin.get("/settings/members");
    page.assert_status(200).assert_contains(&app.admin_email);
    let csrf = page.csrf();
    let added = admin.post(
        "/settings/members",
        &[
            ("csrf_token", &csrf),
            ("email", "New.Person@Example.com"),
            ("role", "viewer"),
        ],
    );
    added
        .assert_status(200)
        .assert_contains("new.person@example.com was added");
    let start = added
        .body
        .find("<code id=\"new-password\">")
        .expect("password shown")
        + "<code id=\"new-password\">".len();
    let password = &added.body[start..start + 20];
    app.client().sign_in("new.person@example.com", password);
    admin
        .post(
            "/settings/members",
            &[
                ("csrf_token", &csrf),
                ("email", "not-an-email"),
                ("role", "viewer"),
            ],
        )
        .assert_status(422)
        .assert_contains("not a valid email")
        .assert_contains("value=\"not-an-email\"");
    admin
        .post(
            "/settings/members",
            &[
                ("csrf_token", &csrf),
                ("email", "new.person@example.com"),
                ("role", "viewer"),
            ],
        )
        .assert_status(422)
        .assert_contains("already exists");
    // Not for developers.
    let dev = app.member("dev@example.com", Role::Developer);
    dev.get("/settings/members").assert_status(403);
    let dev_csrf = dev.csrf();
    dev.post(
        "/settings/members",
        &[
            ("csrf_token", &dev_csrf),
            ("email", "x@example.com"),
            ("role", "admin"),
        ],
    )
    .assert_status(403);
}

fn audit_log_records_changes_for_admins_only(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let token = dev.generate_token("audited", &["datastore:read"]);
    app.client()
        .try_sign_in("dev@example.com", "wrong password!");
    let admin = app.admin();
    let log = admin.get("/settings/audit");
    log.assert_status(200)
        .assert_contains("token.created")
        .assert_contains("login.failed")
        .assert_contains("login.succeeded")
        .assert_contains("member.added");
    assert!(!log.body.contains(&token), "never a secret");
    assert!(!log.body.contains(PASSWORD));
    admin
        .get("/settings/audit?action=token.created")
        .assert_contains("audited");
    admin.get("/settings/audit?action=nope").assert_status(400);
    dev.get("/settings/audit").assert_status(403);
}

fn sign_out_and_expired_sessions(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    let csrf = c.csrf();
    let out = c.post("/logout", &[("csrf_token", &csrf)]);
    out.assert_status(303);
    assert_eq!(c.get("/settings/api-tokens").status, 303);
    c.get("/login?signed_out=1")
        .assert_contains("You are signed out.");

    let idle = app.client();
    idle.sign_in("dev@example.com", PASSWORD);
    idle.get("/settings/api-tokens").assert_status(200);
    app.service.clock().advance(Duration::hours(9));
    assert_eq!(
        idle.get("/settings/api-tokens").status,
        303,
        "idle session ended"
    );
    let htmx = idle.get_with("/settings/api-tokens", &[("HX-Request", "true")]);
    htmx.assert_status(401);
    assert_eq!(htmx.header("hx-redirect"), Some("/login"));
}

fn security_headers_and_cross_site_posts(db: &TestDb) {
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    let page = c.get("/settings/api-tokens");
    let csp = page.header("content-security-policy").expect("csp");
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(!page.body.contains("<script>"), "no inline script");
    let cookie = app.client().get("/login");
    let set_cookie = cookie.header("set-cookie").expect("session cookie");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let csrf = page.csrf();
    let form = c.get("/settings/api-tokens/new");
    let nonce = form.field("form_nonce").expect("nonce");
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("form_nonce", nonce.as_str()),
        ("name", "x"),
        ("expires_in", "30"),
        ("scopes", "datastore:read"),
    ];
    c.post_with(
        "/settings/api-tokens",
        &fields,
        &[("Origin", "https://evil.example")],
    )
    .assert_status(403);
    c.post_with(
        "/settings/api-tokens",
        &fields,
        &[("Sec-Fetch-Site", "cross-site")],
    )
    .assert_status(403);
    assert_eq!(app.token_count(), 0);
    // Static files are served from the binary.
    let htmx = Client::new(&app.base).get("/static/htmx.min.js");
    htmx.assert_status(200);
    assert!(htmx.body.len() > 40_000);
    // Bad form encoding is a clear 400, not a 500.
    c.post_raw(
        "/settings/api-tokens",
        "application/x-www-form-urlencoded",
        b"name=%ff%fe&csrf_token=x",
    )
    .assert_status(400)
    .assert_contains("not valid UTF-8");
}
