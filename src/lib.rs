//! engram: long-term memory storage for AI agents.
pub use engram_core::*;
