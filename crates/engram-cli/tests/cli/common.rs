//! Test support: a fresh database of either backend, the `engram` binary pointed at it, and
//! direct SQL access to check what the binary did.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The `engram` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_engram");

/// Which backend a test database is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty database and a temporary working directory for files the test writes.
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    dir: tempfile::TempDir,
}

impl TestDb {
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Sqlite => Self::sqlite(),
            Kind::Postgres => Self::postgres(),
        }
    }

    /// A SQLite file (not created yet) in a new temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("engram.db").display());
        TestDb {
            kind: Kind::Sqlite,
            url,
            dir,
        }
    }

    /// A new database on the test PostgreSQL server.
    pub fn postgres() -> Self {
        TestDb {
            kind: Kind::Postgres,
            url: engram_testkit::postgres::fresh_database_url(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The temporary working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file path inside the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The SQLite file, for SQLite databases.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        (self.kind == Kind::Sqlite).then(|| self.path("engram.db"))
    }

    /// `engram --database-url URL`, in the working directory, with a clean environment
    /// and logging at warn (stderr empty unless something is wrong).
    pub fn cmd(&self) -> Command {
        let mut cmd = bare_cmd(self.dir());
        cmd.env("RUST_LOG", "warn")
            .arg("--database-url")
            .arg(&self.url);
        cmd
    }

    /// Runs `engram ARGS`, expects exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run engram");
        expect_success(args, &output)
    }

    /// Runs `engram ARGS` with `stdin`, expects exit 0, returns stdout.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let output = self
            .cmd()
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("run engram");
        expect_success(args, &output)
    }

    /// Runs `engram ARGS`, expects exit 1 with one line on stderr, returns that line.
    pub fn fail(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run engram");
        expect_user_error(args, &output)
    }

    /// Runs `engram ARGS`, expects exit 2 (a usage error).
    pub fn usage_error(&self, args: &[&str]) {
        let output = self.cmd().args(args).output().expect("run engram");
        assert_eq!(
            output.status.code(),
            Some(2),
            "engram {args:?} should be a usage error; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stdout.is_empty(),
            "usage errors print nothing on stdout"
        );
    }

    /// The ids `engram query ARGS --format ids` prints.
    pub fn ids(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["query"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--format", "ids"]);
        self.ok(&full).lines().map(str::to_string).collect()
    }

    /// Runs SQL directly on the database.
    pub fn execute(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let path = self.sqlite_file().expect("SQLite file");
                let conn = rusqlite::Connection::open(path).expect("open SQLite");
                conn.execute_batch(sql).expect(sql);
            }
            Kind::Postgres => {
                let mut client =
                    postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
                client.batch_execute(sql).expect(sql);
            }
        }
    }

    /// One integer from a query.
    pub fn count(&self, sql: &str) -> i64 {
        match self.kind {
            Kind::Sqlite => {
                let path = self.sqlite_file().expect("SQLite file");
                let conn = rusqlite::Connection::open(path).expect("open SQLite");
                conn.query_row(sql, [], |row| row.get(0)).expect(sql)
            }
            Kind::Postgres => {
                let mut client =
                    postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
                client.query_one(sql, &[]).expect(sql).get(0)
            }
        }
    }

    /// Whether a table exists (false also when the SQLite file does not).
    pub fn has_table(&self, table: &str) -> bool {
        match self.kind {
            Kind::Sqlite => {
                let path = self.sqlite_file().expect("SQLite file");
                if !path.exists() {
                    return false;
                }
                self.count(&format!(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
                )) == 1
            }
            Kind::Postgres => {
                self.count(&format!(
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = '{table}'"
                )) == 1
            }
        }
    }

    /// The tracking table's rows as (version, success), versions ascending.
    pub fn migration_rows(&self) -> Vec<(i64, bool)> {
        let sql = "SELECT version, success FROM engram_schema_migrations ORDER BY version";
        match self.kind {
            Kind::Sqlite => {
                let path = self.sqlite_file().expect("SQLite file");
                let conn = rusqlite::Connection::open(path).expect("open SQLite");
                let mut stmt = conn.prepare(sql).expect(sql);
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? == 1)))
                    .expect(sql);
                rows.map(|r| r.expect("row")).collect()
            }
            Kind::Postgres => {
                let mut client =
                    postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
                client
                    .query(sql, &[])
                    .expect(sql)
                    .iter()
                    .map(|row| (i64::from(row.get::<_, i32>(0)), row.get(1)))
                    .collect()
            }
        }
    }

    /// SQL for "true" in this dialect's tracking table.
    pub fn sql_bool(&self, value: bool) -> &'static str {
        match (self.kind, value) {
            (Kind::Sqlite, true) => "1",
            (Kind::Sqlite, false) => "0",
            (Kind::Postgres, true) => "true",
            (Kind::Postgres, false) => "false",
        }
    }

    /// SQL for "now" in this dialect's tracking table.
    pub fn sql_now(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "0",
            Kind::Postgres => "now()",
        }
    }

    /// The embedded migration set of this backend.
    pub fn migrations(&self) -> &'static engram_migrate::MigrationSet {
        engram_migrate::MigrationSet::embedded(match self.kind {
            Kind::Sqlite => engram_migrate::BackendKind::Sqlite,
            Kind::Postgres => engram_migrate::BackendKind::Postgres,
        })
    }
}

/// `engram` in `dir`, with none of the DSN variables set.
pub fn bare_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("ENGRAM_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    cmd
}

/// Asserts exit 0 and returns stdout.
pub fn expect_success(args: &[&str], output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "engram {args:?} failed; stdout: {}; stderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

/// Asserts exit 1 with exactly one `error: …` line on stderr, and returns it.
pub fn expect_user_error(args: &[&str], output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(
        output.status.code(),
        Some(1),
        "engram {args:?} should fail with 1; stdout: {}; stderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

/// A memory id used by the fixtures: `00000000-0000-7000-8000-0000000000NN`.
pub fn id(n: u32) -> String {
    format!("00000000-0000-7000-8000-{n:012}")
}
