//! engram's SQLite backend: a file (or in-memory) database behind an r2d2 pool, with
//! PostgreSQL's `jsonb @>` computed by engram's matcher inside SQLite's WHERE clause.
//!
//! Every connection runs in WAL mode with a busy timeout and foreign keys on, and has the
//! function `engram_json_contains(document, filter)` registered as deterministic SQL. Filters
//! are applied in SQL, so `LIMIT`, `OFFSET` and `count` are exact.

mod functions;
mod sql;
mod store;

pub use functions::{register_functions, CONTAINS_FUNCTION};
pub use store::{SqliteConnection, SqliteStore};
