//! The test server has pgvector: found installed, or provisioned by the testkit. Fails,
//! never skips, when there is none, like every vector test.

use std::process::Command;

use engram_testkit::postgres::{
    admin_url, fresh_database_url, require_pgvector, server_description, TEST_URL_VAR,
};
use postgres::{Client, NoTls};

/// Set in the child process that [`an_external_server_with_pgvector_passes`] runs.
const CHILD_VAR: &str = "ENGRAM_TESTKIT_PGVECTOR_CHILD";

#[test]
fn a_fresh_database_can_create_the_vector_extension() {
    require_pgvector();
    eprintln!("test server: {}", server_description());
    let url = fresh_database_url();
    let mut client = Client::connect(&url, NoTls).unwrap_or_else(|e| panic!("connect: {e}"));
    client
        .batch_execute("CREATE EXTENSION vector")
        .expect("CREATE EXTENSION vector");
    let distance: f64 = client
        .query_one("SELECT '[3,4]'::vector <-> '[0,0]'", &[])
        .expect("a vector distance")
        .get(0);
    assert_eq!(distance, 5.0);
    let version: String = client
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .expect("the extension's version")
        .get(0);
    assert!(!version.is_empty());
}

#[test]
fn the_description_names_the_server() {
    let description = server_description();
    if std::env::var_os(TEST_URL_VAR).is_some() {
        assert!(description.contains("ENGRAM_TEST_PG_URL"), "{description}");
    } else {
        assert!(description.starts_with("PostgreSQL "), "{description}");
        assert!(description.contains("pgvector"), "{description}");
    }
}

#[test]
fn an_external_server_with_pgvector_passes() {
    if std::env::var_os(CHILD_VAR).is_some() {
        return;
    }
    require_pgvector();
    // This process's server plays the external one: the child asks its catalog.
    let exe = std::env::current_exe().expect("the test executable's path");
    let output = Command::new(exe)
        .args([
            "child_requires_pgvector",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .env(TEST_URL_VAR, admin_url())
        .output()
        .expect("run the child test process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child status {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("({TEST_URL_VAR})")),
        "the child used the external server:\n{stdout}"
    );
}

/// Inner test of [`an_external_server_with_pgvector_passes`]: does nothing unless
/// [`CHILD_VAR`] is set.
#[test]
fn child_requires_pgvector() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    require_pgvector();
    println!("ENGRAM_CHILD_SERVER={}", server_description());
}
