//! What `bench model`, `bench train` and `bench generate` measure. The same list is
//! handed to the PyTorch side as JSON, so both sides run identical shapes and inputs.

use serde::{Deserialize, Serialize};

/// LoRA as the project trains it by default (`train::run` defaults): attention
/// projections, alpha 16, no dropout.
pub const LORA_TARGETS: &[&str] = &["q_proj", "k_proj", "v_proj", "o_proj"];
pub const LORA_ALPHA: f64 = 16.0;
pub const LORA_RANK: usize = 8;
/// Learning rate of the timed optimiser steps (its value does not change the cost).
pub const LR: f64 = 1e-5;
pub const MAX_GRAD_NORM: f64 = 1.0;

/// SmolLM2's first 17 ids are control tokens; inputs stay on ordinary tokens.
const FIRST_ORDINARY_ID: usize = 17;

/// The input token at `(row, i)` of a `[_, length]` batch. `bench/torch_bench.py` has
/// the same formula; each side reports the sum of its ids so a mismatch shows.
pub fn token_id(row: usize, i: usize, length: usize, vocab: usize) -> u32 {
    let span = vocab.saturating_sub(FIRST_ORDINARY_ID).max(1);
    (FIRST_ORDINARY_ID + ((row * length + i) * 7919) % span) as u32
}

pub fn token_rows(batch: usize, length: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|r| (0..length).map(|i| token_id(r, i, length, vocab)).collect())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Forward, completion-only loss, backward.
    FwdBwd,
    /// `FwdBwd` plus global-norm clipping and an AdamW step: one SFT step.
    SftStep,
    /// Greedy batched generation of exactly `new_tokens` per row with the KV cache.
    Generate,
    /// One GRPO step of full fine-tuning: sample `batch` completions of exactly
    /// `new_tokens` to one prompt, the reference model's log-probabilities, then the
    /// policy's forward and backward through the clipped objective with a KL term,
    /// clipping and an AdamW step.
    GrpoStep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    pub kind: CaseKind,
    pub batch: usize,
    /// Training: tokens per row (the first quarter is prompt and carries no loss).
    pub seq: usize,
    /// Generation: prompt tokens per row, and tokens generated per row.
    pub prompt: usize,
    pub new_tokens: usize,
    /// 0 = full fine-tuning.
    pub lora_rank: usize,
}

impl Case {
    pub fn train(kind: CaseKind, batch: usize, seq: usize, lora_rank: usize) -> Self {
        let what = match kind {
            CaseKind::SftStep => "sft step",
            _ => "fwd+bwd",
        };
        let how = if lora_rank > 0 {
            format!("lora r{lora_rank}")
        } else {
            "full".to_string()
        };
        Self {
            name: format!("{what} {how} {batch}x{seq}"),
            kind,
            batch,
            seq,
            prompt: 0,
            new_tokens: 0,
            lora_rank,
        }
    }

    pub fn generate(batch: usize, prompt: usize, new_tokens: usize) -> Self {
        Self {
            name: format!("generate b{batch} {prompt}+{new_tokens}"),
            kind: CaseKind::Generate,
            batch,
            seq: 0,
            prompt,
            new_tokens,
            lora_rank: 0,
        }
    }

    pub fn grpo(group: usize, prompt: usize, new_tokens: usize) -> Self {
        Self {
            name: format!("grpo step G{group} {prompt}+{new_tokens}"),
            kind: CaseKind::GrpoStep,
            batch: group,
            seq: prompt + new_tokens,
            prompt,
            new_tokens,
            lora_rank: 0,
        }
    }

    /// The same training case at another shape (GPUs need far more tokens per step
    /// than the CPU shapes to be busy). Generation cases are returned unchanged.
    pub fn reshaped(&self, batch: Option<usize>, seq: Option<usize>) -> Self {
        if matches!(self.kind, CaseKind::Generate | CaseKind::GrpoStep) {
            return self.clone();
        }
        Self::train(
            self.kind,
            batch.unwrap_or(self.batch),
            seq.unwrap_or(self.seq),
            self.lora_rank,
        )
    }

    /// Tokens one timed repetition processes (generated tokens for generation and
    /// GRPO steps).
    pub fn tokens(&self) -> usize {
        match self.kind {
            CaseKind::Generate | CaseKind::GrpoStep => self.batch * self.new_tokens,
            _ => self.batch * self.seq,
        }
    }
}

/// Which benchmark, with its shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Model,
    Train,
    Generate,
    GrpoStep,
}

pub const TRAIN_BATCH: usize = 4;
pub const TRAIN_SEQ: usize = 256;
pub const PROMPT: usize = 32;
pub const NEW_TOKENS: usize = 128;
/// A GRPO step as the paper's recipe shapes it: a group of 8 completions per prompt.
pub const GRPO_GROUP: usize = 8;
pub const GRPO_PROMPT: usize = 64;
pub const GRPO_NEW: usize = 256;
/// KL weight of the timed GRPO steps (non-zero, so the reference model runs).
pub const GRPO_BETA: f64 = 0.04;

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Model => "model",
            Suite::Train => "train",
            Suite::Generate => "generate",
            Suite::GrpoStep => "grpo-step",
        }
    }

    /// The cases at the issue's shapes; `scale` divides sequence lengths and token
    /// counts (the end-to-end test runs a tiny model at a fraction of the size).
    pub fn cases(self, scale: usize) -> Vec<Case> {
        let s = scale.max(1);
        let (seq, prompt, new) = (
            (TRAIN_SEQ / s).max(4),
            (PROMPT / s).max(2),
            (NEW_TOKENS / s).max(2),
        );
        match self {
            Suite::Model => vec![
                Case::train(CaseKind::FwdBwd, TRAIN_BATCH, seq, 0),
                Case::train(CaseKind::FwdBwd, TRAIN_BATCH, seq, LORA_RANK),
                Case::generate(1, prompt, new),
                Case::generate(8, prompt, new),
            ],
            Suite::Train => vec![
                Case::train(CaseKind::SftStep, TRAIN_BATCH, seq, 0),
                Case::train(CaseKind::SftStep, TRAIN_BATCH, seq, LORA_RANK),
            ],
            Suite::Generate => [1, 8, 32]
                .into_iter()
                .map(|b| Case::generate(b, prompt, new))
                .collect(),
            Suite::GrpoStep => vec![Case::grpo(
                GRPO_GROUP,
                (GRPO_PROMPT / s).max(2),
                (GRPO_NEW / s).max(2),
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_avoid_control_tokens_and_stay_in_the_vocabulary() {
        let rows = token_rows(4, 256, 49_152);
        assert!(rows.iter().flatten().all(|&t| (17..49_152).contains(&t)));
        // Rows differ, so a batch is not one sequence repeated.
        assert_ne!(rows[0], rows[1]);
    }

    #[test]
    fn suites_have_the_issue_shapes() {
        let names: Vec<String> = Suite::Model.cases(1).into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "fwd+bwd full 4x256",
                "fwd+bwd lora r8 4x256",
                "generate b1 32+128",
                "generate b8 32+128"
            ]
        );
        let batches: Vec<usize> = Suite::Generate.cases(1).iter().map(|c| c.batch).collect();
        assert_eq!(batches, [1, 8, 32]);
        let big = Suite::Train.cases(1)[0].reshaped(Some(8), Some(1024));
        assert_eq!(
            (big.name.as_str(), big.tokens()),
            ("sft step full 8x1024", 8192)
        );
        assert!(
            Suite::Train
                .cases(1)
                .iter()
                .all(|c| c.kind == CaseKind::SftStep && c.tokens() == 1024)
        );
    }
}
