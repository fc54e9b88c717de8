-- engram 0002 down: removes embeddings and the store's dimensions.
DROP TRIGGER memory_embeddings_follow_deletes;
DROP TABLE memory_embeddings;
DROP TABLE embedding_space;
DROP INDEX memories_user_thread_idx;
CREATE INDEX memories_user_thread_idx ON memories (user_id, thread_id);
DROP INDEX memories_user_tier_updated_idx;
CREATE INDEX memories_user_tier_updated_idx ON memories (user_id, tier, updated_at);
