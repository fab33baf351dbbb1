//! Randomly initialised models of a published shape, for speed measurements where
//! pretrained weights are not needed (the FLOPs and memory traffic are the same).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};

use crate::model::checkpoint::{random_model, save_model};
use crate::model::config::Config;
use crate::model::tiny::{self, TinyConfig};

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

/// A tiny Llama (SmolLM2's layout at a fraction of the size) for quick checks where
/// the figures only need to exist, not to mean anything.
pub const TINY_LLAMA: &str = r#"{
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "hidden_size": 64,
  "intermediate_size": 160,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "vocab_size": 512,
  "max_position_embeddings": 2048,
  "rope_theta": 10000.0,
  "rms_norm_eps": 1e-05,
  "hidden_act": "silu",
  "tie_word_embeddings": true,
  "bos_token_id": 1,
  "eos_token_id": 2
}"#;

/// Shapes `--model random:<shape>` accepts.
pub const SHAPES: &[(&str, &str)] = &[("qwen2.5-0.5b", QWEN25_05B), ("tiny-llama", TINY_LLAMA)];

/// `random:<shape>` → the directory of that shape's random model in the cache, written
/// on first use (f32 weights, seed 0, std 0.02, and the tokenizer files of
/// `tokenizer_from` so the training code can load it as any model directory).
pub fn resolve(spec: &str, cache_dir: &Path, tokenizer_from: &Path) -> Result<Option<PathBuf>> {
    let Some(shape) = spec.strip_prefix("random:") else {
        return Ok(None);
    };
    let out = cache_dir.join("models").join(format!("random-{shape}"));
    write_shape(shape, &out, Some(tokenizer_from))?;
    Ok(Some(out))
}

/// Writes `shape`'s random model into `out` unless it is there already. Without
/// `tokenizer_from` it gets a small byte-level tokenizer trained on a few lines: the
/// benchmarks feed token ids, but the training code loads a model directory whole, and
/// a machine without the internet has no released tokenizer to copy.
pub fn write_shape(shape: &str, out: &Path, tokenizer_from: Option<&Path>) -> Result<()> {
    let Some((_, json)) = SHAPES.iter().find(|(name, _)| *name == shape) else {
        let known: Vec<&str> = SHAPES.iter().map(|(n, _)| *n).collect();
        bail!(
            "unknown random model shape `{shape}` (known: {})",
            known.join(", ")
        );
    };
    if out.join("config.json").is_file() {
        return Ok(());
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
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;
    let source = match tokenizer_from {
        Some(dir) => dir.to_path_buf(),
        None => small_tokenizer(scratch.path())?,
    };
    save_model(&model, &tmp, Some(&source))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(())
}

/// A model directory in `scratch` whose tokenizer files the random models take.
fn small_tokenizer(scratch: &Path) -> Result<PathBuf> {
    let corpus = ["Question: what is two plus two?", "Answer: four."];
    let small = TinyConfig {
        vocab_size: 300,
        hidden_size: 16,
        intermediate_size: 32,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        ..TinyConfig::default()
    };
    let dir = scratch.join("tokenizer-source");
    tiny::create(&dir, corpus.iter(), &small)
        .context("training a tokenizer for the random model")?;
    Ok(dir)
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
    fn every_shape_parses_and_the_tiny_one_is_written_with_its_own_tokenizer() {
        for (name, json) in SHAPES {
            let cfg: Config = serde_json::from_str(json).unwrap();
            cfg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tiny");
        write_shape("tiny-llama", &out, None).unwrap();
        assert!(out.join("config.json").is_file());
        assert!(out.join("tokenizer.json").is_file());
        let (model, cfg) =
            crate::model::checkpoint::load_model(&out, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(cfg.vocab_size, 512);
        assert_eq!(model.dtype(), DType::F32);
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
