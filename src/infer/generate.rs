//! The decoding loop over [`Model::forward_last`] with a preallocated KV cache.

use candle_core::{DType, Device, Result, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::sampling::{SamplingParams, pick};
use crate::model::decoder::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Eos,
    Stop,
    Length,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// Generated tokens (EOS excluded; tokens of a matched stop string included).
    pub tokens: Vec<u32>,
    /// Log-probability of each generated token under the sampling distribution.
    pub logprobs: Vec<f64>,
    /// Decoded text, cut at the stop string if one matched.
    pub text: String,
    pub finish: FinishReason,
}

/// Generates for every prompt in one batch. Prompts are left-padded so every row's next
/// token sits in the last column; the cache hides the padding. Each row draws from its
/// own seeded stream (`seed + row index`), so a row's sample does not depend on which
/// other prompts share its batch.
pub fn generate(
    model: &Model,
    prompts: &[Vec<u32>],
    params: &SamplingParams,
    eos_ids: &[u32],
    pad_id: u32,
    decode: &dyn Fn(&[u32]) -> String,
) -> Result<Vec<Generation>> {
    generate_streaming(
        model,
        prompts,
        params,
        eos_ids,
        pad_id,
        decode,
        &mut |_, _| {},
    )
}

/// [`generate`], calling `on_token(row, token)` for every token as soon as it is
/// chosen (EOS is not passed on), so a caller can show text while it is produced.
pub fn generate_streaming(
    model: &Model,
    prompts: &[Vec<u32>],
    params: &SamplingParams,
    eos_ids: &[u32],
    pad_id: u32,
    decode: &dyn Fn(&[u32]) -> String,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Generation>> {
    let device: Device = model.device().clone();
    let b = prompts.len();
    if b == 0 {
        return Ok(Vec::new());
    }
    if let Some((i, _)) = prompts.iter().enumerate().find(|(_, p)| p.is_empty()) {
        candle_core::bail!("prompt {i} is empty: there is nothing to condition on");
    }
    let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(b * width);
    let mut mask = Vec::with_capacity(b * width);
    for p in prompts {
        let pad = width - p.len();
        ids.extend(std::iter::repeat_n(pad_id, pad));
        ids.extend_from_slice(p);
        mask.extend(std::iter::repeat_n(0u8, pad));
        mask.extend(std::iter::repeat_n(1u8, p.len()));
    }
    // Room for every position at once: decoding writes keys and values in place.
    let mut cache = model.new_cache_with_capacity(width + params.max_new_tokens);
    let mut logits = model.forward_last(
        &Tensor::from_vec(ids, (b, width), &device)?,
        Some(&Tensor::from_vec(mask, (b, width), &device)?),
        Some(&mut cache),
    )?;
    let mut rngs: Vec<ChaCha8Rng> = (0..b)
        .map(|row| ChaCha8Rng::seed_from_u64(params.seed.wrapping_add(row as u64)))
        .collect();
    let mut out: Vec<Generation> = (0..b)
        .map(|_| Generation {
            tokens: Vec::new(),
            logprobs: Vec::new(),
            text: String::new(),
            finish: FinishReason::Length,
        })
        .collect();
    let mut done = vec![false; b];
    for _ in 0..params.max_new_tokens {
        let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut next = Vec::with_capacity(b);
        let mut next_mask = Vec::with_capacity(b);
        for (row, scores) in rows.iter().enumerate() {
            if done[row] {
                next.push(pad_id);
                next_mask.push(0u8);
                continue;
            }
            let (token, logprob) = pick(scores, params, &mut rngs[row]);
            if eos_ids.contains(&token) {
                done[row] = true;
                out[row].finish = FinishReason::Eos;
                next.push(pad_id);
                next_mask.push(0u8);
                continue;
            }
            out[row].tokens.push(token);
            out[row].logprobs.push(logprob);
            on_token(row, token);
            if !params.stop.is_empty() {
                let text = decode(&out[row].tokens);
                if params.stop.iter().any(|s| text.contains(s.as_str())) {
                    done[row] = true;
                    out[row].finish = FinishReason::Stop;
                }
            }
            next.push(token);
            next_mask.push(1u8);
        }
        if done.iter().all(|d| *d) {
            break;
        }
        logits = model.forward_last(
            &Tensor::from_vec(next, (b, 1), &device)?,
            Some(&Tensor::from_vec(next_mask, (b, 1), &device)?),
            Some(&mut cache),
        )?;
    }
    for generation in &mut out {
        let mut text = decode(&generation.tokens);
        if generation.finish == FinishReason::Stop
            && let Some(at) = params
                .stop
                .iter()
                .filter_map(|s| text.find(s.as_str()))
                .min()
        {
            text.truncate(at);
        }
        generation.text = text;
    }
    Ok(out)
}
