//! Which database a command uses (flag, environment, default) and how it is opened.

use std::path::Path;

use engram::{Dsn, SqliteLocation, Store};
use engram_core::dsn::DEFAULT_DSN;

use crate::error::CliError;

/// The environment variable engram reads the DSN from first.
pub const DSN_VAR: &str = "ENGRAM_DATABASE_URL";
/// The conventional environment variable read when [`DSN_VAR`] is unset.
pub const FALLBACK_DSN_VAR: &str = "DATABASE_URL";

/// Where the DSN came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnSource {
    /// `--database-url`.
    Flag,
    /// An environment variable.
    Environment(&'static str),
    /// Nothing was given: [`DEFAULT_DSN`].
    Default,
}

/// The DSN a command runs against (never printed raw: see [`Target::display`]), and who
/// its writes are recorded as made by.
#[derive(Debug, Clone)]
pub struct Target {
    raw: String,
    /// Where it came from.
    pub source: DsnSource,
    /// `--actor`: recorded in the history events of the command's writes.
    pub actor: Option<String>,
}

impl Target {
    /// The DSN from `--database-url`, else `ENGRAM_DATABASE_URL`, else `DATABASE_URL`,
    /// else `sqlite://engram.db`. Empty environment variables count as unset (clap refuses
    /// an empty flag before this runs).
    pub fn resolve(flag: Option<String>, actor: Option<String>) -> Self {
        let from_env = |var: &'static str| {
            std::env::var(var)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(|raw| (raw, DsnSource::Environment(var)))
        };
        let (raw, source) = flag
            .filter(|value| !value.trim().is_empty())
            .map(|raw| (raw, DsnSource::Flag))
            .or_else(|| from_env(DSN_VAR))
            .or_else(|| from_env(FALLBACK_DSN_VAR))
            .unwrap_or_else(|| (DEFAULT_DSN.to_string(), DsnSource::Default));
        Target { raw, source, actor }
    }

    /// The DSN as given; only for opening the store and for the password scrubber.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The DSN with its password replaced by `***`.
    pub fn display(&self) -> String {
        match Dsn::parse(&self.raw) {
            Ok(dsn) => dsn.to_string(),
            Err(_) => engram_core::dsn::mask_unparsed(&self.raw),
        }
    }
}

/// How a command treats a SQLite file that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Create it (`init-db`, `migrate up`, `migrate stamp`, `demo`).
    Create,
    /// Inspect an empty database instead, so that nothing is created (`migrate status`,
    /// `history`, `down`, `repair`, dry runs).
    Inspect,
    /// Refuse: data commands need a database made by `engram init-db`.
    Existing,
}

/// Opens the store `target` names. Logs which SQLite file is used.
pub fn open(target: &Target, access: Access) -> Result<Store, CliError> {
    let dsn = Dsn::parse(target.raw())?;
    let mut open_dsn = target.raw().to_string();
    if let Dsn::Sqlite(location) = &dsn {
        match location {
            SqliteLocation::Memory => tracing::info!(
                "using SQLite in memory (set --database-url or {DSN_VAR} for PostgreSQL)"
            ),
            SqliteLocation::File { path, .. } => {
                tracing::info!(
                    "using SQLite at {} (set --database-url or {DSN_VAR} for PostgreSQL)",
                    shown_path(path)
                );
                if !path.exists() {
                    match access {
                        Access::Create => {}
                        Access::Inspect => open_dsn = "sqlite::memory:".to_string(),
                        Access::Existing => {
                            return Err(CliError::invalid(format!(
                                "there is no SQLite database at {}; create it with \
                                 `engram init-db` (or pass --database-url)",
                                path.display()
                            )))
                        }
                    }
                }
            }
        }
    }
    let store = Store::builder(&open_dsn).pool_size(2).open()?;
    match &target.actor {
        Some(actor) => Ok(store.with_actor(actor)?),
        None => Ok(store),
    }
}

/// Opens the store for a data command and checks that its schema is this binary's: no
/// changed, unknown or failed migrations, and none pending.
pub fn open_for_data(target: &Target) -> Result<Store, CliError> {
    let store = open(target, Access::Existing)?;
    check_schema(&store)?;
    Ok(store)
}

/// Refuses to work on a schema that is not exactly the one this binary's migrations build.
pub fn check_schema(store: &Store) -> Result<(), CliError> {
    let pending = store.with_migrator(|migrator| migrator.plan_up(None))?;
    if pending.is_empty() {
        return Ok(());
    }
    if pending.len() == store.migrations().len() {
        return Err(CliError::invalid(
            "the database has no engram schema yet; create it with `engram init-db`",
        ));
    }
    let names: Vec<String> = pending
        .iter()
        .map(|step| format!("{:04} {}", step.version, step.name))
        .collect();
    Err(CliError::invalid(format!(
        "the database schema is behind this engram: {} pending ({}); apply with `engram migrate up`",
        if pending.len() == 1 { "a migration is" } else { "migrations are" },
        names.join(", ")
    )))
}

/// The absolute form of `path` when it can be made, for messages.
fn shown_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}
