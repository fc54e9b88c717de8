//! Shared helpers for the migration tests: a migrator and catalog snapshots on a connection
//! to the testkit's [`TestDb`](engram_testkit::TestDb), and the migration sets the tests run.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use engram_migrate::{Migration, MigrationSet, Migrator};
use engram_testkit::{BackendKind, TestConnection};

/// What the migration tests do on a direct connection to a [`TestDb`](engram_testkit::TestDb).
pub trait MigrationConn {
    /// A migrator for `set` on this connection.
    fn migrator<'a>(&'a mut self, set: &'a MigrationSet) -> Migrator<'a>;

    /// (version, success) of every tracking row, and how many rows each version has.
    fn tracking_rows(&mut self) -> Vec<(u32, bool, i64)>;

    /// Everything the catalog says about the schema, for comparing one backend with itself.
    fn full_schema(&mut self) -> String;

    /// The logical schema, comparable across dialects.
    fn logical_schema(&mut self) -> LogicalSchema;
}

impl MigrationConn for TestConnection {
    fn migrator<'a>(&'a mut self, set: &'a MigrationSet) -> Migrator<'a> {
        match self {
            TestConnection::Sqlite(conn) => Migrator::sqlite(conn, set),
            TestConnection::Postgres(client) => Migrator::postgres(client, set),
        }
    }

    fn tracking_rows(&mut self) -> Vec<(u32, bool, i64)> {
        match self {
            TestConnection::Sqlite(conn) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT version, min(success), count(*) FROM engram_schema_migrations \
                         GROUP BY version ORDER BY version",
                    )
                    .expect("prepare");
                let rows = stmt
                    .query_map([], |row| {
                        Ok((
                            row.get::<_, u32>(0)?,
                            row.get::<_, i64>(1)? != 0,
                            row.get::<_, i64>(2)?,
                        ))
                    })
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                rows
            }
            TestConnection::Postgres(client) => client
                .query(
                    "SELECT version, bool_and(success), count(*) FROM engram_schema_migrations \
                     GROUP BY version ORDER BY version",
                    &[],
                )
                .expect("query")
                .iter()
                .map(|row| {
                    let version: i32 = row.get(0);
                    (version as u32, row.get(1), row.get(2))
                })
                .collect(),
        }
    }

    /// Everything the catalog says about the schema, for comparing one backend with itself.
    fn full_schema(&mut self) -> String {
        match self {
            TestConnection::Sqlite(conn) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master \
                         WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
                    )
                    .expect("prepare");
                let rows: Vec<(String, String, String, String)> = stmt
                    .query_map([], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                format!("{rows:#?}\n{:#?}", sqlite_logical(conn))
            }
            TestConnection::Postgres(client) => {
                let columns: Vec<(String, String, String, String, Option<String>)> = client
                    .query(
                        "SELECT table_name::text, column_name::text, data_type::text, \
                         is_nullable::text, column_default::text FROM information_schema.columns \
                         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
                        &[],
                    )
                    .expect("columns")
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                    .collect();
                let indexes: Vec<(String, String, String)> = client
                    .query(
                        "SELECT tablename::text, indexname::text, indexdef FROM pg_indexes \
                         WHERE schemaname = 'public' ORDER BY tablename, indexname",
                        &[],
                    )
                    .expect("indexes")
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect();
                let constraints: Vec<(String, String, String)> = client
                    .query(
                        "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
                         FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
                         ORDER BY 1, 2",
                        &[],
                    )
                    .expect("constraints")
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect();
                format!("{columns:#?}\n{indexes:#?}\n{constraints:#?}")
            }
        }
    }

    fn logical_schema(&mut self) -> LogicalSchema {
        match self {
            TestConnection::Sqlite(conn) => sqlite_logical(conn),
            TestConnection::Postgres(client) => pg_logical(client),
        }
    }
}

/// One table as both dialects can describe it: columns in order with their nullability,
/// the primary key, unique column sets (constraints or indexes) and the column lists of
/// plain indexes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogicalTable {
    pub columns: Vec<(String, bool)>,
    pub primary_key: Vec<String>,
    pub unique: BTreeSet<Vec<String>>,
    pub indexes: BTreeSet<Vec<String>>,
}

pub type LogicalSchema = BTreeMap<String, LogicalTable>;

fn sqlite_logical(conn: &rusqlite::Connection) -> LogicalSchema {
    let mut schema = LogicalSchema::new();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for table in tables {
        let mut logical = LogicalTable::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut stmt = conn
            .prepare("SELECT name, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid")
            .expect("table_info");
        let columns = stmt
            .query_map([&table], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        for (name, notnull, pk_position) in columns {
            if pk_position > 0 {
                pk.push((pk_position, name.clone()));
            }
            logical.columns.push((name, notnull == 0));
        }
        pk.sort();
        logical.primary_key = pk.into_iter().map(|(_, name)| name).collect();
        let mut stmt = conn
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")
            .expect("index_list");
        let indexes = stmt
            .query_map([&table], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        for (index, unique, origin) in indexes {
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                .expect("index_info");
            let columns: Vec<String> = stmt
                .query_map([&index], |row| row.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            match (origin.as_str(), unique != 0) {
                ("pk", _) => assert_eq!(columns, logical.primary_key, "{table}: {index}"),
                (_, true) => {
                    logical.unique.insert(columns);
                }
                (_, false) => {
                    logical.indexes.insert(columns);
                }
            }
        }
        schema.insert(table, logical);
    }
    schema
}

fn pg_logical(client: &mut postgres::Client) -> LogicalSchema {
    let mut schema = LogicalSchema::new();
    for row in client
        .query(
            "SELECT table_name::text, column_name::text, is_nullable = 'YES' \
             FROM information_schema.columns c \
             JOIN information_schema.tables t USING (table_schema, table_name) \
             WHERE table_schema = 'public' AND t.table_type = 'BASE TABLE' \
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .expect("columns")
    {
        schema
            .entry(row.get(0))
            .or_default()
            .columns
            .push((row.get(1), row.get(2)));
    }
    let indexes = client
        .query(
            "SELECT t.relname::text, ix.indisprimary, ix.indisunique, am.amname::text, \
                    ARRAY(SELECT a.attname::text \
                          FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                          ORDER BY k.ord) \
             FROM pg_index ix \
             JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_am am ON am.oid = i.relam \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = 'public'",
            &[],
        )
        .expect("indexes");
    for row in indexes {
        let table: String = row.get(0);
        let primary: bool = row.get(1);
        let unique: bool = row.get(2);
        let method: String = row.get(3);
        let columns: Vec<String> = row.get(4);
        let logical = schema.entry(table).or_default();
        if primary {
            logical.primary_key = columns;
        } else if unique {
            logical.unique.insert(columns);
        } else if method != "gin" {
            logical.indexes.insert(columns);
        }
    }
    schema
}

/// The embedded set plus two small migrations (a table, then an index on it) written the
/// same way in both dialects.
pub fn extended_set(backend: BackendKind) -> MigrationSet {
    let mut migrations = MigrationSet::embedded(backend).migrations().to_vec();
    let base = migrations.last().map_or(0, |m| m.version);
    migrations.push(notes_table(base + 1));
    migrations.push(Migration::new(
        base + 2,
        "notes_body_index",
        "CREATE INDEX notes_body_idx ON notes (body);\n",
        "DROP INDEX notes_body_idx;\n",
    ));
    MigrationSet::from_migrations(migrations).expect("valid set")
}

/// A migration that creates a `notes` table.
pub fn notes_table(version: u32) -> Migration {
    Migration::new(
        version,
        "notes",
        "CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, body TEXT NOT NULL);\n",
        "DROP TABLE notes;\n",
    )
}

/// The embedded set with `extra` appended.
pub fn embedded_plus(backend: BackendKind, extra: Vec<Migration>) -> MigrationSet {
    let mut migrations = MigrationSet::embedded(backend).migrations().to_vec();
    migrations.extend(extra);
    MigrationSet::from_migrations(migrations).expect("valid set")
}

/// The newest embedded version.
pub fn head(backend: BackendKind) -> u32 {
    MigrationSet::embedded(backend)
        .head()
        .expect("embedded migrations")
}
