-- engram 0001: memories and memory clusters (SQLite).
-- Timestamps are INTEGER microseconds since the Unix epoch; JSON columns hold canonical
-- JSON text written by engram (numbers in PostgreSQL's numeric output form).

CREATE TABLE memories (
    id              TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
    user_id         TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    namespace       TEXT    NOT NULL DEFAULT 'default'
                            CHECK (length(namespace) BETWEEN 1 AND 128),
    thread_id       TEXT    NULL CHECK (length(thread_id) <= 128),
    tier            TEXT    NOT NULL DEFAULT 'short_term'
                            CHECK (length(tier) BETWEEN 1 AND 32
                                   AND tier NOT GLOB '*[^a-z0-9_]*'),
    content         TEXT    NOT NULL,
    score           INTEGER NOT NULL DEFAULT 50 CHECK (score BETWEEN 0 AND 100),
    metadata        TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(metadata) = 'object'),
    related_threads TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(related_threads) = 'array'),
    summarized      INTEGER NOT NULL DEFAULT 0 CHECK (summarized IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

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

CREATE TABLE memory_clusters (
    cluster_id    TEXT    NOT NULL PRIMARY KEY CHECK (length(cluster_id) = 36),
    user_id       TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    topic         TEXT    NOT NULL CHECK (length(topic) BETWEEN 1 AND 128),
    category      TEXT    NOT NULL DEFAULT '' CHECK (length(category) <= 128),
    memory_ids    TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(memory_ids) = 'array'),
    summary       TEXT    NOT NULL DEFAULT '',
    memory_count  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_built_at INTEGER NOT NULL,
    CONSTRAINT memory_clusters_user_topic_category_key UNIQUE (user_id, topic, category)
) STRICT;

CREATE INDEX memory_clusters_topic_idx ON memory_clusters (topic);
