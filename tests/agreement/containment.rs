//! The containment rules against PostgreSQL's own `jsonb @>`: the pinned cases, and random
//! pairs through the matcher on parsed values and through the SQLite fast path on the
//! documents' text.

use engram_core::containment::{contains, PINNED_CASES};
use engram_core::document::{normalize, MAX_DEPTH};
use engram_core::tape;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::generate::{self, Doc, Escape, Text};
use crate::{check, fail, pg_contains, raw};

/// The cases where a naive matcher goes wrong, each with its expected answer: engram's
/// matcher (on the raw and the normalized document), the SQLite fast path (on the text as
/// written) AND the live PostgreSQL must give it.
#[test]
fn pinned_cases_agree_with_postgres() {
    let cases = PINNED_CASES.iter().copied().chain([
        ("[1E+2]", "100", true),
        ("[15e-1]", "[1.50]", true),
        ("[18446744073709551616]", "[18446744073709551616.0]", true),
        ("[9007199254740992]", "[9007199254740993]", false),
        ("[1e400]", "[1E+400]", true),
        ("[false]", "[0]", false),
        (r#"{"a":"é"}"#, r#"{"a":"e\u0301"}"#, false),
        (r#"{"a":"\u00e9"}"#, r#"{"a":"é"}"#, true),
        (r#"{"a":1,"a":2}"#, r#"{"a":1}"#, false),
    ]);
    let mut wrong = Vec::new();
    for (left, right, expected) in cases {
        let raw_left: Value = serde_json::from_str(left).expect("left is JSON");
        let raw_right: Value = serde_json::from_str(right).expect("right is JSON");
        let norm_left = normalize(raw_left.clone(), "left").expect("left is valid");
        let norm_right = normalize(raw_right.clone(), "right").expect("right is valid");
        let answers = [
            (
                "PostgreSQL",
                pg_contains(left, right).expect("PostgreSQL @>"),
            ),
            ("matcher (raw)", contains(&raw_left, &raw_right)),
            ("matcher (normalized)", contains(&norm_left, &norm_right)),
        ];
        for (who, answer) in answers {
            if answer != expected {
                wrong.push(format!(
                    "{who}: {left} @> {right} is {answer}, expected {expected}"
                ));
            }
        }
        let on_text = tape::contains(left, &raw_right);
        if on_text != Some(expected) {
            wrong.push(format!(
                "fast path: {left} @> {right} is {on_text:?}, expected Some({expected})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ------------------------------------------------------------------------------------------
// Property 1: the matcher against PostgreSQL
// ------------------------------------------------------------------------------------------

/// A generated pair as the containment properties use it: the left side's text, both sides
/// as serde_json reads them and normalized, and PostgreSQL's answer to `left @> right`.
struct Case {
    left_text: String,
    raw_left: Value,
    raw_right: Value,
    norm_left: Value,
    norm_right: Value,
    expected: bool,
}

impl Case {
    fn new(left: &Doc, right: &Doc) -> Result<Case, TestCaseError> {
        let (left_text, right_text) = (left.to_json(), right.to_json());
        let (raw_left, raw_right) = (raw(left)?, raw(right)?);
        let norm_left = normalize(raw_left.clone(), "left").map_err(fail("normalize"))?;
        let norm_right = normalize(raw_right.clone(), "right").map_err(fail("normalize"))?;
        let expected = pg_contains(&left_text, &right_text).map_err(fail("PostgreSQL @>"))?;
        Ok(Case {
            left_text,
            raw_left,
            raw_right,
            norm_left,
            norm_right,
            expected,
        })
    }
}

/// Oracle: PostgreSQL's `SELECT $1::text::jsonb @> $2::text::jsonb` on the live server.
///
/// For random pairs of any JSON values (mostly a left side and a right side derived from it:
/// sub-objects, sub-arrays, reordered and repeated elements, scalars lifted out of arrays,
/// one leaf mutated), `engram_core::containment::contains` gives PostgreSQL's answer both on
/// the documents as spelled (PostgreSQL normalizes its input, the matcher must agree on raw
/// spellings) and on the documents normalized by `engram_core::document::normalize`.
#[test]
fn matcher_agrees_with_postgres() {
    check(
        "tests/proptest-regressions/agreement/matcher.txt",
        generate::pair(),
        |(left, right)| {
            let case = Case::new(&left, &right)?;
            let expected = case.expected;
            proptest::prop_assert_eq!(
                contains(&case.raw_left, &case.raw_right),
                expected,
                "matcher on the raw spelling disagrees with PostgreSQL"
            );
            proptest::prop_assert_eq!(
                contains(&case.norm_left, &case.norm_right),
                expected,
                "matcher on the normalized documents disagrees with PostgreSQL"
            );
            Ok(())
        },
    );
}

/// Whether the SQLite fast path must answer for `doc`'s JSON text: nesting at most
/// [`MAX_DEPTH`] deep, no key starting with `$`, and no `\u` escape of a surrogate (which the
/// generator writes for a character above U+FFFF in a string it escapes). It leaves every
/// other document to serde_json.
fn fast_path_reads(doc: &Doc) -> bool {
    fn escapes_surrogates(text: &Text) -> bool {
        text.escape != Escape::Plain && text.value.chars().any(|c| u32::from(c) > 0xFFFF)
    }
    fn reads(doc: &Doc, depth: usize) -> bool {
        match doc {
            Doc::Null | Doc::Bool(_) | Doc::Num(_) => true,
            Doc::Str(text) => !escapes_surrogates(text),
            Doc::Arr(items) => depth < MAX_DEPTH && items.iter().all(|i| reads(i, depth + 1)),
            Doc::Obj(entries) => {
                depth < MAX_DEPTH
                    && entries.iter().all(|(key, value)| {
                        !key.value.starts_with('$')
                            && !escapes_surrogates(key)
                            && reads(value, depth + 1)
                    })
            }
        }
    }
    reads(doc, 0)
}

/// Oracle: PostgreSQL's `SELECT $1::text::jsonb @> $2::text::jsonb` on the live server.
///
/// On the pairs of [`matcher_agrees_with_postgres`], the SQLite backend's fast path
/// `engram_core::tape::contains`, called on the left side's JSON *text* (never a parsed
/// value) both as generated and in the canonical form engram stores, with the right side as
/// spelled and normalized, answers (`Some`) exactly for the texts it must read (see
/// [`fast_path_reads`]), and its answer is PostgreSQL's. Where it declines, the SQLite
/// function falls back to the matcher that [`matcher_agrees_with_postgres`] checks.
#[test]
fn fast_path_on_text_agrees_with_postgres() {
    check(
        "tests/proptest-regressions/agreement/tape.txt",
        generate::pair(),
        |(left, right)| {
            let case = Case::new(&left, &right)?;
            let expected = case.expected;
            let stored_text = case.norm_left.to_string();
            let texts = [
                (
                    "as generated",
                    case.left_text.as_str(),
                    fast_path_reads(&left),
                ),
                ("as stored", stored_text.as_str(), true),
            ];
            let filters = [("raw", &case.raw_right), ("normalized", &case.norm_right)];
            for (spelling, text, reads) in texts {
                for (filter_form, filter) in filters {
                    let answer = tape::contains(text, filter);
                    proptest::prop_assert_eq!(
                        answer.is_some(),
                        reads,
                        "fast path on the text {} ({}) answered {:?}",
                        spelling,
                        text,
                        answer
                    );
                    if let Some(hit) = answer {
                        proptest::prop_assert_eq!(
                            hit,
                            expected,
                            "fast path on the text {} ({}) with the {} filter {} disagrees with \
                             PostgreSQL",
                            spelling,
                            text,
                            filter_form,
                            filter
                        );
                    }
                }
            }
            Ok(())
        },
    );
}
