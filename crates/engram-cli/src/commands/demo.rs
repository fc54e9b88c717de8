//! `engram demo`: a database with a few example memories, one containment query, and what
//! to try next. Idempotent: the examples have fixed ids and go through `Store::import`.

use std::io::Write;

use engram::{MemoryQuery, NewMemory, Timestamp};
use serde_json::json;
use uuid::Uuid;

use crate::database::{self, Access, DsnSource, Target};
use crate::error::{CliError, OutputResult};
use crate::output;

/// The query the demo runs, as a user would type it.
const DEMO_QUERY: &str = r#"engram query --user alice --where '{"tags":["preference"]}'"#;

/// `engram demo`
pub fn run(target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open(target, Access::Create)?;
    let applied = store.migrate()?;
    let examples = examples()?;
    let total = examples.len();
    let first_id = examples.first().and_then(|m| m.id);
    let inserted = store.import(examples)?;

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

    writeln!(out, "Try next:").output()?;
    if let Some(id) = first_id {
        writeln!(out, "  engram get {id}").output()?;
    }
    for line in [
        r#"engram query --user alice --where '{"trip":{"city":"Lisbon"}}' --format json"#,
        "engram query --tier long_term --format ids",
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

/// The example memories: two users, several tiers and threads, nested metadata. Fixed ids
/// and timestamps make the demo store the same rows every time.
fn examples() -> Result<Vec<NewMemory>, CliError> {
    let at = |text: &str| {
        Timestamp::parse_rfc3339(text).map_err(|err| CliError::invalid(err.to_string()))
    };
    let id = |n: u8| Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0000 | u128::from(n));
    Ok(vec![
        NewMemory::new("alice", "Prefers green tea, no sugar")
            .id(id(1))
            .thread("onboarding")
            .score(70)
            .metadata(json!({"topic": "food", "tags": ["tea", "preference"], "confidence": 0.9}))
            .at(at("2025-06-01T09:00:00Z")?, at("2025-06-01T09:00:00Z")?),
        NewMemory::new("alice", "Allergic to peanuts")
            .id(id(2))
            .thread("onboarding")
            .tier("long_term")
            .score(100)
            .metadata(json!({"topic": "health", "tags": ["allergy", "food"], "severity": "high"}))
            .at(at("2025-06-01T09:05:00Z")?, at("2025-06-01T09:05:00Z")?),
        NewMemory::new("alice", "Is planning a trip to Lisbon in May")
            .id(id(3))
            .thread("travel")
            .tier("mid_term")
            .metadata(json!({"topic": "travel", "tags": ["plan"], "trip": {"city": "Lisbon", "month": 5}}))
            .related_threads(["onboarding"])
            .at(at("2025-06-03T18:30:00Z")?, at("2025-06-10T08:00:00Z")?),
        NewMemory::new("alice", "Likes spicy Thai food")
            .id(id(4))
            .thread("travel")
            .score(60)
            .metadata(json!({"topic": "food", "tags": ["preference", "thai"]}))
            .at(at("2025-06-04T12:00:00Z")?, at("2025-06-04T12:00:00Z")?),
        NewMemory::new("bob", "Works on the data platform team")
            .id(id(5))
            .tier("long_term")
            .metadata(json!({"topic": "work", "tags": ["team"]}))
            .at(at("2025-05-20T10:00:00Z")?, at("2025-05-20T10:00:00Z")?),
        NewMemory::new("bob", "Drinks his coffee black")
            .id(id(6))
            .metadata(json!({"topic": "food", "tags": ["coffee", "preference"]}))
            .at(at("2025-06-02T07:45:00Z")?, at("2025-06-02T07:45:00Z")?),
    ])
}
