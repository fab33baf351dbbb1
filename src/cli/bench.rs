//! `plantune-tui bench model|train|generate`: our training and generation code on a
//! real model, optionally beside PyTorch + transformers on the same directory.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::bench::cases::Suite;
use crate::bench::ours::{Repetitions, run_case};
use crate::bench::{random, table, torch};
use crate::config::Paths;
use crate::model::config::Config;
use crate::train::precision::Precision;
use crate::tui::sanitize::sanitize;

#[derive(Debug, clap::Args)]
pub struct ModelBenchArgs {
    /// Model directory (Hugging Face layout), or `random:qwen2.5-0.5b` (that shape with
    /// random weights, written to the cache once). Default: SmolLM2-135M-Instruct,
    /// imported once from its GGUF to f32 in the cache.
    #[arg(long)]
    model: Option<String>,
    /// f32, or bf16 (our side: bf16 weights and activations with f32 masters; PyTorch:
    /// autocast to bf16 over f32 weights).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// The device's dense peak in TFLOP/s at this precision (989 for an H100/H200
    /// SXM in bf16): prints the model FLOPs utilisation of training cases.
    #[arg(long)]
    peak_tflops: Option<f64>,
    /// Rows per training step instead of the suite's 4.
    #[arg(long)]
    batch: Option<usize>,
    /// Tokens per row of training steps instead of the suite's 256.
    #[arg(long)]
    seq: Option<usize>,
    /// Also run the same cases with PyTorch + transformers (`bench/torch_bench.py`) and
    /// print ours / PyTorch ratios.
    #[arg(long)]
    torch: bool,
    /// Python with torch and transformers (default: the venv `bench/compare.sh`
    /// creates in the cache, else `python3`).
    #[arg(long)]
    python: Option<PathBuf>,
    /// One warm-up and one timed repetition per case instead of one and three.
    #[arg(long)]
    quick: bool,
    /// Also write both sides' results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Divide sequence lengths and generated tokens by this (for quick checks on tiny
    /// models; the figures are then not the shapes).
    #[arg(long, default_value_t = 1, hide = true)]
    scale: usize,
}

pub fn run(suite: Suite, args: ModelBenchArgs, threads: usize, paths: &Paths) -> Result<()> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    };
    let dir = match args.model {
        Some(spec) => {
            let tokenizer_from = || crate::bench::default_model_dir(&paths.cache_dir);
            match spec.strip_prefix("random:") {
                Some(_) => random::resolve(&spec, &paths.cache_dir, &tokenizer_from()?)?
                    .context("random model")?,
                None => PathBuf::from(spec),
            }
        }
        None => crate::bench::default_model_dir(&paths.cache_dir)?,
    };
    let device = crate::device::selected().unwrap_or_default();
    let placement = torch::Placement {
        device,
        precision: args.precision,
    };
    let reps = Repetitions {
        warmup: 1,
        timed: if args.quick { 1 } else { 3 },
    };
    let cases: Vec<_> = suite
        .cases(args.scale)
        .iter()
        .map(|c| c.reshaped(args.batch, args.seq))
        .collect();
    let python = args
        .python
        .unwrap_or_else(|| torch::default_python(&paths.cache_dir));
    // Case by case, ours then PyTorch's: on a shared machine the load drifts, and
    // measuring the two sides of a row minutes apart would fold that drift in.
    let mut ours = Vec::with_capacity(cases.len());
    let mut report: Option<torch::TorchReport> = None;
    for case in &cases {
        let measured = run_case(&dir, case, reps, args.precision)?;
        eprintln!(
            "ours: {}: {:.1} tokens/s",
            measured.name, measured.tokens_per_s
        );
        ours.push(measured);
        if args.torch {
            let one = torch::run(
                &python,
                &dir,
                threads,
                std::slice::from_ref(case),
                reps,
                placement,
            )?;
            match report.as_mut() {
                Some(r) => r.cases.extend(one.cases),
                None => report = Some(one),
            }
        }
    }

    println!(
        "bench {}: {} ({}, {device}, {threads} CPU thread{}), {} warm-up + {} timed repetition{} per case",
        suite.name(),
        dir.display(),
        args.precision,
        if threads == 1 { "" } else { "s" },
        reps.warmup,
        reps.timed,
        if reps.timed == 1 { "" } else { "s" },
    );
    if let Some(r) = &report {
        println!(
            "PyTorch side: torch {}, transformers {}, {} thread{}{}",
            r.torch,
            r.transformers,
            r.threads,
            if r.threads == 1 { "" } else { "s" },
            r.gpu
                .as_deref()
                .map(|g| format!(", {}", sanitize(g)))
                .unwrap_or_default()
        );
    }
    let rows = table::rows(&ours, report.as_ref());
    println!();
    print!("{}", table::render(&rows));
    let split = table::render_split(&rows);
    if !split.is_empty() {
        println!();
        print!("{split}");
    }
    for line in table::mismatches(&rows) {
        println!("WARNING: {line}");
    }
    if let Some(peak) = args.peak_tflops {
        let cfg = Config::from_file(&dir.join("config.json"))?;
        println!();
        print!("{}", table::render_mfu(&rows, &cases, &cfg, peak));
    }
    if let Some(path) = args.json {
        let value = serde_json::json!({
            "suite": suite.name(),
            "model": dir.display().to_string(),
            "threads": threads,
            "warmup": reps.warmup,
            "timed": reps.timed,
            "ours": ours,
            "torch": report.as_ref().map(|r| serde_json::json!({
                "torch": r.torch,
                "transformers": r.transformers,
                "cases": r.cases,
            })),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
