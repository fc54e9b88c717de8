//! `new_migration`: the four files, the next version across both folders, name checks.

use std::fs;
use std::path::Path;

use engram_migrate::{new_migration, BackendKind, MigrateError, MigrationSet};

/// A temporary root holding copies of the repository's migration folders.
fn copy_of_the_folders() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for dialect in BackendKind::ALL {
        let target = root.path().join(MigrationSet::folder(dialect));
        fs::create_dir(&target).expect("folder");
        for entry in fs::read_dir(repo.join(MigrationSet::folder(dialect))).expect("read folder") {
            let entry = entry.expect("entry");
            fs::copy(entry.path(), target.join(entry.file_name())).expect("copy");
        }
    }
    root
}

#[test]
fn creates_four_files_with_the_next_version() {
    let root = copy_of_the_folders();
    let head = MigrationSet::embedded(BackendKind::Postgres)
        .head()
        .expect("embedded");
    let created = new_migration(root.path(), "add_notes").expect("new");
    let version = head + 1;
    assert_eq!(created.version, version);
    assert_eq!(created.name, "add_notes");
    let stem = format!("{version:04}_add_notes");
    let expected = [
        root.path()
            .join("migrations-pg")
            .join(format!("{stem}.up.sql")),
        root.path()
            .join("migrations-pg")
            .join(format!("{stem}.down.sql")),
        root.path()
            .join("migrations-sqlite")
            .join(format!("{stem}.up.sql")),
        root.path()
            .join("migrations-sqlite")
            .join(format!("{stem}.down.sql")),
    ];
    assert_eq!(created.paths, expected);
    for (path, dialect) in expected
        .iter()
        .zip(["PostgreSQL", "PostgreSQL", "SQLite", "SQLite"])
    {
        let text = fs::read_to_string(path).expect("created file");
        assert!(
            text.starts_with(&format!("-- engram {version:04}")),
            "{text}"
        );
        assert!(text.contains(dialect), "{text}");
        // A header only: no statement, and not the no-transaction marker.
        assert!(engram_migrate::split_statements(&text).is_empty(), "{text}");
        assert!(!text.starts_with("-- engram:no-transaction"));
    }

    // The next one counts on from there.
    let again = new_migration(root.path(), "add_notes").expect("second");
    assert_eq!(again.version, version + 1);
}

#[test]
fn next_version_is_the_highest_in_either_folder() {
    let root = copy_of_the_folders();
    fs::write(
        root.path().join("migrations-sqlite/0041_only_here.up.sql"),
        "",
    )
    .expect("write");
    fs::write(root.path().join("migrations-pg/0007_other.down.sql"), "").expect("write");
    fs::write(root.path().join("migrations-pg/README.md"), "notes").expect("write");
    let created = new_migration(root.path(), "next").expect("new");
    assert_eq!(created.version, 42);
}

#[test]
fn bad_names_and_missing_folders_are_refused() {
    let root = copy_of_the_folders();
    for bad in [
        "",
        "AddNotes",
        "add-notes",
        "add notes",
        "../escape",
        "notes.sql",
    ] {
        let err = new_migration(root.path(), bad).expect_err(bad);
        assert!(
            matches!(err, MigrateError::InvalidName { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("invalid migration name"), "{err}");
    }
    let empty = tempfile::tempdir().expect("temp dir");
    let err = new_migration(empty.path(), "add_notes").expect_err("no folders");
    assert!(matches!(err, MigrateError::Io { .. }), "{err}");
    assert!(err.to_string().contains("migrations-pg"), "{err}");
    // Nothing was created anywhere.
    assert_eq!(fs::read_dir(empty.path()).expect("read").count(), 0);
}

#[test]
fn existing_files_are_not_overwritten() {
    let root = copy_of_the_folders();
    let head = MigrationSet::embedded(BackendKind::Sqlite)
        .head()
        .expect("embedded");
    let created = new_migration(root.path(), "first").expect("new");
    let before = fs::read_to_string(&created.paths[0]).expect("read");
    fs::write(&created.paths[0], "-- edited by hand\n").expect("edit");
    // The same name again gets a new version: the edited file is untouched.
    let second = new_migration(root.path(), "first").expect("new");
    assert_eq!(second.version, head + 2);
    assert_eq!(
        fs::read_to_string(&created.paths[0]).expect("read"),
        "-- edited by hand\n"
    );
    assert_ne!(before, "-- edited by hand\n");
}
