//! `plantune-tui demo`. Headless, every stage runs in this process and the comparison
//! is printed. Interactive, the workspace is built here, the training and evaluation
//! pipeline starts as a detached process (it outlives the TUI and the SSH session),
//! and the TUI opens on the Runs screen to watch it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use super::{Globals, pin_threads};
use crate::config::Paths;
use crate::data::DatasetFormat;
use crate::data::import::import_file;
use crate::demo::budget::DemoBudget;
use crate::demo::build::DemoBuild;
use crate::demo::pipeline::{self, DemoSetup};
use crate::demo::student::DemoStudent;
use crate::jobs::{Liveness, liveness, spawn_detached};
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print progress and the results instead of opening the TUI.
    #[arg(long)]
    headless: bool,
    /// The model to post-train: the tiny from-scratch student, or SmolLM2-135M-Instruct
    /// (a pretrained student; about 35 minutes on two cores; its own workspace,
    /// `demo-smollm2`, unless --workspace names one).
    #[arg(long, value_enum, default_value_t = DemoStudent::Tiny)]
    student: DemoStudent,
    /// Where SmolLM2 comes from: a GGUF file or a model directory (default: the GGUF in
    /// the cache's models/, else the Hugging Face Hub).
    #[arg(long, value_name = "PATH")]
    student_model: Option<PathBuf>,
    /// A GSM8K-format JSONL file evaluated as `gsm8k/sample` beside the synthetic
    /// splits, every student in its own mode.
    #[arg(long, value_name = "FILE")]
    gsm8k: Option<PathBuf>,
    /// SFT steps per student (the demo's main time knob; default: the student's budget).
    #[arg(long)]
    steps: Option<u64>,
    /// GRPO steps on the plan-tuned student.
    #[arg(long)]
    grpo_steps: Option<u64>,
    /// Prompts per GRPO step.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    grpo_prompts: Option<u32>,
    /// Samples per prompt in a GRPO group (at least 2: the advantage compares them).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    grpo_group: Option<u32>,
    /// Longest generation, in GRPO rollouts and in evaluation.
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// Evaluate on at most this many problems per test split.
    #[arg(long)]
    eval_limit: Option<usize>,
    /// Training seeds per student; the report gives each seed and all seeds pooled.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    seeds: Option<u32>,
}

/// The flags, resolved.
struct Demo {
    headless: bool,
    setup: DemoSetup,
    student_model: Option<PathBuf>,
    gsm8k: Option<PathBuf>,
    threads: Option<usize>,
}

/// The benchmark a `--gsm8k` file is stored and evaluated as.
const GSM8K_SPLIT: &str = "sample";

pub fn run(args: DemoArgs, globals: &Globals) -> Result<()> {
    let defaults = args.student.budget();
    let args = Demo {
        headless: args.headless,
        setup: DemoSetup {
            student: args.student,
            budget: DemoBudget {
                sft_steps: args.steps.unwrap_or(defaults.sft_steps),
                grpo_steps: args.grpo_steps.unwrap_or(defaults.grpo_steps),
                grpo_prompts: args
                    .grpo_prompts
                    .map_or(defaults.grpo_prompts, |n| n as usize),
                grpo_group: args.grpo_group.map_or(defaults.grpo_group, |n| n as usize),
                max_new_tokens: args.max_new_tokens.unwrap_or(defaults.max_new_tokens),
                eval_limit: args.eval_limit.or(defaults.eval_limit),
                seeds: args.seeds.unwrap_or(defaults.seeds),
                ..defaults
            },
            extra_benchmarks: args
                .gsm8k
                .iter()
                .map(|_| format!("gsm8k/{GSM8K_SPLIT}"))
                .collect(),
        },
        student_model: args.student_model,
        gsm8k: args.gsm8k,
        threads: globals.threads,
    };
    let ws_dir = if globals.workspace_named {
        globals.workspace_dir.clone()
    } else {
        args.setup.student.default_workspace(&globals.workspace_dir)
    };
    let ws = Workspace::init(&ws_dir, globals.paths)?;
    let interactive =
        !args.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if interactive {
        interactive_demo(ws, globals.paths, &args)
    } else {
        headless(&ws, globals.paths, &args)
    }
}

/// Stage 1 and what the student needs before training: the problems, the teacher's
/// curated trajectories, the GSM8K file and the student's weights.
fn build(ws: &Workspace, paths: &Paths, args: &Demo) -> Result<DemoBuild> {
    let build = crate::demo::build::build_workspace(ws)?;
    print_build(&build);
    if let Some(file) = &args.gsm8k {
        let report = import_file(ws, file, DatasetFormat::Gsm8k, GSM8K_SPLIT)?;
        say!(
            "{}: {} GSM8K problems read, {} new",
            file.display(),
            report.read,
            report.inserted
        );
    }
    let dir = args
        .setup
        .student
        .prepare(ws, paths, args.student_model.as_deref(), |line| {
            say!("{line}")
        })?;
    say!("student model: {}", dir.display());
    Ok(build)
}

fn headless(ws: &Workspace, paths: &Paths, args: &Demo) -> Result<()> {
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
    let build = build(ws, paths, args)?;
    let mut stages = 0;
    let results = pipeline::train_evaluate_compare(ws, &args.setup, workers, |line| {
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
    build(&ws, paths, args)?;
    let dir = pipeline::pipeline_dir(&ws);
    let pid = match liveness(&dir)? {
        Liveness::Alive { pid } => pid.map(|p| p as u32),
        _ => {
            let mut command = Command::new(std::env::current_exe()?);
            command.arg("--workspace").arg(&ws.root);
            if let Some(threads) = args.threads {
                command.arg("--threads").arg(threads.to_string());
            }
            let budget = &args.setup.budget;
            command
                .args(["demo", "--headless", "--student"])
                .arg(args.setup.student.as_str())
                .arg("--steps")
                .arg(budget.sft_steps.to_string())
                .arg("--grpo-steps")
                .arg(budget.grpo_steps.to_string())
                .arg("--grpo-prompts")
                .arg(budget.grpo_prompts.to_string())
                .arg("--grpo-group")
                .arg(budget.grpo_group.to_string())
                .arg("--max-new-tokens")
                .arg(budget.max_new_tokens.to_string())
                .arg("--seeds")
                .arg(budget.seeds.to_string());
            if let Some(limit) = budget.eval_limit {
                command.arg("--eval-limit").arg(limit.to_string());
            }
            if let Some(model) = &args.student_model {
                command.arg("--student-model").arg(model);
            }
            if let Some(file) = &args.gsm8k {
                command.arg("--gsm8k").arg(file);
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
