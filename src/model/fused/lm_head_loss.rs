//! The LM head fused with the cross-entropy: `mean over labelled rows of
//! -log softmax(x · Wᵀ)[target]`, computed over chunks of rows so the
//! `[rows × vocab]` logits never exist at once, and rows without a label cost
//! nothing. The gradients of `x` and `W` are computed during the forward, chunk by
//! chunk (while each chunk's probabilities are at hand), and handed out, scaled by
//! the incoming gradient, in the backward.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Mat, Real, contiguous, dispatch, matmul, vectorised};

/// Label value that the losses skip (PyTorch's convention).
pub const IGNORE_INDEX: i64 = -100;

/// Logits held at once: about this many bytes per chunk of rows.
const CHUNK_BYTES: usize = 32 << 20;

struct LmHeadLoss {
    /// Per row of `x`: the target id, or [`IGNORE_INDEX`].
    targets: Arc<Vec<i64>>,
    count: usize,
    softcap: Option<f64>,
    need_dx: bool,
    need_dw: bool,
    /// `(dx, dw)` of the mean loss, left by the forward for the backward.
    grads: Mutex<Option<(Option<Tensor>, Option<Tensor>)>>,
}

/// Mean cross-entropy of `x · Wᵀ` (soft-capped when `softcap` is set) against
/// `targets` (one per row of `x`; [`IGNORE_INDEX`] rows carry no loss), as a scalar.
/// `x`: `[n, h]`, `weight`: `[vocab, h]`, on the CPU in f32 or f64. Zero when every
/// row is ignored.
pub fn lm_head_loss(
    x: &Tensor,
    weight: &Tensor,
    targets: &[i64],
    softcap: Option<f64>,
) -> Result<Tensor> {
    let (n, _) = x.dims2()?;
    let (vocab, _) = weight.dims2()?;
    if targets.len() != n {
        candle_core::bail!("lm head loss: {} targets for {n} rows", targets.len());
    }
    if let Some(bad) = targets
        .iter()
        .find(|&&t| t != IGNORE_INDEX && !(0..vocab as i64).contains(&t))
    {
        candle_core::bail!("lm head loss: target {bad} outside the vocabulary of {vocab}");
    }
    let op = LmHeadLoss {
        targets: Arc::new(targets.to_vec()),
        count: targets.iter().filter(|&&t| t != IGNORE_INDEX).count(),
        softcap,
        need_dx: x.track_op(),
        need_dw: weight.track_op(),
        grads: Mutex::new(None),
    };
    x.contiguous()?.apply_op2(&weight.contiguous()?, op)
}

/// One chunk's logits in place: the loss of each row summed, and, when `grads`,
/// each row turned into the gradient of the mean loss in its logits.
fn rows_loss<T: Real>(
    logits: &mut [T],
    targets: &[i64],
    vocab: usize,
    (softcap, inv_count, grads): (Option<f64>, f64, bool),
) -> f64 {
    logits
        .par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(row, &target)| {
            if let Some(cap) = softcap {
                let cap = T::from_f64(cap);
                row.iter_mut().for_each(|l| *l = (*l / cap).tanh() * cap);
            }
            let max = vectorised::max(row);
            let target = target as usize;
            let target_logit = row[target];
            if let Some(cap) = softcap {
                // The capped logits are needed again for the slope of the cap.
                let sum = row
                    .iter()
                    .fold(T::zero(), |acc, &v| acc + (v - max).exp_inline());
                let lse = max + sum.ln();
                if grads {
                    let scale = T::from_f64(inv_count);
                    let cap = T::from_f64(cap);
                    for (j, l) in row.iter_mut().enumerate() {
                        let p = (*l - lse).exp_inline();
                        let hot = if j == target { T::one() } else { T::zero() };
                        let th = *l / cap;
                        *l = (p - hot) * scale * (T::one() - th * th);
                    }
                }
                return (lse - target_logit).to_f64();
            }
            // Without a cap the row is overwritten by its exponentials, each taken once.
            for l in row.iter_mut() {
                *l = (*l - max).exp_inline();
            }
            let sum = vectorised::sum(row);
            let lse = max + sum.ln();
            if grads {
                let scale = T::from_f64(inv_count) / sum;
                for l in row.iter_mut() {
                    *l *= scale;
                }
                row[target] -= T::from_f64(inv_count);
            }
            (lse - target_logit).to_f64()
        })
        .sum()
}

fn wrap<T: Real>(v: Option<Vec<T>>, shape: &[usize]) -> Result<Option<Tensor>> {
    v.map(|v| Tensor::from_vec(v, shape, &Device::Cpu))
        .transpose()
}

struct Outputs<T> {
    loss: f64,
    dx: Option<Vec<T>>,
    dw: Option<Vec<T>>,
}

impl LmHeadLoss {
    fn run<T: Real>(&self, x: &[T], w: &[T], h: usize) -> Outputs<T> {
        let vocab = w.len() / h.max(1);
        let kept: Vec<usize> = (0..self.targets.len())
            .filter(|&i| self.targets[i] != IGNORE_INDEX)
            .collect();
        let grads = self.need_dx || self.need_dw;
        let inv_count = 1.0 / self.count.max(1) as f64;
        let chunk = (CHUNK_BYTES / (vocab * std::mem::size_of::<T>()).max(1)).clamp(16, 4096);
        let mut dx = self.need_dx.then(|| vec![T::zero(); x.len()]);
        let mut dw = self.need_dw.then(|| vec![T::zero(); w.len()]);
        let mut logits = vec![T::zero(); chunk.min(kept.len()) * vocab];
        let mut rows = vec![T::zero(); chunk.min(kept.len()) * h];
        let mut drows = vec![T::zero(); chunk.min(kept.len()) * h];
        let mut loss = 0.0;
        for (c, ids) in kept.chunks(chunk).enumerate() {
            let m = ids.len();
            for (dst, &i) in rows.chunks_mut(h).zip(ids) {
                dst.copy_from_slice(&x[i * h..(i + 1) * h]);
            }
            let xs = Mat::rows(&rows[..m * h], h);
            matmul(
                (m, vocab, h),
                &mut logits,
                vocab,
                xs,
                Mat::transposed(w, h),
                false,
                true,
            );
            let targets: Vec<i64> = ids.iter().map(|&i| self.targets[i]).collect();
            let logits = &mut logits[..m * vocab];
            loss += rows_loss(logits, &targets, vocab, (self.softcap, inv_count, grads));
            let g = Mat::rows(&logits[..], vocab);
            if let Some(dx) = dx.as_mut() {
                matmul(
                    (m, h, vocab),
                    &mut drows,
                    h,
                    g,
                    Mat::rows(w, h),
                    false,
                    true,
                );
                for (src, &i) in drows.chunks(h).zip(ids) {
                    dx[i * h..(i + 1) * h].copy_from_slice(src);
                }
            }
            if let Some(dw) = dw.as_mut() {
                let g_t = Mat::transposed(&logits[..], vocab);
                matmul((vocab, h, m), dw, h, g_t, xs, c > 0, true);
            }
        }
        Outputs {
            loss: loss * inv_count,
            dx,
            dw,
        }
    }
}

impl CustomOp2 for LmHeadLoss {
    fn name(&self) -> &'static str {
        "fused-lm-head-loss"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, h) = xl.shape().dims2()?;
        let (_, wh) = wl.shape().dims2()?;
        if wh != h || n != self.targets.len() {
            candle_core::bail!("lm head loss: x {:?} and weight {:?}", xl.dims(), wl.dims());
        }
        let loss = dispatch!(xs, self.name(), |T| {
            let x = contiguous::<T>(xs, xl, self.name())?;
            let w = contiguous::<T>(ws, wl, self.name())?;
            let out = self.run(x, w, h);
            let mut saved = self
                .grads
                .lock()
                .map_err(|_| candle_core::Error::Msg("lm head loss: poisoned lock".into()))?;
            *saved = Some((wrap(out.dx, xl.dims())?, wrap(out.dw, wl.dims())?));
            T::to_cpu_storage_owned(vec![T::from_f64(out.loss)])
        });
        Ok((loss, Shape::from(())))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = self
            .grads
            .lock()
            .map_err(|_| candle_core::Error::Msg("lm head loss: poisoned lock".into()))?
            .clone()
            .ok_or_else(|| candle_core::Error::Msg("lm head loss: no forward ran".into()))?;
        let g = grad.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let scale = |t: Option<Tensor>| -> Result<Option<Tensor>> {
            match t {
                Some(t) if g != 1.0 => Ok(Some((t * g)?)),
                other => Ok(other),
            }
        };
        Ok((scale(dx)?, scale(dw)?))
    }
}
