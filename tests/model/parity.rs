//! Our decoder against candle-transformers' reference models on the same random
//! weights, plus KV-cache and left-padding consistency.

#![allow(clippy::unwrap_used)]
use crate::common;

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the latter.

use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{gemma3, llama, qwen2, qwen3};
use common::model::{max_abs_diff, random_ids, tiny_config_json, write_tiny_checkpoint};
use plantune_tui::model::checkpoint::{load_model, load_tensors};

const TOL: f64 = 1e-4;

fn reference_vb(dir: &Path) -> VarBuilder<'static> {
    let tensors = load_tensors(dir, &Device::Cpu).unwrap();
    VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}

/// Reference logits `[b, t, vocab]`: one-shot last position plus token-by-token
/// decoding through the reference's own KV cache for every position.
fn reference_logits(
    family: &str,
    dir: &Path,
    ids: &Tensor,
) -> (
    Tensor, /* last, one shot */
    Tensor, /* all positions, incremental */
) {
    let json = tiny_config_json(family);
    let (_b, t) = ids.dims2().unwrap();
    let squeeze = |x: Tensor| -> Tensor {
        match x.rank() {
            3 => x.squeeze(1).unwrap(),
            _ => x,
        }
    };
    let mut steps = Vec::new();
    let last;
    match family {
        "llama" | "llama3_tied" => {
            let cfg: llama::LlamaConfig = serde_json::from_str(&json).unwrap();
            let cfg = cfg.into_config(false);
            let model = llama::Llama::load(reference_vb(dir), &cfg).unwrap();
            let mut cache = llama::Cache::new(false, DType::F32, &cfg, &Device::Cpu).unwrap();
            last = model.forward(ids, 0, &mut cache).unwrap();
            let mut cache = llama::Cache::new(true, DType::F32, &cfg, &Device::Cpu).unwrap();
            for i in 0..t {
                steps.push(
                    model
                        .forward(&ids.i((.., i..i + 1)).unwrap(), i, &mut cache)
                        .unwrap(),
                );
            }
        }
        "qwen2" => {
            let cfg: qwen2::Config = serde_json::from_str(&json).unwrap();
            let mut model = qwen2::ModelForCausalLM::new(&cfg, reference_vb(dir)).unwrap();
            last = squeeze(model.forward(ids, 0).unwrap());
            model.clear_kv_cache();
            for i in 0..t {
                steps.push(squeeze(
                    model.forward(&ids.i((.., i..i + 1)).unwrap(), i).unwrap(),
                ));
            }
        }
        "qwen3" => {
            let cfg: qwen3::Config = serde_json::from_str(&json).unwrap();
            let mut model = qwen3::ModelForCausalLM::new(&cfg, reference_vb(dir)).unwrap();
            last = squeeze(model.forward(ids, 0).unwrap());
            model.clear_kv_cache();
            for i in 0..t {
                steps.push(squeeze(
                    model.forward(&ids.i((.., i..i + 1)).unwrap(), i).unwrap(),
                ));
            }
        }
        "gemma3" => {
            let cfg: gemma3::Config = serde_json::from_str(&json).unwrap();
            let mut model = gemma3::Model::new(false, &cfg, reference_vb(dir)).unwrap();
            last = squeeze(model.forward(ids, 0).unwrap());
            // Every prefix from scratch: the reference's sliding layers use a rotating
            // cache whose one-token steps are a separate code path we do not test here.
            for i in 0..t {
                model.clear_kv_cache();
                steps.push(squeeze(
                    model.forward(&ids.i((.., 0..i + 1)).unwrap(), 0).unwrap(),
                ));
            }
        }
        other => panic!("unknown family {other}"),
    }
    (last, Tensor::stack(&steps, 1).unwrap())
}

fn check_parity(family: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_checkpoint(family, dir.path(), 7);
    let (model, _cfg) = load_model(dir.path(), DType::F32, &Device::Cpu).unwrap();
    // Sequence shorter than the Gemma sliding window: candle's reference masks
    // `i - j > window` where transformers masks `i - j >= window`.
    let ids = random_ids(2, 7, 11);
    let ours = model.forward(&ids, None, None).unwrap();
    assert_eq!(ours.dims(), &[2, 7, 128]);
    let (last, steps) = reference_logits(family, dir.path(), &ids);
    let ours_last = ours.i((.., 6, ..)).unwrap();
    let d_last = max_abs_diff(&ours_last, &last);
    let d_all = max_abs_diff(&ours, &steps);
    println!("{family}: max |diff| last={d_last:e} all positions={d_all:e}");
    assert!(
        d_last < TOL,
        "{family}: last-position logits differ by {d_last}"
    );
    assert!(
        d_all < TOL,
        "{family}: per-position logits differ by {d_all}"
    );
    // Logits must not be trivially small, or the comparison would prove nothing.
    let scale = ours
        .abs()
        .unwrap()
        .max_keepdim(2)
        .unwrap()
        .mean_all()
        .unwrap();
    assert!(scale.to_scalar::<f32>().unwrap() > 0.05);
}

#[test]
fn llama_matches_candle_transformers() {
    check_parity("llama");
}

#[test]
fn llama3_rope_scaling_tied_matches_candle_transformers() {
    check_parity("llama3_tied");
}

#[test]
fn qwen2_matches_candle_transformers() {
    check_parity("qwen2");
}

#[test]
fn qwen3_matches_candle_transformers() {
    check_parity("qwen3");
}

#[test]
fn gemma3_matches_candle_transformers() {
    check_parity("gemma3");
}

/// Prompt through the cache, then one token at a time, equals one full forward.
#[test]
fn kv_cache_decoding_equals_full_forward() {
    for family in ["llama", "qwen2", "qwen3", "gemma3"] {
        let model = common::model::tiny_model(family, DType::F32, 3);
        let ids = random_ids(2, 12, 5);
        let full = model.forward(&ids, None, None).unwrap();
        let mut cache = model.new_cache();
        let mut parts = vec![
            model
                .forward(&ids.i((.., 0..5)).unwrap(), None, Some(&mut cache))
                .unwrap(),
        ];
        for i in 5..12 {
            parts.push(
                model
                    .forward(&ids.i((.., i..i + 1)).unwrap(), None, Some(&mut cache))
                    .unwrap(),
            );
        }
        assert_eq!(cache.seq_len(), 12);
        let stepped = Tensor::cat(&parts, 1).unwrap();
        let d = max_abs_diff(&full, &stepped);
        assert!(d < 1e-4, "{family}: cached decoding differs by {d}");
    }
}

/// A left-padded row gives the same logits at its real positions as the unpadded
/// sequence alone, in a full forward and through cached decoding.
#[test]
fn left_padding_is_invisible() {
    for family in ["llama", "qwen3", "gemma3"] {
        let model = common::model::tiny_model(family, DType::F32, 4);
        let real = random_ids(1, 6, 9);
        let alone = model.forward(&real, None, None).unwrap();

        let pad = Tensor::new(&[[0u32, 0, 0]], &Device::Cpu).unwrap();
        let padded = Tensor::cat(&[&pad, &real], 1).unwrap();
        let other = random_ids(1, 9, 10);
        let batch = Tensor::cat(&[&padded, &other], 0).unwrap();
        let mask = Tensor::new(
            &[[0u32, 0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1]],
            &Device::Cpu,
        )
        .unwrap();
        let out = model.forward(&batch, Some(&mask), None).unwrap();
        let d = max_abs_diff(&out.i((0..1, 3.., ..)).unwrap(), &alone);
        assert!(d < 1e-4, "{family}: padded row differs by {d}");
        let other_alone = model.forward(&other, None, None).unwrap();
        let d = max_abs_diff(&out.i((1..2, .., ..)).unwrap(), &other_alone);
        assert!(d < 1e-4, "{family}: unpadded row differs by {d}");

        // Cached: padded prompt of 5 (3 pads + 2 real), then the rest token by token.
        let mut cache = model.new_cache();
        let mut parts = vec![
            model
                .forward(
                    &batch.i((.., 0..5)).unwrap(),
                    Some(&mask.i((.., 0..5)).unwrap()),
                    Some(&mut cache),
                )
                .unwrap(),
        ];
        for i in 5..9 {
            parts.push(
                model
                    .forward(
                        &batch.i((.., i..i + 1)).unwrap(),
                        Some(&mask.i((.., i..i + 1)).unwrap()),
                        Some(&mut cache),
                    )
                    .unwrap(),
            );
        }
        let stepped = Tensor::cat(&parts, 1).unwrap();
        let d = max_abs_diff(&stepped.i((0..1, 3.., ..)).unwrap(), &alone);
        assert!(d < 1e-4, "{family}: cached padded row differs by {d}");
    }
}

/// transformers' Gemma 3 sliding window: query `i` sees keys `j` with `i - j < window`.
#[test]
fn gemma3_sliding_window_hides_keys_beyond_the_window() {
    let mut cfg: plantune_tui::model::config::Config =
        serde_json::from_str(&tiny_config_json("gemma3")).unwrap();
    cfg.num_hidden_layers = 1;
    cfg.sliding_window = Some(4);
    cfg.sliding_window_pattern = Some(6);
    let model =
        plantune_tui::model::checkpoint::random_model(&cfg, DType::F32, &Device::Cpu, 1, 0.15, 0.3)
            .unwrap();
    let ids = random_ids(1, 10, 2);
    let base = model.forward(&ids, None, None).unwrap();
    let mut v = ids.to_vec2::<u32>().unwrap();
    // Query 9 sees keys 6..=9. Changing key 5 must not change it; changing key 6 must.
    v[0][5] = (v[0][5] + 1) % 128;
    let changed_far = model
        .forward(&Tensor::new(v.clone(), &Device::Cpu).unwrap(), None, None)
        .unwrap();
    assert!(
        max_abs_diff(
            &base.i((.., 9, ..)).unwrap(),
            &changed_far.i((.., 9, ..)).unwrap()
        ) < 1e-6
    );
    assert!(
        max_abs_diff(
            &base.i((.., 5, ..)).unwrap(),
            &changed_far.i((.., 5, ..)).unwrap()
        ) > 1e-4
    );
    let mut w = ids.to_vec2::<u32>().unwrap();
    w[0][6] = (w[0][6] + 1) % 128;
    let changed_near = model
        .forward(&Tensor::new(w, &Device::Cpu).unwrap(), None, None)
        .unwrap();
    assert!(
        max_abs_diff(
            &base.i((.., 9, ..)).unwrap(),
            &changed_near.i((.., 9, ..)).unwrap()
        ) > 1e-4
    );
}
