//! Agreement properties: engram's containment matcher against PostgreSQL's own `jsonb @>`,
//! the SQLite store against the PostgreSQL store and a pure-Rust oracle, and documents read
//! back from either store against what PostgreSQL itself makes of the same JSON text.
//!
//! Every property runs 2,000 cases by default (`PROPTEST_CASES` overrides), shrinks a
//! failure to a minimal case and records its seed in `tests/proptest-regressions/agreement/`,
//! from where it is replayed first on every later run. Documents are generated as JSON
//! *text* (see [`gen::Doc`]) so that the same value reaches engram and PostgreSQL in many
//! spellings: numbers as `1e2`, `1E+2`, `100.0`, `-0`; strings with `\u` escapes; repeated
//! keys.

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use engram::{MemoryQuery, NewMemory, Order, Store, TimeRange, Timestamp};
use engram_core::containment::{contains, PINNED_CASES};
use engram_core::document::normalize;
use postgres::{Client, NoTls, Statement};
use proptest::test_runner::{
    Config, FileFailurePersistence, TestCaseError, TestCaseResult, TestRunner,
};
use serde_json::Value;

use gen::Doc;

/// The run settings of every property: 2,000 cases unless `PROPTEST_CASES` says otherwise,
/// failures persisted to `regressions` (a path relative to the package root).
fn config(regressions: &'static str) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

/// Runs `test` on values of `strategy` under [`config`]; panics with the shrunk
/// counterexample on failure.
fn check<S>(regressions: &'static str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(regressions));
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}\n{runner}");
    }
}

/// Turns any displayable error into a test failure (not a panic, so that proptest shrinks).
fn fail<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> TestCaseError {
    move |e| TestCaseError::fail(format!("{context}: {e}"))
}

/// One connection to the test PostgreSQL server shared by the whole test process, with the
/// two statements the oracles need prepared once.
struct Oracle {
    client: Client,
    contains: Statement,
    jsonb: Statement,
}

fn postgres() -> MutexGuard<'static, Oracle> {
    static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();
    ORACLE
        .get_or_init(|| {
            let url = engram_testkit::postgres::fresh_database_url();
            let mut client = Client::connect(&url, NoTls).expect("connect to test PostgreSQL");
            let contains = client
                .prepare("SELECT $1::text::jsonb @> $2::text::jsonb")
                .expect("prepare @>");
            let jsonb = client
                .prepare("SELECT ($1::text::jsonb)::text")
                .expect("prepare jsonb");
            Mutex::new(Oracle {
                client,
                contains,
                jsonb,
            })
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// PostgreSQL's answer to `left::jsonb @> right::jsonb` for two JSON texts.
fn pg_contains(left: &str, right: &str) -> Result<bool, postgres::Error> {
    let oracle = &mut *postgres();
    let row = oracle
        .client
        .query_one(&oracle.contains, &[&left, &right])?;
    Ok(row.get(0))
}

/// What PostgreSQL makes of a JSON text: `Ok(($1::text::jsonb)::text)`, or `Err` with the
/// server's message when it refuses the input. Any other error (a lost connection) fails
/// the test case rather than counting as a refusal.
fn pg_jsonb_text(text: &str) -> Result<Result<String, String>, TestCaseError> {
    let oracle = &mut *postgres();
    match oracle.client.query_one(&oracle.jsonb, &[&text]) {
        Ok(row) => Ok(Ok(row.get(0))),
        Err(e) => match e.as_db_error() {
            Some(db) => Ok(Err(db.message().to_string())),
            None => Err(TestCaseError::fail(format!("PostgreSQL: {e}"))),
        },
    }
}

/// [`pg_jsonb_text`] parsed back into a document (numbers keep PostgreSQL's spelling).
fn pg_jsonb(text: &str) -> Result<Value, TestCaseError> {
    let printed = pg_jsonb_text(text)?.map_err(fail("PostgreSQL rejected valid JSON"))?;
    serde_json::from_str(&printed).map_err(fail("PostgreSQL printed unparsable JSON"))
}

/// A generated document as serde_json reads its text (spellings kept, not normalized).
fn raw(doc: &Doc) -> Result<Value, TestCaseError> {
    serde_json::from_str(&doc.to_json()).map_err(fail("generated text is not JSON"))
}

// ------------------------------------------------------------------------------------------
// Pinned cases
// ------------------------------------------------------------------------------------------

/// The cases where a naive matcher goes wrong, each with its expected answer: engram's
/// matcher (on the raw and the normalized document) AND the live PostgreSQL must give it.
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
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ------------------------------------------------------------------------------------------
// Property 1: the matcher against PostgreSQL
// ------------------------------------------------------------------------------------------

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
        gen::pair(),
        |(left, right)| {
            let (left_text, right_text) = (left.to_json(), right.to_json());
            let (raw_left, raw_right) = (raw(&left)?, raw(&right)?);
            let norm_left = normalize(raw_left.clone(), "left").map_err(fail("normalize"))?;
            let norm_right = normalize(raw_right.clone(), "right").map_err(fail("normalize"))?;
            let expected = pg_contains(&left_text, &right_text).map_err(fail("PostgreSQL @>"))?;
            proptest::prop_assert_eq!(
                contains(&raw_left, &raw_right),
                expected,
                "matcher on the raw spelling disagrees with PostgreSQL"
            );
            proptest::prop_assert_eq!(
                contains(&norm_left, &norm_right),
                expected,
                "matcher on the normalized documents disagrees with PostgreSQL"
            );
            Ok(())
        },
    );
}

// ------------------------------------------------------------------------------------------
// Property 2: the stores agree with each other and with the oracle
// ------------------------------------------------------------------------------------------

/// A migrated SQLite store on a temporary file and a direct connection to clear it.
struct SqliteFixture {
    store: Store,
    conn: rusqlite::Connection,
    _dir: tempfile::TempDir,
}

fn sqlite_fixture() -> SqliteFixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("engram.db");
    let store = Store::builder(&format!("sqlite://{}", path.display()))
        .pool_size(4)
        .open()
        .expect("open SQLite store");
    store.migrate().expect("migrate SQLite store");
    let conn = rusqlite::Connection::open(&path).expect("open SQLite file");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    // As on the store's own connections: in WAL mode a commit need not wait for the disk.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous = NORMAL");
    SqliteFixture {
        store,
        conn,
        _dir: dir,
    }
}

/// A migrated PostgreSQL store on a fresh database and a direct connection to clear it.
fn postgres_fixture() -> (Store, Client) {
    let url = engram_testkit::postgres::fresh_database_url();
    let store = Store::builder(&url)
        .pool_size(4)
        .open()
        .expect("open PostgreSQL store");
    store.migrate().expect("migrate PostgreSQL store");
    let client = Client::connect(&url, NoTls).expect("connect to test PostgreSQL");
    (store, client)
}

/// The query a [`gen::QuerySpec`] describes, with `filter` (its filter over the stored rows)
/// as serde_json reads its text.
fn memory_query(spec: &gen::QuerySpec, filter: Option<&Doc>) -> Result<MemoryQuery, TestCaseError> {
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
    })
}

/// The pure-Rust oracle: the ids `spec` (with containment `filter`) selects from `rows`, in
/// its order and page, and how many match its filters. Containment is engram's matcher on
/// the raw documents.
fn expected_ids(
    rows: &[gen::Row],
    spec: &gen::QuerySpec,
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
    let time = |row: &gen::Row| match spec.order {
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
    let mut sqlite = sqlite_fixture();
    let (pg_store, mut pg_client) = postgres_fixture();
    let sqlite_conn = Mutex::new(&mut sqlite.conn);
    let pg_conn = Mutex::new(&mut pg_client);
    let sqlite_store = &sqlite.store;
    check(
        "tests/proptest-regressions/agreement/stores.txt",
        gen::store_case(),
        |(slots, queries)| {
            let rows: Vec<gen::Row> = slots.iter().flatten().cloned().collect();
            sqlite_conn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .execute("DELETE FROM memories", [])
                .map_err(fail("clear SQLite"))?;
            pg_conn
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .execute("DELETE FROM memories", &[])
                .map_err(fail("clear PostgreSQL"))?;
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

// ------------------------------------------------------------------------------------------
// Property 3: documents round-trip as PostgreSQL returns them
// ------------------------------------------------------------------------------------------

/// Oracle: PostgreSQL's `SELECT ($1::text::jsonb)::text` of the same JSON text.
///
/// A random memory (metadata object with arbitrary nested content, number spellings and
/// string escapes; random content, user and thread strings) is written through each store
/// and read back by id: both give the input's text fields byte for byte, the same memory
/// field by field, and metadata equal
/// to what PostgreSQL makes of the text (serde_json with `arbitrary_precision` compares
/// numbers by their text, so `15.0` and `15` differ: the canonical form itself is checked),
/// and `engram_core::document::normalize` alone gives the same document.
#[test]
fn documents_round_trip_as_postgres_returns_them() {
    let sqlite = sqlite_fixture();
    let (pg_store, _client) = postgres_fixture();
    let next_id = std::sync::atomic::AtomicU64::new(1);
    check(
        "tests/proptest-regressions/agreement/round_trip.txt",
        gen::round_trip_case(),
        |case| {
            let text = case.metadata.to_json();
            let expected = pg_jsonb(&text)?;
            let normalized =
                normalize(raw(&case.metadata)?, "metadata").map_err(fail("normalize"))?;
            proptest::prop_assert_eq!(
                &normalized,
                &expected,
                "normalize vs PostgreSQL for {}",
                text
            );
            let id = uuid::Uuid::from_u128(u128::from(
                next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ));
            let mut memory = NewMemory::new(case.user.clone(), case.content.clone())
                .id(id)
                .metadata(raw(&case.metadata)?)
                .at(Timestamp::from_micros(0), Timestamp::from_micros(1));
            memory.thread_id = case.thread.clone();
            let mut read_back = Vec::new();
            for (name, store) in [("SQLite", &sqlite.store), ("PostgreSQL", &pg_store)] {
                store
                    .insert(memory.clone())
                    .map_err(|e| TestCaseError::fail(format!("insert into {name}: {e}")))?;
                let stored = store
                    .get(id)
                    .map_err(|e| TestCaseError::fail(format!("get from {name}: {e}")))?
                    .ok_or_else(|| TestCaseError::fail(format!("{name} lost the memory")))?;
                proptest::prop_assert_eq!(
                    &stored.metadata,
                    &expected,
                    "{} metadata for {}",
                    name,
                    text
                );
                proptest::prop_assert_eq!(&stored.content, &case.content, "{} content", name);
                proptest::prop_assert_eq!(&stored.user_id, &case.user, "{} user_id", name);
                proptest::prop_assert_eq!(&stored.thread_id, &case.thread, "{} thread_id", name);
                read_back.push(stored);
            }
            proptest::prop_assert_eq!(&read_back[0], &read_back[1], "SQLite vs PostgreSQL");
            Ok(())
        },
    );
}

/// Oracle: PostgreSQL's `($1::text::jsonb)::text` of a lone number, including spellings
/// outside `numeric`'s range (exponents near ±16383 digits of scale, 131072 integer digits
/// and `INT_MAX / 2`).
///
/// `engram_core::document::normalize` accepts exactly the numbers PostgreSQL accepts, and
/// prints each in exactly PostgreSQL's `numeric` output form.
#[test]
fn number_spellings_are_accepted_and_printed_as_postgres_does() {
    check(
        "tests/proptest-regressions/agreement/numbers.txt",
        gen::any_number(),
        |number| {
            let text = number.spell();
            let value: Value = serde_json::from_str(&text).map_err(fail("not JSON"))?;
            let engram = normalize(value, "n").map(|v| v.to_string());
            match (engram, pg_jsonb_text(&text)?) {
                (Ok(ours), Ok(theirs)) => {
                    proptest::prop_assert_eq!(ours, theirs, "output form of {}", text)
                }
                (Err(_), Err(_)) => {}
                (ours, theirs) => {
                    return Err(TestCaseError::fail(format!(
                        "{text}: engram {ours:?}, PostgreSQL {theirs:?}"
                    )))
                }
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------

/// Strategies for JSON documents as text, right sides derived from left sides, memories and
/// queries.
mod gen {
    use std::fmt::{self, Write as _};

    use engram::{NewMemory, Order, Timestamp};
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};
    use proptest::strategy::{BoxedStrategy, Union};
    use serde_json::Value;
    use uuid::Uuid;

    /// How a string is escaped in the JSON text; the value is the same.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Escape {
        /// Only what JSON requires (quote, backslash, control characters).
        Plain,
        /// Also every non-ASCII character as `\uXXXX` (surrogate pairs above U+FFFF) and
        /// `/` as `\/`.
        NonAscii,
        /// Every character as `\uXXXX`.
        All,
    }

    /// A string value and how its text escapes it.
    #[derive(Clone, PartialEq)]
    pub struct Text {
        pub value: String,
        pub escape: Escape,
    }

    /// A number: the value `digits × 10^exponent` (negative when `negative`, which for zero
    /// spells `-0`), and how the text writes it.
    #[derive(Clone, PartialEq)]
    pub struct Num {
        pub negative: bool,
        /// No leading zeros, or just `0`.
        pub digits: String,
        pub exponent: i64,
        /// Trailing zeros added to the mantissa (with the exponent lowered to match).
        pub zeros: u8,
        /// How many mantissa digits go after the decimal point.
        pub point: u8,
        /// How the exponent is written: 0 none when zero else `e5`, 1 `e5`, 2 `E5`, 3 `e+5`,
        /// 4 `E+05` (a sign and a leading zero).
        pub style: u8,
    }

    impl Num {
        /// The JSON text of this number.
        pub fn spell(&self) -> String {
            let mut mantissa = self.digits.clone();
            mantissa.extend(std::iter::repeat_n('0', usize::from(self.zeros)));
            let exponent = self.exponent - i64::from(self.zeros);
            let point = usize::from(self.point).min(mantissa.len() + 2);
            let (integer, fraction) = if point >= mantissa.len() {
                (
                    "0".to_string(),
                    "0".repeat(point - mantissa.len()) + &mantissa,
                )
            } else {
                let (i, f) = mantissa.split_at(mantissa.len() - point);
                let i = i.trim_start_matches('0');
                (
                    if i.is_empty() { "0" } else { i }.to_string(),
                    f.to_string(),
                )
            };
            let exponent = exponent + point as i64;
            let mut out = String::new();
            if self.negative {
                out.push('-');
            }
            out.push_str(&integer);
            if !fraction.is_empty() {
                out.push('.');
                out.push_str(&fraction);
            }
            let sign = if exponent < 0 { "-" } else { "+" };
            match self.style {
                0 if exponent == 0 => {}
                0 | 1 => write!(out, "e{exponent}").unwrap(),
                2 => write!(out, "E{exponent}").unwrap(),
                3 => write!(out, "e{sign}{}", exponent.unsigned_abs()).unwrap(),
                _ => write!(out, "E{sign}0{}", exponent.unsigned_abs()).unwrap(),
            }
            out
        }
    }

    impl fmt::Debug for Num {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.spell())
        }
    }

    /// A JSON document as written. Objects keep their keys in order with repeats (the last
    /// one wins, in PostgreSQL and in serde_json). Its `Debug` form is its JSON text.
    #[derive(Clone, PartialEq)]
    pub enum Doc {
        Null,
        Bool(bool),
        Num(Num),
        Str(Text),
        Arr(Vec<Doc>),
        Obj(Vec<(Text, Doc)>),
    }

    impl Doc {
        /// The JSON text.
        pub fn to_json(&self) -> String {
            let mut out = String::new();
            self.write(&mut out);
            out
        }

        fn write(&self, out: &mut String) {
            match self {
                Doc::Null => out.push_str("null"),
                Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Doc::Num(n) => out.push_str(&n.spell()),
                Doc::Str(s) => write_string(s, out),
                Doc::Arr(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        item.write(out);
                    }
                    out.push(']');
                }
                Doc::Obj(entries) => {
                    out.push('{');
                    for (i, (key, value)) in entries.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        write_string(key, out);
                        out.push(':');
                        value.write(out);
                    }
                    out.push('}');
                }
            }
        }
    }

    impl fmt::Debug for Text {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut out = String::new();
            write_string(self, &mut out);
            f.write_str(&out)
        }
    }

    impl fmt::Debug for Doc {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.to_json())
        }
    }

    fn write_string(text: &Text, out: &mut String) {
        out.push('"');
        for c in text.value.chars() {
            let escape_unicode = match text.escape {
                Escape::Plain => false,
                Escape::NonAscii => !c.is_ascii(),
                Escape::All => true,
            };
            if escape_unicode {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if text.escape == Escape::All {
                        write!(out, "\\u{unit:04X}").unwrap();
                    } else {
                        write!(out, "\\u{unit:04x}").unwrap();
                    }
                }
                continue;
            }
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if text.escape == Escape::NonAscii => out.push_str("\\/"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    // --- scalars --------------------------------------------------------------------------

    /// Numbers that tell exact decimal comparison from floating point: 2^64 and its
    /// neighbour, integers past 2^53, 0.1 against 0.10000000000000001, 1e400, 1.5.
    const SPECIAL_NUMBERS: [(&str, i64); 15] = [
        ("18446744073709551616", 0),
        ("18446744073709551615", 0),
        ("12345678901234567890", 0),
        ("12345678901234567891", 0),
        ("9007199254740993", 0),
        ("9007199254740992", 0),
        ("1", -1),
        ("10000000000000001", -17),
        ("1", 400),
        ("15", -1),
        ("1", 2),
        ("1", -20),
        ("5", 0),
        ("0", -3),
        ("1", 0),
    ];

    fn spelling() -> impl Strategy<Value = (u8, u8, u8)> {
        (0u8..3, 0u8..6, 0u8..5)
    }

    fn make_num(negative: bool, (digits, exponent): (String, i64), spelling: (u8, u8, u8)) -> Num {
        let trimmed = digits.trim_start_matches('0');
        Num {
            negative,
            digits: if trimmed.is_empty() { "0" } else { trimmed }.to_string(),
            exponent,
            zeros: spelling.0,
            point: spelling.1,
            style: spelling.2,
        }
    }

    /// A number valid for PostgreSQL, in one of many spellings.
    pub fn number() -> BoxedStrategy<Num> {
        let magnitude = prop_oneof![
            4 => (0u32..=20).prop_map(|n| (n.to_string(), 0i64)),
            3 => select(&SPECIAL_NUMBERS[..]).prop_map(|(d, e)| (d.to_string(), e)),
            3 => ("[1-9][0-9]{0,24}", -30i64..30),
        ];
        (prop::bool::weighted(0.2), magnitude, spelling())
            .prop_map(|(negative, magnitude, spelling)| make_num(negative, magnitude, spelling))
            .boxed()
    }

    /// Any number, also out of `numeric`'s range: exponents near the scale limit (16383),
    /// the integer-digit limit (131072), PostgreSQL's exponent limit (`INT_MAX / 2`) and past
    /// `i64`.
    pub fn any_number() -> BoxedStrategy<Num> {
        let exponent = prop_oneof![
            2 => -30i64..30,
            1 => -16_400i64..-16_370,
            1 => 131_040i64..131_080,
            1 => select(vec![
                1_073_741_822i64,
                1_073_741_823,
                1_073_741_824,
                -1_073_741_822,
                -1_073_741_823,
                -1_073_741_824,
                i64::MAX / 10,
                i64::MIN / 10,
            ]),
        ];
        let digits = prop_oneof![
            Just("0".to_string()),
            "[1-9][0-9]{0,20}",
            select(&SPECIAL_NUMBERS[..]).prop_map(|(d, _)| d.to_string()),
        ];
        prop_oneof![
            1 => number(),
            2 => (prop::bool::weighted(0.2), (digits, exponent), spelling())
                .prop_map(|(negative, magnitude, spelling)| make_num(negative, magnitude, spelling)),
        ]
        .boxed()
    }

    /// Characters that make strings hard: quotes, backslashes, slashes, control characters,
    /// case pairs, precomposed and combining accents, characters whose case mapping changes
    /// length, emoji beyond the BMP, line separators, a byte-order mark.
    const CHARS: [char; 28] = [
        'a',
        'b',
        'A',
        'B',
        'z',
        '0',
        ' ',
        '"',
        '\\',
        '/',
        '\n',
        '\t',
        '\u{1}',
        '\u{1f}',
        '\u{7f}',
        'é',
        'e',
        '\u{301}',
        'ß',
        'İ',
        'K',
        '\u{212a}',
        '😀',
        '\u{10ffff}',
        '\u{2028}',
        '\u{feff}',
        '中',
        '\u{8}',
    ];

    const WORDS: [&str; 14] = [
        "", "a", "A", "tea", "Tea", "tag", "tags", "é", "e\u{301}", "\"", "\\", "😀", "true", "1",
    ];

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            select(&WORDS[..]).prop_map(str::to_string),
            vec(select(&CHARS[..]), 0..6).prop_map(|cs| cs.into_iter().collect()),
        ]
    }

    fn escape() -> impl Strategy<Value = Escape> {
        prop_oneof![
            6 => Just(Escape::Plain),
            1 => Just(Escape::NonAscii),
            1 => Just(Escape::All),
        ]
    }

    fn text() -> impl Strategy<Value = Text> {
        (string(), escape()).prop_map(|(value, escape)| Text { value, escape })
    }

    const KEYS: [&str; 16] = [
        "a", "A", "b", "B", "ab", "aB", "Ab", "", "é", "e\u{301}", "tag", "tags", "Tags", "k\"",
        "a ", "😀",
    ];

    /// Object keys: mostly from a small pool (so that keys collide, repeat and differ only
    /// in case or one byte), sometimes any string.
    fn key() -> impl Strategy<Value = Text> {
        let value = prop_oneof![
            4 => select(&KEYS[..]).prop_map(str::to_string),
            1 => string(),
        ];
        (value, escape()).prop_map(|(value, escape)| Text { value, escape })
    }

    /// A string of the same length class that differs in the case of one letter.
    fn toggle_case(s: &str) -> String {
        let mut out = String::new();
        let mut done = false;
        for c in s.chars() {
            if !done && c.is_ascii_alphabetic() {
                out.push(if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                });
                done = true;
            } else {
                out.push(c);
            }
        }
        if !done {
            out.push('A');
        }
        out
    }

    /// A string that differs in one byte (or one character) at the end.
    fn change_last(s: &str) -> String {
        let mut out: Vec<char> = s.chars().collect();
        match out.pop() {
            Some(c) if c.is_ascii_alphanumeric() => out.push(char::from(c as u8 ^ 1)),
            Some('é') => out.push('è'),
            Some(_) => {}
            None => out.push('a'),
        }
        out.into_iter().collect()
    }

    /// Precomposed accents decomposed and the other way round: different bytes, same look.
    fn swap_normal_form(s: &str) -> String {
        if s.contains('é') {
            s.replace('é', "e\u{301}")
        } else if s.contains("e\u{301}") {
            s.replace("e\u{301}", "é")
        } else {
            format!("{s}\u{301}")
        }
    }

    /// The same string under another escape, or a string that differs slightly.
    fn text_variant(text: &Text) -> BoxedStrategy<Text> {
        let same = text.value.clone();
        let changed = |f: fn(&str) -> String| {
            let value = f(&text.value);
            escape().prop_map(move |escape| Text {
                value: value.clone(),
                escape,
            })
        };
        prop_oneof![
            escape().prop_map(move |escape| Text {
                value: same.clone(),
                escape
            }),
            changed(toggle_case),
            changed(change_last),
            changed(swap_normal_form),
            changed(|s| format!("{s} ")),
        ]
        .boxed()
    }

    /// The same number spelled otherwise, or a number that differs: by 1 in the last
    /// digit, at the 17th significant digit (equal as `f64`), in sign (`-0` equals `0`), by
    /// a power of ten; or `true`/`false` for 1/0.
    fn number_variant(num: &Num) -> BoxedStrategy<Doc> {
        let respelled = {
            let num = num.clone();
            spelling().prop_map(move |(zeros, point, style)| {
                Doc::Num(Num {
                    zeros,
                    point,
                    style,
                    ..num.clone()
                })
            })
        };
        let tiny = {
            let digits = format!("{}{}1", num.digits, "0".repeat(15));
            make_num(num.negative, (digits, num.exponent - 16), (0, 0, 0))
        };
        let bumped = {
            let mut digits: Vec<u8> = num.digits.bytes().collect();
            if let Some(last) = digits.last_mut() {
                *last = if *last == b'9' { b'0' } else { *last + 1 };
            }
            let digits = String::from_utf8(digits).unwrap_or_default();
            make_num(num.negative, (digits, num.exponent), (0, 0, 0))
        };
        let negated = Num {
            negative: !num.negative,
            ..num.clone()
        };
        let scaled = Num {
            exponent: num.exponent + 1,
            ..num.clone()
        };
        let as_bool = match (num.digits.as_str(), num.exponent) {
            ("1", 0) => Doc::Bool(true),
            ("0", _) => Doc::Bool(false),
            _ => Doc::Bool(true),
        };
        prop_oneof![
            3 => respelled,
            2 => Just(Doc::Num(tiny)),
            1 => Just(Doc::Num(bumped)),
            1 => Just(Doc::Num(negated)),
            1 => Just(Doc::Num(scaled)),
            1 => Just(as_bool),
        ]
        .boxed()
    }

    /// A scalar that is the same (respelled) or slightly different, or of another type.
    fn scalar_variant(doc: &Doc) -> BoxedStrategy<Doc> {
        let one = || make_num(false, ("1".to_string(), 0), (0, 0, 0));
        let zero = || make_num(false, ("0".to_string(), 0), (0, 0, 0));
        match doc {
            Doc::Null => prop_oneof![
                Just(Doc::Bool(false)),
                Just(Doc::Num(zero())),
                Just(Doc::Str(Text {
                    value: "null".into(),
                    escape: Escape::Plain
                })),
            ]
            .boxed(),
            Doc::Bool(b) => {
                let b = *b;
                prop_oneof![
                    Just(Doc::Bool(!b)),
                    Just(Doc::Num(if b { one() } else { zero() })),
                    Just(Doc::Str(Text {
                        value: b.to_string(),
                        escape: Escape::Plain
                    })),
                ]
                .boxed()
            }
            Doc::Num(n) => number_variant(n),
            Doc::Str(s) => text_variant(s).prop_map(Doc::Str).boxed(),
            Doc::Arr(_) | Doc::Obj(_) => Just(doc.clone()).boxed(),
        }
    }

    /// A scalar.
    pub fn leaf() -> BoxedStrategy<Doc> {
        prop_oneof![
            1 => Just(Doc::Null),
            2 => any::<bool>().prop_map(Doc::Bool),
            4 => number().prop_map(Doc::Num),
            4 => text().prop_map(Doc::Str),
        ]
        .boxed()
    }

    /// Any JSON document up to four levels deep: scalars, arrays (of arrays, of objects),
    /// objects, empty containers.
    pub fn doc() -> BoxedStrategy<Doc> {
        leaf()
            .prop_recursive(4, 32, 5, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..5).prop_map(Doc::Arr),
                    vec((key(), inner), 0..5).prop_map(Doc::Obj),
                ]
            })
            .boxed()
    }

    /// A JSON object with any content (metadata, filters).
    pub fn object() -> BoxedStrategy<Doc> {
        vec((key(), doc()), 0..6).prop_map(Doc::Obj).boxed()
    }

    // --- right sides derived from left sides ----------------------------------------------

    /// Sub-objects of an object: each entry kept or dropped, its key maybe varied and its
    /// value derived; sometimes one extra entry.
    fn derive_entries(entries: &[(Text, Doc)]) -> BoxedStrategy<Doc> {
        let parts: Vec<BoxedStrategy<(Text, Doc)>> = entries
            .iter()
            .map(|(k, v)| {
                let key = prop_oneof![4 => Just(k.clone()), 1 => text_variant(k)];
                (key, derive(v, false)).boxed()
            })
            .collect();
        let n = entries.len();
        (
            parts,
            vec(any::<bool>(), n),
            option::weighted(0.15, (key(), leaf())),
        )
            .prop_map(|(parts, keep, extra)| {
                let mut out: Vec<(Text, Doc)> = parts
                    .into_iter()
                    .zip(keep)
                    .filter_map(|(part, keep)| keep.then_some(part))
                    .collect();
                out.extend(extra);
                Doc::Obj(out)
            })
            .boxed()
    }

    /// A right side derived from `doc`: the same document, a sub-object, a sub-array with
    /// elements reordered, repeated and themselves derived, a scalar respelled or mutated,
    /// the document wrapped in an array, an empty container or a random scalar; at the top
    /// level also an element lifted out of an array (`[5] @> 5`, `[[5]] @> [5]`).
    pub fn derive(doc: &Doc, top: bool) -> BoxedStrategy<Doc> {
        let mut options: Vec<(u32, BoxedStrategy<Doc>)> = vec![(3, Just(doc.clone()).boxed())];
        match doc {
            Doc::Arr(items) if !items.is_empty() => {
                let n = items.len();
                let parts: Vec<BoxedStrategy<Doc>> =
                    items.iter().map(|item| derive(item, false)).collect();
                let picks = (parts, vec(0..n, 0..=n + 1)).prop_map(|(parts, picks)| {
                    Doc::Arr(picks.into_iter().map(|i| parts[i].clone()).collect())
                });
                options.push((8, picks.boxed()));
                if top {
                    options.push((2, select(items.clone()).boxed()));
                }
            }
            Doc::Obj(entries) if !entries.is_empty() => {
                options.push((8, derive_entries(entries)));
            }
            Doc::Arr(_) | Doc::Obj(_) => {}
            scalar => options.push((6, scalar_variant(scalar))),
        }
        options.push((1, Just(Doc::Arr(vec![doc.clone()])).boxed()));
        options.push((
            1,
            prop_oneof![Just(Doc::Arr(vec![])), Just(Doc::Obj(vec![]))].boxed(),
        ));
        options.push((1, leaf()));
        Union::new_weighted(options).boxed()
    }

    /// Pairs (left, right) for `left @> right`: mostly a right side derived from the left,
    /// sometimes two independent documents.
    pub fn pair() -> BoxedStrategy<(Doc, Doc)> {
        let derived = |left: BoxedStrategy<Doc>| {
            left.prop_flat_map(|left| {
                let right = derive(&left, true);
                (Just(left), right)
            })
        };
        prop_oneof![
            4 => derived(doc()),
            2 => derived(object()),
            1 => (doc(), doc()),
            1 => (leaf(), leaf()),
        ]
        .boxed()
    }

    // --- memories and queries -------------------------------------------------------------

    const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

    /// Timestamps from a small pool so that rows tie, with neighbours one microsecond apart,
    /// a date before 1970 and the extremes engram accepts.
    const TIMES: [i64; 9] = [
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
    const USERS: [&str; 6] = ["alice", "Alice", "bob", "b\u{f6}b", "a\"b", "b\\c"];
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
    const TIERS: [&str; 4] = ["short_term", "mid_term", "long_term", "t_9"];

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

    fn pooled(pool: &'static [&'static str]) -> BoxedStrategy<String> {
        select(pool).prop_map(str::to_string).boxed()
    }

    /// Thread names: from the pool, sometimes any string.
    fn thread() -> BoxedStrategy<String> {
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

    fn row() -> impl Strategy<Value = Row> {
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
    fn recipe() -> impl Strategy<Value = Vec<u8>> {
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
}
