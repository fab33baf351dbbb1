//! bf16 training against the f32 loss curve of the same run: the bounds, the SFT run
//! that produces a curve, and a tiny from-scratch model for places without weights.
//! `tests/train/bf16.rs` (SmolLM2, CPU) and `bench gpu-check` (tiny model, on the GPU)
//! both judge their curves with [`compare`], so a GPU passes by the test's standard.

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::Device;
use serde::Serialize;

use super::batch::TokenizedExample;
use super::precision::Precision;
use super::schedule::Decay;
use super::sft::{Ending, SftConfig, SftJob};
use super::student::Student;
use crate::data::synth::{SynthConfig, generate};
use crate::jobs::StopFlag;
use crate::model::tiny::{TinyConfig, create};
use crate::runlog::{DeviceStats, EventWriter, RunEvent, read_all};
use crate::telemetry::Sampler;

/// Optimiser steps of each curve.
pub const STEPS: u64 = 20;

/// How far the bf16 curve may lie from the f32 one, relative to the f32 loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurveBounds {
    /// Step 1 runs the same weights on the same batch: only bf16 arithmetic (8
    /// significant bits, about 2.4 decimal digits) separates the two losses.
    pub first_step: f64,
    /// Afterwards the trajectories part a little: a bf16 weight moves only when its
    /// f32 master crosses a rounding boundary, as under PyTorch's autocast.
    pub each_step: f64,
    pub mean: f64,
    /// Both curves must learn (mean of the last 5 losses below this fraction of the
    /// first 5), or agreeing curves would prove little: with bf16 updates lost to
    /// rounding the bf16 curve would stay flat.
    pub learned: f64,
}

pub const BOUNDS: CurveBounds = CurveBounds {
    first_step: 0.02,
    each_step: 0.15,
    mean: 0.08,
    learned: 0.8,
};

/// Two curves and what, if anything, breaks [`BOUNDS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurveComparison {
    pub f32: Vec<f64>,
    pub bf16: Vec<f64>,
    pub bounds: CurveBounds,
    pub failures: Vec<String>,
    pub passed: bool,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// `x <= limit`, false for NaN (a NaN loss breaks every bound).
fn below(x: f64, limit: f64) -> bool {
    x <= limit
}

/// Judges the bf16 curve against the f32 one (same run, same data, same steps).
pub fn compare(f32: Vec<f64>, bf16: Vec<f64>) -> CurveComparison {
    let b = BOUNDS;
    let mut failures = Vec::new();
    if f32.len() != STEPS as usize || bf16.len() != STEPS as usize {
        failures.push(format!(
            "expected {STEPS} steps per curve, got f32 {} and bf16 {}",
            f32.len(),
            bf16.len()
        ));
    } else {
        for (name, curve) in [("f32", &f32), ("bf16", &bf16)] {
            let (first, last) = (mean(&curve[..5]), mean(&curve[curve.len() - 5..]));
            if !below(last, b.learned * first) {
                failures.push(format!(
                    "{name} did not learn: loss {first:.4} -> {last:.4}"
                ));
            }
        }
        let (a, c) = (f32[0], bf16[0]);
        if !below((a - c).abs(), b.first_step * a) {
            failures.push(format!("step 1: f32 {a:.4} vs bf16 {c:.4}"));
        }
        for (step, (a, c)) in f32.iter().zip(&bf16).enumerate() {
            if !below((a - c).abs(), b.each_step * a) {
                failures.push(format!("step {}: f32 {a:.4} vs bf16 {c:.4}", step + 1));
            }
        }
        let (a, c) = (mean(&f32), mean(&bf16));
        if !below((a - c).abs(), b.mean * a) {
            failures.push(format!("mean over {STEPS} steps: f32 {a:.4}, bf16 {c:.4}"));
        }
        if f32 == bf16 {
            failures.push("identical curves: the bf16 run computed in f32".into());
        }
    }
    CurveComparison {
        passed: failures.is_empty(),
        f32,
        bf16,
        bounds: b,
        failures,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Bf16CheckError {
    #[error("{0}")]
    Setup(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the {precision} run: {message}")]
    Run {
        precision: Precision,
        message: String,
    },
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Bf16CheckError {
    move |e| Bf16CheckError::Setup(format!("{what}: {e}"))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Bf16CheckError + '_ {
    move |source| Bf16CheckError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `count` distinct synthetic problems as plain "Question/Answer" text (no chat
/// template), completions cut to `max_completion` tokens and ended with EOS.
pub fn synth_examples(
    student: &Student,
    count: usize,
    max_completion: usize,
) -> Result<Vec<TokenizedExample>, Bf16CheckError> {
    let problems = generate(&SynthConfig {
        seed: 4,
        train: count,
        test_id: 1,
        test_ood: 1,
        ..SynthConfig::default()
    })
    .map_err(setup("synthetic problems"))?;
    let eos = student
        .tokenizer
        .eos_id()
        .ok_or_else(|| Bf16CheckError::Setup("the tokenizer has no EOS token".into()))?;
    let encode = |text: &str| {
        student
            .tokenizer
            .encode(text, false)
            .map_err(setup("tokenizing"))
    };
    problems
        .iter()
        .filter(|p| p.split == "train")
        .map(|p| {
            let prompt = encode(&format!("Question: {}\nAnswer:", p.question))?;
            let solution = p.gold_solution.as_deref().unwrap_or(&p.gold_answer);
            let mut completion = encode(&format!(" {solution}"))?;
            completion.truncate(max_completion);
            completion.push(eos);
            Ok(TokenizedExample::new(&prompt, &completion))
        })
        .collect()
}

/// One curve: the step losses of [`STEPS`] steps of full fine-tuning, and the
/// `device` events its telemetry wrote meanwhile (the run's `events.jsonl` is in `dir`).
#[derive(Debug, Clone)]
pub struct Curve {
    pub losses: Vec<f64>,
    pub device_events: Vec<DeviceStats>,
}

/// Runs [`STEPS`] SFT steps of `student` over `train` (constant `lr`, no warm-up),
/// sampling the device every `telemetry` into the run's events when given.
pub fn sft_curve(
    student: &Student,
    train: &[TokenizedExample],
    config: &SftConfig,
    dir: &Path,
    telemetry: Option<Duration>,
) -> Result<Curve, Bf16CheckError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let events_path = dir.join("events.jsonl");
    let mut events = EventWriter::open(&events_path).map_err(io(&events_path))?;
    let sampler = match telemetry {
        Some(every) => Some(Sampler::every(&events_path, every).map_err(io(&events_path))?),
        None => None,
    };
    let job = SftJob {
        model: student,
        train,
        eval: &[],
        config,
        pad_id: student.pad_id(),
        checkpoints: dir.join("checkpoints"),
        dataset_hash: None,
        stop: StopFlag::manual(),
        pause_at: None,
    };
    let precision = if student.model.dtype() == candle_core::DType::F32 {
        Precision::F32
    } else {
        Precision::Bf16
    };
    let outcome = job.run(&mut events, None).map_err(|e| Bf16CheckError::Run {
        precision,
        message: e.to_string(),
    });
    drop(sampler);
    if outcome?.ending != Ending::Completed {
        return Err(Bf16CheckError::Run {
            precision,
            message: "did not complete".into(),
        });
    }
    let mut curve = Curve {
        losses: Vec::new(),
        device_events: Vec::new(),
    };
    for e in read_all(&events_path).map_err(io(&events_path))?.events {
        match e.event {
            RunEvent::Step { loss, .. } => curve.losses.push(loss),
            RunEvent::Device(stats) => curve.device_events.push(stats),
            _ => {}
        }
    }
    Ok(curve)
}

/// The SFT settings of a curve: [`STEPS`] steps at constant `lr`, no checkpoints
/// but the last.
pub fn curve_config(lr: f64, batch_size: usize) -> SftConfig {
    SftConfig {
        lr,
        warmup_ratio: 0.0,
        decay: Decay::Constant,
        epochs: 1,
        max_steps: STEPS,
        batch_size,
        checkpoint_every: 0,
        seed: 1,
        ..SftConfig::default()
    }
}

/// The tiny model's curves and the telemetry of its bf16 run.
#[derive(Debug, Clone)]
pub struct TinyCurves {
    pub comparison: CurveComparison,
    pub device_events: Vec<DeviceStats>,
}

/// Rows per step of the tiny curves, and their learning rate: a model trained from
/// scratch needs a far larger one than the fine-tuning recipes to learn in 20 steps.
const TINY_BATCH: usize = 4;
const TINY_LR: f64 = 3e-3;
/// The tiny bf16 run lasts seconds: sampled often enough to leave `device` events.
const TELEMETRY_EVERY: Duration = Duration::from_millis(250);

/// A tiny Llama trained from scratch on synthetic problems: f32 on the CPU, bf16 on
/// `device` (its device sampled as a run does), both curves judged by [`compare`].
pub fn tiny_curves(scratch: &Path, device: &Device) -> Result<TinyCurves, Bf16CheckError> {
    let count = STEPS as usize * TINY_BATCH;
    let problems = generate(&SynthConfig {
        seed: 4,
        train: count,
        test_id: 1,
        test_ood: 1,
        ..SynthConfig::default()
    })
    .map_err(setup("synthetic problems"))?;
    let corpus: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}\n{}",
                p.question,
                p.gold_solution.as_deref().unwrap_or("")
            )
        })
        .collect();
    let model_dir = scratch.join("tiny-model");
    let tiny = TinyConfig {
        vocab_size: 512,
        max_position_embeddings: 512,
        ..TinyConfig::default()
    };
    create(&model_dir, corpus.iter(), &tiny).map_err(setup("writing the tiny model"))?;
    let config = curve_config(TINY_LR, TINY_BATCH);
    let run = |precision: Precision, on: &Device, telemetry| {
        let student = Student::load_on(&model_dir, None, 0, precision, on)
            .map_err(setup("loading the tiny model"))?;
        let train = synth_examples(&student, count, 48)?;
        sft_curve(
            &student,
            &train,
            &config,
            &scratch.join(precision.name()),
            telemetry,
        )
    };
    let f32 = run(Precision::F32, &Device::Cpu, None)?;
    let bf16 = run(Precision::Bf16, device, Some(TELEMETRY_EVERY))?;
    Ok(TinyCurves {
        comparison: compare(f32.losses, bf16.losses),
        device_events: bf16.device_events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn falling(start: f64, scale: f64) -> Vec<f64> {
        (0..STEPS)
            .map(|i| start * scale * (1.0 - 0.03 * i as f64))
            .collect()
    }

    #[test]
    fn close_learning_curves_pass_and_each_bound_can_fail() {
        let f32 = falling(2.0, 1.0);
        let ok = compare(f32.clone(), falling(2.0, 1.01));
        assert!(ok.passed, "{:?}", ok.failures);
        let far = compare(f32.clone(), falling(2.0, 1.2));
        assert!(!far.passed);
        assert!(
            far.failures.iter().any(|f| f.starts_with("step 1:")),
            "{:?}",
            far.failures
        );
        let same = compare(f32.clone(), f32.clone());
        assert!(same.failures.iter().any(|f| f.contains("identical")));
        let flat = compare(vec![2.0; STEPS as usize], vec![2.01; STEPS as usize]);
        assert!(flat.failures.iter().any(|f| f.contains("did not learn")));
        let short = compare(f32[..5].to_vec(), f32[..5].to_vec());
        assert!(!short.passed);
        let nan = compare(f32.clone(), vec![f64::NAN; STEPS as usize]);
        assert!(!nan.passed);
    }
}
