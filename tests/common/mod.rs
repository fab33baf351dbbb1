//! Helpers shared by the test binaries; each binary uses a different subset.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

pub mod model;
pub mod smollm2;
pub mod teacher;
pub mod tui;
