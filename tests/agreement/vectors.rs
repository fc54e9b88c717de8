//! Nearest-neighbour search on both stores against pgvector on the live server.
//!
//! Oracle: pgvector itself. The PostgreSQL store's distances are pgvector's (its `<=>`,
//! `<->` and `<#>` operators run on the server), and each is also checked against a direct
//! `SELECT $1::vector <op> $2::vector` of the same pair; the SQLite store computes them in
//! engram. The rule both must keep:
//!
//! - with the reference build of pgvector (0.6.2 as the testkit provisions it, whose
//!   summation order engram reproduces), every distance is the same bits on both backends,
//!   so the ids come back in the same order;
//! - with any other build, each distance is within [`tolerance`] of engram's, and two rows
//!   may only change places where their distances are that close.
//!
//! The property checks the rule that applies to the server at hand, and always checks
//! that a differently ordered `f32` sum (a sequential one) stays within the tolerance, so
//! that the tolerance is a true bound and not a hope.

use engram::{Embedding, Metric, NearestQuery, Neighbour};
use engram_core::vector::{rank_order, tolerance};
use engram_testkit::BackendKind;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use crate::generate::{store_case, QuerySpec, Row};
use crate::stores::{expected_ids, memory_query};
use crate::{check, fail, fixture, raw};

/// One component: small integers (ties), ordinary values, tiny and huge magnitudes, zero.
fn component() -> BoxedStrategy<f32> {
    prop_oneof![
        3 => (-3i8..=3).prop_map(f32::from),
        4 => -1.0f32..1.0,
        1 => (-1.0f32..1.0).prop_map(|x| x * 1e-20),
        1 => (-1.0f32..1.0).prop_map(|x| x * 1e18),
        1 => Just(0.0f32),
    ]
    .boxed()
}

/// A vector of `dims` components, or the zero vector.
fn vector_of(dims: usize) -> BoxedStrategy<Vec<f32>> {
    prop_oneof![
        9 => vec(component(), dims),
        1 => Just(vec![0.0; dims]),
    ]
    .boxed()
}

/// Where a vector comes from: its own values, or a copy of a stored row's (duplicates,
/// and queries equal to a stored vector).
#[derive(Clone, Debug)]
enum Source {
    Own(Vec<f32>),
    CopyOf(usize),
}

fn source(dims: usize) -> BoxedStrategy<Source> {
    prop_oneof![
        4 => vector_of(dims).prop_map(Source::Own),
        1 => (0usize..40).prop_map(Source::CopyOf),
    ]
    .boxed()
}

/// A nearest-neighbour query over the stored rows.
#[derive(Clone, Debug)]
struct VectorQuery {
    vector: Source,
    metric: Metric,
    k: u64,
    offset: u64,
    /// The filters, or none at all.
    filter: Option<QuerySpec>,
}

/// A case: rows (some without an embedding), their vectors, and queries.
#[derive(Clone, Debug)]
struct Case {
    dims: usize,
    slots: Vec<Option<Row>>,
    vectors: Vec<Option<Source>>,
    queries: Vec<VectorQuery>,
}

fn case() -> BoxedStrategy<Case> {
    let dims = prop_oneof![4 => 1usize..=20, 1 => select(vec![31usize, 64, 384])];
    (dims, store_case())
        .prop_flat_map(|(dims, (slots, specs))| {
            let vectors = vec(proptest::option::weighted(0.85, source(dims)), slots.len());
            let queries = vec(
                (
                    source(dims),
                    select(Metric::ALL.to_vec()),
                    0u64..12,
                    prop_oneof![3 => Just(0u64), 1 => 0u64..8],
                    proptest::option::weighted(0.5, select(specs)),
                ),
                1..5,
            );
            (Just(dims), Just(slots), vectors, queries)
        })
        .prop_map(|(dims, slots, vectors, queries)| Case {
            dims,
            slots,
            vectors,
            queries: queries
                .into_iter()
                .map(|(vector, metric, k, offset, filter)| VectorQuery {
                    vector,
                    metric,
                    k,
                    offset,
                    filter,
                })
                .collect(),
        })
        .boxed()
}

/// The values of `source` in this case (a copy of a row without a vector of its own, or
/// of a missing row, falls back to the zero vector).
fn resolve(source: &Source, case: &Case) -> Vec<f32> {
    match source {
        Source::Own(values) => values.clone(),
        Source::CopyOf(index) => match case.vectors.get(*index % case.vectors.len().max(1)) {
            Some(Some(Source::Own(values))) => values.clone(),
            _ => vec![0.0; case.dims],
        },
    }
}

/// Enables pgvector in the oracle's database; returns whether the server runs the
/// reference build (see the module documentation).
fn reference_build() -> Result<bool, TestCaseError> {
    let mut oracle = crate::postgres();
    oracle
        .client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
        .map_err(fail("enable pgvector for the oracle"))?;
    let row = oracle
        .client
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .map_err(fail("read pgvector's version"))?;
    let version: String = row.get(0);
    Ok(version == "0.6.2" && cfg!(target_arch = "x86_64"))
}

/// pgvector's own distance of one pair, straight from the server.
fn pgvector_distance(metric: Metric, a: &[f32], b: &[f32]) -> Result<f64, TestCaseError> {
    let sql = format!(
        "SELECT ($1::float4[]::vector {} $2::float4[]::vector)::float8",
        metric.pgvector_operator()
    );
    let mut oracle = crate::postgres();
    let row = oracle
        .client
        .query_one(&sql, &[&a, &b])
        .map_err(fail("pgvector's distance"))?;
    Ok(row.get(0))
}

/// The sequential `f32` distance: another summation order than pgvector's build, to check
/// that [`tolerance`] bounds the difference.
fn sequential_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let sum = |f: &dyn Fn(usize) -> f32| (0..a.len()).fold(0f32, |s, i| s + f(i));
    match metric {
        Metric::L2 => f64::from(sum(&|i| (a[i] - b[i]) * (a[i] - b[i]))).sqrt(),
        Metric::NegativeInnerProduct => -f64::from(sum(&|i| a[i] * b[i])),
        Metric::Cosine => {
            let dot = f64::from(sum(&|i| a[i] * b[i]));
            let norms = f64::from(sum(&|i| a[i] * a[i])) * f64::from(sum(&|i| b[i] * b[i]));
            1.0 - (dot / norms.sqrt()).clamp(-1.0, 1.0)
        }
    }
}

fn same_distance(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) || a == b
}

/// The rule for another build: each PostgreSQL distance within the tolerance of engram's
/// distance of the same row, and position by position the same id, or two ids whose
/// distances (engram's) are within the tolerance of each other: only near-ties trade
/// places, also at the cut of the page.
fn agree_within_tolerance(
    sqlite: &[Neighbour],
    postgres: &[Neighbour],
    engram_distance: impl Fn(uuid::Uuid) -> f64,
    tolerance_of: impl Fn(uuid::Uuid) -> f64,
) -> bool {
    let close = |a: f64, b: f64, t: f64| same_distance(a, b) || (a - b).abs() <= t;
    sqlite.len() == postgres.len()
        && postgres.iter().all(|p| {
            close(
                p.distance,
                engram_distance(p.memory.id),
                tolerance_of(p.memory.id),
            )
        })
        && sqlite.iter().zip(postgres).all(|(s, p)| {
            let (s_id, p_id) = (s.memory.id, p.memory.id);
            s_id == p_id
                || close(
                    engram_distance(s_id),
                    engram_distance(p_id),
                    tolerance_of(s_id).max(tolerance_of(p_id)),
                )
        })
}

/// Oracle: pgvector on the live server (see the module documentation), and a pure-Rust
/// ranking of the rows the query's filters select (the same filter oracle as the stores
/// property) by engram's distance, NaN last, ties by id.
///
/// Random vectors of 1 to 20 dimensions (sometimes 31, 64 or 384), with duplicates, zero
/// vectors, small integers (ties), and magnitudes around 1e-20 and 1e18, are stored on both
/// backends with random memories (some without an embedding); random queries (a random
/// vector or a stored one, each metric, k from 0 to 11, an offset, with or without the
/// filters of the stores property) must return the same ids in the same order, with the
/// same distances.
#[test]
fn nearest_neighbours_agree_with_pgvector() {
    engram_testkit::postgres::require_pgvector();
    let sqlite = fixture(BackendKind::Sqlite);
    let postgres = fixture(BackendKind::Postgres);
    let exact = reference_build().expect("pgvector's version");
    let sqlite_store = &sqlite.store;
    let pg_store = &postgres.store;
    check(
        "tests/proptest-regressions/agreement/vectors.txt",
        case(),
        |case| {
            for store in [&sqlite, &postgres] {
                store.execute("DELETE FROM memories");
                store.execute("DELETE FROM embedding_space");
            }
            let rows: Vec<(&Row, Option<Vec<f32>>)> = case
                .slots
                .iter()
                .zip(&case.vectors)
                .filter_map(|(row, source)| {
                    Some((row.as_ref()?, source.as_ref().map(|s| resolve(s, &case))))
                })
                .collect();
            let mut memories = Vec::with_capacity(rows.len());
            for (row, values) in &rows {
                let mut memory = row.new_memory(raw(&row.metadata)?);
                if let Some(values) = values {
                    memory = memory.embedding(
                        Embedding::new(values.clone()).map_err(fail("a generated embedding"))?,
                    );
                }
                memories.push(memory);
            }
            sqlite_store
                .insert_many(memories.clone())
                .map_err(fail("insert into SQLite"))?;
            pg_store
                .insert_many(memories)
                .map_err(fail("insert into PostgreSQL"))?;
            let stored_rows: Vec<Row> = rows.iter().map(|(row, _)| (*row).clone()).collect();
            for spec in &case.queries {
                let query_values = resolve(&spec.vector, &case);
                let vector = Embedding::new(query_values.clone())
                    .map_err(fail("a generated query vector"))?;
                let (filter, selected) = match &spec.filter {
                    Some(filter_spec) => {
                        let unpaged = QuerySpec {
                            limit: None,
                            offset: 0,
                            ..filter_spec.clone()
                        };
                        let doc = unpaged.filter.as_ref().map(|f| f.doc(&case.slots));
                        let (ids, _) = expected_ids(&stored_rows, &unpaged, doc.as_ref())?;
                        (memory_query(&unpaged, doc.as_ref())?, Some(ids))
                    }
                    None => (engram::MemoryQuery::new(), None),
                };
                // The oracle's ranking.
                let mut ranked: Vec<(f64, uuid::Uuid)> = rows
                    .iter()
                    .filter(|(row, _)| selected.as_ref().is_none_or(|ids| ids.contains(&row.id)))
                    .filter_map(|(row, values)| {
                        let values = values.as_ref()?;
                        Some((spec.metric.distance(values, &query_values), row.id))
                    })
                    .collect();
                ranked.sort_by(|a, b| rank_order(a.0, b.0).then(a.1.cmp(&b.1)));
                let expected: Vec<uuid::Uuid> = ranked
                    .iter()
                    .skip(spec.offset as usize)
                    .take(spec.k as usize)
                    .map(|(_, id)| *id)
                    .collect();
                let query = NearestQuery::new(vector, spec.k)
                    .metric(spec.metric)
                    .offset(spec.offset)
                    .filter(filter);
                let on_sqlite = sqlite_store
                    .nearest(query.clone())
                    .map_err(fail("SQLite nearest"))?;
                let on_pg = pg_store
                    .nearest(query)
                    .map_err(fail("PostgreSQL nearest"))?;
                let sqlite_ids: Vec<_> = on_sqlite.iter().map(|n| n.memory.id).collect();
                let pg_ids: Vec<_> = on_pg.iter().map(|n| n.memory.id).collect();
                let context = || format!("query {spec:?}");
                prop_assert_eq!(&sqlite_ids, &expected, "SQLite vs oracle, {}", context());
                let values_of = |id: uuid::Uuid| {
                    rows.iter()
                        .find(|(row, _)| row.id == id)
                        .and_then(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                for n in &on_pg {
                    let stored = values_of(n.memory.id);
                    let direct = pgvector_distance(spec.metric, &stored, &query_values)?;
                    prop_assert!(
                        same_distance(n.distance, direct),
                        "the store's distance {} is pgvector's {direct}, {}",
                        n.distance,
                        context()
                    );
                }
                for s in &on_sqlite {
                    let stored = values_of(s.memory.id);
                    let engram = spec.metric.distance(&stored, &query_values);
                    let sequential = sequential_distance(spec.metric, &stored, &query_values);
                    let bound = tolerance(spec.metric, &stored, &query_values);
                    // Overflow (infinity) and 0/0 (NaN) have no size to bound.
                    let unbounded = !engram.is_finite() || !sequential.is_finite();
                    prop_assert!(
                        unbounded
                            || same_distance(engram, sequential)
                            || (engram - sequential).abs() <= bound,
                        "another summation order differs by more than the tolerance: \
                         {engram} and {sequential} (tolerance {bound}), {}",
                        context()
                    );
                }
                if exact {
                    prop_assert_eq!(&pg_ids, &expected, "PostgreSQL vs oracle, {}", context());
                    for (s, p) in on_sqlite.iter().zip(&on_pg) {
                        prop_assert!(
                            same_distance(s.distance, p.distance),
                            "distances {} (SQLite) and {} (PostgreSQL), {}",
                            s.distance,
                            p.distance,
                            context()
                        );
                    }
                } else {
                    let tolerance_of =
                        |id: uuid::Uuid| tolerance(spec.metric, &values_of(id), &query_values);
                    let engram_distance =
                        |id: uuid::Uuid| spec.metric.distance(&values_of(id), &query_values);
                    prop_assert!(
                        agree_within_tolerance(&on_sqlite, &on_pg, engram_distance, tolerance_of),
                        "SQLite {:?} and PostgreSQL {:?} differ beyond the tolerance, {}",
                        on_sqlite
                            .iter()
                            .map(|n| (n.memory.id, n.distance))
                            .collect::<Vec<_>>(),
                        on_pg
                            .iter()
                            .map(|n| (n.memory.id, n.distance))
                            .collect::<Vec<_>>(),
                        context()
                    );
                }
            }
            Ok(())
        },
    );
}

/// The tolerance rule itself: a ranking by distances that another build computed (here
/// moved by up to the tolerance) agrees by the rule, and one moved further does not.
#[test]
fn the_tolerance_rule_accepts_near_ties_and_nothing_else() {
    let id = |n: u128| uuid::Uuid::from_u128(n);
    let neighbour = |n: u128, distance: f64| Neighbour {
        memory: engram::Memory {
            id: id(n),
            user_id: "u".into(),
            namespace: "default".into(),
            thread_id: None,
            tier: "short_term".into(),
            content: String::new(),
            score: 50,
            metadata: serde_json::json!({}),
            related_threads: vec![],
            summarized: false,
            created_at: engram::Timestamp::from_micros(0),
            updated_at: engram::Timestamp::from_micros(0),
            expires_at: None,
            embedding: None,
        },
        distance,
    };
    // engram's distances of rows 1, 2, 3; another build computes row 2 a little lower.
    let engram = [
        neighbour(1, 0.5),
        neighbour(2, 0.5 + 1e-9),
        neighbour(3, 0.7),
    ];
    let distance = |id: uuid::Uuid| engram.iter().find(|n| n.memory.id == id).unwrap().distance;
    let near_tie_swapped = [
        neighbour(2, 0.5 - 1e-9),
        neighbour(1, 0.5),
        neighbour(3, 0.7),
    ];
    let far_swapped = [
        neighbour(3, 0.7),
        neighbour(1, 0.5),
        neighbour(2, 0.5 + 1e-9),
    ];
    let far_off = [neighbour(1, 0.5), neighbour(2, 0.6), neighbour(3, 0.7)];
    let cut_at_a_near_tie = [neighbour(2, 0.5 - 1e-9), neighbour(1, 0.5)];
    assert!(agree_within_tolerance(&engram, &engram, distance, |_| 0.0));
    assert!(agree_within_tolerance(
        &engram,
        &near_tie_swapped,
        distance,
        |_| 1e-8
    ));
    assert!(agree_within_tolerance(
        &engram[..2],
        &cut_at_a_near_tie,
        distance,
        |_| 1e-8
    ));
    assert!(!agree_within_tolerance(
        &engram,
        &near_tie_swapped,
        distance,
        |_| 0.0
    ));
    assert!(!agree_within_tolerance(
        &engram,
        &far_swapped,
        distance,
        |_| 1e-8
    ));
    assert!(!agree_within_tolerance(&engram, &far_off, distance, |_| {
        1e-8
    }));
    assert!(!agree_within_tolerance(
        &engram,
        &engram[..2],
        distance,
        |_| 1.0
    ));
}
