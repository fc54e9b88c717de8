//! The structured results of migrator operations: runs, statuses, history rows and plans.

use std::fmt;
use std::time::Duration;

use engram_core::Timestamp;

use crate::migration::Direction;

/// How far [`Migrator::down`](crate::Migrator::down) goes.
///
/// ```
/// use engram_migrate::DownTarget;
/// assert_eq!(DownTarget::To(0).to_string(), "to 0000");
/// assert_eq!(DownTarget::Steps(2).to_string(), "2 steps");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownTarget {
    /// Revert this many of the newest applied migrations (fewer if fewer are applied).
    Steps(u32),
    /// Revert every applied migration newer than this version; `To(0)` reverts everything.
    To(u32),
}

impl fmt::Display for DownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownTarget::Steps(1) => f.write_str("1 step"),
            DownTarget::Steps(n) => write!(f, "{n} steps"),
            DownTarget::To(v) => write!(f, "to {v:04}"),
        }
    }
}

/// One script the migrator ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationRun {
    /// The migration's version.
    pub version: u32,
    /// The migration's name.
    pub name: String,
    /// Which script ran.
    pub direction: Direction,
    /// Whether it ran statement by statement outside a transaction.
    pub no_transaction: bool,
    /// How long the script took (the tracking row stores it in whole milliseconds).
    pub duration: Duration,
}

/// A migration recorded as applied by [`Migrator::stamp`](crate::Migrator::stamp) without
/// running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampedMigration {
    /// The migration's version.
    pub version: u32,
    /// The migration's name.
    pub name: String,
}

/// One row of the tracking table `engram_schema_migrations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedRecord {
    /// The migration's version.
    pub version: u32,
    /// The migration's name when it was applied.
    pub name: String,
    /// The checksum of the up script it was applied from.
    pub checksum: String,
    /// When it was applied (for a failed row: when it started).
    pub applied_at: Timestamp,
    /// How long its script took, in milliseconds (0 for a stamped or failed row).
    pub execution_ms: i64,
    /// `false` when a `-- engram:no-transaction` script failed midway (or is still running).
    pub success: bool,
}

/// The state of one migration version in [`Migrator::status`](crate::Migrator::status).
///
/// ```
/// use engram_migrate::MigrationState;
/// assert_eq!(MigrationState::Changed.to_string(), "changed");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MigrationState {
    /// Applied from the same up script this binary has.
    Applied,
    /// In this binary, not applied yet.
    Pending,
    /// Applied, but this binary's up script has a different checksum.
    Changed,
    /// Recorded with `success = false`: a no-transaction script failed midway.
    Failed,
    /// Applied, but this binary does not have it.
    Unknown,
}

impl fmt::Display for MigrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::Changed => "changed",
            MigrationState::Failed => "failed",
            MigrationState::Unknown => "unknown",
        })
    }
}

/// One line of [`Migrator::status`](crate::Migrator::status): a version this binary knows or
/// the database has recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The version.
    pub version: u32,
    /// The name (from this binary when it knows the version, else from the database).
    pub name: String,
    /// Where the version stands.
    pub state: MigrationState,
    /// When it was applied (`None` when pending).
    pub applied_at: Option<Timestamp>,
    /// How long it took, in milliseconds (`None` when pending).
    pub execution_ms: Option<i64>,
}

/// One script a dry run ([`Migrator::plan_up`](crate::Migrator::plan_up),
/// [`Migrator::plan_down`](crate::Migrator::plan_down)) says would run, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    /// The migration's version.
    pub version: u32,
    /// The migration's name.
    pub name: String,
    /// Which script would run.
    pub direction: Direction,
    /// Whether it would run statement by statement outside a transaction.
    pub no_transaction: bool,
    /// The script's SQL.
    pub sql: String,
}
