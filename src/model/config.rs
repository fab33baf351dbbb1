//! `config.json` of a Hugging Face decoder checkpoint, for the families we train.
//!
//! Unknown keys are kept in `extra` so that a saved model's `config.json` still carries
//! everything (token ids, generation hints, architectures) the source had.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::decoder_error::{DecoderError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Llama 2/3, SmolLM, Mistral-style blocks without biases.
    Llama,
    /// Qwen2 / Qwen2.5: biases on q, k, v.
    Qwen2,
    /// Qwen3: per-head RMSNorm on q and k.
    Qwen3,
    /// Gemma 3 text: (1+w) norms, sandwich norms, scaled embeddings, sliding layers.
    Gemma3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Silu,
    /// tanh approximation (`gelu_pytorch_tanh`, `gelu_new`).
    GeluTanh,
    /// exact erf form (`gelu`).
    GeluErf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Value>,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_activation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_pre_attn_scalar: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window_pattern: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_local_base_freq: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_logit_softcapping: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attn_logit_softcapping: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_max_positions() -> usize {
    2048
}

/// How rotary frequencies are rescaled (`rope_scaling` in config.json).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.1 piecewise frequency rescaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DecoderError::io(path, e))?;
        let cfg: Config = serde_json::from_str(&text).map_err(|e| DecoderError::json(path, &e))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| DecoderError::Config(format!("cannot serialise config: {e}")))
    }

    pub fn family(&self) -> Result<Family> {
        match self.model_type.as_str() {
            "llama" | "mistral" => Ok(Family::Llama),
            "qwen2" => Ok(Family::Qwen2),
            "qwen3" => Ok(Family::Qwen3),
            "gemma3_text" | "gemma3" => Ok(Family::Gemma3),
            other => Err(DecoderError::UnsupportedModelType(other.to_string())),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.family()?;
        if self.num_attention_heads == 0 || self.num_kv_heads() == 0 {
            return Err(DecoderError::Config(
                "num_attention_heads and num_key_value_heads must be > 0".into(),
            ));
        }
        if !self.num_attention_heads.is_multiple_of(self.num_kv_heads()) {
            return Err(DecoderError::Config(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.num_kv_heads()
            )));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(DecoderError::Config(format!(
                "head_dim {} must be even for rotary embeddings",
                self.head_dim()
            )));
        }
        self.activation()?;
        self.rope_scaling()?;
        Ok(())
    }

    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether the LM head reuses the embedding matrix. The default follows each
    /// family's transformers default when the key is absent.
    pub fn tied_embeddings(&self) -> bool {
        self.tie_word_embeddings
            .unwrap_or(matches!(self.family(), Ok(Family::Gemma3)))
    }

    /// Bias on q/k/v (and o when `attention_bias` is set explicitly).
    pub fn qkv_bias(&self) -> bool {
        match self.family() {
            Ok(Family::Qwen2) => true,
            _ => self.attention_bias.unwrap_or(false),
        }
    }

    pub fn o_bias(&self) -> bool {
        match self.family() {
            Ok(Family::Qwen2) => false,
            _ => self.attention_bias.unwrap_or(false),
        }
    }

    pub fn activation(&self) -> Result<Activation> {
        let name = self
            .hidden_activation
            .as_deref()
            .or(self.hidden_act.as_deref())
            .unwrap_or(match self.family()? {
                Family::Gemma3 => "gelu_pytorch_tanh",
                _ => "silu",
            });
        match name {
            "silu" | "swish" => Ok(Activation::Silu),
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Ok(Activation::GeluTanh),
            "gelu" => Ok(Activation::GeluErf),
            other => Err(DecoderError::Config(format!(
                "hidden_act `{other}` is not supported"
            ))),
        }
    }

    /// Multiplier applied to q·k (HF: `query_pre_attn_scalar ** -0.5` for Gemma).
    pub fn attention_scale(&self) -> f64 {
        let denom = match (self.family(), self.query_pre_attn_scalar) {
            (Ok(Family::Gemma3), Some(s)) => s,
            _ => self.head_dim() as f64,
        };
        1.0 / denom.sqrt()
    }

    /// Sliding-window size of layer `idx`, `None` for full attention.
    pub fn layer_sliding_window(&self, idx: usize) -> Option<usize> {
        if !matches!(self.family(), Ok(Family::Gemma3)) {
            return None;
        }
        let window = self.sliding_window?;
        let sliding = match (&self.layer_types, self.sliding_window_pattern) {
            (Some(types), _) => types.get(idx).is_some_and(|t| t == "sliding_attention"),
            (None, Some(pattern)) if pattern > 0 => !(idx + 1).is_multiple_of(pattern),
            // transformers' Gemma3 default pattern: five local layers then one global.
            (None, _) => !(idx + 1).is_multiple_of(6),
        };
        sliding.then_some(window)
    }

    /// Rotary base of layer `idx` (Gemma 3 local layers use `rope_local_base_freq`).
    pub fn layer_rope_theta(&self, idx: usize) -> f64 {
        match (self.layer_sliding_window(idx), self.rope_local_base_freq) {
            (Some(_), Some(local)) => local,
            _ => self.rope_theta,
        }
    }

    /// Rope scaling of layer `idx`; Gemma 3 applies `rope_scaling` to global layers only.
    pub fn layer_rope_scaling(&self, idx: usize) -> Result<RopeScaling> {
        if self.layer_sliding_window(idx).is_some() {
            return Ok(RopeScaling::None);
        }
        self.rope_scaling()
    }

    pub fn rope_scaling(&self) -> Result<RopeScaling> {
        let Some(Value::Object(map)) = &self.rope_scaling else {
            return Ok(RopeScaling::None);
        };
        let kind = map
            .get("rope_type")
            .or_else(|| map.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let num = |key: &str| -> Result<f64> {
            map.get(key).and_then(Value::as_f64).ok_or_else(|| {
                DecoderError::Config(format!("rope_scaling.{key} is missing or not a number"))
            })
        };
        match kind {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear {
                factor: num("factor")?,
            }),
            "llama3" => Ok(RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            }),
            other => Err(DecoderError::Config(format!(
                "rope_scaling type `{other}` is not supported"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Config {
        let cfg: Config = serde_json::from_str(json).unwrap();
        cfg.validate().unwrap();
        cfg
    }

    #[test]
    fn smollm2_style_llama_config() {
        let cfg = parse(
            r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
                "rms_norm_eps": 1e-05, "rope_theta": 100000, "rope_scaling": null,
                "max_position_embeddings": 8192, "tie_word_embeddings": true,
                "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}"#,
        );
        assert_eq!(cfg.family().unwrap(), Family::Llama);
        assert_eq!(cfg.head_dim(), 64);
        assert!(cfg.tied_embeddings());
        assert!(!cfg.qkv_bias());
        assert_eq!(cfg.rope_scaling().unwrap(), RopeScaling::None);
        assert_eq!(cfg.layer_sliding_window(3), None);
        let saved: serde_json::Value =
            serde_json::from_str(&cfg.to_json_pretty().unwrap()).unwrap();
        assert_eq!(saved["bos_token_id"], 1);
        assert_eq!(saved["architectures"][0], "LlamaForCausalLM");
    }

    #[test]
    fn gemma3_text_config_layers_and_defaults() {
        let cfg = parse(
            r#"{"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
                "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1,
                "head_dim": 256, "vocab_size": 262144, "query_pre_attn_scalar": 256,
                "rms_norm_eps": 1e-06, "rope_theta": 1000000, "rope_local_base_freq": 10000,
                "rope_scaling": null, "sliding_window": 512, "sliding_window_pattern": 6,
                "attn_logit_softcapping": null, "final_logit_softcapping": null,
                "hidden_activation": "gelu_pytorch_tanh", "eos_token_id": [1, 106]}"#,
        );
        assert_eq!(cfg.family().unwrap(), Family::Gemma3);
        assert!(cfg.tied_embeddings(), "Gemma 3 ties by default");
        assert_eq!(cfg.activation().unwrap(), Activation::GeluTanh);
        assert_eq!(cfg.layer_sliding_window(0), Some(512));
        assert_eq!(cfg.layer_sliding_window(5), None);
        assert_eq!(cfg.layer_rope_theta(0), 10_000.0);
        assert_eq!(cfg.layer_rope_theta(5), 1_000_000.0);
        assert!((cfg.attention_scale() - 1.0 / 16.0).abs() < 1e-12);
    }

    #[test]
    fn gemma3_layer_types_and_linear_scaling_on_global_layers_only() {
        let cfg = parse(
            r#"{"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 96,
                "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1,
                "head_dim": 16, "vocab_size": 128, "sliding_window": 8,
                "layer_types": ["full_attention", "sliding_attention", "full_attention"],
                "rope_scaling": {"rope_type": "linear", "factor": 8.0}}"#,
        );
        assert_eq!(cfg.layer_sliding_window(0), None);
        assert_eq!(cfg.layer_sliding_window(1), Some(8));
        assert_eq!(
            cfg.layer_rope_scaling(0).unwrap(),
            RopeScaling::Linear { factor: 8.0 }
        );
        assert_eq!(cfg.layer_rope_scaling(1).unwrap(), RopeScaling::None);
    }

    #[test]
    fn qwen2_has_qkv_bias_and_bad_configs_are_named() {
        let cfg = parse(
            r#"{"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
                "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                "vocab_size": 151936, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
                "tie_word_embeddings": true, "use_sliding_window": false,
                "sliding_window": 32768}"#,
        );
        assert!(cfg.qkv_bias());
        assert!(!cfg.o_bias());
        assert_eq!(cfg.layer_sliding_window(0), None);

        let mut bad = cfg.clone();
        bad.num_key_value_heads = Some(3);
        assert!(bad.validate().unwrap_err().to_string().contains("multiple"));
        let mut bad = cfg;
        bad.model_type = "gpt2".into();
        assert!(matches!(
            bad.validate(),
            Err(DecoderError::UnsupportedModelType(_))
        ));
        let err = serde_json::from_str::<Config>(r#"{"model_type": "llama"}"#).unwrap_err();
        assert!(err.to_string().contains("vocab_size"));
    }
}
