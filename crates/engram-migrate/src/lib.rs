//! engram-migrate: the migration runner for engram's PostgreSQL and SQLite schemas.
//!
//! The migration files live in the repository's `migrations-pg/` and `migrations-sqlite/`
//! folders (`NNNN_name.up.sql` / `NNNN_name.down.sql`, the same versions and names in both)
//! and are embedded at compile time: [`MigrationSet::embedded`] reads nothing from disk.
//!
//! A [`Migrator`] runs a set on one connection and returns structured results:
//! [`up`](Migrator::up), [`down`](Migrator::down), [`status`](Migrator::status),
//! [`history`](Migrator::history), [`stamp`](Migrator::stamp), [`repair`](Migrator::repair)
//! and the dry runs [`plan_up`](Migrator::plan_up) / [`plan_down`](Migrator::plan_down).
//! [`new_migration`] creates the four files of a new migration.
//!
//! Applied migrations are tracked in `engram_schema_migrations(version, name, checksum,
//! applied_at, execution_ms, success)`; the checksum is the SHA-256 of the up script with
//! CRLF read as LF.
//!
//! ```
//! use engram_migrate::{BackendKind, DownTarget, MigrationSet, Migrator};
//! let mut conn = rusqlite::Connection::open_in_memory()?;
//! let set = MigrationSet::embedded(BackendKind::Sqlite);
//! let mut migrator = Migrator::sqlite(&mut conn, set);
//! migrator.up(None)?;
//! let reverted = migrator.down(DownTarget::To(0))?;
//! assert_eq!(reverted[0].version, set.head().unwrap_or(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod driver;
mod error;
mod migration;
mod migrator;
mod postgres;
mod report;
mod scaffold;
mod split;
mod sqlite;

pub use driver::TRACKING_TABLE;
/// Which backend a migration set, a migrator or an error is about (re-exported from
/// engram-core).
pub use engram_core::BackendKind;
pub use error::{ChangedMigration, MigrateError, UnknownMigration};
pub use migration::{Direction, Migration, MigrationSet, NO_TRANSACTION_MARKER};
pub use migrator::{Migrator, DEFAULT_LOCK_TIMEOUT};
pub use postgres::ADVISORY_LOCK_KEY;
pub use report::{
    AppliedRecord, DownTarget, MigrationRun, MigrationState, MigrationStatus, PlannedStep,
    StampedMigration,
};
pub use scaffold::{new_migration, CreatedMigration};
pub use split::split_statements;
