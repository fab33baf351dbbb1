//! GRPO's reward components. Each is named and weighted, and logged separately; the
//! total is their weighted sum. New rewards implement [`Reward`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grade::{GradeOptions, grade_with};
use crate::teacher::parse::{judge_score, last_boxed, plan_steps};

/// What a reward sees of one completion.
#[derive(Debug, Clone)]
pub struct RolloutView<'a> {
    pub question: &'a str,
    pub gold: &'a str,
    /// The accepted teacher plan for this problem, when there is one.
    pub reference_plan: Option<&'a str>,
    pub completion: &'a str,
    pub completion_tokens: usize,
    pub truncated: bool,
    pub max_new_tokens: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error("reward {name}: {message}")]
    Failed { name: String, message: String },
}

pub trait Reward: Send + Sync {
    fn name(&self) -> &str;
    /// One score per rollout, in order. Batched so a remote judge can score a whole
    /// step's completions concurrently.
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError>;
}

/// The plan and the execution of a method-1 completion (`Plan:` … `Execution:` …).
pub fn split_plan(completion: &str) -> Option<(&str, &str)> {
    let plan_at = completion.find("Plan:")?;
    let rest = &completion[plan_at + "Plan:".len()..];
    let exec_at = rest.find("Execution:")?;
    Some((
        rest[..exec_at].trim(),
        rest[exec_at + "Execution:".len()..].trim(),
    ))
}

/// R_ans: `value` when the grader finds the completion's answer equivalent to the
/// gold answer (the paper uses 2), else 0.
pub struct AnswerReward {
    pub value: f64,
}

impl AnswerReward {
    pub fn correct(r: &RolloutView) -> bool {
        grade_with(
            r.completion,
            r.gold,
            &GradeOptions {
                question: Some(r.question),
            },
        )
        .correct
    }
}

impl Reward for AnswerReward {
    fn name(&self) -> &str {
        "answer"
    }
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError> {
        Ok(rollouts
            .iter()
            .map(|r| if Self::correct(r) { self.value } else { 0.0 })
            .collect())
    }
}

/// Format: a third each for a plan with at least one step, an execution after it,
/// and a closed `\boxed{}` answer inside the execution.
pub struct FormatReward;

impl Reward for FormatReward {
    fn name(&self) -> &str {
        "format"
    }
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError> {
        Ok(rollouts
            .iter()
            .map(|r| match split_plan(r.completion) {
                None => 0.0,
                Some((plan, execution)) => {
                    let parts = [
                        !plan_steps(plan).is_empty(),
                        !execution.is_empty(),
                        last_boxed(execution).is_some(),
                    ];
                    parts.iter().filter(|&&p| p).count() as f64 / 3.0
                }
            })
            .collect())
    }
}

fn step_words(step: &str) -> Vec<String> {
    let mut words: Vec<String> = step
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

fn jaccard(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.iter().filter(|w| b.binary_search(w).is_ok()).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// Offline plan similarity in [0, 1]: the best order-preserving alignment of the two
/// plans' steps (word-set Jaccard per aligned pair), divided by the longer plan's step
/// count, so missing, extra and reordered steps all cost.
pub fn step_alignment(plan: &str, reference: &str) -> f64 {
    let a: Vec<Vec<String>> = plan_steps(plan).iter().map(|s| step_words(s)).collect();
    let b: Vec<Vec<String>> = plan_steps(reference)
        .iter()
        .map(|s| step_words(s))
        .collect();
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut best = vec![vec![0.0f64; b.len() + 1]; a.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let matched = best[i - 1][j - 1] + jaccard(&a[i - 1], &b[j - 1]);
            best[i][j] = matched.max(best[i - 1][j]).max(best[i][j - 1]);
        }
    }
    best[a.len()][b.len()] / a.len().max(b.len()) as f64
}

/// R_plan, offline: [`step_alignment`] of the student's plan with the teacher's.
pub struct LocalPlanReward;

impl Reward for LocalPlanReward {
    fn name(&self) -> &str {
        "plan"
    }
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError> {
        Ok(rollouts
            .iter()
            .map(|r| match (split_plan(r.completion), r.reference_plan) {
                (Some((plan, _)), Some(reference)) => step_alignment(plan, reference),
                _ => 0.0,
            })
            .collect())
    }
}

/// R_plan through the teacher: the judge's 0–100 similarity score divided by 100;
/// an unparseable judgement scores 0 (and a failed call fails the step, rather than
/// silently training on a different reward).
pub struct TeacherPlanReward<T: crate::teacher::chat::Teacher> {
    pub teacher: T,
    pub template: String,
    pub runtime: tokio::runtime::Runtime,
    pub max_tokens: u32,
}

impl<T: crate::teacher::chat::Teacher> Reward for TeacherPlanReward<T> {
    fn name(&self) -> &str {
        "plan"
    }
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError> {
        let fail = |message: String| RewardError::Failed {
            name: "plan".into(),
            message,
        };
        let mut prompts = Vec::with_capacity(rollouts.len());
        for r in rollouts {
            let prompt = match (split_plan(r.completion), r.reference_plan) {
                (Some((plan, _)), Some(reference)) if !plan.is_empty() => Some(
                    crate::workspace::prompt::render(
                        "plan_similarity",
                        &self.template,
                        minijinja::context! { question => r.question, reference, plan },
                    )
                    .map_err(|e| fail(e.to_string()))?,
                ),
                _ => None,
            };
            prompts.push(prompt);
        }
        let sampling = crate::workspace::records::Sampling {
            model: String::new(),
            temperature: 0.0,
            top_p: None,
            max_tokens: Some(self.max_tokens),
            seed: Some(0),
        };
        let calls = prompts.iter().map(|prompt| {
            let sampling = &sampling;
            async move {
                let Some(prompt) = prompt else {
                    return Ok(0.0);
                };
                let messages = [crate::teacher::chat::Message::user(prompt.clone())];
                let answer = self.teacher.complete(&messages, sampling).await?;
                Ok::<f64, crate::teacher::chat::TeacherError>(
                    judge_score(&answer.text)
                        .map(|s| f64::from(s.clamp(0, 100)) / 100.0)
                        .unwrap_or(0.0),
                )
            }
        });
        let results = self.runtime.block_on(futures_util::future::join_all(calls));
        results
            .into_iter()
            .map(|r| r.map_err(|e| fail(e.to_string())))
            .collect()
    }
}

/// DAPO's soft overlong penalty: 0 up to `max − cache` tokens, then falling linearly
/// to −1 at `max` (and −1 for a truncated completion).
pub struct LengthPenalty {
    pub cache: usize,
}

impl Reward for LengthPenalty {
    fn name(&self) -> &str {
        "length"
    }
    fn score(&self, rollouts: &[RolloutView]) -> Result<Vec<f64>, RewardError> {
        Ok(rollouts
            .iter()
            .map(|r| {
                if r.truncated {
                    return -1.0;
                }
                let free = r.max_new_tokens.saturating_sub(self.cache);
                if r.completion_tokens <= free || self.cache == 0 {
                    0.0
                } else {
                    -((r.completion_tokens - free) as f64 / self.cache as f64).min(1.0)
                }
            })
            .collect())
    }
}

/// Weights of the reward components (0 leaves a component out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardWeights {
    /// R_ans is 2 when correct (the paper's value) times this weight.
    pub answer: f64,
    pub format: f64,
    pub plan: f64,
    pub length: f64,
    /// Tokens before the length limit where the soft length penalty starts.
    pub length_cache: usize,
    /// `local` (step alignment, offline) or `teacher` (the workspace's teacher judges).
    pub plan_judge: PlanJudge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanJudge {
    Local,
    Teacher,
}

impl Default for RewardWeights {
    fn default() -> Self {
        Self {
            answer: 1.0,
            format: 0.5,
            plan: 0.5,
            length: 0.0,
            length_cache: 32,
            plan_judge: PlanJudge::Local,
        }
    }
}

/// The weighted components of one run.
pub struct RewardSet {
    pub components: Vec<(Box<dyn Reward>, f64)>,
}

/// Each rollout's total and its named parts (unweighted, as logged).
pub struct Scored {
    pub totals: Vec<f64>,
    pub parts: Vec<BTreeMap<String, f64>>,
    pub correct: Vec<bool>,
}

impl RewardSet {
    /// The offline set for `weights`; a teacher plan judge is attached separately.
    pub fn local(weights: &RewardWeights) -> Self {
        let mut components: Vec<(Box<dyn Reward>, f64)> = Vec::new();
        if weights.answer != 0.0 {
            components.push((Box::new(AnswerReward { value: 2.0 }), weights.answer));
        }
        if weights.format != 0.0 {
            components.push((Box::new(FormatReward), weights.format));
        }
        if weights.plan != 0.0 && weights.plan_judge == PlanJudge::Local {
            components.push((Box::new(LocalPlanReward), weights.plan));
        }
        if weights.length != 0.0 {
            components.push((
                Box::new(LengthPenalty {
                    cache: weights.length_cache,
                }),
                weights.length,
            ));
        }
        Self { components }
    }

    pub fn score(&self, rollouts: &[RolloutView]) -> Result<Scored, RewardError> {
        let mut totals = vec![0.0; rollouts.len()];
        let mut parts = vec![BTreeMap::new(); rollouts.len()];
        for (reward, weight) in &self.components {
            let scores = reward.score(rollouts)?;
            for (i, s) in scores.into_iter().enumerate() {
                totals[i] += weight * s;
                parts[i].insert(reward.name().to_owned(), s);
            }
        }
        let correct = rollouts.iter().map(AnswerReward::correct).collect();
        Ok(Scored {
            totals,
            parts,
            correct,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(completion: &str) -> RolloutView<'_> {
        RolloutView {
            question: "Ann has 3 apples and buys 4 more. How many now?",
            gold: "7",
            reference_plan: Some("1. Start with 3 apples.\n2. Add the 4 bought apples."),
            completion,
            completion_tokens: 20,
            truncated: false,
            max_new_tokens: 64,
        }
    }

    #[test]
    fn components_score_what_they_name() {
        let good = "Plan:\n1. Start with 3 apples.\n2. Add the 4 bought apples.\n\n\
                    Execution:\n3 + 4 = 7.\nThe answer is \\boxed{7}.";
        let wrong = "Plan:\n1. Add 3 and 5.\n\nExecution:\n3 + 5 = 8 \\boxed{8}";
        let no_plan = "3 + 4 = 7, so \\boxed{7}";
        let rollouts = [view(good), view(wrong), view(no_plan)];
        let set = RewardSet::local(&RewardWeights::default());
        let scored = set.score(&rollouts).unwrap();
        assert_eq!(scored.correct, vec![true, false, true]);
        assert_eq!(scored.parts[0]["answer"], 2.0);
        assert_eq!(scored.parts[1]["answer"], 0.0);
        assert_eq!(scored.parts[0]["format"], 1.0);
        assert_eq!(scored.parts[2]["format"], 0.0);
        assert!((scored.parts[0]["plan"] - 1.0).abs() < 1e-12);
        assert!(scored.parts[1]["plan"] < 0.5);
        assert_eq!(scored.parts[2]["plan"], 0.0);
        // total = 1·answer + 0.5·format + 0.5·plan
        assert!((scored.totals[0] - 3.0).abs() < 1e-12);
        assert!((scored.totals[2] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn step_alignment_penalises_missing_and_reordered_steps() {
        let reference = "1. Multiply 6 by 3.\n2. Divide by 2.\n3. Add 5.";
        assert!((step_alignment(reference, reference) - 1.0).abs() < 1e-12);
        let missing = "1. Multiply 6 by 3.\n2. Add 5.";
        let reordered = "1. Add 5.\n2. Divide by 2.\n3. Multiply 6 by 3.";
        assert!((step_alignment(missing, reference) - 2.0 / 3.0).abs() < 1e-12);
        let r = step_alignment(reordered, reference);
        assert!(r < 0.5, "{r}");
        assert_eq!(step_alignment("", reference), 0.0);
    }

    #[test]
    fn soft_length_penalty() {
        let p = LengthPenalty { cache: 16 };
        let mut r = view("x");
        let mut at = |tokens, truncated| {
            r.completion_tokens = tokens;
            r.truncated = truncated;
            p.score(std::slice::from_ref(&r)).unwrap()[0]
        };
        assert_eq!(at(48, false), 0.0);
        assert_eq!(at(56, false), -0.5);
        assert_eq!(at(64, true), -1.0);
    }
}
