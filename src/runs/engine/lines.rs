//! An engine's log lines as our run events. Two shapes are read: the bundle's
//! `train_trl.py` lines (`{"event": "step", ...}`) and verl's file logger
//! (`{"step": N, "data": {"actor/lr": ..}}`). A step that goes back without a start line
//! between (a restarted engine appending to the same log) begins a new attempt: a
//! `run_started` is written before it, so every fold of the events
//! (`runlog::Attempts`) lets the newest attempt win for the overlapping steps.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::runlog::RunEvent;

/// How the engine said it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct EndLine {
    pub status: String,
    pub step: Option<u64>,
    pub max_steps: Option<u64>,
    pub error: Option<String>,
}

/// The state of one followed log.
#[derive(Debug, Default, Clone)]
pub struct EngineLines {
    pub last_step: Option<u64>,
    pub max_steps: Option<u64>,
    pub ended: Option<EndLine>,
    /// A start line came after the last step: the next step needs no synthetic start.
    started: bool,
    /// The engine these lines come from, for `run_started`'s device field.
    pub engine: String,
}

fn f(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

fn u(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key)
        .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|x| x as u64)))
}

fn s(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl EngineLines {
    pub fn new(engine: &str) -> Self {
        Self {
            engine: engine.to_owned(),
            ..Self::default()
        }
    }

    fn started(&mut self, config: Value) -> RunEvent {
        self.started = true;
        self.ended = None;
        RunEvent::RunStarted {
            config,
            device: self.engine.clone(),
            parameters: 0,
            trainable_parameters: 0,
        }
    }

    /// The events one line stands for; an error names what is wrong with it.
    pub fn convert(&mut self, line: &str) -> Result<Vec<RunEvent>, String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("not a JSON object".into());
        };
        match map.get("event").and_then(Value::as_str) {
            Some("start") => {
                self.max_steps = u(&map, "max_steps").or(self.max_steps);
                Ok(vec![self.started(Value::Object(map))])
            }
            Some("step") => {
                let step = u(&map, "step").ok_or("step line without `step`")?;
                self.max_steps = u(&map, "max_steps").or(self.max_steps);
                let rewards = match map.get("rewards") {
                    Some(Value::Object(r)) => r
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                        .collect(),
                    _ => BTreeMap::new(),
                };
                let elapsed = f(&map, "elapsed_s").unwrap_or(0.0);
                let tokens = f(&map, "tokens").unwrap_or(0.0);
                let event = RunEvent::Step {
                    step,
                    epoch: f(&map, "epoch").unwrap_or(0.0),
                    loss: f(&map, "loss").unwrap_or(0.0),
                    lr: f(&map, "lr").unwrap_or(0.0),
                    grad_norm: f(&map, "grad_norm").unwrap_or(0.0),
                    tokens_per_s: if elapsed > 0.0 { tokens / elapsed } else { 0.0 },
                    elapsed_s: elapsed,
                    total_steps: self.max_steps,
                    reward_mean: f(&map, "reward"),
                    reward_std: f(&map, "reward_std"),
                    rewards,
                    kl: f(&map, "kl"),
                    clip_frac: f(&map, "clip_frac"),
                    completion_len: f(&map, "completion_len"),
                    accuracy: f(&map, "accuracy"),
                    metrics: BTreeMap::new(),
                };
                Ok(self.step(step, event))
            }
            Some("checkpoint") => Ok(vec![RunEvent::Checkpoint {
                step: u(&map, "step").unwrap_or(0),
                path: s(&map, "path").unwrap_or_default(),
            }]),
            Some("sample") => Ok(vec![RunEvent::Sample {
                step: u(&map, "step").unwrap_or(0),
                prompt: s(&map, "prompt").unwrap_or_default(),
                completion: s(&map, "completion").unwrap_or_default(),
                reward: f(&map, "reward"),
                rewards: match map.get("rewards") {
                    Some(Value::Object(r)) => r
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                        .collect(),
                    _ => BTreeMap::new(),
                },
                gold: s(&map, "answer"),
                // The engine grades with the exported reward module but does not log the
                // extracted answer; its verdict is still worth showing.
                answer: None,
                correct: map.get("correct").and_then(Value::as_bool),
            }]),
            Some("end") => {
                self.ended = Some(EndLine {
                    status: s(&map, "status").unwrap_or_default(),
                    step: u(&map, "step"),
                    max_steps: u(&map, "max_steps").or(self.max_steps),
                    error: s(&map, "error"),
                });
                Ok(Vec::new())
            }
            Some(other) => Ok(vec![RunEvent::Log {
                level: "info".into(),
                message: format!("engine line of kind {other}"),
            }]),
            None => self.verl(&map),
        }
    }

    /// A verl file-logger line: `{"step": N, "data": {metric: value}}`.
    fn verl(&mut self, map: &Map<String, Value>) -> Result<Vec<RunEvent>, String> {
        let step = u(map, "step").ok_or("neither `event` nor `step`")?;
        let Some(Value::Object(data)) = map.get("data") else {
            return Err("verl line without a `data` object".into());
        };
        let mut rewards = BTreeMap::new();
        let mut metrics = BTreeMap::new();
        for (key, value) in data {
            let Some(x) = value.as_f64() else { continue };
            metrics.insert(key.clone(), x);
            if let Some(name) = key
                .strip_prefix("reward/")
                .and_then(|k| k.strip_suffix("/mean"))
            {
                rewards.insert(name.to_owned(), x);
            }
        }
        let event = RunEvent::Step {
            step,
            epoch: f(data, "training/epoch").unwrap_or(0.0),
            loss: f(data, "actor/pg_loss").unwrap_or(0.0),
            lr: f(data, "actor/lr").unwrap_or(0.0),
            grad_norm: f(data, "actor/grad_norm").unwrap_or(0.0),
            tokens_per_s: f(data, "perf/throughput").unwrap_or(0.0),
            elapsed_s: f(data, "timing_s/step").unwrap_or(0.0),
            total_steps: self.max_steps,
            reward_mean: f(data, "critic/score/mean"),
            reward_std: None,
            rewards,
            kl: f(data, "actor/kl_loss"),
            clip_frac: f(data, "actor/pg_clipfrac"),
            completion_len: f(data, "response_length/mean"),
            accuracy: None,
            metrics,
        };
        Ok(self.step(step, event))
    }

    fn step(&mut self, step: u64, event: RunEvent) -> Vec<RunEvent> {
        let mut out = Vec::new();
        let went_back = self.last_step.is_some_and(|last| step <= last);
        if (went_back || self.last_step.is_none()) && !self.started {
            let note = serde_json::json!({ "restarted_at_step": step });
            out.push(self.started(note));
        }
        self.started = false;
        self.last_step = Some(step);
        out.push(event);
        out
    }

    /// The alarm for an engine that says it completed before its max steps (verl #7401:
    /// a resume that trained nothing and exited 0).
    pub fn ended_early(&self) -> Option<String> {
        let end = self.ended.as_ref()?;
        let max = end.max_steps?;
        let reached = end.step.or(self.last_step).unwrap_or(0);
        (end.status == "completed" && reached < max).then(|| {
            format!("the engine reported success at step {reached} of {max}: it ended early")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(events: &[RunEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e {
                RunEvent::RunStarted { .. } => "started",
                RunEvent::Step { .. } => "step",
                RunEvent::Checkpoint { .. } => "checkpoint",
                RunEvent::Sample { .. } => "sample",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn trl_lines_become_events_and_a_step_going_back_starts_an_attempt() {
        let mut lines = EngineLines::new("trl");
        let start = r#"{"event":"start","max_steps":3}"#;
        let step = |n: u64| {
            format!(
                r#"{{"event":"step","step":{n},"loss":0.5,"lr":1e-5,"rewards":{{"answer":2.0}},"reward":1.5,"tokens":100,"elapsed_s":2}}"#
            )
        };
        let mut all = Vec::new();
        for line in [start.to_owned(), step(1), step(2), step(1), step(2)] {
            all.extend(lines.convert(&line).unwrap());
        }
        assert_eq!(
            kinds(&all),
            ["started", "step", "step", "started", "step", "step"]
        );
        let RunEvent::Step {
            rewards,
            total_steps,
            tokens_per_s,
            reward_mean,
            ..
        } = &all[1]
        else {
            panic!("{:?}", all[1]);
        };
        assert_eq!(rewards["answer"], 2.0);
        assert_eq!(*total_steps, Some(3));
        assert_eq!(*tokens_per_s, 50.0);
        assert_eq!(*reward_mean, Some(1.5));
        let mut attempts = crate::runlog::Attempts::default();
        for e in &all {
            attempts.apply(e);
        }
        assert_eq!((attempts.current, attempts.steps()), (2, 2));
    }

    #[test]
    fn an_engine_that_succeeds_early_raises_the_alarm() {
        let mut lines = EngineLines::new("trl");
        lines
            .convert(r#"{"event":"start","max_steps":10}"#)
            .unwrap();
        lines
            .convert(r#"{"event":"step","step":4,"loss":1}"#)
            .unwrap();
        lines
            .convert(r#"{"event":"end","status":"completed","step":4}"#)
            .unwrap();
        let alarm = lines.ended_early().unwrap();
        assert!(alarm.contains("step 4 of 10"), "{alarm}");
        lines
            .convert(r#"{"event":"end","status":"completed","step":10}"#)
            .unwrap();
        assert_eq!(lines.ended_early(), None);
    }

    #[test]
    fn verl_lines_and_bad_lines() {
        let mut lines = EngineLines::new("verl");
        let events = lines
            .convert(r#"{"step":3,"data":{"actor/pg_loss":0.1,"critic/score/mean":1.2,"reward/answer/mean":2.0}}"#)
            .unwrap();
        assert_eq!(kinds(&events), ["started", "step"]);
        let err = lines.convert("{\"step\":").unwrap_err();
        assert!(err.starts_with("not JSON"), "{err}");
        let err = lines.convert("[1]").unwrap_err();
        assert_eq!(err, "not a JSON object");
    }
}
