//! engram-core: the types every engram backend shares, and the rules they all follow.
//!
//! This crate holds the data model ([`Memory`], [`NewMemory`], [`MemoryUpdate`],
//! [`Cluster`]), the query description ([`MemoryQuery`]), the [`MemoryBackend`] trait the
//! SQLite and PostgreSQL crates implement, the one [`Error`] enum, DSN parsing ([`Dsn`]),
//! input validation ([`validate`]), value filters with operators ([`filter`]), the health report ([`health`]), the query plan every backend renders ([`plan`]), the
//! column order and decoding rules of stored rows ([`row`]), JSON document normalization ([`document`]) and the
//! containment matcher ([`containment`]) that gives SQLite PostgreSQL's `jsonb @>`, with the
//! keys of SQLite's containment index ([`index`]).

pub mod backend;
pub mod containment;
pub mod document;
pub mod dsn;
pub mod error;
pub mod filter;
pub mod health;
pub mod history;
pub mod index;
pub mod item;
pub mod model;
pub mod plan;
pub mod policy;
pub mod query;
pub mod row;
pub mod tape;
pub mod validate;
pub mod vector;

pub use backend::{
    BackendKind, MemoryBackend, OnConflict, PoolOptions, VectorIndex, VectorSupport,
};
pub use dsn::{Dsn, SqliteLocation, SqliteMode};
pub use error::{Context, Error, ErrorKind, Message, Result, Source};
pub use health::{Expired, Health, Integrity, MigrationHealth, Relation, RelationKind, Storage};
pub use history::{Audit, EventKind, HistoryEvent};
pub use model::{
    Cluster, ClusterUpsert, Memory, MemoryUpdate, Neighbour, NewMemory, Stats, Sweep, Timestamp,
    DEFAULT_NAMESPACE, DEFAULT_SCORE, DEFAULT_TIERS, LONG_TERM, MID_TERM, SHORT_TERM,
};
pub use policy::{AgeOf, PolicyAction, PolicyReport, PolicyStep, TierPolicy};
pub use query::{ClusterQuery, MemoryQuery, NearestQuery, Order, Search, TimeRange};
pub use vector::{Embedding, Metric};
