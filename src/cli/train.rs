//! `plantune-tui train sft`, the hidden worker, and `runs resume`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::runlog::{RunEvent, Tailer};

use super::{GrpoArgs, SftArgs, configure_threads};
use crate::jobs::install_stop_handler;
use crate::train::grpo::run::GrpoRunConfig;
use crate::train::run::{self, SftRunConfig};
use crate::workspace::Workspace;

pub fn sft(ws: &Workspace, args: SftArgs, threads: Option<usize>) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => run::read_config(path)?,
        None => SftRunConfig::default(),
    };
    if let Some(model) = args.model {
        config.model = model;
    }
    if let Some(dataset) = args.dataset {
        config.dataset = dataset;
    }
    if let Some(rank) = args.lora {
        config.lora.rank = rank;
    }
    if let Some(steps) = args.max_steps {
        config.sft.max_steps = steps;
    }
    if let Some(epochs) = args.epochs {
        config.sft.epochs = epochs;
    }
    if let Some(lr) = args.lr {
        config.sft.lr = lr;
    }
    if let Some(batch) = args.batch {
        config.sft.batch_size = batch;
    }
    if let Some(threads) = threads {
        config.threads = threads;
    }
    if let Some(precision) = args.precision {
        config.precision = precision;
    }
    config.device = crate::device::selected().or(config.device);
    let id = run::create(ws, &config)?;
    println!("run {id} created in {}", ws.runs_dir().join(&id).display());
    start(ws, &id, args.foreground, threads)
}

pub fn grpo(ws: &Workspace, args: GrpoArgs, threads: Option<usize>) -> Result<()> {
    let mut config: GrpoRunConfig = match &args.config {
        Some(path) => run::read_toml(path)?,
        None => GrpoRunConfig::default(),
    };
    let g = &mut config.grpo;
    if let Some(model) = args.model {
        config.model = model;
    }
    if let Some(dataset) = args.dataset {
        config.dataset = dataset;
    }
    if let Some(rank) = args.lora {
        config.lora.rank = rank;
    }
    if let Some(steps) = args.max_steps {
        g.max_steps = steps;
    }
    if let Some(lr) = args.lr {
        g.lr = lr;
    }
    if let Some(group) = args.group {
        g.group_size = group;
    }
    if let Some(prompts) = args.prompts {
        g.prompts_per_step = prompts;
    }
    if let Some(tokens) = args.max_new_tokens {
        g.max_new_tokens = tokens;
    }
    if let Some(beta) = args.beta {
        g.objective.beta = beta;
    }
    if let Some(threads) = threads {
        config.threads = threads;
    }
    if let Some(precision) = args.precision {
        config.precision = precision;
    }
    config.device = crate::device::selected().or(config.device);
    let id = run::create_grpo(ws, &config)?;
    println!("run {id} created in {}", ws.runs_dir().join(&id).display());
    start(ws, &id, args.foreground, threads)
}

/// Starts (or resumes: the worker picks up the newest checkpoint) a created run.
pub fn start(ws: &Workspace, id: &str, foreground: bool, threads: Option<usize>) -> Result<()> {
    if foreground {
        let progress = ProgressFromEvents::start(ws.runs_dir().join(id).join("events.jsonl"));
        let result = worker(ws, id, threads);
        progress.finish();
        return result;
    }
    let pid = run::launch_detached(ws, id)?;
    println!(
        "run {id} started in the background (pid {pid}); follow it with \
         `plantune-tui runs tail {id} --follow`, stop it with `plantune-tui runs stop {id}`"
    );
    Ok(())
}

pub fn worker(ws: &Workspace, id: &str, threads: Option<usize>) -> Result<()> {
    let run_toml = ws.runs_dir().join(id).join("run.toml");
    // `--device` (or the environment) wins; otherwise the device the run was created
    // on. Before the thread pool starts: selecting sets the environment.
    if crate::device::selected().is_none()
        && let Some(spec) = run::configured_device(&run_toml)?
    {
        crate::device::select(spec)?;
    }
    let configured = run::configured_threads(&run_toml)?;
    configure_threads(threads.unwrap_or(configured))?;
    // A file-size limit must fail the checkpoint write with a clear error (and keep the
    // previous checkpoint) rather than kill the worker mid-run with SIGXFSZ.
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let stop = install_stop_handler().context("installing the SIGTERM handler")?;
    let ending = run::worker(ws, id, stop)?;
    println!("run {id}: {ending:?}");
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
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
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
                            bar.set_length(total);
                        }
                        bar.set_position(step);
                        bar.set_message(format!("loss {loss:.4}  {tokens_per_s:.0} tok/s"));
                    }
                }
                if finished {
                    bar.finish();
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
