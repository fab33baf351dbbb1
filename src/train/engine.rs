//! A run trained by another engine rather than by this crate: the `[engine]` section of
//! a run's `run.toml`. Without it a run trains here.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// `trl`: the run's bundle trained by TRL in a child process of the worker.
    pub name: EngineName,
    /// The Python interpreter (frozen at creation so a resume uses the same one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// Extra arguments for the engine's script.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineName {
    Trl,
}
