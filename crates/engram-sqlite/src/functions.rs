//! The SQL functions engram registers on every SQLite connection.

use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::Value;

use engram_core::containment::contains;

/// `engram_json_contains(document TEXT, filter TEXT) -> INTEGER`: 1 when the JSON document
/// contains the filter by PostgreSQL's `@>` rules, 0 when not, NULL when either is NULL.
pub const CONTAINS_FUNCTION: &str = "engram_json_contains";

/// Registers engram's functions on `conn`.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        CONTAINS_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        json_contains,
    )
}

fn json_contains(ctx: &Context<'_>) -> rusqlite::Result<Option<bool>> {
    if matches!(ctx.get_raw(0), ValueRef::Null) || matches!(ctx.get_raw(1), ValueRef::Null) {
        return Ok(None);
    }
    // The filter is the same for every row of a statement: parse it once.
    let filter: Arc<Value> = ctx.get_or_create_aux(1, parse_json)?;
    let document =
        parse_json(ctx.get_raw(0)).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
    Ok(Some(contains(&document, &filter)))
}

fn parse_json(raw: ValueRef<'_>) -> Result<Value, String> {
    let text = raw
        .as_str()
        .map_err(|e| format!("{CONTAINS_FUNCTION} expects JSON text: {e}"))?;
    serde_json::from_str(text).map_err(|e| format!("{CONTAINS_FUNCTION}: invalid JSON: {e}"))
}
