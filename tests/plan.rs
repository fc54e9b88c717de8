//! Stored rows decode by one set of rules: the same bad row gives the same error on SQLite
//! and on PostgreSQL (PostgreSQL used to drop ill-typed list entries that SQLite reported),
//! and errors keep their source.

use std::error::Error as _;

use engram::{ClusterUpsert, ErrorKind, MemoryQuery, NewMemory, Store};

/// A migrated SQLite store in a temporary directory, and the path of its file.
fn sqlite_store() -> (Store, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).unwrap();
    store.migrate().unwrap();
    (store, path, dir)
}

/// A migrated PostgreSQL store on a fresh database, and its URL.
fn postgres_store() -> (Store, String) {
    let url = engram_testkit::postgres::fresh_database_url();
    let store = Store::open(&url).unwrap();
    store.migrate().unwrap();
    (store, url)
}

/// Runs one statement on the SQLite file behind engram's back.
fn sqlite_execute(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(sql, []).unwrap();
}

/// Runs one statement on the PostgreSQL database behind engram's back.
fn postgres_execute(url: &str, sql: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.execute(sql, &[]).unwrap();
}

/// The errors that reading a memory whose `related_threads` is `["a", 5]`, and a cluster whose
/// `memory_ids` holds a string that is no UUID, give on `store`.
fn read_bad_rows(store: &Store, corrupt: impl Fn(&str)) -> Vec<engram::Error> {
    let memory = store
        .insert(NewMemory::new("u", "c").related_threads(["a"]))
        .unwrap();
    store
        .upsert_cluster(ClusterUpsert {
            user_id: "u".into(),
            topic: "t".into(),
            category: String::new(),
            memory_ids: vec![memory.id],
            summary: "s".into(),
        })
        .unwrap();
    corrupt(r#"UPDATE memories SET related_threads = '["a", 5]'"#);
    corrupt(r#"UPDATE memory_clusters SET memory_ids = '["not-a-uuid"]'"#);
    vec![
        store.get(memory.id).unwrap_err(),
        store.query(MemoryQuery::new().user("u")).unwrap_err(),
        store
            .clusters(&engram::ClusterQuery::user("u"))
            .unwrap_err(),
    ]
}

#[test]
fn the_same_bad_row_is_the_same_error_on_both_backends() {
    let (sqlite, path, _dir) = sqlite_store();
    let sqlite_errors = read_bad_rows(&sqlite, |sql| sqlite_execute(&path, sql));
    let (postgres, url) = postgres_store();
    let postgres_errors = read_bad_rows(&postgres, |sql| postgres_execute(&url, sql));
    for (on_sqlite, on_postgres) in sqlite_errors.iter().zip(&postgres_errors) {
        assert_eq!(on_sqlite.kind(), ErrorKind::Database, "{on_sqlite}");
        assert_eq!(on_sqlite.to_string(), on_postgres.to_string());
    }
    assert!(
        sqlite_errors[0].to_string().contains("related_threads"),
        "{}",
        sqlite_errors[0]
    );
    assert!(
        sqlite_errors[2].to_string().contains("memory_ids"),
        "{}",
        sqlite_errors[2]
    );
}

#[test]
fn a_missing_schema_keeps_the_driver_error_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("x.db").display())).unwrap();
    let err = store.count(MemoryQuery::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
    let source = err.source().expect("the driver's error");
    assert!(
        source.downcast_ref::<rusqlite::Error>().is_some(),
        "{source:?}"
    );

    let store = Store::open(&engram_testkit::postgres::fresh_database_url()).unwrap();
    let err = store.count(MemoryQuery::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
    assert!(err.source().and_then(|s| s.source()).is_some(), "{err:?}");
}

#[test]
fn a_migration_error_reaches_the_caller_as_the_source() {
    let (store, _path, _dir) = sqlite_store();
    let err = store
        .with_migrator(|_migrator| {
            Err::<(), _>(engram::migrate::MigrateError::LockTimeout {
                timeout: std::time::Duration::from_millis(1),
                key: 1,
            })
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Migration, "{err}");
    let migrate = err
        .source()
        .and_then(|s| s.downcast_ref::<engram::migrate::MigrateError>())
        .expect("the migration error itself");
    assert!(migrate.to_string().contains("1ms"), "{migrate}");
}
