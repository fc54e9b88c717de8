//! Shared set-up for the cross-backend tests of the facade: a store on a fresh [`TestDb`].

use engram::Store;
use engram_testkit::TestDb;
use uuid::Uuid;

/// Memory `n`'s id in the cases: a version 7 id whose text ends in `n`'s digits (in hex).
pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

/// A migrated store, with a pool of four connections, on the test database.
pub fn migrated_store(db: &TestDb) -> Store {
    let store = Store::builder(db.dsn())
        .pool_size(4)
        .open()
        .unwrap_or_else(|e| panic!("open the {} store: {e}", db.kind()));
    store
        .migrate()
        .unwrap_or_else(|e| panic!("migrate the {} store: {e}", db.kind()));
    store
}

/// An unmigrated store on the test database, for tests of what happens before `migrate`.
pub fn unmigrated_store(db: &TestDb) -> Store {
    Store::open(db.dsn()).unwrap_or_else(|e| panic!("open the {} store: {e}", db.kind()))
}

/// [`migrated_store`] for the vector tests: on PostgreSQL it first requires pgvector on the
/// test server, so that without it they fail saying how to get it (they never skip).
pub fn vector_store(db: &TestDb) -> Store {
    if db.kind() == engram_testkit::BackendKind::Postgres {
        engram_testkit::postgres::require_pgvector();
    }
    migrated_store(db)
}
