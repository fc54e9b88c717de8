//! Every SQL statement the SQLite backend runs, and the builder that turns a
//! [`MemoryQuery`] into a WHERE clause with bound parameters.

use std::borrow::Cow;
use std::sync::LazyLock;

use rusqlite::types::Value as SqlValue;

use engram_core::MemoryQuery;

/// The memory columns, in the order [`crate::store`] reads them.
pub const MEMORY_COLUMNS: &str = "id, user_id, namespace, thread_id, tier, content, score, \
     metadata, related_threads, summarized, created_at, updated_at";

pub const INSERT_MEMORY: &str = "INSERT INTO memories (id, user_id, namespace, thread_id, \
     tier, content, score, metadata, related_threads, summarized, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

pub const INSERT_MEMORY_OR_SKIP: &str = "INSERT INTO memories (id, user_id, namespace, \
     thread_id, tier, content, score, metadata, related_threads, summarized, created_at, \
     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (id) DO NOTHING";

pub fn get_memory() -> &'static str {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ?1"));
    &SQL
}

pub fn update_memory() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE memories SET content = coalesce(?2, content), \
             metadata = coalesce(?3, metadata), tier = coalesce(?4, tier), \
             score = coalesce(?5, score), related_threads = coalesce(?6, related_threads), \
             summarized = coalesce(?7, summarized), updated_at = ?8 \
             WHERE id = ?1 RETURNING {MEMORY_COLUMNS}"
        )
    });
    &SQL
}

pub const DELETE_MEMORY: &str = "DELETE FROM memories WHERE id = ?1";

pub const CLUSTER_COLUMNS: &str = "cluster_id, user_id, topic, category, memory_ids, summary, \
     memory_count, created_at, updated_at, last_built_at";

pub fn upsert_cluster() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO memory_clusters (cluster_id, user_id, topic, category, memory_ids, \
             summary, memory_count, created_at, updated_at, last_built_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8) \
             ON CONFLICT (user_id, topic, category) DO UPDATE SET \
             memory_ids = excluded.memory_ids, summary = excluded.summary, \
             memory_count = excluded.memory_count, updated_at = excluded.updated_at, \
             last_built_at = excluded.last_built_at \
             RETURNING {CLUSTER_COLUMNS}"
        )
    });
    &SQL
}

pub fn get_clusters() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CLUSTER_COLUMNS} FROM memory_clusters WHERE user_id = ?1 \
             AND (?2 IS NULL OR topic = ?2) AND (?3 IS NULL OR category = ?3) \
             ORDER BY topic, category"
        )
    });
    &SQL
}

pub const DELETE_CLUSTER: &str = "DELETE FROM memory_clusters WHERE cluster_id = ?1";

/// Moves a tier's expired memories: ?1 next tier, ?2 now, ?3 tier, ?4 cutoff.
pub const POLICY_MOVE: &str =
    "UPDATE memories SET tier = ?1, updated_at = ?2 WHERE tier = ?3 AND updated_at < ?4";

/// Trims a tier's long content: ?1 max characters, ?2 now, ?3 tier.
pub const POLICY_TRIM: &str = "UPDATE memories SET content = substr(content, 1, ?1), \
     updated_at = ?2 WHERE tier = ?3 AND length(content) > ?1";

pub const STATS: &str = "SELECT user_id, tier, count(*) FROM memories \
     WHERE (?1 IS NULL OR user_id = ?1) GROUP BY user_id, tier";

/// Most tiers a query binds one placeholder each for (see [`memory_filter`]).
const MAX_TIER_PLACEHOLDERS: usize = 64;

/// A WHERE clause and the values bound to its `?` placeholders, in order.
pub struct Filter {
    pub clause: String,
    pub params: Vec<SqlValue>,
}

/// Builds the WHERE clause for `query`'s filters. Every value is bound; the clause only ever
/// contains the fixed fragments below.
pub fn memory_filter(query: &MemoryQuery) -> Filter {
    let mut conditions: Vec<Cow<'static, str>> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let text = |conditions: &mut Vec<Cow<'static, str>>,
                params: &mut Vec<SqlValue>,
                sql: &'static str,
                value: &str| {
        conditions.push(sql.into());
        params.push(SqlValue::Text(value.to_string()));
    };
    if let Some(user) = &query.user_id {
        text(&mut conditions, &mut params, "user_id = ?", user);
    }
    if let Some(namespace) = &query.namespace {
        text(&mut conditions, &mut params, "namespace = ?", namespace);
    }
    if let Some(thread) = &query.thread_id {
        text(&mut conditions, &mut params, "thread_id = ?", thread);
    }
    match query.tiers.as_slice() {
        [] => {}
        // One placeholder per tier, so that SQLite searches the tier indexes (and, for one
        // tier, reads them in `updated_at` order); `tier IN (SELECT value FROM json_each(?))`
        // made it scan the table.
        [tier] => text(&mut conditions, &mut params, "tier = ?", tier),
        tiers if tiers.len() <= MAX_TIER_PLACEHOLDERS => {
            let placeholders = vec!["?"; tiers.len()].join(", ");
            conditions.push(format!("tier IN ({placeholders})").into());
            params.extend(tiers.iter().map(|t| SqlValue::Text(t.clone())));
        }
        // So many tiers that one placeholder each could pass SQLite's variable limit.
        tiers => {
            let tiers = serde_json::Value::from(tiers.to_vec()).to_string();
            text(
                &mut conditions,
                &mut params,
                "tier IN (SELECT value FROM json_each(?))",
                &tiers,
            );
        }
    }
    if let Some(filter) = &query.metadata_contains {
        text(
            &mut conditions,
            &mut params,
            "engram_json_contains(metadata, ?)",
            &filter.to_string(),
        );
    }
    if !query.related_to_any.is_empty() {
        let threads = serde_json::Value::from(query.related_to_any.clone()).to_string();
        text(
            &mut conditions,
            &mut params,
            "EXISTS (SELECT 1 FROM json_each(memories.related_threads) AS r \
             WHERE r.value IN (SELECT value FROM json_each(?)))",
            &threads,
        );
    }
    if let Some(summarized) = query.summarized {
        conditions.push("summarized = ?".into());
        params.push(SqlValue::Integer(i64::from(summarized)));
    }
    let ranges = [
        (query.created.from, "created_at >= ?"),
        (query.created.until, "created_at < ?"),
        (query.updated.from, "updated_at >= ?"),
        (query.updated.until, "updated_at < ?"),
    ];
    for (bound, sql) in ranges {
        if let Some(at) = bound {
            conditions.push(sql.into());
            params.push(SqlValue::Integer(at.as_micros()));
        }
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    Filter { clause, params }
}

/// `SELECT … WHERE … ORDER BY … LIMIT ? OFFSET ?`, with limit and offset appended to the
/// filter's parameters.
pub fn select_memories(query: &MemoryQuery) -> Filter {
    let mut filter = memory_filter(query);
    let limit = query
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    filter.params.push(SqlValue::Integer(limit));
    filter.params.push(SqlValue::Integer(offset));
    filter.clause = format!(
        "SELECT {MEMORY_COLUMNS} FROM memories{} ORDER BY {} LIMIT ? OFFSET ?",
        filter.clause,
        query.order.sql()
    );
    filter
}

/// `SELECT count(*) … WHERE …`.
pub fn count_memories(query: &MemoryQuery) -> Filter {
    let mut filter = memory_filter(query);
    filter.clause = format!("SELECT count(*) FROM memories{}", filter.clause);
    filter
}
