//! The run: the central object of the workbench, in one place. A run is a folder
//! `runs/<id>/` ([`RunDir`]) with a frozen config, an append-only `events.jsonl`,
//! checkpoints and, once completed, a final model; a row in the workspace's registry;
//! and, while it trains, a detached worker process that holds the run's lock.
//!
//! The CLI (`train ...`, `runs ...`), the TUI and the demo all create, launch, stop,
//! resume and read runs through this module, in process: nothing parses another
//! command's printed output. The worker ([`work`]) is the process side: it holds the
//! lock, beats the heartbeat, records the run as running, resolves the dataset and
//! hands over to `train::sft` or `train::grpo` by [`RunKind`], then records how the
//! run ended. Liveness comes from the lock ([`Liveness`]), never from a pid alone.

pub mod card;
mod config;
mod control;
mod dir;
pub mod engine;
mod id;
pub mod preset;
mod state;
mod summary;
mod worker;

use std::path::PathBuf;

pub use self::config::{
    GrpoRunConfig, LoraSection, RunConfig, SftRunConfig, configured_device, configured_threads,
    read_config, read_toml,
};
pub use self::control::{check_resumable, create, create_from_preset, launch, resume, stop};
pub use self::dir::RunDir;
pub use self::id::{RunId, RunKind};
pub use self::state::{RunState, list_label, state};
pub use self::summary::{LastStep, RunSummary};
pub use self::worker::work;
pub use crate::jobs::{Launcher, Liveness};
pub use crate::train::job::Ending;

use crate::jobs::JobError;
use crate::train::dataset::DatasetError;
use crate::train::grpo::GrpoError;
use crate::train::sft::SftError;
use crate::workspace::WorkspaceError;
use crate::workspace::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Sft(#[from] SftError),
    #[error(transparent)]
    Grpo(#[from] GrpoError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("run {id} is still running{}", pid.map_or(String::new(), |p| format!(" (pid {p})")))]
    StillRunning { id: String, pid: Option<i64> },
    #[error("run {id} is not in the workspace's registry")]
    NotRegistered { id: String, source: StoreError },
    #[error("run {id} already completed; nothing to resume (start a new run to train again)")]
    AlreadyCompleted { id: String },
    #[error("{name:?} is not a run id: {reason}")]
    BadRunName { name: String, reason: String },
    #[error("no run {name} in {}", runs.display())]
    NoSuchRun { name: String, runs: PathBuf },
    #[error("engine: {message}")]
    Engine { message: String },
    #[error("run {id} has no run.toml, so there is nothing to resume")]
    NoConfig { id: String },
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}
