//! Cases that involve both backends at once, or only one: the default DSN and its
//! environment variables, the SQLite log line, password redaction, a SQLite → PostgreSQL
//! transfer, and SQLite's containment index built by `migrate up`.

use engram_testkit::{BackendKind, TestDb};
use serde_json::{json, Value};

use crate::common::{bare_cmd, expect_success, expect_user_error, id, RunEngram};

const PASSWORD: &str = "s3cr3t-pw";

#[test]
fn demo_in_a_fresh_directory_uses_the_default_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = bare_cmd(dir.path()).arg("demo").output().expect("run");
    let stdout = expect_success(&["demo"], &first);
    assert!(
        dir.path().join("engram.db").is_file(),
        "demo creates ./engram.db"
    );
    assert!(
        stdout.starts_with("engram demo on sqlite://engram.db (SQLite)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("$ engram query --user alice --where '{\"tags\":[\"preference\"]}'"));
    assert!(
        stdout.contains("01970000-0000-7000-8000-000000000004  alice"),
        "{stdout}"
    );
    assert!(stdout.contains("Try next:"), "{stdout}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("using SQLite at "), "{stderr}");

    let second = bare_cmd(dir.path()).arg("demo").output().expect("run");
    let stdout = expect_success(&["demo"], &second);
    assert!(
        stdout.contains("6 memories, 0 new, 6 already stored"),
        "{stdout}"
    );
    let count = bare_cmd(dir.path())
        .args(["query", "--count"])
        .output()
        .expect("run");
    assert_eq!(expect_success(&["query"], &count), "6\n");
}

#[test]
fn the_dsn_comes_from_the_flag_then_engram_database_url_then_database_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |envs: &[(&str, &str)], flag: Option<&str>| {
        let mut cmd = bare_cmd(dir.path());
        cmd.env("RUST_LOG", "warn");
        for (name, value) in envs {
            cmd.env(name, value);
        }
        if let Some(flag) = flag {
            cmd.args(["--database-url", flag]);
        }
        expect_success(&["init-db"], &cmd.arg("init-db").output().expect("run"));
    };
    run(
        &[
            ("ENGRAM_DATABASE_URL", "sqlite://a.db"),
            ("DATABASE_URL", "sqlite://b.db"),
        ],
        None,
    );
    assert!(dir.path().join("a.db").exists() && !dir.path().join("b.db").exists());
    run(&[("DATABASE_URL", "sqlite://b.db")], None);
    assert!(dir.path().join("b.db").exists());
    run(
        &[("ENGRAM_DATABASE_URL", "sqlite://a.db")],
        Some("sqlite://c.db"),
    );
    assert!(dir.path().join("c.db").exists());
    run(&[("ENGRAM_DATABASE_URL", "")], None);
    assert!(
        dir.path().join("engram.db").exists(),
        "empty variables count as unset"
    );
}

#[test]
fn the_sqlite_line_is_logged_at_info_on_stderr_only() {
    let db = TestDb::sqlite();
    let output = bare_cmd(db.dir())
        .args(["--database-url", db.dsn(), "init-db"])
        .output()
        .expect("run");
    let stdout = expect_success(&["init-db"], &output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "INFO using SQLite at {} (set --database-url or ENGRAM_DATABASE_URL for PostgreSQL)",
        db.path("engram.db").display()
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.trim_start() == expected)
            .count(),
        1,
        "{stderr}"
    );
    assert!(!stdout.contains("using SQLite"), "{stdout}");
    let quiet = bare_cmd(db.dir())
        .env("RUST_LOG", "warn")
        .args(["--database-url", db.dsn(), "migrate", "status"])
        .output()
        .expect("run");
    expect_success(&["migrate", "status"], &quiet);
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
}

/// Every command that opens a database, with arguments that are otherwise valid.
fn database_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["init-db"],
        vec!["demo"],
        vec!["migrate", "up"],
        vec!["migrate", "up", "--dry-run"],
        vec!["migrate", "down", "--steps", "1"],
        vec!["migrate", "status"],
        vec!["migrate", "history"],
        vec!["migrate", "stamp", "1"],
        vec!["migrate", "repair", "1"],
        vec!["put", "--user", "u", "--content", "c"],
        vec!["get", "00000000-0000-7000-8000-000000000001"],
        vec!["delete", "00000000-0000-7000-8000-000000000001"],
        vec!["stats"],
        vec!["query", "--user", "u"],
        vec!["export"],
        vec!["policies", "run"],
    ]
}

fn assert_no_password(args: &[&str], output: &std::process::Output) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(PASSWORD),
            "{args:?} leaked the password on {stream}: {text}"
        );
    }
}

#[test]
fn passwords_never_appear_when_the_server_is_unreachable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dsns = [
        format!("postgres://engram:{PASSWORD}@127.0.0.1:1/db"),
        format!("postgresql://engram@127.0.0.1:1/db?password={PASSWORD}&sslmode=disable"),
        format!("mysql://engram:{PASSWORD}@127.0.0.1:1/db"),
        format!("postgres://engram:{PASSWORD}@127.0.0.1:notaport/db"),
    ];
    for dsn in &dsns {
        for log in [None, Some("debug"), Some("trace")] {
            for args in database_commands() {
                let mut cmd = bare_cmd(dir.path());
                if let Some(level) = log {
                    cmd.env("RUST_LOG", level);
                }
                let output = cmd
                    .arg("--database-url")
                    .arg(dsn)
                    .args(&args)
                    .output()
                    .expect("run");
                assert_no_password(&args, &output);
                assert_eq!(output.status.code(), Some(1), "{dsn} {args:?}");
                let stderr = String::from_utf8_lossy(&output.stderr);
                let error = stderr.lines().find(|l| l.starts_with("error: "));
                assert!(
                    error.is_some_and(|l| l.contains("***")),
                    "{args:?}: {stderr}"
                );
            }
        }
        // The same through the environment variable.
        let output = bare_cmd(dir.path())
            .env("ENGRAM_DATABASE_URL", dsn)
            .env("RUST_LOG", "debug")
            .args(["query"])
            .output()
            .expect("run");
        assert_no_password(&["query"], &output);
        assert_eq!(output.status.code(), Some(1));
    }
    let closed = bare_cmd(dir.path())
        .env("RUST_LOG", "warn")
        .args(["--database-url", &dsns[0], "stats"])
        .output()
        .expect("run");
    let line = expect_user_error(&["stats"], &closed);
    assert!(
        line.starts_with(
            "error: cannot connect to PostgreSQL database 'postgres://engram:***@127.0.0.1:1/db'"
        ),
        "{line}"
    );
}

/// `url` with its password set to [`PASSWORD`].
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (user, host) = authority
        .rsplit_once('@')
        .expect("the test URL names a user");
    let user = user.split(':').next().unwrap_or(user);
    format!("{scheme}://{user}:{PASSWORD}@{host}{path}")
}

#[test]
fn passwords_never_appear_with_a_real_server() {
    let db = TestDb::postgres();
    let url = with_password(db.dsn());
    assert!(url.contains(PASSWORD));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("out.jsonl");
    let file_arg = file.to_str().expect("path");
    let runs: Vec<Vec<&str>> = vec![
        vec!["migrate", "up", "--dry-run"],
        vec!["init-db"],
        vec!["demo"],
        vec!["put", "--user", "u", "--content", "c"],
        vec!["query", "--format", "jsonl"],
        vec!["stats"],
        vec!["migrate", "status"],
        vec!["migrate", "history"],
        vec!["export", "--output", file_arg],
        vec!["import", file_arg],
        vec!["policies", "run"],
    ];
    for args in &runs {
        let output = bare_cmd(dir.path())
            .env("RUST_LOG", "trace")
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .expect("run");
        assert_no_password(args, &output);
        expect_success(args, &output);
    }
    // Errors from the live server: a database that does not exist, and a bad query.
    let missing = url
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/no_such_database_x"))
        .expect("url");
    for (dsn, args) in [
        (missing.as_str(), vec!["query"]),
        (url.as_str(), vec!["query", "--where", "[1]"]),
        (url.as_str(), vec!["get", &id(1)]),
    ] {
        let output = bare_cmd(dir.path())
            .env("RUST_LOG", "debug")
            .arg("--database-url")
            .arg(dsn)
            .args(&args)
            .output()
            .expect("run");
        assert_no_password(&args, &output);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
    }
}

/// About fifty memories with varied documents: numbers in several spellings, unicode,
/// nested arrays, empty containers, big integers, booleans and nulls.
fn varied_memories() -> String {
    let documents = [
        r#"{"n": 1e2, "f": 1.50e1, "z": -0, "small": 1.5e-3}"#,
        r#"{"text": "日本語 🧠 café", "emoji": ["🙂", "🚀"], "ключ": "значение"}"#,
        r#"{"nested": [[1, [2, [3]]], {"a": [{"b": null}]}], "empty": {}, "list": []}"#,
        r#"{"big": 12345678901234567890, "precise": 0.10000000000000001, "neg": -42}"#,
        r#"{"flags": {"on": true, "off": false}, "none": null, "dup": 1, "dup": 2}"#,
        r#"{"tags": ["a", "b", "a"], "escaped": "line\nbreak \"quoted\" \\ tab\t"}"#,
    ];
    let tiers = ["short_term", "mid_term", "long_term", "archive_2"];
    let mut out = String::new();
    for n in 0..50u32 {
        let created = format!(
            "2025-04-{:02}T{:02}:30:00.{:06}Z",
            1 + n % 28,
            n % 24,
            n * 1237
        );
        let updated = format!("2025-05-{:02}T00:00:00Z", 1 + n % 9);
        let memory = json!({
            "id": id(500 + n),
            "user_id": format!("user-{}", n % 4),
            "namespace": if n % 5 == 0 { "work" } else { "default" },
            "thread_id": if n % 3 == 0 { Value::Null } else { json!(format!("thread-{}", n % 7)) },
            "tier": tiers[n as usize % tiers.len()],
            "content": format!("memory {n}: ünïcödé ✓ {}", "x".repeat(n as usize)),
            "score": (n * 2) % 101,
            "related_threads": (0..n % 3).map(|k| format!("thread-{k}")).collect::<Vec<_>>(),
            "summarized": n % 4 == 1,
            "created_at": created,
            "updated_at": updated,
        });
        // Splice the document in as written, so that its spelling (1e2, duplicate keys)
        // reaches engram unchanged.
        let text = memory.to_string();
        let raw = documents[n as usize % documents.len()];
        let line = format!("{},\"metadata\":{raw}}}", &text[..text.len() - 1]);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn export_from_sqlite_and_import_into_postgres_gives_the_same_memories() {
    let sqlite = TestDb::new(BackendKind::Sqlite);
    let pg = TestDb::new(BackendKind::Postgres);
    sqlite.ok(&["init-db"]);
    pg.ok(&["init-db"]);
    let source = sqlite.path("varied.jsonl");
    std::fs::write(&source, varied_memories()).expect("write");
    let report = sqlite.ok(&["import", source.to_str().expect("path")]);
    assert!(
        report.ends_with("50 memories read, 50 inserted, 0 skipped (already stored)\n"),
        "{report}"
    );
    for _ in 0..3 {
        sqlite.ok(&[
            "put",
            "--user",
            "user-9",
            "--metadata",
            r#"{"k": [1e0, "ü"]}"#,
            "--content",
            "put ✓",
        ]);
    }

    let exported = sqlite.ok(&["export"]);
    assert_eq!(exported.lines().count(), 53);
    assert!(
        exported.contains(r#""n":100"#) && exported.contains(r#""f":15.0"#),
        "numbers in canonical form"
    );
    let file = pg.path("from-sqlite.jsonl");
    std::fs::write(&file, &exported).expect("write");
    let file_arg = file.to_str().expect("path");
    let report = pg.ok(&["import", file_arg]);
    assert!(
        report.ends_with("53 memories read, 53 inserted, 0 skipped (already stored)\n"),
        "{report}"
    );
    let again = pg.ok(&["import", file_arg]);
    assert!(
        again.ends_with("53 memories read, 0 inserted, 53 skipped (already stored)\n"),
        "{again}"
    );

    for args in [
        &["query", "--format", "jsonl"][..],
        &[
            "query",
            "--format",
            "jsonl",
            "--order",
            "created-asc",
            "--limit",
            "20",
            "--offset",
            "7",
        ],
        &[
            "query",
            "--format",
            "jsonl",
            "--where",
            r#"{"nested": [[1, [2]]]}"#,
        ],
        &["query", "--format", "jsonl", "--where", r#"{"n": 100.0}"#],
        &[
            "query",
            "--format",
            "jsonl",
            "--where",
            r#"{"emoji": ["🚀"]}"#,
        ],
        &[
            "query",
            "--format",
            "ids",
            "--where",
            r#"{"big": 12345678901234567890}"#,
        ],
        &["query", "--format", "ids", "--where", r#"{"precise": 0.1}"#],
        &[
            "query",
            "--format",
            "ids",
            "--tier",
            "archive_2",
            "--summarized",
            "true",
        ],
        &[
            "query",
            "--format",
            "ids",
            "--related",
            "thread-1",
            "--user",
            "user-2",
        ],
        &["stats", "--format", "json"],
        &["export"],
    ] {
        let left = sqlite.ok(args);
        let right = pg.ok(args);
        assert_eq!(
            left, right,
            "{args:?} differs between SQLite and PostgreSQL"
        );
        if args.contains(&"--where") && !args.contains(&r#"{"precise": 0.1}"#) {
            assert!(!left.is_empty(), "{args:?} should match something");
        }
    }
    assert_eq!(pg.ok(&["query", "--count"]), "53\n");
}

/// Upgrading a SQLite database stored before the containment index: `migrate up` applies
/// 0003 and indexes the stored memories, saying how many; queries find them as before.
#[test]
fn migrate_up_indexes_the_memories_stored_before_the_index() {
    let db = TestDb::new(BackendKind::Sqlite);
    db.ok(&["migrate", "up", "--to", "2"]);
    // engram refuses to write to a schema behind its own: these rows come from SQL.
    for n in 0..3 {
        db.execute(&format!(
            r#"INSERT INTO memories (id, user_id, content, metadata, created_at, updated_at)
               VALUES ('{}', 'u', 'c', '{{"n":{n},"tags":["t"]}}', 1, 1)"#,
            id(n)
        ));
    }
    let out = db.ok(&["migrate", "up"]);
    assert!(out.starts_with("applied 0003 containment_index ("), "{out}");
    assert!(
        out.ends_with("containment index: 3 memories indexed\n"),
        "{out}"
    );
    assert_eq!(
        db.ok(&["query", "--where", r#"{"tags": ["t"]}"#, "--count"]),
        "3\n"
    );
    assert_eq!(
        db.ok(&["query", "--where", r#"{"n": 1.0}"#, "--count"]),
        "1\n"
    );
    let again = db.ok(&["migrate", "up"]);
    assert!(!again.contains("containment index"), "{again}");
}
