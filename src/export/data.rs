//! The bundle's training data: SFT rows in TRL's conversational prompt/completion form
//! (the loss falls on the completion only, with no template tags in the data) and in the
//! `messages` form beside it; GRPO rows, one per problem, with the gold `answer`, the
//! accepted teacher `plan` and the `question` as columns the rewards read.

use std::collections::HashSet;

use serde::Serialize;

use crate::train::dataset::{Example, Message};
use crate::train::grpo::rewards::split_plan;
use crate::workspace::store::Store;

use super::ExportError;

#[derive(Debug, Serialize)]
pub struct SftRow<'a> {
    pub id: &'a str,
    pub prompt: &'a [Message],
    pub completion: &'a [Message],
}

#[derive(Debug, Serialize)]
pub struct MessagesRow<'a> {
    pub messages: &'a [Message],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrpoRow {
    pub id: String,
    pub prompt: Vec<Message>,
    pub question: String,
    pub answer: String,
    /// The accepted teacher plan, when the example's completion has one.
    pub plan: Option<String>,
}

/// Each example split into its prompt and its completion (the last message).
pub fn sft_rows(examples: &[Example]) -> Vec<SftRow<'_>> {
    examples
        .iter()
        .filter_map(|e| {
            let (last, _) = e.messages.split_last()?;
            let at = e.messages.len() - 1;
            (last.role == "assistant").then(|| SftRow {
                id: &e.id,
                prompt: &e.messages[..at],
                completion: &e.messages[at..],
            })
        })
        .collect()
}

/// One row per problem, as plantune-tui's own GRPO draws its prompts
/// (`train::grpo::run::build_prompts`).
pub fn grpo_rows(store: &Store, examples: &[Example]) -> Result<Vec<GrpoRow>, ExportError> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for example in examples {
        if !seen.insert(example.problem_id) {
            continue;
        }
        let Some((completion, prompt)) = example.messages.split_last() else {
            continue;
        };
        let problem = store.problem(example.problem_id)?;
        rows.push(GrpoRow {
            id: example.id.clone(),
            prompt: prompt.to_vec(),
            question: problem.fields.question,
            answer: example.gold_answer.clone(),
            plan: split_plan(&completion.content).map(|(plan, _)| plan.to_owned()),
        });
    }
    Ok(rows)
}

/// JSON lines of `rows`.
pub fn jsonl<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut out, row).map_err(|e| ExportError::Json(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(out)
}
