//! Output formatting: aligned tables for people, JSON, JSON Lines and bare ids for scripts.

use std::io::Write;

use engram::{Memory, Timestamp};
use serde::Serialize;

use crate::error::{CliError, OutputResult};

/// The widest a table cell gets before it is cut with `…`.
const MAX_CELL_CHARS: usize = 60;

/// A table with a header row, printed with columns aligned.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; each cell is shown on one line, cut to a readable width.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| cell(c)).collect());
    }

    /// Writes the header and the rows, columns separated by two spaces.
    pub fn write(&self, out: &mut dyn Write) -> Result<(), CliError> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, value) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(value.chars().count());
                }
            }
        }
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        write_row(out, &header, &widths)?;
        for row in &self.rows {
            write_row(out, row, &widths)?;
        }
        Ok(())
    }
}

fn write_row(out: &mut dyn Write, cells: &[String], widths: &[usize]) -> Result<(), CliError> {
    let mut line = String::new();
    for (i, value) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(value);
        if i + 1 < cells.len() {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = width.saturating_sub(value.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    writeln!(out, "{}", line.trim_end()).output()
}

/// A value as one table cell: control characters escaped, long text cut with `…`.
fn cell(value: &str) -> String {
    let mut escaped = String::new();
    for ch in value.chars() {
        match ch {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&c.escape_unicode().to_string()),
            c => escaped.push(c),
        }
    }
    if escaped.chars().count() > MAX_CELL_CHARS {
        let mut cut: String = escaped.chars().take(MAX_CELL_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        escaped
    }
}

/// `n` with the singular or plural noun: `1 memory`, `3 memories`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A timestamp for people: `2026-01-02 03:04:05` (UTC, to the second).
pub fn short_time(time: Timestamp) -> String {
    let text = time.to_string();
    text.get(..19).unwrap_or(&text).replacen('T', " ", 1)
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::invalid(format!("cannot write JSON: {e}")))?;
    writeln!(out, "{text}").output()
}

/// Writes `value` as one line of compact JSON.
pub fn json_line<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string(value)
        .map_err(|e| CliError::invalid(format!("cannot write JSON: {e}")))?;
    writeln!(out, "{text}").output()
}

/// Memories as a table: the fields people scan for, content and metadata cut to fit.
pub fn memory_table(memories: &[Memory]) -> Table {
    let mut table = Table::new(&[
        "id",
        "user",
        "namespace",
        "thread",
        "tier",
        "score",
        "updated",
        "content",
        "metadata",
    ]);
    for memory in memories {
        table.row(vec![
            memory.id.to_string(),
            memory.user_id.clone(),
            memory.namespace.clone(),
            memory.thread_id.clone().unwrap_or_else(|| "-".into()),
            memory.tier.clone(),
            memory.score.to_string(),
            short_time(memory.updated_at),
            memory.content.clone(),
            memory.metadata.to_string(),
        ]);
    }
    table
}

/// One memory, one field per line (`get`); the content comes last, as stored.
pub fn memory_fields(out: &mut dyn Write, memory: &Memory) -> Result<(), CliError> {
    let related = if memory.related_threads.is_empty() {
        "-".to_string()
    } else {
        memory.related_threads.join(", ")
    };
    let fields = [
        ("id", memory.id.to_string()),
        ("user_id", memory.user_id.clone()),
        ("namespace", memory.namespace.clone()),
        (
            "thread_id",
            memory.thread_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("tier", memory.tier.clone()),
        ("score", memory.score.to_string()),
        ("summarized", memory.summarized.to_string()),
        ("related_threads", related),
        ("created_at", memory.created_at.to_string()),
        ("updated_at", memory.updated_at.to_string()),
        ("metadata", memory.metadata.to_string()),
        ("content", memory.content.clone()),
    ];
    for (name, value) in fields {
        writeln!(out, "{:<16} {value}", format!("{name}:")).output()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_cut() {
        let mut table = Table::new(&["a", "bb"]);
        table.row(vec!["xyz".into(), "line\nbreak".into()]);
        table.row(vec!["é".into(), "y".repeat(100)]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a    bb");
        assert_eq!(lines[1], "xyz  line\\nbreak");
        assert!(lines[2].starts_with("é    yyy"));
        assert!(lines[2].ends_with('…'));
        assert_eq!(lines[2].chars().count(), 5 + MAX_CELL_CHARS);
    }

    #[test]
    fn short_times_drop_the_fraction() {
        let t = Timestamp::parse_rfc3339("2026-01-02T03:04:05.123456Z").unwrap();
        assert_eq!(short_time(t), "2026-01-02 03:04:05");
    }
}
