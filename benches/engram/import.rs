//! The file of the `import` benchmark: generated memories written once as JSON Lines, in
//! the form `engram export` writes (one serialized [`Memory`] per line), and read back,
//! parsed into [`NewMemory`] and handed over in batches, as `engram import` does.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use engram::{Memory, NewMemory};
use tempfile::TempDir;

/// The environment variable with the number of memories in the file (default 10,000 with
/// `--bench`, 1,000 in the smoke run; RESULTS.md's figures are for 100,000).
pub const IMPORT_ROWS_VAR: &str = "ENGRAM_BENCH_IMPORT_ROWS";
/// Memories per `Store::import` call: `engram import`'s default `--batch-size`.
pub const IMPORT_BATCH: usize = 1_000;

/// How many memories the file holds: [`IMPORT_ROWS_VAR`], else the default.
pub fn import_rows(benching: bool) -> usize {
    match std::env::var(IMPORT_ROWS_VAR) {
        Ok(n) if !n.trim().is_empty() => n
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{IMPORT_ROWS_VAR}: '{n}' is not a row count")),
        _ if benching => 10_000,
        _ => 1_000,
    }
}

/// A JSON Lines file of memories in a temporary directory.
pub struct ImportFile {
    _dir: TempDir,
    pub path: PathBuf,
    pub rows: usize,
}

impl ImportFile {
    /// Writes `memories` (generated, so every field is given) as `engram export` would.
    pub fn write(memories: &[NewMemory]) -> ImportFile {
        let dir = tempfile::Builder::new()
            .prefix("engram-bench-import-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().join("memories.jsonl");
        let mut out = BufWriter::new(File::create(&path).expect("create the import file"));
        for memory in memories {
            serde_json::to_writer(&mut out, &exported(memory)).expect("write a line");
            out.write_all(b"\n").expect("write a line");
        }
        out.flush().expect("write the import file");
        ImportFile {
            _dir: dir,
            path,
            rows: memories.len(),
        }
    }

    /// Reads the file line by line, parses each line into a [`NewMemory`] and calls
    /// `write` with every [`IMPORT_BATCH`] of them (and the rest); returns the sum of what
    /// `write` returned.
    pub fn read_batches(&self, mut write: impl FnMut(Vec<NewMemory>) -> u64) -> u64 {
        let file = BufReader::new(File::open(&self.path).expect("open the import file"));
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        let mut written = 0;
        for line in file.lines() {
            let line = line.expect("read a line");
            let memory: Memory = serde_json::from_str(&line).expect("parse a line");
            batch.push(NewMemory::from(memory));
            if batch.len() == IMPORT_BATCH {
                written += write(std::mem::replace(
                    &mut batch,
                    Vec::with_capacity(IMPORT_BATCH),
                ));
            }
        }
        if !batch.is_empty() {
            written += write(batch);
        }
        written
    }
}

/// The memory as stored and exported: engram's own rule for a new memory (the generator
/// gives every field, so the time passed is never used).
fn exported(memory: &NewMemory) -> Memory {
    engram_core::validate::new_memory(memory.clone(), engram::Timestamp::now())
        .expect("a generated memory is valid")
}
