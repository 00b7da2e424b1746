//! The CLI of SPEC §5 through the real binary, on both backends.

use crate::helpers::{Backend, TestDb};

fn token_count(db: &TestDb) -> usize {
    let out = db.cli(&["token", "list", "--json"]).ok();
    let list: serde_json::Value = serde_json::from_str(&out).expect("json list");
    list.as_array().map_or(0, Vec::len)
}

/// Commands other than `serve` and `migrate` work on a database that
/// exists: they never create one.
fn migrated(db: &TestDb) {
    db.cli(&["migrate"]).ok();
}

fn add(db: &TestDb, email: &str, role: &str) {
    db.cli_with_stdin(
        &[
            "user",
            "add",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    )
    .ok();
}

fn create(db: &TestDb, email: &str, name: &str, scopes: &[&str]) -> crate::helpers::CliOutput {
    let expires = crate::helpers::in_days(30);
    let mut args = vec![
        "token",
        "create",
        "--email",
        email,
        "--name",
        name,
        "--expires-on",
        &expires,
    ];
    for s in scopes {
        args.push("--scope");
        args.push(s);
    }
    db.cli(&args)
}

both_backends!(
    migrate_on_an_empty_database,
    members_of_each_role_get_their_scopes,
    revoke_demote_and_disable,
    bad_input_changes_nothing,
    token_create_prints_only_the_token,
    first_serve_prints_the_admin_password_once,
    logs_never_hold_a_token_or_password,
    expiring_lists_tokens_for_cron,
);

fn expiring_lists_tokens_for_cron(db: &TestDb) {
    migrated(db);
    add(db, "dev@example.com", "developer");
    let soon = crate::helpers::in_days(3);
    let later = crate::helpers::in_days(40);
    for (name, date) in [("soon", &soon), ("later", &later)] {
        db.cli(&[
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            name,
            "--expires-on",
            date,
            "--scope",
            "datastore:read",
        ])
        .ok();
    }
    let out = db
        .cli(&["token", "expiring", "--within-days", "5", "--json"])
        .ok();
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["name"], "soon");
    let table = db.cli(&["token", "expiring", "--within-days", "60"]).ok();
    assert!(table.contains("soon") && table.contains("later"), "{table}");
    db.cli(&["token", "expiring", "--within-days", "0"])
        .fails(2, "from 1 to 3650");
    db.cli(&["token", "expiring"]).fails(2, "--within-days");
}

fn migrate_on_an_empty_database(db: &TestDb) {
    let out = db.cli(&["migrate"]).ok();
    assert!(out.contains("up to date"), "{out}");
    // Twice is fine, and the default organisation is there for `user add`.
    db.cli(&["migrate"]).ok();
    add(db, "first@example.com", "viewer");
    let list = db.cli(&["user", "list", "--json"]).ok();
    let members: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    assert_eq!(members[0]["role"], "viewer");
}

fn members_of_each_role_get_their_scopes(db: &TestDb) {
    migrated(db);
    add(db, "viewer@example.com", "viewer");
    add(db, "dev@example.com", "developer");
    add(db, "admin@example.com", "admin");

    create(
        db,
        "viewer@example.com",
        "read",
        &["datastore:read", "tokens:read"],
    )
    .ok();
    create(db, "viewer@example.com", "write", &["datastore:write"])
        .fails(1, "viewer role cannot grant: datastore:write");
    create(
        db,
        "dev@example.com",
        "deploy",
        &["datastore:write", "tokens:revoke"],
    )
    .ok();
    create(
        db,
        "dev@example.com",
        "admin-ish",
        &["datastore:read", "org:admin"],
    )
    .fails(1, "developer role cannot grant: org:admin");
    create(
        db,
        "admin@example.com",
        "resource server",
        &["tokens:introspect", "org:admin"],
    )
    .ok();
    assert_eq!(token_count(db), 3, "refused tokens are not written");

    let list = db
        .cli(&["token", "list", "--email", "dev@example.com", "--json"])
        .ok();
    let tokens: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(tokens.as_array().map(Vec::len), Some(1));
    assert_eq!(tokens[0]["name"], "deploy");
    assert_eq!(tokens[0]["status"], "active");
    assert_eq!(
        tokens[0]["scopes"],
        serde_json::json!(["datastore:write", "tokens:revoke"])
    );
    assert!(tokens[0].get("token_hash").is_none() && tokens[0].get("secret").is_none());

    let table = db.cli(&["token", "list"]).ok();
    assert!(
        table.contains("resource server") && table.contains("admin@example.com"),
        "{table}"
    );
}

fn revoke_demote_and_disable(db: &TestDb) {
    migrated(db);
    add(db, "dev@example.com", "developer");
    add(db, "boss@example.com", "admin");
    let first = create(db, "dev@example.com", "one", &["datastore:read"]).ok();
    let second = create(
        db,
        "dev@example.com",
        "two",
        &["datastore:write", "reports:read"],
    )
    .ok();
    assert_ne!(first, second);

    let out = db.cli(&["token", "revoke", "1"]).ok();
    assert!(out.contains("Revoked 1"), "{out}");
    let out = db.cli(&["token", "revoke", "1"]).ok();
    assert!(out.contains("already revoked"), "{out}");
    let active = db
        .cli(&["token", "list", "--status", "active", "--json"])
        .ok();
    let active: serde_json::Value = serde_json::from_str(&active).expect("json");
    assert_eq!(active.as_array().map(Vec::len), Some(1));
    assert_eq!(active[0]["name"], "two");

    // A revoked token's name can be used again.
    create(db, "dev@example.com", "one", &["datastore:read"]).ok();

    let out = db
        .cli(&[
            "user",
            "set-role",
            "--email",
            "dev@example.com",
            "--role",
            "viewer",
        ])
        .ok();
    assert!(out.contains("now viewer"), "{out}");
    let out = db
        .cli(&["user", "disable", "--email", "dev@example.com"])
        .ok();
    assert!(out.contains("disabled"), "{out}");
    let members = db.cli(&["user", "list"]).ok();
    assert!(members.contains("disabled"), "{members}");
    // A disabled member gets no new token.
    create(db, "dev@example.com", "three", &["datastore:read"]).fails(1, "disabled");

    // The last active admin stays.
    db.cli(&[
        "user",
        "set-role",
        "--email",
        "boss@example.com",
        "--role",
        "developer",
    ])
    .fails(1, "last active admin");
    db.cli(&["user", "disable", "--email", "boss@example.com"])
        .fails(1, "last active admin");
}

fn bad_input_changes_nothing(db: &TestDb) {
    migrated(db);
    add(db, "dev@example.com", "developer");
    create(db, "dev@example.com", "taken", &["datastore:read"]).ok();
    let before = db.cli(&["token", "list", "--json"]).ok();
    let members_before = db.cli(&["user", "list", "--json"]).ok();
    let today = crate::helpers::in_days(0);
    let too_far = crate::helpers::in_days(400);
    let ok_date = crate::helpers::in_days(10);
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["user", "add", "--email", "x@example.com", "--role", "owner"],
            2,
            "unknown role",
        ),
        (
            vec!["user", "add", "--email", "not-an-email", "--role", "viewer"],
            2,
            "not a valid email",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "dev@example.com",
                "--role",
                "viewer",
            ],
            1,
            "already exists",
        ),
        (vec!["user", "add", "--role", "viewer"], 2, "--email"),
        (
            vec![
                "user",
                "set-role",
                "--email",
                "ghost@example.com",
                "--role",
                "admin",
            ],
            1,
            "no member with the email ghost@example.com",
        ),
        (
            vec!["user", "disable", "--email", "ghost@example.com"],
            1,
            "no member with the email ghost@example.com",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                &ok_date,
                "--scope",
                "root",
            ],
            2,
            "unknown scope",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                &ok_date,
                "--scope",
                "org:admin",
            ],
            1,
            "cannot grant",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                "31/12/2030",
                "--scope",
                "datastore:read",
            ],
            2,
            "YYYY-MM-DD",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                "2030-02-30",
                "--scope",
                "datastore:read",
            ],
            2,
            "YYYY-MM-DD",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                &today,
                "--scope",
                "datastore:read",
            ],
            1,
            "in the future",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                "2001-01-01",
                "--scope",
                "datastore:read",
            ],
            1,
            "in the future",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                &too_far,
                "--scope",
                "datastore:read",
            ],
            1,
            "at most 365 days",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "  ",
                "--expires-on",
                &ok_date,
                "--scope",
                "datastore:read",
            ],
            2,
            "Enter a name",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "taken",
                "--expires-on",
                &ok_date,
                "--scope",
                "datastore:read",
            ],
            1,
            "already have an active token",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "ghost@example.com",
                "--name",
                "n",
                "--expires-on",
                &ok_date,
                "--scope",
                "datastore:read",
            ],
            1,
            "no member with the email ghost@example.com",
        ),
        (
            vec![
                "token",
                "create",
                "--email",
                "dev@example.com",
                "--name",
                "n",
                "--expires-on",
                &ok_date,
            ],
            2,
            "--scope",
        ),
        (vec!["token", "revoke", "abc"], 2, "not a token id"),
        (vec!["token", "revoke", "-5"], 2, "error"),
        (vec!["token", "revoke", "1", "999"], 1, "do not exist"),
        (
            vec!["token", "list", "--status", "gone"],
            2,
            "expected active",
        ),
        (vec!["frobnicate"], 2, "unrecognized subcommand"),
    ];
    for (args, code, needle) in cases {
        let out = db.cli(&args);
        assert_eq!(out.code(), code, "{args:?}: {}", out.stderr());
        out.fails(code, needle);
    }
    let long_name = "x".repeat(101);
    db.cli(&[
        "token",
        "create",
        "--email",
        "dev@example.com",
        "--name",
        &long_name,
        "--expires-on",
        &ok_date,
        "--scope",
        "datastore:read",
    ])
    .fails(2, "at most 100");
    db.cli_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "y@example.com",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("short\n"),
    )
    .fails(1, "at least 12");
    assert_eq!(
        db.cli(&["token", "list", "--json"]).ok(),
        before,
        "no token changed"
    );
    assert_eq!(
        db.cli(&["user", "list", "--json"]).ok(),
        members_before,
        "no member changed"
    );
}

fn token_create_prints_only_the_token(db: &TestDb) {
    migrated(db);
    add(db, "dev@example.com", "developer");
    let out = create(db, "dev@example.com", "ci", &["datastore:read"]).ok();
    let token = out.trim_end_matches('\n');
    assert_eq!(out.lines().count(), 1);
    assert!(token.starts_with("lk_") && token.len() == 39, "{token:?}");
    assert!(token[3..].bytes().all(|b| b.is_ascii_alphanumeric()));

    // The plaintext appears nowhere in the database files.
    if db.backend == Backend::Sqlite {
        let dir = db.dir().expect("sqlite dir");
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read db file");
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "plaintext token found in {}", path.display());
        }
    }
}

#[test]
fn bad_database_urls_are_one_clear_line() {
    let db = TestDb::sqlite();
    let run = |url: &str| {
        let out = std::process::Command::new(crate::helpers::BIN)
            .args(["user", "list"])
            .env("DATABASE_URL", url)
            .output()
            .expect("run");
        crate::helpers::CliOutput(out)
    };
    run("mysql://root@localhost/x").fails(2, "use sqlite://PATH or postgres://");
    run("latchkey.db").fails(2, "use sqlite://PATH or postgres://");
    let out = run("postgres://nobody:pw@127.0.0.1:1/none");
    out.fails(1, "cannot open database");
    assert!(
        !out.stderr().contains(":pw@"),
        "password shown: {}",
        out.stderr()
    );
    drop(db);
}

#[test]
fn help_works_on_every_subcommand() {
    let db = TestDb::sqlite();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["user", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "list", "--help"],
        vec!["user", "set-role", "--help"],
        vec!["user", "disable", "--help"],
        vec!["token", "--help"],
        vec!["token", "create", "--help"],
        vec!["token", "list", "--help"],
        vec!["token", "revoke", "--help"],
    ] {
        let out = db.cli(&args).ok();
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

/// Starts `latchkey serve` on a free port; returns the child, its port and
/// the stdout lines up to "listening".
fn serve(db: &TestDb) -> (std::process::Child, u16, Vec<String>) {
    serve_logging(db, "warn", std::process::Stdio::null())
}

fn serve_logging(
    db: &TestDb,
    filter: &str,
    stderr: std::process::Stdio,
) -> (std::process::Child, u16, Vec<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(crate::helpers::BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .env("LATCHKEY_LOG", filter)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    let mut port = 0;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(rest) = line.strip_prefix("Latchkey is listening on http://127.0.0.1:") {
            port = rest.trim().parse().expect("port");
            break;
        }
        lines.push(line);
    }
    assert!(port > 0, "serve did not start: {lines:?}");
    (child, port, lines)
}

fn first_serve_prints_the_admin_password_once(db: &TestDb) {
    let (mut child, port, lines) = serve(db);
    let text = lines.join("\n");
    assert!(text.contains("email:    admin@latchkey.local"), "{text}");
    assert!(text.contains("latchkey user set-password"), "{text}");
    let password = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("password line")
        .trim()
        .to_owned();
    assert_eq!(password.len(), 20);
    let client = crate::helpers::Client::new(&format!("http://127.0.0.1:{port}"));
    client.get("/healthz").assert_status(200);
    client.get("/readyz").assert_status(200);
    client.sign_in("admin@latchkey.local", &password);
    // A generated password is replaced before anything else.
    let gated = client.get("/settings/api-tokens");
    gated.assert_status(303);
    assert_eq!(gated.header("location"), Some("/settings/account"));
    let csrf = client.get("/settings/account").csrf();
    client
        .post(
            "/settings/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", &password),
                ("new_password", "the admin's chosen password"),
            ],
        )
        .assert_status(303);
    client.get("/settings/api-tokens").assert_status(200);
    let _ = child.kill();
    let _ = child.wait();

    // The second start finds the admin and prints no password.
    let (mut child, _, lines) = serve(db);
    assert!(!lines.join("\n").contains("password:"), "{lines:?}");
    let _ = child.kill();
    let _ = child.wait();
    // The stored hash is not the password.
    let out = db.cli(&["user", "list", "--json"]).ok();
    assert!(!out.contains(&password));
}

fn logs_never_hold_a_token_or_password(db: &TestDb) {
    migrated(db);
    add(db, "dev@example.com", "developer");
    let token = create(db, "dev@example.com", "logged", &["datastore:read"]).ok();
    let token = token.trim();
    let log_path = std::env::temp_dir().join(format!(
        "latchkey-log-{}.txt",
        std::process::id() as u64 * 1000 + rand_suffix()
    ));
    let log = std::fs::File::create(&log_path).expect("log file");
    let (mut child, port, lines) = serve_logging(db, "debug", log.into());
    let password = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("password line")
        .trim()
        .to_owned();
    let c = crate::helpers::Client::new(&format!("http://127.0.0.1:{port}"));
    c.api("GET", "/api/v1/me", Some(token)).assert_status(200);
    c.api("GET", "/api/v1/me", Some(&format!("{token}x")))
        .assert_status(401);
    c.api_post(
        "/api/v1/tokens/revoke-leaked",
        None,
        "application/json",
        format!("{{\"tokens\":[\"{token}\"]}}").as_bytes(),
    )
    .assert_status(200);
    c.try_sign_in("admin@latchkey.local", "a wrong password!!")
        .assert_status(401);
    c.sign_in("admin@latchkey.local", &password);
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log_path).expect("read log");
    let _ = std::fs::remove_file(&log_path);
    assert!(logged.contains("answered"), "requests are logged: {logged}");
    assert!(!logged.contains(token), "token in the log");
    assert!(
        !logged.contains(&token[3..20]),
        "part of the token in the log"
    );
    assert!(!logged.contains(&password), "password in the log");
    assert!(
        !logged.contains("a wrong password"),
        "attempted password in the log"
    );
    assert!(!logged.to_lowercase().contains("authorization: bearer"));
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) % 1000)
        .unwrap_or(0)
}
