//! SPEC §13 through the real binary: settings as options with their
//! environment variables, the settings file and its precedence, no stray
//! databases, prefixes that change without breaking tokens, passwords at
//! a terminal, and a database newer than the binary.

use crate::helpers::{BIN, CliOutput, Client, ServeProcess, TestDb, in_days};
use std::process::{Command, Stdio};

/// Every setting `serve` reads, as `--help` must list it.
const SETTINGS: [&str; 21] = [
    "DATABASE_URL",
    "LATCHKEY_BIND",
    "LATCHKEY_WORKERS",
    "LATCHKEY_METRICS_BIND",
    "LATCHKEY_POOL_SIZE",
    "LATCHKEY_SECURE_COOKIES",
    "LATCHKEY_SESSION_KEY",
    "LATCHKEY_TRUSTED_PROXIES",
    "LATCHKEY_WEBHOOK_URL",
    "LATCHKEY_WEBHOOK_SECRET",
    "LATCHKEY_WEBHOOK_POLL_MS",
    "LATCHKEY_OIDC_ISSUER",
    "LATCHKEY_OIDC_CLIENT_ID",
    "LATCHKEY_OIDC_CLIENT_SECRET",
    "LATCHKEY_OIDC_DEFAULT_ROLE",
    "LATCHKEY_OIDC_LABEL",
    "LATCHKEY_PUBLIC_URL",
    "LATCHKEY_LOG",
    "LATCHKEY_LOG_FORMAT",
    "LATCHKEY_TOKEN_PREFIX",
    "LATCHKEY_CONFIG",
];

fn run_in(dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> CliOutput {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("LATCHKEY_TOKEN_PREFIX")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    CliOutput(cmd.output().expect("run latchkey"))
}

#[test]
fn serve_help_documents_every_setting() {
    let help = run_in(&std::env::temp_dir(), &["serve", "--help"], &[]).ok();
    for setting in SETTINGS {
        assert!(
            help.contains(&format!("[env: {setting}")),
            "{setting} in:\n{help}"
        );
    }
    for heading in [
        "Listening:",
        "Database:",
        "Security:",
        "Webhooks:",
        "Single sign-on:",
        "Logging:",
    ] {
        assert!(help.contains(heading), "{heading}");
    }
    assert!(help.contains("[default: 127.0.0.1:8080]"));
    assert!(help.contains("--config <PATH>"));
}

/// Environment, arguments, and what the one line must say.
type BadSetting<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);

#[test]
fn bad_settings_are_one_line_naming_the_setting() {
    let db = TestDb::sqlite();
    let dir = db.dir().expect("dir");
    let url = db.url.as_str();
    let cases: [BadSetting; 10] = [
        (
            &[("LATCHKEY_POOL_SIZE", "0")],
            &["serve"],
            "--pool-size (LATCHKEY_POOL_SIZE): “0” must be a number from 1 to 512",
        ),
        (
            &[],
            &["serve", "--workers", "lots"],
            "--workers (LATCHKEY_WORKERS): “lots” must be a number from 1 to 256",
        ),
        (
            &[("LATCHKEY_BIND", "localhost")],
            &["serve"],
            "--bind (LATCHKEY_BIND): “localhost” is not HOST:PORT",
        ),
        (
            &[("LATCHKEY_SECURE_COOKIES", "sometimes")],
            &["serve"],
            "must be true or false",
        ),
        (
            &[("LATCHKEY_SESSION_KEY", "short")],
            &["serve"],
            "at least 64 bytes",
        ),
        (
            &[("LATCHKEY_LOG_FORMAT", "xml")],
            &["serve"],
            "LATCHKEY_LOG_FORMAT",
        ),
        (
            &[("LATCHKEY_OIDC_ISSUER", "https://id.example.com")],
            &["serve"],
            "LATCHKEY_OIDC_ISSUER, LATCHKEY_OIDC_CLIENT_ID and LATCHKEY_OIDC_CLIENT_SECRET go together",
        ),
        (
            &[
                ("LATCHKEY_OIDC_ISSUER", "id.example.com"),
                ("LATCHKEY_OIDC_CLIENT_ID", "latchkey"),
                ("LATCHKEY_OIDC_CLIENT_SECRET", "s3cret"),
            ],
            &["serve"],
            "is not an http(s) URL",
        ),
        (
            &[("LATCHKEY_OIDC_DEFAULT_ROLE", "owner")],
            &["serve"],
            "--oidc-default-role (LATCHKEY_OIDC_DEFAULT_ROLE)",
        ),
        (
            &[("LATCHKEY_TOKEN_PREFIX", "no spaces")],
            &["serve"],
            "--token-prefix (LATCHKEY_TOKEN_PREFIX)",
        ),
    ];
    for (envs, args, message) in cases {
        let mut all = vec![("DATABASE_URL", url)];
        all.extend_from_slice(envs);
        run_in(dir, args, &all).fails(2, message);
    }
    // Nothing was created by a refused start.
    assert!(!db.sqlite_path().expect("path").exists());
}

#[test]
fn the_settings_file_sits_between_the_environment_and_the_defaults() {
    let db = TestDb::sqlite();
    let dir = db.dir().expect("dir").clone();
    let file = dir.join("latchkey.toml");
    std::fs::write(
        &file,
        "# every key as the long option\nbind = \"127.0.0.1:0\"\npool_size = 3\nmetrics_bind = \"127.0.0.1:0\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nsecure_cookies = false\n",
    )
    .expect("write");
    let config = file.to_str().expect("utf-8");
    let pool = |envs: &[(&str, &str)], args: &[&str]| -> String {
        let mut all = vec![("LATCHKEY_CONFIG", config)];
        all.extend_from_slice(envs);
        let server = ServeProcess::start_with(&db, args, &all);
        let metrics = server
            .banner
            .iter()
            .chain(std::iter::once(&String::new()))
            .find_map(|l| l.strip_prefix("Metrics on "))
            .map(str::to_owned);
        let metrics = metrics.expect("metrics listener from the file");
        let base = metrics.trim_end_matches("/metrics");
        let body = Client::new(base).get("/metrics").body;
        body.lines()
            .find(|l| l.starts_with("latchkey_db_pool_max_connections "))
            .expect("pool size")
            .to_owned()
    };
    // File over default; environment over file; flag over environment.
    assert_eq!(pool(&[], &[]), "latchkey_db_pool_max_connections 3");
    assert_eq!(
        pool(&[("LATCHKEY_POOL_SIZE", "5")], &[]),
        "latchkey_db_pool_max_connections 5"
    );
    assert_eq!(
        pool(&[("LATCHKEY_POOL_SIZE", "5")], &["--pool-size=7"]),
        "latchkey_db_pool_max_connections 7"
    );
    // A bad file is one line naming it.
    std::fs::write(&file, "bind = \"127.0.0.1:0\"\nbogus = 1\n").expect("write");
    run_in(
        &dir,
        &["--config", config, "serve"],
        &[("DATABASE_URL", &db.url)],
    )
    .fails(2, "unknown setting “bogus”");
    std::fs::write(&file, "bind = [1, 2]\n").expect("write");
    run_in(
        &dir,
        &["--config", config, "serve"],
        &[("DATABASE_URL", &db.url)],
    )
    .fails(2, "must be a list of strings");
    std::fs::write(&file, "pool_size = 0\n").expect("write");
    run_in(
        &dir,
        &["--config", config, "serve"],
        &[("DATABASE_URL", &db.url)],
    )
    .fails(2, "--pool-size (LATCHKEY_POOL_SIZE)");
    std::fs::write(&file, "not toml at all [").expect("write");
    run_in(
        &dir,
        &["--config", config, "serve"],
        &[("DATABASE_URL", &db.url)],
    )
    .fails(2, "config file");
    run_in(
        &dir,
        &["--config", "/nonexistent.toml", "serve"],
        &[("DATABASE_URL", &db.url)],
    )
    .fails(2, "cannot read it");
}

#[test]
fn commands_never_create_a_stray_database() {
    let dir = tempdir("stray");
    for args in [
        &["user", "list"][..],
        &["token", "list"],
        &["user", "add", "--email", "a@b.c", "--role", "viewer"],
    ] {
        let out = run_in(&dir, args, &[]);
        let expected = format!(
            "there is no database at sqlite://{}/latchkey.db",
            dir.display()
        );
        out.fails(1, &expected);
        assert!(
            !dir.join("latchkey.db").exists(),
            "{args:?} created a database"
        );
    }
    // `migrate` may create it, and then the commands work.
    let migrated = run_in(&dir, &["migrate"], &[]).ok();
    assert!(
        migrated.contains(&format!("sqlite://{}/latchkey.db", dir.display())),
        "{migrated}"
    );
    run_in(&dir, &["user", "list"], &[]).ok();
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-{name}-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn serve_says_where_the_database_is() {
    let db = TestDb::sqlite();
    let server = ServeProcess::start(&db, &[("DATABASE_URL", "sqlite://latchkey.db")]);
    let path = db.sqlite_path().expect("path");
    assert!(
        server
            .banner
            .iter()
            .any(|l| l == &format!("Database: sqlite://{}", path.display())),
        "{:?}",
        server.banner
    );
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("cargo install --path ."))
    );
}

#[test]
fn a_new_token_prefix_keeps_earlier_tokens_working() {
    let db = TestDb::sqlite();
    db.cli(&["migrate"]).ok();
    db.cli_with_stdin(
        &[
            "user",
            "add",
            "--email",
            "dev@example.com",
            "--role",
            "developer",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    )
    .ok();
    let expires = in_days(30);
    let create = |prefix: Option<&str>, name: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            name,
            "--expires-on",
            &expires,
            "--scope",
            "datastore:read",
        ])
        .env("DATABASE_URL", &db.url)
        .env_remove("LATCHKEY_TOKEN_PREFIX");
        if let Some(p) = prefix {
            cmd.env("LATCHKEY_TOKEN_PREFIX", p);
        }
        CliOutput(cmd.output().expect("run")).ok().trim().to_owned()
    };
    let old = create(None, "before");
    let new = create(Some("acme_"), "after");
    assert!(
        old.starts_with("lk_") && new.starts_with("acme_"),
        "{old} {new}"
    );
    for prefix in ["acme_", "lk_"] {
        let server = ServeProcess::start(&db, &[("LATCHKEY_TOKEN_PREFIX", prefix)]);
        let c = Client::new(&server.base);
        c.api("GET", "/api/v1/me", Some(&old)).assert_status(200);
        c.api("GET", "/api/v1/me", Some(&new)).assert_status(200);
        c.api(
            "GET",
            "/api/v1/me",
            Some("other_0123456789012345678901234567890123456"),
        )
        .assert_status(401);
    }
}

#[test]
fn a_database_from_a_newer_latchkey_is_refused() {
    use diesel::prelude::*;
    let db = TestDb::sqlite();
    db.cli(&["migrate"]).ok();
    let path = db.sqlite_path().expect("path");
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("open");
    diesel::sql_query(
        "INSERT INTO __diesel_schema_migrations (version, run_on) VALUES ('29991231000000', CURRENT_TIMESTAMP)",
    )
    .execute(&mut conn)
    .expect("a newer migration");
    drop(conn);
    db.cli(&["user", "list"]).fails(
        1,
        "upgraded by a newer Latchkey (it has migration 29991231000000",
    );
    let out = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .output()
        .expect("serve");
    CliOutput(out).fails(1, "upgraded by a newer Latchkey");
}

/// Drives `latchkey user set-password` through a pseudo-terminal, as a
/// person at a keyboard does.
#[test]
fn passwords_typed_at_a_terminal_are_asked_twice_without_echo() {
    let db = TestDb::sqlite();
    let app = crate::helpers::spawn_app(&db);
    app.add_member("dev@example.com", latchkey::domain::Role::Developer);
    let typed = "typed at a keyboard 123";
    let driver = r#"
import os, pty, sys, termios, time
bin, url, email, pw = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ, DATABASE_URL=url)
    os.execve(bin, [bin, "user", "set-password", "--email", email], env)
seen = b""
def read_until(marker):
    global seen
    deadline = time.time() + 20
    while marker not in seen and time.time() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
def type_when_echo_is_off():
    # A person types after the prompt; wait until the program has turned
    # echo off, as it must before anything is typed.
    deadline = time.time() + 20
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < deadline:
        time.sleep(0.01)
    os.write(fd, pw.encode() + b"\r")
read_until(b"New password")
type_when_echo_is_off()
read_until(b"Again")
type_when_echo_is_off()
read_until(b"changed")
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .args(["-c", driver, BIN, &db.url, "dev@example.com", typed])
        .output()
        .expect("python3");
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{screen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        screen.contains("New password for dev@example.com:"),
        "{screen}"
    );
    assert!(
        screen.contains("Password of dev@example.com changed."),
        "{screen}"
    );
    assert!(!screen.contains(typed), "the password was echoed: {screen}");
    app.client().sign_in("dev@example.com", typed);
    // Piped standard input keeps working.
    db.cli_with_stdin(
        &["user", "set-password", "--email", "dev@example.com"],
        Some("piped in and long enough\n"),
    )
    .ok();
    app.client()
        .sign_in("dev@example.com", "piped in and long enough");
}
