//! Creates the four files of a new migration (up and down, for both dialects).

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::MigrateError;
use engram_core::BackendKind;

use crate::migration::MigrationSet;

/// The files [`new_migration`] created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedMigration {
    /// The new version.
    pub version: u32,
    /// The name given.
    pub name: String,
    /// The created files: PostgreSQL up and down, then SQLite up and down.
    pub paths: Vec<PathBuf>,
}

/// Creates `NNNN_name.up.sql` and `NNNN_name.down.sql` in both `root_dir/migrations-pg/` and
/// `root_dir/migrations-sqlite/`, where `NNNN` is one more than the highest version in
/// either folder. Each file starts with a header comment. `name` must be `[a-z0-9_]+`; the
/// folders must exist; no existing file is overwritten.
///
/// ```
/// let root = tempfile::tempdir()?;
/// std::fs::create_dir(root.path().join("migrations-pg"))?;
/// std::fs::create_dir(root.path().join("migrations-sqlite"))?;
/// let created = engram_migrate::new_migration(root.path(), "add_notes")?;
/// assert_eq!(created.version, 1);
/// assert!(created.paths[0].ends_with("migrations-pg/0001_add_notes.up.sql"));
/// assert!(engram_migrate::new_migration(root.path(), "Bad-Name").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn new_migration(root_dir: &Path, name: &str) -> Result<CreatedMigration, MigrateError> {
    validate_name(name)?;
    let mut highest = 0;
    for backend in BackendKind::ALL {
        highest = highest.max(highest_version(
            &root_dir.join(MigrationSet::folder(backend)),
        )?);
    }
    let version = highest + 1;
    if version > 9999 {
        return Err(MigrateError::InvalidName {
            name: name.to_owned(),
            reason: "the folders already use version 9999, the highest four digits allow".into(),
        });
    }
    let mut files = Vec::new();
    for backend in BackendKind::ALL {
        let folder = root_dir.join(MigrationSet::folder(backend));
        for up in [true, false] {
            let suffix = if up { "up" } else { "down" };
            let path = folder.join(format!("{version:04}_{name}.{suffix}.sql"));
            if path.exists() {
                return Err(MigrateError::FileExists { path });
            }
            files.push((path, header(version, name, backend, up)));
        }
    }
    let mut paths = Vec::new();
    for (path, contents) in files {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    MigrateError::FileExists { path: path.clone() }
                } else {
                    MigrateError::Io {
                        action: "create",
                        path: path.clone(),
                        source,
                    }
                }
            })?;
        file.write_all(contents.as_bytes())
            .map_err(|source| MigrateError::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
        paths.push(path);
    }
    Ok(CreatedMigration {
        version,
        name: name.to_owned(),
        paths,
    })
}

fn validate_name(name: &str) -> Result<(), MigrateError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("use only lowercase letters a-z, digits and _")
    } else if name.len() > 100 {
        Some("keep it under 100 characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MigrateError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The highest version among the migration files of `folder` (0 when there are none).
fn highest_version(folder: &Path) -> Result<u32, MigrateError> {
    let entries = fs::read_dir(folder).map_err(|source| MigrateError::Io {
        action: "read the migration folder",
        path: folder.to_owned(),
        source,
    })?;
    let mut highest = 0;
    for entry in entries {
        let entry = entry.map_err(|source| MigrateError::Io {
            action: "read the migration folder",
            path: folder.to_owned(),
            source,
        })?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let is_migration = file_name.ends_with(".sql")
            && file_name.as_bytes().get(4) == Some(&b'_')
            && file_name.bytes().take(4).all(|b| b.is_ascii_digit());
        if let Some(version) = file_name
            .get(..4)
            .filter(|_| is_migration)
            .and_then(|digits| digits.parse::<u32>().ok())
        {
            highest = highest.max(version);
        }
    }
    Ok(highest)
}

fn header(version: u32, name: &str, backend: BackendKind, up: bool) -> String {
    if up {
        format!(
            "-- engram {version:04}: {name} ({backend}).\n\
             -- Runs in one transaction with its tracking row. To run statement by statement\n\
             -- outside a transaction (CREATE INDEX CONCURRENTLY), make the first line exactly\n\
             -- `-- engram:no-transaction`. Keep the other dialect's file in step with this one.\n\n"
        )
    } else {
        format!(
            "-- engram {version:04} down: undoes everything {version:04}_{name}.up.sql does ({backend}).\n\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", "Add", "add-notes", "add notes", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name("add_notes_2").is_ok());
    }
}
