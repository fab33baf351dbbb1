//! The demo's default student: a small Llama-architecture model initialised from
//! scratch, with a byte-level BPE tokenizer trained on a given corpus (the workspace's
//! own text: `train::tiny`). It is written as an ordinary Hugging Face model directory,
//! so every other part of the tool (training, generation, evaluation, export) treats it
//! like any downloaded model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

/// ChatML, the template SmolLM2 and Qwen use, so prompts look the same across students.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

const SPECIAL_TOKENS: [&str; 3] = ["<|pad|>", "<|im_start|>", "<|im_end|>"];

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TinyConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub max_position_embeddings: usize,
    pub seed: u64,
}

impl Default for TinyConfig {
    /// Sized so SFT on a few hundred synthetic problems fits the demo's CPU budget.
    fn default() -> Self {
        Self {
            vocab_size: 1024,
            hidden_size: 128,
            intermediate_size: 352,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 1024,
            seed: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TinyError {
    #[error("training the tokenizer: {0}")]
    Tokenizer(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building weights: {0}")]
    Tensor(#[from] candle_core::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TinyError + '_ {
    move |source| TinyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Byte-level BPE with digits split one by one: arithmetic is learnable only if "347"
/// is always the three tokens 3, 4, 7.
pub fn train_tokenizer<I, S>(corpus: I, vocab_size: usize) -> Result<Tokenizer, TinyError>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut trainer: tokenizers::models::TrainerWrapper = trainer.into();
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    tokenizer
        .train(&mut trainer, corpus)
        .map_err(|e| TinyError::Tokenizer(e.to_string()))?;
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| TinyError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}

/// Normal(0, std) samples from a seeded stream (Box–Muller), identical on every machine.
fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    use rand::Rng;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let theta = 2.0 * std::f64::consts::PI * u2;
        out.push((r * theta.cos()) as f32);
        out.push((r * theta.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// Random weights under the Hugging Face Llama names, with tied embeddings.
pub fn init_weights(cfg: &TinyConfig) -> Result<HashMap<String, Tensor>, TinyError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let head_dim = cfg.hidden_size / cfg.num_attention_heads;
    let h = cfg.hidden_size;
    let q = cfg.num_attention_heads * head_dim;
    let kv = cfg.num_key_value_heads * head_dim;
    let i = cfg.intermediate_size;
    let mut weights = HashMap::new();
    let mut matrix = |name: String, rows: usize, cols: usize, rng: &mut ChaCha8Rng| {
        let data = normal(rng, rows * cols, 0.02);
        Tensor::from_vec(data, (rows, cols), &Device::Cpu).map(|t| weights.insert(name, t))
    };
    matrix(
        "model.embed_tokens.weight".into(),
        cfg.vocab_size,
        h,
        &mut rng,
    )?;
    for layer in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{layer}");
        matrix(format!("{p}.self_attn.q_proj.weight"), q, h, &mut rng)?;
        matrix(format!("{p}.self_attn.k_proj.weight"), kv, h, &mut rng)?;
        matrix(format!("{p}.self_attn.v_proj.weight"), kv, h, &mut rng)?;
        matrix(format!("{p}.self_attn.o_proj.weight"), h, q, &mut rng)?;
        matrix(format!("{p}.mlp.gate_proj.weight"), i, h, &mut rng)?;
        matrix(format!("{p}.mlp.up_proj.weight"), i, h, &mut rng)?;
        matrix(format!("{p}.mlp.down_proj.weight"), h, i, &mut rng)?;
    }
    let ones = || Tensor::ones(h, candle_core::DType::F32, &Device::Cpu);
    for layer in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{layer}");
        weights.insert(format!("{p}.input_layernorm.weight"), ones()?);
        weights.insert(format!("{p}.post_attention_layernorm.weight"), ones()?);
    }
    weights.insert("model.norm.weight".into(), ones()?);
    Ok(weights)
}

fn config_json(cfg: &TinyConfig, tokenizer: &Tokenizer) -> serde_json::Value {
    let id = |t: &str| tokenizer.token_to_id(t);
    serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": tokenizer.get_vocab_size(true).max(cfg.vocab_size),
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.hidden_size / cfg.num_attention_heads,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true,
        "bos_token_id": id("<|im_start|>"),
        "eos_token_id": id("<|im_end|>"),
        "pad_token_id": id("<|pad|>"),
        "torch_dtype": "float32"
    })
}

/// Writes the whole model directory atomically (a temp dir renamed into place).
pub fn create<I, S>(out_dir: &Path, corpus: I, cfg: &TinyConfig) -> Result<(), TinyError>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let tokenizer = train_tokenizer(corpus, cfg.vocab_size)?;
    let mut cfg = *cfg;
    cfg.vocab_size = tokenizer.get_vocab_size(true).max(cfg.vocab_size);
    let parent = out_dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    // Unique per process and thread: two runs starting at once may both create it.
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{:?}",
        out_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let tok_path = tmp.join("tokenizer.json");
    tokenizer
        .save(&tok_path, false)
        .map_err(|e| TinyError::Tokenizer(e.to_string()))?;
    let write_json = |name: &str, value: serde_json::Value| {
        let path = tmp.join(name);
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        std::fs::write(&path, text).map_err(io(&path))
    };
    write_json("config.json", config_json(&cfg, &tokenizer))?;
    write_json(
        "tokenizer_config.json",
        serde_json::json!({
            "chat_template": CHATML_TEMPLATE,
            "bos_token": null,
            "eos_token": "<|im_end|>",
            "pad_token": "<|pad|>",
            "add_bos_token": false,
            "model_max_length": cfg.max_position_embeddings,
        }),
    )?;
    write_json(
        "generation_config.json",
        serde_json::json!({
            "eos_token_id": tokenizer.token_to_id("<|im_end|>"),
            "pad_token_id": tokenizer.token_to_id("<|pad|>"),
            "do_sample": false,
        }),
    )?;
    let weights = init_weights(&cfg)?;
    candle_core::safetensors::save(&weights, tmp.join("model.safetensors"))?;
    // The model is a pure function of the workspace and the seed, so one created
    // meanwhile by another run is the same model: keep it rather than swap it out
    // under that run's feet.
    if std::fs::rename(&tmp, out_dir).is_err() {
        if out_dir.join("config.json").is_file() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
            return Ok(());
        }
        // A half-written leftover of a crashed attempt.
        if out_dir.exists() {
            std::fs::remove_dir_all(out_dir).map_err(io(out_dir))?;
        }
        std::fs::rename(&tmp, out_dir).map_err(io(out_dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        (0..200)
            .map(|i| {
                format!(
                    "Tom has {i} apples and buys {} more. 3 + 4 = 7. The answer is \\boxed{{{}}}.",
                    i % 13,
                    i + i % 13
                )
            })
            .collect()
    }

    #[test]
    fn digits_are_single_tokens_and_text_round_trips() {
        let tok = train_tokenizer(corpus().into_iter(), 300).unwrap();
        let text = "Tom has 347 apples.\nThe answer is \\boxed{354}.";
        let enc = tok.encode(text, false).unwrap();
        let pieces = enc.get_tokens().join("|");
        assert!(pieces.contains("3|4|7"), "{pieces}");
        assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text);
        let special = tok.encode("<|im_start|>user", false).unwrap();
        assert_eq!(
            special.get_ids()[0],
            tok.token_to_id("<|im_start|>").unwrap()
        );
    }

    #[test]
    fn a_model_directory_is_written_and_seeded() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tiny");
        let cfg = TinyConfig::default();
        create(&out, corpus().into_iter(), &cfg).unwrap();
        for file in [
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "model.safetensors",
            "generation_config.json",
        ] {
            assert!(out.join(file).is_file(), "{file}");
        }
        let weights =
            candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
        assert_eq!(weights.len(), 1 + 9 * cfg.num_hidden_layers + 1);
        let again = init_weights(&cfg).unwrap();
        let a = weights["model.layers.0.self_attn.q_proj.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = again["model.layers.0.self_attn.q_proj.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b, "same seed, same weights");
        let std = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        assert!((std - 0.02).abs() < 0.002, "{std}");
    }
}
