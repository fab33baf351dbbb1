//! Teacher distillation, the paper's pipeline per problem: constraints → N plans →
//! judge each plan → execute each plan → grade → store every plan as a candidate.
//!
//! Resumable and idempotent: every teacher answer is cached in the store under a hash
//! of (model, messages, sampling), each candidate is stored as soon as it is complete,
//! and problems whose N candidates already exist cost nothing. A killed job restarted
//! with the same settings finishes only what was missing.

mod events;
mod plans;
mod prompts;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::chat::{Completion, Message, Teacher, TeacherError, Usage};
use super::client::{ClientConfig, OpenAiClient};
use super::local::LocalTeacher;
use super::parse::{judge_score, plan_steps};
use crate::workspace::config::{Stage, TeacherKind};
use crate::workspace::records::{NewCandidate, Problem, Sampling};
use crate::workspace::store::{CachedCompletion, PlanDiversity, StageFinish, Store, StoreError};
use crate::workspace::{Workspace, WorkspaceError};
pub use events::{DistillEvent, DistillProgress};
pub use plans::{Claim, PlanSet, normalise_plan};
use prompts::Prompts;

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
        max_tokens: None,
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
    let (jobs, already_complete) = pending_jobs(&store, &problems, &label, n_plans)?;

    let (events, mut received) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        teacher,
        store: Arc::new(Mutex::new(store)),
        prompts,
        label: label.clone(),
        sampling,
        settings: settings.clone(),
        seed_warned: AtomicBool::new(false),
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
    for job in pending.by_ref().take(concurrency) {
        running.spawn(run_problem(ctx.clone(), job));
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
                if let Some(job) = pending.next() {
                    running.spawn(run_problem(ctx.clone(), job));
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

/// The problems that still miss some of their `n_plans` plans from `label`, each with
/// the plans it already has (so a repeat is recognised), and how many are complete.
fn pending_jobs(
    store: &Store,
    problems: &[Problem],
    label: &str,
    n_plans: u32,
) -> Result<(Vec<ProblemJob>, usize), DistillError> {
    let mut jobs = Vec::new();
    let mut already_complete = 0;
    for problem in problems.iter() {
        let candidates: Vec<_> = store
            .candidates_for_problem(problem.id)?
            .into_iter()
            .filter(|c| c.fields.teacher == label)
            .collect();
        let stored: HashSet<u32> = candidates.iter().map(|c| c.fields.plan_index).collect();
        let missing: Vec<u32> = (0..n_plans).filter(|i| !stored.contains(i)).collect();
        if missing.is_empty() {
            already_complete += 1;
        } else {
            let plans = PlanSet::new(
                candidates
                    .into_iter()
                    .map(|c| (c.fields.plan, c.fields.sampling.seed)),
            );
            jobs.push(ProblemJob {
                problem: problem.clone(),
                missing,
                plans,
            });
        }
    }
    Ok((jobs, already_complete))
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

/// One problem's share of a job: the plan indices it lacks and the plans it has.
struct ProblemJob {
    problem: Problem,
    missing: Vec<u32>,
    plans: PlanSet,
}

/// How far apart the seeds of a plan index's successive asks are: far enough that no
/// other index's first seed is reused, whatever N is.
const RETRY_SEED_STRIDE: u64 = 1_000_003;

struct Context<T> {
    teacher: Arc<T>,
    store: Arc<Mutex<Store>>,
    prompts: Prompts,
    label: String,
    /// The job's sampling for plans and executions; per-plan seeds derive from it.
    sampling: Sampling,
    settings: crate::workspace::config::DistillSection,
    /// Set once the job has warned that the server ignores seeds.
    seed_warned: AtomicBool,
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

    /// Sampling for one stage's call about plan `index` (`None`: the constraints
    /// call), on its `attempt`-th ask. Constraints and judgements are greedy: they are
    /// analysis, not samples; each stage has its own token limit.
    fn sampling_for(&self, stage: Stage, index: Option<u32>, attempt: u32) -> Sampling {
        let base = self.sampling.seed.unwrap_or(0);
        let greedy = matches!(stage, Stage::Constraints | Stage::Judge);
        Sampling {
            temperature: if greedy {
                0.0
            } else {
                self.sampling.temperature
            },
            max_tokens: Some(self.settings.max_tokens_for(stage)),
            seed: Some(
                base.wrapping_add(u64::from(index.unwrap_or(0)))
                    .wrapping_add(u64::from(attempt).wrapping_mul(RETRY_SEED_STRIDE)),
            ),
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

    /// A plan for `index` that the problem does not have yet: asked again with new
    /// seeds (at most `plan_attempts` times) while the answer repeats a known plan.
    /// `Ok(None)`: a call failed; `Ok(Some(None))`: only duplicates came back.
    async fn distinct_plan(
        &self,
        problem: &Problem,
        constraints: &str,
        index: u32,
        plans: &PlanSet,
    ) -> Result<Option<Option<(Completion, Sampling)>>, DistillError> {
        let messages = self.prompts.plan(&problem.fields.question, constraints)?;
        for attempt in 0..self.settings.plan_attempts.max(1) {
            let sampling = self.sampling_for(Stage::Plan, Some(index), attempt);
            let Ok(mut answer) = self.call(problem.id, messages.clone(), &sampling).await? else {
                return Ok(None);
            };
            answer.text = answer.text.trim().to_owned();
            self.emit(DistillEvent::PlanAsked {
                problem_id: problem.id,
            });
            match plans.claim(&answer.text, sampling.seed) {
                Claim::New => return Ok(Some(Some((answer, sampling)))),
                Claim::Duplicate { first_seed } => {
                    self.emit(DistillEvent::PlanDuplicate {
                        problem_id: problem.id,
                        plan_index: index,
                        seed: sampling.seed,
                    });
                    // Same messages, another seed, sampled: the text should differ.
                    if sampling.temperature > 0.0
                        && first_seed != sampling.seed
                        && !self.seed_warned.swap(true, Ordering::Relaxed)
                    {
                        self.emit(DistillEvent::SeedIgnored {
                            problem_id: problem.id,
                        });
                    }
                }
            }
        }
        Ok(Some(None))
    }

    /// Plan → (judge, execute) → grade → store, for one plan index. Returns false when
    /// a call failed and the candidate was left for a later run (a plan index that got
    /// only duplicates is not a failure: there is nothing new to store).
    async fn candidate(
        &self,
        problem: &Problem,
        constraints: &Completion,
        index: u32,
        plans: &PlanSet,
    ) -> Result<bool, DistillError> {
        let question = problem.fields.question.as_str();
        let constraints_text = constraints.text.as_str();
        let (plan, plan_sampling) = match self
            .distinct_plan(problem, constraints_text, index, plans)
            .await?
        {
            None => return Ok(false),
            Some(None) => return Ok(true),
            Some(Some(found)) => found,
        };
        let judge_messages = self.prompts.judge(question, constraints_text, &plan.text)?;
        let execute_messages = self.prompts.execute(question, &plan.text)?;
        let judge_sampling = Sampling {
            seed: plan_sampling.seed,
            ..self.sampling_for(Stage::Judge, Some(index), 0)
        };
        let execute_sampling = Sampling {
            max_tokens: Some(self.settings.max_tokens_for(Stage::Execute)),
            ..plan_sampling.clone()
        };
        let (judgement, execution) = tokio::join!(
            self.call(problem.id, judge_messages, &judge_sampling),
            self.call(problem.id, execute_messages, &execute_sampling),
        );
        let (Ok(judgement), Ok(execution)) = (judgement?, execution?) else {
            return Ok(false);
        };
        let finish = StageFinish {
            constraints: constraints.finish_reason.clone(),
            plan: plan.finish_reason.clone(),
            judge: judgement.finish_reason.clone(),
            execution: execution.finish_reason.clone(),
        };
        let (extracted_answer, correct, grade_reason) =
            grade_execution(&execution.text, &problem.fields.gold_answer, question);
        let candidate = NewCandidate {
            problem_id: problem.id,
            teacher: self.label.clone(),
            plan_index: index,
            constraints: constraints_text.to_owned(),
            plan_steps: plan_steps(&plan.text),
            plan: plan.text,
            execution: execution.text,
            extracted_answer,
            correct,
            grade_reason,
            judge_score: Some(judge_score(&judgement.text).unwrap_or(UNPARSEABLE_SCORE)),
            judge_reason: judgement.text,
            // What re-executing an edited plan needs: the execution's sampling.
            sampling: execute_sampling,
        };
        let truncated = finish.truncated();
        let inserted = self
            .with_store(move |store| store.insert_candidate_with_finish(&candidate, &finish))
            .await?;
        self.emit(DistillEvent::CandidateStored {
            problem_id: problem.id,
            plan_index: index,
            new: inserted == 1,
            truncated,
        });
        Ok(true)
    }
}

async fn run_problem<T: Teacher + 'static>(
    ctx: Arc<Context<T>>,
    job: ProblemJob,
) -> Result<(), DistillError> {
    let ProblemJob {
        problem,
        missing,
        plans,
    } = job;
    let messages = ctx.prompts.constraints(&problem.fields.question)?;
    let sampling = ctx.sampling_for(Stage::Constraints, None, 0);
    let constraints = match ctx.call(problem.id, messages, &sampling).await? {
        Ok(completion) => Completion {
            text: completion.text.trim().to_owned(),
            ..completion
        },
        Err(_) => {
            ctx.emit(DistillEvent::ProblemDone {
                problem_id: problem.id,
                failed_plans: missing.len(),
            });
            return Ok(());
        }
    };
    let problem = Arc::new(problem);
    let constraints = Arc::new(constraints);
    let plans = Arc::new(plans);
    let mut tasks = JoinSet::new();
    for index in missing {
        let (ctx, problem, constraints, plans) = (
            ctx.clone(),
            problem.clone(),
            constraints.clone(),
            plans.clone(),
        );
        tasks.spawn(async move { ctx.candidate(&problem, &constraints, index, &plans).await });
    }
    let mut failed_plans = 0;
    while let Some(joined) = tasks.join_next().await {
        let stored = joined.map_err(|e| DistillError::Worker(e.to_string()))??;
        failed_plans += usize::from(!stored);
    }
    let diversity = PlanDiversity {
        asked: plans.asked(),
        distinct: plans.distinct(),
    };
    let (id, label) = (problem.id, ctx.label.clone());
    ctx.with_store(move |store| store.record_plan_diversity(id, &label, diversity))
        .await?;
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
