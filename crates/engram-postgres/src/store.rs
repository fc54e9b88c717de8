//! The PostgreSQL store: the connection pool, and [`MemoryBackend`] over it.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{GenericClient, IsolationLevel, Row, Statement};
use r2d2::{ManageConnection, Pool, PooledConnection};
use serde_json::Value;
use uuid::Uuid;

use engram_core::health::MAX_PROBLEMS;
use engram_core::history::{
    changes_of_delete, changes_of_insert, changes_of_move, changes_of_trim,
    changes_of_update_with_embedding,
};
use engram_core::index::IndexCheck;
use engram_core::item::{put_expiry, Item, ItemSearch, Namespace, PrefixRange};
use engram_core::plan::{sql_count, QueryPlan};
use engram_core::policy::PolicyStatement;
use engram_core::row::{
    decode_cluster, decode_clusters, decode_event, decode_found_memory, decode_item,
    decode_memories, decode_memory, decode_neighbours, StoredValue,
};
use engram_core::vector::common_dimensions;
use engram_core::{
    AgeOf, Audit, BackendKind, Cluster, ClusterQuery, ClusterUpsert, Dsn, Embedding, Error,
    EventKind, HistoryEvent, Integrity, Memory, MemoryBackend, MemoryQuery, MemoryUpdate, Metric,
    NearestQuery, Neighbour, OnConflict, PolicyReport, PoolOptions, Relation, RelationKind, Result,
    Search, Stats, Storage, TierPolicy, Timestamp, VectorIndex, VectorSupport,
};

use crate::connection::{PgConnection, PgConnectionManager, ServerError};
use crate::copy::{self, CopyError};
use crate::sql;

const BACKEND: BackendKind = BackendKind::Postgres;

/// Rows per `INSERT … SELECT FROM unnest(…)` statement where many are inserted without
/// `COPY` (an import that met a concurrent writer of the same ids).
const INSERT_CHUNK: usize = 5_000;

/// Batches of at least this many memories are written with `COPY`; smaller ones (one
/// `Store::insert`) with one `INSERT`, which takes one round trip where `COPY` takes two.
const COPY_MIN_ROWS: usize = 2;

/// An engram store on PostgreSQL. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool<PgConnectionManager>,
    dsn: String,
    /// The lock timeout each connection is given (`None`: the DSN's options set it).
    lock_timeout: Option<std::time::Duration>,
    /// Set once the embeddings table has been seen (pgvector enabled in this database).
    vectors_seen: Arc<AtomicBool>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("dsn", &self.dsn)
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`). One connection
    /// is opened at once, so that a wrong URL or a server that is down fails here with a clear
    /// error; the rest of the pool fills on demand.
    pub fn open(url: &str, options: &PoolOptions) -> Result<Self> {
        let redacted = Dsn::Postgres(url.to_string()).to_string();
        let mut config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| Error::InvalidDsn {
                    dsn: redacted.clone(),
                    reason: e.to_string(),
                })?;
        // The DSN's connect_timeout wins; it bounds the whole handshake, not only the TCP
        // connect as in the driver.
        let connect_timeout = match config.get_connect_timeout() {
            Some(timeout) => *timeout,
            None => {
                config.connect_timeout(options.connection_timeout);
                options.connection_timeout
            }
        };
        // A statement waits at most the busy timeout for a lock another session holds, as
        // on SQLite: set on each new connection, unless the DSN's `options` set it already.
        let lock_timeout = match config.get_options() {
            Some(given) if given.contains("lock_timeout") => None,
            _ => Some(options.busy_timeout),
        };
        if config.get_application_name().is_none() {
            config.application_name("engram");
        }
        let manager = PgConnectionManager::new(config, connect_timeout, lock_timeout);
        manager
            .connect()
            .map_err(|e| connection_error(&redacted, e))?;
        let pool = Pool::builder()
            .max_size(options.max_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.connection_timeout)
            .build_unchecked(manager);
        Ok(PostgresStore {
            pool,
            dsn: redacted,
            lock_timeout,
            vectors_seen: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The URL this store was opened with, password removed.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// Checks a connection out of the pool (migrations use this).
    pub fn connection(&self) -> Result<PooledConnection<PgConnectionManager>> {
        self.pool.get().map_err(|e| connection_error(&self.dsn, e))
    }

    /// Runs `work` (a migration) on a pooled connection without the store's lock timeout:
    /// DDL waits for the locks it needs as long as they take (a `CREATE INDEX CONCURRENTLY`
    /// cut short would leave an invalid index behind). The timeout is set back afterwards.
    pub fn without_lock_timeout<T>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> T,
    ) -> Result<T> {
        let mut conn = self.connection()?;
        let Some(timeout) = self.lock_timeout else {
            return Ok(work(conn.client()));
        };
        let set = |conn: &mut PgConnection, millis: u128| {
            conn.client()
                .batch_execute(&format!("SET lock_timeout = {millis}"))
                .map_err(|e| db_error("setting the lock timeout", e))
        };
        set(&mut conn, 0)?;
        let done = work(conn.client());
        set(&mut conn, timeout.as_millis())?;
        Ok(done)
    }

    fn with_connection<T>(
        &self,
        context: &str,
        work: impl FnOnce(&mut PgConnection) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut conn = self.connection()?;
        work(&mut conn).map_err(|e| db_error(context, e))
    }

    /// [`PostgresStore::with_connection`] for work that can also break one of engram's rules
    /// (a transaction it opened rolls back when the error drops it).
    fn with_checks<T>(
        &self,
        context: &str,
        work: impl FnOnce(&mut PgConnection) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut conn = self.connection()?;
        work(&mut conn).map_err(|failure| match failure {
            Failure::Driver(e) => db_error(context, e),
            Failure::Rule(e) => e,
        })
    }

    /// The count `statement` gives for the time `now` bound to its $1.
    fn count_at(&self, context: &str, statement: &str, now: Timestamp) -> Result<u64> {
        self.with_connection(context, |conn| {
            let statement = conn.prepared(statement)?;
            conn.query_one(&statement, &[&now.to_system_time()])?
                .try_get::<_, i64>(0)
        })
        .map(|count| u64::try_from(count).unwrap_or(0))
    }

    /// Whether this database has the embeddings table (pgvector enabled); a yes is kept.
    fn vectors_enabled(&self, conn: &mut PgConnection) -> std::result::Result<bool, Failure> {
        if self.vectors_seen.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let statement = conn.prepared(sql::VECTORS_READY)?;
        let row = conn.query_one(&statement, &[])?;
        let (embeddings, schema): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
        if !schema {
            return Err(Failure::Rule(Error::Schema {
                backend: BACKEND,
                source: Box::new(engram_core::Message(
                    "the table embedding_space does not exist (migration 0002 is not applied)"
                        .to_string(),
                )),
            }));
        }
        self.vectors_seen.store(embeddings, Ordering::Relaxed);
        Ok(embeddings)
    }

    /// Checks that this database can do vector work (`what`), or says why not and how to
    /// make it able.
    fn require_vectors(
        &self,
        conn: &mut PgConnection,
        what: &str,
    ) -> std::result::Result<(), Failure> {
        if self.vectors_enabled(conn)? {
            return Ok(());
        }
        let statement = conn.prepared(sql::PGVECTOR_STATE)?;
        let row = conn.query_one(&statement, &[])?;
        let (available, created): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
        let reason = if !available {
            "the pgvector extension is not installed on this PostgreSQL server; install it \
             (https://github.com/pgvector/pgvector#installation; Debian and Ubuntu: \
             apt-get install postgresql-<major version>-pgvector), then run \
             `engram vectors enable`"
        } else if !created {
            "pgvector is installed on the server but not enabled in this database; run \
             `engram vectors enable` (creating the extension may need a superuser: if it \
             fails, have one run `CREATE EXTENSION vector` in this database first)"
        } else {
            "pgvector is enabled but engram's embeddings table is missing; run \
             `engram vectors enable`"
        };
        Err(Failure::Rule(Error::Unsupported {
            backend: BACKEND,
            what: what.to_string(),
            reason: reason.to_string(),
        }))
    }
}

impl PostgresStore {
    /// The plan of selecting `query`'s memories: without pgvector there is no embedding to
    /// read.
    fn select_plan<'q>(
        &self,
        conn: &mut PgConnection,
        query: &'q MemoryQuery,
    ) -> std::result::Result<QueryPlan<'q>, Failure> {
        let mut plan = QueryPlan::select(query);
        plan.with_embeddings = plan.with_embeddings && self.vectors_enabled(conn)?;
        Ok(plan)
    }

    /// [`MemoryBackend::insert_memories`] of a batch smaller than [`COPY_MIN_ROWS`]: one
    /// `INSERT` (and one for the embeddings), in a transaction only when there are
    /// embeddings.
    fn insert_few(
        &self,
        memories: &[Memory],
        on_conflict: OnConflict,
        audit: &Audit,
    ) -> Result<u64> {
        let rows: Vec<&Memory> = memories.iter().collect();
        if !memories.iter().any(|m| m.embedding.is_some()) {
            // One statement is atomic on its own: no transaction, one round trip.
            if !audit.history {
                let statement = sql::insert_memories(on_conflict);
                return self.with_connection("inserting memories", |conn| {
                    let insert = conn.prepared(statement)?;
                    insert_chunk(conn.client(), &insert, &rows)
                });
            }
            let statement = sql::insert_memories_with_history(on_conflict);
            return self.with_connection("inserting memories", |conn| {
                let insert = conn.prepared(statement)?;
                let params = insert_params(&rows);
                let changes: Vec<String> = rows.iter().map(|m| changes_of_insert(m)).collect();
                let at = audit.at.to_system_time();
                let mut values = params.refs().to_vec();
                values.extend([
                    &changes as &(dyn postgres::types::ToSql + Sync),
                    &at,
                    &audit.actor,
                ]);
                conn.execute(&insert, &values)
            });
        }
        self.with_checks("inserting memories", |conn| {
            let given = common_dimensions(memories)?;
            let insert_embeddings = match given {
                Some(_) => {
                    self.require_vectors(conn, "store embeddings")?;
                    Some(conn.prepared(sql::INSERT_EMBEDDINGS)?)
                }
                None => None,
            };
            let insert = conn.prepared(sql::insert_memories_returning_ids(on_conflict))?;
            let record_events = conn.prepared(sql::RECORD_EVENTS)?;
            let mut tx = conn.client().transaction()?;
            check_dimensions(&mut tx, given)?;
            let written =
                insert_chunk_with_embeddings(&mut tx, &insert, insert_embeddings.as_ref(), &rows)?;
            Ok(commit_inserted(tx, &record_events, audit, &written)?)
        })
    }

    /// [`MemoryBackend::insert_memories`] with `COPY … FROM STDIN (FORMAT binary)`, in one
    /// transaction: the memories, then their embeddings. With [`OnConflict::Fail`] a stored
    /// id (or one given twice) fails the `COPY`, and with it the whole batch. With
    /// [`OnConflict::Skip`], which `COPY` cannot do, the ids already stored are read first
    /// and left out, as is every repeat of an id within the batch (its first occurrence is
    /// the one written, as on SQLite); should another session store one of the same ids
    /// meanwhile, the `COPY` fails on it, is rolled back to a savepoint, and the batch is
    /// written again with `INSERT … ON CONFLICT DO NOTHING`.
    fn copy_memories(
        &self,
        memories: &[Memory],
        on_conflict: OnConflict,
        audit: &Audit,
    ) -> Result<u64> {
        self.with_checks("inserting memories", |conn| {
            let record_events = conn.prepared(sql::RECORD_EVENTS)?;
            let given = common_dimensions(memories)?;
            if given.is_some() {
                self.require_vectors(conn, "store embeddings")?;
            }
            let copy_memories = conn.prepared(sql::copy_memories())?;
            let copy_embeddings = match given {
                Some(_) => Some(conn.prepared(sql::COPY_EMBEDDINGS)?),
                None => None,
            };
            let copy = |client: &mut postgres::Transaction<'_>, rows: &[&Memory]| {
                let written = copy::memories(client, &copy_memories, rows.iter().copied())?;
                if let Some(copy_embeddings) = &copy_embeddings {
                    copy::embeddings(client, copy_embeddings, rows.iter().copied())?;
                }
                Ok::<u64, CopyError>(written)
            };
            match on_conflict {
                OnConflict::Fail => {
                    let rows: Vec<&Memory> = memories.iter().collect();
                    let mut tx = conn.client().transaction()?;
                    check_dimensions(&mut tx, given)?;
                    copy(&mut tx, &rows)?;
                    Ok(commit_inserted(tx, &record_events, audit, &rows)?)
                }
                OnConflict::Skip => {
                    let stored_ids = conn.prepared(sql::STORED_IDS)?;
                    let insert = conn.prepared(sql::insert_memories_returning_ids(on_conflict))?;
                    let insert_embeddings = match given {
                        Some(_) => Some(conn.prepared(sql::INSERT_EMBEDDINGS)?),
                        None => None,
                    };
                    let ids: Vec<Uuid> = memories.iter().map(|m| m.id).collect();
                    let mut tx = conn.client().transaction()?;
                    check_dimensions(&mut tx, given)?;
                    let mut taken: HashSet<Uuid> = tx
                        .query(&stored_ids, &[&ids])?
                        .iter()
                        .map(|row| row.try_get(0))
                        .collect::<Result<_, _>>()?;
                    let new: Vec<&Memory> =
                        memories.iter().filter(|m| taken.insert(m.id)).collect();
                    if new.is_empty() {
                        tx.commit()?;
                        return Ok(0);
                    }
                    let mut savepoint = tx.savepoint("engram_copy")?;
                    let written = match copy(&mut savepoint, &new) {
                        Ok(_) => {
                            savepoint.commit()?;
                            new
                        }
                        Err(CopyError::Driver(e))
                            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
                        {
                            savepoint.rollback()?;
                            let mut written = Vec::with_capacity(new.len());
                            for chunk in new.chunks(INSERT_CHUNK) {
                                written.extend(insert_chunk_with_embeddings(
                                    &mut tx,
                                    &insert,
                                    insert_embeddings.as_ref(),
                                    chunk,
                                )?);
                            }
                            written
                        }
                        Err(other) => return Err(other.into()),
                    };
                    Ok(commit_inserted(tx, &record_events, audit, &written)?)
                }
            }
        })
    }

    /// The approximate search of `query`, or `None` where it cannot give k rows: no index
    /// for the metric, more candidates than HNSW returns (`hnsw.ef_search` is at most
    /// 1,000), or fewer rows than asked for (a selective filter), so that the caller
    /// searches exactly instead.
    fn approximate_nearest(
        &self,
        conn: &mut PgConnection,
        query: &NearestQuery,
    ) -> std::result::Result<Option<Vec<Vec<StoredValue<'static>>>>, Failure> {
        const MAX_EF_SEARCH: u64 = 1_000;
        const DEFAULT_EF_SEARCH: u64 = 40;
        let wanted = query.k.saturating_add(query.offset);
        if query.k == 0 || wanted > MAX_EF_SEARCH {
            return Ok(None);
        }
        let exists = conn.prepared(sql::RELATION_EXISTS)?;
        let has_index: bool = conn
            .query_one(&exists, &[&sql::vector_index_name(query.metric)])?
            .try_get(0)?;
        if !has_index {
            return Ok(None);
        }
        let select = sql::Filter::of(&QueryPlan::nearest(query, Search::Approximate));
        let statement = conn.prepared(&select.clause)?;
        let mut tx = conn.client().transaction()?;
        let ef_search = wanted.max(DEFAULT_EF_SEARCH).to_string();
        tx.execute(sql::SET_EF_SEARCH, &[&ef_search])?;
        let rows = tx
            .query(&statement, &select.param_refs())?
            .iter()
            .map(stored_values)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok((rows.len() as u64 == query.k).then_some(rows))
    }
}

/// Why work on a connection failed: the driver, or one of engram's rules.
enum Failure {
    Driver(postgres::Error),
    Rule(Error),
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Failure::Driver(e)
    }
}

impl From<CopyError> for Failure {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::Driver(e) => Failure::Driver(e),
            CopyError::Io(e) => Failure::Rule(e),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Rule(e)
    }
}

/// The store's dimensions, once fixed.
fn stored_dimensions(
    client: &mut impl GenericClient,
) -> std::result::Result<Option<usize>, Failure> {
    let row = client.query_opt(sql::DIMENSIONS, &[])?;
    Ok(row
        .map(|row| row.try_get::<_, i32>(0))
        .transpose()?
        .map(|n| usize::try_from(n).unwrap_or(0)))
}

/// Fixes the store's dimensions to `given` (the dimensions of what is being written) when
/// none are fixed yet, and checks that they are the store's (inside the caller's
/// transaction); nothing to do for `None`.
fn check_dimensions(
    tx: &mut impl GenericClient,
    given: Option<usize>,
) -> std::result::Result<(), Failure> {
    let Some(given) = given else {
        return Ok(());
    };
    tx.execute(sql::FIX_DIMENSIONS, &[&(given as i32)])?;
    let stored = stored_dimensions(tx)?;
    Ok(Embedding::dimension_mismatch_check(given, stored)?)
}

fn pg_vector(embedding: &Embedding) -> pgvector::Vector {
    pgvector::Vector::from(embedding.as_slice().to_vec())
}

/// An [`Error::Connection`] for the database at `dsn` (password already removed).
fn connection_error(dsn: &str, source: impl Into<engram_core::Source>) -> Error {
    Error::Connection {
        backend: BACKEND,
        dsn: dsn.to_string(),
        source: source.into(),
    }
}

/// Maps a driver error to engram's, recognising a missing schema and duplicate ids.
fn db_error(context: &str, err: postgres::Error) -> Error {
    match err.code() {
        // A table, or a column of a later migration (an older schema), is missing.
        Some(code) if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN => {
            Error::Schema {
                backend: BACKEND,
                source: Box::new(ServerError(err)),
            }
        }
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => Error::Conflict {
            what: "memory",
            detail: ServerError(err).to_string(),
        },
        _ => Error::database(BACKEND, context, ServerError(err)),
    }
}

/// A row's values as engram's decoders take them.
fn stored_values(row: &Row) -> Result<Vec<StoredValue<'static>>, postgres::Error> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::TEXT => row
                .try_get::<_, Option<String>>(index)?
                .map(|text| StoredValue::Text(text.into())),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map(|n| StoredValue::Integer(n.into())),
            Type::INT8 => row
                .try_get::<_, Option<i64>>(index)?
                .map(StoredValue::Integer),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map(StoredValue::Bool),
            Type::UUID => row
                .try_get::<_, Option<Uuid>>(index)?
                .map(StoredValue::Uuid),
            Type::JSONB => row
                .try_get::<_, Option<Value>>(index)?
                .map(StoredValue::Json),
            Type::TIMESTAMPTZ => row
                .try_get::<_, Option<SystemTime>>(index)?
                .map(|at| StoredValue::Time(Timestamp::from_system_time(at))),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.map(StoredValue::Real),
            ref other if other.name() == "vector" => row
                .try_get::<_, Option<pgvector::Vector>>(index)?
                .map(|vector| StoredValue::Floats(vector.to_vec())),
            ref other => Some(StoredValue::Other(format!("a value of type {other}"))),
        };
        values.push(value.unwrap_or(StoredValue::Null));
    }
    Ok(values)
}

/// The rows of a rendered plan, as engram's decoders take them.
fn rows_of(
    conn: &mut PgConnection,
    select: &sql::Filter,
) -> Result<Vec<Vec<StoredValue<'static>>>, postgres::Error> {
    let statement = conn.prepared(&select.clause)?;
    conn.query(&statement, &select.param_refs())?
        .iter()
        .map(stored_values)
        .collect()
}

fn related_json(threads: &[String]) -> Value {
    Value::from(threads.to_vec())
}

/// Inserts `chunk` with one `INSERT … SELECT FROM unnest(…)` statement; returns how many
/// rows it wrote.
fn insert_chunk(
    client: &mut impl GenericClient,
    insert: &Statement,
    chunk: &[&Memory],
) -> Result<u64, postgres::Error> {
    if chunk.is_empty() {
        return Ok(0);
    }
    client.execute(insert, &insert_params(chunk).refs())
}

/// Inserts `chunk` with a statement of [`sql::insert_memories_returning_ids`], then with
/// `insert_embeddings` the embeddings of the memories it wrote (not of those it skipped);
/// returns the memories it wrote, in `chunk`'s order. The ids of `chunk` are distinct.
fn insert_chunk_with_embeddings<'m>(
    client: &mut impl GenericClient,
    insert: &Statement,
    insert_embeddings: Option<&Statement>,
    chunk: &[&'m Memory],
) -> Result<Vec<&'m Memory>, postgres::Error> {
    let written: HashSet<Uuid> = client
        .query(insert, &insert_params(chunk).refs())?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let (ids, vectors): (Vec<Uuid>, Vec<pgvector::Vector>) = chunk
        .iter()
        .filter(|m| written.contains(&m.id))
        .filter_map(|m| Some((m.id, pg_vector(m.embedding.as_ref()?))))
        .unzip();
    if let Some(insert_embeddings) = insert_embeddings.filter(|_| !ids.is_empty()) {
        client.execute(insert_embeddings, &[&ids, &vectors])?;
    }
    Ok(chunk
        .iter()
        .copied()
        .filter(|m| written.contains(&m.id))
        .collect())
}

/// Appends one history event per (memory id, kind, changes) with `record`
/// ([`sql::RECORD_EVENTS`]) at the audit's time and actor, in one statement; nothing when
/// the audit keeps no history.
fn record(
    client: &mut impl GenericClient,
    record: &Statement,
    audit: &Audit,
    events: impl IntoIterator<Item = (Uuid, EventKind, String)>,
) -> Result<(), postgres::Error> {
    if !audit.history {
        return Ok(());
    }
    let (mut ids, mut kinds, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    for (id, kind, change) in events {
        ids.push(id);
        kinds.push(kind.as_str());
        changes.push(change);
    }
    if ids.is_empty() {
        return Ok(());
    }
    let at = audit.at.to_system_time();
    client.execute(record, &[&ids, &kinds, &changes, &at, &audit.actor])?;
    Ok(())
}

/// The ids a statement's `RETURNING id` gave.
fn returned_ids(rows: Vec<postgres::Row>) -> Result<Vec<Uuid>, postgres::Error> {
    rows.iter().map(|row| row.try_get(0)).collect()
}

/// How a batch insert ends, whichever path wrote it: the insert events of `written` (when
/// the audit keeps history), then the commit; returns how many were written.
fn commit_inserted(
    mut tx: postgres::Transaction<'_>,
    record_events: &Statement,
    audit: &Audit,
    written: &[&Memory],
) -> Result<u64, postgres::Error> {
    let events = written
        .iter()
        .map(|m| (m.id, EventKind::Insert, changes_of_insert(m)));
    record(&mut tx, record_events, audit, events)?;
    tx.commit()?;
    Ok(written.len() as u64)
}

/// The parallel arrays of an insert of `chunk`, one per column.
struct InsertParams<'m> {
    ids: Vec<Uuid>,
    users: Vec<&'m str>,
    namespaces: Vec<&'m str>,
    threads: Vec<Option<&'m str>>,
    tiers: Vec<&'m str>,
    contents: Vec<&'m str>,
    scores: Vec<i32>,
    metadata: Vec<&'m Value>,
    related: Vec<Value>,
    summarized: Vec<bool>,
    created: Vec<SystemTime>,
    updated: Vec<SystemTime>,
    expires: Vec<Option<SystemTime>>,
}

impl InsertParams<'_> {
    fn refs(&self) -> [&(dyn postgres::types::ToSql + Sync); 13] {
        [
            &self.ids,
            &self.users,
            &self.namespaces,
            &self.threads,
            &self.tiers,
            &self.contents,
            &self.scores,
            &self.metadata,
            &self.related,
            &self.summarized,
            &self.created,
            &self.updated,
            &self.expires,
        ]
    }
}

fn insert_params<'m>(chunk: &[&'m Memory]) -> InsertParams<'m> {
    let ids: Vec<Uuid> = chunk.iter().map(|m| m.id).collect();
    let users: Vec<&str> = chunk.iter().map(|m| m.user_id.as_str()).collect();
    let namespaces: Vec<&str> = chunk.iter().map(|m| m.namespace.as_str()).collect();
    let threads: Vec<Option<&str>> = chunk.iter().map(|m| m.thread_id.as_deref()).collect();
    let tiers: Vec<&str> = chunk.iter().map(|m| m.tier.as_str()).collect();
    let contents: Vec<&str> = chunk.iter().map(|m| m.content.as_str()).collect();
    let scores: Vec<i32> = chunk.iter().map(|m| m.score).collect();
    let metadata: Vec<&Value> = chunk.iter().map(|m| &m.metadata).collect();
    let related: Vec<Value> = chunk
        .iter()
        .map(|m| related_json(&m.related_threads))
        .collect();
    let summarized: Vec<bool> = chunk.iter().map(|m| m.summarized).collect();
    let created: Vec<SystemTime> = chunk
        .iter()
        .map(|m| m.created_at.to_system_time())
        .collect();
    let updated: Vec<SystemTime> = chunk
        .iter()
        .map(|m| m.updated_at.to_system_time())
        .collect();
    InsertParams {
        ids,
        users,
        namespaces,
        threads,
        tiers,
        contents,
        scores,
        metadata,
        related,
        summarized,
        created,
        updated,
        expires: chunk
            .iter()
            .map(|m| m.expires_at.map(Timestamp::to_system_time))
            .collect(),
    }
}

impl MemoryBackend for PostgresStore {
    fn kind(&self) -> BackendKind {
        BACKEND
    }

    fn insert_memories(
        &self,
        memories: &[Memory],
        on_conflict: OnConflict,
        audit: &Audit,
    ) -> Result<u64> {
        if memories.len() >= COPY_MIN_ROWS {
            return self.copy_memories(memories, on_conflict, audit);
        }
        self.insert_few(memories, on_conflict, audit)
    }

    fn get_memory(&self, id: Uuid, with_embedding: bool, now: Timestamp) -> Result<Option<Memory>> {
        self.with_checks("reading a memory", |conn| {
            // Without pgvector there is no embedding to read.
            let with_embedding = with_embedding && self.vectors_enabled(conn)?;
            let statement = conn.prepared(sql::get_memory(with_embedding))?;
            Ok(conn
                .query_opt(&statement, &[&id, &now.to_system_time()])?
                .map(|row| stored_values(&row))
                .transpose()?)
        })
        .and_then(decode_found_memory)
    }

    fn update_memory(
        &self,
        id: Uuid,
        update: &MemoryUpdate,
        now: Timestamp,
        audit: &Audit,
    ) -> Result<Option<Memory>> {
        let related = update.related_threads.as_deref().map(related_json);
        self.with_checks("updating a memory", |conn| {
            let embedding_change = match &update.embedding {
                Some(Some(_)) => {
                    self.require_vectors(conn, "store embeddings")?;
                    true
                }
                // Without pgvector there is no embedding to remove.
                Some(None) => self.vectors_enabled(conn)?,
                None => false,
            };
            let statement = conn.prepared(sql::update_memory())?;
            let lock = conn.prepared(sql::lock_memory(embedding_change))?;
            let record_events = conn.prepared(sql::RECORD_EVENTS)?;
            let mut tx = conn.client().transaction()?;
            if let Some(Some(embedding)) = &update.embedding {
                check_dimensions(&mut tx, Some(embedding.dimensions()))?;
            }
            let before = if audit.history {
                let row = tx.query_opt(&lock, &[&id, &now.to_system_time()])?;
                decode_found_memory(row.map(|row| stored_values(&row)).transpose()?)?
            } else {
                None
            };
            let expiry = update
                .expires_at
                .map(|at| at.map(Timestamp::to_system_time));
            let row = tx.query_opt(
                &statement,
                &[
                    &id,
                    &now.to_system_time(),
                    &update.content,
                    &update.metadata,
                    &update.tier,
                    &update.score,
                    &related,
                    &update.summarized,
                    &expiry.is_some(),
                    &expiry.flatten(),
                ],
            )?;
            if row.is_some() && embedding_change {
                match &update.embedding {
                    Some(Some(embedding)) => {
                        tx.execute(sql::PUT_EMBEDDING, &[&id, &pg_vector(embedding)])?
                    }
                    _ => tx.execute(sql::DELETE_EMBEDDING, &[&id])?,
                };
            }
            let after = decode_found_memory(row.map(|row| stored_values(&row)).transpose()?)?;
            if let (Some(before), Some(after)) = (&before, &after) {
                let changes =
                    changes_of_update_with_embedding(before, after, update.embedding.as_ref())
                        .to_string();
                record(
                    &mut tx,
                    &record_events,
                    audit,
                    [(id, EventKind::Update, changes)],
                )?;
            }
            tx.commit()?;
            Ok(after)
        })
    }

    fn delete_memory(&self, id: Uuid, now: Timestamp, audit: &Audit) -> Result<bool> {
        self.with_connection("deleting a memory", |conn| {
            let statement = conn.prepared(sql::DELETE_MEMORY)?;
            let record_events = conn.prepared(sql::RECORD_EVENTS)?;
            let mut tx = conn.client().transaction()?;
            let deleted = tx
                .query_opt(&statement, &[&id])?
                .map(|row| row.try_get::<_, Option<SystemTime>>(0))
                .transpose()?;
            if deleted.is_some() {
                let event = (id, EventKind::Delete, changes_of_delete().to_string());
                record(&mut tx, &record_events, audit, [event])?;
            }
            tx.commit()?;
            Ok(now.deleted_live(deleted.map(|at| at.map(Timestamp::from_system_time))))
        })
    }

    fn sweep_expired(&self, now: Timestamp, limit: u64, audit: &Audit) -> Result<u64> {
        self.with_connection("sweeping expired memories", |conn| {
            let statement = conn.prepared(sql::SWEEP_EXPIRED)?;
            let record_events = conn.prepared(sql::RECORD_EVENTS)?;
            let limit = sql_count(limit);
            let mut tx = conn.client().transaction()?;
            let deleted = returned_ids(tx.query(&statement, &[&now.to_system_time(), &limit])?)?;
            let count = deleted.len() as u64;
            let events = deleted
                .into_iter()
                .map(|id| (id, EventKind::Expire, changes_of_delete().to_string()));
            record(&mut tx, &record_events, audit, events)?;
            tx.commit()?;
            Ok(count)
        })
    }

    fn history(&self, id: Uuid) -> Result<Vec<HistoryEvent>> {
        self.with_connection("reading a memory's history", |conn| {
            let statement = conn.prepared(sql::history())?;
            conn.query(&statement, &[&id])?
                .iter()
                .map(stored_values)
                .collect::<Result<Vec<_>, _>>()
        })
        .and_then(|rows| rows.into_iter().map(decode_event).collect())
    }

    fn prune_history(&self, before: Timestamp) -> Result<u64> {
        self.with_connection("pruning history", |conn| {
            let statement = conn.prepared(sql::PRUNE_HISTORY)?;
            conn.execute(&statement, &[&before.to_system_time()])
        })
    }

    fn count_expired(&self, now: Timestamp) -> Result<u64> {
        self.count_at("counting expired memories", sql::COUNT_EXPIRED, now)
    }

    fn query_memories(&self, query: &MemoryQuery) -> Result<Vec<Memory>> {
        self.with_checks("querying memories", |conn| {
            let plan = self.select_plan(conn, query)?;
            Ok(rows_of(conn, &sql::Filter::of(&plan))?)
        })
        .and_then(decode_memories)
    }

    fn export_memories(
        &self,
        query: &MemoryQuery,
        each: &mut dyn FnMut(Memory) -> ControlFlow<()>,
    ) -> Result<u64> {
        /// Rows fetched from the portal per round trip.
        const EXPORT_PAGE: i32 = 1_000;
        self.with_checks("exporting memories", |conn| {
            let plan = self.select_plan(conn, query)?;
            let select = sql::Filter::of(&plan);
            let statement = conn.prepared(&select.clause)?;
            // REPEATABLE READ: the snapshot is taken by the transaction's first statement
            // (the portal's) and serves every page fetched from it.
            let mut tx = conn
                .client()
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let portal = tx.bind(&statement, &select.param_refs())?;
            let mut passed = 0;
            'pages: loop {
                let page = tx.query_portal(&portal, EXPORT_PAGE)?;
                for row in &page {
                    passed += 1;
                    if each(decode_memory(stored_values(row)?)?).is_break() {
                        break 'pages;
                    }
                }
                if page.len() < EXPORT_PAGE as usize {
                    break;
                }
            }
            drop(portal);
            tx.commit()?;
            Ok(passed)
        })
    }

    fn count_memories(&self, query: &MemoryQuery) -> Result<u64> {
        let count = sql::Filter::of(&QueryPlan::count(query));
        self.with_connection("counting memories", |conn| {
            let statement = conn.prepared(&count.clause)?;
            let n: i64 = conn
                .query_one(&statement, &count.param_refs())?
                .try_get(0)?;
            Ok(n as u64)
        })
    }

    fn nearest_memories(&self, query: &NearestQuery) -> Result<Vec<Neighbour>> {
        self.with_checks("searching memories by vector", |conn| {
            self.require_vectors(conn, "search by vector")?;
            let stored = stored_dimensions(conn.client())?;
            query.vector.check_dimensions(stored)?;
            if query.search == Search::Approximate {
                if let Some(rows) = self.approximate_nearest(conn, query)? {
                    return Ok(rows);
                }
            }
            let exact = sql::Filter::of(&QueryPlan::nearest(query, Search::Exact));
            Ok(rows_of(conn, &exact)?)
        })
        .and_then(decode_neighbours)
    }

    fn vector_dimensions(&self) -> Result<Option<usize>> {
        self.with_checks("reading the store's dimensions", |conn| {
            stored_dimensions(conn.client())
        })
    }

    fn vector_support(&self) -> Result<VectorSupport> {
        self.with_checks("checking for pgvector", |conn| {
            match self.require_vectors(conn, "store or search embeddings") {
                Ok(()) => Ok(VectorSupport::Available),
                Err(Failure::Rule(Error::Unsupported { reason, .. })) => {
                    Ok(VectorSupport::Unavailable { reason })
                }
                Err(other) => Err(other),
            }
        })
    }

    fn enable_vectors(&self) -> Result<()> {
        self.with_checks("enabling vectors", |conn| {
            let statement = conn.prepared(sql::ENABLE_VECTORS)?;
            let enabled: bool = conn.query_one(&statement, &[])?.try_get(0)?;
            if !enabled {
                self.require_vectors(conn, "enable vectors")?;
            }
            self.vectors_seen.store(true, Ordering::Relaxed);
            Ok(())
        })
    }

    fn create_vector_index(&self, index: &VectorIndex) -> Result<()> {
        index.check()?;
        let dimensions = self.with_checks("creating a vector index", |conn| {
            self.require_vectors(conn, "create a vector index")?;
            let stored = stored_dimensions(conn.client())?;
            let Some(dimensions) = stored else {
                return Err(Error::invalid(
                    "vector index",
                    "this store has no embeddings yet, so their dimensions are not fixed; \
                     store embeddings first",
                )
                .into());
            };
            if dimensions > VectorIndex::MAX_DIMENSIONS {
                return Err(Error::invalid(
                    "vector index",
                    format!(
                        "pgvector's HNSW index takes at most {} dimensions; this store's \
                         embeddings have {dimensions} (exact search has no such limit)",
                        VectorIndex::MAX_DIMENSIONS
                    ),
                )
                .into());
            }
            Ok(dimensions)
        })?;
        // Building an index takes as long as it takes: no lock timeout.
        self.without_lock_timeout(|client| {
            let mut tx = client.transaction()?;
            tx.batch_execute(&sql::drop_vector_index(index.metric))?;
            tx.batch_execute(&sql::create_vector_index(index, dimensions))?;
            tx.commit()
        })?
        .map_err(|e| db_error("creating a vector index", e))
    }

    fn drop_vector_index(&self, metric: Metric) -> Result<bool> {
        self.with_connection("dropping a vector index", |conn| {
            let exists = conn.prepared(sql::RELATION_EXISTS)?;
            let existed: bool = conn
                .query_one(&exists, &[&sql::vector_index_name(metric)])?
                .try_get(0)?;
            conn.batch_execute(&sql::drop_vector_index(metric))?;
            Ok(existed)
        })
    }

    fn upsert_cluster(
        &self,
        cluster: &ClusterUpsert,
        cluster_id: Uuid,
        now: Timestamp,
    ) -> Result<Cluster> {
        let ids = Value::from(
            cluster
                .memory_ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>(),
        );
        self.with_connection("upserting a cluster", |conn| {
            let statement = conn.prepared(sql::upsert_cluster())?;
            let row = conn.query_one(
                &statement,
                &[
                    &cluster_id,
                    &cluster.user_id,
                    &cluster.topic,
                    &cluster.category,
                    &ids,
                    &cluster.summary,
                    &(cluster.memory_ids.len() as i64),
                    &now.to_system_time(),
                ],
            )?;
            stored_values(&row)
        })
        .and_then(decode_cluster)
    }

    fn get_clusters(&self, query: &ClusterQuery) -> Result<Vec<Cluster>> {
        self.with_connection("reading clusters", |conn| {
            let statement = conn.prepared(sql::get_clusters())?;
            conn.query(&statement, &[&query.user_id, &query.topic, &query.category])?
                .iter()
                .map(stored_values)
                .collect::<Result<Vec<_>, _>>()
        })
        .and_then(decode_clusters)
    }

    fn delete_cluster(&self, cluster_id: Uuid) -> Result<bool> {
        self.with_connection("deleting a cluster", |conn| {
            let statement = conn.prepared(sql::DELETE_CLUSTER)?;
            Ok(conn.execute(&statement, &[&cluster_id])? > 0)
        })
    }

    fn count_clusters(&self) -> Result<u64> {
        self.with_connection("counting clusters", |conn| {
            let statement = conn.prepared(sql::COUNT_CLUSTERS)?;
            Ok(conn.query_one(&statement, &[])?.get::<_, i64>(0))
        })
        .map(|count| u64::try_from(count).unwrap_or(0))
    }

    fn run_policies(
        &self,
        policies: &[TierPolicy],
        now: Timestamp,
        audit: &Audit,
    ) -> Result<PolicyReport> {
        self.with_connection("running tier policies", |conn| {
            let record_events = conn.prepared(sql::RECORD_EVENTS)?;
            let mut tx = conn.client().transaction()?;
            let mut report = PolicyReport::default();
            let now_time = now.to_system_time();
            for statement in PolicyStatement::plan(policies, now) {
                let events: Vec<(Uuid, EventKind, String)> = match &statement {
                    PolicyStatement::Delete { tier, by, cutoff } => returned_ids(tx.query(
                        sql::policy_delete(*by == AgeOf::Updated),
                        &[tier, &cutoff.to_system_time()],
                    )?)?
                    .into_iter()
                    .map(|id| (id, EventKind::Retention, changes_of_delete().to_string()))
                    .collect(),
                    PolicyStatement::Move { tier, to, cutoff } => returned_ids(tx.query(
                        sql::policy_move(),
                        &[to, &now_time, tier, &cutoff.to_system_time()],
                    )?)?
                    .into_iter()
                    .map(|id| (id, EventKind::Move, changes_of_move(tier, to).to_string()))
                    .collect(),
                    PolicyStatement::Trim { tier, max_chars } => {
                        let limit = i32::try_from(*max_chars).unwrap_or(i32::MAX);
                        tx.query(sql::policy_trim(), &[&limit, &now_time, tier])?
                            .iter()
                            .map(|row| {
                                let (before, after): (&str, &str) =
                                    (row.try_get(1)?, row.try_get(2)?);
                                Ok((
                                    row.try_get(0)?,
                                    EventKind::Trim,
                                    changes_of_trim(before, after).to_string(),
                                ))
                            })
                            .collect::<Result<_, postgres::Error>>()?
                    }
                };
                report.steps.push(statement.step(events.len() as u64));
                record(&mut tx, &record_events, audit, events)?;
            }
            tx.commit()?;
            Ok(report)
        })
    }

    /// PostgreSQL keeps its GIN indexes itself: nothing is ever queued.
    fn update_index(&self, _batch: u64, _progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        Ok(0)
    }

    /// PostgreSQL keeps its GIN indexes itself (`amcheck` checks them where installed).
    fn check_index(&self) -> Result<IndexCheck> {
        Ok(IndexCheck::default())
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
        let expires_at = expires_at.map(Timestamp::to_system_time);
        self.with_connection("putting an item", |conn| {
            let statement = conn.prepared(sql::put_item())?;
            let row = conn.query_one(
                &statement,
                &[
                    &namespace.joined(),
                    &key,
                    value,
                    &now.to_system_time(),
                    &expires_at,
                    &ttl_micros,
                ],
            )?;
            stored_values(&row)
        })
        .and_then(decode_item)
    }

    fn sweep_items(&self, now: Timestamp, limit: u64) -> Result<u64> {
        self.with_connection("sweeping expired items", |conn| {
            let statement = conn.prepared(sql::SWEEP_ITEMS)?;
            let limit = sql_count(limit);
            conn.execute(&statement, &[&now.to_system_time(), &limit])
        })
    }

    fn get_item(
        &self,
        namespace: &Namespace,
        key: &str,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Option<Item>> {
        let params: [&(dyn postgres::types::ToSql + Sync); 3] =
            [&namespace.joined(), &key, &now.to_system_time()];
        if !refresh {
            return self
                .with_connection("reading an item", |conn| {
                    let statement = conn.prepared(sql::get_item())?;
                    conn.query_opt(&statement, &params)?
                        .map(|row| stored_values(&row))
                        .transpose()
                })?
                .map(decode_item)
                .transpose();
        }
        self.with_checks("reading an item", |conn| {
            let statement = conn.prepared(sql::get_item_for_update())?;
            let mut tx = conn.client().transaction()?;
            let Some(row) = tx.query_opt(&statement, &params)? else {
                return Ok(None);
            };
            let mut items = vec![decode_item(stored_values(&row)?).map_err(Failure::Rule)?];
            refresh_items(&mut tx, &mut items, now)?;
            tx.commit()?;
            Ok(items.pop())
        })
    }

    fn delete_item(&self, namespace: &Namespace, key: &str, now: Timestamp) -> Result<bool> {
        self.with_connection("deleting an item", |conn| {
            let statement = conn.prepared(sql::DELETE_ITEM)?;
            let expiry = conn.query_opt(&statement, &[&namespace.joined(), &key])?;
            expiry
                .map(|row| row.try_get::<_, Option<SystemTime>>(0))
                .transpose()
        })
        .map(|deleted| now.deleted_live(deleted.map(|at| at.map(Timestamp::from_system_time))))
    }

    fn search_items(&self, search: &ItemSearch, now: Timestamp) -> Result<Vec<Item>> {
        let statement = sql::Filter::search_items(search, now);
        self.with_checks("searching items", |conn| {
            let prepared = conn.prepared(&statement.clause)?;
            let decode = |rows: Vec<Row>| {
                rows.iter()
                    .map(|row| decode_item(stored_values(row)?).map_err(Failure::Rule))
                    .collect::<std::result::Result<Vec<_>, Failure>>()
            };
            if !search.refresh {
                return decode(conn.query(&prepared, &statement.param_refs())?);
            }
            let mut tx = conn.client().transaction()?;
            let mut items = decode(tx.query(&prepared, &statement.param_refs())?)?;
            refresh_items(&mut tx, &mut items, now)?;
            tx.commit()?;
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
        let [exact, from, until] = prefix.map_or([None; 3], |range| range.bounds().map(Some));
        self.with_connection("listing namespaces", |conn| {
            let statement = conn.prepared(sql::item_namespaces())?;
            conn.query(&statement, &[&now.to_system_time(), &exact, &from, &until])?
                .iter()
                .map(|row| row.try_get::<_, String>(0))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .map(|joined| joined.iter().map(|ns| Namespace::from_joined(ns)).collect())
    }

    fn storage(&self) -> Result<Storage> {
        self.with_connection("measuring the database", |conn| {
            let statement = conn.prepared(sql::RELATIONS)?;
            let mut relations = Vec::new();
            let mut unused_indexes = Vec::new();
            for row in conn.query(&statement, &[])? {
                let is_index: bool = row.try_get(1)?;
                let scans = row.try_get::<_, Option<i64>>(5)?.map(|n| n.max(0) as u64);
                let name: String = row.try_get(0)?;
                if is_index && scans == Some(0) && !row.try_get::<_, bool>(6)? {
                    unused_indexes.push(name.clone());
                }
                relations.push(Relation {
                    name,
                    kind: if is_index {
                        RelationKind::Index
                    } else {
                        RelationKind::Table
                    },
                    table: row.try_get(2)?,
                    bytes: row.try_get::<_, i64>(3)?.max(0) as u64,
                    total_bytes: row.try_get::<_, i64>(4)?.max(0) as u64,
                    scans,
                });
            }
            unused_indexes.sort();
            let database_bytes: i64 = conn.query_one(sql::DATABASE_BYTES, &[])?.try_get(0)?;
            Ok(Storage {
                relations,
                index_usage_tracked: true,
                unused_indexes,
                integrity: integrity(conn)?,
                wal_bytes: None,
                database_bytes: database_bytes.max(0) as u64,
            })
        })
    }

    fn stats(&self, user_id: Option<&str>, now: Timestamp) -> Result<Stats> {
        self.with_connection("computing statistics", |conn| {
            let statement = conn.prepared(sql::stats())?;
            let rows = conn
                .query(&statement, &[&user_id, &now.to_system_time()])?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get::<_, i64>(2)? as u64,
                    ))
                })
                .collect::<Result<Vec<(String, String, u64)>, postgres::Error>>()?;
            Ok(Stats::from_rows(rows))
        })
    }
}

/// Refreshes the expiry of those of `items` put with a time to live ([`Item::refresh`]),
/// in the database and in `items`, in the transaction `tx` that read (and locked) them.
fn refresh_items(
    tx: &mut postgres::Transaction<'_>,
    items: &mut [Item],
    now: Timestamp,
) -> std::result::Result<(), postgres::Error> {
    let (mut namespaces, mut keys, mut expiries) = (Vec::new(), Vec::new(), Vec::new());
    for item in items.iter_mut() {
        if !item.refresh(now) {
            continue;
        }
        namespaces.push(item.namespace.joined());
        keys.push(item.key.clone());
        expiries.push(item.expires_at.map(Timestamp::to_system_time));
    }
    if !keys.is_empty() {
        tx.execute(sql::REFRESH_ITEMS, &[&namespaces, &keys, &expiries])?;
    }
    Ok(())
}

/// The integrity checks PostgreSQL offers without extensions (no index left invalid by a
/// failed concurrent build) and, where amcheck is installed and this role may run it, its
/// check of every B-tree index.
fn integrity(conn: &mut PgConnection) -> std::result::Result<Integrity, postgres::Error> {
    let mut integrity = Integrity {
        checks: vec!["valid_indexes".to_string()],
        problems: Vec::new(),
    };
    for row in conn.query(sql::INVALID_INDEXES, &[])? {
        let name: String = row.try_get(0)?;
        integrity.problems.push(format!(
            "index {name} is invalid (a concurrent build failed): drop it and create it again"
        ));
    }
    if !conn
        .query_one(sql::AMCHECK_INSTALLED, &[])?
        .try_get::<_, bool>(0)?
    {
        return Ok(integrity);
    }
    let check = conn.prepared(sql::CHECK_BTREE)?;
    for row in conn.query(sql::BTREE_INDEXES, &[])? {
        let (oid, name): (u32, String) = (row.try_get(0)?, row.try_get(1)?);
        match conn.query(&check, &[&oid]) {
            Ok(_) => {}
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => return Ok(integrity),
            Err(e) => match e.as_db_error() {
                Some(found) if integrity.problems.len() < MAX_PROBLEMS => integrity
                    .problems
                    .push(format!("index {name}: {}", found.message())),
                Some(_) => {}
                None => return Err(e),
            },
        }
    }
    integrity.checks.push("amcheck".to_string());
    Ok(integrity)
}
