//! `fixtures.json`: completions scored by plantune-tui's own reward code, which the
//! bundle's `rewards.py --self-test` must reproduce exactly. The cases cover each
//! component's rules (plan shapes, boxes, answer spellings, the length penalty) and the
//! dataset's own accepted completions with a wrong-answer twin of each.

use serde::Serialize;
use std::collections::BTreeMap;

use super::ExportError;
use super::data::GrpoRow;
use crate::train::grpo::rewards::{PlanJudge, RewardSet, RewardWeights, RolloutView};

/// The weights the fixtures are scored with: every offline component on, so each is
/// checked, and a short length cache so the penalty's slope is reached.
pub fn fixture_weights() -> RewardWeights {
    RewardWeights {
        answer: 1.0,
        format: 0.5,
        plan: 0.5,
        length: 0.25,
        length_cache: 8,
        plan_judge: PlanJudge::Local,
    }
}

#[derive(Debug, Serialize)]
pub struct Case {
    pub name: String,
    pub question: String,
    pub gold: String,
    pub reference_plan: Option<String>,
    pub completion: String,
    pub completion_tokens: usize,
    pub max_new_tokens: usize,
    pub truncated: bool,
    pub scores: BTreeMap<String, f64>,
    pub total: f64,
}

#[derive(Debug, Serialize)]
pub struct Fixtures {
    pub weights: RewardWeights,
    pub cases: Vec<Case>,
}

const QUESTION: &str = "Ann has 3 apples and buys 4 more. How many apples does she have now?";
const PLAN: &str = "1. Start with 3 apples.\n2. Add the 4 bought apples.\n3. Report the total.";

/// (name, question, gold, completion): answer spellings and plan shapes.
const STATIC: &[(&str, &str, &str, &str)] = &[
    (
        "boxed right",
        QUESTION,
        "7",
        "Plan:\n1. Start with 3 apples.\n2. Add the 4 bought apples.\n3. Report the total.\n\nExecution:\n3 + 4 = 7. The answer is \\boxed{7}.",
    ),
    (
        "boxed wrong",
        QUESTION,
        "7",
        "Plan:\n1. Add 3 and 5.\n\nExecution:\n3 + 5 = 8 \\boxed{8}",
    ),
    ("no plan", QUESTION, "7", "3 + 4 = 7, so \\boxed{7}"),
    (
        "cut-off box",
        QUESTION,
        "7",
        "Plan:\n1. Add.\n\nExecution:\n3 + 4 = \\boxed{7",
    ),
    (
        "plan without execution box",
        QUESTION,
        "7",
        "Plan:\n- Count the apples\n- Add them\n\nExecution:\nShe has 7 apples.",
    ),
    (
        "step labels",
        QUESTION,
        "7",
        "Plan:\nStep 1: Start with 3 apples.\nStep 2: Add the 4 bought apples.\n\nExecution:\n\\boxed{7}",
    ),
    (
        "headed sections",
        QUESTION,
        "7",
        "Plan:\n## Count\nStart with 3.\n## Add\nAdd the 4 bought apples.\n\nExecution:\nTotal \\boxed{7}.",
    ),
    ("empty plan", QUESTION, "7", "Plan:\nExecution:\n\\boxed{7}"),
    (
        "thousands",
        "How many?",
        "1000",
        "Plan:\n1. Multiply.\n\nExecution:\n\\boxed{1,000}",
    ),
    (
        "dollars",
        "How much money?",
        "18",
        "Plan:\n1. Sum the costs.\n\nExecution:\nShe pays \\boxed{\\$18}.",
    ),
    (
        "fraction and decimal",
        "What fraction is left?",
        "\\frac{1}{2}",
        "Plan:\n1. Halve it.\n\nExecution:\n\\boxed{0.5}",
    ),
    (
        "decimal zero",
        "How many?",
        "7",
        "Plan:\n1. Add.\n\nExecution:\n\\boxed{7.0}",
    ),
    ("hashes line", QUESTION, "7", "3 + 4 = 7\n#### 7"),
    (
        "answer line",
        QUESTION,
        "7",
        "We add them.\nThe answer is 7.",
    ),
    ("last number", QUESTION, "7", "She had 3 and bought 4 so 7"),
    ("nothing", QUESTION, "7", "I do not know."),
    (
        "text unit",
        "How many apples?",
        "7",
        "Plan:\n1. Add.\n\nExecution:\n\\boxed{7 \\text{ apples}}",
    ),
    (
        "percent asked",
        "What percent of the class passed?",
        "10",
        "Plan:\n1. Divide.\n\nExecution:\n\\boxed{10\\%}",
    ),
    (
        "negative",
        "What is 3 - 5?",
        "-2",
        "Plan:\n1. Subtract.\n\nExecution:\n\\boxed{-2}",
    ),
    (
        "word answer",
        "Which is heavier?",
        "the box",
        "Plan:\n1. Compare.\n\nExecution:\n\\boxed{The box}",
    ),
];

fn case(
    rewards: &RewardSet,
    name: String,
    (question, gold, reference_plan, completion): (&str, &str, Option<&str>, String),
    (completion_tokens, truncated): (usize, bool),
) -> Result<Case, ExportError> {
    const MAX_NEW_TOKENS: usize = 32;
    let view = RolloutView {
        question,
        gold,
        reference_plan,
        completion: &completion,
        completion_tokens,
        truncated,
        max_new_tokens: MAX_NEW_TOKENS,
    };
    let scored = rewards
        .score(std::slice::from_ref(&view))
        .map_err(|e| ExportError::Reward(e.to_string()))?;
    Ok(Case {
        name,
        question: question.to_owned(),
        gold: gold.to_owned(),
        reference_plan: reference_plan.map(str::to_owned),
        completion,
        completion_tokens,
        max_new_tokens: MAX_NEW_TOKENS,
        truncated,
        scores: scored.parts.into_iter().next().unwrap_or_default(),
        total: scored.totals.first().copied().unwrap_or_default(),
    })
}

/// The fixtures: the static cases (lengths 10 to 32 tokens, the last truncated, so the
/// penalty's flat part, slope and cap all occur) and up to four dataset problems.
pub fn build(rows: &[GrpoRow]) -> Result<Fixtures, ExportError> {
    let weights = fixture_weights();
    let rewards = RewardSet::local(&weights);
    let mut cases = Vec::new();
    for (i, (name, question, gold, completion)) in STATIC.iter().enumerate() {
        let tokens = 10 + (i * 3) % 23;
        let truncated = i + 1 == STATIC.len();
        let input = (*question, *gold, Some(PLAN), (*completion).to_owned());
        cases.push(case(&rewards, (*name).into(), input, (tokens, truncated))?);
    }
    for row in rows.iter().take(4) {
        let plan = row.plan.as_deref().unwrap_or(PLAN);
        let right = format!(
            "Plan:\n{plan}\n\nExecution:\nWorking it out gives \\boxed{{{}}}.",
            row.answer
        );
        let wrong = format!("Plan:\n{plan}\n\nExecution:\n\\boxed{{{}0}}", row.answer);
        for (tag, completion) in [("right", right), ("wrong", wrong)] {
            let input = (
                row.question.as_str(),
                row.answer.as_str(),
                row.plan.as_deref(),
                completion,
            );
            let name = format!("{} {tag}", row.id);
            cases.push(case(&rewards, name, input, (20, false))?);
        }
    }
    Ok(Fixtures { weights, cases })
}
