//! The private cluster: made with the chosen PostgreSQL's `initdb` in a new temporary
//! directory, started with `pg_ctl` on a free port, stopped and removed again.

use std::env;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use super::binaries::{choose, postgres_os_user, Binaries, Choice, Owner};
use super::cleanup::{register_exit_hook, spawn_watchdog};
use super::process::{is_postgres, reap, wait_gone, AdoptOrphans};

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

/// The private cluster, recorded before `initdb` runs so the exit handler can remove it.
pub(super) static LOCAL: OnceLock<LocalCluster> = OnceLock::new();

/// A private cluster, for cleanup.
pub(super) struct LocalCluster {
    /// The data directory (a new temporary directory).
    pub(super) dir: PathBuf,
    /// The `pg_ctl` that started it.
    pg_ctl: PathBuf,
    /// The OS user it runs as, when that is not the current user.
    owner: Option<Owner>,
    /// The postmaster's pid, 0 until it is up.
    pub(super) postmaster_pid: AtomicU32,
    /// Set once it has been stopped and removed.
    removed: AtomicBool,
}

/// Chooses the PostgreSQL (see [`choose`]), then makes, starts and registers the private
/// cluster; returns its port and the PostgreSQL it runs.
pub(super) fn start_local_cluster() -> Result<(u16, Choice), String> {
    // The OS user first: without it, finding or provisioning PostgreSQL would be in vain.
    let owner = if crate::faults::running_as_root() {
        Some(postgres_os_user()?)
    } else {
        None
    };
    let choice = choose()?;
    let binaries = &choice.binaries;
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
        .and_then(|()| cluster.init_and_start(binaries));
    if started.is_err() {
        cluster.stop_and_remove();
    }
    started.map(|port| (port, choice))
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
    pub(super) fn stop_and_remove(&self) {
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
