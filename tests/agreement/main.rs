//! Agreement properties: engram's containment matcher against PostgreSQL's own `jsonb @>`,
//! the SQLite store against the PostgreSQL store and a pure-Rust oracle, and documents read
//! back from either store against what PostgreSQL itself makes of the same JSON text.
//!
//! Every property runs 2,000 cases by default (`PROPTEST_CASES` overrides), shrinks a
//! failure to a minimal case and records its seed in `tests/proptest-regressions/agreement/`,
//! from where it is replayed first on every later run. Documents are generated as JSON
//! *text* (see [`generate::Doc`]) so that the same value reaches engram and PostgreSQL in many
//! spellings: numbers as `1e2`, `1E+2`, `100.0`, `-0`; strings with `\u` escapes; repeated
//! keys.
//!
//! The properties live in [`containment`] (the matcher and the SQLite fast path against
//! PostgreSQL's `@>`), [`stores`] (both stores against each other and an oracle),
//! [`index`] (SQLite's containment index through random sequences of writes, against a
//! model and PostgreSQL), [`lifecycle`] (expiry, sweeps and reads at a moving clock on both
//! stores, against a model), [`documents`] (documents and numbers as PostgreSQL returns them),
//! [`filters`] (metadata filters with operators on both stores against the Rust rule, and
//! numbers ordered as PostgreSQL's `numeric`) and [`vectors`] (nearest-neighbour search on
//! both stores against pgvector); [`generate`]
//! holds the strategies and this file what they share: run settings, the PostgreSQL oracle
//! connection and the store fixtures.

// The facade suites' store set-up; this suite needs only some of it.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
mod containment;
mod documents;
mod filters;
mod generate;
mod index;
mod lifecycle;
mod stores;
mod vectors;

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use engram::Store;
use engram_testkit::{BackendKind, TestConnection, TestDb};
use postgres::{Client, NoTls, Statement};
use proptest::test_runner::{
    Config, FileFailurePersistence, TestCaseError, TestCaseResult, TestRunner,
};
use serde_json::Value;

use generate::Doc;

/// The run settings of every property: 2,000 cases unless `PROPTEST_CASES` says otherwise,
/// failures persisted to `regressions` (a path relative to the package root).
fn config(regressions: &'static str) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

/// Runs `test` on values of `strategy` under [`config`]; panics with the shrunk
/// counterexample on failure.
fn check<S>(regressions: &'static str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(regressions));
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}\n{runner}");
    }
}

/// Turns any displayable error into a test failure (not a panic, so that proptest shrinks).
fn fail<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> TestCaseError {
    move |e| TestCaseError::fail(format!("{context}: {e}"))
}

/// One connection to the test PostgreSQL server shared by the whole test process, with the
/// two statements the oracles need prepared once.
struct Oracle {
    client: Client,
    contains: Statement,
    jsonb: Statement,
}

fn postgres() -> MutexGuard<'static, Oracle> {
    static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();
    ORACLE
        .get_or_init(|| {
            let url = engram_testkit::postgres::fresh_database_url();
            let mut client = Client::connect(&url, NoTls).expect("connect to test PostgreSQL");
            let contains = client
                .prepare("SELECT $1::text::jsonb @> $2::text::jsonb")
                .expect("prepare @>");
            let jsonb = client
                .prepare("SELECT ($1::text::jsonb)::text")
                .expect("prepare jsonb");
            Mutex::new(Oracle {
                client,
                contains,
                jsonb,
            })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// PostgreSQL's answer to `left::jsonb @> right::jsonb` for two JSON texts.
fn pg_contains(left: &str, right: &str) -> Result<bool, postgres::Error> {
    let oracle = &mut *postgres();
    let row = oracle
        .client
        .query_one(&oracle.contains, &[&left, &right])?;
    Ok(row.get(0))
}

/// What PostgreSQL makes of a JSON text: `Ok(($1::text::jsonb)::text)`, or `Err` with the
/// server's message when it refuses the input. Any other error (a lost connection) fails
/// the test case rather than counting as a refusal.
fn pg_jsonb_text(text: &str) -> Result<Result<String, String>, TestCaseError> {
    let oracle = &mut *postgres();
    match oracle.client.query_one(&oracle.jsonb, &[&text]) {
        Ok(row) => Ok(Ok(row.get(0))),
        Err(e) => match e.as_db_error() {
            Some(db) => Ok(Err(db.message().to_string())),
            None => Err(TestCaseError::fail(format!("PostgreSQL: {e}"))),
        },
    }
}

/// [`pg_jsonb_text`] parsed back into a document (numbers keep PostgreSQL's spelling).
fn pg_jsonb(text: &str) -> Result<Value, TestCaseError> {
    let printed = pg_jsonb_text(text)?.map_err(fail("PostgreSQL rejected valid JSON"))?;
    serde_json::from_str(&printed).map_err(fail("PostgreSQL printed unparsable JSON"))
}

/// A generated document as serde_json reads its text (spellings kept, not normalized).
fn raw(doc: &Doc) -> Result<Value, TestCaseError> {
    serde_json::from_str(&doc.to_json()).map_err(fail("generated text is not JSON"))
}

/// A migrated store on a fresh test database and a direct connection to clear it (behind a
/// mutex, so that a property's test closure can use it).
struct Fixture {
    store: Store,
    conn: Mutex<TestConnection>,
    _db: TestDb,
}

impl Fixture {
    /// Runs `sql` on the direct connection (to empty tables between cases).
    fn execute(&self, sql: &str) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .execute(sql);
    }
}

fn fixture(kind: BackendKind) -> Fixture {
    let db = TestDb::new(kind);
    let store = common::migrated_store(&db);
    let conn = db.connect();
    if let TestConnection::Sqlite(sqlite) = &conn {
        sqlite
            .busy_timeout(std::time::Duration::from_secs(10))
            .expect("busy timeout");
        // As on the store's own connections: in WAL mode a commit need not wait for the disk.
        sqlite
            .pragma_update(None, "synchronous", "NORMAL")
            .expect("synchronous = NORMAL");
    }
    Fixture {
        store,
        conn: Mutex::new(conn),
        _db: db,
    }
}
