-- engram 0007: items, a namespaced key-value store beside the memories (PostgreSQL).
-- namespace is the labels joined by '.' (a label has no '.'); namespace and key sort by
-- bytes (COLLATE "C"), as SQLite sorts them, so that both list and page them alike, and a
-- namespace prefix is a range of the primary key: 'a.b' itself and 'a.b.' up to 'a.b/'.
CREATE TABLE items (
    namespace  text COLLATE "C" NOT NULL CHECK (namespace <> ''),
    key        text COLLATE "C" NOT NULL CHECK (key <> ''),
    value      jsonb       NOT NULL CHECK (jsonb_typeof(value) = 'object'),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz NULL,
    -- The time to live it was put with, in microseconds: a read that refreshes the expiry
    -- moves it to then plus this.
    ttl_micros bigint      NULL CHECK (ttl_micros >= 0),
    PRIMARY KEY (namespace, key)
);

-- Searches without a query vector: newest first, ties by namespace and key.
CREATE INDEX items_updated_idx ON items (updated_at, namespace, key);
-- Sweeps read only the items that expire.
CREATE INDEX items_expires_idx ON items (expires_at) WHERE expires_at IS NOT NULL;
-- Value filters: containment and equality of values at paths.
CREATE INDEX items_value_gin ON items USING gin (value jsonb_path_ops);
