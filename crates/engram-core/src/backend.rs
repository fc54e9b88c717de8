//! The contract a storage backend fulfils, and the settings it is opened with.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::health::Storage;
use crate::history::{Audit, HistoryEvent};
use crate::index::IndexCheck;
use crate::item::{Item, ItemSearch, Namespace, PrefixRange};

use crate::{
    Cluster, ClusterQuery, ClusterUpsert, Memory, MemoryQuery, MemoryUpdate, Metric, NearestQuery,
    Neighbour, PolicyReport, Result, Stats, TierPolicy, Timestamp,
};

/// Which database a store talks to. In JSON: `"sqlite"` or `"postgres"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// SQLite through rusqlite.
    Sqlite,
    /// PostgreSQL through the `postgres` crate.
    Postgres,
}

impl BackendKind {
    /// Both backends, PostgreSQL first.
    ///
    /// ```
    /// use engram_core::BackendKind;
    /// assert_eq!(BackendKind::ALL, [BackendKind::Postgres, BackendKind::Sqlite]);
    /// ```
    pub const ALL: [BackendKind; 2] = [BackendKind::Postgres, BackendKind::Sqlite];
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Sqlite => "SQLite",
            BackendKind::Postgres => "PostgreSQL",
        })
    }
}

/// Connection pool settings.
///
/// ```
/// use std::time::Duration;
/// use engram_core::PoolOptions;
/// let options = PoolOptions { max_size: 4, ..PoolOptions::default() };
/// assert_eq!(options.connection_timeout, Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most connections open at once (an in-memory SQLite database always uses one).
    pub max_size: u32,
    /// How long to wait for a free connection, and for a new connection to open (on
    /// PostgreSQL, the whole handshake, unless the DSN gives `connect_timeout`).
    pub connection_timeout: Duration,
    /// How long a statement waits for a lock held by another connection before it fails:
    /// SQLite's busy timeout, PostgreSQL's `lock_timeout`.
    pub busy_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 8,
            connection_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether a store can keep and search embeddings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VectorSupport {
    /// It can: SQLite always, PostgreSQL with pgvector enabled in the database.
    Available,
    /// It cannot (PostgreSQL without pgvector); the reason says what is missing and how to
    /// get it.
    Unavailable {
        /// What is missing, and how to get it.
        reason: String,
    },
}

/// An approximate (HNSW) index over the embeddings, for one metric, with pgvector's
/// parameters: `m` links per node (2 to 100), `ef_construction` candidates while building
/// (4 to 1,000, at least `2 m`), and the store's dimensions (at most 2,000 for HNSW).
///
/// ```
/// use engram_core::{backend::VectorIndex, Metric};
/// let index = VectorIndex::new(Metric::Cosine);
/// assert_eq!((index.m, index.ef_construction), (16, 64));
/// assert!(VectorIndex { m: 40, ..index }.check().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorIndex {
    /// The metric the index serves.
    pub metric: Metric,
    /// pgvector's `m`.
    pub m: u32,
    /// pgvector's `ef_construction`.
    pub ef_construction: u32,
}

impl VectorIndex {
    /// Most dimensions an HNSW index takes (pgvector's `HNSW_MAX_DIM`).
    pub const MAX_DIMENSIONS: usize = 2_000;

    /// pgvector's defaults: `m = 16`, `ef_construction = 64`.
    pub fn new(metric: Metric) -> Self {
        VectorIndex {
            metric,
            m: 16,
            ef_construction: 64,
        }
    }

    /// Checks the parameters against pgvector's ranges.
    pub fn check(&self) -> Result<()> {
        if !(2..=100).contains(&self.m) {
            return Err(crate::Error::invalid(
                "m",
                format!("must be between 2 and 100, got {}", self.m),
            ));
        }
        if !(4..=1000).contains(&self.ef_construction) || self.ef_construction < 2 * self.m {
            return Err(crate::Error::invalid(
                "ef_construction",
                format!(
                    "must be between 4 and 1000 and at least 2 * m ({}), got {}",
                    2 * self.m,
                    self.ef_construction
                ),
            ));
        }
        Ok(())
    }
}

/// What to do when an inserted memory's id already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Fail the whole batch with [`crate::Error::Conflict`]; nothing is written.
    Fail,
    /// Keep the stored row and skip the new one (used by imports, so that re-running one
    /// does not duplicate rows).
    Skip,
}

/// A storage backend. Inputs reach it already validated and normalized by
/// [`crate::validate`]; it only stores, reads and counts.
///
/// Every method is one transaction. Implementations must give the same observable results:
/// the conformance suite runs the same cases on each.
pub trait MemoryBackend: Send + Sync + fmt::Debug {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Stores `memories` and their embeddings in one transaction; returns how many rows
    /// were written. An embedding whose dimensions differ from the store's fails the whole
    /// batch with [`Embedding::dimension_mismatch`](crate::Embedding::dimension_mismatch);
    /// the first embedding a store holds fixes its dimensions.
    ///
    /// Every write method appends, in its own transaction, one history event per memory it
    /// changes (see [`crate::history`]), unless `audit` says history is off.
    fn insert_memories(
        &self,
        memories: &[Memory],
        on_conflict: OnConflict,
        audit: &Audit,
    ) -> Result<u64>;

    /// Reads one memory unless it has expired at `now`, with its embedding when
    /// `with_embedding`.
    fn get_memory(&self, id: Uuid, with_embedding: bool, now: Timestamp) -> Result<Option<Memory>>;

    /// Applies `update` (an embedding too, checked as [`MemoryBackend::insert_memories`]
    /// checks it; its expiry as [`crate::validate::update`] resolved it) and sets
    /// `updated_at` to `now`; returns the new row (without its embedding), or `None` when
    /// there is no such memory or it has expired at `now`.
    fn update_memory(
        &self,
        id: Uuid,
        update: &MemoryUpdate,
        now: Timestamp,
        audit: &Audit,
    ) -> Result<Option<Memory>>;

    /// Deletes one memory, expired or not; returns whether it existed and had not expired
    /// at `now` (an expired memory is not there for any read, nor for this answer).
    fn delete_memory(&self, id: Uuid, now: Timestamp, audit: &Audit) -> Result<bool>;

    /// Deletes at most `limit` memories that have expired at `now`, those that expired first
    /// first, in one transaction; returns how many it deleted. Sweeps running at once in
    /// several processes each delete different memories, and never one that has not
    /// expired.
    fn sweep_expired(&self, now: Timestamp, limit: u64, audit: &Audit) -> Result<u64>;

    /// The history events of memory `id`, oldest first.
    fn history(&self, id: Uuid) -> Result<Vec<HistoryEvent>>;

    /// Deletes the history events older than `before`; returns how many.
    fn prune_history(&self, before: Timestamp) -> Result<u64>;

    /// How many memories have expired at `now` and are still stored (not swept yet).
    fn count_expired(&self, now: Timestamp) -> Result<u64>;

    /// The memories matching `query`, in its order, limited and offset.
    fn query_memories(&self, query: &MemoryQuery) -> Result<Vec<Memory>>;

    /// Calls `each` with the memories matching `query`, in its order, limited and offset,
    /// one at a time as they are read (memory use does not grow with the result), all read
    /// from one snapshot of the database: writes committed while the export runs are not
    /// seen, and every write committed before it is. Stops early when `each` breaks; returns
    /// how many memories were passed to `each`.
    ///
    /// SQLite reads inside one read transaction (WAL mode lets writers go on meanwhile);
    /// PostgreSQL inside one `REPEATABLE READ READ ONLY` transaction, fetching from a portal a
    /// page at a time.
    fn export_memories(
        &self,
        query: &MemoryQuery,
        each: &mut dyn FnMut(Memory) -> std::ops::ControlFlow<()>,
    ) -> Result<u64>;

    /// How many memories match `query`'s filters (order, limit and offset ignored).
    fn count_memories(&self, query: &MemoryQuery) -> Result<u64>;

    /// The `query.k` memories with an embedding nearest to `query.vector` among those
    /// matching its filter, by distance then id, from `query.offset`; exact unless the query
    /// allows an approximate index and the backend has one.
    fn nearest_memories(&self, query: &NearestQuery) -> Result<Vec<Neighbour>>;

    /// The dimensions every embedding of this store has, once one has been stored.
    fn vector_dimensions(&self) -> Result<Option<usize>>;

    /// Whether this store can keep and search embeddings now, and if not, why and how to
    /// make it able (the reason [`crate::Error::Unsupported`] would give).
    fn vector_support(&self) -> Result<VectorSupport>;

    /// Makes vector operations available where the database needs a step for it: on
    /// PostgreSQL, enables pgvector in the database and creates the embeddings table (the
    /// migration does this where it can; this is for a server that got pgvector later).
    /// Fails with [`crate::Error::Unsupported`], saying what is missing, where it cannot.
    fn enable_vectors(&self) -> Result<()>;

    /// Creates an approximate (HNSW) index for `metric`, replacing one with other settings.
    /// Only PostgreSQL has one; SQLite answers [`crate::Error::Unsupported`].
    fn create_vector_index(&self, index: &VectorIndex) -> Result<()>;

    /// Drops the approximate index for `metric`; returns whether there was one.
    fn drop_vector_index(&self, metric: Metric) -> Result<bool>;

    /// Creates the cluster or replaces the one with the same (user, topic, category), in
    /// one statement; `cluster_id` and `now` are used only when it is created.
    fn upsert_cluster(
        &self,
        cluster: &ClusterUpsert,
        cluster_id: Uuid,
        now: Timestamp,
    ) -> Result<Cluster>;

    /// The clusters matching `query`, by topic then category.
    fn get_clusters(&self, query: &ClusterQuery) -> Result<Vec<Cluster>>;

    /// Deletes one cluster; returns whether it existed.
    fn delete_cluster(&self, cluster_id: Uuid) -> Result<bool>;

    /// How many clusters are stored, of every user.
    fn count_clusters(&self) -> Result<u64>;

    /// Runs `policies` as of `now` in one transaction, the statements of
    /// [`crate::policy::PolicyStatement::plan`] in order: for each policy, one deleting
    /// memories past their retention, one moving old rows and one trimming long content.
    fn run_policies(
        &self,
        policies: &[TierPolicy],
        now: Timestamp,
        audit: &Audit,
    ) -> Result<PolicyReport>;

    /// Counts of the memories live at `now` per tier and per user, optionally for one user
    /// only.
    fn stats(&self, user_id: Option<&str>, now: Timestamp) -> Result<Stats>;

    /// Applies queued changes to engram's own containment index, at most `batch` per
    /// transaction, calling `progress(applied so far, queued at the start)` after each;
    /// returns how many it applied. Every write applies the queue anyway; this is for a
    /// migration that queued every stored memory (SQLite's 0003). Nothing to do on
    /// PostgreSQL, whose GIN indexes PostgreSQL keeps.
    fn update_index(&self, batch: u64, progress: &mut dyn FnMut(u64, u64)) -> Result<u64>;

    /// Recomputes the containment index's keys of every memory and compares them with the
    /// stored index (see [`IndexCheck`]).
    fn check_index(&self) -> Result<IndexCheck>;

    /// Stores `value` (an object, validated) under `namespace` and `key` at `now`, replacing
    /// what is there (its `created_at` kept, unless what is there has expired), expiring
    /// `ttl` after `now` when given; returns the item as stored.
    fn put_item(
        &self,
        namespace: &Namespace,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<Item>;

    /// Deletes at most `limit` items expired at `now`, those that expired first first;
    /// returns how many. Safe to run from several processes at once.
    fn sweep_items(&self, now: Timestamp, limit: u64) -> Result<u64>;

    /// The item under `namespace` and `key`, unless missing or expired at `now`; with
    /// `refresh`, its expiry refreshed ([`Item::refresh`]) in the same transaction.
    fn get_item(
        &self,
        namespace: &Namespace,
        key: &str,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Option<Item>>;

    /// Deletes the item under `namespace` and `key`; whether it was there and live at `now`.
    fn delete_item(&self, namespace: &Namespace, key: &str, now: Timestamp) -> Result<bool>;

    /// The items live at `now` that `search` selects, newest first (ties by namespace, then
    /// key), paged; with `search.refresh`, their expiry refreshed in the same transaction.
    fn search_items(&self, search: &ItemSearch, now: Timestamp) -> Result<Vec<Item>>;

    /// How many items have expired at `now` (a sweep has not deleted them yet).
    fn count_expired_items(&self, now: Timestamp) -> Result<u64>;

    /// The distinct namespaces of the items live at `now`, in no particular order, only
    /// those in `prefix` when given (see
    /// [`NamespaceQuery::select`](crate::item::NamespaceQuery::select), which lists them).
    fn item_namespaces(
        &self,
        prefix: Option<&PrefixRange>,
        now: Timestamp,
    ) -> Result<Vec<Namespace>>;

    /// What the database measures of its own storage: each table's and index's size, index
    /// usage where it is counted, integrity checks, the write-ahead log. Works before the
    /// schema exists (it lists what is there).
    fn storage(&self) -> Result<Storage>;
}
