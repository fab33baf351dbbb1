//! `x · Wᵀ` for a trained `W` as one op. candle's matmul of `x` with the transposed
//! view `W.t()` adds a transpose node to the graph, and its backward builds `dW` as
//! `[in, out]`, adds it to zeros, transposes it back and adds that strided view to
//! zeros again; here `dW = gᵀ · x` is written `[out, in]` directly.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::{Mat, Real, contiguous, dispatch, matmul, split};

struct Linear;

/// `x`: `[n, in]`, `weight`: `[out, in]`, on the CPU in f32 or f64.
pub fn linear(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&weight.contiguous()?, Linear)
}

fn dims(xl: &Layout, wl: &Layout) -> Result<(usize, usize, usize)> {
    let (n, k) = xl.shape().dims2()?;
    let (out, wk) = wl.shape().dims2()?;
    if wk != k {
        candle_core::bail!("linear: x {:?} and weight {:?}", xl.dims(), wl.dims());
    }
    Ok((n, k, out))
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, k, out) = dims(xl, wl)?;
        let y = dispatch!(xs, self.name(), |T| {
            let x = contiguous::<T>(xs, xl, self.name())?;
            let w = contiguous::<T>(ws, wl, self.name())?;
            let mut y = vec![<T as num_traits::Zero>::zero(); n * out];
            let (xm, wt) = (Mat::rows(x, k), Mat::transposed(w, k));
            matmul((n, out, k), &mut y, out, xm, wt, false, true);
            T::to_cpu_storage_owned(y)
        });
        Ok((y, Shape::from((n, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let back = Backward {
            dx: x.track_op(),
            dw: w.track_op(),
        };
        let flat = x.apply_op3_no_bwd(w, &grad.contiguous()?, &back)?;
        let parts = split(&flat, &[x.dims(), w.dims()])?;
        Ok((
            back.dx.then(|| parts[0].clone()),
            back.dw.then(|| parts[1].clone()),
        ))
    }
}

/// `(x, W, g) -> [dx = g·W ..., dW = gᵀ·x ...]`, each part only when asked for (zeros
/// otherwise).
struct Backward {
    dx: bool,
    dw: bool,
}

impl Backward {
    fn run<T: Real>(
        &self,
        x: &[T],
        w: &[T],
        g: &[T],
        (n, k, out): (usize, usize, usize),
    ) -> Vec<T> {
        let mut flat = vec![T::zero(); n * k + out * k];
        let (dx, dw) = flat.split_at_mut(n * k);
        if self.dx {
            matmul(
                (n, k, out),
                dx,
                k,
                Mat::rows(g, out),
                Mat::rows(w, k),
                false,
                true,
            );
        }
        if self.dw {
            let g_t = Mat::transposed(g, out);
            matmul((out, k, n), dw, k, g_t, Mat::rows(x, k), false, true);
        }
        flat
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "fused-linear-backward"
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
        let d = dims(xl, wl)?;
        let len = xl.shape().elem_count() + wl.shape().elem_count();
        let out = dispatch!(xs, self.name(), |T| {
            let x = contiguous::<T>(xs, xl, self.name())?;
            let w = contiguous::<T>(ws, wl, self.name())?;
            let g = contiguous::<T>(gs, gl, self.name())?;
            T::to_cpu_storage_owned(self.run(x, w, g, d))
        });
        Ok((out, Shape::from(len)))
    }
}
