//! Which seed a row of the demo report is about: one training seed, or every seed's
//! answers together.

use serde::Serialize;

/// One seed's figures, or all seeds' answers together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SeedLabel {
    Seed(u32),
    Pooled(&'static str),
}

pub const POOLED: SeedLabel = SeedLabel::Pooled("pooled");
