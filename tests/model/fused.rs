//! The fused ops (`model::fused`): each against finite differences in f64 and against
//! the composed ops it replaces in f32, with masked and non-contiguous inputs. The
//! checks themselves live in `model::gradcheck`, which `bench gpu-check` runs on a GPU.

#![allow(clippy::unwrap_used)]
use crate::common;

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the latter.

use candle_core::{D, DType, Device, Tensor};
use common::model::max_abs_diff;
use plantune_tui::model::fused::attention::attention;
use plantune_tui::model::fused::lm_head_loss::lm_head_loss;
use plantune_tui::model::fused::rope::{RopeLayout, rope};
use plantune_tui::model::gradcheck::cases::{self, composed_attention, padded_mask};
use plantune_tui::model::gradcheck::{flat, rand_tensor, rand_var};
use plantune_tui::model::ops;

/// Runs the library's checks of `op` on the CPU and fails on any that does not pass.
fn passes(op: &str) {
    let case = cases::named(op).unwrap_or_else(|| panic!("no gradient-check case {op}"));
    let checks = case.run(&Device::Cpu).unwrap();
    assert!(checks.len() >= 2, "{op}: {} checks", checks.len());
    for check in &checks {
        assert!(check.passed, "{check}");
    }
}

fn cpu(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    rand_tensor(shape, seed, dtype, &Device::Cpu).unwrap()
}

#[test]
fn every_fused_op_has_a_case() {
    let names: Vec<&str> = cases::CASES.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "rms_norm",
            "softmax",
            "rope",
            "glu",
            "attention",
            "lm_head_loss",
            "frozen_linear",
            "lora_linear",
            "linear"
        ]
    );
}

#[test]
fn rms_norm_matches_finite_differences_and_the_composed_op() {
    passes("rms_norm");
}

#[test]
fn softmax_kernels_match_finite_differences_and_the_composed_ops() {
    passes("softmax");
}

#[test]
fn rope_matches_finite_differences_and_the_composed_op_in_both_layouts() {
    passes("rope");
    // Interleaved against candle's kernel (forward only), [b, t, h, d] from a
    // transposed [b, h, t, d].
    let (b, t, h, d) = (2, 5, 3, 16);
    let theta = (cpu(&[b * t, d / 2], 7, DType::F64) * 2.0).unwrap();
    let cos = theta.cos().unwrap().to_dtype(DType::F32).unwrap();
    let sin = theta.sin().unwrap().to_dtype(DType::F32).unwrap();
    let base = cpu(&[b, h, t, d], 8, DType::F32);
    let as_bthd = |x: &Tensor| x.transpose(1, 2).unwrap();
    let fused = rope(&as_bthd(&base), &cos, &sin, RopeLayout::Interleaved).unwrap();
    let candle = candle_nn::rotary_emb::rope_i(
        &base.contiguous().unwrap(),
        &cos.reshape((b, t, d / 2)).unwrap(),
        &sin.reshape((b, t, d / 2)).unwrap(),
    )
    .unwrap();
    let diff = max_abs_diff(&fused, &as_bthd(&candle));
    assert!(
        diff < 1e-5,
        "interleaved rope differs from candle's by {diff}"
    );
}

#[test]
fn gated_activations_match_finite_differences_and_the_composed_ops() {
    passes("glu");
}

#[test]
fn attention_matches_finite_differences_and_the_composed_op() {
    passes("attention");
    // Decoding: one query per row after `past` cached positions.
    let (b, h, kvh, d, past) = (3, 6, 2, 8, 6);
    let mask = padded_mask(b, past + 1, past, Some(4));
    let q = cpu(&[b, 1, h, d], 19, DType::F32);
    let k = cpu(&[b, past + 1, kvh, d], 20, DType::F32);
    let v = cpu(&[b, past + 1, kvh, d], 21, DType::F32);
    let fused = attention(&q, &k, &v, &mask, 0.35, None).unwrap();
    let composed = composed_attention(&q, &k, &v, &mask, 0.35, None).unwrap();
    let diff = max_abs_diff(&fused, &composed);
    assert!(diff < 1e-5, "decode attention differs by {diff}");
}

#[test]
fn lm_head_loss_matches_finite_differences_and_the_composed_loss() {
    passes("lm_head_loss");
    // No labelled row: zero loss, zero gradients, no NaN.
    let none = vec![ops::IGNORE_INDEX; 5];
    let x = rand_var(&[5, 4], 27, &Device::Cpu).unwrap();
    let w = cpu(&[7, 4], 28, DType::F64);
    let loss = lm_head_loss(x.as_tensor(), &w, &none, None).unwrap();
    assert_eq!(loss.to_scalar::<f64>().unwrap(), 0.0);
    let g = loss.backward().unwrap();
    let total: f64 = flat(g.get(&x).unwrap())
        .unwrap()
        .iter()
        .map(|v| v.abs())
        .sum();
    assert_eq!(total, 0.0);
    // A target outside the vocabulary is an error, not a wild read.
    let outside = [7, -100, -100, -100, -100];
    assert!(lm_head_loss(x.as_tensor(), &w, &outside, None).is_err());
}

#[test]
fn frozen_linear_gives_no_weight_gradient_and_matches_the_matmul() {
    use plantune_tui::model::fused::frozen_linear::frozen_linear;
    passes("frozen_linear");
    let x = rand_var(&[4, 6], 30, &Device::Cpu).unwrap();
    let w = cpu(&[5, 6], 31, DType::F64);
    let y = frozen_linear(x.as_tensor(), &w).unwrap();
    let plain = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
    assert!(max_abs_diff(&y, &plain) < 1e-12);
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&w).is_none());
    // The softmax the composed attention runs is the fused one on the CPU.
    let s = cpu(&[2, 3, 5], 32, DType::F32);
    let bias = Tensor::new(&[[0f32, 0.0, -1e9, 0.0, -1e9]], &Device::Cpu).unwrap();
    let fused = ops::masked_softmax(&s, Some(&bias)).unwrap();
    let composed = ops::softmax_last_dim_composed(&s.broadcast_add(&bias).unwrap()).unwrap();
    assert!(max_abs_diff(&fused, &composed) < 1e-6);
    let sums = fused.sum(D::Minus1).unwrap().flatten_all().unwrap();
    assert!(
        sums.to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|s| (s - 1.0).abs() < 1e-6)
    );
}

#[test]
fn lora_linear_matches_finite_differences_and_the_composed_layer() {
    passes("lora_linear");
}

#[test]
fn linear_matches_finite_differences_and_the_matmul() {
    passes("linear");
}

/// A wrong gradient is caught: the checks can fail.
#[test]
fn a_wrong_gradient_fails_the_checks() {
    use plantune_tui::model::gradcheck::{against_reference, finite_differences};
    let x = rand_var(&[3, 4], 50, &Device::Cpu).unwrap();
    // `detach` drops the gradient of one factor: the analytic gradient is half the truth.
    let wrong = finite_differences("x * x, half detached", std::slice::from_ref(&x), &|t| {
        t[0].mul(&t[0].detach())
    })
    .unwrap();
    assert!(!wrong.passed, "{wrong}");
    let right = finite_differences("x * x", &[x], &|t| t[0].mul(&t[0])).unwrap();
    assert!(right.passed, "{right}");
    let base = [cpu(&[3, 4], 51, DType::F32)];
    let off = against_reference(
        "scaled",
        (&base, &|t| t[0].exp()),
        (&base, &|t| t[0].exp()? * 1.001),
        1e-5,
    )
    .unwrap();
    assert!(!off.passed, "{off}");
}
