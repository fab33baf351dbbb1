//! Which run serves which demo stage (`demo-pipeline/pipeline.json`), so a second
//! `demo` resumes or reuses its runs instead of training again, and the report finds
//! them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::student::DemoStudent;
use crate::runs::{self, RunDir, RunError};
use crate::workspace::Workspace;
use crate::workspace::fsutil::atomic_write;

/// The stage → run id map and the student this workspace's demo trains.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PipelineState {
    /// Absent in workspaces made before the demo could train another student.
    #[serde(default)]
    pub student: DemoStudent,
    pub runs: BTreeMap<String, String>,
}

const STATE_FILE: &str = "pipeline.json";

/// Where the demo pipeline keeps its lock, its state and (detached) its logs.
pub fn pipeline_dir(ws: &Workspace) -> std::path::PathBuf {
    ws.root.join("demo-pipeline")
}

impl PipelineState {
    pub fn load(ws: &Workspace) -> Result<Self, anyhow::Error> {
        let path = pipeline_dir(ws).join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    pub fn save(&self, ws: &Workspace) -> Result<(), anyhow::Error> {
        let dir = pipeline_dir(ws);
        std::fs::create_dir_all(&dir)?;
        atomic_write(&dir.join(STATE_FILE), &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// The run of `stage`, created by `create` the first time.
    pub fn run_for(
        &mut self,
        ws: &Workspace,
        stage: &str,
        create: impl FnOnce() -> Result<runs::RunId, RunError>,
    ) -> Result<String, anyhow::Error> {
        if let Some(id) = self.runs.get(stage)
            && RunDir::new(ws, id).config().exists()
        {
            return Ok(id.clone());
        }
        let id = String::from(create()?);
        self.runs.insert(stage.to_owned(), id.clone());
        self.save(ws)?;
        Ok(id)
    }
}

/// The run the demo recorded for `stage` (a student's model name, e.g.
/// `plan-tuned+grpo@seed2`), as `demo-pipeline/pipeline.json` has it.
pub fn recorded_run(ws: &Workspace, stage: &str) -> Result<String, anyhow::Error> {
    PipelineState::load(ws)?
        .runs
        .get(stage)
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no run recorded for {stage}",
                pipeline_dir(ws).join(STATE_FILE).display()
            )
        })
}
