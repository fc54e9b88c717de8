//! The SQLite store: the connection pool, and [`MemoryBackend`] over it.

use std::path::Path;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, params_from_iter, ErrorCode, OptionalExtension, Row, Transaction};
use serde_json::Value;
use uuid::Uuid;

use engram_core::policy::PolicyStatement;
use engram_core::{
    BackendKind, Cluster, ClusterQuery, ClusterUpsert, Error, Memory, MemoryBackend, MemoryQuery,
    MemoryUpdate, OnConflict, PolicyReport, PoolOptions, Result, SqliteLocation, SqliteMode, Stats,
    TierPolicy, Timestamp,
};

use crate::{functions, sql};

const BACKEND: BackendKind = BackendKind::Sqlite;

/// Page cache per connection, as SQLite's `cache_size` takes it (negative: KiB): 32 MiB keeps
/// the indexes of a few hundred thousand memories in memory (SQLite's default is 2 MiB).
const SQLITE_CACHE_KIB: i64 = -32_768;

/// WAL pages written before SQLite checkpoints them into the database file. SQLite's
/// default of 1,000 pages (4 MiB) checkpointed during nearly every 1,000-memory batch and
/// halved batch-insert speed; 10,000 pages lets the WAL grow to about 40 MiB first.
const SQLITE_WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// After a checkpoint, the WAL file is cut back to this many bytes, so the larger checkpoint
/// interval does not leave a large file behind.
const SQLITE_WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// A connection checked out of the store's pool (derefs to [`rusqlite::Connection`]).
pub type SqliteConnection = PooledConnection<SqliteConnectionManager>;

/// An engram store on SQLite. Cheap to clone; clones share the pool.
///
/// ```
/// use engram_core::{MemoryBackend, PoolOptions, SqliteLocation};
/// use engram_sqlite::SqliteStore;
/// let store = SqliteStore::open(&SqliteLocation::Memory, &PoolOptions::default()).unwrap();
/// assert_eq!(store.kind(), engram_core::BackendKind::Sqlite);
/// ```
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
    location: SqliteLocation,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `location` with a pool sized by `options`.
    /// An in-memory database has a pool of one connection, so that every operation sees the
    /// same database.
    pub fn open(location: &SqliteLocation, options: &PoolOptions) -> Result<Self> {
        let busy_timeout = options.busy_timeout;
        let (manager, max_size) = match location {
            SqliteLocation::Memory => (SqliteConnectionManager::memory(), 1),
            SqliteLocation::File { path, mode } => {
                let connection_error = |message: String| Error::Connection {
                    backend: BACKEND,
                    dsn: engram_core::Dsn::Sqlite(location.clone()).to_string(),
                    message,
                };
                let read_only = match mode {
                    SqliteMode::ReadOnly => true,
                    SqliteMode::ReadWrite | SqliteMode::ReadWriteCreate => {
                        if *mode == SqliteMode::ReadWriteCreate {
                            create_parent_dir(path)?;
                        }
                        match enable_wal(path, *mode, busy_timeout) {
                            Ok(()) => false,
                            // A file this user may read but not write (or in a folder they
                            // may not write) is still readable: open it read-only, and let
                            // writes fail as SQLite's "readonly database".
                            Err(e) if is_read_only_error(&e) && path.exists() => {
                                tracing::warn!(
                                    "{} is read-only for this user: opened read-only",
                                    path.display()
                                );
                                true
                            }
                            Err(e) => {
                                return Err(connection_error(format!(
                                    "cannot switch the database to WAL mode: {e}"
                                )))
                            }
                        }
                    }
                };
                let manager = if read_only {
                    read_only_manager(path).map_err(connection_error)?
                } else {
                    SqliteConnectionManager::file(path).with_flags(file_flags(*mode))
                };
                (manager, options.max_size.max(1))
            }
        };
        let manager = manager.with_init(move |conn| {
            conn.busy_timeout(busy_timeout)?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.pragma_update(None, "cache_size", SQLITE_CACHE_KIB)?;
            conn.pragma_update(None, "wal_autocheckpoint", SQLITE_WAL_CHECKPOINT_PAGES)?;
            conn.pragma_update(None, "journal_size_limit", SQLITE_WAL_SIZE_LIMIT)?;
            functions::register_functions(conn)
        });
        let pool = Pool::builder()
            .max_size(max_size)
            // An in-process SQLite handle cannot go stale the way a network connection can,
            // and the check (running an empty statement) cost about a sixth of a lookup
            // by id.
            .test_on_check_out(false)
            .connection_timeout(options.connection_timeout)
            .build(manager)
            .map_err(|e| Error::Connection {
                backend: BACKEND,
                dsn: engram_core::Dsn::Sqlite(location.clone()).to_string(),
                message: e.to_string(),
            })?;
        Ok(SqliteStore {
            pool,
            location: location.clone(),
        })
    }

    /// Where the database lives.
    pub fn location(&self) -> &SqliteLocation {
        &self.location
    }

    /// Checks a connection out of the pool (migrations use this).
    pub fn connection(&self) -> Result<SqliteConnection> {
        self.pool.get().map_err(|e| Error::Connection {
            backend: BACKEND,
            dsn: engram_core::Dsn::Sqlite(self.location.clone()).to_string(),
            message: e.to_string(),
        })
    }

    /// Runs `work` in an immediate transaction and commits it.
    fn write<T>(
        &self,
        context: &str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.connection()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| db_error(context, e))?;
        let value = work(&tx).map_err(|e| db_error(context, e))?;
        tx.commit().map_err(|e| db_error(context, e))?;
        Ok(value)
    }

    fn read<T>(
        &self,
        context: &str,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let conn = self.connection()?;
        work(&conn).map_err(|e| db_error(context, e))
    }
}

/// Puts the database file in WAL mode, once, before the pool opens its connections. The mode
/// is stored in the file, so every later connection is in WAL mode too. Switching needs an
/// exclusive lock, for which SQLite may answer "database is locked" at once, without waiting
/// on the busy timeout, while another process opens the same new file: retry until the busy
/// timeout has passed.
fn enable_wal(
    path: &Path,
    mode: SqliteMode,
    busy_timeout: std::time::Duration,
) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open_with_flags(path, file_flags(mode))?;
    conn.busy_timeout(busy_timeout)?;
    let deadline = std::time::Instant::now() + busy_timeout;
    loop {
        let mode = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0));
        match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "SQLite kept journal mode '{mode}'"
                )))
            }
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(other) => return Err(other),
        }
    }
}

/// How database files are opened for writing: read-write, created if missing when `mode`
/// says so, and the path is always a file name (SQLite's `file:` URI syntax is off, so
/// `sqlite://file::memory:` is a file named `file::memory:`, not a private in-memory database
/// per pooled connection).
fn file_flags(mode: SqliteMode) -> rusqlite::OpenFlags {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if mode == SqliteMode::ReadWriteCreate {
        flags | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
    } else {
        flags
    }
}

/// Whether opening or switching the journal failed because the file or its folder may not be
/// written.
fn is_read_only_error(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(failure, _)
        if matches!(failure.code, ErrorCode::ReadOnly | ErrorCode::CannotOpen))
}

/// The pool's connections for a database opened read-only, nothing written to it.
///
/// A WAL database needs its `-shm` index to be read; when there is none and the folder may not
/// be written to create it, SQLite reads the file as immutable instead, which is right when
/// no `-wal` file holds changes not yet in the database file (there is none: a `-wal` file
/// without a writable folder is refused with what to do).
fn read_only_manager(path: &Path) -> std::result::Result<SqliteConnectionManager, String> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let probe = rusqlite::Connection::open_with_flags(path, flags)
        .and_then(|conn| conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())));
    match probe {
        Ok(()) => Ok(SqliteConnectionManager::file(path).with_flags(flags)),
        Err(e) if is_read_only_error(&e) => {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            if Path::new(&wal).exists() {
                return Err(format!(
                    "cannot read it read-only: its write-ahead log {} holds changes, and \
                     reading them needs write access to the folder; run any command once as a \
                     user who may write it, to fold the log into the database",
                    Path::new(&wal).display()
                ));
            }
            let uri = format!(
                "file:{}?mode=ro&immutable=1",
                percent_encoding::utf8_percent_encode(&path.to_string_lossy(), URI_PATH_ESCAPES)
            );
            Ok(SqliteConnectionManager::file(uri)
                .with_flags(flags | rusqlite::OpenFlags::SQLITE_OPEN_URI))
        }
        Err(e) => Err(format!("cannot open it read-only: {e}")),
    }
}

/// What a file path must escape inside a SQLite `file:` URI.
const URI_PATH_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b' ');

fn create_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|e| Error::Connection {
                backend: BACKEND,
                dsn: format!("sqlite://{}", path.display()),
                message: format!("cannot create directory {}: {e}", dir.display()),
            }),
        _ => Ok(()),
    }
}

/// Maps a driver error to engram's, recognising a missing schema and duplicate ids.
fn db_error(context: &str, err: rusqlite::Error) -> Error {
    let message = err.to_string();
    if message.contains("no such table") {
        return Error::Schema {
            message: format!(
                "{message}; run `engram init-db` (or Store::migrate) to create the tables"
            ),
        };
    }
    if let rusqlite::Error::SqliteFailure(failure, _) = &err {
        if failure.code == ErrorCode::ConstraintViolation
            && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return Error::Conflict {
                what: "memory",
                detail: message,
            };
        }
    }
    Error::database(BACKEND, context, message)
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn parse_json(text: &str, column: &str) -> rusqlite::Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("column {column} holds invalid JSON: {e}").into(),
        )
    })
}

fn parse_uuid(text: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn string_list(value: Value, column: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_value(value).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("column {column} is not a list of strings: {e}").into(),
        )
    })
}

/// A column holding a JSON list of strings: read straight into a `Vec` when it is one;
/// anything else goes through [`parse_json`] and [`string_list`], which give the error.
fn json_string_list(text: &str, column: &str) -> rusqlite::Result<Vec<String>> {
    match serde_json::from_str(text) {
        Ok(list) => Ok(list),
        Err(_) => string_list(parse_json(text, column)?, column),
    }
}

fn memory_from_row(row: &Row<'_>) -> rusqlite::Result<Memory> {
    let metadata: String = row.get(7)?;
    let related: String = row.get(8)?;
    Ok(Memory {
        id: parse_uuid(&row.get::<_, String>(0)?)?,
        user_id: row.get(1)?,
        namespace: row.get(2)?,
        thread_id: row.get(3)?,
        tier: row.get(4)?,
        content: row.get(5)?,
        score: row.get(6)?,
        metadata: parse_json(&metadata, "metadata")?,
        related_threads: json_string_list(&related, "related_threads")?,
        summarized: row.get(9)?,
        created_at: Timestamp::from_micros(row.get(10)?),
        updated_at: Timestamp::from_micros(row.get(11)?),
    })
}

fn cluster_from_row(row: &Row<'_>) -> rusqlite::Result<Cluster> {
    let ids: String = row.get(4)?;
    // Straight into ids when the text is a list of them; anything else the long way, which
    // gives the error.
    let memory_ids = match serde_json::from_str::<Vec<Uuid>>(&ids) {
        Ok(ids) => ids,
        Err(_) => string_list(parse_json(&ids, "memory_ids")?, "memory_ids")?
            .iter()
            .map(|id| parse_uuid(id))
            .collect::<rusqlite::Result<_>>()?,
    };
    Ok(Cluster {
        cluster_id: parse_uuid(&row.get::<_, String>(0)?)?,
        user_id: row.get(1)?,
        topic: row.get(2)?,
        category: row.get(3)?,
        memory_ids,
        summary: row.get(5)?,
        memory_count: row.get(6)?,
        created_at: Timestamp::from_micros(row.get(7)?),
        updated_at: Timestamp::from_micros(row.get(8)?),
        last_built_at: Timestamp::from_micros(row.get(9)?),
    })
}

impl MemoryBackend for SqliteStore {
    fn kind(&self) -> BackendKind {
        BACKEND
    }

    fn insert_memories(&self, memories: &[Memory], on_conflict: OnConflict) -> Result<u64> {
        let statement = match on_conflict {
            OnConflict::Fail => sql::INSERT_MEMORY,
            OnConflict::Skip => sql::INSERT_MEMORY_OR_SKIP,
        };
        self.write("inserting memories", |tx| {
            let mut insert = tx.prepare_cached(statement)?;
            let mut written = 0u64;
            for m in memories {
                written += insert.execute(params![
                    m.id.to_string(),
                    m.user_id,
                    m.namespace,
                    m.thread_id,
                    m.tier,
                    m.content,
                    m.score,
                    json_text(&m.metadata),
                    json_text(&Value::from(m.related_threads.clone())),
                    m.summarized,
                    m.created_at.as_micros(),
                    m.updated_at.as_micros(),
                ])? as u64;
            }
            Ok(written)
        })
    }

    fn get_memory(&self, id: Uuid) -> Result<Option<Memory>> {
        self.read("reading a memory", |conn| {
            conn.prepare_cached(sql::get_memory())?
                .query_row([id.to_string()], memory_from_row)
                .optional()
        })
    }

    fn update_memory(
        &self,
        id: Uuid,
        update: &MemoryUpdate,
        now: Timestamp,
    ) -> Result<Option<Memory>> {
        self.write("updating a memory", |tx| {
            tx.prepare_cached(sql::update_memory())?
                .query_row(
                    params![
                        id.to_string(),
                        update.content,
                        update.metadata.as_ref().map(json_text),
                        update.tier,
                        update.score,
                        update
                            .related_threads
                            .as_ref()
                            .map(|t| json_text(&Value::from(t.clone()))),
                        update.summarized,
                        now.as_micros(),
                    ],
                    memory_from_row,
                )
                .optional()
        })
    }

    fn delete_memory(&self, id: Uuid) -> Result<bool> {
        self.write("deleting a memory", |tx| {
            Ok(tx.execute(sql::DELETE_MEMORY, [id.to_string()])? > 0)
        })
    }

    fn query_memories(&self, query: &MemoryQuery) -> Result<Vec<Memory>> {
        let select = sql::select_memories(query);
        self.read("querying memories", |conn| {
            conn.prepare_cached(&select.clause)?
                .query_map(params_from_iter(select.params.iter()), memory_from_row)?
                .collect()
        })
    }

    fn count_memories(&self, query: &MemoryQuery) -> Result<u64> {
        let count = sql::count_memories(query);
        self.read("counting memories", |conn| {
            conn.prepare_cached(&count.clause)?
                .query_row(params_from_iter(count.params.iter()), |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n as u64)
        })
    }

    fn upsert_cluster(
        &self,
        cluster: &ClusterUpsert,
        cluster_id: Uuid,
        now: Timestamp,
    ) -> Result<Cluster> {
        let ids: Vec<String> = cluster.memory_ids.iter().map(Uuid::to_string).collect();
        self.write("upserting a cluster", |tx| {
            tx.prepare_cached(sql::upsert_cluster())?.query_row(
                params![
                    cluster_id.to_string(),
                    cluster.user_id,
                    cluster.topic,
                    cluster.category,
                    json_text(&Value::from(ids)),
                    cluster.summary,
                    cluster.memory_ids.len() as i64,
                    now.as_micros(),
                ],
                cluster_from_row,
            )
        })
    }

    fn get_clusters(&self, query: &ClusterQuery) -> Result<Vec<Cluster>> {
        self.read("reading clusters", |conn| {
            conn.prepare_cached(sql::get_clusters())?
                .query_map(
                    params![query.user_id, query.topic, query.category],
                    cluster_from_row,
                )?
                .collect()
        })
    }

    fn delete_cluster(&self, cluster_id: Uuid) -> Result<bool> {
        self.write("deleting a cluster", |tx| {
            Ok(tx.execute(sql::DELETE_CLUSTER, [cluster_id.to_string()])? > 0)
        })
    }

    fn run_policies(&self, policies: &[TierPolicy], now: Timestamp) -> Result<PolicyReport> {
        self.write("running tier policies", |tx| {
            let mut report = PolicyReport::default();
            for statement in PolicyStatement::plan(policies, now) {
                let rows = match &statement {
                    PolicyStatement::Move { tier, to, cutoff } => tx.execute(
                        sql::POLICY_MOVE,
                        params![to, now.as_micros(), tier, cutoff.as_micros()],
                    )?,
                    PolicyStatement::Trim { tier, max_chars } => {
                        tx.execute(sql::POLICY_TRIM, params![max_chars, now.as_micros(), tier])?
                    }
                };
                report.steps.push(statement.step(rows as u64));
            }
            Ok(report)
        })
    }

    fn stats(&self, user_id: Option<&str>) -> Result<Stats> {
        self.read("computing statistics", |conn| {
            let rows = conn
                .prepare_cached(sql::STATS)?
                .query_map([user_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<(String, String, u64)>>>()?;
            Ok(Stats::from_rows(rows))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tables_are_reported_as_a_schema_error() {
        let store = SqliteStore::open(&SqliteLocation::Memory, &PoolOptions::default()).unwrap();
        let err = store.count_memories(&MemoryQuery::new()).unwrap_err();
        assert_eq!(err.kind(), engram_core::ErrorKind::Schema, "{err}");
        assert!(err.to_string().contains("init-db"), "{err}");
    }

    #[test]
    fn the_matcher_runs_inside_sql() {
        let store = SqliteStore::open(&SqliteLocation::Memory, &PoolOptions::default()).unwrap();
        let conn = store.connection().unwrap();
        let hit: Option<bool> = conn
            .query_row(
                "SELECT engram_json_contains(?1, ?2)",
                [r#"[{"a":1,"b":2}]"#, r#"[{"a":1}]"#],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(hit, Some(true));
        let miss: Option<bool> = conn
            .query_row(
                "SELECT engram_json_contains(?1, ?2)",
                [r#"{"x":true}"#, r#"{"x":1}"#],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(miss, Some(false));
    }
}
