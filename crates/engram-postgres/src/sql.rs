//! Every SQL statement the PostgreSQL backend runs, and the builder that turns a
//! [`MemoryQuery`] into a WHERE clause with bound parameters.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::SystemTime;

use postgres::types::ToSql;

use engram_core::plan::{Condition, Page, QueryPlan, RenderPlan};
use engram_core::row::{cluster_columns, memory_columns};
use engram_core::{OnConflict, Timestamp};

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
             $12::timestamptz[])",
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

pub fn get_memory() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {} FROM memories WHERE id = $1", memory_columns()));
    &SQL
}

pub fn update_memory() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE memories SET content = coalesce($2, content), \
             metadata = coalesce($3, metadata), tier = coalesce($4, tier), \
             score = coalesce($5, score), related_threads = coalesce($6, related_threads), \
             summarized = coalesce($7, summarized), updated_at = $8 \
             WHERE id = $1 RETURNING {}",
            memory_columns()
        )
    });
    &SQL
}

pub const DELETE_MEMORY: &str = "DELETE FROM memories WHERE id = $1";

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
            Condition::RelatedToAny(threads) => {
                format!("related_threads ?| {}::text[]", self.bind(threads.to_vec()))
            }
            Condition::Summarized(summarized) => format!("summarized = {}", self.bind(summarized)),
            Condition::CreatedFrom(time) => format!("created_at >= {}", self.bind(at(time))),
            Condition::CreatedUntil(time) => format!("created_at < {}", self.bind(at(time))),
            Condition::UpdatedFrom(time) => format!("updated_at >= {}", self.bind(at(time))),
            Condition::UpdatedUntil(time) => format!("updated_at < {}", self.bind(at(time))),
        };
        sql.into()
    }

    /// No limit is `LIMIT NULL`.
    fn page(&mut self, page: &Page) -> (String, String) {
        (self.bind(page.limit()), self.bind(page.offset()))
    }
}
