//! engram's PostgreSQL backend: memories in a `jsonb` schema, metadata containment with `@>`
//! served by GIN indexes, through an r2d2 pool whose connections cache prepared statements.

mod connection;
mod copy;
mod sql;
mod store;

pub use connection::{PgConnection, PgConnectionManager};
pub use store::PostgresStore;
