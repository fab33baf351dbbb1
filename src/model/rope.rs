//! Rotary frequencies of each distinct (theta, scaling) pair a model's layers use,
//! and their cos/sin tables for the positions of a forward pass.

use candle_core::{DType, Device, Result, Tensor};

use super::config::RopeScaling;

/// Inverse rotary frequencies of one (theta, scaling) pair.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RopeFreqs {
    inv_freq: Vec<f32>,
    position_divisor: f64,
}

impl RopeFreqs {
    pub(crate) fn new(head_dim: usize, theta: f64, scaling: RopeScaling) -> Self {
        let base: Vec<f64> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f64 / head_dim as f64))
            .collect();
        let (inv, divisor) = match scaling {
            RopeScaling::None => (base, 1.0),
            RopeScaling::Linear { factor } => (base, factor),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: orig,
            } => {
                let low_wavelen = orig / low_freq_factor;
                let high_wavelen = orig / high_freq_factor;
                let inv = base
                    .into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (orig / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect();
                (inv, 1.0)
            }
        };
        Self {
            inv_freq: inv.into_iter().map(|f| f as f32).collect(),
            position_divisor: divisor,
        }
    }

    /// `cos`, `sin` of shape `[p, d/2]` for the `p` positions given (one per token
    /// of the batch, row-major over `[b, t]`).
    pub(crate) fn cos_sin(
        &self,
        positions: &[f32],
        dtype: DType,
        dev: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let pos: Vec<f32> = positions
            .iter()
            .map(|p| (*p as f64 / self.position_divisor) as f32)
            .collect();
        let n = pos.len();
        let pos = Tensor::from_vec(pos, (n, 1), dev)?;
        let inv = Tensor::from_slice(&self.inv_freq, (1, half), dev)?;
        let freqs = pos.broadcast_mul(&inv)?;
        let cos = freqs.cos()?.to_dtype(dtype)?;
        let sin = freqs.sin()?.to_dtype(dtype)?;
        Ok((cos, sin))
    }
}
