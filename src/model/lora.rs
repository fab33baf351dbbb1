//! LoRA adapters on the decoder's linear layers, saved in PEFT's layout.
//!
//! Files: `adapter_model.safetensors` (PEFT's name; `adapter.safetensors`, the name
//! older runs wrote, is still read) with keys
//! `base_model.model.<module path>.lora_A.weight` (`[r, in]`) and `.lora_B.weight`
//! (`[out, r]`), and `adapter_config.json` with `peft_type = "LORA"`,
//! `task_type = "CAUSAL_LM"`, `r`, `lora_alpha`, `lora_dropout`, `target_modules`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::decoder::Model;
use super::decoder_error::{DecoderError, Result};
use super::linear::LoraAdapter;

/// PEFT's file name: `PeftModel.from_pretrained` looks for exactly this.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The name runs wrote before they used PEFT's; still read so old runs load.
pub const LEGACY_ADAPTER_WEIGHTS: &str = "adapter.safetensors";
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
const PEFT_PREFIX: &str = "base_model.model.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f32,
    /// Last path components of the linear layers to adapt (`q_proj`, `down_proj`, ...).
    pub target_modules: Vec<String>,
}

impl LoraConfig {
    pub fn new(r: usize, lora_alpha: f64, lora_dropout: f32, targets: &[&str]) -> Self {
        Self {
            r,
            lora_alpha,
            lora_dropout,
            target_modules: targets.iter().map(|t| t.to_string()).collect(),
        }
    }

    pub fn scale(&self) -> f64 {
        self.lora_alpha / self.r as f64
    }
}

fn lora_key(path: &str, which: &str) -> String {
    format!("{PEFT_PREFIX}{path}.lora_{which}.weight")
}

/// Number of scalar parameters in a list of trainable vars (for `run_started`).
pub fn parameter_count(vars: &[(String, Var)]) -> usize {
    vars.iter().map(|(_, v)| v.elem_count()).sum()
}

impl Model {
    /// Freezes the base weights and adds fresh adapters to every linear layer whose
    /// name is in `cfg.target_modules`: `A` uniform in ±1/sqrt(in) (PEFT's Kaiming
    /// init), `B` zero, so the model's output is unchanged until training moves `B`.
    /// Returns the adapter vars named by their PEFT keys.
    pub fn attach_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<Vec<(String, Var)>> {
        if cfg.r == 0 {
            return Err(DecoderError::Lora("rank r must be > 0".into()));
        }
        if !(0.0..1.0).contains(&cfg.lora_dropout) {
            return Err(DecoderError::Lora(format!(
                "lora_dropout {} must be in [0, 1)",
                cfg.lora_dropout
            )));
        }
        self.freeze_base()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut matched = 0usize;
        let dtype = self.dtype();
        let device = self.device().clone();
        self.visit_linears_mut(&mut |lin| {
            if !cfg.target_modules.iter().any(|t| t == lin.module_name()) {
                return Ok(());
            }
            matched += 1;
            let (out_dim, in_dim) = lin.weight.dims2()?;
            let bound = 1.0 / (in_dim as f64).sqrt();
            let a: Vec<f32> = (0..cfg.r * in_dim)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect();
            let a = Tensor::from_vec(a, (cfg.r, in_dim), &device)?.to_dtype(dtype)?;
            let b = Tensor::zeros((out_dim, cfg.r), dtype, &device)?;
            lin.lora = Some(LoraAdapter {
                a: Var::from_tensor(&a)?,
                b: Var::from_tensor(&b)?,
                scale: cfg.scale(),
                dropout: cfg.lora_dropout,
            });
            Ok(())
        })?;
        if matched == 0 {
            return Err(DecoderError::Lora(format!(
                "no linear layer matches target_modules {:?}",
                cfg.target_modules
            )));
        }
        Ok(self.lora_vars())
    }

    /// The adapter vars (A then B per adapted layer), named by PEFT keys.
    pub fn lora_vars(&self) -> Vec<(String, Var)> {
        let mut vars = Vec::new();
        self.visit_linears(&mut |lin| {
            if let Some(l) = &lin.lora {
                vars.push((lora_key(&lin.path, "A"), l.a.clone()));
                vars.push((lora_key(&lin.path, "B"), l.b.clone()));
            }
        });
        vars
    }

    pub fn has_lora(&self) -> bool {
        !self.lora_vars().is_empty()
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into `dir`.
    /// `base_model` goes to `base_model_name_or_path`.
    pub fn save_lora(&self, dir: &Path, cfg: &LoraConfig, base_model: &str) -> Result<()> {
        let vars = self.lora_vars();
        if vars.is_empty() {
            return Err(DecoderError::Lora(
                "the model has no adapters to save".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| DecoderError::io(dir, e))?;
        let tensors: Vec<(String, Tensor)> = vars
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().detach()))
            .collect();
        super::checkpoint::write_safetensors(&dir.join(ADAPTER_WEIGHTS), &tensors)?;
        let config = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "r": cfg.r,
            "lora_alpha": cfg.lora_alpha,
            "lora_dropout": cfg.lora_dropout,
            "target_modules": cfg.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "use_rslora": false,
            "use_dora": false,
            "modules_to_save": null,
            "layers_to_transform": null,
            "base_model_name_or_path": base_model,
        });
        let path = dir.join(ADAPTER_CONFIG);
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| DecoderError::Lora(format!("cannot serialise adapter config: {e}")))?;
        std::fs::write(&path, text).map_err(|e| DecoderError::io(&path, e))
    }

    /// Reads an adapter saved by [`Model::save_lora`] (or by PEFT) and attaches it.
    /// Every adapted layer must be present in the file with matching shapes.
    pub fn load_lora(&mut self, dir: &Path) -> Result<(LoraConfig, Vec<(String, Var)>)> {
        let cfg = read_lora_config(&dir.join(ADAPTER_CONFIG))?;
        let weights_path = adapter_weights_path(dir);
        let tensors = candle_core::safetensors::load(&weights_path, self.device())
            .map_err(|e| DecoderError::Lora(format!("{}: {e}", weights_path.display())))?;
        let vars = self.attach_lora(&cfg, 0)?;
        assign(&vars, &tensors, &weights_path)?;
        Ok((cfg, vars))
    }

    /// Folds every adapter into its base weight and removes the adapters.
    pub fn merge_lora(&mut self) -> Result<()> {
        self.visit_linears_mut(&mut |lin| lin.merge_lora())?;
        Ok(())
    }
}

fn assign(vars: &[(String, Var)], tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    for (key, var) in vars {
        let t = tensors.get(key).ok_or_else(|| {
            DecoderError::Lora(format!("{}: missing tensor `{key}`", path.display()))
        })?;
        if t.dims() != var.dims() {
            return Err(DecoderError::Lora(format!(
                "{}: `{key}` has shape {:?}, the model expects {:?}",
                path.display(),
                t.dims(),
                var.dims()
            )));
        }
        var.set(&t.to_dtype(var.dtype())?)?;
    }
    let extra: Vec<&String> = tensors
        .keys()
        .filter(|k| !vars.iter().any(|(name, _)| name == *k))
        .collect();
    if !extra.is_empty() {
        return Err(DecoderError::Lora(format!(
            "{}: tensors not matching any adapted layer: {extra:?}",
            path.display()
        )));
    }
    Ok(())
}

/// The adapter weights of `dir`: PEFT's name, else the legacy one when only that
/// exists (the error for a folder with neither names PEFT's file).
pub fn adapter_weights_path(dir: &Path) -> std::path::PathBuf {
    let current = dir.join(ADAPTER_WEIGHTS);
    let legacy = dir.join(LEGACY_ADAPTER_WEIGHTS);
    if !current.is_file() && legacy.is_file() {
        legacy
    } else {
        current
    }
}

pub fn read_lora_config(path: &Path) -> Result<LoraConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| DecoderError::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| DecoderError::json(path, &e))?;
    let peft_type = value.get("peft_type").and_then(|v| v.as_str());
    if peft_type != Some("LORA") {
        return Err(DecoderError::Lora(format!(
            "{}: peft_type is {peft_type:?}, expected \"LORA\"",
            path.display()
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| DecoderError::Lora(format!("{}: {e}", path.display())))
}
