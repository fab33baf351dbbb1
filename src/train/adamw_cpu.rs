//! The AdamW update of one f32 parameter on the CPU as a single pass over the
//! parameter, its gradient and moments, read in place (no copies out of the tensors).
//!
//! Written with tensor ops, an update is about a dozen whole-tensor passes, each
//! allocating its result; on SmolLM2 that made the optimiser 4.4 s of a step PyTorch
//! does in 1.6 s. Every element here goes through exactly the f32 operations those
//! tensor ops perform, in the same order (candle's scalar ops are `x * mul + add`
//! with the scalars cast to f32), so the result is bit-identical to the composed
//! update and seeded runs, checkpoints and resumes are unchanged.

use candle_core::{CpuStorage, DType, Device, Result, Storage, Tensor, Var};
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

/// The contiguous f32 elements of a CPU tensor, without copying them out.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = if t.is_contiguous() {
        t.clone()
    } else {
        t.contiguous()?
    };
    let (storage, layout) = t.storage_and_layout();
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("adamw: tensor not contiguous".into()))?;
    match &*storage {
        Storage::Cpu(CpuStorage::F32(data)) => f(&data[start..end]),
        _ => candle_core::bail!("adamw: expected an f32 CPU tensor"),
    }
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
    let n = shape.elem_count();
    let grad = grad.to_dtype(DType::F32)?;
    let f = |x: f64| x as f32;
    let (b1, one_minus_b1) = (f(s.beta1), f(1.0 - s.beta1));
    let (b2, one_minus_b2) = (f(s.beta2), f(1.0 - s.beta2));
    let (inv_bias1, inv_bias2) = (f(1.0 / s.bias1), f(1.0 / s.bias2));
    let (eps, lr) = (f(s.eps), f(s.lr));
    let keep = s.decay.map(|wd| f(1.0 - s.lr * wd));
    let mut new_p = vec![0f32; n];
    let mut new_m = vec![0f32; n];
    let mut new_v = vec![0f32; n];
    with_f32(&grad, |g| {
        with_f32(m, |m| {
            with_f32(v, |v| {
                with_f32(param.as_tensor(), |p| {
                    if [g.len(), m.len(), v.len(), p.len()] != [n; 4] {
                        candle_core::bail!("adamw: parameter and state sizes differ");
                    }
                    new_p
                        .par_chunks_mut(CHUNK)
                        .zip(new_m.par_chunks_mut(CHUNK))
                        .zip(new_v.par_chunks_mut(CHUNK))
                        .enumerate()
                        .for_each(|(c, ((np, nm), nv))| {
                            let at = c * CHUNK;
                            for i in 0..np.len() {
                                let j = at + i;
                                let gi = g[j];
                                nm[i] = (m[j] * b1 + 0.0) + (gi * one_minus_b1 + 0.0);
                                nv[i] = (v[j] * b2 + 0.0) + ((gi * gi) * one_minus_b2 + 0.0);
                                let m_hat = nm[i] * inv_bias1 + 0.0;
                                let v_hat = nv[i] * inv_bias2 + 0.0;
                                let step = m_hat / (v_hat.sqrt() * 1.0 + eps);
                                let mut value = p[j];
                                if let Some(keep) = keep {
                                    value = value * keep + 0.0;
                                }
                                np[i] = value - (step * lr + 0.0);
                            }
                        });
                    Ok(())
                })
            })
        })
    })?;
    let device = param.device().clone();
    param.set(&Tensor::from_vec(new_p, shape.clone(), &device)?)?;
    Ok((
        Tensor::from_vec(new_m, shape.clone(), &device)?,
        Tensor::from_vec(new_v, shape, &device)?,
    ))
}

/// Sum of squares of an f32 CPU tensor in one pass, accumulated in f64.
pub fn sum_squares(t: &Tensor) -> Result<f64> {
    with_f32(t, |x| {
        Ok(x.par_chunks(CHUNK)
            .map(|c| c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
            .sum())
    })
}
