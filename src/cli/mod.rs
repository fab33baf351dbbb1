//! The command line: argument parsing and dispatch into the library. Each command's
//! work lives in its domain module; this file only connects flags to functions.

mod doctor;
mod runs;

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
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Insert candidates, then time opening the workspace and the first curation page.
    Store {
        /// Candidates to insert.
        #[arg(long, default_value_t = 100_000)]
        candidates: usize,
    },
    /// Grades per second over a mixed corpus (GSM8K, MATH, symbolic, traps), one thread.
    Grade {
        #[arg(long, default_value_t = crate::grade::bench::DEFAULT_BENCH_GRADES)]
        grades: usize,
    },
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    let paths = Paths::discover();
    run(cli, &paths)
}

pub fn run(cli: Cli, paths: &Paths) -> Result<()> {
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
        Some(Command::Demo { headless }) => {
            let ws = Workspace::init(&workspace_dir, paths)?;
            configure_threads(cli.threads.unwrap_or(ws.config.ui.threads))?;
            println!("demo workspace: {}", ws.root.display());
            print_build(&crate::demo::build::build_workspace(&ws)?);
            let report = status::collect(ws.name(), &ws.store()?)?;
            print!("\n{}", report.to_text());
            if !headless {
                eprintln!("\n(the interactive TUI is not built yet; this is the headless output)");
            }
            eprintln!(
                "Training, evaluation and the comparison are not built yet: the demo stops after \
                 curation. Review the curated trajectories with `plantune-tui status`."
            );
            Ok(())
        }
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
            }
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
            configure_threads(cli.threads.unwrap_or(1))?;
            match what {
                BenchCommand::Store { candidates } => bench_store(candidates),
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

/// Until the interactive TUI lands, the bare command shows what the workspace holds
/// and says plainly that the TUI is not there yet.
fn open_default(dir: &Path, paths: &Paths) -> Result<()> {
    let ws = Workspace::open(dir, paths)?;
    let report = status::collect(ws.name(), &ws.store()?)?;
    print!("{}", report.to_text());
    eprintln!(
        "\nThe interactive TUI is not built yet; this is the workspace summary. \
         Run `plantune-tui --help` for the commands that work today."
    );
    Ok(())
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

fn print_build(build: &crate::demo::build::DemoBuild) {
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
