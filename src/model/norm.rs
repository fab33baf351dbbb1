//! RMSNorm layers, plain or Gemma's `(1 + w)` form.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::config::{Config, Family};
use super::{fused, ops};

#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    pub(crate) path: String,
    pub(crate) weight: Tensor,
    eps: f64,
    one_plus: bool,
}

impl RmsNorm {
    pub(crate) fn load(vb: VarBuilder, dim: usize, cfg: &Config, family: Family) -> Result<Self> {
        Ok(Self {
            path: vb.prefix(),
            weight: vb.get(dim, "weight")?,
            eps: cfg.rms_norm_eps,
            one_plus: family == Family::Gemma3,
        })
    }

    /// Normalises over the last dim, with the fused op when `fused`.
    pub(crate) fn forward(&self, x: &Tensor, fused: bool) -> Result<Tensor> {
        if fused {
            fused::rms_norm::rms_norm(x, &self.weight, self.eps, self.one_plus)
        } else if self.one_plus {
            ops::rms_norm_one_plus(x, &self.weight, self.eps)
        } else {
            ops::rms_norm(x, &self.weight, self.eps)
        }
    }
}
