//! `engram export`: every field of the matching memories (embeddings included) as JSON
//! Lines, least recently updated first, streamed from one consistent snapshot of the
//! database (see [`Store::export`]) so that memory use does not grow with the database.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use engram::{MemoryQuery, Order, Store};

use crate::args::ExportArgs;
use crate::commands::query::filters;
use crate::database::{self, Target};
use crate::error::{CliError, OutputResult};
use crate::{output, progress};

/// `engram export …`
pub fn run(args: ExportArgs, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    let mut query = filters(&args.filters)?.with_embeddings();
    query.include_expired = args.include_expired;
    let store = database::open_for_data(target)?;
    match &args.output {
        None => {
            export(&store, query, out)?;
            Ok(())
        }
        Some(given) => {
            let count = match replaced_file(given) {
                Some(path) => export_replacing(&store, query, &path, given)?,
                // A pipe, a device (`/dev/stdout`): written in place, as it is read.
                None => {
                    let file =
                        File::create(given).map_err(|err| CliError::file("open", given, err))?;
                    let mut writer = BufWriter::new(file);
                    export(&store, query, &mut writer)
                        .and_then(|count| writer.flush().output().map(|()| count))
                        .map_err(|err| written_to(given, err))?
                }
            };
            let path = given;
            writeln!(
                out,
                "exported {} to {}",
                output::plural(count, "memory", "memories"),
                path.display()
            )
            .output()
        }
    }
}

/// The regular file an export to `given` replaces: `given` itself, or the file a symbolic
/// link names (the link stays a link); `None` for a pipe or a device, which are written in
/// place. A path that does not exist yet is a new regular file.
fn replaced_file(given: &Path) -> Option<PathBuf> {
    match std::fs::metadata(given) {
        Ok(meta) if !meta.is_file() => None,
        Ok(_) => std::fs::canonicalize(given)
            .ok()
            .or_else(|| Some(given.to_owned())),
        Err(_) => Some(given.to_owned()),
    }
}

/// Exports into a temporary file beside `path` and renames it over `path` once complete, so
/// that a failed export (a read error midway, a full disk) leaves an existing file untouched;
/// the temporary file is removed when dropped unpersisted. Errors name `given`.
fn export_replacing(
    store: &Store,
    query: MemoryQuery,
    path: &Path,
    given: &Path,
) -> Result<u64, CliError> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let partial = partial_file(folder)
        .map_err(|err| CliError::file("create a temporary file beside", given, err))?;
    // A file replaced keeps its permissions; a new one gets those `File::create` gives
    // (0666 less the umask).
    if let Ok(existing) = std::fs::metadata(path) {
        partial
            .as_file()
            .set_permissions(existing.permissions())
            .map_err(|err| CliError::file("copy the permissions of", given, err))?;
    }
    let mut writer = BufWriter::new(partial);
    let count = export(store, query, &mut writer)
        .and_then(|count| writer.flush().output().map(|()| count))
        .map_err(|err| written_to(given, err))?;
    let partial = writer
        .into_inner()
        .map_err(|err| CliError::file("write", given, err.into_error()))?;
    partial
        .as_file()
        .sync_all()
        .map_err(|err| CliError::file("write", given, err))?;
    partial
        .persist(path)
        .map_err(|err| CliError::file("replace", given, err.error))?;
    Ok(count)
}

/// A failed write names the file.
fn written_to(path: &Path, err: CliError) -> CliError {
    match err {
        CliError::Output(source) => CliError::file("write", path, source),
        other => other,
    }
}

/// A new temporary file in `folder`, created with the permissions `File::create` would give.
fn partial_file(folder: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".engram-export-").suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(folder)
}

/// Writes the memories `query` matches, in `updated_at, id` order, one JSON object per
/// line (with the embedding when `query` reads them and the memory has one); returns how
/// many.
fn export(store: &Store, query: MemoryQuery, out: &mut dyn Write) -> Result<u64, CliError> {
    let total = if std::io::stderr().is_terminal() {
        Some(store.count(query.clone())?)
    } else {
        None
    };
    let bar = progress::bar(total, "memories");
    let written = store.export(query.order(Order::UpdatedAsc), |memory| {
        output::json_line(out, &memory)?;
        bar.inc(1);
        Ok::<(), CliError>(())
    })?;
    bar.finish_and_clear();
    Ok(written)
}
