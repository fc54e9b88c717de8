//! The installed PostgreSQL programs, and the OS user to run them as when the tests run as
//! root.

use std::env;
use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::INSTALL_HINT;

/// An OS user's ids.
#[derive(Clone, Copy, Debug)]
pub(super) struct Owner {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// The PostgreSQL programs used.
pub(super) struct Binaries {
    pub(super) initdb: PathBuf,
    pub(super) pg_ctl: PathBuf,
}

/// The newest `initdb`/`pg_ctl` pair: Debian's versioned directories first, then `PATH`.
pub(super) fn find_binaries() -> Option<Binaries> {
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
pub(super) fn postgres_os_user() -> Result<Owner, String> {
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
