//! A throwaway PostgreSQL server for tests: one per test process, started on first use, with a fresh database per call.
//!
//! The first call to [`fresh_database_url`], [`admin_url`], [`require_pgvector`] or
//! [`server_description`] starts the server:
//!
//! - When `ENGRAM_TEST_PG_URL` is set (for example `postgres://user:pass@host/db`), that
//!   server is used. Each fresh database is created on it and dropped again when the test
//!   process exits normally.
//! - Otherwise a private cluster is made with `initdb` and `pg_ctl` in a new temporary
//!   directory, listening on `127.0.0.1` on a free port, tuned for speed (`fsync`, full page
//!   writes and synchronous commit off). As root it runs as the `postgres` OS user, since
//!   PostgreSQL refuses to run as root.
//!
//! The programs are chosen so that the vector tests have pgvector:
//!
//! 1. `ENGRAM_TEST_PG_BIN`, when set, names the bin folder to use (with `initdb` and
//!    `pg_ctl`), as it is: nothing else is searched or fetched, and a folder without those
//!    programs is an error.
//! 2. Otherwise the first installation with pgvector among Debian's
//!    `/usr/lib/postgresql/<version>/bin` (newest version first), the folders on `PATH`,
//!    and a pgserver copy provisioned by an earlier run. An installation has pgvector when
//!    `vector.control` is in the `extension` folder of `<bin>/pg_config --sharedir` (or of
//!    `<bin>/../share/postgresql` or `<bin>/../share`).
//! 3. When none has pgvector, the testkit provisions one: the `pgserver` 0.1.4 Python wheel
//!    (PostgreSQL 16.2 with pgvector 0.6.2), fetched with `python3 -m pip download` and
//!    unpacked once into `<cargo target dir>/engram-testkit/pgserver-0.1.4/`, which later
//!    runs reuse (a few seconds the first time, nothing after). Under root, when the
//!    `postgres` user cannot reach the target dir (a folder above it lacks `o+x`), the copy
//!    goes to `<temp dir>/engram-testkit-pgserver-0.1.4/` instead. Concurrent test
//!    processes share one download (an `flock`, and a rename once the copy is complete).
//!    The wheel's pgvector needs x86-64 Linux with AVX2 and FMA; elsewhere it is not
//!    fetched.
//! 4. When provisioning fails (no `python3` with pip, no network, another CPU), the first
//!    installation found is used without pgvector: the other PostgreSQL tests run, and
//!    [`require_pgvector`] fails with the reason.
//!
//! With no PostgreSQL at all, the first call panics with a message saying how to get one:
//! PostgreSQL tests fail, they never skip. Vector tests call [`require_pgvector`] first,
//! which fails them (never skips them) when the server has no pgvector.
//!
//! Nothing is left behind. An `atexit` handler stops the cluster (`pg_ctl stop -m
//! immediate`) and removes its directory when the process exits, also after failed
//! (panicking) tests. For a test process that is killed, a detached watchdog shell polls
//! the process once a second and does the same cleanup once it is gone, then exits.
//!
//! The parts: `binaries` chooses the PostgreSQL and the OS user to run it as, `provision`
//! fetches and caches pgserver, `cluster` makes, starts and removes the private cluster,
//! `databases` creates the fresh databases, `cleanup` holds the exit handler and the
//! watchdog, `process` checks and reaps the postmaster, and `url` builds the URLs
//! (passwords are removed for messages by [`engram_core::dsn::redact`]).
//!
//! ```no_run
//! let url = engram_testkit::postgres::fresh_database_url();
//! let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
//! client.batch_execute("CREATE TABLE t (x int)").expect("create table");
//! ```
//!
//! A vector test:
//!
//! ```no_run
//! engram_testkit::postgres::require_pgvector();
//! let url = engram_testkit::postgres::fresh_database_url();
//! let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
//! client.batch_execute("CREATE EXTENSION vector").expect("create extension");
//! ```

mod binaries;
mod cleanup;
mod cluster;
mod databases;
mod process;
mod provision;
mod url;

use std::env;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use engram_core::dsn::redact;

use binaries::Choice;
use cleanup::register_exit_hook;
use cluster::{start_local_cluster, LOCAL};
use databases::{connect, create_database, error_text};
use url::{local_url, with_database};

/// The environment variable that names an existing server to use instead of a private
/// cluster, as a `postgres://user:pass@host:port/db` URL.
pub const TEST_URL_VAR: &str = "ENGRAM_TEST_PG_URL";

/// The environment variable that names the bin folder (with `initdb` and `pg_ctl`) of the
/// PostgreSQL to run the private cluster with, instead of searching for one.
pub const BIN_VAR: &str = "ENGRAM_TEST_PG_BIN";

/// How to get a PostgreSQL when none is found.
const INSTALL_HINT: &str = "install PostgreSQL with pgvector (Debian/Ubuntu: `apt-get install -y \
     postgresql postgresql-NN-pgvector`, NN its major version), make `python3 -m pip` work \
     so that the testkit can fetch pgserver (PostgreSQL 16 with pgvector) itself, set \
     ENGRAM_TEST_PG_BIN to the bin folder of a PostgreSQL, or point the tests at a running \
     server with ENGRAM_TEST_PG_URL=postgres://user:pass@host/db";

/// How to get pgvector when the test server lacks it.
const PGVECTOR_HINT: &str = "To get a server with pgvector: make `python3 -m pip` work (and \
     the network reachable) so that the testkit fetches pgserver (PostgreSQL 16 with pgvector \
     0.6) itself; or `pip install pgserver` and set ENGRAM_TEST_PG_BIN to its \
     pgserver/pginstall/bin folder (`python3 -c 'import pgserver, os; \
     print(os.path.dirname(pgserver.__file__))'` prints where pgserver is; under root that \
     folder must be readable by the postgres user); or install pgvector for the installed \
     PostgreSQL (Debian/Ubuntu: `apt-get install -y postgresql-NN-pgvector`, NN its major \
     version); or set ENGRAM_TEST_PG_BIN to the bin folder of another PostgreSQL with \
     pgvector; or point ENGRAM_TEST_PG_URL at a server with pgvector available";

/// The server this process uses, or why there is none (kept so that every test fails with
/// the same message instead of trying again).
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// Whether the server has pgvector, or why not (asked once).
static PGVECTOR: OnceLock<Result<(), String>> = OnceLock::new();

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

/// Fails the calling test unless the test server offers pgvector (the `vector` extension),
/// so that a vector test fails, never skips, without it. Starts the server on first use.
///
/// A database from [`fresh_database_url`] still needs `CREATE EXTENSION vector`.
///
/// # Panics
///
/// When the server has no pgvector (the message says why and how to get it), and like
/// [`fresh_database_url`] when there is no server.
pub fn require_pgvector() {
    let server = server();
    if let Err(why) = PGVECTOR.get_or_init(|| check_pgvector(server)) {
        panic!("this test needs pgvector, which the test server lacks: {why}. {PGVECTOR_HINT}");
    }
}

/// Which server the tests use, for messages: the PostgreSQL version, its bin folder and
/// where it came from, and whether it has pgvector; or the external server's URL (without
/// its password). Starts the server on first use.
///
/// # Panics
///
/// Like [`fresh_database_url`], when there is no server to use.
pub fn server_description() -> String {
    match server() {
        Server::Local { choice, .. } => {
            let binaries = &choice.binaries;
            let pgvector = match &choice.pgvector {
                Ok(()) => "with pgvector".to_string(),
                Err(why) => format!("without pgvector ({why})"),
            };
            format!(
                "{} in {} ({}), {pgvector}",
                binaries.version(),
                binaries.bin.display(),
                binaries.origin_text()
            )
        }
        external @ Server::External { .. } => {
            format!("the server at {} ({TEST_URL_VAR})", external.display_url())
        }
    }
}

/// The server the tests of this process use.
enum Server {
    /// The private cluster (described by [`LOCAL`]), listening on this port, run with the
    /// chosen PostgreSQL.
    Local { port: u16, choice: Choice },
    /// The server named by `ENGRAM_TEST_PG_URL`.
    External { url: String },
}

impl Server {
    fn admin_url(&self) -> String {
        match self {
            Server::Local { port, .. } => local_url(*port, "postgres"),
            Server::External { url } => url.clone(),
        }
    }

    fn database_url(&self, database: &str) -> String {
        match self {
            Server::Local { port, .. } => local_url(*port, database),
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
    start_local_cluster().map(|(port, choice)| Server::Local { port, choice })
}

/// Whether the server has pgvector: for the private cluster, what was found when its
/// PostgreSQL was chosen; then, for any server, whether `vector` is among its available
/// extensions.
fn check_pgvector(server: &Server) -> Result<(), String> {
    if let Server::Local {
        choice: Choice {
            pgvector: Err(why), ..
        },
        ..
    } = server
    {
        return Err(why.clone());
    }
    let mut client = connect(&server.admin_url()).map_err(|e| {
        format!(
            "could not connect to the test server at {} to look for pgvector: {e}",
            server.display_url()
        )
    })?;
    let available = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'",
            &[],
        )
        .map_err(|e| {
            format!(
                "could not list the extensions of the test server at {}: {}",
                server.display_url(),
                error_text(&e)
            )
        })?;
    match available {
        Some(_) => Ok(()),
        None => Err(format!(
            "the test server at {} has no pgvector (`vector` is not in \
             pg_available_extensions)",
            server.display_url()
        )),
    }
}

/// Writes one `engram-testkit: ` line to stderr, past the test harness's output capture
/// (which takes only what `eprintln!` prints), so that it shows also for passing tests.
fn log(message: &str) {
    let _ = writeln!(io::stderr(), "engram-testkit: {message}");
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
