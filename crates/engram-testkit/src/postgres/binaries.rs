//! The PostgreSQL programs to run: found in order, preferring one with pgvector, else
//! provisioned; and the OS user to run them as when the tests run as root.

use std::env;
use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::provision::{self, PGSERVER_VERSION};
use super::{log, BIN_VAR, INSTALL_HINT};

/// Debian's and Ubuntu's versioned PostgreSQL installations: `<this>/<version>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// An OS user's ids.
#[derive(Clone, Copy, Debug)]
pub(super) struct Owner {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// Where a PostgreSQL was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// Named by [`BIN_VAR`].
    Variable,
    /// A Debian/Ubuntu `/usr/lib/postgresql/<version>/bin`.
    Debian,
    /// On `PATH`.
    Path,
    /// The pgserver copy that the testkit provisioned (now or in an earlier run).
    Pgserver,
}

/// A PostgreSQL installation's programs.
pub(super) struct Binaries {
    /// The folder with the programs.
    pub(super) bin: PathBuf,
    pub(super) initdb: PathBuf,
    pub(super) pg_ctl: PathBuf,
    pub(super) origin: Origin,
    /// pgvector's `vector.control`, or where it was looked for in vain.
    pub(super) pgvector: Result<PathBuf, String>,
}

impl Binaries {
    /// The installation in `bin`, when that folder has `initdb` and `pg_ctl`.
    fn at(bin: PathBuf, origin: Origin) -> Option<Binaries> {
        if !has_server_programs(&bin) {
            return None;
        }
        Some(Binaries {
            initdb: bin.join("initdb"),
            pg_ctl: bin.join("pg_ctl"),
            pgvector: find_vector_control(&bin),
            bin,
            origin,
        })
    }

    /// The version, as `pg_ctl --version` says it ("PostgreSQL 16.2"), or why it is unknown.
    pub(super) fn version(&self) -> String {
        match Command::new(&self.pg_ctl)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
        {
            Ok(output) if output.status.success() => {
                match String::from_utf8_lossy(&output.stdout)
                    .split_whitespace()
                    .last()
                {
                    Some(version) => format!("PostgreSQL {version}"),
                    None => "PostgreSQL (pg_ctl --version printed nothing)".to_string(),
                }
            }
            Ok(output) => format!("PostgreSQL (pg_ctl --version: {})", output.status),
            Err(e) => format!("PostgreSQL (pg_ctl --version: {e})"),
        }
    }

    /// Where it came from, for messages.
    pub(super) fn origin_text(&self) -> String {
        match self.origin {
            Origin::Variable => format!("named by {BIN_VAR}"),
            Origin::Debian => format!("installed in {DEBIAN_ROOT}"),
            Origin::Path => "found on PATH".to_string(),
            Origin::Pgserver => {
                format!("pgserver {PGSERVER_VERSION}, provisioned by engram-testkit")
            }
        }
    }
}

/// The PostgreSQL chosen, and why it lacks pgvector when it does.
pub(super) struct Choice {
    pub(super) binaries: Binaries,
    /// Why there is no pgvector (the reason for the vector tests' failure).
    pub(super) pgvector: Result<(), String>,
}

/// Chooses the PostgreSQL to run (see the [module documentation](super)): the one named
/// by [`BIN_VAR`], as it is; else the first with pgvector of Debian's (newest first), those
/// on `PATH` and a copy provisioned earlier; else a newly provisioned copy; else, when
/// that fails, the first found, without pgvector.
pub(super) fn choose() -> Result<Choice, String> {
    if let Some(value) = env::var_os(BIN_VAR).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(value);
        let binaries = Binaries::at(bin.clone(), Origin::Variable).ok_or_else(|| {
            format!(
                "{BIN_VAR}={} is not a folder with PostgreSQL's initdb and pg_ctl programs; \
                 set it to the bin folder of a PostgreSQL installation, or unset it to let \
                 the testkit find or provision one",
                bin.display()
            )
        })?;
        let pgvector = match &binaries.pgvector {
            Ok(_) => Ok(()),
            Err(why) => Err(format!(
                "the PostgreSQL named by {BIN_VAR} ({}) has no pgvector: {why} (that \
                 PostgreSQL is used as it is; unset {BIN_VAR} to let the testkit find or \
                 fetch one with pgvector)",
                bin.display()
            )),
        };
        return Ok(Choice { binaries, pgvector });
    }

    let mut found = installed();
    if let Some(at) = found.iter().position(|b| b.pgvector.is_ok()) {
        return Ok(Choice {
            binaries: found.swap_remove(at),
            pgvector: Ok(()),
        });
    }
    let provisioned = provision::provision().and_then(|bin| {
        let binaries = Binaries::at(bin.clone(), Origin::Pgserver).ok_or_else(|| {
            format!(
                "the provisioned copy has no initdb and pg_ctl in {}",
                bin.display()
            )
        })?;
        match &binaries.pgvector {
            Ok(_) => Ok(binaries),
            Err(why) => Err(format!("the provisioned copy has no pgvector: {why}")),
        }
    });
    let failure = match provisioned {
        Ok(binaries) => {
            return Ok(Choice {
                binaries,
                pgvector: Ok(()),
            })
        }
        Err(failure) => failure,
    };
    let checked = found
        .iter()
        .map(|b| match &b.pgvector {
            Ok(_) => b.bin.display().to_string(),
            Err(why) => format!("{}: {why}", b.bin.display()),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if found.is_empty() {
        return Err(format!(
            "PostgreSQL was not found: no initdb and pg_ctl in {BIN_VAR}, \
             {DEBIAN_ROOT}/*/bin or on PATH, and the testkit could not provision one: \
             {failure}. The PostgreSQL tests need a server: {INSTALL_HINT}"
        ));
    }
    let binaries = found.swap_remove(0);
    let why = format!(
        "no installed PostgreSQL has pgvector ({checked}), and the testkit could not \
         provision one: {failure}"
    );
    log(&format!(
        "{why}. The PostgreSQL tests use {} without pgvector; the tests that need pgvector \
         fail.",
        binaries.bin.display()
    ));
    Ok(Choice {
        binaries,
        pgvector: Err(why),
    })
}

/// The installations found, in order of preference: Debian's versioned ones, newest
/// first, then those on `PATH`, then a copy provisioned by an earlier run. Each folder is
/// listed once.
fn installed() -> Vec<Binaries> {
    let mut versioned: Vec<(Vec<u64>, PathBuf)> = fs::read_dir(DEBIAN_ROOT)
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
        .collect();
    versioned.sort();
    let debian = versioned
        .into_iter()
        .rev()
        .map(|(_, bin)| (bin, Origin::Debian));
    let on_path = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| (dir, Origin::Path));
    let provisioned = provision::existing().map(|bin| (bin, Origin::Pgserver));

    let mut found: Vec<Binaries> = Vec::new();
    for (bin, origin) in debian.chain(on_path).chain(provisioned) {
        let bin = real_bin(&bin);
        if found.iter().any(|known| known.bin == bin) {
            continue;
        }
        if let Some(binaries) = Binaries::at(bin, origin) {
            found.push(binaries);
        }
    }
    found
}

/// The folder where the programs of `bin` really are: a folder of links to another
/// installation's `initdb` and `pg_ctl` (like `/usr/local/bin` or Homebrew's `bin`) stands
/// for that installation's bin folder, where its `pg_config` and share folder are found.
fn real_bin(bin: &Path) -> PathBuf {
    let real_parent = |name: &str| {
        bin.join(name)
            .canonicalize()
            .ok()
            .and_then(|path| path.parent().map(Path::to_path_buf))
    };
    match (real_parent("initdb"), real_parent("pg_ctl")) {
        (Some(initdb), Some(pg_ctl)) if initdb == pg_ctl => initdb,
        _ => bin.canonicalize().unwrap_or_else(|_| bin.to_path_buf()),
    }
}

/// Whether a folder has PostgreSQL's `initdb` and `pg_ctl`.
pub(super) fn has_server_programs(bin: &Path) -> bool {
    is_executable(&bin.join("initdb")) && is_executable(&bin.join("pg_ctl"))
}

/// pgvector's `vector.control` for the installation in `bin`: in the share folder that
/// `<bin>/pg_config --sharedir` names, else in `<bin>/../share/postgresql` or
/// `<bin>/../share`. The error lists where it was looked for.
pub(super) fn find_vector_control(bin: &Path) -> Result<PathBuf, String> {
    let mut shares = Vec::new();
    if let Some(share) = pg_config_sharedir(bin) {
        shares.push(share);
    }
    if let Some(prefix) = bin.parent() {
        shares.push(prefix.join("share").join("postgresql"));
        shares.push(prefix.join("share"));
    }
    let mut looked = Vec::new();
    for share in shares {
        let control = share.join("extension").join("vector.control");
        if control.is_file() {
            return Ok(control);
        }
        if !looked.contains(&control) {
            looked.push(control);
        }
    }
    Err(format!(
        "no pgvector extension (no {})",
        looked
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// What `<bin>/pg_config --sharedir` prints, when it runs.
fn pg_config_sharedir(bin: &Path) -> Option<PathBuf> {
    let pg_config = bin.join("pg_config");
    if !is_executable(&pg_config) {
        return None;
    }
    let output = Command::new(pg_config)
        .arg("--sharedir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !printed.is_empty()).then(|| PathBuf::from(printed))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes an executable shell script.
    fn script(path: &Path, body: &str) {
        fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write a script");
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// A `<root>/bin` with initdb and pg_ctl that do nothing.
    fn installation(root: &Path) -> PathBuf {
        let bin = root.join("bin");
        fs::create_dir_all(&bin).expect("create bin");
        script(&bin.join("initdb"), "exit 0");
        script(&bin.join("pg_ctl"), "echo 'pg_ctl (PostgreSQL) 16.2'");
        bin
    }

    fn control_in(share: &Path) -> PathBuf {
        let extension = share.join("extension");
        fs::create_dir_all(&extension).expect("create extension");
        let control = extension.join("vector.control");
        fs::write(&control, "default_version = '0.6.2'\n").expect("write vector.control");
        control
    }

    #[test]
    fn vector_control_is_found_next_to_the_programs() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = installation(root.path());
        let binaries = Binaries::at(bin.clone(), Origin::Path).expect("initdb and pg_ctl");
        assert_eq!(binaries.version(), "PostgreSQL 16.2");
        let why = binaries.pgvector.expect_err("no vector.control yet");
        assert!(
            why.contains("share/postgresql/extension/vector.control"),
            "{why}"
        );

        let control = control_in(&root.path().join("share").join("postgresql"));
        assert_eq!(find_vector_control(&bin), Ok(control));
    }

    #[test]
    fn vector_control_is_found_where_pg_config_says() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = installation(root.path());
        let share = root.path().join("elsewhere").join("15");
        script(
            &bin.join("pg_config"),
            &format!("[ \"$1\" = --sharedir ] && echo '{}'", share.display()),
        );
        let why = find_vector_control(&bin).expect_err("no vector.control yet");
        assert!(
            why.contains("elsewhere/15/extension/vector.control"),
            "{why}"
        );
        let control = control_in(&share);
        assert_eq!(find_vector_control(&bin), Ok(control));
    }

    #[test]
    fn a_folder_of_links_stands_for_the_installation() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = installation(&root.path().join("pg"));
        let links = root.path().join("links");
        fs::create_dir(&links).expect("create links");
        for name in ["initdb", "pg_ctl"] {
            std::os::unix::fs::symlink(bin.join(name), links.join(name)).expect("symlink");
        }
        let real = bin.canonicalize().expect("canonical bin");
        assert_eq!(real_bin(&links), real);
        assert_eq!(real_bin(&bin), real);
        // The links' own folder is kept when the programs are in different folders.
        fs::remove_file(links.join("initdb")).expect("remove a link");
        script(&links.join("initdb"), "exit 0");
        assert_eq!(
            real_bin(&links),
            links.canonicalize().expect("canonical links")
        );
    }

    #[test]
    fn a_folder_without_initdb_is_no_installation() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = installation(root.path());
        fs::remove_file(bin.join("initdb")).expect("remove initdb");
        assert!(Binaries::at(bin, Origin::Path).is_none());
    }
}
