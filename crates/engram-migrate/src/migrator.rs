//! The migration runner: applies, reverts, reports, stamps and repairs migrations through a
//! [`Driver`], the same way on every backend.

use std::collections::BTreeMap;
use std::time::Duration;

use engram_core::BackendKind;

use crate::driver::{exclusive, millis, Driver, Exclusive, NewRecord};
use crate::error::{ChangedMigration, MigrateError, UnknownMigration};
use crate::migration::{Direction, Migration, MigrationSet};
use crate::report::{
    AppliedRecord, DownTarget, MigrationRun, MigrationState, MigrationStatus, PlannedStep,
    StampedMigration,
};

/// How long [`Migrator`] waits for the PostgreSQL advisory lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

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
/// use engram_migrate::{BackendKind, MigrationSet, MigrationState, Migrator};
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// let set = MigrationSet::embedded(BackendKind::Sqlite);
/// let mut migrator = Migrator::sqlite(&mut conn, set);
/// assert!(!migrator.plan_up(None)?.is_empty());
/// let applied = migrator.up(None)?;
/// assert_eq!(applied.len(), set.len());
/// assert!(migrator.up(None)?.is_empty());
/// assert!(migrator.status()?.iter().all(|s| s.state == MigrationState::Applied));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Migrator<'a> {
    driver: &'a mut dyn Driver,
    set: &'a MigrationSet,
    lock_timeout: Duration,
}

impl<'a> Migrator<'a> {
    /// A migrator for a SQLite connection. When the connection has no busy timeout, the
    /// migrator sets one of 30 seconds so that concurrent migrators wait for each other.
    pub fn sqlite(connection: &'a mut rusqlite::Connection, set: &'a MigrationSet) -> Self {
        Migrator::new(connection, set)
    }

    /// A migrator for a PostgreSQL client.
    pub fn postgres(client: &'a mut postgres::Client, set: &'a MigrationSet) -> Self {
        Migrator::new(client, set)
    }

    fn new(driver: &'a mut dyn Driver, set: &'a MigrationSet) -> Self {
        Migrator {
            driver,
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

    /// Which backend the connection talks to (its name is what error messages say).
    ///
    /// ```
    /// use engram_migrate::{BackendKind, MigrationSet, Migrator};
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// let migrator = Migrator::sqlite(&mut conn, MigrationSet::embedded(BackendKind::Sqlite));
    /// assert_eq!(migrator.backend(), BackendKind::Sqlite);
    /// assert_eq!(BackendKind::Postgres.to_string(), "PostgreSQL");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backend(&self) -> BackendKind {
        self.driver.backend()
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
        let set = self.set;
        self.run_each(Direction::Up, usize::MAX, |records| {
            pending(set, records, target).first().copied()
        })
    }

    /// Reverts applied migrations newest first, running each down script and removing its
    /// tracking row in one transaction (statement by statement for a down script that starts
    /// with `-- engram:no-transaction`). Returns what ran.
    pub fn down(&mut self, target: DownTarget) -> Result<Vec<MigrationRun>, MigrateError> {
        self.check_down_target(target)?;
        let set = self.set;
        self.run_each(Direction::Down, step_limit(target), |records| {
            revertible(set, records, target).first().copied()
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
        let set = self.set;
        self.locked(|driver| {
            exclusive(driver, |db| {
                db.ensure_table()?;
                let records = db.read_records()?;
                check_state(db.backend(), set, &records)?;
                let mut stamped = Vec::new();
                for migration in pending(set, &records, version) {
                    db.insert_record(&NewRecord::of(migration, 0, true))?;
                    tracing::info!(
                        dialect = %db.backend(),
                        version = migration.version,
                        name = %migration.name,
                        "stamped migration"
                    );
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
        self.locked(|driver| {
            exclusive(driver, |db| {
                let records = db.read_records()?;
                match records.into_iter().find(|r| r.version == version) {
                    Some(record) if !record.success => {
                        db.delete_record(version)?;
                        tracing::info!(
                            dialect = %db.backend(),
                            version,
                            name = %record.name,
                            "cleared failed migration"
                        );
                        Ok(record)
                    }
                    found => Err(MigrateError::NotFailed {
                        dialect: db.backend(),
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
        check_state(self.backend(), self.set, &records)?;
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
        check_state(self.backend(), self.set, &records)?;
        Ok(revertible(self.set, &records, target)
            .into_iter()
            .take(step_limit(target))
            .map(|m| planned(m, Direction::Down))
            .collect())
    }

    /// The claim-then-run loop of `up` and `down`, under the migration lock. Each step is one
    /// exclusive transaction that (for `up`, after creating the tracking table if needed)
    /// re-reads the tracking table, refuses on a bad state, and runs the migration that
    /// `next` picks from the rows; the loop ends when `next` picks none or `limit` steps
    /// ran.
    fn run_each(
        &mut self,
        direction: Direction,
        limit: usize,
        next: impl Fn(&[AppliedRecord]) -> Option<&'a Migration>,
    ) -> Result<Vec<MigrationRun>, MigrateError> {
        let set = self.set;
        self.locked(|driver| {
            let mut runs = Vec::new();
            while runs.len() < limit {
                let mut transaction = Exclusive::begin(&mut *driver)?;
                if direction == Direction::Up {
                    transaction.ensure_table()?;
                }
                let records = transaction.read_records()?;
                check_state(transaction.backend(), set, &records)?;
                let Some(migration) = next(&records) else {
                    transaction.commit()?;
                    break;
                };
                let duration = transaction.run(migration, direction)?;
                let run = MigrationRun {
                    version: migration.version,
                    name: migration.name.to_string(),
                    direction,
                    no_transaction: migration.runs_outside_transaction(direction),
                    duration,
                };
                let action = match direction {
                    Direction::Up => "applied migration",
                    Direction::Down => "reverted migration",
                };
                tracing::info!(
                    dialect = %driver.backend(),
                    version = run.version,
                    name = %run.name,
                    ms = millis(duration),
                    "{action}"
                );
                runs.push(run);
            }
            Ok(runs)
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
            dialect: self.backend(),
            version,
            head: self.set.head(),
        }
    }

    fn read_records(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        self.driver.configure()?;
        self.driver.read_records()
    }

    /// Runs `f` holding the migration lock ([`Driver::lock`]), released afterwards, also on
    /// error.
    fn locked<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Driver) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        let driver = &mut *self.driver;
        driver.configure()?;
        driver.lock(self.lock_timeout)?;
        let result = f(&mut *driver);
        let released = driver.unlock();
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
}

impl std::fmt::Debug for Migrator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("backend", &self.backend())
            .field("migrations", &self.set.len())
            .field("lock_timeout", &self.lock_timeout)
            .finish()
    }
}

/// Refuses when a row failed midway, an applied version is unknown to `set`, or an applied
/// script changed, in that order.
fn check_state(
    backend: BackendKind,
    set: &MigrationSet,
    records: &[AppliedRecord],
) -> Result<(), MigrateError> {
    if let Some(failed) = records.iter().find(|r| !r.success) {
        return Err(MigrateError::FailedMigration {
            dialect: backend,
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
            dialect: backend,
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
            dialect: backend,
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
/// [`step_limit`] says how many to take).
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

/// How many migrations `target` reverts at most.
fn step_limit(target: DownTarget) -> usize {
    match target {
        DownTarget::Steps(n) => usize::try_from(n).unwrap_or(usize::MAX),
        DownTarget::To(_) => usize::MAX,
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
