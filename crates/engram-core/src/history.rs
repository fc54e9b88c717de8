//! Change history: the event every change to a memory appends in its own transaction, and
//! the one rule for what an event records (which fields changed, before and after).
//!
//! An event's `changes` maps each changed field to its value before and after, as the
//! memory's JSON has it (times as RFC 3339 strings); a field the memory did not have is
//! `null`. The embedding is recorded by its dimensions (`null` for none), not its values.
//!
//! ```
//! use engram_core::history::{changes_of_update, EventKind};
//! use engram_core::{validate, NewMemory, Timestamp};
//! let before = validate::new_memory(NewMemory::new("alice", "tea"), Timestamp::from_micros(1)).unwrap();
//! let after = engram_core::Memory { content: "coffee".into(), ..before.clone() };
//! let changes = changes_of_update(&before, &after);
//! assert_eq!(changes["content"]["before"], "tea");
//! assert_eq!(changes["content"]["after"], "coffee");
//! assert_eq!(changes.as_object().unwrap().len(), 1, "updated_at is the event's own time");
//! assert_eq!(EventKind::Update.as_str(), "update");
//! ```

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::{Embedding, Error, Memory, Result, Timestamp};

/// What happened to a memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Stored (insert, insert_many, import): every field, after.
    Insert,
    /// Changed by an update: the fields that changed.
    Update,
    /// Deleted by `delete`.
    Delete,
    /// Deleted by a sweep, having expired.
    Expire,
    /// Moved to another tier by a policy: `tier`.
    Move,
    /// Content cut by a policy: `content`.
    Trim,
    /// Deleted by a policy's retention.
    Retention,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 7] = [
        EventKind::Insert,
        EventKind::Update,
        EventKind::Delete,
        EventKind::Expire,
        EventKind::Move,
        EventKind::Trim,
        EventKind::Retention,
    ];

    /// The kind's name, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Insert => "insert",
            EventKind::Update => "update",
            EventKind::Delete => "delete",
            EventKind::Expire => "expire",
            EventKind::Move => "move",
            EventKind::Trim => "trim",
            EventKind::Retention => "retention",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> Result<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| Error::StoredRow {
                what: "history event",
                column: "kind",
                reason: format!("unknown kind '{name}'"),
            })
    }
}

/// One change to a memory, as `Store::history` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Its place in the store's history: later events have larger numbers.
    pub seq: i64,
    /// The memory it happened to (which may be deleted since).
    pub memory_id: Uuid,
    /// What happened.
    pub kind: EventKind,
    /// Each changed field's value `before` and `after` (see the module's rules).
    pub changes: Value,
    /// When: the write's time.
    pub at: Timestamp,
    /// Who, as the caller named it ([`Audit::actor`]).
    pub actor: Option<String>,
}

/// What a write records of itself: whether history is kept, who writes, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// Whether the write appends history events.
    pub history: bool,
    /// Who writes, recorded in each event.
    pub actor: Option<String>,
    /// The write's time, each event's `at`.
    pub at: Timestamp,
}

impl Audit {
    /// A write at `at` that keeps history, by no one in particular.
    pub fn new(at: Timestamp) -> Self {
        Audit {
            history: true,
            actor: None,
            at,
        }
    }

    /// The same write without history.
    pub fn without_history(self) -> Self {
        Audit {
            history: false,
            ..self
        }
    }
}

/// The fields of a memory as history records them: its JSON without `updated_at` (the
/// event's own time) and with the embedding's dimensions for the embedding.
fn recorded_fields(memory: &Memory, embedding: Option<usize>) -> Map<String, Value> {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(Memory {
        embedding: None,
        ..memory.clone()
    }) else {
        unreachable!("a memory is a JSON object");
    };
    fields.remove("updated_at");
    fields.insert("expires_at".into(), json!(memory.expires_at));
    fields.insert("embedding".into(), json!(embedding));
    fields
}

fn change(before: Value, after: Value) -> Value {
    json!({"before": before, "after": after})
}

/// The changes of an insert as JSON text: every field, `null` before. Written straight from
/// the memory (every insert pays for it: building a [`Value`] first cost about four times
/// as much); a test holds it equal to the fields [`changes_of_update`] compares.
pub fn changes_of_insert(memory: &Memory) -> String {
    /// `{"before": null, "after": value}`.
    struct Inserted<T>(T);
    impl<T: Serialize> Serialize for Inserted<T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("after", &self.0)?;
            map.serialize_entry("before", &())?;
            map.end()
        }
    }
    struct Insert<'m>(&'m Memory);
    impl Serialize for Insert<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            let m = self.0;
            let embedding = m.embedding.as_ref().map(|e| e.dimensions());
            let mut map = serializer.serialize_map(Some(13))?;
            map.serialize_entry("content", &Inserted(&m.content))?;
            map.serialize_entry("created_at", &Inserted(m.created_at))?;
            map.serialize_entry("embedding", &Inserted(embedding))?;
            map.serialize_entry("expires_at", &Inserted(m.expires_at))?;
            map.serialize_entry("id", &Inserted(m.id))?;
            map.serialize_entry("metadata", &Inserted(&m.metadata))?;
            map.serialize_entry("namespace", &Inserted(&m.namespace))?;
            map.serialize_entry("related_threads", &Inserted(&m.related_threads))?;
            map.serialize_entry("score", &Inserted(m.score))?;
            map.serialize_entry("summarized", &Inserted(m.summarized))?;
            map.serialize_entry("thread_id", &Inserted(&m.thread_id))?;
            map.serialize_entry("tier", &Inserted(&m.tier))?;
            map.serialize_entry("user_id", &Inserted(&m.user_id))?;
            map.end()
        }
    }
    serde_json::to_string(&Insert(memory)).unwrap_or_else(|_| "{}".to_string())
}

/// The changes of an update that left the embedding alone: the fields whose values differ.
pub fn changes_of_update(before: &Memory, after: &Memory) -> Value {
    changes_of_update_with_embedding(before, after, None)
}

/// [`changes_of_update`] of an update whose embedding change is `embedding` (as in
/// [`MemoryUpdate::embedding`](crate::MemoryUpdate::embedding): `Some(Some(e))` sets it,
/// `Some(None)` removes it), with `before` read with its embedding when there is one: the
/// embedding is recorded by its dimensions.
pub fn changes_of_update_with_embedding(
    before: &Memory,
    after: &Memory,
    embedding: Option<&Option<Embedding>>,
) -> Value {
    let dimensions = |e: &Option<Embedding>| e.as_ref().map(Embedding::dimensions);
    let (old_dims, new_dims) = match embedding {
        Some(new) => (dimensions(&before.embedding), dimensions(new)),
        None => (None, None),
    };
    let old = recorded_fields(before, old_dims);
    let mut new = recorded_fields(after, new_dims);
    Value::Object(
        old.into_iter()
            .filter_map(|(field, was)| {
                let now = new.remove(&field).unwrap_or(Value::Null);
                (was != now).then(|| (field, change(was, now)))
            })
            .collect(),
    )
}

/// The changes of a policy's move: `tier`.
pub fn changes_of_move(tier: &str, to: &str) -> Value {
    json!({"tier": change(json!(tier), json!(to))})
}

/// The changes of a policy's trim: `content`.
pub fn changes_of_trim(before: &str, after: &str) -> Value {
    json!({"content": change(json!(before), json!(after))})
}

/// The changes of a deletion (by `delete`, a sweep or retention): none; the memory's last
/// state is its insert and the updates after it.
pub fn changes_of_delete() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{validate, Embedding, NewMemory};

    fn memory() -> Memory {
        validate::new_memory(
            NewMemory::new("alice", "tea").metadata(json!({"a": 1})),
            Timestamp::from_micros(5),
        )
        .unwrap()
    }

    #[test]
    fn an_insert_records_every_field_but_updated_at() {
        let stored = Memory {
            embedding: Some(Embedding::new(vec![1.0, 2.0]).unwrap()),
            ..memory()
        };
        let changes: Value = serde_json::from_str(&changes_of_insert(&stored)).unwrap();
        let generic: Map<String, Value> = recorded_fields(&stored, Some(2))
            .into_iter()
            .map(|(field, value)| (field, change(Value::Null, value)))
            .collect();
        assert_eq!(
            changes,
            Value::Object(generic),
            "every field the update rule compares"
        );
        let fields: Vec<&String> = changes.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "content",
                "created_at",
                "embedding",
                "expires_at",
                "id",
                "metadata",
                "namespace",
                "related_threads",
                "score",
                "summarized",
                "thread_id",
                "tier",
                "user_id"
            ]
        );
        assert_eq!(changes["embedding"], json!({"before": null, "after": 2}));
        assert_eq!(
            changes["created_at"]["after"],
            "1970-01-01T00:00:00.000005Z"
        );
    }

    #[test]
    fn an_update_records_only_what_changed() {
        let before = memory();
        let after = Memory {
            metadata: json!({"a": 2}),
            expires_at: Some(Timestamp::from_micros(9)),
            updated_at: Timestamp::from_micros(7),
            ..before.clone()
        };
        let set = Some(Embedding::new(vec![1.0, 0.0, 0.5]).unwrap());
        let changes = changes_of_update_with_embedding(&before, &after, Some(&set));
        assert_eq!(
            changes,
            json!({
                "metadata": {"before": {"a": 1}, "after": {"a": 2}},
                "expires_at": {"before": null, "after": "1970-01-01T00:00:00.000009Z"},
                "embedding": {"before": null, "after": 3},
            })
        );
        assert_eq!(changes_of_update(&before, &before), json!({}));
    }

    #[test]
    fn kinds_read_back_by_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()).unwrap(), kind);
            assert_eq!(json!(kind), json!(kind.as_str()));
        }
        assert!(EventKind::parse("nope").is_err());
    }
}
