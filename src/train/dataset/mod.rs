//! Training datasets built from the store, frozen by content hash.
//!
//! - `baseline`: question → gold solution (the paper's strong SFT baseline);
//! - `plan1` (method 1): question → plan + execution + `\boxed{}` answer, one example per
//!   accepted candidate;
//! - `plan2` (method 2): two examples per accepted candidate: question → plan, and
//!   question + plan → execution.
//!
//! Examples are stored as chat `messages` (the last one is the assistant's completion,
//! the only part that carries loss); the student's chat template and tokenizer are
//! applied at training time, so one dataset serves any student.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::workspace::prompt::{PromptError, render};
use crate::workspace::records::{CandidateStatus, Problem};
use crate::workspace::store::{DatasetRecord, StoreError};
use crate::workspace::{Workspace, WorkspaceError, fsutil::atomic_write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Baseline,
    Plan1,
    Plan2,
}

impl DatasetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Plan1 => "plan1",
            Self::Plan2 => "plan2",
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Stable id: `<kind>/<problem external id>[/<part>]`.
    pub id: String,
    pub problem_id: i64,
    pub candidate_id: Option<i64>,
    pub gold_answer: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no usable examples for a {kind} dataset in split {split:?}: {hint}")]
    Empty {
        kind: DatasetKind,
        split: String,
        hint: &'static str,
    },
}

/// Which problems a dataset draws from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSource {
    pub dataset: Option<String>,
    pub split: String,
}

impl Default for DatasetSource {
    fn default() -> Self {
        Self {
            dataset: None,
            split: "train".into(),
        }
    }
}

/// The gold solution as a completion that ends the way every student answers: GSM8K's
/// `#### 42` line becomes a `\boxed{42}` sentence, so baseline and plan-tuned students
/// are graded by the same extraction rule.
pub fn baseline_completion(problem: &Problem) -> Option<String> {
    let solution = problem.fields.gold_solution.as_deref()?.trim();
    if solution.is_empty() {
        return None;
    }
    let body = match solution.rfind("####") {
        Some(at) => solution[..at].trim_end(),
        None => solution,
    };
    if body.contains("\\boxed") {
        return Some(body.to_owned());
    }
    Some(format!(
        "{body}\nThe final answer is \\boxed{{{}}}.",
        problem.fields.gold_answer.trim()
    ))
}

/// The method-1 completion: the plan, then its execution.
pub fn plan_completion(plan: &str, execution: &str) -> String {
    format!("Plan:\n{}\n\nExecution:\n{}", plan.trim(), execution.trim())
}

pub fn build_examples(
    ws: &Workspace,
    kind: DatasetKind,
    source: &DatasetSource,
) -> Result<Vec<Example>, DatasetError> {
    let store = ws.store()?;
    let problems = store.problems(source.dataset.as_deref(), Some(&source.split))?;
    let mut examples = Vec::new();
    match kind {
        DatasetKind::Baseline => {
            let template = ws.prompt("student_direct")?;
            for problem in &problems {
                let Some(completion) = baseline_completion(problem) else {
                    continue;
                };
                let prompt = render(
                    "student_direct",
                    &template,
                    minijinja::context! { question => problem.fields.question },
                )?;
                examples.push(Example {
                    id: format!(
                        "baseline/{}/{}",
                        problem.fields.dataset, problem.fields.external_id
                    ),
                    problem_id: problem.id,
                    candidate_id: None,
                    gold_answer: problem.fields.gold_answer.clone(),
                    messages: vec![
                        Message::new("user", prompt),
                        Message::new("assistant", completion),
                    ],
                });
            }
        }
        DatasetKind::Plan1 | DatasetKind::Plan2 => {
            let one_pass = ws.prompt("student")?;
            let plan_only = ws.prompt("student_plan")?;
            let execute = ws.prompt("student_execute")?;
            let by_id: std::collections::HashMap<i64, &Problem> =
                problems.iter().map(|p| (p.id, p)).collect();
            for candidate in store.candidates_with_status(CandidateStatus::Accepted)? {
                let Some(problem) = by_id.get(&candidate.fields.problem_id) else {
                    continue;
                };
                let question = &problem.fields.question;
                let plan = candidate.fields.plan.trim();
                let execution = candidate.fields.execution.trim();
                let base_id = format!(
                    "{}/{}/{}/{}",
                    kind,
                    problem.fields.dataset,
                    problem.fields.external_id,
                    candidate.fields.plan_index
                );
                let example = |id: String, messages| Example {
                    id,
                    problem_id: problem.id,
                    candidate_id: Some(candidate.id),
                    gold_answer: problem.fields.gold_answer.clone(),
                    messages,
                };
                if kind == DatasetKind::Plan1 {
                    let prompt = render("student", &one_pass, minijinja::context! { question })?;
                    examples.push(example(
                        base_id,
                        vec![
                            Message::new("user", prompt),
                            Message::new("assistant", plan_completion(plan, execution)),
                        ],
                    ));
                } else {
                    let prompt =
                        render("student_plan", &plan_only, minijinja::context! { question })?;
                    examples.push(example(
                        format!("{base_id}/plan"),
                        vec![
                            Message::new("user", prompt),
                            Message::new("assistant", plan),
                        ],
                    ));
                    let prompt = render(
                        "student_execute",
                        &execute,
                        minijinja::context! { question, plan },
                    )?;
                    examples.push(example(
                        format!("{base_id}/execute"),
                        vec![
                            Message::new("user", prompt),
                            Message::new("assistant", execution),
                        ],
                    ));
                }
            }
        }
    }
    if examples.is_empty() {
        return Err(DatasetError::Empty {
            kind,
            split: source.split.clone(),
            hint: match kind {
                DatasetKind::Baseline => "no problem in it has a gold solution",
                _ => "accept some candidates first (curate, or the bulk rule)",
            },
        });
    }
    Ok(examples)
}

/// A built, frozen dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuiltDataset {
    pub kind: DatasetKind,
    pub content_hash: String,
    pub examples: usize,
    /// Examples with ids, relative to the workspace.
    pub path: String,
    /// The same examples in the chat `messages` form TRL reads, relative to the workspace.
    pub export: String,
}

fn jsonl<T: Serialize>(rows: impl Iterator<Item = T>) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        // Our own plain structs always serialise.
        if let Ok(line) = serde_json::to_vec(&row) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }
    out
}

/// Builds, hashes, writes (atomically) and registers a dataset. Building twice from the
/// same curation state gives the same hash and registers nothing new.
pub fn build(
    ws: &Workspace,
    kind: DatasetKind,
    source: &DatasetSource,
) -> Result<BuiltDataset, DatasetError> {
    let examples = build_examples(ws, kind, source)?;
    let bytes = jsonl(examples.iter());
    let hash = format!("{:x}", Sha256::digest(&bytes));
    let short = &hash[..12];
    let rel = format!("datasets/{kind}-{short}.jsonl");
    let export_rel = format!("exports/{kind}-{short}.messages.jsonl");
    for dir in [ws.datasets_dir(), ws.exports_dir()] {
        std::fs::create_dir_all(&dir).map_err(|source| DatasetError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let path = ws.root.join(&rel);
    atomic_write(&path, &bytes).map_err(|source| DatasetError::Io {
        path: path.clone(),
        source,
    })?;
    #[derive(Serialize)]
    struct Trl<'a> {
        messages: &'a [Message],
    }
    let export = jsonl(examples.iter().map(|e| Trl {
        messages: &e.messages,
    }));
    let export_path = ws.root.join(&export_rel);
    atomic_write(&export_path, &export).map_err(|source| DatasetError::Io {
        path: export_path.clone(),
        source,
    })?;
    let mut store = ws.store()?;
    store.register_dataset(
        &format!("{kind}-{short}"),
        kind.as_str(),
        &hash,
        examples.len() as u64,
        &rel,
        &serde_json::json!({ "split": source.split, "dataset": source.dataset }),
    )?;
    Ok(BuiltDataset {
        kind,
        content_hash: hash,
        examples: examples.len(),
        path: rel,
        export: export_rel,
    })
}

/// Reads a built dataset back.
pub fn load(ws: &Workspace, rel_path: &str) -> Result<Vec<Example>, DatasetError> {
    let path = ws.root.join(rel_path);
    let text = std::fs::read_to_string(&path).map_err(|source| DatasetError::Io {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| DatasetError::Io {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {}: {e}", i + 1),
                ),
            })
        })
        .collect()
}

/// The dataset a run's `dataset` setting names: `baseline`, `plan1` or `plan2` is the
/// newest built dataset of that kind (built now from the default source when there is
/// none); anything else is a content hash (or its prefix).
pub fn resolve(ws: &Workspace, name: &str) -> Result<DatasetRecord, DatasetError> {
    let store = ws.store()?;
    let kind = match name {
        "baseline" => Some(DatasetKind::Baseline),
        "plan1" => Some(DatasetKind::Plan1),
        "plan2" => Some(DatasetKind::Plan2),
        _ => None,
    };
    match kind {
        Some(kind) => match store.latest_dataset(kind.as_str())? {
            Some(found) => Ok(found),
            None => {
                drop(store);
                let built = build(ws, kind, &DatasetSource::default())?;
                Ok(ws.store()?.dataset_by_hash(&built.content_hash)?)
            }
        },
        None => Ok(store.dataset_by_hash(name)?),
    }
}

#[cfg(test)]
mod tests;
