//! The errors of the `engram` binary, and how each one is reported: one scrubbed line on
//! stderr and exit status 1 (usage errors are clap's and exit with 2).

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engram_migrate::MigrateError;

/// Anything that makes a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An error from the store (bad input, not found, connection, schema).
    #[error(transparent)]
    Engram(engram::Error),
    /// An error from the migration runner used directly (`migrate new`).
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// A value given on the command line or in an input file is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done (`read`, `create`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// `engram health` found something that needs attention (each finding, in order).
    #[error("the database needs attention: {}", .0.join("; "))]
    NeedsAttention(Vec<String>),
    /// Standard input could not be read.
    #[error("cannot read standard input: {0}")]
    Stdin(io::Error),
    /// Standard output could not be written (a closed pipe ends the command quietly).
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
}

impl From<engram::Error> for CliError {
    /// Keeps the store's error, except that a migration error is unwrapped to the
    /// migration runner's own error (it already says what refused or failed, and which
    /// version).
    fn from(err: engram::Error) -> Self {
        match err {
            engram::Error::Migration { source } => match source.downcast::<MigrateError>() {
                Ok(migrate) => CliError::Migrate(*migrate),
                Err(source) => CliError::Engram(engram::Error::Migration { source }),
            },
            other => CliError::Engram(other),
        }
    }
}

impl CliError {
    /// An [`CliError::Invalid`] with this message.
    pub fn invalid(message: impl Into<String>) -> Self {
        CliError::Invalid(message.into())
    }

    /// A [`CliError::File`] for `path`.
    pub fn file(action: &'static str, path: &Path, source: io::Error) -> Self {
        CliError::File {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// Prints the error as one line on stderr (passwords removed) and gives the exit
    /// status: 1, or 0 when the reader of standard output went away (`engram export | head`).
    pub fn report(&self) -> ExitCode {
        if let CliError::Output(err) = self {
            if err.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
        }
        eprintln!(
            "error: {}",
            one_line(&crate::redact::scrub(&self.to_string()))
        );
        ExitCode::from(1)
    }
}

/// Collapses line breaks (drivers sometimes return several lines) into one line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns a write error on standard output into [`CliError::Output`].
pub trait OutputResult<T> {
    /// Tags the error as an output error.
    fn output(self) -> Result<T, CliError>;
}

impl<T> OutputResult<T> for io::Result<T> {
    fn output(self) -> Result<T, CliError> {
        self.map_err(CliError::Output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n  b\r\nc\n"), "a b c");
    }
}
