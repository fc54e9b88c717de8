//! The SQLite and PostgreSQL stores against each other and a pure-Rust oracle, on random
//! memories and queries.

use engram::{MemoryQuery, Order, TimeRange, Timestamp};
use engram_core::containment::contains;

use crate::generate::{self, Doc};
use crate::{check, fail, fixture, raw, BackendKind};
use proptest::test_runner::TestCaseError;

/// The query a [`generate::QuerySpec`] describes, with `filter` (its filter over the stored rows)
/// as serde_json reads its text.
pub(crate) fn memory_query(
    spec: &generate::QuerySpec,
    filter: Option<&Doc>,
) -> Result<MemoryQuery, TestCaseError> {
    let range = |(from, until): (Option<i64>, Option<i64>)| TimeRange {
        from: from.map(Timestamp::from_micros),
        until: until.map(Timestamp::from_micros),
    };
    Ok(MemoryQuery {
        user_id: spec.user.clone(),
        namespace: spec.namespace.clone(),
        thread_id: spec.thread.clone(),
        tiers: spec.tiers.clone(),
        summarized: spec.summarized,
        created: range(spec.created),
        updated: range(spec.updated),
        metadata_contains: filter.map(raw).transpose()?,
        related_to_any: spec.related.clone(),
        order: spec.order,
        limit: spec.limit,
        offset: spec.offset,
        ..MemoryQuery::default()
    })
}

/// The pure-Rust oracle: the ids `spec` (with containment `filter`) selects from `rows`, in
/// its order and page, and how many match its filters. Containment is engram's matcher on
/// the raw documents.
pub(crate) fn expected_ids(
    rows: &[generate::Row],
    spec: &generate::QuerySpec,
    filter: Option<&Doc>,
) -> Result<(Vec<uuid::Uuid>, u64), TestCaseError> {
    let filter = filter.map(raw).transpose()?;
    let within = |t: i64, (from, until): (Option<i64>, Option<i64>)| {
        from.is_none_or(|f| t >= f) && until.is_none_or(|u| t < u)
    };
    let mut selected = Vec::new();
    for row in rows {
        let keep = spec.user.as_ref().is_none_or(|u| *u == row.user)
            && spec.namespace.as_ref().is_none_or(|n| *n == row.namespace)
            && spec
                .thread
                .as_ref()
                .is_none_or(|t| row.thread.as_ref() == Some(t))
            && (spec.tiers.is_empty() || spec.tiers.contains(&row.tier))
            && spec.summarized.is_none_or(|s| s == row.summarized)
            && within(row.created, spec.created)
            && within(row.updated, spec.updated)
            && (spec.related.is_empty() || spec.related.iter().any(|t| row.related.contains(t)));
        let keep = keep
            && match &filter {
                Some(filter) => contains(&raw(&row.metadata)?, filter),
                None => true,
            };
        if keep {
            selected.push(row);
        }
    }
    let time = |row: &generate::Row| match spec.order {
        Order::UpdatedDesc | Order::UpdatedAsc => row.updated,
        Order::CreatedDesc | Order::CreatedAsc => row.created,
    };
    selected.sort_by_key(|row| (time(row), row.id));
    if matches!(spec.order, Order::UpdatedDesc | Order::CreatedDesc) {
        selected.reverse();
    }
    let count = selected.len() as u64;
    let page = selected
        .into_iter()
        .skip(usize::try_from(spec.offset).unwrap_or(usize::MAX))
        .take(
            spec.limit
                .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
        )
        .map(|row| row.id)
        .collect();
    Ok((page, count))
}

/// Oracle: the pure-Rust filter, sort and page of [`expected_ids`] over the inserted rows
/// (with engram's matcher, itself checked against PostgreSQL above), and each store against
/// the other.
///
/// The same random memories (explicit ids, timestamps from a small pool so that ties
/// exercise the id tiebreak) go into a SQLite and a PostgreSQL store; random queries
/// (metadata containment with filters derived from the stored documents or random, alone or
/// with user, namespace, thread, tiers, summarized, related threads, created/updated ranges,
/// order, limit and offset) return the same ids in the same order on both and in the
/// oracle, the same counts, and memories that compare equal field by field. Both stores are
/// reused for the whole property and emptied before each case.
#[test]
fn stores_agree_with_each_other_and_the_oracle() {
    let sqlite = fixture(BackendKind::Sqlite);
    let postgres = fixture(BackendKind::Postgres);
    let sqlite_store = &sqlite.store;
    let pg_store = &postgres.store;
    check(
        "tests/proptest-regressions/agreement/stores.txt",
        generate::store_case(),
        |(slots, queries)| {
            let rows: Vec<generate::Row> = slots.iter().flatten().cloned().collect();
            for store in [&sqlite, &postgres] {
                store.execute("DELETE FROM memories");
            }
            let mut memories = Vec::with_capacity(rows.len());
            for row in &rows {
                memories.push(row.new_memory(raw(&row.metadata)?));
            }
            sqlite_store
                .insert_many(memories.clone())
                .map_err(fail("insert into SQLite"))?;
            pg_store
                .insert_many(memories)
                .map_err(fail("insert into PostgreSQL"))?;
            for spec in &queries {
                let filter = spec.filter.as_ref().map(|f| f.doc(&slots));
                let query = memory_query(spec, filter.as_ref())?;
                let (ids, count) = expected_ids(&rows, spec, filter.as_ref())?;
                let on_sqlite = sqlite_store
                    .query(query.clone())
                    .map_err(fail("SQLite query"))?;
                let on_pg = pg_store
                    .query(query.clone())
                    .map_err(fail("PostgreSQL query"))?;
                let sqlite_ids: Vec<_> = on_sqlite.iter().map(|m| m.id).collect();
                let pg_ids: Vec<_> = on_pg.iter().map(|m| m.id).collect();
                let sqlite_count = sqlite_store
                    .count(query.clone())
                    .map_err(fail("SQLite count"))?;
                let pg_count = pg_store.count(query).map_err(fail("PostgreSQL count"))?;
                let context = || format!("query {spec:?} with filter {filter:?}");
                proptest::prop_assert_eq!(&sqlite_ids, &ids, "SQLite ids vs oracle, {}", context());
                proptest::prop_assert_eq!(&pg_ids, &ids, "PostgreSQL ids vs oracle, {}", context());
                proptest::prop_assert_eq!(&on_sqlite, &on_pg, "memories differ, {}", context());
                proptest::prop_assert_eq!(sqlite_count, count, "SQLite count, {}", context());
                proptest::prop_assert_eq!(pg_count, count, "PostgreSQL count, {}", context());
            }
            Ok(())
        },
    );
}
