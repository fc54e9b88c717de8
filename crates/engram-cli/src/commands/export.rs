//! `engram export`: every field of the matching memories as JSON Lines, least recently updated first,
//! read page by page so that memory use does not grow with the database.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};

use engram::{MemoryQuery, Order, Store};

use crate::args::ExportArgs;
use crate::commands::query::filters;
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::{output, progress};

/// Memories read per query.
const PAGE_SIZE: u64 = 1000;

/// `engram export …`
pub fn run(args: ExportArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let query = filters(&args.filters)?;
    let store = database::open_for_data(target)?;
    match &args.output {
        None => {
            export(&store, query, out)?;
            Ok(())
        }
        Some(path) => {
            let file = File::create(path).map_err(|err| CliError::file("create", path, err))?;
            let mut writer = BufWriter::new(file);
            let count = export(&store, query, &mut writer)
                .and_then(|count| writer.flush().output().map(|()| count))
                .map_err(|err| match err {
                    CliError::Output(source) => CliError::file("write", path, source),
                    other => other,
                })?;
            writeln!(
                out,
                "exported {count} {} to {}",
                if count == 1 { "memory" } else { "memories" },
                path.display()
            )
            .output()
        }
    }
}

/// Writes the memories `query` matches, in `updated_at, id` order, one JSON object per
/// line; returns how many.
///
/// Pages are read by keyset on `updated_at` (served by the `(updated_at, id)` index): each
/// page starts at the last page's newest `updated_at`, passing over the rows with that timestamp
/// already written, so a page costs about the same at the end of a large table as at its
/// start.
fn export(store: &Store, query: MemoryQuery, out: &mut dyn Write) -> Result<u64, CliError> {
    let total = if std::io::stderr().is_terminal() {
        Some(store.count(query.clone())?)
    } else {
        None
    };
    let bar = progress::bar(total, "memories");
    let mut cursor = query.updated.from;
    let mut skip = 0;
    let mut written = 0;
    loop {
        let mut page_query = query.clone().order(Order::UpdatedAsc).limit(PAGE_SIZE);
        page_query.updated.from = cursor;
        page_query.offset = skip;
        let page = store.query(page_query)?;
        for memory in &page {
            output::json_line(out, memory)?;
        }
        written += page.len() as u64;
        bar.inc(page.len() as u64);
        let Some(last) = page.last() else { break };
        if (page.len() as u64) < PAGE_SIZE {
            break;
        }
        let ties = page
            .iter()
            .rev()
            .take_while(|m| m.updated_at == last.updated_at)
            .count() as u64;
        if cursor == Some(last.updated_at) {
            skip += ties;
        } else {
            cursor = Some(last.updated_at);
            skip = ties;
        }
    }
    bar.finish_and_clear();
    Ok(written)
}
