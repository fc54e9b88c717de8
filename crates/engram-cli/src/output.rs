//! Output formatting: aligned tables for people, JSON, JSON Lines and bare ids for scripts.

use std::io::Write;

use engram::{Embedding, Memory, Neighbour, Timestamp};
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

/// The columns of [`memory_table`].
const MEMORY_COLUMNS: [&str; 9] = [
    "id",
    "user",
    "namespace",
    "thread",
    "tier",
    "score",
    "updated",
    "content",
    "metadata",
];

/// Memories as a table: the fields people scan for, content and metadata cut to fit.
pub fn memory_table(memories: &[Memory]) -> Table {
    let mut table = Table::new(&MEMORY_COLUMNS);
    for memory in memories {
        table.row(memory_cells(memory));
    }
    table
}

/// Nearest neighbours as a table: the distance, then the columns of [`memory_table`].
pub fn neighbour_table(neighbours: &[Neighbour]) -> Table {
    let mut headers = vec!["distance"];
    headers.extend(MEMORY_COLUMNS);
    let mut table = Table::new(&headers);
    for neighbour in neighbours {
        let mut cells = vec![distance_cell(neighbour.distance)];
        cells.extend(memory_cells(&neighbour.memory));
        table.row(cells);
    }
    table
}

/// A distance for people: six decimals; `NaN` for the cosine distance of a zero vector.
pub fn distance_cell(distance: f64) -> String {
    format!("{distance:.6}")
}

fn memory_cells(memory: &Memory) -> Vec<String> {
    vec![
        memory.id.to_string(),
        memory.user_id.clone(),
        memory.namespace.clone(),
        memory.thread_id.clone().unwrap_or_else(|| "-".into()),
        memory.tier.clone(),
        memory.score.to_string(),
        short_time(memory.updated_at),
        memory.content.clone(),
        memory.metadata.to_string(),
    ]
}

/// A neighbour in JSON: the memory's fields, then `distance` (`null` when it is not a
/// finite number, as for the cosine distance of a zero vector).
#[derive(Serialize)]
pub struct RankedMemory<'a> {
    #[serde(flatten)]
    memory: &'a Memory,
    distance: Option<f64>,
}

impl<'a> From<&'a Neighbour> for RankedMemory<'a> {
    fn from(neighbour: &'a Neighbour) -> Self {
        RankedMemory {
            memory: &neighbour.memory,
            distance: Some(neighbour.distance).filter(|d| d.is_finite()),
        }
    }
}

/// How many components of an embedding `get` shows in a table.
const SHOWN_COMPONENTS: usize = 8;

/// An embedding for people: its dimensions and first components.
pub fn embedding_summary(embedding: &Embedding) -> String {
    let values = embedding.as_slice();
    let mut shown: Vec<String> = values
        .iter()
        .take(SHOWN_COMPONENTS)
        .map(f32::to_string)
        .collect();
    if values.len() > SHOWN_COMPONENTS {
        shown.push("…".to_string());
    }
    format!(
        "{} [{}]",
        plural(embedding.dimensions() as u64, "dimension", "dimensions"),
        shown.join(", ")
    )
}

/// One memory, one field per line (`get`); the content comes last, as stored. With
/// `embedding_line`, an `embedding` line before the content ("-" when there is none).
pub fn memory_fields(
    out: &mut dyn Write,
    memory: &Memory,
    embedding_line: bool,
) -> Result<(), CliError> {
    let related = if memory.related_threads.is_empty() {
        "-".to_string()
    } else {
        memory.related_threads.join(", ")
    };
    let mut fields = vec![
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
    ];
    if embedding_line {
        let shown = memory
            .embedding
            .as_ref()
            .map_or_else(|| "-".to_string(), embedding_summary);
        fields.push(("embedding", shown));
    }
    fields.push(("content", memory.content.clone()));
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
    fn embeddings_show_their_dimensions_and_first_components() {
        let short = Embedding::new(vec![0.1, 0.9, 0.0]).unwrap();
        assert_eq!(embedding_summary(&short), "3 dimensions [0.1, 0.9, 0]");
        let long = Embedding::new((0..10).map(|i| i as f32).collect()).unwrap();
        assert_eq!(
            embedding_summary(&long),
            "10 dimensions [0, 1, 2, 3, 4, 5, 6, 7, …]"
        );
        assert_eq!(distance_cell(f64::NAN), "NaN");
        assert_eq!(distance_cell(0.25), "0.250000");
    }

    #[test]
    fn ranked_memories_are_the_memory_with_a_distance() {
        let memory = engram_core::validate::new_memory(
            engram::NewMemory::new("u", "c"),
            Timestamp::from_micros(0),
        )
        .unwrap();
        let mut neighbour = Neighbour {
            memory,
            distance: 0.5,
        };
        let json = serde_json::to_value(RankedMemory::from(&neighbour)).unwrap();
        assert_eq!(json["distance"], 0.5);
        assert_eq!(json["user_id"], "u");
        assert!(json.get("embedding").is_none());
        neighbour.distance = f64::NAN;
        let text = serde_json::to_string(&RankedMemory::from(&neighbour)).unwrap();
        assert!(text.ends_with(r#","distance":null}"#), "{text}");
    }

    #[test]
    fn short_times_drop_the_fraction() {
        let t = Timestamp::parse_rfc3339("2026-01-02T03:04:05.123456Z").unwrap();
        assert_eq!(short_time(t), "2026-01-02 03:04:05");
    }
}
