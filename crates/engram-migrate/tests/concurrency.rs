//! Several migrators at once on one fresh database, and the PostgreSQL lock timeout.

// A case that is not listed in `cross_backend!` is never called: make that a build error.
#![deny(dead_code)]

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{extended_set, MigrationConn};
use engram_migrate::{BackendKind, MigrateError, MigrationState, ADVISORY_LOCK_KEY};
use engram_testkit::{TestConnection, TestDb};

engram_testkit::cross_backend!(four_migrators_at_once_apply_each_migration_once);

const MIGRATORS: usize = 4;

/// Three rounds, each on a fresh database of the backend of `given` (the threads share
/// each one through an `Arc`).
fn four_migrators_at_once_apply_each_migration_once(given: &TestDb) {
    let backend = given.kind();
    for _round in 0..3 {
        let db = Arc::new(TestDb::new(backend));
        let set = Arc::new(extended_set(backend));
        let barrier = Arc::new(Barrier::new(MIGRATORS));
        let workers: Vec<_> = (0..MIGRATORS)
            .map(|_| {
                let (db, set, barrier) = (Arc::clone(&db), Arc::clone(&set), Arc::clone(&barrier));
                thread::spawn(move || {
                    let mut conn = db.connect();
                    if let TestConnection::Sqlite(sqlite) = &conn {
                        // Leave the busy timeout to the migrator.
                        sqlite.busy_timeout(Duration::ZERO).expect("busy timeout");
                    }
                    barrier.wait();
                    conn.migrator(&set).up(None)
                })
            })
            .collect();
        let mut applied = Vec::new();
        for worker in workers {
            let runs = worker
                .join()
                .expect("thread")
                .expect("every migrator succeeds");
            applied.extend(runs.into_iter().map(|r| r.version));
        }
        applied.sort_unstable();
        let expected: Vec<u32> = set.migrations().iter().map(|m| m.version).collect();
        assert_eq!(
            applied, expected,
            "each migration applied by exactly one migrator"
        );

        let mut conn = db.connect();
        let rows = conn.tracking_rows();
        assert_eq!(
            rows,
            expected.iter().map(|&v| (v, true, 1)).collect::<Vec<_>>(),
            "one successful row per version"
        );
        assert!(conn
            .migrator(&set)
            .status()
            .expect("status")
            .iter()
            .all(|s| s.state == MigrationState::Applied));
    }
}

#[test]
fn postgres_lock_timeout_is_bounded_and_clear() {
    let db = TestDb::postgres();
    let set = extended_set(BackendKind::Postgres);
    let TestConnection::Postgres(mut holder) = db.connect() else {
        unreachable!("a PostgreSQL database")
    };
    holder
        .query_one("SELECT pg_advisory_lock($1)", &[&ADVISORY_LOCK_KEY])
        .expect("take the lock");

    let mut conn = db.connect();
    let started = Instant::now();
    let err = conn
        .migrator(&set)
        .with_lock_timeout(Duration::from_millis(300))
        .up(None)
        .expect_err("the lock is held elsewhere");
    let waited = started.elapsed();
    assert!(matches!(err, MigrateError::LockTimeout { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("300ms"), "{message}");
    assert!(message.contains("migration lock"), "{message}");
    assert!(
        waited >= Duration::from_millis(300),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    let core: engram_core::Error = err.into();
    assert!(core.to_string().contains("300ms"), "{core}");

    // Reading state needs no lock, and the waiting created nothing.
    let status = conn.migrator(&set).status().expect("status");
    assert!(status.iter().all(|s| s.state == MigrationState::Pending));
    assert!(conn.tables().is_empty(), "{:?}", conn.tables());
    let err = conn
        .migrator(&set)
        .with_lock_timeout(Duration::from_millis(100))
        .stamp(1)
        .expect_err("stamp waits for the lock too");
    assert!(matches!(err, MigrateError::LockTimeout { .. }), "{err}");

    // A migrator that is waiting gets the lock once it is released.
    let waiter = {
        let db_url_conn = db.connect();
        let set = set.clone();
        thread::spawn(move || {
            let mut conn = db_url_conn;
            conn.migrator(&set)
                .with_lock_timeout(Duration::from_secs(30))
                .up(None)
        })
    };
    thread::sleep(Duration::from_millis(300));
    holder
        .query_one("SELECT pg_advisory_unlock($1)", &[&ADVISORY_LOCK_KEY])
        .expect("release the lock");
    let runs = waiter
        .join()
        .expect("thread")
        .expect("up after the lock is free");
    assert_eq!(runs.len(), set.len());
    // And it released the lock afterwards.
    let row = holder
        .query_one("SELECT pg_try_advisory_lock($1)", &[&ADVISORY_LOCK_KEY])
        .expect("try lock");
    assert!(row.get::<_, bool>(0));
}
