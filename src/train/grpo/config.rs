//! A GRPO run's frozen `run.toml`: the starting policy, the prompts' dataset, and how.

use serde::{Deserialize, Serialize};

use super::GrpoConfig;
use crate::device::DeviceSpec;
use crate::train::precision::Precision;
use crate::train::student::LoraSection;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpoRunConfig {
    /// The starting policy: a model directory (relative to the workspace or absolute),
    /// usually an SFT run's `final`, or `tiny`. It is also the frozen reference.
    pub model: String,
    /// The dataset whose problems give the prompts (`plan1`, `baseline`, or a hash).
    pub dataset: String,
    /// Prompts longer than this many tokens are an error before the run starts.
    pub max_prompt_len: usize,
    pub threads: usize,
    /// As in SFT runs: `f32` or `bf16`; the reference model computes in it too.
    pub precision: Precision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceSpec>,
    pub lora: LoraSection,
    pub grpo: GrpoConfig,
    /// Trained by another engine (TRL) or followed from its log, instead of here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::train::engine::EngineSection>,
}

impl Default for GrpoRunConfig {
    fn default() -> Self {
        Self {
            model: "tiny".into(),
            dataset: "plan1".into(),
            max_prompt_len: 1024,
            threads: 0,
            precision: Precision::default(),
            device: None,
            lora: LoraSection::default(),
            grpo: GrpoConfig::default(),
            engine: None,
        }
    }
}
