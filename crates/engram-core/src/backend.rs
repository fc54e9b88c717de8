//! The contract a storage backend fulfils, and the settings it is opened with.

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use crate::{
    Cluster, ClusterQuery, ClusterUpsert, Memory, MemoryQuery, MemoryUpdate, PolicyReport, Result,
    Stats, TierPolicy, Timestamp,
};

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    /// Stores `memories` in one transaction; returns how many rows were written.
    fn insert_memories(&self, memories: &[Memory], on_conflict: OnConflict) -> Result<u64>;

    /// Reads one memory.
    fn get_memory(&self, id: Uuid) -> Result<Option<Memory>>;

    /// Applies `update` and sets `updated_at` to `now`; returns the new row, or `None` when
    /// there is no such memory.
    fn update_memory(
        &self,
        id: Uuid,
        update: &MemoryUpdate,
        now: Timestamp,
    ) -> Result<Option<Memory>>;

    /// Deletes one memory; returns whether it existed.
    fn delete_memory(&self, id: Uuid) -> Result<bool>;

    /// The memories matching `query`, in its order, limited and offset.
    fn query_memories(&self, query: &MemoryQuery) -> Result<Vec<Memory>>;

    /// How many memories match `query`'s filters (order, limit and offset ignored).
    fn count_memories(&self, query: &MemoryQuery) -> Result<u64>;

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

    /// Runs `policies` in order as of `now`: for each, one statement moving expired rows and
    /// one trimming long content.
    fn run_policies(&self, policies: &[TierPolicy], now: Timestamp) -> Result<PolicyReport>;

    /// Memory counts per tier and per user, optionally for one user only.
    fn stats(&self, user_id: Option<&str>) -> Result<Stats>;
}
