-- engram 0003: the containment index (PostgreSQL).
-- On SQLite this migration creates engram's own inverted index for metadata containment
-- and related-threads any-of. PostgreSQL has one already: the GIN index on metadata
-- (jsonb_path_ops) of 0001 serves `metadata @> filter`, and its GIN index on
-- related_threads (jsonb_ops) serves `related_threads ?| ids`. Nothing changes here; the
-- migration exists so that both dialects have the same versions.
SELECT 1;
