//! The run as a process: `plantune-tui train sft` creates `runs/<id>/` with a frozen
//! `run.toml`, registers it, and starts a detached worker that holds the run's lock,
//! beats a heartbeat, writes `events.jsonl`, honours SIGTERM with a checkpoint, and
//! resumes from the newest checkpoint when started again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::dataset::{self, DatasetKind};
use super::grpo::run::GrpoRunConfig;
use super::precision::Precision;
use super::sft::{Ending, SftConfig, SftError, SftJob};
use super::student::{Student, StudentError, load_student};
use crate::device::DeviceSpec;
use crate::jobs::{self, Heartbeat, JobError, RunLock, StopFlag};
use crate::runlog::{EventWriter, RunEvent, RunStatus};
use crate::workspace::fsutil::atomic_write;
use crate::workspace::store::{RunRecord, StoreError, now_ms};
use crate::workspace::{Workspace, WorkspaceError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSection {
    /// 0 = full fine-tuning.
    pub rank: usize,
    pub alpha: f64,
    pub targets: Vec<String>,
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            rank: 0,
            alpha: 16.0,
            targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
                .map(String::from)
                .to_vec(),
        }
    }
}

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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Student(#[from] StudentError),
    #[error(transparent)]
    Sft(#[from] SftError),
    #[error(transparent)]
    Grpo(#[from] crate::train::grpo::GrpoError),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn read_config(path: &Path) -> Result<SftRunConfig, RunError> {
    read_toml(path)
}

/// The `threads` setting of any kind of run's `run.toml` (0 = the default pool).
pub fn configured_threads(path: &Path) -> Result<usize, RunError> {
    let table: toml::Table = read_toml(path)?;
    Ok(table
        .get("threads")
        .and_then(toml::Value::as_integer)
        .and_then(|t| usize::try_from(t).ok())
        .unwrap_or(0))
}

/// The `device` setting of any kind of run's `run.toml`.
pub fn configured_device(path: &Path) -> Result<Option<DeviceSpec>, RunError> {
    #[derive(Deserialize)]
    struct DeviceOnly {
        device: Option<DeviceSpec>,
    }
    let only: DeviceOnly = read_toml(path)?;
    Ok(only.device)
}

/// A run's frozen `run.toml`, with errors that name the file, line and field.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    toml::from_str(&text).map_err(|e| RunError::Config {
        path: path.to_path_buf(),
        message: crate::config::toml_error::TomlError::from_de(path, &text, &e).to_string(),
    })
}

fn new_run_id(kind: &str) -> String {
    let ms = now_ms();
    format!("{kind}-{ms}-{:04x}", std::process::id() & 0xffff)
}

/// Creates an SFT run's directory with its frozen config and registers it.
pub fn create(ws: &Workspace, config: &SftRunConfig) -> Result<String, RunError> {
    create_run(ws, "sft", config)
}

/// Creates a GRPO run's directory with its frozen config and registers it.
pub fn create_grpo(ws: &Workspace, config: &GrpoRunConfig) -> Result<String, RunError> {
    create_run(ws, "grpo", config)
}

fn create_run<C: Serialize>(ws: &Workspace, kind: &str, config: &C) -> Result<String, RunError> {
    let id = new_run_id(kind);
    let dir = ws.runs_dir().join(&id);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let frozen = toml::to_string_pretty(config).map_err(|e| RunError::Config {
        path: dir.join("run.toml"),
        message: e.to_string(),
    })?;
    let path = dir.join("run.toml");
    atomic_write(&path, frozen.as_bytes()).map_err(io(&path))?;
    ws.store()?.upsert_run(&RunRecord {
        id: id.clone(),
        kind: kind.into(),
        status: "created".into(),
        pid: None,
        dir: format!("runs/{id}"),
        dataset_hash: None,
        config: serde_json::to_value(config).unwrap_or_default(),
        created_ms: now_ms(),
        updated_ms: now_ms(),
    })?;
    Ok(id)
}

/// Starts the run's worker detached (its own session; closing the terminal does not
/// stop it). Returns the worker's pid.
pub fn launch_detached(ws: &Workspace, id: &str) -> Result<u32, RunError> {
    let exe = std::env::current_exe().map_err(io(Path::new("current executable")))?;
    let mut command = std::process::Command::new(exe);
    command.args([
        "--workspace",
        &ws.root.display().to_string(),
        "train",
        "worker",
        id,
    ]);
    Ok(jobs::spawn_detached(&mut command, &ws.runs_dir().join(id))?)
}

/// The worker: everything a run does, in the process that owns it.
pub fn worker(ws: &Workspace, id: &str, stop: StopFlag) -> Result<Ending, RunError> {
    let dir = ws.runs_dir().join(id);
    let _lock = RunLock::acquire(&dir)?;
    let _beat = Heartbeat::start(&dir, std::time::Duration::from_secs(2));
    let mut events = EventWriter::open(&dir.join("events.jsonl")).map_err(io(&dir))?;
    let mut store = ws.store()?;
    let mut record = store.run(id)?;
    record.status = "running".into();
    record.pid = Some(i64::from(std::process::id()));
    store.upsert_run(&record)?;
    drop(store);

    let result = match record.kind.as_str() {
        "grpo" => crate::train::grpo::run::train_in_worker(ws, id, &dir, &mut events, stop),
        _ => train_in_worker(ws, id, &dir, &mut events, stop),
    };
    let (status, error) = match &result {
        Ok(Ending::Completed) => (RunStatus::Completed, None),
        Ok(Ending::Stopped) => (RunStatus::Stopped, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    // The run's own record of how it ended comes first; the registry follows.
    let _ = events.write(RunEvent::RunFinished { status, error });
    let _ = events.sync();
    let label = match status {
        RunStatus::Completed => "completed",
        RunStatus::Stopped => "stopped",
        RunStatus::Failed => "failed",
    };
    ws.store()?.set_run_status(id, label)?;
    result
}

fn train_in_worker(
    ws: &Workspace,
    id: &str,
    dir: &Path,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, RunError> {
    let config = read_config(&dir.join("run.toml"))?;
    let dataset = resolve_dataset(ws, &config.dataset)?;
    let student = load_student(ws, &config)?;
    let examples = dataset::load(ws, &dataset.path)?;
    let mut tokenized = Vec::with_capacity(examples.len());
    let mut too_long = Vec::new();
    for example in &examples {
        let t = student.encode_example(&example.messages)?;
        if t.len() > config.max_len {
            too_long.push(example.id.clone());
        }
        tokenized.push(t);
    }
    if !too_long.is_empty() {
        let shown: Vec<_> = too_long.iter().take(5).cloned().collect();
        return Err(RunError::TooLong {
            max_len: config.max_len,
            ids: format!("{} ({} in all)", shown.join(", "), too_long.len()),
        });
    }
    // The held-out slice is the dataset's tail: fixed by content, not by chance.
    let eval_len = ((tokenized.len() as f64 * config.eval_fraction).round() as usize)
        .min(tokenized.len().saturating_sub(1));
    let (train, eval) = tokenized.split_at(tokenized.len() - eval_len);
    let (device, parameters, trainable) = student.describe();
    record_dataset_hash(ws, id, &dataset.content_hash)?;
    let resume = checkpoint::list(&dir.join("checkpoints"))?
        .pop()
        .map(|(_, p)| p);
    events
        .write(RunEvent::RunStarted {
            config: serde_json::to_value(&config).unwrap_or_default(),
            device,
            parameters,
            trainable_parameters: trainable,
        })
        .map_err(io(dir))?;
    let _telemetry = crate::telemetry::Sampler::start(events.path()).ok();
    let job = SftJob {
        model: &student,
        train,
        eval,
        config: &config.sft,
        pad_id: student.pad_id(),
        checkpoints: dir.join("checkpoints"),
        dataset_hash: Some(dataset.content_hash.clone()),
        stop,
        pause_at: None,
    };
    let outcome = job.run(events, resume.as_deref())?;
    if outcome.ending == Ending::Completed {
        save_final(&student, dir, events)?;
    }
    Ok(outcome.ending)
}

pub(crate) fn record_dataset_hash(ws: &Workspace, id: &str, hash: &str) -> Result<(), RunError> {
    let mut store = ws.store()?;
    let mut record = store.run(id)?;
    record.dataset_hash = Some(hash.to_owned());
    store.upsert_run(&record)?;
    Ok(())
}

/// Saves what a completed run learned as `final/` (a loadable model directory).
pub(crate) fn save_final(
    student: &Student,
    dir: &Path,
    events: &mut EventWriter,
) -> Result<(), RunError> {
    let out = dir.join("final");
    student.save(&out)?;
    events
        .write(RunEvent::Log {
            level: "info".into(),
            message: format!("final model saved to {}", out.display()),
        })
        .map_err(io(dir))?;
    Ok(())
}

pub(crate) fn resolve_dataset(
    ws: &Workspace,
    name: &str,
) -> Result<crate::workspace::store::DatasetRecord, RunError> {
    let store = ws.store()?;
    let kind = match name {
        "baseline" => Some(DatasetKind::Baseline),
        "plan1" => Some(DatasetKind::Plan1),
        "plan2" => Some(DatasetKind::Plan2),
        _ => None,
    };
    match kind {
        Some(kind) => match store.latest_dataset(kind.as_str())? {
            Some(found) => Ok(found),
            None => {
                drop(store);
                let built = dataset::build(ws, kind, &dataset::DatasetSource::default())?;
                Ok(ws.store()?.dataset_by_hash(&built.content_hash)?)
            }
        },
        None => Ok(store.dataset_by_hash(name)?),
    }
}
