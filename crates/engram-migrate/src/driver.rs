//! What the migrator needs from a connection or transaction, implemented once per dialect.

use engram_core::Timestamp;

use crate::error::MigrateError;
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

/// Tracking-table access and script execution on one connection or open transaction.
///
/// Implemented by [`crate::sqlite::SqliteDriver`] and [`crate::postgres::PgDriver`]; this is
/// the only SQL the migrator itself runs.
pub(crate) trait Driver {
    /// Whether the tracking table exists.
    fn table_exists(&mut self) -> Result<bool, MigrateError>;

    /// Creates the tracking table (the caller holds the migration lock or an exclusive
    /// transaction).
    fn create_table(&mut self) -> Result<(), MigrateError>;

    /// Creates the tracking table when it is missing.
    fn ensure_table(&mut self) -> Result<(), MigrateError> {
        if !self.table_exists()? {
            self.create_table()?;
        }
        Ok(())
    }

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
