//! An SFT run's frozen `run.toml`: what to train, on what, and how.

use serde::{Deserialize, Serialize};

use super::SftConfig;
use crate::device::DeviceSpec;
use crate::train::precision::Precision;
use crate::train::student::LoraSection;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SftRunConfig {
    /// A model directory (relative to the workspace or absolute) or `tiny`.
    pub model: String,
    /// `baseline`, `plan1`, `plan2`, or a dataset hash (prefix).
    pub dataset: String,
    /// Fraction of examples held out for the eval loss.
    pub eval_fraction: f64,
    /// Examples longer than this many tokens are an error before the run starts.
    pub max_len: usize,
    pub threads: usize,
    /// `f32`, or `bf16` (weights and activations, with f32 masters and optimiser state).
    pub precision: Precision,
    /// `cpu` or `cuda:N`; `--device` when the run was created. A resumed run keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceSpec>,
    pub lora: LoraSection,
    pub sft: SftConfig,
    /// `keep` (default) or `recompute`: each decoder block's activations recomputed in
    /// the backward, trading compute for memory on long sequences and bigger students.
    #[serde(default, skip_serializing_if = "crate::model::memory::Memory::is_keep")]
    pub memory: crate::model::memory::Memory,
    /// Trained by another engine (TRL) or followed from its log, instead of here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::train::engine::EngineSection>,
}

impl Default for SftRunConfig {
    fn default() -> Self {
        Self {
            model: "tiny".into(),
            dataset: "plan1".into(),
            eval_fraction: 0.05,
            max_len: 1024,
            threads: 0,
            precision: Precision::default(),
            device: None,
            lora: LoraSection::default(),
            sft: SftConfig::default(),
            memory: Default::default(),
            engine: None,
        }
    }
}
