//! The bad-input corpus: one table of hostile and mistaken requests through
//! every door (console forms, API, headers), each checked for its status,
//! a clear message, and that nothing was written. Both backends.

use crate::helpers::{Client, Page, TestApp, TestDb, spawn_app};
use latchkey::domain::Role;

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A fresh generate form's hidden fields, url-encoded.
fn form_prefix(c: &Client) -> String {
    let form = c.get("/settings/api-tokens/new");
    let nonce = form.field("form_nonce").expect("nonce");
    format!("csrf_token={}&form_nonce={nonce}", form.csrf())
}

struct Case {
    what: &'static str,
    status: u16,
    says: &'static str,
}

thread_local! {
    /// The cases that failed so far: every case runs, and the test names
    /// each one that failed, with what it sent back.
    static FAILED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn check(app: &TestApp, case: &Case, page: Page, tokens_before: i64) {
    let mut wrong = Vec::new();
    if page.status != case.status {
        wrong.push(format!("status {} (expected {})", page.status, case.status));
    }
    if !page.body.contains(case.says) {
        wrong.push(format!("the answer does not say {:?}", case.says));
    }
    let tokens = app.token_count();
    if tokens != tokens_before {
        wrong.push(format!(
            "tokens {tokens_before} → {tokens}: something was written"
        ));
    }
    if !wrong.is_empty() {
        let body: String = page.body.chars().take(400).collect();
        FAILED.with(|f| {
            f.borrow_mut()
                .push(format!("“{}”: {}\n    {body}", case.what, wrong.join("; ")))
        });
    }
}

/// Fails naming every case that failed.
fn no_case_failed() {
    let failed = FAILED.with(|f| std::mem::take(&mut *f.borrow_mut()));
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

both_backends!(every_bad_input_is_refused_clearly_and_changes_nothing);

fn every_bad_input_is_refused_clearly_and_changes_nothing(db: &TestDb) {
    FAILED.with(|f| f.borrow_mut().clear());
    let app = spawn_app(db);
    let c = app.member("dev@example.com", Role::Developer);
    let other = app.member("other@example.com", Role::Developer);
    c.generate_token("taken", &["datastore:read"]);
    other.generate_token("theirs", &["datastore:read"]);
    let token = app.create_token(
        "dev@example.com",
        "api",
        &["tokens:read", "tokens:revoke"],
        30,
    );
    let rs = app.create_token(&app.admin_email, "rs", &["tokens:introspect"], 30);
    let theirs = app.token_id("theirs").to_string();
    let before = app.token_count();
    let mut cases = 0;

    // --- The generate form -------------------------------------------------
    let ok = "&expires_in=30&scopes=datastore%3Aread";
    let generate: Vec<(&str, String, u16, &str)> = vec![
        ("empty name", format!("name={ok}"), 422, "Enter a name"),
        (
            "blank name",
            format!("name=%20%20%20{ok}"),
            422,
            "Enter a name",
        ),
        (
            "101-character name",
            format!("name={}{ok}", "n".repeat(101)),
            422,
            "at most 100",
        ),
        (
            "10,000-character name",
            format!("name={}{ok}", "n".repeat(10_000)),
            422,
            "at most 100",
        ),
        (
            "new line in name",
            format!("name=a%0Ab{ok}"),
            422,
            "control characters",
        ),
        (
            "NUL in name",
            format!("name=a%00b{ok}"),
            422,
            "control characters",
        ),
        (
            "DEL in name",
            format!("name=a%7Fb{ok}"),
            422,
            "control characters",
        ),
        (
            "tab in name",
            format!("name=a%09b{ok}"),
            422,
            "control characters",
        ),
        (
            "name taken",
            format!("name=taken{ok}"),
            422,
            "already have an active token",
        ),
        (
            "invalid UTF-8 in name",
            format!("name=%FF%FE{ok}"),
            400,
            "not valid UTF-8",
        ),
        (
            "broken percent-encoding",
            format!("name=%G1{ok}"),
            400,
            "percent-encoding",
        ),
        (
            "unknown scope",
            "name=x&expires_in=30&scopes=root%3Aall".into(),
            403,
            "not a scope you can grant",
        ),
        (
            "scope above the role",
            "name=x&expires_in=30&scopes=org%3Aadmin".into(),
            403,
            "cannot grant",
        ),
        (
            "scope with spaces around",
            "name=x&expires_in=30&scopes=%20datastore%3Aread".into(),
            403,
            "not a scope",
        ),
        (
            "no scope",
            "name=x&expires_in=30".into(),
            422,
            "at least one scope",
        ),
        (
            "date in the past",
            format!(
                "name=x&expires_in=custom&expires_on={}&scopes=datastore%3Aread",
                crate::helpers::in_days(-1)
            ),
            422,
            "in the future",
        ),
        (
            "date today",
            format!(
                "name=x&expires_in=custom&expires_on={}&scopes=datastore%3Aread",
                crate::helpers::in_days(0)
            ),
            422,
            "in the future",
        ),
        (
            "date beyond the maximum",
            format!(
                "name=x&expires_in=custom&expires_on={}&scopes=datastore%3Aread",
                crate::helpers::in_days(366)
            ),
            422,
            "at most 365 days",
        ),
        (
            "month 13",
            "name=x&expires_in=custom&expires_on=2030-13-01&scopes=datastore%3Aread".into(),
            422,
            "YYYY-MM-DD",
        ),
        (
            "date with a time",
            "name=x&expires_in=custom&expires_on=2030-01-01T00%3A00%3A00&scopes=datastore%3Aread"
                .into(),
            422,
            "YYYY-MM-DD",
        ),
        (
            "date with a zone",
            "name=x&expires_in=custom&expires_on=2030-01-01Z&scopes=datastore%3Aread".into(),
            422,
            "YYYY-MM-DD",
        ),
        (
            "date in words",
            "name=x&expires_in=custom&expires_on=tomorrow&scopes=datastore%3Aread".into(),
            422,
            "YYYY-MM-DD",
        ),
        (
            "custom without a date",
            "name=x&expires_in=custom&scopes=datastore%3Aread".into(),
            422,
            "YYYY-MM-DD",
        ),
        (
            "preset not offered",
            "name=x&expires_in=45&scopes=datastore%3Aread".into(),
            422,
            "Choose 7, 30, 60 or 90",
        ),
        (
            "negative preset",
            "name=x&expires_in=-7&scopes=datastore%3Aread".into(),
            422,
            "Choose 7, 30, 60 or 90",
        ),
        (
            "no expiry where not allowed",
            "name=x&expires_in=never&scopes=datastore%3Aread".into(),
            422,
            "every token to expire",
        ),
        (
            "no expiry field",
            "name=x&scopes=datastore%3Aread".into(),
            422,
            "Choose 7, 30, 60 or 90",
        ),
    ];
    for (what, body, status, says) in generate {
        let full = format!("{}&{body}", form_prefix(&c));
        let page = c.post_raw(
            "/settings/api-tokens",
            "application/x-www-form-urlencoded",
            full.as_bytes(),
        );
        check(&app, &Case { what, status, says }, page, before);
        cases += 1;
    }
    // Kept input: the form comes back with what was typed.
    let full = format!(
        "{}&name=kept+name&expires_in=custom&expires_on=2001-01-01&scopes=datastore%3Aread",
        form_prefix(&c)
    );
    c.post_raw(
        "/settings/api-tokens",
        "application/x-www-form-urlencoded",
        full.as_bytes(),
    )
    .assert_status(422)
    .assert_contains("value=\"kept name\"")
    .assert_contains("value=\"2001-01-01\"");

    // Missing or forged form fields.
    let csrf = c.csrf();
    let forged: Vec<(&str, String, u16, &str)> = vec![
        (
            "no CSRF token",
            format!("form_nonce=0123456789abcdef0123456789abcdef&name=x{ok}"),
            403,
            "Reload the page",
        ),
        (
            "CSRF token of another session",
            format!(
                "csrf_token={}&form_nonce=0123456789abcdef0123456789abcdef&name=x{ok}",
                other.csrf()
            ),
            403,
            "Reload the page",
        ),
        (
            "no form nonce",
            format!("csrf_token={csrf}&name=x{ok}"),
            403,
            "reload the page",
        ),
        (
            "malformed form nonce",
            format!("csrf_token={csrf}&form_nonce=x&name=x{ok}"),
            403,
            "reload the page",
        ),
    ];
    for (what, body, status, says) in forged {
        let page = c.post_raw(
            "/settings/api-tokens",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        );
        check(&app, &Case { what, status, says }, page, before);
        cases += 1;
    }
    let full = format!("{}&name=x{ok}", form_prefix(&c));
    let page = c.post_with_raw(
        "/settings/api-tokens",
        full.as_bytes(),
        &[("Origin", "https://evil.example")],
    );
    check(
        &app,
        &Case {
            what: "cross-site Origin",
            status: 403,
            says: "another site",
        },
        page,
        before,
    );
    cases += 1;
    let big = format!("{}&name={}{ok}", form_prefix(&c), "x".repeat(70 * 1024));
    let page = c.post_raw(
        "/settings/api-tokens",
        "application/x-www-form-urlencoded",
        big.as_bytes(),
    );
    assert_eq!(page.status, 413, "body over the limit: {}", page.body);
    assert_eq!(app.token_count(), before);
    cases += 1;

    // --- Revoking ------------------------------------------------------------
    let thousands: String = (1..=1001).map(|i| format!("&ids={i}")).collect();
    let revokes: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "bulk: another member's token",
            "/settings/api-tokens/revoke".into(),
            format!("confirm=yes&ids={theirs}"),
            403,
            "cannot revoke",
        ),
        (
            "bulk: an id that does not exist",
            "/settings/api-tokens/revoke".into(),
            "confirm=yes&ids=987654".into(),
            403,
            "cannot revoke",
        ),
        (
            "bulk: negative id",
            "/settings/api-tokens/revoke".into(),
            "confirm=yes&ids=-4".into(),
            400,
            "is not a token id",
        ),
        (
            "bulk: non-numeric id",
            "/settings/api-tokens/revoke".into(),
            "confirm=yes&ids=abc".into(),
            400,
            "is not a token id",
        ),
        (
            "bulk: id past i64",
            "/settings/api-tokens/revoke".into(),
            "confirm=yes&ids=99999999999999999999".into(),
            400,
            "is not a token id",
        ),
        (
            "bulk: SQL in an id",
            "/settings/api-tokens/revoke".into(),
            format!("confirm=yes&ids={}", enc("1 OR 1=1")),
            400,
            "is not a token id",
        ),
        (
            "bulk: nothing selected",
            "/settings/api-tokens/revoke".into(),
            "confirm=yes".into(),
            422,
            "Select at least one",
        ),
        (
            "bulk: 1,001 ids",
            "/settings/api-tokens/revoke".into(),
            format!("confirm=yes{thousands}"),
            422,
            "At most 1000",
        ),
        (
            "one: another member's token",
            format!("/settings/api-tokens/{theirs}/revoke"),
            String::new(),
            403,
            "cannot revoke",
        ),
        (
            "one: id 0",
            "/settings/api-tokens/0/revoke".into(),
            String::new(),
            404,
            "does not exist",
        ),
        (
            "one: non-numeric id",
            "/settings/api-tokens/abc/revoke".into(),
            String::new(),
            404,
            "does not exist",
        ),
    ];
    let statuses_before = app.token_status(app.token_id("theirs"));
    for (what, path, body, status, says) in revokes {
        let body = format!("csrf_token={csrf}&{body}");
        let page = c.post_raw(&path, "application/x-www-form-urlencoded", body.as_bytes());
        check(&app, &Case { what, status, says }, page, before);
        cases += 1;
    }
    assert_eq!(app.token_status(app.token_id("theirs")), statuses_before);
    assert_eq!(app.token_status(app.token_id("taken")), "active");

    // --- Sign-in and members -------------------------------------------------
    let anon = app.client();
    let login = anon.get("/login");
    let body = format!(
        "csrf_token={}&email=dev%40example.com&password={}",
        login.csrf(),
        "p".repeat(20_000)
    );
    let page = anon.post_raw(
        "/login",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    );
    check(
        &app,
        &Case {
            what: "20 kB password",
            status: 401,
            says: "Incorrect email or password",
        },
        page,
        before,
    );
    let body = format!("csrf_token={}&email=%FF&password=x", login.csrf());
    let page = anon.post_raw(
        "/login",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    );
    check(
        &app,
        &Case {
            what: "invalid UTF-8 at sign-in",
            status: 400,
            says: "not valid UTF-8",
        },
        page,
        before,
    );
    let body = format!(
        "csrf_token={}&email={}&password=x",
        login.csrf(),
        enc("' OR '1'='1")
    );
    let page = anon.post_raw(
        "/login",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
    );
    check(
        &app,
        &Case {
            what: "SQL in the email",
            status: 401,
            says: "Incorrect email or password",
        },
        page,
        before,
    );
    cases += 3;
    let admin = app.admin();
    let acsrf = admin.csrf();
    for (what, body, says) in [
        (
            "member: bad email",
            format!("csrf_token={acsrf}&email=not-an-email&role=viewer"),
            "not a valid email",
        ),
        (
            "member: unknown role",
            format!("csrf_token={acsrf}&email=x%40example.com&role=owner"),
            "Choose viewer, developer or admin",
        ),
        (
            "member: email taken",
            format!("csrf_token={acsrf}&email=dev%40example.com&role=viewer"),
            "already exists",
        ),
    ] {
        let members_before = app
            .service
            .members()
            .list(app.service.default_org().expect("org"))
            .expect("members")
            .len();
        let page = admin.post_raw(
            "/settings/members",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        );
        check(
            &app,
            &Case {
                what,
                status: 422,
                says,
            },
            page,
            before,
        );
        let members_after = app
            .service
            .members()
            .list(app.service.default_org().expect("org"))
            .expect("members")
            .len();
        assert_eq!(
            members_before, members_after,
            "{what}: a member was written"
        );
        cases += 1;
    }

    // --- The API and its headers -----------------------------------------------
    let api = app.client();
    let mut bad_checksum = token.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'Z' {
        b'Y'
    } else {
        b'Z'
    };
    let bad_checksum = String::from_utf8(bad_checksum).expect("ascii");
    let headers: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "empty Authorization",
            vec![("Authorization", String::new())],
        ),
        (
            "Bearer without a token",
            vec![("Authorization", "Bearer".into())],
        ),
        (
            "repeated Authorization",
            vec![
                ("Authorization", format!("Bearer {token}")),
                ("Authorization", format!("Bearer {token}")),
            ],
        ),
        (
            "overlong Authorization",
            vec![("Authorization", format!("Bearer {}", "a".repeat(8000)))],
        ),
        (
            "Basic scheme",
            vec![("Authorization", format!("Basic {token}"))],
        ),
        (
            "right shape, wrong checksum",
            vec![("Authorization", format!("Bearer {bad_checksum}"))],
        ),
        (
            "another prefix",
            vec![("Authorization", format!("Bearer gh_{}", &token[3..]))],
        ),
        (
            "SQL as a token",
            vec![("Authorization", "Bearer ' OR 1=1; --".into())],
        ),
    ];
    for (what, hs) in headers {
        let refs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = api.get_with("/api/v1/me", &refs);
        check(
            &app,
            &Case {
                what,
                status: 401,
                says: "missing or not valid",
            },
            page,
            before,
        );
        assert!(page_header_ok(&api, &refs));
        cases += 1;
    }
    type ApiCase = (
        &'static str,
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
    );
    let apis: Vec<ApiCase> = vec![
        (
            "introspect: malformed JSON",
            "/api/v1/introspect",
            "application/json",
            b"{\"token\":".to_vec(),
            400,
            "Malformed JSON",
        ),
        (
            "introspect: invalid UTF-8 JSON",
            "/api/v1/introspect",
            "application/json",
            b"{\"token\":\"\xff\"}".to_vec(),
            400,
            "Malformed JSON",
        ),
        (
            "introspect: wrong content type",
            "/api/v1/introspect",
            "text/plain",
            b"token=x".to_vec(),
            415,
            "Send application",
        ),
        (
            "introspect: token of the wrong type",
            "/api/v1/introspect",
            "application/json",
            b"{\"token\":5}".to_vec(),
            400,
            "Malformed JSON",
        ),
        (
            "introspect: body over 64 KiB",
            "/api/v1/introspect",
            "application/json",
            vec![b' '; 65 * 1024 + 1],
            413,
            "larger than 64 KiB",
        ),
        (
            "leaked: 1,001 tokens",
            "/api/v1/tokens/revoke-leaked",
            "application/json",
            serde_json::json!({"tokens": vec!["x"; 1001]})
                .to_string()
                .into_bytes(),
            400,
            "At most 1000",
        ),
        (
            "leaked: numbers, not strings",
            "/api/v1/tokens/revoke-leaked",
            "application/json",
            b"{\"tokens\":[1,2]}".to_vec(),
            400,
            "Malformed JSON",
        ),
        (
            "leaked: form body",
            "/api/v1/tokens/revoke-leaked",
            "application/x-www-form-urlencoded",
            b"tokens=x".to_vec(),
            415,
            "Send application/json",
        ),
    ];
    for (what, path, ct, body, status, says) in apis {
        let bearer = path.contains("introspect").then_some(rs.as_str());
        let page = api.api_post(path, bearer, ct, &body);
        check(&app, &Case { what, status, says }, page, before);
        cases += 1;
    }
    for (what, method, path, status, says) in [
        (
            "DELETE a negative id",
            "DELETE",
            "/api/v1/tokens/-1",
            404,
            "No token with this id",
        ),
        (
            "DELETE another member's token",
            "DELETE",
            &*format!("/api/v1/tokens/{theirs}"),
            404,
            "No token with this id",
        ),
        (
            "unknown status filter",
            "GET",
            "/api/v1/tokens?status=nope",
            400,
            "status must be",
        ),
        (
            "page zero",
            "GET",
            "/api/v1/tokens?page=0",
            400,
            "page must be",
        ),
        ("wrong method", "POST", "/api/v1/me", 405, "Use GET"),
    ] {
        let page = api.api(method, path, Some(&token));
        check(&app, &Case { what, status, says }, page, before);
        cases += 1;
    }

    // --- Accepted, but stored as plain text and shown escaped ------------------
    let sql = "'; DROP TABLE api_tokens; --";
    let html = "<img src=x onerror=alert(1)>";
    for name in [sql, html] {
        let full = format!(
            "{}&name={}{ok}&scopes=datastore%3Aread",
            form_prefix(&c),
            enc(name)
        );
        c.post_raw(
            "/settings/api-tokens",
            "application/x-www-form-urlencoded",
            full.as_bytes(),
        )
        .assert_status(200);
        assert!(app.token_id(name) > 0, "stored as typed");
    }
    let list = c.get("/settings/api-tokens");
    assert!(!list.body.contains(html), "HTML name rendered raw");
    list.assert_contains("&#60;img src=x onerror=alert(1)&#62;");
    assert_eq!(
        app.token_count(),
        before + 2,
        "the duplicated scope made one token each"
    );
    cases += 2;

    no_case_failed();
    assert!(cases >= 50, "the corpus has {cases} cases");
}

/// Every refusal carries the RFC 6750 challenge.
fn page_header_ok(api: &Client, headers: &[(&str, &str)]) -> bool {
    let page = api.get_with("/api/v1/me", headers);
    page.header("www-authenticate")
        .is_some_and(|h| h.contains("error=\"invalid_token\""))
}
