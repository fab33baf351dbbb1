//! The GRPO objective: group-relative advantages, the clipped policy ratio, the k3 KL
//! estimate against a reference, and the three ways of averaging the per-token loss.
//!
//! Everything here works on plain tensors so hand-computed values can check it.

use candle_core::{DType, Result, Tensor};
use serde::{Deserialize, Serialize};

/// How per-token losses become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossAggregation {
    /// Mean over each completion's tokens, then over completions (the GRPO paper):
    /// a long completion's tokens weigh less than a short one's.
    Sequence,
    /// Sum over every token of the batch divided by their count (DAPO).
    Token,
    /// Sum over every token divided by completions × max new tokens (Dr. GRPO): a
    /// constant, so length carries no bias at all.
    Constant,
}

/// Advantages of one group's rewards: reward minus the group mean, divided by the
/// group's sample standard deviation when `scale` (Dr. GRPO drops the division, which
/// otherwise favours groups whose rewards barely differ).
pub fn group_advantages(rewards: &[f64], scale: bool) -> Vec<f64> {
    let n = rewards.len();
    if n == 0 {
        return Vec::new();
    }
    let mean = rewards.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    rewards
        .iter()
        .map(|r| {
            let centred = r - mean;
            if scale {
                // The small constant keeps a tied group at exactly zero, not NaN.
                centred / (std + 1e-4)
            } else {
                centred
            }
        })
        .collect()
}

/// Whether every reward of a group is the same: such a group has zero advantage and
/// teaches nothing.
pub fn group_ties(rewards: &[f64]) -> bool {
    rewards
        .windows(2)
        .all(|w| (w[0] - w[1]).abs() <= 1e-12 * w[0].abs().max(1.0))
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveConfig {
    pub epsilon_low: f64,
    pub epsilon_high: f64,
    /// Weight of the KL penalty to the reference (0 = no reference model at all).
    pub beta: f64,
    pub aggregation: LossAggregation,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            epsilon_low: 0.2,
            epsilon_high: 0.2,
            beta: 0.0,
            aggregation: LossAggregation::Sequence,
        }
    }
}

/// The per-token inputs of one batch of completions, all `[b, t]` f32 and aligned:
/// position j holds completion token j's log-probability (padding and masked
/// completions have `mask` 0).
pub struct ObjectiveInputs<'a> {
    pub logp: &'a Tensor,
    pub old_logp: &'a Tensor,
    pub ref_logp: Option<&'a Tensor>,
    pub mask: &'a Tensor,
    /// `[b]` one advantage per completion.
    pub advantages: &'a Tensor,
    /// The denominator of [`LossAggregation::Constant`] per completion.
    pub max_new_tokens: usize,
}

/// The loss (differentiable through `logp`) and what it measured.
pub struct ObjectiveOutput {
    pub loss: Tensor,
    /// Mean over real tokens of the k3 KL estimate (0 without a reference).
    pub kl: f64,
    /// Fraction of real tokens whose ratio was clipped below 1 − ε_low with a negative
    /// advantage (the clip took the gradient away).
    pub clip_low: f64,
    /// Same above 1 + ε_high with a positive advantage.
    pub clip_high: f64,
}

fn masked_mean(values: &Tensor, mask: &Tensor, count: f64) -> Result<f64> {
    if count == 0.0 {
        return Ok(0.0);
    }
    Ok((values * mask)?.sum_all()?.to_scalar::<f32>()? as f64 / count)
}

/// The clipped surrogate plus β·KL, aggregated as configured.
pub fn grpo_loss(inputs: &ObjectiveInputs, config: &ObjectiveConfig) -> Result<ObjectiveOutput> {
    let mask = inputs.mask.to_dtype(DType::F32)?;
    let (b, _) = mask.dims2()?;
    let tokens = mask.sum_all()?.to_scalar::<f32>()? as f64;
    let advantages = inputs.advantages.to_dtype(DType::F32)?.unsqueeze(1)?;
    let ratio = (inputs.logp - inputs.old_logp)?.exp()?;
    let clipped = ratio.clamp(1.0 - config.epsilon_low, 1.0 + config.epsilon_high)?;
    let unclipped_term = ratio.broadcast_mul(&advantages)?;
    let clipped_term = clipped.broadcast_mul(&advantages)?;
    let mut per_token = unclipped_term.minimum(&clipped_term)?.neg()?;

    let mut kl = 0.0;
    if let Some(ref_logp) = inputs.ref_logp
        && config.beta > 0.0
    {
        // k3 = exp(ref − logp) − (ref − logp) − 1: unbiased, never negative.
        let delta = (ref_logp - inputs.logp)?;
        let k3 = ((delta.exp()? - &delta)? - 1.0)?;
        kl = masked_mean(&k3.detach(), &mask, tokens)?;
        per_token = (per_token + (k3 * config.beta)?)?;
    }

    let ratio_value = ratio.detach();
    let adv_sign = advantages.broadcast_as(ratio_value.shape())?;
    let low = ratio_value
        .lt(1.0 - config.epsilon_low)?
        .to_dtype(DType::F32)?
        .mul(&adv_sign.lt(0.0)?.to_dtype(DType::F32)?)?;
    let high = ratio_value
        .gt(1.0 + config.epsilon_high)?
        .to_dtype(DType::F32)?
        .mul(&adv_sign.gt(0.0)?.to_dtype(DType::F32)?)?;
    let clip_low = masked_mean(&low, &mask, tokens)?;
    let clip_high = masked_mean(&high, &mask, tokens)?;

    let masked = (per_token * &mask)?;
    let loss = match config.aggregation {
        LossAggregation::Sequence => {
            // A completion with no real token (masked out) contributes nothing.
            let lengths = mask.sum(1)?;
            let safe = lengths.clamp(1.0, f64::MAX)?;
            let per_sequence = (masked.sum(1)? / safe)?;
            let present = lengths.gt(0.0)?.to_dtype(DType::F32)?;
            let sequences = present.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64;
            ((per_sequence * present)?.sum_all()? / sequences)?
        }
        LossAggregation::Token => (masked.sum_all()? / tokens.max(1.0))?,
        LossAggregation::Constant => {
            (masked.sum_all()? / (b * inputs.max_new_tokens.max(1)) as f64)?
        }
    };
    Ok(ObjectiveOutput {
        loss,
        kl,
        clip_low,
        clip_high,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn t2(rows: &[[f32; 3]; 2]) -> Tensor {
        Tensor::new(rows, &Device::Cpu).unwrap()
    }

    #[test]
    fn advantages_by_hand() {
        // mean 0.5, sample std sqrt(1/3) = 0.57735
        let a = group_advantages(&[1.0, 0.0, 0.0, 1.0], true);
        let expected = 0.5 / (0.577_350_269 + 1e-4);
        for (got, sign) in a.iter().zip([1.0, -1.0, -1.0, 1.0]) {
            assert!((got - sign * expected).abs() < 1e-9, "{got}");
        }
        assert_eq!(
            group_advantages(&[2.0, 0.0, 0.0, 0.0], false),
            vec![1.5, -0.5, -0.5, -0.5]
        );
        assert_eq!(group_advantages(&[1.0, 1.0, 1.0], true), vec![0.0; 3]);
        assert!(group_ties(&[2.0, 2.0, 2.0]));
        assert!(!group_ties(&[2.0, 2.0, 0.0]));
    }

    /// Two completions, three positions each; the second has one padding position.
    /// Completion 0 (advantage +1): ratios e^0.1, e^0.3 (clipped at 1.2), e^-0.5.
    /// Completion 1 (advantage −1): ratios e^-0.4 (clipped at 0.8), e^0.05, pad.
    #[test]
    fn loss_ratios_clipping_and_kl_by_hand() {
        let old = t2(&[[-1.0, -1.0, -1.0], [-2.0, -2.0, -2.0]]);
        let logp_values = [[-0.9f32, -0.7, -1.5], [-2.4, -1.95, -2.0]];
        let logp = Var::from_tensor(&t2(&logp_values)).unwrap();
        let reference = t2(&[[-1.0, -1.0, -1.0], [-2.0, -2.0, -2.0]]);
        let mask = t2(&[[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]);
        let adv = Tensor::new(&[1.0f32, -1.0], &Device::Cpu).unwrap();
        let beta = 0.1;
        let inputs = ObjectiveInputs {
            logp: logp.as_tensor(),
            old_logp: &old,
            ref_logp: Some(&reference),
            mask: &mask,
            advantages: &adv,
            max_new_tokens: 4,
        };
        let deltas = [[0.1f64, 0.3, -0.5], [-0.4, 0.05, 0.0]];
        let advs = [1.0f64, -1.0];
        let lens = [3.0, 2.0];
        let mut per_token = [[0.0f64; 3]; 2];
        let mut kl_sum = 0.0;
        for i in 0..2 {
            for j in 0..lens[i] as usize {
                let r = deltas[i][j].exp();
                let c = r.clamp(0.8, 1.2);
                let surrogate = -(r * advs[i]).min(c * advs[i]);
                // ref − logp = −delta here because ref = old.
                let d = -deltas[i][j];
                let k3 = d.exp() - d - 1.0;
                kl_sum += k3;
                per_token[i][j] = surrogate + beta * k3;
            }
        }
        let seq_loss =
            (per_token[0].iter().sum::<f64>() / 3.0 + per_token[1].iter().sum::<f64>() / 2.0) / 2.0;
        let total: f64 = per_token.iter().flatten().sum();
        for (aggregation, expected) in [
            (LossAggregation::Sequence, seq_loss),
            (LossAggregation::Token, total / 5.0),
            (LossAggregation::Constant, total / 8.0),
        ] {
            let config = ObjectiveConfig {
                epsilon_low: 0.2,
                epsilon_high: 0.2,
                beta,
                aggregation,
            };
            let out = grpo_loss(&inputs, &config).unwrap();
            let got = out.loss.to_scalar::<f32>().unwrap() as f64;
            assert!(
                (got - expected).abs() < 1e-5,
                "{aggregation:?}: {got} vs {expected}"
            );
            assert!((out.kl - kl_sum / 5.0).abs() < 1e-6);
            // Clipped high: completion 0 position 1 (e^0.3 > 1.2, A > 0).
            assert!((out.clip_high - 1.0 / 5.0).abs() < 1e-9);
            // Clipped low: completion 1 position 0 (e^-0.4 < 0.8, A < 0).
            assert!((out.clip_low - 1.0 / 5.0).abs() < 1e-9);
        }

        // The gradient flows only where the ratio is not clipped: d/dlogp of
        // −r·A is −r·A; clipped positions give 0 (plus the KL term everywhere).
        let config = ObjectiveConfig {
            beta,
            aggregation: LossAggregation::Token,
            ..ObjectiveConfig::default()
        };
        let out = grpo_loss(&inputs, &config).unwrap();
        let grads = out.loss.backward().unwrap();
        let g = grads
            .get(logp.as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for i in 0..2 {
            for j in 0..3 {
                let d = deltas[i][j];
                let r = d.exp();
                let real = (j as f64) < lens[i];
                let clipped = (advs[i] > 0.0 && r > 1.2) || (advs[i] < 0.0 && r < 0.8);
                let surrogate = if clipped { 0.0 } else { -r * advs[i] };
                // d k3 / d logp = −exp(ref − logp) + 1
                let kl = beta * (1.0 - (-d).exp());
                let expected = if real { (surrogate + kl) / 5.0 } else { 0.0 };
                assert!(
                    (g[i][j] as f64 - expected).abs() < 1e-5,
                    "({i},{j}): {} vs {expected}",
                    g[i][j]
                );
            }
        }
    }

    #[test]
    fn a_fully_masked_completion_adds_nothing_to_the_sequence_mean() {
        let logp = t2(&[[-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]]);
        let mask = t2(&[[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]);
        let adv = Tensor::new(&[2.0f32, 5.0], &Device::Cpu).unwrap();
        let out = grpo_loss(
            &ObjectiveInputs {
                logp: &logp,
                old_logp: &logp,
                ref_logp: None,
                mask: &mask,
                advantages: &adv,
                max_new_tokens: 3,
            },
            &ObjectiveConfig::default(),
        )
        .unwrap();
        // Ratio 1 everywhere: the loss is −A of the only live completion.
        assert!((out.loss.to_scalar::<f32>().unwrap() + 2.0).abs() < 1e-6);
    }
}
