//! The whole decoder on its fused ops against the composed reference: losses and
//! every gradient (full and LoRA) for Llama, Qwen2, Qwen3 and Gemma 3 configs and for
//! the first layers of the real SmolLM2; activation recomputation; the preallocated
//! KV cache; the composed fallback where the fused kernels do not run.

#![allow(clippy::unwrap_used)]
use crate::common;

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the latter.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use common::model::{max_abs_diff, random_ids, tiny_model};
use plantune_tui::model::config::Config;
use plantune_tui::model::decoder::{Memory, Model};
use plantune_tui::model::fused::Kernels;
use plantune_tui::model::lora::LoraConfig;
use plantune_tui::model::ops::IGNORE_INDEX;

const TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// A right-padded batch with a masked prompt: ids, mask, labels.
fn batch(b: usize, t: usize, vocab: usize, seed: u64) -> (Tensor, Tensor, Tensor) {
    let ids = random_ids(b, t, seed);
    let ids = if vocab == common::model::VOCAB {
        ids
    } else {
        // Spread over a real vocabulary.
        ((ids.to_dtype(DType::F64).unwrap() * (vocab as f64 / common::model::VOCAB as f64))
            .unwrap())
        .floor()
        .unwrap()
        .to_dtype(DType::U32)
        .unwrap()
    };
    let mut mask = vec![1u32; b * t];
    let mut labels: Vec<i64> = ids
        .flatten_all()
        .unwrap()
        .to_vec1::<u32>()
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    for row in 0..b {
        for i in 0..t / 3 {
            labels[row * t + i] = IGNORE_INDEX; // the prompt
        }
    }
    // Row 0 ends with two padding positions.
    for i in t - 2..t {
        mask[i] = 0;
        labels[i] = IGNORE_INDEX;
    }
    let mask = Tensor::from_vec(mask, (b, t), &Device::Cpu).unwrap();
    let labels = Tensor::from_vec(labels, (b, t), &Device::Cpu).unwrap();
    (ids, mask, labels)
}

/// Loss and gradients of `vars` for `model` run with `kernels` and `memory`.
fn loss_and_grads(
    model: &mut Model,
    vars: &[(String, Var)],
    kernels: Kernels,
    memory: Memory,
    (ids, mask, labels): &(Tensor, Tensor, Tensor),
) -> (f64, Vec<Tensor>) {
    model.set_kernels(kernels);
    model.set_memory(memory);
    let (loss, _) = model.next_token_loss(ids, Some(mask), labels).unwrap();
    let grads = loss.backward().unwrap();
    let gs = vars
        .iter()
        .map(|(name, v)| {
            grads
                .get(v)
                .unwrap_or_else(|| panic!("{name}: no gradient"))
                .clone()
        })
        .collect();
    let value = loss
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    (value, gs)
}

/// `|a - b|∞ ≤ tol · |b|∞` for every gradient, and the losses equal to `tol`.
fn assert_close(
    what: &str,
    vars: &[(String, Var)],
    a: &(f64, Vec<Tensor>),
    b: &(f64, Vec<Tensor>),
    tol: f64,
) {
    assert!(
        (a.0 - b.0).abs() <= tol * b.0.abs().max(1.0),
        "{what}: losses {} vs {}",
        a.0,
        b.0
    );
    for ((name, _), (ga, gb)) in vars.iter().zip(a.1.iter().zip(&b.1)) {
        let scale = gb
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let diff = max_abs_diff(ga, gb);
        assert!(
            diff <= tol * scale + 1e-9,
            "{what}: {name} gradients differ by {diff} (largest entry {scale})"
        );
    }
}

fn randomise_b(vars: &[(String, Var)]) {
    for (i, (name, v)) in vars.iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let t = (Tensor::randn(0f32, 0.05, v.dims(), &Device::Cpu).unwrap()
                * (1.0 + i as f64 * 1e-3))
                .unwrap();
            v.set(&t.to_dtype(v.dtype()).unwrap()).unwrap();
        }
    }
}

#[test]
fn fused_and_composed_models_give_the_same_loss_and_gradients() {
    for family in ["llama", "llama3_tied", "qwen2", "qwen3", "gemma3"] {
        let inputs = batch(3, 12, common::model::VOCAB, 40);
        let mut model = tiny_model(family, DType::F32, 41);
        let vars = model.trainable_full().unwrap();
        let fused = loss_and_grads(&mut model, &vars, Kernels::Fused, Memory::Keep, &inputs);
        let composed = loss_and_grads(&mut model, &vars, Kernels::Composed, Memory::Keep, &inputs);
        assert_close(&format!("{family} full"), &vars, &fused, &composed, 1e-4);
        let recomputed = loss_and_grads(
            &mut model,
            &vars,
            Kernels::Fused,
            Memory::Recompute,
            &inputs,
        );
        assert_close(
            &format!("{family} recompute"),
            &vars,
            &recomputed,
            &fused,
            1e-5,
        );

        let mut model = tiny_model(family, DType::F32, 42);
        let vars = model
            .attach_lora(&LoraConfig::new(4, 8.0, 0.0, &TARGETS), 1)
            .unwrap();
        randomise_b(&vars);
        let fused = loss_and_grads(&mut model, &vars, Kernels::Fused, Memory::Keep, &inputs);
        let composed = loss_and_grads(&mut model, &vars, Kernels::Composed, Memory::Keep, &inputs);
        assert_close(&format!("{family} lora"), &vars, &fused, &composed, 1e-4);
        let recomputed = loss_and_grads(
            &mut model,
            &vars,
            Kernels::Fused,
            Memory::Recompute,
            &inputs,
        );
        assert_close(
            &format!("{family} lora recompute"),
            &vars,
            &recomputed,
            &fused,
            1e-5,
        );
    }
}

/// The first three blocks of the real SmolLM2-135M (weights from its GGUF).
#[test]
fn smollm2_first_layers_fused_gradients_equal_the_composed_ones() {
    let (dir, _) = common::smollm2::imported("fused");
    let mut cfg = Config::from_file(&dir.join("config.json")).unwrap();
    cfg.num_hidden_layers = 3;
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let mut model = Model::new(&cfg, vb).unwrap();
    let vars = model.trainable_full().unwrap();
    let inputs = batch(2, 24, cfg.vocab_size, 43);
    let fused = loss_and_grads(&mut model, &vars, Kernels::Fused, Memory::Keep, &inputs);
    let composed = loss_and_grads(&mut model, &vars, Kernels::Composed, Memory::Keep, &inputs);
    eprintln!(
        "SmolLM2 (3 layers) loss fused {} composed {}",
        fused.0, composed.0
    );
    assert_close("smollm2", &vars, &fused, &composed, 1e-4);
}

/// Decoding with the preallocated cache (also when it has to grow) gives the logits
/// of the full forward at each new position, with a left-padded row.
#[test]
fn cached_decoding_equals_the_full_forward() {
    for family in ["llama", "gemma3"] {
        for kernels in [Kernels::Fused, Kernels::Composed] {
            let mut model = tiny_model(family, DType::F32, 44);
            model.set_kernels(kernels);
            let ids = random_ids(2, 10, 45);
            let mut mask = vec![1u32; 20];
            mask[0] = 0;
            mask[1] = 0;
            let mask = Tensor::from_vec(mask, (2, 10), &Device::Cpu).unwrap();
            let full = model.forward(&ids, Some(&mask), None).unwrap();
            // Room for 5 positions only: the cache grows twice on the way.
            let mut cache = model.new_cache_with_capacity(5);
            let prompt = 4;
            let first = model
                .forward_last(
                    &ids.narrow(1, 0, prompt).unwrap(),
                    Some(&mask.narrow(1, 0, prompt).unwrap()),
                    Some(&mut cache),
                )
                .unwrap();
            let expected = full.narrow(1, prompt - 1, 1).unwrap().squeeze(1).unwrap();
            assert!(max_abs_diff(&first, &expected) < 1e-5, "{family} prefill");
            for pos in prompt..10 {
                let step = model
                    .forward_last(
                        &ids.narrow(1, pos, 1).unwrap(),
                        Some(&mask.narrow(1, pos, 1).unwrap()),
                        Some(&mut cache),
                    )
                    .unwrap();
                let expected = full.narrow(1, pos, 1).unwrap().squeeze(1).unwrap();
                let diff = max_abs_diff(&step, &expected);
                assert!(diff < 1e-5, "{family} {kernels:?} position {pos}: {diff}");
            }
            assert_eq!(cache.seq_len(), 10);
        }
    }
}

/// Where the fused kernels do not run (half precision here; CUDA likewise), the
/// model takes the composed ops and still trains.
#[test]
fn half_precision_falls_back_to_the_composed_ops() {
    let mut model = tiny_model("qwen3", DType::F32, 46);
    assert!(model.uses_fused_kernels());
    let reference = {
        let vars = model.trainable_full().unwrap();
        loss_and_grads(
            &mut model,
            &vars,
            Kernels::Fused,
            Memory::Keep,
            &batch(2, 8, common::model::VOCAB, 47),
        )
        .0
    };
    let mut half = tiny_model("qwen3", DType::F32, 46);
    half.cast(DType::BF16).unwrap();
    assert!(!half.uses_fused_kernels());
    let vars = half.trainable_full().unwrap();
    let (loss, grads) = loss_and_grads(
        &mut half,
        &vars,
        Kernels::Fused,
        Memory::Keep,
        &batch(2, 8, common::model::VOCAB, 47),
    );
    assert!(
        (loss - reference).abs() < 0.05,
        "bf16 loss {loss} vs f32 {reference}"
    );
    assert!(grads.iter().all(|g| g.dtype() == DType::BF16));
}
