//! The SQL functions engram registers on every SQLite connection.

use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::Value;

use engram_core::containment::contains;
use engram_core::tape;

/// `engram_json_contains(document TEXT, filter TEXT) -> INTEGER`: 1 when the JSON document
/// contains the filter by PostgreSQL's `@>` rules, 0 when not, NULL when either is NULL.
pub const CONTAINS_FUNCTION: &str = "engram_json_contains";

/// Registers engram's SQL functions ([`CONTAINS_FUNCTION`]) on `conn`. The store does this on
/// every pooled connection; call it on a connection of your own to run engram's containment
/// test in hand-written SQL.
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// engram_sqlite::register_functions(&conn).unwrap();
/// let hit: bool = conn
///     .query_row("SELECT engram_json_contains(?1, ?2)", [r#"[{"a":1,"b":2}]"#, r#"[{"a":1}]"#], |r| r.get(0))
///     .unwrap();
/// assert!(hit);
/// ```
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
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
    let text = json_text(ctx.get_raw(0)).map_err(user_error)?;
    // Most documents are answered from their text without building a `Value`; the rest
    // (and every document the fast path is unsure of) go through serde_json and the matcher.
    if let Some(hit) = tape::contains(text, &filter) {
        return Ok(Some(hit));
    }
    let document = parse_text(text).map_err(user_error)?;
    Ok(Some(contains(&document, &filter)))
}

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

fn json_text(raw: ValueRef<'_>) -> Result<&str, String> {
    raw.as_str()
        .map_err(|e| format!("{CONTAINS_FUNCTION} expects JSON text: {e}"))
}

fn parse_text(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{CONTAINS_FUNCTION}: invalid JSON: {e}"))
}

fn parse_json(raw: ValueRef<'_>) -> Result<Value, String> {
    parse_text(json_text(raw)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(document: Option<&str>, filter: Option<&str>) -> rusqlite::Result<Option<bool>> {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        conn.query_row(
            "SELECT engram_json_contains(?1, ?2)",
            [document, filter],
            |row| row.get(0),
        )
    }

    #[test]
    fn answers_errors_and_nulls_are_as_before_the_fast_path() {
        assert_eq!(
            call(Some(r#"{"a":[1,2]}"#), Some(r#"{"a":[2]}"#)).unwrap(),
            Some(true)
        );
        assert_eq!(
            call(Some(r#"{"a":"\ud83d\ude00"}"#), Some(r#"{"a":"😀"}"#)).unwrap(),
            Some(true)
        );
        assert_eq!(call(None, Some("{}")).unwrap(), None);
        assert_eq!(call(Some("{}"), None).unwrap(), None);
        for malformed in ["{bad", r#"{"a":1,}"#, r#"["\ud800"]"#, "[1] 2"] {
            let err = call(Some(malformed), Some("{}")).unwrap_err();
            assert!(
                err.to_string().contains("invalid JSON"),
                "{malformed}: {err}"
            );
        }
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let err = conn
            .query_row("SELECT engram_json_contains(x'7b7d', '{}')", [], |row| {
                row.get::<_, Option<bool>>(0)
            })
            .unwrap_err();
        assert!(err.to_string().contains("expects JSON text"), "{err}");
    }
}
