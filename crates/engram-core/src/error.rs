//! The one error type of engram's data API, with a coarse [`ErrorKind`] for callers and tests.

use std::fmt;

/// Result alias used across engram.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    #[error("cannot connect to {backend} database '{dsn}': {message}")]
    Connection {
        /// Which backend.
        backend: crate::BackendKind,
        /// The DSN with any password replaced by `***`.
        dsn: String,
        /// The driver's message.
        message: String,
    },
    /// The database schema is missing or older than this binary expects.
    #[error("the database schema is not ready: {message}")]
    Schema {
        /// What is missing, and how to fix it.
        message: String,
    },
    /// A migration could not be planned or run.
    #[error("migration error: {message}")]
    Migration {
        /// What went wrong, naming the versions involved.
        message: String,
    },
    /// The database reported an error while running a statement.
    #[error("{backend} error while {context}: {message}")]
    Database {
        /// Which backend.
        backend: crate::BackendKind,
        /// What engram was doing (`inserting memories`, `running a query`, ...).
        context: String,
        /// The driver's message.
        message: String,
    },
}

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
    /// See [`Error::Database`].
    Database,
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
        message: impl fmt::Display,
    ) -> Self {
        Error::Database {
            backend,
            context: context.into(),
            message: message.to_string(),
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
            Error::Database { .. } => ErrorKind::Database,
        }
    }
}
