//! `check_leases` (PostgreSQL): how an instance answers token checks from
//! memory without asking the database per request, yet refuses a token
//! revoked through any instance on the very next request.
//!
//! A serving instance keeps a row here, renewed a few times a second.
//! While the row's lease runs, the instance promises that it has re-read
//! the check epoch (`changes`) after any moment a writer names. A writer
//! that changed something a check reads announces it (`NOTIFY`) and waits
//! until every live lease has applied an epoch read after its commit, or
//! has run out. So when the writer answers its client, no instance still
//! answers from before the change. An instance whose renewals stall stops
//! using its lease before the row's lease ends, and reads the epoch per
//! batch again. (Renewals write only this unlogged table, which moves no
//! epoch: found tokens stay in memory until a real change.)
//!
//! Times are microseconds since the Unix epoch on PostgreSQL's clock, so
//! no two hosts' clocks are ever compared.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// PostgreSQL's clock now, in microseconds since the Unix epoch.
macro_rules! now_us {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
    };
}

/// `LISTEN` on the channel Latchkey's writers announce on (`announce`).
pub const LISTEN: &str = "LISTEN latchkey_checks";

/// Forgets leases of instances gone for a minute, then takes (or takes
/// again) one: `$1` the lease's id, `$2` its length (µs). The instance
/// answers nothing from memory until its first renewal, so nothing it holds
/// is stale: the lease counts as up to date from now.
pub const REGISTER: &str = concat!(
    "WITH gone AS (DELETE FROM check_leases WHERE lease_until < ",
    now_us!(),
    " - 60000000) INSERT INTO check_leases (id, lease_until, applied_at) VALUES ($1, ",
    now_us!(),
    " + $2, ",
    now_us!(),
    ") ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until, applied_at = EXCLUDED.applied_at"
);

/// Renews a lease (`$1` id, `$2` length in µs), records that the epoch
/// read at `$3` has been applied, and reads the epoch now and the
/// statement's start (µs), which precedes the read. No row: the lease was
/// forgotten; take another.
pub const RENEW: &str = concat!(
    "UPDATE check_leases SET lease_until = ",
    now_us!(),
    " + $2, applied_at = greatest(applied_at, $3) WHERE id = $1 \
     RETURNING (SELECT n FROM check_epoch), (extract(epoch FROM statement_timestamp()) * 1000000)::bigint"
);

/// Gives a lease up (an instance stopping): writers stop waiting for it.
pub const RELEASE: &str = "DELETE FROM check_leases WHERE id = $1";

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many live leases there are, and the moment `announce` names.
#[derive(QueryableByName)]
struct Announced {
    #[diesel(sql_type = BigInt)]
    at: i64,
    #[diesel(sql_type = BigInt)]
    live: i64,
}

/// Announces a change to every instance holding a lease. Returns the
/// moment, taken after every commit the caller made, that their leases
/// must have applied an epoch read after, or `None` when no lease is live.
pub fn announce(conn: &mut PgConnection) -> QueryResult<Option<i64>> {
    let announced: Announced = diesel::sql_query(concat!(
        "WITH sent AS (SELECT pg_notify('latchkey_checks', '')) SELECT ",
        now_us!(),
        " AS at, (SELECT count(*) FROM check_leases WHERE lease_until > ",
        now_us!(),
        ") AS live FROM sent"
    ))
    .get_result(conn)?;
    Ok((announced.live > 0).then_some(announced.at))
}

/// How many live leases have not yet applied an epoch read after `after`.
pub fn unsettled(conn: &mut PgConnection, after: i64) -> QueryResult<i64> {
    diesel::sql_query(concat!(
        "SELECT count(*) AS n FROM check_leases WHERE lease_until > ",
        now_us!(),
        " AND applied_at <= $1"
    ))
    .bind::<BigInt, _>(after)
    .get_result::<Number>(conn)
    .map(|row| row.n)
}

/// Tables a token check reads: a change to any of them is announced.
const CHECKED_TABLES: [&str; 4] = ["api_tokens", "members", "organisations", "scopes"];

/// Notes, on a PostgreSQL connection, each statement that may change what
/// a token check reads, so that whoever holds the connection settles
/// before answering (`Latchkey::settle_checks`, run when a service gives a
/// connection back). Writes elsewhere (sessions, audit, usage) wait for
/// no one.
#[derive(Default)]
pub struct ChangeWatch {
    changed: bool,
}

impl ChangeWatch {
    /// Whether a change was noted since the last call.
    pub fn take(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

impl diesel::connection::Instrumentation for ChangeWatch {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event
            && !self.changed
        {
            let mut start = Start::default();
            // Stops after the first bytes (an error by design).
            let _ = std::fmt::Write::write_fmt(&mut start, format_args!("{query}"));
            self.changed = changes_checks(start.text());
        }
    }
}

/// Whether a statement beginning with `sql` writes a table a check reads
/// (`INSERT INTO "t"`, `UPDATE "t"`, `DELETE FROM "t"`, as diesel writes
/// them). Some writes are not changes, and would otherwise make common
/// writes wait: a new token or member (no instance keeps a token it has not
/// found), and updates that set only columns no check reads.
fn changes_checks(sql: &str) -> bool {
    let mut words = sql.split_whitespace();
    let verb = words.next().map(str::to_ascii_uppercase);
    let table = match verb.as_deref() {
        Some("UPDATE") => words.next(),
        Some("INSERT" | "DELETE") => words.nth(1),
        _ => None,
    };
    let Some(table) = table.map(|t| t.trim_matches('"')) else {
        return false;
    };
    let new_row = verb.as_deref() == Some("INSERT") && matches!(table, "api_tokens" | "members");
    CHECKED_TABLES.contains(&table) && !new_row && !sets_only_unread_columns(sql)
}

/// Columns of the checked tables that no check reads: a token's last use
/// (read only to write it less often), a member's password and second
/// factor (sign-in reads those, never a token check).
const UNREAD_COLUMNS: [&str; 7] = [
    "last_used_at",
    "last_used_ip",
    "password_hash",
    "password_must_change",
    "totp_secret",
    "totp_pending",
    "totp_last_step",
];

/// `UPDATE "t" SET "c" = …, "d" = … WHERE`, with every column unread.
fn sets_only_unread_columns(sql: &str) -> bool {
    let Some((_, rest)) = sql.split_once(" SET ") else {
        return false;
    };
    let Some((set, _)) = rest.split_once(" WHERE ") else {
        return false;
    };
    set.split(',').all(|part| {
        let column = part
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        UNREAD_COLUMNS.contains(&column)
    })
}

/// The first bytes of a statement (diesel writes the whole statement out
/// first; only its start is kept, in place).
struct Start {
    bytes: [u8; 160],
    len: usize,
}

impl Default for Start {
    fn default() -> Start {
        Start {
            bytes: [0; 160],
            len: 0,
        }
    }
}

impl Start {
    fn text(&self) -> &str {
        // Cut at a character boundary by `write_str`.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for Start {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_checked_tables_are_noted_and_others_are_not() {
        for sql in [
            r#"UPDATE "api_tokens" SET "revoked_at" = $1 WHERE "id" = $2"#,
            r#"INSERT INTO "scopes" ("name") VALUES ($1)"#,
            r#"DELETE FROM "members" WHERE "id" = $1"#,
            r#"delete from "scopes" where "name" = $1"#,
            "UPDATE organisations SET tokens_valid_after = $1",
            r#"UPDATE "api_tokens" SET "last_used_at" = $1, "revoked_at" = $2 WHERE "id" = $3"#,
            r#"UPDATE "api_tokens" SET "last_used_at" = $1"#,
            r#"UPDATE "members" SET "password_hash" = $1, "disabled" = $2 WHERE "id" = $3"#,
        ] {
            assert!(changes_checks(sql), "{sql}");
        }
        for sql in [
            r#"SELECT "api_tokens"."id" FROM "api_tokens""#,
            r#"UPDATE "sessions" SET "seen_at" = $1"#,
            r#"INSERT INTO "audit_events" ("action") VALUES ($1)"#,
            r#"INSERT INTO "api_tokens_archive" ("id") VALUES ($1)"#,
            r#"INSERT INTO "api_tokens" ("name") VALUES ($1)"#,
            r#"INSERT INTO "members" ("email") VALUES ($1)"#,
            "SELECT id FROM organisations WHERE id = $1 FOR UPDATE",
            r#"UPDATE "api_tokens" SET "last_used_at" = $1, "last_used_ip" = $2 WHERE (("api_tokens"."id" = $3)"#,
            r#"UPDATE "members" SET "totp_last_step" = $1 WHERE "id" = $2"#,
            r#"UPDATE "members" SET "password_hash" = $1, "password_must_change" = $2 WHERE "id" = $3"#,
            "",
        ] {
            assert!(!changes_checks(sql), "{sql}");
        }
    }

    #[test]
    fn diesel_statements_read_as_expected() {
        use crate::db::schema::api_tokens as t;
        use diesel::pg::Pg;
        let at = time::PrimitiveDateTime::MIN;
        let last_use = diesel::update(t::table.find(1_i64).filter(t::last_used_at.is_null()))
            .set((t::last_used_at.eq(at), t::last_used_ip.eq("::1")));
        let last_use = diesel::debug_query::<Pg, _>(&last_use).to_string();
        assert!(!changes_checks(&last_use), "{last_use}");
        let revoke = diesel::update(t::table.find(1_i64)).set(t::revoked_at.eq(at));
        let revoke = diesel::debug_query::<Pg, _>(&revoke).to_string();
        assert!(changes_checks(&revoke), "{revoke}");
    }

    #[test]
    fn a_long_statement_is_cut_at_a_character_boundary() {
        let mut start = Start::default();
        let long = format!("UPDATE \"api_tokens\" SET name = '{}'", "é".repeat(100));
        assert!(std::fmt::Write::write_str(&mut start, &long).is_err());
        assert!(start.text().starts_with("UPDATE \"api_tokens\""));
        assert!(start.len <= 160);
    }
}
