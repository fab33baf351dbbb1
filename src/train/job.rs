//! What an SFT run and a GRPO run share once the run machinery (`runs/`) has handed
//! them a config and a dataset: where their checkpoints and final model go, how they
//! end, the errors of getting ready, the `run_started` event, and saving what was
//! learned. Neither kind of run imports the other; both import this.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::checkpoint::{self, CheckpointError};
use super::dataset::DatasetError;
use super::student::{Student, StudentError};
use crate::runlog::{EventWriter, RunEvent};
use crate::telemetry::Sampler;
use crate::workspace::WorkspaceError;
use crate::workspace::store::StoreError;

/// How a training job ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ending {
    Completed,
    Stopped,
}

/// The places a training job writes to, inside its run's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPaths {
    /// The run's folder, named in errors.
    pub dir: PathBuf,
    pub checkpoints: PathBuf,
    /// Where a completed job saves a loadable model.
    pub final_model: PathBuf,
}

/// Getting a job ready: its student, its data, its settings.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Student(#[from] StudentError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("examples longer than max_len {max_len} tokens: {ids} (raise max_len or shorten them)")]
    TooLong { max_len: usize, ids: String },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrepareError + '_ {
    move |source| PrepareError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses the job when any example (by id) is longer than `max_len` tokens, naming
/// the first few.
pub fn check_lengths<'a>(
    lengths: impl Iterator<Item = (&'a str, usize)>,
    max_len: usize,
) -> Result<(), PrepareError> {
    let too_long: Vec<&str> = lengths
        .filter(|(_, len)| *len > max_len)
        .map(|(id, _)| id)
        .collect();
    if too_long.is_empty() {
        return Ok(());
    }
    Err(PrepareError::TooLong {
        max_len,
        ids: format!(
            "{} ({} in all)",
            too_long[..too_long.len().min(5)].join(", "),
            too_long.len()
        ),
    })
}

/// The newest checkpoint, which a job continues from.
pub fn latest_checkpoint(paths: &JobPaths) -> Result<Option<PathBuf>, CheckpointError> {
    Ok(checkpoint::list(&paths.checkpoints)?.pop().map(|(_, p)| p))
}

/// Writes `run_started` (the frozen config, device and parameter counts), then starts
/// sampling the process's device statistics into the same events file until the
/// returned sampler is dropped.
pub fn announce<C: Serialize>(
    events: &mut EventWriter,
    paths: &JobPaths,
    config: &C,
    student: &Student,
) -> Result<Option<Sampler>, PrepareError> {
    let (device, parameters, trainable) = student.describe();
    events
        .write(RunEvent::RunStarted {
            config: serde_json::to_value(config).unwrap_or_default(),
            device,
            parameters,
            trainable_parameters: trainable,
        })
        .map_err(io(&paths.dir))?;
    Ok(Sampler::start(events.path()).ok())
}

/// Saves what a completed job learned as a loadable model directory.
pub fn save_final(
    student: &Student,
    paths: &JobPaths,
    events: &mut EventWriter,
) -> Result<(), PrepareError> {
    let out = &paths.final_model;
    student.save(out)?;
    events
        .write(RunEvent::Log {
            level: "info".into(),
            message: format!("final model saved to {}", out.display()),
        })
        .map_err(io(&paths.dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_names_the_first_five_and_counts_all() {
        let ids: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
        let lengths = ids.iter().map(|id| (id.as_str(), 10));
        let err = check_lengths(lengths, 9).unwrap_err().to_string();
        assert_eq!(
            err,
            "examples longer than max_len 9 tokens: p0, p1, p2, p3, p4 (7 in all) \
             (raise max_len or shorten them)"
        );
        assert!(check_lengths(ids.iter().map(|id| (id.as_str(), 9)), 9).is_ok());
    }
}
