//! [`Store`]: the facade that opens the backend a DSN names, validates every input once, and
//! delegates to the backend.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use engram_core::health::{Expired, MigrationHealth, SWEEP_OVERDUE_AFTER_SECS};
use engram_core::index::IndexCheck;
use engram_core::item::{check_key, Item, ItemSearch, Namespace, NamespaceQuery};
use engram_core::{
    validate, Audit, BackendKind, Cluster, ClusterQuery, ClusterUpsert, Dsn, Error, ErrorKind,
    Health, HistoryEvent, Memory, MemoryBackend, MemoryQuery, MemoryUpdate, Metric, NearestQuery,
    Neighbour, NewMemory, OnConflict, PolicyReport, PoolOptions, Result, Stats, Sweep, TierPolicy,
    Timestamp, VectorIndex, VectorSupport,
};
use engram_migrate::{MigrationSet, Migrator};

/// Memories per transaction when [`Store::update_index`] applies the index's queue.
pub const INDEX_BATCH: u64 = 10_000;
use engram_postgres::PostgresStore;
use engram_sqlite::SqliteStore;

/// The backend a [`Store`] was opened on.
#[derive(Debug)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Backend {
    fn as_dyn(&self) -> &dyn MemoryBackend {
        match self {
            Backend::Sqlite(store) => store,
            Backend::Postgres(store) => store,
        }
    }
}

/// An engram store. `Send + Sync` and cheap to clone: clones share one connection pool.
///
/// Open one with [`Store::open`] (defaults) or [`Store::builder`] (pool size, timeouts).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<Backend>,
    dsn: Arc<Dsn>,
    /// Whether writes append history events.
    history: bool,
    /// Who writes, recorded in each history event.
    actor: Option<Arc<str>>,
}

/// Settings for opening a [`Store`].
///
/// ```
/// use std::time::Duration;
/// let store = engram::Store::builder("sqlite::memory:")
///     .pool_size(4)
///     .connection_timeout(Duration::from_secs(5))
///     .open()
///     .unwrap();
/// assert_eq!(store.kind(), engram::BackendKind::Sqlite);
/// ```
#[derive(Clone, Debug)]
pub struct StoreBuilder {
    dsn: String,
    options: PoolOptions,
    history: bool,
}

impl StoreBuilder {
    /// Most connections the pool opens (default 8; an in-memory SQLite database uses one).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.options.max_size = size;
        self
    }

    /// How long to wait for a connection (default 30 s): for a free one from the pool, and
    /// for a new one to open. On PostgreSQL it bounds the whole connection handshake, so a
    /// server that accepts the connection and never answers fails within it; a DSN's own
    /// `connect_timeout` takes precedence.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.options.connection_timeout = timeout;
        self
    }

    /// How long a statement waits for a lock that another connection holds before it fails
    /// (default 10 s): SQLite's busy timeout, PostgreSQL's `lock_timeout` (which a DSN's
    /// `options=-c lock_timeout=…` overrides). A statement that runs long for other reasons is
    /// not bounded by it; on PostgreSQL, `options=-c statement_timeout=…` in the DSN does that.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.options.busy_timeout = timeout;
        self
    }

    /// Whether this store's writes append history events (default: they do). Off, a write
    /// costs what it did before history existed, and [`Store::history`] lists only what
    /// was recorded while it was on (or by other stores of the same database that keep it).
    pub fn history(mut self, keep: bool) -> Self {
        self.history = keep;
        self
    }

    /// Opens the store.
    pub fn open(self) -> Result<Store> {
        let dsn = Dsn::parse(&self.dsn)?;
        let backend = match &dsn {
            Dsn::Sqlite(location) => Backend::Sqlite(SqliteStore::open(location, &self.options)?),
            Dsn::Postgres(url) => Backend::Postgres(PostgresStore::open(url, &self.options)?),
        };
        Ok(Store {
            backend: Arc::new(backend),
            dsn: Arc::new(dsn),
            history: self.history,
            actor: None,
        })
    }
}

impl Store {
    /// Opens the store a DSN names, with default pool settings. The schema is not touched:
    /// call [`Store::migrate`] to create or upgrade it.
    ///
    /// ```
    /// let err = engram::Store::open("mysql://localhost/db").unwrap_err();
    /// assert_eq!(err.kind(), engram::ErrorKind::InvalidDsn);
    /// ```
    pub fn open(dsn: &str) -> Result<Store> {
        Self::builder(dsn).open()
    }

    /// A builder for a store with custom pool settings.
    pub fn builder(dsn: &str) -> StoreBuilder {
        StoreBuilder {
            dsn: dsn.to_string(),
            options: PoolOptions::default(),
            history: true,
        }
    }

    /// This store (the same pool) with writes recorded in history as made by `actor`
    /// (1 to 128 characters), such as an agent's or a user's name.
    ///
    /// ```
    /// use engram::{EventKind, MemoryUpdate, NewMemory, Store};
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// let memory = store.insert(NewMemory::new("alice", "prefers tea"))?;
    /// store.with_actor("planner")?.update(memory.id, MemoryUpdate::default().content("prefers coffee"))?;
    /// let events = store.history(memory.id)?;
    /// assert_eq!(events[1].kind, EventKind::Update);
    /// assert_eq!(events[1].changes["content"]["before"], "prefers tea");
    /// assert_eq!(events[1].actor.as_deref(), Some("planner"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_actor(&self, actor: &str) -> Result<Store> {
        engram_core::validate::name(actor, "actor")?;
        Ok(Store {
            actor: Some(actor.into()),
            ..self.clone()
        })
    }

    /// What a write at `at` records of itself.
    fn audit(&self, at: Timestamp) -> Audit {
        Audit {
            history: self.history,
            actor: self.actor.as_deref().map(str::to_string),
            at,
        }
    }

    /// The history of memory `id`, oldest first: one event per change (insert, update with
    /// the fields that changed before and after, delete, expiry sweep, policy move, trim and
    /// retention), each with its time and actor. Events outlive the memory; they go only
    /// with [`Store::prune_history`].
    pub fn history(&self, id: Uuid) -> Result<Vec<HistoryEvent>> {
        self.backend().history(id)
    }

    /// Deletes the history events older than `before`; returns how many.
    pub fn prune_history(&self, before: Timestamp) -> Result<u64> {
        self.backend().prune_history(before.validate("before")?)
    }

    /// Which backend the DSN chose.
    pub fn kind(&self) -> BackendKind {
        self.backend.as_dyn().kind()
    }

    /// The DSN, printable: its password is replaced by `***`.
    pub fn dsn(&self) -> &Dsn {
        &self.dsn
    }

    /// The backend itself, for callers that work with [`MemoryBackend`] directly (inputs are
    /// then not validated: use the methods of [`Store`] unless you validate yourself).
    pub fn backend(&self) -> &dyn MemoryBackend {
        self.backend.as_dyn()
    }

    /// The migration set for this store's dialect, embedded in the binary.
    pub fn migrations(&self) -> &'static MigrationSet {
        MigrationSet::embedded(self.kind())
    }

    /// Runs `work` with a [`Migrator`] on one of the store's connections, holding the
    /// migration lock as the migrator takes it.
    pub fn with_migrator<T>(
        &self,
        work: impl FnOnce(&mut Migrator<'_>) -> std::result::Result<T, engram_migrate::MigrateError>,
    ) -> Result<T> {
        let set = self.migrations();
        let result = match &*self.backend {
            Backend::Sqlite(store) => {
                let mut conn = store.connection()?;
                work(&mut Migrator::sqlite(&mut conn, set))
            }
            Backend::Postgres(store) => {
                store.without_lock_timeout(|client| work(&mut Migrator::postgres(client, set)))?
            }
        };
        result.map_err(Error::from)
    }

    /// Applies every pending migration, then brings SQLite's containment index up to date
    /// (see [`Store::update_index`]); returns the versions applied (empty when the schema was
    /// up to date). Safe to call from several processes at once.
    pub fn migrate(&self) -> Result<Vec<u32>> {
        let applied = self.with_migrator(|migrator| {
            Ok(migrator
                .up(None)?
                .into_iter()
                .map(|applied| applied.version)
                .collect())
        })?;
        self.update_index(&mut |_, _| {})?;
        Ok(applied)
    }

    /// Applies the changes queued for SQLite's containment index in transactions of
    /// [`INDEX_BATCH`] memories, calling `progress(applied, queued)` after each; returns how
    /// many it applied. Every write does this for what it wrote; a migration that indexes
    /// the memories already stored (0003) queues them all, and [`Store::migrate`] and
    /// `engram migrate up` call this right after it. Until then queries stay exact, reading
    /// the queued memories as candidates. Nothing to do on PostgreSQL.
    pub fn update_index(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        self.backend().update_index(INDEX_BATCH, progress)
    }

    /// Recomputes the containment index's keys of every memory and compares them with the
    /// stored index: a sound index has nothing [`missing`](IndexCheck::missing), nothing
    /// [`extra`](IndexCheck::extra) and no [stale timestamp](IndexCheck::stale_times).
    /// Always sound on PostgreSQL, which keeps its own indexes.
    ///
    /// ```
    /// # fn main() -> engram::Result<()> {
    /// let store = engram::Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// store.insert(engram::NewMemory::new("alice", "likes tea").metadata(serde_json::json!({"tags": ["tea"]})))?;
    /// assert!(store.check_index()?.is_sound());
    /// # Ok(())
    /// # }
    /// ```
    pub fn check_index(&self) -> Result<IndexCheck> {
        self.backend().check_index()
    }

    /// A health report: the migrations' state, every table's and index's size, index usage
    /// where the database counts it (PostgreSQL), integrity checks (SQLite `quick_check`;
    /// PostgreSQL: no invalid index, and amcheck's B-tree check where installed), the
    /// containment index checked against the memories, expired memories and items not yet
    /// swept, and SQLite's write-ahead log. [`Health::attention`](engram_core::Health::attention) names
    /// what needs attention; the keys are the same on both backends. It reads every memory
    /// once (the index check), so it takes about as long as an export.
    ///
    /// ```
    /// # fn main() -> engram::Result<()> {
    /// let store = engram::Store::open("sqlite::memory:")?;
    /// assert!(!store.health()?.is_healthy(), "migrations are pending");
    /// store.migrate()?;
    /// let health = store.health()?;
    /// assert!(health.is_healthy(), "{:?}", health.attention);
    /// assert!(health.storage.relations.iter().any(|r| r.name == "memories"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn health(&self) -> Result<Health> {
        use engram_migrate::MigrationState;
        let now = Timestamp::now();
        let status = self.with_migrator(|migrator| migrator.status())?;
        let versions = |state: MigrationState| {
            status
                .iter()
                .filter(|line| line.state == state)
                .map(|line| line.version)
                .collect::<Vec<_>>()
        };
        let migrations = MigrationHealth {
            current: status
                .iter()
                .filter(|line| line.state != MigrationState::Pending)
                .map(|line| line.version)
                .max(),
            latest: self.migrations().head().unwrap_or(0),
            pending: versions(MigrationState::Pending),
            failed: versions(MigrationState::Failed),
            changed: versions(MigrationState::Changed),
            unknown: versions(MigrationState::Unknown),
        };
        let storage = self.backend().storage()?;
        // A schema older than this engram's has no memories to check or count as it does.
        let overdue_since = now.saturating_sub(Duration::from_secs(SWEEP_OVERDUE_AFTER_SECS));
        let backend = self.backend();
        let checks = (|| -> Result<_> {
            let memories = Expired {
                unswept: backend.count_expired(now)?,
                overdue: backend.count_expired(overdue_since)?,
            };
            let items = Expired {
                unswept: backend.count_expired_items(now)?,
                overdue: backend.count_expired_items(overdue_since)?,
            };
            Ok((self.check_index()?, memories, items))
        })();
        let (containment_index, expired_memories, expired_items) = match checks {
            Ok((index, memories, items)) => (Some(index), Some(memories), Some(items)),
            Err(e) if e.kind() == ErrorKind::Schema => (None, None, None),
            Err(e) => return Err(e),
        };
        Ok(Health::new(
            self.kind(),
            migrations,
            storage,
            containment_index,
            expired_memories,
            expired_items,
        ))
    }

    /// Stores `value` (a JSON object) as the item `key` of `namespace`, replacing what is
    /// there (whose `created_at` it keeps); with a `ttl`, the item expires that long after
    /// now. Returns the item as stored.
    ///
    /// ```
    /// use engram::{ItemSearch, Namespace, Store};
    /// use serde_json::json;
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// let alice = Namespace::new(["users", "alice"])?;
    /// store.put_item(&alice, "diet", json!({"likes": "tea", "n": 10}), None)?;
    /// assert_eq!(store.get_item(&alice, "diet")?.unwrap().value["likes"], "tea");
    /// let found = store.search_items(ItemSearch::new(["users"]))?;
    /// assert_eq!(found.len(), 1);
    /// assert!(store.delete_item(&alice, "diet")?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn put_item(
        &self,
        namespace: &Namespace,
        key: &str,
        value: serde_json::Value,
        ttl: Option<Duration>,
    ) -> Result<Item> {
        check_key(key)?;
        let value = engram_core::document::normalize_object(value, "value")?;
        self.backend()
            .put_item(namespace, key, &value, ttl, Timestamp::now())
    }

    /// Deletes the expired items, `batch` per transaction; returns how many and in how many
    /// transactions. Reads already leave expired items out. Safe to run from several
    /// processes at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use engram::{Namespace, NamespaceQuery, Store};
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// let sessions = Namespace::new(["sessions", "alice"])?;
    /// store.put_item(&sessions, "gone", serde_json::json!({}), Some(Duration::ZERO))?;
    /// store.put_item(&sessions, "kept", serde_json::json!({}), None)?;
    /// assert_eq!(store.sweep_items(100)?.deleted, 1);
    /// assert_eq!(store.list_namespaces(NamespaceQuery::default())?, [sessions]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sweep_items(&self, batch: u64) -> Result<Sweep> {
        let now = Timestamp::now();
        in_batches(|| self.backend().sweep_items(now, batch.max(1)))
    }

    /// The item `key` of `namespace`, unless it is missing or has expired.
    pub fn get_item(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>> {
        check_key(key)?;
        self.backend()
            .get_item(namespace, key, Timestamp::now(), false)
    }

    /// [`Store::get_item`], refreshing the item's expiry: an item put with a time to live
    /// then expires that long after this read ([`Item::refresh`]). A write: it takes the
    /// item's row lock (PostgreSQL) or the write lock (SQLite).
    pub fn get_item_refreshing(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>> {
        check_key(key)?;
        self.backend()
            .get_item(namespace, key, Timestamp::now(), true)
    }

    /// Deletes the item `key` of `namespace`; whether it was there (and live).
    pub fn delete_item(&self, namespace: &Namespace, key: &str) -> Result<bool> {
        check_key(key)?;
        self.backend().delete_item(namespace, key, Timestamp::now())
    }

    /// The live items `search` selects: under its namespace prefix, passing its value
    /// filter (see [`Filter`](engram_core::filter::Filter)), newest first (ties by
    /// namespace, then key), paged; [`ItemSearch::refreshing`] refreshes their expiry as
    /// [`Store::get_item_refreshing`] does.
    pub fn search_items(&self, search: ItemSearch) -> Result<Vec<Item>> {
        search.check()?;
        self.backend().search_items(&search, Timestamp::now())
    }

    /// The namespaces that hold live items, as `query` lists them (prefix and suffix with
    /// `*` wildcards, `max_depth`, sorted by label, paged).
    pub fn list_namespaces(&self, query: NamespaceQuery) -> Result<Vec<Namespace>> {
        query.check()?;
        let stored = self
            .backend()
            .item_namespaces(query.literal_prefix().as_ref(), Timestamp::now())?;
        Ok(query.select(stored))
    }

    /// Stores one memory; returns it as stored (with its id and timestamps).
    pub fn insert(&self, memory: NewMemory) -> Result<Memory> {
        let now = Timestamp::now();
        let row = validate::new_memory(memory, now)?;
        self.backend().insert_memories(
            std::slice::from_ref(&row),
            OnConflict::Fail,
            &self.audit(now),
        )?;
        Ok(row)
    }

    /// Stores many memories in one transaction: all or none. Fails with
    /// [`Error::Conflict`] when an id already exists, or is given twice in the batch.
    /// Returns the ids in input order. On PostgreSQL a batch of two or more is written with
    /// one binary `COPY` (and one for the embeddings).
    pub fn insert_many(&self, memories: Vec<NewMemory>) -> Result<Vec<Uuid>> {
        let rows = self.prepare_rows(memories)?;
        self.backend()
            .insert_memories(&rows, OnConflict::Fail, &self.audit(Timestamp::now()))?;
        Ok(rows.iter().map(|m| m.id).collect())
    }

    /// Stores many memories in one transaction, leaving out those whose id is already stored
    /// (so running the same import twice adds nothing); a skipped memory keeps what is
    /// stored, its embedding included. An id given twice in the batch is stored once, as
    /// its first occurrence. Returns how many were new. On PostgreSQL the ids already
    /// stored are looked up first and the rest written with one binary `COPY`; should
    /// another session store one of them meanwhile, the batch is written again with
    /// `INSERT … ON CONFLICT DO NOTHING` instead.
    pub fn import(&self, memories: Vec<NewMemory>) -> Result<u64> {
        let rows = self.prepare_rows(memories)?;
        self.backend()
            .insert_memories(&rows, OnConflict::Skip, &self.audit(Timestamp::now()))
    }

    /// Validates a batch; an error names the memory (`memory #N of the batch`), also when an
    /// embedding's dimensions differ from those of the batch's first embedding.
    fn prepare_rows(&self, memories: Vec<NewMemory>) -> Result<Vec<Memory>> {
        let now = Timestamp::now();
        let rows = memories
            .into_iter()
            .enumerate()
            .map(|(index, memory)| {
                validate::new_memory(memory, now).map_err(|err| match err {
                    Error::InvalidInput { field, reason } => Error::InvalidInput {
                        field,
                        reason: format!("{reason} (memory #{} of the batch)", index + 1),
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<Memory>>>()?;
        engram_core::vector::common_dimensions(&rows)?;
        Ok(rows)
    }

    /// Reads one memory (without its embedding: see [`Store::get_with_embedding`]); `None`
    /// when there is no such id, or the memory has expired.
    pub fn get(&self, id: Uuid) -> Result<Option<Memory>> {
        self.backend().get_memory(id, false, Timestamp::now())
    }

    /// Reads one memory with its embedding, if it has one (`None` as [`Store::get`]).
    pub fn get_with_embedding(&self, id: Uuid) -> Result<Option<Memory>> {
        self.backend().get_memory(id, true, Timestamp::now())
    }

    /// Changes a memory's content, metadata, tier, score, related threads, summarized flag,
    /// embedding or expiry; `updated_at` moves to now. Returns the memory without its
    /// embedding. Fails with [`Error::NotFound`] when there is no such id, or the memory has
    /// expired (an expired memory cannot be brought back).
    ///
    /// ```
    /// use std::time::Duration;
    /// use engram::{MemoryUpdate, NewMemory, Store};
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// let memory = store.insert(NewMemory::new("alice", "in Lisbon this week").ttl(Duration::from_secs(3600)))?;
    /// assert!(memory.expires_at.is_some());
    /// let kept = store.update(memory.id, MemoryUpdate::default().never_expire())?;
    /// assert_eq!(kept.expires_at, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn update(&self, id: Uuid, update: MemoryUpdate) -> Result<Memory> {
        let now = Timestamp::now();
        let update = validate::update(update, now)?;
        self.backend()
            .update_memory(id, &update, now, &self.audit(now))?
            .ok_or_else(|| Error::NotFound {
                what: "memory",
                id: id.to_string(),
            })
    }

    /// Deletes a memory; returns whether it existed (an expired memory is deleted too, and
    /// answers `false`: no read saw it any more).
    pub fn delete(&self, id: Uuid) -> Result<bool> {
        let now = Timestamp::now();
        self.backend().delete_memory(id, now, &self.audit(now))
    }

    /// Deletes the memories that have expired by now, `batch` per transaction (at least 1),
    /// until none is left; returns how many it deleted and in how many transactions. Safe to
    /// run from several processes at once: each expired memory is deleted by one of them,
    /// and a memory that has not expired never is. Reads leave expired memories out
    /// whether or not a sweep has run; a sweep gives their space back.
    ///
    /// ```
    /// use engram::{NewMemory, Store, Timestamp};
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// let past = Timestamp::parse_rfc3339("2020-01-01T00:00:00Z")?;
    /// let old = store.insert(NewMemory::new("alice", "a stale plan").expires_at(past))?;
    /// assert_eq!(store.get(old.id)?, None);
    /// assert_eq!(store.sweep(1_000)?.deleted, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sweep(&self, batch: u64) -> Result<Sweep> {
        self.sweep_at(Timestamp::now(), batch)
    }

    /// [`Store::sweep`] as of `now`: deletes the memories with `expires_at <= now`.
    pub fn sweep_at(&self, now: Timestamp, batch: u64) -> Result<Sweep> {
        let audit = self.audit(now);
        in_batches(|| self.backend().sweep_expired(now, batch.max(1), &audit))
    }

    /// How many memories have expired by now and wait for a sweep.
    pub fn count_expired(&self) -> Result<u64> {
        self.backend().count_expired(Timestamp::now())
    }

    /// The memories matching `query`, in its order and page.
    pub fn query(&self, query: MemoryQuery) -> Result<Vec<Memory>> {
        self.backend().query_memories(&validate::query(query)?)
    }

    /// Streams the memories matching `query`, in its order and page, to `each` one at a time,
    /// all read from one consistent snapshot; returns how many `each` was given. Memory use
    /// stays flat however many memories match: this is what `engram export` runs on.
    ///
    /// What the snapshot guarantees:
    ///
    /// - **SQLite**: the rows are read inside one read transaction, so the export sees the
    ///   database as it was at its first read, whatever other connections or processes commit
    ///   meanwhile. In WAL mode (engram's default for files) writers go on while it runs; in
    ///   a rollback-journal database they wait for it (up to their busy timeout).
    /// - **PostgreSQL**: the rows are fetched from a portal (a cursor, a page per round trip)
    ///   inside one `REPEATABLE READ READ ONLY` transaction: one snapshot for every page,
    ///   writers never blocked. A very long export keeps old row versions from being vacuumed
    ///   until it ends.
    ///
    /// When `each` fails, the export stops there and its error is returned (what was passed
    /// before stays passed). Errors of the store come back through `E::from`.
    ///
    /// ```
    /// use engram::{MemoryQuery, NewMemory, Order, Store};
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// store.insert(NewMemory::new("alice", "prefers green tea"))?;
    /// store.insert(NewMemory::new("alice", "works in Lisbon"))?;
    /// let mut contents = Vec::new();
    /// let count = store.export(MemoryQuery::new().order(Order::UpdatedAsc), |memory| {
    ///     contents.push(memory.content);
    ///     Ok::<(), engram::Error>(())
    /// })?;
    /// assert_eq!(count, 2);
    /// assert_eq!(contents, ["prefers green tea", "works in Lisbon"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn export<E: From<Error>>(
        &self,
        query: MemoryQuery,
        mut each: impl FnMut(Memory) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let query = validate::query(query)?;
        let mut failed = None;
        let passed = self
            .backend()
            .export_memories(&query, &mut |memory| match each(memory) {
                Ok(()) => std::ops::ControlFlow::Continue(()),
                Err(err) => {
                    failed = Some(err);
                    std::ops::ControlFlow::Break(())
                }
            })?;
        match failed {
            Some(err) => Err(err),
            None => Ok(passed),
        }
    }

    /// How many memories match `query`'s filters (its order, limit and offset are ignored).
    pub fn count(&self, query: MemoryQuery) -> Result<u64> {
        self.backend().count_memories(&validate::query(query)?)
    }

    /// The `k` memories nearest to a vector among those matching the query's filter, with
    /// their distances, ordered by distance then id (see [`NearestQuery`] and
    /// [`engram_core::vector`] for the metrics). Memories without an embedding never come
    /// back. Fails with [`Error::InvalidInput`] when the vector's dimensions differ from the
    /// store's, and on PostgreSQL without pgvector with [`Error::Unsupported`].
    ///
    /// ```
    /// use engram::{Embedding, MemoryQuery, NearestQuery, NewMemory, Store};
    /// # fn main() -> engram::Result<()> {
    /// let store = Store::open("sqlite::memory:")?;
    /// store.migrate()?;
    /// let tea = Embedding::new(vec![0.9, 0.1, 0.0])?;
    /// let work = Embedding::new(vec![0.0, 0.2, 0.9])?;
    /// store.insert(NewMemory::new("alice", "prefers green tea").embedding(tea))?;
    /// store.insert(NewMemory::new("alice", "works in Lisbon").embedding(work))?;
    ///
    /// let question = Embedding::new(vec![1.0, 0.0, 0.1])?;
    /// let near = store.nearest(NearestQuery::new(question, 1).filter(MemoryQuery::new().user("alice")))?;
    /// assert_eq!(near[0].memory.content, "prefers green tea");
    /// assert!(near[0].distance < 0.02);
    /// # Ok(())
    /// # }
    /// ```
    pub fn nearest(&self, query: NearestQuery) -> Result<Vec<Neighbour>> {
        self.backend().nearest_memories(&validate::nearest(query)?)
    }

    /// The dimensions of this store's embeddings, fixed by the first one stored.
    pub fn vector_dimensions(&self) -> Result<Option<usize>> {
        self.backend().vector_dimensions()
    }

    /// Whether this store can keep and search embeddings now (SQLite always; PostgreSQL with
    /// pgvector enabled in the database), and if not, why and how to make it able.
    pub fn vector_support(&self) -> Result<VectorSupport> {
        self.backend().vector_support()
    }

    /// Makes vector operations available on a PostgreSQL server that got pgvector after
    /// `migrate` ran (nothing to do on SQLite, or where they already are).
    pub fn enable_vectors(&self) -> Result<()> {
        self.backend().enable_vectors()
    }

    /// Creates an approximate (HNSW) index for `index.metric`'s queries with
    /// [`Search::Approximate`](engram_core::Search::Approximate), replacing one made before.
    /// PostgreSQL only (SQLite always searches exactly: [`Error::Unsupported`]); the store
    /// must hold embeddings (their dimensions, at most 2,000, are the index's). Building
    /// takes a while on a large store.
    pub fn create_vector_index(&self, index: VectorIndex) -> Result<()> {
        index.check()?;
        self.backend().create_vector_index(&index)
    }

    /// Drops the approximate index for `metric`; returns whether there was one.
    pub fn drop_vector_index(&self, metric: Metric) -> Result<bool> {
        self.backend().drop_vector_index(metric)
    }

    /// Creates a cluster, or replaces the one with the same (user, topic, category), in one
    /// atomic statement.
    pub fn upsert_cluster(&self, cluster: ClusterUpsert) -> Result<Cluster> {
        validate::cluster(&cluster)?;
        self.backend()
            .upsert_cluster(&cluster, Uuid::now_v7(), Timestamp::now())
    }

    /// A user's clusters, optionally for one topic and category, by topic then category.
    pub fn clusters(&self, query: &ClusterQuery) -> Result<Vec<Cluster>> {
        validate::cluster_query(query)?;
        self.backend().get_clusters(query)
    }

    /// Deletes a cluster; returns whether it existed.
    pub fn delete_cluster(&self, cluster_id: Uuid) -> Result<bool> {
        self.backend().delete_cluster(cluster_id)
    }

    /// How many clusters are stored, of every user.
    pub fn count_clusters(&self) -> Result<u64> {
        self.backend().count_clusters()
    }

    /// Runs tier policies as of now (see [`Store::run_policies_at`]).
    pub fn run_policies(&self, policies: &[TierPolicy]) -> Result<PolicyReport> {
        self.run_policies_at(policies, Timestamp::now())
    }

    /// Runs tier policies as of `now`, in order, in one transaction. For each policy: one
    /// statement deletes the tier's memories older than its retention (by `created_at` or
    /// `updated_at`), one moves those whose `updated_at` is older than its expiry to the next
    /// tier, then one trims the content of those left to its maximum length; moves and trims
    /// set `updated_at` to `now` on the live rows they change. Returns the rows each step
    /// touched.
    pub fn run_policies_at(&self, policies: &[TierPolicy], now: Timestamp) -> Result<PolicyReport> {
        validate::policies(policies)?;
        let now = now.validate("now")?;
        self.backend().run_policies(policies, now, &self.audit(now))
    }

    /// Memory counts per tier and per user, optionally for one user.
    pub fn stats(&self, user_id: Option<&str>) -> Result<Stats> {
        if let Some(user) = user_id {
            engram_core::document::check_text(user, "user_id")?;
        }
        self.backend().stats(user_id, Timestamp::now())
    }
}

/// Runs `step` (one transaction, returning how many rows it deleted) until it deletes
/// nothing; counts the rows and the transactions that deleted any.
fn in_batches(mut step: impl FnMut() -> Result<u64>) -> Result<Sweep> {
    let mut sweep = Sweep::default();
    loop {
        let deleted = step()?;
        if deleted == 0 {
            return Ok(sweep);
        }
        sweep.deleted += deleted;
        sweep.batches += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Store>();
        let store = Store::open("sqlite::memory:").unwrap();
        store.migrate().unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || store.insert(NewMemory::new("u", format!("{i}"))))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().unwrap();
        }
        assert_eq!(store.count(MemoryQuery::new()).unwrap(), 4);
    }

    #[test]
    fn a_closed_postgres_port_is_a_connection_error_without_the_password() {
        let err = Store::builder("postgres://engram:hunter2@127.0.0.1:1/engram")
            .connection_timeout(Duration::from_secs(2))
            .open()
            .unwrap_err();
        assert_eq!(err.kind(), engram_core::ErrorKind::Connection, "{err}");
        let message = err.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.contains("postgres://engram:***@127.0.0.1:1/engram"),
            "{message}"
        );
    }

    #[test]
    fn migrations_run_without_the_lock_timeout_and_leave_it_set() {
        let url = engram_testkit::postgres::fresh_database_url();
        let store = Store::builder(&url)
            .busy_timeout(Duration::from_millis(300))
            .pool_size(1)
            .open()
            .unwrap();
        let Backend::Postgres(pg) = &*store.backend else {
            panic!("a PostgreSQL DSN opens a PostgreSQL store");
        };
        let show = |client: &mut postgres::Client| -> String {
            client.query_one("SHOW lock_timeout", &[]).unwrap().get(0)
        };
        assert_eq!(pg.without_lock_timeout(show).unwrap(), "0");
        assert_eq!(show(pg.connection().unwrap().client()), "300ms");
    }

    /// Opening a store on `url` fails, within a minute.
    fn open_fails(url: String, connection_timeout: Duration) -> Error {
        engram_testkit::faults::finishes_within_a_minute("opening a store", move || {
            Store::builder(&url)
                .connection_timeout(connection_timeout)
                .open()
                .map(drop)
        })
        .expect_err("a silent server cannot be opened")
    }

    #[test]
    fn a_server_that_never_answers_fails_within_the_connection_timeout() {
        let address = engram_testkit::faults::silent_server();
        let url = format!("postgres://engram:hunter2@{address}/engram");
        let err = open_fails(url, Duration::from_secs(1));
        assert_eq!(err.kind(), engram_core::ErrorKind::Connection, "{err}");
        let message = err.to_string();
        assert!(message.contains("did not answer within 1s"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");

        // The DSN's connect_timeout wins over the store's.
        let url = format!("postgres://engram:hunter2@{address}/engram?connect_timeout=2");
        let err = open_fails(url, Duration::from_secs(600));
        assert!(
            err.to_string().contains("did not answer within 2s"),
            "{err}"
        );
    }
}
