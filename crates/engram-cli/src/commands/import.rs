//! `engram import FILE|-`: JSON Lines in, one transaction per batch, ids already stored
//! skipped, a bad line (an embedding of other dimensions too) reported by number with
//! nothing of its batch written.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};

use engram::{Embedding, NewMemory, Store, Timestamp};
use engram_core::document;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::args::ImportArgs;
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::{output, progress};

/// The fields of a memory line: those `engram export` writes.
const FIELDS: [&str; 13] = [
    "id",
    "user_id",
    "namespace",
    "thread_id",
    "tier",
    "content",
    "score",
    "metadata",
    "related_threads",
    "summarized",
    "created_at",
    "updated_at",
    "embedding",
];

/// The longest line import reads, in bytes: room for a memory with a long content, large
/// metadata and a 16,000-dimension embedding many times over. A longer line (or a file with
/// no line breaks, such as `/dev/zero`) fails the import, naming the line.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// The UTF-8 byte order mark some editors put at the start of a file; import skips it.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// `engram import …`
pub fn run(args: ImportArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let (mut reader, size, source): (Box<dyn BufRead>, Option<u64>, String) = if args.file == "-" {
        (Box::new(io::stdin().lock()), None, "standard input".into())
    } else {
        let path = std::path::Path::new(&args.file);
        let file = File::open(path).map_err(|err| CliError::file("open", path, err))?;
        let size = file.metadata().ok().map(|m| m.len());
        (
            Box::new(BufReader::new(file)),
            size,
            path.display().to_string(),
        )
    };
    let store = database::open_for_data(target)?;
    let bar = match size {
        Some(size) => progress::bytes_bar(size),
        None => progress::bar(None, "lines"),
    };
    let batch_size = usize::try_from(args.batch_size).unwrap_or(usize::MAX);
    let mut import = Import {
        store: &store,
        source: &source,
        batch: Vec::with_capacity(batch_size.min(10_000)),
        batch_first_line: 1,
        read: 0,
        inserted: 0,
        committed: 0,
        dimensions: store.vector_dimensions()?.map(|n| (n, None)),
    };
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        // One byte past the limit tells a line that is too long from one exactly at it.
        let bytes = reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|err| import.failed(number + 1, &format!("cannot read it: {err}")))?;
        if bytes == 0 {
            break;
        }
        number += 1;
        let content_bytes = line.len() - usize::from(line.last() == Some(&b'\n'));
        if content_bytes > MAX_LINE_BYTES {
            return Err(import.failed(
                number,
                &format!(
                    "the line is longer than {} MiB, the most import reads",
                    MAX_LINE_BYTES / (1024 * 1024)
                ),
            ));
        }
        if number == 1 && line.starts_with(BYTE_ORDER_MARK) {
            line.drain(..BYTE_ORDER_MARK.len());
        }
        if size.is_some() {
            bar.inc(bytes as u64);
        } else {
            bar.inc(1);
        }
        if import.batch.is_empty() {
            import.batch_first_line = number;
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| import.failed(number, "not valid UTF-8"))?
            .trim();
        if text.is_empty() {
            continue;
        }
        let memory = parse_line(text)
            .and_then(|memory| import.check_dimensions(&memory, number).map(|()| memory))
            .map_err(|reason| import.failed(number, &reason))?;
        import.batch.push(memory);
        import.read += 1;
        if import.batch.len() >= batch_size {
            import.commit(number)?;
        }
    }
    import.commit(number)?;
    bar.finish_and_clear();
    writeln!(
        out,
        "{source}: {} read, {} inserted, {} skipped (already stored)",
        output::plural(import.read, "memory", "memories"),
        import.inserted,
        import.read - import.inserted
    )
    .output()
}

/// The state of a running import.
struct Import<'a> {
    store: &'a Store,
    source: &'a str,
    batch: Vec<NewMemory>,
    batch_first_line: usize,
    read: u64,
    inserted: u64,
    /// Memories read in batches already committed.
    committed: u64,
    /// The dimensions every embedding must have, and the line that fixed them (`None`:
    /// the store's, from before the import).
    dimensions: Option<(usize, Option<usize>)>,
}

impl Import<'_> {
    /// Checks that the embedding of `memory` (on line `line`) has the dimensions of the
    /// store's embeddings and of those read before it; the first fixes them.
    fn check_dimensions(&mut self, memory: &NewMemory, line: usize) -> Result<(), String> {
        let Some(embedding) = &memory.embedding else {
            return Ok(());
        };
        let given = embedding.dimensions();
        match self.dimensions {
            None => {
                self.dimensions = Some((given, Some(line)));
                Ok(())
            }
            Some((wanted, _)) if wanted == given => Ok(()),
            Some((wanted, None)) => Err(Embedding::dimension_mismatch(given, wanted).to_string()),
            Some((wanted, Some(first))) => Err(format!(
                "invalid embedding: has {given} dimensions, but the embedding on line {first} \
                 has {wanted}; every embedding in a store has the same dimensions"
            )),
        }
    }

    /// Writes the batch in one transaction (ids already stored are skipped).
    fn commit(&mut self, last_line: usize) -> Result<(), CliError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let count = batch.len() as u64;
        let inserted = self.store.import(batch).map_err(|err| {
            CliError::invalid(format!(
                "{}: importing lines {} to {last_line} failed: {err}; {}",
                self.source,
                self.batch_first_line,
                self.written_before()
            ))
        })?;
        self.inserted += inserted;
        self.committed += count;
        tracing::debug!(lines = last_line, inserted, "imported a batch");
        Ok(())
    }

    /// The error for a bad line: which line, what was wrong, and what was written before.
    fn failed(&self, line: usize, reason: &str) -> CliError {
        CliError::invalid(format!(
            "{} line {line}: {reason}; {}",
            self.source,
            self.written_before()
        ))
    }

    fn written_before(&self) -> String {
        if self.committed == 0 {
            "nothing was imported".to_string()
        } else {
            format!(
                "the {} before line {} were imported ({} new), nothing after",
                output::plural(self.committed, "memory", "memories"),
                self.batch_first_line,
                self.inserted
            )
        }
    }
}

/// One line as a memory: a JSON object with the fields `engram export` writes (`user_id`
/// and `content` required), checked like any memory before it is stored.
///
/// The embedding is read from the line's own numbers. The other fields go through
/// `document::normalize` (numbers as PostgreSQL's `numeric` prints them), which turns `-0.0`
/// into `0`: an exported embedding would not come back bit for bit that way.
fn parse_line(text: &str) -> Result<NewMemory, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| {
        engram::Error::invalid("memory", format!("not valid JSON: {err}")).to_string()
    })?;
    let Value::Object(mut fields) = value else {
        return Err(format!(
            "expected a JSON object, got {}",
            document::type_name(&value)
        ));
    };
    let embedding = fields.remove("embedding");
    let Value::Object(fields) =
        document::normalize(Value::Object(fields), "memory").map_err(|err| err.to_string())?
    else {
        return Err("expected a JSON object".to_string());
    };
    let mut memory = memory_from_fields(fields)?;
    if let Some(value) = embedding.filter(|value| !value.is_null()) {
        memory.embedding = Some(Embedding::from_json(&value).map_err(|err| err.to_string())?);
    }
    engram_core::validate::new_memory(memory.clone(), Timestamp::now())
        .map_err(|err| err.to_string())?;
    Ok(memory)
}

fn memory_from_fields(fields: Map<String, Value>) -> Result<NewMemory, String> {
    for required in ["user_id", "content"] {
        if !fields.contains_key(required) {
            return Err(format!("missing field '{required}'"));
        }
    }
    let mut memory = NewMemory::default();
    for (key, value) in fields {
        let field = key.as_str();
        if !FIELDS.contains(&field) {
            return Err(format!(
                "unknown field '{field}' (expected {})",
                FIELDS.join(", ")
            ));
        }
        if value.is_null() && !matches!(field, "user_id" | "content") {
            continue;
        }
        match field {
            "id" => {
                let text = string(value, field)?;
                memory.id = Some(
                    Uuid::parse_str(&text)
                        .map_err(|err| format!("invalid id: '{text}' is not a UUID ({err})"))?,
                );
            }
            "user_id" => memory.user_id = string(value, field)?,
            "namespace" => memory.namespace = Some(string(value, field)?),
            "thread_id" => memory.thread_id = Some(string(value, field)?),
            "tier" => memory.tier = Some(string(value, field)?),
            "content" => memory.content = string(value, field)?,
            "score" => {
                let score = value
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| format!("invalid score: expected an integer, got {value}"))?;
                memory.score = Some(score);
            }
            "metadata" => memory.metadata = Some(value),
            "related_threads" => {
                let Value::Array(items) = value else {
                    return Err(wrong_type(field, "an array of strings", &value));
                };
                memory.related_threads = items
                    .into_iter()
                    .map(|item| string(item, field))
                    .collect::<Result<_, _>>()?;
            }
            "summarized" => {
                memory.summarized = value
                    .as_bool()
                    .ok_or_else(|| wrong_type(field, "true or false", &value))?;
            }
            "created_at" => memory.created_at = Some(timestamp(value, field)?),
            "updated_at" => memory.updated_at = Some(timestamp(value, field)?),
            // The embedding is taken out before (see `parse_line`).
            _ => {}
        }
    }
    Ok(memory)
}

fn string(value: Value, field: &str) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(wrong_type(field, "a string", &other)),
    }
}

fn timestamp(value: Value, field: &str) -> Result<Timestamp, String> {
    let parsed = match &value {
        Value::String(text) => Timestamp::parse_rfc3339(text).map_err(|err| err.to_string()),
        // A bare number is refused rather than guessed at: 1700000000 could be seconds,
        // milliseconds or microseconds, and a wrong guess lands the memory in another year.
        other => Err(wrong_type(
            field,
            "an RFC 3339 string such as \"2026-01-02T03:04:05Z\"",
            other,
        )),
    };
    parsed
        .and_then(|t| t.validate(field).map_err(|err| err.to_string()))
        .map_err(|reason| {
            if reason.starts_with("invalid") {
                reason.replacen("timestamp", field, 1)
            } else {
                format!("invalid {field}: {reason}")
            }
        })
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> String {
    format!(
        "invalid {field}: expected {expected}, got {}",
        document::type_name(got)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_what_is_wrong() {
        let ok =
            parse_line(r#"{"user_id":"u","content":"c","score":7,"metadata":{"n":1e2}}"#).unwrap();
        assert_eq!(ok.score, Some(7));
        assert_eq!(ok.metadata.unwrap().to_string(), r#"{"n":100}"#);
        let with_embedding =
            parse_line(r#"{"user_id":"u","content":"c","embedding":[0.5,1e-3,-0.0]}"#).unwrap();
        let components = with_embedding.embedding.unwrap().into_vec();
        assert_eq!(components, [0.5f32, 0.001, -0.0]);
        assert!(
            components[2].is_sign_negative(),
            "minus zero stays minus zero"
        );
        let null = parse_line(r#"{"user_id":"u","content":"c","embedding":null}"#).unwrap();
        assert_eq!(null.embedding, None);
        for (line, expected) in [
            ("[1]", "expected a JSON object, got array"),
            (r#"{"user_id":"u"}"#, "missing field 'content'"),
            (
                r#"{"user_id":"u","content":"c","x":1}"#,
                "unknown field 'x'",
            ),
            (
                r#"{"user_id":"u","content":"c","tier":"Bad"}"#,
                "invalid tier",
            ),
            (
                r#"{"user_id":"u","content":"c","score":"9"}"#,
                "invalid score",
            ),
            (
                r#"{"user_id":"u","content":"c","metadata":[]}"#,
                "invalid metadata",
            ),
            (
                r#"{"user_id":"u","content":"c","created_at":"x"}"#,
                "invalid created_at",
            ),
            (r#"{"user_id":"u","content":"\u0000"}"#, "invalid memory"),
            ("{", "not valid JSON"),
            (
                r#"{"user_id":"u","content":"c","created_at":1700000000}"#,
                "invalid created_at: expected an RFC 3339 string",
            ),
            (
                r#"{"user_id":"u","content":"c","embedding":[1,"2"]}"#,
                "invalid embedding: component 1 is not a number",
            ),
            (
                r#"{"user_id":"u","content":"c","embedding":[]}"#,
                "invalid embedding: must have at least 1 dimension",
            ),
            (
                r#"{"user_id":"u","content":"c","embedding":"[1]"}"#,
                "invalid embedding: must be a JSON array of numbers",
            ),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }
}
