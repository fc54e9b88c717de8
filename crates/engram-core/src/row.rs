//! Stored rows: the one column order of memories and clusters, which both backends format
//! into their statements, and the one set of rules turning a row's raw values into a
//! [`Memory`] or a [`Cluster`], so that the same bad row gives the same error everywhere.
//!
//! A backend only turns each driver value into a [`StoredValue`]; [`decode_memory`] and
//! [`decode_cluster`] do the rest.
//!
//! ```
//! use engram_core::row::{decode_memory, memory_columns, StoredValue};
//! assert!(memory_columns().starts_with("id, user_id, namespace"));
//! let mut row: Vec<StoredValue> = vec![
//!     StoredValue::Text("0190a0b4-6b4e-7c3a-9d2e-2f5b8c1d4e6f".into()),
//!     StoredValue::Text("alice".into()),
//!     StoredValue::Text("default".into()),
//!     StoredValue::Null,
//!     StoredValue::Text("short_term".into()),
//!     StoredValue::Text("prefers tea".into()),
//!     StoredValue::Integer(50),
//!     StoredValue::Text(r#"{"topic":"food"}"#.into()),
//!     StoredValue::Text(r#"["t-1"]"#.into()),
//!     StoredValue::Integer(0),
//!     StoredValue::Integer(1_700_000_000_000_000),
//!     StoredValue::Integer(1_700_000_000_000_000),
//!     StoredValue::Null,
//! ];
//! assert_eq!(decode_memory(row.clone()).unwrap().related_threads, vec!["t-1"]);
//! row[8] = StoredValue::Text("[1]".into());
//! assert_eq!(
//!     decode_memory(row).unwrap_err().to_string(),
//!     "stored memory row has an invalid related_threads: not a list of strings: \
//!      invalid type: number, expected a string"
//! );
//! ```

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::{Cluster, Embedding, Error, Memory, Neighbour, Result, Timestamp};

/// The columns of `memories`, in the order every statement lists them and every decoder
/// reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryColumn {
    /// `id`
    Id,
    /// `user_id`
    UserId,
    /// `namespace`
    Namespace,
    /// `thread_id`
    ThreadId,
    /// `tier`
    Tier,
    /// `content`
    Content,
    /// `score`
    Score,
    /// `metadata`
    Metadata,
    /// `related_threads`
    RelatedThreads,
    /// `summarized`
    Summarized,
    /// `created_at`
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
    /// `expires_at`
    ExpiresAt,
}

impl MemoryColumn {
    /// Every column, in order.
    pub const ALL: [MemoryColumn; 13] = [
        MemoryColumn::Id,
        MemoryColumn::UserId,
        MemoryColumn::Namespace,
        MemoryColumn::ThreadId,
        MemoryColumn::Tier,
        MemoryColumn::Content,
        MemoryColumn::Score,
        MemoryColumn::Metadata,
        MemoryColumn::RelatedThreads,
        MemoryColumn::Summarized,
        MemoryColumn::CreatedAt,
        MemoryColumn::UpdatedAt,
        MemoryColumn::ExpiresAt,
    ];

    /// The column's name in SQL.
    pub const fn name(self) -> &'static str {
        match self {
            MemoryColumn::Id => "id",
            MemoryColumn::UserId => "user_id",
            MemoryColumn::Namespace => "namespace",
            MemoryColumn::ThreadId => "thread_id",
            MemoryColumn::Tier => "tier",
            MemoryColumn::Content => "content",
            MemoryColumn::Score => "score",
            MemoryColumn::Metadata => "metadata",
            MemoryColumn::RelatedThreads => "related_threads",
            MemoryColumn::Summarized => "summarized",
            MemoryColumn::CreatedAt => "created_at",
            MemoryColumn::UpdatedAt => "updated_at",
            MemoryColumn::ExpiresAt => "expires_at",
        }
    }
}

/// The columns of `memory_clusters`, in the order every statement lists them and every
/// decoder reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterColumn {
    /// `cluster_id`
    ClusterId,
    /// `user_id`
    UserId,
    /// `topic`
    Topic,
    /// `category`
    Category,
    /// `memory_ids`
    MemoryIds,
    /// `summary`
    Summary,
    /// `memory_count`
    MemoryCount,
    /// `created_at`
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
    /// `last_built_at`
    LastBuiltAt,
}

impl ClusterColumn {
    /// Every column, in order.
    pub const ALL: [ClusterColumn; 10] = [
        ClusterColumn::ClusterId,
        ClusterColumn::UserId,
        ClusterColumn::Topic,
        ClusterColumn::Category,
        ClusterColumn::MemoryIds,
        ClusterColumn::Summary,
        ClusterColumn::MemoryCount,
        ClusterColumn::CreatedAt,
        ClusterColumn::UpdatedAt,
        ClusterColumn::LastBuiltAt,
    ];

    /// The column's name in SQL.
    pub const fn name(self) -> &'static str {
        match self {
            ClusterColumn::ClusterId => "cluster_id",
            ClusterColumn::UserId => "user_id",
            ClusterColumn::Topic => "topic",
            ClusterColumn::Category => "category",
            ClusterColumn::MemoryIds => "memory_ids",
            ClusterColumn::Summary => "summary",
            ClusterColumn::MemoryCount => "memory_count",
            ClusterColumn::CreatedAt => "created_at",
            ClusterColumn::UpdatedAt => "updated_at",
            ClusterColumn::LastBuiltAt => "last_built_at",
        }
    }
}

/// `id, user_id, …, updated_at`: the memory columns as a select, insert or returning list.
pub fn memory_columns() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        let names: Vec<&str> = MemoryColumn::ALL.iter().map(|c| c.name()).collect();
        names.join(", ")
    });
    &LIST
}

/// The select-list expression of a memory's embedding (NULL when it has none), for a
/// statement whose rows come from `memories`.
pub const EMBEDDING_COLUMN: &str = "(SELECT memory_embeddings.embedding FROM memory_embeddings \
     WHERE memory_embeddings.memory_id = memories.id)";

/// `cluster_id, user_id, …, last_built_at`: the cluster columns as a list.
pub fn cluster_columns() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        let names: Vec<&str> = ClusterColumn::ALL.iter().map(|c| c.name()).collect();
        names.join(", ")
    });
    &LIST
}

/// One value of a stored row as the driver gave it: SQLite stores ids, JSON and times as
/// text and integers, PostgreSQL as `uuid`, `jsonb` and `timestamptz`; the decoders take
/// either.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredValue<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer (SQLite's booleans and times are integers too).
    Integer(i64),
    /// A boolean.
    Bool(bool),
    /// Text (SQLite's ids and JSON documents are text too), borrowed from the driver's row
    /// where it can be, so that a JSON document is parsed without being copied first.
    Text(Cow<'a, str>),
    /// A `uuid`.
    Uuid(Uuid),
    /// A parsed JSON document (`jsonb`).
    Json(Value),
    /// A point in time (`timestamptz`).
    Time(Timestamp),
    /// A floating-point number (a distance).
    Real(f64),
    /// Bytes (SQLite's embeddings: little-endian `f32`s).
    Blob(&'a [u8]),
    /// A vector of `f32` (pgvector's `vector`).
    Floats(Vec<f32>),
    /// A value of a type no engram column has; the text names the type.
    Other(String),
}

impl StoredValue<'_> {
    fn describe(&self) -> String {
        match self {
            StoredValue::Null => "NULL".to_string(),
            StoredValue::Integer(n) => format!("the integer {n}"),
            StoredValue::Bool(b) => format!("the boolean {b}"),
            StoredValue::Text(_) => "text".to_string(),
            StoredValue::Uuid(_) => "a uuid".to_string(),
            StoredValue::Json(_) => "a JSON document".to_string(),
            StoredValue::Time(_) => "a timestamp".to_string(),
            StoredValue::Real(_) => "a real number".to_string(),
            StoredValue::Blob(_) => "a blob".to_string(),
            StoredValue::Floats(_) => "a vector".to_string(),
            StoredValue::Other(kind) => kind.clone(),
        }
    }
}

/// A row being decoded: takes each value out by its column.
struct RowReader<'a> {
    what: &'static str,
    values: Vec<StoredValue<'a>>,
}

impl<'a> RowReader<'a> {
    fn take(&mut self, index: usize, column: &'static str) -> Result<StoredValue<'a>> {
        match self.values.get_mut(index) {
            Some(value) => Ok(std::mem::replace(value, StoredValue::Null)),
            None => Err(self.invalid(column, "is missing from the row".to_string())),
        }
    }

    fn invalid(&self, column: &'static str, reason: String) -> Error {
        Error::StoredRow {
            what: self.what,
            column,
            reason,
        }
    }

    fn mismatch(&self, column: &'static str, expected: &str, value: &StoredValue<'_>) -> Error {
        self.invalid(
            column,
            format!("expected {expected}, found {}", value.describe()),
        )
    }

    fn optional_text(&mut self, index: usize, column: &'static str) -> Result<Option<String>> {
        match self.take(index, column)? {
            StoredValue::Null => Ok(None),
            StoredValue::Text(text) => Ok(Some(text.into_owned())),
            other => Err(self.mismatch(column, "text", &other)),
        }
    }

    fn text(&mut self, index: usize, column: &'static str) -> Result<String> {
        match self.take(index, column)? {
            StoredValue::Text(text) => Ok(text.into_owned()),
            other => Err(self.mismatch(column, "text", &other)),
        }
    }

    fn integer(&mut self, index: usize, column: &'static str) -> Result<i64> {
        match self.take(index, column)? {
            StoredValue::Integer(n) => Ok(n),
            other => Err(self.mismatch(column, "an integer", &other)),
        }
    }

    fn optional_integer(&mut self, index: usize, column: &'static str) -> Result<Option<i64>> {
        match self.take(index, column)? {
            StoredValue::Null => Ok(None),
            StoredValue::Integer(n) => Ok(Some(n)),
            other => Err(self.mismatch(column, "an integer", &other)),
        }
    }

    fn boolean(&mut self, index: usize, column: &'static str) -> Result<bool> {
        match self.take(index, column)? {
            StoredValue::Bool(b) => Ok(b),
            StoredValue::Integer(0) => Ok(false),
            StoredValue::Integer(1) => Ok(true),
            other => Err(self.mismatch(column, "a boolean", &other)),
        }
    }

    fn time(&mut self, index: usize, column: &'static str) -> Result<Timestamp> {
        match self.take(index, column)? {
            StoredValue::Time(at) => Ok(at),
            StoredValue::Integer(micros) => Ok(Timestamp::from_micros(micros)),
            other => Err(self.mismatch(column, "a time", &other)),
        }
    }

    fn optional_time(&mut self, index: usize, column: &'static str) -> Result<Option<Timestamp>> {
        match self.values.get(index) {
            Some(StoredValue::Null) => Ok(None),
            _ => self.time(index, column).map(Some),
        }
    }

    fn uuid(&mut self, index: usize, column: &'static str) -> Result<Uuid> {
        match self.take(index, column)? {
            StoredValue::Uuid(id) => Ok(id),
            StoredValue::Text(text) => self.parse_uuid(&text, column),
            other => Err(self.mismatch(column, "a UUID", &other)),
        }
    }

    fn parse_uuid(&self, text: &str, column: &'static str) -> Result<Uuid> {
        Uuid::parse_str(text)
            .map_err(|e| self.invalid(column, format!("'{text}' is not a UUID: {e}")))
    }

    /// A JSON document, from text or from an already parsed value.
    fn json(&mut self, index: usize, column: &'static str) -> Result<Value> {
        match self.take(index, column)? {
            StoredValue::Json(value) => Ok(value),
            StoredValue::Text(text) => self.parse_json(&text, column),
            other => Err(self.mismatch(column, "a JSON document", &other)),
        }
    }

    fn parse_json(&self, text: &str, column: &'static str) -> Result<Value> {
        serde_json::from_str(text).map_err(|e| self.invalid(column, format!("not valid JSON: {e}")))
    }

    /// A JSON list of strings. Text is read straight into the list when it is one;
    /// anything else is parsed first, so that the error is the same for the same document
    /// whether the driver gave text or a parsed value.
    fn string_list(&mut self, index: usize, column: &'static str) -> Result<Vec<String>> {
        let value = match self.take(index, column)? {
            StoredValue::Text(text) => match serde_json::from_str(&text) {
                Ok(list) => return Ok(list),
                Err(_) => self.parse_json(&text, column)?,
            },
            StoredValue::Json(value) => value,
            other => return Err(self.mismatch(column, "a JSON list", &other)),
        };
        self.list_from_json(value, column)
    }

    fn list_from_json<T: DeserializeOwned>(&self, value: Value, column: &'static str) -> Result<T> {
        serde_json::from_value(value)
            .map_err(|e| self.invalid(column, format!("not a list of strings: {e}")))
    }

    /// An embedding: NULL, SQLite's little-endian bytes or pgvector's floats.
    fn embedding(&mut self, index: usize) -> Result<Option<Embedding>> {
        let column = "embedding";
        let checked = match self.take(index, column)? {
            StoredValue::Null => return Ok(None),
            StoredValue::Blob(bytes) => Embedding::from_le_bytes(bytes),
            StoredValue::Floats(values) => Embedding::new(values),
            other => return Err(self.mismatch(column, "an embedding", &other)),
        };
        checked
            .map(Some)
            .map_err(|e| self.invalid(column, e.to_string()))
    }

    /// A JSON list of UUIDs (read as [`RowReader::string_list`], then each entry parsed).
    fn uuid_list(&mut self, index: usize, column: &'static str) -> Result<Vec<Uuid>> {
        if let Some(StoredValue::Text(text)) = self.values.get(index) {
            if let Ok(ids) = serde_json::from_str::<Vec<Uuid>>(text) {
                return Ok(ids);
            }
        }
        self.string_list(index, column)?
            .iter()
            .map(|id| self.parse_uuid(id, column))
            .collect()
    }
}

/// Decodes a memory row whose values are in [`MemoryColumn::ALL`]'s order, followed, when
/// the statement read it, by the embedding ([`EMBEDDING_COLUMN`]).
pub fn decode_memory(values: Vec<StoredValue<'_>>) -> Result<Memory> {
    use MemoryColumn as C;
    let mut row = RowReader {
        what: "memory",
        values,
    };
    let embedding = if row.values.len() > MemoryColumn::ALL.len() {
        row.embedding(MemoryColumn::ALL.len())?
    } else {
        None
    };
    let score = row.integer(C::Score as usize, C::Score.name())?;
    let score = i32::try_from(score)
        .map_err(|_| row.invalid(C::Score.name(), format!("{score} is out of range")))?;
    Ok(Memory {
        id: row.uuid(C::Id as usize, C::Id.name())?,
        user_id: row.text(C::UserId as usize, C::UserId.name())?,
        namespace: row.text(C::Namespace as usize, C::Namespace.name())?,
        thread_id: row.optional_text(C::ThreadId as usize, C::ThreadId.name())?,
        tier: row.text(C::Tier as usize, C::Tier.name())?,
        content: row.text(C::Content as usize, C::Content.name())?,
        score,
        metadata: row.json(C::Metadata as usize, C::Metadata.name())?,
        related_threads: row.string_list(C::RelatedThreads as usize, C::RelatedThreads.name())?,
        summarized: row.boolean(C::Summarized as usize, C::Summarized.name())?,
        created_at: row.time(C::CreatedAt as usize, C::CreatedAt.name())?,
        updated_at: row.time(C::UpdatedAt as usize, C::UpdatedAt.name())?,
        expires_at: row.optional_time(C::ExpiresAt as usize, C::ExpiresAt.name())?,
        embedding,
    })
}

/// Decodes a row of a nearest-neighbour query: a memory row (see [`decode_memory`]) with
/// the distance last (NULL is NaN: SQLite returns a NaN as NULL).
pub fn decode_neighbour(mut values: Vec<StoredValue<'_>>) -> Result<Neighbour> {
    let distance = match values.pop() {
        Some(StoredValue::Real(distance)) => distance,
        Some(StoredValue::Null) => f64::NAN,
        other => {
            return Err(Error::StoredRow {
                what: "memory",
                column: "distance",
                reason: format!(
                    "expected a real number, found {}",
                    other.map_or("nothing".to_string(), |v| v.describe())
                ),
            })
        }
    };
    Ok(Neighbour {
        memory: decode_memory(values)?,
        distance,
    })
}

/// Decodes the rows of a nearest-neighbour query (see [`decode_neighbour`]).
pub fn decode_neighbours(rows: Vec<Vec<StoredValue<'_>>>) -> Result<Vec<Neighbour>> {
    rows.into_iter().map(decode_neighbour).collect()
}

/// Decodes a cluster row whose values are in [`ClusterColumn::ALL`]'s order.
pub fn decode_cluster(values: Vec<StoredValue<'_>>) -> Result<Cluster> {
    use ClusterColumn as C;
    let mut row = RowReader {
        what: "cluster",
        values,
    };
    Ok(Cluster {
        cluster_id: row.uuid(C::ClusterId as usize, C::ClusterId.name())?,
        user_id: row.text(C::UserId as usize, C::UserId.name())?,
        topic: row.text(C::Topic as usize, C::Topic.name())?,
        category: row.text(C::Category as usize, C::Category.name())?,
        memory_ids: row.uuid_list(C::MemoryIds as usize, C::MemoryIds.name())?,
        summary: row.text(C::Summary as usize, C::Summary.name())?,
        memory_count: row.integer(C::MemoryCount as usize, C::MemoryCount.name())?,
        created_at: row.time(C::CreatedAt as usize, C::CreatedAt.name())?,
        updated_at: row.time(C::UpdatedAt as usize, C::UpdatedAt.name())?,
        last_built_at: row.time(C::LastBuiltAt as usize, C::LastBuiltAt.name())?,
    })
}

/// The columns of `memory_history`, in the order [`decode_event`] reads them.
pub const EVENT_COLUMNS: &str = "seq, memory_id, kind, changes, at, actor";

/// Decodes a history event row whose values are in [`EVENT_COLUMNS`]' order.
pub fn decode_event(values: Vec<StoredValue<'_>>) -> Result<crate::HistoryEvent> {
    let mut row = RowReader {
        what: "history event",
        values,
    };
    Ok(crate::HistoryEvent {
        seq: row.integer(0, "seq")?,
        memory_id: row.uuid(1, "memory_id")?,
        kind: crate::EventKind::parse(&row.text(2, "kind")?)?,
        changes: row.json(3, "changes")?,
        at: row.time(4, "at")?,
        actor: row.optional_text(5, "actor")?,
    })
}

/// The columns of `items`, in the order [`decode_item`] reads them.
pub const ITEM_COLUMNS: &str =
    "namespace, key, value, created_at, updated_at, expires_at, ttl_micros";

/// Decodes an item row whose values are in [`ITEM_COLUMNS`]' order.
pub fn decode_item(values: Vec<StoredValue<'_>>) -> Result<crate::item::Item> {
    let mut row = RowReader {
        what: "item",
        values,
    };
    Ok(crate::item::Item {
        namespace: crate::item::Namespace::from_joined(&row.text(0, "namespace")?),
        key: row.text(1, "key")?,
        value: row.json(2, "value")?,
        created_at: row.time(3, "created_at")?,
        updated_at: row.time(4, "updated_at")?,
        expires_at: row.optional_time(5, "expires_at")?,
        ttl: row
            .optional_integer(6, "ttl_micros")?
            .map(|micros| std::time::Duration::from_micros(micros.max(0) as u64)),
    })
}

/// Decodes memory rows (see [`decode_memory`]), stopping at the first bad one.
pub fn decode_memories(rows: Vec<Vec<StoredValue<'_>>>) -> Result<Vec<Memory>> {
    rows.into_iter().map(decode_memory).collect()
}

/// Decodes the memory row a lookup found, if it found one (see [`decode_memory`]).
pub fn decode_found_memory(row: Option<Vec<StoredValue<'_>>>) -> Result<Option<Memory>> {
    row.map(decode_memory).transpose()
}

/// Decodes cluster rows (see [`decode_cluster`]), stopping at the first bad one.
pub fn decode_clusters(rows: Vec<Vec<StoredValue<'_>>>) -> Result<Vec<Cluster>> {
    rows.into_iter().map(decode_cluster).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sqlite_memory() -> Vec<StoredValue<'static>> {
        vec![
            StoredValue::Text("0190a0b4-6b4e-7c3a-9d2e-2f5b8c1d4e6f".into()),
            StoredValue::Text("u".into()),
            StoredValue::Text("default".into()),
            StoredValue::Text("t".into()),
            StoredValue::Text("short_term".into()),
            StoredValue::Text("c".into()),
            StoredValue::Integer(50),
            StoredValue::Text("{}".into()),
            StoredValue::Text(r#"["a","b"]"#.into()),
            StoredValue::Integer(1),
            StoredValue::Integer(5),
            StoredValue::Integer(6),
            StoredValue::Integer(7),
        ]
    }

    /// The same row as PostgreSQL's driver gives it.
    fn postgres_memory() -> Vec<StoredValue<'static>> {
        let mut row = sqlite_memory();
        row[0] = StoredValue::Uuid("0190a0b4-6b4e-7c3a-9d2e-2f5b8c1d4e6f".parse().unwrap());
        row[7] = StoredValue::Json(json!({}));
        row[8] = StoredValue::Json(json!(["a", "b"]));
        row[9] = StoredValue::Bool(true);
        row[10] = StoredValue::Time(Timestamp::from_micros(5));
        row[11] = StoredValue::Time(Timestamp::from_micros(6));
        row[12] = StoredValue::Time(Timestamp::from_micros(7));
        row
    }

    #[test]
    fn both_representations_decode_to_the_same_memory() {
        let memory = decode_memory(sqlite_memory()).unwrap();
        assert_eq!(memory, decode_memory(postgres_memory()).unwrap());
        assert_eq!(memory.related_threads, vec!["a", "b"]);
        assert!(memory.summarized);
        assert_eq!(memory.updated_at, Timestamp::from_micros(6));
        assert_eq!(memory.expires_at, Some(Timestamp::from_micros(7)));
    }

    #[test]
    fn an_ill_typed_list_entry_is_the_same_error_from_text_and_from_json() {
        let mut text = sqlite_memory();
        text[8] = StoredValue::Text(r#"["a", 5]"#.into());
        let mut parsed = postgres_memory();
        parsed[8] = StoredValue::Json(json!(["a", 5]));
        let from_text = decode_memory(text).unwrap_err();
        let from_json = decode_memory(parsed).unwrap_err();
        assert_eq!(from_text.kind(), crate::ErrorKind::Database);
        assert_eq!(from_text.to_string(), from_json.to_string());
        assert!(
            from_text.to_string().contains("related_threads"),
            "{from_text}"
        );
    }

    #[test]
    fn bad_cluster_ids_are_an_error_not_dropped() {
        let row = |ids: StoredValue<'static>| {
            vec![
                StoredValue::Text("0190a0b4-6b4e-7c3a-9d2e-2f5b8c1d4e6f".into()),
                StoredValue::Text("u".into()),
                StoredValue::Text("topic".into()),
                StoredValue::Text("".into()),
                ids,
                StoredValue::Text("s".into()),
                StoredValue::Integer(1),
                StoredValue::Integer(1),
                StoredValue::Integer(1),
                StoredValue::Integer(1),
            ]
        };
        let text = decode_cluster(row(StoredValue::Text(r#"["nope"]"#.into()))).unwrap_err();
        let json = decode_cluster(row(StoredValue::Json(json!(["nope"])))).unwrap_err();
        assert_eq!(text.to_string(), json.to_string());
        assert!(text.to_string().contains("memory_ids"), "{text}");
        let fine = decode_cluster(row(StoredValue::Text(
            r#"["0190a0b4-6b4e-7c3a-9d2e-2f5b8c1d4e6f"]"#.into(),
        )))
        .unwrap();
        assert_eq!(fine.memory_ids.len(), 1);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_column() {
        let mut row = sqlite_memory();
        row[6] = StoredValue::Other("real".into());
        let err = decode_memory(row).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored memory row has an invalid score: expected an integer, found real"
        );
    }
}
