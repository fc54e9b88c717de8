//! The cross-backend harness on itself: what a case's fresh [`TestDb`] is, on each backend.

// A case that is not listed in `cross_backend!` is never called: make that a build error.
#![deny(dead_code)]

use std::collections::BTreeSet;

use engram_testkit::{BackendKind, TestDb};

engram_testkit::cross_backend!(
    fresh_database_is_empty_and_usable,
    every_test_db_is_its_own_database,
);

fn fresh_database_is_empty_and_usable(db: &TestDb) {
    let scheme = match db.kind() {
        BackendKind::Sqlite => "sqlite://",
        BackendKind::Postgres => "postgres://",
    };
    assert!(db.dsn().starts_with(scheme), "{}", db.dsn());
    assert!(db.dir().is_dir());
    assert_eq!(db.sqlite_file().is_some(), db.kind() == BackendKind::Sqlite);
    assert!(!db.has_table("notes"));
    if let Some(file) = db.sqlite_file() {
        assert!(!file.exists(), "has_table does not create the SQLite file");
    }
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    assert!(db.has_table("notes"));
    assert_eq!(db.connect().tables(), BTreeSet::from(["notes".to_string()]));
}

fn every_test_db_is_its_own_database(db: &TestDb) {
    let other = TestDb::new(db.kind());
    assert_ne!(other.dsn(), db.dsn());
    assert_ne!(other.dir(), db.dir());
    other.execute("CREATE TABLE only_here (x INTEGER)");
    assert!(other.has_table("only_here"));
    assert!(!db.has_table("only_here"));
}

#[test]
fn dropping_a_test_db_removes_its_directory() {
    let dir = {
        let db = TestDb::sqlite();
        db.execute("CREATE TABLE t (x INTEGER)");
        assert!(db.sqlite_file().is_some_and(|file| file.exists()));
        db.dir().to_path_buf()
    };
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
