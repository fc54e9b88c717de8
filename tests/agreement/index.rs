//! SQLite's containment index under random sequences of writes, against a model and
//! PostgreSQL.
//!
//! The oracle is twofold. A model in Rust (the rows by id, updated as each write says the
//! stores should) answers every query by a full scan with engram's own matcher,
//! [`engram_core::containment::contains`] (itself checked against PostgreSQL's `@>` by the
//! [`containment`](crate::containment) properties); and a live PostgreSQL store, whose GIN
//! index PostgreSQL maintains, gets the same writes and must give the same answers. The
//! SQLite store must agree with both on every query and count, whether its query plan read
//! the index's candidates or scanned without them, and `Store::check_index` must find its
//! index sound after every write: after engram's writes with nothing queued, after a raw
//! `DELETE` past engram with the deleted memories queued and left out of the check.
//!
//! 2,000 cases by default; `PROPTEST_CASES=20000 cargo test --test agreement index` is the
//! longer run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use engram::{ErrorKind, IndexCheck, MemoryUpdate, Store, TierPolicy, Timestamp};
use engram_core::index::{filter_keys, memory_keys, related_thread_key};
use proptest::prop_assert_eq;
use proptest::test_runner::{TestCaseError, TestCaseResult};
use uuid::Uuid;

use crate::generate::{self, Doc, IndexQuery, Op, QuerySpec, Row, ThreadPick, UserPick};
use crate::stores::{expected_ids, memory_query};
use crate::{check, fail, fixture, raw, BackendKind, Fixture, TestConnection};

const REGRESSIONS: &str = "tests/proptest-regressions/agreement/index.txt";

/// The rows each store should hold, by id.
type Model = BTreeMap<Uuid, Row>;

/// How many queries (and counts) the SQLite store answered from the index's candidates and
/// how many without, by the rule its query path documents (see [`Stores::index_plan`]).
#[derive(Default)]
struct Plans {
    indexed: AtomicU64,
    scanned: AtomicU64,
}

impl Plans {
    fn tally(&self, indexed: bool) {
        let counter = if indexed {
            &self.indexed
        } else {
            &self.scanned
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The two store fixtures (each a store and a direct connection) and the plan tally.
struct Stores<'a> {
    sqlite: &'a Fixture,
    postgres: &'a Fixture,
    plans: &'a Plans,
}

/// Oracle: the model's full scan with engram's matcher, and PostgreSQL.
///
/// Each case starts from two empty stores (SQLite's index tables emptied too), inserts some
/// of a small pool of memories and applies 1 to 6 random writes to both stores and the
/// model: `insert`, `insert_many` and `import` (an id already stored keeps its own values),
/// `update` of metadata and/or related threads, `delete`, a raw SQL `DELETE` on a direct
/// connection and a tier policy run. Each write's result must be what the model predicts
/// (a conflict, not found, how many imported), SQLite's `check_index` must be sound (nothing
/// missing, nothing extra; nothing queued after an engram write, the raw deletes' memories
/// queued after those), and the queries after it (containment filters derived from the
/// stored documents, edge cases such as `{}`, `{"a": []}`, `{"a": {}}`, `1` / `1.0` /
/// `1e0`, `-0` / `0.0`, `true` against `1`, `[[1]]`, `[{"b": 1}]`, and random objects;
/// related threads any-of, stored or not; sometimes a user or a thread; pages of every size
/// in creation order) must give the model's ids and count on both stores. At the end the
/// index must be sound, and after one more engram write nothing is queued.
#[test]
fn the_sqlite_index_keeps_answers_exact_through_every_write() {
    let sqlite = fixture(BackendKind::Sqlite);
    let postgres = fixture(BackendKind::Postgres);
    let plans = Plans::default();
    let stores = Stores {
        sqlite: &sqlite,
        postgres: &postgres,
        plans: &plans,
    };
    check(REGRESSIONS, generate::index_case(), |case| {
        stores.run(&case)
    });
    let (indexed, scanned) = (
        plans.indexed.load(Ordering::Relaxed),
        plans.scanned.load(Ordering::Relaxed),
    );
    eprintln!(
        "index property: of the queries and counts, {indexed} read the index's candidates and \
         {scanned} did not (by the rule of the SQLite query path)"
    );
    if crate::config(REGRESSIONS).cases >= 100 {
        assert!(
            indexed > 0 && scanned > 0,
            "both query plans must be exercised: {indexed} indexed, {scanned} not"
        );
    }
}

impl Stores<'_> {
    fn both(&self) -> [(&'static str, &Store); 2] {
        [
            ("SQLite", &self.sqlite.store),
            ("PostgreSQL", &self.postgres.store),
        ]
    }

    fn run(&self, case: &generate::IndexCase) -> TestCaseResult {
        self.sqlite.execute(
            "DELETE FROM memories; DELETE FROM memory_index_queue; \
             DELETE FROM memory_index_postings; DELETE FROM memory_index_refs;",
        );
        self.postgres.execute("DELETE FROM memories");
        self.check_index("at the start", Some(0))?;
        let pool = &case.pool;
        let mut model = Model::new();
        if !case.initial.is_empty() {
            let rows: Vec<&Row> = case.initial.iter().map(|&i| &pool[i]).collect();
            for (name, store) in self.both() {
                let memories = memories(&rows)?;
                store
                    .insert_many(memories)
                    .map_err(|e| TestCaseError::fail(format!("{name} initial insert: {e}")))?;
            }
            model.extend(rows.into_iter().map(|row| (row.id, row.clone())));
            self.check_index("after the first insert", Some(0))?;
        }
        // Memories deleted past engram since its last write: queued for the index.
        let mut pending = 0u64;
        for (step, (op, queries)) in case.steps.iter().enumerate() {
            let context = format!("after step {step} ({op:?})");
            let applied = self.apply(op, pool, &mut model)?;
            let queued = match applied {
                Applied::Written => Some(0),
                Applied::Refused => None,
                Applied::Raw { deleted } => Some(pending + u64::from(deleted)),
            };
            let found = self.check_index(&context, queued)?;
            // A refused write (rolled back, or committed with nothing to change) left the
            // queue as it was or applied it, nothing else.
            proptest::prop_assert!(
                queued.is_some() || found.queued == pending || found.queued == 0,
                "SQLite queue {}: {} queued, {} before",
                context,
                found.queued,
                pending
            );
            pending = found.queued;
            for query in queries {
                self.query(&model, query, pending, &context)?;
            }
        }
        self.check_index("after the last step", Some(pending))?;
        for query in &case.last {
            self.query(&model, query, pending, "after the last step")?;
        }
        // Any write applies the queue; a delete of an id never stored writes nothing else.
        let mut absent = Uuid::from_u128(0x0190_0000_0000_7000_8000_dead_beef_0000);
        while pool.iter().any(|row| row.id == absent) {
            absent = Uuid::from_u128(absent.as_u128() + 1);
        }
        for (name, store) in self.both() {
            let deleted = store
                .delete(absent)
                .map_err(|e| TestCaseError::fail(format!("{name} delete: {e}")))?;
            prop_assert_eq!(deleted, false, "{} deleted an id never stored", name);
        }
        self.check_index("after one more write", Some(0))?;
        for query in &case.last {
            self.query(&model, query, 0, "after one more write")?;
        }
        Ok(())
    }

    /// Applies `op` to both stores and the model, checking each store's result against the
    /// model's prediction.
    fn apply(&self, op: &Op, pool: &[Row], model: &mut Model) -> Result<Applied, TestCaseError> {
        let slot = |i: usize| &pool[i % pool.len()];
        match op {
            Op::Insert(i) => {
                let row = slot(*i);
                let conflict = model.contains_key(&row.id);
                for (name, store) in self.both() {
                    let result = store.insert(row.new_memory(raw(&row.metadata)?));
                    expect_refusal(name, "insert", result.err(), conflict, ErrorKind::Conflict)?;
                }
                if conflict {
                    return Ok(Applied::Refused);
                }
                model.insert(row.id, row.clone());
            }
            Op::InsertMany(slots) => {
                let rows = distinct(slots.iter().map(|&i| slot(i).clone()));
                let conflict = rows.iter().any(|row| model.contains_key(&row.id));
                let refs: Vec<&Row> = rows.iter().collect();
                for (name, store) in self.both() {
                    match store.insert_many(memories(&refs)?) {
                        Ok(ids) => {
                            let expected: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
                            prop_assert_eq!(&ids, &expected, "{} insert_many ids", name);
                            expect_refusal(
                                name,
                                "insert_many",
                                None,
                                conflict,
                                ErrorKind::Conflict,
                            )?;
                        }
                        Err(e) => expect_refusal(
                            name,
                            "insert_many",
                            Some(e),
                            conflict,
                            ErrorKind::Conflict,
                        )?,
                    }
                }
                if conflict {
                    return Ok(Applied::Refused);
                }
                model.extend(rows.into_iter().map(|row| (row.id, row)));
            }
            Op::Import(items) => {
                let rows = distinct(items.iter().map(|(i, metadata, related)| {
                    let mut row = slot(*i).clone();
                    if let Some(metadata) = metadata {
                        row.metadata = metadata.clone();
                    }
                    if let Some(related) = related {
                        row.related = related.clone();
                    }
                    row
                }));
                let new: Vec<Row> = rows
                    .iter()
                    .filter(|row| !model.contains_key(&row.id))
                    .cloned()
                    .collect();
                let refs: Vec<&Row> = rows.iter().collect();
                for (name, store) in self.both() {
                    let imported = store
                        .import(memories(&refs)?)
                        .map_err(|e| TestCaseError::fail(format!("{name} import: {e}")))?;
                    prop_assert_eq!(imported, new.len() as u64, "{} import count", name);
                }
                model.extend(new.into_iter().map(|row| (row.id, row)));
            }
            Op::Update {
                row,
                metadata,
                related,
            } => {
                let id = slot(*row).id;
                let mut update = MemoryUpdate::default();
                if let Some(metadata) = metadata {
                    update = update.metadata(raw(metadata)?);
                }
                if let Some(related) = related {
                    update = update.related_threads(related.clone());
                }
                let missing = !model.contains_key(&id);
                for (name, store) in self.both() {
                    let result = store.update(id, update.clone());
                    expect_refusal(name, "update", result.err(), missing, ErrorKind::NotFound)?;
                }
                let Some(stored) = model.get_mut(&id) else {
                    return Ok(Applied::Refused);
                };
                if let Some(metadata) = metadata {
                    stored.metadata = metadata.clone();
                }
                if let Some(related) = related {
                    stored.related = related.clone();
                }
            }
            Op::Delete(i) => {
                let id = slot(*i).id;
                let existed = model.remove(&id).is_some();
                for (name, store) in self.both() {
                    let deleted = store
                        .delete(id)
                        .map_err(|e| TestCaseError::fail(format!("{name} delete: {e}")))?;
                    prop_assert_eq!(deleted, existed, "{} delete", name);
                }
            }
            Op::RawDelete(i) => {
                let id = slot(*i).id;
                let existed = model.remove(&id).is_some();
                // A uuid literal that both SQLite's text ids and PostgreSQL's uuid accept.
                let sql = format!("DELETE FROM memories WHERE id = '{id}'");
                self.sqlite.execute(&sql);
                self.postgres.execute(&sql);
                return Ok(Applied::Raw { deleted: existed });
            }
            Op::Policy {
                tier,
                next,
                expire_secs,
                max_chars,
                now,
            } => {
                let policy = TierPolicy::new(tier.clone())
                    .expire_after(Duration::from_secs(*expire_secs), next.clone())
                    .max_content_chars(*max_chars);
                let mut reports = Vec::new();
                for (name, store) in self.both() {
                    let report = store
                        .run_policies_at(
                            std::slice::from_ref(&policy),
                            Timestamp::from_micros(*now),
                        )
                        .map_err(|e| TestCaseError::fail(format!("{name} policies: {e}")))?;
                    reports.push(report);
                }
                prop_assert_eq!(&reports[0], &reports[1], "policy reports differ");
            }
        }
        Ok(Applied::Written)
    }

    /// SQLite's index check: sound, with `queued` memories queued when given; PostgreSQL's
    /// is all zeros. Returns SQLite's.
    fn check_index(&self, context: &str, queued: Option<u64>) -> Result<IndexCheck, TestCaseError> {
        let on_sqlite = self
            .sqlite
            .store
            .check_index()
            .map_err(fail("SQLite check_index"))?;
        proptest::prop_assert!(
            on_sqlite.is_sound(),
            "SQLite index not sound {}: {:?}",
            context,
            on_sqlite
        );
        if let Some(queued) = queued {
            prop_assert_eq!(on_sqlite.queued, queued, "SQLite queue {}", context);
        }
        let on_pg = self
            .postgres
            .store
            .check_index()
            .map_err(fail("PostgreSQL check_index"))?;
        prop_assert_eq!(on_pg, IndexCheck::default(), "PostgreSQL check_index");
        Ok(on_sqlite)
    }

    /// Runs `query` (and its count) on both stores and compares them with the model's
    /// full scan.
    fn query(
        &self,
        model: &Model,
        query: &IndexQuery,
        queued: u64,
        context: &str,
    ) -> TestCaseResult {
        let rows: Vec<Row> = model.values().cloned().collect();
        let (spec, filter) = resolve(query, &rows);
        let (ids, count) = expected_ids(&rows, &spec, filter.as_ref())?;
        let memory_query = memory_query(&spec, filter.as_ref())?;
        let (page_indexed, count_indexed) =
            self.index_plan(&rows, &spec, filter.as_ref(), queued)?;
        self.plans.tally(page_indexed);
        self.plans.tally(count_indexed);
        let describe = || format!("{context}: query {spec:?} with filter {filter:?}");
        for (name, store) in self.both() {
            let found: Vec<Uuid> = store
                .query(memory_query.clone())
                .map_err(|e| TestCaseError::fail(format!("{name} query: {e}")))?
                .iter()
                .map(|m| m.id)
                .collect();
            let counted = store
                .count(memory_query.clone())
                .map_err(|e| TestCaseError::fail(format!("{name} count: {e}")))?;
            prop_assert_eq!(&found, &ids, "{} ids vs the model, {}", name, describe());
            prop_assert_eq!(
                counted,
                count,
                "{} count vs the model, {}",
                name,
                describe()
            );
        }
        Ok(())
    }

    /// Whether the SQLite store reads the index's candidates for this query's page and for
    /// its count, by the rule of its query path (`index_plan` in engram-sqlite's
    /// store): only to tell that both plans are exercised, never to judge an answer. C is
    /// the number of candidates (memories with every key of the filter and a key of a
    /// related thread, plus the queued ones), N the highest ref.
    fn index_plan(
        &self,
        rows: &[Row],
        spec: &QuerySpec,
        filter: Option<&Doc>,
        queued: u64,
    ) -> Result<(bool, bool), TestCaseError> {
        let all_of = filter
            .map(raw)
            .transpose()?
            .map(|filter| filter_keys(&filter))
            .unwrap_or_default();
        let any_of: Vec<_> = spec.related.iter().map(|t| related_thread_key(t)).collect();
        if spec.thread.is_some() || (all_of.is_empty() && any_of.is_empty()) {
            return Ok((false, false));
        }
        let mut candidates = queued;
        for row in rows {
            let keys = memory_keys(&raw(&row.metadata)?, &row.related);
            if all_of.iter().all(|k| keys.contains(k))
                && (any_of.is_empty() || any_of.iter().any(|k| keys.contains(k)))
            {
                candidates += 1;
            }
        }
        if let Some(user) = &spec.user {
            let theirs = rows.iter().filter(|row| &row.user == user).count() as u64;
            let indexed = theirs >= candidates;
            return Ok((indexed, indexed));
        }
        let page = match spec.limit {
            None => true,
            Some(limit) => {
                let highest = match &*self
                    .sqlite
                    .conn
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                {
                    TestConnection::Sqlite(conn) => conn
                        .query_row(
                            "SELECT coalesce(max(ref), 0) FROM memory_index_refs",
                            [],
                            |row| row.get::<_, i64>(0),
                        )
                        .map_err(fail("highest ref"))?,
                    TestConnection::Postgres(_) => unreachable!("the SQLite fixture"),
                };
                candidates * candidates <= (spec.offset + limit) * highest as u64
            }
        };
        Ok((page, true))
    }
}

/// What a write did to the SQLite store's index queue.
enum Applied {
    /// An engram write committed: the queue is empty.
    Written,
    /// An engram write was refused (rolled back, or nothing to write): the queue is as it
    /// was, or applied.
    Refused,
    /// A raw delete: the deleted memory, if there was one, is queued.
    Raw { deleted: bool },
}

/// Checks that a store refused a write (with `kind`) exactly when the model says it must.
fn expect_refusal(
    name: &str,
    what: &str,
    error: Option<engram::Error>,
    refused: bool,
    kind: ErrorKind,
) -> TestCaseResult {
    match error {
        Some(e) if refused && e.kind() == kind => Ok(()),
        Some(e) => Err(TestCaseError::fail(format!("{name} {what} failed: {e}"))),
        None if refused => Err(TestCaseError::fail(format!(
            "{name} {what} succeeded where the model expected {kind:?}"
        ))),
        None => Ok(()),
    }
}

/// The memories to write for `rows`.
fn memories(rows: &[&Row]) -> Result<Vec<engram::NewMemory>, TestCaseError> {
    rows.iter()
        .map(|row| Ok(row.new_memory(raw(&row.metadata)?)))
        .collect()
}

/// `rows` without repeated ids (the first of each kept): a batch names each memory once.
fn distinct(rows: impl Iterator<Item = Row>) -> Vec<Row> {
    let mut seen = std::collections::BTreeSet::new();
    rows.filter(|row| seen.insert(row.id)).collect()
}

/// The query spec and filter document of `query` over the stored `rows`: a derived filter
/// walks the anchor's document (`{}` when nothing is stored), a stored thread pick names
/// one of the anchor's related threads (or of any row's, when it has none), a user pick
/// the anchor's user.
fn resolve(query: &IndexQuery, rows: &[Row]) -> (QuerySpec, Option<Doc>) {
    let slots: Vec<Option<Row>> = if rows.is_empty() {
        vec![None]
    } else {
        rows.iter().cloned().map(Some).collect()
    };
    let anchor = slots[query.anchor % slots.len()].as_ref();
    let filter = query.filter.as_ref().map(|f| f.doc(&slots));
    let threads: Vec<&String> = match anchor {
        Some(row) if !row.related.is_empty() => row.related.iter().collect(),
        _ => rows.iter().flat_map(|row| &row.related).collect(),
    };
    let related = query
        .related
        .iter()
        .filter_map(|pick| match pick {
            ThreadPick::Stored(i) => threads.get(i % threads.len().max(1)).map(|t| (*t).clone()),
            ThreadPick::Any(thread) => Some(thread.clone()),
        })
        .collect();
    let user = query.user.as_ref().map(|pick| match (pick, anchor) {
        (UserPick::Anchor, Some(row)) => row.user.clone(),
        (UserPick::Anchor, None) => "alice".to_string(),
        (UserPick::Any(user), _) => user.clone(),
    });
    let spec = QuerySpec {
        user,
        namespace: None,
        thread: query.thread.clone(),
        tiers: vec![],
        summarized: None,
        created: (None, None),
        updated: (None, None),
        filter: None,
        related,
        order: query.order,
        limit: query.limit,
        offset: query.offset,
    };
    (spec, filter)
}
