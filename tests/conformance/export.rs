//! The conformance cases of `Store::export`, run on both backends: it streams exactly what
//! `Store::query` returns (order, filters, limit and offset, embeddings), more rows than one
//! PostgreSQL fetch; it reads one snapshot (writes committed while it runs are not seen);
//! and a failing callback stops it with its own error, leaving the store usable.

engram_testkit::cross_backend!(cases::{
    export_streams_what_query_returns,
    export_reads_one_snapshot,
    export_stops_at_the_first_error_of_the_callback,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use engram::{
        Embedding, Error, Memory, MemoryQuery, MemoryUpdate, NewMemory, Order, Store, Timestamp,
    };
    use engram_testkit::TestDb;
    use serde_json::json;

    use crate::common::migrated_store;

    const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

    /// More than the 1,000 rows PostgreSQL's export fetches per round trip.
    const ROWS: u128 = 2_345;

    use crate::common::id;

    /// `ROWS` memories of two users; updated_at repeats in runs of 7 (ties broken by id);
    /// every third has an embedding.
    fn seed(store: &Store) {
        let memories: Vec<NewMemory> = (0..ROWS)
            .map(|n| {
                let at = Timestamp::from_micros(BASE + (n as i64 / 7) * 1_000);
                let memory = NewMemory::new(if n % 2 == 0 { "alice" } else { "bob" }, "m")
                    .id(id(n))
                    .metadata(json!({"n": n as u64, "odd": n % 2 == 1}))
                    .at(at, at);
                if n % 3 == 0 {
                    let k = n as f32;
                    memory.embedding(Embedding::new(vec![k.sin(), k.cos(), 1.0]).unwrap())
                } else {
                    memory
                }
            })
            .collect();
        for chunk in memories.chunks(1_000) {
            store.insert_many(chunk.to_vec()).unwrap();
        }
    }

    fn exported(store: &Store, query: MemoryQuery) -> Vec<Memory> {
        let mut memories = Vec::new();
        let count = store
            .export(query, |memory| {
                memories.push(memory);
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(count, memories.len() as u64);
        memories
    }

    pub fn export_streams_what_query_returns(db: &TestDb) {
        let store = &migrated_store(db);
        seed(store);
        let asc = MemoryQuery::new().order(Order::UpdatedAsc);
        for query in [
            asc.clone(),
            asc.clone().with_embeddings(),
            MemoryQuery::new(),
            asc.clone().user("bob").with_embeddings(),
            asc.clone().contains(json!({"odd": false})),
            asc.clone().limit(1_500).offset(700).with_embeddings(),
            asc.clone().offset(ROWS as u64),
        ] {
            let expected = store.query(query.clone()).unwrap();
            assert_eq!(exported(store, query.clone()), expected, "{query:?}");
        }
        let all = exported(store, asc.clone().with_embeddings());
        assert_eq!(all.len() as u128, ROWS);
        assert_eq!(all.iter().filter(|m| m.embedding.is_some()).count(), 782);
        let without = exported(store, asc);
        assert!(without.iter().all(|m| m.embedding.is_none()));
    }

    pub fn export_reads_one_snapshot(db: &TestDb) {
        let store = &migrated_store(db);
        seed(store);
        let before = store
            .query(MemoryQuery::new().order(Order::UpdatedAsc))
            .unwrap();
        let mut seen = Vec::new();
        store
            .export(MemoryQuery::new().order(Order::UpdatedAsc), |memory| {
                if seen.is_empty() {
                    // Written on other connections after the export's first row: a new
                    // memory, one changed, one deleted (the last in the export's order).
                    store
                        .insert(NewMemory::new("carol", "new").id(id(ROWS + 1)))
                        .unwrap();
                    store
                        .update(id(1), MemoryUpdate::default().content("changed"))
                        .unwrap();
                    assert!(store.delete(id(ROWS - 1)).unwrap());
                }
                seen.push(memory);
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(
            seen, before,
            "the export sees the store as it was when it began"
        );
        let after = store
            .query(MemoryQuery::new().order(Order::UpdatedAsc))
            .unwrap();
        assert_eq!(after.len(), before.len(), "one added, one deleted");
        assert_eq!(
            after.last().unwrap().id,
            id(1),
            "the update moved memory 1 last"
        );
        assert_eq!(
            exported(store, MemoryQuery::new().order(Order::UpdatedAsc)),
            after
        );
    }

    pub fn export_stops_at_the_first_error_of_the_callback(db: &TestDb) {
        let store = &migrated_store(db);
        seed(store);
        let mut calls = 0;
        let result = store.export(
            MemoryQuery::new(),
            |_| -> Result<(), Box<dyn std::error::Error>> {
                calls += 1;
                if calls == 3 {
                    Err("the disk is full".into())
                } else {
                    Ok(())
                }
            },
        );
        let err = result.map_err(|e| e.to_string()).unwrap_err();
        assert_eq!(err, "the disk is full");
        assert_eq!(calls, 3, "nothing after the error");
        // The store's connections are usable afterwards, for reads and writes.
        for _ in 0..8 {
            store.insert(NewMemory::new("dave", "after")).unwrap();
        }
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), ROWS as u64 + 8);
        assert_eq!(exported(store, MemoryQuery::new()).len() as u128, ROWS + 8);
    }
}
