//! The PostgreSQL and SQLite migration folders build the same logical schema, read back from
//! the live catalogs.

mod common;

use common::MigrationConn;
use engram_migrate::{BackendKind, MigrationSet};
use engram_testkit::TestDb;

/// The tables of SQLite's containment index, which PostgreSQL's GIN indexes stand for.
const SQLITE_INDEX_TABLES: [&str; 3] = [
    "memory_index_refs",
    "memory_index_postings",
    "memory_index_queue",
];

#[test]
fn both_folders_build_the_same_logical_schema() {
    // PostgreSQL's embeddings table needs pgvector; without it the schemas cannot match.
    engram_testkit::postgres::require_pgvector();
    let mut schemas = Vec::new();
    for backend in BackendKind::ALL {
        let db = TestDb::new(backend);
        let mut conn = db.connect();
        conn.migrator(MigrationSet::embedded(backend))
            .up(None)
            .expect("up");
        schemas.push((backend, conn.logical_schema()));
    }
    let sqlite = &mut schemas[1].1;
    // SQLite's containment index (0003) is its counterpart of PostgreSQL's GIN indexes,
    // which the comparison leaves aside as well.
    for table in SQLITE_INDEX_TABLES {
        assert!(
            sqlite.remove(table).is_some(),
            "{table} on SQLite (migration 0003)"
        );
    }
    let (pg, sqlite) = (&schemas[0].1, &schemas[1].1);

    // The comparison is only meaningful if it sees the real schema.
    let memories = pg.get("memories").expect("memories on PostgreSQL");
    assert_eq!(memories.primary_key, vec!["id".to_string()]);
    assert!(memories.columns.contains(&("thread_id".to_string(), true)));
    assert!(memories.columns.contains(&("user_id".to_string(), false)));
    // 0002 appends id to the user indexes.
    assert!(memories.indexes.contains(&vec![
        "user_id".to_string(),
        "thread_id".to_string(),
        "id".to_string()
    ]));
    let embeddings = pg
        .get("memory_embeddings")
        .expect("memory_embeddings on PostgreSQL (the test server has pgvector)");
    assert_eq!(embeddings.primary_key, vec!["memory_id".to_string()]);
    let clusters = pg
        .get("memory_clusters")
        .expect("memory_clusters on PostgreSQL");
    assert!(clusters.unique.contains(&vec![
        "user_id".to_string(),
        "topic".to_string(),
        "category".to_string()
    ]));

    let pg_tables: Vec<&String> = pg.keys().collect();
    let sqlite_tables: Vec<&String> = sqlite.keys().collect();
    assert_eq!(pg_tables, sqlite_tables, "the same tables");
    for (table, pg_table) in pg {
        let sqlite_table = &sqlite[table];
        assert_eq!(
            pg_table.columns, sqlite_table.columns,
            "{table}: columns and nullability"
        );
        assert_eq!(
            pg_table.primary_key, sqlite_table.primary_key,
            "{table}: primary key"
        );
        assert_eq!(
            pg_table.unique, sqlite_table.unique,
            "{table}: unique column sets"
        );
        assert_eq!(
            pg_table.indexes, sqlite_table.indexes,
            "{table}: indexed column lists (PostgreSQL GIN indexes aside)"
        );
    }
}
