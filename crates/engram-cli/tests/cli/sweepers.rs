//! Concurrent sweeps in real processes: four `engram sweep` runs started at once on a store
//! of expired and live memories delete every expired memory exactly once between them, and
//! no live one (both backends).

use std::process::{Child, Stdio};

use engram::{EventKind, MemoryQuery, NewMemory, Store, Timestamp};
use engram_testkit::TestDb;
use uuid::Uuid;

use crate::common::{engram_command, expect_success};

engram_testkit::cross_backend!(concurrent_sweeps_delete_each_expired_memory_once);

/// Memories written per round (every other one expired), rounds, sweepers per round.
const MEMORIES: u32 = 10_000;
const ROUNDS: u32 = 3;
const SWEEPERS: usize = 4;
const BATCH: &str = "50";

/// Memory `n`'s id.
fn memory_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(n))
}

/// `engram --database-url DSN sweep --batch-size 50` started in the background, its stdout
/// kept.
fn sweeper(db: &TestDb) -> Child {
    engram_command(db, &["sweep", "--batch-size", BATCH])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start engram sweep")
}

/// The deleted count of `swept N expired memories in M transactions`.
fn swept(stdout: &str) -> u64 {
    stdout
        .trim()
        .strip_prefix("swept ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected sweep output: {stdout:?}"))
}

/// Each round writes [`MEMORIES`] new memories, the even ones expired (in 2020), the odd ones
/// live (half never expiring, half in a year), then runs [`SWEEPERS`] sweeps at once. Every
/// sweep must exit 0, their deleted counts must add up to the round's expired memories,
/// every live memory of every round must still be there and no expired one, and each
/// expired memory's history must hold exactly one `expire` event (each live one none).
pub fn concurrent_sweeps_delete_each_expired_memory_once(db: &TestDb) {
    let store = Store::open(db.dsn()).expect("open the store");
    store.migrate().expect("migrate");
    let past = Timestamp::parse_rfc3339("2020-01-01T00:00:00Z").expect("time");
    let next_year = Timestamp::now().saturating_add(std::time::Duration::from_secs(365 * 86_400));
    let mut live = Vec::new();
    for round in 0..ROUNDS {
        let first = round * MEMORIES;
        let mut expired = Vec::new();
        let memories: Vec<NewMemory> = (first..first + MEMORIES)
            .map(|n| {
                let memory = NewMemory::new("alice", format!("m{n}")).id(memory_id(n));
                match n % 4 {
                    0 | 2 => {
                        expired.push(memory_id(n));
                        memory.expires_at(past)
                    }
                    1 => {
                        live.push(memory_id(n));
                        memory
                    }
                    _ => {
                        live.push(memory_id(n));
                        memory.expires_at(next_year)
                    }
                }
            })
            .collect();
        store.insert_many(memories).expect("insert the memories");
        assert_eq!(
            store.count_expired().expect("count_expired"),
            expired.len() as u64
        );

        let sweepers: Vec<Child> = (0..SWEEPERS).map(|_| sweeper(db)).collect();
        let counts: Vec<u64> = sweepers
            .into_iter()
            .map(|child| {
                let output = child.wait_with_output().expect("wait for engram sweep");
                swept(&expect_success(&["sweep", "--batch-size", BATCH], &output))
            })
            .collect();
        eprintln!(
            "{} round {round}: the sweepers deleted {counts:?}",
            db.kind()
        );
        assert_eq!(
            counts.iter().sum::<u64>(),
            expired.len() as u64,
            "round {round}: deleted counts {counts:?}"
        );

        assert_eq!(store.count_expired().expect("count_expired"), 0);
        let stored = store
            .count(MemoryQuery::new().include_expired())
            .expect("count");
        assert_eq!(stored, live.len() as u64, "round {round}: memories left");
        for id in &live {
            assert!(
                store.get(*id).expect("get").is_some(),
                "round {round}: live memory {id} is gone"
            );
            let history = store.history(*id).expect("history");
            assert!(
                history.iter().all(|event| event.kind != EventKind::Expire),
                "round {round}: live memory {id} has an expire event: {history:?}"
            );
        }
        for id in &expired {
            assert!(store.get(*id).expect("get").is_none());
            let history = store.history(*id).expect("history");
            let expires = history
                .iter()
                .filter(|event| event.kind == EventKind::Expire)
                .count();
            assert_eq!(
                expires, 1,
                "round {round}: expired memory {id}'s history: {history:?}"
            );
        }
    }
}
