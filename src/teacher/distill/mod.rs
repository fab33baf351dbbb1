//! Teacher distillation, the paper's pipeline per problem: constraints → N plans →
//! judge each plan → execute each plan → grade → store every plan as a candidate.
//!
//! Resumable and idempotent: every teacher answer is cached in the store under a hash
//! of (model, messages, sampling), each candidate is stored as soon as it is complete,
//! and problems whose N candidates already exist cost nothing. A killed job restarted
//! with the same settings finishes only what was missing.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minijinja::{Environment, UndefinedBehavior, context};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::chat::{Completion, Message, Teacher, TeacherError, Usage};
use super::client::{ClientConfig, OpenAiClient};
use super::local::LocalTeacher;
use super::parse::{judge_score, plan_steps};
use crate::workspace::config::TeacherKind;
use crate::workspace::records::{NewCandidate, Problem, Sampling};
use crate::workspace::store::{CachedCompletion, Store, StoreError};
use crate::workspace::{Workspace, WorkspaceError};

/// The score a plan gets when the judge's answer has no readable `Score:` line.
pub const UNPARSEABLE_SCORE: i32 = -100;

/// Error messages kept in the report; the counters keep counting past it.
const MAX_REPORTED_ERRORS: usize = 200;

/// What to distil and with which teacher; `None` takes the workspace config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DistillOptions {
    pub dataset: Option<String>,
    pub split: Option<String>,
    /// At most this many problems (in id order) of the selection.
    pub limit: Option<usize>,
    /// Plans per problem (the paper's N).
    pub n_plans: Option<u32>,
    /// Teacher requests in flight at once.
    pub concurrency: Option<usize>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("prompts/{name}.md: {message}")]
    Template { name: &'static str, message: String },
    #[error(transparent)]
    Teacher(#[from] TeacherError),
    #[error(
        "teacher.kind is {kind:?}: distillation needs kind = \"openai\" (a server) or \
         \"local\" (a model run in this process), or a base URL given on the command line"
    )]
    NotOpenAi { kind: TeacherKind },
    #[error(transparent)]
    Local(#[from] crate::infer::engine::ServeError),
    #[error("no problems match the selection (dataset {dataset:?}, split {split:?})")]
    NoProblems {
        dataset: Option<String>,
        split: Option<String>,
    },
    #[error("a distill worker failed: {0}")]
    Worker(String),
}

/// One thing that happened in a job.
#[derive(Debug, Clone, PartialEq)]
pub enum DistillEvent {
    Started {
        problems: usize,
        already_complete: usize,
    },
    /// A teacher call went out (it may wait for a free connection slot).
    CallStarted,
    CallFinished {
        cached: bool,
        usage: Usage,
        latency: Duration,
    },
    CallFailed {
        problem_id: i64,
        error: String,
    },
    CandidateStored {
        problem_id: i64,
        plan_index: u32,
        /// False when the store already held it (another job got there first).
        new: bool,
    },
    ProblemDone {
        problem_id: i64,
        failed_plans: usize,
    },
    Finished,
}

/// Running totals of a job, handed to the progress callback with every event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DistillProgress {
    pub problems_total: usize,
    /// Problems finished in this job, failures and already-complete ones included.
    pub problems_done: usize,
    /// Problems whose candidates were all stored before this job started.
    pub problems_already_complete: usize,
    pub candidates_new: usize,
    /// Calls issued and not yet answered (some may wait for a connection slot).
    pub calls_in_flight: usize,
    /// Calls answered by the teacher in this job.
    pub calls_answered: u64,
    /// Calls answered from the cache.
    pub calls_cached: u64,
    /// Calls that failed after their retries.
    pub errors: usize,
    /// Tokens paid for in this job (cached answers cost none).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub last_error: Option<String>,
}

impl DistillProgress {
    fn apply(&mut self, event: &DistillEvent) {
        match event {
            DistillEvent::Started {
                problems,
                already_complete,
            } => {
                self.problems_total = *problems;
                self.problems_already_complete = *already_complete;
                self.problems_done = *already_complete;
            }
            DistillEvent::CallStarted => self.calls_in_flight += 1,
            DistillEvent::CallFinished { cached, usage, .. } => {
                if *cached {
                    self.calls_cached += 1;
                } else {
                    self.calls_in_flight = self.calls_in_flight.saturating_sub(1);
                    self.calls_answered += 1;
                    self.prompt_tokens += usage.prompt_tokens;
                    self.completion_tokens += usage.completion_tokens;
                }
            }
            DistillEvent::CallFailed { error, .. } => {
                self.calls_in_flight = self.calls_in_flight.saturating_sub(1);
                self.errors += 1;
                self.last_error = Some(error.clone());
            }
            DistillEvent::CandidateStored { new, .. } => {
                self.candidates_new += usize::from(*new);
            }
            DistillEvent::ProblemDone { .. } => self.problems_done += 1,
            DistillEvent::Finished => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistillReport {
    /// How candidates record the teacher, e.g. `openai:gpt-4o-mini`.
    pub teacher: String,
    pub totals: DistillProgress,
    /// The failed calls' messages (the first [`MAX_REPORTED_ERRORS`]).
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

impl DistillReport {
    /// True when every selected problem has all its candidates.
    pub fn complete(&self) -> bool {
        self.totals.errors == 0
    }
}

/// Distils with the workspace's teacher: the OpenAI-compatible client (`teacher.kind =
/// "openai"`, or any kind when a base URL is given) or a model run in this process
/// (`"local"`, `teacher.model` naming it), the option overrides applied.
pub async fn distill(
    ws: &Workspace,
    opts: &DistillOptions,
    progress: impl FnMut(&DistillEvent, &DistillProgress),
) -> Result<DistillReport, DistillError> {
    let mut section = ws.config.teacher.clone();
    if opts.base_url.is_none() {
        match section.kind {
            TeacherKind::Openai => {}
            TeacherKind::Local => {
                let model = opts.model.as_ref().unwrap_or(&section.model);
                let teacher = LocalTeacher::load(Path::new(model), Some(&ws.root))?;
                return distill_with(ws, Arc::new(teacher), opts, progress).await;
            }
            TeacherKind::Oracle => return Err(DistillError::NotOpenAi { kind: section.kind }),
        }
    }
    if let Some(url) = &opts.base_url {
        section.base_url = url.clone();
    }
    if let Some(model) = &opts.model {
        section.model = model.clone();
    }
    if let Some(env) = &opts.api_key_env {
        section.api_key_env = env.clone();
    }
    if let Some(concurrency) = opts.concurrency {
        section.concurrency = concurrency;
    }
    let client = OpenAiClient::new(ClientConfig::from_section(&section))?;
    distill_with(ws, Arc::new(client), opts, progress).await
}

/// Distils with any teacher (the HTTP client, a local model, a test fake).
pub async fn distill_with<T: Teacher + 'static>(
    ws: &Workspace,
    teacher: Arc<T>,
    opts: &DistillOptions,
    mut progress: impl FnMut(&DistillEvent, &DistillProgress),
) -> Result<DistillReport, DistillError> {
    let started = Instant::now();
    let prompts = Prompts::load(ws)?;
    let settings = &ws.config.distill;
    let n_plans = opts.n_plans.unwrap_or(settings.n_plans).max(1);
    let concurrency = opts
        .concurrency
        .unwrap_or(ws.config.teacher.concurrency)
        .max(1);
    let label = teacher.label();
    let sampling = Sampling {
        model: teacher.model().to_owned(),
        temperature: settings.temperature,
        top_p: Some(settings.top_p),
        max_tokens: Some(settings.max_tokens),
        seed: Some(settings.seed),
    };

    let store = ws.store()?;
    let mut problems = store.problems(opts.dataset.as_deref(), opts.split.as_deref())?;
    if let Some(limit) = opts.limit {
        problems.truncate(limit);
    }
    if problems.is_empty() {
        return Err(DistillError::NoProblems {
            dataset: opts.dataset.clone(),
            split: opts.split.clone(),
        });
    }
    let mut jobs = Vec::new();
    let mut already_complete = 0;
    for problem in problems.iter() {
        let stored: HashSet<u32> = store
            .candidates_for_problem(problem.id)?
            .into_iter()
            .filter(|c| c.fields.teacher == label)
            .map(|c| c.fields.plan_index)
            .collect();
        let missing: Vec<u32> = (0..n_plans).filter(|i| !stored.contains(i)).collect();
        if missing.is_empty() {
            already_complete += 1;
        } else {
            jobs.push((problem.clone(), missing));
        }
    }

    let (events, mut received) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        teacher,
        store: Arc::new(Mutex::new(store)),
        prompts,
        label: label.clone(),
        sampling,
        events,
    });
    let mut totals = DistillProgress::default();
    let mut errors = Vec::new();
    let mut observe = |event: DistillEvent, totals: &mut DistillProgress| {
        if let DistillEvent::CallFailed { error, .. } = &event
            && errors.len() < MAX_REPORTED_ERRORS
        {
            errors.push(error.clone());
        }
        totals.apply(&event);
        progress(&event, totals);
    };
    observe(
        DistillEvent::Started {
            problems: problems.len(),
            already_complete,
        },
        &mut totals,
    );

    let mut pending = jobs.into_iter();
    let mut running = JoinSet::new();
    // Whole problems are the unit of scheduling; each fans out to 2N+1 calls, and the
    // teacher's own semaphore bounds what reaches the network.
    for (problem, missing) in pending.by_ref().take(concurrency) {
        running.spawn(run_problem(ctx.clone(), problem, missing));
    }
    while !running.is_empty() {
        tokio::select! {
            biased;
            Some(event) = received.recv() => observe(event, &mut totals),
            Some(joined) = running.join_next() => {
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(fatal)) => return Err(fatal),
                    Err(join) => return Err(DistillError::Worker(join.to_string())),
                }
                if let Some((problem, missing)) = pending.next() {
                    running.spawn(run_problem(ctx.clone(), problem, missing));
                }
            }
        }
    }
    while let Ok(event) = received.try_recv() {
        observe(event, &mut totals);
    }
    observe(DistillEvent::Finished, &mut totals);
    Ok(DistillReport {
        teacher: label,
        totals,
        errors,
        elapsed: started.elapsed(),
    })
}

/// The execute step's messages for `plan`, from the workspace's templates: what the
/// pipeline sends, for callers that execute a plan outside a distill job.
pub fn execute_messages(
    ws: &Workspace,
    question: &str,
    plan: &str,
) -> Result<Vec<Message>, DistillError> {
    Prompts::load(ws)?.execute(question, plan)
}

/// Runs the execute step once on `plan` (e.g. a plan a curator edited) with the
/// workspace's teacher, sampled as `sampling` says. Nothing is cached: the caller
/// stores the answer where it belongs. The oracle writes whole trajectories from the
/// synthetic task itself, so it cannot follow a given plan and is refused.
pub async fn execute_plan(
    ws: &Workspace,
    question: &str,
    plan: &str,
    sampling: &Sampling,
) -> Result<Completion, DistillError> {
    let messages = execute_messages(ws, question, plan)?;
    let section = &ws.config.teacher;
    let completion = match section.kind {
        TeacherKind::Openai => {
            let client = OpenAiClient::new(ClientConfig::from_section(section))?;
            client.complete(&messages, sampling).await?
        }
        TeacherKind::Local => {
            let teacher = LocalTeacher::load(Path::new(&section.model), Some(&ws.root))?;
            teacher.complete(&messages, sampling).await?
        }
        TeacherKind::Oracle => return Err(DistillError::NotOpenAi { kind: section.kind }),
    };
    Ok(completion)
}

/// The four prompt templates, checked before any call so a typo fails the job at once.
struct Prompts {
    env: Environment<'static>,
    constraints: String,
    plan: String,
    judge: String,
    execute: String,
}

impl Prompts {
    fn load(ws: &Workspace) -> Result<Self, DistillError> {
        let mut env = Environment::new();
        // A misspelt placeholder would otherwise send the teacher an empty section.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let prompts = Self {
            env,
            constraints: ws.prompt("constraints")?,
            plan: ws.prompt("plan")?,
            judge: ws.prompt("judge")?,
            execute: ws.prompt("execute")?,
        };
        prompts.constraints("q")?;
        prompts.plan("q", "c")?;
        prompts.judge("q", "c", "p")?;
        prompts.execute("q", "p")?;
        Ok(prompts)
    }

    fn render(
        &self,
        name: &'static str,
        source: &str,
        values: minijinja::Value,
    ) -> Result<Vec<Message>, DistillError> {
        let text = self
            .env
            .render_str(source, values)
            .map_err(|e| DistillError::Template {
                name,
                message: match e.line() {
                    Some(line) => format!("line {line}: {e}"),
                    None => e.to_string(),
                },
            })?;
        Ok(vec![Message::user(text)])
    }

    fn constraints(&self, question: &str) -> Result<Vec<Message>, DistillError> {
        self.render("constraints", &self.constraints, context! { question })
    }

    fn plan(&self, question: &str, constraints: &str) -> Result<Vec<Message>, DistillError> {
        self.render("plan", &self.plan, context! { question, constraints })
    }

    fn judge(
        &self,
        question: &str,
        constraints: &str,
        plan: &str,
    ) -> Result<Vec<Message>, DistillError> {
        self.render(
            "judge",
            &self.judge,
            context! { question, constraints, plan },
        )
    }

    fn execute(&self, question: &str, plan: &str) -> Result<Vec<Message>, DistillError> {
        self.render("execute", &self.execute, context! { question, plan })
    }
}

struct Context<T> {
    teacher: Arc<T>,
    store: Arc<Mutex<Store>>,
    prompts: Prompts,
    label: String,
    /// The job's sampling for plans and executions; per-plan seeds derive from it.
    sampling: Sampling,
    events: mpsc::UnboundedSender<DistillEvent>,
}

/// Identifies one teacher call for the cache: the same key means the same request.
pub fn cache_key(messages: &[Message], sampling: &Sampling) -> String {
    let material = serde_json::json!({
        "v": 1,
        "model": sampling.model,
        "messages": messages,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
    });
    format!("{:x}", Sha256::digest(material.to_string().as_bytes()))
}

impl<T: Teacher + 'static> Context<T> {
    fn emit(&self, event: DistillEvent) {
        // The receiver lives as long as the job; a send can only fail after it gave up.
        let _ = self.events.send(event);
    }

    async fn with_store<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, DistillError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store
                .lock()
                .map_err(|_| DistillError::Worker("the store lock was poisoned".into()))?;
            Ok(work(&mut guard)?)
        })
        .await
        .map_err(|e| DistillError::Worker(e.to_string()))?
    }

    /// Sampling for the calls about plan `index` (`None`: the constraints call).
    /// Constraints and judgements are greedy: they are analysis, not samples.
    fn sampling_for(&self, index: Option<u32>, greedy: bool) -> Sampling {
        let base = self.sampling.seed.unwrap_or(0);
        Sampling {
            temperature: if greedy {
                0.0
            } else {
                self.sampling.temperature
            },
            seed: Some(base.wrapping_add(u64::from(index.unwrap_or(0)))),
            ..self.sampling.clone()
        }
    }

    /// One teacher call through the cache. The outer error is fatal (the store); the
    /// inner one fails only this call.
    async fn call(
        &self,
        problem_id: i64,
        messages: Vec<Message>,
        sampling: &Sampling,
    ) -> Result<Result<Completion, TeacherError>, DistillError> {
        let key = cache_key(&messages, sampling);
        let lookup = key.clone();
        if let Some(hit) = self
            .with_store(move |store| store.cached_completion(&lookup))
            .await?
        {
            let usage = Usage {
                prompt_tokens: hit.prompt_tokens,
                completion_tokens: hit.completion_tokens,
            };
            self.emit(DistillEvent::CallFinished {
                cached: true,
                usage,
                latency: Duration::ZERO,
            });
            return Ok(Ok(Completion {
                text: hit.text,
                finish_reason: hit.finish_reason,
                usage,
                latency: Duration::ZERO,
                attempts: 0,
            }));
        }
        self.emit(DistillEvent::CallStarted);
        match self.teacher.complete(&messages, sampling).await {
            Ok(completion) => {
                let cached = CachedCompletion {
                    text: completion.text.clone(),
                    finish_reason: completion.finish_reason.clone(),
                    prompt_tokens: completion.usage.prompt_tokens,
                    completion_tokens: completion.usage.completion_tokens,
                    latency_ms: completion.latency.as_millis() as u64,
                };
                let model = sampling.model.clone();
                self.with_store(move |store| store.put_cached_completion(&key, &model, &cached))
                    .await?;
                self.emit(DistillEvent::CallFinished {
                    cached: false,
                    usage: completion.usage,
                    latency: completion.latency,
                });
                Ok(Ok(completion))
            }
            Err(error) => {
                self.emit(DistillEvent::CallFailed {
                    problem_id,
                    error: error.to_string(),
                });
                Ok(Err(error))
            }
        }
    }

    /// Plan → (judge, execute) → grade → store, for one plan index. Returns false when
    /// a call failed and the candidate was left for a later run.
    async fn candidate(
        &self,
        problem: &Problem,
        constraints: &str,
        index: u32,
    ) -> Result<bool, DistillError> {
        let question = problem.fields.question.as_str();
        let plan_sampling = self.sampling_for(Some(index), false);
        let messages = self.prompts.plan(question, constraints)?;
        let Ok(plan) = self.call(problem.id, messages, &plan_sampling).await? else {
            return Ok(false);
        };
        let plan = plan.text.trim().to_owned();
        let judge_messages = self.prompts.judge(question, constraints, &plan)?;
        let execute_messages = self.prompts.execute(question, &plan)?;
        let judge_sampling = self.sampling_for(Some(index), true);
        let (judgement, execution) = tokio::join!(
            self.call(problem.id, judge_messages, &judge_sampling),
            self.call(problem.id, execute_messages, &plan_sampling),
        );
        let (Ok(judgement), Ok(execution)) = (judgement?, execution?) else {
            return Ok(false);
        };
        let (extracted_answer, correct, grade_reason) =
            grade_execution(&execution.text, &problem.fields.gold_answer, question);
        let candidate = NewCandidate {
            problem_id: problem.id,
            teacher: self.label.clone(),
            plan_index: index,
            constraints: constraints.to_owned(),
            plan_steps: plan_steps(&plan),
            plan,
            execution: execution.text,
            extracted_answer,
            correct,
            grade_reason,
            judge_score: Some(judge_score(&judgement.text).unwrap_or(UNPARSEABLE_SCORE)),
            judge_reason: judgement.text,
            sampling: plan_sampling,
        };
        let inserted = self
            .with_store(move |store| store.insert_candidates(&[candidate]))
            .await?;
        self.emit(DistillEvent::CandidateStored {
            problem_id: problem.id,
            plan_index: index,
            new: inserted == 1,
        });
        Ok(true)
    }
}

async fn run_problem<T: Teacher + 'static>(
    ctx: Arc<Context<T>>,
    problem: Problem,
    missing: Vec<u32>,
) -> Result<(), DistillError> {
    let messages = ctx.prompts.constraints(&problem.fields.question)?;
    let sampling = ctx.sampling_for(None, true);
    let constraints = match ctx.call(problem.id, messages, &sampling).await? {
        Ok(completion) => completion.text.trim().to_owned(),
        Err(_) => {
            ctx.emit(DistillEvent::ProblemDone {
                problem_id: problem.id,
                failed_plans: missing.len(),
            });
            return Ok(());
        }
    };
    let problem = Arc::new(problem);
    let constraints: Arc<str> = constraints.into();
    let mut plans = JoinSet::new();
    for index in missing {
        let (ctx, problem, constraints) = (ctx.clone(), problem.clone(), constraints.clone());
        plans.spawn(async move { ctx.candidate(&problem, &constraints, index).await });
    }
    let mut failed_plans = 0;
    while let Some(joined) = plans.join_next().await {
        let stored = joined.map_err(|e| DistillError::Worker(e.to_string()))??;
        failed_plans += usize::from(!stored);
    }
    ctx.emit(DistillEvent::ProblemDone {
        problem_id: problem.id,
        failed_plans,
    });
    Ok(())
}

/// Grades a teacher's execution against the gold answer with the project's grader
/// (extraction, normalisation, mathematical equivalence); the question gives context
/// such as "what percent".
pub fn grade_execution(
    text: &str,
    gold: &str,
    question: &str,
) -> (Option<String>, Option<bool>, String) {
    let verdict = crate::grade::grade_with(
        text,
        gold,
        &crate::grade::GradeOptions {
            question: Some(question),
        },
    );
    (verdict.extracted, Some(verdict.correct), verdict.reason)
}

#[cfg(test)]
mod tests;
