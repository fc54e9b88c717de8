-- engram 0003: the containment index (SQLite).
-- PostgreSQL answers `metadata @> filter` from a GIN index; these tables are engram's own
-- inverted index for SQLite, which serves metadata containment and related-threads any-of.
--
-- The keys: per memory, one key per path to a scalar of its metadata with the scalar's
-- value, one per path to a container with its type (array positions left out of paths),
-- and one per related thread; each the bytes of an unambiguous encoding, or a marked hash
-- of one longer than 64 bytes (engram-core's `index` module says why every memory that
-- contains a filter has all of the filter's keys, and when having them is enough). The
-- generated benchmark memories have 19 keys each. Measured before choosing: one B-tree row per (key,
-- memory) pair cost about 1-2 microseconds per pair to insert (about as much again as the
-- memory itself), so the refs that have a key are kept instead in chunks of 4,096, each
-- one row: a list of 2-byte offsets, or a 512-byte bitmap once that is shorter. A batch of
-- 1,000 memories then rewrites a few hundred small rows.
--
-- A memory's ref is a stable integer (`VACUUM` may renumber the implicit rowids of
-- `memories`, never an INTEGER PRIMARY KEY).
CREATE TABLE memory_index_refs (
    ref       INTEGER PRIMARY KEY,
    memory_id TEXT    NOT NULL UNIQUE
) STRICT;

-- The refs (chunk * 4096 + offset) that have a key. Ordered by chunk first: new memories
-- get the highest refs, so a batch of inserts rewrites rows at the end of the table only (a
-- few pages), where (key, chunk) order had it rewrite a page per key (measured: 70 % more
-- time per insert, most of it writing those pages to the WAL). A query reads a key's rows
-- chunk by chunk.
CREATE TABLE memory_index_postings (
    chunk INTEGER NOT NULL,
    key   BLOB    NOT NULL,
    refs  BLOB    NOT NULL CHECK (length(refs) BETWEEN 2 AND 512),
    PRIMARY KEY (chunk, key)
) STRICT, WITHOUT ROWID;

-- Which chunks hold a key: a query reads a key's rows through it, so a key few memories
-- have (a related thread, a value no memory has) costs a seek or two, not one per chunk.
-- Rewriting a chunk's refs leaves it alone; it changes only when a key enters or leaves
-- a chunk.
CREATE INDEX memory_index_postings_key_idx ON memory_index_postings (key);

-- What changed since the postings were brought up to date: a new memory (metadata and
-- related_threads NULL), or the values a memory had before an update or a delete. The
-- triggers below fill it on every update and delete, engram's or any other program's
-- (they need no function of engram's, so a `DELETE FROM memories` in the sqlite3 shell is
-- recorded too); engram applies it to the postings inside each of its write transactions.
-- Queries treat queued memories as candidates, so answers stay exact while anything is
-- queued. Inserts have no trigger: with one, SQLite keeps a statement journal of every
-- page each row's insert touches (measured: twice the time per insert). engram's insert
-- path indexes its rows itself, in the same transaction; a memory another program inserts
-- is not indexed until `engram migrate up` or `Store::update_index` (the index check
-- reports it).
CREATE TABLE memory_index_queue (
    seq             INTEGER PRIMARY KEY,
    ref             INTEGER NOT NULL,
    metadata        TEXT    NULL,
    related_threads TEXT    NULL
) STRICT;

CREATE TRIGGER memory_index_on_update AFTER UPDATE OF id, metadata, related_threads ON memories
WHEN old.id IS NOT new.id OR old.metadata IS NOT new.metadata
     OR old.related_threads IS NOT new.related_threads
BEGIN
    INSERT INTO memory_index_queue (ref, metadata, related_threads)
        SELECT ref, old.metadata, old.related_threads FROM memory_index_refs
        WHERE memory_id = old.id;
    UPDATE memory_index_refs SET memory_id = new.id WHERE memory_id = old.id;
END;

CREATE TRIGGER memory_index_on_delete AFTER DELETE ON memories
BEGIN
    INSERT INTO memory_index_queue (ref, metadata, related_threads)
        SELECT ref, old.metadata, old.related_threads FROM memory_index_refs
        WHERE memory_id = old.id;
    DELETE FROM memory_index_refs WHERE memory_id = old.id;
END;

-- The memories stored before this migration: a ref each, and each queued as new. The
-- migration itself is quick; engram computes their keys right after it (`engram migrate
-- up` and `init-db` with a progress bar, `Store::migrate` too), in batches, and any write
-- would. Until then every query treats them as candidates: still exact, not yet fast.
INSERT INTO memory_index_refs (memory_id) SELECT id FROM memories ORDER BY rowid;
INSERT INTO memory_index_queue (ref) SELECT ref FROM memory_index_refs ORDER BY ref;
