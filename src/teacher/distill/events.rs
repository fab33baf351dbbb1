//! What a distill job reports while it runs: one event per thing that happened, and
//! the running totals folded from them.

use std::time::Duration;

use serde::Serialize;

use crate::teacher::chat::Usage;

/// One thing that happened in a job.
#[derive(Debug, Clone, PartialEq)]
pub enum DistillEvent {
    Started {
        problems: usize,
        already_complete: usize,
    },
    /// A teacher call went out (it may wait for a free connection slot).
    CallStarted,
    CallFinished {
        cached: bool,
        usage: Usage,
        latency: Duration,
    },
    CallFailed {
        problem_id: i64,
        error: String,
    },
    CandidateStored {
        problem_id: i64,
        plan_index: u32,
        /// False when the store already held it (another job got there first).
        new: bool,
        /// Stages the token limit cut off (`plan`, `execution`...).
        truncated: Vec<&'static str>,
    },
    /// A plan answer arrived (from the teacher or the cache).
    PlanAsked {
        problem_id: i64,
    },
    /// A plan identical (after normalising) to one the problem already has: not stored.
    PlanDuplicate {
        problem_id: i64,
        plan_index: u32,
        seed: Option<u64>,
    },
    /// Sent once per job: two different seeds at temperature > 0 gave one plan for the
    /// same request, so the server seems to ignore `seed`/`temperature`.
    SeedIgnored {
        problem_id: i64,
    },
    ProblemDone {
        problem_id: i64,
        failed_plans: usize,
    },
    Finished,
}

/// Running totals of a job, handed to the progress callback with every event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DistillProgress {
    pub problems_total: usize,
    /// Problems finished in this job, failures and already-complete ones included.
    pub problems_done: usize,
    /// Problems whose candidates were all stored before this job started.
    pub problems_already_complete: usize,
    pub candidates_new: usize,
    /// Calls issued and not yet answered (some may wait for a connection slot).
    pub calls_in_flight: usize,
    /// Calls answered by the teacher in this job.
    pub calls_answered: u64,
    /// Calls answered from the cache.
    pub calls_cached: u64,
    /// Calls that failed after their retries.
    pub errors: usize,
    /// Tokens paid for in this job (cached answers cost none).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub last_error: Option<String>,
    /// Plan answers received (first asks and asks again after a duplicate).
    pub plans_asked: usize,
    /// Plan answers that were new for their problem, and so stored.
    pub plans_distinct: usize,
    /// Plan answers identical to one the problem already had.
    pub plans_duplicate: usize,
    /// Stages of stored candidates that the token limit cut off.
    pub truncated_stages: usize,
    /// True once the job saw the server ignore `seed`/`temperature`.
    pub seed_ignored: bool,
}

impl DistillProgress {
    pub(super) fn apply(&mut self, event: &DistillEvent) {
        match event {
            DistillEvent::Started {
                problems,
                already_complete,
            } => {
                self.problems_total = *problems;
                self.problems_already_complete = *already_complete;
                self.problems_done = *already_complete;
            }
            DistillEvent::CallStarted => self.calls_in_flight += 1,
            DistillEvent::CallFinished { cached, usage, .. } => {
                if *cached {
                    self.calls_cached += 1;
                } else {
                    self.calls_in_flight = self.calls_in_flight.saturating_sub(1);
                    self.calls_answered += 1;
                    self.prompt_tokens += usage.prompt_tokens;
                    self.completion_tokens += usage.completion_tokens;
                }
            }
            DistillEvent::CallFailed { error, .. } => {
                self.calls_in_flight = self.calls_in_flight.saturating_sub(1);
                self.errors += 1;
                self.last_error = Some(error.clone());
            }
            DistillEvent::CandidateStored { new, truncated, .. } => {
                self.candidates_new += usize::from(*new);
                self.truncated_stages += truncated.len();
            }
            DistillEvent::PlanAsked { .. } => {
                self.plans_asked += 1;
                self.plans_distinct += 1;
            }
            DistillEvent::PlanDuplicate { .. } => {
                self.plans_distinct = self.plans_distinct.saturating_sub(1);
                self.plans_duplicate += 1;
            }
            DistillEvent::SeedIgnored { .. } => self.seed_ignored = true,
            DistillEvent::ProblemDone { .. } => self.problems_done += 1,
            DistillEvent::Finished => {}
        }
    }
}
