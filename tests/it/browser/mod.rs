//! The console in a real browser: Debian's Chromium, headless, driven
//! through chromedriver, against the real server, on both backends; with
//! and without JavaScript. Every page visited is checked with axe-core and
//! photographed at 1280×800 and 390×844 under `target/tmp/screenshots/`.

mod webdriver;

use crate::helpers::{PASSWORD, TestApp, TestDb, spawn_app};
use latchkey::domain::Role;
use serde_json::json;
use std::path::PathBuf;
use webdriver::{Browser, Element};

const AXE: &str = include_str!("vendor/axe-4.14.1.min.js");

/// Runs every listed flow on SQLite and PostgreSQL, in a fresh browser.
macro_rules! browser_flows {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() {
                if super::browser_ready(stringify!($name)) {
                    $crate::helpers::on_sqlite(|db| super::$name(&super::Flow::new(db, concat!("sqlite-", stringify!($name)))))
                }
            } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if super::browser_ready(stringify!($name)) {
                    $crate::helpers::on_postgres(stringify!($name), |db| super::$name(&super::Flow::new(db, concat!("postgres-", stringify!($name)))))
                }
            } )*
        }
    };
}

/// Chromium present, or the test says loudly that it did not run (and
/// fails when `LATCHKEY_REQUIRE_BROWSER=1`, as in CI).
fn browser_ready(name: &str) -> bool {
    if webdriver::available() {
        return true;
    }
    if std::env::var("LATCHKEY_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!(
            "browser tests required but Chromium is missing: apt-get install chromium chromium-driver"
        );
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "*** NOT RUN (no Chromium; apt-get install chromium chromium-driver): browser {name}"
    );
    false
}

/// One flow: the app, a browser, where its screenshots go.
pub struct Flow {
    app: TestApp,
    db_url: String,
    shots: PathBuf,
    checked: std::cell::RefCell<Vec<String>>,
    /// A browser with JavaScript, to run axe on pages a script-less
    /// browser shows.
    helper: std::cell::OnceCell<Browser>,
}

impl Flow {
    fn new(db: &TestDb, name: &str) -> Flow {
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("screenshots")
            .join(name);
        let _ = std::fs::remove_dir_all(&shots);
        Flow {
            app: spawn_app(db),
            db_url: db.url.clone(),
            shots,
            checked: Default::default(),
            helper: Default::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    fn browser(&self) -> Browser {
        Browser::start(true)
    }

    fn sign_in(&self, b: &Browser, email: &str, password: &str) {
        b.goto(&self.url("/login"));
        self.look(b, "login");
        b.type_into(&b.field("Email"), email);
        b.type_into(&b.field("Password"), password);
        b.click(&b.button("Sign in"));
        b.wait_until("the token list", |b| {
            b.url().ends_with("/settings/api-tokens")
        });
    }

    fn member(&self, b: &Browser, email: &str, role: Role) {
        self.app.add_member(email, role);
        self.sign_in(b, email, PASSWORD);
    }

    /// Screenshots at both sizes, no sideways scrolling on a phone, and an
    /// accessibility check in the light and the dark scheme, once per page.
    fn look(&self, b: &Browser, page: &str) {
        if self.checked.borrow().iter().any(|p| p == page) {
            return;
        }
        self.checked.borrow_mut().push(page.to_owned());
        for (width, height) in [(1280, 800), (390, 844)] {
            b.set_size(width, height);
            let size = format!("{width}x{height}");
            let shot = self.shots.join(format!("{page}-{size}.png"));
            b.screenshot(&shot);
            self.publish(&shot, page, &size);
            if width == 390 {
                let wide = b.execute(
                    "return document.documentElement.scrollWidth - window.innerWidth;",
                    json!([]),
                );
                assert!(
                    wide.as_i64().is_some_and(|w| w <= 0),
                    "{page} scrolls sideways on a 390-px phone by {wide} px"
                );
            }
        }
        b.set_size(1280, 800);
        for dark in [false, true] {
            let violations = self.axe_on(b, dark);
            let scheme = if dark { "dark" } else { "light" };
            assert!(
                violations.is_empty(),
                "accessibility of {page} ({scheme}): {violations:#?}"
            );
        }
        if b.javascript {
            b.prefer_dark(true);
            let shot = self.shots.join(format!("{page}-dark-1280x800.png"));
            b.screenshot(&shot);
            self.publish(&shot, page, "dark-1280x800");
            b.prefer_dark(false);
        }
    }

    /// axe-core's serious and critical findings on the page `b` shows.
    fn axe_on(&self, b: &Browser, dark: bool) -> Vec<String> {
        let violations = if b.javascript {
            b.prefer_dark(dark);
            let found = axe(b);
            b.prefer_dark(false);
            found
        } else {
            // The same markup, scripts left out, in a browser that runs axe.
            let html = b.source();
            let helper = self.helper.get_or_init(|| Browser::start(true));
            helper.prefer_dark(dark);
            helper.goto(&self.url("/healthz"));
            helper.execute(
                "document.open(); document.write(arguments[0].replace(/<script[^>]*><\\/script>/g, '')); document.close();",
                json!([html]),
            );
            helper.wait_until("styles", |h| {
                h.execute(
                    "return document.styleSheets.length > 0 && document.readyState === 'complete';",
                    json!([]),
                ) == json!(true)
            });
            axe(helper)
        };
        violations
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// With `LATCHKEY_SCREENSHOTS=DIR` (e.g. `docs/screenshots`), the
    /// screenshots the docs show are written there, so they are made by
    /// the tests and never kept by hand (from the SQLite run only).
    fn publish(&self, shot: &std::path::Path, page: &str, size: &str) {
        let Ok(dir) = std::env::var("LATCHKEY_SCREENSHOTS") else {
            return;
        };
        if !self.db_url.starts_with("sqlite") {
            return;
        }
        let Some((_, _, doc)) = DOC_SCREENSHOTS
            .iter()
            .find(|(p, s, _)| *p == page && *s == size)
        else {
            return;
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let _ = std::fs::create_dir_all(&dir);
        std::fs::copy(shot, dir.join(doc)).expect("copy a screenshot to the docs");
    }

    fn api_status(&self, token: &str) -> u16 {
        self.app
            .client()
            .api("GET", "/api/v1/me", Some(token))
            .status
    }
}

/// Which screenshots the docs show: (page, size, file in the docs).
const DOC_SCREENSHOTS: [(&str, &str, &str); 14] = [
    ("login", "1280x800", "login.png"),
    ("tokens-compact", "1280x800", "token-list.png"),
    ("tokens-compact", "390x844", "token-list-mobile.png"),
    ("tokens-compact", "dark-1280x800", "token-list-dark.png"),
    ("confirm-dialog", "1280x800", "confirm-dialog.png"),
    ("not-found", "1280x800", "not-found.png"),
    ("tokens-all", "1280x800", "token-list-all.png"),
    ("generate", "1280x800", "generate-form.png"),
    ("reveal", "1280x800", "reveal.png"),
    ("token-detail", "1280x800", "token-detail.png"),
    ("token-detail-chart", "1280x800", "token-detail-chart.png"),
    ("rotate-confirm", "1280x800", "rotate-confirm.png"),
    ("members", "1280x800", "members.png"),
    ("policy", "1280x800", "policy.png"),
];

/// Serious and critical axe-core violations on the current page.
fn axe(b: &Browser) -> serde_json::Value {
    b.execute(&format!("{AXE}\n;return true;"), json!([]));
    b.execute_async(
        "const done = arguments[arguments.length - 1];
         axe.run(document, { resultTypes: ['violations'] })
           .then(r => done(r.violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                  v.nodes.map(n => n.target.join(' ')).join(', '))))
           .catch(e => done(['axe failed: ' + e]));",
        json!([]),
    )
}

fn set_value(b: &Browser, e: &Element, value: &str) {
    b.execute(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        json!([element_json(b, e), value]),
    );
}

fn element_json(_b: &Browser, e: &Element) -> serde_json::Value {
    e.to_json()
}

fn checked(b: &Browser, e: &Element) -> bool {
    b.property(e, "checked").as_bool().unwrap_or(false)
}

browser_flows!(
    admin_signs_in_with_the_printed_password,
    developer_generates_copies_and_uses_a_token,
    reload_and_back_never_show_the_token_again,
    bulk_revoke_two_of_three,
    admin_switches_to_all_tokens_filters_pages_and_revokes,
    form_errors_appear_beside_their_fields,
    generate_and_revoke_without_javascript,
    sign_out_leaves_nothing_behind_the_back_button,
    token_page_shows_a_labelled_usage_chart,
    rotation_in_the_list_and_a_narrower_policy,
    the_console_fits_and_guides_the_keyboard,
    an_admin_adds_and_retires_a_scope,
    a_service_account_gets_its_token_once_with_and_without_javascript,
    a_new_member_chooses_a_password_and_sets_up_two_factor_without_javascript,
    members_sign_in_with_single_sign_on_with_and_without_javascript,
    a_canary_token_is_made_in_the_console_with_and_without_javascript,
    a_token_is_suspended_and_resumed_from_its_page_with_and_without_javascript,
    every_token_is_revoked_and_a_stopping_policy_is_previewed_with_and_without_javascript,
);

fn admin_signs_in_with_the_printed_password(f: &Flow) {
    let b = f.browser();
    f.sign_in(&b, &f.app.admin_email, &f.app.admin_password);
    b.wait_for_text("No tokens yet");
    f.look(&b, "tokens-empty");
    b.click(&b.link("Members"));
    b.wait_for_text("Add a member");
    f.look(&b, "members");
    b.click(&b.link("Policy"));
    b.wait_for_text("Token policy");
    f.look(&b, "policy");
    b.click(&b.link("Audit log"));
    b.wait_for_text("login.succeeded");
    f.look(&b, "audit");
    b.click(&b.link("Account"));
    b.wait_for_text("Change password");
    assert!(b.has_text("(this one)"));
    f.look(&b, "account");
}

fn a_new_member_chooses_a_password_and_sets_up_two_factor_without_javascript(f: &Flow) {
    // Added as the console does: with a password Latchkey generated.
    let generated = latchkey::domain::Password::generate().expect("password");
    f.app
        .service
        .members()
        .add(
            &latchkey::service::Actor::cli(),
            &latchkey::domain::Email::parse("new@example.com").expect("email"),
            Role::Developer,
            &generated,
        )
        .expect("add member");
    let b = Browser::start(false);
    b.goto(&f.url("/login"));
    b.type_into(&b.field("Email"), "new@example.com");
    b.type_into(&b.field("Password"), generated.expose());
    b.click(&b.button("Sign in"));
    // Straight to choosing a password: nothing else is open yet.
    b.wait_until("the account page", |b| {
        b.url().ends_with("/settings/account")
    });
    assert!(b.has_text("Choose your own to continue"));
    f.look(&b, "account-must-change");
    b.type_into(&b.field("Current password"), generated.expose());
    b.type_into(&b.field("New password"), "qwerty123456");
    b.click(&b.button("Change password"));
    b.wait_for_text("most common passwords, the first ones");
    b.type_into(&b.field("Current password"), generated.expose());
    b.type_into(&b.field("New password"), "a password of my own");
    b.click(&b.button("Change password"));
    b.wait_until("the token list", |b| {
        b.url().ends_with("/settings/api-tokens")
    });

    // Two-factor: a QR code drawn on the server, the key as text.
    b.click(&b.link("Account"));
    b.click(&b.link("Set up two-factor sign-in"));
    b.wait_for_text("Add Latchkey to your authenticator app");
    assert_eq!(
        b.count("//svg[@role='img'] | //*[local-name()='svg' and @role='img']"),
        1
    );
    f.look(&b, "two-factor-enrol");
    let secret = b.text(&b.find("//*[@id='totp-secret']"));
    b.type_into(&b.field("Code"), &crate::sign_in::code_at(&secret, 0));
    b.click(&b.button("Turn on two-factor sign-in"));
    b.wait_for_text("Keep these recovery codes somewhere safe");
    assert_eq!(b.count("//*[@id='recovery-codes']/li"), 10);
    f.look(&b, "recovery-codes");
    b.click(&b.link("I have saved them"));
    b.wait_until("the token list", |b| {
        b.url().ends_with("/settings/api-tokens")
    });
    b.click(&b.button("Sign out"));
    b.wait_for_text("You are signed out.");

    // Signing in now takes a code after the password.
    b.type_into(&b.field("Email"), "new@example.com");
    b.type_into(&b.field("Password"), "a password of my own");
    b.click(&b.button("Sign in"));
    b.wait_until("the code page", |b| b.url().ends_with("/login/2fa"));
    f.look(&b, "login-2fa");
    b.type_into(&b.field("Code"), &crate::sign_in::code_at(&secret, 30));
    b.click(&b.button("Sign in"));
    b.wait_until("the token list", |b| {
        b.url().ends_with("/settings/api-tokens")
    });
}

fn members_sign_in_with_single_sign_on_with_and_without_javascript(f: &Flow) {
    let idp = crate::idp::Idp::start();
    let config = latchkey::config::ServerConfig {
        sso: Some(crate::sso::sso_config(&idp, None)),
        ..latchkey::config::ServerConfig::default()
    };
    let app = crate::helpers::spawn_beside(&f.db_url, &f.app, config);
    f.app.add_member("dev@example.com", Role::Developer);
    for javascript in [true, false] {
        let b = Browser::start(javascript);
        b.goto(&format!("{}/login", app.base));
        f.look(&b, "login-with-sso");
        b.click(&b.link("Sign in with Test IdP"));
        b.wait_until("the token list", |b| {
            b.url().ends_with("/settings/api-tokens")
        });
        assert!(b.has_text("dev@example.com"));
    }
    // A refusal is said on the sign-in page, which still works.
    idp.sign_in_as("dev@example.com", false);
    let b = Browser::start(false);
    b.goto(&format!("{}/login", app.base));
    b.click(&b.link("Sign in with Test IdP"));
    b.wait_for_text("has not verified your email address");
    f.look(&b, "login-sso-refused");
    assert!(b.url().contains("/login/oidc/callback"));
    b.type_into(&b.field("Email"), "dev@example.com");
    b.type_into(&b.field("Password"), PASSWORD);
    b.click(&b.button("Sign in"));
    b.wait_until("the token list", |b| {
        b.url().ends_with("/settings/api-tokens")
    });
}

fn a_canary_token_is_made_in_the_console_with_and_without_javascript(f: &Flow) {
    f.app.add_member("dev@example.com", Role::Developer);
    for javascript in [true, false] {
        let name = if javascript {
            "Planted"
        } else {
            "Planted, no script"
        };
        let b = Browser::start(javascript);
        f.sign_in(&b, "dev@example.com", PASSWORD);
        b.click(&b.link("Generate New API Token"));
        b.wait_for_text("Canary token");
        b.type_into(&b.field("Name"), name);
        b.click(&b.field("30 days"));
        b.click(&b.field("tokens:read"));
        b.type_into(&b.field("Description"), "Sits in the old deploy README");
        b.click(&b.field("Canary token"));
        b.click(&b.button("Generate token"));
        let token = b.text(&b.find("//*[@id='new-token']"));
        assert_eq!(f.api_status(&token), 401, "a canary never works");
        b.click(&b.link("Done — back to API tokens"));
        b.wait_for_text(name);
        assert!(b.count("//span[contains(@class,'status-canary')]") >= 1);
        if javascript {
            f.look(&b, "tokens-with-canary");
        }
        let id = f.app.token_id(name);
        b.goto(&f.url(&format!("/settings/api-tokens/{id}")));
        b.wait_for_text("Sits in the old deploy README");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !b.has_text("Used once") {
            assert!(
                std::time::Instant::now() < deadline,
                "the use was not counted"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
            b.refresh();
        }
        if javascript {
            f.look(&b, "canary-token-page");
        }
    }
}

fn a_token_is_suspended_and_resumed_from_its_page_with_and_without_javascript(f: &Flow) {
    f.app.add_member("dev@example.com", Role::Developer);
    for javascript in [true, false] {
        let name = if javascript {
            "paused"
        } else {
            "paused, no script"
        };
        let token = f
            .app
            .create_token("dev@example.com", name, &["tokens:read"], 30);
        let id = f.app.token_id(name);
        let b = Browser::start(javascript);
        f.sign_in(&b, "dev@example.com", PASSWORD);
        b.goto(&f.url(&format!("/settings/api-tokens/{id}")));
        b.click(&b.button("Suspend"));
        b.wait_for_text("Token suspended");
        assert_eq!(f.api_status(&token), 401);
        if javascript {
            f.look(&b, "token-suspended");
        }
        b.click(&b.button("Resume"));
        b.wait_for_text("Token resumed");
        assert_eq!(f.api_status(&token), 200);
    }
}

fn every_token_is_revoked_and_a_stopping_policy_is_previewed_with_and_without_javascript(f: &Flow) {
    for javascript in [true, false] {
        let email = if javascript {
            "dev@example.com"
        } else {
            "dev.noscript@example.com"
        };
        f.app.add_member(email, Role::Developer);
        let mine = f.app.create_token(email, "laptop", &["tokens:read"], 30);
        let b = Browser::start(javascript);
        f.sign_in(&b, email, PASSWORD);
        b.goto(&f.url("/settings/account"));
        b.click(&b.button("Revoke all my tokens…"));
        b.wait_for_text("Revoke every token issued before now?");
        assert!(b.has_text("1 token of"));
        assert_eq!(
            f.api_status(&mine),
            200,
            "nothing changes before confirming"
        );
        if javascript {
            f.look(&b, "revoke-all-confirm");
        }
        b.click(&b.button("Revoke every token"));
        b.wait_for_text("1 token revoked");
        assert_eq!(f.api_status(&mine), 401);

        // An admin applies a shorter maximum to existing tokens: the page
        // says what stops before anything does.
        let long = f
            .app
            .create_token(email, "long-lived", &["tokens:read"], 300);
        let a = Browser::start(javascript);
        f.sign_in(&a, &f.app.admin_email, &f.app.admin_password);
        a.goto(&f.url("/settings/policy"));
        a.wait_for_text("Token policy");
        set_value(&a, &a.field("Maximum lifetime, in days"), "90");
        let existing = a.field("Apply the maximum lifetime to existing tokens too");
        if !checked(&a, &existing) {
            a.click(&existing);
        }
        a.click(&a.button("Save policy"));
        a.wait_for_text("Save this policy?");
        // The first round's long-lived token works again and stops again.
        let stops = if javascript {
            "1 working token stops at once"
        } else {
            "2 working tokens stop at once"
        };
        assert!(a.has_text(stops));
        assert_eq!(f.api_status(&long), 200);
        if javascript {
            f.look(&a, "policy-confirm");
        }
        a.click(&a.button("Save and apply"));
        a.wait_for_text("Policy saved.");
        assert_eq!(f.api_status(&long), 401);
        // Back to a year: it works again, saved at once (nothing stops).
        // A fresh page first: the notice of the last save must not answer
        // for this one.
        a.goto(&f.url("/settings/policy"));
        a.wait_for_text("Token policy");
        assert!(!a.has_text("Policy saved."));
        set_value(&a, &a.field("Maximum lifetime, in days"), "365");
        a.click(&a.button("Save policy"));
        a.wait_for_text("Policy saved.");
        assert_eq!(f.api_status(&long), 200);
    }
}

fn developer_generates_copies_and_uses_a_token(f: &Flow) {
    // A viewer is offered the viewer's scopes only.
    {
        let b = f.browser();
        f.member(&b, "viewer@example.com", Role::Viewer);
        b.click(&b.link("Generate New API Token"));
        b.wait_for_text("Scopes");
        assert_eq!(b.count("//input[@name='scopes']"), 3);
        for scope in ["datastore:read", "reports:read", "tokens:read"] {
            b.field(scope);
        }
    }
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    b.click(&b.link("Generate New API Token"));
    b.wait_for_text("Generate New API Token");
    f.look(&b, "generate");
    let offered: Vec<String> = [
        "datastore:read",
        "reports:read",
        "tokens:read",
        "datastore:write",
        "reports:write",
        "tokens:revoke",
        "tokens:create",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(b.count("//input[@name='scopes']"), offered.len());
    for scope in &offered {
        b.field(scope);
    }
    assert_eq!(b.count("//input[@value='org:admin']"), 0);
    b.type_into(&b.field("Name"), "Browser token");
    // One radio group: a preset, or a date (typing one chooses "On a date").
    b.click(&b.field("7 days"));
    assert_eq!(b.property(&b.field("7 days"), "checked"), json!(true));
    let date = b.field("Custom date");
    b.click(&date);
    set_value(&b, &date, &crate::helpers::in_days(45));
    b.execute(
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        json!([date.to_json()]),
    );
    assert_eq!(b.property(&b.field("On a date:"), "checked"), json!(true));
    b.click(&b.field("datastore:read"));
    b.click(&b.field("reports:write"));
    b.click(&b.button("Generate token"));
    let shown = b.find("//*[@id='new-token']");
    let token = b.text(&shown);
    assert!(token.starts_with("lk_") && token.len() == 39, "{token}");
    assert!(b.has_text("you won't be able to see it again"));
    assert!(b.has_text("in 45 days") || b.has_text(&crate::helpers::in_days(45)));
    f.look(&b, "reveal");
    // Copy: the clipboard write happens (or its fallback selects the text).
    b.click(&b.button("Copy"));
    b.wait_until("the copy confirmation", |b| {
        b.has_text("Token copied to the clipboard.") || b.has_text("Press Ctrl+C to copy")
    });
    b.grant("clipboard-read");
    b.grant("clipboard-write");
    let clipboard = b.execute_async(
        "const done = arguments[arguments.length - 1];
         (navigator.clipboard ? navigator.clipboard.readText() : Promise.reject('no clipboard'))
           .then(t => done(t), () => done(String(window.getSelection())));",
        json!([]),
    );
    assert_eq!(
        clipboard.as_str().map(str::trim),
        Some(token.as_str()),
        "the token is on the clipboard (or selected)"
    );
    assert_eq!(f.api_status(&token), 200);
    let me = f.app.client().api("GET", "/api/v1/me", Some(&token)).json();
    assert_eq!(
        me["token"]["scopes"],
        json!(["datastore:read", "reports:write"])
    );
}

fn reload_and_back_never_show_the_token_again(f: &Flow) {
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    b.click(&b.link("Generate New API Token"));
    b.type_into(&b.field("Name"), "Once only");
    b.click(&b.field("reports:read"));
    b.click(&b.button("Generate token"));
    let token = b.text(&b.find("//*[@id='new-token']"));
    b.refresh();
    b.wait_for_text("Generate New API Token");
    assert!(!b.source().contains(&token), "reload shows the token again");
    b.back();
    b.wait_until("a page", |b| !b.url().is_empty());
    assert!(!b.source().contains(&token), "back shows the token again");
    b.goto(&f.url("/settings/api-tokens"));
    b.wait_for_text("Once only");
    assert!(!b.source().contains(&token));
    assert_eq!(f.app.token_count(), 1, "no second token");
}

fn bulk_revoke_two_of_three(f: &Flow) {
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    let tokens: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|n| {
            f.app
                .create_token("dev@example.com", n, &["datastore:read"], 30)
        })
        .collect();
    b.goto(&f.url("/settings/api-tokens"));
    b.wait_for_text("three");
    f.look(&b, "tokens");
    b.click(&b.field("Select one"));
    b.click(&b.field("Select two"));
    b.click(&b.button("Revoke selected (2)"));
    // A dialog, not window.confirm(): it names the tokens, Cancel has focus.
    let dialog = "//dialog[@id='confirm-dialog' and @open]";
    b.wait_until("the confirmation", |b| b.count(dialog) == 1);
    assert!(b.has_text("Revoke 2 tokens?"));
    assert_eq!(
        b.count(&format!(
            "{dialog}//li[starts-with(normalize-space(.), 'one …')]"
        )),
        1
    );
    assert_eq!(
        b.execute("return document.activeElement.id;", json!([])),
        json!("confirm-cancel")
    );
    f.look(&b, "confirm-dialog");
    // Cancel changes nothing.
    b.click(&b.button("Cancel"));
    b.wait_until("the dialog to close", |b| b.count(dialog) == 0);
    assert_eq!(f.api_status(&tokens[0]), 200);
    b.click(&b.button("Revoke selected (2)"));
    b.wait_until("the confirmation", |b| b.count(dialog) == 1);
    b.click(&b.button("Revoke 2 tokens"));
    b.wait_for_text("Revoked 2 tokens");
    assert_eq!(b.count("//tbody/tr"), 1);
    assert!(b.has_text("three"));
    b.select(&b.field("Status"), "All");
    b.wait_until("every token", |b| b.count("//tbody/tr") == 3);
    assert_eq!(b.count("//tbody/tr[.//*[normalize-space(.)='Revoked']]"), 2);
    assert_eq!(f.api_status(&tokens[0]), 401);
    assert_eq!(f.api_status(&tokens[1]), 401);
    assert_eq!(f.api_status(&tokens[2]), 200);

    // Select all takes only what is on the page.
    for i in 0..52 {
        f.app.create_token(
            "dev@example.com",
            &format!("many {i:02}"),
            &["reports:read"],
            30,
        );
    }
    b.goto(&f.url("/settings/api-tokens"));
    b.wait_for_text("53 tokens");
    let all = b.field("Select all tokens on this page");
    b.click(&all);
    let boxes = b.count("//input[@name='ids']");
    assert_eq!(boxes, 50);
    assert_eq!(b.count("//input[@name='ids' and not(@disabled)]"), 50);
    b.button("Revoke selected (50)");
    b.click(&all);
    // Nothing ticked: the bulk button is not offered.
    assert_eq!(
        b.property(&b.find("//*[@id='revoke-selected']"), "hidden"),
        json!(true)
    );
}

fn admin_switches_to_all_tokens_filters_pages_and_revokes(f: &Flow) {
    f.app.add_member("dev@example.com", Role::Developer);
    for i in 0..54 {
        f.app.create_token(
            "dev@example.com",
            &format!("dev {i:02}"),
            &["datastore:read"],
            30,
        );
    }
    let target = f
        .app
        .create_token("dev@example.com", "target", &["datastore:write"], 30);
    let b = f.browser();
    f.sign_in(&b, &f.app.admin_email, &f.app.admin_password);
    b.wait_for_text("No tokens yet");
    b.select(&b.field("Owner"), "All tokens in the organisation");
    b.wait_for_text("55 tokens");
    assert!(
        b.url().contains("owner=all"),
        "the URL follows the filter: {}",
        b.url()
    );
    f.look(&b, "tokens-all");
    b.click(&b.link("Next →"));
    b.wait_for_text("showing 51–55");
    assert!(b.url().contains("page=2"));
    b.type_into(&b.field("Name contains"), "target");
    b.click(&b.button("Filter"));
    b.wait_for_text("1 token");
    assert!(b.has_text("dev@example.com"));
    b.click(&b.button("Revoke target"));
    let dialog = "//dialog[@id='confirm-dialog' and @open]";
    b.wait_until("the confirmation", |b| b.count(dialog) == 1);
    assert_eq!(
        b.count(&format!(
            "{dialog}//li[starts-with(normalize-space(.), 'target …')]"
        )),
        1
    );
    b.click(&b.button("Revoke token"));
    b.wait_until("the revoked row", |b| {
        b.count("//tr[.//*[normalize-space(.)='Revoked'] and .//*[normalize-space(.)='target']]")
            == 1
    });
    assert_eq!(f.api_status(&target), 401);
}

fn form_errors_appear_beside_their_fields(f: &Flow) {
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    f.app
        .create_token("dev@example.com", "taken", &["datastore:read"], 30);
    b.goto(&f.url("/settings/api-tokens/new"));
    // Empty name.
    b.click(&b.field("datastore:read"));
    b.click(&b.button("Generate token"));
    b.wait_for_text("Enter a name for the token.");
    let name = b.field("Name");
    let described = b.attribute(&name, "aria-describedby").unwrap_or_default();
    assert!(described.contains("name-error"), "{described}");
    assert!(checked(&b, &b.field("datastore:read")), "scopes kept");
    f.look(&b, "generate-errors");
    // A date in the past, with the name kept.
    b.type_into(&b.field("Name"), "Kept name");
    b.click(&b.field("On a date:"));
    set_value(&b, &b.field("Custom date"), &crate::helpers::in_days(-2));
    b.click(&b.button("Generate token"));
    b.wait_for_text("must be in the future");
    assert_eq!(b.property(&b.field("Name"), "value"), json!("Kept name"));
    let date = b.field("Custom date");
    assert!(
        b.attribute(&date, "aria-describedby")
            .unwrap_or_default()
            .contains("expires_on-error")
    );
    // A name already taken.
    b.type_into(&b.field("Name"), "taken");
    b.click(&b.field("30 days"));
    b.click(&b.button("Generate token"));
    b.wait_for_text("already have an active token named");
    assert_eq!(f.app.token_count(), 1, "nothing written");
}

fn generate_and_revoke_without_javascript(f: &Flow) {
    let b = Browser::start(false);
    f.member(&b, "dev@example.com", Role::Developer);
    b.click(&b.link("Generate New API Token"));
    b.wait_for_text("Generate New API Token");
    // Without JavaScript the custom date is always there.
    assert_eq!(
        b.property(&b.find("//*[@id='custom-date']"), "hidden"),
        json!(false)
    );
    b.type_into(&b.field("Name"), "No script");
    b.click(&b.field("60 days"));
    b.click(&b.field("tokens:read"));
    b.click(&b.button("Generate token"));
    let token = b.text(&b.find("//*[@id='new-token']"));
    assert!(b.has_text("you won't be able to see it again"));
    assert_eq!(f.count_copy_buttons(&b), 0, "no copy button without script");
    f.look(&b, "reveal-nojs");
    assert_eq!(f.api_status(&token), 200);
    for n in ["a", "b"] {
        f.app
            .create_token("dev@example.com", n, &["datastore:read"], 30);
    }
    b.click(&b.link("Done — back to API tokens"));
    b.wait_for_text("No script");
    // One revoke button per row, and a confirmation page first.
    b.click(&b.button("Revoke No script"));
    b.wait_for_text("Revoke this token?");
    f.look(&b, "confirm-revoke-one");
    b.click(&b.button("Revoke token"));
    b.wait_for_text("Revoked 1 token");
    assert_eq!(f.api_status(&token), 401);
    // Bulk: a confirmation page, then the revoke.
    b.click(&b.field("Select a"));
    b.click(&b.field("Select b"));
    b.click(&b.button("Revoke selected"));
    b.wait_for_text("Revoke 2 tokens?");
    f.look(&b, "confirm-revoke");
    b.click(&b.button("Revoke 2 tokens"));
    b.wait_for_text("Revoked 2 tokens");
    assert!(b.has_text("No tokens yet") || b.count("//tbody/tr") == 0);
}

fn an_admin_adds_and_retires_a_scope(f: &Flow) {
    f.app.add_member("dev@example.com", Role::Developer);
    let a = f.browser();
    f.sign_in(&a, &f.app.admin_email, &f.app.admin_password);
    a.click(&a.link("Scopes"));
    a.wait_for_text("Add a scope");
    f.look(&a, "scopes");
    // A bad name is explained beside its field, the rest kept.
    a.type_into(&a.field("Name"), "Billing Read");
    a.type_into(&a.field("What it allows"), "Read invoices");
    a.type_into(&a.field("Group (optional)"), "Billing");
    a.click(&a.button("Add scope"));
    a.wait_for_text("is not a scope name");
    assert_eq!(
        a.attribute(&a.field("Name"), "aria-invalid"),
        Some("true".to_owned())
    );
    f.look(&a, "scopes-error");
    set_value(&a, &a.field("Name"), "billing:read");
    a.click(&a.button("Add scope"));
    a.wait_for_text("Scope billing:read added");
    let token = f.app.create_token(
        "dev@example.com",
        "invoices",
        &["billing:read", "reports:read"],
        30,
    );
    // The scope's page states what retiring it stops; the dialog asks.
    a.click(&a.link("billing:read"));
    a.wait_for_text("1 active token loses");
    f.look(&a, "scope-edit");
    a.click(&a.button("Retire scope"));
    a.wait_until("the dialog", |b| b.has_text("Retire this scope?"));
    a.click(&a.find("//button[@id='confirm-ok']"));
    a.wait_for_text("Scope billing:read retired: 1 active token lost it.");
    let scopes =
        f.app.client().api("GET", "/api/v1/me", Some(&token)).json()["token"]["scopes"].clone();
    assert_eq!(scopes, json!(["reports:read"]));

    // Without JavaScript: edit a minimum role, and the page says it.
    let plain = Browser::start(false);
    f.sign_in(&plain, &f.app.admin_email, &f.app.admin_password);
    plain.goto(&f.url("/settings/scopes/reports:read"));
    plain.wait_for_text("Minimum role");
    plain.select(&plain.field("Minimum role"), "admin");
    plain.click(&plain.button("Save scope"));
    plain.wait_for_text("Scope reports:read saved.");
    let scopes =
        f.app.client().api("GET", "/api/v1/me", Some(&token)).json()["token"]["scopes"].clone();
    assert_eq!(scopes, json!([]));
}

fn a_service_account_gets_its_token_once_with_and_without_javascript(f: &Flow) {
    for javascript in [true, false] {
        let b = Browser::start(javascript);
        let name = if javascript { "ci-bot" } else { "nightly" };
        f.sign_in(&b, &f.app.admin_email, &f.app.admin_password);
        b.click(&b.link("Service accounts"));
        b.wait_for_text("Add a service account");
        f.look(
            &b,
            if javascript {
                "service-accounts-empty"
            } else {
                "service-accounts-nojs"
            },
        );
        b.type_into(&b.field("Name"), name);
        b.select(&b.field("Role"), "developer");
        b.click(&b.button("Add service account"));
        b.wait_for_text(&format!("Service account {name} added"));
        f.look(&b, "service-account");
        b.click(&b.link("Generate token"));
        b.wait_for_text(&format!("New token for {name}"));
        f.look(&b, "service-account-token-form");
        b.type_into(&b.field("Name"), "deploys");
        b.click(&b.field("datastore:write"));
        b.click(&b.button("Generate token"));
        b.wait_for_text("Copy your token now");
        assert!(b.has_text(&format!("New token “deploys” for {name}")));
        assert!(b.has_text("Owned by"));
        let token = b.text(&b.find("//code[@id='new-token']"));
        f.look(
            &b,
            if javascript {
                "service-account-reveal"
            } else {
                "service-account-reveal-nojs"
            },
        );
        assert_eq!(
            f.count_copy_buttons(&b),
            usize::from(javascript),
            "a copy button only with script"
        );
        assert_eq!(f.api_status(&token), 200);
        // Reloading shows the account's page (htmx replaced the address),
        // never the token again.
        if javascript {
            b.refresh();
            b.wait_for_text("Role and access");
            assert!(!b.source().contains(&token));
        }
        b.goto(&f.url("/settings/service-accounts"));
        b.click(&b.link(name));
        b.wait_for_text("deploys");
        assert!(!b.source().contains(&token));
        assert!(b.has_text(&f.app.admin_email), "created by the admin");
    }
}

impl Flow {
    fn count_copy_buttons(&self, b: &Browser) -> usize {
        b.count("//button[normalize-space(.)='Copy' and not(@hidden)]")
    }
}

fn sign_out_leaves_nothing_behind_the_back_button(f: &Flow) {
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    let token = f
        .app
        .create_token("dev@example.com", "secretive", &["datastore:read"], 30);
    let _ = token;
    b.goto(&f.url("/settings/api-tokens"));
    b.wait_for_text("secretive");
    b.click(&b.button("Sign out"));
    b.wait_for_text("You are signed out.");
    b.back();
    b.wait_until("the sign-in page", |b| b.url().contains("/login"));
    let page = b.source();
    assert!(
        !page.contains("secretive"),
        "an authenticated page came back"
    );
    assert!(!page.contains("Sign out"));
}

/// Writes past days of use for `token`, as earlier flushes would have.
fn seed_usage(f: &Flow, db_url: &str, token: i64) {
    use diesel::prelude::*;
    let pool = latchkey::db::connect(&latchkey::db::DbUrl::parse(db_url).expect("url"), 1, false)
        .expect("pool");
    let mut conn = pool.get().expect("conn");
    let today = f.app.service.clock().today();
    let values: Vec<String> = (1..30)
        .map(|back| {
            let day = today - time::Duration::days(back);
            // A working-week rhythm with a busy release day.
            let weekend = matches!(
                day.weekday(),
                time::Weekday::Saturday | time::Weekday::Sunday
            );
            let n = if back == 9 {
                412
            } else if weekend {
                12 + back % 5
            } else {
                140 + (back * 37) % 90
            };
            format!("({token}, '{day}', {n})")
        })
        .collect();
    let sql = format!(
        "INSERT INTO token_usage (token_id, day, requests) VALUES {}",
        values.join(", ")
    );
    match &mut *conn {
        latchkey::db::DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c),
        latchkey::db::DbConnection::Postgres(c) => diesel::sql_query(sql).execute(c),
    }
    .expect("seed usage");
}

fn token_page_shows_a_labelled_usage_chart(f: &Flow) {
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    b.click(&b.link("Generate New API Token"));
    b.wait_for_text("Allowed IP addresses");
    b.type_into(&b.field("Name"), "deploy bot");
    b.click(&b.field("datastore:read"));
    b.type_into(&b.field("Allowed IP addresses"), "127.0.0.1, ::1");
    b.click(&b.button("Generate token"));
    b.wait_for_text("Copy your token now");
    let token = b.text(&b.find("//code[@id='new-token']"));
    for _ in 0..7 {
        assert_eq!(f.api_status(&token), 200);
    }
    let id = f.app.token_id("deploy bot");
    seed_usage(f, &f.db_url, id);
    b.goto(&f.url("/settings/api-tokens"));
    b.click(&b.link("deploy bot"));
    b.wait_for_text("Requests in the last 30 days");
    assert!(b.url().ends_with(&format!("/settings/api-tokens/{id}")));
    // The chart: an image with a title and a description, 30 bars, axes.
    let chart = b.find("//*[local-name()='svg' and @role='img']");
    let labelled_by = b.attribute(&chart, "aria-labelledby").expect("labelled");
    let title_id = labelled_by
        .split_whitespace()
        .next()
        .expect("title id")
        .to_owned();
    // An SVG title is not drawn: its text is the image's name.
    assert_eq!(
        b.property(&b.find(&format!("//*[@id='{title_id}']")), "textContent"),
        json!("Successful requests per day over the last 30 days")
    );
    assert_eq!(
        b.count("//*[local-name()='rect' and @class='chart-bar']"),
        30
    );
    assert!(b.count("//*[local-name()='text' and @class='chart-label']") >= 9);
    assert!(b.has_text("Day (UTC)"));
    assert!(b.has_text("the busiest day was"));
    assert!(b.has_text("today so far: 7"));
    assert!(b.has_text("Allowed from"));
    f.look(&b, "token-detail");
    b.click(&b.find("//summary[normalize-space(.)='Show the figures as a table']"));
    b.wait_for_text("412");
    // The chart in view, for docs/screenshots/token-detail.png.
    b.execute(
        "document.getElementById('usage-title').scrollIntoView();",
        json!([]),
    );
    let chart_shot = f.shots.join("token-detail-chart-1280x800.png");
    b.screenshot(&chart_shot);
    f.publish(&chart_shot, "token-detail-chart", "1280x800");

    // Without JavaScript the chart is there all the same.
    let plain = Browser::start(false);
    f.sign_in(&plain, "dev@example.com", PASSWORD);
    plain.goto(&f.url(&format!("/settings/api-tokens/{id}")));
    plain.wait_for_text("Requests in the last 30 days");
    assert_eq!(
        plain.count("//*[local-name()='rect' and @class='chart-bar']"),
        30
    );
}

fn rotation_in_the_list_and_a_narrower_policy(f: &Flow) {
    let b = f.browser();
    f.member(&b, "dev@example.com", Role::Developer);
    let old = f
        .app
        .create_token("dev@example.com", "deploy", &["datastore:read"], 60);
    b.refresh();
    b.wait_for_text("deploy");
    b.click(&b.button("Rotate deploy"));
    // A confirmation first, with the overlap to choose (at once by default).
    b.wait_for_text("When should the old token stop?");
    f.look(&b, "rotate-confirm");
    b.click(&b.button("Rotate token"));
    b.wait_for_text("Copy your token now");
    assert!(b.has_text("stopped working just now"));
    let new = b.text(&b.find("//code[@id='new-token']"));
    assert_ne!(new, old);
    assert!(b.has_text("Your new token “deploy”"));
    f.look(&b, "rotate-reveal");
    assert_eq!(f.api_status(&new), 200);
    // The replaced token, presented again, takes the chain down.
    assert_eq!(f.api_status(&old), 401);
    assert_eq!(f.api_status(&new), 401);

    // An admin narrows the policy; a bad value is explained first.
    let a = f.browser();
    f.sign_in(&a, &f.app.admin_email, &f.app.admin_password);
    a.click(&a.link("Policy"));
    a.wait_for_text("Token policy");
    let max = a.field("Maximum lifetime, in days");
    set_value(&a, &max, "5000");
    a.click(&a.button("Save policy"));
    a.wait_for_text("from 1 to 3650");
    assert_eq!(
        a.attribute(&a.field("Maximum lifetime, in days"), "aria-invalid"),
        Some("true".to_owned())
    );
    f.look(&a, "policy-error");
    set_value(&a, &a.field("Maximum lifetime, in days"), "30");
    a.select(&a.field("Preset the generate form starts on"), "7 days");
    a.click(&a.button("Save policy"));
    a.wait_for_text("Policy saved.");

    // The developer's form follows at once.
    b.goto(&f.url("/settings/api-tokens/new"));
    b.wait_for_text("Allowed IP addresses");
    let option = |label: &str| {
        b.count(&format!(
            "//label[starts-with(normalize-space(.), '{label}')]/input[@name='expires_in']"
        ))
    };
    assert_eq!(option("30 days"), 1);
    assert_eq!(option("60 days"), 0);
    assert_eq!(option("90 days"), 0);
    assert_eq!(
        b.count("//label[starts-with(normalize-space(.), '7 days')]/input[@name='expires_in' and @checked]"),
        1
    );
}

fn the_console_fits_and_guides_the_keyboard(f: &Flow) {
    let scopes = [
        "datastore:read",
        "reports:read",
        "tokens:read",
        "datastore:write",
        "reports:write",
    ];
    f.app.add_member("dev@example.com", Role::Developer);
    for i in 0..12 {
        f.app.create_token(
            "dev@example.com",
            &format!("service {i:02}"),
            &scopes,
            30 + i,
        );
    }
    let b = f.browser();
    f.sign_in(&b, "dev@example.com", PASSWORD);
    // A 1280 × 900 viewport (the window adds its own frame).
    b.set_size(1280, 900);
    let frame = b.execute("return window.outerHeight - window.innerHeight;", json!([]));
    let frame = u32::try_from(frame.as_i64().unwrap_or(0)).unwrap_or(0);
    b.set_size(1280, 900 + frame);
    b.goto(&f.url("/settings/api-tokens"));
    b.wait_for_text("12 tokens");
    b.screenshot(&f.shots.join("tokens-1280x900.png"));
    // Ten tokens or more in view at 1280 × 900: one line each.
    let in_view = b.execute(
        "return Array.from(document.querySelectorAll('tbody tr')).filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length;",
        json!([]),
    );
    assert!(
        in_view.as_i64().is_some_and(|n| n >= 10),
        "{in_view} rows in view"
    );
    // The scopes are compact: "+4", the full list on focus.
    let more = b.find("(//span[contains(@class, 'more')])[1]");
    assert_eq!(b.text(&more).lines().next().map(str::trim), Some("+4"));
    b.execute("arguments[0].focus();", json!([more.to_json()]));
    assert_eq!(
        b.execute(
            "return getComputedStyle(arguments[0].querySelector('.more-list')).display;",
            json!([more.to_json()])
        ),
        json!("block")
    );
    // A visible focus ring: an outline, not only a shadow.
    let link = b.link("Generate New API Token");
    b.execute("arguments[0].focus();", json!([link.to_json()]));
    let outline = b.execute(
        "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, parseFloat(s.outlineWidth)];",
        json!([link.to_json()]),
    );
    assert_eq!(outline[0], json!("solid"), "{outline}");
    assert!(outline[1].as_f64().is_some_and(|w| w >= 2.0), "{outline}");
    f.look(&b, "tokens-compact");
    // Local time beside UTC, where the reader is not on UTC.
    b.cdp(
        "Emulation.setTimezoneOverride",
        json!({ "timezoneId": "America/New_York" }),
    );
    b.refresh();
    b.wait_for_text("12 tokens");
    // In the list's narrow cells, in the tooltip; beside the date on the
    // token's page.
    assert!(b.count("//td[contains(@class, 'expires')]/time[contains(@title, 'your time')]") > 0);
    b.click(&b.link("service 00"));
    b.wait_for_text("Requests in the last 30 days");
    assert!(b.count("//span[@class='local-time']") > 0);
    assert!(b.has_text("your time"));
    b.back();

    // Generating: the reveal replaces the form, names the page, takes the
    // focus, and the address no longer says "new".
    b.click(&b.link("Generate New API Token"));
    b.type_into(&b.field("Name"), "announced");
    b.click(&b.field("datastore:read"));
    b.click(&b.button("Generate token"));
    b.wait_for_text("Copy your token now");
    b.wait_until("the page title", |b| {
        b.execute("return document.title;", json!([])) == json!("Your new token · Latchkey")
    });
    assert!(b.url().ends_with("/settings/api-tokens"), "{}", b.url());
    assert_eq!(
        b.execute("return document.activeElement.id;", json!([])),
        json!("reveal-title")
    );
    b.wait_until("the announcement", |b| {
        b.text(&b.find("//*[@id='announcer']"))
            .contains("shown once")
    });

    // Revoking a row: the dialog, then focus on the row's new status and
    // a spoken notice.
    b.goto(&f.url("/settings/api-tokens?q=announced"));
    b.wait_for_text("1 token");
    b.click(&b.button("Revoke announced"));
    b.wait_until("the dialog", |b| {
        b.count("//dialog[@id='confirm-dialog' and @open]") == 1
    });
    b.click(&b.button("Revoke token"));
    b.wait_until("the revoked row", |b| {
        b.count("//tr[.//*[normalize-space(.)='Revoked']]") == 1
    });
    b.wait_until("the announcement", |b| {
        b.text(&b.find("//*[@id='announcer']"))
            .contains("Revoked 1 token")
    });
    b.wait_until("focus on the new status", |b| {
        b.execute("return document.activeElement.className;", json!([]))
            .as_str()
            .is_some_and(|c| c.contains("status"))
    });

    // An admin's new member: the one-time password has a copy button.
    let a = f.browser();
    f.sign_in(&a, &f.app.admin_email, &f.app.admin_password);
    a.goto(&f.url("/settings/members"));
    a.type_into(&a.field("Email"), "new@example.com");
    a.click(&a.button("Add member"));
    a.wait_for_text("was added");
    assert_eq!(
        a.count("//button[@data-copy='new-password' and not(@hidden)]"),
        1
    );
    f.look(&a, "members-added");
    // Disabling asks first, in a dialog that names the member.
    a.click(&a.button("Disable new@example.com"));
    a.wait_until("the dialog", |b| {
        b.count(
            "//dialog[@id='confirm-dialog' and @open]//li[normalize-space(.)='new@example.com']",
        ) == 1
    });
    a.click(&a.button("Cancel"));
    // Every token of the organisation at 1280 px: the owner column too, and
    // nothing cut off.
    a.set_size(1280, 800);
    a.goto(&f.url("/settings/api-tokens?status=active&owner=all"));
    a.wait_for_text("12 tokens");
    assert_eq!(
        a.execute(
            "const w = document.querySelector('.table-wrap'); return w.scrollWidth - w.clientWidth;",
            json!([])
        ),
        json!(0),
        "the table is wider than its frame"
    );
    a.goto(&f.url("/settings/audit"));
    a.wait_for_text("member.added");
    f.look(&a, "audit-admin");
    a.goto(&f.url("/nowhere"));
    a.wait_for_text("Not found");
    assert!(a.has_text("Sign out"), "the frame stays");
    f.look(&a, "not-found");
}
