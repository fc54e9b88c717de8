//! The migrator's SQL for SQLite: the tracking table, script execution and the
//! `BEGIN IMMEDIATE` transaction that keeps migrators from running at the same time.

use std::time::Duration;

use engram_core::{BackendKind, Timestamp};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{params, Connection, OptionalExtension};

use crate::driver::{excerpt, Driver, NewRecord, ScriptError};
use crate::error::MigrateError;
use crate::report::AppliedRecord;

/// The busy timeout set on connections that have none.
pub(crate) const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const TABLE_EXISTS: &str =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'engram_schema_migrations'";

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS engram_schema_migrations (
    version      INTEGER NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    checksum     TEXT    NOT NULL,
    applied_at   INTEGER NOT NULL,
    execution_ms INTEGER NOT NULL,
    success      INTEGER NOT NULL CHECK (success IN (0, 1))
) STRICT";

const SELECT_RECORDS: &str = "SELECT version, name, checksum, applied_at, execution_ms, success
    FROM engram_schema_migrations ORDER BY version";

const INSERT_RECORD: &str = "INSERT INTO engram_schema_migrations
    (version, name, checksum, applied_at, execution_ms, success) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const MARK_SUCCEEDED: &str =
    "UPDATE engram_schema_migrations SET success = 1, execution_ms = ?2 WHERE version = ?1";

const MARK_FAILED: &str = "UPDATE engram_schema_migrations SET success = 0 WHERE version = ?1";

const DELETE_RECORD: &str = "DELETE FROM engram_schema_migrations WHERE version = ?1";

const BEGIN: &str = "BEGIN IMMEDIATE";

const COMMIT: &str = "COMMIT";

const ROLLBACK: &str = "ROLLBACK";

/// A [`MigrateError::Database`] for SQLite.
pub(crate) fn error(context: &str, err: &rusqlite::Error) -> MigrateError {
    MigrateError::Database {
        dialect: BackendKind::Sqlite,
        context: context.to_owned(),
        message: err.to_string(),
    }
}

/// Runs `sql` as one batch; `context` says what for.
fn batch(conn: &Connection, sql: &str, context: &str) -> Result<(), MigrateError> {
    conn.execute_batch(sql).map_err(|e| error(context, &e))
}

/// The migrator's driver on SQLite. SQLite has no session lock: every step runs in
/// `BEGIN IMMEDIATE`, which waits (for the busy timeout) while another migrator's step runs.
impl Driver for Connection {
    fn backend(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    /// Sets [`DEFAULT_BUSY_TIMEOUT`] when the connection has no busy timeout, so that
    /// migrators wait for each other's `BEGIN IMMEDIATE` instead of failing at once.
    fn configure(&mut self) -> Result<(), MigrateError> {
        let current: i64 = self
            .pragma_query_value(None, "busy_timeout", |row| row.get(0))
            .map_err(|e| error("reading the busy timeout", &e))?;
        if current == 0 {
            self.busy_timeout(DEFAULT_BUSY_TIMEOUT)
                .map_err(|e| error("setting the busy timeout", &e))?;
        }
        Ok(())
    }

    fn lock(&mut self, _timeout: Duration) -> Result<(), MigrateError> {
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), MigrateError> {
        Ok(())
    }

    fn begin(&mut self) -> Result<(), MigrateError> {
        batch(self, BEGIN, "starting a transaction (BEGIN IMMEDIATE)")
    }

    fn commit(&mut self) -> Result<(), MigrateError> {
        batch(self, COMMIT, "committing a migration")
    }

    fn rollback(&mut self) -> Result<(), MigrateError> {
        batch(self, ROLLBACK, "rolling back a migration")
    }

    fn table_exists(&mut self) -> Result<bool, MigrateError> {
        self.query_row(TABLE_EXISTS, [], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| error("looking for engram_schema_migrations", &e))
    }

    fn create_table(&mut self) -> Result<(), MigrateError> {
        batch(self, CREATE_TABLE, "creating engram_schema_migrations")
    }

    fn read_records(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        if !self.table_exists()? {
            return Ok(Vec::new());
        }
        let context = "reading engram_schema_migrations";
        let mut statement = self
            .prepare(SELECT_RECORDS)
            .map_err(|e| error(context, &e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| error(context, &e))?;
        let mut records = Vec::new();
        for row in rows {
            let (version, name, checksum, applied_at, execution_ms, success) =
                row.map_err(|e| error(context, &e))?;
            let version = u32::try_from(version).map_err(|_| MigrateError::InvalidRecord {
                dialect: BackendKind::Sqlite,
                detail: format!("version {version} is out of range"),
            })?;
            records.push(AppliedRecord {
                version,
                name,
                checksum,
                applied_at: Timestamp::from_micros(applied_at),
                execution_ms,
                success: success != 0,
            });
        }
        Ok(records)
    }

    fn insert_record(&mut self, record: &NewRecord<'_>) -> Result<(), MigrateError> {
        self.execute(
            INSERT_RECORD,
            params![
                i64::from(record.version),
                record.name,
                record.checksum,
                record.applied_at.as_micros(),
                record.execution_ms,
                i64::from(record.success),
            ],
        )
        .map(drop)
        .map_err(|e| {
            error(
                &format!("recording migration {:04} {}", record.version, record.name),
                &e,
            )
        })
    }

    fn mark_succeeded(&mut self, version: u32, execution_ms: i64) -> Result<(), MigrateError> {
        self.execute(MARK_SUCCEEDED, params![i64::from(version), execution_ms])
            .map(drop)
            .map_err(|e| error(&format!("recording migration {version:04} as applied"), &e))
    }

    fn mark_failed(&mut self, version: u32) -> Result<(), MigrateError> {
        self.execute(MARK_FAILED, params![i64::from(version)])
            .map(drop)
            .map_err(|e| error(&format!("marking migration {version:04} as started"), &e))
    }

    fn delete_record(&mut self, version: u32) -> Result<(), MigrateError> {
        self.execute(DELETE_RECORD, params![i64::from(version)])
            .map(drop)
            .map_err(|e| {
                error(
                    &format!("removing the record of migration {version:04}"),
                    &e,
                )
            })
    }

    fn run_script(&mut self, sql: &str) -> Result<(), ScriptError> {
        self.execute_batch(sql).map_err(|e| ScriptError {
            statement: None,
            message: e.to_string(),
        })
    }

    /// Uses SQLite's own parser to find the statements (so trigger bodies stay whole), and
    /// steps each to completion in autocommit mode.
    fn run_statements(&mut self, sql: &str) -> Result<(), ScriptError> {
        let mut batch = rusqlite::Batch::new(self, sql);
        let mut number = 0;
        loop {
            let mut statement = match batch.next() {
                Ok(Some(statement)) => statement,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(ScriptError {
                        statement: Some(number + 1),
                        message: e.to_string(),
                    })
                }
            };
            number += 1;
            let mut rows = statement.raw_query();
            loop {
                match rows.next() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        drop(rows);
                        let text = statement.expanded_sql().unwrap_or_default();
                        return Err(ScriptError {
                            statement: Some(number),
                            message: format!("{e} (in `{}`)", excerpt(&text)),
                        });
                    }
                }
            }
        }
    }
}
