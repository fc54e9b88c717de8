//! Progress bars for long work (import, export): drawn on stderr when it is a terminal,
//! and nothing at all when stderr is piped or redirected.

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar to `len` (in `unit`s), or a spinner when the length is unknown; hidden
/// unless stderr is a terminal.
pub fn bar(len: Option<u64>, unit: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(len) => (
            ProgressBar::new(len),
            format!(
                "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{eta}})"
            ),
        ),
        None => (
            ProgressBar::new_spinner(),
            format!("{{spinner}} [{{elapsed_precise}}] {{pos}} {unit} {{msg}}"),
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The progress of an import: memories written, their rate and, reading a file, the time
/// left (from the share of its bytes written); hidden unless stderr is a terminal.
pub struct ImportBar {
    bar: ProgressBar,
    /// Whether the bar's position counts bytes (a file of known size) rather than memories.
    counts_bytes: bool,
    started: Instant,
}

impl ImportBar {
    /// A bar over an input of `len` bytes, or a counter when the size is unknown (a pipe).
    pub fn new(len: Option<u64>) -> Self {
        let hidden = ImportBar {
            bar: ProgressBar::hidden(),
            counts_bytes: len.is_some(),
            started: Instant::now(),
        };
        if !io::stderr().is_terminal() {
            return hidden;
        }
        let (bar, template) = match len {
            Some(len) => (
                ProgressBar::new(len),
                "{spinner} [{elapsed_precise}] {wide_bar} {msg}, {percent}% ({eta} left)",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{spinner} [{elapsed_precise}] {msg}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(200));
        ImportBar { bar, ..hidden }
    }

    /// A batch of `bytes` of input was written; `memories` have been written in all.
    pub fn committed(&self, memories: u64, bytes: u64) {
        if self.bar.is_hidden() {
            return;
        }
        if self.counts_bytes {
            self.bar.inc(bytes);
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            memories as f64 / seconds
        } else {
            0.0
        };
        self.bar
            .set_message(format!("{memories} memories ({rate:.0}/s)"));
    }
}

impl Drop for ImportBar {
    /// The bar goes away when the import ends, done or failed (before its message prints).
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
