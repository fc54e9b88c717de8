//! Input validation: the data model's rules, checked once before any backend sees the data.
//!
//! Both backends receive only what passes here, so bad input gets the same
//! [`crate::Error::InvalidInput`] on each.

use serde_json::Value;
use uuid::Uuid;

use crate::document::{check_text, normalize_object};
use crate::{
    ClusterQuery, ClusterUpsert, Error, Memory, MemoryQuery, MemoryUpdate, NearestQuery, NewMemory,
    Result, TierPolicy, Timestamp, DEFAULT_NAMESPACE, DEFAULT_SCORE, SHORT_TERM,
};

/// Longest user id, namespace, thread id, topic or category, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest tier name.
pub const MAX_TIER_CHARS: usize = 32;

/// Checks a required name (user id, namespace): 1 to 128 characters, no NUL.
pub fn name(value: &str, field: &str) -> Result<()> {
    check_text(value, field)?;
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    Ok(())
}

/// Checks an optional-length name (thread id, category): up to 128 characters, no NUL.
pub fn short_text(value: &str, field: &str) -> Result<()> {
    check_text(value, field)?;
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    Ok(())
}

/// Checks a tier name: `[a-z0-9_]{1,32}`.
///
/// ```
/// use engram_core::validate::tier;
/// assert!(tier("long_term").is_ok());
/// assert!(tier("Long Term").is_err());
/// ```
pub fn tier(value: &str) -> Result<()> {
    let well_formed = !value.is_empty()
        && value.len() <= MAX_TIER_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(Error::invalid(
            "tier",
            format!("'{value}' must match [a-z0-9_]{{1,{MAX_TIER_CHARS}}}"),
        ))
    }
}

/// The longest content PostgreSQL's `text` can hold, in bytes (1 GiB less one).
pub const MAX_CONTENT_BYTES: usize = (1 << 30) - 1;

/// Checks memory content: no NUL, at most [`MAX_CONTENT_BYTES`].
pub fn content(value: &str) -> Result<()> {
    check_text(value, "content")?;
    if value.len() > MAX_CONTENT_BYTES {
        return Err(Error::invalid(
            "content",
            format!(
                "{} bytes is more than the {MAX_CONTENT_BYTES} PostgreSQL can store",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a score: 0 to 100.
pub fn score(value: i32) -> Result<()> {
    if (0..=100).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            "score",
            format!("must be between 0 and 100, got {value}"),
        ))
    }
}

fn related_threads(threads: &[String]) -> Result<()> {
    threads
        .iter()
        .try_for_each(|t| short_text(t, "related_threads"))
}

/// Checks a metadata object and returns its canonical form.
pub fn metadata(value: Value) -> Result<Value> {
    normalize_object(value, "metadata")
}

/// Turns a [`NewMemory`] into the row to store: defaults filled in, id made (UUIDv7),
/// timestamps set to `now` where not given, metadata normalized.
pub fn new_memory(memory: NewMemory, now: Timestamp) -> Result<Memory> {
    name(&memory.user_id, "user_id")?;
    let namespace = memory
        .namespace
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    name(&namespace, "namespace")?;
    if let Some(thread) = &memory.thread_id {
        short_text(thread, "thread_id")?;
    }
    let tier_name = memory.tier.unwrap_or_else(|| SHORT_TERM.to_string());
    tier(&tier_name)?;
    content(&memory.content)?;
    let score_value = memory.score.unwrap_or(DEFAULT_SCORE);
    score(score_value)?;
    related_threads(&memory.related_threads)?;
    let metadata = metadata(
        memory
            .metadata
            .unwrap_or_else(|| Value::Object(Default::default())),
    )?;
    let created_at = memory.created_at.unwrap_or(now).validate("created_at")?;
    let updated_at = memory
        .updated_at
        .unwrap_or(created_at)
        .validate("updated_at")?;
    let expires_at = expiry(memory.expires_at, memory.ttl_secs, now)?;
    Ok(Memory {
        id: memory.id.unwrap_or_else(Uuid::now_v7),
        user_id: memory.user_id,
        namespace,
        thread_id: memory.thread_id,
        tier: tier_name,
        content: memory.content,
        score: score_value,
        metadata,
        related_threads: memory.related_threads,
        summarized: memory.summarized,
        created_at,
        updated_at,
        expires_at,
        embedding: memory.embedding,
    })
}

/// The expiry time of a write at `now` that gives `expires_at` or `ttl_secs` (not both):
/// `now + ttl_secs`, or `expires_at` as given (a time already past is allowed: such a
/// memory is stored expired, as an import of an expired export would be).
///
/// ```
/// use engram_core::{validate::expiry, Timestamp};
/// let now = Timestamp::from_micros(1_000_000);
/// assert_eq!(expiry(None, Some(2), now).unwrap(), Some(Timestamp::from_micros(3_000_000)));
/// assert!(expiry(Some(now), Some(2), now).is_err());
/// ```
pub fn expiry(
    expires_at: Option<Timestamp>,
    ttl_secs: Option<u64>,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    match (expires_at, ttl_secs) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "ttl_secs",
            "give expires_at or ttl_secs, not both",
        )),
        (Some(at), None) => Ok(Some(at.validate("expires_at")?)),
        (None, Some(secs)) => {
            let at = now.saturating_add(std::time::Duration::from_secs(secs));
            Ok(Some(at.validate("ttl_secs")?))
        }
        (None, None) => Ok(None),
    }
}

/// Checks an update made at `now`, normalizes its metadata, and turns a `ttl_secs` into
/// the `expires_at` it sets.
pub fn update(mut update: MemoryUpdate, now: Timestamp) -> Result<MemoryUpdate> {
    match (update.expires_at, update.ttl_secs.take()) {
        (Some(Some(at)), ttl) => update.expires_at = Some(expiry(Some(at), ttl, now)?),
        (Some(None), Some(_)) => {
            return Err(Error::invalid(
                "ttl_secs",
                "give a ttl or never expire, not both",
            ))
        }
        (None, Some(secs)) => update.expires_at = Some(expiry(None, Some(secs), now)?),
        (_, None) => {}
    }
    if let Some(text) = &update.content {
        content(text)?;
    }
    if let Some(value) = update.metadata.take() {
        update.metadata = Some(metadata(value)?);
    }
    if let Some(value) = &update.tier {
        tier(value)?;
    }
    if let Some(value) = update.score {
        score(value)?;
    }
    if let Some(threads) = &update.related_threads {
        related_threads(threads)?;
    }
    Ok(update)
}

/// Checks a query's filters and normalizes its containment filter, which must be an object
/// (metadata is always an object, so any other filter could never match).
pub fn query(mut query: MemoryQuery) -> Result<MemoryQuery> {
    query.as_of.get_or_insert_with(Timestamp::now);
    if let Some(user) = &query.user_id {
        check_text(user, "user_id")?;
    }
    if let Some(namespace) = &query.namespace {
        check_text(namespace, "namespace")?;
    }
    if let Some(thread) = &query.thread_id {
        check_text(thread, "thread_id")?;
    }
    query.tiers.iter().try_for_each(|t| tier(t))?;
    query
        .related_to_any
        .iter()
        .try_for_each(|t| check_text(t, "related_to_any"))?;
    // No stored time lies outside [MIN, MAX], so a bound beyond them selects the same rows
    // as one just outside them; clamping keeps every bound representable on both backends.
    let lowest = Timestamp::from_micros(Timestamp::MIN.as_micros() - 1);
    let highest = Timestamp::from_micros(Timestamp::MAX.as_micros() + 1);
    for range in [&mut query.created, &mut query.updated] {
        for bound in [&mut range.from, &mut range.until] {
            *bound = bound.map(|at| at.clamp(lowest, highest));
        }
    }
    if let Some(filter) = query.metadata_contains.take() {
        query.metadata_contains = Some(normalize_object(filter, "metadata filter")?);
    }
    if let Some(limit) = query.limit {
        if limit > i64::MAX as u64 {
            return Err(Error::invalid("limit", format!("{limit} is too large")));
        }
    }
    if query.offset > i64::MAX as u64 {
        return Err(Error::invalid(
            "offset",
            format!("{} is too large", query.offset),
        ));
    }
    Ok(query)
}

/// Checks a nearest-neighbour query: its filter as [`query`] checks one, and its page.
pub fn nearest(mut nearest: NearestQuery) -> Result<NearestQuery> {
    nearest.filter = query(nearest.filter)?;
    for (value, field) in [(nearest.k, "k"), (nearest.offset, "offset")] {
        if value > i64::MAX as u64 {
            return Err(Error::invalid(field, format!("{value} is too large")));
        }
    }
    Ok(nearest)
}

/// Checks a cluster to upsert.
pub fn cluster(cluster: &ClusterUpsert) -> Result<()> {
    name(&cluster.user_id, "user_id")?;
    name(&cluster.topic, "topic")?;
    short_text(&cluster.category, "category")?;
    check_text(&cluster.summary, "summary")
}

/// Checks a cluster lookup.
pub fn cluster_query(query: &ClusterQuery) -> Result<()> {
    check_text(&query.user_id, "user_id")?;
    if let Some(topic) = &query.topic {
        check_text(topic, "topic")?;
    }
    if let Some(category) = &query.category {
        check_text(category, "category")?;
    }
    Ok(())
}

/// Checks tier policies: valid tier names, and a next tier for every expiry.
pub fn policies(policies: &[TierPolicy]) -> Result<()> {
    for policy in policies {
        tier(&policy.tier)?;
        match (&policy.expire_after, &policy.next_tier) {
            (Some(_), Some(next)) => tier(next)?,
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "policy",
                    format!(
                        "tier '{}' needs both an expiry and a next tier, or neither",
                        policy.tier
                    ),
                ))
            }
        }
    }
    Ok(())
}
