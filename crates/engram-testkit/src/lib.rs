//! engram-testkit: test and benchmark support for engram (dev-only, never published).
//!
//! - [`postgres`]: a throwaway PostgreSQL server, one per test process, started on first
//!   use from the installed `initdb`/`pg_ctl` (or the server named by
//!   `ENGRAM_TEST_PG_URL`), with a fresh database per call and nothing left behind when
//!   the process ends.
//! - [`data`]: a seeded generator of realistic agent memories, shared by the tests and the
//!   benchmarks, with filters of known selectivity.

pub mod data;
pub mod postgres;
