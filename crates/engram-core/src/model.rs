//! The data model: memories, clusters, tiers, timestamps and the statistics over them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::{Embedding, Error, Result};

/// The tier new memories land in unless told otherwise.
pub const SHORT_TERM: &str = "short_term";
/// The middle default tier.
pub const MID_TERM: &str = "mid_term";
/// The last default tier.
pub const LONG_TERM: &str = "long_term";
/// The default tiers, in promotion order.
pub const DEFAULT_TIERS: [&str; 3] = [SHORT_TERM, MID_TERM, LONG_TERM];
/// The namespace of memories stored without one.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The score of memories stored without one.
pub const DEFAULT_SCORE: i32 = 50;

/// A point in time with microsecond precision, stored as microseconds since the Unix epoch.
///
/// Both backends keep exactly these microseconds (PostgreSQL `timestamptz`, SQLite
/// `INTEGER`). In JSON it is written as RFC 3339 in UTC; it reads RFC 3339 or an integer
/// number of microseconds.
///
/// ```
/// use engram_core::Timestamp;
/// let t = Timestamp::parse_rfc3339("2026-01-02T03:04:05.000006Z").unwrap();
/// assert_eq!(t.as_micros(), 1_767_323_045_000_006);
/// assert_eq!(t.to_string(), "2026-01-02T03:04:05.000006Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 0001-01-01T00:00:00Z, the earliest timestamp engram accepts.
    pub const MIN: Timestamp = Timestamp(-62_135_596_800_000_000);
    /// 9999-12-31T23:59:59.999999Z, the latest timestamp engram accepts.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// From microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// From a [`SystemTime`], truncated to microseconds.
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => {
                let micros = before.duration().as_nanos().div_ceil(1000);
                Timestamp(-i64::try_from(micros).unwrap_or(i64::MAX))
            }
        }
    }

    /// As a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }

    /// This timestamp moved forward by `duration` (saturating at [`Timestamp::MAX`]).
    pub fn saturating_add(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros).min(Self::MAX.0))
    }

    /// Whether a memory or an item expiring at `expires_at` has expired at this moment: it has from
    /// its expiry time on (`expires_at <= now`), the rule both backends render in SQL.
    ///
    /// ```
    /// use engram_core::Timestamp;
    /// let now = Timestamp::from_micros(10);
    /// assert!(now.has_expired(Some(Timestamp::from_micros(10))));
    /// assert!(!now.has_expired(Some(Timestamp::from_micros(11))));
    /// assert!(!now.has_expired(None));
    /// ```
    pub fn has_expired(self, expires_at: Option<Timestamp>) -> bool {
        expires_at.is_some_and(|at| at <= self)
    }

    /// What a delete at this moment answers, given the expiry of the row it deleted (`None`:
    /// no row): whether it deleted a row that was live. An expired row is deleted too, but
    /// a reader could not see it, so the answer is `false`, as for no row.
    ///
    /// ```
    /// use engram_core::Timestamp;
    /// let now = Timestamp::from_micros(10);
    /// assert!(now.deleted_live(Some(None)));
    /// assert!(!now.deleted_live(Some(Some(Timestamp::from_micros(10)))));
    /// assert!(!now.deleted_live(None));
    /// ```
    pub fn deleted_live(self, deleted: Option<Option<Timestamp>>) -> bool {
        deleted.is_some_and(|expires_at| !self.has_expired(expires_at))
    }

    /// This timestamp moved back by `duration` (saturating at [`Timestamp::MIN`]).
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(micros).max(Self::MIN.0))
    }

    /// Parses an RFC 3339 timestamp (`2026-01-02T03:04:05.123456Z`, any offset).
    /// Digits past the microsecond are truncated.
    pub fn parse_rfc3339(text: &str) -> Result<Self> {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    Error::invalid("timestamp", format!("'{text}' is not RFC 3339: {e}"))
                })?;
        let micros = parsed.unix_timestamp_nanos().div_euclid(1000);
        Ok(Timestamp(i64::try_from(micros).map_err(|_| {
            Error::invalid("timestamp", format!("'{text}' is out of range"))
        })?))
    }

    /// Checks that the timestamp lies in the range both backends store
    /// ([`Timestamp::MIN`] to [`Timestamp::MAX`]).
    pub fn validate(self, field: &str) -> Result<Self> {
        if (Self::MIN..=Self::MAX).contains(&self) {
            Ok(self)
        } else {
            Err(Error::invalid(
                field,
                format!(
                    "{} microseconds since the epoch is outside years 1 to 9999",
                    self.0
                ),
            ))
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clamped = self.0.clamp(Self::MIN.0, Self::MAX.0);
        let Ok(moment) =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(clamped) * 1000)
        else {
            return write!(f, "{}us", self.0);
        };
        let (year, month, day) = (moment.year(), u8::from(moment.month()), moment.day());
        let (hour, minute, second) = (moment.hour(), moment.minute(), moment.second());
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:06}Z",
            moment.microsecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Micros(i64),
            Text(String),
        }
        match Wire::deserialize(deserializer)? {
            Wire::Micros(micros) => Ok(Timestamp(micros)),
            Wire::Text(text) => Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// A stored memory, as read back from either backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// UUIDv7 made by engram unless the caller gave one.
    pub id: Uuid,
    /// The user the memory belongs to (1 to 128 characters).
    pub user_id: String,
    /// A namespace inside the user's memories (1 to 128 characters).
    pub namespace: String,
    /// The conversation thread it came from, if any (up to 128 characters).
    pub thread_id: Option<String>,
    /// Its tier: `[a-z0-9_]{1,32}`, by default one of [`DEFAULT_TIERS`].
    pub tier: String,
    /// The text of the memory.
    pub content: String,
    /// Importance from 0 to 100.
    pub score: i32,
    /// A JSON object; queried with PostgreSQL `@>` semantics.
    pub metadata: Value,
    /// Ids of other threads this memory is related to.
    pub related_threads: Vec<String>,
    /// Whether the memory has been folded into a summary.
    pub summarized: bool,
    /// When it was stored.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it expires, if it does: from that moment no read returns it (whether or not a
    /// sweep has deleted it yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Its embedding, when it has one and the read asked for it
    /// ([`crate::MemoryQuery::with_embeddings`]; `get` with an embedding; exports). Reads
    /// that did not ask leave it `None`: an embedding is large and most reads do not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
}

impl Memory {
    /// Whether `other` holds the same memory apart from its timestamps (created, updated
    /// and expiry: a retried write with a time to live computes another expiry): the same
    /// id and every other field equal (a field added to [`Memory`] is compared too). A
    /// retried write compares this way.
    ///
    /// ```
    /// use engram_core::{validate, NewMemory, Timestamp};
    /// let memory = NewMemory::new("alice", "tea").id(uuid::Uuid::now_v7());
    /// let first = validate::new_memory(memory.clone(), Timestamp::from_micros(1)).unwrap();
    /// let again = validate::new_memory(memory, Timestamp::from_micros(2)).unwrap();
    /// assert!(first.same_apart_from_times(&again));
    /// ```
    pub fn same_apart_from_times(&self, other: &Memory) -> bool {
        let with_other_times = Memory {
            created_at: other.created_at,
            updated_at: other.updated_at,
            expires_at: other.expires_at,
            ..self.clone()
        };
        with_other_times == *other
    }
}

/// One result of a nearest-neighbour query: a memory and its distance to the query vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The memory.
    pub memory: Memory,
    /// Its distance by the query's metric: NaN for the cosine distance of a zero vector,
    /// and ±infinity where an `f32` sum overflows (components near `f32::MAX`), as in
    /// pgvector. JSON has neither: both are written as `null`.
    pub distance: f64,
}

/// A memory to store. Only `user_id` and `content` are required; everything else has the
/// data model's default.
///
/// ```
/// use engram_core::NewMemory;
/// use serde_json::json;
/// let memory = NewMemory::new("alice", "prefers green tea")
///     .thread("t-1")
///     .tier("long_term")
///     .metadata(json!({"topic": "food", "tags": ["tea"]}));
/// assert_eq!(memory.user_id, "alice");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewMemory {
    /// A caller-chosen id; engram makes a UUIDv7 when this is `None`.
    pub id: Option<Uuid>,
    /// The owner (required, 1 to 128 characters).
    pub user_id: String,
    /// Defaults to [`DEFAULT_NAMESPACE`].
    pub namespace: Option<String>,
    /// The thread, if any.
    pub thread_id: Option<String>,
    /// Defaults to [`SHORT_TERM`].
    pub tier: Option<String>,
    /// The text (required, may be empty).
    pub content: String,
    /// Defaults to [`DEFAULT_SCORE`].
    pub score: Option<i32>,
    /// Defaults to `{}`; must be a JSON object.
    pub metadata: Option<Value>,
    /// Defaults to none.
    pub related_threads: Vec<String>,
    /// Defaults to `false`.
    pub summarized: bool,
    /// Defaults to now (kept as given on import).
    pub created_at: Option<Timestamp>,
    /// Defaults to `created_at`.
    pub updated_at: Option<Timestamp>,
    /// When it expires (give this or `ttl_secs`, not both); defaults to never.
    pub expires_at: Option<Timestamp>,
    /// Expires this many seconds after it is written (give this or `expires_at`).
    pub ttl_secs: Option<u64>,
    /// Defaults to none. Every embedding in a store has the same dimensions.
    pub embedding: Option<Embedding>,
}

impl NewMemory {
    /// A memory for `user_id` with `content` and every other field at its default.
    pub fn new(user_id: impl Into<String>, content: impl Into<String>) -> Self {
        NewMemory {
            user_id: user_id.into(),
            content: content.into(),
            ..Default::default()
        }
    }

    /// Sets the id.
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the thread.
    pub fn thread(mut self, thread_id: impl Into<String>) -> Self {
        self.thread_id = Some(thread_id.into());
        self
    }

    /// Sets the tier.
    pub fn tier(mut self, tier: impl Into<String>) -> Self {
        self.tier = Some(tier.into());
        self
    }

    /// Sets the score.
    pub fn score(mut self, score: i32) -> Self {
        self.score = Some(score);
        self
    }

    /// Sets the metadata object.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the related threads.
    pub fn related_threads<I, S>(mut self, threads: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.related_threads = threads.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the summarized flag.
    pub fn summarized(mut self, summarized: bool) -> Self {
        self.summarized = summarized;
        self
    }

    /// Sets the embedding.
    pub fn embedding(mut self, embedding: Embedding) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// Expires at `at`.
    pub fn expires_at(mut self, at: Timestamp) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Expires `ttl` after it is written (whole seconds; a part of a second is dropped).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl_secs = Some(ttl.as_secs());
        self
    }

    /// Sets both timestamps (for imports and tests that need a fixed time).
    pub fn at(mut self, created_at: Timestamp, updated_at: Timestamp) -> Self {
        self.created_at = Some(created_at);
        self.updated_at = Some(updated_at);
        self
    }
}

impl From<Memory> for NewMemory {
    fn from(memory: Memory) -> Self {
        NewMemory {
            id: Some(memory.id),
            user_id: memory.user_id,
            namespace: Some(memory.namespace),
            thread_id: memory.thread_id,
            tier: Some(memory.tier),
            content: memory.content,
            score: Some(memory.score),
            metadata: Some(memory.metadata),
            related_threads: memory.related_threads,
            summarized: memory.summarized,
            created_at: Some(memory.created_at),
            updated_at: Some(memory.updated_at),
            expires_at: memory.expires_at,
            ttl_secs: None,
            embedding: memory.embedding,
        }
    }
}

/// A change to a stored memory: every `Some` field is replaced, and `updated_at` moves to now.
///
/// ```
/// use engram_core::MemoryUpdate;
/// let update = MemoryUpdate::default().content("now prefers coffee").score(80);
/// assert!(!update.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryUpdate {
    /// New content.
    pub content: Option<String>,
    /// New metadata object (replaces the old one whole).
    pub metadata: Option<Value>,
    /// New tier.
    pub tier: Option<String>,
    /// New score.
    pub score: Option<i32>,
    /// New related threads (replaces the old list).
    pub related_threads: Option<Vec<String>>,
    /// New summarized flag.
    pub summarized: Option<bool>,
    /// `Some(Some(t))` makes it expire at `t`, `Some(None)` makes it never expire, `None`
    /// leaves its expiry as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<Timestamp>>,
    /// Makes it expire this many seconds after the update (instead of `expires_at`).
    pub ttl_secs: Option<u64>,
    /// `Some(Some(e))` sets or replaces the embedding, `Some(None)` removes it, `None`
    /// leaves it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Option<Embedding>>,
}

impl MemoryUpdate {
    /// Replaces the content.
    pub fn content(mut self, content: impl Into<String>) -> Self {
        self.content = Some(content.into());
        self
    }

    /// Replaces the metadata.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Replaces the tier.
    pub fn tier(mut self, tier: impl Into<String>) -> Self {
        self.tier = Some(tier.into());
        self
    }

    /// Replaces the score.
    pub fn score(mut self, score: i32) -> Self {
        self.score = Some(score);
        self
    }

    /// Replaces the related threads.
    pub fn related_threads<I, S>(mut self, threads: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.related_threads = Some(threads.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the summarized flag.
    pub fn summarized(mut self, summarized: bool) -> Self {
        self.summarized = Some(summarized);
        self
    }

    /// Sets or replaces the embedding.
    pub fn embedding(mut self, embedding: Embedding) -> Self {
        self.embedding = Some(Some(embedding));
        self
    }

    /// Makes the memory expire at `at`.
    pub fn expires_at(mut self, at: Timestamp) -> Self {
        self.expires_at = Some(Some(at));
        self
    }

    /// Makes the memory expire `ttl` after the update (whole seconds).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl_secs = Some(ttl.as_secs());
        self
    }

    /// Makes the memory never expire.
    pub fn never_expire(mut self) -> Self {
        self.expires_at = Some(None);
        self
    }

    /// Removes the embedding.
    pub fn remove_embedding(mut self) -> Self {
        self.embedding = Some(None);
        self
    }

    /// True when the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &MemoryUpdate::default()
    }
}

/// A cluster of memories about one topic, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// UUIDv7 made when the cluster was first stored.
    pub cluster_id: Uuid,
    /// The owner.
    pub user_id: String,
    /// The topic.
    pub topic: String,
    /// The category inside the topic (may be empty).
    pub category: String,
    /// The memories in the cluster.
    pub memory_ids: Vec<Uuid>,
    /// A summary of them.
    pub summary: String,
    /// `memory_ids.len()`.
    pub memory_count: i64,
    /// When the cluster was first stored.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was last rebuilt by an upsert.
    pub last_built_at: Timestamp,
}

/// A cluster to create, or to replace when (user_id, topic, category) already exists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterUpsert {
    /// The owner.
    pub user_id: String,
    /// The topic.
    pub topic: String,
    /// The category inside the topic (may be empty).
    pub category: String,
    /// The memories in the cluster.
    pub memory_ids: Vec<Uuid>,
    /// A summary of them.
    pub summary: String,
}

/// Counts of memories per tier, overall and per user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// All memories counted.
    pub total: u64,
    /// Memories per tier.
    pub per_tier: BTreeMap<String, u64>,
    /// Memories per user, then per tier.
    pub per_user: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    /// Builds the statistics from `(user_id, tier, count)` rows.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, u64)>) -> Self {
        let mut stats = Stats::default();
        for (user, tier, count) in rows {
            stats.total += count;
            *stats.per_tier.entry(tier.clone()).or_default() += count;
            *stats
                .per_user
                .entry(user)
                .or_default()
                .entry(tier)
                .or_default() += count;
        }
        stats
    }
}

/// What a sweep did: expired memories (or items) deleted, and the transactions it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    /// Expired memories (or items) deleted.
    pub deleted: u64,
    /// Transactions that deleted at least one.
    pub batches: u64,
}
