//! Saving and loading: full models in the Hugging Face layout (single file, shards,
//! dtypes), LoRA adapters in PEFT's layout, and merging adapters into the base.

#![allow(clippy::unwrap_used)]
use crate::common;

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the latter.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::model::{max_abs_diff, random_ids, tiny_model, write_tiny_checkpoint};
use plantune_tui::model::checkpoint::{self, load_model, save_model, write_safetensors};
use plantune_tui::model::decoder_error::DecoderError;
use plantune_tui::model::lora::{self, LoraConfig, parameter_count};

fn logits(model: &plantune_tui::model::decoder::Model) -> Tensor {
    model.forward(&random_ids(2, 5, 3), None, None).unwrap()
}

#[test]
fn save_then_load_gives_identical_logits_for_every_family() {
    for family in ["llama", "qwen2", "qwen3", "gemma3"] {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny_model(family, DType::F32, 50);
        std::fs::write(dir.path().join("src_tokenizer.json"), "{}").unwrap();
        save_model(&model, dir.path(), None).unwrap();
        let (loaded, cfg) = load_model(dir.path(), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            max_abs_diff(&logits(&model), &logits(&loaded)),
            0.0,
            "{family}"
        );
        assert_eq!(cfg.torch_dtype.as_deref(), Some("float32"));
        // transformers refuses safetensors files without {"format": "pt"}.
        let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let format = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("format").cloned());
        assert_eq!(format.as_deref(), Some("pt"));
    }
}

#[test]
fn saved_config_keeps_unknown_keys_and_tokenizer_files_are_copied() {
    let src = tempfile::tempdir().unwrap();
    write_tiny_checkpoint("llama", src.path(), 51);
    std::fs::write(src.path().join("tokenizer.json"), "{\"model\": {}}").unwrap();
    std::fs::write(src.path().join("generation_config.json"), "{}").unwrap();
    let (model, _) = load_model(src.path(), DType::F32, &Device::Cpu).unwrap();
    let out = tempfile::tempdir().unwrap();
    save_model(&model, out.path(), Some(src.path())).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["architectures"][0], "LlamaForCausalLM");
    assert_eq!(saved["eos_token_id"], 2);
    assert_eq!(saved["tie_word_embeddings"], false);
    assert_eq!(
        std::fs::read_to_string(out.path().join("tokenizer.json")).unwrap(),
        "{\"model\": {}}"
    );
    assert!(out.path().join("generation_config.json").is_file());
}

#[test]
fn sharded_checkpoint_loads_like_a_single_file() {
    let single = tempfile::tempdir().unwrap();
    let model = write_tiny_checkpoint("qwen2", single.path(), 52);
    let weights = model.named_weights().unwrap();
    let sharded = tempfile::tempdir().unwrap();
    let (first, second) = weights.split_at(weights.len() / 2);
    let mut map = serde_json::Map::new();
    for (part, name) in [
        (first, "model-00001-of-00002.safetensors"),
        (second, "model-00002-of-00002.safetensors"),
    ] {
        write_safetensors(&sharded.path().join(name), part).unwrap();
        for (k, _) in part {
            map.insert(k.clone(), serde_json::Value::String(name.into()));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(
        sharded.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    std::fs::copy(
        single.path().join("config.json"),
        sharded.path().join("config.json"),
    )
    .unwrap();
    let (loaded, _) = load_model(sharded.path(), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&logits(&model), &logits(&loaded)), 0.0);
}

#[test]
fn half_precision_loads_close_to_f32_and_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_tiny_checkpoint("gemma3", dir.path(), 53);
    let reference = logits(&model);
    for (dtype, name) in [(DType::BF16, "bfloat16"), (DType::F16, "float16")] {
        let (half, _) = load_model(dir.path(), dtype, &Device::Cpu).unwrap();
        let out = logits(&half);
        assert_eq!(out.dtype(), dtype);
        let d = max_abs_diff(&out, &reference);
        assert!(d < 0.25, "{name}: logits differ from f32 by {d}");
        let out_dir = tempfile::tempdir().unwrap();
        save_model(&half, out_dir.path(), None).unwrap();
        let (again, cfg) = load_model(out_dir.path(), dtype, &Device::Cpu).unwrap();
        assert_eq!(cfg.torch_dtype.as_deref(), Some(name));
        assert_eq!(max_abs_diff(&out, &logits(&again)), 0.0);
    }
}

#[test]
fn bad_directories_give_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_model(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(matches!(err, DecoderError::Io { .. }), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        common::model::tiny_config_json("llama"),
    )
    .unwrap();
    let err = load_model(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(matches!(err, DecoderError::MissingWeights { .. }), "{err}");
    std::fs::write(
        dir.path().join("config.json"),
        "{\"model_type\": \"gpt2\", \"vocab_size\": 1}",
    )
    .unwrap();
    let err = load_model(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
}

fn lora_cfg() -> LoraConfig {
    LoraConfig::new(4, 16.0, 0.05, &["q_proj", "v_proj", "down_proj"])
}

/// A model with an adapter whose B is non-zero, so the adapter changes the logits.
fn adapted(family: &str) -> plantune_tui::model::decoder::Model {
    let mut model = tiny_model(family, DType::F32, 60);
    let vars = model.attach_lora(&lora_cfg(), 9).unwrap();
    if family == "llama" {
        // Per layer, r * (in + out) for q (64->64), v (64->32) and down (96->64).
        let per_layer = 4 * (64 + 64) + 4 * (64 + 32) + 4 * (96 + 64);
        assert_eq!(parameter_count(&vars), 2 * per_layer);
    }
    for (i, (name, v)) in vars.iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let t = (Tensor::randn(0f32, 0.1, v.dims(), &Device::Cpu).unwrap() + i as f64 * 1e-3)
                .unwrap();
            v.set(&t).unwrap();
        }
    }
    model
}

#[test]
fn lora_adapter_saves_in_peft_layout_and_loads_back_identically() {
    let model = adapted("llama");
    let base_logits = logits(&tiny_model("llama", DType::F32, 60));
    let with_adapter = logits(&model);
    assert!(
        max_abs_diff(&base_logits, &with_adapter) > 1e-3,
        "adapter must matter"
    );
    let dir = tempfile::tempdir().unwrap();
    model
        .save_lora(dir.path(), &lora_cfg(), "tiny-llama")
        .unwrap();

    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(lora::ADAPTER_CONFIG)).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["task_type"], "CAUSAL_LM");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["lora_alpha"], 16.0);
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["q_proj", "v_proj", "down_proj"])
    );
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.path().join(lora::ADAPTER_WEIGHTS), &Device::Cpu)
            .unwrap();
    assert_eq!(tensors.len(), 2 * 3 * 2);
    let a = &tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"];
    let b = &tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"];
    assert_eq!(a.dims(), &[4, 64]);
    assert_eq!(b.dims(), &[64, 4]);

    let mut fresh = tiny_model("llama", DType::F32, 60);
    let (loaded_cfg, vars) = fresh.load_lora(dir.path()).unwrap();
    assert_eq!(loaded_cfg, lora_cfg());
    assert_eq!(vars.len(), 12);
    assert_eq!(max_abs_diff(&logits(&fresh), &with_adapter), 0.0);
}

#[test]
fn lora_adapter_uses_peft_file_name_and_still_reads_the_old_one() {
    let model = adapted("llama");
    let with_adapter = logits(&model);
    let dir = tempfile::tempdir().unwrap();
    model
        .save_lora(dir.path(), &lora_cfg(), "tiny-llama")
        .unwrap();
    // PEFT's `from_pretrained` looks for exactly this name.
    assert!(dir.path().join("adapter_model.safetensors").is_file());
    assert!(!dir.path().join("adapter.safetensors").exists());
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["base_model_name_or_path"], "tiny-llama");

    // A run written before the rename has `adapter.safetensors`: it still loads.
    std::fs::rename(
        dir.path().join("adapter_model.safetensors"),
        dir.path().join("adapter.safetensors"),
    )
    .unwrap();
    let mut fresh = tiny_model("llama", DType::F32, 60);
    fresh.load_lora(dir.path()).unwrap();
    assert_eq!(max_abs_diff(&logits(&fresh), &with_adapter), 0.0);

    // Neither file: the error names PEFT's file.
    std::fs::remove_file(dir.path().join("adapter.safetensors")).unwrap();
    let mut empty = tiny_model("llama", DType::F32, 60);
    let err = empty.load_lora(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("adapter_model.safetensors"),
        "{err}"
    );
}

#[test]
fn lora_adapter_for_other_shapes_is_rejected() {
    let model = adapted("llama");
    let dir = tempfile::tempdir().unwrap();
    model
        .save_lora(dir.path(), &lora_cfg(), "tiny-llama")
        .unwrap();
    let mut other = tiny_model("qwen3", DType::F32, 1);
    let err = other.load_lora(dir.path()).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}

#[test]
fn merged_model_equals_base_plus_adapter_and_saves_as_plain_checkpoint() {
    for family in ["llama", "qwen2", "qwen3", "gemma3"] {
        let mut model = adapted(family);
        let with_adapter = logits(&model);
        model.merge_lora().unwrap();
        assert!(!model.has_lora());
        let merged = logits(&model);
        let d = max_abs_diff(&merged, &with_adapter);
        assert!(d < 1e-4, "{family}: merged differs by {d}");
        let dir = tempfile::tempdir().unwrap();
        save_model(&model, dir.path(), None).unwrap();
        let tensors = checkpoint::load_tensors(dir.path(), &Device::Cpu).unwrap();
        assert!(tensors.keys().all(|k| !k.contains("lora")));
        let (loaded, _) = load_model(dir.path(), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(max_abs_diff(&logits(&loaded), &merged), 0.0);
    }
}

#[test]
fn saving_a_full_model_with_unmerged_adapters_is_refused() {
    let model = adapted("qwen2");
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        save_model(&model, dir.path(), None),
        Err(DecoderError::Lora(_))
    ));
}
