//! `engram demo`: a database with a few example memories, one containment query, one
//! similarity query, and what to try next. Idempotent: the examples have fixed ids and go
//! through `Store::import`.

use std::io::Write;

use engram::{
    Embedding, MemoryQuery, MemoryUpdate, NearestQuery, NewMemory, Store, Timestamp, VectorSupport,
};
use serde_json::json;
use uuid::Uuid;

use crate::database::{self, Access, DsnSource, Target};
use crate::error::{CliError, OutputResult};
use crate::output;

/// The query the demo runs, as a user would type it.
const DEMO_QUERY: &str = r#"engram query --user alice --where '{"tags":["preference"]}'"#;

/// The similarity query the demo runs, as a user would type it.
const SIMILARITY_QUERY: &str = "engram query --user alice --near '[1, 0, 0, 0]' --k 3";

/// The examples' embeddings have four hand-made axes: food, travel, work, health.
const AXES: [&str; 4] = ["food", "travel", "work", "health"];

/// The vector of the similarity query: all food.
const FOOD: [f32; 4] = [1.0, 0.0, 0.0, 0.0];

/// `engram demo`
pub fn run(target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open(target, Access::Create)?;
    let applied = store.migrate()?;
    let vectors = vectors_here(&store)?;
    let mut examples = examples()?;
    if vectors.is_err() {
        for example in &mut examples {
            example.embedding = None;
        }
    }
    let total = examples.len();
    let first_id = examples.first().and_then(|m| m.id);
    let inserted = store.import(examples.clone())?;
    let embedded = add_missing_embeddings(&store, &examples)?;

    writeln!(
        out,
        "engram demo on {} ({})",
        target.display(),
        store.kind()
    )
    .output()?;
    if applied.is_empty() {
        writeln!(out, "schema: up to date").output()?;
    } else {
        let versions: Vec<String> = applied.iter().map(|v| format!("{v:04}")).collect();
        writeln!(out, "schema: applied migration {}", versions.join(", ")).output()?;
    }
    writeln!(
        out,
        "examples: {total} memories, {inserted} new, {} already stored",
        total as u64 - inserted
    )
    .output()?;
    if embedded > 0 {
        writeln!(
            out,
            "embeddings: added to {} stored before engram had vectors",
            output::plural(embedded, "example", "examples")
        )
        .output()?;
    }
    writeln!(out).output()?;

    let query = MemoryQuery::new()
        .user("alice")
        .contains(json!({ "tags": ["preference"] }));
    let found = store.query(query)?;
    writeln!(
        out,
        "Alice's memories whose metadata contains {{\"tags\":[\"preference\"]}}:"
    )
    .output()?;
    writeln!(out, "$ {DEMO_QUERY}").output()?;
    output::memory_table(&found).write(out)?;
    writeln!(out).output()?;

    writeln!(
        out,
        "Alice's memories nearest to [1, 0, 0, 0] by cosine distance (the examples' axes: {}; \
         this vector is all {}):",
        AXES.join(", "),
        AXES[0]
    )
    .output()?;
    writeln!(out, "$ {SIMILARITY_QUERY}").output()?;
    match vectors {
        Ok(()) => {
            let query = NearestQuery::new(Embedding::new(FOOD.to_vec())?, 3)
                .filter(MemoryQuery::new().user("alice"));
            output::neighbour_table(&store.nearest(query)?).write(out)?;
        }
        Err(reason) => writeln!(out, "(skipped: {reason})").output()?,
    }
    writeln!(out).output()?;

    writeln!(out, "Try next:").output()?;
    if let Some(id) = first_id {
        writeln!(out, "  engram get {id} --with-embedding").output()?;
    }
    for line in [
        r#"engram query --user alice --where '{"trip":{"city":"Lisbon"}}' --format json"#,
        "engram query --tier long_term --format ids",
        "engram query --near '[0, 1, 0, 0]' --metric l2 --k 2 --format jsonl",
        "engram vectors status",
        "engram stats",
        "engram export > memories.jsonl",
        "engram policies run",
    ] {
        writeln!(out, "  {line}").output()?;
    }
    if target.source == DsnSource::Flag {
        writeln!(out, "(add the same --database-url to each)").output()?;
    }
    Ok(())
}

/// Whether the examples can have embeddings here: `Err` says why not (PostgreSQL without
/// pgvector; a store whose embeddings have other dimensions than the examples').
fn vectors_here(store: &Store) -> Result<Result<(), String>, CliError> {
    let dimensions = store.vector_dimensions()?;
    Ok(match store.vector_support()? {
        VectorSupport::Unavailable { reason } => {
            Err(format!("no vectors on this database: {reason}"))
        }
        VectorSupport::Available => match dimensions {
            Some(n) if n != AXES.len() => Err(format!(
                "this store's embeddings have {n} dimensions, the examples' {}",
                AXES.len()
            )),
            _ => Ok(()),
        },
    })
}

/// Gives their embeddings to the examples stored by a demo that had none (an engram from
/// before vectors); returns how many were given one. Examples stored with one are left as
/// they are, so this happens once.
fn add_missing_embeddings(store: &Store, examples: &[NewMemory]) -> Result<u64, CliError> {
    let mut added = 0;
    for example in examples {
        let (Some(id), Some(embedding)) = (example.id, &example.embedding) else {
            continue;
        };
        let stored = store.get_with_embedding(id)?;
        if stored.is_some_and(|memory| memory.embedding.is_none()) {
            store.update(id, MemoryUpdate::default().embedding(embedding.clone()))?;
            added += 1;
        }
    }
    Ok(added)
}

/// The example memories: two users, several tiers and threads, nested metadata, and small
/// embeddings on the four [`AXES`]. Fixed ids and timestamps make the demo store the same
/// rows every time.
fn examples() -> Result<Vec<NewMemory>, CliError> {
    let at = |text: &str| {
        Timestamp::parse_rfc3339(text).map_err(|err| CliError::invalid(err.to_string()))
    };
    let id = |n: u8| Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0000 | u128::from(n));
    let embedding = |values: [f32; 4]| Embedding::new(values.to_vec());
    Ok(vec![
        NewMemory::new("alice", "Prefers green tea, no sugar")
            .id(id(1))
            .thread("onboarding")
            .score(70)
            .metadata(json!({"topic": "food", "tags": ["tea", "preference"], "confidence": 0.9}))
            .embedding(embedding([0.9, 0.1, 0.0, 0.2])?)
            .at(at("2025-06-01T09:00:00Z")?, at("2025-06-01T09:00:00Z")?),
        NewMemory::new("alice", "Allergic to peanuts")
            .id(id(2))
            .thread("onboarding")
            .tier("long_term")
            .score(100)
            .metadata(json!({"topic": "health", "tags": ["allergy", "food"], "severity": "high"}))
            .embedding(embedding([0.6, 0.0, 0.0, 0.9])?)
            .at(at("2025-06-01T09:05:00Z")?, at("2025-06-01T09:05:00Z")?),
        NewMemory::new("alice", "Is planning a trip to Lisbon in May")
            .id(id(3))
            .thread("travel")
            .tier("mid_term")
            .metadata(json!({"topic": "travel", "tags": ["plan"], "trip": {"city": "Lisbon", "month": 5}}))
            .related_threads(["onboarding"])
            .embedding(embedding([0.1, 0.95, 0.1, 0.0])?)
            .at(at("2025-06-03T18:30:00Z")?, at("2025-06-10T08:00:00Z")?),
        NewMemory::new("alice", "Likes spicy Thai food")
            .id(id(4))
            .thread("travel")
            .score(60)
            .metadata(json!({"topic": "food", "tags": ["preference", "thai"]}))
            .embedding(embedding([0.85, 0.3, 0.0, 0.0])?)
            .at(at("2025-06-04T12:00:00Z")?, at("2025-06-04T12:00:00Z")?),
        NewMemory::new("bob", "Works on the data platform team")
            .id(id(5))
            .tier("long_term")
            .metadata(json!({"topic": "work", "tags": ["team"]}))
            .embedding(embedding([0.0, 0.0, 1.0, 0.0])?)
            .at(at("2025-05-20T10:00:00Z")?, at("2025-05-20T10:00:00Z")?),
        NewMemory::new("bob", "Drinks his coffee black")
            .id(id(6))
            .metadata(json!({"topic": "food", "tags": ["coffee", "preference"]}))
            .embedding(embedding([0.8, 0.0, 0.3, 0.1])?)
            .at(at("2025-06-02T07:45:00Z")?, at("2025-06-02T07:45:00Z")?),
    ])
}
