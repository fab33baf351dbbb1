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

/// The seed number, or "pooled": how the report's tables label a row.
impl std::fmt::Display for SeedLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Seed(seed) => write!(f, "{seed}"),
            Self::Pooled(label) => f.write_str(label),
        }
    }
}
