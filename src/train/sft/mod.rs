//! The supervised fine-tuning loop: completion-only loss, gradient accumulation,
//! clipping, AdamW on a warmup + cosine schedule, periodic eval and checkpoints, a stop
//! flag honoured between steps, and exact resume; and an SFT run's config and body.

mod config;
pub mod run;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::batch::{DataCursor, TokenizedExample, collate, epoch_batches};
use super::checkpoint::{self, CheckpointError, CheckpointState};
pub use super::job::Ending;
use super::job::PrepareError;
use super::optim::{AdamW, AdamWConfig, Gradients, NamedVar};
use super::schedule::{Decay, Schedule};
use super::trainable::Trainable;
use crate::jobs::StopFlag;
use crate::runlog::{EventWriter, RunEvent};

pub use self::config::SftRunConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SftConfig {
    pub lr: f64,
    pub warmup_ratio: f64,
    pub decay: Decay,
    pub epochs: u64,
    /// Stops after this many optimiser steps even if epochs remain (0 = no limit).
    pub max_steps: u64,
    pub batch_size: usize,
    pub grad_accum: usize,
    /// Global-norm clipping threshold (0 = off).
    pub max_grad_norm: f64,
    pub adamw: AdamWConfig,
    pub seed: u64,
    /// Evaluate the held-out loss every this many steps (0 = only at the end).
    pub eval_every: u64,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
}

impl Default for SftConfig {
    /// The authors' recipe (lr 5e-6, cosine, warmup ratio 0.1) for pretrained students.
    fn default() -> Self {
        Self {
            lr: 5e-6,
            warmup_ratio: 0.1,
            decay: Decay::Cosine,
            epochs: 3,
            max_steps: 0,
            batch_size: 4,
            grad_accum: 1,
            max_grad_norm: 1.0,
            adamw: AdamWConfig::default(),
            seed: 0,
            eval_every: 0,
            checkpoint_every: 50,
            keep_checkpoints: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SftError {
    #[error("training maths failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("writing events: {0}")]
    Events(#[from] std::io::Error),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("no training examples")]
    Empty,
    #[error(
        "non-finite {what} at step {step}; the last good checkpoint is kept and training stopped"
    )]
    NonFinite { what: &'static str, step: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SftOutcome {
    pub ending: Ending,
    pub steps: u64,
    pub last_loss: f64,
    pub last_eval_loss: Option<f64>,
}

pub struct SftJob<'a, M: Trainable> {
    pub model: &'a M,
    pub train: &'a [TokenizedExample],
    pub eval: &'a [TokenizedExample],
    pub config: &'a SftConfig,
    pub pad_id: u32,
    pub checkpoints: PathBuf,
    pub dataset_hash: Option<String>,
    pub stop: StopFlag,
    /// Stop (checkpointed, ending `Stopped`) once this many steps are done: pauses a
    /// long run at a chosen point without changing its schedule.
    pub pause_at: Option<u64>,
}

impl<M: Trainable> SftJob<'_, M> {
    fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.config.batch_size.max(1))
    }

    /// Optimiser steps the run will take.
    pub fn total_steps(&self) -> u64 {
        let per_epoch = self
            .batches_per_epoch()
            .div_ceil(self.config.grad_accum.max(1)) as u64;
        let planned = per_epoch * self.config.epochs.max(1);
        if self.config.max_steps > 0 {
            planned.min(self.config.max_steps)
        } else {
            planned
        }
    }

    /// When `max_steps` asks for more steps than the epochs give, the epochs win; this
    /// says so, for the run's start (a stderr line and a `log` event), not silently.
    pub fn step_budget_note(&self) -> Option<String> {
        let max = self.config.max_steps;
        let total = self.total_steps();
        (max > total).then(|| {
            format!(
                "max_steps = {max} but epochs = {} of this dataset give {total} steps: the run \
                 stops after {total} (raise epochs to train longer)",
                self.config.epochs.max(1)
            )
        })
    }

    fn mean_eval_loss(&self) -> Result<Option<f64>, SftError> {
        if self.eval.is_empty() {
            return Ok(None);
        }
        let device = self.model.device();
        let (mut weighted, mut count) = (0.0, 0usize);
        for chunk in self.eval.chunks(self.config.batch_size.max(1)) {
            let refs: Vec<&TokenizedExample> = chunk.iter().collect();
            let batch = collate(&refs, self.pad_id, &device)?;
            let (loss, n) = self.model.next_token_loss(
                &batch.input_ids,
                &batch.attention_mask,
                &batch.labels,
            )?;
            weighted += loss.to_scalar::<f32>()? as f64 * n as f64;
            count += n;
        }
        Ok((count > 0).then(|| weighted / count as f64))
    }

    /// Trains from scratch, or from `resume` (a checkpoint directory).
    pub fn run(
        &self,
        events: &mut EventWriter,
        resume: Option<&std::path::Path>,
    ) -> Result<SftOutcome, SftError> {
        if self.train.is_empty() {
            return Err(SftError::Empty);
        }
        let params = self.model.trainable_params();
        let device = self.model.device();
        let mut optimizer = AdamW::new(params.clone(), self.config.adamw)?;
        let total = self.total_steps();
        let schedule = Schedule::with_warmup_ratio(
            self.config.lr,
            total,
            self.config.warmup_ratio,
            self.config.decay,
        );
        let (mut step, mut cursor) = (0u64, DataCursor::default());
        if let Some(dir) = resume {
            let state = checkpoint::load(dir, &mut optimizer, &device)?;
            step = state.step;
            cursor = state.cursor;
            events.write(RunEvent::Log {
                level: "info".into(),
                message: format!("resumed from {} at step {step}", dir.display()),
            })?;
        }
        let mut data = DataOrder::new(self, cursor);
        let started = Instant::now();
        let (mut last_loss, mut last_eval) = (f64::NAN, None);
        while step < total {
            if self.stop.requested() || self.pause_at.is_some_and(|p| step >= p) {
                self.save(step, data.cursor, &optimizer, events)?;
                return Ok(SftOutcome {
                    ending: Ending::Stopped,
                    steps: step,
                    last_loss,
                    last_eval_loss: last_eval,
                });
            }
            let step_started = Instant::now();
            let Some((mut grads, loss_sum, tokens)) =
                self.accumulate(step, &mut data, &params, &device)?
            else {
                break;
            };
            let micro_batches = self.config.grad_accum.max(1);
            grads.scale(1.0 / micro_batches as f64)?;
            let grad_norm = grads.clip_global_norm(self.config.max_grad_norm)?;
            if !grad_norm.is_finite() {
                return Err(SftError::NonFinite {
                    what: "gradient",
                    step,
                });
            }
            let lr = schedule.lr_at(step);
            optimizer.step(&grads, lr)?;
            step += 1;
            last_loss = loss_sum / micro_batches as f64;
            let elapsed = step_started.elapsed().as_secs_f64();
            events.write(step_event(StepFigures {
                step,
                epoch: data.epoch_progress(),
                loss: last_loss,
                lr,
                grad_norm,
                tokens_per_s: tokens as f64 / elapsed.max(1e-9),
                elapsed_s: started.elapsed().as_secs_f64(),
                total,
            }))?;
            if self.config.eval_every > 0 && step % self.config.eval_every == 0 {
                last_eval = self.mean_eval_loss()?;
                write_eval(events, step, last_eval)?;
            }
            if self.config.checkpoint_every > 0
                && step % self.config.checkpoint_every == 0
                && step < total
            {
                self.save(step, data.cursor, &optimizer, events)?;
            }
        }
        last_eval = self.mean_eval_loss()?.or(last_eval);
        write_eval(events, step, last_eval)?;
        self.save(step, data.cursor, &optimizer, events)?;
        Ok(SftOutcome {
            ending: Ending::Completed,
            steps: step,
            last_loss,
            last_eval_loss: last_eval,
        })
    }

    /// One optimiser step's gradients, accumulated over `grad_accum` micro-batches,
    /// with the summed loss and the tokens seen; `None` when there was nothing to learn.
    fn accumulate(
        &self,
        step: u64,
        data: &mut DataOrder,
        params: &[NamedVar],
        device: &Device,
    ) -> Result<Option<(Gradients, f64, usize)>, SftError> {
        let mut accumulated: Option<Gradients> = None;
        let (mut loss_sum, mut tokens) = (0.0, 0usize);
        for _ in 0..self.config.grad_accum.max(1) {
            let refs: Vec<&TokenizedExample> = data
                .next_batch(self)
                .iter()
                .map(|&i| &self.train[i])
                .collect();
            let batch = collate(&refs, self.pad_id, device)?;
            let (loss, _) = self.model.next_token_loss(
                &batch.input_ids,
                &batch.attention_mask,
                &batch.labels,
            )?;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(SftError::NonFinite { what: "loss", step });
            }
            loss_sum += value;
            tokens += batch.tokens;
            let grads = Gradients::from_store(params, &loss.backward()?);
            match accumulated.as_mut() {
                Some(acc) => acc.accumulate(grads)?,
                None => accumulated = Some(grads),
            }
        }
        Ok(accumulated.map(|grads| (grads, loss_sum, tokens)))
    }

    /// A checkpoint of the optimiser and the data position, then its event.
    fn save(
        &self,
        step: u64,
        cursor: DataCursor,
        optimizer: &AdamW,
        events: &mut EventWriter,
    ) -> Result<(), SftError> {
        let state = CheckpointState {
            step,
            cursor,
            dataset_hash: self.dataset_hash.clone(),
            created_ms: crate::workspace::store::now_ms(),
            optimizer_steps: None,
        };
        let path = checkpoint::save(
            &self.checkpoints,
            optimizer,
            &state,
            self.config.keep_checkpoints,
        )?;
        events.write(RunEvent::Checkpoint {
            step,
            path: path.display().to_string(),
        })?;
        events.sync()?;
        Ok(())
    }
}

/// The batch order of the current epoch and the position in it; a new epoch draws a
/// new order.
struct DataOrder {
    cursor: DataCursor,
    lengths: Vec<usize>,
    order: Vec<Vec<usize>>,
}

impl DataOrder {
    fn new<M: Trainable>(job: &SftJob<'_, M>, cursor: DataCursor) -> Self {
        let lengths: Vec<usize> = job.train.iter().map(TokenizedExample::len).collect();
        let order = epoch_batches(
            &lengths,
            job.config.batch_size,
            job.config.seed,
            cursor.epoch,
        );
        Self {
            cursor,
            lengths,
            order,
        }
    }

    /// The example indices of the next batch.
    fn next_batch<M: Trainable>(&mut self, job: &SftJob<'_, M>) -> &[usize] {
        if self.cursor.batch >= self.order.len() {
            self.cursor = DataCursor {
                epoch: self.cursor.epoch + 1,
                batch: 0,
            };
            self.order = epoch_batches(
                &self.lengths,
                job.config.batch_size,
                job.config.seed,
                self.cursor.epoch,
            );
        }
        self.cursor.batch += 1;
        &self.order[self.cursor.batch - 1]
    }

    /// Epochs done, with the fraction of the current one.
    fn epoch_progress(&self) -> f64 {
        self.cursor.epoch as f64 + self.cursor.batch as f64 / self.order.len().max(1) as f64
    }
}

/// What a `step` event reports about an SFT step.
struct StepFigures {
    step: u64,
    epoch: f64,
    loss: f64,
    lr: f64,
    grad_norm: f64,
    tokens_per_s: f64,
    elapsed_s: f64,
    total: u64,
}

fn step_event(f: StepFigures) -> RunEvent {
    RunEvent::Step {
        step: f.step,
        epoch: f.epoch,
        loss: f.loss,
        lr: f.lr,
        grad_norm: f.grad_norm,
        tokens_per_s: f.tokens_per_s,
        elapsed_s: f.elapsed_s,
        total_steps: Some(f.total),
        reward_mean: None,
        reward_std: None,
        rewards: Default::default(),
        kl: None,
        clip_frac: None,
        completion_len: None,
        accuracy: None,
        metrics: Default::default(),
    }
}

/// An `eval` event with the held-out loss, when there is one.
fn write_eval(events: &mut EventWriter, step: u64, loss: Option<f64>) -> Result<(), SftError> {
    if let Some(loss) = loss {
        events.write(RunEvent::Eval {
            step,
            metrics: [("loss".to_owned(), loss)].into(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
