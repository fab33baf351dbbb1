//! `plantune-tui demo`. Headless, every stage runs in this process and the comparison
//! is printed. Interactive, the workspace is built here, the training and evaluation
//! pipeline starts as a detached process (it outlives the TUI and the SSH session),
//! and the TUI opens on the Runs screen to watch it.

use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{pin_threads, print_build};
use crate::config::Paths;
use crate::demo::pipeline::{self, DemoBudget};
use crate::eval::report::{Format, render_accuracy, render_paired};
use crate::jobs::{Liveness, liveness, spawn_detached};
use crate::workspace::Workspace;

pub struct DemoArgs {
    pub headless: bool,
    pub budget: DemoBudget,
    pub threads: Option<usize>,
}

pub fn run(workspace_dir: &Path, paths: &Paths, args: &DemoArgs) -> Result<()> {
    let ws = Workspace::init(workspace_dir, paths)?;
    let interactive =
        !args.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if interactive {
        interactive_demo(ws, paths, args)
    } else {
        headless(&ws, args)
    }
}

fn headless(ws: &Workspace, args: &DemoArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let threads = args.threads.unwrap_or(ws.config.ui.threads);
    // One single-threaded job per core: see demo::parallel for why.
    let workers = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    pin_threads(1)?;
    println!("demo workspace: {}", ws.root.display());
    let build = crate::demo::build::build_workspace(ws)?;
    print_build(&build);
    let results =
        pipeline::train_evaluate_compare(ws, &args.budget, workers, |line| println!("{line}"))?;
    println!();
    print!("{}", render_accuracy(&results.accuracy, Format::Table));
    for table in &results.paired {
        println!();
        print!("{}", render_paired(table, Format::Table));
    }
    println!("\n{}", pipeline::render_ood_by_steps(&results.ood_by_steps));
    println!("stage timings");
    for t in build.timings.iter().chain(&results.timings) {
        println!("  {:<58} {:>8.1} s", t.stage, t.seconds);
    }
    println!(
        "  {:<58} {:>8.1} s",
        "total",
        started.elapsed().as_secs_f64()
    );
    println!("report: {}", results.report_path);
    Ok(())
}

fn interactive_demo(ws: Workspace, paths: &Paths, args: &DemoArgs) -> Result<()> {
    print_build(&crate::demo::build::build_workspace(&ws)?);
    let dir = pipeline::pipeline_dir(&ws);
    let pid = match liveness(&dir)? {
        Liveness::Alive { pid } => pid.map(|p| p as u32),
        _ => {
            let mut command = Command::new(std::env::current_exe()?);
            command.arg("--workspace").arg(&ws.root);
            if let Some(threads) = args.threads {
                command.arg("--threads").arg(threads.to_string());
            }
            let budget = &args.budget;
            command
                .args(["demo", "--headless", "--steps"])
                .arg(budget.sft_steps.to_string())
                .arg("--grpo-steps")
                .arg(budget.grpo_steps.to_string())
                .arg("--max-new-tokens")
                .arg(budget.max_new_tokens.to_string());
            if let Some(limit) = budget.eval_limit {
                command.arg("--eval-limit").arg(limit.to_string());
            }
            Some(spawn_detached(&mut command, &dir)?)
        }
    };
    let log = dir.join("stdout.log");
    crate::tui::run_opening(ws, paths, Some(crate::tui::Action::ShowRuns))?;
    match pid {
        Some(pid) => println!(
            "the demo pipeline goes on in the background (pid {pid}); its progress: {}",
            log.display()
        ),
        None => println!(
            "the demo pipeline is running; its progress: {}",
            log.display()
        ),
    }
    Ok(())
}
