//! The oracle teacher: writes planning trajectories for synthetic problems in exactly
//! the form a real teacher's candidates take, with controlled, realistic mistakes, so
//! the whole pipeline (curation, training, evaluation) can run offline and be tested.
//!
//! Each candidate is drawn from its own ChaCha stream keyed by (seed, external id,
//! plan index), so one candidate can be regenerated without the others.
//!
//! Its sentences are terse on purpose: the demo's tiny student learns from them on a
//! 2-core CPU, where every token of a trajectory costs training time.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::data::synth::{Op, Reference, Step, SynthMeta, reference_phrase};
use crate::workspace::records::{NewCandidate, Problem, Sampling};

pub const TEACHER: &str = "oracle";
pub const TEMPERATURE: f32 = 0.7;
/// Random injections tried before the always-valid fallback on the last step.
const INJECTION_TRIES: u32 = 32;
/// Probability that the judge notices a wrong or skipped plan step.
const JUDGE_CATCHES_FLAW: f64 = 0.8;
/// Probability that the judge scores a sound plan generously (>= 70).
const JUDGE_TRUSTS_SOUND_PLAN: f64 = 0.9;

#[derive(Debug, Clone, PartialEq)]
pub struct OracleConfig {
    pub seed: u64,
    /// Probability that a candidate carries an injected error, in [0, 1].
    pub error_rate: f64,
    /// Plans drawn per problem (the paper's N).
    pub plans_per_problem: u32,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            error_rate: 0.3,
            plans_per_problem: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OracleError {
    #[error(
        "oracle: problem `{external_id}` (dataset `{dataset}`) is not synthetic: its metadata lacks the steps/ops the oracle plans from ({reason})"
    )]
    NotSynthetic {
        external_id: String,
        dataset: String,
        reason: String,
    },
    #[error(
        "oracle: problem `{external_id}`: metadata operations give {computed:?} but the gold answer is `{gold}`"
    )]
    GoldMismatch {
        external_id: String,
        computed: Option<i64>,
        gold: String,
    },
    #[error("oracle: error_rate must be within [0, 1], got {0}")]
    BadErrorRate(f64),
}

/// The kind of mistake injected into a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The plan uses a wrong operation or operand; the execution follows it.
    WrongStep,
    /// The plan is sound; one result is miscalculated and the error propagates.
    WrongArithmetic,
    /// The plan leaves out one change; the execution follows it.
    SkippedStep,
}

/// A candidate together with the mistake the oracle put into it (for tests and demos;
/// the store keeps only the candidate, as it would for a real teacher).
#[derive(Debug, Clone, PartialEq)]
pub struct OracleDraft {
    pub candidate: NewCandidate,
    pub fault: Option<Fault>,
}

/// `plans_per_problem` candidates for a synthetic `problem`.
pub fn oracle_candidates(
    problem: &Problem,
    cfg: &OracleConfig,
) -> Result<Vec<NewCandidate>, OracleError> {
    Ok(oracle_drafts(problem, cfg)?
        .into_iter()
        .map(|draft| draft.candidate)
        .collect())
}

/// Like [`oracle_candidates`], also telling which mistake each candidate carries.
pub fn oracle_drafts(
    problem: &Problem,
    cfg: &OracleConfig,
) -> Result<Vec<OracleDraft>, OracleError> {
    if !(0.0..=1.0).contains(&cfg.error_rate) {
        return Err(OracleError::BadErrorRate(cfg.error_rate));
    }
    let fields = &problem.fields;
    let meta =
        SynthMeta::from_metadata(&fields.metadata).map_err(|err| OracleError::NotSynthetic {
            external_id: fields.external_id.clone(),
            dataset: fields.dataset.clone(),
            reason: err.to_string(),
        })?;
    let computed = meta.answer();
    if computed.map(|value| value.to_string()).as_deref() != Some(fields.gold_answer.trim()) {
        return Err(OracleError::GoldMismatch {
            external_id: fields.external_id.clone(),
            computed,
            gold: fields.gold_answer.clone(),
        });
    }
    let gold = computed.unwrap_or_default();
    Ok((0..cfg.plans_per_problem)
        .map(|plan_index| {
            let mut rng = candidate_rng(cfg.seed, &fields.external_id, plan_index);
            let fault = rng.random_bool(cfg.error_rate).then(|| {
                [Fault::WrongStep, Fault::WrongArithmetic, Fault::SkippedStep]
                    [rng.random_range(0..3u32) as usize]
            });
            let trajectory = match fault {
                None => Trajectory::faithful(&meta),
                Some(kind) => inject(&meta, kind, gold, &mut rng),
            };
            OracleDraft {
                candidate: write_candidate(
                    problem.id,
                    plan_index,
                    cfg.seed,
                    &meta,
                    &trajectory,
                    &mut rng,
                ),
                fault,
            }
        })
        .collect())
}

fn candidate_rng(seed: u64, external_id: &str, plan_index: u32) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(b"plantune-oracle");
    hasher.update(seed.to_le_bytes());
    hasher.update((external_id.len() as u64).to_le_bytes());
    hasher.update(external_id.as_bytes());
    hasher.update(plan_index.to_le_bytes());
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

/// One planned change: the operation the plan states, and which change of the question
/// it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlannedStep {
    step: Step,
    source_index: usize,
}

/// What a candidate plans and computes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Trajectory {
    planned: Vec<PlannedStep>,
    /// Result written after each planned step (may contain a miscalculation).
    results: Vec<i64>,
    /// Set when a step of the plan is wrong or missing: which question change it
    /// concerns, for the judge to point at.
    flaw: Option<PlanFlaw>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlanFlaw {
    Wrong { source_index: usize, planned: Step },
    Skipped { source_index: usize },
}

impl Trajectory {
    fn faithful(meta: &SynthMeta) -> Self {
        let planned: Vec<PlannedStep> = meta
            .ops
            .iter()
            .enumerate()
            .map(|(source_index, &step)| PlannedStep { step, source_index })
            .collect();
        Self::follow(meta.start, planned, None, None).unwrap_or(Self {
            planned: Vec::new(),
            results: Vec::new(),
            flaw: None,
        })
    }

    /// Executes `planned` from `start`, replacing the result at `slip` (position,
    /// wrong value) if given. `None` when an operation becomes invalid (a negative
    /// count, an inexact division) so the caller draws another mistake.
    fn follow(
        start: u32,
        planned: Vec<PlannedStep>,
        slip: Option<(usize, i64)>,
        flaw: Option<PlanFlaw>,
    ) -> Option<Self> {
        let mut value = i64::from(start);
        let mut results = Vec::with_capacity(planned.len());
        for (position, planned_step) in planned.iter().enumerate() {
            value = planned_step
                .step
                .op
                .apply(value, i64::from(planned_step.step.operand))?;
            if let Some((slip_position, wrong)) = slip
                && slip_position == position
            {
                value = wrong;
            }
            results.push(value);
        }
        Some(Self {
            planned,
            results,
            flaw,
        })
    }

    fn answer(&self, start: u32) -> i64 {
        self.results.last().copied().unwrap_or(i64::from(start))
    }
}

/// A trajectory carrying a mistake of `kind` whose final answer differs from `gold`.
/// Random placements are tried first; the last change is the fallback, where each
/// kind of mistake always yields a valid, different answer.
fn inject(meta: &SynthMeta, kind: Fault, gold: i64, rng: &mut ChaCha8Rng) -> Trajectory {
    let faithful = Trajectory::faithful(meta);
    let count = meta.ops.len();
    if count == 0 {
        return faithful;
    }
    for _ in 0..INJECTION_TRIES {
        let index = rng.random_range(0..count as u32) as usize;
        let attempt = match kind {
            Fault::SkippedStep => skip(meta, index),
            Fault::WrongStep => {
                let original = meta.ops[index];
                let wrong = if rng.random_bool(0.5) {
                    wrong_operation(original, rng)
                } else {
                    wrong_operand(original, rng)
                };
                replace(meta, index, wrong)
            }
            Fault::WrongArithmetic => {
                let correct = faithful.results[index];
                let magnitude = rng.random_range(1..=9i64);
                let wrong = if rng.random_bool(0.5) {
                    correct + magnitude
                } else {
                    correct - magnitude
                };
                if wrong < 0 {
                    None
                } else {
                    Trajectory::follow(
                        meta.start,
                        faithful.planned.clone(),
                        Some((index, wrong)),
                        None,
                    )
                }
            }
        };
        if let Some(trajectory) = attempt
            && trajectory.answer(meta.start) != gold
        {
            return trajectory;
        }
    }
    last_step_fallback(meta, kind, &faithful)
}

fn last_step_fallback(meta: &SynthMeta, kind: Fault, faithful: &Trajectory) -> Trajectory {
    let last = meta.ops.len() - 1;
    let attempt = match kind {
        Fault::SkippedStep => skip(meta, last),
        Fault::WrongStep => {
            let original = meta.ops[last];
            let wrong = match original.op {
                Op::Div => Step {
                    op: Op::Mul,
                    operand: original.operand,
                },
                _ => Step {
                    op: original.op,
                    operand: original.operand + 1,
                },
            };
            replace(meta, last, wrong)
        }
        Fault::WrongArithmetic => {
            let correct = faithful.results[last];
            Trajectory::follow(
                meta.start,
                faithful.planned.clone(),
                Some((last, correct + 1)),
                None,
            )
        }
    };
    attempt.unwrap_or_else(|| faithful.clone())
}

fn skip(meta: &SynthMeta, index: usize) -> Option<Trajectory> {
    let planned = meta
        .ops
        .iter()
        .enumerate()
        .filter(|&(source_index, _)| source_index != index)
        .map(|(source_index, &step)| PlannedStep { step, source_index })
        .collect();
    Trajectory::follow(
        meta.start,
        planned,
        None,
        Some(PlanFlaw::Skipped {
            source_index: index,
        }),
    )
}

fn replace(meta: &SynthMeta, index: usize, wrong: Step) -> Option<Trajectory> {
    if wrong == meta.ops[index] {
        return None;
    }
    let planned = meta
        .ops
        .iter()
        .enumerate()
        .map(|(source_index, &step)| PlannedStep {
            step: if source_index == index { wrong } else { step },
            source_index,
        })
        .collect();
    Trajectory::follow(
        meta.start,
        planned,
        None,
        Some(PlanFlaw::Wrong {
            source_index: index,
            planned: wrong,
        }),
    )
}

/// The confusions a hurried solver makes: adding instead of removing, multiplying
/// instead of sharing, and back.
fn wrong_operation(original: Step, rng: &mut ChaCha8Rng) -> Step {
    let op = match original.op {
        Op::Add => Op::Sub,
        Op::Sub => Op::Add,
        Op::Mul => {
            if rng.random_bool(0.5) {
                Op::Div
            } else {
                Op::Add
            }
        }
        Op::Div => {
            if rng.random_bool(0.5) {
                Op::Mul
            } else {
                Op::Sub
            }
        }
    };
    Step {
        op,
        operand: original.operand,
    }
}

fn wrong_operand(original: Step, rng: &mut ChaCha8Rng) -> Step {
    let floor = match original.op {
        Op::Add | Op::Sub => 1,
        Op::Mul | Op::Div => 2,
    };
    let shift = rng.random_range(1..=3u32);
    let operand = if rng.random_bool(0.5) || original.operand < floor + shift {
        original.operand + shift
    } else {
        original.operand - shift
    };
    Step {
        op: original.op,
        operand,
    }
}

/// `The class` reads `the class` inside a sentence; names stay as they are.
fn holder_in_sentence(holder: &str) -> String {
    match holder.strip_prefix("The ") {
        Some(rest) => format!("the {rest}"),
        None => holder.to_owned(),
    }
}

fn describe_change(step: Step, object: &str) -> String {
    let n = step.operand;
    match step.op {
        Op::Add => format!("{n} {object} are added"),
        Op::Sub => format!("{n} {object} are taken away"),
        Op::Mul => format!("the number of {object} becomes {n} times as large"),
        Op::Div => format!("the {object} are split into {n} equal shares and one share is kept"),
    }
}

fn reference_of(meta: &SynthMeta, change: usize) -> Option<Reference> {
    meta.back_refs
        .iter()
        .find(|back_ref| back_ref.change as usize == change)
        .map(|back_ref| back_ref.to)
}

/// A plan step that resolves a back-reference to its number, which is what a plan
/// buys the executor: the amount is no longer stated where the change is.
fn referring_plan_text(step: Step, to: Reference) -> String {
    let n = step.operand;
    match (step.op, to) {
        (Op::Add, Reference::Start) => format!("Add the starting count again: {n}."),
        (Op::Sub, Reference::Start) => format!("Subtract the starting count: {n}."),
        (Op::Sub, Reference::PreviousChange) => format!("Subtract the same {n} again."),
        _ => format!("Add the same {n} again."),
    }
}

fn plan_step_text(step: Step, object: &str, rng: &mut ChaCha8Rng) -> String {
    let n = step.operand;
    let variants: [String; 2] = match step.op {
        Op::Add => [
            format!("Add the {n} new {object}."),
            format!("Increase the count by {n}."),
        ],
        Op::Sub => [
            format!("Take away the {n} {object} that leave."),
            format!("Decrease the count by {n}."),
        ],
        Op::Mul => [
            format!("Multiply the count by {n}."),
            format!("Scale the {object} up {n} times."),
        ],
        Op::Div => [
            format!("Divide the count by {n}."),
            format!("Split the {object} into {n} shares and keep one."),
        ],
    };
    let [first, second] = variants;
    if rng.random_bool(0.5) { first } else { second }
}

fn ordinal(index: usize) -> String {
    match index + 1 {
        1 => "first".to_owned(),
        2 => "second".to_owned(),
        3 => "third".to_owned(),
        4 => "fourth".to_owned(),
        5 => "fifth".to_owned(),
        6 => "sixth".to_owned(),
        7 => "seventh".to_owned(),
        8 => "eighth".to_owned(),
        other => format!("{other}th"),
    }
}

fn constraints_text(meta: &SynthMeta) -> String {
    let object = &meta.object;
    let told_last = if meta.start_told_last {
        " (told after the changes)"
    } else {
        ""
    };
    let mut lines = vec![
        "Explicit constraints:".to_owned(),
        format!(
            "- {} starts with {} {object}{told_last}.",
            meta.holder, meta.start
        ),
    ];
    for (index, &step) in meta.ops.iter().enumerate() {
        let reference = match reference_of(meta, index) {
            Some(to) => format!(" ({})", reference_phrase(to)),
            None => String::new(),
        };
        lines.push(format!(
            "- Change {}: {}{reference}.",
            index + 1,
            describe_change(step, object)
        ));
    }
    for distractor in &meta.distractors {
        lines.push(format!(
            "- Not needed: {} (\"{}\").",
            distractor.about, distractor.sentence
        ));
    }
    lines.push(format!(
        "- The question asks how many {object} {} has at the end.",
        holder_in_sentence(&meta.holder)
    ));
    lines.push("Implicit constraints:".to_owned());
    lines.push(format!(
        "- The changes happen in the order given; each applies to the current number of {object}."
    ));
    lines.push(format!(
        "- The number of {object} is always a whole number and never negative."
    ));
    if meta.ops.iter().any(|step| step.op == Op::Div) {
        lines.push(
            "- Equal shares divide the current count exactly, with nothing left over.".to_owned(),
        );
    }
    lines.join("\n")
}

fn write_candidate(
    problem_id: i64,
    plan_index: u32,
    seed: u64,
    meta: &SynthMeta,
    trajectory: &Trajectory,
    rng: &mut ChaCha8Rng,
) -> NewCandidate {
    let object = &meta.object;
    let holder = holder_in_sentence(&meta.holder);
    let mut plan_steps = vec![if meta.start_told_last {
        "Find the starting count, told last.".to_owned()
    } else if rng.random_bool(0.5) {
        format!("Note the starting {object}.")
    } else {
        "Write down the starting count.".to_owned()
    }];
    if !meta.distractors.is_empty() {
        let ignored: Vec<&str> = meta.distractors.iter().map(|d| d.about.as_str()).collect();
        plan_steps.push(format!("Ignore {}.", ignored.join(" and ")));
    }
    for planned in &trajectory.planned {
        // A reference is resolved in the plan only where the plan keeps the
        // question's own step; a corrupted step reads as a plain one.
        let reference = reference_of(meta, planned.source_index)
            .filter(|_| meta.ops.get(planned.source_index) == Some(&planned.step));
        plan_steps.push(match reference {
            Some(to) => referring_plan_text(planned.step, to),
            None => plan_step_text(planned.step, object, rng),
        });
    }
    plan_steps.push(if rng.random_bool(0.5) {
        "Report the final count.".to_owned()
    } else {
        format!("Give the final number of {object}.")
    });
    let plan = plan_steps
        .iter()
        .enumerate()
        .map(|(index, text)| format!("{}. {text}", index + 1))
        .collect::<Vec<_>>()
        .join("\n");

    let answer = trajectory.answer(meta.start);
    let mut execution = vec![format!("Step 1: {} {object}.", meta.start)];
    let mut previous = i64::from(meta.start);
    for (position, (planned, &result)) in trajectory
        .planned
        .iter()
        .zip(&trajectory.results)
        .enumerate()
    {
        execution.push(format!(
            "Step {}: {previous} {} {} = {result}.",
            position + 2,
            planned.step.op.symbol(),
            planned.step.operand
        ));
        previous = result;
    }
    execution.push(format!(
        "Step {}: {holder} ends with {answer} {object}.",
        trajectory.planned.len() + 2
    ));
    execution.push(format!("The answer is \\boxed{{{answer}}}."));

    let (judge_score, judge_text) = judge(meta, trajectory, rng);
    NewCandidate {
        problem_id,
        teacher: TEACHER.to_owned(),
        plan_index,
        constraints: constraints_text(meta),
        plan,
        plan_steps,
        execution: execution.join("\n"),
        extracted_answer: None,
        correct: None,
        grade_reason: String::new(),
        judge_score: Some(judge_score),
        judge_reason: format!("{judge_text}\nScore: {judge_score}"),
        sampling: Sampling {
            model: TEACHER.to_owned(),
            temperature: TEMPERATURE,
            top_p: None,
            max_tokens: None,
            seed: Some(seed),
        },
    }
}

/// An informative but imperfect judge: it sees only the plan, usually catches a wrong
/// or missing step, never sees arithmetic slips, and is sometimes harsh on sound plans.
fn judge(meta: &SynthMeta, trajectory: &Trajectory, rng: &mut ChaCha8Rng) -> (i32, String) {
    let object = &meta.object;
    let sound = format!(
        "The plan starts from the initial number of {object}, handles all {} changes in the order the question gives them, and ends by reporting the final count. It respects every constraint and computes nothing early.",
        meta.ops.len()
    );
    match trajectory.flaw {
        Some(flaw) if rng.random_bool(JUDGE_CATCHES_FLAW) => {
            let score = rng.random_range(-60..=55);
            let text = match flaw {
                PlanFlaw::Wrong {
                    source_index,
                    planned,
                } => format!(
                    "The plan mishandles the {} change: the question says {}, but the plan treats it as if {}. Every later step inherits this mistake.",
                    ordinal(source_index),
                    describe_change(meta.ops[source_index], object),
                    describe_change(planned, object)
                ),
                PlanFlaw::Skipped { source_index } => format!(
                    "The plan never accounts for the {} change ({}), so its final count ignores part of the question.",
                    ordinal(source_index),
                    describe_change(meta.ops[source_index], object)
                ),
            };
            (score, text)
        }
        Some(_) => (rng.random_range(60..=90), sound),
        None if rng.random_bool(JUDGE_TRUSTS_SOUND_PLAN) => (rng.random_range(70..=100), sound),
        None => (
            rng.random_range(30..=69),
            format!(
                "The plan follows the changes in order, but its steps are terse and it never restates the constraints it relies on (whole, non-negative counts of {object}); a reader could misapply a step."
            ),
        ),
    }
}
