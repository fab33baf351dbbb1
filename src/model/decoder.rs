//! The trainable decoder shared by Llama/SmolLM, Qwen2/2.5, Qwen3 and Gemma 3.
//!
//! Weight names are the checkpoint's keys (built with `VarBuilder::pp`), so a Hugging
//! Face directory loads unchanged. Every op on the forward path has a backward (the
//! fused ops of [`super::fused`] on the CPU, the composed ones of [`super::ops`]
//! elsewhere), so the same forward serves training and inference; the forward
//! passes themselves live in [`super::forward`].

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarBuilder;

use super::attention::{Attention, LayerMask, Pass};
use super::config::{Activation, Config, Family};
use super::fused::{self, Kernels};
pub use super::kv_cache::KvCache;
use super::kv_cache::LayerCache;
use super::linear::Linear;
pub use super::memory::Memory;
use super::norm::RmsNorm;
use super::ops;
use super::rope::RopeFreqs;

#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    pub(crate) gate_proj: Linear,
    pub(crate) up_proj: Linear,
    pub(crate) down_proj: Linear,
    act: Activation,
}

impl Mlp {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let act = cfg
            .activation()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok(Self {
            gate_proj: Linear::load(&vb.pp("gate_proj"), h, i, false)?,
            up_proj: Linear::load(&vb.pp("up_proj"), h, i, false)?,
            down_proj: Linear::load(&vb.pp("down_proj"), i, h, false)?,
            act,
        })
    }

    fn forward(&self, x: &Tensor, pass: &Pass) -> Result<Tensor> {
        let gate = self.gate_proj.forward_with(x, pass.training, pass.fused)?;
        let up = self.up_proj.forward_with(x, pass.training, pass.fused)?;
        let hidden = if pass.fused {
            fused::glu::glu(&gate, &up, self.act)?
        } else {
            match self.act {
                Activation::Silu => ops::silu_gated(&gate, &up)?,
                Activation::GeluTanh => (gate.gelu()? * up)?,
                Activation::GeluErf => (gate.gelu_erf()? * up)?,
            }
        };
        self.down_proj
            .forward_with(&hidden, pass.training, pass.fused)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) attn: Attention,
    pub(crate) mlp: Mlp,
    pub(crate) input_layernorm: RmsNorm,
    pub(crate) post_attention_layernorm: RmsNorm,
    /// Gemma only: norms around the feed-forward ("sandwich" norms).
    pub(crate) pre_feedforward_layernorm: Option<RmsNorm>,
    pub(crate) post_feedforward_layernorm: Option<RmsNorm>,
    pub(crate) sliding_window: Option<usize>,
    pub(crate) rope_index: usize,
}

impl Block {
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        mask: &LayerMask,
        cache: Option<(&mut Option<LayerCache>, usize)>,
        pass: &Pass,
    ) -> Result<Tensor> {
        let fused = pass.fused;
        let rope = &pass.ropes[self.rope_index];
        let h = self.input_layernorm.forward(x, fused)?;
        let h = self.attn.forward(&h, rope, mask, cache, pass)?;
        match (
            &self.pre_feedforward_layernorm,
            &self.post_feedforward_layernorm,
        ) {
            (Some(pre), Some(post)) => {
                let x = (x + self.post_attention_layernorm.forward(&h, fused)?)?;
                let m = self.mlp.forward(&pre.forward(&x, fused)?, pass)?;
                x + post.forward(&m, fused)?
            }
            _ => {
                let x = (x + h)?;
                let normed = self.post_attention_layernorm.forward(&x, fused)?;
                x + self.mlp.forward(&normed, pass)?
            }
        }
    }
}

/// A decoder-only causal LM.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) cfg: Config,
    pub(crate) family: Family,
    pub(crate) embed_tokens: Tensor,
    pub(crate) layers: Vec<Block>,
    pub(crate) norm: RmsNorm,
    /// `None` when the head is tied to `embed_tokens`.
    pub(crate) lm_head: Option<Linear>,
    pub(crate) ropes: Vec<RopeFreqs>,
    pub(crate) training: bool,
    pub(crate) kernels: Kernels,
    pub(crate) memory: Memory,
    dtype: DType,
    device: Device,
}

pub(crate) const EMBED_KEY: &str = "model.embed_tokens.weight";

impl Model {
    /// Builds the model from tensors named as in the checkpoint
    /// (`model.layers.N.self_attn.q_proj.weight`, ...). The LM head is tied to the
    /// embeddings when the config says so or when `lm_head.weight` is absent.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let to_candle =
            |e: super::decoder_error::DecoderError| candle_core::Error::Msg(e.to_string());
        cfg.validate().map_err(to_candle)?;
        let family = cfg.family().map_err(to_candle)?;
        let vm = vb.pp("model");
        let embed_tokens = vm
            .pp("embed_tokens")
            .get((cfg.vocab_size, cfg.hidden_size), "weight")?;
        let mut ropes: Vec<RopeFreqs> = Vec::new();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for idx in 0..cfg.num_hidden_layers {
            let lv = vm.pp("layers").pp(idx);
            let freqs = RopeFreqs::new(
                cfg.head_dim(),
                cfg.layer_rope_theta(idx),
                cfg.layer_rope_scaling(idx).map_err(to_candle)?,
            );
            let rope_index = match ropes.iter().position(|r| *r == freqs) {
                Some(i) => i,
                None => {
                    ropes.push(freqs);
                    ropes.len() - 1
                }
            };
            let gemma = family == Family::Gemma3;
            let h = cfg.hidden_size;
            layers.push(Block {
                attn: Attention::load(lv.pp("self_attn"), cfg, family)?,
                mlp: Mlp::load(lv.pp("mlp"), cfg)?,
                input_layernorm: RmsNorm::load(lv.pp("input_layernorm"), h, cfg, family)?,
                post_attention_layernorm: RmsNorm::load(
                    lv.pp("post_attention_layernorm"),
                    h,
                    cfg,
                    family,
                )?,
                pre_feedforward_layernorm: if gemma {
                    Some(RmsNorm::load(
                        lv.pp("pre_feedforward_layernorm"),
                        h,
                        cfg,
                        family,
                    )?)
                } else {
                    None
                },
                post_feedforward_layernorm: if gemma {
                    Some(RmsNorm::load(
                        lv.pp("post_feedforward_layernorm"),
                        h,
                        cfg,
                        family,
                    )?)
                } else {
                    None
                },
                sliding_window: cfg.layer_sliding_window(idx),
                rope_index,
            });
        }
        let norm = RmsNorm::load(vm.pp("norm"), cfg.hidden_size, cfg, family)?;
        let tied = cfg.tied_embeddings() || !vb.contains_tensor("lm_head.weight");
        let lm_head = if tied {
            None
        } else {
            Some(Linear::load(
                &vb.pp("lm_head"),
                cfg.hidden_size,
                cfg.vocab_size,
                false,
            )?)
        };
        let mut cfg = cfg.clone();
        cfg.tie_word_embeddings = Some(tied);
        Ok(Self {
            cfg,
            family,
            embed_tokens,
            layers,
            norm,
            lm_head,
            ropes,
            training: false,
            kernels: Kernels::default(),
            memory: Memory::default(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Training mode turns LoRA dropout on. Off by default.
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// A fresh cache for generation with this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    /// A fresh cache with room for `positions` (prompt plus new tokens) allocated at
    /// the first call, so decoding writes in place without regrowing.
    pub fn new_cache_with_capacity(&self, positions: usize) -> KvCache {
        KvCache::with_capacity(self.layers.len(), positions)
    }

    /// Fused ops (the default, where they apply) or the composed reference.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Whether training keeps every block's activations or recomputes them in the
    /// backward (see [`Memory`]).
    pub fn set_memory(&mut self, memory: Memory) {
        self.memory = memory;
    }

    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// Every base weight with its checkpoint key (a tied head is not listed twice).
    pub fn named_weights(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        // Cloning the model clones tensor handles only; the visitor just reads.
        let mut this = self.clone();
        this.visit_weights_mut(&mut |name, t| {
            out.push((name.to_string(), t.clone()));
            Ok(())
        })?;
        Ok(out)
    }

    pub(crate) fn visit_weights_mut(
        &mut self,
        f: &mut dyn FnMut(&str, &mut Tensor) -> Result<()>,
    ) -> Result<()> {
        f(EMBED_KEY, &mut self.embed_tokens)?;
        for layer in &mut self.layers {
            let a = &mut layer.attn;
            for lin in [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj] {
                visit_linear(lin, f)?;
            }
            for norm in [&mut a.q_norm, &mut a.k_norm].into_iter().flatten() {
                f(&format!("{}.weight", norm.path), &mut norm.weight)?;
            }
            let m = &mut layer.mlp;
            for lin in [&mut m.gate_proj, &mut m.up_proj, &mut m.down_proj] {
                visit_linear(lin, f)?;
            }
            for norm in [
                Some(&mut layer.input_layernorm),
                Some(&mut layer.post_attention_layernorm),
                layer.pre_feedforward_layernorm.as_mut(),
                layer.post_feedforward_layernorm.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                f(&format!("{}.weight", norm.path), &mut norm.weight)?;
            }
        }
        f(&format!("{}.weight", self.norm.path), &mut self.norm.weight)?;
        if let Some(head) = &mut self.lm_head {
            visit_linear(head, f)?;
        }
        Ok(())
    }

    pub(crate) fn visit_linears_mut(
        &mut self,
        f: &mut dyn FnMut(&mut Linear) -> Result<()>,
    ) -> Result<()> {
        for layer in &mut self.layers {
            let a = &mut layer.attn;
            for lin in [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj] {
                f(lin)?;
            }
            let m = &mut layer.mlp;
            for lin in [&mut m.gate_proj, &mut m.up_proj, &mut m.down_proj] {
                f(lin)?;
            }
        }
        if let Some(head) = &mut self.lm_head {
            f(head)?;
        }
        Ok(())
    }

    pub(crate) fn visit_linears(&self, f: &mut dyn FnMut(&Linear)) {
        for layer in &self.layers {
            let a = &layer.attn;
            for lin in [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj] {
                f(lin);
            }
            let m = &layer.mlp;
            for lin in [&m.gate_proj, &m.up_proj, &m.down_proj] {
                f(lin);
            }
        }
        if let Some(head) = &self.lm_head {
            f(head);
        }
    }

    /// Full fine-tuning: turns every base weight into a [`Var`] (copying it unless it
    /// already is one) and returns them named by checkpoint key, for the optimiser.
    pub fn trainable_full(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        self.visit_weights_mut(&mut |name, t| {
            let var = Var::from_tensor(t)?;
            *t = var.as_tensor().clone();
            vars.push((name.to_string(), var));
            Ok(())
        })?;
        Ok(vars)
    }

    /// Converts every base weight to `dtype` as plain tensors (no gradient reaches the
    /// originals). Adapters attached later take the new dtype.
    pub fn cast(&mut self, dtype: DType) -> Result<()> {
        self.visit_weights_mut(&mut |_, t| {
            *t = t.detach().to_dtype(dtype)?;
            Ok(())
        })?;
        self.dtype = dtype;
        Ok(())
    }

    /// A copy whose base weights named in `weights` are replaced by those tensors
    /// (the f32 masters of a bf16 run, to save what was learned at full precision).
    /// The copy's dtype is that of the replacements when they cover every weight.
    pub fn with_weights(&self, weights: &HashMap<String, Tensor>) -> Result<Model> {
        let mut copy = self.clone();
        let mut dtypes = Vec::new();
        copy.visit_weights_mut(&mut |name, t| {
            if let Some(w) = weights.get(name) {
                if w.shape() != t.shape() {
                    candle_core::bail!(
                        "{name}: replacement has shape {:?}, the model {:?}",
                        w.shape(),
                        t.shape()
                    );
                }
                *t = w.detach();
            }
            dtypes.push(t.dtype());
            Ok(())
        })?;
        if let Some(&first) = dtypes.first()
            && dtypes.iter().all(|&d| d == first)
        {
            copy.dtype = first;
        }
        Ok(copy)
    }

    /// Makes every base weight a plain tensor again, so no gradient is computed for it.
    pub fn freeze_base(&mut self) -> Result<()> {
        self.visit_weights_mut(&mut |_, t| {
            *t = t.detach();
            Ok(())
        })
    }
}

fn visit_linear(
    lin: &mut Linear,
    f: &mut dyn FnMut(&str, &mut Tensor) -> Result<()>,
) -> Result<()> {
    f(&format!("{}.weight", lin.path), &mut lin.weight)?;
    if let Some(b) = &mut lin.bias {
        f(&format!("{}.bias", lin.path), b)?;
    }
    Ok(())
}
