//! SQLite's containment index across its life: built by migration 0003 over memories stored
//! before it, removed by `migrate down`, kept exact through writes of other programs
//! (updates queued by triggers and applied by engram's next write, inserts reported by the
//! check until `update_index`) and through `VACUUM`. What both backends must agree on is in
//! the conformance suite (`index::raw_updates_and_inserts_are_found` there); these cases
//! are about the index itself, which only SQLite has.

// The facade suites' store set-up; these cases need only some of it.
#[allow(dead_code)]
mod common;

use engram::{MemoryQuery, MemoryUpdate, NewMemory, Store};
use engram_testkit::{BackendKind, TestDb};
use serde_json::{json, Value};

/// The index's tables, sorted by name.
const INDEX_TABLES: [&str; 3] = [
    "memory_index_postings",
    "memory_index_queue",
    "memory_index_refs",
];

/// The index's tables the database has, sorted.
fn tables(db: &TestDb) -> Vec<String> {
    let tables = db.connect().tables();
    tables
        .into_iter()
        .filter(|table| table.starts_with("memory_index"))
        .collect()
}

fn count(store: &Store, filter: Value) -> u64 {
    store
        .count(MemoryQuery::new().contains(filter))
        .expect("count")
}

fn ids(store: &Store, query: MemoryQuery) -> Vec<uuid::Uuid> {
    let mut ids: Vec<_> = store
        .query(query)
        .expect("query")
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

fn memory(user: &str, metadata: Value) -> NewMemory {
    NewMemory::new(user, "content").metadata(metadata)
}

#[test]
fn migration_0003_indexes_the_memories_stored_before_it_and_down_removes_it() {
    let db = TestDb::new(BackendKind::Sqlite);
    let store = Store::open(db.dsn()).expect("open");
    store
        .with_migrator(|m| m.up(Some(2)))
        .expect("migrate to 0002");
    // Stored by an engram of that schema (engram itself reads and writes only the head
    // schema): raw INSERTs of the columns 0002 has.
    let insert_raw = |n: u128, metadata: Value| {
        db.execute(&format!(
            "INSERT INTO memories (id, user_id, content, metadata, created_at, updated_at) \
             VALUES ('{}', 'u', 'content', '{metadata}', {n}, {n})",
            uuid::Uuid::from_u128(n)
        ))
    };
    for i in 0..300 {
        insert_raw(i, json!({"n": i % 7, "tags": [format!("t{}", i % 3)]}));
    }
    assert!(tables(&db).is_empty());

    let mut progress = Vec::new();
    store
        .with_migrator(|m| m.up(None))
        .expect("migrate to the head");
    let indexed = store
        .update_index(&mut |applied, queued| progress.push((applied, queued)))
        .expect("update the index");
    assert_eq!(indexed, 300);
    assert_eq!(progress.last(), Some(&(300, 300)));
    assert_eq!(tables(&db), INDEX_TABLES);
    let check = store.check_index().expect("check");
    assert!(check.is_sound() && check.queued == 0, "{check:?}");
    // The oracle: the same rule over the numbers that made the memories.
    let expected = |keep: fn(u64) -> bool| (0..300u64).filter(|&i| keep(i)).count() as u64;
    assert_eq!(count(&store, json!({"n": 3})), expected(|i| i % 7 == 3));
    assert_eq!(
        count(&store, json!({"tags": ["t1"]})),
        expected(|i| i % 3 == 1)
    );
    assert_eq!(
        count(&store, json!({"n": 3, "tags": ["t0"]})),
        expected(|i| i % 7 == 3 && i % 3 == 0)
    );

    store
        .with_migrator(|m| m.down(engram::migrate::DownTarget::To(2)))
        .expect("migrate down to 0002");
    assert!(tables(&db).is_empty(), "down removes every index table");
    insert_raw(1_000, json!({"n": 3}));
    store.migrate().expect("migrate up again (and index)");
    assert_eq!(count(&store, json!({"n": 3})), expected(|i| i % 7 == 3) + 1);
    assert!(store.check_index().expect("check").is_sound());
}

#[test]
fn writes_of_other_programs_keep_answers_exact() {
    let db = TestDb::new(BackendKind::Sqlite);
    let store = common::migrated_store(&db);
    let kept = store
        .insert(memory("u", json!({"k": "a"})))
        .expect("insert");
    let changed = store
        .insert(memory("u", json!({"k": "a"})))
        .expect("insert");
    // An update from another program is queued by a trigger: answers are exact at once.
    db.execute(&format!(
        r#"UPDATE memories SET metadata = '{{"k":"b"}}' WHERE id = '{}'"#,
        changed.id
    ));
    assert_eq!(
        ids(&store, MemoryQuery::new().contains(json!({"k": "a"}))),
        vec![kept.id]
    );
    assert_eq!(count(&store, json!({"k": "b"})), 1);
    let check = store.check_index().expect("check");
    assert!(check.is_sound() && check.queued == 1, "{check:?}");

    // The next write of engram's applies the queue.
    store
        .update(kept.id, MemoryUpdate::default().content("touched"))
        .expect("update");
    let check = store.check_index().expect("check");
    assert!(check.is_sound() && check.queued == 0, "{check:?}");

    // An insert from another program is not indexed until update_index, and the check says so.
    let foreign = uuid::Uuid::now_v7();
    db.execute(&format!(
        r#"INSERT INTO memories (id, user_id, content, metadata, created_at, updated_at)
           VALUES ('{foreign}', 'u', 'from elsewhere', '{{"k":"a"}}', 1, 1)"#
    ));
    assert_eq!(store.check_index().expect("check").missing, 1);
    assert_eq!(store.update_index(&mut |_, _| {}).expect("update index"), 1);
    assert_eq!(
        ids(&store, MemoryQuery::new().contains(json!({"k": "a"}))),
        {
            let mut both = vec![kept.id, foreign];
            both.sort();
            both
        }
    );
    assert!(store.check_index().expect("check").is_sound());

    // VACUUM may renumber the rowids of memories; the index's refs are its own.
    db.execute("VACUUM");
    assert_eq!(count(&store, json!({"k": "a"})), 2);
    assert_eq!(count(&store, json!({"k": "b"})), 1);
    assert!(store.check_index().expect("check").is_sound());
}
