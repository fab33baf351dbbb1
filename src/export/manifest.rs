//! `manifest.json`: what a bundle holds and what it was made from, so a run elsewhere
//! can be traced back to the exact data, template and rewards.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::BundleSpec;
use crate::train::grpo::rewards::RewardWeights;
use crate::train::student::model_dir;
use crate::workspace::Workspace;
use crate::workspace::store::DatasetRecord;

/// Bumped when a file's layout or a column changes meaning.
pub const MANIFEST_SCHEMA: u32 = 1;

/// The engine versions the bundle's scripts were tested with (tests/python-venv.sh
/// installs these).
pub const TESTED_WITH: &[(&str, &str)] = &[
    ("torch", "2.15.0"),
    ("transformers", "5.25.0"),
    ("trl", "1.16.0"),
    ("accelerate", "1.16.0"),
    ("datasets", "5.2.0"),
    ("pyarrow", "26.0.1"),
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub created_by: String,
    pub base_model: String,
    /// sha256 of the base model's chat template (tokenizer_config.json), when the model
    /// directory exists: a different template means different prompts.
    pub chat_template_sha256: Option<String>,
    pub dataset: DatasetFacts,
    /// sha256 of each data file as written.
    pub files: std::collections::BTreeMap<String, String>,
    pub reward_weights: RewardWeights,
    pub max_new_tokens: usize,
    pub tested_with: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetFacts {
    pub name: String,
    pub kind: String,
    pub content_hash: String,
    pub examples: u64,
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn chat_template_hash(ws: &Workspace, model: &str) -> Option<String> {
    let path = model_dir(ws, model).join("tokenizer_config.json");
    let text = std::fs::read_to_string(path).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let template = config.get("chat_template")?;
    let text = match template {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(sha256(text.as_bytes()))
}

impl Manifest {
    pub fn new(
        ws: &Workspace,
        spec: &BundleSpec,
        record: &DatasetRecord,
        data_files: &[(&str, Vec<u8>)],
    ) -> Self {
        Self {
            schema_version: MANIFEST_SCHEMA,
            created_by: format!("plantune-tui {}", env!("CARGO_PKG_VERSION")),
            base_model: spec.model.clone(),
            chat_template_sha256: chat_template_hash(ws, &spec.model),
            dataset: DatasetFacts {
                name: record.name.clone(),
                kind: record.kind.clone(),
                content_hash: record.content_hash.clone(),
                examples: record.n_examples,
            },
            files: data_files
                .iter()
                .map(|(name, bytes)| ((*name).to_owned(), sha256(bytes)))
                .collect(),
            reward_weights: spec.weights.clone(),
            max_new_tokens: spec.max_new_tokens,
            tested_with: TESTED_WITH
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}
