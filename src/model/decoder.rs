//! The trainable decoder shared by Llama/SmolLM, Qwen2/2.5, Qwen3 and Gemma 3.
//!
//! Weight names are the checkpoint's keys (built with `VarBuilder::pp`), so a Hugging
//! Face directory loads unchanged. Every op on the forward path has a backward in
//! candle (see [`super::ops`]), so the same forward serves training and inference.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarBuilder;

use super::config::{Activation, Config, Family, RopeScaling};
use super::linear::{Linear, project};
use super::ops;

/// Bias added to attention scores of hidden keys. Finite, so a query that sees no key
/// at all (a left-padding position) gets a uniform row instead of NaN.
const MASKED: f32 = -1e9;

#[derive(Debug, Clone)]
struct RmsNorm {
    path: String,
    weight: Tensor,
    eps: f64,
    one_plus: bool,
}

impl RmsNorm {
    fn load(vb: VarBuilder, dim: usize, cfg: &Config, family: Family) -> Result<Self> {
        Ok(Self {
            path: vb.prefix(),
            weight: vb.get(dim, "weight")?,
            eps: cfg.rms_norm_eps,
            one_plus: family == Family::Gemma3,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.one_plus {
            ops::rms_norm_one_plus(x, &self.weight, self.eps)
        } else {
            ops::rms_norm(x, &self.weight, self.eps)
        }
    }
}

/// Inverse rotary frequencies of one (theta, scaling) pair.
#[derive(Debug, Clone, PartialEq)]
struct RopeFreqs {
    inv_freq: Vec<f32>,
    position_divisor: f64,
}

impl RopeFreqs {
    fn new(head_dim: usize, theta: f64, scaling: RopeScaling) -> Self {
        let base: Vec<f64> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f64 / head_dim as f64))
            .collect();
        let (inv, divisor) = match scaling {
            RopeScaling::None => (base, 1.0),
            RopeScaling::Linear { factor } => (base, factor),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: orig,
            } => {
                let low_wavelen = orig / low_freq_factor;
                let high_wavelen = orig / high_freq_factor;
                let inv = base
                    .into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (orig / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect();
                (inv, 1.0)
            }
        };
        Self {
            inv_freq: inv.into_iter().map(|f| f as f32).collect(),
            position_divisor: divisor,
        }
    }

    /// `cos`, `sin` of shape `[b, 1, t, d/2]` for per-row positions `[b*t]`.
    fn cos_sin(
        &self,
        positions: &[f32],
        b: usize,
        t: usize,
        dtype: DType,
        dev: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let pos: Vec<f32> = positions
            .iter()
            .map(|p| (*p as f64 / self.position_divisor) as f32)
            .collect();
        let pos = Tensor::from_vec(pos, (b * t, 1), dev)?;
        let inv = Tensor::from_slice(&self.inv_freq, (1, half), dev)?;
        let freqs = pos.broadcast_mul(&inv)?;
        let cos = freqs.cos()?.to_dtype(dtype)?.reshape((b, 1, t, half))?;
        let sin = freqs.sin()?.to_dtype(dtype)?.reshape((b, 1, t, half))?;
        Ok((cos, sin))
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    scale: f64,
    softcap: Option<f64>,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &Config, family: Family) -> Result<Self> {
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

    fn forward(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        bias: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        training: bool,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let split = |y: Tensor, heads: usize| -> Result<Tensor> {
            y.reshape((b, t, heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let mut q = split(self.q_proj.forward(x, training)?, self.num_heads)?;
        let mut k = split(self.k_proj.forward(x, training)?, self.num_kv_heads)?;
        let mut v = split(self.v_proj.forward(x, training)?, self.num_kv_heads)?;
        if let Some(n) = &self.q_norm {
            q = n.forward(&q)?;
        }
        if let Some(n) = &self.k_norm {
            k = n.forward(&k)?;
        }
        let q = ops::rope_half_split(&q, &rope.0, &rope.1)?;
        k = ops::rope_half_split(&k, &rope.0, &rope.1)?;
        if let Some(slot) = cache {
            // Cached decoding never backpropagates; without detaching, every cached
            // tensor would keep the autograd graph of all earlier decode steps alive
            // (with trainable weights that grew GRPO rollouts on SmolLM2 past 20 GB).
            k = k.detach();
            v = v.detach();
            if let Some((pk, pv)) = slot.as_ref() {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            *slot = Some((k.clone(), v.clone()));
        }
        let groups = self.num_heads / self.num_kv_heads;
        let k = repeat_kv(&k, groups)?;
        let v = repeat_kv(&v, groups)?;
        let mut scores = (q.matmul(&k.t()?.contiguous()?)? * self.scale)?;
        if let Some(cap) = self.softcap {
            scores = ((scores / cap)?.tanh()? * cap)?;
        }
        let probs = ops::masked_softmax(&scores, Some(bias))?;
        let out = probs.matmul(&v)?;
        let out = out
            .transpose(1, 2)?
            .reshape((b, t, self.num_heads * self.head_dim))?;
        self.o_proj.forward(&out, training)
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

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
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

    fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let gate = self.gate_proj.forward(x, training)?;
        let up = self.up_proj.forward(x, training)?;
        let hidden = match self.act {
            Activation::Silu => ops::silu_gated(&gate, &up)?,
            Activation::GeluTanh => (gate.gelu()? * up)?,
            Activation::GeluErf => (gate.gelu_erf()? * up)?,
        };
        self.down_proj.forward(&hidden, training)
    }
}

#[derive(Debug, Clone)]
struct Block {
    attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
    /// Gemma only: norms around the feed-forward ("sandwich" norms).
    pre_feedforward_layernorm: Option<RmsNorm>,
    post_feedforward_layernorm: Option<RmsNorm>,
    sliding_window: Option<usize>,
    rope_index: usize,
}

impl Block {
    fn forward(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        bias: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        training: bool,
    ) -> Result<Tensor> {
        let h = self.input_layernorm.forward(x)?;
        let h = self.attn.forward(&h, rope, bias, cache, training)?;
        match (
            &self.pre_feedforward_layernorm,
            &self.post_feedforward_layernorm,
        ) {
            (Some(pre), Some(post)) => {
                let x = (x + self.post_attention_layernorm.forward(&h)?)?;
                let m = self.mlp.forward(&pre.forward(&x)?, training)?;
                x + post.forward(&m)?
            }
            _ => {
                let x = (x + h)?;
                let m = self
                    .mlp
                    .forward(&self.post_attention_layernorm.forward(&x)?, training)?;
                x + m
            }
        }
    }
}

/// Keys and values of earlier steps, plus which of those positions are real tokens.
///
/// Create one per generation batch with [`KvCache::new`]; pass it to every
/// [`Model::forward`] call of that batch (the prompt first, then one or more tokens per
/// step). The batch size must stay the same for the cache's lifetime.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    /// Per row, 1 for a real token and 0 for padding, over all cached positions.
    key_valid: Vec<Vec<u8>>,
    /// Per row, the number of real tokens seen so far (the next rotary position).
    real_counts: Vec<u32>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            key_valid: Vec::new(),
            real_counts: Vec::new(),
        }
    }

    /// Number of cached positions (padding included).
    pub fn seq_len(&self) -> usize {
        self.key_valid.first().map_or(0, Vec::len)
    }

    pub fn reset(&mut self) {
        let n = self.layers.len();
        *self = Self::new(n);
    }
}

/// A decoder-only causal LM.
#[derive(Debug, Clone)]
pub struct Model {
    cfg: Config,
    family: Family,
    embed_tokens: Tensor,
    layers: Vec<Block>,
    norm: RmsNorm,
    /// `None` when the head is tied to `embed_tokens`.
    lm_head: Option<Linear>,
    ropes: Vec<RopeFreqs>,
    training: bool,
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

    /// Logits `[b, t, vocab]` (in the model dtype) for every input position.
    ///
    /// * `input_ids`: `[b, t]`, u32 token ids.
    /// * `attention_mask`: `[b, t]` for the *new* tokens only, 1 = real token,
    ///   0 = padding (any numeric dtype). Padding must be on the left of each row's
    ///   real tokens (left padding of prompts). `None` means all real.
    /// * `cache`: `None` for training / scoring a whole sequence. For generation pass the
    ///   same [`KvCache`] to each call: first the (left-padded) prompt, then the new
    ///   token(s) with their mask (usually all ones). The cache remembers padding, so
    ///   padded keys stay hidden and rotary positions count real tokens only
    ///   (position of a token = number of real tokens before it in its row), which
    ///   matches transformers' `position_ids = cumsum(mask) - 1`.
    ///
    /// Logits at padding positions are meaningless; mask them out of losses.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let new_valid: Vec<Vec<u8>> = match attention_mask {
            Some(m) => {
                let dims = m.dims2()?;
                if dims != (b, t) {
                    candle_core::bail!(
                        "attention_mask has shape {dims:?}, expected {:?} (the new tokens)",
                        (b, t)
                    );
                }
                m.to_dtype(DType::F32)?
                    .to_vec2::<f32>()?
                    .into_iter()
                    .map(|row| row.into_iter().map(|v| u8::from(v != 0.0)).collect())
                    .collect()
            }
            None => vec![vec![1u8; t]; b],
        };
        let (past_valid, past_counts) = match cache.as_deref() {
            Some(c) if c.seq_len() > 0 => {
                if c.key_valid.len() != b {
                    candle_core::bail!(
                        "cache holds batch size {}, input has {b}",
                        c.key_valid.len()
                    );
                }
                (c.key_valid.clone(), c.real_counts.clone())
            }
            _ => (vec![Vec::new(); b], vec![0u32; b]),
        };
        let past = past_valid.first().map_or(0, Vec::len);

        let mut positions = Vec::with_capacity(b * t);
        let mut all_valid = past_valid;
        let mut counts = past_counts;
        for (row, valid) in new_valid.iter().enumerate() {
            for &v in valid {
                // Position = real tokens before this one; padding positions are unused.
                positions.push(counts[row] as f32);
                counts[row] += u32::from(v);
            }
            all_valid[row].extend_from_slice(valid);
        }

        let mut biases: HashMap<Option<usize>, Tensor> = HashMap::new();
        for layer in &self.layers {
            if let std::collections::hash_map::Entry::Vacant(e) = biases.entry(layer.sliding_window)
            {
                e.insert(attention_bias(
                    &all_valid,
                    past,
                    t,
                    layer.sliding_window,
                    &self.device,
                )?);
            }
        }
        let ropes = self
            .ropes
            .iter()
            .map(|r| r.cos_sin(&positions, b, t, self.dtype, &self.device))
            .collect::<Result<Vec<_>>>()?;

        let ids = input_ids.flatten_all()?;
        let mut x =
            self.embed_tokens
                .index_select(&ids, 0)?
                .reshape((b, t, self.cfg.hidden_size))?;
        if self.family == Family::Gemma3 {
            x = (x * embed_scale(self.cfg.hidden_size, self.dtype))?;
        }
        for (idx, layer) in self.layers.iter().enumerate() {
            let bias = biases
                .get(&layer.sliding_window)
                .ok_or_else(|| candle_core::Error::Msg("attention bias missing".into()))?;
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[idx]);
            x = layer.forward(&x, &ropes[layer.rope_index], bias, slot, self.training)?;
        }
        if let Some(c) = cache {
            c.key_valid = all_valid;
            c.real_counts = counts;
        }
        let x = self.norm.forward(&x)?;
        let x2 = x.reshape((b * t, self.cfg.hidden_size))?;
        let logits = match &self.lm_head {
            Some(head) => head.forward(&x2, self.training)?,
            None => project(&x2, &self.embed_tokens)?,
        };
        let logits = match self.cfg.final_logit_softcapping {
            Some(cap) => ((logits / cap)?.tanh()? * cap)?,
            None => logits,
        };
        logits.reshape((b, t, self.cfg.vocab_size))
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

/// transformers multiplies by `sqrt(hidden)` rounded to the activation dtype.
fn embed_scale(hidden: usize, dtype: DType) -> f64 {
    let s = (hidden as f64).sqrt();
    match dtype {
        DType::BF16 => half::bf16::from_f64(s).to_f64(),
        DType::F16 => half::f16::from_f64(s).to_f64(),
        _ => s,
    }
}

/// Additive bias `[b, 1, t, past + t]`: 0 where query `i` may see key `j` (causal,
/// key is a real token, inside the sliding window), `MASKED` elsewhere.
fn attention_bias(
    valid: &[Vec<u8>],
    past: usize,
    t: usize,
    window: Option<usize>,
    dev: &Device,
) -> Result<Tensor> {
    let b = valid.len();
    let total = past + t;
    let mut data = Vec::with_capacity(b * t * total);
    for row in valid {
        for i in 0..t {
            let qi = past + i;
            for (j, &v) in row.iter().enumerate().take(total) {
                let causal = j <= qi;
                let in_window = window.is_none_or(|w| qi - j.min(qi) < w);
                data.push(if causal && in_window && v == 1 {
                    0.0
                } else {
                    MASKED
                });
            }
        }
    }
    Tensor::from_vec(data, (b, 1, t, total), dev)
}
