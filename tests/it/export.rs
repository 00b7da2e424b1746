//! Audit export: CSV and JSON Lines with the audit page's filters,
//! streamed, admins only, never a secret. Both backends.

use crate::helpers::{TestDb, spawn_app};
use latchkey::db::{DbUrl, NewAuditRow, audit::insert_many as insert_audit_rows, connect};
use latchkey::domain::Role;

both_backends!(
    exports_follow_the_pages_filters,
    a_long_log_is_streamed,
    only_admins_export_and_bad_filters_are_refused,
);

fn csv_rows(body: &str) -> Vec<&str> {
    body.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect()
}

fn exports_follow_the_pages_filters(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    let ops = app.member("ops@example.com", Role::Developer);
    let secret = dev.generate_token("deploy", &["datastore:read"]);
    dev.generate_token("=HYPERLINK(\"http://x\")", &["datastore:read"]);
    ops.generate_token("backup", &["datastore:read"]);
    let admin = app.admin();
    let dev_id = app.member_id("dev@example.com").0;

    // Everything: as many rows as the page counts.
    let all = admin.get("/settings/audit.csv");
    all.assert_status(200);
    assert_eq!(all.header("content-type"), Some("text/csv; charset=utf-8"));
    let disposition = all.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"latchkey-audit-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert_eq!(all.header("cache-control"), Some("no-store"));
    assert!(
        all.body
            .starts_with("id,time,action,actor,token_id,member_id,ip,detail\r\n")
    );
    let page = admin.get("/settings/audit");
    let total = csv_rows(&all.body).len();
    page.assert_contains(&format!("{total} events"))
        .assert_contains("href=\"/settings/audit.csv\" download");
    assert!(!all.body.contains(&secret), "a secret in the export");

    // Filtered by action, and by action and member, like the page.
    let created = admin.get("/settings/audit.csv?action=token.created");
    let rows = csv_rows(&created.body);
    assert_eq!(rows.len(), 3, "{}", created.body);
    assert!(rows.iter().all(|r| r.contains(",\"token.created\",")));
    let mine = admin.get(&format!(
        "/settings/audit.csv?action=token.created&member={dev_id}"
    ));
    let rows = csv_rows(&mine.body);
    assert_eq!(rows.len(), 2, "{}", mine.body);
    assert!(rows.iter().all(|r| r.contains("\"dev@example.com\"")));
    assert!(!mine.body.contains("ops@example.com"));
    admin
        .get(&format!(
            "/settings/audit?action=token.created&member={dev_id}"
        ))
        .assert_contains(&format!(
            "href=\"/settings/audit.jsonl?action=token.created&#38;member={dev_id}\""
        ));
    // Spreadsheet formulas arrive as text.
    assert!(
        mine.body
            .contains("\"\"\"=HYPERLINK(\"\"http://x\"\")\"\" for dev@example.com"),
        "{}",
        mine.body
    );

    // JSON Lines: one object per line, newest first, same filter.
    let lines = admin.get(&format!("/settings/audit.jsonl?member={dev_id}"));
    lines.assert_status(200);
    assert_eq!(
        lines.header("content-type"),
        Some("application/jsonl; charset=utf-8")
    );
    let events: Vec<serde_json::Value> = lines
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert!(events.len() >= 2);
    assert!(events.iter().all(|e| e["actor"] == "dev@example.com"));
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(events[0]["time"].as_str().is_some_and(|t| t.ends_with('Z')));
}

fn a_long_log_is_streamed(db: &TestDb) {
    let app = spawn_app(db);
    let org = app.service.default_org().expect("org").0;
    let pool = connect(&DbUrl::parse(&db.url).expect("url"), 1, false).expect("pool");
    let mut conn = pool.get().expect("conn");
    let now = app.service.clock().now();
    let details: Vec<String> = (0..3_000).map(|n| format!("event number {n}")).collect();
    let rows: Vec<NewAuditRow<'_>> = details
        .iter()
        .map(|detail| NewAuditRow {
            org_id: org,
            actor_id: None,
            action: "member.added",
            token_id: None,
            member_id: None,
            ip: Some("192.0.2.1"),
            detail,
            created_at: now,
        })
        .collect();
    insert_audit_rows(&mut conn, &rows).expect("insert");
    let export = app.admin().get("/settings/audit.csv?action=member.added");
    export.assert_status(200);
    // Streamed: no length known in advance, sent in chunks.
    assert_eq!(export.header("content-length"), None);
    assert_eq!(export.header("transfer-encoding"), Some("chunked"));
    let rows = csv_rows(&export.body);
    // The 3,000 and the first admin's own `member.added`, oldest.
    assert_eq!(rows.len(), 3_001);
    assert!(rows[0].contains("event number 2999"));
    assert!(rows[2_999].contains("event number 0\""));
    let lines = app.admin().get("/settings/audit.jsonl?action=member.added");
    assert_eq!(lines.body.lines().count(), 3_001);
}

fn only_admins_export_and_bad_filters_are_refused(db: &TestDb) {
    let app = spawn_app(db);
    let dev = app.member("dev@example.com", Role::Developer);
    dev.get("/settings/audit.csv").assert_status(403);
    dev.get("/settings/audit.jsonl").assert_status(403);
    let anonymous = app.client().get("/settings/audit.csv");
    assert_eq!(anonymous.status, 303);
    let admin = app.admin();
    admin
        .get("/settings/audit.csv?action=token.deleted")
        .assert_status(400)
        .assert_contains("Unknown action “token.deleted”.");
    admin
        .get("/settings/audit.jsonl?member=abc")
        .assert_status(400)
        .assert_contains("Unknown member.");
}
