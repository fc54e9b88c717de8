//! The query plan: a [`MemoryQuery`] turned once into the list of conditions every backend
//! renders as SQL, plus the order and page of a select.
//!
//! Each backend renders a [`Condition`] with an exhaustive `match`, so that a new filter
//! does not compile until every backend handles it.
//!
//! ```
//! use engram_core::plan::{Condition, QueryPlan};
//! use engram_core::MemoryQuery;
//! let query = MemoryQuery::new().user("alice").tiers(["short_term", "mid_term"]).limit(10);
//! let plan = QueryPlan::select(&query);
//! assert_eq!(plan.conditions[0], Condition::User("alice"));
//! assert_eq!(plan.page.map(|page| page.limit()), Some(Some(10)));
//! ```

use std::borrow::Cow;

use serde_json::Value;

use crate::filter::Filter;
use crate::{Embedding, MemoryQuery, Metric, NearestQuery, Order, Search, Timestamp};

/// One filter of a query, ANDed with the others.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition<'q> {
    /// `user_id` equals this.
    User(&'q str),
    /// `namespace` equals this.
    Namespace(&'q str),
    /// `thread_id` equals this.
    Thread(&'q str),
    /// `tier` equals this (a query on exactly one tier).
    Tier(&'q str),
    /// `tier` is one of these (two or more).
    Tiers(&'q [String]),
    /// `metadata @>` this JSON object.
    MetadataContains(&'q Value),
    /// `metadata` passes this filter (see [`crate::filter`]).
    MetadataFilter(&'q Filter),
    /// `related_threads` holds at least one of these (one or more).
    RelatedToAny(&'q [String]),
    /// `summarized` equals this.
    Summarized(bool),
    /// `created_at >=` this.
    CreatedFrom(Timestamp),
    /// `created_at <` this.
    CreatedUntil(Timestamp),
    /// `updated_at >=` this.
    UpdatedFrom(Timestamp),
    /// `updated_at <` this.
    UpdatedUntil(Timestamp),
    /// The memory has not expired at this moment: `expires_at IS NULL OR expires_at >`
    /// this (see [`Timestamp::has_expired`]). Every plan has it unless the query includes
    /// expired memories.
    LiveAt(Timestamp),
}

/// A count (a limit, an offset, a batch) as the databases take it: an `i64`, saturating.
pub fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The SQL of [`Condition::LiveAt`], the same in both dialects: a row (memory or item) that
/// has not expired at the time bound to the placeholder `now` (the rule of
/// [`Timestamp::has_expired`]).
///
/// ```
/// assert_eq!(engram_core::plan::live_sql("$2"), "(expires_at IS NULL OR expires_at > $2)");
/// ```
pub fn live_sql(now: &str) -> String {
    format!("(expires_at IS NULL OR expires_at > {now})")
}

/// The order and page of a select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Result order.
    pub order: Order,
    limit: Option<u64>,
    offset: u64,
}

impl Page {
    /// At most this many rows, as the databases take it (`None`: no limit).
    pub fn limit(&self) -> Option<i64> {
        self.limit.map(sql_count)
    }

    /// Rows to skip first, as the databases take it.
    pub fn offset(&self) -> i64 {
        sql_count(self.offset)
    }
}

/// The ranking of a nearest-neighbour query: the distance to a vector, then id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranking<'q> {
    /// The distance.
    pub metric: Metric,
    /// The query vector.
    pub vector: &'q Embedding,
    /// Whether an approximate index may answer: the ranking subquery is then ordered by the
    /// distance alone (the only order such an index serves) and takes `limit + offset`
    /// candidates, which the outer query orders by distance then id and pages.
    pub approximate: bool,
}

/// What a backend runs for a [`MemoryQuery`] or a [`NearestQuery`]: its conditions, in a
/// fixed order (so that the same query always gives the same SQL text and cached
/// statement), for a select its page, and for a nearest-neighbour query its ranking.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan<'q> {
    /// The filters, ANDed.
    pub conditions: Vec<Condition<'q>>,
    /// Order, limit and offset; `None` for a count. A ranked plan pages by rank (its
    /// order is unused).
    pub page: Option<Page>,
    /// Whether each row carries the memory's embedding after its columns.
    pub with_embeddings: bool,
    /// For a nearest-neighbour query: rows are ranked by this, and carry the distance last.
    pub ranking: Option<Ranking<'q>>,
}

impl<'q> QueryPlan<'q> {
    /// The plan of selecting `query`'s rows, in its order, limited and offset.
    pub fn select(query: &'q MemoryQuery) -> Self {
        QueryPlan {
            conditions: conditions(query),
            page: Some(Page {
                order: query.order,
                limit: query.limit,
                offset: query.offset,
            }),
            with_embeddings: query.with_embeddings,
            ranking: None,
        }
    }

    /// The plan of counting `query`'s rows (its order and page are ignored).
    pub fn count(query: &'q MemoryQuery) -> Self {
        QueryPlan {
            conditions: conditions(query),
            page: None,
            with_embeddings: false,
            ranking: None,
        }
    }

    /// The plan of a nearest-neighbour query: the filter's conditions, ranked by distance
    /// then id, `k` rows from `offset`, searched as `search` says (a backend passes what it
    /// will do: SQLite always [`Search::Exact`]).
    pub fn nearest(query: &'q NearestQuery, search: Search) -> Self {
        QueryPlan {
            conditions: conditions(&query.filter),
            page: Some(Page {
                order: Order::default(),
                limit: Some(query.k),
                offset: query.offset,
            }),
            with_embeddings: query.filter.with_embeddings,
            ranking: Some(Ranking {
                metric: query.metric,
                vector: &query.vector,
                approximate: search == Search::Approximate,
            }),
        }
    }

    /// ` WHERE a AND b …` from each condition as `render` writes it, or nothing when there
    /// is no condition.
    pub fn where_clause<'s>(
        &self,
        mut render: impl FnMut(&Condition<'q>) -> Cow<'s, str>,
    ) -> String {
        let mut clause = String::new();
        for (index, condition) in self.conditions.iter().enumerate() {
            clause.push_str(if index == 0 { " WHERE " } else { " AND " });
            clause.push_str(&render(condition));
        }
        clause
    }

    /// The whole statement, with each condition, the distance and the page's placeholders
    /// as `renderer` writes them (binding their values in the order they appear):
    ///
    /// - a select: `SELECT <memory columns> FROM memories WHERE … ORDER BY … LIMIT … OFFSET …`,
    ///   or, where the renderer asks for it ([`RenderPlan::page_ids_first`]), the same rows
    ///   read by the ids of a select of ids;
    /// - a count: `SELECT count(*) FROM memories WHERE …`;
    /// - a nearest-neighbour query: the embeddings of the matching memories ranked by
    ///   distance then id, the page taken, and only then those memories read, so that a
    ///   query without filters reads no memory row it does not return. A NaN distance
    ///   (which SQLite returns as NULL) ranks last, as PostgreSQL orders NaN.
    ///
    /// With embeddings, each row has the memory's embedding (or NULL) after its columns.
    pub fn render(&self, renderer: &mut impl RenderPlan) -> String {
        let columns = self.columns();
        if let (Some(ranking), Some(page)) = (&self.ranking, &self.page) {
            let distance = renderer.distance(ranking);
            let join = if self.conditions.is_empty() {
                ""
            } else {
                " JOIN memories ON memories.id = memory_embeddings.memory_id"
            };
            let filter = self.where_clause(|condition| renderer.condition(condition));
            let ranked = "SELECT {columns}, ranked.distance FROM (\
                 SELECT memory_embeddings.memory_id, {distance} AS distance \
                 FROM memory_embeddings{join}{filter}";
            let ranked = ranked
                .replace("{columns}", &columns)
                .replace("{distance}", &distance)
                .replace("{join}", join)
                .replace("{filter}", &filter);
            let read = "JOIN memories ON memories.id = ranked.memory_id \
                 ORDER BY ranked.distance NULLS LAST, memories.id";
            if !ranking.approximate {
                let (limit, offset) = renderer.page(page);
                return format!(
                    "{ranked} ORDER BY distance NULLS LAST, memory_embeddings.memory_id \
                     LIMIT {limit} OFFSET {offset}) AS ranked {read}"
                );
            }
            let candidates = Page {
                order: page.order,
                limit: Some(page.limit.unwrap_or(u64::MAX).saturating_add(page.offset)),
                offset: 0,
            };
            let (candidates, none_skipped) = renderer.page(&candidates);
            let (limit, offset) = renderer.page(page);
            return format!(
                "{ranked} ORDER BY distance LIMIT {candidates} OFFSET {none_skipped}) AS ranked \
                 {read} LIMIT {limit} OFFSET {offset}"
            );
        }
        let filter = self.where_clause(|condition| renderer.condition(condition));
        match &self.page {
            Some(page) if renderer.page_ids_first() => {
                let (limit, offset) = renderer.page(page);
                let order = page.order.sql();
                format!(
                    "SELECT {columns} FROM memories WHERE memories.id IN (SELECT memories.id \
                     FROM memories{filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}) \
                     ORDER BY {order}"
                )
            }
            Some(page) => {
                let (limit, offset) = renderer.page(page);
                format!(
                    "SELECT {columns} FROM memories{filter} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                    page.order.sql()
                )
            }
            None => format!("SELECT count(*) FROM memories{filter}"),
        }
    }

    /// The memory columns, and the embedding after them when the plan reads it.
    pub fn columns(&self) -> Cow<'static, str> {
        let columns = crate::row::memory_columns();
        if self.with_embeddings {
            format!("{columns}, {}", crate::row::EMBEDDING_COLUMN).into()
        } else {
            columns.into()
        }
    }
}

/// How a backend writes a [`QueryPlan`]'s parts in its dialect, binding every value.
pub trait RenderPlan {
    /// The SQL of one condition (an exhaustive `match` in each backend), its values bound.
    fn condition(&mut self, condition: &Condition<'_>) -> Cow<'static, str>;

    /// Binds the page's limit and offset; returns their placeholders.
    fn page(&mut self, page: &Page) -> (String, String);

    /// The distance of `memory_embeddings.embedding` to the ranking's vector by its metric,
    /// the vector bound.
    fn distance(&mut self, ranking: &Ranking<'_>) -> String;

    /// Whether a select finds its page's ids first and reads only those rows: cheaper where
    /// many candidate rows are sorted to keep a page (SQLite copies every column of each
    /// into its sorter). Asked after the conditions are rendered.
    fn page_ids_first(&self) -> bool {
        false
    }
}

/// `query`'s filters as conditions, in the order the SQL lists them.
fn conditions(query: &MemoryQuery) -> Vec<Condition<'_>> {
    let mut conditions = Vec::new();
    if let Some(user) = &query.user_id {
        conditions.push(Condition::User(user));
    }
    if let Some(namespace) = &query.namespace {
        conditions.push(Condition::Namespace(namespace));
    }
    if let Some(thread) = &query.thread_id {
        conditions.push(Condition::Thread(thread));
    }
    match query.tiers.as_slice() {
        [] => {}
        [tier] => conditions.push(Condition::Tier(tier)),
        tiers => conditions.push(Condition::Tiers(tiers)),
    }
    if let Some(filter) = &query.metadata_contains {
        conditions.push(Condition::MetadataContains(filter));
    }
    if let Some(filter) = &query.metadata_filter {
        conditions.push(Condition::MetadataFilter(filter));
    }
    if !query.related_to_any.is_empty() {
        conditions.push(Condition::RelatedToAny(&query.related_to_any));
    }
    if let Some(summarized) = query.summarized {
        conditions.push(Condition::Summarized(summarized));
    }
    let ranges = [
        query.created.from.map(Condition::CreatedFrom),
        query.created.until.map(Condition::CreatedUntil),
        query.updated.from.map(Condition::UpdatedFrom),
        query.updated.until.map(Condition::UpdatedUntil),
    ];
    conditions.extend(ranges.into_iter().flatten());
    conditions.extend(query.live_at().map(Condition::LiveAt));
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_come_in_one_fixed_order() {
        let filter = json!({"a": 1});
        let query = MemoryQuery::new()
            .updated(None, Some(Timestamp::from_micros(9)))
            .contains(filter.clone())
            .tiers(["a", "b"])
            .user("u")
            .summarized(false)
            .related_to_any(["t"])
            .as_of(Timestamp::from_micros(5));
        let plan = QueryPlan::count(&query);
        let tiers = vec!["a".to_string(), "b".to_string()];
        let related = vec!["t".to_string()];
        assert_eq!(
            plan.conditions,
            vec![
                Condition::User("u"),
                Condition::Tiers(&tiers),
                Condition::MetadataContains(&filter),
                Condition::RelatedToAny(&related),
                Condition::Summarized(false),
                Condition::UpdatedUntil(Timestamp::from_micros(9)),
                Condition::LiveAt(Timestamp::from_micros(5)),
            ]
        );
        assert_eq!(
            QueryPlan::count(&query.clone().include_expired())
                .conditions
                .len(),
            6,
            "a query that includes expired memories has no LiveAt"
        );
        assert_eq!(plan.page, None);
    }

    #[test]
    fn one_tier_is_an_equality() {
        let query = MemoryQuery::new().tier("short_term").include_expired();
        assert_eq!(
            QueryPlan::select(&query).conditions,
            vec![Condition::Tier("short_term")]
        );
    }

    #[test]
    fn the_where_clause_joins_the_rendered_conditions() {
        let query = MemoryQuery::new().user("u").thread("t").include_expired();
        let plan = QueryPlan::count(&query);
        let clause = plan.where_clause(|condition| match condition {
            Condition::User(_) => "user_id = ?".into(),
            _ => "thread_id = ?".into(),
        });
        assert_eq!(clause, " WHERE user_id = ? AND thread_id = ?");
        assert_eq!(
            QueryPlan::count(&MemoryQuery::new().include_expired()).where_clause(|_| "".into()),
            ""
        );
    }

    #[test]
    fn huge_pages_are_clamped_to_what_databases_take() {
        let query = MemoryQuery::new().limit(u64::MAX).offset(u64::MAX);
        let page = QueryPlan::select(&query).page.unwrap();
        assert_eq!(page.limit(), Some(i64::MAX));
        assert_eq!(page.offset(), i64::MAX);
        let unlimited = MemoryQuery::new();
        assert_eq!(QueryPlan::select(&unlimited).page.unwrap().limit(), None);
    }
}
