//! Every fused op as a gradient-check case, on a device: central differences in f64
//! of the implementation the decoder runs there (the fused kernel on the CPU, the
//! composed ops of [`crate::model::ops`] elsewhere), and that implementation in f32
//! against the fused kernel on the CPU (on the CPU itself: fused against composed),
//! with masked and non-contiguous inputs.

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, Var};

use super::{Check, Op, against_reference, finite_differences, rand_tensor, rand_var};
use crate::model::config::Activation;
use crate::model::fused::attention::{AttentionMask, MASKED, attention};
use crate::model::fused::frozen_linear::frozen_linear;
use crate::model::fused::glu::glu;
use crate::model::fused::linear::linear;
use crate::model::fused::lm_head_loss::lm_head_loss;
use crate::model::fused::lora_linear::lora_linear;
use crate::model::fused::rms_norm::rms_norm;
use crate::model::fused::rope::{RopeLayout, rope};
use crate::model::ops;

/// One op's checks.
pub struct OpCase {
    pub name: &'static str,
    run: fn(&Device) -> Result<Vec<Check>>,
}

impl OpCase {
    pub fn run(&self, device: &Device) -> Result<Vec<Check>> {
        (self.run)(device)
    }
}

pub const CASES: &[OpCase] = &[
    OpCase {
        name: "rms_norm",
        run: rms_norm_case,
    },
    OpCase {
        name: "softmax",
        run: softmax_case,
    },
    OpCase {
        name: "rope",
        run: rope_case,
    },
    OpCase {
        name: "glu",
        run: glu_case,
    },
    OpCase {
        name: "attention",
        run: attention_case,
    },
    OpCase {
        name: "lm_head_loss",
        run: lm_head_loss_case,
    },
    OpCase {
        name: "frozen_linear",
        run: frozen_linear_case,
    },
    OpCase {
        name: "lora_linear",
        run: lora_linear_case,
    },
    OpCase {
        name: "linear",
        run: linear_case,
    },
];

/// The case called `name`.
pub fn named(name: &str) -> Option<&'static OpCase> {
    CASES.iter().find(|c| c.name == name)
}

/// Finite differences of the implementation `device` runs.
fn fd_on(name: &str, device: &Device, inputs: &[Var], fused: Op, composed: Op) -> Result<Check> {
    if device.is_cpu() {
        finite_differences(&format!("{name} (fused)"), inputs, fused)
    } else {
        finite_differences(&format!("{name} (composed)"), inputs, composed)
    }
}

/// `composed` on `device` against `fused` on the CPU, from the same f32 CPU bases.
fn vs_fused(
    name: &str,
    bases: &[Tensor],
    device: &Device,
    fused: Op,
    composed: Op,
    tol: f64,
) -> Result<Check> {
    let moved = bases
        .iter()
        .map(|b| b.to_device(device))
        .collect::<Result<Vec<_>>>()?;
    let title = format!(
        "{name}: composed on {} vs fused on cpu",
        device_name(device)
    );
    against_reference(&title, (bases, fused), (&moved, composed), tol)
}

fn device_name(device: &Device) -> &'static str {
    if device.is_cpu() { "cpu" } else { "the device" }
}

fn f32s(specs: &[(&[usize], u64)]) -> Result<Vec<Tensor>> {
    specs
        .iter()
        .map(|(shape, seed)| rand_tensor(shape, *seed, DType::F32, &Device::Cpu))
        .collect()
}

fn rms_norm_case(device: &Device) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for one_plus in [false, true] {
        let name = if one_plus {
            "rms_norm (1 + w)"
        } else {
            "rms_norm"
        };
        let composed = |x: &Tensor, w: &Tensor, eps: f64| {
            if one_plus {
                ops::rms_norm_one_plus(x, w, eps)
            } else {
                ops::rms_norm(x, w, eps)
            }
        };
        let inputs = [rand_var(&[2, 3, 8], 1, device)?, rand_var(&[8], 2, device)?];
        checks.push(fd_on(
            name,
            device,
            &inputs,
            &|t| rms_norm(&t[0], &t[1], 1e-5, one_plus),
            &|t| composed(&t[0], &t[1], 1e-5),
        )?);
        // A transposed view: not contiguous.
        let bases = f32s(&[(&[6, 4, 16], 3), (&[16], 4)])?;
        checks.push(vs_fused(
            name,
            &bases,
            device,
            &|t| rms_norm(&t[0].transpose(0, 1)?, &t[1], 1e-6, one_plus),
            &|t| composed(&t[0].transpose(0, 1)?, &t[1], 1e-6),
            1e-5,
        )?);
    }
    Ok(checks)
}

fn softmax_case(device: &Device) -> Result<Vec<Check>> {
    type Pair = (
        &'static str,
        fn(&Tensor) -> Result<Tensor>,
        fn(&Tensor) -> Result<Tensor>,
    );
    let pairs: [Pair; 2] = [
        (
            "softmax",
            ops::softmax_last_dim,
            ops::softmax_last_dim_composed,
        ),
        (
            "log_softmax",
            ops::log_softmax_last_dim,
            ops::log_softmax_last_dim_composed,
        ),
    ];
    let mut checks = Vec::new();
    for (name, fused, composed) in pairs {
        let x = [rand_var(&[2, 3, 7], 3, device)?];
        checks.push(fd_on(name, device, &x, &|t| fused(&t[0]), &|t| {
            composed(&t[0])
        })?);
        // Masked (-1e9) columns and a transposed, non-contiguous input.
        let mask_on = |dev: &Device| -> Result<Tensor> {
            let mut bias = vec![0f32; 33];
            bias[20..].fill(-1e9);
            Tensor::from_vec(bias, (1, 33), dev)
        };
        let (cpu_mask, dev_mask) = (mask_on(&Device::Cpu)?, mask_on(device)?);
        let bases = f32s(&[(&[3, 5, 33], 21)])?;
        checks.push(vs_fused(
            name,
            &bases,
            device,
            &|t| fused(&t[0].broadcast_add(&cpu_mask)?.transpose(0, 1)?),
            &|t| composed(&t[0].broadcast_add(&dev_mask)?.transpose(0, 1)?),
            1e-5,
        )?);
    }
    Ok(checks)
}

/// `cos`, `sin` `[p, half]` of real angles, so the rotation is one.
fn angles(
    p: usize,
    half: usize,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let theta = (rand_tensor(&[p, half], seed, DType::F64, device)? * 2.0)?;
    Ok((theta.cos()?.to_dtype(dtype)?, theta.sin()?.to_dtype(dtype)?))
}

fn rope_case(device: &Device) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let (cos, sin) = angles(2 * 3, 4, 5, DType::F64, device)?;
    let (cos4, sin4) = (cos.reshape((2, 3, 1, 4))?, sin.reshape((2, 3, 1, 4))?);
    checks.push(fd_on(
        "rope half-split",
        device,
        &[rand_var(&[2, 3, 2, 8], 6, device)?],
        &|t| rope(&t[0], &cos, &sin, RopeLayout::HalfSplit),
        &|t| ops::rope_half_split(&t[0], &cos4, &sin4),
    )?);
    // The decoder's composed path has no interleaved rotation (only GGUF-layout
    // models on the fused CPU path use it), so it is checked where it runs.
    if device.is_cpu() {
        checks.push(finite_differences(
            "rope interleaved (fused)",
            &[rand_var(&[2, 3, 2, 8], 6, device)?],
            &|t| rope(&t[0], &cos, &sin, RopeLayout::Interleaved),
        )?);
    }
    // [b, t, h, d] from a transposed [b, h, t, d], as the attention hands it over.
    let (b, t, d) = (2, 5, 16);
    let (cos, sin) = angles(b * t, d / 2, 7, DType::F32, &Device::Cpu)?;
    let cos4 = cos.reshape((b, t, 1, d / 2))?.to_device(device)?;
    let sin4 = sin.reshape((b, t, 1, d / 2))?.to_device(device)?;
    let bases = f32s(&[(&[b, 3, t, d], 8)])?;
    checks.push(vs_fused(
        "rope half-split",
        &bases,
        device,
        &|x| rope(&x[0].transpose(1, 2)?, &cos, &sin, RopeLayout::HalfSplit),
        &|x| ops::rope_half_split(&x[0].transpose(1, 2)?, &cos4, &sin4),
        1e-5,
    )?);
    Ok(checks)
}

fn gated(act: Activation, g: &Tensor, up: &Tensor) -> Result<Tensor> {
    let a = match act {
        Activation::Silu => return ops::silu_gated(g, up),
        Activation::GeluTanh => g.gelu()?,
        Activation::GeluErf => g.gelu_erf()?,
    };
    a * up
}

fn glu_case(device: &Device) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for act in [Activation::Silu, Activation::GeluTanh, Activation::GeluErf] {
        let name = format!("glu {act:?}");
        let inputs = [
            rand_var(&[3, 5], 9, device)?,
            rand_var(&[3, 5], 10, device)?,
        ];
        checks.push(fd_on(
            &name,
            device,
            &inputs,
            &|t| glu(&t[0], &t[1], act),
            &|t| gated(act, &t[0], &t[1]),
        )?);
        let bases = f32s(&[(&[7, 9], 11), (&[9, 7], 12)])?;
        checks.push(vs_fused(
            &name,
            &bases,
            device,
            &|t| glu(&t[0], &t[1].t()?, act),
            &|t| gated(act, &t[0], &t[1].t()?),
            1e-5,
        )?);
    }
    Ok(checks)
}

/// The composed attention the decoder's reference path runs, `[b, t, h, d]` in and
/// out: keys repeated per group, an additive mask, the composed masked softmax.
pub fn composed_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &AttentionMask,
    scale: f64,
    softcap: Option<f64>,
) -> Result<Tensor> {
    let (b, t, h, _) = q.dims4()?;
    let (_, s, kvh, _) = k.dims4()?;
    let groups = h / kvh;
    let heads = |x: &Tensor| -> Result<Tensor> {
        let x = x.transpose(1, 2)?.contiguous()?;
        let (b, n, s, d) = x.dims4()?;
        let copies = vec![&x; groups];
        Tensor::cat(&copies, 2)?.reshape((b, n * groups, s, d))
    };
    let q = q.transpose(1, 2)?.contiguous()?;
    let mut scores = (q.matmul(&heads(k)?.t()?)? * scale)?;
    if let Some(cap) = softcap {
        scores = ((scores / cap)?.tanh()? * cap)?;
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
    let bias = Tensor::from_vec(bias, (b, 1, t, s), q.device())?.to_dtype(q.dtype())?;
    let probs = ops::masked_softmax(&scores, Some(&bias))?;
    probs.matmul(&heads(v)?)?.transpose(1, 2)
}

/// Row 0 left-padded by two positions; the other rows all real.
pub fn padded_mask(b: usize, s: usize, past: usize, window: Option<usize>) -> AttentionMask {
    let mut valid = vec![1u8; b * s];
    valid[0] = 0;
    valid[1] = 0;
    AttentionMask {
        key_valid: Arc::new(valid),
        past,
        window,
    }
}

fn attention_case(device: &Device) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let (b, t, h, kvh, d) = (2, 4, 4, 2, 3);
    for (window, softcap) in [(None, None), (Some(2), Some(2.5))] {
        // Padding at the end of row 0: with left padding a query that sees no key
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
            rand_var(&[b, t, h, d], 13, device)?,
            rand_var(&[b, t, kvh, d], 14, device)?,
            rand_var(&[b, t, kvh, d], 15, device)?,
        ];
        checks.push(fd_on(
            &format!("attention window {window:?} softcap {softcap:?}"),
            device,
            &inputs,
            &|x| attention(&x[0], &x[1], &x[2], &mask, 0.7, softcap),
            &|x| composed_attention(&x[0], &x[1], &x[2], &mask, 0.7, softcap),
        )?);
    }
    let (b, t, h, kvh, d) = (3, 9, 6, 2, 8);
    for (window, softcap) in [(None, None), (Some(4), None), (Some(3), Some(20.0))] {
        let mask = padded_mask(b, t, 0, window);
        // Keys and values as views of a wider buffer, as the KV cache hands them out.
        let bases = f32s(&[
            (&[b, t, h, d], 16),
            (&[b, t + 5, kvh, d], 17),
            (&[b, t + 5, kvh, d], 18),
        ])?;
        let narrow = |x: &Tensor| x.narrow(1, 0, t);
        checks.push(vs_fused(
            &format!("attention window {window:?} softcap {softcap:?}"),
            &bases,
            device,
            &|x| {
                attention(
                    &x[0],
                    &narrow(&x[1])?,
                    &narrow(&x[2])?,
                    &mask,
                    0.35,
                    softcap,
                )
            },
            &|x| {
                composed_attention(
                    &x[0],
                    &narrow(&x[1])?,
                    &narrow(&x[2])?,
                    &mask,
                    0.35,
                    softcap,
                )
            },
            1e-5,
        )?);
    }
    // Longer than one tile of query rows, after cached positions: the tiles skip the
    // keys after their last query, and the left-padded row's first queries see no key.
    let (b, t, h, kvh, d) = (2, 150, 4, 2, 8);
    for (past, window, softcap) in [(0, None, None), (6, Some(40), Some(20.0))] {
        let mask = padded_mask(b, past + t, past, window);
        let bases = f32s(&[
            (&[b, t, h, d], 22),
            (&[b, past + t, kvh, d], 23),
            (&[b, past + t, kvh, d], 24),
        ])?;
        checks.push(vs_fused(
            &format!(
                "attention of {t} queries after {past}, window {window:?} softcap {softcap:?}"
            ),
            &bases,
            device,
            &|x| attention(&x[0], &x[1], &x[2], &mask, 0.35, softcap),
            &|x| composed_attention(&x[0], &x[1], &x[2], &mask, 0.35, softcap),
            1e-5,
        )?);
    }
    Ok(checks)
}

/// The composed loss: the whole logits, then the masked mean cross-entropy.
pub fn composed_loss(
    x: &Tensor,
    w: &Tensor,
    targets: &[i64],
    softcap: Option<f64>,
) -> Result<Tensor> {
    let mut logits = x.matmul(&w.t()?)?;
    if let Some(cap) = softcap {
        logits = ((logits / cap)?.tanh()? * cap)?;
    }
    let t = Tensor::new(targets, x.device())?;
    ops::cross_entropy_ignore(&logits, &t)
}

fn lm_head_loss_case(device: &Device) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let targets = [3i64, ops::IGNORE_INDEX, 0, 6, ops::IGNORE_INDEX];
    for softcap in [None, Some(3.0)] {
        let inputs = [
            rand_var(&[5, 4], 22, device)?,
            rand_var(&[7, 4], 23, device)?,
        ];
        checks.push(fd_on(
            &format!("lm_head_loss softcap {softcap:?}"),
            device,
            &inputs,
            &|t| lm_head_loss(&t[0], &t[1], &targets, softcap),
            &|t| composed_loss(&t[0], &t[1], &targets, softcap),
        )?);
    }
    // Enough rows for several chunks of a 30,000-token vocabulary, one of them all
    // ignored; x a non-contiguous view.
    let (n, h, vocab) = (700, 8, 30_000);
    let targets: Vec<i64> = (0..n)
        .map(|i| {
            if (150..330).contains(&i) || i % 7 == 0 {
                ops::IGNORE_INDEX
            } else {
                ((i * 7919) % vocab) as i64
            }
        })
        .collect();
    let bases = vec![
        rand_tensor(&[h, n], 25, DType::F32, &Device::Cpu)?,
        (rand_tensor(&[vocab, h], 26, DType::F32, &Device::Cpu)? * 0.3)?,
    ];
    for softcap in [None, Some(30.0)] {
        checks.push(vs_fused(
            &format!("lm_head_loss softcap {softcap:?}"),
            &bases,
            device,
            &|t| lm_head_loss(&t[0].t()?, &t[1], &targets, softcap),
            &|t| composed_loss(&t[0].t()?, &t[1], &targets, softcap),
            1e-5,
        )?);
    }
    Ok(checks)
}

fn frozen_linear_case(device: &Device) -> Result<Vec<Check>> {
    let w = rand_tensor(&[5, 6], 31, DType::F64, device)?;
    let fd = fd_on(
        "frozen_linear",
        device,
        &[rand_var(&[4, 6], 30, device)?],
        &|t| frozen_linear(&t[0], &w),
        &|t| ops::frozen_matmul_t(&t[0], &w),
    )?;
    let w_cpu = rand_tensor(&[48, 40], 32, DType::F32, &Device::Cpu)?;
    let w_dev = w_cpu.to_device(device)?;
    let bases = f32s(&[(&[40, 30], 33)])?;
    let reference = vs_fused(
        "frozen_linear",
        &bases,
        device,
        &|t| frozen_linear(&t[0].t()?, &w_cpu),
        &|t| ops::frozen_matmul_t(&t[0].t()?, &w_dev),
        1e-4,
    )?;
    Ok(vec![fd, reference])
}

fn composed_lora(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, scale: f64) -> Result<Tensor> {
    let base = x.matmul(&w.t()?)?;
    let up = x.matmul(&a.t()?)?.matmul(&b.t()?)?;
    base + (up * scale)?
}

fn lora_linear_case(device: &Device) -> Result<Vec<Check>> {
    let w = rand_tensor(&[5, 6], 33, DType::F64, device)?;
    let inputs = [
        rand_var(&[4, 6], 34, device)?,
        rand_var(&[2, 6], 35, device)?,
        rand_var(&[5, 2], 36, device)?,
    ];
    let fd = fd_on(
        "lora_linear",
        device,
        &inputs,
        &|t| lora_linear(&t[0], &w, &t[1], &t[2], 1.5),
        &|t| composed_lora(&t[0], &w, &t[1], &t[2], 1.5),
    )?;
    let w_cpu = rand_tensor(&[48, 40], 37, DType::F32, &Device::Cpu)?;
    let w_dev = w_cpu.to_device(device)?;
    let bases = f32s(&[(&[40, 30], 38), (&[8, 40], 39), (&[48, 8], 40)])?;
    let reference = vs_fused(
        "lora_linear",
        &bases,
        device,
        &|t| lora_linear(&t[0].t()?, &w_cpu, &t[1], &t[2], 2.0),
        &|t| composed_lora(&t[0].t()?, &w_dev, &t[1], &t[2], 2.0),
        1e-4,
    )?;
    Ok(vec![fd, reference])
}

fn linear_case(device: &Device) -> Result<Vec<Check>> {
    let inputs = [
        rand_var(&[4, 6], 41, device)?,
        rand_var(&[5, 6], 42, device)?,
    ];
    let fd = fd_on("linear", device, &inputs, &|t| linear(&t[0], &t[1]), &|t| {
        t[0].matmul(&t[1].t()?)
    })?;
    let bases = f32s(&[(&[40, 30], 43), (&[48, 40], 44)])?;
    let reference = vs_fused(
        "linear",
        &bases,
        device,
        &|t| linear(&t[0].t()?, &t[1]),
        &|t| t[0].t()?.matmul(&t[1].t()?),
        1e-4,
    )?;
    Ok(vec![fd, reference])
}
