//! The keys of engram's containment index (SQLite's counterpart of PostgreSQL's GIN index):
//! the keys a memory yields from its metadata and related threads, and the keys a filter
//! needs a memory to have.
//!
//! A key stands for one path from the top of the metadata to a scalar, with the scalar's
//! value, or for one path at which a container (object or array) stands. A path is the
//! object keys and array levels on the way, array positions left out: in
//! `{"tags": ["a", "b"]}` both `"a"` and `"b"` are at the path `tags[]`. That is the idea of
//! PostgreSQL's `jsonb_path_ops`, with array levels kept in the path, so that
//! `{"a": 5}` and `{"a": [5]}` (which do not contain each other) give different keys.
//!
//! The index is sound because of one rule, which follows from [`crate::containment`]'s:
//! **when a memory's metadata contains a filter, every key of the filter is a key of the
//! metadata.** An object contains an object only if each key of the right side is on the
//! left with a contained value; an array contains an array only if each scalar on the right
//! equals a scalar item on the left and each container on the right is contained by a
//! container item of the same type; below the top level a scalar is contained only by an
//! equal scalar. So each path to a scalar in the filter is a path to an equal scalar in
//! the metadata, and each empty container in the filter stands where the metadata has a
//! container of its type. A filter therefore yields the keys of its scalars and of its
//! empty containers only; a non-empty container's type is implied by the keys below it.
//! The converse does not hold (two items of one array can supply the keys of one filter
//! item), so every candidate the index gives is checked again with the exact matcher.
//!
//! Values are keyed by what containment compares: strings by their bytes, numbers by their
//! decimal value (`1`, `1.0` and `1e0` give one key), `true` apart from `1`.
//!
//! A key is an unambiguous encoding of its path and value: each object key and string as its
//! length and bytes, each number as its sign, significant digits and exponent. An encoding
//! longer than [`MAX_EXACT_KEY_BYTES`] is stored as its 64-bit FNV-1a hash instead, marked
//! as such: two different long keys may then share a hash, which only adds a candidate
//! that the matcher rejects. The encoding is part of the stored index: changing it needs a
//! migration that rebuilds the index.
//!
//! **When the keys decide.** Where a filter's keys are all exact and no array of the filter
//! holds a container that yields more than one key, a memory contains the filter exactly
//! when it has all of its keys ([`keys_decide`]), and the index's answer needs no check by
//! the matcher: an object path is one value in a memory (its keys are unique), so keys
//! along object paths pin that value; an array item of the filter that yields one key is
//! contained by the item of the memory's array that yields the same key. What fails is an
//! array item with two keys, `{"a": [{"b": 1, "c": 2}]}`: two items of the memory's array
//! can supply them.
//!
//! ```
//! use engram_core::index::{filter_keys, memory_keys};
//! use serde_json::json;
//! let memory = memory_keys(&json!({"tags": ["a", "b"], "n": 1.0}), &[]);
//! let filter = filter_keys(&json!({"tags": ["b"], "n": 1}));
//! assert!(filter.iter().all(|key| memory.contains(key)));
//! assert!(filter_keys(&json!({})).is_empty());
//! ```

use serde_json::Value;

use crate::document::number_value;

/// One key of the containment index: its encoding, or a marked hash of a long one.
pub type IndexKey = Vec<u8>;

/// The longest encoding stored as itself; longer ones are stored as a hash.
pub const MAX_EXACT_KEY_BYTES: usize = 64;

/// The first byte of a hashed key (no encoding starts with it).
const HASHED: u8 = 0xff;

/// What a check of the containment index found: it recomputes the keys of every memory and
/// compares them with the stored index, leaving out memories whose changes are still queued
/// (queries treat those as candidates; the next write brings their postings up to date).
/// A sound index has nothing missing, nothing extra and no stale timestamp. On PostgreSQL, whose GIN indexes
/// PostgreSQL maintains, every count is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexCheck {
    /// (key, memory) pairs the memories' values yield that the index lacks, plus memories
    /// the index has no entry for.
    pub missing: u64,
    /// (key, memory) pairs in the index that no memory's values yield, plus index entries
    /// of no memory.
    pub extra: u64,
    /// Changes queued and not yet applied to the index.
    pub queued: u64,
    /// Memories whose timestamps the index keeps wrongly (SQLite sorts a page of candidates
    /// by the copies beside their refs).
    pub stale_times: u64,
}

impl IndexCheck {
    /// Nothing missing, nothing extra, no stale timestamp.
    pub fn is_sound(&self) -> bool {
        self.missing == 0 && self.extra == 0 && self.stale_times == 0
    }
}

/// The keys of a memory, sorted and without repeats: those of its metadata (every path to a
/// scalar with its value, every path to a container with its type) and one per related
/// thread.
pub fn memory_keys(metadata: &Value, related_threads: &[String]) -> Vec<IndexKey> {
    let mut keys = Vec::new();
    for_each_memory_key(metadata, related_threads, |key| keys.push(key.to_vec()));
    sorted(keys)
}

/// Calls `each` with every key of [`memory_keys`], in no particular order and possibly more
/// than once: for a caller that gathers the keys of many memories (SQLite's insert path),
/// without a vector per key.
pub fn for_each_memory_key(
    metadata: &Value,
    related_threads: &[String],
    mut each: impl FnMut(&[u8]),
) {
    walk_top(metadata, Yield::Everything, &mut each);
    for thread in related_threads {
        Encoding::new()
            .byte(RELATED_THREAD)
            .text(thread)
            .with_key(&mut each);
    }
}

/// The keys every memory whose metadata contains `filter` has, sorted and without repeats:
/// those of its scalars and of its empty containers. Empty when the filter has neither
/// (`{}`): then the index cannot narrow the search.
pub fn filter_keys(filter: &Value) -> Vec<IndexKey> {
    let mut keys = Vec::new();
    walk_top(filter, Yield::Needed, &mut |key| keys.push(key.to_vec()));
    sorted(keys)
}

/// The key of a memory that lists `thread` among its related threads.
pub fn related_thread_key(thread: &str) -> IndexKey {
    let mut key = Vec::new();
    Encoding::new()
        .byte(RELATED_THREAD)
        .text(thread)
        .with_key(&mut |bytes| key.extend_from_slice(bytes));
    key
}

/// Whether `key` is stored as itself (not as a hash of a long key).
pub fn is_exact(key: &[u8]) -> bool {
    key.first() != Some(&HASHED)
}

/// Whether having every key of `filter` is the same as containing it (see the module
/// documentation): its keys are exact, and each container that is an item of one of its
/// arrays yields exactly one key.
///
/// ```
/// use engram_core::index::keys_decide;
/// use serde_json::json;
/// assert!(keys_decide(&json!({"a": 1, "tags": ["x", "y"], "o": {"p": [{"q": 1}, {"r": []}]}})));
/// assert!(!keys_decide(&json!({"a": [{"b": 1, "c": 2}]})));
/// assert!(!keys_decide(&json!({"a": "x".repeat(100)})));
/// ```
pub fn keys_decide(filter: &Value) -> bool {
    fn items_yield_one_key(value: &Value) -> bool {
        match value {
            Value::Object(map) => map.values().all(items_yield_one_key),
            Value::Array(items) => items.iter().all(|item| match item {
                Value::Object(_) | Value::Array(_) => {
                    let mut keys = Vec::new();
                    walk(item, &mut Encoding::new(), Yield::Needed, &mut |key| {
                        keys.push(key.to_vec())
                    });
                    sorted(keys).len() == 1
                }
                _ => true,
            }),
            _ => true,
        }
    }
    items_yield_one_key(filter) && filter_keys(filter).iter().all(|key| is_exact(key))
}

/// Which container keys a walk yields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Yield {
    /// A document's: every container's.
    Everything,
    /// A filter's: only empty containers' (a non-empty one's keys below imply its type).
    Needed,
}

// The encoding's tags: every path step and every value starts with one, so that no two
// different (path, value) pairs encode to the same bytes (lengths are varints, numbers'
// exponents zigzag varints).
const OBJECT_KEY: u8 = 0x01;
const ARRAY_LEVEL: u8 = 0x02;
const NULL: u8 = 0x10;
const TRUE: u8 = 0x11;
const FALSE: u8 = 0x12;
const STRING: u8 = 0x13;
const NUMBER: u8 = 0x14;
const IS_OBJECT: u8 = 0x20;
const IS_ARRAY: u8 = 0x21;
const RELATED_THREAD: u8 = 0x30;

/// The top level: metadata and filters are objects, whose own type is no key (every
/// memory's metadata is an object).
fn walk_top(value: &Value, yield_: Yield, keys: &mut dyn FnMut(&[u8])) {
    if let Value::Object(map) = value {
        let mut path = Encoding::new();
        for (key, item) in map {
            path.byte(OBJECT_KEY).text(key);
            walk(item, &mut path, yield_, keys);
            path.0.clear();
        }
    }
}

/// Pushes the keys of `value` at `path`, which it extends while it walks and leaves as it
/// was (one buffer for the whole document: a copy of the path per step was most of the
/// cost of a memory's keys).
fn walk(value: &Value, path: &mut Encoding, yield_: Yield, keys: &mut dyn FnMut(&[u8])) {
    let at = path.0.len();
    match value {
        Value::Object(map) => {
            if yield_ == Yield::Everything || map.is_empty() {
                path.byte(IS_OBJECT).with_key(keys);
                path.0.truncate(at);
            }
            for (key, item) in map {
                path.byte(OBJECT_KEY).text(key);
                walk(item, path, yield_, keys);
                path.0.truncate(at);
            }
        }
        Value::Array(items) => {
            if yield_ == Yield::Everything || items.is_empty() {
                path.byte(IS_ARRAY).with_key(keys);
                path.0.truncate(at);
            }
            path.byte(ARRAY_LEVEL);
            for item in items {
                walk(item, path, yield_, keys);
            }
        }
        Value::Null => path.byte(NULL).with_key(keys),
        Value::Bool(true) => path.byte(TRUE).with_key(keys),
        Value::Bool(false) => path.byte(FALSE).with_key(keys),
        Value::String(text) => path.byte(STRING).text(text).with_key(keys),
        Value::Number(number) => {
            path.byte(NUMBER);
            match number_value(number) {
                Some((negative, digits, exponent)) => path
                    .byte(u8::from(negative))
                    .text(&digits)
                    // Zigzag: 0, -1, 1, -2 … as 0, 1, 2, 3 …
                    .varint(((exponent << 1) ^ (exponent >> 63)) as u64),
                // Not reachable for a parsed JSON number; its text is then its value.
                None => path.byte(0xff).text(number.as_str()),
            };
            path.with_key(keys);
        }
    }
    path.0.truncate(at);
}

fn sorted(mut keys: Vec<IndexKey>) -> Vec<IndexKey> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A key's encoding, built a step at a time.
struct Encoding(Vec<u8>);

impl Encoding {
    fn new() -> Self {
        Encoding(Vec::with_capacity(64))
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    fn byte(&mut self, byte: u8) -> &mut Self {
        self.0.push(byte);
        self
    }

    /// An unsigned number in 7-bit groups, low first, the high bit set on all but the last.
    fn varint(&mut self, mut n: u64) -> &mut Self {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
        self
    }

    /// Text as its length, then its bytes, so that where it ends is part of the encoding.
    fn text(&mut self, text: &str) -> &mut Self {
        self.varint(text.len() as u64).bytes(text.as_bytes())
    }

    /// Calls `each` with the key of the encoding so far: itself, or the marked 64-bit FNV-1a
    /// hash of a long one.
    fn with_key(&self, each: &mut dyn FnMut(&[u8])) {
        if self.0.len() <= MAX_EXACT_KEY_BYTES {
            return each(&self.0);
        }
        const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let hash = self.0.iter().fold(OFFSET_BASIS, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        });
        let mut key = [HASHED; 9];
        key[1..].copy_from_slice(&hash.to_le_bytes());
        each(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containment::{contains, PINNED_CASES};
    use serde_json::json;

    fn doc(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn subset(filter: &[IndexKey], memory: &[IndexKey]) -> bool {
        filter.iter().all(|key| memory.binary_search(key).is_ok())
    }

    #[test]
    fn number_spellings_share_a_key_and_types_do_not() {
        let one = memory_keys(&doc(r#"{"a": 1}"#), &[]);
        for spelling in ["1.0", "1e0", "10e-1", "0.1e1"] {
            let filter = doc(&format!(r#"{{"a": {spelling}}}"#));
            assert!(subset(&filter_keys(&filter), &one), "{spelling}");
        }
        for other in ["true", "\"1\"", "[1]", "2", "1.0000000000000000000001"] {
            let filter = doc(&format!(r#"{{"a": {other}}}"#));
            assert!(!subset(&filter_keys(&filter), &one), "{other}");
        }
        let big = memory_keys(&doc(r#"{"a": 12345678901234567890}"#), &[]);
        let next = filter_keys(&doc(r#"{"a": 12345678901234567891}"#));
        assert!(!subset(&next, &big));
    }

    #[test]
    fn empty_containers_need_a_container_of_their_type() {
        let memory = memory_keys(&doc(r#"{"a": [1], "o": {"x": null}}"#), &[]);
        assert!(subset(&filter_keys(&doc(r#"{"a": []}"#)), &memory));
        assert!(subset(&filter_keys(&doc(r#"{"o": {}}"#)), &memory));
        assert!(!subset(&filter_keys(&doc(r#"{"a": {}}"#)), &memory));
        assert!(!subset(&filter_keys(&doc(r#"{"o": []}"#)), &memory));
        assert!(!subset(&filter_keys(&doc(r#"{"b": []}"#)), &memory));
        assert!(filter_keys(&doc("{}")).is_empty());
        assert_eq!(filter_keys(&doc(r#"{"a": [[]]}"#)).len(), 1);
    }

    #[test]
    fn array_levels_are_part_of_the_path() {
        let memory = memory_keys(&doc(r#"{"a": [5], "b": 5}"#), &[]);
        assert!(!subset(&filter_keys(&doc(r#"{"a": 5}"#)), &memory));
        assert!(!subset(&filter_keys(&doc(r#"{"b": [5]}"#)), &memory));
        assert!(subset(&filter_keys(&doc(r#"{"a": [5, 5]}"#)), &memory));
    }

    #[test]
    fn related_threads_have_keys_of_their_own() {
        let memory = memory_keys(&json!({"t": "x"}), &["x".to_string()]);
        assert!(memory.contains(&related_thread_key("x")));
        assert!(!memory.contains(&related_thread_key("y")));
        // A thread id is not a metadata string.
        assert_ne!(related_thread_key("x"), filter_keys(&json!({"t": "x"}))[0]);
        assert!(is_exact(&related_thread_key("x")));
        assert!(!is_exact(&related_thread_key(&"x".repeat(100))));
    }

    /// The rule the index rests on, on the pairs where a naive matcher goes wrong: wherever
    /// the matcher says the left contains the right, the right's keys are the left's.
    #[test]
    fn a_contained_filters_keys_are_the_documents() {
        for &(left, right, _) in PINNED_CASES {
            let (left, right) = (doc(left), doc(right));
            let (Value::Object(_), Value::Object(_)) = (&left, &right) else {
                continue;
            };
            if contains(&left, &right) {
                assert!(
                    subset(&filter_keys(&right), &memory_keys(&left, &[])),
                    "{left} @> {right}"
                );
            }
        }
    }

    /// The keys are stored: their bytes may never change (a database indexed by one
    /// version is read by the next). Pinned from the first version of the encoding.
    #[test]
    fn the_encoding_of_keys_is_pinned() {
        let hex = |keys: Vec<IndexKey>| -> Vec<String> {
            keys.iter()
                .map(|key| key.iter().map(|byte| format!("{byte:02x}")).collect())
                .collect()
        };
        let memory = doc(
            r#"{"a": {"b": [1, -2.5e3, {"c": null}], "d": {}}, "t": true, "f": false, "s": "x",
                "e": [], "long": "0123456789012345678901234567890123456789012345678901234567890123456789"}"#,
        );
        assert_eq!(
            hex(memory_keys(&memory, &["th".to_string()])),
            [
                "0101610101620201016310",
                "010161010162021400013100",
                "01016101016202140102323504",
                "0101610101620220",
                "01016101016221",
                "01016101016420",
                "01016120",
                "01016521",
                "01016612",
                "010173130178",
                "01017411",
                "30027468",
                "ff389cf48713936ca9",
            ]
        );
        let filter = doc(r#"{"a": {"b": [{}], "d": {}}, "e": []}"#);
        assert_eq!(
            hex(filter_keys(&filter)),
            ["0101610101620220", "01016101016420", "01016521",]
        );
    }
}
