//! The command line: the global flags and the dispatch to each subcommand's module,
//! where its arguments sit beside its handler. Each command's work lives in its domain
//! module; the handlers only connect flags to functions and print.

/// `println!` for human-readable output: the line goes through [`crate::text::sanitize`],
/// since run names, dataset names, file contents and model text end up in it and an
/// escape sequence in any of them must not reach the terminal. `--json` output goes
/// through [`crate::text::json_safe`] instead, so it stays exact JSON.
macro_rules! say {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::text::sanitize(&format!($($arg)*))) };
}

/// `print!` through the sanitiser (see [`say!`]).
macro_rules! say_raw {
    ($($arg:tt)*) => { print!("{}", $crate::text::sanitize(&format!($($arg)*))) };
}

/// `eprintln!` through the sanitiser (see [`say!`]).
macro_rules! warn {
    ($($arg:tt)*) => { eprintln!("{}", $crate::text::sanitize(&format!($($arg)*))) };
}

mod bench;
mod dataset;
mod demo;
mod distill;
mod doctor;
mod eval;
mod generate;
mod grade;
mod model;
mod report;
mod runs;
mod serve;
mod train;
mod workspace;

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

    /// Progress of long commands: a bar on a terminal, plain one-line records in logs
    /// (every 10 s and at each stage; `PLANTUNE_PROGRESS_INTERVAL_MS` changes the pace).
    #[arg(long, global = true, value_enum, default_value_t = crate::progress::Mode::Auto)]
    pub progress: crate::progress::Mode,

    /// No progress output (same as `--progress none`).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: plantune.toml, prompt templates and the SQLite store.
    Init(workspace::InitArgs),
    /// The whole pipeline on the embedded default (the `demo` workspace): synthetic
    /// problems, the oracle teacher's trajectories, grading and auto-curation, then the
    /// stages that exist so far. Re-running resumes.
    Demo(demo::DemoArgs),
    /// Re-grade predictions made elsewhere: JSONL with `prediction` and `answer`
    /// fields, or the authors' predictions.json list.
    Grade(grade::GradeArgs),
    /// Import a dataset file (JSONL, JSON or Parquet) as problems, in one transaction:
    /// a bad row aborts the import with file:line: field: what is wrong.
    Import(workspace::ImportArgs),
    /// Print what a workspace holds: problems, candidates, datasets, runs, predictions.
    Status(workspace::StatusArgs),
    /// Print every path plantune-tui uses and check the environment.
    Doctor,
    /// Build a training dataset from the store (frozen by content hash, exported for TRL).
    Dataset {
        #[command(subcommand)]
        what: dataset::DatasetCommand,
    },
    /// Train a student. The run is a detached process (it survives closing the terminal
    /// or the SSH connection) unless --foreground.
    Train {
        #[command(subcommand)]
        what: train::TrainCommand,
    },
    /// Distill planning trajectories from the configured teacher (an OpenAI-compatible
    /// server): constraints, N plans, judge scores, executions, grading. Resumable:
    /// every teacher call is cached, a rerun finishes what is missing.
    Distill(distill::DistillArgs),
    /// Model files: import a GGUF into Hugging Face layout, export one as GGUF.
    Model {
        #[command(subcommand)]
        what: model::ModelCommand,
    },
    /// Quick check of any model: chat template applied, the reply printed.
    Generate(generate::GenerateArgs),
    /// Serve a model over an OpenAI-compatible HTTP API (POST /v1/chat/completions,
    /// GET /v1/models) until Ctrl-C or SIGTERM. The first line on stdout is the base URL.
    Serve(serve::ServeArgs),
    /// Evaluate a model on a benchmark in one inference mode; every prediction is
    /// stored, a killed evaluation resumes where it stopped.
    Eval(eval::EvalArgs),
    /// Manage training runs: list, follow events, stop.
    Runs {
        #[command(subcommand)]
        what: runs::RunsCommand,
    },
    /// Accuracy table with 95% Wilson intervals from stored predictions; with --compare,
    /// the paired table and exact McNemar p-value of two (model, mode) sets.
    Report(report::ReportArgs),
    /// Measure performance targets (figures printed, never asserted).
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
}

/// The global flags, resolved once for every handler.
pub(crate) struct Globals<'a> {
    pub workspace_dir: PathBuf,
    /// `--workspace` was given (rather than the default resolved).
    pub workspace_named: bool,
    pub paths: &'a Paths,
    pub threads: Option<usize>,
}

impl Globals<'_> {
    /// The workspace the command works on; it must exist.
    pub fn open(&self) -> Result<Workspace> {
        Ok(Workspace::open(&self.workspace_dir, self.paths)?)
    }
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    let paths = Paths::discover();
    run(cli, &paths)
}

pub fn run(cli: Cli, paths: &Paths) -> Result<()> {
    crate::progress::configure(if cli.quiet {
        crate::progress::Mode::None
    } else {
        cli.progress
    });
    if let Some(spec) = cli.device {
        crate::device::select(spec)?;
    }
    let globals = Globals {
        workspace_dir: resolve_workspace(cli.workspace.as_deref(), paths),
        workspace_named: cli.workspace.is_some(),
        paths,
        threads: cli.threads,
    };
    let Some(command) = cli.command else {
        return open_default(&globals.workspace_dir, paths);
    };
    match command {
        Command::Init(args) => workspace::init(args, paths),
        Command::Demo(args) => demo::run(args, &globals),
        Command::Grade(args) => grade::run(args),
        Command::Import(args) => workspace::import(args, &globals),
        Command::Status(args) => workspace::status(args, &globals),
        Command::Doctor => doctor::run(paths, &globals.workspace_dir, globals.threads),
        Command::Dataset { what } => dataset::run(what, &globals),
        Command::Train { what } => train::run(what, &globals),
        Command::Distill(args) => distill::run(&globals.open()?, args),
        Command::Model { what } => model::run(what, &globals.workspace_dir),
        Command::Generate(args) => generate::run(args, &globals),
        Command::Serve(args) => serve::run(&globals.workspace_dir, paths, args, globals.threads),
        Command::Eval(args) => eval::run(args, &globals),
        Command::Runs { what } => runs::run(what, &globals),
        Command::Report(args) => report::run(args, &globals),
        Command::Bench { what } => bench::dispatch(what, &globals),
    }
}

/// The error chain as one line, `outer: cause: cause`, sanitised (messages quote file
/// content and arguments). A cause whose text the message already ends with (an error
/// that prints its source and also returns it from `source()`, as OS errors often are)
/// is printed once.
pub fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.is_empty() {
            message = text;
        } else if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    crate::text::sanitize(&message).into_owned()
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
        say_raw!("{}", report.to_text());
        warn!("\n(no terminal: printed the workspace summary instead of opening the TUI)");
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
