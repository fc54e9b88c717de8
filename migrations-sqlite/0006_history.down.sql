-- engram 0006 down: no change history (SQLite). The events are lost.
DROP TABLE memory_history;
