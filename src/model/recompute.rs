//! Activation recomputation per decoder block (`memory = "recompute"`).
//!
//! The forward runs the block and keeps only its output; the graph gets one node
//! ([`Graft`]) from the block's input to that output. Its backward runs the block
//! again with autograd, pushes the output gradient through it, returns the input's
//! gradient and leaves the weights' gradients with [`Inject`] nodes, which sit between
//! the weights and the graft (on a one-element tensor) so candle's backward reaches
//! them after the graft and hands those gradients to the weights.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, TensorId, Var};

use super::attention::{LayerMask, Pass};
use super::decoder::Block;
use super::linear::Linear;

type Stash = Arc<Mutex<HashMap<TensorId, Tensor>>>;

fn lock(stash: &Stash) -> Result<std::sync::MutexGuard<'_, HashMap<TensorId, Tensor>>> {
    stash
        .lock()
        .map_err(|_| candle_core::Error::Msg("recompute: poisoned lock".into()))
}

/// The block's output, with its activations recomputed in the backward.
pub(crate) fn block(layer: &Block, x: &Tensor, mask: &LayerMask, pass: &Pass) -> Result<Tensor> {
    let params = tracked_params(layer, pass.training)?;
    if params.is_empty() && !x.track_op() {
        return layer.forward(x, mask, None, pass);
    }
    // Computed on a detached input: the block's inner graph is dropped with `y`'s.
    let y = layer.forward(&x.detach(), mask, None, pass)?.detach();
    let stash: Stash = Arc::new(Mutex::new(HashMap::new()));
    let mut token = Tensor::zeros(1, x.dtype(), x.device())?;
    for pair in params.chunks(2) {
        let second = pair.get(1).unwrap_or(&pair[0]);
        let inject = Inject {
            stash: stash.clone(),
            first: pair[0].id(),
            second: (pair.len() == 2).then(|| second.id()),
        };
        token = token.apply_op3(&pair[0], second, inject)?;
    }
    let graft = Graft {
        layer: layer.clone(),
        mask: LayerMask {
            fused: mask.fused.clone(),
            bias: mask.bias.clone(),
        },
        ropes: pass.ropes.to_vec(),
        training: pass.training,
        fused: pass.fused,
        params,
        stash,
    };
    x.apply_op3(&y, &token, graft)
}

/// The block's weights that need a gradient.
fn tracked_params(layer: &Block, training: bool) -> Result<Vec<Tensor>> {
    let mut out = Vec::new();
    let mut linear = |lin: &Linear| -> Result<()> {
        out.push(lin.weight.clone());
        out.extend(lin.bias.iter().cloned());
        if let Some(l) = &lin.lora {
            if training && l.dropout > 0.0 {
                candle_core::bail!(
                    "memory = \"recompute\" needs lora_dropout = 0: a recomputed block \
                     would draw a different dropout mask"
                );
            }
            out.push(l.a.as_tensor().clone());
            out.push(l.b.as_tensor().clone());
        }
        Ok(())
    };
    let a = &layer.attn;
    for lin in [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj] {
        linear(lin)?;
    }
    let m = &layer.mlp;
    for lin in [&m.gate_proj, &m.up_proj, &m.down_proj] {
        linear(lin)?;
    }
    let norms = [
        a.q_norm.as_ref(),
        a.k_norm.as_ref(),
        Some(&layer.input_layernorm),
        Some(&layer.post_attention_layernorm),
        layer.pre_feedforward_layernorm.as_ref(),
        layer.post_feedforward_layernorm.as_ref(),
    ];
    out.extend(norms.into_iter().flatten().map(|n| n.weight.clone()));
    out.retain(|t| t.is_variable());
    Ok(out)
}

/// `(x, y, token) -> y`; backward: the block again, with autograd.
struct Graft {
    layer: Block,
    mask: LayerMask,
    ropes: Vec<(Tensor, Tensor)>,
    training: bool,
    fused: bool,
    params: Vec<Tensor>,
    stash: Stash,
}

fn copy_of(storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
    Ok((storage.try_clone(layout)?, layout.shape().clone()))
}

impl CustomOp3 for Graft {
    fn name(&self) -> &'static str {
        "recompute-block"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        y: &CpuStorage,
        layout: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        copy_of(y, layout)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        y: &candle_core::CudaStorage,
        layout: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((y.try_clone(layout)?, layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _y: &Tensor,
        token: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let input = Var::from_tensor(&x.detach())?;
        let pass = Pass {
            ropes: &self.ropes,
            training: self.training,
            fused: self.fused,
        };
        let y = self
            .layer
            .forward(input.as_tensor(), &self.mask, None, &pass)?;
        let mut grads = (y * grad.detach())?.sum_all()?.backward()?;
        let mut stash = lock(&self.stash)?;
        for p in &self.params {
            if let Some(g) = grads.remove(p) {
                stash.insert(p.id(), g);
            }
        }
        let dx = x
            .track_op()
            .then(|| grads.remove(input.as_tensor()))
            .flatten();
        Ok((dx, None, Some(token.zeros_like()?)))
    }
}

/// `(token, a, b) -> token`; backward: the gradients of `a` and `b` the graft left.
struct Inject {
    stash: Stash,
    first: TensorId,
    /// `None` when `a` is passed twice (an odd number of weights).
    second: Option<TensorId>,
}

impl CustomOp3 for Inject {
    fn name(&self) -> &'static str {
        "recompute-inject"
    }

    fn cpu_fwd(
        &self,
        token: &CpuStorage,
        layout: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        copy_of(token, layout)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        token: &candle_core::CudaStorage,
        layout: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((token.try_clone(layout)?, layout.shape().clone()))
    }

    fn bwd(
        &self,
        token: &Tensor,
        _a: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mut stash = lock(&self.stash)?;
        let first = stash.remove(&self.first);
        let second = self.second.and_then(|id| stash.remove(&id));
        let through = token.track_op().then(|| grad.clone());
        Ok((through, first, second))
    }
}
