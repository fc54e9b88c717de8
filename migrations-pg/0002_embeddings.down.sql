-- engram 0002 down: removes embeddings and the store's dimensions (the pgvector extension
-- stays: other schemas may use it).
DROP TABLE IF EXISTS memory_embeddings;
DROP FUNCTION engram_enable_vectors();
DROP TABLE embedding_space;
