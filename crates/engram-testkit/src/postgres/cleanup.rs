//! Nothing left behind: the exit handler, and the watchdog for a test process that is killed.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{self, Command, Stdio};
use std::sync::Once;

use super::cluster::LOCAL;
use super::databases::drop_external_databases;

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

/// Registers [`cleanup_at_exit`] once.
static EXIT_HOOK: Once = Once::new();

/// Registers the exit handler once.
pub(super) fn register_exit_hook() {
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
pub(super) fn spawn_watchdog(dir: &Path) -> io::Result<()> {
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
