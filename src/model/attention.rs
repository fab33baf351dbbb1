//! The attention layer of the decoder: projections, optional q/k norms, rotary
//! embedding, the KV cache, then the fused attention op (CPU, f32/f64) or the
//! composed reference (`repeat_kv`, matmuls, masked softmax).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::config::{Config, Family};
use super::fused::attention::AttentionMask;
use super::fused::rope::RopeLayout;
use super::kv_cache::LayerCache;
use super::linear::Linear;
use super::norm::RmsNorm;
use super::{fused, ops};

/// What every attention layer of one forward pass shares.
pub(crate) struct Pass<'a> {
    /// `cos`, `sin` `[b * t, d/2]` per distinct rotary table.
    pub ropes: &'a [(Tensor, Tensor)],
    pub training: bool,
    pub fused: bool,
}

/// Which keys a layer's queries see, in the form each path needs.
pub(crate) struct LayerMask {
    pub fused: AttentionMask,
    /// `[b, 1, t, s]` additive bias for the composed path (built only for it).
    pub bias: Option<Tensor>,
}

#[derive(Debug, Clone)]
pub(crate) struct Attention {
    pub(crate) q_proj: Linear,
    pub(crate) k_proj: Linear,
    pub(crate) v_proj: Linear,
    pub(crate) o_proj: Linear,
    pub(crate) q_norm: Option<RmsNorm>,
    pub(crate) k_norm: Option<RmsNorm>,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f64,
    softcap: Option<f64>,
}

impl Attention {
    pub(crate) fn load(vb: VarBuilder, cfg: &Config, family: Family) -> Result<Self> {
        let h = cfg.hidden_size;
        let d = cfg.head_dim();
        let nh = cfg.num_attention_heads;
        let nkv = cfg.num_kv_heads();
        let qkv_bias = cfg.qkv_bias();
        let (q_norm, k_norm) = match family {
            Family::Qwen3 | Family::Gemma3 => (
                Some(RmsNorm::load(vb.pp("q_norm"), d, cfg, family)?),
                Some(RmsNorm::load(vb.pp("k_norm"), d, cfg, family)?),
            ),
            Family::Llama | Family::Qwen2 => (None, None),
        };
        Ok(Self {
            q_proj: Linear::load(&vb.pp("q_proj"), h, nh * d, qkv_bias)?,
            k_proj: Linear::load(&vb.pp("k_proj"), h, nkv * d, qkv_bias)?,
            v_proj: Linear::load(&vb.pp("v_proj"), h, nkv * d, qkv_bias)?,
            o_proj: Linear::load(&vb.pp("o_proj"), nh * d, h, cfg.o_bias())?,
            q_norm,
            k_norm,
            num_heads: nh,
            num_kv_heads: nkv,
            head_dim: d,
            scale: cfg.attention_scale(),
            softcap: cfg.attn_logit_softcapping,
        })
    }

    fn rope(&self, x: &Tensor, rope: &(Tensor, Tensor), fused: bool) -> Result<Tensor> {
        if fused {
            return fused::rope::rope(x, &rope.0, &rope.1, RopeLayout::HalfSplit);
        }
        let (b, t, _, d) = x.dims4()?;
        let cos = rope.0.reshape((b, t, 1, d / 2))?;
        let sin = rope.1.reshape((b, t, 1, d / 2))?;
        ops::rope_half_split(x, &cos, &sin)
    }

    /// `x`: `[b, t, hidden]`. With `cache`, this step's keys and values are appended
    /// to the layer's cache (`capacity_hint` positions are allocated at first use)
    /// and the queries attend to every cached position.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        mask: &LayerMask,
        cache: Option<(&mut Option<LayerCache>, usize)>,
        pass: &Pass,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let training = pass.training;
        let mut q = self
            .q_proj
            .forward_with(x, training, pass.fused)?
            .reshape((b, t, nh, d))?;
        let mut k = self
            .k_proj
            .forward_with(x, training, pass.fused)?
            .reshape((b, t, nkv, d))?;
        let mut v = self
            .v_proj
            .forward_with(x, training, pass.fused)?
            .reshape((b, t, nkv, d))?;
        if let Some(n) = &self.q_norm {
            q = n.forward(&q, pass.fused)?;
        }
        if let Some(n) = &self.k_norm {
            k = n.forward(&k, pass.fused)?;
        }
        q = self.rope(&q, rope, pass.fused)?;
        k = self.rope(&k, rope, pass.fused)?;
        if let Some((slot, capacity_hint)) = cache {
            // Cached decoding never backpropagates; without detaching, every cached
            // tensor would keep the autograd graph of all earlier decode steps alive
            // (with trainable weights that grew GRPO rollouts on SmolLM2 past 20 GB).
            (k, v) = LayerCache::append(slot, &k.detach(), &v.detach(), capacity_hint)?;
        }
        let out = if pass.fused {
            fused::attention::attention(&q, &k, &v, &mask.fused, self.scale, self.softcap)?
        } else {
            let bias = mask
                .bias
                .as_ref()
                .ok_or_else(|| candle_core::Error::Msg("attention bias missing".into()))?;
            self.composed(&q, &k, &v, bias)?
        };
        self.o_proj
            .forward_with(&out.reshape((b, t, nh * d))?, training, pass.fused)
    }

    /// The reference path: `[b, t, heads, d]` in and out.
    fn composed(&self, q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let groups = self.num_heads / self.num_kv_heads;
        let q = q.transpose(1, 2)?.contiguous()?;
        let k = repeat_kv(&k.transpose(1, 2)?.contiguous()?, groups)?;
        let v = repeat_kv(&v.transpose(1, 2)?.contiguous()?, groups)?;
        let mut scores = (q.matmul(&k.t()?.contiguous()?)? * self.scale)?;
        if let Some(cap) = self.softcap {
            scores = ((scores / cap)?.tanh()? * cap)?;
        }
        let probs = ops::masked_softmax(&scores, Some(bias))?;
        probs.matmul(&v)?.transpose(1, 2)
    }
}

fn repeat_kv(x: &Tensor, groups: usize) -> Result<Tensor> {
    if groups == 1 {
        return Ok(x.clone());
    }
    let (b, nkv, t, d) = x.dims4()?;
    let copies = vec![x; groups];
    Tensor::cat(&copies, 2)?.reshape((b, nkv * groups, t, d))
}
