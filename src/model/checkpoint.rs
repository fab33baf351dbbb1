//! Loading and saving models in the Hugging Face directory layout:
//! `config.json` + `model.safetensors` (or shards listed in
//! `model.safetensors.index.json`), tokenizer files alongside.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::{Init, VarBuilder, var_builder::SimpleBackend};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{Config, Family};
use super::decoder::Model;
use super::decoder_error::{DecoderError, Result};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

/// Files copied next to a saved model when the source directory has them.
pub const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
];

/// The safetensors files of a model directory, single or sharded.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if !index.is_file() {
        return Err(DecoderError::MissingWeights {
            dir: dir.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(&index).map_err(|e| DecoderError::io(&index, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| DecoderError::json(&index, &e))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| {
            DecoderError::Config(format!("{}: no `weight_map` object", index.display()))
        })?;
    let mut files = BTreeSet::new();
    for (key, file) in map {
        let name = file.as_str().ok_or_else(|| {
            DecoderError::Config(format!(
                "{}: weight_map[{key}] is not a file name",
                index.display()
            ))
        })?;
        files.insert(dir.join(name));
    }
    Ok(files.into_iter().collect())
}

/// Every tensor of a model directory, keyed by checkpoint name, on `device`.
pub fn load_tensors(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut all = HashMap::new();
    for file in weight_files(dir)? {
        let tensors = candle_core::safetensors::load(&file, device)
            .map_err(|e| DecoderError::Config(format!("{}: {e}", file.display())))?;
        all.extend(tensors);
    }
    Ok(all)
}

/// Loads `config.json` and the weights of `dir`, converting them to `dtype`.
/// The returned model is frozen (plain tensors); call `trainable_full` or
/// `attach_lora` before training.
pub fn load_model(dir: &Path, dtype: DType, device: &Device) -> Result<(Model, Config)> {
    let cfg = Config::from_file(&dir.join(CONFIG_FILE))?;
    let tensors = load_tensors(dir, device)?;
    let vb = VarBuilder::from_tensors(tensors, dtype, device);
    let model = Model::new(&cfg, vb)
        .map_err(|e| DecoderError::Config(format!("{}: {e}", dir.display())))?;
    Ok((model, cfg))
}

/// A model with fresh random weights (for training from scratch and for tests).
/// Matrices are uniform with standard deviation `std`; norm weights are one (zero
/// offsets for Gemma's `(1 + w)` norms) unless `norm_jitter` > 0 perturbs them.
pub fn random_model(
    cfg: &Config,
    dtype: DType,
    device: &Device,
    seed: u64,
    std: f64,
    norm_jitter: f64,
) -> Result<Model> {
    let backend = RandomBackend {
        seed,
        std,
        norm_jitter,
        norm_center: if cfg.family()? == Family::Gemma3 {
            0.0
        } else {
            1.0
        },
    };
    let vb = VarBuilder::from_backend(Box::new(backend), dtype, device.clone());
    Ok(Model::new(cfg, vb)?)
}

struct RandomBackend {
    seed: u64,
    std: f64,
    norm_jitter: f64,
    norm_center: f64,
}

impl SimpleBackend for RandomBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        // Seeded by name, so a tensor's values do not depend on construction order.
        let name_hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ name_hash);
        let is_norm = name.ends_with("norm.weight");
        let (center, half_width) = if is_norm {
            (self.norm_center, self.norm_jitter)
        } else {
            (0.0, self.std * 3f64.sqrt())
        };
        let n = s.elem_count();
        let data: Vec<f32> = (0..n)
            .map(|_| {
                let u = if half_width > 0.0 {
                    rng.random_range(-half_width..half_width)
                } else {
                    0.0
                };
                (center + u) as f32
            })
            .collect();
        Tensor::from_vec(data, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random init needs a shape for `{name}`")
    }

    /// Every tensor exists; whether the head is tied is the config's decision.
    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}

/// Writes tensors with `{"format": "pt"}` metadata, which transformers checks for.
pub fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    let metadata: HashMap<String, String> =
        HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize_to_file(
        contiguous.iter().map(|(k, t)| (k.as_str(), t)),
        Some(metadata),
        path,
    )
    .map_err(|e| DecoderError::Config(format!("{}: cannot write safetensors: {e}", path.display())))
}

fn torch_dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        DType::F64 => "float64",
        _ => "float32",
    }
}

/// Saves the base weights (adapters must be merged or dropped first) as
/// `model.safetensors` + `config.json`, so transformers and vLLM load it unchanged.
/// Tokenizer files found in `source_dir` are copied along.
pub fn save_model(model: &Model, dir: &Path, source_dir: Option<&Path>) -> Result<()> {
    if model.has_lora() {
        return Err(DecoderError::Lora(
            "merge the adapters (merge_lora) before saving a full model".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| DecoderError::io(dir, e))?;
    let weights: Vec<(String, Tensor)> = model
        .named_weights()?
        .into_iter()
        .map(|(k, t)| (k, t.detach()))
        .collect();
    write_safetensors(&dir.join(WEIGHTS_FILE), &weights)?;
    let mut cfg = model.config().clone();
    cfg.torch_dtype = Some(torch_dtype_name(model.dtype()).to_string());
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, cfg.to_json_pretty()?).map_err(|e| DecoderError::io(&path, e))?;
    if let Some(src) = source_dir {
        for name in TOKENIZER_FILES {
            let from = src.join(name);
            if from.is_file() && src != dir {
                let to = dir.join(name);
                std::fs::copy(&from, &to).map_err(|e| DecoderError::io(&from, e))?;
            }
        }
    }
    Ok(())
}
