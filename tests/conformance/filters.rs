//! The conformance cases of metadata filters with operators and paths, run on both
//! backends: every operator on one fixed set of memories, each answer written out (and held
//! equal to the Rust rule, `Filter::matches`), through `query` and `count`.

engram_testkit::cross_backend!(cases::{
    every_operator_selects_the_same_memories,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use engram::{MemoryQuery, NewMemory};
    use engram_core::filter::Filter;
    use engram_testkit::TestDb;
    use serde_json::{json, Value};

    use crate::common::{id, migrated_store};

    /// The memories' metadata; memory `n` has the `n`-th (from 1).
    fn documents() -> Vec<Value> {
        vec![
            json!({"n": 10, "customer": {"tier": "gold", "since": 2020}, "tags": ["a", "b"]}),
            json!({"n": 9, "customer": {"tier": "silver"}, "tags": ["b"]}),
            json!({"n": "10", "customer": {"tier": "gold", "vip": true}}),
            json!({"n": 12345678901234567891u64, "flag": true}),
            json!({"n": 12345678901234567890u64, "flag": 1, "z": null}),
            json!({"n": 1.5, "name": "Zoë"}),
            json!({}),
            json!({"n": -3, "name": "apple", "customer": "gold"}),
        ]
    }

    pub fn every_operator_selects_the_same_memories(db: &TestDb) {
        let store = migrated_store(db);
        let documents = documents();
        for (n, metadata) in documents.iter().enumerate() {
            store
                .insert(
                    NewMemory::new("alice", format!("m{}", n + 1))
                        .id(id(n as u128 + 1))
                        .metadata(metadata.clone()),
                )
                .unwrap();
        }
        let all: Vec<u128> = (1..=8).collect();
        let cases: Vec<(Value, Vec<u128>)> = vec![
            (json!({"n": {"$gt": 9}}), vec![1, 4, 5]),
            (json!({"n": {"$lt": 5}}), vec![6, 8]),
            (json!({"n": {"$gt": 12345678901234567890u64}}), vec![4]),
            (json!({"n": {"$gte": 10, "$lte": 10.0}}), vec![1]),
            (json!({"n": {"$eq": 1.50}}), vec![6]),
            (json!({"n": {"$ne": 10}}), vec![2, 3, 4, 5, 6, 7, 8]),
            (json!({"customer.tier": "gold"}), vec![1, 3]),
            (json!({"customer": {"tier": "gold"}}), vec![1, 3]),
            (json!({"customer": {"tier": "gold", "vip": true}}), vec![3]),
            (json!({"customer": {}}), vec![1, 2, 3]),
            (
                json!({"customer.tier": {"$in": ["silver", "bronze"]}}),
                vec![2],
            ),
            (
                json!({"customer.tier": {"$nin": ["gold"]}}),
                vec![2, 4, 5, 6, 7, 8],
            ),
            (json!({"flag": true}), vec![4]),
            (json!({"flag": 1}), vec![5]),
            (json!({"z": null}), vec![5]),
            (json!({"z": {"$exists": true}}), vec![5]),
            (json!({"missing": {"$exists": false}}), all.clone()),
            (json!({}), all.clone()),
            (json!({"tags": ["b"]}), vec![2]),
            (json!({"tags": {"$contains": ["b"]}}), vec![1, 2]),
            (json!({"tags": {"$contains": "b"}}), vec![1, 2]),
            (json!({"name": {"$gt": "a"}}), vec![8]),
            (json!({"name": {"$lt": "b"}}), vec![6, 8]),
            (json!({"n": {"$gt": "1"}}), vec![3]),
            (json!({"n": {"$gt": 0}, "customer.tier": "gold"}), vec![1]),
        ];
        for (filter_json, expected) in cases {
            let filter = Filter::parse(&filter_json, "filter").unwrap();
            let model: Vec<u128> = (1..=8)
                .filter(|n| filter.matches(&documents[*n as usize - 1]))
                .collect();
            assert_eq!(model, expected, "the Rust rule on {filter_json}");
            let query = MemoryQuery::new().filter(filter);
            let mut found: Vec<u128> = store
                .query(query.clone())
                .unwrap()
                .iter()
                .map(|m| (1..=8).find(|n| id(*n) == m.id).unwrap())
                .collect();
            found.sort();
            assert_eq!(found, expected, "{} query {filter_json}", db.kind());
            assert_eq!(
                store.count(query).unwrap(),
                expected.len() as u64,
                "{} count {filter_json}",
                db.kind()
            );
        }
    }
}
