//! Every path of a run, in one place: its folder `runs/<id>/` holds the frozen config,
//! the events, the checkpoints, the final model, and the worker's lock, pid, heartbeat
//! and output logs.

use std::path::{Path, PathBuf};

use crate::jobs::{self, JobError, Liveness};
use crate::train::job::JobPaths;
use crate::workspace::Workspace;
use crate::workspace::layout::{RUNS_DIR, run_files};
use crate::workspace::store::RunRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The folder of run `id` in `ws`.
    pub fn new(ws: &Workspace, id: &str) -> Self {
        Self::at(ws.runs_dir().join(id))
    }

    /// A run folder wherever it is (a run another tool wrote, a test's folder).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder a registry row names: relative to the workspace, or absolute.
    pub fn of_record(ws: &Workspace, record: &RunRecord) -> Self {
        Self::at(ws.root.join(&record.dir))
    }

    /// What the registry's `dir` column holds for run `id`: its folder, relative to
    /// the workspace.
    pub fn registry_dir(id: &str) -> String {
        format!("{RUNS_DIR}/{id}")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The frozen `run.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(run_files::CONFIG)
    }

    /// The append-only `events.jsonl`.
    pub fn events(&self) -> PathBuf {
        self.root.join(run_files::EVENTS)
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(run_files::CHECKPOINTS)
    }

    /// The loadable model a completed run saves.
    pub fn final_model(&self) -> PathBuf {
        self.root.join(run_files::FINAL)
    }

    /// The `flock` the worker holds for its whole life.
    pub fn lock(&self) -> PathBuf {
        self.root.join(jobs::LOCK_FILE)
    }

    /// The pid of the worker that last took the lock.
    pub fn pid(&self) -> PathBuf {
        self.root.join(jobs::PID_FILE)
    }

    pub fn heartbeat(&self) -> PathBuf {
        self.root.join(jobs::HEARTBEAT_FILE)
    }

    /// What a detached worker prints.
    pub fn stdout_log(&self) -> PathBuf {
        self.root.join(jobs::STDOUT_LOG)
    }

    pub fn stderr_log(&self) -> PathBuf {
        self.root.join(jobs::STDERR_LOG)
    }

    /// Whether a worker holds the run's lock.
    pub fn liveness(&self) -> Result<Liveness, JobError> {
        jobs::liveness(&self.root)
    }

    /// Milliseconds since the worker's last heartbeat, if it ever wrote one.
    pub fn heartbeat_age_ms(&self) -> Option<i64> {
        jobs::heartbeat_age_ms(&self.root)
    }

    /// Where a training job inside this run writes.
    pub fn job_paths(&self) -> JobPaths {
        JobPaths {
            dir: self.root.clone(),
            checkpoints: self.checkpoints(),
            final_model: self.final_model(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run folder is a format other tools and older versions read: its names are
    /// spelled out here rather than taken from the constants they test.
    #[test]
    fn a_run_folder_keeps_its_layout() {
        let dir = RunDir::at("/w/runs/sft-1");
        let name = |p: PathBuf| {
            p.strip_prefix("/w/runs/sft-1")
                .unwrap()
                .display()
                .to_string()
        };
        assert_eq!(name(dir.config()), "run.toml");
        assert_eq!(name(dir.events()), "events.jsonl");
        assert_eq!(name(dir.checkpoints()), "checkpoints");
        assert_eq!(name(dir.final_model()), "final");
        assert_eq!(name(dir.lock()), "run.lock");
        assert_eq!(name(dir.pid()), "run.pid");
        assert_eq!(name(dir.heartbeat()), "heartbeat");
        assert_eq!(name(dir.stdout_log()), "stdout.log");
        assert_eq!(name(dir.stderr_log()), "stderr.log");
        assert_eq!(RunDir::registry_dir("sft-1"), "runs/sft-1");
    }
}
