-- engram 0001: memories and memory clusters (PostgreSQL).

CREATE TABLE memories (
    id              uuid        PRIMARY KEY,
    user_id         text        NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 128),
    namespace       text        NOT NULL DEFAULT 'default'
                                CHECK (char_length(namespace) BETWEEN 1 AND 128),
    thread_id       text        NULL CHECK (char_length(thread_id) <= 128),
    tier            text        NOT NULL DEFAULT 'short_term' CHECK (tier ~ '^[a-z0-9_]{1,32}$'),
    content         text        NOT NULL,
    score           integer     NOT NULL DEFAULT 50 CHECK (score BETWEEN 0 AND 100),
    metadata        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    related_threads jsonb       NOT NULL DEFAULT '[]'
                                CHECK (jsonb_typeof(related_threads) = 'array'),
    summarized      boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- One index per query pattern; none is a prefix of another.
CREATE INDEX memories_user_thread_idx ON memories (user_id, thread_id);
CREATE INDEX memories_user_tier_updated_idx ON memories (user_id, tier, updated_at);
-- Policy scans (tier = ? AND updated_at < ?) in (updated_at, id) order: with id in the index
-- the order needs no sort, and the plan stays right whether or not statistics exist.
CREATE INDEX memories_tier_updated_idx ON memories (tier, updated_at, id);
CREATE INDEX memories_namespace_idx ON memories (namespace);
-- The default order (updated_at DESC, id DESC): an unfiltered page, or a broad metadata
-- filter's first page, reads rows newest first and stops at the limit instead of sorting
-- every match.
CREATE INDEX memories_updated_idx ON memories (updated_at, id);

-- Metadata is only ever queried with @>, which jsonb_path_ops serves with an index about a
-- third the size of jsonb_ops' (one hashed entry per path to a value instead of one per key
-- and per value) and fewer false-positive heap rechecks for nested filters.
CREATE INDEX memories_metadata_gin ON memories USING gin (metadata jsonb_path_ops);

-- Related threads are queried with ?| (any of these thread ids), which only jsonb_ops
-- supports.
CREATE INDEX memories_related_threads_gin ON memories USING gin (related_threads jsonb_ops);

CREATE TABLE memory_clusters (
    cluster_id    uuid        PRIMARY KEY,
    user_id       text        NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 128),
    topic         text        NOT NULL CHECK (char_length(topic) BETWEEN 1 AND 128),
    category      text        NOT NULL DEFAULT '' CHECK (char_length(category) <= 128),
    memory_ids    jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(memory_ids) = 'array'),
    summary       text        NOT NULL DEFAULT '',
    memory_count  bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    last_built_at timestamptz NOT NULL,
    CONSTRAINT memory_clusters_user_topic_category_key UNIQUE (user_id, topic, category)
);

CREATE INDEX memory_clusters_topic_idx ON memory_clusters (topic);
