//! Creating a run, launching its worker, stopping it, and the rules for resuming it:
//! the same calls for the CLI, the TUI and the demo.

use std::time::Duration;

use super::preset::Preset;
use super::{Launcher, Liveness, RunConfig, RunDir, RunError, RunId, RunSummary, io};
use crate::jobs;
use crate::workspace::Workspace;
use crate::workspace::fsutil::atomic_write;
use crate::workspace::store::{RunRecord, StoreError, now_ms};

/// How long [`launch`] waits for the worker to take the run's lock.
const START_WAIT: Duration = Duration::from_secs(10);

/// Creates a run: its folder with the frozen `run.toml`, and its registry row
/// (`created`). Nothing starts until [`launch`] or [`super::work`].
pub fn create(ws: &Workspace, config: &RunConfig) -> Result<RunId, RunError> {
    let kind = config.kind();
    let id = RunId::new(kind);
    let dir = RunDir::new(ws, id.as_str());
    std::fs::create_dir_all(dir.root()).map_err(io(dir.root()))?;
    let path = dir.config();
    let frozen = toml::to_string_pretty(config).map_err(|e| RunError::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    atomic_write(&path, frozen.as_bytes()).map_err(io(&path))?;
    ws.store()?.upsert_run(&RunRecord {
        id: id.to_string(),
        kind: kind.name().into(),
        status: "created".into(),
        pid: None,
        dir: RunDir::registry_dir(id.as_str()),
        dataset_hash: None,
        config: serde_json::to_value(config).unwrap_or_default(),
        created_ms: now_ms(),
        updated_ms: now_ms(),
    })?;
    Ok(id)
}

/// Creates a run from a preset file, validated exactly as `train --config` reads it;
/// the selected device (`--device`) wins over the file's.
pub fn create_from_preset(ws: &Workspace, preset: &Preset) -> Result<RunId, RunError> {
    let mut config = RunConfig::read(&preset.path, preset.kind)?;
    config.prefer_selected_device();
    create(ws, &config)
}

/// Starts (or restarts: the worker continues from the newest checkpoint) a created
/// run's worker detached, `plantune-tui --workspace WS train worker ID` in its own
/// session, so closing the terminal, the TUI or the SSH connection does not stop it.
/// Returns the worker's pid once it holds the run's lock (or has already ended).
pub fn launch(ws: &Workspace, id: &str, launcher: &Launcher) -> Result<u32, RunError> {
    RunId::existing(ws, id)?;
    let dir = RunDir::new(ws, id);
    if !dir.config().is_file() {
        return Err(RunError::NoConfig { id: id.to_owned() });
    }
    let mut command = launcher.command(&ws.root, &["train", "worker", id])?;
    let pid = jobs::spawn_detached(&mut command, dir.root())?;
    jobs::wait_for_start(dir.root(), pid, START_WAIT)?;
    Ok(pid)
}

/// Asks a running run to stop: SIGTERM to the process holding its lock, which then
/// finishes its step, checkpoints and ends `stopped`. Returns that process's pid.
pub fn stop(ws: &Workspace, id: &str) -> Result<i64, RunError> {
    RunId::existing(ws, id)?;
    Ok(jobs::request_stop(RunDir::new(ws, id).root())?)
}

/// How long a worker that has written its `run_finished` may take to let go of the lock
/// (closing files, an engine child reaped) before a resume calls it still running.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// The run's liveness, except that a worker whose latest start has already ended is
/// given [`EXIT_GRACE`] to exit: `runs resume` typed the moment a stop lands should
/// resume, not fail.
fn liveness_after_ending(dir: &RunDir) -> Result<Liveness, RunError> {
    let deadline = std::time::Instant::now() + EXIT_GRACE;
    loop {
        let liveness = dir.liveness()?;
        let ended =
            || RunSummary::read(&dir.events()).is_ok_and(|summary| summary.finished.is_some());
        if !matches!(liveness, Liveness::Alive { .. })
            || std::time::Instant::now() >= deadline
            || !ended()
        {
            return Ok(liveness);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether run `id` may be resumed: not running, registered, not completed, and with
/// the frozen config a worker needs.
pub fn check_resumable(ws: &Workspace, id: &str) -> Result<(), RunError> {
    RunId::existing(ws, id)?;
    let dir = RunDir::new(ws, id);
    if let Liveness::Alive { pid } = liveness_after_ending(&dir)? {
        return Err(RunError::StillRunning {
            id: id.to_owned(),
            pid,
        });
    }
    let record = ws
        .store()?
        .run(id)
        .map_err(|source: StoreError| RunError::NotRegistered {
            id: id.to_owned(),
            source,
        })?;
    if record.status == "completed" {
        return Err(RunError::AlreadyCompleted { id: id.to_owned() });
    }
    if !dir.config().is_file() {
        return Err(RunError::NoConfig { id: id.to_owned() });
    }
    Ok(())
}

/// Launches the worker of a run that [`check_resumable`] allows; it continues from
/// the run's newest checkpoint, or from the start when it has none.
pub fn resume(ws: &Workspace, id: &str, launcher: &Launcher) -> Result<u32, RunError> {
    check_resumable(ws, id)?;
    launch(ws, id, launcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Paths;
    use crate::jobs::RunLock;
    use crate::runs::SftRunConfig;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_dir: tmp.path().join("config"),
            data_dir: tmp.path().join("data"),
            cache_dir: tmp.path().join("cache"),
        };
        let ws = Workspace::init(&tmp.path().join("ws"), &paths).unwrap();
        (tmp, ws)
    }

    #[test]
    fn a_created_run_has_its_frozen_config_and_registry_row() {
        let (_tmp, ws) = workspace();
        let config = SftRunConfig {
            dataset: "baseline".into(),
            ..SftRunConfig::default()
        };
        let id = create(&ws, &RunConfig::Sft(config.clone())).unwrap();
        let dir = RunDir::new(&ws, id.as_str());
        let frozen: SftRunConfig = crate::runs::read_toml(&dir.config()).unwrap();
        assert_eq!(frozen, config);
        let record = ws.store().unwrap().run(id.as_str()).unwrap();
        assert_eq!(
            (record.kind.as_str(), record.status.as_str()),
            ("sft", "created")
        );
        assert_eq!(record.dir, format!("runs/{id}"));
    }

    #[test]
    fn resume_refuses_running_unregistered_completed_and_configless_runs() {
        let (_tmp, ws) = workspace();
        let id = create(&ws, &RunConfig::Sft(SftRunConfig::default())).unwrap();
        let id = id.as_str();
        let dir = RunDir::new(&ws, id);
        check_resumable(&ws, id).unwrap();

        let lock = RunLock::acquire(dir.root()).unwrap();
        let err = check_resumable(&ws, id).unwrap_err().to_string();
        let me = std::process::id();
        assert_eq!(err, format!("run {id} is still running (pid {me})"));
        drop(lock);

        std::fs::remove_file(dir.config()).unwrap();
        let err = check_resumable(&ws, id).unwrap_err().to_string();
        assert!(err.contains("has no run.toml"), "{err}");
        std::fs::write(dir.config(), "").unwrap();

        ws.store().unwrap().set_run_status(id, "completed").unwrap();
        let err = check_resumable(&ws, id).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("run {id} already completed")),
            "{err}"
        );

        let dead = ws.runs_dir().join("sft-0-dead");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join("run.toml"), "").unwrap();
        let err = check_resumable(&ws, "sft-0-dead").unwrap_err();
        assert_eq!(
            format!("{:#}", anyhow::Error::from(err)),
            "run sft-0-dead is not in the workspace's registry: no run with id sft-0-dead"
        );
    }

    #[test]
    fn a_resume_waits_for_a_worker_that_has_ended_to_let_go_of_the_lock() {
        use crate::runlog::{EventWriter, RunEvent, RunStatus};
        let (_tmp, ws) = workspace();
        let id = create(&ws, &RunConfig::Sft(SftRunConfig::default())).unwrap();
        let id = id.as_str();
        let dir = RunDir::new(&ws, id);
        let lock = RunLock::acquire(dir.root()).unwrap();
        let err = check_resumable(&ws, id).unwrap_err().to_string();
        assert!(
            err.contains("still running"),
            "not ended: refused at once: {err}"
        );

        EventWriter::open(&dir.events())
            .unwrap()
            .write(RunEvent::RunFinished {
                status: RunStatus::Stopped,
                error: None,
            })
            .unwrap();
        let exiting = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(lock);
        });
        check_resumable(&ws, id).unwrap();
        exiting.join().unwrap();
    }
}
