//! The one error type of engram's data API, with a coarse [`ErrorKind`] for callers and tests.

use std::fmt;

/// Result alias used across engram.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The underlying cause an [`Error`] keeps: a driver's error, a migration error, or a
/// [`Context`] around one. Its text never holds a password.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in an engram operation.
///
/// Every variant carries enough context to act on it: which field, which value, which DSN
/// (always with its password removed).
///
/// ```
/// use engram_core::{Error, ErrorKind};
/// let err = Error::invalid("score", "must be between 0 and 100, got 101");
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert_eq!(err.to_string(), "invalid score: must be between 0 and 100, got 101");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value given by the caller breaks a rule of the data model.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or argument that was wrong (`metadata`, `user_id`, ...).
        field: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The DSN could not be understood.
    #[error("invalid database URL '{dsn}': {reason}")]
    InvalidDsn {
        /// The DSN with any password replaced by `***`.
        dsn: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The row that an operation names does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// `memory` or `cluster`.
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// The row already exists (for example a memory inserted twice with the same id).
    #[error("{what} already exists: {detail}")]
    Conflict {
        /// `memory` or `cluster`.
        what: &'static str,
        /// Which row.
        detail: String,
    },
    /// The database could not be reached.
    #[error("cannot connect to {backend} database '{dsn}': {source}")]
    Connection {
        /// Which backend.
        backend: crate::BackendKind,
        /// The DSN with any password replaced by `***`.
        dsn: String,
        /// The driver's error (or a [`Context`] around it).
        #[source]
        source: Source,
    },
    /// The database schema is missing: the tables engram reads are not there.
    #[error(
        "the database schema is not ready: {source}; run `engram init-db` (or Store::migrate) \
         to create the tables"
    )]
    Schema {
        /// Which backend.
        backend: crate::BackendKind,
        /// The driver's error for the statement that found the schema missing.
        #[source]
        source: Source,
    },
    /// A migration could not be planned or run.
    #[error("migration error: {source}")]
    Migration {
        /// The migration runner's error (an `engram_migrate::MigrateError`: downcast it to
        /// see which versions were involved).
        #[source]
        source: Source,
    },
    /// The database reported an error while running a statement.
    #[error("{backend} error while {context}: {source}")]
    Database {
        /// Which backend.
        backend: crate::BackendKind,
        /// What engram was doing (`inserting memories`, `running a query`, ...).
        context: String,
        /// The driver's error.
        #[source]
        source: Source,
    },
    /// The database cannot do what was asked (vector operations on a PostgreSQL server
    /// without the pgvector extension); the text says what is missing and how to get it.
    #[error("{backend} cannot {what}: {reason}")]
    Unsupported {
        /// Which backend.
        backend: crate::BackendKind,
        /// What was asked (`store embeddings`, `search by vector`, ...).
        what: String,
        /// What is missing, and how to get it.
        reason: String,
    },
    /// A stored row breaks the data model (for example a list column holding a number), so
    /// it cannot be read back as a [`crate::Memory`] or [`crate::Cluster`]. The same bad row
    /// gives the same error on every backend.
    #[error("stored {what} row has an invalid {column}: {reason}")]
    StoredRow {
        /// `memory` or `cluster`.
        what: &'static str,
        /// The column that could not be decoded.
        column: &'static str,
        /// What was wrong with its value.
        reason: String,
    },
}

/// An error with a line saying what was being done when it happened; displayed as
/// `what: source`.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Context {
    /// What was being done (`cannot switch the database to WAL mode`, ...).
    pub what: String,
    /// What went wrong.
    #[source]
    pub source: Source,
}

impl Context {
    /// `source`, boxed, with `what` in front of its message.
    pub fn wrap(what: impl Into<String>, source: impl Into<Source>) -> Source {
        Box::new(Context {
            what: what.into(),
            source: source.into(),
        })
    }
}

/// A driver's message kept as text, where only the text reached engram.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

/// The category of an [`Error`], stable across backends: the conformance suite checks that
/// both backends give the same kind for the same bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::InvalidDsn`].
    InvalidDsn,
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::Connection`].
    Connection,
    /// See [`Error::Schema`].
    Schema,
    /// See [`Error::Migration`].
    Migration,
    /// See [`Error::Database`] and [`Error::StoredRow`].
    Database,
    /// See [`Error::Unsupported`].
    Unsupported,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Error {
    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Database`] for `backend`, saying what engram was doing.
    pub fn database(
        backend: crate::BackendKind,
        context: impl Into<String>,
        source: impl Into<Source>,
    ) -> Self {
        Error::Database {
            backend,
            context: context.into(),
            source: source.into(),
        }
    }

    /// An [`Error::Migration`] around the migration runner's error.
    pub fn migration(source: impl Into<Source>) -> Self {
        Error::Migration {
            source: source.into(),
        }
    }

    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::InvalidDsn { .. } => ErrorKind::InvalidDsn,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Schema { .. } => ErrorKind::Schema,
            Error::Migration { .. } => ErrorKind::Migration,
            Error::Database { .. } | Error::StoredRow { .. } => ErrorKind::Database,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
        }
    }
}
