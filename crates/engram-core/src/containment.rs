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
//!
//! The rules are written once, over a read-only view of the left document that both a parsed
//! [`Value`] and the SQLite fast path's text tape ([`crate::tape`]) provide.

use std::convert::Infallible;

use serde_json::{Map, Number, Value};

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
    let Ok(hit) = view_contains(left, right);
    hit
}

/// What a JSON value is, as far as the containment rules ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Number,
    String,
    Array,
    Object,
}

/// A read-only view of one value in a JSON document: what the containment rules need to
/// know of the left side of `@>`. The parsed [`Value`] is one; the SQLite fast path's text
/// tape ([`crate::tape`]) is another, which may find that it cannot answer (`Error`).
pub(crate) trait JsonView: Copy {
    /// Why the view cannot answer; [`Infallible`] for a parsed [`Value`].
    type Error;
    /// The items of an array, in order.
    type Items: Iterator<Item = Self>;

    fn kind(self) -> Kind;
    /// The items when this is an array (empty otherwise).
    fn items(self) -> Self::Items;
    /// The value of `key` when this is an object; a key given twice counts with its last
    /// value, as PostgreSQL and serde_json keep it.
    fn get(self, key: &str) -> Result<Option<Self>, Self::Error>;
    /// Whether this string is `right`, byte for byte.
    fn string_equals(self, right: &str) -> Result<bool, Self::Error>;
    /// Whether this number has the decimal value of `right`.
    fn number_equals(self, right: &Number) -> Result<bool, Self::Error>;
}

impl<'a> JsonView for &'a Value {
    type Error = Infallible;
    type Items = std::slice::Iter<'a, Value>;

    fn kind(self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    fn items(self) -> Self::Items {
        match self {
            Value::Array(items) => items.iter(),
            _ => [].iter(),
        }
    }

    fn get(self, key: &str) -> Result<Option<Self>, Infallible> {
        Ok(self.as_object().and_then(|map| map.get(key)))
    }

    fn string_equals(self, right: &str) -> Result<bool, Infallible> {
        Ok(self
            .as_str()
            .is_some_and(|s| s.as_bytes() == right.as_bytes()))
    }

    fn number_equals(self, right: &Number) -> Result<bool, Infallible> {
        Ok(matches!(self, Value::Number(n) if numbers_equal(n, right)))
    }
}

/// [`contains`] with any view of the left document: the one place the rules are written.
pub(crate) fn view_contains<D: JsonView>(left: D, right: &Value) -> Result<bool, D::Error> {
    match (left.kind(), right) {
        (Kind::Object, Value::Object(r)) => object_contains(left, r),
        (Kind::Array, Value::Array(r)) => array_contains(left, r),
        // A top-level scalar is a one-element "raw scalar" array to PostgreSQL: a real array
        // may contain it, but it contains no real array.
        (Kind::Array, r) if is_scalar(r) => any(left.items(), |item| scalars_equal(item, r)),
        (_, r) => scalars_equal(left, r),
    }
}

/// Containment below the top level: containers only contain containers of their own type.
fn nested_contains<D: JsonView>(left: D, right: &Value) -> Result<bool, D::Error> {
    match (left.kind(), right) {
        (Kind::Object, Value::Object(r)) => object_contains(left, r),
        (Kind::Array, Value::Array(r)) => array_contains(left, r),
        (_, r) => scalars_equal(left, r),
    }
}

/// Every key of `right` is on the left with a contained value; extra keys are ignored.
fn object_contains<D: JsonView>(left: D, right: &Map<String, Value>) -> Result<bool, D::Error> {
    for (key, r) in right {
        match left.get(key)? {
            Some(l) if nested_contains(l, r)? => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Every scalar on the right equals a scalar item on the left, every container on the right
/// is contained by a container item on the left.
fn array_contains<D: JsonView>(left: D, right: &[Value]) -> Result<bool, D::Error> {
    for r in right {
        let hit = if is_scalar(r) {
            any(left.items(), |l| scalars_equal(l, r))?
        } else {
            any(
                left.items(),
                |l| Ok(!is_scalar(l) && nested_contains(l, r)?),
            )?
        };
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `Iterator::any` for a fallible test.
fn any<T, E>(
    items: impl Iterator<Item = T>,
    mut test: impl FnMut(T) -> Result<bool, E>,
) -> Result<bool, E> {
    for item in items {
        if test(item)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_scalar<D: JsonView>(value: D) -> bool {
    !matches!(value.kind(), Kind::Array | Kind::Object)
}

/// Same JSON type and equal value: strings as bytes, numbers by exact decimal value;
/// containers are never equal as scalars.
fn scalars_equal<D: JsonView>(left: D, right: &Value) -> Result<bool, D::Error> {
    match (left.kind(), right) {
        (Kind::Null, Value::Null) => Ok(true),
        (Kind::Bool(l), Value::Bool(r)) => Ok(l == *r),
        (Kind::String, Value::String(r)) => left.string_equals(r),
        (Kind::Number, Value::Number(r)) => left.number_equals(r),
        _ => Ok(false),
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
