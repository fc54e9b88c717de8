//! The embedded sets: both dialects have the same versions and names, they match the
//! repository's folders, and checksums ignore line endings.

use std::fs;
use std::path::{Path, PathBuf};

use engram_migrate::{BackendKind, Migration, MigrationSet};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn both_dialects_have_the_same_versions_and_names() {
    let pg = MigrationSet::embedded(BackendKind::Postgres);
    let sqlite = MigrationSet::embedded(BackendKind::Sqlite);
    let ids = |set: &MigrationSet| {
        set.migrations()
            .iter()
            .map(|m| (m.version, m.name.to_string()))
            .collect::<Vec<_>>()
    };
    assert!(!pg.is_empty());
    assert_eq!(
        ids(pg),
        ids(sqlite),
        "migrations-pg and migrations-sqlite must hold the same versions and names"
    );
    assert_eq!(pg.head(), sqlite.head());
    for set in [pg, sqlite] {
        for m in set.migrations() {
            assert!(m.version >= 1);
            assert!(
                !m.up.trim().is_empty() && !m.down.trim().is_empty(),
                "{}",
                m.file_stem()
            );
            assert_eq!(set.get(m.version), Some(m));
        }
        assert!(set.get(0).is_none());
    }
}

#[test]
fn embedded_sets_are_the_folders_contents() {
    for dialect in BackendKind::ALL {
        let set = MigrationSet::embedded(dialect);
        let folder = repo_root().join(MigrationSet::folder(dialect));
        let mut files: Vec<String> = fs::read_dir(&folder)
            .expect("migration folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        files.sort();
        let mut expected = Vec::new();
        for m in set.migrations() {
            expected.push(format!("{}.down.sql", m.file_stem()));
            expected.push(format!("{}.up.sql", m.file_stem()));
            let up = fs::read_to_string(folder.join(format!("{}.up.sql", m.file_stem())))
                .expect("up file");
            let down = fs::read_to_string(folder.join(format!("{}.down.sql", m.file_stem())))
                .expect("down file");
            assert_eq!(m.up, up);
            assert_eq!(m.down, down);
        }
        expected.sort();
        assert_eq!(files, expected, "{dialect}");
    }
}

#[test]
fn checksum_ignores_crlf() {
    for dialect in BackendKind::ALL {
        for m in MigrationSet::embedded(dialect).migrations() {
            let crlf = Migration::new(
                m.version,
                m.name.clone(),
                m.up.replace("\r\n", "\n").replace('\n', "\r\n"),
                m.down.clone(),
            );
            assert_ne!(crlf.up, m.up);
            assert_eq!(crlf.checksum(), m.checksum());
            let checksum = m.checksum();
            assert_eq!(checksum.len(), 64);
            assert!(checksum
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }
    let edited = Migration::new(1, "a", "SELECT 1;\n", "");
    let other = Migration::new(1, "a", "SELECT 2;\n", "");
    assert_ne!(edited.checksum(), other.checksum());
    // A lone CR is not a line ending that is normalized.
    assert_ne!(
        Migration::new(1, "a", "SELECT 1;\r", "").checksum(),
        Migration::new(1, "a", "SELECT 1;\n", "").checksum()
    );
}
