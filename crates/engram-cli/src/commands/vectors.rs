//! `engram vectors …` (status, enable, create-index, drop-index), and the vector functions
//! other commands share: reading an embedding from a flag, and whether vectors work here.

use std::io::Write;

use engram::{BackendKind, Embedding, Store, VectorIndex, VectorSupport};
use serde_json::{json, Value};

use crate::args::{OutputFormat, VectorsCommand};
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::output;

/// `engram vectors …`
pub fn run(command: VectorsCommand, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open_for_data(target)?;
    match command {
        VectorsCommand::Status { format } => status(&store, format, out),
        VectorsCommand::Enable => {
            store.enable_vectors()?;
            match store.kind() {
                BackendKind::Sqlite => writeln!(out, "vectors: available (SQLite always has them)"),
                BackendKind::Postgres => writeln!(out, "vectors: enabled (pgvector)"),
            }
            .output()
        }
        VectorsCommand::CreateIndex {
            metric,
            m,
            ef_construction,
        } => {
            let index = VectorIndex {
                metric: metric.into(),
                m,
                ef_construction,
            };
            store.create_vector_index(index)?;
            writeln!(
                out,
                "created the approximate {} index (m {m}, ef_construction {ef_construction}); \
                 `engram query --near … --metric {} --approximate` uses it",
                index.metric, index.metric
            )
            .output()
        }
        VectorsCommand::DropIndex { metric } => {
            let metric = engram::Metric::from(metric);
            if store.drop_vector_index(metric)? {
                writeln!(out, "dropped the approximate {metric} index")
            } else {
                writeln!(out, "there was no approximate {metric} index")
            }
            .output()
        }
    }
}

/// `engram vectors status`
fn status(store: &Store, format: OutputFormat, out: &mut dyn Write) -> Result<(), CliError> {
    let dimensions = store.vector_dimensions()?;
    let support = store.vector_support()?;
    let (enabled, reason) = match &support {
        VectorSupport::Available => (true, None),
        VectorSupport::Unavailable { reason } => (false, Some(reason.as_str())),
    };
    match format {
        OutputFormat::Table => {
            let shown = dimensions.map_or_else(|| "none yet".to_string(), |n| n.to_string());
            let vectors = match (store.kind(), reason) {
                (BackendKind::Sqlite, _) => {
                    "available (SQLite always searches exactly)".to_string()
                }
                (BackendKind::Postgres, None) => "enabled (pgvector)".to_string(),
                (BackendKind::Postgres, Some(reason)) => format!("not enabled: {reason}"),
            };
            for (name, value) in [
                ("backend", store.kind().to_string()),
                ("dimensions", shown),
                ("vectors", vectors),
            ] {
                writeln!(out, "{:<12} {value}", format!("{name}:")).output()?;
            }
            Ok(())
        }
        OutputFormat::Json | OutputFormat::Jsonl => {
            let value = json!({
                "backend": store.kind(),
                "dimensions": dimensions,
                "vectors_enabled": enabled,
                "reason": reason.map_or(Value::Null, |r| Value::String(r.to_string())),
            });
            if format == OutputFormat::Json {
                output::json(out, &value)
            } else {
                output::json_line(out, &value)
            }
        }
    }
}

/// An embedding given on the command line as a JSON array of numbers; errors name `flag`.
pub fn parse_embedding(text: &str, flag: &str) -> Result<Embedding, CliError> {
    let value: Value = serde_json::from_str(text).map_err(|err| {
        CliError::invalid(format!(
            "{flag}: not valid JSON ({err}); give an array of numbers, e.g. '[0.1, 0.9, 0]'"
        ))
    })?;
    Embedding::from_json(&value).map_err(|err| CliError::invalid(format!("{flag}: {err}")))
}

/// The store's error about an embedding (its dimensions differ from the store's) names
/// `flag`, the command-line flag that gave it; other errors are left as they are.
pub fn name_the_flag(err: CliError, flag: &str) -> CliError {
    match err {
        CliError::Engram(engram::Error::InvalidInput { ref field, .. }) if field == "embedding" => {
            CliError::invalid(format!("{flag}: {err}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_embeddings_name_the_flag_and_the_problem() {
        let message = |text: &str| {
            parse_embedding(text, "--embedding")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message("[]"),
            "--embedding: invalid embedding: must have at least 1 dimension"
        );
        assert_eq!(
            message(r#"["a"]"#),
            "--embedding: invalid embedding: component 0 is not a number"
        );
        assert!(message("[1e39]").contains("component 0 is infinite"));
        assert!(message("[1,").starts_with("--embedding: not valid JSON"));
        assert_eq!(
            message("{}"),
            "--embedding: invalid embedding: must be a JSON array of numbers"
        );
        assert_eq!(
            parse_embedding("[0.1, 1e-3, 2]", "--near")
                .unwrap()
                .as_slice(),
            &[0.1, 0.001, 2.0]
        );
    }

    #[test]
    fn sqlite_always_has_vectors() {
        let store = Store::open("sqlite::memory:").unwrap();
        store.migrate().unwrap();
        assert_eq!(store.vector_support().unwrap(), VectorSupport::Available);
    }
}
