-- engram 0005 down: memories without expiry (SQLite). Expiry times are lost.
DROP INDEX memories_expires_idx;
ALTER TABLE memories DROP COLUMN expires_at;
