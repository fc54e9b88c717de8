//! End-to-end tests of the `engram` binary: every command on SQLite and on PostgreSQL,
//! plus the cases that involve both backends or none, the vector commands, bulk jobs in
//! real processes (an import killed midway, an export while another process writes), and
//! sweeps run by several processes at once.

mod bulk;
mod cases;
mod common;
mod corners;
mod standalone;
mod sweepers;
mod vectors;

// `sqlite::CASE` and `postgres::CASE` for each case in `cases`, on a fresh database of that
// backend.
engram_testkit::cross_backend!(cases::{
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
    expiry_and_sweep,
    history,
    health,
    filter_operators,
});
