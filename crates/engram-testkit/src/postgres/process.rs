//! Process checks for the cluster's postmaster: alive, a postgres, gone; and adopting and
//! reaping it as its parent.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// While alive, makes this process the child subreaper (Linux): processes orphaned below
/// it, like the postmaster that `pg_ctl start` leaves behind, become its children.
pub(super) struct AdoptOrphans {
    /// Whether the flag was set here and must be cleared again.
    set: bool,
}

impl AdoptOrphans {
    #[cfg(target_os = "linux")]
    pub(super) fn begin() -> Self {
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
    pub(super) fn begin() -> Self {
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
pub(super) fn reap(pid: u32) {
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
pub(super) fn is_postgres(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.starts_with("postgres") || comm.starts_with("postmaster"))
}

/// Waits until the process is gone; true if it went within `timeout`.
pub(super) fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

#[cfg(test)]
mod tests {
    use std::process;

    use super::*;

    #[test]
    fn own_process_is_alive() {
        assert!(is_alive(process::id()));
    }
}
