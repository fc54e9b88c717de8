//! The conformance cases of items (the namespaced key-value store), run on both backends:
//! put, get and delete; searches by namespace prefix and value filter, in order and paged;
//! namespace listings; expiry, reads that refresh it, and sweeps; bad input; a schema from
//! before items.

engram_testkit::cross_backend!(cases::{
    put_get_and_delete_items,
    searches_select_by_prefix_and_filter_newest_first,
    namespaces_list_with_wildcards_depth_and_pages,
    expired_items_are_never_read,
    reads_that_refresh_move_the_expiry,
    bad_items_are_invalid_input,
    a_schema_from_before_items_is_a_schema_error,
});

mod cases {
    // A case that is not listed above is never called: make that a build error.
    #![deny(dead_code)]

    use std::time::Duration;

    use engram::{ErrorKind, Filter, ItemSearch, Namespace, NamespaceQuery, Store, Timestamp};
    use engram_testkit::TestDb;
    use serde_json::{json, Value};

    use crate::common::{migrated_store, unmigrated_store};

    fn ns(labels: &[&str]) -> Namespace {
        Namespace::new(labels.iter().copied()).unwrap()
    }

    fn keys(store: &Store, search: ItemSearch) -> Vec<String> {
        store
            .search_items(search)
            .unwrap()
            .into_iter()
            .map(|item| format!("{}/{}", item.namespace.joined(), item.key))
            .collect()
    }

    pub fn put_get_and_delete_items(db: &TestDb) {
        let store = migrated_store(db);
        let alice = ns(&["users", "alice"]);
        let first = store
            .put_item(&alice, "diet", json!({"likes": "tea", "n": 1.50}), None)
            .unwrap();
        assert_eq!(first.namespace, alice);
        assert_eq!(first.value, json!({"likes": "tea", "n": 1.50}));
        assert_eq!(first.created_at, first.updated_at);
        assert_eq!(first.expires_at, None);
        assert_eq!(store.get_item(&alice, "diet").unwrap(), Some(first.clone()));

        std::thread::sleep(Duration::from_millis(2));
        let second = store
            .put_item(&alice, "diet", json!({"likes": "coffee"}), None)
            .unwrap();
        assert_eq!(second.created_at, first.created_at, "created_at is kept");
        assert!(second.updated_at > first.updated_at);
        assert_eq!(second.value, json!({"likes": "coffee"}));

        assert_eq!(store.get_item(&alice, "other").unwrap(), None);
        assert_eq!(store.get_item(&ns(&["users"]), "diet").unwrap(), None);
        assert!(store.delete_item(&alice, "diet").unwrap());
        assert!(!store.delete_item(&alice, "diet").unwrap());
        assert_eq!(store.get_item(&alice, "diet").unwrap(), None);
    }

    pub fn searches_select_by_prefix_and_filter_newest_first(db: &TestDb) {
        let store = migrated_store(db);
        // Put in this order: newest last.
        let items: [(&[&str], &str, Value); 6] = [
            (&["a", "b"], "k1", json!({"n": 10, "tier": "gold"})),
            (&["a", "b", "c"], "k2", json!({"n": 9, "tier": "silver"})),
            (&["a", "bc"], "k3", json!({"n": 11})),
            (&["a", "b-x"], "k4", json!({"n": 12})),
            (&["a", "b"], "k5", json!({"n": "10", "tier": "gold"})),
            (&["z"], "k6", json!({"n": 12345678901234567891u64})),
        ];
        for (labels, key, value) in items {
            store.put_item(&ns(labels), key, value, None).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let all = ItemSearch::new(Vec::<String>::new()).page(100, 0);
        assert_eq!(
            keys(&store, all.clone()),
            ["z/k6", "a.b/k5", "a.b-x/k4", "a.bc/k3", "a.b.c/k2", "a.b/k1"]
        );
        // A prefix is whole labels: a.b holds a.b and a.b.c, not a.bc or a.b-x.
        assert_eq!(
            keys(&store, ItemSearch::new(["a", "b"])),
            ["a.b/k5", "a.b.c/k2", "a.b/k1"]
        );
        let filter = |f: Value| Filter::parse(&f, "filter").unwrap();
        assert_eq!(
            keys(&store, all.clone().filter(filter(json!({"n": {"$gt": 9}})))),
            ["z/k6", "a.b-x/k4", "a.bc/k3", "a.b/k1"]
        );
        assert_eq!(
            keys(
                &store,
                ItemSearch::new(["a"]).filter(filter(json!({"tier": "gold"})))
            ),
            ["a.b/k5", "a.b/k1"]
        );
        assert_eq!(
            keys(
                &store,
                all.clone()
                    .filter(filter(json!({"n": {"$gt": 12345678901234567890u64}})))
            ),
            ["z/k6"]
        );
        // Pages tile the result; the default page is 10.
        assert_eq!(keys(&store, all.clone().page(2, 1)), ["a.b/k5", "a.b-x/k4"]);
        assert_eq!(keys(&store, all.page(2, 5)), ["a.b/k1"]);
        assert_eq!(ItemSearch::new(["a"]).limit, 10);
    }

    pub fn namespaces_list_with_wildcards_depth_and_pages(db: &TestDb) {
        let store = migrated_store(db);
        for labels in [
            &["a", "b", "c"][..],
            &["a", "x", "c"],
            &["a", "b"],
            &["b", "c"],
            &["z"],
        ] {
            store.put_item(&ns(labels), "k", json!({}), None).unwrap();
        }
        let list = |query: NamespaceQuery| -> Vec<String> {
            store
                .list_namespaces(query)
                .unwrap()
                .iter()
                .map(Namespace::joined)
                .collect()
        };
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            list(NamespaceQuery::default()),
            ["a.b", "a.b.c", "a.x.c", "b.c", "z"]
        );
        assert_eq!(
            list(NamespaceQuery {
                prefix: labels(&["a"]),
                ..Default::default()
            }),
            ["a.b", "a.b.c", "a.x.c"]
        );
        assert_eq!(
            list(NamespaceQuery {
                prefix: labels(&["a", "*"]),
                suffix: labels(&["c"]),
                ..Default::default()
            }),
            ["a.b.c", "a.x.c"]
        );
        assert_eq!(
            list(NamespaceQuery {
                max_depth: Some(1),
                ..Default::default()
            }),
            ["a", "b", "z"]
        );
        assert_eq!(
            list(NamespaceQuery {
                limit: Some(2),
                offset: 1,
                ..Default::default()
            }),
            ["a.b.c", "a.x.c"]
        );
    }

    pub fn expired_items_are_never_read(db: &TestDb) {
        let store = migrated_store(db);
        let gone = ns(&["tmp"]);
        let expired = store
            .put_item(&gone, "k", json!({"n": 1}), Some(Duration::ZERO))
            .unwrap();
        assert!(expired.expires_at.is_some());
        assert_eq!(store.get_item(&gone, "k").unwrap(), None);
        assert!(keys(&store, ItemSearch::new(["tmp"])).is_empty());
        assert!(store
            .list_namespaces(NamespaceQuery::default())
            .unwrap()
            .is_empty());
        assert!(
            !store.delete_item(&gone, "k").unwrap(),
            "not there for a reader"
        );

        let lasting = store
            .put_item(&gone, "k", json!({"n": 2}), Some(Duration::from_secs(3600)))
            .unwrap();
        store
            .put_item(&gone, "j", json!({"n": 1}), Some(Duration::ZERO))
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let renewed = store.put_item(&gone, "j", json!({"n": 3}), None).unwrap();
        assert!(
            renewed.created_at > lasting.created_at,
            "an expired item put again is new"
        );
        assert_eq!(keys(&store, ItemSearch::new(["tmp"])), ["tmp/j", "tmp/k"]);
        assert_eq!(lasting.ttl, Some(Duration::from_secs(3600)));
        assert_eq!(renewed.ttl, None);

        // Sweeps delete the expired items in batches, and only them.
        for key in ["x", "y", "z"] {
            store
                .put_item(&ns(&["old"]), key, json!({}), Some(Duration::ZERO))
                .unwrap();
        }
        let sweep = store.sweep_items(2).unwrap();
        assert_eq!((sweep.deleted, sweep.batches), (3, 2));
        assert_eq!(store.sweep_items(2).unwrap().deleted, 0);
        assert_eq!(keys(&store, ItemSearch::new(["tmp"])), ["tmp/j", "tmp/k"]);
    }

    pub fn reads_that_refresh_move_the_expiry(db: &TestDb) {
        let store = migrated_store(db);
        let space = ns(&["session"]);
        let hour = Duration::from_secs(3600);
        let put = store
            .put_item(&space, "k", json!({"n": 1}), Some(hour))
            .unwrap();
        store.put_item(&space, "forever", json!({}), None).unwrap();
        std::thread::sleep(Duration::from_millis(5));

        // A plain read leaves the expiry where it was.
        let plain = store.get_item(&space, "k").unwrap().unwrap();
        assert_eq!(plain.expires_at, put.expires_at);
        let before = Timestamp::now();
        let refreshed = store.get_item_refreshing(&space, "k").unwrap().unwrap();
        let moved = refreshed.expires_at.unwrap();
        assert!(
            moved >= before.saturating_add(hour),
            "{moved} after {before}"
        );
        assert_eq!(
            store.get_item(&space, "k").unwrap().unwrap().expires_at,
            Some(moved)
        );
        let forever = store
            .get_item_refreshing(&space, "forever")
            .unwrap()
            .unwrap();
        assert_eq!(forever.expires_at, None);
        assert_eq!(store.get_item_refreshing(&space, "missing").unwrap(), None);

        std::thread::sleep(Duration::from_millis(5));
        let before = Timestamp::now();
        let found = store
            .search_items(ItemSearch::new(["session"]).refreshing())
            .unwrap();
        assert_eq!(found.len(), 2);
        let k = found.iter().find(|item| item.key == "k").unwrap();
        assert!(k.expires_at.unwrap() >= before.saturating_add(hour));
        assert!(k.expires_at.unwrap() > moved);
        assert_eq!(
            store.get_item(&space, "k").unwrap().unwrap().expires_at,
            k.expires_at
        );
        let plain = store.search_items(ItemSearch::new(["session"])).unwrap();
        assert_eq!(plain, found, "a plain search changes nothing");
    }

    pub fn a_schema_from_before_items_is_a_schema_error(db: &TestDb) {
        let store = unmigrated_store(db);
        store.with_migrator(|m| m.up(Some(6))).unwrap();
        let space = ns(&["a"]);
        let errors = [
            store.put_item(&space, "k", json!({}), None).map(drop),
            store.get_item(&space, "k").map(drop),
            store.search_items(ItemSearch::new(["a"])).map(drop),
            store.list_namespaces(NamespaceQuery::default()).map(drop),
            store.sweep_items(10).map(drop),
        ];
        for err in errors.into_iter().map(Result::unwrap_err) {
            assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
            assert!(err.to_string().contains("init-db"), "{err}");
        }
        store.migrate().unwrap();
        store.put_item(&space, "k", json!({}), None).unwrap();
    }

    pub fn bad_items_are_invalid_input(db: &TestDb) {
        let store = migrated_store(db);
        let alice = ns(&["users", "alice"]);
        let invalid = |result: engram::Result<()>| {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            err.to_string()
        };
        let msg = invalid(store.put_item(&alice, "k", json!([1]), None).map(drop));
        assert!(msg.contains("value"), "{msg}");
        let msg = invalid(store.put_item(&alice, "", json!({}), None).map(drop));
        assert!(msg.contains("key"), "{msg}");
        // PostgreSQL cannot store NUL: refused on both, before either database sees it.
        let msg = invalid(store.put_item(&alice, "a\0b", json!({}), None).map(drop));
        assert!(msg.contains("NUL"), "{msg}");
        let msg = invalid(
            store
                .put_item(&alice, "k", json!({"s": "a\u{0}"}), None)
                .map(drop),
        );
        assert!(msg.contains("NUL"), "{msg}");
        assert!(Namespace::new(["a.b"]).is_err());
        assert!(Namespace::new(Vec::<String>::new()).is_err());
        let msg = invalid(store.search_items(ItemSearch::new(["a", ""])).map(drop));
        assert!(msg.contains("prefix"), "{msg}");
        let msg = invalid(
            store
                .list_namespaces(NamespaceQuery {
                    max_depth: Some(0),
                    ..Default::default()
                })
                .map(drop),
        );
        assert!(msg.contains("max_depth"), "{msg}");
    }
}
