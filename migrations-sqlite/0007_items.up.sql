-- engram 0007: items, a namespaced key-value store beside the memories (SQLite).
-- namespace is the labels joined by '.' (a label has no '.'); a namespace prefix is a range
-- of the primary key: 'a.b' itself and 'a.b.' up to 'a.b/'. Times are INTEGER microseconds
-- since the Unix epoch; value is JSON text of an object.
CREATE TABLE items (
    namespace  TEXT    NOT NULL CHECK (length(namespace) > 0),
    key        TEXT    NOT NULL CHECK (length(key) > 0),
    value      TEXT    NOT NULL CHECK (json_type(value) = 'object'),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NULL,
    -- The time to live it was put with, in microseconds: a read that refreshes the expiry
    -- moves it to then plus this.
    ttl_micros INTEGER NULL CHECK (ttl_micros >= 0),
    PRIMARY KEY (namespace, key)
);

-- Searches: newest first, ties by namespace and key.
CREATE INDEX items_updated_idx ON items (updated_at, namespace, key);
-- Sweeps read only the items that expire.
CREATE INDEX items_expires_idx ON items (expires_at) WHERE expires_at IS NOT NULL;
