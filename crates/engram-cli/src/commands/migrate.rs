//! `engram init-db` and `engram migrate …`: every command goes through engram-migrate's
//! `Migrator`, which takes the migration lock (an advisory lock on PostgreSQL,
//! `BEGIN IMMEDIATE` on SQLite).

use std::io::Write;

use engram::Store;
use engram_migrate::{
    AppliedRecord, DownTarget, MigrationRun, MigrationState, MigrationStatus, PlannedStep,
};
use serde::Serialize;

use crate::args::{DownArgs, MigrateCommand, OutputFormat};
use crate::database::{self, Access, Target};
use crate::error::{CliError, OutputResult};
use crate::output::{self, short_time, Table};
use crate::progress;

/// `engram init-db`: apply every pending migration.
pub fn init_db(target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    up(target, None, out)
}

/// `engram migrate …`
pub fn run(command: MigrateCommand, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        MigrateCommand::Up { to, dry_run: false } => up(target, to, out),
        MigrateCommand::Up { to, dry_run: true } => {
            let store = database::open(target, Access::Inspect)?;
            let steps = store.with_migrator(|m| m.plan_up(to))?;
            write_plan(out, "up", target, &store, &steps)
        }
        MigrateCommand::Down(args) => down(args, target, out),
        MigrateCommand::Status { format } => status(target, format, out),
        MigrateCommand::History { format } => history(target, format, out),
        MigrateCommand::Stamp { target: version } => {
            let store = database::open(target, Access::Create)?;
            let stamped = store.with_migrator(|m| m.stamp(version))?;
            if stamped.is_empty() {
                writeln!(
                    out,
                    "nothing to stamp: every migration up to {version:04} is already recorded"
                )
                .output()?;
            }
            for migration in stamped {
                writeln!(
                    out,
                    "stamped {:04} {} (recorded as applied, not run)",
                    migration.version, migration.name
                )
                .output()?;
            }
            Ok(())
        }
        MigrateCommand::New { name, dir } => {
            let created = engram_migrate::new_migration(&dir, &name)?;
            writeln!(
                out,
                "created migration {:04} {}:",
                created.version, created.name
            )
            .output()?;
            for path in created.paths {
                writeln!(out, "  {}", path.display()).output()?;
            }
            Ok(())
        }
        MigrateCommand::Repair { target: version } => {
            let store = database::open(target, Access::Inspect)?;
            let record = store.with_migrator(|m| m.repair(version))?;
            writeln!(
                out,
                "cleared the failed record of {:04} {}; run `engram migrate up` to apply it again",
                record.version, record.name
            )
            .output()
        }
    }
}

fn up(target: &Target, to: Option<u32>, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open(target, Access::Create)?;
    let (runs, records) = store.with_migrator(|m| {
        let runs = m.up(to)?;
        Ok((runs, m.history()?))
    })?;
    if runs.is_empty() {
        writeln!(
            out,
            "nothing to apply: the database is at {}",
            current_version(&records)
        )
        .output()?;
    }
    write_runs(out, "applied", &runs)?;
    update_index(&store, out)
}

/// Applies what a migration queued for SQLite's containment index (every memory stored
/// before 0003), with a progress bar on a terminal; says how many memories it indexed.
fn update_index(store: &Store, out: &mut dyn Write) -> Result<(), CliError> {
    let bar = progress::bar(None, "memories indexed");
    let indexed = store.update_index(&mut |applied, queued| {
        bar.set_message(format!("of {queued}"));
        bar.set_position(applied);
    })?;
    bar.finish_and_clear();
    if indexed > 0 {
        writeln!(out, "containment index: {indexed} memories indexed").output()?;
    }
    Ok(())
}

fn down(args: DownArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let down_target = match (args.steps, args.to) {
        (Some(steps), _) => DownTarget::Steps(steps),
        (None, Some(version)) => DownTarget::To(version),
        (None, None) => return Err(CliError::invalid("give --steps N or --to V")),
    };
    let store = database::open(target, Access::Inspect)?;
    if args.dry_run {
        let steps = store.with_migrator(|m| m.plan_down(down_target))?;
        return write_plan(out, "down", target, &store, &steps);
    }
    if !args.yes {
        refuse_dropping_data(&store, down_target)?;
    }
    let (runs, records) = store.with_migrator(|m| {
        let runs = m.down(down_target)?;
        Ok((runs, m.history()?))
    })?;
    if runs.is_empty() {
        writeln!(
            out,
            "nothing to revert: the database is at {}",
            current_version(&records)
        )
        .output()?;
    } else {
        write_runs(out, "reverted", &runs)?;
        writeln!(out, "the database is now at {}", current_version(&records)).output()?;
    }
    Ok(())
}

/// Fails when the down scripts that would run drop a table while the database holds
/// memories or clusters, so that `migrate down` never deletes data without `--yes`.
fn refuse_dropping_data(store: &engram::Store, down_target: DownTarget) -> Result<(), CliError> {
    let steps = store.with_migrator(|m| m.plan_down(down_target))?;
    let dropping: Vec<String> = steps
        .iter()
        .filter(|step| step.sql.to_ascii_uppercase().contains("DROP TABLE"))
        .map(|step| format!("{:04} {}", step.version, step.name))
        .collect();
    if dropping.is_empty() {
        return Ok(());
    }
    // A database without the tables holds nothing to lose; any other failure to count
    // stops the revert.
    let counted = |count: engram::Result<u64>| match count {
        Ok(count) => Ok(count),
        Err(err) if err.kind() == engram::ErrorKind::Schema => Ok(0),
        Err(err) => Err(CliError::from(err)),
    };
    let memories = counted(store.count(engram::MemoryQuery::new()))?;
    let clusters = counted(store.count_clusters())?;
    if memories == 0 && clusters == 0 {
        return Ok(());
    }
    Err(CliError::invalid(format!(
        "reverting {} drops tables while the database holds {} and {}; \
         export them first (engram export -o FILE), or run again with --yes to revert anyway",
        dropping.join(", "),
        output::plural(memories, "memory", "memories"),
        output::plural(clusters, "cluster", "clusters")
    )))
}

/// `0001 initial_schema`, or `version 0 (no migrations applied)`.
fn current_version(records: &[AppliedRecord]) -> String {
    match records.iter().max_by_key(|r| r.version) {
        Some(record) => format!("{:04} {}", record.version, record.name),
        None => "version 0000 (no migrations applied)".to_string(),
    }
}

fn write_runs(out: &mut dyn Write, verb: &str, runs: &[MigrationRun]) -> Result<(), CliError> {
    for run in runs {
        writeln!(
            out,
            "{verb} {:04} {} ({} ms{})",
            run.version,
            run.name,
            run.duration.as_millis(),
            if run.no_transaction {
                ", outside a transaction"
            } else {
                ""
            }
        )
        .output()?;
    }
    Ok(())
}

/// The SQL of a dry run, in order, each script under a header comment.
fn write_plan(
    out: &mut dyn Write,
    direction: &str,
    target: &Target,
    store: &Store,
    steps: &[PlannedStep],
) -> Result<(), CliError> {
    writeln!(
        out,
        "-- engram migrate {direction} --dry-run on {} ({}): {} would run; nothing was executed",
        store.kind(),
        target.display(),
        match steps.len() {
            1 => "1 migration".to_string(),
            n => format!("{n} migrations"),
        }
    )
    .output()?;
    for step in steps {
        writeln!(out).output()?;
        writeln!(
            out,
            "-- {:04} {} ({}{})",
            step.version,
            step.name,
            step.direction,
            if step.no_transaction {
                ", statement by statement outside a transaction"
            } else {
                ", in one transaction with its tracking row"
            }
        )
        .output()?;
        let sql = step.sql.trim_end();
        writeln!(out, "{sql}").output()?;
    }
    Ok(())
}

/// One line of `migrate status --format json`.
#[derive(Serialize)]
struct StatusLine {
    version: u32,
    name: String,
    state: String,
    applied_at: Option<String>,
    execution_ms: Option<i64>,
}

impl From<&MigrationStatus> for StatusLine {
    fn from(status: &MigrationStatus) -> Self {
        StatusLine {
            version: status.version,
            name: status.name.clone(),
            state: status.state.to_string(),
            applied_at: status.applied_at.map(|t| t.to_string()),
            execution_ms: status.execution_ms,
        }
    }
}

fn status(target: &Target, format: OutputFormat, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open(target, Access::Inspect)?;
    let (lines, refusal) = store.with_migrator(|m| {
        let lines = m.status()?;
        let refusal = match m.plan_up(None) {
            Ok(_) => None,
            Err(err) if err.is_refusal() => Some(err),
            Err(err) => return Err(err),
        };
        Ok((lines, refusal))
    })?;
    let json: Vec<StatusLine> = lines.iter().map(StatusLine::from).collect();
    match format {
        OutputFormat::Json => output::json(out, &json)?,
        OutputFormat::Jsonl => json
            .iter()
            .try_for_each(|line| output::json_line(out, line))?,
        OutputFormat::Table => {
            let mut table = Table::new(&["version", "name", "state", "applied_at", "ms"]);
            for line in &lines {
                table.row(vec![
                    format!("{:04}", line.version),
                    line.name.clone(),
                    line.state.to_string(),
                    line.applied_at.map_or_else(|| "-".into(), short_time),
                    line.execution_ms
                        .map_or_else(|| "-".into(), |ms| ms.to_string()),
                ]);
            }
            table.write(out)?;
        }
    }
    if let Some(err) = refusal {
        return Err(CliError::Migrate(err));
    }
    let unhealthy = lines.iter().find(|line| {
        matches!(
            line.state,
            MigrationState::Changed | MigrationState::Failed | MigrationState::Unknown
        )
    });
    match unhealthy {
        Some(line) => Err(CliError::invalid(format!(
            "migration {:04} {} is {}",
            line.version, line.name, line.state
        ))),
        None => Ok(()),
    }
}

/// One line of `migrate history --format json`.
#[derive(Serialize)]
struct HistoryLine {
    version: u32,
    name: String,
    applied_at: String,
    execution_ms: i64,
    success: bool,
    checksum: String,
}

fn history(target: &Target, format: OutputFormat, out: &mut dyn Write) -> Result<(), CliError> {
    let store = database::open(target, Access::Inspect)?;
    let records = store.with_migrator(|m| m.history())?;
    let json: Vec<HistoryLine> = records
        .iter()
        .map(|r| HistoryLine {
            version: r.version,
            name: r.name.clone(),
            applied_at: r.applied_at.to_string(),
            execution_ms: r.execution_ms,
            success: r.success,
            checksum: r.checksum.clone(),
        })
        .collect();
    match format {
        OutputFormat::Json => output::json(out, &json),
        OutputFormat::Jsonl => json
            .iter()
            .try_for_each(|line| output::json_line(out, line)),
        OutputFormat::Table => {
            if records.is_empty() {
                return writeln!(out, "no migrations applied").output();
            }
            let mut table = Table::new(&["version", "name", "applied_at", "ms", "result"]);
            for record in &records {
                table.row(vec![
                    format!("{:04}", record.version),
                    record.name.clone(),
                    record.applied_at.to_string(),
                    record.execution_ms.to_string(),
                    if record.success {
                        "ok".into()
                    } else {
                        "FAILED (see `engram migrate status`)".into()
                    },
                ]);
            }
            table.write(out)
        }
    }
}
