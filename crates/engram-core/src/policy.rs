//! Tier policies: when memories move to the next tier and how long their content may be.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What happens to one tier's memories when policies run.
///
/// ```
/// use std::time::Duration;
/// use engram_core::TierPolicy;
/// let policy = TierPolicy::new("short_term")
///     .expire_after(Duration::from_secs(86_400), "mid_term")
///     .max_content_chars(2_000);
/// assert_eq!(policy.next_tier.as_deref(), Some("mid_term"));
/// let retention: TierPolicy = serde_json::from_str(
///     r#"{"tier": "long_term", "delete_after_secs": 7776000, "delete_by": "created_at"}"#,
/// ).unwrap();
/// assert_eq!(retention.delete_after, Some(Duration::from_secs(90 * 86_400)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierPolicy {
    /// The tier this policy is for.
    pub tier: String,
    /// Memories not updated for this long move to `next_tier`.
    #[serde(default, rename = "expire_after_secs", with = "seconds")]
    pub expire_after: Option<Duration>,
    /// Where expired memories go.
    #[serde(default)]
    pub next_tier: Option<String>,
    /// Content longer than this many characters is cut to it.
    #[serde(default)]
    pub max_content_chars: Option<u32>,
    /// Memories older than this (by [`TierPolicy::delete_by`]) are deleted: retention.
    #[serde(default, rename = "delete_after_secs", with = "seconds")]
    pub delete_after: Option<Duration>,
    /// Which age retention goes by: `created_at` or `updated_at` (the default).
    #[serde(default)]
    pub delete_by: AgeOf,
}

/// Which timestamp a memory's age is measured from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgeOf {
    /// Since it was stored.
    #[serde(rename = "created_at")]
    Created,
    /// Since it last changed (the default).
    #[default]
    #[serde(rename = "updated_at")]
    Updated,
}

impl TierPolicy {
    /// A policy for `tier` that does nothing yet.
    pub fn new(tier: impl Into<String>) -> Self {
        TierPolicy {
            tier: tier.into(),
            expire_after: None,
            next_tier: None,
            max_content_chars: None,
            delete_after: None,
            delete_by: AgeOf::Updated,
        }
    }

    /// Moves memories not updated for `age` to `next_tier`.
    pub fn expire_after(mut self, age: Duration, next_tier: impl Into<String>) -> Self {
        self.expire_after = Some(age);
        self.next_tier = Some(next_tier.into());
        self
    }

    /// Trims content to `chars` characters.
    pub fn max_content_chars(mut self, chars: u32) -> Self {
        self.max_content_chars = Some(chars);
        self
    }

    /// Deletes memories whose `by` timestamp is older than `age`.
    pub fn delete_after(mut self, age: Duration, by: AgeOf) -> Self {
        self.delete_after = Some(age);
        self.delete_by = by;
        self
    }
}

/// What one policy step did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum PolicyAction {
    /// Expired memories moved from `tier` to `to`.
    Moved {
        /// The tier they went to.
        to: String,
    },
    /// Content was trimmed to `max_chars`.
    Trimmed {
        /// The limit applied.
        max_chars: u32,
    },
    /// Memories past their retention were deleted.
    Deleted {
        /// The age they were judged by.
        by: AgeOf,
    },
}

/// One set-based statement of a policy run and how many rows it touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStep {
    /// The tier the step worked on.
    pub tier: String,
    /// What it did.
    #[serde(flatten)]
    pub action: PolicyAction,
    /// Rows changed.
    pub rows: u64,
}

/// The result of running policies: one entry per statement, in the order they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// The steps, in order.
    pub steps: Vec<PolicyStep>,
}

impl PolicyReport {
    /// Rows touched by all steps.
    pub fn total_rows(&self) -> u64 {
        self.steps.iter().map(|s| s.rows).sum()
    }
}

/// One set-based statement of a policy run, as both backends execute it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyStatement {
    /// Delete `tier`'s memories whose `by` timestamp is before `cutoff` (expired or not).
    Delete {
        /// The tier whose old memories go.
        tier: String,
        /// The timestamp judged.
        by: AgeOf,
        /// Memories older than this are deleted.
        cutoff: Timestamp,
    },
    /// Move `tier`'s memories with `updated_at < cutoff` to `to`.
    Move {
        /// The tier expired memories leave.
        tier: String,
        /// The tier they go to.
        to: String,
        /// Memories not updated since this time have expired.
        cutoff: Timestamp,
    },
    /// Cut the content of `tier`'s memories to `max_chars` characters.
    Trim {
        /// The tier whose content is trimmed.
        tier: String,
        /// The limit, in characters.
        max_chars: u32,
    },
}

impl PolicyStatement {
    /// The statements a run of `policies` as of `now` executes, in order: for each policy,
    /// the retention delete (if it has one), the move (if it has an expiry), then the trim
    /// (if it has a limit). Moves and trims touch live memories only.
    pub fn plan(policies: &[TierPolicy], now: Timestamp) -> Vec<PolicyStatement> {
        let mut statements = Vec::new();
        for policy in policies {
            if let Some(age) = policy.delete_after {
                statements.push(PolicyStatement::Delete {
                    tier: policy.tier.clone(),
                    by: policy.delete_by,
                    cutoff: now.saturating_sub(age),
                });
            }
            if let (Some(age), Some(next)) = (policy.expire_after, &policy.next_tier) {
                statements.push(PolicyStatement::Move {
                    tier: policy.tier.clone(),
                    to: next.clone(),
                    cutoff: now.saturating_sub(age),
                });
            }
            if let Some(max_chars) = policy.max_content_chars {
                statements.push(PolicyStatement::Trim {
                    tier: policy.tier.clone(),
                    max_chars,
                });
            }
        }
        statements
    }

    /// The report entry for this statement having changed `rows` rows.
    pub fn step(&self, rows: u64) -> PolicyStep {
        match self {
            PolicyStatement::Delete { tier, by, .. } => PolicyStep {
                tier: tier.clone(),
                action: PolicyAction::Deleted { by: *by },
                rows,
            },
            PolicyStatement::Move { tier, to, .. } => PolicyStep {
                tier: tier.clone(),
                action: PolicyAction::Moved { to: to.clone() },
                rows,
            },
            PolicyStatement::Trim { tier, max_chars } => PolicyStep {
                tier: tier.clone(),
                action: PolicyAction::Trimmed {
                    max_chars: *max_chars,
                },
                rows,
            },
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_some(&d.as_secs()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_secs))
    }
}
