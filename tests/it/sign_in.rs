//! Sign-in a security review accepts (SPEC §12): passwords Latchkey
//! generated are replaced first, common passwords are refused, and
//! two-factor sign-in (TOTP) with recovery codes, an organisation-wide
//! requirement and an admin's reset. Both backends, through HTTP and the
//! CLI.

use crate::helpers::{Client, PASSWORD, Page, TestApp, TestDb, spawn_app, spawn_app_as_shipped};
use latchkey::domain::Role;
use totp_rs::{Builder, Secret};

both_backends!(
    a_generated_password_is_replaced_before_anything_else,
    the_most_common_passwords_are_refused,
    two_factor_sign_in_from_enrolment_to_recovery_codes,
    wrong_codes_count_toward_the_sign_in_limits,
    an_organisation_requires_two_factor_and_an_admin_resets_it,
);

/// The text of the element with this id (no nested elements).
fn element_text(page: &Page, id: &str) -> String {
    let needle = format!("id=\"{id}\"");
    let start = page.body.find(&needle).expect(id);
    let open = page.body[start..].find('>').expect("tag end") + start + 1;
    let close = page.body[open..].find('<').expect("text end") + open;
    page.body[open..close].trim().to_owned()
}

/// The code an authenticator app holding `secret` shows `offset` seconds
/// from now.
pub(crate) fn code_at(secret: &str, offset: i64) -> String {
    let totp = Builder::new()
        .with_secret(Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("authenticator");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset;
    totp.generate(u64::try_from(now).expect("after 1970"))
        .to_string()
}

fn change_password(c: &Client, current: &str, new: &str) -> Page {
    let csrf = c.get("/settings/account").csrf();
    c.post(
        "/settings/account/password",
        &[
            ("csrf_token", &csrf),
            ("current_password", current),
            ("new_password", new),
        ],
    )
}

fn assert_sent_to(page: &Page, to: &str) {
    page.assert_status(303);
    assert_eq!(page.header("location"), Some(to), "{}", page.body);
}

fn a_generated_password_is_replaced_before_anything_else(db: &TestDb) {
    let app = spawn_app_as_shipped(db);
    let admin = app.client();
    admin.sign_in(&app.admin_email, &app.admin_password);
    // Every console page leads to the account page first …
    for path in [
        "/settings/api-tokens",
        "/settings/api-tokens/new",
        "/settings/members",
        "/settings/policy",
        "/settings/audit",
        "/settings/account/2fa",
    ] {
        assert_sent_to(&admin.get(path), "/settings/account");
    }
    let htmx = admin.get_with("/settings/api-tokens", &[("HX-Request", "true")]);
    assert_eq!(htmx.header("hx-redirect"), Some("/settings/account"));
    // … and so does every form, which changes nothing.
    let csrf = admin.get("/settings/account").csrf();
    let blocked = admin.post(
        "/settings/members",
        &[
            ("csrf_token", &csrf),
            ("email", "early@example.com"),
            ("role", "viewer"),
        ],
    );
    assert_sent_to(&blocked, "/settings/account");
    assert_eq!(app.audit_count("member.added"), 1, "only the first admin");
    admin
        .get("/settings/account")
        .assert_status(200)
        .assert_contains("id=\"must-change\"");
    // The new one must be a real choice.
    change_password(&admin, &app.admin_password, "qwerty123456")
        .assert_status(422)
        .assert_contains("most common passwords");
    let chosen = "the first admin chose this";
    assert_sent_to(
        &change_password(&admin, &app.admin_password, chosen),
        "/settings/api-tokens",
    );
    admin.get("/settings/api-tokens").assert_status(200);
    assert!(
        !admin
            .get("/settings/account")
            .body
            .contains("id=\"must-change\"")
    );

    // A member an admin adds in the console gets a one-time password …
    let csrf = admin.csrf();
    let added = admin.post(
        "/settings/members",
        &[
            ("csrf_token", &csrf),
            ("email", "new@example.com"),
            ("role", "developer"),
        ],
    );
    let one_time = element_text(&added, "new-password");
    assert_eq!(one_time.len(), 20);
    let member = app.client();
    member.sign_in("new@example.com", &one_time);
    assert_sent_to(&member.get("/settings/api-tokens"), "/settings/account");
    assert_sent_to(
        &change_password(&member, &one_time, "my very own password"),
        "/settings/api-tokens",
    );
    member.get("/settings/api-tokens").assert_status(200);

    // … and so does one the CLI adds without --password-stdin.
    let printed = db.cli(&[
        "user",
        "add",
        "--email",
        "cli@example.com",
        "--role",
        "viewer",
    ]);
    let line = printed.ok();
    let generated = line
        .split("One-time password: ")
        .nth(1)
        .expect("a one-time password")
        .split_whitespace()
        .next()
        .expect("the password")
        .to_owned();
    let cli_member = app.client();
    cli_member.sign_in("cli@example.com", &generated);
    assert_sent_to(&cli_member.get("/settings/api-tokens"), "/settings/account");
    // A password typed into --password-stdin is the member's own.
    db.cli_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "own@example.com",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("typed by the member\n"),
    )
    .ok();
    let own = app.client();
    own.sign_in("own@example.com", "typed by the member");
    own.get("/settings/api-tokens").assert_status(200);
}

fn the_most_common_passwords_are_refused(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    for common in ["qwerty123456", "1Q2W3E4R5T6Y", "qazwsxedcrfv"] {
        change_password(&dev, PASSWORD, common)
            .assert_status(422)
            .assert_contains("10,000 most common passwords");
    }
    // Nothing changed: the old password still signs in.
    app.client().sign_in("dev@example.com", PASSWORD);
    db.cli_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "weak@example.com",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("123456789qwerty\n"),
    )
    .fails(1, "most common passwords");
}

/// Turns two-factor on for the signed-in client; returns the secret and
/// the recovery codes.
fn enrol(c: &Client) -> (String, Vec<String>) {
    let page = c.get("/settings/account/2fa");
    page.assert_status(200).assert_contains("<svg");
    let secret = element_text(&page, "totp-secret");
    assert!(secret.len() >= 32, "{secret}");
    let csrf = page.csrf();
    c.post(
        "/settings/account/2fa",
        &[("csrf_token", csrf.as_str()), ("code", "000000")],
    )
    .assert_status(422)
    .assert_contains("not right");
    let done = c.post(
        "/settings/account/2fa",
        &[
            ("csrf_token", csrf.as_str()),
            ("code", &code_at(&secret, 0)),
        ],
    );
    done.assert_status(200);
    assert_eq!(done.header("cache-control"), Some("no-store"));
    let list = &done.body[done.body.find("id=\"recovery-codes\"").expect("codes")..];
    let codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    (secret, codes)
}

/// Signs in with a password; the answer points at the second step.
fn password_step(app: &TestApp, email: &str, password: &str) -> Client {
    let c = app.client();
    let page = c.try_sign_in(email, password);
    assert_sent_to(&page, "/login/2fa");
    c
}

fn give_code(c: &Client, code: &str) -> Page {
    let page = c.get("/login/2fa");
    page.assert_status(200).assert_contains("name=\"code\"");
    let csrf = page.csrf();
    c.post(
        "/login/2fa",
        &[("csrf_token", csrf.as_str()), ("code", code)],
    )
}

fn two_factor_sign_in_from_enrolment_to_recovery_codes(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let (secret, codes) = enrol(&dev);
    dev.get("/settings/account")
        .assert_contains("You have 10 unused recovery codes.");
    // The enrolment page is done with; it leads back to the account.
    assert_sent_to(&dev.get("/settings/account/2fa"), "/settings/account");

    // The password alone no longer signs in.
    let c = password_step(&app, "dev@example.com", PASSWORD);
    assert_sent_to(&c.get("/settings/api-tokens"), "/login");
    give_code(&c, "123456")
        .assert_status(401)
        .assert_contains("not right");
    // The next step's code is accepted (one step of clock skew) …
    let next = code_at(&secret, 30);
    assert_sent_to(&give_code(&c, &next), "/settings/api-tokens");
    c.get("/settings/api-tokens").assert_status(200);
    // … once: the same code again is a replay.
    let again = password_step(&app, "dev@example.com", PASSWORD);
    give_code(&again, &next)
        .assert_status(401)
        .assert_contains("used already");
    // A recovery code works, however it is typed, and only once.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_sent_to(&give_code(&again, &typed), "/settings/api-tokens");
    let third = password_step(&app, "dev@example.com", PASSWORD);
    give_code(&third, &codes[3]).assert_status(401);
    assert_eq!(app.audit_count("member.recovery_code_used"), 1);
    assert_eq!(app.audit_count("member.2fa_enrolled"), 1);
    dev.get("/settings/account")
        .assert_contains("You have 9 unused recovery codes.");

    // Without the password step, the code page sends to sign-in.
    let stranger = app.client();
    assert_sent_to(&stranger.get("/login/2fa"), "/login");
    let csrf = stranger.get("/login").csrf();
    assert_sent_to(
        &stranger.post(
            "/login/2fa",
            &[("csrf_token", csrf.as_str()), ("code", &next)],
        ),
        "/login",
    );

    // No secret, code or recovery code reaches the audit log.
    let admin = app.admin();
    let log = admin.get("/settings/audit").body;
    assert!(!log.contains(&secret));
    assert!(codes.iter().all(|code| !log.contains(code.as_str())));
    assert!(!log.contains(&next));

    // Turning it off takes a code. (Four wrong codes so far: a fifth
    // would reach the sign-in limit, which the next test covers.)
    let csrf = dev.get("/settings/account").csrf();
    assert_sent_to(
        &dev.post(
            "/settings/account/2fa/off",
            &[("csrf_token", csrf.as_str()), ("code", &codes[0])],
        ),
        "/settings/account",
    );
    assert_eq!(app.audit_count("member.2fa_disabled"), 1);
    app.client().sign_in("dev@example.com", PASSWORD);
}

fn wrong_codes_count_toward_the_sign_in_limits(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let (secret, _) = enrol(&dev);
    let c = password_step(&app, "dev@example.com", PASSWORD);
    // The wrong code typed while enrolling counted too: four more.
    for _ in 0..4 {
        give_code(&c, "000000").assert_status(401);
    }
    let locked = give_code(&c, &code_at(&secret, 0));
    locked
        .assert_status(429)
        .assert_contains("Too many wrong codes");
    assert!(locked.header("retry-after").is_some());
    // The password form is under the same limit for this member.
    assert_eq!(
        app.client().try_sign_in("dev@example.com", PASSWORD).status,
        429
    );
}

fn an_organisation_requires_two_factor_and_an_admin_resets_it(db: &TestDb) {
    let app = spawn_app(db);
    let admin = app.admin();
    let dev_page = app.member("dev@example.com", Role::Developer);
    drop(dev_page);
    let require = |c: &Client| {
        let csrf = c.csrf();
        c.post(
            "/settings/policy",
            &[
                ("csrf_token", csrf.as_str()),
                ("max_lifetime_days", "365"),
                ("default_expiry_days", "30"),
                ("require_two_factor", "on"),
            ],
        )
    };
    // An admin without two-factor cannot require it (they would be
    // locked out of everything else at once).
    require(&admin)
        .assert_status(422)
        .assert_contains("your own account first");
    let (admin_secret, _) = enrol(&admin);
    assert_sent_to(&require(&admin), "/settings/policy");
    admin
        .get("/settings/audit?action=policy.changed")
        .assert_contains("two-factor sign-in now required");

    // A member without it is sent to enrolment, and only there.
    let dev = app.client();
    dev.sign_in("dev@example.com", PASSWORD);
    for path in [
        "/settings/api-tokens",
        "/settings/members",
        "/settings/api-tokens/new",
    ] {
        assert_sent_to(&dev.get(path), "/settings/account/2fa");
    }
    dev.get("/settings/account/2fa")
        .assert_status(200)
        .assert_contains("id=\"two-factor-required\"");
    let (dev_secret, _) = enrol(&dev);
    dev.get("/settings/api-tokens").assert_status(200);
    // Required: it cannot be turned off.
    let csrf = dev.get("/settings/account").csrf();
    dev.post(
        "/settings/account/2fa/off",
        &[
            ("csrf_token", csrf.as_str()),
            ("code", &code_at(&dev_secret, 30)),
        ],
    )
    .assert_status(403);

    // The admin resets the member's second factor (a lost phone).
    let dev_id = app.member_id("dev@example.com");
    let csrf = admin.csrf();
    assert_sent_to(
        &admin.post(
            &format!("/settings/members/{}/reset-2fa", dev_id.0),
            &[("csrf_token", csrf.as_str())],
        ),
        "/settings/members",
    );
    assert_eq!(app.audit_count("member.2fa_reset"), 1);
    // Nobody resets their own (that takes a code, on the Account page):
    // a borrowed session must not swap the owner's authenticator.
    let admin_id = app.member_id(&app.admin_email);
    let csrf = admin.csrf();
    admin
        .post(
            &format!("/settings/members/{}/reset-2fa", admin_id.0),
            &[("csrf_token", csrf.as_str())],
        )
        .assert_status(403);
    assert_eq!(app.audit_count("member.2fa_reset"), 1);
    // The password now leads straight in, and on to enrolment again.
    let back = app.client();
    back.sign_in("dev@example.com", PASSWORD);
    assert_sent_to(&back.get("/settings/api-tokens"), "/settings/account/2fa");
    // A developer cannot reset anyone's.
    let (_, _) = enrol(&back);
    let csrf = back.csrf();
    back.post(
        &format!(
            "/settings/members/{}/reset-2fa",
            app.member_id(&app.admin_email).0
        ),
        &[("csrf_token", csrf.as_str())],
    )
    .assert_status(403);

    // The CLI resets too; a member without two-factor is a clear error.
    db.cli(&["user", "reset-2fa", "--email", "dev@example.com"])
        .ok();
    assert_eq!(app.audit_count("member.2fa_reset"), 2);
    db.cli(&["user", "reset-2fa", "--email", "dev@example.com"])
        .fails(1, "has no two-factor sign-in");
    db.cli(&["user", "reset-2fa", "--email", "nobody@example.com"])
        .fails(1, "nobody@example.com");
    let _ = admin_secret;
}
