//! Value filters with operators (`{"n": {"$gt": 9}, "customer.tier": "gold"}`): parsed once
//! into a [`Filter`], whose rule for each operator is written here once: [`Filter::matches`]
//! is the rule itself (SQLite runs it inside SQL), and PostgreSQL renders the same tests
//! from [`Filter::conditions`]. [`Filter::containment`] is what an index of containment
//! may narrow the candidates by first.
//!
//! A filter is a JSON object. Each key is a path into the document, its parts separated by
//! `.` (`"customer.tier"`), through objects only. Its value is either a bare value or an
//! object of operators (keys starting with `$`, ANDed):
//!
//! - A bare object matches partially, key by key (each key a further path step); a bare
//!   array matches exactly, element by element; a bare scalar by JSON equality (numbers by
//!   decimal value, so `1.0` equals `1`; `true` is not `1`). A missing path never equals
//!   anything, `null` included.
//! - `$eq`, `$ne`: equality as above (exact for objects too); `$ne` also matches a missing
//!   path.
//! - `$gt`, `$gte`, `$lt`, `$lte` take a number or a string: numbers compare as numbers at
//!   any precision, strings by Unicode code point; a value of another type, or a missing
//!   path, does not match (never an error).
//! - `$in`, `$nin` take an array: equal to one of its values / to none of them (`$nin` also
//!   matches a missing path).
//! - `$exists` takes a boolean: whether the path leads to a value (`null` included).
//! - `$contains`: PostgreSQL's `@>` of the value at the path (see [`crate::containment`]).
//!
//! An unknown operator, an operator with the wrong type of operand, an operator object that
//! mixes operators and plain keys, or an empty path part is an `InvalidInput` error.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::containment::contains;
use crate::document::{compare_numbers, normalize, numbers_equal};
use crate::error::{Error, Result};

/// A parsed filter: its conditions, ANDed. In JSON (as in a serialized
/// [`MemoryQuery`](crate::MemoryQuery)) it is the filter object it was parsed from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Filter {
    conditions: Vec<PathCondition>,
    /// The filter as given (normalized).
    source: Value,
}

impl TryFrom<Value> for Filter {
    type Error = Error;
    fn try_from(value: Value) -> Result<Filter> {
        Filter::parse(&value, "filter")
    }
}

impl From<Filter> for Value {
    fn from(filter: Filter) -> Value {
        filter.source
    }
}

/// One test of the value at one path.
#[derive(Clone, Debug, PartialEq)]
pub struct PathCondition {
    /// The object keys leading to the value, outermost first (never empty).
    pub path: Vec<String>,
    /// What the value must pass.
    pub test: Test,
}

/// What the value at a path must pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// Present and equal to this (never an object: bare objects become one condition per
    /// key, `$eq` objects stay whole).
    Eq(Value),
    /// Missing, or not equal to this.
    Ne(Value),
    /// Present, of the bound's type, and in this relation to it.
    Compare(Comparison, Bound),
    /// Present and equal to one of these.
    In(Vec<Value>),
    /// Missing, or equal to none of these.
    NotIn(Vec<Value>),
    /// Present (`true`) or missing (`false`).
    Exists(bool),
    /// Present and containing this, as `jsonb @>` does.
    Contains(Value),
    /// Present and an object (a bare `{}`).
    IsObject,
}

/// The relation of an ordering operator: value `>` bound, and so on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `$gt`
    Greater,
    /// `$gte`
    GreaterOrEqual,
    /// `$lt`
    Less,
    /// `$lte`
    LessOrEqual,
}

impl Comparison {
    /// Whether a value ordered `order` against the bound is in this relation.
    pub fn admits(self, order: Ordering) -> bool {
        match self {
            Comparison::Greater => order == Ordering::Greater,
            Comparison::GreaterOrEqual => order != Ordering::Less,
            Comparison::Less => order == Ordering::Less,
            Comparison::LessOrEqual => order != Ordering::Greater,
        }
    }

    /// The relation's symbol, as SQL writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }
}

/// The operand of an ordering operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    /// Compared with numbers, as numbers.
    Number(serde_json::Number),
    /// Compared with strings, by code point.
    Text(String),
}

impl Filter {
    /// Parses `filter` (a JSON object); errors name `field`.
    ///
    /// ```
    /// use engram_core::filter::Filter;
    /// use serde_json::json;
    /// let filter = Filter::parse(&json!({"n": {"$gt": 9}, "customer.tier": "gold"}), "filter").unwrap();
    /// assert!(filter.matches(&json!({"n": 10, "customer": {"tier": "gold", "since": 2020}})));
    /// assert!(!filter.matches(&json!({"n": "10", "customer": {"tier": "gold"}})));
    /// let err = Filter::parse(&json!({"n": {"$greater": 9}}), "filter").unwrap_err();
    /// assert!(err.to_string().contains("unknown operator $greater"));
    /// ```
    pub fn parse(filter: &Value, field: &str) -> Result<Filter> {
        let filter = normalize(filter.clone(), field)?;
        let Value::Object(map) = &filter else {
            return Err(Error::invalid(field, "a filter must be a JSON object"));
        };
        let mut conditions = Vec::new();
        parse_object(map, &[], field, &mut conditions)?;
        Ok(Filter {
            conditions,
            source: filter,
        })
    }

    /// The filter as given (normalized): what SQLite's rule function parses.
    pub fn as_json(&self) -> &Value {
        &self.source
    }

    /// The conditions, ANDed, in the filter's key order.
    pub fn conditions(&self) -> &[PathCondition] {
        &self.conditions
    }

    /// A document that every document passing the filter contains (`@>`), for an index of
    /// containment to narrow the candidates by before the filter itself checks them: the
    /// equalities (`$eq` and bare values) and the containments of containers, each at its
    /// path. `None` when the filter has none of these.
    ///
    /// ```
    /// use engram_core::filter::Filter;
    /// use serde_json::json;
    /// let filter = Filter::parse(&json!({"a.b": 1, "a": {"c": [2]}, "n": {"$gt": 3}}), "f").unwrap();
    /// assert_eq!(filter.containment(), Some(json!({"a": {"b": 1, "c": [2]}})));
    /// ```
    pub fn containment(&self) -> Option<Value> {
        let mut document = Map::new();
        for condition in &self.conditions {
            let value = match &condition.test {
                Test::Eq(value) => value,
                // A scalar is contained by an array only at the top of a document.
                Test::Contains(value) if value.is_array() || value.is_object() => value,
                _ => continue,
            };
            merge_at(&mut document, &condition.path, value);
        }
        (!document.is_empty()).then_some(Value::Object(document))
    }

    /// Whether `document` passes every condition: the rule of every operator.
    pub fn matches(&self, document: &Value) -> bool {
        self.conditions
            .iter()
            .all(|condition| condition.test.passes(lookup(document, &condition.path)))
    }
}

impl Test {
    /// Whether `value` (`None`: the path leads nowhere) passes.
    pub fn passes(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Test::Eq(expected), Some(value)) => json_equal(value, expected),
            (Test::Ne(expected), value) => !value.is_some_and(|v| json_equal(v, expected)),
            (Test::Compare(comparison, bound), Some(value)) => {
                let order = match (bound, value) {
                    (Bound::Number(bound), Value::Number(n)) => compare_numbers(n, bound),
                    (Bound::Text(bound), Value::String(s)) => Some(s.as_str().cmp(bound.as_str())),
                    _ => None,
                };
                order.is_some_and(|order| comparison.admits(order))
            }
            (Test::In(values), Some(value)) => values.iter().any(|v| json_equal(value, v)),
            (Test::NotIn(values), value) => {
                !value.is_some_and(|value| values.iter().any(|v| json_equal(value, v)))
            }
            (Test::Exists(present), value) => value.is_some() == *present,
            (Test::Contains(operand), Some(value)) => contains(value, operand),
            (Test::IsObject, Some(value)) => value.is_object(),
            (_, None) => false,
        }
    }
}

/// Puts `value` at `path` in `document`, through objects made on the way; a path already
/// taken by a value that is not an object is left as it is (a filter with both can pass no
/// document, and the containment stays one its first condition implies).
fn merge_at(document: &mut Map<String, Value>, path: &[String], value: &Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = document;
    for key in parents {
        let next = at
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        match next {
            Value::Object(inner) => at = inner,
            _ => return,
        }
    }
    if !at.contains_key(last) {
        at.insert(last.clone(), value.clone());
    }
}

/// The value at `path` in `document`, through objects only.
fn lookup<'d>(document: &'d Value, path: &[String]) -> Option<&'d Value> {
    path.iter()
        .try_fold(document, |value, key| value.as_object()?.get(key))
}

/// JSON equality: same type and value, numbers by decimal value, objects by the same keys
/// with equal values, arrays element by element.
pub fn json_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(l), Value::Number(r)) => numbers_equal(l, r),
        (Value::Array(l), Value::Array(r)) => {
            l.len() == r.len() && l.iter().zip(r).all(|(l, r)| json_equal(l, r))
        }
        (Value::Object(l), Value::Object(r)) => {
            l.len() == r.len()
                && l.iter()
                    .all(|(key, l)| r.get(key).is_some_and(|r| json_equal(l, r)))
        }
        (l, r) => l == r,
    }
}

/// Adds the conditions of the filter object `map` found under `prefix`.
fn parse_object(
    map: &Map<String, Value>,
    prefix: &[String],
    field: &str,
    out: &mut Vec<PathCondition>,
) -> Result<()> {
    for (key, value) in map {
        if key.starts_with('$') {
            return Err(Error::invalid(
                field,
                format!("operator {key} needs a key before it (as in {{\"n\": {{\"{key}\": …}}}})"),
            ));
        }
        let mut path = prefix.to_vec();
        for part in key.split('.') {
            if part.is_empty() {
                return Err(Error::invalid(
                    field,
                    format!("the key '{key}' has an empty path part"),
                ));
            }
            path.push(part.to_string());
        }
        match value {
            Value::Object(inner) if inner.keys().any(|k| k.starts_with('$')) => {
                if let Some(plain) = inner.keys().find(|k| !k.starts_with('$')) {
                    return Err(Error::invalid(
                        field,
                        format!("'{key}' mixes operators with the plain key '{plain}'"),
                    ));
                }
                for (operator, operand) in inner {
                    out.push(PathCondition {
                        path: path.clone(),
                        test: operator_test(operator, operand, field)?,
                    });
                }
            }
            Value::Object(inner) if inner.is_empty() => out.push(PathCondition {
                path,
                test: Test::IsObject,
            }),
            Value::Object(inner) => parse_object(inner, &path, field, out)?,
            value => out.push(PathCondition {
                path,
                test: Test::Eq(value.clone()),
            }),
        }
    }
    Ok(())
}

/// The test of one operator and its operand.
fn operator_test(operator: &str, operand: &Value, field: &str) -> Result<Test> {
    let wrong =
        |wanted: &str| Error::invalid(field, format!("{operator} takes {wanted}, not {operand}"));
    let bound = || match operand {
        Value::Number(n) => Ok(Bound::Number(n.clone())),
        Value::String(s) => Ok(Bound::Text(s.clone())),
        _ => Err(wrong("a number or a string")),
    };
    let list = || match operand {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(wrong("an array")),
    };
    Ok(match operator {
        "$eq" => Test::Eq(operand.clone()),
        "$ne" => Test::Ne(operand.clone()),
        "$gt" => Test::Compare(Comparison::Greater, bound()?),
        "$gte" => Test::Compare(Comparison::GreaterOrEqual, bound()?),
        "$lt" => Test::Compare(Comparison::Less, bound()?),
        "$lte" => Test::Compare(Comparison::LessOrEqual, bound()?),
        "$in" => Test::In(list()?),
        "$nin" => Test::NotIn(list()?),
        "$exists" => match operand {
            Value::Bool(present) => Test::Exists(*present),
            _ => return Err(wrong("true or false")),
        },
        "$contains" => Test::Contains(operand.clone()),
        _ => {
            return Err(Error::invalid(
                field,
                format!(
                    "unknown operator {operator} (known: $eq, $ne, $gt, $gte, $lt, $lte, $in, \
                     $nin, $exists, $contains)"
                ),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hits(filter: Value, document: Value) -> bool {
        Filter::parse(&filter, "filter")
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&document)
    }

    #[test]
    fn bare_values_match_objects_partially_arrays_exactly_scalars_by_value() {
        let doc = json!({"a": {"b": 1, "c": [1, 2]}, "t": true, "n": 1.0, "z": null});
        assert!(hits(json!({"a": {"b": 1}}), doc.clone()));
        assert!(hits(json!({"a": {"c": [1, 2]}}), doc.clone()));
        assert!(!hits(json!({"a": {"c": [2, 1]}}), doc.clone()));
        assert!(!hits(json!({"a": {"c": [1]}}), doc.clone()));
        assert!(hits(json!({"n": 1}), doc.clone()));
        assert!(!hits(json!({"t": 1}), doc.clone()));
        assert!(hits(json!({"z": null}), doc.clone()));
        assert!(!hits(json!({"missing": null}), doc.clone()));
        assert!(hits(json!({"a": {}}), doc.clone()));
        assert!(!hits(json!({"t": {}}), doc.clone()));
        assert!(hits(json!({"a.b": 1}), doc));
    }

    #[test]
    fn numbers_compare_as_numbers_at_any_precision() {
        let doc = json!({"n": 10, "big": 12345678901234567891u64, "s": "10"});
        assert!(hits(json!({"n": {"$gt": 9}}), doc.clone()));
        assert!(hits(json!({"n": {"$gte": 10.0, "$lt": 10.5}}), doc.clone()));
        assert!(!hits(json!({"n": {"$lt": 5}}), doc.clone()));
        assert!(hits(
            json!({"big": {"$gt": 12345678901234567890u64}}),
            doc.clone()
        ));
        // A number against a string, or a string against a number: false, not an error.
        assert!(!hits(json!({"s": {"$gt": 9}}), doc.clone()));
        assert!(!hits(json!({"n": {"$gt": "9"}}), doc.clone()));
        assert!(hits(json!({"s": {"$gt": "1"}}), doc.clone()));
        assert!(!hits(json!({"missing": {"$lt": 100}}), doc));
    }

    #[test]
    fn membership_presence_and_containment() {
        let doc = json!({"tier": "gold", "tags": ["a", "b"], "z": null});
        assert!(hits(
            json!({"tier": {"$in": ["silver", "gold"]}}),
            doc.clone()
        ));
        assert!(!hits(
            json!({"tier": {"$nin": ["silver", "gold"]}}),
            doc.clone()
        ));
        assert!(hits(json!({"missing": {"$nin": ["x"]}}), doc.clone()));
        assert!(!hits(json!({"missing": {"$in": [null]}}), doc.clone()));
        assert!(hits(json!({"z": {"$exists": true}}), doc.clone()));
        assert!(hits(json!({"missing": {"$exists": false}}), doc.clone()));
        assert!(hits(json!({"tags": {"$contains": ["b"]}}), doc.clone()));
        assert!(hits(json!({"tags": {"$contains": "b"}}), doc.clone()));
        assert!(hits(json!({"missing": {"$ne": 1}}), doc.clone()));
        assert!(!hits(json!({"tier": {"$ne": "gold"}}), doc.clone()));
        assert!(hits(json!({"tags": {"$eq": ["a", "b"]}}), doc));
    }

    #[test]
    fn every_passing_document_contains_the_containment() {
        let docs = [
            json!({"a": {"b": 1, "c": [2, 3]}, "n": 5, "t": ["x", "y"]}),
            json!({"a": {"b": 1.0, "c": [2]}, "n": 2, "t": ["x"]}),
            json!({"a": {"b": 2}, "t": "x"}),
        ];
        for filter in [
            json!({"a.b": 1, "a": {"c": [2]}, "n": {"$gt": 3}}),
            json!({"t": {"$contains": ["x"]}, "a.b": {"$eq": 1}}),
            json!({"t": {"$contains": "x"}}),
            json!({"a": 1, "a.b": 1}),
        ] {
            let parsed = Filter::parse(&filter, "filter").unwrap();
            for doc in &docs {
                if let (true, Some(containment)) = (parsed.matches(doc), parsed.containment()) {
                    assert!(contains(doc, &containment), "{doc} passes {filter}");
                }
            }
        }
        assert_eq!(
            Filter::parse(&json!({"t": {"$contains": "x"}}), "f")
                .unwrap()
                .containment(),
            None
        );
    }

    #[test]
    fn bad_filters_are_invalid_input_naming_the_problem() {
        let err = |filter: Value| Filter::parse(&filter, "filter").unwrap_err().to_string();
        assert!(err(json!({"n": {"$gt": true}})).contains("$gt takes a number or a string"));
        assert!(err(json!({"n": {"$in": 1}})).contains("$in takes an array"));
        assert!(err(json!({"n": {"$exists": 1}})).contains("$exists takes true or false"));
        assert!(err(json!({"n": {"$regex": "a"}})).contains("unknown operator $regex"));
        assert!(err(json!({"n": {"$gt": 1, "m": 2}})).contains("mixes operators"));
        assert!(err(json!({"$gt": 1})).contains("needs a key"));
        assert!(err(json!({"a..b": 1})).contains("empty path part"));
        assert!(err(json!([1])).contains("JSON object"));
        let kind = Filter::parse(&json!({"n": {"$nope": 1}}), "filter").unwrap_err();
        assert_eq!(kind.kind(), crate::ErrorKind::InvalidInput);
    }
}
