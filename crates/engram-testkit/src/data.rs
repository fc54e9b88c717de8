//! Seeded generator of realistic agent memories, shared by the tests and the benchmarks.
//!
//! The same [`DataShape`] (with its seed) always gives the same memories, ids and
//! timestamps included: the timestamps lie in the 90 days before the fixed [`BASE_TIME`],
//! not before now. Some metadata markers occur at known rates so that benchmarks can hit
//! known selectivities: [`RARE_FILTER_JSON`] matches about [`RARE_FRACTION`] of the
//! memories, [`BROAD_FILTER_JSON`] about [`BROAD_FRACTION`].
//!
//! ```
//! use engram_testkit::data::{DataShape, MemoryGenerator};
//! let mut generator = MemoryGenerator::new(DataShape { users: 10, threads_per_user: 3, seed: 7 });
//! let memories = generator.memories(100);
//! assert_eq!(memories.len(), 100);
//! assert!(memories[0].user_id.starts_with("user-"));
//! ```

use engram_core::{NewMemory, Timestamp, LONG_TERM, MID_TERM, SHORT_TERM};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::{Builder, Uuid};

/// The fixed "now" of generated data: 2026-01-01T00:00:00Z. Every generated timestamp lies
/// in the [`SPAN_DAYS`] days before it.
pub const BASE_TIME: Timestamp = Timestamp::from_micros(1_767_225_600_000_000);
/// How many days before [`BASE_TIME`] the generated timestamps reach back.
pub const SPAN_DAYS: i64 = 90;

/// A containment filter (`@>`) that matches about [`RARE_FRACTION`] of generated memories.
pub const RARE_FILTER_JSON: &str = r#"{"flags": {"rare": true}}"#;
/// The share of generated memories whose metadata contains [`RARE_FILTER_JSON`] (0.1 %).
pub const RARE_FRACTION: f64 = 0.001;
/// A containment filter (`@>`) that matches about [`BROAD_FRACTION`] of generated memories.
pub const BROAD_FILTER_JSON: &str = r#"{"flags": {"common": true}}"#;
/// The share of generated memories whose metadata contains [`BROAD_FILTER_JSON`] (10 %).
pub const BROAD_FRACTION: f64 = 0.10;

/// A containment filter (`@>`) of three keys that matches about [`NEEDLE_FRACTION`] of
/// generated memories (a few in 100,000): one topic of 20, one source of 6, one turn of 200.
pub const NEEDLE_FILTER_JSON: &str = r#"{"topic": "pets", "source": "voice", "turn": 17}"#;
/// The share of generated memories whose metadata contains [`NEEDLE_FILTER_JSON`].
pub const NEEDLE_FRACTION: f64 = 1.0 / (20.0 * 6.0 * 200.0);
/// A containment filter (`@>`) that no generated memory matches: a topic never generated.
pub const NOTHING_FILTER_JSON: &str = r#"{"topic": "astronomy"}"#;

/// The `source` values of generated metadata.
pub const SOURCES: [&str; 6] = ["chat", "email", "doc", "calendar", "web", "voice"];

/// The `topic` values of generated metadata.
pub const TOPICS: [&str; 20] = [
    "food", "travel", "work", "health", "family", "finance", "music", "sports", "books", "movies",
    "pets", "home", "shopping", "learning", "tech", "fitness", "garden", "events", "friends",
    "hobbies",
];

/// The tags that generated metadata picks 2 to 4 of.
pub const TAGS: [&str; 50] = [
    "preference",
    "allergy",
    "birthday",
    "deadline",
    "goal",
    "habit",
    "reminder",
    "contact",
    "address",
    "favorite",
    "dislike",
    "plan",
    "meeting",
    "project",
    "budget",
    "recipe",
    "flight",
    "hotel",
    "doctor",
    "medication",
    "exercise",
    "diet",
    "gift",
    "anniversary",
    "subscription",
    "password-hint",
    "vehicle",
    "school",
    "course",
    "language",
    "podcast",
    "album",
    "concert",
    "restaurant",
    "coffee",
    "tea",
    "weekend",
    "morning",
    "evening",
    "urgent",
    "follow-up",
    "idea",
    "question",
    "feedback",
    "complaint",
    "milestone",
    "routine",
    "weather",
    "commute",
    "vacation",
];

const PEOPLE: [&str; 16] = [
    "Alice", "Bob", "Chen Wei", "Dana", "Émile", "Fatima", "Gustavo", "Hana", "Ivan", "José",
    "Kaito", "Lena", "Maya", "Noah", "Zoë", "Priya",
];
const PLACES: [&str; 10] = [
    "Lisbon",
    "Kyoto",
    "Berlin",
    "São Paulo",
    "Toronto",
    "Nairobi",
    "Oslo",
    "Austin",
    "Melbourne",
    "Reykjavík",
];
const ORGS: [&str; 8] = [
    "Acme Corp",
    "the city library",
    "Northwind",
    "the dental clinic",
    "Globex",
    "the climbing gym",
    "Initech",
    "the book club",
];
const OPENERS: [&str; 10] = [
    "The user mentioned that",
    "During the conversation the user said",
    "Noted from an earlier message:",
    "The user asked me to remember that",
    "According to the user,",
    "In passing, the user explained that",
    "The user confirmed that",
    "Worth keeping in mind:",
    "The user clarified that",
    "From the shared document it appears that",
];
const SUBJECTS: [&str; 8] = [
    "they",
    "their partner",
    "their manager",
    "their sister",
    "the team",
    "their landlord",
    "their doctor",
    "their best friend",
];
const VERBS: [&str; 12] = [
    "prefer",
    "want to try",
    "are planning",
    "keep forgetting",
    "would rather avoid",
    "really enjoy",
    "need to reschedule",
    "are worried about",
    "recently finished",
    "are looking forward to",
    "have been thinking about",
    "usually skip",
];
const OBJECTS: [&str; 16] = [
    "green tea in the morning",
    "a quiet table near the window",
    "the quarterly budget review",
    "a weekend trip to the coast",
    "the new running shoes",
    "the Spanish course on Tuesdays",
    "vegetarian dishes with little spice",
    "the dentist appointment",
    "long calls after eight in the evening",
    "the book about urban gardening",
    "a surprise party for the anniversary",
    "the migration of the old database",
    "jazz playlists while working",
    "renewing the passport before summer",
    "early flights with a window seat",
    "the yoga class near the office",
];
const TAILS: [&str; 10] = [
    "because it helps them focus",
    "since the last attempt went badly",
    "and asked for a reminder a day before",
    "but only if the weather is good",
    "as part of a longer plan for the year",
    "which came up twice this week",
    "so suggestions should take that into account",
    "although they are not sure about the cost",
    "and would like a short summary afterwards",
    "after talking it over with the family",
];

/// Shortest generated content, in characters.
pub const MIN_CONTENT_CHARS: usize = 80;
/// Longest generated content, in characters.
pub const MAX_CONTENT_CHARS: usize = 600;

/// The size and seed of a generated data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataShape {
    /// How many users the memories are spread over (at least 1).
    pub users: usize,
    /// How many threads each user has (at least 1).
    pub threads_per_user: usize,
    /// The seed: the same shape always gives the same memories.
    pub seed: u64,
}

impl Default for DataShape {
    /// 100 users with 10 threads each, seed 42.
    fn default() -> Self {
        DataShape {
            users: 100,
            threads_per_user: 10,
            seed: 42,
        }
    }
}

/// The user id of user number `index`: `user-0042`.
pub fn user_id(index: usize) -> String {
    format!("user-{index:04}")
}

/// The id of thread `thread` of user `user`: `user-0042-thread-07`.
pub fn thread_id(user: usize, thread: usize) -> String {
    format!("{}-thread-{thread:02}", user_id(user))
}

/// Generates realistic memories, deterministically from a [`DataShape`].
///
/// Successive [`MemoryGenerator::memories`] calls continue one stream: two calls of 50
/// give the same memories as one call of 100.
#[derive(Clone, Debug)]
pub struct MemoryGenerator {
    shape: DataShape,
    rng: StdRng,
}

impl MemoryGenerator {
    /// A generator for `shape` (users and threads below 1 count as 1).
    pub fn new(shape: DataShape) -> Self {
        let shape = DataShape {
            users: shape.users.max(1),
            threads_per_user: shape.threads_per_user.max(1),
            seed: shape.seed,
        };
        MemoryGenerator {
            shape,
            rng: StdRng::seed_from_u64(shape.seed),
        }
    }

    /// The shape this generator draws from.
    pub fn shape(&self) -> DataShape {
        self.shape
    }

    /// The next `count` memories.
    ///
    /// Each has an explicit id (a UUIDv7 of its creation time with seeded random bits),
    /// user `user-NNNN`, thread `user-NNNN-thread-NN`, a tier (about 50 % short_term, 30 %
    /// mid_term, 20 % long_term), 80 to 600 characters of content, a score from 0 to 100,
    /// nested metadata with tags and entities, 0 to 2 related threads of the same user and
    /// timestamps in the 90 days before [`BASE_TIME`] with `updated_at >= created_at`.
    pub fn memories(&mut self, count: usize) -> Vec<NewMemory> {
        (0..count).map(|_| self.memory()).collect()
    }

    fn memory(&mut self) -> NewMemory {
        let rng = &mut self.rng;
        let user = rng.gen_range(0..self.shape.users);
        let thread = rng.gen_range(0..self.shape.threads_per_user);

        let span = SPAN_DAYS * 24 * 3600 * 1_000_000;
        let base = BASE_TIME.as_micros();
        let created = base - rng.gen_range(0..span);
        let updated = if rng.gen_bool(0.6) {
            created
        } else {
            created + rng.gen_range(0..=base - created)
        };

        let tier = match rng.gen_range(0..100) {
            0..=49 => SHORT_TERM,
            50..=79 => MID_TERM,
            _ => LONG_TERM,
        };
        let score: i32 = rng.gen_range(0..=100);

        let mut others: Vec<usize> = (0..self.shape.threads_per_user)
            .filter(|&t| t != thread)
            .collect();
        others.shuffle(rng);
        let wanted = match rng.gen_range(0..10) {
            0..=4 => 0,
            5..=7 => 1,
            _ => 2,
        };
        let related: Vec<String> = others
            .into_iter()
            .take(wanted)
            .map(|t| thread_id(user, t))
            .collect();

        let metadata = metadata(rng, score);
        let content = content(rng);
        let summarized = rng.gen_bool(0.15);

        let millis = u64::try_from(created.div_euclid(1000)).unwrap_or(0);
        let random_bytes: [u8; 10] = rng.gen();
        let id: Uuid = Builder::from_unix_timestamp_millis(millis, &random_bytes).into_uuid();

        NewMemory::new(user_id(user), content)
            .id(id)
            .thread(thread_id(user, thread))
            .tier(tier)
            .score(score)
            .metadata(metadata)
            .related_threads(related)
            .summarized(summarized)
            .at(
                Timestamp::from_micros(created),
                Timestamp::from_micros(updated),
            )
    }
}

/// Metadata: source, topic, tags, importance, entities, language, and the selectivity flags.
fn metadata(rng: &mut StdRng, score: i32) -> Value {
    let tag_count = rng.gen_range(2..=4);
    let tags: Vec<&str> = TAGS.choose_multiple(rng, tag_count).copied().collect();
    let entity_count = rng.gen_range(0..=3);
    let entities: Vec<Value> = (0..entity_count)
        .map(|_| match rng.gen_range(0..10) {
            0..=5 => json!({"kind": "person", "name": pick(rng, &PEOPLE)}),
            6..=8 => json!({"kind": "place", "name": pick(rng, &PLACES)}),
            _ => json!({"kind": "org", "name": pick(rng, &ORGS)}),
        })
        .collect();
    let level = score / 21 + 1;
    let confidence = f64::from(rng.gen_range(50..=99)) / 100.0;
    json!({
        "source": pick(rng, &SOURCES),
        "topic": pick(rng, &TOPICS),
        "tags": tags,
        "importance": {"level": level, "pinned": rng.gen_bool(0.1)},
        "entities": entities,
        "lang": "en",
        "confidence": confidence,
        "turn": rng.gen_range(1..=200),
        "flags": {
            "rare": rng.gen_bool(RARE_FRACTION),
            "common": rng.gen_bool(BROAD_FRACTION),
        },
    })
}

/// Content of [`MIN_CONTENT_CHARS`] to [`MAX_CONTENT_CHARS`] characters, made of sentences.
fn content(rng: &mut StdRng) -> String {
    let target = rng.gen_range(MIN_CONTENT_CHARS..=MAX_CONTENT_CHARS);
    let mut text = String::new();
    while text.chars().count() < target {
        if !text.is_empty() {
            text.push(' ');
        }
        let sentence = match rng.gen_range(0..3) {
            0 => format!(
                "{} {} {} {}.",
                pick(rng, &OPENERS),
                pick(rng, &SUBJECTS),
                pick(rng, &VERBS),
                pick(rng, &OBJECTS)
            ),
            1 => format!(
                "{} {} {} {}, {}.",
                pick(rng, &OPENERS),
                pick(rng, &SUBJECTS),
                pick(rng, &VERBS),
                pick(rng, &OBJECTS),
                pick(rng, &TAILS)
            ),
            _ => format!(
                "{} met {} in {} about {}.",
                capitalized(pick(rng, &SUBJECTS)),
                pick(rng, &PEOPLE),
                pick(rng, &PLACES),
                pick(rng, &OBJECTS)
            ),
        };
        text.push_str(&sentence);
    }
    if text.chars().count() > MAX_CONTENT_CHARS {
        // Cut at the last space that leaves room for a closing period.
        let limit = text
            .char_indices()
            .nth(MAX_CONTENT_CHARS - 1)
            .map_or(text.len(), |(i, _)| i);
        let cut = text[..limit].rfind(' ').unwrap_or(limit);
        text.truncate(cut);
        let trimmed_len = text.trim_end_matches([',', '.', ' ']).len();
        text.truncate(trimmed_len);
        text.push('.');
    }
    text
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::containment;
    use std::collections::HashSet;

    fn generate(seed: u64, count: usize) -> Vec<NewMemory> {
        MemoryGenerator::new(DataShape {
            seed,
            ..DataShape::default()
        })
        .memories(count)
    }

    #[test]
    fn same_seed_same_memories() {
        assert_eq!(generate(1, 500), generate(1, 500));
    }

    #[test]
    fn successive_calls_continue_the_stream() {
        let mut generator = MemoryGenerator::new(DataShape::default());
        let mut split = generator.memories(30);
        split.extend(generator.memories(70));
        assert_eq!(
            split,
            MemoryGenerator::new(DataShape::default()).memories(100)
        );
    }

    #[test]
    fn other_seed_other_memories() {
        let a = generate(1, 100);
        let b = generate(2, 100);
        assert!(a.iter().zip(&b).all(|(x, y)| x.id != y.id));
        assert_ne!(a, b);
    }

    #[test]
    fn every_memory_is_valid_and_well_formed() {
        let shape = DataShape {
            users: 50,
            threads_per_user: 4,
            seed: 9,
        };
        let memories = MemoryGenerator::new(shape).memories(5_000);
        let mut ids = HashSet::new();
        let earliest = BASE_TIME.as_micros() - SPAN_DAYS * 24 * 3600 * 1_000_000;
        for memory in memories {
            let user = memory.user_id.clone();
            let thread = memory.thread_id.clone().expect("every memory has a thread");
            assert!(user.starts_with("user-") && user.len() == 9, "{user}");
            assert!(thread.starts_with(&format!("{user}-thread-")), "{thread}");
            for related in &memory.related_threads {
                assert!(related.starts_with(&format!("{user}-thread-")));
                assert_ne!(related, &thread);
            }
            assert!(memory.related_threads.len() <= 2);
            let chars = memory.content.chars().count();
            assert!(
                (MIN_CONTENT_CHARS..=MAX_CONTENT_CHARS).contains(&chars),
                "{chars} characters: {}",
                memory.content
            );
            let created = memory.created_at.expect("created_at is set").as_micros();
            let updated = memory.updated_at.expect("updated_at is set").as_micros();
            assert!(earliest <= created && created <= updated);
            assert!(updated <= BASE_TIME.as_micros());
            let id = memory.id.expect("the id is set");
            assert!(ids.insert(id), "duplicate id {id}");
            assert_eq!(id.get_version_num(), 7);

            let stored = engram_core::validate::new_memory(memory, Timestamp::now())
                .expect("generated memories are valid");
            assert_eq!(stored.id, id);
            let tags = stored.metadata["tags"].as_array().expect("tags");
            assert!((2..=4).contains(&tags.len()));
            assert!(stored.metadata["importance"]["level"].is_number());
        }
    }

    #[test]
    fn fractions_are_as_documented() {
        let memories = generate(3, 20_000);
        let rare: Value = serde_json::from_str(RARE_FILTER_JSON).expect("rare filter");
        let broad: Value = serde_json::from_str(BROAD_FILTER_JSON).expect("broad filter");
        let share = |filter: &Value| {
            let hits = memories
                .iter()
                .filter(|m| containment::contains(m.metadata.as_ref().expect("metadata"), filter))
                .count();
            hits as f64 / memories.len() as f64
        };
        let tier_share = |tier: &str| {
            memories
                .iter()
                .filter(|m| m.tier.as_deref() == Some(tier))
                .count() as f64
                / memories.len() as f64
        };
        let rare_share = share(&rare);
        let broad_share = share(&broad);
        let nothing: Value = serde_json::from_str(NOTHING_FILTER_JSON).expect("nothing filter");
        assert_eq!(share(&nothing), 0.0);
        let needle: Value = serde_json::from_str(NEEDLE_FILTER_JSON).expect("needle filter");
        // About 0.8 expected in 20,000: at most a few.
        assert!(
            share(&needle) <= NEEDLE_FRACTION * 6.0,
            "needle: {}",
            share(&needle)
        );
        assert!(
            (RARE_FRACTION * 0.4..=RARE_FRACTION * 1.6).contains(&rare_share),
            "rare: {rare_share}"
        );
        assert!(
            (BROAD_FRACTION * 0.9..=BROAD_FRACTION * 1.1).contains(&broad_share),
            "broad: {broad_share}"
        );
        for (tier, expected) in [(SHORT_TERM, 0.5), (MID_TERM, 0.3), (LONG_TERM, 0.2)] {
            let got = tier_share(tier);
            assert!((got - expected).abs() < 0.02, "{tier}: {got}");
        }
        let users: HashSet<_> = memories.iter().map(|m| m.user_id.as_str()).collect();
        assert_eq!(users.len(), DataShape::default().users);
    }
}
