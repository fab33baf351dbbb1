//! Stages 3–5 of the demo: train a baseline and a plan-tuned tiny student (SFT), GRPO
//! on the plan-tuned one, evaluate all three on the in-distribution and
//! out-of-distribution tests, and compare them.
//!
//! Each training is an ordinary run (`runs/<id>/` with events and checkpoints) executed
//! in this process; evaluations are ordinary stored predictions, so the TUI's Runs,
//! Compare and Eval screens show the demo like any other work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::build::StageTiming;
use super::parallel::{Named, Progress, run_side_by_side};
use crate::eval::report::{
    AccuracyRow, BySteps, Format, PairedTable, accuracy_by_steps, accuracy_row, paired,
    render_accuracy, render_paired,
};
use crate::eval::runner::{EvalOptions, Mode, run_eval};
use crate::jobs::{RunLock, StopFlag};
use crate::runs::{self, Ending, GrpoRunConfig, RunConfig, RunDir, RunError, SftRunConfig};
use crate::train::grpo::GrpoConfig;
use crate::train::grpo::objective::ObjectiveConfig;
use crate::train::schedule::Decay;
use crate::train::sft::SftConfig;
use crate::workspace::Workspace;
use crate::workspace::fsutil::atomic_write;
use crate::workspace::layout::run_files;
use crate::workspace::store::PredictionKey;

/// How much work the demo does; sized for a 2-core CPU.
#[derive(Debug, Clone, Copy)]
pub struct DemoBudget {
    pub sft_steps: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub grpo_steps: u64,
    pub grpo_prompts: usize,
    pub grpo_group: usize,
    pub grpo_lr: f64,
    pub max_new_tokens: usize,
    pub eval_limit: Option<usize>,
}

impl Default for DemoBudget {
    fn default() -> Self {
        Self {
            sft_steps: 120,
            batch_size: 16,
            lr: 3e-3,
            grpo_steps: 6,
            grpo_prompts: 4,
            grpo_group: 8,
            grpo_lr: 2e-4,
            max_new_tokens: 200,
            eval_limit: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoResults {
    /// (student, run id)
    pub runs: Vec<(String, String)>,
    pub accuracy: Vec<AccuracyRow>,
    pub paired: Vec<PairedTable>,
    /// Out-of-distribution accuracy by number of operations: student → steps → (right, n).
    pub ood_by_steps: BTreeMap<String, BySteps>,
    pub timings: Vec<StageTiming>,
    pub report_path: String,
}

pub const SPLITS: [&str; 2] = ["synth/test_id", "synth/test_ood"];

/// The students, each evaluated in the mode it was trained for.
pub const STUDENTS: [(&str, Mode); 3] = [
    ("baseline", Mode::Direct),
    ("plan-tuned", Mode::Plan1pass),
    ("plan-tuned+grpo", Mode::Plan1pass),
];

fn sft_config(dataset: &str, budget: &DemoBudget) -> SftRunConfig {
    SftRunConfig {
        model: "tiny".into(),
        dataset: dataset.into(),
        eval_fraction: 0.05,
        sft: SftConfig {
            lr: budget.lr,
            max_steps: budget.sft_steps,
            epochs: 1000,
            batch_size: budget.batch_size,
            checkpoint_every: 50,
            seed: 1,
            ..SftConfig::default()
        },
        ..SftRunConfig::default()
    }
}

fn grpo_config(start: String, budget: &DemoBudget) -> GrpoRunConfig {
    GrpoRunConfig {
        model: start,
        dataset: "plan1".into(),
        grpo: GrpoConfig {
            lr: budget.grpo_lr,
            decay: Decay::Constant,
            max_steps: budget.grpo_steps,
            prompts_per_step: budget.grpo_prompts,
            group_size: budget.grpo_group,
            temperature: 1.0,
            max_new_tokens: budget.max_new_tokens,
            objective: ObjectiveConfig {
                beta: 0.0,
                ..ObjectiveConfig::default()
            },
            checkpoint_every: 10,
            sample_every: 2,
            seed: 1,
            ..GrpoConfig::default()
        },
        ..GrpoRunConfig::default()
    }
}

/// Which run serves which demo stage, so a second `demo` resumes or reuses them
/// instead of training again.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct PipelineState {
    runs: BTreeMap<String, String>,
}

const STATE_FILE: &str = "pipeline.json";

/// Where the demo pipeline keeps its lock, its state and (detached) its logs.
pub fn pipeline_dir(ws: &Workspace) -> std::path::PathBuf {
    ws.root.join("demo-pipeline")
}

impl PipelineState {
    fn load(ws: &Workspace) -> Result<Self, anyhow::Error> {
        let path = pipeline_dir(ws).join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    fn save(&self, ws: &Workspace) -> Result<(), anyhow::Error> {
        let dir = pipeline_dir(ws);
        std::fs::create_dir_all(&dir)?;
        atomic_write(&dir.join(STATE_FILE), &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// The run of `stage`, created by `create` the first time.
    fn run_for(
        &mut self,
        ws: &Workspace,
        stage: &str,
        create: impl FnOnce() -> Result<runs::RunId, RunError>,
    ) -> Result<String, anyhow::Error> {
        if let Some(id) = self.runs.get(stage)
            && RunDir::new(ws, id).config().exists()
        {
            return Ok(id.clone());
        }
        let id = String::from(create()?);
        self.runs.insert(stage.to_owned(), id.clone());
        self.save(ws)?;
        Ok(id)
    }
}

/// Runs (or resumes) one created run in this process and returns the path of what it
/// learned; a run that already finished is reused as it is.
fn train(ws: &Workspace, id: &str) -> Result<PathBuf, anyhow::Error> {
    let final_dir = RunDir::new(ws, id).final_model();
    if ws.store()?.run(id)?.status == "completed" {
        return Ok(final_dir);
    }
    let ending = runs::work(ws, id, StopFlag::manual())?;
    if ending != Ending::Completed {
        anyhow::bail!("run {id} ended {ending:?} before finishing");
    }
    Ok(final_dir)
}

fn train_job<'a>(
    ws: &'a Workspace,
    name: &str,
    id: String,
    after: Vec<usize>,
) -> Named<'a, Output> {
    Named {
        name: format!("{name} (run {id})"),
        after,
        job: Box::new(move || {
            train(ws, &id)?;
            Ok(Output::Model)
        }),
    }
}

fn eval_job<'a>(
    ws: &'a Workspace,
    budget: &DemoBudget,
    student: (&'static str, Mode),
    dir: PathBuf,
    benchmark: &'static str,
    after: usize,
) -> Named<'a, Output> {
    let (name, mode) = student;
    let options = EvalOptions {
        model_dir: dir,
        model_name: name.to_owned(),
        benchmark: benchmark.to_owned(),
        mode,
        limit: budget.eval_limit,
        k: 1,
        max_new_tokens: budget.max_new_tokens,
        temperature: 0.0,
        batch_size: 32,
        seed: 0,
    };
    Named {
        name: format!("evaluate {name} on {benchmark} ({})", mode.as_str()),
        after: vec![after],
        job: Box::new(move || Ok(Output::Predictions(run_eval(ws, &options, |_, _| {})?.key))),
    }
}

/// What a demo job leaves behind.
enum Output {
    Model,
    Predictions(PredictionKey),
}

/// Stages 3–5 with `workers` jobs side by side (each single-threaded; see `parallel`):
/// both SFT students at once, GRPO once the plan-tuned student is trained, and every
/// evaluation as soon as its student is ready.
pub fn train_evaluate_compare(
    ws: &Workspace,
    budget: &DemoBudget,
    workers: usize,
    mut say: impl FnMut(&str),
) -> Result<DemoResults, anyhow::Error> {
    let _lock = RunLock::acquire(&pipeline_dir(ws))?;
    let mut state = PipelineState::load(ws)?;

    let baseline_id = state.run_for(ws, "baseline", || {
        runs::create(ws, &RunConfig::Sft(sft_config("baseline", budget)))
    })?;
    let plan_id = state.run_for(ws, "plan-tuned", || {
        runs::create(ws, &RunConfig::Sft(sft_config("plan1", budget)))
    })?;
    let grpo_id = state.run_for(ws, "plan-tuned+grpo", || {
        let start = format!("{}/{}", RunDir::registry_dir(&plan_id), run_files::FINAL);
        runs::create(ws, &RunConfig::Grpo(grpo_config(start, budget)))
    })?;
    // Both trainings would otherwise create the shared tiny model at the same moment.
    crate::train::student::ensure_model(ws, "tiny")?;
    say(&format!(
        "training a baseline student on gold solutions and a plan-tuned student on accepted \
         trajectories ({} SFT steps each), then GRPO on the plan-tuned one ({} steps of {} \
         prompts × {} samples); {workers} jobs at a time",
        budget.sft_steps, budget.grpo_steps, budget.grpo_prompts, budget.grpo_group
    ));

    let final_dir = |id: &str| RunDir::new(ws, id).final_model();
    let trainings = [
        train_job(ws, "SFT baseline", baseline_id.clone(), vec![]),
        train_job(ws, "SFT plan-tuned", plan_id.clone(), vec![]),
        train_job(ws, "GRPO plan-tuned", grpo_id.clone(), vec![1]),
    ];
    let dirs = [
        final_dir(&baseline_id),
        final_dir(&plan_id),
        final_dir(&grpo_id),
    ];
    let mut jobs: Vec<Named<'_, Output>> = trainings.into_iter().collect();
    for (trained, (student, dir)) in STUDENTS.into_iter().zip(dirs).enumerate() {
        for benchmark in SPLITS {
            jobs.push(eval_job(
                ws,
                budget,
                student,
                dir.clone(),
                benchmark,
                trained,
            ));
        }
    }
    let started = Instant::now();
    let done = run_side_by_side(jobs, workers, |p| match p {
        Progress::Started(name) => say(&format!("  started  {name}")),
        Progress::Done(name, seconds) => say(&format!("  finished {name} in {seconds:.1} s")),
    })?;
    let mut timings: Vec<StageTiming> = done
        .iter()
        .map(|job| StageTiming {
            stage: job.name.clone(),
            seconds: job.seconds,
        })
        .collect();
    timings.push(StageTiming {
        stage: "training + evaluation (wall clock)".into(),
        seconds: started.elapsed().as_secs_f64(),
    });
    let keys: Vec<PredictionKey> = done
        .into_iter()
        .filter_map(|job| match job.output {
            Output::Predictions(key) => Some(key),
            Output::Model => None,
        })
        .collect();

    let report = report(ws, &keys)?;
    let path = ws.exports_dir().join("demo-report.md");
    atomic_write(&path, report.markdown.as_bytes())?;
    Ok(DemoResults {
        runs: vec![
            ("baseline".to_owned(), baseline_id),
            ("plan-tuned".to_owned(), plan_id),
            ("plan-tuned+grpo".to_owned(), grpo_id),
        ],
        accuracy: report.accuracy,
        paired: report.paired,
        ood_by_steps: report.ood_by_steps,
        timings,
        report_path: path.display().to_string(),
    })
}

pub struct DemoReport {
    pub accuracy: Vec<AccuracyRow>,
    pub paired: Vec<PairedTable>,
    pub ood_by_steps: BTreeMap<String, BySteps>,
    pub markdown: String,
}

/// Everything the demo reports, computed from the stored predictions alone (so anyone
/// can recompute it from the workspace).
pub fn report(ws: &Workspace, keys: &[PredictionKey]) -> Result<DemoReport, anyhow::Error> {
    let store = ws.store()?;
    let accuracy = keys
        .iter()
        .map(|k| accuracy_row(&store, k))
        .collect::<Result<Vec<_>, _>>()?;
    let find = |model: &str, benchmark: &str| -> Option<&PredictionKey> {
        keys.iter()
            .find(|k| k.model == model && k.benchmark == benchmark)
    };
    let mut paired_tables = Vec::new();
    for benchmark in SPLITS {
        for (a, b) in [
            ("plan-tuned", "baseline"),
            ("plan-tuned+grpo", "baseline"),
            ("plan-tuned+grpo", "plan-tuned"),
        ] {
            if let (Some(ka), Some(kb)) = (find(a, benchmark), find(b, benchmark)) {
                paired_tables.push(paired(&store, ka, kb)?);
            }
        }
    }
    let mut ood_by_steps: BTreeMap<String, BySteps> = BTreeMap::new();
    for key in keys.iter().filter(|k| k.benchmark == "synth/test_ood") {
        ood_by_steps.insert(key.model.clone(), accuracy_by_steps(&store, key)?);
    }
    let mut markdown = String::from("# Demo results\n\n");
    markdown.push_str(&render_accuracy(&accuracy, Format::Markdown));
    for t in &paired_tables {
        markdown.push('\n');
        markdown.push_str(&render_paired(t, Format::Markdown));
    }
    markdown.push('\n');
    markdown.push_str(&render_ood_by_steps(&ood_by_steps));
    Ok(DemoReport {
        accuracy,
        paired: paired_tables,
        ood_by_steps,
        markdown,
    })
}

/// The OOD accuracy by number of operations, as a Markdown table (it reads as plain
/// text in a terminal too).
pub fn render_ood_by_steps(table: &BTreeMap<String, BySteps>) -> String {
    let steps: std::collections::BTreeSet<u32> =
        table.values().flat_map(|m| m.keys().copied()).collect();
    let mut out = String::from("Out-of-distribution accuracy by number of operations\n\n");
    out.push_str("| student |");
    for s in &steps {
        out.push_str(&format!(" {s} ops |"));
    }
    out.push_str("\n|---|");
    for _ in &steps {
        out.push_str("---:|");
    }
    out.push('\n');
    for (model, cells) in table {
        out.push_str(&format!("| {model} |"));
        for s in &steps {
            match cells.get(s) {
                Some((right, n)) if *n > 0 => out.push_str(&format!(
                    " {right}/{n} ({:.1}%) |",
                    100.0 * *right as f64 / *n as f64
                )),
                _ => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}
