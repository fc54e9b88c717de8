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
//! ```no_run
//! let url = engram_testkit::postgres::fresh_database_url();
//! let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
//! client.batch_execute("CREATE TABLE t (x int)").expect("create table");
//! ```

use std::env;
use std::ffi::CStr;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

/// The environment variable that names an existing server to use instead of a private
/// cluster, as a `postgres://user:pass@host:port/db` URL.
pub const TEST_URL_VAR: &str = "ENGRAM_TEST_PG_URL";

/// How to get a PostgreSQL when none is found.
const INSTALL_HINT: &str = "install PostgreSQL (Debian/Ubuntu: `apt-get install -y postgresql`) \
     or point the tests at a running server with \
     ENGRAM_TEST_PG_URL=postgres://user:pass@host/db";

/// How many times to try starting the server on a new free port.
const START_ATTEMPTS: usize = 5;

/// Settings appended to the private cluster's `postgresql.conf` (the socket directory is
/// added separately). Durability is pointless for a cluster deleted at exit.
const FAST_SETTINGS: &str = "\
# engram-testkit: a throwaway cluster for tests, deleted when the test process exits
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_connections = 200
huge_pages = off
";

/// The watchdog: started detached, it waits for the test process (`$1`) to be gone, then
/// stops the cluster in `$2` (SIGQUIT to the postmaster, if that pid still runs a postgres,
/// is an immediate shutdown), removes the directory and exits. It exits at once when the directory is already gone. A zombie
/// counts as gone: it has exited and only waits to be reaped.
const WATCHDOG_SCRIPT: &str = r#"
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"
}
watch() {
  while alive "$1"; do sleep 1; done
  [ -d "$2" ] || exit 0
  pm=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
  case "$pm" in ''|*[!0-9]*) pm='' ;; esac
  if [ -n "$pm" ] && alive "$pm" && grep -qs '^post' "/proc/$pm/comm"; then
    kill -QUIT "$pm" 2>/dev/null
    n=0
    while alive "$pm" && [ "$n" -lt 30 ]; do sleep 1; n=$((n + 1)); done
    if alive "$pm"; then kill -KILL "$pm" 2>/dev/null; fi
  fi
  rm -rf "$2"
}
watch "$1" "$2" &
"#;

/// The server this process uses, or why there is none (kept so that every test fails with
/// the same message instead of trying again).
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
/// The private cluster, recorded before `initdb` runs so the exit handler can remove it.
static LOCAL: OnceLock<LocalCluster> = OnceLock::new();
/// A connection to the maintenance database; its lock serializes `CREATE DATABASE`.
static ADMIN: Mutex<Option<Client>> = Mutex::new(None);
/// Databases created on an external server, dropped at exit.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Numbers the databases this process creates.
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// A random tag that keeps database names of processes with the same pid (other machines,
/// other containers) apart on a shared server.
static PROCESS_TAG: OnceLock<u32> = OnceLock::new();
/// Registers [`cleanup_at_exit`] once.
static EXIT_HOOK: Once = Once::new();

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
        redact_password(&self.admin_url())
    }
}

fn local_url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
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

// ---------------------------------------------------------------------------------------
// Databases

/// Creates a database with a new unique name and returns the name.
fn create_database(server: &Server) -> String {
    let mut admin = lock(&ADMIN);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let client = admin_client(&mut admin, server);
        let name = format!(
            "engram_test_{}_{:08x}_{}",
            process::id(),
            PROCESS_TAG.get_or_init(rand::random::<u32>),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        match client.batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name))) {
            Ok(()) => {
                if matches!(server, Server::External { .. }) {
                    lock(&CREATED).push(name.clone());
                }
                return name;
            }
            Err(error) if attempt < 10 && is_transient(&error) => {
                if client.is_closed() {
                    *admin = None;
                }
                // Another process may be copying template1 right now.
                thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
            }
            Err(error) => panic!(
                "could not create a test database on {}: {}",
                server.display_url(),
                error_text(&error)
            ),
        }
    }
}

/// The cached connection to the maintenance database, (re)connected when needed.
fn admin_client<'a>(
    admin: &'a mut MutexGuard<'_, Option<Client>>,
    server: &Server,
) -> &'a mut Client {
    if admin.as_ref().is_some_and(Client::is_closed) {
        **admin = None;
    }
    if admin.is_none() {
        **admin = Some(connect(&server.admin_url()).unwrap_or_else(|error| {
            panic!(
                "could not connect to the test server at {}: {error}",
                server.display_url()
            )
        }));
    }
    admin.as_mut().expect("the admin connection was just made")
}

fn connect(url: &str) -> Result<Client, String> {
    let mut config: Config = url
        .parse()
        .map_err(|e| format!("not a valid connection URL: {}", error_text(&e)))?;
    config.connect_timeout(Duration::from_secs(10));
    config.connect(NoTls).map_err(|e| error_text(&e))
}

/// Errors that another try may not repeat: template1 in use by a concurrent `CREATE
/// DATABASE` of another process, a name taken, a dropped connection.
fn is_transient(error: &postgres::Error) -> bool {
    error.is_closed()
        || error.code().is_some_and(|code| {
            *code == SqlState::OBJECT_IN_USE || *code == SqlState::DUPLICATE_DATABASE
        })
}

/// An error with its database message (the `Display` of [`postgres::Error`] alone says
/// only "db error").
fn error_text(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{error}: {db}"),
        None => error.to_string(),
    }
}

/// Quotes an identifier for SQL (`"` doubled).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops the databases created on an external server (best effort).
fn drop_external_databases() {
    let Some(Ok(server @ Server::External { .. })) = SERVER.get() else {
        return;
    };
    let names = std::mem::take(&mut *lock(&CREATED));
    if names.is_empty() {
        return;
    }
    let Ok(mut client) = connect(&server.admin_url()) else {
        return;
    };
    for name in names {
        let quoted = quote_ident(&name);
        // WITH (FORCE) (PostgreSQL 13+) also ends sessions that tests left open.
        if client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .is_err()
        {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// URLs

/// Splits a `postgres://` URL into the part up to the host and port, the database path
/// and the query string (with its `?`).
fn split_url(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let query_start = url[scheme_end..]
        .find('?')
        .map_or(url.len(), |i| scheme_end + i);
    let main = &url[..query_start];
    let host_start = main[scheme_end..]
        .rfind('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    match main[host_start..].find('/') {
        Some(i) => (
            &url[..host_start + i],
            &url[host_start + i + 1..query_start],
            &url[query_start..],
        ),
        None => (main, "", &url[query_start..]),
    }
}

/// The same server URL with another database.
fn with_database(url: &str, database: &str) -> String {
    let (server, _, query) = split_url(url);
    format!("{server}/{database}{query}")
}

/// The URL with its password replaced by `***`, for messages.
fn redact_password(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let query_start = url[scheme_end..]
        .find('?')
        .map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..query_start]
        .rfind('@')
        .map(|i| scheme_end + i)
    else {
        return url.to_string();
    };
    match url[scheme_end..at].find(':').map(|i| scheme_end + i) {
        Some(colon) => format!("{}:***{}", &url[..colon], &url[at..]),
        None => url.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// The private cluster

/// A private cluster, for cleanup.
struct LocalCluster {
    /// The data directory (a new temporary directory).
    dir: PathBuf,
    /// The `pg_ctl` that started it.
    pg_ctl: PathBuf,
    /// The OS user it runs as, when that is not the current user.
    owner: Option<Owner>,
    /// The postmaster's pid, 0 until it is up.
    postmaster_pid: AtomicU32,
    /// Set once it has been stopped and removed.
    removed: AtomicBool,
}

/// An OS user's ids.
#[derive(Clone, Copy, Debug)]
struct Owner {
    uid: u32,
    gid: u32,
}

/// The PostgreSQL programs used.
struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

/// Makes, starts and registers the private cluster; returns its port.
fn start_local_cluster() -> Result<u16, String> {
    let binaries = find_binaries().ok_or_else(|| {
        format!(
            "PostgreSQL was not found: no initdb and pg_ctl in /usr/lib/postgresql/*/bin or \
             on PATH. The PostgreSQL tests need a server: {INSTALL_HINT}"
        )
    })?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let owner = if unsafe { libc::geteuid() } == 0 {
        Some(postgres_os_user()?)
    } else {
        None
    };
    let dir = create_temp_dir(owner)?;
    let cluster = LocalCluster {
        dir,
        pg_ctl: binaries.pg_ctl.clone(),
        owner,
        postmaster_pid: AtomicU32::new(0),
        removed: AtomicBool::new(false),
    };
    if let Err(cluster) = LOCAL.set(cluster) {
        cluster.stop_and_remove();
        return Err("engram-testkit: the test cluster was set up twice".to_string());
    }
    let cluster = LOCAL.get().expect("the cluster was just recorded");
    register_exit_hook();
    let started = spawn_watchdog(&cluster.dir)
        .map_err(|e| format!("could not start the test cluster's cleanup watchdog (sh): {e}"))
        .and_then(|()| cluster.init_and_start(&binaries));
    if started.is_err() {
        cluster.stop_and_remove();
    }
    started
}

impl LocalCluster {
    /// Runs `initdb`, writes the settings and starts the server; returns its port.
    fn init_and_start(&self, binaries: &Binaries) -> Result<u16, String> {
        let output = self
            .command(&binaries.initdb)
            .arg("-D")
            .arg(&self.dir)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .map_err(|e| format!("could not run {}: {e}", binaries.initdb.display()))?;
        if !output.status.success() {
            return Err(format!(
                "initdb failed ({}) for the test cluster in {}:\n{}{}",
                output.status,
                self.dir.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        self.write_settings()
            .map_err(|e| format!("could not configure the test cluster: {e}"))?;

        let log = self.dir.join("server.log");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port().map_err(|e| format!("could not find a free port: {e}"))?;
            // pg_ctl leaves the postmaster behind as an orphan; adopting it lets the exit
            // handler reap it instead of leaving a zombie for the init process.
            let adopt = AdoptOrphans::begin();
            let output = self
                .command(&self.pg_ctl)
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&self.dir)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!("-p {port}"))
                .output()
                .map_err(|e| format!("could not run {}: {e}", self.pg_ctl.display()))?;
            drop(adopt);
            if output.status.success() {
                let pid = read_postmaster_pid(&self.dir).ok_or_else(|| {
                    format!(
                        "the test cluster started but {} has no pid",
                        self.dir.join("postmaster.pid").display()
                    )
                })?;
                self.postmaster_pid.store(pid, Ordering::SeqCst);
                return Ok(port);
            }
            failures.push(format!(
                "port {port}: pg_ctl {}: {} {}",
                output.status,
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            // A start that timed out may have left a server behind.
            self.stop();
        }
        Err(format!(
            "could not start the test PostgreSQL cluster in {} after {START_ATTEMPTS} tries:\n{}\n\
             last lines of {}:\n{}",
            self.dir.display(),
            failures.join("\n"),
            log.display(),
            log_tail(&log, 40)
        ))
    }

    /// A command that runs as the cluster's owner, in its directory, with a plain
    /// environment.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        if let Some(owner) = self.owner {
            command.uid(owner.uid).gid(owner.gid);
        }
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .env("LC_ALL", "C");
        for var in [
            "PGDATA",
            "PGPORT",
            "PGHOST",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            command.env_remove(var);
        }
        command
    }

    /// Appends the test settings to `postgresql.conf`.
    fn write_settings(&self) -> io::Result<()> {
        let mut settings = FAST_SETTINGS.to_string();
        let socket_dir = self.dir.to_string_lossy().replace('\'', "''");
        // Unix socket paths are limited to about 107 bytes; TCP is enough when it is long.
        if socket_dir.len() <= 80 {
            settings.push_str(&format!("unix_socket_directories = '{socket_dir}'\n"));
        } else {
            settings.push_str("unix_socket_directories = ''\n");
        }
        fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("postgresql.conf"))?
            .write_all(settings.as_bytes())
    }

    /// Stops the server if it runs: `pg_ctl stop -m immediate`, then signals if needed.
    fn stop(&self) {
        let pid = read_postmaster_pid(&self.dir)
            .or_else(|| Some(self.postmaster_pid.load(Ordering::SeqCst)).filter(|&p| p != 0));
        let Some(pid) = pid else {
            return;
        };
        let _ = self
            .command(&self.pg_ctl)
            .args(["stop", "-m", "immediate", "-w", "-t", "30", "-D"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Signal only a process that is still a postgres: a stale pid may be reused.
        if !wait_gone(pid, Duration::from_secs(10)) && is_postgres(pid) {
            // SAFETY: kill has no memory-safety preconditions; the pid is the postmaster's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGQUIT) };
            if !wait_gone(pid, Duration::from_secs(10)) {
                // SAFETY: as above.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                wait_gone(pid, Duration::from_secs(5));
            }
        }
        reap(pid);
    }

    /// Stops the server and removes its directory, once.
    fn stop_and_remove(&self) {
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.stop();
        for _ in 0..5 {
            match fs::remove_dir_all(&self.dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    thread::sleep(Duration::from_millis(100));
                }
                _ => break,
            }
        }
    }
}

/// While alive, makes this process the child subreaper (Linux): processes orphaned below
/// it, like the postmaster that `pg_ctl start` leaves behind, become its children.
struct AdoptOrphans {
    /// Whether the flag was set here and must be cleared again.
    set: bool,
}

impl AdoptOrphans {
    #[cfg(target_os = "linux")]
    fn begin() -> Self {
        let mut already: libc::c_int = 0;
        // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the valid pointer given;
        // PR_SET_CHILD_SUBREAPER takes plain integers.
        let set = unsafe {
            libc::prctl(
                libc::PR_GET_CHILD_SUBREAPER,
                &mut already as *mut libc::c_int,
            ) == 0
                && already == 0
                && libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) == 0
        };
        AdoptOrphans { set }
    }

    #[cfg(not(target_os = "linux"))]
    fn begin() -> Self {
        AdoptOrphans { set: false }
    }
}

impl Drop for AdoptOrphans {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.set {
            // SAFETY: as in begin.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0 as libc::c_ulong) };
        }
    }
}

/// Reaps the exited postmaster when it is this process's child (see [`AdoptOrphans`]);
/// does nothing for any other process.
fn reap(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // SAFETY: waitpid on one pid, with no status pointer; it only reaps that child.
        let reaped =
            unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) };
        if reaped != 0 || Instant::now() >= deadline {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Registers the exit handler once.
fn register_exit_hook() {
    EXIT_HOOK.call_once(|| {
        // SAFETY: cleanup_at_exit is an extern "C" fn that never unwinds.
        if unsafe { libc::atexit(cleanup_at_exit) } != 0 {
            eprintln!("engram-testkit: could not register the test server cleanup at exit");
        }
    });
}

/// Runs at process exit: stops and removes the private cluster, drops the databases made
/// on an external server.
extern "C" fn cleanup_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = LOCAL.get() {
            cluster.stop_and_remove();
        }
        drop_external_databases();
    });
}

/// Starts the detached watchdog that cleans up after a killed test process.
fn spawn_watchdog(dir: &Path) -> io::Result<()> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("engram-testkit-watchdog")
        .arg(process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure only calls setsid, which is async-signal-safe. A new session
    // keeps the watchdog alive when the test's process group or terminal is signalled.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    // The script puts the watch loop in the background and exits at once, so the loop is
    // not this process's child (and never its zombie).
    let status = command.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the watchdog launcher exited with {status}"
        )))
    }
}

/// The newest `initdb`/`pg_ctl` pair: Debian's versioned directories first, then `PATH`.
fn find_binaries() -> Option<Binaries> {
    let mut versioned: Vec<(Vec<u64>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u64>().ok())
                .collect::<Option<Vec<_>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| is_executable(&bin.join("initdb")) && is_executable(&bin.join("pg_ctl")))
        .collect();
    versioned.sort();
    if let Some((_, bin)) = versioned.pop() {
        return Some(Binaries {
            initdb: bin.join("initdb"),
            pg_ctl: bin.join("pg_ctl"),
        });
    }
    let path = env::var_os("PATH")?;
    let find = |name: &str| {
        env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    };
    Some(Binaries {
        initdb: find("initdb")?,
        pg_ctl: find("pg_ctl")?,
    })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `postgres` OS user, to run the cluster as when the tests run as root.
fn postgres_os_user() -> Result<Owner, String> {
    let mut entry: libc::passwd = zeroed_passwd();
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let name: &CStr = c"postgres";
    // SAFETY: every pointer is valid for the call: `entry` and `result` are local, and the
    // buffer's length is passed with it. getpwnam_r is the thread-safe form.
    let code = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if code != 0 || result.is_null() {
        return Err(format!(
            "the tests run as root, where PostgreSQL refuses to run, and there is no `postgres` \
             OS user to run the test cluster as. Create one (installing PostgreSQL does), run \
             the tests as a regular user, or {INSTALL_HINT}"
        ));
    }
    Ok(Owner {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

/// An all-zero `passwd` record for getpwnam_r to fill.
fn zeroed_passwd() -> libc::passwd {
    // SAFETY: passwd is a plain C struct of integers and pointers, for which all zeroes
    // (null pointers) is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Makes `engram-pg-<pid>-<random>` in the temporary directory, mode 0700, owned by the
/// cluster's user.
fn create_temp_dir(owner: Option<Owner>) -> Result<PathBuf, String> {
    let base = env::temp_dir();
    for _ in 0..16 {
        let dir = base.join(format!(
            "engram-pg-{}-{:08x}",
            process::id(),
            rand::random::<u32>()
        ));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                if let Some(owner) = owner {
                    if let Err(e) = std::os::unix::fs::chown(&dir, Some(owner.uid), Some(owner.gid))
                    {
                        let _ = fs::remove_dir(&dir);
                        return Err(format!(
                            "could not give {} to the postgres user: {e}",
                            dir.display()
                        ));
                    }
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "could not create the test cluster's directory {}: {e}",
                    dir.display()
                ))
            }
        }
    }
    Err(format!(
        "could not find an unused directory name in {}",
        base.display()
    ))
}

/// A TCP port on 127.0.0.1 that is free right now.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The postmaster's pid from `postmaster.pid`, while the file exists.
fn read_postmaster_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid != 0)
}

/// Whether a process exists and has not exited (a zombie has exited; it only waits for
/// its parent to reap it).
fn is_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Whether the process runs a PostgreSQL server program.
fn is_postgres(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.starts_with("postgres") || comm.starts_with("postmaster"))
}

/// Waits until the process is gone; true if it went within `timeout`.
fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The last `lines` lines of a log file.
fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read the log: {e})"),
    }
}

/// Locks a mutex, also after a panic in another test poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/db", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(with_database("postgres://h:1/", "x"), "postgres://h:1/x");
        assert_eq!(
            with_database("postgres://u:p/w@h/db", "x"),
            "postgres://u:p/w@h/x"
        );
        assert_eq!(
            with_database("postgres://u@h?host=/var/run/postgresql", "x"),
            "postgres://u@h/x?host=/var/run/postgresql"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_password("postgres://h:5432/db"),
            "postgres://h:5432/db"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("engram_test_1"), "\"engram_test_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn own_process_is_alive() {
        assert!(is_alive(process::id()));
    }
}
