//! `engram query`: filters, order, paging, counting, and the four output formats.

use std::io::Write;

use engram::{MemoryQuery, Timestamp};
use engram_core::document;

use crate::args::{FilterArgs, QueryArgs, QueryFormat};
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::{output, pages};

/// `engram query …`
pub fn run(args: QueryArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
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

/// The query the filter flags describe (every memory when none is given).
pub fn filters(args: &FilterArgs) -> Result<MemoryQuery, CliError> {
    let mut query = MemoryQuery::new();
    query.user_id = args.user.clone();
    query.namespace = args.namespace.clone();
    query.thread_id = args.thread.clone();
    query.tiers = args.tiers.clone();
    query.summarized = args.summarized;
    query.related_to_any = args.related.clone();
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
