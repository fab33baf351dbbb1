//! One run as the Runs screen sees it: its folder, what its lock says, and the
//! summary, metrics, log and samples folded from its `events.jsonl` as it grows.

use std::collections::{BTreeMap, VecDeque};

use crate::runlog::{RunEvent, Tailer, TimedEvent};
use crate::runs::{Liveness, RunDir, RunState, RunSummary};
use crate::tui::widgets::series::Series;

const LOG_LINES: usize = 200;
/// Samples kept per run: enough for several steps' groups to step through with `[`/`]`.
const SAMPLES: usize = 64;

/// One `sample` event: what the model wrote at a step and how it was scored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleView {
    pub step: u64,
    pub prompt: String,
    pub completion: String,
    pub reward: Option<f64>,
    pub rewards: BTreeMap<String, f64>,
    pub gold: Option<String>,
    pub answer: Option<String>,
    pub correct: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub loss: Series,
    pub lr: Series,
    pub grad_norm: Series,
    pub tokens_per_s: Series,
    pub reward: Series,
    pub kl: Series,
    pub accuracy: Series,
    /// Tokens seen by each step, estimated as tokens/s × elapsed seconds (the events
    /// carry no running token count).
    pub tokens: Series,
}

pub struct RunView {
    pub id: String,
    pub kind: String,
    pub registry_status: String,
    pub pid: Option<i64>,
    /// What the run's lock said at the last poll (`None`: not asked yet).
    pub lock: Option<Liveness>,
    pub dir: RunDir,
    tailer: Tailer,
    pub summary: RunSummary,
    pub metrics: Metrics,
    pub logs: VecDeque<String>,
    pub samples: VecDeque<SampleView>,
    pub torn_tail: bool,
    pub malformed: u64,
    pub read_error: Option<String>,
    /// The KL coefficient β from the run's config (`None`: not said), so a KL that is
    /// off by configuration can be shown as off rather than as a measured 0.
    pub kl_beta: Option<f64>,
}

impl RunView {
    pub(super) fn new(
        id: String,
        kind: String,
        status: String,
        pid: Option<i64>,
        dir: RunDir,
    ) -> Self {
        Self {
            id,
            kind,
            registry_status: status,
            pid,
            lock: None,
            tailer: Tailer::new(&dir.events()),
            dir,
            summary: RunSummary::default(),
            metrics: Metrics::default(),
            logs: VecDeque::new(),
            samples: VecDeque::new(),
            torn_tail: false,
            malformed: 0,
            read_error: None,
            kl_beta: None,
        }
    }

    /// Reads what the run appended since the last poll, and asks its lock.
    pub fn poll(&mut self) {
        match self.tailer.poll() {
            Ok(events) => {
                self.read_error = None;
                for event in events {
                    self.apply(event);
                }
            }
            Err(e) => self.read_error = Some(e.to_string()),
        }
        self.torn_tail = self.tailer.has_torn_tail();
        self.malformed = self.tailer.malformed();
        self.lock = self.dir.liveness().ok();
    }

    fn log(&mut self, t: i64, text: String) {
        let rel = (t - self.summary.first_t.unwrap_or(t)) as f64 / 1000.0;
        self.logs.push_back(format!("+{rel:>7.1}s {text}"));
        while self.logs.len() > LOG_LINES {
            self.logs.pop_front();
        }
    }

    pub fn apply(&mut self, timed: TimedEvent) {
        self.summary.apply(&timed);
        match timed.event {
            RunEvent::RunStarted {
                device,
                parameters,
                config,
                ..
            } => {
                self.kl_beta = find_number(&config, "beta");
                self.log(
                    timed.t,
                    format!("started on {device}, {parameters} parameters"),
                );
            }
            RunEvent::Step {
                step,
                loss,
                lr,
                grad_norm,
                tokens_per_s,
                elapsed_s,
                reward_mean,
                kl,
                accuracy,
                ..
            } => {
                let x = step as f64;
                let m = &mut self.metrics;
                m.loss.push(x, loss);
                m.lr.push(x, lr);
                m.grad_norm.push(x, grad_norm);
                m.tokens_per_s.push(x, tokens_per_s);
                m.tokens.push(x, tokens_per_s * elapsed_s);
                if let Some(r) = reward_mean {
                    m.reward.push(x, r);
                }
                if let Some(k) = kl {
                    m.kl.push(x, k);
                }
                if let Some(a) = accuracy {
                    m.accuracy.push(x, a);
                }
            }
            RunEvent::Eval { step, metrics } => {
                let text: Vec<String> =
                    metrics.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
                self.log(timed.t, format!("eval @{step}: {}", text.join(" ")));
            }
            RunEvent::Sample {
                step,
                prompt,
                completion,
                reward,
                rewards,
                gold,
                answer,
                correct,
            } => {
                self.samples.push_back(SampleView {
                    step,
                    prompt,
                    completion,
                    reward,
                    rewards,
                    gold,
                    answer,
                    correct,
                });
                while self.samples.len() > SAMPLES {
                    self.samples.pop_front();
                }
            }
            RunEvent::Checkpoint { step, path } => {
                self.log(timed.t, format!("checkpoint @{step}: {path}"));
            }
            RunEvent::Log { level, message } => self.log(timed.t, format!("{level}: {message}")),
            RunEvent::RunFinished { status, error } => {
                let text = match &error {
                    Some(e) => format!("finished: {status:?} ({e})"),
                    None => format!("finished: {status:?}"),
                };
                self.log(timed.t, text);
            }
            RunEvent::Device(_) | RunEvent::Unknown => {}
        }
    }

    pub fn state(&self) -> RunState {
        RunState::of(&self.summary, self.lock)
    }

    /// The steps that have samples, oldest first.
    pub fn sample_steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = self.samples.iter().map(|s| s.step).collect();
        steps.dedup();
        steps
    }

    pub fn is_grpo(&self) -> bool {
        !self.metrics.reward.is_empty() || !self.metrics.kl.is_empty()
    }
}

/// The first number under `key` anywhere in a JSON tree (run configs nest their
/// sections differently by kind).
fn find_number(value: &serde_json::Value, key: &str) -> Option<f64> {
    match value {
        serde_json::Value::Object(map) => map
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .or_else(|| map.values().find_map(|v| find_number(v, key))),
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_number(v, key)),
        _ => None,
    }
}
