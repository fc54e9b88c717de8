//! The SQL functions engram registers on every SQLite connection.

use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::Value;

use engram_core::containment::contains;
use engram_core::filter::Filter;
use engram_core::tape;
use engram_core::Metric;

/// `engram_json_contains(document TEXT, filter TEXT) -> INTEGER`: 1 when the JSON document
/// contains the filter by PostgreSQL's `@>` rules, 0 when not, NULL when either is NULL.
pub const CONTAINS_FUNCTION: &str = "engram_json_contains";

/// `engram_json_filter(document TEXT, filter TEXT) -> INTEGER`: 1 when the JSON document
/// passes the filter with operators ([`engram_core::filter`]), 0 when not, NULL when either
/// is NULL.
pub const FILTER_FUNCTION: &str = "engram_json_filter";

/// `engram_vector_distance(metric TEXT, stored BLOB, query BLOB) -> REAL`: pgvector's
/// distance (`cosine`, `l2` or `inner`, see [`engram_core::vector`]) between two embeddings
/// stored as little-endian `f32` bytes; NULL when either is NULL, and when the distance is
/// NaN (SQLite has no NaN: it would store one as NULL anyway).
pub const DISTANCE_FUNCTION: &str = "engram_vector_distance";

/// Registers engram's SQL functions ([`CONTAINS_FUNCTION`], [`DISTANCE_FUNCTION`]) on `conn`.
/// The store does this on every pooled connection; call it on a connection of your own to
/// run engram's containment test or distances in hand-written SQL.
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
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function(CONTAINS_FUNCTION, 2, flags, json_contains)?;
    conn.create_scalar_function(FILTER_FUNCTION, 2, flags, json_filter)?;
    conn.create_scalar_function(DISTANCE_FUNCTION, 3, flags, vector_distance)
}

fn vector_distance(ctx: &Context<'_>) -> rusqlite::Result<Option<f64>> {
    let (ValueRef::Blob(stored), ValueRef::Blob(query)) = (ctx.get_raw(1), ctx.get_raw(2)) else {
        if matches!(ctx.get_raw(1), ValueRef::Null) || matches!(ctx.get_raw(2), ValueRef::Null) {
            return Ok(None);
        }
        return Err(user_error(format!(
            "{DISTANCE_FUNCTION} expects two embeddings as blobs"
        )));
    };
    let metric: Arc<Metric> = ctx.get_or_create_aux(0, |raw| {
        let name = raw.as_str().map_err(|e| e.to_string())?;
        name.parse::<Metric>().map_err(|e| e.to_string())
    })?;
    if stored.len() != query.len() || stored.len() % 4 != 0 {
        return Err(user_error(format!(
            "{DISTANCE_FUNCTION}: different vector dimensions {} and {}",
            stored.len() / 4,
            query.len() / 4
        )));
    }
    let distance = metric.distance_of_le_bytes(stored, query);
    Ok((!distance.is_nan()).then_some(distance))
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

fn json_filter(ctx: &Context<'_>) -> rusqlite::Result<Option<bool>> {
    if matches!(ctx.get_raw(0), ValueRef::Null) || matches!(ctx.get_raw(1), ValueRef::Null) {
        return Ok(None);
    }
    // The filter is the same for every row of a statement: parse it once.
    let filter: Arc<Filter> = ctx.get_or_create_aux(1, |raw| {
        Filter::parse(&parse_json(raw)?, "filter").map_err(|e| e.to_string())
    })?;
    let document =
        parse_text(json_text(ctx.get_raw(0)).map_err(user_error)?).map_err(user_error)?;
    Ok(Some(filter.matches(&document)))
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

    #[test]
    fn distances_are_the_cores_and_nan_is_null() {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let distance = |metric: &str, a: &[f32], b: &[f32]| {
            conn.query_row(
                "SELECT engram_vector_distance(?1, ?2, ?3)",
                rusqlite::params![metric, bytes(a), bytes(b)],
                |row| row.get::<_, Option<f64>>(0),
            )
        };
        assert_eq!(distance("l2", &[3.0, 4.0], &[0.0, 0.0]).unwrap(), Some(5.0));
        assert_eq!(
            distance("inner", &[1.0, 2.0], &[3.0, 4.0]).unwrap(),
            Some(-11.0)
        );
        assert_eq!(distance("cosine", &[0.0, 0.0], &[1.0, 2.0]).unwrap(), None);
        let err = distance("l2", &[1.0], &[1.0, 2.0]).unwrap_err();
        assert!(
            err.to_string()
                .contains("different vector dimensions 1 and 2"),
            "{err}"
        );
        let err = distance("dot", &[1.0], &[1.0]).unwrap_err();
        assert!(err.to_string().contains("unknown metric"), "{err}");
    }

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
