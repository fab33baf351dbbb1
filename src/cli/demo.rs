//! `plantune-tui demo`. Headless, every stage runs in this process and the comparison
//! is printed. Interactive, the workspace is built here, the training and evaluation
//! pipeline starts as a detached process (it outlives the TUI and the SSH session),
//! and the TUI opens on the Runs screen to watch it.

use std::io::IsTerminal;
use std::process::Command;

use anyhow::Result;

use super::{Globals, pin_threads};
use crate::config::Paths;
use crate::demo::build::DemoBuild;
use crate::demo::pipeline::{self, DemoBudget};
use crate::jobs::{Liveness, liveness, spawn_detached};
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print progress and the results instead of opening the TUI.
    #[arg(long)]
    headless: bool,
    /// SFT steps per student (the demo's main time knob).
    #[arg(long, default_value_t = DemoBudget::default().sft_steps)]
    steps: u64,
    /// GRPO steps on the plan-tuned student.
    #[arg(long, default_value_t = DemoBudget::default().grpo_steps)]
    grpo_steps: u64,
    /// Longest generation, in GRPO rollouts and in evaluation.
    #[arg(long, default_value_t = DemoBudget::default().max_new_tokens)]
    max_new_tokens: usize,
    /// Evaluate on at most this many problems per test split.
    #[arg(long)]
    eval_limit: Option<usize>,
    /// Training seeds per student; the report gives each seed and all seeds pooled.
    #[arg(long, default_value_t = DemoBudget::default().seeds,
          value_parser = clap::value_parser!(u32).range(1..))]
    seeds: u32,
}

/// The flags, resolved.
struct Demo {
    headless: bool,
    budget: DemoBudget,
    threads: Option<usize>,
}

pub fn run(args: DemoArgs, globals: &Globals) -> Result<()> {
    let args = Demo {
        headless: args.headless,
        budget: DemoBudget {
            sft_steps: args.steps,
            grpo_steps: args.grpo_steps,
            max_new_tokens: args.max_new_tokens,
            eval_limit: args.eval_limit,
            seeds: args.seeds,
            ..Default::default()
        },
        threads: globals.threads,
    };
    let ws = Workspace::init(&globals.workspace_dir, globals.paths)?;
    let interactive =
        !args.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if interactive {
        interactive_demo(ws, globals.paths, &args)
    } else {
        headless(&ws, &args)
    }
}

fn headless(ws: &Workspace, args: &Demo) -> Result<()> {
    let started = std::time::Instant::now();
    let threads = args.threads.unwrap_or(ws.config.ui.threads);
    // One single-threaded job per core: see demo::parallel for why.
    let workers = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    pin_threads(1)?;
    say!("demo workspace: {}", ws.root.display());
    let progress = crate::progress::Progress::new("demo", "stages", None);
    progress.stage("building the workspace");
    let build = crate::demo::build::build_workspace(ws)?;
    print_build(&build);
    let mut stages = 0;
    let results = pipeline::train_evaluate_compare(ws, &args.budget, workers, |line| {
        stages += 1;
        progress.set_done(stages);
        progress.stage(line.lines().next().unwrap_or_default());
        say!("{line}");
    });
    progress.end(results.is_ok());
    let results = results?;
    say!();
    say_raw!("{}", results.report.markdown);
    say!("stage timings");
    for t in build.timings.iter().chain(&results.timings) {
        say!("  {:<58} {:>8.1} s", t.stage, t.seconds);
    }
    say!(
        "  {:<58} {:>8.1} s",
        "total",
        started.elapsed().as_secs_f64()
    );
    say!("report: {} and {}", results.report_path, results.json_path);
    Ok(())
}

fn interactive_demo(ws: Workspace, paths: &Paths, args: &Demo) -> Result<()> {
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
                .arg(budget.max_new_tokens.to_string())
                .arg("--seeds")
                .arg(budget.seeds.to_string());
            if let Some(limit) = budget.eval_limit {
                command.arg("--eval-limit").arg(limit.to_string());
            }
            Some(spawn_detached(&mut command, &dir)?)
        }
    };
    let log = dir.join(crate::jobs::STDOUT_LOG);
    crate::tui::run_opening(ws, paths, Some(crate::tui::Action::ShowRuns))?;
    match pid {
        Some(pid) => say!(
            "the demo pipeline goes on in the background (pid {pid}); its progress: {}",
            log.display()
        ),
        None => say!(
            "the demo pipeline is running; its progress: {}",
            log.display()
        ),
    }
    Ok(())
}

/// What building the demo workspace did, and how long each stage took.
pub(super) fn print_build(build: &DemoBuild) {
    say!(
        "problems: {} new, {} already present",
        build.problems.inserted,
        build.problems.unchanged
    );
    say!(
        "oracle candidates: {} written ({} new), {} graded correct ({:.1}%)",
        build.candidates_total,
        build.candidates_new,
        build.candidates_correct,
        100.0 * build.candidates_correct as f64 / build.candidates_total.max(1) as f64
    );
    say!(
        "auto-curation (best-scored correct, score >= min_score): {} accepted, {} problems left \
         for review",
        build.curation.changed,
        build.curation.without_pick
    );
    for t in &build.timings {
        say!("  {:<28} {:>7.2} s", t.stage, t.seconds);
    }
}
