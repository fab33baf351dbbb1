//! Results of work the TUI started in the background (a run being created, a teacher
//! call). They are their own message type, not actions: each carries the id the job
//! was given when it started, and the app hands it to the screen that started it.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};

use super::screen_id::ScreenId;

/// Names one background job for as long as the TUI runs.
pub type JobId = u64;

/// What a background job produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Creating a run from a preset ended: the run created (`None`: none), its
    /// worker's pid (`None`: not started), and the error, if it failed.
    RunCreated {
        preset: String,
        id: Option<String>,
        pid: Option<u32>,
        error: Option<String>,
    },
    /// The teacher executed `plan` (the candidate's plan when it was asked) again:
    /// the execution text, or why not.
    PlanExecuted {
        candidate_id: i64,
        plan: String,
        result: Result<String, String>,
    },
}

/// One finished job's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub id: JobId,
    pub outcome: Outcome,
}

/// Hands out job ids, remembers which screen started each job, and receives results.
pub struct Jobs {
    tx: Sender<Done>,
    rx: Receiver<Done>,
    next: JobId,
    owners: BTreeMap<JobId, ScreenId>,
}

impl Default for Jobs {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            tx,
            rx,
            next: 1,
            owners: BTreeMap::new(),
        }
    }
}

impl Jobs {
    /// A new job's id and the sender its thread reports on.
    pub fn start(&mut self, owner: ScreenId) -> (JobId, Sender<Done>) {
        let id = self.next;
        self.next += 1;
        self.owners.insert(id, owner);
        (id, self.tx.clone())
    }

    /// Results that arrived since the last call, each with the screen that started it
    /// (`None` for an id this table never gave out).
    pub fn arrived(&mut self) -> Vec<(Option<ScreenId>, Done)> {
        let done: Vec<Done> = self.rx.try_iter().collect();
        done.into_iter()
            .map(|d| (self.owners.remove(&d.id), d))
            .collect()
    }

    /// Jobs started and not reported yet.
    pub fn pending(&self) -> usize {
        self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_go_back_to_the_screen_that_started_the_job() {
        let mut jobs = Jobs::default();
        let (a, tx) = jobs.start(ScreenId::Runs);
        let (b, _) = jobs.start(ScreenId::Curate);
        assert_ne!(a, b);
        let outcome = Outcome::PlanExecuted {
            candidate_id: 7,
            plan: "p".into(),
            result: Err("no".into()),
        };
        tx.send(Done {
            id: b,
            outcome: outcome.clone(),
        })
        .unwrap();
        let got = jobs.arrived();
        assert_eq!(got, vec![(Some(ScreenId::Curate), Done { id: b, outcome })]);
        assert_eq!(jobs.pending(), 1);
        tx.send(Done {
            id: 99,
            outcome: Outcome::RunCreated {
                preset: "x".into(),
                id: None,
                pid: None,
                error: None,
            },
        })
        .unwrap();
        assert_eq!(jobs.arrived()[0].0, None);
    }
}
