//! Two instances on one database share everything that matters: sessions,
//! revocations, throttling (SPEC §7; PostgreSQL is the deployment that runs
//! several, SQLite is checked too).

use crate::helpers::{
    Backend, Client, PASSWORD, TestApp, TestDb, spawn_app, spawn_app_with_metrics, spawn_second,
};
use diesel::prelude::*;
use latchkey::domain::Role;
use std::time::{Duration, Instant};

both_backends!(
    two_instances_share_sessions_revocations_and_throttling,
    a_change_made_by_another_process_is_seen_on_the_next_request,
    answers_from_memory_never_outlive_a_revoke_by_another_instance,
    under_a_lease_every_change_holds_on_the_other_instance_at_once,
    a_lease_left_by_a_stopped_instance_delays_writes_by_at_most_its_length,
    a_lost_lease_connection_never_lets_a_revoked_token_through,
    found_tokens_stay_in_memory_until_a_real_change,
    only_changes_a_check_reads_move_the_check_epoch,
);

fn two_instances_share_sessions_revocations_and_throttling(db: &TestDb) {
    let a = spawn_app(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);

    // A session made on one works on the other (the session key is shared
    // through the database).
    let on_a = a.client();
    on_a.sign_in("dev@example.com", PASSWORD);
    let on_b = on_a.at(&b.base);
    on_b.get("/settings/api-tokens").assert_status(200);
    let token = on_b.generate_token("made on b", &["datastore:read"]);

    // Both verify it; revoked through one, the other refuses it at once.
    let api_a = a.client();
    let api_b = api_a.at(&b.base);
    api_a
        .api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);
    api_b
        .api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);
    let id = a.token_id("made on b");
    let csrf = on_a.csrf();
    on_a.post(
        &format!("/settings/api-tokens/{id}/revoke"),
        &[("csrf_token", &csrf), ("confirm", "yes")],
    )
    .assert_status(303);
    api_b
        .api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);
    api_a
        .api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);

    // A second token, revoked through the API of b, refused by a.
    let second = a.create_token("dev@example.com", "second", &["tokens:revoke"], 30);
    api_a
        .api("GET", "/api/v1/me", Some(&second))
        .assert_status(200);
    let second_id = a.token_id("second");
    api_b
        .api(
            "DELETE",
            &format!("/api/v1/tokens/{second_id}"),
            Some(&second),
        )
        .assert_status(200);
    api_a
        .api("GET", "/api/v1/me", Some(&second))
        .assert_status(401);

    // Failed sign-ins count across both instances.
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.client()
            .try_sign_in("dev@example.com", "wrong password!")
            .assert_status(401);
    }
    a.client()
        .try_sign_in("dev@example.com", PASSWORD)
        .assert_status(429);
    b.client()
        .try_sign_in("dev@example.com", PASSWORD)
        .assert_status(429);
}

/// Token checks are answered from memory while the database has not
/// changed; a change made by another process (the CLI here) must still be
/// seen by the very next request.
fn a_change_made_by_another_process_is_seen_on_the_next_request(db: &TestDb) {
    let (app, _) = spawn_leased(db);
    app.add_member("dev@example.com", Role::Developer);
    let api = app.client();
    let warm = |token: &str, status: u16| {
        for _ in 0..3 {
            api.api("GET", "/api/v1/me", Some(token))
                .assert_status(status);
        }
    };
    let token = app.create_token("dev@example.com", "cached", &["datastore:read"], 30);
    warm(&token, 200);
    let id = app.token_id("cached").to_string();
    db.cli(&["token", "revoke", &id]).ok();
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);

    // A narrower role takes scopes away at once; disabling refuses all.
    let other = app.create_token(
        "dev@example.com",
        "other",
        &["datastore:read", "datastore:write"],
        30,
    );
    warm(&other, 200);
    db.cli(&[
        "user",
        "set-role",
        "--email",
        "dev@example.com",
        "--role",
        "viewer",
    ])
    .ok();
    let me = api.api("GET", "/api/v1/me", Some(&other)).json();
    assert_eq!(me["token"]["scopes"], serde_json::json!(["datastore:read"]));
    db.cli(&["user", "disable", "--email", "dev@example.com"])
        .ok();
    api.api("GET", "/api/v1/me", Some(&other))
        .assert_status(401);
}

/// How many token lookups the instance answered from memory so far.
fn lookups_from_memory(metrics: &Client) -> u64 {
    lookups(metrics, "memory")
}

/// How many token lookups the instance answered from `from` so far.
fn lookups(metrics: &Client, from: &str) -> u64 {
    let page = metrics.get("/metrics");
    page.assert_status(200);
    let prefix = format!("latchkey_token_lookups_total{{answered_from=\"{from}\"}} ");
    page.body
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.parse().ok())
        .expect("the lookups counter")
}

/// Once a token is answered from memory, a revoke committed through another
/// instance is refused on the very next request, every time (PostgreSQL:
/// each worker's own connection asks whether anything changed; SQLite: the
/// shared-memory header says so).
fn answers_from_memory_never_outlive_a_revoke_by_another_instance(db: &TestDb) {
    let a = spawn_app_with_metrics(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);
    let metrics = Client::new(a.metrics_base.as_deref().expect("metrics listener"));
    let api = a.client();
    let admin = b.admin();
    for round in 0..10 {
        let name = format!("round {round}");
        let token = a.create_token("dev@example.com", &name, &["datastore:read"], 30);
        // Until a's workers answer it from memory (their connections are
        // made on first use).
        let before = lookups_from_memory(&metrics);
        for _ in 0..200 {
            api.api("GET", "/api/v1/me", Some(&token))
                .assert_status(200);
            if lookups_from_memory(&metrics) > before + 2 {
                break;
            }
        }
        assert!(
            lookups_from_memory(&metrics) > before + 2,
            "round {round}: the token was never answered from memory"
        );
        let id = a.token_id(&name);
        let csrf = admin.csrf();
        admin
            .post(
                &format!("/settings/api-tokens/{id}/revoke"),
                &[("csrf_token", &csrf), ("confirm", "yes")],
            )
            .assert_status(303);
        api.api("GET", "/api/v1/me", Some(&token))
            .assert_status(401);
    }
}

/// The lease gauge of an instance's `/metrics`.
fn lease_held(metrics: &Client) -> bool {
    let page = metrics.get("/metrics");
    page.assert_status(200);
    page.body
        .lines()
        .find_map(|l| l.strip_prefix("latchkey_check_lease_held "))
        .expect("the lease gauge")
        == "1"
}

/// An instance with a metrics listener, once it holds its lease
/// (PostgreSQL; SQLite takes none), and a client of its metrics.
fn spawn_leased(db: &TestDb) -> (TestApp, Client) {
    let app = spawn_app_with_metrics(db);
    let metrics = Client::new(app.metrics_base.as_deref().expect("metrics listener"));
    wait_for_lease(db, &metrics);
    (app, metrics)
}

/// Waits until the instance holds its lease (PostgreSQL); SQLite never
/// takes one.
fn wait_for_lease(db: &TestDb, metrics: &Client) {
    let started = Instant::now();
    while db.backend == Backend::Postgres && !lease_held(metrics) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the lease was never held"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if db.backend == Backend::Sqlite {
        assert!(!lease_held(metrics), "SQLite takes no lease");
    }
}

fn pg(db: &TestDb) -> PgConnection {
    PgConnection::establish(&db.url).expect("connect to the test database")
}

/// While a's lease holds, a judges tokens at the leased state with no query;
/// every change made elsewhere (b's API, the service as the CLI uses it),
/// narrowing or widening, holds on a from the next request.
fn under_a_lease_every_change_holds_on_the_other_instance_at_once(db: &TestDb) {
    let (a, _) = spawn_leased(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);
    let on_a = a.client();
    let on_b = b.client();
    let worker = a.create_token("dev@example.com", "worker", &["datastore:read"], 30);
    let manager = a.create_token("dev@example.com", "manager", &["tokens:revoke"], 30);
    let id = a.token_id("worker");
    for round in 0..5 {
        on_a.api("GET", "/api/v1/me", Some(&worker))
            .assert_status(200);
        on_b.api(
            "POST",
            &format!("/api/v1/tokens/{id}/suspend"),
            Some(&manager),
        )
        .assert_status(200);
        on_a.api("GET", "/api/v1/me", Some(&worker))
            .assert_status(401);
        on_b.api(
            "POST",
            &format!("/api/v1/tokens/{id}/resume"),
            Some(&manager),
        )
        .assert_status(200);
        let me = on_a.api("GET", "/api/v1/me", Some(&worker));
        me.assert_status(200);
        assert_eq!(me.json()["token"]["name"], "worker", "round {round}");
    }
    // A scope taken from the role through the service, as the CLI does.
    let wide = a.create_token(
        "dev@example.com",
        "wide",
        &["datastore:read", "datastore:write"],
        30,
    );
    on_a.api("GET", "/api/v1/me", Some(&wide))
        .assert_status(200);
    let members = b.service.members();
    let dev = members
        .by_email(&latchkey::domain::Email::parse("dev@example.com").expect("email"))
        .expect("member");
    members
        .set_role(&latchkey::service::Actor::cli(), dev.id, Role::Viewer)
        .expect("set role");
    let me = on_a.api("GET", "/api/v1/me", Some(&wide)).json();
    assert_eq!(me["token"]["scopes"], serde_json::json!(["datastore:read"]));
}

/// An instance killed without giving its lease up leaves a row that writers
/// wait for until it runs out (one second), never longer; the change then
/// holds everywhere.
fn a_lease_left_by_a_stopped_instance_delays_writes_by_at_most_its_length(db: &TestDb) {
    let (a, _) = spawn_leased(db);
    a.add_member("dev@example.com", Role::Developer);
    let token = a.create_token("dev@example.com", "stale", &["datastore:read"], 30);
    let api = a.client();
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(200);
    // Signed in first: the stale lease runs one second from its insertion.
    let admin = a.admin();
    let csrf = admin.csrf();
    if db.backend == Backend::Postgres {
        // As a killed instance leaves it: live for one more second, and
        // behind every change.
        diesel::sql_query(
            "INSERT INTO check_leases (id, lease_until, applied_at) \
             VALUES (42, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + 1000000, 0)",
        )
        .execute(&mut pg(db))
        .expect("a stale lease");
    }
    let started = Instant::now();
    admin
        .post(
            &format!("/settings/api-tokens/{}/revoke", a.token_id("stale")),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .assert_status(303);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "the revoke took {took:?}"
    );
    if db.backend == Backend::Postgres {
        assert!(
            took >= Duration::from_millis(300),
            "the revoke did not wait: {took:?}"
        );
    }
    api.api("GET", "/api/v1/me", Some(&token))
        .assert_status(401);
}

/// Cutting the lease's connection (a's renewals fail) never lets a token
/// revoked through b through on a: a drops its lease before the database
/// lets it run out, and takes it again.
fn a_lost_lease_connection_never_lets_a_revoked_token_through(db: &TestDb) {
    let (a, metrics) = spawn_leased(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);
    let api = a.client();
    let admin = b.admin();
    for round in 0..3 {
        let name = format!("round {round}");
        let token = a.create_token("dev@example.com", &name, &["datastore:read"], 30);
        for _ in 0..3 {
            api.api("GET", "/api/v1/me", Some(&token))
                .assert_status(200);
        }
        if db.backend == Backend::Postgres {
            terminate_lease_connections(db);
        }
        let csrf = admin.csrf();
        admin
            .post(
                &format!("/settings/api-tokens/{}/revoke", a.token_id(&name)),
                &[("csrf_token", &csrf), ("confirm", "yes")],
            )
            .assert_status(303);
        api.api("GET", "/api/v1/me", Some(&token))
            .assert_status(401);
        wait_for_lease(db, &metrics);
    }
}

/// Ends every lease connection of the test database (each instance's).
fn terminate_lease_connections(db: &TestDb) {
    #[derive(QueryableByName)]
    struct Ended {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let ended: Ended = diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'latchkey check lease'",
    )
    .get_result(&mut pg(db))
    .expect("terminate");
    assert!(ended.n >= 1, "no lease connection to cut");
}

/// With two instances holding leases (renewed five times a second each), a
/// token found once is answered from memory until something it depends on
/// changes: renewals and unrelated writes (sign-ins, audit) empty nothing.
/// Entries still expire after a second.
fn found_tokens_stay_in_memory_until_a_real_change(db: &TestDb) {
    let (a, metrics) = spawn_leased(db);
    let b = spawn_second(db, &a);
    a.add_member("dev@example.com", Role::Developer);
    let token = a.create_token("dev@example.com", "steady", &["datastore:read"], 30);
    let api = a.client();
    // The first use writes its last use (a change of nothing a check reads).
    for _ in 0..3 {
        api.api("GET", "/api/v1/me", Some(&token))
            .assert_status(200);
    }
    b.admin().get("/settings/api-tokens").assert_status(200);
    let other = a.create_token("dev@example.com", "other", &["datastore:read"], 30);
    let before = lookups(&metrics, "database");
    for round in 0..100 {
        api.api("GET", "/api/v1/me", Some(&token))
            .assert_status(200);
        if round == 50 {
            // Another token's first use writes its last use meanwhile,
            // which moves no check epoch (PostgreSQL).
            let epoch = check_epoch(db);
            api.api("GET", "/api/v1/me", Some(&other))
                .assert_status(200);
            let written = Instant::now();
            while db.backend == Backend::Postgres && last_used(db, "other").is_none() {
                assert!(written.elapsed() < Duration::from_secs(5), "no last use");
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(check_epoch(db), epoch, "a last use moved the epoch");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let read = lookups(&metrics, "database") - before;
    // About two seconds: two or three expiries, the other token's read,
    // and on SQLite one more after its last use is written.
    assert!(
        read <= 5,
        "the tokens were read {read} times in two seconds"
    );
}

/// PostgreSQL's check epoch (`None` on SQLite).
fn check_epoch(db: &TestDb) -> Option<i64> {
    #[derive(QueryableByName)]
    struct Epoch {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    (db.backend == Backend::Postgres).then(|| {
        diesel::sql_query("SELECT n FROM check_epoch")
            .get_result::<Epoch>(&mut pg(db))
            .expect("the epoch")
            .n
    })
}

/// When the named token was last used, as stored (PostgreSQL).
fn last_used(db: &TestDb, name: &str) -> Option<String> {
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        at: Option<String>,
    }
    diesel::sql_query("SELECT last_used_at::text AS at FROM api_tokens WHERE name = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Used>(&mut pg(db))
        .expect("the token")
        .at
}

/// PostgreSQL: the check epoch moves with what a check reads, in the
/// same transaction, whoever writes (SQL here), and with nothing else.
fn only_changes_a_check_reads_move_the_check_epoch(db: &TestDb) {
    let app = spawn_app(db);
    app.add_member("dev@example.com", Role::Developer);
    app.create_token("dev@example.com", "watched", &["datastore:read"], 30);
    if db.backend == Backend::Sqlite {
        return; // SQLite's checks read the file's header instead.
    }
    let mut conn = pg(db);
    let mut moves = |sql: &str| {
        let before = check_epoch(db);
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
        check_epoch(db) != before
    };
    for unread in [
        "UPDATE api_tokens SET last_used_at = now(), last_used_ip = '::1'",
        "UPDATE members SET password_must_change = false, totp_last_step = 1",
        "UPDATE api_tokens SET suspended_at = now() WHERE false",
    ] {
        assert!(!moves(unread), "moved: {unread}");
    }
    for read in [
        "UPDATE api_tokens SET suspended_at = now()",
        "UPDATE members SET role = 'viewer'",
        "UPDATE organisations SET tokens_valid_after = now()",
        "UPDATE scopes SET description = description",
    ] {
        assert!(moves(read), "did not move: {read}");
    }
}
