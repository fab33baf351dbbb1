//! Softmax and log-softmax over the last dim as single CPU kernels with their own
//! backward. Composed from primitives they cost four full-size temporaries forward and
//! more backward; on attention scores and vocabulary logits those passes (and the page
//! faults of the fresh buffers) were the largest cost of a training step after matmul.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows per rayon task: below this, splitting costs more than it saves.
const MIN_ROWS_PER_TASK: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Softmax,
    LogSoftmax,
}

trait Real: Copy + Send + Sync + PartialOrd + std::ops::Sub<Output = Self> {
    const ZERO: Self;
    const NEG_INF: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const NEG_INF: Self = <$t>::NEG_INFINITY;
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn add(self, other: Self) -> Self {
                self + other
            }
            fn mul(self, other: Self) -> Self {
                self * other
            }
            fn div(self, other: Self) -> Self {
                self / other
            }
        }
    };
}
real!(f32);
real!(f64);

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, what: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{what}: input must be contiguous"),
    }
}

fn last_dim(layout: &Layout) -> Result<usize> {
    let dim = layout.dims().last().copied().unwrap_or(1);
    if dim == 0 {
        candle_core::bail!("softmax over an empty last dim");
    }
    Ok(dim)
}

fn forward_rows<T: Real>(x: &[T], dim: usize, kind: Kind) -> Vec<T> {
    let mut out = vec![T::ZERO; x.len()];
    out.par_chunks_mut(dim)
        .zip(x.par_chunks(dim))
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(y, x)| {
            let max = x.iter().fold(T::NEG_INF, |m, &v| if v > m { v } else { m });
            let mut sum = T::ZERO;
            for (y, &v) in y.iter_mut().zip(x) {
                let e = (v - max).exp();
                *y = e;
                sum = sum.add(e);
            }
            match kind {
                Kind::Softmax => y.iter_mut().for_each(|y| *y = y.div(sum)),
                Kind::LogSoftmax => {
                    let log_sum = sum.ln();
                    for (y, &v) in y.iter_mut().zip(x) {
                        *y = v - max - log_sum;
                    }
                }
            }
        });
    out
}

/// Softmax: `dx = y * (g - sum(g * y))`. Log-softmax: `dx = g - exp(y) * sum(g)`.
fn backward_rows<T: Real>(y: &[T], g: &[T], dim: usize, kind: Kind) -> Vec<T> {
    let mut dx = vec![T::ZERO; y.len()];
    dx.par_chunks_mut(dim)
        .zip(y.par_chunks(dim).zip(g.par_chunks(dim)))
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(dx, (y, g))| match kind {
            Kind::Softmax => {
                let dot = y
                    .iter()
                    .zip(g)
                    .fold(T::ZERO, |acc, (&y, &g)| acc.add(y.mul(g)));
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                    *dx = y.mul(g - dot);
                }
            }
            Kind::LogSoftmax => {
                let total = g.iter().fold(T::ZERO, |acc, &g| acc.add(g));
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                    *dx = g - y.exp().mul(total);
                }
            }
        });
    dx
}

/// The forward op; its backward is [`Backward`] applied to the result and gradient.
pub struct Forward(pub Kind);

impl CustomOp1 for Forward {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::Softmax => "fused-softmax",
            Kind::LogSoftmax => "fused-log-softmax",
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dim = last_dim(layout)?;
        let out = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(forward_rows(
                contiguous(x, layout, self.name())?,
                dim,
                self.0,
            )),
            CpuStorage::F64(x) => CpuStorage::F64(forward_rows(
                contiguous(x, layout, self.name())?,
                dim,
                self.0,
            )),
            other => candle_core::bail!("{}: unsupported dtype {:?}", self.name(), other.dtype()),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(res.apply_op2_no_bwd(&grad, &Backward(self.0))?))
    }
}

/// `(y, g) -> dx` for the forward's result `y` and the gradient `g` of the loss in it.
pub struct Backward(pub Kind);

impl CustomOp2 for Backward {
    fn name(&self) -> &'static str {
        "fused-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        y: &CpuStorage,
        y_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if y_layout.dims() != g_layout.dims() {
            candle_core::bail!("softmax backward: result and gradient shapes differ");
        }
        let dim = last_dim(y_layout)?;
        let name = self.name();
        let out = match (y, g) {
            (CpuStorage::F32(y), CpuStorage::F32(g)) => CpuStorage::F32(backward_rows(
                contiguous(y, y_layout, name)?,
                contiguous(g, g_layout, name)?,
                dim,
                self.0,
            )),
            (CpuStorage::F64(y), CpuStorage::F64(g)) => CpuStorage::F64(backward_rows(
                contiguous(y, y_layout, name)?,
                contiguous(g, g_layout, name)?,
                dim,
                self.0,
            )),
            _ => candle_core::bail!("{name}: unsupported or mismatched dtypes"),
        };
        Ok((out, y_layout.shape().clone()))
    }
}
