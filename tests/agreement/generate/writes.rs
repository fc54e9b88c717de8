//! Strategies for the containment-index property: a pool of memories, a sequence of writes
//! over it (engram's and raw SQL), and queries after each write whose filters come from the
//! stored documents, from a list of edge cases or at random.

use engram::Order;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;
use uuid::Uuid;

use super::doc::{Doc, Escape, Text};
use super::memories::{pooled, recipe, row, thread, FilterSpec, Row, BASE, TIERS, USERS};
use super::values::{make_num, object};

/// One write, applied to both stores and to the model. Rows are named by their position in
/// the case's pool (taken modulo its length, so that shrinking the pool keeps ops valid).
#[derive(Clone, Debug)]
pub enum Op {
    /// `Store::insert` of a pool row (a conflict when its id is stored).
    Insert(usize),
    /// `Store::insert_many` of pool rows (all or nothing).
    InsertMany(Vec<usize>),
    /// `Store::import` of pool rows, each maybe with other metadata and related threads
    /// than the pool's: an id already stored is skipped and keeps its own values.
    Import(Vec<(usize, Option<Doc>, Option<Vec<String>>)>),
    /// `Store::update` of a pool row's id (not found when it is not stored) with new
    /// metadata, new related threads or both.
    Update {
        row: usize,
        metadata: Option<Doc>,
        related: Option<Vec<String>>,
    },
    /// `Store::delete` of a pool row's id.
    Delete(usize),
    /// `DELETE FROM memories WHERE id = '…'` on a direct connection, past engram.
    RawDelete(usize),
    /// `Store::run_policies_at` with one policy: expire `tier` to `next` after `expire_secs`
    /// as of `now`, and trim content to `max_chars`. Tiers and content are not indexed.
    Policy {
        tier: String,
        next: String,
        expire_secs: u64,
        max_chars: u32,
        now: i64,
    },
}

/// A related thread to ask for: one of the anchor memory's (by position; of any stored
/// memory when it has none) or any thread, most likely one no memory has.
#[derive(Clone, Debug)]
pub enum ThreadPick {
    Stored(usize),
    Any(String),
}

/// A user to ask for: the anchor memory's, or any.
#[derive(Clone, Debug)]
pub enum UserPick {
    Anchor,
    Any(String),
}

/// A query of the index property: a containment filter (derived from the anchor, one of
/// the stored memories, or an edge case, or random), related threads any-of, maybe a user
/// or a thread, a page in creation order (the model knows creation times; `updated_at`
/// moves to the clock on update). Taking the filter, the user and the threads from one
/// memory makes queries that match something.
#[derive(Clone, Debug)]
pub struct IndexQuery {
    /// The stored memory (by position, modulo their number) that derived parts come from.
    pub anchor: usize,
    pub filter: Option<FilterSpec>,
    pub related: Vec<ThreadPick>,
    pub user: Option<UserPick>,
    pub thread: Option<String>,
    pub order: Order,
    pub limit: Option<u64>,
    pub offset: u64,
}

/// A case: the pool of memories (distinct ids), the ones inserted first (one
/// `insert_many`), the writes, each followed by its queries, and the queries at the end.
#[derive(Clone, Debug)]
pub struct IndexCase {
    pub pool: Vec<Row>,
    pub initial: Vec<usize>,
    pub steps: Vec<(Op, Vec<IndexQuery>)>,
    pub last: Vec<IndexQuery>,
}

fn number(negative: bool, digits: &str, exponent: i64, spelling: (u8, u8, u8)) -> Doc {
    Doc::Num(make_num(negative, (digits.to_string(), exponent), spelling))
}

fn text(value: &str) -> Text {
    Text {
        value: value.to_string(),
        escape: Escape::Plain,
    }
}

fn object_of(entries: Vec<(&str, Doc)>) -> Doc {
    Doc::Obj(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

/// Values where the index's keys are easy to get wrong: one number in several spellings
/// (`1`, `1.0`, `1e0`, `10e-1`), zero as `0`, `-0` and `0.0`, `true` and `false` beside `1`
/// and `0`, `"1"`, `null`, empty containers, nested arrays, arrays of objects.
pub fn edge_values() -> Vec<Doc> {
    let one = || number(false, "1", 0, (0, 0, 0));
    vec![
        one(),
        number(false, "1", 0, (1, 1, 0)), // 1.0
        number(false, "1", 0, (0, 0, 1)), // 1e0
        number(false, "1", 0, (1, 0, 1)), // 10e-1
        number(false, "0", 0, (0, 0, 0)), // 0
        number(true, "0", 0, (0, 0, 0)),  // -0
        number(false, "0", 0, (1, 1, 0)), // 0.0
        number(false, "2", 0, (0, 0, 0)), // 2
        Doc::Bool(true),
        Doc::Bool(false),
        Doc::Null,
        Doc::Str(text("1")),
        Doc::Arr(vec![]),
        Doc::Obj(vec![]),
        Doc::Arr(vec![one()]),
        Doc::Arr(vec![Doc::Arr(vec![one()])]),
        Doc::Arr(vec![Doc::Arr(vec![])]),
        Doc::Arr(vec![Doc::Obj(vec![])]),
        Doc::Arr(vec![object_of(vec![("b", one())])]),
        Doc::Arr(vec![
            object_of(vec![("b", number(false, "1", 0, (1, 1, 0)))]),
            Doc::Bool(true),
        ]),
        object_of(vec![("b", one())]),
        object_of(vec![("b", Doc::Arr(vec![Doc::Bool(true)]))]),
    ]
}

/// Small objects over the keys `a` and `b` with [`edge_values`] (so that stored documents
/// and filters meet on them), `{}` included.
pub fn edge_object() -> BoxedStrategy<Doc> {
    let key = select(vec!["a", "b"]).prop_map(text);
    vec((key, select(edge_values())), 0..3)
        .prop_map(Doc::Obj)
        .boxed()
}

/// The filters the property always tries somewhere: `{}`, `{"a": []}`, `{"a": {}}`, number
/// spellings, `true` against `1`, nested arrays.
fn edge_filter() -> BoxedStrategy<Doc> {
    let fixed: Vec<Doc> = std::iter::once(Doc::Obj(vec![]))
        .chain(edge_values().into_iter().map(|v| object_of(vec![("a", v)])))
        .collect();
    prop_oneof![2 => select(fixed), 1 => edge_object()].boxed()
}

/// Metadata: any object, or one of the edge objects.
fn metadata() -> BoxedStrategy<Doc> {
    prop_oneof![3 => object(), 2 => edge_object()].boxed()
}

fn threads() -> BoxedStrategy<Vec<String>> {
    vec(thread(), 0..3).boxed()
}

/// 1 to 6 memories with distinct ids, their metadata sometimes an edge object.
fn pool() -> BoxedStrategy<Vec<Row>> {
    vec((row(), option::weighted(0.4, edge_object())), 1..7)
        .prop_map(|rows| {
            let mut seen = std::collections::BTreeSet::new();
            rows.into_iter()
                .map(|(mut row, edge)| {
                    if let Some(edge) = edge {
                        row.metadata = edge;
                    }
                    while !seen.insert(row.id) {
                        row.id = Uuid::from_u128(row.id.as_u128().wrapping_add(1));
                    }
                    row
                })
                .collect()
        })
        .boxed()
}

fn op() -> BoxedStrategy<Op> {
    let slot = || 0usize..6;
    let update = prop_oneof![
        metadata().prop_map(|m| (Some(m), None)),
        threads().prop_map(|t| (None, Some(t))),
        (metadata(), threads()).prop_map(|(m, t)| (Some(m), Some(t))),
    ];
    let policy = (
        pooled(&TIERS),
        pooled(&TIERS),
        select(vec![0u64, 1, 86_400]),
        0u32..4,
        select(vec![
            BASE,
            BASE + 3_000_000,
            engram::Timestamp::MAX.as_micros(),
        ]),
    )
        .prop_map(|(tier, next, expire_secs, max_chars, now)| Op::Policy {
            tier,
            next,
            expire_secs,
            max_chars,
            now,
        });
    prop_oneof![
        3 => slot().prop_map(Op::Insert),
        2 => vec(slot(), 1..4).prop_map(Op::InsertMany),
        2 => vec(
            (slot(), option::weighted(0.6, metadata()), option::weighted(0.3, threads())),
            1..4,
        )
        .prop_map(Op::Import),
        4 => (slot(), update).prop_map(|(row, (metadata, related))| Op::Update {
            row,
            metadata,
            related,
        }),
        2 => slot().prop_map(Op::Delete),
        3 => slot().prop_map(Op::RawDelete),
        1 => policy,
    ]
    .boxed()
}

/// A filter: derived from a stored document (as the store property derives them; which one
/// is the query's anchor), an edge case, or any object.
fn filter() -> BoxedStrategy<FilterSpec> {
    prop_oneof![
        4 => recipe().prop_map(|recipe| FilterSpec::Derived { row: 0, recipe }),
        3 => edge_filter().prop_map(FilterSpec::Random),
        1 => object().prop_map(FilterSpec::Random),
    ]
    .boxed()
}

/// A query. Small limits over broad filters make the SQLite store scan in order rather than
/// read the index; counts, pages without a limit and narrow filters read the index; a user
/// makes it weigh the user's rows against the candidates; a thread keeps it off the index.
fn query() -> BoxedStrategy<IndexQuery> {
    let pick = prop_oneof![
        2 => (0usize..4).prop_map(ThreadPick::Stored),
        1 => thread().prop_map(ThreadPick::Any),
    ];
    let user = prop_oneof![
        2 => Just(UserPick::Anchor),
        1 => pooled(&USERS).prop_map(UserPick::Any),
    ];
    (
        (
            0usize..8,
            option::weighted(0.85, filter()),
            prop_oneof![3 => Just(vec![]), 1 => vec(pick, 1..3)],
        ),
        (option::weighted(0.3, user), option::weighted(0.1, thread())),
        (
            select(vec![Order::CreatedDesc, Order::CreatedAsc]),
            option::weighted(0.6, prop_oneof![1 => Just(0u64), 6 => 1u64..4]),
            prop_oneof![3 => Just(0u64), 1 => 0u64..4],
        ),
    )
        .prop_map(
            |((anchor, filter, related), (user, thread), (order, limit, offset))| IndexQuery {
                anchor,
                filter: filter.map(|filter| match filter {
                    FilterSpec::Derived { recipe, .. } => FilterSpec::Derived {
                        row: anchor,
                        recipe,
                    },
                    random => random,
                }),
                related,
                user,
                thread,
                order,
                limit,
                offset,
            },
        )
        .boxed()
}

/// A pool of up to 6 memories, most inserted at the start, 1 to 6 writes with up to 2
/// queries after each, and 1 to 3 queries at the end.
pub fn index_case() -> BoxedStrategy<IndexCase> {
    pool()
        .prop_flat_map(|pool| {
            let n = pool.len();
            (
                Just(pool),
                vec(prop::bool::weighted(0.75), n),
                vec((op(), vec(query(), 0..3)), 1..7),
                vec(query(), 1..4),
            )
        })
        .prop_map(|(pool, initial, steps, last)| IndexCase {
            pool,
            initial: (0..initial.len()).filter(|&i| initial[i]).collect(),
            steps,
            last,
        })
        .boxed()
}
