//! `plantune-tui eval`: a model × a benchmark × an inference mode, every prediction
//! stored (resumable after a kill), graded with the grader's reason.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::DType;
use serde::Serialize;

use super::vote::majority;
use crate::grade::{GradeOptions, grade_with};
use crate::infer::{SamplingParams, generate};
use crate::model::chat::{ChatMessage, ChatTemplate};
use crate::model::decoder::Model;
use crate::model::tokenizer::ModelTokenizer;
use crate::workspace::prompt::render;
use crate::workspace::records::Problem;
use crate::workspace::store::{NewPrediction, PredictionKey};
use crate::workspace::{Workspace, WorkspaceError};

/// The paper's comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Prompted to think step by step and answer in `\boxed{}`.
    ZeroShotCot,
    /// A baseline-SFT student answering as it was trained (`student_direct` prompt).
    Direct,
    /// Method 1: plan and execution in one generation (`student` prompt).
    Plan1pass,
    /// Method 2: generate the plan, then the execution with the plan in the prompt.
    Plan2pass,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZeroShotCot => "zero_shot_cot",
            Self::Direct => "direct",
            Self::Plan1pass => "plan_1pass",
            Self::Plan2pass => "plan_2pass",
        }
    }
}

const ZERO_SHOT_COT: &str = "Solve the following problem. Think step by step, then give the \
final answer in \\boxed{}.\n\nProblem:\n{{ question }}\n";

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub model_dir: PathBuf,
    /// Name the predictions are stored under (default: the model folder's name).
    pub model_name: String,
    /// `dataset/split`, e.g. `synth/test_ood`, `gsm8k/test`.
    pub benchmark: String,
    pub mode: Mode,
    pub limit: Option<usize>,
    /// Samples per problem; above 1 adds a majority-vote row under `<mode>@maj<k>`.
    pub k: usize,
    pub max_new_tokens: usize,
    /// Used when k > 1 (greedy otherwise).
    pub temperature: f32,
    pub batch_size: usize,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] crate::workspace::store::StoreError),
    #[error("model {}: {message}", dir.display())]
    Model { dir: PathBuf, message: String },
    #[error(transparent)]
    Prompt(#[from] crate::workspace::prompt::PromptError),
    #[error("benchmark {0:?}: expected DATASET/SPLIT, e.g. synth/test_id or gsm8k/test")]
    BadBenchmark(String),
    #[error("benchmark {0} has no problems in this workspace (import it first)")]
    Empty(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalSummary {
    pub key: PredictionKey,
    pub problems: usize,
    pub generated: usize,
    pub resumed: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
    /// Size mismatches and training/benchmark overlap, for the report.
    pub warnings: Vec<String>,
}

/// Published sizes of the named benchmarks; a file of another size is not that
/// benchmark and the report says so.
fn expected_size(benchmark: &str) -> Option<(&'static str, usize)> {
    let b = benchmark.to_ascii_lowercase();
    if b.contains("aime") {
        Some(("AIME 2024", 30))
    } else if b.contains("math500") {
        Some(("MATH500", 500))
    } else if b.starts_with("gsm8k/test") {
        Some(("GSM8K test", 1319))
    } else if b.contains("olympiad") && b.ends_with("/test") {
        Some(("OlympiadBench OE_TO_maths_en_COMP", 675))
    } else {
        None
    }
}

struct Loaded {
    model: Model,
    tokenizer: ModelTokenizer,
    template: ChatTemplate,
}

impl Loaded {
    fn prompt_ids(&self, text: &str) -> Result<Vec<u32>, String> {
        let rendered = self
            .template
            .render(&[ChatMessage::user(text)], true)
            .map_err(|e| e.to_string())?;
        self.tokenizer
            .encode(&rendered, false)
            .map_err(|e| e.to_string())
    }

    fn generate(
        &self,
        prompts: &[Vec<u32>],
        params: &SamplingParams,
    ) -> Result<Vec<(String, usize)>, String> {
        let eos: Vec<u32> = self.tokenizer.eos_id().into_iter().collect();
        let pad = self
            .tokenizer
            .pad_id()
            .or(self.tokenizer.eos_id())
            .unwrap_or(0);
        let decode = |t: &[u32]| self.tokenizer.decode(t, true).unwrap_or_default();
        let out = generate(&self.model, prompts, params, &eos, pad, &decode)
            .map_err(|e| e.to_string())?;
        Ok(out.into_iter().map(|g| (g.text, g.tokens.len())).collect())
    }
}

/// The student prompt templates of the workspace, one per way of asking.
struct Templates {
    direct: String,
    plan: String,
    plan_only: String,
    execute: String,
}

impl Templates {
    fn of(ws: &Workspace) -> Result<Self, EvalError> {
        Ok(Self {
            direct: ws.prompt("student_direct")?,
            plan: ws.prompt("student")?,
            plan_only: ws.prompt("student_plan")?,
            execute: ws.prompt("student_execute")?,
        })
    }

    /// The first (or only) prompt of `mode` for `question`.
    fn first(&self, mode: Mode, question: &str) -> Result<String, EvalError> {
        Ok(match mode {
            Mode::ZeroShotCot => render(
                "zero_shot_cot",
                ZERO_SHOT_COT,
                minijinja::context! { question },
            )?,
            Mode::Direct => render(
                "student_direct",
                &self.direct,
                minijinja::context! { question },
            )?,
            Mode::Plan1pass => render("student", &self.plan, minijinja::context! { question })?,
            Mode::Plan2pass => render(
                "student_plan",
                &self.plan_only,
                minijinja::context! { question },
            )?,
        })
    }
}

fn model_err(opts: &EvalOptions) -> impl Fn(String) -> EvalError + '_ {
    move |message| EvalError::Model {
        dir: opts.model_dir.clone(),
        message,
    }
}

/// The benchmark's problems (at most `limit`), with warnings: a file whose size is not
/// the named benchmark's, problems that also appear in a training split.
fn benchmark_problems(
    ws: &Workspace,
    opts: &EvalOptions,
) -> Result<(Vec<Problem>, Vec<String>), EvalError> {
    let (dataset, split) = opts
        .benchmark
        .split_once('/')
        .ok_or_else(|| EvalError::BadBenchmark(opts.benchmark.clone()))?;
    let store = ws.store()?;
    let mut problems = store.problems(Some(dataset), Some(split))?;
    if problems.is_empty() {
        return Err(EvalError::Empty(opts.benchmark.clone()));
    }
    let mut warnings: Vec<String> = expected_size(&opts.benchmark).and_then(|(name, size)| {
        (problems.len() != size).then(|| {
            format!(
                "{} has {} problems, not the {size} of {name}: results are for this file, not {name}",
                opts.benchmark,
                problems.len()
            )
        })
    }).into_iter().collect();
    let train: Vec<Problem> = store
        .problems(None, Some("train"))?
        .into_iter()
        .filter(|p| !(p.fields.dataset == dataset && split == "train"))
        .collect();
    let overlap = super::contamination::contaminated(&train, &problems);
    if !overlap.is_empty() {
        warnings.push(format!(
            "{} of {} problems in {} also appear in a training split (e.g. {}): scores on them \
             are not a test of generalisation",
            overlap.len(),
            problems.len(),
            opts.benchmark,
            overlap
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(limit) = opts.limit {
        problems.truncate(limit);
    }
    Ok((problems, warnings))
}

fn load(opts: &EvalOptions) -> Result<Loaded, EvalError> {
    let model_err = model_err(opts);
    let (model, _) = crate::device::load_model(&opts.model_dir, DType::F32)
        .map_err(|e| model_err(e.to_string()))?;
    Ok(Loaded {
        model,
        tokenizer: ModelTokenizer::from_dir(&opts.model_dir)
            .map_err(|e| model_err(e.to_string()))?,
        template: ChatTemplate::from_model_dir(&opts.model_dir)
            .map_err(|e| model_err(e.to_string()))?,
    })
}

/// The first (or only) prompt of each (problem, sample) row, as token ids.
fn first_prompts(
    opts: &EvalOptions,
    loaded: &Loaded,
    templates: &Templates,
    rows: &[(&Problem, u32)],
) -> Result<Vec<Vec<u32>>, EvalError> {
    let model_err = model_err(opts);
    rows.iter()
        .map(|(p, _)| {
            let text = templates.first(opts.mode, &p.fields.question)?;
            loaded.prompt_ids(&text).map_err(&model_err)
        })
        .collect()
}

/// The answers (text, generated tokens) of one batch of rows: one generation, or for
/// the two-pass mode the plan and then its execution.
fn answer_rows(
    opts: &EvalOptions,
    loaded: &Loaded,
    templates: &Templates,
    rows: &[(&Problem, u32)],
    first_prompts: &[Vec<u32>],
    params: &SamplingParams,
) -> Result<Vec<(String, usize)>, EvalError> {
    let model_err = model_err(opts);
    let first = loaded.generate(first_prompts, params).map_err(&model_err)?;
    if opts.mode != Mode::Plan2pass {
        return Ok(first);
    }
    let second_prompts = rows
        .iter()
        .zip(&first)
        .map(|((p, _), (plan, _))| {
            let question = &p.fields.question;
            let plan = plan.trim();
            let text = render(
                "student_execute",
                &templates.execute,
                minijinja::context! { question, plan },
            )?;
            loaded.prompt_ids(&text).map_err(&model_err)
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    let second = loaded
        .generate(&second_prompts, params)
        .map_err(&model_err)?;
    Ok(first
        .iter()
        .zip(second)
        .map(|((plan, n1), (execution, n2))| {
            (
                format!("Plan:\n{}\n\nExecution:\n{}", plan.trim(), execution.trim()),
                n1 + n2,
            )
        })
        .collect())
}

/// One graded prediction per row.
fn graded(
    key: &PredictionKey,
    rows: &[(&Problem, u32)],
    outputs: &[(String, usize)],
    latency_ms: u64,
) -> Vec<NewPrediction> {
    rows.iter()
        .zip(outputs)
        .map(|((problem, sample), (text, tokens))| {
            let verdict = grade_with(
                text,
                &problem.fields.gold_answer,
                &GradeOptions {
                    question: Some(&problem.fields.question),
                },
            );
            NewPrediction {
                key: key.clone(),
                problem_id: problem.id,
                sample_index: *sample,
                output: text.clone(),
                extracted: verdict.extracted,
                correct: verdict.correct,
                reason: verdict.reason,
                tokens: *tokens as u32,
                latency_ms,
            }
        })
        .collect()
}

/// With k samples per problem, one more prediction per problem under `MODE@majK`:
/// the majority answer of its samples, graded.
fn majority_votes(
    key: &PredictionKey,
    k: usize,
    problems: &[&Problem],
    samples: &[NewPrediction],
) -> Vec<NewPrediction> {
    let vote_key = PredictionKey {
        mode: format!("{}@maj{k}", key.mode),
        ..key.clone()
    };
    problems
        .iter()
        .map(|problem| {
            let answers: Vec<Option<String>> = samples
                .iter()
                .filter(|p| p.problem_id == problem.id)
                .map(|p| p.extracted.clone())
                .collect();
            let opts_q = GradeOptions {
                question: Some(&problem.fields.question),
            };
            let winner = majority(&answers, &opts_q).map(str::to_owned);
            let (correct, reason) = match &winner {
                Some(answer) => {
                    crate::grade::answers_equivalent(answer, &problem.fields.gold_answer, &opts_q)
                }
                None => (false, "no sample produced an answer".to_owned()),
            };
            NewPrediction {
                key: vote_key.clone(),
                problem_id: problem.id,
                sample_index: 0,
                output: format!("majority of {k}: {}", winner.as_deref().unwrap_or("(none)")),
                extracted: winner,
                correct,
                reason,
                tokens: 0,
                latency_ms: 0,
            }
        })
        .collect()
}

pub fn run_eval(
    ws: &Workspace,
    opts: &EvalOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalSummary, EvalError> {
    let (problems, warnings) = benchmark_problems(ws, opts)?;
    let mut store = ws.store()?;
    let key = PredictionKey {
        model: opts.model_name.clone(),
        benchmark: opts.benchmark.clone(),
        mode: opts.mode.as_str().to_owned(),
    };
    let k = opts.k.max(1);
    let done: std::collections::HashSet<(i64, u32)> = store
        .predictions(&key)?
        .iter()
        .map(|p| (p.fields.problem_id, p.fields.sample_index))
        .collect();
    let todo: Vec<&Problem> = problems
        .iter()
        .filter(|p| (0..k as u32).any(|i| !done.contains(&(p.id, i))))
        .collect();
    let resumed = problems.len() - todo.len();
    let loaded = load(opts)?;
    let templates = Templates::of(ws)?;
    let params = SamplingParams {
        temperature: if k > 1 { opts.temperature } else { 0.0 },
        max_new_tokens: opts.max_new_tokens,
        seed: opts.seed,
        ..Default::default()
    };
    let started = Instant::now();
    let mut tokens_total = 0usize;
    let mut generated = 0usize;
    progress(resumed, problems.len());
    for chunk in todo.chunks(opts.batch_size.max(1)) {
        // Every (problem, sample) of the chunk in one generation batch; each row has its
        // own seeded stream, so samples differ while staying reproducible.
        let rows: Vec<(&Problem, u32)> = chunk
            .iter()
            .flat_map(|p| (0..k as u32).map(move |i| (*p, i)))
            .collect();
        let prompts = first_prompts(opts, &loaded, &templates, &rows)?;
        let batch_started = Instant::now();
        let mut row_params = params.clone();
        row_params.seed = params.seed.wrapping_add(chunk[0].id as u64 * 1000);
        let outputs = answer_rows(opts, &loaded, &templates, &rows, &prompts, &row_params)?;
        let latency_ms = batch_started.elapsed().as_millis() as u64 / rows.len().max(1) as u64;
        tokens_total += outputs.iter().map(|(_, tokens)| tokens).sum::<usize>();
        let mut predictions = graded(&key, &rows, &outputs, latency_ms);
        if k > 1 {
            let votes = majority_votes(&key, k, chunk, &predictions);
            predictions.extend(votes);
        }
        // One transaction per batch: a kill loses at most the batch in flight.
        store.insert_predictions(&predictions)?;
        generated += chunk.len();
        progress(resumed + generated, problems.len());
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(EvalSummary {
        key,
        problems: problems.len(),
        generated,
        resumed,
        seconds,
        tokens_per_s: tokens_total as f64 / seconds.max(1e-9),
        warnings,
    })
}
