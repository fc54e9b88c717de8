//! `engram import FILE|-`: JSON Lines in, one transaction per batch, ids already stored
//! skipped, a bad line (an embedding of other dimensions too) reported by number with
//! nothing of its batch written; lines are read and checked on a second thread while the
//! previous batch is written.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read as _, Write};
use std::sync::mpsc::{self, SyncSender};

use engram::{Embedding, NewMemory, Store, Timestamp};
use engram_core::document;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::args::ImportArgs;
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::{output, progress};

/// The fields of a memory line: those `engram export` writes.
const FIELDS: [&str; 15] = [
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
    "expires_at",
    "ttl_secs",
    "embedding",
];

/// The longest line import reads, in bytes: room for a memory with a long content, large
/// metadata and a 16,000-dimension embedding many times over. A longer line (or a file with
/// no line breaks, such as `/dev/zero`) fails the import, naming the line.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// The UTF-8 byte order mark some editors put at the start of a file; import skips it.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Batches the reading thread may have ready while the main thread writes one: memory holds
/// at most this many plus the one being written and the one being read, whatever the file's
/// size.
const BATCHES_AHEAD: usize = 1;

/// `engram import …`
///
/// Two threads: one reads, parses and checks lines into batches, the main thread writes the
/// previous batch meanwhile (each in one transaction). A bad line reaches the main thread
/// after every batch before it, so those are committed and nothing of its own batch is.
pub fn run(args: ImportArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let (input, size, source) = if args.file == "-" {
        (Input::Stdin, None, "standard input".to_string())
    } else {
        let path = std::path::Path::new(&args.file);
        let file = File::open(path).map_err(|err| CliError::file("open", path, err))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Input::File(file), size, path.display().to_string())
    };
    let store = database::open_for_data(target)?;
    let batch_size = usize::try_from(args.batch_size).unwrap_or(usize::MAX);
    let reader = LineReader {
        batch_size,
        number: 0,
        dimensions: store.vector_dimensions()?.map(|n| (n, None)),
    };
    let (sender, batches) = mpsc::sync_channel(BATCHES_AHEAD);
    // The thread is not joined on an error: it ends when its next send finds the channel
    // closed (or with the process, if it is waiting for input).
    let thread = std::thread::Builder::new()
        .name("engram-import-reader".into())
        .spawn(move || reader.read_all(input, &sender))
        .map_err(|err| CliError::invalid(format!("cannot start the reading thread: {err}")))?;
    let bar = progress::ImportBar::new(size);
    let mut import = Import {
        store: &store,
        source: &source,
        inserted: 0,
        committed: 0,
        next_line: 1,
    };
    for read in batches {
        match read {
            Read::Batch(batch) => {
                let bytes = batch.bytes;
                import.commit(batch)?;
                bar.committed(import.committed, bytes);
            }
            Read::Failed { line, reason } => return Err(import.failed(line, &reason)),
        }
    }
    // The channel closes when the thread returns; a panic there is a bug, reported as one.
    if thread.join().is_err() {
        return Err(CliError::invalid(format!(
            "{source}: the reading thread stopped unexpectedly; {}",
            import.written_before()
        )));
    }
    drop(bar);
    writeln!(
        out,
        "{source}: {} read, {} inserted, {} skipped (already stored)",
        output::plural(import.committed, "memory", "memories"),
        import.inserted,
        import.committed - import.inserted
    )
    .output()
}

/// Where the lines come from. Standard input is locked by the reading thread itself.
enum Input {
    Stdin,
    File(File),
}

/// What the reading thread sends, in the file's order.
enum Read {
    /// Lines parsed and checked, to be written in one transaction.
    Batch(Batch),
    /// A line that cannot be imported; nothing more follows.
    Failed { line: usize, reason: String },
}

/// Memories read from consecutive lines.
struct Batch {
    memories: Vec<NewMemory>,
    first_line: usize,
    last_line: usize,
    /// Bytes of the input its lines took.
    bytes: u64,
}

/// The reading side of an import: lines to checked memories, a batch at a time.
struct LineReader {
    batch_size: usize,
    /// The number of the last line read.
    number: usize,
    /// The dimensions every embedding must have, and the line that fixed them (`None`:
    /// the store's, from before the import).
    dimensions: Option<(usize, Option<usize>)>,
}

impl LineReader {
    /// Reads `input` to its end, sending each full batch, then the last one; stops at the
    /// first bad line (sending why) or when the main thread has stopped listening.
    fn read_all(mut self, input: Input, sender: &SyncSender<Read>) {
        let mut reader: Box<dyn BufRead> = match input {
            Input::Stdin => Box::new(io::stdin().lock()),
            Input::File(file) => Box::new(BufReader::new(file)),
        };
        loop {
            let (message, done) = match self.next_batch(&mut reader) {
                Ok(batch) => {
                    let done = batch.memories.len() < self.batch_size;
                    if batch.memories.is_empty() {
                        return;
                    }
                    (Read::Batch(batch), done)
                }
                Err((line, reason)) => (Read::Failed { line, reason }, true),
            };
            if sender.send(message).is_err() || done {
                return;
            }
        }
    }

    /// The next batch: up to `batch_size` memories (fewer at the end of the input), or the
    /// first bad line's number and what is wrong with it.
    fn next_batch(&mut self, reader: &mut dyn BufRead) -> Result<Batch, (usize, String)> {
        let mut batch = Batch {
            memories: Vec::with_capacity(self.batch_size.min(10_000)),
            first_line: self.number + 1,
            last_line: self.number,
            bytes: 0,
        };
        let mut line = Vec::new();
        while batch.memories.len() < self.batch_size {
            line.clear();
            // One byte past the limit tells a line that is too long from one exactly at it.
            let bytes = (&mut *reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|err| (self.number + 1, format!("cannot read it: {err}")))?;
            if bytes == 0 {
                break;
            }
            self.number += 1;
            let number = self.number;
            batch.last_line = number;
            batch.bytes += bytes as u64;
            let content_bytes = line.len() - usize::from(line.last() == Some(&b'\n'));
            if content_bytes > MAX_LINE_BYTES {
                return Err((
                    number,
                    format!(
                        "the line is longer than {} MiB, the most import reads",
                        MAX_LINE_BYTES / (1024 * 1024)
                    ),
                ));
            }
            if number == 1 && line.starts_with(BYTE_ORDER_MARK) {
                line.drain(..BYTE_ORDER_MARK.len());
            }
            let text = std::str::from_utf8(&line)
                .map_err(|_| (number, "not valid UTF-8".to_string()))?
                .trim();
            if text.is_empty() {
                continue;
            }
            let memory = parse_line(text)
                .and_then(|memory| self.check_dimensions(&memory, number).map(|()| memory))
                .map_err(|reason| (number, reason))?;
            batch.memories.push(memory);
        }
        Ok(batch)
    }

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
}

/// The writing side of a running import.
struct Import<'a> {
    store: &'a Store,
    source: &'a str,
    inserted: u64,
    /// Memories read in batches already committed.
    committed: u64,
    /// The first line after the batches committed.
    next_line: usize,
}

impl Import<'_> {
    /// Writes the batch in one transaction (ids already stored are skipped).
    fn commit(&mut self, batch: Batch) -> Result<(), CliError> {
        let Batch {
            memories,
            first_line,
            last_line,
            ..
        } = batch;
        let count = memories.len() as u64;
        let inserted = self.store.import(memories).map_err(|err| {
            CliError::invalid(format!(
                "{}: importing lines {first_line} to {last_line} failed: {err}; {}",
                self.source,
                self.written_before()
            ))
        })?;
        self.inserted += inserted;
        self.committed += count;
        self.next_line = last_line + 1;
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
                self.next_line,
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
            "expires_at" => memory.expires_at = Some(timestamp(value, field)?),
            "ttl_secs" => {
                memory.ttl_secs = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| wrong_type(field, "a whole number of seconds", &value))?,
                );
            }
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
