//! "Re-execute this edited plan": the teacher's execute step run again on a candidate's
//! current plan. A teacher call takes seconds to minutes, so it runs on its own thread
//! and its answer comes back as `Outcome::PlanExecuted`; the curate screen then stores
//! it as an edit of the execution, re-graded, the teacher's original kept.

use std::sync::mpsc::Sender;

use super::background::{Done, JobId, Outcome};
use crate::teacher::distill::execute_plan;
use crate::workspace::Workspace;
use crate::workspace::records::Sampling;

/// What the teacher is asked to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub candidate_id: i64,
    pub question: String,
    pub plan: String,
    /// The candidate's own sampling, so the new execution differs from the first only
    /// by the edits to the plan.
    pub sampling: Sampling,
}

/// Starts the teacher call; the answer, or the error's text, arrives on `done`.
pub fn spawn(ws: Workspace, request: Request, job: JobId, done: Sender<Done>) {
    std::thread::spawn(move || {
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the teacher call: {e}"))
            .and_then(|runtime| {
                runtime
                    .block_on(execute_plan(
                        &ws,
                        &request.question,
                        &request.plan,
                        &request.sampling,
                    ))
                    .map(|completion| completion.text)
                    .map_err(|e| e.to_string())
            });
        // The receiver goes away only when the TUI quits, and the answer with it.
        let _ = done.send(Done {
            id: job,
            outcome: Outcome::PlanExecuted {
                candidate_id: request.candidate_id,
                plan: request.plan,
                result,
            },
        });
    });
}
