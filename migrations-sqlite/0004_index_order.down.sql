-- engram 0004 down: the containment index's refs without timestamps (SQLite).
DROP TRIGGER memory_index_on_times;
ALTER TABLE memory_index_refs DROP COLUMN updated_at;
ALTER TABLE memory_index_refs DROP COLUMN created_at;
