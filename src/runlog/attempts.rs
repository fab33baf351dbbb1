//! A run's events across attempts. Each `run_started` begins an attempt: the first
//! start, then one per resume. A resumed attempt continues from its newest checkpoint,
//! so it writes again the steps the earlier attempt made after that checkpoint before it
//! died; those step numbers now belong to the new attempt, and every fold of the events
//! (summaries, charts, step counts) counts each step once, the newest attempt's.

use std::collections::BTreeMap;

use super::{RunEvent, TimedEvent};

/// Attempt numbers and step ownership, folded one event at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attempts {
    /// The current attempt, 1 for the first start (0 before any `run_started`).
    pub current: u32,
    /// For each resume, `(attempt, first step it wrote)`: where the charts show it.
    pub resumes: Vec<(u32, u64)>,
    /// Which attempt each step number belongs to (the newest that wrote it).
    owner: BTreeMap<u64, u32>,
    first_step_pending: bool,
}

/// What a step event means once attempts are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFate {
    /// A step number no attempt wrote before.
    New,
    /// A step an earlier attempt wrote: this one replaces it.
    Replaces { attempt: u32 },
}

impl Attempts {
    /// Folds one event; for a step, says whether it is new or replaces an earlier
    /// attempt's.
    pub fn apply(&mut self, event: &RunEvent) -> Option<StepFate> {
        match event {
            RunEvent::RunStarted { .. } => {
                self.current += 1;
                self.first_step_pending = self.current > 1;
                None
            }
            RunEvent::Step { step, .. } => {
                // Steps written before any run_started (an old file) are attempt 1's.
                let attempt = self.current.max(1);
                if std::mem::take(&mut self.first_step_pending) {
                    self.resumes.push((attempt, *step));
                }
                Some(match self.owner.insert(*step, attempt) {
                    Some(earlier) if earlier != attempt => StepFate::Replaces { attempt: earlier },
                    Some(_) | None => StepFate::New,
                })
            }
            _ => None,
        }
    }

    /// Distinct steps written, each counted once.
    pub fn steps(&self) -> usize {
        self.owner.len()
    }
}

/// The step events of a whole file, each step once: the newest attempt's. Keyed by
/// step number, with the attempt that wrote it.
pub fn steps_by_attempt(events: &[TimedEvent]) -> BTreeMap<u64, (u32, TimedEvent)> {
    let mut attempts = Attempts::default();
    let mut steps = BTreeMap::new();
    for timed in events {
        attempts.apply(&timed.event);
        if let RunEvent::Step { step, .. } = timed.event {
            steps.insert(step, (attempts.current.max(1), timed.clone()));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> TimedEvent {
        TimedEvent {
            t: 0,
            event: RunEvent::RunStarted {
                config: serde_json::Value::Null,
                device: "cpu".into(),
                parameters: 1,
                trainable_parameters: 1,
            },
        }
    }

    fn step(step: u64, loss: f64) -> TimedEvent {
        serde_json::from_value(
            serde_json::json!({"t": 1, "kind": "step", "step": step, "loss": loss}),
        )
        .unwrap()
    }

    #[test]
    fn steps_replayed_after_a_resume_belong_to_the_new_attempt_and_count_once() {
        // Attempt 1 checkpoints at 2 and dies after step 4; attempt 2 resumes at 3.
        let mut events = vec![started()];
        events.extend((1..=4).map(|s| step(s, 1.0)));
        events.push(started());
        events.extend((3..=6).map(|s| step(s, 2.0)));
        let mut attempts = Attempts::default();
        let fates: Vec<_> = events
            .iter()
            .filter_map(|e| attempts.apply(&e.event))
            .collect();
        assert_eq!(attempts.current, 2);
        assert_eq!(attempts.steps(), 6);
        assert_eq!(attempts.resumes, vec![(2, 3)]);
        assert_eq!(fates[4], StepFate::Replaces { attempt: 1 });
        assert_eq!(fates[6], StepFate::New);

        let folded = steps_by_attempt(&events);
        let owners: Vec<(u64, u32)> = folded.iter().map(|(s, (a, _))| (*s, *a)).collect();
        assert_eq!(owners, vec![(1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (6, 2)]);
        assert!(matches!(folded[&4].1.event, RunEvent::Step { loss, .. } if loss == 2.0));
    }
}
