//! engram's benchmarks: every operation is one criterion group, with the backend as the
//! function name (`sqlite`, `postgres`, and the raw-driver baselines `sqlite-raw`,
//! `postgres-raw`, and for the bulk groups `postgres-copy`, a bare binary `COPY`) and the
//! row count as the parameter (for `import`: the memories in its file), so reports compare
//! them side by side.
//!
//! ```text
//! cargo bench -j2 --bench engram                         # 10,000 rows, short settings
//! ENGRAM_BENCH_ROWS=10000,100000 cargo bench -j2 --bench engram
//! ENGRAM_BENCH_FULL=1 cargo bench -j2 --bench engram     # criterion's default settings
//! cargo bench -j2 --bench engram -- get_by_id            # one group (all data is still seeded)
//! ```
//!
//! Environment:
//!
//! - `ENGRAM_BENCH_ROWS`: comma-separated row counts (default `10000`).
//! - `ENGRAM_BENCH_IMPORT_ROWS`: memories in the `import` group's file (default `10000`,
//!   `1000` in the smoke run; RESULTS.md's bulk-ingest figures use `100000`).
//! - `ENGRAM_BENCH_FULL=1`: criterion's defaults (100 samples, 3 s warm-up, 5 s measurement)
//!   instead of the short run (20 samples, 0.5 s warm-up, 1.5 s measurement).
//! - `ENGRAM_BENCH_PG_URL`: an existing PostgreSQL database to use (schema migrated, tables
//!   cleared and seeded again for each row count) instead of a throwaway cluster.
//! - `ENGRAM_BENCH_BACKENDS`: `sqlite`, `postgres` or both (default), to skip one.
//! - `ENGRAM_BENCH_EXPLAIN=1`: print the query plans of the read statements after seeding.
//! - `ENGRAM_BENCH_SQLITE_ANALYZE=1`: run ANALYZE on the SQLite database after seeding
//!   (PostgreSQL is always analyzed; engram itself never analyzes SQLite).
//! - `ENGRAM_BENCH_SQLITE_INDEX=0`: SQLite without its containment index (schema at 0002),
//!   for the numbers before it.
//!
//! Run without `--bench` (as `cargo test --benches` does), each benchmark runs once on 1,000
//! rows, as a smoke test. `benches/RESULTS.md` describes every group and holds the results;
//! `benches/results_table.py` prints its tables from `target/criterion`.

#[path = "engram/fixture.rs"]
mod fixture;
#[path = "engram/import.rs"]
mod import;
#[path = "engram/raw.rs"]
mod raw;
#[path = "engram/settings.rs"]
mod settings;

use settings::run;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use engram::{
    ClusterQuery, MemoryQuery, NewMemory, Order, Store, TierPolicy, LONG_TERM, MID_TERM, SHORT_TERM,
};
use engram_testkit::data::{
    BASE_TIME, BROAD_FILTER_JSON, NEEDLE_FILTER_JSON, NOTHING_FILTER_JSON, RARE_FILTER_JSON,
};
use postgres::types::ToSql;
use serde_json::Value;
use uuid::Uuid;

use fixture::{Backend, Inserts, Raw, Sample};
use import::ImportFile;

/// Set to `1` to run every query with `include_expired`, that is without the expiry
/// condition every read has by default (`expires_at IS NULL OR expires_at > now`): what that
/// condition costs, measured in one binary.
const INCLUDE_EXPIRED_VAR: &str = "ENGRAM_BENCH_INCLUDE_EXPIRED";

/// A query of every memory, with or without the expiry condition (see
/// [`INCLUDE_EXPIRED_VAR`]).
fn memory_query() -> MemoryQuery {
    if std::env::var(INCLUDE_EXPIRED_VAR).is_ok_and(|v| v == "1") {
        MemoryQuery::new().include_expired()
    } else {
        MemoryQuery::new()
    }
}

/// The page size of the paged queries (user+thread, metadata containment).
const PAGE: u64 = 50;
/// The page size of the tier+updated scan (a policy job's batch).
const SCAN_PAGE: u64 = 100;
/// Memories per `insert_many` call.
const BATCH: usize = 1_000;
/// Memories inserted between two clean-ups in the insert benchmarks.
const INSERT_BATCH_ROWS: usize = 500;
const DAY: Duration = Duration::from_secs(86_400);

struct Settings {
    rows: Vec<usize>,
    /// Memories in the `import` benchmark's file.
    import_rows: usize,
    full: bool,
    sqlite: bool,
    postgres: bool,
}

impl Settings {
    fn from_env() -> Settings {
        let benching = std::env::args().any(|arg| arg == "--bench");
        let rows = match std::env::var("ENGRAM_BENCH_ROWS") {
            Ok(list) if !list.trim().is_empty() => list
                .split(',')
                .map(|n| {
                    n.trim()
                        .replace('_', "")
                        .parse::<usize>()
                        .unwrap_or_else(|_| panic!("ENGRAM_BENCH_ROWS: '{n}' is not a row count"))
                })
                .filter(|&n| n > 0)
                .collect(),
            _ if benching => vec![10_000],
            _ => vec![1_000],
        };
        let backends = std::env::var("ENGRAM_BENCH_BACKENDS").unwrap_or_default();
        let wants = |name: &str| backends.trim().is_empty() || backends.contains(name);
        Settings {
            rows,
            import_rows: import::import_rows(benching),
            full: std::env::var("ENGRAM_BENCH_FULL").is_ok_and(|v| v == "1"),
            sqlite: wants("sqlite"),
            postgres: wants("postgres"),
        }
    }

    fn criterion(&self) -> Criterion {
        settings::criterion(self.full)
    }
}

/// One row count's databases and what the benchmarks need from them.
struct Ctx {
    rows: usize,
    /// `ENGRAM_BENCH_FULL=1`: criterion's default settings everywhere.
    full: bool,
    sample: Sample,
    backends: Vec<Backend>,
    inserts: Inserts,
}

fn pick<T>(items: &[T], i: usize) -> &T {
    &items[i % items.len()]
}

fn filter(json: &str) -> Value {
    serde_json::from_str(json).expect("filter JSON")
}

/// The canonical text engram binds for a filter on SQLite.
fn filter_text(json: &str) -> String {
    engram_core::validate::metadata(filter(json))
        .expect("valid filter")
        .to_string()
}

fn main() {
    let settings = Settings::from_env();
    let mut criterion = settings.criterion();
    for &rows in &settings.rows {
        let mut backends = Vec::new();
        if settings.sqlite {
            backends.push(Backend::sqlite());
        }
        if settings.postgres {
            backends.push(Backend::postgres());
        }
        let sample = fixture::seed(&mut backends, rows);
        for backend in &backends {
            if let Some((total, index)) = backend.sqlite_size() {
                eprintln!(
                    "sqlite database at {rows} rows: {:.1} MiB, of which the containment index {:.1} MiB",
                    total as f64 / 1048576.0,
                    index as f64 / 1048576.0
                );
            }
        }
        for backend in &mut backends {
            backend.snapshot();
        }
        if std::env::var_os("ENGRAM_BENCH_EXPLAIN").is_some() {
            for backend in &mut backends {
                explain(backend, &sample);
            }
        }
        let mut ctx = Ctx {
            rows,
            full: settings.full,
            sample,
            backends,
            inserts: Inserts::new(rows),
        };
        get_by_id(&mut criterion, &mut ctx);
        user_thread(&mut criterion, &mut ctx);
        tier_updated(&mut criterion, &mut ctx);
        metadata_page(
            &mut criterion,
            &mut ctx,
            "metadata_selective",
            RARE_FILTER_JSON,
        );
        metadata_page(
            &mut criterion,
            &mut ctx,
            "metadata_broad_page",
            BROAD_FILTER_JSON,
        );
        metadata_broad_count(&mut criterion, &mut ctx);
        engram_query(&mut criterion, &mut ctx, "metadata_needle", |_, _| {
            memory_query()
                .contains(filter(NEEDLE_FILTER_JSON))
                .limit(PAGE)
        });
        engram_query(&mut criterion, &mut ctx, "metadata_nothing", |_, _| {
            memory_query()
                .contains(filter(NOTHING_FILTER_JSON))
                .limit(PAGE)
        });
        // Filters with operators: the same 0.1 % as metadata_selective written as a bare
        // value, and a range over a number (the newest 50 of about 1 %).
        let rare = engram::Filter::parse(&filter(RARE_FILTER_JSON), "filter").expect("filter");
        engram_query(&mut criterion, &mut ctx, "filter_selective", |_, _| {
            memory_query().filter(rare.clone()).limit(PAGE)
        });
        let range = engram::Filter::parse(&serde_json::json!({"turn": {"$gte": 199}}), "filter")
            .expect("filter");
        engram_query(&mut criterion, &mut ctx, "filter_range", |_, _| {
            memory_query().filter(range.clone()).limit(PAGE)
        });
        engram_query(&mut criterion, &mut ctx, "related_any", |sample, i| {
            let (_, thread) = pick(&sample.user_threads, i);
            memory_query().related_to_any([thread.as_str()]).limit(PAGE)
        });
        cluster_lookup(&mut criterion, &mut ctx);
        inserts(&mut criterion, &mut ctx, "insert_one", 1);
        inserts(&mut criterion, &mut ctx, "insert_many", BATCH);
        let file = ImportFile::write(&ctx.inserts.next(settings.import_rows));
        import_file(&mut criterion, &mut ctx, &file);
        drop(file);
        policy_run(&mut criterion, &mut ctx);
    }
    criterion.final_summary();
}

fn get_by_id(c: &mut Criterion, ctx: &mut Ctx) {
    let mut group = c.benchmark_group("get_by_id");
    let sql = raw::get_by_id();
    let (rows, ids) = (ctx.rows, &ctx.sample.ids);
    for backend in &mut ctx.backends {
        let store = &backend.store;
        run(&mut group, BenchmarkId::new(backend.name, rows), |i| {
            store.get(*pick(ids, i)).expect("get").expect("found")
        });
        let id = BenchmarkId::new(backend.raw_name(), rows);
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let mut stmt = conn.prepare(&sql.sqlite).expect("prepare");
                run(&mut group, id, |i| {
                    stmt.query_row([pick(ids, i).to_string()], raw::sqlite_memory)
                        .expect("get")
                });
            }
            Raw::Postgres(client) => {
                let stmt = client.prepare(&sql.postgres).expect("prepare");
                run(&mut group, id, |i| {
                    let id: &Uuid = pick(ids, i);
                    let row = client.query_opt(&stmt, &[id]).expect("get");
                    raw::pg_memory(&row.expect("found"))
                });
            }
        }
    }
    group.finish();
}

fn user_thread(c: &mut Criterion, ctx: &mut Ctx) {
    let mut group = c.benchmark_group("user_thread");
    let sql = raw::user_thread();
    let (rows, pairs) = (ctx.rows, &ctx.sample.user_threads);
    let limit = PAGE as i64;
    for backend in &mut ctx.backends {
        let store = &backend.store;
        run(&mut group, BenchmarkId::new(backend.name, rows), |i| {
            let (user, thread) = pick(pairs, i);
            let query = memory_query()
                .user(user.as_str())
                .thread(thread.as_str())
                .limit(PAGE);
            store.query(query).expect("query")
        });
        let id = BenchmarkId::new(backend.raw_name(), rows);
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let mut stmt = conn.prepare(&sql.sqlite).expect("prepare");
                run(&mut group, id, |i| {
                    let (user, thread) = pick(pairs, i);
                    stmt.query_map(
                        rusqlite::params![user, thread, limit, 0],
                        raw::sqlite_memory,
                    )
                    .expect("query")
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .expect("rows")
                });
            }
            Raw::Postgres(client) => {
                let stmt = client.prepare(&sql.postgres).expect("prepare");
                run(&mut group, id, |i| {
                    let (user, thread) = pick(pairs, i);
                    let params: [&(dyn ToSql + Sync); 4] = [user, thread, &Some(limit), &0i64];
                    let rows = client.query(&stmt, &params).expect("query");
                    rows.iter().map(raw::pg_memory).collect::<Vec<_>>()
                });
            }
        }
    }
    group.finish();
}

/// The policy scan: the oldest short-term memories not updated for 30 days, one page.
fn tier_updated(c: &mut Criterion, ctx: &mut Ctx) {
    let mut group = c.benchmark_group("tier_updated");
    let sql = raw::tier_updated();
    let rows = ctx.rows;
    let cutoff = BASE_TIME.saturating_sub(30 * DAY);
    let limit = SCAN_PAGE as i64;
    for backend in &mut ctx.backends {
        let store = &backend.store;
        run(&mut group, BenchmarkId::new(backend.name, rows), |_| {
            let query = memory_query()
                .tier(SHORT_TERM)
                .updated(None, Some(cutoff))
                .order(Order::UpdatedAsc)
                .limit(SCAN_PAGE);
            store.query(query).expect("query")
        });
        let id = BenchmarkId::new(backend.raw_name(), rows);
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let mut stmt = conn.prepare(&sql.sqlite).expect("prepare");
                run(&mut group, id, |_| {
                    stmt.query_map(
                        rusqlite::params![SHORT_TERM, cutoff.as_micros(), limit, 0],
                        raw::sqlite_memory,
                    )
                    .expect("query")
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .expect("rows")
                });
            }
            Raw::Postgres(client) => {
                let stmt = client.prepare(&sql.postgres).expect("prepare");
                let cutoff = cutoff.to_system_time();
                run(&mut group, id, |_| {
                    let params: [&(dyn ToSql + Sync); 4] =
                        [&SHORT_TERM, &cutoff, &Some(limit), &0i64];
                    let rows = client.query(&stmt, &params).expect("query");
                    rows.iter().map(raw::pg_memory).collect::<Vec<_>>()
                });
            }
        }
    }
    group.finish();
}

/// Metadata containment, newest first, the first page of 50.
fn metadata_page(c: &mut Criterion, ctx: &mut Ctx, name: &str, json: &str) {
    let mut group = c.benchmark_group(name);
    let sql = raw::contains_page();
    let rows = ctx.rows;
    let limit = PAGE as i64;
    for backend in &mut ctx.backends {
        let store = &backend.store;
        run(&mut group, BenchmarkId::new(backend.name, rows), |_| {
            let query = memory_query().contains(filter(json)).limit(PAGE);
            store.query(query).expect("query")
        });
        let id = BenchmarkId::new(backend.raw_name(), rows);
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let mut stmt = conn.prepare(&sql.sqlite).expect("prepare");
                let text = filter_text(json);
                run(&mut group, id, |_| {
                    stmt.query_map(rusqlite::params![text, limit, 0], raw::sqlite_memory)
                        .expect("query")
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .expect("rows")
                });
            }
            Raw::Postgres(client) => {
                let stmt = client.prepare(&sql.postgres).expect("prepare");
                let value = filter(json);
                run(&mut group, id, |_| {
                    let params: [&(dyn ToSql + Sync); 3] = [&value, &Some(limit), &0i64];
                    let rows = client.query(&stmt, &params).expect("query");
                    rows.iter().map(raw::pg_memory).collect::<Vec<_>>()
                });
            }
        }
    }
    group.finish();
}

/// A query through engram only (no raw baseline): `query_of(sample, iteration)`.
fn engram_query(
    c: &mut Criterion,
    ctx: &mut Ctx,
    name: &str,
    query_of: impl Fn(&Sample, usize) -> MemoryQuery,
) {
    let mut group = c.benchmark_group(name);
    let rows = ctx.rows;
    for backend in &mut ctx.backends {
        let store = &backend.store;
        let sample = &ctx.sample;
        run(&mut group, BenchmarkId::new(backend.name, rows), |i| {
            store.query(query_of(sample, i)).expect("query")
        });
    }
    group.finish();
}

/// How many memories match the broad (10 %) filter.
fn metadata_broad_count(c: &mut Criterion, ctx: &mut Ctx) {
    let mut group = c.benchmark_group("metadata_broad_count");
    let sql = raw::contains_count();
    let rows = ctx.rows;
    for backend in &mut ctx.backends {
        let store = &backend.store;
        run(&mut group, BenchmarkId::new(backend.name, rows), |_| {
            let query = memory_query().contains(filter(BROAD_FILTER_JSON));
            store.count(query).expect("count")
        });
        let id = BenchmarkId::new(backend.raw_name(), rows);
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let mut stmt = conn.prepare(&sql.sqlite).expect("prepare");
                let text = filter_text(BROAD_FILTER_JSON);
                run(&mut group, id, |_| {
                    stmt.query_row([&text], |row| row.get::<_, i64>(0))
                        .expect("count")
                });
            }
            Raw::Postgres(client) => {
                let stmt = client.prepare(&sql.postgres).expect("prepare");
                let value = filter(BROAD_FILTER_JSON);
                run(&mut group, id, |_| {
                    client
                        .query_one(&stmt, &[&value])
                        .expect("count")
                        .get::<_, i64>(0)
                });
            }
        }
    }
    group.finish();
}

/// One cluster by user, topic and category.
fn cluster_lookup(c: &mut Criterion, ctx: &mut Ctx) {
    let mut group = c.benchmark_group("cluster_lookup");
    let sql = raw::clusters();
    let (rows, keys) = (ctx.rows, &ctx.sample.cluster_keys);
    for backend in &mut ctx.backends {
        let store = &backend.store;
        run(&mut group, BenchmarkId::new(backend.name, rows), |i| {
            let (user, topic, category) = pick(keys, i);
            let query = ClusterQuery::user(user).topic(topic).category(category);
            store.clusters(&query).expect("clusters")
        });
        let id = BenchmarkId::new(backend.raw_name(), rows);
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let mut stmt = conn.prepare(&sql.sqlite).expect("prepare");
                run(&mut group, id, |i| {
                    let (user, topic, category) = pick(keys, i);
                    stmt.query_map(
                        rusqlite::params![user, topic, category],
                        raw::sqlite_cluster,
                    )
                    .expect("query")
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .expect("rows")
                });
            }
            Raw::Postgres(client) => {
                let stmt = client.prepare(&sql.postgres).expect("prepare");
                run(&mut group, id, |i| {
                    let (user, topic, category) = pick(keys, i);
                    let rows = client
                        .query(&stmt, &[user, topic, category])
                        .expect("query");
                    rows.iter().map(raw::pg_cluster).collect::<Vec<_>>()
                });
            }
        }
    }
    group.finish();
}

/// Times `iters` insert calls of `per_call` memories each. The memories are generated in
/// batches of about [`INSERT_BATCH_ROWS`] before the clock starts, and each batch is deleted
/// again after it (untimed, on SQLite through a third connection), so that every insert goes
/// into the seeded table.
fn time_inserts<S>(
    iters: u64,
    per_call: usize,
    inserts: &mut Inserts,
    state: &mut S,
    mut insert: impl FnMut(&mut S, Vec<NewMemory>),
    mut delete: impl FnMut(&mut S),
) -> Duration {
    let calls_per_batch = (INSERT_BATCH_ROWS / per_call).max(1) as u64;
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let calls = calls_per_batch.min(iters - done);
        let mut memories = inserts.next(calls as usize * per_call).into_iter();
        let inputs: Vec<Vec<NewMemory>> = (0..calls)
            .map(|_| memories.by_ref().take(per_call).collect())
            .collect();
        let start = Instant::now();
        for input in inputs {
            insert(state, input);
        }
        total += start.elapsed();
        delete(state);
        done += calls;
    }
    total
}

/// One insert benchmark in `group`: `insert` of `per_call` generated memories per call,
/// timed by [`time_inserts`], with `clean` after each batch.
fn bench_inserts<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    per_call: usize,
    inserts: &mut Inserts,
    state: &mut S,
    mut insert: impl FnMut(&mut S, Vec<NewMemory>),
    mut clean: impl FnMut(&mut S),
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            time_inserts(iters, per_call, inserts, state, &mut insert, &mut clean)
        })
    });
}

/// Inserts of one memory (`Store::insert`) or of [`BATCH`] memories in one call
/// (`Store::insert_many`), into the seeded table.
fn inserts(c: &mut Criterion, ctx: &mut Ctx, name: &str, per_call: usize) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(per_call as u64));
    let sql = raw::insert_one();
    let rows = ctx.rows;
    let inserts = &mut ctx.inserts;
    for backend in &mut ctx.backends {
        let store = backend.store.clone();
        let id = BenchmarkId::new(backend.name, rows);
        let raw_id = BenchmarkId::new(backend.raw_name(), rows);
        let engram_insert = |mut input: Vec<NewMemory>| {
            if per_call == 1 {
                let memory = input.pop().expect("one memory");
                black_box(store.insert(memory).expect("insert"));
            } else {
                black_box(store.insert_many(input).expect("insert many"));
            }
        };
        let cleaner = backend.cleaner.as_ref();
        match &mut backend.raw {
            Raw::Sqlite(conn) => {
                let cleaner = cleaner.expect("a clean-up connection");
                bench_inserts(
                    &mut group,
                    id,
                    per_call,
                    inserts,
                    &mut (),
                    |_, input| engram_insert(input),
                    |_| sqlite_clean(cleaner, &store),
                );
                bench_inserts(
                    &mut group,
                    raw_id,
                    per_call,
                    inserts,
                    conn,
                    |conn, input| {
                        if per_call == 1 {
                            let mut stmt = conn.prepare_cached(&sql.sqlite).expect("prepare");
                            black_box(raw::sqlite_insert(&mut stmt, &input[0]));
                        } else {
                            black_box(raw::sqlite_insert_many(conn, &input));
                        }
                    },
                    |_| sqlite_clean(cleaner, &store),
                );
            }
            Raw::Postgres(client) => {
                bench_inserts(
                    &mut group,
                    id,
                    per_call,
                    inserts,
                    client,
                    |_, input| engram_insert(input),
                    pg_clean,
                );
                let one = client.prepare(&sql.postgres).expect("prepare");
                let many = client.prepare(raw::PG_INSERT_MANY).expect("prepare");
                bench_inserts(
                    &mut group,
                    raw_id,
                    per_call,
                    inserts,
                    client,
                    |client, input| {
                        if per_call == 1 {
                            black_box(raw::pg_insert(client, &one, &input[0]));
                        } else {
                            black_box(raw::pg_insert_many(client, &many, &input));
                        }
                    },
                    pg_clean,
                );
                if per_call > 1 {
                    let copy_id = BenchmarkId::new(fixture::PG_COPY_NAME, rows);
                    bench_inserts(
                        &mut group,
                        copy_id,
                        per_call,
                        inserts,
                        client,
                        |client, input| {
                            black_box(raw::pg_copy_many(client, &input));
                        },
                        pg_clean,
                    );
                }
            }
        }
    }
    group.finish();
}

/// Times `iters` imports of the whole file by `import` (each starting from the seeded
/// table: `clean`, untimed, removes what the previous one wrote).
fn time_imports<S>(
    iters: u64,
    state: &mut S,
    mut import: impl FnMut(&mut S),
    mut clean: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        import(state);
        total += start.elapsed();
        clean(state);
    }
    total
}

/// `engram import` without the command line: the file read line by line, each line parsed
/// into a `NewMemory`, `Store::import` of every batch of 1,000, into the seeded table. On
/// PostgreSQL beside it: the same file read and parsed the same way, each batch written
/// with one binary `COPY` through the bare driver.
fn import_file(c: &mut Criterion, ctx: &mut Ctx, file: &ImportFile) {
    let mut group = c.benchmark_group("import");
    group.throughput(Throughput::Elements(file.rows as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    let expected = file.rows as u64;
    for backend in &mut ctx.backends {
        let store = backend.store.clone();
        let id = BenchmarkId::new(backend.name, file.rows);
        let engram_import = || {
            let imported = file.read_batches(|batch| store.import(batch).expect("import"));
            assert_eq!(imported, expected, "every memory of the file is new");
        };
        let cleaner = backend.cleaner.as_ref();
        match &mut backend.raw {
            Raw::Sqlite(_) => {
                let cleaner = cleaner.expect("a clean-up connection");
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        time_imports(
                            iters,
                            &mut (),
                            |_| engram_import(),
                            |_| sqlite_clean(cleaner, &store),
                        )
                    })
                });
            }
            Raw::Postgres(client) => {
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        time_imports(iters, client, |_| engram_import(), pg_clean_and_vacuum)
                    })
                });
                let copy_id = BenchmarkId::new(fixture::PG_COPY_NAME, file.rows);
                group.bench_function(copy_id, |b| {
                    b.iter_custom(|iters| {
                        time_imports(
                            iters,
                            client,
                            |client| {
                                let written =
                                    file.read_batches(|batch| raw::pg_copy_many(client, &batch));
                                assert_eq!(written, expected);
                            },
                            pg_clean_and_vacuum,
                        )
                    })
                });
            }
        }
    }
    group.finish();
}

/// [`pg_clean`], then a vacuum of the dead rows, so that every import of the whole file
/// meets the same table.
fn pg_clean_and_vacuum(client: &mut postgres::Client) {
    pg_clean(client);
    client.batch_execute("VACUUM memories").expect("vacuum");
}

/// Deletes what an insert benchmark wrote (and every history event: the seeding's too, so
/// that each timed insert appends to the same, empty, history), then applies the containment index's queue of
/// those deletes through the store (untimed), so that the next timed insert does not pay
/// for them.
fn sqlite_clean(conn: &rusqlite::Connection, store: &Store) {
    conn.execute(
        "DELETE FROM memories WHERE namespace = ?1",
        [fixture::INSERT_NAMESPACE],
    )
    .expect("delete inserted rows");
    conn.execute("DELETE FROM memory_history", [])
        .expect("delete the inserts' history");
    store
        .update_index(&mut |_, _| {})
        .expect("apply the index queue");
}

fn pg_clean(client: &mut postgres::Client) {
    client
        .execute(
            "DELETE FROM memories WHERE namespace = $1",
            &[&fixture::INSERT_NAMESPACE],
        )
        .expect("delete inserted rows");
    client
        .execute("DELETE FROM memory_history", &[])
        .expect("delete the inserts' history");
}

/// The tier policies of a nightly job: short-term memories not updated for 30 days move to
/// mid-term, mid-term ones not updated for 60 days to long-term, and long-term content is
/// cut to 400 characters.
fn policies() -> Vec<TierPolicy> {
    vec![
        TierPolicy::new(SHORT_TERM).expire_after(30 * DAY, MID_TERM),
        TierPolicy::new(MID_TERM).expire_after(60 * DAY, LONG_TERM),
        TierPolicy::new(LONG_TERM).max_content_chars(400),
    ]
}

/// One policy run as of the data's fixed "now", each on the seeded data: the rows the
/// previous run changed are put back (untimed) first.
fn policy_run(c: &mut Criterion, ctx: &mut Ctx) {
    let mut group = c.benchmark_group("policy_run");
    // One run takes tens of milliseconds to seconds: a flat ten samples in the short run.
    group.sampling_mode(SamplingMode::Flat);
    if !ctx.full {
        group.sample_size(10);
    }
    let policies = policies();
    let rows = ctx.rows;
    let mut touched = Vec::new();
    for backend in &mut ctx.backends {
        let store: Store = backend.store.clone();
        group.bench_function(BenchmarkId::new(backend.name, rows), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    backend.restore();
                    let start = Instant::now();
                    let report = store
                        .run_policies_at(&policies, BASE_TIME)
                        .expect("run policies");
                    total += start.elapsed();
                    touched.push((backend.name, report.total_rows()));
                }
                total
            })
        });
        backend.restore();
    }
    group.finish();
    touched.dedup_by_key(|(name, _)| *name);
    for (name, rows) in touched {
        eprintln!("policy_run: one run on {name} changes {rows} rows");
    }
}

/// Prints the query plans of the read statements (`ENGRAM_BENCH_EXPLAIN=1`).
fn explain(backend: &mut Backend, sample: &Sample) {
    let (user, thread) = &sample.user_threads[0];
    let (cuser, topic, category) = &sample.cluster_keys[0];
    let cutoff = BASE_TIME.saturating_sub(30 * DAY);
    let (page, scan) = (PAGE as i64, SCAN_PAGE as i64);
    match &mut backend.raw {
        Raw::Sqlite(conn) => {
            let tiers = SHORT_TERM;
            let cutoff = cutoff.as_micros();
            let (rare, broad) = (
                filter_text(RARE_FILTER_JSON),
                filter_text(BROAD_FILTER_JSON),
            );
            let cases: Vec<(&str, String, Vec<&dyn rusqlite::ToSql>)> = vec![
                (
                    "user_thread",
                    raw::user_thread().sqlite,
                    vec![user, thread, &page, &0],
                ),
                (
                    "tier_updated",
                    raw::tier_updated().sqlite,
                    vec![&tiers, &cutoff, &scan, &0],
                ),
                (
                    "metadata_page",
                    raw::contains_page().sqlite,
                    vec![&rare, &page, &0],
                ),
                ("metadata_count", raw::contains_count().sqlite, vec![&broad]),
                (
                    "cluster_lookup",
                    raw::clusters().sqlite,
                    vec![cuser, topic, category],
                ),
            ];
            for (name, sql, params) in cases {
                let mut stmt = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .expect("explain");
                let plan: Vec<String> = stmt
                    .query_map(&params[..], |row| row.get::<_, String>(3))
                    .expect("explain")
                    .collect::<rusqlite::Result<_>>()
                    .expect("explain");
                eprintln!("sqlite {name}: {}", plan.join(" / "));
            }
        }
        Raw::Postgres(client) => {
            let tiers = SHORT_TERM;
            let cutoff = cutoff.to_system_time();
            let (page, scan) = (Some(page), Some(scan));
            let (rare, broad) = (filter(RARE_FILTER_JSON), filter(BROAD_FILTER_JSON));
            let cases: Vec<(&str, String, Vec<&(dyn ToSql + Sync)>)> = vec![
                (
                    "user_thread",
                    raw::user_thread().postgres,
                    vec![user, thread, &page, &0i64],
                ),
                (
                    "tier_updated",
                    raw::tier_updated().postgres,
                    vec![&tiers, &cutoff, &scan, &0i64],
                ),
                (
                    "metadata_rare_page",
                    raw::contains_page().postgres,
                    vec![&rare, &page, &0i64],
                ),
                (
                    "metadata_broad_page",
                    raw::contains_page().postgres,
                    vec![&broad, &page, &0i64],
                ),
                (
                    "metadata_broad_count",
                    raw::contains_count().postgres,
                    vec![&broad],
                ),
                (
                    "cluster_lookup",
                    raw::clusters().postgres,
                    vec![cuser, topic, category],
                ),
            ];
            for (name, sql, params) in cases {
                let rows = client
                    .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), &params)
                    .expect("explain");
                eprintln!("postgres {name}:");
                for row in rows {
                    eprintln!("    {}", row.get::<_, String>(0));
                }
            }
        }
    }
}
