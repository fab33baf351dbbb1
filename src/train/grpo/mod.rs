//! GRPO: sample G completions per prompt from the policy, score them with named
//! rewards, turn each group's rewards into advantages, and take clipped policy-gradient
//! steps with an optional KL penalty to a frozen reference — with the same events,
//! checkpoints, stop flag and exact resume as SFT.

mod config;
pub mod objective;
pub mod rewards;
pub mod rollout;
pub mod run;
mod step;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use self::objective::ObjectiveConfig;
use self::rewards::{RewardError, RewardSet, RewardWeights, RolloutView};
use self::rollout::{Completion, sample_groups};
use super::batch::DataCursor;
use super::checkpoint::{self, CheckpointError, CheckpointState};
use super::job::{Ending, PrepareError};
use super::optim::{AdamW, AdamWConfig};
use super::schedule::{Decay, Schedule};
use super::student::Student;
use super::trainable::Trainable;
use crate::infer::sampling::SamplingParams;
use crate::jobs::StopFlag;
use crate::model::decoder::Model;
use crate::runlog::{EventWriter, RunEvent};

pub use self::config::GrpoRunConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpoConfig {
    pub lr: f64,
    pub warmup_ratio: f64,
    pub decay: Decay,
    /// Rollout steps (each takes `iterations` optimiser steps).
    pub max_steps: u64,
    /// Prompts per rollout step.
    pub prompts_per_step: usize,
    /// Completions per prompt (G).
    pub group_size: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub max_new_tokens: usize,
    /// μ: optimiser steps on each rollout batch.
    pub iterations: usize,
    /// Sequences per forward/backward pass in the update (memory knob; the result is
    /// the same for any value).
    pub micro_batch: usize,
    /// Divide advantages by the group's standard deviation (off = Dr. GRPO).
    pub scale_rewards: bool,
    /// Leave completions that hit the token limit out of the loss.
    pub mask_truncated: bool,
    /// Resample a group whose rewards all tie up to this many times (0 = off; DAPO's
    /// dynamic sampling).
    pub resample_tied: usize,
    pub objective: ObjectiveConfig,
    pub rewards: RewardWeights,
    pub max_grad_norm: f64,
    pub adamw: AdamWConfig,
    pub seed: u64,
    pub checkpoint_every: u64,
    pub keep_checkpoints: usize,
    /// Write one group's completions as `sample` events every this many steps (0 = never).
    pub sample_every: u64,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        Self {
            lr: 1e-6,
            warmup_ratio: 0.0,
            decay: Decay::Constant,
            max_steps: 100,
            prompts_per_step: 4,
            group_size: 8,
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 256,
            iterations: 1,
            micro_batch: 8,
            scale_rewards: true,
            mask_truncated: false,
            resample_tied: 0,
            objective: ObjectiveConfig::default(),
            rewards: RewardWeights::default(),
            max_grad_norm: 1.0,
            adamw: AdamWConfig::default(),
            seed: 0,
            checkpoint_every: 20,
            keep_checkpoints: 2,
            sample_every: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrpoError {
    #[error("GRPO maths failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Reward(#[from] RewardError),
    #[error("writing events: {0}")]
    Events(#[from] std::io::Error),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("no prompts to train on")]
    Empty,
    #[error("invalid GRPO setting {field}: {message}")]
    Config {
        field: &'static str,
        message: &'static str,
    },
    #[error(
        "non-finite {what} at step {step}; the last good checkpoint is kept and training stopped"
    )]
    NonFinite { what: &'static str, step: u64 },
}

/// One training prompt with what the rewards need.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoPrompt {
    pub id: String,
    pub question: String,
    pub gold: String,
    pub reference_plan: Option<String>,
    pub prompt_text: String,
    pub prompt_ids: Vec<u32>,
}

/// What one rollout step measured.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub reward_mean: f64,
    pub reward_std: f64,
    /// Mean of each component (unweighted).
    pub rewards: BTreeMap<String, f64>,
    pub accuracy: f64,
    pub kl: f64,
    pub clip_low: f64,
    pub clip_high: f64,
    pub entropy: f64,
    pub completion_len_mean: f64,
    pub completion_len_max: usize,
    pub truncated_ratio: f64,
    /// Groups whose rewards all tied, before and after resampling.
    pub tied_fraction: f64,
    pub tied_after_resample: f64,
    pub generation_s: f64,
    pub reference_s: f64,
    pub update_s: f64,
    pub generated_tokens: usize,
    pub samples: Vec<SampleOut>,
}

#[derive(Debug, Clone)]
pub struct SampleOut {
    pub prompt: String,
    pub completion: String,
    pub reward: f64,
    pub rewards: BTreeMap<String, f64>,
    pub gold: String,
    /// The answer the grader extracted from the completion, if any.
    pub answer: Option<String>,
    pub correct: bool,
}

pub struct GrpoJob<'a> {
    pub policy: &'a Student,
    /// The frozen reference for the KL penalty; needed only when β > 0.
    pub reference: Option<&'a Model>,
    pub prompts: &'a [GrpoPrompt],
    pub rewards: &'a RewardSet,
    pub config: &'a GrpoConfig,
    pub checkpoints: PathBuf,
    pub dataset_hash: Option<String>,
    pub stop: StopFlag,
    pub pause_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrpoOutcome {
    pub ending: Ending,
    pub steps: u64,
}

fn std_dev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// The prompt order of one epoch, fixed by (seed, epoch).
fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

impl GrpoJob<'_> {
    fn validate(&self) -> Result<(), GrpoError> {
        let c = self.config;
        let bad = |field, message| Err(GrpoError::Config { field, message });
        if self.prompts.is_empty() {
            return Err(GrpoError::Empty);
        }
        if c.group_size < 2 {
            return bad(
                "group_size",
                "must be at least 2 (advantages compare a group)",
            );
        }
        if c.prompts_per_step == 0 || c.iterations == 0 || c.micro_batch == 0 {
            return bad(
                "prompts_per_step/iterations/micro_batch",
                "must be at least 1",
            );
        }
        if c.temperature <= 0.0 {
            return bad("temperature", "must be above 0: greedy groups all tie");
        }
        if c.objective.beta > 0.0 && self.reference.is_none() {
            return bad("objective.beta", "β > 0 needs a reference model");
        }
        Ok(())
    }

    fn total_optimizer_steps(&self) -> u64 {
        self.config.max_steps * self.config.iterations as u64
    }

    /// The prompts of the next step; advances the cursor through shuffled epochs.
    fn next_prompts(&self, cursor: &mut DataCursor) -> Vec<usize> {
        let n = self.prompts.len();
        let mut picked = Vec::with_capacity(self.config.prompts_per_step);
        let mut order = epoch_order(n, self.config.seed, cursor.epoch);
        while picked.len() < self.config.prompts_per_step.min(n) {
            if cursor.batch >= n {
                *cursor = DataCursor {
                    epoch: cursor.epoch + 1,
                    batch: 0,
                };
                order = epoch_order(n, self.config.seed, cursor.epoch);
            }
            picked.push(order[cursor.batch]);
            cursor.batch += 1;
        }
        picked
    }

    fn sampling(&self, step: u64, attempt: u64) -> SamplingParams {
        SamplingParams {
            temperature: self.config.temperature,
            top_p: self.config.top_p,
            top_k: 0,
            max_new_tokens: self.config.max_new_tokens,
            stop: Vec::new(),
            seed: self
                .config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(step.wrapping_mul(7919))
                .wrapping_add(attempt.wrapping_mul(104_729)),
        }
    }

    fn sample(
        &self,
        prompts: &[&GrpoPrompt],
        params: &SamplingParams,
    ) -> Result<Vec<Completion>, GrpoError> {
        let tokenizer = &self.policy.tokenizer;
        let eos: Vec<u32> = tokenizer.eos_id().into_iter().collect();
        let decode = |t: &[u32]| tokenizer.decode(t, true).unwrap_or_default();
        let ids: Vec<Vec<u32>> = prompts.iter().map(|p| p.prompt_ids.clone()).collect();
        Ok(sample_groups(
            &self.policy.model,
            &ids,
            self.config.group_size,
            params,
            &eos,
            self.policy.pad_id(),
            &decode,
        )?)
    }

    fn score(
        &self,
        prompts: &[&GrpoPrompt],
        completions: &[Completion],
    ) -> Result<rewards::Scored, GrpoError> {
        let g = self.config.group_size;
        let views: Vec<RolloutView> = completions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let p = prompts[i / g];
                RolloutView {
                    question: &p.question,
                    gold: &p.gold,
                    reference_plan: p.reference_plan.as_deref(),
                    completion: &c.text,
                    completion_tokens: c.tokens.len(),
                    truncated: c.truncated,
                    max_new_tokens: self.config.max_new_tokens,
                }
            })
            .collect();
        Ok(self.rewards.score(&views)?)
    }

    fn save(
        &self,
        step: u64,
        cursor: DataCursor,
        optimizer: &AdamW,
        events: &mut EventWriter,
    ) -> Result<(), GrpoError> {
        let state = CheckpointState {
            step,
            cursor,
            dataset_hash: self.dataset_hash.clone(),
            created_ms: crate::workspace::store::now_ms(),
            optimizer_steps: Some(optimizer.steps_taken()),
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

    /// Trains from scratch, or from `resume` (a checkpoint directory).
    pub fn run(
        &self,
        events: &mut EventWriter,
        resume: Option<&std::path::Path>,
    ) -> Result<GrpoOutcome, GrpoError> {
        self.validate()?;
        let params = self.policy.trainable_params();
        let device = self.policy.device();
        let mut optimizer = AdamW::new(params.clone(), self.config.adamw)?;
        let schedule = Schedule::with_warmup_ratio(
            self.config.lr,
            self.total_optimizer_steps(),
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
        let started = Instant::now();
        while step < self.config.max_steps {
            if self.stop.requested() || self.pause_at.is_some_and(|p| step >= p) {
                self.save(step, cursor, &optimizer, events)?;
                return Ok(GrpoOutcome {
                    ending: Ending::Stopped,
                    steps: step,
                });
            }
            let step_started = Instant::now();
            let indices = self.next_prompts(&mut cursor);
            let report = self.step(step, &indices, &mut optimizer, &schedule)?;
            step += 1;
            self.write_step(events, step, &cursor, &report, step_started, started)?;
            if self.config.checkpoint_every > 0
                && step % self.config.checkpoint_every == 0
                && step < self.config.max_steps
            {
                self.save(step, cursor, &optimizer, events)?;
            }
        }
        self.save(step, cursor, &optimizer, events)?;
        Ok(GrpoOutcome {
            ending: Ending::Completed,
            steps: step,
        })
    }

    fn write_step(
        &self,
        events: &mut EventWriter,
        step: u64,
        cursor: &DataCursor,
        report: &StepReport,
        step_started: Instant,
        started: Instant,
    ) -> Result<(), GrpoError> {
        let metrics: BTreeMap<String, f64> = [
            ("clip_low", report.clip_low),
            ("clip_high", report.clip_high),
            ("entropy", report.entropy),
            ("completion_len_max", report.completion_len_max as f64),
            ("truncated_ratio", report.truncated_ratio),
            ("tied_groups", report.tied_fraction),
            ("tied_groups_after_resample", report.tied_after_resample),
            ("generation_s", report.generation_s),
            ("reference_s", report.reference_s),
            ("update_s", report.update_s),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let elapsed = step_started.elapsed().as_secs_f64();
        events.write(RunEvent::Step {
            step,
            epoch: cursor.epoch as f64 + cursor.batch as f64 / self.prompts.len().max(1) as f64,
            loss: report.loss,
            lr: report.lr,
            grad_norm: report.grad_norm,
            tokens_per_s: report.generated_tokens as f64 / elapsed.max(1e-9),
            elapsed_s: started.elapsed().as_secs_f64(),
            total_steps: Some(self.config.max_steps),
            reward_mean: Some(report.reward_mean),
            reward_std: Some(report.reward_std),
            rewards: report.rewards.clone(),
            kl: Some(report.kl),
            clip_frac: Some(report.clip_low + report.clip_high),
            completion_len: Some(report.completion_len_mean),
            accuracy: Some(report.accuracy),
            metrics,
        })?;
        for sample in &report.samples {
            events.write(RunEvent::Sample {
                step,
                prompt: sample.prompt.clone(),
                completion: sample.completion.clone(),
                reward: Some(sample.reward),
                rewards: sample.rewards.clone(),
                gold: Some(sample.gold.clone()),
                answer: sample.answer.clone(),
                correct: Some(sample.correct),
            })?;
        }
        Ok(())
    }
}

/// Mean accuracy of greedy answers on `prompts` (for tests and the demo's before/after).
pub fn greedy_accuracy(
    policy: &Student,
    prompts: &[GrpoPrompt],
    max_new_tokens: usize,
) -> Result<f64, GrpoError> {
    let params = SamplingParams {
        temperature: 0.0,
        max_new_tokens,
        ..SamplingParams::default()
    };
    sampled_accuracy(policy, prompts, &params, 1)
}

/// Fraction of `per_prompt` sampled answers per prompt that are right: the expected
/// reward GRPO optimises, measured on a fixed seed.
pub fn sampled_accuracy(
    policy: &Student,
    prompts: &[GrpoPrompt],
    params: &SamplingParams,
    per_prompt: usize,
) -> Result<f64, GrpoError> {
    if prompts.is_empty() || per_prompt == 0 {
        return Ok(0.0);
    }
    let tokenizer = &policy.tokenizer;
    let eos: Vec<u32> = tokenizer.eos_id().into_iter().collect();
    let decode = |t: &[u32]| tokenizer.decode(t, true).unwrap_or_default();
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| p.prompt_ids.clone()).collect();
    let out = sample_groups(
        &policy.model,
        &ids,
        per_prompt,
        params,
        &eos,
        policy.pad_id(),
        &decode,
    )?;
    let correct = out
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            let p = &prompts[i / per_prompt];
            crate::grade::grade_with(
                &c.text,
                &p.gold,
                &crate::grade::GradeOptions {
                    question: Some(&p.question),
                },
            )
            .correct
        })
        .count();
    Ok(correct as f64 / out.len() as f64)
}
