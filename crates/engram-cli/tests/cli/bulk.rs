//! Bulk jobs as a user runs them, in real processes: an import killed with SIGKILL midway
//! leaves a sound database that a re-run completes (both backends), and an export taken while
//! another process writes is one consistent snapshot (SQLite).

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use engram_testkit::{BackendKind, TestConnection, TestDb};
use serde_json::{json, Value};

use crate::common::{engram_command, RunEngram};

engram_testkit::cross_backend!(import_killed_midway);

#[test]
fn export_is_a_snapshot_while_another_process_writes() {
    export_snapshot_under_writes(&TestDb::sqlite());
}

/// Lines of the file the killed import reads, and its batch size: the import must still be
/// running when the first batches are in.
const KILLED_LINES: u32 = 100_000;
const KILLED_BATCH: u32 = 100;

fn memory_id(n: u32) -> String {
    format!("01900000-0000-7000-8000-{n:012}")
}

/// `engram --database-url DSN ARGS` started in the background, its output discarded.
fn spawn(db: &TestDb, args: &[&str]) -> Child {
    engram_command(db, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start engram")
}

fn count_memories(conn: &mut TestConnection) -> i64 {
    conn.count("SELECT count(*) FROM memories")
}

/// Waits until the database holds at least `rows` memories (the child still running), or
/// panics after a minute or when the child ends first.
fn wait_for_rows(child: &mut Child, conn: &mut TestConnection, rows: i64, what: &str) {
    let started = Instant::now();
    while count_memories(conn) < rows {
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("{what} ended ({status}) before {rows} memories were stored");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: fewer than {rows} memories after a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ids stored, as lowercase text.
fn stored_ids(conn: &mut TestConnection) -> BTreeSet<String> {
    match conn {
        TestConnection::Sqlite(conn) => {
            let mut statement = conn.prepare("SELECT id FROM memories").expect("prepare");
            let ids = statement
                .query_map([], |row| row.get::<_, String>(0))
                .expect("query")
                .map(|id| id.expect("id"))
                .collect();
            ids
        }
        TestConnection::Postgres(client) => client
            .query("SELECT id::text FROM memories", &[])
            .expect("query")
            .iter()
            .map(|row| row.get(0))
            .collect(),
    }
}

/// Checks the database a killed import left: SQLite's own integrity check and engram's
/// index check; on PostgreSQL, one embedding per memory and (when the server has amcheck)
/// every B-tree index of the two tables sound.
fn assert_sound(db: &TestDb, conn: &mut TestConnection) {
    let memories = count_memories(conn);
    let embeddings = conn.count("SELECT count(*) FROM memory_embeddings");
    assert_eq!(embeddings, memories, "every line had an embedding");
    match conn {
        TestConnection::Sqlite(sqlite) => {
            let check: String = sqlite
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .expect("integrity check");
            assert_eq!(check, "ok");
            let store = engram::Store::open(db.dsn()).expect("open the store");
            let index = store.check_index().expect("check the index");
            assert!(index.is_sound() && index.queued == 0, "{index:?}");
        }
        TestConnection::Postgres(client) => {
            if client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck")
                .is_err()
            {
                eprintln!("amcheck is not available on this server: B-tree check skipped");
                return;
            }
            let checked = client
                .query(
                    "SELECT bt_index_check(i.indexrelid, true)::text \
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     JOIN pg_am am ON am.oid = c.relam \
                     WHERE am.amname = 'btree' \
                       AND i.indrelid IN ('memories'::regclass, 'memory_embeddings'::regclass)",
                    &[],
                )
                .expect("amcheck");
            assert!(checked.len() >= 2, "the primary keys at least were checked");
        }
    }
}

/// `engram import` killed with SIGKILL after its first batches committed: the database is
/// sound, holds whole batches only, and a re-run of the same import completes it to exactly
/// the file's ids.
pub fn import_killed_midway(db: &TestDb) {
    db.ok(&["init-db"]);
    let mut text = String::new();
    let mut expected = BTreeSet::new();
    for n in 0..KILLED_LINES {
        let k = n as f32;
        let line = json!({"id": memory_id(n), "user_id": format!("u{}", n % 17),
                          "content": format!("memory {n}"), "metadata": {"n": n, "k": n % 5},
                          "embedding": [k.sin(), k.cos(), 1.0, k / 1e5]});
        text.push_str(&line.to_string());
        text.push('\n');
        expected.insert(memory_id(n));
    }
    let file = db.path("big.jsonl");
    std::fs::write(&file, text).expect("write");
    let file_arg = file.to_str().expect("path");
    let batch = KILLED_BATCH.to_string();
    let args = ["import", file_arg, "--batch-size", &batch];

    let mut conn = db.connect();
    let mut child = spawn(db, &args);
    wait_for_rows(
        &mut child,
        &mut conn,
        i64::from(KILLED_BATCH) * 5,
        "the import",
    );
    child.kill().expect("SIGKILL the import");
    let status = child.wait().expect("wait for the import");
    assert_eq!(status.signal(), Some(9), "killed, not finished: {status}");

    let partial = count_memories(&mut conn);
    assert!(partial < i64::from(KILLED_LINES), "the kill came midway");
    assert_eq!(
        partial % i64::from(KILLED_BATCH),
        0,
        "{partial} memories: whole batches only"
    );
    assert_sound(db, &mut conn);
    let before_rerun = stored_ids(&mut conn);
    assert!(before_rerun.is_subset(&expected));

    let out = db.ok(&args);
    assert!(
        out.contains(&format!(
            "{KILLED_LINES} memories read, {} inserted, {partial} skipped",
            i64::from(KILLED_LINES) - partial
        )),
        "{out}"
    );
    assert_eq!(stored_ids(&mut conn), expected, "exactly the file's ids");
    assert_sound(db, &mut conn);
}

/// Memories that are there throughout the snapshot test.
const BASE_ROWS: u32 = 20_000;
/// Pairs the writer may insert (it is stopped once the exports are done).
const PAIRS: u32 = 100_000;

/// `engram export` runs while another process inserts memories in pairs, one transaction per
/// pair: one of the pair updated before every other memory, one after. An export that read
/// page by page (as export did before it read one snapshot) meets the second of a pair
/// committed after it passed the first; a snapshot sees both or neither.
fn export_snapshot_under_writes(db: &TestDb) {
    assert_eq!(db.kind(), BackendKind::Sqlite);
    db.ok(&["init-db"]);
    let mut base = String::new();
    for n in 0..BASE_ROWS {
        let at = format!(
            "2026-06-01T00:00:{:02}.{:06}Z",
            n / 1_000_000,
            n % 1_000_000
        );
        let line = json!({"id": memory_id(n), "user_id": "base", "content": format!("m {n}"),
                          "created_at": at, "updated_at": at});
        base.push_str(&line.to_string());
        base.push('\n');
    }
    let base_file = db.path("base.jsonl");
    std::fs::write(&base_file, base).expect("write");
    db.ok(&["import", base_file.to_str().expect("path")]);

    let mut pairs = String::new();
    for k in 0..PAIRS {
        let (early, late) = (
            format!("2000-01-01T00:00:00.{k:06}Z"),
            format!("2100-01-01T00:00:00.{k:06}Z"),
        );
        for (side, at) in [("a", early), ("b", late)] {
            let line = json!({"user_id": "pairs", "content": format!("{side} {k}"),
                              "metadata": {"pair": k, "side": side},
                              "created_at": at, "updated_at": at});
            pairs.push_str(&line.to_string());
            pairs.push('\n');
        }
    }
    let pairs_file = db.path("pairs.jsonl");
    std::fs::write(&pairs_file, pairs).expect("write");

    let mut conn = db.connect();
    let mut writer = spawn(
        db,
        &[
            "import",
            pairs_file.to_str().expect("path"),
            "--batch-size",
            "2",
        ],
    );
    wait_for_rows(
        &mut writer,
        &mut conn,
        i64::from(BASE_ROWS) + 20,
        "the writer",
    );
    let mut seen_pairs = Vec::new();
    for round in 0..4 {
        let exported = db.ok(&["export"]);
        let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
        let mut base_rows = 0;
        for line in exported.lines() {
            let memory: Value = serde_json::from_str(line).expect("a JSON line");
            match memory["metadata"]["side"].as_str() {
                Some("a") => a.insert(memory["metadata"]["pair"].as_u64().expect("pair")),
                Some("b") => b.insert(memory["metadata"]["pair"].as_u64().expect("pair")),
                _ => {
                    base_rows += 1;
                    true
                }
            };
        }
        assert_eq!(base_rows, BASE_ROWS, "export {round}");
        let unmatched: Vec<_> = a.symmetric_difference(&b).take(5).collect();
        assert!(
            unmatched.is_empty(),
            "export {round} saw {} pairs' first and {} pairs' second memory (pairs {unmatched:?} \
             are half there): not a state any commit produced",
            a.len(),
            b.len()
        );
        seen_pairs.push(a.len());
    }
    let still_writing = writer.try_wait().expect("poll the writer").is_none();
    writer.kill().expect("stop the writer");
    writer.wait().expect("wait for the writer");
    assert!(
        still_writing,
        "the writer ran through every export (else they did not overlap writes)"
    );
    assert!(
        seen_pairs.windows(2).all(|w| w[0] < w[1]),
        "each export saw more pairs than the one before: {seen_pairs:?}"
    );
}
