//! `plantune-tui runs list|tail|stop|resume`: manage training runs from a shell.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::Globals;
use crate::runlog::render::event_line;
use crate::runlog::{RunEvent, Tailer};
use crate::runs::{self, Liveness, RunDir, RunId};
use crate::workspace::Workspace;

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

pub fn run(what: RunsCommand, globals: &Globals) -> Result<()> {
    let ws = globals.open()?;
    match what {
        RunsCommand::List => list(&ws),
        RunsCommand::Tail { id, follow } => tail(&ws, &id, follow),
        RunsCommand::Stop { id } => stop(&ws, &id),
        RunsCommand::Resume { id, foreground } => {
            runs::check_resumable(&ws, &id)?;
            super::train::start(&ws, &id, foreground, globals.threads)
        }
    }
}

fn list(ws: &Workspace) -> Result<()> {
    let records = ws.store()?.runs()?;
    if records.is_empty() {
        say!("no runs in {}", ws.root.display());
        return Ok(());
    }
    say!("{:<32} {:<9} {:<24} {:>8}", "run", "kind", "status", "pid");
    for run in records {
        let status = runs::list_label(&RunDir::new(ws, &run.id), &run.status);
        let pid = run.pid.map(|p| p.to_string()).unwrap_or_default();
        say!("{:<32} {:<9} {:<24} {:>8}", run.id, run.kind, status, pid);
    }
    Ok(())
}

fn tail(ws: &Workspace, id: &str, follow: bool) -> Result<()> {
    let id = RunId::existing(ws, id)?;
    let dir = RunDir::new(ws, id.as_str());
    if !dir.config().is_file() && !dir.events().is_file() {
        bail!("run {id} has neither run.toml nor events.jsonl: nothing to tail");
    }
    let path = dir.events();
    let mut tailer = Tailer::new(&path);
    loop {
        let events = tailer
            .poll()
            .with_context(|| format!("reading {}", path.display()))?;
        let finished = events
            .iter()
            .any(|e| matches!(e.event, RunEvent::RunFinished { .. }));
        for event in &events {
            say!("{}", event_line(event));
        }
        if !follow || finished {
            break;
        }
        if events.is_empty() {
            if !matches!(dir.liveness()?, Liveness::Alive { .. }) && tailer.poll()?.is_empty() {
                say!("(the run is no longer alive and wrote no run_finished event)");
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    if tailer.has_torn_tail() {
        say!("(the last line is incomplete: the run is writing it, or died mid-write)");
    }
    if tailer.malformed() > 0 {
        say!("({} malformed lines skipped)", tailer.malformed());
    }
    Ok(())
}

fn stop(ws: &Workspace, id: &str) -> Result<()> {
    let pid = runs::stop(ws, id)?;
    say!("sent SIGTERM to run {id} (pid {pid}); it checkpoints and ends with status stopped");
    Ok(())
}
