//! `plantune-tui bench store`: insert many candidates, then time what the curation view
//! needs on start-up: opening the workspace and loading the first page of the list.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::workspace::records::{CandidateStatus, NewCandidate, NewProblem, Sampling};
use crate::workspace::store::{CurationFilter, CurationSort, FieldChange, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct StoreBench {
    pub candidates: usize,
    pub insert_s: f64,
    pub inserts_per_s: f64,
    /// Cold open (new connection, schema check) plus the first page, median of runs.
    pub open_first_page_ms: f64,
    pub open_first_page_max_ms: f64,
    pub page_rows: usize,
    pub db_mib: f64,
}

const PLANS_PER_PROBLEM: usize = 5;
const PAGE: usize = 50;
const REPEATS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(candidates: usize, dir: &std::path::Path) -> Result<StoreBench, StoreError> {
    let db = dir.join("bench.db");
    let mut store = Store::open(&db)?;
    let problems: Vec<NewProblem> = (0..candidates.div_ceil(PLANS_PER_PROBLEM))
        .map(|i| NewProblem {
            dataset: "bench".into(),
            split: "train".into(),
            external_id: format!("bench/{i}"),
            question: format!(
                "Problem {i}: a shop sells {} apples on Monday and {} on Tuesday. How many in all?",
                i % 97,
                i % 89
            ),
            gold_answer: ((i % 97) + (i % 89)).to_string(),
            gold_solution: None,
            metadata: serde_json::json!({}),
        })
        .collect();
    let start = Instant::now();
    store.insert_problems(&problems)?;
    let ids: Vec<i64> = store
        .problems(Some("bench"), None)?
        .iter()
        .map(|p| p.id)
        .collect();
    let batch: Vec<NewCandidate> = (0..candidates)
        .map(|i| {
            let problem_id = ids[i / PLANS_PER_PROBLEM];
            NewCandidate {
                problem_id,
                teacher: "bench".into(),
                plan_index: (i % PLANS_PER_PROBLEM) as u32,
                constraints: "- whole apples\n- both days count".into(),
                plan: "1. Add Monday's and Tuesday's sales.".into(),
                plan_steps: vec!["Add Monday's and Tuesday's sales.".into()],
                execution: format!("Step 1: the total is {i}. The answer is \\boxed{{{i}}}."),
                extracted_answer: Some(i.to_string()),
                correct: Some(i % 3 != 0),
                grade_reason: "numeric".into(),
                judge_score: Some((i * 37 % 201) as i32 - 100),
                judge_reason: "Score: 0".into(),
                sampling: Sampling::default(),
            }
        })
        .collect();
    for chunk in batch.chunks(10_000) {
        store.insert_candidates(chunk)?;
    }
    let insert = start.elapsed();
    // A realistic mix of curation states, so the status filter has work to do.
    let changes: Vec<FieldChange> = (1..=candidates as i64)
        .filter(|id| id % 4 == 0)
        .map(|id| FieldChange::new(id, crate::workspace::store::EditField::Status, "accepted"))
        .collect();
    store.apply_changes(&changes)?;
    drop(store);

    let filter = CurationFilter {
        status: Some(CandidateStatus::Pending),
        ..Default::default()
    };
    let mut timings = Vec::with_capacity(REPEATS);
    let mut rows = 0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        let store = Store::open(&db)?;
        rows = store
            .curation_page(&filter, CurationSort::ScoreDesc, 0, PAGE)?
            .len();
        timings.push(ms(start.elapsed()));
    }
    timings.sort_by(f64::total_cmp);
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.join("bench.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    Ok(StoreBench {
        candidates,
        insert_s: insert.as_secs_f64(),
        inserts_per_s: candidates as f64 / insert.as_secs_f64().max(1e-9),
        open_first_page_ms: timings[REPEATS / 2],
        open_first_page_max_ms: timings[REPEATS - 1],
        page_rows: rows,
        db_mib: db_bytes as f64 / (1024.0 * 1024.0),
    })
}
