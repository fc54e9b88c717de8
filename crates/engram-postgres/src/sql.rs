//! Every SQL statement the PostgreSQL backend runs, and the builder that turns a
//! [`MemoryQuery`] into a WHERE clause with bound parameters.

use std::sync::LazyLock;
use std::time::SystemTime;

use postgres::types::ToSql;

use engram_core::MemoryQuery;

/// The memory columns, in the order [`crate::store`] reads them.
pub const MEMORY_COLUMNS: &str = "id, user_id, namespace, thread_id, tier, content, score, \
     metadata, related_threads, summarized, created_at, updated_at";

/// Inserts many memories in one statement from parallel arrays.
pub const INSERT_MEMORIES: &str = "INSERT INTO memories (id, user_id, namespace, thread_id, \
     tier, content, score, metadata, related_threads, summarized, created_at, updated_at) \
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::int4[], $8::jsonb[], $9::jsonb[], $10::bool[], $11::timestamptz[], \
     $12::timestamptz[])";

/// [`INSERT_MEMORIES`], keeping stored rows whose id is given again.
pub const INSERT_MEMORIES_OR_SKIP: &str = "INSERT INTO memories (id, user_id, namespace, \
     thread_id, tier, content, score, metadata, related_threads, summarized, created_at, \
     updated_at) \
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::int4[], $8::jsonb[], $9::jsonb[], $10::bool[], $11::timestamptz[], \
     $12::timestamptz[]) ON CONFLICT (id) DO NOTHING";

pub fn get_memory() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id = $1"));
    &SQL
}

pub fn update_memory() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE memories SET content = coalesce($2, content), \
             metadata = coalesce($3, metadata), tier = coalesce($4, tier), \
             score = coalesce($5, score), related_threads = coalesce($6, related_threads), \
             summarized = coalesce($7, summarized), updated_at = $8 \
             WHERE id = $1 RETURNING {MEMORY_COLUMNS}"
        )
    });
    &SQL
}

pub const DELETE_MEMORY: &str = "DELETE FROM memories WHERE id = $1";

pub const CLUSTER_COLUMNS: &str = "cluster_id, user_id, topic, category, memory_ids, summary, \
     memory_count, created_at, updated_at, last_built_at";

pub fn upsert_cluster() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO memory_clusters (cluster_id, user_id, topic, category, memory_ids, \
             summary, memory_count, created_at, updated_at, last_built_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) \
             ON CONFLICT (user_id, topic, category) DO UPDATE SET \
             memory_ids = EXCLUDED.memory_ids, summary = EXCLUDED.summary, \
             memory_count = EXCLUDED.memory_count, updated_at = EXCLUDED.updated_at, \
             last_built_at = EXCLUDED.last_built_at \
             RETURNING {CLUSTER_COLUMNS}"
        )
    });
    &SQL
}

/// Ordered by byte value (`COLLATE "C"`), as SQLite orders text, whatever the database's
/// own collation.
pub fn get_clusters() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CLUSTER_COLUMNS} FROM memory_clusters WHERE user_id = $1 \
             AND ($2::text IS NULL OR topic = $2) AND ($3::text IS NULL OR category = $3) \
             ORDER BY topic COLLATE \"C\", category COLLATE \"C\""
        )
    });
    &SQL
}

pub const DELETE_CLUSTER: &str = "DELETE FROM memory_clusters WHERE cluster_id = $1";

/// Moves a tier's expired memories: $1 next tier, $2 now, $3 tier, $4 cutoff.
pub const POLICY_MOVE: &str =
    "UPDATE memories SET tier = $1, updated_at = $2 WHERE tier = $3 AND updated_at < $4";

/// Trims a tier's long content: $1 max characters, $2 now, $3 tier.
pub const POLICY_TRIM: &str = "UPDATE memories SET content = left(content, $1), \
     updated_at = $2 WHERE tier = $3 AND char_length(content) > $1";

pub const STATS: &str = "SELECT user_id, tier, count(*) FROM memories \
     WHERE ($1::text IS NULL OR user_id = $1) GROUP BY user_id, tier";

/// A parameter value owned by a [`Filter`].
pub type Param = Box<dyn ToSql + Sync + Send>;

/// A WHERE clause and the values bound to its `$n` placeholders, in order.
pub struct Filter {
    pub clause: String,
    pub params: Vec<Param>,
}

impl Filter {
    /// The parameters as the driver takes them.
    pub fn param_refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    fn bind(&mut self, conditions: &mut Vec<String>, fragment: &str, value: Param) {
        self.params.push(value);
        conditions.push(fragment.replace("{}", &format!("${}", self.params.len())));
    }
}

/// Builds the WHERE clause for `query`'s filters; the `{}` of each fixed fragment becomes the
/// next `$n`, and every value is bound.
pub fn memory_filter(query: &MemoryQuery) -> Filter {
    let mut filter = Filter {
        clause: String::new(),
        params: Vec::new(),
    };
    let mut conditions = Vec::new();
    if let Some(user) = &query.user_id {
        filter.bind(&mut conditions, "user_id = {}", Box::new(user.clone()));
    }
    if let Some(namespace) = &query.namespace {
        filter.bind(
            &mut conditions,
            "namespace = {}",
            Box::new(namespace.clone()),
        );
    }
    if let Some(thread) = &query.thread_id {
        filter.bind(&mut conditions, "thread_id = {}", Box::new(thread.clone()));
    }
    match query.tiers.as_slice() {
        [] => {}
        // `tier = ANY(…)` keeps the planner from reading the (tier, updated_at) index in
        // order, so one tier (the policy scan) gets a plain equality.
        [tier] => filter.bind(&mut conditions, "tier = {}", Box::new(tier.clone())),
        tiers => filter.bind(
            &mut conditions,
            "tier = ANY({}::text[])",
            Box::new(tiers.to_vec()),
        ),
    }
    if let Some(contained) = &query.metadata_contains {
        filter.bind(
            &mut conditions,
            "metadata @> {}::jsonb",
            Box::new(contained.clone()),
        );
    }
    if !query.related_to_any.is_empty() {
        filter.bind(
            &mut conditions,
            "related_threads ?| {}::text[]",
            Box::new(query.related_to_any.clone()),
        );
    }
    if let Some(summarized) = query.summarized {
        filter.bind(&mut conditions, "summarized = {}", Box::new(summarized));
    }
    let ranges = [
        (query.created.from, "created_at >= {}"),
        (query.created.until, "created_at < {}"),
        (query.updated.from, "updated_at >= {}"),
        (query.updated.until, "updated_at < {}"),
    ];
    for (bound, fragment) in ranges {
        if let Some(at) = bound {
            let time: SystemTime = at.to_system_time();
            filter.bind(&mut conditions, fragment, Box::new(time));
        }
    }
    if !conditions.is_empty() {
        filter.clause = format!(" WHERE {}", conditions.join(" AND "));
    }
    filter
}

/// `SELECT … WHERE … ORDER BY … LIMIT $n OFFSET $m`.
pub fn select_memories(query: &MemoryQuery) -> Filter {
    let mut filter = memory_filter(query);
    let limit: Option<i64> = query.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    filter.params.push(Box::new(limit));
    filter.params.push(Box::new(offset));
    let n = filter.params.len();
    filter.clause = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories{} ORDER BY {} LIMIT ${} OFFSET ${}",
        filter.clause,
        query.order.sql(),
        n - 1,
        n
    );
    filter
}

/// `SELECT count(*) … WHERE …`.
pub fn count_memories(query: &MemoryQuery) -> Filter {
    let mut filter = memory_filter(query);
    filter.clause = format!("SELECT count(*) FROM memories{}", filter.clause);
    filter
}
