//! What a workspace holds, for people (`status`) and scripts (`status --json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::store::{StatusCounts, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub workspace: String,
    pub path: String,
    pub schema_version: u32,
    pub problems: Vec<SplitCount>,
    pub candidates: StatusCounts,
    pub datasets: Vec<DatasetLine>,
    pub runs: BTreeMap<String, u64>,
    pub predictions: Vec<PredictionLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitCount {
    pub dataset: String,
    pub split: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetLine {
    pub name: String,
    pub kind: String,
    pub hash: String,
    pub examples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionLine {
    pub model: String,
    pub benchmark: String,
    pub mode: String,
    pub count: u64,
    pub correct: u64,
}

pub fn collect(name: &str, store: &Store) -> Result<StatusReport, StoreError> {
    let mut runs = BTreeMap::new();
    for run in store.runs()? {
        *runs.entry(run.status).or_insert(0) += 1;
    }
    Ok(StatusReport {
        workspace: name.to_owned(),
        path: store.path().display().to_string(),
        schema_version: store.schema_version()?,
        problems: store
            .problem_counts()?
            .into_iter()
            .map(|(dataset, split, count)| SplitCount {
                dataset,
                split,
                count,
            })
            .collect(),
        candidates: store.candidate_status_counts()?,
        datasets: store
            .datasets()?
            .into_iter()
            .map(|d| DatasetLine {
                name: d.name,
                kind: d.kind,
                hash: d.content_hash,
                examples: d.n_examples,
            })
            .collect(),
        runs,
        predictions: store
            .prediction_counts()?
            .into_iter()
            .map(|(key, count, correct)| PredictionLine {
                model: key.model,
                benchmark: key.benchmark,
                mode: key.mode,
                count,
                correct,
            })
            .collect(),
    })
}

impl StatusReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "workspace {} ({})", self.workspace, self.path);
        let _ = writeln!(out, "\nproblems");
        if self.problems.is_empty() {
            let _ = writeln!(out, "  none (import some with `plantune-tui import`)");
        }
        for p in &self.problems {
            let _ = writeln!(out, "  {:<14} {:<10} {:>8}", p.dataset, p.split, p.count);
        }
        let c = &self.candidates;
        let _ = writeln!(
            out,
            "\ncandidates  {} pending, {} accepted, {} rejected ({} in all)",
            c.pending,
            c.accepted,
            c.rejected,
            c.total()
        );
        let _ = writeln!(out, "\ndatasets");
        if self.datasets.is_empty() {
            let _ = writeln!(out, "  none built");
        }
        for d in &self.datasets {
            let short = d.hash.get(..12).unwrap_or(&d.hash);
            let _ = writeln!(
                out,
                "  {:<14} {:<10} {short} {:>8} examples",
                d.name, d.kind, d.examples
            );
        }
        let _ = writeln!(out, "\nruns");
        if self.runs.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for (status, n) in &self.runs {
            let _ = writeln!(out, "  {status:<10} {n:>6}");
        }
        let _ = writeln!(out, "\npredictions");
        if self.predictions.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for p in &self.predictions {
            let _ = writeln!(
                out,
                "  {:<24} {:<18} {:<14} {:>6} ({} correct)",
                p.model, p.benchmark, p.mode, p.count, p.correct
            );
        }
        out
    }
}
