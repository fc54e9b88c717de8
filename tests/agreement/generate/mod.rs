//! Strategies for JSON documents as text, right sides derived from left sides, memories and
//! queries.

mod derive;
mod doc;
mod memories;
mod values;

pub use derive::pair;
pub use doc::{Doc, Escape, Text};
pub use memories::{round_trip_case, store_case, QuerySpec, Row};
pub use values::any_number;
