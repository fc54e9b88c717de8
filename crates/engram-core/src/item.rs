//! Items: a namespaced key-value store beside the memories (LangGraph's `BaseStore` model).
//! An item is a JSON object stored under a namespace (a sequence of labels) and a key. This
//! module holds the types, the rules of a valid namespace and key, and the one rule of how
//! namespaces are listed ([`NamespaceQuery::select`]), which both backends apply to the
//! distinct namespaces they store.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::check_text;
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::plan::sql_count;
use crate::Timestamp;

/// Most labels in a namespace.
pub const MAX_NAMESPACE_DEPTH: usize = 32;
/// Most characters in a label.
pub const MAX_LABEL_CHARS: usize = 128;
/// Most characters in a key.
pub const MAX_KEY_CHARS: usize = 1024;
/// Items a search returns when it does not say (LangGraph's default).
pub const DEFAULT_SEARCH_LIMIT: u64 = 10;
/// Namespaces a listing returns when it does not say (LangGraph's default).
pub const DEFAULT_NAMESPACE_LIMIT: u64 = 100;

/// The character that joins a namespace's labels in storage; no label contains it.
pub const SEPARATOR: char = '.';

/// A namespace: one or more non-empty labels without `.`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Namespace(Vec<String>);

impl Namespace {
    /// A namespace of `labels`, checked.
    ///
    /// ```
    /// use engram_core::item::Namespace;
    /// assert_eq!(Namespace::new(["users", "alice"]).unwrap().joined(), "users.alice");
    /// assert!(Namespace::new(["a.b"]).is_err());
    /// assert!(Namespace::new(Vec::<String>::new()).is_err());
    /// ```
    pub fn new<S: Into<String>>(labels: impl IntoIterator<Item = S>) -> Result<Namespace> {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.is_empty() {
            return Err(Error::invalid(
                "namespace",
                "a namespace has at least one label",
            ));
        }
        check_labels(&labels, "namespace", false)?;
        Ok(Namespace(labels))
    }

    /// The labels.
    pub fn labels(&self) -> &[String] {
        &self.0
    }

    /// The labels joined by `.`: how the namespace is stored.
    pub fn joined(&self) -> String {
        join(&self.0)
    }

    /// The namespace stored as `joined`.
    pub fn from_joined(joined: &str) -> Namespace {
        Namespace(joined.split(SEPARATOR).map(str::to_string).collect())
    }
}

impl TryFrom<Vec<String>> for Namespace {
    type Error = Error;
    fn try_from(labels: Vec<String>) -> Result<Namespace> {
        Namespace::new(labels)
    }
}

impl From<Namespace> for Vec<String> {
    fn from(namespace: Namespace) -> Vec<String> {
        namespace.0
    }
}

/// Labels as stored: joined by [`SEPARATOR`].
fn join<S: AsRef<str>>(labels: &[S]) -> String {
    let labels: Vec<&str> = labels.iter().map(AsRef::as_ref).collect();
    labels.join(&SEPARATOR.to_string())
}

/// The stored namespaces under a prefix of whole labels: the prefix itself, and those from
/// `prefix.` up to, not including, `prefix/` (`/` is the character after `.`, and no label
/// holds `.`), so that `a.b` holds `a.b.c` but not `a.bc`: a range of the primary key, bound
/// as three values by both backends ([`PrefixRange::SQL`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixRange {
    /// The prefix itself, joined.
    pub exact: String,
    /// The first namespace under it.
    pub from: String,
    /// The first namespace past it.
    pub until: String,
}

impl PrefixRange {
    /// The condition on `namespace`, for `exact`, `from` and `until` bound in that order to
    /// the three placeholders `{exact}`, `{from}`, `{until}` (see [`PrefixRange::sql`]).
    pub const SQL: &'static str =
        "(namespace = {exact} OR (namespace >= {from} AND namespace < {until}))";

    /// The range of the prefix `labels`; `None` for no labels (every namespace).
    ///
    /// ```
    /// use engram_core::item::PrefixRange;
    /// let range = PrefixRange::of(&["a", "b"]).unwrap();
    /// assert_eq!((range.from.as_str(), range.until.as_str()), ("a.b.", "a.b/"));
    /// assert_eq!(PrefixRange::sql("?", "?", "?"), "(namespace = ? OR (namespace >= ? AND namespace < ?))");
    /// ```
    pub fn of<S: AsRef<str>>(labels: &[S]) -> Option<PrefixRange> {
        if labels.is_empty() {
            return None;
        }
        let exact = join(labels);
        Some(PrefixRange {
            from: format!("{exact}{SEPARATOR}"),
            until: format!("{exact}/"),
            exact,
        })
    }

    /// `exact`, `from` and `until`, in the order [`PrefixRange::SQL`] binds them.
    pub fn bounds(&self) -> [&str; 3] {
        [&self.exact, &self.from, &self.until]
    }

    /// [`PrefixRange::SQL`] with these placeholders.
    pub fn sql(exact: &str, from: &str, until: &str) -> String {
        Self::SQL
            .replace("{exact}", exact)
            .replace("{from}", from)
            .replace("{until}", until)
    }
}

/// Checks labels: at most [`MAX_NAMESPACE_DEPTH`], each 1 to [`MAX_LABEL_CHARS`] characters
/// without `.` or NUL; `*` only where `wildcards` (a listing's conditions).
fn check_labels(labels: &[String], field: &str, wildcards: bool) -> Result<()> {
    if labels.len() > MAX_NAMESPACE_DEPTH {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_NAMESPACE_DEPTH} labels, got {}", labels.len()),
        ));
    }
    for label in labels {
        check_text(label, field)?;
        if label.is_empty() {
            return Err(Error::invalid(field, "a label is empty"));
        }
        if label.contains(SEPARATOR) {
            return Err(Error::invalid(
                field,
                format!("the label '{label}' contains '{SEPARATOR}'"),
            ));
        }
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(Error::invalid(
                field,
                format!("a label is longer than {MAX_LABEL_CHARS} characters"),
            ));
        }
        if label == "*" && !wildcards {
            return Err(Error::invalid(field, "'*' is a wildcard only in listings"));
        }
    }
    Ok(())
}

/// Checks a key: 1 to [`MAX_KEY_CHARS`] characters, no NUL (PostgreSQL cannot store it).
pub fn check_key(key: &str) -> Result<()> {
    check_text(key, "key")?;
    match key.chars().count() {
        0 => Err(Error::invalid("key", "a key is not empty")),
        n if n > MAX_KEY_CHARS => Err(Error::invalid(
            "key",
            format!("a key is at most {MAX_KEY_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

/// A stored item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Its namespace.
    pub namespace: Namespace,
    /// Its key within the namespace.
    pub key: String,
    /// Its value: a JSON object.
    pub value: Value,
    /// When it was first put.
    pub created_at: Timestamp,
    /// When it was last put.
    pub updated_at: Timestamp,
    /// When it expires, if it does.
    pub expires_at: Option<Timestamp>,
    /// The time to live it was put with, if any.
    pub ttl: Option<std::time::Duration>,
}

/// What a put at `now` with `ttl` stores of its time: the expiry, and the time to live in
/// microseconds (kept for reads that refresh the expiry).
pub fn put_expiry(
    ttl: Option<std::time::Duration>,
    now: Timestamp,
) -> (Option<Timestamp>, Option<i64>) {
    match ttl {
        Some(ttl) => (
            Some(now.saturating_add(ttl)),
            Some(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX)),
        ),
        None => (None, None),
    }
}

impl Item {
    /// Moves the expiry of an item put with a time to live to `now` plus that time (a read
    /// that refreshes it); returns whether there was one to move.
    pub fn refresh(&mut self, now: Timestamp) -> bool {
        match self.ttl {
            Some(ttl) => {
                self.expires_at = Some(now.saturating_add(ttl));
                true
            }
            None => false,
        }
    }
}

/// A search of items: those under a namespace prefix whose value passes a filter, newest
/// first (ties by namespace, then key), paged.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSearch {
    /// Only items whose namespace starts with these labels (empty: every item).
    pub prefix: Vec<String>,
    /// Only items whose value passes this filter.
    pub filter: Option<Filter>,
    /// At most this many (default [`DEFAULT_SEARCH_LIMIT`]).
    pub limit: u64,
    /// Skip this many first.
    pub offset: u64,
    /// Whether the items found have their expiry refreshed ([`Item::refresh`]).
    pub refresh: bool,
}

impl ItemSearch {
    /// Every item under `prefix`, the default page.
    pub fn new<S: Into<String>>(prefix: impl IntoIterator<Item = S>) -> ItemSearch {
        ItemSearch {
            prefix: prefix.into_iter().map(Into::into).collect(),
            filter: None,
            limit: DEFAULT_SEARCH_LIMIT,
            offset: 0,
            refresh: false,
        }
    }

    /// Refreshes the expiry of the items found ([`Item::refresh`]).
    pub fn refreshing(mut self) -> ItemSearch {
        self.refresh = true;
        self
    }

    /// Only items whose value passes `filter`.
    pub fn filter(mut self, filter: Filter) -> ItemSearch {
        self.filter = Some(filter);
        self
    }

    /// The page.
    pub fn page(mut self, limit: u64, offset: u64) -> ItemSearch {
        self.limit = limit;
        self.offset = offset;
        self
    }

    /// Checks the prefix's labels.
    pub fn check(&self) -> Result<()> {
        check_labels(&self.prefix, "prefix", false)
    }

    /// The stored namespaces the prefix selects: `None` for every item.
    pub fn prefix_range(&self) -> Option<PrefixRange> {
        PrefixRange::of(&self.prefix)
    }

    /// The limit and offset as the databases take them.
    pub fn page_bounds(&self) -> (i64, i64) {
        (sql_count(self.limit), sql_count(self.offset))
    }
}

/// A listing of the namespaces that hold items: LangGraph's `list_namespaces`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceQuery {
    /// Only namespaces that start with these labels (`*` matches any one label).
    pub prefix: Vec<String>,
    /// Only namespaces that end with these labels (`*` matches any one label).
    pub suffix: Vec<String>,
    /// Namespaces cut to at most this many labels (then listed once each).
    pub max_depth: Option<usize>,
    /// At most this many (default [`DEFAULT_NAMESPACE_LIMIT`]).
    pub limit: Option<u64>,
    /// Skip this many first.
    pub offset: u64,
}

impl NamespaceQuery {
    /// Checks the conditions' labels (`*` allowed).
    pub fn check(&self) -> Result<()> {
        check_labels(&self.prefix, "prefix", true)?;
        check_labels(&self.suffix, "suffix", true)?;
        if self.max_depth == Some(0) {
            return Err(Error::invalid("max_depth", "at least 1"));
        }
        Ok(())
    }

    /// The range of the prefix's labels before its first wildcard: what a backend may
    /// narrow the stored namespaces by before [`NamespaceQuery::select`].
    pub fn literal_prefix(&self) -> Option<PrefixRange> {
        let literal: Vec<&str> = self
            .prefix
            .iter()
            .take_while(|label| *label != "*")
            .map(String::as_str)
            .collect();
        PrefixRange::of(&literal)
    }

    /// The rule of a listing, over the distinct stored namespaces (in any order): those
    /// matching the prefix and suffix, cut to `max_depth` and listed once, sorted by their
    /// labels, paged.
    ///
    /// ```
    /// use engram_core::item::{Namespace, NamespaceQuery};
    /// let stored = ["a.b.c", "a.x.c", "a.b", "z"].map(Namespace::from_joined);
    /// let query = NamespaceQuery { prefix: vec!["a".into(), "*".into()], max_depth: Some(2), ..Default::default() };
    /// let listed: Vec<String> = query.select(stored).iter().map(Namespace::joined).collect();
    /// assert_eq!(listed, ["a.b", "a.x"]);
    /// ```
    pub fn select(&self, stored: impl IntoIterator<Item = Namespace>) -> Vec<Namespace> {
        let matches = |pattern: &[String], labels: &[String]| {
            pattern.len() <= labels.len()
                && pattern
                    .iter()
                    .zip(labels)
                    .all(|(p, label)| p == "*" || p == label)
        };
        let mut listed: Vec<Namespace> = stored
            .into_iter()
            .filter(|ns| matches(&self.prefix, &ns.0))
            .filter(|ns| {
                let reversed: Vec<String> = ns.0.iter().rev().cloned().collect();
                let suffix: Vec<String> = self.suffix.iter().rev().cloned().collect();
                matches(&suffix, &reversed)
            })
            .map(|ns| match self.max_depth {
                Some(depth) => Namespace(ns.0.into_iter().take(depth).collect()),
                None => ns,
            })
            .collect();
        listed.sort();
        listed.dedup();
        let limit = self.limit.unwrap_or(DEFAULT_NAMESPACE_LIMIT);
        listed
            .into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_keys_are_checked() {
        assert!(Namespace::new(["a", ""]).is_err());
        assert!(Namespace::new(["*"]).is_err());
        assert!(Namespace::new(vec!["x"; MAX_NAMESPACE_DEPTH + 1]).is_err());
        assert!(Namespace::new(["x".repeat(MAX_LABEL_CHARS + 1)]).is_err());
        assert!(check_key("").is_err());
        assert!(check_key("a\0b").is_err());
        assert!(Namespace::new(["a\0"]).is_err());
        assert!(check_key("k").is_ok());
        let ns = Namespace::new(["users", "alice"]).unwrap();
        assert_eq!(Namespace::from_joined(&ns.joined()), ns);
    }

    #[test]
    fn listings_match_prefixes_and_suffixes_with_wildcards() {
        let stored = || ["a.b.c", "a.x.c", "a.b", "b.c", "z"].map(Namespace::from_joined);
        let list = |query: NamespaceQuery| -> Vec<String> {
            query
                .select(stored())
                .iter()
                .map(Namespace::joined)
                .collect()
        };
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            list(NamespaceQuery::default()),
            ["a.b", "a.b.c", "a.x.c", "b.c", "z"]
        );
        let suffix = NamespaceQuery {
            suffix: labels(&["c"]),
            ..Default::default()
        };
        assert_eq!(list(suffix), ["a.b.c", "a.x.c", "b.c"]);
        let wild = NamespaceQuery {
            prefix: labels(&["*", "b"]),
            ..Default::default()
        };
        assert_eq!(list(wild), ["a.b", "a.b.c"]);
        let paged = NamespaceQuery {
            limit: Some(2),
            offset: 1,
            ..Default::default()
        };
        assert_eq!(list(paged), ["a.b.c", "a.x.c"]);
        let depth = NamespaceQuery {
            max_depth: Some(1),
            ..Default::default()
        };
        assert_eq!(list(depth), ["a", "b", "z"]);
    }
}
