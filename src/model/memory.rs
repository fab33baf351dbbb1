//! How a training step holds activations (`memory` in a run's config).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Memory {
    /// Every block's activations stay until the backward: fastest.
    #[default]
    Keep,
    /// Only each block's input stays; the backward recomputes the block's forward
    /// (about one more forward pass of compute) for long sequences and bigger
    /// students.
    Recompute,
}

impl Memory {
    /// The default, which a saved config leaves out.
    pub fn is_keep(&self) -> bool {
        *self == Memory::Keep
    }
}
