//! Tests of the throwaway PostgreSQL server: fresh databases work, and nothing is left
//! behind when the test process ends, whether its tests pass or panic.
//!
//! The cleanup tests run this test executable again as a child process that executes one
//! of the `child_*` tests below (they do nothing unless [`CHILD_VAR`] is set), and look at
//! what the child left behind after it exited.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use engram_testkit::postgres::{admin_url, cluster_info, fresh_database_url, TEST_URL_VAR};
use postgres::{Client, NoTls};

/// Set in the child process to the task of the `child_*` test it runs.
const CHILD_VAR: &str = "ENGRAM_TESTKIT_CHILD";

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

fn current_database(client: &mut Client) -> String {
    client
        .query_one("SELECT current_database()", &[])
        .expect("current_database()")
        .get(0)
}

#[test]
fn fresh_databases_are_distinct_and_usable() {
    let first = fresh_database_url();
    let second = fresh_database_url();
    assert_ne!(first, second);
    let mut names = HashSet::new();
    for url in [&first, &second] {
        let mut client = connect(url);
        let one: i32 = client.query_one("SELECT 1", &[]).expect("SELECT 1").get(0);
        assert_eq!(one, 1);
        client
            .batch_execute("CREATE TABLE probe (id int PRIMARY KEY, doc jsonb NOT NULL)")
            .expect("CREATE TABLE");
        client
            .execute(
                "INSERT INTO probe VALUES (1, $1)",
                &[&serde_json::json!({"a": [1, 2]})],
            )
            .expect("INSERT");
        let count: i64 = client
            .query_one("SELECT count(*) FROM probe", &[])
            .expect("count")
            .get(0);
        assert_eq!(count, 1, "each fresh database starts empty");
        names.insert(current_database(&mut client));
    }
    assert_eq!(names.len(), 2, "two fresh databases are two databases");
    let mut admin = connect(&admin_url());
    let listed: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = ANY($1)",
            &[&names.iter().cloned().collect::<Vec<_>>()],
        )
        .expect("catalog query")
        .get(0);
    assert_eq!(listed, 2);
}

#[test]
fn fresh_databases_can_be_made_concurrently() {
    let urls: Vec<String> = (0..8)
        .map(|_| thread::spawn(fresh_database_url))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().expect("thread"))
        .collect();
    let distinct: HashSet<_> = urls.iter().collect();
    assert_eq!(distinct.len(), urls.len());
    for url in &urls {
        let mut client = connect(url);
        client
            .batch_execute("CREATE TABLE t (x int)")
            .expect("CREATE TABLE");
    }
}

#[test]
fn the_server_is_tuned_for_tests() {
    if std::env::var_os(TEST_URL_VAR).is_some() {
        return; // an external server is configured by its owner
    }
    let mut client = connect(&admin_url());
    for (setting, expected) in [
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "200"),
        ("server_encoding", "UTF8"),
    ] {
        let value: String = client
            .query_one(&format!("SHOW {setting}"), &[])
            .expect("SHOW")
            .get(0);
        assert_eq!(value, expected, "{setting}");
    }
}

// ---------------------------------------------------------------------------------------
// Cleanup, checked from outside the process

/// Whether a process exists and has not exited. A zombie has exited: it only waits for
/// its parent (here, for an orphaned postmaster, the init process) to reap it.
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Runs one `child_*` test of this executable in a child process.
fn run_child(test: &str, task: &str, extra_env: &[(&str, String)]) -> Output {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, task)
        .env_remove(TEST_URL_VAR);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().expect("run the child test process")
}

/// The value of a `KEY=value` line the child printed.
fn printed(output: &Output, key: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{key}=");
    stdout
        .lines()
        // The harness may print "test name ... " on the same line first.
        .find_map(|line| line.find(&prefix).map(|at| &line[at + prefix.len()..]))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no {key}; status {}\nstdout:\n{stdout}\nstderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .to_string()
}

/// Waits (briefly) for the postmaster to be gone; a stop with `-w` has already waited.
fn gone_within(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
    true
}

fn assert_cluster_cleaned_up(task: &str, expect_success: bool) {
    if std::env::var_os(TEST_URL_VAR).is_some() {
        // The private cluster is not used when an external server is configured.
        eprintln!("{TEST_URL_VAR} is set: the private cluster's cleanup is not exercised");
        return;
    }
    let output = run_child("child_starts_cluster", task, &[]);
    let dir = PathBuf::from(printed(&output, "ENGRAM_CHILD_DATA_DIR"));
    let pid: u32 = printed(&output, "ENGRAM_CHILD_POSTMASTER_PID")
        .parse()
        .expect("a pid");
    assert_eq!(
        output.status.success(),
        expect_success,
        "child status {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "the postmaster {pid} still runs after the test process exited"
    );
    assert!(
        !dir.exists(),
        "{} still exists after the test process exited",
        dir.display()
    );
}

#[test]
fn cluster_is_removed_when_the_process_exits() {
    assert_cluster_cleaned_up("pass", true);
}

#[test]
fn cluster_is_removed_when_a_test_panics() {
    assert_cluster_cleaned_up("panic", false);
}

#[test]
fn cluster_is_removed_when_the_process_is_killed() {
    if std::env::var_os(TEST_URL_VAR).is_some() {
        eprintln!("{TEST_URL_VAR} is set: the private cluster's cleanup is not exercised");
        return;
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut child = Command::new(exe)
        .args([
            "child_starts_cluster",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "hang")
        .env_remove(TEST_URL_VAR)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the child test process");
    let stdout = child.stdout.take().expect("the child's stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut dir = None;
    let mut pid = None;
    for line in lines.by_ref() {
        let line = line.expect("read the child's output");
        if let Some((_, value)) = line.split_once("ENGRAM_CHILD_DATA_DIR=") {
            dir = Some(PathBuf::from(value));
        }
        if let Some((_, value)) = line.split_once("ENGRAM_CHILD_POSTMASTER_PID=") {
            pid = Some(value.parse::<u32>().expect("a pid"));
            break;
        }
    }
    let (dir, pid) = (dir.expect("a data dir"), pid.expect("a postmaster pid"));
    assert!(dir.exists() && alive(pid), "the child's cluster runs");
    // SIGKILL: no exit handler runs, only the watchdog can clean up.
    child.kill().expect("kill the child");
    child.wait().expect("reap the child");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (dir.exists() || alive(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !alive(pid),
        "the postmaster {pid} survived its killed test process"
    );
    assert!(
        !dir.exists(),
        "{} survived its killed test process",
        dir.display()
    );
}

#[test]
fn external_server_databases_are_dropped_at_exit() {
    // The private cluster of this process (or the configured server) plays the external one.
    let server = admin_url();
    let output = run_child(
        "child_starts_cluster",
        "external",
        &[(TEST_URL_VAR, server.clone())],
    );
    assert!(
        output.status.success(),
        "child status {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let name = printed(&output, "ENGRAM_CHILD_DATABASE");
    assert!(name.starts_with("engram_test_"), "{name}");
    let mut admin = connect(&server);
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .expect("catalog query")
        .get(0);
    assert_eq!(left, 0, "database {name} was not dropped at exit");
}

/// Inner test for the cleanup tests: does nothing unless [`CHILD_VAR`] is set. Then it
/// starts the server, makes a database and prints what the parent checks; with task
/// `panic` it then fails, with `hang` it waits to be killed.
#[test]
fn child_starts_cluster() {
    let Ok(task) = std::env::var(CHILD_VAR) else {
        return;
    };
    let url = fresh_database_url();
    let mut client = connect(&url);
    let database = current_database(&mut client);
    println!("ENGRAM_CHILD_DATABASE={database}");
    if let Some((dir, pid)) = cluster_info() {
        assert!(
            dir.exists(),
            "the data directory exists while the cluster runs"
        );
        println!("ENGRAM_CHILD_DATA_DIR={}", dir.display());
        println!("ENGRAM_CHILD_POSTMASTER_PID={pid}");
    } else {
        assert_eq!(task, "external", "a private cluster runs");
    }
    match task.as_str() {
        "panic" => panic!("this child test fails on purpose"),
        "hang" => loop {
            thread::sleep(Duration::from_secs(1));
        },
        _ => {}
    }
}
