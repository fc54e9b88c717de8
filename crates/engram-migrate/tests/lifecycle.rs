//! up, down, status, history, stamp and the dry runs, on both dialects.

// A case that is not listed in `cross_backend!` is never called: make that a build error.
#![deny(dead_code)]

mod common;

use common::{embedded_plus, extended_set, head, notes_table, MigrationConn};
use engram_migrate::{
    Direction, DownTarget, MigrateError, Migration, MigrationSet, MigrationState,
};
use engram_testkit::{TestConnection, TestDb};

engram_testkit::cross_backend!(
    up_to_head_then_everything_is_applied,
    up_is_idempotent,
    down_to_zero_and_up_again_gives_the_same_schema,
    up_to_a_target_and_down_by_steps,
    stamp_records_without_running,
    changed_script_is_refused,
    unknown_applied_version_is_refused,
    failing_script_rolls_back_with_its_row,
    dry_runs_list_the_sql_and_run_nothing,
    unknown_targets_are_errors,
);

fn up_to_head_then_everything_is_applied(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = MigrationSet::embedded(backend);
    let runs = conn.migrator(set).up(None).expect("up");
    let versions: Vec<u32> = runs.iter().map(|r| r.version).collect();
    let expected: Vec<u32> = set.migrations().iter().map(|m| m.version).collect();
    assert_eq!(versions, expected);
    assert!(runs.iter().all(|r| r.direction == Direction::Up));

    let status = conn.migrator(set).status().expect("status");
    assert_eq!(status.len(), set.len());
    for line in &status {
        assert_eq!(line.state, MigrationState::Applied, "{line:?}");
        assert!(line.applied_at.is_some() && line.execution_ms.is_some());
    }
    let history = conn.migrator(set).history().expect("history");
    assert_eq!(history.len(), set.len());
    for (record, migration) in history.iter().zip(set.migrations()) {
        assert_eq!(record.version, migration.version);
        assert_eq!(record.name, migration.name);
        assert_eq!(record.checksum, migration.checksum());
        assert!(record.success);
        assert!(record.execution_ms >= 0);
    }
    let tables = conn.tables();
    for table in ["memories", "memory_clusters", "engram_schema_migrations"] {
        assert!(tables.contains(table), "{table} missing from {tables:?}");
    }
}

fn up_is_idempotent(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = extended_set(backend);
    assert_eq!(conn.migrator(&set).up(None).expect("up").len(), set.len());
    let schema = conn.full_schema();
    let history = conn.migrator(&set).history().expect("history");
    for _ in 0..2 {
        assert!(conn.migrator(&set).up(None).expect("up again").is_empty());
    }
    // Another connection sees the same.
    let mut other = db.connect();
    assert!(other
        .migrator(&set)
        .up(None)
        .expect("up elsewhere")
        .is_empty());
    assert_eq!(conn.full_schema(), schema);
    assert_eq!(conn.migrator(&set).history().expect("history"), history);
}

fn down_to_zero_and_up_again_gives_the_same_schema(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = extended_set(backend);
    conn.migrator(&set).up(None).expect("up");
    let first = conn.full_schema();
    let first_logical = conn.logical_schema();
    for round in 0..2 {
        let reverted = conn.migrator(&set).down(DownTarget::To(0)).expect("down");
        let versions: Vec<u32> = reverted.iter().map(|r| r.version).collect();
        let mut expected: Vec<u32> = set.migrations().iter().map(|m| m.version).collect();
        expected.reverse();
        assert_eq!(versions, expected, "round {round}");
        assert!(reverted.iter().all(|r| r.direction == Direction::Down));
        let tables = conn.tables();
        assert_eq!(
            tables.into_iter().collect::<Vec<_>>(),
            vec!["engram_schema_migrations".to_string()],
            "round {round}: only the tracking table is left"
        );
        assert!(conn.migrator(&set).history().expect("history").is_empty());
        assert!(conn
            .migrator(&set)
            .status()
            .expect("status")
            .iter()
            .all(|s| s.state == MigrationState::Pending));
        // Nothing left to revert.
        assert!(conn
            .migrator(&set)
            .down(DownTarget::To(0))
            .expect("down")
            .is_empty());

        conn.migrator(&set).up(None).expect("up again");
        assert_eq!(conn.full_schema(), first, "round {round}");
        assert_eq!(conn.logical_schema(), first_logical, "round {round}");
    }
}

fn up_to_a_target_and_down_by_steps(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = extended_set(backend);
    let base = head(backend);
    let (notes, index) = (base + 1, base + 2);

    let runs = conn.migrator(&set).up(Some(notes)).expect("up --to");
    assert_eq!(runs.last().map(|r| r.version), Some(notes));
    let status = conn.migrator(&set).status().expect("status");
    let state = |v: u32| status.iter().find(|s| s.version == v).map(|s| s.state);
    assert_eq!(state(notes), Some(MigrationState::Applied));
    assert_eq!(state(index), Some(MigrationState::Pending));
    assert!(conn.tables().contains("notes"));

    // A target below what is applied does nothing.
    assert!(conn
        .migrator(&set)
        .up(Some(1))
        .expect("up --to 1")
        .is_empty());
    assert!(conn
        .migrator(&set)
        .up(Some(0))
        .expect("up --to 0")
        .is_empty());

    let runs = conn.migrator(&set).up(None).expect("up");
    assert_eq!(
        runs.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![index]
    );

    let reverted = conn
        .migrator(&set)
        .down(DownTarget::Steps(1))
        .expect("down 1");
    assert_eq!(
        reverted
            .iter()
            .map(|r| (r.version, r.name.as_str()))
            .collect::<Vec<_>>(),
        vec![(index, "notes_body_index")]
    );
    let reverted = conn
        .migrator(&set)
        .down(DownTarget::Steps(0))
        .expect("down 0");
    assert!(reverted.is_empty());
    let reverted = conn
        .migrator(&set)
        .down(DownTarget::To(base))
        .expect("down --to");
    assert_eq!(
        reverted.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![notes]
    );
    assert!(!conn.tables().contains("notes"));
    assert!(conn.tables().contains("memories"));

    // More steps than applied migrations reverts them all.
    let reverted = conn
        .migrator(&set)
        .down(DownTarget::Steps(100))
        .expect("down 100");
    assert_eq!(reverted.len(), usize::try_from(base).expect("small"));
    assert!(conn.migrator(&set).history().expect("history").is_empty());
}

fn stamp_records_without_running(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = extended_set(backend);
    let base = head(backend);

    let stamped = conn.migrator(&set).stamp(base + 1).expect("stamp");
    let versions: Vec<u32> = stamped.iter().map(|s| s.version).collect();
    assert_eq!(versions, (1..=base + 1).collect::<Vec<_>>());
    // Nothing ran: only the tracking table exists.
    let tables = conn.tables();
    assert!(
        !tables.contains("memories") && !tables.contains("notes"),
        "{tables:?}"
    );
    let history = conn.migrator(&set).history().expect("history");
    assert_eq!(history.len(), versions.len());
    for record in &history {
        assert!(record.success);
        assert_eq!(record.execution_ms, 0);
        assert_eq!(
            Some(record.checksum.clone()),
            set.get(record.version).map(Migration::checksum)
        );
    }
    // Stamping again records nothing new.
    assert!(conn
        .migrator(&set)
        .stamp(base)
        .expect("stamp again")
        .is_empty());

    // up runs only what was not stamped: the index on notes, which does not exist, so build
    // notes by hand first as a stamped schema would have it.
    conn.execute("CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, body TEXT NOT NULL)");
    let runs = conn.migrator(&set).up(None).expect("up");
    assert_eq!(
        runs.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![base + 2]
    );

    let err = conn.migrator(&set).stamp(99).expect_err("unknown version");
    assert!(
        matches!(err, MigrateError::UnknownVersion { version: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("0099"), "{err}");
}

fn changed_script_is_refused(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = MigrationSet::embedded(backend);
    conn.migrator(set).up(None).expect("up");

    let mut migrations = set.migrations().to_vec();
    let first = &mut migrations[0];
    first.up = format!("{}\n-- an edit after the fact\n", first.up).into();
    migrations.push(notes_table(head(backend) + 1));
    let drifted = MigrationSet::from_migrations(migrations).expect("set");

    let before = conn.full_schema();
    let err = conn.migrator(&drifted).up(None).expect_err("drift refused");
    assert!(matches!(err, MigrateError::ChecksumChanged { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("0001 initial_schema"), "{message}");
    assert!(message.contains("changed"), "{message}");
    assert!(err.is_refusal());
    let core: engram_core::Error = err.into();
    assert_eq!(core.kind(), engram_core::ErrorKind::Migration);
    assert!(core.to_string().contains(&message), "{core}");

    for result in [
        conn.migrator(&drifted).down(DownTarget::Steps(1)).map(drop),
        conn.migrator(&drifted).stamp(head(backend) + 1).map(drop),
        conn.migrator(&drifted).plan_up(None).map(drop),
        conn.migrator(&drifted)
            .plan_down(DownTarget::To(0))
            .map(drop),
    ] {
        let err = result.expect_err("refused");
        assert!(err.to_string().contains("0001 initial_schema"), "{err}");
    }
    assert_eq!(conn.full_schema(), before, "nothing ran");
    assert!(!conn.tables().contains("notes"));

    let status = conn
        .migrator(&drifted)
        .status()
        .expect("status still reports");
    assert_eq!(status[0].state, MigrationState::Changed);
    assert_eq!(
        status.last().map(|s| s.state),
        Some(MigrationState::Pending)
    );

    if let TestConnection::Postgres(client) = &mut conn {
        // The refusal released the advisory lock.
        let row = client
            .query_one(
                "SELECT pg_try_advisory_lock($1)",
                &[&engram_migrate::ADVISORY_LOCK_KEY],
            )
            .expect("try lock");
        assert!(row.get::<_, bool>(0), "the lock was left held");
        client
            .query_one(
                "SELECT pg_advisory_unlock($1)",
                &[&engram_migrate::ADVISORY_LOCK_KEY],
            )
            .expect("unlock");
    }
}

fn unknown_applied_version_is_refused(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let newer = embedded_plus(backend, vec![notes_table(head(backend) + 1)]);
    conn.migrator(&newer)
        .up(None)
        .expect("up with the newer set");

    let older = MigrationSet::embedded(backend);
    let unknown = format!("{:04} notes", head(backend) + 1);
    for result in [
        conn.migrator(older).up(None).map(drop),
        conn.migrator(older).down(DownTarget::Steps(1)).map(drop),
        conn.migrator(older).stamp(1).map(drop),
        conn.migrator(older).plan_up(None).map(drop),
    ] {
        let err = result.expect_err("unknown version refused");
        assert!(matches!(err, MigrateError::UnknownApplied { .. }), "{err}");
        assert!(err.to_string().contains(&unknown), "{err}");
    }
    let status = conn.migrator(older).status().expect("status");
    let last = status.last().expect("lines");
    assert_eq!(
        (last.version, last.name.as_str(), last.state),
        (head(backend) + 1, "notes", MigrationState::Unknown)
    );
    assert!(conn.tables().contains("notes"), "nothing was reverted");
}

fn failing_script_rolls_back_with_its_row(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let base = head(backend);
    let set = embedded_plus(
        backend,
        vec![Migration::new(
            base + 1,
            "broken",
            "CREATE TABLE half_done (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
            "DROP TABLE half_done;\n",
        )],
    );
    let err = conn.migrator(&set).up(None).expect_err("script fails");
    let message = err.to_string();
    assert!(
        matches!(err, MigrateError::ScriptFailed { version, direction: Direction::Up, .. } if version == base + 1),
        "{message}"
    );
    assert!(
        message.contains(&format!("{:04} broken", base + 1)),
        "{message}"
    );
    assert!(message.contains("no_such_table"), "{message}");
    // The earlier migrations stay applied, the broken one left nothing behind.
    let rows = conn.tracking_rows();
    assert_eq!(rows.last().map(|r| r.0), Some(base));
    assert!(!conn.tables().contains("half_done"));
    let status = conn.migrator(&set).status().expect("status");
    assert_eq!(
        status.last().map(|s| s.state),
        Some(MigrationState::Pending)
    );
}

fn dry_runs_list_the_sql_and_run_nothing(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = extended_set(backend);

    let plan = conn.migrator(&set).plan_up(None).expect("plan up");
    assert_eq!(plan.len(), set.len());
    for (step, migration) in plan.iter().zip(set.migrations()) {
        assert_eq!(step.version, migration.version);
        assert_eq!(step.name, migration.name);
        assert_eq!(step.direction, Direction::Up);
        assert_eq!(step.sql, migration.up);
        assert!(!step.no_transaction);
    }
    let partial = conn
        .migrator(&set)
        .plan_up(Some(1))
        .expect("plan up --to 1");
    assert_eq!(partial.len(), 1);
    assert!(conn
        .migrator(&set)
        .plan_down(DownTarget::To(0))
        .expect("plan down")
        .is_empty());
    // Nothing ran, and not even the tracking table was created.
    assert!(conn.tables().is_empty(), "{:?}", conn.tables());

    conn.migrator(&set).up(None).expect("up");
    let schema = conn.full_schema();
    let history = conn.migrator(&set).history().expect("history");
    let plan = conn
        .migrator(&set)
        .plan_down(DownTarget::To(0))
        .expect("plan down");
    let versions: Vec<u32> = plan.iter().map(|s| s.version).collect();
    let mut expected: Vec<u32> = set.migrations().iter().map(|m| m.version).collect();
    expected.reverse();
    assert_eq!(versions, expected);
    for step in &plan {
        assert_eq!(step.direction, Direction::Down);
        assert_eq!(
            Some(step.sql.as_str()),
            set.get(step.version).map(|m| &*m.down)
        );
    }
    let one = conn
        .migrator(&set)
        .plan_down(DownTarget::Steps(1))
        .expect("plan down 1");
    assert_eq!(
        one.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![expected[0]]
    );
    assert!(conn
        .migrator(&set)
        .plan_up(None)
        .expect("plan up")
        .is_empty());
    assert_eq!(conn.full_schema(), schema);
    assert_eq!(conn.migrator(&set).history().expect("history"), history);
}

fn unknown_targets_are_errors(db: &TestDb) {
    let backend = db.kind();
    let mut conn = db.connect();
    let set = MigrationSet::embedded(backend);
    let err = conn
        .migrator(set)
        .up(Some(4242))
        .expect_err("unknown up target");
    assert!(err.to_string().contains("4242"), "{err}");
    let err = conn
        .migrator(set)
        .down(DownTarget::To(4242))
        .expect_err("unknown down target");
    assert!(err.to_string().contains("4242"), "{err}");
    let err = conn
        .migrator(set)
        .plan_up(Some(4242))
        .expect_err("unknown plan target");
    assert!(matches!(err, MigrateError::UnknownVersion { .. }), "{err}");
    let err = conn.migrator(set).repair(1).expect_err("nothing to repair");
    assert!(
        matches!(err, MigrateError::NotFailed { applied: false, .. }),
        "{err}"
    );
    assert!(conn.tables().is_empty(), "no command created anything");
}
