//! `engram health`: the store's health report, and exit status 1 naming what needs attention.

use std::io::Write;

use engram::{Health, RelationKind};

use crate::args::{HealthArgs, OutputFormat};
use crate::database::{self, Access, Target};
use crate::error::{CliError, OutputResult};
use crate::output::{self, Table};

/// `engram health …`
pub fn run(args: HealthArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open(target, Access::Existing)?;
    let health = store.health()?;
    match args.format {
        OutputFormat::Json => output::json(out, &health)?,
        OutputFormat::Jsonl => output::json_line(out, &health)?,
        OutputFormat::Table => tables(out, &health)?,
    }
    if health.is_healthy() {
        Ok(())
    } else {
        Err(CliError::NeedsAttention(health.attention))
    }
}

/// The report as two tables: the checks, then every table and index.
fn tables(out: &mut dyn Write, health: &Health) -> Result<(), CliError> {
    let m = &health.migrations;
    let storage = &health.storage;
    let unknown = || "unknown (schema older than this engram)".to_string();
    let mut checks = Table::new(&["check", "state"]);
    checks.row(vec!["backend".into(), health.backend.to_string()]);
    checks.row(vec![
        "migrations".into(),
        match m.current {
            Some(current) => format!("at {current} of {}", m.latest),
            None => format!("none applied of {}", m.latest),
        },
    ]);
    checks.row(vec![
        "database".into(),
        format!("{} bytes", storage.database_bytes),
    ]);
    checks.row(vec![
        "write-ahead log".into(),
        storage
            .wal_bytes
            .map_or("not measured here".into(), |bytes| format!("{bytes} bytes")),
    ]);
    checks.row(vec![
        "integrity".into(),
        format!(
            "{}: {}",
            storage.integrity.checks.join(", "),
            match storage.integrity.problems.len() {
                0 => "ok".to_string(),
                n => output::plural(n as u64, "problem", "problems"),
            }
        ),
    ]);
    checks.row(vec![
        "containment index".into(),
        health.containment_index.map_or_else(unknown, |index| {
            let state = if index.is_sound() { "sound" } else { "unsound" };
            format!("{state}, {} queued", index.queued)
        }),
    ]);
    for (label, expired) in [
        ("expired memories, not swept", health.expired_memories),
        ("expired items, not swept", health.expired_items),
    ] {
        checks.row(vec![
            label.into(),
            expired.map_or_else(unknown, |e| {
                format!("{} ({} over a day ago)", e.unswept, e.overdue)
            }),
        ]);
    }
    checks.row(vec![
        "unused indexes".into(),
        if !storage.index_usage_tracked {
            "not tracked by this database".into()
        } else if storage.unused_indexes.is_empty() {
            "none".into()
        } else {
            storage.unused_indexes.join(", ")
        },
    ]);
    checks.write(out)?;
    writeln!(out).output()?;
    let mut relations = Table::new(&["relation", "kind", "table", "bytes", "total", "scans"]);
    for relation in &storage.relations {
        relations.row(vec![
            relation.name.clone(),
            match relation.kind {
                RelationKind::Table => "table".into(),
                RelationKind::Index => "index".into(),
            },
            relation.table.clone(),
            relation.bytes.to_string(),
            relation.total_bytes.to_string(),
            relation.scans.map_or("-".into(), |n| n.to_string()),
        ]);
    }
    relations.write(out)
}
