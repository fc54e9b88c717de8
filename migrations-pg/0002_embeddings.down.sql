-- engram 0002 down: removes embeddings and the store's dimensions (the pgvector extension
-- stays: other schemas may use it).
DROP TABLE IF EXISTS memory_embeddings;
DROP FUNCTION engram_enable_vectors();
DROP TABLE embedding_space;
DROP INDEX memories_user_thread_idx;
CREATE INDEX memories_user_thread_idx ON memories (user_id, thread_id);
DROP INDEX memories_user_tier_updated_idx;
CREATE INDEX memories_user_tier_updated_idx ON memories (user_id, tier, updated_at);
