//! `engram put`, `get`, `delete` and `stats`: single memories and counts.

use std::io::{self, IsTerminal, Read, Write};

use engram::{NewMemory, Stats};
use engram_core::document;
use uuid::Uuid;

use crate::args::{DeleteArgs, GetArgs, HistoryArgs, OutputFormat, PutArgs, StatsArgs, SweepArgs};
use crate::commands::vectors;
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::output::{self, Table};

/// `engram put …`: stores one memory and prints its id.
pub fn put(args: PutArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let metadata = args
        .metadata
        .as_deref()
        .map(|text| document::parse_object(text, "metadata"))
        .transpose()?;
    if let Some(tier) = &args.tier {
        engram_core::validate::tier(tier)?;
    }
    if let Some(score) = args.score {
        engram_core::validate::score(score)?;
    }
    let embedding = args
        .embedding
        .as_deref()
        .map(|text| vectors::parse_embedding(text, "--embedding"))
        .transpose()?;
    let content = match args.content {
        Some(content) => content,
        None => read_stdin_content()?,
    };
    let mut memory = NewMemory::new(args.user, content).related_threads(args.related);
    memory.namespace = args.namespace;
    memory.thread_id = args.thread;
    memory.tier = args.tier;
    memory.score = args.score;
    memory.metadata = metadata;
    memory.id = args.id;
    memory.embedding = embedding;
    memory.expires_at = args
        .expires_at
        .as_deref()
        .map(engram::Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|err| CliError::invalid(format!("--expires-at: {err}")))?;
    memory.ttl_secs = args.ttl;
    let store = database::open_for_data(target)?;
    let id = match memory.id {
        None => store
            .insert(memory)
            .map(|stored| stored.id)
            .map_err(CliError::from),
        Some(id) => put_idempotent(&store, id, memory),
    }
    .map_err(|err| vectors::name_the_flag(err, "--embedding"))?;
    writeln!(out, "{id}").output()
}

/// Stores `memory` under the caller's `id`, unless a memory with that id is already stored
/// with the same fields, its embedding included (a retry of the same `put`): then nothing is
/// written and the command still succeeds. A stored memory with other fields is a conflict.
fn put_idempotent(store: &engram::Store, id: Uuid, memory: NewMemory) -> Result<Uuid, CliError> {
    let wanted = engram_core::validate::new_memory(memory.clone(), engram::Timestamp::now())?;
    if store.import(vec![memory])? == 1 {
        return Ok(id);
    }
    let same = store
        .get_with_embedding(id)?
        .is_some_and(|stored| stored.same_apart_from_times(&wanted));
    if same {
        tracing::info!(%id, "memory already stored with these fields; nothing written");
        Ok(id)
    } else {
        Err(engram::Error::Conflict {
            what: "memory",
            detail: format!("{id} is stored with other fields"),
        }
        .into())
    }
}

/// Standard input, less one trailing newline (`echo text | engram put …`).
fn read_stdin_content() -> Result<String, CliError> {
    if io::stdin().is_terminal() {
        eprintln!("reading the content from standard input (end it with Ctrl-D)");
    }
    let mut content = String::new();
    io::stdin()
        .lock()
        .read_to_string(&mut content)
        .map_err(CliError::Stdin)?;
    if content.ends_with('\n') {
        content.pop();
        if content.ends_with('\r') {
            content.pop();
        }
    }
    Ok(content)
}

/// A memory id from the command line.
fn parse_id(text: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(text.trim())
        .map_err(|err| CliError::invalid(format!("invalid id '{text}': not a UUID ({err})")))
}

/// `engram get ID`
pub fn get(args: GetArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let id = parse_id(&args.id)?;
    let store = database::open_for_data(target)?;
    let memory = if args.with_embedding {
        store.get_with_embedding(id)?
    } else {
        store.get(id)?
    };
    let memory = memory.ok_or_else(|| engram::Error::NotFound {
        what: "memory",
        id: id.to_string(),
    })?;
    match args.format {
        OutputFormat::Table => output::memory_fields(out, &memory, args.with_embedding),
        OutputFormat::Json => output::json(out, &memory),
        OutputFormat::Jsonl => output::json_line(out, &memory),
    }
}

/// `engram sweep`: deletes expired memories and prints how many.
pub fn sweep(args: SweepArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open_for_data(target)?;
    let sweep = store.sweep(args.batch_size)?;
    writeln!(
        out,
        "swept {} expired memories in {} transactions",
        sweep.deleted, sweep.batches
    )
    .output()?;
    // Items expire too; a line for them only when there were any.
    let items = store.sweep_items(args.batch_size)?;
    if items.deleted > 0 {
        writeln!(
            out,
            "swept {} expired items in {} transactions",
            items.deleted, items.batches
        )
        .output()?;
    }
    Ok(())
}

/// `engram history ID` (or `--prune-before T`): a memory's events, oldest first.
pub fn history(args: HistoryArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open_for_data(target)?;
    if let Some(before) = &args.prune_before {
        let before = engram::Timestamp::parse_rfc3339(before)
            .map_err(|err| CliError::invalid(format!("--prune-before: {err}")))?;
        let pruned = store.prune_history(before)?;
        return writeln!(out, "pruned {pruned} history events").output();
    }
    let id = parse_id(args.id.as_deref().unwrap_or_default())?;
    let events = store.history(id)?;
    match args.format {
        OutputFormat::Json => output::json(out, &events),
        OutputFormat::Jsonl => events
            .iter()
            .try_for_each(|event| output::json_line(out, event)),
        OutputFormat::Table => {
            let mut table = Table::new(&["seq", "at", "kind", "actor", "changes"]);
            for event in &events {
                table.row(vec![
                    event.seq.to_string(),
                    event.at.to_string(),
                    event.kind.as_str().to_string(),
                    event.actor.clone().unwrap_or_default(),
                    event.changes.to_string(),
                ]);
            }
            table.write(out)
        }
    }
}

/// `engram delete ID`
pub fn delete(args: DeleteArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let id = parse_id(&args.id)?;
    let store = database::open_for_data(target)?;
    if !store.delete(id)? {
        return Err(engram::Error::NotFound {
            what: "memory",
            id: id.to_string(),
        }
        .into());
    }
    writeln!(out, "deleted {id}").output()
}

/// `engram stats …`
pub fn stats(args: StatsArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open_for_data(target)?;
    let stats = store.stats(args.user.as_deref())?;
    match args.format {
        OutputFormat::Json => output::json(out, &stats),
        OutputFormat::Jsonl => output::json_line(out, &stats),
        OutputFormat::Table => stats_tables(out, &stats),
    }
}

fn stats_tables(out: &mut dyn Write, stats: &Stats) -> Result<(), CliError> {
    let mut tiers = Table::new(&["tier", "memories"]);
    for (tier, count) in &stats.per_tier {
        tiers.row(vec![tier.clone(), count.to_string()]);
    }
    tiers.row(vec!["total".into(), stats.total.to_string()]);
    tiers.write(out)?;
    if stats.per_user.is_empty() {
        return Ok(());
    }
    writeln!(out).output()?;
    let mut users = Table::new(&["user", "tier", "memories"]);
    for (user, per_tier) in &stats.per_user {
        for (tier, count) in per_tier {
            users.row(vec![user.clone(), tier.clone(), count.to_string()]);
        }
    }
    users.write(out)
}
