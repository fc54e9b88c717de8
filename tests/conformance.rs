//! The conformance suite: every case is written once, in `cases`, and run on SQLite and on
//! PostgreSQL by the testkit's `cross_backend!` macro (test names `sqlite::…` and
//! `postgres::…`), each on a fresh database. The other files hold the cases of one concern
//! each (test names `<file>::…`): embeddings and nearest-neighbour search in
//! `conformance/vectors.rs`, the queries SQLite answers from its containment index in
//! `conformance/index.rs`, bulk writes (`insert_many`, `import`) in `conformance/bulk.rs`,
//! `Store::export` in `conformance/export.rs`, expiry, sweeps, retention and history in
//! `conformance/lifecycle.rs`, the health report in `conformance/health.rs`, filters with
//! operators in `conformance/filters.rs` and items in `conformance/items.rs`.

#[path = "conformance/bulk.rs"]
mod bulk;
mod common;
#[path = "conformance/export.rs"]
mod export;
#[path = "conformance/filters.rs"]
mod filters;
#[path = "conformance/health.rs"]
mod health;
#[path = "conformance/index.rs"]
mod index;
#[path = "conformance/items.rs"]
mod items;
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
#[path = "conformance/vectors.rs"]
mod vectors;

engram_testkit::cross_backend!(cases::{
    insert_then_get_returns_every_field,
    insert_fills_in_defaults,
    insert_keeps_given_id_and_timestamps,
    insert_of_an_existing_id_is_a_conflict,
    insert_many_is_all_or_nothing,
    insert_many_returns_ids_in_input_order,
    import_skips_ids_already_stored,
    get_of_a_missing_id_is_none,
    update_replaces_fields_and_moves_updated_at,
    update_of_a_missing_id_is_not_found,
    delete_reports_whether_the_row_existed,
    each_filter_alone_selects_exactly_its_rows,
    filters_combine_with_and,
    default_order_is_updated_desc_then_id_desc,
    every_order_breaks_ties_by_id,
    pages_tile_the_full_result,
    empty_store_gives_empty_results,
    metadata_filter_with_limit_fills_the_page,
    containment_follows_postgres_rules,
    documents_read_back_in_postgres_form,
    bad_input_gets_the_same_error_kind,
    clusters_upsert_get_and_delete,
    policies_move_expired_rows_and_trim_content,
    stats_count_per_tier_and_user,
    migrate_twice_applies_nothing_the_second_time,
    text_round_trips_byte_for_byte,
    operations_before_migrate_name_the_fix,
    a_statement_waiting_for_a_lock_gives_up_after_the_busy_timeout,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use std::collections::BTreeSet;
    use std::time::Duration;

    use engram::{
        ClusterQuery, ClusterUpsert, ErrorKind, Memory, MemoryQuery, MemoryUpdate, NewMemory,
        Order, PolicyAction, Store, TierPolicy, Timestamp,
    };
    use engram_testkit::faults::finishes_within_a_minute;
    use engram_testkit::TestDb;
    use serde_json::{json, Value};
    use uuid::Uuid;

    use crate::common::{migrated_store, unmigrated_store};

    const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(BASE + seconds * 1_000_000)
    }

    fn ids(memories: &[Memory]) -> Vec<Uuid> {
        memories.iter().map(|m| m.id).collect()
    }

    use crate::common::id;

    /// Ten memories over two users, three threads, three tiers, with distinct timestamps.
    fn seed(store: &Store) -> Vec<Memory> {
        let specs = [
            (
                "alice",
                Some("t1"),
                "short_term",
                false,
                json!({"topic": "food", "tags": ["tea"]}),
            ),
            (
                "alice",
                Some("t1"),
                "mid_term",
                true,
                json!({"topic": "food", "tags": ["coffee"]}),
            ),
            (
                "alice",
                Some("t2"),
                "long_term",
                false,
                json!({"topic": "work"}),
            ),
            (
                "alice",
                None,
                "short_term",
                false,
                json!({"topic": "work", "n": 1}),
            ),
            (
                "alice",
                Some("t2"),
                "mid_term",
                false,
                json!({"topic": "travel", "n": 2}),
            ),
            (
                "bob",
                Some("t3"),
                "short_term",
                true,
                json!({"topic": "food"}),
            ),
            (
                "bob",
                Some("t3"),
                "long_term",
                false,
                json!({"topic": "work", "tags": ["tea"]}),
            ),
            ("bob", None, "short_term", false, json!({})),
            (
                "bob",
                Some("t3"),
                "mid_term",
                false,
                json!({"topic": "travel"}),
            ),
            (
                "bob",
                Some("t1"),
                "short_term",
                false,
                json!({"topic": "food", "n": 1.0}),
            ),
        ];
        let memories: Vec<NewMemory> = specs
            .into_iter()
            .enumerate()
            .map(|(i, (user, thread, tier, summarized, metadata))| {
                let i = i as i64;
                let mut memory = NewMemory::new(user, format!("memory {i}"))
                    .id(id(i as u128))
                    .tier(tier)
                    .summarized(summarized)
                    .metadata(metadata)
                    .namespace(if i % 3 == 0 { "work" } else { "default" })
                    .related_threads(if i % 2 == 0 {
                        vec!["r1"]
                    } else {
                        vec!["r2", "r3"]
                    })
                    .at(at(i * 10), at(1000 - i * 7));
                memory.thread_id = thread.map(str::to_string);
                memory
            })
            .collect();
        store.insert_many(memories).expect("seed");
        store
            .query(MemoryQuery::new().order(Order::CreatedAsc))
            .expect("read seed")
    }

    /// The seed's ids that satisfy `keep`, in the default order.
    fn expected(seeded: &[Memory], keep: impl Fn(&Memory) -> bool) -> Vec<Uuid> {
        let mut rows: Vec<&Memory> = seeded.iter().filter(|m| keep(m)).collect();
        rows.sort_by_key(|m| std::cmp::Reverse((m.updated_at, m.id)));
        rows.iter().map(|m| m.id).collect()
    }

    pub fn insert_then_get_returns_every_field(db: &TestDb) {
        let store = &migrated_store(db);
        let stored = store
            .insert(
                NewMemory::new("alice", "likes tea")
                    .namespace("prefs")
                    .thread("t-1")
                    .tier("long_term")
                    .score(77)
                    .metadata(json!({"a": {"b": [1, "x", null, true]}}))
                    .related_threads(["t-2", "t-3"])
                    .summarized(true),
            )
            .unwrap();
        let read = store.get(stored.id).unwrap().expect("stored memory");
        assert_eq!(read, stored);
        assert_eq!(read.user_id, "alice");
        assert_eq!(read.namespace, "prefs");
        assert_eq!(read.thread_id.as_deref(), Some("t-1"));
        assert_eq!(read.tier, "long_term");
        assert_eq!(read.score, 77);
        assert_eq!(read.metadata, json!({"a": {"b": [1, "x", null, true]}}));
        assert_eq!(read.related_threads, ["t-2", "t-3"]);
        assert!(read.summarized);
        assert_eq!(read.id.get_version_num(), 7, "engram makes UUIDv7 ids");
    }

    pub fn insert_fills_in_defaults(db: &TestDb) {
        let store = &migrated_store(db);
        let before = Timestamp::now();
        let stored = store.insert(NewMemory::new("alice", "x")).unwrap();
        let read = store.get(stored.id).unwrap().unwrap();
        assert_eq!(read.namespace, "default");
        assert_eq!(read.tier, "short_term");
        assert_eq!(read.score, 50);
        assert_eq!(read.metadata, json!({}));
        assert!(read.related_threads.is_empty());
        assert!(!read.summarized);
        assert_eq!(read.thread_id, None);
        assert_eq!(read.created_at, read.updated_at);
        assert!(read.created_at >= before && read.created_at <= Timestamp::now());
    }

    pub fn insert_keeps_given_id_and_timestamps(db: &TestDb) {
        let store = &migrated_store(db);
        let given = Uuid::from_u128(42);
        let created = Timestamp::from_micros(-123_456_789); // before 1970, odd microseconds
        let updated = Timestamp::from_micros(1_700_000_000_123_457);
        store
            .insert(NewMemory::new("u", "c").id(given).at(created, updated))
            .unwrap();
        let read = store.get(given).unwrap().unwrap();
        assert_eq!(read.id, given);
        assert_eq!(read.created_at, created);
        assert_eq!(read.updated_at, updated);
    }

    pub fn insert_of_an_existing_id_is_a_conflict(db: &TestDb) {
        let store = &migrated_store(db);
        let first = store.insert(NewMemory::new("u", "first")).unwrap();
        let err = store
            .insert(NewMemory::new("u", "second").id(first.id))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(store.get(first.id).unwrap().unwrap().content, "first");
    }

    pub fn insert_many_is_all_or_nothing(db: &TestDb) {
        let store = &migrated_store(db);
        let existing = store.insert(NewMemory::new("u", "kept")).unwrap();
        let batch = vec![
            NewMemory::new("u", "new 1"),
            NewMemory::new("u", "clash").id(existing.id),
            NewMemory::new("u", "new 2"),
        ];
        let err = store.insert_many(batch).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        let invalid = vec![
            NewMemory::new("u", "ok"),
            NewMemory::new("u", "bad").score(101),
        ];
        let err = store.insert_many(invalid).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string().contains("#2"),
            "names the bad memory: {err}"
        );
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 1);
    }

    pub fn insert_many_returns_ids_in_input_order(db: &TestDb) {
        let store = &migrated_store(db);
        let batch: Vec<NewMemory> = (0..250)
            .map(|i| NewMemory::new("u", format!("m{i}")).score(i % 101))
            .collect();
        let inserted = store.insert_many(batch).unwrap();
        assert_eq!(inserted.len(), 250);
        for (i, id) in inserted.iter().enumerate().step_by(37) {
            assert_eq!(store.get(*id).unwrap().unwrap().content, format!("m{i}"));
        }
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 250);
        assert!(store.insert_many(Vec::new()).unwrap().is_empty());
    }

    pub fn import_skips_ids_already_stored(db: &TestDb) {
        let store = &migrated_store(db);
        let rows: Vec<NewMemory> = (0..5)
            .map(|i| {
                NewMemory::new("u", format!("m{i}"))
                    .id(id(i))
                    .at(at(1), at(2))
            })
            .collect();
        assert_eq!(store.import(rows.clone()).unwrap(), 5);
        assert_eq!(store.import(rows).unwrap(), 0);
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 5);
    }

    pub fn get_of_a_missing_id_is_none(db: &TestDb) {
        let store = &migrated_store(db);
        assert_eq!(store.get(Uuid::now_v7()).unwrap(), None);
    }

    pub fn update_replaces_fields_and_moves_updated_at(db: &TestDb) {
        let store = &migrated_store(db);
        let stored = store
            .insert(
                NewMemory::new("u", "old")
                    .at(at(0), at(0))
                    .metadata(json!({"v": 1})),
            )
            .unwrap();
        let updated = store
            .update(
                stored.id,
                MemoryUpdate::default()
                    .content("new")
                    .metadata(json!({"v": 2, "w": [1]}))
                    .tier("long_term")
                    .score(99)
                    .related_threads(["x"])
                    .summarized(true),
            )
            .unwrap();
        assert_eq!(updated.content, "new");
        assert_eq!(updated.metadata, json!({"v": 2, "w": [1]}));
        assert_eq!(updated.tier, "long_term");
        assert_eq!(updated.score, 99);
        assert_eq!(updated.related_threads, ["x"]);
        assert!(updated.summarized);
        assert_eq!(updated.created_at, at(0));
        assert!(updated.updated_at > at(0));
        assert_eq!(store.get(stored.id).unwrap().unwrap(), updated);
        // Fields not named stay as they are.
        let partial = store
            .update(stored.id, MemoryUpdate::default().score(1))
            .unwrap();
        assert_eq!(partial.content, "new");
        assert_eq!(partial.score, 1);
        assert!(partial.updated_at >= updated.updated_at);
    }

    pub fn update_of_a_missing_id_is_not_found(db: &TestDb) {
        let store = &migrated_store(db);
        let err = store
            .update(Uuid::now_v7(), MemoryUpdate::default().score(3))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }

    pub fn delete_reports_whether_the_row_existed(db: &TestDb) {
        let store = &migrated_store(db);
        let stored = store.insert(NewMemory::new("u", "c")).unwrap();
        assert!(store.delete(stored.id).unwrap());
        assert!(!store.delete(stored.id).unwrap());
        assert_eq!(store.get(stored.id).unwrap(), None);
    }

    pub fn each_filter_alone_selects_exactly_its_rows(db: &TestDb) {
        let store = &migrated_store(db);
        let seeded = seed(store);
        let check = |query: MemoryQuery, keep: &dyn Fn(&Memory) -> bool, what: &str| {
            let want = expected(&seeded, keep);
            assert!(
                !want.is_empty() && want.len() < seeded.len(),
                "{what}: seed covers it"
            );
            assert_eq!(ids(&store.query(query.clone()).unwrap()), want, "{what}");
            assert_eq!(
                store.count(query).unwrap(),
                want.len() as u64,
                "{what} count"
            );
        };
        check(
            MemoryQuery::new().user("bob"),
            &|m| m.user_id == "bob",
            "user",
        );
        check(
            MemoryQuery::new().namespace("work"),
            &|m| m.namespace == "work",
            "namespace",
        );
        check(
            MemoryQuery::new().thread("t1"),
            &|m| m.thread_id.as_deref() == Some("t1"),
            "thread",
        );
        check(
            MemoryQuery::new().tier("mid_term"),
            &|m| m.tier == "mid_term",
            "tier",
        );
        check(
            MemoryQuery::new().tiers(["mid_term", "long_term"]),
            &|m| m.tier != "short_term",
            "tiers",
        );
        // Many tiers at once, real ones among unknown ones (SQLite switches from one
        // placeholder per tier to a JSON list past 64).
        let many: Vec<String> = (0..100)
            .map(|i| format!("unused_{i}"))
            .chain(["mid_term".to_string(), "long_term".to_string()])
            .collect();
        check(
            MemoryQuery::new().tiers(many),
            &|m| m.tier != "short_term",
            "a hundred tiers",
        );
        check(
            MemoryQuery::new().summarized(true),
            &|m| m.summarized,
            "summarized",
        );
        check(
            MemoryQuery::new().created(Some(at(20)), Some(at(60))),
            &|m| m.created_at >= at(20) && m.created_at < at(60),
            "created range",
        );
        check(
            MemoryQuery::new().updated(Some(at(958)), None),
            &|m| m.updated_at >= at(958),
            "updated from",
        );
        check(
            MemoryQuery::new().updated(None, Some(at(958))),
            &|m| m.updated_at < at(958),
            "updated until",
        );
        check(
            MemoryQuery::new().contains(json!({"topic": "food"})),
            &|m| m.metadata["topic"] == "food",
            "metadata",
        );
        check(
            MemoryQuery::new().contains(json!({"n": 1})),
            &|m| m.metadata.get("n").and_then(Value::as_f64) == Some(1.0),
            "metadata number 1 matches 1.0",
        );
        check(
            MemoryQuery::new().related_to_any(["r3", "nope"]),
            &|m| m.related_threads.iter().any(|t| t == "r3"),
            "related threads",
        );
    }

    pub fn filters_combine_with_and(db: &TestDb) {
        let store = &migrated_store(db);
        let seeded = seed(store);
        let query = MemoryQuery::new()
            .user("alice")
            .tiers(["short_term", "mid_term"])
            .contains(json!({"topic": "food"}))
            .related_to_any(["r1", "r2"])
            .summarized(false)
            .created(Some(at(0)), Some(at(1000)));
        let want = expected(&seeded, |m| {
            m.user_id == "alice"
                && m.tier != "long_term"
                && m.metadata["topic"] == "food"
                && !m.summarized
        });
        assert_eq!(want.len(), 1);
        assert_eq!(ids(&store.query(query.clone()).unwrap()), want);
        assert_eq!(store.count(query).unwrap(), 1);
        let none = MemoryQuery::new().user("bob").thread("t2");
        assert!(store.query(none.clone()).unwrap().is_empty());
        assert_eq!(store.count(none).unwrap(), 0);
    }

    pub fn default_order_is_updated_desc_then_id_desc(db: &TestDb) {
        let store = &migrated_store(db);
        // Three rows share one updated_at: the id decides.
        let rows: Vec<NewMemory> = [5u128, 9, 7, 1]
            .iter()
            .map(|&n| {
                let updated = if n == 1 { at(50) } else { at(10) };
                NewMemory::new("u", "c").id(id(n)).at(at(0), updated)
            })
            .collect();
        store.insert_many(rows).unwrap();
        let got = ids(&store.query(MemoryQuery::new()).unwrap());
        assert_eq!(got, vec![id(1), id(9), id(7), id(5)]);
    }

    pub fn every_order_breaks_ties_by_id(db: &TestDb) {
        let store = &migrated_store(db);
        let seeded = seed(store);
        let tie: Vec<NewMemory> = (100..104)
            .map(|n| NewMemory::new("tie", "c").id(id(n)).at(at(5), at(5)))
            .collect();
        store.insert_many(tie).unwrap();
        let all = store.query(MemoryQuery::new()).unwrap();
        assert_eq!(all.len(), seeded.len() + 4);
        for order in [
            Order::UpdatedDesc,
            Order::UpdatedAsc,
            Order::CreatedDesc,
            Order::CreatedAsc,
        ] {
            let mut want = all.clone();
            want.sort_by(|a, b| {
                let key = |m: &Memory| match order {
                    Order::UpdatedDesc | Order::UpdatedAsc => (m.updated_at, m.id),
                    Order::CreatedDesc | Order::CreatedAsc => (m.created_at, m.id),
                };
                match order {
                    Order::UpdatedAsc | Order::CreatedAsc => key(a).cmp(&key(b)),
                    _ => key(b).cmp(&key(a)),
                }
            });
            let got = store.query(MemoryQuery::new().order(order)).unwrap();
            assert_eq!(ids(&got), ids(&want), "{order:?}");
        }
    }

    pub fn pages_tile_the_full_result(db: &TestDb) {
        let store = &migrated_store(db);
        seed(store);
        let query = MemoryQuery::new().tiers(["short_term", "mid_term"]);
        let full = ids(&store.query(query.clone()).unwrap());
        assert_eq!(full.len(), 8);
        let mut paged = Vec::new();
        for page in 0..4 {
            let rows = store
                .query(query.clone().limit(3).offset(page * 3))
                .unwrap();
            assert!(rows.len() <= 3);
            paged.extend(ids(&rows));
        }
        assert_eq!(paged, full);
        assert!(store.query(query.clone().offset(100)).unwrap().is_empty());
        assert!(store.query(query.clone().limit(0)).unwrap().is_empty());
        assert_eq!(
            store.count(query.limit(2).offset(5)).unwrap(),
            8,
            "count ignores paging"
        );
    }

    pub fn empty_store_gives_empty_results(db: &TestDb) {
        let store = &migrated_store(db);
        assert!(store.query(MemoryQuery::new()).unwrap().is_empty());
        assert_eq!(
            store
                .count(MemoryQuery::new().contains(json!({"a": 1})))
                .unwrap(),
            0
        );
        assert!(store
            .clusters(&ClusterQuery::user("nobody"))
            .unwrap()
            .is_empty());
        let stats = store.stats(None).unwrap();
        assert_eq!(stats.total, 0);
        assert!(stats.per_tier.is_empty());
    }

    pub fn metadata_filter_with_limit_fills_the_page(db: &TestDb) {
        let store = &migrated_store(db);
        // 1 row in 20 matches, and the matches are the oldest rows: a filter applied after
        // the LIMIT would return almost nothing.
        let rows: Vec<NewMemory> = (0..400)
            .map(|i: i64| {
                let metadata = if i % 20 == 0 {
                    json!({"kind": "needle", "i": i})
                } else {
                    json!({"kind": "hay", "i": i})
                };
                NewMemory::new("u", "c")
                    .metadata(metadata)
                    .at(at(i), at(1000 - i))
            })
            .collect();
        store.insert_many(rows).unwrap();
        let query = MemoryQuery::new().contains(json!({"kind": "needle"}));
        let page = store.query(query.clone().limit(15)).unwrap();
        assert_eq!(page.len(), 15);
        assert!(page.iter().all(|m| m.metadata["kind"] == "needle"));
        let second = store.query(query.clone().limit(15).offset(15)).unwrap();
        assert_eq!(second.len(), 5);
        assert_eq!(store.count(query).unwrap(), 20);
    }

    pub fn containment_follows_postgres_rules(db: &TestDb) {
        let store = &migrated_store(db);
        let docs = [
            json!({"items": [{"a": 1, "b": 2}]}),
            json!({"flag": true}),
            json!({"list": [5]}),
            json!({"pairs": [[1, 2]]}),
            json!({"big": 12345678901234567890u64}),
            json!({"Key": "v"}),
        ];
        let inserted = store
            .insert_many(
                docs.iter()
                    .map(|d| NewMemory::new("u", "c").metadata(d.clone()))
                    .collect(),
            )
            .unwrap();
        let hits = |filter: Value| -> BTreeSet<usize> {
            store
                .query(MemoryQuery::new().contains(filter))
                .unwrap()
                .iter()
                .map(|m| inserted.iter().position(|id| *id == m.id).unwrap())
                .collect()
        };
        let filter = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
        assert_eq!(hits(json!({"items": [{"a": 1}]})), [0].into());
        assert_eq!(hits(json!({"flag": 1})), [].into(), "true is not 1");
        assert_eq!(hits(json!({"flag": true})), [1].into());
        assert_eq!(
            hits(json!({"list": 5})),
            [].into(),
            "no scalar lifting below the top"
        );
        assert_eq!(hits(json!({"pairs": [[1, 2, 2]]})), [3].into());
        assert_eq!(hits(json!({"pairs": [[]]})), [3].into());
        assert_eq!(
            hits(filter(r#"{"big": 12345678901234567890.0}"#)),
            [4].into()
        );
        assert_eq!(hits(filter(r#"{"big": 12345678901234567891}"#)), [].into());
        assert_eq!(hits(json!({"key": "v"})), [].into(), "keys are byte-exact");
        assert_eq!(
            hits(json!({})).len(),
            docs.len(),
            "{{}} is contained by every object"
        );
    }

    pub fn documents_read_back_in_postgres_form(db: &TestDb) {
        let store = &migrated_store(db);
        let metadata: Value = serde_json::from_str(
            r#"{"a": 1e2, "b": 1.50e1, "c": 1.5e-3, "d": -0, "e": 0.10, "k": 1, "k": 2,
                "f": 1e400, "g": [1E+2, {"h": -0.0}]}"#,
        )
        .unwrap();
        let stored = store
            .insert(NewMemory::new("u", "c").metadata(metadata))
            .unwrap();
        let read = store.get(stored.id).unwrap().unwrap();
        let text = read.metadata.to_string();
        let expected = format!(
            r#"{{"a":100,"b":15.0,"c":0.0015,"d":0,"e":0.10,"f":1{},"g":[100,{{"h":0.0}}],"k":2}}"#,
            "0".repeat(400)
        );
        assert_eq!(text, expected);
    }

    pub fn bad_input_gets_the_same_error_kind(db: &TestDb) {
        let store = &migrated_store(db);
        let invalid = |result: engram::Result<Memory>, what: &str| {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        };
        invalid(
            store.insert(NewMemory::new("u", "c").metadata(json!([1]))),
            "array metadata",
        );
        invalid(
            store.insert(NewMemory::new("u", "c").metadata(json!("s"))),
            "string metadata",
        );
        invalid(
            store.insert(NewMemory::new("u", "c").metadata(json!({"a": "x\u{0}y"}))),
            "NUL in metadata",
        );
        invalid(
            store.insert(NewMemory::new("u", "c").metadata(json!({"a\u{0}": 1}))),
            "NUL in a key",
        );
        invalid(
            store.insert(NewMemory::new("u", "a\u{0}b")),
            "NUL in content",
        );
        invalid(store.insert(NewMemory::new("", "c")), "empty user id");
        invalid(
            store.insert(NewMemory::new("x".repeat(129), "c")),
            "long user id",
        );
        invalid(
            store.insert(NewMemory::new("u", "c").score(101)),
            "score 101",
        );
        invalid(store.insert(NewMemory::new("u", "c").score(-1)), "score -1");
        invalid(
            store.insert(NewMemory::new("u", "c").tier("Short Term")),
            "bad tier",
        );
        invalid(
            store.insert(NewMemory::new("u", "c").tier("")),
            "empty tier",
        );
        let deep = (0..70).fold(json!(1), |inner, _| json!([inner]));
        invalid(
            store.insert(NewMemory::new("u", "c").metadata(json!({"d": deep}))),
            "too deep",
        );
        let stored = store.insert(NewMemory::new("u", "c")).unwrap();
        let err = store
            .update(stored.id, MemoryUpdate::default().metadata(json!(null)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = store
            .query(MemoryQuery::new().contains(json!([1])))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "array filter: {err}");
        let err = store.query(MemoryQuery::new().tier("NOPE")).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "bad tier filter: {err}"
        );
        let err = store.stats(Some("a\u{0}b")).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "NUL in a stats user: {err}"
        );
        // Time bounds beyond the storable range select as the range's ends would.
        let at = |micros: i64| Some(Timestamp::from_micros(micros));
        for (from, until, rows) in [
            (at(i64::MIN), None, 1),
            (at(-300_000_000_000_000_000), None, 1),
            (at(i64::MAX), None, 0),
            (None, at(i64::MAX), 1),
            (None, at(i64::MIN), 0),
            (None, at(Timestamp::MAX.as_micros() + 1), 1),
        ] {
            let query = MemoryQuery::new().updated(from, until).created(from, until);
            assert_eq!(
                store.count(query.clone()).unwrap(),
                rows,
                "{from:?}..{until:?}"
            );
            assert_eq!(
                store.query(query).unwrap().len() as u64,
                rows,
                "{from:?}..{until:?}"
            );
        }
        let err = store
            .run_policies_at(&[], Timestamp::from_micros(i64::MAX))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "policy time: {err}");
        assert_eq!(
            store.count(MemoryQuery::new()).unwrap(),
            1,
            "nothing bad was stored"
        );
    }

    pub fn clusters_upsert_get_and_delete(db: &TestDb) {
        let store = &migrated_store(db);
        assert_eq!(store.count_clusters().unwrap(), 0);
        let first = store
            .upsert_cluster(ClusterUpsert {
                user_id: "alice".into(),
                topic: "food".into(),
                category: "drinks".into(),
                memory_ids: vec![id(1), id(2)],
                summary: "tea and coffee".into(),
            })
            .unwrap();
        assert_eq!(first.memory_count, 2);
        let replaced = store
            .upsert_cluster(ClusterUpsert {
                user_id: "alice".into(),
                topic: "food".into(),
                category: "drinks".into(),
                memory_ids: vec![id(3)],
                summary: "only tea".into(),
            })
            .unwrap();
        assert_eq!(
            replaced.cluster_id, first.cluster_id,
            "same key, same cluster"
        );
        assert_eq!(replaced.created_at, first.created_at);
        assert!(replaced.updated_at >= first.updated_at);
        assert_eq!(replaced.memory_ids, vec![id(3)]);
        assert_eq!(replaced.memory_count, 1);
        assert_eq!(replaced.summary, "only tea");
        for (topic, category) in [
            ("work", ""),
            ("food", "meals"),
            ("Zebra", "a"),
            ("food", ""),
        ] {
            store
                .upsert_cluster(ClusterUpsert {
                    user_id: "alice".into(),
                    topic: topic.into(),
                    category: category.into(),
                    ..Default::default()
                })
                .unwrap();
        }
        let all = store.clusters(&ClusterQuery::user("alice")).unwrap();
        let keys: Vec<(String, String)> = all
            .iter()
            .map(|c| (c.topic.clone(), c.category.clone()))
            .collect();
        let want: Vec<(String, String)> = [
            ("Zebra", "a"),
            ("food", ""),
            ("food", "drinks"),
            ("food", "meals"),
            ("work", ""),
        ]
        .iter()
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
        assert_eq!(keys, want, "ordered by topic, category, bytewise");
        assert_eq!(
            store
                .clusters(&ClusterQuery::user("alice").topic("food"))
                .unwrap()
                .len(),
            3
        );
        let one = store
            .clusters(&ClusterQuery::user("alice").topic("food").category("drinks"))
            .unwrap();
        assert_eq!(one, vec![replaced.clone()]);
        assert!(store
            .clusters(&ClusterQuery::user("bob"))
            .unwrap()
            .is_empty());
        assert_eq!(store.count_clusters().unwrap(), 5);
        assert!(store.delete_cluster(replaced.cluster_id).unwrap());
        assert!(!store.delete_cluster(replaced.cluster_id).unwrap());
        assert_eq!(
            store.clusters(&ClusterQuery::user("alice")).unwrap().len(),
            4
        );
        assert_eq!(store.count_clusters().unwrap(), 4);
        let err = store
            .upsert_cluster(ClusterUpsert {
                user_id: "".into(),
                topic: "t".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    pub fn policies_move_expired_rows_and_trim_content(db: &TestDb) {
        let store = &migrated_store(db);
        let now = at(100_000);
        let day = 86_400;
        let rows = vec![
            NewMemory::new("u", "old short")
                .tier("short_term")
                .id(id(1))
                .at(at(0), at(100_000 - 2 * day)),
            NewMemory::new("u", "fresh short")
                .tier("short_term")
                .id(id(2))
                .at(at(0), at(100_000 - 10)),
            NewMemory::new("u", "é".repeat(30))
                .tier("mid_term")
                .id(id(3))
                .at(at(0), at(100_000 - 10)),
            NewMemory::new("u", "short")
                .tier("mid_term")
                .id(id(4))
                .at(at(0), at(100_000 - 10)),
            NewMemory::new("u", "x".repeat(30))
                .tier("long_term")
                .id(id(5))
                .at(at(0), at(0)),
        ];
        store.insert_many(rows).unwrap();
        let policies = [
            TierPolicy::new("short_term").expire_after(Duration::from_secs(day as u64), "mid_term"),
            TierPolicy::new("mid_term").max_content_chars(10),
        ];
        let report = store.run_policies_at(&policies, now).unwrap();
        let steps: Vec<(String, PolicyAction, u64)> = report
            .steps
            .iter()
            .map(|s| (s.tier.clone(), s.action.clone(), s.rows))
            .collect();
        assert_eq!(
            steps,
            vec![
                (
                    "short_term".to_string(),
                    PolicyAction::Moved {
                        to: "mid_term".into()
                    },
                    1
                ),
                (
                    "mid_term".to_string(),
                    PolicyAction::Trimmed { max_chars: 10 },
                    1
                ),
            ]
        );
        let moved = store.get(id(1)).unwrap().unwrap();
        assert_eq!(moved.tier, "mid_term");
        assert_eq!(moved.updated_at, now);
        assert_eq!(store.get(id(2)).unwrap().unwrap().tier, "short_term");
        assert_eq!(
            store.get(id(3)).unwrap().unwrap().content,
            "é".repeat(10),
            "characters, not bytes"
        );
        assert_eq!(store.get(id(4)).unwrap().unwrap().content, "short");
        assert_eq!(
            store.get(id(5)).unwrap().unwrap().content.len(),
            30,
            "other tiers untouched"
        );
        let again = store.run_policies_at(&policies, now).unwrap();
        assert_eq!(again.total_rows(), 0, "a second run has nothing left to do");
        let err = store
            .run_policies(&[TierPolicy {
                next_tier: None,
                ..TierPolicy::new("short_term").expire_after(Duration::from_secs(1), "x")
            }])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    pub fn stats_count_per_tier_and_user(db: &TestDb) {
        let store = &migrated_store(db);
        let seeded = seed(store);
        let stats = store.stats(None).unwrap();
        assert_eq!(stats.total, seeded.len() as u64);
        for tier in ["short_term", "mid_term", "long_term"] {
            let want = seeded.iter().filter(|m| m.tier == tier).count() as u64;
            assert_eq!(stats.per_tier[tier], want, "{tier}");
        }
        assert_eq!(stats.per_user["alice"]["short_term"], 2);
        assert_eq!(stats.per_user["bob"]["short_term"], 3);
        let bob = store.stats(Some("bob")).unwrap();
        assert_eq!(bob.total, 5);
        assert_eq!(bob.per_user.keys().collect::<Vec<_>>(), vec!["bob"]);
    }

    pub fn migrate_twice_applies_nothing_the_second_time(db: &TestDb) {
        let store = &migrated_store(db);
        assert!(store.migrate().unwrap().is_empty());
    }

    pub fn text_round_trips_byte_for_byte(db: &TestDb) {
        let store = &migrated_store(db);
        let content = "multi\nline \t 日本語 🧠 \u{1} \"quoted\" \\ 'single'";
        let metadata = json!({"emoji": "🧠", "ctrl": "\u{1f}", "quote": "\"", "日本": ["語"]});
        let stored = store
            .insert(
                NewMemory::new("ü", content)
                    .thread("ß")
                    .metadata(metadata.clone()),
            )
            .unwrap();
        let read = store.get(stored.id).unwrap().unwrap();
        assert_eq!(read.content, content);
        assert_eq!(read.metadata, metadata);
        assert_eq!(read.user_id, "ü");
        let big = "x".repeat(200_000);
        let stored = store.insert(NewMemory::new("u", big.clone())).unwrap();
        assert_eq!(store.get(stored.id).unwrap().unwrap().content, big);
    }

    pub fn operations_before_migrate_name_the_fix(db: &TestDb) {
        let store = &unmigrated_store(db);
        let err = store.count(MemoryQuery::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
        assert!(err.to_string().contains("init-db"), "{err}");
        let err = store.insert(NewMemory::new("u", "c")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
    }

    /// A write behind a lock that another connection holds fails after the store's busy
    /// timeout with a database error, on both backends (SQLite's busy timeout, PostgreSQL's
    /// `lock_timeout`), and succeeds once the lock is gone.
    pub fn a_statement_waiting_for_a_lock_gives_up_after_the_busy_timeout(db: &TestDb) {
        migrated_store(db);
        let store = Store::builder(db.dsn())
            .busy_timeout(Duration::from_millis(300))
            .open()
            .unwrap();
        let mut holder = db.connect();
        holder.execute(match db.kind() {
            engram::BackendKind::Sqlite => "BEGIN EXCLUSIVE",
            engram::BackendKind::Postgres => "BEGIN; LOCK TABLE memories IN ACCESS EXCLUSIVE MODE",
        });
        let waiting = store.clone();
        let err = finishes_within_a_minute("an insert behind a lock", move || {
            waiting.insert(NewMemory::new("u", "behind a lock"))
        })
        .expect_err("an insert behind a lock fails");
        assert_eq!(err.kind(), ErrorKind::Database, "{err}");
        holder.execute("COMMIT");
        store.insert(NewMemory::new("u", "after the lock")).unwrap();
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 1);
    }
}
