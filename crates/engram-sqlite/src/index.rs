//! The containment index on SQLite: its posting chunks, bringing it up to date inside every
//! write transaction, the candidates it gives a query, and the check that recomputes it.
//!
//! The tables (migrations 0003 and 0004) are:
//!
//! - `memory_index_refs`: a stable integer `ref` per memory (`VACUUM` may renumber the
//!   implicit rowids of `memories`, never an `INTEGER PRIMARY KEY`), with copies of the
//!   memory's `created_at` and `updated_at` (kept equal by a trigger) by which a page of
//!   exact candidates is sorted without reading their rows;
//! - `memory_index_postings`: per key ([`engram_core::index`]) and chunk of 4,096 refs, the
//!   refs that have the key, as a list of offsets or a bitmap ([`Chunk`]);
//! - `memory_index_queue`: what changed since the postings were last brought up to date.
//!   Triggers on `memories` fill it with the old metadata and related threads of every
//!   update and delete, engram's or any other program's; [`apply_queue`] empties it inside
//!   each of engram's write transactions. engram's inserts are indexed at once
//!   ([`index_inserted`]); memories other programs insert, by [`queue_unindexed`].
//!
//! A query reads the postings of its filter's keys and adds every queued ref (whose
//! postings may be stale) to the candidates; the exact matcher then checks each candidate
//! in the same statement, unless the keys decide containment and nothing is queued
//! ([`engram_core::index::keys_decide`]), so answers are exact whether or not the queue is
//! empty.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use rusqlite::types::Value as SqlValue;
use rusqlite::vtab::array::Array;
use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;
use serde_json::Value;

use engram_core::index::{for_each_memory_key, memory_keys, IndexCheck, IndexKey};
use engram_core::Memory;

use crate::sql;

/// Refs per chunk: 2^12, so that a chunk's bitmap is 512 bytes.
const CHUNK_BITS: u32 = 12;
const CHUNK_REFS: usize = 1 << CHUNK_BITS;
const BITMAP_BYTES: usize = CHUNK_REFS / 8;
/// A chunk of fewer refs than this is a list of 2-byte offsets (shorter than the bitmap).
const LIST_LIMIT: usize = BITMAP_BYTES / 2;

/// A memory's stable number in the index.
pub type Ref = i64;

fn chunk_of(reference: Ref) -> (i64, u16) {
    (
        reference >> CHUNK_BITS,
        (reference & (CHUNK_REFS as i64 - 1)) as u16,
    )
}

/// The refs of one chunk that have one key, as sorted offsets within the chunk.
///
/// Stored as the offsets' little-endian `u16`s when there are fewer than [`LIST_LIMIT`],
/// else as a bitmap of [`BITMAP_BYTES`] bytes (bit `i % 8` of byte `i / 8` for offset `i`);
/// the length tells which.
#[derive(Debug, Default, PartialEq, Eq)]
struct Chunk(Vec<u16>);

impl Chunk {
    fn decode(blob: &[u8]) -> Chunk {
        if blob.len() == BITMAP_BYTES {
            let mut offsets = Vec::new();
            for (byte_index, &byte) in blob.iter().enumerate() {
                let mut bits = byte;
                while bits != 0 {
                    let bit = bits.trailing_zeros() as usize;
                    offsets.push((byte_index * 8 + bit) as u16);
                    bits &= bits - 1;
                }
            }
            Chunk(offsets)
        } else {
            Chunk(
                blob.chunks_exact(2)
                    .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                    .collect(),
            )
        }
    }

    fn encode(&self) -> Vec<u8> {
        if self.0.len() < LIST_LIMIT {
            self.0
                .iter()
                .flat_map(|offset| offset.to_le_bytes())
                .collect()
        } else {
            let mut bitmap = vec![0u8; BITMAP_BYTES];
            for &offset in &self.0 {
                bitmap[usize::from(offset) / 8] |= 1 << (offset % 8);
            }
            bitmap
        }
    }

    /// Adds and removes offsets (each list sorted); a removal wins over an addition.
    fn apply(&mut self, add: &[u16], remove: &[u16]) {
        let mut merged = Vec::with_capacity(self.0.len() + add.len());
        let (mut left, mut right) = (self.0.iter().peekable(), add.iter().peekable());
        loop {
            let next = match (left.peek(), right.peek()) {
                (Some(&&l), Some(&&r)) if l < r => left.next().copied(),
                (Some(&&l), Some(&&r)) if l > r => right.next().copied(),
                (Some(_), Some(_)) => {
                    right.next();
                    left.next().copied()
                }
                (Some(_), None) => left.next().copied(),
                (None, Some(_)) => right.next().copied(),
                (None, None) => break,
            };
            if let Some(offset) = next {
                if remove.binary_search(&offset).is_err() {
                    merged.push(offset);
                }
            }
        }
        self.0 = merged;
    }
}

/// Whether the database has the index (a schema from before migration 0003 has not).
pub fn exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(sql::INDEX_EXISTS)?.exists([])
}

/// Changes to the postings, gathered before they are written: per chunk and key, the
/// offsets added and removed. A key is copied once per chunk, not once per memory.
#[derive(Default)]
struct Changes(FxHashMap<i64, FxHashMap<IndexKey, OffsetChanges>>);

/// The offsets of one chunk added to a key's postings and removed from them.
type OffsetChanges = (Vec<u16>, Vec<u16>);

impl Changes {
    fn record(&mut self, reference: Ref, key: &[u8], added: bool) {
        let (chunk, offset) = chunk_of(reference);
        let of_chunk = self.0.entry(chunk).or_default();
        if !of_chunk.contains_key(key) {
            of_chunk.insert(key.to_vec(), Default::default());
        }
        if let Some((add, remove)) = of_chunk.get_mut(key) {
            if added {
                add.push(offset);
            } else {
                remove.push(offset);
            }
        }
    }
}

/// Indexes memories just inserted (their metadata and related threads): gives each a ref
/// and adds it to the postings of its keys. The insert path calls this instead of a
/// trigger: a trigger on INSERT makes SQLite keep a statement journal for every row
/// (measured: twice the time per insert), where the update and delete triggers cost one
/// statement each. Does nothing on a schema without the index.
pub fn index_inserted<'a>(
    tx: &Connection,
    memories: impl IntoIterator<Item = &'a Memory>,
) -> rusqlite::Result<()> {
    if !exists(tx)? {
        return Ok(());
    }
    let mut add_ref = tx.prepare_cached(sql::ADD_REF)?;
    let mut changes = Changes::default();
    for memory in memories {
        add_ref.execute(params![
            memory.id.to_string(),
            memory.created_at.as_micros(),
            memory.updated_at.as_micros()
        ])?;
        let reference: Ref = tx.last_insert_rowid();
        for_each_memory_key(&memory.metadata, &memory.related_threads, |key| {
            changes.record(reference, key, true)
        });
    }
    apply_changes(tx, changes)
}

/// Brings the postings up to date with every queued change, and empties the queue; returns
/// how many changes it applied. Does nothing on a schema without the index.
pub fn apply_queue(tx: &Connection) -> rusqlite::Result<u64> {
    apply_queue_limited(tx, i64::MAX)
}

/// [`apply_queue`] for at most `limit` queued changes (the oldest); returns how many.
pub fn apply_queue_limited(tx: &Connection, limit: i64) -> rusqlite::Result<u64> {
    if !exists(tx)? {
        return Ok(0);
    }
    // The first queued change of a ref holds the values its postings reflect (none for a
    // new memory); the memory as it is now (none once deleted) is what they must reflect.
    let mut indexed: BTreeMap<Ref, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut current: HashMap<Ref, Option<String>> = HashMap::new();
    let mut last_seq = None;
    {
        let mut queued = tx.prepare_cached(sql::QUEUED_CHANGES)?;
        let mut rows = queued.query([limit])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let reference: Ref = row.get(1)?;
            last_seq = Some(seq);
            indexed
                .entry(reference)
                .or_insert((row.get(2)?, row.get(3)?));
            current.insert(reference, row.get(4)?);
        }
    }
    let Some(last_seq) = last_seq else {
        return Ok(0);
    };
    let mut read_memory = tx.prepare_cached(sql::INDEXED_VALUES)?;
    let mut changes = Changes::default();
    for (&reference, (old_metadata, old_threads)) in &indexed {
        let before = match (old_metadata, old_threads) {
            (Some(metadata), Some(threads)) => stored_keys(metadata, threads)?,
            _ => Vec::new(),
        };
        let after = match current.get(&reference).cloned().flatten() {
            None => Vec::new(),
            Some(memory_id) => match read_memory
                .query_row([&memory_id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .optional()?
            {
                Some((metadata, threads)) => stored_keys(&metadata, &threads)?,
                None => Vec::new(),
            },
        };
        for key in difference(&after, &before) {
            changes.record(reference, key, true);
        }
        for key in difference(&before, &after) {
            changes.record(reference, key, false);
        }
    }
    apply_changes(tx, changes)?;
    let applied = tx.prepare_cached(sql::DEQUEUE)?.execute([last_seq])?;
    Ok(applied as u64)
}

/// Writes `changes` to the postings, each chunk row read and written once, in the order of
/// the table.
fn apply_changes(tx: &Connection, changes: Changes) -> rusqlite::Result<()> {
    let mut chunks: Vec<_> = changes.0.into_iter().collect();
    chunks.sort_unstable_by_key(|(chunk, _)| *chunk);
    let mut read = tx.prepare_cached(sql::READ_CHUNKS)?;
    let mut write = tx.prepare_cached(sql::WRITE_CHUNK)?;
    let mut delete = tx.prepare_cached(sql::DELETE_CHUNK)?;
    for (chunk, of_chunk) in chunks {
        let mut of_chunk: Vec<_> = of_chunk.into_iter().collect();
        of_chunk.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // One statement reads the chunk's rows of every changed key: a statement per key
        // cost more than the rest of the indexing of a batch (a thousand memories change
        // about seven hundred rows).
        let keys: Array = Rc::new(
            of_chunk
                .iter()
                .map(|(key, _)| SqlValue::Blob(key.clone()))
                .collect(),
        );
        let mut stored: FxHashMap<IndexKey, Chunk> = FxHashMap::default();
        let mut rows = read.query(params![chunk, keys])?;
        while let Some(row) = rows.next()? {
            stored.insert(row.get(0)?, Chunk::decode(row.get_ref(1)?.as_blob()?));
        }
        drop(rows);
        for (key, (mut add, mut remove)) in of_chunk {
            add.sort_unstable();
            add.dedup();
            remove.sort_unstable();
            let mut postings = stored.remove(&key).unwrap_or_default();
            postings.apply(&add, &remove);
            if postings.0.is_empty() {
                delete.execute(params![chunk, key])?;
            } else {
                write.execute(params![chunk, key, postings.encode()])?;
            }
        }
    }
    Ok(())
}

/// The keys of stored metadata and related threads (JSON text as engram writes it).
fn stored_keys(metadata: &str, related_threads: &str) -> rusqlite::Result<Vec<IndexKey>> {
    let metadata: Value = serde_json::from_str(metadata).map_err(stored_json_error)?;
    let threads: Vec<String> = serde_json::from_str(related_threads).map_err(stored_json_error)?;
    Ok(memory_keys(&metadata, &threads))
}

fn stored_json_error(err: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
}

/// The keys of `left` that are not in `right` (both sorted).
fn difference<'a>(
    left: &'a [IndexKey],
    right: &'a [IndexKey],
) -> impl Iterator<Item = &'a [u8]> + 'a {
    left.iter()
        .filter(|key| right.binary_search(key).is_err())
        .map(Vec::as_slice)
}

/// Gives every memory without a ref one and queues it as new: memories another program
/// inserted (engram's insert path indexes its own rows at once); returns how many.
pub fn queue_unindexed(tx: &Connection) -> rusqlite::Result<u64> {
    if !exists(tx)? {
        return Ok(0);
    }
    let refs = tx
        .prepare_cached(sql::REF_UNINDEXED)?
        .query_map([], |row| row.get::<_, Ref>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut queue = tx.prepare_cached(sql::QUEUE_NEW)?;
    for &reference in &refs {
        queue.execute([reference])?;
    }
    Ok(refs.len() as u64)
}

/// How many queued changes there are.
pub fn queued(conn: &Connection) -> rusqlite::Result<u64> {
    if !exists(conn)? {
        return Ok(0);
    }
    conn.prepare_cached(sql::COUNT_QUEUED)?
        .query_row([], |row| row.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// What the index gives a query: the refs that may match, sorted.
pub struct Candidates {
    pub refs: Vec<Ref>,
    /// Whether queued changes were added (their postings may be stale): then the refs may
    /// include memories that do not match even where the keys decide.
    pub queued: bool,
}

/// Takes out of `refs` the memories that have expired at `at` (the plan's
/// [`engram_core::plan::Condition::LiveAt`]), read from the partial index of memories that
/// expire.
pub fn leave_out_expired(
    conn: &Connection,
    refs: &mut Vec<Ref>,
    at: engram_core::Timestamp,
) -> rusqlite::Result<()> {
    let expired = conn
        .prepare_cached(sql::EXPIRED_REFS)?
        .query_map([at.as_micros()], |row| row.get::<_, Ref>(0))?
        .collect::<rusqlite::Result<HashSet<Ref>>>()?;
    if !expired.is_empty() {
        refs.retain(|r| !expired.contains(r));
    }
    Ok(())
}

/// The refs whose postings have every key of `all_of` (none: every ref) and at least one
/// key of `any_of` (none: no condition), plus every queued ref. `None` when neither list
/// has a key (the index cannot narrow anything).
///
/// With `cap`, a single key's postings are read only until there are more than `cap` refs:
/// then `None` too, the caller having said that so many candidates would not be used.
pub fn candidates(
    conn: &Connection,
    all_of: &[IndexKey],
    any_of: &[IndexKey],
    cap: Option<usize>,
) -> rusqlite::Result<Option<Candidates>> {
    if all_of.is_empty() && any_of.is_empty() {
        return Ok(None);
    }
    if let (Some(cap), [key], []) | (Some(cap), [], [key]) = (cap, all_of, any_of) {
        if postings(conn, key, None, Some(cap))?.len() > cap {
            return Ok(None);
        }
    }
    let mut found: Option<Vec<Ref>> = None;
    for key in all_of {
        // After the first key, only the chunks that still hold a candidate are read.
        let refs = postings(conn, key, found.as_deref(), None)?;
        found = Some(match found {
            None => refs,
            Some(so_far) => intersection(&so_far, &refs),
        });
        if found.as_ref().is_some_and(Vec::is_empty) {
            break;
        }
    }
    if !any_of.is_empty() && found.as_ref().is_none_or(|refs| !refs.is_empty()) {
        let mut union = Vec::new();
        for key in any_of {
            union.extend(postings(conn, key, found.as_deref(), None)?);
        }
        union.sort_unstable();
        union.dedup();
        found = Some(match found {
            None => union,
            Some(so_far) => intersection(&so_far, &union),
        });
    }
    let mut found = found.unwrap_or_default();
    let mut queued = conn.prepare_cached(sql::QUEUED_REFS)?;
    let pending = queued
        .query_map([], |row| row.get::<_, Ref>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let queued = !pending.is_empty();
    if queued {
        found.extend(pending);
        found.sort_unstable();
        found.dedup();
    }
    Ok(Some(Candidates {
        refs: found,
        queued,
    }))
}

/// Every ref that has `key`, sorted; only in the chunks of `within` (sorted refs) when given,
/// and only until there are more than `limit` when given.
fn postings(
    conn: &Connection,
    key: &[u8],
    within: Option<&[Ref]>,
    limit: Option<usize>,
) -> rusqlite::Result<Vec<Ref>> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut refs = Vec::new();
    let (mut by_key, mut in_chunks);
    let mut rows = match within {
        None => {
            by_key = conn.prepare_cached(sql::READ_POSTINGS)?;
            by_key.query(params![key])?
        }
        Some(within) => {
            in_chunks = conn.prepare_cached(sql::READ_POSTINGS_IN)?;
            in_chunks.query(params![key, chunks_of(within)])?
        }
    };
    while let Some(row) = rows.next()? {
        let base = row.get::<_, i64>(0)? << CHUNK_BITS;
        let offsets = Chunk::decode(row.get_ref(1)?.as_blob()?);
        refs.extend(offsets.0.into_iter().map(|offset| base + i64::from(offset)));
        if refs.len() > limit {
            break;
        }
    }
    Ok(refs)
}

/// The chunks `refs` (sorted) fall in, for [`postings`].
fn chunks_of(refs: &[Ref]) -> Array {
    let mut chunks: Vec<SqlValue> = Vec::new();
    let mut last = None;
    for &reference in refs {
        let chunk = reference >> CHUNK_BITS;
        if last != Some(chunk) {
            chunks.push(SqlValue::Integer(chunk));
            last = Some(chunk);
        }
    }
    Rc::new(chunks)
}

fn intersection(left: &[Ref], right: &[Ref]) -> Vec<Ref> {
    let (small, large) = if left.len() <= right.len() {
        (left, right)
    } else {
        (right, left)
    };
    small
        .iter()
        .copied()
        .filter(|r| large.binary_search(r).is_ok())
        .collect()
}

/// Recomputes the keys of every memory and compares them with the postings.
pub fn check(conn: &Connection) -> rusqlite::Result<IndexCheck> {
    if !exists(conn)? {
        return Ok(IndexCheck::default());
    }
    let pending: HashSet<Ref> = conn
        .prepare_cached(sql::QUEUED_REFS)?
        .query_map([], |row| row.get::<_, Ref>(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut expected: HashSet<(IndexKey, Ref)> = HashSet::new();
    {
        let mut all = conn.prepare(sql::ALL_INDEXED_VALUES)?;
        let mut rows = all.query([])?;
        while let Some(row) = rows.next()? {
            let reference: Ref = row.get(0)?;
            if pending.contains(&reference) {
                continue;
            }
            let keys = stored_keys(&row.get::<_, String>(1)?, &row.get::<_, String>(2)?)?;
            expected.extend(keys.into_iter().map(|key| (key, reference)));
        }
    }
    let count = |statement: &str| -> rusqlite::Result<u64> {
        conn.query_row(statement, [], |row| row.get::<_, i64>(0))
            .map(|n| n as u64)
    };
    let mut report = IndexCheck {
        missing: count(sql::MEMORIES_WITHOUT_REF)?,
        extra: count(sql::REFS_WITHOUT_MEMORY)?,
        queued: pending.len() as u64,
        stale_times: count(sql::REFS_WITH_OTHER_TIMES)?,
    };
    let mut all = conn.prepare(sql::ALL_POSTINGS)?;
    let mut rows = all.query([])?;
    while let Some(row) = rows.next()? {
        let base = row.get::<_, i64>(0)? << CHUNK_BITS;
        let key: IndexKey = row.get(1)?;
        for offset in Chunk::decode(row.get_ref(2)?.as_blob()?).0 {
            let reference = base + i64::from(offset);
            if pending.contains(&reference) {
                continue;
            }
            // Each expected pair is found once; a second time (an offset stored twice in
            // a chunk) is extra.
            if expected.remove(&(key.clone(), reference)) {
                continue;
            }
            report.extra += 1;
        }
    }
    report.missing += expected.len() as u64;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_as_lists_and_bitmaps() {
        for count in [0usize, 1, 2, LIST_LIMIT - 1, LIST_LIMIT, 1000, CHUNK_REFS] {
            let offsets: Vec<u16> = (0..count)
                .map(|i| (i * CHUNK_REFS / count.max(1)) as u16)
                .collect();
            let chunk = Chunk(offsets.clone());
            let blob = chunk.encode();
            assert!(blob.len() <= BITMAP_BYTES, "{count}");
            assert_eq!(blob.len() == BITMAP_BYTES, count >= LIST_LIMIT, "{count}");
            assert_eq!(Chunk::decode(&blob), chunk, "{count}");
        }
    }

    #[test]
    fn apply_merges_additions_and_removals() {
        let mut chunk = Chunk(vec![1, 5, 9]);
        chunk.apply(&[0, 5, 7, 10], &[7, 9]);
        assert_eq!(chunk, Chunk(vec![0, 1, 5, 10]));
        chunk.apply(&[], &[0, 1, 5, 10]);
        assert!(chunk.0.is_empty());
    }

    #[test]
    fn refs_split_into_chunk_and_offset() {
        assert_eq!(chunk_of(0), (0, 0));
        assert_eq!(chunk_of(4095), (0, 4095));
        assert_eq!(chunk_of(4096), (1, 0));
        assert_eq!(chunk_of((7 << 12) + 3), (7, 3));
    }
}
