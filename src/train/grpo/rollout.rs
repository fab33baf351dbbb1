//! Rollouts: G sampled completions per prompt from the current policy, and the
//! per-token log-probabilities of given completions under a model (differentiable for
//! the policy, detached for the reference).

use candle_core::{D, DType, Result, Tensor};

use crate::infer::generate::{FinishReason, generate};
use crate::infer::sampling::SamplingParams;
use crate::model::decoder::Model;
use crate::train::batch::{IGNORE_INDEX, TokenizedExample, collate};

/// One sampled completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Tokens the policy is trained on: the generated ones, plus EOS when the model
    /// chose to stop (so it learns when to stop).
    pub tokens: Vec<u32>,
    pub text: String,
    /// Hit the new-token limit without finishing.
    pub truncated: bool,
}

/// Samples `group` completions for each prompt; row `i * group + j` is prompt i's
/// j-th completion. Every row has its own seeded stream, so the result does not depend
/// on how rows are batched.
pub fn sample_groups(
    model: &Model,
    prompts: &[Vec<u32>],
    group: usize,
    params: &SamplingParams,
    eos_ids: &[u32],
    pad_id: u32,
    decode: &dyn Fn(&[u32]) -> String,
) -> Result<Vec<Completion>> {
    let rows: Vec<Vec<u32>> = prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.clone(), group))
        .collect();
    let generations = generate(model, &rows, params, eos_ids, pad_id, decode)?;
    Ok(generations
        .into_iter()
        .map(|g| {
            let mut tokens = g.tokens;
            if g.finish == FinishReason::Eos
                && let Some(&eos) = eos_ids.first()
            {
                tokens.push(eos);
            }
            Completion {
                tokens,
                text: g.text,
                truncated: g.finish == FinishReason::Length,
            }
        })
        .collect())
}

/// Per-token log-probabilities of each completion given its prompt.
pub struct TokenLogprobs {
    /// `[b, t]` f32: position j is the log-probability of the token at sequence
    /// position j + 1 (so completion tokens sit where `mask` is 1).
    pub logp: Tensor,
    /// `[b, t]` f32: 1 on completion tokens.
    pub mask: Tensor,
    /// `[b, t]` f32 entropy of the predictive distribution (detached).
    pub entropy: Option<Tensor>,
}

/// Log-probabilities under `logits / temperature` of each completion token, from one
/// forward pass over right-padded prompt + completion sequences. Built from
/// differentiable primitives (candle's fused softmax has no backward).
pub fn token_logprobs(
    forward: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    sequences: &[(&[u32], &[u32])],
    pad_id: u32,
    temperature: f64,
    with_entropy: bool,
    device: &candle_core::Device,
) -> Result<TokenLogprobs> {
    let examples: Vec<TokenizedExample> = sequences
        .iter()
        .map(|(p, c)| TokenizedExample::new(p, c))
        .collect();
    let refs: Vec<&TokenizedExample> = examples.iter().collect();
    let batch = collate(&refs, pad_id, device)?;
    let (b, t) = batch.input_ids.dims2()?;
    let logits = forward(&batch.input_ids, &batch.attention_mask)?;
    let logits = logits.narrow(1, 0, t - 1)?.to_dtype(DType::F32)?;
    let logits = if temperature > 0.0 && temperature != 1.0 {
        (logits / temperature)?
    } else {
        logits
    };
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_norm = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let log_softmax = shifted.broadcast_sub(&log_norm)?;
    let targets = batch.input_ids.narrow(1, 1, t - 1)?.contiguous()?;
    let logp = log_softmax.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    let labels = batch.labels.narrow(1, 1, t - 1)?;
    let mask = labels.ne(IGNORE_INDEX)?.to_dtype(DType::F32)?;
    let entropy = if with_entropy {
        let ls = log_softmax.detach();
        Some((ls.exp()? * &ls)?.sum(D::Minus1)?.neg()?)
    } else {
        None
    };
    debug_assert_eq!(logp.dims(), &[b, t - 1]);
    Ok(TokenLogprobs {
        logp,
        mask,
        entropy,
    })
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// A "model" whose logits at every position are a fixed function of the token.
    fn table_forward(ids: &Tensor, _mask: &Tensor) -> Result<Tensor> {
        let table = Tensor::new(
            &[[0.0f32, 1.0, 2.0], [2.0, 0.0, 1.0], [1.0, 2.0, 0.0]],
            &Device::Cpu,
        )?;
        let (b, t) = ids.dims2()?;
        table
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, 3))
    }

    fn log_softmax(row: [f64; 3], temperature: f64) -> [f64; 3] {
        let scaled = row.map(|x| x / temperature);
        let norm = scaled.iter().map(|x| x.exp()).sum::<f64>().ln();
        scaled.map(|x| x - norm)
    }

    #[test]
    fn logprobs_of_completion_tokens_by_hand() {
        let table = [[0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [1.0, 2.0, 0.0]];
        // Prompt [0], completion [2, 1]; prompt [1, 2], completion [0].
        let seqs: [(&[u32], &[u32]); 2] = [(&[0], &[2, 1]), (&[1, 2], &[0])];
        let out = token_logprobs(&table_forward, &seqs, 0, 0.5, true, &Device::Cpu).unwrap();
        let logp = out.logp.to_vec2::<f32>().unwrap();
        let mask = out.mask.to_vec2::<f32>().unwrap();
        assert_eq!(mask, vec![vec![1.0, 1.0], vec![0.0, 1.0]]);
        // Row 0: token 2 follows token 0; token 1 follows token 2.
        let e00 = log_softmax(table[0], 0.5)[2];
        let e01 = log_softmax(table[2], 0.5)[1];
        // Row 1: token 0 follows token 2.
        let e11 = log_softmax(table[2], 0.5)[0];
        assert!((logp[0][0] as f64 - e00).abs() < 1e-6);
        assert!((logp[0][1] as f64 - e01).abs() < 1e-6);
        assert!((logp[1][1] as f64 - e11).abs() < 1e-6);
        let entropy = out.entropy.unwrap().to_vec2::<f32>().unwrap();
        let h: f64 = log_softmax(table[0], 0.5)
            .iter()
            .map(|l| -l.exp() * l)
            .sum();
        assert!((entropy[0][0] as f64 - h).abs() < 1e-6);
    }
}
