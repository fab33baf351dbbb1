//! `plantune-tui runs list|tail|stop`: manage training runs from a shell.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::jobs::{Liveness, liveness, request_stop};
use crate::runlog::render::event_line;
use crate::runlog::{RunEvent, Tailer, read_all};
use crate::workspace::Workspace;

/// The state a person should see: the registry's status corrected by what the run
/// directory shows (a run that died without `run_finished` is not "running").
pub fn effective_status(ws: &Workspace, id: &str, recorded: &str) -> String {
    let dir = ws.runs_dir().join(id);
    let finished = read_all(&dir.join("events.jsonl")).ok().and_then(|log| {
        log.events.iter().rev().find_map(|e| match &e.event {
            RunEvent::RunFinished { status, .. } => Some(format!("{status:?}").to_lowercase()),
            _ => None,
        })
    });
    match (liveness(&dir), finished) {
        (Ok(Liveness::Alive { .. }), _) => "running".into(),
        (_, Some(status)) => status,
        (Ok(Liveness::Dead { .. }), None) => "died (no run_finished)".into(),
        _ => recorded.to_owned(),
    }
}

pub fn list(ws: &Workspace) -> Result<()> {
    let runs = ws.store()?.runs()?;
    if runs.is_empty() {
        println!("no runs in {}", ws.root.display());
        return Ok(());
    }
    println!("{:<32} {:<9} {:<24} {:>8}", "run", "kind", "status", "pid");
    for run in runs {
        let status = effective_status(ws, &run.id, &run.status);
        let pid = run.pid.map(|p| p.to_string()).unwrap_or_default();
        println!("{:<32} {:<9} {:<24} {:>8}", run.id, run.kind, status, pid);
    }
    Ok(())
}

pub fn tail(ws: &Workspace, id: &str, follow: bool) -> Result<()> {
    let dir = ws.runs_dir().join(id);
    if !dir.is_dir() {
        bail!("no run {id} in {}", ws.runs_dir().display());
    }
    let path = dir.join("events.jsonl");
    let mut tailer = Tailer::new(&path);
    loop {
        let events = tailer
            .poll()
            .with_context(|| format!("reading {}", path.display()))?;
        let finished = events
            .iter()
            .any(|e| matches!(e.event, RunEvent::RunFinished { .. }));
        for event in &events {
            println!("{}", event_line(event));
        }
        if !follow || finished {
            break;
        }
        if events.is_empty() {
            if !matches!(liveness(&dir)?, Liveness::Alive { .. }) && tailer.poll()?.is_empty() {
                println!("(the run is no longer alive and wrote no run_finished event)");
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    if tailer.has_torn_tail() {
        println!("(the last line is incomplete: the run is writing it, or died mid-write)");
    }
    if tailer.malformed() > 0 {
        println!("({} malformed lines skipped)", tailer.malformed());
    }
    Ok(())
}

pub fn stop(ws: &Workspace, id: &str) -> Result<()> {
    let pid = request_stop(&ws.runs_dir().join(id))?;
    println!("sent SIGTERM to run {id} (pid {pid}); it checkpoints and ends with status stopped");
    Ok(())
}
