//! PostgreSQL's binary `COPY` format, encoded by hand for memories and their embeddings:
//! the bulk path of `insert_many` and `import`.
//!
//! The encoding of each column is the one the driver's `ToSql` uses for the same Rust
//! value (the server's `*_recv` functions read it), so a row written by `COPY` is the row
//! an `INSERT` binding the same values would write. Writing the bytes directly, in large
//! pieces, instead of through the driver's generic `BinaryCopyInWriter` (one type check and
//! one small buffer per value, a send every 4 KiB) is what makes `COPY` pay off here.

use std::io::Write;

use postgres::{GenericClient, Statement};
use uuid::Uuid;

use engram_core::{BackendKind, Embedding, Error, Memory};

/// The signature, flags and header extension length that open a binary `COPY` stream.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The field count of -1 that closes it.
const TRAILER: &[u8] = &(-1i16).to_be_bytes();
/// Encoded rows are handed to the driver in pieces of about this many bytes.
const SEND_BYTES: usize = 1 << 20;
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Why a `COPY` failed: the server (or the driver), or writing to the connection.
pub enum CopyError {
    Driver(postgres::Error),
    Io(Error),
}

/// Writes `memories` with `copy` (a prepared [`crate::sql::copy_memories`]); returns how
/// many rows the server stored.
pub fn memories<'m>(
    client: &mut impl GenericClient,
    copy: &Statement,
    memories: impl IntoIterator<Item = &'m Memory>,
) -> Result<u64, CopyError> {
    write(client, copy, memories, encode_memory)
}

/// Writes the embeddings of those of `memories` that have one with `copy` (a prepared
/// [`crate::sql::COPY_EMBEDDINGS`]); returns how many rows the server stored.
pub fn embeddings<'m>(
    client: &mut impl GenericClient,
    copy: &Statement,
    memories: impl IntoIterator<Item = &'m Memory>,
) -> Result<u64, CopyError> {
    let embedded = memories
        .into_iter()
        .filter_map(|m| Some((m.id, m.embedding.as_ref()?)));
    write(client, copy, embedded, |out, (id, embedding)| {
        encode_embedding(out, id, embedding)
    })
}

/// Runs `copy` and streams the rows `encode` writes of each of `items`.
fn write<T>(
    client: &mut impl GenericClient,
    copy: &Statement,
    items: impl IntoIterator<Item = T>,
    mut encode: impl FnMut(&mut Vec<u8>, T),
) -> Result<u64, CopyError> {
    let mut writer = client.copy_in(copy).map_err(CopyError::Driver)?;
    let mut out = Vec::with_capacity(SEND_BYTES + SEND_BYTES / 4);
    out.extend_from_slice(HEADER);
    for item in items {
        encode(&mut out, item);
        if out.len() >= SEND_BYTES {
            writer.write_all(&out).map_err(write_error)?;
            out.clear();
        }
    }
    out.extend_from_slice(TRAILER);
    writer.write_all(&out).map_err(write_error)?;
    writer.finish().map_err(CopyError::Driver)
}

/// The driver's error behind a failed write (the server's, when it ended the copy), else
/// the I/O error itself.
fn write_error(err: std::io::Error) -> CopyError {
    match err
        .into_inner()
        .map(|inner| inner.downcast::<postgres::Error>())
    {
        Some(Ok(driver)) => CopyError::Driver(*driver),
        Some(Err(other)) => CopyError::Io(io_error(other)),
        None => CopyError::Io(io_error("the connection refused the rows")),
    }
}

fn io_error(source: impl Into<engram_core::Source>) -> Error {
    Error::database(BackendKind::Postgres, "writing memories with COPY", source)
}

/// One row of `memories`, its columns in [`engram_core::row::memory_columns`]' order.
fn encode_memory(out: &mut Vec<u8>, m: &Memory) {
    out.extend_from_slice(&13i16.to_be_bytes());
    uuid(out, m.id);
    text(out, &m.user_id);
    text(out, &m.namespace);
    match &m.thread_id {
        Some(thread) => text(out, thread),
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    text(out, &m.tier);
    text(out, &m.content);
    field(out, &m.score.to_be_bytes());
    jsonb(out, &m.metadata);
    jsonb(out, &m.related_threads);
    field(out, &[u8::from(m.summarized)]);
    field(
        out,
        &(m.created_at.as_micros() - PG_EPOCH_MICROS).to_be_bytes(),
    );
    field(
        out,
        &(m.updated_at.as_micros() - PG_EPOCH_MICROS).to_be_bytes(),
    );
    match m.expires_at {
        Some(at) => field(out, &(at.as_micros() - PG_EPOCH_MICROS).to_be_bytes()),
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// One row of `memory_embeddings` (memory_id, embedding): pgvector's binary form, the
/// dimensions as int16, an unused int16, then each value as float4.
fn encode_embedding(out: &mut Vec<u8>, id: Uuid, embedding: &Embedding) {
    out.extend_from_slice(&2i16.to_be_bytes());
    uuid(out, id);
    let values = embedding.as_slice();
    length(out, 4 + 4 * values.len());
    // The dimensions were checked against the store's (at most pgvector's 16,000).
    out.extend_from_slice(&(values.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    for value in values {
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn length(out: &mut Vec<u8>, len: usize) {
    // A field is at most 1 GB on the server, which refuses anything larger.
    out.extend_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes());
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    length(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn uuid(out: &mut Vec<u8>, id: Uuid) {
    field(out, id.as_bytes());
}

fn text(out: &mut Vec<u8>, value: &str) {
    field(out, value.as_bytes());
}

/// A jsonb value: the format version (1), then the JSON text, as the driver writes it.
fn jsonb(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(1);
    // Serializing a `Value` or a list of strings into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    let len = out.len() - at - 4;
    out[at..at + 4].copy_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes());
}
