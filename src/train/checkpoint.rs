//! Checkpoints: trainable weights, optimiser moments, step and data cursor, written so
//! that a crash (even `kill -9`) mid-write leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::batch::DataCursor;
use super::optim::{AdamW, NamedVar};

const WEIGHTS: &str = "trainable.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimiser steps completed.
    pub step: u64,
    pub cursor: DataCursor,
    pub dataset_hash: Option<String>,
    pub created_ms: i64,
    /// Optimiser steps when they differ from `step` (GRPO takes several per step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer_steps: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Tensor {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error("{}: {source}", path.display())]
    State {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: checkpoint has no tensor for parameter {name}", path.display())]
    Missing { path: PathBuf, name: String },
    #[error(
        "{}: out of space writing the checkpoint ({source}); the previous checkpoint is \
         intact and the partial one was removed: free space (or lower keep_checkpoints), \
         then resume the run",
        path.display()
    )]
    NoSpace {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CheckpointError {
    /// Reclassifies a failed write as [`CheckpointError::NoSpace`] when the filesystem
    /// (or the file size limit) refused it, so the message says what to do.
    fn or_no_space(self) -> Self {
        let kind = match &self {
            Self::Io { source, .. } => Some(source.kind()),
            Self::Tensor { source, .. } => candle_io_kind(source),
            _ => None,
        };
        if !matches!(
            kind,
            Some(std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge)
        ) {
            return self;
        }
        match self {
            Self::Io { path, source } => Self::NoSpace { path, source },
            Self::Tensor { path, source } => Self::NoSpace {
                path,
                source: std::io::Error::new(
                    kind.unwrap_or(std::io::ErrorKind::Other),
                    source.to_string(),
                ),
            },
            other => other,
        }
    }
}

/// The I/O error kind inside a candle error, through the wrappers candle adds.
fn candle_io_kind(error: &candle_core::Error) -> Option<std::io::ErrorKind> {
    use candle_core::Error as E;
    match error {
        E::Io(e) => Some(e.kind()),
        E::SafeTensor(safetensors::SafeTensorError::IoError(e)) => Some(e.kind()),
        E::Context { inner, .. } | E::WithPath { inner, .. } | E::WithBacktrace { inner, .. } => {
            candle_io_kind(inner)
        }
        _ => None,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn tensor_err(path: &Path) -> impl FnOnce(candle_core::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Tensor {
        path: path.to_path_buf(),
        source,
    }
}

fn fsync(path: &Path) -> Result<(), CheckpointError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))
}

pub fn step_dir(root: &Path, step: u64) -> PathBuf {
    root.join(format!("step-{step}"))
}

/// Writes `step-N` atomically: everything goes into a hidden temp directory which is
/// renamed into place only after every file is synced. Keeps the newest `keep`.
/// A failed write (a full disk, typically) removes the partial temp directory, so
/// the space it took is given back and the previous checkpoint stays the newest.
pub fn save(
    root: &Path,
    optimizer: &AdamW,
    state: &CheckpointState,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(root)
        .map_err(io(root))
        .map_err(CheckpointError::or_no_space)?;
    let tmp = root.join(format!(".step-{}.tmp", state.step));
    let written = write_files(&tmp, optimizer.params(), optimizer, state);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.or_no_space());
    }
    let dest = step_dir(root, state.step);
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    fsync(root)?;
    prune(root, keep)?;
    Ok(dest)
}

fn write_files(
    tmp: &Path,
    params: &[NamedVar],
    optimizer: &AdamW,
    state: &CheckpointState,
) -> Result<(), CheckpointError> {
    if tmp.exists() {
        std::fs::remove_dir_all(tmp).map_err(io(tmp))?;
    }
    std::fs::create_dir_all(tmp).map_err(io(tmp))?;
    let weights: HashMap<String, Tensor> = params
        .iter()
        .map(|p| (p.name.clone(), p.value().clone()))
        .collect();
    let weights_path = tmp.join(WEIGHTS);
    candle_core::safetensors::save(&weights, &weights_path).map_err(tensor_err(&weights_path))?;
    let optimizer_path = tmp.join(OPTIMIZER);
    candle_core::safetensors::save(&optimizer.state(), &optimizer_path)
        .map_err(tensor_err(&optimizer_path))?;
    let state_path = tmp.join(STATE);
    let text = serde_json::to_vec_pretty(state).map_err(|source| CheckpointError::State {
        path: state_path.clone(),
        source,
    })?;
    std::fs::write(&state_path, text).map_err(io(&state_path))?;
    for file in [&weights_path, &optimizer_path, &state_path] {
        fsync(file)?;
    }
    Ok(())
}

/// Completed checkpoints, oldest first. Temp directories of interrupted saves are not
/// checkpoints.
pub fn list(root: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: root.to_path_buf(),
                source,
            });
        }
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path().join(STATE).is_file().then(|| (step, e.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

fn prune(root: &Path, keep: usize) -> Result<(), CheckpointError> {
    let all = list(root)?;
    let excess = all.len().saturating_sub(keep.max(1));
    for (_, path) in all.into_iter().take(excess) {
        std::fs::remove_dir_all(&path).map_err(io(&path))?;
    }
    Ok(())
}

/// Loads a checkpoint into the optimiser's parameters and state; returns its state.
pub fn load(
    dir: &Path,
    optimizer: &mut AdamW,
    device: &Device,
) -> Result<CheckpointState, CheckpointError> {
    let state_path = dir.join(STATE);
    let text = std::fs::read(&state_path).map_err(io(&state_path))?;
    let state: CheckpointState =
        serde_json::from_slice(&text).map_err(|source| CheckpointError::State {
            path: state_path.clone(),
            source,
        })?;
    let weights_path = dir.join(WEIGHTS);
    let weights =
        candle_core::safetensors::load(&weights_path, device).map_err(tensor_err(&weights_path))?;
    for p in optimizer.params() {
        let tensor = weights
            .get(&p.name)
            .ok_or_else(|| CheckpointError::Missing {
                path: weights_path.clone(),
                name: p.name.clone(),
            })?;
        p.set_value(tensor).map_err(tensor_err(&weights_path))?;
    }
    let optimizer_path = dir.join(OPTIMIZER);
    let moments = candle_core::safetensors::load(&optimizer_path, device)
        .map_err(tensor_err(&optimizer_path))?;
    optimizer
        .load_state(&moments, state.optimizer_steps.unwrap_or(state.step))
        .map_err(tensor_err(&optimizer_path))?;
    Ok(state)
}
