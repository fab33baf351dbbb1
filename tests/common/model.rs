//! Tiny random checkpoints of each family, written as Hugging Face directories.
#![allow(dead_code)]

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use plantune_tui::model::checkpoint::{CONFIG_FILE, random_model, save_model};
use plantune_tui::model::config::Config;
use plantune_tui::model::decoder::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const VOCAB: usize = 128;

/// config.json text of a tiny model. Gemma 3 has one KV head as gemma-3-1b does, and
/// because candle-transformers' gemma3 fails on non-contiguous values with more
/// ("slice-set only supports contiguous tensors").
/// It carries the extra keys candle-transformers'
/// config structs require, so the reference models parse the same file.
pub fn tiny_config_json(family: &str) -> String {
    match family {
        "llama" => r#"{
            "model_type": "llama", "architectures": ["LlamaForCausalLM"],
            "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64,
            "tie_word_embeddings": false, "hidden_act": "silu",
            "bos_token_id": 1, "eos_token_id": 2
        }"#
        .into(),
        "llama3_tied" => r#"{
            "model_type": "llama",
            "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 64,
            "tie_word_embeddings": true, "hidden_act": "silu",
            "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 16, "rope_type": "llama3"}
        }"#
        .into(),
        "qwen2" => r#"{
            "model_type": "qwen2",
            "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 64,
            "sliding_window": 4096, "max_window_layers": 2, "use_sliding_window": false,
            "tie_word_embeddings": false, "hidden_act": "silu"
        }"#
        .into(),
        "qwen3" => r#"{
            "model_type": "qwen3",
            "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 32, "attention_bias": false,
            "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 64,
            "sliding_window": null, "max_window_layers": 2, "use_sliding_window": false,
            "tie_word_embeddings": true, "hidden_act": "silu"
        }"#
        .into(),
        "gemma3" => r#"{
            "model_type": "gemma3_text",
            "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
            "head_dim": 16, "attention_bias": false, "hidden_activation": "gelu_pytorch_tanh",
            "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
            "max_position_embeddings": 64, "query_pre_attn_scalar": 16,
            "sliding_window": 8, "sliding_window_pattern": 2,
            "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0
        }"#
        .into(),
        other => panic!("no tiny config for {other}"),
    }
}

pub fn tiny_config(family: &str) -> Config {
    serde_json::from_str(&tiny_config_json(family)).unwrap()
}

/// Random model of `family` (norm weights jittered so norm bugs show up).
pub fn tiny_model(family: &str, dtype: DType, seed: u64) -> Model {
    tiny_model_on(family, dtype, seed, &Device::Cpu)
}

pub fn tiny_model_on(family: &str, dtype: DType, seed: u64, device: &Device) -> Model {
    random_model(&tiny_config(family), dtype, device, seed, 0.15, 0.3).unwrap()
}

/// Where the gradient checks run: `PLANTUNE_TEST_DEVICE` (`cpu`, `cuda:N`; the CPU
/// when unset), so bench/gpu.sh runs the same checks on a GPU. One per process:
/// candle refuses to mix tensors of two CUDA contexts.
pub fn test_device() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let spec: plantune_tui::device::DeviceSpec = std::env::var("PLANTUNE_TEST_DEVICE")
                .unwrap_or_else(|_| "cpu".into())
                .parse()
                .unwrap_or_else(|e| panic!("PLANTUNE_TEST_DEVICE: {e}"));
            plantune_tui::device::open(spec)
                .unwrap_or_else(|e| panic!("opening {spec} for the tests: {e}"))
        })
        .clone()
}

/// Writes a tiny random model of `family` into `dir` and overwrites its config.json
/// with the full text (including the reference models' extra keys).
pub fn write_tiny_checkpoint(family: &str, dir: &Path, seed: u64) -> Model {
    let model = tiny_model(family, DType::F32, seed);
    save_model(&model, dir, None).unwrap();
    std::fs::write(dir.join(CONFIG_FILE), tiny_config_json(family)).unwrap();
    model
}

pub fn random_ids(b: usize, t: usize, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ids: Vec<u32> = (0..b * t)
        .map(|_| rng.random_range(0..VOCAB as u32))
        .collect();
    Tensor::from_vec(ids, (b, t), &Device::Cpu).unwrap()
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}
