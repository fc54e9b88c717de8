//! engram-testkit: test and benchmark support for engram (dev-only, never published).
//!
//! - [`harness`]: the cross-backend test harness. A case is written once, as a function of a
//!   [`TestDb`], and the [`cross_backend!`] macro runs it on SQLite and on PostgreSQL; a case
//!   that is written but not listed fails the build.
//! - [`TestDb`]: a fresh, empty database of either backend (a temporary SQLite file or a new
//!   database on the throwaway PostgreSQL server), with its DSN and direct SQL access.
//! - [`postgres`]: a throwaway PostgreSQL server, one per test process, started on first
//!   use from an installed `initdb`/`pg_ctl` with pgvector, else from a pgserver copy
//!   (PostgreSQL 16 with pgvector) that it fetches with pip and caches (or the server
//!   named by `ENGRAM_TEST_PG_URL`), with a fresh database per call and nothing left
//!   behind when the process ends.
//! - [`faults`]: a server that accepts and never answers, a hang guard, and a root check,
//!   for the tests of timeouts and permissions.
//! - [`data`]: a seeded generator of realistic agent memories, shared by the tests and the
//!   benchmarks, with filters of known selectivity.

pub mod data;
pub mod faults;
pub mod harness;
pub mod postgres;
mod test_db;

/// Which backend a [`TestDb`] is on (re-exported from engram-core).
pub use engram_core::BackendKind;
pub use test_db::{TestConnection, TestDb};
