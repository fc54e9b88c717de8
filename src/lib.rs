//! engram: long-term memory storage for AI agents, on PostgreSQL or SQLite, chosen by a DSN.
//!
//! One API, two backends: `postgres://…` for production (JSONB `@>` served by GIN indexes)
//! and `sqlite://…` for local development and single-node use (the same containment
//! semantics, computed by engram's own matcher inside SQLite). Everything a caller can observe
//! is the same on both; switching backends is changing one string.
//!
//! ```
//! use engram::{MemoryQuery, NewMemory, Store};
//! use serde_json::json;
//!
//! # fn main() -> engram::Result<()> {
//! let store = Store::open("sqlite::memory:")?;
//! store.migrate()?;
//! store.insert(
//!     NewMemory::new("alice", "prefers green tea")
//!         .thread("onboarding")
//!         .metadata(json!({"topic": "food", "tags": ["tea", "preferences"]})),
//! )?;
//! store.insert(NewMemory::new("alice", "works in Lisbon").metadata(json!({"topic": "work"})))?;
//!
//! let tea = store.query(MemoryQuery::new().user("alice").contains(json!({"tags": ["tea"]})))?;
//! assert_eq!(tea.len(), 1);
//! assert_eq!(tea[0].content, "prefers green tea");
//! # Ok(())
//! # }
//! ```

mod store;

pub use engram_core::document::MAX_DEPTH;
pub use engram_core::filter::Filter;
pub use engram_core::health::{
    Expired, Integrity, MigrationHealth, Relation, RelationKind, Storage,
};
pub use engram_core::index::IndexCheck;
pub use engram_core::item::{Item, ItemSearch, Namespace, NamespaceQuery};
pub use engram_core::vector::MAX_DIMENSIONS;
pub use engram_core::{
    AgeOf, BackendKind, Cluster, ClusterQuery, ClusterUpsert, Dsn, Embedding, Error, ErrorKind,
    EventKind, Health, HistoryEvent, Memory, MemoryBackend, MemoryQuery, MemoryUpdate, Metric,
    NearestQuery, Neighbour, NewMemory, OnConflict, Order, PolicyAction, PolicyReport, PolicyStep,
    Result, Search, SqliteLocation, SqliteMode, Stats, Sweep, TierPolicy, TimeRange, Timestamp,
    VectorIndex, VectorSupport, DEFAULT_NAMESPACE, DEFAULT_SCORE, DEFAULT_TIERS, LONG_TERM,
    MID_TERM, SHORT_TERM,
};
pub use engram_migrate as migrate;
pub use store::{Store, StoreBuilder, INDEX_BATCH};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
