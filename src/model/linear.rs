//! A linear layer named after its checkpoint path, with an optional LoRA adapter.

use candle_core::{DType, Result, Tensor, Var};
use candle_nn::VarBuilder;

use super::ops::frozen_matmul_t;

/// Low-rank update `scale · B(A(dropout(x)))` added to a frozen base projection.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `[rank, in]`
    pub a: Var,
    /// `[out, rank]`
    pub b: Var,
    /// `alpha / rank`
    pub scale: f64,
    pub dropout: f32,
}

#[derive(Debug, Clone)]
pub struct Linear {
    /// Checkpoint path without `.weight`, e.g. `model.layers.0.self_attn.q_proj`.
    pub(crate) path: String,
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) lora: Option<LoraAdapter>,
}

impl Linear {
    pub fn load(vb: &VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = if bias {
            Some(vb.get(out_dim, "bias")?)
        } else {
            None
        };
        Ok(Self {
            path: vb.prefix(),
            weight,
            bias,
            lora: None,
        })
    }

    /// Last path component (`q_proj`), what LoRA target lists match against.
    pub fn module_name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    pub fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        self.forward_with(x, training, false)
    }

    /// [`Linear::forward`]; with `fused`, an adapter on a frozen weight without active
    /// dropout runs as one op ([`super::fused::lora_linear`]) where it applies.
    pub fn forward_with(&self, x: &Tensor, training: bool, fused: bool) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = *dims.last().unwrap_or(&0);
        let rows = x.elem_count() / in_dim.max(1);
        let x2 = x.reshape((rows, in_dim))?;
        let one_op = self.lora.as_ref().filter(|l| {
            fused
                && !(training && l.dropout > 0.0)
                && !self.weight.is_variable()
                && super::fused::applies(&x2)
                && x2.dtype() == self.weight.dtype()
        });
        let mut y = match one_op {
            Some(l) => super::fused::lora_linear::lora_linear(
                &x2,
                &self.weight,
                l.a.as_tensor(),
                l.b.as_tensor(),
                l.scale,
            )?,
            None => project(&x2, &self.weight, fused)?,
        };
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(lora) = self.lora.as_ref().filter(|_| one_op.is_none()) {
            let xin = if training && lora.dropout > 0.0 {
                candle_nn::ops::dropout(&x2, lora.dropout)?
            } else {
                x2.clone()
            };
            let low = xin.matmul(&lora.a.as_tensor().t()?)?;
            let up = low.matmul(&lora.b.as_tensor().t()?)?;
            y = (y + (up * lora.scale)?)?;
        }
        let mut out_dims = dims;
        if let Some(last) = out_dims.last_mut() {
            *last = y.dim(1)?;
        }
        y.reshape(out_dims)
    }

    /// Folds the adapter into the weight: `W + scale · B A`, computed in f32.
    pub(crate) fn merge_lora(&mut self) -> Result<()> {
        if let Some(lora) = self.lora.take() {
            let dtype = self.weight.dtype();
            let delta = (lora
                .b
                .as_tensor()
                .to_dtype(DType::F32)?
                .matmul(&lora.a.as_tensor().to_dtype(DType::F32)?)?
                * lora.scale)?;
            let merged = (self.weight.to_dtype(DType::F32)? + delta)?.to_dtype(dtype)?;
            self.weight = if self.weight.is_variable() {
                Var::from_tensor(&merged)?.as_tensor().clone()
            } else {
                merged
            };
        }
        Ok(())
    }
}

/// `x @ w^T`; a frozen `w` (not a `Var`) gets no gradient computed for it. With
/// `fused`, a trained weight's product is one op ([`super::fused::linear`]) where it
/// applies.
pub(crate) fn project(x: &Tensor, w: &Tensor, fused: bool) -> Result<Tensor> {
    if !w.is_variable() {
        return frozen_matmul_t(x, w);
    }
    if fused && super::fused::applies(x) && x.rank() == 2 && x.dtype() == w.dtype() {
        return super::fused::linear::linear(x, w);
    }
    x.matmul(&w.t()?)
}
