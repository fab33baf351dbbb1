//! Engine adapters: other engines' runs (TRL in a child process, or a run elsewhere
//! followed from its log) turned into this run's `events.jsonl`, so every viewer works
//! unchanged.

pub mod lines;
pub mod stall;
pub mod trl;

pub use lines::{EndLine, EngineLines};
pub use stall::{Stall, StallChange, StallDetector};
