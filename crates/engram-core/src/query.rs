//! Query descriptions: which memories or clusters to read, in what order, which page.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::filter::Filter;
use crate::{Embedding, Metric, Timestamp};

/// A half-open time range: `from` inclusive, `until` exclusive; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Earliest time included.
    pub from: Option<Timestamp>,
    /// First time no longer included.
    pub until: Option<Timestamp>,
}

/// The order of query results. Every order ends with `id` in the same direction, so that
/// results and pages are the same on both backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// `updated_at DESC, id DESC` (the default).
    #[default]
    UpdatedDesc,
    /// `updated_at ASC, id ASC`.
    UpdatedAsc,
    /// `created_at DESC, id DESC`.
    CreatedDesc,
    /// `created_at ASC, id ASC`.
    CreatedAsc,
}

impl Order {
    /// The SQL `ORDER BY` list for this order; the same text serves both dialects.
    pub fn sql(self) -> &'static str {
        match self {
            Order::UpdatedDesc => "updated_at DESC, id DESC",
            Order::UpdatedAsc => "updated_at ASC, id ASC",
            Order::CreatedDesc => "created_at DESC, id DESC",
            Order::CreatedAsc => "created_at ASC, id ASC",
        }
    }
}

/// Which memories to read. Every filter set is ANDed with the others; every filter is
/// applied inside the database, so `limit`, `offset` and counts are exact.
///
/// ```
/// use engram_core::MemoryQuery;
/// use serde_json::json;
/// let query = MemoryQuery::new()
///     .user("alice")
///     .tiers(["short_term", "mid_term"])
///     .contains(json!({"topic": "food"}))
///     .limit(10);
/// assert_eq!(query.limit, Some(10));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryQuery {
    /// Only this user's memories.
    pub user_id: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this thread.
    pub thread_id: Option<String>,
    /// Only these tiers (any of them); empty means every tier.
    pub tiers: Vec<String>,
    /// Only memories with this summarized flag.
    pub summarized: Option<bool>,
    /// Only memories created in this range.
    pub created: TimeRange,
    /// Only memories updated in this range.
    pub updated: TimeRange,
    /// Only memories whose metadata contains this JSON object (PostgreSQL `@>`).
    pub metadata_contains: Option<Value>,
    /// Only memories whose metadata passes this filter (operators, paths: see
    /// [`crate::filter`]).
    pub metadata_filter: Option<Filter>,
    /// Only memories related to at least one of these threads; empty means no filter.
    pub related_to_any: Vec<String>,
    /// Result order.
    pub order: Order,
    /// At most this many results.
    pub limit: Option<u64>,
    /// Skip this many results first.
    pub offset: u64,
    /// Read each memory's embedding too (see [`crate::Memory::embedding`]).
    pub with_embeddings: bool,
    /// Return expired memories too (those a sweep has not deleted yet); by default every
    /// read leaves them out.
    pub include_expired: bool,
    /// The moment expiry is judged at: memories with `expires_at <= as_of` are left out.
    /// `None` is now; the [`crate::validate::query`] a store runs fills it in, so that every
    /// statement of one read judges at the same moment.
    pub as_of: Option<Timestamp>,
}

impl MemoryQuery {
    /// A query for every memory, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filters by user.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Filters by namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Filters by thread.
    pub fn thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Filters by one tier.
    pub fn tier(mut self, tier: impl Into<String>) -> Self {
        self.tiers = vec![tier.into()];
        self
    }

    /// Filters by any of several tiers.
    pub fn tiers<I, S>(mut self, tiers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tiers = tiers.into_iter().map(Into::into).collect();
        self
    }

    /// Filters by the summarized flag.
    pub fn summarized(mut self, summarized: bool) -> Self {
        self.summarized = Some(summarized);
        self
    }

    /// Filters by creation time.
    pub fn created(mut self, from: Option<Timestamp>, until: Option<Timestamp>) -> Self {
        self.created = TimeRange { from, until };
        self
    }

    /// Filters by update time.
    pub fn updated(mut self, from: Option<Timestamp>, until: Option<Timestamp>) -> Self {
        self.updated = TimeRange { from, until };
        self
    }

    /// Filters by metadata containment (`metadata @> filter`).
    pub fn contains(mut self, filter: Value) -> Self {
        self.metadata_contains = Some(filter);
        self
    }

    /// Filters metadata with operators and paths (see [`crate::filter`]).
    ///
    /// ```
    /// use engram_core::{filter::Filter, MemoryQuery};
    /// let filter = Filter::parse(&serde_json::json!({"n": {"$gt": 9}}), "filter").unwrap();
    /// let query = MemoryQuery::new().filter(filter);
    /// assert!(query.metadata_filter.is_some());
    /// ```
    pub fn filter(mut self, filter: Filter) -> Self {
        self.metadata_filter = Some(filter);
        self
    }

    /// Filters by related threads (any of them).
    pub fn related_to_any<I, S>(mut self, threads: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.related_to_any = threads.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the page start.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Reads each memory's embedding too.
    pub fn with_embeddings(mut self) -> Self {
        self.with_embeddings = true;
        self
    }

    /// Returns expired memories too (until a sweep deletes them).
    pub fn include_expired(mut self) -> Self {
        self.include_expired = true;
        self
    }

    /// Judges expiry at `at` instead of now.
    pub fn as_of(mut self, at: Timestamp) -> Self {
        self.as_of = Some(at);
        self
    }

    /// The moment a memory must outlive to be read, `None` when expired memories are read
    /// too (see [`MemoryQuery::include_expired`] and [`MemoryQuery::as_of`]).
    pub fn live_at(&self) -> Option<Timestamp> {
        (!self.include_expired).then(|| self.as_of.unwrap_or_else(Timestamp::now))
    }
}

/// How a nearest-neighbour query searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Search {
    /// Compare the query with every memory that matches the filters (the default): the
    /// true k nearest, the same on both backends.
    #[default]
    Exact,
    /// On PostgreSQL, let an approximate (HNSW) index made by `create_vector_index` answer:
    /// faster on large stores, but it may miss some of the true nearest. Where it returns
    /// fewer than k rows (a selective filter, a short index), engram searches exactly
    /// instead, so k rows still come back whenever k match. SQLite always searches exactly.
    Approximate,
}

/// The k memories nearest to a vector, among those matching a filter: ordered by distance,
/// then id; memories without an embedding are never returned.
///
/// ```
/// use engram_core::{Embedding, Metric, MemoryQuery, NearestQuery};
/// let near = NearestQuery::new(Embedding::new(vec![0.1, 0.9]).unwrap(), 5)
///     .metric(Metric::L2)
///     .filter(MemoryQuery::new().user("alice"));
/// assert_eq!(near.k, 5);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearestQuery {
    /// The query vector: the store's dimensions.
    pub vector: Embedding,
    /// The distance (cosine by default).
    #[serde(default)]
    pub metric: Metric,
    /// At most this many memories.
    pub k: u64,
    /// Skip this many of the nearest first (for paging).
    #[serde(default)]
    pub offset: u64,
    /// Which memories take part: every filter of a [`MemoryQuery`] applies before ranking.
    /// Its order, limit and offset are ignored; `with_embeddings` is honoured.
    #[serde(default)]
    pub filter: MemoryQuery,
    /// Exact (the default) or approximate.
    #[serde(default)]
    pub search: Search,
}

impl NearestQuery {
    /// The `k` memories nearest to `vector` by cosine distance, of every memory.
    pub fn new(vector: Embedding, k: u64) -> Self {
        NearestQuery {
            vector,
            metric: Metric::default(),
            k,
            offset: 0,
            filter: MemoryQuery::default(),
            search: Search::default(),
        }
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Skips the `offset` nearest first.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Ranks only the memories matching `filter`.
    pub fn filter(mut self, filter: MemoryQuery) -> Self {
        self.filter = filter;
        self
    }

    /// Lets an approximate index answer (see [`Search::Approximate`]).
    pub fn approximate(mut self) -> Self {
        self.search = Search::Approximate;
        self
    }
}

/// Which clusters to read: one user's, optionally narrowed to a topic and a category.
/// Results are ordered by topic, category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterQuery {
    /// The owner.
    pub user_id: String,
    /// Only this topic.
    pub topic: Option<String>,
    /// Only this category.
    pub category: Option<String>,
}

impl ClusterQuery {
    /// All clusters of `user_id`.
    pub fn user(user_id: impl Into<String>) -> Self {
        ClusterQuery {
            user_id: user_id.into(),
            ..Default::default()
        }
    }

    /// Narrows to a topic.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Narrows to a category.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }
}
