//! engram's SQLite backend: a file (or in-memory) database behind an r2d2 pool, with
//! PostgreSQL's `jsonb @>` computed by engram's matcher inside SQLite's WHERE clause.
//!
//! Every connection runs in WAL mode with a busy timeout and foreign keys on, and has the
//! functions `engram_json_contains(document, filter)` and `engram_vector_distance(metric,
//! stored, query)` registered as deterministic SQL. Filters are applied in SQL, so `LIMIT`,
//! `OFFSET` and `count` are exact; nearest-neighbour queries are exact scans of the
//! embeddings that pass the filters, with pgvector's distances computed by engram.

mod functions;
mod index;
mod sql;
mod store;

pub use functions::{register_functions, CONTAINS_FUNCTION, DISTANCE_FUNCTION};
pub use store::{SqliteConnection, SqliteStore};
