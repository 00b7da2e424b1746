//! Test harness: a fresh database per test (a temp SQLite file or a new
//! PostgreSQL database, dropped afterwards), the real binary, and the real
//! server on a free port.

use diesel::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// Runs every listed test body once on SQLite and once on PostgreSQL:
/// `module::sqlite::name` and `module::postgres::name`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { $crate::helpers::on_sqlite(super::$name) } )*
        }
        mod postgres {
            $( #[test] fn $name() { $crate::helpers::on_postgres(stringify!($name), super::$name) } )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: Option<PathBuf>,
    pg_name: Option<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{n}_{nanos}", std::process::id())
}

fn pg_base() -> String {
    std::env::var("LATCHKEY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("latchkey-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TestDb {
            url: format!("sqlite://{}", dir.join("latchkey.db").display()),
            backend: Backend::Sqlite,
            dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh, empty PostgreSQL database, or `None` when the server is
    /// unreachable (then `LATCHKEY_REQUIRE_PG=1` turns that into a failure).
    pub fn postgres() -> Option<TestDb> {
        let admin_url = format!("{}/postgres", pg_base());
        let mut conn = match PgConnection::establish(&admin_url) {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("LATCHKEY_REQUIRE_PG").is_ok_and(|v| v == "1") {
                    panic!(
                        "PostgreSQL is required (LATCHKEY_REQUIRE_PG=1) but unreachable at {admin_url}: {e}"
                    );
                }
                return None;
            }
        };
        let name = format!("latchkey_test_{}", unique_suffix());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        Some(TestDb {
            url: format!("{}/{name}", pg_base()),
            backend: Backend::Postgres,
            dir: None,
            pg_name: Some(name),
        })
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("latchkey.db"))
    }

    pub fn dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref()
    }

    /// Runs the real `latchkey` binary against this database.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("DATABASE_URL", &self.url)
            .env_remove("LATCHKEY_TOKEN_PREFIX")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("run latchkey");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        CliOutput(child.wait_with_output().expect("wait for latchkey"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = &self.pg_name
            && let Ok(mut conn) = PgConnection::establish(&format!("{}/postgres", pg_base()))
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub struct CliOutput(pub Output);

impl CliOutput {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts the exit code and one line on stderr containing `needle`.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        let err = self.stderr();
        assert_eq!(
            self.code(),
            code,
            "exit code; stderr: {err}\nstdout: {}",
            self.stdout()
        );
        assert!(
            err.contains(needle),
            "stderr {err:?} should contain {needle:?}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line on stderr: {err:?}"
        );
    }
}

pub fn on_sqlite(test: fn(&TestDb)) {
    let db = TestDb::sqlite();
    test(&db);
}

pub fn on_postgres(name: &str, test: fn(&TestDb)) {
    match TestDb::postgres() {
        Some(db) => test(&db),
        None => note_skipped(name),
    }
}

/// Written straight to stderr (not captured) so a skipped PostgreSQL case
/// is never mistaken for a pass.
fn note_skipped(name: &str) {
    static FIRST: OnceLock<()> = OnceLock::new();
    let mut err = std::io::stderr();
    if FIRST.set(()).is_ok() {
        let _ = writeln!(
            err,
            "\n*** PostgreSQL unreachable at {}: PostgreSQL test cases are NOT RUN (set LATCHKEY_REQUIRE_PG=1 to fail instead) ***",
            pg_base()
        );
    }
    let _ = writeln!(err, "*** NOT RUN on PostgreSQL: {name}");
}

// ---------------------------------------------------------------------
// The real server, started the way `latchkey serve` starts it.

use latchkey::config::ServerConfig;
use latchkey::db::DbUrl;
use latchkey::domain::{Email, Password, Role, TokenFormat};
use latchkey::service::{Actor, Clock, Latchkey};
use latchkey::startup::Application;

pub struct TestApp {
    pub base: String,
    /// The `/metrics` listener, when the configuration asked for one.
    pub metrics_base: Option<String>,
    pub service: Latchkey,
    pub admin_email: String,
    pub admin_password: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command; the server thread ends on its own.
        drop(self.handle.stop(false));
    }
}

pub fn spawn_app(db: &TestDb) -> TestApp {
    spawn_app_with(db, ServerConfig::default())
}

/// As `spawn_app`, with this configuration (its bind address is replaced
/// by a free port).
pub fn spawn_app_with(db: &TestDb, config: ServerConfig) -> TestApp {
    spawn(db, config, false)
}

/// As `spawn_app`, with `/metrics` on a second listener
/// (`TestApp::metrics_base`).
pub fn spawn_app_with_metrics(db: &TestDb) -> TestApp {
    spawn_app_with(
        db,
        ServerConfig {
            metrics_bind: Some("127.0.0.1:0".into()),
            ..ServerConfig::default()
        },
    )
}

/// The first admin's password in most tests: set as an operator would
/// with `latchkey user set-password`, so it is the admin's own and
/// sign-in goes straight to the console.
pub const ADMIN_PASSWORD: &str = "the first admin's own password";

/// As `spawn_app`, but the first admin keeps the password Latchkey
/// generated (and must change it after signing in).
pub fn spawn_app_as_shipped(db: &TestDb) -> TestApp {
    spawn(db, ServerConfig::default(), true)
}

fn spawn(db: &TestDb, config: ServerConfig, keep_generated: bool) -> TestApp {
    let url = DbUrl::parse(&db.url).expect("test url");
    let service =
        Latchkey::open(&url, 4, Clock::default(), TokenFormat::default()).expect("open service");
    let (email, generated) = service
        .members()
        .bootstrap_admin()
        .expect("bootstrap")
        .expect("a fresh database has no admin");
    let password = if keep_generated {
        generated.expose().to_owned()
    } else {
        let own = Password::parse_new(ADMIN_PASSWORD).expect("a good password");
        let admin = service.members().by_email(&email).expect("the first admin");
        service
            .members()
            .set_password(&latchkey::service::Actor::cli(), admin.id, &own)
            .expect("set the admin's password");
        ADMIN_PASSWORD.to_owned()
    };
    start(service, config, email.to_string(), password)
}

/// A second instance on the database of `first`, as another process on
/// the same database would be: its own pool, clock and server.
pub fn spawn_second(db: &TestDb, first: &TestApp) -> TestApp {
    spawn_second_with(db, first, ServerConfig::default())
}

pub fn spawn_second_with(db: &TestDb, first: &TestApp, config: ServerConfig) -> TestApp {
    spawn_beside(&db.url, first, config)
}

/// A second instance on the database at `url` (as `spawn_second_with`).
pub fn spawn_beside(url: &str, first: &TestApp, config: ServerConfig) -> TestApp {
    let url = DbUrl::parse(url).expect("test url");
    let service =
        Latchkey::open(&url, 4, Clock::default(), TokenFormat::default()).expect("open service");
    assert!(
        service
            .members()
            .bootstrap_admin()
            .expect("bootstrap")
            .is_none()
    );
    start(
        service,
        config,
        first.admin_email.clone(),
        first.admin_password.clone(),
    )
}

fn start(service: Latchkey, config: ServerConfig, email: String, password: String) -> TestApp {
    let config_bind = config.bind.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let svc = service.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            // A free port; on the loopback address asked for, IPv4 by default.
            let bind = if config.bind.ends_with(":0") {
                config.bind.clone()
            } else {
                "127.0.0.1:0".to_owned()
            };
            let config = ServerConfig {
                bind,
                workers: Some(2),
                ..config
            };
            let app = Application::build(&config, svc).expect("build app");
            tx.send((app.port(), app.metrics_port(), app.handle()))
                .expect("send port");
            let _ = app.run_until_stopped().await;
        });
    });
    let (port, metrics_port, handle) = rx.recv().expect("server started");
    let host = if config_bind.starts_with("[::1]") {
        "[::1]"
    } else {
        "127.0.0.1"
    };
    TestApp {
        base: format!("http://{host}:{port}"),
        metrics_base: metrics_port.map(|p| format!("http://127.0.0.1:{p}")),
        service,
        admin_email: email,
        admin_password: password,
        handle,
        thread: Some(thread),
    }
}

impl TestApp {
    /// Stops the server gracefully and waits until everything it started
    /// has ended.
    pub fn shut_down(mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread ended cleanly");
        }
    }
}

pub const PASSWORD: &str = "a long enough password";

impl TestApp {
    /// Adds a member through the service (as the CLI does).
    pub fn add_member(&self, email: &str, role: Role) -> latchkey::service::Member {
        self.service
            .members()
            .add(
                &Actor::cli(),
                &Email::parse(email).expect("email"),
                role,
                &Password::parse_new(PASSWORD).expect("password"),
            )
            .expect("add member")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client signed in as the first admin.
    pub fn admin(&self) -> Client {
        let c = self.client();
        c.sign_in(&self.admin_email, &self.admin_password);
        c
    }

    /// A client signed in as a new member of `role`.
    pub fn member(&self, email: &str, role: Role) -> Client {
        self.add_member(email, role);
        let c = self.client();
        c.sign_in(email, PASSWORD);
        c
    }
}

/// A cookie-keeping HTTP client that never follows redirects.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first `name="…" value="…"` hidden field.
    pub fn field(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned())
    }

    pub fn csrf(&self) -> String {
        self.field("csrf_token")
            .expect("page has a csrf_token field")
    }

    /// The revealed token in `#new-token`.
    pub fn revealed_token(&self) -> Option<String> {
        let needle = "<code id=\"new-token\">";
        let start = self.body.find(needle)? + needle.len();
        let end = self.body[start..].find('<')? + start;
        Some(self.body[start..end].trim().to_owned())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Page {
        assert_eq!(self.status, status, "body:\n{}", self.body);
        self
    }

    #[track_caller]
    pub fn assert_contains(&self, needle: &str) -> &Page {
        assert!(
            self.body.contains(needle),
            "page should contain {needle:?}:\n{}",
            self.body
        );
        self
    }
}

impl Client {
    /// The same browser (cookies and all) talking to another instance.
    pub fn at(&self, base: &str) -> Client {
        Client {
            base: base.to_owned(),
            agent: self.agent.clone(),
        }
    }

    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: base.to_owned(),
            agent,
        }
    }

    fn page(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
        let mut res = res.expect("request reached the server");
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Page {
        Self::page(self.agent.get(format!("{}{path}", self.base)).call())
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::page(req.call())
    }

    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[])
    }

    pub fn post_with(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::page(req.send_form(form.iter().copied()))
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Page {
        Self::page(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Content-Type", content_type)
                .send(body),
        )
    }

    pub fn post_with_raw(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::page(req.send(body))
    }

    /// Signs in through the login form; panics unless it succeeds.
    pub fn sign_in(&self, email: &str, password: &str) {
        let page = self.try_sign_in(email, password);
        assert_eq!(page.status, 303, "sign-in failed: {}", page.body);
        assert_eq!(page.header("location"), Some("/settings/api-tokens"));
    }

    pub fn try_sign_in(&self, email: &str, password: &str) -> Page {
        let login = self.get("/login");
        let csrf = login.csrf();
        self.post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", email),
                ("password", password),
            ],
        )
    }

    /// The CSRF token of this session, read from a page.
    pub fn csrf(&self) -> String {
        self.get("/settings/api-tokens").csrf()
    }

    /// Opens the generate form and submits it with these fields (plus the
    /// form's csrf_token and form_nonce).
    pub fn generate(&self, fields: &[(&str, &str)]) -> Page {
        let form = self.get("/settings/api-tokens/new");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        let nonce = form.field("form_nonce").expect("form nonce");
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &csrf), ("form_nonce", &nonce)];
        all.extend_from_slice(fields);
        self.post("/settings/api-tokens", &all)
    }

    /// Generates a token and returns (its id from the list, the secret).
    pub fn generate_token(&self, name: &str, scopes: &[&str]) -> String {
        let mut fields = vec![("name", name), ("expires_in", "30")];
        for s in scopes {
            fields.push(("scopes", s));
        }
        let page = self.generate(&fields);
        page.assert_status(200);
        page.revealed_token().expect("token revealed")
    }
}

impl TestApp {
    /// The id of the newest token with this name (any owner, any status).
    pub fn token_id(&self, name: &str) -> i64 {
        use latchkey::service::{OwnerFilter, StatusFilter, TokenQuery};
        let page = self
            .service
            .tokens()
            .list(
                &Actor::cli(),
                &TokenQuery {
                    status: StatusFilter::All,
                    owner: OwnerFilter::All,
                    search: Some(name.to_owned()),
                    page: 1,
                },
            )
            .expect("list");
        page.tokens
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.id.0)
            .unwrap_or_else(|| panic!("no token named {name}"))
    }

    /// The status of a token, as the service sees it.
    pub fn token_status(&self, id: i64) -> String {
        self.service
            .tokens()
            .get(&Actor::cli(), latchkey::domain::TokenId(id))
            .expect("token")
            .status
            .to_string()
    }

    pub fn token_count(&self) -> i64 {
        token_total(&self.service)
    }
}

/// Every token in the database, of any status.
pub fn token_total(service: &Latchkey) -> i64 {
    use latchkey::service::{OwnerFilter, StatusFilter, TokenQuery};
    service
        .tokens()
        .list(
            &Actor::cli(),
            &TokenQuery {
                status: StatusFilter::All,
                owner: OwnerFilter::All,
                search: None,
                page: 1,
            },
        )
        .expect("list")
        .total
}

/// Creates a token for `owner` through the service, as the CLI does.
pub fn new_token(
    service: &Latchkey,
    owner: &latchkey::service::Member,
    name: &str,
    scopes: &[&str],
    days: i64,
) -> latchkey::service::CreatedToken {
    service
        .tokens()
        .create(
            &Actor::cli(),
            owner,
            latchkey::service::NewToken {
                name: latchkey::domain::TokenName::parse(name).expect("name"),
                expiry: latchkey::domain::Expiry::On(
                    time::OffsetDateTime::now_utc().date() + time::Duration::days(days),
                ),
                scopes: scopes.iter().map(|s| s.parse().expect("scope")).collect(),
                nonce: None,
                allowed_ips: Default::default(),
                description: None,
                canary: false,
            },
        )
        .expect("create token")
}

impl TestApp {
    /// Creates a token for a member through the service; returns the secret.
    pub fn create_token(&self, email: &str, name: &str, scopes: &[&str], days: i64) -> String {
        let owner = self
            .service
            .members()
            .by_email(&Email::parse(email).expect("email"))
            .expect("member");
        new_token(&self.service, &owner, name, scopes, days)
            .secret
            .expose()
            .to_owned()
    }

    pub fn member_id_of_service(&self, name: &str) -> i64 {
        self.service
            .members()
            .service_account(&latchkey::domain::ServiceName::parse(name).expect("name"))
            .expect("service account")
            .id
            .0
    }

    pub fn member_id(&self, email: &str) -> latchkey::domain::MemberId {
        self.service
            .members()
            .by_email(&Email::parse(email).expect("email"))
            .expect("member")
            .id
    }
}

impl Client {
    pub fn api(&self, method: &str, path: &str, token: Option<&str>) -> Page {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        macro_rules! with_auth {
            ($req:expr) => {{
                let mut req = $req;
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req
            }};
        }
        match method {
            "GET" => Self::page(with_auth!(self.agent.get(&url)).call()),
            "DELETE" => Self::page(with_auth!(self.agent.delete(&url)).call()),
            "POST" => Self::page(with_auth!(self.agent.post(&url)).send_empty()),
            "PUT" => Self::page(with_auth!(self.agent.put(&url)).send_empty()),
            other => panic!("method {other}"),
        }
    }

    /// Any method, no body.
    pub fn method(&self, method: &str, path: &str) -> Page {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(())
            .expect("request");
        Self::page(self.agent.run(request))
    }

    pub fn api_post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Page {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", content_type);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Self::page(req.send(body))
    }
}

impl Page {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A UTC date `days` from today, as the forms and the CLI take it.
pub fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

impl TestApp {
    /// How many audit events of `action` the log holds.
    pub fn audit_count(&self, action: &str) -> i64 {
        let admin = self
            .service
            .members()
            .by_email(&Email::parse(&self.admin_email).expect("email"))
            .expect("admin");
        self.service
            .audit()
            .log(
                &admin,
                &latchkey::service::AuditQuery {
                    action: Some(action.to_owned()),
                    actor: None,
                    page: 1,
                },
            )
            .expect("audit")
            .total
    }
}

impl Page {
    /// `name=value` of the cookie this answer sets, for replaying it.
    pub fn cookie(&self) -> Option<String> {
        let set = self.header("set-cookie")?;
        Some(set.split(';').next()?.trim().to_owned())
    }
}

impl Client {
    /// POST `body` with exactly these headers (no default content type).
    pub fn send(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Page {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::page(req.send(body))
    }

    /// Signs in as if from `address` (through a trusted proxy).
    pub fn try_sign_in_from(&self, email: &str, password: &str, address: &str) -> Page {
        let from = [("X-Forwarded-For", address)];
        let csrf = self.get_with("/login", &from).csrf();
        self.post_with(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", email),
                ("password", password),
            ],
            &from,
        )
    }
}

/// `latchkey serve` as its own process, stopped when dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub base: String,
    /// What it printed before listening (the first admin's credentials).
    pub banner: Vec<String>,
}

impl ServeProcess {
    pub fn start(db: &TestDb, envs: &[(&str, &str)]) -> ServeProcess {
        Self::start_with(db, &[], envs)
    }

    /// With these flags after `serve`.
    pub fn start_with(db: &TestDb, args: &[&str], envs: &[(&str, &str)]) -> ServeProcess {
        use std::io::BufRead;
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("LATCHKEY_BIND", "127.0.0.1:0")
            .env("LATCHKEY_LOG", "warn")
            .env_remove("LATCHKEY_TOKEN_PREFIX")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        if let Some(dir) = db.dir() {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("start serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut banner = Vec::new();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .and_then(Result::ok)
                .expect("serve did not start");
            if let Some(base) = line.strip_prefix("Latchkey is listening on ") {
                break base.to_owned();
            }
            banner.push(line);
        };
        ServeProcess {
            child,
            base,
            banner,
        }
    }

    /// The first admin's password, from the banner.
    pub fn admin_password(&self) -> String {
        self.banner
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("password:")
                    .map(|p| p.trim().to_owned())
            })
            .expect("a password in the banner")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
