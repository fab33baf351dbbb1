//! A LoRA linear layer as one op: `y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ` with `W` frozen.
//!
//! Composed, the graph holds the frozen product, the low-rank product, its scaled
//! copy and the sum (four `[n, out]` tensors per adapted layer, and an edge of zeros
//! and adds for each); here it holds the output only. The backward gives `dx`, `dA`
//! and `dB`, never a gradient of `W`.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::{Mat, Real, contiguous, dispatch, matmul, split, with_cpu};

#[derive(Clone)]
struct LoraLinear {
    /// `[out, in]`, frozen.
    weight: Tensor,
    scale: f64,
}

/// `x`: `[n, in]`, `a`: `[r, in]`, `b`: `[out, r]`, `weight`: `[out, in]` (frozen);
/// all on the CPU in one float type. No dropout: callers with dropout compose.
pub fn lora_linear(
    x: &Tensor,
    weight: &Tensor,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
) -> Result<Tensor> {
    let op = LoraLinear {
        weight: weight.detach().contiguous()?,
        scale,
    };
    x.contiguous()?
        .apply_op3(&a.contiguous()?, &b.contiguous()?, op)
}

struct Dims {
    n: usize,
    input: usize,
    rank: usize,
    out: usize,
}

impl LoraLinear {
    fn dims(&self, xl: &Layout, al: &Layout, bl: &Layout) -> Result<Dims> {
        let (n, input) = xl.shape().dims2()?;
        let (rank, a_in) = al.shape().dims2()?;
        let (out, b_rank) = bl.shape().dims2()?;
        let (w_out, w_in) = self.weight.dims2()?;
        if a_in != input || b_rank != rank || w_out != out || w_in != input {
            candle_core::bail!(
                "lora linear: x {:?}, A {:?}, B {:?}, W {:?}",
                xl.dims(),
                al.dims(),
                bl.dims(),
                self.weight.dims()
            );
        }
        Ok(Dims {
            n,
            input,
            rank,
            out,
        })
    }

    /// `s · x · Aᵀ`, `[n, r]`.
    fn low<T: Real>(&self, d: &Dims, x: &[T], a: &[T]) -> Vec<T> {
        let mut low = vec![T::zero(); d.n * d.rank];
        let a_t = Mat::transposed(a, d.input);
        matmul(
            (d.n, d.rank, d.input),
            &mut low,
            d.rank,
            Mat::rows(x, d.input),
            a_t,
            false,
            true,
        );
        let s = T::from_f64(self.scale);
        low.iter_mut().for_each(|v| *v *= s);
        low
    }

    fn forward<T: Real>(&self, d: &Dims, x: &[T], a: &[T], b: &[T], w: &[T]) -> Vec<T> {
        let mut y = vec![T::zero(); d.n * d.out];
        let xs = Mat::rows(x, d.input);
        matmul(
            (d.n, d.out, d.input),
            &mut y,
            d.out,
            xs,
            Mat::transposed(w, d.input),
            false,
            true,
        );
        let low = self.low(d, x, a);
        let b_t = Mat::transposed(b, d.rank);
        matmul(
            (d.n, d.out, d.rank),
            &mut y,
            d.out,
            Mat::rows(&low, d.rank),
            b_t,
            true,
            true,
        );
        y
    }

    /// `[dx..., dA..., dB...]` for the output gradient `g`.
    fn backward<T: Real>(&self, d: &Dims, x: &[T], a: &[T], w: &[T], g: &[T], b: &[T]) -> Vec<T> {
        let (n, input, rank, out) = (d.n, d.input, d.rank, d.out);
        let mut flat = vec![T::zero(); n * input + rank * input + out * rank];
        let (dx, rest) = flat.split_at_mut(n * input);
        let (da, db) = rest.split_at_mut(rank * input);
        let gs = Mat::rows(g, out);
        // dB = gᵀ · (s x Aᵀ)
        let low = self.low(d, x, a);
        matmul(
            (out, rank, n),
            db,
            rank,
            Mat::transposed(g, out),
            Mat::rows(&low, rank),
            false,
            true,
        );
        // d(low) = s · g · B, then dA = d(low)ᵀ · x and dx = g · W + d(low) · A.
        let mut dlow = vec![T::zero(); n * rank];
        matmul(
            (n, rank, out),
            &mut dlow,
            rank,
            gs,
            Mat::rows(b, rank),
            false,
            true,
        );
        let s = T::from_f64(self.scale);
        dlow.iter_mut().for_each(|v| *v *= s);
        let xs = Mat::rows(x, input);
        matmul(
            (rank, input, n),
            da,
            input,
            Mat::transposed(&dlow, rank),
            xs,
            false,
            true,
        );
        matmul(
            (n, input, out),
            dx,
            input,
            gs,
            Mat::rows(w, input),
            false,
            true,
        );
        matmul(
            (n, input, rank),
            dx,
            input,
            Mat::rows(&dlow, rank),
            Mat::rows(a, input),
            true,
            true,
        );
        flat
    }
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "fused-lora-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = self.dims(xl, al, bl)?;
        let y = with_cpu(&self.weight, self.name(), |ws, wl| {
            Ok(dispatch!(xs, self.name(), |T| {
                let x = contiguous::<T>(xs, xl, self.name())?;
                let a = contiguous::<T>(as_, al, self.name())?;
                let b = contiguous::<T>(bs, bl, self.name())?;
                let w = contiguous::<T>(ws, wl, self.name())?;
                T::to_cpu_storage_owned(self.forward(&d, x, a, b, w))
            }))
        })?;
        Ok((y, Shape::from((d.n, d.out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let back = Backward {
            fwd: self.clone(),
            grad: grad.contiguous()?,
        };
        let flat = x.apply_op3_no_bwd(a, b, &back)?;
        let parts = split(&flat, &[x.dims(), a.dims(), b.dims()])?;
        Ok((
            x.track_op().then(|| parts[0].clone()),
            a.track_op().then(|| parts[1].clone()),
            b.track_op().then(|| parts[2].clone()),
        ))
    }
}

struct Backward {
    fwd: LoraLinear,
    grad: Tensor,
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "fused-lora-linear-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = self.fwd.dims(xl, al, bl)?;
        let len = d.n * d.input + d.rank * d.input + d.out * d.rank;
        let name = self.name();
        let out = with_cpu(&self.fwd.weight, name, |ws, wl| {
            with_cpu(&self.grad, name, |gs, gl| {
                Ok(dispatch!(xs, name, |T| {
                    let x = contiguous::<T>(xs, xl, name)?;
                    let a = contiguous::<T>(as_, al, name)?;
                    let b = contiguous::<T>(bs, bl, name)?;
                    let w = contiguous::<T>(ws, wl, name)?;
                    let g = contiguous::<T>(gs, gl, name)?;
                    T::to_cpu_storage_owned(self.fwd.backward(&d, x, a, w, g, b))
                }))
            })
        })?;
        Ok((out, Shape::from(len)))
    }
}
