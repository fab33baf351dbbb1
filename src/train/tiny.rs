//! The workspace's own tiny student (`model = "tiny"`): its tokenizer is trained on the
//! text of the workspace it will learn from.

use std::path::Path;

use crate::model::tiny::{TinyConfig, TinyError, create};
use crate::workspace::Workspace;
use crate::workspace::layout::PROMPTS;
use crate::workspace::records::CandidateStatus;
use crate::workspace::store::StoreError;

/// The tiny student of a workspace: its tokenizer learns the workspace's own text
/// (questions, gold solutions, teacher trajectories and the prompt templates), so every
/// word the student will read or write is in its vocabulary.
pub fn create_for_workspace(ws: &Workspace, out_dir: &Path) -> Result<(), TinyError> {
    let store_err = |e: StoreError| TinyError::Tokenizer(e.to_string());
    let store = ws
        .store()
        .map_err(|e| TinyError::Tokenizer(e.to_string()))?;
    let mut corpus: Vec<String> = Vec::new();
    for problem in store.problems(None, None).map_err(store_err)? {
        corpus.push(problem.fields.question);
        corpus.extend(problem.fields.gold_solution);
    }
    for status in [CandidateStatus::Accepted, CandidateStatus::Pending] {
        for c in store.candidates_with_status(status).map_err(store_err)? {
            corpus.push(c.fields.plan);
            corpus.push(c.fields.execution);
        }
    }
    // Every training example repeats a prompt and the section headings; at their real
    // frequency BPE merges them into a few tokens instead of spelling them out letter
    // by letter, which once made the instructions most of every sequence.
    let repeats = store
        .problems(Some("synth"), Some("train"))
        .map_err(store_err)?
        .len()
        .max(1);
    let mut boilerplate: Vec<String> = PROMPTS
        .iter()
        .filter_map(|(name, _)| ws.prompt(name).ok())
        .collect();
    boilerplate.push("Plan:\nExecution:\nThe final answer is \\boxed{}.".into());
    for text in &boilerplate {
        corpus.extend(std::iter::repeat_n(text.clone(), repeats));
    }
    create(out_dir, corpus.into_iter(), &TinyConfig::default())
}
