//! The event types. One JSON object per line: `{"t": <unix ms>, "kind": "...", ...}`.
//! Readers ignore unknown fields, and an unknown `kind` reads as [`RunEvent::Unknown`],
//! so older viewers keep working on newer runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `Log` level of a watcher's stall alarm, and of the note that clears it: the
/// watcher writes them, every reader of a run's state folds them.
pub const ALARM_LEVEL: &str = "alarm";
pub const ALARM_CLEARED_LEVEL: &str = "alarm_cleared";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Failed,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GpuStats {
    pub index: u32,
    pub name: String,
    pub utilisation_pct: Option<f64>,
    pub memory_used_mib: Option<f64>,
    pub memory_total_mib: Option<f64>,
    pub temperature_c: Option<f64>,
    pub power_w: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeviceStats {
    pub cpu_pct: Option<f64>,
    pub rss_mib: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuStats>,
}

fn is_none<T>(value: &Option<T>) -> bool {
    value.is_none()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        #[serde(default)]
        config: serde_json::Value,
        #[serde(default)]
        device: String,
        #[serde(default)]
        parameters: u64,
        #[serde(default)]
        trainable_parameters: u64,
    },
    Step {
        step: u64,
        #[serde(default)]
        epoch: f64,
        loss: f64,
        #[serde(default)]
        lr: f64,
        #[serde(default)]
        grad_norm: f64,
        #[serde(default)]
        tokens_per_s: f64,
        #[serde(default)]
        elapsed_s: f64,
        /// Planned total steps, for ETAs.
        #[serde(default, skip_serializing_if = "is_none")]
        total_steps: Option<u64>,
        // GRPO adds these.
        #[serde(default, skip_serializing_if = "is_none")]
        reward_mean: Option<f64>,
        #[serde(default, skip_serializing_if = "is_none")]
        reward_std: Option<f64>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        rewards: BTreeMap<String, f64>,
        #[serde(default, skip_serializing_if = "is_none")]
        kl: Option<f64>,
        #[serde(default, skip_serializing_if = "is_none")]
        clip_frac: Option<f64>,
        #[serde(default, skip_serializing_if = "is_none")]
        completion_len: Option<f64>,
        #[serde(default, skip_serializing_if = "is_none")]
        accuracy: Option<f64>,
        /// Further named measurements (GRPO: clip low/high, entropy, timings...).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        metrics: BTreeMap<String, f64>,
    },
    Eval {
        step: u64,
        #[serde(default)]
        metrics: BTreeMap<String, f64>,
    },
    Sample {
        step: u64,
        prompt: String,
        completion: String,
        #[serde(default, skip_serializing_if = "is_none")]
        reward: Option<f64>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        rewards: BTreeMap<String, f64>,
        #[serde(default, skip_serializing_if = "is_none")]
        gold: Option<String>,
        /// The answer extracted from the completion (`None`: none found, or not graded).
        #[serde(default, skip_serializing_if = "is_none")]
        answer: Option<String>,
        /// Whether `answer` matches `gold` (`None`: not graded).
        #[serde(default, skip_serializing_if = "is_none")]
        correct: Option<bool>,
    },
    Checkpoint {
        step: u64,
        path: String,
    },
    Device(DeviceStats),
    Log {
        level: String,
        message: String,
    },
    RunFinished {
        status: RunStatus,
        #[serde(default, skip_serializing_if = "is_none")]
        error: Option<String>,
    },
    /// A kind this build does not know (written by a newer version).
    #[serde(other)]
    Unknown,
}

/// An event with its wall-clock time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedEvent {
    /// Unix time in milliseconds.
    pub t: i64,
    #[serde(flatten)]
    pub event: RunEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_the_documented_shape() {
        let event = TimedEvent {
            t: 1_700_000_000_000,
            event: RunEvent::Checkpoint {
                step: 40,
                path: "checkpoints/step-40".into(),
            },
        };
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(
            line,
            r#"{"t":1700000000000,"kind":"checkpoint","step":40,"path":"checkpoints/step-40"}"#
        );
        assert_eq!(serde_json::from_str::<TimedEvent>(&line).unwrap(), event);
    }

    #[test]
    fn unknown_fields_and_kinds_are_tolerated() {
        let step: TimedEvent = serde_json::from_str(
            r#"{"t":1,"kind":"step","step":3,"loss":0.5,"future_field":[1,2]}"#,
        )
        .unwrap();
        assert!(matches!(step.event, RunEvent::Step { step: 3, .. }));
        let unknown: TimedEvent =
            serde_json::from_str(r#"{"t":2,"kind":"hologram","depth":3}"#).unwrap();
        assert_eq!(unknown.event, RunEvent::Unknown);
    }

    #[test]
    fn finished_status_is_snake_case() {
        let line = serde_json::to_string(&TimedEvent {
            t: 0,
            event: RunEvent::RunFinished {
                status: RunStatus::Stopped,
                error: None,
            },
        })
        .unwrap();
        assert_eq!(line, r#"{"t":0,"kind":"run_finished","status":"stopped"}"#);
    }

    #[test]
    fn samples_without_answer_fields_still_parse_and_new_ones_round_trip() {
        let old: TimedEvent = serde_json::from_str(
            r#"{"t":1,"kind":"sample","step":4,"prompt":"Q","completion":"C","reward":1.0}"#,
        )
        .unwrap();
        assert!(matches!(
            old.event,
            RunEvent::Sample {
                answer: None,
                correct: None,
                ..
            }
        ));
        let new = TimedEvent {
            t: 2,
            event: RunEvent::Sample {
                step: 4,
                prompt: "Q".into(),
                completion: "so \\boxed{5}".into(),
                reward: Some(2.0),
                rewards: BTreeMap::new(),
                gold: Some("5".into()),
                answer: Some("5".into()),
                correct: Some(true),
            },
        };
        let line = serde_json::to_string(&new).unwrap();
        assert!(line.contains(r#""answer":"5","correct":true"#), "{line}");
        assert_eq!(serde_json::from_str::<TimedEvent>(&line).unwrap(), new);
    }
}
