//! The fused ops (`model::fused`): each against finite differences in f64 and against
//! the composed ops it replaces in f32, with masked and non-contiguous inputs.

#![allow(clippy::unwrap_used)]
use crate::common;

// Test helpers outside #[test] fns are test code too; clippy.toml only covers the latter.

use std::sync::Arc;

use candle_core::{D, DType, Device, Tensor, Var};
use common::model::max_abs_diff;
use plantune_tui::model::config::Activation;
use plantune_tui::model::fused::attention::{AttentionMask, MASKED, attention};
use plantune_tui::model::fused::glu::glu;
use plantune_tui::model::fused::lm_head_loss::lm_head_loss;
use plantune_tui::model::fused::rms_norm::rms_norm;
use plantune_tui::model::fused::rope::{RopeLayout, rope};
use plantune_tui::model::ops;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_tensor(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.5..1.5)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn var(shape: &[usize], seed: u64) -> Var {
    Var::from_tensor(&rand_tensor(shape, seed, DType::F64)).unwrap()
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// Every entry of every input's gradient of `sum(f(inputs) * probe)` against a
/// central difference (f64).
fn check_fd(name: &str, inputs: &[Var], f: &dyn Fn(&[Tensor]) -> Tensor) {
    let current = || -> Vec<Tensor> { inputs.iter().map(|v| v.as_tensor().clone()).collect() };
    let out = f(&current());
    let probe = rand_tensor(out.dims(), 99, DType::F64);
    let scalar = |ts: &[Tensor]| f(ts).mul(&probe).unwrap().sum_all().unwrap();
    let grads = scalar(&current()).backward().unwrap();
    for (k, v) in inputs.iter().enumerate() {
        let analytic = flat(
            grads
                .get(v)
                .unwrap_or_else(|| panic!("{name}: input {k} got no gradient")),
        );
        let base = flat(v.as_tensor());
        for (idx, &ana) in analytic.iter().enumerate() {
            let at = |delta: f64| {
                let mut moved = base.clone();
                moved[idx] += delta;
                v.set(&Tensor::from_vec(moved, v.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                scalar(&current()).to_scalar::<f64>().unwrap()
            };
            let eps = 1e-6;
            let num = (at(eps) - at(-eps)) / (2.0 * eps);
            v.set(&Tensor::from_vec(base.clone(), v.shape(), &Device::Cpu).unwrap())
                .unwrap();
            assert!(
                (num - ana).abs() <= 1e-6 * (1.0 + num.abs()),
                "{name}: input {k} entry {idx}: analytic {ana} vs numeric {num}"
            );
        }
    }
}

/// Runs `f` on f32 copies of `bases` (as vars), returns the output and the gradient
/// of `sum(out * probe)` for each base.
fn value_and_grads(
    bases: &[Tensor],
    probe_seed: u64,
    f: &dyn Fn(&[Tensor]) -> Tensor,
) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = bases.iter().map(|b| Var::from_tensor(b).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts);
    let probe = rand_tensor(out.dims(), probe_seed, out.dtype());
    let grads = out
        .mul(&probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gs = vars.iter().map(|v| grads.get(v).unwrap().clone()).collect();
    (out, gs)
}

/// The fused and composed versions give the same values and gradients in f32.
fn assert_same(
    name: &str,
    bases: &[Tensor],
    fused: &dyn Fn(&[Tensor]) -> Tensor,
    composed: &dyn Fn(&[Tensor]) -> Tensor,
    tol: f64,
) {
    let (yf, gf) = value_and_grads(bases, 7, fused);
    let (yc, gc) = value_and_grads(bases, 7, composed);
    let dy = max_abs_diff(&yf, &yc);
    assert!(dy < tol, "{name}: values differ by {dy}");
    for (k, (a, b)) in gf.iter().zip(&gc).enumerate() {
        let dg = max_abs_diff(a, b);
        assert!(dg < tol, "{name}: gradient {k} differs by {dg}");
    }
}

#[test]
fn rms_norm_matches_finite_differences_and_the_composed_op() {
    for one_plus in [false, true] {
        let (x, w) = (var(&[2, 3, 8], 1), var(&[8], 2));
        check_fd("rms_norm", &[x, w], &|t| {
            rms_norm(&t[0], &t[1], 1e-5, one_plus).unwrap()
        });
        // Non-contiguous input: a transposed view.
        let bases = [
            rand_tensor(&[6, 4, 16], 3, DType::F32),
            rand_tensor(&[16], 4, DType::F32),
        ];
        let view = |t: &Tensor| t.transpose(0, 1).unwrap();
        assert_same(
            "rms_norm",
            &bases,
            &|t| rms_norm(&view(&t[0]), &t[1], 1e-6, one_plus).unwrap(),
            &|t| {
                if one_plus {
                    ops::rms_norm_one_plus(&view(&t[0]), &t[1], 1e-6).unwrap()
                } else {
                    ops::rms_norm(&view(&t[0]), &t[1], 1e-6).unwrap()
                }
            },
            1e-5,
        );
    }
}

/// `cos`, `sin` `[p, d/2]` of real angles (so the rotation is one).
fn angles(p: usize, half: usize, seed: u64, dtype: DType) -> (Tensor, Tensor) {
    let theta = (rand_tensor(&[p, half], seed, DType::F64) * 2.0).unwrap();
    (
        theta.cos().unwrap().to_dtype(dtype).unwrap(),
        theta.sin().unwrap().to_dtype(dtype).unwrap(),
    )
}

#[test]
fn rope_matches_finite_differences_and_the_composed_op_in_both_layouts() {
    let (cos, sin) = angles(2 * 3, 4, 5, DType::F64);
    for layout in [RopeLayout::HalfSplit, RopeLayout::Interleaved] {
        check_fd("rope", &[var(&[2, 3, 2, 8], 6)], &|t| {
            rope(&t[0], &cos, &sin, layout).unwrap()
        });
    }
    // [b, t, h, d] from a transposed [b, h, t, d] (non-contiguous), against the
    // composed half-split op and candle's interleaved kernel (forward only).
    let (b, t, h, d) = (2, 5, 3, 16);
    let (cos, sin) = angles(b * t, d / 2, 7, DType::F32);
    let base = rand_tensor(&[b, h, t, d], 8, DType::F32);
    let as_bthd = |x: &Tensor| x.transpose(1, 2).unwrap();
    let cos4 = cos.reshape((b, t, 1, d / 2)).unwrap();
    let sin4 = sin.reshape((b, t, 1, d / 2)).unwrap();
    assert_same(
        "rope half-split",
        std::slice::from_ref(&base),
        &|x| rope(&as_bthd(&x[0]), &cos, &sin, RopeLayout::HalfSplit).unwrap(),
        &|x| ops::rope_half_split(&as_bthd(&x[0]), &cos4, &sin4).unwrap(),
        1e-5,
    );
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
    for act in [Activation::Silu, Activation::GeluTanh, Activation::GeluErf] {
        check_fd("glu", &[var(&[3, 5], 9), var(&[3, 5], 10)], &|t| {
            glu(&t[0], &t[1], act).unwrap()
        });
        let bases = [
            rand_tensor(&[7, 9], 11, DType::F32),
            rand_tensor(&[9, 7], 12, DType::F32),
        ];
        let up = |t: &Tensor| t.t().unwrap();
        assert_same(
            "glu",
            &bases,
            &|t| glu(&t[0], &up(&t[1]), act).unwrap(),
            &|t| {
                let g = &t[0];
                let a = match act {
                    Activation::Silu => return ops::silu_gated(g, &up(&t[1])).unwrap(),
                    Activation::GeluTanh => g.gelu().unwrap(),
                    Activation::GeluErf => g.gelu_erf().unwrap(),
                };
                (a * up(&t[1])).unwrap()
            },
            1e-5,
        );
    }
}

/// The composed attention the decoder's reference path runs: `[b, t, h, d]` in and out.
fn composed_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &AttentionMask,
    scale: f64,
    softcap: Option<f64>,
) -> Tensor {
    let (b, t, h, _) = q.dims4().unwrap();
    let (_, s, kvh, _) = k.dims4().unwrap();
    let groups = h / kvh;
    let heads = |x: &Tensor| {
        let x = x.transpose(1, 2).unwrap().contiguous().unwrap();
        let (b, n, s, d) = x.dims4().unwrap();
        let copies = vec![&x; groups];
        Tensor::cat(&copies, 2)
            .unwrap()
            .reshape((b, n * groups, s, d))
            .unwrap()
    };
    let q = q.transpose(1, 2).unwrap().contiguous().unwrap();
    let mut scores = (q.matmul(&heads(k).t().unwrap()).unwrap() * scale).unwrap();
    if let Some(cap) = softcap {
        scores = ((scores / cap).unwrap().tanh().unwrap() * cap).unwrap();
    }
    let mut bias = vec![0f64; b * t * s];
    for row in 0..b {
        for i in 0..t {
            let qpos = mask.past + i;
            for j in 0..s {
                let visible = j <= qpos
                    && mask.key_valid[row * s + j] == 1
                    && mask.window.is_none_or(|w| qpos - j < w);
                if !visible {
                    bias[(row * t + i) * s + j] = MASKED;
                }
            }
        }
    }
    let bias = Tensor::from_vec(bias, (b, 1, t, s), &Device::Cpu)
        .unwrap()
        .to_dtype(q.dtype())
        .unwrap();
    let probs = ops::masked_softmax(&scores, Some(&bias)).unwrap();
    probs.matmul(&heads(v)).unwrap().transpose(1, 2).unwrap()
}

fn padded_mask(b: usize, s: usize, past: usize, window: Option<usize>) -> AttentionMask {
    // Row 0 is left-padded by two positions; the others are all real.
    let mut valid = vec![1u8; b * s];
    valid[0] = 0;
    valid[1] = 0;
    AttentionMask {
        key_valid: Arc::new(valid),
        past,
        window,
    }
}

#[test]
fn attention_matches_finite_differences() {
    let (b, t, h, kvh, d) = (2, 4, 4, 2, 3);
    for (window, softcap) in [(None, None), (Some(2), Some(2.5))] {
        // Padding at the end of row 0: with left padding, a query that sees no key
        // scores every key at -1e9 + s, where f64 keeps too few digits of s for a
        // finite difference (the f32 comparison below covers that case).
        let mut valid = vec![1u8; b * t];
        valid[t - 1] = 0;
        let mask = AttentionMask {
            key_valid: Arc::new(valid),
            past: 0,
            window,
        };
        let inputs = [
            var(&[b, t, h, d], 13),
            var(&[b, t, kvh, d], 14),
            var(&[b, t, kvh, d], 15),
        ];
        check_fd("attention", &inputs, &|x| {
            attention(&x[0], &x[1], &x[2], &mask, 0.7, softcap).unwrap()
        });
    }
}

#[test]
fn attention_matches_the_composed_op_with_masks_and_strided_keys() {
    let (b, t, h, kvh, d) = (3, 9, 6, 2, 8);
    for (window, softcap) in [(None, None), (Some(4), None), (Some(3), Some(20.0))] {
        let mask = padded_mask(b, t, 0, window);
        // Keys and values as views of a wider buffer, as the KV cache hands them out.
        let bases = [
            rand_tensor(&[b, t, h, d], 16, DType::F32),
            rand_tensor(&[b, t + 5, kvh, d], 17, DType::F32),
            rand_tensor(&[b, t + 5, kvh, d], 18, DType::F32),
        ];
        let narrow = |x: &Tensor| x.narrow(1, 0, t).unwrap();
        assert_same(
            "attention",
            &bases,
            &|x| attention(&x[0], &narrow(&x[1]), &narrow(&x[2]), &mask, 0.35, softcap).unwrap(),
            &|x| composed_attention(&x[0], &narrow(&x[1]), &narrow(&x[2]), &mask, 0.35, softcap),
            1e-5,
        );
    }
    // Decoding: one query per row after `past` cached positions.
    let past = 6;
    let mask = padded_mask(b, past + 1, past, Some(4));
    let q = rand_tensor(&[b, 1, h, d], 19, DType::F32);
    let k = rand_tensor(&[b, past + 1, kvh, d], 20, DType::F32);
    let v = rand_tensor(&[b, past + 1, kvh, d], 21, DType::F32);
    let fused = attention(&q, &k, &v, &mask, 0.35, None).unwrap();
    let composed = composed_attention(&q, &k, &v, &mask, 0.35, None);
    let diff = max_abs_diff(&fused, &composed);
    assert!(diff < 1e-5, "decode attention differs by {diff}");
}

/// The composed loss: the whole logits, then the masked mean cross-entropy.
fn composed_loss(x: &Tensor, w: &Tensor, targets: &[i64], softcap: Option<f64>) -> Tensor {
    let mut logits = x.matmul(&w.t().unwrap()).unwrap();
    if let Some(cap) = softcap {
        logits = ((logits / cap).unwrap().tanh().unwrap() * cap).unwrap();
    }
    let t = Tensor::new(targets, &Device::Cpu).unwrap();
    ops::cross_entropy_ignore(&logits, &t).unwrap()
}

#[test]
fn lm_head_loss_matches_finite_differences_and_the_composed_loss() {
    let targets = [3i64, ops::IGNORE_INDEX, 0, 6, ops::IGNORE_INDEX];
    for softcap in [None, Some(3.0)] {
        check_fd(
            "lm_head_loss",
            &[var(&[5, 4], 22), var(&[7, 4], 23)],
            &|t| lm_head_loss(&t[0], &t[1], &targets, softcap).unwrap(),
        );
    }
    // Enough rows for several chunks of a 30,000-token vocabulary, one of them all
    // ignored; x a non-contiguous view.
    let (n, h, vocab) = (700, 8, 30_000);
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let targets: Vec<i64> = (0..n)
        .map(|i| {
            if (150..330).contains(&i) || i % 7 == 0 {
                ops::IGNORE_INDEX
            } else {
                rng.random_range(0..vocab as i64)
            }
        })
        .collect();
    let bases = [
        rand_tensor(&[h, n], 25, DType::F32),
        (rand_tensor(&[vocab, h], 26, DType::F32) * 0.3).unwrap(),
    ];
    for softcap in [None, Some(30.0)] {
        assert_same(
            "lm_head_loss",
            &bases,
            &|t| lm_head_loss(&t[0].t().unwrap(), &t[1], &targets, softcap).unwrap(),
            &|t| composed_loss(&t[0].t().unwrap(), &t[1], &targets, softcap),
            1e-5,
        );
    }
    // No labelled row: zero loss, zero gradients, no NaN.
    let none = vec![ops::IGNORE_INDEX; 5];
    let x = var(&[5, 4], 27);
    let loss = lm_head_loss(
        x.as_tensor(),
        &rand_tensor(&[7, 4], 28, DType::F64),
        &none,
        None,
    )
    .unwrap();
    assert_eq!(loss.to_scalar::<f64>().unwrap(), 0.0);
    let g = loss.backward().unwrap();
    assert_eq!(
        flat(g.get(&x).unwrap())
            .iter()
            .map(|v| v.abs())
            .sum::<f64>(),
        0.0
    );
    // A target outside the vocabulary is an error, not a wild read.
    assert!(
        lm_head_loss(
            x.as_tensor(),
            &rand_tensor(&[7, 4], 29, DType::F64),
            &[7, -100, -100, -100, -100],
            None
        )
        .is_err()
    );
}

#[test]
fn frozen_linear_gives_no_weight_gradient_and_keeps_one_copy_of_the_product() {
    let x = var(&[4, 6], 30);
    let w = rand_tensor(&[5, 6], 31, DType::F64);
    check_fd("frozen_linear", std::slice::from_ref(&x), &|t| {
        plantune_tui::model::fused::frozen_linear::frozen_linear(&t[0], &w).unwrap()
    });
    let y = plantune_tui::model::fused::frozen_linear::frozen_linear(x.as_tensor(), &w).unwrap();
    let plain = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
    assert!(max_abs_diff(&y, &plain) < 1e-12);
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&w).is_none());
    // The softmax the composed attention now runs is the fused one on the CPU.
    let s = rand_tensor(&[2, 3, 5], 32, DType::F32);
    let bias = Tensor::new(&[[0f32, 0.0, -1e9, 0.0, -1e9]], &Device::Cpu).unwrap();
    let fused = ops::masked_softmax(&s, Some(&bias)).unwrap();
    let composed = ops::softmax_last_dim_composed(&s.broadcast_add(&bias).unwrap()).unwrap();
    assert!(max_abs_diff(&fused, &composed) < 1e-6);
    assert!(
        fused
            .sum(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|s| (s - 1.0).abs() < 1e-6)
    );
}

#[test]
fn lora_linear_matches_finite_differences_and_the_composed_layer() {
    let w = rand_tensor(&[5, 6], 33, DType::F64);
    let inputs = [var(&[4, 6], 34), var(&[2, 6], 35), var(&[5, 2], 36)];
    check_fd("lora_linear", &inputs, &|t| {
        plantune_tui::model::fused::lora_linear::lora_linear(&t[0], &w, &t[1], &t[2], 1.5).unwrap()
    });
    let w = rand_tensor(&[48, 40], 37, DType::F32);
    let bases = [
        rand_tensor(&[40, 30], 38, DType::F32),
        rand_tensor(&[8, 40], 39, DType::F32),
        rand_tensor(&[48, 8], 40, DType::F32),
    ];
    assert_same(
        "lora_linear",
        &bases,
        &|t| {
            let x = t[0].t().unwrap();
            plantune_tui::model::fused::lora_linear::lora_linear(&x, &w, &t[1], &t[2], 2.0).unwrap()
        },
        &|t| {
            let x = t[0].t().unwrap();
            let base = x.matmul(&w.t().unwrap()).unwrap();
            let low = x.matmul(&t[1].t().unwrap()).unwrap();
            let up = low.matmul(&t[2].t().unwrap()).unwrap();
            (base + (up * 2.0).unwrap()).unwrap()
        },
        1e-4,
    );
}

#[test]
fn linear_matches_finite_differences_and_the_matmul() {
    use plantune_tui::model::fused::linear::linear;
    check_fd("linear", &[var(&[4, 6], 41), var(&[5, 6], 42)], &|t| {
        linear(&t[0], &t[1]).unwrap()
    });
    let bases = [
        rand_tensor(&[40, 30], 43, DType::F32),
        rand_tensor(&[48, 40], 44, DType::F32),
    ];
    assert_same(
        "linear",
        &bases,
        &|t| linear(&t[0].t().unwrap(), &t[1]).unwrap(),
        &|t| t[0].t().unwrap().matmul(&t[1].t().unwrap()).unwrap(),
        1e-4,
    );
}
