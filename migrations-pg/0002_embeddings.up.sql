-- engram 0002: embeddings (PostgreSQL, through the pgvector extension).
-- One embedding per memory at most, in a table of its own, so that scans of `memories`
-- never read them. A server without pgvector keeps working for everything else: the
-- embeddings table is made by engram_enable_vectors() only where pgvector can be enabled,
-- and `engram vectors enable` (Store::enable_vectors) calls it again once it can.

-- The store's dimensions: fixed by the first embedding stored, the same for every
-- embedding after it (one row at most).
CREATE TABLE embedding_space (
    id         smallint NOT NULL PRIMARY KEY CHECK (id = 1),
    dimensions integer  NOT NULL CHECK (dimensions BETWEEN 1 AND 16000)
);

-- Creates the pgvector extension (when the server has it and this user may) and the
-- embeddings table; returns whether the table exists afterwards.
CREATE FUNCTION engram_enable_vectors() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('memory_embeddings') IS NOT NULL THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
            RETURN false;
        END IF;
        BEGIN
            CREATE EXTENSION vector;
        EXCEPTION WHEN insufficient_privilege THEN
            RETURN false;
        END;
    END IF;
    CREATE TABLE memory_embeddings (
        memory_id uuid   NOT NULL PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE,
        embedding vector NOT NULL
    );
    RETURN true;
END
$$;

-- A nearest-neighbour search filtered by user (or user and thread, or user and tier) joins
-- the matching memories to their embeddings by id: with id in the user indexes, the
-- memories are found from the index alone, without reading each row.
-- (On a large table, building them holds a write lock for a while: run this migration at a
-- quiet time.)
DROP INDEX memories_user_thread_idx;
CREATE INDEX memories_user_thread_idx ON memories (user_id, thread_id, id);
DROP INDEX memories_user_tier_updated_idx;
CREATE INDEX memories_user_tier_updated_idx ON memories (user_id, tier, updated_at, id);

SELECT engram_enable_vectors();
