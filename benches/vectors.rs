//! Nearest-neighbour search: `Store::nearest` with k = 10 over seeded, clustered embeddings,
//! without a filter and with a user filter, on SQLite (always exact), PostgreSQL exact and
//! PostgreSQL through an HNSW index (`Search::Approximate`), next to raw-driver baselines and
//! the bounds no exact scan can beat on this machine. As in `benches/engram.rs`, every group
//! has the backend as function name and the row count as parameter.
//!
//! ```text
//! cargo bench -j2 --bench vectors                                  # 10,000 rows, short settings
//! ENGRAM_BENCH_VECTOR_ROWS=100000 cargo bench -j2 --bench vectors  # the recorded run
//! cargo bench -j2 --bench vectors -- nearest_k10_user              # one group (all data is still loaded)
//! ```
//!
//! Environment:
//!
//! - `ENGRAM_BENCH_VECTOR_ROWS`: memories, each with an embedding (default 10,000).
//! - `ENGRAM_BENCH_VECTOR_DIMS`: their dimensions (default 384; the HNSW index takes at
//!   most 2,000).
//! - `ENGRAM_BENCH_FULL=1`: criterion's defaults (100 samples, 3 s warm-up, 5 s measurement)
//!   instead of the short run (20 samples, 0.5 s warm-up, 1.5 s measurement).
//! - `ENGRAM_BENCH_PG_URL`: an existing PostgreSQL database, on a server with pgvector, to use
//!   (schema migrated, tables cleared and loaded again) instead of a throwaway one.
//! - `ENGRAM_BENCH_BACKENDS`: `sqlite`, `postgres` or both (default), to leave one out.
//! - `ENGRAM_BENCH_EXPLAIN=1`: print the plans of the raw statements after loading.
//!
//! Data: `rows` memories from engram-testkit's generator, users of 1,000 memories each
//! (assigned in turn, so that a user's memories are spread over the whole table), each with
//! an embedding near one of 200 seeded random unit centroids (gaussian noise of about 0.75
//! times the centroid's length, normalized), so that the data is clustered as real
//! embeddings are. Loaded with `Store::insert_many` in batches of 1,000, the same memories
//! on both backends; SQLite's WAL is checkpointed and PostgreSQL is `VACUUM ANALYZE`d after
//! loading. The 64 query vectors are drawn the same way with another seed and cycled.
//!
//! Groups:
//!
//! - `nearest_k10`: the 10 nearest by cosine distance, of every memory.
//! - `nearest_k10_user`: the same among one user's 1,000 memories.
//!
//!   Functions: `sqlite`, `postgres` (exact), `postgres-hnsw` (`Search::Approximate`, after
//!   `create_vector_index(VectorIndex::new(Metric::Cosine))`: m = 16, ef_construction = 64;
//!   ef_search is 40 for k = 10), and the raw baselines `sqlite-raw` (bare rusqlite with
//!   engram's SQL functions registered), `postgres-raw` and `postgres-hnsw-raw` (bare
//!   `postgres`), each running the ranking statement engram runs, returning ids and
//!   distances only (engram then reads the 10 memories).
//! - `scan_floor`: one thread over the same `rows × dims` `f32` values held in one `Vec`:
//!   `sum` adds them all up (it reads every byte once: what an exact scan cannot beat), and
//!   `cosine` ranks them against a query with `Metric::Cosine.distance`, engram's kernel.
//!
//! The PostgreSQL store's connections get `maintenance_work_mem=1GB` in the DSN's options
//! (unless the URL has options already), so that the HNSW index of 100,000 × 384 is built in
//! memory. After loading, the run prints the index build time, whether SQLite's and
//! PostgreSQL's exact answers are the same and the recall@10 of HNSW against exact, and
//! writes them to `<criterion dir>/vectors-recall-<rows>.txt`.
//!
//! Run without `--bench` (as `cargo test --benches` does), each benchmark runs once on 1,000
//! rows, as a smoke test. Its PostgreSQL part needs a server with pgvector: without one it
//! fails, saying so. `benches/RESULTS.md` holds the results.

#[path = "engram/raw.rs"]
#[allow(dead_code)] // only its SQLite connection set-up is used here
mod raw;
#[path = "engram/settings.rs"]
mod settings;

use settings::run;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use engram::{Embedding, MemoryQuery, Metric, NearestQuery, Neighbour, Store, VectorIndex};
use engram_testkit::data::{thread_id, user_id, DataShape, MemoryGenerator};
use postgres::types::ToSql;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;
use uuid::Uuid;

const ROWS_VAR: &str = "ENGRAM_BENCH_VECTOR_ROWS";
const DIMS_VAR: &str = "ENGRAM_BENCH_VECTOR_DIMS";
/// The same variable as the other benchmarks' (see `benches/engram/fixture.rs`).
const PG_URL_VAR: &str = "ENGRAM_BENCH_PG_URL";

/// Neighbours per query.
const K: usize = 10;
/// Memories per user: the user filter keeps this many rows.
const ROWS_PER_USER: usize = 1_000;
const THREADS_PER_USER: usize = 10;
/// Memories per `insert_many` call.
const BATCH: usize = 1_000;
const CENTROIDS: usize = 200;
/// The noise's expected length, relative to the unit centroid it is added to.
const NOISE: f64 = 0.75;
const QUERIES: usize = 64;
const SEED: u64 = 42;
/// pgvector's default `hnsw.ef_search`, which engram uses for k ≤ 40.
const EF_SEARCH: u32 = 40;
/// Given to the PostgreSQL store's connections, for the HNSW build.
const MAINTENANCE_WORK_MEM: &str = "options=-c%20maintenance_work_mem%3D1GB";

struct Settings {
    rows: usize,
    dims: usize,
    full: bool,
    sqlite: bool,
    postgres: bool,
    explain: bool,
}

impl Settings {
    fn from_env() -> Settings {
        let benching = std::env::args().any(|arg| arg == "--bench");
        let number = |var: &str, default: usize| match std::env::var(var) {
            Ok(text) if !text.trim().is_empty() => text
                .trim()
                .replace(['_', ','], "")
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("{var}: '{text}' is not a positive number")),
            _ => default,
        };
        let backends = std::env::var("ENGRAM_BENCH_BACKENDS").unwrap_or_default();
        let wants = |name: &str| backends.trim().is_empty() || backends.contains(name);
        Settings {
            rows: number(ROWS_VAR, if benching { 10_000 } else { 1_000 }),
            dims: number(DIMS_VAR, 384),
            full: std::env::var("ENGRAM_BENCH_FULL").is_ok_and(|v| v == "1"),
            sqlite: wants("sqlite"),
            postgres: wants("postgres"),
            explain: std::env::var("ENGRAM_BENCH_EXPLAIN").is_ok_and(|v| v == "1"),
        }
    }

    fn criterion(&self) -> Criterion {
        settings::criterion(self.full)
    }
}

/// Seeded embeddings around fixed random centroids.
struct Vectors {
    dims: usize,
    centroids: Vec<Vec<f64>>,
    rng: StdRng,
}

impl Vectors {
    fn new(dims: usize, seed: u64) -> Vectors {
        let mut rng = StdRng::seed_from_u64(seed);
        let centroids = (0..CENTROIDS)
            .map(|_| {
                let v: Vec<f64> = (0..dims).map(|_| gaussian(&mut rng)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect();
        Vectors {
            dims,
            centroids,
            rng,
        }
    }

    /// Another stream of vectors around the same centroids.
    fn stream(&self, seed: u64) -> Vectors {
        Vectors {
            dims: self.dims,
            centroids: self.centroids.clone(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A unit vector near a random centroid.
    fn next(&mut self) -> Vec<f32> {
        let centroid = &self.centroids[self.rng.gen_range(0..CENTROIDS)];
        let sigma = NOISE / (self.dims as f64).sqrt();
        let v: Vec<f64> = centroid
            .iter()
            .map(|c| c + sigma * gaussian(&mut self.rng))
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.into_iter().map(|x| (x / norm) as f32).collect()
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// What was loaded, as the benchmarks and the checks need it.
struct Data {
    rows: usize,
    dims: usize,
    users: Vec<String>,
    /// Every embedding, row after row, in load order.
    flat: Vec<f32>,
    /// The memory id of each row of `flat`.
    ids: Vec<Uuid>,
    queries: Vec<Embedding>,
}

impl Data {
    /// The user whose memories the `i`-th query searches in the filtered group.
    fn user(&self, i: usize) -> &str {
        &self.users[i % self.users.len()]
    }

    fn bytes(&self) -> usize {
        self.flat.len() * std::mem::size_of::<f32>()
    }
}

struct Sqlite {
    store: Store,
    raw: rusqlite::Connection,
    /// The database's directory, removed when this is dropped (after the connections).
    _dir: TempDir,
}

impl Sqlite {
    fn open() -> Sqlite {
        let dir = tempfile::Builder::new()
            .prefix("engram-bench-vectors-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().join("engram.db");
        let store = Store::open(&format!("sqlite://{}", path.display())).expect("open sqlite");
        store.migrate().expect("migrate sqlite");
        let raw = raw::sqlite_connection(&path).expect("raw sqlite connection");
        engram_sqlite::register_functions(&raw).expect("register engram's functions");
        Sqlite {
            store,
            raw,
            _dir: dir,
        }
    }
}

struct Postgres {
    store: Store,
    raw: postgres::Client,
}

impl Postgres {
    /// A fresh database on the testkit's throwaway server, or the one named by
    /// [`PG_URL_VAR`] with its tables emptied and its HNSW index dropped.
    fn open() -> Postgres {
        let given = std::env::var(PG_URL_VAR).ok().filter(|url| !url.is_empty());
        let url = given
            .clone()
            .unwrap_or_else(engram_testkit::postgres::fresh_database_url);
        let store_url = if url.contains("options=") {
            url.clone()
        } else if url.contains('?') {
            format!("{url}&{MAINTENANCE_WORK_MEM}")
        } else {
            format!("{url}?{MAINTENANCE_WORK_MEM}")
        };
        let store = Store::open(&store_url).expect("open postgres");
        store.migrate().expect("migrate postgres");
        if let Err(e) = store.enable_vectors() {
            panic!(
                "the vector benchmarks need pgvector on the PostgreSQL server, and it has none: \
                 {e}\nSet {PG_URL_VAR} to a database on a server with pgvector 0.6 or later, \
                 or ENGRAM_BENCH_BACKENDS=sqlite to leave PostgreSQL out."
            );
        }
        let mut raw = postgres::Client::connect(&url, postgres::NoTls).expect("raw client");
        if given.is_some() {
            store
                .drop_vector_index(Metric::Cosine)
                .expect("drop the HNSW index");
            raw.batch_execute("TRUNCATE memories, memory_clusters, embedding_space CASCADE")
                .expect("clear the tables");
        }
        set_ef_search(&mut raw, EF_SEARCH);
        Postgres { store, raw }
    }
}

/// The raw statements: engram's ranking subquery (by distance, NaN last, then id; ids and
/// distances only), for SQLite and PostgreSQL, exact and approximate, without and with the
/// user filter. `?1`/`$1` is the query vector, `?2`/`$2` the user.
mod sql {
    pub const SQLITE: &str = "SELECT memory_id, \
         engram_vector_distance('cosine', embedding, ?1) AS distance FROM memory_embeddings \
         ORDER BY distance NULLS LAST, memory_id LIMIT 10";
    pub const SQLITE_USER: &str = "SELECT memory_embeddings.memory_id, \
         engram_vector_distance('cosine', memory_embeddings.embedding, ?1) AS distance \
         FROM memory_embeddings JOIN memories ON memories.id = memory_embeddings.memory_id \
         WHERE user_id = ?2 ORDER BY distance NULLS LAST, memory_embeddings.memory_id LIMIT 10";
    pub const POSTGRES: &str = "SELECT memory_id, embedding <=> $1 AS distance \
         FROM memory_embeddings ORDER BY distance NULLS LAST, memory_id LIMIT 10";
    pub const POSTGRES_USER: &str = "SELECT memory_embeddings.memory_id, \
         memory_embeddings.embedding <=> $1 AS distance \
         FROM memory_embeddings JOIN memories ON memories.id = memory_embeddings.memory_id \
         WHERE user_id = $2 ORDER BY distance NULLS LAST, memory_embeddings.memory_id LIMIT 10";

    /// The approximate ranking: by the distance to the typed column the index is built on.
    pub fn hnsw(dims: usize, user: bool) -> String {
        let filter = if user {
            " JOIN memories ON memories.id = memory_embeddings.memory_id WHERE user_id = $2"
        } else {
            ""
        };
        format!(
            "SELECT memory_embeddings.memory_id, \
             memory_embeddings.embedding::vector({dims}) <=> $1 AS distance \
             FROM memory_embeddings{filter} ORDER BY distance LIMIT 10"
        )
    }
}

fn main() {
    let settings = Settings::from_env();
    let mut criterion = settings.criterion();
    // PostgreSQL first: without pgvector the run fails before anything is loaded.
    let mut postgres = settings.postgres.then(Postgres::open);
    let sqlite = settings.sqlite.then(Sqlite::open);
    let data = load(&settings, sqlite.as_ref(), postgres.as_mut());
    if let Some(pg) = &mut postgres {
        let started = Instant::now();
        pg.store
            .create_vector_index(VectorIndex::new(Metric::Cosine))
            .expect("create the HNSW index");
        let built = started.elapsed();
        eprintln!("vectors: HNSW index (m 16, ef_construction 64) built in {built:.1?}");
        report(&data, sqlite.as_ref(), pg, built);
    } else if let Some(lite) = &sqlite {
        report_sqlite_only(&data, lite);
    }
    if settings.explain {
        explain(&data, sqlite.as_ref(), postgres.as_mut());
    }
    nearest(
        &mut criterion,
        "nearest_k10",
        &data,
        false,
        sqlite.as_ref(),
        postgres.as_mut(),
    );
    nearest(
        &mut criterion,
        "nearest_k10_user",
        &data,
        true,
        sqlite.as_ref(),
        postgres.as_mut(),
    );
    scan_floor(&mut criterion, &data);
    criterion.final_summary();
}

/// Generates the memories and loads them into every backend, in batches of [`BATCH`].
fn load(settings: &Settings, sqlite: Option<&Sqlite>, postgres: Option<&mut Postgres>) -> Data {
    let (rows, dims) = (settings.rows, settings.dims);
    let users = rows.div_ceil(ROWS_PER_USER);
    let mut generator = MemoryGenerator::new(DataShape {
        users,
        threads_per_user: THREADS_PER_USER,
        seed: SEED,
    });
    let mut vectors = Vectors::new(dims, SEED);
    let mut query_vectors = vectors.stream(SEED + 1);
    let mut data = Data {
        rows,
        dims,
        users: (0..users).map(user_id).collect(),
        flat: Vec::with_capacity(rows * dims),
        ids: Vec::with_capacity(rows),
        queries: (0..QUERIES)
            .map(|_| Embedding::new(query_vectors.next()).expect("a finite vector"))
            .collect(),
    };
    let stores: Vec<(&str, &Store)> = [
        sqlite.map(|s| ("sqlite", &s.store)),
        postgres.as_deref().map(|p| ("postgres", &p.store)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut spent = vec![Duration::ZERO; stores.len()];
    while data.ids.len() < rows {
        let loaded = data.ids.len();
        let batch: Vec<_> = generator
            .memories(BATCH.min(rows - loaded))
            .into_iter()
            .enumerate()
            .map(|(offset, mut memory)| {
                // Users in turn, so that each has its share of every part of the table.
                let row = loaded + offset;
                let user = row % users;
                memory.user_id = user_id(user);
                memory.thread_id = Some(thread_id(user, (row / users) % THREADS_PER_USER));
                memory.related_threads.clear();
                let vector = vectors.next();
                data.flat.extend_from_slice(&vector);
                data.ids
                    .push(memory.id.expect("generated memories have ids"));
                memory.embedding(Embedding::new(vector).expect("a finite vector"))
            })
            .collect();
        for ((_, store), spent) in stores.iter().zip(&mut spent) {
            let started = Instant::now();
            store.insert_many(batch.clone()).expect("load memories");
            *spent += started.elapsed();
        }
    }
    let times: Vec<String> = stores
        .iter()
        .zip(&spent)
        .map(|((name, _), spent)| format!("{name} {spent:.1?}"))
        .collect();
    eprintln!(
        "vectors: loaded {rows} memories of {dims} dimensions ({users} users) with \
         insert_many: {}",
        times.join(", ")
    );
    if let Some(lite) = sqlite {
        // Everything in the database file, none in the WAL, as a store is at rest.
        lite.raw
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
    }
    if let Some(pg) = postgres {
        pg.raw
            .batch_execute("VACUUM ANALYZE")
            .expect("vacuum analyze");
    }
    data
}

/// The `i`-th query: the `i`-th vector, of every memory or of its user's.
fn query(data: &Data, i: usize, filtered: bool) -> NearestQuery {
    let query = NearestQuery::new(data.queries[i % data.queries.len()].clone(), K as u64);
    if filtered {
        query.filter(MemoryQuery::new().user(data.user(i)))
    } else {
        query
    }
}

fn ids(neighbours: &[Neighbour]) -> Vec<Uuid> {
    neighbours.iter().map(|n| n.memory.id).collect()
}

/// The exact 10 nearest of the in-memory copy, by engram's kernel: (distance, row) pairs.
fn in_memory_nearest(flat: &[f32], dims: usize, query: &[f32]) -> [(f64, usize); K] {
    let mut best = [(f64::INFINITY, usize::MAX); K];
    for (row, vector) in flat.chunks_exact(dims).enumerate() {
        let distance = Metric::Cosine.distance(vector, query);
        if distance < best[K - 1].0 {
            let at = best.partition_point(|&(d, _)| d <= distance);
            best.copy_within(at..K - 1, at + 1);
            best[at] = (distance, row);
        }
    }
    best
}

/// The share of `exact` found in `approximate`.
fn recall(approximate: &[Uuid], exact: &[Uuid]) -> f64 {
    let found: HashSet<&Uuid> = approximate.iter().collect();
    exact.iter().filter(|id| found.contains(id)).count() as f64 / exact.len().max(1) as f64
}

/// Mean recall, the lowest, and how many queries found fewer than half of the 10.
fn summary(values: &[f64]) -> String {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let poor = values.iter().filter(|&&r| r < 0.5).count();
    format!("{mean:.3} (lowest {min:.1}, {poor} below 0.5)")
}

/// Checks the exact answers against each other and measures HNSW's recall@10, on stderr and
/// in `<criterion dir>/vectors-recall-<rows>.txt`.
fn report(data: &Data, sqlite: Option<&Sqlite>, pg: &mut Postgres, built: Duration) {
    let mut text = format!(
        "recall@10 of HNSW (m 16, ef_construction 64, ef_search {EF_SEARCH}) against exact \
         search, cosine distance, {} rows of {} dimensions, {QUERIES} queries; index built in \
         {built:.1?}\n",
        data.rows, data.dims
    );
    let hnsw = [
        pg.raw
            .prepare(&sql::hnsw(data.dims, false))
            .expect("prepare"),
        pg.raw
            .prepare(&sql::hnsw(data.dims, true))
            .expect("prepare"),
    ];
    for filtered in [false, true] {
        let mut exacts = Vec::new();
        let mut store_recall = Vec::new();
        let (mut same_as_sqlite, mut same_in_memory) = (0, 0);
        for i in 0..data.queries.len() {
            let exact = ids(&pg.store.nearest(query(data, i, filtered)).expect("exact"));
            let approximate = pg
                .store
                .nearest(query(data, i, filtered).approximate())
                .expect("approximate");
            store_recall.push(recall(&ids(&approximate), &exact));
            if let Some(lite) = sqlite {
                let answer = lite
                    .store
                    .nearest(query(data, i, filtered))
                    .expect("sqlite");
                same_as_sqlite += usize::from(ids(&answer) == exact);
            }
            if !filtered {
                let nearest = in_memory_nearest(&data.flat, data.dims, data.queries[i].as_slice());
                let in_memory: Vec<Uuid> = nearest.iter().map(|&(_, row)| data.ids[row]).collect();
                same_in_memory += usize::from(in_memory == exact);
            }
            exacts.push(exact);
        }
        let what = if filtered {
            format!("user filter ({ROWS_PER_USER} rows)")
        } else {
            "no filter".to_string()
        };
        let n = data.queries.len();
        let stmt = &hnsw[usize::from(filtered)];
        let (index_recall, index_rows) = index_alone(&mut pg.raw, stmt, data, filtered, &exacts);
        let full = index_rows.iter().filter(|&&rows| rows == K).count();
        let mean_rows = index_rows.iter().sum::<usize>() as f64 / n as f64;
        let _ = writeln!(
            text,
            "{what}: what Store::nearest(approximate) returned: {}; the index alone: {} \
             ({mean_rows:.1} rows on average; {full} of {n} queries got all {K}, the other {} \
             were answered by exact search)",
            summary(&store_recall),
            summary(&index_recall),
            n - full
        );
        // Wider searches than engram asks for (it sets ef_search to max(k + offset, 40)).
        for ef_search in [100, 400] {
            set_ef_search(&mut pg.raw, ef_search);
            let (recalls, rows) = index_alone(&mut pg.raw, stmt, data, filtered, &exacts);
            let full = rows.iter().filter(|&&rows| rows == K).count();
            let _ = writeln!(
                text,
                "{what}: the index alone with ef_search {ef_search}: {} ({full} of {n} queries \
                 got all {K})",
                summary(&recalls)
            );
        }
        set_ef_search(&mut pg.raw, EF_SEARCH);
        if sqlite.is_some() {
            let _ = writeln!(
                text,
                "{what}: SQLite's exact answer is PostgreSQL's (same ids, same order) for \
                 {same_as_sqlite} of {n} queries"
            );
        }
        if !filtered {
            let _ = writeln!(
                text,
                "{what}: an in-memory exact scan with Metric::Cosine gives PostgreSQL's answer \
                 for {same_in_memory} of {n} queries"
            );
        }
    }
    write_report(data, &text);
}

/// The recall of what the HNSW statement `stmt` alone returns for each query (the raw
/// approximate search, without engram's fall-back to exact), and how many rows it returned.
fn index_alone(
    client: &mut postgres::Client,
    stmt: &postgres::Statement,
    data: &Data,
    filtered: bool,
    exacts: &[Vec<Uuid>],
) -> (Vec<f64>, Vec<usize>) {
    exacts
        .iter()
        .enumerate()
        .map(|(i, exact)| {
            let vector = pgvector::Vector::from(data.queries[i].as_slice().to_vec());
            let user = data.user(i);
            let params: Vec<&(dyn ToSql + Sync)> = if filtered {
                vec![&vector, &user]
            } else {
                vec![&vector]
            };
            let rows = client.query(stmt, &params).expect("hnsw query");
            let found: Vec<Uuid> = rows.iter().map(|row| row.get(0)).collect();
            (recall(&found, exact), found.len())
        })
        .unzip()
}

fn set_ef_search(client: &mut postgres::Client, ef_search: u32) {
    client
        .batch_execute(&format!("SET hnsw.ef_search = {ef_search}"))
        .expect("set ef_search");
}

fn report_sqlite_only(data: &Data, lite: &Sqlite) {
    let same = (0..data.queries.len())
        .filter(|&i| {
            let answer = lite.store.nearest(query(data, i, false)).expect("sqlite");
            let nearest = in_memory_nearest(&data.flat, data.dims, data.queries[i].as_slice());
            let in_memory: Vec<Uuid> = nearest.iter().map(|&(_, row)| data.ids[row]).collect();
            ids(&answer) == in_memory
        })
        .count();
    let text = format!(
        "{} rows of {} dimensions, SQLite only (no recall without PostgreSQL): an in-memory \
         exact scan gives SQLite's answer for {same} of {QUERIES} queries\n",
        data.rows, data.dims
    );
    write_report(data, &text);
}

fn write_report(data: &Data, text: &str) {
    for line in text.lines() {
        eprintln!("vectors: {line}");
    }
    if std::env::args().any(|arg| arg == "--bench") {
        let dir = criterion_dir();
        let path = dir.join(format!("vectors-recall-{}.txt", data.rows));
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            eprintln!("vectors: could not write {}: {e}", path.display());
        }
    }
}

/// Where criterion writes its reports: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, or
/// `criterion` in the target directory this benchmark was built in.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // <target>/release/deps/vectors-<hash>
            let exe = std::env::current_exe().ok()?;
            exe.parent()?.parent()?.parent().map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}

/// One group of k = 10 searches, of every memory or (`filtered`) of one user's.
fn nearest(
    c: &mut Criterion,
    name: &str,
    data: &Data,
    filtered: bool,
    sqlite: Option<&Sqlite>,
    postgres: Option<&mut Postgres>,
) {
    let mut group = c.benchmark_group(name);
    let id = |function: &str| BenchmarkId::new(function, data.rows);
    let n = data.queries.len();
    let exact: Vec<NearestQuery> = (0..n).map(|i| query(data, i, filtered)).collect();
    let approximate: Vec<NearestQuery> = exact.iter().map(|q| q.clone().approximate()).collect();
    let users: Vec<&str> = (0..n).map(|i| data.user(i)).collect();
    if let Some(lite) = sqlite {
        run(&mut group, id("sqlite"), |i| {
            lite.store.nearest(exact[i % n].clone()).expect("nearest")
        });
        let blobs: Vec<Vec<u8>> = data.queries.iter().map(Embedding::to_le_bytes).collect();
        let text = if filtered {
            sql::SQLITE_USER
        } else {
            sql::SQLITE
        };
        let mut stmt = lite.raw.prepare(text).expect("prepare");
        run(&mut group, id("sqlite-raw"), |i| {
            let ranked = |row: &rusqlite::Row<'_>| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<f64>>(1)?))
            };
            let rows = if filtered {
                stmt.query_map(rusqlite::params![blobs[i % n], users[i % n]], ranked)
            } else {
                stmt.query_map(rusqlite::params![blobs[i % n]], ranked)
            };
            rows.expect("query")
                .collect::<rusqlite::Result<Vec<_>>>()
                .expect("rows")
        });
    }
    if let Some(pg) = postgres {
        run(&mut group, id("postgres"), |i| {
            pg.store.nearest(exact[i % n].clone()).expect("nearest")
        });
        run(&mut group, id("postgres-hnsw"), |i| {
            pg.store
                .nearest(approximate[i % n].clone())
                .expect("nearest")
        });
        let vectors: Vec<pgvector::Vector> = data
            .queries
            .iter()
            .map(|q| pgvector::Vector::from(q.as_slice().to_vec()))
            .collect();
        let text = if filtered {
            sql::POSTGRES_USER
        } else {
            sql::POSTGRES
        };
        for (function, text) in [
            ("postgres-raw", text.to_string()),
            ("postgres-hnsw-raw", sql::hnsw(data.dims, filtered)),
        ] {
            let stmt = pg.raw.prepare(&text).expect("prepare");
            let client = &mut pg.raw;
            run(&mut group, id(function), |i| {
                let params: Vec<&(dyn ToSql + Sync)> = if filtered {
                    vec![&vectors[i % n], &users[i % n]]
                } else {
                    vec![&vectors[i % n]]
                };
                let rows = client.query(&stmt, &params).expect("query");
                rows.iter()
                    .map(|row| (row.get::<_, Uuid>(0), row.get::<_, Option<f64>>(1)))
                    .collect::<Vec<_>>()
            });
        }
    }
    group.finish();
}

/// The sum of `values`, in 64 independent lanes, so that the adds keep up with the reads.
fn sum(values: &[f32]) -> f32 {
    const LANES: usize = 64;
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// What an exact scan of every embedding cannot beat on this machine: reading them once from
/// memory (`sum`), and ranking them with engram's cosine kernel, in memory (`cosine`).
fn scan_floor(c: &mut Criterion, data: &Data) {
    let mut group = c.benchmark_group("scan_floor");
    group.throughput(Throughput::Bytes(data.bytes() as u64));
    let flat = &data.flat;
    run(&mut group, BenchmarkId::new("sum", data.rows), |_| {
        sum(std::hint::black_box(flat))
    });
    let n = data.queries.len();
    run(&mut group, BenchmarkId::new("cosine", data.rows), |i| {
        in_memory_nearest(flat, data.dims, data.queries[i % n].as_slice())
    });
    group.finish();
}

/// Prints the plans of the raw statements (`ENGRAM_BENCH_EXPLAIN=1`).
fn explain(data: &Data, sqlite: Option<&Sqlite>, postgres: Option<&mut Postgres>) {
    let user = data.user(0);
    if let Some(lite) = sqlite {
        let blob = data.queries[0].to_le_bytes();
        for (name, text) in [("no filter", sql::SQLITE), ("user", sql::SQLITE_USER)] {
            let mut stmt = lite
                .raw
                .prepare(&format!("EXPLAIN QUERY PLAN {text}"))
                .expect("explain");
            let params: Vec<&dyn rusqlite::ToSql> = if name == "user" {
                vec![&blob, &user]
            } else {
                vec![&blob]
            };
            let plan: Vec<String> = stmt
                .query_map(&params[..], |row| row.get::<_, String>(3))
                .expect("explain")
                .collect::<rusqlite::Result<_>>()
                .expect("explain");
            eprintln!("sqlite {name}: {}", plan.join(" / "));
        }
    }
    if let Some(pg) = postgres {
        let vector = pgvector::Vector::from(data.queries[0].as_slice().to_vec());
        for (name, text, filtered) in [
            ("exact, no filter", sql::POSTGRES.to_string(), false),
            ("exact, user", sql::POSTGRES_USER.to_string(), true),
            ("hnsw, no filter", sql::hnsw(data.dims, false), false),
            ("hnsw, user", sql::hnsw(data.dims, true), true),
        ] {
            let params: Vec<&(dyn ToSql + Sync)> = if filtered {
                vec![&vector, &user]
            } else {
                vec![&vector]
            };
            let rows = pg
                .raw
                .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {text}"), &params)
                .expect("explain");
            eprintln!("postgres {name}:");
            for row in rows {
                eprintln!("    {}", elide_vectors(&row.get::<_, String>(0)));
            }
        }
    }
}

/// A plan line with each vector literal (`'[0.1,…]'`) cut to its first component.
fn elide_vectors(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("'[") {
        let Some(end) = rest[start..].find("]'") else {
            break;
        };
        let literal = &rest[start..start + end + 2];
        let first = literal[2..].split(',').next().unwrap_or_default();
        out.push_str(&rest[..start]);
        let _ = write!(out, "'[{first},…]'");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}
