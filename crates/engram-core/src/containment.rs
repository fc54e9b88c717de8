//! The JSON containment matcher: PostgreSQL's `jsonb @>` computed in Rust, used by the
//! SQLite backend inside its WHERE clause.
//!
//! It follows PostgreSQL's `JsonbDeepContains`:
//!
//! - Objects contain objects whose every key exists on the left (byte-exact) with a
//!   contained value; extra keys on the left are ignored.
//! - Arrays contain arrays when every scalar on the right equals some scalar element on the
//!   left and every container on the right is contained by some container element on the
//!   left; order and repeats do not matter.
//! - Scalars are equal when they have the same type and value: strings as bytes, numbers by
//!   exact decimal value, `true` is not `1`.
//! - At the top level only, an array contains a scalar that is one of its elements.

use serde_json::{Map, Value};

use crate::document::numbers_equal;

/// `left @> right`, exactly as PostgreSQL computes it for `jsonb`.
///
/// ```
/// use engram_core::containment::contains;
/// use serde_json::json;
/// assert!(contains(&json!([{"a": 1, "b": 2}]), &json!([{"a": 1}])));
/// assert!(contains(&json!([5]), &json!(5)));
/// assert!(!contains(&json!({"a": [5]}), &json!({"a": 5})));
/// assert!(!contains(&json!({"x": true}), &json!({"x": 1})));
/// ```
pub fn contains(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => object_contains(l, r),
        (Value::Array(l), Value::Array(r)) => array_contains(l, r),
        // A top-level scalar is a one-element "raw scalar" array to PostgreSQL: a real array
        // may contain it, but it contains no real array.
        (Value::Array(l), r) if is_scalar(r) => l.iter().any(|item| scalars_equal(item, r)),
        (l, r) => scalars_equal(l, r),
    }
}

/// Containment below the top level: containers only contain containers of their own type.
fn nested_contains(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => object_contains(l, r),
        (Value::Array(l), Value::Array(r)) => array_contains(l, r),
        (l, r) => scalars_equal(l, r),
    }
}

fn object_contains(left: &Map<String, Value>, right: &Map<String, Value>) -> bool {
    right.len() <= left.len()
        && right
            .iter()
            .all(|(key, r)| left.get(key).is_some_and(|l| nested_contains(l, r)))
}

fn array_contains(left: &[Value], right: &[Value]) -> bool {
    right.iter().all(|r| {
        if is_scalar(r) {
            left.iter().any(|l| scalars_equal(l, r))
        } else {
            left.iter().any(|l| !is_scalar(l) && nested_contains(l, r))
        }
    })
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// Same JSON type and equal value; containers are never equal as scalars.
fn scalars_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(l), Value::Bool(r)) => l == r,
        (Value::String(l), Value::String(r)) => l.as_bytes() == r.as_bytes(),
        (Value::Number(l), Value::Number(r)) => numbers_equal(l, r),
        _ => false,
    }
}

/// Pairs `(left, right, left @> right)` on which a naive matcher goes wrong, with PostgreSQL's
/// answers. engram's tests hold its matcher, its SQLite function and a live PostgreSQL to
/// them.
pub const PINNED_CASES: &[(&str, &str, bool)] = &[
    (r#"[{"a":1,"b":2}]"#, r#"[{"a":1}]"#, true),
    (r#"{"x":true}"#, r#"{"x":1}"#, false),
    (r#"{"a":[5]}"#, r#"{"a":5}"#, false),
    ("[5]", "5", true),
    ("[[5]]", "[5]", false),
    ("5", "[5]", false),
    ("[[1,2]]", "[[1,2,2]]", true),
    (r#"{"a":1.0}"#, r#"{"a":1}"#, true),
    (r#"{"a":1e0}"#, r#"{"a":1.00}"#, true),
    ("[12345678901234567890]", "[12345678901234567891]", false),
    ("[0.1]", "[0.10000000000000001]", false),
    ("[-0]", "[0]", true),
    ("{}", "{}", true),
    (r#"{"a":1}"#, "{}", true),
    ("[1]", "[]", true),
    ("[]", "{}", false),
    ("{}", "[]", false),
    (r#"{"a":{"b":1}}"#, r#"{"a":[]}"#, false),
    (r#"[{"a":1}]"#, "[[]]", false),
    ("[1,[2]]", "[[]]", true),
    (r#"{"A":1}"#, r#"{"a":1}"#, false),
    ("[null]", "[null]", true),
    ("null", "null", true),
    ("[true]", "[1]", false),
    (r#"["1"]"#, "[1]", false),
    (r#"[{"a":[1,{"b":2}]}]"#, r#"[{"a":[{"b":2}]}]"#, true),
    (r#"[{"a":[1,{"b":2}]}]"#, r#"[{"a":[{"b":3}]}]"#, false),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The cases where a naive matcher goes wrong, each with PostgreSQL's answer.
    #[test]
    fn pinned_cases_match_postgres() {
        for &(left, right, expected) in PINNED_CASES {
            assert_eq!(
                contains(&doc(left), &doc(right)),
                expected,
                "{left} @> {right}"
            );
        }
    }

    #[test]
    fn extra_keys_and_repeats_are_ignored() {
        let left = json!({"tags": ["a", "b", "c"], "n": 1, "deep": {"x": [1, 2]}});
        assert!(contains(&left, &json!({"tags": ["c", "a", "a"]})));
        assert!(contains(&left, &json!({"deep": {"x": [2]}})));
        assert!(!contains(&left, &json!({"tags": ["d"]})));
    }
}
