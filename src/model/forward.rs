//! The decoder's forward passes: logits of every position (training, scoring), of
//! the last position only (generation), and the next-token loss with the LM head
//! fused into the cross-entropy (training).

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor};

use super::attention::{LayerMask, Pass};
use super::config::Family;
use super::decoder::{Memory, Model};
use super::fused::attention::{AttentionMask, MASKED};
use super::fused::{self, Kernels};
use super::kv_cache::KvCache;
use super::linear::project;
use super::ops::{self, IGNORE_INDEX};

impl Model {
    /// Logits `[b, t, vocab]` (in the model dtype) for every input position.
    ///
    /// * `input_ids`: `[b, t]`, u32 token ids.
    /// * `attention_mask`: `[b, t]` for the *new* tokens only, 1 = real token,
    ///   0 = padding (any numeric dtype). Padding must be on the left of each row's
    ///   real tokens (left padding of prompts). `None` means all real.
    /// * `cache`: `None` for training / scoring a whole sequence. For generation pass the
    ///   same [`KvCache`] to each call: first the (left-padded) prompt, then the new
    ///   token(s) with their mask (usually all ones). The cache remembers padding, so
    ///   padded keys stay hidden and rotary positions count real tokens only
    ///   (position of a token = number of real tokens before it in its row), which
    ///   matches transformers' `position_ids = cumsum(mask) - 1`.
    ///
    /// Logits at padding positions are meaningless; mask them out of losses.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let x = self.hidden_states(input_ids, attention_mask, cache)?;
        let (b, t, h) = x.dims3()?;
        let logits = self.head(&x.reshape((b * t, h))?)?;
        logits.reshape((b, t, self.cfg.vocab_size))
    }

    /// Logits `[b, vocab]` of the last position only: what generation needs, without
    /// the LM head's cost on every prompt position.
    pub fn forward_last(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let x = self.hidden_states(input_ids, attention_mask, cache)?;
        let (b, t, h) = x.dims3()?;
        self.head(&x.narrow(1, t - 1, 1)?.reshape((b, h))?)
    }

    /// Mean next-token cross-entropy: position `i` predicts `labels[i + 1]`, positions
    /// labelled [`IGNORE_INDEX`] carry no loss. `labels`: `[b, t]` of i64. Returns
    /// (loss, number of predicted tokens); an error when no position has a label.
    ///
    /// On the fused path the LM head and the loss are one op over the labelled rows
    /// only, so the `[b·t, vocab]` logits are never built. The loss is f32 (f64 for
    /// an f64 model).
    pub fn next_token_loss(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        labels: &Tensor,
    ) -> Result<(Tensor, usize)> {
        let (b, t) = input_ids.dims2()?;
        if t < 2 {
            candle_core::bail!("sequences of length {t} have no next token to predict");
        }
        if labels.dims2()? != (b, t) {
            candle_core::bail!("labels {:?} for input ids {:?}", labels.dims(), (b, t));
        }
        let x = self.hidden_states(input_ids, attention_mask, None)?;
        let labels = labels.to_dtype(DType::I64)?.to_vec2::<i64>()?;
        let mut targets = Vec::with_capacity(b * t);
        for row in &labels {
            targets.extend_from_slice(&row[1..]);
            targets.push(IGNORE_INDEX);
        }
        let count = targets.iter().filter(|&&v| v != IGNORE_INDEX).count();
        if count == 0 {
            candle_core::bail!("no completion tokens in this batch: every label is masked");
        }
        let h = self.cfg.hidden_size;
        let x2 = x.reshape((b * t, h))?;
        let head_plain = self.lm_head.as_ref().is_none_or(|l| l.lora.is_none());
        if self.kernels.fused_for(&x2) && head_plain {
            let weight = match &self.lm_head {
                Some(head) => &head.weight,
                None => &self.embed_tokens,
            };
            let softcap = self.cfg.final_logit_softcapping;
            let loss = fused::lm_head_loss::lm_head_loss(&x2, weight, &targets, softcap)?;
            return Ok((loss, count));
        }
        let logits = self.head(&x2)?;
        let targets = Tensor::from_vec(targets, b * t, x2.device())?;
        let logits = match logits.dtype() {
            DType::F64 => logits,
            _ => logits.to_dtype(DType::F32)?,
        };
        Ok((ops::cross_entropy_ignore(&logits, &targets)?, count))
    }

    /// The LM head (and Gemma's final soft-capping) on rows `[n, hidden]`.
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let fused = self.kernels.fused_for(x);
        let logits = match &self.lm_head {
            Some(head) => head.forward_with(x, self.training, fused)?,
            None => project(x, &self.embed_tokens, fused)?,
        };
        match self.cfg.final_logit_softcapping {
            Some(cap) => (logits / cap)?.tanh()? * cap,
            None => Ok(logits),
        }
    }

    /// The final norm's output `[b, t, hidden]`; see [`Model::forward`] for the inputs.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let new_valid = validity(attention_mask, b, t)?;
        let (past_valid, past_counts) = match cache.as_deref() {
            Some(c) if c.seq_len() > 0 => {
                if c.key_valid.len() != b {
                    candle_core::bail!(
                        "cache holds batch size {}, input has {b}",
                        c.key_valid.len()
                    );
                }
                (c.key_valid.clone(), c.real_counts.clone())
            }
            _ => (vec![Vec::new(); b], vec![0u32; b]),
        };
        let past = past_valid.first().map_or(0, Vec::len);
        let mut positions = Vec::with_capacity(b * t);
        let mut all_valid = past_valid;
        let mut counts = past_counts;
        for (row, valid) in new_valid.iter().enumerate() {
            for &v in valid {
                // Position = real tokens before this one; padding positions are unused.
                positions.push(counts[row] as f32);
                counts[row] += u32::from(v);
            }
            all_valid[row].extend_from_slice(valid);
        }
        let ids = input_ids.flatten_all()?;
        let mut x =
            self.embed_tokens
                .index_select(&ids, 0)?
                .reshape((b, t, self.cfg.hidden_size))?;
        if self.family == Family::Gemma3 {
            x = (x * embed_scale(self.cfg.hidden_size, self.dtype()))?;
        }
        let fused = self.kernels.fused_for(&x);
        let masks = self.layer_masks(&all_valid, past, t, fused)?;
        let ropes = self
            .ropes
            .iter()
            .map(|r| r.cos_sin(&positions, self.dtype(), self.device()))
            .collect::<Result<Vec<_>>>()?;
        let pass = Pass {
            ropes: &ropes,
            training: self.training,
            fused,
        };
        let capacity = cache.as_deref().map_or(0, KvCache::capacity_hint);
        let recompute = self.memory == Memory::Recompute && cache.is_none();
        for (idx, layer) in self.layers.iter().enumerate() {
            let mask = masks
                .get(&layer.sliding_window)
                .ok_or_else(|| candle_core::Error::Msg("attention mask missing".into()))?;
            x = match cache.as_deref_mut() {
                Some(c) => layer.forward(&x, mask, Some((&mut c.layers[idx], capacity)), &pass)?,
                None if recompute => super::recompute::block(layer, &x, mask, &pass)?,
                None => layer.forward(&x, mask, None, &pass)?,
            };
        }
        if let Some(c) = cache {
            c.key_valid = all_valid;
            c.real_counts = counts;
        }
        self.norm.forward(&x, fused)
    }

    /// One mask per distinct sliding window among the layers.
    fn layer_masks(
        &self,
        valid: &[Vec<u8>],
        past: usize,
        t: usize,
        fused: bool,
    ) -> Result<HashMap<Option<usize>, LayerMask>> {
        let key_valid = Arc::new(valid.concat());
        let mut masks = HashMap::new();
        for layer in &self.layers {
            let window = layer.sliding_window;
            if masks.contains_key(&window) {
                continue;
            }
            let bias = if fused {
                None
            } else {
                Some(attention_bias(valid, past, t, window, self.device())?)
            };
            let fused_mask = AttentionMask {
                key_valid: key_valid.clone(),
                past,
                window,
            };
            masks.insert(
                window,
                LayerMask {
                    fused: fused_mask,
                    bias,
                },
            );
        }
        Ok(masks)
    }

    /// Which implementation of the ops this model runs for its dtype and device.
    pub fn uses_fused_kernels(&self) -> bool {
        self.kernels == Kernels::Fused
            && self.device().is_cpu()
            && matches!(self.dtype(), DType::F32 | DType::F64)
    }
}

/// Per row, 1 for a real token and 0 for padding.
fn validity(mask: Option<&Tensor>, b: usize, t: usize) -> Result<Vec<Vec<u8>>> {
    let Some(m) = mask else {
        return Ok(vec![vec![1u8; t]; b]);
    };
    let dims = m.dims2()?;
    if dims != (b, t) {
        candle_core::bail!(
            "attention_mask has shape {dims:?}, expected {:?} (the new tokens)",
            (b, t)
        );
    }
    Ok(m.to_dtype(DType::F32)?
        .to_vec2::<f32>()?
        .into_iter()
        .map(|row| row.into_iter().map(|v| u8::from(v != 0.0)).collect())
        .collect())
}

/// transformers multiplies by `sqrt(hidden)` rounded to the activation dtype.
fn embed_scale(hidden: usize, dtype: DType) -> f64 {
    let s = (hidden as f64).sqrt();
    match dtype {
        DType::BF16 => half::bf16::from_f64(s).to_f64(),
        DType::F16 => half::f16::from_f64(s).to_f64(),
        _ => s,
    }
}

/// Additive bias `[b, 1, t, past + t]`: 0 where query `i` may see key `j` (causal,
/// key is a real token, inside the sliding window), `MASKED` elsewhere.
fn attention_bias(
    valid: &[Vec<u8>],
    past: usize,
    t: usize,
    window: Option<usize>,
    dev: &Device,
) -> Result<Tensor> {
    let b = valid.len();
    let total = past + t;
    let mut data = Vec::with_capacity(b * t * total);
    for row in valid {
        for i in 0..t {
            let qi = past + i;
            for (j, &v) in row.iter().enumerate().take(total) {
                let causal = j <= qi;
                let in_window = window.is_none_or(|w| qi - j.min(qi) < w);
                data.push(if causal && in_window && v == 1 {
                    0.0
                } else {
                    MASKED as f32
                });
            }
        }
    }
    Tensor::from_vec(data, (b, 1, t, total), dev)
}
