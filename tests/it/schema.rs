//! The two migration folders describe the same schema.

use crate::helpers::TestDb;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use std::collections::BTreeSet;

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

type Columns = BTreeSet<(String, String, bool)>;

fn sqlite_columns(path: &str) -> Columns {
    let mut conn = SqliteConnection::establish(path).expect("open sqlite");
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .expect("tables");
    let mut out = Columns::new();
    for t in tables {
        let cols: Vec<SqliteColumn> = diesel::sql_query(format!("PRAGMA table_info({})", t.name))
            .load(&mut conn)
            .expect("columns");
        for c in cols {
            // SQLite reports an INTEGER PRIMARY KEY as nullable.
            out.insert((t.name.clone(), c.name, c.notnull == 1 || c.pk == 1));
        }
    }
    out
}

fn pg_columns(url: &str) -> Columns {
    let mut conn = PgConnection::establish(url).expect("open pg");
    let cols: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable::text AS is_nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .expect("columns");
    cols.into_iter()
        .map(|c| (c.table_name, c.column_name, c.is_nullable == "NO"))
        .collect()
}

#[test]
fn both_migration_folders_give_the_same_tables_and_columns() {
    let Some(pg) = TestDb::postgres() else {
        eprintln!("PostgreSQL unreachable: schema comparison NOT RUN");
        return;
    };
    let sqlite = TestDb::sqlite();
    sqlite.cli(&["migrate"]).ok();
    pg.cli(&["migrate"]).ok();
    let path = sqlite.sqlite_path().expect("path");
    let lite = sqlite_columns(&path.display().to_string());
    let postgres = pg_columns(&pg.url);
    assert!(lite.len() > 30, "expected the full schema, got {lite:?}");
    assert_eq!(lite, postgres);
}
