//! One GRPO step: sample each prompt's group (resampling groups whose rewards all
//! tied), score and turn the rewards into advantages, the reference model's
//! log-probabilities, then `iterations` clipped policy updates over micro-batches.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Instant;

use candle_core::Tensor;

use super::objective::{LossAggregation, ObjectiveInputs, group_advantages, group_ties, grpo_loss};
use super::rewards::Scored;
use super::rollout::{Completion, token_logprobs};
use super::{GrpoError, GrpoJob, GrpoPrompt, SampleOut, StepReport, std_dev};
use crate::grade::extract_answer;
use crate::train::optim::{AdamW, Gradients};
use crate::train::schedule::Schedule;
use crate::train::trainable::Trainable;

/// A step's completions after resampling, with their scores.
struct Rollouts {
    completions: Vec<Completion>,
    scored: Scored,
    /// Groups whose rewards all tied, before and after resampling.
    tied_fraction: f64,
    tied_after_resample: f64,
}

/// The micro-batches of a step, and which completions the loss sees.
struct Batches<'a> {
    prompts: &'a [&'a GrpoPrompt],
    completions: &'a [Completion],
    group: usize,
    keep: Vec<bool>,
    ranges: Vec<Range<usize>>,
    /// The global denominators that make micro-batching give exactly the full-batch
    /// loss.
    live_tokens: usize,
    live_sequences: usize,
}

impl<'a> Batches<'a> {
    fn new(
        job: &GrpoJob<'_>,
        prompts: &'a [&'a GrpoPrompt],
        completions: &'a [Completion],
    ) -> Self {
        let config = job.config;
        let keep: Vec<bool> = completions
            .iter()
            .map(|c| !(c.tokens.is_empty() || config.mask_truncated && c.truncated))
            .collect();
        let live_tokens: usize = completions
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c.tokens.len())
            .sum();
        let live_sequences = keep.iter().filter(|&&k| k).count();
        let micro = config.micro_batch;
        let ranges = (0..completions.len())
            .step_by(micro)
            .map(|s| s..(s + micro).min(completions.len()))
            .collect();
        Self {
            prompts,
            completions,
            group: config.group_size,
            keep,
            ranges,
            live_tokens,
            live_sequences,
        }
    }

    /// (prompt, completion) token ids of the rows in `range`.
    fn sequences(&self, range: &Range<usize>) -> Vec<(&'a [u32], &'a [u32])> {
        range
            .clone()
            .map(|i| {
                (
                    self.prompts[i / self.group].prompt_ids.as_slice(),
                    self.completions[i].tokens.as_slice(),
                )
            })
            .collect()
    }
}

/// What the policy update measured: the first iteration's loss and, token-weighted
/// over it, KL, clip fractions and entropy; the last iteration's lr and grad norm.
#[derive(Default)]
struct Update {
    loss: f64,
    grad_norm: f64,
    lr: f64,
    kl: f64,
    clip_low: f64,
    clip_high: f64,
    entropy: f64,
}

/// Seconds spent sampling and scoring, on the reference model, and updating.
struct Timings {
    generation_s: f64,
    reference_s: f64,
    update_s: f64,
}

impl GrpoJob<'_> {
    /// Rollouts, rewards and `iterations` optimiser steps for one batch of prompts.
    pub fn step(
        &self,
        step: u64,
        prompt_indices: &[usize],
        optimizer: &mut AdamW,
        schedule: &Schedule,
    ) -> Result<StepReport, GrpoError> {
        let prompts: Vec<&GrpoPrompt> = prompt_indices.iter().map(|&i| &self.prompts[i]).collect();
        let started = Instant::now();
        let rollouts = self.rollouts(step, &prompts)?;
        let advantages: Vec<f64> = rollouts
            .scored
            .totals
            .chunks(self.config.group_size)
            .flat_map(|group| group_advantages(group, self.config.scale_rewards))
            .collect();
        let generation_s = started.elapsed().as_secs_f64();

        let batches = Batches::new(self, &prompts, &rollouts.completions);
        let reference_started = Instant::now();
        let reference_logp = self.reference_logprobs(&batches)?;
        let reference_s = reference_started.elapsed().as_secs_f64();

        let update_started = Instant::now();
        let update = self.update(
            step,
            &batches,
            &advantages,
            &reference_logp,
            optimizer,
            schedule,
        )?;
        let timings = Timings {
            generation_s,
            reference_s,
            update_s: update_started.elapsed().as_secs_f64(),
        };
        Ok(self.report(step, &prompts, &rollouts, update, timings))
    }

    /// Samples and scores each prompt's group; groups whose rewards all tie (no
    /// signal) are sampled again up to `resample_tied` times, keeping a fresh group
    /// only when it does not tie.
    fn rollouts(&self, step: u64, prompts: &[&GrpoPrompt]) -> Result<Rollouts, GrpoError> {
        let g = self.config.group_size;
        let mut completions = self.sample(prompts, &self.sampling(step, 0))?;
        let mut scored = self.score(prompts, &completions)?;
        let tied = |totals: &[f64]| -> Vec<bool> { totals.chunks(g).map(group_ties).collect() };
        let first_ties = tied(&scored.totals);
        let tied_fraction = first_ties.iter().filter(|&&t| t).count() as f64 / prompts.len() as f64;
        for attempt in 1..=self.config.resample_tied as u64 {
            let still: Vec<usize> = tied(&scored.totals)
                .iter()
                .enumerate()
                .filter(|(_, t)| **t)
                .map(|(i, _)| i)
                .collect();
            if still.is_empty() {
                break;
            }
            let again: Vec<&GrpoPrompt> = still.iter().map(|&i| prompts[i]).collect();
            let fresh = self.sample(&again, &self.sampling(step, attempt))?;
            let fresh_scored = self.score(&again, &fresh)?;
            for (k, &group) in still.iter().enumerate() {
                let rows = k * g..(k + 1) * g;
                if group_ties(&fresh_scored.totals[rows.clone()]) {
                    continue;
                }
                for (offset, row) in rows.enumerate() {
                    let at = group * g + offset;
                    completions[at] = fresh[row].clone();
                    scored.totals[at] = fresh_scored.totals[row];
                    scored.parts[at] = fresh_scored.parts[row].clone();
                    scored.correct[at] = fresh_scored.correct[row];
                }
            }
        }
        let tied_after_resample =
            tied(&scored.totals).iter().filter(|&&t| t).count() as f64 / prompts.len() as f64;
        Ok(Rollouts {
            completions,
            scored,
            tied_fraction,
            tied_after_resample,
        })
    }

    /// The frozen reference's log-probabilities per micro-batch (none when β = 0).
    fn reference_logprobs(&self, batches: &Batches) -> Result<Vec<Tensor>, GrpoError> {
        let mut reference_logp = Vec::new();
        if let (Some(reference), true) = (self.reference, self.config.objective.beta > 0.0) {
            let forward = |ids: &Tensor, mask: &Tensor| reference.forward(ids, Some(mask), None);
            for range in &batches.ranges {
                let out = token_logprobs(
                    &forward,
                    &batches.sequences(range),
                    self.policy.pad_id(),
                    f64::from(self.config.temperature),
                    false,
                    &self.policy.device(),
                )?;
                reference_logp.push(out.logp.detach());
            }
        }
        Ok(reference_logp)
    }

    /// `iterations` optimiser steps on the clipped objective, gradients accumulated
    /// over the micro-batches; the first iteration's log-probabilities are the "old"
    /// policy's.
    fn update(
        &self,
        step: u64,
        batches: &Batches,
        advantages: &[f64],
        reference_logp: &[Tensor],
        optimizer: &mut AdamW,
        schedule: &Schedule,
    ) -> Result<Update, GrpoError> {
        let device = self.policy.device();
        let temperature = f64::from(self.config.temperature);
        let pad = self.policy.pad_id();
        let (keep, live_tokens) = (&batches.keep, batches.live_tokens);
        let params = self.policy.trainable_params();
        let forward = |ids: &Tensor, mask: &Tensor| self.policy.logits(ids, mask);
        let mut old_logp: Vec<Tensor> = Vec::with_capacity(batches.ranges.len());
        let mut measured = Update::default();
        for iteration in 0..self.config.iterations {
            let mut accumulated: Option<Gradients> = None;
            let mut iteration_loss = 0.0;
            for (bi, range) in batches.ranges.iter().enumerate() {
                let first = iteration == 0;
                let out = token_logprobs(
                    &forward,
                    &batches.sequences(range),
                    pad,
                    temperature,
                    first,
                    &device,
                )?;
                if first {
                    // The policy has not moved yet: its own values are the old ones.
                    old_logp.push(out.logp.detach());
                }
                let keep_rows: Vec<f32> = range.clone().map(|i| f32::from(keep[i])).collect();
                let keep_rows = Tensor::from_vec(keep_rows, range.len(), &device)?;
                let mask = out.mask.broadcast_mul(&keep_rows.unsqueeze(1)?)?;
                let micro_tokens = mask.sum_all()?.to_scalar::<f32>()? as f64;
                if micro_tokens == 0.0 {
                    continue;
                }
                let adv: Vec<f32> = range.clone().map(|i| advantages[i] as f32).collect();
                let adv = Tensor::from_vec(adv, range.len(), &device)?;
                let result = grpo_loss(
                    &ObjectiveInputs {
                        logp: &out.logp,
                        old_logp: &old_logp[bi],
                        ref_logp: reference_logp.get(bi),
                        mask: &mask,
                        advantages: &adv,
                        max_new_tokens: self.config.max_new_tokens,
                    },
                    &self.config.objective,
                )?;
                let share = match self.config.objective.aggregation {
                    LossAggregation::Sequence => {
                        range.clone().filter(|&i| keep[i]).count() as f64
                            / batches.live_sequences.max(1) as f64
                    }
                    LossAggregation::Token => micro_tokens / live_tokens.max(1) as f64,
                    LossAggregation::Constant => {
                        range.len() as f64 / batches.completions.len() as f64
                    }
                };
                let loss = (result.loss * share)?;
                let value = loss.to_scalar::<f32>()? as f64;
                if !value.is_finite() {
                    return Err(GrpoError::NonFinite { what: "loss", step });
                }
                iteration_loss += value;
                if first {
                    let weight = micro_tokens / live_tokens.max(1) as f64;
                    measured.kl += result.kl * weight;
                    measured.clip_low += result.clip_low * weight;
                    measured.clip_high += result.clip_high * weight;
                    if let Some(entropy) = &out.entropy {
                        measured.entropy += (entropy * &mask)?.sum_all()?.to_scalar::<f32>()?
                            as f64
                            / live_tokens.max(1) as f64;
                    }
                }
                let grads = Gradients::from_store(&params, &loss.backward()?);
                match accumulated.as_mut() {
                    Some(acc) => acc.accumulate(grads)?,
                    None => accumulated = Some(grads),
                }
            }
            let optimizer_step = step * self.config.iterations as u64 + iteration as u64;
            measured.lr = schedule.lr_at(optimizer_step);
            if let Some(mut grads) = accumulated {
                measured.grad_norm = grads.clip_global_norm(self.config.max_grad_norm)?;
                if !measured.grad_norm.is_finite() {
                    return Err(GrpoError::NonFinite {
                        what: "gradient",
                        step,
                    });
                }
                optimizer.step(&grads, measured.lr)?;
            }
            if iteration == 0 {
                measured.loss = iteration_loss;
            }
        }
        Ok(measured)
    }

    fn report(
        &self,
        step: u64,
        prompts: &[&GrpoPrompt],
        rollouts: &Rollouts,
        update: Update,
        timings: Timings,
    ) -> StepReport {
        let (completions, scored) = (&rollouts.completions, &rollouts.scored);
        let n = completions.len() as f64;
        let mut component_means = BTreeMap::new();
        for parts in &scored.parts {
            for (name, value) in parts {
                *component_means.entry(name.clone()).or_insert(0.0) += value / n;
            }
        }
        let lengths: Vec<usize> = completions.iter().map(|c| c.tokens.len()).collect();
        let samples =
            if self.config.sample_every > 0 && step.is_multiple_of(self.config.sample_every) {
                (0..self.config.group_size)
                    .map(|i| SampleOut {
                        prompt: prompts[0].prompt_text.clone(),
                        completion: completions[i].text.clone(),
                        reward: scored.totals[i],
                        rewards: scored.parts[i].clone(),
                        gold: prompts[0].gold.clone(),
                        answer: extract_answer(&completions[i].text).map(|found| found.text),
                        correct: scored.correct[i],
                    })
                    .collect()
            } else {
                Vec::new()
            };
        StepReport {
            loss: update.loss,
            lr: update.lr,
            grad_norm: update.grad_norm,
            reward_mean: scored.totals.iter().sum::<f64>() / n,
            reward_std: std_dev(&scored.totals),
            rewards: component_means,
            accuracy: scored.correct.iter().filter(|&&c| c).count() as f64 / n,
            kl: update.kl,
            clip_low: update.clip_low,
            clip_high: update.clip_high,
            entropy: update.entropy,
            completion_len_mean: lengths.iter().sum::<usize>() as f64 / n,
            completion_len_max: lengths.iter().copied().max().unwrap_or(0),
            truncated_ratio: completions.iter().filter(|c| c.truncated).count() as f64 / n,
            tied_fraction: rollouts.tied_fraction,
            tied_after_resample: rollouts.tied_after_resample,
            generation_s: timings.generation_s,
            reference_s: timings.reference_s,
            update_s: timings.update_s,
            generated_tokens: lengths.iter().sum(),
            samples,
        }
    }
}
