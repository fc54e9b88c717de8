//! Every SQL statement the PostgreSQL backend runs, and the builder that turns a
//! [`MemoryQuery`] into a WHERE clause with bound parameters.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::SystemTime;

use postgres::types::ToSql;
use serde_json::Value;

use engram_core::filter::{Bound, PathCondition, Test};
use engram_core::item::{ItemSearch, PrefixRange};
use engram_core::plan::{live_sql, Condition, Page, QueryPlan, Ranking, RenderPlan};
use engram_core::row::{
    cluster_columns, memory_columns, EMBEDDING_COLUMN, EVENT_COLUMNS, ITEM_COLUMNS,
};
use engram_core::{Metric, OnConflict, Timestamp, VectorIndex};

/// The insert of many memories for `on_conflict`.
pub fn insert_memories(on_conflict: OnConflict) -> &'static str {
    match on_conflict {
        OnConflict::Fail => insert_memories_or_fail(),
        OnConflict::Skip => insert_memories_or_skip(),
    }
}

/// Inserts many memories in one statement from parallel arrays, one per column in
/// [`memory_columns`]' order.
fn insert_memories_or_fail() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO memories ({}) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::int4[], $8::jsonb[], $9::jsonb[], $10::bool[], $11::timestamptz[], \
             $12::timestamptz[], $13::timestamptz[])",
            memory_columns()
        )
    });
    &SQL
}

/// [`insert_memories_or_fail`], keeping stored rows whose id is given again.
fn insert_memories_or_skip() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("{} ON CONFLICT (id) DO NOTHING", insert_memories_or_fail()));
    &SQL
}

/// [`insert_memories`], returning the ids written (to store their embeddings after them).
pub fn insert_memories_returning_ids(on_conflict: OnConflict) -> &'static str {
    static FAIL: LazyLock<String> =
        LazyLock::new(|| format!("{} RETURNING id", insert_memories_or_fail()));
    static SKIP: LazyLock<String> =
        LazyLock::new(|| format!("{} RETURNING id", insert_memories_or_skip()));
    match on_conflict {
        OnConflict::Fail => &FAIL,
        OnConflict::Skip => &SKIP,
    }
}

/// [`insert_memories`] and their insert events in one statement (one round trip, atomic on
/// its own): $14 the events' changes as JSON text (in the order of the ids $1), $15 their
/// time, $16 their actor. Only the memories written get an event; the statement's row count
/// is how many.
pub fn insert_memories_with_history(on_conflict: OnConflict) -> &'static str {
    fn with_history(insert: &str) -> String {
        format!(
            "WITH written AS ({insert} RETURNING id) \
             INSERT INTO memory_history (memory_id, kind, changes, at, actor) \
             SELECT e.memory_id, 'insert', e.changes::jsonb, $15, $16 \
             FROM unnest($1::uuid[], $14::text[]) WITH ORDINALITY AS e(memory_id, changes, n) \
             WHERE e.memory_id IN (SELECT id FROM written) ORDER BY e.n"
        )
    }
    static FAIL: LazyLock<String> = LazyLock::new(|| with_history(insert_memories_or_fail()));
    static SKIP: LazyLock<String> = LazyLock::new(|| with_history(insert_memories_or_skip()));
    match on_conflict {
        OnConflict::Fail => &FAIL,
        OnConflict::Skip => &SKIP,
    }
}

/// Writes memories in the binary `COPY` format (see [`crate::copy`]), columns in
/// [`memory_columns`]' order: the bulk path of `insert_many` and `import`.
pub fn copy_memories() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "COPY memories ({}) FROM STDIN (FORMAT binary)",
            memory_columns()
        )
    });
    &SQL
}

/// Writes embeddings of new memories in the binary `COPY` format: memory id, vector.
pub const COPY_EMBEDDINGS: &str =
    "COPY memory_embeddings (memory_id, embedding) FROM STDIN (FORMAT binary)";

/// Which of the ids $1 are stored already (an import leaves them out of its `COPY`).
pub const STORED_IDS: &str = "SELECT id FROM memories WHERE id = ANY($1::uuid[])";

/// Reads one memory by id ($1) unless it has expired at $2, with its embedding after the
/// columns when `with_embedding`.
pub fn get_memory(with_embedding: bool) -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM memories WHERE id = $1 AND {}",
            memory_columns(),
            live_sql("$2")
        )
    });
    static WITH_EMBEDDING: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {}, {EMBEDDING_COLUMN} FROM memories WHERE id = $1 AND {}",
            memory_columns(),
            live_sql("$2")
        )
    });
    if with_embedding {
        &WITH_EMBEDDING
    } else {
        &SQL
    }
}

/// [`get_memory`] locking the row for the rest of the transaction (an update reads what
/// it changes, for its history event).
pub fn lock_memory(with_embedding: bool) -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("{} FOR UPDATE", get_memory(false)));
    static WITH_EMBEDDING: LazyLock<String> =
        LazyLock::new(|| format!("{} FOR UPDATE OF memories", get_memory(true)));
    if with_embedding {
        &WITH_EMBEDDING
    } else {
        &SQL
    }
}

/// Stores embeddings of new memories from parallel arrays: ids ($1) and vectors ($2).
pub const INSERT_EMBEDDINGS: &str = "INSERT INTO memory_embeddings (memory_id, embedding) \
     SELECT * FROM unnest($1::uuid[], $2::vector[])";

/// Sets a memory's ($1) embedding ($2), replacing any it had.
pub const PUT_EMBEDDING: &str = "INSERT INTO memory_embeddings (memory_id, embedding) \
     VALUES ($1, $2) ON CONFLICT (memory_id) DO UPDATE SET embedding = EXCLUDED.embedding";

/// Removes a memory's ($1) embedding.
pub const DELETE_EMBEDDING: &str = "DELETE FROM memory_embeddings WHERE memory_id = $1";

/// Fixes the store's dimensions to $1 unless they are fixed already.
pub const FIX_DIMENSIONS: &str =
    "INSERT INTO embedding_space (id, dimensions) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";

/// The store's dimensions (no row before the first embedding).
pub const DIMENSIONS: &str = "SELECT dimensions FROM embedding_space WHERE id = 1";

/// Whether the embeddings table exists (pgvector enabled), and whether the schema does.
pub const VECTORS_READY: &str = "SELECT to_regclass('memory_embeddings') IS NOT NULL, \
     to_regclass('embedding_space') IS NOT NULL";

/// Whether the server has pgvector, and whether this database has it enabled.
pub const PGVECTOR_STATE: &str = "SELECT \
     EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'), \
     EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')";

/// Enables vectors where the server allows it (migration 0002's function).
pub const ENABLE_VECTORS: &str = "SELECT engram_enable_vectors()";

/// Sets pgvector's HNSW candidate list size ($1) for the current transaction.
pub const SET_EF_SEARCH: &str = "SELECT set_config('hnsw.ef_search', $1, true)";

/// Whether the relation named $1 exists.
pub const RELATION_EXISTS: &str = "SELECT to_regclass($1) IS NOT NULL";

/// The name of the approximate index for `metric`.
pub fn vector_index_name(metric: Metric) -> String {
    format!("memory_embeddings_hnsw_{}", metric.name())
}

/// Creates the approximate index described by `index` over embeddings of `dimensions`.
/// DDL takes no bound parameters: the text holds only the fixed names of the metric and
/// integers already checked by [`VectorIndex::check`].
pub fn create_vector_index(index: &VectorIndex, dimensions: usize) -> String {
    format!(
        "CREATE INDEX {} ON memory_embeddings USING hnsw ((embedding::vector({dimensions})) {}) \
         WITH (m = {}, ef_construction = {})",
        vector_index_name(index.metric),
        index.metric.pgvector_opclass(),
        index.m,
        index.ef_construction
    )
}

/// Drops the approximate index for `metric`, if there is one.
pub fn drop_vector_index(metric: Metric) -> String {
    format!("DROP INDEX IF EXISTS {}", vector_index_name(metric))
}

/// Updates memory $1 unless it has expired at $2 (now, also its new updated_at): NULL
/// parameters leave a column as it is; $9 says whether the expiry changes, to $10.
pub fn update_memory() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE memories SET content = coalesce($3, content), \
             metadata = coalesce($4, metadata), tier = coalesce($5, tier), \
             score = coalesce($6, score), related_threads = coalesce($7, related_threads), \
             summarized = coalesce($8, summarized), updated_at = $2, \
             expires_at = CASE WHEN $9 THEN $10 ELSE expires_at END \
             WHERE id = $1 AND {} RETURNING {}",
            live_sql("$2"),
            memory_columns()
        )
    });
    &SQL
}

/// Deletes memory $1, expired or not; returns its expiry.
pub const DELETE_MEMORY: &str = "DELETE FROM memories WHERE id = $1 RETURNING expires_at";

/// Deletes at most $2 memories expired at $1, those that expired first first; rows another
/// session's sweep holds are left to it (`SKIP LOCKED`), so that sweeps running at once
/// share the work and each row is deleted once.
pub const SWEEP_EXPIRED: &str = "DELETE FROM memories WHERE id IN (SELECT id FROM memories \
     WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
     AND expires_at <= $1 RETURNING id";

/// Appends history events from parallel arrays (memory ids $1, kinds $2, changes $3 as JSON
/// text) at
/// time $4 by actor $5, in the arrays' order.
pub const RECORD_EVENTS: &str = "INSERT INTO memory_history (memory_id, kind, changes, at, actor) \
     SELECT e.memory_id, e.kind, e.changes::jsonb, $4, $5 \
     FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS e(memory_id, kind, changes, n) \
     ORDER BY e.n";

/// The history of memory $1, oldest first.
pub fn history() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {EVENT_COLUMNS} FROM memory_history WHERE memory_id = $1 ORDER BY seq")
    });
    &SQL
}

/// Deletes the history events older than $1.
pub const PRUNE_HISTORY: &str = "DELETE FROM memory_history WHERE at < $1";

/// How many memories have expired at $1 (a sweep has not deleted them yet).
pub const COUNT_EXPIRED: &str = "SELECT count(*) FROM memories WHERE expires_at <= $1";

/// Every table and index of the current schema: name, whether it is an index, its table,
/// its own bytes (a table's with TOAST), its total bytes (a table's with its indexes), its
/// scans (`pg_stat_user_indexes`; null for a table) and whether it enforces a unique or
/// primary key constraint.
pub const RELATIONS: &str = "SELECT c.relname::text, c.relkind = 'i', t.relname::text, \
     CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END, \
     CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END, \
     s.idx_scan, coalesce(i.indisunique, false) \
     FROM pg_class AS c \
     LEFT JOIN pg_index AS i ON i.indexrelid = c.oid \
     JOIN pg_class AS t ON t.oid = coalesce(i.indrelid, c.oid) \
     LEFT JOIN pg_stat_user_indexes AS s ON s.indexrelid = c.oid \
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i')";

/// The indexes of the current schema a failed `CREATE INDEX CONCURRENTLY` (or one still
/// running) left unusable.
pub const INVALID_INDEXES: &str = "SELECT c.relname::text FROM pg_index AS i \
     JOIN pg_class AS c ON c.oid = i.indexrelid \
     WHERE c.relnamespace = current_schema()::regnamespace \
       AND NOT (i.indisvalid AND i.indisready) ORDER BY 1";

/// Whether amcheck's B-tree check is installed and on the search path.
pub const AMCHECK_INSTALLED: &str =
    "SELECT to_regprocedure('bt_index_check(regclass)') IS NOT NULL";

/// The valid B-tree indexes of the current schema: oid and name.
pub const BTREE_INDEXES: &str = "SELECT c.oid, c.relname::text FROM pg_index AS i \
     JOIN pg_class AS c ON c.oid = i.indexrelid \
     JOIN pg_am AS am ON am.oid = c.relam \
     WHERE am.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace \
       AND i.indisvalid AND i.indisready ORDER BY 2";

/// amcheck's check of the B-tree index $1 (it raises an error on what it finds wrong).
pub const CHECK_BTREE: &str = "SELECT bt_index_check($1::oid::regclass)::text";

/// The database's size.
pub const DATABASE_BYTES: &str = "SELECT pg_database_size(current_database())";

pub fn upsert_cluster() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO memory_clusters ({}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) \
             ON CONFLICT (user_id, topic, category) DO UPDATE SET \
             memory_ids = EXCLUDED.memory_ids, summary = EXCLUDED.summary, \
             memory_count = EXCLUDED.memory_count, updated_at = EXCLUDED.updated_at, \
             last_built_at = EXCLUDED.last_built_at \
             RETURNING {}",
            cluster_columns(),
            cluster_columns()
        )
    });
    &SQL
}

/// Ordered by byte value (`COLLATE "C"`), as SQLite orders text, whatever the database's
/// own collation.
pub fn get_clusters() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM memory_clusters WHERE user_id = $1 \
             AND ($2::text IS NULL OR topic = $2) AND ($3::text IS NULL OR category = $3) \
             ORDER BY topic COLLATE \"C\", category COLLATE \"C\"",
            cluster_columns()
        )
    });
    &SQL
}

pub const DELETE_CLUSTER: &str = "DELETE FROM memory_clusters WHERE cluster_id = $1";

pub const COUNT_CLUSTERS: &str = "SELECT count(*) FROM memory_clusters";

/// Moves a tier's live memories not updated since the cutoff: $1 next tier, $2 now, $3
/// tier, $4 cutoff. Returns their ids.
pub fn policy_move() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE memories SET tier = $1, updated_at = $2 \
             WHERE tier = $3 AND updated_at < $4 AND {} RETURNING id",
            live_sql("$2")
        )
    });
    &SQL
}

/// Trims a tier's long live content: $1 max characters, $2 now, $3 tier. Returns the ids,
/// the content before and after.
pub fn policy_trim() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE memories AS m SET content = left(old.content, $1), updated_at = $2 \
             FROM (SELECT id, content FROM memories WHERE tier = $3 \
             AND char_length(content) > $1 AND {} FOR UPDATE) AS old \
             WHERE m.id = old.id RETURNING m.id, old.content, m.content",
            live_sql("$2")
        )
    });
    &SQL
}

/// Deletes a tier's memories created (or, by `updated`, updated) before the cutoff: $1
/// tier, $2 cutoff. Expired ones too: they are past their time either way.
/// Returns their ids.
pub fn policy_delete(updated: bool) -> &'static str {
    if updated {
        "DELETE FROM memories WHERE tier = $1 AND updated_at < $2 RETURNING id"
    } else {
        "DELETE FROM memories WHERE tier = $1 AND created_at < $2 RETURNING id"
    }
}

/// Live memories (at $2) per user and tier, of user $1 or of all.
pub fn stats() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT user_id, tier, count(*) FROM memories \
             WHERE ($1::text IS NULL OR user_id = $1) AND {} GROUP BY user_id, tier",
            live_sql("$2")
        )
    });
    &SQL
}

/// Puts an item: $1 namespace, $2 key, $3 value, $4 now, $5 expires_at, $6 ttl in
/// microseconds. What is there is replaced; its `created_at` is kept unless it had expired
/// (then the item is new).
pub fn put_item() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO items AS i ({ITEM_COLUMNS}) VALUES ($1, $2, $3::jsonb, $4, $4, $5, $6) \
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at, expires_at = excluded.expires_at, \
             ttl_micros = excluded.ttl_micros, \
             created_at = CASE WHEN i.expires_at IS NOT NULL AND i.expires_at <= $4 \
             THEN excluded.created_at ELSE i.created_at END RETURNING {ITEM_COLUMNS}"
        )
    });
    &SQL
}

/// The live item $1/$2 at $3.
pub fn get_item() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE namespace = $1 AND key = $2 AND {}",
            live_sql("$3")
        )
    });
    &SQL
}

/// Deletes at most $2 items expired at $1, the first to expire first; one sweeper skips
/// the rows another has locked.
pub const SWEEP_ITEMS: &str = "DELETE FROM items WHERE (namespace, key) IN \
     (SELECT namespace, key FROM items WHERE expires_at <= $1 \
     ORDER BY expires_at, namespace, key LIMIT $2 FOR UPDATE SKIP LOCKED) AND expires_at <= $1";

/// The live item $1/$2 at $3, locked for a refresh of its expiry.
pub fn get_item_for_update() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("{} FOR UPDATE", get_item()));
    &SQL
}

/// Sets the expiry of the items named by the arrays $1 (namespaces) and $2 (keys) to the
/// times of $3, element by element.
pub const REFRESH_ITEMS: &str = "UPDATE items AS i SET expires_at = r.expires_at \
     FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS r (namespace, key, expires_at) \
     WHERE i.namespace = r.namespace AND i.key = r.key";

/// How many items have expired at $1 (a sweep has not deleted them yet).
pub const COUNT_EXPIRED_ITEMS: &str = "SELECT count(*) FROM items WHERE expires_at <= $1";

/// Deletes the item $1/$2; returns its expiry.
pub const DELETE_ITEM: &str =
    "DELETE FROM items WHERE namespace = $1 AND key = $2 RETURNING expires_at";

/// The distinct namespaces of the items live at $1, in the prefix range $2, $3, $4 (see
/// [`PrefixRange`]) unless $2 is null.
pub fn item_namespaces() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT DISTINCT namespace FROM items WHERE {} AND ($2::text IS NULL OR {})",
            live_sql("$1"),
            PrefixRange::sql("$2", "$3", "$4")
        )
    });
    &SQL
}

/// A parameter value owned by a [`Filter`].
pub type Param = Box<dyn ToSql + Sync + Send>;

/// A statement and the values bound to its `$n` placeholders, in order.
pub struct Filter {
    pub clause: String,
    pub params: Vec<Param>,
}

impl Filter {
    /// The statement of a [`QueryPlan`] (a select or a count of memories).
    pub fn of(plan: &QueryPlan<'_>) -> Filter {
        let mut filter = Filter {
            clause: String::new(),
            params: Vec::new(),
        };
        filter.clause = plan.render(&mut filter);
        filter
    }

    /// The parameters as the driver takes them.
    pub fn param_refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// The search of items `search` at `now`: newest first, ties by namespace and key.
    pub fn search_items(search: &ItemSearch, now: Timestamp) -> Filter {
        let mut filter = Filter {
            clause: String::new(),
            params: Vec::new(),
        };
        let now = filter.bind(now.to_system_time());
        let mut conditions = vec![live_sql(&now)];
        if let Some(range) = search.prefix_range() {
            let [exact, from, until] = range.bounds().map(|bound| filter.bind(bound.to_string()));
            conditions.push(PrefixRange::sql(&exact, &from, &until));
        }
        if let Some(value_filter) = &search.filter {
            conditions.push(filter.filter("value", value_filter));
        }
        let (limit, offset) = search.page_bounds();
        let (limit, offset) = (filter.bind(limit), filter.bind(offset));
        filter.clause = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE {} \
             ORDER BY updated_at DESC, namespace, key LIMIT {limit} OFFSET {offset}{}",
            conditions.join(" AND "),
            if search.refresh { " FOR UPDATE" } else { "" }
        );
        filter
    }

    /// Every test of `filter` on the JSON `column`, ANDed (`TRUE` for the empty filter `{}`,
    /// which every document passes).
    fn filter(&mut self, column: &str, filter: &engram_core::filter::Filter) -> String {
        let tests: Vec<String> = filter
            .conditions()
            .iter()
            .map(|condition| self.path_condition(column, condition))
            .collect();
        if tests.is_empty() {
            return "TRUE".to_string();
        }
        // The containment the filter implies, so that the column's GIN index narrows the
        // rows the tests then check.
        let narrowed = match filter.containment() {
            Some(containment) => format!("{column} @> {}::jsonb AND ", self.bind(containment)),
            None => String::new(),
        };
        format!("({narrowed}{})", tests.join(" AND "))
    }

    /// One test of [`engram_core::filter`] as SQL: the same rule as `Test::passes`, with a
    /// missing path (SQL NULL) answered as there. `CASE` guards each cast, since SQL does not
    /// promise the order in which `AND` evaluates.
    fn path_condition(&mut self, column: &str, condition: &PathCondition) -> String {
        let mut value = column.to_string();
        for key in &condition.path {
            value = format!("{value} -> {}::text", self.bind(key.clone()));
        }
        let x = value;
        match &condition.test {
            Test::Eq(expected) => format!(
                "coalesce({x} = {}::jsonb, false)",
                self.bind(expected.clone())
            ),
            Test::Ne(expected) => format!(
                "{x} IS DISTINCT FROM {}::jsonb",
                self.bind(expected.clone())
            ),
            Test::Compare(comparison, bound) => {
                let operator = comparison.symbol();
                match bound {
                    Bound::Number(n) => format!(
                        "CASE WHEN jsonb_typeof({x}) = 'number' \
                         THEN ({x})::numeric {operator} {}::text::numeric ELSE false END",
                        self.bind(n.to_string())
                    ),
                    Bound::Text(text) => format!(
                        "CASE WHEN jsonb_typeof({x}) = 'string' \
                         THEN ({x} #>> '{{}}') COLLATE \"C\" {operator} {}::text ELSE false END",
                        self.bind(text.clone())
                    ),
                }
            }
            Test::In(values) => format!(
                "coalesce({x} IN (SELECT jsonb_array_elements({}::jsonb)), false)",
                self.bind(Value::Array(values.clone()))
            ),
            Test::NotIn(values) => format!(
                "NOT coalesce({x} IN (SELECT jsonb_array_elements({}::jsonb)), false)",
                self.bind(Value::Array(values.clone()))
            ),
            Test::Exists(true) => format!("{x} IS NOT NULL"),
            Test::Exists(false) => format!("{x} IS NULL"),
            Test::Contains(operand) => {
                format!(
                    "coalesce({x} @> {}::jsonb, false)",
                    self.bind(operand.clone())
                )
            }
            Test::IsObject => format!("coalesce(jsonb_typeof({x}) = 'object', false)"),
        }
    }

    /// Binds `value` as the next parameter; returns its placeholder (`$n`).
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }
}

impl RenderPlan for Filter {
    /// Every value is bound; the SQL is only ever one of the fixed fragments below with its
    /// placeholder.
    fn condition(&mut self, condition: &Condition<'_>) -> Cow<'static, str> {
        let at = |time: Timestamp| -> SystemTime { time.to_system_time() };
        let sql = match *condition {
            Condition::User(user) => format!("user_id = {}", self.bind(user.to_string())),
            Condition::Namespace(namespace) => {
                format!("namespace = {}", self.bind(namespace.to_string()))
            }
            Condition::Thread(thread) => format!("thread_id = {}", self.bind(thread.to_string())),
            // `tier = ANY(…)` keeps the planner from reading the (tier, updated_at) index in
            // order, so one tier (the policy scan) gets a plain equality.
            Condition::Tier(tier) => format!("tier = {}", self.bind(tier.to_string())),
            Condition::Tiers(tiers) => format!("tier = ANY({}::text[])", self.bind(tiers.to_vec())),
            Condition::MetadataContains(filter) => {
                format!("metadata @> {}::jsonb", self.bind(filter.clone()))
            }
            Condition::MetadataFilter(filter) => self.filter("metadata", filter),
            Condition::RelatedToAny(threads) => {
                format!("related_threads ?| {}::text[]", self.bind(threads.to_vec()))
            }
            Condition::Summarized(summarized) => format!("summarized = {}", self.bind(summarized)),
            Condition::CreatedFrom(time) => format!("created_at >= {}", self.bind(at(time))),
            Condition::CreatedUntil(time) => format!("created_at < {}", self.bind(at(time))),
            Condition::UpdatedFrom(time) => format!("updated_at >= {}", self.bind(at(time))),
            Condition::UpdatedUntil(time) => format!("updated_at < {}", self.bind(at(time))),
            Condition::LiveAt(time) => live_sql(&self.bind(at(time))),
        };
        sql.into()
    }

    /// No limit is `LIMIT NULL`.
    fn page(&mut self, page: &Page) -> (String, String) {
        (self.bind(page.limit()), self.bind(page.offset()))
    }

    /// pgvector's operator. An approximate ranking casts to the typed `vector(n)` that the
    /// HNSW index is built on, so that the planner can use it; an exact one does not, so
    /// that no approximate index ever answers it.
    fn distance(&mut self, ranking: &Ranking<'_>) -> String {
        let vector = self.bind(pgvector::Vector::from(ranking.vector.as_slice().to_vec()));
        let operator = ranking.metric.pgvector_operator();
        if ranking.approximate {
            let dimensions = ranking.vector.dimensions();
            format!("memory_embeddings.embedding::vector({dimensions}) {operator} {vector}")
        } else {
            format!("memory_embeddings.embedding {operator} {vector}")
        }
    }
}
