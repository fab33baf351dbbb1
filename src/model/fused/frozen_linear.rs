//! `x · Wᵀ` for a frozen `W` (LoRA's base projection) as one op on `x`: its backward
//! gives only `dx = g · W`. The graph holds the input and the product once; no weight
//! gradient is computed and no copy of the product is kept.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::{Mat, Real, dispatch, matmul, with_cpu};

struct FrozenLinear {
    /// `[out, in]`, detached.
    weight: Tensor,
}

/// `x`: `[n, in]`, `weight`: `[out, in]` (contiguous after this call), on the CPU.
pub fn frozen_linear(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let weight = weight.detach().contiguous()?;
    x.apply_op1(FrozenLinear { weight })
}

fn project<T: Real>(x: &[T], xl: &Layout, w: &[T], (n, k, out): (usize, usize, usize)) -> Vec<T> {
    let stride = xl.stride();
    let lhs = Mat {
        data: &x[xl.start_offset()..],
        row_stride: stride[0],
        col_stride: stride[1],
    };
    let mut y = vec![T::zero(); n * out];
    matmul(
        (n, out, k),
        &mut y,
        out,
        lhs,
        Mat::transposed(w, k),
        false,
        true,
    );
    y
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "fused-frozen-linear"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, k) = xl.shape().dims2()?;
        let (out, wk) = self.weight.dims2()?;
        if wk != k {
            candle_core::bail!("frozen linear: x has {k} features, the weight {wk}");
        }
        let y = with_cpu(&self.weight, self.name(), |ws, wl| {
            Ok(dispatch!(xs, self.name(), |T| {
                let x = T::cpu_storage_as_slice(xs)?;
                let w = super::contiguous::<T>(ws, wl, self.name())?;
                T::to_cpu_storage_owned(project(x, xl, w, (n, k, out)))
            }))
        })?;
        Ok((y, Shape::from((n, out))))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}
