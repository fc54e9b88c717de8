-- engram 0003 down: removes the containment index (SQLite).
DROP TRIGGER memory_index_on_delete;
DROP TRIGGER memory_index_on_update;
DROP TABLE memory_index_queue;
DROP TABLE memory_index_postings;
DROP TABLE memory_index_refs;
