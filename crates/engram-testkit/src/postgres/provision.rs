//! Provisioning a PostgreSQL with pgvector when none is installed: the `pgserver` Python
//! wheel (PostgreSQL 16 and pgvector 0.6, relocatable), fetched with `pip download` and
//! unpacked once into a cache that later test runs reuse.
//!
//! The cache is `<cargo target dir>/engram-testkit/pgserver-<version>/`. The target dir is
//! `CARGO_TARGET_DIR` when that is an absolute path, else the nearest folder above the test
//! executable that holds cargo's `CACHEDIR.TAG`. Under root the cluster runs as the
//! `postgres` OS user, who must be able to reach the programs: when some folder above the
//! target dir lacks the others' search bit (`o+x`, for example a clone under `/root`), or
//! when there is no target dir, the cache is `<system temp dir>/engram-testkit-pgserver-<version>/`
//! instead, world-readable and used only while it is owned by the current user and
//! writable by nobody else.
//!
//! Several test processes may provision at once: one holds an `flock` on `<cache>.lock`
//! while it downloads and unpacks into `<cache>.partial`, which it renames to `<cache>` when
//! complete; the others wait for the lock and then use that copy. A killed download never
//! leaves a half copy under the cache's name.

use std::env;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::binaries::{find_vector_control, has_server_programs};
use super::log;

/// The pgserver release provisioned: PostgreSQL 16.2 and pgvector 0.6.2.
pub(super) const PGSERVER_VERSION: &str = "0.1.4";

/// The wheel's platform and Python version. pip fetches this wheel whatever the local
/// Python is; the PostgreSQL inside is the same in every wheel of the release.
const WHEEL_PLATFORM: &str = "manylinux2014_x86_64";
const WHEEL_PYTHON: &str = "3.11";

/// The CPU features the wheel's `vector.so` was built for (without them it dies of SIGILL).
const REQUIRED_CPU_FLAGS: [&str; 2] = ["avx2", "fma"];

/// Unpacks the PostgreSQL tree of the wheel (`$1`) into `$2`: only `pgserver/pginstall/`
/// and the shared libraries beside it in `pgserver.libs/` (the programs find them by a
/// relative RPATH), with the modes recorded in the wheel, which zipfile does not restore.
const EXTRACT_SCRIPT: &str = r#"
import os, sys, zipfile
os.umask(0o022)
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(("pgserver/pginstall/", "pgserver.libs/")):
            continue
        path = z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode | 0o444)
"#;

/// The folder a copy is unpacked into, and where its programs are.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cache {
    dir: PathBuf,
    /// Whether the folder above `dir` is the testkit's own (`<target>/engram-testkit`),
    /// made and opened up here, rather than a shared one like the temp dir.
    own_parent: bool,
}

impl Cache {
    fn bin(&self) -> PathBuf {
        bin_of(&self.dir)
    }

    /// A sibling of the cache folder: `<cache><suffix>`.
    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self
            .dir
            .file_name()
            .unwrap_or(OsStr::new("pgserver"))
            .to_owned();
        name.push(suffix);
        self.dir.with_file_name(name)
    }
}

/// The programs' folder in an unpacked copy.
fn bin_of(dir: &Path) -> PathBuf {
    dir.join("pgserver").join("pginstall").join("bin")
}

/// The bin folder of a copy provisioned by an earlier run, when there is a usable one.
pub(super) fn existing() -> Option<PathBuf> {
    let as_root = crate::faults::running_as_root();
    [
        target_cache().filter(|cache| !as_root || others_can_traverse(&cache.dir)),
        Some(temp_cache()),
    ]
    .into_iter()
    .flatten()
    .filter(|cache| cache.own_parent || is_trusted(&cache.dir).is_ok())
    .map(|cache| cache.bin())
    .find(|bin| is_complete(bin))
}

/// Provisions a copy (or waits for another process that does) and returns its bin folder.
pub(super) fn provision() -> Result<PathBuf, String> {
    cpu_supported()?;
    let cache = match target_cache() {
        Some(cache) if !crate::faults::running_as_root() || others_can_traverse(&cache.dir) => {
            cache
        }
        _ => temp_cache(),
    };
    ensure(&cache).map(|()| cache.bin())
}

/// The cache in the cargo target dir, when it is known.
fn target_cache() -> Option<Cache> {
    let exe = env::current_exe().ok();
    let target = target_dir(env::var_os("CARGO_TARGET_DIR").as_deref(), exe.as_deref())?;
    Some(Cache {
        dir: target
            .join("engram-testkit")
            .join(format!("pgserver-{PGSERVER_VERSION}")),
        own_parent: true,
    })
}

/// The cache in the system temp dir.
fn temp_cache() -> Cache {
    Cache {
        dir: env::temp_dir().join(format!("engram-testkit-pgserver-{PGSERVER_VERSION}")),
        own_parent: false,
    }
}

/// The cargo target dir: `cargo_target_dir` when it is an absolute path to a folder (a
/// relative one is relative to where cargo ran, which a test does not know), else the
/// nearest folder above `exe` with cargo's `CACHEDIR.TAG`.
fn target_dir(cargo_target_dir: Option<&OsStr>, exe: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = cargo_target_dir
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute() && dir.is_dir())
    {
        return Some(dir);
    }
    exe?.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// Whether every folder from the root down to `path` (or its nearest existing ancestor)
/// has the others' search bit, so that another user (`postgres`) can reach what is below.
/// Conservative: group membership and ACLs are not considered.
fn others_can_traverse(path: &Path) -> bool {
    let Some(existing) = path.ancestors().find(|dir| dir.exists()) else {
        return false;
    };
    let Ok(real) = existing.canonicalize() else {
        return false;
    };
    real.ancestors()
        .all(|dir| fs::metadata(dir).is_ok_and(|m| m.mode() & 0o001 != 0))
}

/// Whether a folder in a shared place can be trusted with programs to run: owned by this
/// user and writable by nobody else.
fn is_trusted(dir: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is not a folder of this user that only this user can write; remove it to \
             let the testkit provision again",
            dir.display()
        ));
    }
    Ok(())
}

/// Whether a bin folder holds a complete copy: the server programs and pgvector.
fn is_complete(bin: &Path) -> bool {
    has_server_programs(bin) && find_vector_control(bin).is_ok()
}

/// The wheel's pgvector runs only on x86-64 Linux with AVX2 and FMA.
fn cpu_supported() -> Result<(), String> {
    let (os, arch) = (env::consts::OS, env::consts::ARCH);
    if os != "linux" || arch != "x86_64" {
        return Err(format!(
            "the pgserver {PGSERVER_VERSION} wheel the testkit can fetch is for x86-64 Linux, \
             and this is {arch} {os}"
        ));
    }
    let cpuinfo = fs::read_to_string("/proc/cpuinfo")
        .map_err(|e| format!("could not read /proc/cpuinfo to check the CPU: {e}"))?;
    let missing = missing_cpu_flags(&cpuinfo);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the pgvector of the pgserver {PGSERVER_VERSION} wheel the testkit can fetch needs \
             a CPU with {}, and this one lacks {}",
            REQUIRED_CPU_FLAGS.join(" and "),
            missing.join(" and ")
        ))
    }
}

/// The required CPU flags that the first `flags` line of `/proc/cpuinfo` lacks.
fn missing_cpu_flags(cpuinfo: &str) -> Vec<&'static str> {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "flags").then_some(value)
        })
        .map(|value| value.split_whitespace().collect())
        .unwrap_or_default();
    REQUIRED_CPU_FLAGS
        .into_iter()
        .filter(|flag| !flags.contains(flag))
        .collect()
}

/// Makes sure the cache holds a complete copy, provisioning it under the lock if needed.
fn ensure(cache: &Cache) -> Result<(), String> {
    let parent = cache
        .dir
        .parent()
        .ok_or_else(|| format!("{} has no parent folder", cache.dir.display()))?;
    fs::create_dir_all(parent)
        .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    if cache.own_parent {
        open_up(parent)?;
    }
    let lock_path = cache.sibling(".lock");
    let _lock = lock(&lock_path)?;
    if cache.dir.exists() {
        if !cache.own_parent {
            is_trusted(&cache.dir)?;
        }
        if is_complete(&cache.bin()) {
            return Ok(());
        }
        return Err(format!(
            "{} holds no complete pgserver copy (no initdb, pg_ctl or vector.control in {}); \
             remove it to let the testkit provision again",
            cache.dir.display(),
            cache.bin().display()
        ));
    }
    let partial = cache.sibling(".partial");
    match fs::remove_dir_all(&partial) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(format!(
                "could not remove the unfinished copy {}: {e}",
                partial.display()
            ))
        }
        _ => {}
    }
    fs::create_dir(&partial).map_err(|e| format!("could not create {}: {e}", partial.display()))?;
    log(&format!(
        "no PostgreSQL with pgvector found; fetching pgserver {PGSERVER_VERSION} (PostgreSQL \
         16 + pgvector 0.6) with pip into {}",
        cache.dir.display()
    ));
    let unpacked = download_and_unpack(&partial).and_then(|()| {
        let bin = bin_of(&partial);
        if !has_server_programs(&bin) {
            return Err(format!(
                "the pgserver wheel unpacked into {} has no initdb and pg_ctl in {}",
                partial.display(),
                bin.display()
            ));
        }
        find_vector_control(&bin)
            .map(|_| ())
            .map_err(|why| format!("the unpacked pgserver wheel has no pgvector: {why}"))
    });
    let finished = unpacked.and_then(|()| {
        fs::rename(&partial, &cache.dir).map_err(|e| {
            format!(
                "could not rename {} to {}: {e}",
                partial.display(),
                cache.dir.display()
            )
        })
    });
    if finished.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    finished
}

/// Gives a folder mode 0755, so that the `postgres` user can reach what is below.
fn open_up(dir: &Path) -> Result<(), String> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("could not make {} readable for all: {e}", dir.display()))
}

/// Takes an exclusive `flock` on a lock file, held until the file is dropped.
fn lock(path: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("could not open the lock file {}: {e}", path.display()))?;
    loop {
        // SAFETY: flock on a descriptor that `file` owns and keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(format!("could not lock {}: {error}", path.display()));
        }
    }
}

/// Downloads the wheel with pip into `<dir>/wheel`, unpacks it into `dir` and removes the
/// wheel again.
fn download_and_unpack(dir: &Path) -> Result<(), String> {
    open_up(dir)?;
    let wheels = dir.join("wheel");
    let requirement = format!("pgserver=={PGSERVER_VERSION}");
    let download = [
        "-m",
        "pip",
        "download",
        &requirement,
        "--no-deps",
        "--only-binary",
        ":all:",
        "--platform",
        WHEEL_PLATFORM,
        "--python-version",
        WHEEL_PYTHON,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "-d",
    ];
    let shown = format!("python3 {} {}", download.join(" "), wheels.display());
    run_python(Command::new("python3").args(download).arg(&wheels), &shown)?;
    let wheel = fs::read_dir(&wheels)
        .map_err(|e| format!("could not list {}: {e}", wheels.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| format!("`{shown}` left no wheel in {}", wheels.display()))?;
    run_python(
        Command::new("python3")
            .arg("-c")
            .arg(EXTRACT_SCRIPT)
            .arg(&wheel)
            .arg(dir),
        &format!("unpacking {} with python3's zipfile", wheel.display()),
    )?;
    fs::remove_dir_all(&wheels)
        .map_err(|e| format!("could not remove {}: {e}", wheels.display()))?;
    open_up(dir)
}

/// Runs a python3 command; the error says what failed and ends with its output.
fn run_python(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .env("PIP_REQUIRE_VIRTUALENV", "false")
        .output()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                "python3 was not found; the testkit fetches pgserver with `python3 -m pip`"
                    .to_string()
            } else {
                format!("could not run python3: {e}")
            }
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    Err(format!(
        "`{what}` failed ({}):\n{}",
        output.status,
        lines[lines.len().saturating_sub(15)..].join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::DirBuilderExt;

    use super::*;

    #[test]
    fn the_target_dir_is_found_above_the_executable() {
        let root = tempfile::tempdir().expect("temp dir");
        let target = root.path().join("target");
        let deps = target.join("debug").join("deps");
        fs::create_dir_all(&deps).expect("create deps");
        fs::write(
            target.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )
        .expect("write the tag");
        let exe = deps.join("some_test-0123abcd");
        assert_eq!(target_dir(None, Some(&exe)), Some(target.clone()));

        // An absolute CARGO_TARGET_DIR that exists wins; a relative one cannot be resolved.
        let other = root.path().join("elsewhere");
        fs::create_dir(&other).expect("create elsewhere");
        assert_eq!(
            target_dir(Some(other.as_os_str()), Some(&exe)),
            Some(other.clone())
        );
        assert_eq!(
            target_dir(Some(OsStr::new("relative/target")), Some(&exe)),
            Some(target)
        );
        // Without a tag above the executable and without CARGO_TARGET_DIR: unknown.
        assert_eq!(target_dir(None, Some(&other.join("exe"))), None);
        assert_eq!(target_dir(None, None), None);
    }

    #[test]
    fn cache_siblings_are_named_after_the_cache() {
        let cache = Cache {
            dir: PathBuf::from("/t/engram-testkit/pgserver-0.1.4"),
            own_parent: true,
        };
        assert_eq!(
            cache.sibling(".lock"),
            PathBuf::from("/t/engram-testkit/pgserver-0.1.4.lock")
        );
        assert_eq!(
            cache.bin(),
            PathBuf::from("/t/engram-testkit/pgserver-0.1.4/pgserver/pginstall/bin")
        );
    }

    #[test]
    fn a_folder_without_the_search_bit_stops_other_users() {
        let root = tempfile::tempdir().expect("temp dir");
        // The temp dir itself is 0700; give it and a child the search bit for others.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o711)).expect("chmod");
        let open = root.path().join("open");
        let closed = root.path().join("closed");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&open)
            .expect("mkdir");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&closed)
            .expect("mkdir");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).expect("chmod");
        let base_open = others_can_traverse(root.path());
        // Not yet existing folders below count as what their nearest ancestor allows.
        assert_eq!(others_can_traverse(&open.join("not/yet")), base_open);
        assert!(!others_can_traverse(&closed.join("below")));
    }

    #[test]
    fn cpu_flags_are_read_from_cpuinfo() {
        let with = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\nbugs\t\t: none\n";
        assert!(missing_cpu_flags(with).is_empty());
        let without = "processor\t: 0\nflags\t\t: fpu sse2 avx\n";
        assert_eq!(missing_cpu_flags(without), vec!["avx2", "fma"]);
        assert_eq!(missing_cpu_flags(""), vec!["avx2", "fma"]);
    }
}
