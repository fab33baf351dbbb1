//! Differentiable replacements for candle's fused ops.
//!
//! candle-nn registers `rms_norm`, `softmax_last_dim`, `layer_norm` and the rotary
//! kernels without a backward pass, so gradients silently stop at them (FACTS trap 1).
//! These versions are composed of primitive tensor ops that all have a backward in
//! candle, so autograd flows through them; softmax and log-softmax also have
//! single-kernel CPU versions with a hand-written backward (`fused_softmax`). Half-precision inputs are computed in f32,
//! as transformers does.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, D, DType, Layout, Result, Shape, Tensor};

use super::fused_softmax::{Forward, Kind};

pub use super::fused::lm_head_loss::IGNORE_INDEX;

fn compute_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        other => other,
    }
}

/// `x / sqrt(mean(x², last dim) + eps) * weight`, normalised over the last dim.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(compute_dtype(dtype))?;
    let mean_sq = xf.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = xf.broadcast_div(&(mean_sq + eps)?.sqrt()?)?;
    normed.to_dtype(dtype)?.broadcast_mul(weight)
}

/// Gemma's variant: the stored weight is an offset from one, applied in f32.
pub fn rms_norm_one_plus(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let cdtype = compute_dtype(dtype);
    let xf = x.to_dtype(cdtype)?;
    let mean_sq = xf.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = xf.broadcast_div(&(mean_sq + eps)?.sqrt()?)?;
    let scale = (weight.to_dtype(cdtype)? + 1.0)?;
    normed.broadcast_mul(&scale)?.to_dtype(dtype)
}

/// The single-kernel versions run where they exist (CPU, f32 and f64); elsewhere the
/// composed ones, whose every primitive has a backward.
fn fused_applies(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// Softmax over the last dim.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused_applies(x) {
        return x.contiguous()?.apply_op1(Forward(Kind::Softmax));
    }
    softmax_last_dim_composed(x)
}

/// Log-softmax over the last dim.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused_applies(x) {
        return x.contiguous()?.apply_op1(Forward(Kind::LogSoftmax));
    }
    log_softmax_last_dim_composed(x)
}

/// Softmax from primitives. The max is detached: shifting by a constant does not
/// change the result, so its gradient path is pure cost.
pub fn softmax_last_dim_composed(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let exp = x.broadcast_sub(&max)?.exp()?;
    let sum = exp.sum_keepdim(D::Minus1)?;
    exp.broadcast_div(&sum)
}

/// Log-softmax from primitives (numerically stable).
pub fn log_softmax_last_dim_composed(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&log_sum)
}

/// Softmax of `scores + bias` where `bias` holds 0 for visible and a large negative
/// value for hidden keys (causal, padding, sliding window). Computed in f32 at least.
pub fn masked_softmax(scores: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let dtype = scores.dtype();
    let s = scores.to_dtype(compute_dtype(dtype))?;
    let s = match bias {
        Some(b) => s.broadcast_add(&b.to_dtype(s.dtype())?)?,
        None => s,
    };
    // The single-kernel softmax where it runs: its values and gradients equal the
    // composed op's to float reordering (tests/model/fused.rs), so a seeded run that
    // moves with it moved on rounding, not on a different computation.
    softmax_last_dim(&s)?.to_dtype(dtype)
}

/// Rotary embedding in the half-split layout of Hugging Face checkpoints.
/// `x`: `[b, h, t, d]`; `cos`, `sin`: broadcastable to `[b, h, t, d/2]`.
pub fn rope_half_split(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let half = d / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let first = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
    let second = (x2.broadcast_mul(cos)? + x1.broadcast_mul(sin)?)?;
    Tensor::cat(&[first, second], D::Minus1)
}

/// `silu(gate) * up`, the SwiGLU feed-forward core.
pub fn silu_gated(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.silu()? * up
}

/// Mean cross-entropy over the positions whose target is not `IGNORE_INDEX`.
/// `logits`: `[n, vocab]`; `targets`: `[n]` of i64 (or u32, then nothing is ignored).
/// Returns a scalar in f32 (f64 for f64 logits); zero when every target is ignored.
pub fn cross_entropy_ignore(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (n, _vocab) = logits.dims2()?;
    let targets = targets.to_dtype(DType::I64)?;
    let keep = targets.ne(IGNORE_INDEX)?;
    let safe = keep.where_cond(&targets, &targets.zeros_like()?)?;
    let logits = logits.to_dtype(compute_dtype(logits.dtype()))?;
    let logp = log_softmax_last_dim(&logits)?;
    let picked = logp.gather(&safe.reshape((n, 1))?, 1)?.reshape(n)?;
    let keep_f = keep.to_dtype(picked.dtype())?;
    let count = keep_f.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    let total = (picked * keep_f)?.sum_all()?;
    total.neg()? / count.max(1.0)
}

/// Per-position log-probability of `targets` under `logits`.
/// `logits`: `[b, t, vocab]`, `targets`: `[b, t]` (u32 or i64, no ignore value).
pub fn token_logprobs(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (b, t, _v) = logits.dims3()?;
    let logits = logits.to_dtype(compute_dtype(logits.dtype()))?;
    let logp = log_softmax_last_dim(&logits)?;
    let idx = targets.to_dtype(DType::U32)?.reshape((b, t, 1))?;
    logp.gather(&idx, 2)?.reshape((b, t))
}

/// `x @ w^T` for a frozen `w` whose backward computes only the gradient of `x`.
///
/// candle's matmul backward always computes the gradient of both operands, also of a
/// frozen weight (FACTS trap 6). On the CPU (f32/f64) this is the fused
/// [`super::fused::frozen_linear`] op; elsewhere the product is computed on detached
/// inputs and re-attached to `x` through [`GradToInput`], whose backward is
/// `grad @ w` (it holds the product twice, the op's input and its copy).
/// `x`: `[n, in]`, `w`: `[out, in]`.
pub fn frozen_matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let w = w.detach();
    if !x.track_op() {
        if let Some(product) = super::few_rows::matmul_t(x, &w)? {
            return Ok(product);
        }
        return x.matmul(&w.t()?);
    }
    if super::fused::applies(x) && x.rank() == 2 && x.dtype() == w.dtype() {
        return super::fused::frozen_linear::frozen_linear(x, &w);
    }
    if !(x.device().is_cpu() || x.device().is_cuda()) {
        return x.matmul(&w.t()?);
    }
    let product = x.detach().matmul(&w.t()?)?.contiguous()?;
    x.apply_op2(&product, GradToInput { weight: w })
}

/// Forward: returns its second argument (the precomputed product). Backward: routes
/// the output gradient to the first argument through the frozen weight only.
struct GradToInput {
    weight: Tensor,
}

fn check_fresh(layout: &Layout) -> Result<()> {
    if !layout.is_contiguous() || layout.start_offset() != 0 {
        candle_core::bail!("frozen matmul: product must be contiguous at offset 0");
    }
    Ok(())
}

impl CustomOp2 for GradToInput {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        product: &CpuStorage,
        layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check_fresh(layout)?;
        Ok((product.try_clone(layout)?, layout.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        product: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        check_fresh(layout)?;
        Ok((product.try_clone(layout)?, layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _product: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad_res.matmul(&self.weight)?), None))
    }
}
