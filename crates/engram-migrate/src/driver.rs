//! What the migrator needs from a database, implemented once per backend (the migration
//! lock, the exclusive transaction, the tracking table, script execution), and the steps that
//! apply and revert one migration, written once on top of it.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use engram_core::{BackendKind, Timestamp};

use crate::error::MigrateError;
use crate::migration::{Direction, Migration};
use crate::report::AppliedRecord;

/// The name of the tracking table.
pub const TRACKING_TABLE: &str = "engram_schema_migrations";

/// A failed script: the 1-based statement number when it ran statement by statement, and
/// the database's message.
pub(crate) struct ScriptError {
    pub(crate) statement: Option<usize>,
    pub(crate) message: String,
}

/// A row about to be written to the tracking table.
pub(crate) struct NewRecord<'a> {
    pub(crate) version: u32,
    pub(crate) name: &'a str,
    pub(crate) checksum: String,
    pub(crate) applied_at: Timestamp,
    pub(crate) execution_ms: i64,
    pub(crate) success: bool,
}

impl<'a> NewRecord<'a> {
    /// The row of `migration`, applied now.
    pub(crate) fn of(migration: &'a Migration, execution_ms: i64, success: bool) -> Self {
        NewRecord {
            version: migration.version,
            name: &migration.name,
            checksum: migration.checksum(),
            applied_at: Timestamp::now(),
            execution_ms,
            success,
        }
    }
}

/// One database connection as the migrator uses it, implemented for `rusqlite::Connection`
/// (in [`crate::sqlite`]) and `postgres::Client` (in [`crate::postgres`]): this is the only
/// SQL the migrator itself runs, and the only place that knows which backend it talks to.
///
/// Every method runs on the one connection: inside the transaction opened by
/// [`Driver::begin`] while one is open, in autocommit mode otherwise. The provided methods
/// are the steps of a migration, the same on every backend.
pub(crate) trait Driver {
    /// Which backend this is.
    fn backend(&self) -> BackendKind;

    /// Setup before each operation (on SQLite, a busy timeout when the connection has none,
    /// so that migrators wait for each other's `BEGIN IMMEDIATE`).
    fn configure(&mut self) -> Result<(), MigrateError>;

    /// Takes the lock that keeps other migrators out between transactions, waiting at most
    /// `timeout` before failing with [`MigrateError::LockTimeout`] (PostgreSQL: a session
    /// advisory lock; SQLite has none and relies on `BEGIN IMMEDIATE` alone).
    fn lock(&mut self, timeout: Duration) -> Result<(), MigrateError>;

    /// Releases the lock taken by [`Driver::lock`].
    fn unlock(&mut self) -> Result<(), MigrateError>;

    /// Opens a transaction that keeps other migrators' transactions out until it ends
    /// (`BEGIN IMMEDIATE` on SQLite). Use [`Exclusive::begin`], which rolls back on drop.
    fn begin(&mut self) -> Result<(), MigrateError>;

    /// Commits the open transaction.
    fn commit(&mut self) -> Result<(), MigrateError>;

    /// Rolls back the open transaction.
    fn rollback(&mut self) -> Result<(), MigrateError>;

    /// Whether the tracking table exists.
    fn table_exists(&mut self) -> Result<bool, MigrateError>;

    /// Creates the tracking table (the caller holds the migration lock or an exclusive
    /// transaction).
    fn create_table(&mut self) -> Result<(), MigrateError>;

    /// Every row of the tracking table, versions ascending; empty when the table is missing
    /// (which is never created here).
    fn read_records(&mut self) -> Result<Vec<AppliedRecord>, MigrateError>;

    /// Writes one row.
    fn insert_record(&mut self, record: &NewRecord<'_>) -> Result<(), MigrateError>;

    /// Sets `success = true` and `execution_ms` on a row.
    fn mark_succeeded(&mut self, version: u32, execution_ms: i64) -> Result<(), MigrateError>;

    /// Sets `success = false` on a row.
    fn mark_failed(&mut self, version: u32) -> Result<(), MigrateError>;

    /// Deletes a row.
    fn delete_record(&mut self, version: u32) -> Result<(), MigrateError>;

    /// Runs a whole script as one batch.
    fn run_script(&mut self, sql: &str) -> Result<(), ScriptError>;

    /// Runs a script statement by statement (each in its own implicit transaction).
    fn run_statements(&mut self, sql: &str) -> Result<(), ScriptError>;

    /// Creates the tracking table when it is missing.
    fn ensure_table(&mut self) -> Result<(), MigrateError> {
        if !self.table_exists()? {
            self.create_table()?;
        }
        Ok(())
    }

    /// Inside the open transaction: runs the script of `migration` for `direction` and
    /// records the result in the same transaction (up: writes its row; down: removes it).
    /// Returns how long the script took.
    fn run_in_transaction(
        &mut self,
        migration: &Migration,
        direction: Direction,
    ) -> Result<Duration, MigrateError> {
        let started = Instant::now();
        self.run_script(migration.script(direction))
            .map_err(|e| script_failed(self.backend(), migration, direction, e))?;
        let duration = started.elapsed();
        match direction {
            Direction::Up => {
                self.insert_record(&NewRecord::of(migration, millis(duration), true))?
            }
            Direction::Down => self.delete_record(migration.version)?,
        }
        Ok(duration)
    }

    /// Inside the open transaction: claims a `-- engram:no-transaction` script before it
    /// runs, by recording its row with `success = false` (written for up, updated for down),
    /// so that a failure midway leaves the migration recorded as failed.
    fn claim(&mut self, migration: &Migration, direction: Direction) -> Result<(), MigrateError> {
        match direction {
            Direction::Up => self.insert_record(&NewRecord::of(migration, 0, false)),
            Direction::Down => self.mark_failed(migration.version),
        }
    }

    /// Outside any transaction: runs a claimed script statement by statement, then records
    /// it as done (up: its row marked successful; down: its row removed). Returns how long
    /// it took.
    fn run_claimed(
        &mut self,
        migration: &Migration,
        direction: Direction,
    ) -> Result<Duration, MigrateError> {
        let started = Instant::now();
        self.run_statements(migration.script(direction))
            .map_err(|e| script_failed(self.backend(), migration, direction, e))?;
        match direction {
            Direction::Up => self.mark_succeeded(migration.version, millis(started.elapsed()))?,
            Direction::Down => self.delete_record(migration.version)?,
        }
        Ok(started.elapsed())
    }
}

/// An open exclusive transaction ([`Driver::begin`]) that derefs to its driver; rolled back
/// when dropped before it ends.
pub(crate) struct Exclusive<'d> {
    driver: &'d mut dyn Driver,
    open: bool,
}

impl<'d> Exclusive<'d> {
    /// Opens the transaction.
    pub(crate) fn begin(driver: &'d mut dyn Driver) -> Result<Self, MigrateError> {
        driver.begin()?;
        Ok(Exclusive { driver, open: true })
    }

    /// Commits the transaction (rolled back instead when the commit fails).
    pub(crate) fn commit(mut self) -> Result<(), MigrateError> {
        self.end()
    }

    /// Runs the script of `migration` for `direction` and ends the transaction (the apply or
    /// revert step). A script in a transaction runs here with its tracking row
    /// ([`Driver::run_in_transaction`]) and both commit together; a
    /// `-- engram:no-transaction` script is claimed here ([`Driver::claim`]), the claim
    /// commits, and the script then runs on the bare connection ([`Driver::run_claimed`]).
    /// Returns how long the script took.
    pub(crate) fn run(
        mut self,
        migration: &Migration,
        direction: Direction,
    ) -> Result<Duration, MigrateError> {
        if migration.runs_outside_transaction(direction) {
            self.claim(migration, direction)?;
            self.end()?;
            self.driver.run_claimed(migration, direction)
        } else {
            let duration = self.run_in_transaction(migration, direction)?;
            self.end()?;
            Ok(duration)
        }
    }

    fn end(&mut self) -> Result<(), MigrateError> {
        self.driver.commit()?;
        self.open = false;
        Ok(())
    }
}

impl<'d> Deref for Exclusive<'d> {
    type Target = dyn Driver + 'd;

    fn deref(&self) -> &Self::Target {
        &*self.driver
    }
}

impl DerefMut for Exclusive<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.driver
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Err(e) = self.driver.rollback() {
                tracing::warn!(error = %e, "could not roll back a migration transaction");
            }
        }
    }
}

/// Runs `work` in one exclusive transaction, committed when it succeeds and rolled back when
/// it fails.
pub(crate) fn exclusive<T>(
    driver: &mut dyn Driver,
    work: impl FnOnce(&mut dyn Driver) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let mut transaction = Exclusive::begin(driver)?;
    let value = work(&mut *transaction)?;
    transaction.commit()?;
    Ok(value)
}

/// The error of a failed script.
fn script_failed(
    backend: BackendKind,
    migration: &Migration,
    direction: Direction,
    error: ScriptError,
) -> MigrateError {
    MigrateError::ScriptFailed {
        dialect: backend,
        version: migration.version,
        name: migration.name.to_string(),
        direction,
        statement: error.statement,
        message: error.message,
    }
}

/// A one-line excerpt of a statement for error messages.
pub(crate) fn excerpt(statement: &str) -> String {
    const MAX: usize = 80;
    let code: Vec<&str> = statement
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("--"))
        .collect();
    let joined = code.join(" ");
    if joined.chars().count() > MAX {
        let cut: String = joined.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

/// Milliseconds of `duration`, saturating.
pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
