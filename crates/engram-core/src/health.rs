//! The health report of a store: what each backend measures of itself ([`Storage`]), what
//! the facade adds (migrations, the containment index, expired memories), and the one rule
//! of which findings need attention ([`Health::attention`]).

use serde::Serialize;

use crate::index::IndexCheck;
use crate::BackendKind;

/// A memory expired longer ago than this and still stored means no sweep has run for
/// that long: [`Health::attention`] names it. Memories expired more recently are normal
/// between two sweeps and only counted.
pub const SWEEP_OVERDUE_AFTER_SECS: u64 = 24 * 60 * 60;

/// A SQLite write-ahead log larger than this, and larger than the database itself, means
/// checkpoints are not keeping up (a reader that never lets go, usually):
/// [`Health::attention`] names it.
pub const WAL_ATTENTION_BYTES: u64 = 64 * 1024 * 1024;

/// The whole report of [`Store::health`](../../engram/struct.Store.html#method.health).
/// Its keys are the same on both backends; what a backend cannot measure is `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The backend (`sqlite` or `postgres` in JSON).
    pub backend: BackendKind,
    /// Where the schema stands against the migrations this engram has.
    pub migrations: MigrationHealth,
    /// What the backend measured of its own storage.
    #[serde(flatten)]
    pub storage: Storage,
    /// The containment index checked against the memories (always sound on PostgreSQL,
    /// whose GIN indexes PostgreSQL keeps); `null` while the schema is older than this engram's.
    pub containment_index: Option<IndexCheck>,
    /// Memories past their expiry and not swept yet; `null` while the schema is older than
    /// this engram's.
    pub expired_memories: Option<Expired>,
    /// Items past their expiry and not swept yet; `null` as for memories.
    pub expired_items: Option<Expired>,
    /// What needs attention, one line each; empty when healthy. The rule: migrations not
    /// applied, failed, changed or unknown; an integrity problem; a containment index that
    /// disagrees with the memories; a sweep overdue (a memory or an item expired more than
    /// [`SWEEP_OVERDUE_AFTER_SECS`] ago still stored); a SQLite WAL over
    /// [`WAL_ATTENTION_BYTES`] and larger than the database. Indexes never used are
    /// reported, not flagged: a new database has many.
    pub attention: Vec<String>,
}

/// Rows past their expiry that no sweep has deleted yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Expired {
    /// How many.
    pub unswept: u64,
    /// Of those, the ones expired more than [`SWEEP_OVERDUE_AFTER_SECS`] ago.
    pub overdue: u64,
}

/// The migrations' state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MigrationHealth {
    /// The newest version applied, if any.
    pub current: Option<u32>,
    /// The newest version this engram has.
    pub latest: u32,
    /// Versions this engram has and the database has not applied.
    pub pending: Vec<u32>,
    /// Versions recorded as failed midway (a no-transaction script).
    pub failed: Vec<u32>,
    /// Versions applied from a script other than this engram's.
    pub changed: Vec<u32>,
    /// Versions applied that this engram does not know (a newer engram's).
    pub unknown: Vec<u32>,
}

/// What a backend measures of its own storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Storage {
    /// Every table of the schema and every index (in the report: tables first, each by
    /// name).
    pub relations: Vec<Relation>,
    /// Whether the database counts index scans (PostgreSQL does; SQLite keeps no such
    /// counter, so there `scans` is `null` and `unused_indexes` empty).
    pub index_usage_tracked: bool,
    /// Indexes never scanned since the statistics were last reset, leaving out those that
    /// enforce a unique or primary key constraint (they work on every write).
    pub unused_indexes: Vec<String>,
    /// What the integrity checks ran and found.
    pub integrity: Integrity,
    /// The size of SQLite's write-ahead log file (0 without one); `null` on PostgreSQL,
    /// whose WAL belongs to the whole server (`max_wal_size` bounds it).
    pub wal_bytes: Option<u64>,
    /// The size of the database itself: SQLite's file, PostgreSQL's `pg_database_size`.
    pub database_bytes: u64,
}

/// A table or an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Relation {
    /// Its name.
    pub name: String,
    /// `table` or `index`.
    pub kind: RelationKind,
    /// The table it belongs to (itself for a table).
    pub table: String,
    /// Its own size: a table's rows (PostgreSQL: with TOAST), an index's entries.
    pub bytes: u64,
    /// A table's size with its indexes (PostgreSQL `pg_total_relation_size`); an index's
    /// own size.
    pub total_bytes: u64,
    /// Index scans since the statistics were reset, where the database counts them.
    pub scans: Option<u64>,
}

/// Whether a [`Relation`] is a table or an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// A table.
    Table,
    /// An index.
    Index,
}

/// What the integrity checks ran and found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// The checks that ran, by name (`quick_check`; `valid_indexes`, `amcheck`).
    pub checks: Vec<String>,
    /// What they found wrong, one line each (at most [`MAX_PROBLEMS`]); empty when sound.
    pub problems: Vec<String>,
}

/// Most problems an integrity check reports.
pub const MAX_PROBLEMS: usize = 100;

impl Health {
    /// Puts together the report: sorts the relations (tables first, then indexes, each by
    /// name) and fills [`Health::attention`].
    pub fn new(
        backend: BackendKind,
        migrations: MigrationHealth,
        mut storage: Storage,
        containment_index: Option<IndexCheck>,
        expired_memories: Option<Expired>,
        expired_items: Option<Expired>,
    ) -> Health {
        storage
            .relations
            .sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        let mut health = Health {
            backend,
            migrations,
            storage,
            containment_index,
            expired_memories,
            expired_items,
            attention: Vec::new(),
        };
        health.attention = health.findings();
        health
    }

    /// Whether nothing needs attention.
    pub fn is_healthy(&self) -> bool {
        self.attention.is_empty()
    }

    /// The findings of the rule [`Health::attention`] states.
    fn findings(&self) -> Vec<String> {
        let mut found = Vec::new();
        let versions = |list: &[u32]| {
            list.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let m = &self.migrations;
        if !m.pending.is_empty() {
            found.push(format!(
                "migrations pending: {} (run `engram migrate up`)",
                versions(&m.pending)
            ));
        }
        if !m.failed.is_empty() {
            found.push(format!(
                "migrations failed midway: {} (see `engram migrate repair`)",
                versions(&m.failed)
            ));
        }
        if !m.changed.is_empty() {
            found.push(format!(
                "migrations applied from a different script: {}",
                versions(&m.changed)
            ));
        }
        if !m.unknown.is_empty() {
            found.push(format!(
                "migrations this engram does not know: {} (a newer engram applied them)",
                versions(&m.unknown)
            ));
        }
        for problem in &self.storage.integrity.problems {
            found.push(format!("integrity: {problem}"));
        }
        if let Some(index) = &self.containment_index {
            if !index.is_sound() {
                found.push(format!(
                    "containment index: {} missing, {} extra, {} stale timestamps \
                     (queries it serves can miss memories or sort them wrongly)",
                    index.missing, index.extra, index.stale_times
                ));
            }
        }
        let kinds = [
            (self.expired_memories, "memory", "memories"),
            (self.expired_items, "item", "items"),
        ];
        for (expired, one, many) in kinds {
            let Some(overdue) = expired.map(|e| e.overdue).filter(|&n| n > 0) else {
                continue;
            };
            let noun = if overdue == 1 { one } else { many };
            found.push(format!(
                "sweep overdue: {overdue} {noun} expired over a day ago still stored \
                 (run `engram sweep`)"
            ));
        }
        if let Some(wal) = self.storage.wal_bytes {
            if wal > WAL_ATTENTION_BYTES && wal > self.storage.database_bytes {
                found.push(format!(
                    "write-ahead log is {wal} bytes, larger than the database ({} bytes): \
                     checkpoints are not keeping up",
                    self.storage.database_bytes
                ));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Health {
        Health::new(
            BackendKind::Sqlite,
            MigrationHealth {
                current: Some(6),
                latest: 6,
                ..MigrationHealth::default()
            },
            Storage {
                database_bytes: 4096,
                wal_bytes: Some(0),
                ..Storage::default()
            },
            Some(IndexCheck::default()),
            Some(Expired {
                unswept: 3,
                overdue: 0,
            }),
            Some(Expired::default()),
        )
    }

    fn attention(change: impl FnOnce(&mut Health)) -> Vec<String> {
        let mut health = healthy();
        change(&mut health);
        health.findings()
    }

    #[test]
    fn a_sound_store_with_recently_expired_memories_is_healthy() {
        assert!(healthy().is_healthy(), "{:?}", healthy().attention);
    }

    #[test]
    fn each_finding_is_named() {
        let found = attention(|h| h.migrations.pending = vec![5, 6]);
        assert_eq!(
            found,
            ["migrations pending: 5, 6 (run `engram migrate up`)"]
        );
        let found = attention(|h| h.storage.integrity.problems = vec!["page 3 is bad".into()]);
        assert_eq!(found, ["integrity: page 3 is bad"]);
        let found = attention(|h| h.containment_index.as_mut().unwrap().extra = 2);
        assert!(
            found[0].starts_with("containment index: 0 missing, 2 extra"),
            "{found:?}"
        );
        let overdue = |n| {
            Some(Expired {
                unswept: n,
                overdue: n,
            })
        };
        let found = attention(|h| h.expired_memories = overdue(4));
        assert!(
            found[0].starts_with("sweep overdue: 4 memories"),
            "{found:?}"
        );
        let found = attention(|h| h.expired_memories = overdue(1));
        assert!(
            found[0].starts_with("sweep overdue: 1 memory expired"),
            "{found:?}"
        );
        let found = attention(|h| h.expired_items = overdue(2));
        assert!(
            found[0].starts_with("sweep overdue: 2 items expired"),
            "{found:?}"
        );
        assert_eq!(attention(|h| h.migrations.failed = vec![3]).len(), 1);
        assert_eq!(attention(|h| h.migrations.changed = vec![3]).len(), 1);
        assert_eq!(attention(|h| h.migrations.unknown = vec![7]).len(), 1);
    }

    #[test]
    fn a_large_wal_needs_attention_only_when_larger_than_the_database() {
        let big = WAL_ATTENTION_BYTES + 1;
        let found = attention(|h| h.storage.wal_bytes = Some(big));
        assert!(found[0].starts_with("write-ahead log is"), "{found:?}");
        let found = attention(|h| {
            h.storage.wal_bytes = Some(big);
            h.storage.database_bytes = big + 1;
        });
        assert!(found.is_empty(), "{found:?}");
        assert!(attention(|h| h.storage.wal_bytes = None).is_empty());
    }
}
