//! The command line: argument parsing and dispatch into the library. Each command's
//! work lives in its domain module; this file only connects flags to functions.

mod bench;
mod demo;
mod distill;
mod doctor;
mod eval;
mod generate;
mod runs;
mod serve;
mod train;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Paths;
use crate::config::paths::resolve_workspace;
use crate::workspace::{Workspace, status};

#[derive(Debug, Parser)]
#[command(
    name = "plantune-tui",
    version,
    about = "A terminal workbench for PLAN-TUNING small language models",
    long_about = "A terminal workbench for PLAN-TUNING small language models: distill planning \
trajectories from a teacher, curate them by keyboard, post-train a small student on them \
(SFT, then GRPO), watch runs live, and compare plan-tuned and baseline students.\n\n\
With no command it opens the workspace (default: ./workspaces/demo when run from the \
repository, else the per-user data directory; see `plantune-tui doctor`)."
)]
pub struct Cli {
    /// Workspace folder to use.
    #[arg(long, short = 'w', global = true, env = "PLANTUNE_WORKSPACE")]
    pub workspace: Option<PathBuf>,

    /// Worker threads for model maths (default: the workspace's ui.threads, 0 = all
    /// cores). Pin it on shared machines.
    #[arg(long, global = true)]
    pub threads: Option<usize>,

    /// Device for training, evaluation and generation: cpu, cuda or cuda:N (CUDA needs
    /// a build with `--features cuda`). Train workers inherit it.
    #[arg(long, global = true, env = crate::device::DEVICE_ENV, value_name = "DEVICE")]
    pub device: Option<crate::device::DeviceSpec>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: plantune.toml, prompt templates and the SQLite store.
    Init {
        /// Folder to create (existing files in it are kept).
        dir: PathBuf,
        /// Also fill it with the demo's synthetic problems and the oracle teacher's
        /// graded, auto-curated trajectories.
        #[arg(long)]
        demo: bool,
    },
    /// The whole pipeline on the embedded default (the `demo` workspace): synthetic
    /// problems, the oracle teacher's trajectories, grading and auto-curation, then the
    /// stages that exist so far. Re-running resumes.
    Demo {
        /// Print progress and the results instead of opening the TUI.
        #[arg(long)]
        headless: bool,
        /// SFT steps per student (the demo's main time knob).
        #[arg(long, default_value_t = crate::demo::pipeline::DemoBudget::default().sft_steps)]
        steps: u64,
        /// GRPO steps on the plan-tuned student.
        #[arg(long, default_value_t = crate::demo::pipeline::DemoBudget::default().grpo_steps)]
        grpo_steps: u64,
        /// Longest generation, in GRPO rollouts and in evaluation.
        #[arg(long, default_value_t = crate::demo::pipeline::DemoBudget::default().max_new_tokens)]
        max_new_tokens: usize,
        /// Evaluate on at most this many problems per test split.
        #[arg(long)]
        eval_limit: Option<usize>,
    },
    /// Re-grade predictions made elsewhere: JSONL with `prediction` and `answer`
    /// fields, or the authors' predictions.json list.
    Grade {
        file: PathBuf,
        /// One line per item with the verdict and the grader's reason.
        #[arg(long, conflicts_with = "json")]
        verbose: bool,
        /// One JSON object per item (id, correct, extracted, rule, reason).
        #[arg(long)]
        json: bool,
    },
    /// Import a dataset file (JSONL, JSON or Parquet) as problems, in one transaction:
    /// a bad row aborts the import with file:line: field: what is wrong.
    Import {
        file: PathBuf,
        #[arg(long, value_enum)]
        format: crate::data::DatasetFormat,
        #[arg(long)]
        split: String,
    },
    /// Print what a workspace holds: problems, candidates, datasets, runs, predictions.
    Status {
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print every path plantune-tui uses and check the environment.
    Doctor,
    /// Build a training dataset from the store (frozen by content hash, exported for TRL).
    Dataset {
        #[command(subcommand)]
        what: DatasetCommand,
    },
    /// Train a student. The run is a detached process (it survives closing the terminal
    /// or the SSH connection) unless --foreground.
    Train {
        #[command(subcommand)]
        what: TrainCommand,
    },
    /// Distill planning trajectories from the configured teacher (an OpenAI-compatible
    /// server): constraints, N plans, judge scores, executions, grading. Resumable:
    /// every teacher call is cached, a rerun finishes what is missing.
    Distill(DistillArgs),
    /// Model files: import a GGUF into Hugging Face layout.
    Model {
        #[command(subcommand)]
        what: ModelCommand,
    },
    /// Quick check of any model: chat template applied, the reply printed.
    Generate {
        /// Model directory (Hugging Face layout).
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value_t = 128)]
        max_new_tokens: usize,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        prompt: String,
    },
    /// Serve a model over an OpenAI-compatible HTTP API (POST /v1/chat/completions,
    /// GET /v1/models) until Ctrl-C or SIGTERM. The first line on stdout is the base URL.
    Serve(ServeArgs),
    /// Evaluate a model on a benchmark in one inference mode; every prediction is
    /// stored, a killed evaluation resumes where it stopped.
    Eval(EvalArgs),
    /// Manage training runs: list, follow events, stop.
    Runs {
        #[command(subcommand)]
        what: RunsCommand,
    },
    /// Accuracy table with 95% Wilson intervals from stored predictions; with --compare,
    /// the paired table and exact McNemar p-value of two (model, mode) sets.
    Report {
        #[arg(long, value_enum, default_value = "table")]
        format: crate::eval::report::Format,
        /// Two prediction sets to compare, each as MODEL:BENCHMARK:MODE.
        #[arg(long, num_args = 2, value_names = ["A", "B"])]
        compare: Option<Vec<String>>,
    },
    /// Measure performance targets (figures printed, never asserted).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// baseline: question → gold solution; plan1: question → plan + execution (accepted
    /// candidates); plan2: question → plan and question + plan → execution.
    Build {
        #[arg(long, value_enum)]
        kind: crate::train::dataset::DatasetKind,
        /// Split to draw problems from.
        #[arg(long, default_value = "train")]
        split: String,
        /// Only this dataset (e.g. gsm8k, synth); default: every dataset in the split.
        #[arg(long)]
        dataset: Option<String>,
    },
    /// List built datasets.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Every run with its real state (a run that died is shown as such).
    List,
    /// Print a run's events; --follow keeps printing until it finishes.
    Tail {
        id: String,
        #[arg(long, short)]
        follow: bool,
    },
    /// Ask a run to stop: it finishes its step, checkpoints and ends `stopped`.
    Stop { id: String },
    /// Continue a stopped or died run from its newest checkpoint (bit-exact on CPU).
    Resume {
        id: String,
        #[arg(long)]
        foreground: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning (completion-only loss) on a built dataset.
    Sft(SftArgs),
    /// GRPO (reinforcement learning on answer correctness, format and plan quality)
    /// starting from a model, usually an SFT run's `runs/<id>/final`.
    Grpo(GrpoArgs),
    /// The run process itself (started by `train sft`; not for direct use).
    #[command(hide = true)]
    Worker { id: String },
}

#[derive(Debug, clap::Args)]
pub struct GrpoArgs {
    /// A run.toml (see `train::grpo::run::GrpoRunConfig`); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Starting model directory (e.g. runs/<sft id>/final), or `tiny`.
    #[arg(long)]
    model: Option<String>,
    /// Dataset whose problems give the prompts: plan1 | baseline | a dataset hash.
    #[arg(long)]
    dataset: Option<String>,
    /// LoRA rank (0 = full fine-tuning).
    #[arg(long)]
    lora: Option<usize>,
    /// Rollout steps.
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long)]
    lr: Option<f64>,
    /// Completions per prompt (G).
    #[arg(long)]
    group: Option<usize>,
    /// Prompts per rollout step.
    #[arg(long)]
    prompts: Option<usize>,
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// KL weight to the reference model (0 = no reference).
    #[arg(long)]
    beta: Option<f64>,
    /// f32, or bf16 weights and activations with f32 master weights.
    #[arg(long, value_enum)]
    precision: Option<crate::train::precision::Precision>,
    /// Stay attached with a progress bar instead of detaching.
    #[arg(long)]
    foreground: bool,
}

#[derive(Debug, clap::Args)]
pub struct SftArgs {
    /// A run.toml (see `train::run::SftRunConfig`); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Model directory, or `tiny` (the workspace's from-scratch student).
    #[arg(long)]
    model: Option<String>,
    /// baseline | plan1 | plan2 | a dataset hash.
    #[arg(long)]
    dataset: Option<String>,
    /// LoRA rank (0 = full fine-tuning).
    #[arg(long)]
    lora: Option<usize>,
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long)]
    epochs: Option<u64>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    batch: Option<usize>,
    /// f32, or bf16 weights and activations with f32 master weights.
    #[arg(long, value_enum)]
    precision: Option<crate::train::precision::Precision>,
    /// Stay attached and print progress instead of detaching.
    #[arg(long)]
    foreground: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Model directory (Hugging Face layout), relative to the workspace or absolute.
    #[arg(long)]
    model: PathBuf,
    /// Name to store predictions under (default: the model folder's name).
    #[arg(long)]
    name: Option<String>,
    /// DATASET/SPLIT, e.g. synth/test_id, gsm8k/test.
    #[arg(long)]
    benchmark: String,
    #[arg(long, value_enum)]
    mode: crate::eval::runner::Mode,
    #[arg(long)]
    limit: Option<usize>,
    /// Samples per problem; k > 1 adds a majority-vote (maj@k) row.
    #[arg(long, default_value_t = 1)]
    k: usize,
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Model directory (Hugging Face layout), a LoRA adapter folder, or a run (its
    /// folder or id: serves its `final/` model); relative to the workspace or absolute.
    model: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 picks a free port (read the address from the first line of stdout).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Model name listed by /v1/models (default: the folder's or run's name).
    #[arg(long)]
    name: Option<String>,
    /// Completion tokens for requests that set no max_tokens.
    #[arg(long, default_value_t = 1024)]
    max_tokens: usize,
    /// Requests that may wait for the model; more are refused with 503.
    #[arg(long, default_value_t = 64)]
    queue: usize,
}

#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    #[arg(long)]
    split: Option<String>,
    #[arg(long)]
    dataset: Option<String>,
    /// At most this many problems.
    #[arg(long)]
    limit: Option<usize>,
    /// Plans per problem (the paper's N).
    #[arg(long)]
    n: Option<u32>,
    #[arg(long)]
    concurrency: Option<usize>,
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long)]
    model: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    #[arg(long)]
    api_key_env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Dequantise a GGUF file into a Hugging Face model directory (safetensors,
    /// config.json, tokenizer.json from the GGUF's own vocabulary, chat template).
    Import {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

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
        #[arg(long, value_enum, default_value_t = crate::train::precision::Precision::F32)]
        precision: crate::train::precision::Precision,
    },
    /// The TUI with 100,000 candidates and a 1,000,000-line events file: first frame,
    /// frame times while scrolling, RSS.
    Tui,
    /// Grades per second over a mixed corpus (GSM8K, MATH, symbolic, traps), one thread.
    Grade {
        #[arg(long, default_value_t = crate::grade::bench::DEFAULT_BENCH_GRADES)]
        grades: usize,
    },
    /// Forward+backward tokens/s (4 x 256, full and LoRA r8) and generation tokens/s
    /// (batch 1 and 8, 128 new tokens) on a real model (f32, CPU); --torch puts
    /// PyTorch + transformers beside them.
    Model(bench::ModelBenchArgs),
    /// SFT step tokens/s (4 x 256, full and LoRA r8; forward, backward, clipping, AdamW)
    /// and peak RSS; --torch puts PyTorch + transformers beside them.
    Train(bench::ModelBenchArgs),
    /// Batched greedy generation tokens/s at batch 1, 8 and 32 (128 new tokens);
    /// --torch puts transformers' `generate` beside them.
    Generate(bench::ModelBenchArgs),
    /// Completion tokens/s of whole GRPO steps at fixed shapes (8 sampled completions
    /// of 256 tokens to a 64-token prompt, reference log-probabilities, the clipped
    /// objective with KL, backward, AdamW); --torch runs the same step in PyTorch.
    GrpoStep(bench::ModelBenchArgs),
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    let paths = Paths::discover();
    run(cli, &paths)
}

pub fn run(cli: Cli, paths: &Paths) -> Result<()> {
    if let Some(spec) = cli.device {
        crate::device::select(spec)?;
    }
    let workspace_dir = resolve_workspace(cli.workspace.as_deref(), paths);
    match cli.command {
        None => open_default(&workspace_dir, paths),
        Some(Command::Init { dir, demo }) => {
            let ws = Workspace::init(&dir, paths)?;
            println!("initialised workspace {} at {}", ws.name(), dir.display());
            if demo {
                print_build(&crate::demo::build::build_workspace(&ws)?);
            }
            Ok(())
        }
        Some(Command::Demo {
            headless,
            steps,
            grpo_steps,
            max_new_tokens,
            eval_limit,
        }) => demo::run(
            &workspace_dir,
            paths,
            &demo::DemoArgs {
                headless,
                budget: crate::demo::pipeline::DemoBudget {
                    sft_steps: steps,
                    grpo_steps,
                    max_new_tokens,
                    eval_limit,
                    ..Default::default()
                },
                threads: cli.threads,
            },
        ),
        Some(Command::Grade {
            file,
            verbose,
            json,
        }) => {
            use crate::grade::file::{OutputMode, grade_file};
            let mode = if json {
                OutputMode::Json
            } else if verbose {
                OutputMode::Verbose
            } else {
                OutputMode::Summary
            };
            let mut stdout = std::io::stdout().lock();
            let summary = grade_file(&file, mode, &mut stdout)?;
            if json {
                eprintln!("{summary}");
            }
            Ok(())
        }
        Some(Command::Status { json }) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            let report = status::collect(ws.name(), &ws.store()?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
        Some(Command::Import {
            file,
            format,
            split,
        }) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            let report = crate::workspace::import::import_file(&ws, &file, format, &split)?;
            println!(
                "{}: read {} problems ({} {}), {} new, {} already present",
                report.file.display(),
                report.read,
                report.format,
                report.split,
                report.inserted,
                report.unchanged
            );
            Ok(())
        }
        Some(Command::Doctor) => doctor::run(paths, &workspace_dir, cli.threads),
        Some(Command::Dataset { what }) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            match what {
                DatasetCommand::Build {
                    kind,
                    split,
                    dataset,
                } => {
                    let source = crate::train::dataset::DatasetSource { dataset, split };
                    let built = crate::train::dataset::build(&ws, kind, &source)?;
                    println!(
                        "built {} dataset: {} examples, hash {}\n  examples: {}\n  TRL export: {}",
                        built.kind,
                        built.examples,
                        built.content_hash,
                        ws.root.join(&built.path).display(),
                        ws.root.join(&built.export).display()
                    );
                }
                DatasetCommand::List => {
                    for d in ws.store()?.datasets()? {
                        println!(
                            "{:<10} {:<24} {:>7} examples  {}",
                            d.kind, d.name, d.n_examples, d.content_hash
                        );
                    }
                }
            }
            Ok(())
        }
        Some(Command::Runs { what }) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            match what {
                RunsCommand::List => runs::list(&ws),
                RunsCommand::Tail { id, follow } => runs::tail(&ws, &id, follow),
                RunsCommand::Stop { id } => runs::stop(&ws, &id),
                RunsCommand::Resume { id, foreground } => {
                    train::start(&ws, &id, foreground, cli.threads)
                }
            }
        }
        Some(Command::Train { what }) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            match what {
                TrainCommand::Sft(args) => train::sft(&ws, args, cli.threads),
                TrainCommand::Grpo(args) => train::grpo(&ws, args, cli.threads),
                TrainCommand::Worker { id } => train::worker(&ws, &id, cli.threads),
            }
        }
        Some(Command::Eval(args)) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            configure_threads(cli.threads.unwrap_or(ws.config.ui.threads))?;
            eval::run(&ws, args)
        }
        Some(Command::Serve(args)) => serve::run(&workspace_dir, paths, args, cli.threads),
        Some(Command::Distill(args)) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            distill::run(&ws, args)
        }
        Some(Command::Model { what }) => match what {
            ModelCommand::Import { file, out } => {
                let summary =
                    crate::model::gguf::import_gguf(&file, &out, candle_core::DType::F32)?;
                println!(
                    "imported {} ({}, {} tensors, {} parameters) to {}",
                    file.display(),
                    summary.architecture,
                    summary.tensors,
                    summary.parameters,
                    summary.out_dir.display()
                );
                Ok(())
            }
        },
        Some(Command::Generate {
            model,
            max_new_tokens,
            temperature,
            seed,
            prompt,
        }) => {
            configure_threads(cli.threads.unwrap_or(0))?;
            generate::run(&model, &prompt, max_new_tokens, temperature, seed)
        }
        Some(Command::Report { format, compare }) => {
            let ws = Workspace::open(&workspace_dir, paths)?;
            let store = ws.store()?;
            match compare {
                Some(pair) => {
                    let parse = |text: &str| -> Result<crate::workspace::store::PredictionKey> {
                        let mut parts = text.splitn(3, ':');
                        match (parts.next(), parts.next(), parts.next()) {
                            (Some(model), Some(benchmark), Some(mode)) => {
                                Ok(crate::workspace::store::PredictionKey {
                                    model: model.into(),
                                    benchmark: benchmark.into(),
                                    mode: mode.into(),
                                })
                            }
                            _ => anyhow::bail!("{text:?}: expected MODEL:BENCHMARK:MODE"),
                        }
                    };
                    let (a, b) = (parse(&pair[0])?, parse(&pair[1])?);
                    let table = crate::eval::report::paired(&store, &a, &b)?;
                    print!("{}", crate::eval::report::render_paired(&table, format));
                }
                None => {
                    let rows = crate::eval::report::accuracy_table(&store)?;
                    print!("{}", crate::eval::report::render_accuracy(&rows, format));
                }
            }
            Ok(())
        }
        Some(Command::Bench { what }) => {
            let threads = cli.threads.unwrap_or(1);
            pin_threads(threads)?;
            match what {
                BenchCommand::Model(args) => {
                    bench::run(crate::bench::cases::Suite::Model, args, threads, paths)
                }
                BenchCommand::Train(args) => {
                    bench::run(crate::bench::cases::Suite::Train, args, threads, paths)
                }
                BenchCommand::Generate(args) => {
                    bench::run(crate::bench::cases::Suite::Generate, args, threads, paths)
                }
                BenchCommand::GrpoStep(args) => {
                    bench::run(crate::bench::cases::Suite::GrpoStep, args, threads, paths)
                }
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
                    print!("{}", crate::bench::grpo::render(&options, &result));
                    Ok(())
                }
                BenchCommand::Tui => {
                    let dir = tempfile::tempdir().context("creating a temporary directory")?;
                    let options = crate::tui::bench::TuiBenchOptions::default();
                    let result = crate::tui::bench::run(&options, dir.path())?;
                    println!("{}", serde_json::to_string_pretty(&result)?);
                    Ok(())
                }
                BenchCommand::Distill { calls } => {
                    let runtime = tokio::runtime::Runtime::new()?;
                    let rows = runtime.block_on(crate::teacher::bench::bench_teacher_calls(
                        &[1, 16, 64],
                        calls,
                    ))?;
                    println!("bench distill: {calls} calls per row against a local instant server");
                    for row in &rows {
                        println!(
                            "  concurrency {:>3}: {:>9.0} calls/s ({} calls in {:.2} s)",
                            row.concurrency, row.calls_per_s, row.calls, row.seconds
                        );
                    }
                    Ok(())
                }
                BenchCommand::Grade { grades } => {
                    let result = crate::grade::bench::bench_grade(grades);
                    println!(
                        "bench grade: {} grades in {:.3} s on 1 thread: {:.0} grades/s ({} correct)",
                        result.grades, result.seconds, result.grades_per_second, result.correct
                    );
                    println!(
                        "  target >= 50,000 grades/s: {}",
                        if result.grades_per_second >= 50_000.0 {
                            "met"
                        } else {
                            "NOT met"
                        }
                    );
                    Ok(())
                }
            }
        }
    }
}

/// The TUI on a workspace. Without a terminal (scripts, CI, `ssh host cmd`) it prints
/// the workspace summary instead, since there is nothing to draw on.
fn open_default(dir: &Path, paths: &Paths) -> Result<()> {
    use std::io::IsTerminal;
    let ws = if dir.join("plantune.toml").is_file() {
        Workspace::open(dir, paths)?
    } else {
        Workspace::init(dir, paths)?
    };
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        let report = status::collect(ws.name(), &ws.store()?)?;
        print!("{}", report.to_text());
        eprintln!("\n(no terminal: printed the workspace summary instead of opening the TUI)");
        return Ok(());
    }
    crate::tui::run(ws, paths)
}

/// Sizes rayon's global pool (used by candle on CPU). Must run before any model maths.
pub fn configure_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Ok(());
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("setting the worker thread count")
}

/// candle's CPU matmul sizes its parallelism from `RAYON_NUM_THREADS`, not from
/// rayon's pool: with the variable unset it splits work for every core even when the
/// pool has one thread. Pinning both keeps `--threads` the real thread count.
pub fn pin_threads(threads: usize) -> Result<()> {
    if threads > 0 && std::env::var("RAYON_NUM_THREADS").ok() != Some(threads.to_string()) {
        // SAFETY: called from the command line dispatch before this process starts
        // any other thread, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
    configure_threads(threads)
}

pub(crate) fn print_build(build: &crate::demo::build::DemoBuild) {
    println!(
        "problems: {} new, {} already present",
        build.problems.inserted, build.problems.unchanged
    );
    println!(
        "oracle candidates: {} written ({} new), {} graded correct ({:.1}%)",
        build.candidates_total,
        build.candidates_new,
        build.candidates_correct,
        100.0 * build.candidates_correct as f64 / build.candidates_total.max(1) as f64
    );
    println!(
        "auto-curation (best-scored correct, score >= min_score): {} accepted, {} problems left \
         for review",
        build.curation.changed, build.curation.without_pick
    );
    for t in &build.timings {
        println!("  {:<28} {:>7.2} s", t.stage, t.seconds);
    }
}

fn bench_store(candidates: usize) -> Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    println!("bench store: inserting {candidates} candidates into a fresh workspace database");
    let result = crate::bench::store::run(candidates, dir.path())?;
    println!(
        "  insert:                 {:>9.2} s ({:.0} candidates/s)",
        result.insert_s, result.inserts_per_s
    );
    println!(
        "  open + first page:      {:>9.2} ms median of 5, {:.2} ms max ({} rows, status=pending, by score)",
        result.open_first_page_ms, result.open_first_page_max_ms, result.page_rows
    );
    println!("  database size:          {:>9.1} MiB", result.db_mib);
    println!(
        "  target: open + first page < 200 ms at 100k candidates: {}",
        if result.open_first_page_max_ms < 200.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
