-- engram 0005: memories may expire (PostgreSQL).
-- expires_at is NULL for a memory that does not expire. Every read leaves out memories with
-- expires_at <= now; a sweep deletes them.
ALTER TABLE memories ADD COLUMN expires_at timestamptz NULL;

-- Sweeps (expires_at <= now, oldest first) read only the memories that expire: a partial
-- index stays as small as they are.
CREATE INDEX memories_expires_idx ON memories (expires_at) WHERE expires_at IS NOT NULL;
