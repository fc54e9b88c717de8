//! Strategies for JSON documents as text, right sides derived from left sides, memories,
//! queries, and sequences of writes with queries between them.

mod derive;
mod doc;
mod memories;
mod values;
mod writes;

pub use derive::pair;
pub use doc::{Doc, Escape, Text};
pub use memories::{round_trip_case, store_case, QuerySpec, Row};
pub use values::any_number;
pub use writes::{index_case, IndexCase, IndexQuery, Op, ThreadPick, UserPick};
