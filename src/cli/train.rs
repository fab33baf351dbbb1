//! `plantune-tui train sft|grpo` (and the hidden `train worker`), and starting a run
//! for `runs resume`: flags to a run config, then `runs::create` and a detached worker,
//! or the worker in this process with a progress bar.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::{Globals, configure_threads};
use crate::jobs::install_stop_handler;
use crate::runlog::{RunEvent, Tailer};
use crate::runs::{self, GrpoRunConfig, Launcher, RunConfig, RunDir, SftRunConfig};
use crate::train::engine::{EngineName, EngineSection};
use crate::train::precision::Precision;
use crate::workspace::Workspace;

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

/// The flags both kinds of run take.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A run.toml (see `runs::SftRunConfig`, `runs::GrpoRunConfig`) or a preset; the
    /// flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Model directory (for GRPO usually an SFT run's `runs/<id>/final`), or `tiny`
    /// (the workspace's from-scratch student).
    #[arg(long)]
    model: Option<String>,
    /// baseline | plan1 | plan2 | a dataset hash (for GRPO, the problems that give the
    /// prompts).
    #[arg(long)]
    dataset: Option<String>,
    /// LoRA rank (0 = full fine-tuning).
    #[arg(long)]
    lora: Option<usize>,
    /// Optimiser steps (GRPO: rollout steps).
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long)]
    lr: Option<f64>,
    /// f32, or bf16 weights and activations with f32 master weights.
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Stay attached with a progress bar instead of detaching.
    #[arg(long)]
    foreground: bool,
    /// Train with TRL (the run's export bundle, run by `train_trl.py`) instead of here;
    /// the run is watched, stopped and resumed like any other.
    #[arg(long, value_enum)]
    engine: Option<EngineChoice>,
    /// The Python with torch, transformers, trl, datasets (default:
    /// $PLANTUNE_TRL_PYTHON, else python3).
    #[arg(long)]
    python: Option<String>,
    /// An extra argument for the engine's script (repeat for several), e.g.
    /// `--engine-arg=--cpu --engine-arg=--save-steps=1`.
    #[arg(long = "engine-arg", allow_hyphen_values = true)]
    engine_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineChoice {
    /// This crate's own trainer (the default).
    Ours,
    Trl,
}

impl RunArgs {
    /// The run's `[engine]` section for `--engine trl`, with the interpreter frozen.
    fn engine(&self) -> Option<EngineSection> {
        (self.engine == Some(EngineChoice::Trl)).then(|| EngineSection {
            name: EngineName::Trl,
            python: Some(runs::engine::trl::python(self.python.clone())),
            args: self.engine_args.clone(),
            stall: Default::default(),
        })
    }
}

/// `--engine trl` replaces the config's `[engine]`, but keeps its `[engine.stall]`.
fn with_engine(
    current: Option<EngineSection>,
    flag: Option<EngineSection>,
) -> Option<EngineSection> {
    match (current, flag) {
        (Some(old), Some(new)) => Some(EngineSection {
            stall: old.stall,
            ..new
        }),
        (old, new) => new.or(old),
    }
}

#[derive(Debug, clap::Args)]
pub struct SftArgs {
    #[command(flatten)]
    run: RunArgs,
    #[arg(long)]
    epochs: Option<u64>,
    #[arg(long)]
    batch: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct GrpoArgs {
    #[command(flatten)]
    run: RunArgs,
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
}

pub fn run(what: TrainCommand, globals: &Globals) -> Result<()> {
    let ws = globals.open()?;
    match what {
        TrainCommand::Sft(args) => sft(&ws, args, globals.threads),
        TrainCommand::Grpo(args) => grpo(&ws, args, globals.threads),
        TrainCommand::Worker { id } => worker(&ws, &id, globals.threads),
    }
}

/// A flag given on the command line overrides the config's value.
fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

fn sft(ws: &Workspace, args: SftArgs, threads: Option<usize>) -> Result<()> {
    let common = args.run;
    let engine = common.engine();
    let mut config = match &common.config {
        Some(path) => runs::read_config(path)?,
        None => SftRunConfig::default(),
    };
    set(&mut config.model, common.model);
    set(&mut config.dataset, common.dataset);
    set(&mut config.lora.rank, common.lora);
    set(&mut config.sft.max_steps, common.max_steps);
    set(&mut config.sft.epochs, args.epochs);
    set(&mut config.sft.lr, common.lr);
    set(&mut config.sft.batch_size, args.batch);
    set(&mut config.threads, threads);
    set(&mut config.precision, common.precision);
    config.engine = with_engine(config.engine.take(), engine);
    create_and_start(ws, RunConfig::Sft(config), common.foreground, threads)
}

fn grpo(ws: &Workspace, args: GrpoArgs, threads: Option<usize>) -> Result<()> {
    let common = args.run;
    let engine = common.engine();
    let mut config: GrpoRunConfig = match &common.config {
        Some(path) => runs::read_toml(path)?,
        None => GrpoRunConfig::default(),
    };
    set(&mut config.model, common.model);
    set(&mut config.dataset, common.dataset);
    set(&mut config.lora.rank, common.lora);
    let g = &mut config.grpo;
    set(&mut g.max_steps, common.max_steps);
    set(&mut g.lr, common.lr);
    set(&mut g.group_size, args.group);
    set(&mut g.prompts_per_step, args.prompts);
    set(&mut g.max_new_tokens, args.max_new_tokens);
    set(&mut g.objective.beta, args.beta);
    set(&mut config.threads, threads);
    set(&mut config.precision, common.precision);
    config.engine = with_engine(config.engine.take(), engine);
    create_and_start(ws, RunConfig::Grpo(config), common.foreground, threads)
}

fn create_and_start(
    ws: &Workspace,
    mut config: RunConfig,
    foreground: bool,
    threads: Option<usize>,
) -> Result<()> {
    config.prefer_selected_device();
    let id = runs::create(ws, &config)?;
    say!(
        "run {id} created in {}",
        RunDir::new(ws, id.as_str()).root().display()
    );
    start(ws, id.as_str(), foreground, threads)
}

/// Starts (or resumes: the worker picks up the newest checkpoint) a created run.
pub fn start(ws: &Workspace, id: &str, foreground: bool, threads: Option<usize>) -> Result<()> {
    if foreground {
        let progress = ProgressFromEvents::start(RunDir::new(ws, id).events());
        let result = worker(ws, id, threads);
        progress.finish();
        return result;
    }
    let pid = runs::launch(ws, id, &Launcher::default())?;
    say!(
        "run {id} started in the background (pid {pid}); follow it with \
         `plantune-tui runs tail {id} --follow`, stop it with `plantune-tui runs stop {id}`"
    );
    Ok(())
}

fn worker(ws: &Workspace, id: &str, threads: Option<usize>) -> Result<()> {
    // The name is checked before anything of the run is read.
    runs::RunId::existing(ws, id)?;
    let run_toml = RunDir::new(ws, id).config();
    if !run_toml.is_file() {
        return Err(runs::RunError::NoConfig { id: id.to_owned() }.into());
    }
    // `--device` (or the environment) wins; otherwise the device the run was created
    // on. Before the thread pool starts: selecting sets the environment.
    if crate::device::selected().is_none()
        && let Some(spec) = runs::configured_device(&run_toml)?
    {
        crate::device::select(spec)?;
    }
    let configured = runs::configured_threads(&run_toml)?;
    configure_threads(threads.unwrap_or(configured))?;
    // A file-size limit must fail the checkpoint write with a clear error (and keep the
    // previous checkpoint) rather than kill the worker mid-run with SIGXFSZ.
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let stop = install_stop_handler().context("installing the SIGTERM handler")?;
    let ending = runs::work(ws, id, stop)?;
    say!("run {id}: {ending:?}");
    Ok(())
}

/// A progress bar for `--foreground`, fed by the run's own events file, so the bar shows
/// exactly what any other viewer of the run sees.
struct ProgressFromEvents {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressFromEvents {
    fn start(path: PathBuf) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let progress = crate::progress::Progress::new("train", "steps", None);
            progress.stage("starting");
            let mut tailer = Tailer::new(&path);
            loop {
                let finished = flag.load(Ordering::Relaxed);
                for event in tailer.poll().unwrap_or_default() {
                    if let RunEvent::Step {
                        step,
                        total_steps,
                        loss,
                        tokens_per_s,
                        ..
                    } = event.event
                    {
                        if let Some(total) = total_steps {
                            progress.set_total(total);
                        }
                        progress.stage("training");
                        progress.set_done(step);
                        progress.set_message(format!("loss {loss:.4}  {tokens_per_s:.0} tok/s"));
                    }
                }
                if finished {
                    progress.finish();
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        Self {
            done,
            thread: Some(thread),
        }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
