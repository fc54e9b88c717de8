//! `engram policies run|show`: tier policies from a JSON file or the documented defaults.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use engram::{AgeOf, PolicyAction, TierPolicy, LONG_TERM, MID_TERM, SHORT_TERM};

use crate::args::{OutputFormat, PoliciesCommand};
use crate::database::{self, Target};
use crate::error::CliError;
use crate::output::{self, Table};

const DAY_SECS: u64 = 24 * 60 * 60;

/// The fields of a policy in a config file.
const POLICY_FIELDS: [&str; 6] = [
    "tier",
    "expire_after_secs",
    "next_tier",
    "max_content_chars",
    "delete_after_secs",
    "delete_by",
];

/// The policies run without `--config`:
///
/// | tier | moves to | after (not updated for) | content trimmed to |
/// |---|---|---|---|
/// | short_term | mid_term | 7 days | 4,000 characters |
/// | mid_term | long_term | 30 days | 16,000 characters |
///
/// long_term memories are kept as they are.
pub fn default_policies() -> Vec<TierPolicy> {
    vec![
        TierPolicy::new(SHORT_TERM)
            .expire_after(Duration::from_secs(7 * DAY_SECS), MID_TERM)
            .max_content_chars(4_000),
        TierPolicy::new(MID_TERM)
            .expire_after(Duration::from_secs(30 * DAY_SECS), LONG_TERM)
            .max_content_chars(16_000),
    ]
}

/// `engram policies …`
pub fn run(command: PoliciesCommand, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        PoliciesCommand::Show { config } => {
            let policies = load(config.as_deref())?;
            output::json(out, &policies)
        }
        PoliciesCommand::Run { config, format } => {
            let policies = load(config.as_deref())?;
            let store = database::open_for_data(target)?;
            let report = store.run_policies(&policies)?;
            match format {
                OutputFormat::Json => output::json(out, &report.steps),
                OutputFormat::Jsonl => report
                    .steps
                    .iter()
                    .try_for_each(|step| output::json_line(out, step)),
                OutputFormat::Table => {
                    let mut table = Table::new(&["tier", "action", "rows"]);
                    for step in &report.steps {
                        let action = match &step.action {
                            PolicyAction::Moved { to } => format!("moved to {to}"),
                            PolicyAction::Trimmed { max_chars } => {
                                format!("trimmed to {max_chars} chars")
                            }
                            PolicyAction::Deleted { by: AgeOf::Created } => {
                                "deleted by created_at".to_string()
                            }
                            PolicyAction::Deleted { by: AgeOf::Updated } => {
                                "deleted by updated_at".to_string()
                            }
                        };
                        table.row(vec![step.tier.clone(), action, step.rows.to_string()]);
                    }
                    table.write(out)
                }
            }
        }
    }
}

/// The policies in `path` (a JSON list), checked, or the defaults.
fn load(path: Option<&Path>) -> Result<Vec<TierPolicy>, CliError> {
    let Some(path) = path else {
        return Ok(default_policies());
    };
    let text = std::fs::read_to_string(path).map_err(|err| CliError::file("read", path, err))?;
    let invalid = |reason: String| {
        CliError::invalid(format!(
            "invalid policy config {}: {reason} (expected a JSON list of objects with {})",
            path.display(),
            POLICY_FIELDS.join(", ")
        ))
    };
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|err| invalid(err.to_string()))?;
    for (index, entry) in entries.iter().enumerate() {
        let unknown = entry.as_object().and_then(|fields| {
            fields
                .keys()
                .find(|key| !POLICY_FIELDS.contains(&key.as_str()))
        });
        if let Some(key) = unknown {
            return Err(invalid(format!(
                "policy #{} has an unknown field '{key}'",
                index + 1
            )));
        }
    }
    let policies: Vec<TierPolicy> =
        serde_json::from_str(&text).map_err(|err| invalid(err.to_string()))?;
    engram_core::validate::policies(&policies).map_err(|err| {
        CliError::invalid(format!("invalid policy config {}: {err}", path.display()))
    })?;
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        engram_core::validate::policies(&default_policies()).unwrap();
    }
}
