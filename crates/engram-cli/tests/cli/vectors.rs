//! Embeddings through the binary: `put --embedding`, `get --with-embedding`, `query --near`,
//! export and import of embeddings, the `vectors` commands and the demo's similarity query.
//!
//! The cases run on both backends; on PostgreSQL they need pgvector on the test server.

#![deny(dead_code)]

use engram_testkit::TestDb;
use serde_json::Value;

use crate::common::{id, RunEngram};

engram_testkit::cross_backend!(
    put_and_get_round_trip_an_embedding,
    bad_embeddings_fail_in_one_line,
    nearest_come_in_rank_order_with_their_distances,
    export_and_import_keep_embeddings_exactly,
    a_demo_from_before_vectors_gets_embeddings,
);

/// On PostgreSQL the vector cases need pgvector on the test server: without it they fail
/// saying how to get it.
fn require_vectors(db: &TestDb) {
    if db.kind() == engram_testkit::BackendKind::Postgres {
        engram_testkit::postgres::require_pgvector();
    }
}

fn init(db: &TestDb) {
    require_vectors(db);
    db.ok(&["init-db"]);
}

/// Stores memory `n` of `user` with `embedding` (none when empty) and `metadata`.
fn put(db: &TestDb, n: u32, user: &str, embedding: &str, metadata: &str) {
    let memory_id = id(n);
    let content = format!("memory {n}");
    let mut args = vec![
        "put",
        "--id",
        &memory_id,
        "--user",
        user,
        "--content",
        &content,
        "--metadata",
        metadata,
    ];
    if !embedding.is_empty() {
        args.extend(["--embedding", embedding]);
    }
    assert_eq!(db.ok(&args), format!("{memory_id}\n"));
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON output")
}

/// `put --embedding` stores it; `get --with-embedding` shows it (JSON: the array; table: its
/// dimensions and first components); plain `get` leaves it out; a retried `put --id`
/// compares the embedding too.
pub fn put_and_get_round_trip_an_embedding(db: &TestDb) {
    init(db);
    let memory_id = id(1);
    let put = [
        "put",
        "--id",
        &memory_id,
        "--user",
        "u",
        "--content",
        "tea",
        "--embedding",
        "[0.1, 0.9, 0]",
    ];
    assert_eq!(db.ok(&put), format!("{memory_id}\n"));

    let full = json(&db.ok(&["get", &memory_id, "--with-embedding", "--format", "json"]));
    assert_eq!(full["embedding"].to_string(), "[0.1,0.9,0.0]");
    let plain = json(&db.ok(&["get", &memory_id, "--format", "json"]));
    assert!(plain.get("embedding").is_none(), "{plain}");
    let table = db.ok(&["get", &memory_id, "--with-embedding"]);
    assert!(
        table.contains("embedding:       3 dimensions [0.1, 0.9, 0]"),
        "{table}"
    );
    assert!(!db.ok(&["get", &memory_id]).contains("embedding"));

    // A retry with the same embedding succeeds; another embedding, or none, is a conflict.
    assert_eq!(db.ok(&put), format!("{memory_id}\n"), "the retry succeeds");
    let mut other = put;
    other[8] = "[0.1, 0.9, 0.5]";
    assert!(db.fail(&other).contains("already exists"));
    assert!(db.fail(&put[..7]).contains("already exists"));
    assert_eq!(db.ok(&["query", "--count"]), "1\n");

    // A memory without an embedding shows "-" where the embedding would be.
    let bare = db.ok(&["put", "--user", "u", "--content", "no vector"]);
    let table = db.ok(&["get", bare.trim(), "--with-embedding"]);
    assert!(table.contains("embedding:       -"), "{table}");
}

/// A bad `--embedding` is exit 1 with one line naming the flag and what was wrong, and
/// nothing is stored; so is one whose dimensions differ from the store's, and a `--near`
/// vector of other dimensions.
pub fn bad_embeddings_fail_in_one_line(db: &TestDb) {
    init(db);
    let put = |embedding: &str| {
        db.fail(&[
            "put",
            "--user",
            "u",
            "--content",
            "c",
            "--embedding",
            embedding,
        ])
    };
    for (embedding, reason) in [
        ("[]", "must have at least 1 dimension"),
        (r#"["a"]"#, "component 0 is not a number"),
        ("[1e39]", "component 0 is infinite"),
        ("[1, 2", "not valid JSON"),
        (r#"{"x": 1}"#, "must be a JSON array of numbers"),
    ] {
        let message = put(embedding);
        assert!(
            message.starts_with("error: --embedding: ") && message.contains(reason),
            "{embedding}: {message}"
        );
    }
    assert_eq!(db.ok(&["query", "--count"]), "0\n");

    put_memory_with(db, "[1, 0, 0]");
    let message = put("[1, 0]");
    assert!(
        message.starts_with("error: --embedding: ")
            && message.contains("has 2 dimensions")
            && message.contains("have 3"),
        "{message}"
    );
    let with_id = db.fail(&[
        "put",
        "--id",
        &id(9),
        "--user",
        "u",
        "--content",
        "c",
        "--embedding",
        "[1, 0, 0, 0]",
    ]);
    assert!(
        with_id.starts_with("error: --embedding: ") && with_id.contains("has 4 dimensions"),
        "{with_id}"
    );
    assert_eq!(db.ok(&["query", "--count"]), "1\n");

    let message = db.fail(&["query", "--near", "[1, 0]"]);
    assert!(
        message.starts_with("error: --near: ") && message.contains("has 2 dimensions"),
        "{message}"
    );
    let message = db.fail(&["query", "--near", "[]"]);
    assert!(
        message.starts_with("error: --near: ") && message.contains("at least 1 dimension"),
        "{message}"
    );
}

fn put_memory_with(db: &TestDb, embedding: &str) {
    db.ok(&[
        "put",
        "--user",
        "u",
        "--content",
        "c",
        "--embedding",
        embedding,
    ]);
}

/// `query --near` ranks the memories the filters match (only those with an embedding) by
/// distance, ties by id, in every format; the zero vector's cosine distance is NaN (`null`
/// in JSON, `NaN` in the table) and ranks last; `--offset` pages the ranking; `--near`
/// refuses `--order`, `--limit` and `--count`, and `--k`, `--metric`, `--approximate` need
/// `--near`.
pub fn nearest_come_in_rank_order_with_their_distances(db: &TestDb) {
    init(db);
    put(db, 1, "a", "[1, 0, 0]", r#"{"keep":true}"#);
    put(db, 2, "a", "[0, 1, 0]", r#"{"keep":true}"#);
    put(db, 3, "a", "[1, 1, 0]", r#"{"keep":false}"#);
    put(db, 4, "a", "[0, 0, 0]", r#"{"keep":true}"#);
    put(db, 5, "a", "", r#"{"keep":true}"#);
    put(db, 6, "b", "[1, 0, 0]", r#"{"keep":true}"#);
    let ids = |numbers: &[u32]| numbers.iter().map(|&n| id(n)).collect::<Vec<_>>();
    let near = |extra: &[&str]| {
        let mut args = vec!["--user", "a", "--near", "[1, 0, 0]"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run_ids = |extra: &[&str]| {
        let args = near(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        db.ids(&args)
    };

    // Cosine (the default): 0, 1 - 1/sqrt(2), 1, then the zero vector's NaN.
    assert_eq!(run_ids(&[]), ids(&[1, 3, 2, 4]));
    assert_eq!(run_ids(&["--k", "2"]), ids(&[1, 3]));
    assert_eq!(run_ids(&["--k", "2", "--offset", "1"]), ids(&[3, 2]));
    assert_eq!(run_ids(&["--offset", "4"]), Vec::<String>::new());
    assert_eq!(run_ids(&["--where", r#"{"keep":true}"#]), ids(&[1, 2, 4]));
    assert_eq!(
        run_ids(&["--approximate"]),
        ids(&[1, 3, 2, 4]),
        "exact here"
    );
    // L2: 0, then 1 for both 3 and the zero vector (tie: by id), then sqrt(2).
    assert_eq!(run_ids(&["--metric", "l2"]), ids(&[1, 3, 4, 2]));
    // Negative inner product: -1, -1, 0, 0.
    assert_eq!(run_ids(&["--metric", "inner"]), ids(&[1, 3, 2, 4]));

    let mut args = vec!["query".to_string()];
    args.extend(near(&["--format", "jsonl"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let lines: Vec<Value> = db.ok(&args).lines().map(json).collect();
    let got: Vec<(String, Value)> = lines
        .iter()
        .map(|line| {
            (
                line["id"].as_str().expect("id").to_string(),
                line["distance"].clone(),
            )
        })
        .collect();
    let half = 1.0 - 1.0 / 2f64.sqrt();
    assert_eq!(got[0], (id(1), Value::from(0.0)));
    assert_eq!(got[1].0, id(3));
    let second = got[1].1.as_f64().expect("a number");
    assert!((second - half).abs() < 1e-6, "{second}");
    assert_eq!(got[2], (id(2), Value::from(1.0)));
    assert_eq!(got[3], (id(4), Value::Null), "NaN is null in JSON");
    assert_eq!(
        lines[0]["content"], "memory 1",
        "the memory's fields are there"
    );
    assert!(lines[0].get("embedding").is_none());

    let mut args = vec!["query".to_string()];
    args.extend(near(&["--metric", "l2", "--format", "json"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let array = json(&db.ok(&args));
    let distances: Vec<Value> = array
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|m| m["distance"].clone())
        .collect();
    assert_eq!(
        distances,
        [0.0, 1.0, 1.0, 2f64.sqrt()].map(Value::from).to_vec()
    );

    let mut args = vec!["query".to_string()];
    args.extend(near(&[]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let table = db.ok(&args);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("distance  id"), "{table}");
    assert!(rows[1].starts_with("0.000000  "), "{table}");
    assert!(
        rows[4].starts_with("NaN") && rows[4].contains(&id(4)),
        "{table}"
    );
    assert_eq!(rows.len(), 5, "{table}");
    assert_eq!(
        db.ok(&["query", "--user", "nobody", "--near", "[1, 0, 0]"]),
        "no memories with an embedding match\n"
    );

    for conflicting in [
        &["--near", "[1,0,0]", "--order", "created-asc"][..],
        &["--near", "[1,0,0]", "--limit", "2"],
        &["--near", "[1,0,0]", "--count"],
        &["--k", "2"],
        &["--metric", "l2"],
        &["--approximate"],
    ] {
        let mut args = vec!["query"];
        args.extend_from_slice(conflicting);
        db.usage_error(&args);
    }
}

/// An export carries every embedding, and importing it gives back the same 32-bit floats:
/// exported again, the lines are the same text. A bad embedding in an import names its line.
pub fn export_and_import_keep_embeddings_exactly(db: &TestDb) {
    init(db);
    // The nearest f32s: 0.1, the smallest subnormal, the largest finite, minus zero,
    // 2^24 (16777217 rounds to even), a third, the smallest normal, 7.
    let tricky = "[0.1, 1e-45, 3.4028235e38, -0, 16777217, 0.333333343, 1.17549435e-38, 7]";
    put(db, 1, "u", tricky, "{}");
    put(db, 2, "u", "[1, 2, 3, 4, 5, 6, 7, 8]", "{}");
    put(db, 3, "u", "", "{}");
    let first = db.ok(&["export"]);
    let lines: Vec<Value> = first.lines().map(json).collect();
    assert_eq!(lines.len(), 3);
    let expected: [f32; 8] = [
        0.1,
        1e-45,
        f32::MAX,
        -0.0,
        16_777_216.0,
        1.0 / 3.0,
        f32::MIN_POSITIVE,
        7.0,
    ];
    let exported: Vec<u32> = lines[0]["embedding"]
        .as_array()
        .expect("an embedding array")
        .iter()
        .map(|v| v.to_string().parse::<f32>().expect("a float").to_bits())
        .collect();
    assert_eq!(exported, expected.map(f32::to_bits).to_vec());
    assert!(
        lines[2].get("embedding").is_none(),
        "no embedding, no field"
    );

    let file = db.path("export.jsonl");
    std::fs::write(&file, &first).expect("write export");
    for n in 1..=3 {
        db.ok(&["delete", &id(n)]);
    }
    let report = db.ok(&["import", file.to_str().expect("path")]);
    assert!(report.contains("3 memories read, 3 inserted"), "{report}");
    assert_eq!(db.ok(&["export"]), first, "the same text, bit for bit");
    let got = json(&db.ok(&["get", &id(1), "--with-embedding", "--format", "json"]));
    assert_eq!(got["embedding"], lines[0]["embedding"]);

    // Bad embeddings name their line; nothing of the batch is written.
    for (line, reason) in [
        (
            r#"{"user_id":"u","content":"c","embedding":["a"]}"#,
            "component 0 is not a number",
        ),
        (
            r#"{"user_id":"u","content":"c","embedding":[1, 2]}"#,
            "has 2 dimensions, but this store's embeddings have 8",
        ),
    ] {
        let text = format!("{{\"user_id\":\"u\",\"content\":\"fine\"}}\n{line}\n");
        let message = db.fail_stdin(&["import", "-"], &text);
        assert!(
            message.contains("line 2") && message.contains(reason),
            "{message}"
        );
    }
    // Within one file, the first embedding fixes the dimensions for the lines after it.
    db.ok(&["migrate", "down", "--to", "1", "--yes"]);
    db.ok(&["migrate", "up"]);
    let text = concat!(
        r#"{"user_id":"u","content":"a","embedding":[1, 2, 3]}"#,
        "\n",
        r#"{"user_id":"u","content":"b","embedding":[1, 2]}"#,
        "\n"
    );
    let message = db.fail_stdin(&["import", "-"], text);
    assert!(
        message.contains("line 2")
            && message.contains("has 2 dimensions, but the embedding on line 1 has 3"),
        "{message}"
    );
    assert_eq!(db.ok(&["query", "--count"]), "3\n");
}

/// A demo database made before vectors (its examples stored without embeddings) gets the
/// examples' embeddings when the demo runs again, once; the similarity query then finds
/// alice's food memories first.
pub fn a_demo_from_before_vectors_gets_embeddings(db: &TestDb) {
    require_vectors(db);
    let first = db.ok(&["demo"]);
    assert!(!first.contains("embeddings: added"), "{first}");
    // Reverting to before the vector migration leaves the examples without embeddings.
    db.ok(&["migrate", "down", "--to", "1", "--yes"]);
    let again = db.ok(&["demo"]);
    assert!(
        again.contains("examples: 6 memories, 0 new, 6 already stored")
            && again.contains("embeddings: added to 6 examples stored before engram had vectors"),
        "{again}"
    );
    let similar = again
        .split("$ engram query --user alice --near")
        .nth(1)
        .expect("the similarity query");
    let rows: Vec<&str> = similar.lines().skip(2).take(3).collect();
    assert!(
        rows[0].contains("Prefers green tea")
            && rows[1].contains("Likes spicy Thai food")
            && rows[2].contains("Allergic to peanuts"),
        "{similar}"
    );
    let third = db.ok(&["demo"]);
    assert!(!third.contains("embeddings: added"), "{third}");
}

/// `vectors status` on SQLite: the backend, "none yet" then the dimensions, vectors always
/// available; `vectors enable` has nothing to do; `vectors create-index` is exit 1 with
/// one line saying SQLite searches exactly; `vectors drop-index` finds none.
#[test]
fn the_vectors_commands_on_sqlite() {
    let db = TestDb::sqlite();
    init(&db);
    let status = db.ok(&["vectors", "status"]);
    assert_eq!(
        status,
        "backend:     SQLite\ndimensions:  none yet\nvectors:     available (SQLite always searches exactly)\n"
    );
    let status = json(&db.ok(&["vectors", "status", "--format", "json"]));
    assert_eq!(
        status,
        serde_json::json!({"backend": "sqlite", "dimensions": null,
                           "vectors_enabled": true, "reason": null})
    );
    put_memory_with(&db, "[1, 0, 0]");
    assert!(db.ok(&["vectors", "status"]).contains("dimensions:  3\n"));
    assert!(db.ok(&["vectors", "enable"]).contains("available"));

    let message = db.fail(&["vectors", "create-index"]);
    assert!(
        message.contains("SQLite always searches exactly"),
        "{message}"
    );
    let message = db.fail(&["vectors", "create-index", "--metric", "l2", "--m", "1"]);
    assert!(message.contains("invalid m"), "{message}");
    let message = db.fail(&[
        "vectors",
        "create-index",
        "--m",
        "16",
        "--ef-construction",
        "20",
    ]);
    assert!(message.contains("invalid ef_construction"), "{message}");
    assert_eq!(
        db.ok(&["vectors", "drop-index", "--metric", "inner"]),
        "there was no approximate inner index\n"
    );
    db.usage_error(&["vectors", "create-index", "--metric", "dot"]);
}

/// On a PostgreSQL database without pgvector (here: the extension dropped after the
/// migrations, as on a server that lacks it), every vector command fails with exit 1 and one
/// line saying what is missing, while everything else works (the demo skips its similarity
/// query).
#[test]
fn postgres_without_pgvector_says_so_in_one_line() {
    let db = TestDb::postgres();
    db.ok(&["init-db"]);
    assert!(db
        .ok(&["vectors", "status"])
        .contains("vectors:     enabled"));
    db.execute("DROP TABLE memory_embeddings; DROP EXTENSION vector");
    let status = db.ok(&["vectors", "status"]);
    assert!(
        status.starts_with("backend:     PostgreSQL\ndimensions:  none yet\n"),
        "{status}"
    );
    assert!(
        status.contains("vectors:     not enabled: ") && status.contains("pgvector"),
        "{status}"
    );
    let status = json(&db.ok(&["vectors", "status", "--format", "json"]));
    assert_eq!(status["vectors_enabled"], false);
    assert!(status["reason"]
        .as_str()
        .is_some_and(|r| r.contains("pgvector")));
    for args in [
        &[
            "put",
            "--user",
            "u",
            "--content",
            "c",
            "--embedding",
            "[1, 0]",
        ][..],
        &["query", "--near", "[1, 0]"],
        &["vectors", "create-index"],
    ] {
        let message = db.fail(args);
        assert!(message.contains("pgvector"), "{args:?}: {message}");
    }
    db.ok(&["put", "--user", "u", "--content", "no vector"]);
    assert_eq!(db.ok(&["query", "--count"]), "1\n");
    assert!(db
        .ok(&["get", &db.ids(&[])[0], "--with-embedding"])
        .contains("embedding:       -"));
    assert_eq!(db.ok(&["export"]).lines().count(), 1);
    let demo = db.ok(&["demo"]);
    assert!(
        demo.contains("(skipped: no vectors on this database: "),
        "{demo}"
    );
}

/// The vector examples of the help texts run, on the demo's database.
#[test]
fn the_vector_examples_of_the_help_run() {
    let db = TestDb::sqlite();
    db.ok(&["demo"]);
    let bin_dir = std::path::Path::new(crate::common::BIN)
        .parent()
        .expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for command in [
        &["--help"][..],
        &["put", "--help"],
        &["query", "--help"],
        &["vectors", "status", "--help"],
        &["vectors", "enable", "--help"],
        &["vectors", "create-index", "--help"],
        &["vectors", "drop-index", "--help"],
    ] {
        let help = db.ok(command);
        let examples = help
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("engram ") || line.starts_with("echo "))
            .filter(|line| {
                ["--near", "--embedding", "vectors "]
                    .iter()
                    .any(|w| line.contains(w))
            })
            // An approximate index is PostgreSQL's: on SQLite it is exit 1, tested above.
            .filter(|line| !line.contains("create-index"));
        for example in examples {
            let output = std::process::Command::new("sh")
                .args(["-c", example])
                .current_dir(db.dir())
                .env("PATH", &path)
                .env("ENGRAM_DATABASE_URL", db.dsn())
                .env("RUST_LOG", "warn")
                .output()
                .expect("run sh");
            crate::common::expect_success(&[example], &output);
            ran += 1;
        }
    }
    assert!(ran >= 8, "{ran} examples ran");
}
