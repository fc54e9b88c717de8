//! The per-backend cases: each one takes a fresh [`TestDb`] and is run on SQLite and on
//! PostgreSQL by the `cross_backend!` list in `main.rs`.

// A case that is not listed in `main.rs` is never called: make that a build error.
#![deny(dead_code)]

use std::process::Stdio;

use engram_testkit::TestDb;
use serde_json::{json, Value};

use crate::common::{engram_command, expect_user_error, id, RunEngram};

/// Four memories with fixed ids and times, one per line (see the query expectations).
///
/// | n | user | namespace | thread | tier | summarized | related | created | updated |
/// |---|---|---|---|---|---|---|---|---|
/// | 1 | alice | default | t1 | short_term | false | r1 | 01-01 | 01-05 |
/// | 2 | alice | work | t2 | mid_term | true | r2, r1 | 01-02 | 01-03 |
/// | 3 | bob | default | t1 | long_term | false | - | 01-03 | 01-04 |
/// | 4 | alice | default | - | short_term | false | - | 01-04 | 01-06 |
pub fn fixture() -> String {
    let day = |d: u32| format!("2025-01-{d:02}T00:00:00.000000Z");
    let lines = [
        json!({"id": id(1), "user_id": "alice", "namespace": "default", "thread_id": "t1",
               "tier": "short_term", "content": "green tea is nice", "score": 10,
               "metadata": {"topic": "food", "tags": ["tea", "green"], "n": 1},
               "related_threads": ["r1"], "summarized": false,
               "created_at": day(1), "updated_at": day(5)}),
        json!({"id": id(2), "user_id": "alice", "namespace": "work", "thread_id": "t2",
               "tier": "mid_term", "content": "quarterly planning notes", "score": 20,
               "metadata": {"topic": "work", "nested": {"a": [1, 2]}},
               "related_threads": ["r2", "r1"], "summarized": true,
               "created_at": day(2), "updated_at": day(3)}),
        json!({"id": id(3), "user_id": "bob", "namespace": "default", "thread_id": "t1",
               "tier": "long_term", "content": "drinks coffee", "score": 30,
               "metadata": {"topic": "food", "tags": ["coffee"]},
               "related_threads": [], "summarized": false,
               "created_at": day(3), "updated_at": day(4)}),
        json!({"id": id(4), "user_id": "alice", "namespace": "default", "thread_id": null,
               "tier": "short_term", "content": "short", "score": 40, "metadata": {},
               "related_threads": [], "summarized": false,
               "created_at": day(4), "updated_at": day(6)}),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A migrated database holding the fixture.
fn seeded(db: &TestDb) {
    db.ok(&["init-db"]);
    let file = db.path("fixture.jsonl");
    std::fs::write(&file, fixture()).expect("write fixture");
    let report = db.ok(&["import", file.to_str().expect("path")]);
    assert!(
        report.contains("4 memories read, 4 inserted, 0 skipped"),
        "{report}"
    );
}

fn ids(numbers: &[u32]) -> Vec<String> {
    numbers.iter().map(|&n| id(n)).collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

pub fn put_get_delete(db: &TestDb) {
    db.ok(&["init-db"]);
    let out = db.ok(&[
        "put",
        "--user",
        "alice",
        "--namespace",
        "work",
        "--thread",
        "t1",
        "--tier",
        "long_term",
        "--score",
        "80",
        "--metadata",
        r#"{"topic":"food","n":1e2,"tags":["tea"]}"#,
        "--related",
        "r1",
        "--related",
        "r2",
        "--content",
        "prefers green tea",
    ]);
    let memory_id = out.trim().to_string();
    assert_eq!(out, format!("{memory_id}\n"), "put prints only the id");
    uuid::Uuid::parse_str(&memory_id).expect("put prints a UUID");

    let fields = db.ok(&["get", &memory_id]);
    for expected in [
        format!("id:              {memory_id}"),
        "user_id:         alice".into(),
        "namespace:       work".into(),
        "thread_id:       t1".into(),
        "tier:            long_term".into(),
        "score:           80".into(),
        "summarized:      false".into(),
        "related_threads: r1, r2".into(),
        r#"metadata:        {"n":100,"tags":["tea"],"topic":"food"}"#.into(),
        "content:         prefers green tea".into(),
    ] {
        assert!(
            fields.lines().any(|l| l == expected),
            "{expected:?} in\n{fields}"
        );
    }

    let json: Value = serde_json::from_str(&db.ok(&["get", &memory_id, "--format", "json"]))
        .expect("get --format json");
    assert_eq!(json["id"], json!(memory_id));
    assert_eq!(
        json["metadata"],
        json!({"topic": "food", "n": 100, "tags": ["tea"]})
    );
    assert_eq!(json["related_threads"], json!(["r1", "r2"]));
    assert_eq!(json["created_at"], json["updated_at"]);
    let jsonl = db.ok(&["get", &memory_id, "--format", "jsonl"]);
    assert_eq!(jsonl.lines().count(), 1);
    assert_eq!(json_lines(&jsonl)[0], json);

    let from_stdin = db.ok_stdin(&["put", "--user", "bob"], "from stdin\n");
    let stdin_id = from_stdin.trim();
    let json: Value =
        serde_json::from_str(&db.ok(&["get", stdin_id, "--format", "json"])).expect("JSON");
    assert_eq!(json["content"], json!("from stdin"));
    assert_eq!(json["namespace"], json!("default"));
    assert_eq!(json["tier"], json!("short_term"));
    assert_eq!(json["score"], json!(50));
    assert_eq!(json["metadata"], json!({}));
    assert_eq!(json["thread_id"], Value::Null);

    assert_eq!(
        db.ok(&["delete", &memory_id]),
        format!("deleted {memory_id}\n")
    );
    let err = db.fail(&["get", &memory_id]);
    assert_eq!(err, format!("error: memory {memory_id} not found"));
    let err = db.fail(&["delete", &memory_id]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(db.ids(&[]), vec![stdin_id.to_string()]);
}

pub fn query_filters(db: &TestDb) {
    seeded(db);
    let cases: &[(&[&str], &[u32])] = &[
        (&[], &[4, 1, 3, 2]),
        (&["--user", "alice"], &[4, 1, 2]),
        (&["--user", "nobody"], &[]),
        (&["--namespace", "work"], &[2]),
        (&["--thread", "t1"], &[1, 3]),
        (&["--tier", "short_term"], &[4, 1]),
        (&["--tier", "short_term", "--tier", "long_term"], &[4, 1, 3]),
        (&["--summarized", "true"], &[2]),
        (&["--summarized", "false"], &[4, 1, 3]),
        (&["--where", r#"{"topic":"food"}"#], &[1, 3]),
        (&["--where", r#"{"tags":["tea"]}"#], &[1]),
        (&["--where", r#"{"nested":{"a":[2]}}"#], &[2]),
        (&["--where", r#"{"n":1.0}"#], &[1]),
        (&["--where", r#"{"tags":"tea"}"#], &[]),
        (&["--where", "{}"], &[4, 1, 3, 2]),
        (&["--related", "r1"], &[1, 2]),
        (&["--related", "r2", "--related", "zzz"], &[2]),
        (&["--created-from", "2025-01-02T00:00:00Z"], &[4, 3, 2]),
        (&["--created-until", "2025-01-03T00:00:00Z"], &[1, 2]),
        (&["--updated-from", "2025-01-05T00:00:00Z"], &[4, 1]),
        (&["--updated-until", "2025-01-04T00:00:00Z"], &[2]),
        (
            &["--user", "alice", "--thread", "t1", "--tier", "short_term"],
            &[1],
        ),
        (&["--order", "updated-desc"], &[4, 1, 3, 2]),
        (&["--order", "updated-asc"], &[2, 3, 1, 4]),
        (&["--order", "created-desc"], &[4, 3, 2, 1]),
        (&["--order", "created-asc"], &[1, 2, 3, 4]),
        (&["--limit", "2"], &[4, 1]),
        (&["--limit", "2", "--offset", "1"], &[1, 3]),
        (&["--offset", "3"], &[2]),
        (
            &[
                "--user",
                "alice",
                "--limit",
                "1",
                "--offset",
                "1",
                "--order",
                "created-asc",
            ],
            &[2],
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(db.ids(args), ids(expected), "query {args:?}");
    }
    assert_eq!(db.ok(&["query", "--user", "alice", "--count"]), "3\n");
    assert_eq!(
        db.ok(&[
            "query",
            "--where",
            r#"{"topic":"food"}"#,
            "--count",
            "--limit",
            "1"
        ]),
        "2\n"
    );
    let count: Value =
        serde_json::from_str(&db.ok(&["query", "--count", "--format", "json"])).expect("JSON");
    assert_eq!(count, json!({"count": 4}));
}

pub fn query_formats(db: &TestDb) {
    seeded(db);
    let table = db.ok(&["query", "--user", "alice"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for column in [
        "id",
        "user",
        "namespace",
        "thread",
        "tier",
        "score",
        "updated",
        "content",
        "metadata",
    ] {
        assert!(
            lines[0].split_whitespace().any(|c| c == column),
            "{column} in {}",
            lines[0]
        );
    }
    assert!(
        lines[1].starts_with(&id(4)) && lines[1].contains("short"),
        "{table}"
    );
    assert!(lines[2].contains("green tea is nice") && lines[2].contains("2025-01-05 00:00:00"));
    assert_eq!(db.ok(&["query", "--user", "nobody"]), "no memories match\n");

    let array: Value =
        serde_json::from_str(&db.ok(&["query", "--format", "json"])).expect("a JSON array");
    let array = array.as_array().expect("array").clone();
    let jsonl = json_lines(&db.ok(&["query", "--format", "jsonl"]));
    assert_eq!(array, jsonl);
    assert_eq!(
        jsonl
            .iter()
            .map(|m| m["id"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>(),
        ids(&[4, 1, 3, 2])
    );
    let first = jsonl[0].as_object().expect("object");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "content",
            "created_at",
            "id",
            "metadata",
            "namespace",
            "related_threads",
            "score",
            "summarized",
            "thread_id",
            "tier",
            "updated_at",
            "user_id"
        ]
    );
    let fixture: Vec<Value> = json_lines(&fixture());
    let by_id = |n: u32| fixture.iter().find(|m| m["id"] == json!(id(n))).cloned();
    assert_eq!(Some(jsonl[1].clone()), by_id(1), "every field round-trips");
    assert_eq!(Some(jsonl[3].clone()), by_id(2));
    assert_eq!(
        db.ok(&["query", "--format", "ids", "--limit", "1"]),
        format!("{}\n", id(4))
    );
    assert_eq!(
        db.ok(&["query", "--user", "nobody", "--format", "json"])
            .trim(),
        "[]"
    );
    assert_eq!(
        db.ok(&["query", "--user", "nobody", "--format", "jsonl"]),
        ""
    );
    assert_eq!(db.ok(&["query", "--user", "nobody", "--format", "ids"]), "");
}

pub fn stats(db: &TestDb) {
    seeded(db);
    let table = db.ok(&["stats"]);
    for expected in [
        "long_term   1",
        "mid_term    1",
        "short_term  2",
        "total       4",
    ] {
        assert!(
            table.lines().any(|l| l == expected),
            "{expected:?} in\n{table}"
        );
    }
    assert!(
        table.lines().any(|l| l == "alice  short_term  2"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l == "bob    long_term   1"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&db.ok(&["stats", "--format", "json"])).expect("JSON");
    assert_eq!(json["total"], json!(4));
    assert_eq!(
        json["per_tier"],
        json!({"short_term": 2, "mid_term": 1, "long_term": 1})
    );
    assert_eq!(json["per_user"]["bob"], json!({"long_term": 1}));
    let alice: Value =
        serde_json::from_str(&db.ok(&["stats", "--user", "alice", "--format", "jsonl"]))
            .expect("JSON");
    assert_eq!(alice["total"], json!(3));
    assert_eq!(alice["per_user"].as_object().map(|o| o.len()), Some(1));
}

pub fn policies(db: &TestDb) {
    seeded(db);
    let shown: Value = serde_json::from_str(&db.ok(&["policies", "show"])).expect("JSON");
    assert_eq!(shown[0]["tier"], json!("short_term"));
    assert_eq!(shown[0]["expire_after_secs"], json!(7 * 86400));

    let steps: Value =
        serde_json::from_str(&db.ok(&["policies", "run", "--format", "json"])).expect("JSON");
    assert_eq!(
        steps,
        json!([
            {"tier": "short_term", "action": "moved", "to": "mid_term", "rows": 2},
            {"tier": "short_term", "action": "trimmed", "max_chars": 4000, "rows": 0},
            {"tier": "mid_term", "action": "moved", "to": "long_term", "rows": 1},
            {"tier": "mid_term", "action": "trimmed", "max_chars": 16000, "rows": 0},
        ])
    );
    assert_eq!(
        db.ids(&["--tier", "long_term", "--order", "created-asc"]),
        ids(&[2, 3])
    );

    let config = db.path("policies.json");
    std::fs::write(
        &config,
        r#"[{"tier": "long_term", "max_content_chars": 5}]"#,
    )
    .expect("write");
    let table = db.ok(&[
        "policies",
        "run",
        "--config",
        config.to_str().expect("path"),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines,
        [
            "tier       action              rows",
            "long_term  trimmed to 5 chars  2"
        ]
    );
    let memory: Value =
        serde_json::from_str(&db.ok(&["get", &id(3), "--format", "json"])).expect("JSON");
    assert_eq!(memory["content"], json!("drink"));

    for (text, expected) in [
        (r#"[{"tier": "Bad"}]"#, "invalid tier"),
        (
            r#"[{"tier": "x", "expire_after": 5}]"#,
            "unknown field 'expire_after'",
        ),
        (
            r#"[{"tier": "x", "expire_after_secs": 5}]"#,
            "needs both an expiry and a next tier",
        ),
        (r#"{"tier": "x"}"#, "invalid policy config"),
    ] {
        std::fs::write(&config, text).expect("write");
        let err = db.fail(&[
            "policies",
            "run",
            "--config",
            config.to_str().expect("path"),
        ]);
        assert!(err.contains(expected), "{text}: {err}");
    }
    let err = db.fail(&["policies", "run", "--config", "no-such-file.json"]);
    assert!(err.contains("cannot read no-such-file.json"), "{err}");
}

pub fn migrate_lifecycle(db: &TestDb) {
    let set = db.migrations();
    let head = set.head().expect("migrations");
    let versions: Vec<i64> = set
        .migrations()
        .iter()
        .map(|m| i64::from(m.version))
        .collect();

    let status = db.ok(&["migrate", "status"]);
    assert!(
        status
            .lines()
            .next()
            .unwrap_or("")
            .starts_with("version  name"),
        "{status}"
    );
    assert_eq!(
        status.lines().filter(|l| l.contains("pending")).count(),
        set.len(),
        "{status}"
    );
    assert_eq!(db.ok(&["migrate", "history"]), "no migrations applied\n");
    let err = db.fail(&["query"]);
    assert!(err.contains("engram init-db"), "{err}");
    if let Some(file) = db.sqlite_file() {
        assert!(
            !file.exists(),
            "status, history and query must not create the database"
        );
    }

    let out = db.ok(&["init-db"]);
    assert!(out.starts_with("applied 0001 initial_schema ("), "{out}");
    assert_eq!(out.lines().count(), set.len());
    assert_eq!(
        db.migration_rows(),
        versions.iter().map(|&v| (v, true)).collect::<Vec<_>>()
    );
    assert!(db.has_table("memories"));
    let again = db.ok(&["init-db"]);
    assert!(
        again.starts_with("nothing to apply: the database is at "),
        "{again}"
    );
    assert!(db.ok(&["migrate", "up"]).starts_with("nothing to apply"));

    let status: Value =
        serde_json::from_str(&db.ok(&["migrate", "status", "--format", "json"])).expect("JSON");
    let lines = status.as_array().expect("array");
    assert_eq!(lines.len(), set.len());
    assert!(lines
        .iter()
        .all(|l| l["state"] == json!("applied") && l["applied_at"].is_string()));
    let table = db.ok(&["migrate", "status"]);
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().take(3).eq([
                "0001",
                "initial_schema",
                "applied"
            ])),
        "{table}"
    );
    let history = db.ok(&["migrate", "history"]);
    assert!(
        history
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("0001     initial_schema  ") && l.ends_with(" ok")),
        "{history}"
    );
    let history: Value =
        serde_json::from_str(&db.ok(&["migrate", "history", "--format", "json"])).expect("JSON");
    assert_eq!(history.as_array().map(Vec::len), Some(set.len()));
    assert_eq!(
        history[0]["checksum"],
        json!(set.migrations()[0].checksum())
    );

    let out = db.ok(&["migrate", "down", "--steps", "1"]);
    assert!(out.starts_with(&format!("reverted {head:04} ")), "{out}");
    assert_eq!(db.migration_rows().len(), set.len() - 1);
    let err = db.fail(&["query"]);
    assert!(
        err.contains("engram init-db") || err.contains("engram migrate up"),
        "data commands refuse a schema that is behind: {err}"
    );
    let out = db.ok(&["migrate", "up", "--to", &head.to_string()]);
    assert!(out.starts_with(&format!("applied {head:04} ")), "{out}");

    let err = db.fail(&["migrate", "up", "--to", "99"]);
    assert!(err.contains("0099"), "{err}");
    let err = db.fail(&["migrate", "down", "--to", "98"]);
    assert!(err.contains("0098"), "{err}");

    let out = db.ok(&["migrate", "down", "--to", "0"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("reverted ")).count(),
        set.len()
    );
    assert!(
        out.ends_with("the database is now at version 0000 (no migrations applied)\n"),
        "{out}"
    );
    assert!(!db.has_table("memories"));
    assert!(db.migration_rows().is_empty());
    assert!(db
        .ok(&["migrate", "down", "--steps", "3"])
        .starts_with("nothing to revert"));
    db.ok(&["migrate", "up"]);
    assert_eq!(db.migration_rows().len(), set.len());
    db.ok(&["put", "--user", "u", "--content", "works again"]);
}

pub fn dry_run(db: &TestDb) {
    let set = db.migrations();
    let plan = db.ok(&["migrate", "up", "--dry-run"]);
    let mut lines = plan.lines();
    let header = lines.next().unwrap_or("");
    assert!(
        header.starts_with("-- engram migrate up --dry-run on "),
        "{plan}"
    );
    assert!(
        header.ends_with("would run; nothing was executed"),
        "{plan}"
    );
    assert!(plan.contains("\n-- 0001 initial_schema (up, "), "{plan}");
    assert!(plan.to_lowercase().contains("create table"), "{plan}");
    assert!(
        plan.contains(set.migrations()[0].up.trim()),
        "the whole script is printed"
    );
    assert!(
        !db.has_table("engram_schema_migrations"),
        "a dry run creates nothing"
    );
    assert!(!db.has_table("memories"));
    if let Some(file) = db.sqlite_file() {
        assert!(
            !file.exists(),
            "a dry run does not even create the SQLite file"
        );
    }
    let err = db.fail(&["migrate", "up", "--to", "42", "--dry-run"]);
    assert!(err.contains("0042"), "{err}");

    db.ok(&["init-db"]);
    let plan = db.ok(&["migrate", "up", "--dry-run"]);
    assert!(plan.contains(": 0 migrations would run"), "{plan}");
    let plan = db.ok(&["migrate", "down", "--steps", "1", "--dry-run"]);
    let head = set.head().expect("head");
    let last = set.get(head).expect("head migration");
    assert!(
        plan.contains(&format!("-- {head:04} {} (down, ", last.name)),
        "{plan}"
    );
    assert!(plan.contains(last.down.trim()), "{plan}");
    let plan = db.ok(&["migrate", "down", "--to", "0", "--dry-run"]);
    let headers: Vec<&str> = plan.lines().filter(|l| l.starts_with("-- 0")).collect();
    assert_eq!(headers.len(), set.len());
    let versions: Vec<&str> = headers.iter().map(|h| &h[3..7]).collect();
    let mut newest_first = versions.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(versions, newest_first, "down scripts run newest first");
    assert_eq!(db.migration_rows().len(), set.len(), "nothing was reverted");
    assert!(db.has_table("memories"));
}

pub fn stamp(db: &TestDb) {
    let out = db.ok(&["migrate", "stamp", "1"]);
    assert_eq!(
        out,
        "stamped 0001 initial_schema (recorded as applied, not run)\n"
    );
    assert_eq!(db.migration_rows(), vec![(1, true)]);
    assert!(!db.has_table("memories"), "stamp runs nothing");
    let status = db.ok(&["migrate", "status"]);
    assert!(
        status
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" applied ")),
        "{status}"
    );
    let history: Value =
        serde_json::from_str(&db.ok(&["migrate", "history", "--format", "json"])).expect("JSON");
    assert_eq!(history[0]["execution_ms"], json!(0));
    assert_eq!(
        db.ok(&["migrate", "stamp", "0001"]),
        "nothing to stamp: every migration up to 0001 is already recorded\n"
    );
    let err = db.fail(&["migrate", "stamp", "9999"]);
    assert!(err.contains("there is no") && err.contains("9999"), "{err}");
    assert_eq!(db.migration_rows().len(), 1);
}

pub fn new_migration(db: &TestDb) {
    let root = db.path("repo");
    std::fs::create_dir(&root).expect("mkdir");
    let root_arg = root.to_str().expect("path");
    let err = db.fail(&["migrate", "new", "add_notes", "--dir", root_arg]);
    assert!(err.contains("migrations-pg"), "{err}");
    std::fs::create_dir(root.join("migrations-pg")).expect("mkdir");
    std::fs::create_dir(root.join("migrations-sqlite")).expect("mkdir");
    let out = db.ok(&["migrate", "new", "add_notes", "--dir", root_arg]);
    assert!(
        out.starts_with("created migration 0001 add_notes:\n"),
        "{out}"
    );
    for file in [
        "migrations-pg/0001_add_notes.up.sql",
        "migrations-pg/0001_add_notes.down.sql",
        "migrations-sqlite/0001_add_notes.up.sql",
        "migrations-sqlite/0001_add_notes.down.sql",
    ] {
        assert!(root.join(file).is_file(), "{file}");
        assert!(out.contains(file), "{out}");
    }
    let out = db.ok(&["migrate", "new", "add_more", "--dir", root_arg]);
    assert!(out.starts_with("created migration 0002 add_more:"), "{out}");
    let err = db.fail(&["migrate", "new", "Bad-Name", "--dir", root_arg]);
    assert!(err.contains("invalid migration name 'Bad-Name'"), "{err}");
    if let Some(file) = db.sqlite_file() {
        assert!(!file.exists(), "migrate new does not touch the database");
    } else {
        assert!(!db.has_table("engram_schema_migrations"));
    }
}

pub fn failed_migration_and_repair(db: &TestDb) {
    seeded(db);
    db.execute(&format!(
        "UPDATE engram_schema_migrations SET success = {} WHERE version = 1",
        db.sql_bool(false)
    ));
    let commands: &[&[&str]] = &[
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down", "--steps", "1"],
        &["migrate", "down", "--to", "0", "--dry-run"],
        &["migrate", "stamp", "1"],
        &["migrate", "status"],
        &["init-db"],
        &["query"],
        &["put", "--user", "u", "--content", "c"],
    ];
    for args in commands {
        let err = db.fail(args);
        assert!(err.contains("failed midway"), "{args:?}: {err}");
        assert!(
            err.contains("`engram migrate repair 0001`"),
            "{args:?}: {err}"
        );
    }
    let output = db.cmd().args(["migrate", "status"]).output().expect("run");
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(
        status
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" failed ")),
        "{status}"
    );
    let history = db.ok(&["migrate", "history"]);
    assert!(history.contains("FAILED"), "{history}");

    let out = db.ok(&["migrate", "repair", "1"]);
    assert_eq!(
        out,
        "cleared the failed record of 0001 initial_schema; run `engram migrate up` to apply it again\n"
    );
    let status = db.ok(&["migrate", "status"]);
    assert!(
        status
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" pending ")),
        "{status}"
    );
    db.ok(&["migrate", "up", "--dry-run"]);
    let err = db.fail(&["migrate", "repair", "1"]);
    assert!(err.contains("not recorded as failed"), "{err}");
    // The schema is in place (the "failure" was simulated), so record it and carry on.
    db.ok(&["migrate", "stamp", "1"]);
    assert_eq!(db.ids(&["--limit", "1"]), ids(&[4]));
}

pub fn drift(db: &TestDb) {
    seeded(db);
    db.execute("UPDATE engram_schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
    let commands: &[&[&str]] = &[
        &["migrate", "up"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "down", "--steps", "1"],
        &["migrate", "stamp", "1"],
        &["migrate", "status"],
        &["init-db"],
        &["query"],
        &["get", &id(1)],
        &["export"],
    ];
    for args in commands {
        let err = db.fail(args);
        assert!(
            err.contains("0001 initial_schema") && err.contains("changed"),
            "{args:?}: {err}"
        );
    }
    let output = db.cmd().args(["migrate", "status"]).output().expect("run");
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(
        status
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" changed ")),
        "{status}"
    );
    db.ok(&["migrate", "history"]);
    assert!(db.has_table("memories"), "nothing was reverted");
}

pub fn unknown_version(db: &TestDb) {
    seeded(db);
    db.execute(&format!(
        "INSERT INTO engram_schema_migrations \
         (version, name, checksum, applied_at, execution_ms, success) \
         VALUES (9999, 'from_the_future', 'abc', {}, 0, {})",
        db.sql_now(),
        db.sql_bool(true)
    ));
    for args in [
        &["migrate", "up"][..],
        &["migrate", "down", "--steps", "1"],
        &["migrate", "status"],
        &["init-db"],
        &["query"],
    ] {
        let err = db.fail(args);
        assert!(err.contains("9999"), "{args:?}: {err}");
    }
    let output = db.cmd().args(["migrate", "status"]).output().expect("run");
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(
        status.lines().any(|l| l.starts_with("9999")
            && l.contains("from_the_future")
            && l.contains(" unknown ")),
        "{status}"
    );
}

pub fn concurrent_init_db(db: &TestDb) {
    let children: Vec<_> = (0..4)
        .map(|_| {
            engram_command(db, &["init-db"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn engram")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait"))
        .collect();
    let mut stdout = String::new();
    for output in &outputs {
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    let set = db.migrations();
    assert_eq!(
        db.migration_rows(),
        set.migrations()
            .iter()
            .map(|m| (i64::from(m.version), true))
            .collect::<Vec<_>>()
    );
    for migration in set.migrations() {
        let applied = format!("applied {:04} {} (", migration.version, migration.name);
        assert_eq!(
            stdout.matches(&applied).count(),
            1,
            "applied once:\n{stdout}"
        );
    }
}

pub fn errors_and_exit_codes(db: &TestDb) {
    db.ok(&["init-db"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["put", "--user", "u", "--content", "c", "--metadata", "[1]"],
            "error: invalid metadata: must be a JSON object, got array",
        ),
        (
            &["put", "--user", "u", "--content", "c", "--metadata", "{bad"],
            "error: invalid metadata: not valid JSON",
        ),
        (
            &[
                "put",
                "--user",
                "u",
                "--content",
                "c",
                "--metadata",
                r#"{"a":"\u0000"}"#,
            ],
            "error: invalid metadata: ",
        ),
        (
            &[
                "put",
                "--user",
                "u",
                "--content",
                "c",
                "--metadata",
                r#"{"a":"\ud800"}"#,
            ],
            "error: invalid metadata: ",
        ),
        (
            &[
                "put",
                "--user",
                "u",
                "--content",
                "c",
                "--tier",
                "Long Term",
            ],
            "error: invalid tier: 'Long Term' must match",
        ),
        (
            &["put", "--user", "u", "--content", "c", "--score", "101"],
            "error: invalid score: must be between 0 and 100, got 101",
        ),
        (
            &["put", "--user", "", "--content", "c"],
            "error: invalid user_id",
        ),
        (
            &["query", "--where", "[1]"],
            "error: invalid --where filter: must be a JSON object",
        ),
        (
            &["query", "--where", r#"{"a":"\u0000"}"#],
            "error: invalid --where filter",
        ),
        (&["query", "--tier", "BAD"], "error: invalid tier: 'BAD'"),
        (
            &["query", "--created-from", "yesterday"],
            "error: --created-from: invalid",
        ),
        (&["get", "not-a-uuid"], "error: invalid id 'not-a-uuid'"),
        (&["delete", "42"], "error: invalid id '42'"),
        (
            &["get", "00000000-0000-7000-8000-000000000999"],
            "error: memory 00000000-0000-7000-8000-000000000999 not found",
        ),
        (
            &["import", "no-such-file.jsonl"],
            "error: cannot open no-such-file.jsonl",
        ),
    ];
    for (args, expected) in cases {
        let err = db.fail(args);
        assert!(err.starts_with(expected), "{args:?}: {err}");
    }
    let output = crate::common::bare_cmd(db.dir())
        .env("RUST_LOG", "warn")
        .args(["--database-url", "mysql://x", "stats"])
        .output()
        .expect("run");
    let err = crate::common::expect_user_error(&[], &output);
    assert!(
        err.starts_with("error: invalid database URL 'mysql://x'"),
        "{err}"
    );

    for args in [
        &["put", "--content", "no user"][..],
        &["query", "--format", "xml"],
        &["query", "--order", "sideways"],
        &["query", "--limit", "-1"],
        &["query", "--summarized", "maybe"],
        &["frobnicate"],
        &["migrate", "down"],
        &["migrate", "down", "--steps", "1", "--to", "0"],
        &["migrate", "stamp", "abc"],
        &["import"],
        &["import", "x", "--batch-size", "0"],
    ] {
        db.usage_error(args);
    }
    let help = db.ok(&["--help"]);
    assert!(
        help.contains("Examples:") && help.contains("engram demo"),
        "{help}"
    );
    for command in [
        "demo", "init-db", "migrate", "put", "get", "delete", "stats", "query", "import", "export",
        "policies",
    ] {
        let help = db.ok(&[command, "--help"]);
        assert!(
            help.lines().next().is_some_and(|l| !l.is_empty()),
            "{command}: {help}"
        );
    }
    for sub in ["up", "down", "status", "history", "stamp", "new", "repair"] {
        db.ok(&["migrate", sub, "--help"]);
    }
    assert!(db.ids(&[]).is_empty(), "no failed command wrote anything");
}

pub fn import_export(db: &TestDb) {
    seeded(db);
    let file = db.path("fixture.jsonl");
    let file_arg = file.to_str().expect("path");
    let again = db.ok(&["import", file_arg]);
    assert!(
        again.ends_with("4 memories read, 0 inserted, 4 skipped (already stored)\n"),
        "{again}"
    );
    let from_stdin = db.ok_stdin(&["import", "-"], &fixture());
    assert_eq!(
        from_stdin,
        "standard input: 4 memories read, 0 inserted, 4 skipped (already stored)\n"
    );
    assert_eq!(db.ok(&["query", "--count"]), "4\n");

    let exported = db.ok(&["export"]);
    let mut least_recently_updated_first = json_lines(&fixture());
    least_recently_updated_first.sort_by_key(|m| m["updated_at"].as_str().map(str::to_string));
    assert_eq!(
        json_lines(&exported),
        least_recently_updated_first,
        "every field, least recently updated first"
    );
    let first_keys: Vec<String> = exported
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Map<String, Value>>(l).ok())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(first_keys.len(), 12, "every field is written");
    assert_eq!(
        json_lines(&db.ok(&["export", "--user", "bob"])),
        vec![json_lines(&fixture())[2].clone()]
    );
    let out_file = db.path("out.jsonl");
    let out = db.ok(&["export", "--output", out_file.to_str().expect("path")]);
    assert_eq!(
        out,
        format!("exported 4 memories to {}\n", out_file.display())
    );
    assert_eq!(std::fs::read_to_string(&out_file).expect("read"), exported);

    let extra = r#"{"user_id":"carol","content":"imported with defaults"}"#;
    let out = db.ok_stdin(&["import", "-"], &format!("\n{extra}\n\n"));
    assert!(
        out.contains("1 memory read, 1 inserted, 0 skipped"),
        "{out}"
    );
    assert_eq!(db.ok(&["query", "--user", "carol", "--count"]), "1\n");
}

pub fn import_malformed(db: &TestDb) {
    db.ok(&["init-db"]);
    let line = |n: u32| {
        json!({"id": id(n), "user_id": "u", "content": format!("memory {n}"),
               "created_at": "2025-02-01T00:00:00Z"})
        .to_string()
    };
    // Batches of two: lines 1-2 commit, then line 4 is bad, so line 3 is not written.
    let text = format!(
        "{}\n{}\n{}\n{{\"user_id\": \"u\", \"content\": \n{}\n",
        line(1),
        line(2),
        line(3),
        line(5)
    );
    let file = db.path("bad.jsonl");
    std::fs::write(&file, text).expect("write");
    let file_arg = file.to_str().expect("path");
    let err = db.fail(&["import", file_arg, "--batch-size", "2"]);
    assert!(
        err.contains("bad.jsonl line 4: invalid memory: not valid JSON"),
        "{err}"
    );
    assert!(
        err.contains("the 2 memories before line 3 were imported"),
        "{err}"
    );
    assert_eq!(db.ids(&["--order", "created-asc"]), ids(&[1, 2]));

    // One batch: a bad tier on line 2 means nothing of the file is written.
    let bad_tier = json!({"id": id(7), "user_id": "u", "content": "c", "tier": "Top"}).to_string();
    let text = format!("{}\n{bad_tier}\n{}\n", line(6), line(8));
    std::fs::write(&file, text).expect("write");
    let err = db.fail(&["import", file_arg]);
    assert!(err.contains("line 2: invalid tier: 'Top'"), "{err}");
    assert!(err.ends_with("nothing was imported"), "{err}");
    assert_eq!(db.ids(&["--order", "created-asc"]), ids(&[1, 2]));

    for (bad, expected) in [
        (r#"{"user_id":"u"}"#.to_string(), "missing field 'content'"),
        (
            r#"{"user_id":"u","content":"c","colour":"red"}"#.into(),
            "unknown field 'colour'",
        ),
        (
            r#"{"user_id":"u","content":"c","metadata":[1]}"#.into(),
            "invalid metadata: must be a JSON object, got array",
        ),
        (
            r#"{"user_id":"u","content":"c","id":"nope"}"#.into(),
            "invalid id",
        ),
        ("[1,2]".into(), "expected a JSON object, got array"),
    ] {
        let err = db.fail_stdin(&["import", "-"], &format!("{}\n{bad}\n", line(9)));
        assert!(
            err.contains("standard input line 2: ") && err.contains(expected),
            "{bad}: {err}"
        );
    }
    assert_eq!(db.ok(&["query", "--count"]), "2\n");
}

pub fn export_paging(db: &TestDb) {
    db.ok(&["init-db"]);
    // 2,500 memories whose created_at repeats in runs of 700, so that ties span pages.
    let mut text = String::new();
    for n in 0..2500u32 {
        let created = format!("2025-03-01T00:00:{:02}Z", n / 700);
        let line = json!({"id": id(10_000 + (n * 7919) % 2500), "user_id": format!("u{}", n % 3),
                          "content": format!("memory {n}"), "created_at": created,
                          "metadata": {"n": n}});
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let file = db.path("many.jsonl");
    std::fs::write(&file, text).expect("write");
    let out = db.ok(&["import", file.to_str().expect("path")]);
    assert!(out.contains("2500 memories read, 2500 inserted"), "{out}");
    let exported = db.ok(&["export"]);
    let rows = json_lines(&exported);
    assert_eq!(rows.len(), 2500);
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|m| (m["created_at"].to_string(), m["id"].to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "created_at, id ascending, each memory once");
    let filtered = json_lines(&db.ok(&[
        "export",
        "--user",
        "u1",
        "--created-from",
        "2025-03-01T00:00:01Z",
    ]));
    let expected = rows
        .iter()
        .filter(|m| {
            m["user_id"] == json!("u1") && m["created_at"] != json!("2025-03-01T00:00:00.000000Z")
        })
        .count();
    assert_eq!(filtered.len(), expected);
}

pub fn quiet_when_piped(db: &TestDb) {
    db.ok(&["init-db"]);
    let file = db.path("fixture.jsonl");
    std::fs::write(&file, fixture()).expect("write");
    for args in [
        vec!["import", file.to_str().expect("path")],
        vec!["export"],
        vec!["export", "--output", "out.jsonl"],
    ] {
        // Default logging (no RUST_LOG): only log lines may appear on stderr, no bar.
        let output = crate::common::bare_cmd(db.dir())
            .arg("--database-url")
            .arg(db.dsn())
            .args(&args)
            .output()
            .expect("run");
        crate::common::expect_success(&[], &output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains('\r') && !stderr.contains('\u{1b}'),
            "{stderr:?}"
        );
        for bar in ['█', '░', '━', '▏', '#', '='] {
            assert!(!stderr.contains(bar), "{args:?}: {stderr:?}");
        }
        assert!(
            stderr.lines().all(|l| l.trim_start().starts_with("INFO ")),
            "{stderr}"
        );
        let quiet = db.cmd().args(&args).output().expect("run");
        assert!(
            quiet.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&quiet.stderr)
        );
    }
}

pub fn demo(db: &TestDb) {
    let first = db.ok(&["demo"]);
    assert!(
        first.contains("examples: 6 memories, 6 new, 0 already stored"),
        "{first}"
    );
    assert!(
        first.contains("Likes spicy Thai food") && first.contains("Prefers green tea"),
        "{first}"
    );
    assert!(
        !first.contains("Drinks his coffee black"),
        "only alice's memories: {first}"
    );
    assert!(
        first.contains("Try next:") && first.contains("engram get "),
        "{first}"
    );
    // The similarity query: alice's food memories nearest, with their distances; skipped,
    // saying why, on a PostgreSQL server without pgvector.
    let similar = first
        .split("$ engram query --user alice --near '[1, 0, 0, 0]' --k 3\n")
        .nth(1)
        .expect("the similarity query is shown");
    if db.kind() == engram_testkit::BackendKind::Sqlite || !similar.starts_with("(skipped: ") {
        let rows: Vec<&str> = similar.lines().take(4).collect();
        assert!(rows[0].starts_with("distance  id"), "{similar}");
        assert!(
            rows[1].starts_with("0.029") && rows[1].contains("Prefers green tea"),
            "{similar}"
        );
        assert!(rows[2].contains("Likes spicy Thai food"), "{similar}");
        assert!(rows[3].contains("Allergic to peanuts"), "{similar}");
    } else {
        assert!(similar.contains("pgvector"), "{similar}");
    }
    let second = db.ok(&["demo"]);
    assert!(second.contains("schema: up to date"), "{second}");
    assert!(
        second.contains("examples: 6 memories, 0 new, 6 already stored"),
        "{second}"
    );
    assert_eq!(db.ok(&["query", "--count"]), "6\n");
}

/// `put --ttl/--expires-at`, import's `expires_at`/`ttl_secs`, `export --include-expired`,
/// `engram sweep` and a retention step in a policy config.
pub fn expiry_and_sweep(db: &TestDb) {
    seeded(db);
    let put = |extra: &[&str]| {
        let mut args = vec!["put", "--user", "carol", "--content", "c"];
        args.extend_from_slice(extra);
        db.ok(&args).trim().to_string()
    };
    let for_an_hour = put(&["--ttl", "3600"]);
    let memory: Value =
        serde_json::from_str(&db.ok(&["get", &for_an_hour, "--format", "json"])).expect("JSON");
    assert!(memory["expires_at"].is_string(), "{memory}");
    let gone = put(&["--expires-at", "2020-01-01T00:00:00Z"]);
    let err = db.fail(&["get", &gone]);
    assert!(err.contains("not found"), "{err}");
    let err = db.fail(&[
        "put",
        "--user",
        "u",
        "--content",
        "c",
        "--expires-at",
        "soon",
    ]);
    assert!(err.contains("--expires-at"), "{err}");

    let file = db.path("expiring.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"user_id":"dave","content":"a","ttl_secs":600}"#,
            "\n",
            r#"{"user_id":"dave","content":"b","expires_at":"2021-06-01T00:00:00Z"}"#,
            "\n"
        ),
    )
    .expect("write");
    let report = db.ok(&["import", file.to_str().expect("path")]);
    assert!(report.contains("2 memories read, 2 inserted"), "{report}");
    let err = db.fail_stdin(
        &["import", "-"],
        r#"{"user_id":"d","content":"a","ttl_secs":-1}"#,
    );
    assert!(err.contains("line 1") && err.contains("ttl_secs"), "{err}");

    let live = db.ok(&["export", "--user", "dave"]);
    assert_eq!(live.lines().count(), 1, "{live}");
    let all = db.ok(&["export", "--user", "dave", "--include-expired"]);
    let lines: Vec<Value> = all
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{all}");
    assert!(lines
        .iter()
        .any(|m| m["expires_at"] == json!("2021-06-01T00:00:00.000000Z")));

    assert_eq!(
        db.ok(&["sweep", "--batch-size", "1"]),
        "swept 2 expired memories in 2 transactions\n"
    );
    assert_eq!(
        db.ok(&["sweep"]),
        "swept 0 expired memories in 0 transactions\n"
    );

    let config = db.path("retention.json");
    std::fs::write(
        &config,
        r#"[{"tier": "short_term", "delete_after_secs": 86400, "delete_by": "created_at"}]"#,
    )
    .expect("write");
    let steps: Value = serde_json::from_str(&db.ok(&[
        "policies",
        "run",
        "--format",
        "json",
        "--config",
        config.to_str().expect("path"),
    ]))
    .expect("JSON");
    // The fixture's short-term memories 1 and 4 are from 2025; the new ones are not a day old.
    assert_eq!(
        steps,
        json!([{"tier": "short_term", "action": "deleted", "by": "created_at", "rows": 2}])
    );
    assert!(db
        .ids(&["--user", "alice", "--tier", "short_term"])
        .is_empty());

    // Expired items are swept too, with a line of their own.
    let store = engram::Store::open(db.dsn()).expect("open the store");
    let space = engram::Namespace::new(["sessions"]).expect("namespace");
    for key in ["a", "b"] {
        store
            .put_item(&space, key, json!({}), Some(std::time::Duration::ZERO))
            .expect("put an item");
    }
    assert_eq!(
        db.ok(&["sweep", "--batch-size", "1"]),
        "swept 0 expired memories in 0 transactions\nswept 2 expired items in 2 transactions\n"
    );
}

/// `engram history ID` in each format, after the memory is gone, with the `--actor` of the
/// write that named one; `--prune-before`.
pub fn history(db: &TestDb) {
    db.ok(&["init-db"]);
    let memory = db
        .ok(&[
            "--actor",
            "planner",
            "put",
            "--user",
            "alice",
            "--content",
            "likes tea",
        ])
        .trim()
        .to_string();
    db.ok(&["delete", &memory]);
    let err = db.fail(&["--actor", "", "delete", &memory]);
    assert!(err.contains("actor"), "{err}");
    let events: Value =
        serde_json::from_str(&db.ok(&["history", &memory, "--format", "json"])).expect("JSON");
    let kinds: Vec<&Value> = events
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| &e["kind"])
        .collect();
    assert_eq!(kinds, [&json!("insert"), &json!("delete")], "{events}");
    assert_eq!(events[0]["actor"], json!("planner"), "{events}");
    assert_eq!(events[1]["actor"], Value::Null, "{events}");
    assert_eq!(
        events[0]["changes"]["content"],
        json!({"before": null, "after": "likes tea"})
    );
    let table = db.ok(&["history", &memory]);
    let header = table.lines().next().expect("a header");
    assert!(
        header.starts_with("seq") && header.ends_with("changes"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
    assert_eq!(
        db.ok(&["history", &memory, "--format", "jsonl"])
            .lines()
            .count(),
        2
    );

    assert_eq!(
        db.ok(&["history", "--prune-before", "9999-01-01T00:00:00Z"]),
        "pruned 2 history events\n"
    );
    assert_eq!(
        db.ok(&["history", &memory, "--format", "json"]).trim(),
        "[]"
    );
    let err = db.fail(&["history", "--prune-before", "yesterday"]);
    assert!(err.contains("--prune-before"), "{err}");
    let err = db.fail(&["history", "not-a-uuid"]);
    assert!(err.contains("not a UUID"), "{err}");
}

/// `engram health`: exit 0 on a sound database; exit 1 with the report still printed and
/// one error line naming what needs attention; before `init-db`, the pending migrations.
pub fn health(db: &TestDb) {
    if db.kind() == engram_testkit::BackendKind::Postgres {
        let err = db.fail(&["health"]);
        assert!(err.contains("migrations pending: 1, 2"), "{err}");
    }
    db.ok(&["init-db"]);
    let report: Value =
        serde_json::from_str(&db.ok(&["health", "--format", "json"])).expect("JSON");
    assert_eq!(report["attention"], json!([]), "{report}");
    assert_eq!(report["migrations"]["pending"], json!([]), "{report}");
    assert!(
        report["relations"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|r| r["name"] == "memories" && r["kind"] == "table"),
        "{report}"
    );
    let table = db.ok(&["health"]);
    assert!(table.starts_with("check"), "{table}");
    assert!(table.contains("memories_expires_idx"), "{table}");

    db.ok(&[
        "put",
        "--user",
        "alice",
        "--content",
        "an old plan",
        "--expires-at",
        "2020-01-01T00:00:00Z",
    ]);
    let args = ["health", "--format", "json"];
    let output = db.cmd().args(args).output().expect("run engram");
    let report: Value = serde_json::from_slice(&output.stdout).expect("the report is printed");
    assert_eq!(
        report["expired_memories"],
        json!({"unswept": 1, "overdue": 1}),
        "{report}"
    );
    assert_eq!(
        expect_user_error(&args, &output),
        "error: the database needs attention: sweep overdue: 1 memory expired over a day ago \
         still stored (run `engram sweep`)"
    );
    db.ok(&["sweep"]);
    db.ok(&["health"]);
}

/// `engram query --filter JSON` and `export --filter`: operators and paths, numbers as
/// numbers; an unknown operator is exit 1 naming it.
pub fn filter_operators(db: &TestDb) {
    db.ok(&["init-db"]);
    for (n, metadata) in [
        (1, r#"{"n": 10, "customer": {"tier": "gold"}}"#),
        (2, r#"{"n": 9, "customer": {"tier": "silver"}}"#),
        (3, r#"{"n": "10"}"#),
    ] {
        let content = format!("m{n}");
        db.ok(&[
            "put",
            "--user",
            "alice",
            "--content",
            &content,
            "--metadata",
            metadata,
        ]);
    }
    let contents = |args: &[&str]| -> Vec<String> {
        let text = db.ok(args);
        let mut found: Vec<String> = text
            .lines()
            .map(|line| {
                let memory: Value = serde_json::from_str(line).expect("JSON");
                memory["content"].as_str().expect("content").to_string()
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        contents(&[
            "query",
            "--filter",
            r#"{"n": {"$gt": 9}}"#,
            "--format",
            "jsonl"
        ]),
        ["m1"]
    );
    assert_eq!(
        contents(&[
            "query",
            "--filter",
            r#"{"customer.tier": {"$in": ["gold", "silver"]}}"#,
            "--format",
            "jsonl"
        ]),
        ["m1", "m2"]
    );
    assert_eq!(
        contents(&["export", "--filter", r#"{"n": {"$ne": 10}}"#]),
        ["m2", "m3"]
    );
    let err = db.fail(&["query", "--filter", r#"{"n": {"$greater": 9}}"#]);
    assert!(
        err.contains("--filter") && err.contains("unknown operator $greater"),
        "{err}"
    );
    let err = db.fail(&["query", "--filter", "[1]"]);
    assert!(err.contains("--filter"), "{err}");
}
