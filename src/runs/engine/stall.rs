//! The stall alarm for a run another engine trains: engines keep a hung run (a dead
//! NCCL peer, a deadlocked dataloader) "running" forever, so the watcher is fed the
//! times its step lines arrive and says when the silence has lasted several typical
//! step intervals. Pure: the caller brings the clock, so tests need no sleeping.

use std::collections::VecDeque;
use std::time::Duration;

use crate::runlog::{ALARM_CLEARED_LEVEL, ALARM_LEVEL};
use crate::train::engine::StallSection;

/// Recent intervals the typical one is the median of: enough to ride out one slow step
/// (an eval, a checkpoint), few enough to follow a run whose pace changes.
const WINDOW: usize = 16;

/// A stall as it stands at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    /// Seconds since the last step (or since watching began, before any).
    pub silent_s: f64,
    /// The typical step interval, once two steps have been seen.
    pub typical_s: Option<f64>,
    /// The silence that raised the alarm.
    pub limit_s: f64,
}

impl Stall {
    /// The alarm's text, for the run's log.
    pub fn message(&self) -> String {
        let silent = seconds(self.silent_s);
        let limit = seconds(self.limit_s);
        match self.typical_s {
            Some(typical) => format!(
                "stalled: no step for {silent} (typical step {}; alarm after {limit})",
                seconds(typical)
            ),
            None => format!("stalled: no step for {silent} (allowance before steps {limit})"),
        }
    }
}

/// What a call changed: the alarm is raised once per stall and cleared once.
#[derive(Debug, Clone, PartialEq)]
pub enum StallChange {
    Began(Stall),
    /// Steps came again after `silent_s` seconds without one.
    Cleared {
        silent_s: f64,
    },
}

impl StallChange {
    /// The log event's level and message.
    pub fn log(&self) -> (&'static str, String) {
        match self {
            Self::Began(stall) => (ALARM_LEVEL, stall.message()),
            Self::Cleared { silent_s } => (
                ALARM_CLEARED_LEVEL,
                format!("steps resumed after {} without one", seconds(*silent_s)),
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StallDetector {
    settings: StallSection,
    /// When the last step arrived (or watching began), on the caller's clock.
    last: Duration,
    seen_step: bool,
    intervals: VecDeque<f64>,
    /// Until the next step the startup allowance applies (the engine said it would
    /// pause: it is saving its final model, or stopping).
    patient: bool,
    alarmed: bool,
}

impl StallDetector {
    /// Watching begins at `now`.
    pub fn new(settings: &StallSection, now: Duration) -> Self {
        Self {
            settings: settings.clone(),
            last: now,
            seen_step: false,
            intervals: VecDeque::new(),
            patient: false,
            alarmed: false,
        }
    }

    /// Step lines arrived at `at`. Several read in one poll count as one arrival: an
    /// engine that flushes its log in bursts has a typical interval between bursts.
    pub fn step(&mut self, at: Duration) -> Option<StallChange> {
        let gap = at.saturating_sub(self.last).as_secs_f64();
        if self.seen_step && gap > 0.0 {
            self.intervals.push_back(gap);
            if self.intervals.len() > WINDOW {
                self.intervals.pop_front();
            }
        }
        self.seen_step = true;
        self.last = at;
        self.patient = false;
        std::mem::take(&mut self.alarmed).then_some(StallChange::Cleared { silent_s: gap })
    }

    /// Until the next step, allow the startup allowance rather than the usual limit.
    pub fn expect_pause(&mut self) {
        self.patient = true;
    }

    /// The median of the recent intervals, once there is one.
    pub fn typical_s(&self) -> Option<f64> {
        if self.intervals.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.intervals.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        Some(if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        })
    }

    /// The silence that counts as a stall now.
    pub fn limit_s(&self) -> f64 {
        let floor = self.settings.floor_s;
        match self.typical_s() {
            Some(typical) if !self.patient => (self.settings.multiplier * typical).max(floor),
            _ => self.settings.startup_s.max(floor),
        }
    }

    /// The stall at `now`, if the silence has outlasted the limit.
    pub fn stall(&self, now: Duration) -> Option<Stall> {
        let silent_s = now.saturating_sub(self.last).as_secs_f64();
        let limit_s = self.limit_s();
        (silent_s > limit_s).then(|| Stall {
            silent_s,
            typical_s: self.typical_s(),
            limit_s,
        })
    }

    /// Checks at `now`: the alarm once when a stall begins, nothing while it lasts.
    pub fn check(&mut self, now: Duration) -> Option<StallChange> {
        if self.alarmed {
            return None;
        }
        let stall = self.stall(now)?;
        self.alarmed = true;
        Some(StallChange::Began(stall))
    }
}

/// `42.0s`, `3m05s`, `1h02m`.
fn seconds(s: f64) -> String {
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn settings() -> StallSection {
        StallSection::default()
    }

    /// A detector that has seen steps every `every` seconds up to `until`.
    fn steady(every: f64, until: f64) -> StallDetector {
        let mut d = StallDetector::new(&settings(), at(0.0));
        let mut t = every;
        while t <= until {
            assert_eq!(d.step(at(t)), None);
            t += every;
        }
        d
    }

    #[test]
    fn steady_steps_never_alarm() {
        let mut d = StallDetector::new(&settings(), at(0.0));
        for i in 1..=200 {
            let t = f64::from(i) * 20.0;
            assert_eq!(d.check(at(t - 1.0)), None, "before step {i}");
            assert_eq!(d.step(at(t)), None);
        }
        assert_eq!(d.typical_s(), Some(20.0));
    }

    #[test]
    fn a_gap_past_five_typical_intervals_alarms_once_and_a_step_clears_it() {
        // 30 s steps: limit 150 s (above the 60 s floor).
        let mut d = steady(30.0, 300.0);
        assert_eq!(d.limit_s(), 150.0);
        assert_eq!(d.check(at(300.0 + 149.0)), None);
        let Some(StallChange::Began(stall)) = d.check(at(300.0 + 151.0)) else {
            panic!("no alarm after 151 s of silence");
        };
        assert_eq!(stall.typical_s, Some(30.0));
        let (level, message) = StallChange::Began(stall).log();
        assert_eq!(level, "alarm");
        assert_eq!(
            message,
            "stalled: no step for 2m31s (typical step 30.0s; alarm after 2m30s)"
        );
        // Once per stall, not every poll.
        assert_eq!(d.check(at(500.0)), None);
        assert_eq!(d.check(at(900.0)), None);
        let cleared = d.step(at(960.0)).unwrap();
        assert_eq!(cleared, StallChange::Cleared { silent_s: 660.0 });
        assert_eq!(cleared.log().0, "alarm_cleared");
        assert_eq!(cleared.log().1, "steps resumed after 11m00s without one");
        // A later stall alarms again.
        d.step(at(990.0));
        assert!(matches!(
            d.check(at(990.0 + 200.0)),
            Some(StallChange::Began(_))
        ));
    }

    #[test]
    fn the_floor_holds_for_fast_steps() {
        let mut d = steady(0.5, 20.0);
        assert_eq!(d.limit_s(), 60.0);
        assert_eq!(d.check(at(20.0 + 59.0)), None);
        assert!(d.check(at(20.0 + 61.0)).is_some());
    }

    #[test]
    fn the_typical_interval_is_the_median_so_one_slow_step_does_not_move_it() {
        let mut d = steady(10.0, 100.0);
        d.step(at(400.0));
        d.step(at(410.0));
        assert_eq!(d.typical_s(), Some(10.0));
    }

    #[test]
    fn before_two_steps_only_the_startup_allowance_counts() {
        let mut d = StallDetector::new(&settings(), at(0.0));
        assert_eq!(d.limit_s(), 900.0);
        assert_eq!(d.check(at(899.0)), None);
        // One step gives no interval yet: still the allowance, from that step.
        assert_eq!(d.step(at(600.0)), None);
        assert_eq!(d.check(at(600.0 + 899.0)), None);
        let Some(StallChange::Began(stall)) = d.check(at(600.0 + 901.0)) else {
            panic!("no alarm past the allowance");
        };
        assert_eq!(stall.typical_s, None);
        assert!(stall.message().contains("allowance before steps 15m00s"));
    }

    #[test]
    fn an_expected_pause_gets_the_allowance_until_the_next_step() {
        let mut d = steady(10.0, 100.0);
        d.expect_pause();
        assert_eq!(d.check(at(100.0 + 600.0)), None);
        d.step(at(800.0));
        assert_eq!(d.limit_s(), 60.0);
    }

    #[test]
    fn steps_read_in_one_poll_are_one_arrival() {
        let mut d = steady(30.0, 90.0);
        d.step(at(120.0));
        d.step(at(120.0));
        assert_eq!(d.typical_s(), Some(30.0));
    }
}
