//! Strategies for memories to store on both backends, queries over them (with containment
//! filters derived from the stored documents) and round-trip cases.

use engram::{NewMemory, Order, Timestamp};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::BoxedStrategy;
use serde_json::Value;
use uuid::Uuid;

use super::doc::{Doc, Escape, Num, Text};
use super::values::{change_last, make_num, object, string, toggle_case, CHARS};

pub(super) const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

/// Timestamps from a small pool so that rows tie, with neighbours one microsecond apart,
/// a date before 1970 and the extremes engram accepts.
pub(super) const TIMES: [i64; 9] = [
    BASE,
    BASE + 1,
    BASE + 1_000_000,
    BASE + 2_000_000,
    BASE + 2_000_001,
    0,
    -315_619_200_000_000, // 1960-01-01
    Timestamp::MIN.as_micros(),
    Timestamp::MAX.as_micros(),
];
pub(super) const USERS: [&str; 6] = ["alice", "Alice", "bob", "b\u{f6}b", "a\"b", "b\\c"];
const NAMESPACES: [&str; 3] = ["default", "work", "Work"];
const THREADS: [&str; 8] = [
    "t1",
    "T1",
    "t2",
    "t\u{1}",
    "t\"q",
    "t\\b",
    "\u{1f600}",
    "t1 ",
];
pub(super) const TIERS: [&str; 4] = ["short_term", "mid_term", "long_term", "t_9"];

/// A memory to store on both backends.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: Uuid,
    pub user: String,
    pub namespace: String,
    pub thread: Option<String>,
    pub tier: String,
    pub summarized: bool,
    pub related: Vec<String>,
    pub created: i64,
    pub updated: i64,
    pub metadata: Doc,
    pub content: String,
    pub score: i32,
}

impl Row {
    /// The memory to insert, with `metadata` (this row's document as parsed).
    pub fn new_memory(&self, metadata: Value) -> NewMemory {
        let mut memory = NewMemory::new(self.user.clone(), self.content.clone())
            .id(self.id)
            .namespace(self.namespace.clone())
            .tier(self.tier.clone())
            .summarized(self.summarized)
            .related_threads(self.related.clone())
            .score(self.score)
            .metadata(metadata)
            .at(
                Timestamp::from_micros(self.created),
                Timestamp::from_micros(self.updated),
            );
        memory.thread_id = self.thread.clone();
        memory
    }
}

pub(super) fn pooled(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    select(pool).prop_map(str::to_string).boxed()
}

/// Thread names: from the pool, sometimes any string.
pub(super) fn thread() -> BoxedStrategy<String> {
    prop_oneof![4 => pooled(&THREADS), 1 => string()].boxed()
}

/// Ids: random, or close together with the high bit set or clear (ordering by id must
/// be the same bytewise order on both backends).
fn id() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        (select(vec![0u128, 0x7f, 0x80, 0xff]), 0u128..16).prop_map(|(hi, lo)| hi << 120 | lo),
    ]
}

pub(super) fn row() -> impl Strategy<Value = Row> {
    (
        (
            id(),
            pooled(&USERS),
            pooled(&NAMESPACES),
            option::of(thread()),
        ),
        (pooled(&TIERS), any::<bool>(), vec(thread(), 0..3)),
        (select(&TIMES[..]), select(&TIMES[..])),
        (object(), string(), 0i32..=100),
    )
        .prop_map(
            |(
                (id, user, namespace, thread),
                (tier, summarized, related),
                (created, updated),
                (metadata, content, score),
            )| Row {
                id: Uuid::from_u128(id),
                user,
                namespace,
                thread,
                tier,
                summarized,
                related,
                created,
                updated,
                metadata,
                content,
                score,
            },
        )
}

/// 1 to 30 slots (15 on average) of rows with distinct ids. A slot can be empty: a
/// failing case shrinks by emptying the slots it does not need, which keeps the
/// positions that derived filters refer to in place.
pub fn rows() -> BoxedStrategy<Vec<Option<Row>>> {
    vec(option::weighted(0.95, row()), 1..30)
        .prop_map(|mut slots| {
            let mut seen = std::collections::BTreeSet::new();
            for row in slots.iter_mut().flatten() {
                while !seen.insert(row.id) {
                    row.id = Uuid::from_u128(row.id.as_u128().wrapping_add(1));
                }
            }
            slots
        })
        .boxed()
}

/// A containment filter for a query: derived from a stored document by a recipe, or
/// random.
#[derive(Clone, Debug)]
pub enum FilterSpec {
    /// The metadata of the row in slot `row % slots.len()` (`{}` when the slot is
    /// empty), walked with [`apply_recipe`].
    Derived { row: usize, recipe: Vec<u8> },
    /// Any object.
    Random(Doc),
}

impl FilterSpec {
    /// The filter document over the rows in `slots`.
    pub fn doc(&self, slots: &[Option<Row>]) -> Doc {
        match self {
            FilterSpec::Derived { row, recipe } => match &slots[row % slots.len()] {
                Some(row) => apply_recipe(&row.metadata, &mut recipe.iter().copied()),
                None => Doc::Obj(vec![]),
            },
            FilterSpec::Random(doc) => doc.clone(),
        }
    }
}

/// Recipe steps: mostly "keep" (1 to 5), sometimes "drop" (0), rarely a change (6 to 8).
/// Shrinking lowers steps toward "drop" and shortens the recipe toward "keep the rest".
pub(super) fn recipe() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![2 => Just(0u8), 12 => 1u8..=5, 1 => 6u8..=8],
        0..24,
    )
}

/// Derives a document from `doc` by consuming one recipe step per object entry, array
/// element and scalar, depth first; when the recipe runs out, the rest is kept as is.
///
/// Object entries: 0 drops it, 6 toggles the case of its key, 7 changes its key's last
/// byte, anything else keeps it. Array elements: 0 drops it, 6 repeats it, 7 moves it to
/// the front, anything else keeps it. Scalars: 6 respells it (same value), 7 changes its
/// value slightly (a number at its 17th digit), 8 changes its type (`true` to `1`,
/// numbers to strings), anything else keeps it.
pub fn apply_recipe(doc: &Doc, recipe: &mut impl Iterator<Item = u8>) -> Doc {
    match doc {
        Doc::Obj(entries) => {
            let mut out = Vec::new();
            for (key, value) in entries {
                let step = recipe.next().unwrap_or(1);
                let key = match step {
                    0 => continue,
                    6 => Text {
                        value: toggle_case(&key.value),
                        escape: key.escape,
                    },
                    7 => Text {
                        value: change_last(&key.value),
                        escape: key.escape,
                    },
                    _ => key.clone(),
                };
                out.push((key, apply_recipe(value, recipe)));
            }
            Doc::Obj(out)
        }
        Doc::Arr(items) => {
            let mut out = Vec::new();
            for item in items {
                let step = recipe.next().unwrap_or(1);
                if step == 0 {
                    continue;
                }
                let derived = apply_recipe(item, recipe);
                match step {
                    6 => out.extend([derived.clone(), derived]),
                    7 => out.insert(0, derived),
                    _ => out.push(derived),
                }
            }
            Doc::Arr(out)
        }
        scalar => match (recipe.next().unwrap_or(1), scalar) {
            (6, Doc::Num(n)) => Doc::Num(Num {
                zeros: (n.zeros + 1) % 3,
                point: (n.point + 2) % 6,
                style: (n.style + 1) % 5,
                ..n.clone()
            }),
            (6, Doc::Str(t)) => Doc::Str(Text {
                value: t.value.clone(),
                escape: match t.escape {
                    Escape::Plain => Escape::NonAscii,
                    Escape::NonAscii => Escape::All,
                    Escape::All => Escape::Plain,
                },
            }),
            (7, Doc::Num(n)) => {
                let digits = format!("{}{}1", n.digits, "0".repeat(15));
                Doc::Num(make_num(n.negative, (digits, n.exponent - 16), (0, 0, 0)))
            }
            (7, Doc::Str(t)) => Doc::Str(Text {
                value: change_last(&t.value),
                escape: t.escape,
            }),
            (7, Doc::Bool(b)) => Doc::Bool(!b),
            (7, Doc::Null) => Doc::Bool(false),
            (8, Doc::Bool(b)) => {
                Doc::Num(make_num(false, ((u8::from(*b)).to_string(), 0), (0, 0, 0)))
            }
            (8, Doc::Num(n)) => Doc::Str(Text {
                value: n.spell(),
                escape: Escape::Plain,
            }),
            (8, Doc::Null) => Doc::Num(make_num(false, ("0".to_string(), 0), (0, 0, 0))),
            _ => scalar.clone(),
        },
    }
}

/// A memory query, as plain data (its filter as JSON text).
#[derive(Clone, Debug)]
pub struct QuerySpec {
    pub user: Option<String>,
    pub namespace: Option<String>,
    pub thread: Option<String>,
    pub tiers: Vec<String>,
    pub summarized: Option<bool>,
    pub created: (Option<i64>, Option<i64>),
    pub updated: (Option<i64>, Option<i64>),
    pub filter: Option<FilterSpec>,
    pub related: Vec<String>,
    pub order: Order,
    pub limit: Option<u64>,
    pub offset: u64,
}

fn range() -> impl Strategy<Value = (Option<i64>, Option<i64>)> {
    let bound = || {
        option::weighted(
            0.5,
            (select(&TIMES[..]), -1i64..=1).prop_map(|(t, d)| t.saturating_add(d)),
        )
    };
    prop_oneof![3 => Just((None, None)), 1 => (bound(), bound())]
}

/// A query: a containment filter alone (mostly derived from a stored document, sometimes
/// random) or combined with the other filters, in any order and page.
fn query() -> BoxedStrategy<QuerySpec> {
    let filter = prop_oneof![
        4 => (0usize..30, recipe())
            .prop_map(|(row, recipe)| Some(FilterSpec::Derived { row, recipe })),
        1 => object().prop_map(|doc| Some(FilterSpec::Random(doc))),
    ]
    .boxed();
    let page = (
        select(vec![
            Order::UpdatedDesc,
            Order::UpdatedAsc,
            Order::CreatedDesc,
            Order::CreatedAsc,
        ]),
        option::weighted(0.6, 0u64..12),
        prop_oneof![3 => Just(0u64), 1 => 0u64..15],
    );
    let alone =
        (filter.clone(), page.clone()).prop_map(|(filter, (order, limit, offset))| QuerySpec {
            user: None,
            namespace: None,
            thread: None,
            tiers: vec![],
            summarized: None,
            created: (None, None),
            updated: (None, None),
            filter,
            related: vec![],
            order,
            limit,
            offset,
        });
    let combined = (
        (
            option::weighted(0.3, pooled(&USERS)),
            option::weighted(0.1, pooled(&NAMESPACES)),
            option::weighted(0.15, thread()),
            prop_oneof![3 => Just(vec![]), 1 => subsequence(TIERS.to_vec(), 1..=3)
                .prop_map(|t| t.into_iter().map(str::to_string).collect())],
        ),
        (
            option::weighted(0.2, any::<bool>()),
            range(),
            range(),
            prop_oneof![1 => Just(None), 2 => filter],
            prop_oneof![3 => Just(vec![]), 1 => vec(thread(), 1..3)],
        ),
        page,
    )
        .prop_map(
            |(
                (user, namespace, thread, tiers),
                (summarized, created, updated, filter, related),
                (order, limit, offset),
            )| QuerySpec {
                user,
                namespace,
                thread,
                tiers,
                summarized,
                created,
                updated,
                filter,
                related,
                order,
                limit,
                offset,
            },
        );
    prop_oneof![2 => alone, 3 => combined].boxed()
}

/// Rows to store and queries over them.
pub fn store_case() -> BoxedStrategy<(Vec<Option<Row>>, Vec<QuerySpec>)> {
    (rows(), vec(query(), 1..7)).boxed()
}

/// A memory for the round-trip property.
#[derive(Clone, Debug)]
pub struct RoundTrip {
    pub metadata: Doc,
    pub content: String,
    pub user: String,
    pub thread: Option<String>,
}

pub fn round_trip_case() -> BoxedStrategy<RoundTrip> {
    let user = prop_oneof![
        pooled(&USERS),
        vec(select(&CHARS[..]), 1..20).prop_map(|cs| cs.into_iter().collect()),
    ];
    let content = prop_oneof![
        string().boxed(),
        vec(select(&CHARS[..]), 0..200)
            .prop_map(|cs| cs.into_iter().collect())
            .boxed(),
    ];
    (object(), content, user, option::of(thread()))
        .prop_map(|(metadata, content, user, thread)| RoundTrip {
            metadata,
            content,
            user,
            thread,
        })
        .boxed()
}
