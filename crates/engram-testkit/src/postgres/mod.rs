//! A throwaway PostgreSQL server for tests: one per test process, started on first use, with a fresh database per call.
//!
//! The first call to [`fresh_database_url`] or [`admin_url`] starts the server:
//!
//! - When `ENGRAM_TEST_PG_URL` is set (for example `postgres://user:pass@host/db`), that
//!   server is used. Each fresh database is created on it and dropped again when the test
//!   process exits normally.
//! - Otherwise a private cluster is made with the installed `initdb` and `pg_ctl` (from
//!   `/usr/lib/postgresql/<highest version>/bin`, else from `PATH`) in a new temporary
//!   directory, listening on `127.0.0.1` on a free port, tuned for speed (`fsync`, full page
//!   writes and synchronous commit off). As root it runs as the `postgres` OS user, since
//!   PostgreSQL refuses to run as root.
//!
//! With no PostgreSQL at all, the first call panics with a message saying how to get one:
//! PostgreSQL tests fail, they never skip.
//!
//! Nothing is left behind. An `atexit` handler stops the cluster (`pg_ctl stop -m
//! immediate`) and removes its directory when the process exits, also after failed
//! (panicking) tests. For a test process that is killed, a detached watchdog shell polls
//! the process once a second and does the same cleanup once it is gone, then exits.
//!
//! The parts: `binaries` finds `initdb`/`pg_ctl` and the OS user to run them as, `cluster`
//! makes, starts and removes the private cluster, `databases` creates the fresh databases,
//! `cleanup` holds the exit handler and the watchdog, `process` checks and reaps the
//! postmaster, and `url` builds the URLs (passwords are removed for messages by
//! [`engram_core::dsn::redact`]).
//!
//! ```no_run
//! let url = engram_testkit::postgres::fresh_database_url();
//! let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
//! client.batch_execute("CREATE TABLE t (x int)").expect("create table");
//! ```

mod binaries;
mod cleanup;
mod cluster;
mod databases;
mod process;
mod url;

use std::env;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use engram_core::dsn::redact;

use cleanup::register_exit_hook;
use cluster::{start_local_cluster, LOCAL};
use databases::create_database;
use url::{local_url, with_database};

/// The environment variable that names an existing server to use instead of a private
/// cluster, as a `postgres://user:pass@host:port/db` URL.
pub const TEST_URL_VAR: &str = "ENGRAM_TEST_PG_URL";

/// How to get a PostgreSQL when none is found.
const INSTALL_HINT: &str = "install PostgreSQL (Debian/Ubuntu: `apt-get install -y postgresql`) \
     or point the tests at a running server with \
     ENGRAM_TEST_PG_URL=postgres://user:pass@host/db";

/// The server this process uses, or why there is none (kept so that every test fails with
/// the same message instead of trying again).
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// URL (postgres://...) of a new, empty database on the shared test server; each call creates another database.
///
/// Starts the server on first use (see the [module documentation](self)).
///
/// # Panics
///
/// When no PostgreSQL is installed and `ENGRAM_TEST_PG_URL` is not set, when the server
/// cannot be started, or when the database cannot be created; the message says why and,
/// where it helps, how to install PostgreSQL.
pub fn fresh_database_url() -> String {
    let server = server();
    let name = create_database(server);
    server.database_url(&name)
}

/// URL of the server's maintenance database (`postgres`), e.g. for catalog queries.
///
/// With `ENGRAM_TEST_PG_URL` set, this is that URL as given (its database serves the same
/// purpose, and the `postgres` database may not be open to its user).
///
/// # Panics
///
/// Like [`fresh_database_url`], when there is no server to use.
pub fn admin_url() -> String {
    server().admin_url()
}

/// The private cluster's data directory (a temporary directory that also holds its socket
/// and `server.log`) and its postmaster's process id, when this process has started one.
///
/// `None` before the first [`fresh_database_url`] or [`admin_url`] call, and when
/// `ENGRAM_TEST_PG_URL` names an external server. Tests use it to check that the cluster
/// is really gone after the process exits.
pub fn cluster_info() -> Option<(PathBuf, u32)> {
    match SERVER.get() {
        Some(Ok(Server::Local { .. })) => {
            let cluster = LOCAL.get()?;
            let pid = cluster.postmaster_pid.load(Ordering::SeqCst);
            (pid != 0).then(|| (cluster.dir.clone(), pid))
        }
        _ => None,
    }
}

/// The server the tests of this process use.
enum Server {
    /// The private cluster (described by [`LOCAL`]), listening on this port.
    Local { port: u16 },
    /// The server named by `ENGRAM_TEST_PG_URL`.
    External { url: String },
}

impl Server {
    fn admin_url(&self) -> String {
        match self {
            Server::Local { port } => local_url(*port, "postgres"),
            Server::External { url } => url.clone(),
        }
    }

    fn database_url(&self, database: &str) -> String {
        match self {
            Server::Local { port } => local_url(*port, database),
            Server::External { url } => with_database(url, database),
        }
    }

    /// The URL for messages: without the password.
    fn display_url(&self) -> String {
        redact(&self.admin_url())
    }
}

/// The server, started on first use; panics with the reason when there is none.
fn server() -> &'static Server {
    match SERVER.get_or_init(start_server) {
        Ok(server) => server,
        Err(reason) => panic!("{reason}"),
    }
}

fn start_server() -> Result<Server, String> {
    if let Some(url) = env::var(TEST_URL_VAR).ok().filter(|u| !u.trim().is_empty()) {
        register_exit_hook();
        return Ok(Server::External {
            url: url.trim().to_string(),
        });
    }
    start_local_cluster().map(|port| Server::Local { port })
}

/// Locks a mutex, also after a panic in another test poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let display = |url: &str| {
            Server::External {
                url: url.to_string(),
            }
            .display_url()
        };
        assert_eq!(display("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(display("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(display("postgres://h:5432/db"), "postgres://h:5432/db");
        assert_eq!(
            display("postgres://u@h/db?password=secret"),
            "postgres://u@h/db?password=***"
        );
    }
}
