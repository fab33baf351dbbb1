//! The worker: everything a run does, in the process that owns it. It holds the run's
//! lock for its whole life, beats a heartbeat, records itself as running, reads the
//! frozen config, resolves the dataset (recording its hash), hands over to SFT or GRPO
//! by the run's kind (they continue from the newest checkpoint), and writes how the run
//! ended: first to `events.jsonl`, then to the registry.

use std::time::Duration;

use super::card::{CardFacts, write_card};
use super::engine::trl::{self, TrlJob};
use super::{
    Ending, GrpoRunConfig, RunDir, RunError, RunId, RunKind, RunSummary, SftRunConfig, io,
    read_toml,
};
use crate::jobs::{Heartbeat, RunLock, StopFlag};
use crate::runlog::{EventWriter, RunEvent, RunStatus};
use crate::train::{dataset, grpo, sft};
use crate::workspace::Workspace;
use crate::workspace::store::DatasetRecord;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

pub fn work(ws: &Workspace, id: &str, stop: StopFlag) -> Result<Ending, RunError> {
    RunId::existing(ws, id)?;
    let dir = RunDir::new(ws, id);
    if !dir.config().is_file() {
        return Err(RunError::NoConfig { id: id.to_owned() });
    }
    let _lock = RunLock::acquire(dir.root())?;
    let _beat = Heartbeat::start(dir.root(), HEARTBEAT_EVERY);
    let mut events = EventWriter::open(&dir.events()).map_err(io(dir.root()))?;
    let mut store = ws.store()?;
    let mut record = store.run(id)?;
    // Checked again under the lock: a resume that raced another one to it must not
    // train a run the other has just completed.
    if record.status == "completed" {
        return Err(RunError::AlreadyCompleted { id: id.to_owned() });
    }
    record.status = "running".into();
    record.pid = Some(i64::from(std::process::id()));
    store.upsert_run(&record)?;
    drop(store);

    let result = match RunKind::of_record(&record.kind) {
        RunKind::Sft => train_sft(ws, id, &dir, &mut events, stop),
        RunKind::Grpo => train_grpo(ws, id, &dir, &mut events, stop),
    };
    let (status, error) = match &result {
        Ok(Ending::Completed) => (RunStatus::Completed, None),
        Ok(Ending::Stopped) => (RunStatus::Stopped, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    let label = match status {
        RunStatus::Completed => "completed",
        RunStatus::Stopped => "stopped",
        RunStatus::Failed => "failed",
    };
    // The run's own record of how it ended comes first; the registry follows at once,
    // on a connection opened beforehand, so the two disagree for as short a time as
    // possible.
    let store = ws.store();
    let _ = events.write(RunEvent::RunFinished { status, error });
    let _ = events.sync();
    store?.set_run_status(id, label)?;
    result
}

fn train_sft(
    ws: &Workspace,
    id: &str,
    dir: &RunDir,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, RunError> {
    let config: SftRunConfig = read_toml(&dir.config())?;
    let dataset = resolve_dataset(ws, id, &config.dataset)?;
    let ending = match &config.engine {
        Some(section) => {
            let s = &config.sft;
            let flags = vec![
                format!("--lr={}", s.lr),
                format!("--batch-size={}", s.batch_size),
                format!("--max-length={}", config.max_len),
            ];
            let job = TrlJob {
                kind: RunKind::Sft,
                model: &config.model,
                dataset: &dataset.content_hash,
                max_steps: s.max_steps,
                weights: Default::default(),
                max_new_tokens: 256,
                flags,
                section,
            };
            trl::train(ws, dir, &job, events, stop)?
        }
        None => sft::run::train(ws, &config, &dataset, &dir.job_paths(), events, stop)?,
    };
    let card = (RunKind::Sft, config.model.as_str(), config.lora.rank);
    finish_card(dir, id, card, &dataset, ending)
}

fn train_grpo(
    ws: &Workspace,
    id: &str,
    dir: &RunDir,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, RunError> {
    let config: GrpoRunConfig = read_toml(&dir.config())?;
    let dataset = resolve_dataset(ws, id, &config.dataset)?;
    let ending = match &config.engine {
        Some(section) => {
            let g = &config.grpo;
            let flags = vec![
                format!("--lr={}", g.lr),
                format!("--group-size={}", g.group_size),
                format!("--prompts-per-step={}", g.prompts_per_step),
                format!("--max-new-tokens={}", g.max_new_tokens),
                format!("--temperature={}", g.temperature),
                format!("--beta={}", g.objective.beta),
            ];
            let job = TrlJob {
                kind: RunKind::Grpo,
                model: &config.model,
                dataset: &dataset.content_hash,
                max_steps: g.max_steps,
                weights: g.rewards.clone(),
                max_new_tokens: g.max_new_tokens,
                flags,
                section,
            };
            trl::train(ws, dir, &job, events, stop)?
        }
        None => grpo::run::train(ws, &config, &dataset, &dir.job_paths(), events, stop)?,
    };
    let card = (RunKind::Grpo, config.model.as_str(), config.lora.rank);
    finish_card(dir, id, card, &dataset, ending)
}

/// A completed run's `final/README.md` (the model card); stopped runs have no final.
fn finish_card(
    dir: &RunDir,
    id: &str,
    (kind, base_model, lora_rank): (RunKind, &str, usize),
    dataset: &DatasetRecord,
    ending: Ending,
) -> Result<Ending, RunError> {
    if ending != Ending::Completed {
        return Ok(ending);
    }
    let run_toml = std::fs::read_to_string(dir.config()).map_err(io(&dir.config()))?;
    let steps = RunSummary::read(&dir.events())
        .ok()
        .and_then(|s| s.last_step.map(|l| l.step));
    let facts = CardFacts {
        run_id: id,
        kind,
        base_model,
        lora_rank,
        dataset,
        steps,
        run_toml: &run_toml,
        // Evaluations come later (`eval` on the run); none exist as training ends.
        evaluations: &[],
    };
    write_card(dir, &facts).map_err(io(&dir.final_model()))?;
    Ok(ending)
}

/// The dataset the run trains on, whose content hash goes into the registry before
/// training starts.
fn resolve_dataset(ws: &Workspace, id: &str, name: &str) -> Result<DatasetRecord, RunError> {
    let dataset = dataset::resolve(ws, name)?;
    let mut store = ws.store()?;
    let mut record = store.run(id)?;
    record.dataset_hash = Some(dataset.content_hash.clone());
    store.upsert_run(&record)?;
    Ok(dataset)
}
