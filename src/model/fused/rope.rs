//! Rotary position embedding as one op. Its backward is the same rotation by −θ.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Real, contiguous, dispatch};

/// Which coordinates of a head vector rotate together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// `(i, i + d/2)`: Hugging Face checkpoints.
    HalfSplit,
    /// `(2i, 2i + 1)`: GGUF llama weights and the original Llama code.
    Interleaved,
}

#[derive(Clone, Copy)]
struct Rope {
    layout: RopeLayout,
    /// Rotate by −θ (the backward).
    inverse: bool,
}

/// `x`: `[p, heads, d]` for any leading shape whose product is `p` positions (e.g.
/// `[b, t, heads, d]`); `cos`, `sin`: `[p, d/2]`, the angles of each position.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, layout: RopeLayout) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &cos.contiguous()?,
        &sin.contiguous()?,
        Rope {
            layout,
            inverse: false,
        },
    )
}

impl Rope {
    fn run<T: Real>(&self, x: &[T], cos: &[T], sin: &[T], d: usize) -> Vec<T> {
        let half = d / 2;
        let positions = cos.len() / half.max(1);
        let per_position = x.len() / positions.max(1);
        let mut out = vec![T::zero(); x.len()];
        out.par_chunks_mut(per_position)
            .zip(x.par_chunks(per_position))
            .zip(cos.par_chunks(half).zip(sin.par_chunks(half)))
            .with_min_len(8)
            .for_each(|((y, x), (cos, sin))| {
                for (y, x) in y.chunks_mut(d).zip(x.chunks(d)) {
                    for i in 0..half {
                        let (a, b) = match self.layout {
                            RopeLayout::HalfSplit => (i, i + half),
                            RopeLayout::Interleaved => (2 * i, 2 * i + 1),
                        };
                        let (c, s) = (cos[i], if self.inverse { -sin[i] } else { sin[i] });
                        y[a] = x[a] * c - x[b] * s;
                        y[b] = x[b] * c + x[a] * s;
                    }
                }
            });
        out
    }
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        cs: &CpuStorage,
        cl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = xl.dims().last().copied().unwrap_or(0);
        let half = d / 2;
        let positions = cl.shape().elem_count() / half.max(1);
        let ok = d.is_multiple_of(2)
            && d > 0
            && cl.dims() == sl.dims()
            && positions * half == cl.shape().elem_count()
            && positions > 0
            && xl.shape().elem_count().is_multiple_of(positions * d);
        if !ok {
            candle_core::bail!(
                "rope: x {:?} does not match cos {:?} / sin {:?}",
                xl.dims(),
                cl.dims(),
                sl.dims()
            );
        }
        let out = dispatch!(xs, self.name(), |T| {
            let x = contiguous::<T>(xs, xl, self.name())?;
            let cos = contiguous::<T>(cs, cl, self.name())?;
            let sin = contiguous::<T>(ss, sl, self.name())?;
            T::to_cpu_storage_owned(self.run(x, cos, sin, d))
        });
        Ok((out, xl.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let back = Rope {
            inverse: !self.inverse,
            ..*self
        };
        let dx = grad.contiguous()?.apply_op3_no_bwd(cos, sin, &back)?;
        Ok((Some(dx), None, None))
    }
}
