//! Stages 1 and 2 of the demo: problems, the oracle's graded candidates, auto-curation.
//! Each stage reads the previous stage's output from the workspace, so re-running
//! resumes instead of redoing work.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::data::synth::{SynthConfig, SynthError, Twists, generate};
use crate::grade::{GradeOptions, grade_with};
use crate::teacher::oracle::{OracleConfig, OracleError, oracle_candidates};
use crate::workspace::curate::{CurateOutcome, accept_best_correct};
use crate::workspace::records::{NewCandidate, Problem};
use crate::workspace::store::{InsertOutcome, StoreError};
use crate::workspace::{Workspace, WorkspaceError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Oracle(#[from] OracleError),
    #[error(transparent)]
    Synth(#[from] SynthError),
}

#[derive(Debug, Clone, Serialize)]
pub struct StageTiming {
    pub stage: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoBuild {
    pub problems: InsertOutcome,
    pub candidates_new: usize,
    pub candidates_correct: usize,
    pub candidates_total: usize,
    pub curation: CurateOutcome,
    pub timings: Vec<StageTiming>,
}

/// Stage 1 (problems and the oracle's graded candidates) and stage 2 (auto-curation
/// with the paper's rule). Idempotent: a second call adds nothing.
pub fn build_workspace(ws: &Workspace) -> Result<DemoBuild, DemoError> {
    let mut timings = Vec::new();
    let mut store = ws.store()?;

    let started = Instant::now();
    let synth = &ws.config.synth;
    let problems = generate(&SynthConfig {
        seed: synth.seed,
        train: synth.train,
        test_id: synth.test_id,
        test_ood: synth.test_ood,
        train_steps: synth.train_steps[0]..=synth.train_steps[1],
        ood_steps: synth.ood_steps[0]..=synth.ood_steps[1],
        max_operand: synth.max_operand,
        twists: Twists {
            distractors: synth.distractors[0]..=synth.distractors[1],
            back_reference_rate: synth.back_reference_rate,
            late_start_rate: synth.late_start_rate,
        },
    })?;
    let inserted = store.insert_problems(&problems)?;
    timings.push(timing("generate problems", started.elapsed()));

    let started = Instant::now();
    let oracle = OracleConfig {
        seed: ws.config.oracle.seed,
        error_rate: ws.config.oracle.error_rate,
        plans_per_problem: ws.config.distill.n_plans,
    };
    let train = store.problems(Some("synth"), Some("train"))?;
    let mut batch = Vec::with_capacity(train.len() * oracle.plans_per_problem as usize);
    for problem in &train {
        for candidate in oracle_candidates(problem, &oracle)? {
            batch.push(graded(problem, candidate));
        }
    }
    let candidates_correct = batch.iter().filter(|c| c.correct == Some(true)).count();
    let candidates_new = store.insert_candidates(&batch)?;
    timings.push(timing("oracle teacher + grading", started.elapsed()));

    let started = Instant::now();
    let curation = accept_best_correct(&mut store, ws.config.distill.min_score)?;
    timings.push(timing("auto-curate", started.elapsed()));

    Ok(DemoBuild {
        problems: inserted,
        candidates_new,
        candidates_correct,
        candidates_total: batch.len(),
        curation,
        timings,
    })
}

/// The pipeline grades what the teacher wrote; the oracle itself never claims
/// correctness, exactly like a real teacher.
fn graded(problem: &Problem, mut candidate: NewCandidate) -> NewCandidate {
    let verdict = grade_with(
        &candidate.execution,
        &problem.fields.gold_answer,
        &GradeOptions {
            question: Some(&problem.fields.question),
        },
    );
    candidate.extracted_answer = verdict.extracted;
    candidate.correct = Some(verdict.correct);
    candidate.grade_reason = verdict.reason.to_string();
    candidate
}

fn timing(stage: &'static str, elapsed: Duration) -> StageTiming {
    StageTiming {
        stage: stage.to_owned(),
        seconds: elapsed.as_secs_f64(),
    }
}
