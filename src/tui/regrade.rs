//! The hook that re-grades a candidate after its execution was edited.
//!
//! The grading module is wired in here by the lead; until then this returns `None`
//! and the curation view keeps the previous verdict, marked stale. It must never
//! invent a verdict.

use crate::workspace::records::Problem;
use crate::workspace::store::EditField;

/// A fresh verdict for an edited execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regrade {
    pub extracted_answer: Option<String>,
    pub correct: Option<bool>,
    pub reason: String,
}

impl Regrade {
    /// The store fields this verdict sets, in the form `apply_changes` takes.
    pub fn fields(&self) -> Vec<(EditField, Option<String>)> {
        vec![
            (EditField::ExtractedAnswer, self.extracted_answer.clone()),
            (
                EditField::Correct,
                self.correct
                    .map(|c| if c { "1".into() } else { "0".into() }),
            ),
            (EditField::GradeReason, Some(self.reason.clone())),
        ]
    }
}

/// Grades `execution` against the problem's gold answer; `None` while no grader is
/// available in this build.
pub fn regrade_execution(problem: &Problem, execution: &str) -> Option<Regrade> {
    let _ = (problem, execution);
    None
}
