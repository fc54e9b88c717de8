//! Test support: the `engram` binary pointed at a [`TestDb`] (the testkit's fresh database of
//! either backend), and direct SQL access to check what the binary did.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use engram_testkit::{BackendKind, TestConnection, TestDb};

/// The `engram` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_engram");

/// The `engram` binary run against a test database, and the checks of what it wrote.
pub trait RunEngram {
    /// `engram --database-url URL`, in the working directory, with a clean environment
    /// and logging at warn (stderr empty unless something is wrong).
    fn cmd(&self) -> Command;

    /// Runs `engram ARGS`, expects exit 0, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run engram");
        expect_success(args, &output)
    }

    /// Runs `engram ARGS` with `stdin`, expects exit 0, returns stdout.
    fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        expect_success(args, &self.run_stdin(args, stdin))
    }

    /// Runs `engram ARGS` with `stdin`; returns what it did.
    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.cmd()
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("run engram")
    }

    /// Runs `engram ARGS`, expects exit 1 with one line on stderr, returns that line.
    fn fail(&self, args: &[&str]) -> String {
        let output = self.cmd().args(args).output().expect("run engram");
        expect_user_error(args, &output)
    }

    /// Runs `engram ARGS` with `stdin`, expects exit 1 with one line on stderr, returns that
    /// line.
    fn fail_stdin(&self, args: &[&str], stdin: &str) -> String {
        expect_user_error(args, &self.run_stdin(args, stdin))
    }

    /// Runs `engram ARGS`, expects exit 2 (a usage error).
    fn usage_error(&self, args: &[&str]) {
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
    fn ids(&self, args: &[&str]) -> Vec<String> {
        let mut full = vec!["query"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--format", "ids"]);
        self.ok(&full).lines().map(str::to_string).collect()
    }

    /// The tracking table's rows as (version, success), versions ascending.
    fn migration_rows(&self) -> Vec<(i64, bool)>;

    /// SQL for "true" in this backend's tracking table.
    fn sql_bool(&self, value: bool) -> &'static str;

    /// SQL for "now" in this backend's tracking table.
    fn sql_now(&self) -> &'static str;

    /// The embedded migration set of this backend.
    fn migrations(&self) -> &'static engram_migrate::MigrationSet;
}

impl RunEngram for TestDb {
    fn cmd(&self) -> Command {
        let mut cmd = bare_cmd(self.dir());
        cmd.env("RUST_LOG", "warn")
            .arg("--database-url")
            .arg(self.dsn());
        cmd
    }

    fn migration_rows(&self) -> Vec<(i64, bool)> {
        let sql = "SELECT version, success FROM engram_schema_migrations ORDER BY version";
        match self.connect() {
            TestConnection::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).expect(sql);
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? == 1)))
                    .expect(sql);
                rows.map(|r| r.expect("row")).collect()
            }
            TestConnection::Postgres(mut client) => client
                .query(sql, &[])
                .expect(sql)
                .iter()
                .map(|row| (i64::from(row.get::<_, i32>(0)), row.get(1)))
                .collect(),
        }
    }

    fn sql_bool(&self, value: bool) -> &'static str {
        match (self.kind(), value) {
            (BackendKind::Sqlite, true) => "1",
            (BackendKind::Sqlite, false) => "0",
            (BackendKind::Postgres, true) => "true",
            (BackendKind::Postgres, false) => "false",
        }
    }

    fn sql_now(&self) -> &'static str {
        match self.kind() {
            BackendKind::Sqlite => "0",
            BackendKind::Postgres => "now()",
        }
    }

    fn migrations(&self) -> &'static engram_migrate::MigrationSet {
        engram_migrate::MigrationSet::embedded(self.kind())
    }
}

/// `engram` in `dir`, with none of the DSN variables (nor `ENGRAM_ACTOR`) set.
fn clean_cmd(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("ENGRAM_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("ENGRAM_ACTOR")
        .env_remove("RUST_LOG");
    cmd
}

/// [`clean_cmd`], to run and check.
pub fn bare_cmd(dir: &Path) -> Command {
    Command::from_std(clean_cmd(dir))
}

/// `engram --database-url DSN ARGS` on `db`, logging errors only, with nothing on stdin: a
/// process to start in the background (its stdout and stderr as the caller sets them).
pub fn engram_command(db: &TestDb, args: &[&str]) -> std::process::Command {
    let mut cmd = clean_cmd(db.dir());
    cmd.env("RUST_LOG", "error")
        .arg("--database-url")
        .arg(db.dsn())
        .args(args)
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs `engram --database-url DSN ARGS` in `dir`, logging errors only, and returns what it
/// did; a run that takes over a minute is ended and fails the test as a hang.
pub fn engram_at(dir: &Path, dsn: &str, args: &[&str]) -> Output {
    bare_cmd(dir)
        .env("RUST_LOG", "error")
        .args(["--database-url", dsn])
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run engram")
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
