//! Choosing the next token from a row of logits.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingParams {
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches this.
    pub top_p: f32,
    /// Keep only the k most likely tokens (0 = no limit).
    pub top_k: usize,
    pub max_new_tokens: usize,
    /// Generation of a sequence ends when its text contains one of these (the stop
    /// string itself is cut from the returned text).
    pub stop: Vec<String>,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 256,
            stop: Vec::new(),
            seed: 0,
        }
    }
}

/// Log-softmax of `logits / temperature` (temperature 1 when greedy), in f64 so long
/// vocabularies keep precision.
pub fn log_probs(logits: &[f32], temperature: f32) -> Vec<f64> {
    let t = if temperature > 0.0 {
        temperature as f64
    } else {
        1.0
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| ((l as f64 - max) / t).exp()).sum();
    let log_sum = sum.ln();
    logits
        .iter()
        .map(|&l| (l as f64 - max) / t - log_sum)
        .collect()
}

/// Picks a token; returns it with its log-probability under the temperature-scaled
/// distribution (before top-k/top-p truncation, as GRPO's importance ratios need).
pub fn pick(logits: &[f32], params: &SamplingParams, rng: &mut ChaCha8Rng) -> (u32, f64) {
    let logp = log_probs(logits, params.temperature);
    if params.temperature <= 0.0 {
        // Greedy; ties go to the lowest id so results never depend on iteration order.
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        return (best as u32, logp[best]);
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logp[b].total_cmp(&logp[a]).then(a.cmp(&b)));
    if params.top_k > 0 {
        order.truncate(params.top_k.max(1));
    }
    if params.top_p < 1.0 {
        let mut mass = 0.0;
        let mut keep = 0;
        for &i in &order {
            mass += logp[i].exp();
            keep += 1;
            if mass >= params.top_p as f64 {
                break;
            }
        }
        order.truncate(keep.max(1));
    }
    let total: f64 = order.iter().map(|&i| logp[i].exp()).sum();
    let mut draw = rng.random::<f64>() * total;
    for &i in &order {
        draw -= logp[i].exp();
        if draw <= 0.0 {
            return (i as u32, logp[i]);
        }
    }
    let last = order[order.len() - 1];
    (last as u32, logp[last])
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn greedy_takes_the_argmax_with_its_log_probability() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (token, lp) = pick(&[0.0, 2.0, 1.0], &SamplingParams::default(), &mut rng);
        assert_eq!(token, 1);
        let expected = 2.0 - (1.0f64 + 2.0f64.exp() + 1.0f64.exp()).ln();
        assert!((lp - expected).abs() < 1e-12);
    }

    #[test]
    fn sampling_follows_the_distribution_and_respects_top_k_and_top_p() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let params = SamplingParams {
            temperature: 1.0,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[pick(&logits, &params, &mut rng).0 as usize] += 1;
        }
        let share = counts[1] as f64 / 20_000.0;
        assert!((share - 0.75).abs() < 0.02, "{share}");
        assert_eq!(counts[2], 0);
        let top1 = SamplingParams {
            top_k: 1,
            ..params.clone()
        };
        assert!((0..200).all(|_| pick(&logits, &top1, &mut rng).0 == 1));
        let nucleus = SamplingParams {
            top_p: 0.7,
            ..params
        };
        assert!((0..200).all(|_| pick(&logits, &nucleus, &mut rng).0 == 1));
    }
}
