//! Migrations, the ordered sets they form, and the two sets embedded from the repository.

use std::borrow::Cow;
use std::fmt;

use engram_core::BackendKind;
use sha2::{Digest, Sha256};

use crate::error::MigrateError;

/// The first line that marks a script to run statement by statement outside a transaction.
pub const NO_TRANSACTION_MARKER: &str = "-- engram:no-transaction";

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));
}

/// Which way a migration script moves the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The `.up.sql` script.
    Up,
    /// The `.down.sql` script.
    Down,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

/// One migration: a version, a name and its two scripts.
///
/// The embedded sets borrow their scripts from the binary; tests build their own with
/// [`Migration::new`].
///
/// ```
/// use engram_migrate::Migration;
/// let m = Migration::new(2, "add_notes", "CREATE TABLE notes (id INTEGER);\n", "DROP TABLE notes;\n");
/// assert_eq!(m.file_stem(), "0002_add_notes");
/// assert!(!m.no_transaction());
/// assert_eq!(m.checksum().len(), 64);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Migration {
    /// The version, from the file name (`0001` is 1); versions are unique and never 0.
    pub version: u32,
    /// The name, from the file name (`initial_schema`).
    pub name: Cow<'static, str>,
    /// The `.up.sql` script.
    pub up: Cow<'static, str>,
    /// The `.down.sql` script.
    pub down: Cow<'static, str>,
}

impl Migration {
    /// A migration from its parts.
    pub fn new(
        version: u32,
        name: impl Into<Cow<'static, str>>,
        up: impl Into<Cow<'static, str>>,
        down: impl Into<Cow<'static, str>>,
    ) -> Self {
        Migration {
            version,
            name: name.into(),
            up: up.into(),
            down: down.into(),
        }
    }

    /// Lowercase hex SHA-256 of the up script, with CRLF line endings read as LF (so a
    /// checkout with Windows line endings has the same checksum).
    ///
    /// ```
    /// use engram_migrate::Migration;
    /// let lf = Migration::new(1, "a", "SELECT 1;\nSELECT 2;\n", "");
    /// let crlf = Migration::new(1, "a", "SELECT 1;\r\nSELECT 2;\r\n", "");
    /// assert_eq!(lf.checksum(), crlf.checksum());
    /// ```
    pub fn checksum(&self) -> String {
        checksum(&self.up)
    }

    /// Whether the up script's first line is exactly `-- engram:no-transaction` (ignoring
    /// surrounding whitespace): such a script runs statement by statement outside a
    /// transaction (for `CREATE INDEX CONCURRENTLY`).
    ///
    /// ```
    /// use engram_migrate::Migration;
    /// let m = Migration::new(3, "idx", "-- engram:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);\n", "");
    /// assert!(m.no_transaction());
    /// ```
    pub fn no_transaction(&self) -> bool {
        has_no_transaction_marker(&self.up)
    }

    /// Whether the down script starts with the `-- engram:no-transaction` line (for
    /// `DROP INDEX CONCURRENTLY`).
    pub fn down_no_transaction(&self) -> bool {
        has_no_transaction_marker(&self.down)
    }

    /// The script for `direction`.
    pub fn script(&self, direction: Direction) -> &str {
        match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }

    /// Whether the script for `direction` runs outside a transaction.
    pub fn runs_outside_transaction(&self, direction: Direction) -> bool {
        has_no_transaction_marker(self.script(direction))
    }

    /// `NNNN_name`, the common part of the file names.
    pub fn file_stem(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }
}

/// Lowercase hex SHA-256 of `script` with CRLF read as LF.
pub(crate) fn checksum(script: &str) -> String {
    let normalized = script.replace("\r\n", "\n");
    let digest = Sha256::digest(normalized.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn has_no_transaction_marker(script: &str) -> bool {
    script
        .lines()
        .next()
        .is_some_and(|line| line.trim() == NO_TRANSACTION_MARKER)
}

/// An ordered set of migrations for one backend, versions ascending and unique.
///
/// ```
/// use engram_migrate::{BackendKind, MigrationSet};
/// let set = MigrationSet::embedded(BackendKind::Sqlite);
/// assert_eq!(set.migrations()[0].version, 1);
/// assert_eq!(set.get(1).map(|m| &*m.name), Some("initial_schema"));
/// assert!(set.head().is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationSet {
    migrations: Cow<'static, [Migration]>,
}

static POSTGRES_SET: MigrationSet = MigrationSet {
    migrations: Cow::Borrowed(embedded::POSTGRES_MIGRATIONS),
};

static SQLITE_SET: MigrationSet = MigrationSet {
    migrations: Cow::Borrowed(embedded::SQLITE_MIGRATIONS),
};

impl MigrationSet {
    /// The set compiled into this binary from `migrations-pg/` or `migrations-sqlite/`.
    pub fn embedded(backend: BackendKind) -> &'static MigrationSet {
        match backend {
            BackendKind::Postgres => &POSTGRES_SET,
            BackendKind::Sqlite => &SQLITE_SET,
        }
    }

    /// The folder under the repository root that holds the migration files of `backend`,
    /// the source of [`MigrationSet::embedded`].
    ///
    /// ```
    /// use engram_migrate::{BackendKind, MigrationSet};
    /// assert_eq!(MigrationSet::folder(BackendKind::Sqlite), "migrations-sqlite");
    /// assert_eq!(MigrationSet::folder(BackendKind::Postgres), "migrations-pg");
    /// ```
    pub const fn folder(backend: BackendKind) -> &'static str {
        match backend {
            BackendKind::Postgres => "migrations-pg",
            BackendKind::Sqlite => "migrations-sqlite",
        }
    }

    /// A set from a list in any order (for tests and tools); fails on a version outside
    /// 1 to 9999 (the four digits of the file names) or on a version given twice.
    ///
    /// ```
    /// use engram_migrate::{Migration, MigrationSet};
    /// let set = MigrationSet::from_migrations(vec![
    ///     Migration::new(2, "second", "SELECT 2;", ""),
    ///     Migration::new(1, "first", "SELECT 1;", ""),
    /// ])?;
    /// assert_eq!(set.head(), Some(2));
    /// assert!(MigrationSet::from_migrations(vec![Migration::new(0, "zero", "", "")]).is_err());
    /// # Ok::<(), engram_migrate::MigrateError>(())
    /// ```
    pub fn from_migrations(mut migrations: Vec<Migration>) -> Result<MigrationSet, MigrateError> {
        migrations.sort_by_key(|m| m.version);
        for m in &migrations {
            if m.version == 0 || m.version > 9999 {
                return Err(MigrateError::InvalidSet {
                    reason: format!(
                        "migration '{}' has version {}; versions are 1 to 9999 (0 means \"nothing applied\")",
                        m.name, m.version
                    ),
                });
            }
        }
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(MigrateError::InvalidSet {
                    reason: format!(
                        "version {:04} is given twice ('{}' and '{}')",
                        pair[0].version, pair[0].name, pair[1].name
                    ),
                });
            }
        }
        Ok(MigrationSet {
            migrations: Cow::Owned(migrations),
        })
    }

    /// All migrations, versions ascending.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The migration with this version.
    pub fn get(&self, version: u32) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .and_then(|i| self.migrations.get(i))
    }

    /// The newest version, or `None` for an empty set.
    pub fn head(&self) -> Option<u32> {
        self.migrations.last().map(|m| m.version)
    }

    /// How many migrations the set holds.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether the set holds no migration.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_sha256_hex() {
        // SHA-256 of the empty string.
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(checksum("a\r\nb\r\n"), checksum("a\nb\n"));
        assert_ne!(checksum("a\nb\n"), checksum("a\nb"));
    }

    #[test]
    fn marker_must_be_the_first_line() {
        let m = Migration::new(1, "a", "  -- engram:no-transaction  \r\nSELECT 1;", "");
        assert!(m.no_transaction());
        let m = Migration::new(1, "a", "\n-- engram:no-transaction\nSELECT 1;", "");
        assert!(!m.no_transaction());
        let m = Migration::new(1, "a", "-- engram:no-transaction please\nSELECT 1;", "");
        assert!(!m.no_transaction());
    }

    #[test]
    fn duplicate_versions_are_rejected() {
        let err = MigrationSet::from_migrations(vec![
            Migration::new(1, "a", "", ""),
            Migration::new(1, "b", "", ""),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("0001"), "{err}");
    }
}
