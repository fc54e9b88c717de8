-- engram 0006: the change history of memories (SQLite).
-- One row per change, appended by engram in the transaction of the change: what happened
-- (kind), each changed field before and after (changes, a JSON object), when (at, INTEGER
-- microseconds since the Unix epoch) and who (actor, as the caller named it). No foreign key:
-- events outlive the memory they tell of.
CREATE TABLE memory_history (
    seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT    NOT NULL CHECK (length(memory_id) = 36),
    kind      TEXT    NOT NULL CHECK (kind IN ('insert', 'update', 'delete', 'expire', 'move',
                                               'trim', 'retention')),
    -- A JSON object engram writes; checked by its first character, since parsing each
    -- event again (json_type) cost inserts about a tenth of their time.
    changes   TEXT    NOT NULL CHECK (substr(changes, 1, 1) = '{'),
    at        INTEGER NOT NULL,
    actor     TEXT    NULL CHECK (length(actor) BETWEEN 1 AND 128)
) STRICT;

-- A memory's events in order. Pruning by age reads the whole table: a rare job, which an
-- index on `at` would have made every write pay for.
CREATE INDEX memory_history_memory_idx ON memory_history (memory_id, seq);
