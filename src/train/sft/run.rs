//! The body of an SFT run, once the run machinery (`runs/`) holds the run's lock and
//! has resolved its dataset: load the student, tokenize and check the examples, hold
//! out the eval slice, train from the newest checkpoint, save the final model.

use super::{Ending, SftError, SftJob, SftRunConfig};
use crate::jobs::StopFlag;
use crate::runlog::{EventWriter, RunEvent};
use crate::train::dataset;
use crate::train::job::{self, JobPaths, PrepareError};
use crate::train::student::load_student_from;
use crate::workspace::Workspace;
use crate::workspace::store::DatasetRecord;

pub fn train(
    ws: &Workspace,
    config: &SftRunConfig,
    dataset: &DatasetRecord,
    paths: &JobPaths,
    events: &mut EventWriter,
    stop: StopFlag,
) -> Result<Ending, SftError> {
    let mut student = load_student_from(
        ws,
        &config.model,
        &config.lora,
        config.sft.seed,
        config.precision,
    )
    .map_err(PrepareError::from)?;
    student.model.set_memory(config.memory);
    let examples = dataset::load(ws, &dataset.path).map_err(PrepareError::from)?;
    let mut tokenized = Vec::with_capacity(examples.len());
    for example in &examples {
        let t = student
            .encode_example(&example.messages)
            .map_err(PrepareError::from)?;
        tokenized.push(t);
    }
    job::check_lengths(
        examples
            .iter()
            .zip(&tokenized)
            .map(|(e, t)| (e.id.as_str(), t.len())),
        config.max_len,
    )?;
    // The held-out slice is the dataset's tail: fixed by content, not by chance.
    let eval_len = ((tokenized.len() as f64 * config.eval_fraction).round() as usize)
        .min(tokenized.len().saturating_sub(1));
    let (train, eval) = tokenized.split_at(tokenized.len() - eval_len);
    let resume = job::latest_checkpoint(paths)?;
    let _telemetry = job::announce(events, paths, config, &student)?;
    let job = SftJob {
        model: &student,
        train,
        eval,
        config: &config.sft,
        pad_id: student.pad_id(),
        checkpoints: paths.checkpoints.clone(),
        dataset_hash: Some(dataset.content_hash.clone()),
        stop,
        pause_at: None,
    };
    if let Some(note) = job.step_budget_note() {
        eprintln!("warning: {note}");
        events.write(RunEvent::Log {
            level: "warn".into(),
            message: note,
        })?;
    }
    let outcome = job.run(events, resume.as_deref())?;
    if outcome.ending == Ending::Completed {
        job::save_final(&student, paths, events)?;
    }
    Ok(outcome.ending)
}
