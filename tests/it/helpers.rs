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
