//! `engram query`: filters, order, paging, counting, nearest neighbours (`--near`), and the
//! four output formats.

use std::io::Write;

use engram::{MemoryQuery, NearestQuery, Timestamp};
use engram_core::document;

use crate::args::{FilterArgs, QueryArgs, QueryFormat};
use crate::commands::vectors;
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::{output, pages};

/// How many neighbours `query --near` returns without `--k`.
const DEFAULT_K: u64 = 10;

/// `engram query …`
pub fn run(args: QueryArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(near) = &args.near {
        return nearest(&args, near, target, out);
    }
    let mut query = filters(&args.filters)?.order(args.order.into());
    query.limit = args.limit;
    query.offset = args.offset;
    let store = database::open_for_data(target)?;
    if args.count {
        let count = store.count(query)?;
        return match args.format {
            QueryFormat::Json | QueryFormat::Jsonl => {
                output::json_line(out, &serde_json::json!({ "count": count }))
            }
            QueryFormat::Table | QueryFormat::Ids => writeln!(out, "{count}").output(),
        };
    }
    // Scripts' formats stream page by page; the table and the JSON array need every row.
    match args.format {
        QueryFormat::Jsonl => pages::for_each_page(&store, &query, |page| {
            page.iter()
                .try_for_each(|memory| output::json_line(out, memory))
        })
        .map(drop),
        QueryFormat::Ids => pages::for_each_page(&store, &query, |page| {
            page.iter()
                .try_for_each(|memory| writeln!(out, "{}", memory.id).output())
        })
        .map(drop),
        QueryFormat::Json => output::json(out, &store.query(query)?),
        QueryFormat::Table => {
            let memories = store.query(query)?;
            if memories.is_empty() {
                return writeln!(out, "no memories match").output();
            }
            output::memory_table(&memories).write(out)
        }
    }
}

/// `engram query --near VECTOR …`: the k nearest among the memories the filters match, in
/// rank order (`k` rows at most, so no paging is needed).
fn nearest(
    args: &QueryArgs,
    near: &str,
    target: &Target,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let vector = vectors::parse_embedding(near, "--near")?;
    let mut query = NearestQuery::new(vector, args.k.unwrap_or(DEFAULT_K))
        .offset(args.offset)
        .filter(filters(&args.filters)?);
    if let Some(metric) = args.metric {
        query = query.metric(metric.into());
    }
    if args.approximate {
        query = query.approximate();
    }
    let store = database::open_for_data(target)?;
    let neighbours = store
        .nearest(query)
        .map_err(|err| vectors::name_the_flag(err.into(), "--near"))?;
    match args.format {
        QueryFormat::Ids => neighbours
            .iter()
            .try_for_each(|n| writeln!(out, "{}", n.memory.id).output()),
        QueryFormat::Jsonl => neighbours
            .iter()
            .try_for_each(|n| output::json_line(out, &output::RankedMemory::from(n))),
        QueryFormat::Json => {
            let ranked: Vec<output::RankedMemory<'_>> =
                neighbours.iter().map(output::RankedMemory::from).collect();
            output::json(out, &ranked)
        }
        QueryFormat::Table => {
            if neighbours.is_empty() {
                return writeln!(out, "no memories with an embedding match").output();
            }
            output::neighbour_table(&neighbours).write(out)
        }
    }
}

/// The query the filter flags describe (every memory when none is given).
pub fn filters(args: &FilterArgs) -> Result<MemoryQuery, CliError> {
    let mut query = MemoryQuery::new();
    query.user_id = args.user.clone();
    query.namespace = args.namespace.clone();
    query.thread_id = args.thread.clone();
    query.tiers = args.tiers.clone();
    query.summarized = args.summarized;
    query.related_to_any = args.related.clone();
    if let Some(text) = &args.filter {
        let filter = document::parse(text, "--filter")?;
        query.metadata_filter = Some(engram::Filter::parse(&filter, "--filter")?);
    }
    if let Some(text) = &args.where_json {
        query.metadata_contains = Some(document::parse_object(text, "--where filter")?);
    }
    query.created.from = time(args.created_from.as_deref(), "--created-from")?;
    query.created.until = time(args.created_until.as_deref(), "--created-until")?;
    query.updated.from = time(args.updated_from.as_deref(), "--updated-from")?;
    query.updated.until = time(args.updated_until.as_deref(), "--updated-until")?;
    for tier in &query.tiers {
        engram_core::validate::tier(tier)?;
    }
    Ok(query)
}

fn time(value: Option<&str>, flag: &str) -> Result<Option<Timestamp>, CliError> {
    value
        .map(|text| {
            Timestamp::parse_rfc3339(text)
                .and_then(|t| t.validate(flag))
                .map_err(|err| CliError::invalid(format!("{flag}: {err}")))
        })
        .transpose()
}
