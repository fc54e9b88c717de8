//! Shared set-up for the cross-backend tests: a migrated store on each backend.
#![allow(dead_code)]

use engram::Store;

/// A migrated store on a new SQLite file; the directory lives as long as the guard.
pub fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dsn = format!("sqlite://{}", dir.path().join("engram.db").display());
    let store = Store::builder(&dsn)
        .pool_size(4)
        .open()
        .expect("open SQLite store");
    store.migrate().expect("migrate SQLite store");
    (store, dir)
}

/// A migrated store on a new database of the test PostgreSQL server.
pub fn postgres_store() -> Store {
    let url = engram_testkit::postgres::fresh_database_url();
    let store = Store::builder(&url)
        .pool_size(4)
        .open()
        .expect("open PostgreSQL store");
    store.migrate().expect("migrate PostgreSQL store");
    store
}

/// An unmigrated store on each backend, for tests of what happens before `migrate`.
pub fn unmigrated_sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dsn = format!("sqlite://{}", dir.path().join("engram.db").display());
    (Store::open(&dsn).expect("open SQLite store"), dir)
}

/// See [`unmigrated_sqlite_store`].
pub fn unmigrated_postgres_store() -> Store {
    Store::open(&engram_testkit::postgres::fresh_database_url()).expect("open PostgreSQL store")
}
