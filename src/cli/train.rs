//! `plantune-tui train sft`, the hidden worker, and `runs resume`.

use anyhow::{Context, Result};

use super::{SftArgs, configure_threads};
use crate::jobs::install_stop_handler;
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
    let id = run::create(ws, &config)?;
    println!("run {id} created in {}", ws.runs_dir().join(&id).display());
    start(ws, &id, args.foreground, threads)
}

/// Starts (or resumes: the worker picks up the newest checkpoint) a created run.
pub fn start(ws: &Workspace, id: &str, foreground: bool, threads: Option<usize>) -> Result<()> {
    if foreground {
        return worker(ws, id, threads);
    }
    let pid = run::launch_detached(ws, id)?;
    println!(
        "run {id} started in the background (pid {pid}); follow it with \
         `plantune-tui runs tail {id} --follow`, stop it with `plantune-tui runs stop {id}`"
    );
    Ok(())
}

pub fn worker(ws: &Workspace, id: &str, threads: Option<usize>) -> Result<()> {
    let config = run::read_config(&ws.runs_dir().join(id).join("run.toml"))?;
    configure_threads(threads.unwrap_or(config.threads))?;
    let stop = install_stop_handler().context("installing the SIGTERM handler")?;
    let ending = run::worker(ws, id, stop)?;
    println!("run {id}: {ending:?}");
    Ok(())
}
