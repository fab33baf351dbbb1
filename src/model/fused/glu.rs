//! The gated feed-forward core `act(gate) * up` (SwiGLU, GeGLU) as one op.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Real, contiguous, dispatch, split};
use crate::model::config::Activation;

/// Elements per rayon task.
const CHUNK: usize = 4096;

#[derive(Clone, Copy)]
struct Glu(Activation);

/// `act(gate) * up` for same-shaped `gate` and `up`.
pub fn glu(gate: &Tensor, up: &Tensor, act: Activation) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, Glu(act))
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_CUBIC: f64 = 0.044_715;

/// `(silu(x), silu'(x))`. Each activation is its own function, inlined into its own
/// copy of the loops below, so that the SiLU loops vectorise (a `match` inside the
/// loop, with libm calls in its other arms, kept them scalar).
#[inline(always)]
fn silu<T: Real>(x: T) -> (T, T) {
    let one = T::one();
    let s = one / (one + (-x).exp_inline());
    (x * s, s * (one + x * (one - s)))
}

#[inline(always)]
fn gelu_tanh<T: Real>(x: T) -> (T, T) {
    let one = T::one();
    let half = T::from_f64(0.5);
    let c = T::from_f64(SQRT_2_OVER_PI);
    let k = T::from_f64(GELU_CUBIC);
    let th = (c * (x + k * x * x * x)).tanh();
    let du = c * (one + T::from_f64(3.0) * k * x * x);
    (
        half * x * (one + th),
        half * (one + th) + half * x * (one - th * th) * du,
    )
}

#[inline(always)]
fn gelu_erf<T: Real>(x: T) -> (T, T) {
    let xf = x.to_f64();
    let cdf = 0.5 * (1.0 + candle_core::cpu::erf::erf_f64(xf / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * xf * xf).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (x * T::from_f64(cdf), T::from_f64(cdf + xf * pdf))
}

fn forward_with<T: Real>(gate: &[T], up: &[T], act: impl Fn(T) -> (T, T) + Sync) -> Vec<T> {
    let mut out = vec![T::zero(); gate.len()];
    out.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .for_each(|(out, (gate, up))| {
            for ((y, &g), &u) in out.iter_mut().zip(gate).zip(up) {
                *y = act(g).0 * u;
            }
        });
    out
}

/// `[dgate..., dup...]`.
fn backward_with<T: Real>(
    (gate, up, grad): (&[T], &[T], &[T]),
    act: impl Fn(T) -> (T, T) + Sync,
) -> Vec<T> {
    let n = gate.len();
    let mut out = vec![T::zero(); 2 * n];
    let (dgate, dup) = out.split_at_mut(n);
    let chunks = |x| <[T]>::par_chunks(x, CHUNK);
    dgate
        .par_chunks_mut(CHUNK)
        .zip(dup.par_chunks_mut(CHUNK))
        .zip(chunks(gate).zip(chunks(up)).zip(chunks(grad)))
        .for_each(|((dgate, dup), ((gate, up), grad))| {
            let inputs = gate.iter().zip(up).zip(grad);
            for ((dg, du), ((&g, &u), &o)) in dgate.iter_mut().zip(dup).zip(inputs) {
                let (a, slope) = act(g);
                *dg = o * u * slope;
                *du = o * a;
            }
        });
    out
}

impl Glu {
    fn forward<T: Real>(&self, gate: &[T], up: &[T]) -> Vec<T> {
        match self.0 {
            Activation::Silu => forward_with(gate, up, silu),
            Activation::GeluTanh => forward_with(gate, up, gelu_tanh),
            Activation::GeluErf => forward_with(gate, up, gelu_erf),
        }
    }

    /// `[dgate..., dup...]`.
    fn backward<T: Real>(&self, gate: &[T], up: &[T], grad: &[T]) -> Vec<T> {
        let inputs = (gate, up, grad);
        match self.0 {
            Activation::Silu => backward_with(inputs, silu),
            Activation::GeluTanh => backward_with(inputs, gelu_tanh),
            Activation::GeluErf => backward_with(inputs, gelu_erf),
        }
    }
}

impl CustomOp2 for Glu {
    fn name(&self) -> &'static str {
        "fused-glu"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        us: &CpuStorage,
        ul: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if gl.dims() != ul.dims() {
            candle_core::bail!("glu: gate {:?} and up {:?} differ", gl.dims(), ul.dims());
        }
        let out = dispatch!(gs, self.name(), |T| {
            let g = contiguous::<T>(gs, gl, self.name())?;
            let u = contiguous::<T>(us, ul, self.name())?;
            T::to_cpu_storage_owned(self.forward(g, u))
        });
        Ok((out, gl.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let flat = gate.apply_op3_no_bwd(up, &grad.contiguous()?, &Backward(*self))?;
        let parts = split(&flat, &[gate.dims(), up.dims()])?;
        let dgate = gate.track_op().then(|| parts[0].clone());
        let dup = up.track_op().then(|| parts[1].clone());
        Ok((dgate, dup))
    }
}

struct Backward(Glu);

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "fused-glu-backward"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        us: &CpuStorage,
        ul: &Layout,
        os: &CpuStorage,
        ol: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = dispatch!(gs, self.name(), |T| {
            let g = contiguous::<T>(gs, gl, self.name())?;
            let u = contiguous::<T>(us, ul, self.name())?;
            let o = contiguous::<T>(os, ol, self.name())?;
            T::to_cpu_storage_owned(self.0.backward(g, u, o))
        });
        Ok((out, Shape::from(2 * gl.shape().elem_count())))
    }
}
