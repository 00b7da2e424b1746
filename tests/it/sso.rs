//! Single sign-on (SPEC §12, OpenID Connect) against the suite's own
//! identity provider: success, every way the answer can be wrong, and who
//! may come in. Both backends.

use crate::helpers::{Client, Page, TestApp, TestDb, spawn_app_with};
use crate::idp::{CLIENT_ID, CLIENT_SECRET, Flaw, Idp};
use latchkey::config::ServerConfig;
use latchkey::domain::Role;
use latchkey::service::SsoConfig;

both_backends!(
    members_sign_in_through_the_identity_provider,
    wrong_answers_sign_no_one_in,
    only_verified_members_come_in_unless_a_default_role_lets_them,
    passwords_turn_off_once_single_sign_on_works,
);

pub(crate) fn sso_config(idp: &Idp, default_role: Option<Role>) -> SsoConfig {
    SsoConfig {
        issuer: idp.base.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        default_role,
        label: "Test IdP".into(),
        public_url: None,
    }
}

fn app_with_sso(db: &TestDb, idp: &Idp, default_role: Option<Role>) -> TestApp {
    spawn_app_with(
        db,
        ServerConfig {
            sso: Some(sso_config(idp, default_role)),
            ..ServerConfig::default()
        },
    )
}

/// Goes to the provider and back; returns the client and Latchkey's
/// answer to the callback, and the callback's address (for replaying).
fn through_the_provider(app: &TestApp) -> (Client, Page, String) {
    let c = app.client();
    let start = c.get("/login/oidc");
    start.assert_status(303);
    let to_idp = start
        .header("location")
        .expect("to the provider")
        .to_owned();
    assert!(to_idp.contains("code_challenge_method=S256"), "{to_idp}");
    assert!(to_idp.contains("nonce="), "{to_idp}");
    let provider = Client::new("");
    let back = provider.get(&to_idp);
    back.assert_status(303);
    let callback = back.header("location").expect("back to Latchkey");
    let path = callback
        .strip_prefix(&app.base)
        .expect("the callback is on Latchkey")
        .to_owned();
    let answer = c.get(&path);
    (c, answer, path)
}

fn assert_refused(page: &Page, status: u16, says: &str) {
    page.assert_status(status).assert_contains(says);
}

fn members_sign_in_through_the_identity_provider(db: &TestDb) {
    let idp = Idp::start();
    let app = app_with_sso(db, &idp, None);
    app.add_member("dev@example.com", Role::Developer);
    app.client()
        .get("/login")
        .assert_contains("Sign in with Test IdP");
    let (c, answer, callback) = through_the_provider(&app);
    answer.assert_status(303);
    assert_eq!(answer.header("location"), Some("/settings/api-tokens"));
    c.get("/settings/api-tokens")
        .assert_status(200)
        .assert_contains("dev@example.com");
    assert_eq!(app.audit_count("login.sso_succeeded"), 1);
    // The same answer again (a replayed state) signs no one in.
    let replay = app.client();
    assert_refused(&replay.get(&callback), 401, "already used");
    assert_refused(&c.get(&callback), 401, "already used");
    assert_eq!(app.audit_count("login.sso_succeeded"), 1);
    // A member added with a generated password who signs in this way is
    // not asked for it: it retires.
    let generated = latchkey::domain::Password::generate().expect("password");
    app.service
        .members()
        .add(
            &latchkey::service::Actor::cli(),
            &latchkey::domain::Email::parse("new@example.com").expect("email"),
            Role::Viewer,
            &generated,
        )
        .expect("add");
    idp.sign_in_as("new@example.com", true);
    let (newcomer, answer, _) = through_the_provider(&app);
    answer.assert_status(303);
    newcomer.get("/settings/api-tokens").assert_status(200);
    assert_eq!(
        app.client()
            .try_sign_in("new@example.com", generated.expose())
            .status,
        401
    );
    // Without SSO configured, its pages do not exist.
    let plain = crate::helpers::spawn_second(db, &app);
    plain.client().get("/login/oidc").assert_status(404);
    assert!(!plain.client().get("/login").body.contains("Sign in with"));
}

fn wrong_answers_sign_no_one_in(db: &TestDb) {
    let idp = Idp::start();
    let app = app_with_sso(db, &idp, None);
    app.add_member("dev@example.com", Role::Developer);
    for (flaw, says) in [
        (Flaw::BadSignature, "ID token is not valid"),
        (Flaw::WrongAudience, "ID token is not valid"),
        (Flaw::Expired, "ID token is not valid"),
        (Flaw::WrongIssuer, "ID token is not valid"),
        (Flaw::WrongNonce, "ID token is not valid"),
    ] {
        idp.set_flaw(flaw);
        let (c, answer, _) = through_the_provider(&app);
        assert_refused(&answer, 401, says);
        assert_eq!(
            c.get("/settings/api-tokens").status,
            303,
            "{flaw:?} signed someone in"
        );
    }
    idp.set_flaw(Flaw::None);
    // Each forged answer is in the audit log, for the admins.
    assert_eq!(app.audit_count("login.failed"), 5);
    // A state that is not this browser's.
    let c = app.client();
    let to_idp = c
        .get("/login/oidc")
        .header("location")
        .expect("go")
        .to_owned();
    let back = Client::new("").get(&to_idp);
    let callback = back.header("location").expect("back").to_owned();
    let forged = callback.replace("state=", "state=x");
    let path = forged.strip_prefix(&app.base).expect("ours");
    assert_refused(&c.get(path), 401, "does not belong to this sign-in");
    // The provider's own refusal, and an answer with nothing in it.
    let c = app.client();
    c.get("/login/oidc");
    assert_refused(
        &c.get("/login/oidc/callback?error=access_denied&state=s"),
        401,
        "access_denied",
    );
    let c = app.client();
    c.get("/login/oidc");
    assert_refused(&c.get("/login/oidc/callback"), 401, "lacks a code");
    assert_eq!(app.audit_count("login.sso_succeeded"), 0);
    // A provider that is down (to an instance that has not met it yet):
    // a clear 503, nothing else.
    idp.stop();
    let fresh = crate::helpers::spawn_second_with(
        db,
        &app,
        ServerConfig {
            sso: Some(sso_config(&idp, None)),
            ..ServerConfig::default()
        },
    );
    assert_refused(
        &fresh.client().get("/login/oidc"),
        503,
        "could not be reached",
    );
}

fn only_verified_members_come_in_unless_a_default_role_lets_them(db: &TestDb) {
    let idp = Idp::start();
    let app = app_with_sso(db, &idp, None);
    app.add_member("dev@example.com", Role::Developer);
    // An email the provider has not verified matches no one.
    idp.sign_in_as("dev@example.com", false);
    let (_, answer, _) = through_the_provider(&app);
    assert_refused(&answer, 403, "not verified");
    // Someone who is no member is refused …
    idp.sign_in_as("stranger@example.com", true);
    let (_, answer, _) = through_the_provider(&app);
    assert_refused(&answer, 403, "not a member");
    // … and so is a disabled member.
    db.cli(&["user", "disable", "--email", "dev@example.com"])
        .ok();
    idp.sign_in_as("dev@example.com", true);
    let (_, answer, _) = through_the_provider(&app);
    assert_refused(&answer, 403, "disabled");
    assert_eq!(app.audit_count("login.failed"), 3);

    // With a default role, a stranger joins with it.
    let joining = crate::helpers::spawn_second_with(
        db,
        &app,
        ServerConfig {
            sso: Some(sso_config(&idp, Some(Role::Viewer))),
            ..ServerConfig::default()
        },
    );
    idp.sign_in_as("stranger@example.com", true);
    let (c, answer, _) = through_the_provider(&joining);
    answer.assert_status(303);
    c.get("/settings/api-tokens").assert_status(200);
    c.get("/settings/account")
        .assert_contains("have no Latchkey password");
    let listed = db.cli(&["user", "list", "--json"]).ok();
    assert!(listed.contains("stranger@example.com"), "{listed}");
    assert_eq!(
        app.service
            .members()
            .by_email(&latchkey::domain::Email::parse("stranger@example.com").expect("email"))
            .expect("joined")
            .role,
        Role::Viewer
    );
    // They have no password: the password form never lets them in.
    assert_eq!(
        app.client()
            .try_sign_in("stranger@example.com", "!single-sign-on")
            .status,
        401
    );
    // Still unverified is still refused, default role or not.
    idp.sign_in_as("other@example.com", false);
    let (_, answer, _) = through_the_provider(&joining);
    assert_refused(&answer, 403, "not verified");
}

fn passwords_turn_off_once_single_sign_on_works(db: &TestDb) {
    let idp = Idp::start();
    let app = app_with_sso(db, &idp, None);
    let policy = |c: &Client, sso_only: bool| {
        let csrf = c.csrf();
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("max_lifetime_days", "365"),
            ("default_expiry_days", "30"),
        ];
        if sso_only {
            form.push(("sso_only", "on"));
        }
        c.post("/settings/policy", &form)
    };
    // Not before the admin has seen single sign-on work.
    let by_password = app.admin();
    by_password
        .get("/settings/policy")
        .assert_contains("Sign in with single sign-on only");
    policy(&by_password, true)
        .assert_status(422)
        .assert_contains("Sign in with single sign-on yourself first");
    idp.sign_in_as(&app.admin_email, true);
    let (admin, answer, _) = through_the_provider(&app);
    answer.assert_status(303);
    policy(&admin, true).assert_status(303);
    admin
        .get("/settings/audit?action=policy.changed")
        .assert_contains("password sign-in off");

    // Passwords no longer sign in; the page offers single sign-on only.
    let login = app.client().get("/login");
    login.assert_contains("single sign-on only");
    assert!(!login.body.contains("name=\"password\""));
    // The way back if the provider is gone: start without it.
    let plain = crate::helpers::spawn_second(db, &app);
    plain
        .client()
        .sign_in(&app.admin_email, &app.admin_password);
    // A password posted anyway (a form from that instance: cookies do not
    // tell ports apart) is refused here.
    let c = plain.client();
    let csrf = c.get("/login").csrf();
    assert_refused(
        &c.at(&app.base).post(
            "/login",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", app.admin_email.as_str()),
                ("password", app.admin_password.as_str()),
            ],
        ),
        403,
        "single sign-on only",
    );
    // And an admin can turn passwords on again.
    policy(&admin, false).assert_status(303);
    app.client().sign_in(&app.admin_email, &app.admin_password);
}
