//! End-to-end tests of the `engram` binary: every command on SQLite and on PostgreSQL,
//! plus the cases that involve both backends or none.

mod cases;
mod common;
mod corners;
mod standalone;

/// Generates `mod sqlite { #[test] fn case() }` and `mod postgres { … }`, each running the
/// case of the same name in `cases` on a fresh database of that backend.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    crate::cases::$case(&crate::common::TestDb::new(crate::common::Kind::Sqlite));
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    crate::cases::$case(&crate::common::TestDb::new(crate::common::Kind::Postgres));
                }
            )*
        }
    };
}

both_backends!(
    put_get_delete,
    query_filters,
    query_formats,
    stats,
    policies,
    migrate_lifecycle,
    dry_run,
    stamp,
    new_migration,
    failed_migration_and_repair,
    drift,
    unknown_version,
    concurrent_init_db,
    errors_and_exit_codes,
    import_export,
    import_malformed,
    export_paging,
    quiet_when_piped,
    demo,
);
