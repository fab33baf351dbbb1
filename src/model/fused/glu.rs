//! The gated feed-forward core `act(gate) * up` (SwiGLU, GeGLU) as one op.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Real, contiguous, dispatch, split};
use crate::model::config::Activation;

const MIN_PER_TASK: usize = 4096;

#[derive(Clone, Copy)]
struct Glu(Activation);

/// `act(gate) * up` for same-shaped `gate` and `up`.
pub fn glu(gate: &Tensor, up: &Tensor, act: Activation) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, Glu(act))
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_CUBIC: f64 = 0.044_715;

/// `(act(x), act'(x))`.
fn act_and_slope<T: Real>(act: Activation, x: T) -> (T, T) {
    let one = T::one();
    let half = T::from_f64(0.5);
    match act {
        Activation::Silu => {
            let s = one / (one + (-x).exp());
            (x * s, s * (one + x * (one - s)))
        }
        Activation::GeluTanh => {
            let c = T::from_f64(SQRT_2_OVER_PI);
            let k = T::from_f64(GELU_CUBIC);
            let th = (c * (x + k * x * x * x)).tanh();
            let du = c * (one + T::from_f64(3.0) * k * x * x);
            (
                half * x * (one + th),
                half * (one + th) + half * x * (one - th * th) * du,
            )
        }
        Activation::GeluErf => {
            let xf = x.to_f64();
            let cdf = 0.5 * (1.0 + candle_core::cpu::erf::erf_f64(xf / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * xf * xf).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (x * T::from_f64(cdf), T::from_f64(cdf + xf * pdf))
        }
    }
}

impl Glu {
    fn forward<T: Real>(&self, gate: &[T], up: &[T]) -> Vec<T> {
        let mut out = vec![T::zero(); gate.len()];
        out.par_iter_mut()
            .zip(gate.par_iter().zip(up.par_iter()))
            .with_min_len(MIN_PER_TASK)
            .for_each(|(y, (&g, &u))| *y = act_and_slope(self.0, g).0 * u);
        out
    }

    /// `[dgate..., dup...]`.
    fn backward<T: Real>(&self, gate: &[T], up: &[T], grad: &[T]) -> Vec<T> {
        let n = gate.len();
        let mut out = vec![T::zero(); 2 * n];
        let (dgate, dup) = out.split_at_mut(n);
        dgate
            .par_iter_mut()
            .zip(dup.par_iter_mut())
            .zip(gate.par_iter().zip(up.par_iter()).zip(grad.par_iter()))
            .with_min_len(MIN_PER_TASK)
            .for_each(|((dg, du), ((&g, &u), &o))| {
                let (a, slope) = act_and_slope(self.0, g);
                *dg = o * u * slope;
                *du = o * a;
            });
        out
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
