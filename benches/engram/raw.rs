//! The raw-driver baselines: the statements engram runs, written out by hand and run through
//! bare rusqlite and bare `postgres` with statements prepared once, decoding rows into the
//! same [`Memory`] and [`Cluster`] values engram returns. The ratio engram/raw is engram's own
//! overhead (pool checkout, validation, SQL building, statement cache lookup).

use std::time::SystemTime;

use postgres::types::ToSql;

use engram::{Cluster, Memory, NewMemory, Timestamp};
use serde_json::Value;
use uuid::Uuid;

/// The memory columns, in the order both backends read them.
const MEMORY_COLUMNS: &str = "id, user_id, namespace, thread_id, tier, content, score, \
     metadata, related_threads, summarized, created_at, updated_at";

const CLUSTER_COLUMNS: &str = "cluster_id, user_id, topic, category, memory_ids, summary, \
     memory_count, created_at, updated_at, last_built_at";

/// One SQL text per dialect.
pub struct Sql {
    pub sqlite: String,
    pub postgres: String,
}

pub fn get_by_id() -> Sql {
    Sql {
        sqlite: format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ?1"),
        postgres: format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id = $1"),
    }
}

/// `user_id = ? AND thread_id = ?`, newest first, one page.
pub fn user_thread() -> Sql {
    Sql {
        sqlite: format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND thread_id = ? \
             ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
        ),
        postgres: format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE user_id = $1 AND thread_id = $2 \
             ORDER BY updated_at DESC, id DESC LIMIT $3 OFFSET $4"
        ),
    }
}

/// One tier, `updated_at` before a cutoff, oldest first, one page.
pub fn tier_updated() -> Sql {
    Sql {
        sqlite: format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE tier = ? AND updated_at < ? \
             ORDER BY updated_at ASC, id ASC LIMIT ? OFFSET ?"
        ),
        postgres: format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE tier = $1 AND updated_at < $2 \
             ORDER BY updated_at ASC, id ASC LIMIT $3 OFFSET $4"
        ),
    }
}

/// Metadata containment, newest first, one page.
pub fn contains_page() -> Sql {
    Sql {
        sqlite: format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE engram_json_contains(metadata, ?) \
             ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
        ),
        postgres: format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE metadata @> $1::jsonb \
             ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3"
        ),
    }
}

/// How many memories' metadata contains the filter.
pub fn contains_count() -> Sql {
    Sql {
        sqlite: "SELECT count(*) FROM memories WHERE engram_json_contains(metadata, ?)".into(),
        postgres: "SELECT count(*) FROM memories WHERE metadata @> $1::jsonb".into(),
    }
}

pub fn clusters() -> Sql {
    Sql {
        sqlite: format!(
            "SELECT {CLUSTER_COLUMNS} FROM memory_clusters WHERE user_id = ?1 \
             AND (?2 IS NULL OR topic = ?2) AND (?3 IS NULL OR category = ?3) \
             ORDER BY topic, category"
        ),
        postgres: format!(
            "SELECT {CLUSTER_COLUMNS} FROM memory_clusters WHERE user_id = $1 \
             AND ($2::text IS NULL OR topic = $2) AND ($3::text IS NULL OR category = $3) \
             ORDER BY topic COLLATE \"C\", category COLLATE \"C\""
        ),
    }
}

pub fn insert_one() -> Sql {
    Sql {
        sqlite: "INSERT INTO memories (id, user_id, namespace, thread_id, tier, content, score, \
                 metadata, related_threads, summarized, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            .into(),
        postgres: "INSERT INTO memories (id, user_id, namespace, thread_id, tier, content, \
                   score, metadata, related_threads, summarized, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            .into(),
    }
}

/// PostgreSQL only: many rows in one statement from parallel arrays, as engram does.
pub const PG_INSERT_MANY: &str = "INSERT INTO memories (id, user_id, namespace, thread_id, \
     tier, content, score, metadata, related_threads, summarized, created_at, updated_at) \
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::int4[], $8::jsonb[], $9::jsonb[], $10::bool[], $11::timestamptz[], \
     $12::timestamptz[])";

/// A bare connection to the SQLite file, set up as engram sets up its own (WAL, synchronous
/// NORMAL, foreign keys, busy timeout, page cache, memory map, checkpoint interval), so that the two
/// differ only in engram's code.
pub fn sqlite_connection(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -32_768)?;
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(conn)
}

/// Registers engram's containment function on a bare rusqlite connection, so that the raw
/// baseline runs the same SQL function as the store and the ratio is engram's own overhead.
pub fn register_matcher(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    engram_sqlite::register_functions(conn)
}

fn conversion(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// A memory from a SQLite row of [`MEMORY_COLUMNS`].
pub fn sqlite_memory(row: &rusqlite::Row<'_>) -> rusqlite::Result<Memory> {
    let id: String = row.get(0)?;
    let metadata: String = row.get(7)?;
    let related: String = row.get(8)?;
    Ok(Memory {
        id: Uuid::parse_str(&id).map_err(conversion)?,
        user_id: row.get(1)?,
        namespace: row.get(2)?,
        thread_id: row.get(3)?,
        tier: row.get(4)?,
        content: row.get(5)?,
        score: row.get(6)?,
        metadata: serde_json::from_str(&metadata).map_err(conversion)?,
        related_threads: serde_json::from_str(&related).map_err(conversion)?,
        summarized: row.get(9)?,
        created_at: Timestamp::from_micros(row.get(10)?),
        updated_at: Timestamp::from_micros(row.get(11)?),
        expires_at: None,
        embedding: None,
    })
}

/// A cluster from a SQLite row of [`CLUSTER_COLUMNS`].
pub fn sqlite_cluster(row: &rusqlite::Row<'_>) -> rusqlite::Result<Cluster> {
    let id: String = row.get(0)?;
    let ids: String = row.get(4)?;
    let ids: Vec<Uuid> = serde_json::from_str(&ids).map_err(conversion)?;
    Ok(Cluster {
        cluster_id: Uuid::parse_str(&id).map_err(conversion)?,
        user_id: row.get(1)?,
        topic: row.get(2)?,
        category: row.get(3)?,
        memory_ids: ids,
        summary: row.get(5)?,
        memory_count: row.get(6)?,
        created_at: Timestamp::from_micros(row.get(7)?),
        updated_at: Timestamp::from_micros(row.get(8)?),
        last_built_at: Timestamp::from_micros(row.get(9)?),
    })
}

fn pg_time(row: &postgres::Row, index: usize) -> Timestamp {
    Timestamp::from_system_time(row.get::<_, SystemTime>(index))
}

/// A memory from a PostgreSQL row of [`MEMORY_COLUMNS`].
pub fn pg_memory(row: &postgres::Row) -> Memory {
    let related: Value = row.get(8);
    Memory {
        id: row.get(0),
        user_id: row.get(1),
        namespace: row.get(2),
        thread_id: row.get(3),
        tier: row.get(4),
        content: row.get(5),
        score: row.get(6),
        metadata: row.get(7),
        related_threads: serde_json::from_value(related).unwrap_or_default(),
        summarized: row.get(9),
        created_at: pg_time(row, 10),
        updated_at: pg_time(row, 11),
        expires_at: None,
        embedding: None,
    }
}

/// A cluster from a PostgreSQL row of [`CLUSTER_COLUMNS`].
pub fn pg_cluster(row: &postgres::Row) -> Cluster {
    let ids: Value = row.get(4);
    Cluster {
        cluster_id: row.get(0),
        user_id: row.get(1),
        topic: row.get(2),
        category: row.get(3),
        memory_ids: serde_json::from_value(ids).unwrap_or_default(),
        summary: row.get(5),
        memory_count: row.get(6),
        created_at: pg_time(row, 7),
        updated_at: pg_time(row, 8),
        last_built_at: pg_time(row, 9),
    }
}

/// A generated memory with every field given (the generator sets all but the namespace,
/// which the insert benchmarks set): what a hand-written insert would bind.
pub struct Row<'a> {
    pub id: Uuid,
    pub memory: &'a NewMemory,
    pub metadata: &'a Value,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl<'a> Row<'a> {
    pub fn of(memory: &'a NewMemory) -> Self {
        Row {
            id: memory.id.expect("generated memories have ids"),
            memory,
            metadata: memory
                .metadata
                .as_ref()
                .expect("generated memories have metadata"),
            created: memory
                .created_at
                .expect("generated memories have timestamps"),
            updated: memory
                .updated_at
                .expect("generated memories have timestamps"),
        }
    }

    pub fn namespace(&self) -> &str {
        self.memory.namespace.as_deref().unwrap_or("default")
    }

    pub fn tier(&self) -> &str {
        self.memory.tier.as_deref().unwrap_or("short_term")
    }

    pub fn score(&self) -> i32 {
        self.memory.score.unwrap_or(50)
    }
}

/// A memory's values as PostgreSQL takes them, in the column order of [`insert_one`] and
/// [`PG_COPY_TYPES`].
pub struct PgValues<'a> {
    row: Row<'a>,
    namespace: &'a str,
    tier: &'a str,
    score: i32,
    related: Value,
    created: std::time::SystemTime,
    updated: std::time::SystemTime,
}

impl<'a> PgValues<'a> {
    pub fn of(memory: &'a NewMemory) -> Self {
        let row = Row::of(memory);
        PgValues {
            namespace: memory.namespace.as_deref().unwrap_or("default"),
            tier: memory.tier.as_deref().unwrap_or("short_term"),
            score: row.score(),
            related: Value::from(memory.related_threads.clone()),
            created: row.created.to_system_time(),
            updated: row.updated.to_system_time(),
            row,
        }
    }

    pub fn refs(&self) -> [&(dyn ToSql + Sync); 12] {
        let (row, memory) = (&self.row, self.row.memory);
        [
            &row.id,
            &memory.user_id,
            &self.namespace,
            &memory.thread_id,
            &self.tier,
            &memory.content,
            &self.score,
            row.metadata,
            &self.related,
            &memory.summarized,
            &self.created,
            &self.updated,
        ]
    }
}

/// Inserts one memory with a statement prepared on `conn` (autocommit).
pub fn sqlite_insert(stmt: &mut rusqlite::Statement<'_>, memory: &NewMemory) -> usize {
    let row = Row::of(memory);
    stmt.execute(rusqlite::params![
        row.id.to_string(),
        memory.user_id,
        row.namespace(),
        memory.thread_id,
        row.tier(),
        memory.content,
        row.score(),
        row.metadata.to_string(),
        Value::from(memory.related_threads.clone()).to_string(),
        memory.summarized,
        row.created.as_micros(),
        row.updated.as_micros(),
    ])
    .expect("raw sqlite insert")
}

/// Inserts memories in one transaction with one prepared statement.
pub fn sqlite_insert_many(conn: &mut rusqlite::Connection, memories: &[NewMemory]) -> usize {
    let tx = conn.transaction().expect("begin");
    let mut written = 0;
    {
        let mut stmt = tx.prepare_cached(&insert_one().sqlite).expect("prepare");
        for memory in memories {
            written += sqlite_insert(&mut stmt, memory);
        }
    }
    tx.commit().expect("commit");
    written
}

/// Inserts one memory with a prepared statement (one round trip).
pub fn pg_insert(
    client: &mut postgres::Client,
    stmt: &postgres::Statement,
    memory: &NewMemory,
) -> u64 {
    client
        .execute(stmt, &PgValues::of(memory).refs())
        .expect("raw postgres insert")
}

/// Inserts memories with one `INSERT … SELECT FROM unnest(…)` statement (one round trip).
pub fn pg_insert_many(
    client: &mut postgres::Client,
    stmt: &postgres::Statement,
    memories: &[NewMemory],
) -> u64 {
    let rows: Vec<Row<'_>> = memories.iter().map(Row::of).collect();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let users: Vec<&str> = memories.iter().map(|m| m.user_id.as_str()).collect();
    let namespaces: Vec<&str> = rows.iter().map(Row::namespace).collect();
    let threads: Vec<Option<&str>> = memories.iter().map(|m| m.thread_id.as_deref()).collect();
    let tiers: Vec<&str> = rows.iter().map(Row::tier).collect();
    let contents: Vec<&str> = memories.iter().map(|m| m.content.as_str()).collect();
    let scores: Vec<i32> = rows.iter().map(Row::score).collect();
    let metadata: Vec<&Value> = rows.iter().map(|r| r.metadata).collect();
    let related: Vec<Value> = memories
        .iter()
        .map(|m| Value::from(m.related_threads.clone()))
        .collect();
    let summarized: Vec<bool> = memories.iter().map(|m| m.summarized).collect();
    let created: Vec<SystemTime> = rows.iter().map(|r| r.created.to_system_time()).collect();
    let updated: Vec<SystemTime> = rows.iter().map(|r| r.updated.to_system_time()).collect();
    client
        .execute(
            stmt,
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
        .expect("raw postgres insert many")
}

/// PostgreSQL only: the binary `COPY` that engram's `insert_many` and `import` run.
pub const PG_COPY: &str = "COPY memories (id, user_id, namespace, thread_id, tier, content, \
     score, metadata, related_threads, summarized, created_at, updated_at) \
     FROM STDIN (FORMAT binary)";

/// The column types of [`PG_COPY`], in its order.
const PG_COPY_TYPES: [postgres::types::Type; 12] = {
    use postgres::types::Type;
    [
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT4,
        Type::JSONB,
        Type::JSONB,
        Type::BOOL,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ]
};

/// Writes memories with one binary `COPY` through the driver's own `BinaryCopyInWriter`
/// (autocommit: the `COPY` is one transaction).
pub fn pg_copy_many(client: &mut postgres::Client, memories: &[NewMemory]) -> u64 {
    let sink = client.copy_in(PG_COPY).expect("raw postgres copy");
    let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &PG_COPY_TYPES);
    for memory in memories {
        writer
            .write(&PgValues::of(memory).refs())
            .expect("raw postgres copy row");
    }
    writer.finish().expect("raw postgres copy")
}
