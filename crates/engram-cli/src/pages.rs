//! Reads every result of a query page by page, so that commands printing all matches
//! (`export`, `query --format ids|jsonl`) hold one page in memory, not the whole result.
//!
//! Pages are read by keyset on the order's timestamp (served by the same indexes as the
//! query): each page starts at the previous page's last timestamp, passing over the rows with
//! that timestamp already read, so a page costs about the same at the end of a large table as
//! at its start. Rows written while the pages are read may or may not be included.

use engram::{Memory, MemoryQuery, Order, Store, TimeRange, Timestamp};

use crate::error::CliError;

/// Memories read per query.
pub const PAGE_SIZE: u64 = 1000;

/// Calls `each` with the results of `query` in its order, a page at a time, honouring its
/// limit and offset; returns how many memories were read.
pub fn for_each_page(
    store: &Store,
    query: &MemoryQuery,
    mut each: impl FnMut(&[Memory]) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let mut remaining = query.limit;
    let mut cursor: Option<Timestamp> = None;
    let mut skip = query.offset;
    let mut read = 0;
    loop {
        let want = remaining.map_or(PAGE_SIZE, |left| left.min(PAGE_SIZE));
        if want == 0 {
            break;
        }
        let mut page_query = query.clone().limit(want);
        page_query.offset = skip;
        if let Some(at) = cursor {
            start_at(&mut page_query, at);
        }
        let page = store.query(page_query)?;
        each(&page)?;
        let got = page.len() as u64;
        read += got;
        remaining = remaining.map(|left| left - got);
        let Some(last) = page.last() else { break };
        if got < want {
            break;
        }
        let last_key = key(query.order, last);
        let ties = page
            .iter()
            .rev()
            .take_while(|memory| key(query.order, memory) == last_key)
            .count() as u64;
        skip = if cursor == Some(last_key) {
            skip + ties
        } else if cursor.is_none() && query.offset > 0 && ties == got {
            // The whole first page has one key, whose rows may have begun before the offset:
            // count the rows strictly before that key to know how many of its rows have been
            // read. (A page with several keys holds the start of its last key's rows.)
            let mut before = query.clone();
            before.limit = None;
            before.offset = 0;
            end_before(&mut before, last_key);
            // Rows written meanwhile can make that count larger than what was read; then
            // the page restarts at the key (rows may repeat: no snapshot is promised).
            (query.offset + got).saturating_sub(store.count(before)?)
        } else {
            ties
        };
        cursor = Some(last_key);
    }
    Ok(read)
}

/// The timestamp `order` sorts by.
fn key(order: Order, memory: &Memory) -> Timestamp {
    match order {
        Order::UpdatedDesc | Order::UpdatedAsc => memory.updated_at,
        Order::CreatedDesc | Order::CreatedAsc => memory.created_at,
    }
}

/// The range `order` sorts by, and whether it ascends.
fn sorted_range(query: &mut MemoryQuery) -> (&mut TimeRange, bool) {
    match query.order {
        Order::UpdatedDesc => (&mut query.updated, false),
        Order::UpdatedAsc => (&mut query.updated, true),
        Order::CreatedDesc => (&mut query.created, false),
        Order::CreatedAsc => (&mut query.created, true),
    }
}

fn later(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.max(b)))
}

fn earlier(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn next_micro(at: Timestamp) -> Timestamp {
    Timestamp::from_micros(at.as_micros().saturating_add(1))
}

/// Narrows `query` to the rows at or after `at` in its order.
fn start_at(query: &mut MemoryQuery, at: Timestamp) {
    match sorted_range(query) {
        (range, true) => range.from = later(range.from, at),
        (range, false) => range.until = earlier(range.until, next_micro(at)),
    }
}

/// Narrows `query` to the rows strictly before `at` in its order.
fn end_before(query: &mut MemoryQuery, at: Timestamp) {
    match sorted_range(query) {
        (range, true) => range.until = earlier(range.until, at),
        (range, false) => range.from = later(range.from, next_micro(at)),
    }
}
