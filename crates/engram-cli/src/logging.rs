//! Logging to stderr: a tracing subscriber filtered by `RUST_LOG`, with passwords scrubbed.
//!
//! Without `RUST_LOG`, engram's own crates log at `info` and everything else at `warn`.
//! Every log line passes through [`crate::redact::scrub`] before it is written.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset or empty.
pub const DEFAULT_FILTER: &str = "warn,engram=info,engram_cli=info,engram_core=info,\
     engram_migrate=info,engram_sqlite=info,engram_postgres=info";

/// Installs the subscriber. A `RUST_LOG` that does not parse falls back to the default
/// filter, with a warning.
pub fn init() {
    let requested = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty());
    let (filter, rejected) = match requested {
        Some(value) => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(err) => (EnvFilter::new(DEFAULT_FILTER), Some(err.to_string())),
        },
        None => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ScrubbedStderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
    if let (Ok(()), Some(reason)) = (installed, rejected) {
        tracing::warn!("ignoring RUST_LOG ({reason}); using the default filter");
    }
}

/// Makes [`ScrubbedLine`] writers for the subscriber.
struct ScrubbedStderr;

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine(Vec::new())
    }
}

/// Collects one formatted event and writes it, scrubbed, to stderr when dropped.
struct ScrubbedLine(Vec<u8>);

impl Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = crate::redact::scrub(&String::from_utf8_lossy(&self.0));
        // A log line that cannot be written is dropped: there is nowhere else to report it.
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}
