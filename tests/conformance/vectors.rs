//! The conformance cases of embeddings and nearest-neighbour search, run on both backends
//! (PostgreSQL with pgvector).

engram_testkit::cross_backend!(cases::{
    embeddings_are_read_only_when_asked,
    insert_many_and_import_carry_embeddings,
    import_keeps_the_embedding_of_a_skipped_id,
    update_sets_replaces_and_removes_the_embedding,
    delete_takes_the_embedding_with_it,
    the_first_embedding_fixes_the_dimensions,
    other_dimensions_are_the_same_error_on_both,
    nearest_ranks_by_distance_then_id,
    nearest_applies_every_filter_before_ranking,
    nearest_pages_tile_the_ranking,
    zero_vectors_rank_last_by_cosine,
    tiny_and_huge_magnitudes_rank_as_pgvector_computes_them,
    an_empty_store_has_no_neighbours,
    approximate_search_still_returns_k_rows,
    vector_index_requests_are_checked,
    bad_embeddings_are_refused_before_the_database_and_limits_hold,
    a_migrated_store_supports_vectors_and_enabling_them_again_changes_nothing,
});

/// A PostgreSQL database without pgvector (here: the extension dropped after migrating)
/// serves everything but vectors; vector operations fail with one error that says what is
/// missing, and `enable_vectors` makes them available again.
#[test]
fn postgres_without_pgvector_serves_everything_else() {
    use engram::{
        Embedding, ErrorKind, MemoryQuery, MemoryUpdate, NearestQuery, NewMemory, Store,
        VectorSupport,
    };
    let db = engram_testkit::TestDb::postgres();
    crate::common::vector_store(&db);
    db.execute("DROP TABLE memory_embeddings; DROP EXTENSION vector");
    let store = Store::open(db.dsn()).expect("open");
    let plain = store.insert(NewMemory::new("a", "plain")).expect("insert");
    assert_eq!(store.count(MemoryQuery::new()).unwrap(), 1);
    let read = store.query(MemoryQuery::new().with_embeddings()).unwrap();
    assert_eq!(read[0].embedding, None, "an export still works");
    assert_eq!(
        store
            .get_with_embedding(plain.id)
            .unwrap()
            .unwrap()
            .embedding,
        None
    );
    store
        .update(plain.id, MemoryUpdate::default().remove_embedding())
        .expect("nothing to remove");
    match store.vector_support().unwrap() {
        VectorSupport::Unavailable { reason } => assert!(
            reason.contains("pgvector is installed on the server but not enabled"),
            "{reason}"
        ),
        VectorSupport::Available => panic!("vectors reported available without pgvector"),
    }
    let e = || Embedding::new(vec![1.0, 2.0]).unwrap();
    let errors = [
        store
            .insert(NewMemory::new("a", "x").embedding(e()))
            .unwrap_err(),
        store
            .update(plain.id, MemoryUpdate::default().embedding(e()))
            .unwrap_err(),
        store.nearest(NearestQuery::new(e(), 3)).unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        let text = err.to_string();
        assert!(text.starts_with("PostgreSQL cannot "), "{text}");
        assert!(
            text.contains("pgvector is installed on the server but not enabled"),
            "{text}"
        );
        assert!(text.contains("engram vectors enable"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }
    assert_eq!(
        store.count(MemoryQuery::new()).unwrap(),
        1,
        "nothing half-written"
    );
    store.enable_vectors().expect("enable vectors");
    assert_eq!(store.vector_support().unwrap(), VectorSupport::Available);
    store
        .insert(NewMemory::new("a", "x").embedding(e()))
        .expect("insert with embedding");
    assert_eq!(store.nearest(NearestQuery::new(e(), 3)).unwrap().len(), 1);
}

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use engram::{
        BackendKind, Embedding, ErrorKind, Memory, MemoryQuery, MemoryUpdate, Metric, NearestQuery,
        Neighbour, NewMemory, Store, VectorIndex, VectorSupport,
    };
    use engram_core::vector::rank_order;
    use engram_testkit::TestDb;
    use serde_json::json;
    use uuid::Uuid;

    use crate::common::vector_store;

    use crate::common::id;

    fn vector(values: &[f32]) -> Embedding {
        Embedding::new(values.to_vec()).expect("a valid embedding")
    }

    fn ids(neighbours: &[Neighbour]) -> Vec<Uuid> {
        neighbours.iter().map(|n| n.memory.id).collect()
    }

    /// A memory of `user` with embedding `values` and id `n`.
    fn embedded(n: u128, user: &str, values: &[f32]) -> NewMemory {
        NewMemory::new(user, format!("memory {n}"))
            .id(id(n))
            .embedding(vector(values))
    }

    /// The oracle: `candidates` ranked by `metric`'s distance to `query` (engram-core's
    /// formula, as pgvector computes it), NaN last, ties by id.
    fn ranked(candidates: &[(Uuid, Embedding)], metric: Metric, query: &Embedding) -> Vec<Uuid> {
        let mut scored: Vec<(f64, Uuid)> = candidates
            .iter()
            .map(|(id, e)| (metric.distance(e.as_slice(), query.as_slice()), *id))
            .collect();
        scored.sort_by(|a, b| rank_order(a.0, b.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, id)| id).collect()
    }

    /// Checks that the store ranks `candidates` (all it holds) by each metric as the
    /// oracle does, each with the distance engram computes, bit for bit (NaN as NaN).
    fn assert_ranked_as_engram(store: &Store, candidates: &[(Uuid, Embedding)], query: &Embedding) {
        for metric in Metric::ALL {
            let near = store
                .nearest(NearestQuery::new(query.clone(), 10).metric(metric))
                .unwrap();
            assert_eq!(ids(&near), ranked(candidates, metric, query), "{metric}");
            for n in &near {
                let stored = candidates
                    .iter()
                    .find(|(id, _)| *id == n.memory.id)
                    .unwrap();
                let want = metric.distance(stored.1.as_slice(), query.as_slice());
                assert!(
                    n.distance.to_bits() == want.to_bits()
                        || (n.distance.is_nan() && want.is_nan()),
                    "{metric}: {} against {want}",
                    n.distance
                );
            }
        }
    }

    pub fn embeddings_are_read_only_when_asked(db: &TestDb) {
        let store = &vector_store(db);
        let e = vector(&[0.25, -1.5, 3.0e-7]);
        let stored = store
            .insert(NewMemory::new("alice", "tea").embedding(e.clone()))
            .unwrap();
        assert_eq!(stored.embedding.as_ref(), Some(&e));
        assert_eq!(store.get(stored.id).unwrap().unwrap().embedding, None);
        let with = store.get_with_embedding(stored.id).unwrap().unwrap();
        assert_eq!(with.embedding, Some(e.clone()));
        assert_eq!(with, stored);
        let plain = store.insert(NewMemory::new("alice", "plain")).unwrap();
        assert_eq!(
            store
                .get_with_embedding(plain.id)
                .unwrap()
                .unwrap()
                .embedding,
            None
        );
        let queried = store
            .query(MemoryQuery::new().user("alice").with_embeddings())
            .unwrap();
        let by_id = |id: Uuid| {
            queried
                .iter()
                .find(|m| m.id == id)
                .unwrap()
                .embedding
                .clone()
        };
        assert_eq!(by_id(stored.id), Some(e));
        assert_eq!(by_id(plain.id), None);
        assert!(store
            .query(MemoryQuery::new())
            .unwrap()
            .iter()
            .all(|m| m.embedding.is_none()));
    }

    pub fn insert_many_and_import_carry_embeddings(db: &TestDb) {
        let store = &vector_store(db);
        store
            .insert_many(vec![
                embedded(1, "a", &[1.0, 0.0]),
                NewMemory::new("a", "none").id(id(2)),
            ])
            .unwrap();
        assert_eq!(
            store.import(vec![embedded(3, "a", &[0.0, 1.0])]).unwrap(),
            1
        );
        let read = |n| store.get_with_embedding(id(n)).unwrap().unwrap().embedding;
        assert_eq!(read(1), Some(vector(&[1.0, 0.0])));
        assert_eq!(read(2), None);
        assert_eq!(read(3), Some(vector(&[0.0, 1.0])));
    }

    pub fn import_keeps_the_embedding_of_a_skipped_id(db: &TestDb) {
        let store = &vector_store(db);
        store.insert(embedded(1, "a", &[1.0, 2.0])).unwrap();
        store
            .insert(NewMemory::new("a", "plain").id(id(2)))
            .unwrap();
        let again = vec![embedded(1, "a", &[9.0, 9.0]), embedded(2, "a", &[8.0, 8.0])];
        assert_eq!(store.import(again).unwrap(), 0);
        let read = |n| store.get_with_embedding(id(n)).unwrap().unwrap().embedding;
        assert_eq!(read(1), Some(vector(&[1.0, 2.0])));
        assert_eq!(read(2), None, "a skipped memory gains no embedding");
    }

    pub fn update_sets_replaces_and_removes_the_embedding(db: &TestDb) {
        let store = &vector_store(db);
        let m = store.insert(NewMemory::new("a", "x")).unwrap();
        let read = || store.get_with_embedding(m.id).unwrap().unwrap().embedding;
        store
            .update(m.id, MemoryUpdate::default().embedding(vector(&[1.0, 2.0])))
            .unwrap();
        assert_eq!(read(), Some(vector(&[1.0, 2.0])));
        let replaced = store
            .update(m.id, MemoryUpdate::default().embedding(vector(&[3.0, 4.0])))
            .unwrap();
        assert!(replaced.updated_at >= m.updated_at);
        assert_eq!(read(), Some(vector(&[3.0, 4.0])));
        store
            .update(m.id, MemoryUpdate::default().content("y"))
            .unwrap();
        assert_eq!(read(), Some(vector(&[3.0, 4.0])), "other updates keep it");
        store
            .update(m.id, MemoryUpdate::default().remove_embedding())
            .unwrap();
        assert_eq!(read(), None);
        let missing = store
            .update(
                id(99),
                MemoryUpdate::default().embedding(vector(&[1.0, 1.0])),
            )
            .unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
    }

    pub fn delete_takes_the_embedding_with_it(db: &TestDb) {
        let store = &vector_store(db);
        store.insert(embedded(1, "a", &[1.0, 0.0])).unwrap();
        store.insert(embedded(2, "a", &[0.9, 0.1])).unwrap();
        assert!(store.delete(id(1)).unwrap());
        let near = store
            .nearest(NearestQuery::new(vector(&[1.0, 0.0]), 10))
            .unwrap();
        assert_eq!(ids(&near), vec![id(2)]);
        // A raw delete, outside engram, leaves no embedding behind either.
        db.execute("DELETE FROM memories");
        let mut conn = db.connect();
        assert_eq!(conn.count("SELECT count(*) FROM memory_embeddings"), 0);
    }

    pub fn the_first_embedding_fixes_the_dimensions(db: &TestDb) {
        let store = &vector_store(db);
        assert_eq!(store.vector_dimensions().unwrap(), None);
        store.insert(NewMemory::new("a", "plain")).unwrap();
        assert_eq!(store.vector_dimensions().unwrap(), None);
        store.insert(embedded(1, "a", &[1.0, 2.0, 3.0])).unwrap();
        assert_eq!(store.vector_dimensions().unwrap(), Some(3));
        store.delete(id(1)).unwrap();
        assert_eq!(
            store.vector_dimensions().unwrap(),
            Some(3),
            "the dimensions stay fixed when the last embedding goes"
        );
    }

    pub fn other_dimensions_are_the_same_error_on_both(db: &TestDb) {
        let store = &vector_store(db);
        store.insert(embedded(1, "a", &[1.0, 2.0, 3.0])).unwrap();
        let expected = "invalid embedding: has 2 dimensions, but this store's embeddings have 3; \
                        every embedding in a store has the same dimensions";
        let check = |err: engram::Error| {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert_eq!(err.to_string(), expected);
        };
        check(store.insert(embedded(2, "a", &[1.0, 2.0])).unwrap_err());
        check(
            store
                .insert_many(vec![
                    NewMemory::new("a", "plain").id(id(3)),
                    embedded(4, "a", &[1.0, 2.0]),
                ])
                .unwrap_err(),
        );
        // Within a batch, the first embedding is the reference, and the error names the
        // memory.
        let batch = "invalid embedding: has 2 dimensions, but the batch's first embedding has 3; \
                     every embedding in a store has the same dimensions (memory #2 of the batch)";
        let err = store
            .insert_many(vec![
                embedded(3, "a", &[1.0, 2.0, 3.0]),
                embedded(4, "a", &[1.0, 2.0]),
            ])
            .unwrap_err();
        assert_eq!(err.to_string(), batch);
        check(
            store
                .update(
                    id(1),
                    MemoryUpdate::default().embedding(vector(&[1.0, 2.0])),
                )
                .unwrap_err(),
        );
        check(
            store
                .nearest(NearestQuery::new(vector(&[1.0, 2.0]), 1))
                .unwrap_err(),
        );
        // Nothing of a failed batch was written.
        assert_eq!(store.get(id(3)).unwrap(), None);
        // A batch that disagrees with itself fails the same way on an empty store.
        let fresh = TestDb::new(db.kind());
        let fresh = &vector_store(&fresh);
        let err = fresh
            .insert_many(vec![
                embedded(5, "a", &[1.0, 2.0, 3.0]),
                embedded(6, "a", &[1.0, 2.0]),
            ])
            .unwrap_err();
        assert_eq!(err.to_string(), batch);
        assert_eq!(fresh.vector_dimensions().unwrap(), None);
    }

    pub fn nearest_ranks_by_distance_then_id(db: &TestDb) {
        let store = &vector_store(db);
        let rows: Vec<(u128, [f32; 3])> = vec![
            (1, [1.0, 0.0, 0.0]),
            (2, [0.0, 1.0, 0.0]),
            (3, [2.0, 0.0, 0.0]), // parallel to 1: the same cosine distance, another L2
            (4, [1.0, 1.0, 0.0]),
            (5, [0.0, 1.0, 0.0]), // a duplicate of 2: ties break by id
            (6, [-1.0, 0.5, 0.25]),
            (7, [0.5, 0.5, 0.5]),
        ];
        store
            .insert_many(rows.iter().map(|(n, v)| embedded(*n, "a", v)).collect())
            .unwrap();
        let candidates: Vec<(Uuid, Embedding)> =
            rows.iter().map(|(n, v)| (id(*n), vector(v))).collect();
        assert_ranked_as_engram(store, &candidates, &vector(&[0.9, 0.2, 0.1]));
        // Exact values of each metric, as pgvector defines them.
        let l2 = store
            .nearest(NearestQuery::new(vector(&[1.0, 1.0, 0.0]), 1).metric(Metric::L2))
            .unwrap();
        assert_eq!((l2[0].memory.id, l2[0].distance), (id(4), 0.0));
        let inner = store
            .nearest(
                NearestQuery::new(vector(&[1.0, 0.0, 0.0]), 1).metric(Metric::NegativeInnerProduct),
            )
            .unwrap();
        assert_eq!((inner[0].memory.id, inner[0].distance), (id(3), -2.0));
        // Duplicates tie: the lower id first.
        let tie = store
            .nearest(NearestQuery::new(vector(&[0.0, 1.0, 0.0]), 2).metric(Metric::L2))
            .unwrap();
        assert_eq!(ids(&tie), vec![id(2), id(5)]);
        assert_eq!(tie[0].distance, tie[1].distance);
    }

    /// Fourteen memories over two users, threads, tiers and metadata, twelve with an
    /// embedding.
    fn seed(store: &Store) -> Vec<(Memory, Option<Embedding>)> {
        let tiers = ["short_term", "mid_term", "long_term"];
        let memories: Vec<NewMemory> = (0..14u128)
            .map(|n| {
                let user = if n % 2 == 0 { "alice" } else { "bob" };
                let k = n as f32;
                let mut memory = NewMemory::new(user, format!("memory {n}"))
                    .id(id(n))
                    .thread(format!("t{}", n % 3))
                    .tier(tiers[n as usize % 3])
                    .namespace(if n % 4 == 0 { "work" } else { "default" })
                    .summarized(n % 5 == 0)
                    .metadata(
                        json!({"topic": if n % 3 == 0 { "food" } else { "work" }, "n": n as u64}),
                    )
                    .related_threads(if n % 2 == 0 { vec!["r1"] } else { vec!["r2"] })
                    .at(
                        engram::Timestamp::from_micros(
                            1_767_225_600_000_000 + n as i64 * 1_000_000,
                        ),
                        engram::Timestamp::from_micros(
                            1_767_225_600_000_000 + n as i64 * 1_000_000,
                        ),
                    );
                if n % 7 != 6 {
                    memory = memory.embedding(vector(&[
                        (k * 0.37).sin(),
                        (k * 0.11).cos(),
                        k / 10.0 - 0.6,
                    ]));
                }
                memory
            })
            .collect();
        store.insert_many(memories.clone()).expect("seed");
        memories
            .into_iter()
            .map(|m| {
                let stored = store.get(m.id.unwrap()).unwrap().unwrap();
                (stored, m.embedding)
            })
            .collect()
    }

    /// Which memories a filter keeps, by the oracle.
    type Keep = Box<dyn Fn(&Memory) -> bool>;

    pub fn nearest_applies_every_filter_before_ranking(db: &TestDb) {
        let store = &vector_store(db);
        let seeded = seed(store);
        let t = |n: i64| engram::Timestamp::from_micros(1_767_225_600_000_000 + n * 1_000_000);
        let filters: Vec<(&str, MemoryQuery, Keep)> = vec![
            ("none", MemoryQuery::new(), Box::new(|_| true)),
            (
                "user",
                MemoryQuery::new().user("alice"),
                Box::new(|m| m.user_id == "alice"),
            ),
            (
                "namespace",
                MemoryQuery::new().namespace("work"),
                Box::new(|m| m.namespace == "work"),
            ),
            (
                "thread",
                MemoryQuery::new().thread("t1"),
                Box::new(|m| m.thread_id.as_deref() == Some("t1")),
            ),
            (
                "tier",
                MemoryQuery::new().tier("mid_term"),
                Box::new(|m| m.tier == "mid_term"),
            ),
            (
                "tiers",
                MemoryQuery::new().tiers(["short_term", "long_term"]),
                Box::new(|m| m.tier != "mid_term"),
            ),
            (
                "summarized",
                MemoryQuery::new().summarized(true),
                Box::new(|m| m.summarized),
            ),
            (
                "metadata",
                MemoryQuery::new().contains(json!({"topic": "food"})),
                Box::new(|m| m.metadata["topic"] == "food"),
            ),
            (
                "related",
                MemoryQuery::new().related_to_any(["r2"]),
                Box::new(|m| m.related_threads == ["r2"]),
            ),
            (
                "created",
                MemoryQuery::new().created(Some(t(3)), Some(t(9))),
                Box::new(move |m| m.created_at >= t(3) && m.created_at < t(9)),
            ),
            (
                "updated",
                MemoryQuery::new().updated(Some(t(5)), None),
                Box::new(move |m| m.updated_at >= t(5)),
            ),
            (
                "user and thread",
                MemoryQuery::new().user("bob").thread("t0"),
                Box::new(|m| m.user_id == "bob" && m.thread_id.as_deref() == Some("t0")),
            ),
        ];
        let query = vector(&[0.3, -0.2, 0.9]);
        for (name, filter, keep) in filters {
            let candidates: Vec<(Uuid, Embedding)> = seeded
                .iter()
                .filter(|(m, _)| keep(m))
                .filter_map(|(m, e)| Some((m.id, e.clone()?)))
                .collect();
            for metric in Metric::ALL {
                let want = ranked(&candidates, metric, &query);
                for k in [1, 3, 20] {
                    let near = store
                        .nearest(
                            NearestQuery::new(query.clone(), k)
                                .metric(metric)
                                .filter(filter.clone()),
                        )
                        .unwrap();
                    let expected: Vec<Uuid> = want.iter().copied().take(k as usize).collect();
                    assert_eq!(ids(&near), expected, "{name}, {metric}, k={k}");
                }
            }
        }
    }

    pub fn nearest_pages_tile_the_ranking(db: &TestDb) {
        let store = &vector_store(db);
        seed(store);
        let query = vector(&[1.0, 0.5, -0.25]);
        let all = ids(&store
            .nearest(NearestQuery::new(query.clone(), 100))
            .unwrap());
        assert_eq!(all.len(), 12, "memories without an embedding never rank");
        let mut paged = Vec::new();
        for offset in (0..14).step_by(5) {
            let page = store
                .nearest(NearestQuery::new(query.clone(), 5).offset(offset))
                .unwrap();
            paged.extend(ids(&page));
        }
        assert_eq!(paged, all);
        assert!(store
            .nearest(NearestQuery::new(query.clone(), 0))
            .unwrap()
            .is_empty());
        let with = store
            .nearest(NearestQuery::new(query, 2).filter(MemoryQuery::new().with_embeddings()))
            .unwrap();
        assert!(with.iter().all(|n| n.memory.embedding.is_some()));
    }

    pub fn zero_vectors_rank_last_by_cosine(db: &TestDb) {
        let store = &vector_store(db);
        store.insert(embedded(3, "a", &[0.0, 0.0])).unwrap();
        store.insert(embedded(1, "a", &[0.0, 0.0])).unwrap();
        store.insert(embedded(2, "a", &[-1.0, 0.0])).unwrap();
        store.insert(embedded(4, "a", &[1.0, 1.0])).unwrap();
        let near = store
            .nearest(NearestQuery::new(vector(&[1.0, 0.0]), 10))
            .unwrap();
        assert_eq!(ids(&near), vec![id(4), id(2), id(1), id(3)]);
        assert!(near[2].distance.is_nan() && near[3].distance.is_nan());
        assert_eq!(near[1].distance, 2.0);
        // A zero query vector: every cosine distance is NaN, so the order is by id.
        let zero = store
            .nearest(NearestQuery::new(vector(&[0.0, 0.0]), 10))
            .unwrap();
        assert_eq!(ids(&zero), vec![id(1), id(2), id(3), id(4)]);
        assert!(zero.iter().all(|n| n.distance.is_nan()));
        // L2 and inner product of a zero vector are numbers.
        let l2 = store
            .nearest(NearestQuery::new(vector(&[0.0, 0.0]), 10).metric(Metric::L2))
            .unwrap();
        assert_eq!(ids(&l2), vec![id(1), id(3), id(2), id(4)]);
    }

    pub fn tiny_and_huge_magnitudes_rank_as_pgvector_computes_them(db: &TestDb) {
        let store = &vector_store(db);
        let rows: Vec<(u128, Vec<f32>)> = vec![
            (1, vec![1e-20; 9]),
            (2, vec![3e38, -3e38, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            (3, vec![1e18, 1e-18, -1e18, 2.0, 0.5, 0.25, 1e-30, 7.0, 1.0]),
            (4, (0..9).map(|i| i as f32 * 1e15).collect()),
            (5, vec![-2e-38, 1e-45, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 1e-40]),
        ];
        store
            .insert_many(rows.iter().map(|(n, v)| embedded(*n, "a", v)).collect())
            .unwrap();
        let candidates: Vec<(Uuid, Embedding)> =
            rows.iter().map(|(n, v)| (id(*n), vector(v))).collect();
        let query = vector(&[2e38, 1e-20, -1.0, 3.0, 0.0, 1e15, 0.0, -7.0, 1e-38]);
        assert_ranked_as_engram(store, &candidates, &query);
    }

    pub fn an_empty_store_has_no_neighbours(db: &TestDb) {
        let store = &vector_store(db);
        store.insert(NewMemory::new("a", "no embedding")).unwrap();
        let near = store
            .nearest(NearestQuery::new(vector(&[1.0; 5]), 3))
            .unwrap();
        assert!(near.is_empty());
    }

    pub fn approximate_search_still_returns_k_rows(db: &TestDb) {
        let store = &vector_store(db);
        let memories: Vec<NewMemory> = (0..300u128)
            .map(|n| {
                let k = n as f32;
                embedded(
                    n,
                    if n % 100 == 7 { "rare" } else { "common" },
                    &[(k * 0.7).sin(), (k * 1.3).cos(), (k * 0.05).sin(), 1.0],
                )
            })
            .collect();
        store.insert_many(memories).unwrap();
        let created = store.create_vector_index(VectorIndex::new(Metric::Cosine));
        match db.kind() {
            BackendKind::Postgres => created.unwrap(),
            BackendKind::Sqlite => {
                let err = created.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
                assert!(
                    err.to_string().contains("SQLite always searches exactly"),
                    "{err}"
                );
            }
        }
        let query = vector(&[0.1, 0.9, 0.0, 1.0]);
        // A selective filter: three rows match; an HNSW scan would find few of them.
        let rare = MemoryQuery::new().user("rare");
        let exact = store
            .nearest(NearestQuery::new(query.clone(), 3).filter(rare.clone()))
            .unwrap();
        let approximate = store
            .nearest(
                NearestQuery::new(query.clone(), 3)
                    .filter(rare)
                    .approximate(),
            )
            .unwrap();
        assert_eq!(exact.len(), 3);
        assert_eq!(ids(&approximate), ids(&exact));
        // Unfiltered: k rows, in distance order, each with its true distance.
        let near = store
            .nearest(NearestQuery::new(query.clone(), 10).approximate())
            .unwrap();
        assert_eq!(near.len(), 10);
        assert!(near.windows(2).all(|w| w[0].distance <= w[1].distance));
        let exact = store.nearest(NearestQuery::new(query, 300)).unwrap();
        for n in &near {
            let truth = exact.iter().find(|e| e.memory.id == n.memory.id).unwrap();
            assert_eq!(n.distance.to_bits(), truth.distance.to_bits());
        }
        assert_eq!(
            store.drop_vector_index(Metric::Cosine).unwrap(),
            db.kind() == BackendKind::Postgres
        );
        assert!(!store.drop_vector_index(Metric::Cosine).unwrap());
    }

    pub fn vector_index_requests_are_checked(db: &TestDb) {
        let store = &vector_store(db);
        for bad in [
            VectorIndex {
                m: 1,
                ..VectorIndex::new(Metric::L2)
            },
            VectorIndex {
                m: 16,
                ef_construction: 20,
                ..VectorIndex::new(Metric::L2)
            },
        ] {
            let err = store.create_vector_index(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        let empty = store
            .create_vector_index(VectorIndex::new(Metric::L2))
            .unwrap_err();
        let wide = TestDb::new(db.kind());
        let wide = &vector_store(&wide);
        wide.insert(embedded(1, "a", &[0.5; 2001])).unwrap();
        let too_wide = wide
            .create_vector_index(VectorIndex::new(Metric::L2))
            .unwrap_err();
        match db.kind() {
            BackendKind::Postgres => {
                assert_eq!(empty.kind(), ErrorKind::InvalidInput, "{empty}");
                assert!(empty.to_string().contains("no embeddings yet"), "{empty}");
                assert!(
                    too_wide.to_string().contains("at most 2000 dimensions"),
                    "{too_wide}"
                );
                // Exact search has no such limit.
                let near = wide
                    .nearest(NearestQuery::new(vector(&[0.5; 2001]), 1))
                    .unwrap();
                assert_eq!(near.len(), 1);
            }
            BackendKind::Sqlite => {
                assert_eq!(empty.kind(), ErrorKind::Unsupported, "{empty}");
                assert_eq!(too_wide.kind(), ErrorKind::Unsupported, "{too_wide}");
            }
        }
    }

    pub fn bad_embeddings_are_refused_before_the_database_and_limits_hold(db: &TestDb) {
        let store = &vector_store(db);
        // JSON Lines (import) and the API give the same one-line errors, whatever the
        // backend: they are engram's, not the database's.
        let line = |embedding: &str| {
            serde_json::from_str::<NewMemory>(&format!(
                r#"{{"user_id":"a","content":"x","embedding":{embedding}}}"#
            ))
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let refused = [
            ("[]", "invalid embedding: must have at least 1 dimension"),
            ("[1e39]", "invalid embedding: component 0 is infinite"),
            (
                "[1, \"2\"]",
                "invalid embedding: component 1 is not a number",
            ),
            ("{}", "invalid embedding: must be a JSON array of numbers"),
        ];
        for (embedding, message) in refused {
            let err = line(embedding).unwrap_err();
            assert!(err.starts_with(message), "{embedding}: {err}");
        }
        let too_many = format!("[{}]", vec!["0.5"; 16_001].join(","));
        assert!(line(&too_many)
            .unwrap_err()
            .starts_with("invalid embedding: has 16001 dimensions, more than the 16000 allowed"));
        for bad in [f32::NAN, f32::INFINITY] {
            let err = Embedding::new(vec![1.0, bad]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        // The largest embedding is stored and read back exactly, and searched.
        let widest: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.001).sin()).collect();
        store.insert(embedded(1, "a", &widest)).unwrap();
        let read = store.get_with_embedding(id(1)).unwrap().unwrap();
        assert_eq!(read.embedding, Some(vector(&widest)));
        let near = store
            .nearest(NearestQuery::new(vector(&widest), 1).metric(Metric::L2))
            .unwrap();
        assert_eq!((near[0].memory.id, near[0].distance), (id(1), 0.0));
        // Subnormal and negative-zero components survive the round trip bit for bit.
        let odd = vec![1e-45f32, -0.0, f32::MIN_POSITIVE, f32::MAX];
        let fresh = TestDb::new(db.kind());
        let fresh = &vector_store(&fresh);
        fresh.insert(embedded(2, "a", &odd)).unwrap();
        let back = fresh
            .get_with_embedding(id(2))
            .unwrap()
            .unwrap()
            .embedding
            .unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(back.as_slice()), bits(&odd));
    }

    pub fn a_migrated_store_supports_vectors_and_enabling_them_again_changes_nothing(db: &TestDb) {
        let store = &vector_store(db);
        assert_eq!(store.vector_support().unwrap(), VectorSupport::Available);
        store.insert(embedded(1, "a", &[1.0, 0.0])).unwrap();
        for _ in 0..2 {
            store.enable_vectors().unwrap();
        }
        assert_eq!(store.vector_support().unwrap(), VectorSupport::Available);
        assert_eq!(store.vector_dimensions().unwrap(), Some(2));
        let near = store
            .nearest(NearestQuery::new(vector(&[1.0, 0.0]), 5))
            .unwrap();
        assert_eq!(ids(&near), vec![id(1)]);
    }
}
