//! The AdamW update of one f32 parameter on the CPU as a single pass.
//!
//! Written with tensor ops, an update is about a dozen whole-tensor passes, each
//! allocating its result; on SmolLM2 that made the optimiser 4.4 s of a step PyTorch
//! does in 1.6 s. Every element here goes through exactly the f32 operations those
//! tensor ops perform, in the same order (candle's scalar ops are `x * mul + add`
//! with the scalars cast to f32), so the result is bit-identical to the composed
//! update and seeded runs, checkpoints and resumes are unchanged.

use candle_core::{DType, Device, Result, Tensor, Var};
use rayon::prelude::*;

/// Elements per rayon task: large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 15;

/// The scalars of one step, as the composed update derives them.
#[derive(Debug, Clone, Copy)]
pub struct StepScalars {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// `1 - beta1^t` and `1 - beta2^t`.
    pub bias1: f64,
    pub bias2: f64,
    pub lr: f64,
    /// `Some(weight_decay)` when this parameter decays.
    pub decay: Option<f64>,
}

/// Whether [`update`] applies: an f32 parameter and f32 state on the CPU.
pub fn applies(param: &Var, m: &Tensor, v: &Tensor) -> bool {
    matches!(param.device(), Device::Cpu)
        && param.dtype() == DType::F32
        && m.dtype() == DType::F32
        && v.dtype() == DType::F32
}

/// Updates `param` in place and returns the new first and second moments.
pub fn update(
    param: &Var,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    s: StepScalars,
) -> Result<(Tensor, Tensor)> {
    let shape = param.shape().clone();
    let flat = |t: &Tensor| t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>();
    let g = flat(grad)?;
    let mut m = flat(m)?;
    let mut v = flat(v)?;
    let mut p = flat(param.as_tensor())?;
    let f = |x: f64| x as f32;
    let (b1, one_minus_b1) = (f(s.beta1), f(1.0 - s.beta1));
    let (b2, one_minus_b2) = (f(s.beta2), f(1.0 - s.beta2));
    let (inv_bias1, inv_bias2) = (f(1.0 / s.bias1), f(1.0 / s.bias2));
    let (eps, lr) = (f(s.eps), f(s.lr));
    let keep = s.decay.map(|wd| f(1.0 - s.lr * wd));
    p.par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| {
            for i in 0..p.len() {
                let gi = g[i];
                m[i] = (m[i] * b1 + 0.0) + (gi * one_minus_b1 + 0.0);
                v[i] = (v[i] * b2 + 0.0) + ((gi * gi) * one_minus_b2 + 0.0);
                let m_hat = m[i] * inv_bias1 + 0.0;
                let v_hat = v[i] * inv_bias2 + 0.0;
                let step = m_hat / (v_hat.sqrt() * 1.0 + eps);
                let mut value = p[i];
                if let Some(keep) = keep {
                    value = value * keep + 0.0;
                }
                p[i] = value - (step * lr + 0.0);
            }
        });
    let device = param.device().clone();
    param.set(&Tensor::from_vec(p, shape.clone(), &device)?)?;
    Ok((
        Tensor::from_vec(m, shape.clone(), &device)?,
        Tensor::from_vec(v, shape, &device)?,
    ))
}
