//! `-- engram:no-transaction` scripts: statement by statement, a failed row that blocks every
//! later command until `repair`, on both dialects.

// A case that is not listed in `cross_backend!` is never called: make that a build error.
#![deny(dead_code)]

mod common;

use common::{embedded_plus, head, MigrationConn};
use engram_migrate::{BackendKind, DownTarget, MigrateError, Migration, MigrationState};
use engram_testkit::TestDb;

engram_testkit::cross_backend!(
    failed_no_transaction_migration_blocks_until_repaired,
    no_transaction_migration_applies_and_reverts,
);

/// `CREATE INDEX CONCURRENTLY` on PostgreSQL, a plain index on SQLite.
fn concurrently(backend: BackendKind) -> &'static str {
    match backend {
        BackendKind::Postgres => "CONCURRENTLY ",
        BackendKind::Sqlite => "",
    }
}

fn script(backend: BackendKind, index_table: &str) -> String {
    format!(
        "-- engram:no-transaction\n\
         -- Builds notes and an index on it without blocking writers.\n\
         CREATE TABLE IF NOT EXISTS notes (id INTEGER NOT NULL PRIMARY KEY, body TEXT NOT NULL);\n\
         INSERT INTO notes (id, body) VALUES (1, 'a; b'), (2, $$c;d$$) ON CONFLICT DO NOTHING;\n\
         CREATE INDEX {}notes_body_idx ON {index_table} (body);\n",
        concurrently(backend)
    )
    .replace(
        "$$c;d$$",
        if backend == BackendKind::Postgres {
            "$$c;d$$"
        } else {
            "'c;d'"
        },
    )
}

fn down_script(backend: BackendKind) -> String {
    format!(
        "-- engram:no-transaction\nDROP INDEX {}notes_body_idx;\nDROP TABLE notes;\n",
        concurrently(backend)
    )
}

fn failed_no_transaction_migration_blocks_until_repaired(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let version = head(backend) + 1;
    let broken = embedded_plus(
        backend,
        vec![Migration::new(
            version,
            "notes_concurrently",
            script(backend, "missing_table"),
            down_script(backend),
        )],
    );
    assert!(broken.get(version).is_some_and(Migration::no_transaction));

    let err = conn
        .migrator(&broken)
        .up(None)
        .expect_err("third statement fails");
    let message = err.to_string();
    assert!(
        matches!(
            err,
            MigrateError::ScriptFailed {
                statement: Some(3),
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("missing_table"), "{message}");

    // The first statements stayed applied; the row says the migration failed.
    assert!(conn.tables().contains("notes"));
    let rows = conn.tracking_rows();
    assert_eq!(rows.last(), Some(&(version, false, 1)));
    let status = conn
        .migrator(&broken)
        .status()
        .expect("status still reports");
    assert_eq!(status.last().map(|s| s.state), Some(MigrationState::Failed));
    let history = conn.migrator(&broken).history().expect("history");
    assert_eq!(
        history.last().map(|r| (r.version, r.success)),
        Some((version, false))
    );

    let repair_hint = format!("engram migrate repair {version:04}");
    let fixed = embedded_plus(
        backend,
        vec![Migration::new(
            version,
            "notes_concurrently",
            script(backend, "notes"),
            down_script(backend),
        )],
    );
    for set in [&broken, &fixed] {
        for result in [
            conn.migrator(set).up(None).map(drop),
            conn.migrator(set).down(DownTarget::Steps(1)).map(drop),
            conn.migrator(set).stamp(version).map(drop),
            conn.migrator(set).plan_up(None).map(drop),
            conn.migrator(set).plan_down(DownTarget::To(0)).map(drop),
        ] {
            let err = result.expect_err("refused while a migration is failed");
            assert!(matches!(err, MigrateError::FailedMigration { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("migrate repair"), "{text}");
            assert!(text.contains(&repair_hint), "{text}");
            assert!(
                text.contains(&format!("{version:04} notes_concurrently failed midway")),
                "{text}"
            );
        }
    }

    // Only the failed version can be repaired.
    let err = conn
        .migrator(&fixed)
        .repair(1)
        .expect_err("1 has not failed");
    assert!(
        matches!(err, MigrateError::NotFailed { applied: true, .. }),
        "{err}"
    );
    let cleared = conn.migrator(&fixed).repair(version).expect("repair");
    assert_eq!((cleared.version, cleared.success), (version, false));
    let status = conn.migrator(&fixed).status().expect("status");
    assert_eq!(
        status.last().map(|s| s.state),
        Some(MigrationState::Pending)
    );

    // The fixed script is written to be re-runnable, so up now completes it.
    let runs = conn.migrator(&fixed).up(None).expect("up after repair");
    assert_eq!(runs.len(), 1);
    assert!(runs[0].no_transaction);
    assert_eq!(conn.tracking_rows().last(), Some(&(version, true, 1)));
    assert!(conn
        .migrator(&fixed)
        .status()
        .expect("status")
        .iter()
        .all(|s| s.state == MigrationState::Applied));
    let err = conn
        .migrator(&fixed)
        .repair(version)
        .expect_err("nothing to repair");
    assert!(err.to_string().contains("not recorded as failed"), "{err}");
}

fn no_transaction_migration_applies_and_reverts(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let version = head(backend) + 1;
    let set = embedded_plus(
        backend,
        vec![Migration::new(
            version,
            "notes_concurrently",
            script(backend, "notes"),
            down_script(backend),
        )],
    );
    let plan = conn.migrator(&set).plan_up(None).expect("plan");
    assert_eq!(plan.last().map(|s| s.no_transaction), Some(true));
    conn.migrator(&set).up(None).expect("up");
    assert!(conn.tables().contains("notes"));
    let history = conn.migrator(&set).history().expect("history");
    assert!(history.iter().all(|r| r.success));

    let reverted = conn
        .migrator(&set)
        .down(DownTarget::Steps(1))
        .expect("down");
    assert_eq!(reverted.len(), 1);
    assert!(reverted[0].no_transaction);
    assert!(!conn.tables().contains("notes"));
    assert_eq!(
        conn.tracking_rows().last().map(|r| r.0),
        Some(head(backend))
    );
}
