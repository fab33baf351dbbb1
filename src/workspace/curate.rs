//! Bulk curation rules, shared by the TUI's bulk keys and the demo's auto-curation.
//! Each rule is one undoable action.

use std::collections::BTreeMap;

use serde::Serialize;

use super::records::{Candidate, CandidateStatus};
use super::store::{EditField, FieldChange, Result, Store};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CurateOutcome {
    /// Candidates whose status changed.
    pub changed: usize,
    /// Problems considered.
    pub problems: usize,
    /// Problems left without an accepted candidate by this rule.
    pub without_pick: usize,
}

/// The paper's default pick: per problem, the best-scored correct candidate whose judge
/// score is at least `min_score`, if it is still pending. Ties go to the lower plan
/// index so the result is deterministic. Problems that already have an accepted
/// candidate are left alone: a curator's choice wins over the rule.
pub fn accept_best_correct(store: &mut Store, min_score: i32) -> Result<CurateOutcome> {
    let mut by_problem: BTreeMap<i64, Vec<Candidate>> = BTreeMap::new();
    for status in [CandidateStatus::Pending, CandidateStatus::Accepted] {
        for candidate in store.candidates_with_status(status)? {
            by_problem
                .entry(candidate.fields.problem_id)
                .or_default()
                .push(candidate);
        }
    }
    let mut outcome = CurateOutcome {
        problems: by_problem.len(),
        ..Default::default()
    };
    let mut changes = Vec::new();
    for candidates in by_problem.values() {
        if candidates
            .iter()
            .any(|c| c.status == CandidateStatus::Accepted)
        {
            continue;
        }
        let best = candidates
            .iter()
            .filter(|c| c.fields.correct == Some(true))
            .filter(|c| c.fields.judge_score.is_some_and(|s| s >= min_score))
            .max_by(|a, b| {
                a.fields
                    .judge_score
                    .cmp(&b.fields.judge_score)
                    .then(b.fields.plan_index.cmp(&a.fields.plan_index))
            });
        match best {
            Some(pick) => changes.push(FieldChange::new(
                pick.id,
                EditField::Status,
                CandidateStatus::Accepted.as_str(),
            )),
            None => outcome.without_pick += 1,
        }
    }
    outcome.changed = changes.len();
    store.apply_changes(&changes)?;
    Ok(outcome)
}

/// Rejects every pending candidate the grader marked incorrect.
pub fn reject_incorrect(store: &mut Store) -> Result<CurateOutcome> {
    let pending = store.candidates_with_status(CandidateStatus::Pending)?;
    let changes: Vec<FieldChange> = pending
        .iter()
        .filter(|c| c.fields.correct == Some(false))
        .map(|c| FieldChange::new(c.id, EditField::Status, CandidateStatus::Rejected.as_str()))
        .collect();
    let outcome = CurateOutcome {
        changed: changes.len(),
        problems: 0,
        without_pick: 0,
    };
    store.apply_changes(&changes)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::records::{NewCandidate, NewProblem, Sampling};

    fn setup(scores: &[(u32, i32, bool)]) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        store
            .insert_problems(&[NewProblem {
                dataset: "synth".into(),
                split: "train".into(),
                external_id: "1".into(),
                question: "q".into(),
                gold_answer: "1".into(),
                gold_solution: None,
                metadata: serde_json::json!({}),
            }])
            .unwrap();
        let pid = store.problems(None, None).unwrap()[0].id;
        let candidates: Vec<NewCandidate> = scores
            .iter()
            .map(|&(plan_index, score, correct)| NewCandidate {
                problem_id: pid,
                teacher: "oracle".into(),
                plan_index,
                constraints: "c".into(),
                plan: "p".into(),
                plan_steps: vec![],
                execution: "e".into(),
                extracted_answer: None,
                correct: Some(correct),
                grade_reason: String::new(),
                judge_score: Some(score),
                judge_reason: String::new(),
                sampling: Sampling::default(),
            })
            .collect();
        store.insert_candidates(&candidates).unwrap();
        (dir, store, pid)
    }

    fn statuses(store: &Store, pid: i64) -> Vec<CandidateStatus> {
        store
            .candidates_for_problem(pid)
            .unwrap()
            .iter()
            .map(|c| c.status)
            .collect()
    }

    #[test]
    fn picks_the_best_scored_correct_candidate_above_the_threshold() {
        use CandidateStatus::*;
        // The 95 is wrong, so the 85 wins over the 80.
        let (_d, mut store, pid) = setup(&[(0, 80, true), (1, 95, false), (2, 85, true)]);
        let outcome = accept_best_correct(&mut store, 80).unwrap();
        assert_eq!((outcome.changed, outcome.without_pick), (1, 0));
        assert_eq!(statuses(&store, pid), vec![Pending, Pending, Accepted]);
        // Running the rule again changes nothing; undo reverts it in one step.
        assert_eq!(accept_best_correct(&mut store, 80).unwrap().changed, 0);
        store.undo().unwrap().unwrap();
        assert_eq!(statuses(&store, pid), vec![Pending, Pending, Pending]);
    }

    #[test]
    fn no_pick_below_the_threshold_and_reject_incorrect() {
        use CandidateStatus::*;
        let (_d, mut store, pid) = setup(&[(0, 70, true), (1, 95, false)]);
        let outcome = accept_best_correct(&mut store, 80).unwrap();
        assert_eq!((outcome.changed, outcome.without_pick), (0, 1));
        assert_eq!(reject_incorrect(&mut store).unwrap().changed, 1);
        assert_eq!(statuses(&store, pid), vec![Pending, Rejected]);
    }
}
