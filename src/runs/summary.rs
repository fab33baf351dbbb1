//! What a run's events say about it, folded one event at a time: how far it got, how
//! its latest start ended, its device. The TUI folds events as it tails them; `runs
//! list` folds a whole file.

use std::path::Path;

use crate::runlog::{
    ALARM_CLEARED_LEVEL, ALARM_LEVEL, Attempts, DeviceStats, RunEvent, RunStatus, TimedEvent,
    read_all,
};

#[derive(Debug, Clone, PartialEq)]
pub struct LastStep {
    pub step: u64,
    pub total: Option<u64>,
    pub elapsed_s: f64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Events folded so far.
    pub events: u64,
    /// The time of the first event: what relative times count from.
    pub first_t: Option<i64>,
    /// The device the latest start ran on, as `run_started` named it.
    pub device_label: String,
    /// How the latest start ended. A resumed run starts again in the same file, so a
    /// `run_started` clears an earlier ending.
    pub finished: Option<(RunStatus, Option<String>)>,
    pub last_step: Option<LastStep>,
    pub checkpoints: u64,
    /// The latest device statistics.
    pub device: Option<DeviceStats>,
    /// Starts and resumes, and which attempt owns each step: a step replayed after a
    /// resume is counted once ([`RunSummary::steps`]).
    pub attempts: Attempts,
    /// The watcher's alarm (a stalled run) while it stands: cleared by its
    /// `alarm_cleared`, the next step, a restart, or the run's end.
    pub alarm: Option<String>,
}

impl RunSummary {
    /// The summary of a whole events file (a torn last line is left out).
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let mut summary = Self::default();
        for event in &read_all(path)?.events {
            summary.apply(event);
        }
        Ok(summary)
    }

    pub fn apply(&mut self, timed: &TimedEvent) {
        self.events += 1;
        self.first_t.get_or_insert(timed.t);
        self.attempts.apply(&timed.event);
        match &timed.event {
            RunEvent::RunStarted { device, .. } => {
                self.finished = None;
                self.alarm = None;
                self.device_label = device.clone();
            }
            RunEvent::Step {
                step,
                loss,
                lr,
                grad_norm,
                tokens_per_s,
                elapsed_s,
                total_steps,
                ..
            } => {
                self.alarm = None;
                self.last_step = Some(LastStep {
                    step: *step,
                    total: *total_steps,
                    elapsed_s: *elapsed_s,
                    loss: *loss,
                    lr: *lr,
                    grad_norm: *grad_norm,
                    tokens_per_s: *tokens_per_s,
                });
            }
            RunEvent::Checkpoint { .. } => self.checkpoints += 1,
            RunEvent::Device(stats) => self.device = Some(stats.clone()),
            RunEvent::RunFinished { status, error } => {
                self.alarm = None;
                self.finished = Some((*status, error.clone()));
            }
            RunEvent::Log { level, message } if level == ALARM_LEVEL => {
                self.alarm = Some(message.clone());
            }
            RunEvent::Log { level, .. } if level == ALARM_CLEARED_LEVEL => self.alarm = None,
            RunEvent::Eval { .. }
            | RunEvent::Sample { .. }
            | RunEvent::Log { .. }
            | RunEvent::Unknown => {}
        }
    }

    /// Distinct steps the run has written, each once however many attempts wrote it.
    pub fn steps(&self) -> usize {
        self.attempts.steps()
    }

    /// Seconds left at the current pace, when the run says how many steps it plans.
    pub fn eta_s(&self) -> Option<f64> {
        let last = self.last_step.as_ref()?;
        let total = last.total?;
        if last.step == 0 || last.elapsed_s <= 0.0 || total <= last.step {
            return None;
        }
        Some((total - last.step) as f64 * last.elapsed_s / last.step as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64, event: RunEvent) -> TimedEvent {
        TimedEvent { t, event }
    }

    fn started() -> RunEvent {
        RunEvent::RunStarted {
            config: serde_json::Value::Null,
            device: "cpu".into(),
            parameters: 1,
            trainable_parameters: 1,
        }
    }

    #[test]
    fn a_restart_clears_the_earlier_ending() {
        let mut summary = RunSummary::default();
        summary.apply(&at(10, started()));
        summary.apply(&at(
            20,
            RunEvent::RunFinished {
                status: RunStatus::Stopped,
                error: None,
            },
        ));
        assert_eq!(summary.finished, Some((RunStatus::Stopped, None)));
        summary.apply(&at(30, started()));
        assert_eq!(summary.finished, None);
        assert_eq!((summary.events, summary.first_t), (3, Some(10)));
        assert_eq!(summary.device_label, "cpu");
    }

    fn log(level: &str, message: &str) -> RunEvent {
        RunEvent::Log {
            level: level.into(),
            message: message.into(),
        }
    }

    fn step(step: u64) -> RunEvent {
        RunEvent::Step {
            step,
            epoch: 0.0,
            loss: 1.0,
            lr: 0.0,
            grad_norm: 0.0,
            tokens_per_s: 0.0,
            elapsed_s: 0.0,
            total_steps: None,
            reward_mean: None,
            reward_std: None,
            rewards: Default::default(),
            kl: None,
            clip_frac: None,
            completion_len: None,
            accuracy: None,
            metrics: Default::default(),
        }
    }

    #[test]
    fn an_alarm_stands_until_cleared_a_step_or_the_end() {
        let mut summary = RunSummary::default();
        summary.apply(&at(0, started()));
        summary.apply(&at(1, log("info", "hello")));
        assert_eq!(summary.alarm, None);
        let stalled = "stalled: no step for 5m00s";
        summary.apply(&at(2, log("alarm", stalled)));
        assert_eq!(summary.alarm.as_deref(), Some(stalled));
        summary.apply(&at(3, log("warn", "something else")));
        assert_eq!(
            summary.alarm.as_deref(),
            Some(stalled),
            "other logs leave it"
        );
        summary.apply(&at(4, log("alarm_cleared", "steps resumed")));
        assert_eq!(summary.alarm, None);

        summary.apply(&at(5, log("alarm", stalled)));
        summary.apply(&at(6, step(7)));
        assert_eq!(summary.alarm, None, "a step clears it");

        summary.apply(&at(7, log("alarm", stalled)));
        summary.apply(&at(
            8,
            RunEvent::RunFinished {
                status: RunStatus::Failed,
                error: None,
            },
        ));
        assert_eq!(summary.alarm, None, "the end clears it");

        summary.apply(&at(9, log("alarm", stalled)));
        summary.apply(&at(10, started()));
        assert_eq!(summary.alarm, None, "a restart clears it");
    }
}
