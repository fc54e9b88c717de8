//! Memory expiry under random sequences of writes, clock advances, sweeps and reads, on both
//! stores against a model.
//!
//! The model holds the memories by id with their expiry and answers every read itself. Its
//! clock moves in whole hours from the real time a case starts at (`start`); every expiry a
//! case gives is either days before `start` (expired for every read, whatever its time) or
//! half an hour past one of the clock's hours (given as a time, or as a ttl counted from the
//! write), so that no read or sweep judges a memory at the very moment it expires, however
//! long the stores take. Reads that take a time (`query`, `count`, `sweep_at`) are judged at
//! the model's clock or a few hours past it; reads and writes that judge at the real time
//! (`get`, `update`, `delete`, `count_expired`) see the moment just after `start`, before the
//! first half hour, which a case must end within.
//!
//! 1,000 cases by default (each a few dozen statements on each store); `PROPTEST_CASES`
//! overrides, as for every property.

use std::collections::BTreeMap;
use std::time::Duration;

use engram::{
    ErrorKind, EventKind, Memory, MemoryQuery, MemoryUpdate, NewMemory, Order, Store, Timestamp,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestCaseResult, TestRunner};
use uuid::Uuid;

use crate::{fail, fixture, BackendKind, Fixture};

const REGRESSIONS: &str = "tests/proptest-regressions/agreement/lifecycle.txt";

/// Cases when `PROPTEST_CASES` does not say: each case writes to two real stores.
const DEFAULT_CASES: u32 = 1000;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// Ids of the memories a case writes: a small pool, so that writes meet each other.
const SLOTS: u8 = 6;

fn id(slot: u8) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(slot))
}

/// An expiry as a case gives it.
#[derive(Clone, Copy, Debug)]
enum Expiry {
    /// `expires_at` this many days before `start`.
    PastDays(u8),
    /// `expires_at` half an hour past the clock's hour `n`.
    At(u8),
    /// A ttl ending half an hour past the clock's hour `n` (counted from the write, which
    /// happens just after `start`).
    Ttl(u8),
}

/// What an update does to a memory's expiry.
#[derive(Clone, Copy, Debug)]
enum ExpiryChange {
    Set(Expiry),
    Never,
}

/// A read's filters and page.
#[derive(Clone, Debug)]
struct Read {
    user: Option<bool>,
    long_term: Option<bool>,
    order: Order,
    limit: Option<u64>,
    offset: u64,
    include_expired: bool,
    /// `as_of` this many hours past the clock.
    ahead: u8,
}

#[derive(Clone, Debug)]
enum Step {
    Insert {
        slot: u8,
        bob: bool,
        long_term: bool,
        expiry: Option<Expiry>,
    },
    Update {
        slot: u8,
        content: bool,
        expiry: Option<ExpiryChange>,
    },
    Delete(u8),
    /// The clock moves this many hours on.
    Advance(u8),
    /// `sweep_at(clock, batch)`.
    Sweep(u64),
    Get(u8),
    Query(Read),
    CountExpired,
}

fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        1 => (1u8..=3).prop_map(Expiry::PastDays),
        2 => (0u8..8).prop_map(Expiry::At),
        2 => (0u8..8).prop_map(Expiry::Ttl),
    ]
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![
        Just(Order::UpdatedDesc),
        Just(Order::UpdatedAsc),
        Just(Order::CreatedDesc),
        Just(Order::CreatedAsc),
    ]
}

fn read() -> impl Strategy<Value = Read> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::weighted(0.3, any::<bool>()),
        order(),
        proptest::option::of(0u64..5),
        prop_oneof![3 => Just(0u64), 1 => 1u64..3],
        proptest::bool::weighted(0.25),
        prop_oneof![3 => Just(0u8), 1 => 1u8..=3],
    )
        .prop_map(
            |(user, long_term, order, limit, offset, include_expired, ahead)| Read {
                user,
                long_term,
                order,
                limit,
                offset,
                include_expired,
                ahead,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    let slot = || 0..SLOTS;
    prop_oneof![
        6 => (slot(), any::<bool>(), any::<bool>(), proptest::option::weighted(0.7, expiry()))
            .prop_map(|(slot, bob, long_term, expiry)| Step::Insert {
                slot,
                bob,
                long_term,
                expiry,
            }),
        3 => (
            slot(),
            any::<bool>(),
            proptest::option::of(prop_oneof![
                3 => expiry().prop_map(ExpiryChange::Set),
                1 => Just(ExpiryChange::Never),
            ]),
        )
            .prop_map(|(slot, content, expiry)| Step::Update {
                slot,
                content,
                expiry,
            }),
        1 => slot().prop_map(Step::Delete),
        3 => (1u8..=3).prop_map(Step::Advance),
        2 => (1u64..=4).prop_map(Step::Sweep),
        2 => slot().prop_map(Step::Get),
        5 => read().prop_map(Step::Query),
        1 => Just(Step::CountExpired),
    ]
}

fn case() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..32)
}

/// When a modelled memory expires.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// Before `start`: expired for every read.
    Past(Timestamp),
    /// Half an hour past the clock's hour `hour`: at `exact` when the write gave a time,
    /// somewhere in `window` when it gave a ttl.
    Hour {
        hour: i64,
        exact: Option<Timestamp>,
        window: (Timestamp, Timestamp),
    },
}

impl Due {
    /// Whether it has expired at the clock's hour `hour` (which the real time stays before,
    /// short of the first half hour, so that `hour` 0 is also how `get`, `update`, `delete`
    /// and `count_expired` judge).
    fn expired_at(self, hour: i64) -> bool {
        match self {
            Due::Past(_) => true,
            Due::Hour { hour: due, .. } => hour > due,
        }
    }

    /// Whether `found` is this expiry as the store reports it.
    fn matches(self, found: Timestamp) -> bool {
        match self {
            Due::Past(at)
            | Due::Hour {
                exact: Some(at), ..
            } => found == at,
            Due::Hour {
                exact: None,
                window: (from, until),
                ..
            } => from <= found && found <= until,
        }
    }
}

/// When a modelled memory was last written: as given by its insert, or by the model's count
/// of updates (an update moves `updated_at` to the real time, later than every time given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Written {
    Given(Timestamp),
    Updated(u64),
}

#[derive(Clone, Debug)]
struct Modelled {
    user: &'static str,
    tier: &'static str,
    content: String,
    created: Timestamp,
    written: Written,
    due: Option<Due>,
}

impl Modelled {
    fn expired_at(&self, hour: i64) -> bool {
        self.due.is_some_and(|due| due.expired_at(hour))
    }

    /// Whether `memory` is this one as stored (the fields the case sets).
    fn check(&self, name: &str, what: &str, memory: &Memory) -> TestCaseResult {
        prop_assert_eq!(&memory.content, &self.content, "{} {} content", name, what);
        prop_assert_eq!(&memory.user_id, self.user, "{} {} user", name, what);
        prop_assert_eq!(&memory.tier, self.tier, "{} {} tier", name, what);
        match (self.due, memory.expires_at) {
            (None, None) => {}
            (Some(due), Some(found)) if due.matches(found) => {}
            (due, found) => {
                return Err(TestCaseError::fail(format!(
                    "{name} {what} expires_at {found:?}, the model {due:?}"
                )))
            }
        }
        Ok(())
    }
}

/// The model: the stored memories by id (expired ones until a sweep), the clock's hour, and
/// how many expiry events each id should have in its history.
struct Model {
    start: Timestamp,
    hour: i64,
    memories: BTreeMap<Uuid, Modelled>,
    expired_events: BTreeMap<Uuid, usize>,
    updates: u64,
}

impl Model {
    fn clock(&self) -> Timestamp {
        Timestamp::from_micros(self.start.as_micros() + self.hour * HOUR)
    }

    /// Whether memory `id` is there for a read at the real time.
    fn live_now(&self, id: &Uuid) -> bool {
        self.memories.get(id).is_some_and(|m| !m.expired_at(0))
    }

    /// The expiry a write gives, as a time or a ttl, and how the model knows it; `written`
    /// brackets the real time of the write on both stores.
    fn due(&self, expiry: Expiry, written: (Timestamp, Timestamp)) -> Due {
        let start = self.start.as_micros();
        match expiry {
            Expiry::PastDays(days) => {
                Due::Past(Timestamp::from_micros(start - i64::from(days) * DAY))
            }
            Expiry::At(hour) => {
                let at = Timestamp::from_micros(start + i64::from(hour) * HOUR + HOUR / 2);
                Due::Hour {
                    hour: i64::from(hour),
                    exact: Some(at),
                    window: (at, at),
                }
            }
            Expiry::Ttl(hour) => {
                let ttl = Duration::from_secs(ttl_secs(hour));
                Due::Hour {
                    hour: i64::from(hour),
                    exact: None,
                    window: (written.0.saturating_add(ttl), written.1.saturating_add(ttl)),
                }
            }
        }
    }

    /// The model's answer to `read`: the page's ids and the count.
    fn answer(&self, read: &Read) -> (Vec<Uuid>, u64) {
        let at = self.hour + i64::from(read.ahead);
        let mut matching: Vec<(&Uuid, &Modelled)> = self
            .memories
            .iter()
            .filter(|(_, m)| read.user.is_none_or(|bob| m.user == user(bob)))
            .filter(|(_, m)| read.long_term.is_none_or(|long| m.tier == tier(long)))
            .filter(|(_, m)| read.include_expired || !m.expired_at(at))
            .collect();
        let count = matching.len() as u64;
        match read.order {
            Order::CreatedAsc | Order::CreatedDesc => {
                matching.sort_by_key(|(id, m)| (m.created, **id));
            }
            Order::UpdatedAsc | Order::UpdatedDesc => {
                matching.sort_by_key(|(id, m)| (m.written, **id));
            }
        }
        if matches!(read.order, Order::CreatedDesc | Order::UpdatedDesc) {
            matching.reverse();
        }
        let page = matching
            .into_iter()
            .skip(read.offset as usize)
            .take(read.limit.map_or(usize::MAX, |limit| limit as usize))
            .map(|(id, _)| *id)
            .collect();
        (page, count)
    }
}

fn user(bob: bool) -> &'static str {
    if bob {
        "bob"
    } else {
        "alice"
    }
}

fn tier(long_term: bool) -> &'static str {
    if long_term {
        "long_term"
    } else {
        "short_term"
    }
}

/// The ttl that ends half an hour past the clock's hour `hour`, for a write just after
/// `start`.
fn ttl_secs(hour: u8) -> u64 {
    u64::from(hour) * 3600 + 1800
}

/// The two store fixtures.
struct Stores<'a> {
    sqlite: &'a Fixture,
    postgres: &'a Fixture,
}

/// Oracle: the model above, never the stores.
///
/// Each case starts from two empty stores and runs up to 31 steps on both: inserts (with no
/// expiry, one days past, or one some hours ahead as a time or a ttl; an id already stored,
/// expired or not, is a conflict), updates of content and/or expiry (set as a time or a ttl,
/// or cleared; an absent or expired memory is not found), deletes (`true` only for a memory
/// a read still saw), clock advances, sweeps at the clock in batches of 1 to 4, `get`,
/// `count_expired`, and queries with their counts (by user and/or tier, in any order, any
/// page, `as_of` the clock or up to 3 hours past it, `include_expired` a quarter of the
/// time). Every answer must be the model's: each write's result, each page's ids (and each
/// memory's content, user, tier and expiry), each count, and each sweep's `deleted` (the
/// memories expired at the clock) and `batches` (that count over the batch size, rounded up);
/// after each sweep, every memory it deleted has one more `expire` event in its history.
#[test]
fn expiry_sweeps_and_reads_agree_with_the_model_on_both_stores() {
    let sqlite = fixture(BackendKind::Sqlite);
    let postgres = fixture(BackendKind::Postgres);
    let stores = Stores {
        sqlite: &sqlite,
        postgres: &postgres,
    };
    let mut config = crate::config(REGRESSIONS);
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&case(), |steps| stores.run(&steps)) {
        panic!("{failure}\n{runner}");
    }
}

impl Stores<'_> {
    fn both(&self) -> [(&'static str, &Store); 2] {
        [
            ("SQLite", &self.sqlite.store),
            ("PostgreSQL", &self.postgres.store),
        ]
    }

    fn run(&self, steps: &[Step]) -> TestCaseResult {
        self.sqlite.execute(
            "DELETE FROM memories; DELETE FROM memory_history; DELETE FROM memory_index_queue; \
             DELETE FROM memory_index_postings; DELETE FROM memory_index_refs;",
        );
        self.postgres
            .execute("DELETE FROM memories; DELETE FROM memory_history;");
        let mut model = Model {
            start: Timestamp::now(),
            hour: 0,
            memories: BTreeMap::new(),
            expired_events: BTreeMap::new(),
            updates: 0,
        };
        for (index, step) in steps.iter().enumerate() {
            let context = format!("step {index} ({step:?}) at hour {}", model.hour);
            self.step(&mut model, index, step)
                .map_err(|e| TestCaseError::fail(format!("{context}: {e}")))?;
        }
        let elapsed = Timestamp::now().as_micros() - model.start.as_micros();
        prop_assert!(
            elapsed < HOUR / 2,
            "the case took {} s: past the first expiry, the model no longer holds",
            elapsed / 1_000_000
        );
        Ok(())
    }

    fn step(&self, model: &mut Model, index: usize, step: &Step) -> TestCaseResult {
        match *step {
            Step::Insert {
                slot,
                bob,
                long_term,
                expiry,
            } => {
                let id = id(slot);
                let created =
                    Timestamp::from_micros(model.start.as_micros() - 30 * DAY + index as i64);
                let content = format!("m{slot} written at step {index}");
                let mut memory = NewMemory::new(user(bob), content.clone())
                    .id(id)
                    .tier(tier(long_term))
                    .at(created, created);
                memory = match expiry {
                    None => memory,
                    Some(Expiry::Ttl(hour)) => memory.ttl(Duration::from_secs(ttl_secs(hour))),
                    Some(expiry) => match model.due(expiry, (model.start, model.start)) {
                        Due::Past(at)
                        | Due::Hour {
                            exact: Some(at), ..
                        } => memory.expires_at(at),
                        Due::Hour { exact: None, .. } => unreachable!("a ttl"),
                    },
                };
                let conflict = model.memories.contains_key(&id);
                let before = Timestamp::now();
                for (name, store) in self.both() {
                    match store.insert(memory.clone()) {
                        Err(e) if conflict && e.kind() == ErrorKind::Conflict => {}
                        Err(e) => return Err(TestCaseError::fail(format!("{name} insert: {e}"))),
                        Ok(_) if conflict => {
                            return Err(TestCaseError::fail(format!(
                                "{name} insert of a stored id succeeded"
                            )))
                        }
                        Ok(_) => {}
                    }
                }
                if !conflict {
                    let due = expiry.map(|e| model.due(e, (before, Timestamp::now())));
                    model.memories.insert(
                        id,
                        Modelled {
                            user: user(bob),
                            tier: tier(long_term),
                            content,
                            created,
                            written: Written::Given(created),
                            due,
                        },
                    );
                }
            }
            Step::Update {
                slot,
                content,
                expiry,
            } => {
                let id = id(slot);
                let text = format!("m{slot} updated at step {index}");
                let mut update = MemoryUpdate::default();
                if content || expiry.is_none() {
                    update = update.content(text.clone());
                }
                update = match expiry {
                    None => update,
                    Some(ExpiryChange::Never) => update.never_expire(),
                    Some(ExpiryChange::Set(Expiry::Ttl(hour))) => {
                        update.ttl(Duration::from_secs(ttl_secs(hour)))
                    }
                    Some(ExpiryChange::Set(expiry)) => {
                        match model.due(expiry, (model.start, model.start)) {
                            Due::Past(at)
                            | Due::Hour {
                                exact: Some(at), ..
                            } => update.expires_at(at),
                            Due::Hour { exact: None, .. } => unreachable!("a ttl"),
                        }
                    }
                };
                let found = model.live_now(&id);
                let before = Timestamp::now();
                let mut updated = Vec::new();
                for (name, store) in self.both() {
                    match store.update(id, update.clone()) {
                        Err(e) if !found && e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(TestCaseError::fail(format!("{name} update: {e}"))),
                        Ok(_) if !found => {
                            return Err(TestCaseError::fail(format!(
                                "{name} update of an absent or expired memory succeeded"
                            )))
                        }
                        Ok(memory) => updated.push((name, memory)),
                    }
                }
                let written = (before, Timestamp::now());
                if found {
                    model.updates += 1;
                    let updates = model.updates;
                    let due = match expiry {
                        None => None,
                        Some(ExpiryChange::Never) => Some(None),
                        Some(ExpiryChange::Set(e)) => Some(Some(model.due(e, written))),
                    };
                    let stored = model.memories.get_mut(&id).expect("found");
                    if content || expiry.is_none() {
                        stored.content = text;
                    }
                    if let Some(due) = due {
                        stored.due = due;
                    }
                    stored.written = Written::Updated(updates);
                    for (name, memory) in &updated {
                        stored.check(name, "updated memory", memory)?;
                    }
                }
            }
            Step::Delete(slot) => {
                let id = id(slot);
                let seen = model.live_now(&id);
                model.memories.remove(&id);
                for (name, store) in self.both() {
                    let deleted = store.delete(id).map_err(fail("delete"))?;
                    prop_assert_eq!(deleted, seen, "{} delete", name);
                }
            }
            Step::Advance(hours) => model.hour += i64::from(hours),
            Step::Sweep(batch) => {
                let hour = model.hour;
                let expired: Vec<Uuid> = model
                    .memories
                    .iter()
                    .filter(|(_, m)| m.expired_at(hour))
                    .map(|(id, _)| *id)
                    .collect();
                let deleted = expired.len() as u64;
                for id in &expired {
                    model.memories.remove(id);
                    *model.expired_events.entry(*id).or_default() += 1;
                }
                for (name, store) in self.both() {
                    let sweep = store
                        .sweep_at(model.clock(), batch)
                        .map_err(fail("sweep_at"))?;
                    prop_assert_eq!(sweep.deleted, deleted, "{} sweep deleted", name);
                    prop_assert_eq!(
                        sweep.batches,
                        deleted.div_ceil(batch),
                        "{} sweep batches",
                        name
                    );
                    for id in &expired {
                        let events = store.history(*id).map_err(fail("history"))?;
                        let expires = events
                            .iter()
                            .filter(|event| event.kind == EventKind::Expire)
                            .count();
                        prop_assert_eq!(
                            expires,
                            model.expired_events[id],
                            "{} expire events of {}",
                            name,
                            id
                        );
                    }
                }
            }
            Step::Get(slot) => {
                let id = id(slot);
                let expected = model.live_now(&id).then(|| &model.memories[&id]);
                for (name, store) in self.both() {
                    let found = store.get(id).map_err(fail("get"))?;
                    match (expected, found) {
                        (None, None) => {}
                        (Some(modelled), Some(memory)) => modelled.check(name, "get", &memory)?,
                        (expected, found) => {
                            return Err(TestCaseError::fail(format!(
                                "{name} get: {found:?}, the model {expected:?}"
                            )))
                        }
                    }
                }
            }
            Step::Query(ref read) => {
                let (ids, count) = model.answer(read);
                let query = memory_query(model, read);
                for (name, store) in self.both() {
                    let found = store.query(query.clone()).map_err(fail("query"))?;
                    let found_ids: Vec<Uuid> = found.iter().map(|m| m.id).collect();
                    prop_assert_eq!(&found_ids, &ids, "{} query ids", name);
                    for memory in &found {
                        model.memories[&memory.id].check(name, "query", memory)?;
                    }
                    let counted = store.count(query.clone()).map_err(fail("count"))?;
                    prop_assert_eq!(counted, count, "{} count", name);
                }
            }
            Step::CountExpired => {
                let expired = model.memories.values().filter(|m| m.expired_at(0)).count();
                for (name, store) in self.both() {
                    let counted = store.count_expired().map_err(fail("count_expired"))?;
                    prop_assert_eq!(counted, expired as u64, "{} count_expired", name);
                }
            }
        }
        Ok(())
    }
}

/// The store query of `read` at the model's clock.
fn memory_query(model: &Model, read: &Read) -> MemoryQuery {
    let mut query = MemoryQuery::new()
        .order(read.order)
        .offset(read.offset)
        .as_of(Timestamp::from_micros(
            model.clock().as_micros() + i64::from(read.ahead) * HOUR,
        ));
    if let Some(bob) = read.user {
        query = query.user(user(bob));
    }
    if let Some(long_term) = read.long_term {
        query = query.tier(tier(long_term));
    }
    if let Some(limit) = read.limit {
        query = query.limit(limit);
    }
    if read.include_expired {
        query = query.include_expired();
    }
    query
}
