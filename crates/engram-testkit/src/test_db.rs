//! A fresh, empty test database of either backend, with direct SQL access for checking what
//! the code under test wrote.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use engram_core::BackendKind;

/// The file name of a SQLite test database inside its temporary directory.
const SQLITE_FILE: &str = "engram.db";

/// A fresh, empty database: a SQLite file (not created yet) in a new temporary directory, or
/// a new database on the test PostgreSQL server (see [`crate::postgres`]).
///
/// Both kinds also have a temporary working directory, for files a test writes; it and the
/// SQLite file are removed when the `TestDb` is dropped. A PostgreSQL database is dropped with
/// the test server when the test process exits.
///
/// ```no_run
/// use engram_core::BackendKind;
/// use engram_testkit::TestDb;
///
/// let db = TestDb::new(BackendKind::Sqlite);
/// assert!(db.dsn().starts_with("sqlite://"));
/// db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)");
/// assert!(db.has_table("notes"));
/// ```
#[derive(Debug)]
pub struct TestDb {
    kind: BackendKind,
    dsn: String,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh database of the given backend.
    ///
    /// # Panics
    ///
    /// When the temporary directory cannot be made, or (PostgreSQL) when there is no test
    /// server; see [`crate::postgres::fresh_database_url`].
    pub fn new(kind: BackendKind) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        let dsn = match kind {
            BackendKind::Sqlite => format!("sqlite://{}", dir.path().join(SQLITE_FILE).display()),
            BackendKind::Postgres => crate::postgres::fresh_database_url(),
        };
        TestDb { kind, dsn, dir }
    }

    /// A fresh SQLite database: `TestDb::new(BackendKind::Sqlite)`.
    pub fn sqlite() -> Self {
        Self::new(BackendKind::Sqlite)
    }

    /// A fresh PostgreSQL database: `TestDb::new(BackendKind::Postgres)`.
    pub fn postgres() -> Self {
        Self::new(BackendKind::Postgres)
    }

    /// Which backend the database is on.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The database's DSN: `sqlite:///tmp/…/engram.db` or `postgres://…`.
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// The temporary working directory (it also holds the SQLite file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file path inside the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The SQLite file, for SQLite databases.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        (self.kind == BackendKind::Sqlite).then(|| self.path(SQLITE_FILE))
    }

    /// A new direct connection to the database (for SQLite, this creates the file).
    ///
    /// # Panics
    ///
    /// When the database cannot be opened.
    pub fn connect(&self) -> TestConnection {
        match self.sqlite_file() {
            Some(path) => TestConnection::Sqlite(
                rusqlite::Connection::open(&path)
                    .unwrap_or_else(|e| panic!("open the SQLite file {}: {e}", path.display())),
            ),
            None => TestConnection::Postgres(
                postgres::Client::connect(&self.dsn, postgres::NoTls).unwrap_or_else(|e| {
                    panic!(
                        "connect to the test database {}: {e}",
                        engram_core::dsn::redact(&self.dsn)
                    )
                }),
            ),
        }
    }

    /// Runs SQL (one or more statements) on a new connection.
    ///
    /// # Panics
    ///
    /// When the database cannot be opened or the SQL fails.
    pub fn execute(&self, sql: &str) {
        self.connect().execute(sql);
    }

    /// Whether the table exists; false also when the SQLite file does not (which this does
    /// not create).
    pub fn has_table(&self, table: &str) -> bool {
        if self.sqlite_file().is_some_and(|path| !path.exists()) {
            return false;
        }
        self.connect().tables().contains(table)
    }
}

/// A direct connection to a [`TestDb`].
pub enum TestConnection {
    /// A SQLite connection.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL connection.
    Postgres(postgres::Client),
}

impl TestConnection {
    /// Runs SQL (one or more statements).
    ///
    /// # Panics
    ///
    /// When the SQL fails; the message holds the SQL.
    pub fn execute(&mut self, sql: &str) {
        let result =
            match self {
                TestConnection::Sqlite(conn) => conn.execute_batch(sql).map_err(|e| e.to_string()),
                TestConnection::Postgres(client) => client.batch_execute(sql).map_err(|e| match e
                    .as_db_error()
                {
                    Some(db) => format!("{e}: {db}"),
                    None => e.to_string(),
                }),
            };
        if let Err(error) = result {
            panic!("{sql}: {error}");
        }
    }

    /// The single integer a query returns (a `count(*)`, say).
    ///
    /// # Panics
    ///
    /// When the query fails or returns no integer; the message holds the SQL.
    pub fn count(&mut self, sql: &str) -> i64 {
        let result = match self {
            TestConnection::Sqlite(conn) => conn
                .query_row(sql, [], |row| row.get::<_, i64>(0))
                .map_err(|e| e.to_string()),
            TestConnection::Postgres(client) => client
                .query_one(sql, &[])
                .and_then(|row| row.try_get::<_, i64>(0))
                .map_err(|e| e.to_string()),
        };
        result.unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// The user tables: for SQLite without its internal `sqlite_*` tables, for PostgreSQL the
    /// base tables of the `public` schema.
    pub fn tables(&mut self) -> BTreeSet<String> {
        match self {
            TestConnection::Sqlite(conn) => {
                let mut stmt = conn
                    .prepare(
                        "SELECT name FROM sqlite_master WHERE type = 'table' \
                         AND name NOT LIKE 'sqlite_%'",
                    )
                    .expect("prepare the table list");
                let names = stmt
                    .query_map([], |row| row.get::<_, String>(0))
                    .expect("list the tables")
                    .collect::<Result<_, _>>()
                    .expect("read the table list");
                names
            }
            TestConnection::Postgres(client) => client
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                    &[],
                )
                .expect("list the tables")
                .iter()
                .map(|row| row.get(0))
                .collect(),
        }
    }
}
