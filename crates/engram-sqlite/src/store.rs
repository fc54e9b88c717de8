//! The SQLite store: the connection pool, and [`MemoryBackend`] over it.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{
    params, params_from_iter, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use serde_json::Value;
use uuid::Uuid;

use engram_core::history::{
    changes_of_delete, changes_of_insert, changes_of_move, changes_of_trim,
    changes_of_update_with_embedding,
};
use engram_core::index::{
    filter_keys, is_exact, keys_decide as index_keys_decide, related_thread_key, IndexCheck,
};
use engram_core::item::{put_expiry, Item, ItemSearch, Namespace, PrefixRange};
use engram_core::plan::{sql_count, Condition, QueryPlan};
use engram_core::policy::PolicyStatement;
use engram_core::row::{
    decode_cluster, decode_event, decode_item, decode_memory, decode_neighbour, StoredValue,
};
use engram_core::vector::common_dimensions;
use engram_core::{
    AgeOf, Audit, BackendKind, Cluster, ClusterQuery, ClusterUpsert, Context, Dsn, Embedding,
    Error, EventKind, HistoryEvent, Integrity, Memory, MemoryBackend, MemoryQuery, MemoryUpdate,
    Message, Metric, NearestQuery, Neighbour, OnConflict, PolicyReport, PoolOptions, Relation,
    RelationKind, Result, Search, SqliteLocation, SqliteMode, Stats, Storage, TierPolicy,
    Timestamp, VectorIndex, VectorSupport,
};

use crate::index;
use crate::{functions, sql};

const BACKEND: BackendKind = BackendKind::Sqlite;

/// Page cache per connection, as SQLite's `cache_size` takes it (negative: KiB): 32 MiB keeps
/// the indexes of a few hundred thousand memories in memory (SQLite's default is 2 MiB).
const SQLITE_CACHE_KIB: i64 = -32_768;

/// WAL pages written before SQLite checkpoints them into the database file. SQLite's
/// default of 1,000 pages (4 MiB) checkpointed during nearly every 1,000-memory batch and
/// halved batch-insert speed; 10,000 pages lets the WAL grow to about 40 MiB first.
const SQLITE_WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// The page size of new database files. SQLite's default of 4 KiB holds two 1.5 KiB
/// embeddings (384 dimensions) per page; 16 KiB pages hold ten, so that a scan of the
/// embeddings reads fewer, fuller pages.
const SQLITE_PAGE_BYTES: i64 = 16_384;

/// How a transaction reads the database file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileReads {
    /// Through the memory map ([`SQLITE_MMAP_BYTES`]): queries and single writes.
    Mapped,
    /// Through the page cache only: bulk jobs (an export, a batch insert) touch every page
    /// once, and mapped pages a process touched count in its resident set, so that it
    /// would grow with the database (600 MB for an export of a million memories) although
    /// the pages are the kernel's cache. Unmapped, the process holds at most its page cache.
    Unmapped,
}

/// Bytes of the database file each connection reads through a memory map instead of
/// copying pages into its cache: a scan (a nearest-neighbour search reads every embedding)
/// then reads the operating system's cached pages in place. 1 GiB of address space per
/// connection; a larger file is read the usual way beyond it.
const SQLITE_MMAP_BYTES: i64 = 1 << 30;

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
                let read_only = match mode {
                    SqliteMode::ReadOnly => true,
                    SqliteMode::ReadWrite | SqliteMode::ReadWriteCreate => {
                        if *mode == SqliteMode::ReadWriteCreate {
                            create_parent_dir(location, path)?;
                        }
                        match enable_wal(path, *mode, busy_timeout) {
                            Ok(()) => false,
                            // A file this user may read but not write (or in a folder they
                            // may not write) is still readable: open it read-only, and let
                            // writes fail as SQLite's "readonly database".
                            Err(e)
                                if *mode == SqliteMode::ReadWriteCreate
                                    && is_read_only_error(&e)
                                    && path.exists() =>
                            {
                                tracing::warn!(
                                    "{} is read-only for this user: opened read-only",
                                    path.display()
                                );
                                true
                            }
                            Err(e) if *mode == SqliteMode::ReadWrite && !path.exists() => {
                                return Err(connection_error(
                                    location,
                                    Context::wrap("mode=rw opens only a file that exists", e),
                                ))
                            }
                            Err(e) => {
                                return Err(connection_error(
                                    location,
                                    Context::wrap("cannot switch the database to WAL mode", e),
                                ))
                            }
                        }
                    }
                };
                let manager = if read_only {
                    read_only_manager(path)
                        .map_err(|reason| connection_error(location, Message(reason)))?
                } else {
                    SqliteConnectionManager::file(path).with_flags(file_flags(*mode))
                };
                (manager, options.max_size.max(1))
            }
        };
        let manager = manager.with_init(move |conn| {
            conn.busy_timeout(busy_timeout)?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.pragma_update(None, "cache_size", SQLITE_CACHE_KIB)?;
            conn.pragma_update(None, "mmap_size", SQLITE_MMAP_BYTES)?;
            conn.pragma_update(None, "wal_autocheckpoint", SQLITE_WAL_CHECKPOINT_PAGES)?;
            conn.pragma_update(None, "journal_size_limit", SQLITE_WAL_SIZE_LIMIT)?;
            // `rarray`: how a statement reads the containment index's candidates.
            rusqlite::vtab::array::load_module(conn)?;
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
            .map_err(|e| connection_error(location, e))?;
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
        self.pool
            .get()
            .map_err(|e| connection_error(&self.location, e))
    }

    /// Runs `work` in an immediate transaction, brings the containment index up to date with
    /// what it wrote (and anything queued before), and commits.
    fn write<T>(
        &self,
        context: &str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.write_reading(FileReads::Mapped, context, work)
    }

    /// [`SqliteStore::write`], reading the file as `reads` says.
    fn write_reading<T>(
        &self,
        reads: FileReads,
        context: &str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.transaction(TransactionBehavior::Immediate, reads, context, |tx| {
            let value = work(tx)?;
            index::apply_queue(tx)?;
            Ok(value)
        })
    }

    /// Runs `work` in an immediate transaction and commits it.
    fn immediate<T>(
        &self,
        context: &str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.transaction(
            TransactionBehavior::Immediate,
            FileReads::Mapped,
            context,
            work,
        )
    }

    fn read<T>(
        &self,
        context: &str,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let conn = self.connection()?;
        work(&conn).map_err(|e| db_error(&conn, context, e))
    }

    /// The count `statement` gives for the time `now` bound to its ?1.
    fn count_at(&self, context: &str, statement: &str, now: Timestamp) -> Result<u64> {
        self.read(context, |conn| {
            conn.prepare_cached(statement)?
                .query_row([now.as_micros()], |row| row.get::<_, i64>(0))
        })
        .map(|count| u64::try_from(count).unwrap_or(0))
    }

    /// Runs `work` in one read transaction: one snapshot for the index's candidates and the
    /// statement that reads them.
    fn read_snapshot<T>(
        &self,
        context: &str,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.transaction(
            TransactionBehavior::Deferred,
            FileReads::Mapped,
            context,
            |tx| work(tx),
        )
    }

    /// Runs `work` in a transaction of `behavior` and commits it, on a connection that reads
    /// the file as `reads` says (mapped again afterwards).
    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
        reads: FileReads,
        context: &str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.connection()?;
        if reads == FileReads::Unmapped {
            conn.pragma_update(None, "mmap_size", 0)
                .map_err(|e| db_error(&conn, context, e))?;
        }
        let result = conn.transaction_with_behavior(behavior).and_then(|tx| {
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        });
        if reads == FileReads::Unmapped {
            // A connection left unmapped reads correctly, only without the map: not worth
            // failing what was done.
            if let Err(e) = conn.pragma_update(None, "mmap_size", SQLITE_MMAP_BYTES) {
                tracing::warn!("cannot map the database file again: {e}");
            }
        }
        result.map_err(|e| db_error(&conn, context, e))
    }

    /// Runs `plan` (whose rows `decode` reads), with the containment index's candidates
    /// when [`index_plan`] finds that they help.
    fn run_plan<T>(
        &self,
        context: &str,
        plan: &QueryPlan<'_>,
        decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
        check: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<()>,
    ) -> Result<Vec<T>> {
        self.read_snapshot(context, |conn| {
            check(conn)?;
            let statement = select_statement(conn, plan)?;
            conn.prepare_cached(&statement.clause)?
                .query_map(params_from_iter(statement.params.iter()), decode)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
    }
}

/// The statement of `plan` (a select or a ranking), with the containment index's
/// candidates where [`index_plan`] chooses them. Exactly the candidates, paged: sorted by
/// the timestamps beside their refs ([`sql::indexed_page`]).
fn select_statement(
    conn: &rusqlite::Connection,
    plan: &QueryPlan<'_>,
) -> rusqlite::Result<sql::Filter> {
    Ok(match (index_plan(conn, plan)?, &plan.page) {
        (Some(index), Some(page)) if index.is_the_answer() && plan.ranking.is_none() => {
            sql::indexed_page(plan, page, index.statement_part().refs)
        }
        (index, _) => sql::memory_statement(plan, index.map(IndexPlan::statement_part)),
    })
}

/// How the containment index takes part in a plan: which refs it gives, whether they are
/// the exact answer to its conditions, and whether the plan has any other condition.
struct IndexPlan {
    refs: Vec<i64>,
    exact: bool,
    only_indexed_conditions: bool,
}

impl IndexPlan {
    /// Whether the refs are exactly the memories the plan's conditions match.
    fn is_the_answer(&self) -> bool {
        self.exact && self.only_indexed_conditions
    }

    fn statement_part(self) -> sql::IndexUse {
        sql::IndexUse {
            refs: Rc::new(self.refs.into_iter().map(SqlValue::Integer).collect()),
            exact: self.exact,
        }
    }
}

/// The refs of the memories that can match `plan`, from the containment index, when reading
/// those is cheaper than what the plan reads without them; `None` to run it without. The
/// rule, with C the number of candidates:
///
/// - a thread is one conversation, read from its own index: no candidates;
/// - with a user, namespace or tier (each indexed), count up to C the rows those and the
///   other conditions match; when fewer than C, they are the cheaper start: no candidates;
/// - a count, or a nearest-neighbour ranking, reads every match: the candidates;
/// - a page in the query's order is read newest first from the updated_at index, and the
///   scan meets a match about once in N / C rows (N memories): it reads about
///   (offset + limit) * N / C rows. The candidates are used when C is not more than that,
///   that is when C * C <= (offset + limit) * N.
///
/// Memories expired at the plan's moment are taken out of the candidates (read from the
/// partial index of those that expire, usually few), so that the candidates stay the exact
/// answer of a query that leaves expired memories out.
///
/// The candidates are exact when the filter's keys decide containment
/// ([`engram_core::index::keys_decide`]), the thread keys are exact, and nothing is queued.
fn index_plan(
    conn: &rusqlite::Connection,
    plan: &QueryPlan<'_>,
) -> rusqlite::Result<Option<IndexPlan>> {
    let mut all_of = Vec::new();
    let mut any_of = Vec::new();
    let mut keys_decide = true;
    let mut other_index = false;
    let mut only_indexed_conditions = true;
    let mut live_at = None;
    for condition in &plan.conditions {
        match condition {
            Condition::Thread(_) => return Ok(None),
            // The expired memories are taken out of the candidates below.
            Condition::LiveAt(at) => {
                live_at = Some(*at);
                continue;
            }
            Condition::MetadataContains(filter) => {
                all_of.extend(filter_keys(filter));
                keys_decide &= index_keys_decide(filter);
                continue;
            }
            // The containment the filter implies narrows the candidates; the filter itself
            // checks each of them.
            Condition::MetadataFilter(filter) => {
                if let Some(containment) = filter.containment() {
                    all_of.extend(filter_keys(&containment));
                }
                keys_decide = false;
                continue;
            }
            Condition::RelatedToAny(threads) => {
                any_of = threads.iter().map(|t| related_thread_key(t)).collect();
                keys_decide &= any_of.iter().all(|key| is_exact(key));
                continue;
            }
            Condition::User(_)
            | Condition::Namespace(_)
            | Condition::Tier(_)
            | Condition::Tiers(_) => other_index = true,
            Condition::Summarized(_)
            | Condition::CreatedFrom(_)
            | Condition::CreatedUntil(_)
            | Condition::UpdatedFrom(_)
            | Condition::UpdatedUntil(_) => {}
        }
        only_indexed_conditions = false;
    }
    // Keys from a containment and a filter's containment together, once each.
    all_of.sort();
    all_of.dedup();
    if (all_of.is_empty() && any_of.is_empty()) || !index::exists(conn)? {
        return Ok(None);
    }
    // A page read newest first without another index: more than sqrt((offset + limit) * N)
    // candidates would not be used, so the index is read no further than that.
    let page_limit = match (&plan.page, &plan.ranking, other_index) {
        (Some(page), None, false) => page
            .limit()
            .map(|limit| page.offset().saturating_add(limit)),
        _ => None,
    };
    let cap = match page_limit {
        Some(rows) => {
            let memories: i64 = conn
                .prepare_cached(sql::HIGHEST_REF)?
                .query_row([], |row| row.get(0))?;
            Some((rows.saturating_mul(memories) as f64).sqrt() as usize)
        }
        None => None,
    };
    let Some(mut candidates) = index::candidates(conn, &all_of, &any_of, cap)? else {
        return Ok(None);
    };
    if let Some(at) = live_at {
        index::leave_out_expired(conn, &mut candidates.refs, at)?;
    }
    let found = candidates.refs.len() as i64;
    let use_them = if other_index {
        let others = QueryPlan {
            conditions: plan
                .conditions
                .iter()
                .filter(|c| {
                    !matches!(
                        c,
                        Condition::MetadataContains(_) | Condition::RelatedToAny(_)
                    )
                })
                .copied()
                .collect(),
            page: None,
            with_embeddings: false,
            ranking: None,
        };
        let count = sql::limited_count(&others, found);
        let matching: i64 = conn
            .prepare_cached(&count.clause)?
            .query_row(params_from_iter(count.params.iter()), |row| row.get(0))?;
        matching >= found
    } else {
        cap.is_none_or(|cap| found as usize <= cap)
    };
    Ok(use_them.then_some(IndexPlan {
        refs: candidates.refs,
        exact: keys_decide && !candidates.queued,
        only_indexed_conditions,
    }))
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
    // A page size takes effect only on a database without any table yet, and before WAL
    // mode; on any other file this changes nothing.
    conn.pragma_update(None, "page_size", SQLITE_PAGE_BYTES)?;
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
/// A database in WAL mode is read through its `-shm` index, which SQLite creates beside the
/// file when it is missing; in a folder this user may not write, that cannot be done, and the
/// error says what would make the file readable. (SQLite's `immutable` open would read it, but
/// it would also show changes of a crashed writer that were never committed, and miss every
/// later write: not engram's to choose.)
fn read_only_manager(path: &Path) -> std::result::Result<SqliteConnectionManager, String> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let probe = rusqlite::Connection::open_with_flags(path, flags)
        .and_then(|conn| conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())));
    match probe {
        Ok(()) => Ok(SqliteConnectionManager::file(path).with_flags(flags)),
        Err(e) if is_read_only_error(&e) => {
            let folder = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            Err(format!(
                "cannot read it read-only ({e}): it is in WAL mode, and reading it needs the \
                 file {}-shm, which SQLite cannot create in {}, a folder this user may not \
                 write; make the folder writable for this user, or have the file's owner take \
                 it out of WAL mode (PRAGMA journal_mode=DELETE)",
                path.display(),
                folder.display()
            ))
        }
        Err(e) => Err(format!("cannot open it read-only: {e}")),
    }
}

fn create_parent_dir(location: &SqliteLocation, path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|e| {
                connection_error(
                    location,
                    Context::wrap(format!("cannot create directory {}", dir.display()), e),
                )
            }),
        _ => Ok(()),
    }
}

/// An [`Error::Connection`] for the database at `location`.
fn connection_error(location: &SqliteLocation, source: impl Into<engram_core::Source>) -> Error {
    Error::Connection {
        backend: BACKEND,
        dsn: Dsn::Sqlite(location.clone()).to_string(),
        source: source.into(),
    }
}

/// The tables every data statement reads or writes.
const DATA_TABLES: [&str; 4] = ["memories", "memory_clusters", "memory_history", "items"];

/// Maps a driver error to engram's, recognising a missing schema and duplicate ids.
///
/// SQLite reports a missing table only with its generic `SQLITE_ERROR` code (the same code
/// as a syntax error), so on that code the catalog is asked whether the tables are there.
fn db_error(conn: &rusqlite::Connection, context: &str, err: rusqlite::Error) -> Error {
    let err = match err {
        rusqlite::Error::UserFunctionError(inner) => match inner.downcast::<Error>() {
            Ok(engram) => return *engram,
            Err(inner) => rusqlite::Error::UserFunctionError(inner),
        },
        other => other,
    };
    let code = match &err {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
        // A statement SQLite could not prepare (it names a missing table or column).
        rusqlite::Error::SqlInputError { error, .. } => Some(error.extended_code),
        _ => None,
    };
    if code == Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Error::Conflict {
            what: "memory",
            detail: err.to_string(),
        };
    }
    if code == Some(rusqlite::ffi::SQLITE_ERROR) && !schema_exists(conn) {
        return Error::Schema {
            backend: BACKEND,
            source: Box::new(err),
        };
    }
    Error::database(BACKEND, context, err)
}

/// Whether the catalog lists every table of [`DATA_TABLES`] and the newest column engram
/// reads (`memories.expires_at`, migration 0005): false when it cannot be read, or when the
/// schema is older than this engram.
fn schema_exists(conn: &rusqlite::Connection) -> bool {
    let newest_column = conn
        .prepare_cached(sql::HAS_COLUMN)
        .and_then(|mut lookup| lookup.exists(["memories", "expires_at"]));
    if !newest_column.unwrap_or(false) {
        return false;
    }
    let mut lookup = match conn.prepare_cached(sql::HAS_TABLE) {
        Ok(statement) => statement,
        Err(_) => return false,
    };
    DATA_TABLES
        .iter()
        .all(|table| lookup.exists([table]).unwrap_or(false))
}

/// Refreshes the expiry of those of `items` put with a time to live ([`Item::refresh`]),
/// in the database and in `items`, in the transaction that read them.
fn refresh_items(
    tx: &rusqlite::Connection,
    items: &mut [Item],
    now: Timestamp,
) -> rusqlite::Result<()> {
    let mut refresh = tx.prepare_cached(sql::REFRESH_ITEM)?;
    for item in items.iter_mut() {
        if !item.refresh(now) {
            continue;
        }
        refresh.execute(params![
            item.namespace.joined(),
            item.key,
            item.expires_at.map(Timestamp::as_micros)
        ])?;
    }
    Ok(())
}

/// An item row (in `ITEM_COLUMNS`' order), decoded.
fn item_row(row: &Row<'_>) -> rusqlite::Result<Result<Item>> {
    Ok(decode_item(stored_values(row)?))
}

/// `relations` with each table's total: its own bytes and those of its indexes.
fn with_index_totals(mut relations: Vec<Relation>) -> Vec<Relation> {
    let mut index_bytes: HashMap<String, u64> = HashMap::new();
    for index in relations.iter().filter(|r| r.kind == RelationKind::Index) {
        *index_bytes.entry(index.table.clone()).or_default() += index.bytes;
    }
    for relation in &mut relations {
        relation.total_bytes = match relation.kind {
            RelationKind::Table => relation.bytes + index_bytes.get(&relation.name).unwrap_or(&0),
            RelationKind::Index => relation.bytes,
        };
    }
    relations
}

/// The size of the write-ahead log beside the database `file` (0 when there is none, as
/// after the last connection closed it); `None` for an in-memory database.
fn wal_bytes(file: &str) -> Result<Option<u64>> {
    if file.is_empty() {
        return Ok(None);
    }
    let wal = format!("{file}-wal");
    match std::fs::metadata(&wal) {
        Ok(metadata) => Ok(Some(metadata.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(0)),
        Err(e) => Err(Error::database(
            BACKEND,
            "measuring the write-ahead log",
            Context::wrap(format!("cannot read {wal}"), e),
        )),
    }
}

/// Carries an engram error (a rule broken inside a transaction) out through rusqlite, so that
/// the transaction rolls back; [`db_error`] takes it out again.
fn engram_error(err: Error) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(err))
}

/// Fixes the store's dimensions to `given` (the dimensions of what is being written) when
/// none are fixed yet, and checks that they are the store's; nothing to do for `None`.
fn check_dimensions(tx: &rusqlite::Connection, given: Option<usize>) -> rusqlite::Result<()> {
    let Some(given) = given else {
        return Ok(());
    };
    tx.prepare_cached(sql::FIX_DIMENSIONS)?
        .execute([given as i64])?;
    let stored = stored_dimensions(tx)?;
    Embedding::dimension_mismatch_check(given, stored).map_err(engram_error)
}

/// The store's dimensions, once fixed.
fn stored_dimensions(conn: &rusqlite::Connection) -> rusqlite::Result<Option<usize>> {
    conn.prepare_cached(sql::DIMENSIONS)?
        .query_row([], |row| row.get::<_, i64>(0))
        .optional()
        .map(|found| found.map(|n| usize::try_from(n).unwrap_or(0)))
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

/// A row's values as engram's decoders take them.
fn stored_values<'r>(row: &'r Row<'_>) -> rusqlite::Result<Vec<StoredValue<'r>>> {
    let columns = row.as_ref().column_count();
    let mut values = Vec::with_capacity(columns);
    for index in 0..columns {
        values.push(match row.get_ref(index)? {
            ValueRef::Null => StoredValue::Null,
            ValueRef::Integer(n) => StoredValue::Integer(n),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => StoredValue::Text(text.into()),
                Err(_) => StoredValue::Other("text that is not UTF-8".to_string()),
            },
            ValueRef::Real(x) => StoredValue::Real(x),
            ValueRef::Blob(bytes) => StoredValue::Blob(bytes),
        });
    }
    Ok(values)
}

/// A memory row decoded in place (its text is not copied first); the driver's error is the
/// outer one, the decoder's the inner one.
fn memory_row(row: &Row<'_>) -> rusqlite::Result<Result<Memory>> {
    Ok(decode_memory(stored_values(row)?))
}

/// A cluster row decoded in place, as [`memory_row`].
fn cluster_row(row: &Row<'_>) -> rusqlite::Result<Result<Cluster>> {
    Ok(decode_cluster(stored_values(row)?))
}

/// Appends one history event per (memory id, kind, changes) at the audit's time and actor;
/// nothing when the audit keeps no history.
fn record(
    tx: &Transaction<'_>,
    audit: &Audit,
    events: impl IntoIterator<Item = (String, EventKind, String)>,
) -> rusqlite::Result<()> {
    if !audit.history {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(sql::RECORD_EVENT)?;
    for (id, kind, changes) in events {
        insert.execute(params![
            id,
            kind.as_str(),
            changes,
            audit.at.as_micros(),
            audit.actor
        ])?;
    }
    Ok(())
}

/// The ids a statement's `RETURNING id` gives.
fn returned_ids(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<String>> {
    statement
        .query_map(params, |row| row.get::<_, String>(0))?
        .collect()
}

/// The rows, or the first decoding error among them.
fn all_decoded<T>(rows: Vec<Result<T>>) -> Result<Vec<T>> {
    rows.into_iter().collect()
}

impl MemoryBackend for SqliteStore {
    fn kind(&self) -> BackendKind {
        BACKEND
    }

    fn insert_memories(
        &self,
        memories: &[Memory],
        on_conflict: OnConflict,
        audit: &Audit,
    ) -> Result<u64> {
        let statement = sql::insert_memory(on_conflict);
        let reads = if memories.len() > 1 {
            FileReads::Unmapped
        } else {
            FileReads::Mapped
        };
        self.write_reading(reads, "inserting memories", |tx| {
            check_dimensions(tx, common_dimensions(memories).map_err(engram_error)?)?;
            let mut insert = tx.prepare_cached(statement)?;
            let mut put_embedding = tx.prepare_cached(sql::PUT_EMBEDDING)?;
            let mut written = 0u64;
            let mut inserted_rows = Vec::with_capacity(memories.len());
            for m in memories {
                let inserted = insert.execute(params![
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
                    m.expires_at.map(Timestamp::as_micros),
                ])? as u64;
                if inserted == 1 {
                    inserted_rows.push(m);
                    if let Some(embedding) = &m.embedding {
                        put_embedding
                            .execute(params![m.id.to_string(), embedding.to_le_bytes()])?;
                    }
                }
                written += inserted;
            }
            record(
                tx,
                audit,
                inserted_rows
                    .iter()
                    .map(|m| (m.id.to_string(), EventKind::Insert, changes_of_insert(m))),
            )?;
            index::index_inserted(tx, inserted_rows)?;
            Ok(written)
        })
    }

    fn get_memory(&self, id: Uuid, with_embedding: bool, now: Timestamp) -> Result<Option<Memory>> {
        self.read("reading a memory", |conn| {
            conn.prepare_cached(sql::get_memory(with_embedding))?
                .query_row(params![id.to_string(), now.as_micros()], memory_row)
                .optional()
        })
        .and_then(Option::transpose)
    }

    fn update_memory(
        &self,
        id: Uuid,
        update: &MemoryUpdate,
        now: Timestamp,
        audit: &Audit,
    ) -> Result<Option<Memory>> {
        self.write("updating a memory", |tx| {
            if let Some(Some(embedding)) = &update.embedding {
                check_dimensions(tx, Some(embedding.dimensions()))?;
            }
            let before = if audit.history {
                tx.prepare_cached(sql::get_memory(update.embedding.is_some()))?
                    .query_row(params![id.to_string(), now.as_micros()], memory_row)
                    .optional()?
                    .transpose()
                    .map_err(engram_error)?
            } else {
                None
            };
            let updated = tx
                .prepare_cached(sql::update_memory())?
                .query_row(
                    params![
                        id.to_string(),
                        now.as_micros(),
                        update.content,
                        update.metadata.as_ref().map(json_text),
                        update.tier,
                        update.score,
                        update
                            .related_threads
                            .as_ref()
                            .map(|t| json_text(&Value::from(t.clone()))),
                        update.summarized,
                        update.expires_at.is_some(),
                        update.expires_at.flatten().map(Timestamp::as_micros),
                    ],
                    memory_row,
                )
                .optional()?;
            match (&updated, &update.embedding) {
                (Some(_), Some(Some(embedding))) => {
                    tx.prepare_cached(sql::PUT_EMBEDDING)?
                        .execute(params![id.to_string(), embedding.to_le_bytes()])?;
                }
                (Some(_), Some(None)) => {
                    tx.prepare_cached(sql::DELETE_EMBEDDING)?
                        .execute([id.to_string()])?;
                }
                _ => {}
            }
            if let (Some(before), Some(Ok(after))) = (&before, &updated) {
                let changes =
                    changes_of_update_with_embedding(before, after, update.embedding.as_ref())
                        .to_string();
                record(tx, audit, [(id.to_string(), EventKind::Update, changes)])?;
            }
            Ok(updated)
        })
        .and_then(Option::transpose)
    }

    fn delete_memory(&self, id: Uuid, now: Timestamp, audit: &Audit) -> Result<bool> {
        self.write("deleting a memory", |tx| {
            let deleted = tx
                .prepare_cached(sql::DELETE_MEMORY)?
                .query_row(params![id.to_string()], |row| row.get::<_, Option<i64>>(0))
                .optional()?;
            if deleted.is_some() {
                let event = (
                    id.to_string(),
                    EventKind::Delete,
                    changes_of_delete().to_string(),
                );
                record(tx, audit, [event])?;
            }
            Ok(now.deleted_live(deleted.map(|at| at.map(Timestamp::from_micros))))
        })
    }

    fn sweep_expired(&self, now: Timestamp, limit: u64, audit: &Audit) -> Result<u64> {
        self.write("sweeping expired memories", |tx| {
            let limit = sql_count(limit);
            let deleted = returned_ids(
                &mut tx.prepare_cached(sql::SWEEP_EXPIRED)?,
                params![now.as_micros(), limit],
            )?;
            let count = deleted.len() as u64;
            let events = deleted
                .into_iter()
                .map(|id| (id, EventKind::Expire, changes_of_delete().to_string()));
            record(tx, audit, events)?;
            Ok(count)
        })
    }

    fn history(&self, id: Uuid) -> Result<Vec<HistoryEvent>> {
        self.read("reading a memory's history", |conn| {
            conn.prepare_cached(sql::history())?
                .query_map([id.to_string()], |row| {
                    Ok(decode_event(stored_values(row)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .and_then(all_decoded)
    }

    fn prune_history(&self, before: Timestamp) -> Result<u64> {
        self.immediate("pruning history", |tx| {
            Ok(tx.execute(sql::PRUNE_HISTORY, [before.as_micros()])? as u64)
        })
    }

    fn count_expired(&self, now: Timestamp) -> Result<u64> {
        self.count_at("counting expired memories", sql::COUNT_EXPIRED, now)
    }

    fn query_memories(&self, query: &MemoryQuery) -> Result<Vec<Memory>> {
        let plan = QueryPlan::select(query);
        self.run_plan("querying memories", &plan, memory_row, |_| Ok(()))
            .and_then(all_decoded)
    }

    fn export_memories(
        &self,
        query: &MemoryQuery,
        each: &mut dyn FnMut(Memory) -> ControlFlow<()>,
    ) -> Result<u64> {
        let plan = QueryPlan::select(query);
        // One deferred transaction, unmapped: its snapshot starts at the first read (the index's
        // candidates) and holds until the last row is stepped.
        let reads = FileReads::Unmapped;
        self.transaction(
            TransactionBehavior::Deferred,
            reads,
            "exporting memories",
            |conn| {
                let statement = select_statement(conn, &plan)?;
                let mut prepared = conn.prepare_cached(&statement.clause)?;
                let mut rows = prepared.query(params_from_iter(statement.params.iter()))?;
                let mut passed = 0;
                while let Some(row) = rows.next()? {
                    let memory = decode_memory(stored_values(row)?).map_err(engram_error)?;
                    passed += 1;
                    if each(memory).is_break() {
                        break;
                    }
                }
                Ok(passed)
            },
        )
    }

    fn count_memories(&self, query: &MemoryQuery) -> Result<u64> {
        let plan = QueryPlan::count(query);
        self.read_snapshot("counting memories", |conn| {
            let index = index_plan(conn, &plan)?;
            // Exact candidates and no other condition: they are the count.
            if let Some(index) = index.as_ref().filter(|i| i.is_the_answer()) {
                return Ok(index.refs.len() as u64);
            }
            let count = sql::memory_statement(&plan, index.map(IndexPlan::statement_part));
            conn.prepare_cached(&count.clause)?
                .query_row(params_from_iter(count.params.iter()), |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n as u64)
        })
    }

    fn nearest_memories(&self, query: &NearestQuery) -> Result<Vec<Neighbour>> {
        // SQLite has no approximate index: every search is exact.
        let plan = QueryPlan::nearest(query, Search::Exact);
        let check = |conn: &rusqlite::Connection| {
            let stored = stored_dimensions(conn)?;
            query.vector.check_dimensions(stored).map_err(engram_error)
        };
        self.run_plan(
            "searching memories by vector",
            &plan,
            |row| Ok(decode_neighbour(stored_values(row)?)),
            check,
        )
        .and_then(all_decoded)
    }

    fn vector_dimensions(&self) -> Result<Option<usize>> {
        self.read("reading the store's dimensions", stored_dimensions)
    }

    /// Always available on SQLite.
    fn vector_support(&self) -> Result<VectorSupport> {
        Ok(VectorSupport::Available)
    }

    /// Always available on SQLite.
    fn enable_vectors(&self) -> Result<()> {
        Ok(())
    }

    fn create_vector_index(&self, _index: &VectorIndex) -> Result<()> {
        Err(Error::Unsupported {
            backend: BACKEND,
            what: "create an approximate vector index".to_string(),
            reason: "SQLite always searches exactly, and has no approximate (HNSW) index; \
                     approximate indexes are a PostgreSQL feature"
                .to_string(),
        })
    }

    fn drop_vector_index(&self, _metric: Metric) -> Result<bool> {
        Ok(false)
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
                cluster_row,
            )
        })
        .and_then(|cluster| cluster)
    }

    fn get_clusters(&self, query: &ClusterQuery) -> Result<Vec<Cluster>> {
        self.read("reading clusters", |conn| {
            conn.prepare_cached(sql::get_clusters())?
                .query_map(
                    params![query.user_id, query.topic, query.category],
                    cluster_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .and_then(all_decoded)
    }

    fn delete_cluster(&self, cluster_id: Uuid) -> Result<bool> {
        self.write("deleting a cluster", |tx| {
            Ok(tx.execute(sql::DELETE_CLUSTER, [cluster_id.to_string()])? > 0)
        })
    }

    fn count_clusters(&self) -> Result<u64> {
        self.read("counting clusters", |conn| {
            conn.prepare_cached(sql::COUNT_CLUSTERS)?
                .query_row([], |row| row.get::<_, i64>(0))
        })
        .map(|count| u64::try_from(count).unwrap_or(0))
    }

    fn run_policies(
        &self,
        policies: &[TierPolicy],
        now: Timestamp,
        audit: &Audit,
    ) -> Result<PolicyReport> {
        self.write("running tier policies", |tx| {
            let mut report = PolicyReport::default();
            for statement in PolicyStatement::plan(policies, now) {
                let events: Vec<(String, EventKind, String)> = match &statement {
                    PolicyStatement::Delete { tier, by, cutoff } => returned_ids(
                        &mut tx.prepare_cached(sql::policy_delete(*by == AgeOf::Updated))?,
                        params![tier, cutoff.as_micros()],
                    )?
                    .into_iter()
                    .map(|id| (id, EventKind::Retention, changes_of_delete().to_string()))
                    .collect(),
                    PolicyStatement::Move { tier, to, cutoff } => returned_ids(
                        &mut tx.prepare_cached(sql::policy_move())?,
                        params![to, now.as_micros(), tier, cutoff.as_micros()],
                    )?
                    .into_iter()
                    .map(|id| (id, EventKind::Move, changes_of_move(tier, to).to_string()))
                    .collect(),
                    PolicyStatement::Trim { tier, max_chars } => {
                        let trim = params![max_chars, now.as_micros(), tier];
                        let before: HashMap<String, String> = if audit.history {
                            tx.prepare_cached(sql::policy_trim_before())?
                                .query_map(trim, |row| Ok((row.get(0)?, row.get(1)?)))?
                                .collect::<rusqlite::Result<_>>()?
                        } else {
                            HashMap::new()
                        };
                        tx.prepare_cached(sql::policy_trim())?
                            .query_map(trim, |row| {
                                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                            })?
                            .map(|row| {
                                let (id, after) = row?;
                                let was = before.get(&id).map_or("", String::as_str);
                                let changes = changes_of_trim(was, &after).to_string();
                                Ok((id, EventKind::Trim, changes))
                            })
                            .collect::<rusqlite::Result<_>>()?
                    }
                };
                report.steps.push(statement.step(events.len() as u64));
                record(tx, audit, events)?;
            }
            Ok(report)
        })
    }

    fn update_index(&self, batch: u64, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        // Memories another program inserted have no ref yet: queue them too.
        let queued = self.immediate("queueing unindexed memories", |tx| {
            index::queue_unindexed(tx)?;
            index::queued(tx)
        })?;
        let batch = sql_count(batch.max(1));
        let mut applied = 0;
        loop {
            let step = self.immediate("updating the containment index", |tx| {
                index::apply_queue_limited(tx, batch)
            })?;
            if step == 0 {
                return Ok(applied);
            }
            applied += step;
            progress(applied, queued.max(applied));
        }
    }

    fn check_index(&self) -> Result<IndexCheck> {
        self.read_snapshot("checking the containment index", index::check)
    }

    fn put_item(
        &self,
        namespace: &Namespace,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<Item> {
        let (expires_at, ttl_micros) = put_expiry(ttl, now);
        let expires_at = expires_at.map(Timestamp::as_micros);
        self.immediate("putting an item", |tx| {
            tx.prepare_cached(sql::put_item())?.query_row(
                params![
                    namespace.joined(),
                    key,
                    json_text(value),
                    now.as_micros(),
                    expires_at,
                    ttl_micros
                ],
                item_row,
            )
        })?
    }

    fn sweep_items(&self, now: Timestamp, limit: u64) -> Result<u64> {
        self.immediate("sweeping expired items", |tx| {
            let limit = sql_count(limit);
            let deleted = tx
                .prepare_cached(sql::SWEEP_ITEMS)?
                .execute(params![now.as_micros(), limit])?;
            Ok(deleted as u64)
        })
    }

    fn get_item(
        &self,
        namespace: &Namespace,
        key: &str,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Option<Item>> {
        let read = |conn: &rusqlite::Connection| {
            conn.prepare_cached(sql::get_item())?
                .query_row(params![namespace.joined(), key, now.as_micros()], item_row)
                .optional()
        };
        if !refresh {
            return self.read("reading an item", read)?.transpose();
        }
        self.immediate("reading an item", |tx| {
            let Some(item) = read(tx)? else {
                return Ok(None);
            };
            let mut items = vec![item.map_err(engram_error)?];
            refresh_items(tx, &mut items, now)?;
            Ok(items.pop())
        })
    }

    fn delete_item(&self, namespace: &Namespace, key: &str, now: Timestamp) -> Result<bool> {
        let deleted = self.immediate("deleting an item", |tx| {
            tx.prepare_cached(sql::DELETE_ITEM)?
                .query_row(params![namespace.joined(), key], |row| {
                    row.get::<_, Option<i64>>(0)
                })
                .optional()
        })?;
        Ok(now.deleted_live(deleted.map(|at| at.map(Timestamp::from_micros))))
    }

    fn search_items(&self, search: &ItemSearch, now: Timestamp) -> Result<Vec<Item>> {
        let (clause, values) = sql::search_items(search, now);
        let behavior = if search.refresh {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        };
        self.transaction(behavior, FileReads::Mapped, "searching items", |tx| {
            let mut items = tx
                .prepare_cached(&clause)?
                .query_map(params_from_iter(values.iter()), item_row)?
                .map(|item| item?.map_err(engram_error))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if search.refresh {
                refresh_items(tx, &mut items, now)?;
            }
            Ok(items)
        })
    }

    fn count_expired_items(&self, now: Timestamp) -> Result<u64> {
        self.count_at("counting expired items", sql::COUNT_EXPIRED_ITEMS, now)
    }

    fn item_namespaces(
        &self,
        prefix: Option<&PrefixRange>,
        now: Timestamp,
    ) -> Result<Vec<Namespace>> {
        let (clause, values) = sql::item_namespaces(prefix, now);
        self.read("listing namespaces", |conn| {
            conn.prepare_cached(&clause)?
                .query_map(params_from_iter(values.iter()), |row| {
                    Ok(Namespace::from_joined(row.get_ref(0)?.as_str()?))
                })?
                .collect()
        })
    }

    fn storage(&self) -> Result<Storage> {
        let (storage, file) = self.read_snapshot("measuring the database", |conn| {
            let relations = conn
                .prepare(sql::RELATIONS)?
                .query_map([], |row| {
                    let kind = match row.get_ref(1)?.as_str()? {
                        "index" => RelationKind::Index,
                        _ => RelationKind::Table,
                    };
                    Ok(Relation {
                        name: row.get(0)?,
                        kind,
                        table: row.get(2)?,
                        bytes: row.get::<_, i64>(3)? as u64,
                        total_bytes: 0,
                        scans: None,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut problems = conn
                .prepare(sql::QUICK_CHECK)?
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            problems.retain(|line| line != "ok");
            let database_bytes =
                conn.query_row(sql::DATABASE_BYTES, [], |row| row.get::<_, i64>(0))?;
            let file: String = conn.query_row(sql::DATABASE_FILE, [], |row| row.get(0))?;
            let storage = Storage {
                relations: with_index_totals(relations),
                index_usage_tracked: false,
                unused_indexes: Vec::new(),
                integrity: Integrity {
                    checks: vec!["quick_check".to_string()],
                    problems,
                },
                wal_bytes: None,
                database_bytes: database_bytes as u64,
            };
            Ok((storage, file))
        })?;
        Ok(Storage {
            wal_bytes: wal_bytes(&file)?,
            ..storage
        })
    }

    fn stats(&self, user_id: Option<&str>, now: Timestamp) -> Result<Stats> {
        self.read("computing statistics", |conn| {
            let rows = conn
                .prepare_cached(sql::stats())?
                .query_map(params![user_id, now.as_micros()], |row| {
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
    fn an_sql_error_with_the_tables_present_is_not_a_schema_error() {
        let store = SqliteStore::open(&SqliteLocation::Memory, &PoolOptions::default()).unwrap();
        // Every table the schema check looks for, with the newest column it asks about.
        let tables: String = DATA_TABLES
            .iter()
            .map(|table| format!("CREATE TABLE {table} (id, expires_at);"))
            .collect();
        store
            .write("creating tables", |tx| tx.execute_batch(&tables))
            .unwrap();
        let err = store
            .read("running a bad statement", |conn| {
                conn.execute_batch("SELECT no_such_function()")
            })
            .unwrap_err();
        assert_eq!(err.kind(), engram_core::ErrorKind::Database, "{err}");
        let missing = store
            .read("reading a missing table", |conn| {
                conn.execute_batch("SELECT * FROM no_such_table")
            })
            .unwrap_err();
        assert_eq!(
            missing.kind(),
            engram_core::ErrorKind::Database,
            "{missing}"
        );
        assert!(std::error::Error::source(&missing).is_some());
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
