//! RMSNorm over the last dim, `x / sqrt(mean(x²) + eps) * w` (or `* (1 + w)`, Gemma),
//! with gradients for both `x` and the weight from one backward pass.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Real, contiguous, dispatch, split, vectorised};

/// Rows per rayon task: below this, splitting costs more than it saves.
const MIN_ROWS_PER_TASK: usize = 32;

#[derive(Clone, Copy)]
struct RmsNorm {
    eps: f64,
    one_plus: bool,
    /// Whether the backward computes the weight's gradient (a frozen weight has none).
    weight_grad: bool,
}

/// `x`: `[.., d]`, `weight`: `[d]`, both f32 or f64 on the CPU (see [`super::applies`]).
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64, one_plus: bool) -> Result<Tensor> {
    let x = x.contiguous()?;
    let weight = weight.contiguous()?;
    let weight_grad = weight.track_op();
    x.apply_op2(
        &weight,
        RmsNorm {
            eps,
            one_plus,
            weight_grad,
        },
    )
}

impl RmsNorm {
    /// The weight as it multiplies: `w`, or Gemma's `1 + w`.
    fn scales<T: Real>(&self, w: &[T]) -> Vec<T> {
        w.iter()
            .map(|&w| if self.one_plus { T::one() + w } else { w })
            .collect()
    }

    fn forward<T: Real>(&self, x: &[T], w: &[T]) -> Vec<T> {
        let d = w.len();
        let eps = T::from_f64(self.eps);
        let inv_d = T::from_f64(1.0 / d as f64);
        let w = self.scales(w);
        let mut out = vec![T::zero(); x.len()];
        out.par_chunks_mut(d)
            .zip(x.par_chunks(d))
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(y, x)| {
                let r = T::one() / (vectorised::dot(x, x) * inv_d + eps).sqrt();
                for ((y, &x), &w) in y.iter_mut().zip(x).zip(&w) {
                    *y = x * r * w;
                }
            });
        out
    }

    /// `[dx..., dw...]`: `dx = r (g w' - x̂ mean(g w' x̂))`, `dw = Σ_rows g x̂`.
    fn backward<T: Real>(&self, x: &[T], w: &[T], g: &[T]) -> Vec<T> {
        let d = w.len();
        let rows = x.len() / d.max(1);
        let eps = T::from_f64(self.eps);
        let inv_d = T::from_f64(1.0 / d as f64);
        let w = self.scales(w);
        let mut out = vec![T::zero(); x.len() + d];
        let (dx, dw) = out.split_at_mut(x.len());
        let partial_dw = dx
            .par_chunks_mut(d)
            .zip(x.par_chunks(d).zip(g.par_chunks(d)))
            .with_min_len(MIN_ROWS_PER_TASK)
            .fold(
                || vec![T::zero(); d],
                |mut acc, (dx, (x, g))| {
                    let r = T::one() / (vectorised::dot(x, x) * inv_d + eps).sqrt();
                    // g·w' first, kept in dx, so that both sums below are dot products.
                    for ((dx, &g), &w) in dx.iter_mut().zip(g).zip(&w) {
                        *dx = g * w;
                    }
                    let mean = vectorised::dot(dx, x) * r * inv_d;
                    // The weight's gradient is summed even when frozen: a branch here
                    // would keep the loop from vectorising, and it is dropped below.
                    for (((dx, &x), &g), acc) in dx.iter_mut().zip(x).zip(g).zip(acc.iter_mut()) {
                        let xhat = x * r;
                        *dx = r * (*dx - xhat * mean);
                        *acc += g * xhat;
                    }
                    acc
                },
            )
            .collect::<Vec<_>>();
        if self.weight_grad {
            for part in partial_dw {
                for (dw, p) in dw.iter_mut().zip(part) {
                    *dw += p;
                }
            }
        }
        debug_assert_eq!(rows * d, x.len());
        out
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = xl.dims().last().copied().unwrap_or(0);
        if wl.dims() != [d] {
            candle_core::bail!("rms norm: weight {:?} for rows of {d}", wl.dims());
        }
        let out = dispatch!(xs, self.name(), |T| {
            let x = contiguous::<T>(xs, xl, self.name())?;
            let w = contiguous::<T>(ws, wl, self.name())?;
            T::to_cpu_storage_owned(self.forward(x, w))
        });
        Ok((out, xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let flat = x.apply_op3_no_bwd(weight, &grad, &Backward(*self))?;
        let d = weight.elem_count();
        let parts = split(&flat, &[x.dims(), &[d]])?;
        let dx = x.track_op().then(|| parts[0].clone());
        let dw = self.weight_grad.then(|| parts[1].clone());
        Ok((dx, dw))
    }
}

struct Backward(RmsNorm);

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "fused-rms-norm-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let len = xl.shape().elem_count() + wl.shape().elem_count();
        let out = dispatch!(xs, self.name(), |T| {
            let x = contiguous::<T>(xs, xl, self.name())?;
            let w = contiguous::<T>(ws, wl, self.name())?;
            let g = contiguous::<T>(gs, gl, self.name())?;
            T::to_cpu_storage_owned(self.0.backward(x, w, g))
        });
        Ok((out, Shape::from(len)))
    }
}
