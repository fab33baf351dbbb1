//! Timing of one LoRA training step with the frozen-weight matmul against the same
//! step where candle also computes the base weights' gradients (FACTS trap 6).
//! For `plantune-tui bench`; no speed assertions live in tests.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

use super::checkpoint::random_model;
use super::config::Config;
use super::decoder_error::Result;
use super::lora::LoraConfig;
use super::ops::cross_entropy_ignore;

#[derive(Debug, Clone, Copy)]
pub struct LoraStepTimings {
    /// Mean seconds of forward + backward with frozen base weights (our path).
    pub frozen_s: f64,
    /// Mean seconds when the base weights are tracked (candle's default cost).
    pub tracked_s: f64,
}

/// Runs `steps` forward+backward passes of a random `cfg` model with LoRA on the
/// attention and MLP projections, for a `[batch, seq]` input, both ways.
pub fn lora_step_timings(
    cfg: &Config,
    batch: usize,
    seq: usize,
    steps: usize,
    device: &Device,
) -> Result<LoraStepTimings> {
    let lora = LoraConfig::new(
        8,
        16.0,
        0.0,
        &[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    );
    let ids: Vec<u32> = (0..batch * seq)
        .map(|i| ((i * 7919) % cfg.vocab_size) as u32)
        .collect();
    let ids = Tensor::from_vec(ids, (batch, seq), device)?;
    let targets = ids.flatten_all()?.to_dtype(DType::I64)?;
    let mut timings = [0.0f64; 2];
    for (slot, tracked) in [(0usize, false), (1, true)] {
        let mut model = random_model(cfg, DType::F32, device, 1, 0.02, 0.0)?;
        model.attach_lora(&lora, 1)?;
        if tracked {
            // Base weights become vars again; the optimiser would still not see them.
            model.trainable_full()?;
        }
        let mut total = 0.0;
        for step in 0..=steps {
            let start = Instant::now();
            let logits = model.forward(&ids, None, None)?;
            let loss =
                cross_entropy_ignore(&logits.reshape((batch * seq, cfg.vocab_size))?, &targets)?;
            let grads = loss.backward()?;
            drop(grads);
            // The first step warms allocations up and is not counted.
            if step > 0 {
                total += start.elapsed().as_secs_f64();
            }
        }
        timings[slot] = total / steps.max(1) as f64;
    }
    Ok(LoraStepTimings {
        frozen_s: timings[0],
        tracked_s: timings[1],
    })
}
