//! Re-grading a candidate after its execution was edited, with the project's grader,
//! so the verdict the curator sees always belongs to the text on screen.

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

/// Grades `execution` against the problem's gold answer (the question gives context,
/// e.g. whether a percent is asked for). `Option` keeps room for problems that cannot
/// be graded; every stored problem has a gold answer, so this always grades today.
pub fn regrade_execution(problem: &Problem, execution: &str) -> Option<Regrade> {
    let verdict = crate::grade::grade_with(
        execution,
        &problem.fields.gold_answer,
        &crate::grade::GradeOptions {
            question: Some(&problem.fields.question),
        },
    );
    Some(Regrade {
        extracted_answer: verdict.extracted,
        correct: Some(verdict.correct),
        reason: verdict.reason,
    })
}
