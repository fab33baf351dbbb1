//! The state of a run as a person should see it: how its latest start ended if it
//! has, else what the run's lock says. A run that died without `run_finished` is not
//! "running", whatever its registry row still claims.

use super::{Liveness, RunDir, RunSummary};
use crate::runlog::RunStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// A worker holds the run's lock.
    Running,
    Finished(RunStatus),
    /// No `run_finished`, and the worker that held the lock is gone: it died.
    Died,
    /// No `run_finished` and no lock to ask (a run from another tool, or one never
    /// started): it may be running elsewhere, or may have died.
    Unknown,
    /// No events yet, and no worker has taken the lock.
    Waiting,
}

impl RunState {
    /// `lock` is `None` when the lock was not (or could not be) probed.
    pub fn of(summary: &RunSummary, lock: Option<Liveness>) -> Self {
        if let Some((status, _)) = summary.finished {
            return Self::Finished(status);
        }
        match lock {
            Some(Liveness::Alive { .. }) => Self::Running,
            Some(Liveness::Dead { .. }) => Self::Died,
            _ if summary.events == 0 => Self::Waiting,
            _ => Self::Unknown,
        }
    }

    /// The stall alarm of `summary` if it still stands: only a live (or unprobed) run
    /// can be stalled; a run that died or ended says that instead.
    pub fn standing_alarm(self, summary: &RunSummary) -> Option<&str> {
        match self {
            Self::Running | Self::Unknown => summary.alarm.as_deref(),
            _ => None,
        }
    }

    /// What `runs list` prints, `recorded` being the registry's status: used when the
    /// run's folder cannot say more.
    pub fn label(self, recorded: &str) -> String {
        match self {
            Self::Running => "running".into(),
            Self::Finished(status) => format!("{status:?}").to_lowercase(),
            Self::Died => "died (no run_finished)".into(),
            Self::Waiting | Self::Unknown => recorded.to_owned(),
        }
    }
}

/// What `runs list` prints for the run in `dir`: its state, and `stalled` while the
/// watcher's stall alarm stands on a run that may still be alive.
pub fn list_label(dir: &RunDir, recorded: &str) -> String {
    let summary = RunSummary::read(&dir.events()).unwrap_or_default();
    let state = RunState::of(&summary, dir.liveness().ok());
    match state.standing_alarm(&summary) {
        Some(_) => "stalled (alarm)".into(),
        None => state.label(recorded),
    }
}

/// The state of the run in `dir`, from its whole events file and its lock.
pub fn state(dir: &RunDir) -> RunState {
    let summary = RunSummary::read(&dir.events()).unwrap_or_default();
    RunState::of(&summary, dir.liveness().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::RunLock;
    use crate::runlog::{RunEvent, TimedEvent};

    #[test]
    fn the_lock_decides_between_running_died_and_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::at(tmp.path());
        let mut summary = RunSummary::default();
        assert_eq!(RunState::of(&summary, None), RunState::Waiting);
        assert_eq!(state(&dir), RunState::Waiting, "no events, no lock file");
        summary.apply(&TimedEvent {
            t: 1,
            event: RunEvent::Log {
                level: "info".into(),
                message: "hi".into(),
            },
        });
        assert_eq!(RunState::of(&summary, None), RunState::Unknown);
        let never = dir.liveness().unwrap();
        assert_eq!(RunState::of(&summary, Some(never)), RunState::Unknown);

        let lock = RunLock::acquire(dir.root()).unwrap();
        let held = dir.liveness().unwrap();
        assert_eq!(RunState::of(&summary, Some(held)), RunState::Running);
        drop(lock);
        let released = dir.liveness().unwrap();
        assert_eq!(RunState::of(&summary, Some(released)), RunState::Died);
        assert_eq!(RunState::Died.label("running"), "died (no run_finished)");

        summary.apply(&TimedEvent {
            t: 2,
            event: RunEvent::RunFinished {
                status: RunStatus::Failed,
                error: Some("boom".into()),
            },
        });
        let finished = RunState::of(&summary, Some(released));
        assert_eq!(finished, RunState::Finished(RunStatus::Failed));
        assert_eq!(finished.label("running"), "failed");
        assert_eq!(RunState::Unknown.label("created"), "created");
    }

    #[test]
    fn runs_list_says_stalled_while_the_alarm_stands_on_a_live_run() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::at(tmp.path());
        let mut writer = crate::runlog::EventWriter::open(&dir.events()).unwrap();
        let log = |level: &str| RunEvent::Log {
            level: level.into(),
            message: "stalled: no step for 5m".into(),
        };
        writer.write(log("alarm")).unwrap();
        let lock = RunLock::acquire(dir.root()).unwrap();
        assert_eq!(list_label(&dir, "running"), "stalled (alarm)");
        writer.write(log("alarm_cleared")).unwrap();
        assert_eq!(list_label(&dir, "running"), "running");
        writer.write(log("alarm")).unwrap();
        drop(lock);
        assert_eq!(
            list_label(&dir, "running"),
            "died (no run_finished)",
            "a dead run is dead, alarm or not"
        );
    }
}
