//! The migrator's SQL for PostgreSQL: the tracking table, script execution and the advisory
//! lock that keeps migrators from running at the same time.

use std::error::Error as _;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use engram_core::{BackendKind, Timestamp};
use postgres::error::ErrorPosition;
use postgres::Client;

use crate::driver::{excerpt, Driver, NewRecord, ScriptError};
use crate::error::MigrateError;
use crate::report::AppliedRecord;
use crate::split::split_statements;

/// The key of the session advisory lock every engram migrator takes on PostgreSQL: the first
/// eight bytes (big-endian) of SHA-256 of `engram_schema_migrations`.
pub const ADVISORY_LOCK_KEY: i64 = 2_093_919_738_329_773_015;

const TABLE_EXISTS: &str = "SELECT to_regclass('engram_schema_migrations') IS NOT NULL";

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS engram_schema_migrations (
    version      integer     PRIMARY KEY,
    name         text        NOT NULL,
    checksum     text        NOT NULL,
    applied_at   timestamptz NOT NULL,
    execution_ms bigint      NOT NULL,
    success      boolean     NOT NULL
)";

const SELECT_RECORDS: &str = "SELECT version, name, checksum, applied_at, execution_ms, success
    FROM engram_schema_migrations ORDER BY version";

const INSERT_RECORD: &str = "INSERT INTO engram_schema_migrations
    (version, name, checksum, applied_at, execution_ms, success) VALUES ($1, $2, $3, $4, $5, $6)";

const MARK_SUCCEEDED: &str =
    "UPDATE engram_schema_migrations SET success = true, execution_ms = $2 WHERE version = $1";

const MARK_FAILED: &str = "UPDATE engram_schema_migrations SET success = false WHERE version = $1";

const DELETE_RECORD: &str = "DELETE FROM engram_schema_migrations WHERE version = $1";

const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1)";

const UNLOCK: &str = "SELECT pg_advisory_unlock($1)";

const BEGIN: &str = "BEGIN";

const COMMIT: &str = "COMMIT";

const ROLLBACK: &str = "ROLLBACK";

/// The longest pause between two attempts to take the advisory lock.
const MAX_LOCK_POLL: Duration = Duration::from_millis(200);

/// The driver's message for `err`, with PostgreSQL's severity, SQLSTATE, detail and hint, and
/// (when `script` is the query that failed) the line of the error.
pub(crate) fn message(err: &postgres::Error, script: Option<&str>) -> String {
    let Some(db) = err.as_db_error() else {
        return match err.source() {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        };
    };
    let mut text = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let (Some(ErrorPosition::Original(position)), Some(script)) = (db.position(), script) {
        let before = usize::try_from(*position)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        let line = 1 + script.chars().take(before).filter(|&c| c == '\n').count();
        text.push_str(&format!(" at line {line}"));
    }
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; DETAIL: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; HINT: {hint}"));
    }
    text
}

/// A [`MigrateError::Database`] for PostgreSQL.
pub(crate) fn error(context: &str, err: &postgres::Error) -> MigrateError {
    MigrateError::Database {
        dialect: BackendKind::Postgres,
        context: context.to_owned(),
        message: message(err, None),
    }
}

/// Runs `sql` as one batch; `context` says what for.
fn batch(client: &mut Client, sql: &str, context: &str) -> Result<(), MigrateError> {
    client.batch_execute(sql).map_err(|e| error(context, &e))
}

fn version_param(version: u32) -> Result<i32, MigrateError> {
    i32::try_from(version).map_err(|_| MigrateError::InvalidRecord {
        dialect: BackendKind::Postgres,
        detail: format!("version {version} does not fit the integer column"),
    })
}

/// The migrator's driver on PostgreSQL: migrators exclude each other with a session advisory
/// lock ([`ADVISORY_LOCK_KEY`]), taken with a bounded wait.
impl Driver for Client {
    fn backend(&self) -> BackendKind {
        BackendKind::Postgres
    }

    fn configure(&mut self) -> Result<(), MigrateError> {
        Ok(())
    }

    /// Takes the session advisory lock, polling `pg_try_advisory_lock` until `timeout` has
    /// passed.
    fn lock(&mut self, timeout: Duration) -> Result<(), MigrateError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let row = self
                .query_one(TRY_LOCK, &[&ADVISORY_LOCK_KEY])
                .map_err(|e| error("taking the migration lock", &e))?;
            let locked: bool = row
                .try_get(0)
                .map_err(|e| error("taking the migration lock", &e))?;
            if locked {
                tracing::debug!(waited = ?started.elapsed(), "took the migration advisory lock");
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(MigrateError::LockTimeout {
                    timeout,
                    key: ADVISORY_LOCK_KEY,
                });
            }
            tracing::debug!(
                ?waited,
                "another migrator holds the migration lock; waiting"
            );
            thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(MAX_LOCK_POLL);
        }
    }

    /// Releases the session advisory lock.
    fn unlock(&mut self) -> Result<(), MigrateError> {
        self.query_one(UNLOCK, &[&ADVISORY_LOCK_KEY])
            .map(drop)
            .map_err(|e| error("releasing the migration lock", &e))
    }

    fn begin(&mut self) -> Result<(), MigrateError> {
        batch(self, BEGIN, "starting a transaction")
    }

    fn commit(&mut self) -> Result<(), MigrateError> {
        batch(self, COMMIT, "committing a migration")
    }

    fn rollback(&mut self) -> Result<(), MigrateError> {
        batch(self, ROLLBACK, "rolling back a migration")
    }

    fn table_exists(&mut self) -> Result<bool, MigrateError> {
        let context = "looking for engram_schema_migrations";
        let row = self
            .query_one(TABLE_EXISTS, &[])
            .map_err(|e| error(context, &e))?;
        row.try_get(0).map_err(|e| error(context, &e))
    }

    fn create_table(&mut self) -> Result<(), MigrateError> {
        batch(self, CREATE_TABLE, "creating engram_schema_migrations")
    }

    fn read_records(&mut self) -> Result<Vec<AppliedRecord>, MigrateError> {
        if !self.table_exists()? {
            return Ok(Vec::new());
        }
        let context = "reading engram_schema_migrations";
        let rows = self
            .query(SELECT_RECORDS, &[])
            .map_err(|e| error(context, &e))?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let read = |e: postgres::Error| error(context, &e);
            let version: i32 = row.try_get(0).map_err(read)?;
            let applied_at: SystemTime = row.try_get(3).map_err(read)?;
            records.push(AppliedRecord {
                version: u32::try_from(version).map_err(|_| MigrateError::InvalidRecord {
                    dialect: BackendKind::Postgres,
                    detail: format!("version {version} is out of range"),
                })?,
                name: row.try_get(1).map_err(read)?,
                checksum: row.try_get(2).map_err(read)?,
                applied_at: Timestamp::from_system_time(applied_at),
                execution_ms: row.try_get(4).map_err(read)?,
                success: row.try_get(5).map_err(read)?,
            });
        }
        Ok(records)
    }

    fn insert_record(&mut self, record: &NewRecord<'_>) -> Result<(), MigrateError> {
        let version = version_param(record.version)?;
        self.execute(
            INSERT_RECORD,
            &[
                &version,
                &record.name,
                &record.checksum,
                &record.applied_at.to_system_time(),
                &record.execution_ms,
                &record.success,
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
        let param = version_param(version)?;
        self.execute(MARK_SUCCEEDED, &[&param, &execution_ms])
            .map(drop)
            .map_err(|e| error(&format!("recording migration {version:04} as applied"), &e))
    }

    fn mark_failed(&mut self, version: u32) -> Result<(), MigrateError> {
        let param = version_param(version)?;
        self.execute(MARK_FAILED, &[&param])
            .map(drop)
            .map_err(|e| error(&format!("marking migration {version:04} as started"), &e))
    }

    fn delete_record(&mut self, version: u32) -> Result<(), MigrateError> {
        let param = version_param(version)?;
        self.execute(DELETE_RECORD, &[&param])
            .map(drop)
            .map_err(|e| {
                error(
                    &format!("removing the record of migration {version:04}"),
                    &e,
                )
            })
    }

    fn run_script(&mut self, sql: &str) -> Result<(), ScriptError> {
        self.batch_execute(sql).map_err(|e| ScriptError {
            statement: None,
            message: message(&e, Some(sql)),
        })
    }

    /// Sends each statement on its own (simple query protocol), so that statements such as
    /// `CREATE INDEX CONCURRENTLY` run outside any transaction block.
    fn run_statements(&mut self, sql: &str) -> Result<(), ScriptError> {
        for (index, statement) in split_statements(sql).into_iter().enumerate() {
            self.batch_execute(statement).map_err(|e| ScriptError {
                statement: Some(index + 1),
                message: format!("{} (in `{}`)", message(&e, None), excerpt(statement)),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ADVISORY_LOCK_KEY;
    use sha2::{Digest, Sha256};

    #[test]
    fn lock_key_is_derived_from_the_table_name() {
        let digest = Sha256::digest(b"engram_schema_migrations");
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        assert_eq!(i64::from_be_bytes(first), ADVISORY_LOCK_KEY);
    }
}
