//! Export bundles: everything another training engine needs to train on a workspace's
//! data, in one self-contained folder — TRL (with accelerate, DeepSpeed or FSDP) on one
//! GPU, several, or several nodes, and verl on Ray. Curation, datasets, rewards and the
//! comparison of results stay here; the bundle carries the data, a standard-library
//! Python mirror of our rewards checked against fixtures our own reward code scored, the
//! launch scripts, and a manifest that pins what was exported.
//!
//! The Python and shell files live beside this module (`python/`) and are embedded, so
//! the bundle a binary writes is the one its tests ran.

mod data;
pub mod fixtures;
mod manifest;

use std::path::{Path, PathBuf};

use crate::train::dataset::{self, DatasetError};
use crate::train::grpo::rewards::RewardWeights;
use crate::workspace::Workspace;
use crate::workspace::fsutil::atomic_write;
use crate::workspace::store::StoreError;

pub use data::{GrpoRow, grpo_rows, sft_rows};
pub use manifest::{MANIFEST_SCHEMA, Manifest, TESTED_WITH};

/// The bundle's files that are the same for every export, (path, content, executable).
const STATIC_FILES: &[(&str, &str, bool)] = &[
    ("rewards.py", include_str!("python/rewards.py"), true),
    ("train_trl.py", include_str!("python/train_trl.py"), true),
    ("launch_trl.sh", include_str!("python/launch_trl.sh"), true),
    (
        "accelerate/one_gpu.yaml",
        include_str!("python/accelerate/one_gpu.yaml"),
        false,
    ),
    (
        "accelerate/multi_gpu.yaml",
        include_str!("python/accelerate/multi_gpu.yaml"),
        false,
    ),
    (
        "accelerate/zero2.yaml",
        include_str!("python/accelerate/zero2.yaml"),
        false,
    ),
    (
        "accelerate/zero3.yaml",
        include_str!("python/accelerate/zero3.yaml"),
        false,
    ),
    (
        "accelerate/multi_node.yaml",
        include_str!("python/accelerate/multi_node.yaml"),
        false,
    ),
    (
        "verl/to_parquet.py",
        include_str!("python/verl/to_parquet.py"),
        true,
    ),
    (
        "verl/run_verl_grpo.sh",
        include_str!("python/verl/run_verl_grpo.sh"),
        true,
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workspace(#[from] crate::workspace::WorkspaceError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding JSON: {0}")]
    Json(String),
    #[error("scoring the reward fixtures: {0}")]
    Reward(String),
    #[error("dataset {name}: no example has an assistant completion to train on")]
    NoCompletions { name: String },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSpec {
    /// `baseline`, `plan1`, `plan2` or a dataset hash (as a run's `dataset`).
    pub dataset: String,
    /// The base model: a directory (relative to the workspace or absolute) or `tiny`.
    pub model: String,
    pub weights: RewardWeights,
    /// GRPO's completion budget, for the length penalty.
    pub max_new_tokens: usize,
}

/// A written bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Where `dataset bundle` puts a dataset's bundle: `exports/bundle-<name>`.
pub fn default_dir(ws: &Workspace, dataset_name: &str) -> PathBuf {
    ws.exports_dir().join(format!("bundle-{dataset_name}"))
}

/// Writes the bundle for `spec` into `out` (replacing an older one there). The files
/// are written into a sibling temp folder first and renamed into place, so a failed
/// export leaves the previous bundle whole.
pub fn write_bundle(ws: &Workspace, spec: &BundleSpec, out: &Path) -> Result<Bundle, ExportError> {
    let record = dataset::resolve(ws, &spec.dataset)?;
    let examples = dataset::load(ws, &record.path)?;
    let sft = sft_rows(&examples);
    if sft.is_empty() {
        return Err(ExportError::NoCompletions {
            name: record.name.clone(),
        });
    }
    let grpo = grpo_rows(&ws.store()?, &examples)?;
    let messages: Vec<_> = examples
        .iter()
        .map(|e| data::MessagesRow {
            messages: &e.messages,
        })
        .collect();
    let parent = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".bundle-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let put = |rel: &str, bytes: &[u8]| -> Result<(), ExportError> {
        let path = tmp.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        atomic_write(&path, bytes).map_err(io(&path))
    };
    let files = [
        ("sft.jsonl", data::jsonl(&sft)?),
        ("sft.messages.jsonl", data::jsonl(&messages)?),
        ("grpo.jsonl", data::jsonl(&grpo)?),
    ];
    for (rel, bytes) in &files {
        put(rel, bytes)?;
    }
    for (rel, text, executable) in STATIC_FILES {
        put(rel, text.as_bytes())?;
        if *executable {
            make_executable(&tmp.path().join(rel))?;
        }
    }
    put("reward_weights.json", pretty(&spec.weights)?.as_bytes())?;
    put(
        "fixtures.json",
        pretty(&fixtures::build(&grpo)?)?.as_bytes(),
    )?;
    let manifest = Manifest::new(ws, spec, &record, &files);
    put("manifest.json", pretty(&manifest)?.as_bytes())?;
    replace_dir(tmp, out)?;
    Ok(Bundle {
        dir: out.to_path_buf(),
        manifest,
    })
}

fn pretty<T: serde::Serialize>(value: &T) -> Result<String, ExportError> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| ExportError::Json(e.to_string()))
}

fn make_executable(path: &Path) -> Result<(), ExportError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io(path))
}

/// Swaps the finished temp folder in for `out`; the old bundle is removed only once the
/// new one is complete.
fn replace_dir(tmp: tempfile::TempDir, out: &Path) -> Result<(), ExportError> {
    let staged = tmp.keep();
    if out.exists() {
        let old = out.with_extension("old");
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(out, &old).map_err(io(out))?;
        std::fs::rename(&staged, out).map_err(io(out))?;
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        std::fs::rename(&staged, out).map_err(io(out))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
