//! The speed sections: SFT steps (tokens/s and MFU), a GRPO step and batched generation
//! on a random model of a published shape, ours beside the same case in PyTorch when
//! asked, case by case so the two sides of a row see the same machine state.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::super::cases::{Case, CaseKind};
use super::super::ours::{Measured, Repetitions, run_case};
use super::super::{flops, random, torch};
use crate::model::config::Config;
use crate::train::precision::Precision;

/// What the speed sections run: on a GPU the shapes, elsewhere (and in quick
/// mode, for the smaller cases) shapes a CPU gets through in seconds.
#[derive(Debug, Clone)]
pub struct SpeedPlan {
    pub shape: &'static str,
    pub precision: Precision,
    pub sft: Vec<Case>,
    pub grpo: Vec<Case>,
    pub generate: Vec<Case>,
    pub reps: Repetitions,
}

impl SpeedPlan {
    pub fn new(on_gpu: bool, quick: bool) -> Self {
        let full = |b, s| Case::train(CaseKind::SftStep, b, s, 0);
        let reps = Repetitions {
            warmup: 1,
            timed: if quick { 1 } else { 3 },
        };
        if on_gpu {
            Self {
                shape: "qwen2.5-0.5b",
                precision: Precision::Bf16,
                sft: if quick {
                    vec![full(4, 256)]
                } else {
                    vec![full(4, 256), full(8, 1024)]
                },
                grpo: vec![if quick {
                    Case::grpo(8, 64, 64)
                } else {
                    Case::grpo(8, 64, 256)
                }],
                generate: if quick {
                    vec![Case::generate(8, 32, 64)]
                } else {
                    vec![
                        Case::generate(1, 32, 128),
                        Case::generate(8, 32, 128),
                        Case::generate(32, 32, 128),
                    ]
                },
                reps,
            }
        } else {
            Self {
                shape: "tiny-llama",
                precision: Precision::Bf16,
                sft: if quick {
                    vec![full(4, 32)]
                } else {
                    vec![full(4, 64), full(8, 128)]
                },
                grpo: vec![Case::grpo(4, 8, 8)],
                generate: vec![Case::generate(4, 8, 8)],
                reps,
            }
        }
    }
}

/// Where and with what the cases run.
pub struct SpeedContext<'a> {
    pub model_dir: &'a Path,
    pub plan: &'a SpeedPlan,
    pub placement: torch::Placement,
    pub threads: usize,
    /// The Python with torch and transformers, when the PyTorch side is wanted.
    pub python: Option<&'a PathBuf>,
    /// Dense peak TFLOP/s for MFU.
    pub peak_tflops: Option<f64>,
}

/// The `random:` model of the plan's shape, written once into the cache.
pub fn model_dir(cache_dir: &Path, shape: &str) -> anyhow::Result<PathBuf> {
    let out = cache_dir.join("models").join(format!("random-{shape}"));
    random::write_shape(shape, &out, None)?;
    Ok(out)
}

/// Runs `cases`, calling `progress` with the section's data after each row.
pub fn run_cases(ctx: &SpeedContext, cases: &[Case], progress: &mut dyn FnMut(&Value)) -> Value {
    let cfg = Config::from_file(&ctx.model_dir.join("config.json")).ok();
    let mut data = json!({
        "model": format!("random:{} ({})", ctx.plan.shape, ctx.model_dir.display()),
        "precision": ctx.plan.precision.name(),
        "warmup": ctx.plan.reps.warmup,
        "timed": ctx.plan.reps.timed,
        "peak_tflops": ctx.peak_tflops,
        "torch_versions": Value::Null,
        "rows": [],
    });
    for case in cases {
        let mut row = json!({ "case": case.name, "tokens": case.tokens() });
        let ours = run_case(ctx.model_dir, case, ctx.plan.reps, ctx.plan.precision);
        match &ours {
            Ok(m) => {
                eprintln!(
                    "gpu-check: ours: {}: {:.1} tokens/s",
                    m.name, m.tokens_per_s
                );
                row["ours"] = json!(m);
            }
            Err(e) => row["ours_error"] = json!(e.to_string()),
        }
        let theirs = ctx.python.map(|python| {
            torch::run(
                python,
                ctx.model_dir,
                ctx.threads,
                std::slice::from_ref(case),
                ctx.plan.reps,
                ctx.placement,
            )
        });
        let mut theirs_measured: Option<Measured> = None;
        match theirs {
            Some(Ok(report)) => {
                data["torch_versions"] = json!(format!(
                    "torch {}, transformers {}{}",
                    report.torch,
                    report.transformers,
                    report
                        .gpu
                        .as_deref()
                        .map(|g| format!(", {g}"))
                        .unwrap_or_default()
                ));
                theirs_measured = report.cases.into_iter().find(|c| c.name == case.name);
                match &theirs_measured {
                    Some(m) => row["torch"] = json!(m),
                    None => row["torch_error"] = json!("the PyTorch report lacks this case"),
                }
            }
            Some(Err(e)) => row["torch_error"] = json!(e.to_string()),
            None => {}
        }
        if let (Ok(a), Some(b)) = (&ours, &theirs_measured) {
            row["ratio"] = json!(a.tokens_per_s / b.tokens_per_s.max(1e-12));
        }
        if let (Some(cfg), Some(peak), CaseKind::SftStep) = (&cfg, ctx.peak_tflops, case.kind) {
            let per_token = flops::train_flops_per_token(cfg, case.seq, case.lora_rank > 0);
            if let Ok(a) = &ours {
                row["mfu_ours"] = json!(flops::mfu(a.tokens_per_s, per_token, peak));
            }
            if let Some(b) = &theirs_measured {
                row["mfu_torch"] = json!(flops::mfu(b.tokens_per_s, per_token, peak));
            }
        }
        if let Some(rows) = data["rows"].as_array_mut() {
            rows.push(row);
        }
        progress(&data);
    }
    data
}

/// Whether every row has our figure (and PyTorch's, when it was asked for).
pub fn complete(data: &Value, with_torch: bool) -> bool {
    data["rows"].as_array().is_some_and(|rows| {
        rows.iter().all(|r| {
            r["ours"]["tokens_per_s"].as_f64().is_some_and(|t| t > 0.0)
                && (!with_torch || r["torch"]["tokens_per_s"].as_f64().is_some_and(|t| t > 0.0))
        })
    })
}
