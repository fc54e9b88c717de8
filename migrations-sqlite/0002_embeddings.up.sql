-- engram 0002: embeddings (SQLite).
-- One embedding per memory at most, in a table of its own, so that scans of `memories`
-- never read them. An embedding is its f32 components as little-endian bytes; engram
-- computes pgvector's distances over them with the registered function
-- engram_vector_distance.

CREATE TABLE memory_embeddings (
    memory_id TEXT NOT NULL PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE,
    embedding BLOB NOT NULL
              CHECK (length(embedding) BETWEEN 4 AND 64000 AND length(embedding) % 4 = 0)
) STRICT;

-- The foreign key's cascade needs `PRAGMA foreign_keys = ON`, which engram sets on every
-- connection; this trigger removes the embedding on connections that do not (a raw
-- `DELETE FROM memories` in the sqlite3 shell), so that no embedding outlives its memory.
CREATE TRIGGER memory_embeddings_follow_deletes AFTER DELETE ON memories
BEGIN
    DELETE FROM memory_embeddings WHERE memory_id = old.id;
END;

-- The store's dimensions: fixed by the first embedding stored, the same for every
-- embedding after it (one row at most).
CREATE TABLE embedding_space (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    dimensions INTEGER NOT NULL CHECK (dimensions BETWEEN 1 AND 16000)
) STRICT;

-- A nearest-neighbour search filtered by user (or user and thread, or user and tier) joins
-- the matching memories to their embeddings by id: with id in the user indexes, the
-- memories are found from the index alone, without reading each row.
DROP INDEX memories_user_thread_idx;
CREATE INDEX memories_user_thread_idx ON memories (user_id, thread_id, id);
DROP INDEX memories_user_tier_updated_idx;
CREATE INDEX memories_user_tier_updated_idx ON memories (user_id, tier, updated_at, id);
