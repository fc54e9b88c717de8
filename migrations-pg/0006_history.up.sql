-- engram 0006: the change history of memories (PostgreSQL).
-- One row per change, appended by engram in the transaction of the change: what happened
-- (kind), each changed field before and after (changes), when (at) and who (actor, as the
-- caller named it). No foreign key: events outlive the memory they tell of.
CREATE TABLE memory_history (
    seq       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_id uuid        NOT NULL,
    kind      text        NOT NULL CHECK (kind IN ('insert', 'update', 'delete', 'expire', 'move',
                                                   'trim', 'retention')),
    changes   jsonb       NOT NULL CHECK (jsonb_typeof(changes) = 'object'),
    at        timestamptz NOT NULL,
    actor     text        NULL CHECK (char_length(actor) BETWEEN 1 AND 128)
);

-- A memory's events in order. Pruning by age reads the whole table: a rare job, which an
-- index on `at` would have made every write pay for.
CREATE INDEX memory_history_memory_idx ON memory_history (memory_id, seq);
