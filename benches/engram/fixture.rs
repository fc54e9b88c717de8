//! The seeded databases the benchmarks run against: one SQLite file and one PostgreSQL
//! database per row count, both filled with the same generated memories and clusters.

use std::collections::HashMap;
use std::time::Instant;

use engram::{ClusterUpsert, NewMemory, Store};
use engram_testkit::data::{DataShape, MemoryGenerator, TOPICS};
use tempfile::TempDir;
use uuid::Uuid;

use crate::raw;

/// The environment variable naming an existing PostgreSQL database to use instead of a
/// throwaway one; its tables are cleared and seeded again for every row count.
pub const PG_URL_VAR: &str = "ENGRAM_BENCH_PG_URL";

/// Set to `1` to run ANALYZE on the SQLite database after seeding.
pub const SQLITE_ANALYZE_VAR: &str = "ENGRAM_BENCH_SQLITE_ANALYZE";

/// Set to `0` to benchmark SQLite without its containment index: its tables and triggers
/// (migrations 0003 and 0004) are dropped after migrating, so every containment filter is a
/// scan with the matcher (the numbers before the index).
pub const SQLITE_INDEX_VAR: &str = "ENGRAM_BENCH_SQLITE_INDEX";

/// Set to `0` to run the benchmarks with history off (`StoreBuilder::history(false)`): what
/// history costs the writes.
pub const HISTORY_VAR: &str = "ENGRAM_BENCH_HISTORY";

/// The store at `dsn`, keeping history unless [`HISTORY_VAR`] is `0`.
fn open_store(dsn: &str) -> Store {
    let history = !std::env::var(HISTORY_VAR).is_ok_and(|v| v == "0");
    Store::builder(dsn)
        .history(history)
        .open()
        .unwrap_or_else(|e| panic!("open {dsn}: {e}"))
}

/// The namespace of the memories the insert benchmarks write (and delete again between
/// timings), so that the seeded rows stay as they are.
pub const INSERT_NAMESPACE: &str = "bench-insert";
/// The function name of the bare binary `COPY` baseline of the bulk groups (PostgreSQL).
pub const PG_COPY_NAME: &str = "postgres-copy";

/// Memories per generated user; with 10 threads per user a thread holds about 10 memories
/// at every row count.
const MEMORIES_PER_USER: usize = 100;
const THREADS_PER_USER: usize = 10;
const SEED: u64 = 42;
/// Memories generated (and inserted) at once while seeding.
const SEED_CHUNK: usize = 10_000;
/// Topics per user that get clusters, each in [`CATEGORIES`].
const CLUSTER_TOPICS: usize = 5;
const CATEGORIES: [&str; 2] = ["", "details"];
/// Memory ids per cluster.
const CLUSTER_SIZE: usize = 8;
/// How many ids, user/thread pairs and cluster keys the read benchmarks cycle through.
const SAMPLES: usize = 1024;

/// The data shape for `rows` memories.
pub fn shape(rows: usize) -> DataShape {
    DataShape {
        users: (rows / MEMORIES_PER_USER).max(1),
        threads_per_user: THREADS_PER_USER,
        seed: SEED,
    }
}

/// What the read benchmarks look up: existing ids, user/thread pairs and cluster keys,
/// spread over the whole data set, the same on every backend.
#[derive(Default)]
pub struct Sample {
    pub ids: Vec<Uuid>,
    pub user_threads: Vec<(String, String)>,
    pub cluster_keys: Vec<(String, String, String)>,
}

/// The bare driver connection of the raw baselines.
pub enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

/// One backend: an engram store and, next to it, the bare connections of the baselines.
/// (Fields drop in order: the database directory goes after every connection is closed.)
pub struct Backend {
    /// `sqlite` or `postgres`: the benchmark's function name.
    pub name: &'static str,
    pub store: Store,
    pub raw: Raw,
    /// SQLite: a third connection that deletes what the insert benchmarks wrote, so that
    /// neither the store's connection nor the raw one keeps its page cache across the
    /// clean-up (SQLite drops a connection's cache when another one has written).
    pub cleaner: Option<rusqlite::Connection>,
    /// The SQLite database's directory, removed when the backend is dropped.
    _dir: Option<TempDir>,
}

impl Backend {
    pub fn raw_name(&self) -> &'static str {
        match self.raw {
            Raw::Sqlite(_) => "sqlite-raw",
            Raw::Postgres(_) => "postgres-raw",
        }
    }

    /// A SQLite file database in a new temporary directory, schema applied.
    pub fn sqlite() -> Backend {
        let dir = tempfile::Builder::new()
            .prefix("engram-bench-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().join("engram.db");
        let store = open_store(&format!("sqlite://{}", path.display()));
        store.migrate().expect("migrate sqlite");
        let raw = raw::sqlite_connection(&path).expect("raw sqlite connection");
        if std::env::var(SQLITE_INDEX_VAR).is_ok_and(|v| v == "0") {
            // The index's down scripts, run without recording them, so that the later
            // migrations (expiry) stay applied.
            for down in [
                include_str!("../../migrations-sqlite/0004_index_order.down.sql"),
                include_str!("../../migrations-sqlite/0003_containment_index.down.sql"),
            ] {
                raw.execute_batch(down).expect("drop the containment index");
            }
        }
        raw::register_matcher(&raw).expect("register the matcher");
        let cleaner = raw::sqlite_connection(&path).expect("clean-up connection");
        Backend {
            name: "sqlite",
            store,
            raw: Raw::Sqlite(raw),
            cleaner: Some(cleaner),
            _dir: Some(dir),
        }
    }

    /// A fresh database on the testkit's throwaway server, or the database named by
    /// [`PG_URL_VAR`] with its tables emptied; schema applied either way.
    pub fn postgres() -> Backend {
        let given = std::env::var(PG_URL_VAR).ok().filter(|url| !url.is_empty());
        let url = given
            .clone()
            .unwrap_or_else(engram_testkit::postgres::fresh_database_url);
        let store = open_store(&url);
        store.migrate().expect("migrate postgres");
        let mut raw = postgres::Client::connect(&url, postgres::NoTls).expect("raw client");
        if given.is_some() {
            raw.batch_execute("TRUNCATE memories, memory_clusters CASCADE")
                .expect("clear the tables");
        }
        Backend {
            name: "postgres",
            store,
            raw: Raw::Postgres(raw),
            cleaner: None,
            _dir: None,
        }
    }

    /// SQLite: the database's size after a checkpoint, and how much of it the containment
    /// index's tables take (bytes).
    pub fn sqlite_size(&self) -> Option<(u64, u64)> {
        let Raw::Sqlite(conn) = &self.raw else {
            return None;
        };
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
        let pages = |sql: &str| -> u64 {
            conn.query_row(sql, [], |row| row.get::<_, i64>(0))
                .expect("size") as u64
        };
        let total = pages("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
        let index = pages(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat \
             WHERE name LIKE 'memory_index%' OR name LIKE 'sqlite_autoindex_memory_index%'",
        );
        Some((total, index))
    }

    /// Keeps a copy of the columns a policy run changes, for [`Backend::restore`]. The copy
    /// is a temporary table of the raw connection, gone when it closes.
    pub fn snapshot(&mut self) {
        match &mut self.raw {
            Raw::Sqlite(conn) => conn
                .execute_batch(
                    "CREATE TEMP TABLE pristine (id TEXT PRIMARY KEY, tier TEXT NOT NULL, \
                     content TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID; \
                     INSERT INTO temp.pristine SELECT id, tier, content, updated_at \
                     FROM main.memories;",
                )
                .expect("snapshot"),
            Raw::Postgres(client) => client
                .batch_execute(
                    "CREATE TEMP TABLE pristine AS SELECT id, tier, content, updated_at \
                     FROM memories; ALTER TABLE pristine ADD PRIMARY KEY (id); \
                     ANALYZE pristine;",
                )
                .expect("snapshot"),
        }
    }

    /// Puts back the rows a policy run changed (and, on PostgreSQL, vacuums away the dead
    /// row versions), so that every policy run starts from the seeded data.
    pub fn restore(&mut self) {
        match &mut self.raw {
            Raw::Sqlite(conn) => conn
                .execute_batch(
                    "UPDATE main.memories SET tier = p.tier, content = p.content, \
                     updated_at = p.updated_at FROM temp.pristine AS p \
                     WHERE memories.id = p.id AND (memories.tier IS NOT p.tier \
                     OR memories.updated_at IS NOT p.updated_at \
                     OR memories.content IS NOT p.content);",
                )
                .expect("restore"),
            Raw::Postgres(client) => {
                client
                    .batch_execute(
                        "UPDATE memories AS m SET tier = p.tier, content = p.content, \
                         updated_at = p.updated_at FROM pristine AS p WHERE m.id = p.id \
                         AND (m.tier, m.content, m.updated_at) \
                         IS DISTINCT FROM (p.tier, p.content, p.updated_at)",
                    )
                    .expect("restore");
                // On its own: VACUUM cannot run inside the implicit transaction of a
                // multi-statement query.
                client.batch_execute("VACUUM memories").expect("vacuum");
            }
        }
    }

    /// After seeding, on PostgreSQL: statistics for the planner, and a vacuumed table with its
    /// visibility map set (as autovacuum would leave it some time after loading).
    ///
    /// SQLite is left as engram leaves it, without `sqlite_stat1` (engram never runs ANALYZE),
    /// unless [`SQLITE_ANALYZE_VAR`] is `1`: with statistics, SQLite plans the tier+updated
    /// scan at 100,000 rows as a skip-scan of the (user, tier, updated) index and a sort of
    /// every match (see RESULTS.md).
    fn analyze(&mut self) {
        match &mut self.raw {
            Raw::Sqlite(conn) => {
                if std::env::var(SQLITE_ANALYZE_VAR).is_ok_and(|v| v == "1") {
                    conn.execute_batch("ANALYZE").expect("analyze");
                }
            }
            Raw::Postgres(client) => client.batch_execute("VACUUM ANALYZE").expect("analyze"),
        }
    }
}

/// Fills every backend with the same `rows` generated memories and their clusters; returns
/// the sample the read benchmarks use.
pub fn seed(backends: &mut [Backend], rows: usize) -> Sample {
    let started = Instant::now();
    let shape = shape(rows);
    let mut generator = MemoryGenerator::new(shape);
    let every = (rows / SAMPLES).max(1);
    let mut sample = Sample::default();
    let mut per_user: HashMap<String, Vec<Uuid>> = HashMap::new();
    let mut seeded = 0;
    while seeded < rows {
        let memories = generator.memories(SEED_CHUNK.min(rows - seeded));
        for (offset, memory) in memories.iter().enumerate() {
            let id = memory.id.expect("generated memories have ids");
            let ids = per_user.entry(memory.user_id.clone()).or_default();
            if ids.len() < CLUSTER_SIZE {
                ids.push(id);
            }
            if (seeded + offset) % every == 0 && sample.ids.len() < SAMPLES {
                sample.ids.push(id);
                let thread = memory
                    .thread_id
                    .clone()
                    .expect("generated memories have threads");
                sample.user_threads.push((memory.user_id.clone(), thread));
            }
        }
        seeded += memories.len();
        for backend in backends.iter() {
            backend
                .store
                .insert_many(memories.clone())
                .expect("seed memories");
        }
    }

    let mut users: Vec<(String, Vec<Uuid>)> = per_user.into_iter().collect();
    users.sort();
    let clusters = users.len() * CLUSTER_TOPICS * CATEGORIES.len();
    let every_cluster = (clusters / SAMPLES).max(1);
    let mut made = 0;
    for (index, (user, ids)) in users.iter().enumerate() {
        for k in 0..CLUSTER_TOPICS {
            let topic = TOPICS[(index * 7 + k) % TOPICS.len()];
            for category in CATEGORIES {
                let cluster = ClusterUpsert {
                    user_id: user.clone(),
                    topic: topic.to_string(),
                    category: category.to_string(),
                    memory_ids: ids.clone(),
                    summary: format!("What {user} said about {topic} ({} memories).", ids.len()),
                };
                for backend in backends.iter() {
                    backend
                        .store
                        .upsert_cluster(cluster.clone())
                        .expect("seed clusters");
                }
                if made % every_cluster == 0 && sample.cluster_keys.len() < SAMPLES {
                    sample.cluster_keys.push((
                        user.clone(),
                        topic.to_string(),
                        category.to_string(),
                    ));
                }
                made += 1;
            }
        }
    }
    for backend in backends.iter_mut() {
        backend.analyze();
    }
    eprintln!(
        "seeded {rows} memories ({} users) and {clusters} clusters on {} in {:.1?}",
        shape.users,
        backends
            .iter()
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(" and "),
        started.elapsed()
    );
    sample
}

/// Memories for the insert benchmarks: generated with another seed (so new ids), in
/// [`INSERT_NAMESPACE`].
pub struct Inserts {
    generator: MemoryGenerator,
}

impl Inserts {
    pub fn new(rows: usize) -> Self {
        Inserts {
            generator: MemoryGenerator::new(DataShape {
                seed: SEED + 1,
                ..shape(rows)
            }),
        }
    }

    pub fn next(&mut self, count: usize) -> Vec<NewMemory> {
        self.generator
            .memories(count)
            .into_iter()
            .map(|m| m.namespace(INSERT_NAMESPACE))
            .collect()
    }
}
