//! The conformance cases of a memory's lifecycle, run on both backends: expiry (every read
//! leaves an expired memory out from the moment it expires, before any sweep), sweeps
//! (bounded batches, the same counts), retention in tier policies, and an expiry's
//! round trip through updates, export and import.

engram_testkit::cross_backend!(cases::{
    a_memory_that_expires_between_two_reads_disappears_from_every_read,
    sweeps_delete_expired_memories_in_batches,
    retention_deletes_old_memories_in_the_policy_run,
    expiry_is_set_cleared_and_carried_by_export_and_import,
    bad_expiry_input_is_an_invalid_input_error,
    a_schema_from_before_expiry_is_a_schema_error,
    history_lists_every_change_oldest_first,
    history_can_be_off_and_pruned,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use std::time::Duration;

    use engram::{
        AgeOf, Embedding, Error, ErrorKind, EventKind, Memory, MemoryQuery, MemoryUpdate,
        NearestQuery, NewMemory, Order, PolicyAction, Store, TierPolicy, Timestamp,
    };
    use engram_testkit::TestDb;
    use serde_json::json;

    use crate::common::{id, migrated_store, unmigrated_store, vector_store};

    const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
    const HOUR: i64 = 3_600_000_000;

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    fn ids(memories: &[Memory]) -> Vec<uuid::Uuid> {
        memories.iter().map(|m| m.id).collect()
    }

    fn exported(store: &Store, query: MemoryQuery) -> Vec<uuid::Uuid> {
        let mut seen = Vec::new();
        store
            .export(query, |memory| {
                seen.push(memory.id);
                Ok::<(), Error>(())
            })
            .unwrap();
        seen
    }

    /// What every read path says of the store, each path by its ids or counts.
    #[derive(Debug, PartialEq)]
    struct Reads {
        get: Vec<bool>,
        query: Vec<uuid::Uuid>,
        filtered: Vec<uuid::Uuid>,
        related: Vec<uuid::Uuid>,
        count: u64,
        filtered_count: u64,
        nearest: Vec<uuid::Uuid>,
        export: Vec<uuid::Uuid>,
        stats_total: u64,
    }

    fn reads(store: &Store, all: &[uuid::Uuid]) -> Reads {
        let near = NearestQuery::new(Embedding::new(vec![1.0, 0.0]).unwrap(), 10);
        Reads {
            get: all
                .iter()
                .map(|&id| {
                    let plain = store.get(id).unwrap().is_some();
                    let with = store.get_with_embedding(id).unwrap().is_some();
                    assert_eq!(plain, with, "get and get_with_embedding of {id}");
                    plain
                })
                .collect(),
            query: ids(&store.query(MemoryQuery::new()).unwrap()),
            filtered: ids(&store
                .query(
                    MemoryQuery::new()
                        .contains(json!({"topic": "trip"}))
                        .limit(5),
                )
                .unwrap()),
            related: ids(&store
                .query(MemoryQuery::new().related_to_any(["t-9"]))
                .unwrap()),
            count: store.count(MemoryQuery::new()).unwrap(),
            filtered_count: store
                .count(MemoryQuery::new().contains(json!({"topic": "trip"})))
                .unwrap(),
            nearest: store
                .nearest(near)
                .unwrap()
                .into_iter()
                .map(|n| n.memory.id)
                .collect(),
            export: exported(store, MemoryQuery::new()),
            stats_total: store.stats(None).unwrap().total,
        }
    }

    pub fn a_memory_that_expires_between_two_reads_disappears_from_every_read(db: &TestDb) {
        let store = &vector_store(db);
        let soon = Timestamp::now().saturating_add(Duration::from_millis(1_500));
        let memory = |n: u128| {
            NewMemory::new("alice", format!("m{n}"))
                .id(id(n))
                .metadata(json!({"topic": "trip", "n": n as u64}))
                .related_threads(["t-9"])
                .embedding(Embedding::new(vec![1.0, n as f32 / 10.0]).unwrap())
        };
        // 1 expires soon, 2 never, 3 in a day, 4 expired already (stored expired, as an
        // import of an expired export would be).
        store.insert(memory(1).expires_at(soon)).unwrap();
        store.insert(memory(2)).unwrap();
        store
            .insert_many(vec![
                memory(3).ttl(Duration::from_secs(86_400)),
                memory(4).expires_at(at(BASE)),
            ])
            .unwrap();
        let all = [id(1), id(2), id(3), id(4)];
        let before = reads(store, &all);
        assert_eq!(before.get, [true, true, true, false]);
        assert_eq!(before.count, 3, "{before:?}");
        for path in [
            &before.query,
            &before.filtered,
            &before.related,
            &before.nearest,
            &before.export,
        ] {
            let mut sorted = path.clone();
            sorted.sort();
            assert_eq!(sorted, [id(1), id(2), id(3)], "{before:?}");
        }
        assert_eq!((before.filtered_count, before.stats_total), (3, 3));

        while Timestamp::now() <= soon {
            std::thread::sleep(Duration::from_millis(50));
        }
        let after = reads(store, &all);
        assert_eq!(after.get, [false, true, true, false], "{after:?}");
        assert_eq!(
            (after.count, after.filtered_count, after.stats_total),
            (2, 2, 2)
        );
        for path in [
            &after.query,
            &after.filtered,
            &after.related,
            &after.nearest,
            &after.export,
        ] {
            let mut sorted = path.clone();
            sorted.sort();
            assert_eq!(sorted, [id(2), id(3)], "{after:?}");
        }
        // Judged at an earlier moment, and with the expired ones asked for.
        let earlier = MemoryQuery::new()
            .as_of(at(BASE - HOUR))
            .order(Order::CreatedAsc);
        assert_eq!(
            ids(&store.query(earlier.clone()).unwrap()),
            [id(1), id(2), id(3), id(4)]
        );
        let with_expired = MemoryQuery::new()
            .include_expired()
            .contains(json!({"topic": "trip"}))
            .order(Order::CreatedAsc);
        assert_eq!(store.count(with_expired.clone()).unwrap(), 4);
        assert_eq!(exported(store, with_expired), all);

        // No write brings an expired memory back, and a delete reports it gone.
        let err = store
            .update(id(1), MemoryUpdate::default().never_expire())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(
            !store.delete(id(1)).unwrap(),
            "an expired memory was not there"
        );
        assert_eq!(
            store.count(MemoryQuery::new().include_expired()).unwrap(),
            3,
            "the delete removed the expired row"
        );
        assert_eq!(
            store.count_expired().unwrap(),
            1,
            "memory 4 waits for a sweep"
        );
    }

    pub fn sweeps_delete_expired_memories_in_batches(db: &TestDb) {
        let store = &vector_store(db);
        let now = at(BASE + 100 * HOUR);
        let memories: Vec<NewMemory> = (0..40u128)
            .map(|n| {
                let memory = NewMemory::new("u", "m").id(id(n));
                match n % 4 {
                    // 0 and 1: expired at `now` (1 exactly at it), 2: later, 3: never.
                    0 => memory.expires_at(at(BASE + n as i64)),
                    1 => memory.expires_at(now),
                    2 => memory.expires_at(at(BASE + 101 * HOUR)),
                    _ => memory,
                }
                .embedding(Embedding::new(vec![1.0, 2.0]).unwrap())
            })
            .collect();
        store.insert_many(memories).unwrap();
        let sweep = store.sweep_at(now, 7).unwrap();
        assert_eq!((sweep.deleted, sweep.batches), (20, 3));
        assert_eq!(store.sweep_at(now, 7).unwrap().deleted, 0);
        let left = store
            .query(
                MemoryQuery::new()
                    .include_expired()
                    .order(Order::CreatedAsc),
            )
            .unwrap();
        assert!(
            left.iter().all(|m| m.id.as_u128() % 4 >= 2),
            "only memories live at the sweep's moment are left: {:?}",
            ids(&left)
        );
        assert_eq!(left.len(), 20);
        // A later sweep takes the next ten; a sweep as of now (2026-12 or later) too.
        assert_eq!(
            store
                .sweep_at(at(BASE + 101 * HOUR), 1_000)
                .unwrap()
                .deleted,
            10
        );
        assert_eq!(store.sweep(1_000).unwrap().deleted, 0);
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 10);
        assert_eq!(store.count_expired().unwrap(), 0);
    }

    pub fn retention_deletes_old_memories_in_the_policy_run(db: &TestDb) {
        let store = &vector_store(db);
        let now = at(BASE + 1_000 * HOUR);
        // Long-term memories created at BASE + n hours, updated at BASE + 2n hours.
        let memories: Vec<NewMemory> = (0..30u128)
            .map(|n| {
                let n64 = n as i64;
                NewMemory::new("u", "long content here")
                    .id(id(n))
                    .tier("long_term")
                    .at(at(BASE + n64 * HOUR), at(BASE + 2 * n64 * HOUR))
            })
            .chain((100..110u128).map(|n| {
                NewMemory::new("u", "short")
                    .id(id(n))
                    .at(at(BASE), at(BASE))
                    .expires_at(if n % 2 == 0 {
                        at(BASE + HOUR)
                    } else {
                        Timestamp::MAX
                    })
            }))
            .collect();
        store.insert_many(memories).unwrap();
        let policies = [
            // Created more than 990 hours before now: n < 10.
            TierPolicy::new("long_term")
                .delete_after(Duration::from_secs(990 * 3_600), AgeOf::Created),
            // Updated more than 960 hours before now: 2n < 40, of those left n 10..=19;
            // then the rest trimmed (in the same transaction, after the delete).
            TierPolicy::new("long_term")
                .delete_after(Duration::from_secs(960 * 3_600), AgeOf::Updated)
                .max_content_chars(4),
            // Moves only the live short-term memories (the odd ones).
            TierPolicy::new("short_term").expire_after(Duration::from_secs(3_600), "mid_term"),
        ];
        let report = store.run_policies_at(&policies, now).unwrap();
        let steps: Vec<(&str, &PolicyAction, u64)> = report
            .steps
            .iter()
            .map(|s| (s.tier.as_str(), &s.action, s.rows))
            .collect();
        assert_eq!(
            steps,
            [
                (
                    "long_term",
                    &PolicyAction::Deleted { by: AgeOf::Created },
                    10
                ),
                (
                    "long_term",
                    &PolicyAction::Deleted { by: AgeOf::Updated },
                    10
                ),
                ("long_term", &PolicyAction::Trimmed { max_chars: 4 }, 10),
                (
                    "short_term",
                    &PolicyAction::Moved {
                        to: "mid_term".into()
                    },
                    5
                ),
            ]
        );
        let long = store
            .query(
                MemoryQuery::new()
                    .tier("long_term")
                    .order(Order::CreatedAsc),
            )
            .unwrap();
        assert_eq!(ids(&long), (20..30).map(id).collect::<Vec<_>>());
        assert!(long.iter().all(|m| m.content == "long"));
        let moved = store.query(MemoryQuery::new().tier("mid_term")).unwrap();
        assert_eq!(moved.len(), 5);
        let expired_left = store
            .query(MemoryQuery::new().include_expired().tier("short_term"))
            .unwrap();
        assert_eq!(
            expired_left.len(),
            5,
            "expired memories are neither moved nor deleted"
        );
    }

    pub fn expiry_is_set_cleared_and_carried_by_export_and_import(db: &TestDb) {
        let store = &vector_store(db);
        let before = Timestamp::now();
        let stored = store
            .insert(
                NewMemory::new("u", "m")
                    .id(id(1))
                    .ttl(Duration::from_secs(60)),
            )
            .unwrap();
        let after = Timestamp::now();
        let expiry = stored.expires_at.expect("a ttl sets an expiry");
        assert!(
            before.saturating_add(Duration::from_secs(60)) <= expiry
                && expiry <= after.saturating_add(Duration::from_secs(60)),
            "{expiry} is 60 s after the insert"
        );
        assert_eq!(store.get(id(1)).unwrap().unwrap().expires_at, Some(expiry));

        let later = at(Timestamp::now().as_micros() + 10 * HOUR + 123_457);
        let updated = store
            .update(id(1), MemoryUpdate::default().expires_at(later))
            .unwrap();
        assert_eq!(updated.expires_at, Some(later), "microseconds kept");
        let content_only = store
            .update(id(1), MemoryUpdate::default().content("n"))
            .unwrap();
        assert_eq!(content_only.expires_at, Some(later), "left as it was");
        let cleared = store
            .update(id(1), MemoryUpdate::default().never_expire())
            .unwrap();
        assert_eq!(cleared.expires_at, None);
        let renewed = store
            .update(
                id(1),
                MemoryUpdate::default().ttl(Duration::from_secs(3_600)),
            )
            .unwrap();
        assert!(renewed.expires_at.unwrap() > Timestamp::now());

        // An expired memory's export carries its expiry; its import stores it expired.
        store
            .insert(NewMemory::new("u", "old").id(id(2)).expires_at(at(BASE)))
            .unwrap();
        let mut exported = Vec::new();
        store
            .export(
                MemoryQuery::new()
                    .include_expired()
                    .order(Order::CreatedAsc),
                |memory| {
                    exported.push(memory);
                    Ok::<(), Error>(())
                },
            )
            .unwrap();
        assert_eq!(exported[1].expires_at, Some(at(BASE)));
        let line = serde_json::to_value(&exported[1]).unwrap();
        assert_eq!(line["expires_at"], "2026-01-01T00:00:00.000000Z");
        assert!(store.delete(id(1)).unwrap());
        assert!(!store.delete(id(2)).unwrap());
        let back: Vec<NewMemory> = exported.into_iter().map(NewMemory::from).collect();
        assert_eq!(store.import(back.clone()).unwrap(), 2);
        assert_eq!(store.get(id(2)).unwrap(), None);
        let reimported = store
            .query(
                MemoryQuery::new()
                    .include_expired()
                    .order(Order::CreatedAsc),
            )
            .unwrap();
        assert_eq!(reimported[1].expires_at, Some(at(BASE)));
        assert_eq!(reimported[0].expires_at, renewed.expires_at);
        assert_eq!(
            store.import(back).unwrap(),
            0,
            "an expired id is still stored"
        );
    }

    pub fn bad_expiry_input_is_an_invalid_input_error(db: &TestDb) {
        let store = &vector_store(db);
        let both = NewMemory::new("u", "m")
            .expires_at(at(BASE))
            .ttl(Duration::from_secs(1));
        let err = store.insert(both).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("ttl_secs"), "{err}");
        let out_of_range = NewMemory::new("u", "m").expires_at(at(i64::MAX));
        let err = store.insert_many(vec![out_of_range]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("memory #1"), "{err}");
        let stored = store.insert(NewMemory::new("u", "m").id(id(1))).unwrap();
        let mut clash = MemoryUpdate::default().never_expire();
        clash.ttl_secs = Some(5);
        let err = store.update(stored.id, clash).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        // A time to live too long for the calendar ends at its last moment.
        let forever = store
            .insert(NewMemory::new("u", "m").ttl(Duration::from_secs(u64::MAX)))
            .unwrap();
        assert_eq!(forever.expires_at, Some(Timestamp::MAX));
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 2);
    }

    /// A database migrated by an older engram (up to 0004) is named as a schema that is not
    /// ready, with the fix, not reported as a failing statement.
    pub fn a_schema_from_before_expiry_is_a_schema_error(db: &TestDb) {
        let store = unmigrated_store(db);
        store.with_migrator(|m| m.up(Some(4))).unwrap();
        let insert = store.insert(NewMemory::new("u", "m")).unwrap_err();
        let query = store.query(MemoryQuery::new()).unwrap_err();
        for err in [insert, query] {
            assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
            assert!(err.to_string().contains("init-db"), "{err}");
        }
        store.migrate().unwrap();
        store.insert(NewMemory::new("u", "m")).unwrap();
    }

    fn kinds(store: &Store, n: u128) -> Vec<EventKind> {
        store
            .history(id(n))
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect()
    }

    pub fn history_lists_every_change_oldest_first(db: &TestDb) {
        let store = &vector_store(db);
        let agent = store.with_actor("agent-7").unwrap();
        let old = at(BASE);
        let memory = NewMemory::new("alice", "prefers green tea with honey")
            .id(id(1))
            .metadata(json!({"topic": "food"}))
            .embedding(Embedding::new(vec![1.0, 0.0, 0.5]).unwrap())
            .at(old, old);
        agent.insert(memory).unwrap();
        store
            .update(
                id(1),
                MemoryUpdate::default()
                    .metadata(json!({"topic": "drinks"}))
                    .score(90)
                    .remove_embedding(),
            )
            .unwrap();
        store
            .update(id(1), MemoryUpdate::default().score(90))
            .unwrap();
        // Two days on: moved to mid_term, then trimmed, by one policy run.
        let later = Timestamp::now().saturating_add(Duration::from_secs(2 * 86_400));
        let policies = [
            TierPolicy::new("short_term").expire_after(Duration::from_secs(86_400), "mid_term"),
            TierPolicy::new("mid_term").max_content_chars(8),
        ];
        agent.run_policies_at(&policies, later).unwrap();
        assert!(agent.delete(id(1)).unwrap());
        // Memory 2: imported (twice: the second adds nothing), expired and swept.
        let expiring = NewMemory::new("bob", "m")
            .id(id(2))
            .expires_at(at(BASE + HOUR));
        assert_eq!(
            store
                .import(vec![expiring.clone(), NewMemory::new("bob", "n").id(id(3))])
                .unwrap(),
            2
        );
        assert_eq!(store.import(vec![expiring]).unwrap(), 0);
        assert_eq!(agent.sweep(10).unwrap().deleted, 1);
        // Memory 3: deleted by retention.
        let retention = TierPolicy::new("short_term").delete_after(Duration::ZERO, AgeOf::Created);
        store.run_policies_at(&[retention], later).unwrap();

        let events = store.history(id(1)).unwrap();
        assert_eq!(
            kinds(store, 1),
            [
                EventKind::Insert,
                EventKind::Update,
                EventKind::Update,
                EventKind::Move,
                EventKind::Trim,
                EventKind::Delete
            ]
        );
        assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        let actors: Vec<Option<&str>> = events.iter().map(|e| e.actor.as_deref()).collect();
        let agent7 = Some("agent-7");
        assert_eq!(actors, [agent7, None, None, agent7, agent7, agent7]);
        let insert = &events[0].changes;
        assert_eq!(
            insert["content"],
            json!({"before": null, "after": "prefers green tea with honey"})
        );
        assert_eq!(insert["embedding"], json!({"before": null, "after": 3}));
        assert_eq!(insert["created_at"]["after"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(insert.as_object().unwrap().len(), 13, "{insert}");
        assert_eq!(
            events[1].changes,
            json!({
                "metadata": {"before": {"topic": "food"}, "after": {"topic": "drinks"}},
                "score": {"before": 50, "after": 90},
                "embedding": {"before": 3, "after": null},
            })
        );
        assert_eq!(
            events[2].changes,
            json!({}),
            "an update that changed nothing"
        );
        assert_eq!(
            events[3].changes,
            json!({"tier": {"before": "short_term", "after": "mid_term"}})
        );
        assert_eq!(
            events[4].changes,
            json!({"content": {"before": "prefers green tea with honey", "after": "prefers "}})
        );
        assert_eq!(events[3].at, later);
        assert_eq!(events[5].changes, json!({}));
        assert!(events[1].at >= events[0].at && events[5].at <= Timestamp::now());

        assert_eq!(kinds(store, 2), [EventKind::Insert, EventKind::Expire]);
        assert_eq!(kinds(store, 3), [EventKind::Insert, EventKind::Retention]);
        assert_eq!(
            store.history(id(2)).unwrap()[1].actor.as_deref(),
            Some("agent-7")
        );
        assert!(store.history(id(99)).unwrap().is_empty());
        let err = store.with_actor("").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }

    pub fn history_can_be_off_and_pruned(db: &TestDb) {
        let store = &migrated_store(db);
        let quiet = Store::builder(db.dsn()).history(false).open().unwrap();
        quiet.insert(NewMemory::new("u", "m").id(id(1))).unwrap();
        quiet
            .insert_many(vec![
                NewMemory::new("u", "m").id(id(2)),
                NewMemory::new("u", "m").id(id(3)),
            ])
            .unwrap();
        quiet
            .update(id(1), MemoryUpdate::default().score(1))
            .unwrap();
        quiet.delete(id(2)).unwrap();
        assert!(kinds(store, 1).is_empty() && kinds(store, 2).is_empty());
        // The same store with history: only what it did is recorded.
        store
            .update(id(1), MemoryUpdate::default().score(2))
            .unwrap();
        assert_eq!(kinds(store, 1), [EventKind::Update]);

        store
            .insert_many(
                (10..20)
                    .map(|n| NewMemory::new("u", "m").id(id(n)))
                    .collect(),
            )
            .unwrap();
        let cut = Timestamp::now();
        store.delete(id(10)).unwrap();
        // Events before the cut go: the update of 1 and the inserts of 10..20.
        assert_eq!(store.prune_history(cut).unwrap(), 11);
        assert_eq!(kinds(store, 10), [EventKind::Delete]);
        assert!(kinds(store, 11).is_empty());
        assert_eq!(store.prune_history(cut).unwrap(), 0);
    }
}
