//! The conformance cases of the health report, run on both backends (what it measures, what
//! it flags), and one test that holds the two backends' reports to the same keys.

engram_testkit::cross_backend!(cases::{
    health_measures_the_store,
    health_names_what_needs_attention,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use std::time::Duration;

    use engram::{Expired, Namespace, NewMemory, RelationKind, Store, Timestamp};
    use engram_testkit::{BackendKind, TestDb};

    use crate::common::{migrated_store, unmigrated_store};

    /// A time `ago` before now.
    fn ago(ago: Duration) -> Timestamp {
        Timestamp::from_micros(Timestamp::now().as_micros() - ago.as_micros() as i64)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// Three live memories, two expired an hour ago and one expired two days ago; an item
    /// that expired as it was put.
    pub(super) fn store_with_expired_memories(db: &TestDb) -> Store {
        let store = migrated_store(db);
        for n in 0..3 {
            store
                .insert(NewMemory::new("alice", format!("live {n}")))
                .unwrap();
        }
        for n in 0..2 {
            store
                .insert(NewMemory::new("alice", format!("gone {n}")).expires_at(ago(HOUR)))
                .unwrap();
        }
        store
            .insert(NewMemory::new("alice", "long gone").expires_at(ago(48 * HOUR)))
            .unwrap();
        let sessions = Namespace::new(["sessions"]).unwrap();
        store
            .put_item(
                &sessions,
                "gone",
                serde_json::json!({}),
                Some(Duration::ZERO),
            )
            .unwrap();
        store
    }

    pub fn health_measures_the_store(db: &TestDb) {
        let store = store_with_expired_memories(db);
        let health = store.health().unwrap();
        let latest = store.migrations().head();
        assert_eq!(health.backend, db.kind());
        assert_eq!(health.migrations.current, latest);
        assert_eq!(Some(health.migrations.latest), latest);
        assert!(health.migrations.pending.is_empty(), "{health:?}");
        let expired = |unswept, overdue| Some(Expired { unswept, overdue });
        assert_eq!(health.expired_memories, expired(3, 1));
        assert_eq!(health.expired_items, expired(1, 0));
        let index = health.containment_index.unwrap();
        assert!(index.is_sound() && index.queued == 0, "{index:?}");
        assert!(health.storage.integrity.problems.is_empty(), "{health:?}");
        assert!(!health.storage.integrity.checks.is_empty());
        assert!(health.storage.database_bytes > 0);

        let relation = |name: &str| {
            health
                .storage
                .relations
                .iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("{name} in {:?}", health.storage.relations))
        };
        let memories = relation("memories");
        assert_eq!(
            (memories.kind, memories.table.as_str()),
            (RelationKind::Table, "memories")
        );
        assert!(memories.bytes > 0);
        let expiry = relation("memories_expires_idx");
        assert_eq!(
            (expiry.kind, expiry.table.as_str()),
            (RelationKind::Index, "memories")
        );
        let indexes_of_memories: u64 = health
            .storage
            .relations
            .iter()
            .filter(|r| r.kind == RelationKind::Index && r.table == "memories")
            .map(|r| r.bytes)
            .sum();
        assert!(memories.total_bytes >= memories.bytes + indexes_of_memories);
        for table in [
            "memory_clusters",
            "memory_history",
            "engram_schema_migrations",
        ] {
            assert_eq!(relation(table).kind, RelationKind::Table);
        }
        // Tables first, then indexes, each by name.
        let order: Vec<_> = health
            .storage
            .relations
            .iter()
            .map(|r| (r.kind, r.name.clone()))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);

        match db.kind() {
            BackendKind::Sqlite => {
                assert!(!health.storage.index_usage_tracked);
                assert!(health.storage.unused_indexes.is_empty());
                assert!(expiry.scans.is_none());
                assert_eq!(health.storage.integrity.checks, ["quick_check"]);
                assert!(health.storage.wal_bytes.is_some());
            }
            BackendKind::Postgres => {
                assert!(health.storage.index_usage_tracked);
                assert!(expiry.scans.is_some());
                assert_eq!(health.storage.wal_bytes, None);
                // The primary key enforces a constraint: never listed as unused.
                assert!(!health
                    .storage
                    .unused_indexes
                    .iter()
                    .any(|name| name == "memories_pkey"));
                assert_eq!(health.storage.integrity.checks, ["valid_indexes"]);
                // With amcheck installed every B-tree index is checked too.
                let mut conn = db.connect();
                let engram_testkit::TestConnection::Postgres(client) = &mut conn else {
                    unreachable!()
                };
                match client.batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck") {
                    Ok(()) => {
                        let checked = store.health().unwrap().storage.integrity;
                        assert_eq!(checked.checks, ["valid_indexes", "amcheck"]);
                        assert!(checked.problems.is_empty(), "{checked:?}");
                    }
                    Err(e) => eprintln!("amcheck is not available on this server ({e})"),
                }
            }
        }
        // The only finding: the memory expired two days ago.
        assert_eq!(health.attention.len(), 1, "{:?}", health.attention);
        assert!(
            health.attention[0].starts_with("sweep overdue: 1 memory"),
            "{:?}",
            health.attention
        );
        // An item expired two days ago is overdue too.
        db.execute(match db.kind() {
            BackendKind::Sqlite => "UPDATE items SET expires_at = expires_at - 172800000000",
            BackendKind::Postgres => "UPDATE items SET expires_at = expires_at - interval '2 days'",
        });
        let items_too = store.health().unwrap();
        assert_eq!(items_too.expired_items, expired(1, 1));
        assert_eq!(items_too.attention.len(), 2, "{:?}", items_too.attention);
        assert!(items_too.attention[1].starts_with("sweep overdue: 1 item expired"));
        store.sweep(100).unwrap();
        store.sweep_items(100).unwrap();
        let swept = store.health().unwrap();
        assert_eq!(swept.expired_memories, expired(0, 0));
        assert_eq!(swept.expired_items, expired(0, 0));
        assert!(swept.is_healthy(), "{:?}", swept.attention);
    }

    pub fn health_names_what_needs_attention(db: &TestDb) {
        let store = unmigrated_store(db);
        let fresh = store.health().unwrap();
        let all: Vec<u32> = store
            .migrations()
            .migrations()
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(fresh.migrations.current, None);
        assert_eq!(fresh.migrations.pending, all);
        assert_eq!(
            (fresh.containment_index, fresh.expired_memories),
            (None, None)
        );
        assert_eq!(fresh.attention.len(), 1, "{:?}", fresh.attention);
        assert!(fresh.attention[0].starts_with("migrations pending: 1, 2"));

        // Halfway: the counts the older schema cannot answer are unknown.
        store.with_migrator(|m| m.up(Some(4))).unwrap();
        let halfway = store.health().unwrap();
        assert_eq!(halfway.migrations.current, Some(4));
        let after_4: Vec<u32> = all.iter().copied().filter(|v| *v > 4).collect();
        assert_eq!(halfway.migrations.pending, after_4);
        assert_eq!(halfway.expired_memories, None);
        store.migrate().unwrap();
        store.insert(NewMemory::new("alice", "one")).unwrap();
        store.insert(NewMemory::new("alice", "two")).unwrap();
        assert!(store.health().unwrap().is_healthy());

        // A real integrity problem of each database.
        match db.kind() {
            BackendKind::Sqlite => {
                db.execute("PRAGMA ignore_check_constraints = ON; UPDATE memories SET score = 500;")
            }
            // A concurrent build that fails leaves its index behind, invalid.
            BackendKind::Postgres => {
                let mut conn = db.connect();
                let engram_testkit::TestConnection::Postgres(client) = &mut conn else {
                    unreachable!()
                };
                let failed = client.batch_execute(
                    "CREATE UNIQUE INDEX CONCURRENTLY memories_one_per_user ON memories (user_id)",
                );
                assert!(failed.is_err(), "two memories share the user");
            }
        }
        let broken = store.health().unwrap();
        assert!(!broken.storage.integrity.problems.is_empty(), "{broken:?}");
        assert!(
            broken
                .attention
                .iter()
                .any(|a| a.starts_with("integrity: ")),
            "{:?}",
            broken.attention
        );
    }
}

/// Both backends' reports, as JSON, have the same keys at every level (the values differ:
/// sizes, relation names). The oracle is the other backend's report.
#[test]
fn health_reports_the_same_keys_on_both_backends() {
    use std::collections::BTreeSet;

    use engram_testkit::{BackendKind, TestDb};
    use serde_json::Value;

    /// Every key path of `value` (array elements under `[]`).
    fn key_paths(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let path = format!("{prefix}.{key}");
                    paths.insert(path.clone());
                    key_paths(inner, &path, paths);
                }
            }
            Value::Array(items) => {
                for item in items {
                    key_paths(item, &format!("{prefix}[]"), paths);
                }
            }
            _ => {}
        }
    }
    let keys = |kind: BackendKind| {
        let db = TestDb::new(kind);
        let store = cases::store_with_expired_memories(&db);
        let health = serde_json::to_value(store.health().unwrap()).unwrap();
        let mut paths = BTreeSet::new();
        key_paths(&health, "", &mut paths);
        paths
    };
    let sqlite = keys(BackendKind::Sqlite);
    assert!(sqlite.contains(".relations[].total_bytes"), "{sqlite:?}");
    assert!(sqlite.contains(".containment_index.missing"), "{sqlite:?}");
    assert_eq!(sqlite, keys(BackendKind::Postgres));
}
