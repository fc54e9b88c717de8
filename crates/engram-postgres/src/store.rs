//! The PostgreSQL store: the connection pool, and [`MemoryBackend`] over it.

use std::time::SystemTime;

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{GenericClient, Row, Statement};
use r2d2::{ManageConnection, Pool, PooledConnection};
use serde_json::Value;
use uuid::Uuid;

use engram_core::plan::QueryPlan;
use engram_core::policy::PolicyStatement;
use engram_core::row::{
    decode_cluster, decode_clusters, decode_found_memory, decode_memories, StoredValue,
};
use engram_core::{
    BackendKind, Cluster, ClusterQuery, ClusterUpsert, Dsn, Error, Memory, MemoryBackend,
    MemoryQuery, MemoryUpdate, OnConflict, PolicyReport, PoolOptions, Result, Stats, TierPolicy,
    Timestamp,
};

use crate::connection::{PgConnection, PgConnectionManager, ServerError};
use crate::sql;

const BACKEND: BackendKind = BackendKind::Postgres;

/// Rows per `INSERT … SELECT FROM unnest(…)` statement when inserting many.
const INSERT_CHUNK: usize = 5_000;

/// An engram store on PostgreSQL. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool<PgConnectionManager>,
    dsn: String,
    /// The lock timeout each connection is given (`None`: the DSN's options set it).
    lock_timeout: Option<std::time::Duration>,
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
        Some(code) if *code == SqlState::UNDEFINED_TABLE => Error::Schema {
            backend: BACKEND,
            source: Box::new(ServerError(err)),
        },
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
            ref other => Some(StoredValue::Other(format!("a value of type {other}"))),
        };
        values.push(value.unwrap_or(StoredValue::Null));
    }
    Ok(values)
}

fn related_json(threads: &[String]) -> Value {
    Value::from(threads.to_vec())
}

/// Inserts `chunk` with one `INSERT … SELECT FROM unnest(…)` statement.
fn insert_chunk(
    client: &mut impl GenericClient,
    insert: &Statement,
    chunk: &[Memory],
) -> Result<u64, postgres::Error> {
    if chunk.is_empty() {
        return Ok(0);
    }
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
    client.execute(
        insert,
        &[
            &ids,
            &users,
            &namespaces,
            &threads,
            &tiers,
            &contents,
            &scores,
            &metadata,
            &related,
            &summarized,
            &created,
            &updated,
        ],
    )
}

impl MemoryBackend for PostgresStore {
    fn kind(&self) -> BackendKind {
        BACKEND
    }

    fn insert_memories(&self, memories: &[Memory], on_conflict: OnConflict) -> Result<u64> {
        let statement = sql::insert_memories(on_conflict);
        self.with_connection("inserting memories", |conn| {
            let insert = conn.prepared(statement)?;
            if memories.len() <= INSERT_CHUNK {
                // One statement is atomic on its own: no transaction, one round trip.
                return insert_chunk(conn.client(), &insert, memories);
            }
            let mut tx = conn.client().transaction()?;
            let mut written = 0;
            for chunk in memories.chunks(INSERT_CHUNK) {
                written += insert_chunk(&mut tx, &insert, chunk)?;
            }
            tx.commit()?;
            Ok(written)
        })
    }

    fn get_memory(&self, id: Uuid) -> Result<Option<Memory>> {
        self.with_connection("reading a memory", |conn| {
            let statement = conn.prepared(sql::get_memory())?;
            conn.query_opt(&statement, &[&id])?
                .map(|row| stored_values(&row))
                .transpose()
        })
        .and_then(decode_found_memory)
    }

    fn update_memory(
        &self,
        id: Uuid,
        update: &MemoryUpdate,
        now: Timestamp,
    ) -> Result<Option<Memory>> {
        let related = update.related_threads.as_deref().map(related_json);
        self.with_connection("updating a memory", |conn| {
            let statement = conn.prepared(sql::update_memory())?;
            conn.query_opt(
                &statement,
                &[
                    &id,
                    &update.content,
                    &update.metadata,
                    &update.tier,
                    &update.score,
                    &related,
                    &update.summarized,
                    &now.to_system_time(),
                ],
            )?
            .map(|row| stored_values(&row))
            .transpose()
        })
        .and_then(decode_found_memory)
    }

    fn delete_memory(&self, id: Uuid) -> Result<bool> {
        self.with_connection("deleting a memory", |conn| {
            let statement = conn.prepared(sql::DELETE_MEMORY)?;
            Ok(conn.execute(&statement, &[&id])? > 0)
        })
    }

    fn query_memories(&self, query: &MemoryQuery) -> Result<Vec<Memory>> {
        let select = sql::Filter::of(&QueryPlan::select(query));
        self.with_connection("querying memories", |conn| {
            let statement = conn.prepared(&select.clause)?;
            conn.query(&statement, &select.param_refs())?
                .iter()
                .map(stored_values)
                .collect::<Result<Vec<_>, _>>()
        })
        .and_then(decode_memories)
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

    fn run_policies(&self, policies: &[TierPolicy], now: Timestamp) -> Result<PolicyReport> {
        self.with_connection("running tier policies", |conn| {
            let mut tx = conn.client().transaction()?;
            let mut report = PolicyReport::default();
            let now_time = now.to_system_time();
            for statement in PolicyStatement::plan(policies, now) {
                let rows = match &statement {
                    PolicyStatement::Move { tier, to, cutoff } => tx.execute(
                        sql::POLICY_MOVE,
                        &[to, &now_time, tier, &cutoff.to_system_time()],
                    )?,
                    PolicyStatement::Trim { tier, max_chars } => {
                        let limit = i32::try_from(*max_chars).unwrap_or(i32::MAX);
                        tx.execute(sql::POLICY_TRIM, &[&limit, &now_time, tier])?
                    }
                };
                report.steps.push(statement.step(rows));
            }
            tx.commit()?;
            Ok(report)
        })
    }

    fn stats(&self, user_id: Option<&str>) -> Result<Stats> {
        self.with_connection("computing statistics", |conn| {
            let statement = conn.prepared(sql::STATS)?;
            let rows = conn
                .query(&statement, &[&user_id])?
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
