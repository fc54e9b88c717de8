-- engram 0002 down: removes embeddings and the store's dimensions.
DROP TRIGGER memory_embeddings_follow_deletes;
DROP TABLE memory_embeddings;
DROP TABLE embedding_space;
