//! The migration runner: applies, reverts, reports, stamps and repairs migrations on one
//! SQLite connection or PostgreSQL client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engram_core::Timestamp;
use rusqlite::TransactionBehavior;

use crate::driver::{millis, Driver, NewRecord, ScriptError};
use crate::error::{ChangedMigration, MigrateError, UnknownMigration};
use crate::migration::{Dialect, Direction, Migration, MigrationSet};
use crate::postgres::{self as pg, PgDriver};
use crate::report::{
    AppliedRecord, DownTarget, MigrationRun, MigrationState, MigrationStatus, PlannedStep,
    StampedMigration,
};
use crate::sqlite::{self, SqliteDriver};

/// How long [`Migrator`] waits for the PostgreSQL advisory lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

enum Connection<'a> {
    Sqlite(&'a mut rusqlite::Connection),
    Postgres(&'a mut postgres::Client),
}

/// Runs a [`MigrationSet`] against one database connection.
///
/// Every operation returns a structured result and prints nothing. Operations that change
/// the schema (`up`, `down`, `stamp`, `repair`) keep other migrators out: on PostgreSQL by a
/// session advisory lock ([`ADVISORY_LOCK_KEY`](crate::ADVISORY_LOCK_KEY)) taken with a
/// bounded wait ([`Migrator::with_lock_timeout`]); on SQLite by running each step in
/// `BEGIN IMMEDIATE` and re-reading the tracking table inside it. `up`, `down` and `stamp`
/// (and the dry runs) refuse to start when an applied migration changed, is unknown to this
/// set, or failed midway; `status` and `history` still report.
///
/// A `-- engram:no-transaction` script is claimed first (its row written with
/// `success = false`), then run statement by statement, then marked successful. On
/// PostgreSQL the advisory lock covers all three steps. SQLite has no session lock, so a
/// second migrator that starts while such a script is still running sees the row as failed
/// and refuses; no SQLite migration of engram's own needs this mode.
///
/// Pooled connections work through `&mut *pooled` (they deref to the driver types).
///
/// ```
/// use engram_migrate::{Dialect, MigrationSet, MigrationState, Migrator};
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// let set = MigrationSet::embedded(Dialect::Sqlite);
/// let mut migrator = Migrator::sqlite(&mut conn, set);
/// assert!(!migrator.plan_up(None)?.is_empty());
/// let applied = migrator.up(None)?;
/// assert_eq!(applied.len(), set.len());
/// assert!(migrator.up(None)?.is_empty());
/// assert!(migrator.status()?.iter().all(|s| s.state == MigrationState::Applied));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Migrator<'a> {
    connection: Connection<'a>,
    set: &'a MigrationSet,
    lock_timeout: Duration,
}

/// What one exclusive step of `up` or `down` decided.
enum Step<'m> {
    /// Nothing (more) to do.
    Done,
    /// A transactional script ran and its tracking row was written in the same transaction.
    Ran(MigrationRun),
    /// A no-transaction script was claimed (its row written with `success = false`); it runs
    /// next, outside a transaction.
    Claimed(&'m Migration),
}

impl<'a> Migrator<'a> {
    /// A migrator for a SQLite connection. When the connection has no busy timeout, the
    /// migrator sets one of 30 seconds so that concurrent migrators wait for each other.
    pub fn sqlite(connection: &'a mut rusqlite::Connection, set: &'a MigrationSet) -> Self {
        Migrator {
            connection: Connection::Sqlite(connection),
            set,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// A migrator for a PostgreSQL client.
    pub fn postgres(client: &'a mut postgres::Client, set: &'a MigrationSet) -> Self {
        Migrator {
            connection: Connection::Postgres(client),
            set,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// Sets how long to wait for the PostgreSQL advisory lock held by another migrator
    /// before failing with [`MigrateError::LockTimeout`] (default 60 s). SQLite waits
    /// according to the connection's busy timeout instead.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The lock timeout in effect.
    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// The connection's dialect.
    pub fn dialect(&self) -> Dialect {
        match self.connection {
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The migration set this migrator runs.
    pub fn set(&self) -> &'a MigrationSet {
        self.set
    }

    /// Applies the pending migrations up to `target` (default: the newest), versions
    /// ascending, each with its tracking row in one transaction (a `-- engram:no-transaction`
    /// script runs statement by statement instead). Returns what ran; empty when nothing was
    /// pending. `Some(0)` applies nothing.
    pub fn up(&mut self, target: Option<u32>) -> Result<Vec<MigrationRun>, MigrateError> {
        let target = self.up_target(target)?;
        self.prepare()?;
        let set = self.set;
        let dialect = self.dialect();
        self.locked(|migrator| {
            let mut runs = Vec::new();
            loop {
                let step = migrator.exclusive(|db| {
                    db.ensure_table()?;
                    let records = db.read_records()?;
                    check_state(dialect, set, &records)?;
                    let Some(migration) = pending(set, &records, target).first().copied() else {
                        return Ok(Step::Done);
                    };
                    if migration.no_transaction() {
                        db.insert_record(&new_record(migration, 0, false))?;
                        return Ok(Step::Claimed(migration));
                    }
                    let started = Instant::now();
                    db.run_script(&migration.up)
                        .map_err(|e| script_failed(dialect, migration, Direction::Up, e))?;
                    let duration = started.elapsed();
                    db.insert_record(&new_record(migration, millis(duration), true))?;
                    Ok(Step::Ran(run(migration, Direction::Up, duration)))
                })?;
                let run = match step {
                    Step::Done => return Ok(runs),
                    Step::Ran(run) => run,
                    Step::Claimed(migration) => {
                        let started = Instant::now();
                        migrator.autocommit(|db| {
                            db.run_statements(&migration.up)
                                .map_err(|e| script_failed(dialect, migration, Direction::Up, e))?;
                            db.mark_succeeded(migration.version, millis(started.elapsed()))
                        })?;
                        run(migration, Direction::Up, started.elapsed())
                    }
                };
                tracing::info!(
                    %dialect,
                    version = run.version,
                    name = %run.name,
                    ms = millis(run.duration),
                    "applied migration"
                );
                runs.push(run);
            }
        })
    }

    /// Reverts applied migrations newest first, running each down script and removing its
    /// tracking row in one transaction (statement by statement for a down script that starts
    /// with `-- engram:no-transaction`). Returns what ran.
    pub fn down(&mut self, target: DownTarget) -> Result<Vec<MigrationRun>, MigrateError> {
        self.check_down_target(target)?;
        self.prepare()?;
        let set = self.set;
        let dialect = self.dialect();
        self.locked(|migrator| {
            let mut runs = Vec::new();
            loop {
                if let DownTarget::Steps(n) = target {
                    if runs.len() >= usize::try_from(n).unwrap_or(usize::MAX) {
                        return Ok(runs);
                    }
                }
                let step = migrator.exclusive(|db| {
                    let records = db.read_records()?;
                    check_state(dialect, set, &records)?;
                    let Some(migration) = revertible(set, &records, target).first().copied() else {
                        return Ok(Step::Done);
                    };
                    if migration.down_no_transaction() {
                        db.mark_failed(migration.version)?;
                        return Ok(Step::Claimed(migration));
                    }
                    let started = Instant::now();
                    db.run_script(&migration.down)
                        .map_err(|e| script_failed(dialect, migration, Direction::Down, e))?;
                    db.delete_record(migration.version)?;
                    Ok(Step::Ran(run(
                        migration,
                        Direction::Down,
                        started.elapsed(),
                    )))
                })?;
                let run = match step {
                    Step::Done => return Ok(runs),
                    Step::Ran(run) => run,
                    Step::Claimed(migration) => {
                        let started = Instant::now();
                        migrator.autocommit(|db| {
                            db.run_statements(&migration.down).map_err(|e| {
                                script_failed(dialect, migration, Direction::Down, e)
                            })?;
                            db.delete_record(migration.version)
                        })?;
                        run(migration, Direction::Down, started.elapsed())
                    }
                };
                tracing::info!(
                    %dialect,
                    version = run.version,
                    name = %run.name,
                    ms = millis(run.duration),
                    "reverted migration"
                );
                runs.push(run);
            }
        })
    }

    /// Every version this set knows or the database has recorded, ascending, with its state.
    /// Never refuses and never creates the tracking table.
    pub fn status(&mut self) -> Result<Vec<MigrationStatus>, MigrateError> {
        let records = self.read_records()?;
        let set = self.set;
        let mut lines: BTreeMap<u32, MigrationStatus> = set
            .migrations()
            .iter()
            .map(|m| {
                let line = MigrationStatus {
                    version: m.version,
                    name: m.name.to_string(),
                    state: MigrationState::Pending,
                    applied_at: None,
                    execution_ms: None,
                };
                (m.version, line)
            })
            .collect();
        for record in records {
            let known = set.get(record.version);
            let state = match known {
                _ if !record.success => MigrationState::Failed,
                None => MigrationState::Unknown,
                Some(m) if m.checksum() != record.checksum => MigrationState::Changed,
                Some(_) => MigrationState::Applied,
            };
            lines.insert(
                record.version,
                MigrationStatus {
                    version: record.version,
                    name: known.map_or(record.name, |m| m.name.to_string()),
                    state,
                    applied_at: Some(record.applied_at),
                    execution_ms: Some(record.execution_ms),
                },
            );
        }
        Ok(lines.into_values().collect())
    }

    /// The rows of the tracking table, versions ascending (empty when it does not exist).
    pub fn history(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        self.read_records()
    }

    /// Records every migration up to and including `version` as applied, without running
    /// it (for a database whose schema was built another way). Returns what was recorded;
    /// fails when the set has no such version.
    pub fn stamp(&mut self, version: u32) -> Result<Vec<StampedMigration>, MigrateError> {
        if self.set.get(version).is_none() {
            return Err(self.unknown_version(version));
        }
        self.prepare()?;
        let set = self.set;
        let dialect = self.dialect();
        self.locked(|migrator| {
            migrator.exclusive(|db| {
                db.ensure_table()?;
                let records = db.read_records()?;
                check_state(dialect, set, &records)?;
                let mut stamped = Vec::new();
                for migration in pending(set, &records, version) {
                    db.insert_record(&new_record(migration, 0, true))?;
                    tracing::info!(%dialect, version = migration.version, name = %migration.name, "stamped migration");
                    stamped.push(StampedMigration {
                        version: migration.version,
                        name: migration.name.to_string(),
                    });
                }
                Ok(stamped)
            })
        })
    }

    /// Clears the failed tracking row of `version` (left by a no-transaction script that
    /// failed midway) so the migration can run again; returns the removed row. Fails when
    /// `version` is not recorded as failed.
    pub fn repair(&mut self, version: u32) -> Result<AppliedRecord, MigrateError> {
        self.prepare()?;
        let dialect = self.dialect();
        self.locked(|migrator| {
            migrator.exclusive(|db| {
                let records = db.read_records()?;
                match records.into_iter().find(|r| r.version == version) {
                    Some(record) if !record.success => {
                        db.delete_record(version)?;
                        tracing::info!(%dialect, version, name = %record.name, "cleared failed migration");
                        Ok(record)
                    }
                    found => Err(MigrateError::NotFailed {
                        dialect,
                        version,
                        applied: found.is_some(),
                    }),
                }
            })
        })
    }

    /// Dry run of [`Migrator::up`]: the scripts it would run, in order, with their SQL.
    /// Runs nothing, takes no lock and does not create the tracking table; refuses like `up`.
    pub fn plan_up(&mut self, target: Option<u32>) -> Result<Vec<PlannedStep>, MigrateError> {
        let target = self.up_target(target)?;
        let records = self.read_records()?;
        check_state(self.dialect(), self.set, &records)?;
        Ok(pending(self.set, &records, target)
            .into_iter()
            .map(|m| planned(m, Direction::Up))
            .collect())
    }

    /// Dry run of [`Migrator::down`]: the scripts it would run, in order, with their SQL.
    /// Runs nothing, takes no lock and does not create the tracking table; refuses like
    /// `down`.
    pub fn plan_down(&mut self, target: DownTarget) -> Result<Vec<PlannedStep>, MigrateError> {
        self.check_down_target(target)?;
        let records = self.read_records()?;
        check_state(self.dialect(), self.set, &records)?;
        let steps = revertible(self.set, &records, target)
            .into_iter()
            .map(|m| planned(m, Direction::Down));
        Ok(match target {
            DownTarget::Steps(n) => steps
                .take(usize::try_from(n).unwrap_or(usize::MAX))
                .collect(),
            DownTarget::To(_) => steps.collect(),
        })
    }

    /// The validated target of `up`: a version of the set, or 0 for nothing.
    fn up_target(&self, target: Option<u32>) -> Result<u32, MigrateError> {
        match target {
            None => Ok(self.set.head().unwrap_or(0)),
            Some(0) => Ok(0),
            Some(version) if self.set.get(version).is_some() => Ok(version),
            Some(version) => Err(self.unknown_version(version)),
        }
    }

    fn check_down_target(&self, target: DownTarget) -> Result<(), MigrateError> {
        match target {
            DownTarget::To(version) if version != 0 && self.set.get(version).is_none() => {
                Err(self.unknown_version(version))
            }
            _ => Ok(()),
        }
    }

    fn unknown_version(&self, version: u32) -> MigrateError {
        MigrateError::UnknownVersion {
            dialect: self.dialect(),
            version,
            head: self.set.head(),
        }
    }

    /// Per-operation setup: a busy timeout on SQLite connections that have none.
    fn prepare(&mut self) -> Result<(), MigrateError> {
        match &mut self.connection {
            Connection::Sqlite(conn) => sqlite::ensure_busy_timeout(conn),
            Connection::Postgres(_) => Ok(()),
        }
    }

    fn read_records(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        self.prepare()?;
        self.autocommit(|db| db.read_records())
    }

    /// Runs `f` holding the migration lock: the PostgreSQL advisory lock (released
    /// afterwards, also on error); nothing extra on SQLite, whose steps run in
    /// `BEGIN IMMEDIATE`.
    fn locked<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        let timeout = self.lock_timeout;
        match &mut self.connection {
            Connection::Sqlite(_) => return f(self),
            Connection::Postgres(client) => pg::acquire_lock(client, timeout)?,
        }
        let result = f(self);
        let released = match &mut self.connection {
            Connection::Postgres(client) => pg::release_lock(client),
            Connection::Sqlite(_) => Ok(()),
        };
        match (result, released) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), released) => {
                if let Err(unlock) = released {
                    tracing::warn!(error = %unlock, "could not release the migration lock");
                }
                Err(e)
            }
        }
    }

    /// Runs `f` in one transaction (`BEGIN IMMEDIATE` on SQLite), committed when `f`
    /// succeeds and rolled back when it fails.
    fn exclusive<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Driver) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        match &mut self.connection {
            Connection::Sqlite(conn) => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(|e| sqlite::error("starting a transaction (BEGIN IMMEDIATE)", &e))?;
                let value = f(&mut SqliteDriver { conn: &tx })?;
                tx.commit()
                    .map_err(|e| sqlite::error("committing a migration", &e))?;
                Ok(value)
            }
            Connection::Postgres(client) => {
                let mut tx = client
                    .transaction()
                    .map_err(|e| pg::error("starting a transaction", &e))?;
                let value = f(&mut PgDriver { client: &mut tx })?;
                tx.commit()
                    .map_err(|e| pg::error("committing a migration", &e))?;
                Ok(value)
            }
        }
    }

    /// Runs `f` on the bare connection, each statement in its own implicit transaction.
    fn autocommit<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Driver) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        match &mut self.connection {
            Connection::Sqlite(conn) => f(&mut SqliteDriver { conn }),
            Connection::Postgres(client) => f(&mut PgDriver {
                client: &mut **client,
            }),
        }
    }
}

impl std::fmt::Debug for Migrator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("dialect", &self.dialect())
            .field("migrations", &self.set.len())
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

/// Refuses when a row failed midway, an applied version is unknown to `set`, or an applied
/// script changed, in that order.
fn check_state(
    dialect: Dialect,
    set: &MigrationSet,
    records: &[AppliedRecord],
) -> Result<(), MigrateError> {
    if let Some(failed) = records.iter().find(|r| !r.success) {
        return Err(MigrateError::FailedMigration {
            dialect,
            version: failed.version,
            name: set
                .get(failed.version)
                .map_or_else(|| failed.name.clone(), |m| m.name.to_string()),
        });
    }
    let unknown: Vec<UnknownMigration> = records
        .iter()
        .filter(|r| set.get(r.version).is_none())
        .map(|r| UnknownMigration {
            version: r.version,
            name: r.name.clone(),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(MigrateError::UnknownApplied {
            dialect,
            migrations: unknown,
        });
    }
    let changed: Vec<ChangedMigration> = records
        .iter()
        .filter_map(|r| {
            let m = set.get(r.version)?;
            let current = m.checksum();
            (current != r.checksum).then(|| ChangedMigration {
                version: r.version,
                name: m.name.to_string(),
                applied_checksum: r.checksum.clone(),
                current_checksum: current,
            })
        })
        .collect();
    if !changed.is_empty() {
        return Err(MigrateError::ChecksumChanged {
            dialect,
            migrations: changed,
        });
    }
    Ok(())
}

/// The migrations of `set` up to `target` that have no row, ascending.
fn pending<'s>(
    set: &'s MigrationSet,
    records: &[AppliedRecord],
    target: u32,
) -> Vec<&'s Migration> {
    set.migrations()
        .iter()
        .take_while(|m| m.version <= target)
        .filter(|m| !records.iter().any(|r| r.version == m.version))
        .collect()
}

/// The applied migrations that `target` reverts, newest first (for `Steps`, all of them:
/// the caller takes as many as it needs).
fn revertible<'s>(
    set: &'s MigrationSet,
    records: &[AppliedRecord],
    target: DownTarget,
) -> Vec<&'s Migration> {
    let floor = match target {
        DownTarget::To(version) => version,
        DownTarget::Steps(_) => 0,
    };
    records
        .iter()
        .rev()
        .filter(|r| r.version > floor)
        .filter_map(|r| set.get(r.version))
        .collect()
}

fn new_record(migration: &Migration, execution_ms: i64, success: bool) -> NewRecord<'_> {
    NewRecord {
        version: migration.version,
        name: &migration.name,
        checksum: migration.checksum(),
        applied_at: Timestamp::now(),
        execution_ms,
        success,
    }
}

fn run(migration: &Migration, direction: Direction, duration: Duration) -> MigrationRun {
    MigrationRun {
        version: migration.version,
        name: migration.name.to_string(),
        direction,
        no_transaction: migration.runs_outside_transaction(direction),
        duration,
    }
}

fn planned(migration: &Migration, direction: Direction) -> PlannedStep {
    PlannedStep {
        version: migration.version,
        name: migration.name.to_string(),
        direction,
        no_transaction: migration.runs_outside_transaction(direction),
        sql: migration.script(direction).to_owned(),
    }
}

fn script_failed(
    dialect: Dialect,
    migration: &Migration,
    direction: Direction,
    error: ScriptError,
) -> MigrateError {
    MigrateError::ScriptFailed {
        dialect,
        version: migration.version,
        name: migration.name.to_string(),
        direction,
        statement: error.statement,
        message: error.message,
    }
}
