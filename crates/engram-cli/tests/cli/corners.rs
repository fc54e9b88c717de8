//! The corners where the binary must fail clean or stay safe: endless import lines, byte
//! order marks, numeric timestamps, exports that fail midway, retried puts, streamed queries
//! and down migrations that would drop memories. Each case runs on both backends.

#![deny(dead_code)]

use engram_testkit::TestDb;
use serde_json::{json, Value};

use crate::common::{engram_at, id, RunEngram};

engram_testkit::cross_backend!(
    import_bounds_a_line,
    import_skips_a_byte_order_mark,
    import_refuses_numeric_timestamps,
    failed_export_keeps_the_old_file,
    put_with_an_id_can_be_retried,
    streamed_queries_equal_one_query,
    unlimited_queries_stream_their_rows,
    down_that_drops_memories_needs_yes,
);

fn init(db: &TestDb) {
    db.ok(&["init-db"]);
}

fn memory_line(n: u32, updated: &str) -> String {
    json!({"id": id(n), "user_id": "u", "content": format!("memory {n}"),
           "created_at": updated, "updated_at": updated})
    .to_string()
}

/// `engram import /dev/zero` (one endless line) fails with exit 1 naming line 1, instead
/// of growing until the allocator aborts.
pub fn import_bounds_a_line(db: &TestDb) {
    init(db);
    let message = db.fail(&["import", "/dev/zero"]);
    assert!(
        message.contains("line 1") && message.contains("longer than 64 MiB"),
        "{message}"
    );
    assert_eq!(db.ok(&["query", "--count"]), "0\n");
}

/// A UTF-8 byte order mark at the start of the file is skipped.
pub fn import_skips_a_byte_order_mark(db: &TestDb) {
    init(db);
    let text = format!(
        "\u{feff}{}\n{}\n",
        memory_line(1, "2025-01-01T00:00:00Z"),
        memory_line(2, "2025-01-02T00:00:00Z")
    );
    let printed = db.ok_stdin(&["import", "-"], &text);
    assert!(printed.contains("2 memories read, 2 inserted"), "{printed}");
}

/// A numeric `created_at` is refused (its unit would be a guess), naming field and line.
pub fn import_refuses_numeric_timestamps(db: &TestDb) {
    init(db);
    let line = json!({"user_id": "u", "content": "c", "created_at": 1_700_000_000}).to_string();
    let stderr = db.fail_stdin(
        &["import", "-"],
        &format!("{}\n{line}\n", memory_line(1, "2025-01-01T00:00:00Z")),
    );
    assert!(
        stderr.contains("line 2")
            && stderr.contains("invalid created_at: expected an RFC 3339 string"),
        "{stderr}"
    );
    assert_eq!(db.ok(&["query", "--count"]), "0\n");
}

/// An export to a file that fails midway (a stored row that cannot be read, past the
/// first page) leaves the file that was there untouched, and no temporary file behind.
pub fn failed_export_keeps_the_old_file(db: &TestDb) {
    init(db);
    let lines: Vec<String> = (1..=1500)
        .map(|n| memory_line(n, &format!("2025-01-01T00:00:{:02}.{n:06}Z", n % 60)))
        .collect();
    db.ok_stdin(&["import", "-"], &(lines.join("\n") + "\n"));
    let file = db.path("export.jsonl");
    let file_arg = file.to_str().expect("path");
    db.ok(&["export", "-o", file_arg]);
    let good = std::fs::read_to_string(&file).expect("read export");
    assert_eq!(good.lines().count(), 1500);

    // A row whose related_threads is not a list of strings cannot be decoded by either
    // backend; it is among the last ones exported.
    db.execute(&format!(
        "UPDATE memories SET related_threads = '[1]' WHERE id = '{}'",
        id(1499)
    ));
    let message = db.fail(&["export", "-o", file_arg]);
    assert!(message.contains("related_threads"), "{message}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read export"),
        good,
        "the old export is untouched"
    );
    let leftovers: Vec<String> = std::fs::read_dir(db.dir())
        .expect("list dir")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `put --id` makes a retry idempotent; the same id with other fields is a conflict.
pub fn put_with_an_id_can_be_retried(db: &TestDb) {
    init(db);
    let memory_id = id(7);
    let put = [
        "put",
        "--id",
        &memory_id,
        "--user",
        "u",
        "--metadata",
        r#"{"n":1e2}"#,
        "--content",
        "once",
    ];
    assert_eq!(db.ok(&put), format!("{memory_id}\n"));
    assert_eq!(db.ok(&put), format!("{memory_id}\n"), "the retry succeeds");
    assert_eq!(db.ok(&["query", "--count"]), "1\n");
    let message = db.fail(&[
        "put",
        "--id",
        &memory_id,
        "--user",
        "u",
        "--content",
        "other",
    ]);
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(db.ok(&["query", "--count"]), "1\n");
    db.usage_error(&["put", "--id", "not-a-uuid", "--user", "u", "--content", "x"]);
}

/// `query --format ids|jsonl` streams page by page: the same rows in the same order as one
/// unpaged query (the oracle: `--format json`), in every order, with ties of timestamps
/// across page boundaries, with and without offset and limit.
pub fn streamed_queries_equal_one_query(db: &TestDb) {
    init(db);
    // 2,600 memories over 2 updated times (a run of 2,200 ties, longer than a page plus the
    // offsets below) and 4 created times: page boundaries fall inside runs of ties, and
    // first pages with an offset lie wholly inside one.
    let lines: Vec<String> = (1..=2600)
        .map(|n| {
            json!({"id": id(n), "user_id": "u", "content": "c",
                   "created_at": format!("2025-01-0{}T00:00:00Z", 1 + n % 4),
                   "updated_at": format!("2025-02-0{}T00:00:00Z", if n <= 2200 { 1 } else { 2 })})
            .to_string()
        })
        .collect();
    db.ok_stdin(&["import", "-"], &(lines.join("\n") + "\n"));
    for order in ["updated-desc", "updated-asc", "created-desc", "created-asc"] {
        let all: Vec<Value> =
            serde_json::from_str(&db.ok(&["query", "--order", order, "--format", "json"]))
                .expect("json");
        let all_ids: Vec<String> = all
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_string())
            .collect();
        assert_eq!(all_ids.len(), 2600);
        for (offset, limit) in [(0, None), (1500, Some(700)), (999, None), (1, Some(2000))] {
            let mut args = vec![
                "--order".to_string(),
                order.to_string(),
                "--offset".to_string(),
                offset.to_string(),
            ];
            if let Some(limit) = limit {
                args.extend(["--limit".to_string(), limit.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let end = limit.map_or(all_ids.len(), |l| (offset + l).min(all_ids.len()));
            let expected = &all_ids[offset..end];
            assert_eq!(
                db.ids(&args),
                expected,
                "{order} offset {offset} limit {limit:?}"
            );
            let mut jsonl_args = vec!["query"];
            jsonl_args.extend_from_slice(&args);
            jsonl_args.extend_from_slice(&["--format", "jsonl"]);
            let streamed: Vec<Value> = db
                .ok(&jsonl_args)
                .lines()
                .map(|line| serde_json::from_str(line).expect("json line"))
                .collect();
            assert_eq!(streamed, all[offset..end], "{order} jsonl offset {offset}");
        }
    }
}

/// `query --format ids|jsonl` without a limit writes rows as it reads them, a page at a
/// time, instead of holding the whole result: a row that cannot be read on a later page
/// fails the command after the earlier pages were written.
pub fn unlimited_queries_stream_their_rows(db: &TestDb) {
    init(db);
    let lines: Vec<String> = (1..=2500)
        .map(|n| memory_line(n, &format!("2025-01-01T00:00:00.{n:06}Z")))
        .collect();
    db.ok_stdin(&["import", "-"], &(lines.join("\n") + "\n"));
    // Newest first: memory 1 is read last, on the third page.
    db.execute(&format!(
        "UPDATE memories SET related_threads = '[1]' WHERE id = '{}'",
        id(1)
    ));
    for format in ["ids", "jsonl"] {
        let output = db
            .cmd()
            .args(["query", "--format", format])
            .output()
            .expect("run engram");
        assert_eq!(output.status.code(), Some(1), "{format}");
        let written = String::from_utf8_lossy(&output.stdout).lines().count();
        assert!(written >= 2000, "{format}: {written} rows before the error");
    }
}

/// `migrate down` refuses to drop tables that hold memories unless `--yes` is given.
pub fn down_that_drops_memories_needs_yes(db: &TestDb) {
    init(db);
    db.ok(&["put", "--user", "u", "--content", "keep me"]);
    let message = db.fail(&["migrate", "down", "--to", "0"]);
    assert!(
        message.contains("1 memory") && message.contains("--yes"),
        "{message}"
    );
    assert_eq!(db.ok(&["query", "--count"]), "1\n", "nothing was reverted");
    db.ok(&["migrate", "down", "--to", "0", "--yes"]);
    assert!(!db.has_table("memories"));
    // Clusters alone are data too.
    init(db);
    engram::Store::open(db.dsn())
        .expect("open the store")
        .upsert_cluster(engram::ClusterUpsert {
            user_id: "u".into(),
            topic: "t".into(),
            ..Default::default()
        })
        .expect("store a cluster");
    let message = db.fail(&["migrate", "down", "--to", "0"]);
    assert!(message.contains("0 memories and 1 cluster"), "{message}");
    db.ok(&["migrate", "down", "--to", "0", "--yes"]);
    // An empty database reverts without --yes (every migration: the vector tables of 0002,
    // then the memories of 0001).
    init(db);
    let every = db.migrations().len().to_string();
    db.ok(&["migrate", "down", "--steps", &every]);
    assert!(!db.has_table("memories"));
}

/// `--database-url ''` is a usage error, not the default database.
#[test]
fn an_empty_dsn_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    for empty in ["", "  "] {
        let output = engram_at(dir.path(), empty, &["stats"]);
        assert_eq!(output.status.code(), Some(2), "{empty:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("the DSN is empty"), "{stderr}");
    }
    assert!(!dir.path().join("engram.db").exists(), "nothing is created");
}

/// A malformed DSN is never echoed with its password, whatever its shape.
#[test]
fn malformed_dsns_never_show_their_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    for dsn in [
        "postgres//engram:S3cr3tPw@127.0.0.1:5432/db",
        "postgres:/engram:S3cr3tPw@127.0.0.1:5432/db",
        "postgres:engram:S3cr3tPw@127.0.0.1:5432/db",
        "postgres:\\\\engram:S3cr3tPw@127.0.0.1:5432/db",
        "engram:S3cr3tPw@host/db",
        "engram/S3cr3tPw@db/engram",
        "S3cr3tPw@db/engram",
        "host=db password=S3cr3tPw",
        "postgres://engram@127.0.0.1:1/db?password=S3cr3tPw",
    ] {
        let output = engram_at(dir.path(), dsn, &["stats"]);
        assert_eq!(output.status.code(), Some(1), "{dsn}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stderr.contains("S3cr3tPw") && !stdout.contains("S3cr3tPw"),
            "{dsn}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{dsn}: {stderr}");
        if dsn.contains("://") && dsn.contains("password=") {
            assert!(
                stderr.contains("password=***'"),
                "the quote stays: {stderr}"
            );
        }
    }
}

/// Read commands work on a SQLite file the user may not write (no WAL switch attempted);
/// writes fail with one clear line. In a folder the user may not write either, where SQLite
/// cannot create the `-shm` index a WAL file is read through, the command fails with one line
/// saying what is needed. As root, the binary runs as `nobody`, for whom the modes apply.
#[test]
fn a_read_only_sqlite_database_can_be_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("ro");
    std::fs::create_dir(&folder).expect("mkdir");
    let db = folder.join("m.db");
    let url = format!("sqlite://{}", db.display());
    let bin = dir.path().join("engram");
    std::fs::copy(crate::common::BIN, &bin).expect("copy the binary");
    assert!(engram_at(dir.path(), &url, &["demo"]).status.success());
    let mode = |path: &std::path::Path, bits| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits)).expect("chmod")
    };
    mode(&db, 0o444);
    mode(&folder, 0o777);
    mode(dir.path(), 0o755);
    let run = |args: &[&str]| {
        let mut cmd = if engram_testkit::faults::running_as_root() {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", "nobody", "--"]).arg(&bin);
            cmd
        } else {
            std::process::Command::new(&bin)
        };
        cmd.current_dir(dir.path())
            .env("RUST_LOG", "error")
            .env_remove("ENGRAM_DATABASE_URL")
            .env_remove("DATABASE_URL")
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .expect("run engram")
    };
    for args in [
        &["stats"][..],
        &["query", "--format", "ids"],
        &["export"],
        &["migrate", "status"],
    ] {
        let output = run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
    let put = run(&["put", "--user", "u", "--content", "x"]);
    assert_eq!(put.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&put.stderr);
    assert!(stderr.contains("readonly database"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // The folder read-only too, and no -shm file left beside the database: say what is needed.
    for leftover in ["m.db-shm", "m.db-wal"] {
        let _ = std::fs::remove_file(folder.join(leftover));
    }
    mode(&folder, 0o555);
    let stats = run(&["stats"]);
    assert_eq!(stats.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&stats.stderr);
    assert!(
        stderr.contains("m.db-shm") && stderr.contains("make the folder writable"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    mode(&folder, 0o755);
}

/// A SQLite DSN's `?mode=` is an option, not part of the file name, and its path is
/// percent-decoded; unknown options are refused.
#[test]
fn sqlite_dsn_options_and_escapes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |url: &str, args: &[&str]| engram_at(dir.path(), url, args);
    let spaced = format!("sqlite://{}/with%20space.db", dir.path().display());
    assert!(run(&spaced, &["init-db"]).status.success());
    assert!(dir.path().join("with space.db").exists());
    assert!(run(&spaced, &["put", "--user", "u", "--content", "x"])
        .status
        .success());

    let read_only = format!("{spaced}?mode=ro");
    let stats = run(&read_only, &["query", "--count"]);
    assert_eq!(String::from_utf8_lossy(&stats.stdout), "1\n");
    let put = run(&read_only, &["put", "--user", "u", "--content", "y"]);
    assert_eq!(put.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&put.stderr).contains("readonly database"));

    let missing = format!("sqlite://{}/missing.db?mode=rw", dir.path().display());
    let refused = run(&missing, &["init-db"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("mode=rw opens only a file that exists")
    );
    let unknown = format!("{spaced}?cache=shared");
    let refused = run(&unknown, &["stats"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown SQLite option 'cache'"));

    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|name| !name.contains('?') && !name.contains('%')),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|name| name.starts_with("missing")),
        "{names:?}"
    );
}

/// Every command against a PostgreSQL server that accepts the connection and never answers
/// gives up after the DSN's `connect_timeout` with one line (no password), instead of hanging.
#[test]
fn a_silent_postgres_server_fails_within_connect_timeout() {
    let address = engram_testkit::faults::silent_server();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("postgres://u:S3cr3tPw@{address}/db?connect_timeout=2");
    for command in [
        &["stats"][..],
        &["query", "--count"],
        &["migrate", "status"],
    ] {
        let output = engram_at(dir.path(), &url, command);
        assert_eq!(output.status.code(), Some(1), "{command:?} hung or passed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("did not answer within 2s"), "{stderr}");
        assert!(!stderr.contains("S3cr3tPw"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// `export -o` through a symbolic link replaces the file the link names and keeps the link;
/// to a device such as `/dev/stdout` it writes in place.
#[test]
fn export_to_a_link_or_a_device() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("e.db").display());
    let run = |args: &[&str]| engram_at(dir.path(), &url, args);
    assert!(run(&["init-db"]).status.success());
    assert!(run(&["put", "--user", "u", "--content", "x"])
        .status
        .success());
    let real = dir.path().join("real.jsonl");
    let link = dir.path().join("link.jsonl");
    std::fs::write(&real, "old\n").expect("write");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    assert!(run(&["export", "-o", link.to_str().expect("path")])
        .status
        .success());
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    let written = std::fs::read_to_string(&real).expect("read");
    assert_eq!(written.lines().count(), 1);
    assert!(written.contains("\"content\":\"x\""), "{written}");

    let to_stdout = run(&["export", "-o", "/dev/stdout"]);
    assert!(to_stdout.status.success());
    assert!(String::from_utf8_lossy(&to_stdout.stdout).contains("\"content\":\"x\""));
}
