//! The AdamW update of one f32 parameter on the CPU, written in place into the
//! parameter and its moments: nothing is allocated, so a step of a large model does
//! not page-fault fresh buffers for three copies of its weights (that alone made the
//! optimiser 1.95 s of a SmolLM2 step at one thread, against PyTorch's 0.50 s).
//!
//! Written with tensor ops, an update is about a dozen whole-tensor passes, each
//! allocating its result; on SmolLM2 that made the optimiser 4.4 s of a step PyTorch
//! does in 1.6 s. Every element here goes through exactly the f32 operations those
//! tensor ops perform, in the same order (candle's scalar ops are `x * mul + add`
//! with the scalars cast to f32), so the result is bit-identical to the composed
//! update and seeded runs, checkpoints and resumes are unchanged.

use candle_core::{
    CpuStorage, DType, Device, InplaceOp1, InplaceOp2, InplaceOp3, Layout, Result, Storage, Tensor,
    Var,
};
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
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout)?),
        _ => candle_core::bail!("adamw: expected an f32 CPU tensor"),
    }
}

/// Updates `param`, `m` and `v` in place. The moments must belong to the optimiser
/// alone: anything else sharing their storage sees them change.
pub fn update(param: &Var, grad: &Tensor, m: &Tensor, v: &Tensor, s: StepScalars) -> Result<()> {
    let n = param.shape().elem_count();
    if [grad.elem_count(), m.elem_count(), v.elem_count()] != [n; 3] {
        candle_core::bail!("adamw: parameter and state sizes differ");
    }
    let grad = grad.to_dtype(DType::F32)?;
    let f = |x: f64| x as f32;
    m.inplace_op2(
        &grad,
        &MomentPass {
            keep: f(s.beta1),
            take: f(1.0 - s.beta1),
            squared: false,
        },
    )?;
    v.inplace_op2(
        &grad,
        &MomentPass {
            keep: f(s.beta2),
            take: f(1.0 - s.beta2),
            squared: true,
        },
    )?;
    param.as_tensor().inplace_op3(
        m,
        v,
        &ParamPass {
            inv_bias1: f(1.0 / s.bias1),
            inv_bias2: f(1.0 / s.bias2),
            eps: f(s.eps),
            lr: f(s.lr),
            keep: s.decay.map(|wd| f(1.0 - s.lr * wd)),
        },
    )
}

/// The contiguous f32 elements of a CPU storage at `layout`.
fn slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("adamw: tensor not contiguous".into()))?;
    match storage {
        CpuStorage::F32(data) => Ok(&data[start..end]),
        _ => candle_core::bail!("adamw: expected an f32 CPU tensor"),
    }
}

fn slice_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("adamw: tensor not contiguous".into()))?;
    match storage {
        CpuStorage::F32(data) => Ok(&mut data[start..end]),
        _ => candle_core::bail!("adamw: expected an f32 CPU tensor"),
    }
}

/// `moment = moment · keep + g · take` (or `g²` for the second moment).
struct MomentPass {
    keep: f32,
    take: f32,
    squared: bool,
}

impl MomentPass {
    #[inline(always)]
    fn blend(&self, moment: &mut [f32], grad: &[f32], fresh: impl Fn(f32) -> f32) {
        for (m, &g) in moment.iter_mut().zip(grad) {
            *m = (*m * self.keep + 0.0) + (fresh(g) * self.take + 0.0);
        }
    }
}

impl InplaceOp2 for MomentPass {
    fn name(&self) -> &'static str {
        "adamw-moment"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let moment = slice_mut(s1, l1)?;
        let grad = slice(s2, l2)?;
        moment
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .for_each(|(moment, grad)| {
                // One loop per kind of moment: a branch inside the loop keeps it scalar.
                if self.squared {
                    self.blend(moment, grad, |g| g * g)
                } else {
                    self.blend(moment, grad, |g| g)
                }
            });
        Ok(())
    }
}

/// The parameter's step from the already updated moments.
struct ParamPass {
    inv_bias1: f32,
    inv_bias2: f32,
    eps: f32,
    lr: f32,
    /// `1 − lr · weight_decay` when the parameter decays.
    keep: Option<f32>,
}

impl ParamPass {
    #[inline(always)]
    fn update(&self, param: &mut [f32], (m, v): (&[f32], &[f32]), decay: impl Fn(f32) -> f32) {
        for ((p, &m), &v) in param.iter_mut().zip(m).zip(v) {
            let m_hat = m * self.inv_bias1 + 0.0;
            let v_hat = v * self.inv_bias2 + 0.0;
            let step = m_hat / (v_hat.sqrt() * 1.0 + self.eps);
            *p = decay(*p) - (step * self.lr + 0.0);
        }
    }
}

impl InplaceOp3 for ParamPass {
    fn name(&self) -> &'static str {
        "adamw-param"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let param = slice_mut(s1, l1)?;
        let (m, v) = (slice(s2, l2)?, slice(s3, l3)?);
        param
            .par_chunks_mut(CHUNK)
            .zip(m.par_chunks(CHUNK))
            .zip(v.par_chunks(CHUNK))
            .for_each(|((param, m), v)| {
                // With decay and without, each loop free of branches so it vectorises.
                match self.keep {
                    Some(keep) => self.update(param, (m, v), |p| p * keep + 0.0),
                    None => self.update(param, (m, v), |p| p),
                }
            });
        Ok(())
    }
}

/// Multiplies a contiguous f32 CPU tensor by `factor` in its own storage, with the
/// arithmetic of `affine(factor, 0.0)` (`x · factor + 0`, both cast to f32), so the
/// result is bit-identical to it. Whatever shares the storage sees the change.
/// Returns false, touching nothing, for any other tensor.
pub fn scale_in_place(t: &Tensor, factor: f64) -> Result<bool> {
    if !matches!(t.device(), Device::Cpu) || t.dtype() != DType::F32 || !t.is_contiguous() {
        return Ok(false);
    }
    t.inplace_op1(&Scale(factor as f32))?;
    Ok(true)
}

struct Scale(f32);

impl InplaceOp1 for Scale {
    fn name(&self) -> &'static str {
        "adamw-scale"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> Result<()> {
        let factor = self.0;
        slice_mut(s, l)?
            .par_chunks_mut(CHUNK)
            .for_each(|chunk| chunk.iter_mut().for_each(|x| *x = *x * factor + 0.0));
        Ok(())
    }
}

/// Sum of squares of an f32 CPU tensor in one pass, accumulated in f64.
pub fn sum_squares(t: &Tensor) -> Result<f64> {
    with_f32(t, |x| Ok(x.par_chunks(CHUNK).map(chunk_sum_squares).sum()))
}

/// Eight running sums, so the loop vectorises where one f64 sum is a chain of
/// dependent adds (about 0.2 s over SmolLM2's 135M gradients at one thread).
fn chunk_sum_squares(chunk: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut eights = chunk.chunks_exact(8);
    for eight in &mut eights {
        for (lane, &v) in lanes.iter_mut().zip(eight) {
            *lane += f64::from(v) * f64::from(v);
        }
    }
    let tail: f64 = eights
        .remainder()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    lanes.iter().sum::<f64>() + tail
}
