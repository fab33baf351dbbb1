//! Gradients: each differentiable op against finite differences (f64) and against
//! candle's fused forward, and the whole model's loss for full and LoRA training.

#![allow(clippy::unwrap_used)]
use crate::common;

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the latter.

use candle_core::{D, DType, IndexOp, Tensor, Var, backprop::GradStore};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use common::model::{max_abs_diff, random_ids, test_device, tiny_model_on};
use plantune_tui::model::decoder::Model;
use plantune_tui::model::gradcheck;
use plantune_tui::model::lora::LoraConfig;
use plantune_tui::model::ops;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_tensor(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    gradcheck::rand_tensor(shape, seed, dtype, &test_device()).unwrap()
}

fn set_entry(var: &Var, idx: usize, value: f64) {
    let mut v = var
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    v[idx] = value;
    let t = Tensor::from_vec(v, var.shape(), &test_device())
        .unwrap()
        .to_dtype(var.dtype())
        .unwrap();
    var.set(&t).unwrap();
}

fn entry(t: &Tensor, idx: usize) -> f64 {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()[idx]
}

/// Central difference of `loss` w.r.t. entry `idx` of `var`.
fn numeric_grad(var: &Var, idx: usize, eps: f64, loss: &dyn Fn() -> f64) -> f64 {
    let orig = entry(var.as_tensor(), idx);
    set_entry(var, idx, orig + eps);
    let plus = loss();
    set_entry(var, idx, orig - eps);
    let minus = loss();
    set_entry(var, idx, orig);
    (plus - minus) / (2.0 * eps)
}

/// Checks every entry of every input's gradient for `sum(f(inputs) * probe)`.
fn check_op(name: &str, inputs: &[Var], f: &dyn Fn(&[Tensor]) -> Tensor) {
    let check = gradcheck::finite_differences(name, inputs, &|t| Ok(f(t))).unwrap();
    assert!(check.passed, "{check}");
}

fn var(shape: &[usize], seed: u64) -> Var {
    Var::from_tensor(&rand_tensor(shape, seed, DType::F64)).unwrap()
}

#[test]
fn rms_norm_gradients_match_finite_differences() {
    let (x, w) = (var(&[2, 3, 8], 1), var(&[8], 2));
    check_op("rms_norm", &[x.clone(), w.clone()], &|t| {
        ops::rms_norm(&t[0], &t[1], 1e-5).unwrap()
    });
    check_op("rms_norm_one_plus", &[x, w], &|t| {
        ops::rms_norm_one_plus(&t[0], &t[1], 1e-6).unwrap()
    });
}

#[test]
fn softmax_and_log_softmax_gradients_match_finite_differences() {
    let x = var(&[2, 3, 7], 3);
    check_op("softmax", std::slice::from_ref(&x), &|t| {
        ops::softmax_last_dim(&t[0]).unwrap()
    });
    check_op("log_softmax", std::slice::from_ref(&x), &|t| {
        ops::log_softmax_last_dim(&t[0]).unwrap()
    });
    let bias = Tensor::new(&[[0.0f64, 0.0, -1e9, 0.0, -1e9, 0.0, 0.0]], &test_device()).unwrap();
    check_op("masked_softmax", &[x], &|t| {
        ops::masked_softmax(&t[0], Some(&bias)).unwrap()
    });
}

#[test]
fn rope_and_gated_mlp_gradients_match_finite_differences() {
    let x = var(&[1, 2, 3, 8], 4);
    let cos = rand_tensor(&[1, 1, 3, 4], 5, DType::F64);
    let sin = rand_tensor(&[1, 1, 3, 4], 6, DType::F64);
    check_op("rope", &[x], &|t| {
        ops::rope_half_split(&t[0], &cos, &sin).unwrap()
    });
    let (g, u) = (var(&[3, 5], 7), var(&[3, 5], 8));
    check_op("silu_gated", &[g, u], &|t| {
        ops::silu_gated(&t[0], &t[1]).unwrap()
    });
}

#[test]
fn cross_entropy_with_ignored_targets_matches_finite_differences() {
    let logits = var(&[5, 6], 9);
    let targets = Tensor::new(
        &[3i64, ops::IGNORE_INDEX, 0, 5, ops::IGNORE_INDEX],
        &test_device(),
    )
    .unwrap();
    check_op("cross_entropy", std::slice::from_ref(&logits), &|t| {
        ops::cross_entropy_ignore(&t[0], &targets).unwrap()
    });
    // The mean is over the three kept rows only: equal to candle's loss on those rows.
    let kept_rows = Tensor::new(&[0u32, 2, 3], &test_device()).unwrap();
    let kept = logits.as_tensor().index_select(&kept_rows, 0).unwrap();
    let kept_targets = Tensor::new(&[3u32, 0, 5], &test_device()).unwrap();
    let reference = candle_nn::loss::cross_entropy(&kept, &kept_targets).unwrap();
    let ours = ops::cross_entropy_ignore(logits.as_tensor(), &targets).unwrap();
    assert!(max_abs_diff(&ours, &reference) < 1e-12);
    // All ignored: zero loss, no NaN.
    let none = Tensor::new(&[ops::IGNORE_INDEX; 5], &test_device()).unwrap();
    assert_eq!(
        ops::cross_entropy_ignore(logits.as_tensor(), &none)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap(),
        0.0
    );
}

#[test]
fn frozen_matmul_routes_gradient_to_input_only() {
    let x = var(&[4, 6], 10);
    let w = rand_tensor(&[5, 6], 11, DType::F64);
    check_op("frozen_matmul", std::slice::from_ref(&x), &|t| {
        ops::frozen_matmul_t(&t[0], &w).unwrap()
    });
    let plain = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
    let frozen = ops::frozen_matmul_t(x.as_tensor(), &w).unwrap();
    assert_eq!(max_abs_diff(&plain, &frozen), 0.0);
    let grads = frozen.sum_all().unwrap().backward().unwrap();
    assert!(
        grads.get(&w).is_none(),
        "the frozen weight must get no gradient"
    );
}

/// Our composed ops compute what candle's fused (gradient-free) kernels compute.
#[test]
fn composed_ops_equal_candle_fused_forward() {
    let x = rand_tensor(&[2, 3, 16], 12, DType::F32);
    let w = rand_tensor(&[16], 13, DType::F32);
    let fused = candle_nn::ops::rms_norm(&x, &w, 1e-5).unwrap();
    assert!(max_abs_diff(&ops::rms_norm(&x, &w, 1e-5).unwrap(), &fused) < 1e-5);
    let fused = candle_nn::ops::softmax_last_dim(&x).unwrap();
    assert!(max_abs_diff(&ops::softmax_last_dim(&x).unwrap(), &fused) < 1e-6);
    assert!(max_abs_diff(&ops::softmax_last_dim_composed(&x).unwrap(), &fused) < 1e-6);
    let fused = candle_nn::ops::log_softmax(&x, D::Minus1).unwrap();
    assert!(max_abs_diff(&ops::log_softmax_last_dim(&x).unwrap(), &fused) < 1e-5);
    let composed = ops::log_softmax_last_dim_composed(&x).unwrap();
    assert!(max_abs_diff(&composed, &fused) < 1e-5);
    let q = rand_tensor(&[2, 4, 3, 16], 14, DType::F32);
    let cos = rand_tensor(&[3, 8], 15, DType::F32);
    let sin = rand_tensor(&[3, 8], 16, DType::F32);
    let fused = candle_nn::rotary_emb::rope(&q, &cos, &sin).unwrap();
    let ours = ops::rope_half_split(
        &q,
        &cos.reshape((1, 1, 3, 8)).unwrap(),
        &sin.reshape((1, 1, 3, 8)).unwrap(),
    )
    .unwrap();
    assert!(max_abs_diff(&ours, &fused) < 1e-5);
}

/// Next-token loss with a padded batch and an ignored prompt token.
fn lm_loss(model: &Model) -> Tensor {
    let ids = random_ids(2, 6, 21).to_device(&test_device()).unwrap();
    let mask = Tensor::new(&[[0u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], &test_device()).unwrap();
    let logits = model.forward(&ids, Some(&mask), None).unwrap();
    let inputs = logits
        .i((.., 0..5, ..))
        .unwrap()
        .reshape((10, 128))
        .unwrap();
    let mut targets: Vec<i64> = ids
        .i((.., 1..))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<u32>()
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    targets[0] = ops::IGNORE_INDEX; // a padding position
    targets[1] = ops::IGNORE_INDEX; // a prompt token
    ops::cross_entropy_ignore(&inputs, &Tensor::new(targets, &test_device()).unwrap()).unwrap()
}

fn assert_all_nonzero(grads: &GradStore, vars: &[(String, Var)], what: &str) {
    for (name, v) in vars {
        let g = grads
            .get(v)
            .unwrap_or_else(|| panic!("{what}: {name} has no gradient"));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(
            norm > 0.0 && norm.is_finite(),
            "{what}: {name} gradient norm {norm}"
        );
    }
}

#[test]
fn full_finetuning_gives_every_parameter_a_gradient() {
    for family in ["llama", "qwen2", "qwen3", "gemma3"] {
        let mut model = tiny_model_on(family, DType::F32, 30, &test_device());
        let vars = model.trainable_full().unwrap();
        let expected = model.named_weights().unwrap().len();
        assert_eq!(vars.len(), expected);
        let grads = lm_loss(&model).backward().unwrap();
        assert_all_nonzero(&grads, &vars, family);
    }
}

fn targets() -> [&'static str; 7] {
    [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
}

/// PEFT starts B at zero (so A's first gradient is zero); give B values so every
/// adapter matrix is exercised.
fn randomise_b(vars: &[(String, Var)]) {
    for (i, (name, v)) in vars.iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            v.set(&(rand_tensor(v.dims(), 40 + i as u64, v.dtype()) * 0.05).unwrap())
                .unwrap();
        }
    }
}

#[test]
fn lora_gives_every_adapter_a_gradient_and_leaves_base_untouched() {
    for family in ["llama", "qwen2", "qwen3", "gemma3"] {
        let mut model = tiny_model_on(family, DType::F32, 31, &test_device());
        let before = model.named_weights().unwrap();
        let lora = LoraConfig::new(4, 8.0, 0.0, &targets());
        let vars = model.attach_lora(&lora, 1).unwrap();
        assert_eq!(
            vars.len(),
            2 * 7 * 2,
            "{family}: A and B for 7 modules x 2 layers"
        );
        randomise_b(&vars);
        let loss = lm_loss(&model);
        let grads = loss.backward().unwrap();
        assert_all_nonzero(&grads, &vars, family);
        for (name, w) in model.named_weights().unwrap() {
            assert!(
                grads.get(&w).is_none(),
                "{family}: frozen {name} got a gradient"
            );
        }
        let mut opt = AdamW::new(
            vars.iter().map(|(_, v)| v.clone()).collect(),
            ParamsAdamW {
                lr: 1e-2,
                ..Default::default()
            },
        )
        .unwrap();
        opt.step(&grads).unwrap();
        for ((name, a), (_, b)) in before.iter().zip(model.named_weights().unwrap()) {
            assert_eq!(max_abs_diff(a, &b), 0.0, "{family}: base {name} changed");
        }
        let after = lm_loss(&model).to_scalar::<f32>().unwrap();
        assert!(
            after < loss.to_scalar::<f32>().unwrap(),
            "{family}: one step did not lower the loss"
        );
    }
}

/// Whole-model loss w.r.t. sampled entries of every kind of parameter, in f64.
#[test]
fn model_loss_gradients_match_finite_differences() {
    for family in ["llama", "qwen2", "qwen3", "gemma3"] {
        let mut model = tiny_model_on(family, DType::F64, 32, &test_device());
        let vars = model.trainable_full().unwrap();
        let grads = lm_loss(&model).backward().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut checked = 0;
        for (name, v) in &vars {
            let picked = name.contains("embed")
                || name.contains("layers.1")
                || name.contains("model.norm")
                || name.contains("lm_head");
            if !picked {
                continue;
            }
            let idx = rng.random_range(0..v.elem_count());
            let ana = entry(grads.get(v).unwrap(), idx);
            let num = numeric_grad(v, idx, 1e-5, &|| {
                lm_loss(&model).to_scalar::<f64>().unwrap()
            });
            assert!(
                (num - ana).abs() <= 1e-6 * (1.0 + num.abs()),
                "{family}: {name}[{idx}] analytic {ana} vs numeric {num}"
            );
            checked += 1;
        }
        assert!(checked >= 10, "{family}: only {checked} entries checked");
    }
}

#[test]
fn lora_loss_gradients_match_finite_differences() {
    let mut model = tiny_model_on("qwen2", DType::F64, 33, &test_device());
    let vars = model
        .attach_lora(&LoraConfig::new(2, 4.0, 0.0, &targets()), 2)
        .unwrap();
    randomise_b(&vars);
    let grads = lm_loss(&model).backward().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for (name, v) in vars.iter().step_by(3) {
        let idx = rng.random_range(0..v.elem_count());
        let ana = entry(grads.get(v).unwrap(), idx);
        let num = numeric_grad(v, idx, 1e-5, &|| {
            lm_loss(&model).to_scalar::<f64>().unwrap()
        });
        assert!(
            (num - ana).abs() <= 1e-6 * (1.0 + num.abs()),
            "{name}[{idx}] analytic {ana} vs numeric {num}"
        );
    }
}

/// LoRA dropout acts in training mode only.
#[test]
fn lora_dropout_is_active_only_in_training_mode() {
    let mut model = tiny_model_on("llama", DType::F32, 34, &test_device());
    let vars = model
        .attach_lora(&LoraConfig::new(4, 8.0, 0.5, &targets()), 3)
        .unwrap();
    randomise_b(&vars);
    let ids = random_ids(1, 6, 1).to_device(&test_device()).unwrap();
    let eval_a = model.forward(&ids, None, None).unwrap();
    let eval_b = model.forward(&ids, None, None).unwrap();
    assert_eq!(max_abs_diff(&eval_a, &eval_b), 0.0);
    model.set_training(true);
    let train_a = model.forward(&ids, None, None).unwrap();
    let train_b = model.forward(&ids, None, None).unwrap();
    assert!(max_abs_diff(&train_a, &train_b) > 1e-6);
}

/// GRPO's per-token log-probabilities agree with the cross-entropy and are differentiable.
#[test]
fn token_logprobs_agree_with_cross_entropy_and_match_finite_differences() {
    let logits = var(&[2, 3, 6], 17);
    let targets = Tensor::new(&[[1u32, 5, 0], [2, 2, 4]], &test_device()).unwrap();
    let lp = ops::token_logprobs(logits.as_tensor(), &targets).unwrap();
    assert_eq!(lp.dims(), &[2, 3]);
    let ce = ops::cross_entropy_ignore(
        &logits.as_tensor().reshape((6, 6)).unwrap(),
        &targets.flatten_all().unwrap(),
    )
    .unwrap();
    let mean_nll = lp.mean_all().unwrap().neg().unwrap();
    assert!(max_abs_diff(&ce, &mean_nll) < 1e-12);
    check_op("token_logprobs", &[logits], &|t| {
        ops::token_logprobs(&t[0], &targets).unwrap()
    });
}
