//! DSN parsing: which backend a database URL names, and how to print it without its password.

use std::fmt;
use std::path::PathBuf;

use crate::{BackendKind, Error, Result};

/// Where a SQLite database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteLocation {
    /// A file, relative to the working directory or absolute, opened as `mode` says.
    File {
        /// The file's path, percent-decoded.
        path: PathBuf,
        /// How it is opened (`?mode=` in the DSN).
        mode: SqliteMode,
    },
    /// A private in-memory database that lives as long as the store.
    Memory,
}

impl SqliteLocation {
    /// A file opened read-write and created if missing (the default mode).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        SqliteLocation::File {
            path: path.into(),
            mode: SqliteMode::ReadWriteCreate,
        }
    }
}

/// How a SQLite file is opened: the `mode` option of a SQLite DSN, as SQLite's own URI
/// filenames and sqlx name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteMode {
    /// `mode=ro`: read only; the file must exist, and nothing is written to it (not even the
    /// switch to WAL mode), so a file or folder the user may not write can be read.
    ReadOnly,
    /// `mode=rw`: read and write; the file must exist.
    ReadWrite,
    /// `mode=rwc` (the default): read and write, creating the file (and its folder) if
    /// missing.
    #[default]
    ReadWriteCreate,
}

impl SqliteMode {
    /// The DSN spelling: `ro`, `rw` or `rwc`.
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteMode::ReadOnly => "ro",
            SqliteMode::ReadWrite => "rw",
            SqliteMode::ReadWriteCreate => "rwc",
        }
    }
}

/// A parsed database URL.
///
/// | DSN | backend |
/// |---|---|
/// | `postgres://user:pass@host:5432/db`, `postgresql://…` | PostgreSQL |
/// | `sqlite://relative/path.db` | SQLite file relative to the working directory |
/// | `sqlite:///absolute/path.db` | SQLite file at an absolute path |
/// | `sqlite:///absolute/path.db?mode=ro` | the same file, read only (`ro`, `rw`, `rwc`, `memory`) |
/// | `sqlite::memory:` | SQLite in memory |
///
/// A SQLite path is percent-decoded (`my%20notes.db` is `my notes.db`; write a `%` as `%25`
/// and a `?` as `%3F`), and what follows `?` are options: `mode=ro` (read only, the file
/// must exist), `mode=rw` (read-write, the file must exist), `mode=rwc` (the default:
/// read-write, created if missing) or `mode=memory` (a private in-memory database). Any
/// other option is an error.
///
/// ```
/// use engram_core::{Dsn, SqliteLocation, SqliteMode};
/// assert_eq!(
///     Dsn::parse("sqlite:///var/lib/engram.db").unwrap(),
///     Dsn::Sqlite(SqliteLocation::file("/var/lib/engram.db"))
/// );
/// assert_eq!(
///     Dsn::parse("sqlite://my%20notes.db?mode=ro").unwrap(),
///     Dsn::Sqlite(SqliteLocation::File { path: "my notes.db".into(), mode: SqliteMode::ReadOnly })
/// );
/// assert!(Dsn::parse("sqlite://x.db?cache=shared").is_err());
/// let pg = Dsn::parse("postgres://app:secret@db:5432/memories").unwrap();
/// assert_eq!(pg.to_string(), "postgres://app:***@db:5432/memories");
/// assert!(Dsn::parse("mysql://x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Dsn {
    /// A PostgreSQL connection URL, kept whole for the driver.
    Postgres(String),
    /// A SQLite database.
    Sqlite(SqliteLocation),
}

/// The DSN engram uses when none is given: a SQLite file in the working directory.
pub const DEFAULT_DSN: &str = "sqlite://engram.db";

impl Dsn {
    /// Parses a DSN; the error names the DSN (password removed) and the accepted forms.
    pub fn parse(dsn: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidDsn {
            dsn: mask_unparsed(dsn),
            reason: reason.to_string(),
        };
        let trimmed = dsn.trim();
        if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            return Ok(Dsn::Postgres(trimmed.to_string()));
        }
        if trimmed == "sqlite::memory:" {
            return Ok(Dsn::Sqlite(SqliteLocation::Memory));
        }
        if let Some(rest) = trimmed.strip_prefix("sqlite://") {
            return parse_sqlite(rest)
                .map(Dsn::Sqlite)
                .map_err(|reason| invalid(&reason));
        }
        Err(invalid(
            "expected postgres://…, postgresql://…, sqlite://relative.db, \
             sqlite:///absolute.db or sqlite::memory:",
        ))
    }

    /// The backend this DSN selects.
    pub fn backend(&self) -> BackendKind {
        match self {
            Dsn::Postgres(_) => BackendKind::Postgres,
            Dsn::Sqlite(_) => BackendKind::Sqlite,
        }
    }
}

/// The part of a SQLite DSN after `sqlite://`: a percent-encoded path, then options.
fn parse_sqlite(rest: &str) -> std::result::Result<SqliteLocation, String> {
    let (encoded_path, options) = match rest.split_once('?') {
        Some((path, options)) => (path, Some(options)),
        None => (rest, None),
    };
    let mut mode = None;
    for option in options.into_iter().flat_map(|o| o.split('&')) {
        if option.is_empty() {
            continue;
        }
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        let (key, value) = (percent_decoded(key)?, percent_decoded(value)?);
        if key != "mode" {
            return Err(format!(
                "unknown SQLite option '{key}' (the one option is mode=ro|rw|rwc|memory)"
            ));
        }
        if mode.is_some() {
            return Err("the SQLite option mode is given twice".to_string());
        }
        mode = Some(match value.as_str() {
            "ro" => Some(SqliteMode::ReadOnly),
            "rw" => Some(SqliteMode::ReadWrite),
            "rwc" => Some(SqliteMode::ReadWriteCreate),
            "memory" => None,
            other => {
                return Err(format!(
                    "unknown SQLite mode '{other}' (expected ro, rw, rwc or memory)"
                ))
            }
        });
    }
    let path = percent_decoded(encoded_path)?;
    match mode {
        Some(None) => Ok(SqliteLocation::Memory),
        _ if path == ":memory:" => Ok(SqliteLocation::Memory),
        _ if path.is_empty() || path == "/" => {
            Err("the SQLite URL has no file path (use sqlite://engram.db)".to_string())
        }
        mode => Ok(SqliteLocation::File {
            path: PathBuf::from(path),
            mode: mode.flatten().unwrap_or_default(),
        }),
    }
}

fn percent_decoded(text: &str) -> std::result::Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| format!("'{text}' is not UTF-8 once percent-decoded"))
}

impl fmt::Display for Dsn {
    /// The DSN with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dsn::Postgres(url) => f.write_str(&redact(url)),
            Dsn::Sqlite(SqliteLocation::Memory) => f.write_str("sqlite::memory:"),
            Dsn::Sqlite(SqliteLocation::File { path, mode }) => {
                write!(f, "sqlite://{}", path.display())?;
                match mode {
                    SqliteMode::ReadWriteCreate => Ok(()),
                    mode => write!(f, "?mode={}", mode.as_str()),
                }
            }
        }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({self})")
    }
}

/// What may be shown of a DSN that could not be parsed. One shaped like a URL
/// (`scheme://…`) is shown with [`redact`]. Of any other shape that could hold a password
/// (it has a `:`, `@`, `/`, `=` or white space: `postgres//user:secret@host`,
/// `user/secret@host`, `secret@host`, `host=h password=secret`) nothing is shown but the
/// name of a known scheme it starts with; a plain word is shown as it is.
///
/// ```
/// use engram_core::dsn::mask_unparsed;
/// assert_eq!(mask_unparsed("postgres//engram:S3cr3t@h/db"), "postgres***");
/// assert_eq!(mask_unparsed("engram/S3cr3t@h/db"), "***");
/// assert_eq!(mask_unparsed("S3cr3t@h/db"), "***");
/// assert_eq!(mask_unparsed("mysql://u:S3cr3t@h/db"), "mysql://u:***@h/db");
/// assert_eq!(mask_unparsed("engram.db"), "engram.db");
/// ```
pub fn mask_unparsed(dsn: &str) -> String {
    let trimmed = dsn.trim();
    if let Some(end) = trimmed.find("://") {
        let scheme = &trimmed[..end];
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            return redact(trimmed);
        }
    }
    let may_hold_a_password =
        trimmed.contains(|c: char| matches!(c, ':' | '@' | '/' | '=') || c.is_whitespace());
    if !may_hold_a_password {
        return trimmed.to_string();
    }
    let known = ["postgresql", "postgres", "sqlite"]
        .into_iter()
        .find(|scheme| trimmed.starts_with(scheme));
    format!("{}***", known.unwrap_or(""))
}

/// Replaces the password of a database URL with `***`, both the `user:password@` form and a
/// `password=` parameter. Text that is not a URL is returned unchanged.
///
/// ```
/// use engram_core::dsn::redact;
/// assert_eq!(redact("postgres://u:p%40ss@h/db"), "postgres://u:***@h/db");
/// assert_eq!(redact("postgres://u@h/db?password=x&sslmode=disable"),
///            "postgres://u@h/db?password=***&sslmode=disable");
/// ```
pub fn redact(dsn: &str) -> String {
    let mut out = dsn.to_string();
    // Right to left, so that earlier byte ranges stay valid.
    for span in password_spans(dsn).into_iter().rev() {
        out.replace_range(span, "***");
    }
    out
}

/// The passwords a database URL carries, in order: the one of `user:password@` and those of
/// `password=` parameters, as written (percent-encoding not decoded).
///
/// ```
/// use engram_core::dsn::passwords;
/// assert_eq!(passwords("postgres://u:hunt/er2@h/db?password=x"), ["hunt/er2", "x"]);
/// assert!(passwords("postgres://u@h:5432/db").is_empty());
/// ```
pub fn passwords(dsn: &str) -> Vec<&str> {
    password_spans(dsn)
        .into_iter()
        .map(|span| &dsn[span])
        .collect()
}

/// Byte ranges of the passwords in `dsn`, ascending and disjoint.
fn password_spans(dsn: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    if let Some(scheme_end) = dsn.find("://") {
        let rest_start = scheme_end + 3;
        // Like the PostgreSQL driver, the user info ends at the first `@`, even when the
        // password holds `/` or `?`; a password may also hold `@` itself, so the password
        // runs to the last `@` before the path or query that follows.
        let rest = &dsn[rest_start..];
        if let (Some(colon), Some(first_at)) = (rest.find(':'), rest.find('@')) {
            if colon < first_at {
                let boundary = rest[first_at..]
                    .find(['/', '?'])
                    .map_or(rest.len(), |i| first_at + i);
                let last_at = rest[..boundary].rfind('@').unwrap_or(first_at);
                spans.push(rest_start + colon + 1..rest_start + last_at);
            }
        }
    }
    let mut search_from = spans.last().map_or(0, |span| span.end);
    while let Some(found) = dsn[search_from..].find("password=") {
        let value_start = search_from + found + "password=".len();
        // A value ends at the next parameter, or where the URL ends inside a message: white
        // space or a closing quote.
        let value_end = dsn[value_start..]
            .find(|c: char| c == '&' || c == '\'' || c == '"' || c.is_whitespace())
            .map_or(dsn.len(), |i| value_start + i);
        spans.push(value_start..value_end);
        search_from = value_end;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(
            Dsn::parse("postgresql://localhost/x").unwrap().backend(),
            BackendKind::Postgres
        );
        assert_eq!(
            Dsn::parse("sqlite://data/engram.db").unwrap(),
            Dsn::Sqlite(SqliteLocation::file("data/engram.db"))
        );
        assert_eq!(
            Dsn::parse("sqlite://:memory:").unwrap(),
            Dsn::Sqlite(SqliteLocation::Memory)
        );
        assert_eq!(
            Dsn::parse("sqlite://x.db?mode=memory").unwrap(),
            Dsn::Sqlite(SqliteLocation::Memory)
        );
        assert_eq!(
            Dsn::parse("sqlite::memory:").unwrap(),
            Dsn::Sqlite(SqliteLocation::Memory)
        );
    }

    #[test]
    fn sqlite_paths_are_percent_decoded_and_options_are_not_part_of_the_name() {
        let file = |path: &str, mode| {
            Dsn::Sqlite(SqliteLocation::File {
                path: path.into(),
                mode,
            })
        };
        for (dsn, expected) in [
            (
                "sqlite:///tmp/x.db?mode=ro",
                file("/tmp/x.db", SqliteMode::ReadOnly),
            ),
            ("sqlite://x.db?mode=rw", file("x.db", SqliteMode::ReadWrite)),
            (
                "sqlite://x.db?mode=rwc",
                file("x.db", SqliteMode::ReadWriteCreate),
            ),
            ("sqlite://x.db?", file("x.db", SqliteMode::ReadWriteCreate)),
            (
                "sqlite://with%20space.db",
                file("with space.db", SqliteMode::ReadWriteCreate),
            ),
            (
                "sqlite://100%25.db",
                file("100%.db", SqliteMode::ReadWriteCreate),
            ),
            (
                "sqlite://what%3F.db",
                file("what?.db", SqliteMode::ReadWriteCreate),
            ),
            (
                "sqlite://caf%C3%A9.db",
                file("café.db", SqliteMode::ReadWriteCreate),
            ),
        ] {
            assert_eq!(Dsn::parse(dsn).unwrap(), expected, "{dsn}");
        }
        assert_eq!(
            Dsn::parse("sqlite:///tmp/x.db?mode=ro")
                .unwrap()
                .to_string(),
            "sqlite:///tmp/x.db?mode=ro"
        );
        for (bad, reason) in [
            (
                "sqlite://x.db?cache=shared",
                "unknown SQLite option 'cache'",
            ),
            ("sqlite://x.db?mode=rox", "unknown SQLite mode 'rox'"),
            ("sqlite://x.db?mode=ro&mode=rw", "given twice"),
            ("sqlite://%FF.db", "not UTF-8"),
            ("sqlite://?mode=ro", "no file path"),
        ] {
            let err = Dsn::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidDsn, "{bad}");
            assert!(err.to_string().contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_unknown_and_empty_forms_without_leaking_the_password() {
        for bad in ["", "sqlite://", "mysql://u:hunter2@h/db", "engram.db"] {
            let err = Dsn::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidDsn, "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn malformed_dsns_never_show_their_password() {
        for bad in [
            "postgres//engram:S3cr3tPw@127.0.0.1:5432/db",
            "postgres:/engram:S3cr3tPw@127.0.0.1:5432/db",
            "postgres:engram:S3cr3tPw@127.0.0.1:5432/db",
            "postgres:\\\\engram:S3cr3tPw@127.0.0.1:5432/db",
            "engram:S3cr3tPw@host/db",
            "mysql://engram:S3cr3tPw@host/db",
            "pg://host/db?password=S3cr3tPw",
            "engram/S3cr3tPw@db/engram",
            "S3cr3tPw@db/engram",
            "host=db password=S3cr3tPw",
            "postgres//db/engram?password=S3cr3tPw",
        ] {
            let err = Dsn::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidDsn, "{bad}");
            let message = err.to_string();
            assert!(!message.contains("S3cr3tPw"), "{message}");
            assert!(!message.contains("127.0.0.1"), "{message}");
        }
        assert_eq!(
            Dsn::parse("postgres//engram:S3cr3tPw@h/db")
                .unwrap_err()
                .to_string()
                .split(':')
                .next(),
            Some("invalid database URL 'postgres***'")
        );
    }

    #[test]
    fn a_password_parameter_ends_at_a_closing_quote() {
        assert_eq!(
            redact("invalid 'postgres://h/d?password=x': refused"),
            "invalid 'postgres://h/d?password=***': refused"
        );
        assert_eq!(
            redact("\"postgres://h/d?password=x\""),
            "\"postgres://h/d?password=***\""
        );
    }

    #[test]
    fn redacts_passwords_with_at_signs_and_parameters() {
        assert_eq!(redact("postgres://u:a@b@h:1/d"), "postgres://u:***@h:1/d");
        assert_eq!(
            redact("postgres://h/d?password=x"),
            "postgres://h/d?password=***"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("postgres://u@h:5432/d"), "postgres://u@h:5432/d");
        assert_eq!(
            redact("postgres://u:hunt/er2@h:1/d"),
            "postgres://u:***@h:1/d"
        );
        assert_eq!(
            redact("postgres://u:hunt?er2@h:1/d"),
            "postgres://u:***@h:1/d"
        );
    }
}
