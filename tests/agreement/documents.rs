//! Documents and numbers read back as PostgreSQL itself makes them of the same JSON text.

use engram::{NewMemory, Timestamp};
use engram_core::document::normalize;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::{check, fail, fixture, generate, pg_jsonb, pg_jsonb_text, raw, BackendKind};

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
    let sqlite = fixture(BackendKind::Sqlite);
    let postgres = fixture(BackendKind::Postgres);
    let next_id = std::sync::atomic::AtomicU64::new(1);
    check(
        "tests/proptest-regressions/agreement/round_trip.txt",
        generate::round_trip_case(),
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
            for (name, store) in [("SQLite", &sqlite.store), ("PostgreSQL", &postgres.store)] {
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

/// The test server's `server_version_num` (150004 for 15.4).
fn server_version_num() -> i32 {
    let mut oracle = crate::postgres();
    let row = oracle
        .client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .expect("read the server version");
    row.get(0)
}

/// Oracle: PostgreSQL's `($1::text::jsonb)::text` of a lone number, including spellings
/// outside `numeric`'s range (exponents near ±16383 digits of scale, 131072 integer digits
/// and `INT_MAX / 2`).
///
/// `engram_core::document::normalize` accepts exactly the numbers PostgreSQL accepts, and
/// prints each in exactly PostgreSQL's `numeric` output form (PostgreSQL 16 also accepts a
/// zero with a huge exponent, which 15 and engram refuse).
#[test]
fn number_spellings_are_accepted_and_printed_as_postgres_does() {
    check(
        "tests/proptest-regressions/agreement/numbers.txt",
        generate::any_number(),
        |number| {
            let text = number.spell();
            let value: Value = serde_json::from_str(&text).map_err(fail("not JSON"))?;
            let engram = normalize(value, "n").map(|v| v.to_string());
            match (engram, pg_jsonb_text(&text)?) {
                (Ok(ours), Ok(theirs)) => {
                    proptest::prop_assert_eq!(ours, theirs, "output form of {}", text)
                }
                (Err(_), Err(_)) => {}
                // PostgreSQL 16 reads a zero with an exponent beyond numeric's range as 0,
                // where 15 refuses it. engram refuses it on both backends, as 15 does: what
                // one supported server refuses is refused everywhere.
                (Err(_), Ok(theirs))
                    if server_version_num() >= 160_000
                        && theirs.chars().all(|c| matches!(c, '0' | '.')) => {}
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
