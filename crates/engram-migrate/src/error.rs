//! The errors of the migration runner, each naming the versions, backend or file involved.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use engram_core::BackendKind;

use crate::migration::Direction;

/// An applied migration whose up script no longer matches the one it was applied from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangedMigration {
    /// The version.
    pub version: u32,
    /// The name in this binary.
    pub name: String,
    /// The checksum recorded when it was applied.
    pub applied_checksum: String,
    /// The checksum of the script in this binary.
    pub current_checksum: String,
}

/// A migration recorded in the database that this binary does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMigration {
    /// The version.
    pub version: u32,
    /// The name recorded in the database.
    pub name: String,
}

/// Everything that can go wrong while planning or running migrations.
///
/// ```
/// use engram_migrate::{BackendKind, MigrateError};
/// let err = MigrateError::FailedMigration {
///     dialect: BackendKind::Postgres,
///     version: 2,
///     name: "add_index".into(),
/// };
/// assert_eq!(
///     err.to_string(),
///     "migration 0002 add_index failed midway; fix the database by hand, then run \
///      `engram migrate repair 0002`"
/// );
/// let core: engram_core::Error = err.into();
/// assert_eq!(core.kind(), engram_core::ErrorKind::Migration);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The database reported an error outside a migration script (reading or writing the
    /// tracking table, taking the lock, opening a transaction).
    #[error("{dialect} error while {context}: {message}")]
    Database {
        /// Which database.
        dialect: BackendKind,
        /// What the migrator was doing.
        context: String,
        /// The driver's message.
        message: String,
    },
    /// A migration script failed; its transaction was rolled back (for a
    /// `-- engram:no-transaction` script, the statements before `statement` stay applied and
    /// the migration is recorded as failed).
    #[error(
        "migration {version:04} {name} ({direction}) failed on {dialect}{}: {message}",
        StatementSuffix(*statement)
    )]
    ScriptFailed {
        /// Which database.
        dialect: BackendKind,
        /// The migration's version.
        version: u32,
        /// The migration's name.
        name: String,
        /// Which script.
        direction: Direction,
        /// For a script run statement by statement, the 1-based number of the statement
        /// that failed.
        statement: Option<usize>,
        /// The database's message.
        message: String,
    },
    /// Applied migrations whose scripts changed since they were applied.
    #[error(
        "refusing to run: {} on {dialect} changed since {} applied: {}; restore the original \
         {} and put the change in a new migration",
        plural(migrations.len(), "applied migration", "applied migrations"),
        plural(migrations.len(), "it was", "they were"),
        ChangedList(migrations),
        plural(migrations.len(), "script", "scripts")
    )]
    ChecksumChanged {
        /// Which database.
        dialect: BackendKind,
        /// The changed migrations, versions ascending.
        migrations: Vec<ChangedMigration>,
    },
    /// The database has applied migrations that this binary does not know.
    #[error(
        "refusing to run: the {dialect} database has {} that this binary does not know: {}; \
         use the engram build that applied {}",
        plural(migrations.len(), "an applied migration", "applied migrations"),
        UnknownList(migrations),
        plural(migrations.len(), "it", "them")
    )]
    UnknownApplied {
        /// Which database.
        dialect: BackendKind,
        /// The unknown migrations, versions ascending.
        migrations: Vec<UnknownMigration>,
    },
    /// A `-- engram:no-transaction` migration failed midway and is recorded as failed.
    #[error(
        "migration {version:04} {name} failed midway; fix the database by hand, then run \
         `engram migrate repair {version:04}`"
    )]
    FailedMigration {
        /// Which database.
        dialect: BackendKind,
        /// The failed migration's version.
        version: u32,
        /// The failed migration's name.
        name: String,
    },
    /// A version given by the caller is not in the migration set.
    #[error("there is no {dialect} migration {version:04}{}", HeadSuffix(*head))]
    UnknownVersion {
        /// Which database.
        dialect: BackendKind,
        /// The version asked for.
        version: u32,
        /// The newest version the set has.
        head: Option<u32>,
    },
    /// `repair` was asked for a version that is not recorded as failed.
    #[error(
        "migration {version:04} is not recorded as failed on {dialect} ({}); there is nothing \
         to repair",
        if *applied { "it is applied" } else { "it is not applied" }
    )]
    NotFailed {
        /// Which database.
        dialect: BackendKind,
        /// The version asked for.
        version: u32,
        /// Whether the version is recorded as successfully applied.
        applied: bool,
    },
    /// Another migrator held the PostgreSQL advisory lock for longer than the lock timeout.
    #[error(
        "timed out after {timeout:?} waiting for the migration lock (PostgreSQL advisory lock \
         {key}); another migrator is running, or a session still holds the lock"
    )]
    LockTimeout {
        /// How long the migrator waited.
        timeout: Duration,
        /// The advisory lock key.
        key: i64,
    },
    /// A migration set given to [`MigrationSet::from_migrations`](crate::MigrationSet::from_migrations)
    /// is not valid.
    #[error("invalid migration set: {reason}")]
    InvalidSet {
        /// What is wrong.
        reason: String,
    },
    /// A row of `engram_schema_migrations` holds a value the migrator cannot read.
    #[error("invalid row in the {dialect} table engram_schema_migrations: {detail}")]
    InvalidRecord {
        /// Which database.
        dialect: BackendKind,
        /// What is wrong.
        detail: String,
    },
    /// The name given for a new migration is not valid.
    #[error("invalid migration name '{name}': {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A file that [`new_migration`](crate::new_migration) would create already exists.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    FileExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading a migration folder or writing a new migration file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read the folder`, `create`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl From<MigrateError> for engram_core::Error {
    /// A database error outside a migration script stays a database error (with the
    /// driver's message as its source); every other error becomes
    /// [`engram_core::Error::Migration`] with the `MigrateError` itself as its source, so that
    /// callers can downcast it.
    fn from(err: MigrateError) -> Self {
        match err {
            MigrateError::Database {
                dialect,
                context,
                message,
            } => engram_core::Error::database(dialect, context, engram_core::Message(message)),
            other => engram_core::Error::migration(other),
        }
    }
}

impl MigrateError {
    /// Whether this error is a refusal to run because of the database's migration state
    /// (changed, unknown or failed migrations), as opposed to a failure while running.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            MigrateError::ChecksumChanged { .. }
                | MigrateError::UnknownApplied { .. }
                | MigrateError::FailedMigration { .. }
        )
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

struct StatementSuffix(Option<usize>);

impl fmt::Display for StatementSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, " at statement {n}"),
            None => Ok(()),
        }
    }
}

struct HeadSuffix(Option<u32>);

impl fmt::Display for HeadSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(head) => write!(f, " (the newest is {head:04})"),
            None => f.write_str(" (this binary has no migrations)"),
        }
    }
}

struct ChangedList<'a>(&'a [ChangedMigration]);

impl fmt::Display for ChangedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{:04} {} (checksum applied {}, now {})",
                m.version,
                m.name,
                short(&m.applied_checksum),
                short(&m.current_checksum)
            )?;
        }
        Ok(())
    }
}

struct UnknownList<'a>(&'a [UnknownMigration]);

impl fmt::Display for UnknownList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{:04} {}", m.version, m.name)?;
        }
        Ok(())
    }
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_versions() {
        let err = MigrateError::ChecksumChanged {
            dialect: BackendKind::Sqlite,
            migrations: vec![ChangedMigration {
                version: 1,
                name: "initial_schema".into(),
                applied_checksum: "a".repeat(64),
                current_checksum: "b".repeat(64),
            }],
        };
        let text = err.to_string();
        assert!(text.contains("0001 initial_schema"), "{text}");
        assert!(text.contains("aaaaaaaaaaaa,"), "{text}");

        let err = MigrateError::UnknownApplied {
            dialect: BackendKind::Postgres,
            migrations: vec![
                UnknownMigration {
                    version: 2,
                    name: "x".into(),
                },
                UnknownMigration {
                    version: 3,
                    name: "y".into(),
                },
            ],
        };
        let text = err.to_string();
        assert!(text.contains("0002 x, 0003 y"), "{text}");
        assert!(text.contains("applied migrations"), "{text}");

        let err = MigrateError::LockTimeout {
            timeout: Duration::from_millis(250),
            key: 7,
        };
        assert!(err.to_string().contains("250ms"), "{err}");
    }

    #[test]
    fn database_errors_keep_their_message_in_core() {
        let err = MigrateError::Database {
            dialect: BackendKind::Sqlite,
            context: "reading engram_schema_migrations".into(),
            message: "disk I/O error".into(),
        };
        let text = err.to_string();
        let core: engram_core::Error = err.into();
        assert_eq!(core.kind(), engram_core::ErrorKind::Database);
        assert_eq!(core.to_string(), text);
    }
}
