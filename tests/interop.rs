//! What the workbench writes, loaded by the real libraries users take it to:
//! transformers, PEFT and the `gguf` package (llama.cpp's own reader), in the venv of
//! `tests/python-venv.sh` (`PLANTUNE_PYTHON`; tests/run.sh sets it). No silent skip:
//! without that Python every test here fails and says how to get it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};
use plantune_tui::model::checkpoint::{load_model, random_model, save_model};
use plantune_tui::model::config::Config;
use plantune_tui::model::decoder::Model;
use plantune_tui::model::gguf::{ExportType, export_gguf, import_gguf};
use plantune_tui::model::lora::LoraConfig;
use plantune_tui::model::tiny::{TinyConfig, create};
use plantune_tui::model::tokenizer::ModelTokenizer;
use serde_json::{Value as Json, json};

const PROMPTS: [&str; 3] = [
    "Tom has 3 apples and buys 4 more.",
    "The answer is \\boxed{7}.",
    "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n",
];

fn python() -> PathBuf {
    let Some(py) = std::env::var_os("PLANTUNE_PYTHON") else {
        panic!(
            "PLANTUNE_PYTHON is not set: the interop tests need transformers, peft and gguf. \
             Run `export PLANTUNE_PYTHON=$(bash tests/python-venv.sh)` (tests/run.sh does)."
        );
    };
    PathBuf::from(py)
}

/// Runs tests/interop/hf.py in `mode` on `request`; its JSON answer.
fn hf(mode: &str, request: &Json, work: &Path) -> Json {
    let req = work.join(format!("{mode}-request.json"));
    let resp = work.join(format!("{mode}-response.json"));
    std::fs::write(&req, request.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/hf.py");
    let out = Command::new(python())
        .arg(&script)
        .args([mode, req.to_str().unwrap(), resp.to_str().unwrap()])
        .env("HF_HUB_OFFLINE", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .output()
        .expect("running the interop Python");
    assert!(
        out.status.success(),
        "hf.py {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&resp).unwrap()).unwrap()
}

/// A tiny llama with the workbench's own tokenizer and weights large enough that the
/// logits spread (a wrong layout cannot hide inside rounding).
fn tiny_llama(dir: &Path) -> Model {
    let corpus = (0..200).map(|i| {
        format!("Tom has {i} apples and buys 4 more. 3 + 4 = 7. The answer is \\boxed{{{i}}}.")
    });
    let cfg = TinyConfig {
        vocab_size: 400,
        hidden_size: 64,
        intermediate_size: 96,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
        seed: 5,
    };
    create(dir, corpus, &cfg).unwrap();
    let config = Config::from_file(&dir.join("config.json")).unwrap();
    let model = random_model(&config, DType::F32, &Device::Cpu, 11, 0.15, 0.3).unwrap();
    save_model(&model, dir, None).unwrap();
    model
}

fn prompt_ids(dir: &Path) -> Vec<Vec<u32>> {
    let tok = ModelTokenizer::from_dir(dir).unwrap();
    PROMPTS
        .iter()
        .map(|p| tok.encode(p, false).unwrap())
        .collect()
}

fn our_logits(model: &Model, ids: &[Vec<u32>]) -> Vec<Vec<f32>> {
    ids.iter()
        .map(|row| {
            let input = Tensor::new(row.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            model
                .forward(&input, None, None)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

fn json_logits(v: &Json) -> Vec<Vec<f32>> {
    serde_json::from_value(v["logits"].clone()).unwrap()
}

/// The largest difference, and the largest magnitude of `a` (for a sense of scale).
fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let mut diff = 0f32;
    let mut scale = 0f32;
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.len(), y.len(), "logit counts differ");
        for (p, q) in x.iter().zip(y) {
            diff = diff.max((p - q).abs());
            scale = scale.max(p.abs());
        }
    }
    (diff, scale)
}

fn request(model: &Path, adapter: Option<&Path>, ids: &[Vec<u32>]) -> Json {
    json!({"model": model, "adapter": adapter, "ids": ids, "texts": PROMPTS})
}

#[test]
fn transformers_loads_a_full_model_with_our_logits_and_tokens() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("final");
    let model = tiny_llama(&dir);
    let ids = prompt_ids(&dir);
    let theirs = hf("full", &request(&dir, None, &ids), work.path());
    let their_ids: Vec<Vec<u32>> = serde_json::from_value(theirs["ids"].clone()).unwrap();
    assert_eq!(
        their_ids, ids,
        "transformers tokenizes the prompts differently"
    );
    let (diff, scale) = max_diff(&our_logits(&model, &ids), &json_logits(&theirs));
    assert!(scale > 1.0, "logits too flat to compare: {scale}");
    assert!(diff < 1e-4, "logits differ by {diff} (scale {scale})");
}

fn random_adapter(model: &mut Model) {
    let cfg = LoraConfig::new(4, 8.0, 0.0, &["q_proj", "v_proj", "down_proj"]);
    let vars = model.attach_lora(&cfg, 3).unwrap();
    for (i, (_, var)) in vars.iter().enumerate() {
        let t = Tensor::randn(0f32, 0.2, var.dims(), &Device::Cpu).unwrap();
        var.set(&t).unwrap();
        assert!(i < 1000);
    }
}

#[test]
fn peft_loads_our_adapter_and_we_load_peft_s_with_equal_logits() {
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base");
    let mut model = tiny_llama(&base);
    let ids = prompt_ids(&base);
    let plain = our_logits(&model, &ids);

    // Ours → PEFT.
    random_adapter(&mut model);
    let adapter = work.path().join("final");
    let cfg = LoraConfig::new(4, 8.0, 0.0, &["q_proj", "v_proj", "down_proj"]);
    model
        .save_lora(&adapter, &cfg, base.to_str().unwrap())
        .unwrap();
    let ours = our_logits(&model, &ids);
    let (moved, _) = max_diff(&plain, &ours);
    assert!(moved > 1e-2, "the adapter must change the logits ({moved})");
    let theirs = hf("peft", &request(&base, Some(&adapter), &ids), work.path());
    let (diff, scale) = max_diff(&ours, &json_logits(&theirs));
    assert!(
        diff < 1e-4,
        "PEFT's logits differ by {diff} (scale {scale})"
    );

    // PEFT → ours.
    let peft_dir = work.path().join("peft-adapter");
    let theirs = hf(
        "peft-write",
        &request(&base, Some(&peft_dir), &ids),
        work.path(),
    );
    let (mut fresh, _) = load_model(&base, DType::F32, &Device::Cpu).unwrap();
    fresh.load_lora(&peft_dir).unwrap();
    let ours = our_logits(&fresh, &ids);
    let (moved, _) = max_diff(&plain, &ours);
    assert!(
        moved > 1e-2,
        "PEFT's adapter must change the logits ({moved})"
    );
    let (diff, scale) = max_diff(&ours, &json_logits(&theirs));
    assert!(
        diff < 1e-4,
        "logits with PEFT's adapter differ by {diff} (scale {scale})"
    );
}

/// Exports `dir` (+ `adapter`), re-imports the GGUF and compares logits on the prompts;
/// returns the GGUF path and the largest difference relative to the largest logit.
fn round_trip(
    dir: &Path,
    adapter: Option<&Path>,
    reference: &Model,
    ty: ExportType,
    tag: &str,
) -> (PathBuf, f32) {
    let work = dir.parent().unwrap();
    let gguf = work.join(format!("{tag}.gguf"));
    export_gguf(dir, adapter, &gguf, ty, tag).unwrap();
    let back = work.join(format!("{tag}-imported"));
    import_gguf(&gguf, &back, DType::F32).unwrap();
    let ids = prompt_ids(dir);
    assert_eq!(
        prompt_ids(&back),
        ids,
        "{tag}: the vocabulary did not survive"
    );
    let (model, _) = load_model(&back, DType::F32, &Device::Cpu).unwrap();
    let (diff, scale) = max_diff(&our_logits(reference, &ids), &our_logits(&model, &ids));
    assert!(scale > 1.0, "{tag}: logits too flat to compare ({scale})");
    (gguf, diff / scale)
}

#[test]
fn gguf_export_re_imports_within_each_type_s_tolerance_and_gguf_reads_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("final");
    let model = tiny_llama(&dir);
    let mut diffs = Vec::new();
    for (ty, tag, tolerance) in [
        // Relative to the largest logit: f32 is exact up to summation order; f16 keeps
        // 11 significant bits, q8_0 about 8 per block of 32.
        (ExportType::F32, "f32", 1e-5),
        (ExportType::F16, "f16", 5e-3),
        (ExportType::Q8_0, "q8_0", 5e-2),
    ] {
        let (gguf, diff) = round_trip(&dir, None, &model, ty, tag);
        assert!(
            diff < tolerance,
            "{tag}: re-imported logits differ by {diff} of the largest logit"
        );
        eprintln!("{tag}: re-imported logits differ by {diff} of the largest logit");
        diffs.push(diff);
        let read = hf("gguf", &json!({"gguf": gguf}), work.path());
        let md = &read["metadata"];
        assert_eq!(md["general.architecture"], "llama");
        assert_eq!(md["tokenizer.ggml.model"], "gpt2");
        assert_eq!(md["tokenizer.ggml.pre"], "smollm");
        assert_eq!(md["llama.block_count"], 2);
        assert!(
            md["tokenizer.chat_template"]
                .as_str()
                .unwrap()
                .contains("im_start")
        );
        let tensors = read["tensors"].as_array().unwrap();
        // Embedding, 9 per layer, final norm; the tiny model ties its output head.
        assert_eq!(tensors.len(), 1 + 2 * 9 + 1, "{tensors:?}");
        let q = tensors
            .iter()
            .find(|t| t["name"] == "blk.0.attn_q.weight")
            .unwrap();
        let want = match ty {
            ExportType::F32 => "F32",
            ExportType::F16 => "F16",
            ExportType::Q8_0 => "Q8_0",
        };
        assert_eq!(q["type"], want, "{q}");
        let norm = tensors
            .iter()
            .find(|t| t["name"] == "output_norm.weight")
            .unwrap();
        assert_eq!(norm["type"], "F32");
    }
    // The coarser the type, the larger the error, and none is free.
    assert!(
        diffs[0] <= diffs[1] && diffs[1] <= diffs[2] && diffs[2] > 0.0,
        "{diffs:?}"
    );
}

#[test]
fn a_lora_run_exports_merged_and_gemma_norms_round_trip() {
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base");
    let mut model = tiny_llama(&base);
    random_adapter(&mut model);
    let adapter = work.path().join("final");
    let cfg = LoraConfig::new(4, 8.0, 0.0, &["q_proj", "v_proj", "down_proj"]);
    model
        .save_lora(&adapter, &cfg, base.to_str().unwrap())
        .unwrap();
    let (_, diff) = round_trip(&base, Some(&adapter), &model, ExportType::F32, "merged");
    assert!(
        diff < 1e-5,
        "merged export differs from base + adapter by {diff}"
    );

    // Gemma 3 (the tiny llama's tokenizer, Gemma's weights): norms stored as 1 + w.
    // GGUF records no sliding-window pattern; import assumes Gemma 3's 6, so does this.
    let gemma = work.path().join("gemma");
    std::fs::create_dir_all(&gemma).unwrap();
    let vocab = Config::from_file(&base.join("config.json"))
        .unwrap()
        .vocab_size;
    let cfg: Config = serde_json::from_value(json!({
        "model_type": "gemma3_text", "vocab_size": vocab, "hidden_size": 64,
        "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 1, "head_dim": 16, "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        "max_position_embeddings": 128, "query_pre_attn_scalar": 16,
        "sliding_window": 8, "sliding_window_pattern": 6
    }))
    .unwrap();
    let gemma_model = random_model(&cfg, DType::F32, &Device::Cpu, 4, 0.15, 0.3).unwrap();
    save_model(&gemma_model, &gemma, Some(&base)).unwrap();
    let (gguf, diff) = round_trip(&gemma, None, &gemma_model, ExportType::F32, "gemma");
    assert!(diff < 1e-5, "gemma round trip differs by {diff}");
    let content = Content::read(&mut std::fs::File::open(&gguf).unwrap()).unwrap();
    let stored = content
        .tensor(
            &mut std::fs::File::open(&gguf).unwrap(),
            "blk.0.attn_norm.weight",
            &Device::Cpu,
        )
        .unwrap()
        .dequantize(&Device::Cpu)
        .unwrap();
    let hf = gemma_model
        .named_weights()
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "model.layers.0.input_layernorm.weight")
        .unwrap()
        .1;
    let gap = (stored - hf)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .fold(0f32, |m, x| m.max((x - 1.0).abs()));
    assert!(gap < 1e-6, "GGUF's Gemma norm must be 1 + w ({gap})");
}

/// SmolLM2-135M as llama.cpp's converter wrote it, imported and exported again: the
/// same tensors (the q/k row order included) within f16 rounding, the same vocabulary,
/// and the `gguf` package reads the export.
#[test]
fn smollm2_export_matches_llama_cpp_s_own_file() {
    let original = Path::new(&std::env::var("HOME").unwrap())
        .join(".cache/plantune-tui/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(original.is_file(), "run tests/fetch-model.sh first");
    let work = tempfile::tempdir().unwrap();
    let hf_dir = work.path().join("hf");
    import_gguf(&original, &hf_dir, DType::F32).unwrap();
    let out = work.path().join("smollm2-f16.gguf");
    export_gguf(&hf_dir, None, &out, ExportType::F16, "SmolLM2-135M").unwrap();

    let mut fa = std::fs::File::open(&original).unwrap();
    let mut fb = std::fs::File::open(&out).unwrap();
    let a = Content::read(&mut fa).unwrap();
    let b = Content::read(&mut fb).unwrap();
    let mut names_a: Vec<_> = a.tensor_infos.keys().collect();
    let mut names_b: Vec<_> = b.tensor_infos.keys().collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b);
    for name in [
        "blk.0.attn_q.weight",
        "blk.0.attn_k.weight",
        "blk.29.attn_k.weight",
    ] {
        let x = a
            .tensor(&mut fa, name, &Device::Cpu)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        let y = b
            .tensor(&mut fb, name, &Device::Cpu)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        let d = (x - y)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        let d = d.to_scalar::<f32>().unwrap();
        assert!(
            d < 5e-3,
            "{name}: export differs from llama.cpp's layout by {d}"
        );
    }
    for key in [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.chat_template",
        "llama.rope.freq_base",
        "llama.attention.head_count_kv",
        "llama.context_length",
    ] {
        assert_eq!(
            format!("{:?}", a.metadata.get(key)),
            format!("{:?}", b.metadata.get(key)),
            "{key}"
        );
    }
    let read = hf("gguf", &json!({"gguf": out}), work.path());
    assert_eq!(read["metadata"]["general.file_type"], 1);
    assert_eq!(read["tensors"].as_array().unwrap().len(), 272);
}
