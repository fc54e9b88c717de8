-- engram 0006 down: no change history (PostgreSQL). The events are lost.
DROP TABLE memory_history;
