//! `plantune-tui bench ...`: the subcommands, and for `model|train|generate|grpo-step`
//! our training and generation code on a real model, optionally beside PyTorch +
//! transformers on the same directory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::{Globals, pin_threads};
use crate::bench::cases::Suite;
use crate::bench::ours::{Repetitions, run_case};
use crate::bench::{random, table, torch};
use crate::config::Paths;
use crate::model::config::Config;
use crate::text::sanitize;
use crate::train::precision::Precision;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Insert candidates, then time opening the workspace and the first curation page.
    Store {
        /// Candidates to insert.
        #[arg(long, default_value_t = 100_000)]
        candidates: usize,
    },
    /// Teacher calls per second against a local server that answers instantly.
    Distill {
        #[arg(long, default_value_t = 2000)]
        calls: usize,
    },
    /// Where a GRPO step's time goes on a real model: sampling the group, the
    /// reference log-probabilities, the policy update.
    Grpo {
        /// Model directory (e.g. SmolLM2-135M-Instruct imported with `model import`).
        #[arg(long)]
        model: PathBuf,
        /// Completions per prompt (G).
        #[arg(long, default_value_t = 8)]
        group: usize,
        #[arg(long, default_value_t = 128)]
        max_new_tokens: usize,
        /// Measured steps (after one warm-up step).
        #[arg(long, default_value_t = 2)]
        steps: u64,
        /// LoRA rank; 0 = full fine-tuning.
        #[arg(long, default_value_t = 0)]
        lora: usize,
        /// KL weight; 0 skips the reference model.
        #[arg(long, default_value_t = 0.04)]
        beta: f64,
        /// Sequences per forward/backward in the update: bounds memory, same result.
        #[arg(long, default_value_t = 2)]
        micro_batch: usize,
        #[arg(long, value_enum, default_value_t = Precision::F32)]
        precision: Precision,
    },
    /// The TUI with 100,000 candidates and a 1,000,000-line events file: first frame,
    /// frame times while scrolling, with 10 runs overlaid, and while a run is written
    /// at 100 events/s; RSS.
    Tui,
    /// Grades per second over a mixed corpus (GSM8K, MATH, symbolic, traps), one thread.
    Grade {
        #[arg(long, default_value_t = crate::grade::bench::DEFAULT_BENCH_GRADES)]
        grades: usize,
    },
    /// Forward+backward tokens/s (4 x 256, full and LoRA r8) and generation tokens/s
    /// (batch 1 and 8, 128 new tokens) on a real model (f32, CPU); --torch puts
    /// PyTorch + transformers beside them.
    Model(ModelBenchArgs),
    /// SFT step tokens/s (4 x 256, full and LoRA r8; forward, backward, clipping, AdamW)
    /// and peak RSS; --torch puts PyTorch + transformers beside them.
    Train(ModelBenchArgs),
    /// Batched greedy generation tokens/s at batch 1, 8 and 32 (128 new tokens);
    /// --torch puts transformers' `generate` beside them.
    Generate(ModelBenchArgs),
    /// Completion tokens/s of whole GRPO steps at fixed shapes (8 sampled completions
    /// of 256 tokens to a 64-token prompt, reference log-probabilities, the clipped
    /// objective with KL, backward, AdamW); --torch runs the same step in PyTorch.
    GrpoStep(ModelBenchArgs),
    /// The GPU check in one command, with nothing fetched: gradient checks of every
    /// fused op on the device, a bf16-vs-f32 loss curve (20 steps, tiny model), NVML
    /// readings, SFT tokens/s and MFU, a GRPO step and batched generation on a random
    /// Qwen2.5-0.5B (tiny shapes on the CPU), each beside PyTorch with --torch.
    /// Writes gpu-check.json and gpu-check.md into --out.
    GpuCheck(GpuCheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct GpuCheckArgs {
    /// Folder for gpu-check.json, gpu-check.md and the bf16 run's events.
    #[arg(long)]
    out: PathBuf,
    /// One timed repetition per case and the smaller shapes: a first smoke run.
    #[arg(long)]
    quick: bool,
    /// Run each speed case in PyTorch too (`bench/torch_bench.py`).
    #[arg(long)]
    torch: bool,
    /// Python with torch and transformers for --torch (default: the bench venv in the
    /// cache, else `python3`).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Seconds the whole check may take: sections that no longer fit are skipped, and
    /// at the limit the report is written and the process exits with status 3.
    #[arg(long)]
    limit: Option<f64>,
    /// The device's dense bf16 peak in TFLOP/s for MFU (known: H100/H200 989, A100
    /// 312, L40S 362).
    #[arg(long)]
    peak_tflops: Option<f64>,
}

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

/// `plantune-tui bench ...` with `--threads` pinned (default 1, so figures compare).
pub fn dispatch(what: BenchCommand, globals: &Globals) -> Result<()> {
    let threads = globals.threads.unwrap_or(1);
    pin_threads(threads)?;
    let paths = globals.paths;
    // Suites print their own figures on stdout; this keeps a log alive meanwhile.
    let progress = crate::progress::Progress::new("bench", "suites", Some(1));
    let name = format!("{what:?}");
    let name = name
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("bench");
    progress.stage(&name.to_lowercase());
    let result = run_suite(what, threads, paths);
    progress.set_done(u64::from(result.is_ok()));
    progress.end(result.is_ok());
    result
}

fn run_suite(what: BenchCommand, threads: usize, paths: &Paths) -> Result<()> {
    match what {
        BenchCommand::Model(args) => run(Suite::Model, args, threads, paths),
        BenchCommand::Train(args) => run(Suite::Train, args, threads, paths),
        BenchCommand::Generate(args) => run(Suite::Generate, args, threads, paths),
        BenchCommand::GrpoStep(args) => run(Suite::GrpoStep, args, threads, paths),
        BenchCommand::GpuCheck(args) => gpu_check(args, threads, paths),
        BenchCommand::Store { candidates } => bench_store(candidates),
        BenchCommand::Grpo {
            model,
            group,
            max_new_tokens,
            steps,
            lora,
            beta,
            micro_batch,
            precision,
        } => {
            let options = crate::bench::grpo::GrpoBenchOptions {
                model,
                group,
                max_new_tokens,
                steps,
                lora_rank: lora,
                beta,
                micro_batch,
                precision,
            };
            let dir = tempfile::tempdir()?;
            let result = crate::bench::grpo::run(&options, dir.path())?;
            say_raw!("{}", crate::bench::grpo::render(&options, &result));
            Ok(())
        }
        BenchCommand::Tui => {
            let dir = tempfile::tempdir().context("creating a temporary directory")?;
            let options = crate::bench::tui::TuiBenchOptions::default();
            let result = crate::bench::tui::run(&options, dir.path())?;
            println!(
                "{}",
                crate::text::json_safe(&serde_json::to_string_pretty(&result)?)
            );
            Ok(())
        }
        BenchCommand::Distill { calls } => bench_distill(calls),
        BenchCommand::Grade { grades } => {
            bench_grade(grades);
            Ok(())
        }
    }
}

fn gpu_check(args: GpuCheckArgs, threads: usize, paths: &Paths) -> Result<()> {
    use crate::bench::gpu_check;
    let limit = match args.limit {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            anyhow::bail!("--limit {s}: expected a positive number of seconds")
        }
        Some(s) => Some(std::time::Duration::from_secs_f64(s)),
        None => None,
    };
    let options = gpu_check::GpuCheckOptions {
        out: args.out.clone(),
        quick: args.quick,
        python: args.torch.then(|| {
            args.python
                .unwrap_or_else(|| torch::default_python(&paths.cache_dir))
        }),
        limit,
        peak_tflops: args.peak_tflops,
        threads: if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        },
        cache_dir: paths.cache_dir.clone(),
    };
    let report = gpu_check::run(&options)?;
    say_raw!("{}", gpu_check::report::markdown(&report));
    if !report.all_good() {
        anyhow::bail!(
            "gpu-check: not every section passed; see {}",
            args.out.join(gpu_check::report::MARKDOWN_FILE).display()
        );
    }
    Ok(())
}

fn bench_distill(calls: usize) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let rows = runtime.block_on(crate::teacher::bench::bench_teacher_calls(
        &[1, 16, 64],
        calls,
    ))?;
    say!("bench distill: {calls} calls per row against a local instant server");
    for row in &rows {
        say!(
            "  concurrency {:>3}: {:>9.0} calls/s ({} calls in {:.2} s)",
            row.concurrency,
            row.calls_per_s,
            row.calls,
            row.seconds
        );
    }
    Ok(())
}

fn bench_grade(grades: usize) {
    let result = crate::grade::bench::bench_grade(grades);
    say!(
        "bench grade: {} grades in {:.3} s on 1 thread: {:.0} grades/s ({} correct)",
        result.grades,
        result.seconds,
        result.grades_per_second,
        result.correct
    );
    say!(
        "  target >= 50,000 grades/s: {}",
        if result.grades_per_second >= 50_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn run(suite: Suite, args: ModelBenchArgs, threads: usize, paths: &Paths) -> Result<()> {
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
        warn!(
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

    say!(
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
        say!(
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
    say!();
    say_raw!("{}", table::render(&rows));
    let split = table::render_split(&rows);
    if !split.is_empty() {
        say!();
        say_raw!("{split}");
    }
    for line in table::mismatches(&rows) {
        say!("WARNING: {line}");
    }
    if let Some(peak) = args.peak_tflops {
        let cfg = Config::from_file(&dir.join("config.json"))?;
        say!();
        say_raw!("{}", table::render_mfu(&rows, &cases, &cfg, peak));
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

fn bench_store(candidates: usize) -> Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    say!("bench store: inserting {candidates} candidates into a fresh workspace database");
    let result = crate::bench::store::run(candidates, dir.path())?;
    say!(
        "  insert:                 {:>9.2} s ({:.0} candidates/s)",
        result.insert_s,
        result.inserts_per_s
    );
    say!(
        "  open + first page:      {:>9.2} ms median of 5, {:.2} ms max ({} rows, status=pending, by score)",
        result.open_first_page_ms,
        result.open_first_page_max_ms,
        result.page_rows
    );
    say!("  database size:          {:>9.1} MiB", result.db_mib);
    say!(
        "  target: open + first page < 200 ms at 100k candidates: {}",
        if result.open_first_page_max_ms < 200.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
