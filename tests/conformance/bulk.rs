//! The conformance cases of bulk writes (`insert_many`, `import`), run on both backends:
//! what a batch stores is what `insert` stores, a batch is all or nothing, an import skips
//! exactly the ids already stored (and repeats within the batch), with batches larger than
//! any chunk a backend writes in (PostgreSQL writes batches with `COPY`).

engram_testkit::cross_backend!(cases::{
    a_batch_stores_exactly_what_insert_stores,
    a_conflict_at_the_end_of_a_large_batch_writes_nothing,
    an_import_of_a_large_batch_skips_exactly_the_stored_ids,
    an_id_repeated_within_a_batch,
    a_large_import_with_embeddings_keeps_those_of_skipped_ids,
    an_import_skips_an_id_another_session_stores_meanwhile,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use std::time::{Duration, Instant};

    use engram::{BackendKind, Embedding, ErrorKind, Memory, MemoryQuery, NewMemory, Timestamp};
    use engram_testkit::faults::finishes_within_a_minute;
    use engram_testkit::TestDb;
    use serde_json::json;
    use uuid::Uuid;

    use crate::common::{migrated_store, vector_store};

    /// More rows than PostgreSQL's `INSERT` chunk (5,000), and, with [`long_content`],
    /// more bytes than one piece of its `COPY` stream (1 MiB).
    const LARGE: u128 = 12_001;

    use crate::common::id;

    fn long_content(n: u128, what: &str) -> String {
        format!("{what} {n} {}", "x".repeat(300))
    }

    fn large_batch(what: &str) -> Vec<NewMemory> {
        (0..LARGE)
            .map(|n| NewMemory::new("u", long_content(n, what)).id(id(n)))
            .collect()
    }

    fn content(store: &engram::Store, n: u128) -> Option<String> {
        store.get(id(n)).unwrap().map(|m| m.content)
    }

    fn vector(values: &[f32]) -> Embedding {
        Embedding::new(values.to_vec()).unwrap()
    }

    fn embedding(store: &engram::Store, n: u128) -> Option<Embedding> {
        store.get_with_embedding(id(n)).unwrap().unwrap().embedding
    }

    /// Memories with every field set, in every form a column takes: no thread and a thread,
    /// defaults and given values, text in several scripts, documents PostgreSQL rewrites,
    /// timestamps before 1970, before 2000 and far ahead, to the microsecond.
    fn varied(first: u128) -> Vec<NewMemory> {
        let at = Timestamp::from_micros;
        vec![
            NewMemory::new("alice", "likes tea")
                .id(id(first))
                .at(at(1_767_225_600_000_000), at(1_767_225_600_000_000)),
            NewMemory::new("bob", "Grüße, 你好, emoji 🧠, quote ' and \" and \\")
                .id(id(first + 1))
                .namespace("prefs")
                .thread("t-1")
                .tier("long_term")
                .score(0)
                .metadata(
                    json!({"a": {"b": [1, "x", null, true, 1.5e2]}, "n": 12345678901234567890u64}),
                )
                .related_threads(["t-2", "t-3"])
                .summarized(true)
                .at(at(-123_456_789), at(946_684_799_999_999)),
            NewMemory::new("carol", "")
                .id(id(first + 2))
                .thread("")
                .score(100)
                .metadata(json!({"": {}, "list": []}))
                .at(at(946_684_800_000_001), at(253_402_300_799_999_999)),
        ]
    }

    /// The fields of `m`, without its id.
    fn fields(m: Memory) -> Memory {
        Memory {
            id: Uuid::nil(),
            ..m
        }
    }

    pub fn a_batch_stores_exactly_what_insert_stores(db: &TestDb) {
        let store = &migrated_store(db);
        let one_by_one: Vec<Memory> = varied(0)
            .into_iter()
            .map(|m| store.insert(m).unwrap())
            .collect();
        store.insert_many(varied(10)).unwrap();
        assert_eq!(store.import(varied(20)).unwrap(), 3);
        for (n, inserted) in one_by_one.into_iter().enumerate() {
            let n = n as u128;
            let read = store.get(id(n)).unwrap().unwrap();
            assert_eq!(read, inserted, "insert stores what it returns");
            for batch in [10, 20] {
                let read_back = store.get(id(batch + n)).unwrap().unwrap();
                assert_eq!(
                    fields(read_back),
                    fields(read.clone()),
                    "memory {}",
                    batch + n
                );
            }
        }
    }

    pub fn a_conflict_at_the_end_of_a_large_batch_writes_nothing(db: &TestDb) {
        let store = &migrated_store(db);
        store
            .insert(NewMemory::new("u", "kept").id(id(LARGE - 1)))
            .unwrap();
        let err = store.insert_many(large_batch("new")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        let message = err.to_string();
        assert!(message.contains("already exists"), "{message}");
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 1);
        assert_eq!(content(store, 0), None);
        assert_eq!(content(store, LARGE - 1).as_deref(), Some("kept"));

        let mut batch = large_batch("new");
        batch.pop();
        let ids = store.insert_many(batch).unwrap();
        assert_eq!(ids.len() as u128, LARGE - 1);
        assert_eq!(ids[4_999], id(4_999), "ids in input order");
        assert_eq!(store.count(MemoryQuery::new()).unwrap() as u128, LARGE);
        for n in [0, 4_999, 5_000, LARGE - 2] {
            assert_eq!(content(store, n), Some(long_content(n, "new")));
        }
    }

    pub fn an_import_of_a_large_batch_skips_exactly_the_stored_ids(db: &TestDb) {
        let store = &migrated_store(db);
        let stored: Vec<u128> = (0..LARGE).step_by(1_000).collect();
        store
            .insert_many(
                stored
                    .iter()
                    .map(|&n| NewMemory::new("u", "stored").id(id(n)))
                    .collect(),
            )
            .unwrap();
        let new = LARGE - stored.len() as u128;
        assert_eq!(store.import(large_batch("imported")).unwrap() as u128, new);
        assert_eq!(store.count(MemoryQuery::new()).unwrap() as u128, LARGE);
        for &n in &stored {
            assert_eq!(content(store, n).as_deref(), Some("stored"), "memory {n}");
        }
        for n in [1, 4_999, 5_001, LARGE - 2] {
            assert_eq!(content(store, n), Some(long_content(n, "imported")));
        }
        assert_eq!(
            store.import(large_batch("again")).unwrap(),
            0,
            "a re-run adds nothing"
        );
        assert_eq!(content(store, 1), Some(long_content(1, "imported")));
    }

    /// An id given twice in one batch: `insert_many` fails as for a stored id and writes
    /// nothing; `import` stores its first occurrence and counts it once. In a batch of two
    /// and in a large one, where the repeat is far from the first.
    pub fn an_id_repeated_within_a_batch(db: &TestDb) {
        let store = &migrated_store(db);
        let pair = || {
            vec![
                NewMemory::new("u", "first").id(id(0)),
                NewMemory::new("u", "second").id(id(0)),
            ]
        };
        let err = store.insert_many(pair()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 0);
        assert_eq!(store.import(pair()).unwrap(), 1);
        assert_eq!(content(store, 0).as_deref(), Some("first"));

        let large = || {
            let mut batch = large_batch("large");
            batch.push(NewMemory::new("u", "repeat").id(id(1)));
            batch
        };
        let err = store.insert_many(large()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 1);
        store.delete(id(0)).unwrap();
        assert_eq!(store.import(large()).unwrap() as u128, LARGE);
        assert_eq!(content(store, 1), Some(long_content(1, "large")));
        assert_eq!(store.count(MemoryQuery::new()).unwrap() as u128, LARGE);
    }

    /// An import with embeddings, larger than any chunk: a skipped id keeps its memory and
    /// its embedding (or its lack of one), a new one gets its own, and an id repeated within
    /// the batch gets its first occurrence's. A failed `insert_many` leaves no embedding.
    pub fn a_large_import_with_embeddings_keeps_those_of_skipped_ids(db: &TestDb) {
        let store = &vector_store(db);
        store
            .insert_many(vec![
                NewMemory::new("u", "stored")
                    .id(id(7))
                    .embedding(vector(&[7.0, 7.0])),
                NewMemory::new("u", "stored, plain").id(id(8)),
            ])
            .unwrap();
        let embedded = |n: u128, what: &str| {
            NewMemory::new("u", long_content(n, what))
                .id(id(n))
                .embedding(vector(&[n as f32, 1.0]))
        };
        let mut batch: Vec<NewMemory> = (0..LARGE).map(|n| embedded(n, "imported")).collect();
        batch.push(
            NewMemory::new("u", "repeat")
                .id(id(9))
                .embedding(vector(&[-1.0, -1.0])),
        );
        assert_eq!(store.import(batch).unwrap() as u128, LARGE - 2);
        assert_eq!(embedding(store, 7), Some(vector(&[7.0, 7.0])));
        assert_eq!(
            embedding(store, 8),
            None,
            "a skipped memory gains no embedding"
        );
        assert_eq!(content(store, 9), Some(long_content(9, "imported")));
        assert_eq!(embedding(store, 9), Some(vector(&[9.0, 1.0])));
        for n in [0, 4_999, 5_000, LARGE - 1] {
            assert_eq!(
                embedding(store, n),
                Some(vector(&[n as f32, 1.0])),
                "memory {n}"
            );
        }

        let pair = vec![
            NewMemory::new("u", "first")
                .id(id(2 * LARGE))
                .embedding(vector(&[1.0, 2.0])),
            NewMemory::new("u", "second")
                .id(id(2 * LARGE))
                .embedding(vector(&[3.0, 4.0])),
        ];
        assert_eq!(store.import(pair).unwrap(), 1, "a repeat next to the first");
        assert_eq!(embedding(store, 2 * LARGE), Some(vector(&[1.0, 2.0])));
        store.delete(id(2 * LARGE)).unwrap();

        let mut failing: Vec<NewMemory> =
            (LARGE..2 * LARGE).map(|n| embedded(n, "failing")).collect();
        failing.push(embedded(7, "clash"));
        let err = store.insert_many(failing).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert_eq!(store.count(MemoryQuery::new()).unwrap() as u128, LARGE);
        assert_eq!(store.get(id(LARGE)).unwrap(), None);
    }

    /// An import and another session storing one of its ids at the same time: the import
    /// waits for that session, then skips the id as one it finds stored.
    pub fn an_import_skips_an_id_another_session_stores_meanwhile(db: &TestDb) {
        let store = migrated_store(db);
        let mut other = db.connect();
        let clash = id(3);
        other.execute(&match db.kind() {
            BackendKind::Sqlite => format!(
                "BEGIN IMMEDIATE; INSERT INTO memories (id, user_id, content, created_at, \
                 updated_at) VALUES ('{clash}', 'u', 'other session', 0, 0)"
            ),
            BackendKind::Postgres => format!(
                "BEGIN; INSERT INTO memories (id, user_id, content, created_at, updated_at) \
                 VALUES ('{clash}', 'u', 'other session', now(), now())"
            ),
        });
        let importer = store.clone();
        let batch: Vec<NewMemory> = (0..10)
            .map(|n| NewMemory::new("u", format!("imported {n}")).id(id(n)))
            .collect();
        let import = std::thread::spawn(move || {
            finishes_within_a_minute("an import behind another session", move || {
                importer.import(batch)
            })
        });
        // Commit once the import waits for the other session (PostgreSQL shows the wait;
        // SQLite's busy wait does not, and gives the same result whenever it starts).
        let deadline = Instant::now() + Duration::from_secs(20);
        match db.kind() {
            BackendKind::Sqlite => std::thread::sleep(Duration::from_millis(300)),
            BackendKind::Postgres => {
                let mut watcher = db.connect();
                while watcher.count(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                ) == 0
                {
                    assert!(Instant::now() < deadline, "the import never waited");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        other.execute("COMMIT");
        let imported = import.join().unwrap().expect("the import succeeds");
        assert_eq!(imported, 9);
        assert_eq!(content(&store, 3).as_deref(), Some("other session"));
        assert_eq!(content(&store, 4).as_deref(), Some("imported 4"));
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 10);
    }
}
