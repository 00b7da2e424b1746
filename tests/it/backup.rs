//! Backup and restore. SQLite: `latchkey backup` during a write load, then
//! `latchkey restore` into a new place, checked for consistency and served;
//! restore refused while a server uses the database. PostgreSQL: the
//! commands point to pg_dump, and the documented pg_dump / pg_restore
//! round trip gives a database Latchkey serves.

use crate::helpers::{BIN, Backend, Client, TestDb, new_token, spawn_app, token_total};
use latchkey::db::DbUrl;
use latchkey::domain::{Email, Role, TokenFormat};
use latchkey::service::{Actor, Clock, Latchkey};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

both_backends!(backup_taken_during_writes_restores_and_serves);

/// `latchkey serve` on `url`; returns the process and its base URL once
/// it answers.
fn serve(url: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .env("LATCHKEY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let stdout = child.stdout.take().expect("stdout");
    let base = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("Latchkey is listening on ")
                .map(str::to_owned)
        })
        .expect("serve started");
    Client::new(&base).get("/healthz").assert_status(200);
    (child, base)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn create(service: &Latchkey, owner: &latchkey::service::Member, name: &str) -> String {
    new_token(service, owner, name, &["datastore:read"], 30)
        .secret
        .expose()
        .to_owned()
}

/// Tokens and `token.created` events in a database: equal in any
/// consistent copy, since each token and its event commit together.
fn tokens_and_creations(url: &str) -> (i64, i64, Latchkey) {
    let service = Latchkey::open(
        &DbUrl::parse(url).expect("url"),
        2,
        Clock::default(),
        TokenFormat::default(),
    )
    .expect("open");
    let tokens = token_total(&service);
    let admin = service
        .members()
        .list(service.default_org().expect("org"))
        .expect("members")
        .into_iter()
        .find(|m| m.role == Role::Admin)
        .expect("an admin");
    let mut created = 0;
    let mut before = None;
    loop {
        let events = service
            .audit()
            .export_page(
                &admin,
                &latchkey::service::AuditQuery {
                    action: Some("token.created".into()),
                    actor: None,
                    page: 1,
                },
                before,
                500,
            )
            .expect("audit");
        created += events.len() as i64;
        match events.last() {
            Some(e) => before = Some(e.id),
            None => break,
        }
    }
    (tokens, created, service)
}

fn backup_taken_during_writes_restores_and_serves(db: &TestDb) {
    match db.backend {
        Backend::Sqlite => sqlite_round_trip(db),
        Backend::Postgres => postgres_round_trip(db),
    }
}

fn sqlite_round_trip(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let owner = app
        .service
        .members()
        .by_email(&Email::parse("dev@example.com").expect("email"))
        .expect("member");
    let early: Vec<String> = (0..5)
        .map(|n| create(&app.service, &owner, &format!("early {n}")))
        .collect();

    // A writer keeps creating tokens while the backup is taken.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (service, owner, writing) = (app.service.clone(), owner.clone(), writing.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while writing.load(Ordering::Relaxed) && Instant::now() < deadline {
                // Created and revoked: two writes a turn, under the
                // per-member cap of active tokens.
                let token = new_token(
                    &service,
                    &owner,
                    &format!("load {n}"),
                    &["datastore:read"],
                    30,
                );
                service
                    .tokens()
                    .revoke(&Actor::cli(), token.token.id)
                    .expect("revoke");
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let dir = db.dir().expect("dir");
    let copy = dir.join("copy.db");
    let copy_arg = copy.to_str().expect("path");
    let said = db.cli(&["backup", copy_arg]).ok();
    assert!(
        said.starts_with(&format!(
            "Backed up {}",
            db.sqlite_path().expect("path").display()
        )),
        "{said}"
    );
    std::thread::sleep(Duration::from_millis(200));
    writing.store(false, Ordering::Relaxed);
    let written_under_load = writer.join().expect("writer");
    assert!(written_under_load > 0, "no writes during the backup");
    let (final_tokens, _, _) = tokens_and_creations(&db.url);

    // Refusals change nothing.
    db.cli(&["backup", copy_arg])
        .fails(1, "already exists; give a new file name");
    let junk = dir.join("junk.db");
    std::fs::write(&junk, "not a database at all, just some text in a file").expect("junk");
    let elsewhere = TestDb::sqlite();
    let junk_arg = junk.to_str().expect("path");
    elsewhere
        .cli(&["restore", junk_arg])
        .fails(1, "is not a SQLite database");
    elsewhere
        .cli(&["restore", dir.join("missing.db").to_str().expect("path")])
        .fails(1, "does not exist or is not a file");
    elsewhere
        .cli(&["backup", dir.join("other.db").to_str().expect("path")])
        .fails(1, "does not exist");

    // Restore into a new place: consistent, and it serves the early tokens.
    let restored = elsewhere;
    let said = restored.cli(&["restore", copy_arg]).ok();
    assert!(said.contains("Restored"), "{said}");
    let (tokens, creations, _) = tokens_and_creations(&restored.url);
    assert_eq!(
        tokens, creations,
        "a token without its audit event, or the reverse"
    );
    assert!(
        tokens >= 5 && tokens <= final_tokens,
        "{tokens} of {final_tokens}"
    );
    let (server, base) = serve(&restored.url);
    let api = Client::new(&base);
    for secret in &early {
        api.api("GET", "/api/v1/me", Some(secret))
            .assert_status(200);
    }
    // In use: refused, and the served database is untouched.
    restored
        .cli(&["restore", copy_arg])
        .fails(1, "is in use by a running `latchkey serve`");
    api.api("GET", "/api/v1/me", Some(&early[0]))
        .assert_status(200);
    stop(server);
    // Stopped: allowed, and the replaced database is kept.
    let said = restored.cli(&["restore", copy_arg]).ok();
    assert!(
        said.contains("The database it replaced is kept as"),
        "{said}"
    );
    let kept = std::fs::read_dir(restored.dir().expect("dir"))
        .expect("dir")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".before-restore-"));
    assert!(kept);
}

fn postgres_round_trip(db: &TestDb) {
    db.cli(&["backup", "/tmp/latchkey-never-written.db"]).fails(
        1,
        "backup works on SQLite databases; for PostgreSQL use pg_dump and pg_restore",
    );
    db.cli(&["restore", "/tmp/latchkey-never-written.db"])
        .fails(
            1,
            "restore works on SQLite databases; for PostgreSQL use pg_dump and pg_restore",
        );
    assert!(!Path::new("/tmp/latchkey-never-written.db").exists());

    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    let secret = app.create_token("dev@example.com", "deploy", &["datastore:read"], 30);
    let (tokens, _, _) = tokens_and_creations(&db.url);
    // As docs/backup.md writes it.
    let dump = std::env::temp_dir().join(format!("latchkey-{}.dump", std::process::id()));
    let status = Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&db.url)
        .status()
        .expect("pg_dump runs");
    assert!(status.success());
    let target = TestDb::postgres().expect("a second database");
    let status = Command::new("pg_restore")
        .args(["--no-owner", "--dbname", &target.url])
        .arg(&dump)
        .status()
        .expect("pg_restore runs");
    assert!(status.success());
    let _ = std::fs::remove_file(&dump);
    let (restored, creations, _) = tokens_and_creations(&target.url);
    assert_eq!((restored, creations), (tokens, tokens));
    let (server, base) = serve(&target.url);
    Client::new(&base)
        .api("GET", "/api/v1/me", Some(&secret))
        .assert_status(200);
    stop(server);
}
