//! Metadata filters with operators and paths: numbers ordered against PostgreSQL's own
//! `numeric`, and random filters on both stores against the Rust rule and each other.

use std::sync::atomic::{AtomicU64, Ordering};

use engram::{ErrorKind, MemoryQuery, NewMemory, Timestamp};
use engram_core::document::{compare_numbers, numbers_equal};
use engram_core::filter::Filter;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use uuid::Uuid;

use crate::generate::{self, Doc, Escape, Text};
use crate::{check, fail, fixture, raw, BackendKind};

/// The same number respelled (trailing zeros, decimal point, exponent style), negated
/// (`-0` for zero), scaled by ten, or off by one unit at the 17th significant digit (equal
/// as `f64`): numbers that are equal, or nearly, in other spellings.
fn number_variant(number: &Doc) -> BoxedStrategy<Doc> {
    let Doc::Num(n) = number else {
        return Just(number.clone()).boxed();
    };
    let n = n.clone();
    let respelled = {
        let n = n.clone();
        (0u8..3, 0u8..6, 0u8..5).prop_map(move |(zeros, point, style)| {
            let mut m = n.clone();
            (m.zeros, m.point, m.style) = (zeros, point, style);
            Doc::Num(m)
        })
    };
    let mut negated = n.clone();
    negated.negative = !negated.negative;
    let mut scaled = n.clone();
    scaled.exponent += 1;
    let mut nudged = n.clone();
    nudged.digits = format!("{}{}1", n.digits.trim_start_matches('0'), "0".repeat(15))
        .trim_start_matches('0')
        .to_string();
    nudged.exponent -= 16;
    prop_oneof![
        4 => respelled,
        1 => Just(Doc::Num(negated)),
        1 => Just(Doc::Num(scaled)),
        1 => Just(Doc::Num(nudged)),
    ]
    .boxed()
}

/// [`generate::any_number`] with its exponent folded into `numeric`'s range (so that every
/// store accepts it): big integers, long fractions, `1e400`, `-0`, in every spelling.
fn stored_number() -> BoxedStrategy<Doc> {
    generate::any_number()
        .prop_map(|mut n| {
            if !(-40..=400).contains(&n.exponent) {
                n.exponent = n.exponent.rem_euclid(60) - 30;
            }
            Doc::Num(n)
        })
        .boxed()
}

/// A JSON number text as serde_json reads it (spelling kept).
fn number_of(text: &str) -> Result<serde_json::Number, TestCaseError> {
    match serde_json::from_str(text).map_err(fail("number text"))? {
        Value::Number(n) => Ok(n),
        other => Err(TestCaseError::fail(format!("{text} read as {other}"))),
    }
}

/// Oracle: PostgreSQL's `numeric` order, `$1::text::numeric > / = $2::text::numeric`.
///
/// Random pairs of number texts (any spelling of [`generate::any_number`]: integers past
/// `u64`, long fractions, exponents near and beyond `numeric`'s limits, `-0`; half of the
/// pairs a number and a respelled, negated, scaled or nudged copy of it) order the same by
/// `compare_numbers` and `numbers_equal` as by PostgreSQL. Pairs PostgreSQL refuses (out of
/// `numeric`'s range; engram refuses the same, see [`crate::documents`]) are skipped.
#[test]
fn numbers_order_as_postgres_numeric_does() {
    let statement = crate::postgres()
        .client
        .prepare("SELECT ($1::text::numeric > $2::text::numeric), ($1::text::numeric = $2::text::numeric)")
        .expect("prepare the numeric comparison");
    let number = || generate::any_number().prop_map(Doc::Num);
    let pair = prop_oneof![
        (number(), number()),
        number().prop_flat_map(|n| (Just(n.clone()), number_variant(&n))),
    ];
    let compared = AtomicU64::new(0);
    let regressions = "tests/proptest-regressions/agreement/filter_numbers.txt";
    check(regressions, pair, |(left, right)| {
        let (left, right) = (left.to_json(), right.to_json());
        let answer = {
            let oracle = &mut *crate::postgres();
            oracle.client.query_one(&statement, &[&left, &right])
        };
        let (greater, equal): (bool, bool) = match answer {
            Ok(row) => (row.get(0), row.get(1)),
            Err(e) if e.as_db_error().is_some() => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("PostgreSQL: {e}"))),
        };
        compared.fetch_add(1, Ordering::Relaxed);
        let expected = match (greater, equal) {
            (true, _) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Equal,
            (false, false) => std::cmp::Ordering::Less,
        };
        let (l, r) = (number_of(&left)?, number_of(&right)?);
        prop_assert_eq!(
            compare_numbers(&l, &r),
            Some(expected),
            "compare_numbers({}, {})",
            left,
            right
        );
        prop_assert_eq!(
            numbers_equal(&l, &r),
            equal,
            "numbers_equal({}, {})",
            left,
            right
        );
        Ok(())
    });
    let compared = compared.into_inner();
    if crate::config(regressions).cases >= 100 {
        assert!(compared > 0, "no pair was in numeric's range");
    }
}

/// Strings that order differently by bytes, code points and case, or look alike.
const STRINGS: [&str; 12] = [
    "", "a", "b", "A", "ab", "10", "9", "é", "e\u{301}", "😀", "\u{ffff}", "true",
];

fn text(value: &str, escape: Escape) -> Text {
    Text {
        value: value.to_string(),
        escape,
    }
}

fn escape() -> impl Strategy<Value = Escape> {
    prop_oneof![
        4 => Just(Escape::Plain),
        1 => Just(Escape::NonAscii),
        1 => Just(Escape::All),
    ]
}

/// The number and string pools of one case, from which documents and filters both draw, so
/// that filters meet equal values (in other spellings) as often as different ones.
#[derive(Clone, Debug)]
struct Pools {
    numbers: Vec<Doc>,
    strings: Vec<&'static str>,
}

impl Pools {
    /// A pool number, as drawn or varied.
    fn number(&self) -> BoxedStrategy<Doc> {
        let numbers = self.numbers.clone();
        prop_oneof![
            2 => select(numbers.clone()),
            1 => select(numbers).prop_flat_map(|n| number_variant(&n)),
        ]
        .boxed()
    }

    /// A pool string in some escape.
    fn string(&self) -> BoxedStrategy<Doc> {
        (select(self.strings.clone()), escape())
            .prop_map(|(s, e)| Doc::Str(text(s, e)))
            .boxed()
    }
}

/// A scalar: null, a boolean, a pool number or a pool string.
fn scalar(pools: &Pools) -> BoxedStrategy<Doc> {
    prop_oneof![
        1 => Just(Doc::Null),
        2 => any::<bool>().prop_map(Doc::Bool),
        5 => pools.number(),
        4 => pools.string(),
    ]
    .boxed()
}

/// A value: scalars, arrays and objects (keys `k` and `j`) two levels deep.
fn value(pools: &Pools) -> BoxedStrategy<Doc> {
    scalar(pools)
        .prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..3).prop_map(Doc::Arr),
                vec(((select(&["k", "j"][..]), escape()), inner), 0..3).prop_map(|entries| {
                    Doc::Obj(
                        entries
                            .into_iter()
                            .map(|((k, e), v)| (text(k, e), v))
                            .collect(),
                    )
                }),
            ]
        })
        .boxed()
}

/// A metadata document: maybe `n` (mostly a number), `s` (mostly a string), `a` (mostly an
/// array), `o` (mostly an object with `k` and `j`), each sometimes of any other type;
/// sometimes `n` repeated (the last one counts).
fn document(pools: &Pools) -> BoxedStrategy<Doc> {
    let object =
        vec(((select(&["k", "j"][..]), escape()), value(pools)), 0..3).prop_map(|entries| {
            Doc::Obj(
                entries
                    .into_iter()
                    .map(|((k, e), v)| (text(k, e), v))
                    .collect(),
            )
        });
    let o = prop_oneof![3 => object, 1 => value(pools)];
    let n = prop_oneof![3 => pools.number(), 1 => value(pools)];
    let s = prop_oneof![3 => pools.string(), 1 => value(pools)];
    let a = prop_oneof![3 => vec(scalar(pools), 0..4).prop_map(Doc::Arr), 1 => value(pools)];
    (
        option::weighted(0.8, n),
        option::weighted(0.8, s),
        option::weighted(0.6, a),
        option::weighted(0.8, o),
        option::weighted(0.1, value(pools)),
        escape(),
    )
        .prop_map(|(n, s, a, o, again, e)| {
            let entries = [("n", n), ("s", s), ("a", a), ("o", o), ("n", again)];
            Doc::Obj(
                entries
                    .into_iter()
                    .filter_map(|(k, v)| Some((text(k, e), v?)))
                    .collect(),
            )
        })
        .boxed()
}

/// A generated piece of a filter and whether `Filter::parse` must accept it (the
/// generator's own account of the rules in [`engram_core::filter`]).
type Piece = (Doc, bool);

/// An object from entries (key, value, valid); repeated keys stay in the text and only
/// the last of each counts for validity, as JSON readers keep the last.
fn object_piece(entries: Vec<(Text, Piece)>) -> Piece {
    let valid = entries.iter().enumerate().all(|(i, (key, (_, valid)))| {
        *valid
            || entries[i + 1..]
                .iter()
                .any(|(later, _)| later.value == key.value)
    });
    let doc = Doc::Obj(entries.into_iter().map(|(k, (v, _))| (k, v)).collect());
    (doc, valid)
}

const UNKNOWN_OPERATORS: [&str; 6] = ["$regex", "$GT", "$", "$size", "$eqq", "$not"];

/// Values of the type the documents mostly hold at `path` (so that conditions often
/// match): pool numbers at `n`, pool strings at `s`, arrays of scalars at `a`, objects of
/// scalars at `o`, scalars elsewhere.
fn fitting(pools: &Pools, path: &str) -> BoxedStrategy<Doc> {
    match path {
        "n" => pools.number(),
        "s" => pools.string(),
        "a" => vec(scalar(pools), 0..3).prop_map(Doc::Arr).boxed(),
        "o" => vec(((select(&["k", "j"][..]), escape()), scalar(pools)), 0..3)
            .prop_map(|entries| {
                Doc::Obj(
                    entries
                        .into_iter()
                        .map(|((k, e), v)| (text(k, e), v))
                        .collect(),
                )
            })
            .boxed(),
        _ => scalar(pools),
    }
}

/// Operands of the ordering operators: of the type at `path` (`n`, `s`) mostly, of the
/// other type sometimes.
fn bound(pools: &Pools, path: &str) -> BoxedStrategy<Doc> {
    let any_string = (select(&STRINGS[..]), escape()).prop_map(|(s, e)| Doc::Str(text(s, e)));
    match path {
        "n" => prop_oneof![4 => pools.number(), 1 => pools.string()].boxed(),
        "s" => prop_oneof![3 => pools.string(), 1 => any_string, 1 => pools.number()].boxed(),
        _ => prop_oneof![3 => pools.number(), 2 => pools.string(), 1 => any_string].boxed(),
    }
}

/// One operator with an operand of its type (mostly fitting what documents hold at
/// `path`), of another type, or an unknown operator.
fn operator(pools: &Pools, path: &str) -> BoxedStrategy<(Text, Piece)> {
    let op = |name: &'static str| escape().prop_map(move |e| text(name, e));
    let operand = prop_oneof![2 => fitting(pools, path), 1 => value(pools)];
    let bound = bound(pools, path);
    let not_bound = prop_oneof![
        Just(Doc::Null),
        any::<bool>().prop_map(Doc::Bool),
        vec(scalar(pools), 0..2).prop_map(Doc::Arr),
        Just(Doc::Obj(vec![])),
    ];
    let comparison = select(&["$gt", "$gte", "$lt", "$lte"][..]);
    let list = vec(operand.clone(), 0..4).prop_map(Doc::Arr);
    let membership = select(&["$in", "$nin"][..]);
    prop_oneof![
        6 => (op("$eq"), operand.clone()).prop_map(|(o, v)| (o, (v, true))),
        4 => (op("$ne"), operand.clone()).prop_map(|(o, v)| (o, (v, true))),
        16 => (comparison.clone(), escape(), bound).prop_map(|(o, e, v)| (text(o, e), (v, true))),
        1 => (comparison, escape(), not_bound).prop_map(|(o, e, v)| (text(o, e), (v, false))),
        8 => (membership.clone(), escape(), list).prop_map(|(o, e, v)| (text(o, e), (v, true))),
        1 => (membership, escape(), scalar(pools)).prop_map(|(o, e, v)| (text(o, e), (v, false))),
        4 => (op("$exists"), any::<bool>()).prop_map(|(o, b)| (o, (Doc::Bool(b), true))),
        1 => (op("$exists"), scalar(pools))
            .prop_map(|(o, v)| { let ok = matches!(v, Doc::Bool(_)); (o, (v, ok)) }),
        5 => (op("$contains"), operand).prop_map(|(o, v)| (o, (v, true))),
        1 => (select(&UNKNOWN_OPERATORS[..]), escape(), value(pools))
            .prop_map(|(o, e, v)| (text(o, e), (v, false))),
    ]
    .boxed()
}

/// An operator object (`{"$gt": 1, "$lt": 9}`), sometimes with a plain key mixed in
/// (invalid).
fn operators(pools: &Pools, path: &str) -> BoxedStrategy<Piece> {
    (
        vec(operator(pools, path), 1..3),
        option::weighted(0.05, (escape(), scalar(pools))),
    )
        .prop_map(|(mut entries, plain)| {
            let mixed = plain.is_some();
            if let Some((e, v)) = plain {
                entries.push((text("k", e), (v, true)));
            }
            let (doc, valid) = object_piece(entries);
            (doc, valid && !mixed)
        })
        .boxed()
}

/// What a filter key asks of its path: a bare scalar, a bare array, a bare object (`{}`,
/// or keys `k`/`j` with their own conditions), or operators.
fn condition(pools: &Pools, path: &str) -> BoxedStrategy<Piece> {
    let bare_scalar =
        prop_oneof![2 => fitting(pools, path), 1 => scalar(pools)].prop_map(|v| (v, true));
    let bare_array = vec(value(pools), 0..3).prop_map(|v| (Doc::Arr(v), true));
    let inner = prop_oneof![
        2 => scalar(pools).prop_map(|v| (v, true)),
        2 => operators(pools, "o.k"),
        1 => Just((Doc::Obj(vec![]), true)),
    ];
    let bare_object = vec(((select(&["k", "j"][..]), escape()), inner), 0..3).prop_map(|entries| {
        object_piece(
            entries
                .into_iter()
                .map(|((k, e), piece)| (text(k, e), piece))
                .collect(),
        )
    });
    prop_oneof![
        3 => bare_scalar,
        1 => bare_array,
        2 => bare_object,
        6 => operators(pools, path),
    ]
    .boxed()
}

/// Paths: the documents' keys, through objects (`o.k`), through non-objects (`n.k`, `a.k`)
/// and to nowhere (`missing`); invalid ones (an empty part, an operator with no key) rarely.
const PATHS: [&str; 5] = ["n", "s", "a", "o", "o.k"];
const ODD_PATHS: [&str; 7] = ["o.j", "o.k.k", "n.k", "a.k", "s.k", "missing", "missing.k"];
const INVALID_PATHS: [&str; 5] = ["o..k", ".n", "n.", "$gt", "$exists"];

/// A filter: a few conditions ANDed, sometimes a non-object (invalid).
fn filter(pools: &Pools) -> BoxedStrategy<Piece> {
    let key = prop_oneof![
        30 => (select(&PATHS[..]), escape()).prop_map(|(p, e)| (text(p, e), true)),
        10 => (select(&ODD_PATHS[..]), escape()).prop_map(|(p, e)| (text(p, e), true)),
        1 => (select(&INVALID_PATHS[..]), escape()).prop_map(|(p, e)| (text(p, e), false)),
    ];
    let owned = pools.clone();
    let entry = key.prop_flat_map(move |key| {
        let condition = condition(&owned, &key.0.value);
        (Just(key), condition)
    });
    let entries = prop_oneof![
        6 => vec(entry.clone(), 1..2),
        3 => vec(entry.clone(), 2..3),
        1 => vec(entry, 0..4),
    ];
    let object = entries.prop_map(|entries| {
        object_piece(
            entries
                .into_iter()
                .map(|((key, key_valid), (doc, valid))| (key, (doc, key_valid && valid)))
                .collect(),
        )
    });
    prop_oneof![
        30 => object,
        1 => value(pools).prop_map(|v| { let ok = matches!(v, Doc::Obj(_)); (v, ok) }),
    ]
    .boxed()
}

/// One case: the pools, 1 to 8 documents, up to 10 filters.
fn filter_case() -> impl Strategy<Value = (Vec<Doc>, Vec<Piece>)> {
    let strings = proptest::sample::subsequence(&STRINGS[..], 1..4);
    (vec(stored_number(), 1..4), strings).prop_flat_map(|(numbers, strings)| {
        let pools = Pools { numbers, strings };
        (vec(document(&pools), 1..9), vec(filter(&pools), 1..11))
    })
}

const REGRESSIONS: &str = "tests/proptest-regressions/agreement/filters.txt";

/// How many filters `Filter::parse` refused, and how many of the others selected none,
/// some or all of a case's documents.
#[derive(Default)]
struct Tally {
    refused: AtomicU64,
    none: AtomicU64,
    some: AtomicU64,
    all: AtomicU64,
}

impl Tally {
    fn add(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Oracles: the Rust rule, `Filter::matches` over the documents as inserted, and PostgreSQL
/// itself (the PostgreSQL store renders each test as SQL; SQLite runs the Rust rule).
///
/// Each case inserts 1 to 8 random metadata documents (keys `n`, `s`, `a`, `o` with `o.k`,
/// values drawn from a small per-case pool of numbers in many spellings and of strings,
/// nulls, booleans, arrays, objects) into both stores, emptied first, and runs up to 10
/// random filters (the empty filter `{}`; bare scalars, arrays and objects incl. `{}`;
/// dotted paths through objects, through non-objects and to missing keys; every operator
/// with operands of the matching and of other types; several conditions ANDed, repeated
/// keys) through `query` and `count`: both stores give the model's ids and count. The
/// generator knows which filters break the rules (unknown operators, wrong operand types,
/// mixed operator objects, empty path parts, operators with no key, non-objects):
/// `Filter::parse` refuses exactly those, with `InvalidInput`, and a query read from JSON
/// with such a `metadata_filter` is refused too. At 100 cases or more, refused filters and
/// filters selecting none, some and all of the documents must each occur.
#[test]
fn filters_select_what_the_rule_selects_on_both_stores() {
    let sqlite = fixture(BackendKind::Sqlite);
    let postgres = fixture(BackendKind::Postgres);
    let stores = [("SQLite", &sqlite.store), ("PostgreSQL", &postgres.store)];
    let tally = Tally::default();
    check(REGRESSIONS, filter_case(), |(documents, filters)| {
        sqlite.execute(
            "DELETE FROM memories; DELETE FROM memory_index_queue; \
                 DELETE FROM memory_index_postings; DELETE FROM memory_index_refs;",
        );
        postgres.execute("DELETE FROM memories");
        let mut inserted = Vec::with_capacity(documents.len());
        let mut memories = Vec::with_capacity(documents.len());
        for (i, document) in documents.iter().enumerate() {
            let id = Uuid::from_u128(i as u128 + 1);
            let metadata = raw(document)?;
            memories.push(
                NewMemory::new("u", format!("m{i}"))
                    .id(id)
                    .metadata(metadata.clone())
                    .at(Timestamp::from_micros(0), Timestamp::from_micros(1)),
            );
            inserted.push((id, metadata));
        }
        for (name, store) in stores {
            store
                .insert_many(memories.clone())
                .map_err(|e| TestCaseError::fail(format!("insert into {name}: {e}")))?;
        }
        for (filter_doc, valid) in &filters {
            let source = raw(filter_doc)?;
            let filter = match Filter::parse(&source, "filter") {
                Ok(filter) => filter,
                Err(e) => {
                    prop_assert!(
                        !valid,
                        "parse refused the valid filter {:?}: {}",
                        filter_doc,
                        e
                    );
                    prop_assert_eq!(
                        e.kind(),
                        ErrorKind::InvalidInput,
                        "error kind for {:?}",
                        filter_doc
                    );
                    // (`null` there is no filter at all.)
                    let query = serde_json::json!({ "metadata_filter": source });
                    prop_assert!(
                        source.is_null() || serde_json::from_value::<MemoryQuery>(query).is_err(),
                        "a query read from JSON took the invalid filter {:?}",
                        filter_doc
                    );
                    tally.add(&tally.refused);
                    continue;
                }
            };
            prop_assert!(*valid, "parse accepted the invalid filter {:?}", filter_doc);
            let expected: Vec<Uuid> = inserted
                .iter()
                .filter(|(_, metadata)| filter.matches(metadata))
                .map(|(id, _)| *id)
                .collect();
            tally.add(match expected.len() {
                0 => &tally.none,
                n if n == inserted.len() => &tally.all,
                _ => &tally.some,
            });
            let query = MemoryQuery::new().filter(filter);
            for (name, store) in stores {
                let mut ids: Vec<Uuid> = store
                    .query(query.clone())
                    .map_err(|e| TestCaseError::fail(format!("{name} query: {e}")))?
                    .iter()
                    .map(|m| m.id)
                    .collect();
                ids.sort();
                let count = store
                    .count(query.clone())
                    .map_err(|e| TestCaseError::fail(format!("{name} count: {e}")))?;
                prop_assert_eq!(&ids, &expected, "{} ids for filter {:?}", name, filter_doc);
                prop_assert_eq!(
                    count,
                    expected.len() as u64,
                    "{} count for filter {:?}",
                    name,
                    filter_doc
                );
            }
        }
        Ok(())
    });
    let [refused, none, some, all] =
        [&tally.refused, &tally.none, &tally.some, &tally.all].map(|n| n.load(Ordering::Relaxed));
    eprintln!(
        "filters property: {refused} filters refused; of the others {none} selected no \
         document, {some} some, {all} every one"
    );
    if crate::config(REGRESSIONS).cases >= 100 {
        assert!(
            refused > 0 && none > 0 && some > 0 && all > 0,
            "every kind of answer must occur: {refused} refused, {none} none, {some} some, {all} all"
        );
    }
}
