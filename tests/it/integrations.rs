//! The Python and Node examples of docs/integrations.md, run against a
//! real Latchkey: what they answer for a valid token, a missing scope, a
//! revoked and a malformed token, and with Latchkey down. Both backends.

use crate::helpers::{TestDb, in_days, spawn_app};
use latchkey::domain::Role;
use std::io::Write;
use std::process::{Command, Stdio};

both_backends!(the_python_and_node_examples_answer_as_latchkey_does);

/// The interpreter, or `None` (and a loud line) when it is missing and
/// not required; `LATCHKEY_REQUIRE_EXAMPLES=1` (CI) makes it a failure.
fn interpreter(program: &str, probe: &[&str]) -> Option<&'static str> {
    let found = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(Box::leak(program.to_owned().into_boxed_str()));
    }
    if std::env::var("LATCHKEY_REQUIRE_EXAMPLES").is_ok_and(|v| v == "1") {
        panic!("{program} is required for the docs/integrations.md examples");
    }
    eprintln!("*** NOT RUN (no {program}): docs/examples with {program}");
    None
}

fn run(program: &str, script: &str, url: &str, service: &str, tokens: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(script);
    let mut child = Command::new(program)
        .arg(path)
        .arg("reports:read")
        .env("LATCHKEY_URL", url)
        .env("LATCHKEY_SERVICE_TOKEN", service)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    if let Some(mut stdin) = child.stdin.take() {
        for t in tokens {
            writeln!(stdin, "{t}").expect("write a token");
        }
    }
    let out = child.wait_with_output().expect("the example ends");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn the_python_and_node_examples_answer_as_latchkey_does(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    db.cli(&[
        "service-account",
        "add",
        "--name",
        "reports-api",
        "--role",
        "admin",
    ])
    .ok();
    let service = db
        .cli(&[
            "token",
            "create",
            "--service-account",
            "reports-api",
            "--name",
            "introspection",
            "--expires-on",
            &in_days(30),
            "--scope",
            "tokens:introspect",
        ])
        .ok()
        .trim()
        .to_owned();
    let reader = app.create_token("dev@example.com", "reader", &["reports:read"], 30);
    let writer = app.create_token("dev@example.com", "writer", &["datastore:write"], 30);
    let revoked = app.create_token("dev@example.com", "revoked", &["reports:read"], 30);
    db.cli(&["token", "revoke", &app.token_id("revoked").to_string()])
        .ok();
    let tokens = [
        reader.as_str(),
        writer.as_str(),
        revoked.as_str(),
        "lk_garbage",
    ];
    let expected = "200 dev@example.com\n403 dev@example.com\n401 -\n401 -\n";
    for (program, probe, script) in [
        ("python3", ["-c", "import requests"], "introspect.py"),
        ("node", ["-e", "fetch"], "introspect.mjs"),
    ] {
        let Some(program) = interpreter(program, &probe) else {
            continue;
        };
        assert_eq!(
            run(program, script, &app.base, &service, &tokens),
            expected,
            "{script}"
        );
        // Latchkey down: fail closed.
        assert_eq!(
            run(program, script, "http://127.0.0.1:9", &service, &[&reader]),
            "503 -\n",
            "{script}"
        );
        // A service token that is not one: fail closed too.
        assert_eq!(
            run(program, script, &app.base, "lk_wrong", &[&reader]),
            "503 -\n",
            "{script}"
        );
    }
}
