//! Randomly initialised models of a published shape, for speed measurements where
//! pretrained weights are not needed (the FLOPs and memory traffic are the same).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};

use crate::model::checkpoint::{random_model, save_model};
use crate::model::config::Config;

/// Qwen2.5-0.5B's `config.json` (transformers names; the numbers of the release).
pub const QWEN25_05B: &str = r#"{
  "architectures": ["Qwen2ForCausalLM"],
  "model_type": "qwen2",
  "hidden_size": 896,
  "intermediate_size": 4864,
  "num_hidden_layers": 24,
  "num_attention_heads": 14,
  "num_key_value_heads": 2,
  "vocab_size": 151936,
  "max_position_embeddings": 32768,
  "rope_theta": 1000000.0,
  "rms_norm_eps": 1e-06,
  "hidden_act": "silu",
  "tie_word_embeddings": true,
  "bos_token_id": 151643,
  "eos_token_id": 151645
}"#;

/// Shapes `--model random:<shape>` accepts.
pub const SHAPES: &[(&str, &str)] = &[("qwen2.5-0.5b", QWEN25_05B)];

/// `random:<shape>` → the directory of that shape's random model in the cache, written
/// on first use (f32 weights, seed 0, std 0.02, and the tokenizer files of
/// `tokenizer_from` so the training code can load it as any model directory).
pub fn resolve(spec: &str, cache_dir: &Path, tokenizer_from: &Path) -> Result<Option<PathBuf>> {
    let Some(shape) = spec.strip_prefix("random:") else {
        return Ok(None);
    };
    let Some((_, json)) = SHAPES.iter().find(|(name, _)| *name == shape) else {
        let known: Vec<&str> = SHAPES.iter().map(|(n, _)| *n).collect();
        bail!(
            "unknown random model shape `{shape}` (known: {})",
            known.join(", ")
        );
    };
    let out = cache_dir.join("models").join(format!("random-{shape}"));
    if out.join("config.json").is_file() {
        return Ok(Some(out));
    }
    let cfg: Config = serde_json::from_str(json).context("built-in model shape")?;
    eprintln!(
        "writing a randomly initialised {shape} to {}",
        out.display()
    );
    let model = random_model(&cfg, DType::F32, &Device::Cpu, 0, 0.02, 0.0)?;
    // Written beside and renamed, so an interrupted write is not taken for a model.
    let tmp = out.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    save_model(&model, &tmp, Some(tokenizer_from))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON's numbers give the release's 494,032,768 parameters (tied head).
    #[test]
    fn the_qwen_shape_has_the_release_parameter_count() {
        let cfg: Config = serde_json::from_str(QWEN25_05B).unwrap();
        cfg.validate().unwrap();
        assert!(cfg.qkv_bias() && cfg.tied_embeddings());
        let h = cfg.hidden_size as u64;
        let q = (cfg.num_attention_heads * cfg.head_dim()) as u64;
        let kv = (cfg.num_kv_heads() * cfg.head_dim()) as u64;
        let attention = h * q + q + 2 * (h * kv + kv) + q * h;
        let mlp = 3 * h * cfg.intermediate_size as u64;
        let per_layer = attention + mlp + 2 * h;
        let total = cfg.num_hidden_layers as u64 * per_layer + cfg.vocab_size as u64 * h + h;
        assert_eq!(total, 494_032_768);
    }

    #[test]
    fn unknown_shapes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve("random:gpt-5", dir.path(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("qwen2.5-0.5b"), "{err}");
        assert!(
            resolve("/some/dir", dir.path(), dir.path())
                .unwrap()
                .is_none()
        );
    }
}
