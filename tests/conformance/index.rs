//! The conformance cases of the queries SQLite answers from its containment index (metadata
//! containment and related threads any-of), run on both backends: filters that give the
//! index no key, number spellings, `true` against `1`, nested arrays, and every way a
//! memory's values change (update, delete, import's skip, a raw `DELETE`, `UPDATE` or
//! `INSERT` past engram).
//! Each case checks exact ids and counts, whole and a page of one at a time (a small page
//! over a broad filter is read without the index on SQLite, the rest with it), and that
//! `Store::check_index` finds the index sound (on PostgreSQL it is always all zeros).

engram_testkit::cross_backend!(cases::{
    filters_without_index_keys_match_by_containment,
    number_spellings_match_by_value,
    true_does_not_match_one,
    nested_arrays_match_level_by_level,
    an_update_moves_a_memory_in_and_out_of_a_filter,
    a_delete_removes_a_memory_from_every_filter,
    import_keeps_the_stored_metadata_of_a_skipped_id,
    related_to_any_follows_an_update_of_related_threads,
    a_raw_delete_leaves_queries_exact_and_the_index_sound,
    raw_updates_and_inserts_are_found,
    pages_follow_every_change_of_the_timestamps,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use engram::{
        BackendKind, IndexCheck, MemoryQuery, MemoryUpdate, NewMemory, Order, Store, Timestamp,
    };
    use engram_testkit::TestDb;
    use serde_json::Value;
    use uuid::Uuid;

    use crate::common::migrated_store;

    const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

    use crate::common::id;

    /// A document from its JSON text (numbers keep their spelling).
    fn doc(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Memory `n` of user `alice` with `metadata`, created `n` seconds after the base time
    /// (so that creation order is number order).
    fn memory(n: u128, metadata: &str) -> NewMemory {
        let at = Timestamp::from_micros(BASE + n as i64 * 1_000_000);
        NewMemory::new("alice", format!("memory {n}"))
            .id(id(n))
            .metadata(doc(metadata))
            .at(at, at)
    }

    /// Stores one memory per metadata text, numbered from 1.
    fn store_documents(store: &Store, documents: &[&str]) {
        let memories = (1..).zip(documents).map(|(n, d)| memory(n, d)).collect();
        store.insert_many(memories).expect("insert the documents");
    }

    /// Checks that `query` selects exactly the memories numbered `expected` (in creation
    /// order): the whole result, its count, and each page of one.
    fn assert_selects(store: &Store, query: MemoryQuery, expected: &[u128], what: &str) {
        let expected: Vec<Uuid> = expected.iter().map(|&n| id(n)).collect();
        let query = query.order(Order::CreatedAsc);
        let found: Vec<Uuid> = store
            .query(query.clone())
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(found, expected, "{what}");
        assert_eq!(
            store.count(query.clone()).unwrap(),
            expected.len() as u64,
            "count of {what}"
        );
        for offset in 0..=expected.len() {
            let page: Vec<Uuid> = store
                .query(query.clone().limit(1).offset(offset as u64))
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect();
            assert_eq!(
                page,
                expected
                    .get(offset)
                    .copied()
                    .into_iter()
                    .collect::<Vec<_>>(),
                "page {offset} of {what}"
            );
        }
    }

    /// [`assert_selects`] for a containment filter given as JSON text.
    fn assert_filter(store: &Store, filter: &str, expected: &[u128]) {
        assert_selects(
            store,
            MemoryQuery::new().contains(doc(filter)),
            expected,
            filter,
        );
    }

    /// The index is sound with `queued` memories waiting (SQLite); all zeros on PostgreSQL.
    fn assert_index(db: &TestDb, store: &Store, queued: u64) {
        let check = store.check_index().expect("check the index");
        match db.kind() {
            BackendKind::Sqlite => {
                assert!(check.is_sound(), "{check:?}");
                assert_eq!(check.queued, queued, "{check:?}");
            }
            BackendKind::Postgres => assert_eq!(check, IndexCheck::default()),
        }
    }

    /// `{}` gives no key and matches every memory; an empty array or object gives only its
    /// type's key and matches every array (empty or not) or object at that place.
    pub fn filters_without_index_keys_match_by_containment(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[
                r#"{"a": [1, 2]}"#,        // 1
                r#"{"a": []}"#,            // 2
                r#"{"a": {}}"#,            // 3
                r#"{"a": {"b": 1}}"#,      // 4
                r#"{"a": 1}"#,             // 5
                r#"{}"#,                   // 6
                r#"{"b": []}"#,            // 7
                r#"{"a": [[]]}"#,          // 8
                r#"{"a": [{"c": null}]}"#, // 9
                r#"{"a": null}"#,          // 10
            ],
        );
        assert_filter(store, "{}", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_filter(store, r#"{"a": []}"#, &[1, 2, 8, 9]);
        assert_filter(store, r#"{"a": {}}"#, &[3, 4]);
        assert_filter(store, r#"{"b": []}"#, &[7]);
        assert_filter(store, r#"{"b": {}}"#, &[]);
        assert_filter(store, r#"{"a": [[]]}"#, &[8]);
        assert_filter(store, r#"{"a": [{}]}"#, &[9]);
        assert_filter(store, r#"{"a": [], "b": []}"#, &[]);
        assert_filter(store, r#"{"a": null}"#, &[10]);
        assert_index(db, store, 0);
    }

    /// `1`, `1.0`, `1e0` and `10e-1` are one number, and so are `0`, `-0` and `0.0`; a
    /// string `"1"`, an array `[1]` and 20-digit neighbours are not.
    pub fn number_spellings_match_by_value(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[
                r#"{"n": 1}"#,                    // 1
                r#"{"n": 1.0}"#,                  // 2
                r#"{"n": 1e0}"#,                  // 3
                r#"{"n": 10e-1}"#,                // 4
                r#"{"n": 2}"#,                    // 5
                r#"{"n": 0}"#,                    // 6
                r#"{"n": -0}"#,                   // 7
                r#"{"n": 0.0}"#,                  // 8
                r#"{"n": [1.00]}"#,               // 9
                r#"{"n": "1"}"#,                  // 10
                r#"{"n": 12345678901234567890}"#, // 11
            ],
        );
        for one in ["1", "1.0", "1e0", "0.1E+1", "100e-2"] {
            assert_filter(store, &format!(r#"{{"n": {one}}}"#), &[1, 2, 3, 4]);
        }
        for zero in ["0", "-0", "0.0", "-0.0e5", "0E-3"] {
            assert_filter(store, &format!(r#"{{"n": {zero}}}"#), &[6, 7, 8]);
        }
        assert_filter(store, r#"{"n": [1]}"#, &[9]);
        assert_filter(store, r#"{"n": [1e0, 1.0]}"#, &[9]);
        assert_filter(store, r#"{"n": "1"}"#, &[10]);
        assert_filter(store, r#"{"n": 1.2345678901234567890e19}"#, &[11]);
        assert_filter(store, r#"{"n": 12345678901234567891}"#, &[]);
        assert_filter(store, r#"{"n": 1.0000000000000000000001}"#, &[]);
        assert_index(db, store, 0);
    }

    /// A boolean is not a number: `true` is not `1`, `false` is not `0`, in arrays too.
    pub fn true_does_not_match_one(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[
                r#"{"f": true}"#,      // 1
                r#"{"f": 1}"#,         // 2
                r#"{"f": [true]}"#,    // 3
                r#"{"f": [1]}"#,       // 4
                r#"{"f": false}"#,     // 5
                r#"{"f": 0}"#,         // 6
                r#"{"f": [true, 1]}"#, // 7
            ],
        );
        assert_filter(store, r#"{"f": true}"#, &[1]);
        assert_filter(store, r#"{"f": 1}"#, &[2]);
        assert_filter(store, r#"{"f": [true]}"#, &[3, 7]);
        assert_filter(store, r#"{"f": [1]}"#, &[4, 7]);
        assert_filter(store, r#"{"f": [1, true]}"#, &[7]);
        assert_filter(store, r#"{"f": false}"#, &[5]);
        assert_filter(store, r#"{"f": 0}"#, &[6]);
        assert_filter(store, r#"{"f": [false]}"#, &[]);
        assert_index(db, store, 0);
    }

    /// Array levels are part of the path: `[[1]]` is not `[1]`, items of an array of
    /// objects are matched one at a time (two items cannot make up one filter item, though
    /// between them they have all of its keys).
    pub fn nested_arrays_match_level_by_level(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[
                r#"{"a": [[1]]}"#,                        // 1
                r#"{"a": [1]}"#,                          // 2
                r#"{"a": [[1, 2], 3]}"#,                  // 3
                r#"{"a": [{"b": 1}]}"#,                   // 4
                r#"{"a": [{"b": 1, "c": 2}, {"b": 2}]}"#, // 5
                r#"{"a": {"b": 1}}"#,                     // 6
                r#"{"a": [{"b": [1]}]}"#,                 // 7
            ],
        );
        assert_filter(store, r#"{"a": [[1]]}"#, &[1, 3]);
        assert_filter(store, r#"{"a": [1]}"#, &[2]);
        assert_filter(store, r#"{"a": [[2]]}"#, &[3]);
        assert_filter(store, r#"{"a": [3]}"#, &[3]);
        assert_filter(store, r#"{"a": [[1], 3]}"#, &[3]);
        assert_filter(store, r#"{"a": [[]]}"#, &[1, 3]);
        assert_filter(store, r#"{"a": [{"b": 1}]}"#, &[4, 5]);
        assert_filter(store, r#"{"a": [{"b": 1, "c": 2}]}"#, &[5]);
        assert_filter(store, r#"{"a": [{"b": 2, "c": 2}]}"#, &[]);
        assert_filter(store, r#"{"a": [{"b": 2}, {"c": 2}]}"#, &[5]);
        assert_filter(store, r#"{"a": {"b": 1}}"#, &[6]);
        assert_filter(store, r#"{"a": [{"b": [1]}]}"#, &[7]);
        assert_filter(store, r#"{"a": [{}]}"#, &[4, 5, 7]);
        assert_index(db, store, 0);
    }

    /// A new metadata object replaces the old one whole: the memory leaves the filters the
    /// old one matched and joins those the new one matches; other fields change nothing.
    pub fn an_update_moves_a_memory_in_and_out_of_a_filter(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[r#"{"k": "x"}"#, r#"{"k": "y"}"#, r#"{"k": "x", "n": 1}"#],
        );
        assert_filter(store, r#"{"k": "x"}"#, &[1, 3]);
        let update = |n: u128, metadata: &str| {
            store
                .update(id(n), MemoryUpdate::default().metadata(doc(metadata)))
                .expect("update");
        };
        update(2, r#"{"k": "x", "z": [true]}"#);
        assert_filter(store, r#"{"k": "x"}"#, &[1, 2, 3]);
        assert_filter(store, r#"{"k": "y"}"#, &[]);
        assert_filter(store, r#"{"z": [true]}"#, &[2]);
        update(1, r#"{"k": ["x"]}"#);
        assert_filter(store, r#"{"k": "x"}"#, &[2, 3]);
        assert_filter(store, r#"{"k": ["x"]}"#, &[1]);
        update(3, r#"{}"#);
        assert_filter(store, r#"{"k": "x"}"#, &[2]);
        assert_filter(store, r#"{"n": 1}"#, &[]);
        assert_filter(store, "{}", &[1, 2, 3]);
        // The same metadata again, and updates of other fields, keep the memory where it is.
        update(2, r#"{"k": "x", "z": [true]}"#);
        store
            .update(
                id(2),
                MemoryUpdate::default()
                    .content("changed")
                    .related_threads(["r"])
                    .score(7),
            )
            .expect("update other fields");
        assert_filter(store, r#"{"k": "x"}"#, &[2]);
        assert_filter(store, r#"{"z": [true]}"#, &[2]);
        assert_index(db, store, 0);
    }

    /// A deleted memory leaves every result; its id stored again with other metadata is
    /// found by the new metadata only.
    pub fn a_delete_removes_a_memory_from_every_filter(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[r#"{"t": 1}"#, r#"{"t": 1, "u": "a"}"#, r#"{"t": 1}"#],
        );
        assert!(store.delete(id(2)).unwrap());
        assert_filter(store, r#"{"t": 1}"#, &[1, 3]);
        assert_filter(store, r#"{"u": "a"}"#, &[]);
        assert!(!store.delete(id(2)).unwrap(), "deleted already");
        assert!(store.delete(id(3)).unwrap());
        assert_filter(store, r#"{"t": 1}"#, &[1]);
        store
            .insert(memory(3, r#"{"t": 2}"#))
            .expect("insert again");
        assert_filter(store, r#"{"t": 1}"#, &[1]);
        assert_filter(store, r#"{"t": 2}"#, &[3]);
        assert_filter(store, "{}", &[1, 3]);
        assert_index(db, store, 0);
    }

    /// Import skips an id already stored: queries find it by the metadata it was stored
    /// with, not by the metadata of the skipped copy.
    pub fn import_keeps_the_stored_metadata_of_a_skipped_id(db: &TestDb) {
        let store = &migrated_store(db);
        store.insert(memory(1, r#"{"v": "stored"}"#)).unwrap();
        let batch = vec![
            memory(1, r#"{"v": "imported"}"#).related_threads(["r"]),
            memory(2, r#"{"v": "imported"}"#),
        ];
        assert_eq!(store.import(batch).unwrap(), 1);
        assert_filter(store, r#"{"v": "stored"}"#, &[1]);
        assert_filter(store, r#"{"v": "imported"}"#, &[2]);
        assert_selects(store, MemoryQuery::new().related_to_any(["r"]), &[], "r");
        assert_eq!(
            store.get(id(1)).unwrap().unwrap().metadata,
            doc(r#"{"v": "stored"}"#)
        );
        assert_index(db, store, 0);
    }

    /// related_to_any selects the memories that list any of the threads, as they are after
    /// each update of their related threads; threads that no memory lists select nothing.
    pub fn related_to_any_follows_an_update_of_related_threads(db: &TestDb) {
        let store = &migrated_store(db);
        store
            .insert_many(vec![
                memory(1, r#"{"k": 1}"#).related_threads(["r1", "r2"]),
                memory(2, r#"{"k": 2}"#).related_threads(["r3"]),
                memory(3, r#"{"k": 1}"#),
            ])
            .unwrap();
        let related = |threads: &[&str], expected: &[u128]| {
            let what = format!("related to any of {threads:?}");
            let query = MemoryQuery::new().related_to_any(threads.iter().copied());
            assert_selects(store, query, expected, &what);
        };
        related(&["r1"], &[1]);
        related(&["r3", "nowhere"], &[2]);
        related(&["nowhere"], &[]);
        related(&["r2", "r3"], &[1, 2]);
        store
            .update(id(1), MemoryUpdate::default().related_threads(["r3"]))
            .unwrap();
        related(&["r1"], &[]);
        related(&["r2"], &[]);
        related(&["r3"], &[1, 2]);
        store
            .update(id(3), MemoryUpdate::default().related_threads(["r1"]))
            .unwrap();
        related(&["r1"], &[3]);
        store
            .update(
                id(2),
                MemoryUpdate::default().related_threads(Vec::<String>::new()),
            )
            .unwrap();
        related(&["r3"], &[1]);
        // With a containment filter and a user as well.
        let both = MemoryQuery::new()
            .contains(doc(r#"{"k": 1}"#))
            .related_to_any(["r1", "r3"]);
        assert_selects(store, both.clone(), &[1, 3], "k = 1 and r1 or r3");
        assert_selects(
            store,
            both.user("alice"),
            &[1, 3],
            "alice, k = 1 and r1 or r3",
        );
        assert_index(db, store, 0);
    }

    /// A `DELETE` on a direct connection, past engram: queries stay exact at once (on
    /// SQLite the deleted memories wait in the index's queue, left out of the check), and
    /// the next engram write empties the queue.
    pub fn a_raw_delete_leaves_queries_exact_and_the_index_sound(db: &TestDb) {
        let store = &migrated_store(db);
        let memories = (1..=4).map(|n| memory(n, r#"{"g": 1}"#).related_threads(["r"]));
        store.insert_many(memories.collect()).unwrap();
        let queued = |n: u64| {
            if db.kind() == BackendKind::Sqlite {
                n
            } else {
                0
            }
        };
        db.execute(&format!("DELETE FROM memories WHERE id = '{}'", id(2)));
        assert_index(db, store, queued(1));
        assert_filter(store, r#"{"g": 1}"#, &[1, 3, 4]);
        assert_selects(
            store,
            MemoryQuery::new().related_to_any(["r"]),
            &[1, 3, 4],
            "r",
        );
        db.execute("DELETE FROM memories");
        assert_index(db, store, queued(4));
        assert_filter(store, r#"{"g": 1}"#, &[]);
        assert_filter(store, "{}", &[]);
        store.insert(memory(5, r#"{"g": 1}"#)).unwrap();
        assert_index(db, store, 0);
        assert_filter(store, r#"{"g": 1}"#, &[5]);
        assert_selects(store, MemoryQuery::new().related_to_any(["r"]), &[], "r");
        assert_index(db, store, 0);
    }

    /// Another program's `UPDATE` of metadata moves a memory between filters at once (SQLite
    /// queues it by trigger); its `INSERT` is found once the index is brought up to date
    /// (`Store::update_index`, which `Store::migrate` and `engram migrate up` run). Before
    /// that, SQLite does not find such a memory by containment and PostgreSQL does: the
    /// README says so.
    pub fn raw_updates_and_inserts_are_found(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(store, &[r#"{"k": "a"}"#, r#"{"k": "a"}"#]);
        db.execute(&format!(
            r#"UPDATE memories SET metadata = '{{"k":"b"}}' WHERE id = '{}'"#,
            id(2)
        ));
        assert_filter(store, r#"{"k": "a"}"#, &[1]);
        assert_filter(store, r#"{"k": "b"}"#, &[2]);
        let queued = match db.kind() {
            BackendKind::Sqlite => 1,
            BackendKind::Postgres => 0,
        };
        assert_index(db, store, queued);
        let at = match db.kind() {
            BackendKind::Sqlite => (BASE + 3_000_000).to_string(),
            BackendKind::Postgres => format!("to_timestamp({})", BASE / 1_000_000 + 3),
        };
        db.execute(&format!(
            "INSERT INTO memories (id, user_id, content, metadata, created_at, updated_at) \
             VALUES ('{}', 'alice', 'memory 3', '{{\"k\":\"a\"}}', {at}, {at})",
            id(3)
        ));
        store
            .update_index(&mut |_, _| {})
            .expect("update the index");
        assert_filter(store, r#"{"k": "a"}"#, &[1, 3]);
        assert_filter(store, r#"{"k": "b"}"#, &[2]);
        assert_index(db, store, 0);
    }

    /// The ids of one page of `filter` in `order` (offset 1, so the skip is checked too),
    /// and the whole result in that order.
    fn pages(store: &Store, filter: &str, order: Order) -> (Vec<Uuid>, Vec<Uuid>) {
        let query = MemoryQuery::new().contains(doc(filter)).order(order);
        let ids = |query: MemoryQuery| -> Vec<Uuid> {
            store.query(query).unwrap().iter().map(|m| m.id).collect()
        };
        (ids(query.clone().offset(1).limit(2)), ids(query))
    }

    /// Asserts every order's page and whole result of `{"k": "a"}`, given newest first by
    /// updated_at and by created_at (ids numbered as [`id`]).
    fn assert_orders(store: &Store, by_updated: &[u128], by_created: &[u128], what: &str) {
        let ids = |numbers: &[u128], reversed: bool| -> Vec<Uuid> {
            let mut ids: Vec<Uuid> = numbers.iter().map(|&n| id(n)).collect();
            if reversed {
                ids.reverse();
            }
            ids
        };
        for (order, numbers, reversed) in [
            (Order::UpdatedDesc, by_updated, false),
            (Order::UpdatedAsc, by_updated, true),
            (Order::CreatedDesc, by_created, false),
            (Order::CreatedAsc, by_created, true),
        ] {
            let expected = ids(numbers, reversed);
            let (page, all) = pages(store, r#"{"k": "a"}"#, order);
            assert_eq!(all, expected, "{what}: {order:?}");
            assert_eq!(page, expected[1..3], "{what}: page of {order:?}");
        }
    }

    /// A page of a filter the index decides comes in the memories' order after every change
    /// of their timestamps: engram's update, another program's `UPDATE` of `updated_at`,
    /// of `created_at` and of the id (SQLite sorts such a page by the copies of the
    /// timestamps its index keeps, which its triggers keep equal).
    pub fn pages_follow_every_change_of_the_timestamps(db: &TestDb) {
        let store = &migrated_store(db);
        store_documents(
            store,
            &[
                r#"{"k": "a"}"#,
                r#"{"k": "a"}"#,
                r#"{"k": "a"}"#,
                r#"{"k": "a"}"#,
                r#"{"k": "b"}"#,
                r#"{"k": "b"}"#,
                r#"{"k": "b"}"#,
                r#"{"k": "b"}"#,
                r#"{"k": "b"}"#,
            ],
        );
        assert_orders(store, &[4, 3, 2, 1], &[4, 3, 2, 1], "as inserted");
        store
            .update(id(2), MemoryUpdate::default().content("memory 2, again"))
            .expect("update memory 2");
        assert_orders(store, &[2, 4, 3, 1], &[4, 3, 2, 1], "memory 2 updated");
        let at = |seconds: i64| match db.kind() {
            BackendKind::Sqlite => (BASE + seconds * 1_000_000).to_string(),
            BackendKind::Postgres => format!("to_timestamp({})", BASE / 1_000_000 + seconds),
        };
        db.execute(&format!(
            "UPDATE memories SET updated_at = {} WHERE id = '{}'",
            at(4_000_000_000),
            id(3)
        ));
        db.execute(&format!(
            "UPDATE memories SET created_at = {} WHERE id = '{}'",
            at(-10),
            id(4)
        ));
        assert_orders(
            store,
            &[3, 2, 4, 1],
            &[3, 2, 1, 4],
            "raw updates of timestamps",
        );
        db.execute(&format!(
            "UPDATE memories SET id = '{}', updated_at = {} WHERE id = '{}'",
            id(20),
            at(4_000_000_001),
            id(1)
        ));
        assert_orders(
            store,
            &[20, 3, 2, 4],
            &[3, 2, 20, 4],
            "a raw update of an id",
        );
        store
            .update_index(&mut |_, _| {})
            .expect("update the index");
        assert_orders(store, &[20, 3, 2, 4], &[3, 2, 20, 4], "the queue applied");
        assert_index(db, store, 0);
    }
}
